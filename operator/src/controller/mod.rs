//! The controller: watches DiceServices and every owned kind, and reconciles
//! validate → build → apply → status, writing status only when it changed.

pub mod apply;
mod converge;
pub mod copies;
pub mod finalizer;
mod held;
pub mod lists;
pub mod observed;
pub mod ownership;
pub mod retry;
pub mod spec_changes;
pub mod status_writes;
pub mod watches;

use crate::crd::{CachedDiceService, DiceService};
use crate::events::Events;
use crate::metrics::{ErrorLabels, OperatorMetrics, ReconcileMeasurement};
use crate::object_key::ObjectKey;
use crate::secrets::SecretKeys;
use crate::served::ServedKinds;
use crate::status;
use crate::validate::{Defaults, validate};
use converge::{Decision, converge};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Resource, ResourceExt};
use lists::{ListStrategy, Lists};
use observed::ObservedChildren;
use retry::Backoffs;
use spec_changes::SpecChanges;
use status_writes::StatusWrites;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use watches::ApiScope;

/// Even with no events, re-check every object this often (repairs drift the watches missed).
const RESYNC: Duration = Duration::from_secs(300);
/// How soon to look again for what no watch reports: a Secret alerting refers to that does not
/// exist yet, or somebody else's object under a child's name that may have been removed.
const RECHECK: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kubernetes API request failed: {0}")]
    Api(#[from] kube::Error),
    /// The API server sent a DiceService its own schema does not describe.
    #[error("the cached DiceService does not parse: {0}")]
    Decode(#[from] crate::crd::ExpandError),
}

impl ReconcileError {
    /// Low-cardinality label for `dice_operator_reconcile_errors_total`.
    pub fn category(&self) -> &'static str {
        match self {
            ReconcileError::Api(kube::Error::Api(status)) => match status.code {
                409 => "conflict",
                404 => "not_found",
                422 => "invalid",
                429 => "throttled",
                500..=599 => "server",
                _ => "api",
            },
            ReconcileError::Api(_) => "transport",
            ReconcileError::Decode(_) => "decode",
        }
    }
}

pub struct Context {
    pub client: Client,
    pub defaults: Defaults,
    pub metrics: Arc<OperatorMetrics>,
    pub events: Events,
    /// Children as the owned-kind watches see them; empty outside [`run`].
    observed: ObservedChildren,
    /// Prometheus Operator kinds the cluster serves; none outside [`run`].
    pub served: ServedKinds,
    /// Whether Secrets that alerting and history refer to are read to report missing ones
    /// (`--check-secrets`); set by [`run`] from [`Settings`].
    check_secrets: bool,
    /// Failing objects and their retry backoff.
    failures: Backoffs,
    /// Key names of the Secrets DiceServices refer to, read in the last few seconds.
    secret_keys: SecretKeys,
    /// Status writes the DiceService watch has not shown yet.
    status_writes: Arc<StatusWrites>,
    /// Which DiceService events start a reconcile.
    spec_changes: Arc<SpecChanges>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// `instance` names this replica in the Events it writes (the pod name).
    pub fn new(
        client: Client,
        defaults: Defaults,
        metrics: Arc<OperatorMetrics>,
        instance: Option<String>,
    ) -> Self {
        Self {
            events: Events::new(client.clone(), instance),
            client,
            defaults,
            metrics,
            observed: ObservedChildren::none(),
            served: ServedKinds::default(),
            check_secrets: true,
            failures: Backoffs::default(),
            secret_keys: SecretKeys::default(),
            status_writes: Arc::default(),
            spec_changes: Arc::default(),
        }
    }
}

/// [`reconcile`] for the DiceService as the controller caches it.
pub async fn reconcile_cached(
    service: Arc<CachedDiceService>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    match service.expand() {
        Ok(service) => reconcile(Arc::new(service), ctx).await,
        Err(error) => {
            // Measured like every reconcile: an `error`, of category `decode`.
            let _measured = ReconcileMeasurement::start(&ctx.metrics);
            Err(ReconcileError::Decode(error))
        }
    }
}

#[tracing::instrument(skip_all, fields(namespace = service.namespace().unwrap_or_default(), name = service.name_any()))]
pub async fn reconcile(
    service: Arc<DiceService>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let mut measured = ReconcileMeasurement::start(&ctx.metrics);
    let service = ctx.status_writes.latest(service);
    let now = Time(Timestamp::now());
    if service.metadata.deletion_timestamp.is_some() {
        finalizer::finalize(&ctx.client, &service, &ctx.observed, &ctx.served).await?;
        ctx.failures.forget(&ObjectKey::of(&*service));
        measured.set_result("deleted");
        return Ok(Action::await_change());
    }
    let decision = match validate(&service, &ctx.defaults) {
        Err(crate::Error::InvalidSpec(message)) => {
            tracing::warn!(%message, "invalid DiceService; waiting for the spec to change");
            Decision {
                status: status::degraded(&service, &message, &now),
                next: Action::await_change(),
                applied: String::new(),
                result: "degraded",
            }
        }
        Ok(validated) => converge(&service, &validated, &ctx, &now).await?,
    };
    if service.status.as_ref() != Some(&decision.status) {
        ctx.events
            .publish(
                &service,
                service.status.as_ref(),
                &decision.status,
                &decision.applied,
            )
            .await;
        ctx.status_writes
            .write(&ctx.client, &service, decision.status)
            .await?;
    }
    ctx.failures.forget(&ObjectKey::of(&*service));
    measured.set_result(decision.result);
    Ok(decision.next)
}

/// Whether the controller's store still holds the DiceService `key`.
fn store_has(store: &reflector::Store<CachedDiceService>, key: &ObjectKey) -> bool {
    store
        .get(&reflector::ObjectRef::new(key.name()).within(key.namespace()))
        .is_some()
}

/// Transient failures retry with exponential backoff ([`Backoffs`]).
pub fn error_policy<K: Resource>(
    service: Arc<K>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Action {
    // The reconcile's own measurement counted it as `error`; here, its category.
    let category = error.category();
    ctx.metrics
        .errors
        .get_or_create(&ErrorLabels { category })
        .inc();
    let delay = ctx
        .failures
        .failed(&ObjectKey::of(&*service), std::time::Instant::now());
    tracing::warn!(name = service.name_any(), %error, category, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// How the controller runs (from the command line).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Watch only this namespace; `None` watches all.
    pub namespace: Option<String>,
    /// Reconciles in flight at once; bounds memory and API bursts when thousands of objects
    /// arrive together.
    pub concurrency: u16,
    /// Read the Secrets a DiceService refers to, to name missing ones in its status. Off, the
    /// operator needs no Secret permission at all; a missing Secret then shows as pods that
    /// cannot start.
    pub check_secrets: bool,
    /// How the watches list what exists when they start.
    pub list_strategy: ListStrategy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            namespace: None,
            concurrency: 16,
            check_secrets: true,
            list_strategy: ListStrategy::Auto,
        }
    }
}

/// Runs one controller per watched namespace, each with its own watches and state (so the
/// operator needs rights only in those namespaces), or one for all namespaces when the list is
/// empty, until `shutdown` resolves.
pub async fn run_scoped(
    new_context: impl Fn() -> Context,
    namespaces: &[String],
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    if namespaces.is_empty() {
        return run(new_context(), settings, shutdown).await;
    }
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let runs = namespaces.iter().map(|namespace| {
        let settings = Settings {
            namespace: Some(namespace.clone()),
            ..settings.clone()
        };
        let (ctx, stop) = (new_context(), shutdown.clone());
        async move { run(ctx, &settings, stop).await }
    });
    futures::future::join_all(runs).await;
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Context,
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let scope = match settings.namespace.clone() {
        Some(namespace) => ApiScope::Namespace(client.clone(), namespace),
        None => ApiScope::All(client.clone()),
    };
    let served = ctx.served.clone();
    let lists = Lists::choose(&scope.api::<CachedDiceService>(), settings.list_strategy).await;
    let (stores, child_changes) = watches::children(&scope, &served, lists);
    let ctx = Arc::new(Context {
        observed: ObservedChildren {
            stores,
            watched: true,
            schemas: Arc::default(),
        },
        check_secrets: settings.check_secrets,
        ..ctx
    });
    let discovery = tokio::spawn(watches::discovery_loop(client, served.clone()));
    // Status-only changes (our own status writes among them) do not trigger a reconcile; child
    // events still do, which is how Deployment readiness reaches the status.
    let (reader, writer) = reflector::store();
    let status_writes = ctx.status_writes.clone();
    let spec_changes = ctx.spec_changes.clone();
    let trigger = watcher::watcher(scope.api::<CachedDiceService>(), lists.config())
        .default_backoff()
        .inspect_ok(move |event| status_writes.observe(event))
        .modify(trim)
        .reflect(writer)
        .try_filter_map(move |event| futures::future::ready(Ok(spec_changes.admit(event))));
    let config = controller::Config::default().concurrency(settings.concurrency);
    let controller = Controller::for_stream(trigger, reader)
        .with_config(config)
        .reconcile_on(child_changes)
        .reconcile_all_on(watches::served_changes(&served))
        .graceful_shutdown_on(shutdown);
    let store = controller.store();
    let held = tokio::spawn(held::report(ctx.clone(), store.clone()));
    let pruning = ctx.clone();
    controller
        .run(reconcile_cached, error_policy, ctx)
        .for_each(|outcome| {
            // A DiceService deleted while failing never succeeds again: forget its failures.
            pruning.failures.retain(|key| store_has(&store, key));
            if let Err(error) = outcome {
                tracing::debug!(%error, "controller event");
            }
            futures::future::ready(())
        })
        .await;
    held.abort();
    discovery.abort();
}

/// Drops what no reconcile reads from the cached DiceServices: managedFields, labels and
/// annotations (among them the copy of the whole object `kubectl apply` keeps), whose size and
/// number only their author chooses.
fn trim(service: &mut CachedDiceService) {
    service.metadata.managed_fields = None;
    service.metadata.annotations = None;
    service.metadata.labels = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_diceservice_keeps_no_labels_annotations_or_managed_fields() {
        let many: serde_json::Map<String, serde_json::Value> = (0..880)
            .map(|i| (format!("note-{i}"), serde_json::json!("x".repeat(1000))))
            .collect();
        let mut cached: CachedDiceService = serde_json::from_value(serde_json::json!({
            "apiVersion": "dice.dev/v1alpha1", "kind": "DiceService",
            "metadata": {"name": "dice", "namespace": "a", "labels": {"team": "a"},
                "annotations": many, "managedFields": [{"manager": "kubectl"}]},
            "spec": {},
        }))
        .expect("decodes");
        trim(&mut cached);
        let meta = &cached.metadata;
        assert_eq!(
            (&meta.labels, &meta.annotations, &meta.managed_fields),
            (&None, &None, &None)
        );
        assert_eq!(meta.name.as_deref(), Some("dice"));
    }
}
