//! The Deployment controller: a kube-rs controller triggered by Deployments, the ReplicaSets they own and
//! orphan ReplicaSets they could adopt; each sync hands the Deployment, its namespace's ReplicaSets and the pods
//! its selector matches to `controllers::deployment::reconcile` and carries the plan out, stopping at the first
//! failed write (the next sync starts from fresh state, as upstream does).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use serde_json::json;

use super::pods::api_message;
use super::{error_policy, is_gone_or_conflict, LoopError, Shared};
use crate::control::events::{reference_to, EventRecorder, Severity};
use crate::controllers::deployment::{self, Action as Step};
use crate::controllers::podutil::controller_of;
use crate::controllers::selector::LabelMatcher;

const COMPONENT: &str = "deployment-controller";
/// How often a Deployment is synced even without a change.
const RESYNC_INTERVAL: Duration = Duration::from_secs(300);

struct Context {
    shared: Arc<Shared>,
    recorder: EventRecorder,
}

pub async fn run(shared: Arc<Shared>) {
    let deployments = shared.deployments.store.clone();
    let context = Arc::new(Context { recorder: shared.recorder(COMPONENT), shared: shared.clone() });
    Controller::for_shared_stream(shared.deployments.subscribe(), deployments.clone())
        .owns_shared_stream(shared.replica_sets.subscribe())
        .watches_shared_stream(shared.replica_sets.subscribe(), move |rs: Arc<ReplicaSet>| {
            if controller_of(&rs.metadata).is_some() {
                return Vec::new();
            }
            deployments
                .state()
                .iter()
                .filter(|d| d.metadata.namespace == rs.metadata.namespace)
                .filter(|d| LabelMatcher::parse(Some(&d.spec.selector)).is_ok_and(|m| m.matches(rs.metadata.labels.as_ref())))
                .map(|d| ObjectRef::from_obj(&**d))
                .collect::<Vec<_>>()
        })
        .run(sync, error_policy, context)
        .for_each(|_| futures::future::ready(()))
        .await;
}

async fn sync(deployment: Arc<Deployment>, context: Arc<Context>) -> Result<Action, LoopError> {
    let namespace = deployment.metadata.namespace.clone().unwrap_or_default();
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let replica_sets = context.shared.replica_sets.in_namespace(&namespace);
    let selector = LabelMatcher::parse(Some(&deployment.spec.selector)).ok();
    let pods: Vec<_> = context
        .shared
        .pods
        .in_namespace(&namespace)
        .into_iter()
        .filter(|pod| selector.as_ref().is_some_and(|m| m.matches(pod.metadata.labels.as_ref())))
        .collect();
    let plan = deployment::reconcile(&deployment, &replica_sets, &pods, jiff::Timestamp::now());
    let client = &context.shared.client;
    let replica_set_api: Api<ReplicaSet> = Api::namespaced(client.clone(), &namespace);
    let deployment_api: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let reference = reference_to(&*deployment);
    for step in plan.actions {
        let outcome = match step {
            Step::CreateReplicaSet(rs) => match replica_set_api.create(&PostParams::default(), &rs).await {
                Ok(_) => Ok(()),
                Err(error) if matches!(&error, kube::Error::Api(s) if s.code == 409) => {
                    return Ok(Action::requeue(Duration::from_millis(100)))
                }
                Err(error) => {
                    let message =
                        format!("Failed to create new replica set {:?}: {}", rs.metadata.name.unwrap_or_default(), api_message(&error));
                    context.recorder.record(&reference, Severity::Warning, "ReplicaSetCreateError", "Create", message).await;
                    Err(error)
                }
            },
            Step::UpdateReplicaSet(rs) => {
                let rs_name = rs.metadata.name.clone().unwrap_or_default();
                replica_set_api.replace(&rs_name, &PostParams::default(), &rs).await.map(drop)
            }
            Step::DeleteReplicaSet { name, uid } => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions { uid: Some(uid), resource_version: None }),
                    ..DeleteParams::default()
                };
                replica_set_api.delete(&name, &params).await.map(drop)
            }
            Step::AdoptReplicaSet { name, uid, owner } => {
                let patch = json!({"metadata": {"ownerReferences": [owner], "uid": uid}});
                replica_set_api.patch(&name, &PatchParams::default(), &Patch::Strategic(patch)).await.map(drop)
            }
            Step::ReleaseReplicaSet { name, uid, owner_uid } => {
                let patch = json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": owner_uid}], "uid": uid}});
                replica_set_api.patch(&name, &PatchParams::default(), &Patch::Strategic(patch)).await.map(drop)
            }
            Step::SetDeploymentRevision { revision } => {
                let patch = json!({"metadata": {"annotations": {deployment::REVISION_ANNOTATION: revision}}});
                deployment_api.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await.map(drop)
            }
            Step::Event { type_, reason, message } => {
                let severity = if type_ == deployment::EVENT_WARNING { Severity::Warning } else { Severity::Normal };
                context.recorder.record(&reference, severity, reason, reason, message).await;
                Ok(())
            }
        };
        match outcome {
            Ok(()) => {}
            // Someone changed or removed the object: the watch brings the new state and another sync.
            Err(error) if is_gone_or_conflict(&error) => return Ok(Action::requeue(Duration::from_millis(100))),
            Err(error) => return Err(error.into()),
        }
    }
    if let Some(status) = plan.status {
        if deployment.status.as_ref() != Some(&status) {
            let mut updated = (*deployment).clone();
            updated.status = Some(status);
            match deployment_api.replace_status(&name, &PostParams::default(), &updated).await {
                Ok(_) => {}
                Err(error) if is_gone_or_conflict(&error) => return Ok(Action::requeue(Duration::from_millis(100))),
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(Action::requeue(plan.requeue_after.map_or(RESYNC_INTERVAL, |after| after.min(RESYNC_INTERVAL))))
}
