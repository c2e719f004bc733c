//! The StatefulSet controller: a kube-rs controller triggered by StatefulSets, the pods and ControllerRevisions
//! they control, and orphan pods they could adopt; each sync hands the StatefulSet and its namespace's pods,
//! ControllerRevisions and PersistentVolumeClaims to `controllers::statefulset::reconcile` and carries the plan
//! out in order, stopping at the first failed step (its Events recorded, the sync retried with backoff).
//! ControllerRevisions and PersistentVolumeClaims are not in [`Shared`], so this loop keeps its own caches.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::json;

use super::pods::api_message;
use super::{error_policy, Informer, LoopError, Shared};
use crate::control::events::{reference_to, EventRecorder, Severity};
use crate::controllers::event::{Event, EventType};
use crate::controllers::ownership::selector_matches;
use crate::controllers::podutil::controller_of;
use crate::controllers::statefulset::{self, Action as Step};

const COMPONENT: &str = "statefulset-controller";
/// How often a StatefulSet is synced even without a change (a missed trigger heals).
const RESYNC_INTERVAL: Duration = Duration::from_secs(300);
/// How soon a StatefulSet is looked at again when the cache was behind its own writes (a name already taken,
/// a conflict), or after it deleted pods: a pod deleted outright leaves no watch event the controller sees.
const SOON: Duration = Duration::from_secs(1);

struct Context {
    shared: Arc<Shared>,
    revisions: Store<ControllerRevision>,
    claims: Store<PersistentVolumeClaim>,
    recorder: EventRecorder,
}

pub async fn run(shared: Arc<Shared>) {
    let revisions = Informer::<ControllerRevision>::new(shared.client.clone());
    let claims = Informer::<PersistentVolumeClaim>::new(shared.client.clone());
    let sets = shared.stateful_sets.store.clone();
    let context = Arc::new(Context {
        recorder: shared.recorder(COMPONENT),
        shared: shared.clone(),
        revisions: revisions.store.clone(),
        claims: claims.store.clone(),
    });
    let controller = Controller::for_shared_stream(shared.stateful_sets.subscribe(), sets.clone())
        .owns_shared_stream(shared.pods.subscribe())
        .owns_shared_stream(revisions.subscribe())
        .watches_shared_stream(shared.pods.subscribe(), move |pod: Arc<Pod>| orphan_owners(&sets, &pod))
        .run(sync, error_policy, context)
        .for_each(|_| futures::future::ready(()));
    futures::join!(revisions.drive(), claims.drive(), controller);
}

/// StatefulSets in the pod's namespace that select a pod nobody controls: they may adopt it.
fn orphan_owners(sets: &Store<StatefulSet>, pod: &Pod) -> Vec<ObjectRef<StatefulSet>> {
    if controller_of(&pod.metadata).is_some() {
        return Vec::new();
    }
    sets.state()
        .iter()
        .filter(|set| set.metadata.namespace == pod.metadata.namespace)
        .filter(|set| selector_matches(&set.spec.selector, pod.metadata.labels.as_ref()))
        .map(|set| ObjectRef::from_obj(&**set))
        .collect()
}

async fn sync(set: Arc<StatefulSet>, context: Arc<Context>) -> Result<Action, LoopError> {
    let shared = &context.shared;
    // A revision cache still filling would make the set create its template's revision again.
    for ready in
        [shared.pods.store.wait_until_ready().await, context.revisions.wait_until_ready().await, context.claims.wait_until_ready().await]
    {
        ready.map_err(|_| LoopError::Failed("a cache stopped before it was filled".into()))?;
    }
    let namespace = set.metadata.namespace.clone().unwrap_or_default();
    let in_namespace = |meta: &ObjectMeta| meta.namespace.as_deref() == Some(&namespace);
    let pods = shared.pods.in_namespace(&namespace);
    let revisions: Vec<ControllerRevision> =
        context.revisions.state().iter().filter(|revision| in_namespace(&revision.metadata)).map(|revision| (**revision).clone()).collect();
    let claims: Vec<PersistentVolumeClaim> =
        context.claims.state().iter().filter(|claim| in_namespace(&claim.metadata)).map(|claim| (**claim).clone()).collect();
    let plan = statefulset::reconcile(&set, &pods, &revisions, &claims, jiff::Timestamp::now());

    let executor = Executor {
        context: &context,
        set: &set,
        set_name: set.metadata.name.clone().unwrap_or_default(),
        pods: Api::namespaced(shared.client.clone(), &namespace),
        revisions: Api::namespaced(shared.client.clone(), &namespace),
        claims: Api::namespaced(shared.client.clone(), &namespace),
        sets: Api::namespaced(shared.client.clone(), &namespace),
    };
    let mut requeue = plan.requeue_after.map_or(RESYNC_INTERVAL, |after| after.min(RESYNC_INTERVAL));
    let mut steps = plan.actions.into_iter();
    while let Some(step) = steps.next() {
        let deletes_pod = matches!(step, Step::DeletePod { .. });
        match executor.carry_out(&step).await {
            Outcome::Done => {}
            Outcome::DoneWithoutEvent => {
                // The pod was gone already: the Event announcing the deletion would be false.
                if let Some(Step::Event(_)) = steps.as_slice().first() {
                    steps.next();
                }
            }
            Outcome::Stale => {
                tracing::debug!(statefulset = %executor.set_name, "sync found the cache behind; looking again");
                return Ok(Action::requeue(SOON));
            }
            Outcome::Failed(message) => {
                for event in step.failure_events(&executor.set_name, &message) {
                    executor.record(event).await;
                }
                return Err(LoopError::Failed(message));
            }
        }
        if deletes_pod {
            requeue = requeue.min(SOON);
        }
    }
    Ok(Action::requeue(requeue))
}

/// How one step went.
#[derive(Debug, PartialEq)]
enum Outcome {
    Done,
    /// Done because the object was gone already; the Event that follows the step is not true.
    DoneWithoutEvent,
    /// The cache was behind (a name already taken, a conflict): stop and sync again soon from fresh state.
    Stale,
    /// The step failed with this message: stop, record the step's failure Events and retry with backoff.
    Failed(String),
}

struct Executor<'a> {
    context: &'a Context,
    set: &'a StatefulSet,
    set_name: String,
    pods: Api<Pod>,
    revisions: Api<ControllerRevision>,
    claims: Api<PersistentVolumeClaim>,
    sets: Api<StatefulSet>,
}

impl Executor<'_> {
    async fn carry_out(&self, step: &Step) -> Outcome {
        let post = PostParams::default();
        match step {
            Step::CreateRevision(revision) => outcome(self.revisions.create(&post, revision).await, Expected::Stale),
            Step::RenumberRevision { name, revision } => outcome(
                self.revisions.patch(name, &PatchParams::default(), &Patch::Merge(json!({"revision": revision}))).await,
                Expected::Stale,
            ),
            Step::DeleteRevision { name } => outcome(self.revisions.delete(name, &DeleteParams::default()).await, Expected::GoneIsDone),
            Step::PatchPod { name, patch } => {
                outcome(self.pods.patch(name, &PatchParams::default(), &Patch::Strategic(patch.clone())).await, Expected::GoneIsDone)
            }
            Step::CreateClaim { claim, .. } => outcome(self.claims.create(&post, claim).await, Expected::TakenIsDone),
            // A pod of that name exists although the cache does not show it: upstream records nothing and retries.
            Step::CreatePod(pod) => outcome(self.pods.create(&post, pod).await, Expected::Stale),
            Step::UpdatePod(pod) => {
                outcome(self.pods.replace(pod.metadata.name.as_deref().unwrap_or_default(), &post, pod).await, Expected::Stale)
            }
            Step::DeletePod { name, uid } => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                    ..DeleteParams::default()
                };
                outcome(self.pods.delete(name, &params).await, Expected::GoneIsDoneUnannounced)
            }
            Step::Event(event) => {
                self.record(event.clone()).await;
                Outcome::Done
            }
            Step::UpdateStatus(status) => {
                let mut updated = self.set.clone();
                updated.status = Some((**status).clone());
                outcome(self.sets.replace_status(&self.set_name, &post, &updated).await, Expected::Stale)
            }
        }
    }

    async fn record(&self, event: Event) {
        let severity = if event.type_ == EventType::Warning { Severity::Warning } else { Severity::Normal };
        self.context.recorder.record(&reference_to(self.set), severity, &event.reason, &event.reason, event.message).await;
    }
}

/// What a 404 or 409 answer means for a step.
#[derive(Clone, Copy)]
enum Expected {
    /// 404 means the object is gone already: done.
    GoneIsDone,
    /// 404 means the object is gone already: done, without the Event that announces the step.
    GoneIsDoneUnannounced,
    /// 409 AlreadyExists means the object is there: done.
    TakenIsDone,
    /// 404 or 409 means the cache was behind: stop and sync again soon.
    Stale,
}

fn outcome<T>(result: Result<T, kube::Error>, expected: Expected) -> Outcome {
    let error = match result {
        Ok(_) => return Outcome::Done,
        Err(error) => error,
    };
    let code = match &error {
        kube::Error::Api(status) => status.code,
        _ => 0,
    };
    match (expected, code) {
        (Expected::GoneIsDone, 404) | (Expected::TakenIsDone, 409) => Outcome::Done,
        (Expected::GoneIsDoneUnannounced, 404) => Outcome::DoneWithoutEvent,
        (_, 404 | 409) => Outcome::Stale,
        _ => Outcome::Failed(api_message(&error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: u16) -> Result<(), kube::Error> {
        let status = serde_json::from_value(json!({"code": code, "message": format!("answer {code}")})).expect("a Status");
        Err(kube::Error::Api(Box::new(status)))
    }

    #[test]
    fn answers_map_to_what_the_plan_does_next() {
        assert_eq!(outcome(Ok(()), Expected::Stale), Outcome::Done);
        assert_eq!(outcome(answer(404), Expected::GoneIsDoneUnannounced), Outcome::DoneWithoutEvent, "a pod gone already");
        assert_eq!(outcome(answer(404), Expected::GoneIsDone), Outcome::Done, "a patched pod gone already");
        assert_eq!(outcome(answer(409), Expected::TakenIsDone), Outcome::Done, "a claim that exists");
        assert_eq!(outcome(answer(409), Expected::Stale), Outcome::Stale, "a pod name taken: no Event, look again");
        assert_eq!(outcome(answer(409), Expected::GoneIsDoneUnannounced), Outcome::Stale, "a uid precondition failed");
        assert_eq!(outcome(answer(422), Expected::Stale), Outcome::Failed("answer 422".into()));
    }
}
