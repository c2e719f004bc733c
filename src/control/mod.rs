//! What every control loop (controllers, scheduler, simulated nodes) shares as a client of the public API, like
//! any third-party operator: a kube-rs client from a kubeconfig, leader election through a coordination.k8s.io
//! Lease, an Event recorder with upstream component names, and expectations (writes sent but not yet seen in
//! a watch). It must not import `apiserver` or `storage`: control loops reach state only through the API.

pub mod events;
pub mod expectations;
pub mod leader;

use std::path::Path;

/// Why a control loop could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error(transparent)]
    Api(#[from] kube::Error),
}

/// A client for the cluster a kubeconfig file names (its current context).
pub async fn client_from_kubeconfig(path: &Path) -> Result<kube::Client, ControlError> {
    let kubeconfig_error = |message: String| ControlError::Kubeconfig { path: path.display().to_string(), message };
    let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| kubeconfig_error(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| kubeconfig_error(e.to_string()))?;
    Ok(kube::Client::try_from(config)?)
}

/// An identity for this process in leases and events: host name plus a random suffix, as client-go's
/// `<hostname>_<uuid>`, so two copies on one host are still told apart.
pub fn process_identity() -> String {
    let host = hostname::get().ok().and_then(|name| name.into_string().ok()).unwrap_or_else(|| "ferrokube".into());
    format!("{host}_{}", uuid::Uuid::new_v4())
}
