//! ObjectMeta validation shared by every kind, and the string-format checks the kind rules build on: DNS-1123
//! labels and subdomains, DNS-1035 labels, qualified names (label keys), label values, annotations, config keys,
//! port names, env var names and IP addresses. Messages are worded as upstream apimachinery words them, so a
//! client sees `metadata.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain must consist of …`.
//! Also the small error builders (non-negative, immutable, Go-rendered values) the kind rules share.

use serde_json::{Map, Value};

use super::value::{array_at, get, i64_at, object_at, semantic_eq, string_or_empty, FieldPath};
use crate::api::status::{FieldError, FieldErrorKind};

/// Which name format a kind requires of `metadata.name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// Most kinds: a DNS-1123 subdomain (`my.name-1`), at most 253 characters.
    Subdomain,
    /// Namespaces and a few others: a DNS-1123 label (`my-name`), at most 63 characters.
    Label,
    /// Services: a DNS-1035 label (starts with a letter), at most 63 characters.
    Dns1035Label,
    /// Kinds whose names only become a URL path segment (RBAC and similar): anything but `.`, `..`, `/`, `%`.
    PathSegment,
}

/// Upstream's total annotation size limit (keys plus values), 256 KiB.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;
const LABEL_VALUE_MAX: usize = 63;
const QUALIFIED_NAME_MAX: usize = 63;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const CONFIG_KEY_FMT: &str = "[-._a-zA-Z0-9]+";

/// Upstream's `RegexError`: the message, the examples and the regex, in upstream's exact (double-spaced) layout.
fn regex_error(message: &str, format: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{message} (regex used for validation is '{format}')");
    }
    let listed: Vec<String> = examples.iter().map(|example| format!("'{example}', ")).collect();
    format!("{message} (e.g. {}regex used for validation is '{format}')", listed.join(" or "))
}

fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// Label keys and values are measured in bytes upstream (`validate/content`), names in characters.
fn max_bytes_error(length: usize) -> String {
    format!("must be no more than {length} bytes")
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn matches_dns1123_label(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && is_alnum(bytes[0]) && is_alnum(bytes[bytes.len() - 1]) && bytes.iter().all(|&c| is_alnum(c) || c == b'-')
}

fn matches_dns1123_subdomain(value: &str) -> bool {
    value.split('.').all(matches_dns1123_label)
}

fn matches_dns1035_label(value: &str) -> bool {
    matches_dns1123_label(value) && value.as_bytes()[0].is_ascii_lowercase()
}

fn matches_qualified_name_part(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Upstream `IsDNS1123Label`: the problems with `value`, empty when it is a valid RFC 1123 label.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > DNS1123_LABEL_MAX {
        errors.push(max_len_error(DNS1123_LABEL_MAX));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            errors.push("must not contain dots".to_string());
        } else {
            let message = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
            errors.push(regex_error(message, DNS1123_LABEL_FMT, &["my-name", "123-abc"]));
        }
    }
    errors
}

/// Upstream `IsDNS1123Subdomain`: the problems with `value`, empty when it is a valid RFC 1123 subdomain.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        errors.push(max_len_error(DNS1123_SUBDOMAIN_MAX));
    }
    if !matches_dns1123_subdomain(value) {
        let message = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
        errors.push(regex_error(message, DNS1123_SUBDOMAIN_FMT, &["example.com"]));
    }
    errors
}

/// Upstream `IsDNS1035Label`: the problems with `value`, empty when it is a valid RFC 1035 label.
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > DNS1123_LABEL_MAX {
        errors.push(max_len_error(DNS1123_LABEL_MAX));
    }
    if !matches_dns1035_label(value) {
        let message = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
        errors.push(regex_error(message, DNS1035_LABEL_FMT, &["my-name", "abc-123"]));
    }
    errors
}

fn qualified_name_part_errors(name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push("name part must be non-empty".to_string());
    } else if name.len() > QUALIFIED_NAME_MAX {
        errors.push(format!("name part {}", max_bytes_error(QUALIFIED_NAME_MAX)));
    }
    if !matches_qualified_name_part(name) {
        let message = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
        errors.push(format!("name part {}", regex_error(message, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])));
    }
    errors
}

/// Upstream `IsQualifiedName` (label keys, annotation keys, finalizers): an optional DNS subdomain prefix and
/// `/`, then a name of at most 63 alphanumerics, `-`, `_` or `.`.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let parts: Vec<&str> = value.split('/').collect();
    let mut errors = Vec::new();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errors.push("prefix part must be non-empty".to_string());
            } else {
                errors.extend(is_dns1123_subdomain(prefix).into_iter().map(|message| format!("prefix part {message}")));
            }
            *name
        }
        _ => {
            let message = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
            let regex = regex_error(message, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"]);
            return vec![format!("a valid label key {regex} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")];
        }
    };
    errors.extend(qualified_name_part_errors(name));
    errors
}

/// Upstream `IsValidLabelValue`: empty, or at most 63 alphanumerics, `-`, `_` or `.` starting and ending alphanumeric.
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > LABEL_VALUE_MAX {
        errors.push(max_bytes_error(LABEL_VALUE_MAX));
    }
    if !value.is_empty() && !matches_qualified_name_part(value) {
        let message = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
        errors.push(regex_error(message, LABEL_VALUE_FMT, &["MyValue", "my_value", "12345"]));
    }
    errors
}

/// Upstream `IsConfigMapKey`: the key format of ConfigMap and Secret data and of key selectors.
pub fn is_config_map_key(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        errors.push(max_len_error(DNS1123_SUBDOMAIN_MAX));
    }
    let valid = !value.is_empty() && value.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'));
    if !valid {
        let message = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
        errors.push(regex_error(message, CONFIG_KEY_FMT, &["key.name", "KEY_NAME", "key-name"]));
    }
    match value {
        "." => errors.push("must not be '.'".to_string()),
        ".." => errors.push("must not be '..'".to_string()),
        _ if value.starts_with("..") => errors.push("must not start with '..'".to_string()),
        _ => {}
    }
    errors
}

/// Upstream `IsValidPortName` (IANA_SVC_NAME): at most 15 of `[-a-z0-9]`, at least one letter, no `--`, no
/// leading or trailing `-`.
pub fn is_valid_port_name(port: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if port.len() > 15 {
        errors.push(max_len_error(15));
    }
    if port.is_empty() || !port.bytes().all(|c| is_alnum(c) || c == b'-') {
        errors.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string());
    }
    if !port.bytes().any(|c| c.is_ascii_lowercase()) {
        errors.push("must contain at least one letter (a-z)".to_string());
    }
    if port.contains("--") {
        errors.push("must not contain consecutive hyphens".to_string());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errors.push("must not begin or end with a hyphen".to_string());
    }
    errors
}

/// Upstream `InclusiveRangeError`.
pub fn inclusive_range_error(low: i64, high: i64) -> String {
    format!("must be between {low} and {high}, inclusive")
}

/// Upstream `IsValidPortNum`: 1 to 65535.
pub fn is_valid_port_num(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec![inclusive_range_error(1, 65535)]
    }
}

/// Upstream `IsValidIP`, as a field error list.
pub fn validate_ip(path: &FieldPath, value: &str) -> Vec<FieldError> {
    if value.parse::<std::net::IpAddr>().is_ok() {
        Vec::new()
    } else {
        vec![FieldError::invalid(path, Value::from(value), "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    }
}

/// Upstream `IsValidCIDR`: an IP address and a prefix length that fits it.
pub fn validate_cidr(path: &FieldPath, value: &str) -> Vec<FieldError> {
    let valid = value.split_once('/').is_some_and(|(address, prefix)| {
        let max = match address.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) => 32,
            Ok(std::net::IpAddr::V6(_)) => 128,
            Err(_) => return false,
        };
        !prefix.is_empty() && prefix.bytes().all(|c| c.is_ascii_digit()) && prefix.parse::<u32>().is_ok_and(|bits| bits <= max)
    });
    if valid {
        Vec::new()
    } else {
        vec![FieldError::invalid(path, Value::from(value), "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")]
    }
}

/// Upstream `ValidateNonSpecialIP`: endpoint and external addresses may not be unspecified, loopback or
/// link-local, which would point at the node itself.
pub fn validate_non_special_ip(path: &FieldPath, value: &str) -> Vec<FieldError> {
    use std::net::IpAddr;
    let Ok(address) = value.parse::<IpAddr>() else {
        return vec![FieldError::invalid(path, Value::from(value), "must be a valid IP address")];
    };
    let (link_local_unicast, link_local_multicast) = match address {
        IpAddr::V4(v4) => (v4.is_link_local(), v4.octets()[..3] == [224, 0, 0]),
        IpAddr::V6(v6) => ((v6.segments()[0] & 0xffc0) == 0xfe80, (v6.segments()[0] & 0xff0f) == 0xff02),
    };
    let mut errors = Vec::new();
    if address.is_unspecified() {
        errors.push(FieldError::invalid(path, Value::from(value), format!("may not be unspecified ({value})")));
    }
    if address.is_loopback() {
        errors.push(FieldError::invalid(path, Value::from(value), "may not be in the loopback range (127.0.0.0/8, ::1/128)"));
    }
    if link_local_unicast {
        errors.push(FieldError::invalid(path, Value::from(value), "may not be in the link-local range (169.254.0.0/16, fe80::/10)"));
    }
    if link_local_multicast {
        errors.push(FieldError::invalid(
            path,
            Value::from(value),
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
    errors
}

/// Turns a list of format problems into `Invalid` errors at `path`, one per problem, as upstream does.
pub fn invalid_each(path: &FieldPath, value: &str, messages: Vec<String>) -> Vec<FieldError> {
    messages.into_iter().map(|message| FieldError::invalid(path, Value::from(value), message)).collect()
}

/// Upstream `NameIsDNS…(name, prefix)`: with `prefix` (a `generateName`), a trailing dash is allowed.
pub fn name_errors(rule: NameRule, name: &str, prefix: bool) -> Vec<String> {
    let name = if prefix { mask_trailing_dash(name) } else { name.to_string() };
    match rule {
        NameRule::Subdomain => is_dns1123_subdomain(&name),
        NameRule::Label => is_dns1123_label(&name),
        NameRule::Dns1035Label => is_dns1035_label(&name),
        NameRule::PathSegment => path_segment_errors(&name),
    }
}

/// Upstream's `maskTrailingDash`: replaces the last two characters with `a` so `web-` validates as a prefix.
fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1 && name.ends_with('-') {
        format!("{}a", &name[..name.len() - 2])
    } else {
        name.to_string()
    }
}

fn path_segment_errors(name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if name == "." || name == ".." {
        errors.push(format!("may not be '{name}'"));
    }
    for forbidden in ["/", "%"] {
        if name.contains(forbidden) {
            errors.push(format!("may not contain '{forbidden}'"));
        }
    }
    errors
}

/// Upstream `ValidateLabels`: every key a qualified name, every value a label value; errors at `path` itself.
pub fn validate_labels(labels: Option<&Map<String, Value>>, path: &FieldPath) -> Vec<FieldError> {
    let Some(labels) = labels else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    for (key, value) in labels {
        errors.extend(invalid_each(path, key, is_qualified_name(key)));
        let text = value.as_str().unwrap_or_default();
        errors.extend(invalid_each(path, text, is_valid_label_value(text)));
    }
    errors
}

/// Upstream `ValidateAnnotations`: keys are qualified names (case-insensitively) and keys plus values fit in 256 KiB.
pub fn validate_annotations(annotations: Option<&Map<String, Value>>, path: &FieldPath) -> Vec<FieldError> {
    let Some(annotations) = annotations else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    let mut total = 0;
    for (key, value) in annotations {
        errors.extend(invalid_each(path, key, is_qualified_name(&key.to_lowercase())));
        total += key.len() + value.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errors.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errors
}

/// Upstream `ValidateNonnegativeField`.
pub fn validate_nonnegative(value: Option<i64>, path: &FieldPath) -> Vec<FieldError> {
    match value {
        Some(number) if number < 0 => vec![FieldError::invalid(path, Value::from(number), "must be greater than or equal to 0")],
        _ => Vec::new(),
    }
}

/// Upstream `ValidateImmutableField`: `Invalid` with the new value and `field is immutable` when they differ.
/// Compared semantically: unset and empty are the same.
pub fn validate_immutable(new: Option<&Value>, old: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    if semantic_eq(new.unwrap_or(&Value::Null), old.unwrap_or(&Value::Null)) {
        return Vec::new();
    }
    vec![FieldError::invalid(path, new.cloned().unwrap_or(Value::Null), "field is immutable")]
}

/// An `Invalid` error whose value is already rendered (Go's `%#v` of a map or struct, which has no JSON
/// equivalent): `spec.selector: Invalid value: v1.LabelSelector{…}: field is immutable`.
pub fn invalid_rendered(path: &FieldPath, rendered: &str, detail: &str) -> FieldError {
    FieldError { kind: FieldErrorKind::Invalid, field: path.into(), value: None, detail: format!("{rendered}: {detail}") }
}

/// A `Duplicate value` error whose value is already rendered as Go prints it (a struct key, for instance).
pub fn duplicate_rendered(path: &FieldPath, rendered: &str) -> FieldError {
    FieldError { kind: FieldErrorKind::Duplicate, field: path.into(), value: None, detail: rendered.to_string() }
}

/// A `Too many` error with the count, as upstream's `field.TooMany` prints it.
pub fn too_many(path: &FieldPath, actual: usize, max: usize) -> FieldError {
    let detail = format!("{actual}: must have at most {max} items");
    FieldError { kind: FieldErrorKind::TooMany, field: path.into(), value: None, detail }
}

/// Go's `%#v` of a `map[string]string`: `map[string]string{"app":"web"}`, keys sorted; `(nil)` when unset.
pub fn go_string_map(map: Option<&Map<String, Value>>) -> String {
    let Some(map) = map else {
        return "map[string]string(nil)".to_string();
    };
    let entries: Vec<String> = map.iter().map(|(key, value)| format!("{key:?}:{:?}", value.as_str().unwrap_or_default())).collect();
    format!("map[string]string{{{}}}", entries.join(", "))
}

/// Go's `%#v` of a `[]string`: `[]string{"a", "b"}`; `(nil)` when unset.
pub fn go_string_slice(items: Option<&Value>) -> String {
    let Some(items) = items.and_then(Value::as_array) else {
        return "[]string(nil)".to_string();
    };
    let rendered: Vec<String> = items.iter().map(|item| format!("{:?}", item.as_str().unwrap_or_default())).collect();
    format!("[]string{{{}}}", rendered.join(", "))
}

/// Go's `%#v` of a `v1.LabelSelector`, as upstream shows it in immutability errors.
pub fn go_label_selector(selector: &Value) -> String {
    let expressions = match get(selector, &["matchExpressions"]).and_then(Value::as_array) {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(list) => {
            let rendered: Vec<String> = list
                .iter()
                .map(|requirement| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{:?}, Operator:{:?}, Values:{}}}",
                        string_or_empty(requirement, &["key"]),
                        string_or_empty(requirement, &["operator"]),
                        go_string_slice(get(requirement, &["values"]))
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", rendered.join(", "))
        }
    };
    format!("v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{expressions}}}", go_string_map(object_at(selector, &["matchLabels"])))
}

const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

/// Upstream's finalizer name rules: a qualified name, and an unprefixed one must be a standard finalizer.
pub fn validate_finalizer_name(name: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = invalid_each(path, name, is_qualified_name(name));
    errors.extend(kube_finalizer_error(name, path));
    errors
}

/// Unprefixed finalizers are reserved for the standard ones.
fn kube_finalizer_error(name: &str, path: &FieldPath) -> Option<FieldError> {
    let standard = name.contains('/') || STANDARD_FINALIZERS.contains(&name);
    let detail = "name is neither a standard finalizer name nor is it fully qualified";
    (!standard).then(|| FieldError::invalid(path, Value::from(name), detail))
}

/// Finalizer names are checked at the list's path; the standard-name rule reports each entry's index.
fn validate_finalizers(meta: &Value, path: &FieldPath) -> Vec<FieldError> {
    let finalizers = array_at(meta, &["finalizers"]);
    let names = finalizers.iter().map(|finalizer| finalizer.as_str().unwrap_or_default());
    let mut errors: Vec<FieldError> = names.clone().flat_map(|name| invalid_each(path, name, is_qualified_name(name))).collect();
    let has = |name: &str| finalizers.iter().any(|finalizer| finalizer == name);
    if has("orphan") && has("foregroundDeletion") {
        errors.push(FieldError::invalid(
            path,
            Value::Array(finalizers.to_vec()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errors.extend(names.enumerate().filter_map(|(index, name)| kube_finalizer_error(name, &path.index(index))));
    errors
}

fn validate_owner_references(meta: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut first_controller: Option<String> = None;
    for reference in array_at(meta, &["ownerReferences"]) {
        let api_version = string_or_empty(reference, &["apiVersion"]);
        let version = api_version.rsplit('/').next().unwrap_or_default();
        if version.is_empty() {
            errors.push(FieldError::invalid(path.child("apiVersion"), Value::from(api_version), "version must not be empty"));
        }
        for field in ["kind", "name", "uid"] {
            let text = string_or_empty(reference, &[field]);
            if text.is_empty() {
                errors.push(FieldError::invalid(path.child(field), Value::from(text), "must not be empty"));
            }
        }
        if api_version == "v1" && string_or_empty(reference, &["kind"]) == "Event" {
            errors.push(FieldError::invalid(path, reference.clone(), "/v1, Kind=Event is disallowed from being an owner"));
        }
        if reference.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{}/{}", string_or_empty(reference, &["kind"]), string_or_empty(reference, &["name"]));
            match &first_controller {
                Some(first) => errors.push(FieldError::invalid(
                    path,
                    Value::Array(array_at(meta, &["ownerReferences"]).to_vec()),
                    format!("Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errors
}

/// Upstream `ValidateObjectMeta` for any object: `name` (or `generateName`) in the kind's format, labels,
/// annotations, owner references, finalizers and generation. Whether `namespace` must be set is the store's
/// business; when a namespaced object carries one, its format is checked here.
pub fn validate_object_meta(obj: &Value, namespaced: bool, name_rule: NameRule) -> Vec<FieldError> {
    let empty = Value::Object(Map::new());
    let meta = get(obj, &["metadata"]).unwrap_or(&empty);
    let path = FieldPath::new("metadata");
    let mut errors = Vec::new();
    let generate_name = string_or_empty(meta, &["generateName"]);
    if !generate_name.is_empty() {
        errors.extend(invalid_each(&path.child("generateName"), generate_name, name_errors(name_rule, generate_name, true)));
    }
    let name = string_or_empty(meta, &["name"]);
    if name.is_empty() {
        errors.push(FieldError::required(path.child("name"), "name or generateName is required"));
    } else {
        errors.extend(invalid_each(&path.child("name"), name, name_errors(name_rule, name, false)));
    }
    let namespace = string_or_empty(meta, &["namespace"]);
    if namespaced && !namespace.is_empty() {
        errors.extend(invalid_each(&path.child("namespace"), namespace, is_dns1123_label(namespace)));
    }
    errors.extend(validate_nonnegative(i64_at(meta, &["generation"]), &path.child("generation")));
    errors.extend(validate_meta_collections(meta, &path));
    errors
}

fn validate_meta_collections(meta: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = validate_labels(object_at(meta, &["labels"]), &path.child("labels"));
    errors.extend(validate_annotations(object_at(meta, &["annotations"]), &path.child("annotations")));
    errors.extend(validate_owner_references(meta, &path.child("ownerReferences")));
    errors.extend(validate_finalizers(meta, &path.child("finalizers")));
    errors
}

/// The update-only part of upstream `ValidateObjectMetaUpdate`: identity fields are immutable, generation never
/// goes back, and an object being deleted gains no finalizers. The rest (labels, annotations, owner references,
/// finalizer names) is `validate_object_meta`, which the store runs on every write.
pub fn validate_object_meta_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let empty = Value::Object(Map::new());
    let new_meta = get(new, &["metadata"]).unwrap_or(&empty);
    let old_meta = get(old, &["metadata"]).unwrap_or(&empty);
    let path = FieldPath::new("metadata");
    let mut errors = Vec::new();
    if let (Some(new_generation), Some(old_generation)) = (i64_at(new_meta, &["generation"]), i64_at(old_meta, &["generation"])) {
        if new_generation < old_generation {
            errors.push(FieldError::invalid(path.child("generation"), Value::from(new_generation), "must not be decremented"));
        }
    }
    for field in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"] {
        errors.extend(validate_immutable(get(new_meta, &[field]), get(old_meta, &[field]), &path.child(field)));
    }
    if old_meta.get("deletionTimestamp").is_some_and(|stamp| !stamp.is_null()) {
        errors.extend(validate_no_new_finalizers(new_meta, old_meta, &path.child("finalizers")));
    }
    errors
}

fn validate_no_new_finalizers(new_meta: &Value, old_meta: &Value, path: &FieldPath) -> Vec<FieldError> {
    let old = array_at(old_meta, &["finalizers"]);
    let mut added: Vec<&str> =
        array_at(new_meta, &["finalizers"]).iter().filter(|name| !old.contains(name)).filter_map(Value::as_str).collect();
    if added.is_empty() {
        return Vec::new();
    }
    added.sort_unstable();
    added.dedup();
    let rendered: Vec<String> = added.iter().map(|name| format!("{name:?}")).collect();
    let detail =
        format!("no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}", rendered.join(", "));
    vec![FieldError::forbidden(path, detail)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(FieldError::to_message).collect()
    }

    #[test]
    fn subdomain_name_error_reads_like_upstream() {
        let errors = validate_object_meta(&json!({"metadata": {"name": "Bad_Name"}}), true, NameRule::Subdomain);
        assert_eq!(messages(&errors), vec![
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        ]);
    }

    #[test]
    fn label_rules_reject_dots_and_uppercase() {
        assert_eq!(is_dns1123_label("a.b"), vec!["must not contain dots"]);
        assert_eq!(is_dns1123_label("Web")[0], "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
        assert!(is_dns1123_label(&"a".repeat(63)).is_empty());
        assert_eq!(is_dns1123_label(&"a".repeat(64)), vec!["must be no more than 63 characters"]);
        assert_eq!(is_dns1035_label("1web").len(), 1);
        assert!(is_dns1035_label("web-1").is_empty());
    }

    #[test]
    fn missing_name_is_required() {
        let errors = validate_object_meta(&json!({"metadata": {}}), true, NameRule::Subdomain);
        assert_eq!(messages(&errors), vec!["metadata.name: Required value: name or generateName is required"]);
    }

    #[test]
    fn generate_name_may_end_with_a_dash() {
        let obj = json!({"metadata": {"generateName": "web-", "name": "web-x7k2p"}});
        assert!(validate_object_meta(&obj, true, NameRule::Subdomain).is_empty());
        let bad = json!({"metadata": {"generateName": "Web-", "name": "web-x7k2p"}});
        assert_eq!(validate_object_meta(&bad, true, NameRule::Subdomain)[0].field, "metadata.generateName");
    }

    #[test]
    fn label_key_and_value_errors_name_the_labels_field() {
        let obj = json!({"metadata": {"name": "x", "labels": {"a/b/c": "ok", "app": "-bad"}}});
        let rendered = messages(&validate_object_meta(&obj, true, NameRule::Subdomain));
        assert_eq!(rendered.len(), 2);
        assert!(rendered[0].starts_with("metadata.labels: Invalid value: \"a/b/c\": a valid label key must consist of"));
        assert!(rendered[1].starts_with("metadata.labels: Invalid value: \"-bad\": a valid label must be an empty string"));
    }

    #[test]
    fn label_value_longer_than_63_bytes_is_rejected() {
        let long = "a".repeat(64);
        assert_eq!(is_valid_label_value(&long), vec!["must be no more than 63 bytes"]);
        assert_eq!(is_qualified_name(&format!("example.com/{long}")), vec!["name part must be no more than 63 bytes"]);
        assert_eq!(is_qualified_name("/x"), vec!["prefix part must be non-empty"]);
    }

    #[test]
    fn annotations_over_256_kib_are_too_long() {
        let obj = json!({"metadata": {"name": "x", "annotations": {"big": "a".repeat(TOTAL_ANNOTATION_SIZE_LIMIT)}}});
        let rendered = messages(&validate_object_meta(&obj, true, NameRule::Subdomain));
        assert_eq!(rendered, vec!["metadata.annotations: Too long: may not be more than 262144 bytes"]);
        let upper = json!({"metadata": {"name": "x", "annotations": {"Example.COM/Key": "v"}}});
        assert!(validate_object_meta(&upper, true, NameRule::Subdomain).is_empty());
    }

    #[test]
    fn unqualified_nonstandard_finalizer_is_rejected() {
        let obj = json!({"metadata": {"name": "x", "finalizers": ["kubernetes", "custom"]}});
        let rendered = messages(&validate_object_meta(&obj, false, NameRule::Subdomain));
        assert_eq!(
            rendered,
            vec!["metadata.finalizers[1]: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"]
        );
    }

    #[test]
    fn identity_fields_are_immutable_on_update() {
        let old = json!({"metadata": {"name": "x", "uid": "1", "generation": 3}});
        let new = json!({"metadata": {"name": "x", "uid": "2", "generation": 2}});
        let rendered = messages(&validate_object_meta_update(&new, &old));
        assert_eq!(
            rendered,
            vec![
                "metadata.generation: Invalid value: 2: must not be decremented",
                "metadata.uid: Invalid value: \"2\": field is immutable",
            ]
        );
    }

    #[test]
    fn port_names_follow_iana_rules() {
        assert!(is_valid_port_name("http-alt").is_empty());
        assert_eq!(is_valid_port_name("80"), vec!["must contain at least one letter (a-z)"]);
        assert_eq!(is_valid_port_name("a--b"), vec!["must not contain consecutive hyphens"]);
    }

    #[test]
    fn go_rendering_matches_printf_hash_v() {
        let selector = json!({"matchLabels": {"app": "web", "tier": "fe"}});
        assert_eq!(
            go_label_selector(&selector),
            "v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"tier\":\"fe\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
        );
    }

    #[test]
    fn path_segment_names_reject_slashes() {
        assert_eq!(name_errors(NameRule::PathSegment, "a/b", false), vec!["may not contain '/'"]);
        assert!(name_errors(NameRule::PathSegment, "system:admin", false).is_empty());
    }
}
