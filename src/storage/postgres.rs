//! The PostgreSQL store: several API servers share one database, each with its own `PostgresStore`.
//!
//! Revisions: every write transaction first runs `UPDATE revision_counter SET rev = rev + 1 RETURNING rev`. The
//! row lock it takes is held until commit, so writers take turns: revision N+1 cannot commit before N did, a
//! failed precondition rolls back and gives its number back, and the revisions in the change log are therefore
//! gap-free and in commit order (kine's sequence-based ids are neither; see the reference notes). The rest of the
//! write is one statement: the compare-and-swap on `kv` (the current state) and the append to `change_log` (one row
//! per revision, with the previous value), which fires a trigger that calls `pg_notify`, delivered only on commit.
//! Only the counter lock serializes: the bump and the change are sent together, so a write holds it for about one
//! round trip and its commit.
//!
//! Reads: `get`, `list` and `count` read `kv` through its primary key (keys are `COLLATE "C"`, so a prefix is an
//! index range); a list at an older revision adds, for the keys changed since, what their first later change
//! recorded (see `sql.rs`), all in one repeatable-read snapshot.
//!
//! Watches: each store runs one change feed. It LISTENs on a dedicated connection and, when notified (or every
//! `FEED_RECHECK_INTERVAL_MS` as a safety net), reads the log rows after the last revision it published and hands
//! them to the hub. Because revisions have no gaps, a missing revision can only mean compacted history, and after
//! a lost connection the feed reconnects with backoff and resumes from where it was: open watches see no gap.
//!
//! Compaction deletes old log rows in batches; each batch moves `store_meta.compacted_revision` with a conditional
//! update, so servers compacting at once take turns instead of deleting twice.
//!
//! Failures: the pool, connects and every operation are bounded by timeouts, and a lost or failed database comes
//! back as `StorageError::Unavailable`. Nothing is retried. An error while committing is reported as a write whose
//! outcome is unknown; any error before the commit means the write was not applied.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime, Transaction};
use futures::future;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::error::Elapsed;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, IsolationLevel, NoTls, Row, Statement};

use super::hub::{self, Hub};
use super::retention::{self, Compact, COMPACT_BATCH_ROWS_MAX};
use super::sql::{self, Dialect, KeyRange};
use super::{Backend, CompactionReport, Event, KeyValue, ListRequest, ListResult, Revision, StorageError, StorageResult, WatchStream};

/// Pooled connections per store (the change feed has one more of its own).
const POOL_CONNECTIONS_MAX: usize = 16;
/// Establishing a connection, for the pool and the change feed.
const CONNECT_TIMEOUT_MS: u64 = 3_000;
/// Waiting for a free pooled connection.
const POOL_WAIT_TIMEOUT_MS: u64 = 3_000;
/// Checking a pooled connection before reuse.
const POOL_RECYCLE_TIMEOUT_MS: u64 = 1_000;
/// One statement on the server, including the wait for the revision counter's lock.
const STATEMENT_TIMEOUT_MS: u64 = 5_000;
/// A transaction left open by a client that stopped talking; the server ends it so it cannot hold the counter.
const IDLE_IN_TRANSACTION_TIMEOUT_MS: u64 = 10_000;
/// One whole operation as the caller sees it.
const OPERATION_TIMEOUT_MS: u64 = 8_000;
/// Log rows the change feed reads per query.
const FEED_BATCH_ROWS_MAX: i64 = 256;
/// The feed also reads the log this often without a notification, in case one was lost, and so notices a dead
/// connection.
const FEED_RECHECK_INTERVAL_MS: u64 = 5_000;
/// First and longest wait before the change feed reconnects (doubling, plus up to half again of jitter).
const FEED_RECONNECT_BACKOFF_MIN_MS: u64 = 100;
const FEED_RECONNECT_BACKOFF_MAX_MS: u64 = 5_000;
/// The `pg_advisory_xact_lock` key that makes servers starting together migrate one at a time ("ferrokub").
const MIGRATION_LOCK_KEY: i64 = 0x6665_7272_6f6b_7562;
/// The channel the change-log trigger notifies (see migrations/0001_init.sql).
const CHANGES_CHANNEL: &str = "ferrokube_changes";
/// The schema, applied in version order and recorded in `schema_migrations`.
const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "init", include_str!("../../migrations/0001_init.sql"))];

const NEXT_REVISION: &str = "UPDATE revision_counter SET rev = rev + 1 RETURNING rev";
const REVISIONS: &str = "SELECT (SELECT rev FROM revision_counter), (SELECT compacted_revision FROM store_meta)";
const GET: &str = "SELECT key, value, mod_revision, create_revision FROM kv WHERE key = $1";
// The write statements run right after NEXT_REVISION in the same transaction, so they read the revision it took
// and no other writer can change `kv` under them. Kind codes are those of `sql.rs`. UPDATE and DELETE return the
// stored row (none if the key is absent) and whether the change was applied.
const CREATE: &str = "\
    WITH next AS (SELECT rev FROM revision_counter), \
    created AS ( \
        INSERT INTO kv (key, value, mod_revision, create_revision) SELECT $1, $2, rev, rev FROM next \
        ON CONFLICT (key) DO NOTHING RETURNING key, mod_revision) \
    INSERT INTO change_log (revision, key, kind, value, create_revision) \
    SELECT mod_revision, key, 1, $2::BYTEA, mod_revision FROM created";
const UPDATE: &str = "\
    WITH next AS (SELECT rev FROM revision_counter), \
    stored AS (SELECT key, value, mod_revision, create_revision FROM kv WHERE key = $1), \
    updated AS ( \
        UPDATE kv SET value = $3, mod_revision = next.rev FROM next \
        WHERE key = $1 AND mod_revision = $2 RETURNING kv.key, kv.mod_revision), \
    logged AS ( \
        INSERT INTO change_log (revision, key, kind, value, prev_value, create_revision, prev_revision) \
        SELECT updated.mod_revision, stored.key, 2, $3::BYTEA, stored.value, stored.create_revision, \
               stored.mod_revision \
        FROM stored JOIN updated USING (key) RETURNING revision) \
    SELECT key, value, mod_revision, create_revision, (SELECT count(*) FROM logged) FROM stored";
const DELETE: &str = "\
    WITH next AS (SELECT rev FROM revision_counter), \
    stored AS (SELECT key, value, mod_revision, create_revision FROM kv WHERE key = $1), \
    deleted AS ( \
        DELETE FROM kv WHERE key = $1 AND ($2::BIGINT IS NULL OR mod_revision = $2) RETURNING key), \
    logged AS ( \
        INSERT INTO change_log (revision, key, kind, value, prev_value, create_revision, prev_revision) \
        SELECT next.rev, stored.key, 3, stored.value, stored.value, stored.create_revision, stored.mod_revision \
        FROM stored JOIN deleted USING (key) CROSS JOIN next RETURNING revision) \
    SELECT key, value, mod_revision, create_revision, (SELECT count(*) FROM logged) FROM stored";
const FEED_CHANGES: &str = "SELECT revision, key, kind, value, prev_value FROM change_log WHERE revision > $1 ORDER BY revision LIMIT $2";
const COMPACTED: &str = "SELECT compacted_revision FROM store_meta";

pub struct PostgresStore {
    db: Db,
    feed: JoinHandle<()>,
    compactor: JoinHandle<()>,
}

#[derive(Clone)]
struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// For the change feed's own connection.
    config: tokio_postgres::Config,
    hub: Hub,
}

enum Write<'a> {
    Create { value: &'a [u8] },
    Update { expected: Revision, value: &'a [u8] },
    Delete { expected: Option<Revision> },
}

/// One step of compaction.
enum Batch {
    /// History is compacted up to the target (this revision).
    Done(Revision),
    Deleted {
        compacted: Revision,
        rows: u64,
    },
    /// Another server moved the compacted revision first; read it again.
    Raced,
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL or key-value string), brings its schema up to date
    /// and starts this store's change feed and compactor.
    pub async fn connect(url: &str) -> StorageResult<Self> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|error| StorageError::Internal(format!("invalid PostgreSQL URL: {error}")))?;
        config.connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS));
        let options = format!(
            "{} -c statement_timeout={STATEMENT_TIMEOUT_MS} \
             -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}",
            config.get_options().unwrap_or_default()
        );
        config.options(options.trim());
        if config.get_application_name().is_none() {
            config.application_name("ferrokube");
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            // A connection that failed is dropped from the pool (see `settle`), so the cheap check is enough.
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_CONNECTIONS_MAX)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_millis(POOL_WAIT_TIMEOUT_MS)))
            .create_timeout(Some(Duration::from_millis(CONNECT_TIMEOUT_MS)))
            .recycle_timeout(Some(Duration::from_millis(POOL_RECYCLE_TIMEOUT_MS)))
            .build()
            .map_err(|error| StorageError::Internal(format!("cannot build the connection pool: {error}")))?;

        let mut client = pool.get().await.map_err(pool_error)?;
        let outcome = bounded(migrate(&mut client)).await;
        settle(client, outcome)?;
        let client = pool.get().await.map_err(pool_error)?;
        let outcome = bounded(revisions(&client)).await;
        let (current, _) = settle(client, outcome)?;

        // The feed starts from `current`: it reads everything committed after it once it is listening.
        let db = Db { inner: Arc::new(Inner { pool, config, hub: Hub::new(current) }) };
        let feed = tokio::spawn(run_feed(db.clone()));
        let compactor = tokio::spawn(retention::run_compactor(Arc::new(db.clone())));
        Ok(PostgresStore { db, feed, compactor })
    }

    /// Deletes the history at or below `keep_after` (at most up to the current revision), in batches of at most
    /// `COMPACT_BATCH_ROWS_MAX` rows.
    pub async fn compact(&self, keep_after: Revision) -> StorageResult<CompactionReport> {
        self.db.compact(keep_after).await
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.feed.abort();
        self.compactor.abort();
        self.db.inner.hub.close();
    }
}

#[async_trait::async_trait]
impl Backend for PostgresStore {
    async fn get(&self, key: &str) -> StorageResult<Option<KeyValue>> {
        let client = self.db.client().await?;
        let outcome = bounded(async {
            let row = client.query_opt(&prepare(&client, GET).await?, &[&key]).await.map_err(pg_error)?;
            row.as_ref().map(key_value).transpose()
        })
        .await;
        settle(client, outcome)
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> StorageResult<KeyValue> {
        self.db.write(key, Write::Create { value: &value }).await
    }

    async fn update(&self, key: &str, expected_revision: Revision, value: Vec<u8>) -> StorageResult<KeyValue> {
        self.db.write(key, Write::Update { expected: expected_revision, value: &value }).await
    }

    async fn delete(&self, key: &str, expected_revision: Option<Revision>) -> StorageResult<KeyValue> {
        self.db.write(key, Write::Delete { expected: expected_revision }).await
    }

    async fn list(&self, request: &ListRequest) -> StorageResult<ListResult> {
        let mut client = self.db.client().await?;
        let outcome = bounded(list(&mut client, request)).await;
        settle(client, outcome)
    }

    async fn count(&self, prefix: &str) -> StorageResult<u64> {
        let range = KeyRange::prefix(prefix);
        let client = self.db.client().await?;
        let outcome = bounded(async {
            let params = range.params();
            let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|param| param as &(dyn ToSql + Sync)).collect();
            let statement = prepare(&client, &sql::current_count(Dialect::Postgres, &range)).await?;
            let count: i64 = client.query_one(&statement, &params).await.and_then(|row| row.try_get(0)).map_err(pg_error)?;
            Ok(count as u64)
        })
        .await;
        settle(client, outcome)
    }

    async fn current_revision(&self) -> StorageResult<Revision> {
        Ok(self.db.revisions().await?.0)
    }

    async fn watch(&self, prefix: &str, after_revision: Revision) -> StorageResult<WatchStream> {
        let (current, compacted) = self.db.revisions().await?;
        sql::check_watch_start(after_revision, current, compacted)?;
        let subscription = self.db.inner.hub.subscribe(prefix);
        let db = self.db.clone();
        let range = KeyRange::prefix(prefix);
        Ok(hub::watch_stream(subscription, after_revision, move |after, upto, limit| {
            let db = db.clone();
            let range = range.clone();
            async move { db.changes_page(&range, after, upto, limit).await }
        }))
    }

    async fn compacted_revision(&self) -> StorageResult<Revision> {
        Ok(self.db.revisions().await?.1)
    }

    fn notify_progress(&self) {
        self.db.inner.hub.notify_progress()
    }
}

#[async_trait::async_trait]
impl Compact for Db {
    async fn current_revision(&self) -> StorageResult<Revision> {
        Ok(self.revisions().await?.0)
    }

    async fn compact(&self, keep_after: Revision) -> StorageResult<CompactionReport> {
        let mut report = CompactionReport { compacted_revision: 0, rows_deleted: 0, batches: 0 };
        loop {
            let mut client = self.client().await?;
            let outcome = bounded(compact_batch(&mut client, keep_after)).await;
            match settle(client, outcome)? {
                Batch::Done(compacted) => {
                    report.compacted_revision = compacted;
                    return Ok(report);
                }
                Batch::Deleted { compacted, rows } => {
                    report.compacted_revision = compacted;
                    report.rows_deleted += rows;
                    report.batches += 1;
                }
                Batch::Raced => {}
            }
        }
    }
}

impl Db {
    async fn client(&self) -> StorageResult<Object> {
        self.inner.pool.get().await.map_err(pool_error)
    }

    /// The current and the compacted revision.
    async fn revisions(&self) -> StorageResult<(Revision, Revision)> {
        let client = self.client().await?;
        let outcome = bounded(revisions(&client)).await;
        settle(client, outcome)
    }

    async fn write(&self, key: &str, write: Write<'_>) -> StorageResult<KeyValue> {
        let mut client = self.client().await?;
        let outcome = bounded(write_on(&mut client, key, write)).await;
        settle(client, outcome)
    }

    async fn changes_page(&self, range: &KeyRange, after: Revision, upto: Revision, limit: usize) -> StorageResult<Vec<Event>> {
        let mut client = self.client().await?;
        let outcome = bounded(async {
            // The compacted revision and the rows from one snapshot: if it says the history is there, it is.
            let tx = read_snapshot(&mut client).await?;
            let (_, compacted) = revisions(&tx).await?;
            if after < compacted {
                return Err(StorageError::Compacted { requested: after, oldest: compacted });
            }
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let range_params = range.params();
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![&after, &upto];
            params.extend(range_params.iter().map(|param| param as &(dyn ToSql + Sync)));
            params.push(&limit);
            let statement = prepare(&tx, &sql::changes_page(Dialect::Postgres, range)).await?;
            let events = tx.query(&statement, &params).await.map_err(pg_error)?.iter().map(event).collect::<StorageResult<Vec<_>>>()?;
            tx.commit().await.map_err(pg_error)?;
            Ok(events)
        })
        .await;
        settle(client, outcome)
    }
}

/// Bounds one operation by `OPERATION_TIMEOUT_MS`.
async fn bounded<T>(operation: impl Future<Output = StorageResult<T>>) -> Result<StorageResult<T>, Elapsed> {
    tokio::time::timeout(Duration::from_millis(OPERATION_TIMEOUT_MS), operation).await
}

/// Finishes an operation on `client`: one that timed out or lost the database takes its connection out of the
/// pool, since the connection may be broken or still busy.
fn settle<T>(client: Object, outcome: Result<StorageResult<T>, Elapsed>) -> StorageResult<T> {
    match outcome {
        Ok(Err(StorageError::Unavailable(message))) => {
            drop(Object::take(client));
            Err(StorageError::Unavailable(message))
        }
        Ok(result) => result,
        Err(_) => {
            drop(Object::take(client));
            Err(StorageError::Unavailable(format!(
                "no answer from the database within {OPERATION_TIMEOUT_MS} ms; a write may or may not have been applied"
            )))
        }
    }
}

async fn prepare(client: &impl GenericClient, query: &str) -> StorageResult<Statement> {
    client.prepare_cached(query).await.map_err(pg_error)
}

async fn revisions(client: &impl GenericClient) -> StorageResult<(Revision, Revision)> {
    let row = client.query_one(&prepare(client, REVISIONS).await?, &[]).await.map_err(pg_error)?;
    Ok((row.try_get(0).map_err(pg_error)?, row.try_get(1).map_err(pg_error)?))
}

async fn read_snapshot(client: &mut Object) -> StorageResult<Transaction<'_>> {
    client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await.map_err(pg_error)
}

async fn write_on(client: &mut Object, key: &str, write: Write<'_>) -> StorageResult<KeyValue> {
    let tx = client.transaction().await.map_err(pg_error)?;
    let next_revision = prepare(&tx, NEXT_REVISION).await?;
    let bump = async {
        let row = tx.query_one(&next_revision, &[]).await.map_err(pg_error)?;
        row.try_get::<_, Revision>(0).map_err(pg_error)
    };
    // The counter bump and the change are sent back to back: the server runs the change as soon as the counter row
    // is locked (in a later statement, so it sees every write committed before), with no round trip in between.
    let (revision, outcome) = match write {
        Write::Create { value } => {
            let create = prepare(&tx, CREATE).await?;
            let (revision, created) = futures::try_join!(bump, async { tx.execute(&create, &[&key, &value]).await.map_err(pg_error) })?;
            let outcome = if created == 1 {
                Ok(KeyValue { key: key.to_owned(), value: value.into(), mod_revision: revision, create_revision: revision })
            } else {
                Err(StorageError::AlreadyExists(key.to_owned()))
            };
            (revision, outcome)
        }
        Write::Update { expected, value } => {
            let update = prepare(&tx, UPDATE).await?;
            let (revision, row) =
                futures::try_join!(bump, async { tx.query_opt(&update, &[&key, &expected, &value]).await.map_err(pg_error) })?;
            let outcome = applied(key, row).map(|stored| KeyValue {
                key: key.to_owned(),
                value: value.into(),
                mod_revision: revision,
                create_revision: stored.create_revision,
            });
            (revision, outcome)
        }
        Write::Delete { expected } => {
            let delete = prepare(&tx, DELETE).await?;
            let (revision, row) = futures::try_join!(bump, async { tx.query_opt(&delete, &[&key, &expected]).await.map_err(pg_error) })?;
            let outcome = applied(key, row).map(|stored| KeyValue { mod_revision: revision, ..stored });
            (revision, outcome)
        }
    };
    match outcome {
        Ok(written) => {
            tx.commit().await.map_err(|error| match pg_error(error) {
                StorageError::Unavailable(message) => StorageError::Unavailable(format!(
                    "committing revision {revision} failed and it may or may not have been applied: {message}"
                )),
                other => other,
            })?;
            Ok(written)
        }
        Err(error) => {
            // Gives the revision back: the next writer gets the same number.
            tx.rollback().await.map_err(pg_error)?;
            Err(error)
        }
    }
}

/// Reads the answer of UPDATE or DELETE: the row stored before, if the change was applied.
fn applied(key: &str, row: Option<Row>) -> StorageResult<KeyValue> {
    let Some(row) = row else {
        return Err(StorageError::NotFound(key.to_owned()));
    };
    let stored = key_value(&row)?;
    let changed: i64 = row.try_get(4).map_err(pg_error)?;
    if changed == 1 {
        Ok(stored)
    } else {
        Err(StorageError::Conflict { key: key.to_owned(), current: Some(Box::new(stored)) })
    }
}

async fn list(client: &mut Object, request: &ListRequest) -> StorageResult<ListResult> {
    // One snapshot for the revision check, the page and the count after it.
    let tx = read_snapshot(client).await?;
    let (current, compacted) = revisions(&tx).await?;
    let revision = sql::snapshot_revision(request.revision, current, compacted)?;
    let range = KeyRange::after(&request.prefix, request.start_after.as_deref());
    let limit = request.limit.map(|limit| i64::try_from(limit).unwrap_or(i64::MAX));
    let range_params = range.params();
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&revision];
    params.extend(range_params.iter().map(|param| param as &(dyn ToSql + Sync)));
    params.extend(limit.as_ref().map(|limit| limit as &(dyn ToSql + Sync)));
    let statement = prepare(&tx, &sql::snapshot_page(Dialect::Postgres, &range, limit.is_some())).await?;
    let items = tx.query(&statement, &params).await.map_err(pg_error)?.iter().map(key_value).collect::<StorageResult<Vec<_>>>()?;
    let remaining = if limit.is_some_and(|limit| limit == items.len() as i64) {
        let rest = match items.last() {
            Some(last) => KeyRange::after(&request.prefix, Some(&last.key)),
            None => range,
        };
        let rest_params = rest.params();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&revision];
        params.extend(rest_params.iter().map(|param| param as &(dyn ToSql + Sync)));
        let statement = prepare(&tx, &sql::snapshot_count(Dialect::Postgres, &rest)).await?;
        let count: i64 = tx.query_one(&statement, &params).await.and_then(|row| row.try_get(0)).map_err(pg_error)?;
        count as u64
    } else {
        0
    };
    tx.commit().await.map_err(pg_error)?;
    Ok(ListResult { items, revision, remaining })
}

async fn compact_batch(client: &mut Object, keep_after: Revision) -> StorageResult<Batch> {
    let tx = client.transaction().await.map_err(pg_error)?;
    let (current, compacted) = revisions(&tx).await?;
    let target = keep_after.min(current);
    if target <= compacted {
        tx.rollback().await.map_err(pg_error)?;
        return Ok(Batch::Done(compacted));
    }
    let end = target.min(compacted + COMPACT_BATCH_ROWS_MAX);
    // Conditional on the value just read: of two servers compacting at once, the second one's update waits for the
    // first and then matches nothing, so it starts over from the new position instead of deleting the same rows.
    let claimed = tx
        .execute("UPDATE store_meta SET compacted_revision = $2 WHERE compacted_revision = $1", &[&compacted, &end])
        .await
        .map_err(pg_error)?;
    if claimed == 0 {
        tx.rollback().await.map_err(pg_error)?;
        return Ok(Batch::Raced);
    }
    let rows = tx.execute("DELETE FROM change_log WHERE revision > $1 AND revision <= $2", &[&compacted, &end]).await.map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)?;
    Ok(Batch::Deleted { compacted: end, rows })
}

async fn migrate(client: &mut Object) -> StorageResult<()> {
    let tx = client.transaction().await.map_err(pg_error)?;
    // Servers starting together take turns; the lock is released when this transaction ends.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY]).await.map_err(pg_error)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ( \
             version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await
    .map_err(pg_error)?;
    let applied = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .map_err(pg_error)?
        .iter()
        .map(|row| row.try_get::<_, i64>(0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(pg_error)?;
    for &(version, name, script) in MIGRATIONS {
        if applied.contains(&version) {
            continue;
        }
        tx.batch_execute(script).await.map_err(pg_error)?;
        tx.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", &[&version, &name]).await.map_err(pg_error)?;
        tracing::info!(version, name, "applied PostgreSQL schema migration");
    }
    tx.commit().await.map_err(pg_error)
}

/// The change feed: runs until the store aborts it, reconnecting with backoff whenever its connection is lost.
async fn run_feed(db: Db) {
    let mut backoff_ms = FEED_RECONNECT_BACKOFF_MIN_MS;
    loop {
        let error = match Listener::connect(&db.inner.config).await {
            Ok(listener) => {
                tracing::debug!(position = db.inner.hub.position(), "change feed listening");
                backoff_ms = FEED_RECONNECT_BACKOFF_MIN_MS;
                listener.follow(&db.inner.hub).await
            }
            Err(error) => error,
        };
        tracing::warn!(%error, retry_in_ms = backoff_ms, "change feed lost the database");
        let jitter_ms = rand::random_range(0..=backoff_ms / 2);
        tokio::time::sleep(Duration::from_millis(backoff_ms + jitter_ms)).await;
        backoff_ms = (backoff_ms * 2).min(FEED_RECONNECT_BACKOFF_MAX_MS);
    }
}

/// The feed's own connection, LISTENing on `CHANGES_CHANNEL`.
struct Listener {
    client: tokio_postgres::Client,
    /// Holds a permit when a notification arrived since the feed last looked.
    wake: Arc<Notify>,
    /// Drives the connection; ends, with the reason, when the connection does.
    connection: JoinHandle<StorageError>,
    read_changes: Statement,
    read_compacted: Statement,
}

impl Listener {
    async fn connect(config: &tokio_postgres::Config) -> StorageResult<Self> {
        let (client, mut connection) = config.connect(NoTls).await.map_err(pg_error)?;
        let wake = Arc::new(Notify::new());
        let woken = wake.clone();
        let connection = tokio::spawn(async move {
            loop {
                match future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(_))) => woken.notify_one(),
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return pg_error(error),
                    None => return StorageError::Unavailable("the change feed's connection closed".to_owned()),
                }
            }
        });
        let statements = tokio::time::timeout(Duration::from_millis(OPERATION_TIMEOUT_MS), async {
            client.batch_execute(&format!("LISTEN {CHANGES_CHANNEL}")).await?;
            Ok::<_, tokio_postgres::Error>((client.prepare(FEED_CHANGES).await?, client.prepare(COMPACTED).await?))
        })
        .await;
        let (read_changes, read_compacted) = match statements {
            Ok(Ok(statements)) => statements,
            Ok(Err(error)) => {
                connection.abort();
                return Err(pg_error(error));
            }
            Err(_) => {
                connection.abort();
                return Err(StorageError::Unavailable("the change feed could not LISTEN in time".to_owned()));
            }
        };
        Ok(Listener { client, wake, connection, read_changes, read_compacted })
    }

    /// Publishes every change, whenever notified or every `FEED_RECHECK_INTERVAL_MS`, until the connection fails.
    async fn follow(mut self, hub: &Hub) -> StorageError {
        loop {
            // Everything committed before LISTEN took effect, or while the feed was busy, is read here.
            if let Err(error) = self.catch_up(hub).await {
                self.connection.abort();
                return error;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(FEED_RECHECK_INTERVAL_MS)) => {}
                ended = &mut self.connection => {
                    return ended.unwrap_or_else(|error| {
                        StorageError::Internal(format!("change feed task failed: {error}"))
                    });
                }
            }
        }
    }

    async fn catch_up(&self, hub: &Hub) -> StorageResult<()> {
        loop {
            let after = hub.position();
            let rows = self.query(&self.read_changes, &[&after, &FEED_BATCH_ROWS_MAX]).await?;
            let mut events = Vec::with_capacity(rows.len());
            for row in &rows {
                let event = event(row)?;
                if event.revision != after + 1 + events.len() as i64 {
                    break;
                }
                events.push(event);
            }
            let contiguous = events.len();
            hub.publish(events);
            if contiguous < rows.len() {
                self.skip_compacted(hub, after + contiguous as i64).await?;
            } else if rows.len() < FEED_BATCH_ROWS_MAX as usize {
                return Ok(());
            }
        }
    }

    /// Revision `published + 1` is missing from the log. Revisions have no gaps, so compaction removed it while the
    /// feed was away: the watches cannot be continued and end with `Compacted`.
    async fn skip_compacted(&self, hub: &Hub, published: Revision) -> StorageResult<()> {
        let rows = self.query(&self.read_compacted, &[]).await?;
        let compacted: Revision =
            rows.first().ok_or_else(|| StorageError::Internal("store_meta is empty".to_owned()))?.try_get(0).map_err(pg_error)?;
        if compacted <= published {
            return Err(StorageError::Internal(format!(
                "revision {} is missing from the change log but was never compacted",
                published + 1
            )));
        }
        tracing::warn!(published, compacted, "change feed fell behind compaction; ending all watches");
        hub.skip_to(compacted, StorageError::Compacted { requested: published, oldest: compacted });
        Ok(())
    }

    async fn query(&self, statement: &Statement, params: &[&(dyn ToSql + Sync)]) -> StorageResult<Vec<Row>> {
        match tokio::time::timeout(Duration::from_millis(OPERATION_TIMEOUT_MS), self.client.query(statement, params)).await {
            Ok(rows) => rows.map_err(pg_error),
            Err(_) => Err(StorageError::Unavailable("the change feed's query timed out".to_owned())),
        }
    }
}

fn key_value(row: &Row) -> StorageResult<KeyValue> {
    Ok(KeyValue {
        key: row.try_get(0).map_err(pg_error)?,
        value: row.try_get::<_, Vec<u8>>(1).map_err(pg_error)?.into(),
        mod_revision: row.try_get(2).map_err(pg_error)?,
        create_revision: row.try_get(3).map_err(pg_error)?,
    })
}

/// A change-log row as `revision, key, kind, value, prev_value`.
fn event(row: &Row) -> StorageResult<Event> {
    Ok(Event {
        revision: row.try_get(0).map_err(pg_error)?,
        key: row.try_get(1).map_err(pg_error)?,
        kind: sql::kind_from_code(row.try_get(2).map_err(pg_error)?)?,
        value: row.try_get::<_, Vec<u8>>(3).map_err(pg_error)?.into(),
        prev_value: row.try_get::<_, Option<Vec<u8>>>(4).map_err(pg_error)?.map(Into::into),
    })
}

fn pool_error(error: PoolError) -> StorageError {
    match error {
        PoolError::Backend(error) => pg_error(error),
        other => StorageError::Unavailable(format!("no database connection: {other}")),
    }
}

/// Lost connections and the server's "try later" answers are `Unavailable`; anything else is a bug or a broken
/// schema.
fn pg_error(error: tokio_postgres::Error) -> StorageError {
    let unavailable = match error.as_db_error() {
        Some(db_error) => {
            let code = db_error.code().code();
            // 08: connection exception, 53: insufficient resources, 57: operator intervention (shutdown, statement
            // timeout), 25006: read-only transaction (a standby after failover).
            code.starts_with("08") || code.starts_with("53") || code.starts_with("57") || code == "25006"
        }
        None => error.is_closed() || std::error::Error::source(&error).is_some_and(|source| source.is::<std::io::Error>()),
    };
    if unavailable {
        StorageError::Unavailable(error.to_string())
    } else {
        StorageError::Internal(error.to_string())
    }
}
