//! A do-nothing OTLP/HTTP receiver for benchmarks: accepts `/v1/traces` and counts bytes.

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4318".into());
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            counter.fetch_add(body.len() as u64, Ordering::Relaxed);
            async { [("content-type", "application/x-protobuf")] }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("otlp-sink listening on {}", listener.local_addr()?);
    let server = axum::serve(listener, app);
    tokio::select! {
        result = server.into_future() => result,
        _ = tokio::signal::ctrl_c() => {
            println!("otlp-sink received {} bytes", received.load(Ordering::Relaxed));
            Ok(())
        }
    }
}
