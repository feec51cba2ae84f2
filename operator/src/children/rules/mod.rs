//! The PrometheusRule: recording rules, the standard alerts and SLO burn-rate alerts, with the
//! PromQL built from one selector so every expression targets the same series.

mod alerts;
pub mod catalog;
mod recording;
pub mod slo;

use super::monitoring_meta;
use crate::prometheus_operator::{PrometheusRule, PrometheusRuleSpec, RuleGroup};
use crate::validate::Validated;
use std::collections::BTreeMap;

/// The routes that make up the dice API; scrapes and probes are not user traffic.
pub const API_HANDLERS: &str = "/roll|/rolldice";

/// `{job="…",namespace="…"}` plus extra matchers: the series one DiceService's pods export.
/// The ServiceMonitor names the job after the Service, which is named after the DiceService.
#[derive(Debug, Clone)]
pub struct Selector {
    job: String,
    namespace: String,
}

impl Selector {
    pub fn new(service: &Validated) -> Self {
        Self {
            job: service.name.clone(),
            namespace: service.namespace.clone(),
        }
    }

    /// The selector with `extra` matchers (already PromQL, e.g. `status=~"5.."`).
    pub fn with(&self, extra: &[&str]) -> String {
        let mut matchers = vec![
            format!("job=\"{}\"", escape(&self.job)),
            format!("namespace=\"{}\"", escape(&self.namespace)),
        ];
        matchers.extend(extra.iter().map(|m| (*m).to_owned()));
        format!("{{{}}}", matchers.join(","))
    }

    /// Only dice API requests.
    pub fn api(&self, extra: &[&str]) -> String {
        let handler = format!("handler=~\"{API_HANDLERS}\"");
        let mut all = vec![handler.as_str()];
        all.extend_from_slice(extra);
        self.with(&all)
    }
}

/// The share of `all` that is not `good` over `range`, per job. It is 1 − good/all rather than
/// errors/all because a service that never failed has no 5xx series and its ratio must read 0,
/// not "no data"; and a complete outage leaves no `good` series at all, so a missing `good`
/// counts as zero good requests instead of making the ratio vanish when it matters most.
pub fn error_ratio(good: &str, all: &str, range: &str) -> String {
    let sum = |series: &str| format!("sum by (namespace, job) (rate({series}[{range}]))");
    format!(
        "1 - (\n  ({} or 0 * {})\n  /\n  {}\n)",
        sum(good),
        sum(all),
        sum(all)
    )
}

/// Escapes a PromQL string literal's content.
pub fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `le` matcher for a bucket bound that works on Prometheus 2 (which keeps the exposed text, e.g.
/// `1`) and 3 (which normalises to a float, e.g. `1.0`).
pub fn le_matcher(bound: f64) -> String {
    let short = format!("{bound}");
    let alternatives = if short.contains('.') {
        short.replace('.', "\\\\.")
    } else {
        format!("{short}|{short}\\\\.0")
    };
    format!("le=~\"{alternatives}\"")
}

/// A float as PromQL reads it, without binary noise (`0.999`, not `0.9990000000000001`).
pub fn number(value: f64) -> String {
    let rounded = (value * 1e12).round() / 1e12;
    format!("{rounded}")
}

/// Absent when rules are off and no SLO is declared.
pub fn build(service: &Validated) -> Option<PrometheusRule> {
    let monitoring = &service.monitoring;
    let selector = Selector::new(service);
    let group = |suffix: &str| format!("{}.{}.{suffix}", service.namespace, service.name);
    let mut groups = Vec::new();
    if let Some(rules) = &monitoring.rules {
        groups.push(RuleGroup {
            name: group("recording"),
            interval: None,
            rules: recording::rules(&selector),
        });
        if !rules.alerts.is_empty() {
            groups.push(RuleGroup {
                name: group("alerts"),
                interval: None,
                rules: alerts::rules(service, rules, &selector),
            });
        }
    }
    if let Some(slo) = &monitoring.slo {
        groups.extend(slo::groups(service, slo, &selector, group("slo")));
    }
    if groups.is_empty() {
        return None;
    }
    Some(PrometheusRule {
        metadata: monitoring_meta(service, &service.name),
        spec: PrometheusRuleSpec { groups },
    })
}

/// Labels every alert of this DiceService carries: the author's `alertLabels`, then ours.
/// `namespace` is static because aggregations drop it and the AlertmanagerConfig's routes only
/// see alerts labelled with its namespace.
pub fn static_labels(service: &Validated, severity: &str) -> BTreeMap<String, String> {
    let mut labels = service.monitoring.alert_labels.clone();
    labels.extend([
        ("severity".to_owned(), severity.to_owned()),
        ("namespace".to_owned(), service.namespace.clone()),
        ("service".to_owned(), service.name.clone()),
    ]);
    labels
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

#[derive(Debug)]
pub struct PrometheusRuleChild;

impl crate::children::Child for PrometheusRuleChild {
    type Object = PrometheusRule;
    const STEM: &'static str = "prometheusrule";
    const LIFECYCLE: crate::children::Lifecycle =
        crate::children::Lifecycle::DeletedWhenSwitchedOff;
    const SERVED_AS: Option<crate::served::MonitoringKind> =
        Some(crate::served::MonitoringKind::PrometheusRule);
    const REPORTED: bool = true;

    fn build(inputs: crate::children::Inputs<'_>) -> Option<PrometheusRule> {
        build(inputs.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn le_matches_both_prometheus_spellings_of_whole_numbers() {
        assert_eq!(le_matcher(1.0), r#"le=~"1|1\\.0""#);
        assert_eq!(le_matcher(0.5), r#"le=~"0\\.5""#);
        assert_eq!(le_matcher(2.5), r#"le=~"2\\.5""#);
    }
}
