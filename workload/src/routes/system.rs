//! `GET /api/v1/system` (the metrics-collector predecessor's contract) and `GET /gpu`, both
//! from the sampler's latest sample.

use crate::error::AppError;
use crate::sampler::Sample;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};

/// `{"cpu", "ram", "gpu", "temperature", "disk": {"used", "free", "total", "percent"},
/// "timestamp"}`: percentages, bytes and °C; `gpu` (mean utilisation) and `temperature`
/// (hottest sensor) are `null` when the machine has none; `disk` is the first configured path.
pub async fn system(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let sample = state.samples.latest();
    if !sample.taken() {
        return Err(AppError::NoSampleYet);
    }
    let disk = sample.disks.first().map(|d| {
        json!({
            "used": d.used_bytes,
            "free": d.free_bytes,
            "total": d.total_bytes,
            "percent": d.usage_percent,
        })
    });
    Ok(Json(json!({
        "cpu": sample.cpu.usage_percent,
        "ram": sample.memory.usage_percent,
        "gpu": sample.mean_gpu_utilization(),
        "temperature": sample.max_temperature(),
        "disk": disk,
        "timestamp": timestamp(&sample),
    })))
}

/// `{"available": bool, "gpus": [{index, uuid, name, utilization_percent, …}], "timestamp"}`;
/// `available: false` and an empty list without a driver or GPU.
pub async fn gpu(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let sample = state.samples.latest();
    if !sample.taken() {
        return Err(AppError::NoSampleYet);
    }
    Ok(Json(json!({
        "available": !sample.gpus.is_empty(),
        "gpus": sample.gpus,
        "timestamp": timestamp(&sample),
    })))
}

/// RFC 3339 with milliseconds, UTC.
pub fn timestamp(sample: &Sample) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(sample.timestamp_ms);
    humantime::format_rfc3339_millis(at).to_string()
}
