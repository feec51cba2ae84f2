//! The benchmark's reference point: the same `/roll` JSON as dice-server with no instrumentation.

use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rand::Rng;
use std::collections::HashMap;

async fn roll(Query(query): Query<HashMap<String, String>>) -> Response {
    let die = query.get("die").map(String::as_str);
    let face: u8 = rand::rng().random_range(1..=6);
    match die {
        Some("fair") => {
            axum::Json(serde_json::json!({"roll": face, "die": "fair"})).into_response()
        }
        Some("risky") => {
            axum::Json(serde_json::json!({"roll": face + 1, "die": "risky"})).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "bad die").into_response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("baseline listening on {}", listener.local_addr()?);
    axum::serve(listener, Router::new().route("/roll", get(roll))).await
}
