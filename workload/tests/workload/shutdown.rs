//! SIGTERM under load: readiness flips, every accepted request completes, exit code 0.

use crate::common;

use common::{Server, sample, scrape, wait_in_flight};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_request() {
    let mut server = Server::start(&[
        ("DICE_MAX_DELAY", "200ms"),
        ("DICE_SHUTDOWN_DELAY", "1s"),
        ("DICE_DRAIN_TIMEOUT", "5s"),
    ]);
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let (succeeded, failed) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let mut users = Vec::new();
    for _ in 0..16 {
        let (client, url) = (client.clone(), server.url("/roll?die=fair"));
        let (stop, succeeded, failed) = (stop.clone(), succeeded.clone(), failed.clone());
        users.push(tokio::spawn(async move {
            while !stop.load(Ordering::Acquire) {
                match client.get(&url).send().await {
                    Ok(r) if r.status() == 200 => succeeded.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before_signal = succeeded.load(Ordering::Relaxed);
    server.signal("TERM");
    let signalled = Instant::now();

    // Play the load balancer: stop routing new requests once /readyz says 503.
    let readyz = server.url("/readyz");
    let saw_not_ready = loop {
        match client
            .get(&readyz)
            .send()
            .await
            .map(|r| r.status().as_u16())
        {
            Ok(503) => break true,
            _ if signalled.elapsed() > Duration::from_secs(3) => break false,
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    stop.store(true, Ordering::Release);
    for user in users {
        user.await.expect("user task");
    }
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("exits after draining");

    assert!(saw_not_ready, "/readyz never answered 503 after SIGTERM");
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during shutdown"
    );
    assert!(
        succeeded.load(Ordering::Relaxed) > before_signal,
        "no request was served after SIGTERM"
    );
    assert!(
        before_signal > 16,
        "the load never got going ({before_signal} requests)"
    );
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_at_sigterm_complete_before_exit() {
    let mut server = Server::start(&[
        ("DICE_MAX_DELAY", "3s"),
        ("DICE_SHUTDOWN_DELAY", "0s"),
        ("DICE_DRAIN_TIMEOUT", "10s"),
    ]);
    let client = reqwest::Client::new();
    let requests: Vec<_> = (0..10)
        .map(|_| tokio::spawn(client.get(server.url("/roll?die=risky")).send()))
        .collect();
    // Signal once the server has accepted all ten (finished or still running), with at least
    // one still running; the scrape itself is one more request in flight.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let scraped = scrape(&client, &server).await;
        let running = sample(&scraped, "http_requests_in_flight") - 1.0;
        let finished = [200, 500]
            .iter()
            .map(|code| {
                sample(
                    &scraped,
                    &format!(
                        r#"http_requests_total{{method="GET",handler="/roll",status="{code}"}}"#
                    ),
                )
            })
            .sum::<f64>();
        if running + finished >= 10.0 {
            assert!(
                running >= 1.0,
                "every roll finished before SIGTERM; nothing was drained"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rolls never all arrived ({running} running, {finished} done)"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.signal("TERM");
    for request in requests {
        let response = request
            .await
            .expect("task")
            .expect("in-flight request answered");
        assert!(
            matches!(response.status().as_u16(), 200 | 500),
            "{}",
            response.status()
        );
        response.text().await.expect("complete body");
    }
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("exits after draining");
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_timeout_bounds_how_long_shutdown_waits() {
    let mut server = Server::start(&[
        ("DICE_MAX_DELAY", "20s"),
        ("DICE_REQUEST_TIMEOUT", "30s"),
        ("DICE_DRAIN_TIMEOUT", "300ms"),
    ]);
    let client = reqwest::Client::new();
    // Three slow rolls, so at least one is still waiting whatever delays are drawn.
    let stuck: Vec<_> = (0..3)
        .map(|_| tokio::spawn(client.get(server.url("/roll?die=fair")).send()))
        .collect();
    wait_in_flight(&client, &server, 2.0).await;
    let signalled = Instant::now();
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "waited {:?}",
        signalled.elapsed()
    );
    assert!(status.success());
    let line = server
        .wait_for_log(Duration::from_secs(1), |l| l["message"] == "stopped")
        .expect("stop log");
    assert_eq!(line["drained"], false);
    stuck.iter().for_each(|request| request.abort());
}
