//! What a client that never finishes may hold: a bounded read buffer per connection and a
//! bounded number of connections, each refusal answered (431 from hyper, 503 with a JSON body).

use crate::common;

use common::{Server, sample, scrape};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The first line the server answers on `stream` within 5 s, or what happened instead.
async fn status_line(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    match read {
        Err(_) => "no answer in 5 s".to_owned(),
        Ok(_) => String::from_utf8_lossy(&answer).into_owned(),
    }
}

/// hyper buffered about 400 KiB of an unfinished header block per connection (300 connections:
/// 131 MiB); now at most about twice --max-header-bytes, and then answers 431.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_header_block_is_refused_near_the_header_limit() {
    let server = Server::start(&[("DICE_MAX_HEADER_BYTES", "16384")]);
    let address = server.base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: dice\r\n")
        .await
        .expect("write");
    let line = format!("X-Filler: {}\r\n", "0123456789abcdef".repeat(4));
    // 96 KiB, never ended: well under hyper's default buffer, well over the cap.
    for _ in 0..(96 * 1024 / line.len()) {
        if stream.write_all(line.as_bytes()).await.is_err() {
            break;
        }
    }
    let answer = status_line(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let health = reqwest::get(server.url("/health")).await.unwrap();
    assert_eq!(health.status(), 200);
}

/// At the cap, connections that never finished their headers made every other client wait
/// for the header deadline (10–20 s); now the oldest of them is closed to make room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_a_connection_without_a_request_makes_room_for_a_new_one() {
    let server = Server::start(&[("DICE_MAX_CONNECTIONS", "4")]);
    let address = server.base_url.trim_start_matches("http://");
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream
            .write_all(b"GET /health HTTP/1.1\r\n")
            .await
            .expect("write");
        stalled.push(stream);
    }
    // Younger connections are never evicted: their clients may not have sent a request yet.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let health = client.get(server.url("/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
    }
    // The oldest stalled connections were closed without an answer.
    let mut closed = 0;
    for stream in &mut stalled {
        let mut byte = [0_u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut byte)).await;
        if matches!(read, Ok(Ok(0) | Err(_))) {
            closed += 1;
        }
    }
    assert!(closed >= 1, "no stalled connection was closed");
    let metrics = scrape(&client, &server).await;
    assert!(
        sample(&metrics, "http_connections_evicted_total") >= 1.0,
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "http_connections_limit"), 4.0);
    assert_eq!(sample(&metrics, "http_connections_refused_total"), 0.0);
}
