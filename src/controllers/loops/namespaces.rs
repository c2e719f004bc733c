//! The namespace controller and the ServiceAccount controller. A namespace being deleted (deletionTimestamp set,
//! `kubernetes` in `spec.finalizers`) has its content deleted as upstream does it: every namespaced resource that
//! discovery lists with the `delete` verb, pods first (the rest waits until no pod is left), each type by
//! `deletecollection` (or list and delete one by one), Background propagation; what remains is reported in the
//! namespace's upstream conditions, and once nothing is left the `kubernetes` finalizer is removed through the
//! `finalize` subresource, which lets the API server delete the namespace. Pods still in their grace period make the
//! controller look again after half their longest grace period, objects held by finalizers after 7 s.
//! The ServiceAccount controller keeps a `default` ServiceAccount in every active namespace, creating it again when
//! it is deleted; it watches only ServiceAccounts named `default` (a private watch with a field selector).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::{SinkExt, Stream, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition, Pod, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use tokio::sync::watch;

use super::discovery::{self, ServedResource};
use super::pods::api_message;
use super::{error_policy, is_gone_or_conflict, LoopError, Shared};

/// The finalizer this controller owns in `spec.finalizers`.
const NAMESPACE_FINALIZER: &str = "kubernetes";
/// Upstream's guess of how long objects held by finalizers take to go, in seconds.
const FINALIZER_ESTIMATE_SECONDS: i64 = 15;
/// How soon a namespace whose status or finalize write met a newer version is looked at again.
const CONFLICT_RETRY: Duration = Duration::from_millis(200);
/// The ServiceAccount every namespace gets.
const DEFAULT_SERVICE_ACCOUNT: &str = "default";
/// ServiceAccount deletions waiting for the controller before the watch waits.
const SERVICE_ACCOUNT_DELETIONS_MAX: usize = 256;

/// The condition types the namespace controller owns, in upstream's order, with the reason and message each has while
/// nothing is wrong.
const CONDITION_TYPES: [(&str, &str, &str); 5] = [
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered", "All resources successfully discovered"),
    ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    ("NamespaceDeletionContentFailure", "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
];

pub async fn run(shared: Arc<Shared>) {
    let namespaces_for_deletion = shared.namespaces.subscribe();
    let namespaces_for_accounts = shared.namespaces.subscribe();
    futures::join!(run_namespace_deleter(shared.clone(), namespaces_for_deletion), run_service_accounts(shared, namespaces_for_accounts));
}

// ---------------------------------------------------------------------------------------------------------------
// Namespace deletion
// ---------------------------------------------------------------------------------------------------------------

struct Deleter {
    shared: Arc<Shared>,
}

async fn run_namespace_deleter(shared: Arc<Shared>, changes: impl Stream<Item = Arc<Namespace>> + Send + 'static) {
    let namespaces = shared.namespaces.store.clone();
    Controller::for_shared_stream(changes, namespaces)
        .run(sync_namespace, error_policy, Arc::new(Deleter { shared }))
        .for_each(|_| futures::future::ready(()))
        .await;
}

async fn sync_namespace(cached: Arc<Namespace>, deleter: Arc<Deleter>) -> Result<Action, LoopError> {
    if cached.metadata.deletion_timestamp.is_none() {
        return Ok(Action::await_change());
    }
    let name = cached.metadata.name.clone().unwrap_or_default();
    let api: Api<Namespace> = Api::all(deleter.shared.client.clone());
    // Other controllers edit a terminating namespace too: work from the latest copy, as upstream does.
    let Some(mut namespace) = api.get_opt(&name).await? else { return Ok(Action::await_change()) };
    let Some(deleted_at) = namespace.metadata.deletion_timestamp.clone() else { return Ok(Action::await_change()) };
    if namespace.status.as_ref().and_then(|status| status.phase.as_deref()) != Some("Terminating") {
        namespace.status.get_or_insert_with(Default::default).phase = Some("Terminating".into());
        namespace = match api.replace_status(&name, &PostParams::default(), &namespace).await {
            Ok(written) => written,
            Err(error) if is_gone_or_conflict(&error) => return Ok(Action::requeue(CONFLICT_RETRY)),
            Err(error) => return Err(error.into()),
        };
    }
    if !finalizers(&namespace).iter().any(|finalizer| finalizer == NAMESPACE_FINALIZER) {
        return Ok(Action::await_change());
    }

    let report = delete_all_content(&deleter.shared, &name, deleted_at.0).await;
    let now = Timestamp::now();
    let current = namespace.status.as_ref().and_then(|status| status.conditions.clone()).unwrap_or_default();
    if let Some(conditions) = updated_conditions(&current, &report.failure_conditions(), now) {
        namespace.status.get_or_insert_with(Default::default).conditions = Some(conditions);
        if let Err(error) = api.replace_status(&name, &PostParams::default(), &namespace).await {
            // Upstream only logs this: the conditions are written again on the next pass.
            tracing::debug!(%error, namespace = name, "could not update namespace conditions");
        }
    }
    if let Some(errors) = report.errors() {
        return Err(LoopError::Failed(errors));
    }
    if report.estimate_seconds > 0 {
        // Upstream looks again after half the estimate.
        let seconds = u64::try_from(report.estimate_seconds / 2).unwrap_or(0).max(1);
        return Ok(Action::requeue(Duration::from_secs(seconds)));
    }

    let mut finalized = Namespace { metadata: namespace.metadata.clone(), spec: namespace.spec.clone(), status: None };
    let remaining: Vec<String> = finalizers(&namespace).into_iter().filter(|finalizer| finalizer != NAMESPACE_FINALIZER).collect();
    finalized.spec.get_or_insert_with(Default::default).finalizers = Some(remaining);
    match api.replace_subresource("finalize", &name, &PostParams::default(), &finalized).await {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(Action::requeue(CONFLICT_RETRY)),
        Err(error) => Err(error.into()),
    }
}

fn finalizers(namespace: &Namespace) -> Vec<String> {
    namespace.spec.as_ref().and_then(|spec| spec.finalizers.clone()).unwrap_or_default()
}

/// What one pass over a namespace's content found.
#[derive(Debug, Default, PartialEq)]
struct ContentReport {
    /// Seconds until what remains is expected to be gone; 0 when nothing is expected to remain.
    estimate_seconds: i64,
    discovery_failure: Option<String>,
    parse_failure: Option<String>,
    /// Per-resource deletion failures.
    content_errors: Vec<String>,
    /// Objects left per resource, `<plural>.<group>` (the core group is empty: `pods.`).
    remaining_by_resource: BTreeMap<String, usize>,
    /// Objects left per finalizer they carry.
    remaining_by_finalizer: BTreeMap<String, usize>,
}

impl ContentReport {
    /// Upstream's aggregated error of the pass, when anything failed (the namespace is retried with backoff).
    fn errors(&self) -> Option<String> {
        let errors: Vec<&str> =
            self.discovery_failure.iter().chain(&self.parse_failure).chain(&self.content_errors).map(String::as_str).collect();
        (!errors.is_empty()).then(|| errors.join(", "))
    }

    /// Upstream's failing conditions for this pass (types that are not failing get their "ok" variant later).
    fn failure_conditions(&self) -> Vec<(&'static str, &'static str, String)> {
        let mut conditions = Vec::new();
        if let Some(message) = &self.discovery_failure {
            conditions.push(("NamespaceDeletionDiscoveryFailure", "DiscoveryFailed", message.clone()));
        }
        if let Some(message) = &self.parse_failure {
            conditions.push(("NamespaceDeletionGroupVersionParsingFailure", "GroupVersionParsingFailed", message.clone()));
        }
        if !self.content_errors.is_empty() {
            let mut messages: Vec<&str> = self.content_errors.iter().map(String::as_str).collect();
            messages.sort_unstable();
            let message = format!("Failed to delete all resource types, {} remaining: {}", messages.len(), messages.join(", "));
            conditions.push(("NamespaceDeletionContentFailure", "ContentDeletionFailed", message));
        }
        let resources: Vec<String> = self
            .remaining_by_resource
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(resource, count)| format!("{resource} has {count} resource instances"))
            .collect();
        if !resources.is_empty() {
            conditions.push((
                "NamespaceContentRemaining",
                "SomeResourcesRemain",
                format!("Some resources are remaining: {}", resources.join(", ")),
            ));
        }
        let finalizers: Vec<String> = self
            .remaining_by_finalizer
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(finalizer, count)| format!("{finalizer} in {count} resource instances"))
            .collect();
        if !finalizers.is_empty() {
            let message = format!("Some content in the namespace has finalizers remaining: {}", finalizers.join(", "));
            conditions.push(("NamespaceFinalizersRemaining", "SomeFinalizersRemain", message));
        }
        conditions
    }

    fn add(&mut self, resource: &ServedResource, outcome: ResourceOutcome) {
        self.estimate_seconds = self.estimate_seconds.max(outcome.estimate_seconds);
        if outcome.remaining > 0 {
            let key = format!("{}.{}", resource.resource.plural, resource.resource.group);
            self.remaining_by_resource.insert(key, outcome.remaining);
            for (finalizer, count) in outcome.finalizers {
                *self.remaining_by_finalizer.entry(finalizer).or_default() += count;
            }
        }
        self.content_errors.extend(outcome.error);
    }
}

/// Upstream `deleteAllContent`: pods first, and the rest only once no pod is left.
async fn delete_all_content(shared: &Shared, namespace: &str, deleted_at: Timestamp) -> ContentReport {
    let mut report = ContentReport::default();
    let resources = match discovery::preferred_resources(&shared.client).await {
        Ok(discovered) => {
            if let Some(message) = discovered.failure_message() {
                report.discovery_failure =
                    Some(format!("Discovery failed for some groups, {} failing: {message}", discovered.failed_groups.len()));
            }
            if let Some(unparsable) = discovered.unparsable_group_versions.first() {
                report.parse_failure = Some(format!("unexpected GroupVersion string: {unparsable}"));
            }
            discovered.resources
        }
        Err(error) => {
            report.discovery_failure = Some(api_message(&error));
            Vec::new()
        }
    };
    let deletable: Vec<&ServedResource> = resources.iter().filter(|resource| resource.namespaced && resource.supports("delete")).collect();
    let is_pods = |resource: &ServedResource| resource.resource.group.is_empty() && resource.resource.plural == "pods";
    if let Some(pods) = deletable.iter().find(|resource| is_pods(resource)) {
        let outcome = delete_resource_content(shared, pods, namespace, deleted_at).await;
        report.add(pods, outcome);
        if !report.remaining_by_resource.is_empty() {
            return report;
        }
    }
    for resource in deletable.into_iter().filter(|resource| !is_pods(resource)) {
        let outcome = delete_resource_content(shared, resource, namespace, deleted_at).await;
        report.add(resource, outcome);
    }
    report
}

/// What deleting one resource type's objects left.
#[derive(Debug, Default)]
struct ResourceOutcome {
    estimate_seconds: i64,
    remaining: usize,
    finalizers: BTreeMap<String, usize>,
    error: Option<String>,
}

/// Upstream `deleteAllContentForGroupVersionResource`.
async fn delete_resource_content(shared: &Shared, resource: &ServedResource, namespace: &str, deleted_at: Timestamp) -> ResourceOutcome {
    let estimate_seconds = if resource.resource.group.is_empty() && resource.resource.plural == "pods" {
        pod_grace_estimate(&shared.pods.in_namespace(namespace), deleted_at, Timestamp::now())
    } else {
        0
    };
    let failed = |error: String| ResourceOutcome { estimate_seconds, error: Some(error), ..ResourceOutcome::default() };
    let api: Api<DynamicObject> = Api::namespaced_with(shared.client.clone(), namespace, &resource.resource);
    let background = DeleteParams::background();
    let mut collection_deleted = false;
    if resource.supports("deletecollection") {
        match api.delete_collection(&background, &ListParams::default()).await {
            Ok(_) => collection_deleted = true,
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 405 => {}
            Err(error) => return failed(api_message(&error)),
        }
    }
    if !resource.supports("list") {
        return ResourceOutcome { estimate_seconds, ..ResourceOutcome::default() };
    }
    if !collection_deleted {
        let items = match api.list_metadata(&ListParams::default()).await {
            Ok(list) => list.items,
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 405 => Vec::new(),
            Err(error) => return failed(api_message(&error)),
        };
        for item in items {
            let name = item.metadata.name.unwrap_or_default();
            match api.delete(&name, &background).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 || status.code == 405 => {}
                Err(error) => return failed(api_message(&error)),
            }
        }
    }
    let remaining = match api.list_metadata(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 405 => Vec::new(),
        Err(error) => return failed(api_message(&error)),
    };
    remaining_outcome(resource, namespace, estimate_seconds, &remaining.iter().map(|item| &item.metadata).collect::<Vec<_>>())
}

/// Upstream's verdict on what is left of one resource after deleting: nothing; objects expected to go (grace period or
/// finalizers); or objects that should be gone and are not (an error, retried).
fn remaining_outcome(resource: &ServedResource, namespace: &str, estimate_seconds: i64, remaining: &[&ObjectMeta]) -> ResourceOutcome {
    if remaining.is_empty() {
        return ResourceOutcome::default();
    }
    let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
    for finalizer in remaining.iter().flat_map(|meta| meta.finalizers.iter().flatten()) {
        *finalizers.entry(finalizer.clone()).or_default() += 1;
    }
    let mut outcome = ResourceOutcome { estimate_seconds, remaining: remaining.len(), finalizers, error: None };
    if estimate_seconds != 0 {
        return outcome;
    }
    if !outcome.finalizers.is_empty() {
        outcome.estimate_seconds = FINALIZER_ESTIMATE_SECONDS;
        return outcome;
    }
    outcome.error = Some(format!("unexpected items still remain in namespace: {namespace} for gvr: {}", resource.group_version_resource()));
    outcome
}

/// Upstream `estimateGracefulTerminationForPods`: the longest grace period among unfinished pods, or 0 once that much
/// time has passed since the namespace was deleted.
fn pod_grace_estimate(pods: &[Pod], deleted_at: Timestamp, now: Timestamp) -> i64 {
    let estimate = pods
        .iter()
        .filter(|pod| !matches!(pod.status.as_ref().and_then(|status| status.phase.as_deref()), Some("Succeeded" | "Failed")))
        .filter_map(|pod| pod.spec.as_ref()?.termination_grace_period_seconds)
        .max()
        .unwrap_or(0);
    let elapsed_seconds = now.as_second() - deleted_at.as_second();
    if elapsed_seconds >= estimate {
        0
    } else {
        estimate
    }
}

/// Upstream `updateConditions`: each owned condition type gets this pass's failure or its "ok" variant; a changed
/// condition keeps its transition time unless its status flips; other condition types are kept. None when nothing
/// changes.
fn updated_conditions(
    current: &[NamespaceCondition],
    failures: &[(&'static str, &'static str, String)],
    now: Timestamp,
) -> Option<Vec<NamespaceCondition>> {
    let now = Time(Timestamp::from_second(now.as_second()).unwrap_or(now));
    let mut conditions = current.to_vec();
    let mut changed = false;
    for (type_, ok_reason, ok_message) in CONDITION_TYPES {
        let (status, reason, message) = match failures.iter().find(|(failing, _, _)| *failing == type_) {
            Some((_, reason, message)) => ("True", *reason, message.clone()),
            None => ("False", ok_reason, ok_message.to_string()),
        };
        match conditions.iter_mut().find(|condition| condition.type_ == type_) {
            None => {
                conditions.push(NamespaceCondition {
                    type_: type_.to_string(),
                    status: status.to_string(),
                    reason: Some(reason.to_string()),
                    message: Some(message),
                    last_transition_time: Some(now.clone()),
                });
                changed = true;
            }
            Some(existing) => {
                if existing.status != status || existing.reason.as_deref() != Some(reason) || existing.message.as_ref() != Some(&message) {
                    if existing.status != status {
                        existing.last_transition_time = Some(now.clone());
                    }
                    existing.status = status.to_string();
                    existing.reason = Some(reason.to_string());
                    existing.message = Some(message);
                    changed = true;
                }
            }
        }
    }
    changed.then_some(conditions)
}

// ---------------------------------------------------------------------------------------------------------------
// ServiceAccounts
// ---------------------------------------------------------------------------------------------------------------

struct Accounts {
    shared: Arc<Shared>,
    defaults: Store<ServiceAccount>,
    /// True once the first list of ServiceAccounts is in. (Not `Store::wait_until_ready`: it wakes only the last of
    /// several concurrent waiters, and reconciles run concurrently.)
    listed: watch::Receiver<bool>,
}

async fn run_service_accounts(shared: Arc<Shared>, changes: impl Stream<Item = Arc<Namespace>> + Send + 'static) {
    let (defaults, writer) = reflector::store();
    let api: Api<ServiceAccount> = Api::all(shared.client.clone());
    let config = watcher::Config::default().fields(&format!("metadata.name={DEFAULT_SERVICE_ACCOUNT}"));
    let (mut deleted_tx, deleted_rx) = mpsc::channel::<ObjectRef<Namespace>>(SERVICE_ACCOUNT_DELETIONS_MAX);
    let (listed_tx, listed) = watch::channel(false);
    let watch = async move {
        let events = reflector::reflector(writer, watcher(api, config).default_backoff());
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            match event {
                // A deleted `default` ServiceAccount is made again at once.
                Ok(watcher::Event::Delete(account)) => {
                    let namespace = account.metadata.namespace.unwrap_or_default();
                    if deleted_tx.send(ObjectRef::new(&namespace)).await.is_err() {
                        return;
                    }
                }
                Ok(watcher::Event::InitDone) => {
                    listed_tx.send_replace(true);
                }
                Ok(_) => {}
                Err(error) => tracing::debug!(%error, "ServiceAccount watch failed; retrying"),
            }
        }
    };
    let namespaces = shared.namespaces.store.clone();
    let context = Arc::new(Accounts { shared, defaults, listed });
    let controller = Controller::for_shared_stream(changes, namespaces)
        .reconcile_on(deleted_rx)
        .run(sync_service_account, error_policy, context)
        .for_each(|_| futures::future::ready(()));
    futures::join!(watch, controller);
}

async fn sync_service_account(namespace: Arc<Namespace>, accounts: Arc<Accounts>) -> Result<Action, LoopError> {
    let terminating = namespace.metadata.deletion_timestamp.is_some()
        || namespace.status.as_ref().and_then(|status| status.phase.as_deref()) == Some("Terminating");
    if terminating {
        return Ok(Action::await_change());
    }
    // Until the first list of ServiceAccounts is in, every namespace would look like it has none.
    accounts.listed.clone().wait_for(|listed| *listed).await.map_err(|error| LoopError::Failed(error.to_string()))?;
    let name = namespace.metadata.name.clone().unwrap_or_default();
    if accounts.defaults.get(&ObjectRef::new(DEFAULT_SERVICE_ACCOUNT).within(&name)).is_some() {
        return Ok(Action::await_change());
    }
    let account = ServiceAccount {
        metadata: ObjectMeta { name: Some(DEFAULT_SERVICE_ACCOUNT.into()), namespace: Some(name.clone()), ..ObjectMeta::default() },
        ..ServiceAccount::default()
    };
    let api: Api<ServiceAccount> = Api::namespaced(accounts.shared.client.clone(), &name);
    match api.create(&PostParams::default(), &account).await {
        Ok(_) => Ok(Action::await_change()),
        // Already there (the cache is behind), or the namespace started terminating meanwhile.
        Err(kube::Error::Api(status)) if status.code == 409 || status.code == 403 || status.code == 404 => Ok(Action::await_change()),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::discovery::ApiResource;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).expect("time")
    }

    fn resource(group: &str, plural: &str) -> ServedResource {
        ServedResource {
            resource: ApiResource {
                group: group.into(),
                version: "v1".into(),
                api_version: if group.is_empty() { "v1".into() } else { format!("{group}/v1") },
                kind: "Thing".into(),
                plural: plural.into(),
            },
            namespaced: true,
            verbs: vec!["list".into(), "delete".into(), "deletecollection".into()],
        }
    }

    fn meta(finalizers: &[&str]) -> ObjectMeta {
        ObjectMeta { finalizers: Some(finalizers.iter().map(|f| f.to_string()).collect()), ..ObjectMeta::default() }
    }

    fn pod(grace: i64, phase: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [], "terminationGracePeriodSeconds": grace},
            "status": {"phase": phase},
        }))
        .expect("pod")
    }

    #[test]
    fn pods_in_their_grace_period_are_waited_for_until_it_has_passed() {
        let pods = [pod(30, "Running"), pod(600, "Succeeded"), pod(10, "Pending")];
        assert_eq!(pod_grace_estimate(&pods, at(0), at(5)), 30);
        assert_eq!(pod_grace_estimate(&pods, at(0), at(30)), 0);
        assert_eq!(pod_grace_estimate(&[], at(0), at(1)), 0);
    }

    #[test]
    fn leftovers_with_finalizers_are_waited_for_and_others_are_an_error() {
        let configmaps = resource("", "configmaps");
        let held = meta(&["example.com/hold"]);
        let outcome = remaining_outcome(&configmaps, "team", 0, &[&held, &held]);
        assert_eq!(outcome.estimate_seconds, FINALIZER_ESTIMATE_SECONDS);
        assert_eq!(outcome.finalizers.get("example.com/hold"), Some(&2));
        assert!(outcome.error.is_none());

        let plain = meta(&[]);
        let outcome = remaining_outcome(&configmaps, "team", 0, &[&plain]);
        assert_eq!(outcome.error.as_deref(), Some("unexpected items still remain in namespace: team for gvr: /v1, Resource=configmaps"));

        let outcome = remaining_outcome(&resource("", "pods"), "team", 30, &[&plain]);
        assert_eq!((outcome.estimate_seconds, outcome.remaining, outcome.error), (30, 1, None));
        assert_eq!(remaining_outcome(&configmaps, "team", 0, &[]).remaining, 0);
    }

    #[test]
    fn conditions_read_as_upstream_writes_them() {
        let mut report = ContentReport::default();
        report.add(&resource("", "pods"), ResourceOutcome { estimate_seconds: 30, remaining: 2, ..ResourceOutcome::default() });
        let mut finalizers = BTreeMap::new();
        finalizers.insert("example.com/hold".to_string(), 1);
        report.add(&resource("apps", "replicasets"), ResourceOutcome { estimate_seconds: 15, remaining: 1, finalizers, error: None });
        report.add(
            &resource("", "configmaps"),
            ResourceOutcome { remaining: 1, error: Some("unexpected items still remain".into()), ..ResourceOutcome::default() },
        );
        assert_eq!(report.estimate_seconds, 30);
        let failures = report.failure_conditions();
        let conditions = updated_conditions(&[], &failures, at(0)).expect("conditions are new");
        let by_type = |type_: &str| conditions.iter().find(|c| c.type_ == type_).expect("condition").clone();
        let remaining = by_type("NamespaceContentRemaining");
        assert_eq!(remaining.status, "True");
        assert_eq!(remaining.reason.as_deref(), Some("SomeResourcesRemain"));
        assert_eq!(
            remaining.message.as_deref(),
            Some(
                "Some resources are remaining: configmaps. has 1 resource instances, pods. has 2 resource instances, replicasets.apps has 1 \
                 resource instances"
            )
        );
        let finalizers = by_type("NamespaceFinalizersRemaining");
        assert_eq!(finalizers.reason.as_deref(), Some("SomeFinalizersRemain"));
        assert_eq!(
            finalizers.message.as_deref(),
            Some("Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
        );
        let content = by_type("NamespaceDeletionContentFailure");
        assert_eq!(content.reason.as_deref(), Some("ContentDeletionFailed"));
        assert_eq!(content.message.as_deref(), Some("Failed to delete all resource types, 1 remaining: unexpected items still remain"));
        let discovery = by_type("NamespaceDeletionDiscoveryFailure");
        assert_eq!(
            (discovery.status.as_str(), discovery.reason.as_deref(), discovery.message.as_deref()),
            ("False", Some("ResourcesDiscovered"), Some("All resources successfully discovered"))
        );
        assert_eq!(conditions.len(), 5);
    }

    #[test]
    fn an_unchanged_condition_is_not_rewritten_and_a_flip_moves_its_transition_time() {
        let ok = updated_conditions(&[], &[], at(0)).expect("first pass writes the ok conditions");
        assert_eq!(updated_conditions(&ok, &[], at(60)), None);
        let failing =
            [("NamespaceContentRemaining", "SomeResourcesRemain", "Some resources are remaining: pods. has 1 resource instances".into())];
        let updated = updated_conditions(&ok, &failing, at(60)).expect("changed");
        let remaining = updated.iter().find(|c| c.type_ == "NamespaceContentRemaining").expect("condition");
        assert_eq!(remaining.status, "True");
        assert_eq!(remaining.last_transition_time, Some(Time(at(60))));
        let discovery = updated.iter().find(|c| c.type_ == "NamespaceDeletionDiscoveryFailure").expect("condition");
        assert_eq!(discovery.last_transition_time, Some(Time(at(0))));
    }

    #[test]
    fn discovery_failures_become_their_own_condition_and_not_a_content_failure() {
        let report = ContentReport {
            discovery_failure: Some("Discovery failed for some groups, 1 failing: boom".into()),
            ..ContentReport::default()
        };
        assert_eq!(report.errors().as_deref(), Some("Discovery failed for some groups, 1 failing: boom"));
        let failures = report.failure_conditions();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, "NamespaceDeletionDiscoveryFailure");
        assert_eq!(failures[0].1, "DiscoveryFailed");
    }
}
