//! The Lease kind (coordination.k8s.io/v1), used for node heartbeats and leader election: a positive duration,
//! non-negative transitions, and the coordinated-election fields upstream accepts.

use serde_json::Value;

use super::value::{get, i64_at, str_at, FieldPath};
use crate::api::status::FieldError;

/// Upstream `ValidateLease`, less the ObjectMeta rules the store applies to every kind.
pub fn validate_lease(obj: &Value) -> Vec<FieldError> {
    let path = FieldPath::new("spec");
    let mut errors = Vec::new();
    if let Some(duration) = i64_at(obj, &["spec", "leaseDurationSeconds"]).filter(|duration| *duration <= 0) {
        errors.push(FieldError::invalid(path.child("leaseDurationSeconds"), Value::from(duration), "must be greater than 0"));
    }
    if let Some(transitions) = i64_at(obj, &["spec", "leaseTransitions"]).filter(|transitions| *transitions < 0) {
        errors.push(FieldError::invalid(path.child("leaseTransitions"), Value::from(transitions), "must be greater than or equal to 0"));
    }
    let strategy = str_at(obj, &["spec", "strategy"]).unwrap_or_default();
    if get(obj, &["spec", "strategy"]).is_some_and(|found| !found.is_null()) && strategy != "OldestEmulationVersion" {
        errors.push(FieldError::not_supported(path.child("strategy"), Value::from(strategy), &["OldestEmulationVersion"]));
    }
    if !str_at(obj, &["spec", "preferredHolder"]).unwrap_or_default().is_empty() && strategy.is_empty() {
        errors.push(FieldError::forbidden(path.child("preferredHolder"), "may only be specified if `strategy` is defined"));
    }
    errors
}

/// A Lease update follows the create rules.
pub fn validate_lease_update(new: &Value, _old: &Value) -> Vec<FieldError> {
    validate_lease(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lease_durations_and_transitions() {
        let good = json!({"metadata": {"name": "node-1", "namespace": "kube-node-lease"}, "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}});
        assert!(validate_lease(&good).is_empty());
        let bad = json!({"metadata": {"name": "x", "namespace": "default"}, "spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1, "preferredHolder": "a"}});
        let rendered: Vec<String> = validate_lease(&bad).iter().map(FieldError::to_message).collect();
        assert_eq!(
            rendered,
            vec![
                "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
                "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
                "spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined",
            ]
        );
    }
}
