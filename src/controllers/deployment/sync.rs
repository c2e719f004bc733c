//! One sync of one Deployment as a value: the working copies of its ReplicaSets and of its status, and the
//! actions decided so far. It holds the steps every strategy shares, as upstream `sync.go` and the controller's
//! claim of ReplicaSets do: adopting and releasing ReplicaSets, finding or creating the new ReplicaSet and
//! keeping revisions in order, scaling one ReplicaSet with its event, and deleting old ReplicaSets past the
//! revision history limit. Upstream writes to the API at each step; here each write becomes an [`Action`] and
//! later steps see its effect on the working copies, so a plan holds at most one update per ReplicaSet.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::status::{self, FOUND_NEW_REPLICA_SET_REASON, NEW_REPLICA_SET_REASON, PROGRESSING};
use super::{util, Action, Plan, EVENT_NORMAL, SCALING_REPLICA_SET_REASON};
use crate::controllers::podutil;

/// A hash collision stops the sync; the bumped collisionCount gives the next sync another name.
const COLLISION_RETRY_AFTER: Duration = Duration::from_secs(1);

pub(super) struct Sync<'a> {
    original: &'a Deployment,
    /// The Deployment as upstream mutates its copy during a sync: status conditions and the revision annotation.
    pub deployment: Deployment,
    pub spec: DeploymentSpec,
    namespace_replica_sets: &'a [ReplicaSet],
    pub pods: &'a [Pod],
    /// The ReplicaSets this Deployment controls after adoption and release, as the plan leaves them.
    pub owned: Vec<ReplicaSet>,
    pub actions: Vec<Action>,
    /// ReplicaSets whose spec this plan changes: the API will bump their generation, so they are not
    /// deletable yet.
    changed: BTreeSet<String>,
    pub now: jiff::Timestamp,
    pub requeue_after: Option<Duration>,
    /// The new ReplicaSet's name is taken by another template; nothing more happens this sync.
    pub collided: bool,
}

impl<'a> Sync<'a> {
    pub fn new(deployment: &'a Deployment, replica_sets: &'a [ReplicaSet], pods: &'a [Pod], now: jiff::Timestamp) -> Self {
        Sync {
            original: deployment,
            deployment: deployment.clone(),
            spec: deployment.spec.clone(),
            namespace_replica_sets: replica_sets,
            pods,
            owned: Vec::new(),
            actions: Vec::new(),
            changed: BTreeSet::new(),
            now,
            requeue_after: None,
            collided: false,
        }
    }

    pub fn name(&self) -> &str {
        self.deployment.metadata.name.as_deref().unwrap_or_default()
    }

    fn uid(&self) -> &str {
        self.deployment.metadata.uid.as_deref().unwrap_or_default()
    }

    pub fn generation(&self) -> i64 {
        self.deployment.metadata.generation.unwrap_or(0)
    }

    pub fn status(&self) -> DeploymentStatus {
        self.deployment.status.clone().unwrap_or_default()
    }

    pub fn status_mut(&mut self) -> &mut DeploymentStatus {
        self.deployment.status.get_or_insert_with(Default::default)
    }

    pub fn event(&mut self, type_: &'static str, reason: &'static str, message: String) {
        self.actions.push(Action::Event { type_, reason, message });
    }

    /// Takes ownership as upstream's ReplicaSet claim does: keeps the ReplicaSets this Deployment controls whose
    /// labels still match, releases the ones that no longer match, and adopts matching orphans. A Deployment
    /// being deleted neither adopts nor releases, and ReplicaSets being deleted are not adopted.
    pub fn claim_replica_sets(&mut self) {
        let namespace = self.deployment.metadata.namespace.clone();
        let deleting = self.deployment.metadata.deletion_timestamp.is_some();
        for rs in self.namespace_replica_sets {
            if namespace.is_some() && rs.metadata.namespace != namespace {
                continue;
            }
            let matches = util::selector_matches(&self.spec.selector, rs.metadata.labels.as_ref());
            let name = rs.metadata.name.clone().unwrap_or_default();
            let uid = rs.metadata.uid.clone().unwrap_or_default();
            match podutil::controller_of(&rs.metadata) {
                Some(owner) if owner.uid != self.uid() => {}
                Some(_) if matches => self.owned.push(rs.clone()),
                Some(_) if deleting => {}
                Some(_) => self.actions.push(Action::ReleaseReplicaSet { name, uid, owner_uid: self.uid().to_string() }),
                None if !matches || deleting || rs.metadata.deletion_timestamp.is_some() => {}
                None => {
                    let owner = podutil::controller_ref("apps/v1", "Deployment", &self.deployment.metadata);
                    let mut adopted = rs.clone();
                    adopted.metadata.owner_references.get_or_insert_with(Vec::new).push(owner.clone());
                    self.owned.push(adopted);
                    self.actions.push(Action::AdoptReplicaSet { name, uid, owner });
                }
            }
        }
    }

    /// Indices of the new ReplicaSet (found, or created when `create`) and of all old ones, with the new one's
    /// annotations and the Deployment's revision brought up to date (upstream `getAllReplicaSetsAndSyncRevision`).
    /// On a hash collision the new one is `None` and [`Sync::collided`] is set.
    pub fn all_replica_sets(&mut self, create: bool) -> (Option<usize>, Vec<usize>) {
        let existing = util::find_new_replica_set(&self.spec.template, &self.owned);
        let old: Vec<usize> = (0..self.owned.len()).filter(|index| Some(*index) != existing).collect();
        let new = self.new_replica_set(existing, &old, create);
        (new, old)
    }

    /// Upstream `getNewReplicaSet`. An existing new ReplicaSet gets the Deployment's annotations, a revision above
    /// every old one (a rollback reuses an old ReplicaSet under a new number) and the Deployment's
    /// minReadySeconds; once it needs none of that, the Deployment takes its revision. Otherwise, when `create`,
    /// a ReplicaSet named after the template hash is created, already sized as far as the strategy allows.
    fn new_replica_set(&mut self, existing: Option<usize>, old: &[usize], create: bool) -> Option<usize> {
        let new_revision = util::max_revision(old.iter().map(|index| &self.owned[*index])) + 1;
        let min_ready_seconds = self.spec.min_ready_seconds;
        if let Some(index) = existing {
            let mut rs = self.owned[index].clone();
            let annotations_changed = util::set_new_replica_set_annotations(
                self.deployment.metadata.annotations.as_ref(),
                &self.spec,
                &mut rs,
                new_revision,
                true,
            );
            let rs_spec = &mut rs.spec;
            let min_ready_changed = rs_spec.min_ready_seconds.unwrap_or(0) != min_ready_seconds.unwrap_or(0);
            if annotations_changed || min_ready_changed {
                rs_spec.min_ready_seconds = min_ready_seconds;
                self.owned[index] = rs;
                self.record_update(index, min_ready_changed);
                // Upstream returns here and syncs the Deployment's revision once the update is seen.
                return Some(index);
            }
            let revision = rs.metadata.annotations.as_ref().and_then(|annotations| annotations.get(util::REVISION_ANNOTATION)).cloned();
            let revision = revision.unwrap_or_default();
            self.set_deployment_revision(revision);
            if util::progress_deadline_seconds(&self.spec).is_some() && status::condition(&self.status(), PROGRESSING).is_none() {
                let message = format!("Found new replica set {:?}", rs.metadata.name.as_deref().unwrap_or_default());
                let found = status::new_condition(PROGRESSING, "True", FOUND_NEW_REPLICA_SET_REASON, message, self.now);
                status::set_condition(self.status_mut(), found);
            }
            return Some(index);
        }
        if !create {
            return None;
        }
        let rs = self.replica_set_to_create(new_revision, old);
        let name = rs.metadata.name.clone().unwrap_or_default();
        if let Some(taken) = self.namespace_replica_sets.iter().find(|other| other.metadata.name.as_deref() == Some(name.as_str())) {
            let ours = podutil::controller_of(&taken.metadata).is_some_and(|owner| owner.uid == self.uid());
            let same_template = taken.spec.template.as_ref().is_some_and(|template| util::equal_ignore_hash(template, &self.spec.template));
            if ours && same_template {
                // Ours already, though the claim did not keep it (its labels no longer match): upstream uses it.
                self.owned.push(taken.clone());
                return Some(self.owned.len() - 1);
            }
            let status = self.status_mut();
            status.collision_count = Some(status.collision_count.unwrap_or(0).saturating_add(1));
            self.collided = true;
            self.requeue_after = Some(COLLISION_RETRY_AFTER);
            return None;
        }
        let replicas = util::spec_replicas(&rs);
        self.actions.push(Action::CreateReplicaSet(rs.clone()));
        if replicas > 0 {
            self.event(EVENT_NORMAL, SCALING_REPLICA_SET_REASON, format!("Scaled up replica set {name} from 0 to {replicas}"));
        }
        self.owned.push(rs);
        self.set_deployment_revision(new_revision.to_string());
        if util::progress_deadline_seconds(&self.spec).is_some() {
            let created =
                status::new_condition(PROGRESSING, "True", NEW_REPLICA_SET_REASON, format!("Created new replica set {name:?}"), self.now);
            status::set_condition(self.status_mut(), created);
        }
        Some(self.owned.len() - 1)
    }

    /// The Deployment's template under `pod-template-hash`, owned by the Deployment, named
    /// `<deployment>-<hash>`, with the Deployment's annotations and the first batch of replicas.
    fn replica_set_to_create(&self, revision: i64, old: &[usize]) -> ReplicaSet {
        let collision_count = self.deployment.status.as_ref().and_then(|status| status.collision_count);
        let hash = util::pod_template_hash(&self.spec.template, collision_count);
        let mut template = self.spec.template.clone();
        let labels = template.metadata.get_or_insert_with(Default::default).labels.get_or_insert_with(Default::default);
        labels.insert(util::POD_TEMPLATE_HASH_LABEL.to_string(), hash.clone());
        let labels = labels.clone();
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("{}-{hash}", self.name())),
                namespace: self.deployment.metadata.namespace.clone(),
                labels: Some(labels),
                owner_references: Some(vec![podutil::controller_ref("apps/v1", "Deployment", &self.deployment.metadata)]),
                ..Default::default()
            },
            spec: ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: self.spec.min_ready_seconds,
                selector: util::selector_with_label(&self.spec.selector, util::POD_TEMPLATE_HASH_LABEL, &hash),
                template: Some(template),
            },
            status: None,
        };
        let all_spec_replicas = util::total_spec_replicas(old.iter().map(|index| &self.owned[*index]));
        util::set_spec_replicas(&mut rs, util::new_replica_set_target(&self.spec, all_spec_replicas, 0));
        util::set_new_replica_set_annotations(self.deployment.metadata.annotations.as_ref(), &self.spec, &mut rs, revision, false);
        rs
    }

    fn set_deployment_revision(&mut self, revision: String) {
        let annotations = self.deployment.metadata.annotations.get_or_insert_with(Default::default);
        if annotations.get(util::REVISION_ANNOTATION) != Some(&revision) {
            annotations.insert(util::REVISION_ANNOTATION.to_string(), revision);
        }
    }

    /// Puts the working copy of a ReplicaSet into the plan: into its create when this plan creates it, else
    /// into its one update.
    fn record_update(&mut self, index: usize, spec_changed: bool) {
        let rs = self.owned[index].clone();
        let name = rs.metadata.name.clone().unwrap_or_default();
        if spec_changed {
            self.changed.insert(name.clone());
        }
        for action in &mut self.actions {
            if let Action::CreateReplicaSet(planned) | Action::UpdateReplicaSet(planned) = action {
                if planned.metadata.name.as_deref() == Some(name.as_str()) {
                    *planned = rs;
                    return;
                }
            }
        }
        self.actions.push(Action::UpdateReplicaSet(rs));
    }

    /// Sets a ReplicaSet's size and its replica annotations; records the ScalingReplicaSet event when the size
    /// changed (upstream `scaleReplicaSet`). True when it was resized.
    pub fn scale_replica_set(&mut self, index: usize, new_scale: i32) -> bool {
        let desired = util::desired_replicas(&self.spec);
        let max = desired + util::max_surge(&self.spec);
        let old_scale = util::spec_replicas(&self.owned[index]);
        let size_changed = old_scale != new_scale;
        if !size_changed && !util::replicas_annotations_need_update(&self.owned[index], desired, max) {
            return false;
        }
        let rs = &mut self.owned[index];
        util::set_spec_replicas(rs, new_scale);
        util::set_replicas_annotations(rs, desired, max);
        let name = rs.metadata.name.clone().unwrap_or_default();
        self.record_update(index, size_changed);
        if size_changed {
            let direction = if old_scale < new_scale { "up" } else { "down" };
            self.event(
                EVENT_NORMAL,
                SCALING_REPLICA_SET_REASON,
                format!("Scaled {direction} replica set {name} from {old_scale} to {new_scale}"),
            );
        }
        size_changed
    }

    /// [`Sync::scale_replica_set`] only when the size differs (upstream `scaleReplicaSetAndRecordEvent`).
    pub fn scale_replica_set_if_resized(&mut self, index: usize, new_scale: i32) -> bool {
        util::spec_replicas(&self.owned[index]) != new_scale && self.scale_replica_set(index, new_scale)
    }

    /// Deletes the oldest revisions past `revisionHistoryLimit`, only those fully scaled down and settled
    /// (upstream `cleanupDeployment`).
    pub fn cleanup_old_replica_sets(&mut self, old: &[usize]) {
        let Some(limit) = util::revision_history_limit(&self.spec) else { return };
        let mut alive: Vec<usize> = old.iter().copied().filter(|index| self.owned[*index].metadata.deletion_timestamp.is_none()).collect();
        let excess = alive.len().saturating_sub(usize::try_from(limit).unwrap_or(0));
        if excess == 0 {
            return;
        }
        alive.sort_by(|a, b| util::by_revision(&self.owned[*a], &self.owned[*b]));
        for index in alive.into_iter().take(excess) {
            let rs = &self.owned[index];
            let name = rs.metadata.name.clone().unwrap_or_default();
            let observed = rs.status.as_ref().and_then(|status| status.observed_generation).unwrap_or(0);
            let settled = util::status_replicas(rs) == 0
                && util::spec_replicas(rs) == 0
                && rs.metadata.generation.unwrap_or(0) <= observed
                && !self.changed.contains(&name);
            if settled {
                let uid = rs.metadata.uid.clone().unwrap_or_default();
                self.actions.push(Action::DeleteReplicaSet { name, uid });
            }
        }
    }

    /// The plan: the actions, the Deployment's revision annotation when it moved, and the status when it differs
    /// from the one the Deployment has.
    pub fn finish(mut self) -> Plan {
        let revision_of = |deployment: &Deployment| {
            deployment.metadata.annotations.as_ref().and_then(|annotations| annotations.get(util::REVISION_ANNOTATION)).cloned()
        };
        if let Some(revision) = revision_of(&self.deployment).filter(|revision| Some(revision) != revision_of(self.original).as_ref()) {
            self.actions.push(Action::SetDeploymentRevision { revision });
        }
        let original_status = self.original.status.clone().unwrap_or_default();
        let status = self.status();
        let status = (status::comparable(&status) != status::comparable(&original_status)).then(|| with_explicit_counts(status));
        Plan { actions: self.actions, status, requeue_after: self.requeue_after }
    }
}

/// Zero counts written out, so a status replaced or merged into the API object clears the old numbers.
fn with_explicit_counts(mut status: DeploymentStatus) -> DeploymentStatus {
    for count in [
        &mut status.replicas,
        &mut status.updated_replicas,
        &mut status.ready_replicas,
        &mut status.available_replicas,
        &mut status.unavailable_replicas,
    ] {
        count.get_or_insert(0);
    }
    status.conditions.get_or_insert_with(Vec::new);
    status
}
