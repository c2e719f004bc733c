//! Scenarios a user would see, played against a small in-memory cluster: each plan is applied as the glue
//! would apply it, and the ReplicaSet controller's part (status counts, pods becoming available) is simulated
//! between syncs.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::status::condition;
use super::*;

fn start() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_750_000_000).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
}

fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta { labels: Some(labels(&[("app", "web")])), ..Default::default() }),
        spec: Some(PodSpec {
            containers: vec![Container { name: "web".into(), image: Some(image.into()), ..Default::default() }],
            ..Default::default()
        }),
    }
}

fn rolling(surge: IntOrString, unavailable: IntOrString) -> DeploymentStrategy {
    DeploymentStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateDeployment { max_surge: Some(surge), max_unavailable: Some(unavailable) }),
    }
}

fn recreate() -> DeploymentStrategy {
    DeploymentStrategy { type_: Some("Recreate".into()), rolling_update: None }
}

fn deployment(replicas: i32, image: &str, strategy: DeploymentStrategy) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("deployment-uid".into()),
            generation: Some(1),
            annotations: Some(labels(&[
                ("kubernetes.io/change-cause", "kubectl create deployment web"),
                ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
            ])),
            ..Default::default()
        },
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector { match_labels: Some(labels(&[("app", "web")])), match_expressions: None },
            template: template(image),
            strategy: Some(strategy),
            revision_history_limit: Some(10),
            progress_deadline_seconds: Some(600),
            ..Default::default()
        },
        status: None,
    }
}

fn percent(text: &str) -> IntOrString {
    IntOrString::String(text.into())
}

fn name_of(rs: &ReplicaSet) -> &str {
    rs.metadata.name.as_deref().unwrap_or_default()
}

fn replicas_of(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(0)
}

fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The API server, the ReplicaSet controller and the pods, as far as these scenarios need them.
struct Cluster {
    deployment: Deployment,
    replica_sets: Vec<ReplicaSet>,
    pods: Vec<Pod>,
    now: jiff::Timestamp,
    created: i64,
    events: Vec<String>,
}

impl Cluster {
    fn new(deployment: Deployment) -> Self {
        Cluster { deployment, replica_sets: Vec::new(), pods: Vec::new(), now: start(), created: 0, events: Vec::new() }
    }

    fn spec_mut(&mut self) -> &mut DeploymentSpec {
        self.deployment.metadata.generation = Some(self.deployment.metadata.generation.unwrap_or(0) + 1);
        &mut self.deployment.spec
    }

    fn status(&self) -> k8s_openapi::api::apps::v1::DeploymentStatus {
        self.deployment.status.clone().unwrap_or_default()
    }

    fn replica_set(&self, name: &str) -> &ReplicaSet {
        self.replica_sets.iter().find(|rs| name_of(rs) == name).unwrap_or_else(|| panic!("no replica set {name}"))
    }

    fn total_replicas(&self) -> i32 {
        self.replica_sets.iter().map(replicas_of).sum()
    }

    fn available(&self) -> i32 {
        self.replica_sets.iter().map(|rs| rs.status.as_ref().and_then(|status| status.available_replicas).unwrap_or(0)).sum()
    }

    /// One sync, applied.
    fn sync(&mut self) -> Plan {
        self.now += jiff::SignedDuration::from_secs(1);
        let plan = reconcile(&self.deployment, &self.replica_sets, &self.pods, self.now);
        self.apply(&plan);
        plan
    }

    fn apply(&mut self, plan: &Plan) {
        for action in &plan.actions {
            match action {
                Action::CreateReplicaSet(rs) => {
                    assert!(self.replica_sets.iter().all(|other| name_of(other) != name_of(rs)), "name taken");
                    self.created += 1;
                    let mut rs = rs.clone();
                    rs.metadata.uid = Some(format!("rs-uid-{}", self.created));
                    rs.metadata.generation = Some(1);
                    rs.metadata.creation_timestamp = Some(Time(start() + jiff::SignedDuration::from_secs(self.created)));
                    rs.status = Some(ReplicaSetStatus::default());
                    self.replica_sets.push(rs);
                }
                Action::UpdateReplicaSet(rs) => {
                    let stored =
                        self.replica_sets.iter_mut().find(|other| name_of(other) == name_of(rs)).expect("updated replica set exists");
                    if stored.spec != rs.spec {
                        stored.metadata.generation = Some(stored.metadata.generation.unwrap_or(0) + 1);
                    }
                    stored.spec = rs.spec.clone();
                    stored.metadata.annotations = rs.metadata.annotations.clone();
                    stored.metadata.owner_references = rs.metadata.owner_references.clone();
                }
                Action::DeleteReplicaSet { name, .. } => self.replica_sets.retain(|rs| name_of(rs) != name),
                Action::AdoptReplicaSet { name, owner, .. } => {
                    let stored = self.replica_sets.iter_mut().find(|rs| name_of(rs) == name).expect("adopted replica set exists");
                    stored.metadata.owner_references.get_or_insert_with(Vec::new).push(owner.clone());
                }
                Action::ReleaseReplicaSet { name, owner_uid, .. } => {
                    let stored = self.replica_sets.iter_mut().find(|rs| name_of(rs) == name).expect("released replica set exists");
                    stored.metadata.owner_references.get_or_insert_with(Vec::new).retain(|owner| &owner.uid != owner_uid);
                }
                Action::SetDeploymentRevision { revision } => {
                    self.deployment
                        .metadata
                        .annotations
                        .get_or_insert_with(BTreeMap::new)
                        .insert(REVISION_ANNOTATION.into(), revision.clone());
                }
                Action::Event { reason, message, .. } => self.events.push(format!("{reason}: {message}")),
            }
        }
        if let Some(status) = &plan.status {
            self.deployment.status = Some(status.clone());
        }
    }

    /// The ReplicaSet controller catches up: pods are created or removed to match `spec.replicas`; removed pods
    /// take their availability with them, new ones are not available yet.
    fn observe(&mut self) {
        for rs in &mut self.replica_sets {
            let replicas = replicas_of(rs);
            let generation = rs.metadata.generation;
            let status = rs.status.get_or_insert_with(Default::default);
            let available = status.available_replicas.unwrap_or(0).min(replicas);
            status.replicas = replicas;
            status.available_replicas = Some(available);
            status.ready_replicas = Some(available);
            status.observed_generation = generation;
            status.terminating_replicas = Some(0);
        }
    }

    /// Every pod becomes ready and available.
    fn become_available(&mut self) {
        self.observe();
        for rs in &mut self.replica_sets {
            let replicas = replicas_of(rs);
            let status = rs.status.get_or_insert_with(Default::default);
            status.available_replicas = Some(replicas);
            status.ready_replicas = Some(replicas);
        }
    }

    /// Syncs and lets the world catch up until the status reads as `kubectl rollout status` success.
    fn roll_out(&mut self) {
        for _ in 0..100 {
            self.sync();
            self.become_available();
            if self.rollout_finished() {
                self.sync();
                return;
            }
        }
        panic!("rollout did not finish: {:?}", self.status());
    }

    /// `kubectl rollout status`'s success test.
    fn rollout_finished(&self) -> bool {
        let status = self.status();
        let desired = self.deployment.spec.replicas.unwrap_or(1);
        let updated = status.updated_replicas.unwrap_or(0);
        status.observed_generation >= self.deployment.metadata.generation
            && updated >= desired
            && status.replicas.unwrap_or(0) <= updated
            && status.available_replicas.unwrap_or(0) >= updated
    }

    fn new_replica_set_name(&self) -> String {
        let collision_count = self.deployment.status.as_ref().and_then(|status| status.collision_count);
        let spec = &self.deployment.spec;
        format!("web-{}", pod_template_hash(&spec.template, collision_count))
    }
}

#[test]
fn fresh_deployment_creates_one_replica_set() {
    let mut cluster = Cluster::new(deployment(3, "nginx:1.0", rolling(percent("25%"), percent("25%"))));
    let plan = cluster.sync();
    let name = cluster.new_replica_set_name();
    let [Action::CreateReplicaSet(rs), Action::Event { type_: "Normal", reason: "ScalingReplicaSet", message }, Action::SetDeploymentRevision { revision }] =
        plan.actions.as_slice()
    else {
        panic!("unexpected plan {:#?}", plan.actions)
    };
    assert_eq!(message, &format!("Scaled up replica set {name} from 0 to 3"));
    assert_eq!(revision, "1");
    assert_eq!(name_of(rs), name);
    assert_eq!(rs.metadata.namespace.as_deref(), Some("default"));
    let hash = name.trim_start_matches("web-");
    let hash_labels = labels(&[("app", "web"), (POD_TEMPLATE_HASH_LABEL, hash)]);
    assert_eq!(rs.metadata.labels.as_ref(), Some(&hash_labels));
    let rs_spec = rs.spec.clone();
    assert_eq!(rs_spec.replicas, Some(3));
    assert_eq!(rs_spec.selector.match_labels.as_ref(), Some(&hash_labels));
    let mut expected_template = template("nginx:1.0");
    expected_template.metadata.get_or_insert_with(Default::default).labels = Some(hash_labels.clone());
    assert_eq!(rs_spec.template, Some(expected_template));
    assert_eq!(
        rs.metadata.owner_references,
        Some(vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
            uid: "deployment-uid".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }])
    );
    assert_eq!(annotation(rs, REVISION_ANNOTATION), Some("1"));
    assert_eq!(annotation(rs, DESIRED_REPLICAS_ANNOTATION), Some("3"));
    assert_eq!(annotation(rs, MAX_REPLICAS_ANNOTATION), Some("4"));
    assert_eq!(annotation(rs, "kubernetes.io/change-cause"), Some("kubectl create deployment web"));
    assert_eq!(annotation(rs, "kubectl.kubernetes.io/last-applied-configuration"), None);
    let status = plan.status.clone().unwrap_or_default();
    assert_eq!(status.observed_generation, Some(1));
    let progressing = condition(&status, PROGRESSING).cloned().unwrap_or_default();
    assert_eq!(progressing.reason.as_deref(), Some(NEW_REPLICA_SET_REASON));
    assert_eq!(progressing.message, Some(format!("Created new replica set \"{name}\"")));
    assert_eq!(plan.requeue_after, Some(std::time::Duration::from_secs(601)));
}

#[test]
fn finished_rollout_reads_as_finished_and_resyncs_quietly() {
    let mut cluster = Cluster::new(deployment(3, "nginx:1.0", rolling(percent("25%"), percent("25%"))));
    cluster.roll_out();
    let name = cluster.new_replica_set_name();
    let status = cluster.status();
    assert_eq!(
        (status.replicas, status.updated_replicas, status.ready_replicas, status.available_replicas, status.unavailable_replicas),
        (Some(3), Some(3), Some(3), Some(3), Some(0))
    );
    assert_eq!(status.terminating_replicas, Some(0));
    let available = condition(&status, AVAILABLE).cloned().unwrap_or_default();
    assert_eq!((available.status.as_deref(), available.reason.as_deref()), (Some("True"), Some(MINIMUM_REPLICAS_AVAILABLE_REASON)));
    let progressing = condition(&status, PROGRESSING).cloned().unwrap_or_default();
    assert_eq!(progressing.reason.as_deref(), Some(NEW_REPLICA_SET_AVAILABLE_REASON));
    assert_eq!(progressing.message, Some(format!("ReplicaSet \"{name}\" has successfully progressed.")));
    assert_eq!(cluster.sync(), Plan::default(), "nothing left to do");
}

#[test]
fn rolling_update_steps_within_surge_and_unavailability() {
    let mut cluster = Cluster::new(deployment(4, "nginx:1.0", rolling(IntOrString::Int(1), IntOrString::Int(1))));
    cluster.roll_out();
    let first = cluster.new_replica_set_name();
    cluster.spec_mut().template = template("nginx:2.0");
    let second = cluster.new_replica_set_name();
    let mut synced = 0;
    while !cluster.rollout_finished() {
        synced += 1;
        assert!(synced < 50, "rollout stuck: {:?}", cluster.status());
        // New pods come up only every other sync, so the controller must wait for availability.
        for _ in 0..2 {
            cluster.sync();
            assert!(cluster.total_replicas() <= 5, "more than replicas + maxSurge: {}", cluster.total_replicas());
            cluster.observe();
            assert!(cluster.available() >= 3, "fewer than replicas - maxUnavailable available: {}", cluster.available());
        }
        cluster.become_available();
    }
    cluster.sync();
    assert_eq!(replicas_of(cluster.replica_set(&first)), 0);
    assert_eq!(replicas_of(cluster.replica_set(&second)), 4);
    assert_eq!(annotation(cluster.replica_set(&second), REVISION_ANNOTATION), Some("2"));
    assert_eq!(cluster.deployment.metadata.annotations.as_ref().and_then(|a| a.get(REVISION_ANNOTATION)).map(String::as_str), Some("2"));
    assert!(cluster.events.contains(&format!("ScalingReplicaSet: Scaled up replica set {second} from 0 to 1")), "{:?}", cluster.events);
    assert!(cluster.events.contains(&format!("ScalingReplicaSet: Scaled down replica set {first} from 4 to 3")), "{:?}", cluster.events);
    assert_eq!(cluster.status().observed_generation, Some(2));
}

#[test]
fn unavailable_old_pods_go_even_below_minimum_availability() {
    let mut cluster = Cluster::new(deployment(4, "nginx:1.0", rolling(IntOrString::Int(0), IntOrString::Int(1))));
    cluster.roll_out();
    let first = cluster.new_replica_set_name();
    // Two old pods crash: 2 available, below the minimum of 3, so no available pod may go.
    let old = cluster.replica_sets.iter_mut().find(|rs| name_of(rs) == first).expect("first replica set");
    old.status.get_or_insert_with(Default::default).available_replicas = Some(2);
    cluster.spec_mut().template = template("nginx:2.0");
    cluster.sync();
    // With no room to surge the new ReplicaSet starts empty; a broken old pod makes room without costing
    // availability, within `replicas - minAvailable - unavailable new pods` = 1.
    assert_eq!(replicas_of(cluster.replica_set(&first)), 3);
    assert_eq!(cluster.events.last(), Some(&format!("ScalingReplicaSet: Scaled down replica set {first} from 4 to 3")));
    cluster.observe();
    cluster.sync();
    assert_eq!(replicas_of(cluster.replica_set(&cluster.new_replica_set_name())), 1);
    assert_eq!(replicas_of(cluster.replica_set(&first)), 3, "the new pod is not available yet");
}

#[test]
fn recreate_scales_down_waits_for_pods_then_creates() {
    let mut cluster = Cluster::new(deployment(3, "nginx:1.0", recreate()));
    cluster.roll_out();
    let first = cluster.new_replica_set_name();
    let first_uid = cluster.replica_set(&first).metadata.uid.clone().unwrap_or_default();
    cluster.pods = (0..3)
        .map(|index| Pod {
            metadata: ObjectMeta {
                name: Some(format!("{first}-{index}")),
                namespace: Some("default".into()),
                labels: Some(labels(&[("app", "web")])),
                owner_references: Some(vec![OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "ReplicaSet".into(),
                    name: first.clone(),
                    uid: first_uid.clone(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                ..Default::default()
            },
            spec: None,
            status: Some(PodStatus { phase: Some("Running".into()), ..Default::default() }),
        })
        .collect();
    cluster.spec_mut().template = template("nginx:2.0");
    let second = cluster.new_replica_set_name();

    let plan = cluster.sync();
    assert!(!plan.actions.iter().any(|action| matches!(action, Action::CreateReplicaSet(_))));
    assert_eq!(cluster.events.last(), Some(&format!("ScalingReplicaSet: Scaled down replica set {first} from 3 to 0")));

    // The ReplicaSet reports no pods, but they are still terminating.
    cluster.observe();
    let plan = cluster.sync();
    assert!(plan.actions.iter().all(|action| !matches!(action, Action::CreateReplicaSet(_) | Action::UpdateReplicaSet(_))));

    cluster.pods.clear();
    let plan = cluster.sync();
    assert!(matches!(plan.actions.first(), Some(Action::CreateReplicaSet(rs)) if name_of(rs) == second && replicas_of(rs) == 3));
    assert_eq!(cluster.events.last(), Some(&format!("ScalingReplicaSet: Scaled up replica set {second} from 0 to 3")));
}

#[test]
fn paused_deployment_scales_but_does_not_roll_out() {
    let mut cluster = Cluster::new(deployment(3, "nginx:1.0", rolling(percent("25%"), percent("25%"))));
    cluster.roll_out();
    let first = cluster.new_replica_set_name();
    cluster.spec_mut().paused = Some(true);
    cluster.sync();
    let progressing = condition(&cluster.status(), PROGRESSING).cloned().unwrap_or_default();
    assert_eq!((progressing.status.as_deref(), progressing.reason.as_deref()), (Some("Unknown"), Some(PAUSED_REASON)));
    assert_eq!(progressing.message.as_deref(), Some("Deployment is paused"));

    cluster.spec_mut().template = template("nginx:2.0");
    cluster.spec_mut().replicas = Some(5);
    cluster.sync();
    assert_eq!(cluster.replica_sets.len(), 1, "no rollout while paused");
    assert_eq!(replicas_of(cluster.replica_set(&first)), 5);
    assert_eq!(cluster.events.last(), Some(&format!("ScalingReplicaSet: Scaled up replica set {first} from 3 to 5")));

    cluster.spec_mut().paused = Some(false);
    let plan = cluster.sync();
    assert!(plan.actions.iter().any(|action| matches!(action, Action::CreateReplicaSet(_))));
    let progressing = condition(&cluster.status(), PROGRESSING).cloned().unwrap_or_default();
    assert_eq!(progressing.reason.as_deref(), Some(NEW_REPLICA_SET_REASON));
}

#[test]
fn resumed_finished_deployment_reads_finished_again() {
    let mut cluster = Cluster::new(deployment(3, "nginx:1.0", rolling(percent("25%"), percent("25%"))));
    cluster.roll_out();
    cluster.spec_mut().paused = Some(true);
    cluster.sync();
    cluster.spec_mut().paused = Some(false);
    let plan = cluster.sync();
    // Upstream records DeploymentResumed, then the same sync finds the rollout complete.
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    let progressing = condition(&cluster.status(), PROGRESSING).cloned().unwrap_or_default();
    assert_eq!((progressing.status.as_deref(), progressing.reason.as_deref()), (Some("True"), Some(NEW_REPLICA_SET_AVAILABLE_REASON)));
    assert!(cluster.rollout_finished());
}

#[test]
fn scaling_mid_rollout_is_proportional() {
    let mut cluster = Cluster::new(deployment(10, "nginx:1.0", rolling(IntOrString::Int(3), IntOrString::Int(2))));
    cluster.roll_out();
    let first = cluster.new_replica_set_name();
    cluster.spec_mut().template = template("nginx:2.0");
    let second = cluster.new_replica_set_name();
    // The new pods never become available: the rollout stops at 8 old + 5 new.
    for _ in 0..4 {
        cluster.sync();
        cluster.observe();
    }
    assert_eq!((replicas_of(cluster.replica_set(&first)), replicas_of(cluster.replica_set(&second))), (8, 5));

    cluster.spec_mut().replicas = Some(15);
    cluster.sync();
    // 18 allowed = 15 + 3 surge; each keeps its share of the 13 it was sized for: 8→11, 5→7.
    assert_eq!((replicas_of(cluster.replica_set(&first)), replicas_of(cluster.replica_set(&second))), (11, 7));
    assert!(cluster.events.contains(&format!("ScalingReplicaSet: Scaled up replica set {first} from 8 to 11")), "{:?}", cluster.events);
    assert!(cluster.events.contains(&format!("ScalingReplicaSet: Scaled up replica set {second} from 5 to 7")), "{:?}", cluster.events);
    for name in [&first, &second] {
        assert_eq!(annotation(cluster.replica_set(name), DESIRED_REPLICAS_ANNOTATION), Some("15"));
        assert_eq!(annotation(cluster.replica_set(name), MAX_REPLICAS_ANNOTATION), Some("18"));
    }
    cluster.roll_out();
    assert_eq!((replicas_of(cluster.replica_set(&first)), replicas_of(cluster.replica_set(&second))), (0, 15));
}

#[test]
fn undo_reuses_the_old_replica_set_under_a_new_revision() {
    let mut cluster = Cluster::new(deployment(3, "nginx:1.0", rolling(percent("25%"), percent("25%"))));
    cluster.roll_out();
    let first = cluster.new_replica_set_name();
    cluster.spec_mut().template = template("nginx:2.0");
    cluster.roll_out();
    // `kubectl rollout undo` copies revision 1's template back, without its pod-template-hash label.
    cluster.spec_mut().template = template("nginx:1.0");
    let plan = cluster.sync();
    assert!(!plan.actions.iter().any(|action| matches!(action, Action::CreateReplicaSet(_))));
    let updates: Vec<&ReplicaSet> =
        plan.actions.iter().filter_map(|action| if let Action::UpdateReplicaSet(rs) = action { Some(rs) } else { None }).collect();
    assert_eq!(updates.len(), 1, "one update carries the revision and the first scale-up");
    assert_eq!(name_of(updates[0]), first);
    assert_eq!(annotation(updates[0], REVISION_ANNOTATION), Some("3"));
    assert_eq!(annotation(updates[0], REVISION_HISTORY_ANNOTATION), Some("1"));
    assert_eq!(replicas_of(updates[0]), 1);
    cluster.roll_out();
    assert_eq!(cluster.replica_sets.len(), 2);
    assert_eq!(replicas_of(cluster.replica_set(&first)), 3);
    assert_eq!(cluster.deployment.metadata.annotations.as_ref().and_then(|a| a.get(REVISION_ANNOTATION)).map(String::as_str), Some("3"));
}

#[test]
fn history_limit_deletes_the_oldest_scaled_down_replica_sets() {
    let mut cluster = Cluster::new(deployment(2, "nginx:1", rolling(percent("25%"), percent("25%"))));
    cluster.spec_mut().revision_history_limit = Some(2);
    let mut names = Vec::new();
    for version in 1..=5 {
        cluster.spec_mut().template = template(&format!("nginx:{version}"));
        names.push(cluster.new_replica_set_name());
        cluster.roll_out();
        cluster.observe();
        cluster.sync();
    }
    let remaining: Vec<&str> = cluster.replica_sets.iter().map(name_of).collect();
    assert_eq!(remaining, vec![names[2].as_str(), names[3].as_str(), names[4].as_str()]);
}

#[test]
fn hash_collision_bumps_collision_count_then_uses_another_name() {
    let mut cluster = Cluster::new(deployment(2, "nginx:1.0", rolling(percent("25%"), percent("25%"))));
    let taken = cluster.new_replica_set_name();
    cluster.replica_sets.push(ReplicaSet {
        metadata: ObjectMeta {
            name: Some(taken.clone()),
            namespace: Some("default".into()),
            uid: Some("someone-elses".into()),
            labels: Some(labels(&[("app", "other")])),
            ..Default::default()
        },
        spec: ReplicaSetSpec { replicas: Some(1), template: Some(template("busybox")), ..Default::default() },
        status: None,
    });
    let plan = cluster.sync();
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(plan.status.as_ref().and_then(|status| status.collision_count), Some(1));
    assert!(plan.requeue_after.is_some());
    let plan = cluster.sync();
    let Some(Action::CreateReplicaSet(created)) = plan.actions.first() else { panic!("no create: {:?}", plan.actions) };
    assert_ne!(name_of(created), taken);
    assert_eq!(name_of(created), cluster.new_replica_set_name());
}

#[test]
fn orphans_are_adopted_and_mismatches_released() {
    let mut cluster = Cluster::new(deployment(2, "nginx:1.0", rolling(percent("25%"), percent("25%"))));
    let mut orphan_template = template("nginx:1.0");
    orphan_template.metadata.get_or_insert_with(Default::default).labels =
        Some(labels(&[("app", "web"), (POD_TEMPLATE_HASH_LABEL, "old")]));
    cluster.replica_sets.push(ReplicaSet {
        metadata: ObjectMeta {
            name: Some("web-old".into()),
            namespace: Some("default".into()),
            uid: Some("orphan-uid".into()),
            labels: Some(labels(&[("app", "web"), (POD_TEMPLATE_HASH_LABEL, "old")])),
            ..Default::default()
        },
        spec: ReplicaSetSpec { replicas: Some(2), template: Some(orphan_template), ..Default::default() },
        status: Some(ReplicaSetStatus { replicas: 2, available_replicas: Some(2), ready_replicas: Some(2), ..Default::default() }),
    });
    cluster.replica_sets.push(ReplicaSet {
        metadata: ObjectMeta {
            name: Some("web-relabeled".into()),
            namespace: Some("default".into()),
            uid: Some("relabeled-uid".into()),
            labels: Some(labels(&[("app", "debug")])),
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "web".into(),
                uid: "deployment-uid".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: ReplicaSetSpec { replicas: Some(0), template: Some(template("nginx:0.9")), ..Default::default() },
        status: None,
    });
    let plan = cluster.sync();
    assert!(plan.actions.contains(&Action::ReleaseReplicaSet {
        name: "web-relabeled".into(),
        uid: "relabeled-uid".into(),
        owner_uid: "deployment-uid".into()
    }));
    assert!(plan.actions.iter().any(|action| matches!(action, Action::AdoptReplicaSet { name, .. } if name == "web-old")));
    assert!(!plan.actions.iter().any(|action| matches!(action, Action::CreateReplicaSet(_))), "the adopted one is the new one");
    assert_eq!(annotation(cluster.replica_set("web-old"), REVISION_ANNOTATION), Some("1"));
}

#[test]
fn deployment_being_deleted_only_gets_status() {
    let mut cluster = Cluster::new(deployment(3, "nginx:1.0", rolling(percent("25%"), percent("25%"))));
    cluster.roll_out();
    cluster.spec_mut().template = template("nginx:2.0");
    cluster.deployment.metadata.deletion_timestamp = Some(Time(start()));
    let plan = cluster.sync();
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(plan.status.and_then(|status| status.observed_generation), Some(2));
}

#[test]
fn stalled_rollout_exceeds_its_progress_deadline() {
    let mut cluster = Cluster::new(deployment(2, "nginx:1.0", rolling(percent("25%"), percent("25%"))));
    cluster.roll_out();
    cluster.spec_mut().template = template("nginx:broken");
    cluster.sync();
    cluster.observe();
    let plan = cluster.sync();
    let wait = plan.requeue_after.unwrap_or_default();
    assert!(wait > std::time::Duration::from_secs(590) && wait <= std::time::Duration::from_secs(601), "{wait:?}");
    cluster.now += jiff::SignedDuration::try_from(wait).unwrap_or_default();
    cluster.sync();
    let progressing = condition(&cluster.status(), PROGRESSING).cloned().unwrap_or_default();
    assert_eq!((progressing.status.as_deref(), progressing.reason.as_deref()), (Some("False"), Some(TIMED_OUT_REASON)));
    assert_eq!(progressing.message, Some(format!("ReplicaSet \"{}\" has timed out progressing.", cluster.new_replica_set_name())));
}

#[test]
fn empty_selector_is_refused() {
    let mut selecting_all = deployment(2, "nginx:1.0", rolling(percent("25%"), percent("25%")));
    selecting_all.spec.selector = LabelSelector::default();
    let plan = reconcile(&selecting_all, &[], &[], start());
    assert_eq!(
        plan.actions,
        vec![Action::Event {
            type_: EVENT_WARNING,
            reason: SELECTING_ALL_REASON,
            message: "This deployment is selecting all pods. A non-empty selector is required.".into()
        }]
    );
    assert_eq!(plan.status.and_then(|status| status.observed_generation), Some(1));
}
