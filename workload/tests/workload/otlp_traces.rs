//! Spans reach a local OTLP/HTTP receiver with HTTP and dice attributes, and logs link to them.

use crate::common;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use common::{Server, scrape, scrape_openmetrics};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// What the receiver got: each span with its resource's `service.name`.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Span)>>>);

impl Received {
    fn spans(&self) -> Vec<(String, Span)> {
        self.0.lock().expect("lock").clone()
    }

    fn wait_for(&self, count: usize, within: Duration) -> Vec<(String, Span)> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline && self.spans().len() < count {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.spans()
    }
}

async fn start_receiver() -> (String, Received) {
    let received = Received::default();
    let sink = received.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| async move {
            let request = ExportTraceServiceRequest::decode(body).expect("valid OTLP protobuf");
            for resource_spans in request.resource_spans {
                let service = resource_spans
                    .resource
                    .as_ref()
                    .and_then(|r| string_attr(&r.attributes, "service.name"))
                    .unwrap_or_default();
                for scope in resource_spans.scope_spans {
                    for span in scope.spans {
                        sink.0.lock().expect("lock").push((service.clone(), span));
                    }
                }
            }
            [("content-type", "application/x-protobuf")]
        }),
    );
    let address = common::serve_locally(app).await;
    (format!("http://{address}"), received)
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|AnyValue { value }| value.as_ref())
}

fn string_attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attr(attributes, key)? {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int_attr(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attributes, key)? {
        Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_carry_http_and_dice_attributes_and_match_log_lines() {
    let (endpoint, received) = start_receiver().await;
    let server = Server::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("DICE_MAX_DELAY", "0"),
        ("DICE_RISKY_ERROR_RATE", "1"),
    ]);
    let client = reqwest::Client::new();
    let fair = client
        .get(server.url("/roll?die=fair"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .send()
        .await
        .expect("fair roll");
    assert_eq!(fair.status(), 200);
    let risky = client
        .get(server.url("/roll?die=risky"))
        .send()
        .await
        .expect("risky roll");
    assert_eq!(risky.status(), 500);

    let spans = tokio::task::spawn_blocking(move || received.wait_for(2, Duration::from_secs(15)))
        .await
        .expect("receiver");
    let roll_spans: Vec<&(String, Span)> = spans
        .iter()
        .filter(|(_, s)| s.name == "GET /roll")
        .collect();
    assert_eq!(roll_spans.len(), 2, "{spans:#?}");

    let (service, fair_span) = roll_spans
        .iter()
        .find(|(_, s)| string_attr(&s.attributes, "die.type").as_deref() == Some("fair"))
        .expect("fair span");
    assert_eq!(service, "dice-roller");
    assert_eq!(fair_span.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(
        hex(&fair_span.trace_id),
        CALLER_TRACE,
        "traceparent continued"
    );
    assert_eq!(hex(&fair_span.parent_span_id), CALLER_SPAN);
    let attributes = &fair_span.attributes;
    assert_eq!(
        string_attr(attributes, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(
        string_attr(attributes, "http.route").as_deref(),
        Some("/roll")
    );
    assert_eq!(
        string_attr(attributes, "url.path").as_deref(),
        Some("/roll")
    );
    assert_eq!(int_attr(attributes, "http.response.status_code"), Some(200));
    assert!(int_attr(attributes, "die.result").is_some_and(|v| (1..=6).contains(&v)));
    assert_eq!(
        attr(attributes, "die.error"),
        Some(&Value::BoolValue(false))
    );
    assert!(matches!(
        attr(attributes, "system.cpu.usage_percent"),
        Some(Value::DoubleValue(_))
    ));
    assert!(matches!(
        attr(attributes, "system.memory.usage_percent"),
        Some(Value::DoubleValue(_))
    ));

    let (_, risky_span) = roll_spans
        .iter()
        .find(|(_, s)| string_attr(&s.attributes, "die.type").as_deref() == Some("risky"))
        .expect("risky span");
    assert_eq!(
        int_attr(&risky_span.attributes, "http.response.status_code"),
        Some(500)
    );
    assert_eq!(
        attr(&risky_span.attributes, "die.error"),
        Some(&Value::BoolValue(true))
    );
    assert_eq!(
        string_attr(&risky_span.attributes, "error.type").as_deref(),
        Some("500")
    );
    assert_eq!(
        risky_span.status.as_ref().map(|s| s.code),
        Some(2),
        "STATUS_CODE_ERROR"
    );

    let log = server
        .wait_for_log(Duration::from_secs(5), |l| l["message"] == "rolled dice")
        .expect("roll log line");
    assert_eq!(log["trace_id"], hex(&fair_span.trace_id));
    assert_eq!(
        log["span_id"],
        hex(&fair_span.span_id),
        "the log names the exported span"
    );

    let openmetrics = scrape_openmetrics(&client, &server).await;
    // A bucket keeps its latest exemplar: the id must be one of the exported traces.
    let exported: Vec<String> = roll_spans.iter().map(|(_, s)| hex(&s.trace_id)).collect();
    let exemplar_ids: Vec<&str> = openmetrics
        .lines()
        .filter(|l| {
            l.starts_with("http_request_duration_seconds_bucket") && l.contains("handler=\"/roll\"")
        })
        .filter_map(|l| l.split("# {trace_id=\"").nth(1)?.split('"').next())
        .collect();
    assert!(
        !exemplar_ids.is_empty(),
        "no exemplar on the /roll latency histogram"
    );
    assert!(
        exemplar_ids
            .iter()
            .all(|id| exported.iter().any(|e| e == id)),
        "{exemplar_ids:?} vs {exported:?}"
    );
    assert!(
        !scrape(&client, &server).await.contains("trace_id"),
        "plain text has no exemplars"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_spans_are_flushed_on_sigterm_with_the_configured_service_name() {
    let (endpoint, received) = start_receiver().await;
    let mut server = Server::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ("OTEL_SERVICE_NAME", "dice-under-test"),
        ("DICE_MAX_DELAY", "0"),
    ]);
    let client = reqwest::Client::new();
    client
        .get(server.url("/rolldice"))
        .send()
        .await
        .expect("roll");
    assert!(
        received.spans().is_empty(),
        "the batch delay holds spans back"
    );
    server.signal("TERM");
    let status = server
        .wait_exit(Duration::from_secs(15))
        .expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}");
    let spans = received.spans();
    assert!(
        spans
            .iter()
            .any(|(service, s)| s.name == "GET /rolldice" && service == "dice-under-test"),
        "{spans:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsampled_requests_export_nothing_and_leave_no_exemplars() {
    let (endpoint, received) = start_receiver().await;
    let server = Server::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("OTEL_TRACES_SAMPLER", "always_off"),
        ("DICE_MAX_DELAY", "0"),
    ]);
    let client = reqwest::Client::new();
    client
        .get(server.url("/roll?die=fair"))
        .send()
        .await
        .expect("roll");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(received.spans().is_empty());
    let openmetrics = scrape_openmetrics(&client, &server).await;
    assert!(
        !openmetrics.contains("trace_id"),
        "exemplar points at a trace nobody has"
    );
    let log = server
        .wait_for_log(Duration::from_secs(5), |l| l["message"] == "rolled dice")
        .expect("log");
    assert_eq!(
        log["trace_id"].as_str().map(str::len),
        Some(32),
        "logs still carry ids"
    );
}
