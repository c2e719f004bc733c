//! Several real `ferrokube server` processes on one throwaway PostgreSQL, driven through the public API with
//! kube-rs, asserting what clients see: while writers on two servers contend for the same ConfigMaps, every watcher
//! on either server receives every acknowledged change exactly once and in the same order; a database outage turns
//! requests into prompt 503 ServiceUnavailable answers (no hang), heals by itself once PostgreSQL is back, keeps
//! everything acknowledged before it, and leaves an open watch either continuing without a gap or ended cleanly;
//! concurrent Service creates through two servers never share a ClusterIP or NodePort, and deletes give them
//! back. kube-rs's automatic retry of 503 answers is switched off so the tests see the server's own answers.
//! Every wait is bounded and panics with what it was waiting for. Run with
//! `cargo test --test multi_server -- --test-threads=1`.

#[allow(dead_code)]
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/postgres.rs"]
mod postgres_support;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::IPAddress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, PostParams, Preconditions, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;

use cluster::Cluster;
use postgres_support::TestPostgres;

/// The kubectl version `Cluster` probes `/readyz` with; nothing else here uses kubectl.
const KUBECTL_MINOR: &str = "1.37";
/// The longest one API request may take before the test calls it a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How often polling loops look again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_watcher_on_both_servers_sees_every_change_once_in_order() {
    /// Concurrent writer tasks per server, each with its own client.
    const WRITERS_PER_SERVER: usize = 4;
    /// Acknowledged writes each writer makes.
    const OPERATIONS_PER_WRITER: usize = 50;
    const WATCHERS_PER_SERVER: usize = 2;
    /// Names every writer on both servers competes for.
    const SHARED_NAMES: usize = 6;
    /// Names only one writer uses.
    const PRIVATE_NAMES: usize = 3;
    /// The whole write phase.
    const WRITE_PHASE_TIMEOUT: Duration = Duration::from_secs(45);
    /// From the last acknowledged write until every watcher has it.
    const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(15);
    const NAMESPACE: &str = "multi-watch";

    let database = TestPostgres::new().await;
    let servers = start_servers(&database.url(), 2, &[]).await;
    let first = client_of(&servers[0]).await;
    create_namespace(&first, NAMESPACE).await;

    let start = within(REQUEST_TIMEOUT, "list ConfigMaps on server A", Api::<ConfigMap>::namespaced(first.clone(), NAMESPACE).list(&lp()))
        .await
        .unwrap_or_else(|error| panic!("list ConfigMaps on server A: {error}"));
    assert!(start.items.is_empty(), "the new namespace {NAMESPACE} already holds ConfigMaps: {:?}", names_of(&start.items));
    let start_rv = start.metadata.resource_version.expect("a list has a resourceVersion");

    let mut watchers = Vec::new();
    for (index, server) in servers.iter().enumerate() {
        for w in 0..WATCHERS_PER_SERVER {
            let label = format!("watcher {w} on server {}", server_name(index));
            watchers.push(Watcher::start(label, client_of(server).await, NAMESPACE, &start_rv).await);
        }
    }

    let mut writers = Vec::new();
    for (index, server) in servers.iter().enumerate() {
        for w in 0..WRITERS_PER_SERVER {
            let id = index * WRITERS_PER_SERVER + w;
            let api = Api::<ConfigMap>::namespaced(client_of(server).await, NAMESPACE);
            writers.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(id as u64);
                let mut acknowledged = Vec::with_capacity(OPERATIONS_PER_WRITER);
                for operation in 0..OPERATIONS_PER_WRITER {
                    let name = if rng.random_bool(0.5) {
                        format!("shared-{}", rng.random_range(0..SHARED_NAMES))
                    } else {
                        format!("writer-{id}-{}", rng.random_range(0..PRIVATE_NAMES))
                    };
                    let value = format!("writer {id} operation {operation}");
                    let delete_if_present = rng.random_bool(0.3);
                    acknowledged.push(write_until_acknowledged(&api, &name, &value, delete_if_present).await);
                }
                acknowledged
            }));
        }
    }
    let mut acks = Vec::new();
    let mut lost_races = 0;
    for writer in within(WRITE_PHASE_TIMEOUT, "all writers to finish", futures::future::join_all(writers)).await {
        for (ack, lost) in writer.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic())) {
            acks.push(ack);
            lost_races += lost;
        }
    }
    let mut wrote: BTreeMap<u64, Change> = BTreeMap::new();
    let mut deleted: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for ack in acks {
        match ack {
            Ack::Wrote(change) => {
                if let Some(other) = wrote.insert(change.rv, change.clone()) {
                    panic!("two acknowledged writes got resourceVersion {}: {other:?} and {change:?}", change.rv);
                }
            }
            Ack::Deleted { name, uid, from_rv } => {
                if let Some(other) = deleted.insert(uid.clone(), (name.clone(), from_rv)) {
                    panic!("uid {uid} was acknowledged as deleted twice: {other:?} and {:?}", (name, from_rv));
                }
            }
        }
    }
    eprintln!(
        "acknowledged: {} creates and updates, {} deletes; {lost_races} attempts lost a race (409 or 404)",
        wrote.len(),
        deleted.len()
    );
    assert!(lost_races > 0, "no write ever lost a race to another writer, so nothing here contended");

    // Wait until every watcher has every acknowledged create, update (by resourceVersion) and delete (by uid).
    let missing = |sequence: &[Change]| {
        let rvs: BTreeSet<u64> = sequence.iter().map(|change| change.rv).collect();
        let uids: BTreeSet<&str> = sequence.iter().filter(|change| change.kind == "DELETED").map(|change| change.uid.as_str()).collect();
        wrote.keys().filter(|rv| !rvs.contains(rv)).count() + deleted.keys().filter(|uid| !uids.contains(uid.as_str())).count()
    };
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    loop {
        let behind: Vec<String> = watchers
            .iter()
            .map(|watcher| (watcher.describe(), missing(&watcher.seen())))
            .filter(|(_, missing)| *missing > 0)
            .map(|(watcher, missing)| format!("{watcher} ({missing} acknowledged writes missing)"))
            .collect();
        if behind.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{CATCH_UP_TIMEOUT:?} after the writers finished, these watchers had not received every acknowledged write: {behind:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }

    let sequences: Vec<(String, Vec<Change>)> = watchers.iter().map(|watcher| (watcher.label.clone(), watcher.seen())).collect();
    let (reference_label, reference) = &sequences[0];
    for (label, sequence) in &sequences {
        let rvs: Vec<u64> = sequence.iter().map(|change| change.rv).collect();
        if let Some(pair) = rvs.windows(2).find(|pair| pair[0] >= pair[1]) {
            panic!("{label}: resourceVersions do not strictly increase ({} then {})", pair[0], pair[1]);
        }
        assert_eq!(
            summary(sequence),
            summary(reference),
            "{label} and {reference_label} received different sequences of (type, name, resourceVersion)"
        );
        assert_eq!(sequence, reference, "{label} and {reference_label} received the same events with different objects");
        // Every acknowledged create and update exactly once (resourceVersions strictly increase), as answered.
        for (rv, change) in &wrote {
            let event = sequence.iter().find(|event| event.rv == *rv);
            assert_eq!(event, Some(change), "{label}: the event at resourceVersion {rv} is not the acknowledged write");
        }
        // Every acknowledged delete exactly once, right after the version its precondition named.
        for (uid, (name, from_rv)) in &deleted {
            let events: Vec<(usize, &Change)> =
                sequence.iter().enumerate().filter(|(_, event)| event.kind == "DELETED" && &event.uid == uid).collect();
            assert_eq!(events.len(), 1, "{label}: {} DELETED events for {name} (uid {uid}), acknowledged once", events.len());
            let (index, event) = events[0];
            assert_eq!(&event.name, name, "{label}: the DELETED event for uid {uid} names another object");
            let previous = sequence[..index].iter().rev().find(|earlier| &earlier.name == name);
            assert_eq!(
                previous.map(|earlier| (earlier.rv, &earlier.data)),
                Some((*from_rv, &event.data)),
                "{label}: {name} was deleted at resourceVersion {from_rv}, but the event before its DELETED event {event:?} is {previous:?}"
            );
        }
        // Nothing else: no event that no writer was acknowledged for.
        let deletes = sequence.iter().filter(|event| event.kind == "DELETED").count();
        assert_eq!(
            (sequence.len() - deletes, deletes),
            (wrote.len(), deleted.len()),
            "{label}: (ADDED + MODIFIED, DELETED) events differ from the acknowledged (creates + updates, deletes)"
        );
    }

    let replayed = replay(reference);
    for (index, server) in servers.iter().enumerate() {
        let api = Api::<ConfigMap>::namespaced(client_of(server).await, NAMESPACE);
        let listed = within(REQUEST_TIMEOUT, "list ConfigMaps after the writes", api.list(&lp()))
            .await
            .unwrap_or_else(|error| panic!("list ConfigMaps on server {}: {error}", server_name(index)));
        let listed_rv: u64 =
            listed.metadata.resource_version.as_deref().and_then(|rv| rv.parse().ok()).expect("a numeric list resourceVersion");
        let last_event = reference.last().map_or(0, |change| change.rv);
        assert!(
            listed_rv >= last_event,
            "server {} listed at resourceVersion {listed_rv}, before the last event {last_event}",
            server_name(index)
        );
        let state: BTreeMap<String, (u64, BTreeMap<String, String>)> =
            listed.items.into_iter().map(|cm| (name_of(&cm.metadata), (rv_of(&cm.metadata), cm.data.unwrap_or_default()))).collect();
        assert_eq!(state, replayed, "server {}'s list differs from replaying the watch events", server_name(index));
    }
    for watcher in watchers {
        watcher.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_outage_returns_503_and_recovers() {
    /// ConfigMaps acknowledged before the outage.
    const BEFORE_OUTAGE: usize = 5;
    /// How long a request during the outage may take to fail.
    const FAILURE_TIMEOUT: Duration = Duration::from_secs(20);
    /// How long writes may take to work again once PostgreSQL is back.
    const RECOVERY_TIMEOUT: Duration = Duration::from_secs(30);
    /// How long the open watch may take to deliver the post-recovery change or end.
    const WATCH_SETTLE_TIMEOUT: Duration = Duration::from_secs(20);
    const NAMESPACE: &str = "outage";

    let mut database = TestPostgres::new().await;
    let servers = start_servers(&database.url(), 1, &[]).await;
    let client = client_of(&servers[0]).await;
    create_namespace(&client, NAMESPACE).await;
    let api = Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE);

    let mut before = BTreeMap::new();
    for i in 0..BEFORE_OUTAGE {
        let name = format!("before-{i}");
        let created = within(REQUEST_TIMEOUT, "create a ConfigMap before the outage", api.create(&pp(), &configmap(&name, "kept")))
            .await
            .unwrap_or_else(|error| panic!("create {name} before the outage: {error}"));
        before.insert(name, (rv_of(&created.metadata), created.data.unwrap_or_default()));
    }
    let listed = within(REQUEST_TIMEOUT, "list before the watch", api.list(&lp())).await.expect("list before the watch");
    let watch =
        Watcher::start("the open watch".into(), client.clone(), NAMESPACE, listed.metadata.resource_version.as_deref().unwrap_or("")).await;
    let watched = within(REQUEST_TIMEOUT, "create the watched ConfigMap", api.create(&pp(), &configmap("watched-before-outage", "seen")))
        .await
        .unwrap_or_else(|error| panic!("create watched-before-outage: {error}"));
    let watched_change = Change::of("ADDED", watched.clone());
    watch.wait_for_rv(watched_change.rv, REQUEST_TIMEOUT).await;
    before.insert(name_of(&watched.metadata), (watched_change.rv, watched_change.data.clone()));

    database.stop().await;
    // Each request must fail promptly with 503 ServiceUnavailable. A write whose answer says it may have been
    // applied is left out of the "nothing changed" checks below.
    let mut problems = Vec::new();
    let mut ambiguous = BTreeSet::new();
    let mut check = |request: &str, name: &str, took: Duration, outcome: Result<(), kube::Error>| {
        eprintln!("while PostgreSQL is down, {request} answered after {took:?}");
        match outcome {
            Err(kube::Error::Api(status)) if status.code == 503 && status.reason == "ServiceUnavailable" => {
                if status.message.contains("may or may not") {
                    ambiguous.insert(name.to_owned());
                }
            }
            other => problems.push(format!("{request} while PostgreSQL is down: expected a 503 ServiceUnavailable Status, got {other:?}")),
        }
    };
    let collection = format!("/api/v1/namespaces/{NAMESPACE}/configmaps");
    let started = Instant::now();
    let outcome =
        within(FAILURE_TIMEOUT, "a create while PostgreSQL is down", api.create(&pp(), &configmap("during-outage", "lost"))).await;
    check(&format!("POST {collection}"), "during-outage", started.elapsed(), outcome.map(drop));
    let started = Instant::now();
    let outcome = within(FAILURE_TIMEOUT, "a get while PostgreSQL is down", api.get("before-0")).await;
    check(&format!("GET {collection}/before-0"), "before-0", started.elapsed(), outcome.map(drop));
    let started = Instant::now();
    let outcome = within(FAILURE_TIMEOUT, "a list while PostgreSQL is down", api.list(&lp())).await;
    check(&format!("GET {collection}"), "", started.elapsed(), outcome.map(drop));
    let mut changed = configmap("before-1", "changed during the outage");
    changed.metadata.resource_version = Some(before["before-1"].0.to_string());
    let started = Instant::now();
    let outcome = within(FAILURE_TIMEOUT, "an update while PostgreSQL is down", api.replace("before-1", &pp(), &changed)).await;
    check(&format!("PUT {collection}/before-1"), "before-1", started.elapsed(), outcome.map(drop));
    let started = Instant::now();
    let outcome = within(FAILURE_TIMEOUT, "a delete while PostgreSQL is down", api.delete("before-2", &DeleteParams::default())).await;
    check(&format!("DELETE {collection}/before-2"), "before-2", started.elapsed(), outcome.map(drop));

    database.start().await;
    let recovered_at = Instant::now();
    let deadline = recovered_at + RECOVERY_TIMEOUT;
    let after = loop {
        let attempt =
            within(REQUEST_TIMEOUT, "a create after PostgreSQL came back", api.create(&pp(), &configmap("after-outage", "new"))).await;
        match attempt {
            Ok(created) => break created,
            // An earlier attempt was applied although its answer was an error.
            Err(kube::Error::Api(status)) if status.code == 409 => {
                break within(REQUEST_TIMEOUT, "get after-outage", api.get("after-outage"))
                    .await
                    .unwrap_or_else(|error| panic!("get after-outage after a 409 on create: {error}"));
            }
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "writes did not work again within {RECOVERY_TIMEOUT:?} of PostgreSQL coming back; last error: {error}\nserver \
                     stderr:\n{}",
                    servers[0].server_stderr()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    eprintln!("writes worked again {:?} after PostgreSQL came back", recovered_at.elapsed());
    let after_change = Change::of("ADDED", after);

    let listed = within(REQUEST_TIMEOUT, "list after recovery", api.list(&lp())).await.expect("list after recovery");
    let state: BTreeMap<String, (u64, BTreeMap<String, String>)> =
        listed.items.into_iter().map(|cm| (name_of(&cm.metadata), (rv_of(&cm.metadata), cm.data.unwrap_or_default()))).collect();
    for (name, kept) in before.iter().filter(|(name, _)| !ambiguous.contains(*name)) {
        if state.get(name) != Some(kept) {
            problems.push(format!("{name} was acknowledged as {kept:?} before the outage; after it the list shows {:?}", state.get(name)));
        }
    }
    if !ambiguous.contains("during-outage") && state.contains_key("during-outage") {
        problems.push("the create that failed during the outage (without saying it may have been applied) was stored".into());
    }

    let expected = [watched_change, after_change.clone()];
    let settle_deadline = Instant::now() + WATCH_SETTLE_TIMEOUT;
    while watch.last_rv() < after_change.rv && watch.ended().is_none() {
        assert!(
            Instant::now() < settle_deadline,
            "the watch opened before the outage neither delivered the post-recovery change (resourceVersion {}) nor ended within \
             {WATCH_SETTLE_TIMEOUT:?}: {}",
            after_change.rv,
            watch.describe()
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    let seen = watch.seen();
    match watch.ended() {
        Some(reason) if seen.len() < expected.len() || seen[..expected.len()] != expected => {
            eprintln!("the open watch ended cleanly during the outage: {reason}");
            if !expected.starts_with(&seen) {
                problems.push(format!("before ending, the watch delivered {seen:?}, not a prefix of {expected:?}"));
            }
        }
        _ => {
            eprintln!("the open watch continued across the outage");
            if seen != expected {
                problems.push(format!("the watch continued across the outage but delivered {seen:?} instead of {expected:?}"));
            }
        }
    }
    watch.task.abort();
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_get_distinct_cluster_ips_under_concurrent_creates_on_two_servers() {
    /// Services per round, half through each server.
    const SERVICES: usize = 40;
    /// Every third Service is a NodePort.
    const NODE_PORT_EVERY: usize = 3;
    const NAMESPACE: &str = "services";
    /// 10.0.0.0/26: offsets 0 and 63 are network and broadcast, 1 is the `kubernetes` Service's, 2..=62 are free.
    const RANGE: &str = "10.0.0.0/26";
    const RANGE_BASE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 0);
    const RANGE_SIZE: u32 = 64;

    let database = TestPostgres::new().await;
    let servers = start_servers(&database.url(), 2, &["--service-cluster-ip-range", RANGE]).await;
    let mut apis = Vec::new();
    for server in &servers {
        apis.push(Api::<Service>::namespaced(client_of(server).await, NAMESPACE));
    }
    let first = client_of(&servers[0]).await;
    create_namespace(&first, NAMESPACE).await;
    let kubernetes =
        within(REQUEST_TIMEOUT, "get the kubernetes Service", Api::<Service>::namespaced(first.clone(), "default").get("kubernetes"))
            .await
            .unwrap_or_else(|error| panic!("get the kubernetes Service: {error}"));
    let kubernetes_ip = cluster_ip_of(&kubernetes);
    assert_eq!(kubernetes_ip, Ipv4Addr::new(10, 0, 0, 1), "the kubernetes Service is not on the first address of {RANGE}");

    let check_round = |round: &str, created: &BTreeMap<String, Service>| {
        let mut ips = BTreeMap::from([(kubernetes_ip, "default/kubernetes".to_owned())]);
        let mut node_ports = BTreeMap::new();
        for (name, service) in created {
            let ip = cluster_ip_of(service);
            let offset = u32::from(ip).wrapping_sub(u32::from(RANGE_BASE));
            assert!((1..RANGE_SIZE - 1).contains(&offset), "{round}: {name} got ClusterIP {ip}, not a usable address of {RANGE}");
            let spec = service.spec.as_ref().expect("a Service has a spec");
            assert_eq!(spec.cluster_ips, Some(vec![ip.to_string()]), "{round}: {name}'s clusterIPs do not match its clusterIP");
            if let Some(other) = ips.insert(ip, name.clone()) {
                panic!("{round}: {name} and {other} both got ClusterIP {ip}");
            }
            let node_port = spec.ports.as_ref().and_then(|ports| ports.first()).and_then(|port| port.node_port);
            match (spec.type_.as_deref(), node_port) {
                (Some("NodePort"), Some(port)) => {
                    assert!((30000..=32767).contains(&port), "{round}: {name} got NodePort {port}, outside 30000-32767");
                    if let Some(other) = node_ports.insert(port, name.clone()) {
                        panic!("{round}: {name} and {other} both got NodePort {port}");
                    }
                }
                (Some("ClusterIP"), None) => {}
                (kind, port) => panic!("{round}: {name} is of type {kind:?} with nodePort {port:?}"),
            }
        }
    };

    // Round 1: random addresses and ports.
    let round_one: Vec<(String, Service)> = (0..SERVICES)
        .map(|i| {
            let name = format!("first-{i}");
            let kind = if i % NODE_PORT_EVERY == 0 { "NodePort" } else { "ClusterIP" };
            (name.clone(), service(&name, kind, None))
        })
        .collect();
    let created_one = create_services(&apis, round_one).await;
    check_round("round 1", &created_one);
    for (index, api) in apis.iter().enumerate() {
        let listed = within(REQUEST_TIMEOUT, "list Services", api.list(&lp()))
            .await
            .unwrap_or_else(|error| panic!("list Services on server {}: {error}", server_name(index)));
        let listed: BTreeMap<String, Ipv4Addr> = listed.items.iter().map(|s| (name_of(&s.metadata), cluster_ip_of(s))).collect();
        let created: BTreeMap<String, Ipv4Addr> = created_one.iter().map(|(name, s)| (name.clone(), cluster_ip_of(s))).collect();
        assert_eq!(listed, created, "server {} lists other ClusterIPs than the creates returned", server_name(index));
    }

    let deletes: Vec<_> = created_one
        .keys()
        .enumerate()
        .map(|(i, name)| {
            let (api, name) = (apis[i % apis.len()].clone(), name.clone());
            tokio::spawn(async move {
                let deleted = within(REQUEST_TIMEOUT, "delete a Service", api.delete(&name, &DeleteParams::default())).await;
                deleted.unwrap_or_else(|error| panic!("delete Service {name}: {error}"));
            })
        })
        .collect();
    for deleted in within(REQUEST_TIMEOUT * 2, "all Service deletes", futures::future::join_all(deletes)).await {
        deleted.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
    }
    let addresses = within(REQUEST_TIMEOUT, "list IPAddresses", Api::<IPAddress>::all(first.clone()).list(&lp()))
        .await
        .unwrap_or_else(|error| panic!("list IPAddresses: {error}"));
    assert_eq!(
        names_of(&addresses.items),
        vec![kubernetes_ip.to_string()],
        "after deleting every Service in {NAMESPACE}, only the kubernetes Service's IPAddress should remain"
    );

    // Round 2: only possible if round 1's addresses were released (40 + 40 and the kubernetes Service's exceed the
    // 62 usable addresses); its NodePorts ask for exactly the ports round 1 held.
    let released_ports: Vec<i32> = created_one.values().filter_map(|s| s.spec.as_ref()?.ports.as_ref()?.first()?.node_port).collect();
    let mut ports = released_ports.iter().copied();
    let round_two: Vec<(String, Service)> = (0..SERVICES)
        .map(|i| {
            let name = format!("second-{i}");
            let service = match (i % NODE_PORT_EVERY == 0).then(|| ports.next()).flatten() {
                Some(port) => service(&name, "NodePort", Some(port)),
                None => service(&name, "ClusterIP", None),
            };
            (name, service)
        })
        .collect();
    let created_two = create_services(&apis, round_two).await;
    check_round("round 2", &created_two);
    let reused: BTreeSet<i32> = created_two.values().filter_map(|s| s.spec.as_ref()?.ports.as_ref()?.first()?.node_port).collect();
    assert_eq!(reused, released_ports.iter().copied().collect(), "round 2 did not get round 1's released NodePorts");

    // The rest of the range, then one more: the range really is this small, so round 2 relied on the release.
    let free = (RANGE_SIZE - 3) as usize - SERVICES;
    for i in 0..free {
        let name = format!("fill-{i}");
        within(
            REQUEST_TIMEOUT,
            "create a Service filling the range",
            apis[i % apis.len()].create(&pp(), &service(&name, "ClusterIP", None)),
        )
        .await
        .unwrap_or_else(|error| panic!("create {name} ({} of the {free} free addresses): {error}", i + 1));
    }
    let overflow =
        within(REQUEST_TIMEOUT, "create a Service in a full range", apis[1].create(&pp(), &service("overflow", "ClusterIP", None))).await;
    match overflow {
        Err(kube::Error::Api(status)) if status.code == 500 && status.message.contains("range is full") => {}
        other => panic!("a Service create with every address of {RANGE} taken: expected 500 \"range is full\", got {other:?}"),
    }
}

/// One change as a client saw it: a watch event (ADDED, MODIFIED, DELETED) or an acknowledged create or update.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Change {
    kind: &'static str,
    name: String,
    uid: String,
    rv: u64,
    data: BTreeMap<String, String>,
}

impl Change {
    fn of(kind: &'static str, cm: ConfigMap) -> Change {
        let uid = cm.metadata.uid.clone().unwrap_or_else(|| panic!("a ConfigMap without a uid: {:?}", cm.metadata));
        Change { kind, name: name_of(&cm.metadata), uid, rv: rv_of(&cm.metadata), data: cm.data.unwrap_or_default() }
    }
}

/// An acknowledged write. A create or update answers the object with its new resourceVersion; a delete answers,
/// as upstream does for ConfigMaps, a Status naming the uid, so it is known by the version it removed.
#[derive(Clone, Debug)]
enum Ack {
    Wrote(Change),
    Deleted { name: String, uid: String, from_rv: u64 },
}

/// A raw watch on ConfigMaps of one namespace, recording every event in a background task.
struct Watcher {
    label: String,
    seen: Arc<Mutex<Vec<Change>>>,
    ended: Arc<Mutex<Option<String>>>,
    task: JoinHandle<()>,
}

impl Watcher {
    async fn start(label: String, client: Client, namespace: &str, from_rv: &str) -> Watcher {
        let api = Api::<ConfigMap>::namespaced(client, namespace);
        let stream = within(REQUEST_TIMEOUT, "start a watch", api.watch(&WatchParams::default(), from_rv))
            .await
            .unwrap_or_else(|error| panic!("{label}: watch from resourceVersion {from_rv}: {error}"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(Mutex::new(None));
        let (seen_by_task, ended_by_task) = (seen.clone(), ended.clone());
        let task = tokio::spawn(async move {
            let mut stream = Box::pin(stream);
            let reason = loop {
                let change = match stream.next().await {
                    None => break "the stream ended".to_owned(),
                    Some(Err(error)) => break format!("the stream failed: {error}"),
                    Some(Ok(WatchEvent::Error(status))) => break format!("an ERROR event: {status:?}"),
                    Some(Ok(WatchEvent::Bookmark(_))) => continue,
                    Some(Ok(WatchEvent::Added(cm))) => Change::of("ADDED", cm),
                    Some(Ok(WatchEvent::Modified(cm))) => Change::of("MODIFIED", cm),
                    Some(Ok(WatchEvent::Deleted(cm))) => Change::of("DELETED", cm),
                };
                seen_by_task.lock().expect("watch record").push(change);
            };
            *ended_by_task.lock().expect("watch end") = Some(reason);
        });
        Watcher { label, seen, ended, task }
    }

    fn seen(&self) -> Vec<Change> {
        self.seen.lock().expect("watch record").clone()
    }

    fn ended(&self) -> Option<String> {
        self.ended.lock().expect("watch end").clone()
    }

    fn last_rv(&self) -> u64 {
        self.seen.lock().expect("watch record").last().map_or(0, |change| change.rv)
    }

    fn describe(&self) -> String {
        let seen = self.seen.lock().expect("watch record");
        let ended = self.ended().map_or_else(|| "still open".to_owned(), |reason| format!("ended: {reason}"));
        format!("{}: {} events, last resourceVersion {:?}, {ended}", self.label, seen.len(), seen.last().map(|change| change.rv))
    }

    async fn wait_for_rv(&self, rv: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.last_rv() < rv {
            assert!(Instant::now() < deadline, "{} did not receive resourceVersion {rv} within {limit:?}", self.describe());
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// One acknowledged write to `name`: create it when absent; when present, delete it (with a resourceVersion
/// precondition) if `delete_if_present`, else replace its value. Retries on 409 and 404 (another writer got there
/// first), a bounded number of times. Also returns how many attempts lost such a race.
async fn write_until_acknowledged(api: &Api<ConfigMap>, name: &str, value: &str, delete_if_present: bool) -> (Ack, usize) {
    const ATTEMPTS_MAX: usize = 200;
    for attempt in 0..ATTEMPTS_MAX {
        let current =
            within(REQUEST_TIMEOUT, "get a ConfigMap", api.get_opt(name)).await.unwrap_or_else(|error| panic!("get {name}: {error}"));
        let outcome = match current {
            None => within(REQUEST_TIMEOUT, "create a ConfigMap", api.create(&pp(), &configmap(name, value)))
                .await
                .map(|cm| Ack::Wrote(Change::of("ADDED", cm))),
            Some(cm) if delete_if_present => {
                let current = Change::of("", cm);
                let preconditions = Preconditions { resource_version: Some(current.rv.to_string()), uid: None };
                let options = DeleteParams { preconditions: Some(preconditions), ..DeleteParams::default() };
                within(REQUEST_TIMEOUT, "delete a ConfigMap", api.delete(name, &options)).await.map(|deleted| {
                    let uid = deleted
                        .either(|cm| cm.metadata.uid.unwrap_or_default(), |status| status.details.map(|d| d.uid).unwrap_or_default());
                    assert_eq!(uid, current.uid, "deleting {name} at resourceVersion {} answered another uid", current.rv);
                    Ack::Deleted { name: current.name, uid: current.uid, from_rv: current.rv }
                })
            }
            Some(mut cm) => {
                cm.data = Some(BTreeMap::from([("value".to_owned(), value.to_owned())]));
                within(REQUEST_TIMEOUT, "replace a ConfigMap", api.replace(name, &pp(), &cm))
                    .await
                    .map(|cm| Ack::Wrote(Change::of("MODIFIED", cm)))
            }
        };
        match outcome {
            Ok(ack) => {
                if let Ack::Wrote(change) = &ack {
                    assert_eq!(change.name, name, "a write to {name} answered another object");
                }
                return (ack, attempt);
            }
            Err(kube::Error::Api(status)) if status.code == 409 || status.code == 404 => {}
            Err(error) => panic!("write to ConfigMap {name}: {error}"),
        }
    }
    panic!("ConfigMap {name}: no write was acknowledged in {ATTEMPTS_MAX} attempts (each lost to another writer)")
}

/// Applies a watch sequence to an empty namespace, checking each event makes sense for the state before it.
fn replay(sequence: &[Change]) -> BTreeMap<String, (u64, BTreeMap<String, String>)> {
    let mut state = BTreeMap::new();
    for change in sequence {
        let existed = match change.kind {
            "DELETED" => state.remove(&change.name).is_some(),
            _ => state.insert(change.name.clone(), (change.rv, change.data.clone())).is_some(),
        };
        assert_eq!(existed, change.kind != "ADDED", "replaying the watch events: {change:?} does not follow from the state before it");
    }
    state
}

fn summary(sequence: &[Change]) -> Vec<(&'static str, &str, u64)> {
    sequence.iter().map(|change| (change.kind, change.name.as_str(), change.rv)).collect()
}

/// Creates the Services concurrently, alternating between the servers; panics on any failure.
async fn create_services(apis: &[Api<Service>], services: Vec<(String, Service)>) -> BTreeMap<String, Service> {
    let creates: Vec<_> = services
        .into_iter()
        .enumerate()
        .map(|(i, (name, service))| {
            let api = apis[i % apis.len()].clone();
            let server = server_name(i % apis.len());
            tokio::spawn(async move {
                let created = within(REQUEST_TIMEOUT, "create a Service", api.create(&pp(), &service))
                    .await
                    .unwrap_or_else(|error| panic!("create Service {name} through server {server}: {error}"));
                (name, created)
            })
        })
        .collect();
    let mut created = BTreeMap::new();
    for result in within(REQUEST_TIMEOUT * 2, "all Service creates", futures::future::join_all(creates)).await {
        let (name, service) = result.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
        created.insert(name, service);
    }
    created
}

fn service(name: &str, kind: &str, node_port: Option<i32>) -> Service {
    Service {
        metadata: ObjectMeta { name: Some(name.to_owned()), ..ObjectMeta::default() },
        spec: Some(ServiceSpec {
            type_: Some(kind.to_owned()),
            selector: Some(BTreeMap::from([("app".to_owned(), name.to_owned())])),
            ports: Some(vec![ServicePort { port: 80, protocol: Some("TCP".to_owned()), node_port, ..ServicePort::default() }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn cluster_ip_of(service: &Service) -> Ipv4Addr {
    let ip = service.spec.as_ref().and_then(|spec| spec.cluster_ip.as_deref());
    ip.and_then(|ip| ip.parse().ok()).unwrap_or_else(|| panic!("Service {} has no IPv4 clusterIP: {ip:?}", name_of(&service.metadata)))
}

fn configmap(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta { name: Some(name.to_owned()), ..ObjectMeta::default() },
        data: Some(BTreeMap::from([("value".to_owned(), value.to_owned())])),
        ..ConfigMap::default()
    }
}

/// Starts `count` servers on the database at once (each waits for its own `/readyz`).
async fn start_servers(url: &str, count: usize, extra_args: &'static [&'static str]) -> Vec<Cluster> {
    let starting: Vec<_> = (0..count)
        .map(|_| {
            let url = url.to_owned();
            tokio::task::spawn_blocking(move || Cluster::start_with_args(Some(&url), KUBECTL_MINOR, extra_args))
        })
        .collect();
    let mut servers = Vec::new();
    for server in starting {
        servers.push(server.await.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic())));
    }
    servers
}

/// A client from the server's admin kubeconfig, without kube-rs's automatic retries (of 503 in particular).
async fn client_of(server: &Cluster) -> Client {
    let path = server.kubeconfig();
    let kubeconfig = Kubeconfig::read_from(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|error| panic!("a client config from {}: {error}", path.display()));
    config.default_retry = false;
    Client::try_from(config).unwrap_or_else(|error| panic!("a client from {}: {error}", path.display()))
}

async fn create_namespace(client: &Client, name: &str) {
    let namespace = Namespace { metadata: ObjectMeta { name: Some(name.to_owned()), ..ObjectMeta::default() }, ..Namespace::default() };
    within(REQUEST_TIMEOUT, "create a namespace", Api::<Namespace>::all(client.clone()).create(&pp(), &namespace))
        .await
        .unwrap_or_else(|error| panic!("create namespace {name}: {error}"));
}

/// Awaits `future`, panicking if it takes longer than `limit`.
async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: no answer within {limit:?}"),
    }
}

fn server_name(index: usize) -> char {
    char::from(b'A' + index as u8)
}

fn name_of(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_else(|| panic!("an object without a name: {meta:?}"))
}

fn names_of<K: kube::Resource>(items: &[K]) -> Vec<String> {
    items.iter().map(|item| name_of(item.meta())).collect()
}

fn rv_of(meta: &ObjectMeta) -> u64 {
    meta.resource_version.as_deref().and_then(|rv| rv.parse().ok()).unwrap_or_else(|| panic!("no numeric resourceVersion: {meta:?}"))
}

fn pp() -> PostParams {
    PostParams::default()
}

fn lp() -> ListParams {
    ListParams::default()
}
