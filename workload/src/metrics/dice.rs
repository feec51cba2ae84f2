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
}

impl DiceMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            rolls: Family::default(),
            values: Family::new_with_constructor(|| Histogram::new(FACE_BUCKETS)),
            errors: Family::default(),
            durations: Family::new_with_constructor(|| Histogram::new(ROLL_DURATION_BUCKETS)),
        };
        // Every die's series exist from the start, so rates and alerts never see "no data".
        for die in Die::ALL {
            let die_type = die.as_str();
            for result in ["success", "error"] {
                drop(
                    metrics
                        .rolls
                        .get_or_create(&RollLabels { die_type, result }),
                );
            }
            drop(metrics.values.get_or_create(&DieLabels { die_type }));
            drop(metrics.errors.get_or_create(&DieLabels { die_type }));
            drop(metrics.durations.get_or_create(&DieLabels { die_type }));
        }
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
        self.durations
            .get_or_create(&DieLabels {
                die_type: die.as_str(),
            })
            .observe(seconds);
    }

    pub fn record_success(&self, die: Die, value: u8) {
        let die_type = die.as_str();
        self.rolls
            .get_or_create(&RollLabels {
                die_type,
                result: "success",
            })
            .inc();
        self.values
            .get_or_create(&DieLabels { die_type })
            .observe(f64::from(value));
    }

    pub fn record_failure(&self, die: Die) {
        let die_type = die.as_str();
        self.rolls
            .get_or_create(&RollLabels {
                die_type,
                result: "error",
            })
            .inc();
        self.errors.get_or_create(&DieLabels { die_type }).inc();
    }
}
