//! Leader election through a coordination.k8s.io Lease, with client-go's rules: a candidate takes the Lease when
//! it is free or when its record has not changed for `lease_duration` as measured on the candidate's own clock
//! (so clock skew between hosts does not matter); the leader renews every `retry_period` and stops leading when
//! it could not renew within `renew_deadline`. Every write is a compare-and-swap on the Lease's resourceVersion,
//! so two candidates never both win. With the defaults a surviving copy takes over within 14 s of the leader's
//! death; a leader that stops cleanly releases the Lease so the next takes over at its next try.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};

use super::events::{reference_to, EventRecorder, Severity};

/// Where the Lease lives and how it is held.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    /// The Lease's name: the component (`kube-controller-manager`, `kube-scheduler`).
    pub name: String,
    /// This process, as `holderIdentity`.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// The defaults, shorter than client-go's 15 s / 10 s / 2 s so that a takeover (lease duration plus up to
    /// two retry periods) stays within 15 s.
    pub fn new(name: &str, identity: &str) -> Self {
        LeaseConfig {
            namespace: "kube-system".into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(10),
            renew_deadline: Duration::from_secs(8),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Waits to lead, runs `lead` while leading, and stops it (by dropping it) when leadership is lost, then waits to
/// lead again. Returns only if `lead` finishes by itself.
pub async fn run_when_leader<F, Fut>(client: kube::Client, config: LeaseConfig, events: EventRecorder, mut lead: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let leases: Api<Lease> = Api::namespaced(client, &config.namespace);
    let mut elector = Elector { leases, config, observed: None };
    loop {
        let lease = elector.acquire().await;
        tracing::info!(lease = %elector.config.name, identity = %elector.config.identity, "became leader");
        events
            .record(
                &reference_to(&lease),
                Severity::Normal,
                "LeaderElection",
                "LeaderElection",
                format!("{} became leader", elector.config.identity),
            )
            .await;
        tokio::select! {
            () = lead() => {
                elector.release().await;
                return;
            }
            () = elector.keep() => {
                tracing::warn!(lease = %elector.config.name, "lost the lease; stopped leading");
            }
        }
    }
}

struct Elector {
    leases: Api<Lease>,
    config: LeaseConfig,
    /// The other holder's record as last seen, and when it was first seen unchanged.
    observed: Option<(String, Instant)>,
}

impl Elector {
    async fn acquire(&mut self) -> Lease {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(Some(lease)) => return lease,
                Ok(None) => {}
                Err(error) => tracing::debug!(%error, lease = %self.config.name, "could not take the lease"),
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// Renews until a renewal fails for longer than the renew deadline; returns when leadership is lost.
    async fn keep(&mut self) {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            match self.try_acquire_or_renew().await {
                Ok(Some(_)) => last_renewed = Instant::now(),
                Ok(None) => return,
                Err(error) => {
                    tracing::debug!(%error, lease = %self.config.name, "could not renew the lease");
                    if last_renewed.elapsed() >= self.config.renew_deadline {
                        return;
                    }
                }
            }
        }
    }

    /// One attempt: `Some(lease)` when this process holds the Lease afterwards, `None` when another does.
    async fn try_acquire_or_renew(&mut self) -> Result<Option<Lease>, kube::Error> {
        let now = MicroTime(jiff::Timestamp::now());
        let duration_seconds = i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.leases.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.config.name.clone()), ..ObjectMeta::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.config.identity.clone()),
                    lease_duration_seconds: Some(duration_seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.leases.create(&PostParams::default(), &lease).await {
                Ok(created) => Ok(Some(created)),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
                Err(error) => Err(error),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let held_by_me = holder == self.config.identity;
        if !held_by_me && !holder.is_empty() {
            // The record (holder and renew time) as a fingerprint: any change restarts the expiry clock.
            let record = format!("{holder}/{:?}", spec.renew_time.as_ref().map(|t| t.0));
            let held_for = match &self.observed {
                Some((seen, since)) if *seen == record => since.elapsed(),
                _ => {
                    self.observed = Some((record, Instant::now()));
                    Duration::ZERO
                }
            };
            let holder_duration = spec.lease_duration_seconds.map_or(self.config.lease_duration, |s| Duration::from_secs(s.max(0) as u64));
            if held_for < holder_duration {
                return Ok(None);
            }
        }
        if !held_by_me {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(self.config.identity.clone());
        spec.lease_duration_seconds = Some(duration_seconds);
        spec.renew_time = Some(now);
        match self.leases.replace(&self.config.name, &PostParams::default(), &lease).await {
            Ok(updated) => {
                self.observed = None;
                Ok(Some(updated))
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Gives the Lease up so the next candidate need not wait for it to expire.
    async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.leases.get_opt(&self.config.name).await else { return };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        if let Err(error) = self.leases.replace(&self.config.name, &PostParams::default(), &lease).await {
            tracing::debug!(%error, lease = %self.config.name, "could not release the lease");
        }
    }
}
