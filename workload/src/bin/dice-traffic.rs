//! `dice-traffic`: simulated users rolling dice against a dice-server, with a progress bar on a
//! terminal (JSON lines otherwise) and a summary at the end — also after Ctrl-C.

use clap::Parser;
use dice_workload::traffic::plan::{Limits, Mix};
use dice_workload::traffic::{Progress, Traffic, run};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "dice-traffic",
    version,
    about = "Drives dice traffic at a dice-server"
)]
struct Args {
    /// Base URL of the dice-server.
    #[arg(
        long,
        env = "DICE_TRAFFIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// Simulated users, each sending one request at a time.
    #[arg(long, env = "DICE_TRAFFIC_USERS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    users: u32,
    /// Stop after this long (e.g. `30s`, `2m`). Without it and --requests: 10s.
    #[arg(long, env = "DICE_TRAFFIC_DURATION", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many requests in total.
    #[arg(long, env = "DICE_TRAFFIC_REQUESTS")]
    requests: Option<u64>,
    /// Requests per second over all users (default: as fast as answers come).
    #[arg(long, env = "DICE_TRAFFIC_RATE")]
    rate: Option<f64>,
    /// Share of each die, e.g. `fair=70,risky=30`.
    #[arg(long, env = "DICE_TRAFFIC_MIX", default_value = "fair=70,risky=30")]
    mix: Mix,
    /// Give up on one request after this long (counted as a connection failure).
    #[arg(long, env = "DICE_TRAFFIC_REQUEST_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    request_timeout: Duration,
    /// How often to print progress when stdout is not a terminal.
    #[arg(long, env = "DICE_TRAFFIC_PROGRESS_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    progress_interval: Duration,
    /// Summary format: `text`, or `json` (one object). Default: text on a terminal, else json.
    #[arg(long, env = "DICE_TRAFFIC_OUTPUT")]
    output: Option<Output>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Output {
    Text,
    Json,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the Tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(drive(args))
}

async fn drive(args: Args) -> ExitCode {
    let limits = match (args.duration, args.requests) {
        (None, None) => Limits {
            duration: Some(Duration::from_secs(10)),
            requests: None,
        },
        (duration, requests) => Limits { duration, requests },
    };
    let traffic = Traffic {
        url: args.url.clone(),
        users: args.users,
        limits,
        rate: args.rate,
        mix: args.mix.clone(),
        request_timeout: args.request_timeout,
    };
    let terminal = std::io::stdout().is_terminal();
    let progress = Progress::default();
    let reporter = tokio::spawn(report_progress(
        progress.clone(),
        terminal,
        limits,
        args.progress_interval,
    ));
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::warn!("interrupted; printing the partial summary");
    };
    let result = run(&traffic, &progress, interrupted).await;
    reporter.abort();
    let _ = reporter.await;
    let (tally, elapsed) = match result {
        Ok(done) => done,
        Err(error) => {
            eprintln!("error: cannot build the HTTP client: {error}");
            return ExitCode::FAILURE;
        }
    };
    match args
        .output
        .unwrap_or(if terminal { Output::Text } else { Output::Json })
    {
        Output::Text => print!("{}", tally.to_text(elapsed)),
        Output::Json => println!("{}", serde_json::json!({"summary": tally.to_json(elapsed)})),
    }
    ExitCode::SUCCESS
}

/// A progress bar on a terminal; one JSON line per interval otherwise.
async fn report_progress(progress: Progress, terminal: bool, limits: Limits, every: Duration) {
    let started = std::time::Instant::now();
    let bar = terminal.then(|| {
        let bar = match limits.requests {
            Some(total) => indicatif::ProgressBar::new(total),
            None => indicatif::ProgressBar::new(limits.duration.map_or(0, |d| d.as_secs())),
        };
        let template = "{elapsed_precise} [{bar:40}] {pos}/{len} {msg}";
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    let tick = if terminal {
        Duration::from_millis(200)
    } else {
        every
    };
    loop {
        tokio::time::sleep(tick).await;
        let tally = progress.snapshot();
        match &bar {
            Some(bar) => {
                let position = if limits.requests.is_some() {
                    tally.requests
                } else {
                    started.elapsed().as_secs()
                };
                bar.set_position(position);
                bar.set_message(format!(
                    "{} requests, {} errors",
                    tally.requests,
                    tally.errors()
                ));
            }
            None => println!(
                "{}",
                serde_json::json!({"progress": {"elapsed_seconds": started.elapsed().as_secs_f64(),
                    "requests": tally.requests, "errors": tally.errors()}})
            ),
        }
    }
}
