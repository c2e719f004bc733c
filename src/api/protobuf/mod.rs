//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded into the JSON object the
//! API server would see. Newer kubectl sends its typed-client writes (`create namespace|configmap|secret|…`,
//! eviction, access reviews) in this form. A body is the 4-byte magic `k8s\0` and a `runtime.Unknown` envelope
//! whose `typeMeta` names the apiVersion and kind and whose `raw` holds the object, encoded per upstream's
//! generated.proto. Upstream decodes that into its Go struct and later writes the struct as JSON; this module
//! goes straight to that JSON, following the Go encoder's rules (zero values written unless `omitempty`, nil
//! slices and maps as `null`, custom forms of Time, Quantity, IntOrString and friends) with the field table in
//! `fields.rs`, generated from upstream by `tests/tools/gen_protobuf_fields.py`. Responses stay JSON.
//!
//! Pure: bytes in, `serde_json::Value` out.

mod decode;
mod fields;
mod table;
#[cfg(test)]
mod tests;
mod wire;

use serde_json::Value;

/// The largest body decoded, as the API server's request body limit (3 MiB).
pub const BODY_BYTES_MAX: usize = 3 * 1024 * 1024;

/// How deeply messages may nest. JSON decoding stops at 128 levels (serde_json's limit), and each message is at
/// least one JSON level, so a body this decoder accepts stays within what the JSON path accepts.
pub const NESTING_DEPTH_MAX: usize = 100;

/// How many JSON values (object members, array elements) one body may decode to. Protobuf omits nothing for zero
/// values but the decoded JSON repeats every non-omitted zero field of each struct, so a small body of empty
/// messages can expand; this bounds the memory one request can take, at about what a 3 MiB JSON body can hold.
pub const DECODED_VALUES_MAX: usize = 2 * 1024 * 1024;

/// The prefix of every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body could not be decoded; each message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    #[error("the protobuf body is {size} bytes, over the limit of {BODY_BYTES_MAX} bytes")]
    TooLarge { size: usize },
    #[error("the body is not Kubernetes protobuf: it does not start with the 4-byte prefix \"k8s\\x00\"")]
    NoMagic,
    #[error("the protobuf body's runtime.Unknown envelope names no apiVersion and kind (typeMeta)")]
    NoTypeMeta,
    #[error("the protobuf body's {what} is {value:?}; only unencoded application/vnd.kubernetes.protobuf is supported")]
    Envelope { what: &'static str, value: String },
    #[error("no kind \"{kind}\" is registered for version \"{api_version}\"")]
    UnknownType { api_version: String, kind: String },
    #[error("malformed protobuf in {message}: {detail}")]
    Malformed { message: String, detail: String },
    #[error("invalid protobuf value for field {field} of {message}: {detail}")]
    InvalidField { message: String, field: String, detail: String },
    #[error("the protobuf object nests messages more than {NESTING_DEPTH_MAX} deep")]
    TooDeep,
    #[error("the protobuf object decodes to more than {DECODED_VALUES_MAX} JSON values")]
    TooManyValues,
}

/// Decodes a Kubernetes protobuf body into the JSON object the API server would see, with `apiVersion` and
/// `kind` taken from the envelope. Fields the table does not know (newer than it) are skipped.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    if body.len() > BODY_BYTES_MAX {
        return Err(ProtobufError::TooLarge { size: body.len() });
    }
    let envelope = body.strip_prefix(MAGIC).ok_or(ProtobufError::NoMagic)?;
    let unknown = decode::Envelope::read(envelope)?;
    if unknown.api_version.is_empty() || unknown.kind.is_empty() {
        return Err(ProtobufError::NoTypeMeta);
    }
    let message = table::kind_message(&unknown.api_version, &unknown.kind)
        .ok_or_else(|| ProtobufError::UnknownType { api_version: unknown.api_version.clone(), kind: unknown.kind.clone() })?;
    let mut object = decode::Decoder::default().object(message, unknown.raw)?;
    object.insert("apiVersion".into(), Value::String(unknown.api_version));
    object.insert("kind".into(), Value::String(unknown.kind));
    Ok(Value::Object(object))
}
