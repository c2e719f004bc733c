//! `metav1.LabelSelector` as the workload rules need it: validation of `matchLabels` and `matchExpressions`, and
//! matching against a pod template's labels through `api::selector` (an absent selector matches nothing, an empty
//! one matches everything), so `selector does not match template labels` fires exactly when upstream's does.

use serde_json::{Map, Value};

use super::meta::{invalid_each, is_qualified_name, is_valid_label_value, validate_labels};
use super::value::{array_at, object_at, string_or_empty, FieldPath};
use crate::api::selector::LabelSelector;
use crate::api::status::FieldError;

/// Upstream `ValidateLabelSelector` (strict label values): errors under `path`.
pub fn validate_label_selector(selector: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = validate_labels(object_at(selector, &["matchLabels"]), &path.child("matchLabels"));
    for (index, requirement) in array_at(selector, &["matchExpressions"]).iter().enumerate() {
        errors.extend(validate_requirement(requirement, &path.child("matchExpressions").index(index)));
    }
    errors
}

fn validate_requirement(requirement: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let values = array_at(requirement, &["values"]);
    match string_or_empty(requirement, &["operator"]) {
        "In" | "NotIn" if values.is_empty() => {
            errors.push(FieldError::required(path.child("values"), "must be specified when `operator` is 'In' or 'NotIn'"));
        }
        "Exists" | "DoesNotExist" if !values.is_empty() => {
            errors.push(FieldError::forbidden(path.child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        }
        "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
        other => errors.push(FieldError::invalid(path.child("operator"), Value::from(other), "not a valid selector operator")),
    }
    let key = string_or_empty(requirement, &["key"]);
    errors.extend(invalid_each(&path.child("key"), key, is_qualified_name(key)));
    for (index, value) in values.iter().enumerate() {
        let text = value.as_str().unwrap_or_default();
        errors.extend(invalid_each(&path.child("values").index(index), text, is_valid_label_value(text)));
    }
    errors
}

/// Whether a selector has neither `matchLabels` nor `matchExpressions` (upstream's `Empty()`).
pub fn is_empty_selector(selector: &Value) -> bool {
    object_at(selector, &["matchLabels"]).is_none_or(Map::is_empty) && array_at(selector, &["matchExpressions"]).is_empty()
}

/// Whether `selector` selects an object with `labels`. An absent selector selects nothing, as upstream's
/// `LabelSelectorAsSelector(nil)`; `None` when the selector cannot be converted (an unknown operator or a
/// malformed key), which validation reports on its own.
pub fn selector_matches(selector: Option<&Value>, labels: Option<&Map<String, Value>>) -> Option<bool> {
    let selector = selector.unwrap_or(&Value::Null);
    LabelSelector::from_label_selector_json(selector).ok().map(|parsed| parsed.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn absent_selector_matches_nothing_and_empty_matches_everything() {
        let app = labels(json!({"app": "web"}));
        assert_eq!(selector_matches(None, Some(&app)), Some(false));
        assert_eq!(selector_matches(Some(&json!({})), Some(&app)), Some(true));
        assert!(is_empty_selector(&json!({"matchLabels": {}})));
    }

    #[test]
    fn expressions_follow_set_semantics() {
        let app = labels(json!({"app": "web", "tier": "fe"}));
        let selector = json!({"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["fe", "be"]},
            {"key": "env", "operator": "NotIn", "values": ["prod"]},
            {"key": "canary", "operator": "DoesNotExist"}
        ]});
        assert_eq!(selector_matches(Some(&selector), Some(&app)), Some(true));
        let wrong =
            json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}, {"key": "app", "operator": "In", "values": ["db"]}]});
        assert_eq!(selector_matches(Some(&wrong), Some(&app)), Some(false));
        let unknown = json!({"matchExpressions": [{"key": "x", "operator": "Near"}]});
        assert_eq!(selector_matches(Some(&unknown), Some(&app)), None);
    }

    #[test]
    fn requirement_errors_read_like_upstream() {
        let selector = json!({"matchExpressions": [{"key": "a", "operator": "In"}, {"key": "b", "operator": "Exists", "values": ["x"]}, {"key": "c", "operator": "Near"}]});
        let rendered: Vec<String> =
            validate_label_selector(&selector, &FieldPath::new("spec").child("selector")).iter().map(FieldError::to_message).collect();
        assert_eq!(
            rendered,
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                "spec.selector.matchExpressions[2].operator: Invalid value: \"Near\": not a valid selector operator",
            ]
        );
    }
}
