//! The processes a benchmark drives and the clients it drives them with: a `ferrokube server` on a PostgreSQL
//! datastore (its own temporary data directory and free port, extra flags as the benchmark needs), a
//! `ferrokube node --simulate` fleet joined to a server, and kube-rs clients built from a server's admin
//! kubeconfig. Both processes are the binary cargo built for the benchmark (`CARGO_BIN_EXE_ferrokube`, so
//! `cargo bench` runs the release build), keep their stderr in a file for error messages and the warning summary,
//! and are killed when dropped.
//!
//! Use it from a benchmark with `#[path = "support/server.rs"] mod server;`.

use std::ffi::OsString;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use tempfile::TempDir;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How long a server may take to write its kubeconfig and answer `/readyz` (migrations included).
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// Poll interval while waiting for a server or for nodes to become ready.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Nodes are listed less often than `/readyz` is probed: a list of a thousand nodes is megabytes.
const NODE_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Log lines shown when a process fails or logs warnings.
const LOG_LINES_SHOWN_MAX: usize = 10;

/// One `ferrokube server` process on its own temporary data directory and free port; killed when dropped.
pub struct Server {
    process: ChildProcess,
}

impl Server {
    /// Starts `ferrokube server` on 127.0.0.1 with `datastore` as `--datastore-endpoint` and `extra_args` after
    /// the benchmark's own flags (e.g. `--disable-scheduler`). `name` labels its messages.
    pub fn start(name: &str, datastore: &str, extra_args: &[&str]) -> Result<Server> {
        let dir = tempfile::Builder::new().prefix("ferrokube-bench-").tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut args: Vec<OsString> = vec!["server".into(), "--data-dir".into(), dir.path().join("data").into()];
        for arg in ["--bind-address", "127.0.0.1", "--secure-port", &port.to_string(), "--datastore-endpoint", datastore] {
            args.push(arg.into());
        }
        args.extend(extra_args.iter().map(OsString::from));
        Ok(Server { process: ChildProcess::spawn(format!("server {name}"), dir, &args)? })
    }

    /// The admin kubeconfig the server writes into its data directory.
    pub fn kubeconfig(&self) -> PathBuf {
        self.process.dir.path().join("data").join("admin.kubeconfig")
    }

    /// Waits until the admin kubeconfig is there and `/readyz` answers 200 through it; returns a client.
    pub async fn wait_ready(&mut self) -> Result<Client> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last_error = String::from("no kubeconfig yet");
        loop {
            self.process.fail_if_exited()?;
            if self.kubeconfig().is_file() {
                match self.probe_ready().await {
                    Ok(client) => return Ok(client),
                    Err(error) => last_error = error.to_string(),
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} was not ready within {READY_TIMEOUT:?} (last: {last_error}); stderr:\n{}",
                    self.process.name,
                    self.process.log_tail()
                )
                .into());
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn probe_ready(&self) -> Result<Client> {
        let client = client_from(&self.kubeconfig()).await?;
        let request = http::Request::get("/readyz").body(Vec::new())?;
        client.request_text(request).await?;
        Ok(client)
    }

    /// VmRSS of the server process, in KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        self.process.rss_kib()
    }

    /// Shows on stderr how many warnings and errors the server logged, and the first few.
    pub fn report_log_problems(&self) {
        self.process.report_log_problems();
    }
}

/// A `ferrokube node --simulate` process: `count` simulated nodes named `sim-0` … joined to one server; killed
/// (the nodes stop heartbeating) when dropped.
pub struct SimulatedNodes {
    process: ChildProcess,
    count: usize,
}

impl SimulatedNodes {
    /// Starts `count` simulated nodes with the default CPU and memory and room for `pods_per_node` pods each.
    pub fn start(server: &Server, count: usize, pods_per_node: u32) -> Result<SimulatedNodes> {
        let dir = tempfile::Builder::new().prefix("ferrokube-bench-nodes-").tempdir()?;
        let mut args: Vec<OsString> = vec!["node".into(), "--kubeconfig".into(), server.kubeconfig().into()];
        for arg in ["--simulate", &count.to_string(), "--pods", &pods_per_node.to_string()] {
            args.push(arg.into());
        }
        Ok(SimulatedNodes { process: ChildProcess::spawn(format!("{count} simulated nodes"), dir, &args)?, count })
    }

    /// Waits until the cluster has `count` nodes whose Ready condition is True, failing after `timeout` or when
    /// the node process exits; `progress` is told the count every `progress_interval`.
    pub async fn wait_ready(
        &mut self,
        client: &Client,
        timeout: Duration,
        progress_interval: Duration,
        progress: &dyn Fn(&str),
    ) -> Result<()> {
        let nodes: Api<Node> = Api::all(client.clone());
        let deadline = Instant::now() + timeout;
        let mut next_report = Instant::now() + progress_interval;
        loop {
            self.process.fail_if_exited()?;
            let ready = nodes.list(&ListParams::default()).await?.items.iter().filter(|node| is_ready(node)).count();
            if ready >= self.count {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "only {ready} of {} nodes were Ready after {timeout:?}; node agent stderr:\n{}",
                    self.count,
                    self.process.log_tail()
                )
                .into());
            }
            if Instant::now() >= next_report {
                progress(&format!("  {ready}/{} nodes Ready", self.count));
                next_report += progress_interval;
            }
            tokio::time::sleep(NODE_POLL_INTERVAL).await;
        }
    }

    /// Shows on stderr how many warnings and errors the node agent logged, and the first few.
    pub fn report_log_problems(&self) {
        self.process.report_log_problems();
    }
}

fn is_ready(node: &Node) -> bool {
    let conditions = node.status.as_ref().and_then(|status| status.conditions.as_deref()).unwrap_or_default();
    conditions.iter().any(|condition| condition.type_ == "Ready" && condition.status == "True")
}

pub async fn client_from(kubeconfig: &Path) -> Result<Client> {
    let kubeconfig = Kubeconfig::read_from(kubeconfig)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

pub async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace { metadata: ObjectMeta { name: Some(name.to_owned()), ..ObjectMeta::default() }, ..Namespace::default() };
    namespaces.create(&PostParams::default(), &namespace).await?;
    Ok(())
}

/// A `ferrokube` child process with its stdout and stderr in files of its own temporary directory.
struct ChildProcess {
    name: String,
    child: Child,
    dir: TempDir,
}

impl ChildProcess {
    fn spawn(name: String, dir: TempDir, args: &[OsString]) -> Result<ChildProcess> {
        let child = Command::new(env!("CARGO_BIN_EXE_ferrokube"))
            .args(args)
            // The default (quiet) logging, and no datastore but the one given, whatever the caller's environment says.
            .env_remove("RUST_LOG")
            .env_remove("FERROKUBE_DATASTORE_ENDPOINT")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(File::create(dir.path().join("stdout.log"))?)
            .stderr(File::create(dir.path().join("stderr.log"))?)
            .spawn()?;
        Ok(ChildProcess { name, child, dir })
    }

    fn fail_if_exited(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            Some(status) => Err(format!("{} exited with {status}; stderr:\n{}", self.name, self.log_tail()).into()),
            None => Ok(()),
        }
    }

    fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("no VmRSS for {}", self.name).into())
    }

    fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    fn log_tail(&self) -> String {
        let lines = self.log_lines();
        lines[lines.len().saturating_sub(LOG_LINES_SHOWN_MAX)..].join("\n")
    }

    fn report_log_problems(&self) {
        let problems: Vec<String> = self.log_lines().into_iter().filter(|line| line.contains("WARN") || line.contains("ERROR")).collect();
        if problems.is_empty() {
            return;
        }
        eprintln!("{} logged {} warnings or errors; the first ones:", self.name, problems.len());
        for line in problems.iter().take(LOG_LINES_SHOWN_MAX) {
            eprintln!("  {line}");
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
