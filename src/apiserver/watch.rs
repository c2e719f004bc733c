//! Watch streams: chunked JSON, one `{"type","object"}` event per line, from a resourceVersion with no missed,
//! duplicated or reordered event (storage guarantees the order; this module keeps it). Synthetic ADDED events
//! for the current state when the watch starts at "" or "0", the `k8s.io/initial-events-end` bookmark for
//! `sendInitialEvents=true`, selector transitions (an object leaving the selection is sent as DELETED), Table
//! rows, `timeoutSeconds`, one ERROR event (410 Expired) for a resourceVersion that is too old, and a BOOKMARK
//! every [`WATCH_BOOKMARK_INTERVAL`] for `allowWatchBookmarks` so a quiet watch can resume from a recent revision.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::metrics::OpenWatch;
use super::object::{self, collection_prefix};
use super::render::{self, IncludeObject};
use super::request::ResponseForm;
use super::store::{matches_selectors, storage_error, ListOptions};
use super::ApiState;
use crate::api::registry::ResourceDesc;
use crate::api::status::ApiError;
use crate::storage::{Event, EventKind, Revision};

/// The longest a watch stays open without `timeoutSeconds`, as upstream's default request timeout window.
pub const WATCH_TIMEOUT_SECONDS_MAX: u64 = 1800;
/// How often open watches that asked for bookmarks get one at the newest revision (upstream's bookmark frequency).
pub const WATCH_BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);
/// Encoded events a watch may have queued for a slow client before it is ended (the client re-watches).
const WATCH_SEND_BUFFER_EVENTS_MAX: usize = 1024;

/// Where a watch starts and what it sends first.
#[derive(Debug)]
pub struct WatchRequest {
    pub desc: &'static ResourceDesc,
    pub namespace: Option<String>,
    pub selectors: ListOptions,
    /// `None` for "" or "0": start from the current state with synthetic ADDED events.
    pub resource_version: Option<Revision>,
    pub send_initial_events: bool,
    pub allow_bookmarks: bool,
    pub timeout: Duration,
    pub form: ResponseForm,
    pub include: IncludeObject,
}

/// Starts a watch and returns the streaming response; errors before the first byte become a Status.
pub async fn serve(state: Arc<ApiState>, request: WatchRequest) -> Result<Response, ApiError> {
    let desc = request.desc;
    let prefix = collection_prefix(desc, request.namespace.as_deref());
    let mut initial = Vec::new();
    let start_after = match (request.resource_version, request.send_initial_events) {
        (Some(revision), false) => revision,
        (requested, _) => {
            let min_revision = requested;
            let page = state
                .store
                .list(desc, request.namespace.as_deref(), &ListOptions { min_revision, ..clone_selectors(&request.selectors) })
                .await?;
            initial = page.items;
            page.revision
        }
    };
    let (sender, receiver) = mpsc::channel::<Bytes>(WATCH_SEND_BUFFER_EVENTS_MAX);
    let storage_watch = state.store.backend.watch(&prefix, start_after).await;
    let guard = state.metrics.open_watch();
    match storage_watch {
        Err(crate::storage::StorageError::Compacted { requested, oldest }) => {
            let status = ApiError::Expired { message: format!("too old resource version: {requested} ({oldest})") }.to_status();
            let line = event_line("ERROR", &status);
            let _ = sender.try_send(line);
            drop(sender);
        }
        Err(other) => return Err(storage_error(other)),
        Ok(events) => {
            tokio::spawn(pump(request, initial, start_after, events, sender, guard));
        }
    }
    let body =
        futures::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|line| (Ok::<_, Infallible>(line), receiver)) },
        );
    let mut response = Response::new(Body::from_stream(body));
    response.headers_mut().insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static(render::JSON));
    Ok(response)
}

fn clone_selectors(options: &ListOptions) -> ListOptions {
    ListOptions { label_selector: options.label_selector.clone(), field_selector: options.field_selector.clone(), ..ListOptions::default() }
}

/// Sends the initial events, then storage events, until the timeout, the client leaving or the feed ending.
async fn pump(
    request: WatchRequest,
    initial: Vec<Value>,
    start_after: Revision,
    mut events: crate::storage::WatchStream,
    sender: mpsc::Sender<Bytes>,
    _open: OpenWatch,
) {
    let mut encoder = Encoder { desc: request.desc, form: request.form, include: request.include, headers_sent: false };
    let deadline = tokio::time::sleep(request.timeout);
    tokio::pin!(deadline);
    for object in &initial {
        if !send(&sender, encoder.event("ADDED", object)) {
            return;
        }
    }
    if request.send_initial_events && request.allow_bookmarks {
        let bookmark = bookmark(request.desc, start_after, true);
        if !send(&sender, event_line("BOOKMARK", &bookmark)) {
            return;
        }
    }
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            _ = sender.closed() => return,
            next = events.next() => match next {
                None => return,
                Some(Err(error)) => {
                    let status = storage_error(error).to_status();
                    let _ = sender.try_send(event_line("ERROR", &status));
                    return;
                }
                Some(Ok(event)) if event.kind == EventKind::Progress => {
                    if request.allow_bookmarks && !send(&sender, event_line("BOOKMARK", &bookmark(request.desc, event.revision, false))) {
                        return;
                    }
                }
                Some(Ok(event)) => {
                    if let Some((kind, object)) = translate(&request, &event) {
                        if !send(&sender, encoder.event(kind, &object)) {
                            return;
                        }
                    }
                }
            },
        }
    }
}

/// Queues a line without waiting; a client too slow to keep the buffer from filling loses its watch.
fn send(sender: &mpsc::Sender<Bytes>, line: Bytes) -> bool {
    match sender.try_send(line) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::debug!("watch client fell behind; ending its watch so it re-lists");
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Turns a storage event into a watch event for this watcher, applying selector transitions.
fn translate(request: &WatchRequest, event: &Event) -> Option<(&'static str, Value)> {
    let decode = |bytes: &[u8]| object::decode_stored_bytes(request.desc, bytes, event.revision).ok();
    let new_object = decode(&event.value)?;
    let matches = |object: &Value| matches_selectors(request.desc, object, &request.selectors);
    match event.kind {
        EventKind::Created => matches(&new_object).then_some(("ADDED", new_object)),
        EventKind::Progress => None,
        EventKind::Deleted => matches(&new_object).then_some(("DELETED", new_object)),
        EventKind::Updated => {
            let was = event.prev_value.as_deref().and_then(decode).is_some_and(|old| matches(&old));
            match (was, matches(&new_object)) {
                (true, true) => Some(("MODIFIED", new_object)),
                (false, true) => Some(("ADDED", new_object)),
                (true, false) => Some(("DELETED", new_object)),
                (false, false) => None,
            }
        }
    }
}

struct Encoder {
    desc: &'static ResourceDesc,
    form: ResponseForm,
    include: IncludeObject,
    headers_sent: bool,
}

impl Encoder {
    fn event(&mut self, kind: &str, object: &Value) -> Bytes {
        let body = match self.form {
            ResponseForm::Table => {
                let meta = json!({"resourceVersion": object["metadata"]["resourceVersion"]});
                let table = render::table(self.desc, std::slice::from_ref(object), self.include, meta, !self.headers_sent);
                self.headers_sent = true;
                table
            }
            ResponseForm::PartialObjectMetadata | ResponseForm::PartialObjectMetadataList => object::partial_metadata(object),
            ResponseForm::Json | ResponseForm::Yaml => object.clone(),
        };
        event_line(kind, &body)
    }
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).expect("JSON values serialize");
    line.push(b'\n');
    Bytes::from(line)
}

/// A BOOKMARK object: the watched kind with only its resourceVersion (and the initial-events marker).
fn bookmark(desc: &ResourceDesc, revision: Revision, initial_events_end: bool) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_events_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": desc.kind, "apiVersion": object::api_version(desc.group, desc.version), "metadata": metadata})
}
