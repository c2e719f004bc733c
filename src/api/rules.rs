//! Binds each kind to its rules: defaulting and validation from `kinds`, Table columns and selectable fields
//! from `table`. The registry points every resource at one of these; kinds without rules of their own use
//! `GENERIC` (ObjectMeta validation, which the store applies to every kind, and Name/Created At columns).

use super::kinds::{self, batch, config, coordination, discovery, events, namespace, node, pod, service, workloads};
use super::registry::KindRules;
use super::table;

pub static GENERIC: KindRules = KindRules {
    default: kinds::noop_default,
    prepare_for_create: kinds::noop_prepare_create,
    prepare_for_update: kinds::noop_prepare_update,
    validate: kinds::no_validation,
    validate_update: kinds::no_update_validation,
    columns: table::GENERIC_COLUMNS,
    cells: table::generic_cells,
    row_conditions: no_row_conditions,
    field: table::no_fields,
};

fn no_row_conditions(_: &serde_json::Value) -> Vec<serde_json::Value> {
    Vec::new()
}

pub static POD: KindRules = KindRules {
    default: pod::default_pod,
    prepare_for_create: pod::prepare_pod_for_create,
    prepare_for_update: pod::prepare_pod_for_update,
    validate: pod::validate_pod,
    validate_update: pod::validate_pod_update,
    columns: table::POD_COLUMNS,
    cells: table::pod_cells,
    row_conditions: table::pod_row_conditions,
    field: table::pod_field,
};

pub static SERVICE: KindRules = KindRules {
    default: service::default_service,
    prepare_for_create: service::prepare_service_for_create,
    prepare_for_update: service::prepare_service_for_update,
    validate: service::validate_service,
    validate_update: service::validate_service_update,
    columns: table::SERVICE_COLUMNS,
    cells: table::service_cells,
    row_conditions: no_row_conditions,
    field: table::no_fields,
};

pub static REPLICATION_CONTROLLER: KindRules = KindRules {
    default: workloads::default_replication_controller,
    prepare_for_create: workloads::prepare_replication_controller_for_create,
    prepare_for_update: workloads::prepare_workload_for_update,
    validate: workloads::validate_replication_controller,
    validate_update: workloads::validate_replication_controller_update,
    columns: table::REPLICATION_CONTROLLER_COLUMNS,
    cells: table::replication_controller_cells,
    row_conditions: no_row_conditions,
    field: table::replication_controller_field,
};

pub static REPLICA_SET: KindRules = KindRules {
    default: workloads::default_replica_set,
    prepare_for_create: workloads::prepare_replica_set_for_create,
    prepare_for_update: workloads::prepare_workload_for_update,
    validate: workloads::validate_replica_set,
    validate_update: workloads::validate_replica_set_update,
    columns: table::REPLICA_SET_COLUMNS,
    cells: table::replica_set_cells,
    row_conditions: no_row_conditions,
    field: table::replica_set_field,
};

pub static DEPLOYMENT: KindRules = KindRules {
    default: workloads::default_deployment,
    prepare_for_create: workloads::prepare_deployment_for_create,
    prepare_for_update: workloads::prepare_workload_for_update,
    validate: workloads::validate_deployment,
    validate_update: workloads::validate_deployment_update,
    columns: table::DEPLOYMENT_COLUMNS,
    cells: table::deployment_cells,
    row_conditions: no_row_conditions,
    field: table::no_fields,
};

pub static DAEMON_SET: KindRules = KindRules {
    default: workloads::default_daemon_set,
    prepare_for_create: workloads::prepare_daemon_set_for_create,
    prepare_for_update: workloads::prepare_daemon_set_for_update,
    validate: workloads::validate_daemon_set,
    validate_update: workloads::validate_daemon_set_update,
    columns: table::DAEMON_SET_COLUMNS,
    cells: table::daemon_set_cells,
    row_conditions: no_row_conditions,
    field: table::no_fields,
};

pub static STATEFUL_SET: KindRules = KindRules {
    default: workloads::default_stateful_set,
    prepare_for_create: workloads::prepare_stateful_set_for_create,
    prepare_for_update: workloads::prepare_workload_for_update,
    validate: workloads::validate_stateful_set,
    validate_update: workloads::validate_stateful_set_update,
    columns: table::STATEFUL_SET_COLUMNS,
    cells: table::stateful_set_cells,
    row_conditions: no_row_conditions,
    field: table::no_fields,
};

pub static JOB: KindRules = KindRules {
    default: batch::default_job,
    prepare_for_create: batch::prepare_job_for_create,
    prepare_for_update: batch::prepare_job_for_update,
    validate: batch::validate_job,
    validate_update: batch::validate_job_update,
    columns: table::JOB_COLUMNS,
    cells: table::job_cells,
    row_conditions: no_row_conditions,
    field: table::job_field,
};

pub static CRON_JOB: KindRules = KindRules {
    default: batch::default_cron_job,
    prepare_for_create: batch::prepare_cron_job_for_create,
    prepare_for_update: batch::prepare_cron_job_for_update,
    validate: batch::validate_cron_job,
    validate_update: batch::validate_cron_job_update,
    columns: table::CRON_JOB_COLUMNS,
    cells: table::cron_job_cells,
    row_conditions: no_row_conditions,
    field: table::no_fields,
};

pub static CONFIG_MAP: KindRules = KindRules {
    validate: config::validate_config_map,
    validate_update: config::validate_config_map_update,
    columns: table::CONFIG_MAP_COLUMNS,
    cells: table::config_map_cells,
    ..GENERIC
};

pub static SECRET: KindRules = KindRules {
    default: config::default_secret,
    validate: config::validate_secret,
    validate_update: config::validate_secret_update,
    columns: table::SECRET_COLUMNS,
    cells: table::secret_cells,
    field: table::secret_field,
    ..GENERIC
};

pub static NAMESPACE: KindRules = KindRules {
    default: namespace::default_namespace,
    prepare_for_create: namespace::prepare_namespace_for_create,
    prepare_for_update: namespace::prepare_namespace_for_update,
    validate: namespace::validate_namespace,
    validate_update: namespace::validate_namespace_update,
    columns: table::NAMESPACE_COLUMNS,
    cells: table::namespace_cells,
    row_conditions: no_row_conditions,
    field: table::namespace_field,
};

pub static NODE: KindRules = KindRules {
    default: node::default_node,
    prepare_for_create: node::prepare_node_for_create,
    prepare_for_update: node::prepare_node_for_update,
    validate: node::validate_node,
    validate_update: node::validate_node_update,
    columns: table::NODE_COLUMNS,
    cells: table::node_cells,
    row_conditions: no_row_conditions,
    field: table::node_field,
};

pub static SERVICE_ACCOUNT: KindRules =
    KindRules { columns: table::SERVICE_ACCOUNT_COLUMNS, cells: table::service_account_cells, ..GENERIC };

pub static ENDPOINTS: KindRules = KindRules {
    default: discovery::default_endpoints,
    validate: discovery::validate_endpoints,
    validate_update: discovery::validate_endpoints_update,
    columns: table::ENDPOINTS_COLUMNS,
    cells: table::endpoints_cells,
    ..GENERIC
};

pub static ENDPOINT_SLICE: KindRules = KindRules {
    default: discovery::default_endpoint_slice,
    validate: discovery::validate_endpoint_slice,
    validate_update: discovery::validate_endpoint_slice_update,
    columns: table::ENDPOINT_SLICE_COLUMNS,
    cells: table::endpoint_slice_cells,
    ..GENERIC
};

pub static EVENT: KindRules = KindRules {
    validate: events::validate_event,
    validate_update: events::validate_event_update,
    columns: table::EVENT_COLUMNS,
    cells: table::event_cells,
    field: table::event_field,
    ..GENERIC
};

pub static EVENTS_EVENT: KindRules = KindRules {
    validate: events::validate_events_v1_event,
    validate_update: events::validate_events_v1_event_update,
    columns: table::EVENT_COLUMNS,
    cells: table::events_v1_event_cells,
    field: table::events_v1_event_field,
    ..GENERIC
};

pub static LEASE: KindRules = KindRules {
    validate: coordination::validate_lease,
    validate_update: coordination::validate_lease_update,
    columns: table::LEASE_COLUMNS,
    cells: table::lease_cells,
    ..GENERIC
};

pub static PERSISTENT_VOLUME: KindRules =
    KindRules { columns: table::PERSISTENT_VOLUME_COLUMNS, cells: table::persistent_volume_cells, ..GENERIC };

pub static PERSISTENT_VOLUME_CLAIM: KindRules =
    KindRules { columns: table::PERSISTENT_VOLUME_CLAIM_COLUMNS, cells: table::persistent_volume_claim_cells, ..GENERIC };

pub static CERTIFICATE_SIGNING_REQUEST: KindRules = KindRules { field: table::certificate_signing_request_field, ..GENERIC };
