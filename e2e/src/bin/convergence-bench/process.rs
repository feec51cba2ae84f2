//! The operator under measurement as a child process: started with its admin port, read from
//! `/proc` (CPU, RSS, peak RSS) and from its own `/metrics`, stopped with SIGTERM.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use std::time::{Duration, Instant};

pub struct Operator {
    child: Child,
    admin: SocketAddr,
}

impl Operator {
    pub fn start(binary: &Path, kubeconfig: &Path) -> Result<Self, String> {
        // A port the kernel just handed out and we let go of: the operator binds it next.
        let admin = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?;
        // Warnings and errors unless DICE_BENCH_OPERATOR_LOG says otherwise; kept after the run.
        let log =
            std::env::temp_dir().join(format!("convergence-bench-operator-{}.log", admin.port()));
        let log = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(binary)
            .args(["run", "--admin-listen", &admin.to_string()])
            .args(["--workload-image", "dice-server:bench"])
            .env("KUBECONFIG", kubeconfig)
            .env(
                "RUST_LOG",
                std::env::var("DICE_BENCH_OPERATOR_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        Ok(Self { child, admin })
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Waits until the admin endpoint answers, so baseline figures are taken from a running
    /// operator.
    pub async fn wait_until_serving(&mut self, timeout: Duration) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the operator exited: {status}"));
            }
            if self.metrics().await.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "the operator did not serve /metrics within {timeout:?}"
        ))
    }

    /// Reconciles finished since this process started, whatever their result.
    pub async fn reconciles(&self) -> f64 {
        let Some(text) = self.metrics().await else {
            return 0.0;
        };
        text.lines()
            .filter(|l| l.starts_with("dice_operator_reconciliations_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// `dice_operator_held_entries` by map (empty when the operator does not answer).
    pub async fn held(&self) -> std::collections::BTreeMap<String, f64> {
        let text = self.metrics().await.unwrap_or_default();
        text.lines()
            .filter_map(|l| l.strip_prefix("dice_operator_held_entries{map=\""))
            .filter_map(|l| {
                let (map, rest) = l.split_once('"')?;
                let value = rest.rsplit(' ').next()?.parse().ok()?;
                Some((map.to_owned(), value))
            })
            .collect()
    }

    async fn metrics(&self) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.admin).await.ok()?;
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.admin
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.ok()?;
        answer.starts_with("HTTP/1.1 200").then(|| {
            answer
                .split_once("\r\n\r\n")
                .map(|(_, body)| body.to_owned())
        })?
    }

    /// SIGTERM, then waits for the exit (the lease is released on the way out).
    pub fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.pid()]).status();
        let _ = self.child.wait();
    }
}

/// Peak (`VmHWM`) or current (`VmRSS`) resident memory of a process, in MiB.
pub fn memory_mib(pid: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::to_owned))
        })
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// User + system CPU seconds of a process so far (`/proc/<pid>/stat`, 100 ticks per second).
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |n: usize| {
        fields
            .get(n)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0
}
