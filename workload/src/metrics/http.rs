//! HTTP server instruments: request counts, latency (with trace exemplars), sizes, in-flight,
//! load shedding.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::{Arc, OnceLock};

/// Resolves 0–1 s roll delays and sub-millisecond responses alike.
pub const DURATION_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0,
    2.5, 5.0, 10.0,
];
const SIZE_BUCKETS: [f64; 8] = [0.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0];

/// `method` and `handler` are drawn from fixed tables, so the series count is bounded.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub handler: &'static str,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub handler: &'static str,
}

/// Links a latency observation to the sampled trace that produced it.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TraceExemplar {
    pub trace_id: String,
}

type DurationHistogram = HistogramWithExemplars<TraceExemplar>;

/// Everything recorded about one answered request.
#[derive(Debug)]
pub struct RequestObservation {
    pub method: &'static str,
    pub handler: &'static str,
    pub status: u16,
    pub seconds: f64,
    pub exemplar: Option<TraceExemplar>,
    pub request_bytes: u64,
    pub response_bytes: u64,
}

/// The per-route series of one route, resolved once instead of hashed on every request.
#[derive(Debug, Clone)]
struct RouteSeries {
    /// `http_requests_total{status="200"}`, created at the first 200 so no zero series appears
    /// for a route that has only failed; saves hashing the labels on every request.
    ok: OnceLock<Counter>,
    duration: DurationHistogram,
    request_size: Histogram,
    response_size: Histogram,
}

#[derive(Debug, Clone)]
pub struct HttpMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<RouteLabels, DurationHistogram, fn() -> DurationHistogram>,
    pub in_flight: Gauge,
    /// Requests refused with 503 because the concurrency limit was reached.
    pub shed: Counter,
    pub concurrency_limit: Gauge,
    pub request_size: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub response_size: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// `GET` series per route, filled on first use so unused routes add no series.
    get_series: Arc<[(&'static str, OnceLock<RouteSeries>)]>,
}

impl HttpMetrics {
    /// `routes` are the route templates whose `GET` series are worth caching.
    pub fn register(registry: &mut Registry, routes: &[&'static str]) -> Self {
        let metrics = Self {
            get_series: routes
                .iter()
                .map(|route| (*route, OnceLock::new()))
                .collect(),
            requests: Family::default(),
            duration: Family::new_with_constructor(|| {
                HistogramWithExemplars::new(DURATION_BUCKETS.into_iter())
            }),
            in_flight: Gauge::default(),
            shed: Counter::default(),
            concurrency_limit: Gauge::default(),
            request_size: Family::new_with_constructor(|| Histogram::new(SIZE_BUCKETS)),
            response_size: Family::new_with_constructor(|| Histogram::new(SIZE_BUCKETS)),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status code",
            metrics.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from receiving a request to having its response, by method and route template",
            metrics.duration.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests currently being served",
            metrics.in_flight.clone(),
        );
        registry.register(
            "http_requests_shed",
            "Requests answered 503 at once because --max-concurrent-requests were already running",
            metrics.shed.clone(),
        );
        registry.register(
            "http_requests_concurrency_limit",
            "Requests allowed to run at once (--max-concurrent-requests); more are shed",
            metrics.concurrency_limit.clone(),
        );
        registry.register(
            "http_request_size_bytes",
            "Request body size as declared by Content-Length (0 when absent)",
            metrics.request_size.clone(),
        );
        registry.register(
            "http_response_size_bytes",
            "Response body size in bytes",
            metrics.response_size.clone(),
        );
        metrics
    }

    pub fn observe(&self, request: &RequestObservation) {
        let RequestObservation {
            method,
            handler,
            status,
            ..
        } = *request;
        let labels = RequestLabels {
            method,
            handler,
            status,
        };
        let cached = (method == "GET")
            .then(|| self.get_series.iter().find(|(route, _)| *route == handler))
            .flatten()
            .map(|(_, series)| series.get_or_init(|| self.series(method, handler)));
        match cached {
            Some(series) if status == 200 => series
                .ok
                .get_or_init(|| self.requests.get_or_create_owned(&labels))
                .inc(),
            _ => self.requests.get_or_create(&labels).inc(),
        };
        let owned;
        let series = match cached {
            Some(series) => series,
            None => {
                owned = self.series(method, handler);
                &owned
            }
        };
        series
            .duration
            .observe(request.seconds, request.exemplar.clone(), None);
        series.request_size.observe(request.request_bytes as f64);
        series.response_size.observe(request.response_bytes as f64);
    }

    fn series(&self, method: &'static str, handler: &'static str) -> RouteSeries {
        let route = RouteLabels { method, handler };
        RouteSeries {
            ok: OnceLock::new(),
            duration: self.duration.get_or_create_owned(&route),
            request_size: self.request_size.get_or_create_owned(&route),
            response_size: self.response_size.get_or_create_owned(&route),
        }
    }
}
