//! Benchmark of the API server on PostgreSQL, measured as a real client sees it. It starts a throwaway
//! PostgreSQL 15 (initdb + postgres on a temporary directory and a free port, see `tests/support/postgres.rs`)
//! and two `ferrokube server` processes sharing that database, then drives them with kube-rs clients built from
//! their admin kubeconfigs and prints: ConfigMap creates/s with 1 client and with 16 concurrent clients, get
//! latency p50/p99, the time to list 10,000 pods in one request and in pages of 500, watch delivery latency
//! p50/p99 on the same server and across servers (from just before the write is sent until the watcher has the
//! event), both servers' resident memory, and a baseline measured in the same run: the same ConfigMap JSON
//! inserted straight into PostgreSQL over one connection, one INSERT per write, with the ratio of API creates/s
//! to direct inserts/s. Client, servers and PostgreSQL share this machine's cores, so the figures are for
//! comparing runs on one machine, not absolute. It only prints; nothing is asserted.
//!
//! Run it with `cargo bench --bench apiserver` (a release build). Under `cargo test --all-targets` it is only
//! compiled and exits at once, because cargo passes `--bench` only when benchmarking: a debug-build measurement
//! would say nothing and would slow every test run. Progress goes to stderr, one line per phase;
//! the figures go to stdout as one block. PostgreSQL 15's `initdb` and `postgres` must be installed (see
//! `tests/run-all.sh`).

#[allow(dead_code)]
#[path = "support/figures.rs"]
mod figures;
#[allow(dead_code)]
#[path = "../tests/support/postgres.rs"]
mod postgres;
#[allow(dead_code)]
#[path = "support/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ListParams, PostParams, WatchEvent, WatchParams};
use kube::{Api, Client};
use tokio::sync::mpsc;

use figures::{median, per_second, Figures};
use server::{client_from, create_namespace, Result, Server};

/// Creates before each timed write loop (API and direct), not counted: connections, caches, prepared statements.
const WARMUP_WRITES: usize = 100;
/// ConfigMap creates by one client, one after another; also the number of direct PostgreSQL inserts.
const SERIAL_CREATES: usize = 1_000;
/// Concurrent clients (each its own `kube::Client`, so its own connections) for the concurrent phases.
const CONCURRENT_CLIENTS: usize = 16;
/// ConfigMap creates shared evenly among the concurrent clients.
const CONCURRENT_CREATES: usize = 4_000;
/// Gets by one client, one after another, cycling over the ConfigMaps the serial phase created.
const GETS: usize = 2_000;
/// Pods created (by the concurrent clients) and then listed.
const PODS: usize = 10_000;
/// Page size of the paginated list.
const LIST_PAGE_LIMIT: u32 = 500;
/// Each list is repeated this many times; the median is reported.
const LIST_ROUNDS: usize = 3;
/// Sequential writes per watch phase whose delivery latency is measured.
const WATCH_WRITES: usize = 300;
/// Writes before each watch phase whose latency is discarded (the watch stream warming up).
const WATCH_WARMUP_WRITES: usize = 10;
/// Size of the one data value in each benchmark ConfigMap.
const CONFIGMAP_VALUE_BYTES: usize = 256;
/// How long a watcher may take to see one write before the benchmark gives up.
const WATCH_EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Namespaces of the benchmark objects.
const CONFIGMAP_NAMESPACE: &str = "bench-configmaps";
const POD_NAMESPACE: &str = "bench-pods";
const WATCH_NAMESPACE: &str = "bench-watch";
/// The baseline's table: the simplest key-value table a store could write to.
const DIRECT_TABLE: &str = "bench_direct_inserts";

#[tokio::main]
async fn main() -> ExitCode {
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("apiserver benchmark: skipped (run it with `cargo bench --bench apiserver`)");
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    let progress = |phase: &str| eprintln!("[{:>6.1}s] {phase}", started.elapsed().as_secs_f64());
    progress("starting PostgreSQL 15");
    // Declared first so it is dropped last, after the servers that use it.
    let database = postgres::TestPostgres::new().await;
    let url = database.url();
    progress("starting two ferrokube servers on it");
    let mut servers = Vec::new();
    for name in ["A", "B"] {
        match Server::start(name, &url, &[]) {
            Ok(server) => servers.push(server),
            Err(error) => {
                eprintln!("benchmark failed: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let outcome = run(&mut servers, &url, &progress).await;
    for server in &servers {
        server.report_log_problems();
    }
    match outcome {
        Ok(figures) => {
            print!("{figures}");
            progress("done; stopping servers and PostgreSQL");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("benchmark failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Every phase, in order; returns the block of figures to print.
async fn run(servers: &mut [Server], url: &str, progress: &dyn Fn(&str)) -> Result<String> {
    let client_a = servers[0].wait_ready().await?;
    let client_b = servers[1].wait_ready().await?;
    let a = &servers[0];
    progress("both servers ready; creating namespaces");
    for namespace in [CONFIGMAP_NAMESPACE, POD_NAMESPACE, WATCH_NAMESPACE] {
        create_namespace(&client_a, namespace).await?;
    }
    let mut out = Figures::default();

    progress(&format!("creates, 1 client: {SERIAL_CREATES} ConfigMaps"));
    let configmaps: Api<ConfigMap> = Api::namespaced(client_a.clone(), CONFIGMAP_NAMESPACE);
    let post = PostParams::default();
    for i in 0..WARMUP_WRITES {
        configmaps.create(&post, &configmap(&format!("warmup-{i}"))).await?;
    }
    let timer = Instant::now();
    for i in 0..SERIAL_CREATES {
        configmaps.create(&post, &configmap(&serial_name(i))).await?;
    }
    let api_serial_rate = per_second(SERIAL_CREATES, timer.elapsed());
    out.rate(&format!("creates/s (1 client, {SERIAL_CREATES} ConfigMaps)"), api_serial_rate);

    progress(&format!("baseline: {SERIAL_CREATES} direct INSERTs into PostgreSQL"));
    let direct_rate = direct_inserts(url).await?;

    progress(&format!("creates, {CONCURRENT_CLIENTS} clients: {CONCURRENT_CREATES} ConfigMaps"));
    let mut clients = Vec::new();
    for _ in 0..CONCURRENT_CLIENTS {
        clients.push(client_from(&a.kubeconfig()).await?);
    }
    let elapsed = concurrent_creates(&clients, CONCURRENT_CREATES, |client, i| async move {
        let api: Api<ConfigMap> = Api::namespaced(client, CONFIGMAP_NAMESPACE);
        let object = configmap(&format!("concurrent-{i}"));
        api.create(&PostParams::default(), &object).await.map(drop)
    })
    .await?;
    out.rate(
        &format!("creates/s ({CONCURRENT_CLIENTS} clients, {CONCURRENT_CREATES} ConfigMaps)"),
        per_second(CONCURRENT_CREATES, elapsed),
    );

    progress(&format!("gets, 1 client: {GETS}"));
    let mut latencies = Vec::with_capacity(GETS);
    for i in 0..GETS {
        let name = serial_name(i % SERIAL_CREATES);
        let timer = Instant::now();
        configmaps.get(&name).await?;
        latencies.push(timer.elapsed());
    }
    out.latencies(&format!("get latency ({GETS} gets)"), latencies);

    progress(&format!("creating {PODS} pods with {CONCURRENT_CLIENTS} clients"));
    let elapsed = concurrent_creates(&clients, PODS, |client, i| async move {
        let api: Api<Pod> = Api::namespaced(client, POD_NAMESPACE);
        api.create(&PostParams::default(), &pod(&format!("pod-{i:05}"))).await.map(drop)
    })
    .await?;
    out.rate(&format!("pod creates/s ({CONCURRENT_CLIENTS} clients, {PODS} pods)"), per_second(PODS, elapsed));

    progress(&format!("listing {PODS} pods, {LIST_ROUNDS} rounds: one request, pages of {LIST_PAGE_LIMIT}"));
    let pods: Api<Pod> = Api::namespaced(client_a.clone(), POD_NAMESPACE);
    let (mut full, mut paged) = (Vec::new(), Vec::new());
    for _ in 0..LIST_ROUNDS {
        full.push(timed_list(&pods, None).await?);
        paged.push(timed_list(&pods, Some(LIST_PAGE_LIMIT)).await?);
    }
    out.millis(&format!("list {PODS} pods, one request (ms, median of {LIST_ROUNDS})"), median(full));
    out.millis(&format!("list {PODS} pods, pages of {LIST_PAGE_LIMIT} (ms, median of {LIST_ROUNDS})"), median(paged));

    progress(&format!("watch latency, same server (watch A, write A): {WATCH_WRITES} writes"));
    let latencies = watch_latencies(&client_a, &client_a, "same").await?;
    out.latencies(&format!("watch latency, same server ({WATCH_WRITES} writes)"), latencies);
    progress(&format!("watch latency, across servers (watch B, write A): {WATCH_WRITES} writes"));
    let latencies = watch_latencies(&client_b, &client_a, "cross").await?;
    out.latencies(&format!("watch latency, across servers ({WATCH_WRITES} writes)"), latencies);

    progress("reading server memory");
    for (name, server) in ["A", "B"].into_iter().zip(servers.iter()) {
        out.mebibytes(&format!("server {name} RSS (MiB)"), server.rss_kib()?);
    }
    out.rate(&format!("direct PostgreSQL inserts/s (1 connection, {SERIAL_CREATES} rows)"), direct_rate);
    out.value("ratio vs direct PostgreSQL inserts", api_serial_rate / direct_rate, 2);
    Ok(out.into_text())
}

/// The baseline: the serial phase's writes (same names, same JSON bytes as the API client sent) as one INSERT
/// each into a plain key-value table over one connection. Returns inserts/s.
async fn direct_inserts(url: &str) -> Result<f64> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let connection = tokio::spawn(connection);
    client.batch_execute(&format!("CREATE TABLE {DIRECT_TABLE} (key TEXT PRIMARY KEY, value BYTEA NOT NULL)")).await?;
    let insert = client.prepare(&format!("INSERT INTO {DIRECT_TABLE} (key, value) VALUES ($1, $2)")).await?;
    let row = |name: &str| -> Result<(String, Vec<u8>)> {
        let key = format!("/registry/configmaps/{CONFIGMAP_NAMESPACE}/{name}");
        Ok((key, serde_json::to_vec(&configmap(name))?))
    };
    for i in 0..WARMUP_WRITES {
        let (key, value) = row(&format!("warmup-{i}"))?;
        client.execute(&insert, &[&key, &value]).await?;
    }
    let timer = Instant::now();
    for i in 0..SERIAL_CREATES {
        let (key, value) = row(&serial_name(i))?;
        client.execute(&insert, &[&key, &value]).await?;
    }
    let rate = per_second(SERIAL_CREATES, timer.elapsed());
    drop(client);
    connection.await??;
    Ok(rate)
}

/// Runs `count` creates spread evenly over `clients`, each client's share one after another and the clients
/// concurrently; `create(client, i)` makes object number `i`. Returns the wall time until the last one is done.
async fn concurrent_creates<F, Fut>(clients: &[Client], count: usize, create: F) -> Result<Duration>
where
    F: Fn(Client, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = kube::Result<()>> + Send,
{
    let timer = Instant::now();
    let stride = clients.len();
    let tasks: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(c, client)| {
            let (client, create) = (client.clone(), create.clone());
            // Client `c` makes every `stride`-th object, starting at its own index.
            tokio::spawn(async move {
                for i in (c..count).step_by(stride) {
                    create(client.clone(), i).await?;
                }
                Ok::<(), kube::Error>(())
            })
        })
        .collect();
    for task in futures::future::try_join_all(tasks).await? {
        task?;
    }
    Ok(timer.elapsed())
}

/// Lists every pod of the benchmark namespace, in one request or in pages of `limit`, and returns the time taken.
/// Fails unless it saw exactly `PODS` pods.
async fn timed_list(pods: &Api<Pod>, limit: Option<u32>) -> Result<Duration> {
    let timer = Instant::now();
    let mut params = ListParams { limit, ..ListParams::default() };
    let mut seen = 0;
    loop {
        let page = pods.list(&params).await?;
        seen += page.items.len();
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) if limit.is_some() => params.continue_token = Some(token),
            _ => break,
        }
    }
    let elapsed = timer.elapsed();
    if seen != PODS {
        return Err(format!("a list (limit {limit:?}) returned {seen} pods, expected {PODS}").into());
    }
    Ok(elapsed)
}

/// Watches ConfigMaps in the watch namespace through `watcher` and creates them one after another through
/// `writer`; for each write, the time from just before the create request is sent until the watcher has the
/// ADDED event. Names start with `label` so the two watch phases see different objects.
async fn watch_latencies(watcher: &Client, writer: &Client, label: &str) -> Result<Vec<Duration>> {
    let watched: Api<ConfigMap> = Api::namespaced(watcher.clone(), WATCH_NAMESPACE);
    // Watch from the collection's current revision: every later write arrives, none before it.
    let revision =
        watched.list(&ListParams::default().limit(1)).await?.metadata.resource_version.ok_or("the list carried no resourceVersion")?;
    let stream = watched.watch(&WatchParams::default(), &revision).await?;
    let (sender, mut received) = mpsc::unbounded_channel();
    let watch_task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            let at = Instant::now();
            let event = match event {
                Ok(WatchEvent::Added(object)) => Ok(object.metadata.name.unwrap_or_default()),
                Ok(WatchEvent::Error(status)) => Err(format!("watch error: {status:?}")),
                Ok(_) => continue,
                Err(error) => Err(format!("watch stream failed: {error}")),
            };
            if sender.send((event, at)).is_err() {
                return;
            }
        }
    });

    let writes: Api<ConfigMap> = Api::namespaced(writer.clone(), WATCH_NAMESPACE);
    let post = PostParams::default();
    let mut latencies = Vec::with_capacity(WATCH_WRITES);
    let outcome: Result<()> = async {
        for i in 0..WATCH_WARMUP_WRITES + WATCH_WRITES {
            let name = format!("{label}-{i}");
            let object = configmap(&name);
            let sent = Instant::now();
            writes.create(&post, &object).await?;
            // Writes are sequential, so the next event must be this one.
            let seen = match tokio::time::timeout(WATCH_EVENT_TIMEOUT, received.recv()).await {
                Err(_) => return Err(format!("the watcher did not see {name} within {WATCH_EVENT_TIMEOUT:?}").into()),
                Ok(None) => return Err(format!("the watch ended before {name} arrived").into()),
                Ok(Some((Err(error), _))) => return Err(error.into()),
                Ok(Some((Ok(seen), at))) if seen == name => at,
                Ok(Some((Ok(other), _))) => return Err(format!("the watcher saw {other} while waiting for {name}").into()),
            };
            if i >= WATCH_WARMUP_WRITES {
                latencies.push(seen.duration_since(sent));
            }
        }
        Ok(())
    }
    .await;
    watch_task.abort();
    outcome.map(|()| latencies)
}

/// The benchmark ConfigMap: a name, a label and one value of `CONFIGMAP_VALUE_BYTES`.
fn configmap(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([("app".to_owned(), "bench".to_owned())])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("payload".to_owned(), "x".repeat(CONFIGMAP_VALUE_BYTES))])),
        ..ConfigMap::default()
    }
}

/// A minimal valid pod: one container with a name and an image.
fn pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta { name: Some(name.to_owned()), ..ObjectMeta::default() },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".to_owned(),
                image: Some("registry.k8s.io/pause:3.10".to_owned()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

fn serial_name(i: usize) -> String {
    format!("serial-{i}")
}
