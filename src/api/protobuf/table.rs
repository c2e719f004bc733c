//! The shape of the generated field table (`fields.rs`) and its two look-ups: which message an apiVersion and
//! kind name, and which field a tag number names. The table records, for each field, what the API server's Go
//! JSON encoder would do with the decoded struct field, so the decoder can write the same JSON.

use super::fields::{GROUP_VERSIONS, MESSAGES};

/// One protobuf message: a Go struct, or a Go type with its own JSON form (`shape`).
pub struct Message {
    /// Full proto name, `k8s.io.api.apps.v1.Deployment`.
    pub name: &'static str,
    pub shape: Shape,
    /// A top-level kind (its Go struct embeds `TypeMeta`), as opposed to a part of one.
    pub kind: bool,
    /// Sorted by tag.
    pub fields: &'static [Field],
}

/// How a message becomes JSON: `Struct` is a Go struct (an object of its fields); the rest are Go types with their
/// own `MarshalJSON`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Struct,
    /// A named Go slice (`type ExtraValue []string`) wrapped as `{repeated items = 1}`: a JSON array.
    List,
    /// meta/v1 `Time`: RFC 3339 in whole seconds, `null` when zero.
    Time,
    /// meta/v1 `MicroTime`: RFC 3339 with six fractional digits, `null` when zero.
    MicroTime,
    /// meta/v1 `Duration`: Go's duration string (`1h0m0s`).
    Duration,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `runtime.RawExtension`, meta/v1 `FieldsV1`, apiextensions `JSON`: the embedded JSON document.
    RawJson,
    /// apiextensions `JSONSchemaPropsOrArray`: an array of schemas, else a schema, else `null`.
    SchemaOrArray,
    /// apiextensions `JSONSchemaPropsOrBool`: a schema, else a boolean.
    SchemaOrBool,
    /// apiextensions `JSONSchemaPropsOrStringArray`: an array of strings, else a schema, else `null`.
    SchemaOrStringArray,
}

/// One field of a message.
pub struct Field {
    pub tag: u32,
    /// The JSON name (empty for `Card::Inline`).
    pub json: &'static str,
    /// The element type: the value's, the slice element's, or the map value's (map keys are always strings).
    pub kind: Kind,
    pub card: Card,
    pub omit: Omit,
}

impl Field {
    pub const fn new(tag: u32, json: &'static str, kind: Kind, card: Card, omit: Omit) -> Self {
        Self { tag, json, kind, card, omit }
    }
}

/// A proto field type: the scalars that occur in Kubernetes' generated.proto files, or a message.
#[derive(Clone, Copy)]
pub enum Kind {
    Bool,
    Int32,
    Int64,
    Double,
    String,
    Bytes,
    Message(&'static Message),
}

/// The Go form of a field, which decides what an absent or zero value becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Card {
    /// A plain value (`T`): absent means Go's zero value, which is still written unless omitted.
    Value,
    /// A pointer (`*T`): absent means nil.
    Pointer,
    /// A slice (`[]T`): absent means nil.
    Slice,
    /// A map with string keys: absent means nil.
    Map,
    /// An embedded struct without a JSON name, whose fields Go's encoder writes into the enclosing object.
    Inline,
}

/// The field's JSON tag options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Omit {
    /// Neither: the field is always written (`null` for nil).
    Never,
    /// `omitempty`: left out when false, 0, "", nil, or an empty slice or map (never for a struct value).
    Empty,
    /// `omitzero`: left out when the value is its type's zero (for Time: the zero time).
    Zero,
}

impl Message {
    /// The field with this tag number.
    pub fn field(&self, tag: u32) -> Option<(usize, &'static Field)> {
        let index = self.fields.binary_search_by_key(&tag, |f| f.tag).ok()?;
        Some((index, &self.fields[index]))
    }
}

/// Kinds of meta/v1 that upstream registers in every group-version (`metav1.AddToGroupVersion`), so a body may
/// carry them with any apiVersion; the last five are registered unversioned, under `v1`.
const META_KINDS_EVERYWHERE: &[&str] =
    &["CreateOptions", "DeleteOptions", "GetOptions", "ListOptions", "PatchOptions", "UpdateOptions", "WatchEvent"];
const META_KINDS_UNVERSIONED: &[&str] = &["APIGroup", "APIGroupList", "APIResourceList", "APIVersions", "Status"];
const META_V1_PACKAGE: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

/// The message of a kind at an apiVersion, as the API server's scheme would resolve it.
pub fn kind_message(api_version: &str, kind: &str) -> Option<&'static Message> {
    let index = GROUP_VERSIONS.binary_search_by_key(&api_version, |(gv, _)| gv).ok()?;
    let package = GROUP_VERSIONS[index].1;
    if let Some(message) = message(&format!("{package}.{kind}")).filter(|m| m.kind) {
        return Some(message);
    }
    let everywhere = META_KINDS_EVERYWHERE.contains(&kind);
    let unversioned = api_version == "v1" && META_KINDS_UNVERSIONED.contains(&kind);
    (everywhere || unversioned).then(|| message(&format!("{META_V1_PACKAGE}.{kind}"))).flatten()
}

fn message(name: &str) -> Option<&'static Message> {
    MESSAGES.binary_search_by_key(&name, |m| m.name).ok().map(|i| MESSAGES[i])
}
