//! The controller: watches DiceServices and every owned kind, and reconciles
//! validate → build → apply → status, writing status only when it changed.

use crate::crd::DiceService;
use crate::metrics::{ErrorLabels, OperatorMetrics, ResultLabels};
use crate::observed::ObservedChildren;
use crate::validate::validate;
use crate::{FIELD_MANAGER, apply, children, status};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::{PredicateConfig, WatchStreamExt, reflector, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Even with no events, re-check every object this often (repairs drift the watches missed).
const RESYNC: Duration = Duration::from_secs(300);
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Children carry this label; the owned-kind watches select on it.
const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=dice-operator";

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kubernetes API request failed: {0}")]
    Api(#[from] kube::Error),
    #[error(transparent)]
    Operator(#[from] crate::Error),
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
            ReconcileError::Operator(error) => error.category(),
        }
    }
}

pub struct Context {
    pub client: Client,
    pub workload_image: String,
    pub metrics: Arc<OperatorMetrics>,
    /// Children as the owned-kind watches see them; empty outside [`run`].
    observed: ObservedChildren,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("workload_image", &self.workload_image)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(client: Client, workload_image: String, metrics: Arc<OperatorMetrics>) -> Self {
        Self {
            client,
            workload_image,
            metrics,
            observed: ObservedChildren::none(),
            failures: Mutex::default(),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn object_key(service: &DiceService) -> String {
    format!(
        "{}/{}",
        service.namespace().unwrap_or_default(),
        service.name_any()
    )
}

#[tracing::instrument(skip_all, fields(namespace = service.namespace().unwrap_or_default(), name = service.name_any()))]
pub async fn reconcile(
    service: Arc<DiceService>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let now = Time(Timestamp::now());
    let (desired_status, action, result) = match validate(&service, &ctx.workload_image) {
        Err(crate::Error::InvalidSpec(message)) => {
            tracing::warn!(%message, "invalid DiceService; waiting for the spec to change");
            (
                status::degraded(&service, &message, &now),
                Action::await_change(),
                "degraded",
            )
        }
        Err(other) => return Err(other.into()),
        Ok(validated) => {
            ctx.observed.wait_for_first_list().await;
            let children = children::build(&validated);
            let applied = apply::apply_children(&ctx.client, &children, &ctx.observed).await?;
            ctx.metrics.child_applies.inc_by(applied.sent as u64);
            let observed = status::observed(&service, &validated, &applied.deployment, &now);
            (observed, Action::requeue(RESYNC), "success")
        }
    };
    if service.status.as_ref() != Some(&desired_status) {
        let api: Api<DiceService> =
            Api::namespaced(ctx.client.clone(), &service.namespace().unwrap_or_default());
        let patch = json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService", "status": desired_status});
        api.patch_status(
            &service.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    }
    ctx.failures().remove(&object_key(&service));
    ctx.metrics
        .reconciliations
        .get_or_create(&ResultLabels { result })
        .inc();
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    Ok(action)
}

/// Transient failures retry with exponential backoff: 1 s, 2 s, 4 s … up to 5 minutes.
pub fn error_policy(
    service: Arc<DiceService>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Action {
    let category = error.category();
    ctx.metrics
        .reconciliations
        .get_or_create(&ResultLabels { result: "error" })
        .inc();
    ctx.metrics
        .errors
        .get_or_create(&ErrorLabels { category })
        .inc();
    let failures = {
        let mut failures = ctx.failures();
        let count = failures.entry(object_key(&service)).or_insert(0);
        *count = count.saturating_add(1);
        *count
    };
    let delay =
        BACKOFF_START.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)));
    let delay = delay.min(BACKOFF_MAX);
    tracing::warn!(name = service.name_any(), %error, category, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Changes when the spec changes (generation) or the object is recreated under the same name
/// (uid), unlike `predicates::generation` alone.
fn spec_identity(service: &DiceService) -> Option<u64> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (service.uid(), service.metadata.generation).hash(&mut hasher);
    Some(hasher.finish())
}

/// How the controller runs (from the command line).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Watch only this namespace; `None` watches all.
    pub namespace: Option<String>,
    /// Reconciles in flight at once; bounds memory and API bursts when thousands of objects
    /// arrive together.
    pub concurrency: u16,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            namespace: None,
            concurrency: 16,
        }
    }
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Context,
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let (services, deployments, kube_services, accounts) = match settings.namespace.as_deref() {
        Some(ns) => (
            Api::<DiceService>::namespaced(client.clone(), ns),
            Api::<Deployment>::namespaced(client.clone(), ns),
            Api::<Service>::namespaced(client.clone(), ns),
            Api::<ServiceAccount>::namespaced(client, ns),
        ),
        None => (
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client),
        ),
    };
    let owned = || watcher::Config::default().labels(MANAGED_SELECTOR);
    let (deployment_cache, deployment_events) = owned_watch(deployments, owned());
    let (service_cache, service_events) = owned_watch(kube_services, owned());
    let (account_cache, account_events) = owned_watch(accounts, owned());
    let ctx = Arc::new(Context {
        observed: ObservedChildren {
            deployments: deployment_cache,
            services: service_cache,
            accounts: account_cache,
        },
        ..ctx
    });
    // Status-only changes (our own status writes among them) do not trigger a reconcile; child
    // events still do, which is how Deployment readiness reaches the status.
    let (reader, writer) = reflector::store();
    let trigger = watcher::watcher(services, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(spec_identity, PredicateConfig::default());
    let config = controller::Config::default().concurrency(settings.concurrency);
    let controller = Controller::for_stream(trigger, reader)
        .with_config(config)
        .owns_stream(deployment_events)
        .owns_stream(service_events)
        .owns_stream(account_events)
        .graceful_shutdown_on(shutdown);
    let store = controller.store();
    let metrics = ctx.metrics.clone();
    controller
        .run(reconcile, error_policy, ctx)
        .for_each(|outcome| {
            metrics
                .managed
                .set(i64::try_from(store.state().len()).unwrap_or(i64::MAX));
            if let Err(error) = outcome {
                tracing::debug!(%error, "controller event");
            }
            futures::future::ready(())
        })
        .await;
}

/// A watch of one owned kind feeding a reflector store (without managedFields, which the
/// up-to-date check never reads) and yielding every touched object as a reconcile trigger.
fn owned_watch<K>(
    api: Api<K>,
    config: watcher::Config,
) -> (
    reflector::Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
    K: serde::de::DeserializeOwned,
{
    let (reader, writer) = reflector::store();
    let events = watcher::watcher(api, config)
        .default_backoff()
        .modify(|object| object.managed_fields_mut().clear())
        .reflect(writer)
        .touched_objects();
    (reader, events)
}
