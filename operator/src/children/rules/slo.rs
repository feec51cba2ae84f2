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
use crate::validate::monitoring::{BurnSeverities, Slo};
use std::collections::BTreeMap;

const THIRTY_DAYS: f64 = 30.0 * 86_400.0;
/// (factor for 30 days, long window, short window), page then ticket.
const PAGE: [(f64, &str, &str); 2] = [(14.4, "1h", "5m"), (6.0, "6h", "30m")];
const TICKET: [(f64, &str, &str); 2] = [(3.0, "1d", "2h"), (1.0, "3d", "6h")];
const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

pub const ERROR_RATIO_PREFIX: &str = "slo:sli_error:ratio_rate";
pub const BUDGET_REMAINING: &str = "slo:error_budget_remaining:ratio";
pub const OBJECTIVE: &str = "slo:objective:ratio";
/// The label that tells an SLO's page from its ticket (`page` or `ticket`), whatever severities
/// they are given: the page inhibits the ticket by it.
pub const URGENCY: &str = "urgency";

/// The SLOs a DiceService can declare: the one list of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SloKind {
    Availability,
    Latency,
}

impl SloKind {
    pub const ALL: [SloKind; 2] = [SloKind::Availability, SloKind::Latency];

    /// The `slo` label.
    pub fn label(self) -> &'static str {
        match self {
            SloKind::Availability => "availability",
            SloKind::Latency => "latency",
        }
    }

    /// The burn-rate alert's name (the page and the ticket share it).
    pub fn alert(self) -> &'static str {
        match self {
            SloKind::Availability => "AvailabilityErrorBudgetBurn",
            SloKind::Latency => "LatencyErrorBudgetBurn",
        }
    }
}

/// One SLO: its kind, objective, severities, and the series of good and of all events; its
/// error ratio over a range is [`super::error_ratio`].
struct Objective {
    kind: SloKind,
    objective: f64,
    severities: BurnSeverities,
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
            name: format!("{prefix}-{}", objective.kind.label()),
            rules: rules(service, slo, &objective),
        })
        .collect()
}

fn objectives(slo: &Slo, selector: &Selector) -> Vec<Objective> {
    let mut objectives = Vec::new();
    if let Some(availability) = &slo.availability {
        let objective = availability.objective;
        objectives.push(Objective {
            kind: SloKind::Availability,
            objective,
            severities: availability.severities,
            what: format!("{}% of dice requests succeed", number(objective * 100.0)),
            good: format!("http_requests_total{}", selector.api(&[r#"status!~"5..""#])),
            all: format!("http_requests_total{}", selector.api(&[])),
        });
    }
    if let Some(latency) = &slo.latency {
        let le = le_matcher(latency.threshold_seconds);
        objectives.push(Objective {
            kind: SloKind::Latency,
            objective: latency.objective,
            severities: latency.severities,
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
    let slo_name = objective.kind.label();
    let alert = objective.kind.alert();
    let slo_labels = BTreeMap::from([("slo".to_owned(), slo_name.to_owned())]);
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
        slo_name
    );
    rules.push(Rule {
        record: Some(OBJECTIVE.to_owned()),
        expr: format!("vector({})", number(objective.objective)),
        labels: BTreeMap::from([
            ("slo".to_owned(), slo_name.to_owned()),
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
    let severities = objective.severities;
    for (severity, pairs, urgency) in [
        (severities.page, PAGE, "page"),
        (severities.ticket, TICKET, "ticket"),
    ] {
        let conditions: Vec<String> = pairs
            .iter()
            .map(|(factor, long, short)| {
                let threshold = number(factor * scale * budget);
                format!(
                    "({ERROR_RATIO_PREFIX}{long}{own} > {threshold} and {ERROR_RATIO_PREFIX}{short}{own} > {threshold})"
                )
            })
            .collect();
        let mut labels = static_labels(service, severity.as_str());
        labels.insert("slo".into(), slo_name.into());
        labels.insert(URGENCY.into(), urgency.into());
        let base = &service.monitoring.runbook_base_url;
        rules.push(Rule {
            alert: Some(alert.to_owned()),
            expr: conditions.join("\nor\n"),
            for_: slo.for_.clone(),
            labels,
            annotations: annotations(
                service,
                base,
                alert,
                format!(
                    "{}/{}: the {slo_name} error budget is burning fast enough to {urgency}",
                    service.namespace, service.name
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
