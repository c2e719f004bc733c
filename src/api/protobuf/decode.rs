//! Protobuf message bytes → the JSON the API server's Go encoder would write for the decoded struct. The rules
//! that matter, all Go's: a plain (non-pointer) field absent from the wire is its zero value and is written
//! unless its tag says `omitempty`/`omitzero`; a struct value is never omitted; a nil pointer, slice or map is
//! omitted under `omitempty` and written as `null` otherwise; a set pointer is written even when it points at a
//! zero value; and Time, MicroTime, Duration, IntOrString, Quantity, RawExtension and the apiextensions schema
//! unions have their own JSON forms. Repeated occurrences of a singular message field merge (their bytes
//! concatenate), a singular scalar's last occurrence wins, as protobuf specifies.

use std::borrow::Cow;

use base64::Engine;
use serde_json::{Map, Number, Value};

use super::table::{Card, Field, Kind, Message, Omit, Shape};
use super::wire::{Reader, Wire};
use super::{ProtobufError, DECODED_VALUES_MAX, NESTING_DEPTH_MAX};

/// The fields of the `runtime.Unknown` envelope that a decoder needs.
pub struct Envelope<'a> {
    pub api_version: String,
    pub kind: String,
    pub raw: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Reads `runtime.Unknown`: typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2, contentEncoding = 3,
    /// contentType = 4.
    pub fn read(bytes: &'a [u8]) -> Result<Self, ProtobufError> {
        let mut envelope = Envelope { api_version: String::new(), kind: String::new(), raw: &[] };
        let (mut encoding, mut content_type) = (String::new(), String::new());
        for (tag, value) in fields("runtime.Unknown", bytes)? {
            match tag {
                1 => {
                    for (tag, value) in fields("runtime.TypeMeta", envelope_bytes(value, "typeMeta")?)? {
                        match tag {
                            1 => envelope.api_version = envelope_text(value, "typeMeta.apiVersion")?,
                            2 => envelope.kind = envelope_text(value, "typeMeta.kind")?,
                            _ => {}
                        }
                    }
                }
                2 => envelope.raw = envelope_bytes(value, "raw")?,
                3 => encoding = envelope_text(value, "contentEncoding")?,
                4 => content_type = envelope_text(value, "contentType")?,
                _ => {}
            }
        }
        if !encoding.is_empty() {
            return Err(ProtobufError::Envelope { what: "content encoding", value: encoding });
        }
        if !content_type.is_empty() && content_type != "application/vnd.kubernetes.protobuf" {
            return Err(ProtobufError::Envelope { what: "content type", value: content_type });
        }
        Ok(envelope)
    }
}

fn fields<'a>(message: &str, bytes: &'a [u8]) -> Result<Vec<(u32, Wire<'a>)>, ProtobufError> {
    let mut reader = Reader::new(bytes);
    let mut out = Vec::new();
    while let Some(field) = reader.next_field().map_err(|detail| malformed(message, detail))? {
        out.push(field);
    }
    Ok(out)
}

fn envelope_bytes<'a>(value: Wire<'a>, field: &str) -> Result<&'a [u8], ProtobufError> {
    match value {
        Wire::Bytes(bytes) => Ok(bytes),
        other => Err(wrong_wire("runtime.Unknown", field, other)),
    }
}

fn envelope_text(value: Wire<'_>, field: &str) -> Result<String, ProtobufError> {
    envelope_bytes(value, field).map(|bytes| String::from_utf8_lossy(bytes).into_owned())
}

/// Decodes messages, counting the JSON values it makes against `DECODED_VALUES_MAX`.
#[derive(Default)]
pub struct Decoder {
    values: usize,
}

/// The wire values of each field of one message, by the field's index in the table.
struct Slots<'a> {
    message: &'static Message,
    slots: Vec<Vec<Wire<'a>>>,
}

impl<'a> Slots<'a> {
    fn read(message: &'static Message, bytes: &'a [u8]) -> Result<Self, ProtobufError> {
        let mut slots = vec![Vec::new(); message.fields.len()];
        let mut reader = Reader::new(bytes);
        while let Some((tag, value)) = reader.next_field().map_err(|detail| malformed(message.name, detail))? {
            // A tag the table does not know is a field newer than the table: skipped, as upstream skips it.
            if let Some((index, _)) = message.field(tag) {
                slots[index].push(value);
            }
        }
        Ok(Self { message, slots })
    }

    /// The field with this tag and its wire values (none when the table has no such field).
    fn get(&self, tag: u32) -> Option<(&'static Field, &[Wire<'a>])> {
        self.message.field(tag).map(|(index, field)| (field, self.slots[index].as_slice()))
    }
}

impl Decoder {
    /// Decodes a kind's message into its JSON object (without apiVersion and kind, which the envelope carries).
    pub fn object(&mut self, message: &'static Message, bytes: &[u8]) -> Result<Map<String, Value>, ProtobufError> {
        self.structure(Slots::read(message, bytes)?, 1)
    }

    fn count(&mut self) -> Result<(), ProtobufError> {
        self.values += 1;
        if self.values > DECODED_VALUES_MAX {
            return Err(ProtobufError::TooManyValues);
        }
        Ok(())
    }

    /// One message's JSON in its shape's form.
    fn message(&mut self, message: &'static Message, bytes: &[u8], depth: usize) -> Result<Value, ProtobufError> {
        if depth > NESTING_DEPTH_MAX {
            return Err(ProtobufError::TooDeep);
        }
        let parts = Slots::read(message, bytes)?;
        let invalid =
            |detail: &str| ProtobufError::InvalidField { message: message.name.into(), field: String::new(), detail: detail.into() };
        Ok(match message.shape {
            Shape::Struct => Value::Object(self.structure(parts, depth)?),
            Shape::List => match parts.get(1) {
                Some((field, values)) => self.repeated(message, field, values, depth)?,
                None => Value::Array(Vec::new()),
            },
            Shape::Time | Shape::MicroTime => {
                // Upstream's Unmarshal: no bytes is the zero time; Time drops the nanoseconds (its JSON has
                // whole seconds), MicroTime truncates them to microseconds.
                if bytes.is_empty() {
                    return Ok(Value::Null);
                }
                let seconds = self.number(&parts, 1, depth)?.unwrap_or(0);
                let nanos = self.number(&parts, 2, depth)?.unwrap_or(0);
                let time = if message.shape == Shape::Time { rfc3339(seconds, None) } else { rfc3339(seconds, Some(nanos / 1000 * 1000)) };
                time.ok_or_else(|| invalid(&format!("time {seconds}s {nanos}ns is out of range")))?
            }
            Shape::Duration => Value::String(go_duration(self.number(&parts, 1, depth)?.unwrap_or(0))),
            Shape::IntOrString => match self.number(&parts, 1, depth)?.unwrap_or(0) {
                0 => self.present(&parts, 2, depth)?.unwrap_or_else(|| Value::from(0)),
                1 => self.present(&parts, 3, depth)?.unwrap_or_else(|| Value::String(String::new())),
                other => return Err(invalid(&format!("IntOrString type {other} is neither 0 (int) nor 1 (string)"))),
            },
            Shape::Quantity => match self.present(&parts, 1, depth)? {
                None => Value::String("0".into()),
                Some(Value::String(text)) if text.is_empty() => return Err(invalid("a quantity may not be an empty string")),
                Some(text) => text,
            },
            Shape::RawJson => match parts.get(1).and_then(|(_, values)| values.last()) {
                Some(Wire::Bytes(raw)) if !raw.is_empty() => serde_json::from_slice(raw)
                    .map_err(|e| invalid(&format!("the embedded object is not JSON ({e}); send embedded objects as JSON")))?,
                Some(other @ (Wire::Varint(_) | Wire::Fixed64(_) | Wire::Fixed32(_))) => {
                    return Err(wrong_wire(message.name, "raw", *other));
                }
                _ => Value::Null,
            },
            Shape::SchemaOrArray => match self.present(&parts, 2, depth)? {
                Some(schemas) if schemas.as_array().is_some_and(|a| !a.is_empty()) => schemas,
                _ => self.present(&parts, 1, depth)?.unwrap_or(Value::Null),
            },
            Shape::SchemaOrBool => match self.present(&parts, 2, depth)? {
                Some(schema) => schema,
                None => self.present(&parts, 1, depth)?.unwrap_or(Value::Bool(false)),
            },
            Shape::SchemaOrStringArray => match self.present(&parts, 2, depth)? {
                Some(strings) if strings.as_array().is_some_and(|a| !a.is_empty()) => strings,
                _ => self.present(&parts, 1, depth)?.unwrap_or(Value::Null),
            },
        })
    }

    /// A field's value when it was sent (a repeated field: its array, even empty), else `None`.
    fn present(&mut self, parts: &Slots<'_>, tag: u32, depth: usize) -> Result<Option<Value>, ProtobufError> {
        let Some((field, values)) = parts.get(tag) else { return Ok(None) };
        match field.card {
            Card::Slice => self.repeated(parts.message, field, values, depth).map(Some),
            _ if values.is_empty() => Ok(None),
            _ => self.single(parts.message, field, values, depth).map(Some),
        }
    }

    fn number(&mut self, parts: &Slots<'_>, tag: u32, depth: usize) -> Result<Option<i64>, ProtobufError> {
        Ok(self.present(parts, tag, depth)?.and_then(|v| v.as_i64()))
    }

    /// A Go struct: an object of its fields, embedded structs' fields merged in.
    fn structure(&mut self, parts: Slots<'_>, depth: usize) -> Result<Map<String, Value>, ProtobufError> {
        let message = parts.message;
        let mut object = Map::new();
        let mut embedded = Vec::new();
        for (field, values) in message.fields.iter().zip(&parts.slots) {
            if field.card == Card::Inline {
                if let Value::Object(members) = self.single(message, field, values, depth)? {
                    embedded.push(members);
                }
                continue;
            }
            if let Some(value) = self.field(message, field, values, depth)? {
                self.count()?;
                object.insert(field.json.to_string(), value);
            }
        }
        // Go's encoder lets a struct's own field win over an embedded struct's field of the same name.
        for members in embedded {
            for (name, value) in members {
                object.entry(name).or_insert(value);
            }
        }
        Ok(object)
    }

    /// One field as Go's encoder writes it, or `None` when its tag options leave it out.
    fn field(
        &mut self,
        message: &'static Message,
        field: &Field,
        values: &[Wire<'_>],
        depth: usize,
    ) -> Result<Option<Value>, ProtobufError> {
        let omits = field.omit != Omit::Never;
        let nil = || if omits { None } else { Some(Value::Null) };
        let value = match field.card {
            Card::Slice | Card::Map => {
                let value = if field.card == Card::Slice {
                    self.repeated(message, field, values, depth)?
                } else {
                    self.map(message, field, values, depth)?
                };
                // Protobuf cannot tell an empty slice or map from nil, and upstream's decoder leaves it nil.
                let empty = value.as_array().is_some_and(Vec::is_empty) || value.as_object().is_some_and(Map::is_empty);
                return Ok(if empty { nil() } else { Some(value) });
            }
            Card::Pointer if values.is_empty() => return Ok(nil()),
            // A set pointer is written whatever it points at.
            Card::Pointer => return self.single(message, field, values, depth).map(Some),
            Card::Value | Card::Inline => match field.kind {
                Kind::Bytes if values.is_empty() => return Ok(nil()),
                _ => self.single(message, field, values, depth)?,
            },
        };
        let omitted = match field.kind {
            Kind::Message(inner) => match inner.shape {
                // A named slice type (Verbs, ExtraValue) left empty by the decoder is nil.
                Shape::List if value.as_array().is_some_and(Vec::is_empty) => return Ok(nil()),
                Shape::Time | Shape::MicroTime => field.omit == Omit::Zero && value.is_null(),
                // `omitempty` never omits a struct value, which these all are in Go.
                _ => false,
            },
            _ => omits && is_zero_scalar(&value),
        };
        Ok((!omitted).then_some(value))
    }

    /// A singular field's value: the last occurrence of a scalar, or the merge of every occurrence of a message
    /// (none decodes as the zero message).
    fn single(&mut self, message: &'static Message, field: &Field, values: &[Wire<'_>], depth: usize) -> Result<Value, ProtobufError> {
        match field.kind {
            Kind::Message(inner) => {
                let bytes = match values {
                    [] => Cow::Borrowed(&[][..]),
                    [one] => Cow::Borrowed(message_bytes(message, field, *one)?),
                    many => {
                        let mut joined = Vec::new();
                        for value in many {
                            joined.extend_from_slice(message_bytes(message, field, *value)?);
                        }
                        Cow::Owned(joined)
                    }
                };
                self.message(inner, &bytes, depth + 1)
            }
            kind => match values.last() {
                Some(value) => scalar(message, field, kind, *value),
                None => Ok(zero_scalar(kind)),
            },
        }
    }

    /// A repeated field's elements, unpacking packed numbers.
    fn repeated(&mut self, message: &'static Message, field: &Field, values: &[Wire<'_>], depth: usize) -> Result<Value, ProtobufError> {
        let mut items = Vec::with_capacity(values.len());
        for value in values {
            match (field.kind, value) {
                (Kind::Message(inner), value) => {
                    let bytes = message_bytes(message, field, *value)?;
                    items.push(self.message(inner, bytes, depth + 1)?);
                    self.count()?;
                }
                (Kind::Bool | Kind::Int32 | Kind::Int64 | Kind::Double, Wire::Bytes(packed)) => {
                    let mut reader = Reader::new(packed);
                    while !reader.at_end() {
                        let element = if matches!(field.kind, Kind::Double) {
                            reader.fixed64().map(Wire::Fixed64)
                        } else {
                            reader.varint().map(Wire::Varint)
                        };
                        let element = element.map_err(|detail| malformed(message.name, detail))?;
                        items.push(scalar(message, field, field.kind, element)?);
                        self.count()?;
                    }
                }
                (kind, value) => {
                    items.push(scalar(message, field, kind, *value)?);
                    self.count()?;
                }
            }
        }
        Ok(Value::Array(items))
    }

    /// A map field: entry messages {key = 1, value = 2}; a missing value is its type's zero value, a repeated
    /// key's last entry wins.
    fn map(&mut self, message: &'static Message, field: &Field, values: &[Wire<'_>], depth: usize) -> Result<Value, ProtobufError> {
        let mut object = Map::new();
        for value in values {
            let entry = message_bytes(message, field, *value)?;
            let (mut key, mut entry_values) = (String::new(), Vec::new());
            for (tag, value) in fields(message.name, entry)? {
                match (tag, value) {
                    (1, Wire::Bytes(bytes)) => key = String::from_utf8_lossy(bytes).into_owned(),
                    (1, other) => return Err(wrong_wire(message.name, field.json, other)),
                    (2, value) => entry_values.push(value),
                    _ => {}
                }
            }
            let value = match (field.kind, entry_values.is_empty()) {
                // Upstream's decoder starts a bytes value as an empty, non-nil slice.
                (Kind::Bytes, true) => Value::String(String::new()),
                _ => self.single(message, field, &entry_values, depth)?,
            };
            self.count()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

fn message_bytes<'a>(message: &'static Message, field: &Field, value: Wire<'a>) -> Result<&'a [u8], ProtobufError> {
    match value {
        Wire::Bytes(bytes) => Ok(bytes),
        other => Err(wrong_wire(message.name, field.json, other)),
    }
}

/// A scalar's JSON as Go writes the decoded value: int32 keeps the low 32 bits of the varint, strings with
/// invalid UTF-8 get U+FFFD (as Go's encoder does), bytes become standard base64.
fn scalar(message: &'static Message, field: &Field, kind: Kind, value: Wire<'_>) -> Result<Value, ProtobufError> {
    Ok(match (kind, value) {
        (Kind::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
        (Kind::Int32, Wire::Varint(v)) => Value::from(v as i32),
        (Kind::Int64, Wire::Varint(v)) => Value::from(v as i64),
        (Kind::Double, Wire::Fixed64(bits)) => float(f64::from_bits(bits)).ok_or_else(|| ProtobufError::InvalidField {
            message: message.name.into(),
            field: field.json.into(),
            detail: "NaN and infinite numbers have no JSON form".into(),
        })?,
        (Kind::String, Wire::Bytes(bytes)) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        (Kind::Bytes, Wire::Bytes(bytes)) => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        (_, other) => return Err(wrong_wire(message.name, field.json, other)),
    })
}

/// A float64 as Go's encoder writes it: integral values without a fraction, so they read back as integers.
fn float(value: f64) -> Option<Value> {
    const EXACT_INTEGER_MAX: f64 = 9_007_199_254_740_992.0; // 2^53
    if value.fract() == 0.0 && value.abs() <= EXACT_INTEGER_MAX && !(value == 0.0 && value.is_sign_negative()) {
        return Some(Value::from(value as i64));
    }
    Number::from_f64(value).map(Value::Number)
}

fn zero_scalar(kind: Kind) -> Value {
    match kind {
        Kind::Bool => Value::Bool(false),
        Kind::String | Kind::Bytes => Value::String(String::new()),
        Kind::Int32 | Kind::Int64 | Kind::Double | Kind::Message(_) => Value::from(0),
    }
}

fn is_zero_scalar(value: &Value) -> bool {
    match value {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Go's RFC 3339 form of a UTC time: whole seconds, or with `nanos` as six fractional digits (MicroTime). The
/// zero time (0001-01-01T00:00:00Z) is `null`.
fn rfc3339(seconds: i64, nanos: Option<i64>) -> Option<Value> {
    const ZERO_TIME_SECONDS: i64 = -62_135_596_800;
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos.unwrap_or(0));
    let (whole, fraction) = (i64::try_from(total.div_euclid(1_000_000_000)).ok()?, total.rem_euclid(1_000_000_000));
    if whole == ZERO_TIME_SECONDS && fraction == 0 {
        return Some(Value::Null);
    }
    let date = jiff::Timestamp::from_second(whole).ok()?.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    Some(Value::String(match nanos {
        None => format!("{date}Z"),
        Some(_) => format!("{date}.{:06}Z", fraction / 1000),
    }))
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    // The fraction of `value` below 10^digits, as ".5" without trailing zeros (empty when zero), and the rest.
    fn split(value: u64, digits: u32) -> (String, u64) {
        let unit = 10u64.pow(digits);
        let fraction = value % unit;
        let text = if fraction == 0 {
            String::new()
        } else {
            format!(".{fraction:0width$}", width = digits as usize).trim_end_matches('0').to_string()
        };
        (text, value / unit)
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let value = nanos.unsigned_abs();
    if value == 0 {
        return "0s".into();
    }
    if value < 1_000_000_000 {
        let (digits, unit) = if value < 1_000 {
            (0, "ns")
        } else if value < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (fraction, whole) = split(value, digits);
        return format!("{sign}{whole}{fraction}{unit}");
    }
    let (fraction, seconds) = split(value, 9);
    let (minutes, hours) = (seconds / 60 % 60, seconds / 3600);
    match (hours, seconds / 60) {
        (0, 0) => format!("{sign}{}{fraction}s", seconds % 60),
        (0, _) => format!("{sign}{minutes}m{}{fraction}s", seconds % 60),
        _ => format!("{sign}{hours}h{minutes}m{}{fraction}s", seconds % 60),
    }
}

fn malformed(message: &str, detail: String) -> ProtobufError {
    ProtobufError::Malformed { message: message.into(), detail }
}

fn wrong_wire(message: &str, field: &str, value: Wire<'_>) -> ProtobufError {
    ProtobufError::InvalidField { message: message.into(), field: field.into(), detail: format!("unexpected {} wire type", value.name()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_writes_them() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (1_500_000, "1.5ms"),
            (1_000_000_000, "1s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-2_000_000_000, "-2s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(go_duration(nanos), text, "{nanos}ns");
        }
    }

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(1_704_164_645, None), Some(Value::from("2024-01-02T03:04:05Z")));
        assert_eq!(rfc3339(1_704_164_645, Some(123_456_000)), Some(Value::from("2024-01-02T03:04:05.123456Z")));
        assert_eq!(rfc3339(0, None), Some(Value::from("1970-01-01T00:00:00Z")));
        assert_eq!(rfc3339(-62_135_596_800, None), Some(Value::Null));
        assert_eq!(rfc3339(i64::MAX, None), None);
    }

    #[test]
    fn floats_keep_integers_integral() {
        assert_eq!(float(5.0), Some(Value::from(5)));
        assert_eq!(float(1.5), Some(Value::from(1.5)));
        assert_eq!(float(f64::NAN), None);
    }
}
