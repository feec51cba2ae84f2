//! `spec.monitoring`: how Prometheus scrapes, records, alerts on, probes and charts a DiceService.

use super::PROMETHEUS_DURATION_PATTERN;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Extra labels on every ServiceMonitor, PrometheusRule and Probe. kube-prometheus-stack only
    /// picks up objects labelled `release: <its Helm release name>` (for example
    /// `release: kube-prometheus-stack`); without that label its Prometheus ignores them.
    /// Added to the operator's --default-monitoring-labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = super::bounds::label_map)]
    pub labels: BTreeMap<String, String>,

    /// Extra labels on every generated alert, for routing in your own Alertmanager config (e.g.
    /// `team: payments`, `tier: "1"`). Keys are Prometheus label names; the labels the alerts
    /// already carry (`alertname`, `severity`, `namespace`, `service`, `slo`, `urgency`, `job`,
    /// `pod`, `instance`) are refused. Values are plain text: no `{{` or `}}`, since Prometheus
    /// expands alert labels as templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = super::bounds::label_map, extend("maxProperties" = 16))]
    #[x_kube(validation = reserved_alert_labels_rule())]
    #[x_kube(validation = Rule::new("self.all(k, size(k) <= 317)")
        .message("alertLabels keys must be at most 317 characters"))]
    #[x_kube(validation = Rule::new("self.all(k, !self[k].contains('{{') && !self[k].contains('}}'))")
        .message("alertLabels values may not contain {{ or }}: Prometheus expands alert labels as templates"))]
    pub alert_labels: BTreeMap<String, String>,

    /// The ServiceMonitor that makes Prometheus scrape `/metrics` on the Service's `http` port.
    #[serde(default)]
    pub service_monitor: ServiceMonitorSpec,

    /// Recording rules and the standard alerts, in a PrometheusRule.
    #[serde(default)]
    pub rules: RulesSpec,

    /// Service level objectives with multi-window, multi-burn-rate alerts. None by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloSpec>,

    /// A blackbox-exporter Probe of the health endpoint. Off by default: it needs a blackbox
    /// exporter in the cluster.
    #[serde(default)]
    pub probe: ProbeSpec,

    /// The Grafana dashboard, as a ConfigMap the Grafana sidecar loads.
    #[serde(default)]
    pub dashboard: DashboardSpec,
}

/// Labels the generated alerts carry themselves, which `alertLabels` may not set.
pub const RESERVED_ALERT_LABELS: [&str; 9] = [
    "alertname",
    "severity",
    "namespace",
    "service",
    "slo",
    "urgency",
    "job",
    "pod",
    "instance",
];

/// The CEL rule refusing [`RESERVED_ALERT_LABELS`]. Written as key lookups (`'key' in self`):
/// cheap for the API server's CEL cost estimate, where anything that reads the keys themselves
/// counts them as megabytes long. Key syntax is checked by the operator (Degraded, naming the
/// key).
fn reserved_alert_labels_rule() -> kube::core::Rule {
    let absent: Vec<String> = RESERVED_ALERT_LABELS
        .iter()
        .map(|label| format!("!('{label}' in self)"))
        .collect();
    let (last, first) = RESERVED_ALERT_LABELS.split_last().unwrap_or((&"", &[]));
    let message = format!(
        "alertLabels may not set {} or {last}: the generated alerts carry them already",
        first.join(", ")
    );
    kube::core::Rule::new(absent.join(" && ")).message(message.as_str())
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    /// Create the ServiceMonitor.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How often Prometheus scrapes, e.g. `30s`.
    #[serde(default = "default_scrape_interval")]
    #[schemars(regex(pattern = PROMETHEUS_DURATION_PATTERN), length(min = 1, max = 32))]
    #[x_kube(validation = super::floors::SCRAPE_INTERVAL.rule())]
    pub interval: String,
    /// How long one scrape may take, e.g. `10s`; no longer than the interval.
    #[serde(default = "default_scrape_timeout")]
    #[schemars(regex(pattern = PROMETHEUS_DURATION_PATTERN), length(min = 1, max = 32))]
    pub scrape_timeout: String,
}

impl Default for ServiceMonitorSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: default_scrape_interval(),
            scrape_timeout: default_scrape_timeout(),
        }
    }
}

/// Who is notified: `critical` pages (PagerDuty) and posts to Slack, `warning` posts to Slack.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RulesSpec {
    /// Create the PrometheusRule with the recording rules and the alerts below.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Base of every alert's `runbook_url`; the alert name is appended as an anchor
    /// (`<base>#higherrorrate`). Defaults to the operator's docs/runbooks.md. An http(s) URL
    /// without braces, quotes or angle brackets: Prometheus expands annotations as templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r#"^https?://[^\s#{}<>"'`\\]+$"#), length(max = 2048))]
    pub runbook_base_url: Option<String>,
    /// HighErrorRate: the ratio of 5xx responses (0 to 1) above `threshold` (default 0.05) for
    /// `for` (default 5m); severity critical by default.
    #[serde(default)]
    pub high_error_rate: AlertSpec,
    /// SlowResponseTime: p95 latency above `threshold` seconds (default 1) for `for` (default
    /// 10m); severity warning by default.
    #[serde(default)]
    pub slow_response_time: AlertSpec,
    /// ServiceDown: a scrape target down (`up == 0`) for `for` (default 2m); severity critical by
    /// default; `threshold` is unused.
    #[serde(default)]
    pub service_down: AlertSpec,
    /// ServiceAbsent: Prometheus has no target of this service at all (no ready pod, no
    /// endpoints, or the ServiceMonitor selects nothing) for `for` (default 2m); severity
    /// critical by default; `threshold` is unused. Left out when `replicas` is 0 or the
    /// ServiceMonitor is off.
    #[serde(default)]
    pub service_absent: AlertSpec,
    /// ProbeFailing: the blackbox probe of the Service fails (`probe_success == 0`) for `for`
    /// (default 3m, longer than serviceDown's so a dead pod pages once); severity critical by
    /// default; `threshold` is unused. Only with `monitoring.probe` enabled.
    #[serde(default)]
    pub probe_failing: AlertSpec,
    /// HighMemoryUsage: a pod's working set above `threshold` of its container memory limit (0
    /// to 1, default 0.9) for `for` (default 5m); where no limit is known, resident memory
    /// above `thresholdWithoutLimitMiB` (default 200). Severity warning by default.
    #[serde(default)]
    pub high_memory_usage: MemoryAlertSpec,
    /// PodRestarting: more than `threshold` container restarts (default 0) within 15 minutes,
    /// held for `for` (default 5m): from kube-state-metrics where it runs, else from
    /// dice-server's own `process_start_time_seconds`. Severity warning by default.
    #[serde(default)]
    pub pod_restarting: AlertSpec,
}

/// The alerts users already run, by name: the one list of them. [`RulesSpec::alerts`] pairs
/// each with its settings, so a new alert does not compile until every match handles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertName {
    HighErrorRate,
    SlowResponseTime,
    ServiceDown,
    ServiceAbsent,
    ProbeFailing,
    HighMemoryUsage,
    PodRestarting,
}

impl AlertName {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertName::HighErrorRate => "HighErrorRate",
            AlertName::SlowResponseTime => "SlowResponseTime",
            AlertName::ServiceDown => "ServiceDown",
            AlertName::ServiceAbsent => "ServiceAbsent",
            AlertName::ProbeFailing => "ProbeFailing",
            AlertName::HighMemoryUsage => "HighMemoryUsage",
            AlertName::PodRestarting => "PodRestarting",
        }
    }

    /// The alert's field under `spec.monitoring.rules`, for messages.
    pub fn field(self) -> &'static str {
        match self {
            AlertName::HighErrorRate => "highErrorRate",
            AlertName::SlowResponseTime => "slowResponseTime",
            AlertName::ServiceDown => "serviceDown",
            AlertName::ServiceAbsent => "serviceAbsent",
            AlertName::ProbeFailing => "probeFailing",
            AlertName::HighMemoryUsage => "highMemoryUsage",
            AlertName::PodRestarting => "podRestarting",
        }
    }
}

impl RulesSpec {
    /// Every alert with its settings. Destructured without `..`: a new alert field must be
    /// listed here.
    pub fn alerts(&self) -> [(AlertName, &AlertSpec); 7] {
        let RulesSpec {
            enabled: _,
            runbook_base_url: _,
            high_error_rate,
            slow_response_time,
            service_down,
            service_absent,
            probe_failing,
            high_memory_usage,
            pod_restarting,
        } = self;
        [
            (AlertName::HighErrorRate, high_error_rate),
            (AlertName::SlowResponseTime, slow_response_time),
            (AlertName::ServiceDown, service_down),
            (AlertName::ServiceAbsent, service_absent),
            (AlertName::ProbeFailing, probe_failing),
            (AlertName::HighMemoryUsage, &high_memory_usage.alert),
            (AlertName::PodRestarting, pod_restarting),
        ]
    }
}

impl Default for RulesSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            runbook_base_url: None,
            high_error_rate: AlertSpec::default(),
            slow_response_time: AlertSpec::default(),
            service_down: AlertSpec::default(),
            service_absent: AlertSpec::default(),
            probe_failing: AlertSpec::default(),
            high_memory_usage: MemoryAlertSpec::default(),
            pod_restarting: AlertSpec::default(),
        }
    }
}

/// One alert: whether it exists, and overrides of its threshold (unit depends on the alert),
/// how long the condition must hold, and its severity.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AlertSpec {
    /// Create this alert.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The threshold (see the alert for its unit and default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub threshold: Option<f64>,
    /// How long the condition must hold before the alert fires, e.g. `5m`.
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = PROMETHEUS_DURATION_PATTERN), length(min = 1, max = 32))]
    pub for_: Option<String>,
    /// `critical` pages; `warning` and `info` notify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

/// HighMemoryUsage: an [`AlertSpec`] whose `threshold` is a share of the memory limit, plus the
/// absolute size used where a pod has no limit.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.threshold) || (self.threshold > 0.0 && self.threshold <= 1.0)")
    .message("highMemoryUsage.threshold is a share of the container memory limit, above 0 and at most 1 (e.g. 0.9); the size in MiB for pods without a limit is thresholdWithoutLimitMiB"))]
pub struct MemoryAlertSpec {
    #[serde(flatten)]
    pub alert: AlertSpec,
    /// Resident memory in MiB above which the alert fires for a pod without a memory limit
    /// (default 200).
    #[serde(
        rename = "thresholdWithoutLimitMiB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 1.0, max = 1048576.0))]
    pub threshold_without_limit_mib: Option<f64>,
}

impl Default for AlertSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold: None,
            for_: None,
            severity: None,
        }
    }
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.availability) || has(self.latency)")
    .message("an slo needs an availability or a latency objective"))]
pub struct SloSpec {
    /// The SLO window the error budget is spent over, from `1d` to `365d`, e.g. `30d` or `28d`. Burn-rate factors
    /// are scaled from the SRE workbook's 30 days. Prometheus must keep this much data (and the 3 days the
    /// slowest alert reads): kube-prometheus-stack keeps 10 days by default, so a 30-day budget then silently
    /// covers the last 10 days only.
    #[serde(default = "default_slo_window")]
    #[schemars(regex(pattern = r"^[0-9]+[dw]$"), length(max = 8))]
    pub window: String,
    /// How often the windows from 2h up and the error budget are recomputed (default `5m`). They sum
    /// 5-minute rates recorded at this interval instead of reading raw series, so they may be this late; `5m`
    /// tiles time exactly, shorter costs more evaluations, `0s` means Prometheus' global interval.
    #[serde(default = "default_long_windows_interval")]
    #[schemars(regex(pattern = PROMETHEUS_DURATION_PATTERN), length(min = 1, max = 32))]
    #[x_kube(validation = super::floors::RULE_GROUP_INTERVAL.rule())]
    pub long_windows_interval: String,
    /// How long a burn-rate condition must hold before alerting (e.g. `2m`); none by default.
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = PROMETHEUS_DURATION_PATTERN), length(min = 1, max = 32))]
    pub for_: Option<String>,
    /// Percentage of requests that must not fail with a 5xx, e.g. 99.9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<AvailabilityObjective>,
    /// Percentage of requests that must be faster than `threshold`, e.g. 99 under `500ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyObjective>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityObjective {
    /// Target percentage, above 0 and below 100 (e.g. 99.9).
    #[schemars(range(min = 50.0, max = 99.9999))]
    pub objective: f64,
    /// Severity of the fast-burn alert that pages (default `critical`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_severity: Option<Severity>,
    /// Severity of the slow-burn alert that opens a ticket (default `warning`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_severity: Option<Severity>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LatencyObjective {
    /// Target percentage of requests faster than `threshold` (e.g. 99).
    #[schemars(range(min = 50.0, max = 99.9999))]
    pub objective: f64,
    /// Latency bound; must be one of dice-server's histogram buckets: 1ms, 2.5ms, 5ms, 10ms,
    /// 25ms, 50ms, 100ms, 250ms, 500ms, 750ms, 1s, 2.5s, 5s, 10s.
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(ms|s)$"), length(max = 16))]
    pub threshold: String,
    /// Severity of the fast-burn alert that pages (default `critical`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_severity: Option<Severity>,
    /// Severity of the slow-burn alert that opens a ticket (default `warning`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_severity: Option<Severity>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSpec {
    /// Create the Probe.
    #[serde(default)]
    pub enabled: bool,
    /// The blackbox exporter as `host:port`, no scheme (e.g. `blackbox-exporter.monitoring:9115`).
    #[serde(default = "default_prober")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9.-]+:[0-9]+$"), length(max = 261))]
    pub prober: String,
    /// Blackbox exporter module, e.g. `http_2xx`.
    #[serde(default = "default_probe_module")]
    #[schemars(length(min = 1, max = 64))]
    pub module: String,
    /// How often to probe, e.g. `30s`.
    #[serde(default = "default_scrape_interval")]
    #[schemars(regex(pattern = PROMETHEUS_DURATION_PATTERN), length(min = 1, max = 32))]
    #[x_kube(validation = super::floors::PROBE_INTERVAL.rule())]
    pub interval: String,
    /// Path probed on the Service, e.g. `/health`.
    #[serde(default = "default_probe_path")]
    #[schemars(regex(pattern = r"^/[^\s]*$"), length(max = 1024))]
    pub path: String,
}

impl Default for ProbeSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            prober: default_prober(),
            module: default_probe_module(),
            interval: default_scrape_interval(),
            path: default_probe_path(),
        }
    }
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DashboardSpec {
    /// Create the dashboard ConfigMap (labelled `grafana_dashboard: "1"` for the Grafana sidecar).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Namespace of the ConfigMap, when the Grafana sidecar watches only one (e.g. `monitoring`):
    /// one the operator allows (`--dashboard-namespaces`, by default `monitoring`), where the
    /// ConfigMap is named `<namespace>.<name>-dashboard`. Defaults to the DiceService's
    /// namespace (named `<name>-dashboard`). Needs an operator watching all namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub namespace: Option<String>,
    /// Grafana folder (the sidecar's `grafana_folder` annotation): a plain name — letters,
    /// digits, spaces, `_`, `.`, `-`, starting with a letter or digit — never a path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$"),
        length(min = 1, max = 63)
    )]
    pub folder: Option<String>,
}

impl Default for DashboardSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            namespace: None,
            folder: None,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_scrape_interval() -> String {
    "30s".into()
}
fn default_scrape_timeout() -> String {
    "10s".into()
}
fn default_slo_window() -> String {
    "30d".into()
}
fn default_long_windows_interval() -> String {
    "5m".into()
}
fn default_prober() -> String {
    crate::DEFAULT_PROBER.into()
}
fn default_probe_module() -> String {
    crate::DEFAULT_PROBE_MODULE.into()
}
fn default_probe_path() -> String {
    "/health".into()
}
