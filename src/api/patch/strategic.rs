//! Kubernetes strategic merge patch (`application/strategic-merge-patch+json`), applied the way upstream's
//! apimachinery `strategicpatch` applies it on the server. Objects merge recursively and `null` deletes a
//! key; lists whose field has patch strategy "merge" merge element by element (by the patch merge key, or
//! as a set for primitives); every other list is replaced whole. On top of that the patch may carry
//! directives: `$patch` (replace/delete/merge), `$retainKeys`, `$setElementOrder/<list>` and
//! `$deleteFromPrimitiveList/<list>`, which kubectl's client-side apply relies on. Directives steer the merge
//! and never reach the result.
//!
//! Where there is nothing to merge with (a new key, a new list element, a replaced value) the patch value is
//! "cleaned" instead: its directives are resolved and its object nulls dropped. Upstream copies such values
//! raw in some places, which can leave directive keys in the stored object; cleaning everywhere keeps the
//! result free of them. Upstream also rejects `$patch: merge` on objects; here it is accepted as the merge
//! that happens anyway. `$patch: delete` on an existing object leaves it empty (`{}`), as upstream does.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::schema::{FieldPatchInfo, FieldShape, PatchSchema};
use super::value::canonical_key;
use super::PatchError;

/// `$patch: replace | delete | merge` on an object, or as a marker element of a merge list.
const PATCH_DIRECTIVE: &str = "$patch";
/// `$retainKeys: [..]`: clear every field of the current object not listed, then merge.
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
/// `$setElementOrder/<list>: [..]`: the order the merged list must have.
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";
/// `$deleteFromPrimitiveList/<list>: [..]`: values to remove from a primitive list.
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";

type Object = Map<String, Value>;

/// Apply a strategic merge patch to `doc`, an object of OpenAPI type `root_type_name`, returning the patched
/// copy. Fields `schema` does not know merge like JSON merge patch (objects merge, lists replace).
pub fn apply_strategic_merge_patch(
    doc: &Value,
    patch: &Value,
    schema: &dyn PatchSchema,
    root_type_name: &str,
) -> Result<Value, PatchError> {
    let (Value::Object(original), Value::Object(changes)) = (doc, patch) else {
        return Err(PatchError::InvalidPatch("a strategic merge patch and the object it patches must both be JSON objects".to_owned()));
    };
    let merger = Merger { schema };
    let scope = Scope::Object(root_type_name.to_owned());
    merger.merge_object(original.clone(), changes, &scope, &Location::Root).map(Value::Object)
}

/// Where in the patch the merge is, rendered only when an error needs it.
#[derive(Clone, Copy)]
enum Location<'a> {
    Root,
    Field(&'a Location<'a>, &'a str),
    Index(&'a Location<'a>, usize),
}

impl<'a> Location<'a> {
    fn field(&'a self, name: &'a str) -> Location<'a> {
        Location::Field(self, name)
    }

    fn index(&'a self, index: usize) -> Location<'a> {
        Location::Index(self, index)
    }

    fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        if out.is_empty() {
            "the top level".to_owned()
        } else {
            out
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Location::Root => {}
            Location::Field(parent, name) => {
                parent.write(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Location::Index(parent, index) => {
                parent.write(out);
                out.push_str(&format!("[{index}]"));
            }
        }
    }
}

/// The patch is malformed at `at`.
fn malformed(at: &Location<'_>, reason: impl Into<String>) -> PatchError {
    PatchError::InvalidStrategicPatch { at: at.render(), reason: reason.into() }
}

/// The patch is well-formed but cannot be merged into the object at `at`.
fn unmergeable(at: &Location<'_>, reason: impl Into<String>) -> PatchError {
    PatchError::StrategicPatchFailed { at: at.render(), reason: reason.into() }
}

#[derive(Clone, Copy)]
enum Directive {
    Replace,
    Delete,
    Merge,
}

fn directive_of(object: &Object, at: &Location<'_>) -> Result<Option<Directive>, PatchError> {
    let Some(value) = object.get(PATCH_DIRECTIVE) else {
        return Ok(None);
    };
    match value.as_str() {
        Some("replace") => Ok(Some(Directive::Replace)),
        Some("delete") => Ok(Some(Directive::Delete)),
        Some("merge") => Ok(Some(Directive::Merge)),
        _ => Err(malformed(at, format!("$patch must be \"replace\", \"delete\" or \"merge\", not {value}"))),
    }
}

fn merge_marker_in_list(at: &Location<'_>) -> PatchError {
    malformed(at, "$patch: merge is not supported as a list element; lists with patch strategy merge merge anyway")
}

fn is_directive_key(key: &str) -> bool {
    key == PATCH_DIRECTIVE
        || key == RETAIN_KEYS_DIRECTIVE
        || key.starts_with(SET_ELEMENT_ORDER_PREFIX)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
}

/// The list field a `<prefix>/<field>` directive names; `suffix` is what follows the prefix.
fn directive_target<'k>(suffix: &'k str, prefix: &str, at: &Location<'_>) -> Result<&'k str, PatchError> {
    suffix
        .strip_prefix('/')
        .filter(|field| !field.is_empty())
        .ok_or_else(|| malformed(at, format!("expected a key of the form {prefix}/<field>")))
}

/// The type whose fields are being merged: a named definition, the values of a map, or nothing known.
#[derive(Clone, Default)]
enum Scope {
    #[default]
    Unknown,
    Object(String),
    MapOf(Option<String>),
}

impl Scope {
    fn named(type_name: Option<String>) -> Scope {
        type_name.map_or(Scope::Unknown, Scope::Object)
    }
}

/// How one field merges, distilled from its `FieldPatchInfo`.
#[derive(Default)]
struct FieldMeta {
    /// Patch strategy "merge": the list merges instead of being replaced.
    merge: bool,
    /// Patch strategy "replace": the object is replaced instead of merged.
    replace: bool,
    merge_key: Option<String>,
    /// The scope of the field's value (for a list, of its elements).
    child: Scope,
}

impl From<FieldPatchInfo> for FieldMeta {
    fn from(info: FieldPatchInfo) -> Self {
        // "retainKeys" needs no flag: `$retainKeys` is honoured wherever the patch carries it, as upstream
        // does; the strategy only tells patch generators to emit it.
        let strategies: Vec<&str> = info.patch_strategy.split(',').map(str::trim).collect();
        FieldMeta {
            merge: strategies.contains(&"merge"),
            replace: strategies.contains(&"replace"),
            merge_key: Some(info.patch_merge_key).filter(|key| !key.is_empty()),
            child: match info.shape {
                FieldShape::Map => Scope::MapOf(info.type_name),
                FieldShape::Object | FieldShape::List => Scope::named(info.type_name),
                FieldShape::Primitive => Scope::Unknown,
            },
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ElementKind {
    Null,
    Bool,
    Number,
    String,
    List,
    Object,
}

fn kind_of(value: &Value) -> ElementKind {
    match value {
        Value::Null => ElementKind::Null,
        Value::Bool(_) => ElementKind::Bool,
        Value::Number(_) => ElementKind::Number,
        Value::String(_) => ElementKind::String,
        Value::Array(_) => ElementKind::List,
        Value::Object(_) => ElementKind::Object,
    }
}

/// The one JSON type of every element of both lists, None when both are empty.
fn common_element_kind(current: &[Value], change: &[Value], at: &Location<'_>) -> Result<Option<ElementKind>, PatchError> {
    let mut kinds = current.iter().chain(change).map(kind_of);
    let Some(first) = kinds.next() else {
        return Ok(None);
    };
    if first == ElementKind::List {
        return Err(unmergeable(at, "lists of lists cannot be merged"));
    }
    if kinds.any(|kind| kind != first) {
        return Err(unmergeable(at, "the elements of the list and of the patch are not all of the same JSON type"));
    }
    Ok(Some(first))
}

/// The identity of a list element: its merge key's value when the list has one, else the whole value.
fn element_key(element: &Value, merge_key: Option<&str>) -> Option<String> {
    match merge_key {
        Some(key) => element.as_object()?.get(key).map(canonical_key),
        None => Some(canonical_key(element)),
    }
}

fn merge_key_of(element: &Object, merge_key: &str, at: &Location<'_>) -> Result<String, PatchError> {
    element
        .get(merge_key)
        .map(canonical_key)
        .ok_or_else(|| malformed(at, format!("the element does not contain declared merge key {merge_key:?}")))
}

/// Where each identity first occurs in `list`; elements without an identity are skipped.
fn first_positions<'v>(list: impl IntoIterator<Item = &'v Value>, merge_key: Option<&str>) -> HashMap<String, usize> {
    let mut positions = HashMap::new();
    for (index, element) in list.into_iter().enumerate() {
        if let Some(key) = element_key(element, merge_key) {
            positions.entry(key).or_insert(index);
        }
    }
    positions
}

/// Order merged list elements as upstream does. Elements the patch mentions come in the patch's order (or
/// the `$setElementOrder` list's); the others keep the current list's order; the two runs are then woven
/// together, a current-only element going first only when the current list has it before the patched
/// element it is compared with.
fn order<T>(merged: Vec<(String, T)>, patch_order: &HashMap<String, usize>, current_order: &HashMap<String, usize>) -> Vec<T> {
    let rank = |ranks: &HashMap<String, usize>, key: &str| ranks.get(key).copied().unwrap_or(usize::MAX);
    let (mut patched, mut current_only): (Vec<_>, Vec<_>) = merged.into_iter().partition(|(key, _)| patch_order.contains_key(key));
    patched.sort_by_key(|(key, _)| rank(patch_order, key));
    current_only.sort_by_key(|(key, _)| rank(current_order, key));

    let mut out = Vec::with_capacity(patched.len() + current_only.len());
    let mut patched = patched.into_iter().peekable();
    let mut current_only = current_only.into_iter().peekable();
    loop {
        let take_current = match (current_only.peek(), patched.peek()) {
            (Some((left, _)), Some((right, _))) => {
                matches!((current_order.get(left), current_order.get(right)), (Some(l), Some(r)) if l < r)
            }
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_current { current_only.next() } else { patched.next() };
        out.extend(next.map(|(_, element)| element));
    }
    out
}

/// Union of two primitive lists without duplicates, ordered like every merged list.
fn merge_primitive_list(current: Vec<Value>, change: &[Value]) -> Vec<Value> {
    let current_order = first_positions(&current, None);
    let patch_order = first_positions(change, None);
    let mut seen = HashSet::new();
    let merged: Vec<(String, Value)> = current
        .into_iter()
        .chain(change.iter().cloned())
        .filter_map(|value| {
            let key = canonical_key(&value);
            seen.insert(key.clone()).then_some((key, value))
        })
        .collect();
    order(merged, &patch_order, &current_order)
}

/// A patch value placed where there is nothing to merge with: directives resolved and dropped, object nulls
/// dropped (they have nothing to delete). None when the value deletes itself with `$patch: delete`.
fn clean(change: &Value, at: &Location<'_>) -> Result<Option<Value>, PatchError> {
    match change {
        Value::Object(object) => match directive_of(object, at)? {
            Some(Directive::Delete) => Ok(None),
            _ => Ok(Some(Value::Object(clean_object(object, at)?))),
        },
        Value::Array(items) => Ok(Some(Value::Array(clean_list(items, at)?))),
        other => Ok(Some(other.clone())),
    }
}

fn clean_object(object: &Object, at: &Location<'_>) -> Result<Object, PatchError> {
    let mut out = Object::new();
    for (key, value) in object {
        if is_directive_key(key) || value.is_null() {
            continue;
        }
        if let Some(value) = clean(value, &at.field(key))? {
            out.insert(key.clone(), value);
        }
    }
    Ok(out)
}

fn clean_list(items: &[Value], at: &Location<'_>) -> Result<Vec<Value>, PatchError> {
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let item_at = at.index(index);
        if let Value::Object(object) = item {
            match directive_of(object, &item_at)? {
                // Marker elements act on a current list, and here there is none.
                Some(Directive::Replace | Directive::Delete) => continue,
                Some(Directive::Merge) => return Err(merge_marker_in_list(&item_at)),
                None => {}
            }
        }
        out.extend(clean(item, &item_at)?);
    }
    Ok(out)
}

/// Apply `$retainKeys`: every field the patch sets must be listed, and unlisted fields are cleared.
fn retain_keys(original: &mut Object, patch: &Object, keys: &Value, at: &Location<'_>) -> Result<(), PatchError> {
    let not_a_list = || malformed(&at.field(RETAIN_KEYS_DIRECTIVE), "$retainKeys must be a list of field names");
    let keep: HashSet<&str> =
        keys.as_array().ok_or_else(not_a_list)?.iter().map(|key| key.as_str().ok_or_else(not_a_list)).collect::<Result<_, _>>()?;
    let stray = patch.iter().find(|(key, change)| !change.is_null() && !is_directive_key(key) && !keep.contains(key.as_str()));
    if let Some((key, _)) = stray {
        return Err(malformed(at, format!("field {key:?} is set in the patch but not listed in $retainKeys")));
    }
    original.retain(|key, _| keep.contains(key.as_str()));
    Ok(())
}

/// Apply `$deleteFromPrimitiveList/<field>`: remove the listed values from the current list, if any.
fn delete_from_list(original: &mut Object, field: &str, doomed: &Value, at: &Location<'_>) -> Result<(), PatchError> {
    let Value::Array(doomed) = doomed else {
        return Err(malformed(at, "must be a list of the values to delete"));
    };
    if let Some(Value::Array(items)) = original.get_mut(field) {
        let doomed: HashSet<String> = doomed.iter().map(canonical_key).collect();
        items.retain(|item| !doomed.contains(&canonical_key(item)));
    }
    Ok(())
}

/// Check the patch list against its `$setElementOrder` list: the non-directive elements of the patch must
/// appear there, in the same relative order.
fn check_listed_order(
    change: &[Value],
    listed: &[Value],
    merge_key: Option<&str>,
    field: &str,
    at: &Location<'_>,
) -> Result<(), PatchError> {
    if listed.is_empty() {
        return Ok(());
    }
    let mut remaining = listed.iter();
    for (index, element) in change.iter().enumerate() {
        if element.as_object().is_some_and(|object| object.contains_key(PATCH_DIRECTIVE)) {
            continue;
        }
        let key = element_key(element, merge_key).ok_or_else(|| {
            malformed(&at.index(index), format!("the element does not contain declared merge key {:?}", merge_key.unwrap_or_default()))
        })?;
        if !remaining.any(|entry| element_key(entry, merge_key).as_ref() == Some(&key)) {
            return Err(malformed(
                at,
                format!(
                    "the patch list does not match {SET_ELEMENT_ORDER_PREFIX}/{field}: every element of the \
                     patch list must be listed there, in the same order"
                ),
            ));
        }
    }
    Ok(())
}

/// Order a merged list as its `$setElementOrder` list says.
fn order_as_listed(
    merged: Vec<Value>,
    listed: &[Value],
    merge_key: Option<&str>,
    current_order: &HashMap<String, usize>,
    directive_at: &Location<'_>,
    field_at: &Location<'_>,
) -> Result<Vec<Value>, PatchError> {
    let mut ranks = HashMap::new();
    for (rank, entry) in listed.iter().enumerate() {
        let key = element_key(entry, merge_key).ok_or_else(|| {
            malformed(directive_at, format!("entry {rank} does not contain declared merge key {:?}", merge_key.unwrap_or_default()))
        })?;
        ranks.entry(key).or_insert(rank);
    }
    let keyed = merged
        .into_iter()
        .enumerate()
        .map(|(index, element)| match element_key(&element, merge_key) {
            Some(key) => Ok((key, element)),
            None => Err(unmergeable(
                field_at,
                format!("the list element at index {index} does not contain declared merge key {:?}", merge_key.unwrap_or_default()),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(order(keyed, &ranks, current_order))
}

/// The `$patch` value of a list element, if it is a marker element.
fn marker(element: &Value) -> Option<&str> {
    element.get(PATCH_DIRECTIVE).and_then(Value::as_str)
}

/// The current positions a `$setElementOrder` weave compares against. Upstream compares against the current
/// list as its merge left it in place: elements deleted by `$patch: delete` markers drop out, and elements
/// the patch adds take the freed places at the end, up to the current list's length. So when a patch deletes
/// elements, as many added elements rank after the surviving current ones instead of before them.
fn placement_order(current: &[Value], change: Option<&[Value]>, meta: &FieldMeta) -> HashMap<String, usize> {
    let merge_key = meta.merge_key.as_deref();
    let change = change.unwrap_or_default();
    let rewritten = meta.merge && merge_key.is_some() && !change.iter().any(|e| marker(e) == Some("replace"));
    if !rewritten {
        return first_positions(current, merge_key);
    }
    let deleted: HashSet<String> =
        change.iter().filter(|element| marker(element) == Some("delete")).filter_map(|element| element_key(element, merge_key)).collect();
    let kept = current.iter().filter(|element| element_key(element, merge_key).is_none_or(|key| !deleted.contains(&key)));
    let mut present: HashSet<String> = kept.clone().filter_map(|element| element_key(element, merge_key)).collect();
    let added =
        change.iter().filter(|element| marker(element).is_none() && element_key(element, merge_key).is_some_and(|key| present.insert(key)));
    first_positions(kept.chain(added).take(current.len()), merge_key)
}

/// Takes the elements out of `slot` if it is a list, leaving it empty for the caller to refill.
fn take_list(slot: &mut Value) -> Option<Vec<Value>> {
    match slot {
        Value::Array(items) => Some(std::mem::take(items)),
        _ => None,
    }
}

struct Merger<'s> {
    schema: &'s dyn PatchSchema,
}

impl Merger<'_> {
    fn field_meta(&self, scope: &Scope, name: &str) -> FieldMeta {
        match scope {
            Scope::Unknown => FieldMeta::default(),
            Scope::MapOf(value_type) => FieldMeta { child: Scope::named(value_type.clone()), ..FieldMeta::default() },
            Scope::Object(type_name) => self.schema.field(type_name, name).map(FieldMeta::from).unwrap_or_default(),
        }
    }

    fn merge_object(&self, mut original: Object, patch: &Object, scope: &Scope, at: &Location<'_>) -> Result<Object, PatchError> {
        match directive_of(patch, at)? {
            Some(Directive::Replace) => return clean_object(patch, at),
            Some(Directive::Delete) => return Ok(Object::new()),
            Some(Directive::Merge) | None => {}
        }
        // Upstream's order: retain keys first, then the ordered lists, then every other field.
        if let Some(keys) = patch.get(RETAIN_KEYS_DIRECTIVE) {
            retain_keys(&mut original, patch, keys, at)?;
        }
        let ordered = self.merge_ordered_lists(&mut original, patch, scope, at)?;
        let mut deletions = Vec::new();
        for (key, change) in patch {
            let field_at = at.field(key);
            if let Some(suffix) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
                let field = directive_target(suffix, DELETE_FROM_PRIMITIVE_LIST_PREFIX, &field_at)?;
                deletions.push((field, key, change));
                continue;
            }
            if is_directive_key(key) || ordered.contains(key.as_str()) {
                continue;
            }
            if change.is_null() {
                original.remove(key);
                continue;
            }
            let meta = self.field_meta(scope, key);
            let current = original.get_mut(key).map(Value::take);
            match self.merge_value(current, change, &meta, &field_at)? {
                Some(merged) => {
                    original.insert(key.clone(), merged);
                }
                None => {
                    original.remove(key);
                }
            }
        }
        // Deletions run after the merges so they see the merged lists.
        for (field, key, doomed) in deletions {
            delete_from_list(&mut original, field, doomed, &at.field(key))?;
        }
        Ok(original)
    }

    fn merge_value(
        &self,
        current: Option<Value>,
        change: &Value,
        meta: &FieldMeta,
        at: &Location<'_>,
    ) -> Result<Option<Value>, PatchError> {
        match (current, change) {
            (Some(Value::Object(current)), Value::Object(change)) if !meta.replace => {
                Ok(Some(Value::Object(self.merge_object(current, change, &meta.child, at)?)))
            }
            (Some(Value::Array(current)), Value::Array(change)) if meta.merge => {
                Ok(Some(Value::Array(self.merge_list(current, change, meta, at)?)))
            }
            _ => clean(change, at),
        }
    }

    /// Merge a list with patch strategy "merge".
    fn merge_list(&self, current: Vec<Value>, change: &[Value], meta: &FieldMeta, at: &Location<'_>) -> Result<Vec<Value>, PatchError> {
        match common_element_kind(&current, change, at)? {
            None => return Ok(current),
            Some(ElementKind::Object) => {}
            Some(_) => return Ok(merge_primitive_list(current, change)),
        }
        let Some(merge_key) = meta.merge_key.as_deref() else {
            return Err(unmergeable(at, "the list has patch strategy merge but no merge key, so its elements cannot be matched"));
        };
        // The kind check above made every element an object.
        let mut current: Vec<Object> = current
            .into_iter()
            .filter_map(|element| match element {
                Value::Object(object) => Some(object),
                _ => None,
            })
            .collect();

        // Marker elements act on the current list before the ordinary elements merge.
        let mut replace = false;
        let mut doomed = HashSet::new();
        let mut items = Vec::with_capacity(change.len());
        for (index, element) in change.iter().filter_map(Value::as_object).enumerate() {
            let element_at = at.index(index);
            match directive_of(element, &element_at)? {
                None => items.push((index, element)),
                Some(Directive::Delete) => {
                    doomed.insert(merge_key_of(element, merge_key, &element_at)?);
                }
                Some(Directive::Replace) => replace = true,
                Some(Directive::Merge) => return Err(merge_marker_in_list(&element_at)),
            }
        }
        if !doomed.is_empty() {
            current.retain(|existing| existing.get(merge_key).is_none_or(|key| !doomed.contains(&canonical_key(key))));
        }
        if replace {
            return items
                .into_iter()
                .map(|(index, element)| {
                    let element_at = at.index(index);
                    merge_key_of(element, merge_key, &element_at)?;
                    clean_object(element, &element_at).map(Value::Object)
                })
                .collect();
        }

        let mut merged = current
            .into_iter()
            .enumerate()
            .map(|(index, existing)| match existing.get(merge_key) {
                Some(key) => Ok((canonical_key(key), existing)),
                None => {
                    Err(unmergeable(at, format!("the existing element at index {index} does not contain declared merge key {merge_key:?}")))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut positions: HashMap<String, usize> = HashMap::new();
        for (index, (key, _)) in merged.iter().enumerate() {
            positions.entry(key.clone()).or_insert(index);
        }
        let current_order = positions.clone();
        let mut patch_order = HashMap::new();
        for (rank, (index, element)) in items.into_iter().enumerate() {
            let element_at = at.index(index);
            let key = merge_key_of(element, merge_key, &element_at)?;
            patch_order.entry(key.clone()).or_insert(rank);
            match positions.get(&key) {
                Some(&position) => {
                    let existing = std::mem::take(&mut merged[position].1);
                    merged[position].1 = self.merge_object(existing, element, &meta.child, &element_at)?;
                }
                None => {
                    positions.insert(key.clone(), merged.len());
                    merged.push((key, clean_object(element, &element_at)?));
                }
            }
        }
        Ok(order(merged, &patch_order, &current_order).into_iter().map(Value::Object).collect())
    }

    /// Merge every list that has a `$setElementOrder/<field>` directive and put it in the listed order.
    /// Returns the fields it merged, which the caller must not merge again.
    fn merge_ordered_lists<'p>(
        &self,
        original: &mut Object,
        patch: &'p Object,
        scope: &Scope,
        at: &Location<'_>,
    ) -> Result<HashSet<&'p str>, PatchError> {
        let mut handled = HashSet::new();
        for (directive, listed) in patch {
            let Some(suffix) = directive.strip_prefix(SET_ELEMENT_ORDER_PREFIX) else {
                continue;
            };
            let directive_at = at.field(directive);
            let field = directive_target(suffix, SET_ELEMENT_ORDER_PREFIX, &directive_at)?;
            let Value::Array(listed) = listed else {
                return Err(malformed(&directive_at, "must be a list"));
            };
            let change = match patch.get(field) {
                None => None,
                Some(Value::Array(change)) => Some(change.as_slice()),
                // The patch deletes or replaces the list with a non-list: there is nothing to order.
                Some(_) => continue,
            };
            let meta = self.field_meta(scope, field);
            let merge_key = meta.merge_key.as_deref();
            let field_at = at.field(field);
            if let Some(change) = change {
                check_listed_order(change, listed, merge_key, field, &field_at)?;
            }
            let current = original.get_mut(field).and_then(take_list);
            let current_order = current.as_ref().map(|current| placement_order(current, change, &meta)).unwrap_or_default();
            let merged = match (current, change) {
                (Some(current), Some(change)) if meta.merge => self.merge_list(current, change, &meta, &field_at)?,
                (_, Some(change)) => clean_list(change, &field_at)?,
                (Some(current), None) => current,
                (None, None) => continue,
            };
            let ordered = order_as_listed(merged, listed, merge_key, &current_order, &directive_at, &field_at)?;
            original.insert(field.to_owned(), Value::Array(ordered));
            handled.insert(field);
        }
        Ok(handled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::patch::schema::sample_schemas;
    use crate::api::patch::OpenApiPatchSchema;
    use serde_json::json;

    fn apply(root_type: &str, doc: Value, patch: Value) -> Result<Value, PatchError> {
        let schemas = sample_schemas();
        apply_strategic_merge_patch(&doc, &patch, &OpenApiPatchSchema::new(&schemas), root_type)
    }

    fn pod_spec(doc: Value, patch: Value) -> Value {
        apply("PodSpec", doc, patch).unwrap()
    }

    fn names(list: &Value) -> Vec<&str> {
        list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect()
    }

    fn has_directive_key(value: &Value) -> bool {
        match value {
            Value::Object(map) => map.iter().any(|(k, v)| k.starts_with('$') || has_directive_key(v)),
            Value::Array(items) => items.iter().any(has_directive_key),
            _ => false,
        }
    }

    fn rejection(root_type: &str, doc: Value, patch: Value) -> (String, String) {
        match apply(root_type, doc, patch) {
            Err(PatchError::InvalidStrategicPatch { at, reason }) => (at, reason),
            other => panic!("expected InvalidStrategicPatch, got {other:?}"),
        }
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {
                "replicas": 2,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [
                        {"name": "web", "image": "nginx:1.24", "ports": [{"containerPort": 80}]},
                        {"name": "log", "image": "busybox", "args": ["tail", "-f"]}
                    ]}
                }
            }
        })
    }

    #[test]
    fn maps_merge_recursively_and_null_deletes_keys() {
        let patch = json!({
            "metadata": {"labels": {"tier": null, "track": "stable", "absent": null}, "annotations": {"a": "1"}},
            "spec": {"replicas": 3, "paused": null, "template": {"metadata": {"labels": {"v": "2"}}}},
            "status": {"nested": {"keep": 1, "dropped": null}}
        });
        let result = apply("Deployment", deployment(), patch).unwrap();
        assert_eq!(result["metadata"]["labels"], json!({"app": "web", "track": "stable"}));
        assert_eq!(result["metadata"]["annotations"], json!({"a": "1"}));
        assert_eq!(result["spec"]["replicas"], json!(3));
        assert_eq!(result["spec"]["template"]["metadata"]["labels"], json!({"app": "web", "v": "2"}));
        assert_eq!(result["spec"]["template"]["spec"], deployment()["spec"]["template"]["spec"]);
        // A new object keeps its values but not its nulls: they have nothing to delete.
        assert_eq!(result["status"], json!({"nested": {"keep": 1}}));
        assert!(result["spec"].get("paused").is_none());
    }

    #[test]
    fn kubectl_apply_changes_one_container_image() {
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}, {"name": "log"}],
            "containers": [{"name": "web", "image": "nginx:1.25"}]
        }}}});
        let result = apply("Deployment", deployment(), patch).unwrap();
        let mut expected = deployment();
        expected["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.25");
        assert_eq!(result, expected);
    }

    #[test]
    fn kubectl_apply_adds_and_deletes_containers() {
        let doc = json!({"containers": [{"name": "web"}, {"name": "log"}]});
        let added = pod_spec(
            doc.clone(),
            json!({
                "$setElementOrder/containers": [{"name": "init"}, {"name": "web"}, {"name": "log"}],
                "containers": [{"name": "init", "image": "alpine"}]
            }),
        );
        assert_eq!(names(&added["containers"]), ["init", "web", "log"]);

        let deleted = pod_spec(
            doc,
            json!({
                "$setElementOrder/containers": [{"name": "web"}],
                "containers": [{"$patch": "delete", "name": "log"}]
            }),
        );
        assert_eq!(deleted, json!({"containers": [{"name": "web"}]}));
    }

    #[test]
    fn set_element_order_reorders_without_touching_contents() {
        let doc = json!({"containers": [{"name": "a", "image": "1"}, {"name": "b"}, {"name": "c"}]});
        let result = pod_spec(doc, json!({"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}));
        assert_eq!(result, json!({"containers": [{"name": "c"}, {"name": "a", "image": "1"}, {"name": "b"}]}));
    }

    #[test]
    fn set_element_order_weaves_in_elements_only_the_server_has() {
        // "x" and "y" were added by someone else; kubectl's order lists only its own containers.
        let doc = json!({"containers": [{"name": "a"}, {"name": "x"}, {"name": "b"}]});
        let result = pod_spec(doc, json!({"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}));
        assert_eq!(names(&result["containers"]), ["x", "b", "a"]);

        // An element added by a patch that also deletes one ranks after the surviving server elements.
        let doc = json!({"containers": [{"name": "x"}, {"name": "old"}, {"name": "y"}]});
        let result = pod_spec(
            doc,
            json!({
                "$setElementOrder/containers": [{"name": "new"}],
                "containers": [{"name": "new"}, {"name": "old", "$patch": "delete"}]
            }),
        );
        assert_eq!(names(&result["containers"]), ["x", "y", "new"]);
    }

    #[test]
    fn merge_lists_follow_the_patch_order_then_the_current_order() {
        let doc = json!({"containers": [{"name": "a"}, {"name": "b", "image": "b"}, {"name": "c"}]});
        let result = pod_spec(doc.clone(), json!({"containers": [{"name": "c", "image": "c"}, {"name": "a"}]}));
        assert_eq!(result, json!({"containers": [{"name": "b", "image": "b"}, {"name": "c", "image": "c"}, {"name": "a"}]}));
        // An element the server lacks is never ranked behind current elements, so one the patch lists first
        // comes first; elements after it in the patch follow it.
        let result = pod_spec(doc, json!({"containers": [{"name": "z"}, {"name": "b"}]}));
        assert_eq!(names(&result["containers"]), ["z", "a", "b", "c"]);
    }

    #[test]
    fn env_merges_by_name() {
        let doc = json!({"containers": [{"name": "web", "env": [
            {"name": "A", "value": "1"},
            {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "C", "value": "3"}
        ]}]});
        let patch = json!({
            "$setElementOrder/containers": [{"name": "web"}],
            "containers": [{
                "name": "web",
                "$setElementOrder/env": [{"name": "A"}, {"name": "B"}, {"name": "D"}],
                "env": [
                    {"name": "B", "value": "2", "valueFrom": null},
                    {"name": "D", "value": "4"},
                    {"name": "C", "$patch": "delete"}
                ]
            }]
        });
        assert_eq!(
            pod_spec(doc, patch),
            json!({"containers": [{"name": "web", "env": [
                {"name": "A", "value": "1"},
                {"name": "B", "value": "2"},
                {"name": "D", "value": "4"}
            ]}]})
        );
    }

    #[test]
    fn ports_merge_by_container_port() {
        let doc = json!({"containers": [{"name": "web", "ports": [
            {"containerPort": 80, "protocol": "TCP"},
            {"containerPort": 9090, "name": "metrics"}
        ]}]});
        // 80.0 is the same merge key as 80; the patched element then carries the patch's spelling.
        let patch = json!({"containers": [{"name": "web", "ports": [
            {"containerPort": 80.0, "name": "http"},
            {"containerPort": 443}
        ]}]});
        assert_eq!(
            pod_spec(doc, patch),
            json!({"containers": [{"name": "web", "ports": [
                {"containerPort": 80.0, "protocol": "TCP", "name": "http"},
                {"containerPort": 443},
                {"containerPort": 9090, "name": "metrics"}
            ]}]})
        );
    }

    #[test]
    fn patch_delete_removes_every_element_with_the_key() {
        let doc = json!({"containers": [{"name": "a"}, {"name": "b", "image": "1"}, {"name": "b", "image": "2"}]});
        let result = pod_spec(doc, json!({"containers": [{"name": "b", "$patch": "delete"}, {"name": "gone", "$patch": "delete"}]}));
        assert_eq!(result, json!({"containers": [{"name": "a"}]}));
    }

    #[test]
    fn retain_keys_switches_deployment_strategy_to_recreate() {
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}});
        let result = apply("Deployment", deployment(), patch).unwrap();
        assert_eq!(result["spec"]["strategy"], json!({"type": "Recreate"}));

        // Without the directive the old rollingUpdate would survive the type change.
        let patch = json!({"spec": {"strategy": {"type": "Recreate"}}});
        let result = apply("Deployment", deployment(), patch).unwrap();
        assert_eq!(result["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], json!(1));

        // Back again: fields not listed go, listed ones merge.
        let doc = json!({"spec": {"strategy": {"type": "Recreate"}}});
        let patch = json!({"spec": {"strategy": {
            "$retainKeys": ["rollingUpdate", "type"],
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1}
        }}});
        let result = apply("Deployment", doc, patch).unwrap();
        assert_eq!(result["spec"]["strategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}));
    }

    #[test]
    fn retain_keys_must_list_every_field_the_patch_sets() {
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {}}}});
        let (at, reason) = rejection("Deployment", deployment(), patch);
        assert_eq!(at, "spec.strategy");
        assert_eq!(reason, "field \"rollingUpdate\" is set in the patch but not listed in $retainKeys");

        let patch = json!({"spec": {"strategy": {"$retainKeys": "type"}}});
        let (at, reason) = rejection("Deployment", deployment(), patch);
        assert_eq!((at.as_str(), reason.as_str()), ("spec.strategy.$retainKeys", "$retainKeys must be a list of field names"));
    }

    #[test]
    fn volumes_merge_by_name_and_retain_keys() {
        let doc = json!({"volumes": [
            {"name": "data", "emptyDir": {"medium": "Memory"}},
            {"name": "config", "configMap": {"name": "old", "defaultMode": 420}}
        ]});
        let patch = json!({
            "$setElementOrder/volumes": [{"name": "data"}, {"name": "config"}],
            "volumes": [
                {"$retainKeys": ["configMap", "name"], "name": "data", "configMap": {"name": "settings"}, "emptyDir": null},
                {"name": "config", "configMap": {"name": "new"}}
            ]
        });
        assert_eq!(
            pod_spec(doc, patch),
            json!({"volumes": [
                {"name": "data", "configMap": {"name": "settings"}},
                {"name": "config", "configMap": {"name": "new", "defaultMode": 420}}
            ]})
        );
    }

    #[test]
    fn lists_without_merge_strategy_and_unknown_fields() {
        let doc = json!({
            "tolerations": [{"key": "a"}, {"key": "b"}],
            "containers": [{"name": "web", "args": ["-v", "1"]}],
            "extension": {"list": [1, 2], "map": {"a": 1}}
        });
        let patch = json!({
            "tolerations": [{"key": "c"}],
            "containers": [{"name": "web", "args": ["-q"]}],
            "extension": {"list": [3], "map": {"b": 2}}
        });
        assert_eq!(
            pod_spec(doc, patch),
            json!({
                "tolerations": [{"key": "c"}],
                "containers": [{"name": "web", "args": ["-q"]}],
                "extension": {"list": [3], "map": {"a": 1, "b": 2}}
            })
        );
        // An unknown root type merges like JSON merge patch.
        let result = apply("NoSuchType", json!({"a": {"b": 1}, "l": [1]}), json!({"a": {"c": 2}, "l": [2]})).unwrap();
        assert_eq!(result, json!({"a": {"b": 1, "c": 2}, "l": [2]}));
    }

    #[test]
    fn maps_of_quantities_merge_by_key() {
        let doc = json!({"containers": [{"name": "web", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "100m"}}}]});
        let patch = json!({"containers": [{"name": "web", "resources": {"limits": {"memory": "1Gi"}, "requests": null}}]});
        assert_eq!(pod_spec(doc, patch), json!({"containers": [{"name": "web", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}));
    }

    #[test]
    fn patch_replace_on_maps_and_lists() {
        let doc = json!({"nodeSelector": {"zone": "a", "disk": "ssd"}, "containers": [{"name": "a"}, {"name": "b"}]});
        let result = pod_spec(
            doc.clone(),
            json!({
                "nodeSelector": {"$patch": "replace", "zone": "b", "gone": null},
                "containers": [{"name": "c", "image": "x"}, {"$patch": "replace"}]
            }),
        );
        assert_eq!(result, json!({"nodeSelector": {"zone": "b"}, "containers": [{"name": "c", "image": "x"}]}));

        let emptied = pod_spec(doc, json!({"containers": [{"$patch": "replace"}]}));
        assert_eq!(emptied["containers"], json!([]));

        // Replacing a map that does not exist yet creates it.
        let created = pod_spec(json!({}), json!({"nodeSelector": {"$patch": "replace", "zone": "c"}}));
        assert_eq!(created, json!({"nodeSelector": {"zone": "c"}}));
    }

    #[test]
    fn patch_delete_and_merge_on_maps() {
        let doc = json!({"nodeSelector": {"zone": "a"}});
        // As upstream: the map is emptied, not removed.
        assert_eq!(pod_spec(doc.clone(), json!({"nodeSelector": {"$patch": "delete"}})), json!({"nodeSelector": {}}));
        assert_eq!(pod_spec(json!({}), json!({"nodeSelector": {"$patch": "delete"}})), json!({}));
        assert_eq!(
            pod_spec(doc, json!({"nodeSelector": {"$patch": "merge", "disk": "ssd"}})),
            json!({"nodeSelector": {"zone": "a", "disk": "ssd"}})
        );
    }

    #[test]
    fn primitive_merge_lists_union_and_delete() {
        let doc = json!({"metadata": {"finalizers": ["a", "b"]}});
        let union = apply("Deployment", doc.clone(), json!({"metadata": {"finalizers": ["c", "a"]}})).unwrap();
        assert_eq!(union["metadata"]["finalizers"], json!(["c", "a", "b"]));

        let patch = json!({"metadata": {
            "$setElementOrder/finalizers": ["b", "c"],
            "$deleteFromPrimitiveList/finalizers": ["a", "missing"],
            "finalizers": ["c"]
        }});
        let result = apply("Deployment", doc, patch).unwrap();
        assert_eq!(result, json!({"metadata": {"finalizers": ["b", "c"]}}));

        // Deleting from a list that does not exist does not create it.
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}});
        assert_eq!(apply("Deployment", json!({"metadata": {}}), patch).unwrap(), json!({"metadata": {}}));
    }

    #[test]
    fn directives_never_reach_the_result() {
        let doc = json!({"containers": [{"name": "web"}]});
        let patch = json!({
            "$setElementOrder/containers": [{"name": "web"}, {"name": "new"}],
            "$setElementOrder/volumes": [{"name": "v"}],
            "$deleteFromPrimitiveList/tolerations": [],
            "containers": [{
                "name": "new",
                "$setElementOrder/env": [{"name": "A"}],
                "env": [{"name": "A", "value": "1", "valueFrom": null}, {"name": "B", "$patch": "delete"}],
                "resources": {"$retainKeys": ["limits"], "limits": {"$patch": "replace", "cpu": "1"}},
            }],
            "volumes": [{"$retainKeys": ["name", "emptyDir"], "name": "v", "emptyDir": {}}, {"$patch": "replace"}],
            "nodeSelector": {"$patch": "merge", "zone": "a"}
        });
        let result = pod_spec(doc, patch);
        assert!(!has_directive_key(&result), "{result}");
        assert_eq!(
            result,
            json!({
                "containers": [
                    {"name": "web"},
                    {"name": "new", "env": [{"name": "A", "value": "1"}], "resources": {"limits": {"cpu": "1"}}}
                ],
                "volumes": [{"name": "v", "emptyDir": {}}],
                "nodeSelector": {"zone": "a"}
            })
        );
    }

    #[test]
    fn malformed_directives_are_rejected() {
        let doc = || json!({"containers": [{"name": "web", "env": [{"name": "A"}]}]});
        let cases = [
            (json!({"containers": [{"image": "x"}]}), "containers[0]", "the element does not contain declared merge key \"name\""),
            (
                json!({"containers": [{"name": "web", "env": [{"value": "1"}]}]}),
                "containers[0].env[0]",
                "the element does not contain declared merge key \"name\"",
            ),
            (
                json!({"containers": [{"$patch": "delete", "image": "x"}]}),
                "containers[0]",
                "the element does not contain declared merge key \"name\"",
            ),
            (
                json!({"nodeSelector": {"$patch": "remove"}}),
                "nodeSelector",
                "$patch must be \"replace\", \"delete\" or \"merge\", not \"remove\"",
            ),
            (
                json!({"containers": [{"$patch": "merge"}]}),
                "containers[0]",
                "$patch: merge is not supported as a list element; lists with patch strategy merge merge anyway",
            ),
            (json!({"$setElementOrder/containers": {"name": "web"}}), "$setElementOrder/containers", "must be a list"),
            (json!({"$setElementOrder": []}), "$setElementOrder", "expected a key of the form $setElementOrder/<field>"),
            (json!({"$deleteFromPrimitiveList/args": "x"}), "$deleteFromPrimitiveList/args", "must be a list of the values to delete"),
            (
                json!({"$setElementOrder/containers": [{"name": "a"}, {"name": "web"}], "containers": [{"name": "web"}, {"name": "a"}]}),
                "containers",
                "the patch list does not match $setElementOrder/containers: every element of the patch list must be \
                 listed there, in the same order",
            ),
            (
                json!({"$setElementOrder/containers": [{"image": "x"}]}),
                "$setElementOrder/containers",
                "entry 0 does not contain declared merge key \"name\"",
            ),
        ];
        for (patch, at, reason) in cases {
            assert_eq!(rejection("PodSpec", doc(), patch.clone()), (at.to_owned(), reason.to_owned()), "{patch}");
        }
    }

    #[test]
    fn unmergeable_lists_fail() {
        let failure = |doc: Value, patch: Value| match apply("PodSpec", doc, patch) {
            Err(PatchError::StrategicPatchFailed { at, reason }) => (at, reason),
            other => panic!("expected StrategicPatchFailed, got {other:?}"),
        };
        let (at, reason) = failure(json!({"containers": [{"name": "a"}]}), json!({"containers": ["b"]}));
        assert_eq!(at, "containers");
        assert_eq!(reason, "the elements of the list and of the patch are not all of the same JSON type");
        let (_, reason) = failure(json!({"containers": [{"image": "a"}]}), json!({"containers": [{"name": "b"}]}));
        assert_eq!(reason, "the existing element at index 0 does not contain declared merge key \"name\"");
        let (_, reason) = failure(json!({"containers": [[1]]}), json!({"containers": [[2]]}));
        assert_eq!(reason, "lists of lists cannot be merged");
    }

    #[test]
    fn empty_patches_and_non_objects() {
        assert_eq!(apply("Deployment", deployment(), json!({})).unwrap(), deployment());
        // An empty merge list patch changes nothing.
        let unchanged = apply("Deployment", deployment(), json!({"spec": {"template": {"spec": {"containers": []}}}}));
        assert_eq!(unchanged.unwrap(), deployment());
        assert!(matches!(apply("Deployment", deployment(), json!([])), Err(PatchError::InvalidPatch(_))));
        assert!(matches!(apply("Deployment", json!("x"), json!({})), Err(PatchError::InvalidPatch(_))));
    }
}
