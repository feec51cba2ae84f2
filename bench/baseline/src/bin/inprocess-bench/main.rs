//! In-process costs, free of VM scheduling noise: what dice-server adds per request through
//! the router and through the real connection path, allocations per request, and what one
//! JSON log line costs. Prints a Markdown section for bench/RESULTS.md.

mod wire;

use axum::Router;
use axum::body::Body;
use axum::extract::Query;
use axum::http::Request;
use axum::serve::ListenerExt;
use dice_workload::serve::{self, ConnectionPolicy, ShutdownPolicy};
use dice_workload::state::{AppState, Settings};
use dice_workload::telemetry::{self, LogSink, TraceIds};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tower::{Service, ServiceExt};
use tracing_subscriber::layer::SubscriberExt;
use wire::{PIPELINE, WireClient};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const REQUESTS: u32 = 300_000;
const EVENTS: u32 = 1_000_000;
const ROUNDS: usize = 5;

async fn bare_roll(Query(query): Query<HashMap<String, String>>) -> axum::Json<serde_json::Value> {
    let die = query.get("die").cloned().unwrap_or_default();
    axum::Json(serde_json::json!({"roll": 3, "die": die}))
}

/// Mean nanoseconds per request through `service` (infallible; `Result` like a wire round).
async fn per_request<S>(service: &mut S) -> std::io::Result<f64>
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
    Ok(started.elapsed().as_nanos() as f64 / f64::from(REQUESTS))
}

/// dice-server's default logging (`RUST_LOG=info`, JSON lines through the batched sink).
fn json_log_subscriber(sink: LogSink) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(telemetry::json_lines(sink))
}

/// Logs through the global subscriber (installed before this runs).
fn log_line_ns() -> Vec<f64> {
    let ids = TraceIds {
        trace_id: 0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c,
        span_id: 0xb7ad_6b71_6920_3331,
    };
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
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut dice = dice_workload::app(AppState::new(settings(), None)).into_service();
    let mut bare = bare_router().into_service();
    let mut router = [Rows::default(), Rows::default()];
    for _ in 0..ROUNDS {
        router[0].push(counted(per_request(&mut bare)).await?);
        router[1].push(counted(per_request(&mut dice)).await?);
    }
    let mut wire = [
        Rows::default(),
        Rows::default(),
        Rows::default(),
        Rows::default(),
    ];
    let bare_server = start_bare().await?;
    let dice_server = start_dice().await?;
    for _ in 0..ROUNDS {
        wire[0].push(counted(wire_round(bare_server)).await?);
        wire[1].push(counted(wire_round(dice_server)).await?);
    }
    // Installed globally, as dice-server does: a scoped subscriber makes every callsite
    // re-check its interest and costs several times more per line.
    let (log_sink, _flush) = LogSink::start(Box::new(std::io::sink()), 256 * 1024)?;
    tracing::subscriber::set_global_default(json_log_subscriber(log_sink.clone()))
        .map_err(std::io::Error::other)?;
    for _ in 0..ROUNDS {
        wire[2].push(counted(wire_round(bare_server)).await?);
        wire[3].push(counted(wire_round(dice_server)).await?);
    }
    println!(
        "## In-process costs (`BENCH_ONLY=inprocess make bench` → `inprocess-bench`, no network)\n"
    );
    println!(
        "`GET /roll?die=fair` {REQUESTS} times in one thread, {ROUNDS} interleaved rounds, medians. \
         *Router*: called as a tower service, no log subscriber, no tracing. *Wire*: the real \
         server on a loopback socket (bare: `axum::serve`; dice-server: its own `serve` with the \
         connection builder and header read deadline), one keep-alive connection, {PIPELINE} \
         pipelined requests at a time; client and server share the thread, so the difference \
         between rows is the server's. Allocations are counted by a counting global allocator \
         (reallocations included). Machine: {}.\n",
        machine()
    );
    println!("| path | ns per request | heap allocations per request |\n|---|---:|---:|");
    let names = ["bare axum router, same JSON", "dice-server `app()`"];
    for (name, rows) in names.iter().zip(&router) {
        println!(
            "| router: {name} | {:.0} | {:.1} |",
            rows.ns(),
            rows.allocations()
        );
    }
    let names = [
        "bare `axum::serve`",
        "dice-server `serve`, no log subscriber",
        "bare `axum::serve`, JSON log subscriber installed",
        "dice-server `serve`, JSON log line per roll",
    ];
    for (name, rows) in names.iter().zip(&wire) {
        println!(
            "| wire: {name} | {:.0} | {:.1} |",
            rows.ns(),
            rows.allocations()
        );
    }
    let added_on_wire = wire[1].ns() - wire[0].ns();
    println!(
        "\n| what | ns per request |\n|---|---:|\n\
         | added by dice-server's layers, router (metrics, ids, limits, timeout) | {:.0} |\n\
         | added by dice-server on the wire, no log line | {:.0} |\n\
         | one JSON log line on the wire (format + batched sink) | {:.0} |\n\
         | one JSON log line alone ({EVENTS} events) | {:.0} |\n",
        router[1].ns() - router[0].ns(),
        added_on_wire,
        wire[3].ns() - wire[2].ns() - added_on_wire,
        median(log_line_ns()),
    );
    Ok(())
}

fn settings() -> Settings {
    Settings {
        max_delay: Duration::ZERO,
        risky_error_rate: 0.1,
        request_timeout: Duration::from_secs(30),
        max_body_bytes: 64 * 1024,
        max_header_bytes: 16 * 1024,
        max_concurrent_requests: 512,
        max_websockets: 64,
        websocket_ping_interval: Duration::from_secs(30),
    }
}

fn bare_router() -> Router {
    Router::new().route("/roll", axum::routing::get(bare_roll))
}

/// One measurement: nanoseconds and heap allocations per request.
#[derive(Debug, Clone, Copy)]
struct Sample {
    ns: f64,
    allocations: f64,
}

/// Per-round samples of one path.
#[derive(Debug, Default)]
struct Rows(Vec<Sample>);

impl Rows {
    fn push(&mut self, sample: Sample) {
        self.0.push(sample);
    }
    fn ns(&self) -> f64 {
        median(self.0.iter().map(|s| s.ns).collect())
    }
    fn allocations(&self) -> f64 {
        median(self.0.iter().map(|s| s.allocations).collect())
    }
}

/// Runs one round (which returns its ns per request) and counts its allocations per request.
async fn counted(round: impl Future<Output = std::io::Result<f64>>) -> std::io::Result<Sample> {
    let region = Region::new(GLOBAL);
    let ns = round.await?;
    let change = region.change();
    Ok(Sample {
        ns,
        allocations: (change.allocations + change.reallocations) as f64 / f64::from(REQUESTS),
    })
}

async fn start_bare() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    // Without TCP_NODELAY, pipelined answers after the first wait for the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, bare_router());
    tokio::spawn(async move { server.await });
    Ok(address)
}

async fn start_dice() -> std::io::Result<SocketAddr> {
    let listener = serve::listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let address = listener.local_addr()?;
    let connections = ConnectionPolicy {
        header_read_timeout: Duration::from_secs(10),
        max_header_bytes: 16 * 1024,
        max_connections: 1024,
    };
    let shutdown = ShutdownPolicy {
        delay: Duration::ZERO,
        drain_timeout: Duration::from_secs(1),
    };
    let state = AppState::new(settings(), None);
    tokio::spawn(serve::serve(
        listener,
        state,
        connections,
        shutdown,
        std::future::pending(),
    ));
    Ok(address)
}

/// Mean nanoseconds per request over one fresh keep-alive connection.
async fn wire_round(address: SocketAddr) -> std::io::Result<f64> {
    let mut client = WireClient::connect(address).await?;
    let started = Instant::now();
    let sent = client.roll(REQUESTS).await?;
    Ok(started.elapsed().as_nanos() as f64 / f64::from(sent))
}

/// CPU model and core count, as the other sections name the machine (the machine's cores, not
/// the one this benchmark is pinned to).
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    format!("{model}, {cores} cores, pinned to one")
}
