//! Runs the real dice-server binary on an ephemeral port and captures its JSON log lines; and
//! the request-path settings in-process tests build their state with.

use dice_workload::state::Settings;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub base_url: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts dice-server with `envs` (OTEL_* from the test environment are not inherited).
    pub fn start(envs: &[(&str, &str)]) -> Server {
        Self::start_in(std::path::Path::new("."), envs)
    }

    /// Starts dice-server in the working directory `dir` (relative paths resolve there).
    pub fn start_in(dir: &std::path::Path, envs: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dice-server"));
        command.current_dir(dir);
        command
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, _) in
            std::env::vars().filter(|(n, _)| n.starts_with("OTEL_") || n.starts_with("DICE_"))
        {
            command.env_remove(name);
        }
        command.envs(envs.iter().copied());
        let mut child = command.spawn().expect("dice-server starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().expect("log lock").push(line);
            }
        });
        let mut server = Server {
            child,
            base_url: String::new(),
            logs,
        };
        let listening = server
            .wait_for_log(Duration::from_secs(20), |l| l["message"] == "listening")
            .expect("dice-server logs its address");
        server.base_url = format!("http://{}", listening["address"].as_str().expect("address"));
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Every stdout line so far, parsed; a line that is not JSON fails the test.
    pub fn logs(&self) -> Vec<Value> {
        self.logs
            .lock()
            .expect("log lock")
            .iter()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    pub fn wait_for_log(&self, within: Duration, wanted: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(line) = self.logs().into_iter().find(|l| wanted(l)) {
                return Some(line);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Log lines are flushed in batches: waits until `count` lines match (or the deadline).
    pub fn count_logs(
        &self,
        within: Duration,
        count: usize,
        wanted: impl Fn(&Value) -> bool,
    ) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.logs().iter().filter(|l| wanted(l)).count();
            if seen >= count || Instant::now() >= deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of one exact series (`name{labels}`) in a Prometheus text scrape; 0 when absent.
pub fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

pub async fn scrape(client: &reqwest::Client, server: &Server) -> String {
    scrape_accepting(client, server, "text/plain").await
}

/// The OpenMetrics exposition, as Prometheus asks for it.
pub async fn scrape_openmetrics(client: &reqwest::Client, server: &Server) -> String {
    scrape_accepting(client, server, "application/openmetrics-text;version=1.0.0").await
}

async fn scrape_accepting(client: &reqwest::Client, server: &Server, accept: &str) -> String {
    client
        .get(server.url("/metrics"))
        .header("accept", accept)
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("scrape body")
}

/// Waits until the server reports at least `count` requests in flight (the scrape included).
pub async fn wait_in_flight(client: &reqwest::Client, server: &Server, count: f64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while sample(&scrape(client, server).await, "http_requests_in_flight") < count {
        assert!(
            Instant::now() < deadline,
            "fewer than {count} requests ever in flight"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Serves `router` on an ephemeral 127.0.0.1 port until the test ends; returns its address.
pub async fn serve_locally(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

/// No delay, the default risky error rate and small limits, for in-process routers.
pub fn settings() -> Settings {
    Settings {
        max_delay: Duration::ZERO,
        risky_error_rate: 0.10,
        request_timeout: Duration::from_secs(5),
        max_body_bytes: 1024,
        max_header_bytes: 2048,
        max_concurrent_requests: 512,
        max_websockets: 64,
        websocket_ping_interval: Duration::from_secs(30),
    }
}
