//! Table printers and selectable fields of the `apps/v1` workloads: deployments, replica sets, daemon sets
//! and stateful sets, as upstream's `pkg/printers/internalversion` renders them (absent fields read as Go
//! zero values; the wide cells are always rendered).

use jiff::Timestamp;
use serde_json::Value;

use super::format::{
    age, column, container_cells, format_label_selector, format_labels, int, list, name, wide, AGE_COLUMN, CONTAINERS_DESCRIPTION,
    IMAGES_DESCRIPTION, NAME_COLUMN,
};
use crate::api::registry::Column;
use crate::api::selector::LabelSelector;

const READY_DESCRIPTION: &str = "Number of the pod with ready state";

pub const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column("Ready", "string", READY_DESCRIPTION),
    // Upstream declares Up-to-date and Available string columns but fills them with integers.
    column(
        "Up-to-date",
        "string",
        "Total number of non-terminating pods targeted by this \
        deployment that have the desired template spec.",
    ),
    column(
        "Available",
        "string",
        "Total number of available non-terminating pods (ready for at \
        least minReadySeconds) targeted by this deployment.",
    ),
    AGE_COLUMN,
    wide(column("Containers", "string", CONTAINERS_DESCRIPTION)),
    wide(column("Images", "string", IMAGES_DESCRIPTION)),
    wide(column(
        "Selector",
        "string",
        "Label selector for pods. Existing ReplicaSets whose pods \
        are selected by this will be the ones affected by this deployment. It must match the pod \
        template's labels.",
    )),
];

pub fn deployment_cells(deployment: &Value, now: Timestamp) -> Vec<Value> {
    let (containers, images) = container_cells(list(deployment, "/spec/template/spec/containers"));
    // Unlike the other workloads, deployments print an absent or empty selector as "" and a broken one
    // as `<invalid>`.
    let selector = deployment.pointer("/spec/selector").unwrap_or(&Value::Null);
    let selector = match LabelSelector::from_label_selector_json(selector) {
        Ok(selector) => selector.to_string(),
        Err(_) => "<invalid>".to_string(),
    };
    vec![
        name(deployment),
        Value::from(format!("{}/{}", int(deployment, "/status/readyReplicas"), int(deployment, "/spec/replicas"))),
        Value::from(int(deployment, "/status/updatedReplicas")),
        Value::from(int(deployment, "/status/availableReplicas")),
        Value::from(age(deployment, now)),
        Value::from(containers),
        Value::from(images),
        Value::from(selector),
    ]
}

pub const REPLICA_SET_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column(
        "Desired",
        "integer",
        "Replicas is the number of desired pods. This is a pointer to \
        distinguish between explicit zero and unspecified. Defaults to 1. More info: \
        https://kubernetes.io/docs/concepts/workloads/controllers/replicaset",
    ),
    column(
        "Current",
        "integer",
        "Replicas is the most recently observed number of non-terminating \
        pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset",
    ),
    column(
        "Ready",
        "integer",
        "The number of non-terminating pods targeted by this ReplicaSet \
        with a Ready Condition.",
    ),
    AGE_COLUMN,
    wide(column("Containers", "string", CONTAINERS_DESCRIPTION)),
    wide(column("Images", "string", IMAGES_DESCRIPTION)),
    wide(column(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the \
        replica count. Label keys and values that must match in order to be controlled by this \
        replica set. It must match the pod template's labels. More info: \
        https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    )),
];

pub fn replica_set_cells(replica_set: &Value, now: Timestamp) -> Vec<Value> {
    let (containers, images) = container_cells(list(replica_set, "/spec/template/spec/containers"));
    vec![
        name(replica_set),
        Value::from(int(replica_set, "/spec/replicas")),
        Value::from(int(replica_set, "/status/replicas")),
        Value::from(int(replica_set, "/status/readyReplicas")),
        Value::from(age(replica_set, now)),
        Value::from(containers),
        Value::from(images),
        Value::from(format_label_selector(replica_set.pointer("/spec/selector"))),
    ]
}

/// Replica sets select on `status.replicas`, rendered as a decimal integer.
pub fn replica_set_field(replica_set: &Value, field: &str) -> Option<String> {
    (field == "status.replicas").then(|| int(replica_set, "/status/replicas").to_string())
}

pub const DAEMON_SET_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column(
        "Desired",
        "integer",
        "The total number of nodes that should be running the daemon pod \
        (including nodes correctly running the daemon pod). More info: \
        https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
    ),
    column(
        "Current",
        "integer",
        "The number of nodes that are running at least 1 daemon pod and \
        are supposed to run the daemon pod. More info: \
        https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
    ),
    column(
        "Ready",
        "integer",
        "numberReady is the number of nodes that should be running the \
        daemon pod and have one or more of the daemon pod running with a Ready Condition.",
    ),
    column("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    column(
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and \
        have one or more of the daemon pod running and available (ready for at least \
        spec.minReadySeconds)",
    ),
    column(
        "Node Selector",
        "string",
        "NodeSelector is a selector which must be true for the pod \
        to fit on a node. Selector which must match a node's labels for the pod to be scheduled on \
        that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
    ),
    AGE_COLUMN,
    wide(column("Containers", "string", CONTAINERS_DESCRIPTION)),
    wide(column("Images", "string", IMAGES_DESCRIPTION)),
    wide(column(
        "Selector",
        "string",
        "A label query over pods that are managed by the daemon set. \
        Must match in order to be controlled. It must match the pod template's labels. More info: \
        https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    )),
];

pub fn daemon_set_cells(daemon_set: &Value, now: Timestamp) -> Vec<Value> {
    let (containers, images) = container_cells(list(daemon_set, "/spec/template/spec/containers"));
    vec![
        name(daemon_set),
        Value::from(int(daemon_set, "/status/desiredNumberScheduled")),
        Value::from(int(daemon_set, "/status/currentNumberScheduled")),
        Value::from(int(daemon_set, "/status/numberReady")),
        Value::from(int(daemon_set, "/status/updatedNumberScheduled")),
        Value::from(int(daemon_set, "/status/numberAvailable")),
        Value::from(format_labels(daemon_set.pointer("/spec/template/spec/nodeSelector"))),
        Value::from(age(daemon_set, now)),
        Value::from(containers),
        Value::from(images),
        Value::from(format_label_selector(daemon_set.pointer("/spec/selector"))),
    ]
}

pub const STATEFUL_SET_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column("Ready", "string", READY_DESCRIPTION),
    AGE_COLUMN,
    wide(column("Containers", "string", CONTAINERS_DESCRIPTION)),
    wide(column("Images", "string", IMAGES_DESCRIPTION)),
];

pub fn stateful_set_cells(stateful_set: &Value, now: Timestamp) -> Vec<Value> {
    let (containers, images) = container_cells(list(stateful_set, "/spec/template/spec/containers"));
    vec![
        name(stateful_set),
        Value::from(format!("{}/{}", int(stateful_set, "/status/readyReplicas"), int(stateful_set, "/spec/replicas"))),
        Value::from(age(stateful_set, now)),
        Value::from(containers),
        Value::from(images),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2025-06-01T12:00:00Z".parse().unwrap()
    }

    fn template() -> Value {
        json!({"metadata": {"labels": {"app": "web"}},
               "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}, {"name": "sidecar", "image": "envoy:v1.30"}]}})
    }

    #[test]
    fn deployments() {
        let deployment = json!({
            "metadata": {"name": "web", "creationTimestamp": "2025-06-01T11:57:30Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()},
            "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
        });
        assert_eq!(
            deployment_cells(&deployment, now()),
            [
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("2m30s"),
                json!("app,sidecar"),
                json!("nginx:1.27,envoy:v1.30"),
                json!("app=web")
            ]
        );
        let fresh = json!({"metadata": {"name": "new"}, "spec": {"replicas": 1}});
        assert_eq!(deployment_cells(&fresh, now())[1..5], [json!("0/1"), json!(0), json!(0), json!("<unknown>")]);
        assert_eq!(deployment_cells(&fresh, now())[7], "", "an absent selector prints empty, not <none>");
        let broken = json!({"spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}});
        assert_eq!(deployment_cells(&broken, now())[7], "<invalid>");
    }

    #[test]
    fn replica_sets() {
        let replica_set = json!({
            "metadata": {"name": "web-7d4b9c", "creationTimestamp": "2025-05-01T12:00:00Z"},
            "spec": {"replicas": 3, "template": template(),
                     "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d4b9c"}}},
            "status": {"replicas": 3, "readyReplicas": 3},
        });
        assert_eq!(
            replica_set_cells(&replica_set, now()),
            [
                json!("web-7d4b9c"),
                json!(3),
                json!(3),
                json!(3),
                json!("31d"),
                json!("app,sidecar"),
                json!("nginx:1.27,envoy:v1.30"),
                json!("app=web,pod-template-hash=7d4b9c")
            ]
        );
        assert_eq!(replica_set_cells(&json!({}), now())[7], "<none>");
        assert_eq!(replica_set_field(&replica_set, "status.replicas").as_deref(), Some("3"));
        assert_eq!(replica_set_field(&json!({}), "status.replicas").as_deref(), Some("0"));
        assert_eq!(replica_set_field(&replica_set, "status.readyReplicas"), None);
    }

    #[test]
    fn daemon_sets() {
        let mut pod_template = template();
        pod_template["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
        let daemon_set = json!({
            "metadata": {"name": "node-exporter", "creationTimestamp": "2025-06-01T09:00:00Z"},
            "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["exporter"]}]}, "template": pod_template},
            "status": {"desiredNumberScheduled": 5, "currentNumberScheduled": 5, "numberReady": 4, "updatedNumberScheduled": 5, "numberAvailable": 4},
        });
        assert_eq!(
            daemon_set_cells(&daemon_set, now()),
            [
                json!("node-exporter"),
                json!(5),
                json!(5),
                json!(4),
                json!(5),
                json!(4),
                json!("kubernetes.io/os=linux"),
                json!("3h"),
                json!("app,sidecar"),
                json!("nginx:1.27,envoy:v1.30"),
                json!("app in (exporter)")
            ]
        );
        assert_eq!(daemon_set_cells(&json!({}), now())[6], "<none>");
    }

    #[test]
    fn stateful_sets() {
        let stateful_set = json!({
            "metadata": {"name": "db", "creationTimestamp": "2025-06-01T04:30:00Z"},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "postgres", "image": "postgres:17"}]}}},
            "status": {"readyReplicas": 1, "replicas": 2},
        });
        assert_eq!(
            stateful_set_cells(&stateful_set, now()),
            [json!("db"), json!("1/3"), json!("7h30m"), json!("postgres"), json!("postgres:17")]
        );
    }
}
