//! The request middleware: trace context, log span, timeout, body limit and HTTP metrics.

use crate::error::AppError;
use crate::metrics::{RequestLabels, RouteLabels};
use crate::routes::route_template;
use crate::state::{AppState, Settings};
use crate::telemetry::RequestTrace;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::Body as _;
use prometheus_client::metrics::gauge::Gauge;
use std::time::Instant;

pub async fn observe_request(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let _in_flight = InFlight::enter(&state.metrics.http.in_flight);
    let method = method_label(request.method());
    let handler = route_template(request.uri().path());
    let trace = RequestTrace::start(state.otel.as_ref(), &request, method, handler);
    if let Some(span) = trace.span() {
        request.extensions_mut().insert(span);
    }
    let request_bytes = declared_length(&request);
    let timeout = state.settings.request_timeout;
    let response = match oversized(&request, request_bytes, &state.settings) {
        Some(error) => error.into_response(),
        None => {
            let handled = trace.ids.scope(next.run(request));
            match tokio::time::timeout(timeout, handled).await {
                Ok(response) => response,
                Err(_) => AppError::Timeout(timeout).into_response(),
            }
        }
    };

    let status = response.status();
    let route = RouteLabels { method, handler };
    let metrics = &state.metrics.http;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            handler,
            status: status.as_u16(),
        })
        .inc();
    metrics.duration.get_or_create(&route).observe(
        started.elapsed().as_secs_f64(),
        trace.exemplar(),
        None,
    );
    metrics
        .request_size
        .get_or_create(&route)
        .observe(request_bytes as f64);
    let response_bytes = response.body().size_hint().exact().unwrap_or(0);
    metrics
        .response_size
        .get_or_create(&route)
        .observe(response_bytes as f64);
    if status.is_server_error() {
        trace.ids.sync_scope(|| {
            tracing::warn!(
                status = status.as_u16(),
                method,
                route = handler,
                "request failed"
            );
        });
    }
    trace.finish(status);
    response
}

/// Keeps `http_requests_in_flight` right even when a client disconnects and the future is dropped.
struct InFlight<'a>(&'a Gauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A fixed set, so arbitrary client methods cannot grow label cardinality.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Size limits, checked before any handler runs.
fn oversized(request: &Request, body_bytes: u64, settings: &Settings) -> Option<AppError> {
    let limit = settings.max_header_bytes;
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri_bytes > limit {
        return Some(AppError::UriTooLong(uri_bytes, limit));
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > limit {
        return Some(AppError::HeadersTooLarge(header_bytes, limit));
    }
    (body_bytes > settings.max_body_bytes).then_some(AppError::PayloadTooLarge(
        body_bytes,
        settings.max_body_bytes,
    ))
}

fn declared_length(request: &Request) -> u64 {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let custom = Method::from_bytes(b"BREW").unwrap_or(Method::TRACE);
        assert_eq!(method_label(&custom), "OTHER");
        assert_eq!(method_label(&Method::TRACE), "OTHER");
    }
}
