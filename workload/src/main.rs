//! dice-server entry point: configuration, telemetry, sampler, then serve until a signal.

use clap::Parser;
use dice_workload::config::Config;
use dice_workload::history;
use dice_workload::sampler;
use dice_workload::serve::{ConnectionPolicy, ShutdownPolicy, listen, serve, termination_signal};
use dice_workload::state::{AppState, Settings};
use dice_workload::telemetry::{self, MetricsExport, OtelTracing};
use std::process::ExitCode;
use std::time::Duration;

const SPAN_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// The last history write at exit gets this long (a database that is down would otherwise
/// hold the exit for the whole connect timeout).
const HISTORY_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    if let Err(problem) = config.check() {
        eprintln!("error: {problem}");
        return ExitCode::from(2);
    }
    // Dropped last, after `run` logged its final line: flushes buffered log lines.
    let _log_flush = match telemetry::init_logging(config.log_format) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!(error = %message, "dice-server stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), String> {
    let otel = OtelTracing::from_env().map_err(|e| e.to_string())?;
    let tracing_on = otel.is_some();
    let metrics_export = MetricsExport::from_env().map_err(|e| e.to_string())?;
    let state = AppState::new(Settings::from(&config), otel);
    let sampler = sampler::spawn(state.samples.clone(), config.sampler());
    let history_writer = start_history(&config, &state)?;
    let pusher = metrics_export.clone().map(|export| {
        tracing::info!(endpoint = %export.endpoint, interval = ?export.interval, "pushing metrics over OTLP");
        export.spawn(state.metrics.clone(), state.started_at)
    });
    let listener =
        listen(config.listen).map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    tracing::info!(
        address = %address,
        version = env!("CARGO_PKG_VERSION"),
        max_delay = ?config.max_delay,
        risky_error_rate = config.risky_error_rate,
        max_concurrent_requests = config.max_concurrent_requests,
        tracing = tracing_on,
        "listening"
    );
    let policy = ShutdownPolicy {
        delay: config.shutdown_delay,
        drain_timeout: config.drain_timeout,
    };
    let connections = ConnectionPolicy {
        header_read_timeout: config.header_read_timeout,
        max_header_bytes: config.max_header_bytes,
        max_connections: config.max_connections(),
    };
    let drained = serve(
        listener,
        state.clone(),
        connections,
        policy,
        termination_signal(),
    )
    .await
    .map_err(|e| format!("server error: {e}"))?;
    sampler.abort();
    if let Some((stop, writer)) = history_writer {
        let _ = stop.send(());
        if tokio::time::timeout(HISTORY_FLUSH_TIMEOUT, writer)
            .await
            .is_err()
        {
            tracing::warn!("final history write did not finish in time; queued samples are lost");
        }
    }
    if let (Some(pusher), Some(export)) = (pusher, metrics_export) {
        pusher.abort();
        // The last values since the previous push would otherwise be lost.
        if let Err(error) = export.push(&state.metrics, state.started_at).await {
            tracing::warn!(%error, "final OTLP metric push failed");
        }
    }
    if let Some(otel) = &state.otel {
        otel.shutdown(SPAN_FLUSH_TIMEOUT);
    }
    tracing::info!(drained, "stopped");
    Ok(())
}

/// The history writer's stop signal and its task.
type HistoryWriter = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
);

/// Opens the history store (lazily: an unreachable database never stops the server) and starts
/// the writer.
fn start_history(config: &Config, state: &AppState) -> Result<Option<HistoryWriter>, String> {
    let (url, where_) = match &config.history_db {
        Some(off) if off == "none" => {
            tracing::info!("history off (--history-db none); /api/v1/history answers 503");
            return Ok(None);
        }
        Some(url) => (url.clone(), "--history-db"),
        None => history::default_url(config.data_dir.as_deref()),
    };
    if let Some(problem) = history::sqlite_file(&url)
        .as_deref()
        .and_then(history::sqlite_file_problem)
    {
        // Handled like a database that is down: the server runs, /api/v1/history answers 503.
        tracing::warn!(%problem, "history database cannot be created; history is unavailable until it can");
    }
    let url = history::with_create_mode(&url);
    let store = history::Store::lazy(&url).map_err(|e| format!("--history-db: {e}"))?;
    let kind = history::database_kind(&url).map_err(|e| format!("--history-db: {e}"))?;
    tracing::info!(database = kind, location = where_, persist_interval = ?config.persist_interval,
        retention = ?config.retention, "history on");
    let shared = history::History::new(store, config.persist_interval);
    let _ = state.history.set(shared.clone());
    let writer = history::Writer::new(
        shared,
        state.metrics.history.clone(),
        config.history_buffer as usize,
        config.retention,
        std::sync::Arc::new(history::SystemClock),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let task = writer.spawn(state.samples.clone(), config.persist_interval, stopped);
    Ok(Some((stop, task)))
}
