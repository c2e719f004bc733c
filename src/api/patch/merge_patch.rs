//! RFC 7386 JSON merge patch (`application/merge-patch+json`), the patch kubectl sends for labels,
//! annotations, `scale` and every kind it has no strategic metadata for (CRDs). Objects merge key by key,
//! `null` deletes a key, and anything else (lists included) replaces the target whole. It cannot fail: every
//! JSON value is a valid merge patch.

use serde_json::{Map, Value};

/// Apply an RFC 7386 merge patch to `doc`, returning the patched copy.
pub fn apply_merge_patch(doc: &Value, patch: &Value) -> Value {
    let Value::Object(changes) = patch else {
        return patch.clone();
    };
    let mut target = match doc {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    merge_into(&mut target, changes);
    Value::Object(target)
}

fn merge_into(target: &mut Map<String, Value>, changes: &Map<String, Value>) {
    for (key, change) in changes {
        match change {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(nested) => {
                let slot = target.entry(key.clone()).or_insert(Value::Null);
                // A non-object target is replaced by an empty one first, so nulls nested in the patch are
                // dropped instead of being stored.
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(inner) = slot {
                    merge_into(inner, nested);
                }
            }
            _ => {
                target.insert(key.clone(), change.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7386_appendix_a_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (doc, patch, expected) in cases {
            assert_eq!(apply_merge_patch(&doc, &patch), expected, "{doc} + {patch}");
        }
    }

    #[test]
    fn kubectl_label_and_annotation_patches() {
        let doc = json!({
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {"replicas": 1, "ports": [{"port": 80}]}
        });
        let patch = json!({
            "metadata": {"labels": {"tier": null, "env": "prod"}, "annotations": {"note": "x"}},
            "spec": {"ports": [{"port": 443}]}
        });
        assert_eq!(
            apply_merge_patch(&doc, &patch),
            json!({
                "metadata": {"name": "web", "labels": {"app": "web", "env": "prod"}, "annotations": {"note": "x"}},
                "spec": {"replicas": 1, "ports": [{"port": 443}]}
            })
        );
    }

    #[test]
    fn nulls_inside_lists_are_kept() {
        let patch = json!({"args": [null, "x"]});
        assert_eq!(apply_merge_patch(&json!({}), &patch), json!({"args": [null, "x"]}));
    }
}
