//! Recording Events the way upstream components do, so `kubectl describe` and `kubectl get events` read as on a
//! real cluster: events.k8s.io/v1 Events (the API server shows them as core/v1 Events too) from a named
//! component (`replicaset-controller`, `default-scheduler`). An Event identical to a recent one (same object,
//! type, reason and message) becomes a series on the first instead of a new object, as upstream's recorder does;
//! different messages stay separate Events ("Created pod: web-a", "Created pod: web-b"). Recording never fails a
//! reconcile: an Event that cannot be written is logged at debug and dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// How long a recorded Event can still gain repeats as a series (upstream's isomorphic-event window).
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// Recent Events remembered for series; the oldest are forgotten past this.
const RECENT_EVENTS_MAX: usize = 4096;

/// Records Events for one component.
#[derive(Clone)]
pub struct EventRecorder {
    client: kube::Client,
    component: String,
    instance: String,
    recent: Arc<Mutex<HashMap<String, Recent>>>,
}

struct Recent {
    namespace: String,
    name: String,
    count: i32,
    last: Instant,
}

/// Normal or Warning, as `kubectl describe` shows in its Type column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Normal,
    Warning,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Normal => "Normal",
            Severity::Warning => "Warning",
        }
    }
}

impl EventRecorder {
    /// `component` is the upstream name users know (`deployment-controller`); `instance` tells copies apart.
    pub fn new(client: kube::Client, component: &str, instance: &str) -> Self {
        EventRecorder { client, component: component.into(), instance: instance.into(), recent: Arc::default() }
    }

    /// Records `reason` / `message` about `regarding`; `action` is the machine-readable verb (upstream often
    /// repeats the reason there).
    pub async fn record(&self, regarding: &ObjectReference, severity: Severity, reason: &str, action: &str, message: String) {
        let key = format!(
            "{}\0{}\0{}\0{}\0{}\0{}",
            regarding.uid.as_deref().unwrap_or_default(),
            regarding.kind.as_deref().unwrap_or_default(),
            regarding.name.as_deref().unwrap_or_default(),
            severity.as_str(),
            reason,
            message
        );
        let now = MicroTime(jiff::Timestamp::now());
        if let Some((namespace, name, count)) = self.repeat_of(&key) {
            let series = json!({"series": {"count": count, "lastObservedTime": now}});
            let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
            match api.patch(&name, &PatchParams::default(), &Patch::Merge(series)).await {
                Ok(_) => return,
                // The first Event is gone (expired or deleted): record a new one.
                Err(error) => tracing::debug!(%error, reason, "could not extend an event series"),
            }
        }
        let namespace = regarding.namespace.clone().filter(|ns| !ns.is_empty()).unwrap_or_else(|| "default".into());
        let name = format!("{}.{:x}", regarding.name.as_deref().unwrap_or("event"), now.0.as_nanosecond());
        let event = Event {
            metadata: ObjectMeta { name: Some(name.clone()), namespace: Some(namespace.clone()), ..ObjectMeta::default() },
            event_time: Some(now),
            action: Some(action.to_string()),
            reason: Some(reason.to_string()),
            type_: Some(severity.as_str().to_string()),
            note: Some(message),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.component.clone()),
            reporting_instance: Some(self.instance.clone()),
            series: None::<EventSeries>,
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => self.remember(key, Recent { namespace, name, count: 1, last: Instant::now() }),
            Err(error) => tracing::debug!(%error, reason, "could not record an event"),
        }
    }

    /// The Event to extend and its new count, when an identical one was recorded within the window.
    fn repeat_of(&self, key: &str) -> Option<(String, String, i32)> {
        let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = recent.get_mut(key).filter(|entry| entry.last.elapsed() < SERIES_WINDOW)?;
        entry.count += 1;
        entry.last = Instant::now();
        Some((entry.namespace.clone(), entry.name.clone(), entry.count))
    }

    fn remember(&self, key: String, entry: Recent) {
        let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() >= RECENT_EVENTS_MAX {
            recent.retain(|_, entry| entry.last.elapsed() < SERIES_WINDOW);
            if recent.len() >= RECENT_EVENTS_MAX {
                recent.clear();
            }
        }
        recent.insert(key, entry);
    }
}

/// A reference to `object` for an Event's `regarding`.
pub fn reference_to<K>(object: &K) -> ObjectReference
where
    K: kube::Resource<DynamicType = ()>,
{
    object.object_ref(&())
}
