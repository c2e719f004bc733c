//! The Job controller, with the TTL-after-finished deletion of finished Jobs: a kube-rs controller triggered by
//! Jobs, the pods they control and orphan pods they could adopt; each sync hands the Job and its namespace's pods
//! to `controllers::job::reconcile` and carries the plan out in order, stopping at the first failed step. A Job
//! is not synced while the pod cache is behind the pod creations, deletions and tracking-finalizer removals of
//! its previous sync, nor while the Job cache is behind its own status writes: either would count pods twice
//! or create them twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};

use super::pods::{api_message, live_pod_named};
use super::{error_policy, is_gone_or_conflict, LoopError, Shared};
use crate::control::events::{reference_to, EventRecorder, Severity};
use crate::control::expectations::Expectations;
use crate::controllers::event::{Event, EventType};
use crate::controllers::job::{self, pod_created_event, Action as Step, TRACKING_FINALIZER};
use crate::controllers::ownership::selector_matches;
use crate::controllers::podutil::controller_of;

const COMPONENT: &str = "job-controller";
/// How often a Job is synced even without a change (a missed trigger heals).
const RESYNC_INTERVAL: Duration = Duration::from_secs(300);
/// How soon a Job waiting for the caches to show its own writes is looked at again.
const CACHE_RECHECK: Duration = Duration::from_secs(1);
/// How long a Job waits for the cache to show its status write before acting on the cache as it is (the write
/// succeeded, so the watch brings it unless the watch itself is broken).
const STATUS_WRITE_WAIT: Duration = Duration::from_secs(30);

struct Context {
    shared: Arc<Shared>,
    recorder: EventRecorder,
    /// Pods created and deleted per Job uid, until the pod cache shows them.
    expectations: Expectations,
    /// Pods whose tracking finalizer was removed per Job uid, until the pod cache shows them without it (they
    /// are "deleted" from the set of pods holding the finalizer).
    finalizer_removals: Expectations,
    status_writes: StatusWrites,
}

pub async fn run(shared: Arc<Shared>) {
    let jobs = shared.jobs.store.clone();
    let context = Arc::new(Context {
        recorder: shared.recorder(COMPONENT),
        shared: shared.clone(),
        expectations: Expectations::default(),
        finalizer_removals: Expectations::default(),
        status_writes: StatusWrites::default(),
    });
    Controller::for_shared_stream(shared.jobs.subscribe(), jobs.clone())
        .owns_shared_stream(shared.pods.subscribe())
        .watches_shared_stream(shared.pods.subscribe(), move |pod: Arc<Pod>| orphan_owners(&jobs, &pod))
        .run(sync, error_policy, context)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// Jobs in the pod's namespace that select a pod nobody controls: they may adopt it.
fn orphan_owners(jobs: &Store<Job>, pod: &Pod) -> Vec<ObjectRef<Job>> {
    if controller_of(&pod.metadata).is_some() {
        return Vec::new();
    }
    jobs.state()
        .iter()
        .filter(|job| job.metadata.namespace == pod.metadata.namespace)
        .filter(|job| {
            let selector = job.spec.as_ref().and_then(|spec| spec.selector.as_ref());
            selector.is_some_and(|selector| selector_matches(selector, pod.metadata.labels.as_ref()))
        })
        .map(|job| ObjectRef::from_obj(&**job))
        .collect()
}

async fn sync(job: Arc<Job>, context: Arc<Context>) -> Result<Action, LoopError> {
    let shared = &context.shared;
    shared.pods.store.wait_until_ready().await.map_err(|_| LoopError::Failed("the pod cache stopped before it was filled".into()))?;
    let namespace = job.metadata.namespace.clone().unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let pods = shared.pods.in_namespace(&namespace);
    let still_holds_finalizer = |name: &str| {
        pods.iter().any(|pod| {
            pod.metadata.name.as_deref() == Some(name) && pod.metadata.finalizers.iter().flatten().any(|f| f == TRACKING_FINALIZER)
        })
    };
    // Both are asked every time, so each forgets what the cache already shows.
    let pods_seen = context.expectations.satisfied(&uid, |name| live_pod_named(&pods, name));
    let finalizers_seen = context.finalizer_removals.satisfied(&uid, still_holds_finalizer);
    if !pods_seen || !finalizers_seen || context.status_writes.unseen(&job) {
        return Ok(Action::requeue(CACHE_RECHECK));
    }

    let plan = job::reconcile(&job, &pods, jiff::Timestamp::now());
    let mut executor = Executor {
        context: &context,
        job: (*job).clone(),
        original_version: job.metadata.resource_version.clone(),
        pods: Api::namespaced(shared.client.clone(), &namespace),
        jobs: Api::namespaced(shared.client.clone(), &namespace),
    };
    let mut steps = plan.actions.into_iter();
    while let Some(step) = steps.next() {
        match executor.carry_out(&step).await {
            Outcome::Done => {}
            Outcome::DoneWithoutEvent => {
                // The pod was gone already: the Event announcing its deletion would be false.
                if let Some(Step::Event(_)) = steps.as_slice().first() {
                    steps.next();
                }
            }
            Outcome::Stale => {
                tracing::debug!(job = job.metadata.name.as_deref().unwrap_or_default(), "sync found the cache behind; looking again");
                return Ok(Action::requeue(CACHE_RECHECK));
            }
            Outcome::Failed(message) => {
                if let Some(event) = step.failure_event(&message) {
                    executor.record(event).await;
                }
                return Err(LoopError::Failed(message));
            }
        }
    }
    Ok(Action::requeue(plan.requeue_after.map_or(RESYNC_INTERVAL, |after| after.min(RESYNC_INTERVAL))))
}

/// Per Job uid, the resourceVersion the Job had before this controller wrote its status: while the cache
/// still shows that version, the Job's counters there are out of date.
#[derive(Default)]
struct StatusWrites {
    superseded_versions: Mutex<HashMap<String, (String, Instant)>>,
}

impl StatusWrites {
    /// Whether the cache still shows the Job as it was before this controller's last status write to it.
    fn unseen(&self, job: &Job) -> bool {
        let mut superseded = self.superseded_versions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Entries of Jobs deleted meanwhile would otherwise stay; every entry is done with after the wait.
        superseded.retain(|_, (_, written)| written.elapsed() < STATUS_WRITE_WAIT);
        let uid = job.metadata.uid.as_deref().unwrap_or_default();
        match superseded.get(uid) {
            Some((version, _)) if job.metadata.resource_version.as_ref() == Some(version) => true,
            Some(_) => {
                superseded.remove(uid);
                false
            }
            None => false,
        }
    }

    fn written(&self, uid: &str, superseded_version: Option<String>) {
        let Some(version) = superseded_version else { return };
        let mut superseded = self.superseded_versions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        superseded.insert(uid.to_string(), (version, Instant::now()));
    }
}

/// How one step went.
#[derive(Debug, PartialEq)]
enum Outcome {
    Done,
    /// Done because the pod was gone already; the Event that follows the step is not true.
    DoneWithoutEvent,
    /// The cache was behind (a conflict): stop and sync again soon from fresh state.
    Stale,
    /// The step failed with this message: stop, record the step's failure Event and retry with backoff.
    Failed(String),
}

struct Executor<'a> {
    context: &'a Context,
    /// The Job as last read or written; a second status write in one plan carries the first one's version.
    job: Job,
    original_version: Option<String>,
    pods: Api<Pod>,
    jobs: Api<Job>,
}

impl Executor<'_> {
    fn uid(&self) -> &str {
        self.job.metadata.uid.as_deref().unwrap_or_default()
    }

    async fn carry_out(&mut self, step: &Step) -> Outcome {
        match step {
            Step::PatchPod { name, patch } => {
                match self.pods.patch(name, &PatchParams::default(), &Patch::Strategic(patch.clone())).await {
                    Ok(patched) => {
                        let holds_finalizer = patched.metadata.finalizers.iter().flatten().any(|f| f == TRACKING_FINALIZER);
                        if !holds_finalizer {
                            self.context.finalizer_removals.expect_deleted(self.uid(), name);
                        }
                        Outcome::Done
                    }
                    Err(error) => failure(error, Outcome::Done),
                }
            }
            Step::CreatePod(pod) => match self.pods.create(&PostParams::default(), pod).await {
                Ok(created) => {
                    let name = created.metadata.name.unwrap_or_default();
                    self.context.expectations.expect_created(self.uid(), &name);
                    self.record(pod_created_event(&name)).await;
                    Outcome::Done
                }
                // Nothing can be created in a namespace being deleted; the Job goes with it, so say nothing.
                Err(error) if api_message(&error).contains("is being terminated") => Outcome::Done,
                Err(error) => failure(error, Outcome::Stale),
            },
            Step::DeletePod { name, uid } => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                    ..DeleteParams::default()
                };
                match self.pods.delete(name, &params).await {
                    Ok(_) => {
                        self.context.expectations.expect_deleted(self.uid(), name);
                        Outcome::Done
                    }
                    Err(error) => failure(error, Outcome::DoneWithoutEvent),
                }
            }
            Step::UpdateStatus(status) => {
                let mut updated = self.job.clone();
                updated.status = Some((**status).clone());
                let name = self.job.metadata.name.clone().unwrap_or_default();
                match self.jobs.replace_status(&name, &PostParams::default(), &updated).await {
                    Ok(written) => {
                        self.job = written;
                        self.context.status_writes.written(self.uid(), self.original_version.clone());
                        Outcome::Done
                    }
                    Err(error) => failure(error, Outcome::Stale),
                }
            }
            Step::Event(event) => {
                self.record(event.clone()).await;
                Outcome::Done
            }
            Step::DeleteJob { name, uid } => {
                let params = DeleteParams {
                    propagation_policy: Some(PropagationPolicy::Foreground),
                    preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                    ..DeleteParams::default()
                };
                match self.jobs.delete(name, &params).await {
                    Ok(_) => Outcome::Done,
                    Err(error) => failure(error, Outcome::Done),
                }
            }
        }
    }

    async fn record(&self, event: Event) {
        let severity = if event.type_ == EventType::Warning { Severity::Warning } else { Severity::Normal };
        self.context.recorder.record(&reference_to(&self.job), severity, &event.reason, &event.reason, event.message).await;
    }
}

/// A failed step: a 404 means `when_gone` (a pod or Job gone already is as good as deleted), a 409 means the
/// cache was behind, anything else fails the sync.
fn failure(error: kube::Error, when_gone: Outcome) -> Outcome {
    match &error {
        kube::Error::Api(status) if status.code == 404 => when_gone,
        _ if is_gone_or_conflict(&error) => Outcome::Stale,
        _ => Outcome::Failed(api_message(&error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: u16) -> kube::Error {
        let status = serde_json::from_value(serde_json::json!({"code": code, "message": format!("answer {code}")})).expect("a Status");
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn failures_map_to_what_the_plan_does_next() {
        assert_eq!(failure(answer(404), Outcome::DoneWithoutEvent), Outcome::DoneWithoutEvent, "a pod gone already");
        assert_eq!(failure(answer(409), Outcome::Done), Outcome::Stale, "a conflict is never done");
        assert_eq!(failure(answer(403), Outcome::Done), Outcome::Failed("answer 403".into()));
    }

    #[test]
    fn a_job_waits_for_its_status_write_to_show() {
        let writes = StatusWrites::default();
        let job = |version: &str| -> Job {
            serde_json::from_value(serde_json::json!({"metadata": {"name": "pi", "uid": "job-uid", "resourceVersion": version}}))
                .expect("a Job")
        };
        assert!(!writes.unseen(&job("7")), "nothing written yet");
        writes.written("job-uid", Some("7".into()));
        assert!(writes.unseen(&job("7")), "the cache still shows the version the write replaced");
        assert!(!writes.unseen(&job("9")), "the cache caught up");
        assert!(!writes.unseen(&job("7")), "and the wait is over for good");
    }
}
