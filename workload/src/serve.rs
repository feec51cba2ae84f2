//! Serving with graceful shutdown: readiness off, optional delay, bounded drain, span flush;
//! and per-connection limits (a header read timeout, so slow clients cannot hold connections).

use crate::header_deadline::{Activity, Watched, WatchedStream};
use crate::state::AppState;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Debug, Clone, Copy)]
pub struct ShutdownPolicy {
    /// Keep serving this long after the signal, with `/readyz` at 503.
    pub delay: Duration,
    /// Then wait at most this long for in-flight requests.
    pub drain_timeout: Duration,
}

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionPolicy {
    /// Complete request headers must arrive within this long after the connection opens or the
    /// previous response; otherwise the connection is closed (checked once per period, so after
    /// one to two periods: see [`crate::header_deadline`]).
    pub header_read_timeout: Duration,
}

/// Pending connections the kernel queues before they are accepted (capped by
/// `net.core.somaxconn`). The usual default of 128 overflows when a burst of clients connects to
/// a busy server; a client whose handshake was dropped then waits for SYN-ACK retransmissions,
/// up to half a minute.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `address` with [`LISTEN_BACKLOG`].
pub fn listen(address: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's and tokio's bind: a restarted server may reuse its port at once.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves until `signal` resolves, then shuts down per `policy`. Returns whether the drain
/// finished in time (`false`: requests were still running at the drain timeout).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    connections: ConnectionPolicy,
    policy: ShutdownPolicy,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<bool> {
    let app = crate::app(state.clone());
    let builder = Arc::new(connection_builder());
    let graceful = GracefulShutdown::new();
    let stop_accepting = async {
        signal.await;
        state.health.begin_shutdown();
        tracing::info!(delay = ?policy.delay, "shutdown signal received; readiness is now 503");
        tokio::time::sleep(policy.delay).await;
    };
    tokio::pin!(stop_accepting);
    loop {
        tokio::select! {
            () = &mut stop_accepting => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    answer_without_delay(&stream);
                    let service = TowerToHyperService::new(app.clone());
                    let watcher = graceful.watcher();
                    let builder = builder.clone();
                    tokio::spawn(async move {
                        match first_bytes(&stream, connections.header_read_timeout).await {
                            FirstBytes::Http1 => {}
                            FirstBytes::Http2 => return refuse_http2(stream).await,
                            FirstBytes::Nothing => return,
                        }
                        let activity = Arc::new(Activity::default());
                        let stream = WatchedStream::new(stream, activity.clone());
                        let service = Watched::new(service, activity.clone());
                        let connection = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service);
                        tokio::select! {
                            served = watcher.watch(connection) => if let Err(error) = served {
                                tracing::debug!(%error, "connection ended with an error");
                            },
                            // Dropping the connection closes it.
                            () = activity.idle_for(connections.header_read_timeout) => {
                                tracing::debug!("no complete request headers in time; connection closed");
                            }
                        }
                    });
                }
                Err(error) => accept_failed(error).await,
            },
        }
    }
    drop(listener);
    tracing::info!(drain_timeout = ?policy.drain_timeout, "no longer accepting connections; draining");
    // Idle keep-alive connections close at once; busy ones after their current response.
    match tokio::time::timeout(policy.drain_timeout, graceful.shutdown()).await {
        Ok(()) => Ok(true),
        Err(_) => {
            tracing::warn!("drain timeout reached with requests still running; exiting anyway");
            Ok(false)
        }
    }
}

/// Turns off Nagle's algorithm: otherwise every response written while an earlier one is
/// unacknowledged (pipelined requests, WebSocket frames in quick succession) waits for the
/// client's delayed ACK, 40 ms on Linux. Measured before: each batch of 16 pipelined rolls took
/// 44 ms.
fn answer_without_delay(stream: &tokio::net::TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY; answers may wait for delayed ACKs");
    }
}

/// HTTP/1.1 (with WebSocket upgrades) is what every caller of dice-server speaks —
/// Prometheus, kubelet probes, the blackbox exporter, browsers without TLS. Cleartext HTTP/2
/// had no idle or header timeout in hyper (2,000 idle h2c connections stayed open), so it is
/// refused before the connection reaches hyper (see [`first_bytes`]).
///
/// No timer is given to hyper, so its per-request header read timeout is off; the per-connection
/// [`crate::header_deadline`] enforces `header_read_timeout` instead.
fn connection_builder() -> auto::Builder<TokioExecutor> {
    auto::Builder::new(TokioExecutor::new())
}

const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a new connection opened with.
enum FirstBytes {
    Http1,
    /// The HTTP/2 connection preface (prior knowledge, h2c).
    Http2,
    /// Nothing within the header read timeout, or the client went away.
    Nothing,
}

/// Tells HTTP/1 from HTTP/2 by the first bytes, within `within`. hyper's header read timeout
/// starts only once the protocol is known, so a client that connects and sends nothing (or a
/// few bytes of the HTTP/2 preface) would otherwise hold the connection forever.
async fn first_bytes(stream: &tokio::net::TcpStream, within: Duration) -> FirstBytes {
    let sniff = async {
        let mut start = [0_u8; HTTP2_PREFACE.len()];
        loop {
            match stream.peek(&mut start).await {
                Ok(0) | Err(_) => return FirstBytes::Nothing,
                Ok(n) if n == start.len() && start == HTTP2_PREFACE => return FirstBytes::Http2,
                Ok(n) if n == start.len() || start[..n] != HTTP2_PREFACE[..n] => {
                    return FirstBytes::Http1;
                }
                // Part of the preface: the rest is on its way.
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    };
    tokio::time::timeout(within, sniff)
        .await
        .unwrap_or(FirstBytes::Nothing)
}

/// An HTTP/1.1 400 with a JSON body (like every other error), then the connection is closed.
async fn refuse_http2(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    const BODY: &str = r#"{"error":"dice-server speaks HTTP/1.1 only; HTTP/2 without TLS is refused","code":"http2_not_supported"}"#;
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(answer.as_bytes())).await;
    let _ = stream.shutdown().await;
}

/// Out of file descriptors and the like: wait instead of spinning; a connection reset before
/// it was accepted is the client's business.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept connections; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_answer_without_nagle_delay() {
        let listener = listen(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).expect("listen");
        let address = listener.local_addr().expect("address");
        let _client = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        assert!(!accepted.nodelay().expect("read TCP_NODELAY"));
        answer_without_delay(&accepted);
        assert!(accepted.nodelay().expect("read TCP_NODELAY"));
    }
}
