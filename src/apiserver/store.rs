//! The generic store: create, read, update, patch and delete for every kind, over `storage::Backend`. It owns
//! what is identical for all kinds (system metadata, resourceVersion preconditions, generateName, finalizers
//! and deletion, dry run, namespace lifecycle checks, the fixed write pipeline) and calls each kind's rules
//! from the registry at fixed points: decode → default → prepare → validate → write. No handler reorders or
//! skips a step; kinds differ only in the rules they plug in.

use std::sync::Arc;

use rand::Rng;
use serde_json::{json, Map, Value};

use super::admission::ServiceAllocator;
use super::fields::{self, FieldProblems};
use super::object::{self, collection_prefix, decode_stored, encode_for_storage, object_key};
use super::request::FieldValidation;
use crate::api::registry::{self, ResourceDesc};
use crate::api::status::{ApiError, Details, FieldError};
use crate::api::{kinds, patch};
use crate::storage::{Backend, KeyValue, ListRequest, Revision, StorageError};

/// How many times an unconditional write (PUT without resourceVersion, PATCH) re-reads and retries after
/// another writer won the compare-and-swap, before answering 409.
const UPDATE_ATTEMPTS_MAX: usize = 16;
/// How many names `generateName` tries before giving up, as upstream (each collision is one in ~14 million).
const GENERATE_NAME_ATTEMPTS_MAX: usize = 8;
/// The random suffix `generateName` appends, from upstream's alphabet without vowels and look-alikes.
const GENERATE_NAME_SUFFIX_LENGTH: usize = 5;
const GENERATE_NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Upstream's default grace period for a pod deletion, in seconds.
const POD_GRACE_PERIOD_SECONDS_DEFAULT: i64 = 30;
/// Kinds whose `metadata.generation` counts spec changes (upstream strategies that set it).
const GENERATION_KINDS: &[&str] = &[
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "DaemonSet",
    "StatefulSet",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "CustomResourceDefinition",
    "NetworkPolicy",
    "Ingress",
    "ValidatingAdmissionPolicy",
    "MutatingAdmissionPolicy",
    "FlowSchema",
    "PriorityLevelConfiguration",
    "ResourceClaim",
    "DeviceClass",
];

/// Who writes and how: the parts of a write request that are not the object.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    /// Keys the request body repeated (found while decoding), reported like unknown fields.
    pub duplicate_fields: Vec<String>,
}

/// The result of a successful write.
#[derive(Debug)]
pub struct Written {
    pub object: Value,
    pub warnings: Vec<String>,
    /// True when the write created the object (201 rather than 200).
    pub created: bool,
}

/// Where an object lives: its kind, namespace and name.
#[derive(Clone, Copy, Debug)]
pub struct ObjectRef<'a> {
    pub desc: &'static ResourceDesc,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
}

impl ObjectRef<'_> {
    fn key(&self) -> String {
        object_key(self.desc, self.namespace, self.name)
    }
    fn not_found(&self) -> ApiError {
        ApiError::not_found(self.desc.group, self.desc.plural, self.name)
    }
    fn stale(&self) -> ApiError {
        ApiError::stale_write(self.desc.group, self.desc.plural, self.name)
    }
}

/// The outcome of a delete: gone now, or marked and waiting for finalizers or a grace period.
#[derive(Debug)]
pub enum Deleted {
    Now(Value),
    Pending(Value),
}

/// `DeleteOptions` as the body or the query gives them.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

/// One page of a list.
#[derive(Debug)]
pub struct ListPage {
    pub items: Vec<Value>,
    pub revision: Revision,
    pub continue_token: Option<String>,
    pub remaining: Option<u64>,
}

/// What a list asks for beyond the collection.
#[derive(Debug, Default)]
pub struct ListOptions {
    pub label_selector: Option<crate::api::selector::LabelSelector>,
    pub field_selector: Option<crate::api::selector::FieldSelector>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    /// Read at exactly this revision (resourceVersionMatch=Exact).
    pub exact_revision: Option<Revision>,
    /// Read at a revision no older than this.
    pub min_revision: Option<Revision>,
}

/// The generic store shared by every request handler.
pub struct Store {
    pub backend: Arc<dyn Backend>,
    pub schemas: Arc<Map<String, Value>>,
    pub services: ServiceAllocator,
}

/// Maps a storage failure to the API error a client should see.
pub fn storage_error(error: StorageError) -> ApiError {
    match error {
        StorageError::Unavailable(reason) => ApiError::service_unavailable(format!("storage is unavailable: {reason}")),
        StorageError::Compacted { requested, oldest } => {
            ApiError::Expired { message: format!("too old resource version: {requested} ({oldest})") }
        }
        StorageError::FutureRevision { requested, current } => {
            ApiError::Timeout { message: format!("Too large resource version: {requested}, current: {current}") }
        }
        other => ApiError::internal(other.to_string()),
    }
}

impl Store {
    pub async fn get(&self, target: ObjectRef<'_>) -> Result<Value, ApiError> {
        let kv = self.backend.get(&target.key()).await.map_err(storage_error)?.ok_or_else(|| target.not_found())?;
        decode_stored(target.desc, &kv).map_err(|e| ApiError::internal(format!("stored object is not valid JSON: {e}")))
    }

    async fn get_kv(&self, target: ObjectRef<'_>) -> Result<(KeyValue, Value), ApiError> {
        let kv = self.backend.get(&target.key()).await.map_err(storage_error)?.ok_or_else(|| target.not_found())?;
        let object = decode_stored(target.desc, &kv).map_err(|e| ApiError::internal(format!("stored object is not valid JSON: {e}")))?;
        Ok((kv, object))
    }

    /// Lists a collection with selectors and pagination over one consistent snapshot.
    pub async fn list(&self, desc: &'static ResourceDesc, namespace: Option<&str>, options: &ListOptions) -> Result<ListPage, ApiError> {
        let prefix = collection_prefix(desc, namespace);
        let (mut start_after, mut revision) = match &options.continue_token {
            Some(token) => {
                let (revision, start) = decode_continue(token)?;
                (Some(start), Some(revision))
            }
            None => (None, options.exact_revision),
        };
        if let (None, Some(min)) = (revision, options.min_revision) {
            let current = self.backend.current_revision().await.map_err(storage_error)?;
            if current < min {
                return Err(ApiError::Timeout { message: format!("Too large resource version: {min}, current: {current}") });
            }
        }
        let filtering = options.label_selector.as_ref().is_some_and(|s| !s.is_empty())
            || options.field_selector.as_ref().is_some_and(|s| !s.is_empty());
        let mut items = Vec::new();
        loop {
            let request = ListRequest {
                prefix: prefix.clone(),
                start_after: start_after.clone(),
                limit: options.limit.map(|limit| limit - items.len()),
                revision,
            };
            let page = self.backend.list(&request).await.map_err(|error| match (&options.continue_token, error) {
                (Some(_), StorageError::Compacted { .. }) => ApiError::Expired { message: EXPIRED_CONTINUE_MESSAGE.into() },
                (_, other) => storage_error(other),
            })?;
            revision = Some(page.revision);
            let fetched = page.items.len();
            for kv in &page.items {
                start_after = Some(kv.key.clone());
                let object = decode_stored(desc, kv).map_err(|e| ApiError::internal(format!("stored object is not valid JSON: {e}")))?;
                if matches_selectors(desc, &object, options) {
                    items.push(object);
                }
            }
            let full = options.limit.is_some_and(|limit| items.len() >= limit);
            if page.remaining == 0 || fetched == 0 {
                return Ok(ListPage { items, revision: page.revision, continue_token: None, remaining: None });
            }
            if full {
                let token = encode_continue(page.revision, start_after.as_deref().unwrap_or_default());
                let remaining = (!filtering).then_some(page.remaining);
                return Ok(ListPage { items, revision: page.revision, continue_token: Some(token), remaining });
            }
        }
    }

    /// Creates an object (POST).
    pub async fn create(
        &self,
        desc: &'static ResourceDesc,
        namespace: Option<&str>,
        mut object: Value,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let warnings = self.check_fields(desc, &mut object, options.field_validation, &options.duplicate_fields)?;
        check_type(desc, &object)?;
        set_namespace(desc, &mut object, namespace)?;
        let generate_name = object::meta_str(&object, "generateName").map(String::from);
        let name_given = !object::name(&object).is_empty();
        if !name_given && generate_name.as_deref().unwrap_or_default().is_empty() {
            let error = FieldError::required("metadata.name", "name or generateName is required");
            return Err(ApiError::invalid(desc.group, desc.kind, "", vec![error]));
        }
        if let Some(namespace) = namespace {
            self.check_namespace_accepts(desc, namespace, object::name(&object)).await?;
        }
        (desc.rules.default)(&mut object);
        set_system_fields(desc, &mut object);
        (desc.rules.prepare_for_create)(&mut object);
        record_creator(desc, &mut object, options);
        let attempts = if name_given { 1 } else { GENERATE_NAME_ATTEMPTS_MAX };
        for _ in 0..attempts {
            if !name_given {
                let name = format!("{}{}", generate_name.as_deref().unwrap_or_default(), random_suffix());
                object::meta_mut(&mut object).insert("name".into(), Value::String(name));
            }
            validate_create(desc, &object)?;
            let name = object::name(&object).to_string();
            let target = ObjectRef { desc, namespace, name: &name };
            let allocation = self.services.allocate_for_create(self, desc, &mut object, options.dry_run).await?;
            if options.dry_run {
                if self.backend.get(&target.key()).await.map_err(storage_error)?.is_some() {
                    return Err(ApiError::already_exists(desc.group, desc.plural, &name));
                }
                return Ok(Written { object, warnings, created: true });
            }
            match self.backend.create(&target.key(), encode_for_storage(target.desc, &object)).await {
                Ok(kv) => {
                    object::set_resource_version(&mut object, kv.mod_revision);
                    return Ok(Written { object, warnings, created: true });
                }
                Err(StorageError::AlreadyExists(_)) => {
                    self.services.release(self, &allocation).await;
                    if name_given {
                        return Err(ApiError::already_exists(desc.group, desc.plural, &name));
                    }
                }
                Err(other) => {
                    self.services.release(self, &allocation).await;
                    return Err(storage_error(other));
                }
            }
        }
        Err(ApiError::already_exists(desc.group, desc.plural, object::name(&object)))
    }

    /// Replaces an object (PUT). Without `metadata.resourceVersion` in the body the update is unconditional.
    pub async fn update(
        &self,
        target: ObjectRef<'_>,
        subresource: Option<&str>,
        mut body: Value,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let mut warnings = self.check_fields(target.desc, &mut body, options.field_validation, &options.duplicate_fields)?;
        check_type(target.desc, &body)?;
        check_name_matches(target, &body)?;
        set_namespace(target.desc, &mut body, target.namespace)?;
        let precondition = object::meta_str(&body, "resourceVersion").filter(|rv| !rv.is_empty()).map(String::from);
        let written = self
            .guaranteed_update_of(target, subresource, options, |current| {
                if let Some(expected) = &precondition {
                    if object::meta_str(current, "resourceVersion") != Some(expected.as_str()) {
                        return Err(target.stale());
                    }
                }
                Ok(merge_subresource(target.desc, subresource, current, body.clone()))
            })
            .await?;
        warnings.extend(written.warnings);
        Ok(Written { warnings, ..written })
    }

    /// Applies a patch (PATCH) to the stored object and writes the result.
    pub async fn patch(
        &self,
        target: ObjectRef<'_>,
        subresource: Option<&str>,
        patch_type: PatchType,
        patch_body: &Value,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        if patch_type == PatchType::Apply {
            match self.get(target).await {
                Err(ApiError::NotFound { .. }) => {
                    let mut object = patch_body.clone();
                    set_namespace(target.desc, &mut object, target.namespace)?;
                    check_name_matches(target, &object)?;
                    return self.create(target.desc, target.namespace, object, options).await;
                }
                Err(other) => return Err(other),
                Ok(_) => {}
            }
        }
        let schema_name = target.desc.schema_name;
        let schemas = self.schemas.clone();
        self.guaranteed_update_of(target, subresource, options, |current| {
            let patched = apply_patch(patch_type, current, patch_body, &schemas, schema_name)?;
            let mut patched = merge_subresource(target.desc, subresource, current, patched);
            if object::meta_str(&patched, "resourceVersion").is_none() {
                // A patch that removes resourceVersion must not turn into an unconditional write of stale data.
                object::meta_mut(&mut patched).insert("resourceVersion".into(), current["metadata"]["resourceVersion"].clone());
            }
            if object::meta_str(&patched, "resourceVersion") != object::meta_str(current, "resourceVersion") {
                return Err(target.stale());
            }
            Ok(patched)
        })
        .await
    }

    /// Reads, changes and compare-and-swaps an object, re-reading when another writer got there first. The
    /// closure gets the stored object and returns the desired one; preconditions inside it fail the write.
    pub async fn guaranteed_update(
        &self,
        target: ObjectRef<'_>,
        options: &WriteOptions,
        change: impl FnMut(&Value) -> Result<Value, ApiError>,
    ) -> Result<Written, ApiError> {
        self.guaranteed_update_of(target, None, options, change).await
    }

    /// As [`Store::guaranteed_update`] for a write through `subresource`. A status write skips the kind's
    /// main-resource update preparation, which keeps the stored status (upstream's status strategies do the
    /// reverse: `merge_subresource` already kept everything but the status; `finalize` likewise keeps all but
    /// `spec.finalizers`, which the main-resource rule would put back). A `binding` write is the one way a
    /// pod's node is set: it skips the pod update rules too (upstream binds straight in storage), and its own
    /// rules (not yet bound, not being deleted) live in the caller's `change`.
    pub(super) async fn guaranteed_update_of(
        &self,
        target: ObjectRef<'_>,
        subresource: Option<&str>,
        options: &WriteOptions,
        mut change: impl FnMut(&Value) -> Result<Value, ApiError>,
    ) -> Result<Written, ApiError> {
        let desc = target.desc;
        for _ in 0..UPDATE_ATTEMPTS_MAX {
            let (kv, current) = self.get_kv(target).await?;
            let mut desired = change(&current)?;
            let warnings = self.check_fields(desc, &mut desired, FieldValidation::Ignore, &[])?;
            check_name_matches(target, &desired)?;
            (desc.rules.default)(&mut desired);
            if !matches!(subresource, Some("status" | "binding" | "finalize")) {
                (desc.rules.prepare_for_update)(&mut desired, &current);
            }
            carry_system_metadata(desc, &mut desired, &current, options);
            if subresource != Some("binding") {
                validate_update(desc, &desired, &current)?;
            }
            if without_resource_version(&desired) == without_resource_version(&current) {
                return Ok(Written { object: current, warnings, created: false });
            }
            let allocation = self.services.allocate_for_update(self, desc, &mut desired, &current, options.dry_run).await?;
            if options.dry_run {
                return Ok(Written { object: desired, warnings, created: false });
            }
            if object::is_being_deleted(&desired) && !held_by_finalizers(desc, &desired) && !needs_grace(desc, &desired) {
                return match self.backend.delete(&target.key(), Some(kv.mod_revision)).await {
                    Ok(deleted) => {
                        self.services.release_object(self, desc, &current).await;
                        let mut gone = desired;
                        object::set_resource_version(&mut gone, deleted.mod_revision);
                        Ok(Written { object: gone, warnings, created: false })
                    }
                    Err(StorageError::Conflict { .. }) => continue,
                    Err(StorageError::NotFound(_)) => Err(target.not_found()),
                    Err(other) => Err(storage_error(other)),
                };
            }
            match self.backend.update(&target.key(), kv.mod_revision, encode_for_storage(target.desc, &desired)).await {
                Ok(written) => {
                    self.services.release_replaced(self, &allocation).await;
                    object::set_resource_version(&mut desired, written.mod_revision);
                    return Ok(Written { object: desired, warnings, created: false });
                }
                Err(StorageError::Conflict { .. }) => {
                    self.services.release(self, &allocation).await;
                    continue;
                }
                Err(StorageError::NotFound(_)) => return Err(target.not_found()),
                Err(other) => return Err(storage_error(other)),
            }
        }
        Err(target.stale())
    }

    /// Deletes an object, or marks it for deletion when finalizers or a grace period hold it.
    pub async fn delete(&self, target: ObjectRef<'_>, options: &DeleteOptions) -> Result<Deleted, ApiError> {
        let desc = target.desc;
        for _ in 0..UPDATE_ATTEMPTS_MAX {
            let (kv, current) = self.get_kv(target).await?;
            check_delete_preconditions(target, &current, options)?;
            let mut marked = current.clone();
            let mut finalizers = object::finalizers(&marked);
            match options.propagation_policy.as_deref() {
                Some("Foreground") if !finalizers.iter().any(|f| f == "foregroundDeletion") => finalizers.push("foregroundDeletion".into()),
                Some("Orphan") if !finalizers.iter().any(|f| f == "orphan") => finalizers.push("orphan".into()),
                None | Some("Background") | Some("Foreground") | Some("Orphan") => {}
                Some(other) => {
                    let error = FieldError::not_supported("propagationPolicy", json!(other), &["Foreground", "Background", "Orphan"]);
                    return Err(ApiError::invalid("meta.k8s.io", "DeleteOptions", "", vec![error]));
                }
            }
            let grace = grace_period(desc, &current, options);
            if finalizers.is_empty() && !held_by_namespace_finalizers(desc, &current) && grace == 0 {
                if options.dry_run {
                    return Ok(Deleted::Now(current));
                }
                match self.backend.delete(&target.key(), Some(kv.mod_revision)).await {
                    Ok(deleted) => {
                        self.services.release_object(self, desc, &current).await;
                        let mut gone = current;
                        object::set_resource_version(&mut gone, deleted.mod_revision);
                        return Ok(Deleted::Now(gone));
                    }
                    Err(StorageError::Conflict { .. }) => continue,
                    Err(StorageError::NotFound(_)) => return Err(target.not_found()),
                    Err(other) => return Err(storage_error(other)),
                }
            }
            if object::is_being_deleted(&current) && object::finalizers(&current) == finalizers {
                // Already marked: deleting again changes nothing, as upstream.
                return Ok(Deleted::Pending(current));
            }
            let meta = object::meta_mut(&mut marked);
            if !meta.contains_key("deletionTimestamp") {
                meta.insert("deletionTimestamp".into(), Value::String(object::now_timestamp()));
                meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
            }
            meta.insert("finalizers".into(), json!(finalizers));
            if desc.kind == "Namespace" {
                marked["status"]["phase"] = json!("Terminating");
            }
            if options.dry_run {
                return Ok(Deleted::Pending(marked));
            }
            match self.backend.update(&target.key(), kv.mod_revision, encode_for_storage(target.desc, &marked)).await {
                Ok(written) => {
                    object::set_resource_version(&mut marked, written.mod_revision);
                    return Ok(Deleted::Pending(marked));
                }
                Err(StorageError::Conflict { .. }) => continue,
                Err(StorageError::NotFound(_)) => return Err(target.not_found()),
                Err(other) => return Err(storage_error(other)),
            }
        }
        Err(target.stale())
    }

    /// Rejects unknown fields (Strict), reports them (Warn) or drops them silently (Ignore); always prunes.
    fn check_fields(
        &self,
        desc: &ResourceDesc,
        object: &mut Value,
        validation: FieldValidation,
        duplicates: &[String],
    ) -> Result<Vec<String>, ApiError> {
        let FieldProblems { unknown } = fields::prune_unknown(object, &self.schemas, desc.schema_name);
        let messages: Vec<String> = duplicates
            .iter()
            .map(|path| format!("duplicate field \"{path}\""))
            .chain(unknown.iter().map(|path| format!("unknown field \"{path}\"")))
            .collect();
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        match validation {
            FieldValidation::Strict => Err(ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                messages.join(", "),
                kind = desc.kind,
                version = desc.version
            ))),
            FieldValidation::Warn => Ok(messages),
            FieldValidation::Ignore => Ok(Vec::new()),
        }
    }

    /// A namespaced object may only be created in a namespace that exists and is not terminating.
    async fn check_namespace_accepts(&self, desc: &ResourceDesc, namespace: &str, name: &str) -> Result<(), ApiError> {
        let namespaces = registry::find("", "v1", "namespaces").expect("namespaces are always served");
        let target = ObjectRef { desc: namespaces, namespace: None, name: namespace };
        let namespace_object = self.get(target).await?;
        if object::is_being_deleted(&namespace_object) || namespace_object.pointer("/status/phase") == Some(&json!("Terminating")) {
            let reason = format!("unable to create new content in namespace {namespace} because it is being terminated");
            return Err(ApiError::forbidden(desc.group, desc.plural, name, &reason));
        }
        Ok(())
    }
}

const EXPIRED_CONTINUE_MESSAGE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// The content types of PATCH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    StrategicMerge,
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::StrategicMerge),
            "application/apply-patch+yaml" => Some(Self::Apply),
            _ => None,
        }
    }
}

fn apply_patch(
    patch_type: PatchType,
    current: &Value,
    patch_body: &Value,
    schemas: &Map<String, Value>,
    schema_name: &str,
) -> Result<Value, ApiError> {
    match patch_type {
        PatchType::Json => patch::apply_json_patch(current, patch_body).map_err(patch_error),
        PatchType::Merge => Ok(patch::apply_merge_patch(current, patch_body)),
        PatchType::StrategicMerge => {
            let schema = patch::OpenApiPatchSchema::new(schemas);
            patch::apply_strategic_merge_patch(current, patch_body, &schema, schema_name).map_err(patch_error)
        }
        // Server-side apply with field ownership is a later step; until then an apply merges the applied
        // configuration into the live object, which is what a single manager sees.
        PatchType::Apply => Ok(patch::apply_merge_patch(current, patch_body)),
    }
}

/// A patch failure as upstream reports it: malformed patches are 400, oversized ones 413, patches that do not
/// fit the object 422 with the reason in the message.
fn patch_error(error: patch::PatchError) -> ApiError {
    use patch::PatchError::*;
    let message = error.to_string();
    match error {
        InvalidPatch(_) | InvalidStrategicPatch { .. } => ApiError::bad_request(message),
        TooManyOperations { .. } | CopyTooLarge { .. } => ApiError::RequestEntityTooLarge { message },
        JsonPatchFailed { .. } | StrategicPatchFailed { .. } => {
            ApiError::Invalid { message, details: Details::default(), causes: Vec::new() }
        }
    }
}

/// For a subresource write, takes only that part of the body and keeps the rest of the stored object.
fn merge_subresource(desc: &ResourceDesc, subresource: Option<&str>, current: &Value, body: Value) -> Value {
    match subresource {
        Some("status") => {
            let mut merged = current.clone();
            merged["status"] = body.get("status").cloned().unwrap_or(Value::Null);
            if merged["status"].is_null() {
                merged.as_object_mut().expect("objects are maps").remove("status");
            }
            merged
        }
        Some("finalize") => {
            let mut merged = current.clone();
            merged["spec"]["finalizers"] = body.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
            merged
        }
        Some("ephemeralcontainers") => {
            let mut merged = current.clone();
            merged["spec"]["ephemeralContainers"] = body.pointer("/spec/ephemeralContainers").cloned().unwrap_or(json!([]));
            merged
        }
        _ => {
            let mut merged = body;
            // The main resource never changes status through this path when the kind has a status subresource.
            if desc.subresources.iter().any(|sub| sub.name == "status") {
                match current.get("status") {
                    Some(status) => merged["status"] = status.clone(),
                    None => {
                        if let Some(map) = merged.as_object_mut() {
                            map.remove("status");
                        }
                    }
                }
            }
            merged
        }
    }
}

fn check_type(desc: &ResourceDesc, object: &Value) -> Result<(), ApiError> {
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
        ));
    }
    let expected_version = object::api_version(desc.group, desc.version);
    if let Some(api_version) = object.get("apiVersion").and_then(Value::as_str) {
        if api_version != expected_version {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({expected_version})"
            )));
        }
    }
    if let Some(kind) = object.get("kind").and_then(Value::as_str) {
        if kind != desc.kind {
            return Err(ApiError::bad_request(format!("the kind in the data ({kind}) does not match the expected kind ({})", desc.kind)));
        }
    }
    Ok(())
}

fn set_namespace(desc: &ResourceDesc, object: &mut Value, namespace: Option<&str>) -> Result<(), ApiError> {
    let given = object::namespace(object).map(String::from);
    let meta = object::meta_mut(object);
    match (desc.namespaced, namespace, given) {
        (true, Some(namespace), Some(given)) if given != namespace => {
            Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"))
        }
        (true, Some(namespace), _) => {
            meta.insert("namespace".into(), Value::String(namespace.to_string()));
            Ok(())
        }
        (true, None, _) => Err(ApiError::bad_request("a namespace is required for namespaced resources")),
        (false, _, _) => {
            meta.remove("namespace");
            Ok(())
        }
    }
}

fn check_name_matches(target: ObjectRef<'_>, object: &Value) -> Result<(), ApiError> {
    let body_name = object::name(object);
    if body_name.is_empty() {
        return Ok(());
    }
    if body_name != target.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            target.name
        )));
    }
    Ok(())
}

/// Fills in what the server owns on create: type, uid, timestamps and generation. Runs before the kind's
/// `prepare_for_create`, which may derive from them (a Job's selector comes from its uid).
fn set_system_fields(desc: &ResourceDesc, object: &mut Value) {
    let map = object.as_object_mut().expect("checked to be an object");
    map.insert("apiVersion".into(), Value::String(object::api_version(desc.group, desc.version)));
    map.insert("kind".into(), Value::String(desc.kind.to_string()));
    let meta = object::meta_mut(object);
    meta.insert("uid".into(), Value::String(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), Value::String(object::now_timestamp()));
    for field in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"] {
        meta.remove(field);
    }
    if GENERATION_KINDS.contains(&desc.kind) {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
}

/// Records the creating manager as owner of every field it set.
fn record_creator(desc: &ResourceDesc, object: &mut Value, options: &WriteOptions) {
    let fields = managed_fields_of(object);
    let created = object::meta_str(object, "creationTimestamp").unwrap_or_default().to_string();
    record_manager(object, desc, options, &created, fields, None);
}

/// Keeps what clients may not change on update and bumps generation when the spec changed.
fn carry_system_metadata(desc: &ResourceDesc, desired: &mut Value, current: &Value, options: &WriteOptions) {
    let map = desired.as_object_mut().expect("checked to be an object");
    map.insert("apiVersion".into(), Value::String(object::api_version(desc.group, desc.version)));
    map.insert("kind".into(), Value::String(desc.kind.to_string()));
    let current_meta = current.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
    let meta = object::meta_mut(desired);
    for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "generateName"] {
        match current_meta.get(field) {
            Some(value) => meta.insert(field.into(), value.clone()),
            None => meta.remove(field),
        };
    }
    if current_meta.contains_key("namespace") {
        meta.insert("namespace".into(), current_meta["namespace"].clone());
    }
    if GENERATION_KINDS.contains(&desc.kind) {
        let generation = current_meta.get("generation").and_then(Value::as_i64).unwrap_or(1);
        let spec_changed = desired.get("spec") != current.get("spec");
        object::meta_mut(desired).insert("generation".into(), json!(if spec_changed { generation + 1 } else { generation }));
    }
    if without_metadata_noise(desired) != without_metadata_noise(current) {
        let changed = changed_fields(current, desired);
        record_manager(desired, desc, options, &object::now_timestamp(), changed, current.pointer("/metadata/managedFields"));
    } else if let Some(previous) = current.pointer("/metadata/managedFields") {
        object::meta_mut(desired).insert("managedFields".into(), previous.clone());
    }
}

/// The object minus the fields that change on every write, to tell a real change from a no-op.
fn without_metadata_noise(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
        meta.remove("generation");
    }
    copy
}

fn without_resource_version(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    copy
}

/// Records an `Update` entry for the writing manager in `metadata.managedFields`, owning `fields`.
fn record_manager(object: &mut Value, desc: &ResourceDesc, options: &WriteOptions, now: &str, fields: Value, previous: Option<&Value>) {
    let Some(manager) = options.field_manager.clone().filter(|m| !m.is_empty()) else {
        if let Some(previous) = previous {
            object::meta_mut(object).insert("managedFields".into(), previous.clone());
        }
        return;
    };
    let mut entries: Vec<Value> = previous.and_then(Value::as_array).cloned().unwrap_or_default();
    let api_version = object::api_version(desc.group, desc.version);
    let existing = entries.iter().position(|entry| entry["manager"] == json!(manager) && entry["operation"] == json!("Update"));
    let owned = match existing.map(|index| entries.remove(index)) {
        Some(entry) => merge_field_sets(entry.get("fieldsV1").cloned().unwrap_or(json!({})), fields),
        None => fields,
    };
    entries.push(json!({"manager": manager, "operation": "Update", "apiVersion": api_version, "time": now, "fieldsType": "FieldsV1", "fieldsV1": owned}));
    object::meta_mut(object).insert("managedFields".into(), Value::Array(entries));
}

/// The FieldsV1 set of an object: every field it sets, lists as atomic leaves, without server-owned metadata.
fn managed_fields_of(object: &Value) -> Value {
    let mut fields = field_set(object);
    if let Some(meta) = fields.get_mut("f:metadata").and_then(Value::as_object_mut) {
        for owned_by_server in
            ["f:uid", "f:creationTimestamp", "f:resourceVersion", "f:generation", "f:managedFields", "f:namespace", "f:name"]
        {
            meta.remove(owned_by_server);
        }
        if meta.is_empty() {
            fields.as_object_mut().expect("field sets are maps").remove("f:metadata");
        }
    }
    if let Some(map) = fields.as_object_mut() {
        map.remove("f:apiVersion");
        map.remove("f:kind");
    }
    fields
}

fn field_set(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut set = Map::new();
            for (key, child) in map {
                let child_set = match child {
                    Value::Object(inner) if !inner.is_empty() => field_set(child),
                    _ => json!({}),
                };
                set.insert(format!("f:{key}"), child_set);
            }
            Value::Object(set)
        }
        _ => json!({}),
    }
}

/// The fields `desired` sets that differ from `current`.
fn changed_fields(current: &Value, desired: &Value) -> Value {
    fn diff(current: Option<&Value>, desired: &Value) -> Option<Value> {
        if current == Some(desired) {
            return None;
        }
        match (current, desired) {
            (Some(Value::Object(old)), Value::Object(new)) => {
                let mut set = Map::new();
                for (key, child) in new {
                    if let Some(child_set) = diff(old.get(key), child) {
                        set.insert(format!("f:{key}"), child_set);
                    }
                }
                Some(Value::Object(set))
            }
            (_, Value::Object(_)) => Some(field_set(desired)),
            _ => Some(json!({})),
        }
    }
    let changed = diff(Some(current), desired).unwrap_or(json!({}));
    managed_fields_of(&changed_to_object(&changed))
}

/// Turns a field set back into an object shape so `managed_fields_of` can drop server-owned metadata.
fn changed_to_object(set: &Value) -> Value {
    match set.as_object() {
        Some(map) if !map.is_empty() => {
            Value::Object(map.iter().map(|(k, v)| (k.trim_start_matches("f:").to_string(), changed_to_object(v))).collect())
        }
        _ => Value::Null,
    }
}

fn merge_field_sets(mut base: Value, extra: Value) -> Value {
    if let (Some(base_map), Value::Object(extra_map)) = (base.as_object_mut(), extra) {
        for (key, value) in extra_map {
            let merged = match base_map.remove(&key) {
                Some(existing) => merge_field_sets(existing, value),
                None => value,
            };
            base_map.insert(key, merged);
        }
    }
    base
}

fn validate_create(desc: &ResourceDesc, object: &Value) -> Result<(), ApiError> {
    let mut errors = kinds::validate_object_meta(object, desc.namespaced, kinds::name_rule_for_kind(desc.kind));
    errors.extend((desc.rules.validate)(object));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(desc.group, desc.kind, object::name(object), errors))
    }
}

fn validate_update(desc: &ResourceDesc, desired: &Value, current: &Value) -> Result<(), ApiError> {
    let mut errors = kinds::validate_object_meta(desired, desc.namespaced, kinds::name_rule_for_kind(desc.kind));
    errors.extend(kinds::validate_object_meta_update(desired, current));
    errors.extend((desc.rules.validate_update)(desired, current));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(desc.group, desc.kind, object::name(desired), errors))
    }
}

fn check_delete_preconditions(target: ObjectRef<'_>, current: &Value, options: &DeleteOptions) -> Result<(), ApiError> {
    let conflict = |reason: String| ApiError::conflict(target.desc.group, target.desc.plural, target.name, &reason);
    if let Some(uid) = &options.precondition_uid {
        if uid != object::uid(current) {
            return Err(conflict(format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {}", object::uid(current))));
        }
    }
    if let Some(rv) = &options.precondition_resource_version {
        let stored = object::meta_str(current, "resourceVersion").unwrap_or_default();
        if rv != stored {
            return Err(conflict(format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {stored}"
            )));
        }
    }
    Ok(())
}

/// Whether finalizers keep a marked object: its own, or for a Namespace the `spec.finalizers` that the
/// namespace controller removes through `/finalize` once the namespace is empty.
fn held_by_finalizers(desc: &ResourceDesc, object: &Value) -> bool {
    !object::finalizers(object).is_empty() || held_by_namespace_finalizers(desc, object)
}

fn held_by_namespace_finalizers(desc: &ResourceDesc, object: &Value) -> bool {
    desc.kind == "Namespace" && object.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty())
}

/// The grace period of a delete: only pods on a node that have not finished get one, as upstream.
fn grace_period(desc: &ResourceDesc, current: &Value, options: &DeleteOptions) -> i64 {
    if !needs_grace(desc, current) {
        return 0;
    }
    options
        .grace_period_seconds
        .or_else(|| current.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64))
        .unwrap_or(POD_GRACE_PERIOD_SECONDS_DEFAULT)
        .max(0)
}

fn needs_grace(desc: &ResourceDesc, pod: &Value) -> bool {
    if desc.kind != "Pod" || !desc.group.is_empty() {
        return false;
    }
    let scheduled = pod.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|node| !node.is_empty());
    let finished = matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded") | Some("Failed"));
    let grace_over = pod.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64) == Some(0);
    scheduled && !finished && !grace_over
}

/// Whether an object passes the label and field selectors of a list or watch.
pub fn matches_selectors(desc: &ResourceDesc, object: &Value, options: &ListOptions) -> bool {
    if let Some(selector) = &options.label_selector {
        if !selector.matches(object::labels(object)) {
            return false;
        }
    }
    if let Some(selector) = &options.field_selector {
        return selector.matches(|field| field_value(desc, object, field));
    }
    true
}

/// The value of a selectable field of an object: metadata.name and metadata.namespace for every kind, then
/// whatever the kind's rules expose.
pub fn field_value(desc: &ResourceDesc, object: &Value, field: &str) -> Option<String> {
    match field {
        "metadata.name" => Some(object::name(object).to_string()),
        "metadata.namespace" => Some(object::namespace(object).unwrap_or_default().to_string()),
        other => (desc.rules.field)(object, other),
    }
}

fn random_suffix() -> String {
    let mut rng = rand::rng();
    (0..GENERATE_NAME_SUFFIX_LENGTH).map(|_| GENERATE_NAME_ALPHABET[rng.random_range(0..GENERATE_NAME_ALPHABET.len())] as char).collect()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: Revision,
    start: String,
}

fn encode_continue(revision: Revision, start_after: &str) -> String {
    use base64::Engine;
    let token = ContinueToken { v: "meta.k8s.io/v1".into(), rv: revision, start: start_after.into() };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).expect("tokens serialize"))
}

fn decode_continue(token: &str) -> Result<(Revision, String), ApiError> {
    use base64::Engine;
    let invalid = || {
        let error = FieldError::invalid("continue", json!(token), "continue key is not valid");
        ApiError::invalid("meta.k8s.io", "ListOptions", "", vec![error])
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let parsed: ContinueToken = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if parsed.v != "meta.k8s.io/v1" || parsed.rv <= 0 {
        return Err(invalid());
    }
    Ok((parsed.rv, parsed.start))
}

/// Applies a patch to an `autoscaling/v1 Scale` view (`kubectl scale` sends a merge patch).
pub fn apply_scale_patch(
    patch_type: PatchType,
    scale: &Value,
    patch_body: &Value,
    schemas: &Map<String, Value>,
) -> Result<Value, ApiError> {
    apply_patch(patch_type, scale, patch_body, schemas, SCALE_SCHEMA_NAME)
}

/// The OpenAPI definition of the Scale subresource's kind.
pub const SCALE_SCHEMA_NAME: &str = "io.k8s.api.autoscaling.v1.Scale";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let token = encode_continue(42, "/registry/core/pods/default/web-1");
        assert_eq!(decode_continue(&token).unwrap(), (42, "/registry/core/pods/default/web-1".to_string()));
        assert!(matches!(decode_continue("not-a-token"), Err(ApiError::Invalid { .. })));
    }

    #[test]
    fn generated_names_use_the_upstream_alphabet() {
        let suffix = random_suffix();
        assert_eq!(suffix.len(), GENERATE_NAME_SUFFIX_LENGTH);
        assert!(suffix.bytes().all(|b| GENERATE_NAME_ALPHABET.contains(&b)));
    }

    #[test]
    fn changed_fields_name_only_what_changed() {
        let current = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}});
        let desired = json!({"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}}, "data": {"k": "v"}});
        assert_eq!(changed_fields(&current, &desired), json!({"f:metadata": {"f:labels": {"f:y": {}}}}));
    }
}
