//! Serving with graceful shutdown: readiness off, optional delay, bounded drain, span flush.

use crate::state::AppState;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Debug, Clone, Copy)]
pub struct ShutdownPolicy {
    /// Keep serving this long after the signal, with `/readyz` at 503.
    pub delay: Duration,
    /// Then wait at most this long for in-flight requests.
    pub drain_timeout: Duration,
}

/// Serves until `signal` resolves, then shuts down per `policy`. Returns whether the drain
/// finished in time (`false`: requests were still running at the drain timeout).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    policy: ShutdownPolicy,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<bool> {
    let (draining_tx, mut draining_rx) = watch::channel(false);
    let shutdown_state = state.clone();
    let stop_accepting = async move {
        signal.await;
        shutdown_state.health.begin_shutdown();
        tracing::info!(delay = ?policy.delay, "shutdown signal received; readiness is now 503");
        tokio::time::sleep(policy.delay).await;
        tracing::info!(drain_timeout = ?policy.drain_timeout, "no longer accepting connections; draining");
        let _ = draining_tx.send(true);
    };
    let server = axum::serve(listener, crate::app(state)).with_graceful_shutdown(stop_accepting);
    let drain_deadline = async move {
        let _ = draining_rx.wait_for(|draining| *draining).await;
        tokio::time::sleep(policy.drain_timeout).await;
    };
    tokio::select! {
        served = server.into_future() => served.map(|()| true),
        () = drain_deadline => {
            tracing::warn!("drain timeout reached with requests still running; exiting anyway");
            Ok(false)
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn termination_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
