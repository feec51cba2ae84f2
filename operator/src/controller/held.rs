//! The sizes of the controller's in-memory maps, published as `dice_operator_held_entries`
//! (and the managed DiceServices as `dice_operator_managed`), summed over the controllers of
//! all watched namespaces.

use super::Context;
use crate::crd::CachedDiceService;
use crate::metrics::{MapLabels, OperatorMetrics};
use kube::runtime::reflector;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How often the sizes of the in-memory maps are published.
const HELD_INTERVAL: Duration = Duration::from_secs(2);

/// Publishes the managed DiceServices and the size of every in-memory map, so a leak shows as a
/// number that does not return to its baseline (`dice_operator_held_entries`).
///
/// Each controller (one per watched namespace) adds what changed since its last report, so the
/// gauges are the sums over all of them.
pub(super) async fn report(ctx: Arc<Context>, store: reflector::Store<CachedDiceService>) {
    let metrics = &ctx.metrics;
    let mut reported = Reported {
        metrics: metrics.clone(),
        sizes: HashMap::new(),
    };
    loop {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let managed = count(store.len());
        let sizes = [
            ("diceservices", managed),
            ("failures", count(ctx.failures.len())),
            ("secret_keys", count(ctx.secret_keys.len())),
            ("status_writes", count(ctx.status_writes.len())),
            ("spec_changes", count(ctx.spec_changes.len())),
        ]
        .into_iter()
        .chain(
            ctx.observed
                .sizes()
                .into_iter()
                .map(|(map, size)| (map, count(size))),
        );
        for (map, size) in sizes {
            let before = reported.sizes.insert(map, size).unwrap_or(0);
            metrics
                .held
                .get_or_create(&MapLabels { map })
                .inc_by(size - before);
            if map == "diceservices" {
                metrics.managed.inc_by(size - before);
            }
        }
        tokio::time::sleep(HELD_INTERVAL).await;
    }
}

/// What one controller added to the held-entries gauges, taken back when it stops.
struct Reported {
    metrics: Arc<OperatorMetrics>,
    sizes: HashMap<&'static str, i64>,
}

impl Drop for Reported {
    fn drop(&mut self) {
        for (map, size) in self.sizes.drain() {
            self.metrics
                .held
                .get_or_create(&MapLabels { map })
                .dec_by(size);
            if map == "diceservices" {
                self.metrics.managed.dec_by(size);
            }
        }
    }
}
