//! Shared application state: settings, metrics, system samples, health, tracing.

use crate::config::Config;
use crate::load_shedding::Admission;
use crate::metrics::Metrics;
use crate::sampler::Samples;
use crate::telemetry::OtelTracing;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

/// Request-path settings taken from [`Config`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_delay: Duration,
    pub risky_error_rate: f64,
    pub request_timeout: Duration,
    pub max_body_bytes: u64,
    pub max_header_bytes: usize,
    pub max_concurrent_requests: usize,
    pub max_websockets: usize,
    pub websocket_ping_interval: Duration,
}

impl From<&Config> for Settings {
    fn from(config: &Config) -> Self {
        Self {
            max_delay: config.max_delay,
            risky_error_rate: config.risky_error_rate,
            request_timeout: config.request_timeout,
            max_body_bytes: config.max_body_bytes,
            max_header_bytes: config.max_header_bytes,
            max_concurrent_requests: config.max_concurrent_requests as usize,
            max_websockets: config.max_websockets as usize,
            websocket_ping_interval: config.websocket_ping_interval,
        }
    }
}

/// Readiness: true until shutdown begins.
#[derive(Debug)]
pub struct Health {
    /// Whether shutdown has begun (readiness off).
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Health {
    fn new() -> Self {
        Self {
            shutdown: tokio::sync::watch::Sender::new(false),
        }
    }
    pub fn is_ready(&self) -> bool {
        !*self.shutdown.borrow()
    }
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
    /// Resolves once shutdown has begun: long-lived connections (the live page's WebSockets)
    /// close themselves rather than being cut when the process exits.
    pub async fn shutdown_begun(&self) {
        let mut begun = self.shutdown.subscribe();
        let _ = begun.wait_for(|begun| *begun).await;
    }
}

#[derive(Debug)]
pub struct Shared {
    pub settings: Settings,
    /// Shared with the OTLP metrics push, which needs nothing else.
    pub metrics: Arc<Metrics>,
    /// The sampler's latest system sample, and each new one.
    pub samples: Arc<Samples>,
    pub health: Health,
    pub admission: Admission,
    /// One permit per open live-page WebSocket.
    pub websockets: Arc<tokio::sync::Semaphore>,
    pub otel: Option<OtelTracing>,
    /// When the process started: the start time of every cumulative OTLP series.
    pub started_at: std::time::SystemTime,
    /// The history store, once main has opened it (absent in tests that do not need it).
    pub history: std::sync::OnceLock<crate::history::History>,
}

/// Cheap to clone: one `Arc`.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Builds the state; call inside the Tokio runtime (runtime gauges bind to it).
    pub fn new(settings: Settings, otel: Option<OtelTracing>) -> Self {
        let samples = Arc::new(Samples::default());
        let metrics = Arc::new(Metrics::new(samples.clone()));
        let admission = Admission::new(settings.max_concurrent_requests, &metrics.http);
        let websockets = Arc::new(tokio::sync::Semaphore::new(settings.max_websockets));
        Self(Arc::new(Shared {
            websockets,
            settings,
            metrics,
            admission,
            samples,
            health: Health::new(),
            otel,
            started_at: std::time::SystemTime::now(),
            history: std::sync::OnceLock::new(),
        }))
    }
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}
