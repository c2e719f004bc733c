//! Where strategic merge patch learns how each field merges. `PatchSchema` is the question the engine asks
//! ("what is field `name` of type `T`?"), so the engine works with any schema source; `OpenApiPatchSchema`
//! answers it from an OpenAPI v3 `components.schemas` map, reading upstream's `x-kubernetes-patch-strategy`
//! and `x-kubernetes-patch-merge-key` extensions off the property schemas.

use serde_json::{Map, Value};

/// The prefixes a `$ref` may carry before the definition name (OpenAPI v3, and v2 for good measure).
const REF_PREFIXES: [&str; 2] = ["#/components/schemas/", "#/definitions/"];

/// Patch metadata for object fields, keyed by OpenAPI definition name.
pub trait PatchSchema {
    /// Describe the field `name` of an object whose type is `type_name` (an OpenAPI definition name such as
    /// "io.k8s.api.core.v1.PodSpec"), or None if unknown (then: maps merge, lists replace).
    fn field(&self, type_name: &str, name: &str) -> Option<FieldPatchInfo>;
}

/// How one field is patched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPatchInfo {
    /// The definition name of the field's value type (for a list: of its items; for a map: of its values),
    /// None for primitives/unknown.
    pub type_name: Option<String>,
    pub shape: FieldShape,
    /// "merge", "replace", "retainKeys", "merge,retainKeys" (from x-kubernetes-patch-strategy), empty when none.
    pub patch_strategy: String,
    /// x-kubernetes-patch-merge-key, empty when none.
    pub patch_merge_key: String,
}

/// The JSON shape of a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldShape {
    /// A struct with named fields.
    Object,
    /// An array.
    List,
    /// An object whose keys are data (`additionalProperties`), such as labels.
    Map,
    /// A string, number, boolean, or a type with no structure the patch can use.
    Primitive,
}

/// `PatchSchema` over an OpenAPI v3 `components.schemas` map.
pub struct OpenApiPatchSchema<'a> {
    schemas: &'a Map<String, Value>,
}

impl<'a> OpenApiPatchSchema<'a> {
    pub fn new(schemas: &'a Map<String, Value>) -> Self {
        OpenApiPatchSchema { schemas }
    }

    /// Shape and type name of an inline schema: a reference, an array, a map, or anything else.
    fn describe(&self, schema: &Value) -> (FieldShape, Option<String>) {
        match reference(schema) {
            Some(name) => self.describe_definition(name),
            None => describe_structure(schema),
        }
    }

    /// Shape and type name of a referenced definition. Definitions of plain strings and numbers (Quantity,
    /// Time, IntOrString) are primitives; any other definition is an object named after itself, even one
    /// this map lacks, since the engine then treats its fields as unknown anyway.
    fn describe_definition(&self, name: &str) -> (FieldShape, Option<String>) {
        let Some(definition) = self.schemas.get(name) else {
            return (FieldShape::Object, Some(name.to_owned()));
        };
        match definition.get("type").and_then(Value::as_str) {
            Some("array") | Some("object") if definition.get("properties").is_none() => match describe_structure(definition) {
                (FieldShape::Object, _) => (FieldShape::Object, Some(name.to_owned())),
                described => described,
            },
            Some("string" | "integer" | "number" | "boolean") => (FieldShape::Primitive, None),
            _ => (FieldShape::Object, Some(name.to_owned())),
        }
    }
}

impl PatchSchema for OpenApiPatchSchema<'_> {
    fn field(&self, type_name: &str, name: &str) -> Option<FieldPatchInfo> {
        let property = self.schemas.get(type_name)?.get("properties")?.get(name)?;
        let extension = |key: &str| property.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let (shape, type_name) = self.describe(property);
        Some(FieldPatchInfo {
            type_name,
            shape,
            patch_strategy: extension("x-kubernetes-patch-strategy"),
            patch_merge_key: extension("x-kubernetes-patch-merge-key"),
        })
    }
}

/// Shape and item or value type of a schema that is not itself a reference. Never follows the definition
/// it is in, so self-referencing schemas cannot loop.
fn describe_structure(schema: &Value) -> (FieldShape, Option<String>) {
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => {
            let items = schema.get("items").and_then(reference).map(str::to_owned);
            (FieldShape::List, items)
        }
        Some("object") => match schema.get("additionalProperties") {
            Some(values @ Value::Object(_)) => (FieldShape::Map, reference(values).map(str::to_owned)),
            _ => (FieldShape::Object, None),
        },
        None if schema.get("properties").is_some() => (FieldShape::Object, None),
        _ => (FieldShape::Primitive, None),
    }
}

/// The definition a schema points to, directly (`$ref`, possibly beside a description) or through the
/// `allOf: [{$ref}]` wrapper the v3 generator uses to attach defaults.
fn reference(schema: &Value) -> Option<&str> {
    let target = match schema.get("$ref") {
        Some(target) => target,
        None => schema.get("allOf")?.as_array()?.iter().find_map(|part| part.get("$ref"))?,
    };
    let target = target.as_str()?;
    REF_PREFIXES.iter().find_map(|prefix| target.strip_prefix(prefix))
}

/// A small hand-made `components.schemas` in the shape the OpenAPI generator emits: a Deployment down to
/// its containers, with upstream's patch metadata on the fields that have it.
#[cfg(test)]
pub(super) fn sample_schemas() -> Map<String, Value> {
    use serde_json::json;

    fn reference(name: &str) -> Value {
        json!({"allOf": [{"$ref": format!("#/components/schemas/{name}")}], "default": {}})
    }
    fn merge_list(item: &str, key: &str) -> Value {
        json!({
            "type": "array",
            "items": reference(item),
            "x-kubernetes-patch-strategy": "merge",
            "x-kubernetes-patch-merge-key": key,
        })
    }
    let string = json!({"type": "string"});
    let strings = json!({"type": "array", "items": {"type": "string", "default": ""}});
    let string_map = json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}});
    let quantity_map = json!({"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Quantity"}});
    let schemas = json!({
        "Deployment": {"type": "object", "properties": {
            "apiVersion": string, "kind": string,
            "metadata": reference("ObjectMeta"),
            "spec": reference("DeploymentSpec"),
        }},
        "DeploymentSpec": {"type": "object", "properties": {
            "replicas": {"type": "integer", "format": "int32"},
            "strategy": {
                "allOf": [{"$ref": "#/components/schemas/DeploymentStrategy"}],
                "default": {},
                "x-kubernetes-patch-strategy": "retainKeys",
            },
            "template": {"$ref": "#/components/schemas/PodTemplateSpec", "description": "The pod template."},
        }},
        "DeploymentStrategy": {"type": "object", "properties": {
            "type": string,
            "rollingUpdate": reference("RollingUpdateDeployment"),
        }},
        "RollingUpdateDeployment": {"type": "object", "properties": {
            "maxSurge": reference("IntOrString"),
            "maxUnavailable": reference("IntOrString"),
        }},
        "IntOrString": {"type": "string", "format": "int-or-string"},
        "Quantity": {"type": "string"},
        "ObjectMeta": {"type": "object", "properties": {
            "name": string,
            "labels": string_map,
            "annotations": string_map,
            "finalizers": {
                "type": "array",
                "items": {"type": "string", "default": ""},
                "x-kubernetes-list-type": "set",
                "x-kubernetes-patch-strategy": "merge",
            },
            "ownerReferences": merge_list("OwnerReference", "uid"),
        }},
        "OwnerReference": {"type": "object", "properties": {"uid": string, "name": string}},
        "PodTemplateSpec": {"type": "object", "properties": {
            "metadata": reference("ObjectMeta"),
            "spec": reference("PodSpec"),
        }},
        "PodSpec": {"type": "object", "properties": {
            "containers": merge_list("Container", "name"),
            "initContainers": merge_list("Container", "name"),
            "volumes": {
                "type": "array",
                "items": reference("Volume"),
                "x-kubernetes-patch-strategy": "merge,retainKeys",
                "x-kubernetes-patch-merge-key": "name",
            },
            "tolerations": {"type": "array", "items": reference("Toleration")},
            "nodeSelector": string_map,
        }},
        "Toleration": {"type": "object", "properties": {"key": string, "effect": string}},
        "Container": {"type": "object", "properties": {
            "name": string,
            "image": string,
            "args": strings,
            "ports": merge_list("ContainerPort", "containerPort"),
            "env": merge_list("EnvVar", "name"),
            "volumeMounts": merge_list("VolumeMount", "mountPath"),
            "resources": reference("ResourceRequirements"),
        }},
        "ContainerPort": {"type": "object", "properties": {
            "containerPort": {"type": "integer"}, "protocol": string, "name": string,
        }},
        "EnvVar": {"type": "object", "properties": {
            "name": string, "value": string, "valueFrom": reference("EnvVarSource"),
        }},
        "EnvVarSource": {"type": "object", "properties": {
            "fieldRef": reference("ObjectFieldSelector"),
            "configMapKeyRef": reference("ConfigMapKeySelector"),
        }},
        "ObjectFieldSelector": {"type": "object", "properties": {"fieldPath": string}},
        "ConfigMapKeySelector": {"type": "object", "properties": {"name": string, "key": string}},
        "VolumeMount": {"type": "object", "properties": {"name": string, "mountPath": string}},
        "ResourceRequirements": {"type": "object", "properties": {
            "limits": quantity_map, "requests": quantity_map,
        }},
        "Volume": {"type": "object", "properties": {
            "name": string,
            "configMap": reference("ConfigMapVolumeSource"),
            "emptyDir": reference("EmptyDirVolumeSource"),
        }},
        "ConfigMapVolumeSource": {"type": "object", "properties": {
            "name": string,
            "items": {"type": "array", "items": reference("KeyToPath")},
        }},
        "KeyToPath": {"type": "object", "properties": {"key": string, "path": string}},
        "EmptyDirVolumeSource": {"type": "object", "properties": {
            "medium": string, "sizeLimit": reference("Quantity"),
        }},
    });
    schemas.as_object().cloned().expect("the sample schemas are a JSON object literal")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(type_name: Option<&str>, shape: FieldShape, strategy: &str, key: &str) -> Option<FieldPatchInfo> {
        Some(FieldPatchInfo {
            type_name: type_name.map(str::to_owned),
            shape,
            patch_strategy: strategy.to_owned(),
            patch_merge_key: key.to_owned(),
        })
    }

    #[test]
    fn reads_patch_metadata_and_item_types_of_lists() {
        let schemas = sample_schemas();
        let schema = OpenApiPatchSchema::new(&schemas);
        assert_eq!(schema.field("PodSpec", "containers"), info(Some("Container"), FieldShape::List, "merge", "name"));
        assert_eq!(schema.field("PodSpec", "volumes"), info(Some("Volume"), FieldShape::List, "merge,retainKeys", "name"));
        assert_eq!(schema.field("Container", "ports"), info(Some("ContainerPort"), FieldShape::List, "merge", "containerPort"));
        assert_eq!(schema.field("PodSpec", "tolerations"), info(Some("Toleration"), FieldShape::List, "", ""));
        assert_eq!(schema.field("ObjectMeta", "finalizers"), info(None, FieldShape::List, "merge", ""));
        assert_eq!(schema.field("Container", "args"), info(None, FieldShape::List, "", ""));
    }

    #[test]
    fn follows_refs_in_every_wrapping() {
        let schemas = sample_schemas();
        let schema = OpenApiPatchSchema::new(&schemas);
        // allOf wrapper with a sibling extension.
        assert_eq!(schema.field("DeploymentSpec", "strategy"), info(Some("DeploymentStrategy"), FieldShape::Object, "retainKeys", ""));
        // Bare $ref beside a description.
        assert_eq!(schema.field("DeploymentSpec", "template"), info(Some("PodTemplateSpec"), FieldShape::Object, "", ""));
        // References to string-like definitions are primitives.
        assert_eq!(schema.field("RollingUpdateDeployment", "maxSurge"), info(None, FieldShape::Primitive, "", ""));
    }

    #[test]
    fn maps_report_their_value_type() {
        let schemas = sample_schemas();
        let schema = OpenApiPatchSchema::new(&schemas);
        assert_eq!(schema.field("ObjectMeta", "labels"), info(None, FieldShape::Map, "", ""));
        assert_eq!(schema.field("ResourceRequirements", "limits"), info(Some("Quantity"), FieldShape::Map, "", ""));
        assert_eq!(schema.field("Container", "image"), info(None, FieldShape::Primitive, "", ""));
    }

    #[test]
    fn unknown_types_and_fields_are_none() {
        let schemas = sample_schemas();
        let schema = OpenApiPatchSchema::new(&schemas);
        assert_eq!(schema.field("PodSpec", "noSuchField"), None);
        assert_eq!(schema.field("NoSuchType", "containers"), None);
        assert_eq!(schema.field("Quantity", "anything"), None);
    }
}
