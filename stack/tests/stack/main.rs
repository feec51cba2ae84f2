//! The live alert path: real Prometheus, Alertmanager and blackbox exporter, failure by
//! failure, and `make demo`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod demo;
mod failures;
mod live;
