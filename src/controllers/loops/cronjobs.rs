//! The CronJob controller: a kube-rs controller triggered by CronJobs and the Jobs they control; each sync
//! hands the CronJob and its namespace's Jobs to `controllers::cronjob::reconcile`, carries the plan out in
//! order (stopping at the first failed step) and looks again at the next schedule time. CronJobs are not in
//! [`Shared`], so this loop keeps its own cache of them; Jobs come from the shared cache, and an active Job the
//! cache does not show yet is read from the API server, as upstream does before calling a Job missing.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use kube::api::{Api, DeleteParams, PostParams, Preconditions, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};

use super::pods::api_message;
use super::{error_policy, Informer, LoopError, Shared};
use crate::control::events::{reference_to, EventRecorder, Severity};
use crate::controllers::cronjob::{self, job_reference, Action as Step};
use crate::controllers::event::{Event, EventType};
use crate::controllers::podutil::controller_of;

const COMPONENT: &str = "cronjob-controller";
/// How often a CronJob is synced even without a change or a schedule time coming up.
const RESYNC_INTERVAL: Duration = Duration::from_secs(300);
/// How soon a CronJob is looked at again after a conflict (the watch brings the newer object meanwhile).
const CONFLICT_RECHECK: Duration = Duration::from_secs(1);

struct Context {
    shared: Arc<Shared>,
    recorder: EventRecorder,
}

pub async fn run(shared: Arc<Shared>) {
    let cron_jobs = Informer::<CronJob>::new(shared.client.clone());
    let context = Arc::new(Context { recorder: shared.recorder(COMPONENT), shared: shared.clone() });
    let controller = Controller::for_shared_stream(cron_jobs.subscribe(), cron_jobs.store.clone())
        .owns_shared_stream(shared.jobs.subscribe())
        .run(sync, error_policy, context)
        .for_each(|_| futures::future::ready(()));
    futures::join!(cron_jobs.drive(), controller);
}

async fn sync(cron_job: Arc<CronJob>, context: Arc<Context>) -> Result<Action, LoopError> {
    let shared = &context.shared;
    shared.jobs.store.wait_until_ready().await.map_err(|_| LoopError::Failed("the Job cache stopped before it was filled".into()))?;
    let namespace = cron_job.metadata.namespace.clone().unwrap_or_default();
    let job_api: Api<Job> = Api::namespaced(shared.client.clone(), &namespace);
    let mut jobs = shared.jobs.in_namespace(&namespace);
    let unseen: Vec<_> = cron_job
        .status
        .iter()
        .flat_map(|status| status.active.iter().flatten())
        .filter(|reference| !jobs.iter().any(|job| job.metadata.uid == reference.uid))
        .cloned()
        .collect();
    for reference in unseen {
        let Some(name) = reference.name.as_deref() else { continue };
        if let Some(job) = job_api.get_opt(name).await?.filter(|job| job.metadata.uid == reference.uid) {
            jobs.push(job);
        }
    }

    let plan = cronjob::reconcile(&cron_job, &jobs, jiff::Timestamp::now());
    let mut executor = Executor {
        context: &context,
        cron_job: (*cron_job).clone(),
        jobs: job_api,
        cron_jobs: Api::namespaced(shared.client.clone(), &namespace),
    };
    for step in plan.actions {
        match executor.carry_out(&step).await {
            Ok(()) => {}
            // A newer CronJob (or Job) is on its way through the watch; act on that.
            Err(error) if matches!(&error, kube::Error::Api(status) if status.code == 409) => {
                tracing::debug!(%error, "cronjob sync met a newer object; looking again");
                return Ok(Action::requeue(CONFLICT_RECHECK));
            }
            Err(error) => {
                let message = api_message(&error);
                if let Some(event) = step.failure_event(&message) {
                    executor.record(event).await;
                }
                return Err(LoopError::Failed(message));
            }
        }
    }
    Ok(Action::requeue(plan.requeue_after.map_or(RESYNC_INTERVAL, |after| after.min(RESYNC_INTERVAL))))
}

struct Executor<'a> {
    context: &'a Context,
    /// The CronJob as last read or written, so that each status write carries the previous one's version.
    cron_job: CronJob,
    jobs: Api<Job>,
    cron_jobs: Api<CronJob>,
}

impl Executor<'_> {
    async fn carry_out(&mut self, step: &Step) -> Result<(), kube::Error> {
        match step {
            Step::DeleteJob { name, uid } => {
                let params = DeleteParams {
                    propagation_policy: Some(PropagationPolicy::Background),
                    preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                    ..DeleteParams::default()
                };
                match self.jobs.delete(name, &params).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
                    Err(error) => Err(error),
                }
            }
            Step::CreateJob { job, status, status_without_job } => self.create_job(job, status, status_without_job.as_ref()).await,
            Step::Event(event) => {
                self.record(event.clone()).await;
                Ok(())
            }
            Step::UpdateStatus(status) => self.write_status(status.clone()).await,
        }
    }

    /// Creates the scheduled Job and records it as active; a Job of that name already there is recorded when it
    /// is this CronJob's (an earlier sync created it but did not get to record it).
    async fn create_job(
        &mut self,
        job: &Job,
        status: &CronJobStatus,
        status_without_job: Option<&CronJobStatus>,
    ) -> Result<(), kube::Error> {
        let mut status = status.clone();
        match self.jobs.create(&PostParams::default(), job).await {
            Ok(created) => {
                let name = created.metadata.name.as_deref().unwrap_or_default();
                self.record(Event::normal("SuccessfulCreate", format!("Created job {name}"))).await;
                status.active.get_or_insert_with(Vec::new).push(job_reference(&created));
                self.write_status(status).await
            }
            Err(kube::Error::Api(error)) if error.code == 409 => {
                let name = job.metadata.name.as_deref().unwrap_or_default();
                let existing = self.jobs.get_opt(name).await?;
                let cron_job_uid = self.cron_job.metadata.uid.as_ref();
                let unrecorded_own = existing.filter(|existing| {
                    let own = controller_of(&existing.metadata).is_some_and(|owner| Some(&owner.uid) == cron_job_uid);
                    let recorded = status.active.iter().flatten().any(|reference| reference.uid == existing.metadata.uid);
                    own && !recorded
                });
                match (unrecorded_own, status_without_job) {
                    (Some(existing), _) => {
                        status.active.get_or_insert_with(Vec::new).push(job_reference(&existing));
                        self.write_status(status).await
                    }
                    (None, Some(status_without_job)) => self.write_status(status_without_job.clone()).await,
                    (None, None) => Ok(()),
                }
            }
            Err(error) => Err(error),
        }
    }

    async fn write_status(&mut self, mut status: CronJobStatus) -> Result<(), kube::Error> {
        // Upstream's empty active list is omitted from the wire form.
        status.active = status.active.filter(|active| !active.is_empty());
        let mut updated = self.cron_job.clone();
        updated.status = Some(status);
        let name = self.cron_job.metadata.name.clone().unwrap_or_default();
        match self.cron_jobs.replace_status(&name, &PostParams::default(), &updated).await {
            Ok(written) => {
                self.cron_job = written;
                Ok(())
            }
            // Deleted meanwhile: nothing left to record on.
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn record(&self, event: Event) {
        let severity = if event.type_ == EventType::Warning { Severity::Warning } else { Severity::Normal };
        self.context.recorder.record(&reference_to(&self.cron_job), severity, &event.reason, &event.reason, event.message).await;
    }
}
