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
use crate::served::{MonitoringKind, ServedKinds};
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

    /// Waits (bounded) until every watched store holds its first list, so an operator
    /// restart does not re-apply every child of every DiceService. Destructured without `..`: a
    /// new child kind must say here whether it is waited for.
    pub async fn wait_for_first_list(&self, served: &ServedKinds) {
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
            watched,
        } = self;
        if !watched {
            return;
        }
        // A monitoring kind's store is waited for only while the kind is served: its watch
        // starts then, and a cluster without the Prometheus Operator must not stall.
        let served = |kind| served.is_served(kind);
        let all = async {
            let _ = deployments.wait_until_ready().await;
            let _ = services.wait_until_ready().await;
            let _ = accounts.wait_until_ready().await;
            let _ = claims.wait_until_ready().await;
            let _ = config_maps.wait_until_ready().await;
            let _ = autoscalers.wait_until_ready().await;
            let _ = disruption_budgets.wait_until_ready().await;
            let _ = network_policies.wait_until_ready().await;
            if served(MonitoringKind::ServiceMonitor) {
                let _ = service_monitors.wait_until_ready().await;
            }
            if served(MonitoringKind::PrometheusRule) {
                let _ = prometheus_rules.wait_until_ready().await;
            }
            if served(MonitoringKind::Probe) {
                let _ = probes.wait_until_ready().await;
            }
            if served(MonitoringKind::AlertmanagerConfig) {
                let _ = alertmanager_configs.wait_until_ready().await;
            }
        };
        if tokio::time::timeout(FIRST_LIST_WAIT, all).await.is_err() {
            tracing::warn!("owned-kind watches have not listed yet; applying every child");
        }
    }
}

impl ObservedChildren {
    /// Each store's size, named after its kind (`dice_operator_held_entries{map}`).
    pub fn sizes(&self) -> [(&'static str, usize); 12] {
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
        } = self;
        [
            ("deployments", deployments.len()),
            ("services", services.len()),
            ("serviceaccounts", accounts.len()),
            ("persistentvolumeclaims", claims.len()),
            ("configmaps", config_maps.len()),
            ("horizontalpodautoscalers", autoscalers.len()),
            ("poddisruptionbudgets", disruption_budgets.len()),
            ("networkpolicies", network_policies.len()),
            ("servicemonitors", service_monitors.len()),
            ("prometheusrules", prometheus_rules.len()),
            ("probes", probes.len()),
            ("alertmanagerconfigs", alertmanager_configs.len()),
        ]
    }
}

impl std::fmt::Debug for ObservedChildren {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedChildren")
            .field("sizes", &self.sizes())
            .finish()
    }
}

/// How a child is kept in its store: without what the up-to-date check never needs to see in
/// full. Applied to every stored copy and, before comparing, to the desired object.
pub trait Slim: Clone {
    /// Drops or digests large parts; the default keeps everything.
    fn slim(&mut self) {}

    /// A slimmed copy, to compare with the store's.
    fn slimmed(&self) -> Self {
        let mut copy = self.clone();
        copy.slim();
        copy
    }
}

impl Slim for Deployment {}
impl Slim for Service {}
impl Slim for ServiceAccount {}
impl Slim for PersistentVolumeClaim {}
impl Slim for HorizontalPodAutoscaler {}
impl Slim for PodDisruptionBudget {}
impl Slim for NetworkPolicy {}
impl Slim for ServiceMonitor {}
impl Slim for Probe {}
impl Slim for AlertmanagerConfig {}

/// Every dashboard is tens of kilobytes of JSON: each value is kept as its hash.
impl Slim for ConfigMap {
    fn slim(&mut self) {
        for value in self.data.iter_mut().flat_map(|data| data.values_mut()) {
            *value = format!("sha256:{}", crate::children::content_hash(value));
        }
    }
}

/// The recording rules, alerts and burn-rate alerts are the largest child of all: the groups
/// are kept as one empty group named by their hash. (The CRD defaults nothing inside them, so
/// the server's copy hashes like ours.)
impl Slim for PrometheusRule {
    fn slim(&mut self) {
        let digest = format!(
            "sha256:{}",
            crate::children::content_hash(&self.spec.groups)
        );
        self.spec.groups = vec![crate::prometheus_operator::RuleGroup {
            name: digest,
            ..Default::default()
        }];
    }
}

/// The observed copy of `desired` when applying `desired` would change nothing.
pub fn up_to_date<K>(observed: &Store<K>, desired: &K) -> Option<Arc<K>>
where
    K: Resource + Serialize + Slim + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let current = observed.get(&ObjectRef::from_obj(desired))?;
    let (Ok(current_json), Ok(desired_json)) = (
        serde_json::to_value(&*current),
        serde_json::to_value(desired.slimmed()),
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
    fn a_slimmed_rule_is_up_to_date_until_a_rule_changes() {
        use crate::prometheus_operator::{Rule, RuleGroup};
        let rule = |expr: &str| {
            let mut rule = PrometheusRule::new("dice", Default::default());
            rule.metadata.namespace = Some("games".into());
            rule.spec.groups = vec![RuleGroup {
                name: "dice.rules".into(),
                rules: vec![Rule {
                    record: Some("job:dice:rate5m".into()),
                    expr: expr.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }];
            rule
        };
        let (reader, mut writer) = store::<PrometheusRule>();
        let stored = rule("sum(rate(x[5m]))").slimmed();
        assert_eq!(stored.spec.groups.len(), 1);
        assert!(
            stored.spec.groups[0].rules.is_empty(),
            "only a digest is kept"
        );
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(stored));
        assert!(up_to_date(&reader, &rule("sum(rate(x[5m]))")).is_some());
        assert!(up_to_date(&reader, &rule("sum(rate(y[5m]))")).is_none());
    }

    #[test]
    fn null_in_desired_means_unset() {
        let desired = json!({"spec": {"replicas": 2, "nodeSelector": null}});
        assert!(contains(&json!({"spec": {"replicas": 2}}), &desired));
    }
}
