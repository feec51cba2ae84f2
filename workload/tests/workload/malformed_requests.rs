//! Requests too broken for the router, over a real socket: request heads beyond hyper's read
//! buffer and garbage request lines get hyper's own 400/431 and a
//! closed connection; the server keeps serving everybody else.

use crate::common;

use common::{Server, sample, scrape};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` on a fresh connection and asserts the answer's status line starts with
/// `expected` and that the server then closed the connection.
async fn assert_refused_and_closed(server: &Server, request: &[u8], expected: &str) {
    let address = server.base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    // The server may answer and close before reading everything; a reset while writing is fine.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or_default();
    let shown = String::from_utf8_lossy(&request[..request.len().min(60)]);
    assert!(
        status_line.starts_with(expected),
        "{shown:?}: {status_line}"
    );
    assert!(
        read.is_ok(),
        "{shown:?}: the connection is closed after {expected}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparsable_requests_get_a_status_and_a_closed_connection_and_others_are_served() {
    let server = Server::start(&[]);
    let client = reqwest::Client::new();

    // A request line longer than hyper's read buffer (about twice --max-header-bytes): hyper
    // cannot tell a long URI from a long header block before the buffer is full.
    let long_uri = format!(
        "GET /roll?die={} HTTP/1.1\r\nHost: dice\r\n\r\n",
        "x".repeat(70_000)
    );
    assert_refused_and_closed(&server, long_uri.as_bytes(), "HTTP/1.1 431").await;

    // A header block past hyper's read buffer.
    let huge_headers = format!(
        "GET /health HTTP/1.1\r\nHost: dice\r\n{}\r\n",
        "X-Filler: 0123456789012345678901234567890123456789\r\n".repeat(10_000)
    );
    assert_refused_and_closed(&server, huge_headers.as_bytes(), "HTTP/1.1 431").await;

    for garbage in [
        &b"NOT A REQUEST\r\n\r\n"[..],
        b"GET /health HTTP/9.9\r\n\r\n",
        b"GET /health HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
        b"G\xffT / HTTP/1.1\r\n\r\n",
    ] {
        assert_refused_and_closed(&server, garbage, "HTTP/1.1 400").await;
    }

    // Within what HTTP carries, the router answers, with its JSON error.
    let long_but_valid = format!("/roll?die={}", "x".repeat(30_000));
    let response = client
        .get(server.url(&long_but_valid))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 414);
    let body: serde_json::Value = response.json().await.expect("JSON body");
    assert_eq!(body["code"], "uri_too_long", "{body}");

    // Nothing above hurt the server: it still rolls, and the unparsable requests never reached
    // the router, so no label was made of them.
    let roll = client
        .get(server.url("/roll?die=fair"))
        .send()
        .await
        .unwrap();
    assert_eq!(roll.status(), 200);
    let scraped = scrape(&client, &server).await;
    assert_eq!(
        sample(
            &scraped,
            r#"http_requests_total{method="GET",handler="/roll",status="414"}"#
        ),
        1.0
    );
    let counted: Vec<&str> = scraped
        .lines()
        .filter(|line| line.starts_with("http_requests_total{"))
        .filter(|line| !line.contains(r#"handler="/metrics""#))
        .collect();
    assert_eq!(counted.len(), 2, "only the two /roll answers: {counted:?}");
}

/// Cleartext HTTP/2 had no idle or header timeout (2,000 idle h2c connections stayed open):
/// dice-server speaks HTTP/1.1 only, so an HTTP/2 preface is refused and the connection closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_prior_knowledge_connection_is_refused_and_closed() {
    let server = Server::start(&[]);
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    assert_refused_and_closed(&server, preface, "HTTP/1.1 400").await;
    let health = reqwest::get(server.url("/health")).await.unwrap();
    assert_eq!(health.status(), 200);
}
