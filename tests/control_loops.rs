//! The control loops end to end: the real `ferrokube server` (with its in-process controller-manager and
//! scheduler) on a throwaway PostgreSQL, simulated nodes from `ferrokube node --simulate` standing in for kubelets
//! (they register Nodes with Leases and mark bound pods Running and Ready), and stock kubectl 1.37 checking what a
//! user sees: a ReplicationController recreates a deleted pod, replicas spread over the nodes, a pod too big for
//! every node shows upstream's FailedScheduling message, a Deployment rolls to a new image never below
//! `replicas - maxUnavailable` available pods with `kubectl rollout status` returning and `rollout undo`
//! restoring the old template; deletes cascade in the background, foreground and orphan modes; deleting a
//! namespace empties and removes it; a node that stops heartbeating is tainted unreachable and its pods are
//! replaced elsewhere; and two `ferrokube controller-manager` processes fail over through their Lease.
//! Every wait is bounded and panics with what it last saw.

#[allow(dead_code)]
#[path = "support/cluster.rs"]
mod cluster;
#[allow(dead_code)]
#[path = "support/postgres.rs"]
mod postgres_support;

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use cluster::{Cluster, Component, Kubectl, Output};

const KUBECTL: &str = "1.37";
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How long a change may take to show; generous because CI shares two cores with the build.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

fn must(output: Output) -> Output {
    assert!(output.success(), "{output}");
    output
}

fn json_of(output: Output) -> Value {
    let output = must(output);
    serde_json::from_str(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {output}"))
}

/// Polls `probe` until it returns `Some`, or panics with `what` and the last state it described.
fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}"),
            Err(_) => thread::sleep(POLL_INTERVAL),
        }
    }
}

fn pods(k: &Kubectl, selector: &str) -> Vec<Value> {
    json_of(k.run(&["get", "pods", "-l", selector, "-o", "json"]))["items"].as_array().cloned().unwrap_or_default()
}

fn is_running_and_ready(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
        && pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// Names of the live pods matching `selector` once exactly `count` of them run and are ready.
fn wait_running(k: &Kubectl, selector: &str, count: usize) -> Vec<Value> {
    wait_for(&format!("{count} running, ready pods with {selector}"), SETTLE_TIMEOUT, || {
        let all = pods(k, selector);
        let live: Vec<Value> = all.iter().filter(|p| p["metadata"]["deletionTimestamp"].is_null()).cloned().collect();
        if live.len() == count && live.iter().all(is_running_and_ready) {
            Ok(live)
        } else {
            Err(live.iter().map(|p| format!("{} {}", p["metadata"]["name"], p["status"]["phase"])).collect::<Vec<_>>().join(", "))
        }
    })
}

struct Setup {
    _database: postgres_support::TestPostgres,
    cluster: Cluster,
    _nodes: Component,
    k: Kubectl,
}

fn start(node_count: usize) -> Setup {
    start_with(node_count, &[])
}

fn start_with(node_count: usize, server_args: &[&str]) -> Setup {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let database = runtime.block_on(postgres_support::TestPostgres::new());
    let cluster = Cluster::start_with_args(Some(&database.url()), KUBECTL, server_args);
    let k = cluster.kubectl(KUBECTL);
    let nodes = simulate_nodes(&cluster, &k, node_count, "sim-", node_count);
    Setup { _database: database, cluster, _nodes: nodes, k }
}

/// Starts `count` simulated nodes named `<prefix>N` and waits until `ready_total` nodes are Ready.
fn simulate_nodes(cluster: &Cluster, k: &Kubectl, count: usize, prefix: &str, ready_total: usize) -> Component {
    let kubeconfig = cluster.kubeconfig();
    let count = count.to_string();
    let nodes = Component::start(&[
        "node",
        "--simulate",
        &count,
        "--name-prefix",
        prefix,
        "--kubeconfig",
        kubeconfig.to_str().expect("a UTF-8 path"),
        "--cpu",
        "2",
    ]);
    wait_for(&format!("{ready_total} Ready nodes"), SETTLE_TIMEOUT, || {
        let listed = k.run(&["get", "nodes", "--no-headers"]);
        let ready = listed.stdout.lines().filter(|line| line.split_whitespace().nth(1) == Some("Ready")).count();
        if ready == ready_total {
            Ok(())
        } else {
            Err(format!("{listed}\nnode agent stderr:\n{}", nodes.stderr()))
        }
    });
    nodes
}

fn gone(k: &Kubectl, args: &[&str]) -> Result<(), String> {
    let out = k.run(args);
    if !out.success() && out.stderr.contains("NotFound") || out.success() && out.stdout.trim().is_empty() {
        Ok(())
    } else {
        Err(out.to_string())
    }
}

#[test]
fn replication_controller_spreads_recreates_and_too_big_pods_are_reported() {
    let setup = start(3);
    let (k, cluster) = (&setup.k, &setup.cluster);
    let rc = r#"{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"web"},
        "spec":{"replicas":3,"selector":{"app":"web"},"template":{"metadata":{"labels":{"app":"web"}},
        "spec":{"containers":[{"name":"web","image":"nginx","resources":{"requests":{"cpu":"100m"}}}]}}}}"#;
    must(k.command(&["create", "-f", "-"]).stdin(rc).run());
    let running = wait_running(k, "app=web", 3);
    let nodes: BTreeSet<&str> = running.iter().filter_map(|p| p["spec"]["nodeName"].as_str()).collect();
    assert_eq!(nodes.len(), 3, "three replicas on three nodes: {running:?}");

    let victim = running[0]["metadata"]["name"].as_str().expect("a pod name").to_string();
    must(k.run(&["delete", "pod", &victim, "--wait=false"]));
    let replaced = wait_running(k, "app=web", 3);
    assert!(replaced.iter().all(|p| p["metadata"]["name"] != victim.as_str()), "the deleted pod was replaced");
    let described = must(k.run(&["describe", "rc", "web"])).stdout;
    assert!(described.contains("SuccessfulCreate") && described.contains("replication-controller"), "{described}");
    let rc_row = must(k.run(&["get", "rc", "web", "--no-headers"])).stdout;
    assert_eq!(rc_row.split_whitespace().take(4).collect::<Vec<_>>(), ["web", "3", "3", "3"], "{rc_row}");

    must(k.run(&[
        "run",
        "huge",
        "--image=nginx",
        "--overrides",
        r#"{"spec":{"containers":[{"name":"huge","image":"nginx","resources":{"requests":{"cpu":"64"}}}]}}"#,
    ]));
    let expected = "0/3 nodes are available: 3 Insufficient cpu.";
    let described = wait_for("a FailedScheduling event on the huge pod", SETTLE_TIMEOUT, || {
        let out = k.run(&["describe", "pod", "huge"]);
        if out.stdout.contains("FailedScheduling") && out.stdout.contains(expected) {
            Ok(out.stdout)
        } else {
            Err(out.to_string())
        }
    });
    assert!(described.contains("default-scheduler"), "{described}");
    let pod = json_of(k.run(&["get", "pod", "huge", "-o", "json"]));
    let scheduled = pod["status"]["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == "PodScheduled").cloned());
    let scheduled = scheduled.unwrap_or_else(|| panic!("no PodScheduled condition: {pod}\n{}", cluster.server_stderr()));
    assert_eq!((scheduled["status"].as_str(), scheduled["reason"].as_str()), (Some("False"), Some("Unschedulable")));
    assert!(scheduled["message"].as_str().is_some_and(|m| m.starts_with(expected)), "{scheduled}");
}

#[test]
fn deployment_rolls_out_within_its_budget_and_undoes() {
    let setup = start(3);
    let k = &setup.k;
    must(k.run(&["create", "deployment", "web", "--image=nginx:1.25", "--replicas=4"]));
    must(k.command(&["rollout", "status", "deployment/web", "--timeout=60s"]).timeout(Duration::from_secs(70)).run());
    wait_running(k, "app=web", 4);

    // A watch of the Deployment records every status the rollout passes through.
    let mut watch =
        k.command(&["get", "deployment", "web", "-w", "-o", "jsonpath={.status.availableReplicas} {.status.replicas}{\"\\n\"}"]).spawn();
    must(k.run(&["set", "image", "deployment/web", "nginx=nginx:1.26"]));
    let status = must(k.command(&["rollout", "status", "deployment/web", "--timeout=90s"]).timeout(Duration::from_secs(100)).run());
    assert!(status.stdout.contains("deployment \"web\" successfully rolled out"), "{status}");
    thread::sleep(Duration::from_millis(500));
    let seen = watch.stop().stdout;
    let mut observed = 0;
    for line in seen.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split_whitespace().map(|n| n.parse::<i64>().unwrap_or(0));
        let (available, total) = (fields.next().unwrap_or(0), fields.next().unwrap_or(0));
        assert!(available >= 3, "available fell below replicas - maxUnavailable (4 - 1): {line:?} in\n{seen}");
        assert!(total <= 5, "more pods than replicas + maxSurge (4 + 1): {line:?} in\n{seen}");
        observed += 1;
    }
    assert!(observed >= 2, "the watch saw the rollout:\n{seen}");
    let new_pods = wait_running(k, "app=web", 4);
    assert!(new_pods.iter().all(|p| p["spec"]["containers"][0]["image"] == "nginx:1.26"), "{new_pods:?}");
    let history = must(k.run(&["rollout", "history", "deployment/web"])).stdout;
    assert!(history.contains("1 ") && history.contains("2 "), "{history}");

    must(k.run(&["rollout", "undo", "deployment/web"]));
    must(k.command(&["rollout", "status", "deployment/web", "--timeout=90s"]).timeout(Duration::from_secs(100)).run());
    let back = wait_running(k, "app=web", 4);
    assert!(back.iter().all(|p| p["spec"]["containers"][0]["image"] == "nginx:1.25"), "{back:?}");
    let replica_sets = must(k.run(&["get", "rs", "-l", "app=web", "--no-headers"])).stdout;
    assert_eq!(replica_sets.lines().count(), 2, "undo reuses the old ReplicaSet:\n{replica_sets}");
    let described = must(k.run(&["describe", "deployment", "web"])).stdout;
    assert!(described.contains("ScalingReplicaSet") && described.contains("deployment-controller"), "{described}");
}

#[test]
fn controller_managers_fail_over_through_their_lease() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let database = runtime.block_on(postgres_support::TestPostgres::new());
    let cluster = Cluster::start_with_args(Some(&database.url()), KUBECTL, &["--disable-controller-manager", "--disable-scheduler"]);
    let kubeconfig = cluster.kubeconfig();
    let kubeconfig = kubeconfig.to_str().expect("a UTF-8 path");
    let k = &cluster.kubectl(KUBECTL);
    let mut first = Component::start(&["controller-manager", "--kubeconfig", kubeconfig]);
    let holder = |k: &Kubectl| -> Result<String, String> {
        let lease = k.run(&["get", "lease", "-n", "kube-system", "kube-controller-manager", "-o", "jsonpath={.spec.holderIdentity}"]);
        if lease.success() && !lease.stdout.is_empty() {
            Ok(lease.stdout)
        } else {
            Err(lease.to_string())
        }
    };
    let first_holder = wait_for("the first controller-manager to lead", SETTLE_TIMEOUT, || holder(k));
    let second = Component::start(&["controller-manager", "--kubeconfig", kubeconfig]);
    let rc = r#"{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"one"},
        "spec":{"replicas":2,"selector":{"app":"one"},"template":{"metadata":{"labels":{"app":"one"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#;
    must(k.command(&["create", "-f", "-"]).stdin(rc).run());
    wait_for("the leader to create 2 pods", SETTLE_TIMEOUT, || {
        let count = pods(k, "app=one").len();
        if count == 2 {
            Ok(())
        } else {
            Err(format!("{count} pods"))
        }
    });
    thread::sleep(Duration::from_secs(3));
    assert_eq!(pods(k, "app=one").len(), 2, "the standby created nothing");
    assert_eq!(holder(k).ok().as_deref(), Some(first_holder.as_str()), "the first keeps the lease while alive");

    first.kill();
    let killed_at = Instant::now();
    let second_holder = wait_for("the standby to take the lease", Duration::from_secs(30), || match holder(k) {
        Ok(now) if now != first_holder => Ok(now),
        Ok(now) => Err(format!("still held by {now}")),
        Err(e) => Err(e),
    });
    // The bound (lease 10 s plus up to two 2 s retries) is the lease configuration's; the figure is for the log.
    eprintln!("standby took over {:?} after the leader was killed", killed_at.elapsed());
    assert_ne!(second_holder, first_holder);
    must(k.run(&["scale", "rc", "one", "--replicas=3"]));
    wait_for("the new leader to act", SETTLE_TIMEOUT, || {
        let count = pods(k, "app=one").len();
        if count == 3 {
            Ok(())
        } else {
            Err(format!("{count} pods; standby stderr:\n{}", second.stderr()))
        }
    });
}

#[test]
fn cascading_deletes_and_namespace_deletion() {
    let setup = start(2);
    let k = &setup.k;
    for name in ["back", "fore", "orph"] {
        must(k.run(&["create", "deployment", name, "--image=nginx", "--replicas=2"]));
        wait_running(k, &format!("app={name}"), 2);
    }

    must(k.run(&["delete", "deployment", "back", "--cascade=background"]));
    wait_for("background deletion of the ReplicaSet and pods", SETTLE_TIMEOUT, || {
        gone(k, &["get", "rs,pods", "-l", "app=back", "-o", "name"])
    });

    let foreground =
        must(k.command(&["delete", "deployment", "fore", "--cascade=foreground", "--timeout=60s"]).timeout(Duration::from_secs(70)).run());
    assert!(foreground.stdout.contains("deployment.apps \"fore\" deleted"), "{foreground}");
    wait_for("the foreground-deleted Deployment itself", SETTLE_TIMEOUT, || gone(k, &["get", "deployment", "fore", "-o", "name"]));
    wait_for("foreground deletion of the ReplicaSet and pods", SETTLE_TIMEOUT, || {
        gone(k, &["get", "rs,pods", "-l", "app=fore", "-o", "name"])
    });

    must(k.run(&["delete", "deployment", "orph", "--cascade=orphan"]));
    wait_for("the orphaned ReplicaSet to lose its owner", SETTLE_TIMEOUT, || {
        let rs = json_of(k.run(&["get", "rs", "-l", "app=orph", "-o", "json"]));
        let items = rs["items"].as_array().cloned().unwrap_or_default();
        if items.len() == 1 && items[0]["metadata"]["ownerReferences"].as_array().is_none_or(|o| o.is_empty()) {
            Ok(())
        } else {
            Err(rs.to_string())
        }
    });
    thread::sleep(Duration::from_secs(2));
    wait_running(k, "app=orph", 2);

    must(k.run(&["create", "namespace", "doomed"]));
    must(k.run(&["-n", "doomed", "create", "deployment", "web", "--image=nginx", "--replicas=2"]));
    must(k.run(&["-n", "doomed", "create", "configmap", "settings", "--from-literal=a=b"]));
    wait_for("pods in the doomed namespace", SETTLE_TIMEOUT, || {
        let out = k.run(&["-n", "doomed", "get", "pods", "--no-headers"]);
        if out.stdout.lines().filter(|l| l.contains("Running")).count() == 2 {
            Ok(())
        } else {
            Err(out.to_string())
        }
    });
    let deleted = must(k.command(&["delete", "namespace", "doomed", "--timeout=90s"]).timeout(Duration::from_secs(100)).run());
    assert!(deleted.stdout.contains("namespace \"doomed\" deleted"), "{deleted}");
    wait_for("the namespace to be gone", SETTLE_TIMEOUT, || gone(k, &["get", "namespace", "doomed", "-o", "name"]));
}

#[test]
fn a_lost_node_is_tainted_and_its_pods_replaced() {
    let setup = start_with(1, &["--node-monitor-grace-period", "8"]);
    let k = &setup.k;
    let deployment = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"mover"},
        "spec":{"replicas":2,"selector":{"matchLabels":{"app":"mover"}},"template":{"metadata":{"labels":{"app":"mover"}},
        "spec":{"containers":[{"name":"c","image":"nginx"}],"tolerations":[
            {"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":2},
            {"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":2}]}}}}"#;
    must(k.command(&["create", "-f", "-"]).stdin(deployment).run());
    let before = wait_running(k, "app=mover", 2);
    assert!(before.iter().all(|p| p["spec"]["nodeName"] == "sim-0"), "{before:?}");
    let _others = simulate_nodes(&setup.cluster, k, 2, "other-", 3);
    let mut lost = setup._nodes;
    lost.kill();

    let node = wait_for("the silent node to turn unreachable", SETTLE_TIMEOUT, || {
        let node = json_of(k.run(&["get", "node", "sim-0", "-o", "json"]));
        let ready = node["status"]["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned());
        let tainted = node["spec"]["taints"].as_array().is_some_and(|t| t.iter().any(|t| t["key"] == "node.kubernetes.io/unreachable"));
        match ready {
            Some(ready) if ready["status"] == "Unknown" && tainted => Ok(node),
            _ => Err(node.to_string()),
        }
    });
    let taints: Vec<String> =
        node["spec"]["taints"].as_array().into_iter().flatten().map(|t| format!("{}:{}", t["key"], t["effect"])).collect();
    assert!(taints.iter().any(|t| t.contains("unreachable") && t.contains("NoExecute")), "{taints:?}");
    let listed = must(k.run(&["get", "node", "sim-0", "--no-headers"])).stdout;
    assert!(listed.contains("NotReady"), "{listed}");
    let after = wait_running(k, "app=mover", 2);
    assert!(after.iter().all(|p| p["spec"]["nodeName"].as_str().is_some_and(|n| n.starts_with("other-"))), "{after:?}");
    let events = must(k.run(&["get", "events", "--field-selector", "reason=TaintManagerEviction"])).stdout;
    assert!(events.contains("Marking for deletion Pod"), "{events}");
}
