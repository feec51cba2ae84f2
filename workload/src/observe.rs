//! The request middleware: trace context, log ids, size limits, load shedding, timeout and
//! HTTP metrics.
//!
//! A hand-written tower service rather than `axum::middleware::from_fn`: this runs on every
//! request, and calling the inner service directly saves a service clone and a second boxed
//! future per request.

use crate::endpoints::route_template;
use crate::error::AppError;
use crate::metrics::RequestObservation;
use crate::state::{AppState, Settings};
use crate::telemetry::RequestTrace;
use axum::extract::Request;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use http_body::Body as _;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

/// Wraps every route (and the fallbacks) in [`Observe`].
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    state: AppState,
}

impl ObserveLayer {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            state: self.state.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let in_flight = InFlight::enter(self.state.clone());
        let method = method_label(request.method());
        let handler = route_template(request.uri().path());
        let trace = RequestTrace::start(in_flight.0.otel.as_ref(), &request, method, handler);
        if let Some(span) = trace.span() {
            request.extensions_mut().insert(span);
        }
        let request_bytes = declared_length(&request);
        let admitted = match oversized(&request, request_bytes, &in_flight.0.settings) {
            Some(error) => Err(error),
            None => in_flight.0.admission.admit(handler),
        };
        let handled =
            admitted.map(|admitted| (admitted, trace.ids.scope(self.inner.call(request))));
        Box::pin(async move {
            let state = &in_flight.0;
            let timeout = state.settings.request_timeout;
            let (admitted, response) = match handled {
                Err(error) => (None, error.into_response()),
                Ok((admitted, handled)) => {
                    // From the request's own start: no second clock read per request.
                    let deadline = tokio::time::Instant::from_std(started) + timeout;
                    let response = match tokio::time::timeout_at(deadline, handled).await {
                        Ok(Ok(response)) => response,
                        Ok(Err(never)) => match never {},
                        Err(_) => AppError::Timeout(timeout).into_response(),
                    };
                    (Some(admitted), response)
                }
            };
            let status = response.status();
            state.metrics.http.observe(&RequestObservation {
                method,
                handler,
                status: status.as_u16(),
                seconds: started.elapsed().as_secs_f64(),
                exemplar: trace.exemplar(),
                request_bytes,
                response_bytes: response.body().size_hint().exact().unwrap_or(0),
            });
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
            drop(admitted);
            Ok(response)
        })
    }
}

/// Keeps `http_requests_in_flight` right even when a client disconnects and the future is dropped.
struct InFlight(AppState);

impl InFlight {
    fn enter(state: AppState) -> Self {
        state.metrics.http.in_flight.inc();
        Self(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.metrics.http.in_flight.dec();
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
