//! The registry of resource descriptions: each built-in kind is described here exactly once (group, version,
//! kind, plural, scope, short names, categories, verbs, subresources, schema and kind rules), and routes,
//! storage keys, discovery, OpenAPI, validation and Table output all read it.

use serde_json::Value;

use super::status::FieldError;

/// One resource type served by the API server.
#[derive(Debug)]
pub struct ResourceDesc {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub list_kind: &'static str,
    /// The path segment: `pods`, `deployments`.
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// The OpenAPI definition name of the kind's schema (`io.k8s.api.core.v1.Pod`).
    pub schema_name: &'static str,
    /// Adds the kind's schema (and everything it references) to a generator; returns the schema of the kind.
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    pub rules: &'static KindRules,
    /// Set when the resource is kept in another version's collection; `None` stores it under its own name.
    pub shared_storage: Option<SharedStorage>,
}

/// Where a resource served in a second version is stored (the storage version's collection), with the
/// conversions between the served and the stored shape. Every read converts from it, every write to it.
#[derive(Debug)]
pub struct SharedStorage {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub to_storage: fn(Value) -> Value,
    pub from_storage: fn(Value) -> Value,
}

impl ResourceDesc {
    /// Group, version and kind of the stored shape (the resource's own unless it shares another's storage).
    pub fn storage_gvk(&self) -> (&'static str, &'static str, &'static str) {
        match &self.shared_storage {
            Some(shared) => (shared.group, shared.version, shared.kind),
            None => (self.group, self.version, self.kind),
        }
    }

    /// The group and plural naming the storage collection.
    pub fn storage_collection(&self) -> (&'static str, &'static str) {
        match &self.shared_storage {
            Some(shared) => (shared.group, shared.plural),
            None => (self.group, self.plural),
        }
    }

    fn stored_in(mut self, shared: SharedStorage) -> Self {
        self.shared_storage = Some(shared);
        self
    }
}

/// A subresource such as `status`, `scale` or `eviction`, with the kind its requests and responses carry.
#[derive(Debug)]
pub struct Subresource {
    pub name: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

/// One Table column, as `metav1.TableColumnDefinition`.
#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean`, `date`.
    pub column_type: &'static str,
    /// OpenAPI format: `name` for the name column, else empty.
    pub format: &'static str,
    pub description: &'static str,
    /// 0 shows by default; 1 only with `-o wide`.
    pub priority: u8,
}

/// The rules of one kind; the generic store calls them in a fixed order (default → prepare → validate).
pub struct KindRules {
    /// Upstream defaulting (`SetDefaults_*`): fills in what a real cluster shows in `kubectl get -o yaml`.
    pub default: fn(&mut Value),
    /// Create-time normalisation (e.g. status reset, initial phase), after defaulting.
    pub prepare_for_create: fn(&mut Value),
    /// Update-time normalisation given the stored object (e.g. keep the old status on a main-resource update).
    pub prepare_for_update: fn(&mut Value, &Value),
    /// Validation of a new object; returns every failure, empty when valid. Must not mutate.
    pub validate: fn(&Value) -> Vec<FieldError>,
    /// Validation of an update against the stored object (immutable fields and so on).
    pub validate_update: fn(&Value, &Value) -> Vec<FieldError>,
    /// Table columns for `kubectl get`, default and wide (priority 1).
    pub columns: &'static [Column],
    /// The cells of one row, one per column, in the same order.
    pub cells: fn(&Value, Timestamp) -> Vec<Value>,
    /// Conditions of a Table row (upstream marks finished pods `Completed`), empty for most kinds.
    pub row_conditions: fn(&Value) -> Vec<Value>,
    /// The value of a selectable field (`spec.nodeName`, `status.phase`) beyond `metadata.name` and
    /// `metadata.namespace`, which every kind supports; `None` when the kind does not support that field.
    pub field: fn(&Value, &str) -> Option<String>,
}

impl std::fmt::Debug for KindRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KindRules").field("columns", &self.columns.len()).finish_non_exhaustive()
    }
}

/// The time a Table is rendered at, for age cells (`5m`, `693d`).
pub type Timestamp = jiff::Timestamp;

/// The verbs of an ordinary stored resource.
pub const VERBS_ALL: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
/// Resources that exist only as a request (reviews, bindings): create and nothing else.
pub const VERBS_CREATE: &[&str] = &["create"];
const VERBS_GET_LIST: &[&str] = &["get", "list"];
const VERBS_STATUS: &[&str] = &["get", "patch", "update"];
const VERBS_POST: &[&str] = &["create"];
const VERBS_PROXY: &[&str] = &["create", "delete", "get", "patch", "update"];
const VERBS_CONNECT: &[&str] = &["create", "get"];

const fn status(group: &'static str, version: &'static str, kind: &'static str) -> Subresource {
    Subresource { name: "status", group, version, kind, verbs: VERBS_STATUS }
}
const fn scale() -> Subresource {
    Subresource { name: "scale", group: "autoscaling", version: "v1", kind: "Scale", verbs: VERBS_STATUS }
}

/// A `'static` list of subresources built with const fns (a plain `&[…]` of calls is not promoted).
macro_rules! subresources {
    ($($item:expr),* $(,)?) => {{
        const LIST: &[Subresource] = &[$($item),*];
        LIST
    }};
}

const POD_SUBRESOURCES: &[Subresource] = &[
    Subresource { name: "attach", group: "", version: "v1", kind: "PodAttachOptions", verbs: VERBS_CONNECT },
    Subresource { name: "binding", group: "", version: "v1", kind: "Binding", verbs: VERBS_POST },
    Subresource { name: "ephemeralcontainers", group: "", version: "v1", kind: "Pod", verbs: VERBS_STATUS },
    Subresource { name: "eviction", group: "policy", version: "v1", kind: "Eviction", verbs: VERBS_POST },
    Subresource { name: "exec", group: "", version: "v1", kind: "PodExecOptions", verbs: VERBS_CONNECT },
    Subresource { name: "log", group: "", version: "v1", kind: "Pod", verbs: &["get"] },
    Subresource { name: "portforward", group: "", version: "v1", kind: "PodPortForwardOptions", verbs: VERBS_CONNECT },
    Subresource { name: "proxy", group: "", version: "v1", kind: "PodProxyOptions", verbs: VERBS_PROXY },
    Subresource { name: "resize", group: "", version: "v1", kind: "Pod", verbs: VERBS_STATUS },
    status("", "v1", "Pod"),
];

/// How a kind is exposed beyond what its Rust type already says (group, version, kind, plural, scope).
struct Exposure {
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    verbs: &'static [&'static str],
    subresources: &'static [Subresource],
    rules: &'static KindRules,
}

const fn exposed(
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [Subresource],
    rules: &'static KindRules,
) -> Exposure {
    Exposure { short_names, categories, verbs: VERBS_ALL, subresources, rules }
}

trait ScopeFlag {
    const NAMESPACED: bool;
}
impl ScopeFlag for k8s_openapi::NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl ScopeFlag for k8s_openapi::ClusterResourceScope {
    const NAMESPACED: bool = false;
}
impl ScopeFlag for k8s_openapi::SubResourceScope {
    const NAMESPACED: bool = true;
}

fn leak(text: String) -> &'static str {
    // The registry lives for the whole process; leaking its few derived strings once is simpler than owning them.
    Box::leak(text.into_boxed_str())
}

fn describe<T>(list_kind: &'static str, exposure: Exposure) -> ResourceDesc
where
    T: k8s_openapi::Resource + schemars::JsonSchema,
    T::Scope: ScopeFlag,
{
    ResourceDesc {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        list_kind,
        plural: T::URL_PATH_SEGMENT,
        singular: leak(T::KIND.to_lowercase()),
        namespaced: <T::Scope as ScopeFlag>::NAMESPACED,
        short_names: exposure.short_names,
        categories: exposure.categories,
        verbs: exposure.verbs,
        subresources: exposure.subresources,
        schema_name: leak(T::schema_name().into_owned()),
        schema: |generator| generator.subschema_for::<T>(),
        rules: exposure.rules,
        shared_storage: None,
    }
}

fn stored<T>(exposure: Exposure) -> ResourceDesc
where
    T: k8s_openapi::ListableResource + schemars::JsonSchema,
    T::Scope: ScopeFlag,
{
    describe::<T>(T::LIST_KIND, exposure)
}

/// A create-only request resource (reviews, bindings): never stored, never listed.
fn request<T>(rules: &'static KindRules) -> ResourceDesc
where
    T: k8s_openapi::Resource + schemars::JsonSchema,
    T::Scope: ScopeFlag,
{
    describe::<T>("", Exposure { short_names: &[], categories: &[], verbs: VERBS_CREATE, subresources: &[], rules })
}

static BUILTIN: std::sync::LazyLock<Vec<ResourceDesc>> = std::sync::LazyLock::new(builtin_resources);

/// Every built-in resource the server serves, in discovery order: groups in upstream's priority order, the
/// preferred version of a group first.
pub fn builtin() -> &'static [ResourceDesc] {
    &BUILTIN
}

/// Finds a served resource by group, version and plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDesc> {
    builtin().iter().find(|desc| desc.group == group && desc.version == version && desc.plural == plural)
}

fn builtin_resources() -> Vec<ResourceDesc> {
    use k8s_openapi::api::{
        admissionregistration::v1 as admission, apps::v1 as apps, authentication::v1 as authn, authorization::v1 as authz,
        autoscaling::v1 as autoscaling_v1, autoscaling::v2 as autoscaling, batch::v1 as batch, certificates::v1 as certificates,
        coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery, events::v1 as events,
        flowcontrol::v1 as flowcontrol, networking::v1 as networking, node::v1 as node, policy::v1 as policy, rbac::v1 as rbac,
        resource::v1 as dra, scheduling::v1 as scheduling, storage::v1 as storage, storagemigration::v1 as storagemigration,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration;

    use super::{convert, rules};

    const ALL: &[&str] = &["all"];
    const NONE: &[&str] = &[];
    const NO_SUB: &[Subresource] = &[];
    let g = &rules::GENERIC;
    vec![
        // core/v1
        request::<core::Binding>(g),
        describe::<core::ComponentStatus>(
            "ComponentStatusList",
            Exposure { short_names: &["cs"], categories: NONE, verbs: VERBS_GET_LIST, subresources: NO_SUB, rules: g },
        ),
        stored::<core::ConfigMap>(exposed(&["cm"], NONE, NO_SUB, &rules::CONFIG_MAP)),
        stored::<core::Endpoints>(exposed(&["ep"], NONE, NO_SUB, &rules::ENDPOINTS)),
        stored::<core::Event>(exposed(&["ev"], NONE, NO_SUB, &rules::EVENT)),
        stored::<core::LimitRange>(exposed(&["limits"], NONE, NO_SUB, g)),
        stored::<core::Namespace>(exposed(
            &["ns"],
            NONE,
            subresources![
                Subresource { name: "finalize", group: "", version: "v1", kind: "Namespace", verbs: &["update"] },
                status("", "v1", "Namespace")
            ],
            &rules::NAMESPACE,
        )),
        stored::<core::Node>(exposed(
            &["no"],
            NONE,
            subresources![
                Subresource { name: "proxy", group: "", version: "v1", kind: "NodeProxyOptions", verbs: VERBS_PROXY },
                status("", "v1", "Node")
            ],
            &rules::NODE,
        )),
        stored::<core::PersistentVolumeClaim>(exposed(
            &["pvc"],
            NONE,
            subresources![status("", "v1", "PersistentVolumeClaim")],
            &rules::PERSISTENT_VOLUME_CLAIM,
        )),
        stored::<core::PersistentVolume>(exposed(
            &["pv"],
            NONE,
            subresources![status("", "v1", "PersistentVolume")],
            &rules::PERSISTENT_VOLUME,
        )),
        stored::<core::Pod>(exposed(&["po"], ALL, POD_SUBRESOURCES, &rules::POD)),
        stored::<core::PodTemplate>(exposed(NONE, NONE, NO_SUB, g)),
        stored::<core::ReplicationController>(exposed(
            &["rc"],
            ALL,
            subresources![scale(), status("", "v1", "ReplicationController")],
            &rules::REPLICATION_CONTROLLER,
        )),
        stored::<core::ResourceQuota>(exposed(&["quota"], NONE, subresources![status("", "v1", "ResourceQuota")], g)),
        stored::<core::Secret>(exposed(NONE, NONE, NO_SUB, &rules::SECRET)),
        stored::<core::ServiceAccount>(exposed(
            &["sa"],
            NONE,
            subresources![Subresource {
                name: "token",
                group: "authentication.k8s.io",
                version: "v1",
                kind: "TokenRequest",
                verbs: VERBS_POST
            }],
            &rules::SERVICE_ACCOUNT,
        )),
        stored::<core::Service>(exposed(
            &["svc"],
            ALL,
            subresources![
                Subresource { name: "proxy", group: "", version: "v1", kind: "ServiceProxyOptions", verbs: VERBS_PROXY },
                status("", "v1", "Service")
            ],
            &rules::SERVICE,
        )),
        // apiregistration.k8s.io/v1
        stored::<apiregistration::APIService>(exposed(
            NONE,
            &["api-extensions"],
            subresources![status("apiregistration.k8s.io", "v1", "APIService")],
            g,
        )),
        // apps/v1
        stored::<apps::ControllerRevision>(exposed(NONE, NONE, NO_SUB, g)),
        stored::<apps::DaemonSet>(exposed(&["ds"], ALL, subresources![status("apps", "v1", "DaemonSet")], &rules::DAEMON_SET)),
        stored::<apps::Deployment>(exposed(
            &["deploy"],
            ALL,
            subresources![scale(), status("apps", "v1", "Deployment")],
            &rules::DEPLOYMENT,
        )),
        stored::<apps::ReplicaSet>(exposed(&["rs"], ALL, subresources![scale(), status("apps", "v1", "ReplicaSet")], &rules::REPLICA_SET)),
        stored::<apps::StatefulSet>(exposed(
            &["sts"],
            ALL,
            subresources![scale(), status("apps", "v1", "StatefulSet")],
            &rules::STATEFUL_SET,
        )),
        // events.k8s.io/v1
        stored::<events::Event>(exposed(&["ev"], NONE, NO_SUB, &rules::EVENTS_EVENT)).stored_in(SharedStorage {
            group: "",
            version: "v1",
            kind: "Event",
            plural: "events",
            to_storage: convert::events_v1_to_core,
            from_storage: convert::core_to_events_v1,
        }),
        // authentication.k8s.io/v1
        request::<authn::SelfSubjectReview>(g),
        request::<authn::TokenReview>(g),
        // authorization.k8s.io/v1
        request::<authz::LocalSubjectAccessReview>(g),
        request::<authz::SelfSubjectAccessReview>(g),
        request::<authz::SelfSubjectRulesReview>(g),
        request::<authz::SubjectAccessReview>(g),
        // autoscaling/v2
        stored::<autoscaling::HorizontalPodAutoscaler>(exposed(
            &["hpa"],
            ALL,
            subresources![status("autoscaling", "v2", "HorizontalPodAutoscaler")],
            g,
        )),
        // autoscaling/v1, kept in the v2 collection
        stored::<autoscaling_v1::HorizontalPodAutoscaler>(exposed(
            &["hpa"],
            ALL,
            subresources![status("autoscaling", "v1", "HorizontalPodAutoscaler")],
            g,
        ))
        .stored_in(SharedStorage {
            group: "autoscaling",
            version: "v2",
            kind: "HorizontalPodAutoscaler",
            plural: "horizontalpodautoscalers",
            to_storage: convert::hpa_v1_to_v2,
            from_storage: convert::hpa_v2_to_v1,
        }),
        // batch/v1
        stored::<batch::CronJob>(exposed(&["cj"], ALL, subresources![status("batch", "v1", "CronJob")], &rules::CRON_JOB)),
        stored::<batch::Job>(exposed(NONE, ALL, subresources![status("batch", "v1", "Job")], &rules::JOB)),
        // certificates.k8s.io/v1
        stored::<certificates::CertificateSigningRequest>(exposed(
            &["csr"],
            NONE,
            subresources![
                Subresource {
                    name: "approval",
                    group: "certificates.k8s.io",
                    version: "v1",
                    kind: "CertificateSigningRequest",
                    verbs: VERBS_STATUS
                },
                status("certificates.k8s.io", "v1", "CertificateSigningRequest")
            ],
            &rules::CERTIFICATE_SIGNING_REQUEST,
        )),
        stored::<certificates::ClusterTrustBundle>(exposed(NONE, NONE, NO_SUB, g)),
        stored::<certificates::PodCertificateRequest>(exposed(
            NONE,
            NONE,
            subresources![status("certificates.k8s.io", "v1", "PodCertificateRequest")],
            g,
        )),
        // networking.k8s.io/v1
        stored::<networking::IngressClass>(exposed(NONE, NONE, NO_SUB, g)),
        stored::<networking::Ingress>(exposed(&["ing"], NONE, subresources![status("networking.k8s.io", "v1", "Ingress")], g)),
        stored::<networking::IPAddress>(exposed(&["ip"], NONE, NO_SUB, g)),
        stored::<networking::NetworkPolicy>(exposed(&["netpol"], NONE, NO_SUB, g)),
        stored::<networking::ServiceCIDR>(exposed(NONE, NONE, subresources![status("networking.k8s.io", "v1", "ServiceCIDR")], g)),
        // policy/v1
        stored::<policy::PodDisruptionBudget>(exposed(&["pdb"], NONE, subresources![status("policy", "v1", "PodDisruptionBudget")], g)),
        // rbac.authorization.k8s.io/v1
        stored::<rbac::ClusterRoleBinding>(exposed(NONE, NONE, NO_SUB, g)),
        stored::<rbac::ClusterRole>(exposed(NONE, NONE, NO_SUB, g)),
        stored::<rbac::RoleBinding>(exposed(NONE, NONE, NO_SUB, g)),
        stored::<rbac::Role>(exposed(NONE, NONE, NO_SUB, g)),
        // storage.k8s.io/v1
        stored::<storage::CSIDriver>(exposed(NONE, NONE, NO_SUB, g)),
        stored::<storage::CSINode>(exposed(NONE, NONE, NO_SUB, g)),
        stored::<storage::CSIStorageCapacity>(exposed(NONE, NONE, NO_SUB, g)),
        stored::<storage::StorageClass>(exposed(&["sc"], NONE, NO_SUB, g)),
        stored::<storage::VolumeAttachment>(exposed(NONE, NONE, subresources![status("storage.k8s.io", "v1", "VolumeAttachment")], g)),
        stored::<storage::VolumeAttributesClass>(exposed(&["vac"], NONE, NO_SUB, g)),
        // storagemigration.k8s.io/v1
        stored::<storagemigration::StorageVersionMigration>(exposed(
            NONE,
            NONE,
            subresources![status("storagemigration.k8s.io", "v1", "StorageVersionMigration")],
            g,
        )),
        // admissionregistration.k8s.io/v1
        stored::<admission::MutatingAdmissionPolicy>(exposed(NONE, &["api-machinery"], NO_SUB, g)),
        stored::<admission::MutatingAdmissionPolicyBinding>(exposed(NONE, &["api-machinery"], NO_SUB, g)),
        stored::<admission::MutatingWebhookConfiguration>(exposed(NONE, &["api-extensions"], NO_SUB, g)),
        stored::<admission::ValidatingAdmissionPolicy>(exposed(
            NONE,
            &["api-machinery"],
            subresources![status("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy")],
            g,
        )),
        stored::<admission::ValidatingAdmissionPolicyBinding>(exposed(NONE, &["api-machinery"], NO_SUB, g)),
        stored::<admission::ValidatingWebhookConfiguration>(exposed(NONE, &["api-extensions"], NO_SUB, g)),
        // apiextensions.k8s.io/v1
        stored::<apiextensions::CustomResourceDefinition>(exposed(
            &["crd", "crds"],
            &["api-extensions"],
            subresources![status("apiextensions.k8s.io", "v1", "CustomResourceDefinition")],
            g,
        )),
        // scheduling.k8s.io/v1
        stored::<scheduling::PriorityClass>(exposed(&["pc"], NONE, NO_SUB, g)),
        // coordination.k8s.io/v1
        stored::<coordination::Lease>(exposed(NONE, NONE, NO_SUB, &rules::LEASE)),
        // node.k8s.io/v1
        stored::<node::RuntimeClass>(exposed(NONE, NONE, NO_SUB, g)),
        // discovery.k8s.io/v1
        stored::<discovery::EndpointSlice>(exposed(NONE, NONE, NO_SUB, &rules::ENDPOINT_SLICE)),
        // flowcontrol.apiserver.k8s.io/v1
        stored::<flowcontrol::FlowSchema>(exposed(
            NONE,
            NONE,
            subresources![status("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema")],
            g,
        )),
        stored::<flowcontrol::PriorityLevelConfiguration>(exposed(
            NONE,
            NONE,
            subresources![status("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration")],
            g,
        )),
        // resource.k8s.io/v1
        stored::<dra::DeviceClass>(exposed(NONE, NONE, NO_SUB, g)),
        stored::<dra::DeviceTaintRule>(exposed(NONE, NONE, subresources![status("resource.k8s.io", "v1", "DeviceTaintRule")], g)),
        stored::<dra::ResourceClaim>(exposed(NONE, NONE, subresources![status("resource.k8s.io", "v1", "ResourceClaim")], g)),
        stored::<dra::ResourceClaimTemplate>(exposed(NONE, NONE, NO_SUB, g)),
        stored::<dra::ResourceSlice>(exposed(NONE, NONE, NO_SUB, g)),
    ]
}
