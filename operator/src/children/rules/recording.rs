//! Recording rules per job (the monitoring guide's request rate, error ratio and p95/p99
//! latency), so alerts and dashboards read cheap pre-aggregated series.

use super::{Selector, error_ratio};
use crate::prometheus_operator::Rule;

pub const REQUEST_RATE: &str = "job:http_requests:rate5m";
pub const ERROR_RATIO: &str = "job:http_request_errors:ratio_rate5m";
pub const LATENCY_P95: &str = "job:http_request_duration_seconds:p95_5m";
pub const LATENCY_P99: &str = "job:http_request_duration_seconds:p99_5m";

fn record(name: &str, expr: String) -> Rule {
    Rule {
        record: Some(name.to_owned()),
        expr,
        ..Rule::default()
    }
}

pub fn rules(selector: &Selector) -> Vec<Rule> {
    let requests = format!("http_requests_total{}", selector.api(&[]));
    let ok = format!("http_requests_total{}", selector.api(&[r#"status!~"5..""#]));
    let buckets = format!("http_request_duration_seconds_bucket{}", selector.api(&[]));
    let quantile = |q: &str| {
        format!("histogram_quantile({q}, sum by (namespace, job, le) (rate({buckets}[5m])))")
    };
    vec![
        record(
            REQUEST_RATE,
            format!("sum by (namespace, job) (rate({requests}[5m]))"),
        ),
        record(ERROR_RATIO, error_ratio(&ok, &requests, "5m")),
        record(LATENCY_P95, quantile("0.95")),
        record(LATENCY_P99, quantile("0.99")),
    ]
}
