//! Durations the schema's patterns admit but their readers cannot hold: Prometheus and
//! Alertmanager keep durations as 64-bit nanoseconds (about 292 years), dice-server
//! parses its own with `humantime`. Out of range → `Degraded` naming the field, instead of a rule
//! file promtool refuses or a pod that exits at start.

use super::monitoring::prometheus_seconds;
use crate::crd::DiceServiceSpec;
use crate::crd::floors;
use crate::{Error, Result};

/// The longest duration Prometheus can hold, in seconds.
const PROMETHEUS_MAX_SECONDS: f64 = i64::MAX as f64 / 1e9;

/// `enforce_floors`: hold each interval to its floor in [`floors::ALL`]; without, only to
/// [`floors::ADMISSION_MINIMUM`], as the CRD's CEL rules do.
pub fn check(spec: &DiceServiceSpec, enforce_floors: bool) -> Result<()> {
    let monitoring = &spec.monitoring;
    let rules = &monitoring.rules;
    let alerts = rules.alerts().map(|(name, alert)| (name.field(), alert));
    // (field, value, whether 0 is refused): Alertmanager refuses zero intervals, and a probe
    // every 0s means none.
    let mut prometheus: Vec<(String, &str, bool)> = vec![
        (
            "monitoring.serviceMonitor.interval".into(),
            monitoring.service_monitor.interval.as_str(),
            false,
        ),
        (
            "monitoring.serviceMonitor.scrapeTimeout".into(),
            monitoring.service_monitor.scrape_timeout.as_str(),
            false,
        ),
        (
            "monitoring.probe.interval".into(),
            monitoring.probe.interval.as_str(),
            true,
        ),
    ];
    for (name, alert) in alerts {
        if let Some(for_) = &alert.for_ {
            prometheus.push((format!("monitoring.rules.{name}.for"), for_, false));
        }
    }
    if let Some(slo) = &monitoring.slo {
        if let Some(for_) = slo.for_.as_deref() {
            prometheus.push(("monitoring.slo.for".into(), for_, false));
        }
        // 0 is Prometheus' own "the global interval".
        prometheus.push((
            "monitoring.slo.longWindowsInterval".into(),
            slo.long_windows_interval.as_str(),
            false,
        ));
    }
    if let Some(alerting) = &spec.alerting {
        for (field, value, positive) in [
            ("groupWait", &alerting.group_wait, false),
            ("groupInterval", &alerting.group_interval, true),
            ("repeatInterval", &alerting.repeat_interval, true),
        ] {
            if let Some(value) = value {
                prometheus.push((format!("alerting.{field}"), value, positive));
            }
        }
    }
    for (field, text, positive) in prometheus {
        let seconds = prometheus_seconds(text);
        if !seconds.is_some_and(|s| s <= PROMETHEUS_MAX_SECONDS) {
            return Err(Error::InvalidSpec(format!(
                "{field} {text:?} is longer than Prometheus can hold (about 292 years)"
            )));
        }
        if positive && seconds == Some(0.0) {
            return Err(Error::InvalidSpec(format!("{field} must be longer than 0")));
        }
        let floor = floors::ALL.iter().find(|f| f.field == field).map(|floor| {
            if enforce_floors {
                *floor
            } else {
                floor.at_admission()
            }
        });
        let zero = seconds == Some(0.0);
        if let (Some(floor), Some(seconds)) = (floor, seconds)
            && seconds < floor.seconds
            && !(zero && floor.zero_allowed)
        {
            let policy = if enforce_floors {
                " (the operator's floor: --enforce-interval-floors)"
            } else {
                ""
            };
            return Err(Error::InvalidSpec(format!(
                "{}{policy}, not {text:?}",
                floor.message()
            )));
        }
    }

    let mut dice_server = vec![
        ("dice.maxDelay", Some(spec.dice.max_delay.as_str())),
        ("sampleInterval", Some(spec.sample_interval.as_str())),
    ];
    if let Some(history) = &spec.history {
        dice_server.push(("history.retention", history.retention.as_deref()));
        dice_server.push((
            "history.persistInterval",
            history.persist_interval.as_deref(),
        ));
    }
    for (field, text) in dice_server {
        let Some(text) = text.filter(|t| *t != "0") else {
            continue;
        };
        humantime::parse_duration(text).map_err(|error| {
            Error::InvalidSpec(format!(
                "{field} {text:?} cannot be read by dice-server: {error}"
            ))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(patch: serde_json::Value) -> DiceServiceSpec {
        serde_json::from_value(patch).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn ordinary_durations_pass() {
        let ok = spec(
            serde_json::json!({"monitoring": {"rules": {"serviceDown": {"for": "1h30m"}}},
            "alerting": {"groupWait": "0", "slack": {"channel": "#a", "apiURL": {"name": "s", "key": "k"}}},
            "history": {"retention": "7d", "persistInterval": "30s"}}),
        );
        assert!(check(&ok, true).is_ok());
    }

    #[test]
    fn durations_beyond_what_their_readers_hold_are_named() {
        let prometheus = spec(
            serde_json::json!({"monitoring": {"rules": {"serviceDown": {"for": "99999999999y"}}}}),
        );
        let error = check(&prometheus, true).unwrap_err().to_string();
        assert!(
            error.contains("monitoring.rules.serviceDown.for"),
            "{error}"
        );
        let huge = spec(serde_json::json!({"monitoring": {"slo": {
            "longWindowsInterval": "99999999999y", "availability": {"objective": 99.9}}}}));
        let error = check(&huge, true).unwrap_err().to_string();
        assert!(
            error.contains("monitoring.slo.longWindowsInterval"),
            "{error}"
        );
        let dice = spec(serde_json::json!({"sampleInterval": "99999999999999999999999h"}));
        let error = check(&dice, true).unwrap_err().to_string();
        assert!(
            error.contains("sampleInterval") && error.contains("dice-server"),
            "{error}"
        );
    }

    #[test]
    fn intervals_below_their_floor_are_refused_by_name() {
        let slack = serde_json::json!({"channel": "#a", "apiURL": {"name": "s", "key": "k"}});
        let cases = [
            (
                serde_json::json!({"monitoring": {"serviceMonitor": {"interval": "1ms", "scrapeTimeout": "1ms"}}}),
                "monitoring.serviceMonitor.interval must be at least 5s",
            ),
            (
                serde_json::json!({"monitoring": {"probe": {"enabled": true, "interval": "4s999ms"}}}),
                "monitoring.probe.interval must be at least 5s",
            ),
            (
                serde_json::json!({"monitoring": {"slo": {"longWindowsInterval": "10s",
                "availability": {"objective": 99.9}}}}),
                "monitoring.slo.longWindowsInterval must be at least 30s",
            ),
            (
                serde_json::json!({"alerting": {"slack": slack, "groupInterval": "1s"}}),
                "alerting.groupInterval must be at least 10s",
            ),
            (
                serde_json::json!({"alerting": {"slack": slack, "repeatInterval": "4m59s"}}),
                "alerting.repeatInterval must be at least 5m",
            ),
        ];
        for (patch, expected) in cases {
            let spec = spec(patch);
            let error = check(&spec, true).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
            // Floors off (one machine): 1s and up pass; 1ms still does not.
            if let Err(relaxed) = check(&spec, false) {
                assert!(relaxed.to_string().contains("at least 1s"), "{relaxed}");
            }
        }
        let global = spec(
            serde_json::json!({"monitoring": {"slo": {"longWindowsInterval": "0s",
            "availability": {"objective": 99.9}}}}),
        );
        assert!(check(&global, true).is_ok());
        let long = spec(
            serde_json::json!({"alerting": {"slack": slack, "repeatInterval": "1d",
            "groupInterval": "1m"}}),
        );
        assert!(check(&long, true).is_ok());
    }
}
