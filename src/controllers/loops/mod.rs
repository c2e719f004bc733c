//! The controller-manager: kube-rs controllers that feed the pure decision functions of `controllers` from
//! shared reflectors (one watch per kind, however many controllers read it) and carry their plans out through
//! the public API. Leader election on the `kube-controller-manager` Lease makes one copy act at a time.

mod cronjobs;
mod daemonsets;
mod deployments;
mod discovery;
mod endpoints;
mod garbage_collector;
mod informer;
mod jobs;
mod namespaces;
mod nodes;
pub mod pods;
mod replicas;
mod statefulsets;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ReplicationController, Service};

use crate::control::events::EventRecorder;
use crate::control::leader::{run_when_leader, LeaseConfig};

pub use informer::Informer;
pub use nodes::NodeConfig;

/// The controllers a controller-manager runs, by upstream name (`--controllers`).
pub const CONTROLLERS: &[&str] = &[
    "replicaset",
    "replicationcontroller",
    "deployment",
    "daemonset",
    "statefulset",
    "job",
    "cronjob",
    "endpoint",
    "node",
    "namespace",
    "garbagecollector",
];

/// How a controller-manager runs.
#[derive(Clone, Debug)]
pub struct ManagerConfig {
    /// Names from [`CONTROLLERS`]; all of them when empty.
    pub controllers: Vec<String>,
    pub leader_elect: bool,
    pub identity: String,
    /// Node IPAM, lifecycle and pod GC settings.
    pub nodes: NodeConfig,
}

/// A failure that makes a controller retry an object later, with backoff.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error(transparent)]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Failed(String),
}

/// What every controller of one manager shares: the client, the shared caches and the recorder identity.
pub struct Shared {
    pub client: kube::Client,
    pub identity: String,
    pub pods: Informer<Pod>,
    pub replica_sets: Informer<ReplicaSet>,
    pub replication_controllers: Informer<ReplicationController>,
    pub deployments: Informer<Deployment>,
    pub daemon_sets: Informer<DaemonSet>,
    pub stateful_sets: Informer<StatefulSet>,
    pub jobs: Informer<Job>,
    pub nodes: Informer<Node>,
    pub services: Informer<Service>,
    pub namespaces: Informer<Namespace>,
}

impl Shared {
    pub fn recorder(&self, component: &str) -> EventRecorder {
        EventRecorder::new(self.client.clone(), component, &self.identity)
    }
}

/// Runs the controller-manager until the process ends.
pub async fn run(client: kube::Client, config: ManagerConfig) {
    let enabled = |name: &str| config.controllers.is_empty() || config.controllers.iter().any(|c| c == name);
    tracing::info!(identity = %config.identity, "controller-manager starting");
    let lead = || async {
        let shared = Arc::new(Shared {
            client: client.clone(),
            identity: config.identity.clone(),
            pods: Informer::new(client.clone()),
            replica_sets: Informer::new(client.clone()),
            replication_controllers: Informer::new(client.clone()),
            deployments: Informer::new(client.clone()),
            daemon_sets: Informer::new(client.clone()),
            stateful_sets: Informer::new(client.clone()),
            jobs: Informer::new(client.clone()),
            nodes: Informer::new(client.clone()),
            services: Informer::new(client.clone()),
            namespaces: Informer::new(client.clone()),
        });
        let mut loops: Vec<futures::future::BoxFuture<'static, ()>> = Vec::new();
        if enabled("replicaset") {
            loops.push(Box::pin(replicas::run_replica_sets(shared.clone())));
        }
        if enabled("replicationcontroller") {
            loops.push(Box::pin(replicas::run_replication_controllers(shared.clone())));
        }
        if enabled("deployment") {
            loops.push(Box::pin(deployments::run(shared.clone())));
        }
        if enabled("daemonset") {
            loops.push(Box::pin(daemonsets::run(shared.clone())));
        }
        if enabled("statefulset") {
            loops.push(Box::pin(statefulsets::run(shared.clone())));
        }
        if enabled("job") {
            loops.push(Box::pin(jobs::run(shared.clone())));
        }
        if enabled("cronjob") {
            loops.push(Box::pin(cronjobs::run(shared.clone())));
        }
        if enabled("endpoint") {
            loops.push(Box::pin(endpoints::run(shared.clone())));
        }
        if enabled("node") {
            loops.push(Box::pin(nodes::run(shared.clone(), config.nodes.clone())));
        }
        if enabled("namespace") {
            loops.push(Box::pin(namespaces::run(shared.clone())));
        }
        if enabled("garbagecollector") {
            loops.push(Box::pin(garbage_collector::run(shared.clone())));
        }
        // The caches are driven after every controller subscribed, so none misses the first events.
        loops.push(Box::pin(shared.pods.clone().drive()));
        loops.push(Box::pin(shared.replica_sets.clone().drive()));
        loops.push(Box::pin(shared.replication_controllers.clone().drive()));
        loops.push(Box::pin(shared.deployments.clone().drive()));
        loops.push(Box::pin(shared.daemon_sets.clone().drive()));
        loops.push(Box::pin(shared.stateful_sets.clone().drive()));
        loops.push(Box::pin(shared.jobs.clone().drive()));
        loops.push(Box::pin(shared.nodes.clone().drive()));
        loops.push(Box::pin(shared.services.clone().drive()));
        loops.push(Box::pin(shared.namespaces.clone().drive()));
        join_all(loops).await;
    };
    if config.leader_elect {
        let lease = LeaseConfig::new("kube-controller-manager", &config.identity);
        let recorder = EventRecorder::new(client.clone(), "kube-controller-manager", &config.identity);
        run_when_leader(client.clone(), lease, recorder, lead).await;
    } else {
        lead().await;
    }
}

/// Backoff for an object whose sync failed: upstream's per-item exponential backoff, simplified to a fixed step
/// (kube-rs requeues one object at most once at a time, so this cannot turn into a hot loop).
pub const RETRY_AFTER_ERROR: Duration = Duration::from_secs(2);

pub fn error_policy<K>(_object: Arc<K>, error: &LoopError, _context: Arc<impl Send + Sync>) -> kube::runtime::controller::Action {
    tracing::debug!(%error, "sync failed; retrying");
    kube::runtime::controller::Action::requeue(RETRY_AFTER_ERROR)
}

/// A 404 (gone already) or 409 (changed meanwhile; the watch brings the new state) is not worth a retry.
pub fn is_gone_or_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404 || status.code == 409)
}
