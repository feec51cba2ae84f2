//! The alerts users already run, written for the person paged at 3 a.m.: what is wrong, how
//! bad, where, and a runbook link.

use super::catalog::{GeneratedAlert, Role};
use super::recording::{ERROR_RATIO, LATENCY_P95};
use super::{Selector, annotations, escape, number, static_labels};
use crate::children::probe;
use crate::prometheus_operator::Rule;
use crate::validate::Validated;
use crate::validate::monitoring::{Alert, AlertName, Rules, prometheus_seconds};

const MIB: f64 = 1024.0 * 1024.0;
/// HighMemoryUsage's second form, for pods without a memory limit, says so in a label: it reads
/// resident memory rather than a share of the limit.
const WITHOUT_LIMIT: (&str, &str) = ("limit", "none");

pub fn rules(service: &Validated, rules: &Rules, selector: &Selector) -> Vec<Rule> {
    rules
        .alerts
        .iter()
        .filter(|alert| applies(service, alert.name))
        .flat_map(|alert| self::rule(service, rules, selector, alert))
        .collect()
}

/// Whether an alert can mean anything for this DiceService: "no targets" needs a ServiceMonitor
/// and pods wanted, the probe alert a Probe.
fn applies(service: &Validated, alert: AlertName) -> bool {
    match alert {
        AlertName::ServiceAbsent => {
            service.monitoring.service_monitor.is_some() && service.scaling.min_replicas() > 0
        }
        AlertName::ProbeFailing => service.monitoring.probe.is_some(),
        AlertName::HighErrorRate
        | AlertName::SlowResponseTime
        | AlertName::ServiceDown
        | AlertName::HighMemoryUsage
        | AlertName::PodRestarting => true,
    }
}

/// One rule of an alert: its expression and texts, and a label telling it from the alert's other
/// rule where it has two (promtool refuses two rules of one name with the same labels).
struct Form {
    expr: String,
    summary: String,
    description: String,
    label: Option<(&'static str, &'static str)>,
}

fn form(expr: String, summary: String, description: String) -> Form {
    Form {
        expr,
        summary,
        description,
        label: None,
    }
}

impl Form {
    fn labelled(self, label: (&'static str, &'static str)) -> Form {
        Form {
            label: Some(label),
            ..self
        }
    }
}

/// One alert's rules: one, or two where a second form covers what the first cannot see (no
/// memory limit, no kube-state-metrics).
fn rule(service: &Validated, rules: &Rules, selector: &Selector, alert: &Alert) -> Vec<Rule> {
    let where_ = format!("{}/{}", service.namespace, service.name);
    let threshold = alert.threshold;
    let all = selector.with(&[]);
    let forms: Vec<Form> = match alert.name {
        AlertName::HighErrorRate => vec![form(
            format!("{ERROR_RATIO}{all} > {threshold}"),
            format!("{where_}: {{{{ $value | humanizePercentage }}}} of dice requests fail"),
            format!(
                "More than {} of requests to {where_} answered 5xx over the last 5 minutes, for {}. \
                 Users see failed rolls.",
                percent(threshold),
                alert.for_
            ),
        )],
        AlertName::SlowResponseTime => vec![form(
            format!("{LATENCY_P95}{all} > {threshold}"),
            format!("{where_}: p95 latency is {{{{ $value | humanizeDuration }}}}"),
            format!(
                "The 95th percentile of dice request latency on {where_} has been above {threshold}s for {}.",
                alert.for_
            ),
        )],
        AlertName::ServiceDown => vec![form(
            format!("up{all} == 0"),
            format!("{where_}: a dice-server target is down ({{{{ $labels.instance }}}})"),
            format!(
                "Prometheus could not scrape {{{{ $labels.instance }}}} of {where_} for {}: the pod is \
                 down, not ready, or not reachable.",
                alert.for_
            ),
        )],
        AlertName::ServiceAbsent => vec![form(
            format!("absent(up{all})"),
            format!("{where_}: Prometheus has no dice-server target at all"),
            format!(
                "No pod of {where_} has been a scrape target for {}: no pod is ready (scaled to 0, \
                 Pending, evicted or crash-looping), the Service selects none, or the \
                 ServiceMonitor matches nothing. Nothing else can alert while this lasts.",
                alert.for_
            ),
        )],
        AlertName::ProbeFailing => vec![form(
            format!(
                "probe_success{{job=\"{}\",namespace=\"{}\"}} == 0",
                escape(&probe::job_name(service)),
                escape(&service.namespace)
            ),
            format!("{where_}: the Service does not answer its probe"),
            format!(
                "The blackbox exporter could not get a 2xx from {{{{ $labels.instance }}}} for {}: \
                 the Service is unreachable from inside the cluster (no endpoints, wrong \
                 targetPort, a NetworkPolicy) even if pods look up.",
                alert.for_
            ),
        )],
        AlertName::HighMemoryUsage => {
            let by = "max by (namespace, job, pod)";
            let limit = format!("system_cgroup_memory_limit_bytes{all}");
            vec![
                form(
                    format!(
                        "{by} (system_cgroup_memory_working_set_bytes{all} / {limit}) > {}",
                        number(threshold)
                    ),
                    format!(
                        "{where_}: pod {{{{ $labels.pod }}}} uses {{{{ $value | humanizePercentage }}}} of its memory limit"
                    ),
                    format!(
                        "The working set of {{{{ $labels.pod }}}} has been above {} of its container \
                         memory limit for {}; at the limit the container is OOM-killed.",
                        percent(threshold),
                        alert.for_
                    ),
                ),
                form(
                    format!(
                        "{by} (process_resident_memory_bytes{all}) > {} unless on (namespace, job, pod) {limit}",
                        number(rules.memory_without_limit_mib * MIB)
                    ),
                    format!(
                        "{where_}: pod {{{{ $labels.pod }}}} uses {{{{ $value | humanize1024 }}}}B of memory"
                    ),
                    format!(
                        "Resident memory of {{{{ $labels.pod }}}}, which has no memory limit, has been \
                         above {} MiB for {}.",
                        number(rules.memory_without_limit_mib),
                        alert.for_
                    ),
                )
                .labelled(WITHOUT_LIMIT),
            ]
        }
        AlertName::PodRestarting => {
            let by = "max by (namespace, pod)";
            let kube_state_metrics = format!(
                "{by} (increase(kube_pod_container_status_restarts_total{{namespace=\"{}\",pod=~\"{}-[a-z0-9]+-[a-z0-9]+\",container=\"dice-server\"}}[15m]))",
                escape(&service.namespace),
                escape(&service.name)
            );
            let own = format!("{by} (changes(process_start_time_seconds{all}[15m]))");
            vec![form(
                format!("({kube_state_metrics} or {own}) > {threshold}"),
                format!("{where_}: pod {{{{ $labels.pod }}}} is restarting"),
                "Container dice-server of {{ $labels.pod }} restarted {{ $value | humanize }} times in \
                 15 minutes (kube-state-metrics, or dice-server's own start time where it does \
                 not run). Check its logs and last termination reason."
                    .to_owned(),
            )]
        }
    };
    let name = alert.name.as_str();
    let keep_firing_for =
        (GeneratedAlert::Rule(alert.name).role() == Role::Cause).then(|| cause_hold(service));
    forms
        .into_iter()
        .map(|form| Rule {
            alert: Some(name.to_owned()),
            expr: form.expr,
            for_: Some(alert.for_.clone()),
            keep_firing_for: keep_firing_for.clone(),
            labels: static_labels(service, alert.severity.as_str())
                .into_iter()
                .chain(form.label.map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect(),
            annotations: annotations(
                service,
                &service.monitoring.runbook_base_url,
                name,
                form.summary,
                form.description,
            ),
            ..Rule::default()
        })
        .collect()
}

/// How long a cause (ServiceDown, ServiceAbsent) keeps firing after it cleared: three of the
/// longer of the scrape and probe intervals. The symptoms it silenced — the probe above all —
/// clear about as fast; held this long, they resolve while it still silences them instead of
/// notifying in the moment between.
fn cause_hold(service: &Validated) -> String {
    let seconds = |interval: Option<&String>| {
        interval
            .and_then(|text| prometheus_seconds(text))
            .unwrap_or(30.0)
    };
    let monitoring = &service.monitoring;
    let scrape = seconds(monitoring.service_monitor.as_ref().map(|s| &s.interval));
    let probe = seconds(monitoring.probe.as_ref().map(|p| &p.interval));
    format!("{}s", (3.0 * scrape.max(probe)).ceil() as u64)
}

fn percent(ratio: f64) -> String {
    format!("{}%", (ratio * 10_000.0).round() / 100.0)
}
