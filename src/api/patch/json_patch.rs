//! RFC 6902 JSON patch (`application/json-patch+json`): an array of add/remove/replace/move/copy/test
//! operations addressed by RFC 6901 JSON pointers. Applied strictly: every location an operation reads or
//! replaces must exist, array indexes must be canonical, and one failing operation fails the whole patch.
//! The work is bounded like upstream's API server: a cap on the number of operations and on the bytes that
//! `copy` may duplicate, because both let a small request grow a large object.

use serde_json::Value;

use super::value::json_equal;
use super::PatchError;

/// Most operations one patch may hold (upstream's `maxJSONPatchOperations`).
const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// Most bytes, as compact JSON, that the `copy` operations of one patch may duplicate in total
/// (upstream's default `JSONPatchMaxCopyBytes`).
const MAX_JSON_PATCH_COPY_BYTES: u64 = 3 * 1024 * 1024;

/// Apply an RFC 6902 JSON patch to `doc`, returning the patched copy.
pub fn apply_json_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Array(operations) = patch else {
        return Err(PatchError::InvalidPatch("a JSON patch must be a JSON array of operations".to_owned()));
    };
    if operations.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations { count: operations.len(), limit: MAX_JSON_PATCH_OPERATIONS });
    }
    let mut doc = doc.clone();
    let mut copied_bytes = 0;
    for (index, raw) in operations.iter().enumerate() {
        let operation = Operation::parse(raw).map_err(|reason| PatchError::InvalidPatch(format!("operation {index}: {reason}")))?;
        operation.apply(&mut doc, &mut copied_bytes).map_err(|failure| match failure {
            Failure::CopyTooLarge => PatchError::CopyTooLarge { copied_bytes, limit_bytes: MAX_JSON_PATCH_COPY_BYTES },
            Failure::Reason(reason) => {
                PatchError::JsonPatchFailed { index, op: operation.action.name().to_owned(), path: operation.path.text.to_owned(), reason }
            }
        })?;
    }
    Ok(doc)
}

/// A parsed JSON pointer: its text for messages and its unescaped reference tokens.
struct Pointer<'p> {
    text: &'p str,
    tokens: Vec<String>,
}

impl<'p> Pointer<'p> {
    fn parse(text: &'p str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Pointer { text, tokens: Vec::new() });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!("JSON pointer {text:?} must be empty or start with \"/\""));
        };
        let tokens = rest
            .split('/')
            .map(unescape_token)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("JSON pointer {text:?} has a \"~\" not followed by \"0\" or \"1\""))?;
        Ok(Pointer { text, tokens })
    }

    /// Whether `self` lies strictly inside `other`, which makes moving `other` to `self` impossible.
    fn is_inside(&self, other: &Pointer<'_>) -> bool {
        self.tokens.len() > other.tokens.len() && self.tokens.starts_with(&other.tokens)
    }
}

/// Undo RFC 6901 escaping (`~1` is `/`, `~0` is `~`); None for any other use of `~`.
fn unescape_token(token: &str) -> Option<String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

struct Operation<'p> {
    path: Pointer<'p>,
    action: Action<'p>,
}

/// What an operation does, with the members its kind requires.
enum Action<'p> {
    Add(&'p Value),
    Remove,
    Replace(&'p Value),
    Move { from: Pointer<'p> },
    Copy { from: Pointer<'p> },
    Test(&'p Value),
}

impl Action<'_> {
    fn name(&self) -> &'static str {
        match self {
            Action::Add(_) => "add",
            Action::Remove => "remove",
            Action::Replace(_) => "replace",
            Action::Move { .. } => "move",
            Action::Copy { .. } => "copy",
            Action::Test(_) => "test",
        }
    }
}

/// Why an operation did not apply; the copy budget is separate because it has its own error.
enum Failure {
    Reason(String),
    CopyTooLarge,
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::Reason(reason)
    }
}

impl<'p> Operation<'p> {
    fn parse(raw: &'p Value) -> Result<Self, String> {
        let Value::Object(fields) = raw else {
            return Err("each operation must be a JSON object".to_owned());
        };
        let Some(op) = fields.get("op").and_then(Value::as_str) else {
            return Err("missing string member \"op\"".to_owned());
        };
        let pointer = |member: &str| -> Result<Pointer<'p>, String> {
            let text = fields.get(member).and_then(Value::as_str).ok_or_else(|| format!("{op} needs a string member {member:?}"))?;
            Pointer::parse(text)
        };
        let value = || -> Result<&'p Value, String> { fields.get("value").ok_or_else(|| format!("{op} needs a member \"value\"")) };
        let action = match op {
            "add" => Action::Add(value()?),
            "remove" => Action::Remove,
            "replace" => Action::Replace(value()?),
            "move" => Action::Move { from: pointer("from")? },
            "copy" => Action::Copy { from: pointer("from")? },
            "test" => Action::Test(value()?),
            other => return Err(format!("unknown op {other:?}; expected add, remove, replace, move, copy or test")),
        };
        Ok(Operation { path: pointer("path")?, action })
    }

    fn apply(&self, doc: &mut Value, copied_bytes: &mut u64) -> Result<(), Failure> {
        let path = &self.path.tokens;
        match &self.action {
            Action::Add(value) => add(doc, path, (*value).clone())?,
            Action::Remove => {
                remove(doc, path)?;
            }
            Action::Replace(value) => *lookup_mut(doc, path)? = (*value).clone(),
            Action::Test(value) => {
                if !json_equal(lookup(doc, path)?, value) {
                    return Err(Failure::Reason("test failed: the value at the path differs from the given value".to_owned()));
                }
            }
            Action::Move { from } => {
                if self.path.is_inside(from) {
                    return Err(Failure::Reason(format!("cannot move {:?} into its own child", from.text)));
                }
                if *path == from.tokens {
                    lookup(doc, path)?;
                } else {
                    let moved = remove(doc, &from.tokens)?;
                    add(doc, path, moved)?;
                }
            }
            Action::Copy { from } => {
                let source = lookup(doc, &from.tokens)?;
                *copied_bytes = copied_bytes.saturating_add(serialized_len(source));
                if *copied_bytes > MAX_JSON_PATCH_COPY_BYTES {
                    return Err(Failure::CopyTooLarge);
                }
                let copy = source.clone();
                add(doc, path, copy)?;
            }
        }
        Ok(())
    }
}

fn add(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match lookup_mut(doc, parent)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
        }
        Value::Array(items) => {
            let index = if last == "-" { items.len() } else { array_index(last)? };
            if index > items.len() {
                return Err(out_of_bounds(index, items.len()));
            }
            items.insert(index, value);
        }
        _ => return Err(not_a_container(parent)),
    }
    Ok(())
}

fn remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    let Some((last, parent)) = tokens.split_last() else {
        return Err("cannot remove the whole document".to_owned());
    };
    match lookup_mut(doc, parent)? {
        Value::Object(map) => map.remove(last).ok_or_else(|| format!("no value at {:?}", render(tokens))),
        Value::Array(items) => {
            let index = array_index(last)?;
            if index >= items.len() {
                return Err(out_of_bounds(index, items.len()));
            }
            Ok(items.remove(index))
        }
        _ => Err(not_a_container(parent)),
    }
}

fn lookup<'v>(doc: &'v Value, tokens: &[String]) -> Result<&'v Value, String> {
    let mut current = doc;
    for (depth, token) in tokens.iter().enumerate() {
        current = match current {
            Value::Object(map) => map.get(token),
            Value::Array(items) => items.get(array_index(token)?),
            _ => None,
        }
        .ok_or_else(|| format!("no value at {:?}", render(&tokens[..=depth])))?;
    }
    Ok(current)
}

fn lookup_mut<'v>(doc: &'v mut Value, tokens: &[String]) -> Result<&'v mut Value, String> {
    let mut current = doc;
    for (depth, token) in tokens.iter().enumerate() {
        current = match current {
            Value::Object(map) => map.get_mut(token),
            Value::Array(items) => items.get_mut(array_index(token)?),
            _ => None,
        }
        .ok_or_else(|| format!("no value at {:?}", render(&tokens[..=depth])))?;
    }
    Ok(current)
}

/// An RFC 6901 array index: decimal digits without leading zeros. `-` is handled by `add` alone.
fn array_index(token: &str) -> Result<usize, String> {
    let canonical = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) && (token == "0" || !token.starts_with('0'));
    canonical.then(|| token.parse().ok()).flatten().ok_or_else(|| format!("{token:?} is not a valid array index"))
}

fn out_of_bounds(index: usize, len: usize) -> String {
    format!("index {index} is out of bounds for an array of length {len}")
}

fn not_a_container(parent: &[String]) -> String {
    format!("the value at {:?} is neither an object nor an array", render(parent))
}

/// The JSON pointer text for `tokens`, escaped again, for messages.
fn render(tokens: &[String]) -> String {
    tokens.iter().map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1"))).collect()
}

/// The size of `value` as compact JSON, measured without building the text.
fn serialized_len(value: &Value) -> u64 {
    struct ByteCounter(u64);
    impl std::io::Write for ByteCounter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = ByteCounter(0);
    // Writing to a counter cannot fail; if it ever did, count the copy as over budget rather than free.
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => u64::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(doc: Value, patch: Value) -> Result<Value, PatchError> {
        apply_json_patch(&doc, &patch)
    }

    fn failure_reason(result: Result<Value, PatchError>) -> String {
        match result {
            Err(PatchError::JsonPatchFailed { reason, .. }) => reason,
            other => panic!("expected JsonPatchFailed, got {other:?}"),
        }
    }

    #[test]
    fn add_sets_members_inserts_and_appends() {
        let doc = json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 3]});
        let patch = json!([
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "add", "path": "/metadata/labels/a", "value": "replaced"},
            {"op": "add", "path": "/list/1", "value": 2},
            {"op": "add", "path": "/list/-", "value": 4},
            {"op": "add", "path": "/list/4", "value": 5},
            {"op": "add", "path": "/new", "value": null},
        ]);
        assert_eq!(
            apply(doc, patch).unwrap(),
            json!({"metadata": {"labels": {"a": "replaced", "b": "2"}}, "list": [1, 2, 3, 4, 5], "new": null})
        );
    }

    #[test]
    fn add_and_replace_at_root_replace_the_document() {
        let doc = json!({"a": 1});
        assert_eq!(apply(doc.clone(), json!([{"op": "add", "path": "", "value": [1]}])).unwrap(), json!([1]));
        assert_eq!(apply(doc, json!([{"op": "replace", "path": "", "value": {"b": 2}}])).unwrap(), json!({"b": 2}));
    }

    #[test]
    fn pointer_escapes_address_keys_with_slash_and_tilde() {
        let doc = json!({"metadata": {"annotations": {"example.com/a~b": "x"}}});
        let patch = json!([
            {"op": "replace", "path": "/metadata/annotations/example.com~1a~0b", "value": "y"},
            {"op": "add", "path": "/metadata/annotations/~01", "value": "z"},
        ]);
        assert_eq!(apply(doc, patch).unwrap(), json!({"metadata": {"annotations": {"example.com/a~b": "y", "~1": "z"}}}));
    }

    #[test]
    fn remove_and_replace_need_an_existing_target() {
        let doc = json!({"spec": {"replicas": 1, "list": ["a"]}});
        let removed = apply(doc.clone(), json!([{"op": "remove", "path": "/spec/replicas"}])).unwrap();
        assert_eq!(removed, json!({"spec": {"list": ["a"]}}));
        let removed = apply(doc.clone(), json!([{"op": "remove", "path": "/spec/list/0"}])).unwrap();
        assert_eq!(removed, json!({"spec": {"replicas": 1, "list": []}}));

        let reason = failure_reason(apply(doc.clone(), json!([{"op": "remove", "path": "/spec/missing"}])));
        assert_eq!(reason, "no value at \"/spec/missing\"");
        let reason = failure_reason(apply(doc.clone(), json!([{"op": "replace", "path": "/spec/missing", "value": 1}])));
        assert_eq!(reason, "no value at \"/spec/missing\"");
        let reason = failure_reason(apply(doc.clone(), json!([{"op": "remove", "path": "/spec/list/1"}])));
        assert_eq!(reason, "index 1 is out of bounds for an array of length 1");
        let reason = failure_reason(apply(doc, json!([{"op": "remove", "path": ""}])));
        assert_eq!(reason, "cannot remove the whole document");
    }

    #[test]
    fn add_needs_an_existing_parent_and_an_index_in_range() {
        let doc = json!({"spec": {"list": [1]}, "scalar": 1});
        let reason = failure_reason(apply(doc.clone(), json!([{"op": "add", "path": "/a/b", "value": 1}])));
        assert_eq!(reason, "no value at \"/a\"");
        let reason = failure_reason(apply(doc.clone(), json!([{"op": "add", "path": "/spec/list/2", "value": 1}])));
        assert_eq!(reason, "index 2 is out of bounds for an array of length 1");
        let reason = failure_reason(apply(doc.clone(), json!([{"op": "add", "path": "/scalar/x", "value": 1}])));
        assert_eq!(reason, "the value at \"/scalar\" is neither an object nor an array");
        for bad in ["01", "-1", "x", ""] {
            let patch = json!([{"op": "add", "path": format!("/spec/list/{bad}"), "value": 1}]);
            assert_eq!(failure_reason(apply(doc.clone(), patch)), format!("{bad:?} is not a valid array index"));
        }
        // "-" names the end of an array only for add; elsewhere it is not an index.
        let reason = failure_reason(apply(doc, json!([{"op": "replace", "path": "/spec/list/-", "value": 1}])));
        assert_eq!(reason, "\"-\" is not a valid array index");
    }

    #[test]
    fn test_compares_structurally_and_fails_the_patch() {
        let doc = json!({"metadata": {"resourceVersion": "7", "labels": {"a": "1", "b": "2"}}, "n": 80});
        let ok = json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
            {"op": "test", "path": "/metadata/labels", "value": {"b": "2", "a": "1"}},
            {"op": "test", "path": "/n", "value": 80.0},
            {"op": "replace", "path": "/n", "value": 81},
        ]);
        assert_eq!(apply(doc.clone(), ok).unwrap()["n"], json!(81));

        let stale = json!([
            {"op": "replace", "path": "/n", "value": 81},
            {"op": "test", "path": "/metadata/resourceVersion", "value": "6"},
        ]);
        match apply(doc.clone(), stale) {
            Err(PatchError::JsonPatchFailed { index, op, path, reason }) => {
                assert_eq!((index, op.as_str(), path.as_str()), (1, "test", "/metadata/resourceVersion"));
                assert!(reason.starts_with("test failed"), "{reason}");
            }
            other => panic!("expected a failed test, got {other:?}"),
        }
        // A test of a missing location fails even when the expected value is null.
        let reason = failure_reason(apply(doc, json!([{"op": "test", "path": "/absent", "value": null}])));
        assert_eq!(reason, "no value at \"/absent\"");
    }

    #[test]
    fn move_relocates_and_refuses_to_move_into_itself() {
        let doc = json!({"a": {"b": 1}, "list": [1, 2, 3]});
        let moved = apply(
            doc.clone(),
            json!([
                {"op": "move", "from": "/a/b", "path": "/c"},
                {"op": "move", "from": "/list/0", "path": "/list/-"},
                {"op": "move", "from": "/c", "path": "/c"},
            ]),
        )
        .unwrap();
        assert_eq!(moved, json!({"a": {}, "c": 1, "list": [2, 3, 1]}));

        let reason = failure_reason(apply(doc.clone(), json!([{"op": "move", "from": "/a", "path": "/a/x"}])));
        assert_eq!(reason, "cannot move \"/a\" into its own child");
        let reason = failure_reason(apply(doc.clone(), json!([{"op": "move", "from": "/nope", "path": "/x"}])));
        assert_eq!(reason, "no value at \"/nope\"");
        let reason = failure_reason(apply(doc, json!([{"op": "move", "from": "/nope", "path": "/nope"}])));
        assert_eq!(reason, "no value at \"/nope\"");
    }

    #[test]
    fn copy_duplicates_independent_values() {
        let doc = json!({"a": {"b": [1]}});
        let copied = apply(
            doc,
            json!([
                {"op": "copy", "from": "/a", "path": "/c"},
                {"op": "add", "path": "/c/b/-", "value": 2},
            ]),
        )
        .unwrap();
        assert_eq!(copied, json!({"a": {"b": [1]}, "c": {"b": [1, 2]}}));
    }

    #[test]
    fn copy_is_bounded_by_total_bytes() {
        let chunk_bytes = 1024 * 1024;
        let doc = json!({"big": "x".repeat(chunk_bytes)});
        let copy_to = |name: &str| json!({"op": "copy", "from": "/big", "path": format!("/{name}")});
        let within = json!([copy_to("c1"), copy_to("c2")]);
        assert!(apply(doc.clone(), within).is_ok());
        let over = json!([copy_to("c1"), copy_to("c2"), copy_to("c3")]);
        match apply(doc, over) {
            Err(PatchError::CopyTooLarge { copied_bytes, limit_bytes }) => {
                assert_eq!(limit_bytes, MAX_JSON_PATCH_COPY_BYTES);
                // Each copy is the string plus its two quotes.
                assert_eq!(copied_bytes, 3 * (chunk_bytes as u64 + 2));
            }
            other => panic!("expected CopyTooLarge, got {other:?}"),
        }
    }

    #[test]
    fn operation_count_is_bounded() {
        let op = json!({"op": "test", "path": "", "value": {}});
        let at_limit = Value::Array(vec![op.clone(); MAX_JSON_PATCH_OPERATIONS]);
        assert!(apply(json!({}), at_limit).is_ok());
        let over = Value::Array(vec![op; MAX_JSON_PATCH_OPERATIONS + 1]);
        assert_eq!(
            apply(json!({}), over),
            Err(PatchError::TooManyOperations { count: MAX_JSON_PATCH_OPERATIONS + 1, limit: MAX_JSON_PATCH_OPERATIONS })
        );
    }

    #[test]
    fn malformed_patches_are_rejected_before_applying() {
        let malformed = |patch: Value| match apply(json!({"a": 1}), patch) {
            Err(PatchError::InvalidPatch(message)) => message,
            other => panic!("expected InvalidPatch, got {other:?}"),
        };
        assert_eq!(malformed(json!({"op": "add"})), "a JSON patch must be a JSON array of operations");
        assert_eq!(malformed(json!(["add"])), "operation 0: each operation must be a JSON object");
        assert_eq!(malformed(json!([{"path": "/a"}])), "operation 0: missing string member \"op\"");
        assert_eq!(
            malformed(json!([{"op": "merge", "path": "/a"}])),
            "operation 0: unknown op \"merge\"; expected add, remove, replace, move, copy or test"
        );
        assert_eq!(
            malformed(json!([{"op": "remove", "path": "/a"}, {"op": "add", "path": "/b"}])),
            "operation 1: add needs a member \"value\""
        );
        assert_eq!(malformed(json!([{"op": "copy", "path": "/b"}])), "operation 0: copy needs a string member \"from\"");
        assert_eq!(malformed(json!([{"op": "remove", "path": "a"}])), "operation 0: JSON pointer \"a\" must be empty or start with \"/\"");
        assert_eq!(
            malformed(json!([{"op": "remove", "path": "/a~2"}])),
            "operation 0: JSON pointer \"/a~2\" has a \"~\" not followed by \"0\" or \"1\""
        );
    }

    #[test]
    fn a_failing_operation_leaves_the_input_untouched() {
        let doc = json!({"a": 1});
        let result = apply(doc.clone(), json!([{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/c"}]));
        assert!(result.is_err());
        assert_eq!(doc, json!({"a": 1}));
    }
}
