//! The endpoints of Services with a selector, as upstream's endpoint and endpointslice controllers publish them: which
//! pods back a Service and on which ports (`Endpoints`, grouped and truncated at 1000 addresses as upstream), and the
//! `EndpointSlice`s that carry the same facts in slices of at most 100 endpoints, reconciled against the slices that
//! already exist so that a pod change rewrites as few slices as possible. Services without a selector and
//! `ExternalName` Services are left alone. The glue owns the watches, the API calls and the Events.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Node, ObjectReference, Pod, Service, ServicePort,
};
use k8s_openapi::api::discovery::v1::{self as discovery, EndpointConditions, EndpointHints, EndpointSlice, ForNode, ForZone};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::podutil;

/// Upstream's cap on the addresses one `Endpoints` object carries; the rest is cut off.
pub const MAX_ENDPOINTS_ADDRESSES: usize = 1000;
/// Upstream's default `--max-endpoints-per-slice`.
pub const DEFAULT_MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// The `endpointslice.kubernetes.io/managed-by` value of the slices this controller owns.
pub const ENDPOINTSLICE_CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// The `endpoints.kubernetes.io/managed-by` value of the Endpoints this controller writes.
pub const ENDPOINTS_CONTROLLER_NAME: &str = "endpoint-controller";

const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
const LABEL_SLICE_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
const LABEL_ENDPOINTS_MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
const ANNOTATION_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
const ANNOTATION_OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
const ANNOTATION_LEADER_ELECTION: &str = "control-plane.alpha.kubernetes.io/leader";
const ANNOTATION_TOPOLOGY_AWARE_HINTS: &str = "service.kubernetes.io/topology-aware-hints";
const ANNOTATION_TOPOLOGY_MODE: &str = "service.kubernetes.io/topology-mode";

/// Whether these controllers publish endpoints for `service` at all: it has a selector and is not `ExternalName`.
pub fn publishes_endpoints(service: &Service) -> bool {
    service.spec.as_ref().is_some_and(|spec| spec.type_.as_deref() != Some("ExternalName") && spec.selector.is_some())
}

/// Whether `service` selects `pod`: same namespace, every selector label present with its value. An empty selector
/// selects every pod of the namespace, as upstream; no selector selects none. The glue can use it to find the
/// Services a pod change concerns (both the old and the new pod's).
pub fn selects(service: &Service, pod: &Pod) -> bool {
    let Some(selector) = service.spec.as_ref().and_then(|spec| spec.selector.as_ref()) else { return false };
    let labels = pod.metadata.labels.as_ref();
    pod.metadata.namespace == service.metadata.namespace
        && selector.iter().all(|(key, value)| labels.and_then(|labels| labels.get(key)) == Some(value))
}

/// The pods of `pods` that `service` selects.
pub fn selected_pods<'a>(service: &'a Service, pods: &'a [Pod]) -> impl Iterator<Item = &'a Pod> + 'a {
    pods.iter().filter(move |pod| selects(service, pod))
}

/// When the Service is gone, upstream deletes the Endpoints of the same name, except leader-election records.
pub fn should_delete_leftover_endpoints(endpoints: &Endpoints) -> bool {
    !endpoints.metadata.annotations.as_ref().is_some_and(|annotations| annotations.contains_key(ANNOTATION_LEADER_ELECTION))
}

/// Remembers, per Service, the readiness-transition times of its pods and the Service's creation time, to compute the
/// `endpoints.kubernetes.io/last-change-trigger-time` annotation as upstream: the earliest of the times that changed
/// since the previous sync, or the Service's creation time on the first sync. Each controller keeps its own tracker;
/// it holds one entry per live Service (call `forget_service` when a Service is deleted).
#[derive(Debug, Default)]
pub struct TriggerTimeTracker {
    services: HashMap<(String, String), TriggerState>,
}

#[derive(Debug, Default)]
struct TriggerState {
    service_time: Option<jiff::Timestamp>,
    pod_times: HashMap<String, jiff::Timestamp>,
}

impl TriggerTimeTracker {
    /// The trigger time to write for this sync of `service` (None: drop the annotation). `pods` may be the whole
    /// namespace; only the pods the Service selects count.
    pub fn last_change_trigger_time(&mut self, service: &Service, pods: &[Pod]) -> Option<jiff::Timestamp> {
        let key = (service.metadata.namespace.clone().unwrap_or_default(), service.metadata.name.clone().unwrap_or_default());
        let known = self.services.contains_key(&key);
        let state = self.services.entry(key).or_default();
        let mut earliest_change: Option<jiff::Timestamp> = None;
        let mut pod_times = HashMap::new();
        for pod in selected_pods(service, pods) {
            let Some(time) = ready_transition_time(pod) else { continue };
            let name = pod.metadata.name.clone().unwrap_or_default();
            if state.pod_times.get(&name).is_none_or(|previous| time > *previous) {
                earliest_change = Some(earliest_change.map_or(time, |earliest| earliest.min(time)));
            }
            pod_times.insert(name, time);
        }
        let service_time = service.metadata.creation_timestamp.as_ref().map(|time| time.0);
        if let Some(time) = service_time.filter(|time| state.service_time.is_none_or(|previous| *time > previous)) {
            earliest_change = Some(earliest_change.map_or(time, |earliest| earliest.min(time)));
        }
        state.pod_times = pod_times;
        state.service_time = service_time;
        if known {
            earliest_change
        } else {
            service_time
        }
    }

    /// Drops what is remembered about a deleted Service.
    pub fn forget_service(&mut self, namespace: &str, name: &str) {
        self.services.remove(&(namespace.to_string(), name.to_string()));
    }
}

fn ready_transition_time(pod: &Pod) -> Option<jiff::Timestamp> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().find(|condition| condition.type_ == "Ready")?.last_transition_time.as_ref().map(|time| time.0)
}

fn pod_phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref().and_then(|status| status.phase.as_deref())
}

/// The pod's IPs, primary first; `status.podIP` when `status.podIPs` is not filled in.
fn pod_ips(pod: &Pod) -> Vec<&str> {
    let Some(status) = pod.status.as_ref() else { return Vec::new() };
    match status.pod_ips.as_deref() {
        Some(ips) if !ips.is_empty() => ips.iter().map(|ip| ip.ip.as_str()).filter(|ip| !ip.is_empty()).collect(),
        _ => status.pod_ip.as_deref().filter(|ip| !ip.is_empty()).into_iter().collect(),
    }
}

/// Upstream `ShouldPodBeInEndpoints`: finished pods and pods without an IP are left out; pods being deleted only
/// when `include_terminating`.
fn belongs_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    !matches!(pod_phase(pod), Some("Succeeded" | "Failed"))
        && !pod_ips(pod).is_empty()
        && (include_terminating || pod.metadata.deletion_timestamp.is_none())
}

fn is_ipv6(address: &str) -> bool {
    matches!(address.parse::<IpAddr>(), Ok(IpAddr::V6(_)))
}

fn publish_not_ready(service: &Service) -> bool {
    service.spec.as_ref().and_then(|spec| spec.publish_not_ready_addresses).unwrap_or(false)
}

fn cluster_ip(service: &Service) -> &str {
    service.spec.as_ref().and_then(|spec| spec.cluster_ip.as_deref()).unwrap_or("")
}

fn is_headless(service: &Service) -> bool {
    cluster_ip(service) == "None"
}

fn service_ip_set(service: &Service) -> bool {
    !cluster_ip(service).is_empty() && !is_headless(service)
}

fn service_ports(service: &Service) -> &[ServicePort] {
    service.spec.as_ref().and_then(|spec| spec.ports.as_deref()).unwrap_or_default()
}

fn port_protocol(protocol: Option<&str>) -> &str {
    protocol.filter(|protocol| !protocol.is_empty()).unwrap_or("TCP")
}

/// Upstream `FindPort`: a numeric target port is used as is; a named one is looked up among the ports (of the same
/// protocol) of the pod's containers, then of its sidecars (init containers that always restart).
fn container_port_for(pod: &Pod, service_port: &ServicePort) -> Option<i32> {
    let name = match &service_port.target_port {
        None => return Some(service_port.port),
        Some(IntOrString::Int(port)) => return Some(*port),
        Some(IntOrString::String(name)) => name,
    };
    let protocol = port_protocol(service_port.protocol.as_deref());
    let spec = pod.spec.as_ref()?;
    let sidecars = spec.init_containers.iter().flatten().filter(|container| container.restart_policy.as_deref() == Some("Always"));
    spec.containers.iter().chain(sidecars).flat_map(|container| container.ports.iter().flatten()).find_map(|port| {
        (port.name.as_deref() == Some(name.as_str()) && port_protocol(port.protocol.as_deref()) == protocol).then_some(port.container_port)
    })
}

/// Upstream `ShouldSetHostname`: the pod names a hostname and its subdomain is this Service.
fn hostname_for(pod: &Pod, service: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.as_deref().filter(|hostname| !hostname.is_empty())?;
    (spec.subdomain.as_deref() == service.metadata.name.as_deref() && pod.metadata.namespace == service.metadata.namespace)
        .then(|| hostname.to_string())
}

fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".to_string()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}

fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()).filter(|name| !name.is_empty())
}

// ---------------------------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------------------------

/// What to write for a Service's `Endpoints` object.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointsWrite {
    Create(Endpoints),
    /// A replace of the current object (it keeps the current `resourceVersion`).
    Update(Endpoints),
}

/// Upstream endpoint controller's sync of one Service: the `Endpoints` to create or update, or None when the Service
/// gets no endpoints from this controller or `current` is already right. `pods` may be all pods of the namespace;
/// `trigger_time` comes from this controller's `TriggerTimeTracker`.
pub fn sync_endpoints(
    service: &Service,
    pods: &[Pod],
    current: Option<&Endpoints>,
    trigger_time: Option<jiff::Timestamp>,
) -> Option<EndpointsWrite> {
    if !publishes_endpoints(service) {
        return None;
    }
    let mut subsets = desired_subsets(service, pods);
    let truncated = truncate_subsets(&mut subsets);
    let labels = endpoints_labels(service);
    if let Some(current) = current {
        let current_truncated =
            current.metadata.annotations.as_ref().is_some_and(|annotations| annotations.contains_key(ANNOTATION_OVER_CAPACITY));
        if normalized_subsets(current.subsets.as_deref()) == subsets
            && current.metadata.labels.clone().unwrap_or_default() == labels
            && current_truncated == truncated
        {
            return None;
        }
    }
    let mut endpoints = current.cloned().unwrap_or_else(|| Endpoints {
        metadata: ObjectMeta {
            name: service.metadata.name.clone(),
            namespace: service.metadata.namespace.clone(),
            ..ObjectMeta::default()
        },
        ..Endpoints::default()
    });
    let mut annotations = endpoints.metadata.annotations.take().unwrap_or_default();
    match trigger_time {
        Some(time) => annotations.insert(ANNOTATION_TRIGGER_TIME.to_string(), time.to_string()),
        None => annotations.remove(ANNOTATION_TRIGGER_TIME),
    };
    if truncated {
        annotations.insert(ANNOTATION_OVER_CAPACITY.to_string(), "truncated".to_string());
    } else {
        annotations.remove(ANNOTATION_OVER_CAPACITY);
    }
    endpoints.metadata.annotations = (!annotations.is_empty()).then_some(annotations);
    endpoints.metadata.labels = Some(labels);
    endpoints.subsets = (!subsets.is_empty()).then_some(subsets);
    Some(if current.is_some() { EndpointsWrite::Update(endpoints) } else { EndpointsWrite::Create(endpoints) })
}

/// The Service's labels, plus the headless marker for Services without a cluster IP and the managed-by label.
fn endpoints_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.metadata.labels.clone().unwrap_or_default();
    if service_ip_set(service) {
        labels.remove(LABEL_HEADLESS);
    } else {
        labels.insert(LABEL_HEADLESS.to_string(), String::new());
    }
    labels.insert(LABEL_ENDPOINTS_MANAGED_BY.to_string(), ENDPOINTS_CONTROLLER_NAME.to_string());
    labels
}

/// The address family upstream's endpoint controller publishes: the Service's primary family, else its cluster IP's,
/// else (headless, families unset) the pod's.
fn endpoints_family_is_ipv6(service: &Service, pod: &Pod) -> bool {
    if let Some(family) = service.spec.as_ref().and_then(|spec| spec.ip_families.as_ref()).and_then(|families| families.first()) {
        return family == "IPv6";
    }
    if service_ip_set(service) {
        return is_ipv6(cluster_ip(service));
    }
    pod_ips(pod).first().is_some_and(|ip| is_ipv6(ip))
}

/// A port of an `Endpoints` subset in a form that can be grouped and ordered; None is the "no ports" of a headless
/// Service without ports.
type SubsetPortKey = Option<(Option<String>, i32, String, Option<String>)>;

/// The subsets of the Service's `Endpoints`, packed as upstream's `RepackSubsets`: each subset is a set of ports with
/// exactly the addresses that serve all of them, an address being not-ready for a port if any pod says so.
fn desired_subsets(service: &Service, pods: &[Pod]) -> Vec<EndpointSubset> {
    let publish_all = publish_not_ready(service);
    let ports = service_ports(service);
    let mut addresses: Vec<EndpointAddress> = Vec::new();
    let mut address_index: HashMap<(String, String), usize> = HashMap::new();
    let mut readiness_by_port: BTreeMap<SubsetPortKey, BTreeMap<usize, bool>> = BTreeMap::new();
    for pod in selected_pods(service, pods).filter(|pod| belongs_in_endpoints(pod, publish_all)) {
        let want_ipv6 = endpoints_family_is_ipv6(service, pod);
        let Some(ip) = pod_ips(pod).into_iter().find(|ip| is_ipv6(ip) == want_ipv6) else { continue };
        let key = (ip.to_string(), pod.metadata.uid.clone().unwrap_or_default());
        let index = *address_index.entry(key).or_insert_with(|| {
            addresses.push(EndpointAddress {
                ip: ip.to_string(),
                hostname: hostname_for(pod, service),
                node_name: node_name(pod).map(str::to_string),
                target_ref: Some(pod_reference(pod)),
            });
            addresses.len() - 1
        });
        let ready = publish_all || podutil::is_ready(pod);
        let mut record = |port: SubsetPortKey| {
            let entry = readiness_by_port.entry(port).or_default().entry(index).or_insert(ready);
            *entry = *entry && ready;
        };
        if ports.is_empty() {
            if is_headless(service) {
                record(None);
            }
            continue;
        }
        for service_port in ports {
            if let Some(port) = container_port_for(pod, service_port) {
                let protocol = port_protocol(service_port.protocol.as_deref()).to_string();
                let name = service_port.name.clone().filter(|name| !name.is_empty());
                record(Some((name, port, protocol, service_port.app_protocol.clone())));
            }
        }
    }
    let mut ports_by_addresses: BTreeMap<Vec<(usize, bool)>, Vec<SubsetPortKey>> = BTreeMap::new();
    for (port, readiness) in readiness_by_port {
        ports_by_addresses.entry(readiness.into_iter().collect()).or_default().push(port);
    }
    let mut subsets: Vec<(Vec<SubsetPortKey>, EndpointSubset)> = ports_by_addresses
        .into_iter()
        .map(|(readiness, ports)| {
            let pick = |want_ready: bool| {
                let mut picked: Vec<EndpointAddress> =
                    readiness.iter().filter(|(_, ready)| *ready == want_ready).map(|(index, _)| addresses[*index].clone()).collect();
                picked.sort_by(|a, b| address_order(a).cmp(&address_order(b)));
                (!picked.is_empty()).then_some(picked)
            };
            let endpoint_ports: Vec<EndpointPort> = ports
                .iter()
                .flatten()
                .map(|(name, port, protocol, app_protocol)| EndpointPort {
                    name: name.clone(),
                    port: *port,
                    protocol: Some(protocol.clone()),
                    app_protocol: app_protocol.clone(),
                })
                .collect();
            let subset = EndpointSubset {
                addresses: pick(true),
                not_ready_addresses: pick(false),
                ports: (!endpoint_ports.is_empty()).then_some(endpoint_ports),
            };
            (ports, subset)
        })
        .collect();
    subsets.sort_by(|a, b| a.0.cmp(&b.0));
    subsets.into_iter().map(|(_, subset)| subset).collect()
}

/// Upstream orders addresses by IP bytes, then by the pod's UID.
fn address_order(address: &EndpointAddress) -> (&str, &str) {
    (address.ip.as_str(), address.target_ref.as_ref().and_then(|target| target.uid.as_deref()).unwrap_or(""))
}

/// The current subsets in the form `desired_subsets` builds, so that equal content compares equal (empty lists as
/// absent, pod resourceVersions ignored).
fn normalized_subsets(subsets: Option<&[EndpointSubset]>) -> Vec<EndpointSubset> {
    let normalize_addresses = |addresses: &Option<Vec<EndpointAddress>>| {
        let addresses: Vec<EndpointAddress> = addresses
            .iter()
            .flatten()
            .map(|address| {
                let mut address = address.clone();
                if let Some(target) = address.target_ref.as_mut() {
                    target.resource_version = None;
                }
                address
            })
            .collect();
        (!addresses.is_empty()).then_some(addresses)
    };
    subsets
        .unwrap_or_default()
        .iter()
        .map(|subset| EndpointSubset {
            addresses: normalize_addresses(&subset.addresses),
            not_ready_addresses: normalize_addresses(&subset.not_ready_addresses),
            ports: subset.ports.clone().filter(|ports| !ports.is_empty()),
        })
        .collect()
}

/// Upstream `truncateEndpoints`: past 1000 addresses, keep ready addresses first and share the room among subsets in
/// proportion to their size (rounded up, the last subsets taking what is left). True when something was cut.
fn truncate_subsets(subsets: &mut [EndpointSubset]) -> bool {
    let count = |addresses: &Option<Vec<EndpointAddress>>| addresses.as_ref().map_or(0, Vec::len);
    let total_ready: usize = subsets.iter().map(|subset| count(&subset.addresses)).sum();
    let total_not_ready: usize = subsets.iter().map(|subset| count(&subset.not_ready_addresses)).sum();
    if total_ready + total_not_ready <= MAX_ENDPOINTS_ADDRESSES {
        return false;
    }
    let truncate_ready = total_ready > MAX_ENDPOINTS_ADDRESSES;
    let (room, total) =
        if truncate_ready { (MAX_ENDPOINTS_ADDRESSES, total_ready) } else { (MAX_ENDPOINTS_ADDRESSES - total_ready, total_not_ready) };
    let mut left = room;
    for subset in subsets.iter_mut() {
        let list = if truncate_ready { &mut subset.addresses } else { &mut subset.not_ready_addresses };
        let in_subset = count(list);
        let share = (in_subset * room).div_ceil(total).min(left);
        if let Some(addresses) = list.as_mut() {
            addresses.truncate(share);
        }
        if list.as_ref().is_some_and(Vec::is_empty) {
            *list = None;
        }
        left -= count(list);
        if truncate_ready {
            subset.not_ready_addresses = None;
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------------------------
// EndpointSlices
// ---------------------------------------------------------------------------------------------------------------

/// The API calls that bring a Service's EndpointSlices to the desired state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SliceChanges {
    /// New slices (`generateName` `<service>-`); none while the Service is being deleted.
    pub create: Vec<EndpointSlice>,
    /// Replacements of existing slices, carrying the existing name and `resourceVersion`.
    pub update: Vec<EndpointSlice>,
    /// Slices to delete.
    pub delete: Vec<EndpointSlice>,
    /// Pods left out for now (their node is not known); the slices are still written without them, and upstream
    /// records a `FailedToUpdateEndpointSlices` Warning (see `warning_message`) and retries the Service with backoff.
    pub errors: Vec<String>,
}

impl SliceChanges {
    /// True when no API call is needed.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }

    /// The message of upstream's `FailedToUpdateEndpointSlices` Warning on the Service, when pods were left out.
    pub fn warning_message(&self, service: &Service) -> Option<String> {
        let detail = match self.errors.as_slice() {
            [] => return None,
            [only] => only.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        Some(format!(
            "Error updating Endpoint Slices for Service {}/{}: {detail}",
            service.metadata.namespace.as_deref().unwrap_or(""),
            service.metadata.name.as_deref().unwrap_or("")
        ))
    }
}

/// Upstream endpointslice controller's sync of one Service. `pods` may be the whole namespace, `nodes` all nodes (for
/// zones, and to hold back pods whose node is unknown), `existing_slices` the namespace's slices (only the ones this
/// controller manages for the Service and that are not being deleted count). `trigger_time` comes from this
/// controller's `TriggerTimeTracker`; `max_endpoints_per_slice` is normally `DEFAULT_MAX_ENDPOINTS_PER_SLICE`.
pub fn sync_endpoint_slices(
    service: &Service,
    pods: &[Pod],
    nodes: &[Node],
    existing_slices: &[EndpointSlice],
    trigger_time: Option<jiff::Timestamp>,
    max_endpoints_per_slice: usize,
) -> SliceChanges {
    let mut changes = SliceChanges::default();
    if !publishes_endpoints(service) {
        return changes;
    }
    let max = max_endpoints_per_slice.max(1);
    let managed: Vec<&EndpointSlice> = existing_slices
        .iter()
        .filter(|slice| {
            let labels = slice.metadata.labels.as_ref();
            let label = |key: &str| labels.and_then(|labels| labels.get(key)).map(String::as_str);
            slice.metadata.namespace == service.metadata.namespace
                && label(LABEL_SERVICE_NAME) == service.metadata.name.as_deref()
                && label(LABEL_SLICE_MANAGED_BY) == Some(ENDPOINTSLICE_CONTROLLER_NAME)
                && slice.metadata.deletion_timestamp.is_none()
        })
        .collect();
    let address_types = service_address_types(service);
    changes
        .delete
        .extend(managed.iter().filter(|slice| !address_types.contains(&slice.address_type.as_str())).map(|slice| (*slice).clone()));
    let nodes_by_name: HashMap<&str, &Node> =
        nodes.iter().filter_map(|node| node.metadata.name.as_deref().map(|name| (name, node))).collect();
    let candidates: Vec<&Pod> = selected_pods(service, pods).filter(|pod| belongs_in_endpoints(pod, true)).collect();
    let mut errors = BTreeSet::new();
    for address_type in address_types {
        let slices: Vec<&EndpointSlice> = managed.iter().copied().filter(|slice| slice.address_type == address_type).collect();
        let context = SliceContext { service, address_type, max, trigger_time };
        context.reconcile(&candidates, &nodes_by_name, &slices, &mut changes, &mut errors);
    }
    changes.errors = errors.into_iter().collect();
    changes
}

/// Upstream `getAddressTypesForService`: the Service's IP families, else its cluster IP's family, else (headless
/// without families) both.
fn service_address_types(service: &Service) -> Vec<&'static str> {
    let families = service.spec.as_ref().and_then(|spec| spec.ip_families.as_deref()).unwrap_or_default();
    let mut types = Vec::new();
    for (family, address_type) in [("IPv4", "IPv4"), ("IPv6", "IPv6")] {
        if families.iter().any(|candidate| candidate == family) {
            types.push(address_type);
        }
    }
    if !types.is_empty() {
        return types;
    }
    if service_ip_set(service) {
        return vec![if is_ipv6(cluster_ip(service)) { "IPv6" } else { "IPv4" }];
    }
    vec!["IPv4", "IPv6"]
}

/// A slice's ports in an order-independent, comparable form: slices are grouped by it.
type PortsKey = Vec<(Option<String>, Option<i32>, Option<String>, Option<String>)>;

fn ports_key(ports: &[discovery::EndpointPort]) -> PortsKey {
    let mut key: PortsKey =
        ports.iter().map(|port| (port.name.clone(), port.port, port.protocol.clone(), port.app_protocol.clone())).collect();
    key.sort();
    key
}

/// What identifies an endpoint across syncs (upstream's endpoint hash): its addresses, hostname and pod. Other
/// attributes may change in place.
type EndpointKey = (Vec<String>, Option<String>, Option<String>, Option<String>);

fn endpoint_key(endpoint: &discovery::Endpoint) -> EndpointKey {
    let mut addresses = endpoint.addresses.clone();
    addresses.sort();
    let target = endpoint.target_ref.as_ref();
    (
        addresses,
        endpoint.hostname.clone(),
        target.and_then(|target| target.namespace.clone()),
        target.and_then(|target| target.name.clone()),
    )
}

/// Upstream `EndpointsEqualBeyondHash`: the attributes that are not part of the key, pod resourceVersion ignored.
fn same_beyond_key(a: &discovery::Endpoint, b: &discovery::Endpoint) -> bool {
    let conditions = |endpoint: &discovery::Endpoint| {
        let conditions = endpoint.conditions.clone().unwrap_or_default();
        (conditions.ready, conditions.serving, conditions.terminating)
    };
    let target = |endpoint: &discovery::Endpoint| {
        endpoint.target_ref.clone().map(|mut target| {
            target.resource_version = None;
            target
        })
    };
    a.node_name == b.node_name && a.zone == b.zone && conditions(a) == conditions(b) && target(a) == target(b)
}

struct SliceContext<'a> {
    service: &'a Service,
    address_type: &'static str,
    max: usize,
    trigger_time: Option<jiff::Timestamp>,
}

/// The endpoints wanted for one set of ports.
struct DesiredGroup {
    ports: Vec<discovery::EndpointPort>,
    endpoints: BTreeMap<EndpointKey, discovery::Endpoint>,
}

impl SliceContext<'_> {
    /// Upstream `reconcileByAddressType` plus `finalize`, appending to `changes`.
    fn reconcile(
        &self,
        pods: &[&Pod],
        nodes: &HashMap<&str, &Node>,
        slices: &[&EndpointSlice],
        changes: &mut SliceChanges,
        errors: &mut BTreeSet<String>,
    ) {
        let mut create = Vec::new();
        let mut update = Vec::new();
        let mut delete = Vec::new();
        let mut existing_by_ports: BTreeMap<PortsKey, Vec<&EndpointSlice>> = BTreeMap::new();
        for slice in slices {
            if self.owns(slice) {
                existing_by_ports.entry(ports_key(slice.ports.as_deref().unwrap_or_default())).or_default().push(slice);
            } else {
                delete.push((*slice).clone());
            }
        }
        let mut desired: BTreeMap<PortsKey, DesiredGroup> = BTreeMap::new();
        for pod in pods {
            let ports = self.endpoint_ports(pod);
            let group = desired.entry(ports_key(&ports)).or_insert_with(|| DesiredGroup { ports, endpoints: BTreeMap::new() });
            let node = node_name(pod).and_then(|name| nodes.get(name).copied());
            if node.is_none() && !publish_not_ready(self.service) {
                errors.insert(format!(
                    "skipping Pod {} for Service {}/{}: Node {} Not Found",
                    pod.metadata.name.as_deref().unwrap_or(""),
                    self.service.metadata.namespace.as_deref().unwrap_or(""),
                    self.service.metadata.name.as_deref().unwrap_or(""),
                    node_name(pod).unwrap_or("")
                ));
                continue;
            }
            let endpoint = self.pod_endpoint(pod, node);
            if !endpoint.addresses.is_empty() {
                group.endpoints.insert(endpoint_key(&endpoint), endpoint);
            }
        }
        for (key, group) in &mut desired {
            let existing = existing_by_ports.get(key).map(Vec::as_slice).unwrap_or_default();
            let endpoints = std::mem::take(&mut group.endpoints);
            self.reconcile_ports(existing, endpoints, &group.ports, &mut create, &mut update, &mut delete);
        }
        for (key, existing) in &existing_by_ports {
            if !desired.contains_key(key) {
                delete.extend(existing.iter().map(|slice| (*slice).clone()));
            }
        }
        // A Service always has at least one slice, an empty placeholder when nothing backs it.
        if slices.len() == delete.len() && create.is_empty() {
            let placeholder = self.new_slice(Vec::new());
            if delete.len() == 1 && same_placeholder(&delete[0], &placeholder) {
                delete.clear();
            } else {
                create.push(placeholder);
            }
        }
        self.reconcile_hints(slices, &mut create, &mut update, &delete);
        // Rather than delete one slice and create another, reuse the name of the one that would go.
        let mut index = 0;
        while index < delete.len() && !create.is_empty() {
            if delete[index].address_type == self.address_type && self.owns(&delete[index]) {
                let gone = delete.remove(index);
                if let Some(mut slice) = create.pop() {
                    slice.metadata.name = gone.metadata.name;
                    slice.metadata.resource_version = gone.metadata.resource_version;
                    update.push(slice);
                }
            } else {
                index += 1;
            }
        }
        // Creating slices while the garbage collector removes the Service's slices would race with it.
        if self.service.metadata.deletion_timestamp.is_some() {
            create.clear();
        }
        for slice in create.iter_mut().chain(update.iter_mut()) {
            set_trigger_time(&mut slice.metadata, self.trigger_time);
        }
        changes.create.extend(create);
        changes.update.extend(update);
        changes.delete.extend(delete);
    }

    /// Upstream `reconcileByPortMapping`: keep wanted endpoints where they are (updating them in place), drop the rest,
    /// top up the slices that change anyway, then put what is left into the unchanged slice it fills best or into new
    /// slices.
    fn reconcile_ports(
        &self,
        existing: &[&EndpointSlice],
        mut desired: BTreeMap<EndpointKey, discovery::Endpoint>,
        ports: &[discovery::EndpointPort],
        create: &mut Vec<EndpointSlice>,
        update: &mut Vec<EndpointSlice>,
        delete: &mut Vec<EndpointSlice>,
    ) {
        let mut by_name: BTreeMap<String, EndpointSlice> = BTreeMap::new();
        let mut unchanged: BTreeSet<String> = BTreeSet::new();
        let mut changed: BTreeSet<String> = BTreeSet::new();
        for slice in existing {
            let name = slice.metadata.name.clone().unwrap_or_default();
            let current = slice.endpoints.as_deref().unwrap_or_default();
            let mut kept = Vec::with_capacity(current.len());
            let mut endpoint_changed = false;
            for endpoint in current {
                if let Some(wanted) = desired.remove(&endpoint_key(endpoint)) {
                    endpoint_changed |= !same_beyond_key(&wanted, endpoint);
                    kept.push(wanted);
                }
            }
            let (labels, labels_changed) = slice_labels(slice.metadata.labels.as_ref(), self.service);
            if endpoint_changed || kept.len() != current.len() {
                if kept.is_empty() {
                    delete.push((*slice).clone());
                    continue;
                }
                let mut copy = (*slice).clone();
                copy.endpoints = Some(kept);
                copy.metadata.labels = Some(labels);
                changed.insert(name.clone());
                by_name.insert(name, copy);
            } else if labels_changed {
                let mut copy = (*slice).clone();
                copy.metadata.labels = Some(labels);
                changed.insert(name.clone());
                by_name.insert(name, copy);
            } else {
                unchanged.insert(name.clone());
                by_name.insert(name, (*slice).clone());
            }
        }
        let fill = |slice: &mut EndpointSlice, desired: &mut BTreeMap<EndpointKey, discovery::Endpoint>| {
            let endpoints = slice.endpoints.get_or_insert_with(Vec::new);
            while endpoints.len() < self.max {
                let Some((_, endpoint)) = desired.pop_first() else { break };
                endpoints.push(endpoint);
            }
        };
        if !desired.is_empty() && !changed.is_empty() {
            let mut fullest_first: Vec<&String> = changed.iter().collect();
            fullest_first.sort_by_key(|name| Reverse(by_name.get(*name).map_or(0, slice_len)));
            for name in fullest_first {
                if let Some(slice) = by_name.get_mut(name) {
                    fill(slice, &mut desired);
                }
            }
        }
        while !desired.is_empty() {
            let target = if desired.len() < self.max { self.best_fit(&unchanged, &by_name, desired.len()) } else { None };
            match target.and_then(|name| by_name.get_mut(&name).map(|slice| (name, slice))) {
                Some((name, slice)) => {
                    fill(slice, &mut desired);
                    unchanged.remove(&name);
                    changed.insert(name);
                }
                None => {
                    let mut slice = self.new_slice(ports.to_vec());
                    fill(&mut slice, &mut desired);
                    create.push(slice);
                }
            }
        }
        update.extend(changed.iter().filter_map(|name| by_name.remove(name)));
    }

    /// Upstream `getSliceToFill`: the unchanged slice left closest to full once `count` endpoints are added.
    fn best_fit(&self, unchanged: &BTreeSet<String>, by_name: &BTreeMap<String, EndpointSlice>, count: usize) -> Option<String> {
        let mut best: Option<(usize, &String)> = None;
        for name in unchanged {
            let Some(slice) = by_name.get(name) else { continue };
            let Some(room_left) = self.max.checked_sub(count + slice_len(slice)) else { continue };
            if best.is_none_or(|(best_room, _)| room_left < best_room) {
                best = Some((room_left, name));
                if room_left == 0 {
                    break;
                }
            }
        }
        best.map(|(_, name)| name.clone())
    }

    /// Hints for `trafficDistribution` (PreferClose/PreferSameZone: the endpoint's zone; PreferSameNode: also its
    /// node), set on ready endpoints of every written slice and of unchanged slices whose hints are stale. Without it
    /// (or with the topology-mode annotation, whose zone-balancing is not implemented) hints are removed from the
    /// written slices.
    fn reconcile_hints(
        &self,
        slices: &[&EndpointSlice],
        create: &mut [EndpointSlice],
        update: &mut Vec<EndpointSlice>,
        delete: &[EndpointSlice],
    ) {
        let distribution = self.service.spec.as_ref().and_then(|spec| spec.traffic_distribution.as_deref());
        let close =
            matches!(distribution, Some("PreferClose" | "PreferSameZone" | "PreferSameNode")) && !topology_hints_enabled(self.service);
        if !close {
            for slice in create.iter_mut().chain(update.iter_mut()) {
                for endpoint in slice.endpoints.iter_mut().flatten() {
                    endpoint.hints = None;
                }
            }
            return;
        }
        let node_hints = distribution == Some("PreferSameNode");
        let written: BTreeSet<&str> = update.iter().chain(delete).filter_map(|slice| slice.metadata.name.as_deref()).collect();
        let stale: Vec<EndpointSlice> = slices
            .iter()
            .filter(|slice| !slice.metadata.name.as_deref().is_some_and(|name| written.contains(name)))
            .filter(|slice| slice.endpoints.iter().flatten().any(|endpoint| close_hints(endpoint, node_hints) != endpoint.hints))
            .map(|slice| (*slice).clone())
            .collect();
        update.extend(stale);
        for slice in create.iter_mut().chain(update.iter_mut()) {
            for endpoint in slice.endpoints.iter_mut().flatten() {
                endpoint.hints = close_hints(endpoint, node_hints);
            }
        }
    }

    fn owns(&self, slice: &EndpointSlice) -> bool {
        slice
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|owner| Some(&owner.uid) == self.service.metadata.uid.as_ref() && owner.kind == "Service" && owner.api_version == "v1")
    }

    /// Upstream `getEndpointPorts`: the Service's ports this pod serves, with the pod's target port number.
    fn endpoint_ports(&self, pod: &Pod) -> Vec<discovery::EndpointPort> {
        let mut ports: Vec<discovery::EndpointPort> = service_ports(self.service)
            .iter()
            .filter_map(|service_port| {
                let port = container_port_for(pod, service_port)?;
                Some(discovery::EndpointPort {
                    name: Some(service_port.name.clone().unwrap_or_default()),
                    port: Some(port),
                    protocol: Some(port_protocol(service_port.protocol.as_deref()).to_string()),
                    app_protocol: service_port.app_protocol.clone(),
                })
            })
            .collect();
        ports.sort_by_cached_key(|port| ports_key(std::slice::from_ref(port)));
        ports
    }

    /// Upstream `podToEndpoint`.
    fn pod_endpoint(&self, pod: &Pod, node: Option<&Node>) -> discovery::Endpoint {
        let serving = podutil::is_ready(pod);
        let terminating = pod.metadata.deletion_timestamp.is_some();
        // A terminating pod is never "ready" unless the Service publishes not-ready addresses.
        let ready = publish_not_ready(self.service) || (serving && !terminating);
        let want_ipv6 = self.address_type == "IPv6";
        let mut addresses: Vec<String> = pod_ips(pod)
            .into_iter()
            .filter_map(|ip| ip.parse::<IpAddr>().ok())
            .filter(|ip| ip.is_ipv6() == want_ipv6)
            .map(|ip| ip.to_string())
            .collect();
        addresses.sort();
        let zone = node
            .and_then(|node| node.metadata.labels.as_ref())
            .and_then(|labels| labels.get(LABEL_ZONE))
            .filter(|zone| !zone.is_empty())
            .cloned();
        discovery::Endpoint {
            addresses,
            conditions: Some(EndpointConditions { ready: Some(ready), serving: Some(serving), terminating: Some(terminating) }),
            target_ref: Some(pod_reference(pod)),
            node_name: node_name(pod).map(str::to_string),
            zone,
            hostname: hostname_for(pod, self.service),
            ..discovery::Endpoint::default()
        }
    }

    /// Upstream `newEndpointSlice`.
    fn new_slice(&self, ports: Vec<discovery::EndpointPort>) -> EndpointSlice {
        let service_name = self.service.metadata.name.clone().unwrap_or_default();
        EndpointSlice {
            metadata: ObjectMeta {
                generate_name: Some(format!("{service_name}-")),
                namespace: self.service.metadata.namespace.clone(),
                labels: Some(slice_labels(None, self.service).0),
                owner_references: Some(vec![podutil::controller_ref("v1", "Service", &self.service.metadata)]),
                ..ObjectMeta::default()
            },
            address_type: self.address_type.to_string(),
            ports: Some(ports),
            endpoints: Some(Vec::new()),
        }
    }
}

fn slice_len(slice: &EndpointSlice) -> usize {
    slice.endpoints.as_ref().map_or(0, Vec::len)
}

/// Upstream `setEndpointSliceLabels`: the Service's labels plus the reserved ones (service name, managed-by, headless
/// marker), and whether the Service's own labels differ from the slice's.
fn slice_labels(current: Option<&BTreeMap<String, String>>, service: &Service) -> (BTreeMap<String, String>, bool) {
    let reserved = |key: &str| key == LABEL_SERVICE_NAME || key == LABEL_SLICE_MANAGED_BY || key == LABEL_HEADLESS;
    let unreserved = |labels: Option<&BTreeMap<String, String>>| -> BTreeMap<String, String> {
        labels.into_iter().flatten().filter(|(key, _)| !reserved(key)).map(|(key, value)| (key.clone(), value.clone())).collect()
    };
    let mut labels = unreserved(service.metadata.labels.as_ref());
    let changed = unreserved(current) != labels;
    if !service_ip_set(service) {
        labels.insert(LABEL_HEADLESS.to_string(), String::new());
    }
    labels.insert(LABEL_SERVICE_NAME.to_string(), service.metadata.name.clone().unwrap_or_default());
    labels.insert(LABEL_SLICE_MANAGED_BY.to_string(), ENDPOINTSLICE_CONTROLLER_NAME.to_string());
    (labels, changed)
}

/// Upstream's placeholder comparison: same namespace, labels, owners and address type, and no ports or endpoints.
fn same_placeholder(slice: &EndpointSlice, placeholder: &EndpointSlice) -> bool {
    slice.metadata.namespace == placeholder.metadata.namespace
        && slice.metadata.labels.clone().unwrap_or_default() == placeholder.metadata.labels.clone().unwrap_or_default()
        && slice.metadata.owner_references.clone().unwrap_or_default() == placeholder.metadata.owner_references.clone().unwrap_or_default()
        && slice.address_type == placeholder.address_type
        && slice.ports.as_ref().is_none_or(Vec::is_empty)
        && slice.endpoints.as_ref().is_none_or(Vec::is_empty)
}

fn topology_hints_enabled(service: &Service) -> bool {
    let annotations = service.metadata.annotations.as_ref();
    let value = annotations
        .and_then(|annotations| annotations.get(ANNOTATION_TOPOLOGY_AWARE_HINTS).or_else(|| annotations.get(ANNOTATION_TOPOLOGY_MODE)));
    matches!(value.map(String::as_str), Some("Auto" | "auto"))
}

/// The hints upstream's prefer-close heuristic gives an endpoint; not-ready endpoints keep what they have.
fn close_hints(endpoint: &discovery::Endpoint, node_hints: bool) -> Option<EndpointHints> {
    if !endpoint.conditions.as_ref().and_then(|conditions| conditions.ready).unwrap_or(false) {
        return endpoint.hints.clone();
    }
    let for_zones = endpoint.zone.clone().map(|zone| vec![ForZone { name: zone }]);
    let for_nodes = endpoint.node_name.clone().filter(|_| node_hints).map(|node| vec![ForNode { name: node }]);
    (for_zones.is_some() || for_nodes.is_some()).then_some(EndpointHints { for_zones, for_nodes })
}

fn set_trigger_time(metadata: &mut ObjectMeta, trigger_time: Option<jiff::Timestamp>) {
    let mut annotations = metadata.annotations.take().unwrap_or_default();
    match trigger_time {
        Some(time) => annotations.insert(ANNOTATION_TRIGGER_TIME.to_string(), time.to_string()),
        None => annotations.remove(ANNOTATION_TRIGGER_TIME),
    };
    metadata.annotations = (!annotations.is_empty()).then_some(annotations);
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::{json, Value};

    type ReadyServingTerminating = (Option<bool>, Option<bool>, Option<bool>);

    fn time(text: &str) -> Time {
        Time(text.parse().expect("timestamp"))
    }

    fn service(spec: Value) -> Service {
        let mut spec = spec;
        if spec.get("selector").is_none() {
            spec["selector"] = json!({"app": "web"});
        }
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid", "labels": {"team": "a"},
                         "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": spec,
        }))
        .expect("service")
    }

    fn http_service() -> Service {
        service(
            json!({"clusterIP": "10.43.0.10", "ipFamilies": ["IPv4"], "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]}),
        )
    }

    fn pod(name: &str, ip: &str, ready: bool) -> Pod {
        pod_with(name, ip, ready, json!([{"name": "http", "containerPort": 8080, "protocol": "TCP"}]))
    }

    fn pod_with(name: &str, ip: &str, ready: bool, ports: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "i", "ports": ports}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                       "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                                       "lastTransitionTime": "2024-01-01T00:01:00Z"}]},
        }))
        .expect("pod")
    }

    fn node(name: &str, zone: &str) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}}})).expect("node")
    }

    fn written(write: Option<EndpointsWrite>) -> Endpoints {
        match write.expect("a write") {
            EndpointsWrite::Create(endpoints) | EndpointsWrite::Update(endpoints) => endpoints,
        }
    }

    fn ips(addresses: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        addresses.iter().flatten().map(|address| address.ip.as_str()).collect()
    }

    #[test]
    fn endpoints_list_ready_and_not_ready_pods_with_their_pod_and_node() {
        let pods = vec![pod("b", "10.42.0.6", true), pod("a", "10.42.0.5", true), pod("c", "10.42.0.7", false)];
        let write = sync_endpoints(&http_service(), &pods, None, None);
        let EndpointsWrite::Create(endpoints) = write.expect("created") else { panic!("expected a create") };
        assert_eq!(endpoints.metadata.name.as_deref(), Some("web"));
        assert_eq!(endpoints.metadata.namespace.as_deref(), Some("default"));
        let labels = endpoints.metadata.labels.clone().expect("labels");
        assert_eq!(labels.get("team").map(String::as_str), Some("a"));
        assert_eq!(labels.get("endpoints.kubernetes.io/managed-by").map(String::as_str), Some("endpoint-controller"));
        assert!(!labels.contains_key("service.kubernetes.io/headless"));
        let subsets = endpoints.subsets.expect("subsets");
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0].addresses), vec!["10.42.0.5", "10.42.0.6"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), vec!["10.42.0.7"]);
        let port = &subsets[0].ports.as_ref().expect("ports")[0];
        assert_eq!((port.name.as_deref(), port.port, port.protocol.as_deref()), (Some("http"), 8080, Some("TCP")));
        let first = &subsets[0].addresses.as_ref().expect("addresses")[0];
        assert_eq!(first.node_name.as_deref(), Some("node-1"));
        let target = first.target_ref.as_ref().expect("targetRef");
        assert_eq!(
            (target.kind.as_deref(), target.name.as_deref(), target.namespace.as_deref(), target.uid.as_deref()),
            (Some("Pod"), Some("a"), Some("default"), Some("uid-a"))
        );
    }

    #[test]
    fn named_target_ports_resolve_per_pod_and_pods_without_the_name_are_left_out_of_that_port() {
        let service = service(json!({"clusterIP": "10.43.0.10", "ports": [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"},
            {"name": "metrics", "port": 9100, "protocol": "TCP", "targetPort": 9100},
        ]}));
        let pods = vec![
            pod_with("a", "10.42.0.5", true, json!([{"name": "http", "containerPort": 8080}])),
            pod_with("b", "10.42.0.6", true, json!([{"name": "http", "containerPort": 8081}])),
            pod_with("c", "10.42.0.7", true, json!([{"name": "admin", "containerPort": 8080}])),
            pod_with("d", "10.42.0.8", true, json!([{"name": "http", "containerPort": 8080, "protocol": "UDP"}])),
        ];
        let subsets = written(sync_endpoints(&service, &pods, None, None)).subsets.expect("subsets");
        let by_ports: Vec<(Vec<i32>, Vec<&str>)> =
            subsets.iter().map(|subset| (subset.ports.iter().flatten().map(|port| port.port).collect(), ips(&subset.addresses))).collect();
        assert!(by_ports.contains(&(vec![8080], vec!["10.42.0.5"])), "{by_ports:?}");
        assert!(by_ports.contains(&(vec![8081], vec!["10.42.0.6"])), "{by_ports:?}");
        assert!(by_ports.contains(&(vec![9100], vec!["10.42.0.5", "10.42.0.6", "10.42.0.7", "10.42.0.8"])), "{by_ports:?}");
        assert_eq!(by_ports.len(), 3);
    }

    #[test]
    fn ports_served_by_the_same_addresses_share_a_subset() {
        let service = service(json!({"clusterIP": "10.43.0.10", "ports": [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443},
        ]}));
        let pods = vec![pod("a", "10.42.0.5", true), pod("b", "10.42.0.6", false)];
        let subsets = written(sync_endpoints(&service, &pods, None, None)).subsets.expect("subsets");
        assert_eq!(subsets.len(), 1);
        assert_eq!(subsets[0].ports.as_ref().map(Vec::len), Some(2));
        assert_eq!(ips(&subsets[0].addresses), vec!["10.42.0.5"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), vec!["10.42.0.6"]);
    }

    #[test]
    fn publish_not_ready_addresses_lists_every_pod_as_ready_including_terminating_ones() {
        let mut terminating = pod("t", "10.42.0.9", true);
        terminating.metadata.deletion_timestamp = Some(time("2024-01-01T00:05:00Z"));
        let pods = vec![pod("a", "10.42.0.5", false), terminating.clone()];
        let mut publishing = http_service();
        publishing.spec.as_mut().expect("spec").publish_not_ready_addresses = Some(true);
        let subsets = written(sync_endpoints(&publishing, &pods, None, None)).subsets.expect("subsets");
        assert_eq!(ips(&subsets[0].addresses), vec!["10.42.0.5", "10.42.0.9"]);
        assert_eq!(subsets[0].not_ready_addresses, None);

        let subsets = written(sync_endpoints(&http_service(), &pods, None, None)).subsets.expect("subsets");
        assert_eq!(ips(&subsets[0].not_ready_addresses), vec!["10.42.0.5"], "a terminating pod is left out");
    }

    #[test]
    fn pods_without_ip_finished_unselected_or_elsewhere_are_left_out() {
        let mut no_ip = pod("no-ip", "10.42.0.1", true);
        no_ip.status.as_mut().expect("status").pod_ip = None;
        no_ip.status.as_mut().expect("status").pod_ips = None;
        let mut finished = pod("done", "10.42.0.2", true);
        finished.status.as_mut().expect("status").phase = Some("Succeeded".to_string());
        let mut other_app = pod("other", "10.42.0.3", true);
        other_app.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
        let mut other_namespace = pod("elsewhere", "10.42.0.4", true);
        other_namespace.metadata.namespace = Some("kube-system".to_string());
        let pods = vec![no_ip, finished, other_app, other_namespace, pod("a", "10.42.0.5", true)];
        let subsets = written(sync_endpoints(&http_service(), &pods, None, None)).subsets.expect("subsets");
        assert_eq!(ips(&subsets[0].addresses), vec!["10.42.0.5"]);
    }

    #[test]
    fn services_without_selector_and_external_names_get_no_endpoints() {
        let mut without_selector = http_service();
        without_selector.spec.as_mut().expect("spec").selector = None;
        let external = service(json!({"type": "ExternalName", "externalName": "example.com"}));
        let pods = vec![pod("a", "10.42.0.5", true)];
        assert_eq!(sync_endpoints(&without_selector, &pods, None, None), None);
        assert_eq!(sync_endpoints(&external, &pods, None, None), None);
        assert!(sync_endpoint_slices(&without_selector, &pods, &[node("node-1", "z")], &[], None, 100).is_empty());
    }

    #[test]
    fn hostname_is_set_for_pods_whose_subdomain_is_the_service() {
        let mut named = pod("a", "10.42.0.5", true);
        let spec = named.spec.as_mut().expect("spec");
        spec.hostname = Some("a-0".to_string());
        spec.subdomain = Some("web".to_string());
        let mut other = pod("b", "10.42.0.6", true);
        other.spec.as_mut().expect("spec").hostname = Some("b-0".to_string());
        let subsets = written(sync_endpoints(&http_service(), &[named, other], None, None)).subsets.expect("subsets");
        let hostnames: Vec<Option<&str>> = subsets[0].addresses.iter().flatten().map(|address| address.hostname.as_deref()).collect();
        assert_eq!(hostnames, vec![Some("a-0"), None]);
    }

    #[test]
    fn headless_service_without_ports_lists_addresses_without_ports() {
        let headless = service(json!({"clusterIP": "None"}));
        let endpoints = written(sync_endpoints(&headless, &[pod("a", "10.42.0.5", true)], None, None));
        let labels = endpoints.metadata.labels.expect("labels");
        assert_eq!(labels.get("service.kubernetes.io/headless").map(String::as_str), Some(""));
        let subsets = endpoints.subsets.expect("subsets");
        assert_eq!(ips(&subsets[0].addresses), vec!["10.42.0.5"]);
        assert_eq!(subsets[0].ports, None);
    }

    #[test]
    fn unchanged_endpoints_need_no_write_and_changes_update_the_current_object() {
        let service = http_service();
        let pods = vec![pod("a", "10.42.0.5", true)];
        let mut current = written(sync_endpoints(&service, &pods, None, None));
        current.metadata.resource_version = Some("7".to_string());
        if let Some(target) =
            current.subsets.as_mut().and_then(|subsets| subsets[0].addresses.as_mut()).and_then(|a| a[0].target_ref.as_mut())
        {
            target.resource_version = Some("99".to_string());
        }
        assert_eq!(sync_endpoints(&service, &pods, Some(&current), None), None);

        let pods = vec![pod("a", "10.42.0.5", false)];
        let Some(EndpointsWrite::Update(updated)) = sync_endpoints(&service, &pods, Some(&current), None) else {
            panic!("expected update")
        };
        assert_eq!(updated.metadata.resource_version.as_deref(), Some("7"));
        let subsets = updated.subsets.expect("subsets");
        assert_eq!(ips(&subsets[0].not_ready_addresses), vec!["10.42.0.5"]);
    }

    #[test]
    fn more_than_a_thousand_addresses_are_truncated_and_annotated() {
        let pods: Vec<Pod> = (0..1100).map(|i| pod(&format!("p{i}"), &format!("10.42.{}.{}", i / 250, i % 250 + 1), i % 2 == 0)).collect();
        let endpoints = written(sync_endpoints(&http_service(), &pods, None, None));
        let annotations = endpoints.metadata.annotations.expect("annotations");
        assert_eq!(annotations.get("endpoints.kubernetes.io/over-capacity").map(String::as_str), Some("truncated"));
        let subset = &endpoints.subsets.expect("subsets")[0];
        assert_eq!(subset.addresses.as_ref().map(Vec::len), Some(550), "every ready address is kept");
        assert_eq!(subset.not_ready_addresses.as_ref().map(Vec::len), Some(450));
    }

    #[test]
    fn trigger_time_is_the_creation_first_then_the_earliest_change() {
        let service = http_service();
        let mut tracker = TriggerTimeTracker::default();
        let pods = vec![pod("a", "10.42.0.5", true)];
        assert_eq!(tracker.last_change_trigger_time(&service, &pods), Some("2024-01-01T00:00:00Z".parse().expect("time")));
        assert_eq!(tracker.last_change_trigger_time(&service, &pods), None, "nothing changed");
        let mut changed = pod("a", "10.42.0.5", false);
        let condition = &mut changed.status.as_mut().expect("status").conditions.as_mut().expect("conditions")[0];
        condition.last_transition_time = Some(time("2024-01-01T00:09:00Z"));
        let trigger = tracker.last_change_trigger_time(&service, &[changed.clone()]).expect("a trigger time");
        assert_eq!(trigger, "2024-01-01T00:09:00Z".parse().expect("time"));
        let endpoints = written(sync_endpoints(&service, &[changed], None, Some(trigger)));
        let annotations = endpoints.metadata.annotations.expect("annotations");
        assert_eq!(annotations.get("endpoints.kubernetes.io/last-change-trigger-time").map(String::as_str), Some("2024-01-01T00:09:00Z"));
    }

    // --- EndpointSlices ---

    /// Applies `changes` the way the API server would, naming created slices `web-<n>`.
    fn apply(store: &mut Vec<EndpointSlice>, changes: &SliceChanges, next_name: &mut usize) {
        for gone in &changes.delete {
            store.retain(|slice| slice.metadata.name != gone.metadata.name);
        }
        for updated in &changes.update {
            let slot = store.iter_mut().find(|slice| slice.metadata.name == updated.metadata.name).expect("updated slice exists");
            *slot = updated.clone();
        }
        for created in &changes.create {
            let mut slice = created.clone();
            slice.metadata.name = Some(format!("web-{next_name}"));
            *next_name += 1;
            store.push(slice);
        }
    }

    fn slice_ips(slice: &EndpointSlice) -> Vec<String> {
        slice.endpoints.iter().flatten().flat_map(|endpoint| endpoint.addresses.clone()).collect()
    }

    fn many_pods(count: usize) -> Vec<Pod> {
        (0..count).map(|i| pod(&format!("p{i:04}"), &format!("10.42.{}.{}", i / 250, i % 250 + 1), true)).collect()
    }

    #[test]
    fn a_slice_carries_labels_owner_ports_and_endpoint_conditions() {
        let mut terminating = pod("t", "10.42.0.9", true);
        terminating.metadata.deletion_timestamp = Some(time("2024-01-01T00:05:00Z"));
        let pods = vec![pod("a", "10.42.0.5", true), pod("b", "10.42.0.6", false), terminating];
        let changes = sync_endpoint_slices(&http_service(), &pods, &[node("node-1", "zone-a")], &[], None, 100);
        assert_eq!((changes.create.len(), changes.update.len(), changes.delete.len()), (1, 0, 0));
        let slice = &changes.create[0];
        assert_eq!(slice.metadata.generate_name.as_deref(), Some("web-"));
        assert_eq!(slice.address_type, "IPv4");
        let labels = slice.metadata.labels.clone().expect("labels");
        assert_eq!(labels.get("kubernetes.io/service-name").map(String::as_str), Some("web"));
        assert_eq!(labels.get("endpointslice.kubernetes.io/managed-by").map(String::as_str), Some("endpointslice-controller.k8s.io"));
        assert_eq!(labels.get("team").map(String::as_str), Some("a"));
        let owner = &slice.metadata.owner_references.as_ref().expect("owners")[0];
        assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()), ("Service", "web", "svc-uid"));
        assert_eq!((owner.controller, owner.block_owner_deletion), (Some(true), Some(true)));
        let port = &slice.ports.as_ref().expect("ports")[0];
        assert_eq!((port.name.as_deref(), port.port, port.protocol.as_deref()), (Some("http"), Some(8080), Some("TCP")));
        let conditions: BTreeMap<String, ReadyServingTerminating> = slice
            .endpoints
            .iter()
            .flatten()
            .map(|endpoint| {
                let conditions = endpoint.conditions.clone().expect("conditions");
                let name = endpoint.target_ref.as_ref().and_then(|target| target.name.clone()).expect("pod name");
                assert_eq!(endpoint.zone.as_deref(), Some("zone-a"));
                assert_eq!(endpoint.node_name.as_deref(), Some("node-1"));
                (name, (conditions.ready, conditions.serving, conditions.terminating))
            })
            .collect();
        assert_eq!(conditions["a"], (Some(true), Some(true), Some(false)));
        assert_eq!(conditions["b"], (Some(false), Some(false), Some(false)));
        assert_eq!(conditions["t"], (Some(false), Some(true), Some(true)), "terminating pods serve but are not ready");
    }

    #[test]
    fn slices_hold_at_most_the_maximum_and_split_beyond_it() {
        let changes = sync_endpoint_slices(&http_service(), &many_pods(250), &[node("node-1", "z")], &[], None, 100);
        let mut sizes: Vec<usize> = changes.create.iter().map(slice_len).collect();
        sizes.sort();
        assert_eq!(sizes, vec![50, 100, 100]);
    }

    #[test]
    fn a_pod_change_rewrites_only_the_slice_that_holds_it() {
        let service = http_service();
        let nodes = [node("node-1", "z")];
        let mut pods = many_pods(250);
        let mut store = Vec::new();
        let mut next_name = 0;
        let changes = sync_endpoint_slices(&service, &pods, &nodes, &store, None, 100);
        apply(&mut store, &changes, &mut next_name);
        assert!(sync_endpoint_slices(&service, &pods, &nodes, &store, None, 100).is_empty(), "a second sync changes nothing");

        pods[7] = pod("p0007", "10.42.0.8", false);
        let changes = sync_endpoint_slices(&service, &pods, &nodes, &store, None, 100);
        assert_eq!((changes.create.len(), changes.update.len(), changes.delete.len()), (0, 1, 0));
        assert!(slice_ips(&changes.update[0]).contains(&"10.42.0.8".to_string()));
        apply(&mut store, &changes, &mut next_name);

        pods.push(pod("new", "10.42.9.9", true));
        let changes = sync_endpoint_slices(&service, &pods, &nodes, &store, None, 100);
        assert_eq!((changes.create.len(), changes.update.len(), changes.delete.len()), (0, 1, 0));
        assert_eq!(slice_len(&changes.update[0]), 51, "the new endpoint fills the slice with room");
        apply(&mut store, &changes, &mut next_name);

        pods.remove(0);
        let changes = sync_endpoint_slices(&service, &pods, &nodes, &store, None, 100);
        assert_eq!((changes.create.len(), changes.update.len(), changes.delete.len()), (0, 1, 0));
        apply(&mut store, &changes, &mut next_name);
        let total: usize = store.iter().map(slice_len).sum();
        assert_eq!((store.len(), total), (3, 250));
    }

    #[test]
    fn a_service_without_pods_keeps_one_empty_slice() {
        let service = http_service();
        let nodes = [node("node-1", "z")];
        let mut store = Vec::new();
        let mut next_name = 0;
        let changes = sync_endpoint_slices(&service, &[], &nodes, &store, None, 100);
        assert_eq!(changes.create.len(), 1);
        assert_eq!(slice_len(&changes.create[0]), 0);
        apply(&mut store, &changes, &mut next_name);
        assert!(sync_endpoint_slices(&service, &[], &nodes, &store, None, 100).is_empty(), "the placeholder stays");

        let changes = sync_endpoint_slices(&service, &[pod("a", "10.42.0.5", true)], &nodes, &store, None, 100);
        apply(&mut store, &changes, &mut next_name);
        let changes = sync_endpoint_slices(&service, &[], &nodes, &store, None, 100);
        assert_eq!((changes.create.len(), changes.update.len(), changes.delete.len()), (0, 1, 0), "the last slice is emptied in place");
        assert_eq!(changes.update[0].metadata.name, store[0].metadata.name);
        assert_eq!(slice_len(&changes.update[0]), 0);
    }

    #[test]
    fn pods_with_different_ports_go_to_different_slices() {
        let pods = vec![
            pod_with("a", "10.42.0.5", true, json!([{"name": "http", "containerPort": 8080}])),
            pod_with("b", "10.42.0.6", true, json!([{"name": "http", "containerPort": 9090}])),
            pod_with("c", "10.42.0.7", true, json!([{"name": "admin", "containerPort": 8080}])),
        ];
        let changes = sync_endpoint_slices(&http_service(), &pods, &[node("node-1", "z")], &[], None, 100);
        let mut groups: Vec<(Vec<Option<i32>>, Vec<String>)> =
            changes.create.iter().map(|slice| (slice.ports.iter().flatten().map(|port| port.port).collect(), slice_ips(slice))).collect();
        groups.sort();
        assert_eq!(
            groups,
            vec![
                (vec![], vec!["10.42.0.7".to_string()]),
                (vec![Some(8080)], vec!["10.42.0.5".to_string()]),
                (vec![Some(9090)], vec!["10.42.0.6".to_string()]),
            ]
        );
    }

    #[test]
    fn pods_on_unknown_nodes_wait_unless_not_ready_addresses_are_published() {
        let pods = vec![pod("a", "10.42.0.5", true)];
        let changes = sync_endpoint_slices(&http_service(), &pods, &[], &[], None, 100);
        assert_eq!(slice_len(&changes.create[0]), 0);
        assert_eq!(changes.errors, vec!["skipping Pod a for Service default/web: Node node-1 Not Found".to_string()]);
        assert_eq!(
            changes.warning_message(&http_service()).as_deref(),
            Some("Error updating Endpoint Slices for Service default/web: skipping Pod a for Service default/web: Node node-1 Not Found")
        );
        let mut publishing = http_service();
        publishing.spec.as_mut().expect("spec").publish_not_ready_addresses = Some(true);
        let changes = sync_endpoint_slices(&publishing, &pods, &[], &[], None, 100);
        assert_eq!(slice_len(&changes.create[0]), 1);
        assert!(changes.errors.is_empty());
    }

    #[test]
    fn slices_of_an_older_service_with_the_same_name_are_replaced() {
        let nodes = [node("node-1", "z")];
        let mut stale = sync_endpoint_slices(&http_service(), &[pod("a", "10.42.0.5", true)], &nodes, &[], None, 100).create.remove(0);
        stale.metadata.name = Some("web-old".to_string());
        stale.metadata.owner_references.as_mut().expect("owners")[0].uid = "previous-uid".to_string();
        let mut unrelated = stale.clone();
        unrelated.metadata.name = Some("other".to_string());
        unrelated.metadata.labels = Some([("kubernetes.io/service-name".to_string(), "other".to_string())].into());
        let changes = sync_endpoint_slices(&http_service(), &[pod("a", "10.42.0.5", true)], &nodes, &[stale, unrelated], None, 100);
        let deleted: Vec<_> = changes.delete.iter().map(|slice| slice.metadata.name.clone()).collect();
        assert_eq!(deleted, vec![Some("web-old".to_string())], "another Service's slice is not touched");
        assert_eq!(changes.create.len(), 1);
    }

    #[test]
    fn prefer_close_traffic_distribution_gives_ready_endpoints_zone_hints() {
        let mut service = http_service();
        service.spec.as_mut().expect("spec").traffic_distribution = Some("PreferClose".to_string());
        let pods = vec![pod("a", "10.42.0.5", true), pod("b", "10.42.0.6", false)];
        let changes = sync_endpoint_slices(&service, &pods, &[node("node-1", "zone-a")], &[], None, 100);
        let hints: Vec<Option<EndpointHints>> =
            changes.create[0].endpoints.iter().flatten().map(|endpoint| endpoint.hints.clone()).collect();
        let zone_a = EndpointHints { for_zones: Some(vec![ForZone { name: "zone-a".to_string() }]), for_nodes: None };
        assert_eq!(hints, vec![Some(zone_a), None]);
    }

    #[test]
    fn no_slices_are_created_for_a_service_being_deleted_and_trigger_times_are_annotated() {
        let mut deleting = http_service();
        deleting.metadata.deletion_timestamp = Some(time("2024-01-02T00:00:00Z"));
        assert!(sync_endpoint_slices(&deleting, &[], &[], &[], None, 100).create.is_empty());

        let trigger: jiff::Timestamp = "2024-01-01T00:00:01.5Z".parse().expect("time");
        let changes = sync_endpoint_slices(&http_service(), &[], &[], &[], Some(trigger), 100);
        let annotations = changes.create[0].metadata.annotations.clone().expect("annotations");
        assert_eq!(annotations.get("endpoints.kubernetes.io/last-change-trigger-time").map(String::as_str), Some("2024-01-01T00:00:01.5Z"));
    }

    #[test]
    fn a_dual_stack_pod_appears_in_the_slice_of_each_family() {
        let service = service(
            json!({"clusterIP": "10.43.0.10", "ipFamilies": ["IPv4", "IPv6"], "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
        );
        let mut dual = pod("a", "10.42.0.5", true);
        dual.status.as_mut().expect("status").pod_ips =
            Some(serde_json::from_value(json!([{"ip": "10.42.0.5"}, {"ip": "fd00::5"}])).expect("ips"));
        let changes = sync_endpoint_slices(&service, &[dual], &[node("node-1", "z")], &[], None, 100);
        let by_type: BTreeMap<String, Vec<String>> =
            changes.create.iter().map(|slice| (slice.address_type.clone(), slice_ips(slice))).collect();
        assert_eq!(by_type["IPv4"], vec!["10.42.0.5".to_string()]);
        assert_eq!(by_type["IPv6"], vec!["fd00::5".to_string()]);
    }
}
