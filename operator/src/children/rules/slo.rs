//! SLOs as multi-window, multi-burn-rate alerts (Google SRE workbook, chapter 5): error ratios
//! recorded over each window, page and ticket alerts, and the error budget left.
//!
//! The workbook's factors are for a 30-day window (14.4× spends 2% of the budget in an hour);
//! for another window they are scaled by window / 30d so each alert still means the same share
//! of the budget.

use super::alerts::{annotations, static_labels};
use super::{Selector, le_matcher, number};
use crate::prometheus_operator::{Rule, RuleGroup};
use crate::validate::Validated;
use crate::validate::monitoring::Slo;
use std::collections::BTreeMap;

const THIRTY_DAYS: f64 = 30.0 * 86_400.0;
/// (factor for 30 days, long window, short window), page then ticket.
const PAGE: [(f64, &str, &str); 2] = [(14.4, "1h", "5m"), (6.0, "6h", "30m")];
const TICKET: [(f64, &str, &str); 2] = [(3.0, "1d", "2h"), (1.0, "3d", "6h")];
const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

pub const ERROR_RATIO_PREFIX: &str = "slo:sli_error:ratio_rate";
pub const BUDGET_REMAINING: &str = "slo:error_budget_remaining:ratio";
pub const OBJECTIVE: &str = "slo:objective:ratio";

/// One SLO: its name (the `slo` label), alert name, objective, and the series of good and of
/// all events; its error ratio over a range is [`super::error_ratio`].
struct Objective {
    slo: &'static str,
    alert: &'static str,
    objective: f64,
    what: String,
    good: String,
    all: String,
}

impl Objective {
    fn error_ratio(&self, range: &str) -> String {
        super::error_ratio(&self.good, &self.all, range)
    }
}

pub fn groups(
    service: &Validated,
    slo: &Slo,
    selector: &Selector,
    prefix: String,
) -> Vec<RuleGroup> {
    objectives(slo, selector)
        .into_iter()
        .map(|objective| RuleGroup {
            name: format!("{prefix}-{}", objective.slo),
            rules: rules(service, slo, &objective),
        })
        .collect()
}

fn objectives(slo: &Slo, selector: &Selector) -> Vec<Objective> {
    let mut objectives = Vec::new();
    if let Some(objective) = slo.availability {
        objectives.push(Objective {
            slo: "availability",
            alert: "AvailabilityErrorBudgetBurn",
            objective,
            what: format!("{}% of dice requests succeed", number(objective * 100.0)),
            good: format!("http_requests_total{}", selector.api(&[r#"status!~"5..""#])),
            all: format!("http_requests_total{}", selector.api(&[])),
        });
    }
    if let Some(latency) = &slo.latency {
        let le = le_matcher(latency.threshold_seconds);
        objectives.push(Objective {
            slo: "latency",
            alert: "LatencyErrorBudgetBurn",
            objective: latency.objective,
            what: format!(
                "{}% of dice requests answer within {}",
                number(latency.objective * 100.0),
                latency.threshold
            ),
            good: format!(
                "http_request_duration_seconds_bucket{}",
                selector.api(&[&le])
            ),
            all: format!("http_request_duration_seconds_count{}", selector.api(&[])),
        });
    }
    objectives
}

fn rules(service: &Validated, slo: &Slo, objective: &Objective) -> Vec<Rule> {
    let slo_labels = BTreeMap::from([("slo".to_owned(), objective.slo.to_owned())]);
    let budget = 1.0 - objective.objective;
    let scale = slo.window_seconds / THIRTY_DAYS;
    let mut rules: Vec<Rule> = WINDOWS
        .iter()
        .chain(std::iter::once(&slo.window.as_str()).filter(|w| !WINDOWS.contains(w)))
        .map(|window| Rule {
            record: Some(format!("{ERROR_RATIO_PREFIX}{window}")),
            expr: objective.error_ratio(window),
            labels: slo_labels.clone(),
            ..Rule::default()
        })
        .collect();
    let own = format!(
        r#"{{job="{}",namespace="{}",slo="{}"}}"#,
        super::escape(&service.name),
        super::escape(&service.namespace),
        objective.slo
    );
    rules.push(Rule {
        record: Some(OBJECTIVE.to_owned()),
        expr: format!("vector({})", number(objective.objective)),
        labels: BTreeMap::from([
            ("slo".to_owned(), objective.slo.to_owned()),
            ("job".to_owned(), service.name.clone()),
            ("namespace".to_owned(), service.namespace.clone()),
        ]),
        ..Rule::default()
    });
    rules.push(Rule {
        record: Some(BUDGET_REMAINING.to_owned()),
        expr: format!(
            "1 - {ERROR_RATIO_PREFIX}{}{own} / {}",
            slo.window,
            number(budget)
        ),
        labels: slo_labels.clone(),
        ..Rule::default()
    });
    for (severity, pairs, urgency) in [("critical", PAGE, "page"), ("warning", TICKET, "ticket")] {
        let conditions: Vec<String> = pairs
            .iter()
            .map(|(factor, long, short)| {
                let threshold = number(factor * scale * budget);
                format!(
                    "({ERROR_RATIO_PREFIX}{long}{own} > {threshold} and {ERROR_RATIO_PREFIX}{short}{own} > {threshold})"
                )
            })
            .collect();
        let mut labels = static_labels(service, severity);
        labels.insert("slo".into(), objective.slo.into());
        let base = &service.monitoring.runbook_base_url;
        rules.push(Rule {
            alert: Some(objective.alert.to_owned()),
            expr: conditions.join("\nor\n"),
            for_: slo.for_.clone(),
            labels,
            annotations: annotations(
                service,
                base,
                objective.alert,
                format!(
                    "{}/{}: the {} error budget is burning fast enough to {urgency}",
                    service.namespace, service.name, objective.slo
                ),
                format!(
                    "Objective: {} over {}. At the current error ratio the error budget runs out long \
                     before the window ends; {urgency} means {}.",
                    objective.what,
                    slo.window,
                    if urgency == "page" {
                        "act now (2% of the budget burns per hour or faster)"
                    } else {
                        "fix within days"
                    }
                ),
            ),
            ..Rule::default()
        });
    }
    rules
}
