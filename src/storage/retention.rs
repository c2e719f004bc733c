//! History retention, shared by both stores: how much of the change log is kept and the background task that
//! compacts the rest. Clients resume a watch from the last revision they saw, so history is kept for a time window
//! (as the kube-apiserver compacts etcd to the revision it saw one interval earlier) and never shorter than a
//! minimum number of revisions. The stores do the deleting, in transactions of at most `COMPACT_BATCH_ROWS_MAX`
//! rows so that compaction never holds locks or builds a transaction that grows with the backlog.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{CompactionReport, Revision, StorageResult};

/// Change-log rows one compaction transaction deletes at most.
pub const COMPACT_BATCH_ROWS_MAX: i64 = 1000;
/// History younger than this is kept.
const HISTORY_WINDOW_SECS: u64 = 300;
/// The newest revisions always kept, however old.
const HISTORY_KEEP_REVISIONS_MIN: i64 = 1000;
/// How often the background task samples the current revision and compacts.
const COMPACT_INTERVAL_SECS: u64 = 60;

/// What the background compactor needs from a store.
#[async_trait::async_trait]
pub(super) trait Compact: Send + Sync + 'static {
    async fn current_revision(&self) -> StorageResult<Revision>;
    async fn compact(&self, keep_after: Revision) -> StorageResult<CompactionReport>;
}

/// Runs until aborted (the stores abort it when they are dropped).
pub(super) async fn run_compactor(store: Arc<dyn Compact>) {
    let mut samples = VecDeque::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(COMPACT_INTERVAL_SECS));
    loop {
        ticker.tick().await;
        let current = match store.current_revision().await {
            Ok(current) => current,
            Err(error) => {
                tracing::debug!(%error, "compactor could not read the current revision");
                continue;
            }
        };
        let Some(target) = compaction_target(&mut samples, Instant::now(), current) else {
            continue;
        };
        match store.compact(target).await {
            Ok(report) => tracing::debug!(?report, "compacted history"),
            Err(error) => {
                tracing::warn!(%error, target, "compaction failed; retrying at the next interval")
            }
        }
    }
}

/// Records `current` as seen at `now` in `samples` (oldest first) and returns the revision history may be compacted
/// to: the newest one seen at least `HISTORY_WINDOW_SECS` ago, but not within the newest
/// `HISTORY_KEEP_REVISIONS_MIN`.
fn compaction_target(samples: &mut VecDeque<(Instant, Revision)>, now: Instant, current: Revision) -> Option<Revision> {
    samples.push_back((now, current));
    let cutoff = now.checked_sub(Duration::from_secs(HISTORY_WINDOW_SECS))?;
    // Samples older than the newest one before the cutoff will never be chosen again.
    while samples.get(1).is_some_and(|&(seen, _)| seen <= cutoff) {
        samples.pop_front();
    }
    let &(seen, revision) = samples.front()?;
    let target = revision.min(current - HISTORY_KEEP_REVISIONS_MIN);
    (seen <= cutoff && target > 0).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_the_revision_seen_one_window_ago_keeping_a_minimum() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut samples = VecDeque::new();
        assert_eq!(compaction_target(&mut samples, at(0), 5_000), None, "nothing is a window old yet");
        assert_eq!(compaction_target(&mut samples, at(60), 6_000), None);
        assert_eq!(compaction_target(&mut samples, at(300), 7_000), Some(5_000));
        assert_eq!(compaction_target(&mut samples, at(360), 8_000), Some(6_000));
        assert_eq!(samples.front().map(|&(_, revision)| revision), Some(6_000), "older samples are dropped");
        // A quiet store keeps its newest revisions even when they are old.
        assert_eq!(compaction_target(&mut samples, at(1_000), 8_100), Some(7_100));
        let mut quiet = VecDeque::new();
        assert_eq!(compaction_target(&mut quiet, at(0), 900), None);
        assert_eq!(compaction_target(&mut quiet, at(400), 950), None);
    }
}
