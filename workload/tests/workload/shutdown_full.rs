//! SIGTERM with every feature on (sampler, history in SQLite, the live page's WebSocket, rolls
//! of both dice, scrapes, the history and system APIs): no request is lost, the WebSocket is
//! closed with 1001 "going away", and the samples since the last periodic write reach the
//! database before exit.

use crate::common;

use common::Server;
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Paths a user hits, and the statuses that are real answers (risky rolls fail by design).
const MIX: [(&str, &[u16]); 7] = [
    ("/roll?die=fair", &[200]),
    ("/roll?die=risky", &[200, 500]),
    ("/rolldice", &[200]),
    ("/metrics", &[200]),
    ("/api/v1/system", &[200]),
    ("/api/v1/history?metric=cpu&from=-1h", &[200]),
    ("/health", &[200]),
];

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_every_feature_on_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(&[
        ("DICE_MAX_DELAY", "100ms"),
        ("DICE_SHUTDOWN_DELAY", "1s"),
        ("DICE_DRAIN_TIMEOUT", "5s"),
        ("DICE_SAMPLE_INTERVAL", "100ms"),
        // Only the write at exit can store anything.
        ("DICE_PERSIST_INTERVAL", "1h"),
        ("DICE_DATA_DIR", data.path().to_str().unwrap()),
    ]);
    let ws_url = server.url("/ws").replacen("http://", "ws://", 1);
    let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), socket.next()).await;
    assert!(matches!(first, Ok(Some(Ok(Message::Text(_))))), "{first:?}");

    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, lost) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let mut users = Vec::new();
    for user in 0..14 {
        let (path, expected) = MIX[user % MIX.len()];
        let (client, url) = (client.clone(), server.url(path));
        let (stop, answered, lost) = (stop.clone(), answered.clone(), lost.clone());
        users.push(tokio::spawn(async move {
            while !stop.load(Ordering::Acquire) {
                let complete = match client.get(&url).send().await {
                    Ok(r) if expected.contains(&r.status().as_u16()) => r.bytes().await.is_ok(),
                    Ok(r) => {
                        eprintln!("{url}: unexpected {}", r.status());
                        false
                    }
                    Err(error) => {
                        eprintln!("{url}: {error}");
                        false
                    }
                };
                let counter = if complete { &answered } else { &lost };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let signalled_ms = now_ms();
    server.signal("TERM");
    let signalled = Instant::now();

    // The live page learns of the shutdown at once, with "going away".
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(3), socket.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("no close frame after SIGTERM: {other:?}"),
        }
    };
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Away));

    // Play the load balancer: stop routing new requests once /readyz says 503.
    loop {
        let status = client
            .get(server.url("/readyz"))
            .send()
            .await
            .map(|r| r.status());
        if matches!(status, Ok(s) if s == 503) {
            break;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(3),
            "/readyz stayed ready"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Release);
    for user in users {
        user.await.unwrap();
    }
    let status = server.wait_exit(Duration::from_secs(15)).expect("exits");
    assert!(status.success(), "{status:?}");
    assert_eq!(
        lost.load(Ordering::Relaxed),
        0,
        "requests lost during shutdown"
    );
    assert!(
        answered.load(Ordering::Relaxed) > 100,
        "the load never got going"
    );
    assert!(
        server
            .wait_for_log(Duration::from_secs(1), |l| l["message"]
                == "history written before exit")
            .is_some(),
        "no final history write logged"
    );

    let url = format!("sqlite://{}", data.path().join("history.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (count, newest): (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), MAX(at_ms) FROM history_samples WHERE metric = 'cpu'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(count >= 1, "nothing was written at exit");
    let newest = newest.unwrap();
    assert!(
        newest >= signalled_ms - 150,
        "the stored sample ({newest}) predates SIGTERM ({signalled_ms}) by more than a sample interval"
    );
}
