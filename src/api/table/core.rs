//! Table printers and selectable fields of the core (`v1`) kinds: pods, services, replication controllers,
//! nodes, namespaces, events, config maps, secrets, endpoints, service accounts, persistent volumes and
//! claims. Columns, cell formats and field values follow upstream's `pkg/printers/internalversion` and each
//! kind's `ToSelectableFields`, reading the `v1` JSON the way upstream's v1-to-internal conversion would
//! (absent fields are Go zero values). The server always renders the `-o wide` cells, as upstream does.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{json, Value};

use super::format::{
    age, column, condition_is_true, container_cells, format_labels, human_duration, int, is_deleting, list, map_len, name, or_none, since,
    text, timestamp, wide, AGE_COLUMN, CONTAINERS_DESCRIPTION, IMAGES_DESCRIPTION, NAME_COLUMN,
};
use crate::api::registry::Column;

// ---- pods ----

pub const POD_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    column("Status", "string", "The aggregate status of the containers in this pod."),
    column(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last \
            container in this pod has restarted.",
    ),
    AGE_COLUMN,
    wide(column(
        "IP",
        "string",
        "podIP address allocated to the pod. Routable at least within the \
        cluster. Empty if not yet allocated.",
    )),
    wide(column(
        "Node",
        "string",
        "NodeName indicates in which node this pod is scheduled. If \
        empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. \
        Once this field is set, the kubelet for this node becomes responsible for the lifecycle of \
        this pod. This field should not be used to express a desire for the pod to be scheduled on \
        a specific node. \
        https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
    )),
    wide(column(
        "Nominated Node",
        "string",
        "nominatedNodeName is set only when this pod preempts \
        other pods on the node, but it cannot be scheduled right away as preemption victims \
        receive their graceful termination periods. This field does not guarantee that the pod \
        will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other \
        nodes become available sooner. Scheduler may also decide to give the resources on this \
        node to a higher priority pod that is created after preemption. As a result, this field \
        may be different than PodSpec.nodeName when the pod is scheduled.",
    )),
    wide(column(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated \
        for pod readiness. A pod is ready when all its containers are ready AND all conditions \
        specified in the readiness gates have status equal to \"True\" More info: \
        https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
    )),
];

pub fn pod_cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let phase = text(pod, "/status/phase");
    let mut reason = match text(pod, "/status/reason") {
        "" => phase.to_string(),
        status_reason => status_reason.to_string(),
    };
    let conditions = list(pod, "/status/conditions");
    if conditions.iter().any(|c| text(c, "/type") == "PodScheduled" && text(c, "/reason") == "SchedulingGated") {
        reason = "SchedulingGated".to_string();
    }

    // Sidecars (init containers with restartPolicy Always) count as containers of the running pod.
    let init_containers = list(pod, "/spec/initContainers");
    let sidecar_specs: Vec<&Value> = init_containers.iter().filter(|c| text(c, "/restartPolicy") == "Always").collect();
    let sidecars: BTreeSet<&str> = sidecar_specs.iter().map(|c| text(c, "/name")).collect();
    let total = list(pod, "/spec/containers").len() + sidecar_specs.len();
    let mut ready = 0;
    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let mut last_restart = None;
    let mut last_sidecar_restart = None;

    let mut initializing = false;
    for (index, status) in list(pod, "/status/initContainerStatuses").iter().enumerate() {
        let count = int(status, "/restartCount");
        let finished = timestamp(status.pointer("/lastState/terminated/finishedAt"));
        restarts += count;
        last_restart = later(last_restart, finished);
        let is_sidecar = sidecars.contains(text(status, "/name"));
        if is_sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }
        let terminated = status.pointer("/state/terminated").filter(|t| t.is_object());
        let waiting_reason = text(status, "/state/waiting/reason");
        match terminated {
            Some(t) if int(t, "/exitCode") == 0 => continue,
            _ if is_sidecar && status.get("started") == Some(&Value::Bool(true)) => {
                if status.get("ready") == Some(&Value::Bool(true)) {
                    ready += 1;
                }
                continue;
            }
            Some(t) => {
                reason = match (text(t, "/reason"), int(t, "/signal")) {
                    ("", 0) => format!("Init:ExitCode:{}", int(t, "/exitCode")),
                    ("", signal) => format!("Init:Signal:{signal}"),
                    (terminated_reason, _) => format!("Init:{terminated_reason}"),
                };
            }
            None if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" => {
                reason = format!("Init:{waiting_reason}");
            }
            None => reason = format!("Init:{index}/{}", init_containers.len()),
        }
        initializing = true;
        break;
    }

    if !initializing || condition_is_true(conditions, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        let mut error_reason = String::new();
        for status in list(pod, "/status/containerStatuses").iter().rev() {
            restarts += int(status, "/restartCount");
            last_restart = later(last_restart, timestamp(status.pointer("/lastState/terminated/finishedAt")));
            let waiting_reason = text(status, "/state/waiting/reason");
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = status.pointer("/state/terminated").filter(|t| t.is_object()) {
                reason = match (text(t, "/reason"), int(t, "/signal")) {
                    ("", 0) => format!("ExitCode:{}", int(t, "/exitCode")),
                    ("", signal) => format!("Signal:{signal}"),
                    (terminated_reason, _) => terminated_reason.to_string(),
                };
                if int(t, "/exitCode") != 0 {
                    error_reason = reason.clone();
                }
            } else if status.get("ready") == Some(&Value::Bool(true)) && status.pointer("/state/running").is_some_and(Value::is_object) {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last container completed but others still run is not "Completed".
        if reason == "Completed" {
            if has_running && conditions.iter().any(|c| text(c, "/type") == "Ready" && text(c, "/status") == "True") {
                reason = "Running".to_string();
            } else if !error_reason.is_empty() {
                reason = error_reason;
            } else if has_running {
                reason = "NotReady".to_string();
            }
        }
    }

    let deleting = is_deleting(pod);
    if deleting && text(pod, "/status/reason") == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts = match last_restart {
        Some(when) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now.duration_since(when))),
        _ => restarts.to_string(),
    };

    vec![
        name(pod),
        Value::from(format!("{ready}/{total}")),
        Value::from(reason),
        Value::from(restarts),
        Value::from(age(pod, now)),
        Value::from(or_none(&pod_ip(pod))),
        Value::from(or_none(text(pod, "/spec/nodeName"))),
        Value::from(or_none(text(pod, "/status/nominatedNodeName"))),
        Value::from(readiness_gates(pod)),
    ]
}

/// `passing/total` readiness gates, each judged by the first condition of its type; `<none>` without gates.
fn readiness_gates(pod: &Value) -> String {
    let gates = list(pod, "/spec/readinessGates");
    if gates.is_empty() {
        return "<none>".to_string();
    }
    let conditions = list(pod, "/status/conditions");
    let passing = gates.iter().filter(|gate| condition_is_true(conditions, text(gate, "/conditionType"))).count();
    format!("{passing}/{}", gates.len())
}

/// Upstream marks the rows of finished pods with a `Completed` row condition (`TableRow.conditions`).
pub fn pod_row_conditions(pod: &Value) -> Vec<Value> {
    let (reason, message) = match text(pod, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return Vec::new(),
    };
    vec![json!({"type": "Completed", "status": "True", "reason": reason, "message": message})]
}

/// Pod fields upstream's v1 conversion accepts beyond `metadata.*`; `status.podIPs` is accepted but never
/// set in the field set, so it reads as empty.
pub fn pod_field(pod: &Value, field: &str) -> Option<String> {
    Some(match field {
        "spec.nodeName" | "spec.host" => text(pod, "/spec/nodeName").to_string(),
        "spec.restartPolicy" => text(pod, "/spec/restartPolicy").to_string(),
        "spec.schedulerName" => text(pod, "/spec/schedulerName").to_string(),
        "spec.serviceAccountName" => text(pod, "/spec/serviceAccountName").to_string(),
        "spec.hostNetwork" => boolean(pod, "/spec/hostNetwork").to_string(),
        "status.phase" => text(pod, "/status/phase").to_string(),
        "status.podIP" => pod_ip(pod),
        "status.podIPs" => String::new(),
        "status.nominatedNodeName" => text(pod, "/status/nominatedNodeName").to_string(),
        _ => return None,
    })
}

/// The primary pod IP: `status.podIP` wins over `status.podIPs[0]`, as in upstream's v1 conversion.
fn pod_ip(pod: &Value) -> String {
    match text(pod, "/status/podIP") {
        "" => text(pod, "/status/podIPs/0/ip").to_string(),
        ip => ip.to_string(),
    }
}

/// The later of two optional times, `None` standing for Go's zero time.
fn later(current: Option<Timestamp>, candidate: Option<Timestamp>) -> Option<Timestamp> {
    match (current, candidate) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn boolean(obj: &Value, pointer: &str) -> bool {
    obj.pointer(pointer).and_then(Value::as_bool).unwrap_or_default()
}

// ---- services ----

pub const SERVICE_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column(
        "Type",
        "string",
        "type determines how the Service is exposed. Defaults to ClusterIP. \
        Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" \
        allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are \
        determined by the selector or if that is not specified, by manual construction of an \
        Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is \
        allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \
        \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the \
        same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an \
        external load-balancer (if supported in the current cloud) which routes to the same \
        endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified \
        externalName. Several other fields do not apply to ExternalName services. More info: \
        https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types",
    ),
    column(
        "Cluster-IP",
        "string",
        "clusterIP is the IP address of the service and is usually \
        assigned randomly. If an address is specified manually, is in-range (as per system \
        configuration), and is not in use, it will be allocated to the service; otherwise creation \
        of the service will fail. This field may not be changed through updates unless the type \
        field is also being changed to ExternalName (which requires this field to be blank) or the \
        type field is being changed from ExternalName (in which case this field may optionally be \
        specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid \
        IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which \
        is useful when direct endpoint connections are preferred and proxying is not required.  \
        Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified \
        when creating a Service of type ExternalName, creation will fail. This field will be wiped \
        when updating a Service to type ExternalName. More info: \
        https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
    ),
    column(
        "External-IP",
        "string",
        "externalIPs is a list of IP addresses for which nodes in the \
        cluster will also accept traffic for this service.  These IPs are not managed by \
        Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this \
        IP.  A common example is external load-balancers that are not part of the Kubernetes \
        system.",
    ),
    column(
        "Port(s)",
        "string",
        "The list of ports that are exposed by this service. More info: \
        https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
    ),
    AGE_COLUMN,
    wide(column(
        "Selector",
        "string",
        "Route service traffic to pods with label keys and values \
        matching this selector. If empty or not present, the service is assumed to have an \
        external process managing its endpoints, which Kubernetes will not modify. Only applies to \
        types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: \
        https://kubernetes.io/docs/concepts/services-networking/service/",
    )),
];

pub fn service_cells(service: &Value, now: Timestamp) -> Vec<Value> {
    // `spec.clusterIP` wins over `spec.clusterIPs[0]`, as in upstream's v1 conversion.
    let cluster_ip = match text(service, "/spec/clusterIP") {
        "" => or_none(text(service, "/spec/clusterIPs/0")),
        ip => ip.to_string(),
    };
    let ports: Vec<String> = list(service, "/spec/ports")
        .iter()
        .map(|port| {
            let (number, protocol) = (int(port, "/port"), text(port, "/protocol"));
            match int(port, "/nodePort") {
                node_port if node_port > 0 => format!("{number}:{node_port}/{protocol}"),
                _ => format!("{number}/{protocol}"),
            }
        })
        .collect();
    vec![
        name(service),
        Value::from(text(service, "/spec/type")),
        Value::from(cluster_ip),
        Value::from(service_external_ip(service)),
        Value::from(or_none(&ports.join(","))),
        Value::from(age(service, now)),
        Value::from(format_labels(service.pointer("/spec/selector"))),
    ]
}

/// Upstream `getServiceExternalIP` in its wide form (the server never clips the load-balancer list).
fn service_external_ip(service: &Value) -> String {
    let external_ips: Vec<&str> = list(service, "/spec/externalIPs").iter().filter_map(Value::as_str).collect();
    match text(service, "/spec/type") {
        "ClusterIP" | "NodePort" => or_none(&external_ips.join(",")),
        "LoadBalancer" => {
            let ingress: BTreeSet<&str> = list(service, "/status/loadBalancer/ingress")
                .iter()
                .map(|i| if text(i, "/ip").is_empty() { text(i, "/hostname") } else { text(i, "/ip") })
                .filter(|address| !address.is_empty())
                .collect();
            let mut addresses: Vec<&str> = ingress.into_iter().collect();
            addresses.extend(external_ips);
            if addresses.is_empty() {
                "<pending>".to_string()
            } else {
                addresses.join(",")
            }
        }
        "ExternalName" => text(service, "/spec/externalName").to_string(),
        _ => "<unknown>".to_string(),
    }
}

// ---- replication controllers ----

pub const REPLICATION_CONTROLLER_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column(
        "Desired",
        "integer",
        "Replicas is the number of desired replicas. This is a pointer to \
        distinguish between explicit zero and unspecified. Defaults to 1. More info: \
        https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller",
    ),
    column(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas. More \
        info: \
        https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller",
    ),
    column("Ready", "integer", "The number of ready replicas for this replication controller."),
    AGE_COLUMN,
    wide(column("Containers", "string", CONTAINERS_DESCRIPTION)),
    wide(column("Images", "string", IMAGES_DESCRIPTION)),
    wide(column(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the \
        Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod \
        template. Label keys and values that must match in order to be controlled by this \
        replication controller, if empty defaulted to labels on Pod template. More info: \
        https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    )),
];

pub fn replication_controller_cells(rc: &Value, now: Timestamp) -> Vec<Value> {
    let (containers, images) = container_cells(list(rc, "/spec/template/spec/containers"));
    vec![
        name(rc),
        Value::from(int(rc, "/spec/replicas")),
        Value::from(int(rc, "/status/replicas")),
        Value::from(int(rc, "/status/readyReplicas")),
        Value::from(age(rc, now)),
        Value::from(containers),
        Value::from(images),
        Value::from(format_labels(rc.pointer("/spec/selector"))),
    ]
}

/// Replication controllers (like replica sets) select on `status.replicas`.
pub fn replication_controller_field(rc: &Value, field: &str) -> Option<String> {
    (field == "status.replicas").then(|| int(rc, "/status/replicas").to_string())
}

// ---- nodes ----

pub const NODE_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column("Status", "string", "The status of the node"),
    column("Roles", "string", "The roles of the node"),
    AGE_COLUMN,
    column("Version", "string", "Kubelet Version reported by the node."),
    wide(column(
        "Internal-IP",
        "string",
        "List of addresses reachable to the node. Queried from \
        cloud provider, if available. More info: \
        https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is \
        declared as mergeable, but the merge key is not sufficiently unique, which can cause data \
        corruption when it is merged. Callers should instead use a full-replacement patch. See \
        https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change \
        during the lifetime of a Node. However, there are some exceptions where this may not be \
        possible, such as Pods that inherit a Node's address in its own status or consumers of the \
        downward API (status.hostIP).",
    )),
    wide(column(
        "External-IP",
        "string",
        "List of addresses reachable to the node. Queried from \
        cloud provider, if available. More info: \
        https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is \
        declared as mergeable, but the merge key is not sufficiently unique, which can cause data \
        corruption when it is merged. Callers should instead use a full-replacement patch. See \
        https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change \
        during the lifetime of a Node. However, there are some exceptions where this may not be \
        possible, such as Pods that inherit a Node's address in its own status or consumers of the \
        downward API (status.hostIP).",
    )),
    wide(column(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release (e.g. \
        Debian GNU/Linux 7 (wheezy)).",
    )),
    wide(column(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r' \
        (e.g. 3.16.0-0.bpo.4-amd64).",
    )),
    wide(column(
        "Container-Runtime",
        "string",
        "ContainerRuntime Version reported by the node \
        through runtime remote API (e.g. containerd://1.4.2).",
    )),
];

pub fn node_cells(node: &Value, now: Timestamp) -> Vec<Value> {
    // Upstream keys conditions by type in a map, so the last Ready condition counts.
    let ready = list(node, "/status/conditions").iter().rev().find(|c| text(c, "/type") == "Ready");
    let mut status = vec![match ready {
        Some(condition) if text(condition, "/status") == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if boolean(node, "/spec/unschedulable") {
        status.push("SchedulingDisabled");
    }
    let mut roles = BTreeSet::new();
    for (key, value) in node.pointer("/metadata/labels").and_then(Value::as_object).into_iter().flatten() {
        let value = value.as_str().unwrap_or_default();
        match key.strip_prefix("node-role.kubernetes.io/") {
            Some(role) if !role.is_empty() => {
                roles.insert(role);
            }
            None if key == "kubernetes.io/role" && !value.is_empty() => {
                roles.insert(value);
            }
            _ => {}
        }
    }
    let address = |address_type: &str| {
        let found = list(node, "/status/addresses").iter().find(|a| text(a, "/type") == address_type);
        found.map_or("<none>".to_string(), |a| text(a, "/address").to_string())
    };
    let unknown_if_empty = |pointer: &str| match text(node, pointer) {
        "" => "<unknown>".to_string(),
        value => value.to_string(),
    };
    vec![
        name(node),
        Value::from(status.join(",")),
        Value::from(or_none(&roles.into_iter().collect::<Vec<_>>().join(","))),
        Value::from(age(node, now)),
        Value::from(text(node, "/status/nodeInfo/kubeletVersion")),
        Value::from(address("InternalIP")),
        Value::from(address("ExternalIP")),
        Value::from(unknown_if_empty("/status/nodeInfo/osImage")),
        Value::from(unknown_if_empty("/status/nodeInfo/kernelVersion")),
        Value::from(unknown_if_empty("/status/nodeInfo/containerRuntimeVersion")),
    ]
}

pub fn node_field(node: &Value, field: &str) -> Option<String> {
    (field == "spec.unschedulable").then(|| boolean(node, "/spec/unschedulable").to_string())
}

// ---- namespaces ----

pub const NAMESPACE_COLUMNS: &[Column] = &[NAME_COLUMN, column("Status", "string", "The status of the namespace"), AGE_COLUMN];

pub fn namespace_cells(namespace: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(namespace), Value::from(text(namespace, "/status/phase")), Value::from(age(namespace, now))]
}

pub fn namespace_field(namespace: &Value, field: &str) -> Option<String> {
    (field == "status.phase").then(|| text(namespace, "/status/phase").to_string())
}

// ---- events (core/v1; events.k8s.io/v1 shares the printer, see `events.rs`) ----

pub const EVENT_COLUMNS: &[Column] = &[
    column(
        "Last Seen",
        "string",
        "The time at which the most recent occurrence of this event was \
        recorded.",
    ),
    column(
        "Type",
        "string",
        "Type of this event (Normal, Warning), new types could be added in \
        the future",
    ),
    column(
        "Reason",
        "string",
        "This should be a short, machine understandable string that gives \
        the reason for the transition into the object's current status.",
    ),
    column("Object", "string", "The object that this event is about."),
    wide(column(
        "Subobject",
        "string",
        "If referring to a piece of an object instead of an entire \
        object, this string should contain a valid JSON/Go field access statement, such as \
        desiredState.manifest.containers\\[2\\]. For example, if the object reference is to a \
        container within a pod, this would take on a value like: \"spec.containers{name}\" (where \
        \"name\" refers to the name of the container that triggered the event) or if no container \
        name is specified \"spec.containers\\[2\\]\" (container with index 2 in this pod). This \
        syntax is chosen only to have some well-defined way of referencing a part of an object.",
    )),
    wide(column(
        "Source",
        "string",
        "The component reporting this event. Should be a short machine \
        understandable string.",
    )),
    column("Message", "string", "A human-readable description of the status of this operation."),
    wide(column(
        "First Seen",
        "string",
        "The time at which the event was first recorded. (Time of \
        server receipt is in TypeMeta.)",
    )),
    // Upstream declares Count a string column but fills it with an integer.
    wide(column("Count", "string", "The number of times this event has occurred.")),
    wide(NAME_COLUMN),
];

/// The fields of an event the printer reads, named as in the internal type so both API shapes map in.
pub(super) struct EventView<'a> {
    pub first_timestamp: Option<&'a Value>,
    pub last_timestamp: Option<&'a Value>,
    pub event_time: Option<&'a Value>,
    pub series: Option<&'a Value>,
    pub count: i64,
    pub involved_object: Option<&'a Value>,
    pub source: Option<&'a Value>,
    pub reporting_controller: &'a str,
    pub reporting_instance: &'a str,
    pub event_type: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
}

pub fn event_cells(event: &Value, now: Timestamp) -> Vec<Value> {
    let view = EventView {
        first_timestamp: event.get("firstTimestamp"),
        last_timestamp: event.get("lastTimestamp"),
        event_time: event.get("eventTime"),
        series: event.get("series"),
        count: int(event, "/count"),
        involved_object: event.get("involvedObject"),
        source: event.get("source"),
        reporting_controller: text(event, "/reportingComponent"),
        reporting_instance: text(event, "/reportingInstance"),
        event_type: text(event, "/type"),
        reason: text(event, "/reason"),
        message: text(event, "/message"),
    };
    event_view_cells(event, &view, now)
}

pub(super) fn event_view_cells(event: &Value, view: &EventView, now: Timestamp) -> Vec<Value> {
    let first_seen = match timestamp(view.first_timestamp) {
        Some(_) => since(view.first_timestamp, now),
        None => since(view.event_time, now),
    };
    let mut last_seen = match timestamp(view.last_timestamp) {
        Some(_) => since(view.last_timestamp, now),
        None => first_seen.clone(),
    };
    let mut count = view.count;
    match view.series.filter(|s| s.is_object()) {
        Some(series) => {
            last_seen = since(series.get("lastObservedTime"), now);
            count = int(series, "/count");
        }
        // Singleton events of the new API carry no count.
        None if count == 0 => count = 1,
        None => {}
    }
    let object = view.involved_object.unwrap_or(&Value::Null);
    let kind = text(object, "/kind").to_lowercase();
    let target = match text(object, "/name") {
        "" => kind,
        object_name => format!("{kind}/{object_name}"),
    };
    let source = view.source.unwrap_or(&Value::Null);
    let component = first_non_empty(text(source, "/component"), view.reporting_controller);
    let instance = first_non_empty(text(source, "/host"), view.reporting_instance);
    let source = if instance.is_empty() { component.to_string() } else { format!("{component}, {instance}") };
    vec![
        Value::from(last_seen),
        Value::from(view.event_type),
        Value::from(view.reason),
        Value::from(target),
        Value::from(text(object, "/fieldPath")),
        Value::from(source),
        Value::from(view.message.trim()),
        Value::from(first_seen),
        Value::from(count),
        name(event),
    ]
}

pub(super) fn first_non_empty<'a>(first: &'a str, second: &'a str) -> &'a str {
    if first.is_empty() {
        second
    } else {
        first
    }
}

pub fn event_field(event: &Value, field: &str) -> Option<String> {
    let value = match field {
        "involvedObject.kind" => text(event, "/involvedObject/kind"),
        "involvedObject.namespace" => text(event, "/involvedObject/namespace"),
        "involvedObject.name" => text(event, "/involvedObject/name"),
        "involvedObject.uid" => text(event, "/involvedObject/uid"),
        "involvedObject.apiVersion" => text(event, "/involvedObject/apiVersion"),
        "involvedObject.resourceVersion" => text(event, "/involvedObject/resourceVersion"),
        "involvedObject.fieldPath" => text(event, "/involvedObject/fieldPath"),
        "reason" => text(event, "/reason"),
        "reportingComponent" => text(event, "/reportingComponent"),
        "source" => first_non_empty(text(event, "/source/component"), text(event, "/reportingComponent")),
        "type" => text(event, "/type"),
        _ => return None,
    };
    Some(value.to_string())
}

// ---- config maps, secrets, service accounts ----

pub const CONFIG_MAP_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column(
        "Data",
        "string",
        "Data contains the \
    configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values \
    with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not \
    overlap with the keys in the BinaryData field, this is enforced during validation process.",
    ),
    AGE_COLUMN,
];

/// Data counts `data` and `binaryData` keys together; the cell is an integer in a string column upstream.
pub fn config_map_cells(config_map: &Value, now: Timestamp) -> Vec<Value> {
    let keys = map_len(config_map, "/data") + map_len(config_map, "/binaryData");
    vec![name(config_map), Value::from(keys), Value::from(age(config_map, now))]
}

pub const SECRET_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column(
        "Type",
        "string",
        "Used to facilitate programmatic handling of secret data. More info: \
        https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
    ),
    column(
        "Data",
        "string",
        "Data contains the secret data. Each key must consist of alphanumeric \
        characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded \
        string, representing the arbitrary (possibly non-string) data value here. Described in \
        https://tools.ietf.org/html/rfc4648#section-4",
    ),
    AGE_COLUMN,
];

/// `stringData` never reaches storage (it is merged into `data` on write), so only `data` counts.
pub fn secret_cells(secret: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(secret), Value::from(text(secret, "/type")), Value::from(map_len(secret, "/data")), Value::from(age(secret, now))]
}

pub fn secret_field(secret: &Value, field: &str) -> Option<String> {
    (field == "type").then(|| text(secret, "/type").to_string())
}

pub const SERVICE_ACCOUNT_COLUMNS: &[Column] = &[NAME_COLUMN, AGE_COLUMN];

pub fn service_account_cells(service_account: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(service_account), Value::from(age(service_account, now))]
}

// ---- endpoints ----

pub const ENDPOINTS_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column(
        "Endpoints",
        "string",
        "The set of all endpoints is the union of all \
        subsets. Addresses are placed into subsets according to the IPs they share. A single \
        address with multiple ports, some of which are ready and some of which are not (because \
        they come from different containers) will result in the address being displayed in \
        different subsets for the different ports. No address will appear in both Addresses and \
        NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.",
    ),
    AGE_COLUMN,
];

pub fn endpoints_cells(endpoints: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(endpoints), Value::from(format_endpoints(endpoints)), Value::from(age(endpoints, now))]
}

/// Upstream `formatEndpoints`: the first three `ip:port` pairs (bare IPs for port-less subsets), then
/// `+ N more...`; `<none>` without subsets.
fn format_endpoints(endpoints: &Value) -> String {
    const MAX: usize = 3;
    let subsets = list(endpoints, "/subsets");
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut shown = Vec::new();
    let mut more = false;
    let mut count = 0;
    for subset in subsets {
        let addresses = list(subset, "/addresses");
        let ports = list(subset, "/ports");
        if ports.is_empty() {
            count += addresses.len();
            for address in addresses {
                if shown.len() == MAX {
                    more = true;
                    break;
                }
                shown.push(text(address, "/ip").to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for address in addresses {
                if shown.len() == MAX {
                    more = true;
                    break;
                }
                shown.push(join_host_port(text(address, "/ip"), int(port, "/port")));
            }
        }
    }
    let joined = shown.join(",");
    if more {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

/// Go's `net.JoinHostPort`: IPv6 hosts get brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

// ---- persistent volumes and claims ----

pub const PERSISTENT_VOLUME_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column(
        "Capacity",
        "string",
        "capacity is the description of the persistent volume's resources \
        and capacity. More info: \
        https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity",
    ),
    column(
        "Access Modes",
        "string",
        "accessModes contains all ways the volume can be mounted. \
        More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes",
    ),
    column(
        "Reclaim Policy",
        "string",
        "persistentVolumeReclaimPolicy defines what happens to a \
        persistent volume when released from its claim. Valid options are Retain (default for \
        manually created PersistentVolumes), Delete (default for dynamically provisioned \
        PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the volume \
        plugin underlying this PersistentVolume. More info: \
        https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming",
    ),
    column(
        "Status",
        "string",
        "phase indicates if a volume is available, bound to a claim, or \
        released by a claim. More info: \
        https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase",
    ),
    column(
        "Claim",
        "string",
        "claimRef is part of a bi-directional binding between \
        PersistentVolume and PersistentVolumeClaim. Expected to be non-nil when bound. \
        claim.VolumeName is the authoritative bind between PV and PVC. More info: \
        https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding",
    ),
    column("StorageClass", "string", "StorageClass of the pv"),
    column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
    column(
        "Reason",
        "string",
        "reason is a brief CamelCase string that describes any failure and \
        is meant for machine parsing and tidy display in the CLI.",
    ),
    AGE_COLUMN,
    wide(column(
        "VolumeMode",
        "string",
        "volumeMode defines if a volume is intended to be used \
        with a formatted filesystem or to remain in raw block state. Value of Filesystem is \
        implied when not included in spec.",
    )),
];

pub fn persistent_volume_cells(pv: &Value, now: Timestamp) -> Vec<Value> {
    let claim = match pv.pointer("/spec/claimRef").filter(|c| c.is_object()) {
        Some(claim) => format!("{}/{}", text(claim, "/namespace"), text(claim, "/name")),
        None => String::new(),
    };
    vec![
        name(pv),
        Value::from(quantity(pv, "/spec/capacity/storage")),
        Value::from(access_modes(list(pv, "/spec/accessModes"))),
        Value::from(text(pv, "/spec/persistentVolumeReclaimPolicy")),
        Value::from(phase_or_terminating(pv)),
        Value::from(claim),
        Value::from(storage_class(pv)),
        Value::from(unset_if_absent(pv, "/spec/volumeAttributesClassName")),
        Value::from(text(pv, "/status/reason")),
        Value::from(age(pv, now)),
        Value::from(unset_if_absent(pv, "/spec/volumeMode")),
    ]
}

pub const PERSISTENT_VOLUME_CLAIM_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    column("Status", "string", "phase represents the current phase of PersistentVolumeClaim."),
    column(
        "Volume",
        "string",
        "volumeName is the binding reference to the PersistentVolume \
        backing this claim.",
    ),
    column(
        "Capacity",
        "string",
        "capacity represents the actual resources of the underlying \
        volume.",
    ),
    column(
        "Access Modes",
        "string",
        "accessModes contains the actual access modes the volume \
        backing the PVC has. More info: \
        https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1",
    ),
    column("StorageClass", "string", "StorageClass of the pvc"),
    column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
    AGE_COLUMN,
    wide(column(
        "VolumeMode",
        "string",
        "volumeMode defines what type of volume is required by the \
        claim. Value of Filesystem is implied when not included in claim spec.",
    )),
];

/// Capacity and access modes show only once the claim is bound to a volume.
pub fn persistent_volume_claim_cells(pvc: &Value, now: Timestamp) -> Vec<Value> {
    let volume = text(pvc, "/spec/volumeName");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (quantity(pvc, "/status/capacity/storage"), access_modes(list(pvc, "/status/accessModes")))
    };
    vec![
        name(pvc),
        Value::from(phase_or_terminating(pvc)),
        Value::from(volume),
        Value::from(capacity),
        Value::from(modes),
        Value::from(storage_class(pvc)),
        Value::from(unset_if_absent(pvc, "/spec/volumeAttributesClassName")),
        Value::from(age(pvc, now)),
        Value::from(unset_if_absent(pvc, "/spec/volumeMode")),
    ]
}

/// A quantity as stored (the server keeps the canonical form); Go's zero quantity prints `0`.
fn quantity(obj: &Value, pointer: &str) -> String {
    match obj.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".to_string(),
    }
}

/// `GetAccessModesAsString`: deduplicated, in the fixed order RWO, ROX, RWX, RWOP.
fn access_modes(modes: &[Value]) -> String {
    let has = |mode: &str| modes.iter().any(|m| m.as_str() == Some(mode));
    let names = [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")];
    names.iter().filter(|(mode, _)| has(mode)).map(|(_, short)| *short).collect::<Vec<_>>().join(",")
}

/// The beta storage-class annotation still wins over `spec.storageClassName`, as upstream's helpers do.
fn storage_class(obj: &Value) -> String {
    match obj.pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class").and_then(Value::as_str) {
        Some(class) => class.to_string(),
        None => text(obj, "/spec/storageClassName").to_string(),
    }
}

fn phase_or_terminating(obj: &Value) -> String {
    if is_deleting(obj) {
        "Terminating".to_string()
    } else {
        text(obj, "/status/phase").to_string()
    }
}

/// Optional string fields print `<unset>` when absent but as-is (even empty) when set.
fn unset_if_absent(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer).and_then(Value::as_str).map_or("<unset>".to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Render time of every test; ages below are relative to it.
    fn now() -> Timestamp {
        "2025-06-01T12:00:00Z".parse().unwrap()
    }

    fn meta(name: &str) -> Value {
        json!({"name": name, "namespace": "default", "creationTimestamp": "2025-05-30T12:00:00Z"})
    }

    fn running(name: &str, restarts: i64) -> Value {
        json!({"name": name, "ready": true, "restartCount": restarts, "started": true,
               "state": {"running": {"startedAt": "2025-06-01T11:00:00Z"}}})
    }

    #[test]
    fn running_pod_with_restarts_and_wide_cells() {
        let mut restarted = running("app", 3);
        restarted["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2025-06-01T11:55:00Z"}});
        let pod = json!({
            "metadata": meta("web-7d4b9c-x2x9z"),
            "spec": {"nodeName": "node-1", "containers": [{"name": "app"}, {"name": "log"}]},
            "status": {"phase": "Running", "podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}],
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [restarted, running("log", 0)]},
        });
        assert_eq!(
            pod_cells(&pod, now()),
            json!(["web-7d4b9c-x2x9z", "2/2", "Running", "3 (5m ago)", "2d", "10.244.1.7", "node-1", "<none>", "<none>"])
                .as_array()
                .unwrap()
                .clone()
        );
        assert!(pod_row_conditions(&pod).is_empty());
    }

    fn status_of(pod: &Value) -> Value {
        pod_cells(pod, now())[2].clone()
    }

    #[test]
    fn pending_pods_show_the_waiting_reason() {
        let pod = json!({
            "metadata": meta("web"),
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Pending", "containerStatuses": [
                {"name": "app", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]},
        });
        assert_eq!(status_of(&pod), "ContainerCreating");
        let cells = pod_cells(&pod, now());
        assert_eq!(
            (cells[1].as_str(), cells[3].as_str(), cells[5].as_str(), cells[6].as_str()),
            (Some("0/1"), Some("0"), Some("<none>"), Some("<none>"))
        );

        let unscheduled = json!({"metadata": meta("gated"), "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}});
        assert_eq!(status_of(&unscheduled), "SchedulingGated");
    }

    #[test]
    fn crash_looping_container_reports_back_off_and_last_restart() {
        let pod = json!({
            "metadata": meta("crasher"),
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                "lastState": {"terminated": {"exitCode": 2, "reason": "Error", "finishedAt": "2025-06-01T11:59:30Z"}}}]},
        });
        let cells = pod_cells(&pod, now());
        assert_eq!(cells[1], "0/1");
        assert_eq!(cells[2], "CrashLoopBackOff");
        assert_eq!(cells[3], "4 (30s ago)");
    }

    #[test]
    fn init_container_progress_and_failures() {
        let base = |statuses: Value| {
            json!({"metadata": meta("init"),
                   "spec": {"initContainers": [{"name": "migrate"}, {"name": "seed"}], "containers": [{"name": "app"}]},
                   "status": {"phase": "Pending", "initContainerStatuses": statuses,
                              "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}]}})
        };
        let done = json!({"name": "migrate", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}});
        let started = json!({"name": "seed", "state": {"running": {}}});
        assert_eq!(status_of(&base(json!([{"name": "migrate", "state": {"running": {}}}, {"name": "seed"}]))), "Init:0/2");
        assert_eq!(status_of(&base(json!([done.clone(), started]))), "Init:1/2");
        let backoff = json!({"name": "seed", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}});
        assert_eq!(status_of(&base(json!([done.clone(), backoff]))), "Init:CrashLoopBackOff");
        let failed = json!({"name": "seed", "state": {"terminated": {"exitCode": 3}}});
        assert_eq!(status_of(&base(json!([done.clone(), failed]))), "Init:ExitCode:3");
        let killed = json!({"name": "seed", "state": {"terminated": {"exitCode": 137, "signal": 9}}});
        assert_eq!(status_of(&base(json!([done.clone(), killed]))), "Init:Signal:9");
        let oom = json!({"name": "seed", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}});
        assert_eq!(status_of(&base(json!([done, oom]))), "Init:OOMKilled");
        // Restarts of regular init containers count while the pod initializes.
        let restarting = json!([{"name": "migrate", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]);
        assert_eq!(pod_cells(&base(restarting), now())[3], "2");
    }

    #[test]
    fn sidecars_count_as_containers() {
        let pod = json!({
            "metadata": meta("meshed"),
            "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                       "initContainerStatuses": [running("proxy", 1)], "containerStatuses": [running("app", 0)]},
        });
        let cells = pod_cells(&pod, now());
        assert_eq!((cells[1].as_str(), cells[2].as_str(), cells[3].as_str()), (Some("2/2"), Some("Running"), Some("1")));
    }

    #[test]
    fn completed_failed_and_terminating_pods() {
        let completed = json!({
            "metadata": meta("job-abc"),
            "spec": {"containers": [{"name": "main"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [
                {"name": "main", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]},
        });
        assert_eq!(status_of(&completed), "Completed");
        assert_eq!(pod_cells(&completed, now())[1], "0/1");
        assert_eq!(
            pod_row_conditions(&completed),
            vec![json!({"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."})]
        );

        // One container finished, another still serves: upstream shows Running (Ready) or NotReady.
        let mut partly = json!({
            "metadata": meta("partly"),
            "spec": {"containers": [{"name": "once"}, {"name": "server"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "once", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}, running("server", 0)]},
        });
        assert_eq!(status_of(&partly), "NotReady");
        partly["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
        assert_eq!(status_of(&partly), "Running");

        let failed = json!({"metadata": meta("f"), "spec": {"containers": [{"name": "main"}]},
            "status": {"phase": "Failed", "containerStatuses": [{"name": "main", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}});
        assert_eq!(status_of(&failed), "Error");
        assert_eq!(pod_row_conditions(&failed)[0]["reason"], "Failed");

        let mut deleting = json!({"metadata": meta("bye"), "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [running("a", 0)]}});
        deleting["metadata"]["deletionTimestamp"] = json!("2025-06-01T11:59:00Z");
        assert_eq!(status_of(&deleting), "Terminating");
        deleting["status"]["reason"] = json!("NodeLost");
        assert_eq!(status_of(&deleting), "Unknown");
        let mut finished_then_deleted = completed.clone();
        finished_then_deleted["metadata"]["deletionTimestamp"] = json!("2025-06-01T11:59:00Z");
        assert_eq!(status_of(&finished_then_deleted), "Completed");
    }

    #[test]
    fn readiness_gates_and_nominated_node() {
        let pod = json!({
            "metadata": meta("gated"),
            "spec": {"containers": [], "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]},
            "status": {"phase": "Running", "nominatedNodeName": "node-2", "podIPs": [{"ip": "fd00::7"}],
                       "conditions": [{"type": "example.com/lb", "status": "True"}, {"type": "example.com/dns", "status": "False"}]},
        });
        let cells = pod_cells(&pod, now());
        assert_eq!(cells[5..], [json!("fd00::7"), json!("<none>"), json!("node-2"), json!("1/2")]);
    }

    #[test]
    fn pod_fields_render_like_upstream() {
        let pod = json!({"spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                                  "serviceAccountName": "default"},
                         "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.9"}]}});
        assert_eq!(pod_field(&pod, "spec.nodeName").as_deref(), Some("n1"));
        assert_eq!(pod_field(&pod, "spec.host").as_deref(), Some("n1"));
        assert_eq!(pod_field(&pod, "spec.hostNetwork").as_deref(), Some("false"));
        assert_eq!(pod_field(&json!({"spec": {"hostNetwork": true}}), "spec.hostNetwork").as_deref(), Some("true"));
        assert_eq!(pod_field(&pod, "status.podIP").as_deref(), Some("10.0.0.9"));
        assert_eq!(pod_field(&pod, "status.phase").as_deref(), Some("Running"));
        assert_eq!(pod_field(&pod, "status.nominatedNodeName").as_deref(), Some(""));
        assert_eq!(pod_field(&pod, "spec.schedulerName").as_deref(), Some("default-scheduler"));
        assert_eq!(pod_field(&pod, "spec.containers"), None);
        assert_eq!(pod_field(&pod, "metadata.name"), None, "metadata fields are the server's");
    }

    fn svc(spec: Value, status: Value) -> Value {
        json!({"metadata": meta("web"), "spec": spec, "status": status})
    }

    #[test]
    fn services_of_every_type() {
        let cluster_ip = svc(
            json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                   "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}], "selector": {"tier": "front", "app": "web"}}),
            json!({}),
        );
        assert_eq!(
            service_cells(&cluster_ip, now()),
            [
                json!("web"),
                json!("ClusterIP"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("80/TCP"),
                json!("2d"),
                json!("app=web,tier=front")
            ]
        );

        let node_port = svc(
            json!({"type": "NodePort", "clusterIPs": ["10.96.3.4"], "externalIPs": ["192.0.2.10"],
                   "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "nodePort": 30053, "protocol": "UDP"}]}),
            json!({}),
        );
        let cells = service_cells(&node_port, now());
        assert_eq!(cells[2..5], [json!("10.96.3.4"), json!("192.0.2.10"), json!("80:30080/TCP,53:30053/UDP")]);
        assert_eq!(cells[6], "<none>");

        let pending = svc(
            json!({"type": "LoadBalancer", "clusterIP": "10.96.0.20", "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}]}),
            json!({}),
        );
        assert_eq!(service_cells(&pending, now())[3], "<pending>");
        let ingress = json!({"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}, {"ip": "203.0.113.5"}, {"ip": "203.0.113.5"}]}});
        let provisioned = svc(json!({"type": "LoadBalancer", "externalIPs": ["192.0.2.1"]}), ingress);
        assert_eq!(service_cells(&provisioned, now())[3], "203.0.113.5,lb.example.com,192.0.2.1");

        let external = svc(json!({"type": "ExternalName", "externalName": "db.example.com"}), json!({}));
        assert_eq!(
            service_cells(&external, now())[1..5],
            [json!("ExternalName"), json!("<none>"), json!("db.example.com"), json!("<none>")]
        );
        let headless = svc(json!({"type": "ClusterIP", "clusterIP": "None", "ports": [{"port": 5432, "protocol": "TCP"}]}), json!({}));
        assert_eq!(service_cells(&headless, now())[2], "None");
    }

    #[test]
    fn replication_controller_cells_and_field() {
        let rc = json!({"metadata": meta("legacy"),
            "spec": {"replicas": 3, "selector": {"app": "legacy"}, "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}},
            "status": {"replicas": 3, "readyReplicas": 2}});
        assert_eq!(
            replication_controller_cells(&rc, now()),
            [json!("legacy"), json!(3), json!(3), json!(2), json!("2d"), json!("app"), json!("nginx:1.27"), json!("app=legacy")]
        );
        assert_eq!(replication_controller_field(&rc, "status.replicas").as_deref(), Some("3"));
        assert_eq!(replication_controller_field(&rc, "spec.replicas"), None);
    }

    #[test]
    fn node_status_roles_and_wide_cells() {
        let node = json!({
            "metadata": {"name": "cp-1", "creationTimestamp": "2024-06-01T12:00:00Z",
                         "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "", "kubernetes.io/role": "master", "kubernetes.io/os": "linux"}},
            "spec": {"unschedulable": true},
            "status": {
                "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "Hostname", "address": "cp-1"}, {"type": "InternalIP", "address": "192.168.1.10"}],
                "nodeInfo": {"kubeletVersion": "v1.37.0", "osImage": "Debian GNU/Linux 13 (trixie)", "kernelVersion": "6.12.0-1-amd64",
                             "containerRuntimeVersion": "containerd://2.1.0"},
            },
        });
        assert_eq!(
            node_cells(&node, now()),
            [
                json!("cp-1"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,etcd,master"),
                json!("365d"),
                json!("v1.37.0"),
                json!("192.168.1.10"),
                json!("<none>"),
                json!("Debian GNU/Linux 13 (trixie)"),
                json!("6.12.0-1-amd64"),
                json!("containerd://2.1.0")
            ]
        );
        let bare = json!({"metadata": {"name": "new"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        assert_eq!(node_cells(&bare, now())[1..4], [json!("NotReady"), json!("<none>"), json!("<unknown>")]);
        assert_eq!(node_cells(&json!({}), now())[1], "Unknown");
        assert_eq!(node_cells(&json!({}), now())[7..], [json!("<unknown>"), json!("<unknown>"), json!("<unknown>")]);
        assert_eq!(node_field(&node, "spec.unschedulable").as_deref(), Some("true"));
        assert_eq!(node_field(&bare, "spec.unschedulable").as_deref(), Some("false"));
    }

    #[test]
    fn namespaces() {
        let namespace =
            json!({"metadata": {"name": "team-a", "creationTimestamp": "2025-06-01T11:58:30Z"}, "status": {"phase": "Terminating"}});
        assert_eq!(namespace_cells(&namespace, now()), [json!("team-a"), json!("Terminating"), json!("90s")]);
        assert_eq!(namespace_field(&namespace, "status.phase").as_deref(), Some("Terminating"));
        assert_eq!(namespace_field(&namespace, "spec.finalizers"), None);
    }

    #[test]
    fn core_events_old_and_new_style() {
        let event = json!({
            "metadata": {"name": "web-1.17f3a", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default", "fieldPath": "spec.containers{app}"},
            "reason": "Pulled", "type": "Normal", "message": "Container image \"nginx\" already present on machine\n",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2025-06-01T11:50:00Z", "lastTimestamp": "2025-06-01T11:58:00Z", "count": 3,
        });
        assert_eq!(
            event_cells(&event, now()),
            [
                json!("2m"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web-1"),
                json!("spec.containers{app}"),
                json!("kubelet, node-1"),
                json!("Container image \"nginx\" already present on machine"),
                json!("10m"),
                json!(3),
                json!("web-1.17f3a")
            ]
        );

        let series = json!({
            "metadata": {"name": "n.1"}, "involvedObject": {"kind": "Node", "name": "node-1"},
            "reason": "Rebooted", "type": "Warning", "message": "m", "reportingComponent": "kubelet", "reportingInstance": "node-1",
            "eventTime": "2025-06-01T11:00:00.000000Z", "series": {"count": 7, "lastObservedTime": "2025-06-01T11:59:50.123456Z"},
        });
        let cells = event_cells(&series, now());
        assert_eq!((cells[0].as_str(), cells[3].as_str(), cells[5].as_str()), (Some("9s"), Some("node/node-1"), Some("kubelet, node-1")));
        assert_eq!((cells[7].as_str(), cells[8].as_i64()), (Some("60m"), Some(7)));

        let singleton = json!({"metadata": {"name": "s"}, "involvedObject": {"kind": "Namespace"}, "reportingComponent": "ctrl",
                               "eventTime": "2025-06-01T11:59:00.000000Z"});
        let cells = event_cells(&singleton, now());
        assert_eq!(
            [&cells[0], &cells[3], &cells[5], &cells[7], &cells[8]],
            [&json!("60s"), &json!("namespace"), &json!("ctrl"), &json!("60s"), &json!(1)]
        );
        assert_eq!(event_cells(&json!({}), now())[0], "<unknown>");
    }

    #[test]
    fn event_fields() {
        let event = json!({"involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u1", "apiVersion": "v1",
                                              "resourceVersion": "42", "fieldPath": "spec.containers{a}"},
                           "reason": "Killing", "type": "Normal", "reportingComponent": "kubelet"});
        let field = |f: &str| event_field(&event, f);
        assert_eq!(field("involvedObject.kind").as_deref(), Some("Pod"));
        assert_eq!(field("involvedObject.name").as_deref(), Some("web"));
        assert_eq!(field("involvedObject.uid").as_deref(), Some("u1"));
        assert_eq!(field("involvedObject.resourceVersion").as_deref(), Some("42"));
        assert_eq!(field("involvedObject.fieldPath").as_deref(), Some("spec.containers{a}"));
        assert_eq!(field("reason").as_deref(), Some("Killing"));
        assert_eq!(field("type").as_deref(), Some("Normal"));
        assert_eq!(field("source").as_deref(), Some("kubelet"), "source falls back to the reporting component");
        assert_eq!(field("reportingComponent").as_deref(), Some("kubelet"));
        assert_eq!(field("message"), None);
    }

    #[test]
    fn config_maps_secrets_and_service_accounts() {
        let cm = json!({"metadata": meta("settings"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(config_map_cells(&cm, now()), [json!("settings"), json!(3), json!("2d")]);
        let secret = json!({"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(secret_cells(&secret, now()), [json!("tls"), json!("kubernetes.io/tls"), json!(2), json!("2d")]);
        assert_eq!(secret_field(&secret, "type").as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(secret_field(&secret, "data"), None);
        assert_eq!(service_account_cells(&json!({"metadata": meta("default")}), now()), [json!("default"), json!("2d")]);
    }

    #[test]
    fn endpoints_list_three_then_count_the_rest() {
        let endpoints = json!({"metadata": meta("web"), "subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]},
            {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]},
        ]});
        assert_eq!(endpoints_cells(&endpoints, now())[1], "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...");
        let v6 = json!({"subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]});
        assert_eq!(endpoints_cells(&v6, now())[1], "[fd00::1]:80");
        let headless = json!({"subsets": [{"addresses": [{"ip": "10.0.0.5"}]}]});
        assert_eq!(endpoints_cells(&headless, now())[1], "10.0.0.5");
        assert_eq!(endpoints_cells(&json!({"metadata": meta("none")}), now())[1], "<none>");
    }

    #[test]
    fn persistent_volumes_and_claims() {
        let pv = json!({
            "metadata": meta("pv-data"),
            "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "default", "name": "data"},
                     "storageClassName": "standard", "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"},
        });
        assert_eq!(
            persistent_volume_cells(&pv, now()),
            [
                json!("pv-data"),
                json!("10Gi"),
                json!("RWO,RWX"),
                json!("Retain"),
                json!("Bound"),
                json!("default/data"),
                json!("standard"),
                json!("<unset>"),
                json!(""),
                json!("2d"),
                json!("Filesystem")
            ]
        );
        let mut released = pv.clone();
        released["metadata"]["deletionTimestamp"] = json!("2025-06-01T11:00:00Z");
        released["metadata"]["annotations"] = json!({"volume.beta.kubernetes.io/storage-class": "legacy"});
        let cells = persistent_volume_cells(&released, now());
        assert_eq!((cells[4].as_str(), cells[6].as_str()), (Some("Terminating"), Some("legacy")));

        let pending = json!({"metadata": meta("data"), "spec": {"storageClassName": "standard", "resources": {"requests": {"storage": "1Gi"}}},
                             "status": {"phase": "Pending"}});
        assert_eq!(
            persistent_volume_claim_cells(&pending, now()),
            [
                json!("data"),
                json!("Pending"),
                json!(""),
                json!(""),
                json!(""),
                json!("standard"),
                json!("<unset>"),
                json!("2d"),
                json!("<unset>")
            ]
        );
        let bound = json!({"metadata": meta("data"), "spec": {"volumeName": "pv-data", "volumeMode": "Block", "volumeAttributesClassName": "gold"},
                           "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOncePod"]}});
        assert_eq!(
            persistent_volume_claim_cells(&bound, now()),
            [
                json!("data"),
                json!("Bound"),
                json!("pv-data"),
                json!("10Gi"),
                json!("RWOP"),
                json!(""),
                json!("gold"),
                json!("2d"),
                json!("Block")
            ]
        );
    }
}
