//! What the owned-kind watches last saw of each child, and whether applying a child would change
//! anything. Skipping no-op applies is what keeps a DiceService at one apply per child: the
//! reconciles triggered by our own children's watch events find them up to date and send nothing.
//!
//! Only a compact record of each child is kept ([`Seen`]): the owned kinds are watched
//! metadata-only (the Deployment in full, for its status), and the up-to-date decision reads the
//! applied-hash annotation and `managedFields` instead of comparing contents. Anything the
//! record cannot vouch for means "apply", so a wrong guess costs one request, never a missed
//! repair.

mod index;
mod lean;
mod marks;
mod schemas;
mod seen;

pub use index::Index;
pub use lean::LeanMeta;
pub use schemas::ChildSchemas;
pub use seen::Seen;

use crate::children::APPLIED_HASH_ANNOTATION;
use crate::prometheus_operator::{AlertmanagerConfig, Probe, PrometheusRule, ServiceMonitor};
use crate::served::{MonitoringKind, ServedKinds};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// How long a reconcile waits for the first list of the owned kinds before applying blind. At
/// 10,000 DiceServices on a busy API server one kind's list took longer than 10 s and the first
/// reconciles re-applied that kind blind; waiting costs less than sending every child again.
const FIRST_LIST_WAIT: Duration = Duration::from_secs(60);

/// The reflector stores of every owned kind (filled by the controller's watches).
#[derive(Clone)]
pub struct ObservedChildren {
    pub deployments: Index<Deployment>,
    pub services: Index<Service>,
    pub accounts: Index<ServiceAccount>,
    /// History claims.
    pub claims: Index<PersistentVolumeClaim>,
    /// Dashboards, in any namespace.
    pub config_maps: Index<ConfigMap>,
    pub autoscalers: Index<HorizontalPodAutoscaler>,
    pub disruption_budgets: Index<PodDisruptionBudget>,
    pub network_policies: Index<NetworkPolicy>,
    /// Filled once the kind is served; empty (so always applied) before.
    pub service_monitors: Index<ServiceMonitor>,
    pub prometheus_rules: Index<PrometheusRule>,
    pub probes: Index<Probe>,
    pub alertmanager_configs: Index<AlertmanagerConfig>,
    /// False outside the controller: nothing fills the stores, so nothing is waited for.
    pub watched: bool,
    /// The child kinds' schemas, to know which fields an apply owns.
    pub schemas: Arc<ChildSchemas>,
}

impl ObservedChildren {
    /// Stores nothing ever fills: every child is applied (a reconcile run outside the controller).
    pub fn none() -> Self {
        Self {
            deployments: Index::default(),
            services: Index::default(),
            accounts: Index::default(),
            claims: Index::default(),
            config_maps: Index::default(),
            autoscalers: Index::default(),
            disruption_budgets: Index::default(),
            network_policies: Index::default(),
            service_monitors: Index::default(),
            prometheus_rules: Index::default(),
            probes: Index::default(),
            alertmanager_configs: Index::default(),
            watched: false,
            schemas: Arc::default(),
        }
    }

    /// Every store, named after its kind (`dice_operator_held_entries{map}`), with the
    /// monitoring kind that must be served before its watch starts. Destructured without `..`:
    /// a new child kind must be listed here, and both the size report and the first-list wait
    /// read this one list.
    fn stores(&self) -> [(&'static str, Option<MonitoringKind>, Index<()>); 12] {
        let ObservedChildren {
            deployments,
            services,
            accounts,
            claims,
            config_maps,
            autoscalers,
            disruption_budgets,
            network_policies,
            service_monitors,
            prometheus_rules,
            probes,
            alertmanager_configs,
            watched: _,
            schemas: _,
        } = self;
        [
            ("deployments", None, deployments.untyped()),
            ("services", None, services.untyped()),
            ("serviceaccounts", None, accounts.untyped()),
            ("persistentvolumeclaims", None, claims.untyped()),
            ("configmaps", None, config_maps.untyped()),
            ("horizontalpodautoscalers", None, autoscalers.untyped()),
            ("poddisruptionbudgets", None, disruption_budgets.untyped()),
            ("networkpolicies", None, network_policies.untyped()),
            (
                "servicemonitors",
                Some(MonitoringKind::ServiceMonitor),
                service_monitors.untyped(),
            ),
            (
                "prometheusrules",
                Some(MonitoringKind::PrometheusRule),
                prometheus_rules.untyped(),
            ),
            ("probes", Some(MonitoringKind::Probe), probes.untyped()),
            (
                "alertmanagerconfigs",
                Some(MonitoringKind::AlertmanagerConfig),
                alertmanager_configs.untyped(),
            ),
        ]
    }

    /// Waits (bounded) until every watched store holds its first list, so an operator
    /// restart does not re-apply every child of every DiceService.
    pub async fn wait_for_first_list(&self, served: &ServedKinds) {
        if !self.watched {
            return;
        }
        // A monitoring kind's store is waited for only while the kind is served: its watch
        // starts then, and a cluster without the Prometheus Operator must not stall.
        let stores = self.stores();
        let all = async {
            for (_, kind, store) in &stores {
                if kind.is_none_or(|kind| served.is_served(kind)) {
                    store.wait_until_ready().await;
                }
            }
        };
        if tokio::time::timeout(FIRST_LIST_WAIT, all).await.is_err() {
            tracing::warn!("owned-kind watches have not listed yet; applying every child");
        }
    }

    /// Each store's size, named after its kind (`dice_operator_held_entries{map}`).
    pub fn sizes(&self) -> [(&'static str, usize); 12] {
        self.stores().map(|(name, _, store)| (name, store.len()))
    }
}

impl std::fmt::Debug for ObservedChildren {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedChildren")
            .field("sizes", &self.sizes())
            .finish()
    }
}

/// The record of `desired`'s child when applying `desired` would change nothing.
pub fn up_to_date<K>(observed: &Index<K>, schemas: &ChildSchemas, desired: &K) -> Option<Arc<Seen>>
where
    K: Resource + Serialize,
{
    let meta = desired.meta();
    let seen = observed.get(
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )?;
    // Most changed children differ in their hash: no need to serialize them to know.
    let hash = meta.annotations.as_ref()?.get(APPLIED_HASH_ANNOTATION)?;
    if !seen.has_applied_hash(hash) {
        return None;
    }
    let desired = serde_json::to_value(desired).ok()?;
    let applied_fields = seen.expected_fields(|| schemas.applied_fields_digest(&desired));
    seen.is_current(&desired, applied_fields).then_some(seen)
}
