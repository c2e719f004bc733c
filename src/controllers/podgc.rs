//! Pod garbage collection, as upstream's pod GC controller decides it every 20 seconds: finished pods beyond the
//! `--terminated-pod-gc-threshold` (evicted ones first, then oldest first), terminating pods on out-of-service nodes
//! that are not ready, pods bound to nodes that stayed missing past a 40 second quarantine, and terminating pods that
//! were never scheduled. Each is marked Failed (if it had not finished) and force-deleted.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;

/// Upstream runs the collection this often.
pub const GC_CHECK_PERIOD: SignedDuration = SignedDuration::from_secs(20);
const TAINT_OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

/// The pod GC controller's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PodGcConfig {
    /// `--terminated-pod-gc-threshold`: how many finished pods may stay; 0 keeps them all.
    pub terminated_pod_threshold: usize,
    /// How long a node must stay missing before its pods count as orphaned.
    pub quarantine: SignedDuration,
}

impl Default for PodGcConfig {
    fn default() -> Self {
        PodGcConfig { terminated_pod_threshold: 12500, quarantine: SignedDuration::from_secs(40) }
    }
}

/// Node names pods are bound to that were missing from the node list, with when each was first found missing. The
/// glue keeps one across passes; it holds only names still referenced by pods and still missing.
#[derive(Debug, Clone, Default)]
pub struct MissingNodes {
    first_seen: HashMap<String, Timestamp>,
}

/// Why a pod is collected (upstream's metric label for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodGcReason {
    /// Finished, beyond the threshold.
    Terminated,
    /// Terminating on a not-ready node tainted `node.kubernetes.io/out-of-service`.
    TerminatingOutOfService,
    /// Bound to a node that no longer exists.
    Orphaned,
    /// Terminating and never scheduled.
    TerminatingUnscheduled,
}

/// One pod to collect: patch its status (when `status_patch` is set), then delete it with `grace_period_seconds`.
#[derive(Debug, Clone, PartialEq)]
pub struct PodGcDeletion {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub reason: PodGcReason,
    /// Strategic merge patch for the status subresource turning an unfinished pod Failed (orphans also get the
    /// `DisruptionTarget` condition, reason `DeletionByPodGC`); it carries the uid as precondition.
    pub status_patch: Option<serde_json::Value>,
    /// Always 0: the kubelet that would finish the pod is gone or irrelevant.
    pub grace_period_seconds: i64,
}

/// What one collection pass does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodGcPlan {
    /// In upstream's order: terminated, terminating out-of-service, orphaned, unscheduled terminating; a pod appears
    /// once. Upstream re-reads an orphan's node with a GET before collecting its pods; the glue may do the same.
    pub deletions: Vec<PodGcDeletion>,
    /// When a missing node's quarantine ends: run again then (otherwise every `GC_CHECK_PERIOD`).
    pub next_check: Option<Timestamp>,
}

/// One upstream `gc` pass over all `pods` and `nodes`.
pub fn plan_pod_gc(config: &PodGcConfig, pods: &[Pod], nodes: &[Node], missing: &mut MissingNodes, now: Timestamp) -> PodGcPlan {
    let nodes_by_name: HashMap<&str, &Node> =
        nodes.iter().filter_map(|node| node.metadata.name.as_deref().map(|name| (name, node))).collect();
    let mut plan = PodGcPlan::default();
    let mut taken: HashSet<(Option<String>, Option<String>)> = HashSet::new();
    let mut take = |pod: &Pod, reason: PodGcReason, plan: &mut PodGcPlan| {
        if taken.insert((pod.metadata.namespace.clone(), pod.metadata.name.clone())) {
            plan.deletions.push(deletion(pod, reason, now));
        }
    };

    if config.terminated_pod_threshold > 0 {
        let mut terminated: Vec<&Pod> = pods.iter().filter(|pod| is_terminated(pod)).collect();
        if terminated.len() > config.terminated_pod_threshold {
            let excess = terminated.len() - config.terminated_pod_threshold;
            terminated.sort_by(|a, b| collection_order(a, b));
            for pod in terminated.into_iter().take(excess) {
                take(pod, PodGcReason::Terminated, &mut plan);
            }
        }
    }

    let mut out_of_service: Vec<&Pod> = pods
        .iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_some())
        .filter(|pod| {
            node_name(pod).and_then(|name| nodes_by_name.get(name)).is_some_and(|node| !node_ready(node) && out_of_service_tainted(node))
        })
        .collect();
    out_of_service.sort_by(|a, b| collection_order(a, b));
    for pod in out_of_service {
        take(pod, PodGcReason::TerminatingOutOfService, &mut plan);
    }

    let mut still_missing = HashMap::new();
    for name in pods.iter().filter_map(|pod| node_name(pod)).filter(|name| !nodes_by_name.contains_key(name)) {
        let since = missing.first_seen.get(name).copied().unwrap_or(now);
        still_missing.insert(name.to_string(), since);
    }
    missing.first_seen = still_missing;
    for pod in pods {
        let Some(since) = node_name(pod).and_then(|name| missing.first_seen.get(name)) else { continue };
        let released = *since + config.quarantine;
        if released <= now {
            take(pod, PodGcReason::Orphaned, &mut plan);
        } else {
            plan.next_check = Some(plan.next_check.map_or(released, |next| next.min(released)));
        }
    }

    for pod in pods.iter().filter(|pod| pod.metadata.deletion_timestamp.is_some() && node_name(pod).is_none()) {
        take(pod, PodGcReason::TerminatingUnscheduled, &mut plan);
    }
    plan
}

fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()).filter(|name| !name.is_empty())
}

fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|status| status.phase.as_deref()).unwrap_or("")
}

/// Upstream `isPodTerminated`: any phase but Pending, Running and Unknown.
fn is_terminated(pod: &Pod) -> bool {
    !matches!(phase(pod), "Pending" | "Running" | "Unknown")
}

/// Evicted pods first (they were not the last word of a controller), then by age, then by name.
fn collection_order(a: &Pod, b: &Pod) -> Ordering {
    let evicted = |pod: &Pod| phase(pod) == "Failed" && pod.status.as_ref().and_then(|status| status.reason.as_deref()) == Some("Evicted");
    let created = |pod: &Pod| pod.metadata.creation_timestamp.as_ref().map(|time| time.0);
    evicted(b).cmp(&evicted(a)).then_with(|| created(a).cmp(&created(b))).then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

fn node_ready(node: &Node) -> bool {
    let conditions = node.status.as_ref().and_then(|status| status.conditions.as_deref()).unwrap_or_default();
    conditions.iter().any(|condition| condition.type_ == "Ready" && condition.status == "True")
}

fn out_of_service_tainted(node: &Node) -> bool {
    node.spec.as_ref().and_then(|spec| spec.taints.as_deref()).unwrap_or_default().iter().any(|taint| taint.key == TAINT_OUT_OF_SERVICE)
}

/// Upstream `markFailedAndDeletePodWithCondition`.
fn deletion(pod: &Pod, reason: PodGcReason, now: Timestamp) -> PodGcDeletion {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let status_patch = (!matches!(phase(pod), "Succeeded" | "Failed")).then(|| {
        let mut status = json!({"phase": "Failed"});
        if reason == PodGcReason::Orphaned {
            let transition = Timestamp::from_second(now.as_second()).unwrap_or(now);
            status["conditions"] = json!([{
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByPodGC",
                "message": "PodGC: node no longer exists",
                "lastTransitionTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(transition),
            }]);
        }
        json!({"metadata": {"uid": uid}, "status": status})
    });
    PodGcDeletion {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid,
        reason,
        status_patch,
        grace_period_seconds: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::Value;

    fn at(seconds: i64) -> Timestamp {
        "2024-01-01T00:00:00Z".parse::<Timestamp>().expect("time") + SignedDuration::from_secs(seconds)
    }

    fn pod(name: &str, node: Option<&str>, phase: &str, created: i64) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "creationTimestamp": Time(at(created))},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": phase},
        }))
        .expect("pod")
    }

    fn node(name: &str, ready: &str, taints: Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"taints": taints},
            "status": {"conditions": [{"type": "Ready", "status": ready}]},
        }))
        .expect("node")
    }

    fn names(plan: &PodGcPlan) -> Vec<(&str, PodGcReason)> {
        plan.deletions.iter().map(|deletion| (deletion.name.as_str(), deletion.reason)).collect()
    }

    #[test]
    fn finished_pods_beyond_the_threshold_go_evicted_first_then_oldest_first() {
        let mut evicted = pod("evicted", Some("n"), "Failed", 50);
        evicted.status.as_mut().expect("status").reason = Some("Evicted".to_string());
        let pods = [
            pod("new", Some("n"), "Succeeded", 40),
            pod("old", Some("n"), "Failed", 10),
            pod("running", Some("n"), "Running", 0),
            evicted,
            pod("b-same-age", Some("n"), "Succeeded", 20),
            pod("a-same-age", Some("n"), "Succeeded", 20),
        ];
        let config = PodGcConfig { terminated_pod_threshold: 2, ..PodGcConfig::default() };
        let plan = plan_pod_gc(&config, &pods, &[node("n", "True", json!([]))], &mut MissingNodes::default(), at(100));
        assert_eq!(
            names(&plan),
            vec![("evicted", PodGcReason::Terminated), ("old", PodGcReason::Terminated), ("a-same-age", PodGcReason::Terminated)]
        );
        assert!(plan.deletions.iter().all(|deletion| deletion.status_patch.is_none() && deletion.grace_period_seconds == 0));
        let unlimited = PodGcConfig { terminated_pod_threshold: 0, ..PodGcConfig::default() };
        assert!(plan_pod_gc(&unlimited, &pods, &[node("n", "True", json!([]))], &mut MissingNodes::default(), at(100))
            .deletions
            .is_empty());
    }

    #[test]
    fn pods_of_a_missing_node_are_collected_after_the_quarantine() {
        let pods = [pod("orphan", Some("gone"), "Running", 0), pod("fine", Some("n"), "Running", 0)];
        let nodes = [node("n", "True", json!([]))];
        let mut missing = MissingNodes::default();
        let config = PodGcConfig::default();
        let plan = plan_pod_gc(&config, &pods, &nodes, &mut missing, at(100));
        assert!(plan.deletions.is_empty());
        assert_eq!(plan.next_check, Some(at(140)));
        assert!(plan_pod_gc(&config, &pods, &nodes, &mut missing, at(139)).deletions.is_empty());
        let plan = plan_pod_gc(&config, &pods, &nodes, &mut missing, at(140));
        assert_eq!(names(&plan), vec![("orphan", PodGcReason::Orphaned)]);
        let patch = plan.deletions[0].status_patch.clone().expect("marked failed");
        assert_eq!(patch["metadata"]["uid"], "uid-orphan");
        assert_eq!(patch["status"]["phase"], "Failed");
        let condition = &patch["status"]["conditions"][0];
        assert_eq!(
            (condition["type"].as_str(), condition["status"].as_str(), condition["reason"].as_str(), condition["message"].as_str()),
            (Some("DisruptionTarget"), Some("True"), Some("DeletionByPodGC"), Some("PodGC: node no longer exists"))
        );
    }

    #[test]
    fn a_node_that_comes_back_ends_the_quarantine() {
        let pods = [pod("web", Some("flaky"), "Running", 0)];
        let mut missing = MissingNodes::default();
        let config = PodGcConfig::default();
        plan_pod_gc(&config, &pods, &[], &mut missing, at(0));
        plan_pod_gc(&config, &pods, &[node("flaky", "True", json!([]))], &mut missing, at(30));
        let plan = plan_pod_gc(&config, &pods, &[], &mut missing, at(50));
        assert!(plan.deletions.is_empty());
        assert_eq!(plan.next_check, Some(at(90)), "the quarantine starts over");
    }

    #[test]
    fn terminating_pods_that_were_never_scheduled_are_collected() {
        let mut unscheduled = pod("unscheduled", None, "Pending", 0);
        unscheduled.metadata.deletion_timestamp = Some(Time(at(5)));
        let mut scheduled = pod("scheduled", Some("n"), "Running", 0);
        scheduled.metadata.deletion_timestamp = Some(Time(at(5)));
        let plan = plan_pod_gc(
            &PodGcConfig::default(),
            &[unscheduled, scheduled, pod("pending", None, "Pending", 0)],
            &[node("n", "True", json!([]))],
            &mut MissingNodes::default(),
            at(10),
        );
        assert_eq!(names(&plan), vec![("unscheduled", PodGcReason::TerminatingUnscheduled)]);
        assert_eq!(plan.deletions[0].status_patch, Some(json!({"metadata": {"uid": "uid-unscheduled"}, "status": {"phase": "Failed"}})));
    }

    #[test]
    fn terminating_pods_on_out_of_service_nodes_that_are_down_are_collected() {
        let out_of_service = json!([{"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}]);
        let nodes = [node("down", "False", out_of_service.clone()), node("up", "True", out_of_service), node("plain", "False", json!([]))];
        let terminating = |name: &str, node: &str| {
            let mut pod = pod(name, Some(node), "Running", 0);
            pod.metadata.deletion_timestamp = Some(Time(at(5)));
            pod
        };
        let pods = [
            terminating("stuck", "down"),
            terminating("leaving", "up"),
            terminating("waiting", "plain"),
            pod("running", Some("down"), "Running", 0),
        ];
        let plan = plan_pod_gc(&PodGcConfig::default(), &pods, &nodes, &mut MissingNodes::default(), at(10));
        assert_eq!(names(&plan), vec![("stuck", PodGcReason::TerminatingOutOfService)]);
    }

    #[test]
    fn a_pod_that_qualifies_twice_is_collected_once() {
        let mut both = pod("both", None, "Failed", 0);
        both.metadata.deletion_timestamp = Some(Time(at(5)));
        let config = PodGcConfig { terminated_pod_threshold: 1, ..PodGcConfig::default() };
        let pods = [both, pod("kept", None, "Succeeded", 1)];
        let plan = plan_pod_gc(&config, &pods, &[], &mut MissingNodes::default(), at(10));
        assert_eq!(names(&plan), vec![("both", PodGcReason::Terminated)]);
    }
}
