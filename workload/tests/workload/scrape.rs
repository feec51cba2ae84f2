//! The real binary: N requests move the counters by exactly N, and promtool accepts the scrape.

use crate::common;

use common::{Server, sample, scrape};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_by_exactly_the_requests_sent() {
    let server = Server::start(&[("DICE_MAX_DELAY", "0"), ("DICE_RISKY_ERROR_RATE", "0.5")]);
    let client = reqwest::Client::new();
    let before = scrape(&client, &server).await;

    let (fair, risky) = (60, 40);
    let mut statuses: HashMap<u16, u32> = HashMap::new();
    for die in std::iter::repeat_n("fair", fair).chain(std::iter::repeat_n("risky", risky)) {
        let response = client
            .get(server.url(&format!("/roll?die={die}")))
            .send()
            .await
            .expect("roll");
        *statuses.entry(response.status().as_u16()).or_default() += 1;
    }
    let ok = f64::from(statuses.get(&200).copied().unwrap_or(0));
    let failed = f64::from(statuses.get(&500).copied().unwrap_or(0));
    assert_eq!(ok + failed, (fair + risky) as f64, "{statuses:?}");
    assert!(failed > 0.0, "a 50% risky error rate produced no failures");

    let after = scrape(&client, &server).await;
    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        delta(r#"http_requests_total{method="GET",handler="/roll",status="200"}"#),
        ok
    );
    assert_eq!(
        delta(r#"http_requests_total{method="GET",handler="/roll",status="500"}"#),
        failed
    );
    assert_eq!(
        delta(r#"http_request_duration_seconds_count{method="GET",handler="/roll"}"#),
        (fair + risky) as f64
    );
    assert_eq!(
        delta(r#"dice_rolls_total{die_type="fair",result="success"}"#),
        fair as f64
    );
    assert_eq!(
        delta(r#"dice_rolls_total{die_type="fair",result="error"}"#),
        0.0
    );
    assert_eq!(
        delta(r#"dice_rolls_total{die_type="risky",result="success"}"#)
            + delta(r#"dice_rolls_total{die_type="risky",result="error"}"#),
        risky as f64
    );
    assert_eq!(delta(r#"dice_roll_errors_total{die_type="risky"}"#), failed);
    assert_eq!(
        delta(r#"dice_roll_value_count{die_type="fair"}"#),
        fair as f64
    );
    assert_eq!(
        sample(&after, "http_requests_in_flight"),
        1.0,
        "only the scrape itself"
    );
    assert!(sample(&after, "process_resident_memory_bytes") > 0.0);
    assert!(sample(&after, "process_open_fds") > 0.0);
    assert!(sample(&after, "process_max_fds") >= sample(&after, "process_open_fds"));
    assert!(sample(&after, "tokio_runtime_workers") >= 1.0);
    assert!(
        after.contains("dice_build_info{version=\""),
        "build info missing"
    );

    let rolled = server.count_logs(Duration::from_secs(5), ok as usize, |l| {
        l["message"] == "rolled dice"
    });
    assert_eq!(rolled as f64, ok, "one log line per successful roll");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roll_logs_carry_die_fields_and_trace_ids() {
    let server = Server::start(&[("DICE_MAX_DELAY", "0")]);
    let client = reqwest::Client::new();
    client
        .get(server.url("/roll?die=fair"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .expect("roll");
    let line = server
        .wait_for_log(std::time::Duration::from_secs(5), |l| {
            l["message"] == "rolled dice"
        })
        .expect("a roll log line");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["die_type"], "fair");
    assert!((1..=6).contains(&line["roll_value"].as_u64().expect("roll_value")));
    assert_eq!(
        line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
        "caller's trace continued"
    );
    let span_id = line["span_id"].as_str().expect("span_id");
    assert!(
        span_id.len() == 16 && span_id.chars().all(|c| c.is_ascii_hexdigit()),
        "{span_id}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_a_real_scrape() {
    let Ok(promtool) = which("promtool") else {
        println!("SKIP: promtool not installed (make test installs Debian `prometheus` as root)");
        return;
    };
    let server = Server::start(&[("DICE_MAX_DELAY", "0"), ("DICE_RISKY_ERROR_RATE", "0.5")]);
    let client = reqwest::Client::new();
    for uri in [
        "/roll?die=fair",
        "/roll?die=risky",
        "/roll?die=risky",
        "/rolldice",
        "/nope",
        "/health",
    ] {
        client.get(server.url(uri)).send().await.expect("request");
    }
    // Wait for the sampler's first reading, so the system series are checked too.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let text = loop {
        let text = scrape(&client, &server).await;
        if text.contains("system_cpu_usage_percent") {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no system sample in 15 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write scrape");
    let output = child.wait_with_output().expect("promtool finishes");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && report.trim().is_empty(),
        "promtool: {report}\n---\n{text}"
    );
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|candidate| candidate.is_file())
        })
        .ok_or(())
}
