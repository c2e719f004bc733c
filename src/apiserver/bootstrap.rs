//! What a fresh cluster has before anyone asks: the namespaces default, kube-system, kube-public and
//! kube-node-lease, and the `kubernetes` Service in default on the first address of the service range. Safe to
//! run on every start and on several servers at once: existing objects are left alone.

use serde_json::{json, Value};

use super::request::FieldValidation;
use super::store::{Store, WriteOptions};
use crate::api::registry;
use crate::api::status::ApiError;

pub const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// The port the `kubernetes` Service forwards to: the server's secure port.
pub async fn ensure_defaults(store: &Store, secure_port: u16) -> Result<(), ApiError> {
    let options = WriteOptions {
        dry_run: false,
        field_manager: Some("ferrokube-bootstrap".into()),
        field_validation: FieldValidation::Strict,
        duplicate_fields: Vec::new(),
    };
    let namespaces = registry::find("", "v1", "namespaces").expect("namespaces are always served");
    for name in SYSTEM_NAMESPACES {
        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}});
        create_if_missing(store, namespaces, None, namespace, &options).await?;
    }
    let services = registry::find("", "v1", "services").expect("services are always served");
    let cluster_ip = store.services.kubernetes_service_ip().to_string();
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip,
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": secure_port}],
            "sessionAffinity": "None",
        },
    });
    create_if_missing(store, services, Some("default"), service, &options).await
}

async fn create_if_missing(
    store: &Store,
    desc: &'static registry::ResourceDesc,
    namespace: Option<&str>,
    object: Value,
    options: &WriteOptions,
) -> Result<(), ApiError> {
    match store.create(desc, namespace, object, options).await {
        Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
        // The address is taken: the Service exists from an earlier start, or another server is creating it now.
        Err(ApiError::Invalid { .. }) if desc.kind == "Service" => Ok(()),
        Err(other) => Err(other),
    }
}
