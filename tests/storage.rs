//! Storage tests against real databases: the conformance suite on SQLite (a temporary file) and on a throwaway
//! PostgreSQL; two API servers sharing one PostgreSQL database under concurrent writes; compaction; and a
//! PostgreSQL outage (crash and restart) under an open watch.

#[path = "support/postgres.rs"]
mod postgres_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokube::storage::postgres::PostgresStore;
use ferrokube::storage::sqlite::SqliteStore;
use ferrokube::storage::{
    conformance, Backend, CompactionReport, Event, EventKind, ListRequest, Revision, StorageError, StorageResult, WatchStream,
    COMPACT_BATCH_ROWS_MAX,
};
use futures::StreamExt;
use postgres_support::TestPostgres;

/// How long a test waits for an event or a recovery that must come.
const WAIT_TIMEOUT_MS: u64 = 30_000;
/// How soon a change on one server must reach another server's watchers: far below the feed's safety re-check
/// interval, so only LISTEN/NOTIFY can meet it.
const PUSH_LATENCY_MAX_MS: u64 = 1_500;

#[tokio::test]
async fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("state.db")).await.expect("open");
    conformance::run(Arc::new(store)).await;
}

#[tokio::test]
async fn postgres_passes_the_conformance_suite() {
    let server = TestPostgres::new().await;
    let store = PostgresStore::connect(&server.url()).await.expect("connect");
    conformance::run(Arc::new(store)).await;
}

/// What a writer was told it wrote: the event every watcher must report for that revision.
type Acked = Arc<Mutex<Vec<(Revision, String, EventKind, Vec<u8>)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_agree_on_every_change() {
    const WRITERS_PER_SERVER: usize = 3;
    const OPS_PER_WRITER: usize = 60;
    let server = TestPostgres::new().await;
    let url = server.url();
    // Started together, as two API servers would be: both migrate, one after the other.
    let (a, b) = tokio::join!(PostgresStore::connect(&url), PostgresStore::connect(&url));
    let stores: [Arc<dyn Backend>; 2] = [Arc::new(a.expect("connect a")), Arc::new(b.expect("connect b"))];
    let start = stores[0].current_revision().await.expect("current revision");

    let mut watchers = Vec::new();
    for store in &stores {
        for _ in 0..2 {
            watchers.push(store.watch("/two/", start).await.expect("watch"));
        }
    }
    let shared_watch = stores[0].watch("/two/shared", start).await.expect("watch");

    let acked: Acked = Arc::default();
    let done = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for (server_index, store) in stores.iter().enumerate() {
        for writer in 0..WRITERS_PER_SERVER {
            let (store, acked, done) = (store.clone(), acked.clone(), done.clone());
            let name = format!("/two/own/{server_index}-{writer}/");
            writers.push(tokio::spawn(async move {
                write_mix(&*store, &name, OPS_PER_WRITER, &acked).await;
                done.fetch_add(1, Ordering::SeqCst);
            }));
        }
    }
    // A watcher that starts from the beginning while the writers are half way: backlog, then live, no seam.
    let late = {
        let (store, done) = (stores[1].clone(), done.clone());
        tokio::spawn(async move {
            while done.load(Ordering::SeqCst) < WRITERS_PER_SERVER {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            store.watch("/two/", start).await.expect("late watch")
        })
    };
    for writer in writers {
        writer.await.expect("writer");
    }
    let late = late.await.expect("late watcher");
    watchers.push(late);

    let mut acked = acked.lock().expect("acked").clone();
    acked.sort_by_key(|(revision, ..)| *revision);
    let end = stores[1].current_revision().await.expect("current revision");
    let revisions: Vec<Revision> = acked.iter().map(|(revision, ..)| *revision).collect();
    assert_eq!(revisions, (start + 1..=end).collect::<Vec<_>>(), "every revision is an acknowledged write: no gaps");

    let expected: Vec<(Revision, String, EventKind, Vec<u8>)> = acked.clone();
    let mut sequences = Vec::new();
    for mut watch in watchers {
        let events = collect_until(&mut watch, end).await;
        let seen: Vec<_> = events.iter().map(|e| (e.revision, e.key.clone(), e.kind, e.value.to_vec())).collect();
        assert_eq!(seen, expected, "each watcher sees every change once, in revision order");
        assert_replays(&events);
        sequences.push(events);
    }
    assert!(sequences.windows(2).all(|pair| pair[0] == pair[1]), "all watchers saw identical events");

    let shared: Vec<_> = expected.iter().filter(|(_, key, ..)| key == "/two/shared").cloned().collect();
    assert!(shared.len() > WRITERS_PER_SERVER, "the writers did contend on the shared key");
    let last_shared = shared.last().map(|(revision, ..)| *revision).unwrap_or(start);
    let mut shared_watch = shared_watch;
    let seen: Vec<_> =
        collect_until(&mut shared_watch, last_shared).await.into_iter().map(|e| (e.revision, e.key, e.kind, e.value.to_vec())).collect();
    assert_eq!(seen, shared, "a narrower watch sees exactly its key's changes");

    // Changes reach the other server by notification, not by its slow safety re-check (every few seconds).
    let mut on_b = stores[1].watch("/two/push/", end).await.expect("watch");
    for index in 0..5 {
        let written = stores[0].create(&format!("/two/push/{index}"), vec![1]).await.expect("create");
        let started = Instant::now();
        let event = tokio::time::timeout(Duration::from_millis(PUSH_LATENCY_MAX_MS), on_b.next()).await;
        assert!(
            matches!(&event, Ok(Some(Ok(event))) if event.revision == written.mod_revision),
            "a change on one server reaches the other's watchers within {PUSH_LATENCY_MAX_MS} ms: {event:?} after {:?}",
            started.elapsed()
        );
    }
}

/// Creates, updates and deletes keys of its own under `prefix`, and every fifth operation fights over
/// "/two/shared" with compare-and-swap, retrying on conflicts (whose revisions must be given back).
async fn write_mix(store: &dyn Backend, prefix: &str, ops: usize, acked: &Acked) {
    let mut own: HashMap<String, Revision> = HashMap::new();
    for op in 0..ops {
        if op % 5 == 4 {
            loop {
                let value = format!("{prefix}{op}").into_bytes();
                let result = match store.get("/two/shared").await.expect("get shared") {
                    None => store.create("/two/shared", value.clone()).await.map(|kv| (kv, EventKind::Created)),
                    Some(kv) => store.update("/two/shared", kv.mod_revision, value.clone()).await.map(|kv| (kv, EventKind::Updated)),
                };
                match result {
                    Ok((kv, kind)) => {
                        acked.lock().expect("acked").push((kv.mod_revision, kv.key, kind, value));
                        break;
                    }
                    Err(StorageError::Conflict { .. } | StorageError::AlreadyExists(_)) => continue,
                    Err(error) => panic!("shared write failed: {error}"),
                }
            }
            continue;
        }
        let key = format!("{prefix}k{}", op % 3);
        let value = format!("{key}@{op}").into_bytes();
        let (kv, kind) = match own.get(&key).copied() {
            None => (store.create(&key, value).await.expect("create"), EventKind::Created),
            Some(revision) if op % 3 == 0 => (store.delete(&key, Some(revision)).await.expect("delete"), EventKind::Deleted),
            Some(revision) => (store.update(&key, revision, value).await.expect("update"), EventKind::Updated),
        };
        if kind == EventKind::Deleted {
            own.remove(&key);
        } else {
            own.insert(key, kv.mod_revision);
        }
        acked.lock().expect("acked").push((kv.mod_revision, kv.key, kind, kv.value.to_vec()));
    }
}

/// The compaction store methods are inherent, not part of `Backend`; this lets one test body drive both.
trait Compactable: Backend {
    async fn compact_to(&self, keep_after: Revision) -> StorageResult<CompactionReport>;
}

impl Compactable for SqliteStore {
    async fn compact_to(&self, keep_after: Revision) -> StorageResult<CompactionReport> {
        self.compact(keep_after).await
    }
}

impl Compactable for PostgresStore {
    async fn compact_to(&self, keep_after: Revision) -> StorageResult<CompactionReport> {
        self.compact(keep_after).await
    }
}

/// Writes more than one compaction batch of history (returns the revision to compact to, with more history after
/// it, and the list of the snapshot at that revision, read before compacting).
async fn write_history(store: &dyn Backend) -> (Revision, Vec<ferrokube::storage::KeyValue>) {
    let total = COMPACT_BATCH_ROWS_MAX as usize + 200;
    let mut revisions: HashMap<String, Revision> = HashMap::new();
    for op in 0..total {
        let key = format!("/compact/k{:02}", op % 40);
        let written = match revisions.get(&key) {
            None => store.create(&key, vec![1]).await,
            Some(&revision) if op > total - 10 => store.delete(&key, Some(revision)).await,
            Some(&revision) => store.update(&key, revision, op.to_string().into_bytes()).await,
        }
        .expect("write");
        revisions.insert(key, written.mod_revision);
    }
    let keep_after = store.current_revision().await.expect("current") - 50;
    let request = ListRequest { prefix: "/compact/".to_owned(), revision: Some(keep_after), ..ListRequest::default() };
    (keep_after, store.list(&request).await.expect("list").items)
}

/// After compaction to `keep_after` (from nothing compacted): older revisions are refused, the compacted revision
/// itself is still readable and watchable, and repeating is a no-op.
async fn check_compacted(store: &impl Compactable, keep_after: Revision, snapshot: &[ferrokube::storage::KeyValue]) {
    assert_eq!(store.compacted_revision().await.expect("compacted"), keep_after);
    let too_old = StorageError::Compacted { requested: keep_after - 1, oldest: keep_after };
    assert_eq!(store.watch("/compact/", keep_after - 1).await.err(), Some(too_old.clone()));
    let old_list = ListRequest { prefix: "/compact/".to_owned(), revision: Some(keep_after - 1), ..ListRequest::default() };
    assert_eq!(store.list(&old_list).await, Err(too_old));
    let list = ListRequest { prefix: "/compact/".to_owned(), revision: Some(keep_after), ..ListRequest::default() };
    assert_eq!(store.list(&list).await.expect("list").items, snapshot, "the compacted revision is still a snapshot");

    let current = store.current_revision().await.expect("current");
    let mut watch = store.watch("/compact/", keep_after).await.expect("watch");
    let revisions: Vec<Revision> = collect_until(&mut watch, current).await.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, (keep_after + 1..=current).collect::<Vec<_>>(), "the retained history is whole");

    let again = store.compact_to(keep_after).await.expect("compact again");
    assert_eq!(again, CompactionReport { compacted_revision: keep_after, rows_deleted: 0, batches: 0 });
    let beyond = store.compact_to(current + 100).await.expect("compact beyond");
    assert_eq!(beyond.compacted_revision, current, "compaction stops at the current revision");
    assert_eq!(store.compacted_revision().await.expect("compacted"), current);
}

#[tokio::test]
async fn sqlite_compacts_old_history_in_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let (keep_after, snapshot) = write_history(&store).await;
    let report = store.compact(keep_after).await.expect("compact");
    assert_eq!(report, CompactionReport { compacted_revision: keep_after, rows_deleted: keep_after as u64, batches: 2 });
    let log_rows = || {
        let conn = rusqlite::Connection::open(&path).expect("open directly");
        conn.query_row("SELECT count(*), min(revision) FROM change_log", [], |row| Ok((row.get(0)?, row.get(1)?))).expect("count log rows")
    };
    let current = store.current_revision().await.expect("current");
    assert_eq!(log_rows(), (current - keep_after, keep_after + 1), "exactly the old rows are gone");
    check_compacted(&store, keep_after, &snapshot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_compacts_old_history_in_batches_from_two_servers() {
    let server = TestPostgres::new().await;
    let a = PostgresStore::connect(&server.url()).await.expect("connect a");
    let b = PostgresStore::connect(&server.url()).await.expect("connect b");
    let (keep_after, snapshot) = write_history(&a).await;
    // Both servers compact at once: between them each row is deleted once, in batches of bounded size.
    let (from_a, from_b) = tokio::join!(a.compact(keep_after), b.compact(keep_after));
    let (from_a, from_b) = (from_a.expect("compact a"), from_b.expect("compact b"));
    assert_eq!((from_a.compacted_revision, from_b.compacted_revision), (keep_after, keep_after));
    assert_eq!(from_a.rows_deleted + from_b.rows_deleted, keep_after as u64, "every old row deleted exactly once");
    let batches = i64::from(from_a.batches + from_b.batches);
    assert!(
        batches >= (keep_after + COMPACT_BATCH_ROWS_MAX - 1) / COMPACT_BATCH_ROWS_MAX,
        "no batch exceeds the limit ({batches} batches)"
    );

    let (client, connection) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let row = client.query_one("SELECT count(*), min(revision) FROM change_log", &[]).await.expect("count log rows");
    let current = a.current_revision().await.expect("current");
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (current - keep_after, keep_after + 1));
    check_compacted(&a, keep_after, &snapshot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_fast_loses_nothing_and_recovers() {
    let mut server = TestPostgres::new().await;
    let store = PostgresStore::connect(&server.url()).await.expect("connect");
    let mut acked = Vec::new();
    for index in 0..20 {
        acked.push(store.create(&format!("/outage/k{index:02}"), vec![index]).await.expect("create"));
    }
    let mut watch = store.watch("/outage/", store.current_revision().await.expect("current")).await.expect("watch");
    let before = store.create("/outage/before", vec![1]).await.expect("create");
    assert_eq!(next_event(&mut watch).await.revision, before.mod_revision, "the feed is live");
    acked.push(before.clone());

    server.stop().await;
    let started = Instant::now();
    assert!(matches!(store.get("/outage/k00").await, Err(StorageError::Unavailable(_))));
    assert!(matches!(store.create("/outage/during", vec![1]).await, Err(StorageError::Unavailable(_))));
    let list = ListRequest { prefix: "/outage/".to_owned(), ..ListRequest::default() };
    assert!(matches!(store.list(&list).await, Err(StorageError::Unavailable(_))));
    assert!(matches!(store.watch("/outage/", 0).await.err(), Some(StorageError::Unavailable(_))));
    assert!(started.elapsed() < Duration::from_secs(10), "failures come back quickly: {:?}", started.elapsed());

    server.start().await;
    let deadline = Instant::now() + Duration::from_millis(WAIT_TIMEOUT_MS);
    let after = loop {
        match store.create("/outage/after", vec![2]).await {
            Ok(written) => break written,
            Err(StorageError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("the store did not recover: {error}"),
        }
    };
    assert_eq!(after.mod_revision, before.mod_revision + 1, "the failed create took no revision");
    assert_eq!(store.get("/outage/during").await.expect("get"), None, "a write that failed before commit did not happen");
    let items = store.list(&list).await.expect("list").items;
    for written in &acked {
        assert!(items.contains(written), "acknowledged write {} survived the crash", written.key);
    }

    // The open watch resumes where it was: the feed reconnects and catches up, so nothing is missed.
    let resumed = next_event(&mut watch).await;
    assert_eq!((resumed.revision, resumed.key.as_str()), (after.mod_revision, "/outage/after"));
    let later = store.create("/outage/later", vec![3]).await.expect("create");
    assert_eq!(next_event(&mut watch).await.revision, later.mod_revision);
}

#[tokio::test]
async fn dropping_the_store_ends_its_watches_with_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("state.db")).await.expect("open");
    let mut watch = store.watch("/", 0).await.expect("watch");
    drop(store);
    let ended = tokio::time::timeout(Duration::from_millis(WAIT_TIMEOUT_MS), watch.next()).await.expect("ends");
    assert!(matches!(ended, Some(Err(StorageError::Unavailable(_)))), "got {ended:?}");
    assert!(watch.next().await.is_none());
}

/// Checks that each event's previous value is what the events before it left (the history is a valid replay).
fn assert_replays(events: &[Event]) {
    let mut state: HashMap<&str, &[u8]> = HashMap::new();
    for event in events {
        let before = state.get(event.key.as_str()).copied();
        assert_eq!(event.prev_value.as_deref(), before, "prev_value of revision {}", event.revision);
        match event.kind {
            EventKind::Created => assert_eq!(before, None, "revision {} creates an absent key", event.revision),
            EventKind::Updated => assert!(before.is_some(), "revision {} updates a present key", event.revision),
            EventKind::Deleted => assert_eq!(before, Some(&*event.value), "a delete carries the last value"),
            EventKind::Progress => panic!("revision {}: no progress notification was asked for", event.revision),
        }
        if event.kind == EventKind::Deleted {
            state.remove(event.key.as_str());
        } else {
            state.insert(&event.key, &event.value);
        }
    }
}

async fn next_event(watch: &mut WatchStream) -> Event {
    match tokio::time::timeout(Duration::from_millis(WAIT_TIMEOUT_MS), watch.next()).await {
        Ok(Some(Ok(event))) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Events up to and including revision `end`.
async fn collect_until(watch: &mut WatchStream, end: Revision) -> Vec<Event> {
    let mut events: Vec<Event> = Vec::new();
    while events.last().is_none_or(|last| last.revision < end) {
        events.push(next_event(watch).await);
    }
    events
}
