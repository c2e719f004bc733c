//! Job control loop decisions, as upstream's Job controller (pkg/controller/job) and TTL-after-finished
//! controller make them: given a Job, the pods of its namespace and the time, which pods to adopt, release,
//! create and delete (parallelism, completions or work-queue semantics, NonIndexed and Indexed completion,
//! suspension, the exponential pod-failure backoff), how finished pods are counted through the
//! `batch.kubernetes.io/job-tracking` finalizer and `status.uncountedTerminatedPods`, when the Job has
//! failed (backoff limit, active deadline) or succeeded (completions, success policy) with the interim
//! `FailureTarget`/`SuccessCriteriaMet` conditions before `Failed`/`Complete`, the status to write, the
//! Events upstream records, and when a finished Job's TTL deletes it.
//!
//! Not covered: `podFailurePolicy` rules (failures are all counted; the policy's only effect here is that
//! only failed pods are replaced), `backoffLimitPerIndex`/`maxFailedIndexes`, and `managedBy` other than the
//! built-in controller (such Jobs are left alone, as upstream does).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobSpec, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::{Container, EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::Value;

use super::event::Event;
use super::ownership::{adopt_patch, claim, release_patch, remove_finalizer_patch, selector_matches, Claim};
use super::podutil::{controller_ref, is_active, is_ready, ready_since};

/// Keeps a finished pod around until the controller has counted it in the Job's status.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The completion index of an Indexed Job's pod, as annotation and label.
pub const COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// The `spec.managedBy` value of the built-in controller.
const CONTROLLER_NAME: &str = "kubernetes.io/job-controller";

/// The first pod-failure backoff, doubled per consecutive failure up to the maximum.
const DEFAULT_POD_FAILURE_BACKOFF: SignedDuration = SignedDuration::from_secs(10);
const MAX_POD_FAILURE_BACKOFF: SignedDuration = SignedDuration::from_mins(10);
/// Upstream keeps each `uncountedTerminatedPods` write this small (about 20 KB of uids).
const MAX_UNCOUNTED_PODS: usize = 500;
/// Upstream creates or deletes at most this many pods in one sync.
const MAX_POD_CHANGES_PER_SYNC: usize = 500;
/// Go's `names.MaxGeneratedNameLength`: a generated name's prefix leaves room for the 5-character suffix.
const MAX_GENERATE_NAME_PREFIX: usize = 58;

const BACKOFF_LIMIT_EXCEEDED: (&str, &str) = ("BackoffLimitExceeded", "Job has reached the specified backoff limit");
const DEADLINE_EXCEEDED: (&str, &str) = ("DeadlineExceeded", "Job was active longer than specified deadline");
const COMPLETIONS_REACHED: (&str, &str) = ("CompletionsReached", "Reached expected number of succeeded pods");

/// One step for the lead to carry out. Steps run in order; when one fails, emit its `failure_event`, skip
/// the rest and retry later with backoff. A NotFound on a pod patch or delete counts as done (skip the Event
/// that immediately follows such a delete). Only reconcile a Job once the pod cache reflects the pod
/// creations, deletions and finalizer removals of its previous plan (or five minutes passed), as upstream's
/// expectations do; otherwise pods get created twice.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A strategic-merge patch to a pod: adoption, release, or removing the tracking finalizer.
    PatchPod {
        name: String,
        patch: Value,
    },
    /// Create the pod (it has `generateName`); on success emit `pod_created_event(<name it got>)`.
    CreatePod(Box<Pod>),
    /// Delete the pod (the Event saying so follows as its own step).
    DeletePod {
        name: String,
        uid: String,
    },
    /// Replace the Job's status subresource with this one (PUT …/status; when a plan holds two, the second
    /// carries the resourceVersion the first returned).
    UpdateStatus(Box<JobStatus>),
    Event(Event),
    /// The TTL after finishing ran out: delete the Job, propagation `Foreground`, precondition on the uid.
    DeleteJob {
        name: String,
        uid: String,
    },
}

impl Action {
    /// The Event upstream records when this step fails with `error`.
    pub fn failure_event(&self, error: &str) -> Option<Event> {
        match self {
            Action::CreatePod(_) => Some(Event::warning("FailedCreate", format!("Error creating: {error}"))),
            Action::DeletePod { .. } => Some(Event::warning("FailedDelete", format!("Error deleting: {error}"))),
            _ => None,
        }
    }
}

/// The Event for a pod the API server created under the name `pod_name`.
pub fn pod_created_event(pod_name: &str) -> Event {
    Event::normal("SuccessfulCreate", format!("Created pod: {pod_name}"))
}

/// Everything one reconcile decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Reconcile again after this long (backoff, active deadline, TTL); `None` waits for the next change.
    pub requeue_after: Option<Duration>,
}

impl Plan {
    fn requeue_within(&mut self, delay: SignedDuration) {
        let delay = Duration::try_from(delay).unwrap_or(Duration::ZERO);
        self.requeue_after = Some(self.requeue_after.map_or(delay, |current| current.min(delay)));
    }
}

/// A condition the Job is about to reach: type, reason, message.
#[derive(Clone, Debug, PartialEq)]
struct Finish {
    type_: &'static str,
    reason: String,
    message: String,
}

impl Finish {
    fn new(type_: &'static str, (reason, message): (&str, &str)) -> Self {
        Self { type_, reason: reason.to_string(), message: message.to_string() }
    }
}

/// Decides one reconcile of `job`; `pods` are the pods of its namespace as the lead's cache holds them.
pub fn reconcile(job: &Job, pods: &[Pod], now: Timestamp) -> Plan {
    let Some(spec) = job.spec.as_ref() else { return Plan::default() };
    if spec.managed_by.as_deref().is_some_and(|manager| manager != CONTROLLER_NAME) {
        return Plan::default();
    }
    if finished_condition(job).is_some() {
        return finished_job(job, pods, now);
    }
    if spec.completion_mode.as_deref().is_some_and(|mode| mode != "NonIndexed" && mode != "Indexed") {
        let event = Event::warning("UnknownCompletionMode", "Skipped Job sync because completion mode is unknown");
        return Plan { actions: vec![Action::Event(event)], requeue_after: None };
    }
    let mut sync = Sync::new(job, spec, now);
    let owned = sync.claim_pods(pods);
    sync.run(&owned);
    sync.plan
}

/// A finished Job: pods it still holds by the tracking finalizer are let go (upstream's orphan-pod cleanup),
/// and its TTL after finishing deletes it when due.
fn finished_job(job: &Job, pods: &[Pod], now: Timestamp) -> Plan {
    let mut plan = Plan::default();
    for pod in pods.iter().filter(|pod| is_controlled_by(pod, job) && has_tracking_finalizer(pod)) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        plan.actions.push(Action::PatchPod { name, patch: remove_finalizer_patch(TRACKING_FINALIZER) });
    }
    let ttl_seconds = job.spec.as_ref().and_then(|spec| spec.ttl_seconds_after_finished);
    let finished_at = finished_condition(job).and_then(|condition| condition.last_transition_time.as_ref()).map(|time| time.0);
    if let (Some(ttl_seconds), Some(finished_at), None) = (ttl_seconds, finished_at, &job.metadata.deletion_timestamp) {
        let expires_at = finished_at.checked_add(SignedDuration::from_secs(ttl_seconds.into())).unwrap_or(Timestamp::MAX);
        if expires_at <= now {
            let name = job.metadata.name.clone().unwrap_or_default();
            let uid = job.metadata.uid.clone().unwrap_or_default();
            plan.actions.push(Action::DeleteJob { name, uid });
        } else {
            plan.requeue_within(expires_at.duration_since(now));
        }
    }
    plan
}

/// The state of one reconcile of an unfinished Job.
struct Sync<'a> {
    job: &'a Job,
    spec: &'a JobSpec,
    now: Timestamp,
    status: JobStatus,
    plan: Plan,
    /// Pods whose tracking finalizer this plan already removes.
    finalizer_removed: BTreeSet<String>,
}

/// The counts a sync works with.
struct Counts {
    active: i32,
    ready: i32,
    terminating: i32,
    succeeded: i32,
}

impl<'a> Sync<'a> {
    fn new(job: &'a Job, spec: &'a JobSpec, now: Timestamp) -> Self {
        let status = job.status.clone().unwrap_or_default();
        Self { job, spec, now, status, plan: Plan::default(), finalizer_removed: BTreeSet::new() }
    }

    fn indexed(&self) -> bool {
        self.spec.completion_mode.as_deref() == Some("Indexed")
    }

    fn completions(&self) -> Option<i32> {
        self.spec.completions
    }

    fn suspended(&self) -> bool {
        self.spec.suspend == Some(true)
    }

    /// Upstream `onlyReplaceFailedPods`: with podReplacementPolicy `Failed` (or a pod failure policy) a pod
    /// being deleted is neither replaced nor counted as failed until it has actually failed.
    fn only_replace_failed(&self) -> bool {
        self.spec.pod_replacement_policy.as_deref() == Some("Failed") || self.spec.pod_failure_policy.is_some()
    }

    /// Upstream `isPodFailed`.
    fn is_failed(&self, pod: &Pod) -> bool {
        match phase(pod) {
            "Failed" => true,
            "Succeeded" => false,
            _ => !self.only_replace_failed() && pod.metadata.deletion_timestamp.is_some(),
        }
    }

    /// The pod's completion index when it is valid for this Job.
    fn valid_index(&self, pod: &Pod) -> Option<i32> {
        completion_index(pod).filter(|index| self.completions().is_some_and(|completions| *index < completions))
    }

    /// Counted pods of an Indexed Job must carry a valid index; NonIndexed pods always count.
    fn countable(&self, pod: &Pod) -> bool {
        !self.indexed() || self.valid_index(pod).is_some()
    }

    fn job_name(&self) -> &'a str {
        self.job.metadata.name.as_deref().unwrap_or_default()
    }

    /// Upstream `getPodsForJob`: keep, adopt (adding the tracking finalizer) or release pods.
    fn claim_pods(&mut self, pods: &[Pod]) -> Vec<Pod> {
        let job = self.job;
        let job_uid = job.metadata.uid.as_deref().unwrap_or_default();
        let reference = controller_ref("batch/v1", "Job", &job.metadata);
        let mut owned = Vec::new();
        for pod in pods {
            let selected = self.spec.selector.as_ref().is_some_and(|selector| selector_matches(selector, pod.metadata.labels.as_ref()));
            let name = pod.metadata.name.clone().unwrap_or_default();
            let pod_uid = pod.metadata.uid.as_deref().unwrap_or_default();
            match claim(&job.metadata, &pod.metadata, selected) {
                Claim::Keep => owned.push(pod.clone()),
                Claim::Adopt => {
                    let patch = adopt_patch(&reference, pod_uid, &[TRACKING_FINALIZER]);
                    self.plan.actions.push(Action::PatchPod { name, patch });
                    let mut adopted = pod.clone();
                    adopted.metadata.owner_references.get_or_insert_with(Vec::new).push(reference.clone());
                    let finalizers = adopted.metadata.finalizers.get_or_insert_with(Vec::new);
                    if !finalizers.iter().any(|finalizer| finalizer == TRACKING_FINALIZER) {
                        finalizers.push(TRACKING_FINALIZER.to_string());
                    }
                    owned.push(adopted);
                }
                Claim::Release => {
                    let patch = release_patch(job_uid, pod_uid, &[TRACKING_FINALIZER]);
                    self.plan.actions.push(Action::PatchPod { name, patch });
                }
                Claim::Ignore => {}
            }
        }
        owned
    }

    /// Upstream `syncJob` for a Job that has not finished yet.
    fn run(&mut self, pods: &[Pod]) {
        let spec = self.spec;
        let uncounted = self.status.uncounted_terminated_pods.clone().unwrap_or_default();
        let uncounted_succeeded: BTreeSet<String> = uncounted.succeeded.unwrap_or_default().into_iter().collect();
        let uncounted_failed: BTreeSet<String> = uncounted.failed.unwrap_or_default().into_iter().collect();
        let active_pods: Vec<&Pod> = pods.iter().filter(|pod| is_active(pod)).collect();
        let mut counts = Counts {
            active: count(active_pods.len()),
            ready: count(active_pods.iter().filter(|pod| is_ready(pod)).count()),
            terminating: count(pods.iter().filter(|pod| is_terminating(pod)).count()),
            succeeded: 0,
        };
        let tracked_new =
            |pod: &&Pod, uncounted: &BTreeSet<String>| has_tracking_finalizer(pod) && !uncounted.contains(uid(pod)) && self.countable(pod);
        let new_succeeded = pods.iter().filter(|pod| tracked_new(pod, &uncounted_succeeded) && phase(pod) == "Succeeded").count();
        let new_failed = pods.iter().filter(|pod| tracked_new(pod, &uncounted_failed) && self.is_failed(pod)).count();
        counts.succeeded = self.status.succeeded.unwrap_or(0) + count(new_succeeded) + count(uncounted_succeeded.len());
        let failed = self.status.failed.unwrap_or(0) + count(new_failed) + count(uncounted_failed.len());

        if self.status.start_time.is_none() && !self.suspended() {
            self.status.start_time = Some(Time(self.now));
        }
        let backoff_remaining = self.backoff_remaining(pods);

        let mut finish = self.condition("SuccessCriteriaMet").map(|condition| Finish {
            type_: "SuccessCriteriaMet",
            reason: condition.reason.clone().unwrap_or_default(),
            message: condition.message.clone().unwrap_or_default(),
        });
        if finish.is_none() {
            finish = self.condition("FailureTarget").map(|condition| Finish {
                type_: "Failed",
                reason: condition.reason.clone().unwrap_or_default(),
                message: condition.message.clone().unwrap_or_default(),
            });
        }
        if finish.is_none() {
            if failed > spec.backoff_limit.unwrap_or(6) || self.past_backoff_limit_on_failure(pods) {
                finish = Some(Finish::new("FailureTarget", BACKOFF_LIMIT_EXCEEDED));
            } else if self.past_active_deadline() {
                finish = Some(Finish::new("FailureTarget", DEADLINE_EXCEEDED));
            } else if let (Some(deadline), false) = (spec.active_deadline_seconds, self.suspended()) {
                let started = self.status.start_time.as_ref().map_or(self.now, |time| time.0);
                let elapsed = self.now.duration_since(started);
                self.plan.requeue_within(SignedDuration::from_secs(deadline).saturating_sub(elapsed));
            }
        }

        let previous_indexes = self.previous_succeeded_indexes();
        let mut succeeded_indexes = previous_indexes.clone();
        if self.indexed() {
            let newly: BTreeSet<i32> = pods
                .iter()
                .filter(|pod| phase(pod) == "Succeeded" && has_tracking_finalizer(pod))
                .filter_map(|pod| self.valid_index(pod))
                .collect();
            succeeded_indexes = succeeded_indexes.with_indexes(newly);
            counts.succeeded = succeeded_indexes.total();
            if finish.is_none() {
                if let Some(message) = self.matched_success_policy(&succeeded_indexes) {
                    finish = Some(Finish { type_: "SuccessCriteriaMet", reason: "SuccessPolicy".into(), message });
                }
            }
        }

        if finish.is_some() {
            for pod in &active_pods {
                self.delete_pod(pod);
                counts.terminating += 1;
                counts.ready -= i32::from(is_ready(pod));
            }
            counts.active -= count(active_pods.len());
        } else {
            let deleting = self.job.metadata.deletion_timestamp.is_some();
            if !deleting {
                self.manage_pods(pods, &active_pods, &mut counts, &succeeded_indexes, backoff_remaining);
            }
            let complete = match self.completions() {
                None => counts.succeeded > 0 && counts.active == 0,
                Some(completions) => counts.succeeded >= completions && counts.active == 0,
            };
            if complete {
                finish = Some(Finish::new("SuccessCriteriaMet", COMPLETIONS_REACHED));
            } else if !deleting {
                self.track_suspension();
            }
        }
        self.status.active = Some(counts.active);
        self.status.ready = Some(counts.ready);
        self.status.terminating = Some(counts.terminating);
        self.track_finished_pods(pods, &counts, finish, &previous_indexes, succeeded_indexes);
    }

    fn condition(&self, type_: &str) -> Option<&JobCondition> {
        self.status.conditions.iter().flatten().find(|condition| condition.type_ == type_ && condition.status == "True")
    }

    /// Upstream `pastBackoffLimitOnFailure`: with restartPolicy OnFailure, container restarts of running and
    /// pending pods count against the backoff limit.
    fn past_backoff_limit_on_failure(&self, pods: &[Pod]) -> bool {
        let spec = self.spec;
        let restart_policy = spec.template.spec.as_ref().and_then(|pod_spec| pod_spec.restart_policy.as_deref());
        if restart_policy != Some("OnFailure") {
            return false;
        }
        let restarts: i64 = pods
            .iter()
            .filter(|pod| matches!(phase(pod), "Running" | "Pending"))
            .filter_map(|pod| pod.status.as_ref())
            .flat_map(|status| status.init_container_statuses.iter().flatten().chain(status.container_statuses.iter().flatten()))
            .map(|container| i64::from(container.restart_count))
            .sum();
        let limit = i64::from(spec.backoff_limit.unwrap_or(6));
        if limit == 0 {
            restarts > 0
        } else {
            restarts >= limit
        }
    }

    fn past_active_deadline(&self) -> bool {
        let (Some(deadline), Some(started)) = (self.spec.active_deadline_seconds, self.status.start_time.as_ref()) else {
            return false;
        };
        !self.suspended() && self.now.duration_since(started.0) >= SignedDuration::from_secs(deadline)
    }

    /// Upstream's pod-failure backoff (10 s doubling per consecutive failure since the last success, at most
    /// 10 minutes, counted from the last failure). Upstream keeps the failure count in memory; here it is read
    /// from the pods themselves, which the tracking finalizer and pod GC keep around long enough.
    fn backoff_remaining(&self, pods: &[Pod]) -> SignedDuration {
        let last_success = pods.iter().filter(|pod| phase(pod) == "Succeeded").map(finished_time).max();
        let failures: Vec<Timestamp> = pods
            .iter()
            .filter(|pod| self.is_failed(pod))
            .map(finished_time)
            .filter(|finished| last_success.is_none_or(|success| *finished > success))
            .collect();
        let Some(last_failure) = failures.iter().max() else { return SignedDuration::ZERO };
        let mut backoff = DEFAULT_POD_FAILURE_BACKOFF;
        for _ in 1..failures.len() {
            backoff = backoff.saturating_mul(2);
            if backoff >= MAX_POD_FAILURE_BACKOFF {
                backoff = MAX_POD_FAILURE_BACKOFF;
                break;
            }
        }
        let elapsed = self.now.duration_since(*last_failure);
        if backoff < elapsed {
            SignedDuration::ZERO
        } else {
            backoff - elapsed
        }
    }

    fn previous_succeeded_indexes(&self) -> Intervals {
        match (self.indexed(), self.completions()) {
            (true, Some(completions)) => Intervals::parse(self.status.completed_indexes.as_deref().unwrap_or_default(), completions),
            _ => Intervals::default(),
        }
    }

    /// Upstream `matchSuccessPolicy`: the first rule whose indexes (all, or `succeededCount` of them) or whose
    /// count has succeeded.
    fn matched_success_policy(&self, succeeded: &Intervals) -> Option<String> {
        let rules = &self.spec.success_policy.as_ref()?.rules;
        let completions = self.completions()?;
        if succeeded.0.is_empty() {
            return None;
        }
        rules.iter().enumerate().find_map(|(position, rule)| {
            let matched = match (&rule.succeeded_indexes, rule.succeeded_count) {
                (Some(indexes), count) => {
                    let required = Intervals::parse(indexes, completions);
                    let overlap = required.overlap(succeeded);
                    !required.0.is_empty() && (overlap == required.total() || count.is_some_and(|count| overlap >= count))
                }
                (None, Some(count)) => succeeded.total() >= count,
                (None, None) => false,
            };
            matched.then(|| format!("Matched rules at index {position}"))
        })
    }

    /// Delete a pod as upstream's `DeletePod` does (finalizer kept; the pod is counted once it is gone).
    fn delete_pod(&mut self, pod: &Pod) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        self.plan.actions.push(Action::DeletePod { name: name.clone(), uid: uid(pod).to_string() });
        self.plan.actions.push(Action::Event(Event::normal("SuccessfulDelete", format!("Deleted pod: {name}"))));
    }

    /// Upstream `deleteJobPods`: release the tracking finalizer first so that a pod removed on purpose is
    /// not counted as failed, then delete.
    fn remove_pod(&mut self, pod: &Pod) {
        if has_tracking_finalizer(pod) && self.finalizer_removed.insert(uid(pod).to_string()) {
            let name = pod.metadata.name.clone().unwrap_or_default();
            self.plan.actions.push(Action::PatchPod { name, patch: remove_finalizer_patch(TRACKING_FINALIZER) });
        }
        self.delete_pod(pod);
    }

    /// Upstream `manageJob`: delete pods beyond what is wanted, or create the missing ones.
    fn manage_pods(&mut self, pods: &[Pod], active_pods: &[&Pod], counts: &mut Counts, succeeded: &Intervals, backoff: SignedDuration) {
        let spec = self.spec;
        if self.suspended() {
            let removed = self.pods_for_removal(active_pods, active_pods.len());
            self.remove_pods(&removed, counts);
            return;
        }
        let parallelism = spec.parallelism.unwrap_or(1).max(0);
        let want_active = match self.completions() {
            None if counts.succeeded > 0 => counts.active,
            None => parallelism,
            Some(completions) => (completions - counts.succeeded).min(parallelism).max(0),
        };
        let excess = usize::try_from(counts.active - want_active).unwrap_or(0);
        let mut removed = self.pods_for_removal(active_pods, excess);
        if !removed.is_empty() {
            removed.truncate(MAX_POD_CHANGES_PER_SYNC);
            self.remove_pods(&removed, counts);
            return;
        }
        let terminating = if self.only_replace_failed() { counts.terminating } else { 0 };
        let missing = want_active - terminating - counts.active;
        if missing <= 0 {
            return;
        }
        if backoff > SignedDuration::ZERO {
            self.plan.requeue_within(backoff);
            return;
        }
        let missing = usize::try_from(missing).unwrap_or(0).min(MAX_POD_CHANGES_PER_SYNC);
        let new_pods: Vec<Pod> = if self.indexed() {
            self.pending_indexes(pods, active_pods, succeeded, missing).into_iter().map(|index| self.new_pod(Some(index))).collect()
        } else {
            (0..missing).map(|_| self.new_pod(None)).collect()
        };
        counts.active += count(new_pods.len());
        self.plan.actions.extend(new_pods.into_iter().map(|pod| Action::CreatePod(Box::new(pod))));
    }

    fn remove_pods(&mut self, removed: &[&Pod], counts: &mut Counts) {
        for pod in removed {
            self.remove_pod(pod);
            counts.active -= 1;
            counts.terminating += 1;
            counts.ready -= i32::from(is_ready(pod));
        }
    }

    /// Upstream `activePodsForRemoval`: for Indexed Jobs first pods without a valid index and all but one pod
    /// per repeated index, then the pods least far along (unscheduled, pending, not ready, ready for less
    /// time, more restarts, newer).
    fn pods_for_removal<'p>(&self, active_pods: &[&'p Pod], at_least: usize) -> Vec<&'p Pod> {
        let mut removed = Vec::new();
        let mut left = Vec::new();
        if self.indexed() {
            let mut by_index: BTreeMap<i32, Vec<&Pod>> = BTreeMap::new();
            for pod in active_pods {
                match self.valid_index(pod) {
                    Some(index) => by_index.entry(index).or_default().push(pod),
                    None => removed.push(*pod),
                }
            }
            for mut same_index in by_index.into_values() {
                same_index.sort_by(|a, b| removal_order(a, b));
                let kept = same_index.pop();
                removed.extend(same_index);
                left.extend(kept);
            }
        } else {
            left.extend(active_pods.iter().copied());
        }
        if removed.len() < at_least {
            left.sort_by(|a, b| removal_order(a, b));
            let more = (at_least - removed.len()).min(left.len());
            removed.extend(left.into_iter().take(more));
        }
        removed
    }

    /// Upstream `firstPendingIndexes`: the lowest indexes that have not succeeded and have no active pod
    /// (nor a terminating one, when only failed pods are replaced).
    fn pending_indexes(&self, pods: &[Pod], active_pods: &[&Pod], succeeded: &Intervals, wanted: usize) -> Vec<i32> {
        let Some(completions) = self.completions() else { return Vec::new() };
        let mut taken: BTreeSet<i32> = active_pods.iter().filter_map(|pod| completion_index(pod)).collect();
        if self.only_replace_failed() {
            taken.extend(pods.iter().filter(|pod| is_terminating(pod)).filter_map(completion_index));
        }
        (0..completions).filter(|index| !succeeded.has(*index) && !taken.contains(index)).take(wanted).collect()
    }

    /// Upstream `GetPodFromTemplate` plus the Job's additions: the tracking finalizer, and for an Indexed
    /// Job the index annotation, label, hostname, generated-name prefix and `JOB_COMPLETION_INDEX` variable.
    fn new_pod(&self, index: Option<i32>) -> Pod {
        let job = self.job;
        let template = &self.spec.template;
        let template_meta = template.metadata.clone().unwrap_or_default();
        let mut pod_spec = template.spec.clone().unwrap_or_default();
        let mut finalizers = template_meta.finalizers.unwrap_or_default();
        if !finalizers.iter().any(|finalizer| finalizer == TRACKING_FINALIZER) {
            finalizers.push(TRACKING_FINALIZER.to_string());
        }
        let mut labels = template_meta.labels.unwrap_or_default();
        let mut annotations = template_meta.annotations.unwrap_or_default();
        let name = self.job_name();
        let generate_name = match index {
            Some(index) => {
                pod_spec.init_containers.iter_mut().flatten().chain(pod_spec.containers.iter_mut()).for_each(add_index_variable);
                annotations.insert(COMPLETION_INDEX_ANNOTATION.to_string(), index.to_string());
                labels.insert(COMPLETION_INDEX_ANNOTATION.to_string(), index.to_string());
                pod_spec.hostname = Some(format!("{name}-{index}"));
                indexed_generate_name(name, index)
            }
            None => format!("{name}-"),
        };
        Pod {
            metadata: ObjectMeta {
                generate_name: Some(generate_name),
                namespace: job.metadata.namespace.clone(),
                labels: Some(labels).filter(|labels| !labels.is_empty()),
                annotations: Some(annotations).filter(|annotations| !annotations.is_empty()),
                finalizers: Some(finalizers),
                owner_references: Some(vec![controller_ref("batch/v1", "Job", &job.metadata)]),
                ..Default::default()
            },
            spec: Some(pod_spec),
            status: None,
        }
    }

    /// Upstream's `Suspended` condition bookkeeping; resuming restarts the active-deadline clock.
    fn track_suspension(&mut self) {
        let (status, reason, message, event_reason) = if self.suspended() {
            ("True", "JobSuspended", "Job suspended", "Suspended")
        } else {
            ("False", "JobResumed", "Job resumed", "Resumed")
        };
        if ensure_condition(&mut self.status, "Suspended", status, reason, message, self.now) {
            self.plan.actions.push(Action::Event(Event::normal(event_reason, message)));
            if !self.suspended() {
                self.status.start_time = Some(Time(self.now));
            }
        }
    }

    /// Upstream `trackJobStatusAndRemoveFinalizers`: record finished pods in `uncountedTerminatedPods`, write
    /// that, release their finalizers, move them into the counters, and mark the Job finished once nothing is
    /// left uncounted or terminating.
    fn track_finished_pods(&mut self, pods: &[Pod], counts: &Counts, finish: Option<Finish>, previous: &Intervals, succeeded: Intervals) {
        let original = self.job.status.clone().unwrap_or_default();
        let uncounted = self.status.uncounted_terminated_pods.clone().unwrap_or_default();
        let was_uncounted_succeeded: BTreeSet<String> = uncounted.succeeded.iter().flatten().cloned().collect();
        let was_uncounted_failed: BTreeSet<String> = uncounted.failed.iter().flatten().cloned().collect();
        let mut with_finalizer: BTreeSet<String> = pods
            .iter()
            .filter(|pod| has_tracking_finalizer(pod) && !self.finalizer_removed.contains(uid(pod)))
            .map(|pod| uid(pod).to_string())
            .collect();
        let mut uncounted_succeeded = uncounted.succeeded.unwrap_or_default();
        let mut uncounted_failed = uncounted.failed.unwrap_or_default();
        move_counted(&mut self.status, &mut uncounted_succeeded, &mut uncounted_failed, &with_finalizer);

        let indexed = self.indexed();
        let mut ordered: Vec<&Pod> = pods.iter().collect();
        if indexed {
            ordered.sort_by_key(|pod| completion_index(pod).unwrap_or(-1));
        }
        let deleting = self.job.metadata.deletion_timestamp.is_some();
        let failing = finish.as_ref().is_some_and(|finish| finish.type_ != "SuccessCriteriaMet");
        let mut releasing = Vec::new();
        let mut new_indexes = BTreeSet::new();
        let mut reached_max = false;
        for pod in ordered {
            let pod_uid = uid(pod);
            if !has_tracking_finalizer(pod) || self.finalizer_removed.contains(pod_uid) {
                continue;
            }
            let failed = self.is_failed(pod);
            if !(deleting || finish.is_some() || phase(pod) == "Succeeded" || failed) {
                continue;
            }
            releasing.push(pod);
            if phase(pod) == "Succeeded" && !was_uncounted_failed.contains(pod_uid) {
                if indexed {
                    if let Some(index) = self.valid_index(pod).filter(|index| !previous.has(*index)) {
                        new_indexes.insert(index);
                    }
                } else if !was_uncounted_succeeded.contains(pod_uid) {
                    uncounted_succeeded.push(pod_uid.to_string());
                }
            } else if (failed || failing) && !was_uncounted_failed.contains(pod_uid) && self.countable(pod) {
                uncounted_failed.push(pod_uid.to_string());
            }
            if new_indexes.len() + uncounted_succeeded.len() + uncounted_failed.len() >= MAX_UNCOUNTED_PODS {
                reached_max = true;
                break;
            }
        }
        if indexed {
            let succeeded = succeeded.with_indexes(new_indexes);
            self.status.succeeded = Some(succeeded.total());
            self.status.completed_indexes = Some(succeeded.to_string());
        }
        set_uncounted(&mut self.status, &uncounted_succeeded, &uncounted_failed);

        let mut finish = finish;
        if let Some(interim) = finish.as_mut() {
            if interim.type_ == "FailureTarget" {
                add_condition(&mut self.status, "FailureTarget", &interim.reason, &interim.message, self.now);
                interim.type_ = "Failed";
            } else if interim.type_ == "SuccessCriteriaMet" {
                if self.condition("SuccessCriteriaMet").is_none() {
                    add_condition(&mut self.status, "SuccessCriteriaMet", &interim.reason, &interim.message, self.now);
                }
                interim.type_ = "Complete";
            }
        }

        let mut written = original;
        if !releasing.is_empty() {
            if normalized(&self.status) != normalized(&written) {
                written = self.status.clone();
                self.plan.actions.push(Action::UpdateStatus(Box::new(written.clone())));
            }
            for pod in &releasing {
                let name = pod.metadata.name.clone().unwrap_or_default();
                self.plan.actions.push(Action::PatchPod { name, patch: remove_finalizer_patch(TRACKING_FINALIZER) });
                with_finalizer.remove(uid(pod));
            }
            move_counted(&mut self.status, &mut uncounted_succeeded, &mut uncounted_failed, &with_finalizer);
            set_uncounted(&mut self.status, &uncounted_succeeded, &uncounted_failed);
        }

        let mut events = Vec::new();
        let nothing_pending = uncounted_succeeded.is_empty() && uncounted_failed.is_empty() && counts.terminating == 0;
        if let (Some(finish), false, true) = (&finish, reached_max, nothing_pending) {
            ensure_condition(&mut self.status, finish.type_, "True", &finish.reason, &finish.message, self.now);
            if finish.type_ == "Complete" {
                self.status.completion_time = Some(Time(self.now));
                let succeeded = self.status.succeeded.unwrap_or(0);
                if self.completions().is_some_and(|completions| succeeded > completions) {
                    events.push(Event::warning("TooManySucceededPods", "Too many succeeded pods running after completion count reached"));
                }
                events.push(Event::normal("Completed", "Job completed"));
            } else {
                events.push(Event::warning(&finish.reason, finish.message.clone()));
            }
            if let Some(ttl_seconds) = self.spec.ttl_seconds_after_finished {
                self.plan.requeue_within(SignedDuration::from_secs(ttl_seconds.into()));
            }
        }
        if normalized(&self.status) != normalized(&written) {
            self.plan.actions.push(Action::UpdateStatus(Box::new(self.status.clone())));
        }
        self.plan.actions.extend(events.into_iter().map(Action::Event));
    }
}

/// Upstream `cleanUncountedPodsWithoutFinalizers`: uncounted pods whose finalizer is gone are counted now.
fn move_counted(status: &mut JobStatus, succeeded: &mut Vec<String>, failed: &mut Vec<String>, with_finalizer: &BTreeSet<String>) {
    let before = (succeeded.len(), failed.len());
    succeeded.retain(|uid| with_finalizer.contains(uid));
    failed.retain(|uid| with_finalizer.contains(uid));
    status.succeeded = Some(status.succeeded.unwrap_or(0) + count(before.0 - succeeded.len()));
    status.failed = Some(status.failed.unwrap_or(0) + count(before.1 - failed.len()));
}

fn set_uncounted(status: &mut JobStatus, succeeded: &[String], failed: &[String]) {
    let list = |uids: &[String]| (!uids.is_empty()).then(|| uids.to_vec());
    status.uncounted_terminated_pods = Some(UncountedTerminatedPods { succeeded: list(succeeded), failed: list(failed) });
}

/// The status with upstream's always-present zero counters filled in, so that comparing before and after
/// only sees real changes.
fn normalized(status: &JobStatus) -> JobStatus {
    let mut status = status.clone();
    status.succeeded.get_or_insert(0);
    status.failed.get_or_insert(0);
    status.active.get_or_insert(0);
    status.uncounted_terminated_pods.get_or_insert_with(Default::default);
    status
}

fn new_condition(type_: &str, status: &str, reason: &str, message: &str, now: Timestamp) -> JobCondition {
    JobCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()).filter(|reason| !reason.is_empty()),
        message: Some(message.to_string()).filter(|message| !message.is_empty()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

fn add_condition(status: &mut JobStatus, type_: &str, reason: &str, message: &str, now: Timestamp) {
    status.conditions.get_or_insert_with(Vec::new).push(new_condition(type_, "True", reason, message, now));
}

/// Upstream `ensureJobConditionStatus`: update a condition that differs, add a missing one unless it would
/// be `False`. Says whether anything changed.
fn ensure_condition(status: &mut JobStatus, type_: &str, value: &str, reason: &str, message: &str, now: Timestamp) -> bool {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    match conditions.iter_mut().find(|condition| condition.type_ == type_) {
        Some(condition) => {
            let same = condition.status == value
                && condition.reason.as_deref().unwrap_or_default() == reason
                && condition.message.as_deref().unwrap_or_default() == message;
            if !same {
                *condition = new_condition(type_, value, reason, message, now);
            }
            !same
        }
        None if value != "False" => {
            conditions.push(new_condition(type_, value, reason, message, now));
            true
        }
        None => false,
    }
}

/// The Job's `Complete` or `Failed` condition, when it is `True`.
fn finished_condition(job: &Job) -> Option<&JobCondition> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().find(|condition| (condition.type_ == "Complete" || condition.type_ == "Failed") && condition.status == "True")
}

fn is_controlled_by(pod: &Pod, job: &Job) -> bool {
    super::podutil::controller_of(&pod.metadata).is_some_and(|owner| Some(&owner.uid) == job.metadata.uid.as_ref())
}

fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.metadata.finalizers.iter().flatten().any(|finalizer| finalizer == TRACKING_FINALIZER)
}

fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|status| status.phase.as_deref()).unwrap_or_default()
}

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

/// Being deleted but not finished (upstream `IsPodTerminating`).
fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some() && !matches!(phase(pod), "Succeeded" | "Failed")
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The pod's completion index annotation, when it is a non-negative integer.
fn completion_index(pod: &Pod) -> Option<i32> {
    let value = pod.metadata.annotations.as_ref()?.get(COMPLETION_INDEX_ANNOTATION)?;
    value.parse::<i32>().ok().filter(|index| *index >= 0)
}

/// Upstream `podGenerateNameWithIndex`: `<job>-<index>-`, with the job name cut to fit.
fn indexed_generate_name(job_name: &str, index: i32) -> String {
    let suffix = format!("-{index}-");
    let prefix = format!("{job_name}{suffix}");
    if prefix.len() <= MAX_GENERATE_NAME_PREFIX {
        return prefix;
    }
    let mut cut = MAX_GENERATE_NAME_PREFIX.saturating_sub(suffix.len());
    while !job_name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &job_name[..cut])
}

/// Upstream `addCompletionIndexEnvVariable`: `JOB_COMPLETION_INDEX` from the index label, unless set.
fn add_index_variable(container: &mut Container) {
    let env = container.env.get_or_insert_with(Vec::new);
    if env.iter().any(|variable| variable.name == COMPLETION_INDEX_ENV) {
        return;
    }
    env.push(EnvVar {
        name: COMPLETION_INDEX_ENV.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: format!("metadata.labels['{COMPLETION_INDEX_ANNOTATION}']"),
            }),
            ..Default::default()
        }),
    });
}

/// Upstream `getFinishedTime`: the last container exit, else when Ready turned False, else the deletion
/// time less its grace period, else creation.
fn finished_time(pod: &Pod) -> Timestamp {
    let status = pod.status.as_ref();
    let containers = status.and_then(|status| status.container_statuses.as_ref()).filter(|containers| !containers.is_empty());
    let from_containers = containers.and_then(|containers| {
        containers.iter().try_fold(Timestamp::MIN, |latest, container| {
            let finished = container.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref()?.0;
            Some(latest.max(finished))
        })
    });
    if let Some(finished) = from_containers {
        return finished;
    }
    let not_ready_since = status.and_then(|status| status.conditions.as_ref()).and_then(|conditions| {
        conditions.iter().find(|condition| condition.type_ == "Ready" && condition.status == "False")?.last_transition_time.as_ref()
    });
    if let Some(since) = not_ready_since {
        return since.0;
    }
    if let Some(deleted) = &pod.metadata.deletion_timestamp {
        let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(0);
        return deleted.0.checked_sub(SignedDuration::from_secs(grace)).unwrap_or(deleted.0);
    }
    pod.metadata.creation_timestamp.as_ref().map_or(Timestamp::MIN, |time| time.0)
}

/// Upstream `controller.ActivePods` order: the pod to remove first sorts first.
fn removal_order(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let node = |pod: &Pod| pod.spec.as_ref().and_then(|spec| spec.node_name.clone()).unwrap_or_default();
    let phase_rank = |pod: &Pod| match phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    };
    let restarts = |pod: &Pod| {
        let statuses = pod.status.as_ref().and_then(|status| status.container_statuses.as_ref());
        statuses.into_iter().flatten().map(|container| container.restart_count).max().unwrap_or(0)
    };
    // Later (or unknown) times sort first.
    let later_first = |x: Option<Timestamp>, y: Option<Timestamp>| match (x, y) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => y.cmp(&x),
    };
    let (node_a, node_b) = (node(a), node(b));
    if node_a != node_b && (node_a.is_empty() || node_b.is_empty()) {
        return if node_a.is_empty() { Ordering::Less } else { Ordering::Greater };
    }
    phase_rank(a)
        .cmp(&phase_rank(b))
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        .then_with(|| if is_ready(a) && is_ready(b) { later_first(ready_since(a), ready_since(b)) } else { Ordering::Equal })
        .then_with(|| restarts(b).cmp(&restarts(a)))
        .then_with(|| {
            let created = |pod: &Pod| pod.metadata.creation_timestamp.as_ref().map(|time| time.0);
            later_first(created(a), created(b))
        })
}

/// Sorted, non-overlapping, non-adjacent index intervals, as `status.completedIndexes` spells them
/// (`1,3-5,7`).
#[derive(Clone, Debug, Default, PartialEq)]
struct Intervals(Vec<(i32, i32)>);

impl Intervals {
    /// Upstream `parseIndexesFromString`: corrupt items are skipped, indexes at or beyond `completions` dropped.
    fn parse(text: &str, completions: i32) -> Self {
        let mut intervals: Vec<(i32, i32)> = Vec::new();
        for item in text.split(',').filter(|item| !item.is_empty()) {
            let mut limits = item.split('-');
            let Some(Ok(first)) = limits.next().map(str::parse::<i32>) else { continue };
            if first >= completions {
                break;
            }
            let last = match limits.next() {
                Some(last) => match last.parse::<i32>() {
                    Ok(last) => last.min(completions - 1),
                    Err(_) => continue,
                },
                None => first,
            };
            match intervals.last_mut() {
                Some(previous) if previous.1 == first - 1 => previous.1 = last,
                _ => intervals.push((first, last)),
            }
        }
        Self(intervals)
    }

    fn with_indexes(&self, indexes: BTreeSet<i32>) -> Self {
        let mut all: Vec<(i32, i32)> = self.0.iter().copied().chain(indexes.into_iter().map(|index| (index, index))).collect();
        all.sort_unstable();
        let mut merged: Vec<(i32, i32)> = Vec::new();
        for (first, last) in all {
            match merged.last_mut() {
                Some(previous) if first <= previous.1.saturating_add(1) => previous.1 = previous.1.max(last),
                _ => merged.push((first, last)),
            }
        }
        Self(merged)
    }

    fn total(&self) -> i32 {
        self.0.iter().map(|(first, last)| last - first + 1).sum()
    }

    fn has(&self, index: i32) -> bool {
        self.0.iter().any(|(first, last)| (*first..=*last).contains(&index))
    }

    /// How many indexes the two sets share.
    fn overlap(&self, other: &Intervals) -> i32 {
        self.0
            .iter()
            .flat_map(|(a_first, a_last)| {
                other.0.iter().map(move |(b_first, b_last)| (*a_last.min(b_last) - *a_first.max(b_first) + 1).max(0))
            })
            .sum()
    }
}

impl std::fmt::Display for Intervals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (position, (first, last)) in self.0.iter().enumerate() {
            if position > 0 {
                f.write_str(",")?;
            }
            match last - first {
                0 => write!(f, "{first}")?,
                1 => write!(f, "{first},{last}")?,
                _ => write!(f, "{first}-{last}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{SuccessPolicy, SuccessPolicyRule};
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStatus, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    const NOW: &str = "2024-01-01T12:00:00Z";

    fn job(completions: Option<i32>, parallelism: i32) -> Job {
        let labels = BTreeMap::from([
            ("batch.kubernetes.io/controller-uid".to_string(), "job-uid".to_string()),
            ("batch.kubernetes.io/job-name".to_string(), "pi".to_string()),
            ("controller-uid".to_string(), "job-uid".to_string()),
            ("job-name".to_string(), "pi".to_string()),
        ]);
        Job {
            metadata: ObjectMeta {
                name: Some("pi".into()),
                namespace: Some("default".into()),
                uid: Some("job-uid".into()),
                ..Default::default()
            },
            spec: Some(JobSpec {
                completions,
                parallelism: Some(parallelism),
                backoff_limit: Some(6),
                completion_mode: Some("NonIndexed".into()),
                suspend: Some(false),
                selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([("batch.kubernetes.io/controller-uid".to_string(), "job-uid".to_string())])),
                    ..Default::default()
                }),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta { labels: Some(labels), ..Default::default() }),
                    spec: Some(PodSpec {
                        restart_policy: Some("Never".into()),
                        containers: vec![Container { name: "pi".into(), image: Some("perl".into()), ..Default::default() }],
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            status: None,
        }
    }

    fn indexed(mut job: Job) -> Job {
        job.spec.as_mut().unwrap().completion_mode = Some("Indexed".into());
        job
    }

    /// A pod of job "pi" in `phase`, finishing at `finished` (for terminal phases).
    fn pod(name: &str, phase: &str, finished: &str) -> Pod {
        let terminated = matches!(phase, "Succeeded" | "Failed").then(|| ContainerStatus {
            name: "pi".into(),
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated { finished_at: Some(Time(at(finished))), ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        });
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                labels: Some(BTreeMap::from([("batch.kubernetes.io/controller-uid".to_string(), "job-uid".to_string())])),
                finalizers: Some(vec![TRACKING_FINALIZER.to_string()]),
                owner_references: Some(vec![OwnerReference {
                    api_version: "batch/v1".into(),
                    kind: "Job".into(),
                    name: "pi".into(),
                    uid: "job-uid".into(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                creation_timestamp: Some(Time(at("2024-01-01T11:00:00Z"))),
                ..Default::default()
            },
            spec: Some(PodSpec { node_name: Some("node".into()), ..Default::default() }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                container_statuses: terminated.map(|status| vec![status]),
                ..Default::default()
            }),
        }
    }

    fn ready(mut pod: Pod) -> Pod {
        pod.status.as_mut().unwrap().conditions = Some(vec![PodCondition {
            type_: "Ready".into(),
            status: "True".into(),
            last_transition_time: Some(Time(at("2024-01-01T11:30:00Z"))),
            ..Default::default()
        }]);
        pod
    }

    fn with_index(mut pod: Pod, index: i32) -> Pod {
        pod.metadata.annotations = Some(BTreeMap::from([(COMPLETION_INDEX_ANNOTATION.to_string(), index.to_string())]));
        pod
    }

    fn created(plan: &Plan) -> Vec<&Pod> {
        plan.actions
            .iter()
            .filter_map(|action| match action {
                Action::CreatePod(pod) => Some(pod.as_ref()),
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

    fn released(plan: &Plan) -> Vec<&str> {
        plan.actions
            .iter()
            .filter_map(|action| match action {
                Action::PatchPod { name, patch } if patch == &remove_finalizer_patch(TRACKING_FINALIZER) => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    fn statuses(plan: &Plan) -> Vec<&JobStatus> {
        plan.actions
            .iter()
            .filter_map(|action| match action {
                Action::UpdateStatus(status) => Some(status.as_ref()),
                _ => None,
            })
            .collect()
    }

    fn final_status(plan: &Plan) -> &JobStatus {
        statuses(plan).last().copied().expect("a status write")
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

    fn condition<'s>(status: &'s JobStatus, type_: &str) -> Option<&'s JobCondition> {
        status.conditions.iter().flatten().find(|condition| condition.type_ == type_)
    }

    #[test]
    fn a_new_job_creates_parallelism_pods_with_the_tracking_finalizer() {
        let plan = reconcile(&job(Some(5), 2), &[], at(NOW));
        let pods = created(&plan);
        assert_eq!(pods.len(), 2);
        let meta = &pods[0].metadata;
        assert_eq!(meta.generate_name.as_deref(), Some("pi-"));
        assert_eq!(meta.finalizers, Some(vec![TRACKING_FINALIZER.to_string()]));
        assert_eq!(meta.labels.as_ref().unwrap()["job-name"], "pi");
        let owner = &meta.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str(), owner.controller), ("Job", "job-uid", Some(true)));
        let status = final_status(&plan);
        assert_eq!((status.active, status.ready, status.terminating), (Some(2), Some(0), Some(0)));
        assert_eq!(status.start_time, Some(Time(at(NOW))));
    }

    #[test]
    fn completions_bound_the_pods_still_wanted() {
        let mut job = job(Some(3), 3);
        job.status = Some(JobStatus { succeeded: Some(2), ..Default::default() });
        let running = ready(pod("a", "Running", ""));
        let plan = reconcile(&job, &[running], at(NOW));
        assert!(created(&plan).is_empty(), "one completion left and one pod running");
        // Too many running for what is left: the least advanced goes, its finalizer first.
        let plan = reconcile(&job, &[ready(pod("a", "Running", "")), pod("b", "Pending", "")], at(NOW));
        assert_eq!(deleted(&plan), vec!["b"]);
        assert_eq!(released(&plan), vec!["b"]);
        assert_eq!(final_status(&plan).active, Some(1));
    }

    #[test]
    fn succeeded_pods_are_counted_through_the_finalizer_and_the_job_completes() {
        let mut job = job(Some(2), 2);
        job.status = Some(JobStatus { active: Some(2), start_time: Some(Time(at("2024-01-01T11:00:00Z"))), ..Default::default() });
        let pods = [pod("a", "Succeeded", "2024-01-01T11:50:00Z"), pod("b", "Succeeded", "2024-01-01T11:55:00Z")];
        let plan = reconcile(&job, &pods, at(NOW));
        let writes = statuses(&plan);
        // First the uids are recorded as uncounted, then the finalizers go, then they are counted.
        let interim = writes[0];
        let uncounted = interim.uncounted_terminated_pods.as_ref().unwrap();
        assert_eq!(uncounted.succeeded, Some(vec!["uid-a".to_string(), "uid-b".to_string()]));
        assert_eq!(condition(interim, "SuccessCriteriaMet").unwrap().reason.as_deref(), Some("CompletionsReached"));
        assert_eq!(released(&plan), vec!["a", "b"]);
        let status = writes[1];
        assert_eq!(status.succeeded, Some(2));
        assert_eq!(status.uncounted_terminated_pods, Some(UncountedTerminatedPods::default()));
        let complete = condition(status, "Complete").unwrap();
        assert_eq!(
            (complete.status.as_str(), complete.reason.as_deref(), complete.message.as_deref()),
            ("True", Some("CompletionsReached"), Some("Reached expected number of succeeded pods"))
        );
        assert_eq!(status.completion_time, Some(Time(at(NOW))));
        assert_eq!(events(&plan), vec![("Completed", "Job completed")]);
        // The status write comes before the Event, as upstream records it after the update.
        assert!(matches!(plan.actions.last(), Some(Action::Event(_))));
    }

    #[test]
    fn work_queue_jobs_finish_after_one_success_once_the_rest_stop() {
        let mut job = job(None, 3);
        job.status = Some(JobStatus { start_time: Some(Time(at("2024-01-01T11:00:00Z"))), ..Default::default() });
        let pods = [pod("a", "Succeeded", "2024-01-01T11:50:00Z"), ready(pod("b", "Running", ""))];
        let plan = reconcile(&job, &pods, at(NOW));
        assert!(created(&plan).is_empty(), "after a success, no new pods");
        assert!(condition(final_status(&plan), "Complete").is_none(), "b still runs");
        let pods = [pod("a", "Succeeded", "2024-01-01T11:50:00Z"), pod("b", "Succeeded", "2024-01-01T11:58:00Z")];
        let plan = reconcile(&job, &pods, at(NOW));
        assert!(condition(final_status(&plan), "Complete").is_some());
    }

    #[test]
    fn failed_pods_are_replaced_after_an_exponential_backoff() {
        let mut job = job(Some(1), 1);
        job.status = Some(JobStatus { start_time: Some(Time(at("2024-01-01T11:00:00Z"))), ..Default::default() });
        let failed_once = [pod("a", "Failed", "2024-01-01T11:59:55Z")];
        let plan = reconcile(&job, &failed_once, at(NOW));
        assert!(created(&plan).is_empty());
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(5)), "10 s after the failure");
        assert_eq!(final_status(&plan).failed, Some(1));
        let plan = reconcile(&job, &failed_once, at("2024-01-01T12:00:06Z"));
        assert_eq!(created(&plan).len(), 1);
        // Three consecutive failures: 40 s.
        let thrice = [
            pod("a", "Failed", "2024-01-01T11:58:00Z"),
            pod("b", "Failed", "2024-01-01T11:59:00Z"),
            pod("c", "Failed", "2024-01-01T11:59:50Z"),
        ];
        let plan = reconcile(&job, &thrice, at(NOW));
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(30)));
        // A success resets the count.
        let mut job = job.clone();
        job.spec.as_mut().unwrap().completions = Some(2);
        let reset = [
            pod("a", "Failed", "2024-01-01T11:58:00Z"),
            pod("b", "Succeeded", "2024-01-01T11:59:00Z"),
            pod("c", "Failed", "2024-01-01T11:59:55Z"),
        ];
        assert_eq!(reconcile(&job, &reset, at(NOW)).requeue_after, Some(Duration::from_secs(5)));
    }

    #[test]
    fn exceeding_the_backoff_limit_fails_the_job_through_failure_target() {
        let mut job = job(Some(1), 1);
        job.spec.as_mut().unwrap().backoff_limit = Some(1);
        job.status = Some(JobStatus { start_time: Some(Time(at("2024-01-01T11:00:00Z"))), failed: Some(1), ..Default::default() });
        let pods = [pod("b", "Failed", "2024-01-01T11:59:00Z"), ready(pod("c", "Running", ""))];
        let plan = reconcile(&job, &pods, at(NOW));
        assert_eq!(deleted(&plan), vec!["c"]);
        let status = final_status(&plan);
        let target = condition(status, "FailureTarget").unwrap();
        assert_eq!(
            (target.reason.as_deref(), target.message.as_deref()),
            (Some("BackoffLimitExceeded"), Some("Job has reached the specified backoff limit"))
        );
        assert!(condition(status, "Failed").is_none(), "c is still terminating");
        assert_eq!(status.failed, Some(3), "b, and c counted as failed once its finalizer is released");
        assert_eq!(status.terminating, Some(1));
        // Next pass: c is gone; the Job fails.
        let mut job = job.clone();
        job.status = Some(status.clone());
        let plan = reconcile(&job, &[], at(NOW));
        let failed = condition(final_status(&plan), "Failed").unwrap();
        assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
        assert_eq!(events(&plan), vec![("BackoffLimitExceeded", "Job has reached the specified backoff limit")]);
        assert!(final_status(&plan).completion_time.is_none());
    }

    #[test]
    fn the_active_deadline_fails_the_job_and_is_requeued_until_then() {
        let mut job = job(Some(1), 1);
        job.spec.as_mut().unwrap().active_deadline_seconds = Some(3600);
        job.status = Some(JobStatus { start_time: Some(Time(at("2024-01-01T11:30:00Z"))), ..Default::default() });
        let running = [ready(pod("a", "Running", ""))];
        let plan = reconcile(&job, &running, at(NOW));
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(1800)));
        let plan = reconcile(&job, &running, at("2024-01-01T12:30:00Z"));
        assert_eq!(deleted(&plan), vec!["a"]);
        let target = condition(final_status(&plan), "FailureTarget").unwrap();
        assert_eq!(
            (target.reason.as_deref(), target.message.as_deref()),
            (Some("DeadlineExceeded"), Some("Job was active longer than specified deadline"))
        );
    }

    #[test]
    fn suspension_deletes_pods_and_resuming_restarts_the_clock() {
        let mut job = job(Some(2), 2);
        job.spec.as_mut().unwrap().suspend = Some(true);
        job.status = Some(JobStatus { start_time: Some(Time(at("2024-01-01T11:00:00Z"))), ..Default::default() });
        let plan = reconcile(&job, &[ready(pod("a", "Running", ""))], at(NOW));
        assert_eq!(deleted(&plan), vec!["a"]);
        assert_eq!(released(&plan), vec!["a"], "a pod removed on purpose is not counted as failed");
        let status = final_status(&plan);
        assert_eq!(condition(status, "Suspended").unwrap().reason.as_deref(), Some("JobSuspended"));
        assert_eq!(status.failed, Some(0));
        assert!(events(&plan).contains(&("Suspended", "Job suspended")));
        let mut resumed = job.clone();
        resumed.spec.as_mut().unwrap().suspend = Some(false);
        resumed.status = Some(status.clone());
        let plan = reconcile(&resumed, &[], at("2024-01-01T13:00:00Z"));
        assert_eq!(created(&plan).len(), 2);
        let status = final_status(&plan);
        assert_eq!(condition(status, "Suspended").unwrap().status, "False");
        assert_eq!(status.start_time, Some(Time(at("2024-01-01T13:00:00Z"))));
        assert!(events(&plan).contains(&("Resumed", "Job resumed")));
    }

    #[test]
    fn indexed_jobs_create_the_lowest_pending_indexes() {
        let mut job = indexed(job(Some(5), 3));
        job.status = Some(JobStatus { completed_indexes: Some("0".into()), succeeded: Some(1), ..Default::default() });
        let pods = [with_index(ready(pod("pi-2-x", "Running", "")), 2)];
        let plan = reconcile(&job, &pods, at(NOW));
        let new = created(&plan);
        let indexes: Vec<&str> =
            new.iter().map(|pod| pod.metadata.annotations.as_ref().unwrap()[COMPLETION_INDEX_ANNOTATION].as_str()).collect();
        assert_eq!(indexes, vec!["1", "3"]);
        let first = &new[0];
        assert_eq!(first.metadata.generate_name.as_deref(), Some("pi-1-"));
        assert_eq!(first.metadata.labels.as_ref().unwrap()[COMPLETION_INDEX_ANNOTATION], "1");
        let spec = first.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("pi-1"));
        let env = &spec.containers[0].env.as_ref().unwrap()[0];
        assert_eq!(env.name, "JOB_COMPLETION_INDEX");
        assert_eq!(
            env.value_from.as_ref().unwrap().field_ref.as_ref().unwrap().field_path,
            "metadata.labels['batch.kubernetes.io/job-completion-index']"
        );
    }

    #[test]
    fn indexed_jobs_record_completed_indexes_and_remove_duplicates() {
        let mut job = indexed(job(Some(4), 4));
        job.status = Some(JobStatus { completed_indexes: Some("0".into()), succeeded: Some(1), ..Default::default() });
        let pods = [
            with_index(pod("pi-1-a", "Succeeded", "2024-01-01T11:50:00Z"), 1),
            with_index(ready(pod("pi-2-a", "Running", "")), 2),
            with_index(pod("pi-2-b", "Pending", ""), 2),
            with_index(ready(pod("pi-3-a", "Running", "")), 3),
        ];
        let plan = reconcile(&job, &pods, at(NOW));
        assert_eq!(deleted(&plan), vec!["pi-2-b"], "the less advanced duplicate goes");
        let status = final_status(&plan);
        assert_eq!(status.completed_indexes.as_deref(), Some("0,1"));
        assert_eq!(status.succeeded, Some(2));
        assert_eq!(Intervals::parse("0,1,3-5,7", 7).to_string(), "0,1,3-5");
        assert_eq!(Intervals::parse("1", 10).with_indexes(BTreeSet::from([0, 2, 4])).to_string(), "0-2,4");
    }

    #[test]
    fn a_success_policy_completes_an_indexed_job_early() {
        let mut job = indexed(job(Some(4), 4));
        job.spec.as_mut().unwrap().success_policy =
            Some(SuccessPolicy { rules: vec![SuccessPolicyRule { succeeded_indexes: Some("0".into()), succeeded_count: None }] });
        let pods = [with_index(pod("pi-0-a", "Succeeded", "2024-01-01T11:50:00Z"), 0), with_index(ready(pod("pi-1-a", "Running", "")), 1)];
        let plan = reconcile(&job, &pods, at(NOW));
        assert_eq!(deleted(&plan), vec!["pi-1-a"]);
        let met = condition(final_status(&plan), "SuccessCriteriaMet").unwrap();
        assert_eq!((met.reason.as_deref(), met.message.as_deref()), (Some("SuccessPolicy"), Some("Matched rules at index 0")));
    }

    #[test]
    fn ttl_after_finished_deletes_the_job_when_due() {
        let mut job = job(Some(1), 1);
        job.spec.as_mut().unwrap().ttl_seconds_after_finished = Some(100);
        job.status = Some(JobStatus {
            conditions: Some(vec![new_condition("Complete", "True", "CompletionsReached", "", at("2024-01-01T11:59:00Z"))]),
            ..Default::default()
        });
        let plan = reconcile(&job, &[], at(NOW));
        assert!(plan.actions.is_empty());
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(40)));
        let plan = reconcile(&job, &[], at("2024-01-01T12:00:40Z"));
        assert_eq!(plan.actions, vec![Action::DeleteJob { name: "pi".into(), uid: "job-uid".into() }]);
    }

    #[test]
    fn orphans_are_adopted_and_unselected_pods_released() {
        let job = job(Some(2), 2);
        let mut orphan = ready(pod("o", "Running", ""));
        orphan.metadata.owner_references = None;
        orphan.metadata.finalizers = None;
        let mut unselected = ready(pod("u", "Running", ""));
        unselected.metadata.labels = None;
        let plan = reconcile(&job, &[orphan, unselected], at(NOW));
        let patches: Vec<(&str, &Value)> = plan
            .actions
            .iter()
            .filter_map(|action| match action {
                Action::PatchPod { name, patch } => Some((name.as_str(), patch)),
                _ => None,
            })
            .collect();
        assert_eq!(patches[0].0, "o");
        assert_eq!(patches[0].1["metadata"]["finalizers"], serde_json::json!([TRACKING_FINALIZER]));
        assert_eq!(patches[1].0, "u");
        assert_eq!(patches[1].1["metadata"]["ownerReferences"][0]["$patch"], "delete");
        assert_eq!(created(&plan).len(), 1, "the adopted pod counts as one of the two");
    }

    #[test]
    fn finished_pods_of_a_finished_job_lose_their_finalizer() {
        let mut job = job(Some(1), 1);
        job.status = Some(JobStatus {
            conditions: Some(vec![new_condition("Failed", "True", "BackoffLimitExceeded", "", at(NOW))]),
            ..Default::default()
        });
        let plan = reconcile(&job, &[pod("a", "Failed", NOW)], at(NOW));
        assert_eq!(released(&plan), vec!["a"]);
    }

    #[test]
    fn pods_removed_first_are_the_least_advanced() {
        let mut unscheduled = pod("unscheduled", "Pending", "");
        unscheduled.spec.as_mut().unwrap().node_name = None;
        let pending = pod("pending", "Pending", "");
        let running = pod("running", "Running", "");
        let ready_pod = ready(pod("ready", "Running", ""));
        let mut pods = [&ready_pod, &running, &pending, &unscheduled];
        pods.sort_by(|a, b| removal_order(a, b));
        let names: Vec<&str> = pods.iter().map(|pod| pod.metadata.name.as_deref().unwrap()).collect();
        assert_eq!(names, vec!["unscheduled", "pending", "running", "ready"]);
    }

    #[test]
    fn restarts_count_against_the_backoff_limit_with_restart_policy_on_failure() {
        let mut job = job(Some(1), 1);
        job.spec.as_mut().unwrap().backoff_limit = Some(2);
        job.spec.as_mut().unwrap().template.spec.as_mut().unwrap().restart_policy = Some("OnFailure".into());
        job.status = Some(JobStatus { start_time: Some(Time(at("2024-01-01T11:00:00Z"))), ..Default::default() });
        let mut restarting = ready(pod("a", "Running", ""));
        restarting.status.as_mut().unwrap().container_statuses =
            Some(vec![ContainerStatus { name: "pi".into(), restart_count: 1, ..Default::default() }]);
        let plan = reconcile(&job, std::slice::from_ref(&restarting), at(NOW));
        assert!(condition(final_status(&plan), "FailureTarget").is_none());
        restarting.status.as_mut().unwrap().container_statuses.as_mut().unwrap()[0].restart_count = 2;
        let plan = reconcile(&job, &[restarting], at(NOW));
        assert_eq!(condition(final_status(&plan), "FailureTarget").unwrap().reason.as_deref(), Some("BackoffLimitExceeded"));
        assert_eq!(deleted(&plan), vec!["a"]);
    }

    #[test]
    fn unknown_completion_modes_are_skipped() {
        let mut job = job(Some(1), 1);
        job.spec.as_mut().unwrap().completion_mode = Some("Sparse".into());
        let plan = reconcile(&job, &[], at(NOW));
        assert_eq!(events(&plan), vec![("UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")]);
    }

    #[test]
    fn generated_names_of_long_indexed_jobs_fit() {
        let name = "j".repeat(60);
        let generated = indexed_generate_name(&name, 12);
        assert_eq!(generated.len(), MAX_GENERATE_NAME_PREFIX);
        assert!(generated.ends_with("-12-"));
    }
}
