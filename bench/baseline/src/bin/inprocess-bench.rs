//! In-process costs, free of network and VM noise: what dice-server's layers add per request,
//! and what one JSON log line costs. Prints a Markdown section for bench/RESULTS.md.

use axum::Router;
use axum::body::Body;
use axum::extract::Query;
use axum::http::Request;
use dice_workload::state::{AppState, Settings};
use dice_workload::telemetry::{JsonLogFormat, LogSink, SkipSpanFields, TraceIds};
use std::collections::HashMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};
use tower::{Service, ServiceExt};
use tracing_subscriber::layer::SubscriberExt;

const REQUESTS: u32 = 300_000;
const EVENTS: u32 = 1_000_000;
const ROUNDS: usize = 5;

async fn bare_roll(Query(query): Query<HashMap<String, String>>) -> axum::Json<serde_json::Value> {
    let die = query.get("die").cloned().unwrap_or_default();
    axum::Json(serde_json::json!({"roll": 3, "die": die}))
}

/// Mean nanoseconds per request through `service`.
async fn per_request<S>(service: &mut S) -> f64
where
    S: Service<Request<Body>, Error = Infallible>,
{
    let started = Instant::now();
    for _ in 0..REQUESTS {
        let request = Request::get("/roll?die=fair")
            .body(Body::empty())
            .unwrap_or_default();
        let Ok(ready) = service.ready().await;
        let Ok(response) = ready.call(request).await;
        drop(response);
    }
    started.elapsed().as_nanos() as f64 / f64::from(REQUESTS)
}

fn log_line_ns() -> Vec<f64> {
    let Ok((sink, _flush)) = LogSink::start(Box::new(std::io::sink()), 256 * 1024) else {
        return Vec::new();
    };
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .fmt_fields(SkipSpanFields)
                .event_format(JsonLogFormat)
                .with_writer(sink),
        );
    let ids = TraceIds {
        trace_id: 0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c,
        span_id: 0xb7ad_6b71_6920_3331,
    };
    tracing::subscriber::with_default(subscriber, || {
        (0..ROUNDS)
            .map(|_| {
                let started = Instant::now();
                ids.sync_scope(|| {
                    for n in 0..EVENTS {
                        tracing::info!(
                            die_type = "fair",
                            roll_value = u64::from(n % 6),
                            "rolled dice"
                        );
                    }
                });
                started.elapsed().as_nanos() as f64 / f64::from(EVENTS)
            })
            .collect()
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let settings = Settings {
        max_delay: Duration::ZERO,
        risky_error_rate: 0.1,
        request_timeout: Duration::from_secs(30),
        max_body_bytes: 64 * 1024,
        max_header_bytes: 16 * 1024,
        max_concurrent_requests: 512,
        max_websockets: 64,
        websocket_ping_interval: Duration::from_secs(30),
    };
    let mut dice = dice_workload::app(AppState::new(settings, None)).into_service();
    let mut bare = Router::new()
        .route("/roll", axum::routing::get(bare_roll))
        .into_service();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.push(per_request(&mut dice).await);
        theirs.push(per_request(&mut bare).await);
    }
    let overhead: Vec<f64> = ours.iter().zip(&theirs).map(|(a, b)| a - b).collect();
    println!(
        "## In-process costs (`BENCH_ONLY=inprocess make bench` → `inprocess-bench`, no network)\n"
    );
    println!(
        "`GET /roll?die=fair` driven {REQUESTS} times through the router in one thread, {ROUNDS} \
         interleaved rounds, medians; no log subscriber (so no log lines) and no tracing. \
         Machine: {}.\n",
        machine()
    );
    println!("| what | ns per request |\n|---|---:|");
    println!("| bare axum router, same JSON | {:.0} |", median(theirs));
    println!("| dice-server `app()` | {:.0} |", median(ours));
    println!(
        "| added by dice-server's layers (metrics, ids, limits, timeout) | {:.0} |",
        median(overhead)
    );
    println!(
        "| one JSON log line (format + batched sink, {EVENTS} events) | {:.0} |\n",
        median(log_line_ns())
    );
}

/// CPU model and core count, as the other sections name the machine.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cores} cores")
}
