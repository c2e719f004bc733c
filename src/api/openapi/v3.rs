//! OpenAPI v3: one document per group-version (`/openapi/v3/apis/apps/v1`) holding that group-version's paths and
//! the transitive closure of the schemas they reference, and the `/openapi/v3` index that points at each document
//! by a content-hash URL (kube-openapi handler3's shape; clients cache documents by that hash).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::components::{self, REF_PREFIX};
use super::routes::{Body, GroupVersionPaths, Location, Operation, Param, Payload, PATCH_CONTENT_TYPES};
use super::HashedDocument;

const OPENAPI_VERSION: &str = "3.0.0";
pub(super) const TITLE: &str = "Kubernetes";
pub(super) const API_VERSION: &str = "unversioned";
/// Where the index points clients for a group-version document.
const DOCUMENT_URL_PREFIX: &str = "/openapi/v3/";
const JSON: &str = "application/json";
const WATCH_JSON: &str = "application/json;stream=watch";
/// Create and replace bodies may be JSON or YAML; upstream advertises any type.
const ANY_CONTENT: &str = "*/*";

/// The document of one group-version.
pub(super) fn document(gv: &GroupVersionPaths, schemas: &Map<String, Value>) -> Value {
    let tag = super::routes::group_tag(gv.group, gv.version);
    let mut paths = Map::new();
    let mut referenced = Vec::new();
    for item in &gv.paths {
        let mut path_item = Map::new();
        path_item.insert("parameters".into(), item.params.iter().map(|p| parameter(p)).collect());
        for op in &item.operations {
            path_item.insert(op.method.key().into(), operation(op, &tag));
            referenced.extend(referenced_definitions(op));
        }
        paths.insert(item.path.clone(), Value::Object(path_item));
    }
    json!({
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE, "version": API_VERSION},
        "paths": paths,
        "components": {"schemas": closure(referenced, schemas)},
    })
}

/// The body of `/openapi/v3`: `{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=…"}}}`.
pub(super) fn index(documents: &BTreeMap<String, HashedDocument>) -> Value {
    let paths: Map<String, Value> = documents
        .iter()
        .map(|(path, doc)| {
            let url = format!("{DOCUMENT_URL_PREFIX}{path}?hash={}", doc.hash);
            (path.clone(), json!({ "serverRelativeURL": url }))
        })
        .collect();
    json!({ "paths": paths })
}

/// The definitions an operation names directly.
pub(super) fn referenced_definitions(op: &Operation) -> Vec<String> {
    let body = op.body.iter().map(|body| &body.payload);
    let responses = op.responses.iter().map(|(_, payload)| payload);
    body.chain(responses)
        .filter_map(|payload| match payload {
            Payload::Object(name) => Some(name.clone()),
            Payload::Patch => Some(components::PATCH.to_string()),
            Payload::Text => None,
        })
        .collect()
}

/// The named definitions and every definition they reference, transitively.
pub(super) fn closure(mut pending: Vec<String>, schemas: &Map<String, Value>) -> Map<String, Value> {
    let mut included = Map::new();
    while let Some(name) = pending.pop() {
        if included.contains_key(&name) {
            continue;
        }
        let Some(schema) = schemas.get(&name) else {
            continue;
        };
        let mut schema = schema.clone();
        components::visit_schemas(&mut schema, &mut |object| {
            if let Some(target) = object.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix(REF_PREFIX)) {
                pending.push(target.to_string());
            }
        });
        included.insert(name, schema);
    }
    included
}

fn parameter(param: &Param) -> Value {
    let mut value = json!({
        "name": param.name,
        "in": location(param.location),
        "description": param.description,
        "schema": {"type": param.kind.name(), "uniqueItems": true},
    });
    if param.location == Location::Path {
        value["required"] = true.into();
    }
    value
}

pub(super) fn location(location: Location) -> &'static str {
    match location {
        Location::Path => "path",
        Location::Query => "query",
    }
}

fn operation(op: &Operation, tag: &str) -> Value {
    let mut value = json!({
        "description": op.description,
        "operationId": op.id,
        "responses": responses(op),
        "tags": [tag],
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": op.gvk.to_json(),
    });
    if !op.params.is_empty() {
        value["parameters"] = op.params.iter().map(|p| parameter(p)).collect();
    }
    if let Some(body) = &op.body {
        value["requestBody"] = request_body(body);
    }
    value
}

fn request_body(body: &Body) -> Value {
    let content: Map<String, Value> = match &body.payload {
        Payload::Patch => PATCH_CONTENT_TYPES
            .iter()
            .map(|content_type| (content_type.to_string(), json!({ "schema": reference(components::PATCH) })))
            .collect(),
        Payload::Object(name) => [(ANY_CONTENT.to_string(), json!({ "schema": reference(name) }))].into_iter().collect(),
        Payload::Text => [(ANY_CONTENT.to_string(), json!({"schema": {"type": "string"}}))].into_iter().collect(),
    };
    json!({"content": content, "required": body.required})
}

fn responses(op: &Operation) -> Value {
    let mut responses = Map::new();
    for (code, payload) in &op.responses {
        let schema = match payload {
            Payload::Object(name) => reference(name),
            Payload::Patch => reference(components::PATCH),
            Payload::Text => json!({"type": "string"}),
        };
        let mut content = Map::new();
        let media = if matches!(payload, Payload::Text) { ANY_CONTENT } else { JSON };
        content.insert(media.into(), json!({ "schema": schema }));
        if op.watchable {
            content.insert(WATCH_JSON.into(), json!({ "schema": schema }));
        }
        responses.insert(code.to_string(), json!({"description": status_text(*code), "content": content}));
    }
    responses.insert(UNAUTHORIZED.to_string(), json!({"description": status_text(UNAUTHORIZED)}));
    Value::Object(responses)
}

/// Every operation may answer 401.
pub(super) const UNAUTHORIZED: u16 = 401;

pub(super) fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        UNAUTHORIZED => "Unauthorized",
        _ => "",
    }
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("{REF_PREFIX}{name}") })
}
