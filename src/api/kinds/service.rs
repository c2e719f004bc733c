//! The Service kind: upstream `SetDefaults_Service` plus the IP family defaults the allocator fills in on a
//! single-stack IPv4 cluster, the strategy's status and cluster IP normalisation (an update that omits
//! allocated values keeps them, as the REST layer's `patchAllocatedValues` does), and create and update
//! validation (ports, types, session affinity, traffic policies, cluster IPs that never change once set).
//! Allocating cluster IPs and node ports is not a rule and lives elsewhere.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::containers::{validate_port_num_or_name, validate_protocol};
use super::meta::{
    duplicate_rendered, go_string_slice, invalid_each, invalid_rendered, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_port_num, validate_cidr, validate_ip, validate_labels, validate_non_special_ip,
};
use super::value::{
    array_at, copy_from, for_each_mut, get, i64_at, is_set, object_at, set, set_default, set_default_str, str_at, string_or_empty,
    with_object, FieldPath,
};
use crate::api::status::FieldError;

/// Upstream's default ClientIP affinity timeout, three hours.
const DEFAULT_CLIENT_IP_TIMEOUT: i64 = 10_800;
const MAX_CLIENT_IP_TIMEOUT: i64 = 86_400;

/// Defaulting of a Service.
pub fn default_service(obj: &mut Value) {
    with_object(obj, &["spec"], default_service_spec);
    if service_type(obj) == "LoadBalancer" {
        for_each_mut(obj, &["status", "loadBalancer", "ingress"], |ingress| {
            if !string_or_empty(ingress, &["ip"]).is_empty() {
                set_default(ingress, &["ipMode"], json!("VIP"));
            }
        });
    }
}

fn service_type(obj: &Value) -> &str {
    string_or_empty(obj, &["spec", "type"])
}

fn default_service_spec(spec: &mut Value) {
    set_default_str(spec, &["sessionAffinity"], "None");
    match string_or_empty(spec, &["sessionAffinity"]) {
        "None" => {
            spec.as_object_mut().map(|fields| fields.remove("sessionAffinityConfig"));
        }
        "ClientIP" => set_default(spec, &["sessionAffinityConfig", "clientIP", "timeoutSeconds"], json!(DEFAULT_CLIENT_IP_TIMEOUT)),
        _ => {}
    }
    set_default_str(spec, &["type"], "ClusterIP");
    for_each_mut(spec, &["ports"], default_service_port);
    let kind = string_or_empty(spec, &["type"]).to_string();
    if externally_accessible(spec) {
        set_default_str(spec, &["externalTrafficPolicy"], "Cluster");
    }
    if ["ClusterIP", "NodePort", "LoadBalancer"].contains(&kind.as_str()) {
        set_default(spec, &["internalTrafficPolicy"], json!("Cluster"));
    }
    if kind == "LoadBalancer" {
        set_default(spec, &["allocateLoadBalancerNodePorts"], json!(true));
    }
    if kind != "ExternalName" {
        default_ip_families(spec);
    }
}

/// A port without a target port targets itself.
fn default_service_port(port: &mut Value) {
    set_default_str(port, &["protocol"], "TCP");
    let target = get(port, &["targetPort"]);
    let unset = match target {
        None | Some(Value::Null) => true,
        Some(Value::Number(number)) => number.as_i64() == Some(0),
        Some(Value::String(name)) => name.is_empty(),
        Some(_) => false,
    };
    if unset {
        let number = get(port, &["port"]).cloned().unwrap_or(Value::Null);
        set(port, &["targetPort"], number);
    }
}

/// Upstream `ExternallyAccessible`: NodePort and LoadBalancer services, and ClusterIP ones with external IPs.
fn externally_accessible(spec: &Value) -> bool {
    match string_or_empty(spec, &["type"]) {
        "NodePort" | "LoadBalancer" => true,
        "ClusterIP" => !array_at(spec, &["externalIPs"]).is_empty(),
        _ => false,
    }
}

/// What the allocator sets on a single-stack cluster: one family, that of the requested cluster IP (IPv4 when
/// none), SingleStack. Headless services without a selector need no allocation and get both families.
fn default_ip_families(spec: &mut Value) {
    if is_headless(spec) && object_at(spec, &["selector"]).is_none_or(Map::is_empty) {
        set_default(spec, &["ipFamilyPolicy"], json!("RequireDualStack"));
        set_default(spec, &["ipFamilies"], json!(["IPv4", "IPv6"]));
        return;
    }
    set_default(spec, &["ipFamilyPolicy"], json!("SingleStack"));
    let requested = str_at(spec, &["clusterIP"]).or_else(|| array_at(spec, &["clusterIPs"]).first().and_then(Value::as_str));
    let family = match requested.and_then(|address| address.parse::<std::net::IpAddr>().ok()) {
        Some(std::net::IpAddr::V6(_)) => "IPv6",
        _ => "IPv4",
    };
    set_default(spec, &["ipFamilies"], json!([family]));
}

/// Upstream `isHeadlessService`: exactly one cluster IP, `None`. Before normalisation only `clusterIP` may be set.
fn is_headless(spec: &Value) -> bool {
    let cluster_ips = array_at(spec, &["clusterIPs"]);
    match cluster_ips {
        [only] => only == "None",
        [] => string_or_empty(spec, &["clusterIP"]) == "None",
        _ => false,
    }
}

/// The service strategy's create: an empty load balancer status, and `clusterIPs` following `clusterIP`.
pub fn prepare_service_for_create(obj: &mut Value) {
    set(obj, &["status"], json!({"loadBalancer": {}}));
    with_object(obj, &["spec"], |spec| {
        let cluster_ip = string_or_empty(spec, &["clusterIP"]).to_string();
        if !cluster_ip.is_empty() && array_at(spec, &["clusterIPs"]).is_empty() {
            set(spec, &["clusterIPs"], json!([cluster_ip]));
        }
    });
}

/// The service strategy's update: status is kept, values the user omitted but the cluster allocated are kept,
/// and a changed `clusterIP` drags an unchanged `clusterIPs` along (upstream `NormalizeClusterIPs`).
pub fn prepare_service_for_update(new: &mut Value, old: &Value) {
    copy_from(new, old, &["status"]);
    keep_allocated_values(new, old);
    let old_cluster_ip = string_or_empty(old, &["spec", "clusterIP"]);
    let new_cluster_ip = string_or_empty(new, &["spec", "clusterIP"]).to_string();
    let same_cluster_ips = array_at(old, &["spec", "clusterIPs"]) == array_at(new, &["spec", "clusterIPs"]);
    if old_cluster_ip != new_cluster_ip && same_cluster_ips {
        let cluster_ips = if new_cluster_ip.is_empty() { Value::Null } else { json!([new_cluster_ip]) };
        set(new, &["spec", "clusterIPs"], cluster_ips);
    }
}

fn keep_allocated_values(new: &mut Value, old: &Value) {
    let (old_type, new_type) = (service_type(old).to_string(), service_type(new).to_string());
    if old_type != "ExternalName" && new_type != "ExternalName" {
        for field in ["clusterIP", "clusterIPs"] {
            let missing = get(new, &["spec", field]).is_none_or(|value| value.is_null() || value == "" || value == &json!([]));
            if missing && is_set(old, &["spec", field]) {
                copy_from(new, old, &["spec", field]);
            }
        }
    }
    let needs_node_ports = |kind: &str| kind == "NodePort" || kind == "LoadBalancer";
    if needs_node_ports(&old_type) && needs_node_ports(&new_type) {
        keep_node_ports(new, old);
    }
    if needs_health_check(old) && needs_health_check(new) && i64_at(new, &["spec", "healthCheckNodePort"]).unwrap_or(0) == 0 {
        copy_from(new, old, &["spec", "healthCheckNodePort"]);
    }
}

/// A port without a node port gets the one its same-named port had, unless another port already uses it.
fn keep_node_ports(new: &mut Value, old: &Value) {
    let node_ports = |obj: &Value| -> BTreeSet<i64> {
        array_at(obj, &["spec", "ports"]).iter().filter_map(|port| i64_at(port, &["nodePort"])).collect()
    };
    let used: BTreeSet<i64> = node_ports(old).intersection(&node_ports(new)).copied().collect();
    let by_name: Vec<(String, i64)> = array_at(old, &["spec", "ports"])
        .iter()
        .map(|port| (string_or_empty(port, &["name"]).to_string(), i64_at(port, &["nodePort"]).unwrap_or(0)))
        .collect();
    for_each_mut(new, &["spec", "ports"], |port| {
        if i64_at(port, &["nodePort"]).unwrap_or(0) != 0 {
            return;
        }
        let name = string_or_empty(port, &["name"]);
        let previous = by_name.iter().rev().find(|(old_name, _)| old_name == name).map_or(0, |(_, node_port)| *node_port);
        if previous != 0 && !used.contains(&previous) {
            set(port, &["nodePort"], json!(previous));
        }
    });
}

/// Upstream `NeedsHealthCheck`: LoadBalancer services with the Local external traffic policy.
fn needs_health_check(obj: &Value) -> bool {
    service_type(obj) == "LoadBalancer" && string_or_empty(obj, &["spec", "externalTrafficPolicy"]) == "Local"
}

const SERVICE_TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

/// Upstream `ValidateService`.
pub fn validate_service(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let empty = Value::Object(Map::new());
    let spec = get(obj, &["spec"]).unwrap_or(&empty);
    let path = FieldPath::new("spec");
    let kind = string_or_empty(spec, &["type"]);
    let headless = array_at(spec, &["clusterIPs"]) == [json!("None")];
    if array_at(spec, &["ports"]).is_empty() && !headless && kind != "ExternalName" {
        errors.push(FieldError::required(path.child("ports"), ""));
    }
    errors.extend(validate_type_specifics(spec, kind, headless, &path));
    errors.extend(validate_ports(spec, &path.child("ports")));
    errors.extend(validate_labels(object_at(spec, &["selector"]), &path.child("selector")));
    errors.extend(validate_session_affinity(spec, &path));
    errors.extend(validate_cluster_ips(spec, kind, headless, &path));
    for (index, address) in array_at(spec, &["externalIPs"]).iter().enumerate() {
        let address_path = path.child("externalIPs").index(index);
        let text = address.as_str().unwrap_or_default();
        let invalid = validate_ip(&address_path, text);
        errors.extend(if invalid.is_empty() { validate_non_special_ip(&address_path, text) } else { invalid });
    }
    match kind {
        "" => errors.push(FieldError::required(path.child("type"), "")),
        known if SERVICE_TYPES.contains(&known) => {}
        other => errors.push(FieldError::not_supported(path.child("type"), Value::from(other), &SERVICE_TYPES)),
    }
    errors.extend(validate_node_ports(spec, kind, &path.child("ports")));
    errors.extend(validate_duplicate_ports(spec, &path.child("ports")));
    errors.extend(validate_load_balancer_fields(obj, spec, kind, &path));
    errors.extend(validate_traffic_policies(obj, spec, kind, &path));
    errors
}

fn validate_type_specifics(spec: &Value, kind: &str, headless: bool, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match kind {
        "LoadBalancer" | "NodePort" if headless => {
            let detail = format!("may not be set to 'None' for {kind} services");
            errors.push(FieldError::invalid(path.child("clusterIPs").index(0), json!("None"), detail));
        }
        "ExternalName" => {
            for field in ["clusterIPs", "ipFamilies"] {
                if !array_at(spec, &[field]).is_empty() {
                    errors.push(FieldError::forbidden(path.child(field), "may not be set for ExternalName services"));
                }
            }
            if is_set(spec, &["ipFamilyPolicy"]) {
                errors.push(FieldError::forbidden(path.child("ipFamilyPolicy"), "may not be set for ExternalName services"));
            }
            let external_name = string_or_empty(spec, &["externalName"]);
            let cname = external_name.strip_suffix('.').unwrap_or(external_name);
            if cname.is_empty() {
                errors.push(FieldError::required(path.child("externalName"), ""));
            } else {
                errors.extend(invalid_each(&path.child("externalName"), cname, is_dns1123_subdomain(cname)));
            }
        }
        _ => {}
    }
    errors
}

/// Upstream `validateServicePort` for each port.
fn validate_ports(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let ports = array_at(spec, &["ports"]);
    let mut errors = Vec::new();
    let mut names = BTreeSet::new();
    for (index, port) in ports.iter().enumerate() {
        let port_path = path.index(index);
        let name = string_or_empty(port, &["name"]);
        if ports.len() > 1 && name.is_empty() {
            errors.push(FieldError::required(port_path.child("name"), ""));
        } else if !name.is_empty() {
            errors.extend(invalid_each(&port_path.child("name"), name, is_dns1123_label(name)));
            if !names.insert(name) {
                errors.push(FieldError::duplicate(port_path.child("name"), Value::from(name)));
            }
        }
        let number = i64_at(port, &["port"]).unwrap_or(0);
        errors.extend(
            is_valid_port_num(number).into_iter().map(|message| FieldError::invalid(port_path.child("port"), Value::from(number), message)),
        );
        errors.extend(validate_protocol(port, &port_path));
        errors.extend(validate_port_num_or_name(get(port, &["targetPort"]), &port_path.child("targetPort")));
        if let Some(protocol) = str_at(port, &["appProtocol"]) {
            errors.extend(invalid_each(&port_path.child("appProtocol"), protocol, is_qualified_name(protocol)));
        }
    }
    errors
}

/// No two ports on the same protocol and port; upstream shows the colliding key as a Go struct.
fn validate_duplicate_ports(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let ports = array_at(spec, &["ports"]);
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, port) in ports.iter().enumerate() {
        let protocol = string_or_empty(port, &["protocol"]);
        let number = i64_at(port, &["port"]).unwrap_or(0);
        if !seen.insert((protocol, number)) {
            let rendered = format!(
                "core.ServicePort{{Name:\"\", Protocol:{protocol:?}, AppProtocol:(*string)(nil), Port:{number}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}"
            );
            errors.push(duplicate_rendered(&path.index(index), &rendered));
        }
    }
    errors
}

fn validate_session_affinity(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let config_path = path.child("sessionAffinityConfig");
    match string_or_empty(spec, &["sessionAffinity"]) {
        "" => vec![FieldError::required(path.child("sessionAffinity"), "")],
        "ClientIP" => {
            let when = "when session affinity type is ClientIP";
            if !is_set(spec, &["sessionAffinityConfig"]) {
                return vec![FieldError::required(config_path, when)];
            }
            if !is_set(spec, &["sessionAffinityConfig", "clientIP"]) {
                return vec![FieldError::required(config_path.child("clientIP"), when)];
            }
            let timeout_path = config_path.child("clientIP").child("timeoutSeconds");
            match i64_at(spec, &["sessionAffinityConfig", "clientIP", "timeoutSeconds"]) {
                None => vec![FieldError::required(timeout_path, when)],
                Some(timeout) if timeout <= 0 || timeout > MAX_CLIENT_IP_TIMEOUT => {
                    vec![FieldError::invalid(
                        timeout_path,
                        json!(timeout),
                        format!("must be greater than 0 and less than {MAX_CLIENT_IP_TIMEOUT}"),
                    )]
                }
                Some(_) => Vec::new(),
            }
        }
        "None" if is_set(spec, &["sessionAffinityConfig"]) => {
            vec![FieldError::forbidden(config_path, "must not be set when session affinity is None")]
        }
        "None" => Vec::new(),
        other => vec![FieldError::not_supported(path.child("sessionAffinity"), Value::from(other), &["ClientIP", "None"])],
    }
}

/// Upstream `ValidateServiceClusterIPsRelatedFields`.
fn validate_cluster_ips(spec: &Value, kind: &str, headless: bool, path: &FieldPath) -> Vec<FieldError> {
    if kind == "ExternalName" {
        return Vec::new();
    }
    let mut errors = Vec::new();
    let ips_path = path.child("clusterIPs");
    let cluster_ip = string_or_empty(spec, &["clusterIP"]);
    let cluster_ips: Vec<&str> = array_at(spec, &["clusterIPs"]).iter().map(|ip| ip.as_str().unwrap_or_default()).collect();
    let rendered = go_string_slice(get(spec, &["clusterIPs"]));
    if !cluster_ip.is_empty() {
        if cluster_ips.is_empty() {
            errors.push(FieldError::required(&ips_path, ""));
        } else if cluster_ips[0] != cluster_ip {
            errors.push(invalid_rendered(&ips_path, &rendered, "first value must match `clusterIP`"));
        }
    } else if !cluster_ips.is_empty() {
        errors.push(invalid_rendered(&ips_path, &rendered, "must be empty when `clusterIP` is not specified"));
    }
    errors.extend(validate_families(spec, path));
    let mut invalid_ips = false;
    for (index, ip) in cluster_ips.iter().enumerate() {
        if index == 0 && *ip == "None" {
            if cluster_ips.len() > 1 {
                invalid_ips = true;
                errors.push(invalid_rendered(&ips_path, &rendered, "'None' must be the first and only value"));
            }
            continue;
        }
        let ip_errors = validate_ip(&ips_path.index(index), ip);
        invalid_ips |= !ip_errors.is_empty();
        errors.extend(ip_errors);
    }
    if cluster_ips.len() > 2 {
        errors.push(invalid_rendered(&ips_path, &rendered, "may only hold up to 2 values"));
    }
    if invalid_ips {
        return errors;
    }
    let is_v6 = |ip: &str| ip.parse::<std::net::Ipv6Addr>().is_ok();
    if cluster_ips.len() == 2 && is_v6(cluster_ips[0]) == is_v6(cluster_ips[1]) {
        errors.push(invalid_rendered(&ips_path, &rendered, "may specify no more than one IP for each IP family"));
    }
    if !headless {
        for (index, (ip, family)) in cluster_ips.iter().zip(array_at(spec, &["ipFamilies"])).enumerate() {
            let expected_v6 = family == "IPv6";
            if family.as_str().is_some_and(|family| family == "IPv4" || family == "IPv6") && is_v6(ip) != expected_v6 {
                let wanted = if expected_v6 { "IPv6" } else { "IPv4" };
                let detail = format!("expected an {wanted} value as indicated by `ipFamilies[{index}]`");
                errors.push(FieldError::invalid(ips_path.index(index), Value::from(*ip), detail));
            }
        }
    }
    errors
}

fn validate_families(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, family) in array_at(spec, &["ipFamilies"]).iter().enumerate() {
        let text = family.as_str().unwrap_or_default();
        if text != "IPv4" && text != "IPv6" {
            errors.push(FieldError::not_supported(path.child("ipFamilies").index(index), family.clone(), &["IPv4", "IPv6"]));
        }
        if !seen.insert(text) {
            errors.push(FieldError::duplicate(path.child("ipFamilies").index(index), family.clone()));
        }
    }
    const POLICIES: [&str; 3] = ["PreferDualStack", "RequireDualStack", "SingleStack"];
    if let Some(policy) = str_at(spec, &["ipFamilyPolicy"]).filter(|policy| !POLICIES.contains(policy)) {
        errors.push(FieldError::not_supported(path.child("ipFamilyPolicy"), Value::from(policy), &POLICIES));
    }
    errors
}

/// Node ports: not on ClusterIP services, and unique per protocol.
fn validate_node_ports(spec: &Value, kind: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, port) in array_at(spec, &["ports"]).iter().enumerate() {
        let node_port = i64_at(port, &["nodePort"]).unwrap_or(0);
        if node_port == 0 {
            continue;
        }
        if kind == "ClusterIP" {
            errors.push(FieldError::forbidden(path.index(index).child("nodePort"), "may not be used when `type` is 'ClusterIP'"));
        }
        if !seen.insert((string_or_empty(port, &["protocol"]), node_port)) {
            errors.push(FieldError::duplicate(path.index(index).child("nodePort"), json!(node_port)));
        }
    }
    errors
}

const LOAD_BALANCER_SOURCE_RANGES_ANNOTATION: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";

/// Source ranges, node port allocation and load balancer class belong to LoadBalancer services only.
fn validate_load_balancer_fields(obj: &Value, spec: &Value, kind: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let only_lb = "may only be used when `type` is 'LoadBalancer'";
    let ranges = array_at(spec, &["loadBalancerSourceRanges"]);
    let annotation = str_at(obj, &["metadata", "annotations", LOAD_BALANCER_SOURCE_RANGES_ANNOTATION]);
    if !ranges.is_empty() {
        let ranges_path = path.child("LoadBalancerSourceRanges");
        if kind != "LoadBalancer" {
            errors.push(FieldError::forbidden(&ranges_path, only_lb));
        }
        for (index, range) in ranges.iter().enumerate() {
            errors.extend(validate_cidr(&ranges_path.index(index), range.as_str().unwrap_or_default().trim()));
        }
    } else if let Some(annotation) = annotation {
        let annotation_path = FieldPath::new("metadata").child("annotations").key(LOAD_BALANCER_SOURCE_RANGES_ANNOTATION);
        if kind != "LoadBalancer" {
            errors.push(FieldError::forbidden(&annotation_path, only_lb));
        }
        for range in annotation.trim().split(',').filter(|_| !annotation.trim().is_empty()) {
            errors.extend(validate_cidr(&annotation_path, range.trim()));
        }
    }
    match (kind == "LoadBalancer", is_set(spec, &["allocateLoadBalancerNodePorts"])) {
        (false, true) => errors.push(FieldError::forbidden(path.child("allocateLoadBalancerNodePorts"), only_lb)),
        (true, false) => errors.push(FieldError::required(FieldPath::new("allocateLoadBalancerNodePorts"), "")),
        _ => {}
    }
    match (kind == "LoadBalancer", str_at(spec, &["loadBalancerClass"])) {
        (true, Some(class)) => errors.extend(invalid_each(&path.child("loadBalancerClass"), class, is_qualified_name(class))),
        (false, Some(_)) => errors.push(FieldError::forbidden(path.child("loadBalancerClass"), only_lb)),
        _ => {}
    }
    errors
}

/// External traffic policy only where traffic comes from outside; the health check port only with Local on a
/// LoadBalancer; internal traffic policy always on IP-backed services.
fn validate_traffic_policies(obj: &Value, spec: &Value, kind: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let external = string_or_empty(spec, &["externalTrafficPolicy"]);
    if !externally_accessible(spec) {
        if !external.is_empty() {
            errors.push(FieldError::invalid(
                path.child("externalTrafficPolicy"),
                Value::from(external),
                "may only be set for externally-accessible services",
            ));
        }
    } else {
        errors.extend(super::containers::validate_choice(spec, "externalTrafficPolicy", &["Cluster", "Local"], path));
    }
    let health_port = i64_at(spec, &["healthCheckNodePort"]).unwrap_or(0);
    let health_path = path.child("healthCheckNodePort");
    if !needs_health_check(obj) {
        if health_port != 0 {
            let detail = "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'";
            errors.push(FieldError::invalid(&health_path, json!(health_port), detail));
        }
    } else if health_port == 0 {
        errors.push(FieldError::required(&health_path, ""));
    } else {
        errors.extend(
            is_valid_port_num(health_port).into_iter().map(|message| FieldError::invalid(&health_path, json!(health_port), message)),
        );
    }
    let internal = str_at(spec, &["internalTrafficPolicy"]);
    match internal {
        None if ["NodePort", "LoadBalancer", "ClusterIP"].contains(&kind) => {
            errors.push(FieldError::required(path.child("internalTrafficPolicy"), ""))
        }
        Some(policy) if policy != "Cluster" && policy != "Local" => {
            errors.push(FieldError::not_supported(path.child("internalTrafficPolicy"), Value::from(policy), &["Cluster", "Local"]));
        }
        _ => {}
    }
    if let Some(distribution) = str_at(spec, &["trafficDistribution"]) {
        const DISTRIBUTIONS: [&str; 3] = ["PreferClose", "PreferSameZone", "PreferSameNode"];
        if !DISTRIBUTIONS.contains(&distribution) {
            errors.push(FieldError::not_supported(path.child("trafficDistribution"), Value::from(distribution), &DISTRIBUTIONS));
        }
    }
    errors
}

/// Upstream `ValidateServiceUpdate`: cluster IPs and IP families may grow to dual stack or shrink back, but the
/// primary never changes; the load balancer class and health check port are fixed once set.
pub fn validate_service_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let external_name = service_type(new) == "ExternalName" || service_type(old) == "ExternalName";
    if !external_name {
        errors.extend(validate_dual_stack_change(new, old, "clusterIPs"));
        errors.extend(validate_dual_stack_change(new, old, "ipFamilies"));
    }
    if service_type(old) == "LoadBalancer"
        && service_type(new) == "LoadBalancer"
        && get(old, &["spec", "loadBalancerClass"]) != get(new, &["spec", "loadBalancerClass"])
    {
        let class = get(new, &["spec", "loadBalancerClass"]).cloned().unwrap_or(Value::Null);
        errors.push(FieldError::invalid(FieldPath::new("spec").child("loadBalancerClass"), class, "may not change once set"));
    }
    if needs_health_check(old)
        && needs_health_check(new)
        && i64_at(old, &["spec", "healthCheckNodePort"]) != i64_at(new, &["spec", "healthCheckNodePort"])
    {
        errors.push(FieldError::forbidden(FieldPath::new("spec").child("healthCheckNodePort"), "field is immutable"));
    }
    errors.extend(validate_service(new));
    errors
}

/// Upstream `validateUpgradeDowngradeClusterIPs` and `…IPFamilies`, which share one shape.
fn validate_dual_stack_change(new: &Value, old: &Value, field: &str) -> Vec<FieldError> {
    let (new_headless, old_headless) =
        (array_at(new, &["spec", "clusterIPs"]) == [json!("None")], array_at(old, &["spec", "clusterIPs"]) == [json!("None")]);
    if (field == "clusterIPs" && new_headless && old_headless) || (field == "ipFamilies" && (new_headless || old_headless)) {
        return Vec::new();
    }
    let (before, after) = (array_at(old, &["spec", field]), array_at(new, &["spec", field]));
    let path = FieldPath::new("spec").child(field);
    let rendered = go_string_slice(get(new, &["spec", field]));
    let singular = if field == "clusterIPs" { "clusterIP" } else { "ipFamily" };
    let mut errors = Vec::new();
    if before.len() == after.len() {
        for (index, (old_value, new_value)) in before.iter().zip(after).enumerate() {
            if old_value != new_value {
                let at = if field == "clusterIPs" { index } else { 0 };
                errors.push(invalid_rendered(&path.index(at), &rendered, "may not change once set"));
            }
        }
    } else if before.len() > after.len() {
        if after.is_empty() {
            errors.push(invalid_rendered(&path.index(0), &rendered, &format!("primary {singular} can not be unset")));
        } else if after[0] != before[0] {
            errors.push(invalid_rendered(&path.index(0), &rendered, "may not change once set"));
        }
        if after.len() == 1 && string_or_empty(new, &["spec", "ipFamilyPolicy"]) != "SingleStack" {
            let policy = get(new, &["spec", "ipFamilyPolicy"]).cloned().unwrap_or(Value::Null);
            let detail = format!("must be set to 'SingleStack' when releasing the secondary {singular}");
            errors.push(FieldError::invalid(FieldPath::new("spec").child("ipFamilyPolicy"), policy, detail));
        }
    } else if !before.is_empty() && after[0] != before[0] {
        errors.push(invalid_rendered(&path.index(0), &rendered, "may not change once set"));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(FieldError::to_message).collect()
    }

    fn created(mut service: Value) -> Value {
        default_service(&mut service);
        prepare_service_for_create(&mut service);
        service
    }

    fn web() -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    }

    #[test]
    fn minimal_service_is_defaulted() {
        let service = created(web());
        let spec = &service["spec"];
        assert_eq!(spec["type"], "ClusterIP");
        assert_eq!(spec["sessionAffinity"], "None");
        assert_eq!(spec["ports"][0], json!({"port": 80, "protocol": "TCP", "targetPort": 80}));
        assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
        assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
        assert_eq!(spec["internalTrafficPolicy"], "Cluster");
        assert!(spec.get("externalTrafficPolicy").is_none());
        assert_eq!(service["status"], json!({"loadBalancer": {}}));
        assert!(validate_service(&service).is_empty(), "{:?}", messages(&validate_service(&service)));
    }

    #[test]
    fn node_port_and_load_balancer_defaults() {
        let mut service = web();
        service["spec"]["type"] = json!("LoadBalancer");
        service["spec"]["sessionAffinity"] = json!("ClientIP");
        let service = created(service);
        assert_eq!(service["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(service["spec"]["allocateLoadBalancerNodePorts"], true);
        assert_eq!(service["spec"]["sessionAffinityConfig"], json!({"clientIP": {"timeoutSeconds": 10800}}));
    }

    #[test]
    fn headless_services() {
        let mut selectorless = web();
        selectorless["spec"] = json!({"clusterIP": "None"});
        let service = created(selectorless);
        assert_eq!(service["spec"]["clusterIPs"], json!(["None"]));
        assert_eq!(service["spec"]["ipFamilyPolicy"], "RequireDualStack");
        assert!(validate_service(&service).is_empty(), "{:?}", messages(&validate_service(&service)));
        let mut node_port = web();
        node_port["spec"]["clusterIP"] = json!("None");
        node_port["spec"]["type"] = json!("NodePort");
        let rendered = messages(&validate_service(&created(node_port)));
        assert_eq!(rendered, vec!["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"]);
    }

    #[test]
    fn common_mistakes_read_like_upstream() {
        let mut service = web();
        service["metadata"]["name"] = json!("1web");
        service["spec"]["type"] = json!("Internal");
        service["spec"]["ports"] = json!([{"port": 80}, {"port": 80, "nodePort": 30080}]);
        let rule = crate::api::kinds::name_rule_for_kind("Service");
        assert_eq!(messages(&crate::api::kinds::validate_object_meta(&service, true, rule)), vec![
            "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        ]);
        let rendered = messages(&validate_service(&created(service)));
        assert_eq!(rendered, vec![
            "spec.ports[0].name: Required value",
            "spec.ports[1].name: Required value",
            "spec.type: Unsupported value: \"Internal\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
            "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}",
        ]);
    }

    #[test]
    fn ports_are_required_and_node_ports_need_the_right_type() {
        let mut service = web();
        service["spec"]["ports"] = json!([]);
        assert_eq!(messages(&validate_service(&created(service))), vec!["spec.ports: Required value"]);
        let mut with_node_port = web();
        with_node_port["spec"]["ports"][0]["nodePort"] = json!(30080);
        assert_eq!(
            messages(&validate_service(&created(with_node_port))),
            vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
        );
    }

    #[test]
    fn cluster_ip_cannot_change_but_omitting_it_keeps_it() {
        let mut old = web();
        old["spec"]["clusterIP"] = json!("10.96.0.10");
        let old = created(old);
        let mut changed = old.clone();
        changed["spec"]["clusterIP"] = json!("10.96.0.11");
        default_service(&mut changed);
        prepare_service_for_update(&mut changed, &old);
        assert_eq!(
            messages(&validate_service_update(&changed, &old)),
            vec!["spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change once set"]
        );

        let mut applied = web();
        default_service(&mut applied);
        prepare_service_for_update(&mut applied, &old);
        assert_eq!(applied["spec"]["clusterIPs"], json!(["10.96.0.10"]));
        assert!(validate_service_update(&applied, &old).is_empty());
    }
}
