//! Simulated nodes, like kwok: `count` Node objects that look, through the API, as if a kubelet ran each of them,
//! for tests and benchmarks without containers. Each node is registered (or an existing one of the same name taken
//! over) with the labels, addresses, capacity and Ready condition a kubelet posts, heartbeats through its Lease in
//! `kube-node-lease` every 10 s and refreshes its status every 5 min or as soon as someone else changed it. Pods
//! bound to a simulated node are reported running at once, with an address from the node's `spec.podCIDR`; Job pods
//! (restartPolicy Never or OnFailure) finish after `job_pod_run_time`, with the exit code of the
//! `ferrokube.dev/simulated-exit-code` annotation; pods being deleted are finished and removed with the kubelet's
//! final zero-grace delete. All writes share one bound on requests in flight and back off when they fail.
//!
//! The decisions (status contents, addresses, what a pod needs next) are pure functions at the top of this file;
//! the kube-rs glue (registration, heartbeats, the pod and node watches) follows them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use ipnet::IpNet;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, DaemonEndpoint, HostIP, Node, NodeAddress,
    NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus, NodeSystemInfo, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, Semaphore, SemaphorePermit};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::control::events::{reference_to, EventRecorder, Severity};
use crate::control::ControlError;

/// Marks the nodes this module registered, as kwok's `kwok.x-k8s.io/node: fake` does.
pub const SIMULATED_ANNOTATION: &str = "ferrokube.dev/simulated";
/// On a Job pod: the exit code its containers finish with; a non-zero code makes the pod fail (or, with
/// restartPolicy OnFailure, its containers restart).
pub const EXIT_CODE_ANNOTATION: &str = "ferrokube.dev/simulated-exit-code";

const KUBELET_VERSION: &str = "v1.37.0";
const CONTAINER_RUNTIME_VERSION: &str = "ferrokube-simulated://1.0";
const CONTAINER_ID_SCHEME: &str = "simulated://";
const KUBELET_PORT: i32 = 10250;
const EPHEMERAL_STORAGE_CAPACITY: &str = "100Gi";
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
const LEASE_DURATION_SECONDS: i32 = 40;
/// The kubelet renews at a quarter of the lease duration, each wait stretched by up to 4 % (`JitterUntil`).
const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(10);
const LEASE_RENEW_JITTER: f64 = 0.04;
/// The kubelet's `nodeStatusReportFrequency`: how often an unchanged status is posted again.
const STATUS_REPORT_INTERVAL: Duration = Duration::from_secs(300);
/// The kubelet's retry cap for registration and lease writes.
const RETRY_DELAY_MAX: Duration = Duration::from_secs(7);
const RETRY_DELAY_FIRST: Duration = Duration::from_millis(100);
/// Pod writes back off longer: a pod that cannot be written is rarely urgent and there may be thousands.
const POD_RETRY_DELAY_MAX: Duration = Duration::from_secs(30);
/// How long a pod waits for an address when its node's range is full (the kubelet retries sandbox creation).
const ADDRESS_RETRY_DELAY: Duration = Duration::from_secs(10);
/// Requests in flight across all simulated nodes.
const REQUESTS_IN_FLIGHT_MAX: usize = 32;
/// Pod writes in flight; fewer than `REQUESTS_IN_FLIGHT_MAX`, so that a burst of pods never holds up heartbeats.
const POD_WRITES_IN_FLIGHT_MAX: usize = 24;

/// Node InternalIPs: 10.200.0.0/13, one per node by index.
const NODE_ADDRESS_BASE: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 0);
const NODE_ADDRESS_HOST_BITS: u32 = 19;
/// Pod ranges for nodes the node IPAM controller has not given a `spec.podCIDR`: a block of 10.128.0.0/10 per node,
/// outside the default cluster CIDR (10.42.0.0/16), service range (10.96.0.0/12) and node addresses.
const FALLBACK_POD_BASE: Ipv4Addr = Ipv4Addr::new(10, 128, 0, 0);
const FALLBACK_POD_PREFIX: u32 = 10;

/// What the simulated nodes look like.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulateConfig {
    /// How many nodes: `<name_prefix>0` … `<name_prefix><count - 1>`.
    pub count: usize,
    pub name_prefix: String,
    /// Capacity (and allocatable) `cpu` of each node, a quantity such as `"8"`.
    pub cpu: String,
    /// Capacity (and allocatable) `memory` of each node, a quantity such as `"32Gi"`.
    pub memory: String,
    /// Capacity (and allocatable) `pods` of each node.
    pub pods: u32,
    /// Extra labels on every node; they win over the kubelet's own labels of the same key.
    pub labels: BTreeMap<String, String>,
    /// How long the containers of a Job pod run before they exit.
    pub job_pod_run_time: Duration,
}

impl Default for SimulateConfig {
    fn default() -> Self {
        SimulateConfig {
            count: 1,
            name_prefix: "sim-".into(),
            cpu: "8".into(),
            memory: "32Gi".into(),
            pods: 110,
            labels: BTreeMap::new(),
            job_pod_run_time: Duration::from_secs(2),
        }
    }
}

impl SimulateConfig {
    /// The name of the node at `index`.
    pub fn node_name(&self, index: usize) -> String {
        format!("{}{index}", self.name_prefix)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Nodes: what is registered and posted as status.
// ---------------------------------------------------------------------------------------------------------------

/// The conditions a healthy kubelet posts, Ready last as upstream keeps it: type, status, reason, message.
const NODE_CONDITIONS: [(&str, &str, &str, &str); 4] = [
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
];

/// The InternalIP of the node at `index`.
fn node_address(index: usize) -> Ipv4Addr {
    let host_count = (1u64 << NODE_ADDRESS_HOST_BITS) - 2;
    let offset = 1 + (index as u64 % host_count) as u32;
    Ipv4Addr::from(u32::from(NODE_ADDRESS_BASE) + offset)
}

/// The pod range of the node at `index` while it has no `spec.podCIDR`: a /24 per node up to 16384 nodes, smaller
/// blocks beyond so that every node still gets its own.
fn fallback_pod_cidr(index: usize, count: usize) -> IpNet {
    let bits_for_count = usize::BITS - count.max(1).saturating_sub(1).leading_zeros();
    let prefix = (FALLBACK_POD_PREFIX + bits_for_count).clamp(24, 30);
    let block_count = 1usize << (prefix - FALLBACK_POD_PREFIX);
    let block = (index % block_count) as u32;
    let network = Ipv4Addr::from(u32::from(FALLBACK_POD_BASE) + (block << (32 - prefix)));
    IpNet::V4(ipnet::Ipv4Net::new(network, prefix as u8).unwrap_or_default())
}

/// The ranges pod addresses come from: the node's `spec.podCIDRs` (one per family, IPv4 first as the node address
/// is IPv4), else the fallback block.
fn pod_ranges(spec: Option<&NodeSpec>, index: usize, count: usize) -> Vec<IpNet> {
    let listed = spec
        .and_then(|spec| spec.pod_cidrs.clone().filter(|cidrs| !cidrs.is_empty()).or_else(|| spec.pod_cidr.clone().map(|cidr| vec![cidr])));
    let parsed: Vec<IpNet> =
        listed.unwrap_or_default().iter().filter_map(|cidr| cidr.parse::<IpNet>().ok()).map(|net| net.trunc()).collect();
    let v4 = parsed.iter().find(|net| matches!(net, IpNet::V4(_)));
    let v6 = parsed.iter().find(|net| matches!(net, IpNet::V6(_)));
    let ranges: Vec<IpNet> = v4.into_iter().chain(v6).copied().collect();
    if ranges.is_empty() {
        vec![fallback_pod_cidr(index, count)]
    } else {
        ranges
    }
}

/// Stable fake identifiers (machine ID, boot ID, container IDs, image digests) derived from names, so that a
/// restarted simulator reports the same ones.
fn digest_hex(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
}

fn uuid_from_digest(hex: &str) -> String {
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// The Node to create: metadata and an empty spec (status goes through the status subresource, as the kubelet's
/// node status setters do after registration).
fn node_object(config: &SimulateConfig, index: usize) -> Node {
    let name = config.node_name(index);
    let mut labels: BTreeMap<String, String> = [
        ("kubernetes.io/hostname", name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", "amd64"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value.to_string()))
    .collect();
    labels.extend(config.labels.clone());
    let annotations = BTreeMap::from([
        (SIMULATED_ANNOTATION.to_string(), "true".to_string()),
        ("volumes.kubernetes.io/controller-managed-attach-detach".to_string(), "true".to_string()),
    ]);
    Node {
        metadata: ObjectMeta { name: Some(name), labels: Some(labels), annotations: Some(annotations), ..ObjectMeta::default() },
        spec: Some(NodeSpec::default()),
        status: None,
    }
}

/// The status the node's kubelet posts at `now`. Transition times carry over from `previous` for conditions
/// whose status did not change, as the kubelet's condition setters keep them.
fn node_status(config: &SimulateConfig, index: usize, previous: Option<&NodeStatus>, now: Timestamp) -> NodeStatus {
    let name = config.node_name(index);
    let resources: BTreeMap<String, Quantity> = [
        ("cpu", config.cpu.clone()),
        ("memory", config.memory.clone()),
        ("pods", config.pods.to_string()),
        ("ephemeral-storage", EPHEMERAL_STORAGE_CAPACITY.to_string()),
        ("hugepages-1Gi", "0".to_string()),
        ("hugepages-2Mi", "0".to_string()),
    ]
    .into_iter()
    .map(|(resource, amount)| (resource.to_string(), Quantity(amount)))
    .collect();
    let previous_conditions = previous.and_then(|status| status.conditions.as_deref()).unwrap_or_default();
    let conditions = NODE_CONDITIONS
        .iter()
        .map(|&(type_, status, reason, message)| {
            let unchanged = previous_conditions.iter().find(|condition| condition.type_ == type_ && condition.status == status);
            let since = unchanged.and_then(|condition| condition.last_transition_time.clone()).unwrap_or(Time(now));
            NodeCondition {
                type_: type_.to_string(),
                status: status.to_string(),
                reason: Some(reason.to_string()),
                message: Some(message.to_string()),
                last_heartbeat_time: Some(Time(now)),
                last_transition_time: Some(since),
            }
        })
        .collect();
    let machine = digest_hex(&["machine", &name]);
    let boot = digest_hex(&["boot", &name]);
    NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        conditions: Some(conditions),
        addresses: Some(vec![
            NodeAddress { type_: "InternalIP".into(), address: node_address(index).to_string() },
            NodeAddress { type_: "Hostname".into(), address: name },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints { kubelet_endpoint: Some(DaemonEndpoint { port: KUBELET_PORT }) }),
        node_info: Some(NodeSystemInfo {
            machine_id: machine[..32].to_string(),
            system_uuid: uuid_from_digest(&machine[32..]),
            boot_id: uuid_from_digest(&boot),
            kernel_version: "6.1.0-simulated".into(),
            os_image: "ferrokube simulated node".into(),
            container_runtime_version: CONTAINER_RUNTIME_VERSION.into(),
            kubelet_version: KUBELET_VERSION.into(),
            kube_proxy_version: String::new(),
            operating_system: "linux".into(),
            architecture: "amd64".into(),
            ..NodeSystemInfo::default()
        }),
        ..NodeStatus::default()
    }
}

/// Whether `observed` differs from what the kubelet wants posted (`wanted`) in anything but heartbeat and
/// transition times: another writer (the node lifecycle controller marking it Unknown, a test) changed it.
fn status_drifted(wanted: &NodeStatus, observed: &NodeStatus) -> bool {
    let ours = |status: &NodeStatus| -> Vec<(String, String, Option<String>, Option<String>)> {
        let mut conditions: Vec<_> = status
            .conditions
            .iter()
            .flatten()
            .filter(|condition| NODE_CONDITIONS.iter().any(|(type_, ..)| *type_ == condition.type_))
            .map(|condition| (condition.type_.clone(), condition.status.clone(), condition.reason.clone(), condition.message.clone()))
            .collect();
        conditions.sort();
        conditions
    };
    ours(wanted) != ours(observed)
        || wanted.capacity != observed.capacity
        || wanted.allocatable != observed.allocatable
        || wanted.addresses != observed.addresses
        || wanted.node_info != observed.node_info
        || wanted.daemon_endpoints != observed.daemon_endpoints
}

/// The node's Lease as the kubelet's lease controller keeps it: held by the node, owned by the Node object so it
/// goes when the node goes.
fn renewed_lease(lease: Option<Lease>, node_name: &str, node_uid: Option<&str>, now: Timestamp) -> Lease {
    let mut lease = lease.unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(node_name.to_string()),
            namespace: Some(NODE_LEASE_NAMESPACE.to_string()),
            ..ObjectMeta::default()
        },
        spec: None,
    });
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = Some(node_name.to_string());
    spec.lease_duration_seconds = Some(LEASE_DURATION_SECONDS);
    spec.renew_time = Some(MicroTime(now));
    if let Some(uid) = node_uid {
        let owner = OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: node_name.to_string(),
            uid: uid.to_string(),
            controller: None,
            block_owner_deletion: None,
        };
        let owners = lease.metadata.owner_references.get_or_insert_with(Vec::new);
        if !owners.iter().any(|existing| existing.kind == "Node" && existing.uid == uid) {
            owners.retain(|existing| existing.kind != "Node");
            owners.push(owner);
        }
    }
    lease
}

// ---------------------------------------------------------------------------------------------------------------
// Pod addresses.
// ---------------------------------------------------------------------------------------------------------------

/// One node's pod addresses, handed out round-robin like CNI host-local IPAM (so a freed address is not reused at
/// once) from `.2` on (`.0` is the network, `.1` the bridge gateway, the last IPv4 address the broadcast). An
/// address is held from the pod's start until it finishes or goes.
#[derive(Debug, Default)]
struct PodAddresses {
    by_pod: HashMap<String, Vec<IpAddr>>,
    in_use: HashSet<IpAddr>,
    next_offset: HashMap<IpNet, u128>,
}

impl PodAddresses {
    /// The addresses of pod `uid`: the ones it holds, else one from each range; `None` when a range is full.
    fn allocate(&mut self, uid: &str, ranges: &[IpNet]) -> Option<Vec<IpAddr>> {
        if let Some(held) = self.by_pod.get(uid) {
            return Some(held.clone());
        }
        let mut picked = Vec::with_capacity(ranges.len());
        for range in ranges {
            picked.push(self.next_free(*range)?);
        }
        self.in_use.extend(picked.iter().copied());
        self.by_pod.insert(uid.to_string(), picked.clone());
        Some(picked)
    }

    /// Records addresses a pod already reports (a restarted simulator, a node taken over).
    fn adopt(&mut self, uid: &str, addresses: Vec<IpAddr>) {
        if addresses.is_empty() || self.by_pod.contains_key(uid) {
            return;
        }
        self.in_use.extend(addresses.iter().copied());
        self.by_pod.insert(uid.to_string(), addresses);
    }

    fn release(&mut self, uid: &str) {
        if let Some(addresses) = self.by_pod.remove(uid) {
            for address in addresses {
                self.in_use.remove(&address);
            }
        }
    }

    fn next_free(&mut self, range: IpNet) -> Option<IpAddr> {
        let (first, last) = usable_offsets(range)?;
        let size = last - first + 1;
        let start = self.next_offset.get(&range).copied().unwrap_or(first).clamp(first, last);
        // Among `in_use + 1` consecutive candidates one is free unless the whole range is taken.
        let attempts = size.min(self.in_use.len() as u128 + 1);
        for step in 0..attempts {
            let offset = first + (start - first + step) % size;
            let address = address_at(range, offset);
            if !self.in_use.contains(&address) {
                self.next_offset.insert(range, if offset == last { first } else { offset + 1 });
                return Some(address);
            }
        }
        None
    }
}

/// The first and last host offsets pods may use in `range` (IPv6 ranges are used up to a /64's worth).
fn usable_offsets(range: IpNet) -> Option<(u128, u128)> {
    let (host_bits, last_reserved) = match range {
        IpNet::V4(net) => (32 - u32::from(net.prefix_len()), 1),
        IpNet::V6(net) => ((128 - u32::from(net.prefix_len())).min(64), 0),
    };
    let size = 1u128 << host_bits;
    (size >= 4).then(|| (2, size - 1 - last_reserved))
}

fn address_at(range: IpNet, offset: u128) -> IpAddr {
    match range {
        IpNet::V4(net) => IpAddr::V4(Ipv4Addr::from(u32::from(net.network()).wrapping_add(offset as u32))),
        IpNet::V6(net) => IpAddr::V6(Ipv6Addr::from(u128::from(net.network()).wrapping_add(offset))),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Pods: what the kubelet reports next.
// ---------------------------------------------------------------------------------------------------------------

/// What a pod on a simulated node needs next.
#[derive(Debug, Clone, PartialEq)]
enum PodWork {
    /// Nothing until the pod changes.
    Idle,
    /// Look again at this time (a Job pod's containers exit then).
    WakeAt(Timestamp),
    /// Report the containers running; needs the pod's addresses (`running_status`).
    ReportRunning,
    /// Write this status: the containers of a Job pod exited.
    WriteStatus(PodStatus),
    /// Write this status: the containers of a Job pod exited and start again (restartPolicy OnFailure).
    Restart(PodStatus),
    /// The pod is being deleted: write its final status first when given (others will still read it: finalizers
    /// hold the pod), then delete it with a zero grace period.
    Finish { final_status: Option<PodStatus> },
}

/// How the containers of a pod ended.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ending {
    /// They exited by themselves with this code.
    Exited(i32),
    /// They were stopped because the pod is being deleted.
    Stopped,
}

/// Exit code of a container that dies of the SIGTERM sent when its pod is deleted.
const SIGTERM_EXIT_CODE: i32 = 143;
/// Exit code and reason the kubelet reports for a container that never ran when its pod ended.
const UNKNOWN_EXIT_CODE: i32 = 137;

fn is_terminal(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|status| status.phase.as_deref()), Some("Succeeded" | "Failed"))
}

fn uses_host_network(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|spec| spec.host_network).unwrap_or(false)
}

/// A pod whose containers run to completion in the simulation: owned by a Job and not restarted when they exit 0.
fn runs_to_completion(pod: &Pod) -> bool {
    let restart_policy = pod.spec.as_ref().and_then(|spec| spec.restart_policy.as_deref());
    let owned_by_job = pod.metadata.owner_references.iter().flatten().any(|owner| owner.kind == "Job");
    owned_by_job && matches!(restart_policy, Some("Never" | "OnFailure"))
}

/// The exit code the annotation asks for; absent or not a number means success.
fn requested_exit_code(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(EXIT_CODE_ANNOTATION))
        .and_then(|code| code.trim().parse().ok())
        .unwrap_or(0)
}

fn container_statuses(pod: &Pod) -> &[ContainerStatus] {
    pod.status.as_ref().and_then(|status| status.container_statuses.as_deref()).unwrap_or_default()
}

fn running_since(status: &ContainerStatus) -> Option<Timestamp> {
    status.state.as_ref()?.running.as_ref()?.started_at.as_ref().map(|time| time.0)
}

/// When the containers of a running pod (last) started.
fn run_started_at(pod: &Pod) -> Option<Timestamp> {
    let latest = container_statuses(pod).iter().filter_map(running_since).max();
    latest.or_else(|| pod.status.as_ref()?.start_time.as_ref().map(|time| time.0))
}

/// What the pod on a simulated node needs next at `now`. `started_at` is when this simulator last started the
/// pod's containers, if it did: the API keeps `startedAt` in whole seconds, which would cut run times short.
fn pod_work(pod: &Pod, job_pod_run_time: Duration, started_at: Option<Timestamp>, now: Timestamp) -> PodWork {
    if pod.metadata.deletion_timestamp.is_some() {
        let held = pod.metadata.finalizers.as_ref().is_some_and(|finalizers| !finalizers.is_empty());
        let final_status = (held && !is_terminal(pod)).then(|| terminal_status(pod, Ending::Stopped, now));
        return PodWork::Finish { final_status };
    }
    if is_terminal(pod) {
        return PodWork::Idle;
    }
    let phase = pod.status.as_ref().and_then(|status| status.phase.as_deref());
    if phase != Some("Running") {
        return PodWork::ReportRunning;
    }
    if runs_to_completion(pod) {
        let run_time = SignedDuration::try_from(job_pod_run_time).unwrap_or(SignedDuration::MAX);
        let started_at = run_started_at(pod).max(started_at).unwrap_or(now);
        let exits_at = started_at.saturating_add(run_time).unwrap_or(Timestamp::MAX);
        if exits_at <= now {
            let code = requested_exit_code(pod);
            let restart_policy = pod.spec.as_ref().and_then(|spec| spec.restart_policy.as_deref());
            if code != 0 && restart_policy == Some("OnFailure") {
                return PodWork::Restart(restarted_status(pod, code, now));
            }
            return PodWork::WriteStatus(terminal_status(pod, Ending::Exited(code), now));
        }
        if running_report_stale(pod) {
            return PodWork::ReportRunning;
        }
        return PodWork::WakeAt(exits_at);
    }
    if running_report_stale(pod) {
        PodWork::ReportRunning
    } else {
        PodWork::Idle
    }
}

/// A running pod whose status no longer says what the kubelet reports (the node lifecycle controller marked it not
/// ready while the node was silent, a readiness gate changed, a container is missing): the kubelet's status
/// manager writes it again.
fn running_report_stale(pod: &Pod) -> bool {
    let wanted = running_conditions(pod, Timestamp::UNIX_EPOCH);
    let conditions = pod.status.as_ref().and_then(|status| status.conditions.as_deref()).unwrap_or_default();
    let conditions_differ = wanted
        .iter()
        .any(|want| !conditions.iter().any(|have| have.type_ == want.type_ && have.status == want.status && have.reason == want.reason));
    let containers = pod.spec.as_ref().map(|spec| spec.containers.as_slice()).unwrap_or_default();
    let statuses = container_statuses(pod);
    let container_missing = containers
        .iter()
        .any(|container| !statuses.iter().any(|status| status.name == container.name && status.ready && running_since(status).is_some()));
    conditions_differ || container_missing
}

fn condition(type_: &str, status: bool, reason: Option<&str>, message: Option<String>, generation: Option<i64>) -> PodCondition {
    PodCondition {
        type_: type_.to_string(),
        status: if status { "True" } else { "False" }.to_string(),
        reason: reason.map(str::to_string),
        message,
        observed_generation: generation,
        last_probe_time: None,
        last_transition_time: None,
    }
}

/// The kubelet-owned conditions of a running pod, transition times carried over from the pod where the status
/// did not change. Ready also needs every readiness gate's condition True.
fn running_conditions(pod: &Pod, now: Timestamp) -> Vec<PodCondition> {
    let generation = pod.metadata.generation;
    let existing = pod.status.as_ref().and_then(|status| status.conditions.as_deref()).unwrap_or_default();
    let gates = pod.spec.as_ref().and_then(|spec| spec.readiness_gates.as_deref()).unwrap_or_default();
    let unready_gates: Vec<String> = gates
        .iter()
        .filter_map(|gate| match existing.iter().find(|condition| condition.type_ == gate.condition_type) {
            None => Some(format!("corresponding condition of pod readiness gate \"{}\" does not exist.", gate.condition_type)),
            Some(condition) if condition.status != "True" => {
                Some(format!("the status of pod readiness gate \"{}\" is not \"True\", but {}", gate.condition_type, condition.status))
            }
            Some(_) => None,
        })
        .collect();
    let ready = if unready_gates.is_empty() {
        condition("Ready", true, None, None, generation)
    } else {
        condition("Ready", false, Some("ReadinessGatesNotReady"), Some(unready_gates.join(", ")), generation)
    };
    let mut conditions = vec![
        condition("PodReadyToStartContainers", true, None, None, generation),
        condition("Initialized", true, None, None, generation),
        ready,
        condition("ContainersReady", true, None, None, generation),
    ];
    // A pod created with `spec.nodeName` never went through a scheduler; the kubelet reports it scheduled.
    if !existing.iter().any(|condition| condition.type_ == "PodScheduled") {
        conditions.push(condition("PodScheduled", true, None, None, generation));
    }
    with_transition_times(conditions, existing, now)
}

fn with_transition_times(mut conditions: Vec<PodCondition>, existing: &[PodCondition], now: Timestamp) -> Vec<PodCondition> {
    for condition in &mut conditions {
        let unchanged = existing.iter().find(|have| have.type_ == condition.type_ && have.status == condition.status);
        condition.last_transition_time = Some(unchanged.and_then(|have| have.last_transition_time.clone()).unwrap_or(Time(now)));
    }
    conditions
}

fn container_id(pod_uid: &str, container: &str, restart_count: i32) -> String {
    format!("{CONTAINER_ID_SCHEME}{}", digest_hex(&[pod_uid, container, &restart_count.to_string()]))
}

/// A digest reference for the image, as the runtime reports `imageID` (`repo@sha256:…`).
fn image_id(image: &str) -> String {
    if image.contains('@') {
        return image.to_string();
    }
    let name_start = image.rfind('/').map_or(0, |slash| slash + 1);
    let repository = match image[name_start..].find(':') {
        Some(colon) => &image[..name_start + colon],
        None => image,
    };
    format!("{repository}@sha256:{}", digest_hex(&["image", image]))
}

fn is_sidecar(container: &Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

/// A container status in the running state, kept as it is when the container already runs.
fn running_container_status(pod: &Pod, container: &Container, existing: Option<&ContainerStatus>, now: Timestamp) -> ContainerStatus {
    if let Some(status) =
        existing.filter(|status| running_since(status).is_some() && status.image == container.image.clone().unwrap_or_default())
    {
        return ContainerStatus { ready: true, started: Some(true), ..status.clone() };
    }
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let image = container.image.clone().unwrap_or_default();
    let restart_count = existing.map_or(0, |status| status.restart_count);
    let id = container_id(uid, &container.name, restart_count);
    ContainerStatus {
        name: container.name.clone(),
        image_id: image_id(&image),
        image,
        container_id: Some(id),
        ready: true,
        started: Some(true),
        restart_count,
        state: Some(ContainerState { running: Some(ContainerStateRunning { started_at: Some(Time(now)) }), ..ContainerState::default() }),
        ..ContainerStatus::default()
    }
}

/// The status of a pod whose containers run (init containers done, sidecars running), with the node address as
/// host IP and `pod_ips` as the pod's own addresses.
fn running_status(pod: &Pod, host_ip: IpAddr, pod_ips: &[IpAddr], now: Timestamp) -> PodStatus {
    let existing = pod.status.clone().unwrap_or_default();
    let start_time = existing.start_time.clone().unwrap_or(Time(now));
    let empty = Vec::new();
    let (containers, init_containers) =
        pod.spec.as_ref().map_or((&empty, &empty), |spec| (&spec.containers, spec.init_containers.as_ref().unwrap_or(&empty)));
    let find = |statuses: &Option<Vec<ContainerStatus>>, name: &str| -> Option<ContainerStatus> {
        statuses.iter().flatten().find(|status| status.name == name).cloned()
    };
    let init_statuses: Vec<ContainerStatus> = init_containers
        .iter()
        .map(|container| {
            let previous = find(&existing.init_container_statuses, &container.name);
            if is_sidecar(container) {
                return running_container_status(pod, container, previous.as_ref(), now);
            }
            let mut status = running_container_status(pod, container, None, now);
            let terminated = ContainerStateTerminated {
                exit_code: 0,
                reason: Some("Completed".into()),
                started_at: Some(start_time.clone()),
                finished_at: Some(start_time.clone()),
                container_id: status.container_id.clone(),
                ..ContainerStateTerminated::default()
            };
            status.state = Some(ContainerState { terminated: Some(terminated), ..ContainerState::default() });
            status.started = Some(false);
            status
        })
        .collect();
    let statuses: Vec<ContainerStatus> = containers
        .iter()
        .map(|container| running_container_status(pod, container, find(&existing.container_statuses, &container.name).as_ref(), now))
        .collect();
    let (pod_ip, pod_ips) = match pod_ips.first() {
        Some(first) => (Some(first.to_string()), Some(pod_ips.iter().map(|ip| PodIP { ip: ip.to_string() }).collect())),
        None => (None, None),
    };
    PodStatus {
        phase: Some("Running".into()),
        conditions: Some(running_conditions(pod, now)),
        host_ip: Some(host_ip.to_string()),
        host_ips: Some(vec![HostIP { ip: host_ip.to_string() }]),
        pod_ip,
        pod_ips,
        start_time: Some(start_time),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(statuses),
        observed_generation: pod.metadata.generation,
        ..PodStatus::default()
    }
}

/// The status of a container that ended at `now`: exited by itself, or stopped with its pod (dying of SIGTERM if
/// it ran, unknown if it never did).
fn ended_container(container: &Container, existing: Option<&ContainerStatus>, ending: Ending, now: Timestamp) -> ContainerStatus {
    let started_at = existing.and_then(running_since);
    let (exit_code, reason, message) = match (ending, started_at) {
        (Ending::Exited(code), _) => (code, if code == 0 { "Completed" } else { "Error" }, None),
        (Ending::Stopped, Some(_)) => (SIGTERM_EXIT_CODE, "Error", None),
        (Ending::Stopped, None) => (
            UNKNOWN_EXIT_CODE,
            "ContainerStatusUnknown",
            Some("The container could not be located when the pod was terminated".to_string()),
        ),
    };
    let image = existing.map_or_else(|| container.image.clone().unwrap_or_default(), |status| status.image.clone());
    let terminated = ContainerStateTerminated {
        exit_code,
        reason: Some(reason.to_string()),
        message,
        started_at: started_at.map(Time),
        finished_at: Some(Time(now)),
        container_id: existing.and_then(|status| status.container_id.clone()),
        ..ContainerStateTerminated::default()
    };
    ContainerStatus {
        name: container.name.clone(),
        image_id: existing.map_or_else(|| image_id(&image), |status| status.image_id.clone()),
        image,
        container_id: existing.and_then(|status| status.container_id.clone()),
        ready: false,
        started: Some(false),
        restart_count: existing.map_or(0, |status| status.restart_count),
        state: Some(ContainerState { terminated: Some(terminated), ..ContainerState::default() }),
        last_state: existing.and_then(|status| status.last_state.clone()),
        ..ContainerStatus::default()
    }
}

/// The init container statuses once the pod's containers ended: sidecars are stopped after the main containers
/// (cleanly when those exited by themselves), finished init containers stay as they were.
fn ended_init_containers(pod: &Pod, ending: Ending, now: Timestamp) -> Option<Vec<ContainerStatus>> {
    let init_containers = pod.spec.as_ref()?.init_containers.as_ref().filter(|containers| !containers.is_empty())?;
    let existing = pod.status.as_ref().and_then(|status| status.init_container_statuses.as_deref()).unwrap_or_default();
    let statuses = init_containers
        .iter()
        .map(|container| {
            let status = existing.iter().find(|status| status.name == container.name);
            match status {
                Some(status) if !is_sidecar(container) && running_since(status).is_none() => status.clone(),
                _ => {
                    let sidecar_ending = if matches!(ending, Ending::Exited(_)) { Ending::Exited(0) } else { ending };
                    ended_container(container, status, if is_sidecar(container) { sidecar_ending } else { ending }, now)
                }
            }
        })
        .collect();
    Some(statuses)
}

/// The status of a pod whose containers all ended: phase Succeeded when every one exited 0, else Failed, with the
/// kubelet's terminal conditions (sandbox gone, not ready with reason PodCompleted or PodFailed).
fn terminal_status(pod: &Pod, ending: Ending, now: Timestamp) -> PodStatus {
    let generation = pod.metadata.generation;
    let statuses: Vec<ContainerStatus> = pod
        .spec
        .iter()
        .flat_map(|spec| &spec.containers)
        .map(|container| {
            let existing = container_statuses(pod).iter().find(|status| status.name == container.name);
            ended_container(container, existing, ending, now)
        })
        .collect();
    // Sidecars do not count: the pod succeeded when every main container exited 0.
    let succeeded = statuses
        .iter()
        .all(|status| status.state.as_ref().and_then(|state| state.terminated.as_ref()).is_some_and(|exit| exit.exit_code == 0));
    let reason = if succeeded { "PodCompleted" } else { "PodFailed" };
    let conditions = vec![
        condition("PodReadyToStartContainers", false, None, None, generation),
        condition("Initialized", true, succeeded.then_some("PodCompleted"), None, generation),
        condition("Ready", false, Some(reason), None, generation),
        condition("ContainersReady", false, Some(reason), None, generation),
    ];
    let existing = pod.status.as_ref().and_then(|status| status.conditions.as_deref()).unwrap_or_default();
    PodStatus {
        phase: Some(if succeeded { "Succeeded" } else { "Failed" }.into()),
        conditions: Some(with_transition_times(conditions, existing, now)),
        init_container_statuses: ended_init_containers(pod, ending, now),
        container_statuses: Some(statuses),
        observed_generation: generation,
        ..PodStatus::default()
    }
}

/// The containers of a Job pod with restartPolicy OnFailure exited with `exit_code`: the kubelet starts them
/// again, counting the restart and keeping the exit as `lastState` (the crash-loop back-off is left out so that
/// a Job reaches its backoffLimit in seconds).
fn restarted_status(pod: &Pod, exit_code: i32, now: Timestamp) -> PodStatus {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let statuses = container_statuses(pod)
        .iter()
        .map(|status| {
            let restart_count = status.restart_count + 1;
            let exited = ContainerStateTerminated {
                exit_code,
                reason: Some("Error".into()),
                started_at: running_since(status).map(Time),
                finished_at: Some(Time(now)),
                container_id: status.container_id.clone(),
                ..ContainerStateTerminated::default()
            };
            ContainerStatus {
                container_id: Some(container_id(uid, &status.name, restart_count)),
                restart_count,
                ready: true,
                started: Some(true),
                last_state: Some(ContainerState { terminated: Some(exited), ..ContainerState::default() }),
                state: Some(ContainerState {
                    running: Some(ContainerStateRunning { started_at: Some(Time(now)) }),
                    ..ContainerState::default()
                }),
                ..status.clone()
            }
        })
        .collect();
    PodStatus { container_statuses: Some(statuses), ..PodStatus::default() }
}

// ---------------------------------------------------------------------------------------------------------------
// The glue: shared state, requests, registration and heartbeats.
// ---------------------------------------------------------------------------------------------------------------

/// State shared by the node loops, the node watch and the pod loop.
struct Shared {
    client: kube::Client,
    config: SimulateConfig,
    /// Bounds requests in flight across all nodes and pods.
    requests: Semaphore,
    nodes: Vec<NodeEntry>,
    index_by_name: HashMap<String, usize>,
    registered: AtomicUsize,
}

struct NodeEntry {
    name: String,
    facts: Mutex<NodeFacts>,
    /// Wakes the node's loop to post its status now.
    status_stale: Notify,
}

/// What is known about one node's object.
#[derive(Default)]
struct NodeFacts {
    uid: Option<String>,
    spec: Option<NodeSpec>,
    /// The latest status seen (from the watch or a write's response), for transition times.
    status: Option<NodeStatus>,
    resource_version: Option<String>,
    seen_by_watch: bool,
    /// The Node object was deleted: the simulated kubelet stops, as a real one cannot post for a missing node.
    gone: bool,
}

impl Shared {
    fn new(client: kube::Client, config: SimulateConfig) -> Self {
        let nodes: Vec<NodeEntry> = (0..config.count)
            .map(|index| NodeEntry { name: config.node_name(index), facts: Mutex::default(), status_stale: Notify::new() })
            .collect();
        let index_by_name = nodes.iter().enumerate().map(|(index, node)| (node.name.clone(), index)).collect();
        Shared { client, config, requests: Semaphore::new(REQUESTS_IN_FLIGHT_MAX), nodes, index_by_name, registered: AtomicUsize::new(0) }
    }

    async fn request_slot(&self) -> SemaphorePermit<'_> {
        self.requests.acquire().await.expect("the request semaphore is never closed")
    }

    fn facts(&self, index: usize) -> MutexGuard<'_, NodeFacts> {
        self.nodes[index].facts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a newer copy of the node's object; tells whether its status drifted from what the kubelet posts.
    fn observe_node(&self, index: usize, node: &Node) -> bool {
        let mut facts = self.facts(index);
        if !is_newer_or_same(node.metadata.resource_version.as_deref(), facts.resource_version.as_deref()) {
            return false;
        }
        facts.uid = node.metadata.uid.clone();
        facts.spec = node.spec.clone();
        facts.status = node.status.clone();
        facts.resource_version = node.metadata.resource_version.clone();
        let wanted = node_status(&self.config, index, None, Timestamp::now());
        node.status.as_ref().is_none_or(|observed| status_drifted(&wanted, observed))
    }

    fn is_gone(&self, index: usize) -> bool {
        self.facts(index).gone
    }
}

/// Resource versions are opaque, but ferrokube's (like etcd's) are increasing integers: one that parses lower is
/// an older copy (a watch event that crossed a write's response). Unparsable versions always count as newer.
fn is_newer_or_same(candidate: Option<&str>, known: Option<&str>) -> bool {
    match (candidate.and_then(|version| version.parse::<u64>().ok()), known.and_then(|version| version.parse::<u64>().ok())) {
        (Some(candidate), Some(known)) => candidate >= known,
        _ => true,
    }
}

/// Worth trying again: conflicts, throttling, server errors and transport failures.
fn is_retriable(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 408 | 409 | 429 | 500..=599),
        _ => true,
    }
}

fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.is_not_found())
}

/// Doubling delays from `first`, capped at `max`.
fn retry_delay(failures: u32, first: Duration, max: Duration) -> Duration {
    first.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1))).min(max)
}

fn jittered(interval: Duration, jitter: f64) -> Duration {
    interval.mul_f64(1.0 + jitter * rand::random::<f64>())
}

/// Creates the node, or takes over an existing one of the same name (adding the kubelet's labels and the
/// simulation marker), then posts its status. Retries what is worth retrying with the kubelet's back-off.
async fn register(shared: &Shared, index: usize) -> Result<Node, ControlError> {
    let mut failures = 0;
    loop {
        match try_register(shared, index).await {
            Ok(node) => return Ok(node),
            // Not found: the node was deleted between its creation and its status; it is created again.
            Err(error) if is_retriable(&error) || is_not_found(&error) => {
                failures += 1;
                tracing::debug!(node = %shared.nodes[index].name, %error, failures, "node registration failed; retrying");
                tokio::time::sleep(retry_delay(failures, RETRY_DELAY_FIRST, RETRY_DELAY_MAX)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

async fn try_register(shared: &Shared, index: usize) -> Result<Node, kube::Error> {
    let nodes: Api<Node> = Api::all(shared.client.clone());
    let desired = node_object(&shared.config, index);
    let name = &shared.nodes[index].name;
    let created = {
        let _slot = shared.request_slot().await;
        nodes.create(&PostParams::default(), &desired).await
    };
    let node = match created {
        Ok(node) => node,
        Err(kube::Error::Api(status)) if status.is_already_exists() => {
            let existing = {
                let _slot = shared.request_slot().await;
                nodes.get(name).await?
            };
            let has = |have: &Option<BTreeMap<String, String>>, want: &Option<BTreeMap<String, String>>| {
                want.iter().flatten().all(|(key, value)| have.as_ref().and_then(|have| have.get(key)) == Some(value))
            };
            if has(&existing.metadata.labels, &desired.metadata.labels)
                && has(&existing.metadata.annotations, &desired.metadata.annotations)
            {
                existing
            } else {
                let patch = json!({"metadata": {"labels": desired.metadata.labels, "annotations": desired.metadata.annotations}});
                let _slot = shared.request_slot().await;
                nodes.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?
            }
        }
        Err(error) => return Err(error),
    };
    let status = node_status(&shared.config, index, node.status.as_ref(), Timestamp::now());
    let _slot = shared.request_slot().await;
    nodes.patch_status(name, &PatchParams::default(), &Patch::Strategic(json!({"status": status}))).await
}

/// Posts the node's status (transition times kept from the latest copy seen).
async fn post_node_status(shared: &Shared, index: usize) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(shared.client.clone());
    let previous = shared.facts(index).status.clone();
    let status = node_status(&shared.config, index, previous.as_ref(), Timestamp::now());
    let node = {
        let _slot = shared.request_slot().await;
        nodes.patch_status(&shared.nodes[index].name, &PatchParams::default(), &Patch::Strategic(json!({"status": status}))).await?
    };
    shared.observe_node(index, &node);
    Ok(())
}

/// Renews the node's Lease: an update of the copy held (a compare-and-swap on its resourceVersion), else a read,
/// else a create. On failure the caller drops its copy, so the next try starts from a fresh read.
async fn renew_lease(shared: &Shared, index: usize, held: Option<Lease>) -> Result<Lease, kube::Error> {
    let leases: Api<Lease> = Api::namespaced(shared.client.clone(), NODE_LEASE_NAMESPACE);
    let name = &shared.nodes[index].name;
    let node_uid = shared.facts(index).uid.clone();
    let current = match held {
        Some(lease) => Some(lease),
        None => {
            let _slot = shared.request_slot().await;
            leases.get_opt(name).await?
        }
    };
    let exists = current.is_some();
    let lease = renewed_lease(current, name, node_uid.as_deref(), Timestamp::now());
    let _slot = shared.request_slot().await;
    if exists {
        leases.replace(name, &PostParams::default(), &lease).await
    } else {
        leases.create(&PostParams::default(), &lease).await
    }
}

/// One simulated node's kubelet: registration, then Lease renewals and status reports until the node is deleted.
async fn simulate_node(shared: Arc<Shared>, index: usize) -> Result<(), ControlError> {
    let entry = &shared.nodes[index];
    let node = register(&shared, index).await?;
    shared.observe_node(index, &node);
    // A watch event from before the status was posted may have flagged it stale; the status just posted is newer.
    let _ = entry.status_stale.notified().now_or_never();
    let registered = shared.registered.fetch_add(1, Ordering::Relaxed) + 1;
    tracing::debug!(node = %entry.name, registered, "simulated node registered");
    if registered == shared.nodes.len() {
        tracing::info!(nodes = registered, "all simulated nodes registered");
    }

    let mut lease = None;
    let mut lease_failures = 0;
    let mut status_failures = 0;
    // The first Lease is written at once; the renewal after it lands anywhere in the first interval, which spreads
    // the renewals of nodes registered together evenly over the interval.
    let mut next_lease = Instant::now();
    let mut next_status = Instant::now() + STATUS_REPORT_INTERVAL.mul_f64(0.9 + 0.1 * rand::random::<f64>());
    let mut first_lease = true;
    loop {
        if shared.is_gone(index) {
            tracing::info!(node = %entry.name, "simulated node was deleted; no longer simulating it");
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep_until(next_lease) => match renew_lease(&shared, index, lease.take()).await {
                Ok(renewed) => {
                    lease = Some(renewed);
                    lease_failures = 0;
                    next_lease = Instant::now() + if first_lease {
                        LEASE_RENEW_INTERVAL.mul_f64(rand::random::<f64>())
                    } else {
                        jittered(LEASE_RENEW_INTERVAL, LEASE_RENEW_JITTER)
                    };
                    first_lease = false;
                }
                Err(error) => {
                    lease_failures += 1;
                    tracing::debug!(node = %entry.name, %error, failures = lease_failures, "lease renewal failed");
                    next_lease = Instant::now() + retry_delay(lease_failures, RETRY_DELAY_FIRST, RETRY_DELAY_MAX);
                }
            },
            () = tokio::time::sleep_until(next_status) => match post_node_status(&shared, index).await {
                Ok(()) => {
                    status_failures = 0;
                    next_status = Instant::now() + STATUS_REPORT_INTERVAL.mul_f64(0.9 + 0.1 * rand::random::<f64>());
                }
                Err(error) if is_not_found(&error) => shared.facts(index).gone = true,
                Err(error) => {
                    status_failures += 1;
                    tracing::debug!(node = %entry.name, %error, failures = status_failures, "node status update failed");
                    next_status = Instant::now() + retry_delay(status_failures, RETRY_DELAY_FIRST, RETRY_DELAY_MAX);
                }
            },
            () = entry.status_stale.notified() => next_status = Instant::now(),
        }
    }
}

/// Watches Nodes for the simulated ones: their `spec.podCIDR` (set by the node IPAM controller), status changes by
/// others (answered by posting the status again) and deletion.
async fn watch_nodes(shared: Arc<Shared>) {
    let nodes: Api<Node> = Api::all(shared.client.clone());
    let mut events = watcher(nodes, watcher::Config::default())
        .default_backoff()
        .modify(|node: &mut Node| {
            node.metadata.managed_fields = None;
            if let Some(status) = node.status.as_mut() {
                status.images = None;
            }
        })
        .boxed();
    let mut listed: HashSet<usize> = HashSet::new();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => listed.clear(),
            Ok(watcher::Event::InitApply(node)) => {
                if let Some(index) = observe_watched_node(&shared, &node) {
                    listed.insert(index);
                }
            }
            Ok(watcher::Event::Apply(node)) => {
                observe_watched_node(&shared, &node);
            }
            Ok(watcher::Event::Delete(node)) => {
                if let Some(&index) = node.metadata.name.as_ref().and_then(|name| shared.index_by_name.get(name)) {
                    mark_gone(&shared, index, node.metadata.uid.as_deref());
                }
            }
            Ok(watcher::Event::InitDone) => {
                // Nodes seen before but missing from a fresh list were deleted while the watch was down. Nodes never
                // seen may simply have been created after the list was taken.
                for index in 0..shared.nodes.len() {
                    let seen = shared.facts(index).seen_by_watch;
                    if seen && !listed.contains(&index) {
                        mark_gone(&shared, index, None);
                    }
                }
            }
            Err(error) => tracing::debug!(%error, "node watch failed; retrying"),
        }
    }
}

fn observe_watched_node(shared: &Shared, node: &Node) -> Option<usize> {
    let index = *shared.index_by_name.get(node.metadata.name.as_deref()?)?;
    let drifted = shared.observe_node(index, node);
    shared.facts(index).seen_by_watch = true;
    if drifted {
        shared.nodes[index].status_stale.notify_one();
    }
    Some(index)
}

fn mark_gone(shared: &Shared, index: usize, uid: Option<&str>) {
    let mut facts = shared.facts(index);
    if uid.is_none() || facts.uid.as_deref() == uid {
        facts.gone = true;
        drop(facts);
        shared.nodes[index].status_stale.notify_one();
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The glue: pods.
// ---------------------------------------------------------------------------------------------------------------

/// Pod keys (`namespace/name`) due for a look, each once, at its earliest time.
#[derive(Debug, Default)]
struct WakeQueue {
    by_time: BTreeSet<(Instant, String)>,
    by_key: HashMap<String, Instant>,
}

impl WakeQueue {
    fn schedule(&mut self, key: &str, at: Instant) {
        if let Some(&scheduled) = self.by_key.get(key) {
            if scheduled <= at {
                return;
            }
            self.by_time.remove(&(scheduled, key.to_string()));
        }
        self.by_time.insert((at, key.to_string()));
        self.by_key.insert(key.to_string(), at);
    }

    fn remove(&mut self, key: &str) {
        if let Some(scheduled) = self.by_key.remove(key) {
            self.by_time.remove(&(scheduled, key.to_string()));
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    fn pop_due(&mut self, now: Instant) -> Option<String> {
        let (at, key) = self.by_time.first()?.clone();
        if at > now {
            return None;
        }
        self.by_time.remove(&(at, key.clone()));
        self.by_key.remove(&key);
        Some(key)
    }
}

/// A write for one pod, carried out off the loop.
enum PodWrite {
    Status { pod: Pod, status: PodStatus },
    Finish { pod: Pod, final_status: Option<PodStatus> },
    NoAddress { pod: Pod, node: String, message: String },
}

enum PodWritten {
    Updated(Box<Pod>),
    /// Nothing more to do for this incarnation of the pod: deleted, or replaced by one with another uid.
    Done,
    RetryAfter(Duration),
}

fn pod_key(pod: &Pod) -> String {
    format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or_default(), pod.metadata.name.as_deref().unwrap_or_default())
}

fn pod_ips_of(pod: &Pod) -> Vec<IpAddr> {
    let status = pod.status.as_ref();
    let listed =
        status.and_then(|status| status.pod_ips.as_ref()).map(|ips| ips.iter().filter_map(|ip| ip.ip.parse().ok()).collect::<Vec<_>>());
    listed
        .filter(|ips| !ips.is_empty())
        .unwrap_or_else(|| status.and_then(|status| status.pod_ip.as_ref()).and_then(|ip| ip.parse().ok()).into_iter().collect())
}

/// Follows every pod bound to a simulated node and does what its kubelet would; one write per pod at a time, at
/// most `POD_WRITES_IN_FLIGHT_MAX` at once.
struct PodLoop {
    shared: Arc<Shared>,
    /// The latest copy of each pod on a simulated node, with the index of that node.
    pods: HashMap<String, (usize, Pod)>,
    addresses: HashMap<usize, PodAddresses>,
    queue: WakeQueue,
    in_flight: JoinSet<(String, Result<PodWritten, kube::Error>)>,
    busy: HashSet<String>,
    failures: HashMap<String, u32>,
    /// Pods (uid) whose final delete went out; others' finalizers may hold them, and deleting again changes nothing.
    finished: HashSet<String>,
    /// Pods (uid) already told they could get no address.
    address_warned: HashSet<String>,
    /// Pods that came due while their write was in flight: looked at again as soon as it completes.
    dirty: HashSet<String>,
    /// When this loop last started each pod's (uid) containers, to the nanosecond.
    started_at: HashMap<String, Timestamp>,
    listed: HashSet<String>,
}

impl PodLoop {
    fn new(shared: Arc<Shared>) -> Self {
        PodLoop {
            shared,
            pods: HashMap::new(),
            addresses: HashMap::new(),
            queue: WakeQueue::default(),
            in_flight: JoinSet::new(),
            busy: HashSet::new(),
            failures: HashMap::new(),
            finished: HashSet::new(),
            address_warned: HashSet::new(),
            dirty: HashSet::new(),
            started_at: HashMap::new(),
            listed: HashSet::new(),
        }
    }

    async fn run(mut self) {
        let pods: Api<Pod> = Api::all(self.shared.client.clone());
        let mut events =
            watcher(pods, watcher::Config::default()).default_backoff().modify(|pod: &mut Pod| pod.metadata.managed_fields = None).boxed();
        loop {
            let next_due = self.queue.next_due();
            let can_start = self.in_flight.len() < POD_WRITES_IN_FLIGHT_MAX;
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) => self.on_event(event),
                    Some(Err(error)) => tracing::debug!(%error, "pod watch failed; retrying"),
                    None => return,
                },
                Some(done) = self.in_flight.join_next(), if !self.in_flight.is_empty() => match done {
                    Ok((key, result)) => self.on_written(key, result),
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Err(_) => {}
                },
                () = sleep_until_some(next_due), if can_start && next_due.is_some() => self.start_due(),
            }
        }
    }

    fn on_event(&mut self, event: watcher::Event<Pod>) {
        match event {
            watcher::Event::Init => self.listed.clear(),
            watcher::Event::InitApply(pod) => {
                let key = pod_key(&pod);
                self.observe(pod);
                if self.pods.contains_key(&key) {
                    self.listed.insert(key);
                }
            }
            watcher::Event::Apply(pod) => self.observe(pod),
            watcher::Event::Delete(pod) => self.forget(&pod_key(&pod)),
            watcher::Event::InitDone => {
                let vanished: Vec<String> = self.pods.keys().filter(|key| !self.listed.contains(*key)).cloned().collect();
                for key in vanished {
                    self.forget(&key);
                }
                self.listed.clear();
            }
        }
    }

    /// Takes in a newer copy of a pod: keeps it if it is on a simulated node, and looks at it soon.
    fn observe(&mut self, pod: Pod) {
        let key = pod_key(&pod);
        let node_index =
            pod.spec.as_ref().and_then(|spec| spec.node_name.as_ref()).and_then(|node| self.shared.index_by_name.get(node)).copied();
        let Some(node_index) = node_index.filter(|&index| !self.shared.is_gone(index)) else {
            if self.pods.contains_key(&key) {
                self.forget(&key);
            }
            return;
        };
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if let Some((_, known)) = self.pods.get(&key) {
            if known.metadata.uid.as_deref() != Some(uid.as_str()) {
                self.forget(&key);
            } else if !is_newer_or_same(pod.metadata.resource_version.as_deref(), known.metadata.resource_version.as_deref()) {
                return;
            }
        }
        let addresses = self.addresses.entry(node_index).or_default();
        if is_terminal(&pod) {
            addresses.release(&uid);
        } else if !uses_host_network(&pod) {
            addresses.adopt(&uid, pod_ips_of(&pod));
        }
        self.pods.insert(key.clone(), (node_index, pod));
        self.queue.schedule(&key, Instant::now());
    }

    fn forget(&mut self, key: &str) {
        if let Some((node_index, pod)) = self.pods.remove(key) {
            let uid = pod.metadata.uid.unwrap_or_default();
            if let Some(addresses) = self.addresses.get_mut(&node_index) {
                addresses.release(&uid);
            }
            self.finished.remove(&uid);
            self.address_warned.remove(&uid);
            self.started_at.remove(&uid);
        }
        self.queue.remove(key);
        self.failures.remove(key);
        self.dirty.remove(key);
    }

    fn start_due(&mut self) {
        let now = Instant::now();
        while self.in_flight.len() < POD_WRITES_IN_FLIGHT_MAX {
            let Some(key) = self.queue.pop_due(now) else { return };
            if self.busy.contains(&key) {
                self.dirty.insert(key);
                continue;
            }
            if let Some(write) = self.next_write(&key) {
                self.busy.insert(key.clone());
                let shared = self.shared.clone();
                self.in_flight.spawn(async move {
                    let result = carry_out(&shared, write).await;
                    (key, result)
                });
            }
        }
    }

    /// Decides what the pod needs; schedules a later look or returns the write to make now.
    fn next_write(&mut self, key: &str) -> Option<PodWrite> {
        let (node_index, pod) = self.pods.get(key)?;
        let node_index = *node_index;
        if self.shared.is_gone(node_index) {
            return None;
        }
        let now = Timestamp::now();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        match pod_work(pod, self.shared.config.job_pod_run_time, self.started_at.get(&uid).copied(), now) {
            PodWork::Idle => None,
            PodWork::WakeAt(at) => {
                let delay = Duration::try_from(at.duration_since(now)).unwrap_or_default();
                self.queue.schedule(key, Instant::now() + delay);
                None
            }
            PodWork::WriteStatus(status) => Some(PodWrite::Status { pod: pod.clone(), status }),
            PodWork::Restart(status) => {
                self.started_at.insert(uid, now);
                Some(PodWrite::Status { pod: pod.clone(), status })
            }
            PodWork::Finish { final_status } => {
                (!self.finished.contains(&uid)).then(|| PodWrite::Finish { pod: pod.clone(), final_status })
            }
            PodWork::ReportRunning => {
                let host_ip = IpAddr::V4(node_address(node_index));
                let pod_ips = if uses_host_network(pod) {
                    Some(vec![host_ip])
                } else {
                    let ranges = {
                        let facts = self.shared.facts(node_index);
                        pod_ranges(facts.spec.as_ref(), node_index, self.shared.nodes.len())
                    };
                    let allocated = self.addresses.entry(node_index).or_default().allocate(&uid, &ranges);
                    if allocated.is_none() {
                        let listed: Vec<String> = ranges.iter().map(ToString::to_string).collect();
                        let message = format!(
                            "Failed to create pod sandbox: failed to allocate for range: no IP addresses available in range set: {}",
                            listed.join(",")
                        );
                        let node = self.shared.nodes[node_index].name.clone();
                        if self.address_warned.insert(uid) {
                            return Some(PodWrite::NoAddress { pod: pod.clone(), node, message });
                        }
                        self.queue.schedule(key, Instant::now() + ADDRESS_RETRY_DELAY);
                        return None;
                    }
                    allocated
                };
                let status = running_status(pod, host_ip, pod_ips.as_deref().unwrap_or_default(), now);
                let pod = pod.clone();
                if pod.status.as_ref().and_then(|status| status.phase.as_deref()) != Some("Running") {
                    self.started_at.insert(uid, now);
                }
                Some(PodWrite::Status { pod, status })
            }
        }
    }

    fn on_written(&mut self, key: String, result: Result<PodWritten, kube::Error>) {
        self.busy.remove(&key);
        if self.dirty.remove(&key) {
            self.queue.schedule(&key, Instant::now());
        }
        match result {
            Ok(PodWritten::Updated(pod)) => {
                self.failures.remove(&key);
                // The response is the freshest copy; observing it also looks at the pod again right away.
                if self.pods.get(&key).is_some_and(|(_, known)| known.metadata.uid == pod.metadata.uid) {
                    self.observe(*pod);
                }
            }
            Ok(PodWritten::Done) => {
                self.failures.remove(&key);
                if let Some((_, pod)) = self.pods.get(&key) {
                    self.finished.insert(pod.metadata.uid.clone().unwrap_or_default());
                    self.queue.schedule(&key, Instant::now());
                }
            }
            Ok(PodWritten::RetryAfter(delay)) => self.queue.schedule(&key, Instant::now() + delay),
            Err(error) => {
                let failures = self.failures.entry(key.clone()).or_default();
                *failures += 1;
                tracing::debug!(pod = %key, %error, failures = *failures, "pod write failed; retrying");
                let delay = retry_delay(*failures, RETRY_DELAY_FIRST, POD_RETRY_DELAY_MAX);
                self.queue.schedule(&key, Instant::now() + delay);
            }
        }
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Carries out one pod write. A pod that is gone or was replaced (uid precondition) needs nothing more.
async fn carry_out(shared: &Shared, write: PodWrite) -> Result<PodWritten, kube::Error> {
    let gone_or_replaced = |error: &kube::Error| matches!(error, kube::Error::Api(status) if status.is_not_found() || status.is_conflict());
    match write {
        PodWrite::Status { pod, status } => match patch_pod_status(shared, &pod, &status).await {
            Ok(updated) => Ok(PodWritten::Updated(Box::new(updated))),
            Err(error) if gone_or_replaced(&error) => Ok(PodWritten::Done),
            Err(error) => Err(error),
        },
        PodWrite::Finish { pod, final_status } => {
            if let Some(status) = final_status {
                match patch_pod_status(shared, &pod, &status).await {
                    Ok(_) => {}
                    Err(error) if gone_or_replaced(&error) => return Ok(PodWritten::Done),
                    Err(error) => return Err(error),
                }
            }
            let pods: Api<Pod> = Api::namespaced(shared.client.clone(), pod.metadata.namespace.as_deref().unwrap_or_default());
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
                ..DeleteParams::default()
            };
            let _slot = shared.request_slot().await;
            match pods.delete(pod.metadata.name.as_deref().unwrap_or_default(), &params).await {
                Ok(_) => Ok(PodWritten::Done),
                Err(error) if gone_or_replaced(&error) => Ok(PodWritten::Done),
                Err(error) => Err(error),
            }
        }
        PodWrite::NoAddress { pod, node, message } => {
            tracing::debug!(pod = %pod_key(&pod), %node, "no pod address left on the simulated node");
            let recorder = EventRecorder::new(shared.client.clone(), "kubelet", &node);
            let _slot = shared.request_slot().await;
            recorder.record(&reference_to(&pod), Severity::Warning, "FailedCreatePodSandBox", "CreatePodSandbox", message).await;
            Ok(PodWritten::RetryAfter(ADDRESS_RETRY_DELAY))
        }
    }
}

/// A strategic-merge patch of `pods/<name>/status` carrying the pod's uid, as the kubelet's status manager sends
/// it, so that a newer pod of the same name is never written.
async fn patch_pod_status(shared: &Shared, pod: &Pod, status: &PodStatus) -> Result<Pod, kube::Error> {
    let pods: Api<Pod> = Api::namespaced(shared.client.clone(), pod.metadata.namespace.as_deref().unwrap_or_default());
    let patch = json!({"metadata": {"uid": pod.metadata.uid}, "status": status});
    let _slot = shared.request_slot().await;
    pods.patch_status(pod.metadata.name.as_deref().unwrap_or_default(), &PatchParams::default(), &Patch::Strategic(&patch)).await
}

/// Runs `config.count` simulated nodes against the cluster `client` talks to, until the returned future is
/// dropped. Fails only when the API server refuses a node outright (forbidden, invalid); everything else is
/// retried.
pub async fn run(client: kube::Client, config: SimulateConfig) -> Result<(), ControlError> {
    let shared = Arc::new(Shared::new(client, config));
    tracing::info!(nodes = shared.nodes.len(), prefix = %shared.config.name_prefix, "starting simulated nodes");
    let mut node_loops = JoinSet::new();
    for index in 0..shared.nodes.len() {
        node_loops.spawn(simulate_node(shared.clone(), index));
    }
    let pods = PodLoop::new(shared.clone()).run();
    let nodes = watch_nodes(shared.clone());
    tokio::pin!(pods, nodes);
    loop {
        tokio::select! {
            Some(finished) = node_loops.join_next() => match finished {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(error),
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                Err(_) => {}
            },
            () = &mut pods => return Ok(()),
            () = &mut nodes => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn pod(value: serde_json::Value) -> Pod {
        let mut base = json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "uid-1", "generation": 1},
            "spec": {"nodeName": "sim-0", "containers": [{"name": "main", "image": "nginx:1.27"}]},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2027-01-15T08:00:00Z"}]}
        });
        merge(&mut base, value);
        serde_json::from_value(base).unwrap()
    }

    fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
        match (base, patch) {
            (serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
                for (key, value) in patch {
                    merge(base.entry(key).or_insert(serde_json::Value::Null), value);
                }
            }
            (base, patch) => *base = patch,
        }
    }

    fn job_pod(restart_policy: &str, exit_code: Option<&str>) -> Pod {
        let annotations = exit_code.map_or(json!({}), |code| json!({EXIT_CODE_ANNOTATION: code}));
        pod(json!({
            "metadata": {"annotations": annotations, "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "pi", "uid": "job-1", "controller": true}]},
            "spec": {"restartPolicy": restart_policy},
        }))
    }

    /// The pod as the API returns it after `status` was written (a status patch replaces container statuses and
    /// merges conditions by type).
    fn with_status(mut pod: Pod, status: PodStatus) -> Pod {
        let mut current = serde_json::to_value(pod.status.take().unwrap_or_default()).unwrap();
        let mut update = serde_json::to_value(status).unwrap();
        let mut conditions: Vec<serde_json::Value> = current["conditions"].as_array().cloned().unwrap_or_default();
        for condition in update["conditions"].as_array().cloned().unwrap_or_default() {
            conditions.retain(|have| have["type"] != condition["type"]);
            conditions.push(condition);
        }
        if let Some(update) = update.as_object_mut() {
            update.remove("conditions");
        }
        merge(&mut current, update);
        current["conditions"] = json!(conditions);
        pod.status = Some(serde_json::from_value(current).unwrap());
        pod
    }

    fn condition_of<'a>(status: &'a PodStatus, type_: &str) -> &'a PodCondition {
        status.conditions.iter().flatten().find(|condition| condition.type_ == type_).unwrap()
    }

    fn running(pod: Pod, now: Timestamp) -> Pod {
        let status = running_status(&pod, IpAddr::V4(node_address(0)), &["10.128.0.2".parse().unwrap()], now);
        with_status(pod, status)
    }

    fn terminated(status: &ContainerStatus) -> &ContainerStateTerminated {
        status.state.as_ref().unwrap().terminated.as_ref().unwrap()
    }

    #[test]
    fn node_carries_the_kubelet_labels_the_marker_and_extra_labels() {
        let config = SimulateConfig {
            labels: BTreeMap::from([
                ("topology.kubernetes.io/zone".into(), "zone-a".into()),
                ("kubernetes.io/arch".into(), "arm64".into()),
            ]),
            ..SimulateConfig::default()
        };
        let node = node_object(&config, 7);
        assert_eq!(node.metadata.name.as_deref(), Some("sim-7"));
        let labels = node.metadata.labels.unwrap();
        assert_eq!(labels["kubernetes.io/hostname"], "sim-7");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        assert_eq!(labels["beta.kubernetes.io/arch"], "amd64");
        assert_eq!(labels["kubernetes.io/arch"], "arm64", "configured labels win");
        assert_eq!(labels["topology.kubernetes.io/zone"], "zone-a");
        assert_eq!(node.metadata.annotations.unwrap()[SIMULATED_ANNOTATION], "true");
        assert!(node.status.is_none(), "status goes through the status subresource");
    }

    #[test]
    fn node_status_reads_like_a_healthy_kubelet() {
        let config = SimulateConfig { cpu: "4".into(), memory: "16Gi".into(), pods: 50, ..SimulateConfig::default() };
        let status = node_status(&config, 2, None, at(0));
        let capacity = status.capacity.clone().unwrap();
        assert_eq!(capacity["cpu"], Quantity("4".into()));
        assert_eq!(capacity["memory"], Quantity("16Gi".into()));
        assert_eq!(capacity["pods"], Quantity("50".into()));
        assert_eq!(capacity["ephemeral-storage"], Quantity("100Gi".into()));
        assert_eq!(status.allocatable, status.capacity);
        let conditions = status.conditions.as_ref().unwrap();
        let summary: Vec<(&str, &str, &str)> = conditions
            .iter()
            .map(|condition| (condition.type_.as_str(), condition.status.as_str(), condition.reason.as_deref().unwrap()))
            .collect();
        assert_eq!(
            summary,
            [
                ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                ("PIDPressure", "False", "KubeletHasSufficientPID"),
                ("Ready", "True", "KubeletReady"),
            ]
        );
        assert_eq!(conditions[3].message.as_deref(), Some("kubelet is posting ready status"));
        assert!(conditions.iter().all(|condition| condition.last_heartbeat_time == Some(Time(at(0)))));
        let addresses = status.addresses.as_ref().unwrap();
        assert_eq!(addresses[0], NodeAddress { type_: "InternalIP".into(), address: "10.200.0.3".into() });
        assert_eq!(addresses[1], NodeAddress { type_: "Hostname".into(), address: "sim-2".into() });
        let info = status.node_info.as_ref().unwrap();
        assert_eq!(info.kubelet_version, "v1.37.0");
        assert_eq!(info.container_runtime_version, "ferrokube-simulated://1.0");
        assert_eq!((info.operating_system.as_str(), info.architecture.as_str()), ("linux", "amd64"));
        assert_eq!(info.machine_id.len(), 32);
        assert_ne!(info.boot_id, node_status(&config, 3, None, at(0)).node_info.unwrap().boot_id, "each node has its own IDs");
        assert_eq!(status.daemon_endpoints.unwrap().kubelet_endpoint.unwrap().port, 10250);
    }

    #[test]
    fn transition_times_last_until_a_condition_changes() {
        let config = SimulateConfig::default();
        let mut previous = node_status(&config, 0, None, at(0));
        let later = node_status(&config, 0, Some(&previous), at(600));
        let ready = |status: &NodeStatus| status.conditions.as_ref().unwrap()[3].clone();
        assert_eq!(ready(&later).last_transition_time, Some(Time(at(0))));
        assert_eq!(ready(&later).last_heartbeat_time, Some(Time(at(600))));

        // The node lifecycle controller marked the node Unknown while the simulator was away.
        previous.conditions.as_mut().unwrap()[3].status = "Unknown".into();
        let recovered = node_status(&config, 0, Some(&previous), at(900));
        assert_eq!(ready(&recovered).last_transition_time, Some(Time(at(900))));
        assert_eq!(recovered.conditions.as_ref().unwrap()[0].last_transition_time, Some(Time(at(0))));
    }

    #[test]
    fn drift_is_a_changed_condition_or_field_not_a_newer_heartbeat() {
        let config = SimulateConfig::default();
        let wanted = node_status(&config, 0, None, at(600));
        let mut observed = node_status(&config, 0, None, at(0));
        assert!(!status_drifted(&wanted, &observed));
        // Conditions of others (the network provider's) do not count.
        observed.conditions.as_mut().unwrap().push(NodeCondition {
            type_: "NetworkUnavailable".into(),
            status: "False".into(),
            ..NodeCondition::default()
        });
        assert!(!status_drifted(&wanted, &observed));
        observed.conditions.as_mut().unwrap()[3].status = "Unknown".into();
        assert!(status_drifted(&wanted, &observed));
        let mut resized = node_status(&config, 0, None, at(0));
        resized.capacity.as_mut().unwrap().insert("cpu".into(), Quantity("2".into()));
        assert!(status_drifted(&wanted, &resized));
    }

    #[test]
    fn lease_is_held_and_owned_by_its_node() {
        let lease = renewed_lease(None, "sim-0", Some("node-uid"), at(5));
        assert_eq!(lease.metadata.namespace.as_deref(), Some("kube-node-lease"));
        let spec = lease.spec.clone().unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("sim-0"));
        assert_eq!(spec.lease_duration_seconds, Some(40));
        assert_eq!(spec.renew_time, Some(MicroTime(at(5))));
        let owners = lease.metadata.owner_references.clone().unwrap();
        assert_eq!((owners[0].kind.as_str(), owners[0].name.as_str(), owners[0].uid.as_str()), ("Node", "sim-0", "node-uid"));

        // Renewing a lease of a recreated node points it at the new node, once.
        let renewed = renewed_lease(Some(lease), "sim-0", Some("new-uid"), at(15));
        let owners = renewed.metadata.owner_references.unwrap();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].uid, "new-uid");
        assert_eq!(renewed.spec.unwrap().renew_time, Some(MicroTime(at(15))));
    }

    #[test]
    fn nodes_get_addresses_and_fallback_pod_ranges_by_index() {
        assert_eq!(node_address(0), Ipv4Addr::new(10, 200, 0, 1));
        assert_eq!(node_address(300), Ipv4Addr::new(10, 200, 1, 45));
        assert_eq!(fallback_pod_cidr(0, 3).to_string(), "10.128.0.0/24");
        assert_eq!(fallback_pod_cidr(5, 1000).to_string(), "10.128.5.0/24");
        assert_eq!(fallback_pod_cidr(16383, 16384).to_string(), "10.191.255.0/24");
        // More nodes than /24 blocks: smaller blocks, still one per node.
        assert_eq!(fallback_pod_cidr(1, 20000).to_string(), "10.128.0.128/25");
        assert_ne!(fallback_pod_cidr(16384, 20000), fallback_pod_cidr(0, 20000));
    }

    #[test]
    fn pod_ranges_come_from_the_node_spec_ipv4_first() {
        let spec = NodeSpec { pod_cidr: Some("10.42.3.0/24".into()), ..NodeSpec::default() };
        assert_eq!(pod_ranges(Some(&spec), 3, 10), vec!["10.42.3.0/24".parse::<IpNet>().unwrap()]);
        let dual = NodeSpec { pod_cidrs: Some(vec!["fd00:42:0:3::/64".into(), "10.42.3.0/24".into()]), ..NodeSpec::default() };
        let ranges: Vec<String> = pod_ranges(Some(&dual), 3, 10).iter().map(ToString::to_string).collect();
        assert_eq!(ranges, ["10.42.3.0/24", "fd00:42:0:3::/64"]);
        assert_eq!(pod_ranges(Some(&NodeSpec::default()), 3, 10), vec![fallback_pod_cidr(3, 10)]);
        assert_eq!(pod_ranges(None, 3, 10), vec![fallback_pod_cidr(3, 10)]);
    }

    #[test]
    fn pod_addresses_go_round_robin_and_run_out() {
        let range: IpNet = "10.42.0.0/29".parse().unwrap();
        let mut addresses = PodAddresses::default();
        let ip = |text: &str| -> Vec<IpAddr> { vec![text.parse().unwrap()] };
        for (uid, expected) in [("a", "10.42.0.2"), ("b", "10.42.0.3"), ("c", "10.42.0.4"), ("d", "10.42.0.5"), ("e", "10.42.0.6")] {
            assert_eq!(addresses.allocate(uid, &[range]), Some(ip(expected)), "{uid}");
        }
        assert_eq!(addresses.allocate("a", &[range]), Some(ip("10.42.0.2")), "a pod keeps its address");
        assert_eq!(addresses.allocate("f", &[range]), None, ".0, .1 and .7 are never handed out");
        addresses.release("c");
        assert_eq!(addresses.allocate("f", &[range]), Some(ip("10.42.0.4")));
        addresses.release("a");
        addresses.release("b");
        // Round-robin: the next address after the last one handed out, not the lowest free one.
        assert_eq!(addresses.allocate("g", &[range]), Some(ip("10.42.0.2")));
        assert_eq!(addresses.allocate("h", &[range]), Some(ip("10.42.0.3")));
    }

    #[test]
    fn adopted_addresses_are_not_handed_out_again() {
        let range: IpNet = "10.42.0.0/24".parse().unwrap();
        let mut addresses = PodAddresses::default();
        addresses.adopt("old", vec!["10.42.0.2".parse().unwrap()]);
        assert_eq!(addresses.allocate("new", &[range]), Some(vec!["10.42.0.3".parse().unwrap()]));
        assert_eq!(addresses.allocate("old", &[range]), Some(vec!["10.42.0.2".parse().unwrap()]));
    }

    #[test]
    fn dual_stack_pods_get_one_address_per_family() {
        let ranges: Vec<IpNet> = vec!["10.42.1.0/24".parse().unwrap(), "fd00:42:0:1::/64".parse().unwrap()];
        let mut addresses = PodAddresses::default();
        let picked = addresses.allocate("a", &ranges).unwrap();
        assert_eq!(picked, vec!["10.42.1.2".parse::<IpAddr>().unwrap(), "fd00:42:0:1::2".parse().unwrap()]);
        assert_eq!(addresses.allocate("b", &"10.42.2.0/31".parse::<IpNet>().into_iter().collect::<Vec<_>>()), None);
    }

    #[test]
    fn a_bound_pod_is_reported_running_with_addresses_and_ready_conditions() {
        let pending = pod(json!({"spec": {"initContainers": [
            {"name": "setup", "image": "busybox"},
            {"name": "proxy", "image": "envoy:1.30", "restartPolicy": "Always"}
        ]}}));
        assert_eq!(pod_work(&pending, Duration::from_secs(2), None, at(0)), PodWork::ReportRunning);
        let host: IpAddr = "10.200.0.1".parse().unwrap();
        let pod_ip: IpAddr = "10.128.0.7".parse().unwrap();
        let status = running_status(&pending, host, &[pod_ip], at(10));
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert_eq!(status.host_ip.as_deref(), Some("10.200.0.1"));
        assert_eq!(status.host_ips, Some(vec![HostIP { ip: "10.200.0.1".into() }]));
        assert_eq!(status.pod_ip.as_deref(), Some("10.128.0.7"));
        assert_eq!(status.pod_ips, Some(vec![PodIP { ip: "10.128.0.7".into() }]));
        assert_eq!(status.start_time, Some(Time(at(10))));
        assert_eq!(status.observed_generation, Some(1));
        for type_ in ["PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"] {
            let condition = condition_of(&status, type_);
            assert_eq!(condition.status, "True", "{type_}");
            assert_eq!(condition.last_transition_time, Some(Time(at(10))));
            assert_eq!(condition.observed_generation, Some(1));
        }
        assert!(
            status.conditions.iter().flatten().all(|condition| condition.type_ != "PodScheduled"),
            "the scheduler's condition is left alone"
        );

        let main = &status.container_statuses.as_ref().unwrap()[0];
        assert_eq!(
            (main.name.as_str(), main.image.as_str(), main.ready, main.started, main.restart_count),
            ("main", "nginx:1.27", true, Some(true), 0)
        );
        assert!(main.container_id.as_deref().unwrap().starts_with("simulated://"));
        assert!(main.image_id.starts_with("nginx@sha256:"));
        assert_eq!(main.state.as_ref().unwrap().running.as_ref().unwrap().started_at, Some(Time(at(10))));
        let init = status.init_container_statuses.as_ref().unwrap();
        assert_eq!(terminated(&init[0]).reason.as_deref(), Some("Completed"));
        assert!(init[0].ready);
        assert!(init[1].state.as_ref().unwrap().running.is_some(), "a sidecar keeps running");

        // Once running, nothing more happens to a pod that is not a Job's.
        let started = with_status(pending, status);
        assert_eq!(pod_work(&started, Duration::from_secs(2), None, at(3600)), PodWork::Idle);
        // Writing again keeps what was reported: start times and container IDs.
        let again = running_status(&started, host, &[pod_ip], at(500));
        assert_eq!(again.start_time, Some(Time(at(10))));
        assert_eq!(again.container_statuses, started.status.as_ref().unwrap().container_statuses);
        assert_eq!(condition_of(&again, "Ready").last_transition_time, Some(Time(at(10))));
    }

    #[test]
    fn a_pod_created_on_its_node_is_reported_scheduled() {
        let mut prebound = pod(json!({}));
        prebound.status = None;
        let status = running_status(&prebound, "10.200.0.1".parse().unwrap(), &[], at(0));
        assert_eq!(condition_of(&status, "PodScheduled").status, "True");
    }

    #[test]
    fn pods_marked_not_ready_by_others_are_reported_again() {
        let running_pod = running(pod(json!({})), at(0));
        // The node lifecycle controller marks pods on a silent node not ready; the kubelet reports them again.
        let mut marked = running_pod.clone();
        for condition in marked.status.as_mut().unwrap().conditions.iter_mut().flatten() {
            if condition.type_ == "Ready" {
                condition.status = "False".into();
            }
        }
        assert_eq!(pod_work(&marked, Duration::from_secs(2), None, at(60)), PodWork::ReportRunning);
        assert_eq!(pod_work(&running_pod, Duration::from_secs(2), None, at(60)), PodWork::Idle);
    }

    #[test]
    fn readiness_gates_hold_ready_back_until_their_condition_is_true() {
        let gated = pod(json!({"spec": {"readinessGates": [{"conditionType": "example.com/lb"}]}}));
        let status = running_status(&gated, "10.200.0.1".parse().unwrap(), &[], at(0));
        let ready = condition_of(&status, "Ready");
        assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("False", Some("ReadinessGatesNotReady")));
        assert_eq!(ready.message.as_deref(), Some("corresponding condition of pod readiness gate \"example.com/lb\" does not exist."));
        assert_eq!(condition_of(&status, "ContainersReady").status, "True");
        let waiting = with_status(gated, status);
        assert_eq!(pod_work(&waiting, Duration::from_secs(2), None, at(5)), PodWork::Idle);

        // Another controller sets the gate's condition: the kubelet turns Ready True.
        let mut opened = waiting.clone();
        opened.status.as_mut().unwrap().conditions.as_mut().unwrap().push(PodCondition {
            type_: "example.com/lb".into(),
            status: "True".into(),
            ..PodCondition::default()
        });
        assert_eq!(pod_work(&opened, Duration::from_secs(2), None, at(6)), PodWork::ReportRunning);
        assert_eq!(condition_of(&running_status(&opened, "10.200.0.1".parse().unwrap(), &[], at(6)), "Ready").status, "True");
    }

    #[test]
    fn job_pods_succeed_after_the_run_time() {
        let started = running(job_pod("Never", None), at(100));
        let run_time = Duration::from_secs(2);
        assert_eq!(pod_work(&started, run_time, None, at(101)), PodWork::WakeAt(at(102)));
        // The API keeps whole seconds; the simulator's own start time is exact and wins.
        let exact = at(100) + SignedDuration::from_millis(700);
        assert_eq!(pod_work(&started, run_time, Some(exact), at(101)), PodWork::WakeAt(exact + SignedDuration::from_secs(2)));

        let PodWork::WriteStatus(status) = pod_work(&started, run_time, None, at(102)) else { panic!("the containers exit") };
        assert_eq!(status.phase.as_deref(), Some("Succeeded"));
        let main = &status.container_statuses.as_ref().unwrap()[0];
        let exit = terminated(main);
        assert_eq!((exit.exit_code, exit.reason.as_deref()), (0, Some("Completed")));
        assert_eq!((exit.started_at.clone(), exit.finished_at.clone()), (Some(Time(at(100))), Some(Time(at(102)))));
        assert_eq!(exit.container_id, main.container_id);
        assert!(!main.ready);
        let ready = condition_of(&status, "Ready");
        assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("False", Some("PodCompleted")));
        assert_eq!(condition_of(&status, "ContainersReady").reason.as_deref(), Some("PodCompleted"));
        assert_eq!(condition_of(&status, "Initialized").reason.as_deref(), Some("PodCompleted"));
        assert_eq!(condition_of(&status, "PodReadyToStartContainers").status, "False");
        let done = with_status(started, status);
        assert_eq!(pod_work(&done, run_time, None, at(200)), PodWork::Idle);
        assert_eq!(done.status.unwrap().pod_ip.as_deref(), Some("10.128.0.2"), "a finished pod still shows its address");
    }

    #[test]
    fn the_exit_code_annotation_fails_or_restarts_job_pods() {
        let run_time = Duration::from_secs(2);
        let never = running(job_pod("Never", Some("3")), at(0));
        let PodWork::WriteStatus(status) = pod_work(&never, run_time, None, at(2)) else { panic!("the containers exit") };
        assert_eq!(status.phase.as_deref(), Some("Failed"));
        let exit = terminated(&status.container_statuses.as_ref().unwrap()[0]);
        assert_eq!((exit.exit_code, exit.reason.as_deref()), (3, Some("Error")));
        assert_eq!(condition_of(&status, "Ready").reason.as_deref(), Some("PodFailed"));
        assert_eq!(condition_of(&status, "Initialized").reason, None);

        let on_failure = running(job_pod("OnFailure", Some("1")), at(0));
        let PodWork::Restart(status) = pod_work(&on_failure, run_time, None, at(2)) else { panic!("the containers restart") };
        assert_eq!(status.phase, None, "the pod keeps running");
        let main = &status.container_statuses.as_ref().unwrap()[0];
        assert_eq!(main.restart_count, 1);
        assert_eq!(terminated(&ContainerStatus { state: main.last_state.clone(), ..main.clone() }).exit_code, 1);
        assert_eq!(main.state.as_ref().unwrap().running.as_ref().unwrap().started_at, Some(Time(at(2))));
        assert_ne!(main.container_id, on_failure.status.as_ref().unwrap().container_statuses.as_ref().unwrap()[0].container_id);
        let restarted = with_status(on_failure, status);
        assert_eq!(pod_work(&restarted, run_time, None, at(3)), PodWork::WakeAt(at(4)));

        // A zero or unreadable code is a success; pods not owned by a Job run until deleted.
        let zero = running(job_pod("Never", Some("zero")), at(0));
        assert!(
            matches!(pod_work(&zero, run_time, None, at(2)), PodWork::WriteStatus(status) if status.phase.as_deref() == Some("Succeeded"))
        );
        let bare = running(pod(json!({"spec": {"restartPolicy": "Never"}})), at(0));
        assert_eq!(pod_work(&bare, run_time, None, at(3600)), PodWork::Idle);
    }

    #[test]
    fn sidecars_stop_after_the_main_containers_and_do_not_decide_the_phase() {
        let mut with_sidecar = job_pod("Never", None);
        with_sidecar.spec.as_mut().unwrap().init_containers = Some(vec![
            Container { name: "setup".into(), image: Some("busybox".into()), ..Container::default() },
            Container { name: "proxy".into(), image: Some("envoy".into()), restart_policy: Some("Always".into()), ..Container::default() },
        ]);
        let started = running(with_sidecar, at(0));
        let PodWork::WriteStatus(status) = pod_work(&started, Duration::from_secs(2), None, at(2)) else { panic!("the containers exit") };
        assert_eq!(status.phase.as_deref(), Some("Succeeded"));
        let init = status.init_container_statuses.as_ref().unwrap();
        assert_eq!(
            init[0],
            started.status.as_ref().unwrap().init_container_statuses.as_ref().unwrap()[0],
            "a finished init container stays"
        );
        let proxy = terminated(&init[1]);
        assert_eq!((proxy.exit_code, proxy.reason.as_deref(), proxy.finished_at.clone()), (0, Some("Completed"), Some(Time(at(2)))));
        assert!(!init[1].ready);
    }

    #[test]
    fn deleted_pods_are_finished_with_a_final_status_only_when_finalizers_keep_them() {
        let deleting = json!({"metadata": {"deletionTimestamp": "2027-01-15T08:00:00Z", "deletionGracePeriodSeconds": 30}});
        let plain = running(pod(deleting.clone()), at(0));
        assert_eq!(pod_work(&plain, Duration::from_secs(2), None, at(5)), PodWork::Finish { final_status: None });

        let mut held = deleting.clone();
        held["metadata"]["finalizers"] = json!(["example.com/hold"]);
        let running_held = running(pod(held.clone()), at(0));
        let PodWork::Finish { final_status: Some(status) } = pod_work(&running_held, Duration::from_secs(2), None, at(5)) else {
            panic!("a final status first")
        };
        assert_eq!(status.phase.as_deref(), Some("Failed"));
        let exit = terminated(&status.container_statuses.as_ref().unwrap()[0]);
        assert_eq!((exit.exit_code, exit.reason.as_deref()), (143, Some("Error")));

        let pending_held = pod(held);
        let PodWork::Finish { final_status: Some(status) } = pod_work(&pending_held, Duration::from_secs(2), None, at(5)) else {
            panic!("a final status first")
        };
        let exit = terminated(&status.container_statuses.as_ref().unwrap()[0]);
        assert_eq!((exit.exit_code, exit.reason.as_deref()), (137, Some("ContainerStatusUnknown")));

        let finished_held = with_status(running_held, status);
        assert_eq!(pod_work(&finished_held, Duration::from_secs(2), None, at(6)), PodWork::Finish { final_status: None });
    }

    #[test]
    fn image_ids_are_digest_references() {
        assert!(image_id("nginx:1.27").starts_with("nginx@sha256:"));
        assert!(image_id("localhost:5000/team/app").starts_with("localhost:5000/team/app@sha256:"));
        assert!(image_id("localhost:5000/team/app:v2").starts_with("localhost:5000/team/app@sha256:"));
        assert_eq!(image_id("busybox@sha256:abc"), "busybox@sha256:abc");
        assert_ne!(image_id("nginx:1.27"), image_id("nginx:1.28"));
    }

    #[test]
    fn the_wake_queue_keeps_each_key_once_at_its_earliest_time() {
        let now = Instant::now();
        let mut queue = WakeQueue::default();
        queue.schedule("a", now + Duration::from_secs(5));
        queue.schedule("b", now + Duration::from_secs(1));
        queue.schedule("a", now);
        queue.schedule("b", now + Duration::from_secs(9));
        assert_eq!(queue.next_due(), Some(now));
        assert_eq!(queue.pop_due(now).as_deref(), Some("a"));
        assert_eq!(queue.pop_due(now), None, "b is not due yet");
        assert_eq!(queue.pop_due(now + Duration::from_secs(1)).as_deref(), Some("b"));
        assert_eq!(queue.next_due(), None);
        queue.schedule("c", now);
        queue.remove("c");
        assert_eq!(queue.pop_due(now), None);
    }

    #[test]
    fn resource_versions_and_retry_delays() {
        assert!(is_newer_or_same(Some("12"), Some("9")));
        assert!(!is_newer_or_same(Some("9"), Some("12")));
        assert!(is_newer_or_same(Some("opaque"), Some("12")));
        assert!(is_newer_or_same(Some("1"), None));
        let delays: Vec<Duration> = (1..=8).map(|failures| retry_delay(failures, RETRY_DELAY_FIRST, RETRY_DELAY_MAX)).collect();
        assert_eq!(delays[0], Duration::from_millis(100));
        assert_eq!(delays[3], Duration::from_millis(800));
        assert_eq!(delays[7], Duration::from_secs(7));
    }
}
