//! The rules of the built-in kinds, as pure functions on objects as the API receives them (`serde_json::Value`):
//! upstream defaulting (`default_<kind>`), the registry strategies' create and update preparation
//! (`prepare_<kind>_for_create`, `prepare_<kind>_for_update`), and validation (`validate_<kind>`,
//! `validate_<kind>_update`) with upstream's field paths and messages. Each plugs into `KindRules`; kinds without
//! a rule use the no-op functions below. The ObjectMeta rules are not repeated in the kind validators: the store
//! runs `validate_object_meta` with `name_rule_for_kind` on every write (and should run
//! `validate_object_meta_update` on updates). Uid, resourceVersion, generation, timestamps and managedFields are
//! the store's.
//!
//! Upstream Kubernetes 1.37 is the specification; deviations are noted where they live.

pub mod batch;
pub mod config;
pub mod containers;
pub mod coordination;
mod cron;
pub mod discovery;
pub mod events;
pub mod meta;
pub mod namespace;
pub mod node;
pub mod pod;
pub mod podspec;
pub mod podspec_validation;
pub mod quantity;
pub mod selector;
pub mod service;
mod value;
pub mod volumes;
pub mod workloads;

use serde_json::Value;

use crate::api::status::FieldError;

pub use meta::{
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value, validate_annotations, validate_labels,
    validate_object_meta, validate_object_meta_update, NameRule,
};
pub use quantity::{parse_quantity, Quantity};

/// For kinds upstream does not default.
pub fn noop_default(_: &mut Value) {}

/// For kinds whose strategy changes nothing on create.
pub fn noop_prepare_create(_: &mut Value) {}

/// For kinds whose strategy changes nothing on update.
pub fn noop_prepare_update(_: &mut Value, _: &Value) {}

/// For kinds with no rules beyond ObjectMeta.
pub fn no_validation(_: &Value) -> Vec<FieldError> {
    Vec::new()
}

/// For kinds with no update rules beyond ObjectMeta.
pub fn no_update_validation(_: &Value, _: &Value) -> Vec<FieldError> {
    Vec::new()
}

/// The `metadata.name` format upstream requires of a kind: DNS labels for Namespaces, DNS-1035 labels for
/// Services, URL path segments for the RBAC kinds, DNS subdomains for everything else.
pub fn name_rule_for_kind(kind: &str) -> NameRule {
    match kind {
        "Namespace" => NameRule::Label,
        "Service" => NameRule::Dns1035Label,
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules_follow_upstream_per_kind() {
        assert_eq!(name_rule_for_kind("Namespace"), NameRule::Label);
        assert_eq!(name_rule_for_kind("Service"), NameRule::Dns1035Label);
        assert_eq!(name_rule_for_kind("ClusterRole"), NameRule::PathSegment);
        assert_eq!(name_rule_for_kind("Deployment"), NameRule::Subdomain);
    }
}
