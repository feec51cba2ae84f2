//! The workload's own settings in the spec: image pull policy, the dice, telemetry and GPU.

use super::DURATION_PATTERN;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImagePullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl ImagePullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ImagePullPolicy::Always => "Always",
            ImagePullPolicy::IfNotPresent => "IfNotPresent",
            ImagePullPolicy::Never => "Never",
        }
    }
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("duration(self.maxDelay) < duration('30s')")
    .message("maxDelay must be shorter than dice-server's 30s request timeout")
    .field_path(".maxDelay"))]
pub struct DiceSettings {
    /// Upper bound of the random delay before each roll, e.g. `1s` or `250ms`; `0` disables it.
    #[serde(default = "default_max_delay")]
    #[schemars(regex(pattern = DURATION_PATTERN), length(max = 32))]
    pub max_delay: String,

    /// Probability (0 to 1) that a roll of the risky die fails with an HTTP 500.
    #[serde(default = "default_risky_error_rate")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub risky_error_rate: f64,
}

impl Default for DiceSettings {
    fn default() -> Self {
        Self {
            max_delay: default_max_delay(),
            risky_error_rate: default_risky_error_rate(),
        }
    }
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.tracesSampleRatio) || has(self.otlpEndpoint)")
    .message("tracesSampleRatio needs an otlpEndpoint to send traces to")
    .field_path(".tracesSampleRatio"))]
pub struct TelemetrySpec {
    /// OTLP collector base URL, e.g. `http://otel-collector.observability:4318`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s]+$"), length(max = 2048))]
    pub otlp_endpoint: Option<String>,

    /// OTLP transport: `http/protobuf` (port 4318) or `grpc` (port 4317).
    #[serde(default)]
    pub protocol: OtlpProtocol,

    /// Fraction of traces sampled (0 to 1), respecting the caller's sampling decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub traces_sample_ratio: Option<f64>,

    /// `service.name` of the exported spans. Defaults to the DiceService's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub service_name: Option<String>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    #[default]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    #[serde(rename = "grpc")]
    Grpc,
}

impl OtlpProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::HttpProtobuf => "http/protobuf",
            OtlpProtocol::Grpc => "grpc",
        }
    }
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct GpuSpec {
    /// Request one `nvidia.com/gpu` per pod and turn on the NVML collector (`gpu_*` metrics,
    /// `/gpu`, the dashboard's GPU panels). Needs the NVIDIA device plugin on the node.
    #[serde(default)]
    pub enabled: bool,
}

fn default_max_delay() -> String {
    "1s".into()
}

fn default_risky_error_rate() -> f64 {
    0.1
}
