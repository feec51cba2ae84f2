//! Pushes the registry's instruments over OTLP (http/protobuf or grpc) every
//! `OTEL_METRIC_EXPORT_INTERVAL`, configured only by the standard `OTEL_*` variables: the same
//! series `/metrics` exposes, read from the one registry, so there is no second instrument list.

use super::TelemetryError;
use super::otlp_convert::{Times, export_request};
use crate::metrics::Metrics;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    HttpProtobuf,
    Grpc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsExport {
    /// For http/protobuf the full URL (`…/v1/metrics`); for grpc the collector's address.
    pub endpoint: String,
    pub protocol: Protocol,
    pub headers: Vec<(String, String)>,
    pub interval: Duration,
    pub timeout: Duration,
    pub resource: Vec<(String, String)>,
}

impl MetricsExport {
    pub fn from_env() -> Result<Option<Self>, TelemetryError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// `Ok(None)` without an endpoint, with `OTEL_SDK_DISABLED=true` or
    /// `OTEL_METRICS_EXPORTER=none`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, TelemetryError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let either = |specific: &str, general: &str| get(specific).or_else(|| get(general));
        if get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        match get("OTEL_METRICS_EXPORTER").as_deref() {
            None | Some("otlp") => {}
            Some("none") => return Ok(None),
            Some(other) => {
                return Err(TelemetryError::Config(format!(
                    "OTEL_METRICS_EXPORTER={other} is not supported; use otlp or none \
                     (Prometheus scrapes /metrics regardless)"
                )));
            }
        }
        let protocol = match either(
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        )
        .as_deref()
        {
            None | Some("http/protobuf") => Protocol::HttpProtobuf,
            Some("grpc") => Protocol::Grpc,
            Some(other) => {
                return Err(TelemetryError::Config(format!(
                    "OTLP protocol {other:?} is not supported for metrics; use http/protobuf or grpc"
                )));
            }
        };
        let endpoint = match (
            get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
            get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(specific), _) => specific,
            (None, Some(base)) if protocol == Protocol::HttpProtobuf => {
                format!("{}/v1/metrics", base.trim_end_matches('/'))
            }
            (None, Some(base)) => base,
            (None, None) => return Ok(None),
        };
        let millis = |name: &str, default: u64| -> Result<Duration, TelemetryError> {
            match get(name) {
                None => Ok(Duration::from_millis(default)),
                Some(text) => text.parse().map(Duration::from_millis).map_err(|_| {
                    TelemetryError::Config(format!(
                        "{name}={text:?} is not a number of milliseconds"
                    ))
                }),
            }
        };
        let interval = millis("OTEL_METRIC_EXPORT_INTERVAL", 60_000)?;
        if interval.is_zero() {
            return Err(TelemetryError::Config(
                "OTEL_METRIC_EXPORT_INTERVAL must be above 0".into(),
            ));
        }
        let request_timeout = match get("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT") {
            Some(_) => millis("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", 10_000)?,
            None => millis("OTEL_EXPORTER_OTLP_TIMEOUT", 10_000)?,
        };
        let timeout = request_timeout.min(millis("OTEL_METRIC_EXPORT_TIMEOUT", 30_000)?);
        let mut headers = pairs(&get("OTEL_EXPORTER_OTLP_HEADERS").unwrap_or_default());
        for (key, value) in pairs(&get("OTEL_EXPORTER_OTLP_METRICS_HEADERS").unwrap_or_default()) {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
            headers.push((key, value));
        }
        Ok(Some(Self {
            endpoint,
            protocol,
            headers,
            interval,
            timeout,
            resource: resource(&get),
        }))
    }

    /// Pushes every interval until the task is aborted; failures are logged, never fatal.
    /// `started_at` is the start of every cumulative series (the process start).
    pub fn spawn(
        self,
        metrics: Arc<Metrics>,
        started_at: SystemTime,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(self.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            let mut failing = false;
            loop {
                ticker.tick().await;
                match self.push(&metrics, started_at).await {
                    Ok(()) if failing => {
                        tracing::info!(endpoint = %self.endpoint, "OTLP metric export works again");
                        failing = false;
                    }
                    Ok(()) => {}
                    Err(error) if !failing => {
                        tracing::warn!(endpoint = %self.endpoint, %error, "OTLP metric export failed; retrying every interval");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
        })
    }

    /// One export of every instrument's current value.
    pub async fn push(
        &self,
        metrics: &Metrics,
        started_at: SystemTime,
    ) -> Result<(), TelemetryError> {
        let families = metrics
            .families()
            .map_err(|_| TelemetryError::Export("encoding the registry failed".into()))?;
        let times = Times {
            start_unix_nano: unix_nanos(started_at),
            now_unix_nano: unix_nanos(SystemTime::now()),
        };
        let request = export_request(&families, &self.resource, times);
        match self.protocol {
            Protocol::HttpProtobuf => self.push_http(request).await,
            Protocol::Grpc => self.push_grpc(request).await,
        }
    }

    async fn push_http(&self, request: ExportMetricsServiceRequest) -> Result<(), TelemetryError> {
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .build()
            .map_err(|e| TelemetryError::Export(e.to_string()))?;
        let mut post = client
            .post(&self.endpoint)
            .header("content-type", "application/x-protobuf")
            .body(request.encode_to_vec());
        for (key, value) in &self.headers {
            post = post.header(key, value);
        }
        let response = post
            .send()
            .await
            .map_err(|e| TelemetryError::Export(e.to_string()))?;
        if !response.status().is_success() {
            return Err(TelemetryError::Export(format!(
                "the collector answered {}",
                response.status()
            )));
        }
        Ok(())
    }

    async fn push_grpc(&self, request: ExportMetricsServiceRequest) -> Result<(), TelemetryError> {
        let failed = |e: &dyn std::fmt::Display| TelemetryError::Export(e.to_string());
        let channel = tonic::transport::Endpoint::from_shared(self.endpoint.clone())
            .map_err(|e| failed(&e))?
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .connect()
            .await
            .map_err(|e| failed(&e))?;
        let mut grpc_request = tonic::Request::new(request);
        for (key, value) in &self.headers {
            let key = tonic::metadata::MetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes())
                .map_err(|e| failed(&e))?;
            let value = value.parse().map_err(|e| failed(&e))?;
            grpc_request.metadata_mut().insert(key, value);
        }
        MetricsServiceClient::new(channel)
            .export(grpc_request)
            .await
            .map_err(|e| failed(&e))?;
        Ok(())
    }
}

/// `service.name` (OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES, else dice-roller),
/// `service.version` and every other OTEL_RESOURCE_ATTRIBUTES pair.
fn resource(get: &impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let mut attributes = pairs(&get("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default());
    if let Some(name) = get("OTEL_SERVICE_NAME") {
        attributes.retain(|(k, _)| k != "service.name");
        attributes.push(("service.name".into(), name));
    }
    if !attributes.iter().any(|(k, _)| k == "service.name") {
        attributes.push((
            "service.name".into(),
            super::otel::DEFAULT_SERVICE_NAME.into(),
        ));
    }
    attributes.push(("service.version".into(), env!("CARGO_PKG_VERSION").into()));
    attributes
}

/// `key=value,key2=value2` with percent-encoded values (the OTEL_* list format).
fn pairs(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_owned(),
                crate::percent_decoding::decode(v.trim(), false),
            )
        })
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn unix_nanos(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
#[path = "otlp_metrics_tests.rs"]
mod tests;
