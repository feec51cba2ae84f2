//! dice-operator command line: `run` the controller, print the `crd`, or `render` offline.

use clap::{Parser, Subcommand};
use dice_operator::leader::{self, Elector, LeaseSettings};
use dice_operator::validate::Defaults;
use dice_operator::{
    DEFAULT_DASHBOARD_NAMESPACE, DEFAULT_RUNBOOK_BASE_URL, DEFAULT_WORKLOAD_IMAGE, render,
};
use kube::CustomResourceExt;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "dice-operator",
    version,
    about = "Turns a DiceService into a fully observed dice-server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controller against the cluster in KUBECONFIG (or the in-cluster service account).
    Run(RunArgs),
    /// Print the DiceService CustomResourceDefinition as YAML.
    Crd,
    /// Print every object a DiceService manifest produces, with no cluster (GitOps review, CI diffs).
    Render {
        /// DiceService manifest (YAML; several documents allowed); `-` reads standard input.
        #[arg(short = 'f', long = "filename", env = "DICE_RENDER_FILE")]
        file: PathBuf,
        /// Write one file per object into this directory instead of printing to stdout.
        #[arg(short = 'o', long = "output-dir", env = "DICE_RENDER_OUTPUT_DIR")]
        output_dir: Option<PathBuf>,
        #[command(flatten)]
        alertmanager: AlertmanagerArgs,
        #[command(flatten)]
        defaults: DefaultsArgs,
    },
}

/// The plain alertmanager.yml `render` can also write, and where its secrets come from.
/// Without a value here, Secrets in the rendered manifest are used.
#[derive(Debug, clap::Args)]
struct AlertmanagerArgs {
    /// Print an equivalent plain alertmanager.yml (with -o: also write DIR/alertmanager.yml),
    /// for an Alertmanager not run by the Prometheus Operator.
    #[arg(long, env = "DICE_RENDER_ALERTMANAGER_CONFIG")]
    alertmanager_config: bool,
    /// Slack incoming-webhook URL.
    #[arg(
        long,
        env = "DICE_SLACK_API_URL",
        conflicts_with = "slack_api_url_file"
    )]
    slack_api_url: Option<String>,
    /// File holding the Slack incoming-webhook URL.
    #[arg(long, env = "DICE_SLACK_API_URL_FILE")]
    slack_api_url_file: Option<PathBuf>,
    /// PagerDuty Events API v2 routing key.
    #[arg(
        long,
        env = "DICE_PAGERDUTY_ROUTING_KEY",
        conflicts_with = "pagerduty_routing_key_file"
    )]
    pagerduty_routing_key: Option<String>,
    /// File holding the PagerDuty routing key.
    #[arg(long, env = "DICE_PAGERDUTY_ROUTING_KEY_FILE")]
    pagerduty_routing_key_file: Option<PathBuf>,
    /// PagerDuty Events API URL (default: Alertmanager's, PagerDuty's own endpoint).
    #[arg(long, env = "DICE_PAGERDUTY_URL")]
    pagerduty_url: Option<String>,
}

impl AlertmanagerArgs {
    fn secrets(&self) -> dice_operator::Result<render::SecretValues> {
        let from = |value: &Option<String>, file: &Option<PathBuf>| match (value, file) {
            (Some(value), _) => Ok(Some(value.clone())),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|text| Some(text.trim().to_owned()))
                .map_err(|source| dice_operator::Error::Read {
                    path: path.display().to_string(),
                    source,
                }),
            (None, None) => Ok(None),
        };
        Ok(render::SecretValues {
            slack_api_url: from(&self.slack_api_url, &self.slack_api_url_file)?,
            pagerduty_routing_key: from(
                &self.pagerduty_routing_key,
                &self.pagerduty_routing_key_file,
            )?,
            pagerduty_url: self.pagerduty_url.clone(),
            from_manifest: Default::default(),
        })
    }
}

/// What fills in the fields a DiceService leaves out (shared by `run` and `render`).
#[derive(Debug, clap::Args)]
struct DefaultsArgs {
    /// Image for DiceServices that name none.
    #[arg(long, env = "DICE_WORKLOAD_IMAGE", default_value = DEFAULT_WORKLOAD_IMAGE)]
    workload_image: String,
    /// Labels on every ServiceMonitor, PrometheusRule and Probe, as `key=value,…`.
    /// kube-prometheus-stack selects them by `release=<its Helm release name>`.
    #[arg(long, env = "DICE_DEFAULT_MONITORING_LABELS", value_delimiter = ',', value_parser = parse_label)]
    default_monitoring_labels: Vec<(String, String)>,
    /// Base URL of the alert runbooks; each alert links to `<base>#<alertname>`.
    #[arg(long, env = "DICE_RUNBOOK_BASE_URL", default_value = DEFAULT_RUNBOOK_BASE_URL)]
    runbook_base_url: String,
    /// Namespaces besides its own that a DiceService may put its dashboard in, as `a,b`
    /// (Grafana's sidecar namespace); an empty value allows only its own.
    #[arg(long, env = "DICE_DASHBOARD_NAMESPACES", value_delimiter = ',', default_value = DEFAULT_DASHBOARD_NAMESPACE)]
    dashboard_namespaces: Vec<String>,
}

impl DefaultsArgs {
    fn defaults(&self, watch_namespace: Option<String>) -> Defaults {
        Defaults {
            workload_image: self.workload_image.clone(),
            monitoring_labels: self.default_monitoring_labels.iter().cloned().collect(),
            runbook_base_url: self.runbook_base_url.clone(),
            watch_namespace,
            dashboard_namespaces: self
                .dashboard_namespaces
                .iter()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .collect(),
        }
    }
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not key=value"))?;
    if key.is_empty() {
        return Err(format!("{text:?} has an empty key"));
    }
    Ok((key.trim().to_owned(), value.trim().to_owned()))
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    defaults: DefaultsArgs,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "DICE_OPERATOR_NAMESPACE")]
    namespace: Option<String>,
    /// Address of the admin server (`/metrics`, `/livez`, `/readyz`).
    #[arg(
        long,
        env = "DICE_OPERATOR_ADMIN_LISTEN",
        default_value = "0.0.0.0:8081"
    )]
    admin_listen: std::net::SocketAddr,
    /// Reconciles in flight at once (bounds memory and API bursts).
    #[arg(long, env = "DICE_OPERATOR_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Read the Secrets DiceServices refer to (get), to report a missing Secret or key in their
    /// status. `false` needs no Secret permission; a missing Secret then shows as pods that
    /// cannot start.
    #[arg(long, env = "DICE_CHECK_SECRETS", default_value_t = true, action = clap::ArgAction::Set)]
    check_secrets: bool,
    #[command(flatten)]
    election: ElectionArgs,
}

/// Leader election, so several replicas can run and only one reconciles.
#[derive(Debug, clap::Args)]
struct ElectionArgs {
    /// Campaign for a coordination.k8s.io Lease before reconciling (`false`: reconcile at once;
    /// only safe with one replica).
    #[arg(long, env = "DICE_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Namespace of the Lease (default: the watched namespace, else the client's namespace,
    /// which in a pod is its own).
    #[arg(long, env = "DICE_LEADER_ELECTION_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(long, env = "DICE_LEADER_ELECTION_ID", default_value = "dice-operator")]
    leader_election_id: String,
    /// This replica's name in the Lease (default: `$HOSTNAME`, the pod name, plus a random suffix).
    #[arg(long, env = "DICE_LEADER_ELECTION_IDENTITY")]
    leader_election_identity: Option<String>,
    /// A lease not renewed for this long may be taken over.
    #[arg(long, env = "DICE_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    lease_duration: std::time::Duration,
    /// The leader stops reconciling when it could not renew for this long (< lease duration).
    #[arg(long, env = "DICE_RENEW_DEADLINE", default_value = "10s", value_parser = humantime::parse_duration)]
    renew_deadline: std::time::Duration,
    /// How often the leader renews and a candidate tries (< renew deadline).
    #[arg(long, env = "DICE_RETRY_PERIOD", default_value = "2s", value_parser = humantime::parse_duration)]
    retry_period: std::time::Duration,
}

impl ElectionArgs {
    fn lease(
        &self,
        client: &kube::Client,
        watch_namespace: Option<&str>,
    ) -> dice_operator::Result<LeaseSettings> {
        if !(self.retry_period < self.renew_deadline && self.renew_deadline < self.lease_duration) {
            return Err(dice_operator::Error::Startup(format!(
                "leader election needs --retry-period ({:?}) < --renew-deadline ({:?}) < --lease-duration ({:?})",
                self.retry_period, self.renew_deadline, self.lease_duration
            )));
        }
        let identity = self.leader_election_identity.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "dice-operator".into());
            // Unique per process start, like client-go's hostname_uuid.
            let started = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            format!("{host}_{:x}{started:08x}", std::process::id())
        });
        Ok(LeaseSettings {
            namespace: self
                .leader_election_namespace
                .clone()
                .or_else(|| watch_namespace.map(str::to_owned))
                .unwrap_or_else(|| client.default_namespace().to_owned()),
            name: self.leader_election_id.clone(),
            identity,
            lease_duration: self.lease_duration,
            renew_deadline: self.renew_deadline,
            retry_period: self.retry_period,
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Crd => dice_operator::yaml::to_string(&dice_operator::crd::DiceService::crd())
            .map(|yaml| print!("{yaml}"))
            .map_err(|e| dice_operator::Error::Serialize(e.to_string())),
        Command::Render {
            file,
            output_dir,
            alertmanager,
            defaults,
        } => alertmanager.secrets().and_then(|secrets| {
            let options = render::Options {
                output_dir,
                alertmanager_config: alertmanager.alertmanager_config,
                secrets,
            };
            render::run(&file, &options, &defaults.defaults(None))
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(dice_operator::Error::Startup(message)) => {
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

fn run(args: RunArgs) -> dice_operator::Result<()> {
    use dice_operator::Error::Startup;
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
        let defaults = args.defaults.defaults(args.namespace.clone());
        // In a pod, HOSTNAME is the pod name: it names this replica in the Events it writes.
        let instance = std::env::var("HOSTNAME").ok();
        let ctx = dice_operator::controller::Context::new(
            client.clone(),
            defaults,
            metrics.clone(),
            instance,
        );
        tracing::info!(admin = %admin_address, namespace = args.namespace.as_deref().unwrap_or("(all)"), concurrency = args.concurrency, "dice-operator started");
        ready.store(true, std::sync::atomic::Ordering::Release);
        let stop = ready.clone();
        let shutdown = async move {
            termination_signal().await;
            stop.store(false, std::sync::atomic::Ordering::Release);
            tracing::info!("shutting down");
        };
        let settings = dice_operator::controller::Settings {
            namespace: args.namespace.clone(),
            concurrency: args.concurrency,
            check_secrets: args.check_secrets,
        };
        if !args.election.leader_election {
            metrics.leader.set(1);
            dice_operator::controller::run(ctx, &settings, shutdown).await;
            return Ok(());
        }
        let lease = args.election.lease(&client, args.namespace.as_deref())?;
        let elector = std::sync::Arc::new(Elector::new(client, lease));
        let leading = move |leading: bool| {
            metrics.leader.set(i64::from(leading));
        };
        let ended = leader::run_elected(elector, shutdown, leading, |stop| async move {
            dice_operator::controller::run(ctx, &settings, stop).await;
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
