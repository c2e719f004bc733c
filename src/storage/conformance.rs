//! The contract of `Backend` as one suite every store must pass; tests/storage.rs runs it against SQLite and a
//! throwaway PostgreSQL. It needs a fresh store that nothing else writes to while it runs, because it checks that
//! every write takes exactly the next revision. A broken contract panics with what was expected: this is test code,
//! kept in the library so that each backend is held to the same checks.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::hub::WATCH_BUFFER_EVENTS_MAX;
use super::{Backend, Event, EventKind, KeyValue, ListRequest, ListResult, Revision, StorageError, StorageResult, WatchStream};

/// How long the suite waits for an event that must come.
const EVENT_WAIT_TIMEOUT_MS: u64 = 10_000;
/// How long it waits to be sure an event that must not come does not.
const QUIET_WAIT_MS: u64 = 200;

/// Runs every check, in order, against `backend`.
pub async fn run(backend: Arc<dyn Backend>) {
    let current = must(backend.current_revision().await, "current_revision");
    assert_eq!(must(backend.compacted_revision().await, "compacted_revision"), 0, "a fresh store has all history");
    let mut suite = Suite { backend, next: current + 1 };
    suite.writes_and_preconditions().await;
    suite.list_prefix_isolation().await;
    suite.pagination_over_one_snapshot().await;
    suite.list_at_older_revisions().await;
    suite.watch_from_now().await;
    suite.progress_notifications().await;
    suite.watch_from_older_revision().await;
    suite.slow_watcher_is_cut_off().await;
}

struct Suite {
    backend: Arc<dyn Backend>,
    /// The revision the next successful write must get.
    next: Revision,
}

impl Suite {
    async fn writes_and_preconditions(&mut self) {
        let key = "/conformance/kv/a";
        let b = &self.backend;
        assert_eq!(must(b.get(key).await, "get"), None);
        let created = self.create(key, "one").await;
        let b = &self.backend;
        assert_eq!(must(b.get(key).await, "get"), Some(created.clone()));
        assert_eq!(b.create(key, value("two")).await, Err(StorageError::AlreadyExists(key.to_owned())));
        assert_eq!(must(b.current_revision().await, "current_revision"), created.mod_revision, "a failed create takes no revision");

        let updated = self.update(key, created.mod_revision, "two").await;
        assert_eq!(updated.create_revision, created.create_revision, "an update keeps the create revision");
        let b = &self.backend;
        assert_eq!(
            b.update(key, created.mod_revision, value("three")).await,
            Err(StorageError::Conflict { key: key.to_owned(), current: Some(Box::new(updated.clone())) }),
            "a stale update fails and carries the stored value"
        );
        assert_eq!(must(b.get(key).await, "get"), Some(updated.clone()));
        let missing = "/conformance/kv/missing";
        assert_eq!(b.update(missing, 1, value("x")).await, Err(StorageError::NotFound(missing.to_owned())));
        assert_eq!(b.delete(missing, None).await, Err(StorageError::NotFound(missing.to_owned())));
        assert_eq!(
            b.delete(key, Some(created.mod_revision)).await,
            Err(StorageError::Conflict { key: key.to_owned(), current: Some(Box::new(updated.clone())) }),
            "a stale delete fails and carries the stored value"
        );

        let deleted = self.delete(key, Some(updated.mod_revision)).await;
        assert_eq!((&*deleted.value, deleted.create_revision), (&b"two"[..], created.create_revision));
        let b = &self.backend;
        assert_eq!(must(b.get(key).await, "get"), None);
        assert_eq!(b.delete(key, None).await, Err(StorageError::NotFound(key.to_owned())));

        let again = self.create(key, "four").await;
        assert!(again.create_revision > deleted.mod_revision, "a re-created key has a new create revision");
        let gone = self.delete(key, None).await;
        assert_eq!(&*gone.value, b"four", "an unconditional delete returns the last value");
        let b = &self.backend;
        assert_eq!(must(b.current_revision().await, "current_revision"), gone.mod_revision);
        assert_eq!(must(b.count("/conformance/kv/").await, "count"), 0);
    }

    async fn list_prefix_isolation(&mut self) {
        let base = "/conformance/iso/";
        // Around "/a/b/": the bare key, a sibling sharing its letters, and '0', the character right after '/'.
        // Around "z\u{7f}": the byte after 0x7f is not a character, so the range must end at "z\u{80}".
        let keys = ["a/b", "a/b/x", "a/b/y", "a/b/\u{e9}", "a/bc/x", "a/b0", "z\u{7f}1", "z\u{80}"];
        for key in keys {
            self.create(&format!("{base}{key}"), key).await;
        }
        let keys_of = |result: ListResult| -> Vec<String> {
            result.items.into_iter().map(|item| item.key.trim_start_matches(base).to_owned()).collect()
        };
        let b = &self.backend;
        assert_eq!(keys_of(list(b, &format!("{base}a/b/"), None, None, None).await), ["a/b/x", "a/b/y", "a/b/\u{e9}"]);
        assert_eq!(must(b.count(&format!("{base}a/b/")).await, "count"), 3);
        assert_eq!(keys_of(list(b, &format!("{base}z\u{7f}"), None, None, None).await), ["z\u{7f}1"]);
        let mut sorted: Vec<String> = keys.iter().map(|key| key.to_string()).collect();
        sorted.sort();
        assert_eq!(keys_of(list(b, base, None, None, None).await), sorted, "all keys, in byte order");
        assert_eq!(must(b.count(base).await, "count"), keys.len() as u64);
        assert_eq!(must(b.count("/conformance/nothing/").await, "count"), 0);
    }

    async fn pagination_over_one_snapshot(&mut self) {
        let prefix = "/conformance/page/";
        let key = |index: usize| format!("{prefix}k{index}");
        let mut stored = Vec::new();
        for index in 0..5 {
            stored.push(self.create(&key(index), "v1").await);
        }
        let b = &self.backend;
        let first = list(b, prefix, None, Some(2), None).await;
        assert_eq!(first.items, stored[..2], "first page");
        assert_eq!(first.remaining, 3);
        assert_eq!(first.revision, stored[4].mod_revision, "a list without revision reads the current one");

        // Changes after the first page must not show on the later pages of the same list.
        self.update(&key(3), stored[3].mod_revision, "v2").await;
        self.delete(&key(4), None).await;
        self.create(&key(5), "v1").await;

        let b = &self.backend;
        let second = list(b, prefix, Some(&key(1)), Some(2), Some(first.revision)).await;
        assert_eq!((second.items.as_slice(), second.remaining, second.revision), (&stored[2..4], 1, first.revision));
        let third = list(b, prefix, Some(&key(3)), Some(2), Some(first.revision)).await;
        assert_eq!((third.items.as_slice(), third.remaining), (&stored[4..], 0), "the deleted key is still in the snapshot");

        let now = list(b, prefix, None, None, None).await;
        let keys: Vec<&str> = now.items.iter().map(|item| item.key.as_str()).collect();
        assert_eq!(keys, [key(0), key(1), key(2), key(3), key(5)]);
        assert_eq!((&*now.items[3].value, now.remaining), (&b"v2"[..], 0));
        let empty_page = list(b, prefix, None, Some(0), None).await;
        assert_eq!((empty_page.items.len(), empty_page.remaining), (0, 5), "a zero-item page counts what follows");
    }

    async fn list_at_older_revisions(&mut self) {
        let prefix = "/conformance/old/";
        let key = |name: &str| format!("{prefix}{name}");
        for name in ["a", "b", "c"] {
            self.create(&key(name), "v1").await;
        }
        let b = &self.backend;
        let at_creation = list(b, prefix, None, None, None).await;
        let b_v1 = at_creation.items[1].clone();
        let b_v2 = self.update(&key("b"), b_v1.mod_revision, "v2").await;
        let b = &self.backend;
        let before = list(b, prefix, None, None, None).await;

        let a = &before.items[0];
        let a_v2 = self.update(&key("a"), a.mod_revision, "v2").await;
        self.delete(&key("b"), Some(b_v2.mod_revision)).await;
        self.create(&key("d"), "v1").await;
        self.delete(&key("c"), None).await;
        self.create(&key("c"), "v3").await;
        self.update(&key("a"), a_v2.mod_revision, "v3").await;

        let b = &self.backend;
        for snapshot in [&at_creation, &before] {
            let again = list(b, prefix, None, None, Some(snapshot.revision)).await;
            assert_eq!(again, *snapshot, "the state as of revision {}", snapshot.revision);
            let mut paged = Vec::new();
            let mut start_after = None;
            loop {
                let page = list(b, prefix, start_after.as_deref(), Some(1), Some(snapshot.revision)).await;
                paged.extend(page.items.iter().cloned());
                start_after = page.items.last().map(|item| item.key.clone());
                if page.remaining == 0 {
                    break;
                }
            }
            assert_eq!(paged, snapshot.items, "paging at revision {}", snapshot.revision);
        }
        let current = must(b.current_revision().await, "current_revision");
        let future = b.list(&ListRequest { prefix: prefix.to_owned(), revision: Some(current + 1), ..ListRequest::default() }).await;
        assert_eq!(future, Err(StorageError::FutureRevision { requested: current + 1, current }));
        let current_list = list(b, prefix, None, None, None).await;
        let values: Vec<&[u8]> = current_list.items.iter().map(|item| &*item.value).collect();
        assert_eq!(values, [&b"v3"[..], b"v3", b"v1"], "a, c and d now");
    }

    async fn watch_from_now(&mut self) {
        let prefix = "/conformance/watch/a/";
        let start = self.next - 1;
        let mut watch = must(self.backend.watch(prefix, start).await, "watch");
        let key = format!("{prefix}x");
        let created = self.create(&key, "v1").await;
        // Next to the watched prefix but not under it.
        self.create("/conformance/watch/ab", "other").await;
        let updated = self.update(&key, created.mod_revision, "v2").await;
        let deleted = self.delete(&key, None).await;
        let other = self.create(&format!("{prefix}y"), "v1").await;

        let expected = [
            event(EventKind::Created, &key, created.mod_revision, "v1", None),
            event(EventKind::Updated, &key, updated.mod_revision, "v2", Some("v1")),
            event(EventKind::Deleted, &key, deleted.mod_revision, "v2", Some("v2")),
            event(EventKind::Created, &other.key, other.mod_revision, "v1", None),
        ];
        for expected in expected {
            assert_eq!(next_event(&mut watch).await, expected);
        }
        assert_quiet(&mut watch).await;

        let current = must(self.backend.current_revision().await, "current_revision");
        match self.backend.watch(prefix, current + 1).await {
            Err(error) => assert_eq!(error, StorageError::FutureRevision { requested: current + 1, current }),
            Ok(_) => panic!("a watch after a future revision must fail"),
        }
    }

    async fn progress_notifications(&mut self) {
        let prefix = "/conformance/progress/quiet/";
        let start = self.next - 1;
        let mut quiet = must(self.backend.watch(prefix, start).await, "watch");
        let mut busy = must(self.backend.watch("/conformance/progress/busy/", start).await, "watch");
        let created = self.create(&format!("{prefix}x"), "v1").await;
        let elsewhere = self.create("/conformance/progress/busy/y", "v1").await;
        // Once the other watch has the later write, this server's feed has delivered it to every watcher.
        assert_eq!(next_event(&mut busy).await.revision, elsewhere.mod_revision);
        self.backend.notify_progress();
        assert_eq!(next_event(&mut quiet).await.revision, created.mod_revision, "changes come before the progress note");
        let progress = next_event(&mut quiet).await;
        assert_eq!((progress.kind, progress.revision), (EventKind::Progress, elsewhere.mod_revision));
        assert_quiet(&mut quiet).await;
    }

    async fn watch_from_older_revision(&mut self) {
        let prefix = "/conformance/backlog/";
        let start = self.next - 1;
        let p = self.create(&format!("{prefix}p"), "v1").await;
        self.update(&p.key, p.mod_revision, "v2").await;
        self.create(&format!("{prefix}q"), "v1").await;
        self.delete(&p.key, None).await;
        let mut from_start = must(self.backend.watch(prefix, start).await, "watch");
        let mut from_middle = must(self.backend.watch(prefix, start + 2).await, "watch");
        let live = self.create(&format!("{prefix}r"), "v1").await;

        let from_start_revisions = revisions(&mut from_start, 5).await;
        assert_eq!(from_start_revisions, (start + 1..=live.mod_revision).collect::<Vec<_>>(), "backlog, then live");
        let from_middle_revisions = revisions(&mut from_middle, 3).await;
        assert_eq!(from_middle_revisions, (start + 3..=live.mod_revision).collect::<Vec<_>>());
        assert_quiet(&mut from_start).await;
        assert_quiet(&mut from_middle).await;
    }

    /// A watcher that does not read is cut off once its buffer is full, with an error item after what it has,
    /// while a watcher that keeps up misses nothing; watching again from the last revision received (a backlog
    /// longer than one page) continues without a gap.
    async fn slow_watcher_is_cut_off(&mut self) {
        let prefix = "/conformance/slow/";
        let start = self.next - 1;
        let total = WATCH_BUFFER_EVENTS_MAX + 5;
        let mut slow = must(self.backend.watch(prefix, start).await, "watch");
        let mut fast = must(self.backend.watch(prefix, start).await, "watch");
        let reader = tokio::spawn(async move { revisions(&mut fast, total).await });
        for index in 0..total {
            self.create(&format!("{prefix}{index:05}"), "v").await;
        }
        let end = self.next - 1;
        let all: Vec<Revision> = (start + 1..=end).collect();
        assert_eq!(must_join(reader.await), all, "the watcher that keeps up sees everything");

        // Every event has now been published, so the slow watcher overflowed.
        let buffered = revisions(&mut slow, WATCH_BUFFER_EVENTS_MAX).await;
        assert_eq!(buffered, all[..WATCH_BUFFER_EVENTS_MAX], "a cut-off watcher keeps what it had");
        let last_received = buffered[WATCH_BUFFER_EVENTS_MAX - 1];
        match tokio::time::timeout(Duration::from_millis(EVENT_WAIT_TIMEOUT_MS), slow.next()).await {
            Ok(Some(Err(_))) => {}
            other => panic!("a slow watcher must end with an error item, got {other:?}"),
        }
        assert!(slow.next().await.is_none(), "the stream ends after the error item");

        let mut resumed = must(self.backend.watch(prefix, last_received).await, "watch");
        assert_eq!(revisions(&mut resumed, total - WATCH_BUFFER_EVENTS_MAX).await, all[WATCH_BUFFER_EVENTS_MAX..]);
        let mut replay = must(self.backend.watch(prefix, start).await, "watch");
        assert_eq!(revisions(&mut replay, total).await, all, "a long backlog is read page by page without gaps");
        assert_quiet(&mut replay).await;
    }

    async fn create(&mut self, key: &str, text: &str) -> KeyValue {
        let written = must(self.backend.create(key, value(text)).await, "create");
        self.expect_written(&written, key, text)
    }

    async fn update(&mut self, key: &str, expected: Revision, text: &str) -> KeyValue {
        let written = must(self.backend.update(key, expected, value(text)).await, "update");
        self.expect_written(&written, key, text)
    }

    async fn delete(&mut self, key: &str, expected: Option<Revision>) -> KeyValue {
        let deleted = must(self.backend.delete(key, expected).await, "delete");
        assert_eq!((deleted.key.as_str(), deleted.mod_revision), (key, self.next), "delete of {key}");
        self.next += 1;
        deleted
    }

    fn expect_written(&mut self, written: &KeyValue, key: &str, text: &str) -> KeyValue {
        assert_eq!(
            (written.key.as_str(), &*written.value, written.mod_revision),
            (key, text.as_bytes(), self.next),
            "every write takes the next revision"
        );
        self.next += 1;
        written.clone()
    }
}

async fn list(
    backend: &Arc<dyn Backend>,
    prefix: &str,
    start_after: Option<&str>,
    limit: Option<usize>,
    revision: Option<Revision>,
) -> ListResult {
    let request = ListRequest { prefix: prefix.to_owned(), start_after: start_after.map(str::to_owned), limit, revision };
    must(backend.list(&request).await, "list")
}

async fn next_event(watch: &mut WatchStream) -> Event {
    match tokio::time::timeout(Duration::from_millis(EVENT_WAIT_TIMEOUT_MS), watch.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(error))) => panic!("the watch failed: {error}"),
        Ok(None) => panic!("the watch ended"),
        Err(_) => panic!("no event within {EVENT_WAIT_TIMEOUT_MS} ms"),
    }
}

/// The revisions of the next `count` events.
async fn revisions(watch: &mut WatchStream, count: usize) -> Vec<Revision> {
    let mut revisions = Vec::with_capacity(count);
    for _ in 0..count {
        revisions.push(next_event(watch).await.revision);
    }
    revisions
}

async fn assert_quiet(watch: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(QUIET_WAIT_MS), watch.next()).await {
        panic!("expected no more events, got {item:?}");
    }
}

fn event(kind: EventKind, key: &str, revision: Revision, text: &str, prev: Option<&str>) -> Event {
    Event { kind, key: key.to_owned(), revision, value: value(text).into(), prev_value: prev.map(|prev| value(prev).into()) }
}

fn value(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

fn must<T>(result: StorageResult<T>, operation: &str) -> T {
    result.unwrap_or_else(|error| panic!("{operation} failed: {error}"))
}

fn must_join<T>(result: Result<T, tokio::task::JoinError>) -> T {
    result.unwrap_or_else(|error| panic!("watch reader failed: {error}"))
}
