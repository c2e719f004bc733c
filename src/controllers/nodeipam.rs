//! Pod address ranges for nodes, as upstream's node IPAM controller with the range allocator: the cluster CIDR is cut
//! into per-node blocks (a `/24` each out of `10.42.0.0/16` by default), each node without `spec.podCIDR` gets the
//! next free block once (the fields are immutable afterwards), blocks of deleted nodes return to the pool, and a full
//! range is reported with upstream's `CIDRNotAvailable` Event. Single-stack: one cluster CIDR.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use serde_json::json;

/// The default `--cluster-cidr`.
pub const DEFAULT_CLUSTER_CIDR: &str = "10.42.0.0/16";
/// The default `--node-cidr-mask-size` for an IPv4 cluster CIDR.
pub const DEFAULT_NODE_CIDR_MASK_SIZE_IPV4: u8 = 24;
/// The default `--node-cidr-mask-size` for an IPv6 cluster CIDR.
pub const DEFAULT_NODE_CIDR_MASK_SIZE_IPV6: u8 = 64;

/// Upstream refuses IPv6 node blocks more than 16 bits longer than the cluster prefix (its bitmap is uncompressed);
/// the same bound on IPv4 would forbid real setups, so IPv4 gets 24 bits (a 2 MiB bitmap at most).
const MAX_PREFIX_DIFFERENCE_IPV6: u8 = 16;
const MAX_PREFIX_DIFFERENCE_IPV4: u8 = 24;

/// Why a range cannot be set up, occupied or released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrError {
    /// A CIDR string that does not parse.
    Invalid(String),
    /// The node mask is shorter than the cluster prefix, or longer than the address.
    BadNodeMask { cluster_cidr: IpNet, node_mask_size: u8 },
    /// Too many node blocks for the allocator's bitmap.
    TooManyBlocks { cluster_cidr: IpNet, node_mask_size: u8 },
    /// The CIDR does not overlap the cluster CIDR (or is of the other family).
    OutOfRange { cidr: IpNet, cluster_cidr: IpNet },
    /// A node lists more podCIDRs than there are cluster CIDRs (this allocator handles one).
    ExtraPodCidr { node: String, cidr: String },
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::Invalid(cidr) => write!(f, "invalid CIDR address: {cidr}"),
            CidrError::BadNodeMask { cluster_cidr, node_mask_size } => {
                write!(f, "node CIDR mask size {node_mask_size} does not fit cluster CIDR {cluster_cidr}")
            }
            CidrError::TooManyBlocks { cluster_cidr, node_mask_size } => {
                write!(f, "New CIDR set failed; the node CIDR size {node_mask_size} is too big for cluster CIDR {cluster_cidr}")
            }
            CidrError::OutOfRange { cidr, cluster_cidr } => write!(f, "cidr {cidr} is out the range of cluster cidr {cluster_cidr}"),
            CidrError::ExtraPodCidr { node, cidr } => {
                write!(f, "node:{node} has an allocated cidr: {cidr} at index:1 that does not exist in cluster cidrs configuration")
            }
        }
    }
}

impl std::error::Error for CidrError {}

/// Parses a CIDR string, keeping only its network part as Go's `ParseCIDR` does (`10.42.1.7/16` is `10.42.0.0/16`).
pub fn parse_cidr(cidr: &str) -> Result<IpNet, CidrError> {
    cidr.trim().parse::<IpNet>().map(|net| net.trunc()).map_err(|_| CidrError::Invalid(cidr.to_string()))
}

/// Upstream's `CidrSet`: the node blocks of one cluster CIDR as a bitmap, handed out round-robin from after the last
/// block given out.
#[derive(Debug, Clone)]
pub struct PodCidrAllocator {
    cluster_cidr: IpNet,
    node_mask_size: u8,
    block_count: u64,
    used: Vec<u64>,
    used_count: u64,
    next_candidate: u64,
}

impl PodCidrAllocator {
    /// An allocator of `/node_mask_size` blocks out of `cluster_cidr`.
    pub fn new(cluster_cidr: IpNet, node_mask_size: u8) -> Result<Self, CidrError> {
        let cluster_cidr = cluster_cidr.trunc();
        let cluster_prefix = cluster_cidr.prefix_len();
        if node_mask_size < cluster_prefix || node_mask_size > cluster_cidr.max_prefix_len() {
            return Err(CidrError::BadNodeMask { cluster_cidr, node_mask_size });
        }
        let limit = if cluster_cidr.addr().is_ipv6() { MAX_PREFIX_DIFFERENCE_IPV6 } else { MAX_PREFIX_DIFFERENCE_IPV4 };
        if node_mask_size - cluster_prefix > limit {
            return Err(CidrError::TooManyBlocks { cluster_cidr, node_mask_size });
        }
        let block_count = 1u64 << (node_mask_size - cluster_prefix);
        let words = usize::try_from(block_count.div_ceil(64)).map_err(|_| CidrError::TooManyBlocks { cluster_cidr, node_mask_size })?;
        Ok(PodCidrAllocator { cluster_cidr, node_mask_size, block_count, used: vec![0; words], used_count: 0, next_candidate: 0 })
    }

    /// The cluster CIDR blocks are cut from.
    pub fn cluster_cidr(&self) -> IpNet {
        self.cluster_cidr
    }

    /// How many blocks the cluster CIDR holds.
    pub fn capacity(&self) -> u64 {
        self.block_count
    }

    /// How many blocks are in use.
    pub fn used(&self) -> u64 {
        self.used_count
    }

    /// Marks the blocks `cidr` covers as used (a node's existing podCIDR, or a reserved range); occupying a used
    /// block again is fine.
    pub fn occupy(&mut self, cidr: IpNet) -> Result<(), CidrError> {
        let (first, last) = self.block_range(cidr)?;
        for index in first..=last {
            self.set(index, true);
        }
        Ok(())
    }

    /// Returns the blocks `cidr` covers to the pool.
    pub fn release(&mut self, cidr: IpNet) -> Result<(), CidrError> {
        let (first, last) = self.block_range(cidr)?;
        for index in first..=last {
            self.set(index, false);
        }
        Ok(())
    }

    /// The next free block, marked used; None when every block is taken.
    pub fn allocate(&mut self) -> Option<IpNet> {
        if self.used_count == self.block_count {
            return None;
        }
        let mut candidate = self.next_candidate;
        while self.is_used(candidate) {
            candidate = (candidate + 1) % self.block_count;
        }
        self.next_candidate = (candidate + 1) % self.block_count;
        self.set(candidate, true);
        Some(self.block(candidate))
    }

    fn host_bits(&self) -> u8 {
        self.cluster_cidr.max_prefix_len() - self.node_mask_size
    }

    fn block(&self, index: u64) -> IpNet {
        let base = address_bits(self.cluster_cidr.network()) | (u128::from(index) << self.host_bits());
        let address = match self.cluster_cidr {
            // The value fits: IPv4 blocks stay within the 32-bit cluster range.
            IpNet::V4(_) => IpAddr::from(std::net::Ipv4Addr::from(base as u32)),
            IpNet::V6(_) => IpAddr::from(std::net::Ipv6Addr::from(base)),
        };
        // The prefix is at most the address length, checked in `new`.
        IpNet::new(address, self.node_mask_size).unwrap_or(self.cluster_cidr)
    }

    fn index_of(&self, address: IpAddr) -> Option<u64> {
        let offset = (address_bits(address) ^ address_bits(self.cluster_cidr.network())) >> self.host_bits();
        u64::try_from(offset).ok().filter(|index| *index < self.block_count)
    }

    /// Upstream `getBeginningAndEndIndices`: a CIDR inside the cluster covers the blocks from the one holding its
    /// first address to the one holding its last; one as large as the cluster CIDR (or larger) covers them all.
    fn block_range(&self, cidr: IpNet) -> Result<(u64, u64), CidrError> {
        let out_of_range = CidrError::OutOfRange { cidr, cluster_cidr: self.cluster_cidr };
        let same_family = cidr.addr().is_ipv6() == self.cluster_cidr.addr().is_ipv6();
        if !same_family || !(self.cluster_cidr.contains(&cidr.network()) || cidr.contains(&self.cluster_cidr.network())) {
            return Err(out_of_range);
        }
        if cidr.prefix_len() <= self.cluster_cidr.prefix_len() {
            return Ok((0, self.block_count - 1));
        }
        match (self.index_of(cidr.network()), self.index_of(cidr.broadcast())) {
            (Some(first), Some(last)) => Ok((first, last)),
            _ => Err(out_of_range),
        }
    }

    fn is_used(&self, index: u64) -> bool {
        self.used[(index / 64) as usize] & (1 << (index % 64)) != 0
    }

    fn set(&mut self, index: u64, used: bool) {
        if self.is_used(index) == used {
            return;
        }
        let word = &mut self.used[(index / 64) as usize];
        *word ^= 1 << (index % 64);
        if used {
            self.used_count += 1;
        } else {
            self.used_count -= 1;
        }
    }
}

fn address_bits(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// An Event about a node (`type` Normal unless said otherwise), for the glue to record with source component
/// `cidrAllocator`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    pub node_name: String,
    pub node_uid: String,
    pub type_: &'static str,
    pub reason: &'static str,
    pub message: String,
}

impl NodeEvent {
    /// Upstream `RecordNodeStatusChange`: reason `status`, message `Node <name> status is now: <status>`.
    fn status_change(node: &Node, status: &'static str) -> Self {
        let name = node.metadata.name.clone().unwrap_or_default();
        NodeEvent {
            message: format!("Node {name} status is now: {status}"),
            node_name: name,
            node_uid: node.metadata.uid.clone().unwrap_or_default(),
            type_: "Normal",
            reason: status,
        }
    }
}

/// What to do for one node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeCidrAction {
    /// Nothing: the node has its range (now marked used) or an assignment is already on its way.
    None,
    /// Patch the node (strategic merge or merge patch, `patch`) with this range; report the outcome with
    /// `NodeIpam::assignment_failed` when the patch keeps failing.
    Assign { node_name: String, cidr: IpNet, patch: serde_json::Value },
    /// The range is full: record the Event and retry the node later (upstream retries on the next node update).
    NotAvailable(NodeEvent),
}

/// Upstream's range allocator around `PodCidrAllocator`: which node gets which block, remembering assignments that are
/// sent but not yet seen on the node so that a node never gets two.
#[derive(Debug, Clone)]
pub struct NodeIpam {
    allocator: PodCidrAllocator,
    pending: HashMap<String, IpNet>,
}

impl NodeIpam {
    /// Sets up the allocator and occupies the ranges `existing_nodes` already hold (all nodes must be passed before
    /// any node is synced, as upstream does at start). A `service_cidr` overlapping the cluster CIDR is kept out of
    /// the pool.
    pub fn new(cluster_cidr: IpNet, node_mask_size: u8, service_cidr: Option<IpNet>, existing_nodes: &[Node]) -> Result<Self, CidrError> {
        let mut allocator = PodCidrAllocator::new(cluster_cidr, node_mask_size)?;
        if let Some(service_cidr) = service_cidr {
            // Upstream only logs a service range that does not overlap the cluster range.
            let _ = allocator.occupy(service_cidr);
        }
        let mut ipam = NodeIpam { allocator, pending: HashMap::new() };
        for node in existing_nodes {
            ipam.occupy_node(node)?;
        }
        Ok(ipam)
    }

    /// The allocator, for inspection.
    pub fn allocator(&self) -> &PodCidrAllocator {
        &self.allocator
    }

    /// Upstream `AllocateOrOccupyCIDR`, for a node added or updated: a node with podCIDRs has them marked used (an
    /// assignment of ours it did not take is given back); a node without gets the next free block.
    pub fn sync_node(&mut self, node: &Node) -> Result<NodeCidrAction, CidrError> {
        let name = node.metadata.name.clone().unwrap_or_default();
        if !node_pod_cidrs(node).is_empty() {
            let assigned = self.occupy_node(node)?;
            if let Some(pending) = self.pending.remove(&name) {
                if assigned != Some(pending) {
                    self.allocator.release(pending)?;
                }
            }
            return Ok(NodeCidrAction::None);
        }
        if self.pending.contains_key(&name) {
            return Ok(NodeCidrAction::None);
        }
        let Some(cidr) = self.allocator.allocate() else {
            return Ok(NodeCidrAction::NotAvailable(NodeEvent::status_change(node, "CIDRNotAvailable")));
        };
        self.pending.insert(name.clone(), cidr);
        Ok(NodeCidrAction::Assign { node_name: name, cidr, patch: pod_cidr_patch(cidr) })
    }

    /// The patch for `node_name` failed for good: its block goes back to the pool unless the failure was a timeout
    /// (the patch may have landed; upstream keeps the block then). Returns upstream's `CIDRAssignmentFailed` Event.
    pub fn assignment_failed(&mut self, node: &Node, timed_out: bool) -> Result<NodeEvent, CidrError> {
        let name = node.metadata.name.clone().unwrap_or_default();
        if let Some(cidr) = self.pending.remove(&name) {
            if !timed_out {
                self.allocator.release(cidr)?;
            }
        }
        Ok(NodeEvent::status_change(node, "CIDRAssignmentFailed"))
    }

    /// Upstream `ReleaseCIDR`, for a deleted node: its block (and any assignment on its way) returns to the pool.
    pub fn node_deleted(&mut self, node: &Node) -> Result<(), CidrError> {
        if let Some(cidr) = node.metadata.name.as_ref().and_then(|name| self.pending.remove(name)) {
            self.allocator.release(cidr)?;
        }
        for cidr in node_pod_cidrs(node).into_iter().take(1) {
            self.allocator.release(parse_cidr(cidr)?)?;
        }
        Ok(())
    }

    /// Marks the node's podCIDR used; returns it.
    fn occupy_node(&mut self, node: &Node) -> Result<Option<IpNet>, CidrError> {
        let cidrs = node_pod_cidrs(node);
        if let Some(extra) = cidrs.get(1) {
            return Err(CidrError::ExtraPodCidr { node: node.metadata.name.clone().unwrap_or_default(), cidr: extra.to_string() });
        }
        let Some(first) = cidrs.first() else { return Ok(None) };
        let cidr = parse_cidr(first)?;
        self.allocator.occupy(cidr)?;
        Ok(Some(cidr))
    }
}

/// `spec.podCIDRs`, or `spec.podCIDR` for nodes written without the list.
fn node_pod_cidrs(node: &Node) -> Vec<&str> {
    let Some(spec) = node.spec.as_ref() else { return Vec::new() };
    match spec.pod_cidrs.as_deref() {
        Some(cidrs) if !cidrs.is_empty() => cidrs.iter().map(String::as_str).collect(),
        _ => spec.pod_cidr.as_deref().filter(|cidr| !cidr.is_empty()).into_iter().collect(),
    }
}

/// Upstream `PatchNodeCIDRs`: both the single field and the list.
pub fn pod_cidr_patch(cidr: IpNet) -> serde_json::Value {
    json!({"spec": {"podCIDR": cidr.to_string(), "podCIDRs": [cidr.to_string()]}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> IpNet {
        parse_cidr(text).expect("cidr")
    }

    fn node(name: &str, pod_cidr: Option<&str>) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": format!("uid-{name}")},
            "spec": pod_cidr.map_or(json!({}), |cidr| json!({"podCIDR": cidr, "podCIDRs": [cidr]})),
        }))
        .expect("node")
    }

    #[test]
    fn blocks_are_handed_out_in_order_from_the_cluster_cidr() {
        let mut allocator = PodCidrAllocator::new(cidr(DEFAULT_CLUSTER_CIDR), DEFAULT_NODE_CIDR_MASK_SIZE_IPV4).expect("allocator");
        assert_eq!(allocator.capacity(), 256);
        assert_eq!(allocator.allocate(), Some(cidr("10.42.0.0/24")));
        assert_eq!(allocator.allocate(), Some(cidr("10.42.1.0/24")));
        assert_eq!(allocator.used(), 2);
    }

    #[test]
    fn occupied_blocks_are_skipped() {
        let mut allocator = PodCidrAllocator::new(cidr("10.42.0.0/16"), 24).expect("allocator");
        allocator.occupy(cidr("10.42.0.0/24")).expect("occupy");
        allocator.occupy(cidr("10.42.1.128/25")).expect("a smaller range takes its whole block");
        allocator.occupy(cidr("10.42.0.0/24")).expect("occupying twice is fine");
        assert_eq!(allocator.used(), 2);
        assert_eq!(allocator.allocate(), Some(cidr("10.42.2.0/24")));
        allocator.occupy(cidr("10.42.4.0/23")).expect("a larger range takes every block in it");
        assert_eq!(allocator.allocate(), Some(cidr("10.42.3.0/24")));
        assert_eq!(allocator.allocate(), Some(cidr("10.42.6.0/24")));
    }

    #[test]
    fn a_full_range_has_nothing_left_until_a_block_is_released() {
        let mut allocator = PodCidrAllocator::new(cidr("10.42.0.0/23"), 24).expect("allocator");
        let first = allocator.allocate().expect("first");
        let second = allocator.allocate().expect("second");
        assert_eq!(allocator.allocate(), None);
        allocator.release(first).expect("release");
        assert_eq!(allocator.allocate(), Some(first));
        assert_eq!(allocator.allocate(), None);
        allocator.release(second).expect("release");
        assert_eq!(allocator.allocate(), Some(second));
    }

    #[test]
    fn bad_masks_and_foreign_ranges_are_refused() {
        assert!(matches!(PodCidrAllocator::new(cidr("10.42.0.0/16"), 8), Err(CidrError::BadNodeMask { .. })));
        assert!(matches!(PodCidrAllocator::new(cidr("10.42.0.0/16"), 33), Err(CidrError::BadNodeMask { .. })));
        assert!(matches!(PodCidrAllocator::new(cidr("fd00::/48"), 80), Err(CidrError::TooManyBlocks { .. })));
        assert!(matches!(parse_cidr("10.42.0.0"), Err(CidrError::Invalid(_))));
        let mut allocator = PodCidrAllocator::new(cidr("10.42.0.0/16"), 24).expect("allocator");
        assert!(matches!(allocator.occupy(cidr("10.43.0.0/24")), Err(CidrError::OutOfRange { .. })));
        assert!(matches!(allocator.occupy(cidr("fd00::/64")), Err(CidrError::OutOfRange { .. })));
        allocator.occupy(cidr("10.0.0.0/8")).expect("a range holding the cluster CIDR takes it all");
        assert_eq!(allocator.allocate(), None);
    }

    #[test]
    fn ipv6_blocks_are_cut_the_same_way() {
        let mut allocator = PodCidrAllocator::new(cidr("fd00:10:244::/56"), DEFAULT_NODE_CIDR_MASK_SIZE_IPV6).expect("allocator");
        assert_eq!(allocator.allocate(), Some(cidr("fd00:10:244::/64")));
        assert_eq!(allocator.allocate(), Some(cidr("fd00:10:244:1::/64")));
    }

    #[test]
    fn a_node_gets_one_range_once_and_its_existing_range_is_respected() {
        let existing = [node("old", Some("10.42.0.0/24"))];
        let mut ipam = NodeIpam::new(cidr("10.42.0.0/16"), 24, None, &existing).expect("ipam");
        let fresh = node("fresh", None);
        let NodeCidrAction::Assign { node_name, cidr: assigned, patch } = ipam.sync_node(&fresh).expect("sync") else {
            panic!("expected an assignment")
        };
        assert_eq!((node_name.as_str(), assigned), ("fresh", cidr("10.42.1.0/24")));
        assert_eq!(patch, json!({"spec": {"podCIDR": "10.42.1.0/24", "podCIDRs": ["10.42.1.0/24"]}}));
        assert_eq!(ipam.sync_node(&fresh).expect("sync"), NodeCidrAction::None, "no second range while the first is on its way");
        assert_eq!(ipam.sync_node(&node("fresh", Some("10.42.1.0/24"))).expect("sync"), NodeCidrAction::None);
        assert_eq!(ipam.allocator().used(), 2);
    }

    #[test]
    fn a_full_range_is_reported_with_cidr_not_available() {
        let mut ipam = NodeIpam::new(cidr("10.42.0.0/24"), 24, None, &[node("only", Some("10.42.0.0/24"))]).expect("ipam");
        let NodeCidrAction::NotAvailable(event) = ipam.sync_node(&node("extra", None)).expect("sync") else { panic!("expected an event") };
        assert_eq!((event.reason, event.type_, event.node_uid.as_str()), ("CIDRNotAvailable", "Normal", "uid-extra"));
        assert_eq!(event.message, "Node extra status is now: CIDRNotAvailable");
    }

    #[test]
    fn ranges_of_deleted_nodes_and_failed_assignments_return_to_the_pool() {
        let mut ipam = NodeIpam::new(cidr("10.42.0.0/23"), 24, None, &[node("a", Some("10.42.0.0/24"))]).expect("ipam");
        ipam.node_deleted(&node("a", Some("10.42.0.0/24"))).expect("delete");
        assert_eq!(ipam.allocator().used(), 0);
        let b = node("b", None);
        assert!(matches!(ipam.sync_node(&b).expect("sync"), NodeCidrAction::Assign { .. }));
        let event = ipam.assignment_failed(&b, false).expect("failed");
        assert_eq!(event.reason, "CIDRAssignmentFailed");
        assert_eq!(ipam.allocator().used(), 0);
        assert!(matches!(ipam.sync_node(&b).expect("sync"), NodeCidrAction::Assign { .. }));
        ipam.assignment_failed(&b, true).expect("timed out");
        assert_eq!(ipam.allocator().used(), 1, "after a timeout the range may be the node's, so it stays taken");
    }

    #[test]
    fn an_assignment_the_node_did_not_take_is_given_back() {
        let mut ipam = NodeIpam::new(cidr("10.42.0.0/16"), 24, None, &[]).expect("ipam");
        assert!(matches!(ipam.sync_node(&node("a", None)).expect("sync"), NodeCidrAction::Assign { .. }));
        ipam.sync_node(&node("a", Some("10.42.7.0/24"))).expect("someone else set it");
        assert_eq!(ipam.allocator().used(), 1);
        assert_eq!(ipam.allocator().clone().allocate(), Some(cidr("10.42.1.0/24")));
    }

    #[test]
    fn an_overlapping_service_range_is_kept_out_of_the_pool() {
        let mut ipam = NodeIpam::new(cidr("10.42.0.0/22"), 24, Some(cidr("10.42.0.0/24")), &[]).expect("ipam");
        let NodeCidrAction::Assign { cidr: assigned, .. } = ipam.sync_node(&node("a", None)).expect("sync") else { panic!("assign") };
        assert_eq!(assigned, cidr("10.42.1.0/24"));
        assert!(NodeIpam::new(cidr("10.42.0.0/16"), 24, Some(cidr("10.43.0.0/16")), &[]).is_ok(), "a disjoint one is ignored");
    }

    #[test]
    fn nodes_with_ranges_outside_the_cluster_cidr_are_an_error() {
        let result = NodeIpam::new(cidr("10.42.0.0/16"), 24, None, &[node("a", Some("192.168.0.0/24"))]);
        assert!(matches!(result, Err(CidrError::OutOfRange { .. })));
    }
}
