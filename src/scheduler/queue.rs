//! kube-scheduler's scheduling queue: which pending pod to try next, and when a pod that did not fit is tried
//! again. A pod waits in one place at a time: the active queue (higher `spec.priority` first, then first come
//! first served), backoff (after a failed attempt: 1 s, doubling per attempt up to 10 s), or the unschedulable
//! set, which only a change in the cluster that could make room empties (or, at the latest, five minutes). A
//! popped pod is in flight until its binding is answered, then settled until the watch shows it bound or gone.
//! The queue also remembers the `PodScheduled=False` condition last reported per pod, so an unchanged failure
//! is not written again. Pure logic: the loop in `run` feeds it watch events, attempt outcomes and the time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::scheduler::placement::CONDITION_REASON_UNSCHEDULABLE;

/// A pod's namespace and name.
pub type PodKey = (String, String);

/// The `spec.schedulerName` this scheduler serves (an empty name means it too).
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// The condition type the scheduler reports on a pod it could not place.
pub const CONDITION_POD_SCHEDULED: &str = "PodScheduled";
/// Backoff after a pod's first failed attempt (upstream `podInitialBackoffSeconds`).
pub const POD_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// The longest backoff, reached after five failed attempts (upstream `podMaxBackoffSeconds`).
pub const POD_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long a pod stays unschedulable without any cluster change before it is tried again (upstream
/// `podMaxInUnschedulablePodsDuration`).
pub const POD_MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);
/// How often the unschedulable set is checked for pods that have waited that long (upstream flushes every 30 s).
pub const UNSCHEDULABLE_FLUSH_PERIOD: Duration = Duration::from_secs(30);

/// Heaps keep stale items until they surface; past this many plus twice the live ones they are rebuilt.
const STALE_HEAP_ITEMS_MAX: usize = 1024;

/// Whether the default scheduler should place `pod`: not yet assigned, meant for this scheduler, not being
/// deleted, not finished and without scheduling gates.
pub fn wants_scheduling(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return false };
    let unassigned = spec.node_name.as_deref().is_none_or(str::is_empty);
    let ours = matches!(spec.scheduler_name.as_deref(), None | Some("" | DEFAULT_SCHEDULER_NAME));
    let ungated = spec.scheduling_gates.as_ref().is_none_or(Vec::is_empty);
    let finished = matches!(pod.status.as_ref().and_then(|status| status.phase.as_deref()), Some("Succeeded" | "Failed"));
    unassigned && ours && ungated && !finished && pod.metadata.deletion_timestamp.is_none()
}

/// Whether `pod` requires other pods near it, so that a newly assigned pod (and not only freed room) may let it fit.
pub fn waits_for_pod_affinity(pod: &Pod) -> bool {
    let terms = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.affinity.as_ref())
        .and_then(|affinity| affinity.pod_affinity.as_ref())
        .and_then(|affinity| affinity.required_during_scheduling_ignored_during_execution.as_ref());
    terms.is_some_and(|terms| !terms.is_empty())
}

/// The wait before the next attempt after `attempts` attempts: 1 s, 2 s, 4 s, 8 s, then 10 s.
pub fn backoff_duration(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(31);
    POD_INITIAL_BACKOFF.saturating_mul(1 << doublings).min(POD_MAX_BACKOFF)
}

/// Where a pod waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Active,
    Backoff {
        ready_at: Instant,
    },
    Unschedulable {
        since: Instant,
    },
    /// Popped for an attempt; a binding may be on its way.
    InFlight,
    /// Bound, or its binding refused because it is gone or bound elsewhere: the watch will say which, and until
    /// then a lagging unbound copy of the pod must not requeue it.
    Settled,
}

#[derive(Debug)]
struct Entry {
    /// The latest copy from the watch.
    pod: Pod,
    place: Place,
    /// Attempts so far (each pop counts one), which set the backoff.
    attempts: u32,
    last_failure: Option<Instant>,
    /// Identifies this entry's one live item in the active or backoff heap; older items for it are stale.
    ticket: u64,
    /// The `PodScheduled` condition last sent for this pod, which the watch may not show yet.
    reported: Option<PodCondition>,
}

/// The pods waiting for a node, keyed by namespace and name. Everything it holds is bounded by the pending pods
/// in the cluster: one entry each, at most one live heap item each, and stale heap items are pruned.
#[derive(Debug, Default)]
pub struct SchedulingQueue {
    entries: HashMap<PodKey, Entry>,
    /// (priority, earlier ticket first, key): the max-heap pops the highest priority, then the oldest.
    active: BinaryHeap<(i32, Reverse<u64>, PodKey)>,
    /// Soonest ready first.
    backoff: BinaryHeap<Reverse<(Instant, u64, PodKey)>>,
    unschedulable: HashSet<PodKey>,
    /// The unschedulable pods that a newly assigned pod may let in (see `waits_for_pod_affinity`).
    pod_affinity_waiters: HashSet<PodKey>,
    active_count: usize,
    backoff_count: usize,
    next_ticket: u64,
    next_unschedulable_flush: Option<Instant>,
}

fn key_of(pod: &Pod) -> PodKey {
    (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default())
}

fn priority_of(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|spec| spec.priority).unwrap_or(0)
}

/// The pod without what changes on every write and cannot affect placement (upstream `isPodUpdated`):
/// resourceVersion, generation, managedFields, finalizers and status.
fn placement_inputs(pod: &Pod) -> (ObjectMeta, Option<&k8s_openapi::api::core::v1::PodSpec>) {
    let meta = ObjectMeta { resource_version: None, generation: None, managed_fields: None, finalizers: None, ..pod.metadata.clone() };
    (meta, pod.spec.as_ref())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum HeapKind {
    Active,
    Backoff,
}

/// Whether a heap item is its pod's live one: the pod's latest ticket, and the pod still waits in that heap.
fn holds(entries: &HashMap<PodKey, Entry>, key: &PodKey, ticket: u64, heap: HeapKind) -> bool {
    entries.get(key).is_some_and(|entry| {
        let in_heap = match entry.place {
            Place::Active => heap == HeapKind::Active,
            Place::Backoff { .. } => heap == HeapKind::Backoff,
            _ => false,
        };
        entry.ticket == ticket && in_heap
    })
}

fn scheduled_condition(pod: &Pod) -> Option<&PodCondition> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().find(|condition| condition.type_ == CONDITION_POD_SCHEDULED)
}

impl SchedulingQueue {
    pub fn new() -> Self {
        SchedulingQueue::default()
    }

    /// How many pods the queue holds, in any place.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a pod is ready to be popped (call `flush` first for pods whose backoff just ended).
    pub fn has_active(&self) -> bool {
        self.active_count > 0
    }

    /// Where the pod waits, if the queue holds it.
    pub fn place(&self, key: &PodKey) -> Option<Place> {
        self.entries.get(key).map(|entry| entry.place)
    }

    /// The latest copy of a queued pod.
    pub fn pod(&self, key: &PodKey) -> Option<&Pod> {
        self.entries.get(key).map(|entry| &entry.pod)
    }

    /// Adds or refreshes a pod that `wants_scheduling`. A new pod (or a new pod under an old name) goes to the
    /// active queue; an unschedulable pod whose spec or metadata changed is tried again once its backoff is
    /// over; a status-only update just refreshes the copy.
    pub fn upsert(&mut self, pod: Pod, now: Instant) {
        let key = key_of(&pod);
        let Some(entry) = self.entries.get_mut(&key) else {
            self.insert_new(key, pod, now);
            return;
        };
        if entry.pod.metadata.uid != pod.metadata.uid {
            self.leave(&key);
            self.insert_new(key, pod, now);
            return;
        }
        match entry.place {
            Place::Settled => {}
            Place::Unschedulable { .. } if placement_inputs(&entry.pod) != placement_inputs(&pod) => {
                entry.pod = pod;
                self.leave(&key);
                self.requeue(&key, now);
            }
            _ => entry.pod = pod,
        }
    }

    /// Forgets a pod that was deleted, got bound, finished or stopped wanting this scheduler.
    pub fn remove(&mut self, key: &PodKey) {
        self.leave(key);
        self.entries.remove(key);
    }

    /// Takes the next pod to try (highest priority, then longest waiting) and marks it in flight.
    pub fn pop(&mut self, now: Instant) -> Option<PodKey> {
        self.flush(now);
        while let Some((_, Reverse(ticket), key)) = self.active.pop() {
            if !holds(&self.entries, &key, ticket, HeapKind::Active) {
                continue;
            }
            let Some(entry) = self.entries.get_mut(&key) else { continue };
            entry.place = Place::InFlight;
            entry.attempts = entry.attempts.saturating_add(1);
            self.active_count -= 1;
            return Some(key);
        }
        None
    }

    /// The popped pod fits no node: it waits in the unschedulable set for a cluster change.
    pub fn unschedulable(&mut self, key: &PodKey, now: Instant) {
        let Some(entry) = self.entries.get_mut(key) else { return };
        if entry.place != Place::InFlight {
            return;
        }
        entry.place = Place::Unschedulable { since: now };
        entry.last_failure = Some(now);
        if waits_for_pod_affinity(&entry.pod) {
            self.pod_affinity_waiters.insert(key.clone());
        }
        self.unschedulable.insert(key.clone());
        self.next_unschedulable_flush.get_or_insert(now + UNSCHEDULABLE_FLUSH_PERIOD);
    }

    /// The binding of the pod with `uid` was accepted.
    pub fn bind_succeeded(&mut self, key: &PodKey, uid: Option<&str>) {
        if let Some(entry) = self.entries.get_mut(key) {
            if entry.place == Place::InFlight && entry.pod.metadata.uid.as_deref() == uid {
                entry.place = Place::Settled;
            }
        }
    }

    /// The binding of the pod with `uid` failed; `pod_gone` when the server said the pod no longer exists or is
    /// already bound (404, 409), which settles it, otherwise it is retried after its backoff. Returns whether
    /// the scheduler should forget its assumption of the pod: not when a newer pod of that name holds one now.
    pub fn bind_failed(&mut self, key: &PodKey, uid: Option<&str>, pod_gone: bool, now: Instant) -> bool {
        let Some(entry) = self.entries.get_mut(key) else { return true };
        if entry.pod.metadata.uid.as_deref() != uid {
            return !matches!(entry.place, Place::InFlight | Place::Settled);
        }
        if entry.place != Place::InFlight {
            return true;
        }
        if pod_gone {
            entry.place = Place::Settled;
        } else {
            entry.last_failure = Some(now);
            self.requeue(key, now);
        }
        true
    }

    /// Something changed that could make room (a node added or changed, an assigned pod deleted or finished):
    /// every unschedulable pod goes back to the active queue, or to backoff while its backoff lasts.
    pub fn move_all_unschedulable(&mut self, now: Instant) {
        self.pod_affinity_waiters.clear();
        for key in std::mem::take(&mut self.unschedulable) {
            self.requeue(&key, now);
        }
    }

    /// A pod was newly assigned: the unschedulable pods that require pod affinity may fit now.
    pub fn move_pod_affinity_waiters(&mut self, now: Instant) {
        for key in std::mem::take(&mut self.pod_affinity_waiters) {
            self.unschedulable.remove(&key);
            self.requeue(&key, now);
        }
    }

    /// Moves pods whose backoff has ended to the active queue and, every `UNSCHEDULABLE_FLUSH_PERIOD`, pods
    /// unschedulable for `POD_MAX_IN_UNSCHEDULABLE` too.
    pub fn flush(&mut self, now: Instant) {
        while let Some(Reverse((ready_at, ticket, key))) = self.backoff.peek() {
            let live = holds(&self.entries, key, *ticket, HeapKind::Backoff);
            if live && *ready_at > now {
                break;
            }
            let Some(Reverse((_, _, key))) = self.backoff.pop() else { break };
            if live {
                self.backoff_count -= 1;
                self.push_active(&key);
            }
        }
        if self.next_unschedulable_flush.is_some_and(|flush_at| flush_at <= now) {
            let expired: Vec<PodKey> = self
                .unschedulable
                .iter()
                .filter(|key| {
                    let since = self.entries.get(*key).and_then(|entry| match entry.place {
                        Place::Unschedulable { since } => Some(since),
                        _ => None,
                    });
                    since.is_none_or(|since| since + POD_MAX_IN_UNSCHEDULABLE <= now)
                })
                .cloned()
                .collect();
            for key in expired {
                self.leave(&key);
                self.requeue(&key, now);
            }
            self.next_unschedulable_flush = (!self.unschedulable.is_empty()).then(|| now + UNSCHEDULABLE_FLUSH_PERIOD);
        }
        self.prune();
    }

    /// When `flush` next has something to do: the end of the soonest backoff or the next unschedulable check.
    pub fn next_deadline(&self) -> Option<Instant> {
        let backoff_end = self.backoff.peek().map(|Reverse((ready_at, _, _))| *ready_at);
        match (backoff_end, self.next_unschedulable_flush) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The `PodScheduled=False` condition to write after a failed attempt with `message`, or `None` when the
    /// pod already carries (or was last sent) the same one. As upstream, the transition time is kept while the
    /// condition stays `False`. The returned condition counts as reported; call `report_failed` if the write fails.
    pub fn condition_to_report(&mut self, key: &PodKey, message: &str, now: jiff::Timestamp) -> Option<PodCondition> {
        let entry = self.entries.get_mut(key)?;
        let previous = entry.reported.as_ref().or_else(|| scheduled_condition(&entry.pod));
        let unchanged = previous.is_some_and(|previous| {
            previous.status == "False"
                && previous.reason.as_deref() == Some(CONDITION_REASON_UNSCHEDULABLE)
                && previous.message.as_deref() == Some(message)
                && previous.last_probe_time.is_none()
        });
        if unchanged {
            return None;
        }
        let last_transition_time = match previous {
            Some(previous) if previous.status == "False" => previous.last_transition_time.clone(),
            _ => None,
        };
        let condition = PodCondition {
            type_: CONDITION_POD_SCHEDULED.to_string(),
            status: "False".to_string(),
            reason: Some(CONDITION_REASON_UNSCHEDULABLE.to_string()),
            message: Some(message.to_string()),
            last_probe_time: None,
            last_transition_time: Some(last_transition_time.unwrap_or(Time(now))),
            observed_generation: entry.pod.metadata.generation.filter(|generation| *generation > 0),
        };
        entry.reported = Some(condition.clone());
        Some(condition)
    }

    /// The condition from `condition_to_report` was not written: the next failure writes it again.
    pub fn report_failed(&mut self, key: &PodKey) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.reported = None;
        }
    }

    fn insert_new(&mut self, key: PodKey, pod: Pod, now: Instant) {
        let entry = Entry { pod, place: Place::InFlight, attempts: 0, last_failure: None, ticket: 0, reported: None };
        self.entries.insert(key.clone(), entry);
        self.requeue(&key, now);
    }

    /// Takes the pod out of the bookkeeping of its current place; heap items go stale by themselves.
    fn leave(&mut self, key: &PodKey) {
        let Some(entry) = self.entries.get(key) else { return };
        match entry.place {
            Place::Active => self.active_count -= 1,
            Place::Backoff { .. } => self.backoff_count -= 1,
            Place::Unschedulable { .. } => {
                self.unschedulable.remove(key);
                self.pod_affinity_waiters.remove(key);
            }
            Place::InFlight | Place::Settled => {}
        }
    }

    /// Puts a pod that is in no heap into backoff if its last failure is recent enough, else into the active queue.
    fn requeue(&mut self, key: &PodKey, now: Instant) {
        let Some(entry) = self.entries.get_mut(key) else { return };
        let ready_at = entry.last_failure.map(|failed_at| failed_at + backoff_duration(entry.attempts));
        match ready_at {
            Some(ready_at) if ready_at > now => {
                self.next_ticket += 1;
                entry.ticket = self.next_ticket;
                entry.place = Place::Backoff { ready_at };
                self.backoff.push(Reverse((ready_at, self.next_ticket, key.clone())));
                self.backoff_count += 1;
            }
            _ => self.push_active(key),
        }
    }

    fn push_active(&mut self, key: &PodKey) {
        let Some(entry) = self.entries.get_mut(key) else { return };
        self.next_ticket += 1;
        entry.ticket = self.next_ticket;
        entry.place = Place::Active;
        self.active.push((priority_of(&entry.pod), Reverse(self.next_ticket), key.clone()));
        self.active_count += 1;
    }

    /// Drops stale heap items once they outnumber the live ones by far, so removed pods cannot pile up.
    fn prune(&mut self) {
        let entries = &self.entries;
        if self.active.len() > 2 * self.active_count + STALE_HEAP_ITEMS_MAX {
            self.active.retain(|(_, Reverse(ticket), key)| holds(entries, key, *ticket, HeapKind::Active));
        }
        if self.backoff.len() > 2 * self.backoff_count + STALE_HEAP_ITEMS_MAX {
            self.backoff.retain(|Reverse((_, ticket, key))| holds(entries, key, *ticket, HeapKind::Backoff));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Affinity, PodAffinity, PodAffinityTerm, PodSchedulingGate, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use std::collections::BTreeMap;

    fn pod(name: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                generation: Some(1),
                ..Default::default()
            },
            spec: Some(PodSpec::default()),
            ..Default::default()
        }
    }

    fn with_priority(mut pod: Pod, priority: i32) -> Pod {
        pod.spec.get_or_insert_with(Default::default).priority = Some(priority);
        pod
    }

    fn key(name: &str) -> PodKey {
        ("default".into(), name.into())
    }

    fn pop_all(queue: &mut SchedulingQueue, now: Instant) -> Vec<String> {
        std::iter::from_fn(|| queue.pop(now)).map(|(_, name)| name).collect()
    }

    /// Pops `name` and reports it unschedulable.
    fn fail(queue: &mut SchedulingQueue, name: &str, now: Instant) {
        assert_eq!(queue.pop(now), Some(key(name)));
        queue.unschedulable(&key(name), now);
    }

    #[test]
    fn pods_come_out_by_priority_then_in_arrival_order() {
        let mut queue = SchedulingQueue::new();
        let now = Instant::now();
        for (name, priority) in [("a", 0), ("b", 10), ("c", 0), ("d", 10), ("e", -5)] {
            queue.upsert(with_priority(pod(name), priority), now);
        }
        assert_eq!(pop_all(&mut queue, now), ["b", "d", "a", "c", "e"]);
        assert_eq!(queue.place(&key("a")), Some(Place::InFlight));
        assert!(!queue.has_active());
    }

    #[test]
    fn backoff_doubles_from_one_second_up_to_ten() {
        let seconds: Vec<u64> = (1..=7).map(|attempts| backoff_duration(attempts).as_secs()).collect();
        assert_eq!(seconds, [1, 2, 4, 8, 10, 10, 10]);
        assert_eq!(backoff_duration(u32::MAX), POD_MAX_BACKOFF);
    }

    #[test]
    fn an_unschedulable_pod_waits_for_a_cluster_change_then_its_backoff() {
        let mut queue = SchedulingQueue::new();
        let start = Instant::now();
        queue.upsert(pod("big"), start);
        fail(&mut queue, "big", start);
        assert_eq!(queue.pop(start + Duration::from_secs(60)), None, "no change in the cluster, no retry");

        queue.move_all_unschedulable(start + Duration::from_millis(300));
        assert!(matches!(queue.place(&key("big")), Some(Place::Backoff { .. })));
        assert_eq!(queue.next_deadline(), Some(start + Duration::from_secs(1)));
        assert_eq!(queue.pop(start + Duration::from_millis(900)), None, "still backing off");
        assert_eq!(queue.pop(start + Duration::from_secs(1)), Some(key("big")));

        // The second failure backs off 2 s; a change long after that sends the pod straight to the active queue.
        let second = start + Duration::from_secs(1);
        queue.unschedulable(&key("big"), second);
        queue.move_all_unschedulable(second + Duration::from_millis(1500));
        assert!(matches!(queue.place(&key("big")), Some(Place::Backoff { ready_at }) if ready_at == second + Duration::from_secs(2)));
        queue.move_all_unschedulable(second + Duration::from_secs(3));
        assert!(matches!(queue.place(&key("big")), Some(Place::Backoff { .. })), "a pod in backoff is not moved again");
        assert_eq!(queue.pop(second + Duration::from_secs(2)), Some(key("big")));
        queue.unschedulable(&key("big"), second + Duration::from_secs(2));
        queue.move_all_unschedulable(second + Duration::from_secs(60));
        assert_eq!(queue.place(&key("big")), Some(Place::Active));
    }

    #[test]
    fn an_unschedulable_pod_is_retried_after_five_minutes_without_any_change() {
        let mut queue = SchedulingQueue::new();
        let start = Instant::now();
        queue.upsert(pod("big"), start);
        fail(&mut queue, "big", start);
        assert_eq!(queue.next_deadline(), Some(start + UNSCHEDULABLE_FLUSH_PERIOD));
        for seconds in (30..300).step_by(30) {
            assert_eq!(queue.pop(start + Duration::from_secs(seconds)), None, "retried after {seconds} s");
        }
        assert_eq!(queue.next_deadline(), Some(start + Duration::from_secs(300)));
        assert_eq!(queue.pop(start + Duration::from_secs(300)), Some(key("big")));
        assert_eq!(queue.next_deadline(), None, "nothing left to wait for");
    }

    #[test]
    fn a_status_update_leaves_an_unschedulable_pod_waiting_but_a_spec_or_label_change_retries_it() {
        let mut queue = SchedulingQueue::new();
        let start = Instant::now();
        queue.upsert(pod("web"), start);
        fail(&mut queue, "web", start);

        let mut status_only = pod("web");
        status_only.metadata.resource_version = Some("42".into());
        status_only.status = Some(PodStatus { phase: Some("Pending".into()), ..Default::default() });
        queue.upsert(status_only, start + Duration::from_secs(5));
        assert!(matches!(queue.place(&key("web")), Some(Place::Unschedulable { .. })));
        assert_eq!(queue.pod(&key("web")).and_then(|pod| pod.metadata.resource_version.as_deref()), Some("42"));

        let mut relabelled = pod("web");
        relabelled.metadata.labels = Some(BTreeMap::from([("tier".to_string(), "web".to_string())]));
        queue.upsert(relabelled, start + Duration::from_millis(500));
        assert!(matches!(queue.place(&key("web")), Some(Place::Backoff { .. })), "retried once its backoff is over");
        assert_eq!(queue.pop(start + Duration::from_secs(1)), Some(key("web")));
    }

    #[test]
    fn only_pods_requiring_pod_affinity_wake_when_a_pod_is_assigned() {
        let mut queue = SchedulingQueue::new();
        let start = Instant::now();
        let mut follower = pod("follower");
        follower.spec.get_or_insert_with(Default::default).affinity = Some(Affinity {
            pod_affinity: Some(PodAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                    label_selector: Some(LabelSelector::default()),
                    topology_key: "kubernetes.io/hostname".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(waits_for_pod_affinity(&follower));
        queue.upsert(follower, start);
        queue.upsert(pod("big"), start);
        fail(&mut queue, "follower", start);
        fail(&mut queue, "big", start);

        queue.move_pod_affinity_waiters(start + Duration::from_secs(2));
        assert_eq!(queue.place(&key("follower")), Some(Place::Active));
        assert!(matches!(queue.place(&key("big")), Some(Place::Unschedulable { .. })));
        queue.move_all_unschedulable(start + Duration::from_secs(2));
        assert_eq!(pop_all(&mut queue, start + Duration::from_secs(2)), ["follower", "big"]);
    }

    #[test]
    fn a_failed_binding_is_retried_after_backoff_and_a_refused_one_waits_for_the_watch() {
        let mut queue = SchedulingQueue::new();
        let start = Instant::now();
        queue.upsert(pod("a"), start);
        queue.upsert(pod("b"), start);
        assert_eq!(pop_all(&mut queue, start), ["a", "b"]);

        assert!(queue.bind_failed(&key("a"), Some("uid-a"), false, start));
        assert!(matches!(queue.place(&key("a")), Some(Place::Backoff { .. })));
        assert_eq!(queue.pop(start + Duration::from_secs(1)), Some(key("a")));

        assert!(queue.bind_failed(&key("b"), Some("uid-b"), true, start));
        assert_eq!(queue.place(&key("b")), Some(Place::Settled));
        queue.upsert(pod("b"), start + Duration::from_secs(20));
        assert_eq!(queue.place(&key("b")), Some(Place::Settled), "a lagging unbound copy does not requeue it");
        queue.remove(&key("b"));
        assert_eq!(queue.place(&key("b")), None);

        queue.bind_succeeded(&key("a"), Some("uid-a"));
        assert_eq!(queue.place(&key("a")), Some(Place::Settled));
        queue.remove(&key("a"));
        assert!(queue.is_empty());
    }

    #[test]
    fn a_pod_recreated_under_the_same_name_is_a_new_pod() {
        let mut queue = SchedulingQueue::new();
        let start = Instant::now();
        queue.upsert(pod("web"), start);
        assert_eq!(queue.pop(start), Some(key("web")));
        let mut recreated = pod("web");
        recreated.metadata.uid = Some("uid-new".into());
        queue.upsert(recreated, start);
        assert_eq!(queue.place(&key("web")), Some(Place::Active));

        assert!(queue.bind_failed(&key("web"), Some("uid-web"), false, start), "the old assumption goes");
        queue.bind_succeeded(&key("web"), Some("uid-web"));
        assert_eq!(queue.place(&key("web")), Some(Place::Active), "the old pod's answers do not touch the new one");
        assert_eq!(queue.pop(start), Some(key("web")));
        assert!(!queue.bind_failed(&key("web"), Some("uid-web"), false, start), "the new pod's assumption stays");
    }

    #[test]
    fn the_condition_is_written_once_per_message_and_keeps_its_transition_time() {
        let mut queue = SchedulingQueue::new();
        let start = Instant::now();
        let t0 = jiff::Timestamp::from_second(1_700_000_000).expect("time");
        let t1 = jiff::Timestamp::from_second(1_700_000_060).expect("time");
        queue.upsert(pod("big"), start);
        fail(&mut queue, "big", start);

        let first = queue.condition_to_report(&key("big"), "0/3 nodes are available: 3 Insufficient cpu.", t0).expect("first");
        assert_eq!((first.type_.as_str(), first.status.as_str()), ("PodScheduled", "False"));
        assert_eq!(first.reason.as_deref(), Some("Unschedulable"));
        assert_eq!(first.last_transition_time, Some(Time(t0)));
        assert_eq!(first.observed_generation, Some(1));
        assert_eq!(queue.condition_to_report(&key("big"), "0/3 nodes are available: 3 Insufficient cpu.", t1), None);

        let changed = queue.condition_to_report(&key("big"), "0/4 nodes are available: 4 Insufficient cpu.", t1).expect("new message");
        assert_eq!(changed.last_transition_time, Some(Time(t0)), "still False since t0");

        queue.report_failed(&key("big"));
        let mut observed = pod("big");
        observed.status = Some(PodStatus { conditions: Some(vec![changed.clone()]), ..Default::default() });
        queue.upsert(observed, start);
        assert_eq!(queue.condition_to_report(&key("big"), "0/4 nodes are available: 4 Insufficient cpu.", t1), None, "the watch shows it");
    }

    #[test]
    fn a_condition_that_was_true_gets_a_new_transition_time() {
        let mut queue = SchedulingQueue::new();
        let t0 = jiff::Timestamp::from_second(1_700_000_000).expect("time");
        let t1 = jiff::Timestamp::from_second(1_700_000_060).expect("time");
        let mut scheduled_before = pod("web");
        scheduled_before.status = Some(PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "True".into(),
                last_transition_time: Some(Time(t0)),
                ..Default::default()
            }]),
            ..Default::default()
        });
        queue.upsert(scheduled_before, Instant::now());
        let condition = queue.condition_to_report(&key("web"), "0/1 nodes are available: 1 Too many pods.", t1).expect("changed");
        assert_eq!(condition.last_transition_time, Some(Time(t1)));
    }

    #[test]
    fn only_unassigned_pods_of_this_scheduler_that_can_still_run_want_scheduling() {
        assert!(wants_scheduling(&pod("web")));
        let edit = |change: fn(&mut Pod)| {
            let mut pod = pod("web");
            change(&mut pod);
            wants_scheduling(&pod)
        };
        assert!(edit(|pod| pod.spec.as_mut().expect("spec").scheduler_name = Some("default-scheduler".into())));
        assert!(edit(|pod| pod.spec.as_mut().expect("spec").node_name = Some(String::new())));
        assert!(!edit(|pod| pod.spec.as_mut().expect("spec").node_name = Some("node-1".into())));
        assert!(!edit(|pod| pod.spec.as_mut().expect("spec").scheduler_name = Some("my-scheduler".into())));
        assert!(!edit(|pod| pod.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH))));
        assert!(!edit(|pod| pod.status = Some(PodStatus { phase: Some("Failed".into()), ..Default::default() })));
        assert!(!edit(|pod| pod.spec.as_mut().expect("spec").scheduling_gates = Some(vec![PodSchedulingGate { name: "wait".into() }])));
        assert!(edit(|pod| pod.spec.as_mut().expect("spec").scheduling_gates = Some(vec![])));
        assert!(!edit(|pod| pod.spec = None));
    }

    #[test]
    fn removed_pods_do_not_pile_up_in_the_heaps() {
        let mut queue = SchedulingQueue::new();
        let now = Instant::now();
        for round in 0..5_000 {
            let name = format!("p{round}");
            queue.upsert(pod(&name), now);
            queue.remove(&key(&name));
            queue.flush(now);
        }
        assert!(queue.is_empty() && !queue.has_active());
        assert!(queue.active.len() <= STALE_HEAP_ITEMS_MAX + 1, "{} stale items kept", queue.active.len());
        assert_eq!(queue.pop(now), None);
    }
}
