//! The controllers that look after nodes and the pods bound to them. Node IPAM (`controllers::nodeipam`) gives each
//! node without `spec.podCIDR` the next free block of the cluster CIDR, once the allocator knows every block in use,
//! and returns the blocks of deleted nodes. Node lifecycle (`controllers::nodelifecycle`) checks every node's
//! heartbeat (its Lease in `kube-node-lease`, read from a private cache, and its Ready condition) every 5 s and when
//! a grace period runs out: silent nodes turn Unknown, get the `unreachable` taints and their pods are marked not
//! ready. Taint eviction deletes pods that do not tolerate their node's NoExecute taints, as soon as a node or pod
//! change calls for it (at most once a second) or a toleration runs out. Pod GC (`controllers::podgc`) collects
//! finished pods over the threshold, pods of vanished nodes and terminating pods that can never finish, every 20 s.
//! Events are recorded as `node-controller`, `cidrAllocator` and `taint-eviction-controller`, as upstream does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use ipnet::IpNet;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeSpec, ObjectReference, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use tokio::time::Instant;

use super::pods::api_message;
use super::{is_gone_or_conflict, Shared};
use crate::control::events::{EventRecorder, Severity};
use crate::controllers::nodeipam::{
    self, NodeCidrAction, NodeEvent, NodeIpam, DEFAULT_NODE_CIDR_MASK_SIZE_IPV4, DEFAULT_NODE_CIDR_MASK_SIZE_IPV6,
};
use crate::controllers::nodelifecycle::{
    self, EvictionPlan, LifecycleEvent, NodeHealthPlan, NodeLifecycleConfig, ScheduledEviction, UntimedTaintClock,
};
use crate::controllers::podgc::{self, MissingNodes, PodGcConfig, PodGcReason};

const NODE_COMPONENT: &str = "node-controller";
const CIDR_COMPONENT: &str = "cidrAllocator";
const TAINT_EVICTION_COMPONENT: &str = "taint-eviction-controller";
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// Upstream `--node-monitor-period`.
const NODE_MONITOR_PERIOD: Duration = Duration::from_secs(5);
/// Upstream retries a podCIDR patch this many times before giving the block back.
const CIDR_UPDATE_RETRIES: usize = 3;
/// Attempts at a node's taints when other writers keep changing the node.
const TAINT_UPDATE_RETRIES: usize = 5;
/// Node and pod changes are batched this long before the next eviction pass.
const EVICTION_MIN_INTERVAL: Duration = Duration::from_secs(1);

/// How the node controllers run (kube-controller-manager flags).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeConfig {
    /// `--cluster-cidr`: node pod ranges are cut from it (`/24` per node for IPv4, `/64` for IPv6).
    pub cluster_cidr: IpNet,
    /// `--node-monitor-grace-period`: how long a node may stay silent before it is Unknown.
    pub node_monitor_grace_period: Duration,
    /// `--terminated-pod-gc-threshold`: finished pods kept; 0 keeps them all.
    pub terminated_pod_threshold: usize,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            cluster_cidr: nodeipam::parse_cidr(nodeipam::DEFAULT_CLUSTER_CIDR).expect("the default cluster CIDR parses"),
            node_monitor_grace_period: Duration::from_secs(40),
            terminated_pod_threshold: PodGcConfig::default().terminated_pod_threshold,
        }
    }
}

pub async fn run(shared: Arc<Shared>, config: NodeConfig) {
    // Subscriptions come first: the shared informers start once every loop has subscribed.
    let nodes_for_ipam = shared.nodes.subscribe();
    let nodes_for_lifecycle = shared.nodes.subscribe();
    let pods_for_lifecycle = shared.pods.subscribe();
    // Waited for once here: `Store::wait_until_ready` wakes only the last of several concurrent waiters.
    let ready = futures::future::join(shared.nodes.store.wait_until_ready(), shared.pods.store.wait_until_ready()).await;
    if ready.0.is_err() || ready.1.is_err() {
        return;
    }
    futures::join!(
        run_ipam(shared.clone(), config.cluster_cidr, nodes_for_ipam),
        run_lifecycle(shared.clone(), config.node_monitor_grace_period, nodes_for_lifecycle, pods_for_lifecycle),
        run_pod_gc(shared, config.terminated_pod_threshold),
    );
}

fn node_reference(name: &str, uid: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Node".into()),
        name: Some(name.into()),
        uid: (!uid.is_empty()).then(|| uid.into()),
        ..ObjectReference::default()
    }
}

fn severity(type_: &str) -> Severity {
    if type_ == "Warning" {
        Severity::Warning
    } else {
        Severity::Normal
    }
}

async fn record_lifecycle_event(recorder: &EventRecorder, event: LifecycleEvent) {
    recorder.record(&event.regarding, severity(event.type_), event.reason, event.reason, event.message).await;
}

fn cloned<K: Clone>(objects: Vec<Arc<K>>) -> Vec<K> {
    objects.into_iter().map(|object| (*object).clone()).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Node IPAM
// ---------------------------------------------------------------------------------------------------------------

async fn run_ipam(shared: Arc<Shared>, cluster_cidr: IpNet, changes: impl Stream<Item = Arc<Node>>) {
    futures::pin_mut!(changes);
    let recorder = shared.recorder(CIDR_COMPONENT);
    // `run` waited for the first list of nodes: the allocator must know every block in use before it hands one out.
    let mask = if cluster_cidr.addr().is_ipv4() { DEFAULT_NODE_CIDR_MASK_SIZE_IPV4 } else { DEFAULT_NODE_CIDR_MASK_SIZE_IPV6 };
    let mut ipam = match NodeIpam::new(cluster_cidr, mask, None, &cloned(shared.nodes.store.state())) {
        Ok(ipam) => ipam,
        Err(error) => {
            // Upstream refuses to start with a cluster CIDR it cannot use; so does this loop (the others go on).
            tracing::error!(%error, %cluster_cidr, "node IPAM cannot start");
            return;
        }
    };
    // The last copy of each node (only its name and ranges matter), to give the ranges back when a deletion was missed
    // (a subscriber that lags, or a re-list, loses deletions).
    let mut known: HashMap<String, Node> = HashMap::new();
    let mut sweep = tokio::time::interval(NODE_MONITOR_PERIOD);
    loop {
        tokio::select! {
            changed = changes.next() => {
                let Some(node) = changed else { return };
                let name = node.metadata.name.clone().unwrap_or_default();
                let cached = shared.nodes.store.get(&ObjectRef::new(&name));
                if cached.is_none_or(|cached| cached.metadata.uid != node.metadata.uid) {
                    // The subscription hands out deleted nodes too: the last copy still names the range to return.
                    known.remove(&name);
                    if let Err(error) = ipam.node_deleted(&node) {
                        tracing::warn!(%error, node = name, "could not release the pod range of a deleted node");
                    }
                    continue;
                }
                sync_node_cidr(&shared.client, &recorder, &mut ipam, &node).await;
                let ranges = Node {
                    metadata: kube::api::ObjectMeta { name: Some(name.clone()), ..Default::default() },
                    spec: node.spec.as_ref().map(|spec| NodeSpec { pod_cidr: spec.pod_cidr.clone(), pod_cidrs: spec.pod_cidrs.clone(), ..NodeSpec::default() }),
                    status: None,
                };
                known.insert(name, ranges);
            }
            _ = sweep.tick() => {
                let gone: Vec<String> = known.keys().filter(|name| shared.nodes.store.get(&ObjectRef::new(name)).is_none()).cloned().collect();
                for name in gone {
                    if let Some(node) = known.remove(&name) {
                        if let Err(error) = ipam.node_deleted(&node) {
                            tracing::warn!(%error, node = name, "could not release the pod range of a deleted node");
                        }
                    }
                }
            }
        }
    }
}

async fn sync_node_cidr(client: &kube::Client, recorder: &EventRecorder, ipam: &mut NodeIpam, node: &Node) {
    let event = match ipam.sync_node(node) {
        Ok(NodeCidrAction::None) => return,
        Ok(NodeCidrAction::NotAvailable(event)) => event,
        Ok(NodeCidrAction::Assign { node_name, cidr, patch }) => {
            let api: Api<Node> = Api::all(client.clone());
            let mut failure = None;
            for _ in 0..CIDR_UPDATE_RETRIES {
                match api.patch(&node_name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                    Ok(_) => {
                        tracing::debug!(node = node_name, %cidr, "assigned pod range");
                        return;
                    }
                    Err(error) => failure = Some(error),
                }
            }
            let Some(error) = failure else { return };
            let gone = matches!(&error, kube::Error::Api(status) if status.code == 404);
            // A patch that got no answer may have landed; upstream keeps the block then.
            let timed_out = !matches!(error, kube::Error::Api(_));
            tracing::warn!(%error, node = node_name, %cidr, "could not assign pod range");
            match ipam.assignment_failed(node, timed_out) {
                Ok(_) if gone => return,
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(%error, node = node_name, "could not release a pod range");
                    return;
                }
            }
        }
        Err(error) => {
            tracing::warn!(%error, node = node.metadata.name.as_deref().unwrap_or_default(), "node pod range not usable");
            return;
        }
    };
    record_node_event(recorder, event).await;
}

async fn record_node_event(recorder: &EventRecorder, event: NodeEvent) {
    let reference = node_reference(&event.node_name, &event.node_uid);
    recorder.record(&reference, severity(event.type_), event.reason, event.reason, event.message).await;
}

// ---------------------------------------------------------------------------------------------------------------
// Node lifecycle and taint eviction
// ---------------------------------------------------------------------------------------------------------------

struct Lifecycle {
    shared: Arc<Shared>,
    config: NodeLifecycleConfig,
    leases: Store<Lease>,
    node_recorder: EventRecorder,
    eviction_recorder: EventRecorder,
    /// Nodes seen so far, by name and uid, for `RegisteredNode` / `RemovingNode`.
    registered: HashMap<String, String>,
    clock: UntimedTaintClock,
    /// Evictions waiting from the last pass, to tell a cancelled one from one that happened.
    scheduled: Vec<ScheduledEviction>,
}

async fn run_lifecycle(
    shared: Arc<Shared>,
    grace: Duration,
    node_changes: impl Stream<Item = Arc<Node>>,
    pod_changes: impl Stream<Item = Arc<Pod>>,
) {
    let (leases, lease_writer) = reflector::store();
    let lease_api: Api<Lease> = Api::namespaced(shared.client.clone(), NODE_LEASE_NAMESPACE);
    let watch_leases = async move {
        let events = reflector::reflector(lease_writer, watcher(lease_api, watcher::Config::default()).default_backoff());
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            if let Err(error) = event {
                tracing::debug!(%error, "node Lease watch failed; retrying");
            }
        }
    };
    let config = NodeLifecycleConfig {
        grace_period: SignedDuration::try_from(grace).unwrap_or(SignedDuration::from_secs(40)),
        ..NodeLifecycleConfig::default()
    };
    let mut lifecycle = Lifecycle {
        node_recorder: shared.recorder(NODE_COMPONENT),
        eviction_recorder: shared.recorder(TAINT_EVICTION_COMPONENT),
        shared,
        config,
        leases,
        registered: HashMap::new(),
        clock: UntimedTaintClock::default(),
        scheduled: Vec::new(),
    };
    let work = async move {
        futures::pin_mut!(node_changes, pod_changes);
        if lifecycle.leases.wait_until_ready().await.is_err() {
            return;
        }
        let mut next_health = Instant::now();
        let mut next_eviction: Option<Instant> = Some(Instant::now());
        let mut last_eviction = Instant::now() - EVICTION_MIN_INTERVAL;
        loop {
            let now = Instant::now();
            if now >= next_health {
                let after = lifecycle.health_pass().await;
                next_health = Instant::now() + after;
            }
            if next_eviction.is_some_and(|due| now >= due) {
                last_eviction = Instant::now();
                next_eviction = lifecycle.eviction_pass().await.map(|after| Instant::now() + after);
            }
            let wake = next_eviction.map_or(next_health, |due| due.min(next_health));
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                changed = node_changes.next() => {
                    if changed.is_none() { return; }
                    next_eviction = Some(soonest(next_eviction, last_eviction + EVICTION_MIN_INTERVAL));
                }
                changed = pod_changes.next() => {
                    let Some(pod) = changed else { return };
                    if lifecycle.on_tainted_node(&pod) {
                        next_eviction = Some(soonest(next_eviction, last_eviction + EVICTION_MIN_INTERVAL));
                    }
                }
            }
        }
    };
    futures::join!(watch_leases, work);
}

fn soonest(current: Option<Instant>, candidate: Instant) -> Instant {
    current.map_or(candidate, |current| current.min(candidate))
}

/// How long until `at`, from `now`, as a wait no shorter than zero.
fn until(at: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
}

impl Lifecycle {
    /// Whether a pod change can matter to taint eviction: the pod's node has NoExecute taints.
    fn on_tainted_node(&self, pod: &Pod) -> bool {
        let Some(node_name) = pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()) else { return false };
        let Some(node) = self.shared.nodes.store.get(&ObjectRef::new(node_name)) else { return false };
        node.spec
            .as_ref()
            .and_then(|spec| spec.taints.as_ref())
            .is_some_and(|taints| taints.iter().any(|taint| taint.effect == "NoExecute"))
    }

    /// Upstream `monitorNodeHealth` and the tainting passes; returns the wait until the next pass.
    async fn health_pass(&mut self) -> Duration {
        let nodes = cloned(self.shared.nodes.store.state());
        self.note_registrations(&nodes).await;
        let leases = cloned(self.leases.state());
        let pods = cloned(self.shared.pods.store.state());
        let now = Timestamp::now();
        let plan = nodelifecycle::monitor_node_health(&self.config, &nodes, &leases, &pods, now);
        let after = plan.next_check.map_or(NODE_MONITOR_PERIOD, |at| until(at, now).min(NODE_MONITOR_PERIOD));
        self.carry_out_health_plan(plan).await;
        after
    }

    /// `RegisteredNode` for nodes seen the first time, `RemovingNode` for nodes gone.
    async fn note_registrations(&mut self, nodes: &[Node]) {
        let mut current: HashMap<String, String> = HashMap::new();
        for node in nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let uid = node.metadata.uid.clone().unwrap_or_default();
            if self.registered.get(&name) != Some(&uid) {
                record_lifecycle_event(&self.node_recorder, nodelifecycle::registered_node_event(node)).await;
            }
            current.insert(name, uid);
        }
        for (name, uid) in &self.registered {
            if current.get(name) != Some(uid) {
                let gone = Node {
                    metadata: kube::api::ObjectMeta { name: Some(name.clone()), uid: Some(uid.clone()), ..Default::default() },
                    ..Node::default()
                };
                record_lifecycle_event(&self.node_recorder, nodelifecycle::removing_node_event(&gone)).await;
            }
        }
        self.registered = current;
    }

    async fn carry_out_health_plan(&self, plan: NodeHealthPlan) {
        let client = &self.shared.client;
        let nodes: Api<Node> = Api::all(client.clone());
        for node in &plan.status_updates {
            let name = node.metadata.name.clone().unwrap_or_default();
            match nodes.replace_status(&name, &PostParams::default(), node).await {
                Ok(_) => {}
                // Changed meanwhile (the kubelet came back, or another pass wrote it): the next pass decides again.
                Err(error) if is_gone_or_conflict(&error) => {}
                Err(error) => tracing::warn!(%error, node = name, "could not update node status"),
            }
        }
        for change in &plan.taint_changes {
            for _ in 0..TAINT_UPDATE_RETRIES {
                let mut node = match nodes.get_opt(&change.node_name).await {
                    Ok(Some(node)) => node,
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(%error, node = change.node_name, "could not read node for its taints");
                        break;
                    }
                };
                let taints = node.spec.as_ref().and_then(|spec| spec.taints.clone()).unwrap_or_default();
                let Some(updated) = nodelifecycle::apply_taint_change(&taints, change) else { break };
                node.spec.get_or_insert_with(Default::default).taints = (!updated.is_empty()).then_some(updated);
                match nodes.replace(&change.node_name, &PostParams::default(), &node).await {
                    Ok(_) => break,
                    Err(kube::Error::Api(status)) if status.code == 409 => continue,
                    Err(error) => {
                        tracing::warn!(%error, node = change.node_name, "could not update node taints");
                        break;
                    }
                }
            }
        }
        for not_ready in plan.pods_not_ready {
            let pods: Api<Pod> = Api::namespaced(client.clone(), &not_ready.namespace);
            match pods.patch_status(&not_ready.name, &PatchParams::default(), &Patch::Strategic(&not_ready.status_patch)).await {
                Ok(_) => record_lifecycle_event(&self.node_recorder, not_ready.event).await,
                Err(error) if is_gone_or_conflict(&error) => {}
                Err(error) => tracing::warn!(%error, pod = not_ready.name, "could not mark pod not ready"),
            }
        }
        for event in plan.events {
            record_lifecycle_event(&self.node_recorder, event).await;
        }
    }

    /// Upstream's taint-eviction controller over all nodes and pods; returns the wait until the next toleration runs out.
    async fn eviction_pass(&mut self) -> Option<Duration> {
        let nodes = cloned(self.shared.nodes.store.state());
        let pods = cloned(self.shared.pods.store.state());
        let now = Timestamp::now();
        let plan = nodelifecycle::plan_taint_evictions(&nodes, &pods, &mut self.clock, now);
        let after = plan.next_check.map(|at| until(at, now));
        self.carry_out_evictions(plan).await;
        after
    }

    async fn carry_out_evictions(&mut self, plan: EvictionPlan) {
        let EvictionPlan { evictions, scheduled, .. } = plan;
        let still_waiting: HashSet<&str> = scheduled.iter().map(|waiting| waiting.uid.as_str()).collect();
        let evicted: HashSet<&str> = evictions.iter().map(|eviction| eviction.uid.as_str()).collect();
        for cancelled in
            self.scheduled.iter().filter(|before| !still_waiting.contains(before.uid.as_str()) && !evicted.contains(before.uid.as_str()))
        {
            // Only a pod that is still there had its deletion called off (one that went away was not).
            let pod = self.shared.pods.store.get(&ObjectRef::new(&cancelled.name).within(&cancelled.namespace));
            if pod
                .is_some_and(|pod| pod.metadata.uid.as_deref() == Some(cancelled.uid.as_str()) && pod.metadata.deletion_timestamp.is_none())
            {
                record_lifecycle_event(
                    &self.eviction_recorder,
                    nodelifecycle::cancelled_eviction_event(&cancelled.namespace, &cancelled.name),
                )
                .await;
            }
        }
        for eviction in &evictions {
            let pods: Api<Pod> = Api::namespaced(self.shared.client.clone(), &eviction.namespace);
            match pods.patch_status(&eviction.name, &PatchParams::default(), &Patch::Strategic(&eviction.status_patch)).await {
                Ok(_) => {}
                Err(error) if is_gone_or_conflict(&error) => continue,
                Err(error) => tracing::debug!(%error, pod = eviction.name, "could not add the DisruptionTarget condition"),
            }
            record_lifecycle_event(&self.eviction_recorder, eviction.event.clone()).await;
            let delete = DeleteParams {
                preconditions: Some(Preconditions { uid: Some(eviction.uid.clone()), resource_version: None }),
                ..DeleteParams::default()
            };
            match pods.delete(&eviction.name, &delete).await {
                Ok(_) => {}
                Err(error) if is_gone_or_conflict(&error) => {}
                Err(error) => tracing::warn!(error = api_message(&error), pod = eviction.name, "could not evict pod"),
            }
        }
        self.scheduled = scheduled;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Pod GC
// ---------------------------------------------------------------------------------------------------------------

async fn run_pod_gc(shared: Arc<Shared>, terminated_pod_threshold: usize) {
    let config = PodGcConfig { terminated_pod_threshold, ..PodGcConfig::default() };
    let period = Duration::try_from(podgc::GC_CHECK_PERIOD).unwrap_or(Duration::from_secs(20));
    let mut missing = MissingNodes::default();
    loop {
        let pods = cloned(shared.pods.store.state());
        let nodes = cloned(shared.nodes.store.state());
        let now = Timestamp::now();
        let plan = podgc::plan_pod_gc(&config, &pods, &nodes, &mut missing, now);
        let after = plan.next_check.map_or(period, |at| until(at, now).min(period));
        collect_pods(&shared, &pods, plan.deletions).await;
        tokio::time::sleep(after).await;
    }
}

async fn collect_pods(shared: &Shared, pods: &[Pod], deletions: Vec<podgc::PodGcDeletion>) {
    let nodes: Api<Node> = Api::all(shared.client.clone());
    let orphans: HashSet<&str> =
        deletions.iter().filter(|deletion| deletion.reason == PodGcReason::Orphaned).map(|deletion| deletion.uid.as_str()).collect();
    let orphan_nodes: HashMap<String, String> = pods
        .iter()
        .filter(|pod| pod.metadata.uid.as_deref().is_some_and(|uid| orphans.contains(uid)))
        .filter_map(|pod| Some((pod.metadata.uid.clone()?, pod.spec.as_ref()?.node_name.clone()?)))
        .collect();
    // Upstream reads an orphan's node once more before collecting its pods: the cache may be behind a re-registration.
    let mut node_exists: HashMap<String, bool> = HashMap::new();
    for deletion in deletions {
        if let Some(node_name) = orphan_nodes.get(&deletion.uid) {
            let exists = match node_exists.get(node_name) {
                Some(exists) => *exists,
                None => {
                    // Only a clear "not found" counts as gone; an error keeps the pods for the next pass.
                    let exists = !matches!(nodes.get_opt(node_name).await, Ok(None));
                    node_exists.insert(node_name.clone(), exists);
                    exists
                }
            };
            if exists {
                continue;
            }
        }
        let api: Api<Pod> = Api::namespaced(shared.client.clone(), &deletion.namespace);
        if let Some(patch) = &deletion.status_patch {
            match api.patch_status(&deletion.name, &PatchParams::default(), &Patch::Strategic(patch)).await {
                Ok(_) => {}
                Err(error) if is_gone_or_conflict(&error) => continue,
                Err(error) => {
                    tracing::warn!(error = api_message(&error), pod = deletion.name, "pod GC could not mark pod failed");
                    continue;
                }
            }
        }
        let delete = DeleteParams {
            grace_period_seconds: u32::try_from(deletion.grace_period_seconds).ok(),
            preconditions: Some(Preconditions { uid: Some(deletion.uid.clone()), resource_version: None }),
            ..DeleteParams::default()
        };
        match api.delete(&deletion.name, &delete).await {
            Ok(_) => tracing::info!(pod = deletion.name, namespace = deletion.namespace, reason = ?deletion.reason, "pod GC deleted pod"),
            Err(error) if is_gone_or_conflict(&error) => {}
            Err(error) => tracing::warn!(error = api_message(&error), pod = deletion.name, "pod GC could not delete pod"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_upstreams() {
        let config = NodeConfig::default();
        assert_eq!(config.cluster_cidr.to_string(), "10.42.0.0/16");
        assert_eq!(config.node_monitor_grace_period, Duration::from_secs(40));
        assert_eq!(config.terminated_pod_threshold, 12500);
    }

    #[test]
    fn waits_never_go_negative() {
        let now = Timestamp::from_second(1_700_000_000).expect("time");
        assert_eq!(until(now + SignedDuration::from_secs(3), now), Duration::from_secs(3));
        assert_eq!(until(now - SignedDuration::from_secs(3), now), Duration::ZERO);
    }

    #[test]
    fn node_references_name_the_node_for_events() {
        let reference = node_reference("worker-1", "uid-1");
        assert_eq!(reference.kind.as_deref(), Some("Node"));
        assert_eq!(reference.namespace, None);
        assert_eq!(node_reference("worker-1", "").uid, None);
    }
}
