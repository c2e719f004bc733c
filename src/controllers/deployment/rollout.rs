//! The paths one sync can take, as upstream's `sync.go`, `rolling.go` and `recreate.go` lay them out:
//! status only (a Deployment being deleted), scaling (a paused Deployment, or `spec.replicas` changed, which
//! shares the change out proportionally across ReplicaSets mid-rollout), a rolling update (grow the new
//! ReplicaSet within maxSurge, shrink old ones without going under `replicas - maxUnavailable` available,
//! unhealthy ones first), and a recreate (scale every old ReplicaSet to zero, wait for its pods to be gone,
//! then create and scale the new one).

use k8s_openapi::api::apps::v1::ReplicaSet;

use super::status::{self, PAUSED_REASON, PROGRESSING, RESUMED_REASON, TIMED_OUT_REASON};
use super::sync::Sync;
use super::util;
use crate::controllers::podutil;

impl Sync<'_> {
    fn replica_sets_of(&self, indices: &[usize]) -> Vec<&ReplicaSet> {
        indices.iter().map(|index| &self.owned[*index]).collect()
    }

    /// Stores the status the ReplicaSets add up to, without judging progress (upstream `syncDeploymentStatus`).
    fn sync_deployment_status(&mut self, all: &[usize], new: Option<usize>) {
        let status = status::calculate_status(
            &self.deployment,
            &self.spec,
            &self.replica_sets_of(all),
            new.map(|index| &self.owned[index]),
            self.now,
        );
        self.deployment.status = Some(status);
    }

    /// Stores the status with the rollout's progress judged, and asks to look again at the progress deadline
    /// (upstream `syncRolloutStatus` and `requeueStuckDeployment`).
    fn sync_rollout_status(&mut self, all: &[usize], new: Option<usize>) {
        let status =
            status::rollout_status(&self.deployment, &self.spec, &self.replica_sets_of(all), new.map(|index| &self.owned[index]), self.now);
        self.requeue_after = status::progress_check_after(&self.spec, self.generation(), &status, self.now);
        self.deployment.status = Some(status);
    }

    /// A Deployment being deleted only reports what its ReplicaSets add up to.
    pub fn sync_status_only(&mut self) {
        let new = util::find_new_replica_set(&self.spec.template, &self.owned);
        let all: Vec<usize> = (0..self.owned.len()).collect();
        self.sync_deployment_status(&all, new);
    }

    /// Marks pausing and resuming on the Progressing condition, so time spent paused never counts against the
    /// progress deadline; a timed-out condition stays (upstream `checkPausedConditions`).
    pub fn check_paused_conditions(&mut self) {
        if util::progress_deadline_seconds(&self.spec).is_none() {
            return;
        }
        let reason = status::condition(&self.status(), PROGRESSING).and_then(|condition| condition.reason.clone());
        if reason.as_deref() == Some(TIMED_OUT_REASON) {
            return;
        }
        let paused_recorded = reason.as_deref() == Some(PAUSED_REASON);
        let paused = self.spec.paused.unwrap_or(false);
        let condition = if paused && !paused_recorded {
            status::new_condition(PROGRESSING, "Unknown", PAUSED_REASON, "Deployment is paused".into(), self.now)
        } else if !paused && paused_recorded {
            status::new_condition(PROGRESSING, "Unknown", RESUMED_REASON, "Deployment is resumed".into(), self.now)
        } else {
            return;
        };
        status::set_condition(self.status_mut(), condition);
    }

    /// `spec.replicas` differs from the size an active ReplicaSet was last sized for (upstream `isScalingEvent`).
    pub fn is_scaling_event(&mut self) -> bool {
        let (new, old) = self.all_replica_sets(false);
        let desired = util::desired_replicas(&self.spec);
        old.iter()
            .chain(new.as_ref())
            .map(|index| &self.owned[*index])
            .filter(|rs| util::is_active(rs))
            .any(|rs| util::desired_replicas_annotation(rs).is_some_and(|annotated| annotated != desired))
    }

    /// Scaling without rolling out: a paused Deployment, or one whose size changed (upstream `sync`). A paused
    /// Deployment also trims its revision history.
    pub fn sync_scaling(&mut self) {
        let (new, old) = self.all_replica_sets(false);
        self.scale(new, &old);
        if self.spec.paused.unwrap_or(false) {
            self.cleanup_old_replica_sets(&old);
        }
        let all: Vec<usize> = old.iter().copied().chain(new).collect();
        self.sync_deployment_status(&all, new);
    }

    /// Brings the ReplicaSets to the Deployment's size (upstream `scale`): a lone active (or the newest)
    /// ReplicaSet takes the whole size; a saturated new one leaves the old ones nothing; otherwise, during a
    /// rolling update, the difference to `replicas + maxSurge` is shared out in proportion to each ReplicaSet's
    /// size, larger ones first (newer first when growing, older first when shrinking), rounding leftovers onto
    /// the first.
    fn scale(&mut self, new: Option<usize>, old: &[usize]) {
        let desired = util::desired_replicas(&self.spec);
        if let Some(index) = util::find_active_or_latest(&self.owned, new, old) {
            if util::spec_replicas(&self.owned[index]) != desired {
                self.scale_replica_set_if_resized(index, desired);
            }
            return;
        }
        if new.is_some_and(|index| util::is_saturated(&self.spec, &self.owned[index])) {
            for index in old.iter().copied().filter(|index| util::is_active(&self.owned[*index])).collect::<Vec<_>>() {
                self.scale_replica_set_if_resized(index, 0);
            }
            return;
        }
        if !util::is_rolling_update(&self.spec) {
            return;
        }
        let mut active: Vec<usize> = old.iter().copied().chain(new).filter(|index| util::is_active(&self.owned[*index])).collect();
        let allowed = if desired > 0 { desired + util::max_surge(&self.spec) } else { 0 };
        let to_add = allowed - util::total_spec_replicas(self.replica_sets_of(&active));
        if to_add > 0 {
            active.sort_by(|a, b| util::by_size_newer(&self.owned[*a], &self.owned[*b]));
        } else if to_add < 0 {
            active.sort_by(|a, b| util::by_size_older(&self.owned[*a], &self.owned[*b]));
        }
        let status_replicas = self.status().replicas.unwrap_or(0);
        let mut added = 0;
        let mut sizes = Vec::with_capacity(active.len());
        for index in &active {
            let rs = &self.owned[*index];
            let share = util::proportion(rs, &self.spec, status_replicas, to_add, added);
            added += share;
            sizes.push(util::spec_replicas(rs) + share);
        }
        if let Some(first) = sizes.first_mut() {
            *first = (*first + to_add - added).max(0);
        }
        for (index, size) in active.into_iter().zip(sizes) {
            self.scale_replica_set(index, size);
        }
    }

    /// One step of a rolling update (upstream `rolloutRolling`): create or grow the new ReplicaSet; if it could
    /// not grow, shrink old ones; once the rollout is complete, trim the revision history.
    pub fn rollout_rolling(&mut self) {
        let (new, old) = self.all_replica_sets(true);
        let Some(new) = new else { return };
        let all: Vec<usize> = old.iter().copied().chain([new]).collect();
        if self.reconcile_new_replica_set(&all, new) {
            self.sync_rollout_status(&all, Some(new));
            return;
        }
        let active_old: Vec<usize> = old.iter().copied().filter(|index| util::is_active(&self.owned[*index])).collect();
        if self.reconcile_old_replica_sets(&all, &active_old, new) {
            self.sync_rollout_status(&all, Some(new));
            return;
        }
        if status::deployment_complete(&self.spec, self.generation(), &self.status()) {
            self.cleanup_old_replica_sets(&old);
        }
        self.sync_rollout_status(&all, Some(new));
    }

    /// Grows the new ReplicaSet as far as maxSurge allows, or shrinks it to `spec.replicas` if it is larger.
    fn reconcile_new_replica_set(&mut self, all: &[usize], new: usize) -> bool {
        let desired = util::desired_replicas(&self.spec);
        let current = util::spec_replicas(&self.owned[new]);
        if current == desired {
            return false;
        }
        if current > desired {
            return self.scale_replica_set_if_resized(new, desired);
        }
        let target = util::new_replica_set_target(&self.spec, util::total_spec_replicas(self.replica_sets_of(all)), current);
        self.scale_replica_set_if_resized(new, target)
    }

    /// Shrinks old ReplicaSets as far as availability allows (upstream `reconcileOldReplicaSets`): the pods that
    /// may go are all pods less the minimum available less the new ReplicaSet's pods that are not available
    /// yet; old pods that are not available go first, then available ones, oldest ReplicaSet first.
    fn reconcile_old_replica_sets(&mut self, all: &[usize], old: &[usize], new: usize) -> bool {
        if util::total_spec_replicas(self.replica_sets_of(old)) == 0 {
            return false;
        }
        let min_available = util::desired_replicas(&self.spec) - util::max_unavailable(&self.spec);
        let new_rs = &self.owned[new];
        let new_unavailable = util::spec_replicas(new_rs) - util::available_replicas(new_rs);
        let max_scaled_down = util::total_spec_replicas(self.replica_sets_of(all)) - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let Some(cleaned_up) = self.cleanup_unhealthy_replicas(old, max_scaled_down) else { return false };
        let all: Vec<usize> = old.iter().copied().chain([new]).collect();
        let scaled_down = self.scale_down_old_replica_sets_for_rolling_update(&all, old);
        cleaned_up + scaled_down > 0
    }

    /// Removes old pods that are not available, oldest ReplicaSet first, at most `max_cleanup` (upstream
    /// `cleanupUnhealthyReplicas`). `None` where upstream gives up: a ReplicaSet reporting more available pods
    /// than it should have.
    fn cleanup_unhealthy_replicas(&mut self, old: &[usize], max_cleanup: i32) -> Option<i32> {
        let mut oldest_first = old.to_vec();
        oldest_first.sort_by(|a, b| util::by_creation(&self.owned[*a], &self.owned[*b]));
        let mut total_scaled_down = 0;
        for index in oldest_first {
            if total_scaled_down >= max_cleanup {
                break;
            }
            let rs = &self.owned[index];
            let replicas = util::spec_replicas(rs);
            let available = util::available_replicas(rs);
            if replicas == 0 || replicas == available {
                continue;
            }
            let scaled_down = (max_cleanup - total_scaled_down).min(replicas - available);
            if scaled_down < 0 {
                return None;
            }
            self.scale_replica_set_if_resized(index, replicas - scaled_down);
            total_scaled_down += scaled_down;
        }
        Some(total_scaled_down)
    }

    /// Removes available old pods while more than the minimum are available, oldest ReplicaSet first
    /// (upstream `scaleDownOldReplicaSetsForRollingUpdate`).
    fn scale_down_old_replica_sets_for_rolling_update(&mut self, all: &[usize], old: &[usize]) -> i32 {
        let min_available = util::desired_replicas(&self.spec) - util::max_unavailable(&self.spec);
        let available: i32 = all.iter().map(|index| util::available_replicas(&self.owned[*index])).sum();
        if available <= min_available {
            return 0;
        }
        let mut oldest_first = old.to_vec();
        oldest_first.sort_by(|a, b| util::by_creation(&self.owned[*a], &self.owned[*b]));
        let to_scale_down = available - min_available;
        let mut total_scaled_down = 0;
        for index in oldest_first {
            if total_scaled_down >= to_scale_down {
                break;
            }
            let replicas = util::spec_replicas(&self.owned[index]);
            if replicas == 0 {
                continue;
            }
            let scaled_down = replicas.min(to_scale_down - total_scaled_down);
            self.scale_replica_set_if_resized(index, replicas - scaled_down);
            total_scaled_down += scaled_down;
        }
        total_scaled_down
    }

    /// One step of a recreate (upstream `rolloutRecreate`): scale old ReplicaSets to zero; while any old pod still
    /// runs, only report; then create the new ReplicaSet at full size, and trim history once complete.
    pub fn rollout_recreate(&mut self) {
        let (mut new, mut old) = self.all_replica_sets(false);
        let mut all: Vec<usize> = old.iter().copied().chain(new).collect();
        let active_old: Vec<usize> = old.iter().copied().filter(|index| util::is_active(&self.owned[*index])).collect();
        let mut scaled_down = false;
        for index in active_old {
            scaled_down |= self.scale_replica_set_if_resized(index, 0);
        }
        if scaled_down || self.old_pods_running(new, &old) {
            self.sync_rollout_status(&all, new);
            return;
        }
        if new.is_none() {
            (new, old) = self.all_replica_sets(true);
            all = old.iter().copied().chain(new).collect();
        }
        let Some(new_index) = new else { return };
        self.scale_replica_set_if_resized(new_index, util::desired_replicas(&self.spec));
        if status::deployment_complete(&self.spec, self.generation(), &self.status()) {
            self.cleanup_old_replica_sets(&old);
        }
        self.sync_rollout_status(&all, new);
    }

    /// Old ReplicaSets still count pods, or a pod of one has not finished, terminating ones included
    /// (upstream `oldPodsRunning`).
    fn old_pods_running(&self, new: Option<usize>, old: &[usize]) -> bool {
        if old.iter().map(|index| util::status_replicas(&self.owned[*index])).sum::<i32>() > 0 {
            return true;
        }
        let new_uid = new.and_then(|index| self.owned[index].metadata.uid.as_deref());
        let old_uids: Vec<&str> =
            self.owned.iter().filter_map(|rs| rs.metadata.uid.as_deref()).filter(|uid| Some(*uid) != new_uid).collect();
        self.pods.iter().any(|pod| {
            let owned_by_old = podutil::controller_of(&pod.metadata).is_some_and(|owner| old_uids.contains(&owner.uid.as_str()));
            let phase = pod.status.as_ref().and_then(|status| status.phase.as_deref());
            owned_by_old && !matches!(phase, Some("Succeeded" | "Failed"))
        })
    }
}
