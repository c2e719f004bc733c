//! The error vocabulary of the API: `ApiError` is what every layer returns when a request must fail, and
//! `FieldError` is one validation failure at a field path. Turning them into a `metav1.Status` body with the
//! upstream code, reason, message and details is done here and nowhere else, so clients see one shape.
//! Pure: no IO, no HTTP types beyond the status code number.

use serde_json::{json, Value};

/// The `reason` of a field-level cause, as upstream `field.ErrorType` serializes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required,
    Invalid,
    NotSupported,
    Duplicate,
    Forbidden,
    TooLong,
    TooMany,
    NotFound,
    TypeInvalid,
    Internal,
}

impl FieldErrorKind {
    /// The cause reason on the wire (`FieldValueRequired`, …).
    pub fn cause_reason(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Duplicate => "FieldValueDuplicate",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::NotFound => "FieldValueNotFound",
            Self::TypeInvalid => "FieldValueTypeInvalid",
            Self::Internal => "InternalError",
        }
    }

    /// The phrase upstream puts between the field and the detail (`Required value`, `Invalid value`, …).
    fn phrase(self) -> &'static str {
        match self {
            Self::Required => "Required value",
            Self::Invalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Duplicate => "Duplicate value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::NotFound => "Not found",
            Self::TypeInvalid => "Invalid value",
            Self::Internal => "Internal error",
        }
    }
}

/// One validation failure: `spec.containers[0].image: Required value`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    /// The field path in upstream notation: `spec.containers[0].image`, `metadata.labels[app]`.
    pub field: String,
    /// The offending value, rendered as upstream does (`"x"` for strings), when the kind shows one.
    pub value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { kind: FieldErrorKind::Required, field: field.into(), value: None, detail: detail.into() }
    }
    pub fn invalid(field: impl Into<String>, value: Value, detail: impl Into<String>) -> Self {
        Self { kind: FieldErrorKind::Invalid, field: field.into(), value: Some(value), detail: detail.into() }
    }
    pub fn not_supported(field: impl Into<String>, value: Value, supported: &[&str]) -> Self {
        let quoted: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        let detail = format!("supported values: {}", quoted.join(", "));
        Self { kind: FieldErrorKind::NotSupported, field: field.into(), value: Some(value), detail }
    }
    pub fn duplicate(field: impl Into<String>, value: Value) -> Self {
        Self { kind: FieldErrorKind::Duplicate, field: field.into(), value: Some(value), detail: String::new() }
    }
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { kind: FieldErrorKind::Forbidden, field: field.into(), value: None, detail: detail.into() }
    }
    pub fn too_long(field: impl Into<String>, max_length: usize) -> Self {
        let detail = format!("may not be more than {max_length} bytes");
        Self { kind: FieldErrorKind::TooLong, field: field.into(), value: None, detail }
    }
    pub fn not_found(field: impl Into<String>, value: Value) -> Self {
        Self { kind: FieldErrorKind::NotFound, field: field.into(), value: Some(value), detail: String::new() }
    }

    /// The message of one cause, without the field: `Invalid value: "x": must be …`.
    pub fn cause_message(&self) -> String {
        let mut message = self.kind.phrase().to_string();
        if let Some(value) = &self.value {
            if matches!(
                self.kind,
                FieldErrorKind::Invalid
                    | FieldErrorKind::NotSupported
                    | FieldErrorKind::Duplicate
                    | FieldErrorKind::NotFound
                    | FieldErrorKind::TypeInvalid
            ) {
                message.push_str(": ");
                message.push_str(&render_value(value));
            }
        }
        if !self.detail.is_empty() {
            message.push_str(": ");
            message.push_str(&self.detail);
        }
        message
    }

    /// `field: message`, as upstream `field.Error.Error()` prints it.
    pub fn to_message(&self) -> String {
        format!("{}: {}", self.field, self.cause_message())
    }
}

fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// Why a request failed, in Kubernetes terms. Every variant maps to one HTTP code and `Status.reason`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { message: String },
    #[error("Unauthorized")]
    Unauthorized,
    #[error("{message}")]
    Forbidden { message: String, details: Option<Details> },
    #[error("{message}")]
    NotFound { message: String, details: Option<Details> },
    #[error("{message}")]
    MethodNotSupported { message: String, details: Option<Details> },
    #[error("{message}")]
    NotAcceptable { message: String },
    #[error("{message}")]
    AlreadyExists { message: String, details: Details },
    #[error("{message}")]
    Conflict { message: String, details: Details },
    #[error("{message}")]
    Gone { message: String },
    #[error("{message}")]
    Expired { message: String },
    #[error("{message}")]
    RequestEntityTooLarge { message: String },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    #[error("{message}")]
    Invalid { message: String, details: Details, causes: Vec<FieldError> },
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_seconds: u32 },
    #[error("{message}")]
    Internal { message: String },
    #[error("{message}")]
    ServiceUnavailable { message: String },
    #[error("{message}")]
    Timeout { message: String },
}

/// `Status.details`: which object the failure is about.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Details {
    pub name: String,
    pub group: String,
    /// The plural resource name for most reasons; the Kind for `Invalid`, as upstream.
    pub kind: String,
    pub uid: Option<String>,
}

/// `<resource>[.<group>]`, the qualified resource name used in upstream messages.
pub fn qualified_resource(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest { message: message.into() }
    }
    /// A server-side failure, worded as upstream's `NewInternalError`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal { message: format!("Internal error occurred: {}", message.into()) }
    }
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let message = format!("{} \"{name}\" not found", qualified_resource(resource, group));
        let details = Details { name: name.into(), group: group.into(), kind: resource.into(), uid: None };
        Self::NotFound { message, details: Some(details) }
    }
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        let message = format!("{} \"{name}\" already exists", qualified_resource(resource, group));
        let details = Details { name: name.into(), group: group.into(), kind: resource.into(), uid: None };
        Self::AlreadyExists { message, details }
    }
    pub fn conflict(group: &str, resource: &str, name: &str, reason: &str) -> Self {
        let message = format!("Operation cannot be fulfilled on {} \"{name}\": {reason}", qualified_resource(resource, group));
        let details = Details { name: name.into(), group: group.into(), kind: resource.into(), uid: None };
        Self::Conflict { message, details }
    }
    /// The optimistic-lock conflict every stale write gets.
    pub fn stale_write(group: &str, resource: &str, name: &str) -> Self {
        Self::conflict(group, resource, name, OPTIMISTIC_LOCK_MESSAGE)
    }
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<FieldError>) -> Self {
        let listed: Vec<String> = causes.iter().map(FieldError::to_message).collect();
        let rendered = if listed.len() == 1 { listed[0].clone() } else { format!("[{}]", listed.join(", ")) };
        let message = format!("{} \"{name}\" is invalid: {rendered}", qualified_resource(kind, group));
        let details = Details { name: name.into(), group: group.into(), kind: kind.into(), uid: None };
        Self::Invalid { message, details, causes }
    }
    pub fn forbidden(group: &str, resource: &str, name: &str, reason: &str) -> Self {
        let target = qualified_resource(resource, group);
        let message = if name.is_empty() {
            format!("{target} is forbidden: {reason}")
        } else {
            format!("{target} \"{name}\" is forbidden: {reason}")
        };
        let details = Details { name: name.into(), group: group.into(), kind: resource.into(), uid: None };
        Self::Forbidden { message, details: Some(details) }
    }
    pub fn method_not_supported(group: &str, resource: &str, action: &str) -> Self {
        let message = format!("{action} is not supported on resources of kind \"{}\"", qualified_resource(resource, group));
        let details = Details { group: group.into(), kind: resource.into(), ..Details::default() };
        Self::MethodNotSupported { message, details: Some(details) }
    }
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::ServiceUnavailable { message: message.into() }
    }

    pub fn code(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthorized => 401,
            Self::Forbidden { .. } => 403,
            Self::NotFound { .. } => 404,
            Self::MethodNotSupported { .. } => 405,
            Self::NotAcceptable { .. } => 406,
            Self::AlreadyExists { .. } | Self::Conflict { .. } => 409,
            Self::Gone { .. } | Self::Expired { .. } => 410,
            Self::RequestEntityTooLarge { .. } => 413,
            Self::UnsupportedMediaType { .. } => 415,
            Self::Invalid { .. } => 422,
            Self::TooManyRequests { .. } => 429,
            Self::Internal { .. } => 500,
            Self::ServiceUnavailable { .. } => 503,
            Self::Timeout { .. } => 504,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "BadRequest",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden { .. } => "Forbidden",
            Self::NotFound { .. } => "NotFound",
            Self::MethodNotSupported { .. } => "MethodNotAllowed",
            Self::NotAcceptable { .. } => "NotAcceptable",
            Self::AlreadyExists { .. } => "AlreadyExists",
            Self::Conflict { .. } => "Conflict",
            Self::Gone { .. } => "Gone",
            Self::Expired { .. } => "Expired",
            Self::RequestEntityTooLarge { .. } => "RequestEntityTooLarge",
            Self::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            Self::Invalid { .. } => "Invalid",
            Self::TooManyRequests { .. } => "TooManyRequests",
            Self::Internal { .. } => "InternalError",
            Self::ServiceUnavailable { .. } => "ServiceUnavailable",
            Self::Timeout { .. } => "Timeout",
        }
    }

    /// The `metav1.Status` body for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            Self::Forbidden { details, .. } | Self::NotFound { details, .. } | Self::MethodNotSupported { details, .. } => {
                details.as_ref().map(details_json)
            }
            Self::AlreadyExists { details, .. } | Self::Conflict { details, .. } => Some(details_json(details)),
            Self::Invalid { details, causes, .. } => {
                let mut rendered = details_json(details);
                let causes: Vec<Value> = causes
                    .iter()
                    .map(|cause| json!({"reason": cause.kind.cause_reason(), "message": cause.cause_message(), "field": cause.field}))
                    .collect();
                rendered["causes"] = Value::Array(causes);
                Some(rendered)
            }
            Self::TooManyRequests { retry_after_seconds, .. } => Some(json!({"retryAfterSeconds": retry_after_seconds})),
            _ => None,
        };
        if let Some(details) = details {
            status["details"] = details;
        }
        status
    }
}

/// Upstream's `OptimisticLockErrorMsg`, word for word, because clients and people recognise it.
pub const OPTIMISTIC_LOCK_MESSAGE: &str = "the object has been modified; please apply your changes to the latest version and try again";

fn details_json(details: &Details) -> Value {
    let mut rendered = serde_json::Map::new();
    if !details.name.is_empty() {
        rendered.insert("name".into(), details.name.clone().into());
    }
    if !details.group.is_empty() {
        rendered.insert("group".into(), details.group.clone().into());
    }
    if !details.kind.is_empty() {
        rendered.insert("kind".into(), details.kind.clone().into());
    }
    if let Some(uid) = &details.uid {
        rendered.insert("uid".into(), uid.clone().into());
    }
    Value::Object(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_status_reads_like_upstream() {
        let error = ApiError::invalid("", "Pod", "web", vec![FieldError::required("spec.containers[0].image", "")]);
        assert_eq!(error.to_string(), "Pod \"web\" is invalid: spec.containers[0].image: Required value");
        let status = error.to_status();
        assert_eq!(status["code"], 422);
        assert_eq!(status["details"]["kind"], "Pod");
        assert_eq!(status["details"]["causes"][0]["reason"], "FieldValueRequired");
        assert_eq!(status["details"]["causes"][0]["field"], "spec.containers[0].image");
    }

    #[test]
    fn not_found_names_group_qualified_resource() {
        let error = ApiError::not_found("apps", "deployments", "web");
        assert_eq!(error.to_string(), "deployments.apps \"web\" not found");
        assert_eq!(error.to_status()["details"]["kind"], "deployments");
    }

    #[test]
    fn invalid_value_quotes_strings() {
        let error = FieldError::invalid("metadata.name", json!("Bad_Name"), "a lowercase RFC 1123 subdomain must consist of …");
        assert!(error.to_message().starts_with("metadata.name: Invalid value: \"Bad_Name\": a lowercase"));
    }
}
