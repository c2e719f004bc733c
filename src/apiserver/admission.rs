//! Service address allocation: ClusterIPs from `--service-cluster-ip-range` and NodePorts from
//! `--service-node-port-range`. Each allocated ClusterIP is an `IPAddress` object (networking.k8s.io/v1, as
//! upstream since 1.33) and each NodePort a reservation key, both created through storage's atomic create, so
//! two API servers on one database never hand out the same address. Allocations are rolled back when the
//! write they belong to fails, and released when the Service goes.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rand::Rng;
use serde_json::{json, Value};

use super::object::{self, object_key};
use super::store::{storage_error, Store};
use crate::api::registry::{self, ResourceDesc};
use crate::api::status::{ApiError, FieldError};
use crate::storage::StorageError;

/// Random picks before falling back to a scan of the whole range.
const RANDOM_ALLOCATION_ATTEMPTS_MAX: usize = 32;
/// The largest range the fallback scan walks; bigger ranges rely on random picks (a /12 is never full).
const SCAN_ADDRESSES_MAX: u64 = 1 << 16;
const NODE_PORT_KEY_PREFIX: &str = "/ferrokube/nodeports/";

/// The configured ranges.
#[derive(Clone, Debug)]
pub struct ServiceAllocator {
    pub cluster_ip_range: Ipv4Net,
    pub node_port_first: u16,
    pub node_port_last: u16,
}

/// What one write reserved (to roll back if the write fails) and what it frees (once the write succeeded).
#[derive(Debug, Default)]
pub struct Allocation {
    reserved_keys: Vec<String>,
    freed_keys: Vec<String>,
}

impl ServiceAllocator {
    /// The address of the `kubernetes` Service: the first usable address of the range, as upstream.
    pub fn kubernetes_service_ip(&self) -> Ipv4Addr {
        let base = u32::from(self.cluster_ip_range.network());
        Ipv4Addr::from(base + 1)
    }

    pub async fn allocate_for_create(
        &self,
        store: &Store,
        desc: &ResourceDesc,
        service: &mut Value,
        dry_run: bool,
    ) -> Result<Allocation, ApiError> {
        let mut allocation = Allocation::default();
        if !is_core_service(desc) {
            return Ok(allocation);
        }
        let result = self.allocate_missing(store, service, None, dry_run, &mut allocation).await;
        if result.is_err() {
            self.release(store, &allocation).await;
        }
        result.map(|()| allocation)
    }

    pub async fn allocate_for_update(
        &self,
        store: &Store,
        desc: &ResourceDesc,
        service: &mut Value,
        current: &Value,
        dry_run: bool,
    ) -> Result<Allocation, ApiError> {
        let mut allocation = Allocation::default();
        if !is_core_service(desc) {
            return Ok(allocation);
        }
        if let Err(error) = self.allocate_missing(store, service, Some(current), dry_run, &mut allocation).await {
            self.release(store, &allocation).await;
            return Err(error);
        }
        let kept_ports = node_ports(service);
        for port in node_ports(current) {
            if !kept_ports.contains(&port) {
                allocation.freed_keys.push(node_port_key(port));
            }
        }
        if let Some(old_ip) = cluster_ip(current) {
            if cluster_ip(service) != Some(old_ip) {
                allocation.freed_keys.push(ip_key(old_ip));
            }
        }
        Ok(allocation)
    }

    /// Rolls back what a failed write reserved.
    pub async fn release(&self, store: &Store, allocation: &Allocation) {
        for key in &allocation.reserved_keys {
            release_key(store, key).await;
        }
    }

    /// Frees what a successful update no longer uses.
    pub async fn release_replaced(&self, store: &Store, allocation: &Allocation) {
        for key in &allocation.freed_keys {
            release_key(store, key).await;
        }
    }

    /// Frees everything a deleted Service held.
    pub async fn release_object(&self, store: &Store, desc: &ResourceDesc, service: &Value) {
        if !is_core_service(desc) {
            return;
        }
        if let Some(ip) = cluster_ip(service) {
            release_key(store, &ip_key(ip)).await;
        }
        for port in node_ports(service) {
            release_key(store, &node_port_key(port)).await;
        }
    }

    async fn allocate_missing(
        &self,
        store: &Store,
        service: &mut Value,
        current: Option<&Value>,
        dry_run: bool,
        allocation: &mut Allocation,
    ) -> Result<(), ApiError> {
        let service_type = service.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
        let owner = (object::namespace(service).unwrap_or_default().to_string(), object::name(service).to_string());
        let requested = service.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or_default().to_string();
        let already_held = current.and_then(cluster_ip).map(|ip| ip.to_string());
        if service_type == "ExternalName" {
            return Ok(());
        }
        if requested == "None" {
            service["spec"]["clusterIPs"] = json!(["None"]);
        } else if already_held.as_deref() != Some(requested.as_str()) || requested.is_empty() {
            let ip = if requested.is_empty() {
                match &already_held {
                    Some(held) => held.parse().map_err(|_| ApiError::internal("stored clusterIP is not an address"))?,
                    None => self.allocate_random_ip(store, &owner, dry_run, allocation).await?,
                }
            } else {
                let ip =
                    requested.parse::<Ipv4Addr>().map_err(|_| cluster_ip_invalid(&owner.1, &requested, "must be a valid IP address"))?;
                self.allocate_ip(store, ip, &owner, dry_run, allocation).await?;
                ip
            };
            service["spec"]["clusterIP"] = json!(ip.to_string());
            service["spec"]["clusterIPs"] = json!([ip.to_string()]);
        } else {
            service["spec"]["clusterIPs"] = json!([requested]);
        }
        if service_type == "NodePort" || service_type == "LoadBalancer" {
            self.allocate_node_ports(store, service, current, &owner, dry_run, allocation).await?;
        }
        Ok(())
    }

    async fn allocate_node_ports(
        &self,
        store: &Store,
        service: &mut Value,
        current: Option<&Value>,
        owner: &(String, String),
        dry_run: bool,
        allocation: &mut Allocation,
    ) -> Result<(), ApiError> {
        let held = current.map(node_ports).unwrap_or_default();
        let port_count = service.pointer("/spec/ports").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
        for index in 0..port_count {
            let requested = service["spec"]["ports"][index].get("nodePort").and_then(Value::as_u64).unwrap_or(0);
            let port = if requested == 0 {
                self.allocate_random_node_port(store, owner, dry_run, allocation).await?
            } else {
                let port = u16::try_from(requested).ok().filter(|p| (self.node_port_first..=self.node_port_last).contains(p));
                let Some(port) = port else {
                    let detail = format!(
                        "provided port is not in the valid range. The range of valid ports is {}-{}",
                        self.node_port_first, self.node_port_last
                    );
                    return Err(node_port_invalid(&owner.1, index, requested, &detail));
                };
                if !held.contains(&port) && !self.reserve(store, &node_port_key(port), node_port_value(owner), dry_run, allocation).await? {
                    return Err(node_port_invalid(&owner.1, index, requested, "provided port is already allocated"));
                }
                port
            };
            service["spec"]["ports"][index]["nodePort"] = json!(port);
        }
        Ok(())
    }

    async fn allocate_random_node_port(
        &self,
        store: &Store,
        owner: &(String, String),
        dry_run: bool,
        allocation: &mut Allocation,
    ) -> Result<u16, ApiError> {
        for _ in 0..RANDOM_ALLOCATION_ATTEMPTS_MAX {
            let port = rand::rng().random_range(self.node_port_first..=self.node_port_last);
            if self.reserve(store, &node_port_key(port), node_port_value(owner), dry_run, allocation).await? {
                return Ok(port);
            }
        }
        for port in self.node_port_first..=self.node_port_last {
            if self.reserve(store, &node_port_key(port), node_port_value(owner), dry_run, allocation).await? {
                return Ok(port);
            }
        }
        Err(ApiError::internal("failed to allocate a nodePort: range is full"))
    }

    async fn allocate_random_ip(
        &self,
        store: &Store,
        owner: &(String, String),
        dry_run: bool,
        allocation: &mut Allocation,
    ) -> Result<Ipv4Addr, ApiError> {
        let base = u32::from(self.cluster_ip_range.network());
        let size = 1u64 << (32 - self.cluster_ip_range.prefix_len());
        // Offsets 0 and size-1 are the network and broadcast addresses; 1 is reserved for `kubernetes`.
        let (first, last) = (2u64, size.saturating_sub(2));
        if first > last {
            return Err(ApiError::internal("failed to allocate a serviceIP: range is full"));
        }
        for _ in 0..RANDOM_ALLOCATION_ATTEMPTS_MAX {
            let ip = Ipv4Addr::from(base + rand::rng().random_range(first..=last) as u32);
            if self.reserve(store, &ip_key(ip), ip_address_object(ip, owner), dry_run, allocation).await? {
                return Ok(ip);
            }
        }
        for offset in first..=last.min(first + SCAN_ADDRESSES_MAX) {
            let ip = Ipv4Addr::from(base + offset as u32);
            if self.reserve(store, &ip_key(ip), ip_address_object(ip, owner), dry_run, allocation).await? {
                return Ok(ip);
            }
        }
        Err(ApiError::internal("failed to allocate a serviceIP: range is full"))
    }

    async fn allocate_ip(
        &self,
        store: &Store,
        ip: Ipv4Addr,
        owner: &(String, String),
        dry_run: bool,
        allocation: &mut Allocation,
    ) -> Result<(), ApiError> {
        if !self.cluster_ip_range.contains(&ip) || ip == self.cluster_ip_range.network() || ip == self.cluster_ip_range.broadcast() {
            let detail = format!(
                "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                self.cluster_ip_range
            );
            return Err(cluster_ip_invalid(&owner.1, &ip.to_string(), &detail));
        }
        if !self.reserve(store, &ip_key(ip), ip_address_object(ip, owner), dry_run, allocation).await? {
            return Err(cluster_ip_invalid(
                &owner.1,
                &ip.to_string(),
                &format!("failed to allocate IP {ip}: provided IP is already allocated"),
            ));
        }
        Ok(())
    }

    /// Creates a reservation key; false when someone holds it. A dry run only checks.
    async fn reserve(&self, store: &Store, key: &str, value: Value, dry_run: bool, allocation: &mut Allocation) -> Result<bool, ApiError> {
        if dry_run {
            return Ok(store.backend.get(key).await.map_err(storage_error)?.is_none());
        }
        match store.backend.create(key, serde_json::to_vec(&value).expect("JSON serializes")).await {
            Ok(_) => {
                allocation.reserved_keys.push(key.to_string());
                Ok(true)
            }
            Err(StorageError::AlreadyExists(_)) => Ok(false),
            Err(other) => Err(storage_error(other)),
        }
    }
}

async fn release_key(store: &Store, key: &str) {
    if let Err(error) = store.backend.delete(key, None).await {
        if !matches!(error, StorageError::NotFound(_)) {
            tracing::warn!(key, %error, "could not release a service address; it stays reserved");
        }
    }
}

fn is_core_service(desc: &ResourceDesc) -> bool {
    desc.group.is_empty() && desc.kind == "Service"
}

fn cluster_ip(service: &Value) -> Option<Ipv4Addr> {
    service.pointer("/spec/clusterIP").and_then(Value::as_str).and_then(|ip| ip.parse().ok())
}

fn node_ports(service: &Value) -> Vec<u16> {
    let ports = service.pointer("/spec/ports").and_then(Value::as_array);
    ports
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
                .filter_map(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0)
                .collect()
        })
        .unwrap_or_default()
}

fn ip_key(ip: Ipv4Addr) -> String {
    let desc = registry::find("networking.k8s.io", "v1", "ipaddresses").expect("ipaddresses are always served");
    object_key(desc, None, &ip.to_string())
}

fn node_port_key(port: u16) -> String {
    format!("{NODE_PORT_KEY_PREFIX}{port}")
}

fn node_port_value(owner: &(String, String)) -> Value {
    json!({"namespace": owner.0, "name": owner.1})
}

fn ip_address_object(ip: Ipv4Addr, owner: &(String, String)) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IPAddress",
        "metadata": {
            "name": ip.to_string(),
            "uid": uuid::Uuid::new_v4().to_string(),
            "creationTimestamp": object::now_timestamp(),
            "labels": {"ipaddress.kubernetes.io/ip-family": "IPv4", "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"},
        },
        "spec": {"parentRef": {"group": "", "resource": "services", "namespace": owner.0, "name": owner.1}},
    })
}

fn cluster_ip_invalid(service: &str, ip: &str, detail: &str) -> ApiError {
    let error = FieldError::invalid("spec.clusterIPs", json!([ip]), detail);
    ApiError::invalid("", "Service", service, vec![error])
}

fn node_port_invalid(service: &str, index: usize, port: u64, detail: &str) -> ApiError {
    let error = FieldError::invalid(format!("spec.ports[{index}].nodePort"), json!(port), detail);
    ApiError::invalid("", "Service", service, vec![error])
}
