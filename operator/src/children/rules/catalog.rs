//! Every alert the operator generates, in one list the compiler keeps whole: the failure each
//! one answers, how it is detected, which alerts it silences in Alertmanager, and its runbook.

use super::slo::SloKind;
use crate::crd::{AlertName, RulesSpec};

/// A generated alert: one of the rule alerts, or an SLO's burn-rate alert (page and ticket share
/// the name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GeneratedAlert {
    Rule(AlertName),
    Burn(SloKind),
}

/// What an alert means to the others of the same service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The service is gone or unreachable: every symptom of it is noise beside this page.
    Cause,
    /// What users feel (errors, latency, an unreachable Service): silenced by a cause.
    Symptom,
    /// Stands on its own (memory, restarts): a dead service does not explain it away.
    Independent,
}

/// An alert's documentation: the failure it answers and what to do.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub failure: &'static str,
    /// What `threshold` means for this alert; `None` where it is unused.
    pub threshold: Option<&'static str>,
    /// How long after the failure starts the condition is seen, before `for` runs.
    pub detection: &'static str,
    /// The longest that takes with the defaults (30s scrapes, probes and rule evaluations,
    /// 5s samples), in seconds.
    pub detection_seconds: u64,
    pub runbook: &'static str,
}

impl GeneratedAlert {
    /// Every generated alert, rule alerts first. The rule alerts come from
    /// [`RulesSpec::alerts`], which lists them without `..`.
    pub fn all() -> Vec<GeneratedAlert> {
        RulesSpec::default()
            .alerts()
            .into_iter()
            .map(|(name, _)| GeneratedAlert::Rule(name))
            .chain(SloKind::ALL.into_iter().map(GeneratedAlert::Burn))
            .collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            GeneratedAlert::Rule(name) => name.as_str(),
            GeneratedAlert::Burn(kind) => kind.alert(),
        }
    }

    pub fn role(self) -> Role {
        match self {
            GeneratedAlert::Rule(AlertName::ServiceDown | AlertName::ServiceAbsent) => Role::Cause,
            GeneratedAlert::Rule(
                AlertName::ProbeFailing | AlertName::HighErrorRate | AlertName::SlowResponseTime,
            )
            | GeneratedAlert::Burn(_) => Role::Symptom,
            GeneratedAlert::Rule(AlertName::HighMemoryUsage | AlertName::PodRestarting) => {
                Role::Independent
            }
        }
    }

    pub fn entry(self) -> Entry {
        match self {
            GeneratedAlert::Rule(name) => rule_entry(name),
            GeneratedAlert::Burn(kind) => burn_entry(kind),
        }
    }
}

/// The threshold alert an SLO's page makes redundant: same errors, better calibrated.
pub fn covered_by_page(kind: SloKind) -> AlertName {
    match kind {
        SloKind::Availability => AlertName::HighErrorRate,
        SloKind::Latency => AlertName::SlowResponseTime,
    }
}

const SCRAPE: &str = "the next scrape and rule evaluation";
/// A scrape interval and a rule evaluation interval, the defaults of kube-prometheus-stack.
const SCRAPE_SECONDS: u64 = 60;

fn rule_entry(name: AlertName) -> Entry {
    match name {
        AlertName::HighErrorRate => Entry {
            failure: "error burst (the risky die failing, a bad rollout)",
            threshold: Some("share of dice requests answered 5xx over 5m"),
            detection: "the 5-minute error ratio crosses the threshold: the next scrape at a total outage",
            detection_seconds: SCRAPE_SECONDS,
            runbook: include_str!("runbooks/high_error_rate.md"),
        },
        AlertName::SlowResponseTime => Entry {
            failure: "slow answers",
            threshold: Some("p95 latency over 5m, in seconds"),
            detection: "the 5-minute p95 crosses the threshold: the next scrape when every request is slow",
            detection_seconds: SCRAPE_SECONDS,
            runbook: include_str!("runbooks/slow_response_time.md"),
        },
        AlertName::ServiceDown => Entry {
            failure: "process killed, crash-looping, a pod not answering scrapes",
            threshold: None,
            detection: SCRAPE,
            detection_seconds: SCRAPE_SECONDS,
            runbook: include_str!("runbooks/service_down.md"),
        },
        AlertName::ServiceAbsent => Entry {
            failure: "no targets at all: 0 ready pods, endpoints gone, selector broken",
            threshold: None,
            detection: SCRAPE,
            detection_seconds: SCRAPE_SECONDS,
            runbook: include_str!("runbooks/service_absent.md"),
        },
        AlertName::ProbeFailing => Entry {
            failure: "the Service unreachable while pods look up (no endpoints, wrong \
                      targetPort, NetworkPolicy)",
            threshold: None,
            detection: "the next probe and rule evaluation",
            detection_seconds: SCRAPE_SECONDS,
            runbook: include_str!("runbooks/probe_failing.md"),
        },
        AlertName::HighMemoryUsage => Entry {
            failure: "memory near the container limit (OOM kill ahead)",
            threshold: Some(
                "working set as a share of the memory limit (`thresholdWithoutLimitMiB`: resident MiB without a limit)",
            ),
            detection: "the next sample (every 5s), scrape and rule evaluation",
            detection_seconds: SCRAPE_SECONDS + 5,
            runbook: include_str!("runbooks/high_memory_usage.md"),
        },
        AlertName::PodRestarting => Entry {
            failure: "container restarts, crash loops",
            threshold: Some("restarts within 15m"),
            detection: "the first scrape of the new process",
            detection_seconds: SCRAPE_SECONDS,
            runbook: include_str!("runbooks/pod_restarting.md"),
        },
    }
}

fn burn_entry(kind: SloKind) -> Entry {
    match kind {
        SloKind::Availability => Entry {
            failure: "errors spending the availability error budget: fast (page) or steadily \
                      (ticket)",
            threshold: None,
            detection: "the next scrape at a total outage; both windows of a pair must cross",
            detection_seconds: SCRAPE_SECONDS,
            runbook: include_str!("runbooks/availability_error_budget_burn.md"),
        },
        SloKind::Latency => Entry {
            failure: "slow answers spending the latency error budget: fast (page) or steadily \
                      (ticket)",
            threshold: None,
            detection: "the next scrape when every request is slower than the threshold",
            detection_seconds: SCRAPE_SECONDS,
            runbook: include_str!("runbooks/latency_error_budget_burn.md"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alert_is_listed_once_with_a_runbook() {
        let all = GeneratedAlert::all();
        let mut names: Vec<&str> = all.iter().map(|a| a.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert_eq!(all.len(), 9);
        for alert in all {
            assert!(alert.entry().runbook.trim().len() > 100, "{}", alert.name());
        }
    }
}
