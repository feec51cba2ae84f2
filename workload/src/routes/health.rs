//! `/`, `/health`, `/livez` and `/readyz`.

use super::ENDPOINTS;
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub async fn index() -> Json<Value> {
    Json(json!({
        "name": "dice-server",
        "version": env!("CARGO_PKG_VERSION"),
        "endpoints": ENDPOINTS,
    }))
}

pub async fn health() -> Json<Value> {
    Json(json!({"status": "healthy", "service": "dice-server"}))
}

pub async fn livez() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    if state.health.is_ready() {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(AppError::ShuttingDown)
    }
}
