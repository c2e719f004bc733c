//! Decoder tests on hand-encoded bodies. The encoder below writes fields the way upstream's generated
//! marshallers do: every non-pointer field, zero or not (an empty string, a 0, an empty message for a zero Time),
//! so the tests also check that zero values come out as the Go JSON encoder writes them.

use serde_json::{json, Value};

use super::fields::{GROUP_VERSIONS, MESSAGES};
use super::table::{Card, Kind, Shape};
use super::{decode, ProtobufError, BODY_BYTES_MAX, NESTING_DEPTH_MAX};

/// A message under construction.
#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn raw_varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn int(mut self, tag: u32, value: i64) -> Self {
        self.raw_varint(u64::from(tag) << 3);
        self.raw_varint(value as u64);
        self
    }

    fn bytes(mut self, tag: u32, bytes: &[u8]) -> Self {
        self.raw_varint(u64::from(tag) << 3 | 2);
        self.raw_varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
        self
    }

    fn bool_field(self, tag: u32, value: bool) -> Self {
        self.int(tag, i64::from(value))
    }

    fn double(mut self, tag: u32, value: f64) -> Self {
        self.raw_varint(u64::from(tag) << 3 | 1);
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    fn str(self, tag: u32, text: &str) -> Self {
        self.bytes(tag, text.as_bytes())
    }

    fn msg(self, tag: u32, message: Enc) -> Self {
        self.bytes(tag, &message.0)
    }

    /// One entry of a map<string, string|bytes>.
    fn entry(self, tag: u32, key: &str, value: &[u8]) -> Self {
        self.msg(tag, Enc::default().str(1, key).bytes(2, value))
    }

    /// One entry of a map<string, Message>.
    fn entry_msg(self, tag: u32, key: &str, value: Enc) -> Self {
        self.msg(tag, Enc::default().str(1, key).msg(2, value))
    }
}

/// `k8s\0` + runtime.Unknown{typeMeta, raw, contentEncoding "", contentType ""}, as upstream's serializer writes.
fn body(api_version: &str, kind: &str, object: Enc) -> Vec<u8> {
    let unknown = Enc::default().msg(1, Enc::default().str(1, api_version).str(2, kind)).msg(2, object).str(3, "").str(4, "");
    [b"k8s\0".as_slice(), &unknown.0].concat()
}

/// ObjectMeta as a Go client marshals a new object's: every plain field written, zero or not.
fn meta(name: &str, labels: &[(&str, &str)]) -> Enc {
    let mut meta = Enc::default().str(1, name).str(2, "").str(3, "").str(4, "").str(5, "").str(6, "").int(7, 0).msg(8, Enc::default());
    for (key, value) in labels {
        meta = meta.entry(11, key, value.as_bytes());
    }
    meta
}

fn quantity(text: &str) -> Enc {
    Enc::default().str(1, text)
}

fn int_or_string_int(value: i64) -> Enc {
    Enc::default().int(1, 0).int(2, value).str(3, "")
}

fn int_or_string_string(value: &str) -> Enc {
    Enc::default().int(1, 1).int(2, 0).str(3, value)
}

#[test]
fn namespace() {
    let namespace = Enc::default().msg(1, meta("x", &[])).msg(2, Enc::default()).msg(3, Enc::default().str(1, ""));
    let decoded = decode(&body("v1", "Namespace", namespace)).unwrap();
    assert_eq!(decoded, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}, "spec": {}, "status": {}}));
}

#[test]
fn configmap_data_map() {
    let configmap = Enc::default().msg(1, meta("c", &[])).entry(2, "a", b"b").entry(2, "empty", b"");
    let decoded = decode(&body("v1", "ConfigMap", configmap)).unwrap();
    assert_eq!(decoded, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b", "empty": ""}}));
}

#[test]
fn secret_bytes_map_is_base64() {
    let secret = Enc::default().msg(1, meta("s", &[])).entry(2, "a", b"b").entry(2, "bin", &[0, 255]).str(3, "Opaque");
    let decoded = decode(&body("v1", "Secret", secret)).unwrap();
    assert_eq!(
        decoded,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "Yg==", "bin": "AP8="}, "type": "Opaque"})
    );
}

#[test]
fn deployment_with_pod_spec() {
    let labels = [("app", "d")];
    let port = Enc::default().str(1, "").int(2, 0).int(3, 80).str(4, "").str(5, "");
    let resources = Enc::default().entry_msg(1, "cpu", quantity("500m")).entry_msg(2, "memory", quantity("64Mi"));
    let container =
        Enc::default().str(1, "nginx").str(2, "nginx").msg(6, port).msg(8, resources).str(13, "").str(14, "").bool_field(16, false);
    let pod_spec = Enc::default().msg(2, container).str(3, "").str(8, "");
    let template = Enc::default().msg(1, meta("", &labels)).msg(2, pod_spec);
    let rolling = Enc::default().msg(1, int_or_string_int(1)).msg(2, int_or_string_string("25%"));
    let strategy = Enc::default().str(1, "RollingUpdate").msg(2, rolling);
    let selector = Enc::default().entry(1, "app", b"d");
    let spec = Enc::default().int(1, 2).msg(2, selector).msg(3, template).msg(4, strategy).int(5, 0).bool_field(7, false);
    let deployment = Enc::default().msg(1, meta("d", &labels)).msg(2, spec).msg(3, Enc::default().int(1, 0));
    let decoded = decode(&body("apps/v1", "Deployment", deployment)).unwrap();
    let expected = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "labels": {"app": "d"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{
                    "name": "nginx",
                    "image": "nginx",
                    "ports": [{"containerPort": 80}],
                    "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}},
                }]},
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
        },
        "status": {},
    });
    assert_eq!(decoded, expected);
}

#[test]
fn service_ports_and_target_port() {
    let port = |name: &str, target: Enc| Enc::default().str(1, name).str(2, "TCP").int(3, 80).msg(4, target).int(5, 0);
    let spec = Enc::default()
        .msg(1, port("a", int_or_string_int(8080)))
        .msg(1, port("b", int_or_string_string("http")))
        .msg(1, port("c", Enc::default()))
        .entry(2, "app", b"s")
        .str(3, "")
        .str(4, "ClusterIP");
    let status = Enc::default().msg(1, Enc::default());
    let service = Enc::default().msg(1, meta("s", &[("app", "s")])).msg(2, spec).msg(3, status);
    let decoded = decode(&body("v1", "Service", service)).unwrap();
    let expected = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "labels": {"app": "s"}},
        "spec": {
            "ports": [
                {"name": "a", "protocol": "TCP", "port": 80, "targetPort": 8080},
                {"name": "b", "protocol": "TCP", "port": 80, "targetPort": "http"},
                // Upstream's zero IntOrString is the integer 0, which defaulting later replaces with the port.
                {"name": "c", "protocol": "TCP", "port": 80, "targetPort": 0},
            ],
            "selector": {"app": "s"},
            "type": "ClusterIP",
        },
        "status": {"loadBalancer": {}},
    });
    assert_eq!(decoded, expected);
}

#[test]
fn times_durations_and_raw_json() {
    let time = |seconds: i64, nanos: i64| Enc::default().int(1, seconds).int(2, nanos);
    let event = Enc::default()
        .msg(1, meta("e", &[]).msg(9, time(1_704_164_645, 0)))
        .msg(2, time(1_704_164_645, 123_456_789))
        .msg(8, Enc::default().str(1, "Pod").str(3, "p"));
    let decoded = decode(&body("events.k8s.io/v1", "Event", event)).unwrap();
    assert_eq!(decoded["metadata"]["deletionTimestamp"], "2024-01-02T03:04:05Z");
    assert_eq!(decoded["eventTime"], "2024-01-02T03:04:05.123456Z");
    assert_eq!(decoded["regarding"], json!({"kind": "Pod", "name": "p"}));
    // A zero Time value is written as null: `omitempty` does not omit a struct.
    assert_eq!(decoded.get("deprecatedFirstTimestamp"), Some(&Value::Null));
    assert_eq!(decoded.get("series"), None);

    let revision = Enc::default().msg(1, meta("r", &[])).msg(2, Enc::default().bytes(1, br#"{"spec":{"a":[1]}}"#)).int(3, 4);
    let decoded = decode(&body("apps/v1", "ControllerRevision", revision)).unwrap();
    assert_eq!(decoded["data"], json!({"spec": {"a": [1]}}));
    assert_eq!(decoded["revision"], 4);

    let bad = Enc::default().msg(1, meta("r", &[])).msg(2, Enc::default().bytes(1, b"\x01\x02"));
    assert!(matches!(decode(&body("apps/v1", "ControllerRevision", bad)), Err(ProtobufError::InvalidField { .. })));
}

#[test]
fn named_slices_and_pointers() {
    // authorization's ExtraValue is a named []string; a set *bool is written even when false.
    let spec = Enc::default()
        .msg(1, Enc::default().str(1, "default").str(2, "get").str(4, "v1").str(5, "pods"))
        .str(3, "alice")
        .entry_msg(5, "scopes", Enc::default().str(1, "a").str(1, "b"))
        .entry_msg(5, "none", Enc::default());
    let status = Enc::default().int(1, 0).int(4, 0);
    let review = Enc::default().msg(1, meta("", &[])).msg(2, spec).msg(3, status);
    let decoded = decode(&body("authorization.k8s.io/v1", "SubjectAccessReview", review)).unwrap();
    let expected = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "metadata": {},
        "spec": {
            "resourceAttributes": {"namespace": "default", "verb": "get", "version": "v1", "resource": "pods"},
            "user": "alice",
            "extra": {"scopes": ["a", "b"], "none": []},
        },
        "status": {"allowed": false},
    });
    assert_eq!(decoded, expected);

    let job_spec = Enc::default().int(7, 0).msg(6, Enc::default().msg(2, Enc::default()));
    let job = Enc::default().msg(1, meta("j", &[])).msg(2, job_spec);
    let decoded = decode(&body("batch/v1", "Job", job)).unwrap();
    assert_eq!(decoded["spec"]["backoffLimit"], 0);
    assert_eq!(decoded["spec"]["template"], json!({"metadata": {}, "spec": {"containers": null}}));
}

#[test]
fn schema_unions_and_odd_json_names() {
    let string_schema = Enc::default().str(5, "string");
    let props = Enc::default()
        .str(3, "#/definitions/x")
        .str(5, "object")
        .double(9, 5.0)
        .msg(20, Enc::default().bytes(1, br#""a""#))
        .msg(24, Enc::default().msg(1, Enc::default().str(5, "integer")))
        .entry_msg(29, "name", string_schema)
        .msg(30, Enc::default().int(1, 0))
        .bool_field(38, true);
    let version = Enc::default().str(1, "v1").bool_field(2, true).bool_field(3, true).msg(4, Enc::default().msg(1, props));
    let names = Enc::default().str(1, "widgets").str(4, "Widget");
    let spec = Enc::default().str(1, "example.com").msg(3, names).str(4, "Namespaced").msg(7, version);
    let crd = Enc::default().msg(1, meta("widgets.example.com", &[])).msg(2, spec);
    let decoded = decode(&body("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd)).unwrap();
    let schema = &decoded["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    assert_eq!(schema["$ref"], "#/definitions/x");
    assert_eq!(schema["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(schema["properties"], json!({"name": {"type": "string"}}));
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["maximum"], 5);
    assert_eq!(schema["enum"], json!(["a"]));
    assert_eq!(schema["items"], json!({"type": "integer"}));
}

#[test]
fn unknown_fields_are_skipped_and_repeats_merge() {
    let configmap = Enc::default()
        .msg(1, meta("c", &[]).int(99, 7))
        .msg(1, Enc::default().str(3, "ns"))
        .bytes(42, b"future")
        .entry(2, "a", b"old")
        .entry(2, "a", b"new");
    let decoded = decode(&body("v1", "ConfigMap", configmap)).unwrap();
    assert_eq!(decoded["metadata"], json!({"name": "c", "namespace": "ns"}));
    assert_eq!(decoded["data"], json!({"a": "new"}));
}

#[test]
fn meta_kinds_resolve_in_any_group() {
    let options = Enc::default().int(1, 30).str(4, "Foreground");
    let decoded = decode(&body("apps/v1", "DeleteOptions", options)).unwrap();
    assert_eq!(
        decoded,
        json!({"apiVersion": "apps/v1", "kind": "DeleteOptions", "gracePeriodSeconds": 30, "propagationPolicy": "Foreground"})
    );
}

#[test]
fn errors_name_the_problem() {
    assert_eq!(decode(b"{}"), Err(ProtobufError::NoMagic));
    assert_eq!(decode(&vec![0; BODY_BYTES_MAX + 1]), Err(ProtobufError::TooLarge { size: BODY_BYTES_MAX + 1 }));
    let unknown = decode(&body("apps/v1", "Pod", Enc::default())).unwrap_err();
    assert_eq!(unknown.to_string(), "no kind \"Pod\" is registered for version \"apps/v1\"");
    assert_eq!(decode(&body("", "", Enc::default())), Err(ProtobufError::NoTypeMeta));
    let truncated = [b"k8s\0".as_slice(), &[0x12, 0x05, 0x0a]].concat();
    assert!(matches!(decode(&truncated), Err(ProtobufError::Malformed { .. })));
    let wrong_wire = Enc::default().int(1, 5);
    let error = decode(&body("v1", "ConfigMap", wrong_wire)).unwrap_err();
    assert_eq!(error.to_string(), "invalid protobuf value for field metadata of k8s.io.api.core.v1.ConfigMap: unexpected varint wire type");
    let gzip = [b"k8s\0".as_slice(), &Enc::default().msg(1, Enc::default().str(1, "v1").str(2, "ConfigMap")).str(3, "gzip").0].concat();
    assert!(decode(&gzip).unwrap_err().to_string().contains("\"gzip\""));
}

#[test]
fn nesting_is_bounded() {
    // JSONSchemaProps nests itself through `not`; nesting within the limit decodes, past it is refused.
    let crd = |levels: usize| {
        let mut schema = Enc::default();
        for _ in 0..levels {
            schema = Enc::default().msg(28, schema);
        }
        let version = Enc::default().str(1, "v1").msg(4, Enc::default().msg(1, schema));
        body(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            Enc::default().msg(1, meta("w", &[])).msg(2, Enc::default().msg(7, version)),
        )
    };
    assert!(decode(&crd(NESTING_DEPTH_MAX - 10)).is_ok());
    assert_eq!(decode(&crd(NESTING_DEPTH_MAX)), Err(ProtobufError::TooDeep));
}

#[test]
fn table_is_sorted_and_consistent() {
    assert!(MESSAGES.windows(2).all(|w| w[0].name < w[1].name));
    assert!(GROUP_VERSIONS.windows(2).all(|w| w[0].0 < w[1].0));
    for message in MESSAGES {
        assert!(message.fields.windows(2).all(|w| w[0].tag < w[1].tag), "{}", message.name);
        for field in message.fields {
            assert_eq!(field.json.is_empty(), field.card == Card::Inline, "{}.{}", message.name, field.json);
            if let (Card::Inline, Kind::Message(inner)) = (field.card, field.kind) {
                assert_eq!(inner.shape, Shape::Struct, "{}", message.name);
            }
        }
    }
}

/// Alpha fields that upstream reshaped between the revision k8s-openapi 0.29 was generated from and the tag the
/// table was generated from.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    ("io.k8s.api.core.v1.NodeAllocatableResourceClaimStatus", "resources"),
    ("io.k8s.api.resource.v1.Device", "nodeAllocatableResourceMappings"),
];

/// Every JSON name in the table is a property of the type's OpenAPI schema, which k8s-openapi derives from the
/// same Go types: a check of the generator's reading of the Go sources.
#[test]
fn json_names_match_openapi() {
    let docs = crate::api::openapi::build(crate::api::registry::builtin());
    let schemas = docs.components();
    let mut checked = 0;
    for message in MESSAGES.iter().filter(|m| m.shape == Shape::Struct) {
        let definition =
            format!("io.{}", message.name).replace("io.k8s.io.", "io.k8s.").replace("apiextensions_apiserver", "apiextensions-apiserver");
        let Some(properties) = schemas.get(&definition).and_then(|s| s.get("properties")).and_then(Value::as_object) else { continue };
        for field in message.fields.iter().filter(|f| f.card != Card::Inline) {
            let known = KNOWN_DIFFERENCES.contains(&(definition.as_str(), field.json));
            assert!(known || properties.contains_key(field.json), "{definition} has no property {}", field.json);
        }
        checked += 1;
    }
    assert!(checked > 300, "only {checked} messages had an OpenAPI schema to compare with");
}
