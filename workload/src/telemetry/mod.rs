//! Logs, traces and metric push: JSON log lines that carry trace ids, OpenTelemetry spans over
//! OTLP, and the registry's instruments pushed over OTLP.

mod json_line;
mod json_log;
mod log_sink;
mod otel;
mod otlp_convert;
mod otlp_metrics;
mod redact;
mod request_trace;

pub use json_log::{JsonLogFormat, SkipSpanFields};
pub use log_sink::{LogSink, LogSinkGuard};
pub use otel::OtelTracing;
pub use otlp_metrics::{MetricsExport, Protocol};
pub use request_trace::{RequestSpan, RequestTrace, TraceIds};

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("a global tracing subscriber is already installed: {0}")]
    SubscriberInstalled(String),
    #[error("cannot build the OTLP span exporter: {0}")]
    Exporter(String),
    #[error("cannot start the log writer thread: {0}")]
    LogWriter(std::io::Error),
    #[error("{0}")]
    Config(String),
    #[error("OTLP metric export failed: {0}")]
    Export(String),
}

impl TelemetryError {
    pub fn category(&self) -> &'static str {
        match self {
            TelemetryError::SubscriberInstalled(_) => "subscriber",
            TelemetryError::Exporter(_) => "otlp_exporter",
            TelemetryError::LogWriter(_) => "log_writer",
            TelemetryError::Config(_) => "config",
            TelemetryError::Export(_) => "export",
        }
    }
}

/// The layer that writes dice-server's JSON log lines ([`JsonLogFormat`]) through `writer`.
pub fn json_lines<S>(writer: LogSink) -> JsonLines<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .fmt_fields(SkipSpanFields)
        .event_format(JsonLogFormat)
        .with_writer(writer)
}

/// See [`json_lines`].
pub type JsonLines<S> = tracing_subscriber::fmt::Layer<S, SkipSpanFields, JsonLogFormat, LogSink>;

/// Installs the global subscriber: `RUST_LOG` filtering (default `info`), JSON or pretty lines.
///
/// Lines go to stdout through a [`LogSink`], so a request never waits on a `write` syscall and
/// no line is dropped. Keep the returned guard alive: dropping it flushes.
pub fn init_logging(format: LogFormat) -> Result<LogSinkGuard, TelemetryError> {
    let (writer, guard) = LogSink::stdout().map_err(TelemetryError::LogWriter)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry.with(json_lines(writer)).try_init(),
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .pretty()
                    .with_writer(writer),
            )
            .try_init(),
    };
    result.map_err(|e| TelemetryError::SubscriberInstalled(e.to_string()))?;
    Ok(guard)
}
