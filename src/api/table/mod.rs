//! Server-side Table output for `kubectl get`: per kind, the column definitions (`*_COLUMNS`), the cells
//! of one row (`*_cells`, always including the `-o wide` cells, which kubectl hides by column priority)
//! and the values of the kind's selectable fields (`*_field`). Everything matches upstream kube-apiserver
//! (`pkg/printers/internalversion`, `pkg/registry/rest/table.go`, each kind's `ToSelectableFields`), so
//! stock kubectl prints what it prints against a real cluster. Pure functions of the stored JSON and the
//! render time.

pub mod apps;
pub mod batch;
pub mod certificates;
pub mod coordination;
pub mod core;
pub mod discovery;
pub mod events;
pub mod format;

use jiff::Timestamp;
use serde_json::Value;

use self::format::{column, name, timestamp, AGE_DESCRIPTION, NAME_COLUMN};
use crate::api::registry::Column;

pub use self::apps::*;
pub use self::batch::*;
pub use self::certificates::*;
pub use self::coordination::*;
pub use self::core::*;
pub use self::discovery::*;
pub use self::events::*;

/// Upstream's default table for kinds without a printer (and CRDs without printer columns).
pub const GENERIC_COLUMNS: &[Column] = &[NAME_COLUMN, column("Created At", "date", AGE_DESCRIPTION)];

/// Name and the creation time in RFC 3339 UTC; a missing time prints as Go's zero time, as upstream's does.
pub fn generic_cells(obj: &Value, _now: Timestamp) -> Vec<Value> {
    let created = match timestamp(obj.pointer("/metadata/creationTimestamp")) {
        Some(created) => format!("{created:.0}"),
        None => "0001-01-01T00:00:00Z".to_string(),
    };
    vec![name(obj), Value::from(created)]
}

/// For kinds whose only selectable fields are `metadata.name` and `metadata.namespace`.
pub fn no_fields(_: &Value, _: &str) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    type Printer = (&'static str, &'static [Column], fn(&Value, Timestamp) -> Vec<Value>);

    const PRINTERS: &[Printer] = &[
        ("generic", GENERIC_COLUMNS, generic_cells),
        ("pods", POD_COLUMNS, pod_cells),
        ("services", SERVICE_COLUMNS, service_cells),
        ("replicationcontrollers", REPLICATION_CONTROLLER_COLUMNS, replication_controller_cells),
        ("nodes", NODE_COLUMNS, node_cells),
        ("namespaces", NAMESPACE_COLUMNS, namespace_cells),
        ("events", EVENT_COLUMNS, event_cells),
        ("events.k8s.io", EVENT_COLUMNS, events_v1_event_cells),
        ("configmaps", CONFIG_MAP_COLUMNS, config_map_cells),
        ("secrets", SECRET_COLUMNS, secret_cells),
        ("serviceaccounts", SERVICE_ACCOUNT_COLUMNS, service_account_cells),
        ("endpoints", ENDPOINTS_COLUMNS, endpoints_cells),
        ("persistentvolumes", PERSISTENT_VOLUME_COLUMNS, persistent_volume_cells),
        ("persistentvolumeclaims", PERSISTENT_VOLUME_CLAIM_COLUMNS, persistent_volume_claim_cells),
        ("deployments", DEPLOYMENT_COLUMNS, deployment_cells),
        ("replicasets", REPLICA_SET_COLUMNS, replica_set_cells),
        ("daemonsets", DAEMON_SET_COLUMNS, daemon_set_cells),
        ("statefulsets", STATEFUL_SET_COLUMNS, stateful_set_cells),
        ("jobs", JOB_COLUMNS, job_cells),
        ("cronjobs", CRON_JOB_COLUMNS, cron_job_cells),
        ("endpointslices", ENDPOINT_SLICE_COLUMNS, endpoint_slice_cells),
        ("leases", LEASE_COLUMNS, lease_cells),
    ];

    /// Every printer gives one cell per column and puts `metadata.name` in the `name`-format column, even
    /// for an object with nothing set.
    #[test]
    fn every_printer_fills_every_column() {
        let now: Timestamp = "2025-06-01T12:00:00Z".parse().unwrap();
        for (kind, columns, cells) in PRINTERS {
            for object in [json!({}), json!({"metadata": {"name": "x", "creationTimestamp": "2025-06-01T11:00:00Z"}})] {
                let row = cells(&object, now);
                assert_eq!(row.len(), columns.len(), "{kind}");
                let name_column = columns.iter().position(|c| c.format == "name").unwrap();
                assert_eq!(row[name_column], object.pointer("/metadata/name").cloned().unwrap_or(json!("")), "{kind}");
                assert!(columns.iter().all(|c| !c.description.is_empty() && c.priority <= 1), "{kind}");
            }
        }
    }

    fn headers(columns: &[Column], priority: u8) -> Vec<&str> {
        columns.iter().filter(|c| c.priority == priority).map(|c| c.name).collect()
    }

    #[test]
    fn default_and_wide_headers_match_kubectl() {
        assert_eq!(headers(POD_COLUMNS, 0), ["Name", "Ready", "Status", "Restarts", "Age"]);
        assert_eq!(headers(POD_COLUMNS, 1), ["IP", "Node", "Nominated Node", "Readiness Gates"]);
        assert_eq!(headers(SERVICE_COLUMNS, 0), ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"]);
        assert_eq!(headers(NODE_COLUMNS, 1), ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"]);
        assert_eq!(headers(EVENT_COLUMNS, 0), ["Last Seen", "Type", "Reason", "Object", "Message"]);
        assert_eq!(headers(EVENT_COLUMNS, 1), ["Subobject", "Source", "First Seen", "Count", "Name"]);
        assert_eq!(headers(DEPLOYMENT_COLUMNS, 0), ["Name", "Ready", "Up-to-date", "Available", "Age"]);
        assert_eq!(headers(JOB_COLUMNS, 0), ["Name", "Status", "Completions", "Duration", "Age"]);
        assert_eq!(headers(CRON_JOB_COLUMNS, 0), ["Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age"]);
        assert_eq!(headers(PERSISTENT_VOLUME_COLUMNS, 1), ["VolumeMode"]);
        assert_eq!(GENERIC_COLUMNS[1].column_type, "date");
        assert_eq!(POD_COLUMNS[0].description, format::NAME_DESCRIPTION);
    }

    #[test]
    fn generic_rows_print_the_creation_time_in_utc() {
        let now: Timestamp = "2025-06-01T12:00:00Z".parse().unwrap();
        let object = json!({"metadata": {"name": "thing", "creationTimestamp": "2025-06-01T13:30:00.250+02:00"}});
        assert_eq!(generic_cells(&object, now), [json!("thing"), json!("2025-06-01T11:30:00Z")]);
        assert_eq!(generic_cells(&json!({}), now), [json!(""), json!("0001-01-01T00:00:00Z")]);
        assert_eq!(no_fields(&object, "spec.anything"), None);
        assert_eq!(
            certificate_signing_request_field(&json!({"spec": {"signerName": "kubernetes.io/kubelet-serving"}}), "spec.signerName")
                .as_deref(),
            Some("kubernetes.io/kubelet-serving")
        );
    }
}
