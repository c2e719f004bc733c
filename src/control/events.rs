//! Recording Events the way upstream components do, so `kubectl describe` and `kubectl get events` read as on a
//! real cluster: events.k8s.io/v1 Events (the API server shows them as core/v1 Events too) from a named
//! component (`replicaset-controller`, `default-scheduler`), with repeats folded into a series by kube-rs's
//! recorder. Recording never fails a reconcile: an Event that cannot be written is logged at debug and dropped.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

/// Records Events for one component.
#[derive(Clone)]
pub struct EventRecorder {
    recorder: Recorder,
}

/// Normal or Warning, as `kubectl describe` shows in its Type column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Normal,
    Warning,
}

impl EventRecorder {
    /// `component` is the upstream name users know (`deployment-controller`); `instance` tells copies apart.
    pub fn new(client: kube::Client, component: &str, instance: &str) -> Self {
        let reporter = Reporter { controller: component.to_string(), instance: Some(instance.to_string()) };
        EventRecorder { recorder: Recorder::new(client, reporter) }
    }

    /// Records `reason` / `message` about `regarding`; `action` is the machine-readable verb (upstream often
    /// repeats the reason there).
    pub async fn record(&self, regarding: &ObjectReference, severity: Severity, reason: &str, action: &str, message: String) {
        let event = Event {
            type_: match severity {
                Severity::Normal => EventType::Normal,
                Severity::Warning => EventType::Warning,
            },
            reason: reason.to_string(),
            note: Some(message),
            action: action.to_string(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, regarding).await {
            tracing::debug!(%error, reason, "could not record an event");
        }
    }
}

/// A reference to `object` for an Event's `regarding`.
pub fn reference_to<K>(object: &K) -> ObjectReference
where
    K: kube::Resource<DynamicType = ()>,
{
    object.object_ref(&())
}
