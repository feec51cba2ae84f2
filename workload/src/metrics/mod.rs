//! The one metrics registry of dice-server and its encodings (OpenMetrics, Prometheus text).

pub mod connections;
mod dice;
pub mod families;
pub mod history;
pub mod http;
mod process;
mod runtime;
mod system;
pub mod text_format;

pub use connections::ConnectionMetrics;
pub use dice::DiceMetrics;
pub use history::HistoryMetrics;
pub use http::{HttpMetrics, RequestLabels, RequestObservation, RouteLabels, TraceExemplar};
pub use system::SystemCollector;

use crate::sampler::Samples;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// Every instrument the server exposes, registered once in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub http: HttpMetrics,
    pub connections: ConnectionMetrics,
    pub dice: DiceMetrics,
    pub history: HistoryMetrics,
}

impl Metrics {
    /// Builds the registry; system and GPU series come from `samples`. Call inside the Tokio
    /// runtime so runtime gauges can see it.
    pub fn new(samples: Arc<Samples>) -> Self {
        let mut registry = Registry::default();
        let routes: Vec<&'static str> =
            crate::endpoints::ENDPOINTS.iter().map(|e| e.path).collect();
        let http = HttpMetrics::register(&mut registry, &routes);
        let connections = ConnectionMetrics::register(&mut registry);
        let dice = DiceMetrics::register(&mut registry);
        let history = HistoryMetrics::register(&mut registry);
        registry.register_collector(Box::new(SystemCollector(samples)));
        process::register(&mut registry);
        runtime::register(&mut registry);
        Self {
            registry,
            http,
            connections,
            dice,
            history,
        }
    }

    /// OpenMetrics 1.0 text, with exemplars and the closing `# EOF`.
    pub fn encode_openmetrics(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Every family as structured data (for the OTLP push and the live page).
    pub fn families(&self) -> Result<Vec<families::model::MetricFamily>, std::fmt::Error> {
        prometheus_client::encoding::prometheus_protobuf::encode(&self.registry)
    }

    /// Prometheus text exposition format 0.0.4, for scrapers that do not ask for OpenMetrics.
    pub fn encode_prometheus_text(&self) -> Result<String, std::fmt::Error> {
        Ok(text_format::openmetrics_to_prometheus(
            &self.encode_openmetrics()?,
        ))
    }
}
