//! The list, map and patch semantics of built-in fields that OpenAPI carries as extensions and the k8s-openapi
//! schemas do not: `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key` (strategic merge patch, read by
//! kubectl's client-side apply and by our own patch engine), `x-kubernetes-list-type` / `x-kubernetes-list-map-keys`
//! and `x-kubernetes-map-type` (server-side apply). The table restates the `patchStrategy`/`patchMergeKey` struct
//! tags and the `+listType`/`+listMapKey`/`+mapType`/`+structType` markers of the stable (non-alpha, non-beta)
//! upstream API types (k8s.io/api, apimachinery meta/v1, apiextensions/v1, apiregistration/v1), limited to the
//! definitions and properties that k8s-openapi 0.29 (v1_37) has.

use serde_json::{Map, Value};

const PATCH_STRATEGY: &str = "x-kubernetes-patch-strategy";
const PATCH_MERGE_KEY: &str = "x-kubernetes-patch-merge-key";
const LIST_TYPE: &str = "x-kubernetes-list-type";
const LIST_MAP_KEYS: &str = "x-kubernetes-list-map-keys";
const MAP_TYPE: &str = "x-kubernetes-map-type";

/// The semantics of one property of one definition.
#[derive(Clone, Copy, Debug)]
struct FieldMeta {
    property: &'static str,
    patch_strategy: Option<&'static str>,
    patch_merge_key: Option<&'static str>,
    list_type: Option<&'static str>,
    list_map_keys: &'static [&'static str],
    map_type: Option<&'static str>,
}

const fn field(property: &'static str) -> FieldMeta {
    FieldMeta { property, patch_strategy: None, patch_merge_key: None, list_type: None, list_map_keys: &[], map_type: None }
}

impl FieldMeta {
    const fn strategy(self, strategy: &'static str) -> Self {
        Self { patch_strategy: Some(strategy), ..self }
    }
    /// List elements are merged by the merge key instead of the list being replaced.
    const fn merge(self) -> Self {
        self.strategy("merge")
    }
    /// Fields of the struct that the patch does not mention are cleared (union types such as a volume source).
    const fn retain_keys(self) -> Self {
        self.strategy("retainKeys")
    }
    const fn merge_retain_keys(self) -> Self {
        self.strategy("merge,retainKeys")
    }
    /// The whole value is replaced, never merged.
    const fn replace(self) -> Self {
        self.strategy("replace")
    }
    const fn key(self, key: &'static str) -> Self {
        Self { patch_merge_key: Some(key), ..self }
    }
    const fn atomic(self) -> Self {
        Self { list_type: Some("atomic"), ..self }
    }
    const fn set(self) -> Self {
        Self { list_type: Some("set"), ..self }
    }
    const fn map(self, keys: &'static [&'static str]) -> Self {
        Self { list_type: Some("map"), list_map_keys: keys, ..self }
    }
    const fn atomic_map(self) -> Self {
        Self { map_type: Some("atomic"), ..self }
    }
    const fn granular_map(self) -> Self {
        Self { map_type: Some("granular"), ..self }
    }

    /// Writes the extensions onto the property's schema.
    fn annotate(&self, schema: &mut Map<String, Value>) {
        let mut set = |name: &str, value: Option<&str>| {
            if let Some(value) = value {
                schema.insert(name.into(), value.into());
            }
        };
        set(PATCH_STRATEGY, self.patch_strategy);
        set(PATCH_MERGE_KEY, self.patch_merge_key);
        set(LIST_TYPE, self.list_type);
        set(MAP_TYPE, self.map_type);
        if !self.list_map_keys.is_empty() {
            schema.insert(LIST_MAP_KEYS.into(), self.list_map_keys.into());
        }
    }
}

/// Adds the extensions to every definition of `schemas` that the tables name. Runs before references get their
/// `allOf` wrapping so that an annotated reference property ends up in the `{"allOf":[{"$ref"}], …}` shape.
pub(super) fn annotate(schemas: &mut Map<String, Value>) {
    for (definition, fields) in FIELDS {
        let Some(properties) = schemas.get_mut(*definition).and_then(|schema| schema.get_mut("properties")).and_then(Value::as_object_mut)
        else {
            continue;
        };
        for meta in *fields {
            if let Some(property) = properties.get_mut(meta.property).and_then(Value::as_object_mut) {
                meta.annotate(property);
            }
        }
    }
    for definition in ATOMIC_STRUCTS {
        if let Some(schema) = schemas.get_mut(*definition).and_then(Value::as_object_mut) {
            schema.insert(MAP_TYPE.into(), "atomic".into());
        }
    }
}

/// Every (definition, property) pair of the table.
#[cfg(test)]
pub(super) fn entries() -> impl Iterator<Item = (&'static str, &'static str)> {
    FIELDS.iter().flat_map(|(definition, fields)| fields.iter().map(move |meta| (*definition, meta.property)))
}

/// Structs that server-side apply replaces as a whole (`+structType=atomic`).
const ATOMIC_STRUCTS: &[&str] = &[
    "io.k8s.api.admissionregistration.v1.MatchResources",
    "io.k8s.api.admissionregistration.v1.NamedRuleWithOperations",
    "io.k8s.api.admissionregistration.v1.ParamKind",
    "io.k8s.api.admissionregistration.v1.ParamRef",
    "io.k8s.api.admissionregistration.v1.Variable",
    "io.k8s.api.autoscaling.v1.CrossVersionObjectReference",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.EndpointAddress",
    "io.k8s.api.core.v1.EndpointPort",
    "io.k8s.api.core.v1.EvictionResponder",
    "io.k8s.api.core.v1.FileKeySelector",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.NodeSelector",
    "io.k8s.api.core.v1.NodeSelectorTerm",
    "io.k8s.api.core.v1.ObjectFieldSelector",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.ResourceFieldSelector",
    "io.k8s.api.core.v1.ScopeSelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.SecretReference",
    "io.k8s.api.core.v1.TopologySelectorTerm",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.api.discovery.v1.EndpointPort",
    "io.k8s.api.networking.v1.ServiceBackendPort",
    "io.k8s.api.rbac.v1.RoleRef",
    "io.k8s.api.rbac.v1.Subject",
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
];

/// Per definition, the properties that have list, map or patch semantics other than the defaults.
const FIELDS: &[(&str, &[FieldMeta])] = &[
    ("io.k8s.api.admissionregistration.v1.MatchResources", &[field("resourceRules").atomic(), field("excludeResourceRules").atomic()]),
    (
        "io.k8s.api.admissionregistration.v1.MutatingAdmissionPolicySpec",
        &[field("variables").atomic(), field("mutations").atomic(), field("matchConditions").merge().key("name").map(&["name"])],
    ),
    (
        "io.k8s.api.admissionregistration.v1.MutatingWebhook",
        &[field("rules").atomic(), field("admissionReviewVersions").atomic(), field("matchConditions").merge().key("name").map(&["name"])],
    ),
    ("io.k8s.api.admissionregistration.v1.MutatingWebhookConfiguration", &[field("webhooks").merge().key("name").map(&["name"])]),
    ("io.k8s.api.admissionregistration.v1.NamedRuleWithOperations", &[field("resourceNames").atomic()]),
    ("io.k8s.api.admissionregistration.v1.RuleWithOperations", &[field("operations").atomic()]),
    ("io.k8s.api.admissionregistration.v1.TypeChecking", &[field("expressionWarnings").atomic()]),
    ("io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpec", &[field("validationActions").set()]),
    (
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicySpec",
        &[
            field("validations").atomic(),
            field("auditAnnotations").atomic(),
            field("matchConditions").merge().key("name").map(&["name"]),
            field("variables").merge().key("name").map(&["name"]),
        ],
    ),
    ("io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicyStatus", &[field("conditions").map(&["type"])]),
    (
        "io.k8s.api.admissionregistration.v1.ValidatingWebhook",
        &[field("rules").atomic(), field("admissionReviewVersions").atomic(), field("matchConditions").merge().key("name").map(&["name"])],
    ),
    ("io.k8s.api.admissionregistration.v1.ValidatingWebhookConfiguration", &[field("webhooks").merge().key("name").map(&["name"])]),
    ("io.k8s.api.apps.v1.DaemonSetStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    ("io.k8s.api.apps.v1.DeploymentSpec", &[field("strategy").retain_keys()]),
    ("io.k8s.api.apps.v1.DeploymentStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    ("io.k8s.api.apps.v1.ReplicaSetStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    ("io.k8s.api.apps.v1.StatefulSetSpec", &[field("volumeClaimTemplates").atomic()]),
    ("io.k8s.api.apps.v1.StatefulSetStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    ("io.k8s.api.authentication.v1.TokenRequestSpec", &[field("audiences").atomic()]),
    ("io.k8s.api.authentication.v1.TokenReviewSpec", &[field("audiences").atomic()]),
    ("io.k8s.api.authentication.v1.TokenReviewStatus", &[field("audiences").atomic()]),
    ("io.k8s.api.authentication.v1.UserInfo", &[field("groups").atomic()]),
    ("io.k8s.api.authorization.v1.FieldSelectorAttributes", &[field("requirements").atomic()]),
    ("io.k8s.api.authorization.v1.LabelSelectorAttributes", &[field("requirements").atomic()]),
    ("io.k8s.api.authorization.v1.NonResourceRule", &[field("verbs").atomic(), field("nonResourceURLs").atomic()]),
    (
        "io.k8s.api.authorization.v1.ResourceRule",
        &[field("verbs").atomic(), field("apiGroups").atomic(), field("resources").atomic(), field("resourceNames").atomic()],
    ),
    ("io.k8s.api.authorization.v1.SubjectAccessReviewSpec", &[field("groups").atomic()]),
    ("io.k8s.api.authorization.v1.SubjectRulesReviewStatus", &[field("resourceRules").atomic(), field("nonResourceRules").atomic()]),
    ("io.k8s.api.autoscaling.v2.HPAScalingRules", &[field("policies").atomic()]),
    ("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec", &[field("metrics").atomic()]),
    (
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus",
        &[field("currentMetrics").atomic(), field("conditions").merge().key("type").map(&["type"])],
    ),
    ("io.k8s.api.batch.v1.CronJobStatus", &[field("active").atomic()]),
    ("io.k8s.api.batch.v1.JobSchedulingConfiguration", &[field("resourceClaims").merge().key("name").map(&["name"])]),
    ("io.k8s.api.batch.v1.JobStatus", &[field("conditions").merge().key("type").atomic()]),
    ("io.k8s.api.batch.v1.PodFailurePolicy", &[field("rules").atomic()]),
    ("io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement", &[field("values").set()]),
    ("io.k8s.api.batch.v1.PodFailurePolicyRule", &[field("onPodConditions").atomic()]),
    ("io.k8s.api.batch.v1.SuccessPolicy", &[field("rules").atomic()]),
    ("io.k8s.api.batch.v1.UncountedTerminatedPods", &[field("succeeded").set(), field("failed").set()]),
    ("io.k8s.api.certificates.v1.CertificateSigningRequestSpec", &[field("usages").atomic(), field("groups").atomic()]),
    ("io.k8s.api.certificates.v1.CertificateSigningRequestStatus", &[field("conditions").map(&["type"])]),
    ("io.k8s.api.certificates.v1.PodCertificateRequestStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    ("io.k8s.api.core.v1.Capabilities", &[field("add").atomic(), field("drop").atomic()]),
    ("io.k8s.api.core.v1.CephFSPersistentVolumeSource", &[field("monitors").atomic()]),
    ("io.k8s.api.core.v1.CephFSVolumeSource", &[field("monitors").atomic()]),
    ("io.k8s.api.core.v1.ComponentStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    ("io.k8s.api.core.v1.ConfigMapProjection", &[field("items").atomic()]),
    ("io.k8s.api.core.v1.ConfigMapVolumeSource", &[field("items").atomic()]),
    (
        "io.k8s.api.core.v1.Container",
        &[
            field("command").atomic(),
            field("args").atomic(),
            field("ports").merge().key("containerPort").map(&["containerPort", "protocol"]),
            field("envFrom").atomic(),
            field("env").merge().key("name").map(&["name"]),
            field("resizePolicy").atomic(),
            field("restartPolicyRules").atomic(),
            field("volumeMounts").merge().key("mountPath").map(&["mountPath"]),
            field("volumeDevices").merge().key("devicePath").map(&["devicePath"]),
        ],
    ),
    ("io.k8s.api.core.v1.ContainerImage", &[field("names").atomic()]),
    ("io.k8s.api.core.v1.ContainerRestartRuleOnExitCodes", &[field("values").set()]),
    (
        "io.k8s.api.core.v1.ContainerStatus",
        &[
            field("volumeMounts").merge().key("mountPath").map(&["mountPath"]),
            field("allocatedResourcesStatus").merge().key("name").map(&["name"]),
        ],
    ),
    ("io.k8s.api.core.v1.DownwardAPIProjection", &[field("items").atomic()]),
    ("io.k8s.api.core.v1.DownwardAPIVolumeSource", &[field("items").atomic()]),
    ("io.k8s.api.core.v1.EndpointSubset", &[field("addresses").atomic(), field("notReadyAddresses").atomic(), field("ports").atomic()]),
    ("io.k8s.api.core.v1.Endpoints", &[field("subsets").atomic()]),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        &[
            field("command").atomic(),
            field("args").atomic(),
            field("ports").merge().key("containerPort").map(&["containerPort", "protocol"]),
            field("envFrom").atomic(),
            field("env").merge().key("name").map(&["name"]),
            field("resizePolicy").atomic(),
            field("restartPolicyRules").atomic(),
            field("volumeMounts").merge().key("mountPath").map(&["mountPath"]),
            field("volumeDevices").merge().key("devicePath").map(&["devicePath"]),
        ],
    ),
    ("io.k8s.api.core.v1.ExecAction", &[field("command").atomic()]),
    ("io.k8s.api.core.v1.FCVolumeSource", &[field("targetWWNs").atomic(), field("wwids").atomic()]),
    ("io.k8s.api.core.v1.HTTPGetAction", &[field("httpHeaders").atomic()]),
    ("io.k8s.api.core.v1.HostAlias", &[field("hostnames").atomic()]),
    ("io.k8s.api.core.v1.ISCSIPersistentVolumeSource", &[field("portals").atomic()]),
    ("io.k8s.api.core.v1.ISCSIVolumeSource", &[field("portals").atomic()]),
    ("io.k8s.api.core.v1.LimitRangeSpec", &[field("limits").atomic()]),
    ("io.k8s.api.core.v1.LinuxContainerUser", &[field("supplementalGroups").atomic()]),
    ("io.k8s.api.core.v1.LoadBalancerIngress", &[field("ports").atomic()]),
    ("io.k8s.api.core.v1.LoadBalancerStatus", &[field("ingress").atomic()]),
    ("io.k8s.api.core.v1.NamespaceSpec", &[field("finalizers").atomic()]),
    ("io.k8s.api.core.v1.NamespaceStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    ("io.k8s.api.core.v1.NodeAffinity", &[field("preferredDuringSchedulingIgnoredDuringExecution").atomic()]),
    (
        "io.k8s.api.core.v1.NodeAllocatableResourceClaimStatus",
        &[
            field("containers").set(),
            field("mapping").merge().key("name").map(&["name"]),
            field("overhead").merge().key("name").map(&["name"]),
        ],
    ),
    ("io.k8s.api.core.v1.NodePodPreemptionPolicy", &[field("disableResizePreemption").set()]),
    ("io.k8s.api.core.v1.NodeSelector", &[field("nodeSelectorTerms").atomic()]),
    ("io.k8s.api.core.v1.NodeSelectorRequirement", &[field("values").atomic()]),
    ("io.k8s.api.core.v1.NodeSelectorTerm", &[field("matchExpressions").atomic(), field("matchFields").atomic()]),
    ("io.k8s.api.core.v1.NodeSpec", &[field("podCIDRs").merge().set(), field("taints").atomic()]),
    (
        "io.k8s.api.core.v1.NodeStatus",
        &[
            field("conditions").merge().key("type").map(&["type"]),
            field("addresses").merge().key("type").map(&["type"]),
            field("images").atomic(),
            field("volumesInUse").atomic(),
            field("volumesAttached").atomic(),
            field("runtimeHandlers").atomic(),
            field("declaredFeatures").atomic(),
        ],
    ),
    ("io.k8s.api.core.v1.PersistentVolumeClaimSpec", &[field("accessModes").atomic()]),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimStatus",
        &[
            field("accessModes").atomic(),
            field("conditions").merge().key("type").map(&["type"]),
            field("allocatedResourceStatuses").granular_map(),
        ],
    ),
    ("io.k8s.api.core.v1.PersistentVolumeSpec", &[field("accessModes").atomic(), field("mountOptions").atomic()]),
    (
        "io.k8s.api.core.v1.PodAffinity",
        &[
            field("requiredDuringSchedulingIgnoredDuringExecution").atomic(),
            field("preferredDuringSchedulingIgnoredDuringExecution").atomic(),
        ],
    ),
    (
        "io.k8s.api.core.v1.PodAffinityTerm",
        &[field("namespaces").atomic(), field("matchLabelKeys").atomic(), field("mismatchLabelKeys").atomic()],
    ),
    (
        "io.k8s.api.core.v1.PodAntiAffinity",
        &[
            field("requiredDuringSchedulingIgnoredDuringExecution").atomic(),
            field("preferredDuringSchedulingIgnoredDuringExecution").atomic(),
        ],
    ),
    ("io.k8s.api.core.v1.PodDNSConfig", &[field("nameservers").atomic(), field("searches").atomic(), field("options").atomic()]),
    ("io.k8s.api.core.v1.PodExtendedResourceClaimStatus", &[field("requestMappings").atomic()]),
    ("io.k8s.api.core.v1.PodSecurityContext", &[field("supplementalGroups").atomic(), field("sysctls").atomic()]),
    (
        "io.k8s.api.core.v1.PodSpec",
        &[
            field("volumes").merge_retain_keys().key("name").map(&["name"]),
            field("initContainers").merge().key("name").map(&["name"]),
            field("containers").merge().key("name").map(&["name"]),
            field("ephemeralContainers").merge().key("name").map(&["name"]),
            field("nodeSelector").atomic_map(),
            field("imagePullSecrets").merge().key("name").map(&["name"]),
            field("tolerations").atomic(),
            field("hostAliases").merge().key("ip").map(&["ip"]),
            field("readinessGates").atomic(),
            field("topologySpreadConstraints").merge().key("topologyKey").map(&["topologyKey", "whenUnsatisfiable"]),
            field("schedulingGates").merge().key("name").map(&["name"]),
            field("resourceClaims").merge_retain_keys().key("name").map(&["name"]),
            field("evictionResponders").merge().key("name").map(&["name"]),
        ],
    ),
    (
        "io.k8s.api.core.v1.PodStatus",
        &[
            field("conditions").merge().key("type").map(&["type"]),
            field("hostIPs").merge().key("ip").atomic(),
            field("podIPs").merge().key("ip").map(&["ip"]),
            field("initContainerStatuses").atomic(),
            field("containerStatuses").atomic(),
            field("ephemeralContainerStatuses").atomic(),
            field("resourceClaimStatuses").merge_retain_keys().key("name").map(&["name"]),
            field("nodeAllocatableResourceClaimStatuses").merge().key("resourceClaimName").map(&["resourceClaimName"]),
            field("volumeHealth").map(&["name"]),
        ],
    ),
    ("io.k8s.api.core.v1.PodVolumeHealth", &[field("healthConditions").merge().key("status").map(&["status", "reason"])]),
    ("io.k8s.api.core.v1.ProjectedVolumeSource", &[field("sources").atomic()]),
    ("io.k8s.api.core.v1.RBDPersistentVolumeSource", &[field("monitors").atomic()]),
    ("io.k8s.api.core.v1.RBDVolumeSource", &[field("monitors").atomic()]),
    ("io.k8s.api.core.v1.ReplicationControllerSpec", &[field("selector").atomic_map()]),
    ("io.k8s.api.core.v1.ReplicationControllerStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    ("io.k8s.api.core.v1.ResourceQuotaSpec", &[field("scopes").atomic()]),
    ("io.k8s.api.core.v1.ResourceRequirements", &[field("claims").map(&["name"])]),
    ("io.k8s.api.core.v1.ResourceStatus", &[field("resources").map(&["resourceID"])]),
    ("io.k8s.api.core.v1.ScopeSelector", &[field("matchExpressions").atomic()]),
    ("io.k8s.api.core.v1.ScopedResourceSelectorRequirement", &[field("values").atomic()]),
    ("io.k8s.api.core.v1.SecretProjection", &[field("items").atomic()]),
    ("io.k8s.api.core.v1.SecretVolumeSource", &[field("items").atomic()]),
    ("io.k8s.api.core.v1.ServiceAccount", &[field("secrets").merge().key("name").map(&["name"]), field("imagePullSecrets").atomic()]),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        &[
            field("ports").merge().key("port").map(&["port", "protocol"]),
            field("selector").atomic_map(),
            field("clusterIPs").atomic(),
            field("externalIPs").atomic(),
            field("loadBalancerSourceRanges").atomic(),
            field("ipFamilies").atomic(),
        ],
    ),
    ("io.k8s.api.core.v1.ServiceStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    ("io.k8s.api.core.v1.TopologySelectorLabelRequirement", &[field("values").atomic()]),
    ("io.k8s.api.core.v1.TopologySelectorTerm", &[field("matchLabelExpressions").atomic()]),
    ("io.k8s.api.core.v1.TopologySpreadConstraint", &[field("matchLabelKeys").atomic()]),
    ("io.k8s.api.core.v1.VolumeHealthStatus", &[field("healthConditions").merge().key("status").map(&["status", "reason"])]),
    ("io.k8s.api.core.v1.VolumeMount", &[field("bindMountOptions").set()]),
    ("io.k8s.api.discovery.v1.Endpoint", &[field("addresses").set()]),
    ("io.k8s.api.discovery.v1.EndpointHints", &[field("forZones").atomic(), field("forNodes").atomic()]),
    ("io.k8s.api.discovery.v1.EndpointSlice", &[field("endpoints").atomic(), field("ports").atomic()]),
    ("io.k8s.api.flowcontrol.v1.FlowSchemaSpec", &[field("rules").atomic()]),
    ("io.k8s.api.flowcontrol.v1.FlowSchemaStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    ("io.k8s.api.flowcontrol.v1.NonResourcePolicyRule", &[field("verbs").set(), field("nonResourceURLs").set()]),
    (
        "io.k8s.api.flowcontrol.v1.PolicyRulesWithSubjects",
        &[field("subjects").atomic(), field("resourceRules").atomic(), field("nonResourceRules").atomic()],
    ),
    ("io.k8s.api.flowcontrol.v1.PriorityLevelConfigurationStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    (
        "io.k8s.api.flowcontrol.v1.ResourcePolicyRule",
        &[field("verbs").set(), field("apiGroups").set(), field("resources").set(), field("namespaces").set()],
    ),
    ("io.k8s.api.networking.v1.HTTPIngressRuleValue", &[field("paths").atomic()]),
    ("io.k8s.api.networking.v1.IPBlock", &[field("except").atomic()]),
    ("io.k8s.api.networking.v1.IngressLoadBalancerIngress", &[field("ports").atomic()]),
    ("io.k8s.api.networking.v1.IngressLoadBalancerStatus", &[field("ingress").atomic()]),
    ("io.k8s.api.networking.v1.IngressSpec", &[field("tls").atomic(), field("rules").atomic()]),
    ("io.k8s.api.networking.v1.IngressTLS", &[field("hosts").atomic()]),
    ("io.k8s.api.networking.v1.NetworkPolicyEgressRule", &[field("ports").atomic(), field("to").atomic()]),
    ("io.k8s.api.networking.v1.NetworkPolicyIngressRule", &[field("ports").atomic(), field("from").atomic()]),
    ("io.k8s.api.networking.v1.NetworkPolicySpec", &[field("ingress").atomic(), field("egress").atomic(), field("policyTypes").atomic()]),
    ("io.k8s.api.networking.v1.ServiceCIDRSpec", &[field("cidrs").atomic()]),
    ("io.k8s.api.networking.v1.ServiceCIDRStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    ("io.k8s.api.node.v1.Scheduling", &[field("nodeSelector").atomic_map(), field("tolerations").atomic()]),
    ("io.k8s.api.policy.v1.PodDisruptionBudgetSpec", &[field("selector").replace()]),
    ("io.k8s.api.policy.v1.PodDisruptionBudgetStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    ("io.k8s.api.rbac.v1.AggregationRule", &[field("clusterRoleSelectors").atomic()]),
    ("io.k8s.api.rbac.v1.ClusterRole", &[field("rules").atomic()]),
    ("io.k8s.api.rbac.v1.ClusterRoleBinding", &[field("subjects").atomic()]),
    (
        "io.k8s.api.rbac.v1.PolicyRule",
        &[
            field("verbs").atomic(),
            field("apiGroups").atomic(),
            field("resources").atomic(),
            field("resourceNames").atomic(),
            field("nonResourceURLs").atomic(),
        ],
    ),
    ("io.k8s.api.rbac.v1.Role", &[field("rules").atomic()]),
    ("io.k8s.api.rbac.v1.RoleBinding", &[field("subjects").atomic()]),
    ("io.k8s.api.resource.v1.AllocatedDeviceStatus", &[field("conditions").map(&["type"])]),
    ("io.k8s.api.resource.v1.CapacityRequestPolicy", &[field("validValues").atomic()]),
    (
        "io.k8s.api.resource.v1.Device",
        &[
            field("consumesCounters").atomic(),
            field("taints").atomic(),
            field("bindingConditions").atomic(),
            field("bindingFailureConditions").atomic(),
        ],
    ),
    ("io.k8s.api.resource.v1.DeviceAllocationConfiguration", &[field("requests").atomic()]),
    ("io.k8s.api.resource.v1.DeviceAllocationResult", &[field("results").atomic(), field("config").atomic()]),
    (
        "io.k8s.api.resource.v1.DeviceAttribute",
        &[field("ints").atomic(), field("bools").atomic(), field("strings").atomic(), field("versions").atomic()],
    ),
    ("io.k8s.api.resource.v1.DeviceClaim", &[field("requests").atomic(), field("constraints").atomic(), field("config").atomic()]),
    ("io.k8s.api.resource.v1.DeviceClaimConfiguration", &[field("requests").atomic()]),
    ("io.k8s.api.resource.v1.DeviceClassSpec", &[field("selectors").atomic(), field("config").atomic()]),
    ("io.k8s.api.resource.v1.DeviceConstraint", &[field("requests").atomic()]),
    ("io.k8s.api.resource.v1.DeviceRequest", &[field("firstAvailable").atomic()]),
    (
        "io.k8s.api.resource.v1.DeviceRequestAllocationResult",
        &[
            field("tolerations").atomic(),
            field("bindingConditions").atomic(),
            field("bindingFailureConditions").atomic(),
            field("skipNodeOperations").set(),
        ],
    ),
    ("io.k8s.api.resource.v1.DeviceSubRequest", &[field("selectors").atomic(), field("tolerations").atomic()]),
    ("io.k8s.api.resource.v1.DeviceTaintRuleStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    ("io.k8s.api.resource.v1.ExactDeviceRequest", &[field("selectors").atomic(), field("tolerations").atomic()]),
    ("io.k8s.api.resource.v1.NetworkDeviceData", &[field("ips").atomic()]),
    (
        "io.k8s.api.resource.v1.ResourceClaimStatus",
        &[field("reservedFor").merge().key("uid").map(&["uid"]), field("devices").map(&["driver", "device", "pool", "shareID"])],
    ),
    (
        "io.k8s.api.resource.v1.ResourceSliceSpec",
        &[field("devices").atomic(), field("sharedCounters").atomic(), field("skipNodeOperations").set()],
    ),
    ("io.k8s.api.storage.v1.CSIDriverSpec", &[field("volumeLifecycleModes").set(), field("tokenRequests").atomic()]),
    ("io.k8s.api.storage.v1.CSINodeDriver", &[field("topologyKeys").atomic()]),
    ("io.k8s.api.storage.v1.CSINodeSpec", &[field("drivers").merge().key("name").map(&["name"])]),
    ("io.k8s.api.storage.v1.CSINodeStatus", &[field("storageHealth").merge().key("name").map(&["name"])]),
    ("io.k8s.api.storage.v1.StorageClass", &[field("mountOptions").atomic(), field("allowedTopologies").atomic()]),
    ("io.k8s.api.storage.v1.StorageHealth", &[field("healthConditions").atomic()]),
    ("io.k8s.api.storagemigration.v1.StorageVersionMigrationStatus", &[field("conditions").merge().key("type").map(&["type"])]),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionNames",
        &[field("shortNames").atomic(), field("categories").atomic()],
    ),
    ("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec", &[field("versions").atomic()]),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus",
        &[field("conditions").map(&["type"]), field("storedVersions").atomic()],
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionVersion",
        &[field("additionalPrinterColumns").atomic(), field("selectableFields").atomic()],
    ),
    ("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.WebhookConversion", &[field("conversionReviewVersions").atomic()]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup", &[field("versions").atomic(), field("serverAddressByClientCIDRs").atomic()]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList", &[field("groups").atomic()]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.APIResource", &[field("shortNames").atomic(), field("categories").atomic()]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList", &[field("resources").atomic()]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions", &[field("versions").atomic(), field("serverAddressByClientCIDRs").atomic()]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", &[field("dryRun").atomic()]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.FieldSelectorRequirement", &[field("values").atomic()]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector", &[field("matchExpressions").atomic()]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement", &[field("values").atomic()]),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        &[field("ownerReferences").merge().key("uid").map(&["uid"]), field("finalizers").merge().set(), field("managedFields").atomic()],
    ),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails", &[field("causes").atomic()]),
    ("io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceSpec", &[field("caBundle").atomic()]),
    ("io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceStatus", &[field("conditions").merge().key("type").map(&["type"])]),
];
