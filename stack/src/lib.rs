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
    /// A program exited because its port was taken (by another process, between the stack
    /// picking the port and the program binding it).
    pub fn is_port_taken(&self) -> bool {
        matches!(self, Error::NotReady { log, .. } if log.contains("address already in use"))
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bind_failure_in_the_log_is_a_taken_port() {
        let not_ready = |log: &str| Error::NotReady {
            program: "alertmanager".into(),
            url: "http://127.0.0.1:1/-/ready".into(),
            seconds: 0,
            log: log.into(),
        };
        let taken = "level=error msg=\"Listen error\" err=\"listen tcp 127.0.0.1:35137: bind: address already in use\"";
        assert!(not_ready(taken).is_port_taken());
        assert!(!not_ready("level=error msg=\"bad config\"").is_port_taken());
        assert!(!Error::Process("address already in use".into()).is_port_taken());
    }
}
