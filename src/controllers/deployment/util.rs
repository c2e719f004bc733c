//! What the Deployment controller reads off a Deployment and its ReplicaSets, the way upstream's
//! `deployment/util/deployment_util.go` reads it: the revision and replica annotations, which ReplicaSet is
//! the new one, how maxSurge/maxUnavailable resolve against the replica count, how extra replicas are shared
//! out proportionally, and the replica totals the status is built from. Also the pod-template hash that names
//! a new ReplicaSet and the template comparison that finds it again. Pure functions over k8s-openapi types.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DeploymentSpec, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

/// The rollout sequence number of a ReplicaSet (and, copied, of its Deployment).
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a ReplicaSet served before a rollback made it current again, comma-separated.
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// `spec.replicas` of the Deployment when it last sized this ReplicaSet.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas + maxSurge` of the Deployment when it last sized this ReplicaSet.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// Round-trips the removed `spec.rollbackTo` of extensions/v1beta1; never copied to ReplicaSets.
pub const DEPRECATED_ROLLBACK_TO_ANNOTATION: &str = "deprecated.deployment.rollback.to";
/// kubectl's client-side apply record; never copied to ReplicaSets.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The label that keeps the pods of different ReplicaSets of one Deployment apart.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// Upstream keeps `revision-history` under this many characters by dropping the oldest entries.
pub const MAX_REVISION_HISTORY_CHARS: usize = 2000;

/// Annotations of the Deployment that stay off its ReplicaSets (upstream `annotationsToSkip`).
const ANNOTATIONS_NOT_COPIED: [&str; 6] = [
    LAST_APPLIED_ANNOTATION,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    DEPRECATED_ROLLBACK_TO_ANNOTATION,
];

/// `maxSurge`/`maxUnavailable` when the API server did not default them (its defaults).
const DEFAULT_ROLLING_FENCEPOST: &str = "25%";

/// `spec.replicas`, 1 when unset (the API default).
pub fn desired_replicas(spec: &DeploymentSpec) -> i32 {
    spec.replicas.unwrap_or(1)
}

/// The strategy type, RollingUpdate when unset (the API default).
pub fn strategy_type(spec: &DeploymentSpec) -> &str {
    spec.strategy.as_ref().and_then(|strategy| strategy.type_.as_deref()).unwrap_or("RollingUpdate")
}

pub fn is_rolling_update(spec: &DeploymentSpec) -> bool {
    strategy_type(spec) == "RollingUpdate"
}

/// `progressDeadlineSeconds` when it is set and not "forever" (math.MaxInt32), as upstream `HasProgressDeadline`.
pub fn progress_deadline_seconds(spec: &DeploymentSpec) -> Option<i32> {
    spec.progress_deadline_seconds.filter(|seconds| *seconds != i32::MAX)
}

/// `revisionHistoryLimit` when it is set and not "keep all" (math.MaxInt32), as upstream `HasRevisionHistoryLimit`.
pub fn revision_history_limit(spec: &DeploymentSpec) -> Option<i32> {
    spec.revision_history_limit.filter(|limit| *limit != i32::MAX)
}

/// An int-or-percent against `total`: percentages round up for surge and down for unavailability
/// (upstream `GetScaledValueFromIntOrPercent`). `None` for a string that is not `<int>%`.
fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Option<i32> {
    match value {
        IntOrString::Int(number) => Some(*number),
        IntOrString::String(text) => {
            let percent: i64 = text.strip_suffix('%')?.parse().ok()?;
            let product = percent * i64::from(total);
            let mut scaled = product.div_euclid(100);
            if round_up && product.rem_euclid(100) != 0 {
                scaled += 1;
            }
            i32::try_from(scaled).ok()
        }
    }
}

/// maxSurge and maxUnavailable as absolute pod counts (upstream `ResolveFenceposts`): surge rounds up,
/// unavailability down, and when both come out 0 one pod may be unavailable so the rollout can move.
/// Values validation would reject resolve to (0, 0), as upstream's callers see them.
pub fn resolve_fenceposts(spec: &DeploymentSpec) -> (i32, i32) {
    let desired = desired_replicas(spec);
    let rolling = spec.strategy.as_ref().and_then(|strategy| strategy.rolling_update.as_ref());
    let default = IntOrString::String(DEFAULT_ROLLING_FENCEPOST.to_string());
    let surge = rolling.and_then(|rolling| rolling.max_surge.as_ref()).unwrap_or(&default);
    let unavailable = rolling.and_then(|rolling| rolling.max_unavailable.as_ref()).unwrap_or(&default);
    match (scaled_value(surge, desired, true), scaled_value(unavailable, desired, false)) {
        (Some(0), Some(0)) => (0, 1),
        (Some(surge), Some(unavailable)) => (surge, unavailable),
        _ => (0, 0),
    }
}

/// How many pods above `spec.replicas` a rolling update may run; 0 for Recreate.
pub fn max_surge(spec: &DeploymentSpec) -> i32 {
    if is_rolling_update(spec) {
        resolve_fenceposts(spec).0
    } else {
        0
    }
}

/// How many of `spec.replicas` may be unavailable during a rolling update, at most `spec.replicas`; 0 for
/// Recreate and for a Deployment scaled to zero.
pub fn max_unavailable(spec: &DeploymentSpec) -> i32 {
    let desired = desired_replicas(spec);
    if !is_rolling_update(spec) || desired == 0 {
        return 0;
    }
    resolve_fenceposts(spec).1.min(desired)
}

/// `spec.replicas` of a ReplicaSet, 1 when unset (the API default).
pub fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(1)
}

pub fn set_spec_replicas(rs: &mut ReplicaSet, replicas: i32) {
    rs.spec.replicas = Some(replicas);
}

/// Pods the ReplicaSet controller last counted for this ReplicaSet.
pub fn status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |status| status.replicas)
}

pub fn ready_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|status| status.ready_replicas).unwrap_or(0)
}

/// Pods ready for minReadySeconds, as the ReplicaSet controller reports them.
pub fn available_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|status| status.available_replicas).unwrap_or(0)
}

pub fn is_active(rs: &ReplicaSet) -> bool {
    spec_replicas(rs) > 0
}

/// Total of `spec.replicas`.
pub fn total_spec_replicas<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    replica_sets.into_iter().map(spec_replicas).sum()
}

/// Total terminating pods (upstream `GetTerminatingReplicaCountForReplicaSets`): a ReplicaSet the ReplicaSet
/// controller has not looked at yet counts 0, but one it looked at without reporting the field makes the total
/// unknown.
pub fn terminating_replicas<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> Option<i32> {
    let mut total = 0;
    for rs in replica_sets {
        let status = rs.status.as_ref();
        let observed_generation = status.and_then(|status| status.observed_generation).unwrap_or(0);
        match status.and_then(|status| status.terminating_replicas) {
            Some(terminating) => total += terminating,
            None if observed_generation == 0 => {}
            None => return None,
        }
    }
    Some(total)
}

fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The revision annotation as a number: 0 when absent, `None` when it is not a number.
pub fn revision(rs: &ReplicaSet) -> Option<i64> {
    match annotation(rs, REVISION_ANNOTATION) {
        None => Some(0),
        Some(text) => text.parse().ok(),
    }
}

/// The highest revision among `replica_sets`, skipping ones whose revision does not parse.
pub fn max_revision<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    replica_sets.into_iter().filter_map(revision).fold(0, i64::max)
}

pub fn desired_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(rs, DESIRED_REPLICAS_ANNOTATION)?.parse().ok()
}

fn max_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(rs, MAX_REPLICAS_ANNOTATION)?.parse().ok()
}

/// Records the Deployment size a ReplicaSet was last sized for; true when an annotation changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in [(DESIRED_REPLICAS_ANNOTATION, desired), (MAX_REPLICAS_ANNOTATION, max)] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.to_string(), value);
            changed = true;
        }
    }
    changed
}

pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(rs, DESIRED_REPLICAS_ANNOTATION) != Some(desired.to_string().as_str())
        || annotation(rs, MAX_REPLICAS_ANNOTATION) != Some(max.to_string().as_str())
}

/// Copies the Deployment's annotations onto the ReplicaSet except the controller's own and kubectl's apply
/// record; annotations the Deployment dropped stay. True when one changed.
fn copy_deployment_annotations(deployment_annotations: Option<&BTreeMap<String, String>>, rs: &mut ReplicaSet) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in deployment_annotations.into_iter().flatten() {
        if ANNOTATIONS_NOT_COPIED.contains(&key.as_str()) || annotations.get(key) == Some(value) {
            continue;
        }
        annotations.insert(key.clone(), value.clone());
        changed = true;
    }
    changed
}

/// Brings the annotations of the Deployment's new ReplicaSet up to date (upstream `SetNewReplicaSetAnnotations`):
/// copies the Deployment's annotations, raises the revision to `new_revision` when it is lower (remembering the
/// old number in `revision-history` when the ReplicaSet had one, i.e. a rollback made it current again), and for
/// a ReplicaSet about to be created records the replica annotations. True when anything changed.
pub fn set_new_replica_set_annotations(
    deployment_annotations: Option<&BTreeMap<String, String>>,
    spec: &DeploymentSpec,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = copy_deployment_annotations(deployment_annotations, rs);
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let old_revision_text = annotations.get(REVISION_ANNOTATION).cloned();
    let old_revision = match old_revision_text.as_deref() {
        None | Some("") => 0,
        // Upstream gives up on a ReplicaSet whose revision is not a number.
        Some(text) => match text.parse::<i64>() {
            Ok(number) => number,
            Err(_) => return false,
        },
    };
    if old_revision < new_revision {
        annotations.insert(REVISION_ANNOTATION.to_string(), new_revision.to_string());
        changed = true;
        if let Some(old_revision_text) = old_revision_text {
            append_revision_history(annotations, &old_revision_text);
        }
    }
    if !exists {
        let desired = desired_replicas(spec);
        changed |= set_replicas_annotations(rs, desired, desired + max_surge(spec));
    }
    changed
}

/// Appends a revision to `revision-history`, dropping the oldest entries to stay within
/// [`MAX_REVISION_HISTORY_CHARS`].
fn append_revision_history(annotations: &mut BTreeMap<String, String>, old_revision: &str) {
    let history = annotations.get(REVISION_HISTORY_ANNOTATION).cloned().unwrap_or_default();
    if history.is_empty() {
        annotations.insert(REVISION_HISTORY_ANNOTATION.to_string(), old_revision.to_string());
        return;
    }
    let entries: Vec<&str> = history.split(',').collect();
    let mut total_chars = history.len() + old_revision.len() + 1;
    let mut first_kept = 0;
    while total_chars > MAX_REVISION_HISTORY_CHARS && first_kept < entries.len() {
        total_chars -= entries[first_kept].len() + 1;
        first_kept += 1;
    }
    if total_chars <= MAX_REVISION_HISTORY_CHARS {
        let mut kept = entries[first_kept..].to_vec();
        kept.push(old_revision);
        annotations.insert(REVISION_HISTORY_ANNOTATION.to_string(), kept.join(","));
    }
}

/// Oldest first; ties by name (upstream `ReplicaSetsByCreationTimestamp`). An object not yet created sorts
/// first, as Go's zero time does.
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let created = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|time| time.0);
    created(a).cmp(&created(b)).then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Lowest revision first, then oldest (upstream `ReplicaSetsByRevision`); an unparsable revision counts as 0
/// so the order stays total.
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    revision(a).unwrap_or(0).cmp(&revision(b).unwrap_or(0)).then_with(|| by_creation(a, b))
}

/// Largest first; among equals the older first (upstream `ReplicaSetsBySizeOlder`, the scale-down order).
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    spec_replicas(b).cmp(&spec_replicas(a)).then_with(|| by_creation(a, b))
}

/// Largest first; among equals the newer first (upstream `ReplicaSetsBySizeNewer`, the scale-up order).
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    spec_replicas(b).cmp(&spec_replicas(a)).then_with(|| by_creation(b, a))
}

/// The index of the Deployment's new ReplicaSet: the oldest whose template equals the Deployment's, ignoring
/// `pod-template-hash` (upstream `FindNewReplicaSet`; after some upgrades two can match).
pub fn find_new_replica_set(template: &PodTemplateSpec, replica_sets: &[ReplicaSet]) -> Option<usize> {
    replica_sets
        .iter()
        .enumerate()
        .filter(|(_, rs)| rs.spec.template.as_ref().is_some_and(|own| equal_ignore_hash(own, template)))
        .min_by(|(_, a), (_, b)| by_creation(a, b))
        .map(|(index, _)| index)
}

/// The only active ReplicaSet, or the newest one when none is active; `None` when several are active and
/// replicas must be shared out proportionally (upstream `FindActiveOrLatest`).
pub fn find_active_or_latest(replica_sets: &[ReplicaSet], new: Option<usize>, old: &[usize]) -> Option<usize> {
    let mut newest_first = old.to_vec();
    newest_first.sort_by(|a, b| by_creation(&replica_sets[*b], &replica_sets[*a]));
    let active: Vec<usize> = newest_first.iter().copied().chain(new).filter(|index| is_active(&replica_sets[*index])).collect();
    match active.as_slice() {
        [] => new.or(newest_first.first().copied()),
        [only] => Some(*only),
        _ => None,
    }
}

/// The new ReplicaSet already runs all desired replicas, all available, and knows the current size
/// (upstream `IsSaturated`).
pub fn is_saturated(spec: &DeploymentSpec, rs: &ReplicaSet) -> bool {
    let desired = desired_replicas(spec);
    desired_replicas_annotation(rs) == Some(desired) && spec_replicas(rs) == desired && available_replicas(rs) == desired
}

/// The size the new ReplicaSet may grow to now (upstream `NewRSNewReplicas`): under RollingUpdate as far as
/// maxSurge leaves room and never past `spec.replicas`; under Recreate straight to `spec.replicas`.
pub fn new_replica_set_target(spec: &DeploymentSpec, all_spec_replicas: i32, new_spec_replicas: i32) -> i32 {
    let desired = desired_replicas(spec);
    if !is_rolling_update(spec) {
        return desired;
    }
    let max_total = desired + max_surge(spec);
    if all_spec_replicas >= max_total {
        return new_spec_replicas;
    }
    new_spec_replicas + (max_total - all_spec_replicas).min(desired - new_spec_replicas)
}

/// This ReplicaSet's share of `to_add` replicas (negative: to remove) when a Deployment is resized during a
/// rollout (upstream `GetProportion`): its size relative to the Deployment size it was last sized for, capped
/// by what is left to hand out.
pub fn proportion(rs: &ReplicaSet, spec: &DeploymentSpec, status_replicas: i32, to_add: i32, added: i32) -> i32 {
    if spec_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = replica_set_fraction(rs, spec, status_replicas);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// How much this ReplicaSet would grow or shrink if it kept its share of the Deployment at the new size
/// (upstream `getReplicaSetFraction`, rounding half up as `integer.RoundToInt32`).
fn replica_set_fraction(rs: &ReplicaSet, spec: &DeploymentSpec, status_replicas: i32) -> i32 {
    let current = spec_replicas(rs);
    let desired = desired_replicas(spec);
    if desired == 0 {
        return -current;
    }
    let deployment_replicas = desired + max_surge(spec);
    // Without the annotation upstream falls back to the Deployment's current size.
    let annotated = max_replicas_annotation(rs).unwrap_or(status_replicas);
    if annotated <= 0 {
        return 0;
    }
    let new_size = (f64::from(current) * f64::from(deployment_replicas)) / f64::from(annotated);
    (new_size + 0.5).floor() as i32 - current
}

/// The templates are equal apart from `pod-template-hash`, with upstream's semantic equality (an empty list or
/// map equals an absent one).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    match (comparable_template(a), comparable_template(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn comparable_template(template: &PodTemplateSpec) -> Option<Value> {
    let mut template = template.clone();
    if let Some(labels) = template.metadata.as_mut().and_then(|metadata| metadata.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    Some(without_empty(serde_json::to_value(&template).ok()?).unwrap_or(Value::Null))
}

/// Drops nulls and empty lists and maps, recursively, so absent and empty compare equal.
fn without_empty(value: Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => Some(Value::Array(items.into_iter().map(|item| without_empty(item).unwrap_or(Value::Null)).collect())),
        Value::Object(fields) => {
            let fields: serde_json::Map<String, Value> =
                fields.into_iter().filter_map(|(key, value)| without_empty(value).map(|value| (key, value))).collect();
            (!fields.is_empty()).then_some(Value::Object(fields))
        }
        other => Some(other),
    }
}

const FNV32_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

fn fnv1a32(mut hash: u32, bytes: &[u8]) -> u32 {
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(FNV32_PRIME);
    }
    hash
}

/// The alphabet of upstream `rand.SafeEncodeString`: no vowels, no look-alike digits.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The `pod-template-hash` of a template (upstream `controller.ComputeHash`): a 32-bit FNV-1a over the
/// template's canonical JSON (upstream hashes a Go dump, so values differ), then over the collision count as
/// 8 little-endian bytes when the Deployment has one, printed in decimal and each digit mapped through the
/// safe alphabet, e.g. `5d4f8c9b7`.
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    // Serializing a typed template cannot fail; an empty input would still hash deterministically.
    let json = serde_json::to_vec(template).unwrap_or_default();
    let mut hash = fnv1a32(FNV32_OFFSET_BASIS, &json);
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(count as u32).to_le_bytes());
        hash = fnv1a32(hash, &bytes);
    }
    hash.to_string().bytes().map(|digit| char::from(SAFE_ALPHABET[usize::from(digit) % SAFE_ALPHABET.len()])).collect()
}

/// The selector with no requirements, which selects every pod; upstream refuses to act on it.
pub fn selects_everything(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty) && selector.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// Whether `labels` satisfy the selector (`matchLabels` and the In/NotIn/Exists/DoesNotExist expressions).
/// An expression with an unknown operator matches nothing, as an unconvertible selector does upstream.
pub fn selector_matches(selector: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    let value_of = |key: &str| labels.and_then(|labels| labels.get(key));
    let labels_match = selector.match_labels.iter().flatten().all(|(key, wanted)| value_of(key) == Some(wanted));
    let expressions_match = selector.match_expressions.iter().flatten().all(|requirement| {
        let value = value_of(&requirement.key);
        let listed = |value: &String| requirement.values.iter().flatten().any(|candidate| candidate == value);
        match requirement.operator.as_str() {
            "In" => value.is_some_and(listed),
            "NotIn" => !value.is_some_and(listed),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_match && expressions_match
}

/// A copy of `selector` that also requires `key=value` (upstream `CloneSelectorAndAddLabel`).
pub fn selector_with_label(selector: &LabelSelector, key: &str, value: &str) -> LabelSelector {
    let mut selector = selector.clone();
    selector.match_labels.get_or_insert_with(BTreeMap::new).insert(key.to_string(), value.to_string());
    selector
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentStrategy, ReplicaSetSpec, ReplicaSetStatus, RollingUpdateDeployment};
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelectorRequirement, ObjectMeta};

    fn rolling(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> DeploymentSpec {
        DeploymentSpec {
            replicas: Some(replicas),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment { max_surge: Some(surge), max_unavailable: Some(unavailable) }),
            }),
            ..Default::default()
        }
    }

    fn percent(text: &str) -> IntOrString {
        IntOrString::String(text.into())
    }

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta { labels: Some([("app".to_string(), "web".to_string())].into()), ..Default::default() }),
            spec: Some(PodSpec {
                containers: vec![Container { name: "web".into(), image: Some(image.into()), ..Default::default() }],
                ..Default::default()
            }),
        }
    }

    fn replica_set(replicas: i32, annotations: &[(&str, &str)]) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                annotations: Some(annotations.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()),
                ..Default::default()
            },
            spec: ReplicaSetSpec { replicas: Some(replicas), ..Default::default() },
            status: Some(ReplicaSetStatus { replicas, ..Default::default() }),
        }
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailability_down() {
        assert_eq!(resolve_fenceposts(&rolling(10, percent("39%"), percent("39%"))), (4, 3));
        assert_eq!(resolve_fenceposts(&rolling(3, percent("25%"), percent("25%"))), (1, 0));
        assert_eq!(resolve_fenceposts(&rolling(10, IntOrString::Int(2), IntOrString::Int(3))), (2, 3));
    }

    #[test]
    fn both_fenceposts_zero_allow_one_unavailable() {
        assert_eq!(resolve_fenceposts(&rolling(1, percent("0%"), percent("0%"))), (0, 1));
        assert_eq!(resolve_fenceposts(&rolling(2, percent("1%"), percent("1%"))), (1, 0));
        assert_eq!(resolve_fenceposts(&rolling(2, percent("0%"), percent("1%"))), (0, 1));
    }

    #[test]
    fn invalid_fencepost_resolves_to_nothing() {
        assert_eq!(resolve_fenceposts(&rolling(10, percent("oops"), percent("39%"))), (0, 0));
    }

    #[test]
    fn max_unavailable_is_capped_by_replicas_and_zero_for_recreate() {
        assert_eq!(max_unavailable(&rolling(2, IntOrString::Int(0), IntOrString::Int(5))), 2);
        assert_eq!(max_unavailable(&rolling(0, IntOrString::Int(0), IntOrString::Int(5))), 0);
        let recreate = DeploymentSpec {
            replicas: Some(3),
            strategy: Some(DeploymentStrategy { type_: Some("Recreate".into()), rolling_update: None }),
            ..Default::default()
        };
        assert_eq!((max_unavailable(&recreate), max_surge(&recreate)), (0, 0));
    }

    #[test]
    fn new_replica_set_grows_within_surge() {
        let spec = rolling(6, IntOrString::Int(10), IntOrString::Int(1));
        assert_eq!(new_replica_set_target(&spec, 7, 2), 6);
        let spec = rolling(1, IntOrString::Int(1), IntOrString::Int(1));
        assert_eq!(new_replica_set_target(&spec, 10, 5), 5);
    }

    #[test]
    fn hash_is_stable_safe_and_changes_with_collision_count() {
        let first = pod_template_hash(&template("nginx:1"), None);
        assert_eq!(first, pod_template_hash(&template("nginx:1"), None));
        assert!(!first.is_empty() && first.len() <= 10);
        assert!(first.bytes().all(|byte| b"456789bcdf".contains(&byte)), "{first}");
        assert_ne!(first, pod_template_hash(&template("nginx:2"), None));
        assert_ne!(first, pod_template_hash(&template("nginx:1"), Some(1)));
    }

    #[test]
    fn templates_compare_without_hash_label_and_empty_fields() {
        let mut labeled = template("nginx:1");
        let metadata = labeled.metadata.get_or_insert_with(Default::default);
        metadata.labels.get_or_insert_with(BTreeMap::new).insert(POD_TEMPLATE_HASH_LABEL.into(), "abc".into());
        metadata.annotations = Some(BTreeMap::new());
        assert!(equal_ignore_hash(&labeled, &template("nginx:1")));
        assert!(!equal_ignore_hash(&labeled, &template("nginx:2")));
    }

    #[test]
    fn rollback_keeps_revision_history() {
        let mut rs = replica_set(0, &[(REVISION_ANNOTATION, "1")]);
        let spec = rolling(3, percent("25%"), percent("25%"));
        assert!(set_new_replica_set_annotations(None, &spec, &mut rs, 3, true));
        assert_eq!(annotation(&rs, REVISION_ANNOTATION), Some("3"));
        assert_eq!(annotation(&rs, REVISION_HISTORY_ANNOTATION), Some("1"));
        assert!(set_new_replica_set_annotations(None, &spec, &mut rs, 5, true));
        assert_eq!(annotation(&rs, REVISION_HISTORY_ANNOTATION), Some("1,3"));
        assert!(!set_new_replica_set_annotations(None, &spec, &mut rs, 5, true), "already current");
    }

    #[test]
    fn revision_history_drops_oldest_entries_past_the_limit() {
        let long_history = vec!["1234567"; 250].join(",");
        let mut rs = replica_set(0, &[(REVISION_ANNOTATION, "99"), (REVISION_HISTORY_ANNOTATION, &long_history)]);
        set_new_replica_set_annotations(None, &rolling(1, percent("25%"), percent("25%")), &mut rs, 100, true);
        let history = annotation(&rs, REVISION_HISTORY_ANNOTATION).unwrap_or_default();
        assert!(history.len() <= MAX_REVISION_HISTORY_CHARS);
        assert!(history.ends_with(",99"));
    }

    #[test]
    fn copied_annotations_skip_controller_and_apply_keys() {
        let deployment_annotations: BTreeMap<String, String> = [
            (LAST_APPLIED_ANNOTATION, "{}"),
            (REVISION_ANNOTATION, "7"),
            ("kubernetes.io/change-cause", "kubectl set image"),
            ("team", "web"),
        ]
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
        let mut rs = replica_set(0, &[]);
        set_new_replica_set_annotations(Some(&deployment_annotations), &rolling(4, percent("25%"), percent("25%")), &mut rs, 2, false);
        let annotations = rs.metadata.annotations.unwrap_or_default();
        assert_eq!(annotations.get("kubernetes.io/change-cause").map(String::as_str), Some("kubectl set image"));
        assert_eq!(annotations.get("team").map(String::as_str), Some("web"));
        assert!(!annotations.contains_key(LAST_APPLIED_ANNOTATION));
        assert_eq!(annotations.get(REVISION_ANNOTATION).map(String::as_str), Some("2"));
        assert_eq!(annotations.get(DESIRED_REPLICAS_ANNOTATION).map(String::as_str), Some("4"));
        assert_eq!(annotations.get(MAX_REPLICAS_ANNOTATION).map(String::as_str), Some("5"));
    }

    #[test]
    fn proportions_follow_max_replicas_annotation() {
        // Deployment 10 (+3 surge) grows to 15 (+4): a ReplicaSet holding 5 of 13 grows by round(5*19/13)-5 = 2.
        let spec = rolling(15, IntOrString::Int(4), IntOrString::Int(2));
        let rs = replica_set(5, &[(MAX_REPLICAS_ANNOTATION, "13")]);
        assert_eq!(proportion(&rs, &spec, 13, 6, 0), 2);
        assert_eq!(proportion(&rs, &spec, 13, 6, 5), 1, "capped by what is left");
        let to_zero = rolling(0, IntOrString::Int(4), IntOrString::Int(2));
        assert_eq!(proportion(&rs, &to_zero, 13, -13, 0), -5);
    }

    #[test]
    fn terminating_total_is_unknown_when_an_observed_set_does_not_report_it() {
        let mut counted = replica_set(1, &[]);
        if let Some(status) = counted.status.as_mut() {
            status.observed_generation = Some(1);
            status.terminating_replicas = Some(3);
        }
        let unobserved = replica_set(2, &[]);
        assert_eq!(terminating_replicas([&counted, &unobserved]), Some(3));
        let mut silent = replica_set(1, &[]);
        if let Some(status) = silent.status.as_mut() {
            status.observed_generation = Some(1);
        }
        assert_eq!(terminating_replicas([&counted, &silent]), None);
    }

    #[test]
    fn selector_expressions_match_like_upstream() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string()), ("tier".to_string(), "front".to_string())].into();
        let requirement = |key: &str, operator: &str, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: Some(values.iter().map(|value| value.to_string()).collect()),
        };
        let selector = LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            match_expressions: Some(vec![requirement("tier", "In", &["front", "back"]), requirement("canary", "DoesNotExist", &[])]),
        };
        assert!(selector_matches(&selector, Some(&labels)));
        let excluded = LabelSelector { match_labels: None, match_expressions: Some(vec![requirement("tier", "NotIn", &["front"])]) };
        assert!(!selector_matches(&excluded, Some(&labels)));
        let unknown = LabelSelector { match_labels: None, match_expressions: Some(vec![requirement("tier", "Near", &["front"])]) };
        assert!(!selector_matches(&unknown, Some(&labels)));
        assert!(selects_everything(&LabelSelector::default()));
    }
}
