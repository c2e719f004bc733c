//! Objects as the server handles them: JSON values with helpers for the metadata every kind shares, and the
//! mapping between an object's identity and its storage key. The stored bytes never carry
//! `metadata.resourceVersion`: it is the storage revision and is set on every read.

use serde_json::{Map, Value};

use crate::api::registry::ResourceDesc;
use crate::storage::KeyValue;

/// The storage key of one object: `/registry/<group or core>/<plural>/[<namespace>/]<name>`.
pub fn object_key(desc: &ResourceDesc, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) if desc.namespaced => format!("{}{namespace}/{name}", resource_prefix(desc)),
        _ => format!("{}{name}", resource_prefix(desc)),
    }
}

/// The key prefix of a collection: all objects of a kind, or those of one namespace.
pub fn collection_prefix(desc: &ResourceDesc, namespace: Option<&str>) -> String {
    match namespace {
        Some(namespace) if desc.namespaced => format!("{}{namespace}/", resource_prefix(desc)),
        _ => resource_prefix(desc),
    }
}

fn resource_prefix(desc: &ResourceDesc) -> String {
    let (group, plural) = desc.storage_collection();
    let group = if group.is_empty() { "core" } else { group };
    format!("/registry/{group}/{plural}/")
}

/// `apiVersion` of a kind: `v1` or `apps/v1`.
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Decodes a stored value into the shape `desc` serves (converting from the storage version when the two
/// differ) and stamps its resourceVersion.
pub fn decode_stored(desc: &ResourceDesc, kv: &KeyValue) -> Result<Value, serde_json::Error> {
    decode_stored_bytes(desc, &kv.value, kv.mod_revision)
}

/// As [`decode_stored`], for a stored value and revision taken from a change event.
pub fn decode_stored_bytes(desc: &ResourceDesc, bytes: &[u8], revision: i64) -> Result<Value, serde_json::Error> {
    let mut object: Value = serde_json::from_slice(bytes)?;
    if let Some(shared) = &desc.shared_storage {
        object = (shared.from_storage)(object);
    }
    set_resource_version(&mut object, revision);
    Ok(object)
}

/// Encodes an object for storage, in the storage version's shape and without its resourceVersion.
pub fn encode_for_storage(desc: &ResourceDesc, object: &Value) -> Vec<u8> {
    let mut stored = object.clone();
    if let Some(shared) = &desc.shared_storage {
        stored = (shared.to_storage)(stored);
    }
    if let Some(meta) = stored.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    serde_json::to_vec(&stored).expect("a JSON value always serializes")
}

pub fn set_resource_version(object: &mut Value, revision: i64) {
    meta_mut(object).insert("resourceVersion".into(), Value::String(revision.to_string()));
}

/// The object's metadata map, created when missing.
pub fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let root = object.as_object_mut().expect("made an object above");
    let meta = root.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut().expect("made an object above")
}

pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

pub fn name(object: &Value) -> &str {
    meta_str(object, "name").unwrap_or_default()
}

pub fn namespace(object: &Value) -> Option<&str> {
    meta_str(object, "namespace").filter(|ns| !ns.is_empty())
}

pub fn uid(object: &Value) -> &str {
    meta_str(object, "uid").unwrap_or_default()
}

pub fn labels(object: &Value) -> Option<&Map<String, Value>> {
    object.get("metadata")?.get("labels")?.as_object()
}

pub fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|f| f.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

pub fn is_being_deleted(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// The current time in the API's timestamp format (RFC 3339, seconds, UTC).
pub fn now_timestamp() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The `PartialObjectMetadata` form of an object: its type and metadata only.
pub fn partial_metadata(object: &Value) -> Value {
    let mut metadata = object.get("metadata").cloned().unwrap_or_else(|| Value::Object(Map::new()));
    if let Some(meta) = metadata.as_object_mut() {
        meta.remove("managedFields");
    }
    serde_json::json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata})
}
