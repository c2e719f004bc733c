//! What pods consume as configuration: ConfigMap and Secret. Secrets default to
//! `Opaque` and have `stringData` folded into base64 `data` (upstream does this in v1 conversion, before
//! defaulting); validation covers keys, the 1 MiB size limit, each built-in secret type's required keys, and
//! the `immutable` flag.

use serde_json::{Map, Value};

use super::meta::{invalid_each, is_config_map_key, validate_immutable};
use super::value::{bool_at, get, object_at, set, set_default_str, str_at, FieldPath};
use crate::api::status::FieldError;

/// Upstream `MaxSecretSize`, also the ConfigMap limit: 1 MiB of data.
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

const IMMUTABLE_DETAIL: &str = "field is immutable when `immutable` is set";

/// Upstream `ValidateConfigMap`: keys are config keys, not in both `data` and `binaryData`, and all values
/// together fit in 1 MiB.
pub fn validate_config_map(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let binary = object_at(obj, &["binaryData"]);
    let mut total = 0;
    for (key, value) in object_at(obj, &["data"]).into_iter().flatten() {
        let path = FieldPath::new("data").key(key);
        errors.extend(invalid_each(&path, key, is_config_map_key(key)));
        if binary.is_some_and(|binary| binary.contains_key(key)) {
            errors.push(FieldError::invalid(&path, Value::from(key.as_str()), "duplicate of key present in binaryData"));
        }
        total += value.as_str().map_or(0, str::len);
    }
    for (key, value) in binary.into_iter().flatten() {
        let path = FieldPath::new("binaryData").key(key);
        errors.extend(invalid_each(&path, key, is_config_map_key(key)));
        match decode_base64(value.as_str().unwrap_or_default()) {
            Ok(bytes) => total += bytes.len(),
            Err(message) => errors.push(FieldError::invalid(&path, Value::from("<binary contents redacted>"), message)),
        }
    }
    if total > MAX_SECRET_SIZE {
        errors.push(FieldError::too_long(FieldPath::new(""), MAX_SECRET_SIZE));
    }
    errors
}

/// Upstream `ValidateConfigMapUpdate`: an immutable ConfigMap keeps its data and stays immutable.
pub fn validate_config_map_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_immutable_contents(new, old, &["data", "binaryData"]));
    errors.extend(validate_config_map(new));
    errors
}

/// Once `immutable: true`, the flag and the listed content fields never change.
fn validate_immutable_contents(new: &Value, old: &Value, fields: &[&str]) -> Vec<FieldError> {
    if !bool_at(old, &["immutable"]) {
        return Vec::new();
    }
    let mut errors = Vec::new();
    if !bool_at(new, &["immutable"]) {
        errors.push(FieldError::forbidden(FieldPath::new("immutable"), IMMUTABLE_DETAIL));
    }
    for field in fields {
        if !validate_immutable(get(new, &[field]), get(old, &[field]), &FieldPath::new(field)).is_empty() {
            errors.push(FieldError::forbidden(FieldPath::new(field), IMMUTABLE_DETAIL));
        }
    }
    errors
}

/// Defaulting of a Secret: type `Opaque`, and `stringData` (write-only plain text) merged into `data`.
pub fn default_secret(obj: &mut Value) {
    set_default_str(obj, &["type"], "Opaque");
    let Some(plain) = obj.as_object_mut().and_then(|fields| fields.remove("stringData")) else {
        return;
    };
    for (key, value) in plain.as_object().into_iter().flatten() {
        let encoded = encode_base64(value.as_str().unwrap_or_default().as_bytes());
        set(obj, &["data", key], Value::from(encoded));
    }
}

/// Upstream `ValidateSecret`.
pub fn validate_secret(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let data_path = FieldPath::new("data");
    let mut decoded = Map::new();
    let mut total = 0;
    for (key, value) in object_at(obj, &["data"]).into_iter().flatten() {
        errors.extend(invalid_each(&data_path.key(key), key, is_config_map_key(key)));
        match decode_base64(value.as_str().unwrap_or_default()) {
            Ok(bytes) => {
                total += bytes.len();
                decoded.insert(key.clone(), Value::from(String::from_utf8_lossy(&bytes).into_owned()));
            }
            Err(message) => errors.push(FieldError::invalid(data_path.key(key), Value::from("<secret contents redacted>"), message)),
        }
    }
    if total > MAX_SECRET_SIZE {
        errors.push(FieldError::too_long(&data_path, MAX_SECRET_SIZE));
    }
    errors.extend(validate_secret_type(obj, &decoded, &data_path));
    errors
}

/// The keys each built-in secret type requires.
fn validate_secret_type(obj: &Value, data: &Map<String, Value>, data_path: &FieldPath) -> Vec<FieldError> {
    let required = |key: &str| FieldError::required(data_path.key(key), "");
    match str_at(obj, &["type"]).unwrap_or_default() {
        "kubernetes.io/service-account-token" => {
            let name = str_at(obj, &["metadata", "annotations", "kubernetes.io/service-account.name"]).unwrap_or_default();
            if name.is_empty() {
                return vec![FieldError::required(
                    FieldPath::new("metadata").child("annotations").key("kubernetes.io/service-account.name"),
                    "",
                )];
            }
            Vec::new()
        }
        "kubernetes.io/dockercfg" => validate_docker_config(data, ".dockercfg", data_path),
        "kubernetes.io/dockerconfigjson" => validate_docker_config(data, ".dockerconfigjson", data_path),
        "kubernetes.io/basic-auth" if !data.contains_key("username") && !data.contains_key("password") => {
            vec![required("username"), required("password")]
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").and_then(Value::as_str).unwrap_or_default().is_empty() => {
            vec![required("ssh-privatekey")]
        }
        "kubernetes.io/tls" => ["tls.crt", "tls.key"].into_iter().filter(|key| !data.contains_key(*key)).map(required).collect(),
        _ => Vec::new(),
    }
}

/// Docker config secrets need their key, holding a JSON object.
fn validate_docker_config(data: &Map<String, Value>, key: &str, data_path: &FieldPath) -> Vec<FieldError> {
    let Some(content) = data.get(key).and_then(Value::as_str) else {
        return vec![FieldError::required(data_path.key(key), "")];
    };
    let problem = match serde_json::from_str::<Value>(content) {
        Ok(Value::Object(_)) => return Vec::new(),
        Ok(_) => "json: cannot unmarshal into Go value of type map[string]interface {}".to_string(),
        Err(error) if error.is_eof() => "unexpected end of JSON input".to_string(),
        Err(error) => error.to_string(),
    };
    vec![FieldError::invalid(data_path.key(key), Value::from("<secret contents redacted>"), problem)]
}

/// Upstream `ValidateSecretUpdate`: the type never changes, an immutable secret keeps its data.
pub fn validate_secret_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_immutable(get(new, &["type"]), get(old, &["type"]), &FieldPath::new("type")));
    errors.extend(validate_immutable_contents(new, old, &["data"]));
    errors.extend(validate_secret(new));
    errors
}

const BASE64_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as Go encodes `[]byte` in JSON.
pub fn encode_base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk.iter().enumerate().fold(0u32, |word, (index, byte)| word | u32::from(*byte) << (16 - 8 * index));
        for position in 0..4 {
            if position <= chunk.len() {
                out.push(BASE64_ALPHABET[(word >> (18 - 6 * position) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 as Go's JSON decoder reads `[]byte` (line breaks ignored, padding required); the error is
/// Go's, naming the offending byte.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let illegal = |position: usize| format!("illegal base64 data at input byte {position}");
    let symbols: Vec<(usize, u8)> = text.bytes().enumerate().filter(|(_, byte)| *byte != b'\n' && *byte != b'\r').collect();
    if !symbols.len().is_multiple_of(4) {
        return Err(illegal(symbols.last().map_or(0, |(position, _)| position + 1)));
    }
    let mut out = Vec::with_capacity(symbols.len() / 4 * 3);
    for (block_index, block) in symbols.chunks(4).enumerate() {
        let last_block = block_index == symbols.len() / 4 - 1;
        let padding = block.iter().rev().take_while(|(_, byte)| *byte == b'=').count();
        if padding > 2 || (padding > 0 && !last_block) {
            return Err(illegal(block[4 - padding].0));
        }
        let mut word = 0u32;
        for (position, byte) in &block[..4 - padding] {
            let value = BASE64_ALPHABET.iter().position(|symbol| symbol == byte).ok_or_else(|| illegal(*position))?;
            word = word << 6 | value as u32;
        }
        word <<= 6 * padding as u32;
        out.extend(&word.to_be_bytes()[1..4 - padding]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(FieldError::to_message).collect()
    }

    fn secret_data(pairs: &[(&str, &str)]) -> Value {
        Value::Object(pairs.iter().map(|(key, value)| (key.to_string(), json!(encode_base64(value.as_bytes())))).collect())
    }

    #[test]
    fn base64_round_trips_and_reports_go_errors() {
        for text in ["", "a", "ab", "abc", "hello world"] {
            assert_eq!(decode_base64(&encode_base64(text.as_bytes())).unwrap(), text.as_bytes());
        }
        assert_eq!(encode_base64(b"ab"), "YWI=");
        assert_eq!(decode_base64("YW*=").unwrap_err(), "illegal base64 data at input byte 2");
        assert_eq!(decode_base64("YWI").unwrap_err(), "illegal base64 data at input byte 3");
    }

    #[test]
    fn secret_defaults_type_and_folds_string_data() {
        let mut secret =
            json!({"metadata": {"name": "s", "namespace": "default"}, "data": {"a": "eA=="}, "stringData": {"b": "hello", "a": "y"}});
        default_secret(&mut secret);
        assert_eq!(secret["type"], "Opaque");
        assert!(secret.get("stringData").is_none());
        assert_eq!(secret["data"], json!({"a": "eQ==", "b": "aGVsbG8="}));
        assert!(validate_secret(&secret).is_empty());
    }

    #[test]
    fn typed_secrets_need_their_keys() {
        let tls = json!({"metadata": {"name": "s", "namespace": "default"}, "type": "kubernetes.io/tls", "data": secret_data(&[("tls.crt", "x")])});
        assert_eq!(messages(&validate_secret(&tls)), vec!["data[tls.key]: Required value"]);
        let docker = json!({"metadata": {"name": "s", "namespace": "default"}, "type": "kubernetes.io/dockerconfigjson", "data": secret_data(&[(".dockerconfigjson", "")])});
        assert_eq!(
            messages(&validate_secret(&docker)),
            vec!["data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": unexpected end of JSON input"]
        );
        let basic = json!({"metadata": {"name": "s", "namespace": "default"}, "type": "kubernetes.io/basic-auth"});
        assert_eq!(messages(&validate_secret(&basic)), vec!["data[username]: Required value", "data[password]: Required value"]);
        let token = json!({"metadata": {"name": "s", "namespace": "default"}, "type": "kubernetes.io/service-account-token"});
        assert_eq!(messages(&validate_secret(&token)), vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"]);
    }

    #[test]
    fn secret_size_and_keys() {
        let big = "a".repeat(MAX_SECRET_SIZE + 1);
        let secret = json!({"metadata": {"name": "s", "namespace": "default"}, "type": "Opaque", "data": secret_data(&[("big", &big), ("bad key", "x")])});
        let rendered = messages(&validate_secret(&secret));
        assert!(rendered[0].starts_with(
            "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
        ));
        assert_eq!(rendered[1], "data: Too long: may not be more than 1048576 bytes");
    }

    #[test]
    fn config_map_rules() {
        let cm = json!({"metadata": {"name": "c", "namespace": "default"}, "data": {"..x": "1", "k": "v"}, "binaryData": {"k": "eA=="}});
        assert_eq!(
            messages(&validate_config_map(&cm)),
            vec![
                "data[..x]: Invalid value: \"..x\": must not start with '..'",
                "data[k]: Invalid value: \"k\": duplicate of key present in binaryData",
            ]
        );
        let big = json!({"metadata": {"name": "c", "namespace": "default"}, "data": {"k": "a".repeat(MAX_SECRET_SIZE + 1)}});
        assert_eq!(messages(&validate_config_map(&big)), vec![": Too long: may not be more than 1048576 bytes"]);
    }

    #[test]
    fn immutable_objects_keep_their_data() {
        let old = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"k": "v"}});
        let new = json!({"metadata": {"name": "c"}, "data": {"k": "w"}});
        assert_eq!(
            messages(&validate_config_map_update(&new, &old)),
            vec![
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set",
            ]
        );
        let old_secret = json!({"metadata": {"name": "s"}, "type": "Opaque"});
        let new_secret =
            json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls", "data": secret_data(&[("tls.crt", "c"), ("tls.key", "k")])});
        assert_eq!(
            messages(&validate_secret_update(&new_secret, &old_secret)),
            vec!["type: Invalid value: \"kubernetes.io/tls\": field is immutable"]
        );
    }
}
