//! Label and node selectors as the control loops evaluate them: a `LabelSelector` turned into a matcher over a
//! label map (upstream `LabelSelectorAsSelector`), and a required node-affinity `NodeSelector` matched against a
//! node's labels and name (upstream `nodeaffinity.LazyErrorNodeSelector`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// The only field a node selector term may match on.
const NODE_NAME_FIELD: &str = "metadata.name";

/// A parsed label selector. An absent selector matches nothing; an empty one matches everything.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelMatcher {
    requirements: Option<Vec<LabelRequirement>>,
}

#[derive(Clone, Debug, PartialEq)]
enum LabelRequirement {
    Equals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl LabelMatcher {
    /// Parses a selector the way upstream does: `In`/`NotIn` need values, `Exists`/`DoesNotExist` must have none,
    /// any other operator is an error. `None` selects nothing.
    pub fn parse(selector: Option<&LabelSelector>) -> Result<LabelMatcher, String> {
        let Some(selector) = selector else { return Ok(LabelMatcher { requirements: None }) };
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(LabelRequirement::Equals(key.clone(), value.clone()));
        }
        for expression in selector.match_expressions.iter().flatten() {
            let key = expression.key.clone();
            let values = expression.values.clone().unwrap_or_default();
            let requirement = match expression.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(format!("for 'in', 'notin' operators, values set can't be empty (key {key:?})"))
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(format!("values set must be empty for exists and does not exist (key {key:?})"))
                }
                "In" => LabelRequirement::In(key, values),
                "NotIn" => LabelRequirement::NotIn(key, values),
                "Exists" => LabelRequirement::Exists(key),
                "DoesNotExist" => LabelRequirement::DoesNotExist(key),
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            };
            requirements.push(requirement);
        }
        Ok(LabelMatcher { requirements: Some(requirements) })
    }

    /// A selector requiring exactly these labels (ReplicationController's map selector).
    pub fn from_map(labels: &BTreeMap<String, String>) -> LabelMatcher {
        let requirements = labels.iter().map(|(key, value)| LabelRequirement::Equals(key.clone(), value.clone())).collect();
        LabelMatcher { requirements: Some(requirements) }
    }

    /// Whether a label set satisfies every requirement.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let Some(requirements) = &self.requirements else { return false };
        let label = |key: &str| labels.and_then(|labels| labels.get(key));
        requirements.iter().all(|requirement| match requirement {
            LabelRequirement::Equals(key, value) => label(key) == Some(value),
            LabelRequirement::In(key, values) => label(key).is_some_and(|value| values.contains(value)),
            LabelRequirement::NotIn(key, values) => label(key).is_none_or(|value| !values.contains(value)),
            LabelRequirement::Exists(key) => label(key).is_some(),
            LabelRequirement::DoesNotExist(key) => label(key).is_none(),
        })
    }
}

/// Whether every label in `required` is present with the same value in `labels` (an empty map is always a subset).
pub fn labels_are_subset(required: Option<&BTreeMap<String, String>>, labels: Option<&BTreeMap<String, String>>) -> bool {
    required.into_iter().flatten().all(|(key, value)| labels.and_then(|labels| labels.get(key)) == Some(value))
}

/// Whether a required node selector admits the node: any one term must match, a term with a malformed requirement
/// or with no requirements at all matches nothing.
pub fn node_selector_matches(selector: &NodeSelector, node: &Node) -> bool {
    selector.node_selector_terms.iter().any(|term| node_selector_term_matches(term, node))
}

fn node_selector_term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    let name = node.metadata.name.as_deref().unwrap_or_default();
    expressions.iter().all(|requirement| node_label_requirement_matches(requirement, labels) == Some(true))
        && fields.iter().all(|requirement| node_field_requirement_matches(requirement, name) == Some(true))
}

/// `None` when the requirement is malformed, which makes its term match nothing.
fn node_label_requirement_matches(requirement: &NodeSelectorRequirement, labels: Option<&BTreeMap<String, String>>) -> Option<bool> {
    let values = requirement.values.as_deref().unwrap_or_default();
    let label = labels.and_then(|labels| labels.get(&requirement.key));
    match requirement.operator.as_str() {
        "In" if !values.is_empty() => Some(label.is_some_and(|label| values.contains(label))),
        "NotIn" if !values.is_empty() => Some(label.is_none_or(|label| !values.contains(label))),
        "Exists" if values.is_empty() => Some(label.is_some()),
        "DoesNotExist" if values.is_empty() => Some(label.is_none()),
        operator @ ("Gt" | "Lt") if values.len() == 1 => {
            let bound: i64 = values[0].parse().ok()?;
            let Some(value) = label.and_then(|label| label.parse::<i64>().ok()) else { return Some(false) };
            Some(if operator == "Gt" { value > bound } else { value < bound })
        }
        _ => None,
    }
}

fn node_field_requirement_matches(requirement: &NodeSelectorRequirement, node_name: &str) -> Option<bool> {
    let values = requirement.values.as_deref().unwrap_or_default();
    if requirement.key != NODE_NAME_FIELD || values.len() != 1 {
        return None;
    }
    match requirement.operator.as_str() {
        "In" => Some(node_name == values[0]),
        "NotIn" => Some(node_name != values[0]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|value| value.to_string()).collect()),
        }
    }

    #[test]
    fn absent_selector_matches_nothing_and_empty_matches_everything() {
        let app = labels(&[("app", "web")]);
        assert!(!LabelMatcher::parse(None).unwrap().matches(Some(&app)));
        assert!(LabelMatcher::parse(Some(&LabelSelector::default())).unwrap().matches(Some(&app)));
        assert!(LabelMatcher::parse(Some(&LabelSelector::default())).unwrap().matches(None));
    }

    #[test]
    fn labels_and_expressions_are_all_required() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                expression("tier", "In", &["front", "edge"]),
                expression("canary", "DoesNotExist", &[]),
                expression("env", "NotIn", &["dev"]),
                expression("team", "Exists", &[]),
            ]),
        };
        let matcher = LabelMatcher::parse(Some(&selector)).unwrap();
        assert!(matcher.matches(Some(&labels(&[("app", "web"), ("tier", "edge"), ("team", "a")]))));
        assert!(!matcher.matches(Some(&labels(&[("app", "web"), ("tier", "back"), ("team", "a")]))));
        assert!(!matcher.matches(Some(&labels(&[("app", "web"), ("tier", "edge"), ("team", "a"), ("canary", "1")]))));
        assert!(!matcher.matches(Some(&labels(&[("app", "web"), ("tier", "edge"), ("team", "a"), ("env", "dev")]))));
        assert!(!matcher.matches(Some(&labels(&[("app", "web"), ("tier", "edge")]))));
    }

    #[test]
    fn malformed_expressions_are_errors() {
        let selector = |requirement| LabelSelector { match_labels: None, match_expressions: Some(vec![requirement]) };
        assert!(LabelMatcher::parse(Some(&selector(expression("a", "In", &[])))).is_err());
        assert!(LabelMatcher::parse(Some(&selector(expression("a", "Exists", &["x"])))).is_err());
        assert!(LabelMatcher::parse(Some(&selector(expression("a", "Gt", &["1"])))).is_err());
    }

    #[test]
    fn node_selector_terms_are_ored_and_requirements_anded() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1", "labels": {"zone": "a", "cores": "8"}}})).unwrap();
        let selector = |terms: serde_json::Value| -> NodeSelector { serde_json::from_value(json!({"nodeSelectorTerms": terms})).unwrap() };
        let zone_b = json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]});
        let big = json!({"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]});
        let named = json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]});
        let other_name = json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]});
        assert!(!node_selector_matches(&selector(json!([zone_b])), &node));
        assert!(node_selector_matches(&selector(json!([zone_b, big])), &node));
        assert!(node_selector_matches(&selector(json!([named])), &node));
        assert!(!node_selector_matches(&selector(json!([other_name])), &node));
        assert!(!node_selector_matches(&selector(json!([{}])), &node), "an empty term matches nothing");
        assert!(!node_selector_matches(&selector(json!([])), &node), "no terms match nothing");
        let bad_field = json!({"matchFields": [{"key": "metadata.uid", "operator": "In", "values": ["x"]}]});
        assert!(!node_selector_matches(&selector(json!([bad_field])), &node));
        let absent_not_in = json!({"matchExpressions": [{"key": "gpu", "operator": "NotIn", "values": ["yes"]}]});
        assert!(node_selector_matches(&selector(json!([absent_not_in])), &node));
    }

    #[test]
    fn subset_of_labels() {
        let pod = labels(&[("app", "web"), ("tier", "front")]);
        assert!(labels_are_subset(Some(&labels(&[("app", "web")])), Some(&pod)));
        assert!(!labels_are_subset(Some(&labels(&[("app", "db")])), Some(&pod)));
        assert!(labels_are_subset(None, None));
    }
}
