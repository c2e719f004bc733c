//! Defaulting of a pod spec wherever one appears: in a Pod, and in the pod templates of ReplicationControllers,
//! ReplicaSets, Deployments, DaemonSets, StatefulSets, Jobs and CronJobs. This is upstream's
//! `SetDefaults_PodSpec` plus the defaults of everything a pod spec contains (containers, probes, ports, env,
//! volumes), and the v1 conversion's `serviceAccount` ↔ `serviceAccountName` mirroring. What upstream defaults
//! only on Pods (and admission adds) lives in `pod.rs`.

use serde_json::{json, Value};

use super::value::{
    for_each_mut, get, is_set, object_at, object_mut, set, set_default, set_default_str, str_at, string_or_empty, with_object,
};

/// The container lists of a pod spec; each gets the same container defaults.
pub const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// `SetDefaults_PodSpec` and everything below it, for a pod spec object.
pub fn default_pod_spec(spec: &mut Value) {
    set_default_str(spec, &["dnsPolicy"], "ClusterFirst");
    set_default_str(spec, &["restartPolicy"], "Always");
    set_default(spec, &["securityContext"], json!({}));
    set_default(spec, &["terminationGracePeriodSeconds"], json!(30));
    set_default_str(spec, &["schedulerName"], "default-scheduler");
    mirror_service_account(spec);
    for list in CONTAINER_LISTS {
        for_each_mut(spec, &[list], default_container);
    }
    for_each_mut(spec, &["volumes"], default_volume);
}

/// Defaults a pod template (`spec.template` of a workload): its metadata exists and its spec is defaulted.
pub fn default_pod_template(template: &mut Value) {
    set_default(template, &["metadata"], json!({}));
    set_default(template, &["spec"], json!({}));
    with_object(template, &["spec"], default_pod_spec);
}

/// The v1 API carries the service account twice; conversion fills `serviceAccountName` from the deprecated
/// `serviceAccount` and writes `serviceAccount` back, so both always agree.
fn mirror_service_account(spec: &mut Value) {
    if string_or_empty(spec, &["serviceAccountName"]).is_empty() {
        if let Some(deprecated) = str_at(spec, &["serviceAccount"]).filter(|name| !name.is_empty()) {
            let name = deprecated.to_string();
            set(spec, &["serviceAccountName"], Value::from(name));
        }
    }
    if let Some(name) = str_at(spec, &["serviceAccountName"]).filter(|name| !name.is_empty()) {
        let name = name.to_string();
        set(spec, &["serviceAccount"], Value::from(name));
    }
}

/// `SetDefaults_Container` and the defaults of what a container holds.
fn default_container(container: &mut Value) {
    if string_or_empty(container, &["imagePullPolicy"]).is_empty() {
        let policy = default_pull_policy(string_or_empty(container, &["image"]));
        set(container, &["imagePullPolicy"], Value::from(policy));
    }
    set_default_str(container, &["terminationMessagePath"], "/dev/termination-log");
    set_default_str(container, &["terminationMessagePolicy"], "File");
    set_default(container, &["resources"], json!({}));
    for_each_mut(container, &["ports"], |port| set_default_str(port, &["protocol"], "TCP"));
    for_each_mut(container, &["env"], |env| with_object(env, &["valueFrom", "fieldRef"], default_field_ref));
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        with_object(container, &[probe], default_probe);
    }
    for hook in ["postStart", "preStop"] {
        with_object(container, &["lifecycle", hook, "httpGet"], default_http_get);
    }
}

/// `Always` for `:latest` or an untagged image (which means latest), else `IfNotPresent`, as upstream decides
/// from the parsed image reference. A digest without a tag, or no image at all, is `IfNotPresent`.
pub fn default_pull_policy(image: &str) -> &'static str {
    if image_tag(image).as_deref() == Some("latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
}

/// The tag of an image reference: `latest` when it has neither tag nor digest, `None` with a digest only or
/// when there is no image.
fn image_tag(image: &str) -> Option<String> {
    if image.is_empty() {
        return None;
    }
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let last_component = name.rsplit('/').next().unwrap_or(name);
    match last_component.split_once(':') {
        Some((_, tag)) => Some(tag.to_string()),
        None if digest.is_some() => None,
        None => Some("latest".to_string()),
    }
}

fn default_probe(probe: &mut Value) {
    set_default_positive(probe, "timeoutSeconds", 1);
    set_default_positive(probe, "periodSeconds", 10);
    set_default_positive(probe, "successThreshold", 1);
    set_default_positive(probe, "failureThreshold", 3);
    with_object(probe, &["httpGet"], default_http_get);
}

/// Probe fields are plain integers upstream, so an explicit 0 is defaulted like an absent value.
fn set_default_positive(probe: &mut Value, field: &str, default: i64) {
    if get(probe, &[field]).and_then(Value::as_i64).unwrap_or(0) == 0 {
        set(probe, &[field], Value::from(default));
    }
}

fn default_http_get(action: &mut Value) {
    set_default_str(action, &["path"], "/");
    set_default_str(action, &["scheme"], "HTTP");
}

fn default_field_ref(field_ref: &mut Value) {
    set_default_str(field_ref, &["apiVersion"], "v1");
}

/// File mode 0644, upstream's default for configMap, secret, downwardAPI and projected volumes.
const DEFAULT_FILE_MODE: i64 = 0o644;

/// `SetDefaults_Volume` and the defaults of each volume source.
fn default_volume(volume: &mut Value) {
    let has_source = object_at(volume, &[]).is_some_and(|fields| fields.keys().any(|key| key != "name"));
    if !has_source {
        set(volume, &["emptyDir"], json!({}));
    }
    for source in ["configMap", "secret", "downwardAPI", "projected"] {
        if is_set(volume, &[source]) {
            set_default(volume, &[source, "defaultMode"], Value::from(DEFAULT_FILE_MODE));
        }
    }
    for_each_mut(volume, &["downwardAPI", "items"], |item| with_object(item, &["fieldRef"], default_field_ref));
    for_each_mut(volume, &["projected", "sources"], default_projection);
    if is_set(volume, &["hostPath"]) {
        set_default(volume, &["hostPath", "type"], Value::from(""));
    }
    with_object(volume, &["ephemeral", "volumeClaimTemplate", "spec"], default_claim_spec);
    // `object_mut` creates what is missing: only an image volume may be given image defaults.
    if !is_set(volume, &["image"]) {
        return;
    }
    if let Some(image) = object_mut(volume, &["image"]) {
        if image.get("pullPolicy").and_then(Value::as_str).unwrap_or_default().is_empty() {
            let reference = image.get("reference").and_then(Value::as_str).unwrap_or_default();
            let policy = default_pull_policy(reference);
            image.insert("pullPolicy".into(), Value::from(policy));
        }
    }
}

fn default_projection(source: &mut Value) {
    if is_set(source, &["serviceAccountToken"]) {
        set_default(source, &["serviceAccountToken", "expirationSeconds"], json!(3600));
    }
    for_each_mut(source, &["downwardAPI", "items"], |item| with_object(item, &["fieldRef"], default_field_ref));
}

/// `SetDefaults_PersistentVolumeClaimSpec`: claims are filesystems unless they say otherwise.
pub fn default_claim_spec(spec: &mut Value) {
    set_default(spec, &["volumeMode"], Value::from("Filesystem"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(default_pull_policy("localhost:5000/nginx:1.27"), "IfNotPresent");
        assert_eq!(default_pull_policy("nginx@sha256:abcd"), "IfNotPresent");
        assert_eq!(default_pull_policy(""), "IfNotPresent");
    }

    #[test]
    fn template_spec_gets_pod_spec_defaults() {
        let mut template = json!({"spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}],
            "readinessProbe": {"httpGet": {"port": 80}}, "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}],
            "volumes": [{"name": "a"}, {"name": "b", "configMap": {"name": "cm"}}, {"name": "c", "hostPath": {"path": "/x"}}],
            "serviceAccount": "legacy"}});
        default_pod_template(&mut template);
        assert_eq!(template["metadata"], json!({}));
        let spec = &template["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["serviceAccountName"], "legacy");
        let container = &spec["containers"][0];
        assert_eq!(container["imagePullPolicy"], "Always");
        assert_eq!(container["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(container["terminationMessagePolicy"], "File");
        assert_eq!(container["resources"], json!({}));
        assert_eq!(container["ports"][0]["protocol"], "TCP");
        assert_eq!(container["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(
            container["readinessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(spec["volumes"][0]["emptyDir"], json!({}));
        assert_eq!(spec["volumes"][1]["configMap"]["defaultMode"], 420);
        assert_eq!(spec["volumes"][2]["hostPath"]["type"], "");
        assert!(spec["volumes"].as_array().unwrap().iter().all(|volume| volume.get("image").is_none()), "no image source invented");
    }
}
