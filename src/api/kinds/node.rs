//! The Node kind: allocatable defaults to capacity, the strategy keeps status on main-resource updates and drops
//! the retired `configSource`, and validation covers taints, resource quantities, pod CIDRs and the fields
//! (pod CIDRs, provider ID) that may be set once but never changed.

use std::collections::BTreeSet;

use serde_json::Value;

use super::meta::{duplicate_rendered, invalid_each, is_qualified_name, is_valid_label_value, validate_cidr};
use super::podspec_validation::validate_taint_effect;
use super::quantity::parse_quantity;
use super::value::{array_at, copy_from, get, object_at, set, string_or_empty, FieldPath};
use crate::api::status::FieldError;

/// Defaulting of a Node: without an explicit allocatable, everything in capacity is allocatable.
pub fn default_node(obj: &mut Value) {
    if object_at(obj, &["status", "allocatable"]).is_none() {
        if let Some(capacity) = object_at(obj, &["status", "capacity"]).cloned() {
            set(obj, &["status", "allocatable"], Value::Object(capacity));
        }
    }
}

/// The node strategy's create: dynamic kubelet config is gone upstream, so its field is dropped.
pub fn prepare_node_for_create(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("configSource");
    }
}

/// The node strategy's update: status only changes through the status subresource.
pub fn prepare_node_for_update(new: &mut Value, old: &Value) {
    copy_from(new, old, &["status"]);
    if get(old, &["spec", "configSource"]).is_none() {
        prepare_node_for_create(new);
    }
}

/// Upstream `ValidateNode`.
pub fn validate_node(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    // Upstream reports taint errors under `metadata.taints`, not `spec.taints`.
    errors.extend(validate_taints(array_at(obj, &["spec", "taints"]), &FieldPath::new("metadata").child("taints")));
    errors.extend(validate_node_resources(obj));
    errors.extend(validate_pod_cidrs(obj));
    errors
}

fn validate_taints(taints: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, taint) in taints.iter().enumerate() {
        let taint_path = path.index(index);
        let (key, value, effect) =
            (string_or_empty(taint, &["key"]), string_or_empty(taint, &["value"]), string_or_empty(taint, &["effect"]));
        errors.extend(invalid_each(&taint_path.child("key"), key, is_qualified_name(key)));
        let problems = is_valid_label_value(value);
        if !problems.is_empty() {
            errors.push(FieldError::invalid(taint_path.child("value"), Value::from(value), problems.join(";")));
        }
        if effect.is_empty() {
            errors.push(FieldError::required(taint_path.child("effect"), ""));
        } else {
            errors.extend(validate_taint_effect(effect, &taint_path.child("effect")));
        }
        if !seen.insert((effect, key)) {
            let rendered = format!("core.Taint{{Key:{key:?}, Value:{value:?}, Effect:{effect:?}, TimeAdded:(*v1.Time)(nil)}}: taints must be unique by key and effect pair");
            errors.push(duplicate_rendered(&taint_path, &rendered));
        }
    }
    errors
}

/// Capacity and allocatable quantities must parse and not be negative.
fn validate_node_resources(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for list in ["capacity", "allocatable"] {
        for (name, raw) in object_at(obj, &["status", list]).into_iter().flatten() {
            let path = FieldPath::new("status").child(list).child(name);
            match parse_quantity(raw.as_str().unwrap_or_default()) {
                Ok(quantity) if quantity.millis() < 0 => {
                    errors.push(FieldError::invalid(path, Value::from(quantity.to_string()), "must be greater than or equal to 0"));
                }
                Ok(_) => {}
                Err(message) => errors.push(FieldError::invalid(path, raw.clone(), message)),
            }
        }
    }
    errors
}

fn validate_pod_cidrs(obj: &Value) -> Vec<FieldError> {
    let cidrs = array_at(obj, &["spec", "podCIDRs"]);
    let path = FieldPath::new("spec").child("podCIDRs");
    let mut errors = Vec::new();
    for (index, cidr) in cidrs.iter().enumerate() {
        errors.extend(validate_cidr(&path.index(index), cidr.as_str().unwrap_or_default()));
    }
    if cidrs.len() > 1 {
        let is_v6 = |cidr: &Value| cidr.as_str().unwrap_or_default().contains(':');
        if cidrs.len() > 2 || is_v6(&cidrs[0]) == is_v6(&cidrs[1]) {
            errors.push(FieldError::invalid(&path, Value::Array(cidrs.to_vec()), "may specify no more than one CIDR for each IP family"));
        }
        let mut seen = BTreeSet::new();
        for (index, cidr) in cidrs.iter().enumerate() {
            if !seen.insert(cidr.as_str().unwrap_or_default()) {
                errors.push(FieldError::duplicate(path.index(index), cidr.clone()));
            }
        }
    }
    errors
}

/// Upstream `ValidateNodeUpdate`: pod CIDRs and provider ID may be filled in once, never changed.
pub fn validate_node_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_node_resources(new));
    let mut addresses = BTreeSet::new();
    for (index, address) in array_at(new, &["status", "addresses"]).iter().enumerate() {
        if !addresses.insert(address.to_string()) {
            errors.push(FieldError::duplicate(FieldPath::new("status").child("addresses").index(index), address.clone()));
        }
    }
    let old_cidrs = array_at(old, &["spec", "podCIDRs"]);
    if !old_cidrs.is_empty() && old_cidrs != array_at(new, &["spec", "podCIDRs"]) {
        errors.push(FieldError::forbidden(
            FieldPath::new("spec").child("podCIDRs"),
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    let old_provider = string_or_empty(old, &["spec", "providerID"]);
    if !old_provider.is_empty() && old_provider != string_or_empty(new, &["spec", "providerID"]) {
        errors.push(FieldError::forbidden(
            FieldPath::new("spec").child("providerID"),
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
    errors.extend(validate_taints(array_at(new, &["spec", "taints"]), &FieldPath::new("metadata").child("taints")));
    if string_or_empty(new, &["spec", "externalID"]) != string_or_empty(old, &["spec", "externalID"]) {
        errors.push(FieldError::forbidden(FieldPath::new("spec").child("externalID"), "may not be updated"));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(FieldError::to_message).collect()
    }

    #[test]
    fn allocatable_defaults_to_capacity() {
        let mut node = json!({"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "4", "memory": "8Gi"}}});
        default_node(&mut node);
        assert_eq!(node["status"]["allocatable"], json!({"cpu": "4", "memory": "8Gi"}));
        assert!(validate_node(&node).is_empty());
    }

    #[test]
    fn taints_are_validated_under_metadata_like_upstream() {
        let node = json!({"metadata": {"name": "n1"}, "spec": {"taints": [
            {"key": "dedicated", "effect": "NoSchedule"}, {"key": "dedicated", "effect": "NoSchedule"}, {"key": "x", "effect": "Sometimes"}
        ]}});
        assert_eq!(messages(&validate_node(&node)), vec![
            "metadata.taints[1]: Duplicate value: core.Taint{Key:\"dedicated\", Value:\"\", Effect:\"NoSchedule\", TimeAdded:(*v1.Time)(nil)}: taints must be unique by key and effect pair",
            "metadata.taints[2].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
        ]);
    }

    #[test]
    fn pod_cidrs_and_provider_id_are_set_once() {
        let old = json!({"metadata": {"name": "n1"}, "spec": {"podCIDRs": ["10.244.0.0/24"], "providerID": "kind://a"}});
        let new = json!({"metadata": {"name": "n1"}, "spec": {"podCIDRs": ["10.244.1.0/24"], "providerID": "kind://b"}});
        assert_eq!(
            messages(&validate_node_update(&new, &old)),
            vec![
                "spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid",
                "spec.providerID: Forbidden: node updates may not change providerID except from \"\" to valid",
            ]
        );
        let fresh = json!({"metadata": {"name": "n1"}, "spec": {}});
        assert!(validate_node_update(&old, &fresh).is_empty());
    }
}
