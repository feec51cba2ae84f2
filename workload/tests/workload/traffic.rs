//! The traffic generator against a real dice-server on 127.0.0.1: budgets, the die mix, failures
//! counted rather than fatal, stopping early, and the binary's JSON output.

use crate::common;
use dice_workload::app;
use dice_workload::state::{AppState, Settings};
use dice_workload::traffic::plan::Limits;
use dice_workload::traffic::{Progress, Traffic, run};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

async fn dice_server(risky_error_rate: f64) -> SocketAddr {
    let settings = Settings {
        risky_error_rate,
        ..common::settings()
    };
    common::serve_locally(app(AppState::new(settings, None))).await
}

fn traffic(address: SocketAddr, requests: u64, mix: &str) -> Traffic {
    Traffic {
        url: format!("http://{address}"),
        users: 4,
        limits: Limits {
            duration: None,
            requests: Some(requests),
        },
        rate: None,
        mix: mix.parse().unwrap(),
        request_timeout: Duration::from_secs(5),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_budget_is_spent_exactly_with_the_mix_and_faces_expected() {
    let address = dice_server(0.5).await;
    let progress = Progress::default();
    let (tally, _) = run(
        &traffic(address, 400, "fair=50,risky=50"),
        &progress,
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(tally.requests, 400);
    assert_eq!(tally.connection_failures, 0);
    let ok = tally.statuses.get(&200).copied().unwrap_or(0);
    let failed = tally.statuses.get(&500).copied().unwrap_or(0);
    assert_eq!(ok + failed, 400, "{:?}", tally.statuses);
    // Half the rolls are risky and half of those fail: about 100 of 400.
    assert!((50..150).contains(&failed), "{failed} failures");
    let faces = |die: &str| tally.rolls[die].keys().copied().collect::<Vec<u8>>();
    assert!(
        faces("fair").iter().all(|f| (1..=6).contains(f)),
        "{:?}",
        faces("fair")
    );
    assert!(
        faces("risky").iter().all(|f| (2..=7).contains(f)),
        "{:?}",
        faces("risky")
    );
    let rolled: u64 = tally.rolls.values().flat_map(|f| f.values()).sum();
    assert_eq!(rolled, ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_counted_not_fatal() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (tally, _) = run(
        &traffic(closed, 20, "fair=1"),
        &Progress::default(),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(tally.requests, 20);
    assert_eq!(tally.connection_failures, 20);
    assert_eq!(tally.errors(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_early_returns_what_was_done_so_far() {
    let address = dice_server(0.0).await;
    let mut long = traffic(address, 0, "fair=1");
    long.limits = Limits {
        duration: Some(Duration::from_secs(600)),
        requests: None,
    };
    long.rate = Some(200.0);
    let progress = Progress::default();
    let stop = tokio::time::sleep(Duration::from_millis(500));
    let (tally, elapsed) = run(&long, &progress, stop).await.unwrap();
    assert!(
        tally.requests > 0,
        "some requests were made before the stop"
    );
    assert!(
        elapsed < Duration::from_secs(60),
        "stopped well before the 10-minute limit"
    );
    assert_eq!(tally.requests, progress.snapshot().requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_spaces_requests_out() {
    let address = dice_server(0.0).await;
    let mut paced = traffic(address, 20, "fair=1");
    paced.rate = Some(100.0);
    let (tally, elapsed) = run(&paced, &Progress::default(), std::future::pending())
        .await
        .unwrap();
    assert_eq!(tally.requests, 20);
    // 20 requests at 100/s over 4 users: each user waits 40 ms between its 5 requests.
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_json_progress_and_a_summary_when_not_on_a_terminal() {
    let address = dice_server(1.0).await;
    let url = format!("http://{address}");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_dice-traffic"))
            .args([
                "--url",
                &url,
                "--requests",
                "60",
                "--users",
                "3",
                "--mix",
                "risky=1",
            ])
            .args(["--progress-interval", "50ms"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let last = stdout.lines().last().unwrap();
    let summary: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(summary["summary"]["requests"], 60);
    assert_eq!(
        summary["summary"]["statuses"]["500"], 60,
        "a 100% risky error rate"
    );
    assert_eq!(summary["summary"]["errors"], 60);
    for line in stdout.lines().filter(|l| l.contains("\"progress\"")) {
        let progress: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(progress["progress"]["requests"].as_u64().unwrap() <= 60);
    }
}
