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

pub mod query;
pub mod store;
mod writer;

pub use store::{Bucket, Point, Store};
pub use writer::{Clock, ManualClock, SystemClock, Writer, points};

use std::path::{Path, PathBuf};
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

/// `sqlite` or `postgres`, from the URL's scheme. Any other URL is refused without repeating
/// it: a mistyped `--history-db` may be a secret (a token pasted in the wrong variable).
pub fn database_kind(url: &str) -> Result<&'static str, HistoryError> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme);
    match scheme {
        Some("sqlite") => Ok("sqlite"),
        Some("postgres" | "postgresql") => Ok("postgres"),
        _ => Err(HistoryError::Database(
            "unsupported database URL: expected sqlite://PATH, sqlite::memory: or \
             postgres://USER@HOST/DB (the value is not repeated here; it may be a secret)"
                .into(),
        )),
    }
}

/// Where history goes when `--history-db` is not set: a file under the data directory when it
/// is writable, else memory (lost on restart; the startup log says which).
pub fn default_url(data_dir: Option<&Path>) -> (String, &'static str) {
    match data_dir {
        Some(dir) if writable(dir) => (
            format!("sqlite://{}", dir.join("history.db").display()),
            "file under --data-dir",
        ),
        _ => (
            "sqlite::memory:".to_owned(),
            "in memory: no writable --data-dir, history is lost on restart",
        ),
    }
}

/// `sqlite://PATH` as the help documents it: the database file is created when missing.
/// sqlx alone opens an existing file only unless `mode=rwc` is given; an explicit `mode` is kept.
pub fn with_create_mode(url: &str) -> String {
    match sqlite_file(url) {
        Some(_) if !url.contains("mode=") => {
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}mode=rwc")
        }
        _ => url.to_owned(),
    }
}

/// The file a `sqlite:` URL names (relative to the working directory unless absolute); `None`
/// for other databases and for SQLite in memory.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest.strip_prefix("//").unwrap_or(rest);
    let path = path.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:") && !url.contains("mode=memory"))
        .then(|| PathBuf::from(path))
}

/// Why a SQLite database file cannot be created, checked at startup so the reason is logged
/// once in words instead of SQLite's "unable to open database file" on every retry.
pub fn sqlite_file_problem(path: &Path) -> Option<String> {
    if path.exists() {
        return None;
    }
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Some(format!(
            "cannot create {}: directory {} does not exist",
            path.display(),
            parent.display()
        ));
    }
    (!writable(parent)).then(|| {
        format!(
            "cannot create {}: directory {} is not writable",
            path.display(),
            parent.display()
        )
    })
}

fn writable(dir: &Path) -> bool {
    let probe = dir.join(".dice-write-probe");
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(probe);
    ok
}

/// The store and whether it works, shared by the writer and the API.
#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn sqlite_files_are_created_unless_a_mode_is_given() {
        assert_eq!(
            with_create_mode("sqlite://rel.db"),
            "sqlite://rel.db?mode=rwc"
        );
        assert_eq!(
            with_create_mode("sqlite:///abs/h.db?cache=shared"),
            "sqlite:///abs/h.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            with_create_mode("sqlite://h.db?mode=ro"),
            "sqlite://h.db?mode=ro"
        );
        assert_eq!(with_create_mode("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(with_create_mode("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn an_unknown_database_url_is_refused_without_repeating_it() {
        assert_eq!(database_kind("sqlite::memory:"), Ok("sqlite"));
        assert_eq!(database_kind("postgresql://u@h/db"), Ok("postgres"));
        for url in [
            "xoxb-CANARY-TOKEN:rest",
            "CANARY-TOKEN",
            "mysql://u:CANARY@h/db",
        ] {
            let error = database_kind(url).unwrap_err().to_string();
            assert!(!error.to_lowercase().contains("canary"), "{error}");
        }
        assert_eq!(
            sqlite_file("sqlite:///abs/h.db"),
            Some(PathBuf::from("/abs/h.db"))
        );
        assert_eq!(sqlite_file("sqlite:rel.db"), Some(PathBuf::from("rel.db")));
    }

    #[test]
    fn a_file_in_a_missing_directory_is_reported_in_words() {
        let problem = sqlite_file_problem(Path::new("/nonexistent-dice/history.db"));
        assert_eq!(
            problem.as_deref(),
            Some(
                "cannot create /nonexistent-dice/history.db: directory /nonexistent-dice does not exist"
            )
        );
        assert_eq!(
            sqlite_file_problem(&std::env::temp_dir().join("dice-new.db")),
            None
        );
    }
}

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
