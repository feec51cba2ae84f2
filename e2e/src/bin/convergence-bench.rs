//! Operator convergence benchmark: N DiceServices against the fake API server, the harness
//! playing kubelet. Reports time until all are Ready, the operator's peak RSS, its API requests
//! per DiceService and the writes made while idle, as a Markdown section.

use clap::Parser;
use dice_e2e::FakeApiServer;
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "convergence-bench",
    about = "How fast dice-operator converges N DiceServices"
)]
struct Args {
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
    /// How many DiceServices to create.
    #[arg(long, env = "DICE_BENCH_COUNT", default_value_t = 1000)]
    count: usize,
    /// How long to watch for writes once everything is Ready.
    #[arg(long, env = "DICE_BENCH_IDLE_SECONDS", default_value_t = 60)]
    idle_seconds: u64,
    /// Give up waiting for Ready after this many seconds.
    #[arg(long, env = "DICE_BENCH_TIMEOUT_SECONDS", default_value_t = 300)]
    timeout_seconds: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn ready_count(list: &[DynamicObject]) -> usize {
    list.iter()
        .filter(|o| {
            o.data["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .count()
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:").map(str::to_owned))
        })
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// User + system CPU seconds of a process so far (`/proc/<pid>/stat`, 100 ticks per second).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |n: usize| {
        fields
            .get(n)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0
}

async fn run(args: Args) -> Result<String, String> {
    let server = FakeApiServer::new();
    let served = server.serve_locally().await.map_err(|e| e.to_string())?;
    let client = server.client();
    let crd_text =
        std::fs::read_to_string(&args.crd).map_err(|e| format!("{}: {e}", args.crd.display()))?;
    let crd: CustomResourceDefinition =
        serde_yaml::from_str(&crd_text).map_err(|e| e.to_string())?;
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &crd)
        .await
        .map_err(|e| e.to_string())?;

    let mut operator = Command::new(&args.operator)
        .args([
            "run",
            "--admin-listen",
            "127.0.0.1:0",
            "--workload-image",
            "dice-server:bench",
        ])
        .env("KUBECONFIG", &served.kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.operator.display()))?;
    tokio::spawn(dice_e2e::kubelet::simulate(client.clone()));

    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("dice.dev", "v1alpha1", "DiceService"),
        "diceservices",
    );
    let services: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    let started = Instant::now();
    futures_util::stream::iter(0..args.count)
        .map(|n| {
            let services = services.clone();
            async move {
                let name = format!("dice-{n:05}");
                let body = json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService", "metadata": {"name": name}, "spec": {}});
                services.patch(&name, &PatchParams::apply("bench"), &Patch::Apply(&body)).await.map(|_| ())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .map_err(|e| e.to_string())?;
    let created_in = started.elapsed();
    let deadline = Duration::from_secs(args.timeout_seconds);
    loop {
        let list = services
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?;
        if ready_count(&list.items) == args.count {
            break;
        }
        if started.elapsed() > deadline {
            let _ = operator.kill();
            return Err(format!(
                "only {} of {} Ready after {deadline:?}",
                ready_count(&list.items),
                args.count
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let converged_in = started.elapsed();
    // Where the time went: the operator, or this process (fake API server, kubelet, polling).
    let operator_cpu = cpu_seconds(&operator.id().to_string());
    let harness_cpu = cpu_seconds("self");
    // Leader election's lease renewals (a read and a write every retry period) are left out.
    let operator_requests = || {
        server
            .requests()
            .iter()
            .filter(|r| r.remote && !r.uri.contains("/leases"))
            .count()
    };
    let requests = operator_requests();
    let writes_before = server.writes_except_leases();
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let idle_writes = server.writes_except_leases() - writes_before;
    let idle_requests = operator_requests() - requests;
    let peak = peak_rss_mib(operator.id());
    let _ = Command::new("kill")
        .args(["-TERM", &operator.id().to_string()])
        .status();
    let _ = operator.wait();

    let per_service = requests as f64 / args.count as f64;
    Ok(format!(
        "| {} | {:.1} | {:.1} | {operator_cpu:.1} | {harness_cpu:.1} | {peak:.1} | {per_service:.1} | {idle_writes} | {idle_requests} |\n",
        args.count,
        created_in.as_secs_f64(),
        converged_in.as_secs_f64(),
    ))
}
