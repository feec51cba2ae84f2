//! dice-server's integration tests: one binary, a module per area; the running-binary harness in `common`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod browser;
mod common;
mod connection_limits;
mod fuzz_requests;
mod history_db;
mod history_postgres;
mod live;
mod malformed_requests;
mod otlp_metrics;
mod otlp_traces;
mod overload;
mod router;
mod scrape;
mod shutdown;
mod shutdown_full;
mod traffic;
