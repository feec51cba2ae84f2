//! The shortest intervals a DiceService may ask of Prometheus and Alertmanager: one tenant's
//! `1ms` scrape or rule group would keep a shared Prometheus core busy. Two levels, in one
//! list: the schema's CEL rules refuse anything under [`ADMISSION_MINIMUM`] at admission
//! (whatever the operator's flags), and `validate` holds each field to its own floor below
//! unless the administrator turns the floors off (`--enforce-interval-floors=false`, for a
//! single-tenant stack on one machine, as `make demo`'s).

use kube::core::Rule;

/// What every interval must reach at admission: one evaluation per second at most.
pub const ADMISSION_MINIMUM: Floor = Floor::new("", "1s", 1.0);

/// A lower bound on one duration field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Floor {
    /// The field's path under `spec`, as messages name it.
    pub field: &'static str,
    /// The bound, as a Prometheus duration; at most `5m`, written in `s` or `m`.
    pub text: &'static str,
    pub seconds: f64,
    /// Whether `0` is allowed anyway (it means "Prometheus' global interval").
    pub zero_allowed: bool,
}

pub const SCRAPE_INTERVAL: Floor = Floor::new("monitoring.serviceMonitor.interval", "5s", 5.0);
pub const PROBE_INTERVAL: Floor = Floor::new("monitoring.probe.interval", "5s", 5.0);
pub const RULE_GROUP_INTERVAL: Floor = Floor {
    zero_allowed: true,
    ..Floor::new("monitoring.slo.longWindowsInterval", "30s", 30.0)
};
pub const GROUP_INTERVAL: Floor = Floor::new("alerting.groupInterval", "10s", 10.0);
pub const REPEAT_INTERVAL: Floor = Floor::new("alerting.repeatInterval", "5m", 300.0);

/// Every floor, for `validate` and the docs.
pub const ALL: [Floor; 5] = [
    SCRAPE_INTERVAL,
    PROBE_INTERVAL,
    RULE_GROUP_INTERVAL,
    GROUP_INTERVAL,
    REPEAT_INTERVAL,
];

impl Floor {
    const fn new(field: &'static str, text: &'static str, seconds: f64) -> Self {
        Self {
            field,
            text,
            seconds,
            zero_allowed: false,
        }
    }

    /// This field held only to [`ADMISSION_MINIMUM`], as the CRD holds it.
    pub fn at_admission(&self) -> Floor {
        Floor {
            field: self.field,
            zero_allowed: self.zero_allowed,
            ..ADMISSION_MINIMUM
        }
    }

    /// The message for a value below the floor.
    pub fn message(&self) -> String {
        let zero = if self.zero_allowed {
            " (or 0 for Prometheus' global interval)"
        } else {
            ""
        };
        format!("{} must be at least {}{zero}", self.field, self.text)
    }

    /// The CEL rule holding this field to [`ADMISSION_MINIMUM`]. CEL's `duration()` reads `h`,
    /// `m`, `s` and `ms` but not Prometheus' `d`, `w` and `y`: a value with a non-zero
    /// component of a unit at least as long as a minute is long enough without reading it.
    pub fn rule(&self) -> Rule {
        let minimum = ADMISSION_MINIMUM;
        let zero = if self.zero_allowed {
            "self.matches('^0[a-z]*$') || "
        } else {
            ""
        };
        let message = self.at_admission().message();
        Rule::new(format!(
            "{zero}self.matches('[1-9][0-9]*(y|w|d|h|m)([0-9]|$)') || duration(self) >= duration('{}')",
            minimum.text
        ))
        .message(message.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_are_written_in_units_cel_reads() {
        for floor in ALL {
            assert!(floor.seconds >= ADMISSION_MINIMUM.seconds, "{floor:?}");
            assert!(
                floor.text.ends_with('s') || floor.text.ends_with('m'),
                "{floor:?}"
            );
        }
    }
}
