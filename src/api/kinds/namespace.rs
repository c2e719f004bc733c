//! The Namespace kind: the `kubernetes.io/metadata.name` label and Active phase upstream defaults, the
//! strategy's `kubernetes` finalizer on create (which only the finalize subresource may later remove), and
//! validation of names (DNS labels) and spec finalizers.

use serde_json::{json, Value};

use super::meta::validate_finalizer_name;
use super::value::{array_at, copy_from, set, set_default_str, string_or_empty, FieldPath};
use crate::api::status::FieldError;

/// The label every namespace carries with its own name, so selectors can pick namespaces by name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Defaulting of a Namespace: its name label (when it has a name yet) and the Active phase.
pub fn default_namespace(obj: &mut Value) {
    let name = string_or_empty(obj, &["metadata", "name"]).to_string();
    if !name.is_empty() {
        set(obj, &["metadata", "labels", NAMESPACE_NAME_LABEL], Value::from(name));
    }
    set_default_str(obj, &["status", "phase"], "Active");
}

/// The namespace strategy's create: Active, with the `kubernetes` finalizer that namespace deletion waits on.
pub fn prepare_namespace_for_create(obj: &mut Value) {
    set(obj, &["status"], json!({"phase": "Active"}));
    let mut finalizers = array_at(obj, &["spec", "finalizers"]).to_vec();
    if !finalizers.iter().any(|finalizer| finalizer == "kubernetes") {
        finalizers.push(json!("kubernetes"));
    }
    set(obj, &["spec", "finalizers"], Value::Array(finalizers));
}

/// The namespace strategy's update: finalizers and status change only through their subresources.
pub fn prepare_namespace_for_update(new: &mut Value, old: &Value) {
    copy_from(new, old, &["spec", "finalizers"]);
    copy_from(new, old, &["status"]);
}

/// Upstream `ValidateNamespace`.
pub fn validate_namespace(obj: &Value) -> Vec<FieldError> {
    let path = FieldPath::new("spec").child("finalizers");
    array_at(obj, &["spec", "finalizers"])
        .iter()
        .flat_map(|finalizer| validate_finalizer_name(finalizer.as_str().unwrap_or_default(), &path))
        .collect()
}

/// A Namespace update follows the create rules (finalizers change only through `finalize`).
pub fn validate_namespace_update(new: &Value, _old: &Value) -> Vec<FieldError> {
    validate_namespace(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(FieldError::to_message).collect()
    }

    #[test]
    fn new_namespace_is_active_with_kubernetes_finalizer_and_name_label() {
        let mut ns = json!({"metadata": {"name": "team-a"}});
        default_namespace(&mut ns);
        prepare_namespace_for_create(&mut ns);
        assert_eq!(ns["metadata"]["labels"], json!({"kubernetes.io/metadata.name": "team-a"}));
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(ns["status"], json!({"phase": "Active"}));
        assert!(validate_namespace(&ns).is_empty());
    }

    #[test]
    fn namespace_names_are_dns_labels() {
        let ns = json!({"metadata": {"name": "team.a"}});
        let rule = crate::api::kinds::name_rule_for_kind("Namespace");
        assert_eq!(
            messages(&crate::api::kinds::validate_object_meta(&ns, false, rule)),
            vec!["metadata.name: Invalid value: \"team.a\": must not contain dots"]
        );
        let bad_finalizer = json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["custom"]}});
        assert_eq!(
            messages(&validate_namespace(&bad_finalizer)),
            vec!["spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"]
        );
    }

    #[test]
    fn update_keeps_finalizers_and_status() {
        let old = json!({"spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}});
        let mut new = json!({"spec": {}, "status": {"phase": "Active"}});
        prepare_namespace_for_update(&mut new, &old);
        assert_eq!(new, old);
    }
}
