//! Which objects an owner controls, as upstream's `ControllerRefManager` decides it: label selectors, the
//! adopt/keep/release/ignore choice for each candidate, and the strategic-merge patches that adopt an orphan
//! or release an object the selector no longer matches.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use serde_json::{json, Value};

use super::podutil::controller_of;

/// Upstream `LabelSelectorAsSelector(...).Matches`: `matchLabels` and `matchExpressions` all hold. An empty
/// selector matches everything; an expression with an unknown operator (which validation forbids) matches
/// nothing, as a selector that fails to convert selects nothing upstream.
pub fn selector_matches(selector: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    let label = |key: &str| labels.and_then(|labels| labels.get(key));
    let labels_hold = selector.match_labels.iter().flatten().all(|(key, value)| label(key) == Some(value));
    let expressions_hold = selector.match_expressions.iter().flatten().all(|requirement| {
        let values = requirement.values.as_deref().unwrap_or_default();
        let found = label(&requirement.key);
        match requirement.operator.as_str() {
            "In" => found.is_some_and(|value| values.contains(value)),
            "NotIn" => found.is_none_or(|value| !values.contains(value)),
            "Exists" => found.is_some(),
            "DoesNotExist" => found.is_none(),
            _ => false,
        }
    });
    labels_hold && expressions_hold
}

/// What an owner does with one candidate object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Controlled by the owner and still selected.
    Keep,
    /// An orphan the owner selects: patch in a controller reference.
    Adopt,
    /// Controlled by the owner but no longer selected: patch the reference out.
    Release,
    /// Someone else's, or not selected, or a moment when nothing may change hands.
    Ignore,
}

/// Upstream `ClaimObject`: an owner being deleted neither adopts nor releases; objects being deleted are not
/// adopted; owners only adopt within their namespace.
pub fn claim(owner: &ObjectMeta, candidate: &ObjectMeta, selected: bool) -> Claim {
    let owner_deleting = owner.deletion_timestamp.is_some();
    match controller_of(candidate) {
        Some(reference) if Some(&reference.uid) != owner.uid.as_ref() => Claim::Ignore,
        Some(_) if selected => Claim::Keep,
        Some(_) if owner_deleting => Claim::Ignore,
        Some(_) => Claim::Release,
        None if owner_deleting || !selected || candidate.deletion_timestamp.is_some() => Claim::Ignore,
        None if owner.namespace.is_some() && owner.namespace != candidate.namespace => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// The strategic-merge patch that makes `controller` the controller of the object with `uid` (the uid makes
/// the patch fail if the object was replaced meanwhile), adding `finalizers` as upstream's Job adoption does.
pub fn adopt_patch(controller: &OwnerReference, uid: &str, finalizers: &[&str]) -> Value {
    let mut metadata = json!({"ownerReferences": [controller], "uid": uid});
    if !finalizers.is_empty() {
        metadata["finalizers"] = json!(finalizers);
    }
    json!({ "metadata": metadata })
}

/// The strategic-merge patch that drops the reference to `owner_uid` from the object with `uid`, and
/// `finalizers` the owner put there.
pub fn release_patch(owner_uid: &str, uid: &str, finalizers: &[&str]) -> Value {
    let mut metadata = json!({"ownerReferences": [{"$patch": "delete", "uid": owner_uid}], "uid": uid});
    if !finalizers.is_empty() {
        metadata["$deleteFromPrimitiveList/finalizers"] = json!(finalizers);
    }
    json!({ "metadata": metadata })
}

/// The strategic-merge patch that removes one finalizer and leaves the others.
pub fn remove_finalizer_patch(finalizer: &str) -> Value {
    json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [finalizer]}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                LabelSelectorRequirement { key: "tier".into(), operator: "In".into(), values: Some(vec!["a".into(), "b".into()]) },
                LabelSelectorRequirement { key: "canary".into(), operator: "DoesNotExist".into(), values: None },
            ]),
        };
        assert!(selector_matches(&selector, Some(&labels(&[("app", "web"), ("tier", "b")]))));
        assert!(!selector_matches(&selector, Some(&labels(&[("app", "web"), ("tier", "c")]))));
        assert!(!selector_matches(&selector, Some(&labels(&[("app", "web"), ("tier", "a"), ("canary", "1")]))));
        assert!(!selector_matches(&selector, None));
        assert!(selector_matches(&LabelSelector::default(), None), "an empty selector selects everything");
    }

    #[test]
    fn claims_follow_ownership_and_selection() {
        let owner = ObjectMeta { name: Some("web".into()), namespace: Some("ns".into()), uid: Some("u1".into()), ..Default::default() };
        let reference = OwnerReference { controller: Some(true), uid: "u1".into(), ..Default::default() };
        let other = OwnerReference { controller: Some(true), uid: "u2".into(), ..Default::default() };
        let owned = ObjectMeta { namespace: Some("ns".into()), owner_references: Some(vec![reference]), ..Default::default() };
        let foreign = ObjectMeta { namespace: Some("ns".into()), owner_references: Some(vec![other]), ..Default::default() };
        let orphan = ObjectMeta { namespace: Some("ns".into()), ..Default::default() };
        assert_eq!(claim(&owner, &owned, true), Claim::Keep);
        assert_eq!(claim(&owner, &owned, false), Claim::Release);
        assert_eq!(claim(&owner, &foreign, true), Claim::Ignore);
        assert_eq!(claim(&owner, &orphan, true), Claim::Adopt);
        assert_eq!(claim(&owner, &orphan, false), Claim::Ignore);
        let deleting = ObjectMeta {
            deletion_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH)),
            ..owner
        };
        assert_eq!(claim(&deleting, &orphan, true), Claim::Ignore);
        assert_eq!(claim(&deleting, &owned, false), Claim::Ignore);
    }
}
