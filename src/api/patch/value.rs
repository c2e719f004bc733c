//! JSON value identity shared by the patch engines: structural equality where numbers compare by value
//! (`80` equals `80.0`, as JSON and Go's float64 decoding treat them), and a canonical string form with the
//! same notion of identity, used as a hash key so list merges stay linear on large lists.

use serde_json::{Number, Value};

/// Integral floats below this magnitude (2^63, where i64 ends) key as integers, so `80.0` and `80` share a key.
const INTEGER_KEY_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// Whether two values are the same JSON: same structure, object keys in any order, numbers by value.
pub(super) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(l, r)| json_equal(l, r)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, l)| y.get(k).is_some_and(|r| json_equal(l, r))),
        _ => a == b,
    }
}

fn numbers_equal(x: &Number, y: &Number) -> bool {
    // Integers compare exactly; only when a float is involved does comparison go through f64.
    if let (Some(l), Some(r)) = (x.as_i64(), y.as_i64()) {
        return l == r;
    }
    if let (Some(l), Some(r)) = (x.as_u64(), y.as_u64()) {
        return l == r;
    }
    x.as_f64() == y.as_f64()
}

/// A string that is equal for two values exactly when they are the same JSON (as `json_equal`, with floats
/// beyond integer range compared by their f64 form). Type-tagged so `"1"` and `1` differ.
pub(super) fn canonical_key(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push('z'),
        Value::Bool(b) => out.push_str(if *b { "t" } else { "f" }),
        Value::Number(n) => {
            out.push('n');
            out.push_str(&canonical_number(n));
        }
        Value::String(s) => {
            // Debug formatting quotes and escapes, so strings cannot run into the next token.
            out.push('s');
            out.push_str(&format!("{s:?}"));
        }
        Value::Array(items) => {
            out.push('[');
            for item in items {
                write_canonical(item, out);
                out.push(',');
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|l, r| l.0.cmp(r.0));
            out.push('{');
            for (key, item) in entries {
                out.push_str(&format!("{key:?}:"));
                write_canonical(item, out);
                out.push(',');
            }
            out.push('}');
        }
    }
}

fn canonical_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f.fract() == 0.0 && f.abs() < INTEGER_KEY_LIMIT {
        // The range check above makes the cast exact for integral values.
        (f as i64).to_string()
    } else {
        format!("{f:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_equal(&json!(80), &json!(80.0)));
        assert!(json_equal(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!json_equal(&json!(1), &json!("1")));
        assert!(!json_equal(&json!(-1), &json!(u64::MAX)));
        assert_eq!(canonical_key(&json!(80)), canonical_key(&json!(80.0)));
        assert_ne!(canonical_key(&json!(1)), canonical_key(&json!("1")));
        assert_ne!(canonical_key(&json!(1.5)), canonical_key(&json!(1)));
    }

    #[test]
    fn objects_ignore_key_order_and_strings_cannot_collide() {
        let a: Value = serde_json::from_str(r#"{"x":1,"y":[true,null]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y":[true,null],"x":1}"#).unwrap();
        assert!(json_equal(&a, &b));
        assert_eq!(canonical_key(&a), canonical_key(&b));
        assert!(!json_equal(&json!({"x": 1}), &json!({"x": 1, "y": 2})));
        assert_ne!(canonical_key(&json!(["a,", "b"])), canonical_key(&json!(["a", ",b"])));
    }
}
