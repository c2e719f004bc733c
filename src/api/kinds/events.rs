//! Events, in both APIs that serve them: core/v1 `Event` (legacy rules only, as upstream keeps for old
//! clients) and events.k8s.io/v1 `Event` (strict rules: eventTime, type, reporting fields, unset deprecated
//! fields, series, and immutability on update). Upstream validates both as the internal `core.Event`, so errors
//! for an events.k8s.io object name the core fields (`involvedObject`, `message`, `firstTimestamp`).

use serde_json::Value;

use super::meta::{invalid_each, is_dns1123_subdomain, is_qualified_name, validate_immutable};
use super::value::{get, i64_at, is_set, string_or_empty, FieldPath};
use crate::api::status::FieldError;

const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;

/// An event's fields under their core names, read from either API's shape.
struct EventView<'a> {
    obj: &'a Value,
    /// events.k8s.io/v1 renames most fields; this maps a core name to where that API keeps it.
    events_api: bool,
}

impl<'a> EventView<'a> {
    fn field(&self, core: &str) -> Option<&'a Value> {
        let path: &[&str] = match (self.events_api, core) {
            (true, "involvedObject") => &["regarding"],
            (true, "involvedObjectNamespace") => &["regarding", "namespace"],
            (false, "involvedObjectNamespace") => &["involvedObject", "namespace"],
            (true, "message") => &["note"],
            (true, "source") => &["deprecatedSource"],
            (true, "firstTimestamp") => &["deprecatedFirstTimestamp"],
            (true, "lastTimestamp") => &["deprecatedLastTimestamp"],
            (true, "count") => &["deprecatedCount"],
            _ => return get(self.obj, &[core]),
        };
        get(self.obj, path)
    }

    fn text(&self, core: &str) -> &'a str {
        self.field(core).and_then(Value::as_str).unwrap_or_default()
    }

    fn has(&self, core: &str) -> bool {
        self.field(core).is_some_and(|value| !value.is_null())
    }
}

/// Upstream `legacyValidateEvent`: namespaces agree, and new-style events (with `eventTime`) carry the
/// reporting fields within their limits.
fn validate_legacy(event: &EventView) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let namespace = string_or_empty(event.obj, &["metadata", "namespace"]);
    let involved_namespace = event.text("involvedObjectNamespace");
    let involved_path = FieldPath::new("involvedObject").child("namespace");
    let mismatch = || FieldError::invalid(&involved_path, Value::from(involved_namespace), "does not match event.namespace");
    if !event.has("eventTime") {
        let agrees =
            if involved_namespace.is_empty() { namespace.is_empty() || namespace == "default" } else { namespace == involved_namespace };
        if !agrees {
            errors.push(mismatch());
        }
    } else {
        if involved_namespace.is_empty() && namespace != "default" && namespace != "kube-system" {
            errors.push(mismatch());
        }
        errors.extend(validate_reporting_fields(event));
    }
    errors.extend(invalid_each(&FieldPath::new("namespace"), namespace, is_dns1123_subdomain(namespace)));
    errors
}

fn validate_reporting_fields(event: &EventView) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let controller = event.text("reportingController");
    if controller.is_empty() {
        errors.push(FieldError::required(FieldPath::new("reportingController"), ""));
    }
    errors.extend(invalid_each(&FieldPath::new("reportingController"), controller, is_qualified_name(controller)));
    for (field, limit, required) in [
        ("reportingInstance", REPORTING_INSTANCE_LIMIT, true),
        ("action", ACTION_LIMIT, true),
        ("reason", REASON_LIMIT, true),
        ("message", NOTE_LIMIT, false),
    ] {
        let text = event.text(field);
        if required && text.is_empty() {
            errors.push(FieldError::required(FieldPath::new(field), ""));
        }
        if text.len() > limit {
            errors.push(FieldError::invalid(FieldPath::new(field), Value::from(""), format!("can have at most {limit} characters")));
        }
    }
    errors
}

/// core/v1 Event create: the legacy rules only, for compatibility with old clients.
pub fn validate_event(obj: &Value) -> Vec<FieldError> {
    validate_legacy(&EventView { obj, events_api: false })
}

/// core/v1 Event update: the legacy rules on the new event.
pub fn validate_event_update(new: &Value, _old: &Value) -> Vec<FieldError> {
    validate_event(new)
}

/// events.k8s.io/v1 Event create: legacy rules plus the strict ones.
pub fn validate_events_v1_event(obj: &Value) -> Vec<FieldError> {
    let event = EventView { obj, events_api: true };
    let mut errors = validate_legacy(&event);
    errors.extend(validate_series(&event));
    if !event.has("eventTime") {
        errors.push(FieldError::required(FieldPath::new("eventTime"), ""));
    }
    let kind = event.text("type");
    if kind != "Normal" && kind != "Warning" {
        errors.push(FieldError::invalid(FieldPath::new("type"), Value::from(""), format!("has invalid value: {kind}")));
    }
    for field in ["firstTimestamp", "lastTimestamp"] {
        if event.has(field) {
            errors.push(FieldError::invalid(FieldPath::new(field), Value::from(""), "needs to be unset"));
        }
    }
    if event.field("count").and_then(Value::as_i64).unwrap_or(0) != 0 {
        errors.push(FieldError::invalid(FieldPath::new("count"), Value::from(""), "needs to be unset"));
    }
    let source = event.field("source");
    let source_set = ["component", "host"].iter().any(|field| source.is_some_and(|source| !string_or_empty(source, &[field]).is_empty()));
    if source_set {
        errors.push(FieldError::invalid(FieldPath::new("source"), Value::from(""), "needs to be unset"));
    }
    errors
}

fn validate_series(event: &EventView) -> Vec<FieldError> {
    let Some(series) = event.field("series").filter(|series| series.is_object()) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    if i64_at(series, &["count"]).unwrap_or(0) < 2 {
        errors.push(FieldError::invalid(FieldPath::new("series.count"), Value::from(""), "should be at least 2"));
    }
    if !is_set(series, &["lastObservedTime"]) {
        errors.push(FieldError::required(FieldPath::new("series.lastObservedTime"), ""));
    }
    errors
}

/// The fields of an events.k8s.io/v1 Event that never change once recorded (series may).
const IMMUTABLE_EVENT_FIELDS: [&str; 13] = [
    "involvedObject",
    "reason",
    "message",
    "source",
    "firstTimestamp",
    "lastTimestamp",
    "count",
    "type",
    "eventTime",
    "action",
    "related",
    "reportingController",
    "reportingInstance",
];

/// events.k8s.io/v1 Event update: legacy rules, metadata, a changed series is valid, the rest is immutable.
pub fn validate_events_v1_event_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let (new_event, old_event) = (EventView { obj: new, events_api: true }, EventView { obj: old, events_api: true });
    let mut errors = validate_legacy(&new_event);
    if new_event.field("series") != old_event.field("series") {
        errors.extend(validate_series(&new_event));
    }
    for field in IMMUTABLE_EVENT_FIELDS {
        errors.extend(validate_immutable(new_event.field(field), old_event.field(field), &FieldPath::new(field)));
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
    fn legacy_event_namespace_must_match_involved_object() {
        let event = json!({"metadata": {"name": "e", "namespace": "default"}, "involvedObject": {"kind": "Pod", "namespace": "other"}});
        assert_eq!(
            messages(&validate_event(&event)),
            vec!["involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"]
        );
        let cluster_scoped = json!({"metadata": {"name": "e", "namespace": "default"}, "involvedObject": {"kind": "Node"}});
        assert!(validate_event(&cluster_scoped).is_empty());
    }

    fn events_v1() -> Value {
        json!({"metadata": {"name": "e.1", "namespace": "default"}, "eventTime": "2025-01-01T00:00:00.000000Z", "type": "Normal",
               "reportingController": "example.com/ctl", "reportingInstance": "ctl-1", "action": "Pulled", "reason": "Pulled",
               "regarding": {"kind": "Pod", "namespace": "default", "name": "p"}, "note": "ok"})
    }

    #[test]
    fn events_api_requires_reporting_fields_and_type() {
        assert!(validate_events_v1_event(&events_v1()).is_empty());
        let mut bad = events_v1();
        bad["type"] = json!("Info");
        bad["deprecatedCount"] = json!(3);
        bad.as_object_mut().unwrap().remove("action");
        assert_eq!(
            messages(&validate_events_v1_event(&bad)),
            vec![
                "action: Required value",
                "type: Invalid value: \"\": has invalid value: Info",
                "count: Invalid value: \"\": needs to be unset",
            ]
        );
    }

    #[test]
    fn events_api_fields_are_immutable() {
        let old = events_v1();
        let mut new = old.clone();
        new["note"] = json!("changed");
        assert_eq!(messages(&validate_events_v1_event_update(&new, &old)), vec!["message: Invalid value: \"changed\": field is immutable"]);
    }
}
