//! Serving the OpenAPI documents built by `api::openapi`: `/openapi/v2` as JSON or gnostic protobuf by Accept,
//! the `/openapi/v3` index, and per-group-version v3 documents addressed by hash (a stale hash is redirected to
//! the current one, as upstream, so clients never cache a stale schema).

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::render::{bytes_response, error_response};
use super::request::Query;
use super::ApiState;
use crate::api::status::ApiError;

const PROTOBUF_V2: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

pub fn v2(state: &ApiState, headers: &HeaderMap) -> Response {
    let accept = headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let wants_protobuf = accept
        .split(',')
        .map(|media| media.split(';').next().unwrap_or_default().trim())
        .find(|media| media.contains("protobuf") || *media == "application/json" || *media == "*/*");
    let mut response = match wants_protobuf {
        Some(media) if media.contains("protobuf") => bytes_response(StatusCode::OK, PROTOBUF_V2, state.openapi.v2_protobuf().to_vec()),
        _ => bytes_response(StatusCode::OK, "application/json", state.openapi.v2_json().to_vec()),
    };
    let headers = response.headers_mut();
    headers.insert(axum::http::header::VARY, HeaderValue::from_static("Accept"));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", state.openapi.v2_etag())) {
        headers.insert(axum::http::header::ETAG, etag);
    }
    response
}

pub fn v3_index(state: &ApiState) -> Response {
    bytes_response(StatusCode::OK, "application/json", state.openapi.v3_index().to_vec())
}

pub fn v3_document(state: &ApiState, group_version_path: &str, query: &Query) -> Response {
    let Some((document, hash)) = state.openapi.v3_document(group_version_path) else {
        return error_response(&ApiError::NotFound { message: "the server could not find the requested resource".into(), details: None });
    };
    match query.get("hash") {
        Some(requested) if requested != hash => {
            let mut response = Response::new(axum::body::Body::empty());
            *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
            let location = format!("/openapi/v3/{group_version_path}?hash={hash}");
            response.headers_mut().insert(axum::http::header::LOCATION, HeaderValue::from_str(&location).expect("paths are ASCII"));
            response
        }
        Some(_) => {
            let mut response = bytes_response(StatusCode::OK, "application/json", document.to_vec());
            response.headers_mut().insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("public, immutable"));
            response
        }
        None => {
            let mut response = bytes_response(StatusCode::OK, "application/json", document.to_vec());
            response.headers_mut().insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
            response
        }
    }
}
