//! The PodDisruptionBudget (policy/v1) that lets a drain or node upgrade take one pod at a
//! time, whenever more than one can run. With one replica it would block drains, so there is
//! none; and while pods have been missing for a while it stops counting them, so a Deployment
//! that cannot place all its pods never blocks a drain for good.

use super::{object_meta, selector_labels};
use crate::validate::Validated;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::time::Duration;

/// How long the Deployment may lack available pods before the budget stops counting them: long
/// enough for a pod evicted by a drain to be placed again elsewhere.
pub const DRAIN_GRACE: Duration = Duration::from_secs(300);

/// What the budget makes of the Deployment's missing pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Relaxation {
    /// Every pod is available (or nothing says otherwise): one disruption at a time.
    #[default]
    None,
    /// Pods are missing, for less than [`DRAIN_GRACE`]: the budget holds, for this long more.
    Pending(Duration),
    /// `missing` pods have been unavailable for [`DRAIN_GRACE`] or more (unschedulable, say,
    /// under a spread constraint no node satisfies). With `maxUnavailable: 1` no healthy pod
    /// could be evicted, ever; the budget allows one disruption beyond the missing pods.
    Relaxed { missing: i32 },
}

impl Relaxation {
    /// From the Deployment's `Available` condition, which its controller turns `False` as soon
    /// as fewer pods are available than the rollout strategy requires (all of them here).
    pub fn of(deployment: &Deployment, now: &Time) -> Self {
        let Some(status) = &deployment.status else {
            return Self::None;
        };
        let missing = status.unavailable_replicas.unwrap_or(0);
        let unavailable_since = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Available" && c.status == "False")
            .and_then(|c| c.last_transition_time.as_ref());
        let (Some(since), true) = (unavailable_since, missing > 0) else {
            return Self::None;
        };
        // A transition in the future (clock skew) counts as just now.
        let elapsed = Duration::try_from(now.0.duration_since(since.0)).unwrap_or_default();
        match DRAIN_GRACE.checked_sub(elapsed) {
            Some(left) if !left.is_zero() => Self::Pending(left),
            _ => Self::Relaxed { missing },
        }
    }
}

pub fn build(service: &Validated, relaxation: Relaxation) -> Option<PodDisruptionBudget> {
    if service.scaling.max_replicas() <= 1 {
        return None;
    }
    let allowed = match relaxation {
        Relaxation::Relaxed { missing } => missing.saturating_add(1),
        Relaxation::None | Relaxation::Pending(_) => 1,
    };
    Some(PodDisruptionBudget {
        metadata: object_meta(service, &service.name),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(allowed)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(service)),
                ..LabelSelector::default()
            }),
            // A pod that never became ready may be evicted even when the budget is spent:
            // otherwise one crash-looping pod blocks every drain.
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}

#[derive(Debug)]
pub struct DisruptionBudgetChild;

impl super::Child for DisruptionBudgetChild {
    type Object = PodDisruptionBudget;
    const STEM: &'static str = "poddisruptionbudget";
    const LIFECYCLE: super::Lifecycle = super::Lifecycle::DeletedWhenSwitchedOff;

    fn build(inputs: super::Inputs<'_>) -> Option<PodDisruptionBudget> {
        build(inputs.service, inputs.relaxation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentStatus};
    use k8s_openapi::jiff::{SignedDuration, Timestamp};

    fn time(seconds: i64) -> Time {
        Time(Timestamp::UNIX_EPOCH + SignedDuration::from_secs(seconds))
    }

    fn deployment(missing: i32, available: &str, since: i64) -> Deployment {
        Deployment {
            status: Some(DeploymentStatus {
                unavailable_replicas: Some(missing),
                conditions: Some(vec![DeploymentCondition {
                    type_: "Available".into(),
                    status: available.into(),
                    last_transition_time: Some(time(since)),
                    ..DeploymentCondition::default()
                }]),
                ..DeploymentStatus::default()
            }),
            ..Deployment::default()
        }
    }

    #[test]
    fn pods_missing_past_the_grace_no_longer_hold_the_budget() {
        let now = time(10_000);
        assert_eq!(
            Relaxation::of(&Deployment::default(), &now),
            Relaxation::None
        );
        assert_eq!(
            Relaxation::of(&deployment(0, "True", 0), &now),
            Relaxation::None
        );
        assert_eq!(
            Relaxation::of(&deployment(1, "False", 10_000 - 60), &now),
            Relaxation::Pending(DRAIN_GRACE - Duration::from_secs(60))
        );
        assert_eq!(
            Relaxation::of(&deployment(1, "False", 10_000 - 300), &now),
            Relaxation::Relaxed { missing: 1 }
        );
    }
}
