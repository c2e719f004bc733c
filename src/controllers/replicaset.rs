//! The ReplicaSet and ReplicationController control loop's decisions (upstream `pkg/controller/replicaset`, which
//! serves ReplicationController by converting it): both kinds become a [`ReplicaOwner`], and [`reconcile`] turns an
//! owner plus the pods of its namespace into a [`Plan`] — pods to adopt and release, slow-start creation batches or
//! the pods to delete in upstream's order, the status to write and when to look again.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{
    Pod, PodTemplateSpec, ReplicationController, ReplicationControllerCondition, ReplicationControllerStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};

use super::podcontrol::{claim_pods, earliest, nonzero, pod_from_template, slow_start_batches, until_available, Action};
use super::podutil::{controller_of, controller_ref, is_active, is_available, is_ready, ready_since};
use super::selector::{labels_are_subset, LabelMatcher};

/// At most this many pods are created or deleted in one sync (upstream `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;

/// The event source component of each kind's controller.
pub const REPLICA_SET_COMPONENT: &str = "replicaset-controller";
pub const REPLICATION_CONTROLLER_COMPONENT: &str = "replication-controller";

/// The condition reporting that pods could not be created or deleted.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// Lower costs are deleted first when scaling down.
const POD_DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

/// What the loop needs to know about a ReplicaSet or ReplicationController.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaOwner {
    /// `apps/v1` or `v1`, for the controller reference on pods.
    pub api_version: &'static str,
    /// `ReplicaSet` or `ReplicationController`.
    pub kind: &'static str,
    /// The owner's metadata: name, namespace, uid, generation, deletionTimestamp.
    pub meta: ObjectMeta,
    /// `spec.replicas`, 1 when unset as the API server defaults it.
    pub replicas: i32,
    /// The pod selector; `None` selects nothing.
    pub selector: Option<LabelSelector>,
    pub min_ready_seconds: i32,
    /// The pod template; a ReplicationController may lack one, and then every create fails.
    pub template: Option<PodTemplateSpec>,
    /// The conditions currently in the owner's status, kept unless the loop changes them.
    pub conditions: Vec<ReplicaCondition>,
    /// Selectors of every ReplicaSet sharing this one's controller (a Deployment's ReplicaSets), itself included;
    /// empty when the owner has no controller. Their pods tell which nodes are crowded when scaling down.
    pub related_selectors: Vec<LabelSelector>,
}

/// A status condition of either kind.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaCondition {
    pub type_: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub last_transition_time: Option<Time>,
}

impl ReplicaOwner {
    pub fn from_replica_set(replica_set: &ReplicaSet) -> ReplicaOwner {
        let spec = &replica_set.spec;
        let conditions = replica_set.status.as_ref().and_then(|status| status.conditions.as_ref());
        ReplicaOwner {
            api_version: "apps/v1",
            kind: "ReplicaSet",
            meta: replica_set.metadata.clone(),
            replicas: spec.replicas.unwrap_or(1),
            selector: Some(spec.selector.clone()),
            min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
            template: spec.template.clone(),
            conditions: conditions
                .into_iter()
                .flatten()
                .map(|condition| ReplicaCondition {
                    type_: condition.type_.clone().unwrap_or_default(),
                    status: condition.status.clone().unwrap_or_default(),
                    reason: condition.reason.clone(),
                    message: condition.message.clone(),
                    last_transition_time: condition.last_transition_time.clone(),
                })
                .collect(),
            related_selectors: Vec::new(),
        }
    }

    /// A ReplicationController as a ReplicaSet: its map selector becomes `matchLabels` (the API server has already
    /// defaulted an empty one to the template's labels).
    pub fn from_replication_controller(controller: &ReplicationController) -> ReplicaOwner {
        let spec = controller.spec.as_ref();
        let conditions = controller.status.as_ref().and_then(|status| status.conditions.as_ref());
        ReplicaOwner {
            api_version: "v1",
            kind: "ReplicationController",
            meta: controller.metadata.clone(),
            replicas: spec.and_then(|spec| spec.replicas).unwrap_or(1),
            selector: spec
                .and_then(|spec| spec.selector.clone())
                .map(|labels| LabelSelector { match_labels: Some(labels), match_expressions: None }),
            min_ready_seconds: spec.and_then(|spec| spec.min_ready_seconds).unwrap_or(0),
            template: spec.and_then(|spec| spec.template.clone()),
            conditions: conditions
                .into_iter()
                .flatten()
                .map(|condition| ReplicaCondition {
                    type_: condition.type_.clone(),
                    status: condition.status.clone(),
                    reason: condition.reason.clone(),
                    message: condition.message.clone(),
                    last_transition_time: condition.last_transition_time.clone(),
                })
                .collect(),
            related_selectors: Vec::new(),
        }
    }

    /// Fills `related_selectors` from the ReplicaSets of the owner's namespace: those controlled by the same
    /// object as this one. An owner without a controller keeps none, as upstream.
    pub fn with_siblings(mut self, replica_sets: &[ReplicaSet]) -> ReplicaOwner {
        let Some(controller_uid) = controller_of(&self.meta).map(|reference| reference.uid.clone()) else { return self };
        let own_uid = self.meta.uid.clone();
        let mut saw_self = false;
        self.related_selectors = replica_sets
            .iter()
            .filter(|sibling| controller_of(&sibling.metadata).is_some_and(|reference| reference.uid == controller_uid))
            .map(|sibling| {
                saw_self |= sibling.metadata.uid == own_uid;
                sibling.spec.selector.clone()
            })
            .collect();
        if !saw_self {
            self.related_selectors.extend(self.selector.clone());
        }
        self
    }

    /// The event source component for this kind.
    pub fn event_component(&self) -> &'static str {
        if self.kind == "ReplicationController" {
            REPLICATION_CONTROLLER_COMPONENT
        } else {
            REPLICA_SET_COMPONENT
        }
    }
}

/// The status both kinds report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaStatus {
    /// Active pods the owner controls.
    pub replicas: i32,
    /// Of those, pods carrying every label of the template.
    pub fully_labeled_replicas: i32,
    pub ready_replicas: i32,
    /// Ready for at least `minReadySeconds`.
    pub available_replicas: i32,
    /// Controlled pods being deleted that have not finished (ReplicaSet only; ReplicationController has no field).
    pub terminating_replicas: i32,
    pub observed_generation: i64,
    pub conditions: Vec<ReplicaCondition>,
}

impl ReplicaStatus {
    pub fn into_replica_set_status(self) -> ReplicaSetStatus {
        ReplicaSetStatus {
            replicas: self.replicas,
            fully_labeled_replicas: nonzero(self.fully_labeled_replicas),
            ready_replicas: nonzero(self.ready_replicas),
            available_replicas: nonzero(self.available_replicas),
            terminating_replicas: Some(self.terminating_replicas),
            observed_generation: nonzero(self.observed_generation),
            conditions: (!self.conditions.is_empty()).then(|| {
                self.conditions
                    .into_iter()
                    .map(|condition| ReplicaSetCondition {
                        type_: Some(condition.type_),
                        status: Some(condition.status),
                        reason: condition.reason,
                        message: condition.message,
                        last_transition_time: condition.last_transition_time,
                    })
                    .collect()
            }),
        }
    }

    pub fn into_replication_controller_status(self) -> ReplicationControllerStatus {
        ReplicationControllerStatus {
            replicas: self.replicas,
            fully_labeled_replicas: nonzero(self.fully_labeled_replicas),
            ready_replicas: nonzero(self.ready_replicas),
            available_replicas: nonzero(self.available_replicas),
            observed_generation: nonzero(self.observed_generation),
            conditions: (!self.conditions.is_empty()).then(|| {
                self.conditions
                    .into_iter()
                    .map(|condition| ReplicationControllerCondition {
                        type_: condition.type_,
                        status: condition.status,
                        reason: condition.reason,
                        message: condition.message,
                        last_transition_time: condition.last_transition_time,
                    })
                    .collect()
            }),
        }
    }
}

/// What one sync decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Carried out in order; see [`Action`] for how failures stop the rest.
    pub actions: Vec<Action>,
    /// The status to write through the status subresource (skip the write when it equals the current one); `None`
    /// when the owner's selector is malformed, where upstream does nothing at all.
    pub status: Option<ReplicaStatus>,
    /// Sync again after this long, when a ready pod will have been ready for `minReadySeconds`.
    pub requeue_after: Option<Duration>,
    /// `FailedCreate` or `FailedDelete` when this plan creates or deletes pods.
    failure_reason: Option<&'static str>,
    /// The ReplicaFailure condition the owner had, dropped from `status` unless this sync fails too.
    previous_failure: Option<ReplicaCondition>,
}

impl Plan {
    /// Records that creating or deleting pods failed with `message` (the API error): the status gets a
    /// `ReplicaFailure` condition with reason `FailedCreate`/`FailedDelete`, or keeps the one it already had.
    pub fn record_failure(&mut self, message: &str, now: jiff::Timestamp) {
        let Some(status) = self.status.as_mut() else { return };
        if status.conditions.iter().any(|condition| condition.type_ == REPLICA_FAILURE) {
            return;
        }
        let condition = self.previous_failure.clone().unwrap_or_else(|| ReplicaCondition {
            type_: REPLICA_FAILURE.to_string(),
            status: "True".to_string(),
            reason: self.failure_reason.map(str::to_string),
            message: Some(message.to_string()),
            last_transition_time: Some(Time(now)),
        });
        status.conditions.push(condition);
    }
}

/// Decides one sync of a ReplicaSet or ReplicationController from the pods of its namespace.
pub fn reconcile(owner: &ReplicaOwner, pods: &[Pod], now: jiff::Timestamp) -> Plan {
    let Ok(selector) = LabelMatcher::parse(owner.selector.as_ref()) else { return Plan::default() };
    let reference = controller_ref(owner.api_version, owner.kind, &owner.meta);
    let claimed = claim_pods(&owner.meta, &reference, &selector, pods.iter().filter(|pod| is_active(pod)));
    let mut plan = Plan { actions: claimed.actions, ..Plan::default() };
    let mut manage_error = None;

    let wanted = usize::try_from(owner.replicas).unwrap_or(0);
    if owner.meta.deletion_timestamp.is_none() {
        if claimed.pods.len() < wanted {
            plan.failure_reason = Some("FailedCreate");
            let count = (wanted - claimed.pods.len()).min(BURST_REPLICAS);
            let pod = pod_from_template(&owner.template.clone().unwrap_or_default(), &owner.meta, reference);
            if pod.metadata.labels.as_ref().is_none_or(|labels| labels.is_empty()) {
                // Upstream refuses before calling the API server, so there is no event, only the condition.
                manage_error = Some("unable to create pods, no labels");
            } else {
                plan.actions
                    .extend(slow_start_batches(count).into_iter().map(|batch| Action::CreatePods { pods: vec![pod.clone(); batch] }));
            }
        } else if claimed.pods.len() > wanted {
            plan.failure_reason = Some("FailedDelete");
            let count = (claimed.pods.len() - wanted).min(BURST_REPLICAS);
            let related = related_pods(&owner.related_selectors, pods);
            for pod in pods_to_delete(&claimed.pods, &related, count, now) {
                let name = pod.metadata.name.clone().unwrap_or_default();
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                plan.actions.push(Action::DeletePod { name, uid });
            }
        }
    }

    let owner_uid = owner.meta.uid.as_deref().unwrap_or_default();
    let terminating = pods
        .iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_some() && !is_terminal(pod))
        .filter(|pod| controller_of(&pod.metadata).is_some_and(|reference| reference.uid == owner_uid))
        .filter(|pod| selector.matches(pod.metadata.labels.as_ref()))
        .count();
    let (status, requeue_after) = calculate_status(owner, &claimed.pods, terminating, now);
    plan.previous_failure = owner.conditions.iter().find(|condition| condition.type_ == REPLICA_FAILURE).cloned();
    plan.status = Some(status);
    plan.requeue_after = requeue_after;
    if let Some(message) = manage_error {
        plan.record_failure(message, now);
    }
    plan
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|status| status.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// Counts the claimed pods; also returns when the next ready pod turns available.
fn calculate_status(owner: &ReplicaOwner, pods: &[&Pod], terminating: usize, now: jiff::Timestamp) -> (ReplicaStatus, Option<Duration>) {
    let template_labels = owner.template.as_ref().and_then(|template| template.metadata.as_ref()).and_then(|meta| meta.labels.as_ref());
    let mut status = ReplicaStatus {
        replicas: count_i32(pods.len()),
        terminating_replicas: count_i32(terminating),
        observed_generation: owner.meta.generation.unwrap_or(0),
        conditions: owner.conditions.iter().filter(|condition| condition.type_ != REPLICA_FAILURE).cloned().collect(),
        ..ReplicaStatus::default()
    };
    let mut requeue_after = None;
    for pod in pods {
        if labels_are_subset(template_labels, pod.metadata.labels.as_ref()) {
            status.fully_labeled_replicas += 1;
        }
        if is_ready(pod) {
            status.ready_replicas += 1;
            if is_available(pod, owner.min_ready_seconds, now) {
                status.available_replicas += 1;
            } else {
                requeue_after = earliest(requeue_after, until_available(pod, owner.min_ready_seconds, now));
            }
        }
    }
    (status, requeue_after)
}

fn count_i32(count: usize) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// The pods of all related ReplicaSets, each once (upstream `getIndirectlyRelatedPods`).
fn related_pods<'a>(selectors: &[LabelSelector], pods: &'a [Pod]) -> Vec<&'a Pod> {
    let matchers: Vec<LabelMatcher> = selectors.iter().filter_map(|selector| LabelMatcher::parse(Some(selector)).ok()).collect();
    let mut seen = BTreeSet::new();
    pods.iter()
        .filter(|pod| matchers.iter().any(|matcher| matcher.matches(pod.metadata.labels.as_ref())))
        .filter(|pod| seen.insert(pod.metadata.uid.clone()))
        .collect()
}

/// Picks `count` pods to delete, those earliest in their startup first (upstream `getPodsToDelete`).
fn pods_to_delete<'a>(pods: &[&'a Pod], related: &[&Pod], count: usize, now: jiff::Timestamp) -> Vec<&'a Pod> {
    if count >= pods.len() {
        return pods.to_vec();
    }
    let mut pods_per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for pod in related.iter().filter(|pod| is_active(pod)) {
        *pods_per_node.entry(node_name(pod)).or_default() += 1;
    }
    let mut ranked: Vec<_> =
        pods.iter().map(|pod| (deletion_rank(pod, pods_per_node.get(node_name(pod)).copied().unwrap_or(0), now), *pod)).collect();
    ranked.sort_by(|(left, _), (right, _)| left.cmp(right));
    ranked.into_iter().take(count).map(|(_, pod)| pod).collect()
}

fn node_name(pod: &Pod) -> &str {
    pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()).unwrap_or_default()
}

/// The key that orders pods for deletion, smallest first, following upstream `ActivePodsWithRanks.Less`:
/// unassigned before assigned; Pending before Unknown before Running; not ready before ready; lower
/// pod-deletion-cost first; more related pods on the same node first; ready more recently first (in
/// powers-of-two buckets of time since `now`); more container restarts, then more sidecar restarts, first;
/// created more recently first (bucketed likewise); then by UID. Upstream compares two ready pods whose ready
/// times differ within one bucket by UID right away; a sort key has to stay a total order, so here they fall
/// through to restarts and creation time first.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DeletionRank {
    assigned: bool,
    phase: u8,
    ready: bool,
    deletion_cost: i32,
    colocated: Reverse<usize>,
    ready_bucket: i64,
    restarts: Reverse<i32>,
    sidecar_restarts: Reverse<i32>,
    created_bucket: i64,
    uid: String,
}

fn deletion_rank(pod: &Pod, colocated: usize, now: jiff::Timestamp) -> DeletionRank {
    let status = pod.status.as_ref();
    let phase = match status.and_then(|status| status.phase.as_deref()) {
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    };
    let deletion_cost = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(POD_DELETION_COST_ANNOTATION))
        .and_then(|cost| cost.parse().ok())
        .unwrap_or(0);
    let ready_since = ready_since(pod);
    let ready_bucket = match ready_since {
        Some(since) if since != jiff::Timestamp::MIN => age_bucket(since, now),
        Some(_) => i64::MIN,
        None => 0,
    };
    let restarts =
        status.into_iter().flat_map(|status| status.container_statuses.iter().flatten()).map(|container| container.restart_count).max();
    let sidecars: BTreeSet<&str> = pod
        .spec
        .iter()
        .flat_map(|spec| spec.init_containers.iter().flatten())
        .filter(|container| container.restart_policy.as_deref() == Some("Always"))
        .map(|container| container.name.as_str())
        .collect();
    let sidecar_restarts = status
        .into_iter()
        .flat_map(|status| status.init_container_statuses.iter().flatten())
        .filter(|container| sidecars.contains(container.name.as_str()))
        .map(|container| container.restart_count)
        .max();
    DeletionRank {
        assigned: !node_name(pod).is_empty(),
        phase,
        ready: ready_since.is_some(),
        deletion_cost,
        colocated: Reverse(colocated),
        ready_bucket,
        restarts: Reverse(restarts.unwrap_or(0).max(0)),
        sidecar_restarts: Reverse(sidecar_restarts.unwrap_or(0).max(0)),
        created_bucket: pod.metadata.creation_timestamp.as_ref().map_or(i64::MIN, |created| age_bucket(created.0, now)),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
    }
}

/// The base-2 logarithm of the nanoseconds between `time` and `now`, -1 for times not in the past: pods whose
/// ages are within a factor of two rank alike (upstream LogarithmicScaleDown).
fn age_bucket(time: jiff::Timestamp, now: jiff::Timestamp) -> i64 {
    let nanoseconds = now.duration_since(time).as_nanos();
    if nanoseconds <= 0 {
        -1
    } else {
        (nanoseconds as f64).log2().floor() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const NOW: &str = "2025-01-01T12:00:00Z";

    fn now() -> jiff::Timestamp {
        NOW.parse().unwrap()
    }

    fn replica_set(replicas: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "rs-uid", "generation": 3},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web", "tier": "front"}, "annotations": {"note": "x"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}
                }
            }
        }))
        .unwrap()
    }

    /// A pod owned by `owner_uid` (or an orphan), with the given extra JSON merged into it.
    fn pod(name: &str, owner_uid: Option<&str>, extra: Value) -> Pod {
        let mut value = json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("{name}-uid"), "labels": {"app": "web", "tier": "front"},
                         "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T01:00:00Z"}]}
        });
        if let Some(uid) = owner_uid {
            value["metadata"]["ownerReferences"] =
                json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": uid, "controller": true}]);
        }
        merge(&mut value, extra);
        serde_json::from_value(value).unwrap()
    }

    fn merge(target: &mut Value, patch: Value) {
        match (target, patch) {
            (Value::Object(target), Value::Object(patch)) => {
                for (key, value) in patch {
                    if value.is_null() {
                        target.remove(&key);
                    } else {
                        merge(target.entry(key).or_insert(Value::Null), value);
                    }
                }
            }
            (target, patch) => *target = patch,
        }
    }

    fn owned(name: &str) -> Pod {
        pod(name, Some("rs-uid"), json!({}))
    }

    fn created(plan: &Plan) -> Vec<usize> {
        plan.actions.iter().filter_map(|action| if let Action::CreatePods { pods } = action { Some(pods.len()) } else { None }).collect()
    }

    fn deleted(plan: &Plan) -> Vec<String> {
        plan.actions
            .iter()
            .filter_map(|action| if let Action::DeletePod { name, .. } = action { Some(name.clone()) } else { None })
            .collect()
    }

    #[test]
    fn scale_up_creates_missing_pods_in_slow_start_batches() {
        let owner = ReplicaOwner::from_replica_set(&replica_set(10));
        let plan = reconcile(&owner, &[owned("a"), owned("b")], now());
        assert_eq!(created(&plan), [1, 2, 4, 1]);
        let Action::CreatePods { pods } = &plan.actions[0] else { panic!("expected a create") };
        let pod = serde_json::to_value(&pods[0]).unwrap();
        assert_eq!(pod["metadata"]["generateName"], "web-");
        assert_eq!(pod["metadata"]["labels"], json!({"app": "web", "tier": "front"}));
        assert_eq!(pod["metadata"]["annotations"], json!({"note": "x"}));
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["apiVersion"], "apps/v1");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(pod["spec"]["containers"][0]["image"], "nginx");
    }

    #[test]
    fn creations_are_capped_at_the_burst() {
        let owner = ReplicaOwner::from_replica_set(&replica_set(2000));
        let plan = reconcile(&owner, &[], now());
        assert_eq!(created(&plan).iter().sum::<usize>(), BURST_REPLICAS);
    }

    #[test]
    fn scale_down_deletes_the_surplus_and_a_steady_owner_does_nothing() {
        let owner = ReplicaOwner::from_replica_set(&replica_set(2));
        let plan = reconcile(&owner, &[owned("a"), owned("b"), owned("c")], now());
        assert_eq!(deleted(&plan).len(), 1);
        let steady = reconcile(&owner, &[owned("a"), owned("b")], now());
        assert!(steady.actions.is_empty());
    }

    #[test]
    fn inactive_pods_do_not_count() {
        let owner = ReplicaOwner::from_replica_set(&replica_set(2));
        let failed = pod("failed", Some("rs-uid"), json!({"status": {"phase": "Failed"}}));
        let deleting = pod("deleting", Some("rs-uid"), json!({"metadata": {"deletionTimestamp": "2025-01-01T11:00:00Z"}}));
        let plan = reconcile(&owner, &[owned("a"), failed, deleting], now());
        assert_eq!(created(&plan), [1]);
        let status = plan.status.unwrap();
        assert_eq!(status.replicas, 1);
        assert_eq!(status.terminating_replicas, 1);
    }

    #[test]
    fn deletion_prefers_pods_earlier_in_their_startup() {
        let owner = ReplicaOwner::from_replica_set(&replica_set(1));
        let ordered = [
            pod("unassigned", Some("rs-uid"), json!({"spec": {"nodeName": null}})),
            pod("pending", Some("rs-uid"), json!({"status": {"phase": "Pending"}})),
            pod("unknown", Some("rs-uid"), json!({"status": {"phase": "Unknown"}})),
            pod("not-ready", Some("rs-uid"), json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})),
            pod("cheap", Some("rs-uid"), json!({"metadata": {"annotations": {"controller.kubernetes.io/pod-deletion-cost": "-5"}}})),
            pod(
                "recently-ready",
                Some("rs-uid"),
                json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T11:59:00Z"}]}}),
            ),
            pod(
                "restarted",
                Some("rs-uid"),
                json!({"status": {"containerStatuses": [{"name": "c", "image": "nginx", "imageID": "", "ready": true, "restartCount": 4}]}}),
            ),
            pod("newer", Some("rs-uid"), json!({"metadata": {"creationTimestamp": "2025-01-01T00:50:00Z"}})),
            pod("oldest", Some("rs-uid"), json!({"metadata": {"creationTimestamp": "2024-06-01T00:00:00Z"}})),
        ];
        let mut pods = ordered.to_vec();
        pods.reverse();
        let plan = reconcile(&owner, &pods, now());
        let expected: Vec<_> = ordered[..8].iter().map(|pod| pod.metadata.name.clone().unwrap()).collect();
        assert_eq!(deleted(&plan), expected, "the oldest, longest-ready pod survives");
        let refs: Vec<&Pod> = pods.iter().collect();
        for keep in 1..ordered.len() {
            let victims = pods_to_delete(&refs, &[], ordered.len() - keep, now());
            let names: Vec<_> = victims.iter().map(|pod| pod.metadata.name.clone().unwrap()).collect();
            assert_eq!(names, expected[..ordered.len() - keep], "deleting {}", ordered.len() - keep);
        }
    }

    #[test]
    fn deletion_prefers_pods_on_crowded_nodes_among_siblings() {
        let mut replica_set = replica_set(1);
        replica_set.metadata.owner_references = Some(
            serde_json::from_value(
                json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "deploy-uid", "controller": true}]),
            )
            .unwrap(),
        );
        let sibling: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "web-old", "uid": "old-uid", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "deploy-uid", "controller": true}]},
            "spec": {"selector": {"matchLabels": {"app": "web-old"}}, "template": {}}
        }))
        .unwrap();
        let owner = ReplicaOwner::from_replica_set(&replica_set).with_siblings(&[replica_set.clone(), sibling]);
        assert_eq!(owner.related_selectors.len(), 2);
        let on_b = pod("on-b", Some("rs-uid"), json!({"spec": {"nodeName": "node-b"}}));
        let crowded = pod("crowded", Some("rs-uid"), json!({"metadata": {"creationTimestamp": "2024-01-01T00:00:00Z"}}));
        let old_neighbour = pod("old-neighbour", Some("old-uid"), json!({"metadata": {"labels": {"app": "web-old"}}}));
        let plan = reconcile(&owner, &[on_b, crowded, old_neighbour], now());
        assert_eq!(deleted(&plan), ["crowded"]);
    }

    #[test]
    fn orphans_are_adopted_strays_released_and_others_ignored() {
        let owner = ReplicaOwner::from_replica_set(&replica_set(2));
        let orphan = pod("orphan", None, json!({}));
        let stray = pod("stray", Some("rs-uid"), json!({"metadata": {"labels": {"app": "other"}}}));
        let foreign = pod("foreign", Some("other-uid"), json!({}));
        let plan = reconcile(&owner, &[owned("a"), orphan, stray, foreign], now());
        assert!(matches!(&plan.actions[0], Action::AdoptPod { name, .. } if name == "orphan"));
        assert!(matches!(&plan.actions[1], Action::ReleasePod { name, .. } if name == "stray"));
        assert_eq!(plan.actions.len(), 2, "the adopted orphan fills the second replica");
        assert_eq!(plan.status.unwrap().replicas, 2);
    }

    #[test]
    fn status_counts_ready_available_and_fully_labeled() {
        let mut replica_set = replica_set(4);
        replica_set.spec.min_ready_seconds = Some(60);
        let owner = ReplicaOwner::from_replica_set(&replica_set);
        let just_ready = pod(
            "just-ready",
            Some("rs-uid"),
            json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T11:59:30Z"}]}}),
        );
        let not_ready = pod("not-ready", Some("rs-uid"), json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}));
        let partly_labeled = pod("partly", Some("rs-uid"), json!({"metadata": {"labels": {"tier": null}}}));
        let plan = reconcile(&owner, &[owned("a"), just_ready, not_ready, partly_labeled], now());
        let status = plan.status.clone().unwrap();
        assert_eq!((status.replicas, status.fully_labeled_replicas, status.ready_replicas, status.available_replicas), (4, 3, 3, 2));
        assert_eq!(status.observed_generation, 3);
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(30)));
        let wire = serde_json::to_value(status.into_replica_set_status()).unwrap();
        assert_eq!(
            wire,
            json!({"replicas": 4, "fullyLabeledReplicas": 3, "readyReplicas": 3, "availableReplicas": 2, "terminatingReplicas": 0, "observedGeneration": 3})
        );
    }

    #[test]
    fn a_replication_controller_runs_through_the_same_logic() {
        let controller: ReplicationController = serde_json::from_value(json!({
            "metadata": {"name": "legacy", "namespace": "ns", "uid": "rc-uid", "generation": 1},
            "spec": {"replicas": 3, "selector": {"app": "web"},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
        }))
        .unwrap();
        let owner = ReplicaOwner::from_replication_controller(&controller);
        assert_eq!(owner.event_component(), "replication-controller");
        let orphan = pod("orphan", None, json!({}));
        let plan = reconcile(&owner, &[orphan], now());
        let Action::AdoptPod { patch, .. } = &plan.actions[0] else { panic!("expected an adoption") };
        assert_eq!(patch["metadata"]["ownerReferences"][0]["kind"], "ReplicationController");
        assert_eq!(patch["metadata"]["ownerReferences"][0]["apiVersion"], "v1");
        assert_eq!(created(&plan), [1, 1]);
        let Action::CreatePods { pods } = &plan.actions[1] else { panic!("expected a create") };
        assert_eq!(pods[0].metadata.generate_name.as_deref(), Some("legacy-"));
        let status = plan.status.unwrap().into_replication_controller_status();
        assert_eq!(
            serde_json::to_value(status).unwrap(),
            json!({"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 1})
        );
    }

    #[test]
    fn a_replication_controller_without_a_template_reports_failure_instead_of_creating() {
        let controller: ReplicationController = serde_json::from_value(
            json!({"metadata": {"name": "bare", "uid": "rc-uid"}, "spec": {"replicas": 1, "selector": {"app": "web"}}}),
        )
        .unwrap();
        let plan = reconcile(&ReplicaOwner::from_replication_controller(&controller), &[], now());
        assert!(plan.actions.is_empty());
        let condition = &plan.status.unwrap().conditions[0];
        assert_eq!((condition.type_.as_str(), condition.reason.as_deref()), ("ReplicaFailure", Some("FailedCreate")));
        assert_eq!(condition.message.as_deref(), Some("unable to create pods, no labels"));
    }

    #[test]
    fn a_failure_sets_the_condition_and_a_clean_sync_clears_it() {
        let owner = ReplicaOwner::from_replica_set(&replica_set(2));
        let mut plan = reconcile(&owner, &[], now());
        plan.record_failure("pods \"web-\" is forbidden: exceeded quota", now());
        let conditions = plan.status.clone().unwrap().conditions;
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].reason.as_deref(), Some("FailedCreate"));
        assert_eq!(conditions[0].last_transition_time, Some(Time(now())));

        let failing = ReplicaOwner { conditions: conditions.clone(), ..owner.clone() };
        let mut again = reconcile(&failing, &[], now() + jiff::SignedDuration::from_secs(10));
        again.record_failure("another message", now() + jiff::SignedDuration::from_secs(10));
        assert_eq!(again.status.unwrap().conditions, conditions, "an existing failure is kept as it was");

        let settled = reconcile(&failing, &[owned("a"), owned("b")], now());
        assert!(settled.status.unwrap().conditions.is_empty());
    }

    #[test]
    fn an_owner_being_deleted_only_reports_status() {
        let mut replica_set = replica_set(3);
        replica_set.metadata.deletion_timestamp = Some(Time(now()));
        let plan = reconcile(&ReplicaOwner::from_replica_set(&replica_set), &[owned("a"), pod("orphan", None, json!({}))], now());
        assert!(plan.actions.is_empty());
        assert_eq!(plan.status.unwrap().replicas, 1);
    }

    #[test]
    fn a_malformed_selector_does_nothing() {
        let mut replica_set = replica_set(3);
        replica_set.spec.selector =
            serde_json::from_value(json!({"matchExpressions": [{"key": "app", "operator": "Near", "values": ["x"]}]})).unwrap();
        assert_eq!(reconcile(&ReplicaOwner::from_replica_set(&replica_set), &[], now()), Plan::default());
    }
}
