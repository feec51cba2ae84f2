//! The live alert path: real Prometheus, Alertmanager and blackbox exporter, and `make demo`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod alert_path;
mod demo;
