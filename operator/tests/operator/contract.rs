//! The contract between the generated PromQL and dice-server: every metric name and label
//! matcher used by every rule and dashboard query exists in a real scrape of dice-server after
//! fair and risky traffic. Labels Prometheus adds to targets, recording rules we define, and the
//! series of kube-state-metrics, blackbox exporter and Prometheus itself are the known externals.

use axum::body::Body;
use axum::http::Request;
use dice_operator::render::render_manifest;
use dice_operator::validate::Defaults;
use dice_workload::app;
use dice_workload::sampler::Sample;
use dice_workload::sampler::host::HostReader;
use dice_workload::sampler::sample::{Container, Gpu, Temperature};
use dice_workload::state::{AppState, Settings};
use http_body_util::BodyExt;
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr, VectorSelector};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tower::ServiceExt;

/// Added by Prometheus (ServiceMonitor relabelling), not exported by dice-server.
const TARGET_LABELS: [&str; 7] = [
    "job",
    "namespace",
    "pod",
    "instance",
    "service",
    "endpoint",
    "container",
];
/// Series other exporters provide.
const EXTERNAL_METRICS: [&str; 3] = [
    "up",
    "kube_pod_container_status_restarts_total",
    "probe_success",
];

/// Series of one scrape: metric name → label sets.
type Scrape = BTreeMap<String, Vec<BTreeMap<String, String>>>;

async fn get(router: &axum::Router, uri: &str) -> String {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}

async fn scrape_after_traffic() -> Scrape {
    let settings = Settings {
        max_delay: Duration::from_millis(2),
        risky_error_rate: 0.5,
        request_timeout: Duration::from_secs(5),
        max_body_bytes: 1024,
        max_header_bytes: 4096,
        max_concurrent_requests: 512,
        max_websockets: 64,
        websocket_ping_interval: Duration::from_secs(30),
    };
    let state = AppState::new(settings, None);
    state.samples.publish(system_sample());
    let router = app(state);
    for _ in 0..40 {
        for uri in ["/roll?die=fair", "/roll?die=risky", "/rolldice", "/health"] {
            get(&router, uri).await;
        }
    }
    parse_exposition(&get(&router, "/metrics").await)
}

/// A real reading of this machine, plus what it lacks — a GPU, a temperature sensor, cgroup
/// limits — so every panel is checked against the names dice-server really exports.
fn system_sample() -> Sample {
    let mut reader = HostReader::new(vec!["/".into()]).expect("sysinfo reads this machine");
    let mut sample = Sample::default();
    reader.read(&mut sample);
    sample.timestamp_ms = 1;
    sample.temperatures = vec![Temperature {
        sensor: "contract".into(),
        celsius: 40.0,
    }];
    sample.container = Some(Container {
        memory_limit_bytes: Some(2),
        memory_used_bytes: Some(1),
        memory_percent_of_limit: Some(50.0),
        cpu_limit_cores: Some(1.0),
        cpu_percent_of_limit: Some(10.0),
    });
    sample.gpus = vec![Gpu {
        index: 0,
        uuid: "GPU-contract".into(),
        name: "contract".into(),
        utilization_percent: Some(50.0),
        memory_used_bytes: Some(1),
        memory_total_bytes: Some(2),
        temperature_celsius: Some(60.0),
        power_watts: Some(70.0),
    }];
    sample
}

/// Prometheus text format → series (label values unescaped enough for our labels).
fn parse_exposition(text: &str) -> Scrape {
    let mut scrape = Scrape::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (series, _) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split("\",")
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once("=\"").unwrap();
                (key.to_owned(), value.trim_end_matches('"').to_owned())
            })
            .collect();
        scrape.entry(name.to_owned()).or_default().push(labels);
    }
    scrape
}

fn selectors(expr: &Expr, found: &mut Vec<VectorSelector>) {
    match expr {
        Expr::VectorSelector(vs) => found.push(vs.clone()),
        Expr::MatrixSelector(ms) => found.push(ms.vs.clone()),
        Expr::Aggregate(e) => selectors(&e.expr, found),
        Expr::Unary(e) => selectors(&e.expr, found),
        Expr::Binary(e) => {
            selectors(&e.lhs, found);
            selectors(&e.rhs, found);
        }
        Expr::Paren(e) => selectors(&e.expr, found),
        Expr::Subquery(e) => selectors(&e.expr, found),
        Expr::Call(call) => call.args.args.iter().for_each(|a| selectors(a, found)),
        _ => {}
    }
}

/// Every PromQL expression of the examples' rules and dashboards, with where it came from; and
/// the recording rules they define.
fn queries() -> (Vec<(String, String)>, BTreeSet<String>) {
    let (mut queries, mut recorded) = (Vec::new(), BTreeSet::new());
    for example in ["minimal", "full", "gpu"] {
        let path = format!(
            "{}/../manifests/examples/{example}.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let manifest = std::fs::read_to_string(path).unwrap();
        for (_, children) in render_manifest(&manifest, &Defaults::with_image("x")).unwrap() {
            for group in children
                .prometheus_rule
                .map(|r| r.spec.groups)
                .unwrap_or_default()
            {
                for rule in group.rules {
                    if let Some(record) = &rule.record {
                        recorded.insert(record.clone());
                    }
                    let what = rule.record.or(rule.alert).unwrap_or_default();
                    queries.push((format!("{example} rule {what}"), rule.expr));
                }
            }
            let config_map = children.dashboard.unwrap();
            let json = config_map.data.unwrap().into_values().next().unwrap();
            let dashboard: serde_json::Value = serde_json::from_str(&json).unwrap();
            for panel in dashboard["panels"].as_array().unwrap() {
                for target in panel["targets"].as_array().into_iter().flatten() {
                    if target["datasource"]["type"] == "prometheus" {
                        let expr = target["expr"]
                            .as_str()
                            .unwrap()
                            .replace("$__rate_interval", "5m")
                            .replace("$__range", "1h")
                            .replace("$namespace", "dice")
                            .replace("$job", "dice");
                        queries.push((format!("{example} panel {}", panel["title"]), expr));
                    }
                }
            }
        }
    }
    (queries, recorded)
}

fn matches(matcher: &Matcher, value: &str) -> bool {
    match &matcher.op {
        MatchOp::Equal => matcher.value == value,
        MatchOp::Re(_) => matcher.is_match(value),
        // Negative matchers only need the label to exist.
        MatchOp::NotEqual | MatchOp::NotRe(_) => true,
    }
}

#[tokio::test]
async fn every_series_the_rules_and_dashboards_query_exists_in_a_real_scrape() {
    let scrape = scrape_after_traffic().await;
    let (queries, recorded) = queries();
    assert!(queries.len() > 40, "found {} queries", queries.len());
    let mut problems = Vec::new();
    let mut checked = 0;
    for (origin, expr) in &queries {
        let parsed = parser::parse(expr).unwrap_or_else(|e| panic!("{origin}: {e}\n{expr}"));
        let mut found = Vec::new();
        selectors(&parsed, &mut found);
        for selector in found {
            let name = selector.name.clone().unwrap_or_default();
            if recorded.contains(&name) || EXTERNAL_METRICS.contains(&name.as_str()) {
                continue;
            }
            let Some(series) = scrape.get(&name) else {
                problems.push(format!("{origin}: metric {name} is not exported"));
                continue;
            };
            for matcher in &selector.matchers.matchers {
                if TARGET_LABELS.contains(&matcher.name.as_str()) || matcher.name == "__name__" {
                    continue;
                }
                let satisfied = series.iter().any(|labels| {
                    labels
                        .get(&matcher.name)
                        .is_some_and(|value| matches(matcher, value))
                });
                if !satisfied {
                    problems.push(format!("{origin}: no {name} series matches {matcher}"));
                }
                checked += 1;
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(checked > 50, "label matchers checked: {checked}");
}

#[test]
fn latency_buckets_the_operator_knows_are_the_ones_dice_server_exports() {
    let exported: Vec<f64> = dice_workload::metrics::http::DURATION_BUCKETS.to_vec();
    let known: Vec<f64> = dice_operator::validate::monitoring::LATENCY_BUCKETS.to_vec();
    assert_eq!(known, exported);
}
