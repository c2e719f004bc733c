//! The garbage collector: ownerReference-based deletion across every resource the API serves, as upstream's does it.
//! Background: an object all of whose owners are gone is deleted (with the propagation its own finalizers ask for).
//! Foreground: an owner being deleted with the `foregroundDeletion` finalizer has its dependents deleted (those with
//! dependents of their own in the foreground too), keeps the finalizer while dependents with `blockOwnerDeletion`
//! exist, then loses it. Orphan: an owner being deleted with the `orphan` finalizer has its reference removed from
//! every dependent, then loses the finalizer. Invalid references (a namespaced owner in another namespace, or a
//! cluster-scoped dependent naming a namespaced kind) are reported with upstream's `OwnerRefInvalidNamespace` Event.
//!
//! How it knows the cluster: discovery (every 30 s) lists the resources that can be listed, watched and deleted
//! (Events excepted); each gets a private metadata-only watch. Memory stays proportional to what the decisions need,
//! not to the objects' content: for every object only its uid, resource and namespace (to know an owner exists without
//! asking the API server); full identity and ownerReferences only for objects that have ownerReferences or are being
//! deleted with a collector finalizer; an owner → dependents index; a bounded cache of owners known to be absent.
//! An owner not seen in any watch is looked up by GET (and compared by uid) before anything is deleted for it. The
//! work queue holds each object at most once; failed items come back after a delay, never in a tight loop.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, DynamicObject, PartialObjectMeta, Patch, PatchParams, Preconditions, PropagationPolicy};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;
use tokio::sync::{watch, Notify};
use tokio::task::{AbortHandle, JoinSet};

use super::discovery::{self, ServedResource};
use super::pods::api_message;
use super::{Shared, RETRY_AFTER_ERROR};
use crate::control::events::{EventRecorder, Severity};

const COMPONENT: &str = "garbage-collector-controller";
const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
const ORPHAN_FINALIZER: &str = "orphan";
/// Upstream re-reads discovery this often (new CRDs get monitors, removed ones lose them).
const DISCOVERY_PERIOD: Duration = Duration::from_secs(30);
/// Items handled at once (upstream `--concurrent-gc-syncs` is 20).
const WORKERS: usize = 8;
/// Owners recently found absent (upstream's absent-owner cache holds 500).
const ABSENT_OWNERS_MAX: usize = 500;
/// Workers wait for the first list of every resource this long at most before acting on partial knowledge.
const INITIAL_SYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// An item whose owner's kind no served resource has is looked at again this much later (it may be a CRD not
/// discovered yet).
const UNRESOLVABLE_RETRY: Duration = Duration::from_secs(30);
/// An item whose write met a newer version is looked at again this soon (the watch brings the newer one meanwhile).
const CONFLICT_RETRY: Duration = Duration::from_millis(200);
/// Resources never watched: numerous, short-lived and never owners (upstream ignores core Events).
const IGNORED_RESOURCES: [(&str, &str); 2] = [("", "events"), ("events.k8s.io", "events")];

type Uid = Arc<str>;

pub async fn run(shared: Arc<Shared>) {
    let collector = Arc::new(Collector {
        client: shared.client.clone(),
        recorder: shared.recorder(COMPONENT),
        graph: Mutex::new(Graph::default()),
        queue: Arc::new(WorkQueue::default()),
        synced: watch::channel(false).0,
    });
    let workers = futures::future::join_all((0..WORKERS).map(|_| collector.clone().work()));
    futures::join!(workers, collector.clone().keep_monitors());
}

// ---------------------------------------------------------------------------------------------------------------
// The dependency graph
// ---------------------------------------------------------------------------------------------------------------

/// An object some watch shows: enough to know an owner exists, and where.
struct LiveObject {
    resource: usize,
    namespace: Option<Arc<str>>,
}

/// An object that takes part in collection: it has owners, or is being deleted with a collector finalizer.
#[derive(Clone, Debug, PartialEq)]
struct Node {
    resource: usize,
    namespace: Option<String>,
    name: String,
    owners: Vec<OwnerReference>,
    deleting: bool,
    foreground: bool,
    orphan: bool,
}

impl Node {
    fn from_meta(resource: usize, meta: &ObjectMeta) -> Self {
        let has = |finalizer: &str| meta.finalizers.iter().flatten().any(|f| f == finalizer);
        Node {
            resource,
            namespace: meta.namespace.clone().filter(|ns| !ns.is_empty()),
            name: meta.name.clone().unwrap_or_default(),
            owners: meta.owner_references.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
            foreground: has(FOREGROUND_FINALIZER),
            orphan: has(ORPHAN_FINALIZER),
        }
    }

    /// Waiting for its dependents to be deleted (upstream `isDeletingDependents`).
    fn waiting_for_dependents(&self) -> bool {
        self.deleting && self.foreground
    }

    fn orphaning(&self) -> bool {
        self.deleting && self.orphan
    }

    fn relevant(&self) -> bool {
        !self.owners.is_empty() || self.waiting_for_dependents() || self.orphaning()
    }

    fn blocks(&self, owner: &str) -> bool {
        self.owners.iter().any(|reference| reference.uid == owner && reference.block_owner_deletion == Some(true))
    }
}

/// Owner coordinates (lookup namespace, apiVersion, kind, name, uid) recently found absent, oldest forgotten first.
#[derive(Default)]
struct AbsentOwners {
    known: HashSet<String>,
    order: VecDeque<String>,
}

impl AbsentOwners {
    fn key(namespace: Option<&str>, reference: &OwnerReference) -> String {
        format!("{}\0{}\0{}\0{}\0{}", namespace.unwrap_or(""), reference.api_version, reference.kind, reference.name, reference.uid)
    }

    fn contains(&self, key: &str) -> bool {
        self.known.contains(key)
    }

    fn insert(&mut self, key: String) {
        if self.known.insert(key.clone()) {
            self.order.push_back(key);
            while self.order.len() > ABSENT_OWNERS_MAX {
                if let Some(oldest) = self.order.pop_front() {
                    self.known.remove(&oldest);
                }
            }
        }
    }
}

#[derive(Default)]
struct Graph {
    /// Every resource ever monitored, by id (ids are never reused, so a stale id in a node stays harmless).
    resources: Vec<ServedResource>,
    resource_ids: HashMap<(String, String, String), usize>,
    /// Owner kinds, `(group, kind)` → resource id, for every resource discovery lists.
    kinds: HashMap<(String, String), usize>,
    live: HashMap<Uid, LiveObject>,
    nodes: HashMap<Uid, Node>,
    /// Owner uid → uids of the nodes that name it.
    dependents: HashMap<Uid, HashSet<Uid>>,
    absent: AbsentOwners,
    /// Interned namespace names (every live object carries one).
    namespaces: HashSet<Arc<str>>,
    /// Per resource being (re-)listed, the uids the list showed so far.
    relisting: HashMap<usize, HashSet<Uid>>,
    /// Resources whose first list is complete.
    synced: HashSet<usize>,
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

impl Graph {
    /// The id of a resource, registering it (and its kind) when new.
    fn register(&mut self, resource: &ServedResource) -> usize {
        let key = (resource.resource.group.clone(), resource.resource.version.clone(), resource.resource.plural.clone());
        let id = match self.resource_ids.get(&key) {
            Some(id) => *id,
            None => {
                self.resources.push(resource.clone());
                self.resource_ids.insert(key, self.resources.len() - 1);
                self.resources.len() - 1
            }
        };
        self.kinds.insert((resource.resource.group.clone(), resource.resource.kind.clone()), id);
        id
    }

    fn owner_resource(&self, reference: &OwnerReference) -> Option<&ServedResource> {
        let id = self.kinds.get(&(group_of(&reference.api_version).to_string(), reference.kind.clone()))?;
        self.resources.get(*id)
    }

    /// The shared `Arc` for a uid already known, so each uid is stored once however many maps hold it.
    fn uid(&self, uid: &str) -> Uid {
        if let Some((known, _)) = self.live.get_key_value(uid) {
            return known.clone();
        }
        if let Some((known, _)) = self.dependents.get_key_value(uid) {
            return known.clone();
        }
        Arc::from(uid)
    }

    fn namespace(&mut self, namespace: &str) -> Arc<str> {
        if let Some(known) = self.namespaces.get(namespace) {
            return known.clone();
        }
        let interned: Arc<str> = Arc::from(namespace);
        self.namespaces.insert(interned.clone());
        interned
    }

    fn waiting(&self, uid: &str) -> bool {
        self.nodes.get(uid).is_some_and(Node::waiting_for_dependents)
    }

    /// Whether an owner reference certainly holds: the owner is in a watch, where the dependent can reference it, and
    /// is not waiting for its dependents to be deleted.
    fn looks_solid(&self, reference: &OwnerReference, dependent_namespace: Option<&str>) -> bool {
        let Some(live) = self.live.get(reference.uid.as_str()) else { return false };
        let namespace_fits = live.namespace.is_none() || live.namespace.as_deref() == dependent_namespace;
        namespace_fits && !self.waiting(&reference.uid)
    }

    /// An added or changed object; returns the items to process.
    fn observe(&mut self, resource: usize, meta: &ObjectMeta) -> Vec<Uid> {
        let Some(uid) = meta.uid.as_deref().filter(|uid| !uid.is_empty()).map(|uid| self.uid(uid)) else { return Vec::new() };
        let namespace = meta.namespace.as_deref().filter(|ns| !ns.is_empty()).map(|ns| self.namespace(ns));
        if let Some(seen) = self.relisting.get_mut(&resource) {
            seen.insert(uid.clone());
        }
        self.live.insert(uid.clone(), LiveObject { resource, namespace });
        let node = Node::from_meta(resource, meta);
        let old = self.nodes.remove(&uid);
        let new_owners: &[OwnerReference] = if node.relevant() { &node.owners } else { &[] };
        let old_owners: &[OwnerReference] = old.as_ref().map_or(&[], |old| &old.owners);
        let mut process = Vec::new();
        let mut needs_check = false;
        for added in new_owners.iter().filter(|new| !old_owners.iter().any(|old| old.uid == new.uid)) {
            let owner = self.uid(&added.uid);
            self.dependents.entry(owner).or_default().insert(uid.clone());
            needs_check |= !self.looks_solid(added, node.namespace.as_deref());
        }
        for before in old_owners {
            let now = new_owners.iter().find(|new| new.uid == before.uid);
            if now.is_none() {
                self.forget_dependent(&before.uid, &uid);
            }
            // A reference that stopped blocking may let a waiting owner finish.
            let unblocked = before.block_owner_deletion == Some(true) && now.is_none_or(|now| now.block_owner_deletion != Some(true));
            if unblocked && self.waiting(&before.uid) {
                process.push(self.uid(&before.uid));
            }
        }
        if needs_check {
            process.push(uid.clone());
        }
        let was_waiting = old.as_ref().is_some_and(Node::waiting_for_dependents);
        let was_orphaning = old.as_ref().is_some_and(Node::orphaning);
        if node.orphaning() && !was_orphaning {
            process.push(uid.clone());
        } else if node.waiting_for_dependents() && !was_waiting {
            process.push(uid.clone());
            process.extend(self.dependents.get(&uid).into_iter().flatten().cloned());
        }
        if node.relevant() {
            self.nodes.insert(uid, node);
        }
        process
    }

    fn forget_dependent(&mut self, owner: &str, dependent: &Uid) {
        if let Some(dependents) = self.dependents.get_mut(owner) {
            dependents.remove(dependent);
            if dependents.is_empty() {
                self.dependents.remove(owner);
            }
        }
    }

    /// A deleted object; returns the items to process: its dependents, and owners waiting for it to go.
    fn deleted(&mut self, resource: usize, meta: &ObjectMeta) -> Vec<Uid> {
        let Some(uid) = meta.uid.as_deref() else { return Vec::new() };
        if self.dependents.contains_key(uid) {
            let namespace = meta.namespace.as_deref().filter(|ns| !ns.is_empty());
            if let Some(served) = self.resources.get(resource) {
                let reference = OwnerReference {
                    api_version: served.resource.api_version.clone(),
                    kind: served.resource.kind.clone(),
                    name: meta.name.clone().unwrap_or_default(),
                    uid: uid.to_string(),
                    ..OwnerReference::default()
                };
                self.absent.insert(AbsentOwners::key(namespace, &reference));
            }
        }
        self.gone(uid)
    }

    fn gone(&mut self, uid: &str) -> Vec<Uid> {
        self.live.remove(uid);
        let mut process: Vec<Uid> = self.dependents.get(uid).into_iter().flatten().cloned().collect();
        if let Some(node) = self.nodes.remove(uid) {
            let uid = self.uid(uid);
            for owner in &node.owners {
                self.forget_dependent(&owner.uid, &uid);
                if self.waiting(&owner.uid) {
                    process.push(self.uid(&owner.uid));
                }
            }
        }
        process
    }

    fn begin_relist(&mut self, resource: usize) {
        self.relisting.insert(resource, HashSet::new());
    }

    /// The end of a (re-)list: objects of the resource the list did not show were deleted meanwhile.
    fn end_relist(&mut self, resource: usize) -> Vec<Uid> {
        self.synced.insert(resource);
        let Some(seen) = self.relisting.remove(&resource) else { return Vec::new() };
        let missing: Vec<Uid> =
            self.live.iter().filter(|(uid, live)| live.resource == resource && !seen.contains(*uid)).map(|(uid, _)| uid.clone()).collect();
        missing.iter().flat_map(|uid| self.gone(uid)).collect()
    }

    /// A resource no longer served: its objects are gone for the collector (their dependents are checked again).
    fn forget_resource(&mut self, resource: usize) -> Vec<Uid> {
        self.synced.remove(&resource);
        self.relisting.remove(&resource);
        let objects: Vec<Uid> = self.live.iter().filter(|(_, live)| live.resource == resource).map(|(uid, _)| uid.clone()).collect();
        objects.iter().flat_map(|uid| self.gone(uid)).collect()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The work queue
// ---------------------------------------------------------------------------------------------------------------

/// Items to process, each at most once in the queue; an item added while a worker has it goes back in when the worker
/// is done, so two workers never handle one object at once.
#[derive(Default)]
struct WorkQueue {
    state: Mutex<QueueState>,
    ready: Notify,
}

#[derive(Default)]
struct QueueState {
    order: VecDeque<Uid>,
    queued: HashSet<Uid>,
    active: HashSet<Uid>,
    again: HashSet<Uid>,
    delayed: HashSet<Uid>,
}

impl WorkQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, uid: Uid) {
        let mut state = self.lock();
        if state.active.contains(&uid) {
            state.again.insert(uid);
        } else if state.queued.insert(uid.clone()) {
            state.order.push_back(uid);
            drop(state);
            self.ready.notify_one();
        }
    }

    /// Adds `uid` after `delay` (once, however often asked meanwhile).
    fn add_after(self: &Arc<Self>, uid: Uid, delay: Duration) {
        if !self.lock().delayed.insert(uid.clone()) {
            return;
        }
        let queue: Weak<WorkQueue> = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(queue) = queue.upgrade() {
                queue.lock().delayed.remove(&uid);
                queue.add(uid);
            }
        });
    }

    async fn next(&self) -> Uid {
        loop {
            {
                let mut state = self.lock();
                if let Some(uid) = state.order.pop_front() {
                    state.queued.remove(&uid);
                    state.active.insert(uid.clone());
                    return uid;
                }
            }
            self.ready.notified().await;
        }
    }

    fn done(&self, uid: &Uid) {
        let again = {
            let mut state = self.lock();
            state.active.remove(uid);
            state.again.remove(uid)
        };
        if again {
            self.add(uid.clone());
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Monitors
// ---------------------------------------------------------------------------------------------------------------

struct Collector {
    client: kube::Client,
    recorder: EventRecorder,
    graph: Mutex<Graph>,
    queue: Arc<WorkQueue>,
    /// True once every monitor finished its first list (or the wait for that timed out).
    synced: watch::Sender<bool>,
}

impl Collector {
    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enqueue(&self, items: Vec<Uid>) {
        for uid in items {
            self.queue.add(uid);
        }
    }

    /// Keeps one monitor per collectable resource, following discovery.
    async fn keep_monitors(self: Arc<Self>) {
        let mut tasks = JoinSet::new();
        let mut monitors: HashMap<usize, AbortHandle> = HashMap::new();
        let mut first_pass = true;
        loop {
            match discovery::preferred_resources(&self.client).await {
                Ok(discovered) => {
                    let failed_groups = discovered.failed_group_names();
                    let mut wanted = HashSet::new();
                    for resource in &discovered.resources {
                        let id = self.graph().register(resource);
                        let ignored = IGNORED_RESOURCES
                            .iter()
                            .any(|(group, plural)| resource.resource.group == *group && resource.resource.plural == *plural);
                        if ignored || !["list", "watch", "delete"].iter().all(|verb| resource.supports(verb)) {
                            continue;
                        }
                        wanted.insert(id);
                        if let std::collections::hash_map::Entry::Vacant(slot) = monitors.entry(id) {
                            slot.insert(tasks.spawn(self.clone().monitor(id, resource.clone())));
                        }
                    }
                    // A group that failed discovery keeps its monitors: its objects did not go away.
                    let removed: Vec<usize> = monitors
                        .keys()
                        .filter(|id| !wanted.contains(*id))
                        .filter(|id| {
                            let graph = self.graph();
                            graph.resources.get(**id).is_some_and(|r| !failed_groups.contains(&r.resource.group.as_str()))
                        })
                        .copied()
                        .collect();
                    for id in removed {
                        if let Some(monitor) = monitors.remove(&id) {
                            monitor.abort();
                        }
                        let items = self.graph().forget_resource(id);
                        self.enqueue(items);
                    }
                }
                Err(error) => tracing::warn!(error = api_message(&error), "garbage collector discovery failed"),
            }
            if first_pass {
                first_pass = false;
                self.wait_for_first_lists(&monitors).await;
            }
            // Monitors end only when aborted; collect them so the set does not grow.
            while tasks.try_join_next().is_some() {}
            tokio::time::sleep(DISCOVERY_PERIOD).await;
        }
    }

    async fn wait_for_first_lists(&self, monitors: &HashMap<usize, AbortHandle>) {
        let deadline = tokio::time::Instant::now() + INITIAL_SYNC_TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            if monitors.keys().all(|id| self.graph().synced.contains(id)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.synced.send_replace(true);
    }

    /// One resource's metadata-only watch feeding the graph.
    async fn monitor(self: Arc<Self>, id: usize, resource: ServedResource) {
        let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(self.client.clone(), &resource.resource);
        let events = watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            let items = match event {
                Ok(watcher::Event::Init) => {
                    self.graph().begin_relist(id);
                    continue;
                }
                Ok(watcher::Event::InitApply(object) | watcher::Event::Apply(object)) => self.graph().observe(id, &object.metadata),
                Ok(watcher::Event::InitDone) => self.graph().end_relist(id),
                Ok(watcher::Event::Delete(object)) => self.graph().deleted(id, &object.metadata),
                Err(error) => {
                    tracing::debug!(%error, resource = resource.resource.plural, "garbage collector watch failed; retrying");
                    continue;
                }
            };
            self.enqueue(items);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Processing an item
// ---------------------------------------------------------------------------------------------------------------

/// What became of an item.
enum Outcome {
    Done,
    RetryAfter(Duration),
}

/// How one owner reference stands.
enum OwnerState {
    Solid,
    Dangling,
    /// The owner is being deleted in the foreground.
    Waiting,
}

/// Why an owner reference could not be judged.
enum Unjudged {
    /// No served resource has the owner's kind (yet).
    UnknownKind,
    /// A cluster-scoped object names a namespaced owner: never valid, never collected.
    NamespacedOwnerOfClusterScoped,
    Api(kube::Error),
}

impl Collector {
    async fn work(self: Arc<Self>) {
        let mut synced = self.synced.subscribe();
        if synced.wait_for(|synced| *synced).await.is_err() {
            return;
        }
        loop {
            let uid = self.queue.next().await;
            let outcome = self.process(&uid).await;
            self.queue.done(&uid);
            if let Outcome::RetryAfter(delay) = outcome {
                self.queue.add_after(uid, delay);
            }
        }
    }

    async fn process(&self, uid: &Uid) -> Outcome {
        let Some(node) = self.graph().nodes.get(uid).cloned() else { return Outcome::Done };
        if node.orphaning() {
            return self.orphan_dependents(uid, &node).await;
        }
        if node.waiting_for_dependents() {
            return self.finish_foreground_deletion(uid, &node).await;
        }
        if node.deleting || node.owners.is_empty() {
            // Being deleted is a one-way trip: its dependents are looked at when it is gone.
            return Outcome::Done;
        }
        self.attempt_to_delete(uid, &node).await
    }

    fn resource(&self, node: &Node) -> Option<ServedResource> {
        self.graph().resources.get(node.resource).cloned()
    }

    fn metadata_api(&self, resource: &ServedResource, namespace: Option<&str>) -> Api<PartialObjectMeta<DynamicObject>> {
        match namespace {
            Some(namespace) if resource.namespaced => Api::namespaced_with(self.client.clone(), namespace, &resource.resource),
            _ => Api::all_with(self.client.clone(), &resource.resource),
        }
    }

    /// Upstream `attemptToDeleteItem` for an object with owners that is not being deleted.
    async fn attempt_to_delete(&self, uid: &Uid, node: &Node) -> Outcome {
        let mut solid = Vec::new();
        let mut dangling = Vec::new();
        let mut waiting = Vec::new();
        for reference in &node.owners {
            match self.classify(uid, node, reference).await {
                Ok(OwnerState::Solid) => solid.push(reference.uid.clone()),
                Ok(OwnerState::Dangling) => dangling.push(reference.uid.clone()),
                Ok(OwnerState::Waiting) => waiting.push(reference.uid.clone()),
                Err(Unjudged::UnknownKind) => return Outcome::RetryAfter(UNRESOLVABLE_RETRY),
                Err(Unjudged::NamespacedOwnerOfClusterScoped) => return Outcome::Done,
                Err(Unjudged::Api(error)) => {
                    tracing::debug!(error = api_message(&error), owner = reference.name, "could not look up owner");
                    return Outcome::RetryAfter(RETRY_AFTER_ERROR);
                }
            }
        }
        if !solid.is_empty() {
            if dangling.is_empty() && waiting.is_empty() {
                return Outcome::Done;
            }
            // References to owners that are gone, or waiting for this object to go, would keep those owners stuck.
            let drop_uids: HashSet<String> = dangling.into_iter().chain(waiting).collect();
            return self.patch_owner_references(uid, node, |references| references.retain(|r| !drop_uids.contains(&r.uid))).await;
        }
        let dependents: Vec<Node> = {
            let graph = self.graph();
            graph.dependents.get(uid).into_iter().flatten().filter_map(|dependent| graph.nodes.get(dependent).cloned()).collect()
        };
        if !waiting.is_empty() && !dependents.is_empty() {
            // A dependent that itself waits for its dependents could wait on this object forever: stop blocking.
            if dependents.iter().any(Node::waiting_for_dependents) {
                let unblocked = self
                    .patch_owner_references(uid, node, |references| {
                        for reference in references.iter_mut().filter(|r| r.block_owner_deletion == Some(true)) {
                            reference.block_owner_deletion = Some(false);
                        }
                    })
                    .await;
                if let Outcome::RetryAfter(delay) = unblocked {
                    return Outcome::RetryAfter(delay);
                }
            }
            return self.delete(uid, node, PropagationPolicy::Foreground).await;
        }
        let policy = if node.orphan {
            PropagationPolicy::Orphan
        } else if node.foreground {
            PropagationPolicy::Foreground
        } else {
            PropagationPolicy::Background
        };
        self.delete(uid, node, policy).await
    }

    /// Upstream `isDangling` + `classifyReferences`, with the watches answering first when they can.
    async fn classify(&self, uid: &Uid, node: &Node, reference: &OwnerReference) -> Result<OwnerState, Unjudged> {
        let (owner_resource, absent_key, known) = {
            let graph = self.graph();
            let Some(owner_resource) = graph.owner_resource(reference).cloned() else { return Err(Unjudged::UnknownKind) };
            let lookup_namespace = if owner_resource.namespaced { node.namespace.as_deref() } else { None };
            let absent_key = AbsentOwners::key(lookup_namespace, reference);
            let known = if owner_resource.namespaced && node.namespace.is_none() {
                None
            } else if graph.absent.contains(&absent_key) {
                Some(Ok(OwnerState::Dangling))
            } else {
                graph.live.get(reference.uid.as_str()).map(|live| {
                    if owner_resource.namespaced && live.namespace.as_deref() != node.namespace.as_deref() {
                        Err(())
                    } else if graph.waiting(&reference.uid) {
                        Ok(OwnerState::Waiting)
                    } else {
                        Ok(OwnerState::Solid)
                    }
                })
            };
            (owner_resource, absent_key, known)
        };
        if owner_resource.namespaced && node.namespace.is_none() {
            self.report_invalid_namespace(uid, node, reference).await;
            return Err(Unjudged::NamespacedOwnerOfClusterScoped);
        }
        match known {
            Some(Ok(state)) => return Ok(state),
            // The uid belongs to an object in another namespace: the reference can never resolve, as upstream finds
            // with its GET in the dependent's namespace.
            Some(Err(())) => {
                self.report_invalid_namespace(uid, node, reference).await;
                return Ok(OwnerState::Dangling);
            }
            None => {}
        }
        let api = self.metadata_api(&owner_resource, node.namespace.as_deref());
        match api.get_opt(&reference.name).await {
            Ok(Some(owner)) if owner.metadata.uid.as_deref() == Some(reference.uid.as_str()) => {
                let owner = Node::from_meta(0, &owner.metadata);
                Ok(if owner.waiting_for_dependents() { OwnerState::Waiting } else { OwnerState::Solid })
            }
            Ok(_) => {
                self.graph().absent.insert(absent_key);
                Ok(OwnerState::Dangling)
            }
            Err(error) => Err(Unjudged::Api(error)),
        }
    }

    /// Upstream's `OwnerRefInvalidNamespace` Warning on the dependent.
    async fn report_invalid_namespace(&self, uid: &Uid, node: &Node, reference: &OwnerReference) {
        let Some(resource) = self.resource(node) else { return };
        let namespace = node.namespace.clone().unwrap_or_default();
        let regarding = ObjectReference {
            api_version: Some(resource.resource.api_version.clone()),
            kind: Some(resource.resource.kind.clone()),
            namespace: node.namespace.clone(),
            name: Some(node.name.clone()),
            uid: Some(uid.to_string()),
            ..ObjectReference::default()
        };
        let message = format!(
            "ownerRef [{}/{}, namespace: {namespace}, name: {}, uid: {}] does not exist in namespace {namespace:?}",
            reference.api_version, reference.kind, reference.name, reference.uid
        );
        self.recorder.record(&regarding, Severity::Warning, "OwnerRefInvalidNamespace", "OwnerRefInvalidNamespace", message).await;
    }

    async fn delete(&self, uid: &Uid, node: &Node, policy: PropagationPolicy) -> Outcome {
        let Some(resource) = self.resource(node) else { return Outcome::Done };
        let api = self.metadata_api(&resource, node.namespace.as_deref());
        let params = DeleteParams {
            propagation_policy: Some(policy.clone()),
            preconditions: Some(Preconditions { uid: Some(uid.to_string()), resource_version: None }),
            ..DeleteParams::default()
        };
        match api.delete(&node.name, &params).await {
            Ok(_) => {
                tracing::debug!(name = node.name, kind = resource.resource.kind, ?policy, "garbage collector deleted object");
                Outcome::Done
            }
            // Gone already, or the name now belongs to a newer object.
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Outcome::Done,
            Err(error) => {
                tracing::debug!(error = api_message(&error), name = node.name, "garbage collector could not delete object");
                Outcome::RetryAfter(RETRY_AFTER_ERROR)
            }
        }
    }

    /// Rewrites the latest object's ownerReferences with `change` (a merge patch carrying the resourceVersion, so a
    /// concurrent change makes it fail instead of being overwritten).
    async fn patch_owner_references(&self, uid: &Uid, node: &Node, change: impl Fn(&mut Vec<OwnerReference>)) -> Outcome {
        let Some(resource) = self.resource(node) else { return Outcome::Done };
        let api = self.metadata_api(&resource, node.namespace.as_deref());
        let latest = match api.get_opt(&node.name).await {
            Ok(Some(latest)) if latest.metadata.uid.as_deref() == Some(&**uid) => latest,
            Ok(_) => return Outcome::Done,
            Err(error) => {
                tracing::debug!(error = api_message(&error), name = node.name, "could not read object");
                return Outcome::RetryAfter(RETRY_AFTER_ERROR);
            }
        };
        let before = latest.metadata.owner_references.clone().unwrap_or_default();
        let mut references = before.clone();
        change(&mut references);
        if references == before {
            return Outcome::Done;
        }
        let patch = json!({"metadata": {
            "ownerReferences": (!references.is_empty()).then_some(references),
            "resourceVersion": latest.metadata.resource_version,
            "uid": &**uid,
        }});
        self.write_patch(&api, &node.name, patch).await
    }

    async fn write_patch(&self, api: &Api<PartialObjectMeta<DynamicObject>>, name: &str, patch: serde_json::Value) -> Outcome {
        match api.patch(name, &PatchParams::default(), &Patch::Merge(patch)).await {
            Ok(_) => Outcome::Done,
            Err(kube::Error::Api(status)) if status.code == 404 => Outcome::Done,
            Err(kube::Error::Api(status)) if status.code == 409 => Outcome::RetryAfter(CONFLICT_RETRY),
            Err(error) => {
                tracing::debug!(error = api_message(&error), name, "garbage collector could not patch object");
                Outcome::RetryAfter(RETRY_AFTER_ERROR)
            }
        }
    }

    async fn remove_finalizer(&self, uid: &Uid, node: &Node, finalizer: &str) -> Outcome {
        let Some(resource) = self.resource(node) else { return Outcome::Done };
        let api = self.metadata_api(&resource, node.namespace.as_deref());
        let latest = match api.get_opt(&node.name).await {
            Ok(Some(latest)) if latest.metadata.uid.as_deref() == Some(&**uid) => latest,
            Ok(_) => return Outcome::Done,
            Err(error) => {
                tracing::debug!(error = api_message(&error), name = node.name, "could not read object");
                return Outcome::RetryAfter(RETRY_AFTER_ERROR);
            }
        };
        let finalizers = latest.metadata.finalizers.clone().unwrap_or_default();
        if !finalizers.iter().any(|f| f == finalizer) {
            return Outcome::Done;
        }
        let remaining: Vec<&String> = finalizers.iter().filter(|f| *f != finalizer).collect();
        let patch = json!({"metadata": {
            "finalizers": (!remaining.is_empty()).then_some(remaining),
            "resourceVersion": latest.metadata.resource_version,
        }});
        self.write_patch(&api, &node.name, patch).await
    }

    /// Upstream `processDeletingDependentsItem`: the finalizer goes once no dependent blocks; until then the blocking
    /// dependents are pushed to be deleted (each one's deletion brings this owner back).
    async fn finish_foreground_deletion(&self, uid: &Uid, node: &Node) -> Outcome {
        let blocking: Vec<(Uid, bool)> = {
            let graph = self.graph();
            graph
                .dependents
                .get(uid)
                .into_iter()
                .flatten()
                .filter_map(|dependent| {
                    graph.nodes.get(dependent).filter(|d| d.blocks(uid)).map(|d| (dependent.clone(), d.waiting_for_dependents()))
                })
                .collect()
        };
        if blocking.is_empty() {
            return self.remove_finalizer(uid, node, FOREGROUND_FINALIZER).await;
        }
        for (dependent, waiting) in blocking {
            if !waiting {
                self.queue.add(dependent);
            }
        }
        Outcome::Done
    }

    /// Upstream `attemptToOrphanWorker`: every dependent loses its reference to the owner, then the owner its finalizer.
    async fn orphan_dependents(&self, uid: &Uid, node: &Node) -> Outcome {
        let dependents: Vec<(Uid, Node)> = {
            let graph = self.graph();
            graph
                .dependents
                .get(uid)
                .into_iter()
                .flatten()
                .filter_map(|dependent| graph.nodes.get(dependent).map(|d| (dependent.clone(), d.clone())))
                .collect()
        };
        let owner = uid.to_string();
        let outcomes = futures::future::join_all(dependents.iter().map(|(dependent, dependent_node)| {
            self.patch_owner_references(dependent, dependent_node, |references| references.retain(|r| r.uid != owner))
        }))
        .await;
        if let Some(delay) = outcomes.iter().find_map(|outcome| match outcome {
            Outcome::RetryAfter(delay) => Some(*delay),
            Outcome::Done => None,
        }) {
            return Outcome::RetryAfter(delay);
        }
        self.remove_finalizer(uid, node, ORPHAN_FINALIZER).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::discovery::ApiResource;

    fn served(group: &str, kind: &str, plural: &str, namespaced: bool) -> ServedResource {
        ServedResource {
            resource: ApiResource {
                group: group.into(),
                version: "v1".into(),
                api_version: if group.is_empty() { "v1".into() } else { format!("{group}/v1") },
                kind: kind.into(),
                plural: plural.into(),
            },
            namespaced,
            verbs: vec!["list".into(), "watch".into(), "delete".into()],
        }
    }

    fn reference(uid: &str, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: format!("obj-{uid}"),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(block),
        }
    }

    fn meta(uid: &str, namespace: Option<&str>, owners: Vec<OwnerReference>, finalizers: &[&str], deleting: bool) -> ObjectMeta {
        ObjectMeta {
            name: Some(format!("obj-{uid}")),
            namespace: namespace.map(str::to_string),
            uid: Some(uid.into()),
            owner_references: (!owners.is_empty()).then_some(owners),
            finalizers: (!finalizers.is_empty()).then(|| finalizers.iter().map(|f| f.to_string()).collect()),
            deletion_timestamp: deleting.then_some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH)),
            ..ObjectMeta::default()
        }
    }

    fn graph() -> (Graph, usize, usize) {
        let mut graph = Graph::default();
        let replica_sets = graph.register(&served("apps", "ReplicaSet", "replicasets", true));
        let pods = graph.register(&served("", "Pod", "pods", true));
        (graph, replica_sets, pods)
    }

    fn names(items: Vec<Uid>) -> Vec<String> {
        let mut names: Vec<String> = items.iter().map(|uid| uid.to_string()).collect();
        names.sort();
        names.dedup();
        names
    }

    #[test]
    fn a_dependent_of_a_watched_owner_needs_no_check_and_one_of_an_unknown_owner_does() {
        let (mut graph, replica_sets, pods) = graph();
        graph.observe(replica_sets, &meta("rs", Some("ns"), vec![], &[], false));
        assert!(graph.observe(pods, &meta("p1", Some("ns"), vec![reference("rs", true)], &[], false)).is_empty());
        assert_eq!(names(graph.observe(pods, &meta("p2", Some("ns"), vec![reference("gone", true)], &[], false))), vec!["p2"]);
        // An owner in another namespace does not count as there.
        graph.observe(replica_sets, &meta("elsewhere", Some("other"), vec![], &[], false));
        assert_eq!(names(graph.observe(pods, &meta("p3", Some("ns"), vec![reference("elsewhere", true)], &[], false))), vec!["p3"]);
    }

    #[test]
    fn deleting_an_owner_brings_up_its_dependents_and_remembers_it_is_absent() {
        let (mut graph, replica_sets, pods) = graph();
        let owner = meta("rs", Some("ns"), vec![], &[], false);
        graph.observe(replica_sets, &owner);
        graph.observe(pods, &meta("p1", Some("ns"), vec![reference("rs", true)], &[], false));
        graph.observe(pods, &meta("p2", Some("ns"), vec![reference("rs", false)], &[], false));
        assert_eq!(names(graph.deleted(replica_sets, &owner)), vec!["p1", "p2"]);
        assert!(graph.absent.contains(&AbsentOwners::key(Some("ns"), &reference("rs", true))));
        assert!(!graph.live.contains_key("rs"));
    }

    #[test]
    fn a_foreground_deletion_brings_up_the_owner_and_all_dependents_and_each_blocking_one_gone_brings_it_back() {
        let (mut graph, replica_sets, pods) = graph();
        graph.observe(replica_sets, &meta("rs", Some("ns"), vec![], &[], false));
        let blocking = meta("p1", Some("ns"), vec![reference("rs", true)], &[], false);
        graph.observe(pods, &blocking);
        graph.observe(pods, &meta("p2", Some("ns"), vec![reference("rs", false)], &[], false));
        let started = graph.observe(replica_sets, &meta("rs", Some("ns"), vec![], &[FOREGROUND_FINALIZER], true));
        assert_eq!(names(started), vec!["p1", "p2", "rs"]);
        // The same state again is no new transition.
        assert!(graph.observe(replica_sets, &meta("rs", Some("ns"), vec![], &[FOREGROUND_FINALIZER], true)).is_empty());
        assert_eq!(names(graph.deleted(pods, &blocking)), vec!["rs"]);
        assert!(graph.nodes.get("rs").is_some_and(|rs| rs.waiting_for_dependents()));
    }

    #[test]
    fn a_reference_that_stops_blocking_brings_up_the_waiting_owner() {
        let (mut graph, replica_sets, pods) = graph();
        graph.observe(replica_sets, &meta("rs", Some("ns"), vec![], &[FOREGROUND_FINALIZER], true));
        graph.observe(pods, &meta("p1", Some("ns"), vec![reference("rs", true)], &[], false));
        assert_eq!(names(graph.observe(pods, &meta("p1", Some("ns"), vec![reference("rs", false)], &[], false))), vec!["rs"]);
        // Dropping the reference altogether forgets the dependent.
        graph.observe(pods, &meta("p1", Some("ns"), vec![], &[], false));
        assert!(!graph.dependents.contains_key("rs"));
        assert!(!graph.nodes.contains_key("p1"));
    }

    #[test]
    fn an_orphaning_owner_is_brought_up_once() {
        let (mut graph, replica_sets, _) = graph();
        assert_eq!(names(graph.observe(replica_sets, &meta("rs", Some("ns"), vec![], &[ORPHAN_FINALIZER], true))), vec!["rs"]);
        assert!(graph.observe(replica_sets, &meta("rs", Some("ns"), vec![], &[ORPHAN_FINALIZER], true)).is_empty());
    }

    #[test]
    fn a_relist_that_misses_objects_treats_them_as_deleted() {
        let (mut graph, replica_sets, pods) = graph();
        graph.observe(replica_sets, &meta("rs", Some("ns"), vec![], &[], false));
        graph.observe(pods, &meta("p1", Some("ns"), vec![reference("rs", true)], &[], false));
        graph.begin_relist(replica_sets);
        assert_eq!(names(graph.end_relist(replica_sets)), vec!["p1"]);
        assert!(graph.synced.contains(&replica_sets));
    }

    #[test]
    fn memory_holds_only_what_collection_needs() {
        let (mut graph, replica_sets, pods) = graph();
        graph.observe(replica_sets, &meta("rs", Some("ns"), vec![], &[], false));
        graph.observe(pods, &meta("plain", Some("ns"), vec![], &[], false));
        assert_eq!(graph.nodes.len(), 0, "objects without owners keep no node");
        assert_eq!(graph.live.len(), 2);
        let p = meta("p", Some("ns"), vec![reference("rs", true)], &[], false);
        graph.observe(pods, &p);
        graph.deleted(pods, &p);
        assert!(graph.dependents.is_empty() && !graph.nodes.contains_key("p"));
        assert_eq!(graph.namespaces.len(), 1);
    }

    #[test]
    fn owner_kinds_resolve_by_group_and_kind_whatever_the_version() {
        let (graph, _, _) = graph();
        let mut older = reference("x", false);
        older.api_version = "apps/v1beta2".into();
        assert_eq!(graph.owner_resource(&older).map(|r| r.resource.plural.as_str()), Some("replicasets"));
        let mut unknown = reference("x", false);
        unknown.kind = "Widget".into();
        assert!(graph.owner_resource(&unknown).is_none());
    }

    #[test]
    fn the_absent_owner_cache_is_bounded() {
        let mut absent = AbsentOwners::default();
        for index in 0..(ABSENT_OWNERS_MAX + 10) {
            absent.insert(format!("owner-{index}"));
        }
        assert_eq!(absent.known.len(), ABSENT_OWNERS_MAX);
        assert!(!absent.contains("owner-0"));
        assert!(absent.contains(&format!("owner-{}", ABSENT_OWNERS_MAX + 9)));
    }

    #[tokio::test]
    async fn an_item_added_while_being_processed_comes_back_once_done() {
        let queue = Arc::new(WorkQueue::default());
        let uid: Uid = Arc::from("a");
        queue.add(uid.clone());
        queue.add(uid.clone());
        let taken = queue.next().await;
        queue.add(uid.clone());
        assert!(queue.lock().order.is_empty(), "not handed to a second worker meanwhile");
        queue.done(&taken);
        assert_eq!(&*queue.next().await, "a");
    }
}
