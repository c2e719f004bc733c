//! Tests of the generated documents against what stock clients check: kubectl's field-validation detection
//! (a PATCH operation per kind with the GVK extension and a `fieldValidation` query parameter), client-side
//! apply's patch metadata, explain's GVK lookup, kube-openapi's rules for v2 definitions, the v3 index hashes and
//! the protobuf encoding (decoded back with a generic wire-format reader). Most tests run against a small stand-in
//! registry covering the shapes the real one has (namespaced and cluster kinds, several groups, object, streaming
//! and cross-group subresources, a create-only kind, an inline schema); the client checks also run against the
//! real registry.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use k8s_openapi::api::{apps, authentication, core};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use schemars::{Schema, SchemaGenerator};
use serde_json::{json, Value};

use super::{build, content_hash, OpenApiDocs};
use crate::api::registry::{builtin, ResourceDesc, Subresource};

const READ_WRITE: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

const fn sub(name: &'static str, group: &'static str, kind: &'static str, verbs: &'static [&'static str]) -> Subresource {
    Subresource { name, group, version: "v1", kind, verbs }
}

const POD_SUBRESOURCES: &[Subresource] = &[
    sub("status", "", "Pod", STATUS_VERBS),
    sub("binding", "", "Binding", &["create"]),
    sub("eviction", "policy", "Eviction", &["create"]),
    sub("exec", "", "Pod", &["create", "get"]),
    sub("log", "", "Pod", &["get"]),
];
const NAMESPACE_SUBRESOURCES: &[Subresource] =
    &[sub("status", "", "Namespace", STATUS_VERBS), sub("finalize", "", "Namespace", &["update"])];
const DEPLOYMENT_SUBRESOURCES: &[Subresource] =
    &[sub("status", "apps", "Deployment", STATUS_VERBS), sub("scale", "autoscaling", "Scale", STATUS_VERBS)];
const SERVICE_SUBRESOURCES: &[Subresource] =
    &[sub("status", "", "Service", STATUS_VERBS), sub("proxy", "", "ServiceProxyOptions", &["get", "create"])];
const CRD_SUBRESOURCES: &[Subresource] = &[sub("status", "apiextensions.k8s.io", "CustomResourceDefinition", STATUS_VERBS)];

/// Returns the kind's schema itself, as a registry entry may, instead of a reference.
fn config_map_inline(generator: &mut SchemaGenerator) -> Schema {
    <core::v1::ConfigMap as schemars::JsonSchema>::json_schema(generator)
}

/// What the stand-in kinds share; each entry overrides the rest. Kind rules play no part in OpenAPI, so any
/// registered kind's rules serve.
fn base() -> ResourceDesc {
    ResourceDesc {
        group: "",
        version: "v1",
        kind: "",
        list_kind: "",
        plural: "",
        singular: "",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: READ_WRITE,
        subresources: &[],
        schema_name: "",
        schema: SchemaGenerator::subschema_for::<core::v1::Pod>,
        rules: builtin().first().expect("the registry has kinds").rules,
        shared_storage: None,
    }
}

fn registry() -> &'static [ResourceDesc] {
    static REGISTRY: OnceLock<Vec<ResourceDesc>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        vec![
            ResourceDesc {
                kind: "Pod",
                list_kind: "PodList",
                plural: "pods",
                subresources: POD_SUBRESOURCES,
                schema_name: "io.k8s.api.core.v1.Pod",
                schema: SchemaGenerator::subschema_for::<core::v1::Pod>,
                ..base()
            },
            ResourceDesc {
                kind: "ConfigMap",
                list_kind: "ConfigMapList",
                plural: "configmaps",
                schema_name: "io.k8s.api.core.v1.ConfigMap",
                schema: config_map_inline,
                ..base()
            },
            ResourceDesc {
                kind: "Namespace",
                list_kind: "NamespaceList",
                plural: "namespaces",
                namespaced: false,
                subresources: NAMESPACE_SUBRESOURCES,
                schema_name: "io.k8s.api.core.v1.Namespace",
                schema: SchemaGenerator::subschema_for::<core::v1::Namespace>,
                ..base()
            },
            ResourceDesc {
                group: "apps",
                kind: "Deployment",
                list_kind: "DeploymentList",
                plural: "deployments",
                subresources: DEPLOYMENT_SUBRESOURCES,
                schema_name: "io.k8s.api.apps.v1.Deployment",
                schema: SchemaGenerator::subschema_for::<apps::v1::Deployment>,
                ..base()
            },
            ResourceDesc {
                kind: "Service",
                list_kind: "ServiceList",
                plural: "services",
                subresources: SERVICE_SUBRESOURCES,
                schema_name: "io.k8s.api.core.v1.Service",
                schema: SchemaGenerator::subschema_for::<core::v1::Service>,
                ..base()
            },
            // A request kind: create only, no list.
            ResourceDesc {
                group: "authentication.k8s.io",
                kind: "TokenReview",
                plural: "tokenreviews",
                namespaced: false,
                verbs: &["create"],
                schema_name: "io.k8s.api.authentication.v1.TokenReview",
                schema: SchemaGenerator::subschema_for::<authentication::v1::TokenReview>,
                ..base()
            },
            // JSONSchemaProps has properties named `$ref`, `allOf` and `x-kubernetes-…`, which must stay property names.
            ResourceDesc {
                group: "apiextensions.k8s.io",
                kind: "CustomResourceDefinition",
                list_kind: "CustomResourceDefinitionList",
                plural: "customresourcedefinitions",
                namespaced: false,
                subresources: CRD_SUBRESOURCES,
                schema_name: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
                schema: SchemaGenerator::subschema_for::<apiextensions::CustomResourceDefinition>,
                ..base()
            },
        ]
    })
}

fn docs() -> &'static OpenApiDocs {
    static DOCS: OnceLock<OpenApiDocs> = OnceLock::new();
    DOCS.get_or_init(|| build(registry()))
}

/// The documents of the real registry.
fn builtin_docs() -> &'static OpenApiDocs {
    static DOCS: OnceLock<OpenApiDocs> = OnceLock::new();
    DOCS.get_or_init(|| build(builtin()))
}

fn v3(gv: &str) -> Value {
    v3_of(docs(), gv)
}

fn v3_of(docs: &OpenApiDocs, gv: &str) -> Value {
    let (json, _) = docs.v3_document(gv).unwrap_or_else(|| panic!("no v3 document {gv}"));
    serde_json::from_slice(json).expect("v3 document is JSON")
}

fn v2() -> Value {
    v2_of(docs())
}

fn v2_of(docs: &OpenApiDocs) -> Value {
    serde_json::from_slice(docs.v2_json()).expect("v2 document is JSON")
}

fn gvk(group: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": "v1"})
}

fn gvk_of(resource: &ResourceDesc) -> Value {
    json!({"group": resource.group, "kind": resource.kind, "version": resource.version})
}

/// The kinds kubectl can patch, and so checks field validation for.
fn patchable(resources: &[ResourceDesc]) -> impl Iterator<Item = &ResourceDesc> {
    resources.iter().filter(|r| r.verbs.contains(&"patch"))
}

/// Every (path, method, operation) of a document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if method != "parameters" {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    out
}

fn has_query_param(op: &Value, name: &str) -> bool {
    op["parameters"].as_array().into_iter().flatten().any(|p| p["name"] == name && p["in"] == "query")
}

/// What kubectl's v3 field-validation verifier and client-side apply look for, for every kind: a PATCH operation
/// with the kind's GVK, the `fieldValidation` query parameter on the operation itself, and a strategic merge
/// patch body. kubectl takes the first such operation in map order, so all of them must qualify.
fn check_patch_operations_v3(docs: &OpenApiDocs, resources: &[ResourceDesc]) {
    for resource in patchable(resources) {
        let gv = if resource.group.is_empty() {
            format!("api/{}", resource.version)
        } else {
            format!("apis/{}/{}", resource.group, resource.version)
        };
        let doc = v3_of(docs, &gv);
        let wanted = gvk_of(resource);
        let patches: Vec<_> = operations(&doc)
            .into_iter()
            .filter(|(_, method, op)| method == "patch" && op["x-kubernetes-group-version-kind"] == wanted)
            .collect();
        assert!(!patches.is_empty(), "no PATCH for {}", resource.kind);
        for (path, _, op) in patches {
            assert!(has_query_param(&op, "fieldValidation"), "{path}: no fieldValidation");
            assert!(
                op["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object(),
                "{path}: no strategic merge patch body"
            );
            assert_eq!(op["x-kubernetes-action"], "patch");
        }
    }
}

#[test]
fn every_kind_has_a_patch_operation_kubectl_accepts_in_v3() {
    check_patch_operations_v3(docs(), registry());
}

#[test]
fn every_operation_has_an_id_action_and_gvk() {
    for gv in ["api/v1", "apis/apps/v1", "apis/apiextensions.k8s.io/v1"] {
        let doc = v3(gv);
        let mut ids = BTreeSet::new();
        for (path, method, op) in operations(&doc) {
            assert!(ids.insert(op["operationId"].as_str().expect("operationId").to_string()), "{path} {method}");
            assert!(op["x-kubernetes-action"].is_string(), "{path} {method}");
            assert!(op["x-kubernetes-group-version-kind"]["kind"].is_string(), "{path} {method}");
        }
    }
}

#[test]
fn paths_follow_upstream_layout_and_names() {
    let core = v3("api/v1");
    let paths = core["paths"].as_object().expect("paths");
    let pod = &paths["/api/v1/namespaces/{namespace}/pods/{name}"];
    assert_eq!(pod["patch"]["operationId"], "patchCoreV1NamespacedPod");
    assert_eq!(pod["delete"]["operationId"], "deleteCoreV1NamespacedPod");
    let names: Vec<&Value> = pod["parameters"].as_array().expect("params").iter().map(|p| &p["name"]).collect();
    assert_eq!(names, ["name", "namespace", "pretty"]);
    assert_eq!(paths["/api/v1/pods"]["get"]["operationId"], "listCoreV1PodForAllNamespaces");
    assert_eq!(paths["/api/v1/namespaces/{namespace}/pods"]["delete"]["operationId"], "deleteCoreV1CollectionNamespacedPod");
    assert_eq!(paths["/api/v1/namespaces/{name}"]["get"]["operationId"], "readCoreV1Namespace");
    assert!(paths.get("/api/v1/namespaces/{namespace}/namespaces").is_none());
    let status = &paths["/api/v1/namespaces/{namespace}/pods/{name}/status"];
    assert_eq!(status["patch"]["operationId"], "patchCoreV1NamespacedPodStatus");
    assert_eq!(status["patch"]["x-kubernetes-group-version-kind"], gvk("", "Pod"));
    let eviction = &paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"];
    assert_eq!(eviction["operationId"], "createCoreV1NamespacedPodEviction");
    assert_eq!(eviction["x-kubernetes-group-version-kind"], gvk("policy", "Eviction"));
    let exec = &paths["/api/v1/namespaces/{namespace}/pods/{name}/exec"];
    assert_eq!(exec["get"]["operationId"], "connectCoreV1GetNamespacedPodExec");
    assert_eq!(exec["post"]["x-kubernetes-action"], "connect");
    let log = &paths["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"];
    assert_eq!(log["x-kubernetes-action"], "get");
    assert_eq!(log["responses"]["200"]["content"]["*/*"]["schema"]["type"], "string");
    assert!(paths["/api/v1/namespaces/{namespace}/pods/{name}/exec"].get("patch").is_none());
    let list = &paths["/api/v1/namespaces/{namespace}/pods"]["get"];
    assert!(has_query_param(list, "watch") && has_query_param(list, "labelSelector"));

    let authn = v3("apis/authentication.k8s.io/v1");
    let review_paths: Vec<&String> = authn["paths"].as_object().expect("paths").keys().collect();
    assert_eq!(review_paths, ["/apis/authentication.k8s.io/v1/tokenreviews"]);
    let create = &authn["paths"]["/apis/authentication.k8s.io/v1/tokenreviews"]["post"];
    assert_eq!(create["operationId"], "createAuthenticationV1TokenReview");

    let apps = v3("apis/apps/v1");
    let scale = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
    assert_eq!(scale["operationId"], "patchAppsV1NamespacedDeploymentScale");
    assert_eq!(scale["x-kubernetes-group-version-kind"], gvk("autoscaling", "Scale"));
    let scale_schema = &apps["components"]["schemas"]["io.k8s.api.autoscaling.v1.Scale"];
    assert_eq!(scale_schema["x-kubernetes-group-version-kind"], json!([gvk("autoscaling", "Scale")]));
}

#[test]
fn kinds_and_lists_carry_their_gvk() {
    let schemas = docs().components();
    for resource in registry() {
        let kind = &schemas[resource.schema_name];
        assert_eq!(kind["x-kubernetes-group-version-kind"], json!([gvk(resource.group, resource.kind)]));
        if resource.list_kind.is_empty() {
            continue;
        }
        let list = &schemas[&super::list_definition_name(resource)];
        assert_eq!(list["x-kubernetes-group-version-kind"], json!([gvk(resource.group, resource.list_kind)]));
        assert_eq!(list["properties"]["items"]["items"]["$ref"], format!("#/components/schemas/{}", resource.schema_name));
    }
    assert!(!schemas.keys().any(|name| name.ends_with('.')), "a create-only kind gets no list");
    // Upstream never requires metadata; k8s-openapi does, and kubectl would then reject manifests without it.
    assert!(schemas["io.k8s.api.core.v1.Pod"].get("required").is_none());
    assert_eq!(schemas["io.k8s.api.authentication.v1.TokenReview"]["required"], json!(["spec"]));
    // The registry entry that returns its schema inline still gets a full definition.
    assert!(schemas["io.k8s.api.core.v1.ConfigMap"]["properties"]["data"].is_object());
}

/// Follows a property to the definition its `$ref` or `allOf` names, as the patch engines do.
fn property<'a>(definition: &str, name: &str) -> &'a Value {
    &docs().components()[definition]["properties"][name]
}

#[test]
fn patch_metadata_matches_upstream() {
    let merge = |definition: &str, name: &str, key: &str| {
        let prop = property(definition, name);
        assert_eq!(prop["x-kubernetes-patch-strategy"], "merge", "{definition}.{name}");
        assert_eq!(prop["x-kubernetes-patch-merge-key"], key, "{definition}.{name}");
    };
    merge("io.k8s.api.core.v1.PodSpec", "containers", "name");
    merge("io.k8s.api.core.v1.PodSpec", "initContainers", "name");
    merge("io.k8s.api.core.v1.PodSpec", "ephemeralContainers", "name");
    merge("io.k8s.api.core.v1.PodSpec", "imagePullSecrets", "name");
    merge("io.k8s.api.core.v1.PodSpec", "hostAliases", "ip");
    merge("io.k8s.api.core.v1.PodSpec", "schedulingGates", "name");
    merge("io.k8s.api.core.v1.PodSpec", "topologySpreadConstraints", "topologyKey");
    merge("io.k8s.api.core.v1.Container", "ports", "containerPort");
    merge("io.k8s.api.core.v1.Container", "env", "name");
    merge("io.k8s.api.core.v1.Container", "volumeMounts", "mountPath");
    merge("io.k8s.api.core.v1.Container", "volumeDevices", "devicePath");
    merge("io.k8s.api.core.v1.EphemeralContainer", "env", "name");
    merge("io.k8s.api.core.v1.PodStatus", "conditions", "type");
    merge("io.k8s.api.core.v1.PodStatus", "podIPs", "ip");
    merge("io.k8s.api.core.v1.NamespaceStatus", "conditions", "type");
    merge("io.k8s.api.core.v1.ServiceSpec", "ports", "port");
    merge("io.k8s.api.apps.v1.DeploymentStatus", "conditions", "type");
    merge("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "ownerReferences", "uid");

    let volumes = property("io.k8s.api.core.v1.PodSpec", "volumes");
    assert_eq!(volumes["x-kubernetes-patch-strategy"], "merge,retainKeys");
    assert_eq!(volumes["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(property("io.k8s.api.core.v1.PodSpec", "resourceClaims")["x-kubernetes-patch-strategy"], "merge,retainKeys");
    let finalizers = property("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers");
    assert_eq!(finalizers["x-kubernetes-patch-strategy"], "merge");
    assert!(finalizers.get("x-kubernetes-patch-merge-key").is_none());
    // Upstream replaces tolerations and envFrom whole.
    assert!(property("io.k8s.api.core.v1.PodSpec", "tolerations").get("x-kubernetes-patch-strategy").is_none());
    assert!(property("io.k8s.api.core.v1.Container", "envFrom").get("x-kubernetes-patch-strategy").is_none());

    // A reference property keeps the reference readable beside its extensions.
    let strategy = property("io.k8s.api.apps.v1.DeploymentSpec", "strategy");
    assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
    assert_eq!(strategy["allOf"][0]["$ref"], "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy");

    let ports = property("io.k8s.api.core.v1.Container", "ports");
    assert_eq!(ports["x-kubernetes-list-type"], "map");
    assert_eq!(ports["x-kubernetes-list-map-keys"], json!(["containerPort", "protocol"]));
    assert_eq!(property("io.k8s.api.core.v1.PodSpec", "tolerations")["x-kubernetes-list-type"], "atomic");
    assert_eq!(docs().components()["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"]["x-kubernetes-map-type"], "atomic");
}

/// Every table entry whose definition the stand-in registry pulls in names a property that exists, so a typo
/// cannot silently drop metadata (the table was also checked against all of k8s-openapi when it was written).
#[test]
fn patch_metadata_table_names_real_properties() {
    let schemas = docs().components();
    let mut checked = 0;
    for (definition, property) in super::patch_meta::entries() {
        if let Some(schema) = schemas.get(definition) {
            assert!(schema["properties"].get(property).is_some(), "{definition}.{property}");
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} entries checked");
}

/// Every `$ref` target in a v3 document: keyword-aware inside schemas, where a property may be named `$ref`.
fn refs(doc: &Value) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(target)) = object.get("$ref") {
                    out.push(target.clone());
                }
                object.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&doc["paths"], &mut out);
    for schema in doc["components"]["schemas"].as_object().expect("schemas").values() {
        super::components::visit_schemas(&mut schema.clone(), &mut |object| {
            if let Some(Value::String(target)) = object.get("$ref") {
                out.push(target.clone());
            }
        });
    }
    out
}

#[test]
fn references_keep_one_of_two_shapes_and_resolve() {
    fn check(value: &Value, path: &str) {
        match value {
            Value::Object(object) => {
                if object.get("$ref").is_some_and(Value::is_string) {
                    assert_eq!(object.len(), 1, "$ref with siblings at {path}");
                }
                if let Some(Value::Array(all)) = object.get("allOf") {
                    assert_eq!(all.len(), 1, "{path}");
                }
                object.iter().for_each(|(k, v)| check(v, &format!("{path}/{k}")));
            }
            Value::Array(items) => items.iter().for_each(|v| check(v, path)),
            _ => {}
        }
    }
    let schemas = docs().components();
    for (name, schema) in schemas {
        check(schema, name);
    }
    check_references_resolve(docs());
}

/// Every `$ref` of every v3 document names a schema of that document.
fn check_references_resolve(docs: &OpenApiDocs) {
    let index: Value = serde_json::from_slice(docs.v3_index()).expect("index is JSON");
    for gv in index["paths"].as_object().expect("paths").keys() {
        let doc = v3_of(docs, gv);
        for target in refs(&doc) {
            let name = target.strip_prefix("#/components/schemas/").expect("v3 ref prefix");
            assert!(doc["components"]["schemas"].get(name).is_some(), "{gv}: dangling {target}");
        }
    }
}

#[test]
fn index_points_at_each_document_by_its_hash() {
    let index: Value = serde_json::from_slice(docs().v3_index()).expect("index is JSON");
    let paths = index["paths"].as_object().expect("paths");
    assert_eq!(
        paths.keys().collect::<Vec<_>>(),
        ["api/v1", "apis/apiextensions.k8s.io/v1", "apis/apps/v1", "apis/authentication.k8s.io/v1"]
    );
    for (gv, entry) in paths {
        let (json, hash) = docs().v3_document(gv).expect("document");
        assert_eq!(hash, content_hash(json));
        assert_eq!(hash.len(), 128);
        assert!(hash.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_eq!(entry["serverRelativeURL"], format!("/openapi/v3/{gv}?hash={hash}"));
    }
    assert!(docs().v3_document("apis/batch/v1").is_none());
    assert_eq!(docs().v2_etag(), content_hash(docs().v2_json()));
}

#[test]
fn v3_document_shape() {
    let doc = v3("api/v1");
    assert_eq!(doc["openapi"], "3.0.0");
    let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
    let content = patch["requestBody"]["content"].as_object().expect("content");
    assert_eq!(
        content.keys().collect::<Vec<_>>(),
        [
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json"
        ]
    );
    for name in ["dryRun", "fieldManager", "fieldValidation", "force"] {
        assert!(has_query_param(patch, name), "{name}");
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    assert!(schemas.contains_key("io.k8s.api.core.v1.Pod"));
    assert!(!schemas.contains_key("io.k8s.api.apps.v1.Deployment"), "closure is limited to the group-version");
    let int_or_string = &schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(int_or_string["oneOf"], json!([{"type": "integer"}, {"type": "string"}]));
}

/// The rules kube-openapi's `NewOpenAPIData` enforces on v2 definitions (kubectl 1.27/1.28 abort on any).
fn check_v2_definitions(docs: &OpenApiDocs) {
    fn check(schema: &Value, path: &str, definitions: &serde_json::Map<String, Value>) {
        let Some(object) = schema.as_object() else {
            return;
        };
        assert!(!object.contains_key("allOf") && !object.contains_key("oneOf"), "{path}");
        if let Some(target) = object.get("$ref").and_then(Value::as_str) {
            let name = target.strip_prefix("#/definitions/").unwrap_or_else(|| panic!("{path}: {target}"));
            assert!(definitions.contains_key(name), "{path}: unknown {name}");
            assert!(!object.contains_key("type") && !object.contains_key("properties"), "{path}");
            return;
        }
        match object.get("type") {
            Some(Value::String(t)) if t == "array" => check(&object["items"], &format!("{path}[]"), definitions),
            Some(Value::String(_)) | None => {}
            Some(other) => panic!("{path}: type {other}"),
        }
        for (name, property) in object.get("properties").and_then(Value::as_object).into_iter().flatten() {
            check(property, &format!("{path}.{name}"), definitions);
        }
        if let Some(additional) = object.get("additionalProperties") {
            check(additional, &format!("{path}{{}}"), definitions);
        }
    }
    let doc = v2_of(docs);
    assert_eq!(doc["swagger"], "2.0");
    let definitions = doc["definitions"].as_object().expect("definitions");
    assert_eq!(definitions.len(), docs.components().len());
    for (name, schema) in definitions {
        check(schema, name, definitions);
    }
}

#[test]
fn v2_definitions_satisfy_kube_openapi() {
    check_v2_definitions(docs());
    let doc = v2();
    let definitions = doc["definitions"].as_object().expect("definitions");
    assert_eq!(definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"], "int-or-string");
    let strategy = &definitions["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
    assert_eq!(strategy["$ref"], "#/definitions/io.k8s.api.apps.v1.DeploymentStrategy");
    assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
}

/// What kubectl's v2 verifier checks: the PATCH operation of the kind has a query parameter `fieldValidation`.
fn check_patch_operations_v2(docs: &OpenApiDocs, resources: &[ResourceDesc]) {
    let doc = v2_of(docs);
    for resource in patchable(resources) {
        let wanted = gvk_of(resource);
        let patches: Vec<_> = operations(&doc)
            .into_iter()
            .filter(|(_, method, op)| method == "patch" && op["x-kubernetes-group-version-kind"] == wanted)
            .collect();
        assert!(!patches.is_empty(), "{}", resource.kind);
        for (path, _, op) in patches {
            assert!(has_query_param(&op, "fieldValidation"), "{path}");
            let body = op["parameters"].as_array().expect("params").iter().find(|p| p["in"] == "body").cloned();
            assert_eq!(body.expect("body parameter")["schema"]["$ref"], "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch");
        }
    }
}

#[test]
fn v2_patch_operations_have_field_validation() {
    check_patch_operations_v2(docs(), registry());
}

/// The client checks against the real registry: every patchable kind qualifies for server-side field validation
/// in v3 and v2, kubectl 1.27/1.28 can parse the v2 definitions, every v3 reference resolves, and the protobuf
/// holds every definition.
#[test]
fn builtin_registry_documents_satisfy_kubectl() {
    let docs = builtin_docs();
    check_patch_operations_v3(docs, builtin());
    check_patch_operations_v2(docs, builtin());
    check_v2_definitions(docs);
    check_references_resolve(docs);
    let document = fields(docs.v2_protobuf());
    let definitions = fields(bytes_of(&document, 9)[0]);
    assert_eq!(bytes_of(&definitions, 1).len(), docs.components().len());
}

/// A generic protobuf wire-format reader: field number → raw values, enough to walk the encoded document.
fn fields(mut bytes: &[u8]) -> Vec<(u32, Field<'_>)> {
    fn varint(bytes: &mut &[u8]) -> u64 {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (byte, rest) = bytes.split_first().expect("truncated varint");
            *bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return value;
            }
        }
        panic!("varint too long")
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes);
        let field = u32::try_from(key >> 3).expect("field number");
        let value = match key & 7 {
            0 => Field::Varint(varint(&mut bytes)),
            1 => {
                bytes = &bytes[8..];
                Field::Fixed64
            }
            2 => {
                let len = usize::try_from(varint(&mut bytes)).expect("length");
                let (data, rest) = bytes.split_at(len);
                bytes = rest;
                Field::Bytes(data)
            }
            other => panic!("unexpected wire type {other}"),
        };
        out.push((field, value));
    }
    out
}

#[derive(Debug)]
enum Field<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
}

fn bytes_of<'a>(fields: &[(u32, Field<'a>)], number: u32) -> Vec<&'a [u8]> {
    fields
        .iter()
        .filter(|(n, _)| *n == number)
        .map(|(_, f)| match f {
            Field::Bytes(b) => *b,
            other => panic!("field {number} is {other:?}"),
        })
        .collect()
}

fn string_of(fields: &[(u32, Field<'_>)], number: u32) -> String {
    bytes_of(fields, number).first().map(|b| String::from_utf8(b.to_vec()).expect("utf-8")).unwrap_or_default()
}

#[test]
fn protobuf_decodes_to_the_same_document() {
    let json = v2();
    let document = fields(docs().v2_protobuf());
    assert_eq!(string_of(&document, 1), "2.0");

    let definitions = fields(bytes_of(&document, 9)[0]);
    let named: Vec<_> = bytes_of(&definitions, 1).into_iter().map(fields).collect();
    assert_eq!(named.len(), json["definitions"].as_object().expect("definitions").len());

    let pod = named.iter().find(|entry| string_of(entry, 1) == "io.k8s.api.core.v1.Pod").expect("Pod");
    let pod_schema = fields(bytes_of(pod, 2)[0]);
    let type_item = fields(bytes_of(&pod_schema, 22)[0]);
    assert_eq!(string_of(&type_item, 1), "object");
    let extensions: Vec<_> = bytes_of(&pod_schema, 31).into_iter().map(fields).collect();
    let gvk = extensions.iter().find(|e| string_of(e, 1) == "x-kubernetes-group-version-kind").expect("gvk");
    let yaml = string_of(&fields(bytes_of(gvk, 2)[0]), 2);
    let parsed: Value = serde_yaml::from_str(&yaml).expect("yaml");
    assert_eq!(parsed, json!([{"group": "", "kind": "Pod", "version": "v1"}]));
    let properties = fields(bytes_of(&pod_schema, 25)[0]);
    assert_eq!(bytes_of(&properties, 1).len(), 5, "apiVersion, kind, metadata, spec, status");

    let paths = fields(bytes_of(&document, 8)[0]);
    let path_items: Vec<_> = bytes_of(&paths, 2).into_iter().map(fields).collect();
    assert_eq!(path_items.len(), json["paths"].as_object().expect("paths").len());
    let configmap =
        path_items.iter().find(|p| string_of(p, 1) == "/api/v1/namespaces/{namespace}/configmaps/{name}").expect("configmap path");
    let patch = fields(bytes_of(&fields(bytes_of(configmap, 2)[0]), 8)[0]);
    assert_eq!(string_of(&patch, 5), "patchCoreV1NamespacedConfigMap");
    let query_names: Vec<String> = bytes_of(&patch, 8)
        .into_iter()
        .map(fields)
        .filter_map(|item| bytes_of(&item, 1).first().map(|p| fields(p)))
        .filter_map(|param| bytes_of(&param, 2).first().map(|p| fields(p)))
        .filter_map(|non_body| bytes_of(&non_body, 3).first().map(|q| string_of(&fields(q), 4)))
        .collect();
    assert!(query_names.contains(&"fieldValidation".to_string()), "{query_names:?}");
    let required_body = bytes_of(&patch, 8)
        .into_iter()
        .map(fields)
        .filter_map(|item| bytes_of(&item, 1).first().map(|p| fields(p)))
        .find_map(|param| bytes_of(&param, 1).first().map(|b| fields(b)))
        .expect("body parameter");
    assert!(matches!(required_body.iter().find(|(n, _)| *n == 4), Some((_, Field::Varint(1)))));
}
