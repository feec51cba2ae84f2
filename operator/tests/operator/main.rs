//! dice-operator's integration tests: one binary, a module per area; shared helpers in `support`, the kubectl scenario in `scenario`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod amtool;
mod apply_requests;
mod binary_e2e;
mod chart;
mod containers;
mod contract;
mod controller;
mod doc_links;
mod docs;
mod faults;
mod generated;
mod golden;
mod images;
mod leader;
mod leader_binary;
mod monitoring;
mod promtool;
mod render_cli;
mod scenario;
mod secret_canaries;
mod spec_properties;
mod support;
mod takeover;
mod upstream_schemas;
mod yaml_readers;
