//! `/metrics`: OpenMetrics, Prometheus text 0.0.4 or the JSON snapshot, chosen by `Accept`.

use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    OpenMetrics,
    PrometheusText,
    Json,
}

pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let encoded = match negotiate(accept) {
        Exposition::Json => {
            let system = state.samples.latest();
            let used = system.memory.used_bytes;
            return Ok(Json(json!({
                "cpu_usage_percent": system.cpu.usage_percent,
                "memory_usage_percent": system.memory.usage_percent,
                "memory_usage_bytes": used,
                "memory_usage_mb": used as f64 / (1024.0 * 1024.0),
            }))
            .into_response());
        }
        Exposition::OpenMetrics => (OPENMETRICS, state.metrics.encode_openmetrics()),
        Exposition::PrometheusText => (PROMETHEUS_TEXT, state.metrics.encode_prometheus_text()),
    };
    let (content_type, body) = encoded;
    let body = body.map_err(|_| AppError::Internal("encoding metrics failed".into()))?;
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// Picks the highest-`q` media range we can serve; ties go to OpenMetrics, then text, then JSON.
pub fn negotiate(accept: &str) -> Exposition {
    let mut best = (0.0_f32, Exposition::PrometheusText);
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let kind = match media.as_str() {
            "application/openmetrics-text" => Exposition::OpenMetrics,
            "application/json" => Exposition::Json,
            "text/plain" | "text/*" | "*/*" => Exposition::PrometheusText,
            _ => continue,
        };
        let rank = |e: Exposition| match e {
            Exposition::OpenMetrics => 3,
            Exposition::PrometheusText => 2,
            Exposition::Json => 1,
        };
        if q > best.0 || (q == best.0 && rank(kind) > rank(best.1)) {
            best = (q, kind);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_scrapers_get_openmetrics() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(prometheus), Exposition::OpenMetrics);
    }

    #[test]
    fn plain_clients_get_prometheus_text() {
        assert_eq!(negotiate(""), Exposition::PrometheusText);
        assert_eq!(negotiate("*/*"), Exposition::PrometheusText);
        assert_eq!(
            negotiate("text/html,application/xhtml+xml,*/*;q=0.8"),
            Exposition::PrometheusText
        );
        assert_eq!(negotiate("image/png"), Exposition::PrometheusText);
    }

    #[test]
    fn json_clients_get_the_snapshot_unless_they_prefer_text() {
        assert_eq!(negotiate("application/json"), Exposition::Json);
        assert_eq!(negotiate("application/json, */*;q=0.1"), Exposition::Json);
        assert_eq!(
            negotiate("text/plain, application/json;q=0.5"),
            Exposition::PrometheusText
        );
    }
}
