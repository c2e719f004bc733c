//! Unknown- and duplicate-field detection: walks a request body against the kind's OpenAPI schema (the same
//! `components.schemas` the OpenAPI endpoints serve), removes fields the schema does not know, finds keys a JSON
//! body repeats, and reports their paths so `fieldValidation` can reject (Strict), warn (Warn) or stay silent
//! (Ignore), as upstream.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// How deep the walk follows nested values; deeper parts are kept as they are. Bounds the work per request.
const SCHEMA_DEPTH_MAX: usize = 64;

#[derive(Debug, Default)]
pub struct FieldProblems {
    /// Upstream-style paths of removed unknown fields: `spec.foo`, `spec.containers[0].bar`.
    pub unknown: Vec<String>,
}

/// Removes unknown fields from `object` according to definition `root` in `schemas`.
pub fn prune_unknown(object: &mut Value, schemas: &Map<String, Value>, root: &str) -> FieldProblems {
    let mut problems = FieldProblems::default();
    if let Some(schema) = schemas.get(root) {
        walk(object, schema, schemas, String::new(), 0, &mut problems);
    }
    problems
}

/// Follows `$ref` and single-element `allOf` wrappers to the schema that describes the value.
fn resolve<'a>(schema: &'a Value, schemas: &'a Map<String, Value>) -> &'a Value {
    let mut current = schema;
    for _ in 0..SCHEMA_DEPTH_MAX {
        if let Some(reference) = current.get("$ref").and_then(Value::as_str) {
            let name = reference.rsplit('/').next().unwrap_or_default();
            match schemas.get(name) {
                Some(target) => current = target,
                None => return current,
            }
        } else if let Some([only]) = current.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
            current = only;
        } else {
            return current;
        }
    }
    current
}

fn walk(value: &mut Value, schema: &Value, schemas: &Map<String, Value>, path: String, depth: usize, problems: &mut FieldProblems) {
    if depth >= SCHEMA_DEPTH_MAX {
        return;
    }
    let schema = resolve(schema, schemas);
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match value {
        Value::Object(map) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                let keys: Vec<String> = map.keys().cloned().collect();
                for key in keys {
                    let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    match properties.get(&key) {
                        Some(child_schema) => {
                            if let Some(child) = map.get_mut(&key) {
                                walk(child, child_schema, schemas, child_path, depth + 1, problems);
                            }
                        }
                        None => {
                            map.remove(&key);
                            problems.unknown.push(child_path);
                        }
                    }
                }
            } else if let Some(values_schema) = schema.get("additionalProperties").filter(|s| s.is_object()) {
                for (key, child) in map.iter_mut() {
                    let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    walk(child, values_schema, schemas, child_path, depth + 1, problems);
                }
            }
        }
        Value::Array(items) => {
            if let Some(items_schema) = schema.get("items") {
                for (index, item) in items.iter_mut().enumerate() {
                    walk(item, items_schema, schemas, format!("{path}[{index}]"), depth + 1, problems);
                }
            }
        }
        _ => {}
    }
}

/// Upstream-style paths of keys that a JSON body repeats inside one object (`metadata.name`,
/// `spec.containers[0].image`); empty for bodies that are not valid JSON (decoding reports those).
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let seed = DuplicateScan { path: String::new(), depth: 0, found: &mut found };
    if seed.deserialize(&mut deserializer).is_err() {
        return Vec::new();
    }
    found
}

/// Walks any JSON value, recording repeated object keys by path; builds nothing.
struct DuplicateScan<'a> {
    path: String,
    depth: usize,
    found: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for DuplicateScan<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DuplicateScan<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            if self.depth >= SCHEMA_DEPTH_MAX {
                while items.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(());
            }
            let seed = DuplicateScan { path: format!("{}[{index}]", self.path), depth: self.depth + 1, found: &mut *self.found };
            if items.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = entries.next_key::<String>()? {
            let child_path = if self.path.is_empty() { key.clone() } else { format!("{}.{key}", self.path) };
            if !seen.insert(key) {
                self.found.push(child_path.clone());
            }
            if self.depth >= SCHEMA_DEPTH_MAX {
                entries.next_value::<IgnoredAny>()?;
                continue;
            }
            entries.next_value_seed(DuplicateScan { path: child_path, depth: self.depth + 1, found: &mut *self.found })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas() -> Map<String, Value> {
        json!({
            "Pod": {"type": "object", "properties": {
                "metadata": {"allOf": [{"$ref": "#/components/schemas/Meta"}]},
                "spec": {"$ref": "#/components/schemas/PodSpec"}}},
            "Meta": {"type": "object", "properties": {"name": {"type": "string"}, "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
            "PodSpec": {"type": "object", "properties": {"containers": {"type": "array", "items": {"$ref": "#/components/schemas/Container"}}}},
            "Container": {"type": "object", "properties": {"name": {"type": "string"}, "image": {"type": "string"}}},
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn unknown_fields_are_removed_and_named_with_indexes() {
        let mut pod = json!({"metadata": {"name": "a", "labels": {"x": "y"}, "bogus": 1}, "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicyy": "x"}]}});
        let problems = prune_unknown(&mut pod, &schemas(), "Pod");
        assert_eq!(problems.unknown, vec!["metadata.bogus", "spec.containers[0].imagePullPolicyy"]);
        assert_eq!(pod, json!({"metadata": {"name": "a", "labels": {"x": "y"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}));
    }

    #[test]
    fn repeated_keys_are_found_with_their_paths() {
        let body = br#"{"metadata": {"name": "a", "name": "b"}, "spec": {"containers": [{"image": "x", "image": "y"}]}}"#;
        assert_eq!(duplicate_fields(body), vec!["metadata.name", "spec.containers[0].image"]);
        assert!(duplicate_fields(br#"{"a": 1, "b": {"a": 2}}"#).is_empty());
    }
}
