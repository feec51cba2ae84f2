//! The registry as structured metric families (Prometheus' protobuf data model, no text
//! parsing): the OTLP push converts them, and the live page reads request and roll totals from
//! them — the same instruments `/metrics` exposes, from the one registry.

pub use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model as model;

use crate::dice::Die;
use std::collections::BTreeMap;

/// Sum of every series of the counter family `name` (as exposed, e.g. `http_requests_total`).
pub fn counter_total(families: &[model::MetricFamily], name: &str) -> f64 {
    families
        .iter()
        .filter(|f| f.name == name)
        .flat_map(|f| &f.metric)
        .filter_map(|m| m.counter.as_ref().map(|c| c.value))
        .sum()
}

/// Counts per face for each die (every face it can show, rolled or not), from the
/// `dice_roll_value` histogram's cumulative buckets, whose bounds are the faces.
pub fn roll_counts(families: &[model::MetricFamily]) -> BTreeMap<String, BTreeMap<u8, u64>> {
    let mut dice = BTreeMap::new();
    let metrics = families
        .iter()
        .filter(|f| f.name == "dice_roll_value")
        .flat_map(|f| &f.metric);
    for metric in metrics {
        let Some(die) = metric.label.iter().find(|l| l.name == "die_type") else {
            continue;
        };
        let (Some(histogram), Ok(kind)) = (&metric.histogram, die.value.parse::<Die>()) else {
            continue;
        };
        let mut faces: BTreeMap<u8, u64> = kind.faces().map(|face| (face, 0)).collect();
        let mut below = 0;
        for bucket in &histogram.bucket {
            let cumulative = bucket.cumulative_count;
            if let Some(count) = faces.get_mut(&(bucket.upper_bound as u8)) {
                *count = cumulative.saturating_sub(below);
            }
            below = below.max(cumulative);
        }
        dice.insert(die.value.clone(), faces);
    }
    dice
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::sampler::Samples;
    use std::sync::Arc;

    #[tokio::test]
    async fn totals_and_faces_come_from_the_registry() -> Result<(), std::fmt::Error> {
        let metrics = Metrics::new(Arc::new(Samples::default()));
        for face in [1, 1, 6] {
            metrics.dice.record_success(Die::Fair, face);
        }
        metrics.dice.record_success(Die::Risky, 7);
        let families = metrics.families()?;
        let counts = roll_counts(&families);
        let fair = BTreeMap::from([(1, 2), (2, 0), (3, 0), (4, 0), (5, 0), (6, 1)]);
        assert_eq!(counts["fair"], fair);
        let risky = BTreeMap::from([(2, 0), (3, 0), (4, 0), (5, 0), (6, 0), (7, 1)]);
        assert_eq!(counts["risky"], risky);
        assert_eq!(counter_total(&families, "dice_rolls_total"), 4.0);
        Ok(())
    }
}
