//! Storage: keys, JSON bytes and revisions, nothing else. It knows no Kubernetes kinds (as kine's backend does
//! not): the API server chooses the keys and encodes the objects. One global revision counter orders every
//! change; a revision is handed out in commit order with no gaps, so a watcher that has seen revision N has seen
//! every change up to N. Two implementations share this trait and one conformance suite: PostgreSQL (several API
//! servers on one database) and the embedded SQLite store (zero setup, one process).
//!
//! Must not import `api` or `apiserver`.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;

pub mod conformance;
mod hub;
pub mod postgres;
mod retention;
mod sql;
pub mod sqlite;

pub use retention::COMPACT_BATCH_ROWS_MAX;

/// A storage revision: the Kubernetes `resourceVersion` of the change that produced it. Starts at 1.
pub type Revision = i64;

/// The newest stored value of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Arc<[u8]>,
    /// The revision of the change that wrote this value.
    pub mod_revision: Revision,
    /// The revision of the change that created the key.
    pub create_revision: Revision,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Updated,
    Deleted,
    /// Not a change: every change under the watch's prefix up to `revision` has been delivered. Sent only
    /// after [`Backend::notify_progress`]; `key` and `value` are empty.
    Progress,
}

/// One committed change, as watchers receive it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub key: String,
    pub revision: Revision,
    /// The value after the change; for `Deleted`, the last value the key had.
    pub value: Arc<[u8]>,
    /// The value before the change (`None` for `Created`), so a filtered watch can tell an object leaving its
    /// selection from one that was never in it.
    pub prev_value: Option<Arc<[u8]>>,
}

/// A page request over the keys that start with `prefix`.
#[derive(Clone, Debug, Default)]
pub struct ListRequest {
    pub prefix: String,
    /// Only keys strictly greater than this (the continue position).
    pub start_after: Option<String>,
    /// At most this many items; `None` means all.
    pub limit: Option<usize>,
    /// Read the state as of this revision (a consistent snapshot for later pages); `None` means the newest.
    pub revision: Option<Revision>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListResult {
    pub items: Vec<KeyValue>,
    /// The revision the page was read at; every later page of the same list uses it.
    pub revision: Revision,
    /// How many matching keys follow this page (0 when it is the last).
    pub remaining: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("key {0} already exists")]
    AlreadyExists(String),
    #[error("key {0} not found")]
    NotFound(String),
    /// A compare-and-swap found another revision; carries what is stored now.
    #[error("key {key} was modified (stored revision {current:?})")]
    Conflict { key: String, current: Option<Box<KeyValue>> },
    /// The revision asked for is older than the retained history.
    #[error("required revision {requested} has been compacted (oldest retained {oldest})")]
    Compacted { requested: Revision, oldest: Revision },
    /// The revision asked for has not been reached yet.
    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision { requested: Revision, current: Revision },
    /// The database cannot be reached or failed; the request may be retried later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Internal(String),
}

pub type StorageResult<T> = Result<T, StorageError>;

/// What one call to a store's `compact` did, so an operator (or a test) can see history shrink in bounded steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactionReport {
    /// The oldest revision a watch may start after once the call returned.
    pub compacted_revision: Revision,
    /// Change-log rows this call deleted (another server may have deleted others concurrently).
    pub rows_deleted: u64,
    /// Transactions that deleted rows; each deletes at most [`COMPACT_BATCH_ROWS_MAX`] of them.
    pub batches: u32,
}

/// A watch: committed changes under a prefix, in revision order, each exactly once. It ends with an error item
/// when the watcher fell too far behind (it must re-list) or the store shut down.
pub type WatchStream = Pin<Box<dyn Stream<Item = StorageResult<Event>> + Send>>;

/// The one storage interface both backends implement.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn get(&self, key: &str) -> StorageResult<Option<KeyValue>>;
    /// Fails with `AlreadyExists` when the key holds a value.
    async fn create(&self, key: &str, value: Vec<u8>) -> StorageResult<KeyValue>;
    /// Compare-and-swap: writes only when the stored `mod_revision` equals `expected_revision`. Fails with
    /// `NotFound` when the key holds no value.
    async fn update(&self, key: &str, expected_revision: Revision, value: Vec<u8>) -> StorageResult<KeyValue>;
    /// Deletes the key, only when its `mod_revision` equals `expected_revision` if one is given. Returns the
    /// deleted value with `mod_revision` set to the revision of the delete. Fails with `NotFound` when the key holds
    /// no value.
    async fn delete(&self, key: &str, expected_revision: Option<Revision>) -> StorageResult<KeyValue>;
    async fn list(&self, request: &ListRequest) -> StorageResult<ListResult>;
    /// How many keys start with `prefix` now.
    async fn count(&self, prefix: &str) -> StorageResult<u64>;
    async fn current_revision(&self) -> StorageResult<Revision>;
    /// Changes under `prefix` with a revision greater than `after_revision`. Fails with `Compacted` when that
    /// history is gone and `FutureRevision` when it has not happened yet.
    async fn watch(&self, prefix: &str, after_revision: Revision) -> StorageResult<WatchStream>;
    /// The oldest revision a watch may still start after.
    async fn compacted_revision(&self) -> StorageResult<Revision>;
    /// Sends every open watch with room in its buffer a `Progress` event at the newest revision this server has
    /// delivered, after everything before it, so a quiet watch can still learn how far it is (bookmarks).
    fn notify_progress(&self);
}
