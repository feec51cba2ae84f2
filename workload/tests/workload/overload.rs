//! Overload and slow clients against the real binary: requests over the concurrency limit are
//! shed with a JSON 503 while probes keep answering; slowloris connections are closed after the
//! header read timeout and never keep others from being served.

use crate::common;

use common::{Server, sample, scrape};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_limit_are_shed_with_a_json_503_and_probes_still_answer() {
    let server = Server::start(&[
        ("DICE_MAX_CONCURRENT_REQUESTS", "4"),
        ("DICE_MAX_DELAY", "3s"),
    ]);
    let client = reqwest::Client::new();
    let burst: Vec<_> = (0..24)
        .map(|_| tokio::spawn(client.get(server.url("/roll?die=fair")).send()))
        .collect();
    // While the rolls hold every permit, the probes and the scrape must not be shed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for probe in ["/livez", "/readyz", "/metrics"] {
        let status = client.get(server.url(probe)).send().await.unwrap().status();
        assert_eq!(status, 200, "{probe} under overload");
    }
    let (mut admitted, mut shed) = (0, 0);
    for request in burst {
        let response = request.await.unwrap().expect("every request is answered");
        match response.status().as_u16() {
            200 => admitted += 1,
            503 => {
                assert_eq!(response.headers()["retry-after"], "1");
                let body: serde_json::Value = response.json().await.expect("JSON body");
                assert_eq!(body["code"], "overloaded", "{body}");
                assert!(
                    body["error"].as_str().unwrap().contains("4 requests"),
                    "{body}"
                );
                shed += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(admitted >= 4, "only {admitted} rolls admitted");
    assert!(shed >= 1, "nothing was shed ({admitted} admitted)");
    let scraped = scrape(&client, &server).await;
    assert_eq!(
        sample(&scraped, "http_requests_shed_total"),
        f64::from(shed)
    );
    assert_eq!(sample(&scraped, "http_requests_concurrency_limit"), 4.0);
    assert_eq!(
        sample(
            &scraped,
            r#"http_requests_total{method="GET",handler="/roll",status="503"}"#
        ),
        f64::from(shed)
    );
}

/// Sends a request line and one header, then one more header byte every 200 ms, and reports how
/// long the server kept the connection open.
async fn slowloris(address: String, send_anything: bool) -> Duration {
    let opened = Instant::now();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    if send_anything {
        stream
            .write_all(b"GET /roll?die=fair HTTP/1.1\r\nHost: dice\r\nX-Slow: ")
            .await
            .expect("first bytes");
    }
    let mut buffer = [0_u8; 256];
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return opened.elapsed(),
                Ok(_) => panic!("the server answered headers that never ended"),
            },
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if send_anything && stream.write_all(b"a").await.is_err() {
                    return opened.elapsed();
                }
                assert!(opened.elapsed() < Duration::from_secs(20), "the connection was never closed");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_and_do_not_starve_other_clients() {
    let server = Server::start(&[("DICE_HEADER_READ_TIMEOUT", "1s"), ("DICE_MAX_DELAY", "0")]);
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let attackers: Vec<_> = (0..400)
        .map(|n| tokio::spawn(slowloris(address.clone(), n % 4 != 0)))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let client = reqwest::Client::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..50 {
        let started = Instant::now();
        let response = client.get(server.url("/roll?die=fair")).send().await;
        assert_eq!(response.expect("answered during the attack").status(), 200);
        slowest = slowest.max(started.elapsed());
    }
    let mut held = Vec::new();
    for attacker in attackers {
        held.push(attacker.await.expect("attacker task"));
    }
    let longest = held.iter().max().copied().unwrap_or_default();
    println!(
        "400 slow connections: closed after at most {longest:?}; slowest of 50 normal rolls during the attack {slowest:?}"
    );
    // The header read timeout is 1 s; a closed connection is all that matters, within slack.
    assert!(
        longest < Duration::from_secs(5),
        "a slow connection stayed open {longest:?}"
    );
    assert!(
        held.iter().all(|h| *h >= Duration::from_millis(900)),
        "closed before the timeout"
    );
    let after = client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(after.status(), 200);
}

/// Reads one whole response (headers and a `content-length` body) and returns its status line.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if body.len() >= length {
                return head.lines().next().unwrap_or_default().to_owned();
            }
        }
        let read = stream.read(&mut buffer).await.expect("read");
        assert!(read > 0, "closed mid-response");
        received.extend_from_slice(&buffer[..read]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_keep_alive_connection_outlives_the_header_timeout_and_an_idle_one_does_not() {
    // The deadline is checked once per period; a connection in steady use must never be cut
    // at a check, however long it lives.
    let server = Server::start(&[("DICE_HEADER_READ_TIMEOUT", "1s"), ("DICE_MAX_DELAY", "0")]);
    let address = server.base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let began = Instant::now();
    let mut answered = 0;
    while began.elapsed() < Duration::from_millis(3_500) {
        stream
            .write_all(b"GET /roll?die=fair HTTP/1.1\r\nhost: dice\r\n\r\n")
            .await
            .expect("the connection is still open");
        assert_eq!(read_response(&mut stream).await, "HTTP/1.1 200 OK");
        answered += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(answered >= 10, "{answered} rolls on one connection");
    let idle_since = Instant::now();
    let mut rest = [0_u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "closed without an answer: {closed:?}"
    );
    let idle = idle_since.elapsed();
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(5),
        "an idle keep-alive connection was closed after {idle:?}"
    );
}
