//! The matching rules the filters and scores share, read the way upstream reads them: label selectors,
//! node selector terms (`In`/`NotIn`/`Exists`/`DoesNotExist`/`Gt`/`Lt` and `matchFields` on `metadata.name`),
//! taints against tolerations, and pod (anti-)affinity terms with their namespaces, namespace selector,
//! `matchLabelKeys`/`mismatchLabelKeys` and topology key.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, PodAffinityTerm, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub(crate) type Labels = BTreeMap<String, String>;

/// Labels of every namespace the scheduler has been told about, for namespace selectors.
pub(crate) type NamespaceLabels = HashMap<String, Labels>;

/// A parsed label selector. An empty one matches everything.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LabelMatcher {
    requirements: Vec<LabelRequirement>,
}

#[derive(Clone, Debug, PartialEq)]
struct LabelRequirement {
    key: String,
    operator: SetOperator,
}

#[derive(Clone, Debug, PartialEq)]
enum SetOperator {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

impl LabelMatcher {
    /// `None` for a selector upstream refuses to convert (unknown operator, values where none belong or none
    /// where some must be); such a selector matches nothing.
    pub(crate) fn new(selector: &LabelSelector) -> Option<Self> {
        let mut requirements: Vec<LabelRequirement> = selector
            .match_labels
            .iter()
            .flatten()
            .map(|(key, value)| LabelRequirement { key: key.clone(), operator: SetOperator::In(vec![value.clone()]) })
            .collect();
        for expression in selector.match_expressions.iter().flatten() {
            let values = expression.values.clone().unwrap_or_default();
            let operator = match (expression.operator.as_str(), values.is_empty()) {
                ("In", false) => SetOperator::In(values),
                ("NotIn", false) => SetOperator::NotIn(values),
                ("Exists", true) => SetOperator::Exists,
                ("DoesNotExist", true) => SetOperator::DoesNotExist,
                _ => return None,
            };
            requirements.push(LabelRequirement { key: expression.key.clone(), operator });
        }
        Some(LabelMatcher { requirements })
    }

    pub(crate) fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|requirement| {
            let value = labels.get(&requirement.key);
            match &requirement.operator {
                SetOperator::In(values) => value.is_some_and(|value| values.contains(value)),
                SetOperator::NotIn(values) => value.is_none_or(|value| !values.contains(value)),
                SetOperator::Exists => value.is_some(),
                SetOperator::DoesNotExist => value.is_none(),
            }
        })
    }
}

/// One `nodeSelectorTerm`: all its expressions on labels and fields must hold.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NodeTerm {
    expressions: Vec<NodeRequirement>,
    name_fields: Vec<NodeRequirement>,
}

#[derive(Clone, Debug, PartialEq)]
struct NodeRequirement {
    key: String,
    operator: NodeOperator,
}

#[derive(Clone, Debug, PartialEq)]
enum NodeOperator {
    Set(SetOperator),
    GreaterThan(i64),
    LessThan(i64),
}

impl NodeTerm {
    /// `None` for a term that can match no node: an empty term, or one upstream fails to parse.
    pub(crate) fn new(term: &NodeSelectorTerm) -> Option<Self> {
        let expressions = term.match_expressions.iter().flatten().map(node_requirement).collect::<Option<Vec<_>>>()?;
        let name_fields = term
            .match_fields
            .iter()
            .flatten()
            .map(|field| match field.operator.as_str() {
                "In" | "NotIn" if field.key == "metadata.name" => node_requirement(field),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        (!expressions.is_empty() || !name_fields.is_empty()).then_some(NodeTerm { expressions, name_fields })
    }

    pub(crate) fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.expressions.iter().all(|requirement| requirement.matches(labels.get(&requirement.key).map(String::as_str)))
            && self.name_fields.iter().all(|requirement| requirement.matches(Some(node_name)))
    }
}

impl NodeRequirement {
    fn matches(&self, value: Option<&str>) -> bool {
        match &self.operator {
            NodeOperator::Set(SetOperator::In(values)) => value.is_some_and(|value| values.iter().any(|v| v == value)),
            NodeOperator::Set(SetOperator::NotIn(values)) => value.is_none_or(|value| !values.iter().any(|v| v == value)),
            NodeOperator::Set(SetOperator::Exists) => value.is_some(),
            NodeOperator::Set(SetOperator::DoesNotExist) => value.is_none(),
            NodeOperator::GreaterThan(bound) => value.and_then(|value| value.parse::<i64>().ok()).is_some_and(|value| value > *bound),
            NodeOperator::LessThan(bound) => value.and_then(|value| value.parse::<i64>().ok()).is_some_and(|value| value < *bound),
        }
    }
}

fn node_requirement(requirement: &NodeSelectorRequirement) -> Option<NodeRequirement> {
    let values = requirement.values.clone().unwrap_or_default();
    let single_number = || match values.as_slice() {
        [value] => value.parse::<i64>().ok(),
        _ => None,
    };
    let operator = match (requirement.operator.as_str(), values.is_empty()) {
        ("In", false) => NodeOperator::Set(SetOperator::In(values.clone())),
        ("NotIn", false) => NodeOperator::Set(SetOperator::NotIn(values.clone())),
        ("Exists", true) => NodeOperator::Set(SetOperator::Exists),
        ("DoesNotExist", true) => NodeOperator::Set(SetOperator::DoesNotExist),
        ("Gt", false) => NodeOperator::GreaterThan(single_number()?),
        ("Lt", false) => NodeOperator::LessThan(single_number()?),
        _ => return None,
    };
    Some(NodeRequirement { key: requirement.key.clone(), operator })
}

/// Whether any toleration tolerates the taint (upstream `ToleratesTaint`): an empty effect matches every effect,
/// an empty key with `Exists` every taint; `Equal` (the default) compares values, `Exists` ignores them, and
/// `Gt`/`Lt` compare them as integers.
pub(crate) fn tolerates(tolerations: &[Toleration], key: &str, value: &str, effect: &str) -> bool {
    tolerations.iter().any(|toleration| {
        let toleration_effect = toleration.effect.as_deref().unwrap_or("");
        let toleration_key = toleration.key.as_deref().unwrap_or("");
        if (!toleration_effect.is_empty() && toleration_effect != effect) || (!toleration_key.is_empty() && toleration_key != key) {
            return false;
        }
        let toleration_value = toleration.value.as_deref().unwrap_or("");
        let numbers = || Some((value.parse::<i64>().ok()?, toleration_value.parse::<i64>().ok()?));
        match toleration.operator.as_deref().unwrap_or("") {
            "" | "Equal" => toleration_value == value,
            "Exists" => true,
            "Gt" => numbers().is_some_and(|(taint, bound)| taint > bound),
            "Lt" => numbers().is_some_and(|(taint, bound)| taint < bound),
            _ => false,
        }
    })
}

/// A pod (anti-)affinity term, resolved against the pod that carries it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AffinityTerm {
    namespaces: BTreeSet<String>,
    /// `None` when the term has no namespace selector (it then adds no namespace).
    namespace_selector: Option<LabelMatcher>,
    /// `None` when the term has no (or an unusable) label selector: it matches no pod.
    selector: Option<LabelMatcher>,
    pub(crate) topology_key: String,
}

impl AffinityTerm {
    /// Reads a term of the pod in `owner_namespace` with `owner_labels`. Without `namespaces` and without a
    /// namespace selector the term looks at the pod's own namespace. `matchLabelKeys`/`mismatchLabelKeys` become
    /// `key In (value)`/`key NotIn (value)` with the owner's values, as the API server merges them.
    pub(crate) fn new(term: &PodAffinityTerm, owner_namespace: &str, owner_labels: &Labels) -> Self {
        let listed = term.namespaces.clone().unwrap_or_default();
        let namespaces = if listed.is_empty() && term.namespace_selector.is_none() {
            BTreeSet::from([owner_namespace.to_string()])
        } else {
            listed.into_iter().collect()
        };
        let selector = term.label_selector.as_ref().and_then(|selector| {
            let mut matcher = LabelMatcher::new(selector)?;
            for (keys, in_set) in [(&term.match_label_keys, true), (&term.mismatch_label_keys, false)] {
                for key in keys.iter().flatten() {
                    if let Some(value) = owner_labels.get(key) {
                        let values = vec![value.clone()];
                        let operator = if in_set { SetOperator::In(values) } else { SetOperator::NotIn(values) };
                        matcher.requirements.push(LabelRequirement { key: key.clone(), operator });
                    }
                }
            }
            Some(matcher)
        });
        // An unusable namespace selector selects no namespace rather than every one.
        let namespace_selector = term
            .namespace_selector
            .as_ref()
            .map(|selector| LabelMatcher::new(selector).unwrap_or(LabelMatcher { requirements: vec![unmatchable()] }));
        AffinityTerm { namespaces, namespace_selector, selector, topology_key: term.topology_key.clone() }
    }

    /// Whether a pod in `namespace` with `labels` is one this term selects.
    pub(crate) fn matches(&self, namespace: &str, labels: &Labels, namespace_labels: &NamespaceLabels) -> bool {
        let Some(selector) = &self.selector else { return false };
        let in_scope = self.namespaces.contains(namespace)
            || self
                .namespace_selector
                .as_ref()
                .is_some_and(|namespaces| namespaces.matches(namespace_labels.get(namespace).unwrap_or(&Labels::new())));
        in_scope && selector.matches(labels)
    }

    /// The namespaces a matching pod can live in; `None` when a namespace selector may reach any namespace.
    pub(crate) fn namespace_scope(&self) -> Option<&BTreeSet<String>> {
        if self.namespace_selector.is_some() {
            None
        } else {
            Some(&self.namespaces)
        }
    }
}

/// A requirement no label set satisfies.
fn unmatchable() -> LabelRequirement {
    LabelRequirement { key: String::new(), operator: SetOperator::In(Vec::new()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|value| value.to_string()).collect()),
        }
    }

    fn term(expressions: Vec<NodeSelectorRequirement>, fields: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm { match_expressions: Some(expressions), match_fields: Some(fields) }
    }

    fn toleration(key: &str, operator: &str, value: &str, effect: &str) -> Toleration {
        let text = |text: &str| (!text.is_empty()).then(|| text.to_string());
        Toleration { key: text(key), operator: text(operator), value: text(value), effect: text(effect), toleration_seconds: None }
    }

    #[test]
    fn label_selectors_follow_set_semantics() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                LabelSelectorRequirement { key: "tier".into(), operator: "NotIn".into(), values: Some(vec!["db".into()]) },
                LabelSelectorRequirement { key: "canary".into(), operator: "DoesNotExist".into(), values: None },
            ]),
        };
        let matcher = LabelMatcher::new(&selector).expect("valid");
        assert!(matcher.matches(&labels(&[("app", "web")])));
        assert!(matcher.matches(&labels(&[("app", "web"), ("tier", "front")])));
        assert!(!matcher.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!matcher.matches(&labels(&[("app", "web"), ("canary", "")])));
        assert!(!matcher.matches(&labels(&[("app", "api")])));
        assert!(LabelMatcher::new(&LabelSelector::default()).expect("valid").matches(&Labels::new()));
        let broken = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement { key: "a".into(), operator: "In".into(), values: None }]),
            ..Default::default()
        };
        assert_eq!(LabelMatcher::new(&broken), None);
    }

    #[test]
    fn node_terms_support_every_operator() {
        let node = labels(&[("zone", "a"), ("cores", "8"), ("ssd", "")]);
        let holds =
            |requirement: NodeSelectorRequirement| NodeTerm::new(&term(vec![requirement], vec![])).expect("valid").matches("n1", &node);
        assert!(holds(expression("zone", "In", &["a", "b"])));
        assert!(!holds(expression("zone", "In", &["b"])));
        assert!(holds(expression("zone", "NotIn", &["b"])));
        assert!(holds(expression("gpu", "NotIn", &["x"])));
        assert!(holds(expression("ssd", "Exists", &[])));
        assert!(!holds(expression("gpu", "Exists", &[])));
        assert!(holds(expression("gpu", "DoesNotExist", &[])));
        assert!(holds(expression("cores", "Gt", &["4"])));
        assert!(!holds(expression("cores", "Gt", &["8"])));
        assert!(holds(expression("cores", "Lt", &["16"])));
        assert!(!holds(expression("zone", "Lt", &["16"])), "a label that is not a number never compares");
        assert!(!holds(expression("gpu", "Gt", &["0"])));
    }

    #[test]
    fn node_terms_match_fields_on_the_node_name_and_reject_bad_input() {
        let pinned = NodeTerm::new(&term(vec![], vec![expression("metadata.name", "In", &["n1", "n2"])])).expect("valid");
        assert!(pinned.matches("n1", &Labels::new()));
        assert!(!pinned.matches("n3", &Labels::new()));
        let excluded = NodeTerm::new(&term(vec![], vec![expression("metadata.name", "NotIn", &["n1"])])).expect("valid");
        assert!(!excluded.matches("n1", &Labels::new()) && excluded.matches("n2", &Labels::new()));
        assert_eq!(NodeTerm::new(&term(vec![], vec![])), None, "an empty term matches nothing");
        assert_eq!(NodeTerm::new(&term(vec![expression("cores", "Gt", &["many"])], vec![])), None);
        assert_eq!(NodeTerm::new(&term(vec![], vec![expression("metadata.uid", "In", &["x"])])), None);
    }

    #[test]
    fn tolerations_match_taints_like_upstream() {
        let no_schedule = |tolerations: &[Toleration]| tolerates(tolerations, "dedicated", "gpu", "NoSchedule");
        assert!(!no_schedule(&[]));
        assert!(no_schedule(&[toleration("dedicated", "Equal", "gpu", "NoSchedule")]));
        assert!(no_schedule(&[toleration("dedicated", "", "gpu", "")]), "empty operator means Equal, empty effect all");
        assert!(!no_schedule(&[toleration("dedicated", "Equal", "cpu", "NoSchedule")]));
        assert!(no_schedule(&[toleration("dedicated", "Exists", "", "NoSchedule")]));
        assert!(!no_schedule(&[toleration("dedicated", "Exists", "", "NoExecute")]));
        assert!(no_schedule(&[toleration("", "Exists", "", "")]), "empty key with Exists tolerates everything");
        assert!(!no_schedule(&[toleration("other", "Exists", "", "")]));
        assert!(tolerates(&[toleration("sla", "Gt", "900", "")], "sla", "950", "NoSchedule"));
        assert!(!tolerates(&[toleration("sla", "Lt", "900", "")], "sla", "950", "NoSchedule"));
        assert!(!tolerates(&[toleration("sla", "Gt", "900", "")], "sla", "high", "NoSchedule"));
    }

    #[test]
    fn affinity_terms_resolve_namespaces_and_label_keys() {
        let selector = LabelSelector { match_labels: Some(labels(&[("app", "web")])), ..Default::default() };
        let owner = labels(&[("app", "web"), ("version", "v2")]);
        let none = NamespaceLabels::new();
        let own = AffinityTerm::new(
            &PodAffinityTerm {
                label_selector: Some(selector.clone()),
                match_label_keys: Some(vec!["version".into()]),
                topology_key: "kubernetes.io/hostname".into(),
                ..Default::default()
            },
            "shop",
            &owner,
        );
        assert!(own.matches("shop", &owner, &none));
        assert!(!own.matches("shop", &labels(&[("app", "web"), ("version", "v1")]), &none), "matchLabelKeys pins the version");
        assert!(!own.matches("other", &owner, &none), "no namespaces means the owner's namespace");
        assert_eq!(own.namespace_scope(), Some(&BTreeSet::from(["shop".to_string()])));

        let everywhere = AffinityTerm::new(
            &PodAffinityTerm {
                label_selector: Some(selector.clone()),
                namespace_selector: Some(LabelSelector::default()),
                ..Default::default()
            },
            "shop",
            &owner,
        );
        assert!(everywhere.matches("other", &owner, &none));
        assert_eq!(everywhere.namespace_scope(), None);

        let team = AffinityTerm::new(
            &PodAffinityTerm {
                label_selector: Some(selector),
                namespaces: Some(vec!["listed".into()]),
                namespace_selector: Some(LabelSelector { match_labels: Some(labels(&[("team", "a")])), ..Default::default() }),
                ..Default::default()
            },
            "shop",
            &owner,
        );
        let known = NamespaceLabels::from([("teamed".to_string(), labels(&[("team", "a")]))]);
        assert!(team.matches("listed", &owner, &known));
        assert!(team.matches("teamed", &owner, &known));
        assert!(!team.matches("shop", &owner, &known));

        let no_selector = AffinityTerm::new(&PodAffinityTerm::default(), "shop", &owner);
        assert!(!no_selector.matches("shop", &owner, &none), "a term without a label selector matches no pod");
    }
}
