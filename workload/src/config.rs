//! Command-line and environment configuration of dice-server (every flag has an `env`).

use crate::sampler::SamplerConfig;
use crate::sampler::gpu::GpuMode;
use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "dice-server",
    version,
    about = "An instrumented dice-rolling HTTP service"
)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the bound address is logged).
    #[arg(long, env = "DICE_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Upper bound of the random delay before every roll (e.g. `1s`, `250ms`; `0` disables).
    #[arg(long, env = "DICE_MAX_DELAY", default_value = "1s", value_parser = parse_duration)]
    pub max_delay: Duration,

    /// Probability (0 to 1) that a roll of the risky die fails with a 500.
    #[arg(long, env = "DICE_RISKY_ERROR_RATE", default_value_t = 0.10, value_parser = parse_probability)]
    pub risky_error_rate: f64,

    /// How often the background sampler reads CPU, memory, disks, temperatures and GPUs.
    #[arg(long, env = "DICE_SAMPLE_INTERVAL", default_value = "5s", value_parser = parse_sample_interval)]
    pub sample_interval: Duration,

    /// Directory for persistent data (the data volume in Kubernetes); its filesystem is
    /// reported next to the root filesystem.
    #[arg(long, env = "DICE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Filesystems to report, by a path on each (comma-separated). Default: `/` and --data-dir.
    #[arg(long, env = "DICE_DISK_PATHS", value_delimiter = ',')]
    pub disk_paths: Vec<PathBuf>,

    /// GPU metrics through NVML: `auto` uses it when the driver loads, `on` warns when it does
    /// not, `off` never loads it.
    #[arg(long, env = "DICE_GPU", value_enum, default_value_t = GpuMode::Auto)]
    pub gpu: GpuMode,

    /// History database: `sqlite://PATH` (created when missing; relative to the working
    /// directory, `sqlite:///abs` for an absolute path), `sqlite::memory:`,
    /// `postgres://USER:PASSWORD@HOST/DB`, or `none` (off). Default: `history.db` under
    /// --data-dir when it is writable, else in memory.
    #[arg(long, env = "DICE_HISTORY_DB")]
    pub history_db: Option<String>,

    /// How often the latest sample is written to the history database.
    #[arg(long, env = "DICE_PERSIST_INTERVAL", default_value = "30s", value_parser = parse_positive)]
    pub persist_interval: Duration,

    /// History older than this is deleted (e.g. `7d`, `12h`).
    #[arg(long, env = "DICE_RETENTION", default_value = "7d", value_parser = parse_positive)]
    pub retention: Duration,

    /// Samples kept in memory while the history database is unreachable (oldest dropped first).
    #[arg(long, env = "DICE_HISTORY_BUFFER", default_value_t = 2880, value_parser = clap::value_parser!(u32).range(1..))]
    pub history_buffer: u32,

    /// Where the cgroup filesystem is mounted (container CPU and memory limits).
    #[arg(long, env = "DICE_CGROUP_ROOT", default_value = "/sys/fs/cgroup")]
    pub cgroup_root: PathBuf,

    /// Log format: one JSON object per line, or human-readable for terminals.
    #[arg(long, env = "DICE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    /// A request still running after this long is answered 503 with a JSON body.
    #[arg(long, env = "DICE_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// After SIGTERM, keep serving (with /readyz at 503) this long so load balancers stop routing here.
    #[arg(long, env = "DICE_SHUTDOWN_DELAY", default_value = "0s", value_parser = parse_duration)]
    pub shutdown_delay: Duration,

    /// After the shutdown delay, wait at most this long for in-flight requests before exiting.
    #[arg(long, env = "DICE_DRAIN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub drain_timeout: Duration,

    /// Requests allowed to run at once; the next one is answered 503 (`overloaded`, with
    /// `Retry-After: 1`) at once instead of queueing. /livez, /readyz and /metrics are never shed.
    #[arg(long, env = "DICE_MAX_CONCURRENT_REQUESTS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,

    /// Live-page WebSockets open at once (counted apart from --max-concurrent-requests, whose
    /// permit ends at the upgrade); the next upgrade is answered 503 `too_many_websockets`.
    #[arg(long, env = "DICE_MAX_WEBSOCKETS", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_websockets: u32,

    /// The live page pings each WebSocket this often; one that answered nothing (no pong, no
    /// message) for two intervals is closed.
    #[arg(long, env = "DICE_WEBSOCKET_PING_INTERVAL", default_value = "30s", value_parser = parse_positive)]
    pub websocket_ping_interval: Duration,

    /// HTTP connections open at once (a WebSocket leaves the count once upgraded). At the cap
    /// the oldest connection with no request running is closed to make room; when every one is
    /// running a request, the newcomer is answered 503 `too_many_connections`. Each connection
    /// may buffer about twice --max-header-bytes of an unfinished request, so this bounds that
    /// memory. Default: twice --max-concurrent-requests (idle keep-alive connections hold no
    /// request), at least 256, so a burst past the request limit is shed by the router first.
    #[arg(long, env = "DICE_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,

    /// A client must send a request's complete headers within this long after connecting (or
    /// after its previous response), else the connection is closed: slow or idle clients
    /// cannot hold connections open.
    #[arg(long, env = "DICE_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_positive)]
    pub header_read_timeout: Duration,

    /// Largest accepted request body in bytes (by Content-Length); larger ones get 413.
    #[arg(long, env = "DICE_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: u64,

    /// Largest accepted URI, and largest total of header names and values, in bytes
    /// (larger ones get 414 or 431).
    #[arg(long, env = "DICE_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    pub max_header_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl Config {
    /// --max-connections, or its default derived from the request and WebSocket limits.
    pub fn max_connections(&self) -> usize {
        const FLOOR: usize = 256;
        self.max_connections.map_or(
            (2 * self.max_concurrent_requests as usize).max(FLOOR),
            |cap| cap as usize,
        )
    }

    /// What the background sampler reads, and how often.
    pub fn sampler(&self) -> SamplerConfig {
        let disk_paths = if self.disk_paths.is_empty() {
            std::iter::once(PathBuf::from("/"))
                .chain(self.data_dir.clone())
                .collect()
        } else {
            self.disk_paths.clone()
        };
        SamplerConfig {
            interval: self.sample_interval,
            disk_paths,
            gpu: self.gpu,
            cgroup_root: self.cgroup_root.clone(),
        }
    }

    /// Cross-flag rules clap cannot express.
    pub fn check(&self) -> Result<(), String> {
        if self.max_delay >= self.request_timeout {
            return Err(format!(
                "--max-delay ({:?}) must be shorter than --request-timeout ({:?})",
                self.max_delay, self.request_timeout
            ));
        }
        Ok(())
    }
}

/// Parses `1s`, `250ms`, `1m30s`; a bare `0` means zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration like `1s` or `250ms`: {e}"))
}

fn parse_positive(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err(format!("{text:?} must be longer than 0"));
    }
    Ok(duration)
}

fn parse_sample_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_duration(text)?;
    if interval < Duration::from_millis(100) {
        return Err(format!(
            "{text:?} is too short; the sample interval must be at least 100ms"
        ));
    }
    Ok(interval)
}

fn parse_probability(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("{value} is outside 0..=1"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("dice-server").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_match_the_documented_contract() -> Result<(), clap::Error> {
        let config = parse(&[])?;
        assert_eq!(config.max_delay, Duration::from_secs(1));
        assert!((config.risky_error_rate - 0.10).abs() < f64::EPSILON);
        assert_eq!(config.sample_interval, Duration::from_secs(5));
        assert_eq!(config.listen.port(), 8080);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.max_concurrent_requests, 512);
        assert_eq!(config.header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.max_connections(), 2 * 512);
        assert_eq!(config.check(), Ok(()));
        assert_eq!(parse(&["--max-connections", "10"])?.max_connections(), 10);
        let few_requests = parse(&["--max-concurrent-requests", "4"])?;
        assert_eq!(few_requests.max_connections(), 256);
        Ok(())
    }

    #[test]
    fn durations_accept_zero_and_units() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn out_of_range_error_rate_is_rejected_with_a_reason() {
        let err = parse(&["--risky-error-rate", "1.5"])
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().contains("outside 0..=1"), "{err}");
        assert!(parse(&["--risky-error-rate", "abc"]).is_err());
        assert!(parse(&["--risky-error-rate", "1"]).is_ok());
    }

    #[test]
    fn delay_longer_than_timeout_is_rejected() -> Result<(), clap::Error> {
        let config = parse(&["--max-delay", "5s", "--request-timeout", "2s"])?;
        assert!(config.check().is_err());
        Ok(())
    }

    #[test]
    fn a_zero_concurrency_limit_or_header_timeout_is_rejected() {
        assert!(parse(&["--max-concurrent-requests", "0"]).is_err());
        assert!(parse(&["--max-connections", "0"]).is_err());
        assert!(parse(&["--header-read-timeout", "0"]).is_err());
    }

    #[test]
    fn too_short_sample_interval_is_rejected() {
        assert!(parse(&["--sample-interval", "10ms"]).is_err());
    }
}
