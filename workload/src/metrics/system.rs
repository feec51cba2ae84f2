//! System gauges, set by the background sampler and read for free at scrape time.

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Debug, Clone, Default)]
pub struct SystemGauges {
    pub cpu_usage_percent: Gauge<f64, AtomicU64>,
    pub memory_usage_percent: Gauge<f64, AtomicU64>,
    pub memory_usage_bytes: Gauge,
}

impl SystemGauges {
    pub fn register(registry: &mut Registry) -> Self {
        let gauges = Self::default();
        registry.register(
            "system_cpu_usage_percent",
            "Host CPU utilisation in percent, averaged over the last sample interval",
            gauges.cpu_usage_percent.clone(),
        );
        registry.register(
            "system_memory_usage_percent",
            "Host memory in use, in percent of total",
            gauges.memory_usage_percent.clone(),
        );
        registry.register(
            "system_memory_usage_bytes",
            "Host memory in use (total minus available), in bytes",
            gauges.memory_usage_bytes.clone(),
        );
        gauges
    }
}
