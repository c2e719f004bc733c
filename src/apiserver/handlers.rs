//! Request dispatch: turns an authenticated HTTP request on `/api` or `/apis` into a store operation (get, list,
//! watch, create, update, patch, delete, deletecollection, and the subresources status, scale, binding,
//! eviction, finalize) and its result into the negotiated response. Request size limits live here.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::auth::UserInfo;
use super::object;
use super::render::{self, IncludeObject};
use super::request::{negotiate, FieldValidation, Query, ResourcePath, ResponseForm};
use super::store::{DeleteOptions, Deleted, ListOptions, ObjectRef, PatchType, WriteOptions, Written};
use super::watch::{self, WatchRequest, WATCH_TIMEOUT_SECONDS_MAX};
use super::{reviews, ApiState};
use crate::api::registry::{self, ResourceDesc};
use crate::api::selector::{FieldSelector, LabelSelector};
use crate::api::status::{ApiError, FieldError};

/// The largest request body accepted, as upstream's `MaxRequestBodyBytes` (3 MiB).
pub const REQUEST_BODY_BYTES_MAX: usize = 3 * 1024 * 1024;

/// The verb a request performs, named as upstream metrics name them.
pub fn metric_verb(method: &Method, path: &ResourcePath, query: &Query) -> &'static str {
    match *method {
        Method::GET if path.name.is_none() && (path.watch_prefix || query.flag("watch").unwrap_or(false)) => "WATCH",
        Method::GET if path.name.is_none() => "LIST",
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE if path.name.is_none() => "DELETECOLLECTION",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

/// Serves one resource request.
pub async fn serve_resource(
    state: Arc<ApiState>,
    method: Method,
    path: ResourcePath,
    query: Query,
    headers: HeaderMap,
    body: Body,
    user: &UserInfo,
) -> Result<Response, ApiError> {
    let accept = headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok());
    let form = negotiate(accept)?;
    let include = IncludeObject::from_query(query.get("includeObject"))?;
    let desc = path.desc;
    let verb = metric_verb(&method, &path, &query);
    let allowed = |verb: &str| desc.verbs.contains(&verb);
    let target_name = path.name.clone().unwrap_or_default();
    let target = ObjectRef { desc, namespace: path.namespace.as_deref(), name: &target_name };
    if desc.namespaced && path.namespace.is_none() && !matches!(verb, "LIST" | "WATCH") {
        return Err(ApiError::NotFound { message: "the server could not find the requested resource".into(), details: None });
    }
    match (verb, path.subresource.as_deref()) {
        ("WATCH", None) if allowed("watch") => watch::serve(state, watch_request(&path, &query, form, include)?).await,
        ("LIST", None) if allowed("list") => list(&state, &path, &query, form, include).await,
        ("GET", None) if allowed("get") => respond(StatusCode::OK, desc, &state.store.get(target).await?, form, include, &[]),
        ("GET", Some("status")) => respond(StatusCode::OK, desc, &state.store.get(target).await?, form, include, &[]),
        ("GET", Some("scale")) => Ok(render::json_response(StatusCode::OK, &scale_of(&state.store.get(target).await?))),
        ("POST", None) if desc.kind == "Binding" => {
            let binding = read_object(&headers, body).await?;
            let pod = object::name(&binding).to_string();
            let pods = registry::find("", "v1", "pods").expect("pods are always served");
            bind(&state, ObjectRef { desc: pods, namespace: path.namespace.as_deref(), name: &pod }, binding, &query).await
        }
        ("POST", None) if desc.list_kind.is_empty() && allowed("create") => {
            let review = read_object(&headers, body).await?;
            Ok(render::json_response(StatusCode::CREATED, &reviews::answer(&state, desc, review, user)?))
        }
        ("POST", None) if allowed("create") && path.name.is_none() => {
            let (object, options) = read_write_request(&headers, body, &query).await?;
            let written = state.store.create(desc, path.namespace.as_deref(), object, &options).await?;
            written_response(desc, written, form, include)
        }
        ("POST", Some("binding")) => bind(&state, target, read_object(&headers, body).await?, &query).await,
        ("POST", Some("eviction")) => evict(&state, target, &headers, body).await,
        ("PUT", None) if allowed("update") => {
            let (object, options) = read_write_request(&headers, body, &query).await?;
            let written = state.store.update(target, None, object, &options).await?;
            written_response(desc, written, form, include)
        }
        ("PUT", Some(sub @ ("status" | "finalize" | "ephemeralcontainers" | "approval"))) => {
            let (object, options) = read_write_request(&headers, body, &query).await?;
            let written = state.store.update(target, Some(sub), object, &options).await?;
            written_response(desc, written, form, include)
        }
        ("PUT", Some("scale")) => {
            let scale = read_object(&headers, body).await?;
            update_scale(&state, target, |_| Ok(scale.clone()), &query).await
        }
        ("PATCH", None) if allowed("patch") => {
            let (patch_type, patch) = read_patch(&headers, body).await?;
            let written = state.store.patch(target, None, patch_type, &patch, &write_options(&query)?).await?;
            written_response(desc, written, form, include)
        }
        ("PATCH", Some(sub @ ("status" | "ephemeralcontainers"))) => {
            let (patch_type, patch) = read_patch(&headers, body).await?;
            let written = state.store.patch(target, Some(sub), patch_type, &patch, &write_options(&query)?).await?;
            written_response(desc, written, form, include)
        }
        ("PATCH", Some("scale")) => {
            let (patch_type, patch) = read_patch(&headers, body).await?;
            let schemas = state.store.schemas.clone();
            update_scale(&state, target, |scale| super::store::apply_scale_patch(patch_type, scale, &patch, &schemas), &query).await
        }
        ("DELETE", None) if allowed("delete") => {
            let options = delete_options(&query, &headers, body).await?;
            match state.store.delete(target, &options).await? {
                Deleted::Now(gone) => Ok(render::json_response(StatusCode::OK, &render::delete_success(desc, &gone))),
                Deleted::Pending(marked) => respond(StatusCode::ACCEPTED, desc, &marked, form, include, &[]),
            }
        }
        ("DELETECOLLECTION", None) if allowed("deletecollection") => {
            delete_collection(&state, &path, &query, (&headers, body), form, include).await
        }
        (_, Some(sub @ ("log" | "exec" | "attach" | "portforward" | "proxy"))) => {
            let pod = state.store.get(target).await?;
            Err(ApiError::bad_request(no_node_message(desc, &pod, sub)))
        }
        _ => Err(ApiError::method_not_supported(desc.group, desc.plural, method.as_str())),
    }
}

/// What a streaming subresource answers while no node agent serves it.
fn no_node_message(desc: &ResourceDesc, object: &Value, subresource: &str) -> String {
    let name = object::name(object);
    match object.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
        None if desc.kind == "Pod" => format!("pod {name} does not have a host assigned"),
        _ => format!("{subresource} for {} \"{name}\" needs a node agent, and none is connected to this server", desc.singular),
    }
}

fn respond(
    code: StatusCode,
    desc: &ResourceDesc,
    object: &Value,
    form: ResponseForm,
    include: IncludeObject,
    warnings: &[String],
) -> Result<Response, ApiError> {
    let body = render::object_body(desc, object, form, include)?;
    let mut response = render::encode(code, form, &body);
    add_warnings(response.headers_mut(), warnings);
    Ok(response)
}

fn written_response(desc: &ResourceDesc, written: Written, form: ResponseForm, include: IncludeObject) -> Result<Response, ApiError> {
    let code = if written.created { StatusCode::CREATED } else { StatusCode::OK };
    respond(code, desc, &written.object, form, include, &written.warnings)
}

/// `Warning: 299 - "<message>"` headers, which kubectl prints as `Warning: <message>`.
fn add_warnings(headers: &mut HeaderMap, warnings: &[String]) {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            headers.append("Warning", value);
        }
    }
}

fn write_options(query: &Query) -> Result<WriteOptions, ApiError> {
    Ok(WriteOptions {
        dry_run: query.dry_run()?,
        field_manager: query.get("fieldManager").map(String::from),
        field_validation: FieldValidation::from_query(query)?,
        duplicate_fields: Vec::new(),
    })
}

/// Reads the object of a create or update together with its write options, noting keys a JSON body repeats so
/// `fieldValidation` can report them.
async fn read_write_request(headers: &HeaderMap, body: Body, query: &Query) -> Result<(Value, WriteOptions), ApiError> {
    let mut options = write_options(query)?;
    let bytes = read_body(body).await?;
    let object = decode_object(headers, &bytes)?;
    if is_json(headers) {
        options.duplicate_fields = super::fields::duplicate_fields(&bytes);
    }
    Ok((object, options))
}

fn is_json(headers: &HeaderMap) -> bool {
    matches!(media_type(headers), "application/json" | "" | "*/*")
}

/// The body's media type without parameters; a request without Content-Type is JSON.
fn media_type(headers: &HeaderMap) -> &str {
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    content_type.split(';').next().unwrap_or_default().trim()
}

/// Reads a body within the size limit.
async fn read_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, REQUEST_BODY_BYTES_MAX)
        .await
        .map_err(|_| ApiError::RequestEntityTooLarge { message: format!("Request entity too large: limit is {REQUEST_BODY_BYTES_MAX}") })
}

/// Decodes an object body in JSON, YAML or Kubernetes protobuf.
async fn read_object(headers: &HeaderMap, body: Body) -> Result<Value, ApiError> {
    decode_object(headers, &read_body(body).await?)
}

fn decode_object(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, ApiError> {
    match media_type(headers) {
        "application/json" | "" | "*/*" => decode_json(bytes),
        "application/yaml" => serde_yaml::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}"))),
        "application/vnd.kubernetes.protobuf" => crate::api::protobuf::decode(bytes).map_err(|e| ApiError::bad_request(e.to_string())),
        other => Err(ApiError::UnsupportedMediaType { message: format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other})") }),
    }
}

fn decode_json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}")))
}

async fn read_patch(headers: &HeaderMap, body: Body) -> Result<(PatchType, Value), ApiError> {
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let patch_type = PatchType::from_content_type(content_type).ok_or_else(|| ApiError::UnsupportedMediaType {
        message: format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"),
    })?;
    let bytes = read_body(body).await?;
    let patch = match patch_type {
        PatchType::Apply => serde_yaml::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?,
        _ => decode_json(&bytes)?,
    };
    Ok((patch_type, patch))
}

fn selectors(query: &Query) -> Result<ListOptions, ApiError> {
    // The parsers' messages are upstream's own texts, so they go to the client unchanged.
    let label_selector =
        query.get("labelSelector").filter(|s| !s.is_empty()).map(|s| LabelSelector::parse(s).map_err(ApiError::bad_request)).transpose()?;
    let field_selector =
        query.get("fieldSelector").filter(|s| !s.is_empty()).map(|s| FieldSelector::parse(s).map_err(ApiError::bad_request)).transpose()?;
    Ok(ListOptions { label_selector, field_selector, ..ListOptions::default() })
}

/// Checks that every field a field selector names is selectable for the kind, as upstream does.
fn check_field_selector(desc: &ResourceDesc, options: &ListOptions) -> Result<(), ApiError> {
    let Some(selector) = &options.field_selector else { return Ok(()) };
    let probe = json!({"metadata": {}});
    for (field, _, _) in selector.requirements() {
        let supported =
            field == "metadata.name" || (field == "metadata.namespace" && desc.namespaced) || (desc.rules.field)(&probe, &field).is_some();
        if !supported {
            return Err(ApiError::bad_request(format!("field label not supported: {field}")));
        }
    }
    Ok(())
}

fn parse_revision(value: &str) -> Result<i64, ApiError> {
    value.parse::<i64>().ok().filter(|rv| *rv > 0).ok_or_else(|| {
        let error = FieldError::invalid("resourceVersion", json!(value), "must be a valid integer");
        ApiError::invalid("meta.k8s.io", "ListOptions", "", vec![error])
    })
}

fn list_options_invalid(field: &str, value: Value, detail: &str) -> ApiError {
    ApiError::invalid("meta.k8s.io", "ListOptions", "", vec![FieldError::invalid(field, value, detail)])
}

async fn list(
    state: &ApiState,
    path: &ResourcePath,
    query: &Query,
    form: ResponseForm,
    include: IncludeObject,
) -> Result<Response, ApiError> {
    let desc = path.desc;
    let mut options = selectors(query)?;
    check_field_selector(desc, &options)?;
    if query.get("sendInitialEvents").is_some() {
        return Err(list_options_invalid(
            "sendInitialEvents",
            json!(query.get("sendInitialEvents")),
            "sendInitialEvents is forbidden for list",
        ));
    }
    options.limit = match query.number("limit")? {
        Some(limit) if limit > 0 => Some(limit as usize),
        _ => None,
    };
    options.continue_token = query.get("continue").filter(|c| !c.is_empty()).map(String::from);
    let resource_version = query.get("resourceVersion").filter(|rv| !rv.is_empty());
    match (query.get("resourceVersionMatch").filter(|m| !m.is_empty()), resource_version) {
        (Some(_), None) => {
            return Err(list_options_invalid(
                "resourceVersionMatch",
                json!(query.get("resourceVersionMatch")),
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ))
        }
        (Some(_), Some(_)) if options.continue_token.is_some() => {
            return Err(list_options_invalid(
                "resourceVersionMatch",
                json!(query.get("resourceVersionMatch")),
                "resourceVersionMatch is forbidden when continue is provided",
            ))
        }
        (Some("Exact"), Some("0")) => {
            return Err(list_options_invalid(
                "resourceVersionMatch",
                json!("Exact"),
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ))
        }
        (Some("Exact"), Some(rv)) => options.exact_revision = Some(parse_revision(rv)?),
        (Some("NotOlderThan"), Some("0")) | (None, Some("0")) => {}
        (Some("NotOlderThan"), Some(rv)) | (None, Some(rv)) => options.min_revision = Some(parse_revision(rv)?),
        (Some(other), Some(_)) => {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "ListOptions",
                "",
                vec![FieldError::not_supported("resourceVersionMatch", json!(other), &["Exact", "NotOlderThan", ""])],
            ))
        }
        (None, None) => {}
    }
    let page = state.store.list(desc, path.namespace.as_deref(), &options).await?;
    let mut list_meta = json!({"resourceVersion": page.revision.to_string()});
    if let Some(token) = &page.continue_token {
        list_meta["continue"] = json!(token);
    }
    if let Some(remaining) = page.remaining {
        list_meta["remainingItemCount"] = json!(remaining);
    }
    let body = render::list_body(desc, page.items, list_meta, form, include)?;
    Ok(render::encode(StatusCode::OK, form, &body))
}

fn watch_request(path: &ResourcePath, query: &Query, form: ResponseForm, include: IncludeObject) -> Result<WatchRequest, ApiError> {
    let selectors = selectors(query)?;
    check_field_selector(path.desc, &selectors)?;
    let send_initial_events = query.flag("sendInitialEvents")?;
    let allow_bookmarks = query.flag("allowWatchBookmarks")?;
    let resource_version_match = query.get("resourceVersionMatch").filter(|m| !m.is_empty());
    if send_initial_events || query.get("sendInitialEvents").is_some() {
        if resource_version_match != Some("NotOlderThan") {
            return Err(list_options_invalid(
                "resourceVersionMatch",
                json!(resource_version_match.unwrap_or_default()),
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if send_initial_events && !allow_bookmarks {
            return Err(list_options_invalid(
                "allowWatchBookmarks",
                json!(false),
                "sendInitialEvents requires setting allowWatchBookmarks to true",
            ));
        }
    } else if let Some(value) = resource_version_match {
        return Err(list_options_invalid(
            "resourceVersionMatch",
            json!(value),
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ));
    }
    let resource_version = match query.get("resourceVersion").filter(|rv| !rv.is_empty() && *rv != "0") {
        Some(rv) => Some(parse_revision(rv)?),
        None => None,
    };
    let timeout_seconds = query
        .number("timeoutSeconds")?
        .filter(|t| *t > 0)
        .map(|t| t as u64)
        .unwrap_or(WATCH_TIMEOUT_SECONDS_MAX)
        .min(WATCH_TIMEOUT_SECONDS_MAX);
    Ok(WatchRequest {
        desc: path.desc,
        namespace: path.namespace.clone(),
        selectors,
        resource_version,
        send_initial_events,
        allow_bookmarks,
        timeout: Duration::from_secs(timeout_seconds),
        form,
        include,
    })
}

async fn delete_options(query: &Query, headers: &HeaderMap, body: Body) -> Result<DeleteOptions, ApiError> {
    let bytes = read_body(body).await?;
    let from_body: Value = if bytes.iter().all(u8::is_ascii_whitespace) { json!({}) } else { decode_object(headers, &bytes)? };
    let text = |body_key: &str, query_key: &str| {
        from_body.get(body_key).and_then(Value::as_str).map(String::from).or_else(|| query.get(query_key).map(String::from))
    };
    let grace = from_body.get("gracePeriodSeconds").and_then(Value::as_i64).or(query.number("gracePeriodSeconds")?);
    let orphan = from_body.get("orphanDependents").and_then(Value::as_bool).or(query.flag("orphanDependents").ok().filter(|o| *o));
    let mut propagation_policy = text("propagationPolicy", "propagationPolicy");
    if propagation_policy.is_none() && orphan == Some(true) {
        propagation_policy = Some("Orphan".into());
    }
    let body_dry_run = from_body.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        propagation_policy,
        grace_period_seconds: grace,
        precondition_uid: from_body.pointer("/preconditions/uid").and_then(Value::as_str).map(String::from),
        precondition_resource_version: from_body.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(String::from),
        dry_run: body_dry_run || query.dry_run()?,
    })
}

async fn delete_collection(
    state: &ApiState,
    path: &ResourcePath,
    query: &Query,
    (headers, body): (&HeaderMap, Body),
    form: ResponseForm,
    include: IncludeObject,
) -> Result<Response, ApiError> {
    let desc = path.desc;
    let options = delete_options(query, headers, body).await?;
    let selection = selectors(query)?;
    check_field_selector(desc, &selection)?;
    let page = state.store.list(desc, path.namespace.as_deref(), &selection).await?;
    let mut deleted = Vec::new();
    for object in page.items {
        let name = object::name(&object).to_string();
        let target = ObjectRef { desc, namespace: object::namespace(&object), name: &name };
        match state.store.delete(target, &options).await {
            Ok(Deleted::Now(gone) | Deleted::Pending(gone)) => deleted.push(gone),
            Err(ApiError::NotFound { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    let body = render::list_body(desc, deleted, json!({"resourceVersion": page.revision.to_string()}), form, include)?;
    Ok(render::encode(StatusCode::OK, form, &body))
}

/// `autoscaling/v1 Scale` view of a scalable object.
pub fn scale_of(object: &Value) -> Value {
    let selector = match object.pointer("/spec/selector") {
        Some(Value::Object(map)) if map.contains_key("matchLabels") || map.contains_key("matchExpressions") => {
            LabelSelector::from_label_selector_json(&Value::Object(map.clone())).map(|s| s.to_string()).unwrap_or_default()
        }
        Some(Value::Object(map)) => {
            let mut pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
            pairs.sort();
            pairs.join(",")
        }
        _ => String::new(),
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": object::name(object),
            "namespace": object::namespace(object),
            "uid": object::uid(object),
            "resourceVersion": object["metadata"]["resourceVersion"],
            "creationTimestamp": object["metadata"]["creationTimestamp"],
        },
        "spec": {"replicas": object.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {"replicas": object.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector},
    })
}

async fn update_scale(
    state: &ApiState,
    target: ObjectRef<'_>,
    change: impl Fn(&Value) -> Result<Value, ApiError>,
    query: &Query,
) -> Result<Response, ApiError> {
    let options = write_options(query)?;
    let written = state
        .store
        .guaranteed_update(target, &options, |current| {
            let scale = change(&scale_of(current))?;
            if let Some(rv) = scale.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|rv| !rv.is_empty()) {
                if Some(rv) != object::meta_str(current, "resourceVersion") {
                    return Err(ApiError::stale_write(target.desc.group, target.desc.plural, target.name));
                }
            }
            let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
            if replicas.as_i64().is_none_or(|r| r < 0) {
                let error = FieldError::invalid("spec.replicas", replicas, "must be greater than or equal to 0");
                return Err(ApiError::invalid("autoscaling", "Scale", target.name, vec![error]));
            }
            let mut desired = current.clone();
            desired["spec"]["replicas"] = replicas;
            Ok(desired)
        })
        .await?;
    Ok(render::json_response(StatusCode::OK, &scale_of(&written.object)))
}

/// `pods/binding`: assigns a pod to a node, once.
async fn bind(state: &ApiState, target: ObjectRef<'_>, binding: Value, query: &Query) -> Result<Response, ApiError> {
    let binding_name = object::name(&binding);
    if !binding_name.is_empty() && binding_name != target.name {
        return Err(ApiError::bad_request("name in URL does not match name in Binding object"));
    }
    let node = binding.pointer("/target/name").and_then(Value::as_str).unwrap_or_default().to_string();
    if node.is_empty() {
        let error = FieldError::required("target.name", "");
        return Err(ApiError::invalid("", "Binding", target.name, vec![error]));
    }
    let options = write_options(query)?;
    state
        .store
        .guaranteed_update_of(target, Some("binding"), &options, |pod| {
            if object::is_being_deleted(pod) {
                return Err(ApiError::conflict("", "pods", target.name, "pod is being deleted, cannot be assigned to a host"));
            }
            if let Some(assigned) = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
                return Err(ApiError::conflict(
                    "",
                    "pods",
                    target.name,
                    &format!("pod {} is already assigned to node \"{assigned}\"", target.name),
                ));
            }
            let mut bound = pod.clone();
            bound["spec"]["nodeName"] = json!(node);
            let condition =
                json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": object::now_timestamp()});
            let conditions = bound["status"]["conditions"].as_array().cloned().unwrap_or_default();
            let mut conditions: Vec<Value> = conditions.into_iter().filter(|c| c["type"] != "PodScheduled").collect();
            conditions.push(condition);
            bound["status"]["conditions"] = Value::Array(conditions);
            Ok(bound)
        })
        .await?;
    Ok(render::json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

/// `pods/eviction`: deletes the pod (PodDisruptionBudgets are honoured once the disruption controller exists).
async fn evict(state: &ApiState, target: ObjectRef<'_>, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let eviction = read_object(headers, body).await?;
    let name = object::name(&eviction);
    if !name.is_empty() && name != target.name {
        return Err(ApiError::bad_request("name in URL does not match name in Eviction object"));
    }
    let options = DeleteOptions {
        grace_period_seconds: eviction.pointer("/deleteOptions/gracePeriodSeconds").and_then(Value::as_i64),
        precondition_uid: eviction.pointer("/deleteOptions/preconditions/uid").and_then(Value::as_str).map(String::from),
        precondition_resource_version: eviction
            .pointer("/deleteOptions/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(String::from),
        dry_run: eviction.pointer("/deleteOptions/dryRun").and_then(Value::as_array).is_some_and(|d| !d.is_empty()),
        ..DeleteOptions::default()
    };
    state.store.delete(target, &options).await?;
    Ok(render::json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}
