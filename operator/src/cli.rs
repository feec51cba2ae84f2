//! The command line: `run`, `crd` and `render`, their flags (each with an `env =`), and what
//! starting the operator can fail with.

use crate::controller::lists::ListStrategy;
use crate::leader::LeaseSettings;
use crate::render::{self, RenderError};
use crate::validate::{Defaults, PodPolicy, ProbeAllow};
use crate::{
    DEFAULT_DASHBOARD_NAMESPACE, DEFAULT_MONITORING_NAMESPACE, DEFAULT_POD_ANNOTATION_PREFIXES,
    DEFAULT_PROBE_MODULE, DEFAULT_PROBER, DEFAULT_RESERVED_ALERT_LABELS, DEFAULT_RUNBOOK_BASE_URL,
    DEFAULT_WORKLOAD_IMAGE,
};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// What the command line can fail with: `render`'s errors, or the operator cannot start.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{0}")]
    Startup(String),
}

#[derive(Debug, Parser)]
#[command(
    name = "dice-operator",
    version,
    about = "Turns a DiceService into a fully observed dice-server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
pub struct AlertmanagerArgs {
    /// Print an equivalent plain alertmanager.yml (with -o: also write DIR/alertmanager.yml),
    /// for an Alertmanager not run by the Prometheus Operator.
    #[arg(long, env = "DICE_RENDER_ALERTMANAGER_CONFIG")]
    pub alertmanager_config: bool,
    /// Slack incoming-webhook URL.
    #[arg(
        long,
        env = "DICE_SLACK_API_URL",
        conflicts_with = "slack_api_url_file"
    )]
    pub slack_api_url: Option<String>,
    /// File holding the Slack incoming-webhook URL.
    #[arg(long, env = "DICE_SLACK_API_URL_FILE")]
    pub slack_api_url_file: Option<PathBuf>,
    /// PagerDuty Events API v2 routing key.
    #[arg(
        long,
        env = "DICE_PAGERDUTY_ROUTING_KEY",
        conflicts_with = "pagerduty_routing_key_file"
    )]
    pub pagerduty_routing_key: Option<String>,
    /// File holding the PagerDuty routing key.
    #[arg(long, env = "DICE_PAGERDUTY_ROUTING_KEY_FILE")]
    pub pagerduty_routing_key_file: Option<PathBuf>,
    /// PagerDuty Events API URL (default: Alertmanager's, PagerDuty's own endpoint).
    #[arg(long, env = "DICE_PAGERDUTY_URL")]
    pub pagerduty_url: Option<String>,
}

impl AlertmanagerArgs {
    pub fn secrets(&self) -> Result<render::SecretValues, RenderError> {
        let from = |value: &Option<String>, file: &Option<PathBuf>| match (value, file) {
            (Some(value), _) => Ok(Some(value.clone())),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|text| Some(text.trim().to_owned()))
                .map_err(|source| RenderError::Read {
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
pub struct DefaultsArgs {
    /// Image for DiceServices that name none.
    #[arg(long, env = "DICE_WORKLOAD_IMAGE", default_value = DEFAULT_WORKLOAD_IMAGE)]
    pub workload_image: String,
    /// Labels on every ServiceMonitor, PrometheusRule and Probe, as `key=value,…`.
    /// kube-prometheus-stack selects them by `release=<its Helm release name>`.
    #[arg(long, env = "DICE_DEFAULT_MONITORING_LABELS", value_delimiter = ',', value_parser = parse_label)]
    pub default_monitoring_labels: Vec<(String, String)>,
    /// Base URL of the alert runbooks; each alert links to `<base>#<alertname>`.
    #[arg(long, env = "DICE_RUNBOOK_BASE_URL", default_value = DEFAULT_RUNBOOK_BASE_URL)]
    pub runbook_base_url: String,
    /// Namespaces besides its own that a DiceService may put its dashboard in, as `a,b`
    /// (Grafana's sidecar namespace); an empty value allows only its own.
    #[arg(long, env = "DICE_DASHBOARD_NAMESPACES", value_delimiter = ',', default_value = DEFAULT_DASHBOARD_NAMESPACE)]
    pub dashboard_namespaces: Vec<String>,
    /// Hold scrape, probe, rule-group and Alertmanager intervals to floors fit for a shared
    /// Prometheus (5s, 5s, 30s, groupInterval 10s, repeatInterval 5m); `false` allows down to
    /// the 1s the CRD enforces, for a single-tenant stack on one machine.
    #[arg(long, env = "DICE_ENFORCE_INTERVAL_FLOORS", default_value_t = true, action = clap::ArgAction::Set)]
    pub enforce_interval_floors: bool,
    /// Blackbox exporters (`host:port`) a DiceService's probe may go through, as `a,b`; `*`
    /// allows any.
    #[arg(long, env = "DICE_ALLOWED_PROBERS", value_delimiter = ',', default_value = DEFAULT_PROBER)]
    pub allowed_probers: Vec<String>,
    /// Blackbox modules a DiceService's probe may use, as `a,b`; `*` allows any. A module that
    /// carries credentials must not be listed for every tenant.
    #[arg(long, env = "DICE_ALLOWED_PROBE_MODULES", value_delimiter = ',', default_value = DEFAULT_PROBE_MODULE)]
    pub allowed_probe_modules: Vec<String>,
    /// The namespace of the Prometheus and blackbox exporter pods; a DiceService's
    /// NetworkPolicy admits their pods from there by default. Empty: from any namespace, where
    /// anyone who may label a pod `app.kubernetes.io/name: prometheus` gets in.
    #[arg(long, env = "DICE_MONITORING_NAMESPACE", default_value = DEFAULT_MONITORING_NAMESPACE)]
    pub monitoring_namespace: String,
    /// Alert labels a DiceService may not set in `monitoring.alertLabels`, as `a,b`: the
    /// external labels of your Prometheus (an alert that sets one keeps its own value) and the
    /// keys your Alertmanager routes on (`team`, `receiver`, …).
    #[arg(long, env = "DICE_RESERVED_ALERT_LABELS", value_delimiter = ',', default_value = DEFAULT_RESERVED_ALERT_LABELS)]
    pub reserved_alert_labels: Vec<String>,
    /// Prefixes of the pod annotation keys a DiceService may set in `podAnnotations`, as `a,b`
    /// (`prometheus.io/`); `*` allows any key, an empty value refuses the field. Annotations
    /// reach other components: Istio's `sidecar.istio.io/*`, the cluster autoscaler's
    /// `safe-to-evict`. What a restricted Pod Security namespace refuses is refused regardless.
    #[arg(long, env = "DICE_ALLOWED_POD_ANNOTATION_PREFIXES", value_delimiter = ',', default_value = DEFAULT_POD_ANNOTATION_PREFIXES)]
    pub allowed_pod_annotation_prefixes: Vec<String>,
    /// PriorityClasses a DiceService may name in `priorityClassName`, as `a,b`; `*` allows any
    /// (`system-node-critical` included: it preempts other tenants' pods); empty, the default,
    /// refuses the field.
    #[arg(
        long,
        env = "DICE_ALLOWED_PRIORITY_CLASSES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub allowed_priority_classes: Vec<String>,
}

impl DefaultsArgs {
    pub fn defaults(&self, watch_namespaces: Vec<String>) -> Defaults {
        Defaults {
            workload_image: self.workload_image.clone(),
            monitoring_labels: self.default_monitoring_labels.iter().cloned().collect(),
            runbook_base_url: self.runbook_base_url.clone(),
            watch_namespaces,
            dashboard_namespaces: self
                .dashboard_namespaces
                .iter()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .collect(),
            enforce_interval_floors: self.enforce_interval_floors,
            probe_allow: ProbeAllow {
                probers: trimmed(&self.allowed_probers),
                modules: trimmed(&self.allowed_probe_modules),
            },
            monitoring_namespace: Some(self.monitoring_namespace.trim().to_owned())
                .filter(|n| !n.is_empty()),
            reserved_alert_labels: self
                .reserved_alert_labels
                .iter()
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect(),
            pod_policy: PodPolicy {
                annotation_prefixes: trimmed(&self.allowed_pod_annotation_prefixes),
                priority_classes: trimmed(&self.allowed_priority_classes),
            },
        }
    }
}

/// The non-empty entries of a comma-separated flag, trimmed.
fn trimmed(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
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
pub struct RunArgs {
    #[command(flatten)]
    pub defaults: DefaultsArgs,
    /// Watch only these namespaces, as `a,b` (default: all namespaces). Each gets watches of
    /// its own, so the operator needs rights only there: a Role in each, nothing cluster-wide
    /// but reading the CRDs.
    #[arg(
        long = "namespace",
        env = "DICE_OPERATOR_NAMESPACE",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// Address of the admin server (`/metrics`, `/livez`, `/readyz`).
    #[arg(
        long,
        env = "DICE_OPERATOR_ADMIN_LISTEN",
        default_value = "0.0.0.0:8081"
    )]
    pub admin_listen: std::net::SocketAddr,
    /// Reconciles in flight at once (bounds memory and API bursts).
    #[arg(long, env = "DICE_OPERATOR_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Read the Secrets DiceServices refer to (get), to report a missing Secret or key in their
    /// status. `false` needs no Secret permission; a missing Secret then shows as pods that
    /// cannot start.
    #[arg(long, env = "DICE_CHECK_SECRETS", default_value_t = true, action = clap::ArgAction::Set)]
    pub check_secrets: bool,
    /// How the watches list what exists when they start: `auto` uses streaming lists (one
    /// request per watch, the WatchList feature) where the API server serves them and paged
    /// lists elsewhere; `streaming` or `paged` forces one.
    #[arg(long, env = "DICE_LIST_STRATEGY", value_enum, default_value_t = ListStrategy::Auto)]
    pub list_strategy: ListStrategy,
    #[command(flatten)]
    pub election: ElectionArgs,
}

/// Leader election, so several replicas can run and only one reconciles.
#[derive(Debug, clap::Args)]
pub struct ElectionArgs {
    /// Campaign for a coordination.k8s.io Lease before reconciling (`false`: reconcile at once;
    /// only safe with one replica).
    #[arg(long, env = "DICE_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Namespace of the Lease (default: the watched namespace, else the client's namespace,
    /// which in a pod is its own).
    #[arg(long, env = "DICE_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(long, env = "DICE_LEADER_ELECTION_ID", default_value = "dice-operator")]
    pub leader_election_id: String,
    /// This replica's name in the Lease (default: `$HOSTNAME`, the pod name, plus a random suffix).
    #[arg(long, env = "DICE_LEADER_ELECTION_IDENTITY")]
    pub leader_election_identity: Option<String>,
    /// A lease not renewed for this long may be taken over.
    #[arg(long, env = "DICE_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: std::time::Duration,
    /// The leader stops reconciling when it could not renew for this long (< lease duration).
    #[arg(long, env = "DICE_RENEW_DEADLINE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub renew_deadline: std::time::Duration,
    /// How often the leader renews and a candidate tries (< renew deadline).
    #[arg(long, env = "DICE_RETRY_PERIOD", default_value = "2s", value_parser = humantime::parse_duration)]
    pub retry_period: std::time::Duration,
}

impl RunArgs {
    /// `--namespace`, trimmed, without empty entries or repeats; empty means all namespaces.
    pub fn watched_namespaces(&self) -> Vec<String> {
        let mut namespaces = trimmed(&self.namespaces);
        namespaces.sort();
        namespaces.dedup();
        namespaces
    }
}

impl ElectionArgs {
    pub fn lease(
        &self,
        client: &kube::Client,
        watch_namespace: Option<&str>,
    ) -> Result<LeaseSettings, CliError> {
        if !(self.retry_period < self.renew_deadline && self.renew_deadline < self.lease_duration) {
            return Err(CliError::Startup(format!(
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
