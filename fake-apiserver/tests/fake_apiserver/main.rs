//! The fake API server's own tests: kube-rs and the real kubectl against it.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod apply_snapshots;
mod kube_client;
mod kubectl;
mod server_rules;
mod streaming_lists;
