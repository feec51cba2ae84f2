//! Operator convergence benchmark: N DiceServices against the fake API server, the harness
//! playing kubelet, every child kind served (the Prometheus Operator CRDs registered). Reports,
//! per run, time until all are Ready, the operator's CPU and memory per DiceService, its
//! requests per DiceService (and by verb and kind), the writes it makes while idle, and what a
//! restart on the converged set costs; repeated runs report their spread and fail on a stall.

mod cluster;
mod foreign;
mod process;
mod requests;
mod run;
mod soak;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "convergence-bench",
    about = "How fast and how frugally dice-operator converges N DiceServices"
)]
pub struct Args {
    /// The dice-operator binary to measure.
    #[arg(
        long,
        env = "DICE_OPERATOR_BIN",
        default_value = "target/release/dice-operator"
    )]
    operator: PathBuf,
    /// The CRD manifest to install.
    #[arg(long, env = "DICE_CRD", default_value = "crds/diceservice.yaml")]
    crd: PathBuf,
    /// Prometheus Operator CRDs to register (every `*.yaml` in the directory); when it does
    /// not exist the monitoring children are skipped, and the report says so.
    #[arg(
        long,
        env = "DICE_BENCH_MONITORING_CRDS",
        default_value = "../shared/third_party/prometheus-operator-crds"
    )]
    monitoring_crds: PathBuf,
    /// The example whose DiceService spec every DiceService gets, with the Secrets it defines;
    /// `none` for `spec: {}`.
    #[arg(
        long,
        env = "DICE_BENCH_EXAMPLE",
        default_value = "manifests/examples/full.yaml"
    )]
    example: String,
    /// How many DiceServices to create.
    #[arg(long, env = "DICE_BENCH_COUNT", default_value_t = 1000)]
    count: usize,
    /// Fresh runs (a new API server and operator each); three or more also check for stalls.
    #[arg(long, env = "DICE_BENCH_RUNS", default_value_t = 1)]
    runs: usize,
    /// How long to watch for writes once everything is Ready.
    #[arg(long, env = "DICE_BENCH_IDLE_SECONDS", default_value_t = 60)]
    idle_seconds: u64,
    /// Give up waiting for Ready (and, after a restart, for every DiceService to be
    /// reconciled again) after this many seconds.
    #[arg(long, env = "DICE_BENCH_TIMEOUT_SECONDS", default_value_t = 300)]
    timeout_seconds: u64,
    /// Instead of measuring convergence, create and delete `--count` DiceServices this many
    /// times and show that memory and every in-memory map return to their baseline.
    #[arg(long, env = "DICE_BENCH_SOAK_WAVES", default_value_t = 0)]
    soak_waves: usize,
    /// Before the operator starts, create this many objects of every child kind that no
    /// DiceService created (a shared cluster's other tenants).
    #[arg(long, env = "DICE_BENCH_FOREIGN_PER_KIND", default_value_t = 0)]
    foreign_per_kind: usize,
    /// A run slower than this many times the median is a stall, and fails the benchmark.
    #[arg(long, env = "DICE_BENCH_STALL_FACTOR", default_value_t = 3.0)]
    stall_factor: f64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.soak_waves > 0 {
        return match soak::soak(&args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let mut results = Vec::new();
    for _ in 0..args.runs {
        match run::once(&args).await {
            Ok(result) => results.push(result),
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    print!("{}", run::report(&args, &results));
    match run::stall(&results, args.stall_factor) {
        Some(stall) => {
            eprintln!("error: {stall}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}
