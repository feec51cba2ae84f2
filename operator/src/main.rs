//! dice-operator's entry point: parse the command line ([`dice_operator::cli`]), then `run` the
//! controller with its admin server and leader election, print the `crd`, or `render` offline.

use clap::Parser;
use dice_operator::cli::{Cli, CliError, Command, RunArgs};
use dice_operator::leader::{self, Elector};
use dice_operator::render::{self, RenderError};
use kube::CustomResourceExt;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Crd => dice_operator::yaml::to_string(&dice_operator::crd::DiceService::crd())
            .map(|yaml| print!("{yaml}"))
            .map_err(|e| CliError::Render(RenderError::Serialize(e.to_string()))),
        Command::Render {
            file,
            output_dir,
            alertmanager,
            defaults,
        } => alertmanager
            .secrets()
            .and_then(|secrets| {
                let options = render::Options {
                    output_dir,
                    alertmanager_config: alertmanager.alertmanager_config,
                    secrets,
                };
                render::run(&file, &options, &defaults.defaults(Vec::new()))
            })
            .map_err(CliError::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Startup(message)) => {
            tracing::error!(error = %message, "dice-operator cannot start");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> Result<(), CliError> {
    use CliError::Startup;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .init();
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| Startup(format!("tokio runtime: {e}")))?;
    runtime.block_on(async move {
        let client = kube::Client::try_default()
            .await
            .map_err(|e| Startup(format!("no Kubernetes client configuration: {e}")))?;
        let metrics = std::sync::Arc::new(dice_operator::metrics::OperatorMetrics::default());
        let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let listener = tokio::net::TcpListener::bind(args.admin_listen)
            .await
            .map_err(|e| Startup(format!("cannot listen on {}: {e}", args.admin_listen)))?;
        let admin_address = listener.local_addr().map_err(|e| Startup(e.to_string()))?;
        let admin = dice_operator::admin::router(dice_operator::admin::AdminState {
            metrics: metrics.clone(),
            ready: ready.clone(),
        });
        tokio::spawn(async move { axum::serve(listener, admin).await });
        let namespaces = args.watched_namespaces();
        let defaults = args.defaults.defaults(namespaces.clone());
        // In a pod, HOSTNAME is the pod name: it names this replica in the Events it writes.
        let instance = std::env::var("HOSTNAME").ok();
        let context_client = client.clone();
        let context_metrics = metrics.clone();
        let new_context = move || {
            dice_operator::controller::Context::new(
                context_client.clone(),
                defaults.clone(),
                context_metrics.clone(),
                instance.clone(),
            )
        };
        let watching = if namespaces.is_empty() {
            "(all)".to_owned()
        } else {
            namespaces.join(",")
        };
        tracing::info!(admin = %admin_address, namespaces = %watching, concurrency = args.concurrency, "dice-operator started");
        ready.store(true, std::sync::atomic::Ordering::Release);
        let stop = ready.clone();
        let shutdown = async move {
            termination_signal().await;
            stop.store(false, std::sync::atomic::Ordering::Release);
            tracing::info!("shutting down");
        };
        let settings = dice_operator::controller::Settings {
            namespace: None,
            concurrency: args.concurrency,
            check_secrets: args.check_secrets,
            list_strategy: args.list_strategy,
        };
        if !args.election.leader_election {
            metrics.leader.set(1);
            dice_operator::controller::run_scoped(new_context, &namespaces, &settings, shutdown)
                .await;
            return Ok(());
        }
        // One watched namespace holds the Lease; with several, the operator's own namespace.
        let lease_namespace = match namespaces.as_slice() {
            [only] => Some(only.as_str()),
            _ => None,
        };
        let lease = args.election.lease(&client, lease_namespace)?;
        let elector = std::sync::Arc::new(Elector::new(client, lease));
        let leading = move |leading: bool| {
            metrics.leader.set(i64::from(leading));
        };
        let ended = leader::run_elected(elector, shutdown, leading, |stop| async move {
            dice_operator::controller::run_scoped(new_context, &namespaces, &settings, stop).await;
        })
        .await;
        match ended {
            leader::Ended::Shutdown => Ok(()),
            leader::Ended::Lost(lost) => Err(Startup(format!(
                "lost leadership ({lost:?}); exiting so a fresh replica campaigns again"
            ))),
        }
    })
}

/// SIGTERM (what Kubernetes sends) or SIGINT (Ctrl-C).
async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
