//! The protobuf form of the Swagger 2.0 document: gnostic's `openapi.v2.Document` (google/gnostic-models
//! `openapiv2/OpenAPIv2.proto`), which client-go unmarshals from `/openapi/v2` and kubectl 1.27/1.28 need before
//! they create anything. Upstream produces it by parsing its JSON with gnostic and marshalling the result; this
//! module does the same walk over our JSON with a hand-written proto3 writer, covering the messages and fields
//! the document uses (`v2.rs` guarantees no other keys). Values gnostic keeps as `Any` (vendor extensions,
//! `default`, `enum`, `example`) are carried as YAML text, as gnostic does.

use serde_json::{Map, Value};

/// Proto3 wire types.
const WIRE_VARINT: u32 = 0;
const WIRE_FIXED64: u32 = 1;
const WIRE_LEN: u32 = 2;

/// Prefix of the keys gnostic stores as `vendor_extension` entries.
const EXTENSION_PREFIX: &str = "x-";

/// Field numbers of the messages in OpenAPIv2.proto, one module per message.
mod document {
    pub const SWAGGER: u32 = 1;
    pub const INFO: u32 = 2;
    pub const HOST: u32 = 3;
    pub const BASE_PATH: u32 = 4;
    pub const SCHEMES: u32 = 5;
    pub const CONSUMES: u32 = 6;
    pub const PRODUCES: u32 = 7;
    pub const PATHS: u32 = 8;
    pub const DEFINITIONS: u32 = 9;
    pub const VENDOR_EXTENSION: u32 = 16;
}
mod info {
    pub const TITLE: u32 = 1;
    pub const VERSION: u32 = 2;
    pub const DESCRIPTION: u32 = 3;
    pub const VENDOR_EXTENSION: u32 = 7;
}
/// `Paths`, `Definitions`, `Properties` and `Responses` are lists of named entries; every `Named*` message has the
/// name in field 1 and the value in field 2.
mod named {
    pub const NAME: u32 = 1;
    pub const VALUE: u32 = 2;
}
mod paths {
    pub const VENDOR_EXTENSION: u32 = 1;
    pub const PATH: u32 = 2;
}
/// `Definitions` and `Properties`: `repeated NamedSchema additional_properties = 1`.
const NAMED_SCHEMAS: u32 = 1;
mod path_item {
    pub const REF: u32 = 1;
    pub const GET: u32 = 2;
    pub const PUT: u32 = 3;
    pub const POST: u32 = 4;
    pub const DELETE: u32 = 5;
    pub const OPTIONS: u32 = 6;
    pub const HEAD: u32 = 7;
    pub const PATCH: u32 = 8;
    pub const PARAMETERS: u32 = 9;
    pub const VENDOR_EXTENSION: u32 = 10;
}
mod operation {
    pub const TAGS: u32 = 1;
    pub const SUMMARY: u32 = 2;
    pub const DESCRIPTION: u32 = 3;
    pub const OPERATION_ID: u32 = 5;
    pub const PRODUCES: u32 = 6;
    pub const CONSUMES: u32 = 7;
    pub const PARAMETERS: u32 = 8;
    pub const RESPONSES: u32 = 9;
    pub const SCHEMES: u32 = 10;
    pub const DEPRECATED: u32 = 11;
    pub const VENDOR_EXTENSION: u32 = 13;
}
/// `ParametersItem` (oneof) and `Parameter` (oneof).
mod parameter {
    pub const ITEM_PARAMETER: u32 = 1;
    pub const ITEM_JSON_REFERENCE: u32 = 2;
    pub const BODY: u32 = 1;
    pub const NON_BODY: u32 = 2;
}
mod json_reference {
    pub const REF: u32 = 1;
    pub const DESCRIPTION: u32 = 2;
}
mod body_parameter {
    pub const DESCRIPTION: u32 = 1;
    pub const NAME: u32 = 2;
    pub const IN: u32 = 3;
    pub const REQUIRED: u32 = 4;
    pub const SCHEMA: u32 = 5;
    pub const VENDOR_EXTENSION: u32 = 6;
}
/// `NonBodyParameter` oneof, and the layout its four sub-schemas share: the first four fields are the same, query
/// and form-data parameters then have `allow_empty_value` (5), and everything after follows at a fixed offset
/// from the `type` field.
mod non_body {
    pub const HEADER: u32 = 1;
    pub const FORM_DATA: u32 = 2;
    pub const QUERY: u32 = 3;
    pub const PATH: u32 = 4;

    pub const REQUIRED: u32 = 1;
    pub const IN: u32 = 2;
    pub const DESCRIPTION: u32 = 3;
    pub const NAME: u32 = 4;
    pub const ALLOW_EMPTY_VALUE: u32 = 5;
    /// The `type` field of header and path parameters; query and form-data ones have it one later.
    pub const TYPE_WITHOUT_ALLOW_EMPTY: u32 = 5;
    pub const FORMAT_AFTER_TYPE: u32 = 1;
    pub const UNIQUE_ITEMS_AFTER_TYPE: u32 = 14;
    pub const ENUM_AFTER_TYPE: u32 = 15;
    pub const VENDOR_EXTENSION_AFTER_TYPE: u32 = 17;
}
mod responses {
    pub const RESPONSE_CODE: u32 = 1;
    pub const VENDOR_EXTENSION: u32 = 2;
    /// `ResponseValue` oneof.
    pub const VALUE_RESPONSE: u32 = 1;
}
mod response {
    pub const DESCRIPTION: u32 = 1;
    pub const SCHEMA: u32 = 2;
    pub const VENDOR_EXTENSION: u32 = 5;
    /// `SchemaItem` oneof.
    pub const SCHEMA_ITEM_SCHEMA: u32 = 1;
}
mod schema {
    pub const REF: u32 = 1;
    pub const FORMAT: u32 = 2;
    pub const TITLE: u32 = 3;
    pub const DESCRIPTION: u32 = 4;
    pub const DEFAULT: u32 = 5;
    pub const MULTIPLE_OF: u32 = 6;
    pub const MAXIMUM: u32 = 7;
    pub const EXCLUSIVE_MAXIMUM: u32 = 8;
    pub const MINIMUM: u32 = 9;
    pub const EXCLUSIVE_MINIMUM: u32 = 10;
    pub const MAX_LENGTH: u32 = 11;
    pub const MIN_LENGTH: u32 = 12;
    pub const PATTERN: u32 = 13;
    pub const MAX_ITEMS: u32 = 14;
    pub const MIN_ITEMS: u32 = 15;
    pub const UNIQUE_ITEMS: u32 = 16;
    pub const MAX_PROPERTIES: u32 = 17;
    pub const MIN_PROPERTIES: u32 = 18;
    pub const REQUIRED: u32 = 19;
    pub const ENUM: u32 = 20;
    pub const ADDITIONAL_PROPERTIES: u32 = 21;
    pub const TYPE: u32 = 22;
    pub const ITEMS: u32 = 23;
    pub const ALL_OF: u32 = 24;
    pub const PROPERTIES: u32 = 25;
    pub const DISCRIMINATOR: u32 = 26;
    pub const READ_ONLY: u32 = 27;
    pub const EXAMPLE: u32 = 30;
    pub const VENDOR_EXTENSION: u32 = 31;
    /// `AdditionalPropertiesItem` oneof.
    pub const ADDITIONAL_SCHEMA: u32 = 1;
    pub const ADDITIONAL_BOOLEAN: u32 = 2;
    /// `TypeItem.value` and `ItemsItem.schema`.
    pub const LIST_VALUES: u32 = 1;
}
/// `Any.yaml`.
const ANY_YAML: u32 = 2;

/// Encodes a Swagger 2.0 document (as `v2.rs` builds it) as `openapi.v2.Document`.
pub(super) fn encode_document(doc: &Value) -> Vec<u8> {
    let mut out = Message::default();
    let Some(doc) = doc.as_object() else {
        return out.0;
    };
    out.string(document::SWAGGER, text(doc, "swagger"));
    if let Some(info) = doc.get("info").and_then(Value::as_object) {
        out.message(document::INFO, encode_info(info));
    }
    out.string(document::HOST, text(doc, "host"));
    out.string(document::BASE_PATH, text(doc, "basePath"));
    out.strings(document::SCHEMES, doc.get("schemes"));
    out.strings(document::CONSUMES, doc.get("consumes"));
    out.strings(document::PRODUCES, doc.get("produces"));
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        let mut encoded = Message::default();
        encoded.extensions(paths::VENDOR_EXTENSION, paths);
        for (path, item) in paths.iter().filter(|(key, _)| !key.starts_with(EXTENSION_PREFIX)) {
            encoded.message(paths::PATH, named_message(path, encode_path_item(item)));
        }
        out.message(document::PATHS, encoded);
    }
    if let Some(definitions) = doc.get("definitions").and_then(Value::as_object) {
        out.message(document::DEFINITIONS, encode_named_schemas(definitions));
    }
    out.extensions(document::VENDOR_EXTENSION, doc);
    out.0
}

fn encode_info(info: &Map<String, Value>) -> Message {
    let mut out = Message::default();
    out.string(info::TITLE, text(info, "title"));
    out.string(info::VERSION, text(info, "version"));
    out.string(info::DESCRIPTION, text(info, "description"));
    out.extensions(info::VENDOR_EXTENSION, info);
    out
}

fn encode_path_item(item: &Value) -> Message {
    let mut out = Message::default();
    let Some(item) = item.as_object() else {
        return out;
    };
    out.string(path_item::REF, text(item, "$ref"));
    let methods = [
        ("get", path_item::GET),
        ("put", path_item::PUT),
        ("post", path_item::POST),
        ("delete", path_item::DELETE),
        ("options", path_item::OPTIONS),
        ("head", path_item::HEAD),
        ("patch", path_item::PATCH),
    ];
    for (method, field) in methods {
        if let Some(op) = item.get(method).and_then(Value::as_object) {
            out.message(field, encode_operation(op));
        }
    }
    for param in items(item.get("parameters")) {
        out.message(path_item::PARAMETERS, encode_parameters_item(param));
    }
    out.extensions(path_item::VENDOR_EXTENSION, item);
    out
}

fn encode_operation(op: &Map<String, Value>) -> Message {
    let mut out = Message::default();
    out.strings(operation::TAGS, op.get("tags"));
    out.string(operation::SUMMARY, text(op, "summary"));
    out.string(operation::DESCRIPTION, text(op, "description"));
    out.string(operation::OPERATION_ID, text(op, "operationId"));
    out.strings(operation::PRODUCES, op.get("produces"));
    out.strings(operation::CONSUMES, op.get("consumes"));
    for param in items(op.get("parameters")) {
        out.message(operation::PARAMETERS, encode_parameters_item(param));
    }
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        out.message(operation::RESPONSES, encode_responses(responses));
    }
    out.strings(operation::SCHEMES, op.get("schemes"));
    out.boolean(operation::DEPRECATED, flag(op, "deprecated"));
    out.extensions(operation::VENDOR_EXTENSION, op);
    out
}

/// `ParametersItem`: a `$ref` to a shared parameter, or a body or non-body parameter.
fn encode_parameters_item(param: &Value) -> Message {
    let mut out = Message::default();
    let Some(param) = param.as_object() else {
        return out;
    };
    if param.contains_key("$ref") {
        let mut reference = Message::default();
        reference.string(json_reference::REF, text(param, "$ref"));
        reference.string(json_reference::DESCRIPTION, text(param, "description"));
        out.message(parameter::ITEM_JSON_REFERENCE, reference);
        return out;
    }
    let mut encoded = Message::default();
    if text(param, "in") == "body" {
        let mut body = Message::default();
        body.string(body_parameter::DESCRIPTION, text(param, "description"));
        body.string(body_parameter::NAME, text(param, "name"));
        body.string(body_parameter::IN, "body");
        body.boolean(body_parameter::REQUIRED, flag(param, "required"));
        if let Some(schema) = param.get("schema") {
            body.message(body_parameter::SCHEMA, encode_schema(schema));
        }
        body.extensions(body_parameter::VENDOR_EXTENSION, param);
        encoded.message(parameter::BODY, body);
    } else {
        let (variant, allows_empty) = match text(param, "in") {
            "header" => (non_body::HEADER, false),
            "formData" => (non_body::FORM_DATA, true),
            "path" => (non_body::PATH, false),
            _ => (non_body::QUERY, true),
        };
        let mut sub = Message::default();
        sub.boolean(non_body::REQUIRED, flag(param, "required"));
        sub.string(non_body::IN, text(param, "in"));
        sub.string(non_body::DESCRIPTION, text(param, "description"));
        sub.string(non_body::NAME, text(param, "name"));
        let type_field = if allows_empty {
            sub.boolean(non_body::ALLOW_EMPTY_VALUE, flag(param, "allowEmptyValue"));
            non_body::TYPE_WITHOUT_ALLOW_EMPTY + 1
        } else {
            non_body::TYPE_WITHOUT_ALLOW_EMPTY
        };
        sub.string(type_field, text(param, "type"));
        sub.string(type_field + non_body::FORMAT_AFTER_TYPE, text(param, "format"));
        sub.boolean(type_field + non_body::UNIQUE_ITEMS_AFTER_TYPE, flag(param, "uniqueItems"));
        for value in items(param.get("enum")) {
            sub.message(type_field + non_body::ENUM_AFTER_TYPE, encode_any(value));
        }
        sub.extensions(type_field + non_body::VENDOR_EXTENSION_AFTER_TYPE, param);
        let mut non_body_message = Message::default();
        non_body_message.message(variant, sub);
        encoded.message(parameter::NON_BODY, non_body_message);
    }
    out.message(parameter::ITEM_PARAMETER, encoded);
    out
}

fn encode_responses(responses: &Map<String, Value>) -> Message {
    let mut out = Message::default();
    for (code, response) in responses.iter().filter(|(key, _)| !key.starts_with(EXTENSION_PREFIX)) {
        let mut encoded = Message::default();
        if let Some(response) = response.as_object() {
            encoded.string(response::DESCRIPTION, text(response, "description"));
            if let Some(schema) = response.get("schema") {
                let mut item = Message::default();
                item.message(response::SCHEMA_ITEM_SCHEMA, encode_schema(schema));
                encoded.message(response::SCHEMA, item);
            }
            encoded.extensions(response::VENDOR_EXTENSION, response);
        }
        let mut value = Message::default();
        value.message(responses::VALUE_RESPONSE, encoded);
        out.message(responses::RESPONSE_CODE, named_message(code, value));
    }
    out.extensions(responses::VENDOR_EXTENSION, responses);
    out
}

fn encode_named_schemas(schemas: &Map<String, Value>) -> Message {
    let mut out = Message::default();
    for (name, schema) in schemas {
        out.message(NAMED_SCHEMAS, named_message(name, encode_schema(schema)));
    }
    out
}

fn encode_schema(value: &Value) -> Message {
    let mut out = Message::default();
    let Some(s) = value.as_object() else {
        return out;
    };
    out.string(schema::REF, text(s, "$ref"));
    out.string(schema::FORMAT, text(s, "format"));
    out.string(schema::TITLE, text(s, "title"));
    out.string(schema::DESCRIPTION, text(s, "description"));
    if let Some(default) = s.get("default") {
        out.message(schema::DEFAULT, encode_any(default));
    }
    out.double(schema::MULTIPLE_OF, s.get("multipleOf"));
    out.double(schema::MAXIMUM, s.get("maximum"));
    out.boolean(schema::EXCLUSIVE_MAXIMUM, flag(s, "exclusiveMaximum"));
    out.double(schema::MINIMUM, s.get("minimum"));
    out.boolean(schema::EXCLUSIVE_MINIMUM, flag(s, "exclusiveMinimum"));
    out.int64(schema::MAX_LENGTH, s.get("maxLength"));
    out.int64(schema::MIN_LENGTH, s.get("minLength"));
    out.string(schema::PATTERN, text(s, "pattern"));
    out.int64(schema::MAX_ITEMS, s.get("maxItems"));
    out.int64(schema::MIN_ITEMS, s.get("minItems"));
    out.boolean(schema::UNIQUE_ITEMS, flag(s, "uniqueItems"));
    out.int64(schema::MAX_PROPERTIES, s.get("maxProperties"));
    out.int64(schema::MIN_PROPERTIES, s.get("minProperties"));
    out.strings(schema::REQUIRED, s.get("required"));
    for value in items(s.get("enum")) {
        out.message(schema::ENUM, encode_any(value));
    }
    match s.get("additionalProperties") {
        Some(Value::Bool(allowed)) => {
            let mut item = Message::default();
            item.boolean_always(schema::ADDITIONAL_BOOLEAN, *allowed);
            out.message(schema::ADDITIONAL_PROPERTIES, item);
        }
        Some(additional) => {
            let mut item = Message::default();
            item.message(schema::ADDITIONAL_SCHEMA, encode_schema(additional));
            out.message(schema::ADDITIONAL_PROPERTIES, item);
        }
        None => {}
    }
    match s.get("type") {
        Some(Value::String(single)) => {
            let mut item = Message::default();
            item.string(schema::LIST_VALUES, single);
            out.message(schema::TYPE, item);
        }
        Some(types @ Value::Array(_)) => {
            let mut item = Message::default();
            item.strings(schema::LIST_VALUES, Some(types));
            out.message(schema::TYPE, item);
        }
        _ => {}
    }
    match s.get("items") {
        Some(Value::Array(list)) => {
            let mut item = Message::default();
            for entry in list {
                item.message(schema::LIST_VALUES, encode_schema(entry));
            }
            out.message(schema::ITEMS, item);
        }
        Some(single) => {
            let mut item = Message::default();
            item.message(schema::LIST_VALUES, encode_schema(single));
            out.message(schema::ITEMS, item);
        }
        None => {}
    }
    for entry in items(s.get("allOf")) {
        out.message(schema::ALL_OF, encode_schema(entry));
    }
    if let Some(properties) = s.get("properties").and_then(Value::as_object) {
        out.message(schema::PROPERTIES, encode_named_schemas(properties));
    }
    out.string(schema::DISCRIMINATOR, text(s, "discriminator"));
    out.boolean(schema::READ_ONLY, flag(s, "readOnly"));
    if let Some(example) = s.get("example") {
        out.message(schema::EXAMPLE, encode_any(example));
    }
    out.extensions(schema::VENDOR_EXTENSION, s);
    out
}

/// `Any` with the value as YAML text, which is what gnostic stores and kube-openapi parses back.
fn encode_any(value: &Value) -> Message {
    let mut out = Message::default();
    let yaml = serde_yaml::to_string(value).expect("a serde_json::Value always serializes as YAML");
    out.string(ANY_YAML, &yaml);
    out
}

fn named_message(name: &str, value: Message) -> Message {
    let mut out = Message::default();
    out.string(named::NAME, name);
    out.message(named::VALUE, value);
    out
}

fn text<'a>(object: &'a Map<String, Value>, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn flag(object: &Map<String, Value>, key: &str) -> bool {
    object.get(key).and_then(Value::as_bool).unwrap_or_default()
}

fn items(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// One message's encoded fields. Scalars at their proto3 default are omitted, as proto3 does; sub-messages are
/// always written, because presence matters (kube-openapi tells an object with no properties from a map by
/// whether `properties` is set).
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn key(&mut self, field: u32, wire_type: u32) {
        self.varint(u64::from(field << 3 | wire_type));
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, WIRE_LEN);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn string(&mut self, field: u32, value: &str) {
        if !value.is_empty() {
            self.bytes(field, value.as_bytes());
        }
    }

    /// A repeated string field from a JSON array of strings.
    fn strings(&mut self, field: u32, values: Option<&Value>) {
        for value in items(values).iter().filter_map(Value::as_str) {
            self.bytes(field, value.as_bytes());
        }
    }

    fn boolean(&mut self, field: u32, value: bool) {
        if value {
            self.boolean_always(field, value);
        }
    }

    /// A bool inside a oneof, where even `false` is written because it marks which case is set.
    fn boolean_always(&mut self, field: u32, value: bool) {
        self.key(field, WIRE_VARINT);
        self.varint(u64::from(value));
    }

    fn int64(&mut self, field: u32, value: Option<&Value>) {
        if let Some(value) = value.and_then(Value::as_i64).filter(|value| *value != 0) {
            self.key(field, WIRE_VARINT);
            // Negative int64 values are ten-byte two's-complement varints in proto3.
            self.varint(value as u64);
        }
    }

    fn double(&mut self, field: u32, value: Option<&Value>) {
        if let Some(value) = value.and_then(Value::as_f64).filter(|value| *value != 0.0) {
            self.key(field, WIRE_FIXED64);
            self.0.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn message(&mut self, field: u32, message: Message) {
        self.bytes(field, &message.0);
    }

    /// The `x-…` keys of an object, as `repeated NamedAny vendor_extension`.
    fn extensions(&mut self, field: u32, object: &Map<String, Value>) {
        for (name, value) in object.iter().filter(|(key, _)| key.starts_with(EXTENSION_PREFIX)) {
            self.message(field, named_message(name, encode_any(value)));
        }
    }
}
