//! The endpoint and endpointslice controllers: for every Service with a selector, the `Endpoints` object and the
//! `EndpointSlice`s that `controllers::endpoints` computes from the pods it selects, kept current within milliseconds
//! of a pod change (no debounce: a pod change or deletion goes straight to the Services that select it, or selected it
//! before, and each Service is synced at once). Pods are mapped to Services through a small index (pod → names of the
//! Services that selected it at its last change), so a pod change costs a scan of the Services, not of the pods. A
//! deleted Service's Endpoints are deleted (its slices are owned by it and go through the garbage collector), and at
//! start the managed Endpoints of Services that no longer exist. Private caches hold only the Endpoints and slices
//! these controllers manage (by their managed-by labels). Writes are remembered until the caches show them, so a
//! sync right after a write works from what was written instead of failing on a stale resourceVersion. Every Service
//! is synced again every 5 minutes, which heals deletions a lagging subscriber missed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::channel::mpsc;
use futures::{SinkExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Resource;
use tokio::sync::watch;

use super::pods::api_message;
use super::{error_policy, LoopError, Shared, RETRY_AFTER_ERROR};
use crate::control::events::{reference_to, EventRecorder, Severity};
use crate::controllers::endpoints::{
    self as decide, EndpointsWrite, TriggerTimeTracker, DEFAULT_MAX_ENDPOINTS_PER_SLICE, ENDPOINTSLICE_CONTROLLER_NAME,
    ENDPOINTS_CONTROLLER_NAME,
};

const ENDPOINTS_COMPONENT: &str = "endpoint-controller";
const SLICES_COMPONENT: &str = "endpointslice-controller";
const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// Service syncs asked for but not yet taken by a controller before the senders wait.
const PENDING_TRIGGERS_MAX: usize = 1024;
/// How soon a Service whose write met a newer object is synced again (the watch brings the newer one meanwhile).
const CONFLICT_RETRY: Duration = Duration::from_millis(50);
/// Node additions and zone changes are batched this long before every Service's slices are looked at again.
const NODE_CHANGE_BATCH: Duration = Duration::from_secs(1);
/// Written objects remembered while the caches catch up; past this the memory is dropped (a later write may then
/// meet a conflict and retry).
const WRITTEN_SERVICES_MAX: usize = 10_000;
/// How often a Service is synced even without a change.
const RESYNC_INTERVAL: Duration = Duration::from_secs(300);

type ServiceKey = (String, String);

fn service_key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> ServiceKey {
    (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}

fn service_ref((namespace, name): &ServiceKey) -> ObjectRef<Service> {
    ObjectRef::new(name).within(namespace)
}

/// The Services that selected each pod at its last change, so that a pod that stops matching (or is deleted) still
/// resyncs them. Holds only pods some Service selects.
#[derive(Default)]
struct PodServices {
    by_pod: HashMap<(String, String), Vec<String>>,
}

impl PodServices {
    /// The Services to sync for a changed pod: those that select it now and those that did before.
    fn pod_changed(&mut self, pod: &Pod, services: &Store<Service>) -> Vec<ServiceKey> {
        let key = service_key(&pod.metadata);
        let selecting: Vec<String> = services
            .state_filter(|service| service.metadata.namespace == pod.metadata.namespace && decide::selects(service, pod))
            .iter()
            .map(|service| service.metadata.name.clone().unwrap_or_default())
            .collect();
        let before = if selecting.is_empty() { self.by_pod.remove(&key) } else { self.by_pod.insert(key.clone(), selecting.clone()) };
        let mut names: Vec<String> = selecting;
        for name in before.into_iter().flatten() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.into_iter().map(|name| (key.0.clone(), name)).collect()
    }

    fn pod_deleted(&mut self, namespace: &str, name: &str) -> Vec<ServiceKey> {
        let names = self.by_pod.remove(&(namespace.to_string(), name.to_string())).unwrap_or_default();
        names.into_iter().map(|service| (namespace.to_string(), service)).collect()
    }

    /// Records that `service` selects these pods (a Service whose selector changed picks up pods that did not change).
    fn service_selects(&mut self, service: &ServiceKey, pods: &[Pod]) {
        for pod in pods {
            let names = self.by_pod.entry(service_key(&pod.metadata)).or_default();
            if !names.contains(&service.1) {
                names.push(service.1.clone());
            }
        }
    }
}

/// Whether a resourceVersion seen in a cache is at least as new as one written (ferrokube's are revision numbers;
/// versions that do not parse count as older until the cache shows exactly the written one).
fn caught_up(cached: Option<&str>, written: Option<&str>) -> bool {
    match (cached.and_then(|rv| rv.parse::<u64>().ok()), written.and_then(|rv| rv.parse::<u64>().ok())) {
        (Some(cached), Some(written)) => cached >= written,
        _ => cached == written,
    }
}

/// The pods of the Service's namespace that it selects (clones of just those).
fn selected_pods(shared: &Shared, service: &Service) -> Vec<Pod> {
    shared
        .pods
        .store
        .state_filter(|pod| pod.metadata.namespace == service.metadata.namespace && decide::selects(service, pod))
        .iter()
        .map(|pod| (**pod).clone())
        .collect()
}

fn is_namespace_terminating(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 403 && status.message.contains("is being terminated"))
}

// ---------------------------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------------------------

pub async fn run(shared: Arc<Shared>) {
    // Subscriptions come first: the shared informers start once every loop has subscribed.
    let services_for_endpoints = shared.services.subscribe();
    let services_for_slices = shared.services.subscribe();
    let service_changes = shared.services.subscribe();
    let pod_changes = shared.pods.subscribe();
    let node_changes = shared.nodes.subscribe();

    let (endpoints_cache, endpoints_writer) = reflector::store();
    let (slices_cache, slices_writer) = reflector::store();
    let (endpoints_listed_tx, endpoints_listed) = watch::channel(false);
    let (slices_listed_tx, slices_listed) = watch::channel(false);
    let endpoints = Arc::new(EndpointsController {
        shared: shared.clone(),
        recorder: shared.recorder(ENDPOINTS_COMPONENT),
        tracker: Mutex::default(),
        cache: endpoints_cache,
        listed: endpoints_listed,
        written: Mutex::default(),
        swept: AtomicBool::new(false),
    });
    let slices = Arc::new(SliceController {
        shared: shared.clone(),
        recorder: shared.recorder(SLICES_COMPONENT),
        tracker: Mutex::default(),
        cache: slices_cache,
        listed: slices_listed,
        written: Mutex::default(),
    });
    let pod_services = Arc::new(Mutex::new(PodServices::default()));
    let (endpoints_tx, endpoints_rx) = mpsc::channel(PENDING_TRIGGERS_MAX);
    let (slices_tx, slices_rx) = mpsc::channel(PENDING_TRIGGERS_MAX);
    let triggers = Triggers { endpoints: endpoints_tx, slices: slices_tx };

    let endpoints_controller = Controller::for_shared_stream(services_for_endpoints, shared.services.store.clone())
        .reconcile_on(endpoints_rx)
        .run(sync_endpoints, error_policy, Arc::new(EndpointsSync { controller: endpoints.clone(), pod_services: pod_services.clone() }))
        .for_each(|_| futures::future::ready(()));
    let slices_controller = Controller::for_shared_stream(services_for_slices, shared.services.store.clone())
        .reconcile_on(slices_rx)
        .run(sync_slices, error_policy, Arc::new(SlicesSync { controller: slices.clone(), pod_services: pod_services.clone() }))
        .for_each(|_| futures::future::ready(()));

    futures::join!(
        endpoints_controller,
        slices_controller,
        map_pod_changes(pod_changes, shared.clone(), pod_services, triggers.clone()),
        map_node_changes(node_changes, shared.clone(), triggers.clone()),
        handle_service_deletions(service_changes, endpoints.clone(), slices.clone()),
        watch_endpoints(endpoints, endpoints_writer, endpoints_listed_tx, triggers.clone()),
        watch_slices(slices, slices_writer, slices_listed_tx, triggers),
    );
}

/// Where Service syncs are asked for, one channel per controller.
#[derive(Clone)]
struct Triggers {
    endpoints: mpsc::Sender<ObjectRef<Service>>,
    slices: mpsc::Sender<ObjectRef<Service>>,
}

impl Triggers {
    async fn both(&mut self, services: Vec<ServiceKey>) {
        for service in services {
            // A closed channel means the controllers stopped; nothing is left to trigger.
            let _ = self.endpoints.send(service_ref(&service)).await;
            let _ = self.slices.send(service_ref(&service)).await;
        }
    }
}

/// Whether the cache still holds this very object (a subscription also hands out deleted objects).
fn still_cached<K>(store: &Store<K>, object: &K) -> bool
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store.get(&ObjectRef::from_obj(object)).is_some_and(|cached| cached.meta().uid == object.meta().uid)
}

async fn map_pod_changes(
    changes: impl Stream<Item = Arc<Pod>>,
    shared: Arc<Shared>,
    pod_services: Arc<Mutex<PodServices>>,
    mut triggers: Triggers,
) {
    futures::pin_mut!(changes);
    while let Some(pod) = changes.next().await {
        let services = {
            let mut index = pod_services.lock().unwrap_or_else(PoisonError::into_inner);
            if still_cached(&shared.pods.store, &pod) {
                index.pod_changed(&pod, &shared.services.store)
            } else {
                let (namespace, name) = service_key(&pod.metadata);
                index.pod_deleted(&namespace, &name)
            }
        };
        triggers.both(services).await;
    }
}

/// A new node, or a node whose zone changed, can change every Service's slices (pods on unknown nodes are held back,
/// zones are part of each endpoint); such changes are batched for `NODE_CHANGE_BATCH`.
async fn map_node_changes(changes: impl Stream<Item = Arc<Node>>, shared: Arc<Shared>, mut triggers: Triggers) {
    futures::pin_mut!(changes);
    let mut zones: HashMap<String, Option<String>> = HashMap::new();
    let mut pending = false;
    let mut batch = tokio::time::interval(NODE_CHANGE_BATCH);
    loop {
        tokio::select! {
            changed = changes.next() => {
                let Some(node) = changed else { return };
                let zone = node.metadata.labels.as_ref().and_then(|labels| labels.get(LABEL_ZONE)).cloned();
                let name = node.metadata.name.clone().unwrap_or_default();
                if zones.get(&name) != Some(&zone) {
                    zones.insert(name, zone);
                    pending = true;
                }
            }
            _ = batch.tick() => {
                if !std::mem::take(&mut pending) {
                    continue;
                }
                // Forget nodes that are gone so the map stays as large as the cluster.
                zones.retain(|name, _| shared.nodes.store.get(&ObjectRef::new(name)).is_some());
                for service in shared.services.store.state().iter().filter(|service| decide::publishes_endpoints(service)) {
                    let _ = triggers.slices.send(ObjectRef::from_obj(&**service)).await;
                }
            }
        }
    }
}

/// Upstream deletes a deleted Service's Endpoints (its slices go through the garbage collector, as they are owned by
/// the Service).
async fn handle_service_deletions(
    changes: impl Stream<Item = Arc<Service>>,
    endpoints: Arc<EndpointsController>,
    slices: Arc<SliceController>,
) {
    futures::pin_mut!(changes);
    while let Some(service) = changes.next().await {
        if !still_cached(&endpoints.shared.services.store, &service) {
            service_gone(&endpoints, &slices, service_key(&service.metadata)).await;
        }
    }
}

async fn service_gone(endpoints: &EndpointsController, slices: &SliceController, key: ServiceKey) {
    endpoints.tracker.lock().unwrap_or_else(PoisonError::into_inner).forget_service(&key.0, &key.1);
    slices.tracker.lock().unwrap_or_else(PoisonError::into_inner).forget_service(&key.0, &key.1);
    endpoints.forget(&key);
    slices.forget(&key);
    let api: Api<Endpoints> = Api::namespaced(endpoints.shared.client.clone(), &key.0);
    match api.delete(&key.1, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(error) => tracing::debug!(%error, namespace = key.0, name = key.1, "could not delete the Endpoints of a deleted Service"),
    }
}

/// The private cache of managed Endpoints. A change that is not the echo of this controller's own write (someone
/// edited or deleted the object) syncs the Service again.
async fn watch_endpoints(
    controller: Arc<EndpointsController>,
    writer: reflector::store::Writer<Endpoints>,
    listed: watch::Sender<bool>,
    mut triggers: Triggers,
) {
    let api: Api<Endpoints> = Api::all(controller.shared.client.clone());
    let config = watcher::Config::default().labels(&format!("endpoints.kubernetes.io/managed-by={ENDPOINTS_CONTROLLER_NAME}"));
    let events = reflector::reflector(writer, watcher(api, config).default_backoff());
    futures::pin_mut!(events);
    while let Some(event) = events.next().await {
        let changed = match event {
            Ok(watcher::Event::Apply(object)) => controller.observed(&object).then(|| service_key(&object.metadata)),
            Ok(watcher::Event::Delete(object)) => Some(service_key(&object.metadata)),
            Ok(watcher::Event::InitDone) => {
                listed.send_replace(true);
                None
            }
            Ok(_) => None,
            Err(error) => {
                tracing::debug!(%error, "Endpoints watch failed; retrying");
                None
            }
        };
        if let Some(key) = changed {
            let _ = triggers.endpoints.send(service_ref(&key)).await;
        }
    }
}

/// The private cache of managed EndpointSlices, triggering as `watch_endpoints` does.
async fn watch_slices(
    controller: Arc<SliceController>,
    writer: reflector::store::Writer<EndpointSlice>,
    listed: watch::Sender<bool>,
    mut triggers: Triggers,
) {
    let api: Api<EndpointSlice> = Api::all(controller.shared.client.clone());
    let config = watcher::Config::default().labels(&format!("endpointslice.kubernetes.io/managed-by={ENDPOINTSLICE_CONTROLLER_NAME}"));
    let events = reflector::reflector(writer, watcher(api, config).default_backoff());
    futures::pin_mut!(events);
    while let Some(event) = events.next().await {
        let changed = match event {
            Ok(watcher::Event::Apply(slice)) => controller.observed(&slice, false),
            Ok(watcher::Event::Delete(slice)) => controller.observed(&slice, true),
            Ok(watcher::Event::InitDone) => {
                listed.send_replace(true);
                None
            }
            Ok(_) => None,
            Err(error) => {
                tracing::debug!(%error, "EndpointSlice watch failed; retrying");
                None
            }
        };
        if let Some(key) = changed {
            let _ = triggers.slices.send(service_ref(&key)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------------------------

struct EndpointsController {
    shared: Arc<Shared>,
    recorder: EventRecorder,
    tracker: Mutex<TriggerTimeTracker>,
    cache: Store<Endpoints>,
    /// True once the cache holds its first list (not `Store::wait_until_ready`, which wakes only the last of several
    /// concurrent waiters).
    listed: watch::Receiver<bool>,
    /// Endpoints this controller wrote that the cache does not show yet.
    written: Mutex<HashMap<ServiceKey, Endpoints>>,
    /// Whether the leftover Endpoints of Services deleted while no controller ran were looked for.
    swept: AtomicBool,
}

impl EndpointsController {
    /// Upstream `checkLeftoverEndpoints`, once: managed Endpoints whose Service is gone are deleted, except
    /// leader-election records. Called from a sync, when the Services cache is known to be complete.
    async fn sweep_leftovers(&self) {
        if self.swept.swap(true, Ordering::SeqCst) {
            return;
        }
        let services = &self.shared.services.store;
        let leftovers: Vec<ServiceKey> = self
            .cache
            .state()
            .iter()
            .filter(|leftover| decide::should_delete_leftover_endpoints(leftover))
            .map(|leftover| service_key(&leftover.metadata))
            .filter(|key| services.get(&service_ref(key)).is_none())
            .collect();
        let api = |namespace: &str| Api::<Endpoints>::namespaced(self.shared.client.clone(), namespace);
        for (namespace, name) in leftovers {
            match api(&namespace).delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => tracing::debug!(%error, namespace, name, "could not delete leftover Endpoints"),
            }
        }
    }

    /// What a sync starts from: the cached Endpoints, or the one written last when the cache is behind.
    fn current(&self, key: &ServiceKey) -> Option<Endpoints> {
        let cached = self.cache.get(&ObjectRef::new(&key.1).within(&key.0));
        let cached_version = cached.as_ref().and_then(|cached| cached.metadata.resource_version.clone());
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        match written.get(key) {
            Some(mine) if !caught_up(cached_version.as_deref(), mine.metadata.resource_version.as_deref()) => Some(mine.clone()),
            _ => {
                written.remove(key);
                cached.map(|cached| (*cached).clone())
            }
        }
    }

    fn remember(&self, key: ServiceKey, endpoints: Endpoints) {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if written.len() >= WRITTEN_SERVICES_MAX {
            written.clear();
        }
        written.insert(key, endpoints);
    }

    fn forget(&self, key: &ServiceKey) {
        self.written.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }

    /// Notes a cached change; true when it is not the echo of this controller's last write.
    fn observed(&self, endpoints: &Endpoints) -> bool {
        let key = service_key(&endpoints.metadata);
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        let echo = written.get(&key).is_some_and(|mine| mine.metadata.resource_version == endpoints.metadata.resource_version);
        if echo {
            written.remove(&key);
        }
        !echo
    }
}

struct EndpointsSync {
    controller: Arc<EndpointsController>,
    pod_services: Arc<Mutex<PodServices>>,
}

async fn sync_endpoints(service: Arc<Service>, context: Arc<EndpointsSync>) -> Result<Action, LoopError> {
    let controller = &context.controller;
    // Before the first list the cache would say "no Endpoints" for every Service.
    controller.listed.clone().wait_for(|listed| *listed).await.map_err(|error| LoopError::Failed(error.to_string()))?;
    // Syncs run once the Services cache is complete (the `kubernetes` Service always gives one), so leftovers show.
    controller.sweep_leftovers().await;
    if !decide::publishes_endpoints(&service) {
        return Ok(Action::await_change());
    }
    let key = service_key(&service.metadata);
    let pods = selected_pods(&controller.shared, &service);
    context.pod_services.lock().unwrap_or_else(PoisonError::into_inner).service_selects(&key, &pods);
    let trigger_time = controller.tracker.lock().unwrap_or_else(PoisonError::into_inner).last_change_trigger_time(&service, &pods);
    let api: Api<Endpoints> = Api::namespaced(controller.shared.client.clone(), &key.0);
    // A second round only after finding (by a failed create) Endpoints the cache does not hold.
    for _ in 0..2 {
        let current = controller.current(&key);
        let Some(write) = decide::sync_endpoints(&service, &pods, current.as_ref(), trigger_time) else {
            return Ok(Action::await_change());
        };
        let (result, creating, object) = match write {
            EndpointsWrite::Create(object) => (api.create(&PostParams::default(), &object).await, true, object),
            EndpointsWrite::Update(object) => (api.replace(&key.1, &PostParams::default(), &object).await, false, object),
        };
        match result {
            Ok(written) => {
                controller.remember(key, written);
                return Ok(Action::requeue(RESYNC_INTERVAL));
            }
            Err(kube::Error::Api(status)) if creating && status.code == 409 => match api.get_opt(&key.1).await? {
                Some(existing) => controller.remember(key.clone(), existing),
                None => return Ok(Action::requeue(CONFLICT_RETRY)),
            },
            Err(kube::Error::Api(status)) if status.code == 409 || status.code == 404 => {
                controller.forget(&key);
                return Ok(Action::requeue(CONFLICT_RETRY));
            }
            // Nothing can be created in a terminating namespace; its deletion removes the Service too.
            Err(error) if creating && is_namespace_terminating(&error) => return Ok(Action::await_change()),
            Err(error) => {
                let (reason, message) = if creating {
                    (
                        "FailedToCreateEndpoint",
                        format!("Failed to create endpoint for service {}/{}: {}", key.0, key.1, api_message(&error)),
                    )
                } else {
                    ("FailedToUpdateEndpoint", format!("Failed to update endpoint {}/{}: {}", key.0, key.1, api_message(&error)))
                };
                controller.recorder.record(&reference_to(&object), Severity::Warning, reason, reason, message).await;
                return Err(error.into());
            }
        }
    }
    Ok(Action::requeue(CONFLICT_RETRY))
}

// ---------------------------------------------------------------------------------------------------------------
// EndpointSlices
// ---------------------------------------------------------------------------------------------------------------

struct SliceController {
    shared: Arc<Shared>,
    recorder: EventRecorder,
    tracker: Mutex<TriggerTimeTracker>,
    cache: Store<EndpointSlice>,
    /// True once the cache holds its first list.
    listed: watch::Receiver<bool>,
    /// Per Service, slices this controller wrote (`None`: deleted) that the cache does not show yet.
    written: Mutex<HashMap<ServiceKey, BTreeMap<String, Option<EndpointSlice>>>>,
}

impl SliceController {
    /// The Service's managed slices as a sync should see them: the cache, overlaid with writes it does not show yet.
    fn current(&self, key: &ServiceKey) -> Vec<EndpointSlice> {
        let belongs = |slice: &EndpointSlice| {
            slice.metadata.namespace.as_deref() == Some(key.0.as_str())
                && slice.metadata.labels.as_ref().and_then(|labels| labels.get(LABEL_SERVICE_NAME)) == Some(&key.1)
        };
        let mut slices: BTreeMap<String, EndpointSlice> = self
            .cache
            .state_filter(belongs)
            .iter()
            .map(|slice| (slice.metadata.name.clone().unwrap_or_default(), (**slice).clone()))
            .collect();
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(mine) = written.get_mut(key) {
            mine.retain(|name, write| {
                let cached = slices.get(name);
                let pending = match write {
                    Some(slice) => !caught_up(
                        cached.and_then(|cached| cached.metadata.resource_version.as_deref()),
                        slice.metadata.resource_version.as_deref(),
                    ),
                    None => cached.is_some(),
                };
                if pending {
                    match write {
                        Some(slice) => slices.insert(name.clone(), slice.clone()),
                        None => slices.remove(name),
                    };
                }
                pending
            });
            if mine.is_empty() {
                written.remove(key);
            }
        }
        slices.into_values().collect()
    }

    fn remember(&self, key: &ServiceKey, name: String, slice: Option<EndpointSlice>) {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if written.len() >= WRITTEN_SERVICES_MAX && !written.contains_key(key) {
            written.clear();
        }
        written.entry(key.clone()).or_default().insert(name, slice);
    }

    fn forget(&self, key: &ServiceKey) {
        self.written.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }

    /// Notes a cached change; returns the Service to sync when it is not the echo of this controller's own write.
    fn observed(&self, slice: &EndpointSlice, deleted: bool) -> Option<ServiceKey> {
        let service = slice.metadata.labels.as_ref()?.get(LABEL_SERVICE_NAME)?.clone();
        let key = (slice.metadata.namespace.clone().unwrap_or_default(), service);
        let name = slice.metadata.name.clone().unwrap_or_default();
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = written.get_mut(&key);
        let echo = match mine.as_ref().and_then(|mine| mine.get(&name)) {
            Some(Some(mine)) => !deleted && mine.metadata.resource_version == slice.metadata.resource_version,
            Some(None) => deleted,
            None => false,
        };
        if echo {
            if let Some(mine) = mine {
                mine.remove(&name);
                if mine.is_empty() {
                    written.remove(&key);
                }
            }
            return None;
        }
        Some(key)
    }
}

struct SlicesSync {
    controller: Arc<SliceController>,
    pod_services: Arc<Mutex<PodServices>>,
}

/// The nodes the pods run on (the slice decision needs their zones, and holds back pods whose node is unknown).
fn nodes_of(shared: &Shared, pods: &[Pod]) -> Vec<Node> {
    let names: HashSet<&str> = pods.iter().filter_map(|pod| pod.spec.as_ref()?.node_name.as_deref()).collect();
    names.into_iter().filter_map(|name| shared.nodes.store.get(&ObjectRef::new(name))).map(|node| (*node).clone()).collect()
}

async fn sync_slices(service: Arc<Service>, context: Arc<SlicesSync>) -> Result<Action, LoopError> {
    let controller = &context.controller;
    if !decide::publishes_endpoints(&service) {
        return Ok(Action::await_change());
    }
    // Before the first list every Service would look slice-less and get duplicates.
    controller.listed.clone().wait_for(|listed| *listed).await.map_err(|error| LoopError::Failed(error.to_string()))?;
    let key = service_key(&service.metadata);
    let pods = selected_pods(&controller.shared, &service);
    context.pod_services.lock().unwrap_or_else(PoisonError::into_inner).service_selects(&key, &pods);
    let nodes = nodes_of(&controller.shared, &pods);
    let existing = controller.current(&key);
    let trigger_time = controller.tracker.lock().unwrap_or_else(PoisonError::into_inner).last_change_trigger_time(&service, &pods);
    let changes = decide::sync_endpoint_slices(&service, &pods, &nodes, &existing, trigger_time, DEFAULT_MAX_ENDPOINTS_PER_SLICE);
    let api: Api<EndpointSlice> = Api::namespaced(controller.shared.client.clone(), &key.0);
    let params = PostParams::default();
    let mut failure: Option<String> = None;
    for slice in &changes.create {
        match api.create(&params, slice).await {
            Ok(created) => controller.remember(&key, created.metadata.name.clone().unwrap_or_default(), Some(created)),
            Err(error) if is_namespace_terminating(&error) => return Ok(Action::await_change()),
            Err(error) => {
                failure = Some(api_message(&error));
                break;
            }
        }
    }
    for slice in changes.update.iter().filter(|_| failure.is_none()) {
        let name = slice.metadata.name.clone().unwrap_or_default();
        match api.replace(&name, &params, slice).await {
            Ok(updated) => controller.remember(&key, name, Some(updated)),
            Err(kube::Error::Api(status)) if status.code == 409 || status.code == 404 => {
                controller.forget(&key);
                return Ok(Action::requeue(CONFLICT_RETRY));
            }
            Err(error) => {
                failure = Some(api_message(&error));
                break;
            }
        }
    }
    for slice in changes.delete.iter().filter(|_| failure.is_none()) {
        let name = slice.metadata.name.clone().unwrap_or_default();
        let delete = DeleteParams {
            preconditions: Some(Preconditions { uid: slice.metadata.uid.clone(), resource_version: None }),
            ..DeleteParams::default()
        };
        match api.delete(&name, &delete).await {
            Ok(_) => controller.remember(&key, name, None),
            Err(kube::Error::Api(status)) if status.code == 404 => controller.remember(&key, name, None),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                controller.forget(&key);
                return Ok(Action::requeue(CONFLICT_RETRY));
            }
            Err(error) => {
                failure = Some(api_message(&error));
                break;
            }
        }
    }
    let reference = service.object_ref(&());
    if let Some(failure) = failure {
        let message = format!("Error updating Endpoint Slices for Service {}/{}: {failure}", key.0, key.1);
        controller
            .recorder
            .record(&reference, Severity::Warning, "FailedToUpdateEndpointSlices", "FailedToUpdateEndpointSlices", message)
            .await;
        return Err(LoopError::Failed(failure));
    }
    if let Some(message) = changes.warning_message(&service) {
        // Pods on nodes not known yet were left out; a node change or this retry brings them in.
        controller
            .recorder
            .record(&reference, Severity::Warning, "FailedToUpdateEndpointSlices", "FailedToUpdateEndpointSlices", message)
            .await;
        return Ok(Action::requeue(RETRY_AFTER_ERROR));
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::watcher::Event;
    use serde_json::json;

    fn service(name: &str, selector: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
            "spec": {"selector": selector, "ports": [{"port": 80}], "clusterIP": "10.43.0.10"},
        }))
        .expect("service")
    }

    fn pod(name: &str, labels: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "labels": labels}})).expect("pod")
    }

    fn services(list: Vec<Service>) -> Store<Service> {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&Event::Init);
        for service in list {
            writer.apply_watcher_event(&Event::InitApply(service));
        }
        writer.apply_watcher_event(&Event::InitDone);
        store
    }

    fn names(keys: Vec<ServiceKey>) -> Vec<String> {
        let mut names: Vec<String> = keys.into_iter().map(|(_, name)| name).collect();
        names.sort();
        names
    }

    #[test]
    fn a_pod_change_syncs_the_services_that_select_it_now_and_before() {
        let store = services(vec![service("web", json!({"app": "web"})), service("api", json!({"app": "api"}))]);
        let mut index = PodServices::default();
        assert_eq!(names(index.pod_changed(&pod("p", json!({"app": "web"})), &store)), vec!["web"]);
        // Relabelled: the Service that lost it must drop it, the one that gained it must add it.
        assert_eq!(names(index.pod_changed(&pod("p", json!({"app": "api"})), &store)), vec!["api", "web"]);
        assert_eq!(names(index.pod_deleted("default", "p")), vec!["api"]);
        assert!(index.pod_deleted("default", "p").is_empty());
        // Pods no Service selects are not remembered.
        assert!(index.pod_changed(&pod("lonely", json!({"app": "none"})), &store).is_empty());
        assert!(index.by_pod.is_empty());
    }

    #[test]
    fn a_service_whose_selector_changed_is_found_again_when_its_pod_is_deleted() {
        let mut index = PodServices::default();
        index.service_selects(&("default".into(), "web".into()), &[pod("p", json!({"app": "web"}))]);
        assert_eq!(names(index.pod_deleted("default", "p")), vec!["web"]);
    }

    #[test]
    fn a_cache_is_caught_up_once_it_shows_the_written_version_or_a_newer_one() {
        assert!(caught_up(Some("12"), Some("12")));
        assert!(caught_up(Some("13"), Some("12")));
        assert!(!caught_up(Some("11"), Some("12")));
        assert!(!caught_up(None, Some("12")));
        assert!(caught_up(Some("opaque"), Some("opaque")));
        assert!(!caught_up(Some("older"), Some("opaque")));
    }
}
