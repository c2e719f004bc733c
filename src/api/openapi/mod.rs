//! The OpenAPI documents the server publishes, generated once at start-up from the resource registry: the
//! `components.schemas` map (k8s-openapi's schemas plus the extensions clients rely on), the per-group-version
//! OpenAPI v3 documents with their `/openapi/v3` index, and the single Swagger 2.0 document in JSON and in
//! gnostic's protobuf encoding. kubectl 1.27/1.28 need the v2 protobuf to validate, 1.29+ read v3 to decide
//! on server-side field validation, and `kubectl explain` renders from either. Pure: bytes in memory, no IO.

mod components;
mod patch_meta;
mod proto;
mod routes;
mod v2;
mod v3;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha512};

use crate::api::registry::{ResourceDesc, Subresource};

/// A group, version and kind, as the `x-kubernetes-group-version-kind` extension spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Gvk {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
}

impl Gvk {
    fn of_resource(resource: &ResourceDesc) -> Self {
        Self { group: resource.group, version: resource.version, kind: resource.kind }
    }

    fn of_subresource(subresource: &Subresource) -> Self {
        Self { group: subresource.group, version: subresource.version, kind: subresource.kind }
    }

    fn to_json(self) -> Value {
        json!({"group": self.group, "kind": self.kind, "version": self.version})
    }
}

/// One serialized document and the hash clients cache it by.
#[derive(Debug)]
struct HashedDocument {
    json: Vec<u8>,
    hash: String,
}

impl HashedDocument {
    fn new(document: &Value) -> Self {
        let json = to_bytes(document);
        let hash = content_hash(&json);
        Self { json, hash }
    }
}

/// Every OpenAPI document of the server, ready to serve.
#[derive(Debug)]
pub struct OpenApiDocs {
    components: Map<String, Value>,
    v3_index: Vec<u8>,
    v3_documents: BTreeMap<String, HashedDocument>,
    v2: HashedDocument,
    v2_protobuf: Vec<u8>,
}

/// Generates all documents for the given resources.
pub fn build(resources: &[ResourceDesc]) -> OpenApiDocs {
    let components = components::build(resources);
    let group_versions = routes::build(resources, &components.kinds);
    let v3_documents: BTreeMap<String, HashedDocument> =
        group_versions.iter().map(|gv| (gv.document_path(), HashedDocument::new(&v3::document(gv, &components.schemas)))).collect();
    let v3_index = to_bytes(&v3::index(&v3_documents));
    let v2_document = v2::document(&group_versions, &components.schemas);
    let v2_protobuf = proto::encode_document(&v2_document);
    OpenApiDocs { components: components.schemas, v3_index, v3_documents, v2: HashedDocument::new(&v2_document), v2_protobuf }
}

impl OpenApiDocs {
    /// `components.schemas` of every kind and meta type, with `$ref`s of the form `#/components/schemas/<name>`
    /// and reference properties shaped `{"$ref": …}` or `{"allOf": [{"$ref": …}], …}`.
    pub fn components(&self) -> &Map<String, Value> {
        &self.components
    }

    /// The body of `GET /openapi/v3`.
    pub fn v3_index(&self) -> &[u8] {
        &self.v3_index
    }

    /// The JSON of one group-version document (`api/v1`, `apis/apps/v1`) and its hash, which is the `hash` query
    /// parameter of its URL in the index and, quoted, its ETag.
    pub fn v3_document(&self, gv_path: &str) -> Option<(&[u8], &str)> {
        self.v3_documents.get(gv_path).map(|doc| (doc.json.as_slice(), doc.hash.as_str()))
    }

    /// The body of `GET /openapi/v2` as `application/json`.
    pub fn v2_json(&self) -> &[u8] {
        &self.v2.json
    }

    /// The body of `GET /openapi/v2` as `application/com.github.proto-openapi.spec.v2.v1.0+protobuf` (and its
    /// deprecated `…v2@v1.0+protobuf` spelling): the same document as gnostic's `openapi.v2.Document`.
    pub fn v2_protobuf(&self) -> &[u8] {
        &self.v2_protobuf
    }

    /// The ETag (unquoted) of `/openapi/v2`. Upstream gives the JSON and protobuf representations the same ETag,
    /// the hash of the JSON, and relies on `Vary: Accept` to tell them apart; so do we.
    pub fn v2_etag(&self) -> &str {
        &self.v2.hash
    }
}

/// The definition name of a kind's list: the kind's own name with the last segment replaced
/// (`io.k8s.api.core.v1.Pod` → `io.k8s.api.core.v1.PodList`).
fn list_definition_name(resource: &ResourceDesc) -> String {
    let package = resource.schema_name.rsplit_once('.').map_or("", |(package, _)| package);
    format!("{package}.{}", resource.list_kind)
}

/// Upper-case hex SHA-512, as kube-openapi computes ETags and v3 hashes.
fn content_hash(bytes: &[u8]) -> String {
    Sha512::digest(bytes).iter().map(|byte| format!("{byte:02X}")).collect()
}

fn to_bytes(document: &Value) -> Vec<u8> {
    serde_json::to_vec(document).expect("a serde_json::Value always serializes")
}
