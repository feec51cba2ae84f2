//! Serving with graceful shutdown: readiness off, optional delay, bounded drain, span flush;
//! and connection limits (a cap on open connections, a header read timeout and a bounded read
//! buffer, so slow or unfinished clients can hold neither connections nor memory).

use crate::connection_cap::{ConnectionCap, Place};
use crate::first_bytes::{FirstBytes, first_bytes, refuse_http2};
use crate::header_deadline::{Watched, WatchedStream};
use crate::state::AppState;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Clone, Copy)]
pub struct ShutdownPolicy {
    /// Keep serving this long after the signal, with `/readyz` at 503.
    pub delay: Duration,
    /// Then wait at most this long for in-flight requests.
    pub drain_timeout: Duration,
}

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionPolicy {
    /// Complete request headers must arrive within this long after the connection opens or the
    /// previous response; otherwise the connection is closed (checked once per period, so after
    /// one to two periods: see [`crate::header_deadline`]).
    pub header_read_timeout: Duration,
    /// The largest URI, and the largest header block, the router accepts (`--max-header-bytes`).
    pub max_header_bytes: usize,
    /// Connections open at once; the next one is refused.
    pub max_connections: usize,
}

impl ConnectionPolicy {
    /// hyper's read buffer per connection: room for a request line and a header block each
    /// within `max_header_bytes` (so the router, not hyper, answers those past the limit, with a
    /// JSON body), plus the per-line framing. hyper's default, about 400 KiB, let 300 connections
    /// that never finish their headers take 131 MiB; a longer head is answered 431 by hyper.
    fn read_buffer_bytes(&self) -> usize {
        const FRAMING: usize = 4 * 1024;
        // hyper refuses less than its initial buffer.
        const HYPER_MINIMUM: usize = 8 * 1024;
        (2 * self.max_header_bytes)
            .saturating_add(FRAMING)
            .max(HYPER_MINIMUM)
    }
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
    let builder = Arc::new(connection_builder(&connections));
    let cap = ConnectionCap::new(
        connections.max_connections,
        state.metrics.connections.clone(),
    );
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
                    let Some(place) = cap.admit().await else {
                        tokio::spawn(refuse_connection(stream));
                        continue;
                    };
                    answer_without_delay(&stream);
                    let builder = builder.clone();
                    let app = app.clone();
                    tokio::spawn(serve_connection(stream, place, builder, app, connections));
                }
                Err(error) => accept_failed(error).await,
            },
        }
    }
    drop(listener);
    tracing::info!(drain_timeout = ?policy.drain_timeout, "no longer accepting connections; draining");
    // Idle keep-alive connections close at once; busy ones after their current response.
    match tokio::time::timeout(policy.drain_timeout, cap.drain()).await {
        Ok(()) => Ok(true),
        Err(_) => {
            tracing::warn!("drain timeout reached with requests still running; exiting anyway");
            Ok(false)
        }
    }
}

/// One connection, from its first bytes to its close: by the client, by the header deadline, or
/// by the cap (evicted to make room, or draining at shutdown).
async fn serve_connection(
    stream: tokio::net::TcpStream,
    mut place: Place,
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: axum::Router,
    connections: ConnectionPolicy,
) {
    let sniffed = tokio::select! {
        sniffed = first_bytes(stream, connections.header_read_timeout) => sniffed,
        () = place.closing() => return,
    };
    let stream = match sniffed {
        FirstBytes::Http1(stream) => stream,
        FirstBytes::Http2(stream) => return refuse_http2(stream).await,
        FirstBytes::Nothing => return,
    };
    let activity = place.activity();
    let stream = WatchedStream::new(stream, activity.clone());
    let service = Watched::new(TowerToHyperService::new(app), activity.clone());
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let idle = activity.idle_for(connections.header_read_timeout);
    tokio::pin!(idle);
    let mut closing = false;
    // Returning drops the connection, which closes it.
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = &mut idle => {
                tracing::debug!("no complete request headers in time; connection closed");
                return;
            }
            () = place.closing(), if !closing => {
                // hyper closes an idle keep-alive connection at once and a busy one after its
                // response; it would wait for the first headers of a fresh connection, which
                // has nothing in flight to lose.
                if !activity.served_any() {
                    return;
                }
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
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
/// refused before the connection reaches hyper (see [`crate::first_bytes`]), and hyper is told
/// to expect HTTP/1 only rather than sniff the version again.
///
/// No timer is given to hyper, so its per-request header read timeout is off; the per-connection
/// [`crate::header_deadline`] enforces `header_read_timeout` instead.
fn connection_builder(connections: &ConnectionPolicy) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .max_buf_size(connections.read_buffer_bytes());
    builder
}

/// At the cap with every connection running a request: a 503 with a JSON body at once, then the
/// connection is closed, so the client learns to retry instead of waiting in the listen queue. What the client sent meanwhile is
/// read and dropped for a moment: closing with unread bytes would reset the connection, and the
/// client could lose the answer.
async fn refuse_connection(mut stream: impl AsyncRead + AsyncWrite + Unpin) {
    const BODY: &str =
        r#"{"error":"too many open connections; retry shortly","code":"too_many_connections"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(answer.as_bytes())).await;
    let _ = stream.shutdown().await;
    let drain = async {
        let mut ignored = [0_u8; 1024];
        while let Ok(1..) = stream.read(&mut ignored).await {}
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
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
    async fn a_refused_connection_gets_a_json_503_that_says_when_to_retry() {
        let (mut client, server) = tokio::io::duplex(4096);
        client
            .write_all(b"GET /roll HTTP/1.1\r\nHost: dice\r\n\r\n")
            .await
            .expect("write");
        let refusing = tokio::spawn(refuse_connection(server));
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.expect("read");
        refusing.await.expect("refused");
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(head.contains("retry-after: 1\r\n"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).expect("JSON body");
        assert_eq!(body["code"], "too_many_connections");
    }

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
