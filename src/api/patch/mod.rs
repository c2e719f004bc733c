//! The patch engines behind PATCH requests, pure functions over `serde_json::Value`: RFC 6902 JSON patch
//! (`application/json-patch+json`), RFC 7386 JSON merge patch (`application/merge-patch+json`) and Kubernetes
//! strategic merge patch (`application/strategic-merge-patch+json`). Strategic merge needs per-field patch
//! metadata, which reaches it through the `PatchSchema` trait so the engine does not care where schemas come
//! from; `OpenApiPatchSchema` reads it from an OpenAPI v3 `components.schemas` map.
//!
//! `PatchError` is the one failure type. Its variants follow the HTTP answer the API server should give:
//! a malformed patch is the client's syntax error (400), a well-formed patch that cannot apply to this object
//! is unprocessable (422), and a patch that asks for too much work is too large (413).

mod json_patch;
mod merge_patch;
mod schema;
mod strategic;
mod value;

pub use json_patch::apply_json_patch;
pub use merge_patch::apply_merge_patch;
pub use schema::{FieldPatchInfo, FieldShape, OpenApiPatchSchema, PatchSchema};
pub use strategic::apply_strategic_merge_patch;

/// Why a patch could not be applied. Messages name the operation or the location in the patch so the user
/// can find what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch body does not have the shape its content type requires (400 Bad Request).
    #[error("malformed patch: {0}")]
    InvalidPatch(String),
    /// A JSON patch with more operations than the server agrees to run (413 Request Entity Too Large).
    #[error("the JSON patch has {count} operations, more than the limit of {limit}")]
    TooManyOperations { count: usize, limit: usize },
    /// A JSON patch whose `copy` operations would duplicate too much data (413 Request Entity Too Large).
    #[error("the JSON patch copies {copied_bytes} bytes, more than the limit of {limit_bytes} bytes")]
    CopyTooLarge { copied_bytes: u64, limit_bytes: u64 },
    /// A well-formed JSON patch operation that does not apply to this object (422 Unprocessable Entity).
    #[error("JSON patch operation {index} ({op} {path:?}) failed: {reason}")]
    JsonPatchFailed { index: usize, op: String, path: String, reason: String },
    /// A strategic merge patch that is malformed: a bad directive, or a list element without its merge
    /// key (400 Bad Request).
    #[error("invalid strategic merge patch at {at}: {reason}")]
    InvalidStrategicPatch { at: String, reason: String },
    /// A strategic merge patch that cannot be merged into this object (422 Unprocessable Entity).
    #[error("cannot apply strategic merge patch at {at}: {reason}")]
    StrategicPatchFailed { at: String, reason: String },
}
