//! The DaemonSet control loop's decisions (upstream `pkg/controller/daemon`): which nodes should run a daemon
//! pod (node name, nodeSelector, required node affinity, and taints against the pod's tolerations plus the ones
//! every daemon pod gets), creating the missing pods pre-bound through `matchFields metadata.name`, deleting
//! surplus, misplaced, failed and succeeded ones (failed ones under a per-node backoff), rolling updates under
//! maxUnavailable/maxSurge or OnDelete, the status counts, and the template hash and ControllerRevision shapes
//! the glue stores revisions with.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec, PodTemplateSpec, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json, Value};

use super::podcontrol::{claim_pods, earliest, nonzero, pod_from_template, slow_start_batches, until_available, Action, Event};
use super::podutil::{controller_ref, is_available, is_ready};
use super::selector::{labels_are_subset, node_selector_matches, LabelMatcher};

/// At most this many pods are created, and as many deleted, in one pass (upstream `BurstReplicas`).
pub const BURST_REPLICAS: usize = 250;

/// The event source component.
pub const COMPONENT: &str = "daemonset-controller";

/// The pod and ControllerRevision label carrying the template hash.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// The pod label carrying the template generation, kept for pods made before revision hashes.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// The DaemonSet annotation the API server keeps the template generation in.
const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// Revisions kept when `revisionHistoryLimit` is unset, as the API server defaults it.
const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

/// The failed-pod backoff of kube-controller-manager: 1s doubling up to 15 minutes.
const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);

/// The field a daemon pod's node affinity pins it with.
const NODE_NAME_FIELD: &str = "metadata.name";

/// The tolerations every daemon pod gets (upstream `AddOrUpdateDaemonPodTolerations`): it survives a node going
/// not-ready or unreachable and runs despite the node-condition taints; network-unavailable only for host-network pods.
const DAEMON_TOLERATIONS: [(&str, &str); 6] = [
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];
const HOST_NETWORK_TOLERATION: (&str, &str) = ("node.kubernetes.io/network-unavailable", "NoSchedule");

/// What one sync of a DaemonSet decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DaemonPlan {
    /// Carried out in order; see [`Action`] for how failures stop the rest.
    pub actions: Vec<Action>,
    /// The status to write through the status subresource (skip the write when it equals the current one);
    /// `None` when upstream leaves status alone: the DaemonSet is being deleted or its selector is empty or
    /// malformed.
    pub status: Option<DaemonSetStatus>,
    /// Sync again after this long: a failed pod's backoff ends or a ready pod turns available.
    pub requeue_after: Option<Duration>,
}

/// Per-node backoff for deleting failed daemon pods, so a node whose kubelet keeps rejecting the pod is not
/// hammered. The glue keeps one per DaemonSet (by UID) across syncs and drops it with the DaemonSet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FailedPodBackoff {
    /// Keyed by (observed generation, node name), so a new generation starts afresh as upstream's key does.
    entries: BTreeMap<(i64, String), BackoffEntry>,
}

#[derive(Clone, Debug, PartialEq)]
struct BackoffEntry {
    delay: Duration,
    last_update: jiff::Timestamp,
}

impl FailedPodBackoff {
    /// How much of the node's backoff is left, if it is backing off.
    fn remaining(&self, key: &(i64, String), now: jiff::Timestamp) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        let elapsed = elapsed_since(entry.last_update, now);
        (elapsed <= 2 * BACKOFF_MAX && elapsed < entry.delay).then(|| entry.delay - elapsed)
    }

    /// Starts or doubles the node's backoff.
    fn step(&mut self, key: (i64, String), now: jiff::Timestamp) {
        let delay = match self.entries.get(&key) {
            Some(entry) if elapsed_since(entry.last_update, now) <= 2 * BACKOFF_MAX => (entry.delay * 2).min(BACKOFF_MAX),
            _ => BACKOFF_INITIAL,
        };
        self.entries.insert(key, BackoffEntry { delay, last_update: now });
    }

    /// Forgets entries of other generations (never consulted again) and ones idle for twice the longest delay,
    /// which bounds the map by the number of nodes.
    fn forget_stale(&mut self, generation: i64, now: jiff::Timestamp) {
        self.entries.retain(|(entry_generation, _), entry| {
            *entry_generation == generation && elapsed_since(entry.last_update, now) <= 2 * BACKOFF_MAX
        });
    }
}

fn elapsed_since(then: jiff::Timestamp, now: jiff::Timestamp) -> Duration {
    let elapsed = now.duration_since(then);
    if elapsed.is_negative() {
        Duration::ZERO
    } else {
        elapsed.unsigned_abs()
    }
}

/// Decides one sync of a DaemonSet from the pods of its namespace and all nodes. `current_hash` is the
/// `controller-revision-hash` label of the DaemonSet's current ControllerRevision (see [`new_revision`] and
/// [`revision_matches`]); pods carrying it count as updated.
pub fn reconcile(
    daemon_set: &DaemonSet,
    current_hash: &str,
    pods: &[Pod],
    nodes: &[Node],
    backoff: &mut FailedPodBackoff,
    now: jiff::Timestamp,
) -> DaemonPlan {
    let spec = &daemon_set.spec;
    let selector_is_empty = spec.selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && spec.selector.match_expressions.as_ref().is_none_or(Vec::is_empty);
    if selector_is_empty {
        let message = "This daemon set is selecting all pods. A non-empty selector is required.".to_string();
        return DaemonPlan { actions: vec![Action::Event(Event::warning("SelectingAll", message))], ..DaemonPlan::default() };
    }
    if daemon_set.metadata.deletion_timestamp.is_some() {
        return DaemonPlan::default();
    }
    let Ok(selector) = LabelMatcher::parse(Some(&spec.selector)) else { return DaemonPlan::default() };

    let observed_generation = daemon_set.status.as_ref().and_then(|status| status.observed_generation).unwrap_or(0);
    backoff.forget_stale(observed_generation, now);
    let reference = controller_ref("apps/v1", "DaemonSet", &daemon_set.metadata);
    let claimed = claim_pods(&daemon_set.metadata, &reference, &selector, pods);
    let node_pods = pods_by_node(&claimed.pods);
    let mut plan = DaemonPlan { actions: claimed.actions, ..DaemonPlan::default() };
    let context = SyncContext { daemon_set, hash: current_hash, template_generation: template_generation(daemon_set), now };

    let mut nodes_needing_pods = Vec::new();
    let mut pods_to_delete = Vec::new();
    for node in nodes {
        let placement =
            pods_should_be_on_node(&context, node, node_pods.get(node_name(node)).map_or(&[], Vec::as_slice), backoff, observed_generation);
        plan.actions.extend(placement.events.into_iter().map(Action::Event));
        plan.requeue_after = earliest(plan.requeue_after, placement.requeue_after);
        nodes_needing_pods.extend(placement.create_on);
        pods_to_delete.extend(placement.delete);
    }
    pods_to_delete.extend(unscheduled_pods_on_missing_nodes(nodes, &node_pods));

    let managed_anything = !nodes_needing_pods.is_empty() || !pods_to_delete.is_empty();
    sync_nodes(&context, &nodes_needing_pods, &pods_to_delete, &mut plan.actions);
    // Upstream rolls out only once the pod changes above have been observed; with none, that is right away.
    if !managed_anything && update_strategy(daemon_set) == "RollingUpdate" {
        let (create_on, delete) = rolling_update(&context, nodes, &node_pods);
        sync_nodes(&context, &create_on, &delete, &mut plan.actions);
    }

    let (status, ready_requeue) = calculate_status(&context, nodes, &node_pods);
    plan.status = Some(status);
    plan.requeue_after = earliest(plan.requeue_after, ready_requeue);
    plan
}

/// The DaemonSet and what every part of one sync reads.
struct SyncContext<'a> {
    daemon_set: &'a DaemonSet,
    hash: &'a str,
    template_generation: Option<i64>,
    now: jiff::Timestamp,
}

fn node_name(node: &Node) -> &str {
    node.metadata.name.as_deref().unwrap_or_default()
}

fn update_strategy(daemon_set: &DaemonSet) -> &str {
    daemon_set.spec.update_strategy.as_ref().and_then(|strategy| strategy.type_.as_deref()).unwrap_or("RollingUpdate")
}

fn template_generation(daemon_set: &DaemonSet) -> Option<i64> {
    daemon_set.metadata.annotations.as_ref()?.get(TEMPLATE_GENERATION_ANNOTATION)?.parse().ok()
}

/// Claimed pods grouped by the node they run on or are pinned to; pods with neither, and terminal pods already
/// being deleted, are left out as upstream does.
fn pods_by_node<'a>(pods: &[&'a Pod]) -> BTreeMap<String, Vec<&'a Pod>> {
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for pod in pods {
        if is_terminal(pod) && pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(node) = target_node_name(pod) {
            by_node.entry(node.to_string()).or_default().push(pod);
        }
    }
    by_node
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|status| status.phase.as_deref()).unwrap_or_default()
}

/// The node a daemon pod is bound to, or pinned to through `matchFields metadata.name In [node]` while pending.
fn target_node_name(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(name) = spec.node_name.as_deref().filter(|name| !name.is_empty()) {
        return Some(name);
    }
    let required = spec.affinity.as_ref()?.node_affinity.as_ref()?.required_during_scheduling_ignored_during_execution.as_ref()?;
    let pinned = required
        .node_selector_terms
        .iter()
        .flat_map(|term| term.match_fields.iter().flatten())
        .find(|field| field.key == NODE_NAME_FIELD && field.operator == "In")?;
    match pinned.values.as_deref() {
        Some([name]) => Some(name.as_str()),
        _ => None,
    }
}

/// Whether a daemon pod should be started on the node, and whether one already there may keep running
/// (upstream `NodeShouldRunDaemonPod`). A node failing only on a NoSchedule taint keeps its running pod.
pub fn node_should_run_daemon_pod(node: &Node, template: &PodTemplateSpec) -> (bool, bool) {
    let spec = daemon_pod_spec(template);
    let name = node_name(node);
    if spec.node_name.as_deref().is_some_and(|wanted| !wanted.is_empty() && wanted != name) {
        return (false, false);
    }
    let fits_node_selector = labels_are_subset(spec.node_selector.as_ref(), node.metadata.labels.as_ref());
    let required_affinity = spec
        .affinity
        .as_ref()
        .and_then(|affinity| affinity.node_affinity.as_ref())
        .and_then(|affinity| affinity.required_during_scheduling_ignored_during_execution.as_ref());
    if !fits_node_selector || required_affinity.is_some_and(|required| !node_selector_matches(required, node)) {
        return (false, false);
    }
    let taints = node.spec.as_ref().and_then(|spec| spec.taints.as_deref()).unwrap_or_default();
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let untolerated =
        |effects: &[&str]| taints.iter().any(|taint| effects.contains(&taint.effect.as_str()) && !tolerated(tolerations, taint));
    if untolerated(&["NoSchedule", "NoExecute"]) {
        return (false, !untolerated(&["NoExecute"]));
    }
    (true, true)
}

/// The template's pod spec with the daemon tolerations added.
fn daemon_pod_spec(template: &PodTemplateSpec) -> PodSpec {
    let mut spec = template.spec.clone().unwrap_or_default();
    add_daemon_tolerations(&mut spec);
    spec
}

/// Adds the tolerations every daemon pod carries, replacing a same-key-and-effect one that differs (a bounded
/// `tolerationSeconds`, say) so daemon pods are never evicted for node conditions.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let host_network = spec.host_network == Some(true);
    for (key, effect) in DAEMON_TOLERATIONS.into_iter().chain(host_network.then_some(HOST_NETWORK_TOLERATION)) {
        let wanted = Toleration {
            key: Some(key.to_string()),
            operator: Some("Exists".to_string()),
            effect: Some(effect.to_string()),
            value: None,
            toleration_seconds: None,
        };
        let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
        let same_kind = |existing: &Toleration| {
            let text = |field: &Option<String>| field.as_deref().unwrap_or_default().to_string();
            (text(&existing.key), text(&existing.effect), text(&existing.operator), text(&existing.value))
                == (text(&wanted.key), text(&wanted.effect), text(&wanted.operator), text(&wanted.value))
        };
        if tolerations.iter().any(|existing| same_kind(existing) && *existing == wanted) {
            continue;
        }
        let mut replaced = false;
        for existing in tolerations.iter_mut().filter(|existing| same_kind(existing)) {
            *existing = wanted.clone();
            replaced = true;
        }
        if !replaced {
            tolerations.push(wanted);
        }
    }
}

/// Whether any toleration tolerates the taint (upstream `Toleration.ToleratesTaint`).
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|toleration| {
        let effect = toleration.effect.as_deref().unwrap_or_default();
        let key = toleration.key.as_deref().unwrap_or_default();
        if (!effect.is_empty() && effect != taint.effect) || (!key.is_empty() && key != taint.key) {
            return false;
        }
        match toleration.operator.as_deref().unwrap_or_default() {
            "" | "Equal" => toleration.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default(),
            "Exists" => true,
            _ => false,
        }
    })
}

/// What one node needs (upstream `podsShouldBeOnNode`).
#[derive(Default)]
struct NodePlacement<'a> {
    create_on: Option<String>,
    delete: Vec<&'a Pod>,
    events: Vec<Event>,
    requeue_after: Option<Duration>,
}

fn pods_should_be_on_node<'a>(
    context: &SyncContext,
    node: &Node,
    daemon_pods: &[&'a Pod],
    backoff: &mut FailedPodBackoff,
    observed_generation: i64,
) -> NodePlacement<'a> {
    let daemon_set = context.daemon_set;
    let (should_run, should_continue_running) = node_should_run_daemon_pod(node, &daemon_set.spec.template);
    let name = node_name(node);
    let mut placement = NodePlacement::default();
    if should_run && daemon_pods.is_empty() {
        placement.create_on = Some(name.to_string());
        return placement;
    }
    if !should_continue_running {
        placement.delete.extend(daemon_pods.iter().copied().filter(|pod| pod.metadata.deletion_timestamp.is_none()));
        return placement;
    }

    let mut running = Vec::new();
    for pod in daemon_pods.iter().filter(|pod| pod.metadata.deletion_timestamp.is_none()) {
        let pod_key =
            format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or_default(), pod.metadata.name.as_deref().unwrap_or_default());
        match phase(pod) {
            "Failed" => {
                let key = (observed_generation, name.to_string());
                if let Some(remaining) = backoff.remaining(&key, context.now) {
                    placement.requeue_after = earliest(placement.requeue_after, Some(remaining));
                    continue;
                }
                backoff.step(key, context.now);
                let message = format!("Found failed daemon pod {pod_key} on node {name}, will try to kill it");
                placement.events.push(Event::warning("FailedDaemonPod", message));
                placement.delete.push(pod);
            }
            "Succeeded" => {
                let message = format!("Found succeeded daemon pod {pod_key} on node {name}, will try to delete it");
                placement.events.push(Event::normal("SucceededDaemonPod", message));
                placement.delete.push(pod);
            }
            _ => running.push(*pod),
        }
    }
    sort_oldest_first(&mut running);

    if !allows_surge(daemon_set) {
        // Without surge only the oldest pod stays.
        placement.delete.extend(running.iter().copied().skip(1));
        return placement;
    }
    if running.is_empty() && should_run {
        placement.create_on = Some(name.to_string());
    }
    if running.len() <= 1 {
        return placement;
    }
    // Surging keeps at most the oldest current pod and the oldest outdated one, and the outdated one only while it
    // is ready and the current one not yet available.
    let mut oldest_new = None;
    let mut oldest_old = None;
    for pod in running {
        let is_new = label(pod, REVISION_HASH_LABEL) == Some(context.hash);
        let slot = if is_new { &mut oldest_new } else { &mut oldest_old };
        if slot.is_none() {
            *slot = Some(pod);
        } else {
            placement.delete.push(pod);
        }
    }
    if let (Some(new), Some(old)) = (oldest_new, oldest_old) {
        let min_ready_seconds = daemon_set.spec.min_ready_seconds.unwrap_or(0);
        if !is_ready(old) || is_available(new, min_ready_seconds, context.now) {
            placement.delete.push(old);
        }
    }
    placement
}

fn label<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// Bound pods before pending ones, then oldest first, then by name (upstream `podByCreationTimestampAndPhase`).
fn sort_oldest_first(pods: &mut [&Pod]) {
    pods.sort_by_key(|pod| {
        let unbound = pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()).is_none_or(str::is_empty);
        (unbound, pod.metadata.creation_timestamp.as_ref().map(|time| time.0), pod.metadata.name.clone())
    });
}

/// Pending pods pinned to nodes that no longer exist: nothing else would ever delete them.
fn unscheduled_pods_on_missing_nodes<'a>(nodes: &[Node], node_pods: &BTreeMap<String, Vec<&'a Pod>>) -> Vec<&'a Pod> {
    let existing: BTreeSet<&str> = nodes.iter().map(node_name).collect();
    node_pods
        .iter()
        .filter(|(node, _)| !existing.contains(node.as_str()))
        .flat_map(|(_, pods)| pods.iter().copied())
        .filter(|pod| pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()).is_none_or(str::is_empty))
        .collect()
}

/// Turns nodes needing pods and pods to delete into actions, each capped at the burst (upstream `syncNodes`).
fn sync_nodes(context: &SyncContext, create_on: &[String], delete: &[&Pod], actions: &mut Vec<Action>) {
    let template = daemon_pod_template(context.daemon_set, context.template_generation, context.hash);
    let mut nodes = create_on.iter().take(BURST_REPLICAS);
    for batch in slow_start_batches(create_on.len().min(BURST_REPLICAS)) {
        let pods = nodes.by_ref().take(batch).map(|node| daemon_pod(&template, context.daemon_set, node)).collect();
        actions.push(Action::CreatePods { pods });
    }
    for pod in delete.iter().take(BURST_REPLICAS) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        actions.push(Action::DeletePod { name, uid });
    }
}

/// The template daemon pods are made from (upstream `CreatePodTemplate`): the daemon tolerations, the template
/// generation label and the revision hash label.
fn daemon_pod_template(daemon_set: &DaemonSet, generation: Option<i64>, hash: &str) -> PodTemplateSpec {
    let mut template = daemon_set.spec.template.clone();
    template.spec = Some(daemon_pod_spec(&template));
    let labels = template.metadata.get_or_insert_with(ObjectMeta::default).labels.get_or_insert_with(BTreeMap::new);
    if let Some(generation) = generation {
        labels.insert(TEMPLATE_GENERATION_LABEL.to_string(), generation.to_string());
    }
    if !hash.is_empty() {
        labels.insert(REVISION_HASH_LABEL.to_string(), hash.to_string());
    }
    template
}

/// A daemon pod for one node, pinned there by replacing the required node affinity with
/// `matchFields metadata.name In [node]`; the scheduler then binds it.
fn daemon_pod(template: &PodTemplateSpec, daemon_set: &DaemonSet, node: &str) -> Pod {
    let mut template = template.clone();
    let spec = template.spec.get_or_insert_with(PodSpec::default);
    let pin = NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![NodeSelectorRequirement {
            key: NODE_NAME_FIELD.to_string(),
            operator: "In".to_string(),
            values: Some(vec![node.to_string()]),
        }]),
    };
    let node_affinity = spec.affinity.get_or_insert_with(Affinity::default).node_affinity.get_or_insert_with(NodeAffinity::default);
    node_affinity
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(|| NodeSelector { node_selector_terms: Vec::new() })
        .node_selector_terms = vec![pin];
    pod_from_template(&template, &daemon_set.metadata, controller_ref("apps/v1", "DaemonSet", &daemon_set.metadata))
}

/// Whether maxSurge lets a node run an extra pod during a rolling update.
fn allows_surge(daemon_set: &DaemonSet) -> bool {
    rolling_limits(daemon_set, 1).is_some_and(|(max_surge, _)| max_surge > 0)
}

/// (maxSurge, maxUnavailable) scaled to `desired` nodes, percentages rounded up; zero for OnDelete, `None` when
/// a percentage is malformed.
fn rolling_limits(daemon_set: &DaemonSet, desired: usize) -> Option<(usize, usize)> {
    if update_strategy(daemon_set) != "RollingUpdate" {
        return Some((0, 0));
    }
    let Some(rolling) = daemon_set.spec.update_strategy.as_ref().and_then(|strategy| strategy.rolling_update.as_ref()) else {
        return Some((0, 0));
    };
    let max_surge = match &rolling.max_surge {
        Some(value) => scaled_value(value, desired)?,
        None => 0,
    };
    let max_unavailable = match &rolling.max_unavailable {
        Some(value) => scaled_value(value, desired)?,
        None => 0,
    };
    Some((max_surge, max_unavailable))
}

/// An int, or a percentage of `total` rounded up (upstream `GetScaledValueFromIntOrPercent`).
fn scaled_value(value: &IntOrString, total: usize) -> Option<usize> {
    match value {
        IntOrString::Int(count) => Some(usize::try_from(*count).unwrap_or(0)),
        IntOrString::String(text) => {
            let percent: usize = text.strip_suffix('%')?.parse().ok()?;
            Some((percent * total).div_ceil(100))
        }
    }
}

/// Whether the pod runs the current template: its revision hash, or (for older pods) its template generation,
/// matches.
fn is_pod_updated(pod: &Pod, hash: &str, template_generation: Option<i64>) -> bool {
    let hash_matches = !hash.is_empty() && label(pod, REVISION_HASH_LABEL) == Some(hash);
    let generation_matches =
        template_generation.is_some_and(|generation| label(pod, TEMPLATE_GENERATION_LABEL) == Some(generation.to_string().as_str()));
    hash_matches || generation_matches
}

/// The node's one current and one outdated pod among those not being deleted, or `None` when it has more of
/// either (the manage pass prunes those first).
fn updated_and_outdated<'a>(context: &SyncContext, pods: &[&'a Pod]) -> Option<(Option<&'a Pod>, Option<&'a Pod>)> {
    let mut new_pod = None;
    let mut old_pod = None;
    for pod in pods.iter().filter(|pod| pod.metadata.deletion_timestamp.is_none()) {
        let slot = if is_pod_updated(pod, context.hash, context.template_generation) { &mut new_pod } else { &mut old_pod };
        if slot.replace(*pod).is_some() {
            return None;
        }
    }
    Some((new_pod, old_pod))
}

/// The rolling update's nodes to create on and pods to delete (upstream `rollingUpdate`). Without surge, outdated
/// pods are deleted while fewer than maxUnavailable nodes are unavailable (unavailable outdated pods always go);
/// with surge, a current pod is started beside an outdated one on up to maxSurge nodes and the outdated one
/// deleted once the current one is available.
fn rolling_update<'a>(context: &SyncContext, nodes: &[Node], node_pods: &BTreeMap<String, Vec<&'a Pod>>) -> (Vec<String>, Vec<&'a Pod>) {
    let daemon_set = context.daemon_set;
    let min_ready_seconds = daemon_set.spec.min_ready_seconds.unwrap_or(0);
    let available = |pod: &Pod| is_available(pod, min_ready_seconds, context.now);
    let mut node_pods = node_pods.clone();
    let mut should_run_on = BTreeSet::new();
    for node in nodes {
        if node_should_run_daemon_pod(node, &daemon_set.spec.template).0 {
            should_run_on.insert(node_name(node));
            node_pods.entry(node_name(node).to_string()).or_default();
        }
    }
    let desired = should_run_on.len();
    let Some((max_surge, mut max_unavailable)) = rolling_limits(daemon_set, desired) else { return (Vec::new(), Vec::new()) };
    if desired > 0 && max_surge == 0 && max_unavailable == 0 {
        max_unavailable = 1;
    }

    if max_surge == 0 {
        let mut unavailable: usize = 0;
        let mut replacements = Vec::new();
        let mut candidates = Vec::new();
        for pods in node_pods.values() {
            match updated_and_outdated(context, pods) {
                None | Some((None, None)) | Some((Some(_), Some(_))) => unavailable += 1,
                Some((Some(new_pod), None)) => {
                    if !available(new_pod) {
                        unavailable += 1;
                    }
                }
                Some((None, Some(old_pod))) => {
                    if !available(old_pod) {
                        replacements.push(old_pod);
                        unavailable += 1;
                    } else if unavailable < max_unavailable {
                        candidates.push(old_pod);
                    }
                }
            }
        }
        let room = max_unavailable.saturating_sub(unavailable).min(candidates.len());
        replacements.extend(candidates.into_iter().take(room));
        return (Vec::new(), replacements);
    }

    let mut deletions = Vec::new();
    let mut unplaceable = Vec::new();
    let mut surge_now = Vec::new();
    let mut surge_candidates = Vec::new();
    let mut surging: usize = 0;
    let mut available_nodes: usize = 0;
    for (node, pods) in &node_pods {
        let Some((new_pod, old_pod)) = updated_and_outdated(context, pods) else {
            surging += 1;
            continue;
        };
        if old_pod.or(new_pod).is_some_and(available) {
            available_nodes += 1;
        }
        match (new_pod, old_pod) {
            (_, None) => {}
            (None, Some(old_pod)) => {
                // Upstream looks the node up here and gives up on a missing one; skipping only that node lets the
                // rest of the rollout proceed until pod GC removes its pods.
                if !nodes.iter().any(|candidate| node_name(candidate) == node) {
                    continue;
                }
                let should_run = should_run_on.contains(node.as_str());
                if !available(old_pod) {
                    if should_run {
                        surge_now.push(node.clone());
                    } else {
                        deletions.push(old_pod);
                    }
                } else if !should_run {
                    unplaceable.push(old_pod);
                } else if surging < max_surge {
                    surge_candidates.push(node.clone());
                }
            }
            (Some(new_pod), Some(old_pod)) => {
                if available(new_pod) {
                    deletions.push(old_pod);
                } else {
                    surging += 1;
                }
            }
        }
    }
    // Pods on nodes that no longer qualify go only while more nodes are available than desired, so the
    // application is never left without a pod while its placement moves.
    let deletable = available_nodes.saturating_sub(desired).min(unplaceable.len());
    deletions.extend(unplaceable.into_iter().take(deletable));
    let room = max_surge.saturating_sub(surging).min(surge_candidates.len());
    surge_now.extend(surge_candidates.into_iter().take(room));
    (surge_now, deletions)
}

/// The status counts over eligible nodes (upstream `updateDaemonSetStatus`), each node judged by its oldest pod;
/// also when the next ready pod turns available.
fn calculate_status(context: &SyncContext, nodes: &[Node], node_pods: &BTreeMap<String, Vec<&Pod>>) -> (DaemonSetStatus, Option<Duration>) {
    let daemon_set = context.daemon_set;
    let min_ready_seconds = daemon_set.spec.min_ready_seconds.unwrap_or(0);
    let (mut desired, mut current, mut misscheduled, mut ready, mut updated, mut available) = (0, 0, 0, 0, 0, 0);
    let mut requeue_after = None;
    for node in nodes {
        let scheduled = node_pods.get(node_name(node)).filter(|pods| !pods.is_empty());
        if !node_should_run_daemon_pod(node, &daemon_set.spec.template).0 {
            misscheduled += i32::from(scheduled.is_some());
            continue;
        }
        desired += 1;
        let Some(pods) = scheduled else { continue };
        current += 1;
        let mut pods = pods.clone();
        sort_oldest_first(&mut pods);
        let oldest = pods[0];
        if is_ready(oldest) {
            ready += 1;
            if is_available(oldest, min_ready_seconds, context.now) {
                available += 1;
            } else {
                requeue_after = earliest(requeue_after, until_available(oldest, min_ready_seconds, context.now));
            }
        }
        if is_pod_updated(oldest, context.hash, context.template_generation) {
            updated += 1;
        }
    }
    let previous = daemon_set.status.clone().unwrap_or_default();
    let status = DaemonSetStatus {
        collision_count: previous.collision_count,
        conditions: previous.conditions,
        current_number_scheduled: current,
        desired_number_scheduled: desired,
        number_available: nonzero(available),
        number_misscheduled: misscheduled,
        number_ready: ready,
        number_unavailable: nonzero(desired - available),
        observed_generation: nonzero(daemon_set.metadata.generation.unwrap_or(0)),
        updated_number_scheduled: nonzero(updated),
    };
    (status, requeue_after)
}

/// The revision hash of a pod template (upstream `ComputeHash`): 32-bit FNV-1a, here over the template's JSON
/// (upstream hashes Go's printed struct, so values differ from a real cluster's but are just as stable), then the
/// collision count, rendered as upstream's safe alphabet over the decimal digits.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u32::from(*byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    };
    feed(&serde_json::to_vec(template).unwrap_or_default());
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&count.to_le_bytes());
        feed(&bytes);
    }
    hash.to_string().bytes().map(|digit| char::from(SAFE_ALPHABET[usize::from(digit) % SAFE_ALPHABET.len()])).collect()
}

/// The name of the ControllerRevision for a hash: `<daemonset>-<hash>`.
pub fn revision_name(daemon_set_name: &str, hash: &str) -> String {
    format!("{daemon_set_name}-{hash}")
}

/// The data a DaemonSet's ControllerRevision stores: a patch replacing `spec.template`.
pub fn revision_data(daemon_set: &DaemonSet) -> Value {
    let mut template = serde_json::to_value(&daemon_set.spec.template).unwrap_or_else(|_| json!({}));
    if let Some(fields) = template.as_object_mut() {
        fields.insert("$patch".to_string(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

/// Whether a stored revision holds the DaemonSet's current template (upstream `Match`).
pub fn revision_matches(daemon_set: &DaemonSet, revision: &ControllerRevision) -> bool {
    revision.data.0 == revision_data(daemon_set)
}

/// The ControllerRevision to create when none matches (upstream `snapshot`): named `<ds>-<hash>`, labelled with the
/// template's labels plus the hash, carrying the DaemonSet's annotations and controller reference. `revision` is one
/// more than the highest existing revision. On a name clash with a revision that does not match, the glue bumps
/// `status.collisionCount` and tries again.
pub fn new_revision(daemon_set: &DaemonSet, revision: i64) -> ControllerRevision {
    let collision_count = daemon_set.status.as_ref().and_then(|status| status.collision_count);
    let hash = template_hash(&daemon_set.spec.template, collision_count);
    let mut labels = daemon_set.spec.template.metadata.as_ref().and_then(|meta| meta.labels.clone()).unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.to_string(), hash.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(daemon_set.metadata.name.as_deref().unwrap_or_default(), &hash)),
            namespace: daemon_set.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: daemon_set.metadata.annotations.clone(),
            owner_references: Some(vec![controller_ref("apps/v1", "DaemonSet", &daemon_set.metadata)]),
            ..ObjectMeta::default()
        },
        data: RawExtension(revision_data(daemon_set)),
        revision: Some(revision),
    }
}

/// Outdated revisions to delete beyond `revisionHistoryLimit`, oldest first, sparing any a daemon pod still
/// runs (upstream `cleanupHistory`).
pub fn revisions_to_prune(daemon_set: &DaemonSet, outdated: &[ControllerRevision], pods: &[Pod]) -> Vec<String> {
    let keep = usize::try_from(daemon_set.spec.revision_history_limit.unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT)).unwrap_or(0);
    let Some(mut excess) = outdated.len().checked_sub(keep).filter(|excess| *excess > 0) else { return Vec::new() };
    let Ok(selector) = LabelMatcher::parse(Some(&daemon_set.spec.selector)) else { return Vec::new() };
    let reference = controller_ref("apps/v1", "DaemonSet", &daemon_set.metadata);
    let claimed = claim_pods(&daemon_set.metadata, &reference, &selector, pods);
    let live_hashes: BTreeSet<&str> = claimed
        .pods
        .iter()
        .filter(|pod| target_node_name(pod).is_some())
        .filter_map(|pod| label(pod, REVISION_HASH_LABEL))
        .filter(|hash| !hash.is_empty())
        .collect();
    let mut by_age: Vec<&ControllerRevision> = outdated.iter().collect();
    by_age.sort_by_key(|revision| revision.revision.unwrap_or(0));
    let mut prune = Vec::new();
    for revision in by_age {
        if excess == 0 {
            break;
        }
        let hash = revision.metadata.labels.as_ref().and_then(|labels| labels.get(REVISION_HASH_LABEL));
        if hash.is_some_and(|hash| live_hashes.contains(hash.as_str())) {
            continue;
        }
        prune.push(revision.metadata.name.clone().unwrap_or_default());
        excess -= 1;
    }
    prune
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "newhash";

    fn now() -> jiff::Timestamp {
        "2025-01-01T12:00:00Z".parse().unwrap()
    }

    fn daemon_set(extra: Value) -> DaemonSet {
        let mut value = json!({
            "metadata": {"name": "agent", "namespace": "ns", "uid": "ds-uid", "generation": 2,
                         "annotations": {"deprecated.daemonset.template.generation": "2"}},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": "agent:2"}]}},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
            },
            "status": {"currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0, "observedGeneration": 2}
        });
        merge(&mut value, extra);
        serde_json::from_value(value).unwrap()
    }

    fn node(name: &str, extra: Value) -> Node {
        let mut value = json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}});
        merge(&mut value, extra);
        serde_json::from_value(value).unwrap()
    }

    /// A ready, available daemon pod of the DaemonSet on `node` with revision `hash`.
    fn pod(name: &str, node: &str, hash: &str, extra: Value) -> Pod {
        let mut value = json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("{name}-uid"), "creationTimestamp": "2025-01-01T00:00:00Z",
                         "labels": {"app": "agent", "controller-revision-hash": hash},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "ds-uid", "controller": true}]},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "agent"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T01:00:00Z"}]}
        });
        merge(&mut value, extra);
        serde_json::from_value(value).unwrap()
    }

    fn not_ready() -> Value {
        json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
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

    fn run(daemon_set: &DaemonSet, pods: &[Pod], nodes: &[Node]) -> DaemonPlan {
        reconcile(daemon_set, HASH, pods, nodes, &mut FailedPodBackoff::default(), now())
    }

    fn created_on(plan: &DaemonPlan) -> Vec<String> {
        plan.actions
            .iter()
            .filter_map(|action| if let Action::CreatePods { pods } = action { Some(pods) } else { None })
            .flatten()
            .map(|pod| target_node_name(pod).unwrap().to_string())
            .collect()
    }

    fn deleted(plan: &DaemonPlan) -> Vec<String> {
        plan.actions
            .iter()
            .filter_map(|action| if let Action::DeletePod { name, .. } = action { Some(name.clone()) } else { None })
            .collect()
    }

    fn events(plan: &DaemonPlan) -> Vec<(&'static str, String)> {
        plan.actions
            .iter()
            .filter_map(|action| if let Action::Event(event) = action { Some((event.reason, event.message.clone())) } else { None })
            .collect()
    }

    #[test]
    fn one_pod_is_created_per_eligible_node_pinned_by_node_affinity() {
        let daemon_set = daemon_set(json!({}));
        let nodes = [node("n1", json!({})), node("n2", json!({})), node("n3", json!({}))];
        let plan = run(&daemon_set, &[pod("agent-a", "n2", HASH, json!({}))], &nodes);
        assert_eq!(created_on(&plan), ["n1", "n3"]);
        let Action::CreatePods { pods } = &plan.actions[0] else { panic!("expected a create") };
        let pod = serde_json::to_value(&pods[0]).unwrap();
        assert_eq!(
            pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
            json!({"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]})
        );
        assert!(pod["spec"].get("nodeName").is_none(), "the scheduler binds it");
        assert_eq!(pod["metadata"]["generateName"], "agent-");
        assert_eq!(pod["metadata"]["labels"], json!({"app": "agent", "controller-revision-hash": HASH, "pod-template-generation": "2"}));
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
        let tolerations = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(tolerations.len(), 6, "no network-unavailable toleration without hostNetwork");
        assert!(tolerations.contains(&json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"})));
        assert!(tolerations.contains(&json!({"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"})));
    }

    #[test]
    fn existing_node_affinity_keeps_its_other_parts_but_loses_its_terms() {
        let daemon_set = daemon_set(json!({"spec": {"template": {"spec": {"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "Exists"}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {"matchExpressions": [{"key": "fast", "operator": "Exists"}]}}]
        }}}}}}));
        let plan = run(&daemon_set, &[], &[node("n1", json!({}))]);
        let Action::CreatePods { pods } = &plan.actions[0] else { panic!("expected a create") };
        let affinity = serde_json::to_value(&pods[0].spec.as_ref().unwrap().affinity).unwrap();
        assert_eq!(
            affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchFields"][0]["values"],
            json!(["n1"])
        );
        assert_eq!(
            affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"].as_array().unwrap().len(),
            1
        );
        assert_eq!(affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"], 1);
    }

    #[test]
    fn eligibility_follows_node_selector_affinity_and_taints() {
        let template = |spec: Value| -> PodTemplateSpec { serde_json::from_value(json!({"spec": spec})).unwrap() };
        let gpu = node("gpu", json!({"metadata": {"labels": {"gpu": "true"}}}));
        let plain = node("plain", json!({}));
        let selecting = template(json!({"nodeSelector": {"gpu": "true"}}));
        assert_eq!(node_should_run_daemon_pod(&gpu, &selecting), (true, true));
        assert_eq!(node_should_run_daemon_pod(&plain, &selecting), (false, false));

        let affine = template(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}]}}}}));
        assert_eq!(node_should_run_daemon_pod(&gpu, &affine), (false, false));
        assert_eq!(node_should_run_daemon_pod(&plain, &affine), (true, true));

        let no_schedule = node("tainted", json!({"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}}));
        let no_execute = node("evicting", json!({"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]}}));
        let prefer = node("prefer", json!({"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "PreferNoSchedule"}]}}));
        let bare = template(json!({}));
        assert_eq!(node_should_run_daemon_pod(&no_schedule, &bare), (false, true), "a running pod may stay");
        assert_eq!(node_should_run_daemon_pod(&no_execute, &bare), (false, false));
        assert_eq!(node_should_run_daemon_pod(&prefer, &bare), (true, true));
        let tolerating = template(json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db"}]}));
        assert_eq!(node_should_run_daemon_pod(&no_execute, &tolerating), (true, true));
        let wrong_value = template(json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web"}]}));
        assert_eq!(node_should_run_daemon_pod(&no_schedule, &wrong_value), (false, true));

        let cordoned = node(
            "cordoned",
            json!({"spec": {"unschedulable": true, "taints": [
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
            {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}]}}),
        );
        assert_eq!(node_should_run_daemon_pod(&cordoned, &bare), (true, true), "daemon pods tolerate node conditions");
        let network =
            node("network", json!({"spec": {"taints": [{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]}}));
        assert_eq!(node_should_run_daemon_pod(&network, &bare), (false, true));
        assert_eq!(node_should_run_daemon_pod(&network, &template(json!({"hostNetwork": true}))), (true, true));

        let pinned = template(json!({"nodeName": "gpu"}));
        assert_eq!(node_should_run_daemon_pod(&plain, &pinned), (false, false));
        assert_eq!(node_should_run_daemon_pod(&gpu, &pinned), (true, true));
    }

    #[test]
    fn a_bounded_not_ready_toleration_is_made_unbounded() {
        let mut spec: PodSpec = serde_json::from_value(json!({"containers": [], "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "custom", "operator": "Exists"}]}))
        .unwrap();
        add_daemon_tolerations(&mut spec);
        let tolerations = serde_json::to_value(&spec.tolerations).unwrap();
        assert_eq!(tolerations[0], json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}));
        assert_eq!(tolerations[1], json!({"key": "custom", "operator": "Exists"}));
        assert_eq!(tolerations.as_array().unwrap().len(), 7);
        let again = spec.clone();
        add_daemon_tolerations(&mut spec);
        assert_eq!(spec, again, "adding twice changes nothing");
    }

    #[test]
    fn surplus_and_misplaced_pods_are_deleted() {
        let daemon_set = daemon_set(json!({"spec": {"template": {"spec": {"nodeSelector": {"role": "edge"}}}}}));
        let edge = node("edge", json!({"metadata": {"labels": {"role": "edge"}}}));
        let core = node("core", json!({}));
        let pods = [
            pod("newest", "edge", HASH, json!({"metadata": {"creationTimestamp": "2025-01-01T05:00:00Z"}})),
            pod("oldest", "edge", HASH, json!({})),
            pod("misplaced", "core", HASH, json!({})),
            pod("leaving", "core", HASH, json!({"metadata": {"deletionTimestamp": "2025-01-01T11:00:00Z"}})),
        ];
        let plan = run(&daemon_set, &pods, &[edge, core]);
        assert_eq!(deleted(&plan), ["newest", "misplaced"]);
        assert!(created_on(&plan).is_empty());
        let status = plan.status.unwrap();
        assert_eq!((status.desired_number_scheduled, status.current_number_scheduled, status.number_misscheduled), (1, 1, 1));
    }

    #[test]
    fn pending_pods_pinned_to_vanished_nodes_are_deleted() {
        let daemon_set = daemon_set(json!({}));
        let orphaned = pod(
            "stuck",
            "",
            HASH,
            json!({"spec": {"nodeName": null, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["gone"]}]}]}}}}}),
        );
        let plan = run(&daemon_set, &[orphaned, pod("kept", "n1", HASH, json!({}))], &[node("n1", json!({}))]);
        assert_eq!(deleted(&plan), ["stuck"]);
    }

    #[test]
    fn failed_pods_are_deleted_under_backoff_and_succeeded_ones_right_away() {
        let daemon_set = daemon_set(json!({}));
        let nodes = [node("n1", json!({})), node("n2", json!({}))];
        let pods = [
            pod("crashed", "n1", HASH, json!({"status": {"phase": "Failed"}})),
            pod("done", "n2", HASH, json!({"status": {"phase": "Succeeded"}})),
        ];
        let mut backoff = FailedPodBackoff::default();
        let first = reconcile(&daemon_set, HASH, &pods, &nodes, &mut backoff, now());
        assert_eq!(deleted(&first), ["crashed", "done"]);
        assert_eq!(
            events(&first),
            [
                ("FailedDaemonPod", "Found failed daemon pod ns/crashed on node n1, will try to kill it".to_string()),
                ("SucceededDaemonPod", "Found succeeded daemon pod ns/done on node n2, will try to delete it".to_string())
            ]
        );
        let soon = reconcile(&daemon_set, HASH, &pods, &nodes, &mut backoff, now() + jiff::SignedDuration::from_millis(400));
        assert_eq!(deleted(&soon), ["done"], "the failed pod's node is backing off");
        assert_eq!(soon.requeue_after, Some(Duration::from_millis(600)));
        let later = reconcile(&daemon_set, HASH, &pods, &nodes, &mut backoff, now() + jiff::SignedDuration::from_secs(1));
        assert_eq!(deleted(&later), ["crashed", "done"]);
        let doubled = reconcile(&daemon_set, HASH, &pods, &nodes, &mut backoff, now() + jiff::SignedDuration::from_millis(2500));
        assert_eq!(deleted(&doubled), ["done"], "the second delay is two seconds");
    }

    #[test]
    fn status_counts_per_node() {
        let daemon_set = daemon_set(json!({"spec": {"minReadySeconds": 60}}));
        let nodes = [node("n1", json!({})), node("n2", json!({})), node("n3", json!({})), node("n4", json!({}))];
        let pods = [
            pod("available", "n1", HASH, json!({})),
            pod(
                "just-ready",
                "n2",
                "oldhash",
                json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T11:59:50Z"}]}}),
            ),
            pod("starting", "n3", HASH, not_ready()),
        ];
        let plan = run(&daemon_set, &pods, &nodes);
        let status = serde_json::to_value(plan.status.unwrap()).unwrap();
        assert_eq!(
            status,
            json!({"currentNumberScheduled": 3, "desiredNumberScheduled": 4, "numberAvailable": 1, "numberMisscheduled": 0,
                   "numberReady": 2, "numberUnavailable": 3, "observedGeneration": 2, "updatedNumberScheduled": 2})
        );
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(50)));
    }

    #[test]
    fn pods_with_the_old_template_generation_label_still_count_as_updated() {
        let daemon_set = daemon_set(json!({}));
        let legacy =
            pod("legacy", "n1", "", json!({"metadata": {"labels": {"controller-revision-hash": null, "pod-template-generation": "2"}}}));
        let plan = run(&daemon_set, &[legacy], &[node("n1", json!({}))]);
        assert_eq!(plan.status.unwrap().updated_number_scheduled, Some(1));
        assert!(plan.actions.is_empty());
    }

    #[test]
    fn rolling_update_replaces_at_most_max_unavailable_pods() {
        let daemon_set = daemon_set(json!({}));
        let nodes: Vec<Node> = (1..=4).map(|index| node(&format!("n{index}"), json!({}))).collect();
        let old: Vec<Pod> = (1..=4).map(|index| pod(&format!("old-{index}"), &format!("n{index}"), "oldhash", json!({}))).collect();
        let plan = run(&daemon_set, &old, &nodes);
        assert_eq!(deleted(&plan), ["old-1"], "one node may be unavailable");

        // old-1 is gone and its replacement not yet available: nothing more until it is.
        let mut pods = old[1..].to_vec();
        pods.push(pod("new-1", "n1", HASH, not_ready()));
        assert!(run(&daemon_set, &pods, &nodes).actions.is_empty());

        pods[3] = pod("new-1", "n1", HASH, json!({}));
        assert_eq!(deleted(&run(&daemon_set, &pods, &nodes)), ["old-2"]);

        let wider = self::daemon_set(json!({"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": "50%"}}}}));
        assert_eq!(deleted(&run(&wider, &old, &nodes)), ["old-1", "old-2"]);
    }

    #[test]
    fn unavailable_outdated_pods_are_replaced_beyond_the_budget() {
        let daemon_set = daemon_set(json!({}));
        let nodes = [node("n1", json!({})), node("n2", json!({})), node("n3", json!({}))];
        let pods = [
            pod("broken-1", "n1", "oldhash", not_ready()),
            pod("broken-2", "n2", "oldhash", not_ready()),
            pod("fine", "n3", "oldhash", json!({})),
        ];
        assert_eq!(deleted(&run(&daemon_set, &pods, &nodes)), ["broken-1", "broken-2"]);
    }

    #[test]
    fn a_missing_pod_is_created_before_the_rollout_continues() {
        let daemon_set = daemon_set(json!({}));
        let nodes = [node("n1", json!({})), node("n2", json!({}))];
        let plan = run(&daemon_set, &[pod("old-2", "n2", "oldhash", json!({}))], &nodes);
        assert_eq!(created_on(&plan), ["n1"]);
        assert!(deleted(&plan).is_empty());
    }

    #[test]
    fn on_delete_leaves_outdated_pods_alone() {
        let daemon_set = daemon_set(json!({"spec": {"updateStrategy": {"type": "OnDelete", "rollingUpdate": null}}}));
        let plan = run(&daemon_set, &[pod("old-1", "n1", "oldhash", json!({}))], &[node("n1", json!({}))]);
        assert!(plan.actions.is_empty());
        assert_eq!(plan.status.unwrap().updated_number_scheduled, None);
    }

    #[test]
    fn surge_starts_new_pods_beside_old_ones_then_removes_the_old() {
        let daemon_set = daemon_set(json!({"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}}}));
        let nodes = [node("n1", json!({})), node("n2", json!({}))];
        let old = [pod("old-1", "n1", "oldhash", json!({})), pod("old-2", "n2", "oldhash", json!({}))];
        let plan = run(&daemon_set, &old, &nodes);
        assert_eq!(created_on(&plan), ["n1"]);
        assert!(deleted(&plan).is_empty());

        let starting = [old[0].clone(), old[1].clone(), pod("new-1", "n1", HASH, not_ready())];
        assert!(run(&daemon_set, &starting, &nodes).actions.is_empty(), "one surge pod at a time");

        let ready = [old[0].clone(), old[1].clone(), pod("new-1", "n1", HASH, json!({}))];
        let plan = run(&daemon_set, &ready, &nodes);
        assert_eq!(deleted(&plan), ["old-1"]);
    }

    #[test]
    fn empty_selector_only_warns() {
        let daemon_set = daemon_set(json!({"spec": {"selector": {"matchLabels": null}}}));
        let plan = run(&daemon_set, &[], &[node("n1", json!({}))]);
        assert_eq!(
            events(&plan),
            [("SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.".to_string())]
        );
        assert_eq!(plan.actions.len(), 1);
        assert_eq!(plan.status, None);
    }

    #[test]
    fn a_daemon_set_being_deleted_does_nothing() {
        let daemon_set = daemon_set(json!({"metadata": {"deletionTimestamp": "2025-01-01T11:00:00Z"}}));
        assert_eq!(run(&daemon_set, &[], &[node("n1", json!({}))]), DaemonPlan::default());
    }

    #[test]
    fn orphans_are_adopted_and_counted() {
        let daemon_set = daemon_set(json!({}));
        let orphan = pod("orphan", "n1", HASH, json!({"metadata": {"ownerReferences": null}}));
        let plan = run(&daemon_set, &[orphan], &[node("n1", json!({}))]);
        assert!(matches!(&plan.actions[..], [Action::AdoptPod { name, .. }] if name == "orphan"));
        assert_eq!(plan.status.unwrap().current_number_scheduled, 1);
    }

    #[test]
    fn creations_are_batched_and_capped() {
        let daemon_set = daemon_set(json!({}));
        let nodes: Vec<Node> = (0..300).map(|index| node(&format!("n{index:03}"), json!({}))).collect();
        let plan = run(&daemon_set, &[], &nodes);
        let batches: Vec<usize> = plan
            .actions
            .iter()
            .filter_map(|action| if let Action::CreatePods { pods } = action { Some(pods.len()) } else { None })
            .collect();
        assert_eq!(batches, [1, 2, 4, 8, 16, 32, 64, 123]);
    }

    #[test]
    fn template_hash_is_stable_and_sensitive() {
        let daemon_set = daemon_set(json!({}));
        let hash = template_hash(&daemon_set.spec.template, None);
        assert_eq!(hash, template_hash(&daemon_set.spec.template.clone(), None));
        assert!(hash.chars().all(|character| "bcdfghjklmnpqrstvwxz2456789".contains(character)));
        assert_ne!(hash, template_hash(&daemon_set.spec.template, Some(1)));
        let changed = self::daemon_set(json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "agent:3"}]}}}}));
        assert_ne!(hash, template_hash(&changed.spec.template, None));
    }

    #[test]
    fn revisions_are_named_matched_and_pruned() {
        let daemon_set = daemon_set(json!({"spec": {"revisionHistoryLimit": 1}}));
        let revision = new_revision(&daemon_set, 3);
        let hash = template_hash(&daemon_set.spec.template, None);
        assert_eq!(revision.metadata.name, Some(format!("agent-{hash}")));
        assert_eq!(revision.metadata.labels.as_ref().unwrap()[REVISION_HASH_LABEL], hash);
        assert_eq!(revision.revision, Some(3));
        assert_eq!(revision.data.0["spec"]["template"]["$patch"], "replace");
        assert!(revision_matches(&daemon_set, &revision));
        let changed = self::daemon_set(json!({"spec": {"template": {"metadata": {"labels": {"v": "2"}}}}}));
        assert!(!revision_matches(&changed, &revision));

        let outdated: Vec<ControllerRevision> = [("agent-a", "a", 1), ("agent-b", "b", 2), ("agent-c", "c", 3)]
            .into_iter()
            .map(|(name, hash, number)| {
                serde_json::from_value(
                    json!({"metadata": {"name": name, "labels": {"controller-revision-hash": hash}}, "data": {}, "revision": number}),
                )
                .unwrap()
            })
            .collect();
        let pods = [pod("still-on-a", "n1", "a", json!({}))];
        assert_eq!(revisions_to_prune(&daemon_set, &outdated, &pods), ["agent-b", "agent-c"]);
        assert_eq!(revisions_to_prune(&daemon_set, &outdated, &[]), ["agent-a", "agent-b"]);
    }
}
