//! Response bodies: an object or list in the form the client negotiated (JSON, YAML, Table,
//! PartialObjectMetadata), and `Status` bodies for errors. The only place that builds `metav1.Status` JSON
//! from an `ApiError` for the wire.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::object;
use super::request::ResponseForm;
use crate::api::registry::ResourceDesc;
use crate::api::status::ApiError;

pub const JSON: &str = "application/json";

/// Which object a Table row carries (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn from_query(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("") | Some("Metadata") => Ok(Self::Metadata),
            Some("None") => Ok(Self::None),
            Some("Object") => Ok(Self::Object),
            Some(other) => Err(ApiError::bad_request(format!("includeObject must be one of None, Metadata, Object; got {other:?}"))),
        }
    }
}

/// A JSON response with a status code.
pub fn json_response(code: StatusCode, body: &Value) -> Response {
    bytes_response(code, JSON, serde_json::to_vec(body).expect("JSON values serialize"))
}

pub fn bytes_response(code: StatusCode, content_type: &str, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = code;
    response.headers_mut().insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_str(content_type).expect("content types are ASCII"));
    response
}

/// The `Status` response of an error.
pub fn error_response(error: &ApiError) -> Response {
    let code = StatusCode::from_u16(error.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(code, &error.to_status());
    if let ApiError::TooManyRequests { retry_after_seconds, .. } = error {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
    }
    response
}

/// The `Status` a successful delete returns when the object is gone.
pub fn delete_success(desc: &ResourceDesc, deleted: &Value) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": object::name(deleted), "group": desc.group, "kind": desc.plural, "uid": object::uid(deleted)},
    })
}

/// One object in the negotiated form.
pub fn object_body(desc: &ResourceDesc, object: &Value, form: ResponseForm, include: IncludeObject) -> Result<Value, ApiError> {
    match form {
        ResponseForm::Json | ResponseForm::Yaml => Ok(object.clone()),
        ResponseForm::Table => {
            Ok(table(desc, std::slice::from_ref(object), include, json!({"resourceVersion": object["metadata"]["resourceVersion"]}), true))
        }
        ResponseForm::PartialObjectMetadata => Ok(object::partial_metadata(object)),
        ResponseForm::PartialObjectMetadataList => {
            Err(ApiError::NotAcceptable { message: "PartialObjectMetadataList is only served for lists".into() })
        }
    }
}

/// A list in the negotiated form.
pub fn list_body(
    desc: &ResourceDesc,
    items: Vec<Value>,
    list_meta: Value,
    form: ResponseForm,
    include: IncludeObject,
) -> Result<Value, ApiError> {
    match form {
        ResponseForm::Json | ResponseForm::Yaml => Ok(json!({
            "kind": desc.list_kind,
            "apiVersion": object::api_version(desc.group, desc.version),
            "metadata": list_meta,
            "items": items,
        })),
        ResponseForm::Table => Ok(table(desc, &items, include, list_meta, true)),
        ResponseForm::PartialObjectMetadataList => Ok(json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": list_meta,
            "items": items.iter().map(object::partial_metadata).collect::<Vec<_>>(),
        })),
        ResponseForm::PartialObjectMetadata => Err(ApiError::NotAcceptable {
            message: "PartialObjectMetadata is only served for single objects; ask for PartialObjectMetadataList".into(),
        }),
    }
}

/// A `meta.k8s.io/v1` Table of objects, with the kind's columns (wide ones included, as upstream: kubectl hides
/// priority > 0 unless `-o wide`).
pub fn table(desc: &ResourceDesc, objects: &[Value], include: IncludeObject, list_meta: Value, with_headers: bool) -> Value {
    let now = jiff::Timestamp::now();
    let columns: Vec<Value> = desc
        .rules
        .columns
        .iter()
        .map(|column| json!({"name": column.name, "type": column.column_type, "format": column.format, "description": column.description, "priority": column.priority}))
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut row = json!({"cells": (desc.rules.cells)(object, now)});
            let conditions = (desc.rules.row_conditions)(object);
            if !conditions.is_empty() {
                row["conditions"] = Value::Array(conditions);
            }
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => row["object"] = object::partial_metadata(object),
                IncludeObject::Object => row["object"] = object.clone(),
            }
            row
        })
        .collect();
    let mut table = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "rows": rows});
    if with_headers {
        table["columnDefinitions"] = Value::Array(columns);
    }
    table
}

/// Encodes a body in the negotiated serialization (YAML only when asked for it).
pub fn encode(code: StatusCode, form: ResponseForm, body: &Value) -> Response {
    match form {
        ResponseForm::Yaml => bytes_response(code, "application/yaml", serde_yaml::to_string(body).unwrap_or_default().into_bytes()),
        _ => json_response(code, body),
    }
}
