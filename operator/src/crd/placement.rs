//! How the pods are scaled, kept through disruptions and reached over the network: the
//! autoscaler and NetworkPolicy parts of the spec.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Pod labels the operator sets itself; `podLabels` may not name them (the first two select
/// the pods, `managed-by` marks what the operator owns).
pub const RESERVED_POD_LABELS: [&str; 6] = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
];

/// Pod annotations under this prefix are the operator's (the configuration hash that rolls the
/// pods); `podAnnotations` may not set them.
pub const RESERVED_ANNOTATION_PREFIX: &str = "dice.dev/";

/// A HorizontalPodAutoscaler (autoscaling/v2) for the Deployment, on CPU utilisation. While it
/// exists, the operator leaves the Deployment's replica count to it and `spec.replicas` is not
/// applied.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas")
    .message("minReplicas must not exceed maxReplicas")
    .field_path(".minReplicas"))]
pub struct AutoscalingSpec {
    /// Fewest pods the autoscaler keeps.
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 1, max = 100))]
    pub min_replicas: i32,

    /// Most pods the autoscaler runs.
    #[schemars(range(min = 1, max = 100))]
    pub max_replicas: i32,

    /// Average CPU utilisation, in percent of the container's CPU request, the autoscaler aims
    /// for.
    #[serde(default = "default_target_cpu")]
    #[schemars(range(min = 1, max = 100))]
    #[serde(rename = "targetCPUUtilizationPercentage")]
    pub target_cpu_utilization_percentage: i32,
}

/// A NetworkPolicy that admits traffic to the `http` port only from the DiceService's own
/// namespace and from the pods that scrape and probe it; everything else is denied.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Create the NetworkPolicy. Off by default: it only works where the cluster's network
    /// plugin enforces NetworkPolicies, and it cuts off every client not listed here.
    #[serde(default)]
    pub enabled: bool,

    /// The Prometheus pods that scrape `/metrics`. Defaults to pods labelled
    /// `app.kubernetes.io/name: prometheus` (kube-prometheus-stack's) in the operator's
    /// monitoring namespace (`--monitoring-namespace`, `monitoring` unless the admin says
    /// otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrapers: Option<NetworkPeer>,

    /// The blackbox exporter pods that probe `/health`. Defaults to pods labelled
    /// `app.kubernetes.io/name: prometheus-blackbox-exporter` in the operator's monitoring
    /// namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probers: Option<NetworkPeer>,
}

/// Pods admitted by the NetworkPolicy: those matching `podSelector` in the namespaces matching
/// `namespaceSelector` (both must match; an empty selector matches everything).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPeer {
    /// Namespaces the pods may be in; empty means every namespace.
    #[serde(default)]
    #[schemars(transform = super::bounds::selector)]
    pub namespace_selector: LabelSelector,

    /// The pods themselves; empty means every pod of those namespaces.
    #[serde(default)]
    #[schemars(transform = super::bounds::selector)]
    pub pod_selector: LabelSelector,
}

impl NetworkPeer {
    /// Pods labelled `app.kubernetes.io/name: <name>` in `namespace` (by the
    /// `kubernetes.io/metadata.name` label the API server sets, which nobody can forge), or in
    /// any namespace with `None` — where anyone who may label a pod is let in.
    pub fn named(name: &str, namespace: Option<&str>) -> Self {
        Self {
            namespace_selector: LabelSelector {
                match_labels: namespace.map(|namespace| {
                    BTreeMap::from([(
                        "kubernetes.io/metadata.name".to_owned(),
                        namespace.to_owned(),
                    )])
                }),
                ..LabelSelector::default()
            },
            pod_selector: LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/name".to_owned(),
                    name.to_owned(),
                )])),
                ..LabelSelector::default()
            },
        }
    }
}

fn default_min_replicas() -> i32 {
    1
}

fn default_target_cpu() -> i32 {
    80
}
