//! `events.k8s.io/v1` events. Upstream stores them as the core Event and prints them with the core
//! printer, so this maps the new field names (`regarding`, `note`, `deprecated*`, `reportingController`)
//! onto the core view and shares `EVENT_COLUMNS`. Field selectors use the new names too, plus `source`,
//! which upstream still accepts.

use jiff::Timestamp;
use serde_json::Value;

use super::core::{event_view_cells, first_non_empty, EventView};
use super::format::{int, text};

pub fn events_v1_event_cells(event: &Value, now: Timestamp) -> Vec<Value> {
    let view = EventView {
        first_timestamp: event.get("deprecatedFirstTimestamp"),
        last_timestamp: event.get("deprecatedLastTimestamp"),
        event_time: event.get("eventTime"),
        series: event.get("series"),
        count: int(event, "/deprecatedCount"),
        involved_object: event.get("regarding"),
        source: event.get("deprecatedSource"),
        reporting_controller: text(event, "/reportingController"),
        reporting_instance: text(event, "/reportingInstance"),
        event_type: text(event, "/type"),
        reason: text(event, "/reason"),
        message: text(event, "/note"),
    };
    event_view_cells(event, &view, now)
}

pub fn events_v1_event_field(event: &Value, field: &str) -> Option<String> {
    let value = match field {
        "regarding.kind" => text(event, "/regarding/kind"),
        "regarding.namespace" => text(event, "/regarding/namespace"),
        "regarding.name" => text(event, "/regarding/name"),
        "regarding.uid" => text(event, "/regarding/uid"),
        "regarding.apiVersion" => text(event, "/regarding/apiVersion"),
        "regarding.resourceVersion" => text(event, "/regarding/resourceVersion"),
        "regarding.fieldPath" => text(event, "/regarding/fieldPath"),
        "reason" => text(event, "/reason"),
        "reportingController" => text(event, "/reportingController"),
        "source" => first_non_empty(text(event, "/deprecatedSource/component"), text(event, "/reportingController")),
        "type" => text(event, "/type"),
        _ => return None,
    };
    Some(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_v1_print_like_core_events() {
        let now: Timestamp = "2025-06-01T12:00:00Z".parse().unwrap();
        let event = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "default"},
            "eventTime": "2025-06-01T11:40:00.000000Z",
            "regarding": {"kind": "Deployment", "name": "web", "namespace": "default", "apiVersion": "apps/v1"},
            "reason": "ScalingReplicaSet", "type": "Normal", "note": "Scaled up replica set web-7d4b9c from 0 to 3",
            "reportingController": "deployment-controller", "reportingInstance": "",
            "deprecatedFirstTimestamp": "2025-06-01T11:40:00Z", "deprecatedLastTimestamp": "2025-06-01T11:45:00Z", "deprecatedCount": 2,
            "deprecatedSource": {"component": "deployment-controller"},
        });
        assert_eq!(
            events_v1_event_cells(&event, now),
            [
                json!("15m"),
                json!("Normal"),
                json!("ScalingReplicaSet"),
                json!("deployment/web"),
                json!(""),
                json!("deployment-controller"),
                json!("Scaled up replica set web-7d4b9c from 0 to 3"),
                json!("20m"),
                json!(2),
                json!("web.1")
            ]
        );
        assert_eq!(events_v1_event_field(&event, "regarding.kind").as_deref(), Some("Deployment"));
        assert_eq!(events_v1_event_field(&event, "regarding.apiVersion").as_deref(), Some("apps/v1"));
        assert_eq!(events_v1_event_field(&event, "reportingController").as_deref(), Some("deployment-controller"));
        assert_eq!(events_v1_event_field(&event, "source").as_deref(), Some("deployment-controller"));
        assert_eq!(events_v1_event_field(&event, "involvedObject.kind"), None, "the core names are not accepted here");
    }
}
