//! SLOs as multi-window, multi-burn-rate alerts (Google SRE workbook, chapter 5): error ratios
//! recorded over each window, page and ticket alerts, and the error budget left.
//!
//! The workbook's factors are for a 30-day window (14.4× spends 2% of the budget in an hour);
//! for another window they are scaled by window / 30d so each alert still means the same share
//! of the budget.
//!
//! Only the 5-minute rates read the raw series (every bucket, code and pod); every longer window
//! is built from those recordings, so a 30-day ratio reads two series instead of every raw sample
//! of the month. Windows up to an hour sum the 5-minute rates of each evaluation; longer ones sum
//! *tiles*, the same rates recorded by a slower group (every 5 minutes by default, so they tile
//! time without overlap). Good and all events are summed separately, so the ratio weighs each moment by
//! its traffic: a quiet night counts for what it served, not like a busy hour.

use super::{Selector, annotations, le_matcher, number, static_labels};
use crate::prometheus_operator::{Rule, RuleGroup};
use crate::validate::Validated;
use crate::validate::monitoring::{BurnSeverities, Slo};
use std::collections::BTreeMap;

const THIRTY_DAYS: f64 = 30.0 * 86_400.0;
/// (factor for 30 days, long window, short window), page then ticket.
const PAGE: [(f64, &str, &str); 2] = [(14.4, "1h", "5m"), (6.0, "6h", "30m")];
const TICKET: [(f64, &str, &str); 2] = [(3.0, "1d", "2h"), (1.0, "3d", "6h")];
/// Windows summed from the 5-minute rates of every evaluation (at most 2.5 minutes late).
const FROM_RATES: [&str; 2] = ["30m", "1h"];
/// Windows summed from the tiles, with the SLO window itself (at most one tile late).
const FROM_TILES: [&str; 4] = ["2h", "6h", "1d", "3d"];

pub const GOOD_RATE: &str = "slo:sli_good:rate5m";
pub const ALL_RATE: &str = "slo:sli_all:rate5m";
pub const GOOD_TILE: &str = "slo:sli_good:tile5m";
pub const ALL_TILE: &str = "slo:sli_all:tile5m";
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

/// One SLO: its kind, objective, severities, and the series of good and of all events.
struct Objective {
    kind: SloKind,
    objective: f64,
    severities: BurnSeverities,
    what: String,
    good: String,
    all: String,
}

/// Two groups per SLO: the rates, short windows and alerts at the global interval, and the tiles
/// with the long windows at `longWindowsInterval`.
pub fn groups(
    service: &Validated,
    slo: &Slo,
    selector: &Selector,
    prefix: String,
) -> Vec<RuleGroup> {
    objectives(slo, selector)
        .into_iter()
        .flat_map(|objective| {
            let own = Own::new(service, objective.kind);
            let name = format!("{prefix}-{}", objective.kind.label());
            [
                RuleGroup {
                    name: name.clone(),
                    interval: None,
                    rules: [
                        rates(&objective, &own),
                        alerts(service, slo, &objective, &own),
                    ]
                    .concat(),
                },
                RuleGroup {
                    name: format!("{name}-long"),
                    interval: Some(slo.long_windows_interval.clone()),
                    rules: long_windows(service, slo, &objective, &own),
                },
            ]
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

/// The matchers and `slo` label of one SLO's recorded series.
struct Own {
    slo: &'static str,
    matchers: String,
}

impl Own {
    fn new(service: &Validated, kind: SloKind) -> Self {
        Self {
            slo: kind.label(),
            matchers: format!(
                r#"{{job="{}",namespace="{}",slo="{}"}}"#,
                super::escape(&service.name),
                super::escape(&service.namespace),
                kind.label()
            ),
        }
    }

    fn series(&self, name: &str) -> String {
        format!("{name}{}", self.matchers)
    }

    fn record(&self, name: String, expr: String) -> Rule {
        Rule {
            record: Some(name),
            expr,
            labels: BTreeMap::from([("slo".to_owned(), self.slo.to_owned())]),
            ..Rule::default()
        }
    }

    /// The error ratio over `window` from per-moment rates of good and of all events: sums, not
    /// an average of ratios, so each moment counts by its traffic.
    fn summed_ratio(&self, good: &str, all: &str, window: &str) -> Rule {
        self.record(
            format!("{ERROR_RATIO_PREFIX}{window}"),
            format!(
                "1 - (\n  sum_over_time({}[{window}])\n  /\n  sum_over_time({}[{window}])\n)",
                self.series(good),
                self.series(all)
            ),
        )
    }
}

/// The only rules that read raw series: 5-minute rates of good and of all events per job. A
/// complete outage leaves no `good` series at all, so a missing one counts as zero good events
/// instead of making every ratio vanish when it matters most.
fn rates(objective: &Objective, own: &Own) -> Vec<Rule> {
    let sum = |series: &str| format!("sum by (namespace, job) (rate({series}[5m]))");
    let mut rules = vec![
        own.record(
            GOOD_RATE.to_owned(),
            format!("{}\nor\n0 * {}", sum(&objective.good), sum(&objective.all)),
        ),
        own.record(ALL_RATE.to_owned(), sum(&objective.all)),
        own.record(
            format!("{ERROR_RATIO_PREFIX}5m"),
            format!("1 - {} / {}", own.series(GOOD_RATE), own.series(ALL_RATE)),
        ),
    ];
    rules.extend(
        FROM_RATES
            .iter()
            .map(|window| own.summed_ratio(GOOD_RATE, ALL_RATE, window)),
    );
    rules
}

/// Tiles, the windows from two hours to the SLO window, the objective and the budget left.
fn long_windows(service: &Validated, slo: &Slo, objective: &Objective, own: &Own) -> Vec<Rule> {
    let mut rules = vec![
        own.record(GOOD_TILE.to_owned(), own.series(GOOD_RATE)),
        own.record(ALL_TILE.to_owned(), own.series(ALL_RATE)),
    ];
    let slo_window = std::iter::once(slo.window.as_str()).filter(|w| !FROM_TILES.contains(w));
    rules.extend(
        FROM_TILES
            .iter()
            .copied()
            .chain(slo_window)
            .map(|window| own.summed_ratio(GOOD_TILE, ALL_TILE, window)),
    );
    rules.push(Rule {
        record: Some(OBJECTIVE.to_owned()),
        expr: format!("vector({})", number(objective.objective)),
        labels: BTreeMap::from([
            ("slo".to_owned(), own.slo.to_owned()),
            ("job".to_owned(), service.name.clone()),
            ("namespace".to_owned(), service.namespace.clone()),
        ]),
        ..Rule::default()
    });
    rules.push(own.record(
        BUDGET_REMAINING.to_owned(),
        format!(
            "1 - {} / {}",
            own.series(&format!("{ERROR_RATIO_PREFIX}{}", slo.window)),
            number(1.0 - objective.objective)
        ),
    ));
    rules
}

fn alerts(service: &Validated, slo: &Slo, objective: &Objective, own: &Own) -> Vec<Rule> {
    let slo_name = own.slo;
    let alert = objective.kind.alert();
    let budget = 1.0 - objective.objective;
    let scale = slo.window_seconds / THIRTY_DAYS;
    let ratio = |window: &str| own.series(&format!("{ERROR_RATIO_PREFIX}{window}"));
    let severities = objective.severities;
    let mut rules = Vec::new();
    for (severity, pairs, urgency) in [
        (severities.page, PAGE, "page"),
        (severities.ticket, TICKET, "ticket"),
    ] {
        let conditions: Vec<String> = pairs
            .iter()
            .map(|(factor, long, short)| {
                let threshold = number(factor * scale * budget);
                format!(
                    "({} > {threshold} and {} > {threshold})",
                    ratio(long),
                    ratio(short)
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
