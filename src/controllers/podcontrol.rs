//! What the pod-owning control loops ask their glue to do, and the shared rules behind it (upstream
//! `controller_utils.go` and `controller_ref_manager.go`): the action list, the events with upstream's reasons and
//! messages, pods stamped from a template, adoption and release patches, claiming pods by selector and
//! controllerRef, slow-start creation batches, and when a ready pod turns available.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{json, Value};

use super::podutil::ready_since;
use super::selector::LabelMatcher;

/// Upstream's first slow-start batch size; each successful batch doubles the next.
pub const SLOW_START_INITIAL_BATCH_SIZE: usize = 1;

/// The longest pod name (a DNS subdomain), which bounds the generateName prefix.
const MAX_POD_NAME_LENGTH: usize = 253;

/// The glue carries these out in order.
///
/// - `AdoptPod`/`ReleasePod`: apply `patch` as a strategic-merge patch to the pod. NotFound (and Invalid for a
///   release) means the pod is gone or changed and is ignored; any other failure aborts the rest of the plan, as
///   upstream returns before managing replicas when claiming fails, and the owner is retried with backoff.
/// - `CreatePods`: one slow-start batch. Create every pod of the batch (concurrently if you like); emit
///   [`Event::successful_create`] with the server-assigned name or [`Event::failed_create`] per pod. If any create
///   in a batch failed, skip the remaining `CreatePods` actions of the plan (not the other actions) and retry the
///   owner with backoff. A failure caused by a terminating namespace is neither reported nor counted.
/// - `DeletePod`: delete with a UID precondition; emit [`Event::successful_delete`], or on an error other than
///   NotFound [`Event::failed_delete`].
/// - `Event`: record it on the owner as is.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    AdoptPod { name: String, uid: String, patch: Value },
    ReleasePod { name: String, uid: String, patch: Value },
    CreatePods { pods: Vec<Pod> },
    DeletePod { name: String, uid: String },
    Event(Event),
}

/// An event to record on the owner object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    pub reason: &'static str,
    pub message: String,
}

impl Event {
    pub fn normal(reason: &'static str, message: String) -> Event {
        Event { type_: "Normal", reason, message }
    }

    pub fn warning(reason: &'static str, message: String) -> Event {
        Event { type_: "Warning", reason, message }
    }

    /// After a pod create succeeded; `pod_name` is the name the server generated.
    pub fn successful_create(pod_name: &str) -> Event {
        Event::normal("SuccessfulCreate", format!("Created pod: {pod_name}"))
    }

    /// After a pod create failed, with the API error's message.
    pub fn failed_create(error: &str) -> Event {
        Event::warning("FailedCreate", format!("Error creating: {error}"))
    }

    /// After a pod delete succeeded.
    pub fn successful_delete(pod_name: &str) -> Event {
        Event::normal("SuccessfulDelete", format!("Deleted pod: {pod_name}"))
    }

    /// After a pod delete failed with anything but NotFound.
    pub fn failed_delete(error: &str) -> Event {
        Event::warning("FailedDelete", format!("Error deleting: {error}"))
    }
}

/// The generateName for an owner's pods: `<owner>-`, or the bare name when the dash would make it too long.
pub fn generate_name_prefix(owner_name: &str) -> String {
    if owner_name.len() < MAX_POD_NAME_LENGTH {
        format!("{owner_name}-")
    } else {
        owner_name.to_string()
    }
}

/// A pod stamped from a template (upstream `GetPodFromTemplate`): the template's labels, annotations, finalizers
/// and spec, `generateName: <owner>-`, the owner's namespace and the controller reference.
pub fn pod_from_template(template: &PodTemplateSpec, owner: &ObjectMeta, controller_ref: OwnerReference) -> Pod {
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name_prefix(owner.name.as_deref().unwrap_or_default())),
            namespace: owner.namespace.clone(),
            labels: template.metadata.as_ref().and_then(|meta| meta.labels.clone()),
            annotations: template.metadata.as_ref().and_then(|meta| meta.annotations.clone()),
            finalizers: template.metadata.as_ref().and_then(|meta| meta.finalizers.clone()),
            owner_references: Some(vec![controller_ref]),
            ..ObjectMeta::default()
        },
        spec: Some(template.spec.clone().unwrap_or_default()),
        status: None,
    }
}

/// The strategic-merge patch that makes `controller_ref` the controller of the pod with `pod_uid`.
pub fn adopt_patch(controller_ref: &OwnerReference, pod_uid: &str) -> Value {
    json!({"metadata": {"ownerReferences": [controller_ref], "uid": pod_uid}})
}

/// The strategic-merge patch that removes the owner with `owner_uid` from the pod with `pod_uid`.
pub fn release_patch(owner_uid: &str, pod_uid: &str) -> Value {
    json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": owner_uid}], "uid": pod_uid}})
}

/// The pods an owner controls after claiming (upstream `ClaimPods`), and the adopt/release actions that make
/// their ownerReferences agree.
pub struct Claimed<'a> {
    pub pods: Vec<&'a Pod>,
    pub actions: Vec<Action>,
}

/// Claims pods for an owner: pods it controls and that still match stay; pods it controls that no longer match
/// are released; orphans that match and are not being deleted are adopted; pods controlled by anyone else are
/// ignored. An owner being deleted neither adopts nor releases.
pub fn claim_pods<'a>(
    owner: &ObjectMeta,
    controller_ref: &OwnerReference,
    selector: &LabelMatcher,
    pods: impl IntoIterator<Item = &'a Pod>,
) -> Claimed<'a> {
    let owner_uid = owner.uid.as_deref().unwrap_or_default();
    let owner_deleting = owner.deletion_timestamp.is_some();
    let mut claimed = Claimed { pods: Vec::new(), actions: Vec::new() };
    for pod in pods {
        let matches = selector.matches(pod.metadata.labels.as_ref());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        match super::podutil::controller_of(&pod.metadata) {
            Some(reference) if reference.uid != owner_uid => {}
            Some(_) if matches => claimed.pods.push(pod),
            Some(_) => {
                if !owner_deleting {
                    let patch = release_patch(owner_uid, &uid);
                    claimed.actions.push(Action::ReleasePod { name, uid, patch });
                }
            }
            None => {
                let same_namespace = owner.namespace.is_none() || owner.namespace == pod.metadata.namespace;
                if matches && !owner_deleting && pod.metadata.deletion_timestamp.is_none() && same_namespace {
                    let patch = adopt_patch(controller_ref, &uid);
                    claimed.actions.push(Action::AdoptPod { name, uid, patch });
                    claimed.pods.push(pod);
                }
            }
        }
    }
    claimed
}

/// Splits `count` creations into upstream's slow-start batches: 1, 2, 4, … until the count is used up.
pub fn slow_start_batches(count: usize) -> Vec<usize> {
    let mut batches = Vec::new();
    let mut remaining = count;
    let mut batch = SLOW_START_INITIAL_BATCH_SIZE.min(remaining);
    while batch > 0 {
        batches.push(batch);
        remaining -= batch;
        batch = (2 * batch).min(remaining);
    }
    batches
}

/// How long until a ready pod has been ready for `min_ready_seconds`.
pub fn until_available(pod: &Pod, min_ready_seconds: i32, now: jiff::Timestamp) -> Option<Duration> {
    let available_at = ready_since(pod)?.checked_add(jiff::SignedDuration::from_secs(min_ready_seconds.into())).ok()?;
    let wait = available_at.duration_since(now);
    wait.is_positive().then(|| wait.unsigned_abs())
}

/// The sooner of two optional requeue delays.
pub fn earliest(current: Option<Duration>, candidate: Option<Duration>) -> Option<Duration> {
    match (current, candidate) {
        (Some(current), Some(candidate)) => Some(current.min(candidate)),
        (current, candidate) => current.or(candidate),
    }
}

/// Zero counts are omitted from the wire form, as Go's `omitempty` does.
pub fn nonzero<T: Default + PartialEq>(value: T) -> Option<T> {
    (value != T::default()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::super::podutil::controller_ref;
    use super::*;
    use serde_json::json;

    fn owner() -> ObjectMeta {
        serde_json::from_value(json!({"name": "web", "namespace": "ns", "uid": "owner-uid"})).unwrap()
    }

    fn pod(name: &str, labels: Value, owner_uid: Option<&str>) -> Pod {
        let owners =
            owner_uid.map(|uid| json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": uid, "controller": true}]));
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("{name}-uid"), "labels": labels, "ownerReferences": owners}
        }))
        .unwrap()
    }

    #[test]
    fn batches_double_until_the_count_is_used() {
        assert_eq!(slow_start_batches(0), Vec::<usize>::new());
        assert_eq!(slow_start_batches(1), vec![1]);
        assert_eq!(slow_start_batches(10), vec![1, 2, 4, 3]);
        assert_eq!(slow_start_batches(500), vec![1, 2, 4, 8, 16, 32, 64, 128, 245]);
    }

    #[test]
    fn generate_name_gets_a_dash_unless_too_long() {
        assert_eq!(generate_name_prefix("web"), "web-");
        let long = "a".repeat(253);
        assert_eq!(generate_name_prefix(&long), long);
    }

    #[test]
    fn claim_adopts_orphans_releases_mismatches_and_ignores_others() {
        let owner = owner();
        let reference = controller_ref("apps/v1", "ReplicaSet", &owner);
        let selector = LabelMatcher::from_map(&[("app".to_string(), "web".to_string())].into());
        let mut deleting_orphan = pod("deleting", json!({"app": "web"}), None);
        deleting_orphan.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
        let pods = [
            pod("mine", json!({"app": "web"}), Some("owner-uid")),
            pod("orphan", json!({"app": "web"}), None),
            pod("stray", json!({"app": "db"}), Some("owner-uid")),
            pod("theirs", json!({"app": "web"}), Some("other-uid")),
            pod("unrelated", json!({"app": "db"}), None),
            deleting_orphan,
        ];
        let claimed = claim_pods(&owner, &reference, &selector, &pods);
        let names: Vec<_> = claimed.pods.iter().map(|pod| pod.metadata.name.as_deref().unwrap()).collect();
        assert_eq!(names, ["mine", "orphan"]);
        assert_eq!(claimed.actions.len(), 2);
        assert!(matches!(&claimed.actions[0], Action::AdoptPod { name, patch, .. }
            if name == "orphan" && patch["metadata"]["ownerReferences"][0]["uid"] == "owner-uid" && patch["metadata"]["uid"] == "orphan-uid"));
        assert!(matches!(&claimed.actions[1], Action::ReleasePod { name, patch, .. }
            if name == "stray" && patch["metadata"]["ownerReferences"][0] == json!({"$patch": "delete", "uid": "owner-uid"})));
    }

    #[test]
    fn an_owner_being_deleted_neither_adopts_nor_releases() {
        let mut owner = owner();
        owner.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
        let reference = controller_ref("apps/v1", "ReplicaSet", &owner);
        let selector = LabelMatcher::from_map(&[("app".to_string(), "web".to_string())].into());
        let pods = [
            pod("mine", json!({"app": "web"}), Some("owner-uid")),
            pod("orphan", json!({"app": "web"}), None),
            pod("stray", json!({"app": "db"}), Some("owner-uid")),
        ];
        let claimed = claim_pods(&owner, &reference, &selector, &pods);
        assert_eq!(claimed.pods.len(), 1);
        assert!(claimed.actions.is_empty());
    }

    #[test]
    fn pods_from_a_template_carry_its_metadata_and_the_owner() {
        let template: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}, "finalizers": ["f"], "name": "ignored"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }))
        .unwrap();
        let owner = owner();
        let pod = pod_from_template(&template, &owner, controller_ref("apps/v1", "ReplicaSet", &owner));
        let value = serde_json::to_value(&pod).unwrap();
        assert_eq!(
            value["metadata"],
            json!({
                "generateName": "web-", "namespace": "ns", "labels": {"app": "web"}, "annotations": {"a": "b"}, "finalizers": ["f"],
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "owner-uid", "controller": true, "blockOwnerDeletion": true}]
            })
        );
        assert_eq!(value["spec"]["containers"][0]["image"], "nginx");
    }

    #[test]
    fn event_texts_match_upstream() {
        assert_eq!(Event::successful_create("web-x7k2p").message, "Created pod: web-x7k2p");
        assert_eq!(Event::successful_delete("web-x7k2p").message, "Deleted pod: web-x7k2p");
        assert_eq!(Event::failed_create("quota exceeded"), Event::warning("FailedCreate", "Error creating: quota exceeded".into()));
        assert_eq!(Event::failed_delete("boom").reason, "FailedDelete");
    }
}
