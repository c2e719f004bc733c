//! The ReplicaSet and ReplicationController controllers: one kube-rs controller per kind, triggered by changes of
//! the owner and of the pods it controls or could adopt, each sync handing the owner and its namespace's pods to
//! `controllers::replicaset::reconcile` and carrying out the plan.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};

use super::pods::{self, live_pod_named, Owner};
use super::{error_policy, is_gone_or_conflict, LoopError, Shared};
use crate::control::events::{reference_to, EventRecorder};
use crate::control::expectations::Expectations;
use crate::controllers::podutil::controller_of;
use crate::controllers::replicaset::{self, ReplicaOwner, REPLICATION_CONTROLLER_COMPONENT, REPLICA_SET_COMPONENT};
use crate::controllers::selector::LabelMatcher;

/// How often an owner is synced even without a change (a missed trigger heals).
const RESYNC_INTERVAL: Duration = Duration::from_secs(300);
/// How soon an owner waiting for its own writes to show in the cache is looked at again.
const EXPECTATIONS_RECHECK: Duration = Duration::from_secs(1);

struct Context {
    shared: Arc<Shared>,
    recorder: EventRecorder,
    expectations: Expectations,
}

pub async fn run_replica_sets(shared: Arc<Shared>) {
    let owners = shared.replica_sets.store.clone();
    let context = Arc::new(Context {
        recorder: shared.recorder(REPLICA_SET_COMPONENT),
        shared: shared.clone(),
        expectations: Expectations::default(),
    });
    Controller::for_shared_stream(shared.replica_sets.subscribe(), owners.clone())
        .owns_shared_stream(shared.pods.subscribe())
        .watches_shared_stream(shared.pods.subscribe(), move |pod: Arc<Pod>| {
            orphan_owners(&owners, &pod, |rs: &ReplicaSet| Some(LabelMatcher::parse(Some(&rs.spec.selector))))
        })
        .run(sync_replica_set, error_policy, context)
        .for_each(|_| futures::future::ready(()))
        .await;
}

pub async fn run_replication_controllers(shared: Arc<Shared>) {
    let owners = shared.replication_controllers.store.clone();
    let context = Arc::new(Context {
        recorder: shared.recorder(REPLICATION_CONTROLLER_COMPONENT),
        shared: shared.clone(),
        expectations: Expectations::default(),
    });
    Controller::for_shared_stream(shared.replication_controllers.subscribe(), owners.clone())
        .owns_shared_stream(shared.pods.subscribe())
        .watches_shared_stream(shared.pods.subscribe(), move |pod: Arc<Pod>| orphan_owners(&owners, &pod, rc_matcher))
        .run(sync_replication_controller, error_policy, context)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn rc_matcher(rc: &ReplicationController) -> Option<Result<LabelMatcher, String>> {
    Some(Ok(LabelMatcher::from_map(rc.spec.as_ref()?.selector.as_ref()?)))
}

/// Owners in the pod's namespace whose selector matches a pod nobody controls: they may adopt it.
fn orphan_owners<K>(owners: &Store<K>, pod: &Pod, matcher: impl Fn(&K) -> Option<Result<LabelMatcher, String>>) -> Vec<ObjectRef<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    if controller_of(&pod.metadata).is_some() {
        return Vec::new();
    }
    owners
        .state()
        .iter()
        .filter(|owner| owner.meta().namespace == pod.metadata.namespace)
        .filter(|owner| matches!(matcher(owner), Some(Ok(m)) if m.matches(pod.metadata.labels.as_ref())))
        .map(|owner| ObjectRef::from_obj(&**owner))
        .collect()
}

async fn sync_replica_set(rs: Arc<ReplicaSet>, context: Arc<Context>) -> Result<Action, LoopError> {
    let siblings: Vec<ReplicaSet> = match controller_of(&rs.metadata) {
        Some(controller) => context
            .shared
            .replica_sets
            .in_namespace(rs.metadata.namespace.as_deref().unwrap_or_default())
            .into_iter()
            .filter(|other| controller_of(&other.metadata).is_some_and(|c| c.uid == controller.uid))
            .collect(),
        None => Vec::new(),
    };
    let owner = ReplicaOwner::from_replica_set(&rs).with_siblings(&siblings);
    let Some(status) = sync(&context, &owner, reference_to(&*rs)).await? else { return Ok(Action::await_change()) };
    let (status, requeue) = status;
    let status = status.into_replica_set_status();
    if rs.status.as_ref() != Some(&status) {
        let mut updated = (*rs).clone();
        updated.status = Some(status);
        write_status(&Api::namespaced(context.shared.client.clone(), namespace_of(&rs.metadata)), &updated).await?;
    }
    Ok(requeue)
}

async fn sync_replication_controller(rc: Arc<ReplicationController>, context: Arc<Context>) -> Result<Action, LoopError> {
    let owner = ReplicaOwner::from_replication_controller(&rc);
    let Some(status) = sync(&context, &owner, reference_to(&*rc)).await? else { return Ok(Action::await_change()) };
    let (status, requeue) = status;
    let status = status.into_replication_controller_status();
    if rc.status.as_ref() != Some(&status) {
        let mut updated = (*rc).clone();
        updated.status = Some(status);
        write_status(&Api::namespaced(context.shared.client.clone(), namespace_of(&rc.metadata)), &updated).await?;
    }
    Ok(requeue)
}

fn namespace_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or_default()
}

/// One sync of either kind: the status to write and when to look again (`None` when the selector is malformed).
/// While the owner's own writes are not in the cache yet, pods are left alone but the status still follows the
/// pods as they come up, as upstream reports progress during a large scale-up.
async fn sync(
    context: &Context,
    owner: &ReplicaOwner,
    reference: k8s_openapi::api::core::v1::ObjectReference,
) -> Result<Option<(replicaset::ReplicaStatus, Action)>, LoopError> {
    let namespace = namespace_of(&owner.meta);
    let uid = owner.meta.uid.as_deref().unwrap_or_default();
    let pods = context.shared.pods.in_namespace(namespace);
    let now = jiff::Timestamp::now();
    let mut plan = replicaset::reconcile(owner, &pods, now);
    if !context.expectations.satisfied(uid, |name| live_pod_named(&pods, name)) {
        return Ok(plan.status.map(|status| (status, Action::requeue(EXPECTATIONS_RECHECK))));
    }
    let actions = std::mem::take(&mut plan.actions);
    let target = Owner { namespace, uid, reference };
    if let Some(message) = pods::execute(&context.shared.client, &context.recorder, &context.expectations, &target, actions).await? {
        plan.record_failure(&message, now);
    }
    let requeue = Action::requeue(plan.requeue_after.map_or(RESYNC_INTERVAL, |after| after.min(RESYNC_INTERVAL)));
    Ok(plan.status.map(|status| (status, requeue)))
}

/// Writes the whole status (PUT status with the cached resourceVersion); a conflict means a newer object is on
/// its way through the watch, which syncs again.
async fn write_status<K>(api: &Api<K>, object: &K) -> Result<(), LoopError>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    match api.replace_status(&name, &PostParams::default(), object).await {
        Ok(_) => Ok(()),
        Err(error) if is_gone_or_conflict(&error) => Ok(()),
        Err(error) => Err(error.into()),
    }
}
