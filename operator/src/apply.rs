//! Server-side apply of every child with the one field manager, skipping children the watches
//! already show up to date, deleting monitoring children switched off in the spec, and
//! reporting what became of each optional one.

use crate::FIELD_MANAGER;
use crate::children::{Children, REPLICAS_FROM_ANNOTATION, REPLICAS_FROM_AUTOSCALER, dashboard};
use crate::crd::{ChildState, ChildStatus};
use crate::observed::{ObservedChildren, digested, up_to_date};
use crate::ownership::{self, Claim};
use crate::served::{MonitoringKind, ServedKinds};
use crate::validate::Validated;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::hash::Hash;

/// The field manager that holds a Deployment's replica count while it passes from the
/// operator to an autoscaler.
pub const REPLICAS_HANDOVER_MANAGER: &str = "dice-operator-replicas-handover";

/// The children as the API server holds them after the reconcile.
#[derive(Debug, Clone)]
pub struct Applied {
    /// `None` when nothing was applied because a child's name is taken.
    pub deployment: Option<Deployment>,
    /// Requests sent (lookups, applies and deletes); children already up to date cost none.
    pub sent: usize,
    /// One entry per monitoring child the spec asks for.
    pub monitoring: Vec<ChildStatus>,
    /// Objects under a child's name that belong to somebody else, one sentence each; when there
    /// is one, nothing was applied.
    pub not_owned: Vec<String>,
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
            deployment: None,
            sent: lookups,
            monitoring: Vec::new(),
            not_owned,
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
        service,
        served,
        sent: lookups,
        monitoring: Vec::new(),
    };
    run.apply(&observed.accounts, service_account).await?;
    // The claim before the pods that mount it. Switched off, it is kept: it holds data.
    if let Some(claim) = data_volume {
        run.apply(&observed.claims, claim).await?;
    }
    run.hand_over_replicas(&observed.deployments, deployment)
        .await?;
    let deployment = run.apply(&observed.deployments, deployment).await?;
    run.apply(&observed.services, kube_service).await?;
    run.switchable(&observed.autoscalers, autoscaler.as_ref())
        .await?;
    run.switchable(&observed.disruption_budgets, disruption_budget.as_ref())
        .await?;
    run.switchable(&observed.network_policies, network_policy.as_ref())
        .await?;
    let kind = MonitoringKind::ServiceMonitor;
    run.optional(kind, &observed.service_monitors, service_monitor.as_ref())
        .await?;
    let kind = MonitoringKind::PrometheusRule;
    run.optional(kind, &observed.prometheus_rules, prometheus_rule.as_ref())
        .await?;
    run.optional(MonitoringKind::Probe, &observed.probes, probe.as_ref())
        .await?;
    let kind = MonitoringKind::AlertmanagerConfig;
    run.optional(
        kind,
        &observed.alertmanager_configs,
        alertmanager_config.as_ref(),
    )
    .await?;
    run.dashboard(&observed.config_maps, dashboard.as_ref())
        .await?;
    Ok(Applied {
        deployment: Some(deployment),
        sent: run.sent,
        monitoring: run.monitoring,
        not_owned: Vec::new(),
    })
}

struct Run<'a> {
    client: &'a Client,
    service: &'a Validated,
    served: &'a ServedKinds,
    sent: usize,
    monitoring: Vec<ChildStatus>,
}

trait Child:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + 'static
{
}

impl<K> Child for K where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
        + 'static
{
}

impl Run<'_> {
    async fn apply<K: Child>(&mut self, observed: &Store<K>, desired: &K) -> Result<K, kube::Error>
    where
        K::DynamicType: Eq + Hash,
    {
        self.apply_compared(observed, desired, desired).await
    }

    /// Applies `desired` unless the store's copy matches `compared` (`desired` as the store
    /// keeps objects).
    async fn apply_compared<K: Child>(
        &mut self,
        observed: &Store<K>,
        compared: &K,
        desired: &K,
    ) -> Result<K, kube::Error>
    where
        K::DynamicType: Eq + Hash,
    {
        if let Some(current) = up_to_date(observed, compared) {
            return Ok((*current).clone());
        }
        self.sent += 1;
        apply(self.client, desired).await
    }

    /// Autoscaling switched on: before the operator's apply leaves `spec.replicas` out, a second
    /// field manager applies the current count, so server-side apply keeps the field (it would
    /// otherwise remove it, and the Deployment would fall to one pod until the autoscaler
    /// acts). The autoscaler's updates then own it. One request, once per switch.
    async fn hand_over_replicas(
        &mut self,
        observed: &Store<Deployment>,
        desired: &Deployment,
    ) -> Result<(), kube::Error> {
        let autoscaled = desired.spec.as_ref().is_some_and(|s| s.replicas.is_none());
        let Some(current) = observed.get(&ObjectRef::from_obj(desired)) else {
            return Ok(());
        };
        let from = current.annotations().get(REPLICAS_FROM_ANNOTATION);
        let handed_over = from.is_some_and(|f| f == REPLICAS_FROM_AUTOSCALER);
        let replicas = current.spec.as_ref().and_then(|s| s.replicas);
        let (true, false, Some(replicas)) = (autoscaled, handed_over, replicas) else {
            return Ok(());
        };
        self.sent += 1;
        let handover = serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": current.name_any(), "namespace": self.service.namespace},
            "spec": {"replicas": replicas},
        });
        Api::<Deployment>::namespaced(self.client.clone(), &self.service.namespace)
            .patch(
                &current.name_any(),
                &PatchParams::apply(REPLICAS_HANDOVER_MANAGER).force(),
                &Patch::Apply(&handover),
            )
            .await?;
        Ok(())
    }

    /// A child the spec may switch off (autoscaler, disruption budget, network policy):
    /// applied when desired, deleted when not and ours.
    async fn switchable<K: Child>(
        &mut self,
        observed: &Store<K>,
        desired: Option<&K>,
    ) -> Result<(), kube::Error> {
        if let Some(desired) = desired {
            self.apply(observed, desired).await?;
        } else {
            self.delete_if_ours(observed).await?;
        }
        Ok(())
    }

    /// Deletes the object of kind `K` under the DiceService's name if the watch shows it is
    /// this DiceService's.
    async fn delete_if_ours<K: Child>(&mut self, observed: &Store<K>) -> Result<(), kube::Error> {
        let name = &self.service.name;
        let existing = ObjectRef::new(name).within(&self.service.namespace);
        let ours = observed
            .get(&existing)
            .is_some_and(|o| ownership::claim(o.meta(), self.service) == Claim::Ours);
        if ours {
            self.sent += 1;
            delete::<K>(self.client, &self.service.namespace, name).await?;
        }
        Ok(())
    }

    /// A Prometheus Operator child: applied when served, skipped and reported when not, and
    /// deleted when the spec switched it off. A refusal by the API (an admission webhook, a
    /// schema) is reported rather than retried: only a spec change can fix it.
    async fn optional<K: Child>(
        &mut self,
        kind: MonitoringKind,
        observed: &Store<K>,
        desired: Option<&K>,
    ) -> Result<(), kube::Error> {
        let name = self.service.name.clone();
        let served = self.served.is_served(kind);
        let Some(desired) = desired else {
            if served {
                self.delete_if_ours(observed).await?;
            }
            return Ok(());
        };
        if !served {
            let message = format!(
                "the {} CRD ({}) is not installed; install the Prometheus Operator CRDs",
                kind.kind(),
                kind.crd_name()
            );
            self.report(kind.kind(), name, ChildState::Skipped, Some(message));
            return Ok(());
        }
        match self.apply(observed, desired).await {
            Ok(_) => self.report(kind.kind(), name, ChildState::Applied, None),
            Err(kube::Error::Api(status)) if refused(status.code) => {
                let message = format!("refused by the API server: {}", status.message);
                self.report(kind.kind(), name, ChildState::Failed, Some(message));
            }
            Err(error) => return Err(error),
        }
        Ok(())
    }

    /// The dashboard, in whichever namespace the spec names; copies left in another namespace
    /// (the spec moved or removed it) are deleted.
    async fn dashboard(
        &mut self,
        observed: &Store<ConfigMap>,
        desired: Option<&ConfigMap>,
    ) -> Result<(), kube::Error> {
        let service = self.service;
        let uid = service.uid.as_deref().unwrap_or_default();
        for stale in dashboards_of(observed, &service.namespace, &service.name, uid) {
            let keep = desired.is_some_and(|d| {
                d.namespace() == stale.namespace() && d.name_any() == stale.name_any()
            });
            if !keep {
                self.sent += 1;
                let namespace = stale.namespace().unwrap_or_default();
                delete::<ConfigMap>(self.client, &namespace, &stale.name_any()).await?;
            }
        }
        let Some(desired) = desired else {
            return Ok(());
        };
        let name = format!(
            "{}/{}",
            desired.namespace().unwrap_or_default(),
            desired.name_any()
        );
        match self
            .apply_compared(observed, &digested(desired), desired)
            .await
        {
            Ok(_) => self.report("ConfigMap", name, ChildState::Applied, None),
            Err(kube::Error::Api(status)) if refused(status.code) => {
                let message = format!("refused by the API server: {}", status.message);
                self.report("ConfigMap", name, ChildState::Failed, Some(message));
            }
            Err(error) => return Err(error),
        }
        Ok(())
    }

    fn report(&mut self, kind: &str, name: String, state: ChildState, message: Option<String>) {
        self.monitoring.push(ChildStatus {
            kind: kind.to_owned(),
            name,
            state,
            message,
        });
    }
}

/// Dashboards the watches show that this very DiceService created, in any namespace: with its
/// controller reference in its own namespace, with its owner and uid annotations elsewhere. A
/// copy without the uid (hand-applied `render` output, another DiceService's) is never deleted.
pub fn dashboards_of(
    observed: &Store<ConfigMap>,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Vec<ConfigMap> {
    let owner = format!("{namespace}/{name}");
    observed
        .state()
        .into_iter()
        .filter(|cm| cm.labels().contains_key(dashboard::SIDECAR_LABEL))
        .filter(|cm| {
            let owned = cm
                .owner_references()
                .iter()
                .any(|o| o.kind == "DiceService" && o.controller == Some(true) && o.uid == uid);
            let annotation = |key: &str| cm.annotations().get(key).map(String::as_str);
            let marked = annotation(dashboard::OWNER_ANNOTATION) == Some(owner.as_str())
                && annotation(dashboard::OWNER_UID_ANNOTATION) == Some(uid);
            owned || marked
        })
        .map(|cm| (*cm).clone())
        .collect()
}

/// 4xx answers that retrying cannot fix (conflicts and throttling can be retried).
fn refused(code: u16) -> bool {
    (400..500).contains(&code) && code != 409 && code != 429
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
