//! Placement of one pod: the default kube-scheduler filters in upstream's order (NodeUnschedulable,
//! TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit, InterPodAffinity; a node is rejected by the first
//! that fails), then scores for the nodes that fit (untolerated PreferNoSchedule taints ×3, preferred node
//! affinity ×2, least allocated cpu and memory ×1, spreading a controller's replicas over nodes and zones ×2,
//! preferred inter-pod affinity ×2), and when nothing fits the `FailedScheduling` message exactly as a 1.37
//! scheduler without preemption victims writes it.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use k8s_openapi::api::core::v1::{NodeSelectorTerm, Pod, Toleration};

use super::matching::{tolerates, AffinityTerm, Labels, NodeTerm};
use super::state::{fnv1a, BoundPod, ClusterState, HostPort, NodeFacts, NodeSlot, PodFacts, ANY_IP};

/// Event reason of a pod that could not be placed (a Warning event, also the pod's `PodScheduled` message).
pub const EVENT_REASON_FAILED_SCHEDULING: &str = "FailedScheduling";
/// Event reason of a pod that was bound (a Normal event).
pub const EVENT_REASON_SCHEDULED: &str = "Scheduled";
/// Reason of the `PodScheduled=False` condition of a pod that could not be placed.
pub const CONDITION_REASON_UNSCHEDULABLE: &str = "Unschedulable";
/// What upstream says when the cluster has no nodes at all.
pub const NO_NODES_MESSAGE: &str = "no nodes available to schedule pods";

const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
// Since 1.34.2 / 1.35 upstream no longer names the taint here (taint keys and values may be sensitive).
const REASON_UNTOLERATED_TAINT: &str = "node(s) had untolerated taint(s)";
const REASON_NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
const REASON_PINNED_ELSEWHERE: &str = "node(s) didn't satisfy plugin(s) [NodeAffinity]";
const REASON_AFFINITY_TERMS_CONFLICT: &str = "pod affinity terms conflict";
const REASON_HOST_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";
const REASON_TOO_MANY_PODS: &str = "Too many pods";
const REASON_POD_AFFINITY: &str = "node(s) didn't match pod affinity rules";
const REASON_POD_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
const REASON_EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";
const PREEMPTION_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
const PREEMPTION_NO_VICTIMS: &str = "No preemption victims found for incoming pod";
const PREEMPTION_NEVER: &str = "not eligible due to preemptionPolicy=Never.";

const UNSCHEDULABLE_TAINT_KEY: &str = "node.kubernetes.io/unschedulable";
const MAX_NODE_SCORE: i64 = 100;
const TAINT_TOLERATION_WEIGHT: i64 = 3;
const NODE_AFFINITY_WEIGHT: i64 = 2;
const LEAST_ALLOCATED_WEIGHT: i64 = 1;
const SPREAD_WEIGHT: i64 = 2;
const INTER_POD_AFFINITY_WEIGHT: i64 = 2;
/// Weight of an existing pod's required affinity term toward the incoming pod (`hardPodAffinityWeight`).
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// Why no node fits a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unschedulable {
    /// The `FailedScheduling` event message and `PodScheduled` condition message, as upstream words it.
    pub message: String,
    /// Each filter's reason with the number of nodes that gave it (a node can give several), as in the message.
    pub reasons: BTreeMap<String, usize>,
}

impl fmt::Display for Unschedulable {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

/// The `Scheduled` event message upstream records after a bind.
pub fn scheduled_message(namespace: &str, name: &str, node: &str) -> String {
    format!("Successfully assigned {namespace}/{name} to {node}")
}

/// Why one node was refused, and whether evicting pods could ever change that (upstream
/// `UnschedulableAndUnresolvable` versus `Unschedulable`, which decides the preemption half of the message).
struct Rejection {
    reasons: Vec<Cow<'static, str>>,
    unresolvable: bool,
}

impl Rejection {
    fn unresolvable(reason: &'static str) -> Self {
        Rejection { reasons: vec![Cow::Borrowed(reason)], unresolvable: true }
    }

    fn resolvable(reason: &'static str) -> Self {
        Rejection { reasons: vec![Cow::Borrowed(reason)], unresolvable: false }
    }
}

/// Everything about the pod being placed, worked out once per `schedule` call.
struct PodPlan<'a> {
    facts: PodFacts,
    tolerations: &'a [Toleration],
    node_selector: Option<&'a BTreeMap<String, String>>,
    /// The ORed required node affinity terms (a term that cannot match is `None`); `None` without any.
    required_node_terms: Option<Vec<Option<NodeTerm>>>,
    preferred_node_terms: Vec<(i64, NodeTerm)>,
    /// Node names the required node affinity pins the pod to through `matchFields`, if every term does.
    pinned_nodes: Option<BTreeSet<String>>,
    preemption_never: bool,
    tie_hash: u64,
}

impl<'a> PodPlan<'a> {
    fn new(pod: &'a Pod) -> Self {
        let spec = pod.spec.as_ref();
        let node_affinity = spec.and_then(|spec| spec.affinity.as_ref()).and_then(|affinity| affinity.node_affinity.as_ref());
        let required = node_affinity.and_then(|affinity| affinity.required_during_scheduling_ignored_during_execution.as_ref());
        let preferred_node_terms = node_affinity
            .and_then(|affinity| affinity.preferred_during_scheduling_ignored_during_execution.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|term| Some((i64::from(term.weight), NodeTerm::new(&term.preference)?)))
            .collect();
        let key = format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or(""), pod.metadata.name.as_deref().unwrap_or(""));
        PodPlan {
            facts: PodFacts::of(pod),
            tolerations: spec.and_then(|spec| spec.tolerations.as_deref()).unwrap_or(&[]),
            node_selector: spec.and_then(|spec| spec.node_selector.as_ref()),
            required_node_terms: required.map(|selector| selector.node_selector_terms.iter().map(NodeTerm::new).collect()),
            preferred_node_terms,
            pinned_nodes: required.and_then(|selector| pinned_node_names(&selector.node_selector_terms)),
            preemption_never: spec.and_then(|spec| spec.preemption_policy.as_deref()) == Some("Never"),
            tie_hash: fnv1a(key.as_bytes()),
        }
    }

    fn matches_node_affinity(&self, name: &str, node: &NodeFacts) -> bool {
        if self.node_selector.is_none() && self.required_node_terms.is_none() {
            return true;
        }
        let selector_holds =
            self.node_selector.into_iter().flatten().all(|(key, value)| node.labels.get(key).is_some_and(|label| label == value));
        let affinity_holds =
            self.required_node_terms.as_ref().is_none_or(|terms| terms.iter().flatten().any(|term| term.matches(name, &node.labels)));
        selector_holds && affinity_holds
    }

    fn has_required_pod_terms(&self) -> bool {
        !self.facts.affinity.required_affinity.is_empty() || !self.facts.affinity.required_anti_affinity.is_empty()
    }
}

/// Upstream NodeAffinity PreFilter: when every required term names nodes through `matchFields` `metadata.name
/// In`, only those nodes are looked at (each term's names intersected, the terms' names united).
fn pinned_node_names(terms: &[NodeSelectorTerm]) -> Option<BTreeSet<String>> {
    if terms.is_empty() {
        return None;
    }
    let mut pinned = BTreeSet::new();
    for term in terms {
        let mut term_names: Option<BTreeSet<String>> = None;
        for field in term.match_fields.iter().flatten().filter(|field| field.key == "metadata.name" && field.operator == "In") {
            let names: BTreeSet<String> = field.values.iter().flatten().cloned().collect();
            term_names = Some(match term_names {
                None => names,
                Some(earlier) => earlier.intersection(&names).cloned().collect(),
            });
        }
        pinned.extend(term_names?);
    }
    Some(pinned)
}

/// Counts per topology (label key, then label value), as upstream's `topologyToMatchedTermCount` and
/// `topologyScore`.
#[derive(Default)]
struct TopologyCounts(HashMap<String, HashMap<String, i64>>);

impl TopologyCounts {
    fn add(&mut self, key: &str, value: &str, amount: i64) {
        *self.0.entry(key.to_string()).or_default().entry(value.to_string()).or_default() += amount;
    }

    fn get(&self, key: &str, value: &str) -> i64 {
        self.0.get(key).and_then(|values| values.get(value)).copied().unwrap_or(0)
    }

    fn is_empty(&self) -> bool {
        self.0.values().all(HashMap::is_empty)
    }

    /// Whether one of the node's labels is a counted topology with a positive count.
    fn touches(&self, labels: &Labels) -> bool {
        self.0.iter().any(|(key, values)| labels.get(key).is_some_and(|value| values.get(value).is_some_and(|count| *count > 0)))
    }

    /// The sum of the counts of the node's topologies.
    fn score(&self, labels: &Labels) -> i64 {
        self.0.iter().filter_map(|(key, values)| values.get(labels.get(key)?)).sum()
    }
}

/// Upstream InterPodAffinity PreFilter state: which topologies hold pods the incoming pod wants to be near or
/// away from, and which hold pods that want the incoming pod away.
struct InterPodState {
    existing_anti_affinity: TopologyCounts,
    affinity: TopologyCounts,
    anti_affinity: TopologyCounts,
    /// The incoming pod matches all its own affinity terms (it may start a group of pods that attract each other).
    matches_own_affinity: bool,
}

/// A node that fits, with its raw scores.
struct Candidate<'s> {
    name: &'s str,
    node: &'s NodeFacts,
    untolerated_prefer_no_schedule: i64,
    node_preference: i64,
    least_allocated: i64,
    replicas: i64,
    inter_pod: i64,
}

/// Tallies why nodes were refused, for the message.
#[derive(Default)]
struct Diagnosis {
    /// Set when a PreFilter refused the pod outright: its reason then stands alone, without node counts.
    pre_filter_reason: Option<&'static str>,
    reasons: BTreeMap<Cow<'static, str>, usize>,
    not_helpful: usize,
    no_victims: usize,
}

impl Diagnosis {
    fn record(&mut self, rejection: Rejection, nodes: usize) {
        for reason in rejection.reasons {
            *self.reasons.entry(reason).or_default() += nodes;
        }
        if rejection.unresolvable {
            self.not_helpful += nodes;
        } else {
            self.no_victims += nodes;
        }
    }

    /// Upstream FitError: `0/N nodes are available: <sorted "count reason">.` and the preemption plugin's own
    /// FitError after it; without victims every node either cannot be helped or has no one to evict.
    fn into_unschedulable(self, node_count: usize, preemption_never: bool) -> Unschedulable {
        let filters = match self.pre_filter_reason {
            Some(reason) => reason.to_string(),
            None => histogram(self.reasons.iter().map(|(reason, count)| (reason.as_ref(), *count))),
        };
        let preemption = if preemption_never {
            PREEMPTION_NEVER.to_string()
        } else {
            let outcomes = [(PREEMPTION_NOT_HELPFUL, self.not_helpful), (PREEMPTION_NO_VICTIMS, self.no_victims)];
            format!("0/{node_count} nodes are available: {}.", histogram(outcomes.into_iter().filter(|(_, count)| *count > 0)))
        };
        Unschedulable {
            message: format!("0/{node_count} nodes are available: {filters}. preemption: {preemption}"),
            reasons: self.reasons.into_iter().map(|(reason, count)| (reason.into_owned(), count)).collect(),
        }
    }
}

/// `count reason` pairs sorted as strings, as upstream sorts them (so `10 …` comes before `2 …`).
fn histogram<'r>(counts: impl Iterator<Item = (&'r str, usize)>) -> String {
    let mut parts: Vec<String> = counts.map(|(reason, count)| format!("{count} {reason}")).collect();
    parts.sort();
    parts.join(", ")
}

impl ClusterState {
    /// Picks a node or says why none fits. Costs one pass over the nodes (plus, for a pod with pod
    /// (anti-)affinity terms, one over the pods those terms can select).
    pub fn schedule(&self, pod: &Pod) -> Result<String, Unschedulable> {
        if self.node_count == 0 {
            return Err(Unschedulable { message: NO_NODES_MESSAGE.to_string(), reasons: BTreeMap::new() });
        }
        let plan = PodPlan::new(pod);
        if plan.pinned_nodes.as_ref().is_some_and(BTreeSet::is_empty) {
            let mut diagnosis = Diagnosis { pre_filter_reason: Some(REASON_AFFINITY_TERMS_CONFLICT), ..Diagnosis::default() };
            diagnosis.record(Rejection::unresolvable(REASON_AFFINITY_TERMS_CONFLICT), self.node_count);
            return Err(diagnosis.into_unschedulable(self.node_count, plan.preemption_never));
        }
        let inter_pod = self.inter_pod_state(&plan);
        let replicas_by_slot = self.replicas_by_slot(&plan);
        let mut diagnosis = Diagnosis::default();
        let mut candidates = Vec::with_capacity(self.node_count);
        for (index, slot) in self.slots.iter().enumerate() {
            let Some((slot, node)) = slot.as_ref().and_then(|slot| Some((slot, slot.node.as_ref()?))) else { continue };
            if plan.pinned_nodes.as_ref().is_some_and(|pinned| !pinned.contains(&slot.name)) {
                diagnosis.record(Rejection::unresolvable(REASON_PINNED_ELSEWHERE), 1);
                continue;
            }
            if let Err(rejection) = filter(&plan, inter_pod.as_ref(), slot, node) {
                diagnosis.record(rejection, 1);
                continue;
            }
            candidates.push(Candidate {
                name: &slot.name,
                node,
                untolerated_prefer_no_schedule: untolerated_prefer_no_schedule(&plan, node),
                node_preference: node_preference(&plan, &slot.name, node),
                least_allocated: least_allocated(&plan, slot, node),
                replicas: replicas_by_slot.as_ref().map_or(0, |replicas| i64::from(replicas[index])),
                inter_pod: 0,
            });
        }
        if candidates.is_empty() {
            return Err(diagnosis.into_unschedulable(self.node_count, plan.preemption_never));
        }
        let inter_pod_scores = self.inter_pod_scores(&plan);
        if !inter_pod_scores.is_empty() {
            for candidate in &mut candidates {
                candidate.inter_pod = inter_pod_scores.score(&candidate.node.labels);
            }
        }
        Ok(best(&plan, &candidates, replicas_by_slot.is_some(), !inter_pod_scores.is_empty()).to_string())
    }

    /// How many replicas of the pod's controller each slot holds; `None` for a pod without a controller.
    fn replicas_by_slot(&self, plan: &PodPlan) -> Option<Vec<u32>> {
        let owner = plan.facts.spread_owner.as_ref()?;
        let mut replicas = vec![0; self.slots.len()];
        for (slot, count) in self.replicas_by_owner.get(owner).into_iter().flatten() {
            if let Some(entry) = replicas.get_mut(*slot) {
                *entry = *count;
            }
        }
        Some(replicas)
    }

    fn facts_at(&self, slot: usize) -> Option<&NodeFacts> {
        self.slots.get(slot)?.as_ref()?.node.as_ref()
    }

    /// Calls `visit` with every bound pod (and its node) in `namespaces`, or in all namespaces for `None`.
    fn for_each_pod_in(&self, namespaces: Option<&BTreeSet<String>>, mut visit: impl FnMut(&BoundPod, &NodeFacts)) {
        let mut visit_pod = |bound: &BoundPod| {
            if let Some(node) = self.facts_at(bound.slot) {
                visit(bound, node);
            }
        };
        match namespaces {
            None => self.pods.values().for_each(&mut visit_pod),
            Some(namespaces) => {
                for namespace in namespaces {
                    self.pods
                        .range((namespace.clone(), String::new())..)
                        .take_while(|((pod_namespace, _), _)| pod_namespace == namespace)
                        .for_each(|(_, bound)| visit_pod(bound));
                }
            }
        }
    }

    /// The namespaces the terms can select pods in; `None` when one of them can reach every namespace.
    fn scope_of<'t>(terms: impl Iterator<Item = &'t AffinityTerm>) -> Option<BTreeSet<String>> {
        let mut scope = BTreeSet::new();
        for term in terms {
            scope.extend(term.namespace_scope()?.iter().cloned());
        }
        Some(scope)
    }

    fn inter_pod_state(&self, plan: &PodPlan) -> Option<InterPodState> {
        let incoming = &plan.facts;
        let mut existing_anti_affinity = TopologyCounts::default();
        for key in &self.pods_with_affinity {
            let Some(bound) = self.pods.get(key) else { continue };
            let Some(node) = self.facts_at(bound.slot) else { continue };
            for term in &bound.facts.affinity.required_anti_affinity {
                if let Some(value) = node.labels.get(&term.topology_key) {
                    if term.matches(&incoming.namespace, &incoming.labels, &self.namespace_labels) {
                        existing_anti_affinity.add(&term.topology_key, value, 1);
                    }
                }
            }
        }
        if !plan.has_required_pod_terms() && existing_anti_affinity.is_empty() {
            return None;
        }
        let terms = &incoming.affinity;
        let mut affinity = TopologyCounts::default();
        let mut anti_affinity = TopologyCounts::default();
        if plan.has_required_pod_terms() {
            let scope = Self::scope_of(terms.required_affinity.iter().chain(&terms.required_anti_affinity));
            self.for_each_pod_in(scope.as_ref(), |bound, node| {
                let existing = &bound.facts;
                let matches = |term: &AffinityTerm| term.matches(&existing.namespace, &existing.labels, &self.namespace_labels);
                if !terms.required_affinity.is_empty() && terms.required_affinity.iter().all(matches) {
                    for term in &terms.required_affinity {
                        if let Some(value) = node.labels.get(&term.topology_key) {
                            affinity.add(&term.topology_key, value, 1);
                        }
                    }
                }
                for term in terms.required_anti_affinity.iter().filter(|term| matches(term)) {
                    if let Some(value) = node.labels.get(&term.topology_key) {
                        anti_affinity.add(&term.topology_key, value, 1);
                    }
                }
            });
        }
        let matches_own_affinity =
            terms.required_affinity.iter().all(|term| term.matches(&incoming.namespace, &incoming.labels, &self.namespace_labels));
        Some(InterPodState { existing_anti_affinity, affinity, anti_affinity, matches_own_affinity })
    }

    /// Upstream InterPodAffinity PreScore: the incoming pod's preferred terms toward existing pods, and existing
    /// pods' required affinity and preferred terms toward the incoming pod, summed per topology.
    fn inter_pod_scores(&self, plan: &PodPlan) -> TopologyCounts {
        let incoming = &plan.facts;
        let terms = &incoming.affinity;
        let mut scores = TopologyCounts::default();
        if !terms.preferred_affinity.is_empty() || !terms.preferred_anti_affinity.is_empty() {
            let scope = Self::scope_of(terms.preferred_affinity.iter().chain(&terms.preferred_anti_affinity).map(|(_, term)| term));
            self.for_each_pod_in(scope.as_ref(), |bound, node| {
                let existing = &bound.facts;
                let weighted = terms.preferred_affinity.iter().map(|(weight, term)| (*weight, term));
                let weighted = weighted.chain(terms.preferred_anti_affinity.iter().map(|(weight, term)| (-weight, term)));
                for (weight, term) in weighted {
                    if let Some(value) = node.labels.get(&term.topology_key) {
                        if term.matches(&existing.namespace, &existing.labels, &self.namespace_labels) {
                            scores.add(&term.topology_key, value, weight);
                        }
                    }
                }
            });
        }
        for key in &self.pods_with_affinity {
            let Some(bound) = self.pods.get(key) else { continue };
            let Some(node) = self.facts_at(bound.slot) else { continue };
            let existing = &bound.facts.affinity;
            let weighted = existing.required_affinity.iter().map(|term| (HARD_POD_AFFINITY_WEIGHT, term));
            let weighted = weighted.chain(existing.preferred_affinity.iter().map(|(weight, term)| (*weight, term)));
            let weighted = weighted.chain(existing.preferred_anti_affinity.iter().map(|(weight, term)| (-weight, term)));
            for (weight, term) in weighted {
                if let Some(value) = node.labels.get(&term.topology_key) {
                    if term.matches(&incoming.namespace, &incoming.labels, &self.namespace_labels) {
                        scores.add(&term.topology_key, value, weight);
                    }
                }
            }
        }
        scores
    }
}

/// Normalises each score to 0–100 as upstream does, weighs them and takes the highest; equal nodes are told apart
/// by a hash of pod and node name, so replicas of equal standing spread instead of piling onto the first name.
fn best<'s>(plan: &PodPlan, candidates: &[Candidate<'s>], spreading: bool, inter_pod: bool) -> &'s str {
    let max_of = |score: fn(&Candidate) -> i64| candidates.iter().map(score).max().unwrap_or(0);
    let max_taints = max_of(|candidate| candidate.untolerated_prefer_no_schedule);
    let max_preference = max_of(|candidate| candidate.node_preference);
    let max_replicas = max_of(|candidate| candidate.replicas);
    let max_inter_pod = max_of(|candidate| candidate.inter_pod);
    let min_inter_pod = candidates.iter().map(|candidate| candidate.inter_pod).min().unwrap_or(0);
    let replicas_by_zone = if spreading { replicas_by_zone(candidates) } else { HashMap::new() };
    let max_zone_replicas = replicas_by_zone.values().copied().max().unwrap_or(0);

    let mut best: Option<(i64, u64, &str)> = None;
    for candidate in candidates {
        let taint_score = MAX_NODE_SCORE - scale(candidate.untolerated_prefer_no_schedule, max_taints);
        let preference_score = scale(candidate.node_preference, max_preference);
        let spread_score = if spreading {
            let zone = candidate.node.zone.as_deref().map(|zone| (replicas_by_zone.get(zone).copied().unwrap_or(0), max_zone_replicas));
            spread_score(candidate.replicas, max_replicas, zone)
        } else {
            0
        };
        let inter_pod_score = if inter_pod && max_inter_pod > min_inter_pod {
            MAX_NODE_SCORE * (candidate.inter_pod - min_inter_pod) / (max_inter_pod - min_inter_pod)
        } else {
            0
        };
        let total = TAINT_TOLERATION_WEIGHT * taint_score
            + NODE_AFFINITY_WEIGHT * preference_score
            + LEAST_ALLOCATED_WEIGHT * candidate.least_allocated
            + SPREAD_WEIGHT * spread_score
            + INTER_POD_AFFINITY_WEIGHT * inter_pod_score;
        let tie_break = mix(plan.tie_hash ^ candidate.node.tie_hash);
        if best.is_none_or(|(best_total, best_tie, _)| (total, tie_break) > (best_total, best_tie)) {
            best = Some((total, tie_break, candidate.name));
        }
    }
    best.map_or("", |(_, _, name)| name)
}

/// Replicas of the pod's controller per zone, over the nodes being scored (upstream's SelectorSpread).
fn replicas_by_zone<'s>(candidates: &[Candidate<'s>]) -> HashMap<&'s str, i64> {
    let mut zones = HashMap::new();
    for candidate in candidates {
        if let Some(zone) = candidate.node.zone.as_deref() {
            *zones.entry(zone).or_default() += candidate.replicas;
        }
    }
    zones
}

/// Upstream DefaultNormalizeScore: `value` as a share of the highest value, 0–100.
fn scale(value: i64, max: i64) -> i64 {
    if max == 0 {
        0
    } else {
        MAX_NODE_SCORE * value / max
    }
}

/// Fewer replicas of the same controller score higher, on the node and (weighing two thirds) in its zone.
fn spread_score(replicas: i64, max_replicas: i64, zone: Option<(i64, i64)>) -> i64 {
    let node_score = if max_replicas > 0 { MAX_NODE_SCORE * (max_replicas - replicas) / max_replicas } else { MAX_NODE_SCORE };
    match zone {
        Some((zone_replicas, max_zone_replicas)) => {
            let zone_score = if max_zone_replicas > 0 {
                MAX_NODE_SCORE * (max_zone_replicas - zone_replicas) / max_zone_replicas
            } else {
                MAX_NODE_SCORE
            };
            (node_score + 2 * zone_score) / 3
        }
        None => node_score,
    }
}

/// SplitMix64's finaliser: spreads the combined hash so tie breaks look random but stay reproducible.
fn mix(value: u64) -> u64 {
    let value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

/// Upstream TaintToleration score input: PreferNoSchedule taints the pod does not tolerate.
fn untolerated_prefer_no_schedule(plan: &PodPlan, node: &NodeFacts) -> i64 {
    if node.taints.is_empty() {
        return 0;
    }
    let untolerated = node
        .taints
        .iter()
        .filter(|taint| taint.effect == "PreferNoSchedule")
        .filter(|taint| !tolerates(plan.tolerations, &taint.key, taint.value.as_deref().unwrap_or(""), &taint.effect))
        .count();
    i64::try_from(untolerated).unwrap_or(i64::MAX)
}

/// Upstream NodeAffinity score input: the summed weights of the preferred terms the node matches.
fn node_preference(plan: &PodPlan, name: &str, node: &NodeFacts) -> i64 {
    plan.preferred_node_terms.iter().filter(|(_, term)| term.matches(name, &node.labels)).map(|(weight, _)| weight).sum()
}

/// Upstream NodeResourcesLeastAllocated with cpu and memory weighing 1 each, on the requests counted with
/// defaults for containers that request nothing.
fn least_allocated(plan: &PodPlan, slot: &NodeSlot, node: &NodeFacts) -> i64 {
    let free_share = |requested: i64, capacity: i64| -> i64 {
        if capacity <= 0 || requested > capacity {
            return 0;
        }
        match (capacity - requested).checked_mul(MAX_NODE_SCORE) {
            Some(scaled) => scaled / capacity,
            None => (i128::from(capacity - requested) * i128::from(MAX_NODE_SCORE) / i128::from(capacity)) as i64,
        }
    };
    let usage = &plan.facts.usage;
    let cpu = free_share(slot.nonzero_milli_cpu.saturating_add(usage.nonzero_milli_cpu), node.allocatable.milli_cpu);
    let memory = free_share(slot.nonzero_memory_bytes.saturating_add(usage.nonzero_memory_bytes), node.allocatable.memory_bytes);
    (cpu + memory) / 2
}

/// Runs the filters in upstream's order and stops at the first that refuses the node.
fn filter(plan: &PodPlan, inter_pod: Option<&InterPodState>, slot: &NodeSlot, node: &NodeFacts) -> Result<(), Rejection> {
    if node.unschedulable && !tolerates(plan.tolerations, UNSCHEDULABLE_TAINT_KEY, "", "NoSchedule") {
        return Err(Rejection::unresolvable(REASON_UNSCHEDULABLE));
    }
    let untolerated = !node.taints.is_empty()
        && node.taints.iter().any(|taint| {
            (taint.effect == "NoSchedule" || taint.effect == "NoExecute")
                && !tolerates(plan.tolerations, &taint.key, taint.value.as_deref().unwrap_or(""), &taint.effect)
        });
    if untolerated {
        return Err(Rejection::unresolvable(REASON_UNTOLERATED_TAINT));
    }
    if !plan.matches_node_affinity(&slot.name, node) {
        return Err(Rejection::unresolvable(REASON_NODE_AFFINITY));
    }
    if plan.facts.host_ports.iter().any(|wanted| port_taken(&slot.host_ports, wanted)) {
        return Err(Rejection::resolvable(REASON_HOST_PORTS));
    }
    fits_resources(plan, slot, node)?;
    match inter_pod {
        Some(state) => fits_inter_pod(plan, state, node),
        None => Ok(()),
    }
}

/// Upstream `HostPortInfo.CheckConflict`: a wildcard address clashes with the port on any address, a specific
/// address with the same address or the wildcard.
fn port_taken(used: &HashMap<HostPort, u32>, wanted: &HostPort) -> bool {
    if wanted.ip == ANY_IP {
        used.keys().any(|port| port.protocol == wanted.protocol && port.port == wanted.port)
    } else {
        let wildcard = HostPort { ip: ANY_IP.to_string(), ..wanted.clone() };
        used.contains_key(wanted) || used.contains_key(&wildcard)
    }
}

/// Upstream NodeResourcesFit: every shortage is a reason; a request larger than the whole node cannot be
/// resolved by evicting anything.
fn fits_resources(plan: &PodPlan, slot: &NodeSlot, node: &NodeFacts) -> Result<(), Rejection> {
    let wanted = &plan.facts.usage.requests;
    let (allocatable, used) = (&node.allocatable, &slot.requested);
    let mut rejection = Rejection { reasons: Vec::new(), unresolvable: false };
    let mut short = |shortfall: Option<bool>, reason: &'static str| {
        if let Some(unresolvable) = shortfall {
            rejection.reasons.push(Cow::Borrowed(reason));
            rejection.unresolvable |= unresolvable;
        }
    };
    short((slot.pod_count >= node.allowed_pods).then_some(false), REASON_TOO_MANY_PODS);
    short(shortfall(wanted.milli_cpu, allocatable.milli_cpu, used.milli_cpu), "Insufficient cpu");
    short(shortfall(wanted.memory_bytes, allocatable.memory_bytes, used.memory_bytes), "Insufficient memory");
    short(
        shortfall(wanted.ephemeral_storage_bytes, allocatable.ephemeral_storage_bytes, used.ephemeral_storage_bytes),
        "Insufficient ephemeral-storage",
    );
    for (name, &request) in &wanted.scalar {
        let capacity = allocatable.scalar.get(name).copied().unwrap_or(0);
        if let Some(unresolvable) = shortfall(request, capacity, used.scalar.get(name).copied().unwrap_or(0)) {
            rejection.reasons.push(Cow::Owned(format!("Insufficient {name}")));
            rejection.unresolvable |= unresolvable;
        }
    }
    if rejection.reasons.is_empty() {
        Ok(())
    } else {
        Err(rejection)
    }
}

/// `Some` when the request does not fit what is left, with whether it exceeds even the empty node.
fn shortfall(request: i64, capacity: i64, taken: i64) -> Option<bool> {
    (request > 0 && request > capacity.saturating_sub(taken)).then_some(request > capacity)
}

/// Upstream InterPodAffinity Filter: the pod's required affinity, its required anti-affinity, then existing pods'
/// required anti-affinity toward it.
fn fits_inter_pod(plan: &PodPlan, state: &InterPodState, node: &NodeFacts) -> Result<(), Rejection> {
    let terms = &plan.facts.affinity;
    let mut all_topologies_hold_pods = true;
    for term in &terms.required_affinity {
        match node.labels.get(&term.topology_key) {
            Some(value) => all_topologies_hold_pods &= state.affinity.get(&term.topology_key, value) > 0,
            None => return Err(Rejection::unresolvable(REASON_POD_AFFINITY)),
        }
    }
    // The first pod of a group that attracts itself may go anywhere the topologies exist.
    let starts_group = state.affinity.is_empty() && state.matches_own_affinity;
    if !(all_topologies_hold_pods || starts_group) {
        return Err(Rejection::unresolvable(REASON_POD_AFFINITY));
    }
    let repelled = terms
        .required_anti_affinity
        .iter()
        .any(|term| node.labels.get(&term.topology_key).is_some_and(|value| state.anti_affinity.get(&term.topology_key, value) > 0));
    if repelled {
        return Err(Rejection::resolvable(REASON_POD_ANTI_AFFINITY));
    }
    if state.existing_anti_affinity.touches(&node.labels) {
        return Err(Rejection::resolvable(REASON_EXISTING_ANTI_AFFINITY));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::state::tests::{bound, node, owned_by, pod};
    use k8s_openapi::api::core::v1::{
        Affinity, ContainerPort, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, PodAffinity, PodAffinityTerm, PodAntiAffinity,
        PreferredSchedulingTerm, Taint, WeightedPodAffinityTerm,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use std::time::Instant;

    fn cluster(nodes: &[Node]) -> ClusterState {
        let mut state = ClusterState::new();
        nodes.iter().for_each(|node| state.upsert_node(node));
        state
    }

    fn labelled(mut node: Node, pairs: &[(&str, &str)]) -> Node {
        let labels = node.metadata.labels.get_or_insert_with(Default::default);
        labels.extend(pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())));
        node
    }

    fn tainted(mut node: Node, key: &str, value: &str, effect: &str) -> Node {
        let taint = Taint { key: key.into(), value: (!value.is_empty()).then(|| value.into()), effect: effect.into(), time_added: None };
        node.spec.get_or_insert_with(Default::default).taints.get_or_insert_with(Vec::new).push(taint);
        node
    }

    fn cordoned(mut node: Node) -> Node {
        node.spec.get_or_insert_with(Default::default).unschedulable = Some(true);
        node
    }

    fn with_labels(mut pod: Pod, pairs: &[(&str, &str)]) -> Pod {
        pod.metadata.labels = Some(pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect());
        pod
    }

    fn tolerating(mut pod: Pod, key: &str, operator: &str, effect: &str) -> Pod {
        let text = |text: &str| (!text.is_empty()).then(|| text.to_string());
        let toleration =
            Toleration { key: text(key), operator: text(operator), effect: text(effect), value: None, toleration_seconds: None };
        pod.spec.get_or_insert_with(Default::default).tolerations.get_or_insert_with(Vec::new).push(toleration);
        pod
    }

    fn with_host_port(mut pod: Pod, port: i32, ip: &str, protocol: &str) -> Pod {
        let text = |text: &str| (!text.is_empty()).then(|| text.to_string());
        let ports = &mut pod.spec.get_or_insert_with(Default::default).containers[0].ports;
        ports.get_or_insert_with(Vec::new).push(ContainerPort {
            container_port: port,
            host_port: Some(port),
            host_ip: text(ip),
            protocol: text(protocol),
            ..Default::default()
        });
        pod
    }

    fn affinity(mut pod: Pod, affinity: Affinity) -> Pod {
        pod.spec.get_or_insert_with(Default::default).affinity = Some(affinity);
        pod
    }

    fn requirement(key: &str, operator: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|value| value.to_string()).collect()),
        }
    }

    fn required_node_affinity(expressions: Vec<NodeSelectorRequirement>, fields: Vec<NodeSelectorRequirement>) -> Affinity {
        Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: (!expressions.is_empty()).then_some(expressions),
                        match_fields: (!fields.is_empty()).then_some(fields),
                    }],
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn term_on(app: &str, topology_key: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([("app".to_string(), app.to_string())])),
                ..Default::default()
            }),
            topology_key: topology_key.into(),
            ..Default::default()
        }
    }

    fn anti_affinity_to(app: &str) -> Affinity {
        Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![term_on(app, "kubernetes.io/hostname")]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn affinity_to(app: &str, topology_key: &str) -> Affinity {
        Affinity {
            pod_affinity: Some(PodAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![term_on(app, topology_key)]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn message(state: &ClusterState, pod: &Pod) -> String {
        state.schedule(pod).expect_err("should not fit").message
    }

    #[test]
    fn no_nodes_at_all_reads_like_upstream() {
        let outcome = ClusterState::new().schedule(&pod("web", "100m", ""));
        assert_eq!(outcome.expect_err("no nodes").message, "no nodes available to schedule pods");
    }

    #[test]
    fn requests_are_checked_against_allocatable_minus_bound_and_assumed_pods() {
        let mut state = cluster(&[node("n1", "2", "4Gi", "110")]);
        state.upsert_pod(&bound(pod("bound", "1", "1Gi"), "n1"));
        assert_eq!(state.schedule(&pod("fits", "1", "3Gi")), Ok("n1".to_string()));
        state.assume(&pod("assumed", "500m", ""), "n1");
        assert_eq!(
            message(&state, &pod("too-big", "1", "")),
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        );
        assert_eq!(state.schedule(&pod("small", "500m", "")), Ok("n1".to_string()));
        state.upsert_pod(&bound(pod("assumed", "500m", ""), "n1"));
        assert_eq!(state.schedule(&pod("small", "500m", "")), Ok("n1".to_string()), "confirming the assumed pod does not count it twice");
        state.remove_pod("default", "bound");
        assert_eq!(state.schedule(&pod("now-fits", "1500m", "")), Ok("n1".to_string()));
    }

    #[test]
    fn every_shortage_of_a_node_is_a_reason_and_a_pod_bigger_than_any_node_cannot_preempt() {
        let mut state = cluster(&[node("n1", "1", "1Gi", "1"), node("n2", "8", "64Gi", "110")]);
        state.upsert_pod(&bound(pod("full", "", ""), "n1"));
        assert_eq!(
            message(&state, &pod("huge", "16", "2Gi")),
            "0/2 nodes are available: 1 Insufficient memory, 1 Too many pods, 2 Insufficient cpu. \
             preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        );
        let outcome = state.schedule(&pod("huge", "16", "2Gi")).expect_err("does not fit");
        assert_eq!(outcome.reasons.get("Insufficient cpu"), Some(&2));
        let mut gpu = pod("gpu", "", "");
        gpu.spec.as_mut().expect("spec").containers[0].resources.as_mut().expect("resources").requests =
            Some(BTreeMap::from([("example.com/gpu".to_string(), k8s_openapi::apimachinery::pkg::api::resource::Quantity("1".into()))]));
        assert!(message(&state, &gpu).starts_with("0/2 nodes are available: 1 Too many pods, 2 Insufficient example.com/gpu."));
    }

    #[test]
    fn the_message_counts_and_sorts_reasons_of_a_mixed_cluster() {
        let mut state = cluster(&[
            node("big", "8", "16Gi", "110"),
            tainted(node("control-plane", "8", "16Gi", "110"), "node-role.kubernetes.io/control-plane", "", "NoSchedule"),
            tainted(node("lost", "8", "16Gi", "110"), "node.kubernetes.io/not-ready", "", "NoExecute"),
            cordoned(node("drained", "8", "16Gi", "110")),
            labelled(node("small-1", "2", "2Gi", "110"), &[("disk", "ssd")]),
            labelled(node("small-2", "2", "2Gi", "110"), &[("disk", "ssd")]),
        ]);
        state.upsert_pod(&bound(pod("half-1", "1", ""), "small-1"));
        state.upsert_pod(&bound(pod("half-2", "1", ""), "small-2"));
        let mut wants_ssd = pod("web", "2", "");
        wants_ssd.spec.as_mut().expect("spec").node_selector = Some(BTreeMap::from([("disk".to_string(), "ssd".to_string())]));
        assert_eq!(
            message(&state, &wants_ssd),
            "0/6 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were unschedulable, \
             2 Insufficient cpu, 2 node(s) had untolerated taint(s). \
             preemption: 0/6 nodes are available: 2 No preemption victims found for incoming pod, 4 Preemption is not helpful for scheduling."
        );
        wants_ssd.spec.as_mut().expect("spec").preemption_policy = Some("Never".into());
        assert!(message(&state, &wants_ssd).ends_with(". preemption: not eligible due to preemptionPolicy=Never."));
    }

    #[test]
    fn reasons_sort_as_text_so_ten_comes_before_two() {
        let mut nodes: Vec<Node> = (0..10).map(|index| cordoned(node(&format!("c{index}"), "1", "1Gi", "110"))).collect();
        nodes.extend((0..2).map(|index| node(&format!("s{index}"), "1", "1Gi", "110")));
        assert_eq!(
            message(&cluster(&nodes), &pod("web", "2", "")),
            "0/12 nodes are available: 10 node(s) were unschedulable, 2 Insufficient cpu. \
             preemption: 0/12 nodes are available: 12 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn taints_with_no_schedule_or_no_execute_need_a_toleration() {
        let state = cluster(&[
            tainted(node("gpu", "4", "8Gi", "110"), "dedicated", "gpu", "NoSchedule"),
            tainted(node("soft", "4", "8Gi", "110"), "dedicated", "batch", "PreferNoSchedule"),
        ]);
        assert_eq!(state.schedule(&pod("web", "", "")), Ok("soft".to_string()), "PreferNoSchedule only lowers the score");
        let state = cluster(&[tainted(node("gpu", "4", "8Gi", "110"), "dedicated", "gpu", "NoSchedule")]);
        assert!(message(&state, &pod("web", "", "")).starts_with("0/1 nodes are available: 1 node(s) had untolerated taint(s)."));
        assert_eq!(state.schedule(&tolerating(pod("web", "", ""), "dedicated", "Exists", "NoSchedule")), Ok("gpu".to_string()));
        assert_eq!(state.schedule(&tolerating(pod("web", "", ""), "", "Exists", "")), Ok("gpu".to_string()));
        assert!(state.schedule(&tolerating(pod("web", "", ""), "dedicated", "Exists", "NoExecute")).is_err());
        let not_ready = cluster(&[tainted(node("n1", "4", "8Gi", "110"), "node.kubernetes.io/not-ready", "", "NoExecute")]);
        assert!(not_ready.schedule(&pod("web", "", "")).is_err(), "a not-ready node is refused through its taint");
    }

    #[test]
    fn prefer_no_schedule_taints_steer_toward_untainted_nodes() {
        let state = cluster(&[
            tainted(node("a", "4", "8Gi", "110"), "spot", "", "PreferNoSchedule"),
            tainted(node("b", "4", "8Gi", "110"), "spot", "", "PreferNoSchedule"),
            node("c", "4", "8Gi", "110"),
        ]);
        for name in ["p1", "p2", "p3", "p4"] {
            assert_eq!(state.schedule(&pod(name, "", "")), Ok("c".to_string()));
        }
    }

    #[test]
    fn cordoned_nodes_take_only_pods_tolerating_the_unschedulable_taint() {
        let state = cluster(&[cordoned(node("n1", "4", "8Gi", "110"))]);
        assert!(message(&state, &pod("web", "", "")).starts_with("0/1 nodes are available: 1 node(s) were unschedulable."));
        let daemon = tolerating(pod("daemon", "", ""), "node.kubernetes.io/unschedulable", "Exists", "NoSchedule");
        assert_eq!(state.schedule(&daemon), Ok("n1".to_string()));
    }

    #[test]
    fn node_selector_and_required_node_affinity_pick_matching_nodes() {
        let state = cluster(&[
            labelled(node("a", "4", "8Gi", "110"), &[("zone", "east"), ("cores", "4")]),
            labelled(node("b", "4", "8Gi", "110"), &[("zone", "west"), ("cores", "16")]),
        ]);
        let mut selected = pod("web", "", "");
        selected.spec.as_mut().expect("spec").node_selector = Some(BTreeMap::from([("zone".to_string(), "west".to_string())]));
        assert_eq!(state.schedule(&selected), Ok("b".to_string()));
        let cases = [
            (requirement("zone", "In", &["east"]), "a"),
            (requirement("zone", "NotIn", &["east"]), "b"),
            (requirement("cores", "Gt", &["8"]), "b"),
            (requirement("cores", "Lt", &["8"]), "a"),
        ];
        for (expression, expected) in cases {
            assert_eq!(
                state.schedule(&affinity(pod("web", "", ""), required_node_affinity(vec![expression], vec![]))),
                Ok(expected.to_string())
            );
        }
        let nowhere = affinity(pod("web", "", ""), required_node_affinity(vec![requirement("gpu", "Exists", &[])], vec![]));
        assert_eq!(
            message(&state, &nowhere),
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. \
             preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        );
        let everywhere = affinity(pod("web", "", ""), required_node_affinity(vec![requirement("gpu", "DoesNotExist", &[])], vec![]));
        assert!(state.schedule(&everywhere).is_ok());
    }

    #[test]
    fn match_fields_on_the_node_name_pin_the_pod() {
        let mut state = cluster(&[node("a", "4", "8Gi", "110"), node("b", "4", "8Gi", "110"), node("c", "4", "8Gi", "110")]);
        state.upsert_pod(&bound(pod("busy", "3", ""), "b"));
        let pinned = affinity(pod("daemon", "2", ""), required_node_affinity(vec![], vec![requirement("metadata.name", "In", &["b"])]));
        assert_eq!(
            message(&state, &pinned),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]. \
             preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
        );
        let pinned = affinity(pod("daemon", "", ""), required_node_affinity(vec![], vec![requirement("metadata.name", "In", &["c"])]));
        assert_eq!(state.schedule(&pinned), Ok("c".to_string()));
        let excluded =
            affinity(pod("web", "", ""), required_node_affinity(vec![], vec![requirement("metadata.name", "NotIn", &["a", "c"])]));
        assert_eq!(state.schedule(&excluded), Ok("b".to_string()));
        let conflicting = affinity(
            pod("web", "", ""),
            required_node_affinity(vec![], vec![requirement("metadata.name", "In", &["a"]), requirement("metadata.name", "In", &["b"])]),
        );
        assert_eq!(
            message(&state, &conflicting),
            "0/3 nodes are available: pod affinity terms conflict. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn host_ports_clash_by_protocol_port_and_address() {
        let mut state = cluster(&[node("n1", "4", "8Gi", "110")]);
        state.upsert_pod(&bound(with_host_port(pod("dns", "", ""), 53, "10.0.0.1", "UDP"), "n1"));
        let clash = "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. \
                     preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";
        assert_eq!(message(&state, &with_host_port(pod("p", "", ""), 53, "", "UDP")), clash, "the wildcard clashes with any address");
        assert_eq!(message(&state, &with_host_port(pod("p", "", ""), 53, "10.0.0.1", "UDP")), clash);
        assert!(state.schedule(&with_host_port(pod("p", "", ""), 53, "", "")).is_ok(), "TCP is another protocol");
        assert!(state.schedule(&with_host_port(pod("p", "", ""), 53, "10.0.0.2", "UDP")).is_ok(), "another address");
        state.upsert_pod(&bound(with_host_port(pod("web", "", ""), 80, "", ""), "n1"));
        assert_eq!(message(&state, &with_host_port(pod("p", "", ""), 80, "10.0.0.9", "TCP")), clash, "a held wildcard clashes too");
    }

    #[test]
    fn required_anti_affinity_keeps_the_pod_away_from_matching_pods() {
        let mut state = cluster(&[node("a", "4", "8Gi", "110"), node("b", "4", "8Gi", "110")]);
        state.upsert_pod(&bound(with_labels(pod("db-0", "", ""), &[("app", "db")]), "a"));
        state.upsert_pod(&bound(with_labels(pod("db-1", "", ""), &[("app", "db")]), "b"));
        let away_from_db = affinity(with_labels(pod("web", "", ""), &[("app", "web")]), anti_affinity_to("db"));
        assert_eq!(
            message(&state, &away_from_db),
            "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. \
             preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
        );
        state.upsert_node(&node("c", "4", "8Gi", "110"));
        assert_eq!(state.schedule(&away_from_db), Ok("c".to_string()));
        state.assume(&away_from_db, "c");
        let second = affinity(with_labels(pod("web-2", "", ""), &[("app", "web")]), anti_affinity_to("web"));
        let placed = state.schedule(&second).expect("fits");
        assert!(placed == "a" || placed == "b", "an assumed pod repels as a bound one does: {placed}");
    }

    #[test]
    fn existing_pods_anti_affinity_keeps_matching_pods_away() {
        let mut state = cluster(&[node("a", "4", "8Gi", "110"), node("b", "4", "8Gi", "110")]);
        state.upsert_pod(&bound(affinity(with_labels(pod("loner-a", "", ""), &[("app", "x")]), anti_affinity_to("web")), "a"));
        state.upsert_pod(&bound(affinity(with_labels(pod("loner-b", "", ""), &[("app", "x")]), anti_affinity_to("web")), "b"));
        assert_eq!(
            message(&state, &with_labels(pod("web", "", ""), &[("app", "web")])),
            "0/2 nodes are available: 2 node(s) didn't satisfy existing pods anti-affinity rules. \
             preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
        );
        assert!(state.schedule(&with_labels(pod("api", "", ""), &[("app", "api")])).is_ok());
        let mut elsewhere = with_labels(pod("web", "", ""), &[("app", "web")]);
        elsewhere.metadata.namespace = Some("other".into());
        assert!(state.schedule(&elsewhere).is_ok(), "the term only looks at its own namespace");
    }

    #[test]
    fn required_affinity_follows_the_topology_of_matching_pods() {
        let mut state = cluster(&[
            labelled(node("a", "4", "8Gi", "110"), &[("zone", "east")]),
            labelled(node("b", "4", "8Gi", "110"), &[("zone", "east")]),
            labelled(node("c", "4", "8Gi", "110"), &[("zone", "west")]),
            node("d", "4", "8Gi", "110"),
        ]);
        let follower = affinity(with_labels(pod("web", "", ""), &[("app", "web")]), affinity_to("cache", "zone"));
        assert_eq!(
            message(&state, &follower),
            "0/4 nodes are available: 4 node(s) didn't match pod affinity rules. \
             preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
        );
        let first_of_group = affinity(with_labels(pod("cache-0", "", ""), &[("app", "cache")]), affinity_to("cache", "zone"));
        let placed = state.schedule(&first_of_group).expect("the first of a group may start it");
        assert_ne!(placed, "d", "the first of a group still needs the topology label");
        state.upsert_pod(&bound(with_labels(pod("cache-0", "", ""), &[("app", "cache")]), "c"));
        for attempt in 0..4 {
            let follower = affinity(with_labels(pod(&format!("web-{attempt}"), "", ""), &[("app", "web")]), affinity_to("cache", "zone"));
            assert_eq!(state.schedule(&follower), Ok("c".to_string()));
        }
    }

    #[test]
    fn three_replicas_of_one_owner_land_on_three_equal_nodes() {
        let mut state = cluster(&[node("n1", "4", "8Gi", "110"), node("n2", "4", "8Gi", "110"), node("n3", "4", "8Gi", "110")]);
        let mut placed = BTreeSet::new();
        for replica in ["web-7c9f-a", "web-7c9f-b", "web-7c9f-c"] {
            let replica = owned_by(pod(replica, "100m", "128Mi"), "rs-web");
            let node = state.schedule(&replica).expect("fits");
            state.assume(&replica, &node);
            placed.insert(node);
        }
        assert_eq!(placed.len(), 3, "{placed:?}");
    }

    #[test]
    fn spreading_outweighs_a_slightly_emptier_node() {
        let mut state = cluster(&[node("n1", "4", "8Gi", "110"), node("n2", "4", "8Gi", "110")]);
        state.upsert_pod(&bound(owned_by(pod("web-a", "100m", "128Mi"), "rs-web"), "n1"));
        state.upsert_pod(&bound(pod("other", "300m", "256Mi"), "n2"));
        assert_eq!(state.schedule(&owned_by(pod("web-b", "100m", "128Mi"), "rs-web")), Ok("n2".to_string()));
    }

    #[test]
    fn replicas_spread_over_zones_before_nodes() {
        let mut state = cluster(&[
            labelled(node("east-1", "4", "8Gi", "110"), &[("topology.kubernetes.io/zone", "east")]),
            labelled(node("east-2", "4", "8Gi", "110"), &[("topology.kubernetes.io/zone", "east")]),
            labelled(node("west-1", "4", "8Gi", "110"), &[("topology.kubernetes.io/zone", "west")]),
        ]);
        state.upsert_pod(&bound(owned_by(pod("web-a", "", ""), "rs-web"), "east-1"));
        assert_eq!(state.schedule(&owned_by(pod("web-b", "", ""), "rs-web")), Ok("west-1".to_string()));
    }

    #[test]
    fn equal_nodes_are_shared_out_by_pod_name_and_stay_put_for_the_same_pod() {
        let state = cluster(&[node("n1", "4", "8Gi", "110"), node("n2", "4", "8Gi", "110"), node("n3", "4", "8Gi", "110")]);
        let chosen: BTreeSet<String> = (0..30).map(|index| state.schedule(&pod(&format!("job-{index}"), "", "")).expect("fits")).collect();
        assert_eq!(chosen.len(), 3, "equal nodes are not always the alphabetically first: {chosen:?}");
        for index in 0..5 {
            let name = format!("job-{index}");
            assert_eq!(state.schedule(&pod(&name, "", "")), state.schedule(&pod(&name, "", "")));
        }
    }

    #[test]
    fn unequal_nodes_pick_the_least_allocated() {
        let mut state = cluster(&[node("n1", "4", "8Gi", "110"), node("n2", "4", "8Gi", "110")]);
        state.upsert_pod(&bound(pod("busy", "2", "4Gi"), "n1"));
        for index in 0..5 {
            assert_eq!(state.schedule(&pod(&format!("p{index}"), "100m", "")), Ok("n2".to_string()));
        }
    }

    #[test]
    fn preferred_node_affinity_and_pod_affinity_steer_placement() {
        let mut state = cluster(&[
            labelled(node("a", "4", "8Gi", "110"), &[("disk", "hdd")]),
            labelled(node("b", "4", "8Gi", "110"), &[("disk", "ssd")]),
        ]);
        let preference = Affinity {
            node_affinity: Some(NodeAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![PreferredSchedulingTerm {
                    weight: 50,
                    preference: NodeSelectorTerm { match_expressions: Some(vec![requirement("disk", "In", &["ssd"])]), match_fields: None },
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        for index in 0..4 {
            assert_eq!(state.schedule(&affinity(pod(&format!("p{index}"), "", ""), preference.clone())), Ok("b".to_string()));
        }
        state.upsert_pod(&bound(with_labels(pod("cache", "", ""), &[("app", "cache")]), "a"));
        let near_cache = Affinity {
            pod_affinity: Some(PodAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: term_on("cache", "kubernetes.io/hostname"),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        for index in 0..4 {
            assert_eq!(state.schedule(&affinity(pod(&format!("q{index}"), "", ""), near_cache.clone())), Ok("a".to_string()));
        }
    }

    #[test]
    fn the_scheduled_event_message_names_pod_and_node() {
        assert_eq!(scheduled_message("default", "web", "n1"), "Successfully assigned default/web to n1");
    }

    #[test]
    fn ten_thousand_pods_onto_a_thousand_nodes() {
        let mut state = ClusterState::new();
        for index in 0..1000 {
            state.upsert_node(&node(&format!("node-{index:04}"), "32", "128Gi", "110"));
        }
        let started = Instant::now();
        for index in 0..10_000 {
            let replica = owned_by(pod(&format!("web-{}-{index}", index % 100), "100m", "128Mi"), &format!("rs-{}", index % 100));
            let node = state.schedule(&replica).expect("fits");
            state.assume(&replica, &node);
        }
        println!("scheduled 10000 pods onto 1000 nodes in {:?}", started.elapsed());
        let crowded = state.replicas_by_owner.values().flat_map(HashMap::values).filter(|count| **count > 1).count();
        assert_eq!(crowded, 0, "100 replicas of each owner over 1000 nodes never share a node");
        assert_eq!(state.pods.len(), 10_000);
    }
}
