//! The embedded store: one SQLite file in WAL mode, for a single API server with nothing to set up. It keeps the
//! same tables and semantics as the PostgreSQL store (see `sql.rs`). Every write runs on one connection behind a
//! mutex, so writes take turns and are handed to the watch hub in commit order while the lock is still held; reads
//! use their own connections and see a consistent snapshot while a write commits. SQLite calls block, so each
//! runs on tokio's blocking pool. Commits are fsynced (`synchronous = FULL`): an acknowledged write survives a power
//! loss.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, ToSql, Transaction, TransactionBehavior};
use tokio::task::JoinHandle;

use super::hub::{self, Hub};
use super::retention::{self, Compact, COMPACT_BATCH_ROWS_MAX};
use super::sql::{self, Dialect, KeyRange};
use super::{
    Backend, CompactionReport, Event, EventKind, KeyValue, ListRequest, ListResult, Revision, StorageError, StorageResult, WatchStream,
};

/// How long a connection waits for a lock another connection holds (a WAL checkpoint, a second process).
const SQLITE_BUSY_TIMEOUT_MS: u64 = 5_000;
/// Read connections kept open between reads.
const SQLITE_IDLE_READERS_MAX: usize = 4;
/// The schema, one script per version (`PRAGMA user_version` records how many have run).
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/sqlite/0001_init.sql")];

pub struct SqliteStore {
    db: Db,
    compactor: JoinHandle<()>,
}

#[derive(Clone)]
struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    hub: Hub,
}

impl SqliteStore {
    /// Opens (creating if missing) the store in the file at `path` and brings its schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> StorageResult<Self> {
        let path = path.as_ref().to_owned();
        let opened_path = path.clone();
        let (writer, position) = blocking(move || {
            let mut writer = open_connection(&opened_path)?;
            migrate(&mut writer)?;
            let (current, _) = revisions(&writer)?;
            Ok((writer, current))
        })
        .await?;
        let db =
            Db { inner: Arc::new(Inner { path, writer: Mutex::new(writer), readers: Mutex::new(Vec::new()), hub: Hub::new(position) }) };
        let compactor = tokio::spawn(retention::run_compactor(Arc::new(db.clone())));
        Ok(SqliteStore { db, compactor })
    }

    /// Deletes the history at or below `keep_after` (at most up to the current revision), in batches.
    pub async fn compact(&self, keep_after: Revision) -> StorageResult<CompactionReport> {
        self.db.compact(keep_after).await
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.compactor.abort();
        self.db.inner.hub.close();
    }
}

#[async_trait::async_trait]
impl Backend for SqliteStore {
    async fn get(&self, key: &str) -> StorageResult<Option<KeyValue>> {
        let key = key.to_owned();
        self.db.read(move |conn| current_row(conn, &key)).await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> StorageResult<KeyValue> {
        let key = key.to_owned();
        self.db
            .write(move |tx, revision| {
                let inserted = tx
                    .execute(
                        "INSERT INTO kv (key, value, mod_revision, create_revision) VALUES (?1, ?2, ?3, ?3) \
                         ON CONFLICT (key) DO NOTHING",
                        params![key, value, revision],
                    )
                    .map_err(sqlite_error)?;
                if inserted == 0 {
                    return Err(StorageError::AlreadyExists(key));
                }
                let event = Event { kind: EventKind::Created, key, revision, value: value.into(), prev_value: None };
                Ok((event, revision, None))
            })
            .await
    }

    async fn update(&self, key: &str, expected_revision: Revision, value: Vec<u8>) -> StorageResult<KeyValue> {
        let key = key.to_owned();
        self.db
            .write(move |tx, revision| {
                let current = expect_revision(tx, &key, Some(expected_revision))?;
                tx.execute("UPDATE kv SET value = ?2, mod_revision = ?3 WHERE key = ?1", params![key, value, revision])
                    .map_err(sqlite_error)?;
                let event = Event { kind: EventKind::Updated, key, revision, value: value.into(), prev_value: Some(current.value) };
                Ok((event, current.create_revision, Some(current.mod_revision)))
            })
            .await
    }

    async fn delete(&self, key: &str, expected_revision: Option<Revision>) -> StorageResult<KeyValue> {
        let key = key.to_owned();
        self.db
            .write(move |tx, revision| {
                let current = expect_revision(tx, &key, expected_revision)?;
                tx.execute("DELETE FROM kv WHERE key = ?1", [&key]).map_err(sqlite_error)?;
                let event =
                    Event { kind: EventKind::Deleted, key, revision, value: current.value.clone(), prev_value: Some(current.value) };
                Ok((event, current.create_revision, Some(current.mod_revision)))
            })
            .await
    }

    async fn list(&self, request: &ListRequest) -> StorageResult<ListResult> {
        let request = request.clone();
        self.db
            .read(move |conn| {
                // One read transaction: every query below sees the same snapshot of the file.
                let tx = conn.transaction().map_err(sqlite_error)?;
                let (current, compacted) = revisions(&tx)?;
                let revision = sql::snapshot_revision(request.revision, current, compacted)?;
                let range = KeyRange::after(&request.prefix, request.start_after.as_deref());
                let limit = request.limit.map(|limit| i64::try_from(limit).unwrap_or(i64::MAX));
                let page_sql = sql::snapshot_page(Dialect::Sqlite, &range, limit.is_some());
                let mut params: Vec<&dyn ToSql> = vec![&revision];
                let range_params = range.params();
                params.extend(range_params.iter().map(|param| param as &dyn ToSql));
                params.extend(limit.as_ref().map(|limit| limit as &dyn ToSql));
                let mut statement = tx.prepare_cached(&page_sql).map_err(sqlite_error)?;
                let items =
                    statement.query_map(&*params, key_value).and_then(Iterator::collect::<Result<Vec<_>, _>>).map_err(sqlite_error)?;
                drop(statement);
                let remaining = if limit.is_some_and(|limit| limit == items.len() as i64) {
                    let rest = match items.last() {
                        Some(last) => KeyRange::after(&request.prefix, Some(&last.key)),
                        None => range,
                    };
                    let mut params: Vec<&dyn ToSql> = vec![&revision];
                    let rest_params = rest.params();
                    params.extend(rest_params.iter().map(|param| param as &dyn ToSql));
                    let count: i64 =
                        tx.query_row(&sql::snapshot_count(Dialect::Sqlite, &rest), &*params, |row| row.get(0)).map_err(sqlite_error)?;
                    count as u64
                } else {
                    0
                };
                Ok(ListResult { items, revision, remaining })
            })
            .await
    }

    async fn count(&self, prefix: &str) -> StorageResult<u64> {
        let range = KeyRange::prefix(prefix);
        self.db
            .read(move |conn| {
                let params = range.params();
                let count: i64 = conn
                    .query_row(&sql::current_count(Dialect::Sqlite, &range), rusqlite::params_from_iter(params), |row| row.get(0))
                    .map_err(sqlite_error)?;
                Ok(count as u64)
            })
            .await
    }

    async fn current_revision(&self) -> StorageResult<Revision> {
        Compact::current_revision(&self.db).await
    }

    async fn watch(&self, prefix: &str, after_revision: Revision) -> StorageResult<WatchStream> {
        let (current, compacted) = self.db.read(|conn| revisions(conn)).await?;
        sql::check_watch_start(after_revision, current, compacted)?;
        let subscription = self.db.inner.hub.subscribe(prefix);
        let db = self.db.clone();
        let range = KeyRange::prefix(prefix);
        Ok(hub::watch_stream(subscription, after_revision, move |after, upto, limit| {
            let db = db.clone();
            let range = range.clone();
            async move { db.read(move |conn| changes_page(conn, &range, after, upto, limit)).await }
        }))
    }

    async fn compacted_revision(&self) -> StorageResult<Revision> {
        self.db.read(|conn| revisions(conn).map(|(_, compacted)| compacted)).await
    }

    fn notify_progress(&self) {
        self.db.inner.hub.notify_progress()
    }
}

#[async_trait::async_trait]
impl Compact for Db {
    async fn current_revision(&self) -> StorageResult<Revision> {
        self.read(|conn| revisions(conn).map(|(current, _)| current)).await
    }

    async fn compact(&self, keep_after: Revision) -> StorageResult<CompactionReport> {
        let mut report = CompactionReport { compacted_revision: 0, rows_deleted: 0, batches: 0 };
        loop {
            // One batch per turn on the writer, so writes go on between batches.
            let (compacted, deleted) = self
                .with_writer(move |conn, _| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite_error)?;
                    let (current, compacted) = revisions(&tx)?;
                    let target = keep_after.min(current);
                    if target <= compacted {
                        return Ok((compacted, None));
                    }
                    let end = target.min(compacted + COMPACT_BATCH_ROWS_MAX);
                    let deleted = tx
                        .execute("DELETE FROM change_log WHERE revision > ?1 AND revision <= ?2", [compacted, end])
                        .map_err(sqlite_error)?;
                    tx.execute("UPDATE store_meta SET compacted_revision = ?1", [end]).map_err(sqlite_error)?;
                    tx.commit().map_err(sqlite_error)?;
                    Ok((end, Some(deleted as u64)))
                })
                .await?;
            report.compacted_revision = compacted;
            match deleted {
                Some(deleted) => {
                    report.rows_deleted += deleted;
                    report.batches += 1;
                }
                None => return Ok(report),
            }
        }
    }
}

impl Db {
    /// Runs one write transaction: `change` gets the transaction and the revision it writes at, checks its
    /// precondition, changes `kv` and returns the event with the key's create revision and previous mod revision.
    /// The event is then logged, committed and published; on an error the transaction rolls back, returning the
    /// revision.
    async fn write<F>(&self, change: F) -> StorageResult<KeyValue>
    where
        F: FnOnce(&Transaction<'_>, Revision) -> StorageResult<(Event, Revision, Option<Revision>)> + Send + 'static,
    {
        self.with_writer(move |conn, hub| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite_error)?;
            let revision: Revision =
                tx.query_row("UPDATE revision_counter SET rev = rev + 1 RETURNING rev", [], |row| row.get(0)).map_err(sqlite_error)?;
            let (event, create_revision, prev_revision) = change(&tx, revision)?;
            tx.execute(
                "INSERT INTO change_log (revision, key, kind, value, prev_value, create_revision, prev_revision) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    event.revision,
                    event.key,
                    sql::kind_code(event.kind),
                    &*event.value,
                    event.prev_value.as_deref(),
                    create_revision,
                    prev_revision,
                ],
            )
            .map_err(sqlite_error)?;
            tx.commit().map_err(sqlite_error)?;
            let written = KeyValue { key: event.key.clone(), value: event.value.clone(), mod_revision: revision, create_revision };
            // Still under the writer lock: events reach the hub in commit order.
            hub.publish([event]);
            Ok(written)
        })
        .await
    }

    async fn with_writer<T, F>(&self, op: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Hub) -> StorageResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || op(&mut lock(&inner.writer), &inner.hub)).await
    }

    async fn read<T, F>(&self, op: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StorageResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || {
            let idle = lock(&inner.readers).pop();
            let mut conn = match idle {
                Some(conn) => conn,
                None => open_connection(&inner.path)?,
            };
            let result = op(&mut conn);
            let mut idle = lock(&inner.readers);
            if idle.len() < SQLITE_IDLE_READERS_MAX {
                idle.push(conn);
            }
            result
        })
        .await
    }
}

async fn blocking<T, F>(op: F) -> StorageResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> StorageResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(op).await.map_err(|error| StorageError::Internal(format!("storage task failed: {error}")))?
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside an SQLite call leaves the connection usable (its transaction rolls back on drop).
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn open_connection(path: &Path) -> StorageResult<Connection> {
    let conn = Connection::open(path).map_err(sqlite_error)?;
    conn.busy_timeout(Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS)).map_err(sqlite_error)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(sqlite_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StorageError::Internal(format!("{} cannot use WAL (journal mode {mode})", path.display())));
    }
    conn.pragma_update(None, "synchronous", "FULL").map_err(sqlite_error)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> StorageResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite_error)?;
    let applied: usize = tx.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(sqlite_error)?;
    for (index, script) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(script).map_err(sqlite_error)?;
        tx.pragma_update(None, "user_version", index + 1).map_err(sqlite_error)?;
        tracing::debug!(version = index + 1, "applied SQLite schema migration");
    }
    tx.commit().map_err(sqlite_error)
}

/// The current and the compacted revision.
fn revisions(conn: &Connection) -> StorageResult<(Revision, Revision)> {
    conn.query_row("SELECT (SELECT rev FROM revision_counter), (SELECT compacted_revision FROM store_meta)", [], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })
    .map_err(sqlite_error)
}

fn current_row(conn: &Connection, key: &str) -> StorageResult<Option<KeyValue>> {
    conn.query_row("SELECT key, value, mod_revision, create_revision FROM kv WHERE key = ?1", [key], key_value)
        .optional()
        .map_err(sqlite_error)
}

/// The stored value of `key`, when it matches `expected` (any revision when `None`).
fn expect_revision(tx: &Transaction<'_>, key: &str, expected: Option<Revision>) -> StorageResult<KeyValue> {
    match current_row(tx, key)? {
        None => Err(StorageError::NotFound(key.to_owned())),
        Some(current) if expected.is_some_and(|expected| expected != current.mod_revision) => {
            Err(StorageError::Conflict { key: key.to_owned(), current: Some(Box::new(current)) })
        }
        Some(current) => Ok(current),
    }
}

fn changes_page(conn: &mut Connection, range: &KeyRange, after: Revision, upto: Revision, limit: usize) -> StorageResult<Vec<Event>> {
    // The compacted revision and the rows from one snapshot: if it says the history is there, it is.
    let tx = conn.transaction().map_err(sqlite_error)?;
    let (_, compacted) = revisions(&tx)?;
    if after < compacted {
        return Err(StorageError::Compacted { requested: after, oldest: compacted });
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut params: Vec<&dyn ToSql> = vec![&after, &upto];
    let range_params = range.params();
    params.extend(range_params.iter().map(|param| param as &dyn ToSql));
    params.push(&limit);
    let mut statement = tx.prepare_cached(&sql::changes_page(Dialect::Sqlite, range)).map_err(sqlite_error)?;
    let rows = statement
        .query_map(&*params, |row| {
            Ok((
                row.get::<_, Revision>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i16>(2)?,
                row.get::<_, Vec<u8>>(3)?,
                row.get::<_, Option<Vec<u8>>>(4)?,
            ))
        })
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(sqlite_error)?;
    rows.into_iter()
        .map(|(revision, key, kind, value, prev_value)| {
            Ok(Event { kind: sql::kind_from_code(kind)?, key, revision, value: value.into(), prev_value: prev_value.map(Into::into) })
        })
        .collect()
}

fn key_value(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue { key: row.get(0)?, value: row.get::<_, Vec<u8>>(1)?.into(), mod_revision: row.get(2)?, create_revision: row.get(3)? })
}

fn sqlite_error(error: rusqlite::Error) -> StorageError {
    let transient = matches!(
        error.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
        )
    );
    if transient {
        StorageError::Unavailable(error.to_string())
    } else {
        StorageError::Internal(error.to_string())
    }
}
