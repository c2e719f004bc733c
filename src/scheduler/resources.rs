//! Resource quantities and requests as the scheduler counts them: parsing quantities (`100m`, `128Mi`, `2e3`)
//! exactly, a pod's effective request (upstream `PodRequests`: the sum of its containers, raised to any init
//! container's need, with restartable "sidecar" init containers running alongside, pod-level requests taking
//! over, plus overhead), the "non-zero" request the scoring uses for containers that request nothing, and a
//! node's `status.allocatable`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// What upstream assumes a container without a cpu request uses when spreading load (`DefaultMilliCPURequest`).
const DEFAULT_MILLI_CPU_REQUEST: i128 = 100;
/// What upstream assumes a container without a memory request uses, in thousandths of a byte (200 MiB).
const DEFAULT_MEMORY_REQUEST_MILLIS: i128 = 200 * 1024 * 1024 * 1000;

/// Parses a Kubernetes quantity into thousandths of its unit, rounded up as upstream `MilliValue` does:
/// `100m` → 100, `1.5` → 1500, `128Mi` → 134217728000, `2e3` → 2000000. `None` for text that is not a quantity
/// or whose value does not fit.
pub fn parse_quantity_milli(text: &str) -> Option<i128> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let number_len = unsigned.bytes().take_while(|c| c.is_ascii_digit() || *c == b'.').count();
    let (number, suffix) = unsigned.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
        return None;
    }
    let mut mantissa: i128 = 0;
    for digit in whole.bytes().chain(fraction.bytes()).skip_while(|c| *c == b'0') {
        mantissa = mantissa.checked_mul(10)?.checked_add(i128::from(digit - b'0'))?;
    }
    let (decimal_exponent, binary_power) = suffix_scale(suffix)?;
    let scaled = mantissa.checked_mul(1024i128.checked_pow(binary_power)?)?;
    // Thousandths: three more decimal places than the unit, minus the digits written after the point.
    let exponent = i64::from(decimal_exponent) + 3 - i64::try_from(fraction.len()).ok()?;
    let magnitude = if exponent >= 0 {
        scaled.checked_mul(10i128.checked_pow(u32::try_from(exponent).ok()?)?)?
    } else {
        match 10i128.checked_pow(u32::try_from(-exponent).ok()?) {
            // Rounding up toward positive infinity: away from zero for positive values only.
            Some(divisor) if negative => scaled / divisor,
            Some(divisor) => scaled / divisor + i128::from(scaled % divisor != 0),
            None => i128::from(!negative && scaled != 0),
        }
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// The power of ten and the power of 1024 a quantity suffix stands for.
fn suffix_scale(suffix: &str) -> Option<(i32, u32)> {
    let scale = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 1),
        "Mi" => (0, 2),
        "Gi" => (0, 3),
        "Ti" => (0, 4),
        "Pi" => (0, 5),
        "Ei" => (0, 6),
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) || digits.len() > 3 {
                return None;
            }
            (exponent.parse().ok()?, 0)
        }
    };
    Some(scale)
}

/// Whole units from thousandths, rounded up (upstream `Quantity.Value`), saturated to `i64`.
fn whole_units(millis: i128) -> i64 {
    saturate(millis.div_euclid(1000) + i128::from(millis.rem_euclid(1000) != 0))
}

fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// Resources the scheduler compares: cpu in thousandths of a core, the rest in whole units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Resources {
    pub(crate) milli_cpu: i64,
    pub(crate) memory_bytes: i64,
    pub(crate) ephemeral_storage_bytes: i64,
    /// Extended resources (`example.com/gpu`) and hugepages, in whole units.
    pub(crate) scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// Reads a resource list as upstream `NewResource` does; other names (`pods`, `storage`, …) are left out.
    fn from_millis(list: &BTreeMap<String, i128>) -> Self {
        let mut resources = Resources::default();
        for (name, &millis) in list {
            match name.as_str() {
                "cpu" => resources.milli_cpu = saturate(millis),
                "memory" => resources.memory_bytes = whole_units(millis),
                "ephemeral-storage" => resources.ephemeral_storage_bytes = whole_units(millis),
                other if is_scalar_resource(other) => {
                    resources.scalar.insert(other.to_string(), whole_units(millis));
                }
                _ => {}
            }
        }
        resources
    }

    pub(crate) fn add(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory_bytes = self.memory_bytes.saturating_add(other.memory_bytes);
        self.ephemeral_storage_bytes = self.ephemeral_storage_bytes.saturating_add(other.ephemeral_storage_bytes);
        for (name, value) in &other.scalar {
            let total = self.scalar.entry(name.clone()).or_default();
            *total = total.saturating_add(*value);
        }
    }

    pub(crate) fn subtract(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory_bytes = self.memory_bytes.saturating_sub(other.memory_bytes);
        self.ephemeral_storage_bytes = self.ephemeral_storage_bytes.saturating_sub(other.ephemeral_storage_bytes);
        for (name, value) in &other.scalar {
            if let Some(total) = self.scalar.get_mut(name) {
                *total = total.saturating_sub(*value);
                if *total == 0 {
                    self.scalar.remove(name);
                }
            }
        }
    }
}

/// Extended resources (a domain-prefixed name outside `kubernetes.io/`), hugepages and attachable volumes: the
/// names upstream checks beyond cpu, memory and ephemeral storage (`IsScalarResourceName`).
fn is_scalar_resource(name: &str) -> bool {
    let extended = name.contains('/') && !name.contains("kubernetes.io/") && !name.starts_with("requests.");
    extended || name.starts_with("hugepages-") || name.starts_with("attachable-volumes-")
}

/// Pod-level requests cover cpu, memory and hugepages only (upstream `IsSupportedPodLevelResource`).
fn is_pod_level_resource(name: &str) -> bool {
    name == "cpu" || name == "memory" || name.starts_with("hugepages-")
}

/// What a pod takes from its node: the request the fit filter checks, and the cpu and memory the scoring counts
/// (where a container that requests nothing still counts as 100m and 200Mi).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PodUsage {
    pub(crate) requests: Resources,
    pub(crate) nonzero_milli_cpu: i64,
    pub(crate) nonzero_memory_bytes: i64,
}

impl PodUsage {
    pub(crate) fn of(pod: &Pod) -> Self {
        let requests = pod_requests_millis(pod, MissingDefaults::NONE);
        let pod_level_set = pod_level_requests(pod).is_some_and(|levels| levels.keys().any(|name| is_pod_level_resource(name)));
        // With pod-level requests, a default only stands in for a resource nothing at all requests.
        let defaults = if pod_level_set {
            MissingDefaults { cpu: !requests.contains_key("cpu"), memory: !requests.contains_key("memory") }
        } else {
            MissingDefaults { cpu: true, memory: true }
        };
        let nonzero = pod_requests_millis(pod, defaults);
        PodUsage {
            requests: Resources::from_millis(&requests),
            nonzero_milli_cpu: saturate(nonzero.get("cpu").copied().unwrap_or(0)),
            nonzero_memory_bytes: whole_units(nonzero.get("memory").copied().unwrap_or(0)),
        }
    }
}

/// Which of cpu and memory get upstream's default when a container leaves them out.
#[derive(Clone, Copy)]
struct MissingDefaults {
    cpu: bool,
    memory: bool,
}

impl MissingDefaults {
    const NONE: MissingDefaults = MissingDefaults { cpu: false, memory: false };
}

fn pod_level_requests(pod: &Pod) -> Option<&BTreeMap<String, Quantity>> {
    pod.spec.as_ref()?.resources.as_ref()?.requests.as_ref()
}

/// Upstream `PodRequests` in thousandths per resource name.
fn pod_requests_millis(pod: &Pod, defaults: MissingDefaults) -> BTreeMap<String, i128> {
    let mut total = BTreeMap::new();
    let Some(spec) = pod.spec.as_ref() else { return total };
    for container in &spec.containers {
        add_into(&mut total, &container_requests(container, defaults));
    }
    // Init containers run one after another, each next to the sidecars started before it; sidecars keep running
    // with the regular containers, so they also add to the total.
    let mut sidecars = BTreeMap::new();
    let mut init_peak = BTreeMap::new();
    for container in spec.init_containers.iter().flatten() {
        let requests = container_requests(container, defaults);
        if container.restart_policy.as_deref() == Some("Always") {
            add_into(&mut total, &requests);
            add_into(&mut sidecars, &requests);
            max_into(&mut init_peak, &sidecars);
        } else {
            let mut running = requests;
            add_into(&mut running, &sidecars);
            max_into(&mut init_peak, &running);
        }
    }
    max_into(&mut total, &init_peak);
    for (name, quantity) in pod_level_requests(pod).into_iter().flatten() {
        if let (true, Some(millis)) = (is_pod_level_resource(name), parse_quantity_milli(&quantity.0)) {
            total.insert(name.clone(), millis);
        }
    }
    add_into(&mut total, &quantities_millis(spec.overhead.as_ref()));
    total
}

fn container_requests(container: &Container, defaults: MissingDefaults) -> BTreeMap<String, i128> {
    let mut requests = quantities_millis(container.resources.as_ref().and_then(|resources| resources.requests.as_ref()));
    if defaults.cpu {
        requests.entry("cpu".to_string()).or_insert(DEFAULT_MILLI_CPU_REQUEST);
    }
    if defaults.memory {
        requests.entry("memory".to_string()).or_insert(DEFAULT_MEMORY_REQUEST_MILLIS);
    }
    requests
}

/// A resource list in thousandths; entries that are not quantities (refused by the API server) are left out.
fn quantities_millis(list: Option<&BTreeMap<String, Quantity>>) -> BTreeMap<String, i128> {
    list.into_iter().flatten().filter_map(|(name, quantity)| Some((name.clone(), parse_quantity_milli(&quantity.0)?))).collect()
}

fn add_into(total: &mut BTreeMap<String, i128>, more: &BTreeMap<String, i128>) {
    for (name, value) in more {
        let entry = total.entry(name.clone()).or_default();
        *entry = entry.saturating_add(*value);
    }
}

fn max_into(peak: &mut BTreeMap<String, i128>, candidate: &BTreeMap<String, i128>) {
    for (name, value) in candidate {
        let entry = peak.entry(name.clone()).or_insert(*value);
        *entry = (*entry).max(*value);
    }
}

/// A node's `status.allocatable` and how many pods it takes (`allocatable.pods`; none listed means none fit, as
/// upstream reads it).
pub(crate) fn node_allocatable(node: &Node) -> (Resources, i64) {
    let list = quantities_millis(node.status.as_ref().and_then(|status| status.allocatable.as_ref()));
    let pods = list.get("pods").map_or(0, |millis| whole_units(*millis));
    (Resources::from_millis(&list), pods)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeStatus, PodSpec, ResourceRequirements};

    fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
        pairs.iter().map(|(name, value)| (name.to_string(), Quantity(value.to_string()))).collect()
    }

    fn container(requests: &[(&str, &str)], sidecar: bool) -> Container {
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements { requests: Some(quantities(requests)), ..Default::default() }),
            restart_policy: sidecar.then(|| "Always".to_string()),
            ..Default::default()
        }
    }

    fn pod(containers: Vec<Container>, init: Vec<Container>) -> Pod {
        Pod { spec: Some(PodSpec { containers, init_containers: Some(init), ..Default::default() }), ..Default::default() }
    }

    #[test]
    fn quantities_parse_exactly_into_thousandths() {
        assert_eq!(parse_quantity_milli("100m"), Some(100));
        assert_eq!(parse_quantity_milli("1.5"), Some(1500));
        assert_eq!(parse_quantity_milli("2"), Some(2000));
        assert_eq!(parse_quantity_milli("128Mi"), Some(128 * 1024 * 1024 * 1000));
        assert_eq!(parse_quantity_milli("1G"), Some(1_000_000_000_000));
        assert_eq!(parse_quantity_milli("1Ki"), Some(1_024_000));
        assert_eq!(parse_quantity_milli("2e3"), Some(2_000_000));
        assert_eq!(parse_quantity_milli("1E3"), Some(1_000_000));
        assert_eq!(parse_quantity_milli("1E"), Some(1_000_000_000_000_000_000_000));
        assert_eq!(parse_quantity_milli("5e-3"), Some(5));
        assert_eq!(parse_quantity_milli(".5"), Some(500));
        assert_eq!(parse_quantity_milli("0.5Gi"), Some(512 * 1024 * 1024 * 1000));
        assert_eq!(parse_quantity_milli("+3k"), Some(3_000_000));
        assert_eq!(parse_quantity_milli("-250m"), Some(-250));
        assert_eq!(parse_quantity_milli("0"), Some(0));
    }

    #[test]
    fn fractions_below_a_thousandth_round_up() {
        assert_eq!(parse_quantity_milli("0.1m"), Some(1));
        assert_eq!(parse_quantity_milli("1n"), Some(1));
        assert_eq!(parse_quantity_milli("1500u"), Some(2));
        assert_eq!(parse_quantity_milli("0.0000000000000000000000000000000000000000001"), Some(1));
    }

    #[test]
    fn text_that_is_not_a_quantity_is_refused() {
        for text in [
            "",
            "abc",
            "1.2.3",
            ".",
            "Ki",
            "1 Ki",
            "1KiB",
            "1e",
            "1e+",
            "1ki",
            "--1",
            "1e9999",
            "99999999999999999999999999999999999999999Ei",
        ] {
            assert_eq!(parse_quantity_milli(text), None, "{text:?}");
        }
    }

    #[test]
    fn requests_are_the_sum_of_containers_raised_to_the_largest_init_container() {
        let pod = pod(
            vec![container(&[("cpu", "2"), ("memory", "1G")], false), container(&[("cpu", "1"), ("memory", "1G")], false)],
            vec![container(&[("cpu", "2"), ("memory", "1G")], false), container(&[("cpu", "2"), ("memory", "3G")], false)],
        );
        let usage = PodUsage::of(&pod);
        assert_eq!(usage.requests.milli_cpu, 3000);
        assert_eq!(usage.requests.memory_bytes, 3_000_000_000);
    }

    #[test]
    fn sidecars_run_alongside_both_later_init_containers_and_the_app() {
        // Sidecar 1 cpu, then an init container of 2 cpu (needs 3 with the sidecar), then 1 cpu of app + sidecar = 2.
        let pod = pod(vec![container(&[("cpu", "1")], false)], vec![container(&[("cpu", "1")], true), container(&[("cpu", "2")], false)]);
        assert_eq!(PodUsage::of(&pod).requests.milli_cpu, 3000);
        let small_init = Pod {
            spec: Some(PodSpec {
                containers: vec![container(&[("cpu", "2")], false)],
                init_containers: Some(vec![container(&[("cpu", "500m")], true), container(&[("cpu", "1")], false)]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(PodUsage::of(&small_init).requests.milli_cpu, 2500);
    }

    #[test]
    fn overhead_adds_and_pod_level_requests_take_over() {
        let mut pod = pod(vec![container(&[("cpu", "1"), ("memory", "1Gi"), ("example.com/gpu", "2")], false)], vec![]);
        let spec = pod.spec.as_mut().expect("spec");
        spec.overhead = Some(quantities(&[("cpu", "250m"), ("memory", "64Mi")]));
        spec.resources = Some(ResourceRequirements { requests: Some(quantities(&[("cpu", "3")])), ..Default::default() });
        let usage = PodUsage::of(&pod);
        assert_eq!(usage.requests.milli_cpu, 3250);
        assert_eq!(usage.requests.memory_bytes, (1024 + 64) * 1024 * 1024);
        assert_eq!(usage.requests.scalar.get("example.com/gpu"), Some(&2));
    }

    #[test]
    fn containers_without_requests_count_as_upstream_defaults_for_scoring_only() {
        let pod = pod(vec![container(&[], false), container(&[("cpu", "300m")], false)], vec![]);
        let usage = PodUsage::of(&pod);
        assert_eq!(usage.requests.milli_cpu, 300);
        assert_eq!(usage.requests.memory_bytes, 0);
        assert_eq!(usage.nonzero_milli_cpu, 400);
        assert_eq!(usage.nonzero_memory_bytes, 2 * 200 * 1024 * 1024);
    }

    #[test]
    fn allocatable_reads_every_checked_resource_and_the_pod_count() {
        let node = Node {
            status: Some(NodeStatus {
                allocatable: Some(quantities(&[
                    ("cpu", "3500m"),
                    ("memory", "7Gi"),
                    ("ephemeral-storage", "10G"),
                    ("pods", "110"),
                    ("hugepages-2Mi", "0"),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (allocatable, pods) = node_allocatable(&node);
        assert_eq!(
            (allocatable.milli_cpu, allocatable.memory_bytes, allocatable.ephemeral_storage_bytes, pods),
            (3500, 7 << 30, 10_000_000_000, 110)
        );
        assert_eq!(allocatable.scalar.get("hugepages-2Mi"), Some(&0));
        assert_eq!(node_allocatable(&Node::default()).1, 0);
    }
}
