//! The command line: one binary, `ferrokube`, with a subcommand per component. It only parses flags and wires
//! components together; every behaviour lives in the component's own module.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::apiserver::serve::{self, ServerConfig};

#[derive(Debug, Parser)]
#[command(name = "ferrokube", version, about = "A Kubernetes-compatible control plane on PostgreSQL, in one binary")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (embedded store by default, PostgreSQL with --datastore-endpoint).
    Server(ServerArgs),
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
        Command::Server(args) => runtime.block_on(serve::run(ServerConfig {
            data_dir: args.data_dir,
            datastore_endpoint: args.datastore_endpoint,
            bind_address: args.bind_address,
            secure_port: args.secure_port,
            service_cluster_ip_range: args.service_cluster_ip_range.trunc(),
            node_port_first: args.service_node_port_range.0,
            node_port_last: args.service_node_port_range.1,
            token_auth_file: args.token_auth_file,
            tls_sans: args.tls_sans,
        })),
    };
    match result {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("error: {error}");
            1
        }
    }
}

/// Quiet by default (warnings, plus ferrokube's few start-up lines); `RUST_LOG=debug` shows every request.
fn init_logging() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,ferrokube=info"));
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
