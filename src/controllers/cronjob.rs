//! CronJob control loop decisions, as upstream's CronJob controller (pkg/controller/cronjob, the v2
//! controller) makes them: given a CronJob, the Jobs of its namespace and the time, which finished Jobs to
//! delete beyond the history limits, what the status says about running and finished Jobs, whether the most
//! recent missed schedule time still gets a Job (starting deadline, concurrency policy, suspension), the Job
//! to create, the Events upstream records, and when to look again (the next schedule time plus 100 ms).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::cron_schedule::{load_time_zone, parse_standard, Schedule};
use super::event::Event;
use super::podutil::{controller_of, controller_ref};

/// The annotation on each Job recording the schedule time it was created for (RFC 3339, CronJob's zone).
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// Upstream requeues this long after the next schedule time, so a slightly early clock still finds it due.
const NEXT_SCHEDULE_DELTA: SignedDuration = SignedDuration::from_millis(100);

/// Beyond this many missed start times upstream warns `TooManyMissedTimes`.
const MANY_MISSED_SCHEDULES: i64 = 100;

/// A bound on stepping through missed schedule times; the search starts about two intervals before now, so
/// real schedules need a handful of steps.
const MAX_MISSED_SCHEDULE_STEPS: usize = 100_000;

/// One step for the lead to carry out. Steps run in order; when one fails, emit its `failure_event`, skip
/// the rest and retry later with backoff (a NotFound on a delete counts as done).
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Delete a Job (history cleanup, or `Replace`), propagation `Background`, precondition on the uid.
    DeleteJob {
        name: String,
        uid: String,
    },
    /// Create `job` and record it in the status, as upstream does:
    /// - created: emit `Normal SuccessfulCreate "Created job <name>"`, append `job_reference(&created)` to
    ///   `status.active` and write `status`;
    /// - AlreadyExists, and the existing Job is controlled by this CronJob (ownerReference uid) and its uid is
    ///   not in `status.active`: append `job_reference(&existing)` and write `status` (no Event);
    /// - AlreadyExists otherwise: write `status_without_job` if it is `Some`.
    CreateJob {
        job: Box<Job>,
        status: CronJobStatus,
        status_without_job: Option<CronJobStatus>,
    },
    Event(Event),
    /// Write the CronJob's status subresource (replace the whole status).
    UpdateStatus(CronJobStatus),
}

impl Action {
    /// The Event upstream records when this step fails with `error`.
    pub fn failure_event(&self, error: &str) -> Option<Event> {
        match self {
            Action::DeleteJob { .. } => Some(Event::warning("FailedDelete", format!("Deleted job: {error}"))),
            Action::CreateJob { .. } => Some(Event::warning("FailedCreate", format!("Error creating job: {error}"))),
            Action::Event(_) | Action::UpdateStatus(_) => None,
        }
    }
}

/// Everything one reconcile decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Reconcile again after this long (the next schedule time); `None` waits for the next change.
    pub requeue_after: Option<Duration>,
}

/// The name of the Job for `scheduled`: `<cronjob>-<minutes since the epoch>`, so a schedule time gets one Job.
pub fn job_name(cron_job_name: &str, scheduled: Timestamp) -> String {
    format!("{cron_job_name}-{}", scheduled.as_second().div_euclid(60))
}

/// The reference to a Job that `status.active` holds.
pub fn job_reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".to_string()),
        kind: Some("Job".to_string()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// Decides one reconcile of `cron_job`. `jobs` are the Jobs of its namespace as the lead's cache holds them;
/// it must include every Job an earlier plan created (wait for the cache to see them, or fetch active
/// references missing from it), since an active Job missing here is reported as gone.
pub fn reconcile(cron_job: &CronJob, jobs: &[Job], now: Timestamp) -> Plan {
    let name = cron_job.metadata.name.as_deref().unwrap_or_default();
    let owned: Vec<&Job> =
        jobs.iter().filter(|job| controller_of(&job.metadata).is_some_and(|owner| owner.kind == "CronJob" && owner.name == name)).collect();
    let mut sync = Sync { cron_job, status: cron_job.status.clone().unwrap_or_default(), changed: false, plan: Plan::default() };
    sync.clean_up_finished_jobs(&owned);
    sync.track_jobs(&owned);
    sync.schedule(now);
    sync.plan
}

/// The state of one reconcile: the status as it evolves and the steps decided so far.
struct Sync<'a> {
    cron_job: &'a CronJob,
    status: CronJobStatus,
    changed: bool,
    plan: Plan,
}

impl Sync<'_> {
    fn event(&mut self, event: Event) {
        self.plan.actions.push(Action::Event(event));
    }

    fn forget_active(&mut self, uid: Option<&str>) {
        if let Some(active) = self.status.active.as_mut() {
            active.retain(|reference| reference.uid.as_deref() != uid);
        }
    }

    fn delete_job(&mut self, job_name: &str, uid: &str) {
        self.plan.actions.push(Action::DeleteJob { name: job_name.to_string(), uid: uid.to_string() });
        self.event(Event::normal("SuccessfulDelete", format!("Deleted job {job_name}")));
        self.forget_active(Some(uid));
        self.changed = true;
    }

    /// Upstream `cleanupFinishedJobs`: beyond each history limit, the finished Jobs that started first go.
    fn clean_up_finished_jobs(&mut self, owned: &[&Job]) {
        let spec = &self.cron_job.spec;
        let limits = [("Complete", spec.successful_jobs_history_limit), ("Failed", spec.failed_jobs_history_limit)];
        for (condition, limit) in limits {
            let Some(limit) = limit else { continue };
            let mut finished: Vec<&Job> = owned.iter().copied().filter(|job| finished_condition(job) == Some(condition)).collect();
            let excess = finished.len().saturating_sub(usize::try_from(limit).unwrap_or(0));
            finished.sort_by(|a, b| start_order(a, b));
            for job in finished.into_iter().take(excess) {
                self.delete_job(job.metadata.name.as_deref().unwrap_or_default(), job.metadata.uid.as_deref().unwrap_or_default());
            }
        }
    }

    /// Upstream's first half of `syncCronJob`: reconcile `status.active` and `lastSuccessfulTime` with the Jobs.
    fn track_jobs(&mut self, owned: &[&Job]) {
        for job in owned {
            let uid = job.metadata.uid.as_deref();
            let job_name = job.metadata.name.as_deref().unwrap_or_default();
            let found = self.status.active.iter().flatten().any(|reference| reference.uid.as_deref() == uid);
            match finished_condition(job) {
                None if !found => self
                    .event(Event::warning("UnexpectedJob", format!("Saw a job that the controller did not create or forgot: {job_name}"))),
                Some(condition) if found => {
                    self.forget_active(uid);
                    self.event(Event::normal("SawCompletedJob", format!("Saw completed job: {job_name}, status: {condition}")));
                    self.changed = true;
                }
                Some("Complete") => {
                    let completed = job.status.as_ref().and_then(|status| status.completion_time.as_ref());
                    let later = match (&self.status.last_successful_time, completed) {
                        (None, Some(_)) => true,
                        (Some(last), Some(completed)) => completed.0 > last.0,
                        (_, None) => false,
                    };
                    if later {
                        self.status.last_successful_time = completed.cloned();
                        self.changed = true;
                    }
                }
                _ => {}
            }
        }
        let missing: Vec<ObjectReference> = self
            .status
            .active
            .iter()
            .flatten()
            .filter(|reference| !owned.iter().any(|job| job.metadata.uid == reference.uid))
            .cloned()
            .collect();
        for reference in missing {
            let job_name = reference.name.as_deref().unwrap_or_default();
            self.event(Event::normal("MissingJob", format!("Active job went missing: {job_name}")));
            self.forget_active(reference.uid.as_deref());
            self.changed = true;
        }
    }

    /// The status write for whatever changed, when no Job is being created.
    fn finish(&mut self) {
        if self.changed {
            self.plan.actions.push(Action::UpdateStatus(self.status.clone()));
        }
    }

    fn requeue(&mut self, delay: Option<Duration>) {
        self.plan.requeue_after = delay;
        self.finish();
    }

    /// Upstream's second half of `syncCronJob`: whether the most recent schedule time gets a Job now.
    fn schedule(&mut self, now: Timestamp) {
        let cron_job = self.cron_job;
        let spec = &cron_job.spec;
        if cron_job.metadata.deletion_timestamp.is_some() {
            return self.finish();
        }
        if let Some(zone) = spec.time_zone.as_deref() {
            if let Err(error) = load_time_zone(zone) {
                self.event(Event::warning("UnknownTimeZone", format!("invalid timeZone: {zone:?}: {error}")));
                return self.finish();
            }
        }
        if spec.suspend == Some(true) {
            return self.finish();
        }
        let schedule_text = self.formatted_schedule();
        let schedule = match parse_standard(&schedule_text, &jiff::tz::TimeZone::UTC) {
            Ok(schedule) => schedule,
            Err(error) => {
                self.event(Event::warning("UnparseableSchedule", format!("unparseable schedule: {:?} : {error}", spec.schedule)));
                return self.finish();
            }
        };
        let recent = match most_recent_schedule_time(cron_job, &self.status, now, &schedule, true) {
            Ok(recent) => recent,
            Err(error) => {
                self.event(Event::warning("InvalidSchedule", format!("invalid schedule: {} : {error}", spec.schedule)));
                return self.finish();
            }
        };
        let Some(scheduled) = recent.most_recent.filter(|time| *time <= now) else {
            let delay = next_schedule_delay(cron_job, &self.status, now, &schedule);
            return self.requeue(delay);
        };
        if recent.missed == Missed::Many {
            self.event(Event::warning(
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
            ));
        }
        let too_late = spec
            .starting_deadline_seconds
            .is_some_and(|deadline| scheduled.checked_add(SignedDuration::from_secs(deadline)).is_ok_and(|latest| latest < now));
        if too_late {
            let missed = scheduled.strftime("%a, %d %b %Y %H:%M:%S %z");
            self.event(Event::warning("MissSchedule", format!("Missed scheduled time to start a job: {missed}")));
            let delay = next_schedule_delay(cron_job, &self.status, now, &schedule);
            return self.requeue(delay);
        }
        let name = cron_job.metadata.name.as_deref().unwrap_or_default();
        let planned_name = job_name(name, scheduled);
        let already_active = self.status.active.iter().flatten().any(|reference| reference.name.as_deref() == Some(&planned_name));
        let already_scheduled = self.status.last_schedule_time.as_ref().is_some_and(|last| last.0 == scheduled);
        if already_active || already_scheduled {
            let delay = next_schedule_delay(cron_job, &self.status, now, &schedule);
            return self.requeue(delay);
        }
        let active = self.status.active.clone().unwrap_or_default();
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        if policy == "Forbid" && !active.is_empty() {
            self.event(Event::normal(
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            ));
            let delay = next_schedule_delay(cron_job, &self.status, now, &schedule);
            return self.requeue(delay);
        }
        if policy == "Replace" {
            for reference in &active {
                self.delete_job(reference.name.as_deref().unwrap_or_default(), reference.uid.as_deref().unwrap_or_default());
            }
        }
        let status_without_job = self.changed.then(|| self.status.clone());
        let job = job_from_template(cron_job, scheduled);
        self.status.last_schedule_time = Some(Time(scheduled));
        self.plan.requeue_after = next_schedule_delay(cron_job, &self.status, now, &schedule);
        self.plan.actions.push(Action::CreateJob { job: Box::new(job), status: self.status.clone(), status_without_job });
    }

    /// Upstream `formatSchedule`: a schedule that names a zone itself wins (with a warning); otherwise
    /// `spec.timeZone` applies.
    fn formatted_schedule(&mut self) -> String {
        let spec = &self.cron_job.spec;
        if spec.schedule.contains("TZ") {
            self.event(Event::warning(
                "UnsupportedSchedule",
                format!(
                    "CRON_TZ or TZ used in schedule {:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
                    spec.schedule
                ),
            ));
            return spec.schedule.clone();
        }
        match spec.time_zone.as_deref() {
            Some(zone) => format!("TZ={zone} {}", spec.schedule),
            None => spec.schedule.clone(),
        }
    }
}

/// `Complete` or `Failed`, when the Job has finished with that condition `True`.
fn finished_condition(job: &Job) -> Option<&'static str> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().filter(|condition| condition.status == "True").find_map(|condition| match condition.type_.as_str() {
        "Complete" => Some("Complete"),
        "Failed" => Some("Failed"),
        _ => None,
    })
}

/// Upstream `byJobStartTime`: started Jobs by start time, then never-started ones; ties by name.
fn start_order(a: &Job, b: &Job) -> std::cmp::Ordering {
    let start = |job: &Job| job.status.as_ref().and_then(|status| status.start_time.as_ref()).map(|time| time.0);
    match (start(a), start(b)) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        _ => a.metadata.name.cmp(&b.metadata.name),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Missed {
    None,
    Few,
    Many,
}

struct RecentSchedule {
    /// The last schedule time or the CronJob's creation (the point the search starts from).
    earliest: Timestamp,
    /// The latest schedule time at or before now, if any.
    most_recent: Option<Timestamp>,
    missed: Missed,
}

/// Upstream `mostRecentScheduleTime`, approximation included: it estimates how many schedule times were
/// missed from the gap between the first two, starts stepping about two gaps before now, and reports the
/// last time it reaches that is not after now.
fn most_recent_schedule_time(
    cron_job: &CronJob,
    status: &CronJobStatus,
    now: Timestamp,
    schedule: &Schedule,
    include_starting_deadline: bool,
) -> Result<RecentSchedule, String> {
    let too_close = || "time difference between two schedules is less than 1 second".to_string();
    let created = cron_job.metadata.creation_timestamp.as_ref().map_or(Timestamp::UNIX_EPOCH, |time| time.0);
    let mut earliest = status.last_schedule_time.as_ref().map_or(created, |time| time.0);
    let deadline_seconds = cron_job.spec.starting_deadline_seconds;
    if let (true, Some(deadline_seconds)) = (include_starting_deadline, deadline_seconds) {
        let scheduling_deadline = now.checked_sub(SignedDuration::from_secs(deadline_seconds)).unwrap_or(Timestamp::MIN);
        if scheduling_deadline > earliest {
            earliest = scheduling_deadline;
        }
    }
    let first = schedule.next(earliest).ok_or_else(too_close)?;
    if now < first {
        return Ok(RecentSchedule { earliest, most_recent: None, missed: Missed::None });
    }
    let second = schedule.next(first).ok_or_else(too_close)?;
    if now < second {
        return Ok(RecentSchedule { earliest, most_recent: Some(first), missed: Missed::None });
    }
    let interval_seconds = second.duration_since(first).round(jiff::Unit::Second).map_err(|_| too_close())?.as_secs();
    if interval_seconds < 1 {
        return Err(too_close());
    }
    let elapsed_seconds = now.duration_since(first).as_secs();
    let missed_count = elapsed_seconds / interval_seconds + 1;
    let back_off = SignedDuration::from_secs((missed_count - 2).saturating_mul(interval_seconds));
    let potential_earliest = first.checked_add(back_off).map_err(|_| too_close())?;
    let mut most_recent = None;
    let mut candidate = schedule.next(potential_earliest);
    for _ in 0..MAX_MISSED_SCHEDULE_STEPS {
        match candidate {
            Some(time) if time <= now => {
                most_recent = Some(time);
                candidate = schedule.next(time);
            }
            _ => break,
        }
    }
    let missed = if missed_count > MANY_MISSED_SCHEDULES { Missed::Many } else { Missed::Few };
    Ok(RecentSchedule { earliest, most_recent, missed })
}

/// Upstream `nextScheduleTimeDuration`: until the schedule time after the last one (or after now, when
/// schedules were missed or the schedule is odd), plus 100 ms. `None` when the schedule never fires again.
fn next_schedule_delay(cron_job: &CronJob, status: &CronJobStatus, now: Timestamp, schedule: &Schedule) -> Option<Duration> {
    let base = match most_recent_schedule_time(cron_job, status, now, schedule, false) {
        Err(_) => now,
        Ok(RecentSchedule { most_recent: Some(time), .. }) => time,
        Ok(RecentSchedule { most_recent: None, missed: Missed::None, earliest }) => earliest,
        Ok(RecentSchedule { most_recent: None, .. }) => now,
    };
    let next = schedule.next(base)?.checked_add(NEXT_SCHEDULE_DELTA).ok()?;
    Some(Duration::try_from(next.duration_since(now)).unwrap_or(Duration::ZERO))
}

/// Upstream `getJobFromTemplate2`: the template's labels, annotations and spec, the deterministic name, the
/// scheduled-timestamp annotation and the CronJob as controller.
fn job_from_template(cron_job: &CronJob, scheduled: Timestamp) -> Job {
    let template = cron_job.spec.job_template.clone();
    let template_meta = template.metadata.unwrap_or_default();
    let mut annotations = template_meta.annotations.unwrap_or_default();
    let zone = cron_job.spec.time_zone.as_deref().unwrap_or_default();
    let zone = load_time_zone(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    annotations.insert(SCHEDULED_TIMESTAMP_ANNOTATION.to_string(), rfc3339_in(scheduled, zone));
    let name = cron_job.metadata.name.as_deref().unwrap_or_default();
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(name, scheduled)),
            namespace: cron_job.metadata.namespace.clone(),
            labels: template_meta.labels.filter(|labels| !labels.is_empty()),
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref("batch/v1", "CronJob", &cron_job.metadata)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Go's `time.RFC3339` rendering: `Z` for a zero offset, `±hh:mm` otherwise.
fn rfc3339_in(time: Timestamp, zone: jiff::tz::TimeZone) -> String {
    let zoned = time.to_zoned(zone);
    let offset = if zoned.offset().seconds() == 0 { "Z".to_string() } else { zoned.strftime("%:z").to_string() };
    format!("{}{offset}", zoned.strftime("%Y-%m-%dT%H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{CronJobSpec, JobCondition, JobSpec, JobStatus, JobTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use std::collections::BTreeMap;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn cron_job(schedule: &str, created: &str) -> CronJob {
        CronJob {
            metadata: ObjectMeta {
                name: Some("hello".into()),
                namespace: Some("default".into()),
                uid: Some("cj-uid".into()),
                creation_timestamp: Some(Time(at(created))),
                ..Default::default()
            },
            spec: CronJobSpec {
                schedule: schedule.into(),
                concurrency_policy: Some("Allow".into()),
                successful_jobs_history_limit: Some(3),
                failed_jobs_history_limit: Some(1),
                job_template: JobTemplateSpec {
                    metadata: Some(ObjectMeta { labels: Some(BTreeMap::from([("app".into(), "hello".into())])), ..Default::default() }),
                    spec: Some(JobSpec::default()),
                },
                ..Default::default()
            },
            status: None,
        }
    }

    fn job(name: &str, uid: &str, finished: Option<(&str, &str)>, started: &str) -> Job {
        let conditions = finished.map(|(type_, time)| {
            vec![JobCondition {
                type_: type_.into(),
                status: "True".into(),
                last_transition_time: Some(Time(at(time))),
                ..Default::default()
            }]
        });
        let completion_time = finished.filter(|(type_, _)| *type_ == "Complete").map(|(_, time)| Time(at(time)));
        Job {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(uid.into()),
                owner_references: Some(vec![OwnerReference {
                    api_version: "batch/v1".into(),
                    kind: "CronJob".into(),
                    name: "hello".into(),
                    uid: "cj-uid".into(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                ..Default::default()
            },
            spec: None,
            status: Some(JobStatus { conditions, completion_time, start_time: Some(Time(at(started))), ..Default::default() }),
        }
    }

    fn active(names: &[(&str, &str)]) -> Option<Vec<ObjectReference>> {
        Some(
            names
                .iter()
                .map(|(name, uid)| ObjectReference { name: Some(name.to_string()), uid: Some(uid.to_string()), ..Default::default() })
                .collect(),
        )
    }

    fn created_job(plan: &Plan) -> Option<(&Job, &CronJobStatus)> {
        plan.actions.iter().find_map(|action| match action {
            Action::CreateJob { job, status, .. } => Some((job.as_ref(), status)),
            _ => None,
        })
    }

    fn events(plan: &Plan) -> Vec<(String, String)> {
        plan.actions
            .iter()
            .filter_map(|action| match action {
                Action::Event(event) => Some((event.reason.clone(), event.message.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn creates_the_job_for_the_most_recent_schedule_time() {
        let cj = cron_job("*/5 * * * *", "2024-01-01T00:00:00Z");
        let plan = reconcile(&cj, &[], at("2024-01-01T00:11:30Z"));
        let (job, status) = created_job(&plan).expect("a job");
        let scheduled = at("2024-01-01T00:10:00Z");
        assert_eq!(job.metadata.name.as_deref(), Some(format!("hello-{}", scheduled.as_second() / 60).as_str()));
        assert_eq!(job.metadata.annotations.as_ref().unwrap()[SCHEDULED_TIMESTAMP_ANNOTATION], "2024-01-01T00:10:00Z");
        assert_eq!(job.metadata.labels.as_ref().unwrap()["app"], "hello");
        let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str(), owner.controller), ("CronJob", "cj-uid", Some(true)));
        assert_eq!(status.last_schedule_time, Some(Time(scheduled)));
        // Next look: 00:15 plus 100 ms.
        assert_eq!(plan.requeue_after, Some(Duration::from_millis(3 * 60 * 1000 + 30 * 1000 + 100)));
    }

    #[test]
    fn waits_until_the_first_schedule_time() {
        let cj = cron_job("0 * * * *", "2024-01-01T00:10:00Z");
        let plan = reconcile(&cj, &[], at("2024-01-01T00:20:00Z"));
        assert!(plan.actions.is_empty());
        assert_eq!(plan.requeue_after, Some(Duration::from_millis(40 * 60 * 1000 + 100)));
    }

    #[test]
    fn the_scheduled_annotation_uses_the_time_zone_and_next_time_crosses_daylight_saving() {
        let mut cj = cron_job("30 2 * * *", "2024-03-08T12:00:00Z");
        cj.spec.time_zone = Some("America/New_York".into());
        cj.status = Some(CronJobStatus { last_schedule_time: Some(Time(at("2024-03-09T07:30:00Z"))), ..Default::default() });
        // 02:30 on 2024-03-10 does not exist in New York, so nothing is due then; the next run is on the 11th.
        let plan = reconcile(&cj, &[], at("2024-03-10T12:00:00Z"));
        assert!(created_job(&plan).is_none());
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(18 * 3600 + 30 * 60) + Duration::from_millis(100)));
        let plan = reconcile(&cj, &[], at("2024-03-11T06:30:05Z"));
        let (job, _) = created_job(&plan).expect("a job");
        assert_eq!(job.metadata.annotations.as_ref().unwrap()[SCHEDULED_TIMESTAMP_ANNOTATION], "2024-03-11T02:30:00-04:00");
    }

    #[test]
    fn missed_schedules_and_the_starting_deadline() {
        let mut cj = cron_job("0 * * * *", "2024-01-01T00:00:00Z");
        // Down for ten hours: only the most recent time (10:00) gets a Job.
        let plan = reconcile(&cj, &[], at("2024-01-01T10:30:00Z"));
        assert_eq!(created_job(&plan).unwrap().1.last_schedule_time, Some(Time(at("2024-01-01T10:00:00Z"))));
        // With a 10-minute starting deadline, 10:00 is too late at 10:30.
        cj.spec.starting_deadline_seconds = Some(600);
        let plan = reconcile(&cj, &[], at("2024-01-01T10:30:00Z"));
        assert!(created_job(&plan).is_none());
        assert_eq!(plan.requeue_after, Some(Duration::from_millis(30 * 60 * 1000 + 100)));
        // With a 40-minute deadline it is still in time; the scan starts at the deadline.
        cj.spec.starting_deadline_seconds = Some(2400);
        assert!(created_job(&reconcile(&cj, &[], at("2024-01-01T10:30:00Z"))).is_some());
        // More than 100 missed times: a warning, and still the most recent one runs.
        cj.spec.starting_deadline_seconds = None;
        let plan = reconcile(&cj, &[], at("2024-01-08T00:30:00Z"));
        assert!(events(&plan).iter().any(|(reason, _)| reason == "TooManyMissedTimes"));
        assert_eq!(created_job(&plan).unwrap().1.last_schedule_time, Some(Time(at("2024-01-08T00:00:00Z"))));
    }

    #[test]
    fn a_deadline_shorter_than_the_delay_skips_the_time_silently() {
        let mut cj = cron_job("0 * * * *", "2024-01-01T00:00:00Z");
        cj.spec.starting_deadline_seconds = Some(10);
        cj.status = Some(CronJobStatus { last_schedule_time: Some(Time(at("2024-01-01T09:00:00Z"))), ..Default::default() });
        // The scan starts at the deadline (10:29:50) so 10:00 is not even found: nothing, and no event.
        let plan = reconcile(&cj, &[], at("2024-01-01T10:30:00Z"));
        assert!(plan.actions.is_empty());
    }

    #[test]
    fn concurrency_policies() {
        let running = job("hello-100", "j1", None, "2024-01-01T00:00:00Z");
        let mut cj = cron_job("0 * * * *", "2024-01-01T00:00:00Z");
        cj.status = Some(CronJobStatus {
            active: active(&[("hello-100", "j1")]),
            last_schedule_time: Some(Time(at("2024-01-01T00:00:00Z"))),
            ..Default::default()
        });
        let now = at("2024-01-01T01:00:01Z");
        // Allow: a second Job alongside.
        let plan = reconcile(&cj, std::slice::from_ref(&running), now);
        assert_eq!(created_job(&plan).unwrap().1.active, active(&[("hello-100", "j1")]));
        // Forbid: none.
        cj.spec.concurrency_policy = Some("Forbid".into());
        let plan = reconcile(&cj, std::slice::from_ref(&running), now);
        assert!(created_job(&plan).is_none());
        assert_eq!(
            events(&plan),
            vec![(
                "JobAlreadyActive".into(),
                "Not starting job because prior execution is running and concurrency policy is Forbid".into()
            )]
        );
        // Replace: delete the running one first.
        cj.spec.concurrency_policy = Some("Replace".into());
        let plan = reconcile(&cj, std::slice::from_ref(&running), now);
        assert_eq!(plan.actions[0], Action::DeleteJob { name: "hello-100".into(), uid: "j1".into() });
        assert_eq!(plan.actions[1], Action::Event(Event::normal("SuccessfulDelete", "Deleted job hello-100")));
        let Action::CreateJob { status, status_without_job, .. } = &plan.actions[2] else { panic!("{:?}", plan.actions) };
        assert_eq!(status.active, Some(vec![]));
        assert_eq!(status_without_job.as_ref().unwrap().active, Some(vec![]));
    }

    #[test]
    fn finished_jobs_leave_the_active_list_and_history_is_limited() {
        let mut cj = cron_job("0 * * * *", "2024-01-01T00:00:00Z");
        cj.status = Some(CronJobStatus {
            active: active(&[("hello-5", "j5")]),
            last_schedule_time: Some(Time(at("2024-01-01T05:00:00Z"))),
            ..Default::default()
        });
        let jobs = vec![
            job("hello-1", "j1", Some(("Complete", "2024-01-01T01:01:00Z")), "2024-01-01T01:00:00Z"),
            job("hello-2", "j2", Some(("Complete", "2024-01-01T02:01:00Z")), "2024-01-01T02:00:00Z"),
            job("hello-3", "j3", Some(("Failed", "2024-01-01T03:01:00Z")), "2024-01-01T03:00:00Z"),
            job("hello-4", "j4", Some(("Failed", "2024-01-01T04:01:00Z")), "2024-01-01T04:00:00Z"),
            job("hello-5", "j5", Some(("Complete", "2024-01-01T05:01:00Z")), "2024-01-01T05:00:00Z"),
            job("hello-0", "j0", Some(("Complete", "2024-01-01T00:01:00Z")), "2024-01-01T00:00:00Z"),
        ];
        let plan = reconcile(&cj, &jobs, at("2024-01-01T05:30:00Z"));
        let deleted: Vec<&str> = plan
            .actions
            .iter()
            .filter_map(|action| match action {
                Action::DeleteJob { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        // Four successful (keep 3: drop the oldest), two failed (keep 1).
        assert_eq!(deleted, vec!["hello-0", "hello-3"]);
        assert!(events(&plan).contains(&("SawCompletedJob".into(), "Saw completed job: hello-5, status: Complete".into())));
        let Some(Action::UpdateStatus(status)) = plan.actions.last() else { panic!("{:?}", plan.actions) };
        assert_eq!(status.active, Some(vec![]));
        // hello-5 was still listed active, so its success time is recorded on the next pass, as upstream.
        assert_eq!(status.last_successful_time, Some(Time(at("2024-01-01T02:01:00Z"))));
        assert_eq!(plan.requeue_after, Some(Duration::from_millis(30 * 60 * 1000 + 100)));
    }

    #[test]
    fn unexpected_and_missing_jobs_and_suspension() {
        let mut cj = cron_job("0 * * * *", "2024-01-01T00:00:00Z");
        cj.spec.suspend = Some(true);
        cj.status = Some(CronJobStatus { active: active(&[("hello-9", "j9")]), ..Default::default() });
        let stray = job("hello-7", "j7", None, "2024-01-01T00:00:00Z");
        let plan = reconcile(&cj, &[stray], at("2024-01-01T05:30:00Z"));
        assert_eq!(
            events(&plan),
            vec![
                ("UnexpectedJob".into(), "Saw a job that the controller did not create or forgot: hello-7".into()),
                ("MissingJob".into(), "Active job went missing: hello-9".into()),
            ]
        );
        assert!(created_job(&plan).is_none(), "suspended");
        assert_eq!(plan.requeue_after, None);
    }

    #[test]
    fn schedule_problems_are_reported() {
        let plan = reconcile(&cron_job("61 * * * *", "2024-01-01T00:00:00Z"), &[], at("2024-01-01T05:30:00Z"));
        assert_eq!(
            events(&plan),
            vec![("UnparseableSchedule".into(), "unparseable schedule: \"61 * * * *\" : end of range (61) above maximum (59): 61".into())]
        );
        let plan = reconcile(&cron_job("0 0 30 2 *", "2024-01-01T00:00:00Z"), &[], at("2024-01-01T05:30:00Z"));
        assert_eq!(
            events(&plan),
            vec![(
                "InvalidSchedule".into(),
                "invalid schedule: 0 0 30 2 * : time difference between two schedules is less than 1 second".into()
            )]
        );
        let mut cj = cron_job("0 * * * *", "2024-01-01T00:00:00Z");
        cj.spec.time_zone = Some("Mars/Olympus".into());
        assert_eq!(
            events(&reconcile(&cj, &[], at("2024-01-01T05:30:00Z"))),
            vec![("UnknownTimeZone".into(), "invalid timeZone: \"Mars/Olympus\": unknown time zone Mars/Olympus".into())]
        );
        let plan = reconcile(&cron_job("TZ=Asia/Tokyo 0 9 * * *", "2024-01-01T00:00:00Z"), &[], at("2024-01-02T00:00:30Z"));
        assert_eq!(events(&plan)[0].0, "UnsupportedSchedule");
        assert!(created_job(&plan).is_some(), "a schedule with its own zone still runs");
    }

    #[test]
    fn an_already_created_time_is_not_created_twice() {
        let mut cj = cron_job("0 * * * *", "2024-01-01T00:00:00Z");
        cj.status = Some(CronJobStatus { last_schedule_time: Some(Time(at("2024-01-01T05:00:00Z"))), ..Default::default() });
        let plan = reconcile(&cj, &[], at("2024-01-01T05:30:00Z"));
        assert!(plan.actions.is_empty());
        assert_eq!(plan.requeue_after, Some(Duration::from_millis(30 * 60 * 1000 + 100)));
    }

    #[test]
    fn every_schedules_run_at_fixed_intervals_from_creation() {
        let cj = cron_job("@every 90s", "2024-01-01T00:00:10Z");
        let plan = reconcile(&cj, &[], at("2024-01-01T00:05:00Z"));
        // 00:01:40, 00:03:10, 00:04:40 ...
        assert_eq!(created_job(&plan).unwrap().1.last_schedule_time, Some(Time(at("2024-01-01T00:04:40Z"))));
        assert_eq!(plan.requeue_after, Some(Duration::from_millis(70 * 1000 + 100)));
    }
}
