//! Connection instruments: open connections, the cap, and connections closed or refused at it.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone)]
pub struct ConnectionMetrics {
    pub open: Gauge,
    pub limit: Gauge,
    /// Connections answered 503 and closed because the cap was reached.
    pub refused: Counter,
    /// Connections with no request running closed to make room for a new one.
    pub evicted: Counter,
}

impl ConnectionMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            open: Gauge::default(),
            limit: Gauge::default(),
            refused: Counter::default(),
            evicted: Counter::default(),
        };
        registry.register(
            "http_connections_open",
            "TCP connections currently open to the server",
            metrics.open.clone(),
        );
        registry.register(
            "http_connections_limit",
            "TCP connections allowed open at once (--max-connections); more are refused",
            metrics.limit.clone(),
        );
        registry.register(
            "http_connections_refused",
            "Connections answered 503 and closed at once: --max-connections were open, each running a request",
            metrics.refused.clone(),
        );
        registry.register(
            "http_connections_evicted",
            "Connections with no request running closed to make room under --max-connections",
            metrics.evicted.clone(),
        );
        metrics
    }
}
