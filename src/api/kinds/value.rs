//! Reading and writing nested fields of objects as the API receives them (`serde_json::Value`), and building
//! field paths in upstream notation (`spec.containers[0].image`, `metadata.labels[app]`). Every rule in `kinds`
//! goes through these helpers so none of them juggles `Value` pointers by hand.

use std::fmt;

use serde_json::{Map, Value};

/// The value at `path` (object keys only), if every step exists.
pub fn get<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |current, key| current.get(key))
}

/// The string at `path`, if present and a string.
pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(value, path).and_then(Value::as_str)
}

/// The string at `path`, or `""` when absent: upstream treats an unset string and an empty one alike.
pub fn string_or_empty<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    str_at(value, path).unwrap_or("")
}

/// The integer at `path`, if present and an integer.
pub fn i64_at(value: &Value, path: &[&str]) -> Option<i64> {
    get(value, path).and_then(Value::as_i64)
}

/// The boolean at `path`, or `false` when absent.
pub fn bool_at(value: &Value, path: &[&str]) -> bool {
    get(value, path).and_then(Value::as_bool).unwrap_or(false)
}

/// The array at `path`, or an empty slice when absent: upstream treats a nil list and an empty one alike.
pub fn array_at<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    get(value, path).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// The object at `path`, if present and an object.
pub fn object_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    get(value, path).and_then(Value::as_object)
}

/// Whether `path` holds something other than `null`: upstream's "pointer is set".
pub fn is_set(value: &Value, path: &[&str]) -> bool {
    get(value, path).is_some_and(|found| !found.is_null())
}

/// The object at `path`, creating it (and every missing or `null` step) when absent. `None` when something that
/// is not an object is in the way; such objects fail schema decoding long before defaulting, so leaving them
/// alone is safe.
pub fn object_mut<'a>(value: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut current = value;
    for key in path {
        let map = current.as_object_mut()?;
        let slot = map.entry(key.to_string()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        current = slot;
    }
    current.as_object_mut()
}

/// Sets `path` to `default` when it is absent or `null`, as upstream defaulting does for nil pointers.
pub fn set_default(value: &mut Value, path: &[&str], default: Value) {
    let Some((leaf, parents)) = path.split_last() else {
        return;
    };
    if let Some(parent) = object_mut(value, parents) {
        let slot = parent.entry(leaf.to_string()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = default;
        }
    }
}

/// Sets `path` to `default` when it is absent, `null` or `""`: upstream defaults empty strings like nil pointers.
pub fn set_default_str(value: &mut Value, path: &[&str], default: &str) {
    if string_or_empty(value, path).is_empty() {
        set(value, path, Value::from(default));
    }
}

/// Sets `path` to `new`, creating parents as needed.
pub fn set(value: &mut Value, path: &[&str], new: Value) {
    let Some((leaf, parents)) = path.split_last() else {
        return;
    };
    if let Some(parent) = object_mut(value, parents) {
        parent.insert(leaf.to_string(), new);
    }
}

/// Makes `path` in `target` what it is in `source`: a copy when present, absent when not. Strategies use it to
/// keep fields an update may not change (status, finalizers) from the stored object.
pub fn copy_from(target: &mut Value, source: &Value, path: &[&str]) {
    match get(source, path) {
        Some(found) => set(target, path, found.clone()),
        None => remove(target, path),
    }
}

/// Removes `path`, if present.
pub fn remove(value: &mut Value, path: &[&str]) {
    let Some((leaf, parents)) = path.split_last() else {
        return;
    };
    let parent = parents.iter().try_fold(value, |current, key| current.get_mut(key));
    if let Some(Value::Object(map)) = parent {
        map.remove(*leaf);
    }
}

/// Calls `apply` on each element of the array at `path`, if there is one.
pub fn for_each_mut(value: &mut Value, path: &[&str], mut apply: impl FnMut(&mut Value)) {
    let found = path.iter().try_fold(value, |current, key| current.get_mut(key));
    if let Some(Value::Array(items)) = found {
        items.iter_mut().for_each(&mut apply);
    }
}

/// Calls `apply` on the value at `path` when it is an object.
pub fn with_object(value: &mut Value, path: &[&str], apply: impl FnOnce(&mut Value)) {
    let found = path.iter().try_fold(value, |current, key| current.get_mut(key));
    if let Some(target) = found.filter(|target| target.is_object()) {
        apply(target);
    }
}

/// Upstream's semantic equality: an unset field equals its zero value (`null`, `""`, `false`, `[]`, `{}`),
/// because Go decodes both to the same struct and `equality.Semantic` treats nil and empty alike.
pub fn semantic_eq(left: &Value, right: &Value) -> bool {
    let (left, right) = (normalized(left), normalized(right));
    left == right || (is_zero(&left) && is_zero(&right))
}

fn normalized(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(key, item)| (key.clone(), normalized(item))).filter(|(_, item)| !is_zero(item)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Bool(flag) => !flag,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::Number(_) => false,
    }
}

/// A field path as upstream prints it: `spec.containers[0].ports[1].name`, `metadata.labels[app]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath(String);

impl FieldPath {
    pub fn new(root: &str) -> Self {
        Self(root.to_string())
    }

    /// `parent.name`
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self::new(name)
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// `parent[index]`
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// `parent[key]`
    pub fn key(&self, key: &str) -> Self {
        Self(format!("{}[{key}]", self.0))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<FieldPath> for String {
    fn from(path: FieldPath) -> Self {
        path.0
    }
}

impl From<&FieldPath> for String {
    fn from(path: &FieldPath) -> Self {
        path.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_default_fills_missing_and_null_but_keeps_values() {
        let mut obj = json!({"spec": {"a": null, "b": 5}});
        set_default(&mut obj, &["spec", "a"], json!(1));
        set_default(&mut obj, &["spec", "b"], json!(1));
        set_default(&mut obj, &["spec", "c", "d"], json!("x"));
        assert_eq!(obj, json!({"spec": {"a": 1, "b": 5, "c": {"d": "x"}}}));
    }

    #[test]
    fn semantic_equality_ignores_unset_versus_empty() {
        assert!(semantic_eq(&json!({"a": [], "b": "", "c": {"d": null}}), &json!({})));
        assert!(!semantic_eq(&json!({"a": 0}), &json!({})));
        assert!(!semantic_eq(&json!({"a": "x"}), &json!({"a": "y"})));
    }

    #[test]
    fn field_paths_render_like_upstream() {
        let path = FieldPath::new("spec").child("containers").index(0).child("resources").child("limits").key("cpu");
        assert_eq!(path.to_string(), "spec.containers[0].resources.limits[cpu]");
        assert_eq!(FieldPath::new("").child("data").to_string(), "data");
    }
}
