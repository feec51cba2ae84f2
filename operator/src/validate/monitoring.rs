//! `spec.monitoring` and `spec.alerting` → [`Monitoring`]: per-alert defaults applied, durations
//! parsed, and the rules the schema cannot express (units beyond CEL's durations) checked.

use super::Defaults;
use super::alerts;
pub use super::alerts::{Alert, RESERVED_ALERT_LABELS, Rules};
pub use crate::crd::AlertName;
use crate::crd::{
    AlertingSpec, DashboardSpec, MonitoringSpec, ProbeSpec, SecretKeyRef, ServiceMonitorSpec,
    Severity, SloSpec,
};
use crate::{Error, Result};
use std::collections::BTreeMap;

/// dice-server's `http_request_duration_seconds` buckets: a latency SLO threshold must be one of
/// them, or "faster than the threshold" cannot be counted. The contract test checks them
/// against a real scrape.
pub const LATENCY_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0,
    2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, PartialEq)]
pub struct Monitoring {
    /// The operator's default monitoring labels, then the spec's.
    pub labels: BTreeMap<String, String>,
    /// Every alert links to `<base>#<alertname lowercased>`.
    pub runbook_base_url: String,
    /// `spec.monitoring.alertLabels`, on every generated alert.
    pub alert_labels: BTreeMap<String, String>,
    pub service_monitor: Option<Scrape>,
    pub rules: Option<Rules>,
    pub slo: Option<Slo>,
    pub probe: Option<ProbeTarget>,
    pub dashboard: Option<Dashboard>,
    pub alerting: Option<Alerting>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scrape {
    pub interval: String,
    pub timeout: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// As written (`30d`), for labels and names.
    pub window: String,
    pub window_seconds: f64,
    pub for_: Option<String>,
    /// The interval of the group holding the long windows.
    pub long_windows_interval: String,
    pub availability: Option<AvailabilitySlo>,
    pub latency: Option<LatencySlo>,
}

/// Severities of an SLO's two burn-rate alerts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnSeverities {
    pub page: Severity,
    pub ticket: Severity,
}

impl BurnSeverities {
    fn from_spec(page: Option<Severity>, ticket: Option<Severity>) -> Self {
        Self {
            page: page.unwrap_or(Severity::Critical),
            ticket: ticket.unwrap_or(Severity::Warning),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AvailabilitySlo {
    /// Objective as a fraction (0.999).
    pub objective: f64,
    pub severities: BurnSeverities,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LatencySlo {
    /// Objective as a fraction (0.99).
    pub objective: f64,
    /// One of [`LATENCY_BUCKETS`].
    pub threshold_seconds: f64,
    /// As written (`500ms`), for alert text.
    pub threshold: String,
    pub severities: BurnSeverities,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProbeTarget {
    pub prober: String,
    pub module: String,
    pub interval: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub namespace: String,
    pub folder: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    pub slack: Option<(String, SecretKeyRef)>,
    pub pager_duty: Option<SecretKeyRef>,
    pub group_wait: String,
    pub group_interval: String,
    pub repeat_interval: String,
}

pub fn validate(
    spec: &MonitoringSpec,
    alerting: Option<&AlertingSpec>,
    namespace: &str,
    defaults: &Defaults,
) -> Result<Monitoring> {
    let mut labels = defaults.monitoring_labels.clone();
    labels.extend(spec.labels.clone());
    Ok(Monitoring {
        labels,
        runbook_base_url: spec
            .rules
            .runbook_base_url
            .clone()
            .unwrap_or_else(|| defaults.runbook_base_url.clone()),
        alert_labels: alerts::alert_labels(&spec.alert_labels, &defaults.reserved_alert_labels)?,
        service_monitor: scrape(&spec.service_monitor)?,
        rules: alerts::rules(&spec.rules)?,
        slo: spec.slo.as_ref().map(slo).transpose()?,
        probe: spec
            .probe
            .enabled
            .then(|| probe(&spec.probe, defaults))
            .transpose()?,
        dashboard: dashboard(&spec.dashboard, namespace, defaults)?,
        alerting: alerting.map(alerting_routes),
    })
}

/// The probe, if its prober and module are ones the administrator allows: a blackbox module
/// may carry credentials (basic auth, client certificates) that must not be aimed at any pod a
/// tenant names.
fn probe(spec: &ProbeSpec, defaults: &Defaults) -> Result<ProbeTarget> {
    for (field, value, allowed, flag) in [
        (
            "prober",
            &spec.prober,
            &defaults.probe_allow.probers,
            "--allowed-probers",
        ),
        (
            "module",
            &spec.module,
            &defaults.probe_allow.modules,
            "--allowed-probe-modules",
        ),
    ] {
        let any = allowed.iter().any(|a| a == "*");
        if !any && !allowed.contains(value) {
            return Err(Error::InvalidSpec(format!(
                "monitoring.probe.{field} {value:?} is not one the operator's administrator \
                 allows ({flag}: {})",
                allowed.join(", ")
            )));
        }
    }
    Ok(ProbeTarget {
        prober: spec.prober.clone(),
        module: spec.module.clone(),
        interval: spec.interval.clone(),
        path: spec.path.clone(),
    })
}

fn scrape(spec: &ServiceMonitorSpec) -> Result<Option<Scrape>> {
    if !spec.enabled {
        return Ok(None);
    }
    let interval = seconds("monitoring.serviceMonitor.interval", &spec.interval)?;
    let timeout = seconds(
        "monitoring.serviceMonitor.scrapeTimeout",
        &spec.scrape_timeout,
    )?;
    if timeout > interval {
        return Err(Error::InvalidSpec(format!(
            "monitoring.serviceMonitor.scrapeTimeout {} is longer than the interval {}; \
             Prometheus rejects such a scrape config",
            spec.scrape_timeout, spec.interval
        )));
    }
    Ok(Some(Scrape {
        interval: spec.interval.clone(),
        timeout: spec.scrape_timeout.clone(),
    }))
}

fn slo(spec: &SloSpec) -> Result<Slo> {
    let latency = match &spec.latency {
        None => None,
        Some(latency) => Some(LatencySlo {
            objective: latency.objective / 100.0,
            threshold_seconds: bucket("monitoring.slo.latency.threshold", &latency.threshold)?,
            threshold: latency.threshold.clone(),
            severities: BurnSeverities::from_spec(latency.page_severity, latency.ticket_severity),
        }),
    };
    Ok(Slo {
        window_seconds: slo_window(&spec.window)?,
        window: spec.window.clone(),
        for_: spec.for_.clone(),
        long_windows_interval: spec.long_windows_interval.clone(),
        availability: spec.availability.as_ref().map(|a| AvailabilitySlo {
            objective: a.objective / 100.0,
            severities: BurnSeverities::from_spec(a.page_severity, a.ticket_severity),
        }),
        latency,
    })
}

/// Where the dashboard goes: the DiceService's namespace, or one the operator allows (and watches).
fn dashboard(
    spec: &DashboardSpec,
    namespace: &str,
    defaults: &Defaults,
) -> Result<Option<Dashboard>> {
    if !spec.enabled {
        return Ok(None);
    }
    let target = spec
        .namespace
        .clone()
        .unwrap_or_else(|| namespace.to_owned());
    let allowed = &defaults.dashboard_namespaces;
    if target != namespace && !allowed.contains(&target) {
        let allowed = if allowed.is_empty() {
            "none is configured".to_owned()
        } else {
            format!("{allowed:?}")
        };
        return Err(Error::InvalidSpec(format!(
            "monitoring.dashboard.namespace {target:?} is not a namespace this operator \
             writes dashboards to: the DiceService's own, or one of its dashboard \
             namespaces ({allowed}; --dashboard-namespaces)"
        )));
    }
    // Each watched namespace has watches of its own: a dashboard elsewhere would be seen by
    // none of this DiceService's.
    if !defaults.watch_namespaces.is_empty() && target != namespace {
        return Err(Error::InvalidSpec(format!(
            "monitoring.dashboard.namespace {target:?}: an operator watching only some \
             namespaces ({}) keeps each dashboard in its DiceService's namespace; remove it",
            defaults.watch_namespaces.join(", ")
        )));
    }
    Ok(Some(Dashboard {
        namespace: target,
        folder: spec.folder.clone(),
    }))
}

fn alerting_routes(spec: &AlertingSpec) -> Alerting {
    Alerting {
        slack: spec
            .slack
            .as_ref()
            .map(|s| (s.channel.clone(), s.api_url.clone())),
        pager_duty: spec.pager_duty.as_ref().map(|p| p.routing_key.clone()),
        group_wait: spec.group_wait.clone().unwrap_or_else(|| "30s".into()),
        group_interval: spec.group_interval.clone().unwrap_or_else(|| "5m".into()),
        repeat_interval: spec.repeat_interval.clone().unwrap_or_else(|| "4h".into()),
    }
}

/// Seconds in a Prometheus duration (`1h30m`, `30d`, `250ms`, or `0`).
pub fn prometheus_seconds(text: &str) -> Option<f64> {
    if text == "0" {
        return Some(0.0);
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            "y" => 31_536_000.0,
            _ => return None,
        };
        total += number * unit;
        rest = &rest[unit_len..];
    }
    (!text.is_empty()).then_some(total)
}

fn seconds(field: &str, text: &str) -> Result<f64> {
    prometheus_seconds(text)
        .filter(|s| *s > 0.0)
        .ok_or_else(|| Error::InvalidSpec(format!("{field} {text:?} is not a positive duration")))
}

/// SLO windows from 1 day to a year: the burn-rate rules look back over fractions and multiples
/// of the window, and PromQL range selectors end at about 292 years.
fn slo_window(text: &str) -> Result<f64> {
    const DAY: f64 = 86_400.0;
    let window = seconds("monitoring.slo.window", text)?;
    if !(DAY..=365.0 * DAY).contains(&window) {
        return Err(Error::InvalidSpec(format!(
            "monitoring.slo.window {text:?} is outside 1d to 365d (use e.g. 28d, 30d or 4w)"
        )));
    }
    Ok(window)
}

fn bucket(field: &str, text: &str) -> Result<f64> {
    let value = seconds(field, text)?;
    LATENCY_BUCKETS
        .iter()
        .copied()
        .find(|b| (b - value).abs() < 1e-9)
        .ok_or_else(|| {
            let allowed: Vec<String> = LATENCY_BUCKETS
                .iter()
                .filter(|b| **b >= 0.001)
                .map(|b| human_seconds(*b))
                .collect();
            Error::InvalidSpec(format!(
                "{field} {text:?} is not a bucket of dice-server's latency histogram; use one of {}",
                allowed.join(", ")
            ))
        })
}

/// `0.5` → `500ms`, `2.5` → `2.5s`.
pub fn human_seconds(value: f64) -> String {
    if value < 1.0 {
        format!("{}ms", (value * 1000.0 * 1000.0).round() / 1000.0)
    } else {
        format!("{value}s")
    }
}
