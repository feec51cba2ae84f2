//! The HTTP surface: the router over the endpoint table in [`crate::endpoints`].

mod dice;
mod health;
mod history;
pub mod live;
mod metrics;
mod system;

use crate::error::AppError;
use crate::state::AppState;
use axum::Router;
use axum::http::{Method, Uri};
use axum::routing::get;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(health::index))
        .route("/roll", get(dice::roll))
        .route("/rolldice", get(dice::roll_legacy))
        .route("/health", get(health::health))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/system", get(system::system))
        .route("/gpu", get(system::gpu))
        .route("/api/v1/history", get(history::history))
        .route("/ui", get(live::page))
        .route("/ws", get(live::ws))
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .fallback(|uri: Uri| async move { AppError::NotFound(uri.path().to_owned()) })
        .method_not_allowed_fallback(|method: Method| async move {
            AppError::MethodNotAllowed(method.to_string())
        })
}
