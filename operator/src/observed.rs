//! What the owned-kind watches last saw of each child, and whether applying a child would change
//! anything. Skipping no-op applies is what keeps a DiceService near four API requests: the
//! reconciles triggered by our own children's watch events find them up to date and send nothing.
//!
//! A child is up to date when the observed object holds every field of the desired one with the
//! same value. Fields the server adds (defaults, status, managedFields) are ignored; a field we
//! stopped setting is caught by the applied-hash annotation, which changes with any change to the
//! desired object. Anything else — a hand edit, a deletion, a value the server normalised — means
//! "apply", so a wrong guess costs one request, never a missed repair.

use crate::prometheus_operator::{AlertmanagerConfig, Probe, PrometheusRule, ServiceMonitor};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store, store};
use serde::Serialize;
use serde_json::Value;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

/// How long a reconcile waits for the first list of the owned kinds before applying blind.
const FIRST_LIST_WAIT: Duration = Duration::from_secs(10);

/// The reflector stores of every owned kind (filled by the controller's watches).
#[derive(Clone)]
pub struct ObservedChildren {
    pub deployments: Store<Deployment>,
    pub services: Store<Service>,
    pub accounts: Store<ServiceAccount>,
    /// History claims.
    pub claims: Store<PersistentVolumeClaim>,
    /// Dashboards, in any namespace.
    pub config_maps: Store<ConfigMap>,
    pub autoscalers: Store<HorizontalPodAutoscaler>,
    pub disruption_budgets: Store<PodDisruptionBudget>,
    pub network_policies: Store<NetworkPolicy>,
    /// Filled once the kind is served; empty (so always applied) before.
    pub service_monitors: Store<ServiceMonitor>,
    pub prometheus_rules: Store<PrometheusRule>,
    pub probes: Store<Probe>,
    pub alertmanager_configs: Store<AlertmanagerConfig>,
    /// False outside the controller: nothing fills the stores, so nothing is waited for.
    pub watched: bool,
}

impl ObservedChildren {
    /// Stores nothing ever fills: every child is applied (a reconcile run outside the controller).
    pub fn none() -> Self {
        Self {
            deployments: store().0,
            services: store().0,
            accounts: store().0,
            claims: store().0,
            config_maps: store().0,
            autoscalers: store().0,
            disruption_budgets: store().0,
            network_policies: store().0,
            service_monitors: store().0,
            prometheus_rules: store().0,
            probes: store().0,
            alertmanager_configs: store().0,
            watched: false,
        }
    }

    /// Waits (bounded) until every always-watched store holds its first list, so an operator
    /// restart does not re-apply every child of every DiceService. Destructured without `..`: a
    /// new child kind must say here whether it is waited for.
    pub async fn wait_for_first_list(&self) {
        let ObservedChildren {
            deployments,
            services,
            accounts,
            claims,
            config_maps,
            autoscalers,
            disruption_budgets,
            network_policies,
            // Watched only once their CRD is served: waiting would stall every reconcile for
            // the whole timeout on a cluster without the Prometheus Operator.
            service_monitors: _,
            prometheus_rules: _,
            probes: _,
            alertmanager_configs: _,
            watched,
        } = self;
        if !watched {
            return;
        }
        let all = async {
            let _ = deployments.wait_until_ready().await;
            let _ = services.wait_until_ready().await;
            let _ = accounts.wait_until_ready().await;
            let _ = claims.wait_until_ready().await;
            let _ = config_maps.wait_until_ready().await;
            let _ = autoscalers.wait_until_ready().await;
            let _ = disruption_budgets.wait_until_ready().await;
            let _ = network_policies.wait_until_ready().await;
        };
        if tokio::time::timeout(FIRST_LIST_WAIT, all).await.is_err() {
            tracing::warn!("owned-kind watches have not listed yet; applying every child");
        }
    }
}

impl std::fmt::Debug for ObservedChildren {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedChildren")
            .field("deployments", &self.deployments.state().len())
            .field("services", &self.services.state().len())
            .field("accounts", &self.accounts.state().len())
            .field("config_maps", &self.config_maps.state().len())
            .finish()
    }
}

/// A ConfigMap as the store keeps it: each value replaced by its hash, because every dashboard
/// is tens of kilobytes of JSON and an operator with a thousand DiceServices should not hold
/// them all. Compare a desired ConfigMap with [`digested`].
pub fn digest_data(config_map: &mut ConfigMap) {
    for value in config_map
        .data
        .iter_mut()
        .flat_map(|data| data.values_mut())
    {
        *value = format!("sha256:{}", crate::children::content_hash(value));
    }
}

/// `desired` with its data digested like the store's copies.
pub fn digested(desired: &ConfigMap) -> ConfigMap {
    let mut copy = desired.clone();
    digest_data(&mut copy);
    copy
}

/// The observed copy of `desired` when applying `desired` would change nothing.
pub fn up_to_date<K>(observed: &Store<K>, desired: &K) -> Option<Arc<K>>
where
    K: Resource + Serialize + Clone + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let current = observed.get(&ObjectRef::from_obj(desired))?;
    let (Ok(current_json), Ok(desired_json)) = (
        serde_json::to_value(&*current),
        serde_json::to_value(desired),
    ) else {
        return None;
    };
    contains(&current_json, &desired_json).then_some(current)
}

/// Whether `observed` holds every field of `desired` with the same value. Lists must match
/// element by element (same length, same order); `null` in `desired` means "not set".
pub fn contains(observed: &Value, desired: &Value) -> bool {
    match (observed, desired) {
        (_, Value::Null) => true,
        (Value::Object(observed), Value::Object(desired)) => desired.iter().all(|(key, value)| {
            value.is_null() || observed.get(key).is_some_and(|o| contains(o, value))
        }),
        (Value::Array(observed), Value::Array(desired)) => {
            observed.len() == desired.len()
                && observed.iter().zip(desired).all(|(o, d)| contains(o, d))
        }
        (observed, desired) => observed == desired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_added_fields_do_not_count_as_changes() {
        let desired = json!({"metadata": {"name": "d", "labels": {"a": "1"}}, "spec": {"replicas": 2, "ports": [{"port": 80}]}});
        let observed = json!({
            "metadata": {"name": "d", "labels": {"a": "1"}, "uid": "u", "resourceVersion": "7"},
            "spec": {"replicas": 2, "ports": [{"port": 80, "protocol": "TCP"}], "clusterIP": "10.0.0.1"},
            "status": {"readyReplicas": 2}
        });
        assert!(contains(&observed, &desired));
    }

    #[test]
    fn a_changed_missing_or_reordered_field_is_a_change() {
        let desired = json!({"spec": {"replicas": 2, "env": [{"name": "A"}, {"name": "B"}]}});
        for observed in [
            json!({"spec": {"replicas": 3, "env": [{"name": "A"}, {"name": "B"}]}}),
            json!({"spec": {"env": [{"name": "A"}, {"name": "B"}]}}),
            json!({"spec": {"replicas": 2, "env": [{"name": "B"}, {"name": "A"}]}}),
            json!({"spec": {"replicas": 2, "env": [{"name": "A"}]}}),
            json!({"spec": {"replicas": 2, "env": [{"name": "A"}, {"name": "B"}, {"name": "C"}]}}),
        ] {
            assert!(!contains(&observed, &desired), "{observed} vs {desired}");
        }
    }

    #[test]
    fn null_in_desired_means_unset() {
        let desired = json!({"spec": {"replicas": 2, "nodeSelector": null}});
        assert!(contains(&json!({"spec": {"replicas": 2}}), &desired));
    }
}
