//! The Deployment controller's decisions, as upstream `pkg/controller/deployment` makes them, without any I/O:
//! given a Deployment, the ReplicaSets of its namespace, the pods matching its selector and the time,
//! [`reconcile`] returns a [`Plan`] — ReplicaSets to adopt, release, create, update or delete, the Deployment's
//! revision annotation, events with upstream's reasons and messages, the status to write, and when to look
//! again. The caller carries out the actions in order and then writes the status.
//!
//! The sync follows upstream `syncDeployment`: a Deployment selecting everything is refused; ReplicaSets are
//! claimed; a Deployment being deleted only gets its status; pausing and resuming are recorded; a paused
//! Deployment or a changed `spec.replicas` only scales; otherwise the strategy rolls out one step.
//! Not handled: the `deprecated.deployment.rollback.to` annotation of the removed `spec.rollbackTo`
//! (`kubectl rollout undo` edits the template itself) and the alpha `spec.podReplacementPolicy`.

mod rollout;
mod status;
mod sync;
mod util;

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

pub use status::{
    AVAILABLE, FAILED_REPLICA_SET_CREATE_REASON, FOUND_NEW_REPLICA_SET_REASON, MINIMUM_REPLICAS_AVAILABLE_REASON,
    MINIMUM_REPLICAS_UNAVAILABLE_REASON, NEW_REPLICA_SET_AVAILABLE_REASON, NEW_REPLICA_SET_REASON, PAUSED_REASON, PROGRESSING,
    REPLICA_FAILURE, REPLICA_SET_UPDATED_REASON, RESUMED_REASON, TIMED_OUT_REASON,
};
pub use util::{
    pod_template_hash, DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
};

pub const EVENT_NORMAL: &str = "Normal";
pub const EVENT_WARNING: &str = "Warning";
/// Event reason for every resize of a ReplicaSet, creation at a size included.
pub const SCALING_REPLICA_SET_REASON: &str = "ScalingReplicaSet";
/// Event reason for a Deployment with an empty selector.
pub const SELECTING_ALL_REASON: &str = "SelectingAll";

/// What one sync decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// To carry out in order; stop at the first failure and sync again later, as upstream does.
    pub actions: Vec<Action>,
    /// The whole new status, to replace the Deployment's through the status subresource, when it changed.
    /// Counts are written out even when zero.
    pub status: Option<DeploymentStatus>,
    /// Sync again after this long even if nothing changes: the progress deadline, or a retry after a
    /// hash collision.
    pub requeue_after: Option<Duration>,
}

/// One write to the API, or one event on the Deployment.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Create this ReplicaSet (name, namespace, labels, ownerReference and annotations set). If the name is
    /// taken, sync again: the next plan sees the collision and bumps `status.collisionCount`. If creation fails
    /// otherwise, upstream records a Warning event `ReplicaSetCreateError` with message
    /// `Failed to create new replica set "<name>": <error>` and sets Progressing False with that reason.
    CreateReplicaSet(ReplicaSet),
    /// Replace the ReplicaSet with this object: the one given, with `spec.replicas`, `spec.minReadySeconds`
    /// and annotations changed, and the ownerReference of an earlier adoption in the plan. Its
    /// resourceVersion is the one given. At most one per ReplicaSet in a plan.
    UpdateReplicaSet(ReplicaSet),
    /// Delete an old ReplicaSet past the revision history limit (uid as a precondition).
    DeleteReplicaSet { name: String, uid: String },
    /// Add `owner` to the orphan ReplicaSet's ownerReferences (upstream patches
    /// `{"metadata":{"ownerReferences":[owner],"uid":uid}}`).
    AdoptReplicaSet { name: String, uid: String, owner: OwnerReference },
    /// Remove the ownerReference with `owner_uid` from a ReplicaSet whose labels stopped matching (upstream
    /// patches `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":owner_uid}],"uid":uid}}`).
    ReleaseReplicaSet { name: String, uid: String, owner_uid: String },
    /// Set the Deployment's `deployment.kubernetes.io/revision` annotation (a metadata patch; upstream sends it
    /// along with a status update).
    SetDeploymentRevision { revision: String },
    /// Record an event on the Deployment (source component `deployment-controller`).
    Event { type_: &'static str, reason: &'static str, message: String },
}

/// One sync of `deployment`. `replica_sets` are those of its namespace (others' included: ownership is decided
/// here), `pods` those matching its selector (only read to hold a Recreate until old pods are gone).
pub fn reconcile(deployment: &Deployment, replica_sets: &[ReplicaSet], pods: &[Pod], now: jiff::Timestamp) -> Plan {
    let mut sync = sync::Sync::new(deployment, replica_sets, pods, now);
    if util::selects_everything(&sync.spec.selector) {
        let message = "This deployment is selecting all pods. A non-empty selector is required.".to_string();
        sync.event(EVENT_WARNING, SELECTING_ALL_REASON, message);
        let generation = sync.generation();
        let status = sync.status_mut();
        if status.observed_generation.unwrap_or(0) < generation {
            status.observed_generation = Some(generation);
        }
        return sync.finish();
    }
    sync.claim_replica_sets();
    if deployment.metadata.deletion_timestamp.is_some() {
        sync.sync_status_only();
        return sync.finish();
    }
    sync.check_paused_conditions();
    if sync.spec.paused.unwrap_or(false) || sync.is_scaling_event() {
        sync.sync_scaling();
        return sync.finish();
    }
    match util::strategy_type(&sync.spec) {
        "Recreate" => sync.rollout_recreate(),
        "RollingUpdate" => sync.rollout_rolling(),
        // Validation admits no other strategy; upstream fails the sync.
        _ => {}
    }
    sync.finish()
}

#[cfg(test)]
mod tests;
