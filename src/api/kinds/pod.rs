//! The Pod kind: upstream's Pod-only defaulting (`SetDefaults_Pod`), what the default admission chain adds to
//! every new pod (ServiceAccount, Priority and DefaultTolerationSeconds), the strategy's status handling and QoS
//! class, and create and update validation, including which spec fields an update may change.

use serde_json::{json, Map, Value};

use super::podspec::default_pod_spec;
use super::podspec_validation::{validate_pod_spec, validate_tolerations};
use super::quantity::parse_quantity;
use super::value::{
    array_at, bool_at, copy_from, for_each_mut, get, i64_at, object_at, semantic_eq, set, set_default, set_default_str, str_at,
    string_or_empty, with_object, FieldPath,
};
use crate::api::status::FieldError;

/// Defaulting of a Pod: the pod spec defaults, the Pod-only ones, and what admission adds on a real cluster.
pub fn default_pod(obj: &mut Value) {
    with_object(obj, &["spec"], |spec| {
        default_pod_spec(spec);
        default_pod_only_fields(spec);
        admit_service_account(spec);
        admit_priority(spec);
        admit_default_tolerations(spec);
    });
}

/// `SetDefaults_Pod`: requests default to limits, service links are on, host-network ports are host ports.
fn default_pod_only_fields(spec: &mut Value) {
    for list in ["containers", "initContainers"] {
        for_each_mut(spec, &[list], default_requests_from_limits);
    }
    set_default(spec, &["enableServiceLinks"], Value::Bool(true));
    if bool_at(spec, &["hostNetwork"]) {
        for list in ["containers", "initContainers"] {
            for_each_mut(spec, &[list], |container| for_each_mut(container, &["ports"], default_host_port));
        }
    }
}

fn default_requests_from_limits(container: &mut Value) {
    let Some(limits) = object_at(container, &["resources", "limits"]).cloned() else {
        return;
    };
    for (name, limit) in limits {
        set_default(container, &["resources", "requests", &name], limit);
    }
}

fn default_host_port(port: &mut Value) {
    if i64_at(port, &["hostPort"]).unwrap_or(0) == 0 {
        let container_port = get(port, &["containerPort"]).cloned().unwrap_or(Value::Null);
        set(port, &["hostPort"], container_port);
    }
}

/// The ServiceAccount admission plugin: a pod without a service account runs as `default`.
fn admit_service_account(spec: &mut Value) {
    set_default_str(spec, &["serviceAccountName"], "default");
    let name = string_or_empty(spec, &["serviceAccountName"]).to_string();
    set(spec, &["serviceAccount"], Value::from(name));
}

/// The Priority admission plugin for the built-in classes; without a class (and no cluster default) a pod gets
/// priority 0 and may preempt lower priorities. Other classes need a PriorityClass lookup, done elsewhere.
fn admit_priority(spec: &mut Value) {
    let priority = match string_or_empty(spec, &["priorityClassName"]) {
        "" => 0,
        "system-cluster-critical" => 2_000_000_000,
        "system-node-critical" => 2_000_001_000,
        _ => return,
    };
    set_default(spec, &["priority"], json!(priority));
    set_default(spec, &["preemptionPolicy"], json!("PreemptLowerPriority"));
}

const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

/// The DefaultTolerationSeconds admission plugin: tolerate not-ready and unreachable nodes for 300 seconds
/// unless the pod already tolerates them for NoExecute.
fn admit_default_tolerations(spec: &mut Value) {
    for taint in [NOT_READY_TAINT, UNREACHABLE_TAINT] {
        let tolerated = array_at(spec, &["tolerations"]).iter().any(|toleration| {
            let key = string_or_empty(toleration, &["key"]);
            let effect = string_or_empty(toleration, &["effect"]);
            (key == taint || key.is_empty()) && (effect == "NoExecute" || effect.is_empty())
        });
        if !tolerated {
            let toleration = json!({"key": taint, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300});
            match spec.get_mut("tolerations").and_then(Value::as_array_mut) {
                Some(list) => list.push(toleration),
                None => set(spec, &["tolerations"], json!([toleration])),
            }
        }
    }
}

/// The pod strategy's create: a new pod is Pending with its QoS class, and gated pods say why they wait.
pub fn prepare_pod_for_create(obj: &mut Value) {
    let empty = Value::Object(Map::new());
    let spec = get(obj, &["spec"]).unwrap_or(&empty);
    let mut status = json!({"phase": "Pending", "qosClass": compute_qos_class(spec)});
    if !array_at(spec, &["schedulingGates"]).is_empty() {
        status["conditions"] = json!([{
            "type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
            "message": "Scheduling is blocked due to non-empty scheduling gates", "lastProbeTime": null, "lastTransitionTime": null
        }]);
    }
    set(obj, &["status"], status);
}

/// The pod strategy's update: status only changes through the status subresource.
pub fn prepare_pod_for_update(new: &mut Value, old: &Value) {
    copy_from(new, old, &["status"]);
}

/// Upstream `ComputePodQOS`: Guaranteed when every container limits cpu and memory and requests equal limits,
/// BestEffort when nothing requests or limits cpu or memory, Burstable otherwise. Pod-level resources, when
/// set, decide alone.
pub fn compute_qos_class(spec: &Value) -> &'static str {
    let resources: Vec<&Value> = match get(spec, &["resources"]).filter(|found| found.is_object()) {
        Some(pod_level) => vec![pod_level],
        None => ["containers", "initContainers"]
            .iter()
            .flat_map(|list| array_at(spec, &[list]))
            .map(|container| get(container, &["resources"]).unwrap_or(&Value::Null))
            .collect(),
    };
    let mut requests = [0i128; 2];
    let mut limits = [0i128; 2];
    let mut guaranteed = true;
    for resource in resources {
        let request = qos_amounts(resource, "requests");
        let limit = qos_amounts(resource, "limits");
        guaranteed &= limit.iter().all(|amount| *amount > 0);
        for index in 0..2 {
            requests[index] += request[index];
            limits[index] += limit[index];
        }
    }
    if requests == [0, 0] && limits == [0, 0] {
        return "BestEffort";
    }
    let requests_match = (0..2).all(|index| requests[index] == 0 || requests[index] == limits[index]);
    let same_resources = (0..2).all(|index| (requests[index] > 0) == (limits[index] > 0));
    if guaranteed && requests_match && same_resources {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The positive cpu and memory amounts (in thousandths) of a container's `requests` or `limits`.
fn qos_amounts(resources: &Value, list: &str) -> [i128; 2] {
    let amount = |name: &str| {
        let millis = str_at(resources, &[list, name]).and_then(|text| parse_quantity(text).ok()).map_or(0, |quantity| quantity.millis());
        millis.max(0)
    };
    [amount("cpu"), amount("memory")]
}

/// Upstream `ValidatePodCreate`.
pub fn validate_pod(obj: &Value) -> Vec<FieldError> {
    let mut errors = validate_pod_metadata_and_spec(obj);
    let spec_path = FieldPath::new("spec");
    if !array_at(obj, &["spec", "ephemeralContainers"]).is_empty() {
        errors.push(FieldError::forbidden(spec_path.child("ephemeralContainers"), "cannot be set on create"));
    }
    if !string_or_empty(obj, &["spec", "nodeName"]).is_empty() && !array_at(obj, &["spec", "schedulingGates"]).is_empty() {
        errors.push(FieldError::forbidden(spec_path.child("nodeName"), "cannot be set until all schedulingGates have been cleared"));
    }
    errors
}

/// Upstream `validatePodMetadataAndSpec`: metadata, pod-specific annotations, the spec, and image whitespace.
fn validate_pod_metadata_and_spec(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_pod_annotations(obj));
    let empty = Value::Object(Map::new());
    let spec = get(obj, &["spec"]).unwrap_or(&empty);
    let spec_path = FieldPath::new("spec");
    errors.extend(validate_pod_spec(spec, &spec_path, true));
    for list in ["containers", "initContainers"] {
        for (index, container) in array_at(spec, &[list]).iter().enumerate() {
            errors.extend(validate_image_whitespace(container, &spec_path.child(list).index(index)));
        }
    }
    errors
}

fn validate_image_whitespace(container: &Value, path: &FieldPath) -> Vec<FieldError> {
    let image = string_or_empty(container, &["image"]);
    if image.trim() == image {
        Vec::new()
    } else {
        vec![FieldError::invalid(path.child("image"), Value::from(image), "must not have leading or trailing whitespace")]
    }
}

const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
const DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

/// Upstream `ValidatePodSpecificAnnotations`: mirror pods are bound, and the deletion cost is an int32.
fn validate_pod_annotations(obj: &Value) -> Vec<FieldError> {
    let path = FieldPath::new("metadata").child("annotations");
    let mut errors = Vec::new();
    if let Some(mirror) = str_at(obj, &["metadata", "annotations", MIRROR_POD_ANNOTATION]) {
        if string_or_empty(obj, &["spec", "nodeName"]).is_empty() {
            errors.push(FieldError::invalid(
                path.key(MIRROR_POD_ANNOTATION),
                Value::from(mirror),
                "must set spec.nodeName if mirror pod annotation is set",
            ));
        }
    }
    if let Some(cost) = str_at(obj, &["metadata", "annotations", DELETION_COST_ANNOTATION]) {
        if cost.parse::<i32>().is_err() {
            errors.push(FieldError::invalid(path.key(DELETION_COST_ANNOTATION), Value::from(cost), "must be a 32bit integer"));
        }
    }
    errors
}

const UPDATABLE_POD_SPEC_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Upstream `ValidatePodUpdate`: the new pod is valid and its spec differs from the old one only in container
/// images, a shorter active deadline, added tolerations, removed scheduling gates (and, while gated, added node
/// selectors).
pub fn validate_pod_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_pod_metadata_and_spec(new));
    errors.extend(validate_mirror_annotation_update(new, old));
    let spec_path = FieldPath::new("spec");
    for list in ["containers", "initContainers"] {
        let (container_errors, stop) =
            validate_container_updates(array_at(new, &["spec", list]), array_at(old, &["spec", list]), &spec_path.child(list));
        errors.extend(container_errors);
        if stop {
            return errors;
        }
    }
    match validate_deadline_update(new, old, &spec_path.child("activeDeadlineSeconds")) {
        Some(deadline_error) => {
            errors.push(deadline_error);
            return errors;
        }
        None => errors.extend(validate_only_added_tolerations(new, old, &spec_path.child("tolerations"))),
    }
    errors.extend(validate_only_deleted_gates(new, old, &spec_path.child("schedulingGates")));
    errors.extend(validate_remaining_spec(new, old, &spec_path));
    errors
}

fn validate_mirror_annotation_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let path = FieldPath::new("metadata").child("annotations").key(MIRROR_POD_ANNOTATION);
    let annotation = |obj: &Value| str_at(obj, &["metadata", "annotations", MIRROR_POD_ANNOTATION]).map(str::to_string);
    match (annotation(old), annotation(new)) {
        (Some(before), after) if after.as_deref() != Some(before.as_str()) => {
            vec![FieldError::forbidden(path, "may not remove or update mirror pod annotation")]
        }
        (None, Some(_)) => vec![FieldError::forbidden(path, "may not add mirror pod annotation")],
        _ => Vec::new(),
    }
}

/// Upstream `ValidateContainerUpdates`; the flag says the rest of the checks cannot run (count changed).
fn validate_container_updates(new: &[Value], old: &[Value], path: &FieldPath) -> (Vec<FieldError>, bool) {
    if new.len() != old.len() {
        return (vec![FieldError::forbidden(path, "pod updates may not add or remove containers")], true);
    }
    let mut errors = Vec::new();
    for (index, container) in new.iter().enumerate() {
        let image = string_or_empty(container, &["image"]);
        if image.is_empty() {
            errors.push(FieldError::required(path.index(index).child("image"), ""));
        }
        if image.trim() != image {
            errors.push(FieldError::invalid(
                path.index(index).child("image"),
                Value::from(image),
                "must not have leading or trailing whitespace",
            ));
        }
    }
    (errors, false)
}

/// The deadline may be set where there was none, or lowered; never raised or removed.
fn validate_deadline_update(new: &Value, old: &Value, path: &FieldPath) -> Option<FieldError> {
    let old_deadline = i64_at(old, &["spec", "activeDeadlineSeconds"]);
    let Some(new_deadline) = i64_at(new, &["spec", "activeDeadlineSeconds"]) else {
        return old_deadline.map(|_| FieldError::invalid(path, Value::Null, "must not update from a positive integer to nil value"));
    };
    if !(0..=i64::from(i32::MAX)).contains(&new_deadline) {
        return Some(FieldError::invalid(path, Value::from(new_deadline), super::meta::inclusive_range_error(0, i64::from(i32::MAX))));
    }
    match old_deadline {
        Some(old_deadline) if old_deadline < new_deadline => {
            Some(FieldError::invalid(path, Value::from(new_deadline), "must be less than or equal to previous value"))
        }
        _ => None,
    }
}

/// Upstream `validateOnlyAddedTolerations`: every old toleration is still there (its seconds may change).
fn validate_only_added_tolerations(new: &Value, old: &Value, path: &FieldPath) -> Vec<FieldError> {
    let new_tolerations = array_at(new, &["spec", "tolerations"]);
    let without_seconds = |toleration: &Value| {
        let mut copy = toleration.clone();
        if let Some(map) = copy.as_object_mut() {
            map.remove("tolerationSeconds");
        }
        copy
    };
    for old_toleration in array_at(old, &["spec", "tolerations"]) {
        if !new_tolerations.iter().any(|candidate| semantic_eq(&without_seconds(candidate), &without_seconds(old_toleration))) {
            return vec![FieldError::forbidden(path, "existing toleration can not be modified except its tolerationSeconds")];
        }
    }
    validate_tolerations(new_tolerations, path)
}

fn validate_only_deleted_gates(new: &Value, old: &Value, path: &FieldPath) -> Vec<FieldError> {
    let old_gates: Vec<&str> = array_at(old, &["spec", "schedulingGates"]).iter().map(|gate| string_or_empty(gate, &["name"])).collect();
    let mut errors = Vec::new();
    for (index, gate) in array_at(new, &["spec", "schedulingGates"]).iter().enumerate() {
        let name = string_or_empty(gate, &["name"]);
        if !old_gates.contains(&name) {
            errors.push(FieldError::forbidden(
                path.index(index).child("name"),
                format!("only deletion is allowed, but found new scheduling gate '{name}'"),
            ));
        }
    }
    errors
}

/// Compares the specs after taking over every field an update may change from the old spec; any remaining
/// difference is forbidden, reported with the differing fields.
fn validate_remaining_spec(new: &Value, old: &Value, path: &FieldPath) -> Vec<FieldError> {
    let empty = Value::Object(Map::new());
    let old_spec = get(old, &["spec"]).unwrap_or(&empty);
    let mut munged = get(new, &["spec"]).cloned().unwrap_or_else(|| empty.clone());
    let mut errors = Vec::new();
    for list in ["containers", "initContainers"] {
        let old_images: Vec<Value> =
            array_at(old_spec, &[list]).iter().map(|container| get(container, &["image"]).cloned().unwrap_or(Value::Null)).collect();
        let mut index = 0;
        for_each_mut(&mut munged, &[list], |container| {
            set(container, &["image"], old_images.get(index).cloned().unwrap_or(Value::Null));
            index += 1;
        });
    }
    for field in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
        copy_from(&mut munged, old_spec, &[field]);
    }
    let old_grace = i64_at(old_spec, &["terminationGracePeriodSeconds"]);
    if old_grace.is_some_and(|grace| grace < 0) && i64_at(&munged, &["terminationGracePeriodSeconds"]) == Some(1) {
        set(&mut munged, &["terminationGracePeriodSeconds"], Value::from(old_grace));
    }
    if !array_at(old_spec, &["schedulingGates"]).is_empty() {
        errors.extend(take_added_node_selectors(&mut munged, old_spec, &path.child("nodeSelector")));
    }
    if !semantic_eq(&munged, old_spec) {
        let mut differences = Vec::new();
        describe_differences(old_spec, &munged, "spec", &mut differences);
        let detail = format!("pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}\n{}", differences.join("\n"));
        errors.push(FieldError::forbidden(path, detail));
    }
    errors
}

/// Gated pods may gain node selectors (not lose or change them); accepted additions are taken over.
fn take_added_node_selectors(munged: &mut Value, old_spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let new_selector = object_at(munged, &["nodeSelector"]).cloned().unwrap_or_default();
    let old_selector = object_at(old_spec, &["nodeSelector"]).cloned().unwrap_or_default();
    if old_selector.iter().any(|(key, value)| new_selector.get(key) != Some(value)) {
        let rendered = super::meta::go_string_map(Some(&new_selector));
        return vec![super::meta::invalid_rendered(
            path,
            &rendered,
            "only additions to spec.nodeSelector are allowed (no mutations or deletions)",
        )];
    }
    copy_from(munged, old_spec, &["nodeSelector"]);
    Vec::new()
}

/// Lists the fields that differ as `- path: old` / `+ path: new` lines, in place of upstream's Go struct diff.
fn describe_differences(old: &Value, new: &Value, path: &str, lines: &mut Vec<String>) {
    if semantic_eq(old, new) {
        return;
    }
    match (old, new) {
        (Value::Object(old_map), Value::Object(new_map)) => {
            let mut keys: Vec<&String> = old_map.keys().chain(new_map.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let (before, after) = (old_map.get(key).unwrap_or(&Value::Null), new_map.get(key).unwrap_or(&Value::Null));
                describe_differences(before, after, &format!("{path}.{key}"), lines);
            }
        }
        (Value::Array(old_items), Value::Array(new_items)) if old_items.len() == new_items.len() => {
            for (index, (before, after)) in old_items.iter().zip(new_items).enumerate() {
                describe_differences(before, after, &format!("{path}[{index}]"), lines);
            }
        }
        _ => {
            lines.push(format!("- {path}: {old}"));
            lines.push(format!("+ {path}: {new}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal_pod() -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"containers": [{"name": "web", "image": "nginx"}]}})
    }

    fn messages(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(FieldError::to_message).collect()
    }

    fn created(mut pod: Value) -> Value {
        default_pod(&mut pod);
        prepare_pod_for_create(&mut pod);
        pod
    }

    #[test]
    fn minimal_pod_is_defaulted_like_a_real_cluster() {
        let pod = created(minimal_pod());
        let spec = &pod["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["enableServiceLinks"], true);
        assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(spec["priority"], 0);
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["serviceAccount"], "default");
        assert_eq!(
            spec["tolerations"],
            json!([
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ])
        );
        let container = &spec["containers"][0];
        assert_eq!(container["imagePullPolicy"], "Always");
        assert_eq!(container["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(container["terminationMessagePolicy"], "File");
        assert_eq!(container["resources"], json!({}));
        assert_eq!(pod["status"], json!({"phase": "Pending", "qosClass": "BestEffort"}));
        assert!(validate_pod(&pod).is_empty(), "{:?}", messages(&validate_pod(&pod)));
    }

    #[test]
    fn existing_tolerations_and_service_account_are_kept() {
        let mut pod = minimal_pod();
        pod["spec"]["serviceAccountName"] = json!("builder");
        pod["spec"]["tolerations"] = json!([{"operator": "Exists"}]);
        let pod = created(pod);
        assert_eq!(pod["spec"]["serviceAccount"], "builder");
        assert_eq!(pod["spec"]["tolerations"], json!([{"operator": "Exists"}]));
    }

    #[test]
    fn requests_default_to_limits_and_qos_follows() {
        let mut pod = minimal_pod();
        pod["spec"]["containers"][0]["resources"] = json!({"limits": {"cpu": "500m", "memory": "128Mi"}});
        let pod = created(pod);
        assert_eq!(pod["spec"]["containers"][0]["resources"]["requests"], json!({"cpu": "500m", "memory": "128Mi"}));
        assert_eq!(pod["status"]["qosClass"], "Guaranteed");
        let burstable = json!({"containers": [{"resources": {"requests": {"cpu": "100m"}}}]});
        assert_eq!(compute_qos_class(&burstable), "Burstable");
        let uneven =
            json!({"containers": [{"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}}}]});
        assert_eq!(compute_qos_class(&uneven), "Burstable");
    }

    #[test]
    fn scheduling_gates_add_a_condition_and_forbid_node_name() {
        let mut pod = minimal_pod();
        pod["spec"]["schedulingGates"] = json!([{"name": "example.com/wait"}]);
        pod["spec"]["nodeName"] = json!("node-1");
        let pod = created(pod);
        assert_eq!(pod["status"]["conditions"][0]["reason"], "SchedulingGated");
        assert_eq!(
            messages(&validate_pod(&pod)),
            vec!["spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared"]
        );
    }

    #[test]
    fn missing_image_reads_like_kubectl_shows_it() {
        let mut pod = minimal_pod();
        pod["spec"]["containers"][0].as_object_mut().unwrap().remove("image");
        let pod = created(pod);
        let error = crate::api::status::ApiError::invalid("", "Pod", "web", validate_pod(&pod));
        assert_eq!(error.to_string(), "Pod \"web\" is invalid: spec.containers[0].image: Required value");
    }

    #[test]
    fn image_and_deadline_updates_are_allowed_other_changes_are_not() {
        let old = created(minimal_pod());
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("nginx:1.27");
        new["spec"]["activeDeadlineSeconds"] = json!(60);
        new["spec"]["tolerations"].as_array_mut().unwrap().push(json!({"key": "extra", "operator": "Exists"}));
        assert!(validate_pod_update(&new, &old).is_empty(), "{:?}", messages(&validate_pod_update(&new, &old)));

        let mut changed = old.clone();
        changed["spec"]["restartPolicy"] = json!("Never");
        let rendered = messages(&validate_pod_update(&changed, &old));
        assert_eq!(rendered.len(), 1);
        assert!(rendered[0].starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"));
        assert!(rendered[0].ends_with("- spec.restartPolicy: \"Always\"\n+ spec.restartPolicy: \"Never\""));
    }

    #[test]
    fn update_rules_for_containers_tolerations_and_deadline() {
        let mut old = created(minimal_pod());
        old["spec"]["activeDeadlineSeconds"] = json!(30);
        let mut more = old.clone();
        more["spec"]["containers"].as_array_mut().unwrap().push(json!({"name": "b", "image": "b"}));
        assert_eq!(
            messages(&validate_pod_update(&more, &old)).last().unwrap(),
            "spec.containers: Forbidden: pod updates may not add or remove containers"
        );
        let mut longer = old.clone();
        longer["spec"]["activeDeadlineSeconds"] = json!(60);
        assert_eq!(
            messages(&validate_pod_update(&longer, &old)),
            vec!["spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value"]
        );
        let mut removed = old.clone();
        removed["spec"]["tolerations"] = json!([]);
        assert_eq!(
            messages(&validate_pod_update(&removed, &old)),
            vec!["spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"]
        );
    }

    #[test]
    fn status_is_kept_on_update() {
        let old = json!({"status": {"phase": "Running"}});
        let mut new = json!({"status": {"phase": "Failed"}});
        prepare_pod_for_update(&mut new, &old);
        assert_eq!(new["status"]["phase"], "Running");
    }
}
