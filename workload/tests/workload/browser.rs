//! The live page in a real headless Chromium, driven over the DevTools protocol: the rendered
//! DOM shows the numbers `/api/v1/system` reports for the same sample, updates when the next
//! sample is pushed, and a screenshot is kept in `target/tmp/live-page.png`.

use crate::common;

use base64::Engine;
use common::Server;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const CHROMIUM_NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

fn find_chromium() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    CHROMIUM_NAMES.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Headless Chromium in its own process group (it forks renderers), killed with the group.
struct Browser {
    child: Child,
    devtools: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(program: &std::path::Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        let stderr = child.stderr.take().unwrap();
        let (found, endpoint) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = found.send(url.trim().to_owned());
                }
            }
        });
        let browser_ws = endpoint
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium prints its DevTools address");
        let port = browser_ws
            .trim_start_matches("ws://127.0.0.1:")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        Browser {
            child,
            devtools: format!("http://127.0.0.1:{port}"),
            _profile: profile,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// One DevTools page session: numbered commands, answers matched by id, events skipped.
struct Page {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
}

impl Page {
    async fn open(browser: &Browser) -> Page {
        let targets: Value = reqwest::get(format!("{}/json/list", browser.devtools))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let url = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned();
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Page { socket, next_id: 1 }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let command = json!({"id": id, "method": method, "params": params});
        self.socket
            .send(Message::Text(command.to_string().into()))
            .await
            .unwrap();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .expect("DevTools answers")
                .expect("the DevTools socket stays open")
                .unwrap();
            let Ok(text) = message.to_text() else {
                continue;
            };
            let reply: Value = serde_json::from_str(text).unwrap();
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method} failed: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// What the page shows: the displayed values, the sample's timestamp and how many arrived
    /// (`ms: 0` while it loads).
    async fn shown(&mut self) -> Value {
        let expression = r#"JSON.stringify({
            cpu: document.getElementById("value-cpu").textContent,
            ram: document.getElementById("value-ram").textContent,
            disk: document.getElementById("value-disk").textContent,
            gpu: document.getElementById("value-gpu").textContent,
            temp: document.getElementById("value-temp").textContent,
            ms: Number(document.getElementById("sample-time").dataset.ms),
            received: Number(document.getElementById("samples-received").dataset.count),
            status: document.getElementById("status").textContent
        })"#;
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        // While the page is still loading the elements are missing and evaluation throws.
        match result["result"]["value"].as_str() {
            Some(text) => serde_json::from_str(text).unwrap(),
            None => json!({"ms": 0, "loading": result}),
        }
    }
}

fn shown_number(text: &Value) -> f64 {
    let text = text.as_str().unwrap();
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a number: {text:?}"))
}

/// The sample's time, or `None` while the API answers 503 (no sample yet).
fn timestamp_ms(api: &Value) -> Option<u64> {
    let at = humantime::parse_rfc3339(api["timestamp"].as_str()?).ok()?;
    Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as u64)
}

/// Waits until the page and the API show the same sample, then returns both.
async fn same_sample(page: &mut Page, server: &Server, newer_than: u64) -> (Value, Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown = page.shown().await;
        let api: Value = reqwest::get(server.url("/api/v1/system"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ms = shown["ms"].as_u64().unwrap_or(0);
        if ms > newer_than && Some(ms) == timestamp_ms(&api) {
            return (shown, api);
        }
        assert!(
            Instant::now() < deadline,
            "page {shown} never matched the API {api}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_shows_the_api_numbers_and_follows_new_samples() {
    let Some(chromium) = find_chromium() else {
        println!("SKIP: chromium not installed (make test installs it as root)");
        return;
    };
    let server = Server::start(&[("DICE_SAMPLE_INTERVAL", "1s"), ("DICE_MAX_DELAY", "0")]);
    for die in ["fair", "risky"].iter().cycle().take(60) {
        reqwest::get(server.url(&format!("/roll?die={die}")))
            .await
            .unwrap();
    }
    let browser = Browser::start(&chromium);
    let mut page = Page::open(&browser).await;
    page.call("Page.navigate", json!({"url": server.url("/ui")}))
        .await;

    let (shown, api) = same_sample(&mut page, &server, 0).await;
    assert_eq!(shown["status"], "live");
    // The page rounds to one decimal.
    assert!(
        (shown_number(&shown["cpu"]) - api["cpu"].as_f64().unwrap()).abs() <= 0.051,
        "{shown} vs {api}"
    );
    assert!(
        (shown_number(&shown["ram"]) - api["ram"].as_f64().unwrap()).abs() <= 0.051,
        "{shown} vs {api}"
    );
    let disk = api["disk"]["percent"].as_f64().unwrap();
    assert!(
        (shown_number(&shown["disk"]) - disk).abs() <= 0.051,
        "{shown} vs {api}"
    );
    // No GPU and no sensors here: the page says so instead of showing zeros.
    if api["gpu"].is_null() {
        assert_eq!(shown["gpu"], "no GPU");
    }
    if api["temperature"].is_null() {
        assert_eq!(shown["temp"], "no sensor");
    }

    // The next sample arrives over the open socket, without a reload.
    let first_ms = shown["ms"].as_u64().unwrap();
    let (next, next_api) = same_sample(&mut page, &server, first_ms).await;
    assert!(
        next["received"].as_u64() > shown["received"].as_u64(),
        "{shown} then {next}"
    );
    assert!((shown_number(&next["ram"]) - next_api["ram"].as_f64().unwrap()).abs() <= 0.051);

    let screenshot = page
        .call("Page.captureScreenshot", json!({"format": "png"}))
        .await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(screenshot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-page.png");
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {} ({} bytes)", path.display(), png.len());
}

/// The charts start from `/api/v1/history`, before (and besides) what the feed pushes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_starts_from_stored_history() {
    let Some(chromium) = find_chromium() else {
        println!("SKIP: chromium not installed (make test installs it as root)");
        return;
    };
    let server = Server::start(&[
        ("DICE_SAMPLE_INTERVAL", "100ms"),
        ("DICE_PERSIST_INTERVAL", "100ms"),
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let history: Value =
            reqwest::get(server.url("/api/v1/history?metric=cpu&from=-5m&step=30s"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        if history["series"][0]["points"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
        {
            break;
        }
        assert!(Instant::now() < deadline, "nothing stored: {history}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let browser = Browser::start(&chromium);
    let mut page = Page::open(&browser).await;
    page.call("Page.navigate", json!({"url": server.url("/ui")}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let result = page
            .call(
                "Runtime.evaluate",
                json!({"expression": "JSON.stringify({points: (series.cpu || []).length, received: Number(document.getElementById('samples-received').dataset.count)})", "returnByValue": true}),
            )
            .await;
        if let Some(text) = result["result"]["value"].as_str() {
            let state: Value = serde_json::from_str(text).unwrap();
            if state["received"].as_u64() >= Some(1) {
                // Every pushed sample adds one point; the rest came from history.
                assert!(
                    state["points"].as_u64() > state["received"].as_u64(),
                    "{state}"
                );
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the page never received a sample"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
