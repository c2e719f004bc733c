//! StatefulSet control loop decisions, as upstream's StatefulSet controller (pkg/controller/statefulset)
//! makes them: given a StatefulSet, the pods, ControllerRevisions and PersistentVolumeClaims of its
//! namespace and the time, which revisions to create, renumber (rollback) or prune, which pods to adopt or
//! release, which claims and pods `<set>-<ordinal>` to create (OrderedReady: one at a time, each only after
//! its predecessors are Running and Ready; Parallel: all at once), which failed pods to replace, which pods to
//! delete on scale-down (highest ordinal first) and for a rolling update (highest ordinal down to the
//! partition, one at a time or up to `maxUnavailable`), the status, and the Events upstream records.
//!
//! Not covered: the PersistentVolumeClaim retention policy (claims are always retained: created without
//! owner references and never deleted), and adopting orphaned ControllerRevisions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetSpec, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json, Value};

use super::event::Event;
use super::ownership::{adopt_patch, claim, release_patch, selector_matches, Claim};
use super::podutil::{controller_of, controller_ref, is_available, is_ready};

/// Each pod's own name, so a Service can select exactly one pod.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// Each pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The ControllerRevision a pod was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";
/// The hash label every ControllerRevision carries.
pub const REVISION_HASH_LABEL: &str = "controller.kubernetes.io/hash";

const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;
/// Name collisions of revision hashes are astronomically rare; this bounds the probing anyway.
const MAX_COLLISION_PROBES: i32 = 100;
/// Upstream cuts the set name to this many bytes in revision names.
const MAX_REVISION_PREFIX: usize = 223;

/// One step for the lead to carry out. Steps run in order; when one fails, emit its `failure_events`, skip
/// the rest and retry later with backoff (a NotFound on a delete counts as done; skip the Event that
/// immediately follows it).
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Create this ControllerRevision.
    CreateRevision(Box<ControllerRevision>),
    /// A rollback to an older template: give that revision the next number (merge patch `{"revision": n}`).
    RenumberRevision {
        name: String,
        revision: i64,
    },
    /// History beyond `revisionHistoryLimit`.
    DeleteRevision {
        name: String,
    },
    /// A strategic-merge patch to a pod: adoption or release.
    PatchPod {
        name: String,
        patch: Value,
    },
    /// Create a claim for `pod_name` (AlreadyExists counts as done); `for_new_pod` says whether the pod is
    /// being created by this plan (its failure is then reported for the pod too).
    CreateClaim {
        claim: Box<PersistentVolumeClaim>,
        pod_name: String,
        for_new_pod: bool,
    },
    /// Create the pod; an AlreadyExists failure records no Event (upstream sinks it) and is retried.
    CreatePod(Box<Pod>),
    /// Replace the pod (PUT with its resourceVersion): its identity labels or claim volumes were off.
    UpdatePod(Box<Pod>),
    DeletePod {
        name: String,
        uid: String,
    },
    Event(Event),
    /// Replace the StatefulSet's status subresource with this one.
    UpdateStatus(Box<StatefulSetStatus>),
}

impl Action {
    /// The Events upstream records when this step fails with `error`.
    pub fn failure_events(&self, set_name: &str, error: &str) -> Vec<Event> {
        let pod_failed = |verb: &str, pod: &str, error: &str| {
            let reason = format!("Failed{}{}", verb[..1].to_uppercase(), &verb[1..]);
            Event::warning(&reason, format!("{verb} Pod {pod} in StatefulSet {set_name} failed error: {error}"))
        };
        let pod_name = |pod: &Pod| pod.metadata.name.clone().unwrap_or_default();
        match self {
            Action::CreateClaim { claim, pod_name, for_new_pod } => {
                let claim_name = claim.metadata.name.as_deref().unwrap_or_default();
                let mut events = vec![Event::warning(
                    "FailedCreate",
                    format!("create Claim {claim_name} for Pod {pod_name} in StatefulSet {set_name} failed error: {error}"),
                )];
                if *for_new_pod {
                    events.push(pod_failed("create", pod_name, &format!("failed to create PVC {claim_name}: {error}")));
                }
                events
            }
            Action::CreatePod(pod) => vec![pod_failed("create", &pod_name(pod), error)],
            Action::UpdatePod(pod) => vec![pod_failed("update", &pod_name(pod), error)],
            Action::DeletePod { name, .. } => vec![pod_failed("delete", name, error)],
            _ => Vec::new(),
        }
    }
}

/// Everything one reconcile decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Reconcile again after this long (pods waiting out `minReadySeconds`); `None` waits for a change.
    pub requeue_after: Option<Duration>,
}

/// The name of a revision: `<set>-<hash>`.
pub fn revision_name(set_name: &str, hash: &str) -> String {
    let mut cut = set_name.len().min(MAX_REVISION_PREFIX);
    while !set_name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{hash}", &set_name[..cut])
}

/// Upstream `HashControllerRevision`: FNV-1 (32-bit) of the revision data with the collision count appended,
/// as decimal digits mapped onto consonants and digits (`SafeEncodeString`). The data is hashed in a
/// canonical JSON form (keys sorted), so equal templates hash equally however they were serialized.
pub fn revision_hash(data: &Value, collision_count: i32) -> String {
    const FNV_OFFSET: u32 = 2_166_136_261;
    const FNV_PRIME: u32 = 16_777_619;
    const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bytes = String::new();
    write_canonical(data, &mut bytes);
    bytes.push_str(&collision_count.to_string());
    let hash = bytes.bytes().fold(FNV_OFFSET, |hash, byte| hash.wrapping_mul(FNV_PRIME) ^ u32::from(byte));
    hash.to_string().bytes().map(|digit| char::from(SAFE_ALPHABET[usize::from(digit) % SAFE_ALPHABET.len()])).collect()
}

/// The revision data upstream stores: a strategic-merge patch replacing the pod template.
pub fn revision_data(template: &PodTemplateSpec) -> Value {
    let mut template = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Value::Object(fields) = &mut template {
        fields.insert("$patch".to_string(), json!("replace"));
    }
    json!({ "spec": { "template": template } })
}

/// Upstream `newRevision`: the set's template as a revision numbered `revision`, named by its hash, labelled
/// with the template's labels and the hash, annotated with the set's annotations, controlled by the set.
pub fn new_revision(set: &StatefulSet, revision: i64, collision_count: i32) -> ControllerRevision {
    let template = set.spec.template.clone();
    let data = revision_data(&template);
    let hash = revision_hash(&data, collision_count);
    let mut labels = template.metadata.and_then(|meta| meta.labels).unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.to_string(), hash.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(set.metadata.name.as_deref().unwrap_or_default(), &hash)),
            namespace: set.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: set.metadata.annotations.clone().filter(|annotations| !annotations.is_empty()),
            owner_references: Some(vec![controller_ref("apps/v1", "StatefulSet", &set.metadata)]),
            ..Default::default()
        },
        data: RawExtension(data),
        revision: Some(revision),
    }
}

/// Decides one reconcile of `set`. `pods`, `revisions` and `claims` are those of its namespace as the
/// lead's cache holds them (revisions of other owners matter only to detect hash collisions).
pub fn reconcile(
    set: &StatefulSet,
    pods: &[Pod],
    revisions: &[ControllerRevision],
    claims: &[PersistentVolumeClaim],
    now: Timestamp,
) -> Plan {
    let mut sync = Sync::new(set, &set.spec, claims, now);
    let owned = sync.claim_pods(pods);
    let history = sync.resolve_revisions(revisions);
    let status = sync.update_pods(&owned, &history);
    sync.record_status(status);
    sync.truncate_history(&owned, &history);
    sync.plan
}

/// The revisions one reconcile works with.
struct History {
    /// The set's own revisions, oldest number first, as they were before this plan.
    owned: Vec<ControllerRevision>,
    current: ControllerRevision,
    update: ControllerRevision,
    collision_count: i32,
}

/// One ordinal's pod: the existing one, or the one to create.
struct Member {
    pod: Pod,
    /// The API server has it (upstream `isCreated`: it has a phase).
    created: bool,
}

/// Whether processing may go on to the next pod.
#[derive(PartialEq)]
enum Step {
    Continue,
    Stop,
}

struct Sync<'a> {
    set: &'a StatefulSet,
    spec: &'a StatefulSetSpec,
    now: Timestamp,
    plan: Plan,
    /// Claims that exist and are usable, including those this plan creates.
    usable_claims: BTreeSet<String>,
    /// Claims that exist but are being deleted.
    deleting_claims: BTreeSet<String>,
    /// Pods this plan deletes; they count as terminating from then on.
    deleted: BTreeSet<String>,
}

impl<'a> Sync<'a> {
    fn new(set: &'a StatefulSet, spec: &'a StatefulSetSpec, claims: &[PersistentVolumeClaim], now: Timestamp) -> Self {
        let namespace = set.metadata.namespace.as_ref();
        let mut usable_claims = BTreeSet::new();
        let mut deleting_claims = BTreeSet::new();
        for claim in claims.iter().filter(|claim| claim.metadata.namespace.as_ref() == namespace) {
            let name = claim.metadata.name.clone().unwrap_or_default();
            if claim.metadata.deletion_timestamp.is_some() {
                deleting_claims.insert(name);
            } else {
                usable_claims.insert(name);
            }
        }
        Self { set, spec, now, plan: Plan::default(), usable_claims, deleting_claims, deleted: BTreeSet::new() }
    }

    fn set_name(&self) -> &'a str {
        self.set.metadata.name.as_deref().unwrap_or_default()
    }

    fn event(&mut self, event: Event) {
        self.plan.actions.push(Action::Event(event));
    }

    fn pod_event(&mut self, verb: &str, pod_name: &str) {
        let reason = format!("Successful{}{}", verb[..1].to_uppercase(), &verb[1..]);
        let message = format!("{verb} Pod {pod_name} in StatefulSet {} successful", self.set_name());
        self.event(Event::normal(&reason, message));
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec.min_ready_seconds.unwrap_or(0)
    }

    fn terminating(&self, pod: &Pod) -> bool {
        pod.metadata.deletion_timestamp.is_some() || pod.metadata.name.as_ref().is_some_and(|name| self.deleted.contains(name))
    }

    fn available(&self, pod: &Pod) -> bool {
        running_and_ready(pod) && is_available(pod, self.min_ready_seconds(), self.now)
    }

    fn healthy(&self, pod: &Pod) -> bool {
        running_and_ready(pod) && !self.terminating(pod)
    }

    fn unavailable(&self, pod: &Pod) -> bool {
        !self.available(pod) || self.terminating(pod)
    }

    /// Upstream `getPodsForStatefulSet`: pods named after the set and selected by it are kept or adopted;
    /// owned pods that no longer qualify are released.
    fn claim_pods(&mut self, pods: &[Pod]) -> Vec<Pod> {
        let set = self.set;
        let set_name = self.set_name();
        let reference = controller_ref("apps/v1", "StatefulSet", &set.metadata);
        let mut owned = Vec::new();
        for pod in pods {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let member = parent_and_ordinal(&name).is_some_and(|(parent, _)| parent == set_name);
            let selected = member && selector_matches(&self.spec.selector, pod.metadata.labels.as_ref());
            let pod_uid = pod.metadata.uid.as_deref().unwrap_or_default();
            match claim(&set.metadata, &pod.metadata, selected) {
                Claim::Keep => owned.push(pod.clone()),
                Claim::Adopt => {
                    self.plan.actions.push(Action::PatchPod { name, patch: adopt_patch(&reference, pod_uid, &[]) });
                    let mut adopted = pod.clone();
                    adopted.metadata.owner_references.get_or_insert_with(Vec::new).push(reference.clone());
                    owned.push(adopted);
                }
                Claim::Release => {
                    let set_uid = set.metadata.uid.as_deref().unwrap_or_default();
                    self.plan.actions.push(Action::PatchPod { name, patch: release_patch(set_uid, pod_uid, &[]) });
                }
                Claim::Ignore => {}
            }
        }
        owned
    }

    /// Upstream `getStatefulSetRevisions`: the update revision is the set's template — an existing equal
    /// revision (renumbered if it is not the newest: a rollback) or a new one; the current revision is the
    /// one the status names, else the update revision.
    fn resolve_revisions(&mut self, revisions: &[ControllerRevision]) -> History {
        let set_uid = self.set.metadata.uid.as_ref();
        let mut owned: Vec<ControllerRevision> = revisions
            .iter()
            .filter(|revision| controller_of(&revision.metadata).is_some_and(|owner| Some(&owner.uid) == set_uid))
            .cloned()
            .collect();
        owned.sort_by_key(|revision| revision.revision.unwrap_or(0));
        let status = self.set.status.as_ref();
        let mut collision_count = status.and_then(|status| status.collision_count).unwrap_or(0);
        let next_number = owned.last().map_or(1, |revision| revision.revision.unwrap_or(0) + 1);
        let data = revision_data(&self.spec.template);
        let update = match owned.iter().rev().find(|revision| revision.data.0 == data) {
            Some(equal) if Some(&equal.metadata.name) == owned.last().map(|last| &last.metadata.name) => equal.clone(),
            Some(equal) => {
                let name = equal.metadata.name.clone().unwrap_or_default();
                self.plan.actions.push(Action::RenumberRevision { name, revision: next_number });
                ControllerRevision { revision: Some(next_number), ..equal.clone() }
            }
            None => self.create_revision(revisions, next_number, &mut collision_count),
        };
        let current_name = status.and_then(|status| status.current_revision.as_ref());
        let current = owned.iter().find(|revision| current_name.is_some() && revision.metadata.name.as_ref() == current_name);
        let current = current.cloned().unwrap_or_else(|| update.clone());
        History { owned, current, update, collision_count }
    }

    /// Upstream `CreateControllerRevision`: a name taken by different data bumps the collision count.
    fn create_revision(&mut self, revisions: &[ControllerRevision], number: i64, collision_count: &mut i32) -> ControllerRevision {
        for _ in 0..MAX_COLLISION_PROBES {
            let candidate = new_revision(self.set, number, *collision_count);
            match revisions.iter().find(|existing| existing.metadata.name == candidate.metadata.name) {
                Some(existing) if existing.data == candidate.data => return existing.clone(),
                Some(_) => *collision_count += 1,
                None => {
                    self.plan.actions.push(Action::CreateRevision(Box::new(candidate.clone())));
                    return candidate;
                }
            }
        }
        new_revision(self.set, number, *collision_count)
    }

    /// Upstream `updateStatefulSet`: replicas in ordinal order, then condemned pods from the highest ordinal,
    /// then the rolling update; returns the status.
    fn update_pods(&mut self, owned: &[Pod], history: &History) -> StatefulSetStatus {
        let spec = self.spec;
        let current_template = template_of(&history.current, &spec.template);
        let update_template = template_of(&history.update, &spec.template);
        let start = spec.ordinals.as_ref().and_then(|ordinals| ordinals.start).unwrap_or(0);
        let replica_count = spec.replicas.unwrap_or(1).max(0);
        let mut by_ordinal: BTreeMap<i32, &Pod> = BTreeMap::new();
        let mut condemned: Vec<Pod> = Vec::new();
        for pod in owned {
            let Some((_, ordinal)) = parent_and_ordinal(pod.metadata.name.as_deref().unwrap_or_default()) else { continue };
            if ordinal >= start && ordinal - start < replica_count {
                by_ordinal.insert(ordinal, pod);
            } else {
                condemned.push(pod.clone());
            }
        }
        condemned.sort_by_key(|pod| std::cmp::Reverse(ordinal_of(pod)));
        let partition = self.partition();
        let replicas: Vec<Member> = (start..start.saturating_add(replica_count))
            .map(|ordinal| match by_ordinal.get(&ordinal) {
                Some(pod) => Member { created: !phase(pod).is_empty(), pod: (*pod).clone() },
                None => {
                    // Upstream `newVersionedStatefulSetPod`, operator precedence included.
                    let rolling = self.update_strategy() == "RollingUpdate";
                    let rolling_update = spec.update_strategy.as_ref().and_then(|strategy| strategy.rolling_update.as_ref());
                    let current_replicas = self.set.status.as_ref().and_then(|status| status.current_replicas).unwrap_or(0);
                    let at_current = (rolling && rolling_update.is_none() && ordinal < start + current_replicas)
                        || (rolling_update.is_some() && ordinal < start + partition);
                    let pod = if at_current {
                        self.new_pod(&current_template, ordinal, history.current.metadata.name.as_deref().unwrap_or_default())
                    } else {
                        self.new_pod(&update_template, ordinal, history.update.metadata.name.as_deref().unwrap_or_default())
                    };
                    Member { pod, created: false }
                }
            })
            .collect();
        let first_unhealthy = replicas
            .iter()
            .map(|member| &member.pod)
            .chain(condemned.iter().rev())
            .find(|pod| !self.healthy(pod))
            .and_then(|pod| pod.metadata.name.clone());

        let mut status = self.status(&replicas, &condemned, history);
        if self.set.metadata.deletion_timestamp.is_some() {
            return status;
        }
        let monotonic = spec.pod_management_policy.as_deref() != Some("Parallel");
        for member in &replicas {
            if self.process_replica(member, monotonic) == Step::Stop && monotonic {
                return self.status(&replicas, &condemned, history);
            }
        }
        for pod in &condemned {
            if self.process_condemned(pod, first_unhealthy.as_deref(), monotonic) == Step::Stop && monotonic {
                return self.status(&replicas, &condemned, history);
            }
        }
        status = self.status(&replicas, &condemned, history);
        if self.update_strategy() == "OnDelete" {
            return status;
        }
        let update_name = history.update.metadata.name.as_deref().unwrap_or_default();
        let deleted = match self.max_unavailable(replica_count) {
            None => self.roll_one(&replicas, update_name, partition),
            Some(max_unavailable) => self.roll_up_to(&replicas, update_name, partition, max_unavailable, monotonic),
        };
        status.current_replicas = Some(status.current_replicas.unwrap_or(0) - deleted);
        status
    }

    fn update_strategy(&self) -> &'a str {
        self.spec.update_strategy.as_ref().and_then(|strategy| strategy.type_.as_deref()).unwrap_or("RollingUpdate")
    }

    fn partition(&self) -> i32 {
        let rolling_update = self.spec.update_strategy.as_ref().and_then(|strategy| strategy.rolling_update.as_ref());
        rolling_update.and_then(|rolling_update| rolling_update.partition).unwrap_or(0)
    }

    /// Upstream `getStatefulSetMaxUnavailable` when `maxUnavailable` is set: a count, or a percentage of the
    /// replicas rounded down; at least one. Unset, upstream's classic one-at-a-time update applies.
    fn max_unavailable(&self, replica_count: i32) -> Option<i32> {
        let rolling_update = self.spec.update_strategy.as_ref().and_then(|strategy| strategy.rolling_update.as_ref())?;
        let scaled = match rolling_update.max_unavailable.as_ref()? {
            IntOrString::Int(count) => *count,
            IntOrString::String(text) => {
                let percent: i64 = text.strip_suffix('%').and_then(|number| number.parse().ok()).unwrap_or(1);
                i32::try_from(percent * i64::from(replica_count) / 100).unwrap_or(i32::MAX)
            }
        };
        Some(scaled.max(1))
    }

    /// Upstream `processReplica`.
    fn process_replica(&mut self, member: &Member, monotonic: bool) -> Step {
        let pod = &member.pod;
        let name = pod.metadata.name.clone().unwrap_or_default();
        let ordinal = ordinal_of(pod);
        if matches!(phase(pod), "Failed" | "Succeeded") {
            // Replace it: delete now, create on a later pass once it is gone.
            if !self.terminating(pod) {
                self.delete_pod(pod);
            }
            return Step::Stop;
        }
        if !member.created {
            if let Err(error) = self.ensure_claims(&name, ordinal, true) {
                let message = format!("create Pod {name} in StatefulSet {} failed error: {error}", self.set_name());
                self.event(Event::warning("FailedCreate", message));
                return Step::Stop;
            }
            self.plan.actions.push(Action::CreatePod(Box::new(pod.clone())));
            self.pod_event("create", &name);
            // In Parallel mode the pod just built passes the checks below.
            return if monotonic { Step::Stop } else { Step::Continue };
        }
        if phase(pod) == "Pending" && self.ensure_claims(&name, ordinal, false).is_err() {
            return Step::Stop;
        }
        if monotonic && (self.terminating(pod) || !running_and_ready(pod) || !self.available(pod)) {
            return Step::Stop;
        }
        let identity_ok = self.identity_matches(pod);
        let storage_ok = self.storage_matches(pod);
        if identity_ok && storage_ok {
            return Step::Continue;
        }
        let mut updated = pod.clone();
        if !identity_ok {
            self.apply_identity(&mut updated, ordinal);
        }
        if !storage_ok {
            self.apply_storage(&mut updated, ordinal);
            if let Err(error) = self.ensure_claims(&name, ordinal, false) {
                let message = format!("update Pod {name} in StatefulSet {} failed error: {error}", self.set_name());
                self.event(Event::warning("FailedUpdate", message));
                return Step::Stop;
            }
        }
        self.plan.actions.push(Action::UpdatePod(Box::new(updated)));
        self.pod_event("update", &name);
        Step::Continue
    }

    /// Upstream `processCondemned`: in OrderedReady mode wait for terminations and for health (except for
    /// the first unhealthy pod itself) and delete one pod per pass.
    fn process_condemned(&mut self, pod: &Pod, first_unhealthy: Option<&str>, monotonic: bool) -> Step {
        if self.terminating(pod) {
            return if monotonic { Step::Stop } else { Step::Continue };
        }
        let is_first_unhealthy = pod.metadata.name.as_deref() == first_unhealthy;
        if monotonic && !is_first_unhealthy && (!running_and_ready(pod) || !self.available(pod)) {
            return Step::Stop;
        }
        self.delete_pod(pod);
        Step::Stop
    }

    /// Upstream's rolling update without `maxUnavailable`: delete the highest-ordinal pod at or above the
    /// partition that is not at the update revision, after every pod above it is healthy. Returns how many
    /// pods it deleted.
    fn roll_one(&mut self, replicas: &[Member], update_name: &str, partition: i32) -> i32 {
        let lowest = usize::try_from(partition).unwrap_or(0);
        for member in replicas.iter().skip(lowest).rev() {
            let pod = &member.pod;
            if revision_of(pod) != update_name && !self.terminating(pod) {
                self.delete_pod(pod);
                return 1;
            }
            if self.unavailable(pod) {
                return 0;
            }
        }
        0
    }

    /// Upstream's rolling update with `maxUnavailable` (MaxUnavailableStatefulSet, with its Parallel fix):
    /// keep at most `max_unavailable` replicas unavailable, updating from the highest ordinal down; in
    /// Parallel mode replicas already unavailable at the old revision are replaced first, without budget.
    fn roll_up_to(&mut self, replicas: &[Member], update_name: &str, partition: i32, max_unavailable: i32, monotonic: bool) -> i32 {
        let lowest = usize::try_from(partition).unwrap_or(0);
        let outdated = |sync: &Self, pod: &Pod| revision_of(pod) != update_name && !sync.terminating(pod);
        let unavailable = count(replicas.iter().filter(|member| self.unavailable(&member.pod)).count());
        let unavailable_outdated =
            count(replicas.iter().filter(|member| !monotonic && self.unavailable(&member.pod) && outdated(self, &member.pod)).count());
        if unavailable >= max_unavailable && unavailable_outdated == 0 {
            return 0;
        }
        let mut deleted = 0;
        if monotonic {
            let budget = max_unavailable - unavailable;
            for member in replicas.iter().skip(lowest).rev() {
                if deleted >= budget {
                    break;
                }
                if outdated(self, &member.pod) {
                    self.delete_pod(&member.pod);
                    deleted += 1;
                }
            }
            return deleted;
        }
        for member in replicas.iter().skip(lowest).rev() {
            if outdated(self, &member.pod) && !self.available(&member.pod) {
                self.delete_pod(&member.pod);
                deleted += 1;
            }
        }
        let mut budget = max_unavailable - unavailable;
        for member in replicas.iter().skip(lowest).rev() {
            if budget <= 0 {
                break;
            }
            if outdated(self, &member.pod) && self.available(&member.pod) {
                self.delete_pod(&member.pod);
                deleted += 1;
                budget -= 1;
            }
        }
        deleted
    }

    fn delete_pod(&mut self, pod: &Pod) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        self.plan.actions.push(Action::DeletePod { name: name.clone(), uid });
        self.pod_event("delete", &name);
        self.deleted.insert(name);
    }

    /// Upstream `createPersistentVolumeClaims`: create the pod's missing claims; a claim being deleted is an
    /// error (the pod must wait for it to go).
    fn ensure_claims(&mut self, pod_name: &str, ordinal: i32, for_new_pod: bool) -> Result<(), String> {
        let mut errors = Vec::new();
        for claim in self.claims_for(ordinal) {
            let claim_name = claim.metadata.name.clone().unwrap_or_default();
            if self.deleting_claims.contains(&claim_name) {
                errors.push(format!("pvc {claim_name} is being deleted"));
                continue;
            }
            if self.usable_claims.insert(claim_name.clone()) {
                self.plan.actions.push(Action::CreateClaim { claim: Box::new(claim), pod_name: pod_name.to_string(), for_new_pod });
                let message = format!("create Claim {claim_name} Pod {pod_name} in StatefulSet {} success", self.set_name());
                self.event(Event::normal("SuccessfulCreate", message));
            }
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(format!("[{}]", errors.join(", "))),
        }
    }

    /// Upstream `getPersistentVolumeClaims`: one claim per template, `<template>-<set>-<ordinal>`, labelled
    /// with the template's labels and the set's selector labels.
    fn claims_for(&self, ordinal: i32) -> Vec<PersistentVolumeClaim> {
        let selector_labels = self.spec.selector.match_labels.clone().unwrap_or_default();
        self.spec
            .volume_claim_templates
            .iter()
            .flatten()
            .map(|template| {
                let mut claim = template.clone();
                claim.metadata.name = Some(self.claim_name(template, ordinal));
                claim.metadata.namespace = self.set.metadata.namespace.clone();
                let labels = claim.metadata.labels.get_or_insert_with(BTreeMap::new);
                labels.extend(selector_labels.clone());
                claim.status = None;
                claim
            })
            .collect()
    }

    fn claim_name(&self, template: &PersistentVolumeClaim, ordinal: i32) -> String {
        format!("{}-{}-{ordinal}", template.metadata.name.as_deref().unwrap_or_default(), self.set_name())
    }

    /// Upstream `newStatefulSetPod` + `setPodRevision`: the template as a pod named `<set>-<ordinal>`, with
    /// its identity labels, hostname and subdomain, claim volumes and revision label.
    fn new_pod(&self, template: &PodTemplateSpec, ordinal: i32, revision: &str) -> Pod {
        let set_name = self.set_name();
        let template_meta = template.metadata.clone().unwrap_or_default();
        let mut pod = Pod {
            metadata: ObjectMeta {
                generate_name: Some(format!("{set_name}-")),
                labels: template_meta.labels,
                annotations: template_meta.annotations,
                finalizers: template_meta.finalizers,
                owner_references: Some(vec![controller_ref("apps/v1", "StatefulSet", &self.set.metadata)]),
                ..Default::default()
            },
            spec: Some(template.spec.clone().unwrap_or_default()),
            status: None,
        };
        self.apply_identity(&mut pod, ordinal);
        if let Some(pod_spec) = pod.spec.as_mut() {
            pod_spec.hostname = pod.metadata.name.clone();
            pod_spec.subdomain = self.spec.service_name.clone().filter(|service| !service.is_empty());
        }
        self.apply_storage(&mut pod, ordinal);
        pod.metadata.labels.get_or_insert_with(BTreeMap::new).insert(REVISION_LABEL.to_string(), revision.to_string());
        pod
    }

    /// Upstream `updateIdentity`.
    fn apply_identity(&self, pod: &mut Pod, ordinal: i32) {
        let name = format!("{}-{ordinal}", self.set_name());
        pod.metadata.namespace = self.set.metadata.namespace.clone();
        let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
        labels.insert(POD_NAME_LABEL.to_string(), name.clone());
        labels.insert(POD_INDEX_LABEL.to_string(), ordinal.to_string());
        pod.metadata.name = Some(name);
    }

    /// Upstream `updateStorage`: a PersistentVolumeClaim volume per claim template, replacing any volume of
    /// the same name; other volumes stay.
    fn apply_storage(&self, pod: &mut Pod, ordinal: i32) {
        let templates = self.spec.volume_claim_templates.as_deref().unwrap_or_default();
        let template_names: BTreeSet<&str> = templates.iter().filter_map(|template| template.metadata.name.as_deref()).collect();
        let pod_spec = pod.spec.get_or_insert_with(Default::default);
        let mut volumes: Vec<Volume> = templates
            .iter()
            .map(|template| Volume {
                name: template.metadata.name.clone().unwrap_or_default(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: self.claim_name(template, ordinal),
                    read_only: Some(false),
                }),
                ..Default::default()
            })
            .collect();
        volumes.extend(pod_spec.volumes.take().into_iter().flatten().filter(|volume| !template_names.contains(volume.name.as_str())));
        pod_spec.volumes = Some(volumes).filter(|volumes| !volumes.is_empty());
    }

    /// Upstream `identityMatches`.
    fn identity_matches(&self, pod: &Pod) -> bool {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        parent_and_ordinal(name).is_some_and(|(parent, ordinal)| parent == self.set_name() && name == format!("{parent}-{ordinal}"))
            && pod.metadata.namespace == self.set.metadata.namespace
            && pod.metadata.labels.as_ref().and_then(|labels| labels.get(POD_NAME_LABEL)).map(String::as_str) == Some(name)
    }

    /// Upstream `storageMatches`: every claim template is mounted from the pod's own claim.
    fn storage_matches(&self, pod: &Pod) -> bool {
        let ordinal = ordinal_of(pod);
        if ordinal < 0 {
            return false;
        }
        let volumes = pod.spec.as_ref().and_then(|spec| spec.volumes.as_ref());
        self.spec.volume_claim_templates.iter().flatten().all(|template| {
            let volume = volumes.into_iter().flatten().find(|volume| Some(&volume.name) == template.metadata.name.as_ref());
            let claim = volume.and_then(|volume| volume.persistent_volume_claim.as_ref());
            claim.is_some_and(|claim| claim.claim_name == self.claim_name(template, ordinal))
        })
    }

    /// Upstream `updateStatus` over the replicas (existing ones only) and condemned pods.
    fn status(&self, replicas: &[Member], condemned: &[Pod], history: &History) -> StatefulSetStatus {
        let current_name = history.current.metadata.name.as_deref().unwrap_or_default();
        let update_name = history.update.metadata.name.as_deref().unwrap_or_default();
        let existing = replicas.iter().filter(|member| member.created).map(|member| &member.pod).chain(condemned.iter());
        let (mut total, mut ready, mut available, mut current, mut updated) = (0, 0, 0, 0, 0);
        for pod in existing {
            total += 1;
            if running_and_ready(pod) {
                ready += 1;
                if self.available(pod) {
                    available += 1;
                }
            }
            if pod.metadata.deletion_timestamp.is_none() {
                current += i32::from(revision_of(pod) == current_name);
                updated += i32::from(revision_of(pod) == update_name);
            }
        }
        StatefulSetStatus {
            observed_generation: self.set.metadata.generation,
            current_revision: Some(current_name.to_string()),
            update_revision: Some(update_name.to_string()),
            collision_count: Some(history.collision_count),
            replicas: total,
            ready_replicas: Some(ready),
            available_replicas: Some(available),
            current_replicas: Some(current),
            updated_replicas: Some(updated),
            conditions: None,
        }
    }

    /// Upstream `updateStatefulSetStatus`: a finished rolling update makes the update revision current; the
    /// status is written only when it differs. Also the requeue while pods wait out `minReadySeconds`.
    fn record_status(&mut self, mut status: StatefulSetStatus) {
        let desired = self.spec.replicas.unwrap_or(1);
        let all = |value: Option<i32>| value.unwrap_or(0) == desired;
        if self.update_strategy() == "RollingUpdate"
            && all(status.updated_replicas)
            && all(status.ready_replicas)
            && status.replicas == desired
        {
            status.current_replicas = status.updated_replicas;
            status.current_revision = status.update_revision.clone();
        }
        let old = self.set.status.clone().unwrap_or_default();
        let differs = status.observed_generation.unwrap_or(0) > old.observed_generation.unwrap_or(0)
            || status.replicas != old.replicas
            || status.current_replicas.unwrap_or(0) != old.current_replicas.unwrap_or(0)
            || status.ready_replicas.unwrap_or(0) != old.ready_replicas.unwrap_or(0)
            || status.updated_replicas.unwrap_or(0) != old.updated_replicas.unwrap_or(0)
            || status.current_revision != old.current_revision
            || status.available_replicas.unwrap_or(0) != old.available_replicas.unwrap_or(0)
            || status.update_revision != old.update_revision;
        let min_ready_seconds = self.min_ready_seconds();
        if min_ready_seconds > 0 && status.available_replicas.unwrap_or(0) != desired {
            self.plan.requeue_after = Some(Duration::from_secs(min_ready_seconds.unsigned_abs().into()));
        }
        if differs {
            self.plan.actions.push(Action::UpdateStatus(Box::new(status)));
        }
    }

    /// Upstream `truncateHistory`: revisions no pod uses and that are neither current nor update go, oldest
    /// first, beyond `revisionHistoryLimit`.
    fn truncate_history(&mut self, owned_pods: &[Pod], history: &History) {
        let mut live: BTreeSet<&str> = owned_pods.iter().map(revision_of).collect();
        live.extend(history.current.metadata.name.as_deref());
        live.extend(history.update.metadata.name.as_deref());
        let old: Vec<&ControllerRevision> =
            history.owned.iter().filter(|revision| !live.contains(revision.metadata.name.as_deref().unwrap_or_default())).collect();
        let limit = usize::try_from(self.spec.revision_history_limit.unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT)).unwrap_or(0);
        let excess = old.len().saturating_sub(limit);
        for revision in old.into_iter().take(excess) {
            let name = revision.metadata.name.clone().unwrap_or_default();
            self.plan.actions.push(Action::DeleteRevision { name });
        }
    }
}

/// Upstream `ApplyRevision` for the one field revisions hold: the pod template. A revision that cannot be
/// read (never written by a controller) falls back to the set's own template.
fn template_of(revision: &ControllerRevision, fallback: &PodTemplateSpec) -> PodTemplateSpec {
    let mut template = revision.data.0.get("spec").and_then(|spec| spec.get("template")).cloned().unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut template {
        fields.remove("$patch");
    }
    serde_json::from_value(template).unwrap_or_else(|_| fallback.clone())
}

/// `web-3` → (`web`, 3), as upstream's `(.*)-([0-9]+)$` reads pod names.
fn parent_and_ordinal(name: &str) -> Option<(&str, i32)> {
    let (parent, digits) = name.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some((parent, digits.parse().ok()?))
}

fn ordinal_of(pod: &Pod) -> i32 {
    parent_and_ordinal(pod.metadata.name.as_deref().unwrap_or_default()).map_or(-1, |(_, ordinal)| ordinal)
}

fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|status| status.phase.as_deref()).unwrap_or_default()
}

fn running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && is_ready(pod)
}

fn revision_of(pod: &Pod) -> &str {
    pod.metadata.labels.as_ref().and_then(|labels| labels.get(REVISION_LABEL)).map(String::as_str).unwrap_or_default()
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// JSON with object keys sorted, so that hashing does not depend on serializer field order.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            out.push('{');
            for (position, key) in keys.into_iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&fields[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{RollingUpdateStatefulSetStrategy, StatefulSetOrdinals, StatefulSetUpdateStrategy};
    use k8s_openapi::api::core::v1::{Container, PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};

    const NOW: &str = "2024-01-01T12:00:00Z";

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn app_labels() -> BTreeMap<String, String> {
        BTreeMap::from([("app".to_string(), "web".to_string())])
    }

    fn set(replicas: i32, image: &str) -> StatefulSet {
        StatefulSet {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("set-uid".into()),
                generation: Some(1),
                ..Default::default()
            },
            spec: StatefulSetSpec {
                replicas: Some(replicas),
                service_name: Some("nginx".into()),
                pod_management_policy: Some("OrderedReady".into()),
                selector: LabelSelector { match_labels: Some(app_labels()), ..Default::default() },
                update_strategy: Some(StatefulSetUpdateStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateStatefulSetStrategy { partition: Some(0), max_unavailable: None }),
                }),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta { labels: Some(app_labels()), ..Default::default() }),
                    spec: Some(PodSpec {
                        containers: vec![Container { name: "nginx".into(), image: Some(image.into()), ..Default::default() }],
                        ..Default::default()
                    }),
                },
                volume_claim_templates: Some(vec![PersistentVolumeClaim {
                    metadata: ObjectMeta { name: Some("www".into()), ..Default::default() },
                    ..Default::default()
                }]),
                ..Default::default()
            },
            status: None,
        }
    }

    fn parallel(mut set: StatefulSet) -> StatefulSet {
        set.spec.pod_management_policy = Some("Parallel".into());
        set
    }

    fn revision_for(set: &StatefulSet, number: i64) -> ControllerRevision {
        new_revision(set, number, 0)
    }

    /// A pod of `set` as the API server would hold it, at `revision`, in `phase`, ready or not.
    fn pod(set: &StatefulSet, ordinal: i32, revision: &ControllerRevision, phase: &str, ready: bool) -> Pod {
        let sync = Sync::new(set, &set.spec, &[], at(NOW));
        let template = template_of(revision, &set.spec.template);
        let mut pod = sync.new_pod(&template, ordinal, revision.metadata.name.as_deref().unwrap());
        pod.metadata.uid = Some(format!("uid-{ordinal}"));
        pod.status = Some(PodStatus {
            phase: Some(phase.into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                last_transition_time: Some(Time(at("2024-01-01T11:00:00Z"))),
                ..Default::default()
            }]),
            ..Default::default()
        });
        pod
    }

    fn claims_of(set: &StatefulSet, ordinals: &[i32]) -> Vec<PersistentVolumeClaim> {
        let sync = Sync::new(set, &set.spec, &[], at(NOW));
        ordinals.iter().flat_map(|ordinal| sync.claims_for(*ordinal)).collect()
    }

    fn created(plan: &Plan) -> Vec<&str> {
        plan.actions
            .iter()
            .filter_map(|action| match action {
                Action::CreatePod(pod) => pod.metadata.name.as_deref(),
                _ => None,
            })
            .collect()
    }

    fn deleted(plan: &Plan) -> Vec<&str> {
        plan.actions
            .iter()
            .filter_map(|action| match action {
                Action::DeletePod { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    fn written_status(plan: &Plan) -> Option<&StatefulSetStatus> {
        plan.actions.iter().find_map(|action| match action {
            Action::UpdateStatus(status) => Some(status.as_ref()),
            _ => None,
        })
    }

    fn events(plan: &Plan) -> Vec<(&str, &str)> {
        plan.actions
            .iter()
            .filter_map(|action| match action {
                Action::Event(event) => Some((event.reason.as_str(), event.message.as_str())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_new_set_records_its_revision_and_creates_the_first_pod_with_its_claim() {
        let set = set(3, "nginx:1");
        let plan = reconcile(&set, &[], &[], &[], at(NOW));
        let Action::CreateRevision(revision) = &plan.actions[0] else { panic!("{:?}", plan.actions[0]) };
        let hash = revision.metadata.labels.as_ref().unwrap()[REVISION_HASH_LABEL].clone();
        assert_eq!(revision.metadata.name.as_deref(), Some(format!("web-{hash}").as_str()));
        assert_eq!(revision.revision, Some(1));
        let Action::CreateClaim { claim, pod_name, for_new_pod: true } = &plan.actions[1] else { panic!("{:?}", plan.actions[1]) };
        assert_eq!((claim.metadata.name.as_deref(), pod_name.as_str()), (Some("www-web-0"), "web-0"));
        assert_eq!(claim.metadata.labels, Some(app_labels()));
        assert_eq!(created(&plan), vec!["web-0"], "OrderedReady creates one pod at a time");
        assert_eq!(
            events(&plan),
            vec![
                ("SuccessfulCreate", "create Claim www-web-0 Pod web-0 in StatefulSet web success"),
                ("SuccessfulCreate", "create Pod web-0 in StatefulSet web successful"),
            ]
        );
        let Some(Action::CreatePod(pod)) = plan.actions.iter().find(|action| matches!(action, Action::CreatePod(_))) else {
            unreachable!()
        };
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[POD_NAME_LABEL], "web-0");
        assert_eq!(labels[POD_INDEX_LABEL], "0");
        assert_eq!(labels[REVISION_LABEL], revision.metadata.name.clone().unwrap());
        assert_eq!(labels["app"], "web");
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!((spec.hostname.as_deref(), spec.subdomain.as_deref()), (Some("web-0"), Some("nginx")));
        let volume = &spec.volumes.as_ref().unwrap()[0];
        assert_eq!((volume.name.as_str(), volume.persistent_volume_claim.as_ref().unwrap().claim_name.as_str()), ("www", "www-web-0"));
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str(), owner.controller), ("StatefulSet", "set-uid", Some(true)));
        let status = written_status(&plan).unwrap();
        assert_eq!((status.replicas, status.observed_generation), (0, Some(1)));
        assert_eq!(status.update_revision, revision.metadata.name);
    }

    #[test]
    fn ordered_ready_waits_for_each_predecessor() {
        let set = set(3, "nginx:1");
        let revision = revision_for(&set, 1);
        let revisions = [revision.clone()];
        let claims = claims_of(&set, &[0, 1, 2]);
        // web-0 running but not ready: nothing more.
        let plan = reconcile(&set, &[pod(&set, 0, &revision, "Running", false)], &revisions, &claims, at(NOW));
        assert!(created(&plan).is_empty());
        // web-0 ready: web-1 next, and only web-1.
        let plan = reconcile(&set, &[pod(&set, 0, &revision, "Running", true)], &revisions, &claims, at(NOW));
        assert_eq!(created(&plan), vec!["web-1"]);
        assert!(!plan.actions.iter().any(|action| matches!(action, Action::CreateClaim { .. } | Action::CreateRevision(_))));
        // Parallel: everything missing at once.
        let parallel_set = parallel(set.clone());
        let plan = reconcile(&parallel_set, &[pod(&set, 0, &revision, "Running", false)], &revisions, &claims, at(NOW));
        assert_eq!(created(&plan), vec!["web-1", "web-2"]);
    }

    #[test]
    fn ordinals_start_where_the_set_says() {
        let mut set = set(2, "nginx:1");
        set.spec.ordinals = Some(StatefulSetOrdinals { start: Some(5) });
        let plan = reconcile(&parallel(set), &[], &[], &[], at(NOW));
        assert_eq!(created(&plan), vec!["web-5", "web-6"]);
    }

    #[test]
    fn scale_down_deletes_from_the_highest_ordinal_one_at_a_time() {
        let set = set(1, "nginx:1");
        let revision = revision_for(&set, 1);
        let claims = claims_of(&set, &[0, 1, 2]);
        let pods: Vec<Pod> = (0..3).map(|ordinal| pod(&set, ordinal, &revision, "Running", true)).collect();
        let plan = reconcile(&set, &pods, std::slice::from_ref(&revision), &claims, at(NOW));
        assert_eq!(deleted(&plan), vec!["web-2"]);
        assert!(events(&plan).contains(&("SuccessfulDelete", "delete Pod web-2 in StatefulSet web successful")));
        // While web-2 terminates, web-1 waits.
        let mut terminating = pods.clone();
        terminating[2].metadata.deletion_timestamp = Some(Time(at(NOW)));
        let plan = reconcile(&set, &terminating, std::slice::from_ref(&revision), &claims, at(NOW));
        assert!(deleted(&plan).is_empty());
        // Parallel deletes all condemned pods at once.
        let plan = reconcile(&parallel(set.clone()), &pods, std::slice::from_ref(&revision), &claims, at(NOW));
        assert_eq!(deleted(&plan), vec!["web-2", "web-1"]);
    }

    #[test]
    fn failed_pods_are_deleted_to_be_recreated() {
        let set = set(2, "nginx:1");
        let revision = revision_for(&set, 1);
        let pods = [pod(&set, 0, &revision, "Failed", false), pod(&set, 1, &revision, "Running", true)];
        let plan = reconcile(&set, &pods, std::slice::from_ref(&revision), &claims_of(&set, &[0, 1]), at(NOW));
        assert_eq!(deleted(&plan), vec!["web-0"]);
        assert!(created(&plan).is_empty());
    }

    #[test]
    fn a_claim_being_deleted_blocks_the_pod() {
        let set = set(1, "nginx:1");
        let mut claims = claims_of(&set, &[0]);
        claims[0].metadata.deletion_timestamp = Some(Time(at(NOW)));
        let plan = reconcile(&set, &[], &[revision_for(&set, 1)], &claims, at(NOW));
        assert!(created(&plan).is_empty());
        assert_eq!(
            events(&plan),
            vec![("FailedCreate", "create Pod web-0 in StatefulSet web failed error: pvc www-web-0 is being deleted")]
        );
    }

    #[test]
    fn rolling_update_replaces_pods_from_the_highest_ordinal_waiting_for_each() {
        let old_set = set(3, "nginx:1");
        let old = revision_for(&old_set, 1);
        let mut new_set = set(3, "nginx:2");
        new_set.metadata.generation = Some(2);
        new_set.status = Some(StatefulSetStatus {
            current_revision: old.metadata.name.clone(),
            update_revision: old.metadata.name.clone(),
            replicas: 3,
            ..Default::default()
        });
        let claims = claims_of(&new_set, &[0, 1, 2]);
        let pods: Vec<Pod> = (0..3).map(|ordinal| pod(&old_set, ordinal, &old, "Running", true)).collect();
        let plan = reconcile(&new_set, &pods, std::slice::from_ref(&old), &claims, at(NOW));
        let Action::CreateRevision(new) = &plan.actions[0] else { panic!("{:?}", plan.actions) };
        assert_eq!(new.revision, Some(2));
        assert_ne!(new.metadata.name, old.metadata.name);
        assert_eq!(deleted(&plan), vec!["web-2"]);
        let status = written_status(&plan).unwrap();
        assert_eq!((status.current_replicas, status.updated_replicas), (Some(2), Some(0)));
        assert_eq!(
            (status.current_revision.as_ref(), status.update_revision.as_ref()),
            (old.metadata.name.as_ref(), new.metadata.name.as_ref())
        );

        let new = revision_for(&new_set, 2);
        let revisions = [old.clone(), new.clone()];
        // web-2 recreated at the new revision but not ready yet: wait (OrderedReady blocks on it).
        let mut pods = pods.clone();
        pods[2] = pod(&new_set, 2, &new, "Running", false);
        let plan = reconcile(&new_set, &pods, &revisions, &claims, at(NOW));
        assert!(deleted(&plan).is_empty());
        // Ready: web-1 is next.
        pods[2] = pod(&new_set, 2, &new, "Running", true);
        let plan = reconcile(&new_set, &pods, &revisions, &claims, at(NOW));
        assert_eq!(deleted(&plan), vec!["web-1"]);
        // With a partition of 2, web-1 and web-0 stay at the old revision.
        let mut partitioned = new_set.clone();
        partitioned.spec.update_strategy.as_mut().unwrap().rolling_update.as_mut().unwrap().partition = Some(2);
        let plan = reconcile(&partitioned, &pods, &revisions, &claims, at(NOW));
        assert!(deleted(&plan).is_empty());
        // OnDelete never deletes for an update.
        let mut on_delete = new_set.clone();
        on_delete.spec.update_strategy = Some(StatefulSetUpdateStrategy { type_: Some("OnDelete".into()), rolling_update: None });
        let plan = reconcile(&on_delete, &pods, &revisions, &claims, at(NOW));
        assert!(deleted(&plan).is_empty());
        // All updated and ready: the update revision becomes current.
        let updated: Vec<Pod> = (0..3).map(|ordinal| pod(&new_set, ordinal, &new, "Running", true)).collect();
        let plan = reconcile(&new_set, &updated, &revisions, &claims, at(NOW));
        let status = written_status(&plan).unwrap();
        assert_eq!(status.current_revision, new.metadata.name);
        assert_eq!((status.current_replicas, status.updated_replicas, status.ready_replicas), (Some(3), Some(3), Some(3)));
    }

    #[test]
    fn max_unavailable_updates_several_pods_at_once() {
        let old_set = set(4, "nginx:1");
        let old = revision_for(&old_set, 1);
        let mut new_set = parallel(set(4, "nginx:2"));
        new_set.spec.update_strategy.as_mut().unwrap().rolling_update.as_mut().unwrap().max_unavailable =
            Some(IntOrString::String("50%".into()));
        let new = revision_for(&new_set, 2);
        let pods: Vec<Pod> = (0..4).map(|ordinal| pod(&old_set, ordinal, &old, "Running", true)).collect();
        let plan = reconcile(&new_set, &pods, &[old, new], &claims_of(&new_set, &[0, 1, 2, 3]), at(NOW));
        assert_eq!(deleted(&plan), vec!["web-3", "web-2"]);
    }

    #[test]
    fn revisions_hash_the_template_and_roll_back_by_renumbering() {
        let first = set(1, "nginx:1");
        let second = set(1, "nginx:2");
        assert_eq!(revision_for(&first, 1).metadata.name, revision_for(&first, 7).metadata.name, "the number is not hashed");
        assert_ne!(revision_for(&first, 1).metadata.name, revision_for(&second, 1).metadata.name);
        assert_ne!(new_revision(&first, 1, 0).metadata.name, new_revision(&first, 1, 1).metadata.name);
        let hash = revision_hash(&revision_data(&first.spec.template), 0);
        assert!(hash.bytes().all(|byte| b"bcdfghjklmnpqrstvwxz2456789".contains(&byte)));
        // Back to the first template: its revision gets the next number instead of a new revision.
        let revisions = [revision_for(&first, 1), revision_for(&second, 2)];
        let plan = reconcile(&first, &[], &revisions, &claims_of(&first, &[0]), at(NOW));
        assert_eq!(plan.actions[0], Action::RenumberRevision { name: revisions[0].metadata.name.clone().unwrap(), revision: 3 });
        assert!(!plan.actions.iter().any(|action| matches!(action, Action::CreateRevision(_))));
    }

    #[test]
    fn unused_revisions_beyond_the_history_limit_are_deleted() {
        let mut current = set(1, "nginx:9");
        current.spec.revision_history_limit = Some(2);
        let revisions: Vec<ControllerRevision> = (1..=5).map(|number| revision_for(&set(1, &format!("nginx:{number}")), number)).collect();
        let newest = revision_for(&current, 6);
        let mut all = revisions.clone();
        all.push(newest.clone());
        let live_pod = pod(&current, 0, &newest, "Running", true);
        let plan = reconcile(&current, &[live_pod], &all, &claims_of(&current, &[0]), at(NOW));
        let pruned: Vec<&str> = plan
            .actions
            .iter()
            .filter_map(|action| match action {
                Action::DeleteRevision { name } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let expected: Vec<&str> = revisions[..3].iter().map(|revision| revision.metadata.name.as_deref().unwrap()).collect();
        assert_eq!(pruned, expected);
    }

    #[test]
    fn pods_with_the_wrong_identity_are_repaired_and_strays_adopted() {
        let set = set(2, "nginx:1");
        let revision = revision_for(&set, 1);
        let mut relabelled = pod(&set, 0, &revision, "Running", true);
        relabelled.metadata.labels.as_mut().unwrap().remove(POD_NAME_LABEL);
        let mut orphan = pod(&set, 1, &revision, "Running", true);
        orphan.metadata.owner_references = None;
        let plan = reconcile(&set, &[relabelled, orphan], std::slice::from_ref(&revision), &claims_of(&set, &[0, 1]), at(NOW));
        let Action::PatchPod { name, patch } = &plan.actions[0] else { panic!("{:?}", plan.actions) };
        assert_eq!(name, "web-1");
        assert_eq!(patch["metadata"]["ownerReferences"][0]["uid"], "set-uid");
        let updated = plan.actions.iter().find_map(|action| match action {
            Action::UpdatePod(pod) => Some(pod),
            _ => None,
        });
        assert_eq!(updated.unwrap().metadata.labels.as_ref().unwrap()[POD_NAME_LABEL], "web-0");
        assert!(events(&plan).contains(&("SuccessfulUpdate", "update Pod web-0 in StatefulSet web successful")));
    }

    #[test]
    fn min_ready_seconds_requeues_until_pods_are_available() {
        let mut set = set(1, "nginx:1");
        set.spec.min_ready_seconds = Some(7200);
        let revision = revision_for(&set, 1);
        let plan = reconcile(&set, &[pod(&set, 0, &revision, "Running", true)], &[revision], &claims_of(&set, &[0]), at(NOW));
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(7200)));
        let status = written_status(&plan).unwrap();
        assert_eq!((status.ready_replicas, status.available_replicas), (Some(1), Some(0)));
    }

    #[test]
    fn failure_events_read_as_upstream() {
        let events = Action::DeletePod { name: "web-2".into(), uid: "u".into() }.failure_events("web", "boom");
        assert_eq!(events, vec![Event::warning("FailedDelete", "delete Pod web-2 in StatefulSet web failed error: boom")]);
        let claim =
            PersistentVolumeClaim { metadata: ObjectMeta { name: Some("www-web-0".into()), ..Default::default() }, ..Default::default() };
        let events =
            Action::CreateClaim { claim: Box::new(claim), pod_name: "web-0".into(), for_new_pod: true }.failure_events("web", "quota");
        assert_eq!(events[0].message, "create Claim www-web-0 for Pod web-0 in StatefulSet web failed error: quota");
        assert_eq!(events[1].message, "create Pod web-0 in StatefulSet web failed error: failed to create PVC www-web-0: quota");
    }
}
