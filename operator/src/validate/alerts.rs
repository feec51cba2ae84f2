//! `spec.monitoring.rules` and `alertLabels` → [`Rules`] and the labels on every alert: per-alert
//! defaults applied, and what the schema cannot check (label-name syntax) checked.

pub use crate::crd::RESERVED_ALERT_LABELS;
use crate::crd::{AlertName, AlertSpec, RulesSpec, Severity};
use crate::{Error, Result};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Only the alerts switched on.
    pub alerts: Vec<Alert>,
    /// HighMemoryUsage's resident-memory threshold for pods without a memory limit, in MiB.
    pub memory_without_limit_mib: f64,
}

/// What an alert is when the spec does not override it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertDefaults {
    pub threshold: f64,
    pub for_: &'static str,
    pub severity: Severity,
}

impl AlertName {
    /// Threshold, `for` and severity when the spec does not override them.
    pub fn defaults(self) -> AlertDefaults {
        let (threshold, for_, severity) = match self {
            AlertName::HighErrorRate => (0.05, "5m", Severity::Critical),
            AlertName::SlowResponseTime => (1.0, "10m", Severity::Warning),
            AlertName::ServiceDown => (0.0, "2m", Severity::Critical),
            AlertName::ServiceAbsent => (0.0, "2m", Severity::Critical),
            AlertName::ProbeFailing => (0.0, "3m", Severity::Critical),
            AlertName::HighMemoryUsage => (0.9, "5m", Severity::Warning),
            AlertName::PodRestarting => (0.0, "5m", Severity::Warning),
        };
        AlertDefaults {
            threshold,
            for_,
            severity,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub name: AlertName,
    pub threshold: f64,
    pub for_: String,
    pub severity: Severity,
}

pub fn rules(spec: &RulesSpec) -> Result<Option<Rules>> {
    if !spec.enabled {
        return Ok(None);
    }
    let alerts: Vec<Alert> = spec
        .alerts()
        .into_iter()
        .filter(|(_, alert)| alert.enabled)
        .map(|(name, alert)| resolve(name, alert))
        .collect();
    if let Some(memory) = alerts
        .iter()
        .find(|a| a.name == AlertName::HighMemoryUsage)
        .filter(|a| !(a.threshold > 0.0 && a.threshold <= 1.0))
    {
        return Err(Error::InvalidSpec(format!(
            "monitoring.rules.highMemoryUsage.threshold {} is a share of the container memory \
             limit, above 0 and at most 1 (e.g. 0.9); the size in MiB for pods without a limit \
             is thresholdWithoutLimitMiB",
            memory.threshold
        )));
    }
    Ok(Some(Rules {
        alerts,
        memory_without_limit_mib: spec
            .high_memory_usage
            .threshold_without_limit_mib
            .unwrap_or(200.0),
    }))
}

/// The API server checks the reserved names and values with the CRD's CEL rules; `render` and
/// older CRDs get the same answer here, and the key syntax (too costly for CEL) and the admin's
/// `routing` labels (a flag, which CEL cannot read) only here.
pub fn alert_labels(
    labels: &BTreeMap<String, String>,
    routing: &[String],
) -> Result<BTreeMap<String, String>> {
    for (key, value) in labels {
        let name_ok = key
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
            && !key.is_empty()
            && !key.starts_with("__");
        if !name_ok {
            return Err(Error::InvalidSpec(format!(
                "monitoring.alertLabels key {key:?} is not a Prometheus label name \
                 ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
            )));
        }
        if RESERVED_ALERT_LABELS.contains(&key.as_str()) {
            return Err(Error::InvalidSpec(format!(
                "monitoring.alertLabels may not set {key:?}: the generated alerts carry it \
                 already (reserved: {})",
                RESERVED_ALERT_LABELS.join(", ")
            )));
        }
        if routing.iter().any(|reserved| reserved == key) {
            return Err(Error::InvalidSpec(format!(
                "monitoring.alertLabels may not set {key:?}: the operator's administrator \
                 reserves it for routing alerts (reserved: {})",
                routing.join(", ")
            )));
        }
        if value.contains("{{") || value.contains("}}") {
            return Err(Error::InvalidSpec(format!(
                "monitoring.alertLabels.{key} may not contain {{{{ or }}}}: Prometheus expands \
                 alert labels as templates"
            )));
        }
    }
    Ok(labels.clone())
}

fn resolve(name: AlertName, spec: &AlertSpec) -> Alert {
    let defaults = name.defaults();
    Alert {
        name,
        threshold: spec.threshold.unwrap_or(defaults.threshold),
        for_: spec
            .for_
            .clone()
            .unwrap_or_else(|| defaults.for_.to_owned()),
        severity: spec.severity.unwrap_or(defaults.severity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn routing_labels_pass_through() {
        let wanted = labels(&[("team", "payments"), ("tier", "1"), ("_pd", "P123")]);
        assert_eq!(alert_labels(&wanted, &[]).unwrap(), wanted);
    }

    #[test]
    fn labels_the_alerts_carry_are_refused_by_name() {
        for reserved in RESERVED_ALERT_LABELS {
            let error = alert_labels(&labels(&[(reserved, "x")]), &[]).unwrap_err();
            let message = error.to_string();
            assert!(message.contains(&format!("{reserved:?}")), "{message}");
            assert!(message.contains("carry it already"), "{message}");
        }
    }

    #[test]
    fn labels_the_administrator_routes_on_are_refused() {
        let routing: Vec<String> = crate::DEFAULT_RESERVED_ALERT_LABELS
            .split(',')
            .map(str::to_owned)
            .chain(["team".to_owned()])
            .collect();
        for key in ["cluster", "prometheus", "prometheus_replica", "team"] {
            let error = alert_labels(&labels(&[(key, "x")]), &routing).unwrap_err();
            assert!(
                error.to_string().contains("reserves it for routing"),
                "{error}"
            );
        }
        assert!(alert_labels(&labels(&[("tier", "1")]), &routing).is_ok());
    }

    #[test]
    fn keys_prometheus_refuses_and_template_braces_are_refused() {
        for key in ["", "1team", "team-name", "__meta", "tëam"] {
            let error = alert_labels(&labels(&[(key, "x")]), &[]).unwrap_err();
            assert!(
                error.to_string().contains("not a Prometheus label name"),
                "{key}"
            );
        }
        let error = alert_labels(&labels(&[("team", "{{ $labels.job }}")]), &[]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("expands alert labels as templates")
        );
    }

    #[test]
    fn memory_threshold_is_a_share_of_the_limit() {
        let mut spec = RulesSpec::default();
        spec.high_memory_usage.alert.threshold = Some(200.0);
        let error = rules(&spec).unwrap_err().to_string();
        assert!(error.contains("thresholdWithoutLimitMiB"), "{error}");
        spec.high_memory_usage.alert.threshold = None;
        spec.high_memory_usage.threshold_without_limit_mib = Some(300.0);
        let rules = rules(&spec).unwrap().unwrap();
        assert_eq!(rules.memory_without_limit_mib, 300.0);
        let memory = rules
            .alerts
            .iter()
            .find(|a| a.name == AlertName::HighMemoryUsage)
            .unwrap();
        assert_eq!(memory.threshold, 0.9);
    }
}
