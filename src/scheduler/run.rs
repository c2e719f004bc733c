//! The scheduler as a running component (kube-scheduler): it watches Nodes, Pods and Namespaces into a
//! `ClusterState` and a `SchedulingQueue`, takes pending pods one at a time, places each with
//! `ClusterState::schedule`, assumes it on the chosen node and sends the binding in the background (a bounded
//! number of API writes at once) while the next pods are placed. A pod that fits nowhere gets a `FailedScheduling`
//! Warning event and, when the message changed, the condition `PodScheduled=False` with reason `Unschedulable`,
//! then waits for a change in the cluster; a bound pod gets a `Scheduled` event. Events go through a bounded
//! backlog to a task of their own, so recording them never holds up binding.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::stream::{self, BoxStream, SelectAll, StreamExt};
use k8s_openapi::api::core::v1::{Binding, Namespace, Node, ObjectReference, Pod, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::queue::{wants_scheduling, PodKey, SchedulingQueue, DEFAULT_SCHEDULER_NAME};
use crate::control::events::{reference_to, EventRecorder, Severity};
use crate::control::leader::{run_when_leader, LeaseConfig};
use crate::scheduler::placement::{scheduled_message, EVENT_REASON_FAILED_SCHEDULING, EVENT_REASON_SCHEDULED};
use crate::scheduler::state::ClusterState;

/// The Lease in kube-system that scheduler copies compete for.
const LEASE_NAME: &str = "kube-scheduler";
/// Bindings and status patches on their way at once; the next pod is placed while they travel.
const WRITES_IN_FLIGHT_MAX: usize = 32;
/// Events waiting to be recorded; past this, new ones are dropped (as client-go's broadcaster drops them).
const EVENT_BACKLOG_MAX: usize = 4096;
/// Events being written at once.
const EVENTS_IN_FLIGHT_MAX: usize = 8;
/// Upstream's limit on an event note (`NoteLengthLimit`); longer messages are cut with ` ...`.
const EVENT_NOTE_LENGTH_MAX: usize = 1024;
/// Scheduling decisions taken in a row before letting other tasks on this thread run.
const DECISIONS_BETWEEN_YIELDS: u32 = 64;
/// How long the loop sleeps when nothing is queued and nothing is due.
const IDLE_WAKE: Duration = Duration::from_secs(60);

/// Runs the scheduler for as long as the process lives: waits for the `kube-system/kube-scheduler` Lease,
/// schedules while holding it, and stops scheduling when it is lost until it is won again.
pub async fn run(client: kube::Client, identity: &str) {
    let events = EventRecorder::new(client.clone(), DEFAULT_SCHEDULER_NAME, identity);
    let lease = LeaseConfig::new(LEASE_NAME, identity);
    run_when_leader(client.clone(), lease, events, || run_loop(client.clone(), identity)).await;
}

/// Schedules pods without leader election, until dropped. Nothing is placed before the first full list of
/// Nodes, Pods and Namespaces is in.
pub async fn run_loop(client: kube::Client, identity: &str) {
    tracing::info!(%identity, "scheduler started");
    let (events, backlog) = mpsc::channel(EVENT_BACKLOG_MAX);
    // Dropped with the loop, which aborts the event task.
    let mut background = JoinSet::new();
    background.spawn(record_events(EventRecorder::new(client.clone(), DEFAULT_SCHEDULER_NAME, identity), backlog));
    let mut updates = watch_cluster(&client);
    let mut scheduler = Scheduler::new(client, events);
    let mut decisions_since_yield = 0;
    loop {
        let now = Instant::now();
        scheduler.queue.flush(now);
        let can_schedule = scheduler.can_schedule();
        let wake_at = scheduler.queue.next_deadline().unwrap_or(now + IDLE_WAKE);
        tokio::select! {
            biased;
            Some(write) = scheduler.writes.join_next() => match write {
                Ok(write) => scheduler.on_write(write, Instant::now()),
                Err(error) => tracing::warn!(%error, "an API write of the scheduler did not finish"),
            },
            update = updates.next() => match update {
                Some(update) => scheduler.on_update(update, Instant::now()),
                None => return,
            },
            () = tokio::time::sleep_until(wake_at.into()) => {}
            () = std::future::ready(()), if can_schedule => {
                scheduler.schedule_next(now);
                decisions_since_yield += 1;
                if decisions_since_yield == DECISIONS_BETWEEN_YIELDS {
                    decisions_since_yield = 0;
                    tokio::task::yield_now().await;
                }
            }
        }
    }
}

/// One item from any of the three watches.
// Items are handled one at a time as they arrive; boxing the large variants would only add an allocation each.
#[allow(clippy::large_enum_variant)]
enum Update {
    Node(watcher::Result<watcher::Event<Node>>),
    Pod(watcher::Result<watcher::Event<Pod>>),
    Namespace(watcher::Result<watcher::Event<Namespace>>),
}

/// Watches of all Nodes, Pods and Namespaces, each re-listing with kube-rs's default backoff after an error.
fn watch_cluster(client: &kube::Client) -> SelectAll<BoxStream<'static, Update>> {
    let config = watcher::Config::default();
    let nodes = watcher(Api::<Node>::all(client.clone()), config.clone()).default_backoff().map(Update::Node);
    // managedFields can be most of a pod's size and nothing here reads them.
    let pods = watcher(Api::<Pod>::all(client.clone()), config.clone())
        .default_backoff()
        .map(|event| Update::Pod(event.map(|event| event.modify(|pod| pod.metadata.managed_fields = None))));
    let namespaces = watcher(Api::<Namespace>::all(client.clone()), config).default_backoff().map(Update::Namespace);
    stream::select_all([nodes.boxed(), pods.boxed(), namespaces.boxed()])
}

/// A finished API write.
// Few are in flight at once (bounded), so their size does not matter; boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
enum Write {
    Bind { key: PodKey, uid: Option<String>, node: String, regarding: ObjectReference, result: Result<(), kube::Error> },
    Status { key: PodKey, result: Result<(), kube::Error> },
}

struct EventToRecord {
    regarding: ObjectReference,
    severity: Severity,
    reason: &'static str,
    action: &'static str,
    message: String,
}

/// The keys a watch delivers while it (re)lists; whatever was known before and is missing when the list is
/// complete was deleted while the watch was down.
struct Relist<K> {
    listed: Option<HashSet<K>>,
    synced: bool,
}

impl<K: std::hash::Hash + Eq + Clone> Relist<K> {
    fn new() -> Self {
        Relist { listed: None, synced: false }
    }

    fn begin(&mut self) {
        self.listed = Some(HashSet::new());
    }

    fn saw(&mut self, key: &K) {
        if let Some(listed) = self.listed.as_mut() {
            listed.insert(key.clone());
        }
    }

    /// Ends the list; returns the keys of `known` it did not contain.
    fn finish<'k>(&mut self, known: impl Iterator<Item = &'k K>) -> Vec<K>
    where
        K: 'k,
    {
        self.synced = true;
        let Some(listed) = self.listed.take() else { return Vec::new() };
        known.filter(|key| !listed.contains(*key)).cloned().collect()
    }
}

/// What of a node placement reads; any other change (heartbeats, conditions, images) cannot make room.
#[derive(PartialEq)]
struct NodeFields {
    labels: Option<BTreeMap<String, String>>,
    taints: Option<Vec<Taint>>,
    unschedulable: Option<bool>,
    allocatable: Option<BTreeMap<String, Quantity>>,
}

impl NodeFields {
    fn of(node: &Node) -> Self {
        NodeFields {
            labels: node.metadata.labels.clone(),
            taints: node.spec.as_ref().and_then(|spec| spec.taints.clone()),
            unschedulable: node.spec.as_ref().and_then(|spec| spec.unschedulable),
            allocatable: node.status.as_ref().and_then(|status| status.allocatable.clone()),
        }
    }
}

struct Scheduler {
    client: kube::Client,
    cluster: ClusterState,
    queue: SchedulingQueue,
    nodes: HashMap<String, NodeFields>,
    /// Every pod the watch has shown, and whether it is assigned to a node and still running there.
    pods: HashMap<PodKey, bool>,
    namespaces: HashSet<String>,
    node_list: Relist<String>,
    pod_list: Relist<PodKey>,
    namespace_list: Relist<String>,
    writes: JoinSet<Write>,
    events: mpsc::Sender<EventToRecord>,
}

fn key_of(meta: &ObjectMeta) -> PodKey {
    (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}

/// Assigned to a node and not finished: what counts against the node.
fn is_assigned(pod: &Pod) -> bool {
    let assigned = pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()).is_some_and(|node| !node.is_empty());
    let finished = matches!(pod.status.as_ref().and_then(|status| status.phase.as_deref()), Some("Succeeded" | "Failed"));
    assigned && !finished
}

fn truncate_note(message: &str) -> String {
    const SUFFIX: &str = " ...";
    if message.len() <= EVENT_NOTE_LENGTH_MAX {
        return message.to_string();
    }
    let mut end = EVENT_NOTE_LENGTH_MAX - SUFFIX.len();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{SUFFIX}", &message[..end])
}

/// A 404 (the pod is gone) or 409 (already bound, or being deleted): nothing to retry.
fn pod_gone(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404 || status.code == 409)
}

impl Scheduler {
    fn new(client: kube::Client, events: mpsc::Sender<EventToRecord>) -> Self {
        Scheduler {
            client,
            cluster: ClusterState::new(),
            queue: SchedulingQueue::new(),
            nodes: HashMap::new(),
            pods: HashMap::new(),
            namespaces: HashSet::new(),
            node_list: Relist::new(),
            pod_list: Relist::new(),
            namespace_list: Relist::new(),
            writes: JoinSet::new(),
            events,
        }
    }

    /// Every watch has listed once, a write slot is free and a pod is waiting.
    fn can_schedule(&self) -> bool {
        self.node_list.synced
            && self.pod_list.synced
            && self.namespace_list.synced
            && self.writes.len() < WRITES_IN_FLIGHT_MAX
            && self.queue.has_active()
    }

    fn on_update(&mut self, update: Update, now: Instant) {
        use watcher::Event;
        match update {
            Update::Node(Ok(event)) => match event {
                Event::Init => self.node_list.begin(),
                Event::InitApply(node) => {
                    self.node_list.saw(&node.metadata.name.clone().unwrap_or_default());
                    self.apply_node(&node, now);
                }
                Event::Apply(node) => self.apply_node(&node, now),
                Event::Delete(node) => self.delete_node(node.metadata.name.as_deref().unwrap_or_default()),
                Event::InitDone => {
                    for name in self.node_list.finish(self.nodes.keys()) {
                        self.delete_node(&name);
                    }
                }
            },
            Update::Pod(Ok(event)) => match event {
                Event::Init => self.pod_list.begin(),
                Event::InitApply(pod) => {
                    self.pod_list.saw(&key_of(&pod.metadata));
                    self.apply_pod(pod, now);
                }
                Event::Apply(pod) => self.apply_pod(pod, now),
                Event::Delete(pod) => self.delete_pod(&key_of(&pod.metadata), now),
                Event::InitDone => {
                    for key in self.pod_list.finish(self.pods.keys()) {
                        self.delete_pod(&key, now);
                    }
                }
            },
            Update::Namespace(Ok(event)) => match event {
                Event::Init => self.namespace_list.begin(),
                Event::InitApply(namespace) => {
                    self.namespace_list.saw(&namespace.metadata.name.clone().unwrap_or_default());
                    self.apply_namespace(&namespace);
                }
                Event::Apply(namespace) => self.apply_namespace(&namespace),
                Event::Delete(namespace) => self.delete_namespace(namespace.metadata.name.as_deref().unwrap_or_default()),
                Event::InitDone => {
                    for name in self.namespace_list.finish(self.namespaces.iter()) {
                        self.delete_namespace(&name);
                    }
                }
            },
            Update::Node(Err(error)) => tracing::warn!(%error, "scheduler: watch of nodes failed; re-listing"),
            Update::Pod(Err(error)) => tracing::warn!(%error, "scheduler: watch of pods failed; re-listing"),
            Update::Namespace(Err(error)) => tracing::warn!(%error, "scheduler: watch of namespaces failed; re-listing"),
        }
    }

    /// A new node, or a change in what placement reads of one, may make room for unschedulable pods.
    fn apply_node(&mut self, node: &Node, now: Instant) {
        let Some(name) = node.metadata.name.clone() else { return };
        let fields = NodeFields::of(node);
        if self.nodes.get(&name) == Some(&fields) {
            return;
        }
        self.cluster.upsert_node(node);
        self.nodes.insert(name, fields);
        self.queue.move_all_unschedulable(now);
    }

    fn delete_node(&mut self, name: &str) {
        self.nodes.remove(name);
        self.cluster.remove_node(name);
    }

    fn apply_pod(&mut self, pod: Pod, now: Instant) {
        let key = key_of(&pod.metadata);
        let assigned = is_assigned(&pod);
        let was_assigned = self.pods.insert(key.clone(), assigned).unwrap_or(false);
        self.cluster.upsert_pod(&pod);
        if wants_scheduling(&pod) {
            self.queue.upsert(pod, now);
        } else {
            self.queue.remove(&key);
        }
        if was_assigned && !assigned {
            // A pod that finished frees its share of the node.
            self.queue.move_all_unschedulable(now);
        } else if assigned && !was_assigned {
            self.queue.move_pod_affinity_waiters(now);
        }
    }

    fn delete_pod(&mut self, key: &PodKey, now: Instant) {
        let was_assigned = self.pods.remove(key).unwrap_or(false);
        let was_counted = self.cluster.node_of(&key.0, &key.1).is_some();
        self.cluster.remove_pod(&key.0, &key.1);
        self.queue.remove(key);
        if was_assigned || was_counted {
            self.queue.move_all_unschedulable(now);
        }
    }

    fn apply_namespace(&mut self, namespace: &Namespace) {
        if let Some(name) = &namespace.metadata.name {
            self.namespaces.insert(name.clone());
            self.cluster.upsert_namespace(namespace);
        }
    }

    fn delete_namespace(&mut self, name: &str) {
        self.namespaces.remove(name);
        self.cluster.remove_namespace(name);
    }

    /// One scheduling attempt for the next pod in the queue.
    fn schedule_next(&mut self, now: Instant) {
        let Some(key) = self.queue.pop(now) else { return };
        let Some(pod) = self.queue.pod(&key) else { return };
        match self.cluster.schedule(pod) {
            Ok(node) => {
                self.cluster.assume(pod, &node);
                let uid = pod.metadata.uid.clone();
                let regarding = reference_to(pod);
                let binding = Binding {
                    metadata: ObjectMeta {
                        name: Some(key.1.clone()),
                        namespace: Some(key.0.clone()),
                        uid: uid.clone(),
                        ..ObjectMeta::default()
                    },
                    target: ObjectReference { kind: Some("Node".into()), name: Some(node.clone()), ..ObjectReference::default() },
                };
                tracing::debug!(namespace = %key.0, pod = %key.1, %node, "binding");
                let pods: Api<Pod> = Api::namespaced(self.client.clone(), &key.0);
                self.writes.spawn(async move {
                    let result = pods
                        .create_subresource::<_, serde_json::Value>("binding", &key.1, &PostParams::default(), &binding)
                        .await
                        .map(drop);
                    Write::Bind { key, uid, node, regarding, result }
                });
            }
            Err(unschedulable) => {
                let regarding = reference_to(pod);
                let message = unschedulable.message;
                tracing::debug!(namespace = %key.0, pod = %key.1, %message, "unschedulable");
                self.queue.unschedulable(&key, now);
                self.record(regarding, Severity::Warning, EVENT_REASON_FAILED_SCHEDULING, "Scheduling", truncate_note(&message));
                if let Some(condition) = self.queue.condition_to_report(&key, &message, jiff::Timestamp::now()) {
                    let pods: Api<Pod> = Api::namespaced(self.client.clone(), &key.0);
                    let patch = serde_json::json!({ "status": { "conditions": [condition] } });
                    self.writes.spawn(async move {
                        let result = pods.patch_status(&key.1, &PatchParams::default(), &Patch::Strategic(patch)).await.map(drop);
                        Write::Status { key, result }
                    });
                }
            }
        }
    }

    fn on_write(&mut self, write: Write, now: Instant) {
        match write {
            Write::Bind { key, uid, node, regarding, result: Ok(()) } => {
                tracing::debug!(namespace = %key.0, pod = %key.1, %node, "bound");
                self.queue.bind_succeeded(&key, uid.as_deref());
                self.record(regarding, Severity::Normal, EVENT_REASON_SCHEDULED, "Binding", scheduled_message(&key.0, &key.1, &node));
            }
            Write::Bind { key, uid, node, result: Err(error), .. } => {
                tracing::debug!(namespace = %key.0, pod = %key.1, %node, %error, "binding failed");
                if self.queue.bind_failed(&key, uid.as_deref(), pod_gone(&error), now) {
                    self.cluster.forget(&key.0, &key.1);
                    // What the assumption held is free again, as if an assigned pod had been deleted.
                    self.queue.move_all_unschedulable(now);
                }
            }
            Write::Status { key, result: Err(error) } => {
                tracing::debug!(namespace = %key.0, pod = %key.1, %error, "could not set PodScheduled=False");
                self.queue.report_failed(&key);
            }
            Write::Status { result: Ok(()), .. } => {}
        }
    }

    /// Hands an event to the recording task; drops it if the backlog is full rather than wait.
    fn record(&self, regarding: ObjectReference, severity: Severity, reason: &'static str, action: &'static str, message: String) {
        let event = EventToRecord { regarding, severity, reason, action, message };
        if self.events.try_send(event).is_err() {
            tracing::debug!(reason, "event backlog full; event dropped");
        }
    }
}

/// Records queued events, a few at a time, until the loop that queues them is gone.
async fn record_events(recorder: EventRecorder, mut backlog: mpsc::Receiver<EventToRecord>) {
    let recorder = &recorder;
    stream::poll_fn(move |context| backlog.poll_recv(context))
        .for_each_concurrent(EVENTS_IN_FLIGHT_MAX, |event| async move {
            recorder.record(&event.regarding, event.severity, event.reason, event.action, event.message).await;
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relist_reports_what_disappeared_while_the_watch_was_down() {
        let known: HashSet<String> = ["a", "b", "c"].map(String::from).into();
        let mut list = Relist::new();
        assert!(!list.synced);
        list.begin();
        list.saw(&"a".to_string());
        list.saw(&"d".to_string());
        let mut gone = list.finish(known.iter());
        gone.sort();
        assert_eq!(gone, ["b", "c"]);
        assert!(list.synced);
        assert!(list.finish(known.iter()).is_empty(), "an InitDone without an Init removes nothing");
    }

    #[test]
    fn long_event_notes_are_cut_as_upstream_cuts_them() {
        assert_eq!(truncate_note("short"), "short");
        let long = "é".repeat(600);
        let cut = truncate_note(&long);
        assert!(cut.len() <= EVENT_NOTE_LENGTH_MAX && cut.ends_with(" ..."), "{} bytes", cut.len());
    }

    #[test]
    fn heartbeats_do_not_count_as_node_changes() {
        use k8s_openapi::api::core::v1::{NodeCondition, NodeStatus};
        let mut node = Node { metadata: ObjectMeta { name: Some("n1".into()), ..Default::default() }, ..Default::default() };
        node.status =
            Some(NodeStatus { allocatable: Some(BTreeMap::from([("cpu".to_string(), Quantity("4".into()))])), ..Default::default() });
        let before = NodeFields::of(&node);
        let status = node.status.get_or_insert_with(Default::default);
        status.conditions = Some(vec![NodeCondition { type_: "Ready".into(), status: "True".into(), ..Default::default() }]);
        assert!(NodeFields::of(&node) == before);
        node.status.get_or_insert_with(Default::default).allocatable = Some(BTreeMap::from([("cpu".to_string(), Quantity("8".into()))]));
        assert!(NodeFields::of(&node) != before);
    }
}
