//! DiceService → [`Validated`]: defaults resolved and the rules the schema cannot express checked.

mod alerts;
mod durations;
pub mod monitoring;
pub mod placement;
mod pod_policy;

pub use monitoring::Monitoring;
pub use placement::{NetworkAccess, Placement, Scaling};
pub use pod_policy::PodPolicy;

use crate::crd::{DiceService, ImagePullPolicy, OtlpProtocol};
use crate::{Error, Result};
use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

/// Kubernetes Service names are DNS-1035 labels: at most 63 characters.
const MAX_NAME_LENGTH: usize = 63;

/// The operator's own settings that fill in what a DiceService leaves out.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// Image for DiceServices that name none (`--workload-image`).
    pub workload_image: String,
    /// Labels on every ServiceMonitor, PrometheusRule and Probe (`--default-monitoring-labels`).
    pub monitoring_labels: BTreeMap<String, String>,
    /// Base URL of alert runbooks (`--runbook-base-url`).
    pub runbook_base_url: String,
    /// The namespaces the operator watches (`--namespace`); empty: all.
    pub watch_namespaces: Vec<String>,
    /// Namespaces besides a DiceService's own that its dashboard may be written to
    /// (`--dashboard-namespaces`): a tenant may not write into another tenant's namespace.
    pub dashboard_namespaces: Vec<String>,
    /// Hold intervals to the floors of `crd::floors` (`--enforce-interval-floors`); off, only
    /// to the 1 s the CRD enforces.
    pub enforce_interval_floors: bool,
    /// The blackbox probers and modules a DiceService may use.
    pub probe_allow: ProbeAllow,
    /// Where Prometheus and the blackbox exporter run (`--monitoring-namespace`): the default
    /// NetworkPolicy peers are pinned to it; `None` admits their pods from any namespace.
    pub monitoring_namespace: Option<String>,
    /// Alert labels the admin routes on (`--reserved-alert-labels`): a DiceService setting one
    /// could page another team or pose as another cluster.
    pub reserved_alert_labels: Vec<String>,
    /// The pod annotations and PriorityClasses a DiceService may use.
    pub pod_policy: PodPolicy,
}

/// Blackbox probers (`host:port`) and modules a DiceService may name (`--allowed-probers`,
/// `--allowed-probe-modules`); `*` allows any.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeAllow {
    pub probers: Vec<String>,
    pub modules: Vec<String>,
}

impl Default for ProbeAllow {
    /// The CRD's defaults only.
    fn default() -> Self {
        Self {
            probers: vec![crate::DEFAULT_PROBER.to_owned()],
            modules: vec![crate::DEFAULT_PROBE_MODULE.to_owned()],
        }
    }
}

impl Defaults {
    /// Defaults with this workload image and nothing else set.
    pub fn with_image(workload_image: &str) -> Self {
        Self {
            workload_image: workload_image.to_owned(),
            monitoring_labels: BTreeMap::new(),
            runbook_base_url: crate::DEFAULT_RUNBOOK_BASE_URL.to_owned(),
            watch_namespaces: Vec::new(),
            dashboard_namespaces: vec![crate::DEFAULT_DASHBOARD_NAMESPACE.to_owned()],
            enforce_interval_floors: true,
            probe_allow: ProbeAllow::default(),
            monitoring_namespace: Some(crate::DEFAULT_MONITORING_NAMESPACE.to_owned()),
            reserved_alert_labels: crate::DEFAULT_RESERVED_ALERT_LABELS
                .split(',')
                .map(str::to_owned)
                .collect(),
            pod_policy: PodPolicy::default(),
        }
    }
}

/// Everything the builders need, with every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    pub name: String,
    pub namespace: String,
    pub uid: Option<String>,
    pub generation: Option<i64>,
    pub scaling: Scaling,
    pub placement: Placement,
    /// `None` without a NetworkPolicy.
    pub network_access: Option<NetworkAccess>,
    pub image: String,
    pub image_pull_policy: Option<ImagePullPolicy>,
    pub resources: ResourceRequirements,
    pub node_selector: Option<BTreeMap<String, String>>,
    pub tolerations: Option<Vec<Toleration>>,
    pub max_delay: String,
    pub risky_error_rate: f64,
    pub sample_interval: String,
    pub telemetry: Option<Telemetry>,
    pub gpu: bool,
    pub monitoring: Monitoring,
    /// `None` when history is off.
    pub history: Option<HistoryPlan>,
}

/// Where and how dice-server keeps its metrics history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPlan {
    pub retention: String,
    pub persist_interval: String,
    pub store: HistoryStore,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HistoryStore {
    /// SQLite on an emptyDir: lost with the pod.
    EmptyDir,
    /// SQLite on the claim `<name>-data`.
    Claim {
        size: String,
        storage_class_name: Option<String>,
    },
    /// PostgreSQL, URL from this Secret key.
    Postgres(crate::crd::SecretKeyRef),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Telemetry {
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    pub sample_ratio: Option<f64>,
    pub service_name: String,
}

/// Checks `service` and resolves its defaults from the spec, then from `defaults`.
pub fn validate(service: &DiceService, defaults: &Defaults) -> Result<Validated> {
    let meta = &service.metadata;
    let name = meta
        .name
        .clone()
        .ok_or_else(|| Error::InvalidSpec("metadata.name is missing".into()))?;
    if name.len() > MAX_NAME_LENGTH {
        return Err(Error::InvalidSpec(format!(
            "metadata.name {name:?} is {} characters; the Service it creates allows at most {MAX_NAME_LENGTH}",
            name.len()
        )));
    }
    // A custom resource's name may hold dots or start with a digit; the Service's may not, and
    // a dot would make the dashboard's data key ambiguous.
    if crd_admission::names::dns1035_label_problem(&name).is_some() {
        return Err(Error::InvalidSpec(format!(
            "metadata.name {name:?} cannot name the Service it creates: use lowercase letters, \
             digits and '-', starting with a letter (no dots)"
        )));
    }
    if name == "default" {
        // The ServiceAccount has the DiceService's name; `default` is the one every pod of the
        // namespace runs as unless it names another.
        return Err(Error::InvalidSpec(
            "metadata.name \"default\" would take over the namespace's default ServiceAccount; \
             choose another name"
                .into(),
        ));
    }
    let namespace = meta.namespace.clone().unwrap_or_else(|| "default".into());
    let spec = &service.spec;
    durations::check(spec, defaults.enforce_interval_floors)?;
    let telemetry = match &spec.telemetry {
        Some(t) => t.otlp_endpoint.clone().map(|endpoint| Telemetry {
            endpoint,
            protocol: t.protocol,
            sample_ratio: t.traces_sample_ratio,
            service_name: t.service_name.clone().unwrap_or_else(|| name.clone()),
        }),
        None => None,
    };
    let monitoring = monitoring::validate(
        &spec.monitoring,
        spec.alerting.as_ref(),
        &namespace,
        defaults,
    )?;
    let scaling = placement::scaling(spec)?;
    pod_policy::check(spec, &defaults.pod_policy)?;
    Ok(Validated {
        uid: meta.uid.clone(),
        generation: meta.generation,
        placement: placement::placement(spec)?,
        network_access: placement::network_access(spec, defaults.monitoring_namespace.as_deref()),
        history: history(spec.history.as_ref(), scaling.max_replicas())?,
        scaling,
        image: spec
            .image
            .clone()
            .unwrap_or_else(|| defaults.workload_image.clone()),
        image_pull_policy: spec.image_pull_policy,
        resources: spec.resources.clone().unwrap_or_else(default_resources),
        node_selector: spec.node_selector.clone(),
        tolerations: spec.tolerations.clone(),
        max_delay: spec.dice.max_delay.clone(),
        risky_error_rate: spec.dice.risky_error_rate,
        sample_interval: spec.sample_interval.clone(),
        telemetry,
        gpu: spec.gpu.as_ref().is_some_and(|g| g.enabled),
        monitoring,
        name,
        namespace,
    })
}

/// `replicas`: the most pods that can run at once.
fn history(spec: Option<&crate::crd::HistorySpec>, replicas: i32) -> Result<Option<HistoryPlan>> {
    let Some(spec) = spec else {
        return Ok(Some(HistoryPlan {
            retention: "7d".into(),
            persist_interval: "30s".into(),
            store: HistoryStore::EmptyDir,
        }));
    };
    if !spec.enabled {
        return Ok(None);
    }
    let store = match (&spec.postgres, &spec.storage) {
        (Some(postgres), _) => HistoryStore::Postgres(postgres.secret_ref.clone()),
        (None, Some(_)) if replicas > 1 => {
            return Err(Error::InvalidSpec(format!(
                "spec.history.storage needs replicas: 1 (up to {replicas} can run): one \
                 ReadWriteOnce claim cannot be shared by several pods; use spec.history.postgres \
                 for more replicas or autoscaling"
            )));
        }
        (None, Some(storage)) => HistoryStore::Claim {
            size: storage.size.clone(),
            storage_class_name: storage.storage_class_name.clone(),
        },
        (None, None) => HistoryStore::EmptyDir,
    };
    Ok(Some(HistoryPlan {
        retention: spec.retention.clone().unwrap_or_else(|| "7d".into()),
        persist_interval: spec
            .persist_interval
            .clone()
            .unwrap_or_else(|| "30s".into()),
        store,
    }))
}

fn default_resources() -> ResourceRequirements {
    let quantities = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
            .collect::<BTreeMap<_, _>>()
    };
    ResourceRequirements {
        requests: Some(quantities(&[("cpu", "10m"), ("memory", "32Mi")])),
        limits: Some(quantities(&[("memory", "128Mi")])),
        ..ResourceRequirements::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{DiceServiceSpec, TelemetrySpec};

    fn service(yaml_spec: &str) -> DiceService {
        let spec: DiceServiceSpec = serde_yaml::from_str(yaml_spec).expect("spec parses");
        let mut service = DiceService::new("dice", spec);
        service.metadata.namespace = Some("games".into());
        service
    }

    #[test]
    fn an_empty_spec_gets_every_documented_default() {
        let validated = validate(&service("{}"), &Defaults::with_image("img:1")).expect("valid");
        assert_eq!(validated.scaling, Scaling::Fixed(1));
        assert_eq!(validated.image, "img:1");
        assert_eq!(validated.max_delay, "1s");
        assert!((validated.risky_error_rate - 0.1).abs() < f64::EPSILON);
        assert_eq!(validated.sample_interval, "5s");
        assert_eq!(validated.telemetry, None);
        assert!(!validated.gpu);
        assert_eq!(validated.resources, default_resources());
        assert_eq!(validated.namespace, "games");
    }

    #[test]
    fn watching_some_namespaces_keeps_dashboards_in_their_own() {
        let mut watching = Defaults::with_image("img");
        watching.watch_namespaces = vec!["games".into(), "monitoring".into()];
        let elsewhere = service("monitoring: {dashboard: {namespace: monitoring}}");
        let error = validate(&elsewhere, &watching)
            .expect_err("refused")
            .to_string();
        assert!(error.contains("in its DiceService's namespace"), "{error}");
        assert!(validate(&elsewhere, &Defaults::with_image("img")).is_ok());
        assert!(validate(&service("monitoring: {dashboard: {}}"), &watching).is_ok());
    }

    #[test]
    fn telemetry_service_name_defaults_to_the_diceservice_name() {
        let mut dice = service("{}");
        dice.spec.telemetry = Some(TelemetrySpec {
            otlp_endpoint: Some("http://collector:4318".into()),
            protocol: OtlpProtocol::Grpc,
            traces_sample_ratio: None,
            service_name: None,
        });
        let telemetry = validate(&dice, &Defaults::with_image("img"))
            .expect("valid")
            .telemetry
            .expect("on");
        assert_eq!(telemetry.service_name, "dice");
        assert_eq!(telemetry.protocol, OtlpProtocol::Grpc);
    }

    #[test]
    fn history_defaults_to_sqlite_on_an_empty_dir_and_can_be_switched_off() {
        let defaults = Defaults::with_image("img");
        let on = validate(&service("{}"), &defaults).expect("valid").history;
        let plan = on.expect("history is on by default");
        assert_eq!(
            (plan.retention.as_str(), plan.persist_interval.as_str()),
            ("7d", "30s")
        );
        assert_eq!(plan.store, HistoryStore::EmptyDir);
        let off = validate(&service("history: {enabled: false}"), &defaults).expect("valid");
        assert_eq!(off.history, None);
    }

    #[test]
    fn a_history_claim_needs_a_single_replica() {
        let dice = service("replicas: 3\nhistory: {storage: {size: 1Gi}}");
        let error = validate(&dice, &Defaults::with_image("img"))
            .expect_err("rejected")
            .to_string();
        assert!(
            error.contains("spec.history.storage needs replicas: 1 (up to 3 can run)"),
            "{error}"
        );
        assert!(
            error.contains("spec.history.postgres"),
            "says what to use instead: {error}"
        );
    }

    #[test]
    fn telemetry_without_an_endpoint_is_off() {
        let dice = service("telemetry: {serviceName: x}");
        assert_eq!(
            validate(&dice, &Defaults::with_image("img"))
                .expect("valid")
                .telemetry,
            None
        );
    }

    #[test]
    fn probes_use_only_the_probers_and_modules_the_administrator_allows() {
        let dice = service("monitoring: {probe: {enabled: true, module: http_basic_auth}}");
        let error = validate(&dice, &Defaults::with_image("img"))
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("--allowed-probe-modules: http_2xx"),
            "{error}"
        );
        let elsewhere = service("monitoring: {probe: {enabled: true, prober: 'evil.team-b:9115'}}");
        let error = validate(&elsewhere, &Defaults::with_image("img"))
            .expect_err("refused")
            .to_string();
        assert!(error.contains("monitoring.probe.prober"), "{error}");
        let mut open = Defaults::with_image("img");
        open.probe_allow.modules = vec!["*".into()];
        assert!(validate(&dice, &open).is_ok());
    }

    #[test]
    fn names_a_service_cannot_take_are_refused_up_front() {
        for name in ["api.v2", "1dice"] {
            let mut dice = service("{}");
            dice.metadata.name = Some(name.into());
            let error = validate(&dice, &Defaults::with_image("img"))
                .expect_err("rejected")
                .to_string();
            assert!(error.contains("no dots"), "{name}: {error}");
        }
    }

    #[test]
    fn names_too_long_for_a_service_are_reported_with_the_limit() {
        let mut dice = service("{}");
        dice.metadata.name = Some("d".repeat(64));
        let error = validate(&dice, &Defaults::with_image("img"))
            .expect_err("rejected")
            .to_string();
        assert!(error.contains("at most 63"), "{error}");
    }

    #[test]
    fn the_name_of_the_default_service_account_is_refused() {
        let mut dice = service("{}");
        dice.metadata.name = Some("default".into());
        let error = validate(&dice, &Defaults::with_image("img"))
            .expect_err("rejected")
            .to_string();
        assert!(error.contains("default ServiceAccount"), "{error}");
    }

    #[test]
    fn alert_grouping_takes_the_spec_and_defaults_the_rest() {
        let dice =
            service("alerting: {slack: {channel: '#d', apiURL: {name: s, key: k}}, groupWait: 5s}");
        let validated = validate(&dice, &Defaults::with_image("img")).expect("valid");
        let alerting = validated.monitoring.alerting.expect("alerting");
        assert_eq!(alerting.group_wait, "5s");
        assert_eq!(alerting.group_interval, "5m");
        assert_eq!(alerting.repeat_interval, "4h");
    }
}
