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
