//! Job and CronJob (batch/v1): upstream defaulting (completions, parallelism, backoff, completion mode, pod
//! replacement; CronJob concurrency and history limits), the Job strategy's generated selector and labels
//! (`batch.kubernetes.io/controller-uid` and `job-name`), and validation: restart policy, selector, completion
//! mode, schedule syntax and time zone, and what a Job update may not change.

use serde_json::{json, Map, Value};

use super::cron::parse_cron_schedule;
use super::meta::{go_label_selector, go_string_map, invalid_rendered, validate_immutable, validate_nonnegative};
use super::podspec::default_pod_template;
use super::podspec_validation::validate_pod_template;
use super::selector::{selector_matches, validate_label_selector};
use super::value::{
    bool_at, copy_from, for_each_mut, get, i64_at, is_set, object_at, remove, semantic_eq, set, set_default, set_default_str, str_at,
    string_or_empty, with_object, FieldPath,
};
use crate::api::status::FieldError;

const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
const LEGACY_JOB_NAME_LABEL: &str = "job-name";

/// Upstream's ceiling for `backoffLimit` when failures are counted per index instead.
const MAX_BACKOFF_LIMIT: i64 = i32::MAX as i64;

/// Defaulting of a Job.
pub fn default_job(obj: &mut Value) {
    if !is_set(obj, &["spec", "completions"]) && !is_set(obj, &["spec", "parallelism"]) {
        set(obj, &["spec", "completions"], json!(1));
    }
    set_default(obj, &["spec", "parallelism"], json!(1));
    let backoff = if is_set(obj, &["spec", "backoffLimitPerIndex"]) { MAX_BACKOFF_LIMIT } else { 6 };
    set_default(obj, &["spec", "backoffLimit"], json!(backoff));
    copy_template_labels_to_job(obj);
    set_default(obj, &["spec", "completionMode"], json!("NonIndexed"));
    set_default(obj, &["spec", "suspend"], json!(false));
    let replacement = if is_set(obj, &["spec", "podFailurePolicy"]) { "Failed" } else { "TerminatingOrFailed" };
    set_default(obj, &["spec", "podReplacementPolicy"], json!(replacement));
    for_each_mut(obj, &["spec", "podFailurePolicy", "rules"], |rule| {
        for_each_mut(rule, &["onPodConditions"], |condition| set_default_str(condition, &["status"], "True"));
    });
    with_object(obj, &["spec"], |spec| {
        set_default(spec, &["template"], json!({}));
        with_object(spec, &["template"], default_pod_template);
    });
}

/// A Job without labels of its own takes its template's.
fn copy_template_labels_to_job(obj: &mut Value) {
    if let Some(labels) = object_at(obj, &["spec", "template", "metadata", "labels"]).cloned() {
        if object_at(obj, &["metadata", "labels"]).is_none_or(Map::is_empty) {
            set(obj, &["metadata", "labels"], Value::Object(labels));
        }
    }
}

/// The Job strategy's create: empty status, and unless the selector is manual, a selector on the Job's uid
/// with matching pod labels. Upstream's read-back defaulting then gives a label-less Job its template's labels.
pub fn prepare_job_for_create(obj: &mut Value) {
    set(obj, &["status"], json!({}));
    if get(obj, &["spec", "manualSelector"]).and_then(Value::as_bool) != Some(true) {
        generate_selector(obj);
    }
    copy_template_labels_to_job(obj);
}

fn generate_selector(obj: &mut Value) {
    let name = string_or_empty(obj, &["metadata", "name"]).to_string();
    let uid = string_or_empty(obj, &["metadata", "uid"]).to_string();
    for (label, value) in
        [(LEGACY_JOB_NAME_LABEL, &name), (JOB_NAME_LABEL, &name), (LEGACY_CONTROLLER_UID_LABEL, &uid), (CONTROLLER_UID_LABEL, &uid)]
    {
        set_default(obj, &["spec", "template", "metadata", "labels", label], json!(value));
    }
    set_default(obj, &["spec", "selector", "matchLabels", CONTROLLER_UID_LABEL], json!(uid));
}

/// The Job strategy's update: status only changes through the status subresource.
pub fn prepare_job_for_update(new: &mut Value, old: &Value) {
    copy_from(new, old, &["status"]);
}

/// Upstream `ValidateJob`.
pub fn validate_job(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_generated_selector(obj));
    errors.extend(validate_job_spec_with_selector(obj));
    errors
}

/// Upstream `ValidateGeneratedSelector`: a generated selector and its labels must be the ones the strategy made.
fn validate_generated_selector(obj: &Value) -> Vec<FieldError> {
    if bool_at(obj, &["spec", "manualSelector"]) || !is_set(obj, &["spec", "selector"]) {
        return Vec::new();
    }
    let mut errors = Vec::new();
    let uid = string_or_empty(obj, &["metadata", "uid"]);
    let name = string_or_empty(obj, &["metadata", "name"]);
    if uid.is_empty() {
        errors.push(FieldError::required(FieldPath::new("metadata").child("uid"), ""));
    }
    let labels = object_at(obj, &["spec", "template", "metadata", "labels"]);
    let labels_path = FieldPath::new("spec").child("template").child("metadata").child("labels");
    for (label, expected) in
        [(LEGACY_CONTROLLER_UID_LABEL, uid), (LEGACY_JOB_NAME_LABEL, name), (CONTROLLER_UID_LABEL, uid), (JOB_NAME_LABEL, name)]
    {
        let detail = format!("must be '{expected}'");
        match labels.and_then(|labels| labels.get(label)).and_then(Value::as_str) {
            None => errors.push(FieldError::required(labels_path.key(label), detail)),
            Some(actual) if actual != expected => errors.push(invalid_rendered(&labels_path.key(label), &go_string_map(labels), &detail)),
            Some(_) => {}
        }
    }
    let expected = Map::from_iter([(CONTROLLER_UID_LABEL.to_string(), json!(uid)), (JOB_NAME_LABEL.to_string(), json!(name))]);
    let selector = get(obj, &["spec", "selector"]);
    if selector_matches(selector, Some(&expected)) == Some(false) {
        let rendered = go_label_selector(selector.unwrap_or(&Value::Null));
        errors.push(invalid_rendered(&FieldPath::new("spec").child("selector"), &rendered, "`selector` not auto-generated"));
    }
    errors
}

/// Upstream `ValidateJobSpec`: the shared job spec rules plus a required selector that selects the template.
fn validate_job_spec_with_selector(obj: &Value) -> Vec<FieldError> {
    let empty = Value::Object(Map::new());
    let spec = get(obj, &["spec"]).unwrap_or(&empty);
    let path = FieldPath::new("spec");
    let mut errors = validate_job_spec(spec, &path);
    let selector = get(spec, &["selector"]).filter(|found| !found.is_null());
    match selector {
        None => errors.push(FieldError::required(path.child("selector"), "")),
        Some(selector) => errors.extend(validate_label_selector(selector, &path.child("selector"))),
    }
    let labels = object_at(spec, &["template", "metadata", "labels"]);
    if selector.is_some() && selector_matches(selector, labels) == Some(false) {
        let labels_path = path.child("template").child("metadata").child("labels");
        errors.push(invalid_rendered(&labels_path, &go_string_map(labels), "`selector` does not match template `labels`"));
    }
    errors
}

/// Upstream `validateJobSpec`, shared by Jobs and CronJob job templates.
fn validate_job_spec(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for field in ["parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished", "backoffLimitPerIndex"]
    {
        errors.extend(validate_nonnegative(i64_at(spec, &[field]), &path.child(field)));
    }
    if let Some(mode) = str_at(spec, &["completionMode"]) {
        if mode != "NonIndexed" && mode != "Indexed" {
            errors.push(FieldError::not_supported(path.child("completionMode"), json!(mode), &["NonIndexed", "Indexed"]));
        }
        if mode == "Indexed" && !is_set(spec, &["completions"]) {
            errors.push(FieldError::required(path.child("completions"), "when completion mode is Indexed"));
        }
    }
    let failure_policy = is_set(spec, &["podFailurePolicy"]);
    if let Some(policy) = str_at(spec, &["podReplacementPolicy"]) {
        let replacement_path = path.child("podReplacementPolicy");
        if failure_policy && policy != "Failed" {
            errors.push(FieldError::not_supported(replacement_path, json!(policy), &["Failed"]));
        } else if policy != "TerminatingOrFailed" && policy != "Failed" {
            errors.push(FieldError::not_supported(replacement_path, json!(policy), &["TerminatingOrFailed", "Failed"]));
        }
    }
    let template = get(spec, &["template"]).unwrap_or(&Value::Null);
    errors.extend(validate_pod_template(template, &path.child("template")));
    let restart_path = path.child("template").child("spec").child("restartPolicy");
    match string_or_empty(template, &["spec", "restartPolicy"]) {
        "Always" | "" => errors.push(FieldError::required(restart_path, "valid values: \"OnFailure\", \"Never\"")),
        "OnFailure" if failure_policy => errors.push(FieldError::invalid(
            restart_path,
            json!("OnFailure"),
            "only \"Never\" is supported when podFailurePolicy is specified",
        )),
        "OnFailure" | "Never" => {}
        other => errors.push(FieldError::not_supported(restart_path, json!(other), &["OnFailure", "Never"])),
    }
    errors
}

/// Upstream `ValidateJobUpdate`: the selector, completion mode and failure policies are fixed; the template
/// too, except scheduling directives while the Job is suspended and has never started; completions only
/// together with parallelism on Indexed Jobs.
pub fn validate_job_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_job_spec_with_selector(new));
    let path = FieldPath::new("spec");
    errors.extend(validate_completions_update(new, old, &path.child("completions")));
    let selector = get(new, &["spec", "selector"]);
    if !semantic_eq(selector.unwrap_or(&Value::Null), get(old, &["spec", "selector"]).unwrap_or(&Value::Null)) {
        let rendered = selector.filter(|found| !found.is_null()).map_or_else(|| "null".to_string(), go_label_selector);
        errors.push(invalid_rendered(&path.child("selector"), &rendered, "field is immutable"));
    }
    errors.extend(validate_template_update(new, old, &path.child("template")));
    for field in ["completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"] {
        errors.extend(validate_immutable(get(new, &["spec", field]), get(old, &["spec", field]), &path.child(field)));
    }
    errors
}

fn validate_completions_update(new: &Value, old: &Value, path: &FieldPath) -> Vec<FieldError> {
    let (new_completions, old_completions) = (get(new, &["spec", "completions"]), get(old, &["spec", "completions"]));
    if string_or_empty(new, &["spec", "completionMode"]) != "Indexed" {
        return validate_immutable(new_completions, old_completions, path);
    }
    let completions = i64_at(new, &["spec", "completions"]);
    if new_completions == old_completions || completions.is_none() || completions == i64_at(new, &["spec", "parallelism"]) {
        return Vec::new();
    }
    vec![FieldError::invalid(path, json!(completions), "can only be modified in tandem with spec.parallelism")]
}

/// Fields of a suspended, never-started Job's template that a queueing controller may still adjust.
const SCHEDULING_DIRECTIVES: [&[&str]; 6] = [
    &["spec", "nodeSelector"],
    &["spec", "affinity"],
    &["spec", "tolerations"],
    &["spec", "schedulingGates"],
    &["metadata", "labels"],
    &["metadata", "annotations"],
];

fn validate_template_update(new: &Value, old: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mutable_scheduling = bool_at(old, &["spec", "suspend"]) && !is_set(old, &["status", "startTime"]);
    let comparable = |obj: &Value| {
        let mut template = get(obj, &["spec", "template"]).cloned().unwrap_or(Value::Null);
        if mutable_scheduling {
            SCHEDULING_DIRECTIVES.iter().for_each(|directive| remove(&mut template, directive));
        }
        template
    };
    if semantic_eq(&comparable(new), &comparable(old)) {
        return Vec::new();
    }
    vec![FieldError::invalid(path, get(new, &["spec", "template"]).cloned().unwrap_or(Value::Null), "field is immutable")]
}

/// Defaulting of a CronJob: concurrent runs allowed, not suspended, three successful and one failed Job kept.
pub fn default_cron_job(obj: &mut Value) {
    set_default_str(obj, &["spec", "concurrencyPolicy"], "Allow");
    set_default(obj, &["spec", "suspend"], json!(false));
    set_default(obj, &["spec", "successfulJobsHistoryLimit"], json!(3));
    set_default(obj, &["spec", "failedJobsHistoryLimit"], json!(1));
    with_object(obj, &["spec"], |spec| {
        set_default(spec, &["jobTemplate", "metadata"], json!({}));
        set_default(spec, &["jobTemplate", "spec", "template"], json!({}));
        with_object(spec, &["jobTemplate", "spec", "template"], default_pod_template);
    });
}

pub fn prepare_cron_job_for_create(obj: &mut Value) {
    set(obj, &["status"], json!({}));
}

pub fn prepare_cron_job_for_update(new: &mut Value, old: &Value) {
    copy_from(new, old, &["status"]);
}

/// CronJob names leave room for the Job suffix (an 11-character timestamp) within a 63-character label.
const MAX_CRON_JOB_NAME: usize = 52;

/// Upstream `ValidateCronJobCreate`.
pub fn validate_cron_job(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = string_or_empty(obj, &["metadata", "name"]);
    if name.len() > MAX_CRON_JOB_NAME {
        errors.push(FieldError::invalid(FieldPath::new("metadata").child("name"), json!(name), "must be no more than 52 characters"));
    }
    errors.extend(validate_cron_job_spec(obj, None));
    errors
}

/// Upstream `ValidateCronJobUpdate`: the same spec rules; an existing TZ in the schedule stays tolerated.
pub fn validate_cron_job_update(new: &Value, old: &Value) -> Vec<FieldError> {
    validate_cron_job_spec(new, Some(old))
}

fn validate_cron_job_spec(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let empty = Value::Object(Map::new());
    let spec = get(obj, &["spec"]).unwrap_or(&empty);
    let path = FieldPath::new("spec");
    let mut errors = Vec::new();
    let schedule = string_or_empty(spec, &["schedule"]);
    if schedule.is_empty() {
        errors.push(FieldError::required(path.child("schedule"), ""));
    } else {
        let tz_allowed = old.is_some_and(|old| string_or_empty(old, &["spec", "schedule"]).contains("TZ"));
        errors.extend(validate_schedule(schedule, tz_allowed, is_set(spec, &["timeZone"]), &path.child("schedule")));
    }
    errors.extend(validate_nonnegative(i64_at(spec, &["startingDeadlineSeconds"]), &path.child("startingDeadlineSeconds")));
    let time_zone = get(spec, &["timeZone"]).filter(|found| !found.is_null());
    if old.is_none_or(|old| get(old, &["spec", "timeZone"]).filter(|found| !found.is_null()) != time_zone) {
        errors.extend(validate_time_zone(time_zone.and_then(Value::as_str), &path.child("timeZone")));
    }
    match string_or_empty(spec, &["concurrencyPolicy"]) {
        "" => errors.push(FieldError::required(path.child("concurrencyPolicy"), "")),
        "Allow" | "Forbid" | "Replace" => {}
        other => errors.push(FieldError::not_supported(path.child("concurrencyPolicy"), json!(other), &["Allow", "Forbid", "Replace"])),
    }
    errors.extend(validate_job_template(spec, &path.child("jobTemplate")));
    for field in ["successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
        errors.extend(validate_nonnegative(i64_at(spec, &[field]), &path.child(field)));
    }
    errors
}

fn validate_schedule(schedule: &str, tz_allowed: bool, has_time_zone: bool, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Err(message) = parse_cron_schedule(schedule) {
        errors.push(FieldError::invalid(path, json!(schedule), message));
    }
    if schedule.contains("TZ") {
        if tz_allowed && has_time_zone {
            errors.push(FieldError::invalid(path, json!(schedule), "cannot use both timeZone field and TZ or CRON_TZ in schedule"));
        } else if !tz_allowed {
            errors.push(FieldError::invalid(path, json!(schedule), "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"));
        }
    }
    errors
}

/// Upstream `validateTimeZone`: an explicit IANA zone that exists.
fn validate_time_zone(time_zone: Option<&str>, path: &FieldPath) -> Vec<FieldError> {
    let Some(zone) = time_zone else {
        return Vec::new();
    };
    let invalid = |detail: String| vec![FieldError::invalid(path, json!(zone), detail)];
    if zone.is_empty() {
        return invalid("timeZone must be nil or non-empty string".to_string());
    }
    let valid_part = |part: &str| {
        part != "."
            && part != ".."
            && !part.starts_with('-')
            && (1..=14).contains(&part.len())
            && part.bytes().all(|c| c.is_ascii_alphanumeric() || b".-_+".contains(&c))
    };
    if !zone.split('/').all(valid_part) {
        return invalid(format!("unknown time zone {zone}"));
    }
    if zone.eq_ignore_ascii_case("local") {
        return invalid("timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones".to_string());
    }
    if jiff::tz::TimeZone::get(zone).is_err() {
        return invalid(format!("unknown time zone {zone}"));
    }
    Vec::new()
}

/// Upstream `ValidateJobTemplateSpec`: a job spec whose selector the controller will generate.
fn validate_job_template(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let empty = Value::Object(Map::new());
    let job_spec = get(spec, &["jobTemplate", "spec"]).unwrap_or(&empty);
    let spec_path = path.child("spec");
    let mut errors = validate_job_spec(job_spec, &spec_path);
    if let Some(selector) = get(job_spec, &["selector"]).filter(|found| !found.is_null()) {
        errors.push(invalid_rendered(&spec_path.child("selector"), &go_label_selector(selector), "`selector` will be auto-generated"));
    }
    if bool_at(job_spec, &["manualSelector"]) {
        errors.push(FieldError::not_supported(spec_path.child("manualSelector"), json!(true), &["nil", "false"]));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(FieldError::to_message).collect()
    }

    fn job() -> Value {
        json!({"metadata": {"name": "pi", "namespace": "default", "uid": "1234"},
               "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34"}]}}}})
    }

    fn created(mut obj: Value) -> Value {
        default_job(&mut obj);
        prepare_job_for_create(&mut obj);
        obj
    }

    #[test]
    fn job_defaults_and_generated_selector() {
        let obj = created(job());
        let spec = &obj["spec"];
        assert_eq!(spec["completions"], 1);
        assert_eq!(spec["parallelism"], 1);
        assert_eq!(spec["backoffLimit"], 6);
        assert_eq!(spec["completionMode"], "NonIndexed");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
        assert!(spec.get("manualSelector").is_none());
        assert_eq!(spec["selector"], json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "1234"}}));
        let labels = json!({"batch.kubernetes.io/controller-uid": "1234", "batch.kubernetes.io/job-name": "pi", "controller-uid": "1234", "job-name": "pi"});
        assert_eq!(spec["template"]["metadata"]["labels"], labels);
        assert_eq!(obj["metadata"]["labels"], labels);
        assert_eq!(obj["status"], json!({}));
        assert!(validate_job(&obj).is_empty(), "{:?}", messages(&validate_job(&obj)));
    }

    #[test]
    fn job_restart_policy_must_be_on_failure_or_never() {
        let mut obj = job();
        obj["spec"]["template"]["spec"].as_object_mut().unwrap().remove("restartPolicy");
        let obj = created(obj);
        assert_eq!(
            messages(&validate_job(&obj)),
            vec!["spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""]
        );
    }

    #[test]
    fn indexed_jobs_need_completions_and_parallel_only_jobs_keep_them_unset() {
        let mut obj = job();
        obj["spec"]["parallelism"] = json!(3);
        obj["spec"]["completionMode"] = json!("Indexed");
        let obj = created(obj);
        assert!(obj["spec"].get("completions").is_none());
        assert_eq!(messages(&validate_job(&obj)), vec!["spec.completions: Required value: when completion mode is Indexed"]);
    }

    #[test]
    fn job_selector_and_template_are_immutable() {
        let old = created(job());
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:5.36");
        new["spec"]["completions"] = json!(2);
        let rendered = messages(&validate_job_update(&new, &old));
        assert_eq!(rendered.len(), 2);
        assert_eq!(rendered[0], "spec.completions: Invalid value: 2: field is immutable");
        assert!(rendered[1].starts_with("spec.template: Invalid value: {"));
        assert!(rendered[1].ends_with("}: field is immutable"));
        let mut suspended_old = old.clone();
        suspended_old["spec"]["suspend"] = json!(true);
        let mut rescheduled = suspended_old.clone();
        rescheduled["spec"]["template"]["spec"]["nodeSelector"] = json!({"zone": "a"});
        assert!(validate_job_update(&rescheduled, &suspended_old).is_empty());
    }

    #[test]
    fn cron_job_defaults_and_schedule_errors() {
        let mut cron = json!({"metadata": {"name": "hello", "namespace": "default"}, "spec": {"schedule": "*/1 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "hello", "image": "busybox"}]}}}}}});
        default_cron_job(&mut cron);
        prepare_cron_job_for_create(&mut cron);
        let spec = &cron["spec"];
        assert_eq!(spec["concurrencyPolicy"], "Allow");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["successfulJobsHistoryLimit"], 3);
        assert_eq!(spec["failedJobsHistoryLimit"], 1);
        assert_eq!(spec["jobTemplate"]["metadata"], json!({}));
        assert!(spec["jobTemplate"]["spec"].get("backoffLimit").is_none(), "Job defaults do not apply to job templates");
        assert_eq!(spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert!(validate_cron_job(&cron).is_empty(), "{:?}", messages(&validate_cron_job(&cron)));

        cron["spec"]["schedule"] = json!("61 * * * *");
        cron["spec"]["timeZone"] = json!("Mars/Olympus");
        assert_eq!(
            messages(&validate_cron_job(&cron)),
            vec![
                "spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61",
                "spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus",
            ]
        );
        cron["spec"]["schedule"] = json!("CRON_TZ=UTC 0 * * * *");
        cron["spec"]["timeZone"] = json!("Europe/Paris");
        assert_eq!(
            messages(&validate_cron_job(&cron)),
            vec![
                "spec.schedule: Invalid value: \"CRON_TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
            ]
        );
    }

    #[test]
    fn cron_job_names_leave_room_for_job_suffixes() {
        let mut cron = json!({"metadata": {"name": "a".repeat(53), "namespace": "default"}, "spec": {"schedule": "@hourly", "concurrencyPolicy": "Allow",
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}});
        default_cron_job(&mut cron);
        let rendered = messages(&validate_cron_job(&cron));
        assert_eq!(rendered, vec![format!("metadata.name: Invalid value: \"{}\": must be no more than 52 characters", "a".repeat(53))]);
    }
}
