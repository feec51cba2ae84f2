//! Leader election through a `coordination.k8s.io/v1` Lease, so two replicas are safe: one
//! reconciles, the other waits. Follows client-go's rules: a lease is free when it has no holder
//! or its record has not changed for `lease_duration` *as this replica observed it* (so clocks
//! that disagree between nodes do not matter); writes use the lease's resourceVersion, so two
//! candidates racing for it cannot both win; the holder renews every `retry_period` and gives up
//! when it could not renew for `renew_deadline`; on shutdown it releases the lease so the other
//! replica takes over at its next try instead of waiting for expiry.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    /// This replica's name in `holderIdentity` (the pod name, made unique).
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

/// Why holding the lease ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// Another replica holds it now.
    TakenOver,
    /// No renewal succeeded within the renew deadline.
    RenewDeadline,
}

#[derive(Debug)]
pub struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
    /// The last record seen and when this replica first saw it.
    observed: Mutex<Option<SeenRecord>>,
}

/// A lease record as this replica saw it, by its own clock.
#[derive(Debug)]
struct SeenRecord {
    holder: String,
    renewed: Option<Timestamp>,
    first_seen: Instant,
}

impl Elector {
    pub fn new(client: kube::Client, settings: LeaseSettings) -> Self {
        Self {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            observed: Mutex::new(None),
        }
    }

    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    /// Takes the lease if it is free or ours (renewing it); `Ok(false)` when another replica
    /// holds it or won a race for it.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let Some(current) = self.api.get_opt(&self.settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, now, 0)),
            };
            return won(self.api.create(&PostParams::default(), &lease).await);
        };
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.settings.identity;
        if !ours && !holder.is_empty() && !self.expired(&holder, &spec) {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        let spec = if ours {
            let acquired = spec.acquire_time.map_or(now, |t| t.0);
            self.spec(acquired, now, transitions)
        } else {
            self.spec(now, now, transitions + 1)
        };
        let lease = Lease {
            spec: Some(spec),
            ..current
        };
        won(self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await)
    }

    /// Gives the lease up (empty holder), if it is still ours.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(current) = self.api.get_opt(&self.settings.name).await? else {
            return Ok(());
        };
        let spec = current.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return Ok(());
        }
        let now = MicroTime(Timestamp::now());
        let released = LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            ..spec
        };
        let lease = Lease {
            spec: Some(released),
            ..current
        };
        self.api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
            .map(|_| ())
    }

    /// Tries every retry period until the lease is ours.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "cannot read or take the leader lease"),
            }
            tokio::time::sleep(self.settings.retry_period).await;
        }
    }

    /// Renews every retry period while the lease is ours; returns why it stopped being ours.
    pub async fn hold(&self) -> Lost {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.settings.retry_period).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewed = Instant::now(),
                // A lost race (409) while the lease still names us is retried like an error;
                // another holder means someone else leads now, so stop at once.
                Ok(false) => match self.holder().await {
                    Ok(holder) if holder != self.settings.identity => return Lost::TakenOver,
                    Ok(_) => {
                        tracing::warn!("renewing the leader lease raced another write; retrying")
                    }
                    Err(error) => tracing::warn!(%error, "cannot read the leader lease"),
                },
                Err(error) => tracing::warn!(%error, "cannot renew the leader lease"),
            }
            if last_renewed.elapsed() >= self.settings.renew_deadline {
                return Lost::RenewDeadline;
            }
        }
    }

    /// Who the lease names now (empty when released or absent).
    async fn holder(&self) -> Result<String, kube::Error> {
        let lease = self.api.get_opt(&self.settings.name).await?;
        Ok(lease
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .unwrap_or_default())
    }

    fn spec(&self, acquired: Timestamp, renewed: Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.settings.lease_duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(renewed)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Whether `holder`'s record has stood unchanged for its lease duration, by our clock.
    fn expired(&self, holder: &str, spec: &LeaseSpec) -> bool {
        let renewed = spec.renew_time.as_ref().map(|t| t.0);
        let duration = Duration::from_secs(
            u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
        );
        let mut observed = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        let seen_at = match &*observed {
            Some(seen) if seen.holder == holder && seen.renewed == renewed => seen.first_seen,
            _ => {
                let now = Instant::now();
                *observed = Some(SeenRecord {
                    holder: holder.to_owned(),
                    renewed,
                    first_seen: now,
                });
                now
            }
        };
        seen_at.elapsed() >= duration
    }
}

/// A 409 means another candidate wrote the lease first: not an error, just not ours.
fn won(result: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

/// How a term ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The process was asked to stop (before or while leading); the lease was released.
    Shutdown,
    /// Leadership was lost; the caller should exit so a fresh replica can campaign.
    Lost(Lost),
}

type StopSignal = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + Sync>>;

/// Waits for the lease (or `shutdown`), then runs `work` with a future that resolves when it
/// must stop: on `shutdown` (then the lease is released) or when leadership is lost.
/// `leading` is told each change, for the leader gauge.
pub async fn run_elected<W, Fut>(
    elector: std::sync::Arc<Elector>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    leading: impl Fn(bool),
    work: W,
) -> Ended
where
    W: FnOnce(StopSignal) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let settings = elector.settings().clone();
    let mut shutdown = Box::pin(shutdown);
    tracing::info!(identity = %settings.identity, lease = %format!("{}/{}", settings.namespace, settings.name), "waiting for leadership");
    tokio::select! {
        () = elector.acquire() => {}
        () = &mut shutdown => return Ended::Shutdown,
    }
    leading(true);
    tracing::info!(identity = %settings.identity, "became leader");
    let reason = std::sync::Arc::new(Mutex::new(Ended::Shutdown));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let holder = {
        let (elector, reason) = (elector.clone(), reason.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown => {}
                lost = elector.hold() => {
                    *reason.lock().unwrap_or_else(|p| p.into_inner()) = Ended::Lost(lost);
                }
            }
            let _ = stop.send(());
        })
    };
    work(Box::pin(async move {
        let _ = stopped.await;
    }))
    .await;
    holder.abort();
    leading(false);
    let ended = *reason.lock().unwrap_or_else(|p| p.into_inner());
    match ended {
        Ended::Shutdown => match elector.release().await {
            Ok(()) => tracing::info!(identity = %settings.identity, "released leadership"),
            Err(error) => {
                tracing::warn!(%error, "cannot release the leader lease; the other replica takes over when it expires")
            }
        },
        Ended::Lost(lost) => tracing::error!(?lost, "lost leadership; stopped reconciling"),
    }
    ended
}
