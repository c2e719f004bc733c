//! The scheduler's view of the cluster, kept incrementally from watch events: every node with what its bound
//! pods request, the host ports they hold and how many replicas of each controller run there, plus the bound
//! pods themselves (for inter-pod affinity) and the pods the scheduler has assumed onto a node before the watch
//! confirms the binding. Placement itself lives in `placement`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Taint, WeightedPodAffinityTerm};

use super::matching::{AffinityTerm, Labels, NamespaceLabels};
use super::resources::{node_allocatable, PodUsage, Resources};
use crate::controllers::podutil;

/// The cluster as the scheduler sees it. Feed it every node, every pod and (for namespace selectors in pod
/// affinity) every namespace; `schedule` then costs one pass over the nodes.
#[derive(Debug, Default)]
pub struct ClusterState {
    /// Nodes by slot; a slot stays taken while its node exists or pods are still bound to its name.
    pub(crate) slots: Vec<Option<NodeSlot>>,
    slot_by_name: HashMap<String, usize>,
    free_slots: Vec<usize>,
    /// How many slots hold a node object: the N of `0/N nodes are available`.
    pub(crate) node_count: usize,
    /// Bound and assumed pods by (namespace, name).
    pub(crate) pods: BTreeMap<(String, String), BoundPod>,
    /// For each controller uid, how many of its pods sit in each slot.
    pub(crate) replicas_by_owner: HashMap<String, HashMap<usize, u32>>,
    /// Bound and assumed pods that carry any pod (anti-)affinity term.
    pub(crate) pods_with_affinity: BTreeSet<(String, String)>,
    pub(crate) namespace_labels: NamespaceLabels,
}

/// A node name and what is bound to it; `node` is `None` while pods reference a node that is not (or no longer)
/// there, as upstream keeps such pods counted until they go away.
#[derive(Debug)]
pub(crate) struct NodeSlot {
    pub(crate) name: String,
    pub(crate) node: Option<NodeFacts>,
    pub(crate) requested: Resources,
    pub(crate) nonzero_milli_cpu: i64,
    pub(crate) nonzero_memory_bytes: i64,
    pub(crate) pod_count: i64,
    pub(crate) host_ports: HashMap<HostPort, u32>,
}

/// What the filters and scores read from a Node object.
#[derive(Debug)]
pub(crate) struct NodeFacts {
    pub(crate) labels: Labels,
    pub(crate) taints: Vec<Taint>,
    pub(crate) unschedulable: bool,
    pub(crate) allocatable: Resources,
    pub(crate) allowed_pods: i64,
    /// A hash of the node name that breaks ties between equal nodes differently for each pod.
    pub(crate) tie_hash: u64,
    /// Region and zone (upstream's zone key), when the node has either label.
    pub(crate) zone: Option<String>,
}

/// A host port a container binds, with upstream's defaults filled in (`0.0.0.0`, `TCP`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct HostPort {
    pub(crate) ip: String,
    pub(crate) protocol: String,
    pub(crate) port: i32,
}

pub(crate) const ANY_IP: &str = "0.0.0.0";
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const REGION_LABEL: &str = "topology.kubernetes.io/region";

#[derive(Debug)]
pub(crate) struct BoundPod {
    pub(crate) slot: usize,
    /// Counted by `assume` and not yet seen bound in a watch event.
    assumed: bool,
    pub(crate) facts: PodFacts,
}

/// What the scheduler needs of a pod, computed once when the pod is seen.
#[derive(Clone, Debug)]
pub(crate) struct PodFacts {
    pub(crate) namespace: String,
    pub(crate) labels: Labels,
    pub(crate) usage: PodUsage,
    pub(crate) host_ports: Vec<HostPort>,
    /// The controller's uid, for spreading its replicas; left out for a pod that is being deleted.
    pub(crate) spread_owner: Option<String>,
    pub(crate) affinity: PodAffinityTerms,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct PodAffinityTerms {
    pub(crate) required_affinity: Vec<AffinityTerm>,
    pub(crate) required_anti_affinity: Vec<AffinityTerm>,
    pub(crate) preferred_affinity: Vec<(i64, AffinityTerm)>,
    pub(crate) preferred_anti_affinity: Vec<(i64, AffinityTerm)>,
}

impl PodAffinityTerms {
    pub(crate) fn is_empty(&self) -> bool {
        self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty()
    }
}

impl PodFacts {
    pub(crate) fn of(pod: &Pod) -> Self {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let spec = pod.spec.as_ref();
        let host_ports = spec
            .into_iter()
            .flat_map(|spec| &spec.containers)
            .flat_map(|container| container.ports.iter().flatten())
            .filter_map(|port| {
                let host_port = port.host_port.filter(|host_port| *host_port > 0)?;
                Some(HostPort {
                    ip: port.host_ip.clone().filter(|ip| !ip.is_empty()).unwrap_or_else(|| ANY_IP.to_string()),
                    protocol: port.protocol.clone().filter(|protocol| !protocol.is_empty()).unwrap_or_else(|| "TCP".to_string()),
                    port: host_port,
                })
            })
            .collect();
        let spread_owner = match pod.metadata.deletion_timestamp {
            Some(_) => None,
            None => podutil::controller_of(&pod.metadata).map(|owner| owner.uid.clone()),
        };
        let affinity = spec.and_then(|spec| spec.affinity.as_ref());
        let required = |terms: Option<&Vec<_>>| -> Vec<AffinityTerm> {
            terms.into_iter().flatten().map(|term| AffinityTerm::new(term, &namespace, &labels)).collect()
        };
        let preferred = |terms: Option<&Vec<WeightedPodAffinityTerm>>| -> Vec<(i64, AffinityTerm)> {
            terms
                .into_iter()
                .flatten()
                .map(|term| (i64::from(term.weight), AffinityTerm::new(&term.pod_affinity_term, &namespace, &labels)))
                .collect()
        };
        let pod_affinity = affinity.and_then(|affinity| affinity.pod_affinity.as_ref());
        let pod_anti_affinity = affinity.and_then(|affinity| affinity.pod_anti_affinity.as_ref());
        let affinity = PodAffinityTerms {
            required_affinity: required(pod_affinity.and_then(|terms| terms.required_during_scheduling_ignored_during_execution.as_ref())),
            required_anti_affinity: required(
                pod_anti_affinity.and_then(|terms| terms.required_during_scheduling_ignored_during_execution.as_ref()),
            ),
            preferred_affinity: preferred(
                pod_affinity.and_then(|terms| terms.preferred_during_scheduling_ignored_during_execution.as_ref()),
            ),
            preferred_anti_affinity: preferred(
                pod_anti_affinity.and_then(|terms| terms.preferred_during_scheduling_ignored_during_execution.as_ref()),
            ),
        };
        PodFacts { usage: PodUsage::of(pod), host_ports, spread_owner, affinity, namespace, labels }
    }
}

impl NodeFacts {
    fn of(node: &Node) -> Self {
        let (allocatable, allowed_pods) = node_allocatable(node);
        let spec = node.spec.as_ref();
        let labels = node.metadata.labels.clone().unwrap_or_default();
        let region = labels.get(REGION_LABEL).map_or("", String::as_str);
        let zone = labels.get(ZONE_LABEL).map_or("", String::as_str);
        let zone = (!region.is_empty() || !zone.is_empty()).then(|| format!("{region}:\0:{zone}"));
        NodeFacts {
            zone,
            labels,
            taints: spec.and_then(|spec| spec.taints.clone()).unwrap_or_default(),
            unschedulable: spec.and_then(|spec| spec.unschedulable).unwrap_or(false),
            allocatable,
            allowed_pods,
            tie_hash: fnv1a(node.metadata.name.as_deref().unwrap_or("").as_bytes()),
        }
    }
}

/// FNV-1a: a small stable hash, so tie breaks do not change between builds.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

fn pod_key(pod: &Pod) -> (String, String) {
    (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default())
}

impl ClusterState {
    pub fn new() -> Self {
        ClusterState::default()
    }

    /// Adds or replaces a node (from a watch `ADDED`/`MODIFIED` event).
    pub fn upsert_node(&mut self, node: &Node) {
        let Some(name) = node.metadata.name.as_deref() else { return };
        let slot = self.slot_for(name);
        if let Some(entry) = self.slots[slot].as_mut() {
            if entry.node.is_none() {
                self.node_count += 1;
            }
            entry.node = Some(NodeFacts::of(node));
        }
    }

    /// Forgets a node. Pods still bound to it stay counted against its name until they are removed.
    pub fn remove_node(&mut self, name: &str) {
        let Some(&slot) = self.slot_by_name.get(name) else { return };
        if let Some(entry) = self.slots[slot].as_mut() {
            if entry.node.take().is_some() {
                self.node_count -= 1;
            }
        }
        self.release_if_unused(slot);
    }

    /// Bound pods (spec.nodeName set) that are not finished count against their node; an update may move or
    /// finish a pod. A pod that is still unbound in the event leaves an earlier `assume` standing, since the
    /// watch may lag behind the bind.
    pub fn upsert_pod(&mut self, pod: &Pod) {
        let key = pod_key(pod);
        let finished = matches!(pod.status.as_ref().and_then(|status| status.phase.as_deref()), Some("Succeeded" | "Failed"));
        let node_name = pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()).filter(|name| !name.is_empty());
        match node_name {
            Some(node_name) if !finished => self.place(key, pod, node_name, false),
            None if !finished && self.pods.get(&key).is_some_and(|bound| bound.assumed) => {}
            _ => self.drop_pod(&key),
        }
    }

    /// Forgets a deleted pod, assumed or bound.
    pub fn remove_pod(&mut self, namespace: &str, name: &str) {
        self.drop_pod(&(namespace.to_string(), name.to_string()));
    }

    /// Counts `pod` on `node` right after a bind is sent, before the watch shows it (the loop calls upsert_pod
    /// later; the pod is counted once either way).
    pub fn assume(&mut self, pod: &Pod, node: &str) {
        self.place(pod_key(pod), pod, node, true);
    }

    /// Takes back an `assume` whose bind failed. A pod the watch has already shown bound stays.
    pub fn forget(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_string(), name.to_string());
        if self.pods.get(&key).is_some_and(|bound| bound.assumed) {
            self.drop_pod(&key);
        }
    }

    /// Records a namespace's labels, which pod affinity namespace selectors match against.
    pub fn upsert_namespace(&mut self, namespace: &Namespace) {
        if let Some(name) = &namespace.metadata.name {
            self.namespace_labels.insert(name.clone(), namespace.metadata.labels.clone().unwrap_or_default());
        }
    }

    pub fn remove_namespace(&mut self, name: &str) {
        self.namespace_labels.remove(name);
    }

    /// How many nodes the scheduler knows.
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// The node a pod is counted on (bound or assumed), if any.
    pub fn node_of(&self, namespace: &str, name: &str) -> Option<&str> {
        let bound = self.pods.get(&(namespace.to_string(), name.to_string()))?;
        self.slots[bound.slot].as_ref().map(|slot| slot.name.as_str())
    }

    fn slot_for(&mut self, name: &str) -> usize {
        if let Some(&slot) = self.slot_by_name.get(name) {
            return slot;
        }
        let entry = NodeSlot {
            name: name.to_string(),
            node: None,
            requested: Resources::default(),
            nonzero_milli_cpu: 0,
            nonzero_memory_bytes: 0,
            pod_count: 0,
            host_ports: HashMap::new(),
        };
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.slots[slot] = Some(entry);
                slot
            }
            None => {
                self.slots.push(Some(entry));
                self.slots.len() - 1
            }
        };
        self.slot_by_name.insert(name.to_string(), slot);
        slot
    }

    fn release_if_unused(&mut self, slot: usize) {
        let unused = self.slots[slot].as_ref().is_some_and(|entry| entry.node.is_none() && entry.pod_count == 0);
        if unused {
            if let Some(entry) = self.slots[slot].take() {
                self.slot_by_name.remove(&entry.name);
                self.free_slots.push(slot);
            }
        }
    }

    fn place(&mut self, key: (String, String), pod: &Pod, node_name: &str, assumed: bool) {
        self.drop_pod(&key);
        let facts = PodFacts::of(pod);
        let slot = self.slot_for(node_name);
        if let Some(entry) = self.slots[slot].as_mut() {
            entry.requested.add(&facts.usage.requests);
            entry.nonzero_milli_cpu += facts.usage.nonzero_milli_cpu;
            entry.nonzero_memory_bytes += facts.usage.nonzero_memory_bytes;
            entry.pod_count += 1;
            for port in &facts.host_ports {
                *entry.host_ports.entry(port.clone()).or_default() += 1;
            }
        }
        if let Some(owner) = &facts.spread_owner {
            *self.replicas_by_owner.entry(owner.clone()).or_default().entry(slot).or_default() += 1;
        }
        if !facts.affinity.is_empty() {
            self.pods_with_affinity.insert(key.clone());
        }
        self.pods.insert(key, BoundPod { slot, assumed, facts });
    }

    fn drop_pod(&mut self, key: &(String, String)) {
        let Some(BoundPod { slot, facts, .. }) = self.pods.remove(key) else { return };
        if let Some(entry) = self.slots[slot].as_mut() {
            entry.requested.subtract(&facts.usage.requests);
            entry.nonzero_milli_cpu -= facts.usage.nonzero_milli_cpu;
            entry.nonzero_memory_bytes -= facts.usage.nonzero_memory_bytes;
            entry.pod_count -= 1;
            for port in &facts.host_ports {
                if let Some(count) = entry.host_ports.get_mut(port) {
                    *count -= 1;
                    if *count == 0 {
                        entry.host_ports.remove(port);
                    }
                }
            }
        }
        if let Some(owner) = &facts.spread_owner {
            if let Some(slots) = self.replicas_by_owner.get_mut(owner) {
                if let Some(count) = slots.get_mut(&slot) {
                    *count -= 1;
                    if *count == 0 {
                        slots.remove(&slot);
                    }
                }
                if slots.is_empty() {
                    self.replicas_by_owner.remove(owner);
                }
            }
        }
        self.pods_with_affinity.remove(key);
        self.release_if_unused(slot);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerPort, NodeSpec, NodeStatus, PodSpec, PodStatus, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};

    /// A node with `cpu` cores, `memory` and room for `pods` pods.
    pub(crate) fn node(name: &str, cpu: &str, memory: &str, pods: &str) -> Node {
        let allocatable = [("cpu", cpu), ("memory", memory), ("pods", pods), ("ephemeral-storage", "100Gi")]
            .iter()
            .map(|(resource, value)| (resource.to_string(), Quantity(value.to_string())))
            .collect();
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(BTreeMap::from([("kubernetes.io/hostname".to_string(), name.to_string())])),
                ..Default::default()
            },
            spec: Some(NodeSpec::default()),
            status: Some(NodeStatus { allocatable: Some(allocatable), ..Default::default() }),
        }
    }

    /// A pending pod in `default` with one container requesting `cpu` and `memory` (empty for none).
    pub(crate) fn pod(name: &str, cpu: &str, memory: &str) -> Pod {
        let requests: BTreeMap<String, Quantity> = [("cpu", cpu), ("memory", memory)]
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(resource, value)| (resource.to_string(), Quantity(value.to_string())))
            .collect();
        Pod {
            metadata: ObjectMeta { name: Some(name.into()), namespace: Some("default".into()), ..Default::default() },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    resources: Some(ResourceRequirements { requests: Some(requests), ..Default::default() }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub(crate) fn bound(mut pod: Pod, node: &str) -> Pod {
        pod.spec.get_or_insert_with(Default::default).node_name = Some(node.into());
        pod
    }

    pub(crate) fn owned_by(mut pod: Pod, uid: &str) -> Pod {
        pod.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: format!("rs-{uid}"),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
        pod
    }

    impl ClusterState {
        fn node_slot(&self, name: &str) -> Option<&NodeSlot> {
            self.slots[*self.slot_by_name.get(name)?].as_ref()
        }
    }

    fn requested_cpu(state: &ClusterState, node: &str) -> i64 {
        state.node_slot(node).map_or(0, |slot| slot.requested.milli_cpu)
    }

    #[test]
    fn bound_pods_count_against_their_node_and_unbound_pods_do_not() {
        let mut state = ClusterState::new();
        state.upsert_node(&node("n1", "4", "8Gi", "110"));
        state.upsert_pod(&pod("pending", "1", "1Gi"));
        assert_eq!(requested_cpu(&state, "n1"), 0);
        state.upsert_pod(&bound(pod("a", "1", "1Gi"), "n1"));
        state.upsert_pod(&bound(pod("b", "500m", ""), "n1"));
        let slot = state.node_slot("n1").expect("n1");
        assert_eq!((slot.requested.milli_cpu, slot.requested.memory_bytes, slot.pod_count), (1500, 1 << 30, 2));
        assert_eq!((slot.nonzero_milli_cpu, slot.nonzero_memory_bytes), (1500, (1 << 30) + 200 * 1024 * 1024));
    }

    #[test]
    fn an_assumed_pod_is_counted_once_when_the_watch_confirms_it() {
        let mut state = ClusterState::new();
        state.upsert_node(&node("n1", "4", "8Gi", "110"));
        let web = pod("web", "1", "");
        state.assume(&web, "n1");
        assert_eq!(requested_cpu(&state, "n1"), 1000);
        state.upsert_pod(&web);
        assert_eq!(requested_cpu(&state, "n1"), 1000, "a lagging unbound event keeps the assumption");
        state.upsert_pod(&bound(web.clone(), "n1"));
        state.upsert_pod(&bound(web, "n1"));
        assert_eq!(requested_cpu(&state, "n1"), 1000);
        assert_eq!(state.node_slot("n1").map(|slot| slot.pod_count), Some(1));
        state.forget("default", "web");
        assert_eq!(requested_cpu(&state, "n1"), 1000, "a confirmed pod is not forgotten");
    }

    #[test]
    fn a_failed_bind_is_forgotten() {
        let mut state = ClusterState::new();
        state.upsert_node(&node("n1", "4", "8Gi", "110"));
        state.assume(&pod("web", "1", ""), "n1");
        state.forget("default", "web");
        assert_eq!(requested_cpu(&state, "n1"), 0);
        assert_eq!(state.node_of("default", "web"), None);
    }

    #[test]
    fn finished_deleted_and_moved_pods_free_their_node() {
        let mut state = ClusterState::new();
        state.upsert_node(&node("n1", "4", "8Gi", "110"));
        state.upsert_node(&node("n2", "4", "8Gi", "110"));
        let job = bound(pod("job", "1", ""), "n1");
        state.upsert_pod(&job);
        let mut done = job.clone();
        done.status = Some(PodStatus { phase: Some("Succeeded".into()), ..Default::default() });
        state.upsert_pod(&done);
        assert_eq!(requested_cpu(&state, "n1"), 0);

        state.upsert_pod(&bound(pod("web", "2", ""), "n1"));
        state.upsert_pod(&bound(pod("web", "2", ""), "n2"));
        assert_eq!((requested_cpu(&state, "n1"), requested_cpu(&state, "n2")), (0, 2000));
        assert_eq!(state.node_of("default", "web"), Some("n2"));
        state.remove_pod("default", "web");
        assert_eq!(requested_cpu(&state, "n2"), 0);
    }

    #[test]
    fn pods_outlive_their_node_until_they_are_removed() {
        let mut state = ClusterState::new();
        state.upsert_node(&node("n1", "4", "8Gi", "110"));
        state.upsert_pod(&bound(pod("web", "1", ""), "n1"));
        state.remove_node("n1");
        assert_eq!(state.node_count(), 0);
        state.upsert_node(&node("n1", "4", "8Gi", "110"));
        assert_eq!((state.node_count(), requested_cpu(&state, "n1")), (1, 1000));
        state.remove_node("n1");
        state.remove_pod("default", "web");
        assert!(state.node_slot("n1").is_none());
        assert!(state.slots.iter().all(Option::is_none));
    }

    #[test]
    fn replicas_host_ports_and_affinity_are_indexed_and_released() {
        let mut state = ClusterState::new();
        state.upsert_node(&node("n1", "4", "8Gi", "110"));
        let mut web = owned_by(bound(pod("web-1", "", ""), "n1"), "rs-1");
        web.spec.as_mut().expect("spec").containers[0].ports =
            Some(vec![ContainerPort { container_port: 80, host_port: Some(8080), ..Default::default() }]);
        state.upsert_pod(&web);
        let slot = state.node_slot("n1").expect("n1");
        let port = HostPort { ip: ANY_IP.into(), protocol: "TCP".into(), port: 8080 };
        assert_eq!(slot.host_ports.get(&port), Some(&1));
        assert_eq!(state.replicas_by_owner.get("rs-1").map(|slots| slots.values().sum::<u32>()), Some(1));

        let mut terminating = web.clone();
        terminating.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        state.upsert_pod(&terminating);
        assert!(state.replicas_by_owner.is_empty(), "a pod being deleted is no longer a replica to spread from");
        state.remove_pod("default", "web-1");
        assert!(state.node_slot("n1").expect("n1").host_ports.is_empty());
    }
}
