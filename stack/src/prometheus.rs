//! The few HTTP calls the stack makes: readiness checks and Prometheus instant queries.

use crate::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// One sample of an instant query's result vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Prometheus' HTTP API at `base` (`http://127.0.0.1:9090`).
#[derive(Debug, Clone)]
pub struct PrometheusApi {
    base: String,
    client: reqwest::Client,
}

impl PrometheusApi {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client: client(),
        }
    }

    /// `GET /api/v1/query`: the samples of an instant vector (empty when nothing matches).
    pub async fn query(&self, promql: &str) -> Result<Vec<Sample>> {
        let url = format!("{}/api/v1/query", self.base);
        let failed = |reason: String| Error::Http {
            url: format!("{url}?query={promql}"),
            reason,
        };
        let response = self
            .client
            .get(&url)
            .query(&[("query", promql)])
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let body: Value = response.json().await.map_err(|e| failed(e.to_string()))?;
        if body["status"] != "success" {
            return Err(failed(body["error"].to_string()));
        }
        let samples = body["data"]["result"]
            .as_array()
            .ok_or_else(|| failed("the result is not a vector".into()))?;
        Ok(samples.iter().map(sample).collect())
    }
}

fn sample(value: &Value) -> Sample {
    let labels = value["metric"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let value = value["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    Sample { labels, value }
}

/// Whether `url` answers 200 right now.
pub async fn answers_ok(url: &str) -> bool {
    match client().get(url).send().await {
        Ok(response) => response.status().is_success(),
        Err(_) => false,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vector_samples_carry_labels_and_a_float_value() {
        let raw = json!({"metric": {"job": "dice-full", "alertname": "HighErrorRate"}, "value": [1.5, "0.25"]});
        let parsed = sample(&raw);
        assert_eq!(parsed.labels["job"], "dice-full");
        assert!((parsed.value - 0.25).abs() < f64::EPSILON);
    }
}
