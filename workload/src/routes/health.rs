//! `/`, `/health`, `/livez` and `/readyz`.

use crate::endpoints::ENDPOINTS;
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

/// The endpoint list, or the live page when the client is a browser (accepts HTML).
pub async fn index(headers: HeaderMap) -> Response {
    let accepts_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if accepts_html {
        return Html(super::live::PAGE).into_response();
    }
    Json(json!({
        "name": "dice-server",
        "version": env!("CARGO_PKG_VERSION"),
        "endpoints": ENDPOINTS,
    }))
    .into_response()
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
