//! OpenTelemetry tracing configured only by the standard `OTEL_*` variables; off without an endpoint.

use super::TelemetryError;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::time::Duration;

pub const DEFAULT_SERVICE_NAME: &str = "dice-roller";

/// The tracer and its provider; exists only when an OTLP endpoint is configured.
#[derive(Debug)]
pub struct OtelTracing {
    provider: SdkTracerProvider,
    pub(super) tracer: SdkTracer,
    pub(super) propagator: TraceContextPropagator,
}

impl OtelTracing {
    /// `Ok(None)` when no `OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT` is set, `OTEL_SDK_DISABLED=true`,
    /// or `OTEL_TRACES_EXPORTER=none`: then no exporter exists and requests pay nothing for it.
    pub fn from_env() -> Result<Option<Self>, TelemetryError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, TelemetryError> {
        let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
        let disabled = var("OTEL_SDK_DISABLED")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
            || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim() == "none");
        if disabled
            || !(set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        {
            return Ok(None);
        }
        // Picks http/protobuf (default) or grpc from OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL.
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        let mut resource = Resource::builder()
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
        let names_service = set("OTEL_SERVICE_NAME")
            || var("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|v| v.contains("service.name="));
        if !names_service {
            resource = resource.with_service_name(DEFAULT_SERVICE_NAME);
        }
        // The sampler comes from OTEL_TRACES_SAMPLER[_ARG]; batching from OTEL_BSP_*.
        let provider = SdkTracerProvider::builder()
            .with_resource(resource.build())
            .with_batch_exporter(exporter)
            .build();
        let tracer = provider.tracer("dice-server");
        Ok(Some(Self {
            provider,
            tracer,
            propagator: TraceContextPropagator::new(),
        }))
    }

    /// Exports every buffered span; called once on shutdown.
    pub fn shutdown(&self, timeout: Duration) {
        if let Err(error) = self.provider.shutdown_with_timeout(timeout) {
            tracing::warn!(%error, "flushing spans on shutdown failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_endpoint_means_no_tracing() {
        let none = OtelTracing::from_vars(|_| None);
        assert!(matches!(none, Ok(None)));
        let blank =
            OtelTracing::from_vars(|n| (n == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| " ".into()));
        assert!(matches!(blank, Ok(None)));
    }

    #[test]
    fn sdk_disabled_wins_over_an_endpoint() {
        let vars = |n: &str| match n {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://127.0.0.1:4318".to_string()),
            "OTEL_SDK_DISABLED" => Some("TRUE".to_string()),
            _ => None,
        };
        assert!(matches!(OtelTracing::from_vars(vars), Ok(None)));
    }
}
