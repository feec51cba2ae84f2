//! `--history-db` in every form the help documents, over the real binary: the SQLite file is
//! created where the URL says, and a path that cannot be created is reported in words.

use crate::common;

use common::Server;
use std::path::Path;
use std::time::{Duration, Instant};

/// Starts dice-server in `dir` with `--history-db` (or the default) and waits for history to answer.
async fn history_answers(dir: &Path, history_db: Option<&str>) -> Server {
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let mut envs = vec![
        ("DICE_SAMPLE_INTERVAL", "100ms"),
        ("DICE_PERSIST_INTERVAL", "200ms"),
        ("DICE_DATA_DIR", data_dir.to_str().unwrap()),
    ];
    if let Some(url) = history_db {
        envs.push(("DICE_HISTORY_DB", url));
    }
    let server = Server::start_in(dir, &envs);
    let url = server.url("/api/v1/history?metric=cpu&from=-1h");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = reqwest::get(&url).await.expect("history request");
        if response.status() == 200 {
            return server;
        }
        let body = response.text().await.unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "{history_db:?}: history never became available: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_relative_sqlite_path_creates_the_file_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _server = history_answers(dir.path(), Some("sqlite://rel.db")).await;
    assert!(
        dir.path().join("rel.db").is_file(),
        "rel.db was not created"
    );
}

#[tokio::test]
async fn an_absolute_sqlite_path_creates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nested-name.db");
    let url = format!("sqlite://{}", file.display());
    assert!(url.starts_with("sqlite:///"));
    let _server = history_answers(dir.path(), Some(&url)).await;
    assert!(file.is_file(), "{} was not created", file.display());
}

#[tokio::test]
async fn sqlite_in_memory_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let _server = history_answers(dir.path(), Some("sqlite::memory:")).await;
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "only data/ is expected: {files:?}");
}

#[tokio::test]
async fn the_default_is_a_file_under_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _server = history_answers(dir.path(), None).await;
    assert!(dir.path().join("data/history.db").is_file());
}

#[tokio::test]
async fn a_path_that_cannot_be_created_is_logged_and_served_as_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/h.db");
    let url = format!("sqlite://{}", missing.display());
    let server = Server::start_in(dir.path(), &[("DICE_HISTORY_DB", &url)]);
    let warning = server
        .wait_for_log(Duration::from_secs(5), |l| {
            l["level"] == "WARN"
                && l["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("cannot be created")
        })
        .expect("a WARN line names the problem");
    assert!(
        warning["problem"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{warning}"
    );
    let response = reqwest::get(server.url("/api/v1/history?metric=cpu&from=-1h"))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "history_unavailable", "{body}");
    let health = reqwest::get(server.url("/health")).await.unwrap();
    assert_eq!(
        health.status(),
        200,
        "the server keeps serving without history"
    );
}

/// The security review's request: it overflowed the range arithmetic and returned every row.
#[tokio::test]
async fn a_range_past_the_arithmetic_is_a_json_400() {
    let dir = tempfile::tempdir().unwrap();
    let server = history_answers(dir.path(), Some("sqlite::memory:")).await;
    let url = server
        .url("/api/v1/history?metric=cpu&from=-9223372036854775s&to=2100-01-01T00:00:00Z&step=1ms");
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "bad_request");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("before 1970"),
        "{body}"
    );
}

/// A token pasted into the wrong variable must not end up in logs or answers: before, the
/// server started, logged `no driver found for URL scheme "xoxb-…"` and answered it in 503s.
#[test]
fn an_unknown_database_url_stops_the_server_without_repeating_it() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dice-server"))
        .args(["--listen", "127.0.0.1:0"])
        .env("DICE_HISTORY_DB", "xoxb-CANARY-TOKEN:x@host/db")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let running = child.try_wait().unwrap().is_none();
    if running {
        child.kill().unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !running && !output.status.success(),
        "dice-server ran with an unusable --history-db:\n{printed}"
    );
    assert!(printed.contains("unsupported database URL"), "{printed}");
    assert!(!printed.to_lowercase().contains("canary"), "{printed}");
}
