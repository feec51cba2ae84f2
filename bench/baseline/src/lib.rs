//! What the benchmark binaries share: a release dice-server started as a child process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A dice-server child process on a free port, killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub address: String,
}

impl Server {
    /// Starts `binary` without history on 127.0.0.1, with `env` added, and waits until it listens.
    pub fn start(binary: &str, env: &[(&str, String)]) -> Result<Self, Box<dyn std::error::Error>> {
        let mut child = Command::new(binary)
            .args(["--listen", "127.0.0.1:0", "--history-db", "none"])
            .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            let line = lines
                .next()
                .ok_or("dice-server exited before listening")??;
            let parsed: serde_json::Value = serde_json::from_str(&line)?;
            if parsed["message"] == "listening" {
                break parsed["address"].as_str().ok_or("no address")?.to_owned();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self { child, address })
    }

    /// Resident memory now, in KiB (0 once the process is gone).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()));
        status
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    /// CPU time (user + system) the process has used so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()));
        let ticks: u64 = stat
            .ok()
            .and_then(|s| {
                // Fields after the parenthesised command name; utime and stime are 14th and 15th.
                let after = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
                Some(after.get(11)?.parse::<u64>().ok()? + after.get(12)?.parse::<u64>().ok()?)
            })
            .unwrap_or(0);
        ticks as f64 / CLOCK_TICKS_PER_SECOND
    }
}

/// `sysconf(_SC_CLK_TCK)`, 100 on every Linux this runs on.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
