//! Dice instruments: rolls by die and result, the rolled values, and failures.

use crate::dice::Die;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

const FACE_BUCKETS: [f64; 8] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];

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
}

impl DiceMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            rolls: Family::default(),
            values: Family::new_with_constructor(|| Histogram::new(FACE_BUCKETS)),
            errors: Family::default(),
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
        metrics
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
