//! Validation of the containers of a pod spec (upstream `validateContainers`, `validateInitContainers` and
//! `validateContainerCommon`): names, images, ports, env, volume mounts, pull policy, resources, probes,
//! lifecycle hooks and security context, with upstream's messages.

use std::collections::BTreeSet;

use serde_json::Value;

use super::meta::{
    inclusive_range_error, invalid_each, is_config_map_key, is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_port_name,
    is_valid_port_num, validate_nonnegative,
};
use super::quantity::{parse_quantity, Quantity};
use super::value::{array_at, get, i64_at, is_set, object_at, str_at, string_or_empty, FieldPath};
use super::volumes::{validate_local_descending_path, Volumes};
use crate::api::status::FieldError;

/// What container validation needs from the surrounding pod spec.
pub struct PodContext<'a> {
    pub volumes: &'a Volumes<'a>,
    /// `spec.terminationGracePeriodSeconds`, bounding sleep hooks.
    pub grace_period: Option<i64>,
}

/// Upstream `validateContainers`: at least one container, each valid, names unique, host ports not shared.
pub fn validate_containers(containers: &[Value], path: &FieldPath, context: &PodContext) -> Vec<FieldError> {
    if containers.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errors = Vec::new();
    let mut names = BTreeSet::new();
    for (index, container) in containers.iter().enumerate() {
        let container_path = path.index(index);
        errors.extend(validate_container_common(container, &container_path, context));
        let name = string_or_empty(container, &["name"]);
        if !names.insert(name) {
            errors.push(FieldError::duplicate(container_path.child("name"), Value::from(name)));
        }
        errors.extend(validate_hooks_and_probes(container, &container_path, context));
        if is_set(container, &["restartPolicy"]) {
            errors.push(FieldError::forbidden(container_path.child("restartPolicy"), "may not be set for non-init containers"));
        }
    }
    errors.extend(check_host_port_conflicts(containers.iter().enumerate(), path));
    errors
}

/// Upstream `validateInitContainers`: common rules, names unique across regular and init containers, and
/// probes or hooks only on restartable (sidecar) init containers.
pub fn validate_init_containers(init: &[Value], regular: &[Value], path: &FieldPath, context: &PodContext) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut names: BTreeSet<&str> = regular.iter().map(|container| string_or_empty(container, &["name"])).collect();
    for (index, container) in init.iter().enumerate() {
        let container_path = path.index(index);
        errors.extend(validate_container_common(container, &container_path, context));
        let restart_policy = str_at(container, &["restartPolicy"]);
        if let Some(policy) = restart_policy.filter(|policy| *policy != "Always") {
            errors.push(FieldError::not_supported(container_path.child("restartPolicy"), Value::from(policy), &["Always"]));
        }
        let name = string_or_empty(container, &["name"]);
        if !names.insert(name) {
            errors.push(FieldError::duplicate(container_path.child("name"), Value::from(name)));
        }
        errors.extend(check_host_port_conflicts(std::iter::once((index, container)), path));
        if restart_policy == Some("Always") {
            errors.extend(validate_hooks_and_probes(container, &container_path, context));
        } else {
            for field in ["lifecycle", "livenessProbe", "readinessProbe", "startupProbe"] {
                if is_set(container, &[field]) {
                    errors.push(FieldError::forbidden(
                        container_path.child(field),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    errors
}

/// Upstream `validateContainerCommon`.
fn validate_container_common(container: &Value, path: &FieldPath, context: &PodContext) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = string_or_empty(container, &["name"]);
    if name.is_empty() {
        errors.push(FieldError::required(path.child("name"), ""));
    } else {
        errors.extend(invalid_each(&path.child("name"), name, is_dns1123_label(name)));
    }
    if string_or_empty(container, &["image"]).is_empty() {
        errors.push(FieldError::required(path.child("image"), ""));
    }
    errors.extend(validate_choice(container, "terminationMessagePolicy", &["File", "FallbackToLogsOnError"], path));
    errors.extend(validate_ports(array_at(container, &["ports"]), &path.child("ports")));
    errors.extend(validate_env(array_at(container, &["env"]), &path.child("env")));
    errors.extend(validate_env_from(array_at(container, &["envFrom"]), &path.child("envFrom")));
    errors.extend(validate_volume_mounts(container, &path.child("volumeMounts"), context.volumes));
    errors.extend(validate_choice(container, "imagePullPolicy", &["Always", "IfNotPresent", "Never"], path));
    errors.extend(validate_resources(get(container, &["resources"]), &path.child("resources")));
    errors.extend(validate_security_context(get(container, &["securityContext"]), &path.child("securityContext")));
    errors
}

/// `Required` when empty, `Unsupported value` when not one of `supported`.
pub fn validate_choice(parent: &Value, field: &str, supported: &[&str], path: &FieldPath) -> Vec<FieldError> {
    match string_or_empty(parent, &[field]) {
        "" => vec![FieldError::required(path.child(field), "")],
        value if supported.contains(&value) => Vec::new(),
        value => vec![FieldError::not_supported(path.child(field), Value::from(value), supported)],
    }
}

const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];

/// Upstream `validateContainerPorts`.
fn validate_ports(ports: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut names = BTreeSet::new();
    for (index, port) in ports.iter().enumerate() {
        let port_path = path.index(index);
        let name = string_or_empty(port, &["name"]);
        if !name.is_empty() {
            let problems = is_valid_port_name(name);
            if !problems.is_empty() {
                errors.extend(invalid_each(&port_path.child("name"), name, problems));
            } else if !names.insert(name) {
                errors.push(FieldError::duplicate(port_path.child("name"), Value::from(name)));
            }
        }
        match i64_at(port, &["containerPort"]).unwrap_or(0) {
            0 => errors.push(FieldError::required(port_path.child("containerPort"), "")),
            number => errors.extend(port_number_errors(number, &port_path.child("containerPort"))),
        }
        if let Some(host_port) = i64_at(port, &["hostPort"]).filter(|number| *number != 0) {
            errors.extend(port_number_errors(host_port, &port_path.child("hostPort")));
        }
        errors.extend(validate_protocol(port, &port_path));
    }
    errors
}

/// `Required` or `Unsupported value` for a `protocol` field (TCP, UDP, SCTP).
pub fn validate_protocol(port: &Value, path: &FieldPath) -> Vec<FieldError> {
    validate_choice(port, "protocol", &PROTOCOLS, path)
}

fn port_number_errors(number: i64, path: &FieldPath) -> Vec<FieldError> {
    is_valid_port_num(number).into_iter().map(|message| FieldError::invalid(path, Value::from(number), message)).collect()
}

/// Upstream `ValidatePortNumOrName`: a number in range or an IANA service name.
pub fn validate_port_num_or_name(port: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    match port {
        Some(Value::String(name)) => invalid_each(path, name, is_valid_port_name(name)),
        Some(Value::Number(number)) => port_number_errors(number.as_i64().unwrap_or(0), path),
        _ => port_number_errors(0, path),
    }
}

/// Relaxed env var names (GA upstream): any printable ASCII except `=`.
fn env_var_name_errors(name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push("environment variable name must be non-empty".to_string());
    }
    if name.chars().any(|c| !c.is_ascii() || c.is_ascii_control() || c == '=') {
        errors.push("a valid environment variable name must consist only of printable ASCII characters other than '='".to_string());
    }
    errors
}

const ENV_FIELD_PATHS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// The pod fields the v1 downward API can convert at all; anything else is a conversion error upstream.
const CONVERTIBLE_FIELD_PATHS: [&str; 14] = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// Upstream `ValidateEnv`.
fn validate_env(env: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (index, variable) in env.iter().enumerate() {
        let variable_path = path.index(index);
        let name = string_or_empty(variable, &["name"]);
        if name.is_empty() {
            errors.push(FieldError::required(variable_path.child("name"), ""));
        } else {
            errors.extend(invalid_each(&variable_path.child("name"), name, env_var_name_errors(name)));
        }
        if let Some(source) = get(variable, &["valueFrom"]).filter(|found| !found.is_null()) {
            errors.extend(validate_env_source(variable, source, &variable_path.child("valueFrom")));
        }
    }
    errors
}

fn validate_env_source(variable: &Value, source: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut count = 0;
    if let Some(field_ref) = get(source, &["fieldRef"]).filter(|found| !found.is_null()) {
        count += 1;
        errors.extend(validate_object_field_selector(field_ref, &ENV_FIELD_PATHS, &path.child("fieldRef")));
    }
    if let Some(resource_ref) = get(source, &["resourceFieldRef"]).filter(|found| !found.is_null()) {
        count += 1;
        errors.extend(validate_resource_field_selector(resource_ref, &path.child("resourceFieldRef")));
    }
    for field in ["configMapKeyRef", "secretKeyRef"] {
        if let Some(selector) = get(source, &[field]).filter(|found| !found.is_null()) {
            count += 1;
            errors.extend(validate_key_selector(selector, &path.child(field)));
        }
    }
    if count == 0 {
        errors.push(FieldError::invalid(
            path,
            Value::from(""),
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        ));
    } else if !string_or_empty(variable, &["value"]).is_empty() {
        errors.push(FieldError::invalid(path, Value::from(""), "may not be specified when `value` is not empty"));
    } else if count > 1 {
        errors.push(FieldError::invalid(path, Value::from(""), "may not have more than one field specified at a time"));
    }
    errors
}

/// Upstream `validateObjectFieldSelector`: a convertible v1 field path that the consumer supports, or a
/// subscripted `metadata.labels['key']` / `metadata.annotations['key']`.
pub fn validate_object_field_selector(selector: &Value, supported: &[&str], path: &FieldPath) -> Vec<FieldError> {
    if string_or_empty(selector, &["apiVersion"]).is_empty() {
        return vec![FieldError::required(path.child("apiVersion"), "")];
    }
    let field_path = string_or_empty(selector, &["fieldPath"]);
    if field_path.is_empty() {
        return vec![FieldError::required(path.child("fieldPath"), "")];
    }
    if let Some((base, subscript)) = split_subscript(field_path) {
        return match base {
            "metadata.annotations" => invalid_each(path, &subscript.to_lowercase(), is_qualified_name(&subscript.to_lowercase())),
            "metadata.labels" => invalid_each(path, subscript, is_qualified_name(subscript)),
            _ => vec![FieldError::invalid(path, Value::from(base), "does not support subscript")],
        };
    }
    if !CONVERTIBLE_FIELD_PATHS.contains(&field_path) {
        let detail = format!("error converting fieldPath: field label not supported: {field_path}");
        return vec![FieldError::invalid(path.child("fieldPath"), Value::from(field_path), detail)];
    }
    if supported.contains(&field_path) {
        Vec::new()
    } else {
        let mut sorted = supported.to_vec();
        sorted.sort_unstable();
        vec![FieldError::not_supported(path.child("fieldPath"), Value::from(field_path), &sorted)]
    }
}

/// `metadata.labels['app']` → (`metadata.labels`, `app`).
fn split_subscript(field_path: &str) -> Option<(&str, &str)> {
    let (base, rest) = field_path.split_once("['")?;
    Some((base, rest.strip_suffix("']")?))
}

const RESOURCE_FIELD_PATHS: [&str; 6] =
    ["limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu", "requests.ephemeral-storage", "requests.memory"];

fn validate_resource_field_selector(selector: &Value, path: &FieldPath) -> Vec<FieldError> {
    let resource = string_or_empty(selector, &["resource"]);
    let hugepages = resource.starts_with("limits.hugepages-") || resource.starts_with("requests.hugepages-");
    if resource.is_empty() {
        vec![FieldError::required(path.child("resource"), "")]
    } else if !RESOURCE_FIELD_PATHS.contains(&resource) && !hugepages {
        vec![FieldError::not_supported(path.child("resource"), Value::from(resource), &RESOURCE_FIELD_PATHS)]
    } else {
        Vec::new()
    }
}

/// configMapKeyRef and secretKeyRef: a subdomain name (checked even when empty, as upstream) and a config key.
fn validate_key_selector(selector: &Value, path: &FieldPath) -> Vec<FieldError> {
    let name = string_or_empty(selector, &["name"]);
    let mut errors = invalid_each(&path.child("name"), name, is_dns1123_subdomain(name));
    let key = string_or_empty(selector, &["key"]);
    if key.is_empty() {
        errors.push(FieldError::required(path.child("key"), ""));
    } else {
        errors.extend(invalid_each(&path.child("key"), key, is_config_map_key(key)));
    }
    errors
}

/// Upstream `ValidateEnvFrom`.
fn validate_env_from(sources: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let source_path = path.index(index);
        let prefix = string_or_empty(source, &["prefix"]);
        if !prefix.is_empty() {
            errors.extend(invalid_each(&source_path.child("prefix"), prefix, env_var_name_errors(prefix)));
        }
        let mut count = 0;
        for field in ["configMapRef", "secretRef"] {
            if let Some(reference) = get(source, &[field]).filter(|found| !found.is_null()) {
                count += 1;
                let name = string_or_empty(reference, &["name"]);
                if name.is_empty() {
                    errors.push(FieldError::required(source_path.child(field).child("name"), ""));
                } else {
                    errors.extend(invalid_each(
                        &source_path.child(field).child("name"),
                        name,
                        super::meta::name_errors(super::meta::NameRule::Subdomain, name, true),
                    ));
                }
            }
        }
        if count == 0 {
            errors.push(FieldError::invalid(path, Value::from(""), "must specify one of: `configMapRef` or `secretRef`"));
        } else if count > 1 {
            errors.push(FieldError::invalid(path, Value::from(""), "may not have more than one field specified at a time"));
        }
    }
    errors
}

/// Upstream `ValidateVolumeMounts`.
fn validate_volume_mounts(container: &Value, path: &FieldPath, volumes: &Volumes) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut mount_points = BTreeSet::new();
    let privileged = get(container, &["securityContext", "privileged"]).and_then(Value::as_bool) == Some(true);
    for (index, mount) in array_at(container, &["volumeMounts"]).iter().enumerate() {
        let mount_path = path.index(index);
        let name = string_or_empty(mount, &["name"]);
        if name.is_empty() {
            errors.push(FieldError::required(mount_path.child("name"), ""));
        }
        if !volumes.contains_key(name) {
            errors.push(FieldError::not_found(mount_path.child("name"), Value::from(name)));
        }
        let target = string_or_empty(mount, &["mountPath"]);
        if target.is_empty() {
            errors.push(FieldError::required(mount_path.child("mountPath"), ""));
        }
        if !mount_points.insert(target) {
            errors.push(FieldError::invalid(mount_path.child("mountPath"), Value::from(target), "must be unique"));
        }
        errors.extend(validate_sub_paths(mount, path, &mount_path));
        errors.extend(validate_mount_propagation(mount, privileged, &path.child("mountPropagation")));
    }
    errors
}

/// Upstream checks `subPath` and `subPathExpr` at the list's path (`volumeMounts.subPath`), not the item's.
fn validate_sub_paths(mount: &Value, list_path: &FieldPath, mount_path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let sub_path = string_or_empty(mount, &["subPath"]);
    if !sub_path.is_empty() {
        errors.extend(validate_local_descending_path(sub_path, &list_path.child("subPath")));
    }
    let expression = string_or_empty(mount, &["subPathExpr"]);
    if !expression.is_empty() {
        if !sub_path.is_empty() {
            errors.push(FieldError::invalid(
                mount_path.child("subPathExpr"),
                Value::from(expression),
                "subPathExpr and subPath are mutually exclusive",
            ));
        }
        errors.extend(validate_local_descending_path(expression, &list_path.child("subPathExpr")));
    }
    errors
}

fn validate_mount_propagation(mount: &Value, privileged: bool, path: &FieldPath) -> Vec<FieldError> {
    const MODES: [&str; 3] = ["Bidirectional", "HostToContainer", "None"];
    match str_at(mount, &["mountPropagation"]) {
        None => Vec::new(),
        Some(mode) if !MODES.contains(&mode) => {
            vec![FieldError::not_supported(path, Value::from(mode), &MODES)]
        }
        Some("Bidirectional") if !privileged => {
            vec![FieldError::forbidden(path, "Bidirectional mount propagation is available only to privileged containers")]
        }
        Some(_) => Vec::new(),
    }
}

/// Liveness, readiness and startup probes and lifecycle hooks: allowed on regular and sidecar containers.
fn validate_hooks_and_probes(container: &Value, path: &FieldPath, context: &PodContext) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for hook in ["postStart", "preStop"] {
        if let Some(handler) = get(container, &["lifecycle", hook]).filter(|found| !found.is_null()) {
            errors.extend(validate_handler(handler, true, &path.child("lifecycle").child(hook), context));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(body) = get(container, &[probe]).filter(|found| !found.is_null()) {
            errors.extend(validate_probe(probe, body, &path.child(probe), context));
        }
    }
    errors
}

fn validate_probe(kind: &str, probe: &Value, path: &FieldPath, context: &PodContext) -> Vec<FieldError> {
    let mut errors = validate_handler(probe, false, path, context);
    for field in ["initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"] {
        errors.extend(validate_nonnegative(i64_at(probe, &[field]), &path.child(field)));
    }
    if let Some(grace) = i64_at(probe, &["terminationGracePeriodSeconds"]) {
        if grace <= 0 {
            errors.push(FieldError::invalid(path.child("terminationGracePeriodSeconds"), Value::from(grace), "must be greater than 0"));
        }
        if kind == "readinessProbe" {
            errors.push(FieldError::invalid(
                path.child("terminationGracePeriodSeconds"),
                Value::from(grace),
                "must not be set for readinessProbes",
            ));
        }
    }
    let success = i64_at(probe, &["successThreshold"]).unwrap_or(1);
    if kind != "readinessProbe" && success != 1 {
        errors.push(FieldError::invalid(path.child("successThreshold"), Value::from(success), "must be 1"));
    }
    errors
}

/// Upstream `validateHandler`: exactly one of exec, httpGet, tcpSocket, grpc (probes) or sleep (hooks).
fn validate_handler(handler: &Value, lifecycle: bool, path: &FieldPath, context: &PodContext) -> Vec<FieldError> {
    let kinds: &[&str] = if lifecycle { &["exec", "httpGet", "tcpSocket", "sleep"] } else { &["exec", "httpGet", "tcpSocket", "grpc"] };
    let mut errors = Vec::new();
    let mut found = 0;
    for kind in kinds.iter().filter(|kind| is_set(handler, &[kind])) {
        let kind_path = path.child(kind);
        if found > 0 {
            errors.push(FieldError::forbidden(kind_path, "may not specify more than 1 handler type"));
            continue;
        }
        found += 1;
        let body = get(handler, &[kind]).unwrap_or(&Value::Null);
        errors.extend(match *kind {
            "exec" if array_at(body, &["command"]).is_empty() => {
                vec![FieldError::required(kind_path.child("command"), "")]
            }
            "httpGet" => validate_http_get(body, &kind_path),
            "tcpSocket" | "grpc" => validate_port_num_or_name(get(body, &["port"]), &kind_path.child("port")),
            "sleep" => validate_sleep(body, &kind_path, context.grace_period),
            _ => Vec::new(),
        });
    }
    if found == 0 {
        errors.push(FieldError::required(path, "must specify a handler type"));
    }
    errors
}

fn validate_http_get(action: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if string_or_empty(action, &["path"]).is_empty() {
        errors.push(FieldError::required(path.child("path"), ""));
    }
    errors.extend(validate_port_num_or_name(get(action, &["port"]), &path.child("port")));
    let scheme = string_or_empty(action, &["scheme"]);
    if scheme != "HTTP" && scheme != "HTTPS" {
        errors.push(FieldError::not_supported(path.child("scheme"), Value::from(scheme), &["HTTP", "HTTPS"]));
    }
    for header in array_at(action, &["httpHeaders"]) {
        let name = string_or_empty(header, &["name"]);
        if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
            let message = "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')";
            errors.push(FieldError::invalid(path.child("httpHeaders"), Value::from(name), message));
        }
    }
    errors
}

fn validate_sleep(action: &Value, path: &FieldPath, grace_period: Option<i64>) -> Vec<FieldError> {
    let seconds = i64_at(action, &["seconds"]).unwrap_or(0);
    match grace_period {
        Some(grace) if seconds < 0 || seconds > grace => {
            let detail = format!("must be non-negative and less than terminationGracePeriodSeconds ({grace})");
            vec![FieldError::invalid(path, Value::from(seconds), detail)]
        }
        _ => Vec::new(),
    }
}

/// Upstream `AccumulateUniqueHostPorts`: no two ports may claim the same protocol, host IP and host port.
fn check_host_port_conflicts<'a>(containers: impl Iterator<Item = (usize, &'a Value)>, path: &FieldPath) -> Vec<FieldError> {
    let mut seen = BTreeSet::new();
    let mut errors = Vec::new();
    for (container_index, container) in containers {
        for (port_index, port) in array_at(container, &["ports"]).iter().enumerate() {
            let host_port = i64_at(port, &["hostPort"]).unwrap_or(0);
            if host_port == 0 {
                continue;
            }
            let key = format!("{}/{}/{host_port}", string_or_empty(port, &["protocol"]), string_or_empty(port, &["hostIP"]));
            if !seen.insert(key.clone()) {
                errors.push(FieldError::duplicate(
                    path.index(container_index).child("ports").index(port_index).child("hostPort"),
                    Value::from(key),
                ));
            }
        }
    }
    errors
}

/// User and group ids: 0 to 2^32-1.
pub fn validate_id(value: Option<i64>, path: &FieldPath) -> Vec<FieldError> {
    match value {
        Some(id) if !(0..=0xffff_ffff).contains(&id) => {
            vec![FieldError::invalid(path, Value::from(id), inclusive_range_error(0, 0xffff_ffff))]
        }
        _ => Vec::new(),
    }
}

fn validate_security_context(context: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    let Some(context) = context.filter(|found| found.is_object()) else {
        return Vec::new();
    };
    let mut errors = validate_id(i64_at(context, &["runAsUser"]), &path.child("runAsUser"));
    errors.extend(validate_id(i64_at(context, &["runAsGroup"]), &path.child("runAsGroup")));
    let privileged = get(context, &["privileged"]).and_then(Value::as_bool) == Some(true);
    if privileged && get(context, &["allowPrivilegeEscalation"]).and_then(Value::as_bool) == Some(false) {
        errors.push(FieldError::invalid(
            path,
            Value::from("false"),
            "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        ));
    }
    errors.extend(validate_seccomp_profile(get(context, &["seccompProfile"]), &path.child("seccompProfile")));
    errors
}

/// Upstream `validateSeccompProfileField`.
pub fn validate_seccomp_profile(profile: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    let Some(profile) = profile.filter(|found| found.is_object()) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    let kind = string_or_empty(profile, &["type"]);
    match kind {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errors.push(FieldError::required(path.child("type"), "type is required when seccompProfile is set")),
        other => {
            errors.push(FieldError::not_supported(path.child("type"), Value::from(other), &["Localhost", "RuntimeDefault", "Unconfined"]))
        }
    }
    let localhost = str_at(profile, &["localhostProfile"]);
    match (kind, localhost) {
        ("Localhost", None) => {
            errors.push(FieldError::required(path.child("localhostProfile"), "must be set when seccomp type is Localhost"))
        }
        ("Localhost", Some(file)) => errors.extend(validate_local_descending_path(file, &path.child("localhostProfile"))),
        (_, Some(_)) => errors.push(FieldError::invalid(
            path.child("localhostProfile"),
            profile.clone(),
            "can only be set when seccomp type is Localhost",
        )),
        (_, None) => {}
    }
    errors
}

const STANDARD_CONTAINER_RESOURCES: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];
const STANDARD_RESOURCES: [&str; 20] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

fn is_huge_pages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

/// Native resources are unprefixed or under `kubernetes.io/`; everything else prefixed is extended.
fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_extended(name: &str) -> bool {
    !is_native(name) && !name.starts_with("requests.") && is_qualified_name(&format!("requests.{name}")).is_empty()
}

/// Only native non-hugepage resources may be overcommitted (request below limit).
fn is_overcommit_allowed(name: &str) -> bool {
    is_native(name) && !is_huge_pages(name)
}

/// Upstream `validateContainerResourceName`.
fn validate_container_resource_name(name: &str, path: &FieldPath) -> Vec<FieldError> {
    let problems = is_qualified_name(name);
    if !problems.is_empty() {
        return invalid_each(path, name, problems);
    }
    let mut errors = Vec::new();
    if !name.contains('/') {
        if !STANDARD_RESOURCES.contains(&name) && !is_huge_pages(name) {
            errors.push(FieldError::invalid(path, Value::from(name), "must be a standard resource type or fully qualified"));
        }
        if !STANDARD_CONTAINER_RESOURCES.contains(&name) && !is_huge_pages(name) {
            errors.push(FieldError::invalid(path, Value::from(name), "must be a standard resource for containers"));
        }
    } else if !is_native(name) && !is_extended(name) {
        errors.push(FieldError::invalid(path, Value::from(name), "doesn't follow extended resource name standard"));
    }
    errors
}

/// One entry of `requests` or `limits`: the errors of its name and quantity, and the quantity when it parses.
fn parse_resource_entry(name: &str, raw: &Value, path: &FieldPath) -> (Option<Quantity>, Vec<FieldError>) {
    let mut errors = validate_container_resource_name(name, path);
    let text = raw.as_str().map(str::to_string).unwrap_or_else(|| raw.to_string());
    match parse_quantity(&text) {
        Ok(quantity) => {
            errors.extend(validate_quantity_value(name, &quantity, path));
            (Some(quantity), errors)
        }
        Err(message) => {
            errors.push(FieldError::invalid(path, raw.clone(), message));
            (None, errors)
        }
    }
}

/// Upstream `ValidateResourceQuantityValue` plus the huge page size rule.
fn validate_quantity_value(name: &str, quantity: &Quantity, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if quantity.millis() < 0 {
        errors.push(FieldError::invalid(path, Value::from(quantity.to_string()), "must be greater than or equal to 0"));
    }
    if is_extended(name) && quantity.millis() % 1000 != 0 {
        errors.push(FieldError::invalid(path, Value::from(quantity.to_string()), "must be an integer"));
    }
    if let Some(page) = name.strip_prefix("hugepages-").and_then(|size| parse_quantity(size).ok()) {
        if page.millis() <= 0 || quantity.millis() % page.millis() != 0 {
            errors.push(FieldError::invalid(
                path,
                Value::from(quantity.to_string()),
                format!("{quantity} is not positive integer multiple of {name}"),
            ));
        }
    }
    errors
}

/// Upstream `validateResourceRequirements` for containers: names, quantities, requests ≤ limits, equal for
/// resources that cannot be overcommitted.
pub fn validate_resources(resources: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    let Some(resources) = resources else {
        return Vec::new();
    };
    let limits_path = path.child("limits");
    let requests_path = path.child("requests");
    let mut errors = Vec::new();
    let mut limits = Vec::new();
    for (name, raw) in object_at(resources, &["limits"]).into_iter().flatten() {
        let (quantity, entry_errors) = parse_resource_entry(name, raw, &limits_path.key(name));
        errors.extend(entry_errors);
        limits.extend(quantity.map(|quantity| (name.as_str(), quantity)));
    }
    let mut names: Vec<&str> = limits.iter().map(|(name, _)| *name).collect();
    for (name, raw) in object_at(resources, &["requests"]).into_iter().flatten() {
        let (request, entry_errors) = parse_resource_entry(name, raw, &requests_path.key(name));
        errors.extend(entry_errors);
        names.push(name);
        let limit = limits.iter().find(|(limit_name, _)| limit_name == name).map(|(_, limit)| limit);
        if let Some(request) = request {
            errors.extend(compare_request_to_limit(name, &request, limit, &requests_path, &limits_path));
        }
    }
    if names.iter().any(|name| is_huge_pages(name)) && !names.iter().any(|name| *name == "cpu" || *name == "memory") {
        errors.push(FieldError::forbidden(path, "HugePages require cpu or memory"));
    }
    errors
}

fn compare_request_to_limit(
    name: &str,
    request: &Quantity,
    limit: Option<&Quantity>,
    requests_path: &FieldPath,
    limits_path: &FieldPath,
) -> Vec<FieldError> {
    let overcommit = is_overcommit_allowed(name);
    match limit {
        Some(limit) if request != limit && !overcommit => {
            vec![FieldError::invalid(requests_path, Value::from(request.to_string()), format!("must be equal to {name} limit of {limit}"))]
        }
        Some(limit) if request > limit => {
            let detail = format!("must be less than or equal to {name} limit of {limit}");
            vec![FieldError::invalid(requests_path, Value::from(request.to_string()), detail)]
        }
        None if !overcommit => vec![FieldError::required(limits_path, "Limit must be set for non overcommitable resources")],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(containers: Value) -> Vec<String> {
        let volumes = Volumes::new();
        let context = PodContext { volumes: &volumes, grace_period: Some(30) };
        let list = containers.as_array().unwrap().clone();
        validate_containers(&list, &FieldPath::new("spec").child("containers"), &context).iter().map(FieldError::to_message).collect()
    }

    fn container(extra: Value) -> Value {
        let mut base = json!({"name": "app", "image": "nginx", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"});
        base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        base
    }

    #[test]
    fn image_and_name_are_required() {
        let rendered = messages(json!([{"imagePullPolicy": "Always", "terminationMessagePolicy": "File"}]));
        assert_eq!(rendered, vec!["spec.containers[0].name: Required value", "spec.containers[0].image: Required value"]);
    }

    #[test]
    fn duplicate_names_and_port_rules() {
        let rendered = messages(json!([
            container(
                json!({"ports": [{"containerPort": 70000, "protocol": "TCP"}, {"name": "HTTP", "containerPort": 80, "protocol": "HTTP"}]})
            ),
            container(json!({})),
        ]));
        assert_eq!(rendered, vec![
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[1].name: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            "spec.containers[0].ports[1].name: Invalid value: \"HTTP\": must contain at least one letter (a-z)",
            "spec.containers[0].ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.containers[1].name: Duplicate value: \"app\"",
        ]);
    }

    #[test]
    fn requests_must_not_exceed_limits() {
        let rendered =
            messages(json!([container(json!({"resources": {"limits": {"cpu": "500m"}, "requests": {"cpu": "1", "memory": "lots"}}}))]));
        assert_eq!(rendered, vec![
            "spec.containers[0].resources.requests: Invalid value: \"1\": must be less than or equal to cpu limit of 500m",
            "spec.containers[0].resources.requests[memory]: Invalid value: \"lots\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        ]);
    }

    #[test]
    fn extended_resources_need_equal_integer_limits() {
        let rendered = messages(json!([container(json!({"resources": {"requests": {"example.com/gpu": "1", "gpu": "1"}}}))]));
        assert_eq!(
            rendered,
            vec![
                "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources",
                "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified",
                "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource for containers",
            ],
            "entries are checked in key order, each with its own comparison"
        );
    }

    #[test]
    fn probes_need_a_handler_and_liveness_success_threshold_one() {
        let rendered = messages(json!([container(
            json!({"livenessProbe": {"successThreshold": 2}, "readinessProbe": {"httpGet": {"path": "/", "port": 0, "scheme": "HTTP"}}})
        )]));
        assert_eq!(
            rendered,
            vec![
                "spec.containers[0].livenessProbe: Required value: must specify a handler type",
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
                "spec.containers[0].readinessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive",
            ]
        );
    }

    #[test]
    fn env_sources_and_mounts() {
        let rendered = messages(json!([container(json!({
            "env": [{"name": "A", "valueFrom": {}}, {"name": "B", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.phase"}}}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}]
        }))]));
        assert_eq!(rendered, vec![
            "spec.containers[0].env[0].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Unsupported value: \"status.phase\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"",
            "spec.containers[0].volumeMounts[0].name: Not found: \"data\"",
        ]);
    }

    #[test]
    fn host_ports_may_not_collide() {
        let port = json!({"ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}]});
        let mut second = container(port.clone());
        second["name"] = json!("other");
        let rendered = messages(json!([container(port), second]));
        assert_eq!(rendered, vec!["spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\""]);
    }
}
