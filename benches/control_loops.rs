//! Benchmark of the control loops on PostgreSQL, measured as a client sees them. Every cluster it starts is a
//! fresh throwaway PostgreSQL 15 (see `tests/support/postgres.rs`), one `ferrokube server` on it and one
//! `ferrokube node --simulate` fleet joined to it (simulated kubelets: Nodes with Leases, bound pods reported
//! Running and Ready at once), driven with kube-rs. It prints:
//! - scheduler throughput: a server with the controller-manager disabled (API server and scheduler in one
//!   process) and 1,000 Ready nodes gets 10,000 bare pods (10m CPU each), 32 creates in flight; pods scheduled/s
//!   runs from just before the first create until a pod watch has seen every pod with `spec.nodeName`, and the
//!   time until all are Running is shown too. The baseline, measured first in the same run, is the same creates
//!   (with the same nodes and the same pod watch) on a server with the scheduler disabled as well, shown as pod
//!   creates/s and as the ratio of pods scheduled/s to it;
//! - on a full control plane (controller-manager and scheduler in the server) with 100 nodes of 110 pods: the
//!   time for a ReplicationController of 1,000 replicas to report 1,000 ready, then for a 100-replica Deployment
//!   to become available, and the time from its image change until its status has the new generation observed
//!   and 100 updated, 100 available and no other replicas (what `kubectl rollout status` waits for);
//! - the resident memory (VmRSS) of each server process: at rest (ready, no nodes), with its nodes, and with its
//!   pods.
//!
//! Sizes can be changed with environment variables, e.g. to run it small: FERROKUBE_BENCH_NODES (1000) and
//! FERROKUBE_BENCH_PODS (10000) for the scheduler phase, FERROKUBE_BENCH_CREATES_IN_FLIGHT (32),
//! FERROKUBE_BENCH_WORKLOAD_NODES (100), FERROKUBE_BENCH_RC_REPLICAS (1000) and FERROKUBE_BENCH_DEPLOYMENT_REPLICAS
//! (100) for the full control plane. Client, servers, nodes and PostgreSQL share this machine's cores, so the
//! figures are for comparing runs on one machine, not absolute. It only prints; nothing is asserted.
//!
//! Run it with `cargo bench --bench control_loops` (a release build). Under `cargo test --all-targets` it is only
//! compiled and exits at once, because cargo passes `--bench` only when benchmarking. Progress goes to stderr;
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

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::pin::pin;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, Pod, PodSpec, PodTemplateSpec, ReplicationController, ReplicationControllerSpec, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use figures::{per_second, Figures};
use server::{create_namespace, Result, Server, SimulatedNodes};

/// Defaults of the sizes, each overridable by the environment variable named in the module documentation.
const DEFAULT_SCHEDULER_NODES: usize = 1_000;
const DEFAULT_PODS: usize = 10_000;
const DEFAULT_CREATES_IN_FLIGHT: usize = 32;
const DEFAULT_WORKLOAD_NODES: usize = 100;
const DEFAULT_RC_REPLICAS: usize = 1_000;
const DEFAULT_DEPLOYMENT_REPLICAS: usize = 100;
/// Pod capacity of every simulated node (the kubelet's default `--max-pods`).
const PODS_PER_NODE: u32 = 110;
/// The CPU each benchmark pod requests: small, so that pod count, not CPU, bounds what fits on a node.
const POD_CPU_REQUEST: &str = "10m";
/// The Deployment's images before and after the rollout; simulated nodes pull nothing, so any names do.
const IMAGE: &str = "registry.k8s.io/pause:3.9";
const ROLLOUT_IMAGE: &str = "registry.k8s.io/pause:3.10";
/// How long simulated nodes may take to register and report Ready.
const NODES_READY_TIMEOUT: Duration = Duration::from_secs(600);
/// How long any measured wait may take before the benchmark gives up.
const WAIT_TIMEOUT: Duration = Duration::from_secs(1_800);
/// How often a long wait reports where it is.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);
/// Namespaces and names of the benchmark objects.
const POD_NAMESPACE: &str = "bench-pods";
const WORKLOAD_NAMESPACE: &str = "bench-workloads";
const RC_NAME: &str = "bench-rc";
const DEPLOYMENT_NAME: &str = "bench-deployment";

/// Flags of the three servers: the baseline runs no control loop, the scheduler phase only the scheduler.
const BASELINE_SERVER_ARGS: &[&str] = &["--disable-controller-manager", "--disable-scheduler"];
const SCHEDULER_SERVER_ARGS: &[&str] = &["--disable-controller-manager"];
const FULL_SERVER_ARGS: &[&str] = &[];

#[tokio::main]
async fn main() -> ExitCode {
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("control_loops benchmark: skipped (run it with `cargo bench --bench control_loops`)");
        return ExitCode::SUCCESS;
    }
    let sizes = match Sizes::from_env() {
        Ok(sizes) => sizes,
        Err(error) => {
            eprintln!("benchmark not started: {error}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let progress = |phase: &str| eprintln!("[{:>7.1}s] {phase}", started.elapsed().as_secs_f64());
    progress(&format!("sizes: {sizes:?}"));
    match run(&sizes, &progress).await {
        Ok(figures) => {
            print!("{figures}");
            progress("done");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("benchmark failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// How big each phase is.
#[derive(Debug)]
struct Sizes {
    /// Simulated nodes of the scheduler phase and its baseline.
    scheduler_nodes: usize,
    /// Bare pods created in the scheduler phase and in its baseline.
    pods: usize,
    /// Pod creates in flight at once.
    creates_in_flight: usize,
    /// Simulated nodes of the full control plane.
    workload_nodes: usize,
    rc_replicas: usize,
    deployment_replicas: usize,
}

impl Sizes {
    fn from_env() -> Result<Sizes> {
        let sizes = Sizes {
            scheduler_nodes: size_from_env("FERROKUBE_BENCH_NODES", DEFAULT_SCHEDULER_NODES)?,
            pods: size_from_env("FERROKUBE_BENCH_PODS", DEFAULT_PODS)?,
            creates_in_flight: size_from_env("FERROKUBE_BENCH_CREATES_IN_FLIGHT", DEFAULT_CREATES_IN_FLIGHT)?,
            workload_nodes: size_from_env("FERROKUBE_BENCH_WORKLOAD_NODES", DEFAULT_WORKLOAD_NODES)?,
            rc_replicas: size_from_env("FERROKUBE_BENCH_RC_REPLICAS", DEFAULT_RC_REPLICAS)?,
            deployment_replicas: size_from_env("FERROKUBE_BENCH_DEPLOYMENT_REPLICAS", DEFAULT_DEPLOYMENT_REPLICAS)?,
        };
        // A pod that fits nowhere would stay Pending and the wait for it would only time out.
        let per_node = PODS_PER_NODE as usize;
        if sizes.pods > sizes.scheduler_nodes * per_node {
            return Err(format!("{} pods do not fit on {} nodes of {per_node} pods", sizes.pods, sizes.scheduler_nodes).into());
        }
        // The rollout adds the default maxSurge (25 %, rounded up) of new pods before it removes old ones.
        let workload_pods = sizes.rc_replicas + sizes.deployment_replicas + sizes.deployment_replicas.div_ceil(4);
        if workload_pods > sizes.workload_nodes * per_node {
            return Err(format!("{workload_pods} workload pods do not fit on {} nodes of {per_node} pods", sizes.workload_nodes).into());
        }
        Ok(sizes)
    }
}

/// A positive count from the environment variable `name`, or `default` when it is not set.
fn size_from_env(name: &str, default: usize) -> Result<usize> {
    let Some(text) = std::env::var_os(name) else {
        return Ok(default);
    };
    let text = text.to_string_lossy();
    match text.trim().parse::<usize>() {
        // Replica counts travel as int32 in the API.
        Ok(count) if count > 0 && i32::try_from(count).is_ok() => Ok(count),
        _ => Err(format!("{name}={text:?} is not a whole number from 1 to {}", i32::MAX).into()),
    }
}

/// Every phase, in order; returns the block of figures to print.
async fn run(sizes: &Sizes, progress: &dyn Fn(&str)) -> Result<String> {
    let (mut out, mut memory) = (Figures::default(), Figures::default());
    scheduler_throughput(sizes, &mut out, &mut memory, progress).await?;
    workloads(sizes, &mut out, &mut memory, progress).await?;
    Ok(out.into_text() + &memory.into_text())
}

/// The baseline (pod creates with no scheduler), then pods scheduled/s on a server running only the scheduler.
async fn scheduler_throughput(sizes: &Sizes, out: &mut Figures, memory: &mut Figures, progress: &dyn Fn(&str)) -> Result<()> {
    let (pods, nodes, in_flight) = (sizes.pods, sizes.scheduler_nodes, sizes.creates_in_flight);
    let baseline_rate = {
        let mut cluster = Cluster::start("baseline", BASELINE_SERVER_ARGS, progress).await?;
        cluster.add_nodes(nodes, progress).await?;
        create_namespace(&cluster.client, POD_NAMESPACE).await?;
        // The same watch as in the measured run, so that the two differ only by the scheduler.
        let mut tracker = PodTracker::start(&cluster.client);
        progress(&format!("baseline: creating {pods} pods, {in_flight} in flight, scheduler disabled"));
        let elapsed = create_pods(&cluster.client, pods, in_flight).await?;
        tracker.wait_until("seen", pods, |counts| counts.seen, progress).await?;
        memory.mebibytes(&format!("baseline server (no control loops) RSS, {pods} pods Pending (MiB)"), cluster.server.rss_kib()?);
        per_second(pods, elapsed)
    };

    let mut cluster = Cluster::start("scheduler", SCHEDULER_SERVER_ARGS, progress).await?;
    memory.mebibytes("scheduler-phase server RSS at rest, no nodes (MiB)", cluster.server.rss_kib()?);
    cluster.add_nodes(nodes, progress).await?;
    memory.mebibytes(&format!("scheduler-phase server RSS, {nodes} nodes (MiB)"), cluster.server.rss_kib()?);
    create_namespace(&cluster.client, POD_NAMESPACE).await?;
    let mut tracker = PodTracker::start(&cluster.client);
    progress(&format!("scheduler: creating {pods} pods, {in_flight} in flight, until all are bound"));
    let timer = Instant::now();
    let creates_elapsed = create_pods(&cluster.client, pods, in_flight).await?;
    progress(&format!("all {pods} pods created after {:.1}s", creates_elapsed.as_secs_f64()));
    tracker.wait_until("bound", pods, |counts| counts.bound, progress).await?;
    let bound_elapsed = timer.elapsed();
    progress(&format!("all {pods} pods bound after {:.1}s; waiting until all are Running", bound_elapsed.as_secs_f64()));
    tracker.wait_until("Running", pods, |counts| counts.running, progress).await?;
    let running_elapsed = timer.elapsed();
    memory.mebibytes(&format!("scheduler-phase server RSS, {pods} pods Running (MiB)"), cluster.server.rss_kib()?);

    let scheduled_rate = per_second(pods, bound_elapsed);
    out.rate(&format!("pods scheduled/s ({pods} pods, {nodes} nodes, {in_flight} in flight)"), scheduled_rate);
    out.seconds(&format!("time from first create until {pods} pods bound (s)"), bound_elapsed);
    out.seconds(&format!("time from first create until {pods} pods Running (s)"), running_elapsed);
    out.rate("pod creates/s while scheduling", per_second(pods, creates_elapsed));
    out.rate("baseline: pod creates/s with the scheduler disabled", baseline_rate);
    out.value("ratio of pods scheduled/s to baseline creates/s", scheduled_rate / baseline_rate, 2);
    Ok(())
}

/// A ReplicationController scaling up, then a Deployment created and rolled out, on a full control plane.
async fn workloads(sizes: &Sizes, out: &mut Figures, memory: &mut Figures, progress: &dyn Fn(&str)) -> Result<()> {
    let (rc_replicas, deployment_replicas) = (sizes.rc_replicas, sizes.deployment_replicas);
    let mut cluster = Cluster::start("full control plane", FULL_SERVER_ARGS, progress).await?;
    memory.mebibytes("full control plane RSS at rest, no nodes (MiB)", cluster.server.rss_kib()?);
    cluster.add_nodes(sizes.workload_nodes, progress).await?;
    memory.mebibytes(&format!("full control plane RSS, {} nodes (MiB)", sizes.workload_nodes), cluster.server.rss_kib()?);
    create_namespace(&cluster.client, WORKLOAD_NAMESPACE).await?;

    progress(&format!("ReplicationController: {rc_replicas} replicas, until all are ready"));
    let controllers: Api<ReplicationController> = Api::namespaced(cluster.client.clone(), WORKLOAD_NAMESPACE);
    let replicas = i32::try_from(rc_replicas)?;
    let timer = Instant::now();
    controllers.create(&PostParams::default(), &replication_controller(replicas)).await?;
    wait_for_object(&controllers, RC_NAME, |rc| rc_ready(rc, replicas), describe_rc, progress).await?;
    let rc_elapsed = timer.elapsed();
    out.seconds(&format!("ReplicationController: time to {rc_replicas} ready replicas (s)"), rc_elapsed);
    out.rate("ReplicationController: ready replicas/s", per_second(rc_replicas, rc_elapsed));

    progress(&format!("Deployment: {deployment_replicas} replicas, until all are available"));
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), WORKLOAD_NAMESPACE);
    let replicas = i32::try_from(deployment_replicas)?;
    let timer = Instant::now();
    let created = deployments.create(&PostParams::default(), &deployment(replicas)).await?;
    let generation = created.metadata.generation.unwrap_or_default();
    wait_for_object(&deployments, DEPLOYMENT_NAME, |d| rollout_complete(d, replicas, generation), describe_deployment, progress).await?;
    out.seconds(&format!("Deployment: time to {deployment_replicas} available replicas (s)"), timer.elapsed());

    progress(&format!("Deployment: rolling {deployment_replicas} replicas to a new image"));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": ROLLOUT_IMAGE}]}}}});
    let timer = Instant::now();
    let patched = deployments.patch(DEPLOYMENT_NAME, &PatchParams::default(), &Patch::Strategic(patch)).await?;
    let generation = patched.metadata.generation.unwrap_or_default();
    wait_for_object(&deployments, DEPLOYMENT_NAME, |d| rollout_complete(d, replicas, generation), describe_deployment, progress).await?;
    out.seconds(&format!("Deployment: rollout of {deployment_replicas} replicas to a new image (s)"), timer.elapsed());

    memory.mebibytes(
        &format!("full control plane RSS, {} workload pods (MiB)", rc_replicas + deployment_replicas),
        cluster.server.rss_kib()?,
    );
    Ok(())
}

/// One throwaway control plane: a fresh PostgreSQL, a server on it and, once added, simulated nodes. Dropping it
/// shows what the server and nodes logged as warnings, then stops them and the database.
struct Cluster {
    // Fields drop in this order: the nodes stop before the server, the server before its database.
    nodes: Option<SimulatedNodes>,
    server: Server,
    client: Client,
    _database: postgres::TestPostgres,
}

impl Cluster {
    async fn start(name: &str, server_args: &[&str], progress: &dyn Fn(&str)) -> Result<Cluster> {
        progress(&format!("{name}: starting PostgreSQL 15 and a server {server_args:?}"));
        let database = postgres::TestPostgres::new().await;
        let mut server = Server::start(name, &database.url(), server_args)?;
        let client = server.wait_ready().await?;
        Ok(Cluster { nodes: None, server, client, _database: database })
    }

    /// Starts `count` simulated nodes and waits until all are Ready.
    async fn add_nodes(&mut self, count: usize, progress: &dyn Fn(&str)) -> Result<()> {
        progress(&format!("starting {count} simulated nodes of {PODS_PER_NODE} pods, until all are Ready"));
        let nodes = self.nodes.insert(SimulatedNodes::start(&self.server, count, PODS_PER_NODE)?);
        nodes.wait_ready(&self.client, NODES_READY_TIMEOUT, PROGRESS_INTERVAL, progress).await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.server.report_log_problems();
        if let Some(nodes) = &self.nodes {
            nodes.report_log_problems();
        }
    }
}

/// Creates the bare pods `pod-00000` … in the pod namespace, `in_flight` at a time; returns the time taken.
async fn create_pods(client: &Client, count: usize, in_flight: usize) -> Result<Duration> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), POD_NAMESPACE);
    let timer = Instant::now();
    let mut creates = futures::stream::iter(0..count)
        .map(|i| {
            let pods = pods.clone();
            async move { pods.create(&PostParams::default(), &bare_pod(i)).await }
        })
        .buffer_unordered(in_flight);
    while let Some(created) = creates.next().await {
        created?;
    }
    Ok(timer.elapsed())
}

/// How many pods of the pod namespace a watch has seen: at all, bound to a node, and Running.
#[derive(Clone, Debug, Default)]
struct PodCounts {
    seen: usize,
    bound: usize,
    running: usize,
    /// The watch's latest error; it retries on its own, so this only explains a wait that times out.
    last_error: Option<String>,
}

/// Watches the pod namespace in the background and keeps `PodCounts` current; stops when dropped.
struct PodTracker {
    counts: watch::Receiver<PodCounts>,
    task: JoinHandle<()>,
}

impl PodTracker {
    fn start(client: &Client) -> PodTracker {
        let pods: Api<Pod> = Api::namespaced(client.clone(), POD_NAMESPACE);
        let (sender, counts) = watch::channel(PodCounts::default());
        let task = tokio::spawn(async move {
            let mut events = pin!(watcher(pods, watcher::Config::default()).default_backoff());
            // Names, not counts: a pod is seen many times (created, bound, Running) and must count once.
            let (mut seen, mut bound, mut running) = (HashSet::new(), HashSet::new(), HashSet::new());
            let mut last_error = None;
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::Init) => {
                        // A relist follows and brings back every pod that still exists.
                        seen.clear();
                        bound.clear();
                        running.clear();
                    }
                    Ok(watcher::Event::InitApply(pod) | watcher::Event::Apply(pod)) => {
                        let name = pod.metadata.name.clone().unwrap_or_default();
                        if pod.spec.as_ref().is_some_and(|spec| spec.node_name.is_some()) {
                            bound.insert(name.clone());
                        }
                        if pod.status.as_ref().and_then(|status| status.phase.as_deref()) == Some("Running") {
                            running.insert(name.clone());
                        }
                        seen.insert(name);
                    }
                    Ok(watcher::Event::Delete(pod)) => {
                        let name = pod.metadata.name.unwrap_or_default();
                        seen.remove(&name);
                        bound.remove(&name);
                        running.remove(&name);
                    }
                    Ok(watcher::Event::InitDone) => {}
                    Err(error) => last_error = Some(error.to_string()),
                }
                let counts = PodCounts { seen: seen.len(), bound: bound.len(), running: running.len(), last_error: last_error.clone() };
                if sender.send(counts).is_err() {
                    return;
                }
            }
        });
        PodTracker { counts, task }
    }

    /// Waits until `count_of` the counts reaches `target`, telling `progress` where it is every
    /// `PROGRESS_INTERVAL`; fails after `WAIT_TIMEOUT`.
    async fn wait_until(&mut self, what: &str, target: usize, count_of: fn(&PodCounts) -> usize, progress: &dyn Fn(&str)) -> Result<()> {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let wait = PROGRESS_INTERVAL.min(deadline.saturating_duration_since(Instant::now()));
            match tokio::time::timeout(wait, self.counts.wait_for(|counts| count_of(counts) >= target)).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(_)) => return Err("the pod watch stopped".into()),
                Err(_) => {}
            }
            let counts = self.counts.borrow().clone();
            let error = counts.last_error.as_ref().map(|error| format!(" (last watch error: {error})")).unwrap_or_default();
            let state = format!("{}/{target} pods {what}{error}", count_of(&counts));
            if Instant::now() >= deadline {
                return Err(format!("timed out after {WAIT_TIMEOUT:?}: {state}").into());
            }
            progress(&format!("  {state}"));
        }
    }
}

impl Drop for PodTracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches the object `name` until `done` holds for it, telling `progress` what it last saw (`describe`) every
/// `PROGRESS_INTERVAL`; fails after `WAIT_TIMEOUT`.
async fn wait_for_object<K>(
    api: &Api<K>,
    name: &str,
    done: impl Fn(&K) -> bool,
    describe: impl Fn(&K) -> String,
    progress: &dyn Fn(&str),
) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let fields = format!("metadata.name={name}");
    let mut objects = pin!(watcher(api.clone(), watcher::Config::default().fields(&fields)).default_backoff().applied_objects());
    let deadline = Instant::now() + WAIT_TIMEOUT;
    let mut next_report = Instant::now() + PROGRESS_INTERVAL;
    let mut last_seen = String::from("nothing yet");
    loop {
        let wait = next_report.min(deadline).saturating_duration_since(Instant::now());
        match tokio::time::timeout(wait, objects.next()).await {
            Ok(Some(Ok(object))) if done(&object) => return Ok(()),
            Ok(Some(Ok(object))) => last_seen = describe(&object),
            Ok(Some(Err(error))) => last_seen = format!("watch error: {error}"),
            Ok(None) => return Err(format!("the watch of {name} ended; last seen: {last_seen}").into()),
            Err(_) => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(format!("timed out after {WAIT_TIMEOUT:?} waiting for {name}; last seen: {last_seen}").into());
        }
        if now >= next_report {
            progress(&format!("  {name}: {last_seen}"));
            next_report = now + PROGRESS_INTERVAL;
        }
    }
}

/// The controller has seen the current spec and reports every replica ready.
fn rc_ready(rc: &ReplicationController, replicas: i32) -> bool {
    let Some(status) = &rc.status else { return false };
    status.observed_generation >= rc.metadata.generation && status.ready_replicas == Some(replicas)
}

fn describe_rc(rc: &ReplicationController) -> String {
    let status = rc.status.clone().unwrap_or_default();
    format!("{} replicas, {} ready", status.replicas, status.ready_replicas.unwrap_or_default())
}

/// The controller has seen `generation` (or later) and every replica is updated and available, with no old ones
/// left: what `kubectl rollout status` waits for.
fn rollout_complete(deployment: &Deployment, replicas: i32, generation: i64) -> bool {
    let Some(status) = &deployment.status else { return false };
    let current = deployment.metadata.generation.unwrap_or_default();
    current >= generation
        && status.observed_generation >= Some(current)
        && status.updated_replicas == Some(replicas)
        && status.available_replicas == Some(replicas)
        && status.replicas == Some(replicas)
}

fn describe_deployment(deployment: &Deployment) -> String {
    let status = deployment.status.clone().unwrap_or_default();
    format!(
        "generation {} observed {}, {} replicas, {} updated, {} available",
        deployment.metadata.generation.unwrap_or_default(),
        status.observed_generation.unwrap_or_default(),
        status.replicas.unwrap_or_default(),
        status.updated_replicas.unwrap_or_default(),
        status.available_replicas.unwrap_or_default()
    )
}

/// One container requesting `POD_CPU_REQUEST`.
fn pod_spec(image: &str) -> PodSpec {
    PodSpec {
        containers: vec![Container {
            name: "app".to_owned(),
            image: Some(image.to_owned()),
            resources: Some(ResourceRequirements {
                requests: Some(BTreeMap::from([("cpu".to_owned(), Quantity(POD_CPU_REQUEST.to_owned()))])),
                ..ResourceRequirements::default()
            }),
            ..Container::default()
        }],
        ..PodSpec::default()
    }
}

fn bare_pod(index: usize) -> Pod {
    Pod {
        metadata: ObjectMeta { name: Some(format!("pod-{index:05}")), ..ObjectMeta::default() },
        spec: Some(pod_spec(IMAGE)),
        ..Pod::default()
    }
}

fn template(app: &str) -> PodTemplateSpec {
    PodTemplateSpec { metadata: Some(ObjectMeta { labels: Some(app_label(app)), ..ObjectMeta::default() }), spec: Some(pod_spec(IMAGE)) }
}

fn app_label(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_owned(), app.to_owned())])
}

fn replication_controller(replicas: i32) -> ReplicationController {
    ReplicationController {
        metadata: ObjectMeta { name: Some(RC_NAME.to_owned()), ..ObjectMeta::default() },
        spec: Some(ReplicationControllerSpec {
            replicas: Some(replicas),
            selector: Some(app_label(RC_NAME)),
            template: Some(template(RC_NAME)),
            ..ReplicationControllerSpec::default()
        }),
        ..ReplicationController::default()
    }
}

fn deployment(replicas: i32) -> Deployment {
    Deployment {
        metadata: ObjectMeta { name: Some(DEPLOYMENT_NAME.to_owned()), ..ObjectMeta::default() },
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector { match_labels: Some(app_label(DEPLOYMENT_NAME)), ..LabelSelector::default() },
            template: template(DEPLOYMENT_NAME),
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    }
}
