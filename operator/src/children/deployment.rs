//! The dice-server Deployment: a pod meeting the "restricted" Pod Security Standard.

use super::env_var as value;
use super::{labels, object_meta, selector_labels};
use crate::validate::Validated;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction,
    ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, SeccompProfile,
    SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

pub const HTTP_PORT: i32 = 8080;
/// Hash of the pod template: any configuration change changes it and rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "dice.dev/config-hash";
/// Who decides the Deployment's replica count: `spec` (the DiceService's `replicas`, applied)
/// or `autoscaler` (left out of the apply). The switch to `autoscaler` is when the operator
/// hands the field over (see `apply`).
pub const REPLICAS_FROM_ANNOTATION: &str = "dice.dev/replicas-from";
pub const REPLICAS_FROM_AUTOSCALER: &str = "autoscaler";
/// The distroless `nonroot` user.
const NONROOT_UID: i64 = 65532;
/// Readiness turns 503 this long before the server stops accepting, so endpoints drain first.
const SHUTDOWN_DELAY: &str = "5s";

pub fn build(service: &Validated) -> Deployment {
    let mut pod_spec = pod_spec(service);
    if service.gpu {
        add_gpu_limit(&mut pod_spec);
    }
    super::scheduling::place(&mut pod_spec, service);
    let hash = super::content_hash(&pod_spec);
    let mut pod_labels = service.placement.pod_labels.clone();
    pod_labels.extend(labels(service));
    let mut pod_annotations = service.placement.pod_annotations.clone();
    pod_annotations.insert(CONFIG_HASH_ANNOTATION.to_owned(), hash);
    let mut metadata = object_meta(service, &service.name);
    let replicas_from = match service.scaling.applied_replicas() {
        Some(_) => "spec",
        None => REPLICAS_FROM_AUTOSCALER,
    };
    metadata.annotations = Some(BTreeMap::from([(
        REPLICAS_FROM_ANNOTATION.to_owned(),
        replicas_from.to_owned(),
    )]));
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            // Left out under an autoscaler, so the apply never reverts its count.
            replicas: service.scaling.applied_replicas(),
            selector: LabelSelector {
                match_labels: Some(selector_labels(service)),
                ..LabelSelector::default()
            },
            strategy: Some(strategy(service)),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(pod_annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// Rolling by default; `Recreate` when history keeps SQLite on a ReadWriteOnce claim, which the
/// new pod cannot attach while the old one holds it.
fn strategy(service: &Validated) -> DeploymentStrategy {
    let on_claim = matches!(
        service.history.as_ref().map(|h| &h.store),
        Some(crate::validate::HistoryStore::Claim { .. })
    );
    if on_claim {
        return DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        };
    }
    DeploymentStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::Int(1)),
            max_unavailable: Some(IntOrString::Int(0)),
        }),
    }
}

fn pod_spec(service: &Validated) -> PodSpec {
    PodSpec {
        service_account_name: Some(service.name.clone()),
        automount_service_account_token: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(NONROOT_UID),
            run_as_group: Some(NONROOT_UID),
            // The data volume (a claim in particular) becomes writable for the nonroot user.
            fs_group: Some(NONROOT_UID),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        termination_grace_period_seconds: Some(30),
        node_selector: service.node_selector.clone(),
        tolerations: service.tolerations.clone(),
        containers: vec![container(service)],
        volumes: Some(vec![super::data_volume::volume(service).0]),
        ..PodSpec::default()
    }
}

fn container(service: &Validated) -> Container {
    Container {
        name: "dice-server".into(),
        image: Some(service.image.clone()),
        image_pull_policy: service.image_pull_policy.map(|p| p.as_str().to_owned()),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: HTTP_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        env: Some(env(service)),
        volume_mounts: Some(vec![super::data_volume::volume(service).1]),
        resources: Some(service.resources.clone()),
        liveness_probe: Some(http_probe("/livez", 10)),
        readiness_probe: Some(http_probe("/readyz", 5)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}

fn env(service: &Validated) -> Vec<EnvVar> {
    let mut env = vec![
        value("DICE_LISTEN", &format!("0.0.0.0:{HTTP_PORT}")),
        value("DICE_LOG_FORMAT", "json"),
        value("DICE_MAX_DELAY", &service.max_delay),
        value(
            "DICE_RISKY_ERROR_RATE",
            &service.risky_error_rate.to_string(),
        ),
        value("DICE_SAMPLE_INTERVAL", &service.sample_interval),
        value("DICE_SHUTDOWN_DELAY", SHUTDOWN_DELAY),
    ];
    env.extend(super::data_volume::env(service));
    if service.gpu {
        // `on` logs a warning when NVML does not load: the pod asked for a GPU.
        env.push(value("DICE_GPU", "on"));
        // The NVIDIA container runtime mounts NVML (libnvidia-ml) only for the `utility`
        // capability; the device plugin sets NVIDIA_VISIBLE_DEVICES to the allocated GPU.
        env.push(value("NVIDIA_DRIVER_CAPABILITIES", "utility"));
    } else {
        env.push(value("DICE_GPU", "off"));
    }
    if let Some(telemetry) = &service.telemetry {
        // POD_NAME must precede the variable that expands it.
        env.push(EnvVar {
            name: "POD_NAME".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "metadata.name".into(),
                    ..ObjectFieldSelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        });
        env.push(value("OTEL_EXPORTER_OTLP_ENDPOINT", &telemetry.endpoint));
        env.push(value(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            telemetry.protocol.as_str(),
        ));
        env.push(value("OTEL_SERVICE_NAME", &telemetry.service_name));
        // The one value meant to be expanded; names are DNS labels, so nothing else expands.
        env.push(EnvVar {
            name: "OTEL_RESOURCE_ATTRIBUTES".into(),
            value: Some(format!(
                "k8s.namespace.name={},k8s.deployment.name={},k8s.pod.name=$(POD_NAME)",
                service.namespace, service.name
            )),
            ..EnvVar::default()
        });
        if let Some(ratio) = telemetry.sample_ratio {
            env.push(value("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"));
            env.push(value("OTEL_TRACES_SAMPLER_ARG", &ratio.to_string()));
        }
    }
    env
}

fn http_probe(path: &str, period_seconds: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_seconds),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn add_gpu_limit(pod_spec: &mut PodSpec) {
    for container in &mut pod_spec.containers {
        let resources = container.resources.get_or_insert_with(Default::default);
        resources
            .limits
            .get_or_insert_with(BTreeMap::new)
            .insert("nvidia.com/gpu".into(), Quantity("1".into()));
    }
}

#[derive(Debug)]
pub struct DeploymentChild;

impl super::Child for DeploymentChild {
    type Object = Deployment;
    const STEM: &'static str = "deployment";
    const LIFECYCLE: super::Lifecycle = super::Lifecycle::WithTheService;
    const PREREQUISITE: bool = true;
    const WATCHED_IN_FULL: bool = true;

    fn build(inputs: super::Inputs<'_>) -> Option<Deployment> {
        Some(build(inputs.service))
    }

    fn workload(object: &Deployment) -> Option<&Deployment> {
        Some(object)
    }
}
