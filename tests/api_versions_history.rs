//! API behaviour that the kubectl flows do not reach, checked through stock kubectl 1.37 against the real
//! `ferrokube server` on a throwaway PostgreSQL: one resource served in two versions shares one storage (an
//! events.k8s.io/v1 Event is a core/v1 Event, an autoscaling/v1 HorizontalPodAutoscaler is an autoscaling/v2 one);
//! once history is compacted, a continue token from before gets 410 Expired and a watch from before gets one
//! ERROR event (410) on an HTTP 200 stream; `/metrics` counts the requests just made. Compaction is driven with
//! the store's own `compact`, as the server's background compactor would after its window. Writes through the
//! status subresource change the status and nothing else, and main-resource writes leave the status alone.

#[allow(dead_code)]
#[path = "support/cluster.rs"]
mod cluster;
#[allow(dead_code)]
#[path = "support/postgres.rs"]
mod postgres_support;

use std::time::Duration;

use ferrokube::storage::postgres::PostgresStore;
use ferrokube::storage::Backend;
use serde_json::{json, Value};

use cluster::{Cluster, Kubectl, Output};

const KUBECTL: &str = "1.37";
/// These tests look at the API alone: no controller writes behind their back.
const API_ONLY: &[&str] = &["--disable-controller-manager", "--disable-scheduler"];

fn must(output: Output) -> Output {
    assert!(output.success(), "{output}");
    output
}

fn json_of(output: Output) -> Value {
    let output = must(output);
    serde_json::from_str(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {output}"))
}

fn create(k: &Kubectl, manifest: &Value) {
    must(k.command(&["create", "-f", "-"]).stdin(&manifest.to_string()).run());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
}

#[test]
fn one_resource_in_two_versions_shares_storage() {
    let runtime = runtime();
    let database = runtime.block_on(postgres_support::TestPostgres::new());
    let cluster = Cluster::start_with_args(Some(&database.url()), KUBECTL, API_ONLY);
    let k = cluster.kubectl(KUBECTL);

    create(
        &k,
        &json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "default"},
            "eventTime": "2026-01-02T03:04:05.000000Z", "reportingController": "example.com/operator",
            "reportingInstance": "operator-0", "action": "Scale", "reason": "ScalingReplicaSet", "type": "Normal",
            "regarding": {"kind": "Deployment", "name": "web", "namespace": "default", "apiVersion": "apps/v1"},
            "note": "Scaled up replica set web-1 from 0 to 3"
        }),
    );
    let core = json_of(k.run(&["get", "events.v1.", "web.1", "-o", "json"]));
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(core["message"], "Scaled up replica set web-1 from 0 to 3");
    assert_eq!(core["involvedObject"]["name"], "web");
    assert_eq!(core["reportingComponent"], "example.com/operator");
    let listed = must(k.run(&["get", "events.v1.", "--field-selector", "involvedObject.kind=Deployment,involvedObject.name=web"]));
    assert!(listed.stdout.contains("ScalingReplicaSet") && listed.stdout.contains("deployment/web"), "{listed}");

    create(
        &k,
        &json!({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "legacy.1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}, "reason": "Pulled", "message": "pulled it",
            "type": "Normal", "source": {"component": "kubelet", "host": "node-1"}, "count": 2,
            "firstTimestamp": "2026-01-02T03:04:05Z", "lastTimestamp": "2026-01-02T03:05:05Z"
        }),
    );
    let events_v1 = json_of(k.run(&["get", "events.v1.events.k8s.io", "legacy.1", "-o", "json"]));
    assert_eq!(events_v1["apiVersion"], "events.k8s.io/v1");
    assert_eq!(events_v1["note"], "pulled it");
    assert_eq!(events_v1["regarding"]["name"], "p");
    assert_eq!(events_v1["deprecatedSource"]["host"], "node-1");
    assert_eq!(events_v1["deprecatedCount"], 2);
    let both = json_of(k.run(&["get", "events.v1.events.k8s.io", "-o", "json"]));
    let names: Vec<&str> = both["items"].as_array().expect("items").iter().filter_map(|e| e["metadata"]["name"].as_str()).collect();
    assert_eq!(names, ["legacy.1", "web.1"], "one collection, whichever version wrote it");

    create(
        &k,
        &json!({
            "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 4, "targetCPUUtilizationPercentage": 70}
        }),
    );
    let v2 = json_of(k.run(&["get", "horizontalpodautoscalers.v2.autoscaling", "web", "-o", "json"]));
    assert_eq!(
        v2["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}])
    );
    must(k.run(&[
        "patch",
        "horizontalpodautoscalers.v2.autoscaling",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"behavior":{"scaleDown":{"stabilizationWindowSeconds":60}}}}"#,
    ]));
    let v1 = json_of(k.run(&["get", "horizontalpodautoscalers.v1.autoscaling", "web", "-o", "json"]));
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 70);
    assert!(v1["spec"].get("metrics").is_none(), "{v1}");
    assert_eq!(
        v1["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/behavior"],
        r#"{"scaleDown":{"stabilizationWindowSeconds":60}}"#
    );
    must(k.run(&["patch", "horizontalpodautoscalers.v1.autoscaling", "web", "--type=merge", "-p", r#"{"spec":{"maxReplicas":6}}"#]));
    let v2 = json_of(k.run(&["get", "horizontalpodautoscalers.v2.autoscaling", "web", "-o", "json"]));
    assert_eq!(v2["spec"]["maxReplicas"], 6);
    assert_eq!(v2["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 60, "a v1 update keeps what only v2 can say");
    assert!(v2["metadata"].get("annotations").is_none(), "{v2}");
}

#[test]
fn compacted_history_gets_410_and_metrics_count_requests() {
    let runtime = runtime();
    let database = runtime.block_on(postgres_support::TestPostgres::new());
    let cluster = Cluster::start_with_args(Some(&database.url()), KUBECTL, API_ONLY);
    let k = cluster.kubectl(KUBECTL);
    for name in ["a", "b", "c"] {
        must(k.run(&["create", "configmap", name, "--from-literal", "k=v"]));
    }
    let first_page = json_of(k.run(&["get", "--raw", "/api/v1/namespaces/default/configmaps?limit=1"]));
    let token = first_page["metadata"]["continue"].as_str().expect("a continue token").to_string();
    let listed_at: i64 = first_page["metadata"]["resourceVersion"].as_str().and_then(|rv| rv.parse().ok()).expect("a list resourceVersion");
    must(k.run(&["label", "configmap", "a", "changed=yes"]));

    let store = runtime.block_on(PostgresStore::connect(&database.url())).expect("connect to the server's database");
    let current = runtime.block_on(store.current_revision()).expect("current revision");
    let report = runtime.block_on(store.compact(current)).expect("compact");
    assert!(report.compacted_revision > listed_at, "{report:?}");

    let expired = k.run(&["get", "--raw", &format!("/api/v1/namespaces/default/configmaps?limit=1&continue={token}")]);
    assert!(!expired.success(), "{expired}");
    assert!(
        expired
            .stderr
            .contains("Error from server (Expired): The provided continue parameter is too old to display a consistent list result."),
        "{expired}"
    );

    let watch = k
        .command(&["get", "--raw", &format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={listed_at}")])
        .timeout(Duration::from_secs(20))
        .run();
    assert!(watch.success() && !watch.timed_out, "the server ends the stream after the ERROR event: {watch}");
    let event: Value = serde_json::from_str(watch.stdout.trim()).unwrap_or_else(|e| panic!("one JSON event ({e}): {watch}"));
    assert_eq!(event["type"], "ERROR");
    assert_eq!(event["object"]["code"], 410);
    assert_eq!(event["object"]["reason"], "Expired");
    assert!(
        event["object"]["message"].as_str().unwrap_or_default().starts_with(&format!("too old resource version: {listed_at} (")),
        "{event}"
    );

    let metrics = must(k.run(&["get", "--raw", "/metrics"])).stdout;
    let sample = |prefix: &str| -> u64 {
        metrics
            .lines()
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("no `{prefix}` sample in /metrics:\n{metrics}"))
    };
    assert_eq!(sample(r#"apiserver_request_total{verb="POST",resource="configmaps",code="201"}"#), 3);
    assert!(sample(r#"apiserver_request_total{verb="LIST",resource="configmaps",code="410"}"#) >= 1);
    assert!(sample(r#"apiserver_request_duration_seconds_count{verb="POST",resource="configmaps"}"#) >= 3);
    assert!(metrics.contains("apiserver_longrunning_requests{verb=\"WATCH\"}"), "{metrics}");
    assert!(sample(r#"apiserver_storage_operation_duration_seconds_count{operation="create""#) >= 3);
}

#[test]
fn status_subresource_writes_only_status() {
    let runtime = runtime();
    let database = runtime.block_on(postgres_support::TestPostgres::new());
    let cluster = Cluster::start_with_args(Some(&database.url()), KUBECTL, API_ONLY);
    let k = cluster.kubectl(KUBECTL);
    must(k.run(&["create", "deployment", "web", "--image=nginx", "--replicas=3"]));
    let status = r#"{"status":{"replicas":3,"readyReplicas":2,"availableReplicas":2,"observedGeneration":1}}"#;
    let patched = json_of(k.run(&["patch", "deployment", "web", "--subresource=status", "--type=merge", "-p", status, "-o", "json"]));
    assert_eq!(patched["status"]["readyReplicas"], 2, "{patched}");
    let spec_via_status = json_of(k.run(&[
        "patch",
        "deployment",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":9}}"#,
        "-o",
        "json",
    ]));
    assert_eq!(spec_via_status["spec"]["replicas"], 3, "a status write leaves the spec alone");
    must(k.run(&["patch", "deployment", "web", "--type=merge", "-p", r#"{"spec":{"replicas":4},"status":{"readyReplicas":0}}"#]));
    let after = json_of(k.run(&["get", "deployment", "web", "-o", "json"]));
    assert_eq!((after["spec"]["replicas"].clone(), after["status"]["readyReplicas"].clone()), (json!(4), json!(2)), "{after}");
    let listed = must(k.run(&["get", "deployment", "web"]));
    assert!(listed.stdout.lines().nth(1).is_some_and(|row| row.starts_with("web    2/4")), "{listed}");
}
