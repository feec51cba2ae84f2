//! Per-request trace context: W3C `traceparent` in, one server span out (when tracing is on).

use super::OtelTracing;
use crate::endpoints::ENDPOINTS;
use crate::metrics::TraceExemplar;
use axum::http::{HeaderMap, Request, StatusCode};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, SpanKind, Status, TraceContextExt, TraceId, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::borrow::Cow;
use std::sync::OnceLock;

/// The ids printed on every log line of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceIds {
    pub trace_id: u128,
    pub span_id: u64,
}

tokio::task_local! {
    static CURRENT_REQUEST: TraceIds;
}

impl TraceIds {
    /// The ids of the request being served by the current task, if any.
    pub fn current() -> Option<TraceIds> {
        CURRENT_REQUEST.try_with(|ids| *ids).ok()
    }

    /// Runs `future` with these ids current, so its log lines carry them.
    pub async fn scope<F: std::future::Future>(self, future: F) -> F::Output {
        CURRENT_REQUEST.scope(self, future).await
    }

    /// Runs `body` with these ids current (for logging outside the request future).
    pub fn sync_scope<R>(self, body: impl FnOnce() -> R) -> R {
        CURRENT_REQUEST.sync_scope(self, body)
    }

    pub fn trace_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }
    pub fn span_hex(&self) -> String {
        format!("{:016x}", self.span_id)
    }
}

/// The OpenTelemetry context of the request's server span, for handlers to add attributes.
#[derive(Debug, Clone)]
pub struct RequestSpan(pub Context);

/// Trace state of one request from arrival to response.
#[derive(Debug)]
pub struct RequestTrace {
    pub ids: TraceIds,
    otel: Option<Context>,
}

impl RequestTrace {
    /// Continues the caller's trace when `traceparent` is valid, else starts a new one.
    pub fn start<B>(
        otel: Option<&OtelTracing>,
        request: &Request<B>,
        method: &'static str,
        route: &'static str,
    ) -> Self {
        let Some(otel) = otel else {
            let parent = remote_parent(&TraceContextPropagator::new(), request.headers());
            let trace_id = parent
                .filter(SpanContext::is_valid)
                .map_or_else(new_trace_id, |p| {
                    u128::from_be_bytes(p.trace_id().to_bytes())
                });
            return Self {
                ids: TraceIds {
                    trace_id,
                    span_id: new_span_id(),
                },
                otel: None,
            };
        };
        let parent = otel.propagator.extract(&HeaderExtractor(request.headers()));
        let path = request.uri().path();
        // Every route is a fixed path, so a matched request's path is its `&'static` template.
        let path: opentelemetry::Value = if path == route {
            route.into()
        } else {
            path.to_owned().into()
        };
        let mut attributes = Vec::with_capacity(5);
        attributes.extend([
            KeyValue::new("http.request.method", method),
            KeyValue::new("url.path", path),
            KeyValue::new("url.scheme", "http"),
        ]);
        if route != crate::endpoints::UNMATCHED {
            attributes.push(KeyValue::new("http.route", route));
        }
        if let Some(agent) = request
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
        {
            attributes.push(KeyValue::new("user_agent.original", agent.to_owned()));
        }
        let span = otel
            .tracer
            .span_builder(span_name(method, route))
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(&otel.tracer, &parent);
        let cx = parent.with_span(span);
        let span_context = cx.span().span_context().clone();
        Self {
            ids: TraceIds {
                trace_id: u128::from_be_bytes(span_context.trace_id().to_bytes()),
                span_id: u64::from_be_bytes(span_context.span_id().to_bytes()),
            },
            otel: Some(cx),
        }
    }

    /// The handle handlers use to annotate the server span; `None` when tracing is off.
    pub fn span(&self) -> Option<RequestSpan> {
        self.otel.clone().map(RequestSpan)
    }

    /// An exemplar only for exported (sampled) traces, so it always links to a real trace.
    pub fn exemplar(&self) -> Option<TraceExemplar> {
        let cx = self.otel.as_ref()?;
        let span = cx.span();
        let sampled = span.span_context().is_sampled();
        sampled.then(|| TraceExemplar {
            trace_id: self.ids.trace_hex(),
        })
    }

    /// Ends the server span with the response status (5xx marks the span as an error).
    pub fn finish(self, status: StatusCode) {
        let Some(cx) = self.otel else { return };
        let span = cx.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status.as_u16()),
        ));
        if status.is_server_error() {
            span.set_attribute(KeyValue::new("error.type", status.as_str().to_owned()));
            span.set_status(Status::error(status.canonical_reason().unwrap_or_default()));
        }
        span.end();
    }
}

/// `METHOD route`, or the method alone for unmatched paths. `GET` names are built once, in
/// [`ENDPOINTS`] order.
fn span_name(method: &'static str, route: &'static str) -> Cow<'static, str> {
    static GET_NAMES: OnceLock<Box<[String]>> = OnceLock::new();
    if route == crate::endpoints::UNMATCHED {
        return Cow::Borrowed(method);
    }
    let endpoint = ENDPOINTS.iter().position(|endpoint| endpoint.path == route);
    match endpoint {
        Some(index) if method == "GET" => {
            let names = GET_NAMES.get_or_init(|| {
                ENDPOINTS
                    .iter()
                    .map(|endpoint| format!("GET {}", endpoint.path))
                    .collect()
            });
            Cow::Borrowed(&names[index])
        }
        _ => Cow::Owned(format!("{method} {route}")),
    }
}

fn remote_parent(propagator: &TraceContextPropagator, headers: &HeaderMap) -> Option<SpanContext> {
    headers.get("traceparent")?;
    let cx = propagator.extract(&HeaderExtractor(headers));
    Some(cx.span().span_context().clone())
}

fn new_trace_id() -> u128 {
    loop {
        let id: u128 = rand::random();
        if id != u128::from_be_bytes(TraceId::INVALID.to_bytes()) {
            return id;
        }
    }
}

fn new_span_id() -> u64 {
    rand::random::<u64>().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(traceparent: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().uri("/roll?die=fair");
        if let Some(value) = traceparent {
            builder = builder.header("traceparent", value);
        }
        builder.body(()).unwrap_or_default()
    }

    #[test]
    fn without_tracing_a_valid_traceparent_is_continued() {
        let req = request(Some(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ));
        let trace = RequestTrace::start(None, &req, "GET", "/roll");
        assert_eq!(trace.ids.trace_hex(), "0af7651916cd43dd8448eb211c80319c");
        assert_ne!(
            trace.ids.span_id, 0xb7ad6b7169203331,
            "a new span id, not the caller's"
        );
        assert!(trace.exemplar().is_none());
    }

    #[test]
    fn span_names_are_method_and_route_or_the_method_alone() {
        assert_eq!(span_name("GET", "/roll"), "GET /roll");
        assert!(matches!(span_name("GET", "/roll"), Cow::Borrowed(_)));
        assert_eq!(span_name("POST", "/roll"), "POST /roll");
        assert_eq!(span_name("GET", crate::endpoints::UNMATCHED), "GET");
    }

    #[test]
    fn without_tracing_a_broken_traceparent_starts_a_fresh_trace() {
        let req = request(Some("garbage"));
        let first = RequestTrace::start(None, &req, "GET", "/roll");
        let second = RequestTrace::start(None, &request(None), "GET", "/roll");
        assert_ne!(first.ids.trace_id, 0);
        assert_ne!(first.ids.trace_id, second.ids.trace_id);
        assert_eq!(first.ids.trace_hex().len(), 32);
        assert_eq!(first.ids.span_hex().len(), 16);
    }
}
