//! The `DiceService` custom resource (dice.dev/v1alpha1): spec, status and condition vocabulary.
//!
//! Doc comments on fields are what `kubectl explain diceservice.spec` prints: they are written
//! for users. Validation lives in the schema (ranges, enums, patterns, CEL rules) so the API
//! server rejects a bad object before the operator ever sees it.

mod alerting;
mod bounds;
mod cached;
pub mod conditions;
pub mod floors;
mod history;
mod monitoring;
mod placement;
mod workload;

pub use cached::{CachedDiceService, ExpandError};

pub use alerting::{AlertingSpec, PagerDutySpec, SecretKeyRef, SlackSpec};
pub use history::{HistorySpec, HistoryStorage, PostgresHistory};
pub use monitoring::{
    AlertName, AlertSpec, AvailabilityObjective, DashboardSpec, LatencyObjective, MonitoringSpec,
    ProbeSpec, RESERVED_ALERT_LABELS, RulesSpec, ServiceMonitorSpec, Severity, SloSpec,
};
pub use placement::{
    AutoscalingSpec, NetworkPeer, NetworkPolicySpec, RESERVED_ANNOTATION_PREFIX,
    RESERVED_POD_LABELS,
};
pub use workload::{DiceSettings, GpuSpec, ImagePullPolicy, OtlpProtocol, TelemetrySpec};

use k8s_openapi::api::core::v1::{
    Affinity, LocalObjectReference, ResourceRequirements, Toleration, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Durations as both dice-server and CEL's `duration()` read them: `0`, `250ms`, `5s`, `1m30s`.
pub const DURATION_PATTERN: &str = r"^(0|([0-9]+(ms|s|m|h))+)$";

/// Durations exactly as Prometheus and Alertmanager read them: units from largest to smallest,
/// each at most once (`1h30m`, `90s`, `0`).
pub const PROMETHEUS_DURATION_PATTERN: &str =
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$";

/// A dice-server deployment whose observability wiring is declared in one place.
// Each printcolumn(...) repeats `type_ = "string"`; clippy reads those as one attribute's duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "dice.dev",
    version = "v1alpha1",
    kind = "DiceService",
    plural = "diceservices",
    shortname = "dice",
    namespaced,
    status = "DiceServiceStatus",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    derive = "PartialEq",
    doc = "DiceService runs dice-server and declares how it is observed.",
    // The Service takes the DiceService's name: a DNS-1035 label (no dots, a letter first).
    validation = Rule::new("self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')")
        .message("metadata.name must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, no dots): the Service takes this name"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        description = "Whether every desired replica is ready",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Replicas",
        type_ = "string",
        description = "Ready and desired replicas",
        json_path = ".status.replicaSummary"
    ),
    printcolumn(
        name = "URL",
        type_ = "string",
        description = "In-cluster URL of the service",
        json_path = ".status.url"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "duration(self.sampleInterval) >= duration('100ms')"
).message("sampleInterval must be at least 100ms").field_path(".sampleInterval"))]
pub struct DiceServiceSpec {
    /// Number of dice-server pods. 0 stops every pod but keeps the Service and configuration.
    /// `kubectl scale dice/<name>` sets it; ignored while `autoscaling` is set.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,

    /// Container image of dice-server. Defaults to the image the operator was started with
    /// (its --workload-image flag), so upgrading the operator upgrades every service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,

    /// When the kubelet pulls the image: Always, IfNotPresent or Never. Kubernetes' default
    /// applies when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,

    /// CPU and memory requests and limits of the dice-server container. Defaults to requests of
    /// 10m CPU and 32Mi memory and a 128Mi memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounds::resources)]
    pub resources: Option<ResourceRequirements>,

    /// Node labels a pod's node must have (e.g. `kubernetes.io/arch: amd64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounds::label_map)]
    pub node_selector: Option<BTreeMap<String, String>>,

    /// Taints the pods tolerate (e.g. to run on GPU nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounds::tolerations)]
    pub tolerations: Option<Vec<Toleration>>,

    /// Scale on CPU with a HorizontalPodAutoscaler between `minReplicas` and `maxReplicas`.
    /// While set, `replicas` is not applied: the autoscaler owns the Deployment's replica count.
    /// Removing it hands the count back to `replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,

    /// How pods spread over nodes and zones. Unset, they spread over hostnames and zones on a
    /// best-effort basis (`ScheduleAnyway`); an empty list turns spreading off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounds::topology_spread)]
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,

    /// Node and pod affinity rules of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounds::affinity)]
    pub affinity: Option<Affinity>,

    /// Secrets (in the DiceService's namespace) for pulling the image from a private registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounds::object_references)]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,

    /// PriorityClass of the pods: one the operator's administrator allows
    /// (`--allowed-priority-classes`; none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub priority_class_name: Option<String>,

    /// Extra annotations on the pods, with keys under the prefixes the operator's administrator
    /// allows (`--allowed-pod-annotation-prefixes`; `prometheus.io/` by default).
    /// `dice.dev/config-hash` is the operator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounds::annotation_map)]
    pub pod_annotations: Option<BTreeMap<String, String>>,

    /// Extra labels on the pods. The `app.kubernetes.io/*` labels the operator sets (its
    /// selector among them) cannot be overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounds::label_map)]
    pub pod_labels: Option<BTreeMap<String, String>>,

    /// Admit traffic to the pods only from their namespace and from whoever scrapes and
    /// probes them (opt-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_policy: Option<NetworkPolicySpec>,

    /// Behaviour of the dice themselves.
    #[serde(default)]
    pub dice: DiceSettings,

    /// How often dice-server samples system CPU and memory, e.g. `5s` (at least 100ms).
    #[serde(default = "default_sample_interval")]
    #[schemars(regex(pattern = DURATION_PATTERN), length(max = 32))]
    pub sample_interval: String,

    /// Where dice-server sends OpenTelemetry traces. Tracing is off without an endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<TelemetrySpec>,

    /// GPU access for the GPU metrics collector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuSpec>,

    /// Scraping, recording rules, alerts, SLOs, probe and dashboard (Prometheus Operator kinds;
    /// skipped, and reported in status, where those CRDs are not installed).
    #[serde(default)]
    pub monitoring: MonitoringSpec,

    /// Where alerts go: Slack and PagerDuty, through an AlertmanagerConfig. None by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<AlertingSpec>,

    /// Metrics history dice-server keeps and serves at `/api/v1/history` (on by default, in
    /// an embedded SQLite file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<HistorySpec>,
}

/// What the operator observed, written only when it changed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DiceServiceStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Pods the Deployment currently runs.
    #[serde(default)]
    pub replicas: i32,

    /// The pods' label selector, for the scale subresource (`kubectl scale`, an autoscaler
    /// targeting the DiceService).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,

    /// Pods that pass their readiness probe.
    #[serde(default)]
    pub ready_replicas: i32,

    /// `ready/desired`, for `kubectl get dice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_summary: Option<String>,

    /// In-cluster URL of the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,

    /// `Ready`, `Progressing` and `Degraded`, per Kubernetes API conventions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// Every monitoring object the spec asks for, and whether it was applied, skipped or
    /// failed (with the reason).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitoring: Vec<ChildStatus>,
}

/// What became of one child object.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChildStatus {
    /// Kind of the object, e.g. `ServiceMonitor`.
    pub kind: String,
    /// Name (and, when not the DiceService's, namespace) of the object.
    pub name: String,
    /// `Applied`, `Skipped` or `Failed`.
    pub state: ChildState,
    /// Why it was skipped or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildState {
    Applied,
    Skipped,
    Failed,
}

fn default_replicas() -> i32 {
    1
}

fn default_sample_interval() -> String {
    "5s".into()
}
