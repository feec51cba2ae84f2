//! Dice instruments: rolls by die and result, the rolled values, roll durations and failures.

use crate::dice::Die;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

const FACE_BUCKETS: [f64; 8] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
/// A roll takes its random delay (up to `DICE_MAX_DELAY`, below 30 s) plus microseconds.
const ROLL_DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DieLabels {
    pub die_type: &'static str,
}

/// `result` is `success` or `error`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RollLabels {
    pub die_type: &'static str,
    pub result: &'static str,
}

#[derive(Debug, Clone)]
pub struct DiceMetrics {
    pub rolls: Family<RollLabels, Counter>,
    pub values: Family<DieLabels, Histogram, fn() -> Histogram>,
    pub errors: Family<DieLabels, Counter>,
    pub durations: Family<DieLabels, Histogram, fn() -> Histogram>,
    /// Each die's series, in [`Die::ALL`] order, resolved once: a roll then records without
    /// hashing label sets under the families' locks.
    per_die: [DieSeries; Die::ALL.len()],
}

/// The series of one die (clones share the family's values).
#[derive(Debug, Clone)]
struct DieSeries {
    successes: Counter,
    failures: Counter,
    errors: Counter,
    values: Histogram,
    durations: Histogram,
}

impl DiceMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let rolls = Family::<RollLabels, Counter>::default();
        let values: Family<DieLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(FACE_BUCKETS));
        let errors = Family::<DieLabels, Counter>::default();
        let durations: Family<DieLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(ROLL_DURATION_BUCKETS));
        // Every die's series exist from the start, so rates and alerts never see "no data".
        let per_die = Die::ALL.map(|die| {
            let die_type = die.as_str();
            let roll = |result| rolls.get_or_create_owned(&RollLabels { die_type, result });
            DieSeries {
                successes: roll("success"),
                failures: roll("error"),
                errors: errors.get_or_create_owned(&DieLabels { die_type }),
                values: values.get_or_create_owned(&DieLabels { die_type }),
                durations: durations.get_or_create_owned(&DieLabels { die_type }),
            }
        });
        let metrics = Self {
            rolls,
            values,
            errors,
            durations,
            per_die,
        };
        registry.register(
            "dice_rolls",
            "Dice rolls by die type and result (success or error)",
            metrics.rolls.clone(),
        );
        registry.register(
            "dice_roll_value",
            "Values rolled, by die type",
            metrics.values.clone(),
        );
        registry.register(
            "dice_roll_errors",
            "Rolls that failed, by die type",
            metrics.errors.clone(),
        );
        registry.register(
            "dice_roll_duration_seconds",
            "Time a roll takes, random delay included, by die type (successful or not)",
            metrics.durations.clone(),
        );
        metrics
    }

    pub fn record_duration(&self, die: Die, seconds: f64) {
        self.series(die).durations.observe(seconds);
    }

    pub fn record_success(&self, die: Die, value: u8) {
        let series = self.series(die);
        series.successes.inc();
        series.values.observe(f64::from(value));
    }

    pub fn record_failure(&self, die: Die) {
        let series = self.series(die);
        series.failures.inc();
        series.errors.inc();
    }

    fn series(&self, die: Die) -> &DieSeries {
        &self.per_die[die as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_die_records_into_its_own_labelled_series() {
        let mut registry = Registry::default();
        let metrics = DiceMetrics::register(&mut registry);
        metrics.record_success(Die::Risky, 7);
        metrics.record_success(Die::Risky, 2);
        metrics.record_failure(Die::Fair);
        metrics.record_duration(Die::Fair, 0.5);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        for line in [
            r#"dice_rolls_total{die_type="risky",result="success"} 2"#,
            r#"dice_rolls_total{die_type="fair",result="success"} 0"#,
            r#"dice_rolls_total{die_type="fair",result="error"} 1"#,
            r#"dice_roll_errors_total{die_type="fair"} 1"#,
            r#"dice_roll_errors_total{die_type="risky"} 0"#,
            r#"dice_roll_value_sum{die_type="risky"} 9.0"#,
            r#"dice_roll_value_count{die_type="fair"} 0"#,
            r#"dice_roll_duration_seconds_sum{die_type="fair"} 0.5"#,
            r#"dice_roll_duration_seconds_count{die_type="risky"} 0"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
