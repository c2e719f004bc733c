//! The replicated workloads: ReplicationController (core/v1), ReplicaSet, Deployment, DaemonSet and StatefulSet
//! (apps/v1). Upstream defaulting (replicas, strategies, history limits, RC selector from the template), the
//! strategies' status handling (cleared on create with the status fields Go always prints, kept on update) and
//! the DaemonSet template generation, and validation: selectors that match their template, templates that
//! restart Always, strategies, and apps/v1's immutable selectors.

use serde_json::{json, Map, Value};

use super::meta::{go_label_selector, go_string_map, invalid_rendered, validate_nonnegative};
use super::podspec::{default_claim_spec, default_pod_template};
use super::podspec_validation::validate_pod_template;
use super::selector::{is_empty_selector, selector_matches, validate_label_selector};
use super::value::{
    array_at, copy_from, for_each_mut, get, i64_at, is_set, object_at, semantic_eq, set, set_default, set_default_str, str_at,
    string_or_empty, with_object, FieldPath,
};
use crate::api::status::FieldError;

fn default_template_of(obj: &mut Value) {
    with_object(obj, &["spec"], |spec| {
        set_default(spec, &["template"], json!({}));
        with_object(spec, &["template"], default_pod_template);
    });
}

/// Defaulting of a ReplicationController: selector and labels come from the template when unset.
pub fn default_replication_controller(obj: &mut Value) {
    if let Some(labels) = object_at(obj, &["spec", "template", "metadata", "labels"]).cloned() {
        if object_at(obj, &["spec", "selector"]).is_none_or(Map::is_empty) {
            set(obj, &["spec", "selector"], Value::Object(labels.clone()));
        }
        if object_at(obj, &["metadata", "labels"]).is_none_or(Map::is_empty) {
            set(obj, &["metadata", "labels"], Value::Object(labels));
        }
    }
    set_default(obj, &["spec", "replicas"], json!(1));
    default_template_of(obj);
}

/// Defaulting of a ReplicaSet.
pub fn default_replica_set(obj: &mut Value) {
    set_default(obj, &["spec", "replicas"], json!(1));
    default_template_of(obj);
}

/// Defaulting of a Deployment: one replica, a 25%/25% rolling update, ten old ReplicaSets, ten minutes to progress.
pub fn default_deployment(obj: &mut Value) {
    set_default(obj, &["spec", "replicas"], json!(1));
    set_default_str(obj, &["spec", "strategy", "type"], "RollingUpdate");
    if string_or_empty(obj, &["spec", "strategy", "type"]) == "RollingUpdate" {
        set_default(obj, &["spec", "strategy", "rollingUpdate", "maxUnavailable"], json!("25%"));
        set_default(obj, &["spec", "strategy", "rollingUpdate", "maxSurge"], json!("25%"));
    }
    set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
    set_default(obj, &["spec", "progressDeadlineSeconds"], json!(600));
    default_template_of(obj);
}

/// Defaulting of a DaemonSet: a rolling update of one node at a time, without surge.
pub fn default_daemon_set(obj: &mut Value) {
    set_default_str(obj, &["spec", "updateStrategy", "type"], "RollingUpdate");
    if string_or_empty(obj, &["spec", "updateStrategy", "type"]) == "RollingUpdate" {
        set_default(obj, &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"], json!(1));
        set_default(obj, &["spec", "updateStrategy", "rollingUpdate", "maxSurge"], json!(0));
    }
    set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
    default_template_of(obj);
}

/// Defaulting of a StatefulSet, including its volume claim templates (filesystem claims, Pending status).
pub fn default_stateful_set(obj: &mut Value) {
    set_default_str(obj, &["spec", "podManagementPolicy"], "OrderedReady");
    if string_or_empty(obj, &["spec", "updateStrategy", "type"]).is_empty() {
        set(obj, &["spec", "updateStrategy", "type"], json!("RollingUpdate"));
        set_default(obj, &["spec", "updateStrategy", "rollingUpdate"], json!({}));
    }
    if string_or_empty(obj, &["spec", "updateStrategy", "type"]) == "RollingUpdate"
        && is_set(obj, &["spec", "updateStrategy", "rollingUpdate"])
    {
        set_default(obj, &["spec", "updateStrategy", "rollingUpdate", "partition"], json!(0));
    }
    set_default_str(obj, &["spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"], "Retain");
    set_default_str(obj, &["spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"], "Retain");
    set_default(obj, &["spec", "replicas"], json!(1));
    set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
    for_each_mut(obj, &["spec", "volumeClaimTemplates"], |claim| {
        with_object(claim, &["spec"], default_claim_spec);
        set_default_str(claim, &["status", "phase"], "Pending");
    });
    default_template_of(obj);
}

/// The status a new object starts with: Go prints the status fields without `omitempty`, so a fresh
/// ReplicaSet shows `replicas: 0` and a fresh Deployment an empty status.
fn initial_status(kind: &str) -> Value {
    match kind {
        "ReplicationController" | "ReplicaSet" => json!({"replicas": 0}),
        "DaemonSet" => {
            json!({"currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0})
        }
        "StatefulSet" => json!({"availableReplicas": 0, "replicas": 0}),
        _ => json!({}),
    }
}

/// The strategies' create for ReplicationController, ReplicaSet and StatefulSet: status starts empty.
pub fn prepare_replication_controller_for_create(obj: &mut Value) {
    set(obj, &["status"], initial_status("ReplicationController"));
}

pub fn prepare_replica_set_for_create(obj: &mut Value) {
    set(obj, &["status"], initial_status("ReplicaSet"));
}

pub fn prepare_deployment_for_create(obj: &mut Value) {
    set(obj, &["status"], initial_status("Deployment"));
}

pub fn prepare_stateful_set_for_create(obj: &mut Value) {
    set(obj, &["status"], initial_status("StatefulSet"));
}

/// The annotation apps/v1 carries the DaemonSet's internal template generation in.
const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// The DaemonSet strategy's create: status starts empty and the template is generation 1.
pub fn prepare_daemon_set_for_create(obj: &mut Value) {
    set(obj, &["status"], initial_status("DaemonSet"));
    set(obj, &["metadata", "annotations", TEMPLATE_GENERATION_ANNOTATION], json!("1"));
}

/// The workload strategies' update: status only changes through the status subresource.
pub fn prepare_workload_for_update(new: &mut Value, old: &Value) {
    copy_from(new, old, &["status"]);
}

/// The DaemonSet strategy's update: status is kept and a changed template bumps the template generation.
pub fn prepare_daemon_set_for_update(new: &mut Value, old: &Value) {
    prepare_workload_for_update(new, old);
    let previous: i64 =
        str_at(old, &["metadata", "annotations", TEMPLATE_GENERATION_ANNOTATION]).and_then(|text| text.parse().ok()).unwrap_or(0);
    let changed =
        !semantic_eq(get(new, &["spec", "template"]).unwrap_or(&Value::Null), get(old, &["spec", "template"]).unwrap_or(&Value::Null));
    // A DaemonSet that never had a generation (created elsewhere) keeps none until its template changes.
    if changed || previous > 0 {
        let generation = if changed { previous + 1 } else { previous };
        let annotation = &["metadata", "annotations", TEMPLATE_GENERATION_ANNOTATION];
        set(new, annotation, json!(generation.to_string()));
    }
}

/// Upstream `ValidateReplicationControllerUpdate`: unlike apps/v1 workloads, an RC's selector may change.
pub fn validate_replication_controller_update(new: &Value, _old: &Value) -> Vec<FieldError> {
    validate_replication_controller(new)
}

/// Upstream `ValidateReplicationController`.
pub fn validate_replication_controller(obj: &Value) -> Vec<FieldError> {
    let path = FieldPath::new("spec");
    let mut errors = validate_nonnegative(i64_at(obj, &["spec", "minReadySeconds"]), &path.child("minReadySeconds"));
    let selector = object_at(obj, &["spec", "selector"]);
    if selector.is_none_or(Map::is_empty) {
        errors.push(FieldError::required(path.child("selector"), ""));
    }
    errors.extend(validate_nonnegative(i64_at(obj, &["spec", "replicas"]), &path.child("replicas")));
    let Some(template) = get(obj, &["spec", "template"]).filter(|found| !found.is_null()) else {
        errors.push(FieldError::required(path.child("template"), ""));
        return errors;
    };
    let template_path = path.child("template");
    let labels = object_at(template, &["metadata", "labels"]);
    let matches = selector.is_none_or(|wanted| wanted.iter().all(|(key, value)| labels.and_then(|found| found.get(key)) == Some(value)));
    if !matches {
        errors.push(selector_mismatch(&template_path, labels));
    }
    errors.extend(validate_pod_template(template, &template_path));
    errors.extend(validate_always_restarting(template, &template_path, "ReplicationController"));
    errors
}

/// `spec.template.metadata.labels: Invalid value: map[string]string{…}: `selector` does not match template `labels``
fn selector_mismatch(template_path: &FieldPath, labels: Option<&Map<String, Value>>) -> FieldError {
    let path = template_path.child("metadata").child("labels");
    invalid_rendered(&path, &go_string_map(labels), "`selector` does not match template `labels`")
}

/// Controllers keep their pods running: `restartPolicy` must be Always and there is no active deadline.
fn validate_always_restarting(template: &Value, template_path: &FieldPath, kind: &str) -> Vec<FieldError> {
    let spec_path = template_path.child("spec");
    let mut errors = Vec::new();
    let policy = string_or_empty(template, &["spec", "restartPolicy"]);
    if policy != "Always" {
        errors.push(FieldError::not_supported(spec_path.child("restartPolicy"), Value::from(policy), &["Always"]));
    }
    if let Some(deadline) = get(template, &["spec", "activeDeadlineSeconds"]).filter(|found| !found.is_null()) {
        let deadline_path = spec_path.child("activeDeadlineSeconds");
        errors.push(match kind {
            "DaemonSet" => FieldError::invalid(deadline_path, deadline.clone(), "activeDeadlineSeconds must be nil for daemons"),
            "StatefulSet" => FieldError::invalid(deadline_path, deadline.clone(), "activeDeadlineSeconds in StatefulSet is not Supported"),
            _ => FieldError::forbidden(deadline_path, format!("activeDeadlineSeconds in {kind} is not Supported")),
        });
    }
    errors
}

/// An apps/v1 selector: required, valid, not empty, and matching the template's labels.
fn validate_selector_and_template(obj: &Value, noun: &str) -> Vec<FieldError> {
    let path = FieldPath::new("spec");
    let selector = get(obj, &["spec", "selector"]).filter(|found| !found.is_null());
    let mut errors = Vec::new();
    match selector {
        None => errors.push(FieldError::required(path.child("selector"), "")),
        Some(selector) => {
            errors.extend(validate_label_selector(selector, &path.child("selector")));
            if is_empty_selector(selector) {
                errors.push(invalid_rendered(
                    &path.child("selector"),
                    &go_label_selector(selector),
                    &format!("empty selector is invalid for {noun}"),
                ));
            }
        }
    }
    let empty = Value::Object(Map::new());
    let template = get(obj, &["spec", "template"]).unwrap_or(&empty);
    let template_path = path.child("template");
    let labels = object_at(template, &["metadata", "labels"]);
    let selects_template = selector.is_some_and(is_empty_selector) || selector_matches(selector, labels) != Some(false);
    if !selects_template {
        errors.push(selector_mismatch(&template_path, labels));
    }
    errors.extend(validate_pod_template(template, &template_path));
    errors
}

/// apps/v1 forbids changing a workload's selector.
fn validate_selector_unchanged(new: &Value, old: &Value) -> Vec<FieldError> {
    let (new_selector, old_selector) = (get(new, &["spec", "selector"]), get(old, &["spec", "selector"]));
    if semantic_eq(new_selector.unwrap_or(&Value::Null), old_selector.unwrap_or(&Value::Null)) {
        return Vec::new();
    }
    let rendered = new_selector.filter(|found| !found.is_null()).map_or_else(|| "null".to_string(), go_label_selector);
    vec![invalid_rendered(&FieldPath::new("spec").child("selector"), &rendered, "field is immutable")]
}

/// Upstream `ValidateReplicaSet`.
pub fn validate_replica_set(obj: &Value) -> Vec<FieldError> {
    validate_replica_set_spec(obj)
}

fn validate_replica_set_spec(obj: &Value) -> Vec<FieldError> {
    let path = FieldPath::new("spec");
    let mut errors = validate_nonnegative(i64_at(obj, &["spec", "replicas"]), &path.child("replicas"));
    errors.extend(validate_nonnegative(i64_at(obj, &["spec", "minReadySeconds"]), &path.child("minReadySeconds")));
    // Upstream's ReplicaSet message really says "deployment".
    errors.extend(validate_selector_and_template(obj, "deployment"));
    errors.extend(validate_always_restarting(
        get(obj, &["spec", "template"]).unwrap_or(&Value::Null),
        &path.child("template"),
        "ReplicaSet",
    ));
    errors
}

pub fn validate_replica_set_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_replica_set_spec(new));
    errors.extend(validate_selector_unchanged(new, old));
    errors
}

/// Upstream `ValidateDeployment`.
pub fn validate_deployment(obj: &Value) -> Vec<FieldError> {
    validate_deployment_spec(obj)
}

fn validate_deployment_spec(obj: &Value) -> Vec<FieldError> {
    let path = FieldPath::new("spec");
    let mut errors = validate_nonnegative(i64_at(obj, &["spec", "replicas"]), &path.child("replicas"));
    errors.extend(validate_selector_and_template(obj, "deployment"));
    errors.extend(validate_always_restarting(
        get(obj, &["spec", "template"]).unwrap_or(&Value::Null),
        &path.child("template"),
        "ReplicaSet",
    ));
    errors.extend(validate_deployment_strategy(get(obj, &["spec", "strategy"]).unwrap_or(&Value::Null), &path.child("strategy")));
    let min_ready = i64_at(obj, &["spec", "minReadySeconds"]);
    errors.extend(validate_nonnegative(min_ready, &path.child("minReadySeconds")));
    errors.extend(validate_nonnegative(i64_at(obj, &["spec", "revisionHistoryLimit"]), &path.child("revisionHistoryLimit")));
    if let Some(deadline) = i64_at(obj, &["spec", "progressDeadlineSeconds"]) {
        errors.extend(validate_nonnegative(Some(deadline), &path.child("progressDeadlineSeconds")));
        if deadline <= min_ready.unwrap_or(0) {
            errors.push(FieldError::invalid(
                path.child("progressDeadlineSeconds"),
                json!(deadline),
                "must be greater than minReadySeconds",
            ));
        }
    }
    errors
}

fn validate_deployment_strategy(strategy: &Value, path: &FieldPath) -> Vec<FieldError> {
    let rolling = get(strategy, &["rollingUpdate"]).filter(|found| !found.is_null());
    match (string_or_empty(strategy, &["type"]), rolling) {
        ("Recreate", Some(_)) => {
            vec![FieldError::forbidden(path.child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")]
        }
        ("Recreate", None) => Vec::new(),
        ("RollingUpdate", None) => vec![FieldError::required(path.child("rollingUpdate"), "this should be defaulted and never be nil")],
        ("RollingUpdate", Some(rolling)) => validate_rolling_update_deployment(rolling, &path.child("rollingUpdate")),
        (other, _) => vec![FieldError::not_supported(path, Value::from(other), &["Recreate", "RollingUpdate"])],
    }
}

fn validate_rolling_update_deployment(rolling: &Value, path: &FieldPath) -> Vec<FieldError> {
    let unavailable = get(rolling, &["maxUnavailable"]);
    let surge = get(rolling, &["maxSurge"]);
    let mut errors = validate_int_or_percent(unavailable, &path.child("maxUnavailable"));
    errors.extend(validate_int_or_percent(surge, &path.child("maxSurge")));
    if int_or_percent_value(unavailable) == 0 && int_or_percent_value(surge) == 0 {
        errors.push(invalid_rendered(&path.child("maxUnavailable"), &go_int_or_string(unavailable), "may not be 0 when `maxSurge` is 0"));
    }
    errors.extend(validate_at_most_100_percent(unavailable, &path.child("maxUnavailable")));
    errors
}

/// Go's `%#v` of an `intstr.IntOrString`, which upstream shows for these fields.
fn go_int_or_string(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => {
            format!("intstr.IntOrString{{Type:1, IntVal:0, StrVal:{text:?}}}")
        }
        other => format!("intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}", other.and_then(Value::as_i64).unwrap_or(0)),
    }
}

/// `25%` → 25, `3` → 3; anything unparsable counts as 0, as upstream's helper does.
fn int_or_percent_value(value: Option<&Value>) -> i64 {
    match value {
        Some(Value::String(text)) => text.strip_suffix('%').and_then(|number| number.parse().ok()).unwrap_or(0),
        other => other.and_then(Value::as_i64).unwrap_or(0),
    }
}

/// Upstream `ValidatePositiveIntOrPercent`.
fn validate_int_or_percent(value: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    match value {
        Some(Value::String(text)) => {
            let valid = text.strip_suffix('%').is_some_and(|number| !number.is_empty() && number.bytes().all(|c| c.is_ascii_digit()));
            if valid {
                Vec::new()
            } else {
                let message = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";
                vec![invalid_rendered(path, &go_int_or_string(value), message)]
            }
        }
        other => validate_nonnegative(other.and_then(Value::as_i64), path),
    }
}

/// Upstream `IsNotMoreThan100Percent`.
fn validate_at_most_100_percent(value: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    let is_percent = matches!(value, Some(Value::String(_)));
    if is_percent && int_or_percent_value(value) > 100 {
        vec![invalid_rendered(path, &go_int_or_string(value), "must not be greater than 100%")]
    } else {
        Vec::new()
    }
}

pub fn validate_deployment_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_deployment_spec(new));
    errors.extend(validate_selector_unchanged(new, old));
    errors
}

/// Upstream `ValidateDaemonSet`.
pub fn validate_daemon_set(obj: &Value) -> Vec<FieldError> {
    validate_daemon_set_spec(obj)
}

fn validate_daemon_set_spec(obj: &Value) -> Vec<FieldError> {
    let path = FieldPath::new("spec");
    let mut errors = validate_selector_and_template(obj, "daemonset");
    errors.extend(validate_always_restarting(
        get(obj, &["spec", "template"]).unwrap_or(&Value::Null),
        &path.child("template"),
        "DaemonSet",
    ));
    errors.extend(validate_nonnegative(i64_at(obj, &["spec", "minReadySeconds"]), &path.child("minReadySeconds")));
    errors
        .extend(validate_daemon_set_strategy(get(obj, &["spec", "updateStrategy"]).unwrap_or(&Value::Null), &path.child("updateStrategy")));
    errors.extend(validate_nonnegative(i64_at(obj, &["spec", "revisionHistoryLimit"]), &path.child("revisionHistoryLimit")));
    errors
}

fn validate_daemon_set_strategy(strategy: &Value, path: &FieldPath) -> Vec<FieldError> {
    match string_or_empty(strategy, &["type"]) {
        "OnDelete" => Vec::new(),
        "RollingUpdate" => match get(strategy, &["rollingUpdate"]).filter(|found| !found.is_null()) {
            None => vec![FieldError::required(path.child("rollingUpdate"), "")],
            Some(rolling) => validate_rolling_update_daemon_set(rolling, &path.child("rollingUpdate")),
        },
        other => vec![FieldError::not_supported(path, Value::from(other), &["RollingUpdate", "OnDelete"])],
    }
}

fn validate_rolling_update_daemon_set(rolling: &Value, path: &FieldPath) -> Vec<FieldError> {
    let unavailable = get(rolling, &["maxUnavailable"]);
    let surge = get(rolling, &["maxSurge"]);
    let mut errors = validate_int_or_percent(unavailable, &path.child("maxUnavailable"));
    errors.extend(validate_int_or_percent(surge, &path.child("maxSurge")));
    errors.extend(validate_at_most_100_percent(unavailable, &path.child("maxUnavailable")));
    errors.extend(validate_at_most_100_percent(surge, &path.child("maxSurge")));
    match (int_or_percent_value(unavailable) != 0, int_or_percent_value(surge) != 0) {
        (true, true) => errors.push(invalid_rendered(
            &path.child("maxSurge"),
            &go_int_or_string(surge),
            "may not be set when maxUnavailable is non-zero",
        )),
        (false, false) => errors.push(FieldError::required(path.child("maxUnavailable"), "cannot be 0 when maxSurge is 0")),
        _ => {}
    }
    errors
}

pub fn validate_daemon_set_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_daemon_set_spec(new));
    errors.extend(validate_selector_unchanged(new, old));
    errors
}

/// Upstream `ValidateStatefulSet`.
pub fn validate_stateful_set(obj: &Value) -> Vec<FieldError> {
    validate_stateful_set_spec(obj)
}

fn validate_stateful_set_spec(obj: &Value) -> Vec<FieldError> {
    let path = FieldPath::new("spec");
    let mut errors = Vec::new();
    match string_or_empty(obj, &["spec", "podManagementPolicy"]) {
        "" => errors.push(FieldError::required(path.child("podManagementPolicy"), "")),
        "OrderedReady" | "Parallel" => {}
        other => {
            errors.push(FieldError::invalid(path.child("podManagementPolicy"), Value::from(other), "must be 'OrderedReady' or 'Parallel'"))
        }
    }
    errors.extend(validate_stateful_set_strategy(obj, &path.child("updateStrategy")));
    errors.extend(validate_retention_policy(obj, &path.child("persistentVolumeClaimRetentionPolicy")));
    for field in ["revisionHistoryLimit", "replicas", "minReadySeconds"] {
        errors.extend(validate_nonnegative(i64_at(obj, &["spec", field]), &path.child(field)));
    }
    errors.extend(validate_nonnegative(i64_at(obj, &["spec", "ordinals", "start"]), &path.child("ordinals").child("start")));
    errors.extend(validate_selector_and_template(&with_claim_volumes(obj), "statefulset"));
    errors.extend(validate_always_restarting(
        get(obj, &["spec", "template"]).unwrap_or(&Value::Null),
        &path.child("template"),
        "StatefulSet",
    ));
    errors
}

/// The StatefulSet's pods get a volume per claim template, so the template's mounts may name claim templates.
fn with_claim_volumes(obj: &Value) -> Value {
    let mut augmented = obj.clone();
    let claims: Vec<Value> = array_at(obj, &["spec", "volumeClaimTemplates"])
        .iter()
        .map(|claim| string_or_empty(claim, &["metadata", "name"]))
        .map(|name| json!({"name": name, "persistentVolumeClaim": {"claimName": name}}))
        .collect();
    let mut volumes = array_at(obj, &["spec", "template", "spec", "volumes"]).to_vec();
    volumes.extend(claims);
    if !volumes.is_empty() {
        set(&mut augmented, &["spec", "template", "spec", "volumes"], Value::Array(volumes));
    }
    augmented
}

fn validate_stateful_set_strategy(obj: &Value, path: &FieldPath) -> Vec<FieldError> {
    let rolling = get(obj, &["spec", "updateStrategy", "rollingUpdate"]).filter(|found| !found.is_null());
    match string_or_empty(obj, &["spec", "updateStrategy", "type"]) {
        "" => vec![FieldError::required(path, "")],
        "OnDelete" => match rolling {
            Some(rolling) => {
                vec![FieldError::invalid(path.child("rollingUpdate"), rolling.clone(), "only allowed for updateStrategy 'RollingUpdate'")]
            }
            None => Vec::new(),
        },
        "RollingUpdate" => {
            let partition = rolling.and_then(|rolling| i64_at(rolling, &["partition"]));
            let mut errors = validate_nonnegative(partition, &path.child("rollingUpdate").child("partition"));
            if let Some(unavailable) = rolling.and_then(|rolling| get(rolling, &["maxUnavailable"])) {
                errors.extend(validate_int_or_percent(Some(unavailable), &path.child("rollingUpdate").child("maxUnavailable")));
            }
            errors
        }
        other => vec![FieldError::invalid(path, Value::from(other), "must be 'RollingUpdate' or 'OnDelete'")],
    }
}

fn validate_retention_policy(obj: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for field in ["whenDeleted", "whenScaled"] {
        if let Some(policy) = str_at(obj, &["spec", "persistentVolumeClaimRetentionPolicy", field])
            .filter(|policy| *policy != "Retain" && *policy != "Delete")
        {
            errors.push(FieldError::not_supported(path.child(field), Value::from(policy), &["Retain", "Delete"]));
        }
    }
    errors
}

/// The spec fields a StatefulSet update may change; everything else is fixed at creation.
const STATEFUL_SET_MUTABLE_FIELDS: [&str; 7] = [
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

/// Upstream `ValidateStatefulSetUpdate`.
pub fn validate_stateful_set_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let without_mutable = |obj: &Value| {
        let mut spec = get(obj, &["spec"]).cloned().unwrap_or(Value::Null);
        if let Some(fields) = spec.as_object_mut() {
            STATEFUL_SET_MUTABLE_FIELDS.iter().for_each(|field| {
                fields.remove(*field);
            });
        }
        spec
    };
    if !semantic_eq(&without_mutable(new), &without_mutable(old)) {
        let detail = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";
        errors.push(FieldError::forbidden(FieldPath::new("spec"), detail));
    }
    errors.extend(validate_stateful_set_spec(new));
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(FieldError::to_message).collect()
    }

    fn template(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}})
    }

    fn deployment() -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"},
               "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"}))}})
    }

    #[test]
    fn deployment_defaults_and_validates() {
        let mut obj = deployment();
        default_deployment(&mut obj);
        prepare_deployment_for_create(&mut obj);
        let spec = &obj["spec"];
        assert_eq!(spec["replicas"], 1);
        assert_eq!(spec["strategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}));
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(spec["progressDeadlineSeconds"], 600);
        assert_eq!(spec["template"]["spec"]["restartPolicy"], "Always");
        assert_eq!(spec["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert!(spec["template"]["spec"].get("serviceAccountName").is_none(), "admission defaults apply to pods only");
        assert_eq!(obj["status"], json!({}));
        assert!(validate_deployment(&obj).is_empty(), "{:?}", messages(&validate_deployment(&obj)));
    }

    #[test]
    fn selector_must_match_template_labels() {
        let mut obj = deployment();
        obj["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
        default_deployment(&mut obj);
        let error = crate::api::status::ApiError::invalid("apps", "Deployment", "web", validate_deployment(&obj));
        assert_eq!(
            error.to_string(),
            "Deployment.apps \"web\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`"
        );
    }

    #[test]
    fn missing_selector_reports_both_errors_like_upstream() {
        let mut obj = deployment();
        obj["spec"].as_object_mut().unwrap().remove("selector");
        default_deployment(&mut obj);
        assert_eq!(
            messages(&validate_deployment(&obj)),
            vec![
            "spec.selector: Required value",
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
        ]
        );
    }

    #[test]
    fn deployment_rules_on_replicas_restart_policy_and_strategy() {
        let mut obj = deployment();
        obj["spec"]["replicas"] = json!(-1);
        obj["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        obj["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}});
        default_deployment(&mut obj);
        assert_eq!(messages(&validate_deployment(&obj)), vec![
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0",
        ]);
    }

    #[test]
    fn apps_selectors_are_immutable() {
        let mut old = deployment();
        default_deployment(&mut old);
        let mut new = old.clone();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "web2"}});
        new["spec"]["template"]["metadata"]["labels"] = json!({"app": "web2"});
        assert_eq!(messages(&validate_deployment_update(&new, &old)), vec![
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
        ]);
        let mut scaled = old.clone();
        scaled["spec"]["replicas"] = json!(3);
        assert!(validate_deployment_update(&scaled, &old).is_empty());
    }

    #[test]
    fn replication_controller_takes_selector_and_labels_from_template() {
        let mut rc = json!({"metadata": {"name": "rc", "namespace": "default"}, "spec": {"template": template(json!({"app": "rc"}))}});
        default_replication_controller(&mut rc);
        prepare_replication_controller_for_create(&mut rc);
        assert_eq!(rc["spec"]["selector"], json!({"app": "rc"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "rc"}));
        assert_eq!(rc["spec"]["replicas"], 1);
        assert_eq!(rc["status"], json!({"replicas": 0}));
        assert!(validate_replication_controller(&rc).is_empty());
        rc["spec"]["template"]["spec"]["activeDeadlineSeconds"] = json!(5);
        assert_eq!(
            messages(&validate_replication_controller(&rc)),
            vec!["spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicationController is not Supported"]
        );
    }

    #[test]
    fn replica_set_rejects_empty_selector() {
        let mut rs = json!({"metadata": {"name": "rs", "namespace": "default"}, "spec": {"selector": {}, "template": template(json!({"app": "rs"}))}});
        default_replica_set(&mut rs);
        assert_eq!(messages(&validate_replica_set(&rs)), vec![
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
        ]);
    }

    #[test]
    fn daemon_set_defaults_generation_and_strategy_rules() {
        let mut ds = json!({"metadata": {"name": "ds", "namespace": "default"}, "spec": {"selector": {"matchLabels": {"app": "ds"}}, "template": template(json!({"app": "ds"}))}});
        default_daemon_set(&mut ds);
        prepare_daemon_set_for_create(&mut ds);
        assert_eq!(ds["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}));
        assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(ds["metadata"]["annotations"]["deprecated.daemonset.template.generation"], "1");
        assert!(validate_daemon_set(&ds).is_empty(), "{:?}", messages(&validate_daemon_set(&ds)));
        let mut updated = ds.clone();
        updated["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
        prepare_daemon_set_for_update(&mut updated, &ds);
        assert_eq!(updated["metadata"]["annotations"]["deprecated.daemonset.template.generation"], "2");
        updated["spec"]["updateStrategy"]["rollingUpdate"] = json!({"maxUnavailable": 0, "maxSurge": 0});
        assert_eq!(
            messages(&validate_daemon_set_update(&updated, &ds)),
            vec!["spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"]
        );
    }

    #[test]
    fn stateful_set_defaults_and_forbidden_updates() {
        let mut sts = json!({"metadata": {"name": "db", "namespace": "default"}, "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": template(json!({"app": "db"})), "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}});
        sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = json!([{"name": "data", "mountPath": "/var/lib/db"}]);
        default_stateful_set(&mut sts);
        prepare_stateful_set_for_create(&mut sts);
        let spec = &sts["spec"];
        assert_eq!(spec["podManagementPolicy"], "OrderedReady");
        assert_eq!(spec["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
        assert_eq!(spec["persistentVolumeClaimRetentionPolicy"], json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
        assert_eq!(spec["replicas"], 1);
        assert_eq!(spec["volumeClaimTemplates"][0]["spec"]["volumeMode"], "Filesystem");
        assert_eq!(spec["volumeClaimTemplates"][0]["status"], json!({"phase": "Pending"}));
        assert_eq!(sts["status"], json!({"availableReplicas": 0, "replicas": 0}));
        assert!(validate_stateful_set(&sts).is_empty(), "{:?}", messages(&validate_stateful_set(&sts)));
        let mut changed = sts.clone();
        changed["spec"]["serviceName"] = json!("other");
        assert_eq!(messages(&validate_stateful_set_update(&changed, &sts)), vec![
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        ]);
    }

    #[test]
    fn status_is_kept_on_update() {
        let old = json!({"status": {"replicas": 3}});
        let mut new = json!({"spec": {}, "status": {"replicas": 9}});
        prepare_workload_for_update(&mut new, &old);
        assert_eq!(new["status"], json!({"replicas": 3}));
    }
}
