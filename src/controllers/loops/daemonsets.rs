//! The DaemonSet controller: a kube-rs controller triggered by DaemonSets, the pods and ControllerRevisions
//! they control, orphan pods they could adopt, and nodes whose labels, taints or schedulability change. Each
//! sync finds or creates the ControllerRevision holding the DaemonSet's template (its hash labels the pods),
//! hands the DaemonSet, its namespace's pods and all nodes to `controllers::daemonset::reconcile` with a
//! per-DaemonSet failed-pod backoff, carries the pod actions out, writes the status and prunes old revisions.
//! ControllerRevisions are not in [`Shared`], so this loop keeps its own cache of them.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::json;

use super::pods::{self, live_pod_named, Owner};
use super::{error_policy, is_gone_or_conflict, Informer, LoopError, Shared};
use crate::control::events::{reference_to, EventRecorder};
use crate::control::expectations::Expectations;
use crate::controllers::daemonset::{self, FailedPodBackoff, COMPONENT, REVISION_HASH_LABEL};
use crate::controllers::podcontrol::Action as PodAction;
use crate::controllers::podutil::controller_of;
use crate::controllers::selector::LabelMatcher;

/// How often a DaemonSet is synced even without a change (a missed trigger heals).
const RESYNC_INTERVAL: Duration = Duration::from_secs(300);
/// How soon a DaemonSet waiting for its own writes to show in the cache is looked at again.
const EXPECTATIONS_RECHECK: Duration = Duration::from_secs(1);
/// A pod deleted outright leaves no watch event the controller sees, so a sync that deleted pods looks again
/// this soon to replace them.
const AFTER_DELETES_RECHECK: Duration = Duration::from_secs(1);
/// Nodes whose scheduling-relevant fingerprint is remembered; past this the memory starts afresh (every node
/// then triggers once more, which is harmless).
const NODE_FINGERPRINTS_MAX: usize = 50_000;

struct Context {
    shared: Arc<Shared>,
    revisions: Store<ControllerRevision>,
    recorder: EventRecorder,
    expectations: Expectations,
    /// Failed-pod backoff per DaemonSet uid, dropped once the DaemonSet is gone.
    backoffs: Mutex<HashMap<String, FailedPodBackoff>>,
}

pub async fn run(shared: Arc<Shared>) {
    let revisions = Informer::<ControllerRevision>::new(shared.client.clone());
    let daemon_sets = shared.daemon_sets.store.clone();
    let every_daemon_set = daemon_sets.clone();
    let context = Arc::new(Context {
        recorder: shared.recorder(COMPONENT),
        shared: shared.clone(),
        revisions: revisions.store.clone(),
        expectations: Expectations::default(),
        backoffs: Mutex::default(),
    });
    let controller = Controller::for_shared_stream(shared.daemon_sets.subscribe(), daemon_sets.clone())
        .owns_shared_stream(shared.pods.subscribe())
        .owns_shared_stream(revisions.subscribe())
        .watches_shared_stream(shared.pods.subscribe(), move |pod: Arc<Pod>| orphan_owners(&daemon_sets, &pod))
        .watches_shared_stream(scheduling_changes(shared.nodes.subscribe()), move |_node: Arc<Node>| {
            every_daemon_set.state().iter().map(|ds| ObjectRef::from_obj(&**ds)).collect::<Vec<_>>()
        })
        .run(sync, error_policy, context)
        .for_each(|_| futures::future::ready(()));
    futures::join!(revisions.drive(), controller);
}

/// Nodes whose labels, taints or schedulability changed: only those decide where daemon pods run, and node
/// heartbeats would otherwise sync every DaemonSet every few seconds.
fn scheduling_changes(nodes: impl futures::Stream<Item = Arc<Node>>) -> impl futures::Stream<Item = Arc<Node>> {
    let mut seen: HashMap<String, u64> = HashMap::new();
    nodes.filter(move |node| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        node.metadata.labels.hash(&mut hasher);
        let spec = node.spec.as_ref();
        serde_json::to_string(&spec.and_then(|spec| spec.taints.as_ref())).unwrap_or_default().hash(&mut hasher);
        spec.and_then(|spec| spec.unschedulable).hash(&mut hasher);
        let fingerprint = hasher.finish();
        if seen.len() >= NODE_FINGERPRINTS_MAX {
            seen.clear();
        }
        let changed = seen.insert(node.metadata.name.clone().unwrap_or_default(), fingerprint) != Some(fingerprint);
        futures::future::ready(changed)
    })
}

/// DaemonSets in the pod's namespace whose selector matches a pod nobody controls: they may adopt it.
fn orphan_owners(daemon_sets: &Store<DaemonSet>, pod: &Pod) -> Vec<ObjectRef<DaemonSet>> {
    if controller_of(&pod.metadata).is_some() {
        return Vec::new();
    }
    daemon_sets
        .state()
        .iter()
        .filter(|ds| ds.metadata.namespace == pod.metadata.namespace)
        .filter(|ds| LabelMatcher::parse(Some(&ds.spec.selector)).is_ok_and(|m| m.matches(pod.metadata.labels.as_ref())))
        .map(|ds| ObjectRef::from_obj(&**ds))
        .collect()
}

async fn sync(ds: Arc<DaemonSet>, context: Arc<Context>) -> Result<Action, LoopError> {
    let shared = &context.shared;
    // Acting on a cache still filling would, say, delete pending pods pinned to nodes not listed yet.
    for ready in [
        shared.nodes.store.wait_until_ready().await,
        shared.pods.store.wait_until_ready().await,
        context.revisions.wait_until_ready().await,
    ] {
        ready.map_err(|_| LoopError::Failed("a cache stopped before it was filled".into()))?;
    }
    forget_deleted_daemon_sets(&context);
    if ds.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = ds.metadata.namespace.clone().unwrap_or_default();
    let uid = ds.metadata.uid.clone().unwrap_or_default();
    let pods = shared.pods.in_namespace(&namespace);
    if !context.expectations.satisfied(&uid, |name| live_pod_named(&pods, name)) {
        return Ok(Action::requeue(EXPECTATIONS_RECHECK));
    }
    let revision_api: Api<ControllerRevision> = Api::namespaced(shared.client.clone(), &namespace);
    let Some(history) = construct_history(&context, &ds, &revision_api).await? else { return Ok(Action::requeue(EXPECTATIONS_RECHECK)) };
    let nodes: Vec<Node> = shared.nodes.store.state().iter().map(|node| (**node).clone()).collect();

    let now = jiff::Timestamp::now();
    let plan = {
        let mut backoffs = context.backoffs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        daemonset::reconcile(&ds, &history.current_hash, &pods, &nodes, backoffs.entry(uid.clone()).or_default(), now)
    };
    let deletes_pods = plan.actions.iter().any(|action| matches!(action, PodAction::DeletePod { .. }));
    let target = Owner { namespace: &namespace, uid: &uid, reference: reference_to(&*ds) };
    let failure = pods::execute(&shared.client, &context.recorder, &context.expectations, &target, plan.actions).await?;

    let daemon_set_api: Api<DaemonSet> = Api::namespaced(shared.client.clone(), &namespace);
    if let Some(status) = plan.status.filter(|status| ds.status.as_ref() != Some(status)) {
        let mut updated = (*ds).clone();
        updated.status = Some(status);
        let name = ds.metadata.name.clone().unwrap_or_default();
        match daemon_set_api.replace_status(&name, &PostParams::default(), &updated).await {
            Ok(_) => {}
            Err(error) if is_gone_or_conflict(&error) => {}
            Err(error) => return Err(error.into()),
        }
    }
    // A failed create or delete is retried with backoff, after the status above recorded what is there.
    if let Some(message) = failure {
        return Err(LoopError::Failed(message));
    }
    for name in daemonset::revisions_to_prune(&ds, &history.outdated, &pods) {
        match revision_api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(error) if is_gone_or_conflict(&error) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let mut requeue = plan.requeue_after.map_or(RESYNC_INTERVAL, |after| after.min(RESYNC_INTERVAL));
    if deletes_pods {
        requeue = requeue.min(AFTER_DELETES_RECHECK);
    }
    Ok(Action::requeue(requeue))
}

/// Backoffs (and expectations) of DaemonSets no longer in the cache are dropped, which bounds both by the
/// number of DaemonSets.
fn forget_deleted_daemon_sets(context: &Context) {
    let mut backoffs = context.backoffs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let present: std::collections::HashSet<String> =
        context.shared.daemon_sets.store.state().iter().filter_map(|ds| ds.metadata.uid.clone()).collect();
    backoffs.retain(|uid, _| {
        let keep = present.contains(uid);
        if !keep {
            context.expectations.forget(uid);
        }
        keep
    });
}

/// The DaemonSet's current revision and the ones it has outgrown.
struct History {
    current_hash: String,
    outdated: Vec<ControllerRevision>,
}

/// Upstream `constructHistory`: the revision holding the DaemonSet's template is current (the newest of them
/// when there are several), renumbered past every other revision when an older one is brought back (a
/// rollback), or created when none holds it. `None` when a name clash bumped `status.collisionCount` and the
/// sync must run again with the new count.
async fn construct_history(context: &Context, ds: &DaemonSet, api: &Api<ControllerRevision>) -> Result<Option<History>, LoopError> {
    let uid = ds.metadata.uid.as_deref();
    let owned: Vec<ControllerRevision> = context
        .revisions
        .state()
        .iter()
        .filter(|revision| revision.metadata.namespace == ds.metadata.namespace)
        .filter(|revision| controller_of(&revision.metadata).is_some_and(|owner| Some(owner.uid.as_str()) == uid))
        .map(|revision| (**revision).clone())
        .collect();
    let (mut matching, outdated): (Vec<ControllerRevision>, Vec<ControllerRevision>) =
        owned.into_iter().partition(|revision| daemonset::revision_matches(ds, revision));
    matching.sort_by_key(|revision| std::cmp::Reverse(revision.revision.unwrap_or(0)));
    let next_number = outdated.iter().filter_map(|revision| revision.revision).max().unwrap_or(0) + 1;
    let mut matching = matching.into_iter();
    let current = match matching.next() {
        Some(current) if current.revision.unwrap_or(0) < next_number => {
            let name = current.metadata.name.clone().unwrap_or_default();
            let patch = Patch::Merge(json!({"revision": next_number}));
            match api.patch(&name, &PatchParams::default(), &patch).await {
                Ok(renumbered) => renumbered,
                Err(error) if is_gone_or_conflict(&error) => return Ok(None),
                Err(error) => return Err(error.into()),
            }
        }
        Some(current) => current,
        None => match create_revision(&context.shared.client, api, ds, next_number).await? {
            Some(created) => created,
            None => return Ok(None),
        },
    };
    let current_hash = current
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(REVISION_HASH_LABEL).cloned())
        .unwrap_or_else(|| daemonset::template_hash(&ds.spec.template, ds.status.as_ref().and_then(|status| status.collision_count)));
    // Duplicates of the current template count as history: pruning removes them once no pod runs them.
    Ok(Some(History { current_hash, outdated: outdated.into_iter().chain(matching).collect() }))
}

/// Upstream `snapshot`: creates the revision; when its name is taken, the existing one is used if it is this
/// DaemonSet's and holds the same template, and otherwise `status.collisionCount` goes up so the next sync
/// hashes to another name (`None`).
async fn create_revision(
    client: &kube::Client,
    api: &Api<ControllerRevision>,
    ds: &DaemonSet,
    number: i64,
) -> Result<Option<ControllerRevision>, LoopError> {
    let revision = daemonset::new_revision(ds, number);
    let error = match api.create(&PostParams::default(), &revision).await {
        Ok(created) => return Ok(Some(created)),
        Err(error) => error,
    };
    if !matches!(&error, kube::Error::Api(status) if status.code == 409) {
        return Err(error.into());
    }
    let name = revision.metadata.name.clone().unwrap_or_default();
    let existing = match api.get(&name).await {
        Ok(existing) => existing,
        Err(error) if is_gone_or_conflict(&error) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let ours = controller_of(&existing.metadata).is_some_and(|owner| Some(&owner.uid) == ds.metadata.uid.as_ref());
    if ours && daemonset::revision_matches(ds, &existing) {
        return Ok(Some(existing));
    }
    let mut bumped = ds.clone();
    let status = bumped.status.get_or_insert_with(Default::default);
    status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
    let daemon_set_api: Api<DaemonSet> = Api::namespaced(client.clone(), ds.metadata.namespace.as_deref().unwrap_or_default());
    match daemon_set_api.replace_status(ds.metadata.name.as_deref().unwrap_or_default(), &PostParams::default(), &bumped).await {
        Ok(_) => Ok(None),
        Err(error) if is_gone_or_conflict(&error) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(labels: serde_json::Value, taints: serde_json::Value, heartbeat: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "node-a", "labels": labels},
                "spec": {"taints": taints},
                "status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": heartbeat}]},
            }))
            .expect("a Node"),
        )
    }

    #[tokio::test]
    async fn only_scheduling_changes_of_nodes_trigger() {
        let updates = vec![
            node(json!({"zone": "a"}), json!([]), "2025-01-01T00:00:00Z"),
            node(json!({"zone": "a"}), json!([]), "2025-01-01T00:00:10Z"),
            node(json!({"zone": "b"}), json!([]), "2025-01-01T00:00:20Z"),
            node(json!({"zone": "b"}), json!([{"key": "k", "effect": "NoExecute"}]), "2025-01-01T00:00:30Z"),
            node(json!({"zone": "b"}), json!([{"key": "k", "effect": "NoExecute"}]), "2025-01-01T00:00:40Z"),
        ];
        let passed: Vec<Arc<Node>> = scheduling_changes(futures::stream::iter(updates)).collect().await;
        let zones: Vec<_> =
            passed.iter().map(|node| node.metadata.labels.as_ref().and_then(|labels| labels.get("zone")).cloned()).collect();
        assert_eq!(passed.len(), 3, "first sight, the label change and the taint; heartbeats are filtered out: {zones:?}");
    }
}
