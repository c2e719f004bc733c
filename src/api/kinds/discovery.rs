//! Service endpoints in both shapes: core/v1 `Endpoints` and discovery.k8s.io/v1 `EndpointSlice`. Ports default
//! to TCP (and slice port names to ""), addresses must be real, non-local IPs of the slice's type, and the slice
//! limits (1000 endpoints, 100 addresses each, 20000 ports) are upstream's.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::containers::validate_protocol;
use super::meta::{
    invalid_each, is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_port_num, too_many, validate_immutable, validate_ip,
    validate_non_special_ip,
};
use super::value::{array_at, for_each_mut, get, i64_at, set_default, set_default_str, str_at, string_or_empty, FieldPath};
use crate::api::status::FieldError;

/// Defaulting of Endpoints: ports are TCP unless they say otherwise.
pub fn default_endpoints(obj: &mut Value) {
    for_each_mut(obj, &["subsets"], |subset| for_each_mut(subset, &["ports"], |port| set_default_str(port, &["protocol"], "TCP")));
}

/// Upstream `ValidateEndpoints`.
pub fn validate_endpoints(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (index, subset) in array_at(obj, &["subsets"]).iter().enumerate() {
        let path = FieldPath::new("subsets").index(index);
        let (ready, not_ready) = (array_at(subset, &["addresses"]), array_at(subset, &["notReadyAddresses"]));
        if ready.is_empty() && not_ready.is_empty() {
            errors.push(FieldError::required(&path, "must specify `addresses` or `notReadyAddresses`"));
        }
        for (list, addresses) in [("addresses", ready), ("notReadyAddresses", not_ready)] {
            for (address_index, address) in addresses.iter().enumerate() {
                errors.extend(validate_endpoint_address(address, &path.child(list).index(address_index)));
            }
        }
        let ports = array_at(subset, &["ports"]);
        for (port_index, port) in ports.iter().enumerate() {
            errors.extend(validate_endpoint_port(port, ports.len() > 1, &path.child("ports").index(port_index)));
        }
    }
    errors
}

/// An Endpoints update follows the create rules.
pub fn validate_endpoints_update(new: &Value, _old: &Value) -> Vec<FieldError> {
    validate_endpoints(new)
}

fn validate_endpoint_address(address: &Value, path: &FieldPath) -> Vec<FieldError> {
    let ip = string_or_empty(address, &["ip"]);
    let mut errors = validate_ip(&path.child("ip"), ip);
    let hostname = string_or_empty(address, &["hostname"]);
    if !hostname.is_empty() {
        errors.extend(invalid_each(&path.child("hostname"), hostname, is_dns1123_label(hostname)));
    }
    if let Some(node) = str_at(address, &["nodeName"]) {
        errors.extend(invalid_each(&path.child("nodeName"), node, is_dns1123_subdomain(node)));
    }
    errors.extend(validate_non_special_ip(&path.child("ip"), ip));
    errors
}

/// A port of Endpoints: named when there are several, in range, a supported protocol.
fn validate_endpoint_port(port: &Value, require_name: bool, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = string_or_empty(port, &["name"]);
    if require_name && name.is_empty() {
        errors.push(FieldError::required(path.child("name"), ""));
    } else if !name.is_empty() {
        errors.extend(invalid_each(&path.child("name"), name, is_dns1123_label(name)));
    }
    let number = i64_at(port, &["port"]).unwrap_or(0);
    errors.extend(is_valid_port_num(number).into_iter().map(|message| FieldError::invalid(path.child("port"), json!(number), message)));
    errors.extend(validate_protocol(port, path));
    if let Some(protocol) = str_at(port, &["appProtocol"]) {
        errors.extend(invalid_each(&path.child("appProtocol"), protocol, is_qualified_name(protocol)));
    }
    errors
}

const MAX_ENDPOINTS: usize = 1000;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 20000;
const ADDRESS_TYPES: [&str; 3] = ["FQDN", "IPv4", "IPv6"];

/// Defaulting of an EndpointSlice: each port gets a name (`""`) and a protocol (TCP).
pub fn default_endpoint_slice(obj: &mut Value) {
    for_each_mut(obj, &["ports"], |port| {
        set_default(port, &["name"], json!(""));
        set_default(port, &["protocol"], json!("TCP"));
    });
}

/// Upstream `ValidateEndpointSlice`.
pub fn validate_endpoint_slice(obj: &Value) -> Vec<FieldError> {
    validate_endpoint_slice_contents(obj)
}

fn validate_endpoint_slice_contents(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let address_type = string_or_empty(obj, &["addressType"]);
    match address_type {
        "" => errors.push(FieldError::required(FieldPath::new("addressType"), "")),
        known if ADDRESS_TYPES.contains(&known) => {}
        other => errors.push(FieldError::not_supported(FieldPath::new("addressType"), json!(other), &ADDRESS_TYPES)),
    }
    errors.extend(validate_slice_endpoints(array_at(obj, &["endpoints"]), address_type));
    errors.extend(validate_slice_ports(array_at(obj, &["ports"])));
    errors
}

fn validate_slice_endpoints(endpoints: &[Value], address_type: &str) -> Vec<FieldError> {
    let path = FieldPath::new("endpoints");
    if endpoints.len() > MAX_ENDPOINTS {
        return vec![too_many(&path, endpoints.len(), MAX_ENDPOINTS)];
    }
    let mut errors = Vec::new();
    for (index, endpoint) in endpoints.iter().enumerate() {
        let endpoint_path = path.index(index);
        let addresses_path = endpoint_path.child("addresses");
        let addresses = array_at(endpoint, &["addresses"]);
        if addresses.is_empty() {
            errors.push(FieldError::required(&addresses_path, "must contain at least 1 address"));
        } else if addresses.len() > MAX_ADDRESSES {
            errors.push(too_many(&addresses_path, addresses.len(), MAX_ADDRESSES));
        }
        for (address_index, address) in addresses.iter().enumerate() {
            errors.extend(validate_slice_address(address.as_str().unwrap_or_default(), address_type, &addresses_path.index(address_index)));
        }
        if let Some(node) = str_at(endpoint, &["nodeName"]) {
            errors.extend(invalid_each(&endpoint_path.child("nodeName"), node, is_dns1123_subdomain(node)));
        }
        if let Some(hostname) = str_at(endpoint, &["hostname"]) {
            errors.extend(invalid_each(&endpoint_path.child("hostname"), hostname, is_dns1123_label(hostname)));
        }
    }
    errors
}

fn validate_slice_address(address: &str, address_type: &str, path: &FieldPath) -> Vec<FieldError> {
    let invalid = |detail: &str| vec![FieldError::invalid(path, json!(address), detail.to_string())];
    match address_type {
        "IPv4" if address.parse::<std::net::Ipv4Addr>().is_err() => invalid("must be a valid IPv4 address"),
        "IPv6" if address.parse::<std::net::Ipv6Addr>().is_err() => invalid("must be a valid IPv6 address"),
        "IPv4" | "IPv6" => validate_non_special_ip(path, address),
        "FQDN" => {
            let name = address.strip_suffix('.').unwrap_or(address);
            let problems = is_dns1123_subdomain(name);
            if !problems.is_empty() {
                return vec![FieldError::invalid(path, json!(name), problems.join(","))];
            }
            if name.split('.').count() < 2 {
                return vec![FieldError::invalid(path, json!(name), "should be a domain with at least two segments separated by dots")];
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn validate_slice_ports(ports: &[Value]) -> Vec<FieldError> {
    let path = FieldPath::new("ports");
    if ports.len() > MAX_PORTS {
        return vec![too_many(&path, ports.len(), MAX_PORTS)];
    }
    let mut errors = Vec::new();
    let mut names = BTreeSet::new();
    for (index, port) in ports.iter().enumerate() {
        let port_path = path.index(index);
        let name = string_or_empty(port, &["name"]);
        if !name.is_empty() {
            errors.extend(invalid_each(&port_path.child("name"), name, is_dns1123_label(name)));
        }
        if !names.insert(name) {
            errors.push(FieldError::duplicate(port_path.child("name"), json!(name)));
        }
        if let Some(number) = i64_at(port, &["port"]) {
            errors.extend(
                is_valid_port_num(number).into_iter().map(|message| FieldError::invalid(port_path.child("port"), json!(number), message)),
            );
        }
        errors.extend(validate_protocol(port, &port_path));
        if let Some(protocol) = str_at(port, &["appProtocol"]) {
            errors.extend(invalid_each(&port_path.child("appProtocol"), protocol, is_qualified_name(protocol)));
        }
    }
    errors
}

/// Upstream `ValidateEndpointSliceUpdate`: the address type is fixed.
pub fn validate_endpoint_slice_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_endpoint_slice_contents(new));
    errors.extend(validate_immutable(get(new, &["addressType"]), get(old, &["addressType"]), &FieldPath::new("addressType")));
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(FieldError::to_message).collect()
    }

    #[test]
    fn endpoints_default_ports_and_check_addresses() {
        let mut endpoints = json!({"metadata": {"name": "web", "namespace": "default"}, "subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "127.0.0.1"}], "ports": [{"port": 80}]},
            {"ports": [{"name": "a", "port": 80}, {"port": 0}]}
        ]});
        default_endpoints(&mut endpoints);
        assert_eq!(endpoints["subsets"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(
            messages(&validate_endpoints(&endpoints)),
            vec![
                "subsets[0].addresses[1].ip: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)",
                "subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`",
                "subsets[1].ports[1].name: Required value",
                "subsets[1].ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            ]
        );
    }

    #[test]
    fn endpoint_slice_defaults_and_rules() {
        let mut slice = json!({"metadata": {"name": "web-abc", "namespace": "default"}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["fe80::1"]}, {"addresses": []}], "ports": [{"port": 80}]});
        default_endpoint_slice(&mut slice);
        assert_eq!(slice["ports"][0], json!({"name": "", "port": 80, "protocol": "TCP"}));
        assert_eq!(
            messages(&validate_endpoint_slice(&slice)),
            vec![
                "endpoints[1].addresses[0]: Invalid value: \"fe80::1\": must be a valid IPv4 address",
                "endpoints[2].addresses: Required value: must contain at least 1 address",
            ]
        );
        let mut retyped = slice.clone();
        retyped["addressType"] = json!("IPv6");
        retyped["endpoints"] = json!([]);
        assert_eq!(
            messages(&validate_endpoint_slice_update(&retyped, &slice)),
            vec!["addressType: Invalid value: \"IPv6\": field is immutable"]
        );
    }

    #[test]
    fn endpoint_slice_limits() {
        let endpoints: Vec<Value> = (0..1001).map(|_| json!({"addresses": ["10.0.0.1"]})).collect();
        let slice = json!({"metadata": {"name": "s", "namespace": "default"}, "addressType": "IPv4", "endpoints": endpoints});
        assert_eq!(messages(&validate_endpoint_slice(&slice)), vec!["endpoints: Too many: 1001: must have at most 1000 items"]);
    }
}
