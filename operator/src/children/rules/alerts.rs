//! The alerts users already run, written for the person paged at 3 a.m.: what is wrong, how
//! bad, where, and a runbook link.

use super::recording::{ERROR_RATIO, LATENCY_P95};
use super::{Selector, escape, number};
use crate::prometheus_operator::Rule;
use crate::validate::Validated;
use crate::validate::monitoring::{Alert, AlertName, Rules};
use std::collections::BTreeMap;

const MIB: f64 = 1024.0 * 1024.0;

pub fn rules(service: &Validated, rules: &Rules, selector: &Selector) -> Vec<Rule> {
    rules
        .alerts
        .iter()
        .map(|alert| rule(service, selector, alert))
        .collect()
}

/// Labels every alert of this DiceService carries. `namespace` is static because aggregations
/// drop it and the AlertmanagerConfig's routes only see alerts labelled with its namespace.
pub fn static_labels(service: &Validated, severity: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("severity".to_owned(), severity.to_owned()),
        ("namespace".to_owned(), service.namespace.clone()),
        ("service".to_owned(), service.name.clone()),
    ])
}

pub fn annotations(
    service: &Validated,
    base_url: &str,
    alert: &str,
    summary: String,
    description: String,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("summary".to_owned(), summary),
        ("description".to_owned(), description),
        (
            "runbook_url".to_owned(),
            format!("{base_url}#{}", alert.to_lowercase()),
        ),
        (
            "dashboard".to_owned(),
            format!("Grafana: Dice / {} / {}", service.namespace, service.name),
        ),
    ])
}

fn rule(service: &Validated, selector: &Selector, alert: &Alert) -> Rule {
    let where_ = format!("{}/{}", service.namespace, service.name);
    let threshold = alert.threshold;
    let (expr, summary, description) = match alert.name {
        AlertName::HighErrorRate => (
            format!("{ERROR_RATIO}{} > {threshold}", selector.with(&[])),
            format!("{where_}: {{{{ $value | humanizePercentage }}}} of dice requests fail"),
            format!(
                "More than {} of requests to {where_} answered 5xx over the last 5 minutes, for {}. \
                 Users see failed rolls.",
                percent(threshold),
                alert.for_
            ),
        ),
        AlertName::SlowResponseTime => (
            format!("{LATENCY_P95}{} > {threshold}", selector.with(&[])),
            format!("{where_}: p95 latency is {{{{ $value | humanizeDuration }}}}"),
            format!(
                "The 95th percentile of dice request latency on {where_} has been above {threshold}s for {}.",
                alert.for_
            ),
        ),
        AlertName::ServiceDown => (
            format!("up{} == 0", selector.with(&[])),
            format!("{where_}: a dice-server target is down ({{{{ $labels.instance }}}})"),
            format!(
                "Prometheus could not scrape {{{{ $labels.instance }}}} of {where_} for {}: the pod is \
                 down, not ready, or not reachable.",
                alert.for_
            ),
        ),
        AlertName::HighMemoryUsage => (
            format!(
                "max by (namespace, job, pod) (process_resident_memory_bytes{}) > {}",
                selector.with(&[]),
                number(threshold * MIB)
            ),
            format!(
                "{where_}: pod {{{{ $labels.pod }}}} uses {{{{ $value | humanize1024 }}}}B of memory"
            ),
            format!(
                "Resident memory of {{{{ $labels.pod }}}} has been above {threshold} MiB for {}; the \
                 container may be OOM-killed at its limit.",
                alert.for_
            ),
        ),
        AlertName::PodRestarting => (
            format!(
                "increase(kube_pod_container_status_restarts_total{{namespace=\"{}\",pod=~\"{}-[a-z0-9]+-[a-z0-9]+\",container=\"dice-server\"}}[15m]) > {threshold}",
                escape(&service.namespace),
                escape(&service.name)
            ),
            format!("{where_}: pod {{{{ $labels.pod }}}} is restarting"),
            "Container dice-server of {{ $labels.pod }} restarted {{ $value | humanize }} times in \
             15 minutes (kube-state-metrics). Check its logs and last termination reason."
                .to_owned(),
        ),
    };
    let name = alert.name.as_str();
    Rule {
        alert: Some(name.to_owned()),
        expr,
        for_: Some(alert.for_.clone()),
        labels: static_labels(service, alert.severity.as_str()),
        annotations: annotations(
            service,
            &service.monitoring.runbook_base_url,
            name,
            summary,
            description,
        ),
        ..Rule::default()
    }
}

fn percent(ratio: f64) -> String {
    format!("{}%", (ratio * 10_000.0).round() / 100.0)
}
