//! The `components.schemas` map, in OpenAPI v3 form: k8s-openapi's schema of every registered kind and of
//! everything those reference, plus the meta types operations use, a `<Kind>List` definition per kind (k8s-openapi
//! has no schema for lists), and the extensions clients read that k8s-openapi leaves out:
//! `x-kubernetes-group-version-kind` on kinds and lists (kubectl explain and client-side apply find schemas by
//! it), the patch and list semantics of `patch_meta`, and upstream's v3 shapes for IntOrString and Quantity.
//! It also undoes k8s-openapi's one schema deviation that clients notice: `metadata` listed as required.

use std::collections::BTreeMap;

use k8s_openapi::api::{authentication, autoscaling, core, policy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::routes::Kinds;
use super::{patch_meta, Gvk};
use crate::api::registry::ResourceDesc;

/// Where definitions live in a v3 document; `$ref`s are `#` followed by this and the definition name.
const DEFINITIONS_PATH: &str = "/components/schemas";
pub(super) const REF_PREFIX: &str = "#/components/schemas/";

pub(super) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(super) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(super) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub(super) const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
pub(super) const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

const GVK_EXTENSION: &str = "x-kubernetes-group-version-kind";

/// Adds a type's schema to the generator and returns a `$ref` to it.
type AddSchema = fn(&mut SchemaGenerator) -> Schema;

/// Meta types every server has, whether or not a kind's schema references them.
const META_TYPES: &[AddSchema] = &[
    SchemaGenerator::subschema_for::<meta::ObjectMeta>,
    SchemaGenerator::subschema_for::<meta::ListMeta>,
    SchemaGenerator::subschema_for::<meta::Status>,
    SchemaGenerator::subschema_for::<meta::DeleteOptions>,
    SchemaGenerator::subschema_for::<meta::WatchEvent<meta::Status>>,
    SchemaGenerator::subschema_for::<meta::Patch>,
    SchemaGenerator::subschema_for::<meta::APIResourceList>,
    SchemaGenerator::subschema_for::<meta::APIGroup>,
    SchemaGenerator::subschema_for::<meta::APIGroupList>,
    SchemaGenerator::subschema_for::<meta::APIVersions>,
];

/// Kinds that subresources carry but that are not resources themselves, with where their schema comes from.
const SUBRESOURCE_KINDS: &[(Gvk, AddSchema)] = &[
    (Gvk { group: "autoscaling", version: "v1", kind: "Scale" }, SchemaGenerator::subschema_for::<autoscaling::v1::Scale>),
    (Gvk { group: "", version: "v1", kind: "Binding" }, SchemaGenerator::subschema_for::<core::v1::Binding>),
    (Gvk { group: "policy", version: "v1", kind: "Eviction" }, SchemaGenerator::subschema_for::<policy::v1::Eviction>),
    (
        Gvk { group: "authentication.k8s.io", version: "v1", kind: "TokenRequest" },
        SchemaGenerator::subschema_for::<authentication::v1::TokenRequest>,
    ),
];

/// Meta kinds that carry a GVK upstream and that clients may look up by it.
const META_KINDS: &[(&str, Gvk)] = &[(STATUS, Gvk { group: "", version: "v1", kind: "Status" })];

pub(super) struct Components {
    pub schemas: Map<String, Value>,
    pub kinds: Kinds,
}

pub(super) fn build(resources: &[ResourceDesc]) -> Components {
    let mut generator = SchemaSettings::draft07()
        .with(|settings| {
            settings.definitions_path = DEFINITIONS_PATH.into();
            settings.meta_schema = None;
            // k8s-openapi's schemas are already OpenAPI-shaped; the `allOf` wrapping below is the only rewrite.
            settings.transforms.clear();
        })
        .into_generator();
    let mut kinds = BTreeMap::new();
    let mut inline_kinds = Map::new();
    for resource in resources {
        let schema = (resource.schema)(&mut generator);
        // A registry entry may return the kind's schema itself rather than a reference to it.
        if ref_target(schema.as_value()) != Some(resource.schema_name) {
            inline_kinds.insert(resource.schema_name.into(), schema.to_value());
        }
        kinds.insert(Gvk::of_resource(resource), resource.schema_name.to_string());
    }
    for add in META_TYPES {
        add(&mut generator);
    }
    for (gvk, add) in SUBRESOURCE_KINDS {
        let used = resources.iter().flat_map(|r| r.subresources).any(|s| Gvk::of_subresource(s) == *gvk);
        if used && !kinds.contains_key(gvk) {
            let reference = add(&mut generator);
            let name = ref_target(reference.as_value()).expect("k8s-openapi kinds are referenced, not inlined");
            kinds.insert(*gvk, name.to_string());
        }
    }

    let mut schemas = generator.take_definitions(false);
    schemas.extend(inline_kinds);
    // Create-only kinds (reviews, bindings) have no list.
    for resource in resources.iter().filter(|r| !r.list_kind.is_empty()) {
        let name = super::list_definition_name(resource);
        schemas.insert(name.clone(), list_schema(resource, &schemas));
        let gvk = Gvk { kind: resource.list_kind, ..Gvk::of_resource(resource) };
        add_gvk(&mut schemas, &name, gvk);
    }
    for (gvk, name) in &kinds {
        add_gvk(&mut schemas, name, *gvk);
    }
    for (name, gvk) in META_KINDS {
        add_gvk(&mut schemas, name, *gvk);
    }
    for schema in schemas.values_mut() {
        unrequire_metadata(schema);
    }
    patch_meta::annotate(&mut schemas);
    for schema in schemas.values_mut() {
        wrap_ref_siblings(schema);
    }
    use_upstream_scalars(&mut schemas);
    Components { schemas, kinds }
}

/// The definition name a `{"$ref": "#/components/schemas/<name>"}` schema points to.
pub(super) fn ref_target(schema: &Value) -> Option<&str> {
    schema.get("$ref")?.as_str()?.strip_prefix(REF_PREFIX)
}

/// `<Kind>List`: apiVersion, kind, metadata (ListMeta) and items of the kind, with the kind's own descriptions of
/// apiVersion and kind.
fn list_schema(resource: &ResourceDesc, schemas: &Map<String, Value>) -> Value {
    let kind_property = |name: &str| {
        schemas
            .get(resource.schema_name)
            .and_then(|schema| schema.pointer(&format!("/properties/{name}")))
            .cloned()
            .unwrap_or_else(|| json!({"type": "string"}))
    };
    json!({
        "description": format!("{} is a list of {} objects.", resource.list_kind, resource.kind),
        "type": "object",
        "properties": {
            "apiVersion": kind_property("apiVersion"),
            "items": {
                "description": format!("The {} objects of the list.", resource.kind),
                "type": "array",
                "items": {"$ref": format!("{REF_PREFIX}{}", resource.schema_name)},
            },
            "kind": kind_property("kind"),
            "metadata": {
                "$ref": format!("{REF_PREFIX}{LIST_META}"),
                "description": "Standard list metadata.",
            },
        },
        "required": ["items"],
    })
}

/// k8s-openapi lists `metadata` as required on every kind, because its Rust types hold `ObjectMeta` rather than an
/// `Option`; upstream never requires it, and kubectl's client-side validation (used for kinds without a PATCH
/// operation, such as reviews) would reject manifests that upstream accepts.
fn unrequire_metadata(schema: &mut Value) {
    let metadata_type = schema.pointer("/properties/metadata").and_then(ref_target).unwrap_or_default();
    if ![OBJECT_META, LIST_META].contains(&metadata_type) {
        return;
    }
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(required)) = object.get_mut("required") {
        required.retain(|name| name != "metadata");
        if required.is_empty() {
            object.remove("required");
        }
    }
}

/// Appends a GVK to a definition's `x-kubernetes-group-version-kind` list (upstream's shape for schemas).
fn add_gvk(schemas: &mut Map<String, Value>, name: &str, gvk: Gvk) {
    let Some(schema) = schemas.get_mut(name).and_then(Value::as_object_mut) else {
        return;
    };
    let list = schema.entry(GVK_EXTENSION).or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(entries) = list {
        let entry = gvk.to_json();
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
}

/// OpenAPI 3.0 ignores keywords beside `$ref`, so upstream wraps a reference that has a description or extensions
/// as `{"allOf": [{"$ref": …}], …}`; do the same everywhere in the schema.
fn wrap_ref_siblings(schema: &mut Value) {
    visit_schemas(schema, &mut |object| {
        if object.len() > 1 && object.get("$ref").is_some_and(Value::is_string) {
            if let Some(reference) = object.remove("$ref") {
                object.insert("allOf".into(), json!([{ "$ref": reference }]));
            }
        }
    });
}

/// Calls `visit` on a schema and on every schema nested in it, keyword-aware so that property names (a CRD's
/// JSONSchemaProps has a property called `$ref`) and literal values are never mistaken for schemas.
pub(super) fn visit_schemas(schema: &mut Value, visit: &mut dyn FnMut(&mut Map<String, Value>)) {
    let Value::Object(object) = schema else {
        return;
    };
    visit(object);
    for (keyword, value) in object.iter_mut() {
        match (keyword.as_str(), value) {
            ("properties" | "patternProperties", Value::Object(named)) => {
                named.values_mut().for_each(|nested| visit_schemas(nested, visit));
            }
            ("items" | "allOf" | "oneOf" | "anyOf", Value::Array(nested)) => {
                nested.iter_mut().for_each(|nested| visit_schemas(nested, visit));
            }
            ("items" | "additionalProperties" | "not", nested) => visit_schemas(nested, visit),
            _ => {}
        }
    }
}

/// k8s-openapi describes IntOrString and Quantity only by `x-kubernetes-int-or-string`; upstream's v3 documents
/// give their JSON types as alternatives, which kubectl explain and validators understand.
fn use_upstream_scalars(schemas: &mut Map<String, Value>) {
    let scalars = [
        (INT_OR_STRING, json!({"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]})),
        (QUANTITY, json!({"oneOf": [{"type": "string"}, {"type": "number"}]})),
    ];
    for (name, mut replacement) in scalars {
        if let Some(schema) = schemas.get_mut(name) {
            if let Some(description) = schema.get("description") {
                replacement["description"] = description.clone();
            }
            *schema = replacement;
        }
    }
}
