//! The live page: `GET /ui` (and `/` for browsers) serves one self-contained HTML file, and
//! `GET /ws` pushes every new sample to it with request and roll totals. The feed is a
//! broadcast: a client that falls behind or stops reading is dropped, never queued for.
//! Sockets are bounded: at most `--max-websockets` open, incoming messages of at most 4 KiB
//! (the page sends none), a ping every `--websocket-ping-interval` and a close for a client
//! that answered nothing for two of them.

use crate::error::AppError;
use crate::metrics::families;
use crate::sampler::Sample;
use crate::state::AppState;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::{Html, Response};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// The page: inline CSS and JavaScript, no external resources, works offline.
pub const PAGE: &str = include_str!("live.html");

/// A client that has not taken a message within this long is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest incoming message or frame: the page sends nothing but pongs and a close.
const MAX_INCOMING_BYTES: usize = 4096;

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// A plain GET (no upgrade) gets a JSON 400 like every other error.
pub async fn ws(
    State(state): State<AppState>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    let upgrade = upgrade.map_err(|rejection| AppError::NotAWebSocket(rejection.body_text()))?;
    let permit = state
        .websockets
        .clone()
        .try_acquire_owned()
        .map_err(|_| AppError::TooManyWebSockets(state.settings.max_websockets))?;
    Ok(upgrade
        .max_message_size(MAX_INCOMING_BYTES)
        .max_frame_size(MAX_INCOMING_BYTES)
        .on_upgrade(move |socket| async move {
            feed(socket, state).await;
            drop(permit);
        }))
}

/// The latest sample at once (when there is one), then each new one until the client leaves.
async fn feed(mut socket: WebSocket, state: AppState) {
    let mut updates = state.samples.subscribe();
    let latest = state.samples.latest();
    if latest.taken() && send(&mut socket, &state, &latest).await.is_err() {
        return;
    }
    let interval = state.settings.websocket_ping_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut last_heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if last_heard.elapsed() > 2 * interval {
                    tracing::info!("live page client silent for two pings; disconnected");
                    let frame = CloseFrame { code: close_code::POLICY, reason: "no pong".into() };
                    let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
                    return;
                }
                let sent = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Ping(Default::default()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return;
                }
            }
            () = state.health.shutdown_begun() => {
                let frame = CloseFrame { code: close_code::AWAY, reason: "server shutting down".into() };
                let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
                return;
            }
            update = updates.recv() => match update {
                Ok(sample) => {
                    if send(&mut socket, &state, &sample).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "live page client too slow; disconnected");
                    let frame = CloseFrame { code: close_code::POLICY, reason: "too slow".into() };
                    let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                // The page sends nothing but pongs; a close, an error (a message over the size
                // limit among them) or the end of the stream ends the feed.
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => last_heard = tokio::time::Instant::now(),
            },
        }
    }
}

async fn send(socket: &mut WebSocket, state: &AppState, sample: &Sample) -> Result<(), ()> {
    let text = update(state, sample).to_string();
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// What the page draws: the sample, all requests answered so far and the faces rolled.
pub fn update(state: &AppState, sample: &Sample) -> Value {
    let families = state.metrics.families().unwrap_or_default();
    json!({
        "timestamp_ms": sample.timestamp_ms,
        "sample": sample,
        "requests_total": families::counter_total(&families, "http_requests_total"),
        "rolls": families::roll_counts(&families),
    })
}
