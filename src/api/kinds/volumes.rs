//! Validation of a pod spec's `volumes` (upstream `ValidateVolumes`): names, exactly one source each, and the
//! rules of the sources people actually use (emptyDir, hostPath, configMap, secret, persistentVolumeClaim, nfs,
//! downwardAPI, projected, csi, ephemeral, image). The valid volumes are returned by name so container
//! `volumeMounts` can be checked against them, as upstream does.

use std::collections::BTreeMap;

use serde_json::Value;

use super::meta::{invalid_each, is_dns1123_label};
use super::quantity::parse_quantity;
use super::value::{array_at, get, i64_at, is_set, str_at, string_or_empty, FieldPath};
use crate::api::status::FieldError;

/// Every volume source key, in upstream's checking order; a volume must set exactly one.
const SOURCES: [&str; 30] = [
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
];

const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// The valid volumes of a pod spec by name, for matching `volumeMounts`.
pub type Volumes<'a> = BTreeMap<String, &'a Value>;

/// Upstream `ValidateVolumes`: the valid volumes and the errors of the others.
pub fn validate_volumes<'a>(spec: &'a Value, path: &FieldPath) -> (Volumes<'a>, Vec<FieldError>) {
    let mut volumes = Volumes::new();
    let mut errors = Vec::new();
    for (index, volume) in array_at(spec, &["volumes"]).iter().enumerate() {
        let volume_path = path.index(index);
        let name = string_or_empty(volume, &["name"]);
        let mut own = validate_source(volume, &volume_path);
        if name.is_empty() {
            own.push(FieldError::required(volume_path.child("name"), ""));
        } else {
            own.extend(invalid_each(&volume_path.child("name"), name, is_dns1123_label(name)));
        }
        if volumes.contains_key(name) {
            own.push(FieldError::duplicate(volume_path.child("name"), Value::from(name)));
        }
        if own.is_empty() {
            volumes.insert(name.to_string(), volume);
        }
        errors.extend(own);
    }
    (volumes, errors)
}

fn validate_source(volume: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut found = 0;
    for source in SOURCES.iter().filter(|source| is_set(volume, &[source])) {
        if found > 0 {
            errors.push(FieldError::forbidden(path.child(source), "may not specify more than 1 volume type"));
            continue;
        }
        found += 1;
        let body = get(volume, &[source]).unwrap_or(&Value::Null);
        errors.extend(validate_one_source(source, body, &path.child(source)));
    }
    if found == 0 {
        errors.push(FieldError::required(path, "must specify a volume type"));
    }
    errors
}

fn validate_one_source(source: &str, body: &Value, path: &FieldPath) -> Vec<FieldError> {
    match source {
        "emptyDir" => validate_empty_dir(body, path),
        "hostPath" => validate_host_path(body, path),
        "secret" => validate_projected_files(body, "secretName", path),
        "configMap" => validate_projected_files(body, "name", path),
        "persistentVolumeClaim" => required_strings(body, &["claimName"], path),
        "nfs" => validate_nfs(body, path),
        "downwardAPI" => validate_downward_api(body, path),
        "projected" => validate_projected(body, path),
        "csi" => required_strings(body, &["driver"], path),
        "ephemeral" => validate_ephemeral(body, path),
        "image" => required_strings(body, &["reference"], path),
        _ => Vec::new(),
    }
}

/// `Required` for each of `fields` that is empty.
fn required_strings(body: &Value, fields: &[&str], path: &FieldPath) -> Vec<FieldError> {
    fields
        .iter()
        .filter(|field| string_or_empty(body, &[field]).is_empty())
        .map(|field| FieldError::required(path.child(field), ""))
        .collect()
}

fn validate_empty_dir(body: &Value, path: &FieldPath) -> Vec<FieldError> {
    let Some(limit) = str_at(body, &["sizeLimit"]) else {
        return Vec::new();
    };
    match parse_quantity(limit) {
        Ok(quantity) if quantity.millis() < 0 => {
            vec![FieldError::forbidden(path.child("sizeLimit"), "SizeLimit field must be a valid resource quantity")]
        }
        Ok(_) => Vec::new(),
        Err(message) => vec![FieldError::invalid(path.child("sizeLimit"), Value::from(limit), message)],
    }
}

const HOST_PATH_TYPES: [&str; 8] = ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"];

fn validate_host_path(body: &Value, path: &FieldPath) -> Vec<FieldError> {
    let host_path = string_or_empty(body, &["path"]);
    if host_path.is_empty() {
        return vec![FieldError::required(path.child("path"), "")];
    }
    let mut errors = validate_no_backsteps(host_path, &path.child("path"));
    let kind = string_or_empty(body, &["type"]);
    if !HOST_PATH_TYPES.contains(&kind) {
        errors.push(FieldError::not_supported(path.child("type"), Value::from(kind), &HOST_PATH_TYPES));
    }
    errors
}

fn validate_nfs(body: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = required_strings(body, &["server", "path"], path);
    let export = string_or_empty(body, &["path"]);
    if !export.starts_with('/') {
        errors.push(FieldError::invalid(path.child("path"), Value::from(export), "must be an absolute path"));
    }
    errors
}

/// configMap and secret volumes: a name, a file mode, and items mapping keys to relative paths.
fn validate_projected_files(body: &Value, name_field: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = required_strings(body, &[name_field], path);
    errors.extend(validate_mode(body, "defaultMode", path));
    for (index, item) in array_at(body, &["items"]).iter().enumerate() {
        errors.extend(validate_key_to_path(item, &path.child("items").index(index)));
    }
    errors
}

fn validate_mode(body: &Value, field: &str, path: &FieldPath) -> Vec<FieldError> {
    match i64_at(body, &[field]) {
        Some(mode) if !(0..=0o777).contains(&mode) => vec![FieldError::invalid(path.child(field), Value::from(mode), FILE_MODE_ERROR)],
        _ => Vec::new(),
    }
}

fn validate_key_to_path(item: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = required_strings(item, &["key", "path"], path);
    errors.extend(validate_local_non_reserved_path(string_or_empty(item, &["path"]), &path.child("path")));
    errors.extend(validate_mode(item, "mode", path));
    errors
}

/// Upstream `validatePathNoBacksteps`: no `..` element anywhere.
pub fn validate_no_backsteps(target: &str, path: &FieldPath) -> Vec<FieldError> {
    if target.split('/').any(|element| element == "..") {
        vec![FieldError::invalid(path, Value::from(target), "must not contain '..'")]
    } else {
        Vec::new()
    }
}

/// Upstream `validateLocalDescendingPath`: relative, without backsteps.
pub fn validate_local_descending_path(target: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if target.starts_with('/') {
        errors.push(FieldError::invalid(path, Value::from(target), "must be a relative path"));
    }
    errors.extend(validate_no_backsteps(target, path));
    errors
}

/// Upstream `ValidateLocalNonReservedPath`: a descending path that does not start with `..` either.
fn validate_local_non_reserved_path(target: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = validate_local_descending_path(target, path);
    if target.starts_with("..") && !target.starts_with("../") {
        errors.push(FieldError::invalid(path, Value::from(target), "must not start with '..'"));
    }
    errors
}

const VOLUME_FIELD_PATHS: [&str; 5] = ["metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"];

fn validate_downward_api(body: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = validate_mode(body, "defaultMode", path);
    for item in array_at(body, &["items"]) {
        errors.extend(validate_downward_api_file(item, path));
    }
    errors
}

/// Upstream reports downwardAPI file errors at the volume's path, not the item's; kept for identical messages.
fn validate_downward_api_file(item: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = required_strings(item, &["path"], path);
    errors.extend(validate_local_non_reserved_path(string_or_empty(item, &["path"]), &path.child("path")));
    let field_ref = get(item, &["fieldRef"]).filter(|found| !found.is_null());
    let resource_ref = get(item, &["resourceFieldRef"]).filter(|found| !found.is_null());
    match (field_ref, resource_ref) {
        (Some(field_ref), resource_ref) => {
            errors.extend(super::containers::validate_object_field_selector(field_ref, &VOLUME_FIELD_PATHS, &path.child("fieldRef")));
            if resource_ref.is_some() {
                errors.push(FieldError::invalid(
                    path,
                    Value::from("resource"),
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                ));
            }
        }
        (None, Some(resource_ref)) => {
            if string_or_empty(resource_ref, &["containerName"]).is_empty() {
                errors.push(FieldError::required(path.child("resourceFieldRef").child("containerName"), ""));
            }
        }
        (None, None) => errors.push(FieldError::required(path, "one of fieldRef and resourceFieldRef is required")),
    }
    errors.extend(validate_mode(item, "mode", path));
    errors
}

const PROJECTION_KINDS: [&str; 6] = ["secret", "configMap", "downwardAPI", "serviceAccountToken", "clusterTrustBundle", "podCertificate"];

fn validate_projected(body: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = validate_mode(body, "defaultMode", path);
    for (index, source) in array_at(body, &["sources"]).iter().enumerate() {
        let source_path = path.child("sources").index(index);
        let kinds: Vec<&str> = PROJECTION_KINDS.iter().copied().filter(|kind| is_set(source, &[kind])).collect();
        if kinds.len() > 1 {
            errors.push(FieldError::forbidden(source_path.clone(), "may not specify more than 1 volume type per source"));
        }
        for kind in kinds {
            errors.extend(validate_projection(kind, get(source, &[kind]).unwrap_or(&Value::Null), &source_path.child(kind)));
        }
    }
    errors
}

fn validate_projection(kind: &str, body: &Value, path: &FieldPath) -> Vec<FieldError> {
    match kind {
        "secret" | "configMap" => {
            let mut errors = required_strings(body, &["name"], path);
            for (index, item) in array_at(body, &["items"]).iter().enumerate() {
                errors.extend(validate_key_to_path(item, &path.child("items").index(index)));
            }
            errors
        }
        "downwardAPI" => array_at(body, &["items"]).iter().flat_map(|item| validate_downward_api_file(item, path)).collect(),
        "serviceAccountToken" => validate_token_projection(body, path),
        _ => Vec::new(),
    }
}

fn validate_token_projection(body: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let seconds = i64_at(body, &["expirationSeconds"]).unwrap_or(3600);
    if seconds < 600 {
        errors.push(FieldError::invalid(
            path.child("expirationSeconds"),
            Value::from(seconds),
            "may not specify a duration less than 10 minutes",
        ));
    } else if seconds > 1 << 32 {
        errors.push(FieldError::invalid(
            path.child("expirationSeconds"),
            Value::from(seconds),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let target = string_or_empty(body, &["path"]);
    if target.is_empty() {
        errors.push(FieldError::required(path.child("path"), ""));
    }
    errors
}

fn validate_ephemeral(body: &Value, path: &FieldPath) -> Vec<FieldError> {
    if is_set(body, &["volumeClaimTemplate"]) {
        Vec::new()
    } else {
        vec![FieldError::required(path.child("volumeClaimTemplate"), "")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(spec: Value) -> Vec<String> {
        validate_volumes(&spec, &FieldPath::new("spec").child("volumes")).1.iter().map(FieldError::to_message).collect()
    }

    #[test]
    fn volume_needs_exactly_one_source() {
        assert_eq!(messages(json!({"volumes": [{"name": "a"}]})), vec!["spec.volumes[0]: Required value: must specify a volume type"]);
        assert_eq!(
            messages(json!({"volumes": [{"name": "a", "emptyDir": {}, "hostPath": {"path": "/x"}}]})),
            vec!["spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type"]
        );
    }

    #[test]
    fn volume_names_are_labels_and_unique() {
        let rendered = messages(
            json!({"volumes": [{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}, {"name": "Bad", "emptyDir": {}}]}),
        );
        assert_eq!(rendered[0], "spec.volumes[1].name: Duplicate value: \"data\"");
        assert!(rendered[1].starts_with("spec.volumes[2].name: Invalid value: \"Bad\": a lowercase RFC 1123 label"));
    }

    #[test]
    fn source_specific_rules() {
        let rendered = messages(json!({"volumes": [
            {"name": "a", "configMap": {"defaultMode": 1000, "items": [{"key": "k", "path": "../x"}]}},
            {"name": "b", "persistentVolumeClaim": {}},
            {"name": "c", "hostPath": {"path": "/x", "type": "Dir"}},
        ]}));
        assert_eq!(rendered, vec![
            "spec.volumes[0].configMap.name: Required value",
            "spec.volumes[0].configMap.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive",
            "spec.volumes[0].configMap.items[0].path: Invalid value: \"../x\": must not contain '..'",
            "spec.volumes[1].persistentVolumeClaim.claimName: Required value",
            "spec.volumes[2].hostPath.type: Unsupported value: \"Dir\": supported values: \"\", \"BlockDevice\", \"CharDevice\", \"Directory\", \"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\"",
        ]);
    }
}
