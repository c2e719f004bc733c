//! Swagger 2.0: the single `/openapi/v2` document of all group-versions, rendered from the same path model and
//! schemas as v3. Definitions move to `#/definitions/`, references lose their `allOf` wrapping (Swagger allows
//! siblings beside `$ref`, and kubectl's v2 parser rejects `allOf`), v3-only keywords are dropped, and
//! IntOrString and Quantity take upstream's v2 shapes. Parameters are inline in every operation.

use serde_json::{json, Map, Value};

use super::components::{self, INT_OR_STRING, QUANTITY, REF_PREFIX};
use super::routes::{GroupVersionPaths, Location, Operation, Param, Payload, PATCH_CONTENT_TYPES};
use super::v3::{location, status_text, API_VERSION, TITLE, UNAUTHORIZED};

const SWAGGER_VERSION: &str = "2.0";
const DEFINITIONS_PREFIX: &str = "#/definitions/";
const JSON: &str = "application/json";
const WATCH_JSON: &str = "application/json;stream=watch";
const ANY_CONTENT: &str = "*/*";
const SCHEMES: &[&str] = &["https"];
/// Keywords OpenAPI 3 has and Swagger 2.0 does not.
const V3_ONLY_KEYWORDS: &[&str] = &["oneOf", "anyOf", "not", "nullable", "writeOnly", "deprecated"];

pub(super) fn document(gvs: &[GroupVersionPaths], schemas: &Map<String, Value>) -> Value {
    let mut paths = Map::new();
    for gv in gvs {
        let tag = super::routes::group_tag(gv.group, gv.version);
        for item in &gv.paths {
            let mut path_item = Map::new();
            path_item.insert("parameters".into(), item.params.iter().map(|p| parameter(p)).collect());
            for op in &item.operations {
                path_item.insert(op.method.key().into(), operation(op, &tag));
            }
            paths.insert(item.path.clone(), Value::Object(path_item));
        }
    }
    let mut definitions = schemas.clone();
    for schema in definitions.values_mut() {
        to_swagger(schema);
    }
    use_upstream_scalars(&mut definitions);
    json!({
        "swagger": SWAGGER_VERSION,
        "info": {"title": TITLE, "version": API_VERSION},
        "paths": paths,
        "definitions": definitions,
    })
}

/// Rewrites a v3 schema into its Swagger 2.0 form, in place.
fn to_swagger(schema: &mut Value) {
    components::visit_schemas(schema, &mut |object| {
        let single_ref = match object.get("allOf") {
            Some(Value::Array(all)) if all.len() == 1 => {
                all[0].get("$ref").filter(|_| all[0].as_object().is_some_and(|o| o.len() == 1)).cloned()
            }
            _ => None,
        };
        if let Some(reference) = single_ref {
            object.remove("allOf");
            object.insert("$ref".into(), reference);
        }
        if let Some(Value::String(reference)) = object.get_mut("$ref") {
            if let Some(name) = reference.strip_prefix(REF_PREFIX) {
                *reference = format!("{DEFINITIONS_PREFIX}{name}");
            }
        }
        for keyword in V3_ONLY_KEYWORDS {
            object.remove(*keyword);
        }
    });
}

/// Upstream's v2 documents describe IntOrString and Quantity as strings (the former with format `int-or-string`).
fn use_upstream_scalars(definitions: &mut Map<String, Value>) {
    let scalars = [(INT_OR_STRING, json!({"type": "string", "format": "int-or-string"})), (QUANTITY, json!({"type": "string"}))];
    for (name, mut replacement) in scalars {
        if let Some(schema) = definitions.get_mut(name) {
            if let Some(description) = schema.get("description") {
                replacement["description"] = description.clone();
            }
            *schema = replacement;
        }
    }
}

fn parameter(param: &Param) -> Value {
    let mut value = json!({
        "name": param.name,
        "in": location(param.location),
        "description": param.description,
        "type": param.kind.name(),
        "uniqueItems": true,
    });
    if param.location == Location::Path {
        value["required"] = true.into();
    }
    value
}

fn operation(op: &Operation, tag: &str) -> Value {
    let mut parameters = Vec::new();
    if let Some(body) = &op.body {
        parameters.push(json!({
            "name": "body",
            "in": "body",
            "required": body.required,
            "schema": schema_of(&body.payload),
        }));
    }
    parameters.extend(op.params.iter().map(|p| parameter(p)));
    let consumes: Vec<&str> = match op.body.as_ref().map(|body| &body.payload) {
        Some(Payload::Patch) => PATCH_CONTENT_TYPES.to_vec(),
        _ => vec![ANY_CONTENT],
    };
    let mut produces = vec![if op.responses.iter().all(|(_, p)| *p == Payload::Text) { ANY_CONTENT } else { JSON }];
    if op.watchable {
        produces.push(WATCH_JSON);
    }
    let mut responses = Map::new();
    for (code, payload) in &op.responses {
        responses.insert(code.to_string(), json!({"description": status_text(*code), "schema": schema_of(payload)}));
    }
    responses.insert(UNAUTHORIZED.to_string(), json!({"description": status_text(UNAUTHORIZED)}));
    let mut value = json!({
        "consumes": consumes,
        "description": op.description,
        "operationId": op.id,
        "produces": produces,
        "responses": responses,
        "schemes": SCHEMES,
        "tags": [tag],
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": op.gvk.to_json(),
    });
    if !parameters.is_empty() {
        value["parameters"] = parameters.into();
    }
    value
}

fn schema_of(payload: &Payload) -> Value {
    match payload {
        Payload::Object(name) => json!({ "$ref": format!("{DEFINITIONS_PREFIX}{name}") }),
        Payload::Patch => json!({ "$ref": format!("{DEFINITIONS_PREFIX}{}", components::PATCH) }),
        Payload::Text => json!({"type": "string"}),
    }
}
