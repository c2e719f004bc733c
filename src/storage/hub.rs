//! The in-process watch fan-out both stores share. A store publishes every committed event exactly once, in
//! revision order; the hub hands each one to the watchers whose prefix matches through a bounded buffer per
//! watcher. Publishing never waits: a watcher whose buffer is full is cut off (it gets the events it already has,
//! then an error item, and must watch again), so one slow client can stall neither the change feed nor the writers.
//! The hub also joins a subscription with the backlog a store reads from its change log into one `WatchStream`
//! without gap or duplicate.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::mpsc::{self, error::TrySendError};

use super::{Event, EventKind, Revision, StorageError, StorageResult, WatchStream};

/// Undelivered events one watcher may have buffered before it is cut off.
pub(super) const WATCH_BUFFER_EVENTS_MAX: usize = 1024;
/// Change-log rows one backlog read returns; a watch from far back reads its history in pages of this size.
pub(super) const WATCH_BACKLOG_BATCH_ROWS_MAX: usize = 256;

pub(super) struct Hub {
    state: Mutex<State>,
}

struct State {
    /// The newest revision published: later events reach every subscriber through its channel.
    position: Revision,
    watchers: Vec<Watcher>,
}

struct Watcher {
    prefix: String,
    sender: mpsc::Sender<Event>,
    /// Why the hub dropped `sender`; set before the drop, read by the receiving side once the channel is empty.
    end: Arc<OnceLock<StorageError>>,
}

/// A registration taken under the hub's lock, so every event after `position` is sure to arrive through it.
pub(super) struct Subscription {
    position: Revision,
    events: mpsc::Receiver<Event>,
    end: Arc<OnceLock<StorageError>>,
}

impl Hub {
    pub(super) fn new(position: Revision) -> Self {
        Hub { state: Mutex::new(State { position, watchers: Vec::new() }) }
    }

    pub(super) fn position(&self) -> Revision {
        self.lock().position
    }

    pub(super) fn subscribe(&self, prefix: &str) -> Subscription {
        let (sender, events) = mpsc::channel(WATCH_BUFFER_EVENTS_MAX);
        let end = Arc::new(OnceLock::new());
        let mut state = self.lock();
        state.watchers.push(Watcher { prefix: prefix.to_owned(), sender, end: end.clone() });
        Subscription { position: state.position, events, end }
    }

    /// Hands committed events, in revision order and each right after the previous one, to the watchers whose
    /// prefix they match.
    pub(super) fn publish(&self, events: impl IntoIterator<Item = Event>) {
        let mut state = self.lock();
        for event in events {
            state.position = event.revision;
            state.watchers.retain(|watcher| {
                if !event.key.starts_with(&watcher.prefix) {
                    return !watcher.sender.is_closed();
                }
                match watcher.sender.try_send(event.clone()) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_)) => {
                        tracing::debug!(prefix = %watcher.prefix, revision = event.revision, "watcher fell behind");
                        let _ = watcher.end.set(StorageError::Unavailable(format!(
                            "watch fell more than {WATCH_BUFFER_EVENTS_MAX} events behind at revision {}; \
                             watch again from the last revision received",
                            event.revision
                        )));
                        false
                    }
                    // The watch stream was dropped: nobody is listening any more.
                    Err(TrySendError::Closed(_)) => false,
                }
            });
        }
    }

    /// Queues a `Progress` event at the current position for every watcher with room for it; a full buffer
    /// skips it (the watcher has events to deliver anyway) rather than cutting the watcher off.
    pub(super) fn notify_progress(&self) {
        let mut state = self.lock();
        let position = state.position;
        let progress = Event { kind: EventKind::Progress, key: String::new(), revision: position, value: Arc::from([]), prev_value: None };
        state.watchers.retain(|watcher| match watcher.sender.try_send(progress.clone()) {
            Ok(()) | Err(TrySendError::Full(_)) => true,
            Err(TrySendError::Closed(_)) => false,
        });
    }

    /// Ends every watch with `error` and continues from `position`: the feed could not deliver what lies between.
    pub(super) fn skip_to(&self, position: Revision, error: StorageError) {
        let mut state = self.lock();
        state.position = position;
        end_all(&mut state, error);
    }

    /// Ends every watch: the store is shutting down.
    pub(super) fn close(&self) {
        end_all(&mut self.lock(), store_closed());
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic (each field is written in one step), so a poisoned lock is
        // still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn end_all(state: &mut State, error: StorageError) {
    for watcher in state.watchers.drain(..) {
        let _ = watcher.end.set(error.clone());
    }
}

fn store_closed() -> StorageError {
    StorageError::Unavailable("the store was shut down".to_owned())
}

/// Joins a subscription with the history before it: first the events in `(after, subscription.position]`, read
/// page by page through `read_page(after, upto, limit)` (which returns them in revision order and fails with
/// `Compacted` once that history is gone), then the live events, skipping any at or below the last one delivered.
pub(super) fn watch_stream<F, Fut>(subscription: Subscription, after: Revision, read_page: F) -> WatchStream
where
    F: FnMut(Revision, Revision, usize) -> Fut + Send + 'static,
    Fut: Future<Output = StorageResult<Vec<Event>>> + Send + 'static,
{
    let merge = Merge {
        backlog: Some(backlog(after, subscription.position, read_page)),
        events: subscription.events,
        end: subscription.end,
        last: after,
        done: false,
    };
    Box::pin(stream::unfold(merge, |mut merge| async move { merge.next().await.map(|item| (item, merge)) }))
}

struct Merge {
    backlog: Option<BoxStream<'static, StorageResult<Event>>>,
    events: mpsc::Receiver<Event>,
    end: Arc<OnceLock<StorageError>>,
    /// The newest revision delivered (or `after` before the first).
    last: Revision,
    done: bool,
}

impl Merge {
    async fn next(&mut self) -> Option<StorageResult<Event>> {
        if self.done {
            return None;
        }
        if let Some(backlog) = &mut self.backlog {
            match backlog.next().await {
                Some(Ok(event)) => {
                    self.last = event.revision;
                    return Some(Ok(event));
                }
                Some(Err(error)) => {
                    self.done = true;
                    return Some(Err(error));
                }
                None => self.backlog = None,
            }
        }
        loop {
            match self.events.recv().await {
                // Published before the watch's start revision (the feed may trail a write this client made).
                Some(event) if event.revision <= self.last => continue,
                Some(event) => {
                    self.last = event.revision;
                    return Some(Ok(event));
                }
                None => {
                    self.done = true;
                    return Some(Err(self.end.get().cloned().unwrap_or_else(store_closed)));
                }
            }
        }
    }
}

fn backlog<F, Fut>(after: Revision, upto: Revision, mut read_page: F) -> BoxStream<'static, StorageResult<Event>>
where
    F: FnMut(Revision, Revision, usize) -> Fut + Send + 'static,
    Fut: Future<Output = StorageResult<Vec<Event>>> + Send + 'static,
{
    // The state is the revision to read after, or `None` once the history up to `upto` is exhausted.
    let cursor = (after < upto).then_some(after);
    stream::unfold(cursor, move |cursor| {
        let page = cursor.map(|cursor| read_page(cursor, upto, WATCH_BACKLOG_BATCH_ROWS_MAX));
        async move {
            match page?.await {
                Ok(events) => {
                    let next = match events.last() {
                        Some(last) if events.len() == WATCH_BACKLOG_BATCH_ROWS_MAX => Some(last.revision),
                        _ => None,
                    };
                    Some((events.into_iter().map(Ok).collect::<Vec<_>>(), next))
                }
                Err(error) => Some((vec![Err(error)], None)),
            }
        }
    })
    .flat_map(stream::iter)
    .boxed()
}
