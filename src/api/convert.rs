//! Conversions between API versions that share one storage: events.k8s.io/v1 Events live in the core/v1 Event
//! collection, and autoscaling/v1 HorizontalPodAutoscalers in the autoscaling/v2 collection, as upstream stores
//! each resource once whatever version wrote it. Each pair converts both ways without losing what either shape
//! can hold: fields one version lacks travel in the annotations upstream uses for them.

use serde_json::{Map, Value};

/// core/v1 field name ↔ events.k8s.io/v1 field name, for the fields the two Event shapes rename.
const EVENT_RENAMES: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
];

fn rename_fields(mut object: Value, api_version: &str, from_index: usize) -> Value {
    if let Some(map) = object.as_object_mut() {
        for pair in EVENT_RENAMES {
            let (from, to) = if from_index == 0 { (pair.0, pair.1) } else { (pair.1, pair.0) };
            if let Some(value) = map.remove(from) {
                map.insert(to.to_string(), value);
            }
        }
        map.insert("apiVersion".into(), Value::from(api_version));
        map.insert("kind".into(), Value::from("Event"));
    }
    object
}

/// An events.k8s.io/v1 Event in its stored core/v1 shape.
pub fn events_v1_to_core(event: Value) -> Value {
    rename_fields(event, "v1", 1)
}

/// A stored core/v1 Event as events.k8s.io/v1 shows it.
pub fn core_to_events_v1(event: Value) -> Value {
    rename_fields(event, "events.k8s.io/v1", 0)
}

/// Where autoscaling/v1 keeps the v2 fields it has no place for (upstream's annotation names).
const HPA_METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
const HPA_BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";
const HPA_CURRENT_METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
const HPA_CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";

fn is_cpu_utilization(metric: &Value) -> bool {
    metric.get("type").and_then(Value::as_str) == Some("Resource")
        && metric.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
        && metric.pointer("/resource/target/type").and_then(Value::as_str) == Some("Utilization")
}

fn annotations_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    let meta = object.as_object_mut()?.entry("metadata").or_insert_with(|| Value::Object(Map::new())).as_object_mut()?;
    meta.entry("annotations").or_insert_with(|| Value::Object(Map::new())).as_object_mut()
}

fn drop_empty_annotations(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if meta.get("annotations").and_then(Value::as_object).is_some_and(Map::is_empty) {
            meta.remove("annotations");
        }
    }
}

/// Moves `value` into annotation `name` as JSON text, when it is set and not empty.
fn stash(object: &mut Value, name: &str, value: Option<Value>) {
    let Some(value) = value.filter(|v| !v.is_null() && v.as_array().is_none_or(|items| !items.is_empty())) else { return };
    if let Some(annotations) = annotations_mut(object) {
        annotations.insert(name.to_string(), Value::String(value.to_string()));
    }
}

/// Takes annotation `name` back out as JSON, ignoring text that is not JSON (a user may have written anything).
fn unstash(object: &mut Value, name: &str) -> Option<Value> {
    let text = annotations_mut(object)?.remove(name)?;
    serde_json::from_str(text.as_str()?).ok()
}

/// An autoscaling/v1 HorizontalPodAutoscaler in its stored autoscaling/v2 shape.
pub fn hpa_v1_to_v2(mut hpa: Value) -> Value {
    let mut metrics: Vec<Value> = unstash(&mut hpa, HPA_METRICS_ANNOTATION).and_then(|m| m.as_array().cloned()).unwrap_or_default();
    let behavior = unstash(&mut hpa, HPA_BEHAVIOR_ANNOTATION);
    let current_metrics = unstash(&mut hpa, HPA_CURRENT_METRICS_ANNOTATION);
    let conditions = unstash(&mut hpa, HPA_CONDITIONS_ANNOTATION);
    drop_empty_annotations(&mut hpa);
    let Some(root) = hpa.as_object_mut() else { return hpa };
    root.insert("apiVersion".into(), Value::from("autoscaling/v2"));
    if let Some(spec) = root.get_mut("spec").and_then(Value::as_object_mut) {
        if let Some(target) = spec.remove("targetCPUUtilizationPercentage").filter(|v| !v.is_null()) {
            metrics.retain(|metric| !is_cpu_utilization(metric));
            let cpu = serde_json::json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}});
            metrics.insert(0, cpu);
        }
        if !metrics.is_empty() {
            spec.insert("metrics".into(), Value::Array(metrics));
        }
        if let Some(behavior) = behavior {
            spec.insert("behavior".into(), behavior);
        }
    }
    if let Some(status) = root.get_mut("status").and_then(Value::as_object_mut) {
        let current_cpu = status.remove("currentCPUUtilizationPercentage").filter(|v| !v.is_null());
        let mut current: Vec<Value> = current_metrics.and_then(|m| m.as_array().cloned()).unwrap_or_default();
        if let Some(utilization) = current_cpu {
            current.insert(
                0,
                serde_json::json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": utilization}}}),
            );
        }
        if !current.is_empty() {
            status.insert("currentMetrics".into(), Value::Array(current));
        }
        if let Some(conditions) = conditions {
            status.insert("conditions".into(), conditions);
        }
    }
    hpa
}

/// A stored autoscaling/v2 HorizontalPodAutoscaler as autoscaling/v1 shows it.
pub fn hpa_v2_to_v1(mut hpa: Value) -> Value {
    let spec_metrics = hpa.pointer_mut("/spec/metrics").map(Value::take);
    let behavior = hpa.get_mut("spec").and_then(Value::as_object_mut).and_then(|spec| spec.remove("behavior"));
    let status = hpa.get_mut("status").and_then(Value::as_object_mut);
    let (current_metrics, conditions) = match status {
        Some(status) => (status.remove("currentMetrics"), status.remove("conditions")),
        None => (None, None),
    };
    let mut metrics: Vec<Value> = spec_metrics.and_then(|m| m.as_array().cloned()).unwrap_or_default();
    let cpu_target = metrics.iter().position(is_cpu_utilization).map(|at| metrics.remove(at));
    let mut current: Vec<Value> = current_metrics.as_ref().and_then(Value::as_array).cloned().unwrap_or_default();
    let is_cpu_current = |m: &Value| {
        m.pointer("/resource/name").and_then(Value::as_str) == Some("cpu") && m.pointer("/resource/current/averageUtilization").is_some()
    };
    let current_cpu = current
        .iter()
        .position(is_cpu_current)
        .map(|at| current.remove(at))
        .and_then(|m| m.pointer("/resource/current/averageUtilization").cloned());
    stash(&mut hpa, HPA_METRICS_ANNOTATION, Some(Value::Array(metrics)));
    stash(&mut hpa, HPA_BEHAVIOR_ANNOTATION, behavior);
    stash(&mut hpa, HPA_CURRENT_METRICS_ANNOTATION, Some(Value::Array(current)));
    stash(&mut hpa, HPA_CONDITIONS_ANNOTATION, conditions);
    drop_empty_annotations(&mut hpa);
    let Some(root) = hpa.as_object_mut() else { return hpa };
    root.insert("apiVersion".into(), Value::from("autoscaling/v1"));
    if let Some(spec) = root.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("metrics");
        if let Some(target) = cpu_target.and_then(|m| m.pointer("/resource/target/averageUtilization").cloned()) {
            spec.insert("targetCPUUtilizationPercentage".into(), target);
        }
    }
    if let (Some(status), Some(utilization)) = (root.get_mut("status").and_then(Value::as_object_mut), current_cpu) {
        status.insert("currentCPUUtilizationPercentage".into(), utilization);
    }
    hpa
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_round_trip_through_the_core_shape() {
        let event = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "default"},
            "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "ferrokube/deployment",
            "reportingInstance": "cm-1", "action": "Scale", "reason": "ScalingReplicaSet", "type": "Normal",
            "regarding": {"kind": "Deployment", "name": "web", "namespace": "default"}, "note": "Scaled up",
            "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"}
        });
        let core = events_v1_to_core(event.clone());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["message"], "Scaled up");
        assert_eq!(core["reportingComponent"], "ferrokube/deployment");
        assert!(core.get("note").is_none() && core.get("regarding").is_none());
        assert_eq!(core_to_events_v1(core), event);
    }

    #[test]
    fn hpa_v1_cpu_target_is_a_v2_resource_metric_and_back() {
        let v1 = json!({
            "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "maxReplicas": 5, "targetCPUUtilizationPercentage": 70},
            "status": {"currentReplicas": 1, "desiredReplicas": 1, "currentCPUUtilizationPercentage": 12}
        });
        let v2 = hpa_v1_to_v2(v1.clone());
        assert_eq!(v2["apiVersion"], "autoscaling/v2");
        assert_eq!(v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 70);
        assert_eq!(v2["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"], 12);
        assert!(v2["metadata"].get("annotations").is_none());
        assert_eq!(hpa_v2_to_v1(v2), v1);
    }

    #[test]
    fn hpa_v2_fields_v1_cannot_hold_survive_a_v1_update() {
        let v2 = json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}
            }
        });
        let v1 = hpa_v2_to_v1(v2.clone());
        assert!(v1["spec"].get("metrics").is_none());
        assert!(v1["metadata"]["annotations"][HPA_METRICS_ANNOTATION].as_str().unwrap().contains("memory"));
        assert_eq!(hpa_v1_to_v2(v1), v2);
    }
}
