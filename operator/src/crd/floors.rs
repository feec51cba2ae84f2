//! The shortest intervals a DiceService may ask of Prometheus and Alertmanager: one tenant's
//! `1ms` scrape or rule group would keep a shared Prometheus core busy. One list, read by the
//! schema's CEL rules (the API server refuses at admission) and by `validate` (for `render`,
//! and for compound durations CEL cannot read, such as `4s999ms` with days).

use kube::core::Rule;

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

pub const SCRAPE_INTERVAL: Floor = Floor {
    field: "monitoring.serviceMonitor.interval",
    text: "5s",
    seconds: 5.0,
    zero_allowed: false,
};
pub const PROBE_INTERVAL: Floor = Floor {
    field: "monitoring.probe.interval",
    text: "5s",
    seconds: 5.0,
    zero_allowed: false,
};
pub const RULE_GROUP_INTERVAL: Floor = Floor {
    field: "monitoring.slo.longWindowsInterval",
    text: "30s",
    seconds: 30.0,
    zero_allowed: true,
};
pub const GROUP_INTERVAL: Floor = Floor {
    field: "alerting.groupInterval",
    text: "10s",
    seconds: 10.0,
    zero_allowed: false,
};
pub const REPEAT_INTERVAL: Floor = Floor {
    field: "alerting.repeatInterval",
    text: "5m",
    seconds: 300.0,
    zero_allowed: false,
};

/// Every floor, for `validate` and the docs.
pub const ALL: [Floor; 5] = [
    SCRAPE_INTERVAL,
    PROBE_INTERVAL,
    RULE_GROUP_INTERVAL,
    GROUP_INTERVAL,
    REPEAT_INTERVAL,
];

impl Floor {
    /// The message for a value below the floor.
    pub fn message(&self) -> String {
        let zero = if self.zero_allowed {
            " (or 0 for Prometheus' global interval)"
        } else {
            ""
        };
        format!("{} must be at least {}{zero}", self.field, self.text)
    }

    /// The CEL rule. CEL's `duration()` reads `h`, `m`, `s` and `ms` but not Prometheus' `d`,
    /// `w` and `y`: a value with a non-zero component of a unit at least as long as a minute
    /// (an hour for floors of minutes) is long enough without reading it.
    pub fn rule(&self) -> Rule {
        let long_units = if self.seconds < 60.0 {
            "y|w|d|h|m"
        } else {
            "y|w|d|h"
        };
        let zero = if self.zero_allowed {
            "self.matches('^0[a-z]*$') || "
        } else {
            ""
        };
        Rule::new(format!(
            "{zero}self.matches('[1-9][0-9]*({long_units})([0-9]|$)') || duration(self) >= duration('{}')",
            self.text
        ))
        .message(self.message().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_are_written_in_units_cel_reads() {
        for floor in ALL {
            assert!(floor.seconds <= 300.0, "{floor:?}");
            assert!(
                floor.text.ends_with('s') || floor.text.ends_with('m'),
                "{floor:?}"
            );
        }
    }
}
