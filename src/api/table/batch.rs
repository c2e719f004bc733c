//! Table printers and selectable fields of `batch/v1`: jobs and cron jobs, as upstream's
//! `pkg/printers/internalversion` renders them (absent fields read as Go zero values; the wide cells are
//! always rendered).

use jiff::Timestamp;
use serde_json::Value;

use super::format::{
    age, column, condition_is_true, container_cells, format_label_selector, human_duration, int, is_deleting, list, name, since, text,
    timestamp, wide, AGE_COLUMN, CONTAINERS_DESCRIPTION, IMAGES_DESCRIPTION, NAME_COLUMN,
};
use crate::api::registry::Column;

pub const JOB_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column("Status", "string", "Status of the job."),
    column(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded. The value \
        increases monotonically for a given spec. However, it may decrease in reaction to scale \
        down of elastic indexed jobs.",
    ),
    column("Duration", "string", "Time required to complete the job."),
    AGE_COLUMN,
    wide(column("Containers", "string", CONTAINERS_DESCRIPTION)),
    wide(column("Images", "string", IMAGES_DESCRIPTION)),
    wide(column(
        "Selector",
        "string",
        "A label query over pods that should match the pod count. \
        Normally, the system sets this field for you. More info: \
        https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    )),
];

pub fn job_cells(job: &Value, now: Timestamp) -> Vec<Value> {
    let succeeded = int(job, "/status/succeeded");
    let completions = match job.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(completions) => format!("{succeeded}/{completions}"),
        None => match int(job, "/spec/parallelism") {
            parallelism if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (timestamp(job.pointer("/status/startTime")), timestamp(job.pointer("/status/completionTime"))) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.duration_since(start)),
        (Some(start), Some(end)) => human_duration(end.duration_since(start)),
    };
    let (containers, images) = container_cells(list(job, "/spec/template/spec/containers"));
    vec![
        name(job),
        Value::from(job_status(job)),
        Value::from(completions),
        Value::from(duration),
        Value::from(age(job, now)),
        Value::from(containers),
        Value::from(images),
        Value::from(format_label_selector(job.pointer("/spec/selector"))),
    ]
}

/// Terminal conditions win over deletion, which wins over the transient conditions.
fn job_status(job: &Value) -> &'static str {
    let conditions = list(job, "/status/conditions");
    let holds = |wanted: &str| condition_is_true(conditions, wanted);
    if holds("Complete") {
        "Complete"
    } else if holds("Failed") {
        "Failed"
    } else if is_deleting(job) {
        "Terminating"
    } else if holds("Suspended") {
        "Suspended"
    } else if holds("FailureTarget") {
        "FailureTarget"
    } else if holds("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

/// Jobs select on `status.successful`, upstream's name for `status.succeeded`.
pub fn job_field(job: &Value, field: &str) -> Option<String> {
    (field == "status.successful").then(|| int(job, "/status/succeeded").to_string())
}

pub const CRON_JOB_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column(
        "Schedule",
        "string",
        "The schedule in Cron format, see \
        https://en.wikipedia.org/wiki/Cron.",
    ),
    column(
        "Timezone",
        "string",
        "The time zone name for the given schedule, see \
        https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will \
        default to the time zone of the kube-controller-manager process. The set of valid time \
        zone names and the time zone offset is loaded from the system-wide time zone database by \
        the API server during CronJob validation and the controller manager during execution. If \
        no system-wide time zone database can be found a bundled version of the database is used \
        instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to \
        a change in host configuration, the controller will stop creating new new Jobs and will \
        create a system event with the reason UnknownTimeZone. More information can be found in \
        https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones",
    ),
    // Upstream declares Suspend boolean but fills it with "True", "False" or "<unset>".
    column(
        "Suspend",
        "boolean",
        "This flag tells the controller to suspend subsequent executions, \
        it does not apply to already started executions.  Defaults to false.",
    ),
    column("Active", "integer", "A list of pointers to currently running jobs."),
    column(
        "Last Schedule",
        "string",
        "Information when was the last time the job was successfully \
        scheduled.",
    ),
    AGE_COLUMN,
    wide(column("Containers", "string", CONTAINERS_DESCRIPTION)),
    wide(column("Images", "string", IMAGES_DESCRIPTION)),
    wide(column(
        "Selector",
        "string",
        "A label query over pods that should match the pod count. \
        Normally, the system sets this field for you. More info: \
        https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    )),
];

pub fn cron_job_cells(cron_job: &Value, now: Timestamp) -> Vec<Value> {
    let time_zone = cron_job.pointer("/spec/timeZone").and_then(Value::as_str).unwrap_or("<none>");
    let suspend = match cron_job.pointer("/spec/suspend").and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let last_schedule = match cron_job.pointer("/status/lastScheduleTime").filter(|t| !t.is_null()) {
        Some(time) => since(Some(time), now),
        None => "<none>".to_string(),
    };
    let (containers, images) = container_cells(list(cron_job, "/spec/jobTemplate/spec/template/spec/containers"));
    vec![
        name(cron_job),
        Value::from(text(cron_job, "/spec/schedule")),
        Value::from(time_zone),
        Value::from(suspend),
        Value::from(list(cron_job, "/status/active").len()),
        Value::from(last_schedule),
        Value::from(age(cron_job, now)),
        Value::from(containers),
        Value::from(images),
        Value::from(format_label_selector(cron_job.pointer("/spec/jobTemplate/spec/selector"))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2025-06-01T12:00:00Z".parse().unwrap()
    }

    fn job(spec: Value, status: Value) -> Value {
        let mut spec = spec;
        spec["template"] = json!({"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}]}});
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "0f1e"}});
        json!({"metadata": {"name": "pi", "creationTimestamp": "2025-06-01T11:50:00Z"}, "spec": spec, "status": status})
    }

    #[test]
    fn completed_job() {
        let complete = job(
            json!({"completions": 1, "parallelism": 1}),
            json!({"succeeded": 1, "startTime": "2025-06-01T11:50:00Z", "completionTime": "2025-06-01T11:50:45Z",
                   "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}),
        );
        assert_eq!(
            job_cells(&complete, now()),
            [
                json!("pi"),
                json!("Complete"),
                json!("1/1"),
                json!("45s"),
                json!("10m"),
                json!("pi"),
                json!("perl:5.34"),
                json!("batch.kubernetes.io/controller-uid=0f1e")
            ]
        );
        assert_eq!(job_field(&complete, "status.successful").as_deref(), Some("1"));
        assert_eq!(job_field(&complete, "status.succeeded"), None);
    }

    #[test]
    fn running_parallel_and_unstarted_jobs() {
        let running = job(json!({"parallelism": 3}), json!({"succeeded": 1, "active": 2, "startTime": "2025-06-01T11:55:30Z"}));
        let cells = job_cells(&running, now());
        assert_eq!(cells[1..4], [json!("Running"), json!("1/1 of 3"), json!("4m30s")]);
        let unstarted = job(json!({}), json!({}));
        assert_eq!(job_cells(&unstarted, now())[1..4], [json!("Running"), json!("0/1"), json!("")]);
    }

    #[test]
    fn job_status_precedence() {
        let with = |conditions: Value, deleting: bool| {
            let mut job = job(json!({"completions": 2}), json!({"conditions": conditions}));
            if deleting {
                job["metadata"]["deletionTimestamp"] = json!("2025-06-01T11:59:00Z");
            }
            job_cells(&job, now())[1].clone()
        };
        assert_eq!(with(json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]), true), "Failed");
        assert_eq!(with(json!([]), true), "Terminating");
        assert_eq!(with(json!([{"type": "Suspended", "status": "True"}]), false), "Suspended");
        assert_eq!(with(json!([{"type": "Suspended", "status": "False"}]), false), "Running");
        assert_eq!(with(json!([{"type": "FailureTarget", "status": "True"}]), false), "FailureTarget");
        assert_eq!(with(json!([{"type": "SuccessCriteriaMet", "status": "True"}]), false), "SuccessCriteriaMet");
    }

    #[test]
    fn cron_jobs() {
        let cron_job = json!({
            "metadata": {"name": "hello", "creationTimestamp": "2025-05-31T12:00:00Z"},
            "spec": {"schedule": "*/5 * * * *", "suspend": false, "jobTemplate": {"spec": {
                "template": {"spec": {"containers": [{"name": "hello", "image": "busybox:1.36"}]}}}}},
            "status": {"active": [{"name": "hello-29000"}], "lastScheduleTime": "2025-06-01T11:59:15Z"},
        });
        assert_eq!(
            cron_job_cells(&cron_job, now()),
            [
                json!("hello"),
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("45s"),
                json!("24h"),
                json!("hello"),
                json!("busybox:1.36"),
                json!("<none>")
            ]
        );
        let zoned = json!({"spec": {"schedule": "@daily", "timeZone": "Europe/Paris", "suspend": true}});
        assert_eq!(cron_job_cells(&zoned, now())[1..6], [json!("@daily"), json!("Europe/Paris"), json!("True"), json!(0), json!("<none>")]);
        assert_eq!(cron_job_cells(&json!({}), now())[3], "<unset>");
    }
}
