//! Status under an autoscaler and without Secret checks: what `kubectl get dice` and the
//! scale subresource read.

use dice_operator::crd::DiceService;
use dice_operator::status::{MonitoringOutcome, observed};
use dice_operator::validate::{Defaults, validate};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

fn service(spec: &str) -> DiceService {
    let mut service = DiceService::new("dice", serde_yaml::from_str(spec).unwrap());
    service.metadata.namespace = Some("ns".into());
    service.metadata.generation = Some(1);
    service
}

fn deployment(replicas: i32, ready: i32) -> Deployment {
    let mut deployment = Deployment {
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            ..DeploymentSpec::default()
        }),
        status: Some(DeploymentStatus {
            replicas: Some(ready),
            ready_replicas: Some(ready),
            updated_replicas: Some(ready),
            observed_generation: Some(1),
            ..DeploymentStatus::default()
        }),
        ..Deployment::default()
    };
    deployment.metadata.generation = Some(1);
    deployment
}

#[test]
fn under_an_autoscaler_the_desired_count_is_its_latest_decision() {
    let dice = service("replicas: 1\nautoscaling: {minReplicas: 2, maxReplicas: 8}");
    let validated = validate(&dice, &Defaults::with_image("img")).unwrap();
    let now = Time(Timestamp::UNIX_EPOCH);
    let outcome = MonitoringOutcome {
        secrets_checked: true,
        ..MonitoringOutcome::default()
    };
    let status = observed(&dice, &validated, &deployment(5, 5), &outcome, &now);
    assert_eq!(status.replica_summary.as_deref(), Some("5/5"));
    assert_eq!(status.replicas, 5);
    assert_eq!(
        status.selector.as_deref(),
        Some("app.kubernetes.io/instance=dice,app.kubernetes.io/name=dice-server"),
        "the scale subresource's selector"
    );
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "True");
}

#[test]
fn without_secret_checks_monitoring_ready_says_they_were_not_made() {
    let dice = service("{}");
    let validated = validate(&dice, &Defaults::with_image("img")).unwrap();
    let now = Time(Timestamp::UNIX_EPOCH);
    let message = |checked: bool| {
        let outcome = MonitoringOutcome {
            secrets_checked: checked,
            ..MonitoringOutcome::default()
        };
        let status = observed(&dice, &validated, &deployment(1, 1), &outcome, &now);
        let condition = status
            .conditions
            .iter()
            .find(|c| c.type_ == "MonitoringReady");
        condition.unwrap().message.clone()
    };
    assert!(
        message(false).contains("--check-secrets=false"),
        "{}",
        message(false)
    );
    assert!(!message(true).contains("not checked"));
}
