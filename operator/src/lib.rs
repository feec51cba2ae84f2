//! dice-operator: turns a `DiceService` into a fully observed dice-server.
//!
//! The reconcile is a pipeline: [`validate`] → [`children::build`] (pure) → apply → status.

pub mod admin;
pub mod children;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod events;
pub mod leader;
pub mod metrics;
pub mod object_key;
pub mod prometheus_operator;
pub mod render;
pub mod secrets;
pub mod served;
pub mod status;
pub mod validate;
pub mod yaml;

/// The one field manager for every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "dice-operator";

/// The field manager that holds a Deployment's replica count while it passes from the
/// operator to an autoscaler.
pub const REPLICAS_HANDOVER_MANAGER: &str = "dice-operator-replicas-handover";

/// Where dashboards for Grafana's sidecar may go besides a DiceService's own namespace, unless
/// `--dashboard-namespaces` says otherwise (kube-prometheus-stack's usual namespace).
pub const DEFAULT_DASHBOARD_NAMESPACE: &str = "monitoring";
/// The blackbox exporter a probe goes through unless the DiceService names another.
pub const DEFAULT_PROBER: &str = "blackbox-exporter.monitoring:9115";
/// The blackbox module a probe uses unless the DiceService names another.
pub const DEFAULT_PROBE_MODULE: &str = "http_2xx";
/// Where kube-prometheus-stack runs Prometheus and the blackbox exporter by default.
pub const DEFAULT_MONITORING_NAMESPACE: &str = "monitoring";
/// Alert labels no DiceService may set by default: the labels Prometheus adds as external
/// labels only when an alert lacks them, which a central Alertmanager routes on.
pub const DEFAULT_RESERVED_ALERT_LABELS: &str = "cluster,prometheus,prometheus_replica";
/// Pod annotation key prefixes a DiceService may set unless `--allowed-pod-annotation-prefixes`
/// says otherwise: scrape hints, which change nothing outside the pod's own scraping.
pub const DEFAULT_POD_ANNOTATION_PREFIXES: &str = "prometheus.io/";
/// Where alert `runbook_url`s point unless `--runbook-base-url` or the spec says otherwise.
pub const DEFAULT_RUNBOOK_BASE_URL: &str =
    "https://github.com/dice-operator/dice-operator/blob/main/docs/runbooks.md";

/// Image used when a DiceService names none (the operator's `--workload-image`).
pub const DEFAULT_WORKLOAD_IMAGE: &str = concat!(
    "ghcr.io/dice-operator/dice-server:",
    env!("CARGO_PKG_VERSION")
);

/// What validation finds wrong with a DiceService: reported as `Degraded`, never retried until
/// the spec changes. (`render` and the command line have their own errors.)
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is valid for the schema but not for the operator; the user must fix it.
    #[error("invalid DiceService: {0}")]
    InvalidSpec(String),
}

impl Error {
    /// Low-cardinality name of the error kind, for metric labels and log fields.
    pub fn category(&self) -> &'static str {
        match self {
            Error::InvalidSpec(_) => "invalid_spec",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
