//! The operator's own metrics, served on the admin port.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub category: &'static str,
}

/// One of the operator's in-memory maps (a fixed set: the watch stores by kind, `failures`,
/// `secret_keys`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MapLabels {
    pub map: &'static str,
}

/// One reconcile's duration and result, recorded when it is dropped — on every exit path: a
/// `?` return, a panic or a cancelled future counts as `error` unless a result was set.
#[derive(Debug)]
pub struct ReconcileMeasurement<'a> {
    metrics: &'a OperatorMetrics,
    started: std::time::Instant,
    result: &'static str,
}

impl<'a> ReconcileMeasurement<'a> {
    pub fn start(metrics: &'a OperatorMetrics) -> Self {
        Self {
            metrics,
            started: std::time::Instant::now(),
            result: "error",
        }
    }

    /// `success`, `degraded` or `deleted`.
    pub fn set_result(&mut self, result: &'static str) {
        self.result = result;
    }
}

impl Drop for ReconcileMeasurement<'_> {
    fn drop(&mut self) {
        self.metrics
            .reconciliations
            .get_or_create(&ResultLabels {
                result: self.result,
            })
            .inc();
        self.metrics
            .duration
            .observe(self.started.elapsed().as_secs_f64());
    }
}

#[derive(Debug)]
pub struct OperatorMetrics {
    pub registry: Registry,
    pub reconciliations: Family<ResultLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub duration: Histogram,
    pub managed: Gauge,
    pub child_applies: Counter,
    pub leader: Gauge,
    pub held: Family<MapLabels, Gauge>,
}

impl Default for OperatorMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let metrics_duration = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        let (reconciliations, errors, managed, child_applies) = (
            Family::default(),
            Family::default(),
            Gauge::default(),
            Counter::default(),
        );
        registry.register(
            "dice_operator_reconciliations",
            "Reconciliations by result (success, degraded, deleted, error)",
            reconciliations.clone(),
        );
        registry.register(
            "dice_operator_reconcile_errors",
            "Failed reconciliations by error category",
            errors.clone(),
        );
        registry.register(
            "dice_operator_reconcile_duration_seconds",
            "Time one reconciliation takes",
            metrics_duration.clone(),
        );
        registry.register(
            "dice_operator_managed_diceservices",
            "DiceServices the operator currently manages",
            managed.clone(),
        );
        registry.register(
            "dice_operator_child_applies",
            "Server-side applies sent for children (children already up to date are skipped)",
            child_applies.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "dice_operator_leader",
            "1 while this replica holds the leader lease and reconciles (always 1 with leader election off)",
            leader.clone(),
        );
        let held = Family::default();
        registry.register(
            "dice_operator_held_entries",
            "Entries in the operator's in-memory maps: watch stores by kind, failing DiceServices, cached Secret key names, status writes not yet seen, spec identities",
            held.clone(),
        );
        Self {
            held,
            leader,
            registry,
            reconciliations,
            errors,
            duration: metrics_duration,
            managed,
            child_applies,
        }
    }
}
