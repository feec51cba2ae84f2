//! Server-side apply of every child with the one field manager, skipping children the watches
//! already show up to date, deleting monitoring children switched off in the spec, and
//! reporting what became of each optional one.

use crate::FIELD_MANAGER;
use crate::children::{Children, dashboard};
use crate::controller::observed::{Index, ObservedChildren};
use crate::controller::ownership;
use crate::crd::ChildStatus;
use crate::object_key::ObjectKey;
use crate::served::{MonitoringKind, ServedKinds};
use crate::validate::Validated;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, Resource};
use run::Run;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

mod run;

/// What one reconcile's applies came to.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Requests sent (lookups, applies and deletes); children already up to date cost none.
    pub sent: usize,
    pub outcome: Outcome,
}

impl Applied {
    /// The Deployment as the server holds it, when every required child was applied.
    pub fn deployment(&self) -> Option<&Deployment> {
        match &self.outcome {
            Outcome::Applied { deployment, .. } => Some(deployment),
            Outcome::NotOwned(_) | Outcome::Refused(_) => None,
        }
    }
}

/// The children as the API server holds them after the reconcile; one sentence per child
/// in the blocked cases.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every required child applied; one entry per monitoring child the spec asks for.
    Applied {
        deployment: Box<Deployment>,
        monitoring: Vec<ChildStatus>,
    },
    /// Objects under a child's name belong to somebody else; nothing was applied.
    NotOwned(Vec<String>),
    /// The API server refused these required children for good (`422 Invalid`, an admission
    /// webhook): retrying the same spec cannot help. The others were applied.
    Refused(Vec<String>),
}

/// Applies each child that differs from what is observed, unless an object under one of their
/// names is not this DiceService's. Destructured without `..`: a new child kind must be
/// handled here.
pub async fn apply_children(
    client: &Client,
    service: &Validated,
    children: &Children,
    observed: &ObservedChildren,
    served: &ServedKinds,
) -> Result<Applied, kube::Error> {
    let (not_owned, lookups) =
        ownership::not_owned(client, service, children, observed, served).await?;
    if !not_owned.is_empty() {
        return Ok(Applied {
            sent: lookups,
            outcome: Outcome::NotOwned(not_owned),
        });
    }
    let Children {
        service_account,
        deployment,
        service: kube_service,
        service_monitor,
        prometheus_rule,
        probe,
        alertmanager_config,
        dashboard,
        data_volume,
        autoscaler,
        disruption_budget,
        network_policy,
    } = children;
    let mut run = Run {
        client,
        schemas: &observed.schemas,
        service,
        served,
        sent: lookups,
        monitoring: Vec::new(),
        refused: Vec::new(),
    };
    let applied = run.apply(&observed.accounts, service_account).await;
    run.required(service_account, applied)?;
    // The claim before the pods that mount it. Switched off, it is kept: it holds data.
    if let Some(claim) = data_volume {
        let applied = run.apply(&observed.claims, claim).await;
        run.required(claim, applied)?;
    }
    run.hand_over_replicas(&observed.deployments, deployment)
        .await?;
    let applied = run.deployment(&observed.deployments, deployment).await;
    let deployment = run.required(deployment, applied)?;
    // Nothing below depends on another: one refused apply does not hold the rest back, so a
    // retry after a transient error redoes only what failed.
    let mut first_error = FirstError::default();
    let applied = run.apply(&observed.services, kube_service).await;
    first_error.keep(run.required(kube_service, applied));
    let applied = run
        .switchable(&observed.autoscalers, autoscaler.as_ref())
        .await;
    first_error.keep(run.required_if(autoscaler.as_ref(), applied));
    let applied = run
        .switchable(&observed.disruption_budgets, disruption_budget.as_ref())
        .await;
    first_error.keep(run.required_if(disruption_budget.as_ref(), applied));
    let applied = run
        .switchable(&observed.network_policies, network_policy.as_ref())
        .await;
    first_error.keep(run.required_if(network_policy.as_ref(), applied));
    let kind = MonitoringKind::ServiceMonitor;
    first_error.keep(
        run.optional(kind, &observed.service_monitors, service_monitor.as_ref())
            .await,
    );
    let kind = MonitoringKind::PrometheusRule;
    first_error.keep(
        run.optional(kind, &observed.prometheus_rules, prometheus_rule.as_ref())
            .await,
    );
    first_error.keep(
        run.optional(MonitoringKind::Probe, &observed.probes, probe.as_ref())
            .await,
    );
    let kind = MonitoringKind::AlertmanagerConfig;
    first_error.keep(
        run.optional(
            kind,
            &observed.alertmanager_configs,
            alertmanager_config.as_ref(),
        )
        .await,
    );
    first_error.keep(
        run.dashboard(&observed.config_maps, dashboard.as_ref())
            .await,
    );
    first_error.into_result()?;
    // `required` answers `None` only for a refusal it recorded.
    let outcome = match deployment {
        Some(deployment) if run.refused.is_empty() => Outcome::Applied {
            deployment: Box::new(deployment),
            monitoring: run.monitoring,
        },
        _ => Outcome::Refused(run.refused),
    };
    Ok(Applied {
        sent: run.sent,
        outcome,
    })
}

/// The first of several independent steps' errors; the others are logged.
#[derive(Default)]
struct FirstError(Option<kube::Error>);

impl FirstError {
    fn keep<T>(&mut self, result: Result<T, kube::Error>) {
        match (result, &self.0) {
            (Ok(_), _) => {}
            (Err(error), None) => self.0 = Some(error),
            (Err(error), Some(_)) => tracing::debug!(%error, "another child apply failed"),
        }
    }

    fn into_result(self) -> Result<(), kube::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Dashboards the watches show that this very DiceService created, in any namespace (namespace
/// and name of each): with its controller reference in its own namespace, with its owner and uid
/// annotations elsewhere. A copy without the uid (hand-applied `render` output, another
/// DiceService's) is never deleted.
pub fn dashboards_of(
    observed: &Index<ConfigMap>,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Vec<(String, String)> {
    let owner = ObjectKey::new(namespace, name).to_string();
    observed
        .dashboards_owned_by(uid)
        .into_iter()
        .filter(|(_, _, seen)| {
            let owned = seen
                .controller()
                .is_some_and(|o| o.kind() == "DiceService" && o.uid() == uid);
            let marked = seen.annotation(dashboard::OWNER_ANNOTATION) == Some(owner.as_str())
                && seen.annotation(dashboard::OWNER_UID_ANNOTATION) == Some(uid);
            owned || marked
        })
        .map(|(namespace, name, _)| (namespace, name))
        .collect()
}

/// Splits off a refusal retrying cannot fix (`Ok(Err(why))`, for the status) from the errors a
/// retry may cure (`Err`).
fn refused<T>(result: Result<T, kube::Error>) -> Result<Result<T, String>, kube::Error> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(kube::Error::Api(status)) => match refusal(&status) {
            Some(why) => Ok(Err(why)),
            None => Err(kube::Error::Api(status)),
        },
        Err(error) => Err(error),
    }
}

/// Why the API server refused an apply that retrying cannot fix: 4xx answers other than
/// conflicts and throttling, and the 500 a server answers when the object names a field its
/// schema lacks (an older CRD: kubernetes/kubernetes#139253). `None`: retry.
fn refusal(status: &kube::core::Status) -> Option<String> {
    // The server's message lists every cause; a status condition need not hold hundreds.
    const MESSAGE_LIMIT: usize = 1024;
    let message = crate::events::truncate(&status.message, MESSAGE_LIMIT);
    let permanent_client_error =
        (400..500).contains(&status.code) && status.code != 409 && status.code != 429;
    let unknown_field = status.code == 500
        && status
            .message
            .contains("failed to create typed patch object")
        && status.message.contains("field not declared in schema");
    if unknown_field {
        return Some(format!(
            "refused by the API server: the installed CRD lacks a field the operator sets \
             (upgrade the CRD): {message}"
        ));
    }
    permanent_client_error.then(|| format!("refused by the API server: {message}"))
}

/// `force`: the operator owns these objects; a hand edit of an owned field is reverted.
pub async fn apply<K>(client: &Client, object: &K) -> Result<K, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned,
    K::DynamicType: Default,
{
    let meta = object.meta();
    let namespace = meta.namespace.as_deref().unwrap_or("default");
    let name = meta.name.as_deref().unwrap_or_default();
    Api::<K>::namespaced(client.clone(), namespace)
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(object),
        )
        .await
}

/// Deletes, treating "already gone" as done.
pub async fn delete<K>(client: &Client, namespace: &str, name: &str) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + DeserializeOwned,
    K::DynamicType: Default,
{
    match Api::<K>::namespaced(client.clone(), namespace)
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}
