//! Carrying out the pod actions a replica-style plan returns (adopt, release, create in slow-start batches,
//! delete with a uid precondition), recording the upstream Events for each, and noting expectations so the
//! owner is not synced again before the cache shows these writes.

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};

use super::{is_gone_or_conflict, LoopError};
use crate::control::events::{EventRecorder, Severity};
use crate::control::expectations::Expectations;
use crate::controllers::podcontrol::{Action, Event};

/// Who the actions are for.
pub struct Owner<'a> {
    pub namespace: &'a str,
    pub uid: &'a str,
    pub reference: ObjectReference,
}

/// Carries out `actions` in order; returns the message of the first create or delete failure (for the owner's
/// ReplicaFailure condition), or an error when adopting or releasing failed and the sync must be retried.
pub async fn execute(
    client: &kube::Client,
    recorder: &EventRecorder,
    expectations: &Expectations,
    owner: &Owner<'_>,
    actions: Vec<Action>,
) -> Result<Option<String>, LoopError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), owner.namespace);
    let mut failure = None;
    let mut creates_failed = false;
    for action in actions {
        match action {
            Action::AdoptPod { name, patch, .. } | Action::ReleasePod { name, patch, .. } => {
                match pods.patch(&name, &PatchParams::default(), &Patch::Strategic(patch)).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(error) => return Err(error.into()),
                }
            }
            Action::CreatePods { pods: batch } => {
                if creates_failed {
                    continue;
                }
                let params = PostParams::default();
                let results = futures::future::join_all(batch.iter().map(|pod| pods.create(&params, pod))).await;
                for result in results {
                    match result {
                        Ok(created) => {
                            let name = created.metadata.name.unwrap_or_default();
                            expectations.expect_created(owner.uid, &name);
                            record(recorder, owner, Event::successful_create(&name)).await;
                        }
                        Err(error) => {
                            creates_failed = true;
                            let message = api_message(&error);
                            if !message.contains("is being terminated") {
                                record(recorder, owner, Event::failed_create(&message)).await;
                                failure.get_or_insert(message);
                            }
                        }
                    }
                }
            }
            Action::DeletePod { name, uid } => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions { uid: Some(uid), resource_version: None }),
                    ..DeleteParams::default()
                };
                match pods.delete(&name, &params).await {
                    Ok(_) => {
                        expectations.expect_deleted(owner.uid, &name);
                        record(recorder, owner, Event::successful_delete(&name)).await;
                    }
                    Err(error) if is_gone_or_conflict(&error) => {}
                    Err(error) => {
                        let message = api_message(&error);
                        record(recorder, owner, Event::failed_delete(&message)).await;
                        failure.get_or_insert(message);
                    }
                }
            }
            Action::Event(event) => record(recorder, owner, event).await,
        }
    }
    Ok(failure)
}

async fn record(recorder: &EventRecorder, owner: &Owner<'_>, event: Event) {
    let severity = if event.type_ == "Warning" { Severity::Warning } else { Severity::Normal };
    recorder.record(&owner.reference, severity, event.reason, event.reason, event.message).await;
}

/// The message a user would read for an API error (the Status message when there is one).
pub fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

/// Whether the cache shows `name` as a live pod (present and not being deleted), for expectations.
pub fn live_pod_named(pods: &[Pod], name: &str) -> bool {
    pods.iter().any(|pod| pod.metadata.name.as_deref() == Some(name) && pod.metadata.deletion_timestamp.is_none())
}
