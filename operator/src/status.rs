//! Status as a pure function of what was observed; the reconciler writes it only when it changed.

use crate::children::disruption_budget::{DRAIN_GRACE, Relaxation};
use crate::crd::conditions::{DEGRADED, MONITORING_READY, PROGRESSING, READY, Reason};
use crate::crd::{ChildState, ChildStatus, DiceService, DiceServiceStatus};
use crate::validate::{Scaling, Validated};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// What became of the monitoring children, and problems with the Secrets alerting refers to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonitoringOutcome {
    pub children: Vec<ChildStatus>,
    pub secret_problems: Vec<String>,
    /// False when the operator runs without Secret access (`--check-secrets=false`): a missing
    /// Secret then cannot be reported, and the condition says so.
    pub secrets_checked: bool,
}

/// Status of a valid DiceService whose Deployment is `deployment` (as last applied or observed).
pub fn observed(
    service: &DiceService,
    validated: &Validated,
    deployment: &Deployment,
    monitoring: &MonitoringOutcome,
    now: &Time,
) -> DiceServiceStatus {
    // Under an autoscaler the Deployment's count is its latest decision.
    let desired = match &validated.scaling {
        Scaling::Fixed(replicas) => *replicas,
        Scaling::Autoscaled(autoscaling) => deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(autoscaling.min_replicas),
    };
    let observed = deployment.status.clone().unwrap_or_default();
    let ready = observed.ready_replicas.unwrap_or(0);
    let updated = observed.updated_replicas.unwrap_or(0);
    let current = observed.replicas.unwrap_or(0);
    let caught_up = observed.observed_generation >= deployment.metadata.generation;
    let rolled_out = caught_up && updated >= desired && ready >= desired && current <= desired;
    let mut progress = format!("{ready}/{desired} replicas ready");
    if let (Relaxation::Relaxed { missing }, true) = (
        Relaxation::of(deployment, now),
        validated.scaling.max_replicas() > 1,
    ) {
        progress.push_str(&format!(
            "; {missing} unavailable for over {} min, so the PodDisruptionBudget allows {} \
             disruptions and node drains are not blocked",
            DRAIN_GRACE.as_secs() / 60,
            missing + 1
        ));
    }
    let conditions = Conditions::new(service, now);
    DiceServiceStatus {
        observed_generation: service.metadata.generation,
        replicas: current,
        ready_replicas: ready,
        replica_summary: Some(format!("{ready}/{desired}")),
        selector: Some(label_selector(validated)),
        url: Some(crate::children::url(validated)),
        conditions: vec![
            if rolled_out {
                conditions.make(READY, true, Reason::AllReplicasReady, &progress)
            } else {
                conditions.make(READY, false, Reason::ReplicasNotReady, &progress)
            },
            if rolled_out {
                conditions.make(
                    PROGRESSING,
                    false,
                    Reason::RolloutComplete,
                    "The Deployment has rolled out",
                )
            } else {
                conditions.make(
                    PROGRESSING,
                    true,
                    Reason::RollingOut,
                    &format!("Rolling out: {progress}"),
                )
            },
            conditions.make(
                DEGRADED,
                false,
                Reason::AsExpected,
                "The spec is valid and applied",
            ),
            monitoring_ready(&conditions, monitoring),
        ],
        monitoring: monitoring.children.clone(),
    }
}

/// The pods' selector as the scale subresource reports it (`key=value,...`).
fn label_selector(validated: &Validated) -> String {
    crate::children::selector_labels(validated)
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `MonitoringReady`: true when every monitoring child the spec asks for is applied and the
/// Secrets alerting needs exist; otherwise says what is missing.
fn monitoring_ready(conditions: &Conditions<'_>, outcome: &MonitoringOutcome) -> Condition {
    let with_state = |state: ChildState| -> Vec<&ChildStatus> {
        outcome
            .children
            .iter()
            .filter(|c| c.state == state)
            .collect()
    };
    let (skipped, failed) = (
        with_state(ChildState::Skipped),
        with_state(ChildState::Failed),
    );
    if !skipped.is_empty() {
        let kinds: Vec<&str> = skipped.iter().map(|c| c.kind.as_str()).collect();
        let message = format!(
            "Prometheus Operator CRDs missing for {}; install them (e.g. with kube-prometheus-stack) \
             and the operator applies these objects without a restart",
            kinds.join(", ")
        );
        return conditions.make(
            MONITORING_READY,
            false,
            Reason::PrometheusOperatorCRDsMissing,
            &message,
        );
    }
    if !failed.is_empty() {
        let reasons: Vec<String> = failed
            .iter()
            .map(|c| {
                format!(
                    "{} {}: {}",
                    c.kind,
                    c.name,
                    c.message.as_deref().unwrap_or("")
                )
            })
            .collect();
        return conditions.make(
            MONITORING_READY,
            false,
            Reason::ChildRejected,
            &reasons.join("; "),
        );
    }
    if !outcome.secret_problems.is_empty() {
        let message = outcome.secret_problems.join("; ");
        return conditions.make(MONITORING_READY, false, Reason::SecretMissing, &message);
    }
    let mut message = if outcome.children.is_empty() {
        "No monitoring objects requested".to_owned()
    } else {
        format!("{} monitoring objects applied", outcome.children.len())
    };
    if !outcome.secrets_checked {
        message.push_str(
            "; Secret references were not checked (the operator runs with --check-secrets=false)",
        );
    }
    conditions.make(MONITORING_READY, true, Reason::Applied, &message)
}

/// Status of a DiceService with an invalid spec; `message` tells the user what to fix.
pub fn degraded(service: &DiceService, message: &str, now: &Time) -> DiceServiceStatus {
    blocked(
        service,
        (
            Reason::InvalidSpec,
            "The spec is invalid; see the Degraded condition",
        ),
        "Waiting for a valid spec",
        message,
        now,
    )
}

/// Status of a DiceService none of whose children was applied because objects under their
/// names belong to somebody else (`problems` names each and its owner).
pub fn not_owned(service: &DiceService, problems: &[String], now: &Time) -> DiceServiceStatus {
    let message = format!(
        "{}. The operator never takes over an object it did not create: delete or rename it, \
         or give the DiceService another name",
        problems.join("; ")
    );
    blocked(
        service,
        (
            Reason::ChildNotOwned,
            "Nothing was applied; see the Degraded condition",
        ),
        "Waiting for the children's names to be free",
        &message,
        now,
    )
}

/// Status of a DiceService some of whose required children the API server refused
/// (`refusals` names each with the server's message).
pub fn child_refused(service: &DiceService, refusals: &[String], now: &Time) -> DiceServiceStatus {
    let message = format!(
        "{}. Change the spec so that the API server accepts it; the operator retries every \
         5 minutes meanwhile",
        refusals.join("; ")
    );
    blocked(
        service,
        (
            Reason::ChildRejected,
            "The API server refused a child; see the Degraded condition",
        ),
        "Waiting for a spec the API server accepts",
        &message,
        now,
    )
}

/// Status of a DiceService the operator cannot act on; the rest of the previous status stays.
fn blocked(
    service: &DiceService,
    (reason, not_ready): (Reason, &str),
    waiting: &str,
    message: &str,
    now: &Time,
) -> DiceServiceStatus {
    let previous = service.status.clone().unwrap_or_default();
    let conditions = Conditions::new(service, now);
    DiceServiceStatus {
        observed_generation: service.metadata.generation,
        conditions: vec![
            conditions.make(READY, false, reason, not_ready),
            conditions.make(PROGRESSING, false, reason, waiting),
            conditions.make(DEGRADED, true, reason, message),
        ],
        ..previous
    }
}

struct Conditions<'a> {
    previous: &'a [Condition],
    generation: Option<i64>,
    now: &'a Time,
}

impl<'a> Conditions<'a> {
    fn new(service: &'a DiceService, now: &'a Time) -> Self {
        Self {
            previous: service
                .status
                .as_ref()
                .map_or(&[], |s| s.conditions.as_slice()),
            generation: service.metadata.generation,
            now,
        }
    }

    /// Keeps `lastTransitionTime` while the condition's status stays the same.
    fn make(&self, type_: &str, status: bool, reason: Reason, message: &str) -> Condition {
        let status = if status { "True" } else { "False" };
        let since = self
            .previous
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map_or_else(|| self.now.clone(), |c| c.last_transition_time.clone());
        Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.as_str().to_owned(),
            message: message.to_owned(),
            observed_generation: self.generation,
            last_transition_time: since,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::validate;
    use k8s_openapi::api::apps::v1::DeploymentStatus;
    use k8s_openapi::jiff::Timestamp;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).expect("valid time"))
    }

    fn service(replicas: i32) -> DiceService {
        let mut service = DiceService::new(
            "dice",
            serde_yaml::from_str(&format!("replicas: {replicas}")).expect("spec"),
        );
        service.metadata.namespace = Some("ns".into());
        service.metadata.generation = Some(2);
        service
    }

    fn deployment(ready: i32, updated: i32, observed_generation: i64) -> Deployment {
        let mut deployment = Deployment::default();
        deployment.metadata.generation = Some(1);
        deployment.status = Some(DeploymentStatus {
            replicas: Some(updated),
            ready_replicas: Some(ready),
            updated_replicas: Some(updated),
            observed_generation: Some(observed_generation),
            ..DeploymentStatus::default()
        });
        deployment
    }

    fn condition<'a>(status: &'a DiceServiceStatus, type_: &str) -> &'a Condition {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .expect("condition present")
    }

    #[test]
    fn all_replicas_ready_means_ready_and_not_progressing() {
        let dice = service(2);
        let status = observed(
            &dice,
            &validate(&dice, &crate::validate::Defaults::with_image("img")).expect("valid"),
            &deployment(2, 2, 1),
            &MonitoringOutcome::default(),
            &at(100),
        );
        assert_eq!(condition(&status, READY).status, "True");
        assert_eq!(condition(&status, PROGRESSING).status, "False");
        assert_eq!(condition(&status, DEGRADED).status, "False");
        assert_eq!(status.replica_summary.as_deref(), Some("2/2"));
        assert_eq!(status.url.as_deref(), Some("http://dice.ns.svc"));
        assert_eq!(status.observed_generation, Some(2));
        assert!(
            status
                .conditions
                .iter()
                .all(|c| c.observed_generation == Some(2))
        );
    }

    #[test]
    fn a_rollout_in_progress_is_progressing_and_not_ready() {
        let dice = service(3);
        let validated =
            validate(&dice, &crate::validate::Defaults::with_image("img")).expect("valid");
        let status = observed(
            &dice,
            &validated,
            &deployment(1, 3, 1),
            &MonitoringOutcome::default(),
            &at(100),
        );
        assert_eq!(condition(&status, READY).status, "False");
        assert_eq!(condition(&status, READY).message, "1/3 replicas ready");
        assert_eq!(condition(&status, PROGRESSING).reason, Reason::RollingOut);
        let stale = observed(
            &dice,
            &validated,
            &deployment(3, 3, 0),
            &MonitoringOutcome::default(),
            &at(100),
        );
        assert_eq!(
            condition(&stale, READY).status,
            "False",
            "the Deployment has not seen its spec yet"
        );
    }

    #[test]
    fn unchanged_conditions_keep_their_transition_time_so_status_is_stable() {
        let mut dice = service(1);
        let validated =
            validate(&dice, &crate::validate::Defaults::with_image("img")).expect("valid");
        let first = observed(
            &dice,
            &validated,
            &deployment(1, 1, 1),
            &MonitoringOutcome::default(),
            &at(100),
        );
        dice.status = Some(first.clone());
        let again = observed(
            &dice,
            &validated,
            &deployment(1, 1, 1),
            &MonitoringOutcome::default(),
            &at(500),
        );
        assert_eq!(again, first, "nothing changed, so nothing to write");
        let dropped = observed(
            &dice,
            &validated,
            &deployment(0, 1, 1),
            &MonitoringOutcome::default(),
            &at(900),
        );
        assert_eq!(condition(&dropped, READY).last_transition_time, at(900));
        assert_eq!(condition(&dropped, DEGRADED).last_transition_time, at(100));
    }

    #[test]
    fn degraded_says_what_to_fix_and_keeps_replica_counts() {
        let mut dice = service(1);
        let validated =
            validate(&dice, &crate::validate::Defaults::with_image("img")).expect("valid");
        dice.status = Some(observed(
            &dice,
            &validated,
            &deployment(1, 1, 1),
            &MonitoringOutcome::default(),
            &at(100),
        ));
        let status = degraded(&dice, "metadata.name is too long", &at(200));
        assert_eq!(condition(&status, DEGRADED).status, "True");
        assert_eq!(
            condition(&status, DEGRADED).message,
            "metadata.name is too long"
        );
        assert_eq!(condition(&status, READY).reason, Reason::InvalidSpec);
        assert_eq!(status.ready_replicas, 1);
    }
}
