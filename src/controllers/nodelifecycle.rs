//! Node health and taint-based eviction, as upstream's node lifecycle controller and taint-eviction controller decide
//! them: a node whose kubelet stopped heartbeating (node Lease and Ready condition) past the grace period has its
//! conditions set to Unknown and its pods marked not ready; nodes get the NoSchedule taints their conditions call for
//! and the `not-ready`/`unreachable` NoExecute taints (held back while a whole cluster or a small zone is disrupted, as
//! upstream), removed again when the node recovers; pods on a node with NoExecute taints they do not tolerate are
//! deleted, after their `tolerationSeconds` counted from when the taint was added. The default 300 s tolerations
//! (DefaultTolerationSeconds) are added to pods by the API server's pod admission, not here.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, ObjectReference, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

/// Taint for a node whose Ready condition is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// Taint for a node whose Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
const LABEL_EXCLUDE_DISRUPTION: &str = "node.kubernetes.io/exclude-disruption";

/// The conditions upstream turns Unknown when the kubelet goes silent (NetworkUnavailable is left alone: the control
/// plane's network provider owns it).
const HEARTBEAT_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Upstream `nodeConditionToTaintKeyStatusMap`: the NoSchedule taint each condition status calls for.
const CONDITION_TAINTS: [(&str, &str, &str); 6] = [
    ("Ready", "False", TAINT_NOT_READY),
    ("Ready", "Unknown", TAINT_UNREACHABLE),
    ("MemoryPressure", "True", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "True", "node.kubernetes.io/disk-pressure"),
    ("NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable"),
    ("PIDPressure", "True", "node.kubernetes.io/pid-pressure"),
];

/// The node lifecycle controller's settings (kube-controller-manager flags).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeLifecycleConfig {
    /// `--node-monitor-grace-period`: how long a node may go without heartbeat before it is Unknown.
    pub grace_period: SignedDuration,
    /// `--node-startup-grace-period`: the same for a node whose kubelet never posted a Ready condition.
    pub startup_grace_period: SignedDuration,
    /// `--unhealthy-zone-threshold`: the share of not-ready nodes (more than 2) that makes a zone partially disrupted.
    pub unhealthy_zone_threshold: f32,
    /// `--large-cluster-size-threshold`: zones up to this size stop getting NoExecute taints while partially
    /// disrupted (larger ones get them at a reduced rate upstream, here without rate limit).
    pub large_cluster_threshold: usize,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        NodeLifecycleConfig {
            grace_period: SignedDuration::from_secs(40),
            startup_grace_period: SignedDuration::from_secs(60),
            unhealthy_zone_threshold: 0.55,
            large_cluster_threshold: 50,
        }
    }
}

/// An Event for the glue to record (source component `node-controller`, or `taint-eviction-controller` for
/// `TaintManagerEviction`).
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleEvent {
    pub regarding: ObjectReference,
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    pub reason: &'static str,
    pub message: String,
}

/// Taints to add to and remove from one node (upstream `SwapNodeControllerTaint`); apply to the freshest copy of the
/// node with `apply_taint_change` and retry on conflict.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTaintChange {
    pub node_name: String,
    /// New taints, `timeAdded` set.
    pub add: Vec<Taint>,
    /// Taints to drop (matched by key and effect).
    pub remove: Vec<Taint>,
}

/// A pod whose Ready condition turns False because its node went silent (upstream `MarkPodsNotReady`).
#[derive(Debug, Clone, PartialEq)]
pub struct PodNotReady {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// Strategic merge patch for the pod's status subresource (carries the uid as precondition).
    pub status_patch: serde_json::Value,
    /// Warning `NodeNotReady` `Node is not ready`, recorded after the patch succeeds.
    pub event: LifecycleEvent,
}

/// Everything one health pass over the nodes asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeHealthPlan {
    /// Nodes with their conditions turned Unknown, to write with a status update (replace of the status subresource).
    pub status_updates: Vec<Node>,
    /// Taint changes per node.
    pub taint_changes: Vec<NodeTaintChange>,
    /// Pods to mark not ready.
    pub pods_not_ready: Vec<PodNotReady>,
    /// Node events (`NodeNotReady` when a node stops being Ready because it went silent).
    pub events: Vec<LifecycleEvent>,
    /// When a node that is healthy now runs out of grace: run the pass again then (upstream polls every 5 s).
    pub next_check: Option<Timestamp>,
}

/// Upstream `monitorNodeHealth` + `doNoScheduleTaintingPass` + `doNoExecuteTaintingPass` as one level-based pass over
/// all `nodes`, their `leases` (any namespace given; only `kube-node-lease` counts) and the `pods` bound to them.
pub fn monitor_node_health(config: &NodeLifecycleConfig, nodes: &[Node], leases: &[Lease], pods: &[Pod], now: Timestamp) -> NodeHealthPlan {
    let mut plan = NodeHealthPlan::default();
    let renewals: HashMap<&str, Timestamp> = leases
        .iter()
        .filter(|lease| lease.metadata.namespace.as_deref() == Some(NODE_LEASE_NAMESPACE))
        .filter_map(|lease| {
            let renewed = lease.spec.as_ref()?.renew_time.as_ref()?.0;
            Some((lease.metadata.name.as_deref()?, renewed))
        })
        .collect();
    let mut pods_by_node: HashMap<&str, Vec<&Pod>> = HashMap::new();
    for pod in pods {
        if let Some(node_name) = pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()).filter(|name| !name.is_empty()) {
            pods_by_node.entry(node_name).or_default().push(pod);
        }
    }

    // First the conditions, since zones and taints follow from what they are after this pass.
    let mut checked: Vec<(&Node, Vec<NodeCondition>)> = Vec::with_capacity(nodes.len());
    for node in nodes {
        let name = node.metadata.name.as_deref().unwrap_or("");
        let conditions = node.status.as_ref().and_then(|status| status.conditions.clone()).unwrap_or_default();
        let ready_before = condition_status(&conditions, "Ready").map(str::to_string);
        let heartbeat = latest_heartbeat(node, &conditions, renewals.get(name).copied());
        let grace = if ready_before.is_some() { config.grace_period } else { config.startup_grace_period };
        let Some(deadline) = heartbeat.map(|heartbeat| heartbeat + grace) else {
            checked.push((node, conditions));
            continue;
        };
        if now < deadline {
            plan.next_check = Some(plan.next_check.map_or(deadline, |next| next.min(deadline)));
            checked.push((node, conditions));
            continue;
        }
        let updated = silent_node_conditions(node, &conditions, now);
        let ready_after = condition_status(&updated, "Ready").map(str::to_string);
        if ready_after != ready_before {
            let mut written = node.clone();
            written.status.get_or_insert_with(Default::default).conditions = Some(updated.clone());
            plan.status_updates.push(written);
            if ready_before.as_deref() == Some("True") {
                plan.events.push(node_status_event(node, "NodeNotReady"));
            }
        }
        if ready_after.as_deref() == Some("Unknown") {
            let on_node = pods_by_node.get(name).map(Vec::as_slice).unwrap_or_default();
            plan.pods_not_ready.extend(on_node.iter().filter_map(|pod| mark_not_ready(pod, now)));
        }
        checked.push((node, updated));
    }

    let zones = ZoneHealth::of(config, &checked);
    for (node, conditions) in &checked {
        if let Some(change) = taint_change(node, conditions, &zones, now) {
            plan.taint_changes.push(change);
        }
    }
    plan
}

fn condition_status<'a>(conditions: &'a [NodeCondition], type_: &str) -> Option<&'a str> {
    conditions.iter().find(|condition| condition.type_ == type_).map(|condition| condition.status.as_str())
}

/// The latest sign of life: the node Lease's renewal or the Ready condition's heartbeat; for a node that never posted
/// a Ready condition, its creation stands in for the heartbeat (with the startup grace period).
fn latest_heartbeat(node: &Node, conditions: &[NodeCondition], lease_renewed: Option<Timestamp>) -> Option<Timestamp> {
    let ready = conditions.iter().find(|condition| condition.type_ == "Ready");
    let status_heartbeat =
        ready.and_then(|ready| ready.last_heartbeat_time.as_ref()).or(node.metadata.creation_timestamp.as_ref()).map(|time| time.0);
    match (status_heartbeat, lease_renewed) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Upstream `tryUpdateNodeHealth` past the grace period: every heartbeat condition becomes Unknown.
fn silent_node_conditions(node: &Node, conditions: &[NodeCondition], now: Timestamp) -> Vec<NodeCondition> {
    let mut updated = conditions.to_vec();
    let now = time_at(now);
    for type_ in HEARTBEAT_CONDITIONS {
        match updated.iter_mut().find(|condition| condition.type_ == type_) {
            None => updated.push(NodeCondition {
                type_: type_.to_string(),
                status: "Unknown".to_string(),
                reason: Some("NodeStatusNeverUpdated".to_string()),
                message: Some("Kubelet never posted node status.".to_string()),
                last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                last_transition_time: Some(now.clone()),
            }),
            Some(condition) if condition.status != "Unknown" => {
                condition.status = "Unknown".to_string();
                condition.reason = Some("NodeStatusUnknown".to_string());
                condition.message = Some("Kubelet stopped posting node status.".to_string());
                condition.last_transition_time = Some(now.clone());
            }
            Some(_) => {}
        }
    }
    updated
}

fn mark_not_ready(pod: &Pod, now: Timestamp) -> Option<PodNotReady> {
    let ready = pod.status.as_ref()?.conditions.as_ref()?.iter().find(|condition| condition.type_ == "Ready")?;
    if ready.status == "False" {
        return None;
    }
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let status_patch = json!({
        "metadata": {"uid": uid},
        "status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": time_at(now)}]},
    });
    Some(PodNotReady {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid,
        status_patch,
        event: LifecycleEvent {
            regarding: pod_reference(pod),
            type_: "Warning",
            reason: "NodeNotReady",
            message: "Node is not ready".to_string(),
        },
    })
}

/// Upstream's disruption states per zone, from the Ready conditions after this pass.
struct ZoneHealth {
    /// Small zones partially disrupted: upstream's NoExecute tainting rate is zero there.
    held_zones: HashSet<String>,
    /// Every zone has no ready node: upstream then takes the NoExecute taints off all nodes and adds none, reading
    /// the outage as the control plane's rather than the nodes'.
    all_fully_disrupted: bool,
}

impl ZoneHealth {
    /// Upstream `ComputeZoneState`: no ready node is a full disruption; more than 2 not-ready nodes making at least
    /// the unhealthy threshold is a partial one.
    fn of(config: &NodeLifecycleConfig, nodes: &[(&Node, Vec<NodeCondition>)]) -> Self {
        let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
        for (node, conditions) in nodes {
            if node.metadata.labels.as_ref().is_some_and(|labels| labels.contains_key(LABEL_EXCLUDE_DISRUPTION)) {
                continue;
            }
            let (ready, not_ready) = counts.entry(zone_key(node)).or_default();
            if condition_status(conditions, "Ready") == Some("True") {
                *ready += 1;
            } else {
                *not_ready += 1;
            }
        }
        let all_fully_disrupted = !counts.is_empty() && counts.values().all(|(ready, _)| *ready == 0);
        let held_zones = counts
            .into_iter()
            .filter(|(_, (ready, not_ready))| {
                let size = ready + not_ready;
                *ready > 0
                    && *not_ready > 2
                    && *not_ready as f32 / size as f32 >= config.unhealthy_zone_threshold
                    && size <= config.large_cluster_threshold
            })
            .map(|(zone, _)| zone)
            .collect();
        ZoneHealth { held_zones, all_fully_disrupted }
    }

    /// Whether new NoExecute taints may go on nodes of this zone.
    fn may_add_no_execute(&self, zone: &str) -> bool {
        !self.all_fully_disrupted && !self.held_zones.contains(zone)
    }
}

/// Upstream `GetZoneKey`: region and zone labels (stable, else beta), empty when neither is set.
fn zone_key(node: &Node) -> String {
    let labels = node.metadata.labels.as_ref();
    let label =
        |stable: &str, beta: &str| labels.and_then(|labels| labels.get(stable).or_else(|| labels.get(beta))).cloned().unwrap_or_default();
    let region = label("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region");
    let zone = label("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone");
    if region.is_empty() && zone.is_empty() {
        String::new()
    } else {
        format!("{region}:\u{0}:{zone}")
    }
}

/// The taints the node's conditions call for against the controller-managed taints it has.
fn taint_change(node: &Node, conditions: &[NodeCondition], zones: &ZoneHealth, now: Timestamp) -> Option<NodeTaintChange> {
    let taints = node.spec.as_ref().and_then(|spec| spec.taints.as_deref()).unwrap_or_default();
    let has = |key: &str, effect: &str| taints.iter().any(|taint| taint.key == key && taint.effect == effect);
    let mut add = BTreeSet::new();
    let mut remove = BTreeSet::new();

    // NoSchedule: exactly the condition taints plus `unschedulable` when the node is cordoned.
    let mut wanted: BTreeSet<&str> = CONDITION_TAINTS
        .iter()
        .filter(|(type_, status, _)| condition_status(conditions, type_) == Some(*status))
        .map(|(_, _, key)| *key)
        .collect();
    if node.spec.as_ref().and_then(|spec| spec.unschedulable).unwrap_or(false) {
        wanted.insert(TAINT_UNSCHEDULABLE);
    }
    let managed = |key: &str| key == TAINT_UNSCHEDULABLE || CONDITION_TAINTS.iter().any(|(_, _, managed)| *managed == key);
    for taint in taints.iter().filter(|taint| taint.effect == "NoSchedule" && managed(&taint.key)) {
        if !wanted.contains(taint.key.as_str()) {
            remove.insert((taint.key.clone(), "NoSchedule"));
        }
    }
    for key in wanted.into_iter().filter(|key| !has(key, "NoSchedule")) {
        add.insert((key.to_string(), "NoSchedule"));
    }

    // NoExecute: `not-ready` and `unreachable` mirror the Ready condition and exclude each other.
    let zone = zone_key(node);
    let (wanted, opposite) = match condition_status(conditions, "Ready") {
        Some("False") => (Some(TAINT_NOT_READY), TAINT_UNREACHABLE),
        Some("Unknown") => (Some(TAINT_UNREACHABLE), TAINT_NOT_READY),
        Some("True") => (None, ""),
        _ => return finish(node, add, remove, now),
    };
    for key in [TAINT_NOT_READY, TAINT_UNREACHABLE] {
        if has(key, "NoExecute") && (wanted != Some(key) || zones.all_fully_disrupted) {
            remove.insert((key.to_string(), "NoExecute"));
        }
    }
    if let Some(key) = wanted.filter(|key| !has(key, "NoExecute") && !zones.all_fully_disrupted) {
        // Swapping `not-ready` for `unreachable` (or back) is immediate; a fresh taint waits for the zone to allow it.
        if has(opposite, "NoExecute") || zones.may_add_no_execute(&zone) {
            add.insert((key.to_string(), "NoExecute"));
        }
    }
    finish(node, add, remove, now)
}

fn finish(node: &Node, add: BTreeSet<(String, &str)>, remove: BTreeSet<(String, &str)>, now: Timestamp) -> Option<NodeTaintChange> {
    if add.is_empty() && remove.is_empty() {
        return None;
    }
    let taint =
        |(key, effect): (String, &str), time_added: Option<Time>| Taint { key, effect: effect.to_string(), value: None, time_added };
    Some(NodeTaintChange {
        node_name: node.metadata.name.clone().unwrap_or_default(),
        add: add.into_iter().map(|entry| taint(entry, Some(time_at(now)))).collect(),
        remove: remove.into_iter().map(|entry| taint(entry, None)).collect(),
    })
}

/// The node's taints after `change` (upstream `AddOrUpdateTaintOnNode` then `RemoveTaintOffNode`), or None when
/// they stay as they are.
pub fn apply_taint_change(taints: &[Taint], change: &NodeTaintChange) -> Option<Vec<Taint>> {
    let matches = |a: &Taint, b: &Taint| a.key == b.key && a.effect == b.effect;
    let mut result: Vec<Taint> = taints.iter().filter(|taint| !change.remove.iter().any(|gone| matches(gone, taint))).cloned().collect();
    for taint in &change.add {
        match result.iter_mut().find(|existing| matches(existing, taint)) {
            Some(existing) if existing.value == taint.value => {}
            Some(existing) => *existing = taint.clone(),
            None => result.push(taint.clone()),
        }
    }
    (result != taints).then_some(result)
}

/// Upstream `RecordNodeStatusChange`.
fn node_status_event(node: &Node, status: &'static str) -> LifecycleEvent {
    let name = node.metadata.name.clone().unwrap_or_default();
    LifecycleEvent {
        regarding: node_reference(node),
        type_: "Normal",
        reason: status,
        message: format!("Node {name} status is now: {status}"),
    }
}

/// Upstream's `RegisteredNode` Event, for a node the controller sees for the first time.
pub fn registered_node_event(node: &Node) -> LifecycleEvent {
    let name = node.metadata.name.clone().unwrap_or_default();
    LifecycleEvent {
        regarding: node_reference(node),
        type_: "Normal",
        reason: "RegisteredNode",
        message: format!("Node {name} event: Registered Node {name} in Controller"),
    }
}

/// Upstream's `RemovingNode` Event, for a node that disappeared.
pub fn removing_node_event(node: &Node) -> LifecycleEvent {
    let name = node.metadata.name.clone().unwrap_or_default();
    LifecycleEvent {
        regarding: node_reference(node),
        type_: "Normal",
        reason: "RemovingNode",
        message: format!("Node {name} event: Removing Node {name} from Controller"),
    }
}

fn node_reference(node: &Node) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_string()),
        kind: Some("Node".to_string()),
        name: node.metadata.name.clone(),
        uid: node.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}

fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_string()),
        kind: Some("Pod".to_string()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}

/// API times carry whole seconds; writing `now` the same way keeps what is written equal to what is read back.
fn time_at(now: Timestamp) -> Time {
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

// ---------------------------------------------------------------------------------------------------------------
// Taint-based eviction
// ---------------------------------------------------------------------------------------------------------------

/// When NoExecute taints without `timeAdded` were first seen, so that `tolerationSeconds` runs from then (upstream
/// counts from when its taint manager saw the taint). The glue keeps one across passes; it holds one entry per such
/// taint on the nodes of the last pass.
#[derive(Debug, Clone, Default)]
pub struct UntimedTaintClock {
    first_seen: HashMap<String, BTreeMap<(String, Option<String>), Timestamp>>,
}

impl UntimedTaintClock {
    /// Records the untimed NoExecute taints of `nodes` first seen now and forgets taints and nodes that are gone.
    fn observe(&mut self, nodes: &[Node], now: Timestamp) {
        let mut seen = HashMap::new();
        for node in nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let previous = self.first_seen.remove(&name).unwrap_or_default();
            let current: BTreeMap<(String, Option<String>), Timestamp> = no_execute_taints(node)
                .filter(|taint| taint.time_added.is_none())
                .map(|taint| {
                    let key = (taint.key.clone(), taint.value.clone());
                    let since = previous.get(&key).copied().unwrap_or(now);
                    (key, since)
                })
                .collect();
            if !current.is_empty() {
                seen.insert(name, current);
            }
        }
        self.first_seen = seen;
    }

    fn since(&self, node_name: &str, taint: &Taint) -> Option<Timestamp> {
        self.first_seen.get(node_name)?.get(&(taint.key.clone(), taint.value.clone())).copied()
    }
}

fn no_execute_taints(node: &Node) -> impl Iterator<Item = &Taint> {
    node.spec.as_ref().and_then(|spec| spec.taints.as_deref()).unwrap_or_default().iter().filter(|taint| taint.effect == "NoExecute")
}

/// A pod the taint-eviction controller deletes now.
#[derive(Debug, Clone, PartialEq)]
pub struct PodEviction {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// Strategic merge patch for the status subresource adding the `DisruptionTarget` condition (reason
    /// `DeletionByTaintManager`), applied before the delete (normal grace period).
    pub status_patch: serde_json::Value,
    /// Normal `TaintManagerEviction` `Marking for deletion Pod <ns>/<name>`.
    pub event: LifecycleEvent,
}

/// A pod whose deletion is due later, when its toleration runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledEviction {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub at: Timestamp,
}

/// What the taint-eviction controller does in one pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvictionPlan {
    pub evictions: Vec<PodEviction>,
    /// Deletions still waiting; a pod that leaves this list without being evicted had its deletion cancelled
    /// (see `cancelled_eviction_event`).
    pub scheduled: Vec<ScheduledEviction>,
    /// The earliest scheduled deletion: run the pass again then.
    pub next_check: Option<Timestamp>,
}

/// Upstream taint-eviction controller over all `nodes` and the `pods` bound to them: a pod that does not tolerate
/// every NoExecute taint of its node is deleted now; otherwise the earliest expiry among the tolerations it uses
/// (`timeAdded` of the taint, or when it was first seen, plus `tolerationSeconds`; no seconds: forever) is when.
/// Pods already being deleted are left alone.
pub fn plan_taint_evictions(nodes: &[Node], pods: &[Pod], clock: &mut UntimedTaintClock, now: Timestamp) -> EvictionPlan {
    clock.observe(nodes, now);
    let tainted: HashMap<&str, (&Node, Vec<&Taint>)> = nodes
        .iter()
        .filter_map(|node| {
            let taints: Vec<&Taint> = no_execute_taints(node).collect();
            (!taints.is_empty()).then(|| (node.metadata.name.as_deref().unwrap_or(""), (node, taints)))
        })
        .collect();
    let mut plan = EvictionPlan::default();
    for pod in pods.iter().filter(|pod| pod.metadata.deletion_timestamp.is_none()) {
        let Some(node_name) = pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()) else { continue };
        let Some((node, taints)) = tainted.get(node_name) else { continue };
        let tolerations = pod.spec.as_ref().and_then(|spec| spec.tolerations.as_deref()).unwrap_or_default();
        let Some(due) = eviction_time(node, taints, tolerations, clock, now) else { continue };
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if due <= now {
            plan.evictions.push(PodEviction {
                status_patch: json!({
                    "metadata": {"uid": uid},
                    "status": {"conditions": [{
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "DeletionByTaintManager",
                        "message": "Taint manager: deleting due to NoExecute taint",
                        "lastTransitionTime": time_at(now),
                    }]},
                }),
                event: LifecycleEvent {
                    regarding: pod_reference(pod),
                    type_: "Normal",
                    reason: "TaintManagerEviction",
                    message: format!("Marking for deletion Pod {namespace}/{name}"),
                },
                namespace,
                name,
                uid,
            });
        } else {
            plan.next_check = Some(plan.next_check.map_or(due, |next| next.min(due)));
            plan.scheduled.push(ScheduledEviction { namespace, name, uid, at: due });
        }
    }
    plan
}

/// Upstream's Event when a scheduled deletion is called off (taint gone, toleration added, pod moved).
pub fn cancelled_eviction_event(namespace: &str, name: &str) -> LifecycleEvent {
    LifecycleEvent {
        regarding: ObjectReference {
            api_version: Some("v1".to_string()),
            kind: Some("Pod".to_string()),
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            ..ObjectReference::default()
        },
        type_: "Normal",
        reason: "TaintManagerEviction",
        message: format!("Cancelling deletion of Pod {namespace}/{name}"),
    }
}

/// When the pod must go, or None if it tolerates every taint forever.
fn eviction_time(
    node: &Node,
    taints: &[&Taint],
    tolerations: &[Toleration],
    clock: &UntimedTaintClock,
    now: Timestamp,
) -> Option<Timestamp> {
    let node_name = node.metadata.name.as_deref().unwrap_or("");
    let mut due: Option<Timestamp> = None;
    for taint in taints {
        let Some(toleration) = tolerations.iter().find(|toleration| tolerates(toleration, taint)) else { return Some(now) };
        let Some(seconds) = toleration.toleration_seconds else { continue };
        let added = taint.time_added.as_ref().map(|time| time.0).or_else(|| clock.since(node_name, taint)).unwrap_or(now);
        let at = added + SignedDuration::from_secs(seconds.max(0));
        due = Some(due.map_or(at, |due| due.min(at)));
    }
    due
}

/// Upstream `Toleration.ToleratesTaint`: empty effect or key match any; `Exists` ignores the value, `Equal` (the
/// default) compares it.
fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    let key = toleration.key.as_deref().unwrap_or("");
    if (!effect.is_empty() && effect != taint.effect) || (!key.is_empty() && key != taint.key) {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
    use serde_json::Value;

    const T0: &str = "2024-01-01T00:00:00Z";

    fn at(seconds: i64) -> Timestamp {
        T0.parse::<Timestamp>().expect("time") + SignedDuration::from_secs(seconds)
    }

    fn stamp(seconds: i64) -> Value {
        json!(Time(at(seconds)))
    }

    /// A node whose kubelet last posted `ready` at `heartbeat` (seconds after T0).
    fn node(name: &str, ready: &str, heartbeat: i64, taints: Value) -> Node {
        let condition = |type_: &str, status: &str| {
            json!({"type": type_, "status": status, "reason": "KubeletSays", "message": "kubelet",
                   "lastHeartbeatTime": stamp(heartbeat), "lastTransitionTime": stamp(0)})
        };
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": format!("uid-{name}"), "creationTimestamp": stamp(-3600)},
            "spec": {"taints": taints},
            "status": {"conditions": [
                condition("Ready", ready), condition("MemoryPressure", "False"), condition("DiskPressure", "False"),
                condition("PIDPressure", "False"), condition("NetworkUnavailable", "False"),
            ]},
        }))
        .expect("node")
    }

    fn lease(name: &str, renewed: i64) -> Lease {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "renewTime": MicroTime(at(renewed))},
        }))
        .expect("lease")
    }

    fn pod(name: &str, node: &str, tolerations: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}], "tolerations": tolerations},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": stamp(0)}]},
        }))
        .expect("pod")
    }

    fn taint(key: &str, effect: &str, added: Option<i64>) -> Value {
        match added {
            Some(seconds) => json!({"key": key, "effect": effect, "timeAdded": stamp(seconds)}),
            None => json!({"key": key, "effect": effect}),
        }
    }

    fn keys(taints: &[Taint]) -> Vec<(&str, &str)> {
        taints.iter().map(|taint| (taint.key.as_str(), taint.effect.as_str())).collect()
    }

    fn condition<'a>(node: &'a Node, type_: &str) -> &'a NodeCondition {
        node.status
            .as_ref()
            .and_then(|status| status.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == type_))
            .expect("condition")
    }

    #[test]
    fn a_node_heartbeating_in_time_is_left_alone_until_its_grace_runs_out() {
        let nodes = [node("a", "True", 100, json!([]))];
        let plan = monitor_node_health(&NodeLifecycleConfig::default(), &nodes, &[lease("a", 110)], &[], at(120));
        assert_eq!(plan, NodeHealthPlan { next_check: Some(at(150)), ..NodeHealthPlan::default() });
    }

    #[test]
    fn a_silent_node_turns_unknown_is_tainted_unreachable_and_its_pods_not_ready() {
        let nodes = [node("a", "True", 0, json!([])), node("b", "True", 100, json!([]))];
        let pods = [pod("web", "a", json!([])), pod("other", "b", json!([]))];
        let plan = monitor_node_health(&NodeLifecycleConfig::default(), &nodes, &[lease("a", 5), lease("b", 100)], &pods, at(46));

        assert_eq!(plan.status_updates.len(), 1);
        let updated = &plan.status_updates[0];
        for type_ in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
            let condition = condition(updated, type_);
            assert_eq!(condition.status, "Unknown", "{type_}");
            assert_eq!(condition.reason.as_deref(), Some("NodeStatusUnknown"));
            assert_eq!(condition.message.as_deref(), Some("Kubelet stopped posting node status."));
            assert_eq!(condition.last_transition_time, Some(Time(at(46))));
            assert_eq!(condition.last_heartbeat_time, Some(Time(at(0))), "the last heartbeat stays what the kubelet wrote");
        }
        assert_eq!(condition(updated, "NetworkUnavailable").status, "False");

        assert_eq!(plan.taint_changes.len(), 1);
        let change = &plan.taint_changes[0];
        assert_eq!(change.node_name, "a");
        assert_eq!(keys(&change.add), vec![(TAINT_UNREACHABLE, "NoExecute"), (TAINT_UNREACHABLE, "NoSchedule")]);
        assert!(change.add.iter().all(|taint| taint.time_added == Some(Time(at(46)))));
        assert!(change.remove.is_empty());

        assert_eq!(plan.events.len(), 1);
        assert_eq!((plan.events[0].reason, plan.events[0].message.as_str()), ("NodeNotReady", "Node a status is now: NodeNotReady"));
        assert_eq!(plan.pods_not_ready.len(), 1);
        let marked = &plan.pods_not_ready[0];
        assert_eq!(
            (marked.name.as_str(), marked.event.type_, marked.event.reason, marked.event.message.as_str()),
            ("web", "Warning", "NodeNotReady", "Node is not ready")
        );
        assert_eq!(marked.status_patch["status"]["conditions"][0]["status"], "False");
        assert_eq!(marked.status_patch["metadata"]["uid"], "uid-web");
        assert_eq!(plan.next_check, Some(at(140)));
    }

    #[test]
    fn a_renewed_lease_keeps_a_node_with_old_status_healthy() {
        let nodes = [node("a", "True", 0, json!([]))];
        let plan = monitor_node_health(&NodeLifecycleConfig::default(), &nodes, &[lease("a", 590)], &[], at(600));
        assert!(plan.status_updates.is_empty() && plan.taint_changes.is_empty());
        let elsewhere =
            Lease { metadata: ObjectMeta { namespace: Some("default".to_string()), ..lease("a", 590).metadata }, ..lease("a", 590) };
        let plan = monitor_node_health(&NodeLifecycleConfig::default(), &nodes, &[elsewhere], &[], at(600));
        assert_eq!(plan.status_updates.len(), 1, "only leases in kube-node-lease count");
    }

    #[test]
    fn a_configured_grace_period_is_used() {
        let config = NodeLifecycleConfig { grace_period: SignedDuration::from_secs(10), ..NodeLifecycleConfig::default() };
        let nodes = [node("a", "True", 0, json!([]))];
        assert_eq!(monitor_node_health(&config, &nodes, &[], &[], at(9)).status_updates.len(), 0);
        assert_eq!(monitor_node_health(&config, &nodes, &[], &[], at(10)).status_updates.len(), 1);
    }

    #[test]
    fn when_every_node_is_down_no_node_gets_no_execute_taints() {
        let nodes = [node("a", "True", 0, json!([taint(TAINT_NOT_READY, "NoExecute", Some(0))]))];
        let plan = monitor_node_health(&NodeLifecycleConfig::default(), &nodes, &[], &[], at(100));
        let change = &plan.taint_changes[0];
        assert_eq!(keys(&change.add), vec![(TAINT_UNREACHABLE, "NoSchedule")]);
        assert_eq!(keys(&change.remove), vec![(TAINT_NOT_READY, "NoExecute")]);
    }

    #[test]
    fn a_small_zone_mostly_down_gets_no_new_no_execute_taints() {
        let nodes: Vec<Node> = (0..4).map(|i| node(&format!("n{i}"), "True", if i == 0 { 100 } else { 0 }, json!([]))).collect();
        let plan = monitor_node_health(&NodeLifecycleConfig::default(), &nodes, &[], &[], at(100));
        assert_eq!(plan.taint_changes.len(), 3);
        assert!(plan.taint_changes.iter().all(|change| keys(&change.add) == vec![(TAINT_UNREACHABLE, "NoSchedule")]));
    }

    #[test]
    fn a_node_reporting_not_ready_is_tainted_not_ready() {
        let nodes = [node("a", "False", 100, json!([])), node("b", "True", 100, json!([]))];
        let plan = monitor_node_health(&NodeLifecycleConfig::default(), &nodes, &[], &[pod("web", "a", json!([]))], at(110));
        assert!(plan.status_updates.is_empty() && plan.pods_not_ready.is_empty(), "the kubelet is alive and owns its status");
        assert_eq!(keys(&plan.taint_changes[0].add), vec![(TAINT_NOT_READY, "NoExecute"), (TAINT_NOT_READY, "NoSchedule")]);
    }

    #[test]
    fn not_ready_and_unreachable_swap_at_once() {
        let nodes = [
            node(
                "a",
                "False",
                100,
                json!([taint(TAINT_UNREACHABLE, "NoExecute", Some(0)), taint(TAINT_UNREACHABLE, "NoSchedule", Some(0))]),
            ),
            node("b", "False", 100, json!([])),
            node("c", "False", 100, json!([])),
            node("d", "True", 100, json!([])),
        ];
        let plan = monitor_node_health(&NodeLifecycleConfig::default(), &nodes, &[], &[], at(110));
        let change = plan.taint_changes.iter().find(|change| change.node_name == "a").expect("change for a");
        assert_eq!(keys(&change.add), vec![(TAINT_NOT_READY, "NoExecute"), (TAINT_NOT_READY, "NoSchedule")]);
        assert_eq!(keys(&change.remove), vec![(TAINT_UNREACHABLE, "NoExecute"), (TAINT_UNREACHABLE, "NoSchedule")]);
        let fresh = plan.taint_changes.iter().find(|change| change.node_name == "b").expect("change for b");
        assert_eq!(keys(&fresh.add), vec![(TAINT_NOT_READY, "NoSchedule")], "the zone is mostly down: no fresh NoExecute");
    }

    #[test]
    fn a_recovered_node_loses_its_taints() {
        let taints = json!([taint(TAINT_UNREACHABLE, "NoExecute", Some(0)), taint(TAINT_UNREACHABLE, "NoSchedule", Some(0)),
                            {"key": "dedicated", "value": "db", "effect": "NoSchedule"}]);
        let nodes = [node("a", "True", 100, taints)];
        let plan = monitor_node_health(&NodeLifecycleConfig::default(), &nodes, &[], &[], at(110));
        let change = &plan.taint_changes[0];
        assert!(change.add.is_empty());
        assert_eq!(keys(&change.remove), vec![(TAINT_UNREACHABLE, "NoExecute"), (TAINT_UNREACHABLE, "NoSchedule")]);
        let remaining = apply_taint_change(nodes[0].spec.as_ref().and_then(|spec| spec.taints.as_deref()).unwrap_or_default(), change);
        assert_eq!(keys(&remaining.expect("changed")), vec![("dedicated", "NoSchedule")]);
    }

    #[test]
    fn cordoned_and_pressured_nodes_get_their_no_schedule_taints() {
        let mut cordoned = node("a", "True", 100, json!([]));
        cordoned.spec.as_mut().expect("spec").unschedulable = Some(true);
        if let Some(conditions) = cordoned.status.as_mut().and_then(|status| status.conditions.as_mut()) {
            conditions[1].status = "True".to_string();
        }
        let plan = monitor_node_health(&NodeLifecycleConfig::default(), &[cordoned], &[], &[], at(110));
        assert_eq!(
            keys(&plan.taint_changes[0].add),
            vec![("node.kubernetes.io/memory-pressure", "NoSchedule"), (TAINT_UNSCHEDULABLE, "NoSchedule")]
        );
    }

    #[test]
    fn a_node_that_never_posted_status_gets_the_startup_grace_then_unknown_conditions() {
        let fresh: Node = serde_json::from_value(json!({"metadata": {"name": "new", "creationTimestamp": stamp(0)}})).expect("node");
        let healthy = node("b", "True", 100, json!([]));
        let nodes = [fresh, healthy];
        let plan = monitor_node_health(&NodeLifecycleConfig::default(), &nodes, &[], &[], at(59));
        assert!(plan.status_updates.is_empty());
        assert_eq!(plan.next_check, Some(at(60)));
        let plan = monitor_node_health(&NodeLifecycleConfig::default(), &nodes, &[], &[], at(61));
        let ready = condition(&plan.status_updates[0], "Ready");
        assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("Unknown", Some("NodeStatusNeverUpdated")));
        assert_eq!(ready.message.as_deref(), Some("Kubelet never posted node status."));
        assert!(plan.events.is_empty(), "it never was Ready");
    }

    #[test]
    fn applying_a_taint_change_twice_changes_nothing_the_second_time() {
        let change = NodeTaintChange {
            node_name: "a".to_string(),
            add: vec![Taint {
                key: TAINT_UNREACHABLE.to_string(),
                effect: "NoExecute".to_string(),
                value: None,
                time_added: Some(Time(at(1))),
            }],
            remove: vec![Taint { key: TAINT_NOT_READY.to_string(), effect: "NoExecute".to_string(), value: None, time_added: None }],
        };
        let start: Vec<Taint> = serde_json::from_value(json!([taint(TAINT_NOT_READY, "NoExecute", Some(0))])).expect("taints");
        let once = apply_taint_change(&start, &change).expect("changed");
        assert_eq!(keys(&once), vec![(TAINT_UNREACHABLE, "NoExecute")]);
        assert_eq!(apply_taint_change(&once, &change), None);
    }

    // --- taint-based eviction ---

    fn tainted(name: &str, taints: Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"taints": taints}})).expect("node")
    }

    fn default_tolerations(seconds: i64) -> Value {
        json!([
            {"key": TAINT_NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds},
            {"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds},
        ])
    }

    #[test]
    fn pods_that_do_not_tolerate_a_no_execute_taint_are_evicted_at_once() {
        let nodes = [tainted("a", json!([taint(TAINT_UNREACHABLE, "NoExecute", Some(0))])), tainted("b", json!([]))];
        let pods = [pod("web", "a", json!([])), pod("safe", "b", json!([]))];
        let plan = plan_taint_evictions(&nodes, &pods, &mut UntimedTaintClock::default(), at(1));
        assert_eq!(plan.evictions.len(), 1);
        let eviction = &plan.evictions[0];
        assert_eq!((eviction.namespace.as_str(), eviction.name.as_str(), eviction.uid.as_str()), ("default", "web", "uid-web"));
        assert_eq!(
            (eviction.event.reason, eviction.event.message.as_str()),
            ("TaintManagerEviction", "Marking for deletion Pod default/web")
        );
        let condition = &eviction.status_patch["status"]["conditions"][0];
        assert_eq!((condition["type"].as_str(), condition["reason"].as_str()), (Some("DisruptionTarget"), Some("DeletionByTaintManager")));
        assert!(plan.scheduled.is_empty());
    }

    #[test]
    fn toleration_seconds_count_from_when_the_taint_was_added() {
        let nodes = [tainted("a", json!([taint(TAINT_UNREACHABLE, "NoExecute", Some(100))]))];
        let pods = [pod("web", "a", default_tolerations(300))];
        let mut clock = UntimedTaintClock::default();
        let plan = plan_taint_evictions(&nodes, &pods, &mut clock, at(200));
        assert!(plan.evictions.is_empty());
        assert_eq!(plan.scheduled.iter().map(|s| (s.name.as_str(), s.at)).collect::<Vec<_>>(), vec![("web", at(400))]);
        assert_eq!(plan.next_check, Some(at(400)));
        assert!(plan_taint_evictions(&nodes, &pods, &mut clock, at(399)).evictions.is_empty());
        assert_eq!(plan_taint_evictions(&nodes, &pods, &mut clock, at(400)).evictions.len(), 1);
    }

    #[test]
    fn tolerations_without_seconds_tolerate_forever_and_the_shortest_toleration_wins() {
        let nodes = [tainted(
            "a",
            json!([taint(TAINT_UNREACHABLE, "NoExecute", Some(0)), {"key": "maintenance", "value": "yes", "effect": "NoExecute", "timeAdded": stamp(50)}]),
        )];
        let forever = pod("forever", "a", json!([{"operator": "Exists"}]));
        let mixed = pod(
            "mixed",
            "a",
            json!([
                {"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 600},
                {"key": "maintenance", "operator": "Equal", "value": "yes", "tolerationSeconds": 60},
            ]),
        );
        let wrong_value = pod(
            "wrong-value",
            "a",
            json!([
                {"key": TAINT_UNREACHABLE, "operator": "Exists"},
                {"key": "maintenance", "operator": "Equal", "value": "no"},
            ]),
        );
        let plan = plan_taint_evictions(&nodes, &[forever, mixed, wrong_value], &mut UntimedTaintClock::default(), at(100));
        assert_eq!(plan.evictions.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), vec!["wrong-value"]);
        assert_eq!(plan.scheduled.iter().map(|s| (s.name.as_str(), s.at)).collect::<Vec<_>>(), vec![("mixed", at(110))]);
    }

    #[test]
    fn untimed_taints_count_from_when_they_were_first_seen() {
        let nodes = [tainted("a", json!([taint("custom", "NoExecute", None)]))];
        let pods = [pod("web", "a", json!([{"key": "custom", "operator": "Exists", "tolerationSeconds": 30}]))];
        let mut clock = UntimedTaintClock::default();
        assert_eq!(plan_taint_evictions(&nodes, &pods, &mut clock, at(10)).next_check, Some(at(40)));
        assert_eq!(plan_taint_evictions(&nodes, &pods, &mut clock, at(20)).next_check, Some(at(40)));
        assert_eq!(plan_taint_evictions(&nodes, &pods, &mut clock, at(40)).evictions.len(), 1);
        plan_taint_evictions(&[tainted("a", json!([]))], &pods, &mut clock, at(50));
        assert_eq!(plan_taint_evictions(&nodes, &pods, &mut clock, at(60)).next_check, Some(at(90)), "a taint back again starts over");
    }

    #[test]
    fn pods_already_being_deleted_are_not_evicted_again() {
        let nodes = [tainted("a", json!([taint(TAINT_UNREACHABLE, "NoExecute", Some(0))]))];
        let mut leaving = pod("web", "a", json!([]));
        leaving.metadata.deletion_timestamp = Some(Time(at(0)));
        assert!(plan_taint_evictions(&nodes, &[leaving], &mut UntimedTaintClock::default(), at(1)).evictions.is_empty());
        let event = cancelled_eviction_event("default", "web");
        assert_eq!(event.message, "Cancelling deletion of Pod default/web");
    }
}
