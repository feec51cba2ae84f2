//! Objects of every child kind that no DiceService created (`--foreign-per-kind`): what a
//! shared cluster holds besides the operator's children, and what the operator's watches of
//! the names others hold then cost it.

use crate::cluster::NAMESPACE;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};

/// A child kind: group, version, kind, plural, and a minimal valid spec for an object named so.
type ForeignKind = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    fn(&str) -> Value,
);

/// Every child kind.
fn kinds() -> Vec<ForeignKind> {
    vec![
        ("", "v1", "ServiceAccount", "serviceaccounts", |_| json!({})),
        (
            "",
            "v1",
            "ConfigMap",
            "configmaps",
            |_| json!({"data": {"k": "v"}}),
        ),
        (
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            |_| json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        ),
        (
            "",
            "v1",
            "Service",
            "services",
            |_| json!({"spec": {"ports": [{"port": 80}]}}),
        ),
        ("apps", "v1", "Deployment", "deployments", |name| {
            json!({"spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}}}})
        }),
        (
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            |name| json!({"spec": {"maxReplicas": 2, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}}}),
        ),
        (
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            |name| json!({"spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": name}}}}),
        ),
        (
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            |_| json!({"spec": {"podSelector": {}}}),
        ),
        (
            "monitoring.coreos.com",
            "v1",
            "ServiceMonitor",
            "servicemonitors",
            |name| json!({"spec": {"selector": {"matchLabels": {"app": name}}, "endpoints": [{"port": "http"}]}}),
        ),
        (
            "monitoring.coreos.com",
            "v1",
            "PrometheusRule",
            "prometheusrules",
            |_| json!({"spec": {"groups": [{"name": "g", "rules": [{"record": "r", "expr": "up"}]}]}}),
        ),
        (
            "monitoring.coreos.com",
            "v1",
            "Probe",
            "probes",
            |_| json!({"spec": {"prober": {"url": "blackbox:9115"}, "targets": {"staticConfig": {"static": ["http://a"]}}}}),
        ),
        (
            "monitoring.coreos.com",
            "v1alpha1",
            "AlertmanagerConfig",
            "alertmanagerconfigs",
            |_| json!({"spec": {}}),
        ),
    ]
}

/// Creates `per_kind` objects of every child kind in the benchmark's namespace, none of them
/// labelled as the operator's; the monitoring kinds only when `monitoring` (their CRDs are
/// registered). Says how many.
pub async fn create(
    client: &kube::Client,
    per_kind: usize,
    monitoring: bool,
) -> Result<usize, String> {
    let mut created = 0;
    for (group, version, kind, plural, spec) in kinds() {
        if group == "monitoring.coreos.com" && !monitoring {
            continue;
        }
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &resource);
        let names: Vec<String> = (0..per_kind).map(|n| format!("other-{n:05}")).collect();
        crate::cluster::thirty_two_at_a_time(names, |name| {
            let api = api.clone();
            let mut body = spec(&name);
            body["apiVersion"] = json!(resource.api_version);
            body["kind"] = json!(kind);
            body["metadata"] = json!({"name": name});
            async move {
                let object: DynamicObject =
                    serde_json::from_value(body).map_err(kube::Error::SerdeError)?;
                api.create(&PostParams::default(), &object)
                    .await
                    .map(|_| ())
            }
        })
        .await
        .map_err(|e| format!("{kind}: {e}"))?;
        created += per_kind;
    }
    Ok(created)
}
