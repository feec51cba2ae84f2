//! The system API and the live page's feed, in process: `/api/v1/system`, `/gpu`, `/ui`, `/`
//! for browsers, and `/ws` pushing samples and dropping clients that fall behind.

use crate::common;

use common::settings;
use dice_workload::app;
use dice_workload::sampler::Sample;
use dice_workload::sampler::sample::{Cpu, Disk, Memory, Temperature};
use dice_workload::state::AppState;
use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn serve() -> (AppState, String) {
    serve_with(settings()).await
}

async fn serve_with(settings: dice_workload::state::Settings) -> (AppState, String) {
    let state = AppState::new(settings, None);
    let address = common::serve_locally(app(state.clone())).await;
    (state, address.to_string())
}

fn sample(timestamp_ms: u64, cpu: f64) -> Sample {
    Sample {
        timestamp_ms,
        cpu: Cpu {
            usage_percent: cpu,
            per_core_percent: vec![cpu, cpu],
        },
        memory: Memory {
            used_bytes: 3 << 30,
            available_bytes: 1 << 30,
            total_bytes: 4 << 30,
            usage_percent: 75.0,
        },
        disks: vec![Disk {
            mountpoint: "/".into(),
            used_bytes: 40,
            free_bytes: 60,
            total_bytes: 100,
            usage_percent: 40.0,
        }],
        temperatures: vec![Temperature {
            sensor: "acpitz".into(),
            celsius: 48.0,
        }],
        ..Sample::default()
    }
}

async fn get(address: &str, path: &str, accept: &str) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .get(format!("http://{address}{path}"))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn the_system_api_keeps_the_predecessors_contract() {
    let (state, address) = serve().await;
    let (status, _, body) = get(&address, "/api/v1/system", "*/*").await;
    assert_eq!(status, 503, "before the first sample: {body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["code"], "no_sample_yet");

    state.samples.publish(sample(1_700_000_000_123, 12.5));
    let (status, _, body) = get(&address, "/api/v1/system", "*/*").await;
    assert_eq!(status, 200);
    let system: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(system["cpu"], 12.5);
    assert_eq!(system["ram"], 75.0);
    assert_eq!(system["gpu"], Value::Null, "no GPU: null, not 0");
    assert_eq!(system["temperature"], 48.0);
    assert_eq!(
        system["disk"],
        serde_json::json!({"used": 40, "free": 60, "total": 100, "percent": 40.0})
    );
    assert_eq!(system["timestamp"], "2023-11-14T22:13:20.123Z");

    let (status, _, body) = get(&address, "/gpu", "*/*").await;
    assert_eq!(status, 200);
    let gpu: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(gpu["available"], false);
    assert_eq!(gpu["gpus"], serde_json::json!([]));
}

#[tokio::test]
async fn browsers_get_the_live_page_and_other_clients_the_endpoint_list() {
    let (_state, address) = serve().await;
    let (status, content_type, page) = get(&address, "/ui", "*/*").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("new WebSocket("), "the page opens the feed");
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "nothing from a CDN"
    );
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let (_, content_type, root) = get(&address, "/", browser).await;
    assert!(content_type.starts_with("text/html"));
    assert_eq!(root, page);
    let (_, content_type, list) = get(&address, "/", "application/json").await;
    assert!(content_type.starts_with("application/json"));
    assert!(list.contains("\"/ws\""), "{list}");
}

#[tokio::test]
async fn the_feed_sends_the_latest_sample_then_every_new_one() {
    let (state, address) = serve().await;
    state.samples.publish(sample(1_000, 10.0));
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/ws"))
        .await
        .unwrap();
    let first = next_update(&mut socket).await;
    assert_eq!(first["timestamp_ms"], 1_000);
    assert_eq!(first["sample"]["cpu"]["usage_percent"], 10.0);
    assert!(first["requests_total"].as_f64().is_some());
    assert!(first["rolls"]["fair"].is_object(), "{first}");

    state.samples.publish(sample(2_000, 20.0));
    let second = next_update(&mut socket).await;
    assert_eq!(second["timestamp_ms"], 2_000);
    assert_eq!(second["sample"]["cpu"]["usage_percent"], 20.0);
    socket.close(None).await.unwrap();
}

/// Current-thread runtime: the feed cannot run while the test publishes, so it falls behind
/// by more than its buffer, exactly like a client whose socket stopped draining.
#[tokio::test(flavor = "current_thread")]
async fn a_client_that_falls_behind_is_disconnected_not_buffered() {
    let (state, address) = serve().await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/ws"))
        .await
        .unwrap();
    // Let the server's feed task subscribe before the burst.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for n in 1..=40 {
        state.samples.publish(sample(n, 1.0));
    }
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(message) = socket.next().await {
            if let Message::Close(frame) = message.unwrap() {
                return frame;
            }
        }
        None
    })
    .await
    .expect("the server closes the lagging feed");
    let frame = closed.expect("a close frame with a reason");
    assert_eq!(frame.code, CloseCode::Policy);
    assert_eq!(frame.reason.as_str(), "too slow");
}

/// The next close frame the server sends (pings and updates are read past, unanswered except
/// by what tungstenite does on its own while reading).
async fn close_frame<S>(socket: &mut S, within: Duration) -> Option<CloseFrame>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    tokio::time::timeout(within, async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame,
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the server closes the socket in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_are_limited_apart_from_request_concurrency() {
    let (_, address) = serve_with(dice_workload::state::Settings {
        max_websockets: 2,
        max_concurrent_requests: 1,
        ..settings()
    })
    .await;
    let url = format!("ws://{address}/ws");
    let (mut first, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (_second, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let refused = tokio_tungstenite::connect_async(&url).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else {
        panic!("expected an HTTP refusal, got {refused}");
    };
    assert_eq!(response.status(), 503);
    let body: Value =
        serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
    assert_eq!(body["code"], "too_many_websockets", "{body}");
    // Two open sockets take no request permit: the one request slot still serves.
    let (status, _, _) = get(&address, "/roll?die=fair", "application/json").await;
    assert_eq!(status, 200);
    // A closed socket gives its place back.
    first.close(None).await.unwrap();
    let _ = close_frame(&mut first, Duration::from_secs(5)).await;
    let started = std::time::Instant::now();
    while tokio_tungstenite::connect_async(&url).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the place was not given back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_incoming_message_closes_the_socket() {
    let (_, address) = serve().await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/ws"))
        .await
        .unwrap();
    let big = "x".repeat(64 * 1024);
    let _ = futures_util::SinkExt::send(&mut socket, Message::Text(big.into())).await;
    let frame = close_frame(&mut socket, Duration::from_secs(5)).await;
    if let Some(frame) = frame {
        assert_eq!(frame.code, CloseCode::Size, "{frame:?}");
    }
}

/// A server pinging every `interval` and one WebSocket client connected to it.
async fn connect_pinging_every(
    interval: Duration,
) -> (
    AppState,
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) {
    let (state, address) = serve_with(dice_workload::state::Settings {
        websocket_ping_interval: interval,
        ..settings()
    })
    .await;
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/ws"))
        .await
        .unwrap();
    (state, socket)
}

/// A client that never reads never answers the server's pings: closed after two intervals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_answers_no_ping_is_closed() {
    let (_, mut socket) = connect_pinging_every(Duration::from_millis(100)).await;
    // Not reading: tungstenite answers pings only while the stream is polled.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let frame = close_frame(&mut socket, Duration::from_secs(5))
        .await
        .expect("a close frame");
    assert_eq!(frame.code, CloseCode::Policy);
    assert_eq!(frame.reason.as_str(), "no pong");
}

/// A client that reads (and so answers pings) stays connected past many intervals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_answers_pings_stays() {
    let (state, mut socket) = connect_pinging_every(Duration::from_millis(50)).await;
    let reading = tokio::time::timeout(Duration::from_millis(600), async {
        while let Some(message) = socket.next().await {
            assert!(
                !matches!(message, Ok(Message::Close(_)) | Err(_)),
                "{message:?}"
            );
        }
    })
    .await;
    assert!(
        reading.is_err(),
        "the socket ended while the client answered pings"
    );
    state.samples.publish(sample(7_000, 7.0));
    assert_eq!(next_update(&mut socket).await["timestamp_ms"], 7_000);
}

async fn next_update<S>(socket: &mut S) -> Value
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    // Pings (and pongs) surface on the stream too; the update is the next text message.
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an update within 10 s")
            .expect("the socket stays open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}
