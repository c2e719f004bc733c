//! Validation of a pod spec and of a pod template (upstream `ValidatePodSpec` and `ValidatePodTemplateSpec`),
//! shared by Pods and every workload. Containers and volumes have their own files; this one owns the spec-level
//! rules: restart and DNS policy, scheduling fields (node selector, affinity, tolerations, topology spread,
//! gates), security context, names of referenced objects, and host networking.

use std::collections::BTreeSet;

use serde_json::Value;

use super::containers::{
    validate_choice, validate_containers, validate_id, validate_init_containers, validate_seccomp_profile, PodContext,
};
use super::meta::{
    inclusive_range_error, invalid_each, is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value,
    validate_annotations, validate_ip, validate_labels,
};
use super::selector::validate_label_selector;
use super::value::{array_at, bool_at, get, i64_at, is_set, object_at, str_at, string_or_empty, FieldPath};
use super::volumes::validate_volumes;
use crate::api::status::FieldError;

/// Upstream `ValidatePodSpec`. `is_pod` is upstream's `ResourceIsPod`: a Pod's host-network ports must equal
/// their container ports, a template's may also be left 0 for the Pod to default.
pub fn validate_pod_spec(spec: &Value, path: &FieldPath, is_pod: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let grace_period = i64_at(spec, &["terminationGracePeriodSeconds"]);
    if grace_period.is_none() {
        errors.push(FieldError::required(path.child("terminationGracePeriodSeconds"), ""));
    }
    let (volumes, volume_errors) = validate_volumes(spec, &path.child("volumes"));
    errors.extend(volume_errors);
    let context = PodContext { volumes: &volumes, grace_period };
    let containers = array_at(spec, &["containers"]);
    errors.extend(validate_containers(containers, &path.child("containers"), &context));
    errors.extend(validate_init_containers(array_at(spec, &["initContainers"]), containers, &path.child("initContainers"), &context));
    errors.extend(validate_host_network_ports(spec, path, is_pod));
    errors.extend(validate_choice(spec, "restartPolicy", &["Always", "OnFailure", "Never"], path));
    errors.extend(validate_choice(spec, "dnsPolicy", &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"], path));
    errors.extend(validate_labels(object_at(spec, &["nodeSelector"]), &path.child("nodeSelector")));
    errors.extend(validate_pod_security_context(spec, &path.child("securityContext")));
    errors.extend(validate_affinity(spec, &path.child("affinity")));
    errors.extend(validate_dns_config(spec, &path.child("dnsConfig")));
    errors.extend(validate_gates(spec, path));
    errors.extend(validate_topology_spread(array_at(spec, &["topologySpreadConstraints"]), &path.child("topologySpreadConstraints")));
    errors.extend(validate_referenced_names(spec, path));
    errors.extend(validate_tolerations(array_at(spec, &["tolerations"]), &path.child("tolerations")));
    errors.extend(validate_host_aliases(spec, &path.child("hostAliases")));
    errors.extend(validate_scheduling_choices(spec, path));
    errors
}

/// Upstream `ValidatePodTemplateSpec`: template labels and annotations, the spec, and no ephemeral containers.
pub fn validate_pod_template(template: &Value, path: &FieldPath) -> Vec<FieldError> {
    let metadata = path.child("metadata");
    let mut errors = validate_labels(object_at(template, &["metadata", "labels"]), &metadata.child("labels"));
    errors.extend(validate_annotations(object_at(template, &["metadata", "annotations"]), &metadata.child("annotations")));
    let empty = Value::Object(Default::default());
    errors.extend(validate_pod_spec(get(template, &["spec"]).unwrap_or(&empty), &path.child("spec"), false));
    if !array_at(template, &["spec", "ephemeralContainers"]).is_empty() {
        errors.push(FieldError::forbidden(
            path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errors
}

/// Upstream `validatePodHostNetworkDeps`.
fn validate_host_network_ports(spec: &Value, path: &FieldPath, is_pod: bool) -> Vec<FieldError> {
    if !bool_at(spec, &["hostNetwork"]) {
        return Vec::new();
    }
    let mut errors = Vec::new();
    for (container_index, container) in array_at(spec, &["containers"]).iter().enumerate() {
        for (port_index, port) in array_at(container, &["ports"]).iter().enumerate() {
            let host_port = i64_at(port, &["hostPort"]).unwrap_or(0);
            let container_port = i64_at(port, &["containerPort"]).unwrap_or(0);
            if (is_pod || host_port != 0) && host_port != container_port {
                let port_path = path.child("containers").index(container_index).child("ports").index(port_index).child("hostPort");
                errors.push(FieldError::invalid(
                    port_path,
                    Value::from(host_port),
                    "must match `containerPort` when `hostNetwork` is true",
                ));
            }
        }
    }
    errors
}

/// Upstream `validatePodSpecSecurityContext` (ids, process namespace sharing, fsGroup policy, seccomp).
fn validate_pod_security_context(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let Some(context) = get(spec, &["securityContext"]).filter(|found| found.is_object()) else {
        return Vec::new();
    };
    let mut errors = validate_id(i64_at(context, &["fsGroup"]), &path.child("fsGroup"));
    errors.extend(validate_id(i64_at(context, &["runAsUser"]), &path.child("runAsUser")));
    errors.extend(validate_id(i64_at(context, &["runAsGroup"]), &path.child("runAsGroup")));
    for (index, group) in array_at(context, &["supplementalGroups"]).iter().enumerate() {
        errors.extend(validate_id(group.as_i64(), &path.child("supplementalGroups").index(index)));
    }
    if bool_at(spec, &["shareProcessNamespace"]) && bool_at(spec, &["hostPID"]) {
        errors.push(FieldError::invalid(
            path.child("shareProcessNamespace"),
            Value::from(true),
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    if let Some(policy) = str_at(context, &["fsGroupChangePolicy"]).filter(|policy| !["Always", "OnRootMismatch"].contains(policy)) {
        errors.push(FieldError::not_supported(path.child("fsGroupChangePolicy"), Value::from(policy), &["Always", "OnRootMismatch"]));
    }
    errors.extend(validate_seccomp_profile(get(context, &["seccompProfile"]), &path.child("seccompProfile")));
    errors
}

/// Node affinity requirements and pod (anti-)affinity terms: operators, keys, values, topology keys, weights.
fn validate_affinity(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let Some(affinity) = get(spec, &["affinity"]).filter(|found| found.is_object()) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    let node = path.child("nodeAffinity");
    if let Some(required) =
        get(affinity, &["nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"]).filter(|found| !found.is_null())
    {
        let terms_path = node.child("requiredDuringSchedulingIgnoredDuringExecution").child("nodeSelectorTerms");
        let terms = array_at(required, &["nodeSelectorTerms"]);
        if terms.is_empty() {
            errors.push(FieldError::required(&terms_path, "must have at least one node selector term"));
        }
        for (index, term) in terms.iter().enumerate() {
            errors.extend(validate_node_selector_term(term, &terms_path.index(index)));
        }
    }
    for (index, preferred) in array_at(affinity, &["nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"]).iter().enumerate() {
        let preferred_path = node.child("preferredDuringSchedulingIgnoredDuringExecution").index(index);
        errors.extend(validate_weight(preferred, &preferred_path));
        errors.extend(validate_node_selector_term(
            get(preferred, &["preference"]).unwrap_or(&Value::Null),
            &preferred_path.child("preference"),
        ));
    }
    for kind in ["podAffinity", "podAntiAffinity"] {
        errors.extend(validate_pod_affinity(get(affinity, &[kind]), &path.child(kind)));
    }
    errors
}

fn validate_weight(item: &Value, path: &FieldPath) -> Vec<FieldError> {
    let weight = i64_at(item, &["weight"]).unwrap_or(0);
    if (1..=100).contains(&weight) {
        Vec::new()
    } else {
        vec![FieldError::invalid(path.child("weight"), Value::from(weight), "must be in the range 1-100")]
    }
}

fn validate_node_selector_term(term: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (list, key_is_label) in [("matchExpressions", true), ("matchFields", false)] {
        for (index, requirement) in array_at(term, &[list]).iter().enumerate() {
            errors.extend(validate_node_selector_requirement(requirement, key_is_label, &path.child(list).index(index)));
        }
    }
    errors
}

/// Upstream `ValidateNodeSelectorRequirement` (and its field-selector twin, whose only key is `metadata.name`).
fn validate_node_selector_requirement(requirement: &Value, key_is_label: bool, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let values = array_at(requirement, &["values"]);
    match string_or_empty(requirement, &["operator"]) {
        "In" | "NotIn" if values.is_empty() => {
            errors.push(FieldError::required(path.child("values"), "must be specified when `operator` is 'In' or 'NotIn'"));
        }
        "Exists" | "DoesNotExist" if !values.is_empty() => {
            errors.push(FieldError::forbidden(path.child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        }
        "Gt" | "Lt" if values.len() != 1 => {
            errors.push(FieldError::required(path.child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"));
        }
        "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt" => {}
        other => errors.push(FieldError::invalid(path.child("operator"), Value::from(other), "not a valid selector operator")),
    }
    let key = string_or_empty(requirement, &["key"]);
    if key_is_label {
        errors.extend(invalid_each(&path.child("key"), key, is_qualified_name(key)));
    } else if key != "metadata.name" {
        errors.push(FieldError::invalid(path.child("key"), Value::from(key), "not a valid field selector key"));
    }
    errors
}

fn validate_pod_affinity(affinity: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    let Some(affinity) = affinity.filter(|found| found.is_object()) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    let required_path = path.child("requiredDuringSchedulingIgnoredDuringExecution");
    for (index, term) in array_at(affinity, &["requiredDuringSchedulingIgnoredDuringExecution"]).iter().enumerate() {
        errors.extend(validate_pod_affinity_term(term, &required_path.index(index)));
    }
    let preferred_path = path.child("preferredDuringSchedulingIgnoredDuringExecution");
    for (index, weighted) in array_at(affinity, &["preferredDuringSchedulingIgnoredDuringExecution"]).iter().enumerate() {
        let weighted_path = preferred_path.index(index);
        errors.extend(validate_weight(weighted, &weighted_path));
        let term = get(weighted, &["podAffinityTerm"]).unwrap_or(&Value::Null);
        errors.extend(validate_pod_affinity_term(term, &weighted_path.child("podAffinityTerm")));
    }
    errors
}

fn validate_pod_affinity_term(term: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for selector in ["labelSelector", "namespaceSelector"] {
        if let Some(body) = get(term, &[selector]).filter(|found| found.is_object()) {
            errors.extend(validate_label_selector(body, &path.child(selector)));
        }
    }
    for namespace in array_at(term, &["namespaces"]) {
        let name = namespace.as_str().unwrap_or_default();
        errors.extend(invalid_each(&path.child("namespace"), name, is_dns1123_label(name)));
    }
    let key = string_or_empty(term, &["topologyKey"]);
    if key.is_empty() {
        errors.push(FieldError::required(path.child("topologyKey"), "can not be empty"));
    } else {
        errors.extend(invalid_each(&path.child("topologyKey"), key, is_qualified_name(key)));
    }
    errors
}

/// Upstream `validatePodDNSConfig`.
fn validate_dns_config(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let config = get(spec, &["dnsConfig"]).filter(|found| found.is_object());
    let nameservers = config.map(|config| array_at(config, &["nameservers"])).unwrap_or(&[]);
    if string_or_empty(spec, &["dnsPolicy"]) == "None" {
        if config.is_none() {
            return vec![FieldError::required(path, "must provide `dnsConfig` when `dnsPolicy` is None")];
        }
        if nameservers.is_empty() {
            return vec![FieldError::required(
                path.child("nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            )];
        }
    }
    let Some(config) = config else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    if nameservers.len() > 3 {
        errors.push(FieldError::invalid(
            path.child("nameservers"),
            Value::Array(nameservers.to_vec()),
            "must not have more than 3 nameservers",
        ));
    }
    for (index, server) in nameservers.iter().enumerate() {
        errors.extend(validate_ip(&path.child("nameservers").index(index), server.as_str().unwrap_or_default()));
    }
    let searches = array_at(config, &["searches"]);
    if searches.len() > 32 {
        errors.push(FieldError::invalid(
            path.child("searches"),
            Value::Array(searches.to_vec()),
            "must not have more than 32 search paths",
        ));
    }
    for (index, search) in searches.iter().enumerate() {
        let domain = search.as_str().unwrap_or_default();
        if domain != "." {
            let trimmed = domain.strip_suffix('.').unwrap_or(domain);
            errors.extend(invalid_each(&path.child("searches").index(index), trimmed, subdomain_with_underscore_errors(trimmed)));
        }
    }
    for (index, option) in array_at(config, &["options"]).iter().enumerate() {
        if string_or_empty(option, &["name"]).is_empty() {
            errors.push(FieldError::required(path.child("options").index(index), "must not be empty"));
        }
    }
    errors
}

/// Search domains may carry underscores (`_tcp.example.com`), as upstream's relaxed DNS search validation allows.
fn subdomain_with_underscore_errors(domain: &str) -> Vec<String> {
    if is_dns1123_subdomain(&domain.replace('_', "a")).is_empty() {
        return Vec::new();
    }
    let message = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '_', '-' or '.', and must start and end with an alphanumeric character";
    vec![format!(
        "{message} (e.g. 'example.com', regex used for validation is '_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\\._?[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*')"
    )]
}

/// Readiness gates' condition types and scheduling gates' names are qualified names; gates are unique.
fn validate_gates(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (index, gate) in array_at(spec, &["readinessGates"]).iter().enumerate() {
        let condition = string_or_empty(gate, &["conditionType"]);
        errors.extend(invalid_each(
            &path.child("readinessGates").index(index).child("conditionType"),
            condition,
            is_qualified_name(condition),
        ));
    }
    let mut seen = BTreeSet::new();
    for (index, gate) in array_at(spec, &["schedulingGates"]).iter().enumerate() {
        let gate_path = path.child("schedulingGates").index(index);
        let name = string_or_empty(gate, &["name"]);
        errors.extend(invalid_each(&gate_path, name, is_qualified_name(name)));
        if !seen.insert(name) {
            errors.push(FieldError::duplicate(gate_path, Value::from(name)));
        }
    }
    errors
}

/// Upstream `validateTopologySpreadConstraints`.
fn validate_topology_spread(constraints: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (index, constraint) in constraints.iter().enumerate() {
        let constraint_path = path.index(index);
        let skew = i64_at(constraint, &["maxSkew"]).unwrap_or(0);
        if skew <= 0 {
            errors.push(FieldError::invalid(constraint_path.child("maxSkew"), Value::from(skew), "must be greater than zero"));
        }
        let key = string_or_empty(constraint, &["topologyKey"]);
        if key.is_empty() {
            errors.push(FieldError::required(constraint_path.child("topologyKey"), "can not be empty"));
        }
        let action = string_or_empty(constraint, &["whenUnsatisfiable"]);
        if !["DoNotSchedule", "ScheduleAnyway"].contains(&action) {
            errors.push(FieldError::not_supported(
                constraint_path.child("whenUnsatisfiable"),
                Value::from(action),
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        let repeated = constraints[index + 1..]
            .iter()
            .any(|later| string_or_empty(later, &["topologyKey"]) == key && string_or_empty(later, &["whenUnsatisfiable"]) == action);
        if repeated {
            errors.push(FieldError::duplicate(
                constraint_path.child("{topologyKey, whenUnsatisfiable}"),
                Value::from(format!("{{{key}, {action}}}")),
            ));
        }
        if let Some(selector) = get(constraint, &["labelSelector"]).filter(|found| found.is_object()) {
            errors.extend(validate_label_selector(selector, &constraint_path.child("labelSelector")));
        }
    }
    errors
}

/// Names of things the spec refers to, and its own DNS names.
fn validate_referenced_names(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for field in ["serviceAccountName", "nodeName", "priorityClassName", "runtimeClassName"] {
        if let Some(name) = str_at(spec, &[field]).filter(|name| !name.is_empty() || field == "runtimeClassName") {
            errors.extend(invalid_each(&path.child(field), name, is_dns1123_subdomain(name)));
        }
    }
    for field in ["hostname", "subdomain"] {
        let name = string_or_empty(spec, &[field]);
        if !name.is_empty() {
            errors.extend(invalid_each(&path.child(field), name, is_dns1123_label(name)));
        }
    }
    if let Some(deadline) = i64_at(spec, &["activeDeadlineSeconds"]).filter(|deadline| !(1..=i64::from(i32::MAX)).contains(deadline)) {
        errors.push(FieldError::invalid(
            path.child("activeDeadlineSeconds"),
            Value::from(deadline),
            inclusive_range_error(1, i64::from(i32::MAX)),
        ));
    }
    errors
}

/// Upstream `ValidateTolerations`.
pub fn validate_tolerations(tolerations: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (index, toleration) in tolerations.iter().enumerate() {
        let toleration_path = path.index(index);
        let key = string_or_empty(toleration, &["key"]);
        let operator = string_or_empty(toleration, &["operator"]);
        let effect = string_or_empty(toleration, &["effect"]);
        let value = string_or_empty(toleration, &["value"]);
        if !key.is_empty() {
            errors.extend(invalid_each(&toleration_path.child("key"), key, is_qualified_name(key)));
        }
        if key.is_empty() && operator != "Exists" {
            let detail = "operator must be Exists when `key` is empty, which means \"match all values and all keys\"";
            errors.push(FieldError::invalid(toleration_path.child("operator"), Value::from(operator), detail));
        }
        if is_set(toleration, &["tolerationSeconds"]) && effect != "NoExecute" {
            errors.push(FieldError::invalid(
                toleration_path.child("effect"),
                Value::from(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            "Equal" | "" => {
                let problems = is_valid_label_value(value);
                if !problems.is_empty() {
                    errors.push(FieldError::invalid(toleration_path.child("operator"), Value::from(value), problems.join(";")));
                }
            }
            "Exists" if !value.is_empty() => {
                errors.push(FieldError::invalid(
                    toleration_path.child("operator"),
                    Value::from(value),
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
            "Exists" => {}
            other => errors.push(FieldError::not_supported(toleration_path.child("operator"), Value::from(other), &["Equal", "Exists"])),
        }
        if !effect.is_empty() {
            errors.extend(validate_taint_effect(effect, &toleration_path.child("effect")));
        }
    }
    errors
}

/// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
pub fn validate_taint_effect(effect: &str, path: &FieldPath) -> Vec<FieldError> {
    const EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
    if EFFECTS.contains(&effect) {
        Vec::new()
    } else {
        vec![FieldError::not_supported(path, Value::from(effect), &EFFECTS)]
    }
}

fn validate_host_aliases(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (index, alias) in array_at(spec, &["hostAliases"]).iter().enumerate() {
        let alias_path = path.index(index);
        errors.extend(validate_ip(&alias_path.child("ip"), string_or_empty(alias, &["ip"])));
        for (host_index, host) in array_at(alias, &["hostnames"]).iter().enumerate() {
            let name = host.as_str().unwrap_or_default();
            errors.extend(invalid_each(&alias_path.child("hostnames").index(host_index), name, is_dns1123_subdomain(name)));
        }
    }
    errors
}

/// Optional enumerations: preemption policy and OS name.
fn validate_scheduling_choices(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if is_set(spec, &["preemptionPolicy"]) {
        errors.extend(validate_choice(spec, "preemptionPolicy", &["PreemptLowerPriority", "Never"], path));
    }
    if let Some(os) = get(spec, &["os"]).filter(|found| found.is_object()) {
        errors.extend(validate_choice(os, "name", &["linux", "windows"], &path.child("os")));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(extra: Value) -> Value {
        let mut base = json!({
            "containers": [{"name": "app", "image": "nginx", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}],
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30
        });
        base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        base
    }

    fn messages(spec: Value) -> Vec<String> {
        validate_pod_spec(&spec, &FieldPath::new("spec"), true).iter().map(FieldError::to_message).collect()
    }

    #[test]
    fn valid_spec_has_no_errors() {
        assert!(messages(spec(json!({}))).is_empty());
    }

    #[test]
    fn containers_and_policies_are_required() {
        let rendered = messages(json!({}));
        assert_eq!(
            rendered,
            vec![
                "spec.terminationGracePeriodSeconds: Required value",
                "spec.containers: Required value",
                "spec.restartPolicy: Required value",
                "spec.dnsPolicy: Required value",
            ]
        );
        let bad = messages(spec(json!({"restartPolicy": "Sometimes"})));
        assert_eq!(
            bad,
            vec!["spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""]
        );
    }

    #[test]
    fn tolerations_follow_operator_rules() {
        let rendered = messages(spec(json!({"tolerations": [
            {"operator": "Equal", "value": "x"},
            {"key": "k", "operator": "Exists", "value": "v"},
            {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5},
        ]})));
        assert_eq!(rendered, vec![
            "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            "spec.tolerations[1].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
            "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set",
        ]);
    }

    #[test]
    fn host_network_ports_must_match() {
        let with_port = spec(json!({"hostNetwork": true}));
        let mut pod_spec = with_port.clone();
        pod_spec["containers"][0]["ports"] = json!([{"containerPort": 80, "hostPort": 81, "protocol": "TCP"}]);
        assert_eq!(
            messages(pod_spec),
            vec!["spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort` when `hostNetwork` is true"]
        );
    }

    #[test]
    fn dns_none_needs_nameservers_and_affinity_operators_are_checked() {
        assert_eq!(
            messages(spec(json!({"dnsPolicy": "None"}))),
            vec!["spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"]
        );
        let affinity = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In"}]}
        ]}}}});
        assert_eq!(messages(spec(affinity)), vec![
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
        ]);
    }

    #[test]
    fn template_rejects_ephemeral_containers() {
        let template = json!({"metadata": {"labels": {"app": "x"}}, "spec": spec(json!({"ephemeralContainers": [{"name": "debug", "image": "busybox"}]}))});
        let rendered: Vec<String> =
            validate_pod_template(&template, &FieldPath::new("spec").child("template")).iter().map(FieldError::to_message).collect();
        assert_eq!(rendered, vec!["spec.template.spec.ephemeralContainers: Forbidden: ephemeral containers not allowed in pod template"]);
    }
}
