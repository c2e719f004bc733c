//! Discovery documents, generated once from the registry: legacy `/api`, `/apis`, `/apis/<group>` and
//! per-group-version `APIResourceList`s, and aggregated discovery (`apidiscovery.k8s.io` v2 and v2beta1)
//! negotiated by the Accept header, with ETags so clients can revalidate with `If-None-Match`.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};

use super::object::api_version;
use crate::api::registry::ResourceDesc;

/// The Kubernetes release this server reports and implements.
pub const KUBERNETES_MAJOR: &str = "1";
pub const KUBERNETES_MINOR: &str = "37";
pub const GIT_VERSION: &str = "v1.37.0+ferrokube";

/// A precomputed response body with its ETag.
#[derive(Debug)]
pub struct Document {
    pub body: Vec<u8>,
    pub etag: String,
}

impl Document {
    fn new(value: &Value) -> Self {
        let body = serde_json::to_vec(value).expect("JSON values serialize");
        let etag = format!("\"{:X}\"", Sha512::digest(&body));
        Self { body, etag }
    }
}

/// Every discovery document the server serves.
#[derive(Debug)]
pub struct Discovery {
    pub legacy_versions: Document,
    pub group_list: Document,
    pub groups: BTreeMap<String, Document>,
    pub resource_lists: BTreeMap<(String, String), Document>,
    pub aggregated_core_v2: Document,
    pub aggregated_groups_v2: Document,
    pub aggregated_core_v2beta1: Document,
    pub aggregated_groups_v2beta1: Document,
}

/// Which aggregated discovery version the client accepts, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregatedVersion {
    V2,
    V2Beta1,
}

impl AggregatedVersion {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::V2 => "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            Self::V2Beta1 => "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
        }
    }
}

/// The first aggregated format in the Accept list, if it comes before plain JSON.
pub fn aggregated_version(accept: Option<&str>) -> Option<AggregatedVersion> {
    for entry in accept?.split(',') {
        let mut pieces = entry.split(';').map(str::trim);
        let media = pieces.next().unwrap_or_default();
        let params: Vec<(&str, &str)> = pieces.filter_map(|p| p.split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect();
        let has = |key: &str, value: &str| params.iter().any(|(k, v)| *k == key && *v == value);
        if media != "application/json" {
            continue;
        }
        if has("as", "APIGroupDiscoveryList") && has("g", "apidiscovery.k8s.io") {
            if has("v", "v2") {
                return Some(AggregatedVersion::V2);
            }
            if has("v", "v2beta1") {
                return Some(AggregatedVersion::V2Beta1);
            }
            continue;
        }
        return None;
    }
    None
}

/// upstream's storageVersionHash: the first 8 bytes of sha256("<group>/<version>/<kind>") of the storage
/// version, base64; versions sharing one storage share the hash.
fn storage_version_hash(desc: &ResourceDesc) -> String {
    let (group, version, kind) = desc.storage_gvk();
    let digest = Sha256::digest(format!("{group}/{version}/{kind}"));
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

fn legacy_resources(desc: &ResourceDesc) -> Vec<Value> {
    let mut entries = vec![json!({
        "name": desc.plural,
        "singularName": desc.singular,
        "namespaced": desc.namespaced,
        "kind": desc.kind,
        "verbs": desc.verbs,
        "shortNames": desc.short_names,
        "categories": desc.categories,
        "storageVersionHash": storage_version_hash(desc),
    })];
    for sub in desc.subresources {
        let mut entry = json!({"name": format!("{}/{}", desc.plural, sub.name), "singularName": "", "namespaced": desc.namespaced, "kind": sub.kind, "verbs": sub.verbs});
        if sub.group != desc.group || sub.version != desc.version {
            entry["group"] = json!(sub.group);
            entry["version"] = json!(sub.version);
        }
        entries.push(entry);
    }
    for entry in &mut entries {
        let map = entry.as_object_mut().expect("entries are objects");
        for key in ["shortNames", "categories"] {
            if map.get(key).and_then(Value::as_array).is_some_and(Vec::is_empty) {
                map.remove(key);
            }
        }
    }
    entries
}

fn aggregated_resource(desc: &ResourceDesc) -> Value {
    let subresources: Vec<Value> = desc
        .subresources
        .iter()
        .map(|sub| json!({"subresource": sub.name, "responseKind": {"group": sub.group, "version": sub.version, "kind": sub.kind}, "verbs": sub.verbs}))
        .collect();
    let mut resource = json!({
        "resource": desc.plural,
        "responseKind": {"group": desc.group, "version": desc.version, "kind": desc.kind},
        "scope": if desc.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": desc.singular,
        "verbs": desc.verbs,
    });
    if !desc.short_names.is_empty() {
        resource["shortNames"] = json!(desc.short_names);
    }
    if !desc.categories.is_empty() {
        resource["categories"] = json!(desc.categories);
    }
    if !subresources.is_empty() {
        resource["subresources"] = Value::Array(subresources);
    }
    resource
}

impl Discovery {
    pub fn build(resources: &[ResourceDesc], server_address: &str) -> Self {
        // Groups keep registry order; within a group, versions keep registry order (preferred first).
        let mut group_order: Vec<&'static str> = Vec::new();
        let mut versions: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
        for desc in resources {
            if !group_order.contains(&desc.group) {
                group_order.push(desc.group);
            }
            let group_versions = versions.entry(desc.group).or_default();
            if !group_versions.contains(&desc.version) {
                group_versions.push(desc.version);
            }
        }
        let in_gv = |group: &'static str, version: &'static str| resources.iter().filter(move |d| d.group == group && d.version == version);

        let mut resource_lists = BTreeMap::new();
        for (group, group_versions) in &versions {
            for version in group_versions {
                let listed: Vec<Value> = in_gv(group, version).flat_map(legacy_resources).collect();
                let list = json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version(group, version), "resources": listed});
                resource_lists.insert((group.to_string(), version.to_string()), Document::new(&list));
            }
        }

        let group_entry = |group: &str| {
            let group_versions: Vec<Value> =
                versions[group].iter().map(|v| json!({"groupVersion": api_version(group, v), "version": v})).collect();
            json!({"name": group, "versions": group_versions, "preferredVersion": group_versions[0]})
        };
        let named_groups: Vec<&'static str> = group_order.iter().copied().filter(|g| !g.is_empty()).collect();
        let group_list =
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": named_groups.iter().map(|g| group_entry(g)).collect::<Vec<_>>()});
        let groups = named_groups.iter().map(|g| {
            let mut entry = group_entry(g);
            entry["kind"] = json!("APIGroup");
            entry["apiVersion"] = json!("v1");
            (g.to_string(), Document::new(&entry))
        });
        let legacy_versions = json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]});

        let aggregated = |group_names: &[&'static str], discovery_version: &str| {
            let items: Vec<Value> = group_names
                .iter()
                .map(|group| {
                    let group_versions: Vec<Value> = versions[group]
                        .iter()
                        .map(|version| json!({"version": version, "resources": in_gv(group, version).map(aggregated_resource).collect::<Vec<_>>(), "freshness": "Current"}))
                        .collect();
                    json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": group_versions})
                })
                .collect();
            Document::new(
                &json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{discovery_version}"), "metadata": {}, "items": items}),
            )
        };

        Self {
            legacy_versions: Document::new(&legacy_versions),
            group_list: Document::new(&group_list),
            groups: groups.collect(),
            resource_lists,
            aggregated_core_v2: aggregated(&[""], "v2"),
            aggregated_groups_v2: aggregated(&named_groups, "v2"),
            aggregated_core_v2beta1: aggregated(&[""], "v2beta1"),
            aggregated_groups_v2beta1: aggregated(&named_groups, "v2beta1"),
        }
    }
}

/// The `/version` document.
pub fn version_info() -> Value {
    json!({
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "emulationMajor": KUBERNETES_MAJOR,
        "emulationMinor": KUBERNETES_MINOR,
        "minCompatibilityMajor": KUBERNETES_MAJOR,
        "minCompatibilityMinor": "36",
        "gitVersion": GIT_VERSION,
        "gitCommit": env!("CARGO_PKG_VERSION"),
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if std::env::consts::ARCH == "x86_64" { "amd64" } else { std::env::consts::ARCH }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::registry;

    #[test]
    fn accept_headers_of_each_kubectl_generation_pick_the_right_format() {
        let v1_27 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        let v1_30 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(Some(v1_27)), Some(AggregatedVersion::V2Beta1));
        assert_eq!(aggregated_version(Some(v1_30)), Some(AggregatedVersion::V2));
        assert_eq!(aggregated_version(Some("application/json, */*")), None);
        assert_eq!(aggregated_version(None), None);
    }

    #[test]
    fn eviction_and_scale_subresources_name_their_own_group() {
        let discovery = Discovery::build(registry::builtin(), "127.0.0.1:6443");
        let core: Value = serde_json::from_slice(&discovery.resource_lists[&(String::new(), "v1".to_string())].body).unwrap();
        let eviction = core["resources"].as_array().unwrap().iter().find(|r| r["name"] == "pods/eviction").unwrap();
        assert_eq!(
            (eviction["group"].as_str(), eviction["version"].as_str(), eviction["kind"].as_str()),
            (Some("policy"), Some("v1"), Some("Eviction"))
        );
        let apps: Value = serde_json::from_slice(&discovery.aggregated_groups_v2.body).unwrap();
        let apps = apps["items"].as_array().unwrap().iter().find(|g| g["metadata"]["name"] == "apps").unwrap();
        let deployments = apps["versions"][0]["resources"].as_array().unwrap().iter().find(|r| r["resource"] == "deployments").unwrap();
        let scale = deployments["subresources"].as_array().unwrap().iter().find(|s| s["subresource"] == "scale").unwrap();
        assert_eq!(scale["responseKind"], json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}));
    }
}
