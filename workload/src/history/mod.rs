//! Metrics history: every `--persist-interval` the latest system sample is written to a
//! database (embedded SQLite by default, PostgreSQL when `--history-db` says so), data older
//! than `--retention` is deleted, and `/api/v1/history` answers downsampled ranges.
//!
//! Schema: one narrow table `history_samples(metric, series, at_ms, value)` with the primary
//! key `(metric, series, at_ms)`. A range query of one metric is an index range scan in time
//! order that the database aggregates per bucket; retention deletes walk the `at_ms` index.
//! Narrow rows keep one schema for every metric (a new GPU or mount is a new series, not a
//! migration) and work the same in SQLite and PostgreSQL.
//!
//! Faults: the pool connects lazily, so an unreachable database never stops the server; the
//! writer keeps unwritten samples in a bounded buffer (oldest dropped first, counted) and
//! retries with backoff, so nothing is lost when the database returns within the buffer window.

pub mod api;
mod metrics;
pub mod store;
mod writer;

pub use metrics::HistoryMetrics;
pub use store::{Bucket, Point, Store};
pub use writer::{Clock, SystemClock, Writer, points};

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum HistoryError {
    #[error("history database error: {0}")]
    Database(String),
    #[error("the history database is unavailable: {0}")]
    Unavailable(String),
}

impl HistoryError {
    pub fn category(&self) -> &'static str {
        match self {
            HistoryError::Database(_) => "database",
            HistoryError::Unavailable(_) => "unavailable",
        }
    }
}

#[derive(Debug, Clone)]
pub struct HistoryConfig {
    /// `sqlite://PATH`, `sqlite::memory:` or `postgres://…`.
    pub url: String,
    pub persist_interval: Duration,
    pub retention: Duration,
    /// Samples kept while the database is unreachable.
    pub buffer_samples: usize,
}

/// Where history goes when `--history-db` is not set: a file under the data directory when it
/// is writable, else memory (lost on restart; the startup log says which).
pub fn default_url(data_dir: Option<&Path>) -> (String, &'static str) {
    match data_dir {
        Some(dir) if writable(dir) => (
            format!("sqlite://{}?mode=rwc", dir.join("history.db").display()),
            "file under --data-dir",
        ),
        _ => (
            "sqlite::memory:".to_owned(),
            "in memory: no writable --data-dir, history is lost on restart",
        ),
    }
}

fn writable(dir: &Path) -> bool {
    let probe = dir.join(".dice-write-probe");
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(probe);
    ok
}

/// The store and whether it works, shared by the writer and the API.
#[derive(Debug, Clone)]
pub struct History {
    pub store: Store,
    pub persist_interval: Duration,
    /// Why the last attempt failed; `None` while the database works.
    problem: Arc<Mutex<Option<String>>>,
}

impl History {
    pub fn new(store: Store, persist_interval: Duration) -> Self {
        Self {
            store,
            persist_interval,
            problem: Arc::new(Mutex::new(Some("not connected yet".into()))),
        }
    }

    pub fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_problem(&self, problem: Option<String>) {
        *self.problem.lock().unwrap_or_else(PoisonError::into_inner) = problem;
    }
}
