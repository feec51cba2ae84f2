//! `dice-stack` (`make demo`): a DiceService's whole alert path on 127.0.0.1 — dice-server,
//! Prometheus, Alertmanager, blackbox exporter and a Slack/PagerDuty capture receiver — with
//! traffic, until Ctrl-C.

use clap::Parser;
use dice_stack::stack::PreferredPorts;
use dice_stack::tools::{OwnBinaries, Tools};
use dice_stack::{Stack, StackOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "dice-stack",
    version,
    about = "Runs a DiceService's alert path locally: dice-server, Prometheus, Alertmanager, \
             blackbox exporter and a Slack/PagerDuty capture receiver"
)]
struct Args {
    /// The manifest with the DiceService (and its Secrets).
    #[arg(
        long,
        env = "DICE_STACK_MANIFEST",
        default_value = "manifests/examples/full.yaml"
    )]
    manifest: PathBuf,
    /// Partial DiceServices merged into the DiceService, in order (repeatable).
    #[arg(
        long = "overlay",
        env = "DICE_STACK_OVERLAYS",
        value_delimiter = ',',
        default_value = "stack/local/fast.yaml,stack/local/demo.yaml"
    )]
    overlays: Vec<PathBuf>,
    /// Manifests appended to it, e.g. Secrets with local values (repeatable).
    #[arg(
        long = "extra",
        env = "DICE_STACK_EXTRA",
        value_delimiter = ',',
        default_value = "stack/local/secrets.yaml"
    )]
    extra_manifests: Vec<PathBuf>,
    /// Configuration, data, logs and captured notifications (default: a new temporary directory,
    /// kept after exit).
    #[arg(long, env = "DICE_STACK_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Where dice-server, dice-traffic and dice-operator are (default: next to this program).
    #[arg(long, env = "DICE_STACK_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// Traffic mix for dice-traffic; `none` starts no traffic.
    #[arg(long, env = "DICE_STACK_MIX", default_value = "fair=70,risky=30")]
    mix: String,
    /// Requests per second dice-traffic sends.
    #[arg(long, env = "DICE_STACK_RATE", default_value_t = 20.0)]
    rate: f64,
    /// Prometheus' rule evaluation interval.
    #[arg(long, env = "DICE_STACK_EVALUATION_INTERVAL", default_value = "1s")]
    evaluation_interval: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("dice-stack: cannot start the Tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dice-stack: {} error: {error}", error.category());
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> dice_stack::Result<()> {
    let tools =
        Tools::find().map_err(|missing| dice_stack::Error::ToolMissing(missing.join(", ")))?;
    let bin_dir = match args.bin_dir {
        Some(dir) => dir,
        None => OwnBinaries::build_dir()?,
    };
    let work_dir = match args.work_dir {
        Some(dir) => dir,
        None => tempfile::Builder::new()
            .prefix("dice-stack-")
            .tempdir()
            .map_err(|e| dice_stack::Error::Process(format!("no temporary directory: {e}")))?
            .keep(),
    };
    let options = StackOptions {
        manifest: args.manifest,
        overlays: args.overlays,
        extra_manifests: args.extra_manifests,
        work_dir,
        binaries: OwnBinaries::in_dir(&bin_dir)?,
        tools,
        evaluation_interval: args.evaluation_interval,
        ports: PreferredPorts {
            dice_server: Some(8080),
            prometheus: Some(9090),
            alertmanager: Some(9093),
            blackbox: Some(9115),
            capture: Some(9099),
        },
        echo: true,
        service_env: Vec::new(),
    };
    eprintln!(
        "dice-stack: rendering {} and starting the stack…",
        options.manifest.display()
    );
    let mut stack = Stack::start(options).await?;
    print_guide(&stack);
    let traffic = args.mix != "none";
    if traffic {
        let rate = args.rate.to_string();
        let flags = [
            "--mix",
            &args.mix,
            "--rate",
            &rate,
            "--users",
            "4",
            "--duration",
            "24h",
            "--output",
            "json",
            "--progress-interval",
            "1m",
        ];
        stack.start_traffic("traffic", &flags)?;
    }
    wait_for_stop().await;
    eprintln!("\ndice-stack: stopping…");
    if traffic {
        stack.interrupt("traffic")?;
        // The timeline prints the summary; only a missing one needs saying.
        if let Err(error) = stack
            .traffic_summary("traffic", Duration::from_secs(10))
            .await
        {
            eprintln!("traffic summary unavailable: {error}");
        }
    }
    let work_dir = stack.work_dir.clone();
    stack.stop();
    eprintln!(
        "dice-stack: stopped; configuration, logs and notifications stay in {}",
        work_dir.display()
    );
    Ok(())
}

fn print_guide(stack: &Stack) {
    let work = stack.work_dir.display();
    eprintln!("\nEverything runs on 127.0.0.1 (Ctrl-C stops it all):");
    for service in &stack.services {
        eprintln!(
            "  dice-server {}/{:<12} http://{}  (try /roll?die=risky, /metrics)",
            service.namespace, service.name, service.address
        );
    }
    eprintln!(
        "  Prometheus                  {}  (Alerts, Status → Targets, Graph)",
        stack.prometheus_url
    );
    eprintln!(
        "  Alertmanager                {}  (grouped alerts, silences)",
        stack.alertmanager_url
    );
    eprintln!(
        "  blackbox exporter           {}  (probe_success of /health)",
        stack.blackbox_url
    );
    eprintln!("  Slack/PagerDuty captured in {work}/notifications.jsonl");
    eprintln!(
        "  configuration               {work}/prometheus.yml, rules/, rendered/alertmanager.yml"
    );
    eprintln!("  logs                        {work}/logs/");
    eprintln!(
        "\nWhat happens next: traffic starts, about 15% of rolls fail, HighErrorRate and the"
    );
    eprintln!(
        "availability burn-rate alert fire within a minute, and Alertmanager pages PagerDuty"
    );
    eprintln!("and posts to Slack; each notification appears below as it arrives.\n");
}

async fn wait_for_stop() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
}
