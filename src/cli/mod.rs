//! The command line: one binary, `ferrokube`, with a subcommand per component. It only parses flags and wires
//! components together; every behaviour lives in the component's own module.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::apiserver::pki::PkiFiles;
use crate::apiserver::serve::{self, ServerConfig};
use crate::control::{client_from_kubeconfig, process_identity, ControlError};
use crate::controllers::loops::{self as controller_manager, ManagerConfig, NodeConfig};
use crate::node::simulate::{self, SimulateConfig};
use crate::scheduler::run as scheduler_loop;

#[derive(Debug, Parser)]
#[command(name = "ferrokube", version, about = "A Kubernetes-compatible control plane on PostgreSQL, in one binary")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (embedded store by default, PostgreSQL with --datastore-endpoint), with the
    /// controller-manager in the same process unless disabled.
    Server(ServerArgs),
    /// Run the controllers against a cluster, as any operator does (leader election keeps one copy active).
    ControllerManager(ControllerManagerArgs),
    /// Run the scheduler against a cluster (leader election keeps one copy active).
    Scheduler(SchedulerArgs),
    /// Run a node agent. Only `--simulate N` exists yet: N nodes that register, heartbeat and report bound pods
    /// Running and Ready without running anything (for tests and benchmarks, like kwok).
    Node(NodeArgs),
}

#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    /// The kubeconfig of the cluster to schedule for.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// Take the `kube-scheduler` Lease before acting, so only one copy acts at a time.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
}

#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// The kubeconfig of the cluster to join.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// How many simulated nodes to run.
    #[arg(long, required = true)]
    pub simulate: usize,
    /// Node names are this prefix plus an index.
    #[arg(long, default_value = "sim-")]
    pub name_prefix: String,
    /// CPU capacity of each node.
    #[arg(long, default_value = "8")]
    pub cpu: String,
    /// Memory capacity of each node.
    #[arg(long, default_value = "32Gi")]
    pub memory: String,
    /// Pod capacity of each node.
    #[arg(long, default_value_t = 110)]
    pub pods: u32,
    /// Extra node labels, `key=value`, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = parse_label)]
    pub node_labels: Vec<(String, String)>,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or_else(|| format!("{text:?} is not key=value"))?;
    Ok((key.to_string(), value.to_string()))
}

#[derive(Debug, clap::Args)]
pub struct ControllerManagerArgs {
    /// The kubeconfig of the cluster to control.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    #[command(flatten)]
    pub controllers: ControllerArgs,
}

/// Controller-manager flags, shared by `server` (in-process) and `controller-manager`.
#[derive(Debug, clap::Args)]
pub struct ControllerArgs {
    /// Controllers to run, comma-separated (all when not given).
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(controller_manager::CONTROLLERS))]
    pub controllers: Vec<String>,
    /// Take the `kube-controller-manager` Lease before acting, so only one copy acts at a time.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Where nodes' pod CIDRs (a /24 each) come from.
    #[arg(long, default_value = "10.42.0.0/16")]
    pub cluster_cidr: ipnet::IpNet,
    /// How long a node may go without a heartbeat before it is marked Unknown and tainted unreachable.
    #[arg(long = "node-monitor-grace-period", default_value_t = 40, value_name = "SECONDS")]
    pub node_monitor_grace_period_seconds: u64,
}

impl ControllerArgs {
    fn manager_config(&self) -> ManagerConfig {
        ManagerConfig {
            controllers: self.controllers.clone(),
            leader_elect: self.leader_elect,
            identity: process_identity(),
            nodes: NodeConfig {
                cluster_cidr: self.cluster_cidr,
                node_monitor_grace_period: Duration::from_secs(self.node_monitor_grace_period_seconds),
                ..NodeConfig::default()
            },
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Where certificates, the admin kubeconfig and the embedded store live.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// `postgres://user:password@host:port/db`; without it the embedded SQLite store in --data-dir is used.
    #[arg(long, env = "FERROKUBE_DATASTORE_ENDPOINT")]
    pub datastore_endpoint: Option<String>,
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: ipnet::Ipv4Net,
    #[arg(long, default_value = "30000-32767", value_parser = parse_port_range)]
    pub service_node_port_range: (u16, u16),
    /// A CSV file of bearer tokens: token,user,uid,"group1,group2".
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
    /// Extra names or addresses for the serving certificate; repeatable.
    #[arg(long = "tls-san")]
    pub tls_sans: Vec<String>,
    /// Do not run the controller-manager in this process (run `ferrokube controller-manager` elsewhere).
    #[arg(long)]
    pub disable_controller_manager: bool,
    /// Do not run the scheduler in this process (run `ferrokube scheduler` elsewhere).
    #[arg(long)]
    pub disable_scheduler: bool,
    #[command(flatten)]
    pub controllers: ControllerArgs,
}

fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (first, last) = text.split_once('-').ok_or_else(|| format!("{text:?} is not a port range like 30000-32767"))?;
    let first: u16 = first.trim().parse().map_err(|_| format!("{first:?} is not a port"))?;
    let last: u16 = last.trim().parse().map_err(|_| format!("{last:?} is not a port"))?;
    if first == 0 || first > last {
        return Err(format!("{text:?}: the first port must be between 1 and the last port"));
    }
    Ok((first, last))
}

/// Runs the parsed command; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return 1;
        }
    };
    let result = match cli.command {
        Command::Server(args) => runtime.block_on(run_server(args)),
        Command::ControllerManager(args) => runtime.block_on(async {
            let client = client_from_kubeconfig(&args.kubeconfig).await?;
            controller_manager::run(client, args.controllers.manager_config()).await;
            Ok(())
        }),
        Command::Scheduler(args) => runtime.block_on(async {
            let client = client_from_kubeconfig(&args.kubeconfig).await?;
            run_scheduler(client, args.leader_elect).await;
            Ok(())
        }),
        Command::Node(args) => runtime.block_on(async {
            let client = client_from_kubeconfig(&args.kubeconfig).await?;
            let config = SimulateConfig {
                count: args.simulate,
                name_prefix: args.name_prefix,
                cpu: args.cpu,
                memory: args.memory,
                pods: args.pods,
                labels: args.node_labels.into_iter().collect(),
                ..SimulateConfig::default()
            };
            simulate::run(client, config).await?;
            Ok(())
        }),
    };
    match result {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("error: {error}");
            1
        }
    }
}

/// Why a command stopped.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error(transparent)]
    Server(#[from] serve::ServerError),
    #[error(transparent)]
    Control(#[from] ControlError),
}

async fn run_scheduler(client: kube::Client, leader_elect: bool) {
    let identity = process_identity();
    if leader_elect {
        scheduler_loop::run(client, &identity).await;
    } else {
        scheduler_loop::run_loop(client, &identity).await;
    }
}

/// How long the in-process control loops wait for the server to write its admin kubeconfig.
const KUBECONFIG_WAIT: Duration = Duration::from_secs(60);

/// The API server and, unless disabled, the control loops in the same process, as k3s runs them; the loops
/// talk to the server over HTTPS with the admin kubeconfig like any client.
async fn run_server(args: ServerArgs) -> Result<(), CommandError> {
    let kubeconfig = PkiFiles::in_dir(&args.data_dir).admin_kubeconfig;
    let manager = (!args.disable_controller_manager).then(|| args.controllers.manager_config());
    let scheduler = !args.disable_scheduler;
    let server = serve::run(ServerConfig {
        data_dir: args.data_dir,
        datastore_endpoint: args.datastore_endpoint,
        bind_address: args.bind_address,
        secure_port: args.secure_port,
        service_cluster_ip_range: args.service_cluster_ip_range.trunc(),
        node_port_first: args.service_node_port_range.0,
        node_port_last: args.service_node_port_range.1,
        token_auth_file: args.token_auth_file,
        tls_sans: args.tls_sans,
    });
    let control_loops = async move {
        if manager.is_none() && !scheduler {
            return std::future::pending().await;
        }
        let started = std::time::Instant::now();
        while !kubeconfig.exists() && started.elapsed() < KUBECONFIG_WAIT {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let client = client_from_kubeconfig(&kubeconfig).await?;
        let controllers = async {
            match manager {
                Some(manager) => controller_manager::run(client.clone(), manager).await,
                None => std::future::pending().await,
            }
        };
        let placement = async {
            match scheduler {
                true => run_scheduler(client.clone(), true).await,
                false => std::future::pending().await,
            }
        };
        tokio::join!(controllers, placement);
        Ok::<(), CommandError>(())
    };
    tokio::select! {
        result = server => result.map_err(CommandError::from),
        result = control_loops => result,
    }
}

/// Quiet by default (warnings, plus ferrokube's few start-up lines); `RUST_LOG=debug` shows every request.
/// kube-rs's client logs every failed connection as an error itself; our loops log their retries, backed off.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,ferrokube=info,kube_client=off"));
    // Colour codes only help a person at a terminal; in files and CI logs they are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_and_reject_nonsense() {
        assert_eq!(parse_port_range("30000-32767"), Ok((30000, 32767)));
        assert!(parse_port_range("32767-30000").is_err());
        assert!(parse_port_range("abc").is_err());
    }
}
