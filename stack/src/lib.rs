//! dice-stack: the alert path of a DiceService run for real on 127.0.0.1 — dice-server,
//! Prometheus, Alertmanager and the blackbox exporter, configured from what `dice-operator render`
//! emits, with a capture receiver standing in for Slack and PagerDuty. `make demo` runs it for
//! newcomers; the failure tests break it and assert on the notifications.

pub mod capture;
pub mod faults;
pub mod manifest;
pub mod ports;
pub mod processes;
pub mod prometheus;
pub mod stack;
pub mod timeline;
pub mod tools;
pub mod translate;

pub use stack::{Stack, StackOptions};

/// Everything that can go wrong while starting or driving the stack.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Manifest(String),
    #[error("dice-operator render failed: {0}")]
    Render(String),
    #[error(
        "{0} not found; run scripts/install-test-tools.sh prometheus alertmanager blackbox (as root) or put it on PATH"
    )]
    ToolMissing(String),
    #[error("{program} did not become ready at {url} within {seconds}s; last log lines:\n{log}")]
    NotReady {
        program: String,
        url: String,
        seconds: u64,
        log: String,
    },
    #[error("{0}")]
    Process(String),
    #[error("HTTP request to {url} failed: {reason}")]
    Http { url: String, reason: String },
}

impl Error {
    /// A low-cardinality name for logs and exit messages.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Manifest(_) => "manifest",
            Error::Render(_) => "render",
            Error::ToolMissing(_) => "tool_missing",
            Error::NotReady { .. } => "not_ready",
            Error::Process(_) => "process",
            Error::Http { .. } => "http",
        }
    }

    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
