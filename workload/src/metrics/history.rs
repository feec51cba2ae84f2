//! The history writer's own instruments (writes, their duration, the unwritten buffer).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteResult {
    /// `success` or `failure`.
    pub result: &'static str,
}

#[derive(Debug, Clone)]
pub struct HistoryMetrics {
    pub writes: Family<WriteResult, Counter>,
    pub write_duration: Histogram,
    pub buffer_depth: Gauge,
    pub dropped: Counter,
}

impl HistoryMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            writes: Family::default(),
            write_duration: Histogram::new([
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            buffer_depth: Gauge::default(),
            dropped: Counter::default(),
        };
        for result in ["success", "failure"] {
            drop(metrics.writes.get_or_create(&WriteResult { result }));
        }
        registry.register(
            "dice_history_writes",
            "Batched history writes by result (success or failure)",
            metrics.writes.clone(),
        );
        registry.register(
            "dice_history_write_duration_seconds",
            "Time one batched history write takes",
            metrics.write_duration.clone(),
        );
        registry.register(
            "dice_history_buffer_depth",
            "Samples waiting to be written to the history database",
            metrics.buffer_depth.clone(),
        );
        registry.register(
            "dice_history_dropped_samples",
            "Samples dropped, oldest first, because the history buffer was full",
            metrics.dropped.clone(),
        );
        metrics
    }
}
