//! The Deployment's status as upstream computes it (`sync.go calculateStatus`, `progress.go`,
//! and the condition helpers of `deployment_util.go`): replica totals summed from the ReplicaSets' own status,
//! the Available condition, the Progressing condition with its progress deadline, ReplicaFailure copied up
//! from the ReplicaSets, and when to look again for a deadline. `kubectl rollout status` reads exactly these.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::util;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// Progressing: a ReplicaSet of the Deployment was scaled during the rollout.
pub const REPLICA_SET_UPDATED_REASON: &str = "ReplicaSetUpdated";
/// Progressing: creating the new ReplicaSet failed (set by whoever performs the create).
pub const FAILED_REPLICA_SET_CREATE_REASON: &str = "ReplicaSetCreateError";
/// Progressing: the new ReplicaSet was created.
pub const NEW_REPLICA_SET_REASON: &str = "NewReplicaSetCreated";
/// Progressing: an existing ReplicaSet was found to be the new one.
pub const FOUND_NEW_REPLICA_SET_REASON: &str = "FoundNewReplicaSet";
/// Progressing: the new ReplicaSet is complete and available.
pub const NEW_REPLICA_SET_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
/// Progressing: no progress within progressDeadlineSeconds.
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
pub const PAUSED_REASON: &str = "DeploymentPaused";
pub const RESUMED_REASON: &str = "DeploymentResumed";
pub const MINIMUM_REPLICAS_AVAILABLE_REASON: &str = "MinimumReplicasAvailable";
pub const MINIMUM_REPLICAS_UNAVAILABLE_REASON: &str = "MinimumReplicasUnavailable";

/// The condition of that type, if the status has one.
pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.as_ref()?.iter().find(|condition| condition.type_.as_deref() == Some(type_))
}

/// A condition stamped `now`, to the second as the API stores it.
pub fn new_condition(type_: &str, status: &str, reason: &str, message: String, now: jiff::Timestamp) -> DeploymentCondition {
    let now = Time(jiff::Timestamp::from_second(now.as_second()).unwrap_or(now));
    DeploymentCondition {
        type_: Some(type_.to_string()),
        status: Some(status.to_string()),
        reason: Some(reason.to_string()),
        message: Some(message),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

/// Puts the condition in place of the one of its type (upstream `SetDeploymentCondition`): nothing changes when
/// status and reason are the same, and the transition time survives when only the reason changes.
pub fn set_condition(status: &mut DeploymentStatus, mut new: DeploymentCondition) {
    if let Some(current) = condition(status, new.type_.as_deref().unwrap_or_default()) {
        if current.status == new.status && current.reason == new.reason {
            return;
        }
        if current.status == new.status {
            new.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, new.type_.as_deref().unwrap_or_default());
    status.conditions.get_or_insert_with(Vec::new).push(new);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|condition| condition.type_.as_deref() != Some(type_));
    }
}

fn count(value: Option<i32>) -> i32 {
    value.unwrap_or(0)
}

/// All desired replicas are updated and available, no old pods remain, and this generation was observed
/// (upstream `DeploymentComplete`).
pub fn deployment_complete(spec: &DeploymentSpec, generation: i64, status: &DeploymentStatus) -> bool {
    let desired = util::desired_replicas(spec);
    count(status.updated_replicas) == desired
        && count(status.replicas) == desired
        && count(status.available_replicas) == desired
        && status.observed_generation.unwrap_or(0) >= generation
}

/// New pods appeared, became ready or available, or old pods went away since `old` (upstream
/// `DeploymentProgressing`).
pub fn deployment_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let old_pods = |status: &DeploymentStatus| count(status.replicas) - count(status.updated_replicas);
    count(new.updated_replicas) > count(old.updated_replicas)
        || old_pods(new) < old_pods(old)
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
}

/// The Progressing condition is older than the deadline, or already says so (upstream `DeploymentTimedOut`).
/// A finished rollout never times out.
pub fn deployment_timed_out(spec: &DeploymentSpec, status: &DeploymentStatus, now: jiff::Timestamp) -> bool {
    let Some(deadline_seconds) = util::progress_deadline_seconds(spec) else { return false };
    let Some(progressing) = condition(status, PROGRESSING) else { return false };
    match progressing.reason.as_deref() {
        Some(NEW_REPLICA_SET_AVAILABLE_REASON) => false,
        Some(TIMED_OUT_REASON) => true,
        _ => {
            let last_update = progressing.last_update_time.as_ref().map_or(jiff::Timestamp::MIN, |time| time.0);
            last_update.saturating_add(jiff::SignedDuration::from_secs(deadline_seconds.into())).is_ok_and(|deadline| deadline < now)
        }
    }
}

/// The status the ReplicaSets add up to (upstream `calculateStatus`): counts from their status, `updatedReplicas`
/// from the new one, and the Available condition (at least `replicas - maxUnavailable` available).
pub fn calculate_status(
    deployment: &Deployment,
    spec: &DeploymentSpec,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    now: jiff::Timestamp,
) -> DeploymentStatus {
    let current = deployment.status.clone().unwrap_or_default();
    let available: i32 = all.iter().map(|rs| util::available_replicas(rs)).sum();
    let desired_total = util::total_spec_replicas(all.iter().copied());
    let mut status = DeploymentStatus {
        observed_generation: Some(deployment.metadata.generation.unwrap_or(0)),
        replicas: Some(all.iter().map(|rs| util::status_replicas(rs)).sum()),
        updated_replicas: Some(new.map_or(0, util::status_replicas)),
        ready_replicas: Some(all.iter().map(|rs| util::ready_replicas(rs)).sum()),
        available_replicas: Some(available),
        // More available than desired happens while scaling down; that is not negative unavailability.
        unavailable_replicas: Some((desired_total - available).max(0)),
        terminating_replicas: util::terminating_replicas(all.iter().copied()),
        collision_count: current.collision_count,
        conditions: Some(current.conditions.unwrap_or_default()),
    };
    let minimum = util::desired_replicas(spec) - util::max_unavailable(spec);
    let availability = if available >= minimum {
        new_condition(AVAILABLE, "True", MINIMUM_REPLICAS_AVAILABLE_REASON, "Deployment has minimum availability.".into(), now)
    } else {
        new_condition(AVAILABLE, "False", MINIMUM_REPLICAS_UNAVAILABLE_REASON, "Deployment does not have minimum availability.".into(), now)
    };
    set_condition(&mut status, availability);
    status
}

/// The status during a rollout (upstream `syncRolloutStatus`): [`calculate_status`] plus the Progressing
/// condition — successfully progressed, progressing (refreshing `lastUpdateTime` on every sign of progress),
/// or timed out — and the ReplicaSets' ReplicaFailure condition.
pub fn rollout_status(
    deployment: &Deployment,
    spec: &DeploymentSpec,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    now: jiff::Timestamp,
) -> DeploymentStatus {
    let current = deployment.status.clone().unwrap_or_default();
    let mut status = calculate_status(deployment, spec, all, new, now);
    let has_deadline = util::progress_deadline_seconds(spec).is_some();
    if !has_deadline {
        remove_condition(&mut status, PROGRESSING);
    }
    let current_progressing = condition(&current, PROGRESSING).cloned();
    // A resync after the rollout finished: nothing to estimate.
    let already_complete = count(status.replicas) == count(status.updated_replicas)
        && current_progressing.as_ref().is_some_and(|progressing| progressing.reason.as_deref() == Some(NEW_REPLICA_SET_AVAILABLE_REASON));
    let subject = match new.and_then(|rs| rs.metadata.name.as_deref()) {
        Some(name) => format!("ReplicaSet {name:?}"),
        None => format!("Deployment {:?}", deployment.metadata.name.as_deref().unwrap_or_default()),
    };
    let generation = deployment.metadata.generation.unwrap_or(0);
    if has_deadline && !already_complete {
        if deployment_complete(spec, generation, &status) {
            let message = format!("{subject} has successfully progressed.");
            set_condition(&mut status, new_condition(PROGRESSING, "True", NEW_REPLICA_SET_AVAILABLE_REASON, message, now));
        } else if deployment_progressing(&current, &status) {
            let message = format!("{subject} is progressing.");
            let mut progressing = new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED_REASON, message, now);
            // Progress refreshes lastUpdateTime even when the reason stays, which set_condition would not do.
            if let Some(current) = &current_progressing {
                if current.status.as_deref() == Some("True") {
                    progressing.last_transition_time = current.last_transition_time.clone();
                }
                remove_condition(&mut status, PROGRESSING);
            }
            set_condition(&mut status, progressing);
        } else if deployment_timed_out(spec, &status, now) {
            let message = format!("{subject} has timed out progressing.");
            set_condition(&mut status, new_condition(PROGRESSING, "False", TIMED_OUT_REASON, message, now));
        }
    }
    match replica_failure(all, new) {
        Some(failure) => set_condition(&mut status, failure),
        None => remove_condition(&mut status, REPLICA_FAILURE),
    }
    status
}

/// The first ReplicaFailure condition of the new ReplicaSet, else of any ReplicaSet, as a Deployment condition.
fn replica_failure(all: &[&ReplicaSet], new: Option<&ReplicaSet>) -> Option<DeploymentCondition> {
    let failure_of = |rs: &ReplicaSet| {
        rs.status.as_ref()?.conditions.as_ref()?.iter().find(|condition| condition.type_.as_deref() == Some(REPLICA_FAILURE)).cloned()
    };
    let failure = new.and_then(failure_of).or_else(|| all.iter().find_map(|rs| failure_of(rs)))?;
    Some(DeploymentCondition {
        type_: failure.type_,
        status: failure.status,
        reason: failure.reason,
        message: failure.message,
        last_update_time: failure.last_transition_time.clone(),
        last_transition_time: failure.last_transition_time,
    })
}

/// When to look again so a stalled rollout is marked ProgressDeadlineExceeded on time (upstream
/// `requeueStuckDeployment`): the Progressing condition's lastUpdateTime plus the deadline, plus a second
/// against clock skew; at least a second from now. `None` once the rollout finished or already timed out.
pub fn progress_check_after(spec: &DeploymentSpec, generation: i64, status: &DeploymentStatus, now: jiff::Timestamp) -> Option<Duration> {
    let deadline_seconds = util::progress_deadline_seconds(spec)?;
    let progressing = condition(status, PROGRESSING)?;
    if deployment_complete(spec, generation, status) || progressing.reason.as_deref() == Some(TIMED_OUT_REASON) {
        return None;
    }
    let last_update = progressing.last_update_time.as_ref()?.0;
    let deadline = last_update.checked_add(jiff::SignedDuration::from_secs(deadline_seconds.into())).ok()?;
    let remaining = Duration::try_from(deadline.duration_since(now)).unwrap_or(Duration::ZERO);
    if remaining < Duration::from_secs(1) {
        return Some(Duration::from_secs(1));
    }
    Some(remaining + Duration::from_secs(1))
}

/// The status with unset counts read as zero and no conditions as an empty list, so a status from the API
/// (which omits zeros, as Go does) compares equal to a computed one.
pub fn comparable(status: &DeploymentStatus) -> DeploymentStatus {
    let zero_as_unset = |value: Option<i32>| value.filter(|value| *value != 0);
    DeploymentStatus {
        observed_generation: status.observed_generation.filter(|generation| *generation != 0),
        replicas: zero_as_unset(status.replicas),
        updated_replicas: zero_as_unset(status.updated_replicas),
        ready_replicas: zero_as_unset(status.ready_replicas),
        available_replicas: zero_as_unset(status.available_replicas),
        unavailable_replicas: zero_as_unset(status.unavailable_replicas),
        terminating_replicas: status.terminating_replicas,
        collision_count: status.collision_count,
        conditions: status.conditions.clone().filter(|conditions| !conditions.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{ReplicaSetCondition, ReplicaSetSpec, ReplicaSetStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn at(second: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000 + second).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    fn spec(replicas: i32) -> DeploymentSpec {
        DeploymentSpec { replicas: Some(replicas), progress_deadline_seconds: Some(600), ..Default::default() }
    }

    fn deployment(status: DeploymentStatus) -> Deployment {
        Deployment {
            metadata: ObjectMeta { name: Some("web".into()), generation: Some(2), ..Default::default() },
            spec: spec(3),
            status: Some(status),
        }
    }

    fn replica_set(name: &str, replicas: i32, available: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            spec: ReplicaSetSpec { replicas: Some(replicas), ..Default::default() },
            status: Some(ReplicaSetStatus {
                replicas,
                ready_replicas: Some(available),
                available_replicas: Some(available),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn finished_rollout_reads_complete_and_available() {
        let new = replica_set("web-5d4f", 3, 3);
        let status = rollout_status(&deployment(DeploymentStatus::default()), &spec(3), &[&new], Some(&new), at(0));
        assert_eq!((status.replicas, status.updated_replicas, status.available_replicas), (Some(3), Some(3), Some(3)));
        assert_eq!(status.observed_generation, Some(2));
        let progressing = condition(&status, PROGRESSING).cloned().unwrap_or_default();
        assert_eq!(progressing.reason.as_deref(), Some(NEW_REPLICA_SET_AVAILABLE_REASON));
        assert_eq!(progressing.message.as_deref(), Some("ReplicaSet \"web-5d4f\" has successfully progressed."));
        let available = condition(&status, AVAILABLE).cloned().unwrap_or_default();
        assert_eq!(available.message.as_deref(), Some("Deployment has minimum availability."));
        assert_eq!(progress_check_after(&spec(3), 2, &status, at(0)), None);
    }

    #[test]
    fn progress_refreshes_update_time_but_keeps_transition_time() {
        let before = new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED_REASON, "ReplicaSet \"web-1\" is progressing.".into(), at(0));
        let current =
            DeploymentStatus { replicas: Some(3), updated_replicas: Some(1), conditions: Some(vec![before]), ..Default::default() };
        let old = replica_set("web-0", 2, 2);
        let new = replica_set("web-1", 2, 0);
        let status = rollout_status(&deployment(current), &spec(3), &[&old, &new], Some(&new), at(30));
        let progressing = condition(&status, PROGRESSING).cloned().unwrap_or_default();
        assert_eq!(progressing.last_update_time.map(|time| time.0), Some(at(30)));
        assert_eq!(progressing.last_transition_time.map(|time| time.0), Some(at(0)));
    }

    #[test]
    fn stalled_rollout_times_out_after_the_deadline() {
        let before = new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED_REASON, "ReplicaSet \"web-1\" is progressing.".into(), at(0));
        let current = DeploymentStatus {
            replicas: Some(3),
            updated_replicas: Some(1),
            ready_replicas: Some(2),
            available_replicas: Some(2),
            conditions: Some(vec![before]),
            ..Default::default()
        };
        let old = replica_set("web-0", 2, 2);
        let new = replica_set("web-1", 1, 0);
        let early = rollout_status(&deployment(current.clone()), &spec(3), &[&old, &new], Some(&new), at(300));
        assert_eq!(condition(&early, PROGRESSING).and_then(|c| c.reason.as_deref()), Some(REPLICA_SET_UPDATED_REASON));
        assert_eq!(progress_check_after(&spec(3), 2, &early, at(300)), Some(Duration::from_secs(301)));
        let late = rollout_status(&deployment(current), &spec(3), &[&old, &new], Some(&new), at(601));
        let progressing = condition(&late, PROGRESSING).cloned().unwrap_or_default();
        assert_eq!((progressing.status.as_deref(), progressing.reason.as_deref()), (Some("False"), Some(TIMED_OUT_REASON)));
        assert_eq!(progressing.message.as_deref(), Some("ReplicaSet \"web-1\" has timed out progressing."));
        assert_eq!(progress_check_after(&spec(3), 2, &late, at(601)), None);
    }

    #[test]
    fn too_few_available_reads_minimum_unavailable() {
        let new = replica_set("web-1", 3, 1);
        let status = calculate_status(&deployment(DeploymentStatus::default()), &spec(3), &[&new], Some(&new), at(0));
        let available = condition(&status, AVAILABLE).cloned().unwrap_or_default();
        assert_eq!(available.reason.as_deref(), Some(MINIMUM_REPLICAS_UNAVAILABLE_REASON));
        assert_eq!(available.message.as_deref(), Some("Deployment does not have minimum availability."));
        assert_eq!(status.unavailable_replicas, Some(2));
    }

    #[test]
    fn replica_failure_is_copied_from_the_new_replica_set() {
        let mut new = replica_set("web-1", 3, 0);
        if let Some(status) = new.status.as_mut() {
            status.conditions = Some(vec![ReplicaSetCondition {
                type_: Some(REPLICA_FAILURE.into()),
                status: Some("True".into()),
                reason: Some("FailedCreate".into()),
                message: Some("pods \"web-1-x\" is forbidden: exceeded quota".into()),
                last_transition_time: Some(Time(at(5))),
            }]);
        }
        let status = rollout_status(&deployment(DeploymentStatus::default()), &spec(3), &[&new], Some(&new), at(10));
        assert_eq!(condition(&status, REPLICA_FAILURE).and_then(|c| c.reason.as_deref()), Some("FailedCreate"));
    }

    #[test]
    fn set_condition_keeps_transition_time_when_only_reason_changes() {
        let mut status = DeploymentStatus::default();
        set_condition(&mut status, new_condition(PROGRESSING, "Unknown", PAUSED_REASON, "Deployment is paused".into(), at(0)));
        set_condition(&mut status, new_condition(PROGRESSING, "Unknown", RESUMED_REASON, "Deployment is resumed".into(), at(9)));
        let progressing = condition(&status, PROGRESSING).cloned().unwrap_or_default();
        assert_eq!(progressing.reason.as_deref(), Some(RESUMED_REASON));
        assert_eq!(progressing.last_transition_time.map(|time| time.0), Some(at(0)));
        assert_eq!(status.conditions.map(|conditions| conditions.len()), Some(1));
    }
}
