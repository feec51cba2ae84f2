//! dice-server: an instrumented dice-rolling HTTP service (the workload dice-operator deploys).

pub mod config;
pub mod connection_cap;
pub mod dice;
pub mod endpoints;
pub mod error;
pub mod first_bytes;
pub mod header_deadline;
pub mod history;
pub mod load_shedding;
pub mod metrics;
pub mod observe;
pub mod percent_decoding;
pub mod routes;
pub mod sampler;
pub mod serve;
pub mod state;
pub mod telemetry;
pub mod traffic;

use axum::Router;
use state::AppState;

/// The whole HTTP application: routes, JSON fallbacks and the observing middleware.
pub fn app(state: AppState) -> Router {
    routes::router()
        .layer(observe::ObserveLayer::new(state.clone()))
        .with_state(state)
}
