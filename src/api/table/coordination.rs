//! Table printer of `coordination.k8s.io/v1` leases, as upstream's `printLease` renders it. Leases have no
//! selectable fields beyond `metadata.*`.

use jiff::Timestamp;
use serde_json::Value;

use super::format::{age, column, name, text, AGE_COLUMN, NAME_COLUMN};
use crate::api::registry::Column;

pub const LEASE_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder \
        of a current lease. If Coordinated Leader Election is used, the holder identity must be \
        equal to the elected LeaseCandidate.metadata.name field.",
    ),
    AGE_COLUMN,
];

pub fn lease_cells(lease: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(lease), Value::from(text(lease, "/spec/holderIdentity")), Value::from(age(lease, now))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leases() {
        let now: Timestamp = "2025-06-01T12:00:00Z".parse().unwrap();
        let lease = json!({"metadata": {"name": "kube-scheduler", "creationTimestamp": "2025-05-25T12:00:00Z"},
                           "spec": {"holderIdentity": "cp-1_2f5c", "leaseDurationSeconds": 15}});
        assert_eq!(lease_cells(&lease, now), [json!("kube-scheduler"), json!("cp-1_2f5c"), json!("7d")]);
        assert_eq!(lease_cells(&json!({"metadata": {"name": "free"}}), now)[1], "");
    }
}
