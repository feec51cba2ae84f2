//! The OTLP metric push, decoded by a local OTLP/HTTP receiver: every family `/metrics` exposes
//! arrives (http_*, dice_*, process_*, system_*, gpu_*), and SIGTERM pushes the last values.

use crate::common;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use common::{Server, scrape_openmetrics};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric::Data, number_data_point};
use prost::Message;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every decoded push, in arrival order.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<ExportMetricsServiceRequest>>>);

impl Received {
    fn pushes(&self) -> Vec<ExportMetricsServiceRequest> {
        self.0.lock().unwrap().clone()
    }

    /// The metrics of the newest push that satisfies `wanted`.
    async fn wait_for(&self, within: Duration, wanted: impl Fn(&[Metric]) -> bool) -> Vec<Metric> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(metrics) = self.pushes().iter().rev().map(metrics).find(|m| wanted(m)) {
                return metrics;
            }
            assert!(Instant::now() < deadline, "no matching push in {within:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn metrics(request: &ExportMetricsServiceRequest) -> Vec<Metric> {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| s.metrics.clone())
        .collect()
}

fn named<'a>(metrics: &'a [Metric], name: &str) -> Option<&'a Metric> {
    metrics.iter().find(|m| m.name == name)
}

async fn start_receiver() -> (String, Received) {
    let received = Received::default();
    let sink = received.clone();
    let app = Router::new().route(
        "/v1/metrics",
        post(move |body: Bytes| async move {
            let request = ExportMetricsServiceRequest::decode(body).expect("valid OTLP protobuf");
            sink.0.lock().unwrap().push(request);
            [("content-type", "application/x-protobuf")]
        }),
    );
    let address = common::serve_locally(app).await;
    (format!("http://{address}"), received)
}

/// Family names of an OpenMetrics scrape as OTLP names them: counters without `_total`, info
/// metrics as their `<name>_info` gauge.
fn scraped_families(openmetrics: &str) -> BTreeSet<String> {
    openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(
            |rest| match rest.split_whitespace().collect::<Vec<_>>()[..] {
                [name, "info"] => Some(format!("{name}_info")),
                [name, _] => Some(name.to_owned()),
                _ => None,
            },
        )
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_exposed_family_is_pushed_over_otlp() {
    let (endpoint, received) = start_receiver().await;
    let server = Server::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
        ("DICE_SAMPLE_INTERVAL", "200ms"),
        ("DICE_MAX_DELAY", "0"),
    ]);
    let client = reqwest::Client::new();
    for die in ["fair", "fair", "risky"] {
        client
            .get(server.url(&format!("/roll?die={die}")))
            .send()
            .await
            .unwrap();
    }
    let pushed = received
        .wait_for(Duration::from_secs(20), |m| {
            named(m, "system_cpu_usage_percent").is_some()
                && named(m, "dice_rolls").is_some_and(|r| rolls(r) >= 3.0)
        })
        .await;
    let names: BTreeSet<String> = pushed.iter().map(|m| m.name.clone()).collect();
    for prefix in ["http_", "dice_", "process_", "system_", "gpu_"] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "no {prefix}* in {names:?}"
        );
    }
    let exposed = scraped_families(&scrape_openmetrics(&client, &server).await);
    let missing: Vec<&String> = exposed.difference(&names).collect();
    assert!(missing.is_empty(), "exposed but not pushed: {missing:?}");

    let Some(Data::Histogram(latency)) = &named(&pushed, "http_request_duration_seconds")
        .unwrap()
        .data
    else {
        panic!("http_request_duration_seconds is not a histogram");
    };
    let roll_point = latency
        .data_points
        .iter()
        .find(|p| {
            p.attributes
                .iter()
                .any(|a| a.key == "handler" && format!("{:?}", a.value).contains("/roll"))
        })
        .expect("a /roll latency point");
    assert_eq!(roll_point.count, 3);
    assert_eq!(
        roll_point.bucket_counts.len(),
        roll_point.explicit_bounds.len() + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_pushes_the_last_values() {
    let (endpoint, received) = start_receiver().await;
    let mut server = Server::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_TRACES_EXPORTER", "none"),
        // Far beyond the test: only the shutdown push can arrive.
        ("OTEL_METRIC_EXPORT_INTERVAL", "600000"),
        ("DICE_MAX_DELAY", "0"),
    ]);
    reqwest::get(server.url("/roll?die=fair")).await.unwrap();
    assert!(received.pushes().is_empty());
    server.signal("TERM");
    assert!(
        server
            .wait_exit(Duration::from_secs(15))
            .is_some_and(|s| s.success())
    );
    let pushed = received
        .wait_for(Duration::from_secs(5), |m| named(m, "dice_rolls").is_some())
        .await;
    assert_eq!(rolls(named(&pushed, "dice_rolls").unwrap()), 1.0);
}

/// All rolls counted by a `dice_rolls` sum.
fn rolls(metric: &Metric) -> f64 {
    let Some(Data::Sum(sum)) = &metric.data else {
        return 0.0;
    };
    sum.data_points
        .iter()
        .filter_map(|p| match p.value {
            Some(number_data_point::Value::AsDouble(v)) => Some(v),
            _ => None,
        })
        .sum()
}

/// The same push over gRPC, to a tonic collector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_collectors_receive_the_same_push() {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
        MetricsService, MetricsServiceServer,
    };

    struct Collector(Received);

    #[tonic::async_trait]
    impl MetricsService for Collector {
        async fn export(
            &self,
            request: tonic::Request<ExportMetricsServiceRequest>,
        ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
            assert_eq!(
                request
                    .metadata()
                    .get("x-tenant")
                    .map(|v| v.to_str().unwrap()),
                Some("dice"),
                "OTEL_EXPORTER_OTLP_HEADERS become gRPC metadata"
            );
            self.0.0.lock().unwrap().push(request.into_inner());
            Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
        }
    }

    let received = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = MetricsServiceServer::new(Collector(received.clone()));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let _server = Server::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{address}")),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=dice"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
    ]);
    let pushed = received
        .wait_for(Duration::from_secs(20), |m| {
            named(m, "http_requests_in_flight").is_some()
        })
        .await;
    assert!(named(&pushed, "dice_rolls").is_some());
}
