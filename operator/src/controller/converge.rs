//! One valid DiceService's convergence: its children built and applied, then its status from
//! what the API server holds (or from why a required child could not be applied).

use super::finalizer;
use super::{Context, RECHECK, RESYNC, ReconcileError};
use crate::children::Relaxation;
use crate::controller::apply::{self, Outcome};
use crate::crd::{ChildStatus, DiceService, DiceServiceStatus};
use crate::status::{self, MonitoringOutcome};
use crate::validate::Validated;
use crate::{children, secrets};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;

/// What one reconcile decided for a DiceService.
pub(super) struct Decision {
    /// The status it should have (written only when it differs).
    pub status: DiceServiceStatus,
    /// When to reconcile it again without a watch event.
    pub next: Action,
    /// What was applied, for the first "Created" Event; empty when nothing was.
    pub applied: String,
    /// The reconcile's result as `dice_operator_reconciles_total` counts it.
    pub result: &'static str,
}

impl Decision {
    fn new(status: DiceServiceStatus, next: Action) -> Self {
        Self {
            status,
            next,
            applied: String::new(),
            result: "success",
        }
    }
}

/// Applies every child of a valid DiceService and computes its status; also says what was
/// applied, for the first "Created" Event.
pub(super) async fn converge(
    service: &DiceService,
    validated: &Validated,
    ctx: &Context,
    now: &Time,
) -> Result<Decision, ReconcileError> {
    ctx.observed.wait_for_first_list(&ctx.served).await;
    let relaxation = ctx
        .observed
        .stores
        .deployment
        .get(&validated.namespace, &validated.name)
        .map(|seen| Relaxation::of(&seen.deployment(&validated.namespace, &validated.name), now))
        .unwrap_or_default();
    let children = children::build_observed(validated, relaxation);
    // Before a dashboard lands in another namespace, so deleting the DiceService cannot leak it.
    let remote_dashboard = validated
        .monitoring
        .dashboard
        .as_ref()
        .is_some_and(|d| d.namespace != validated.namespace);
    if remote_dashboard {
        finalizer::ensure(&ctx.client, service, true).await?;
    }
    let applied = apply::apply_children(
        &ctx.client,
        validated,
        &children,
        &ctx.observed,
        &ctx.served,
    )
    .await?;
    if !remote_dashboard {
        finalizer::ensure(&ctx.client, service, false).await?;
    }
    ctx.metrics.child_applies.inc_by(applied.sent as u64);
    match applied.outcome {
        Outcome::Applied {
            deployment,
            monitoring,
        } => {
            let observed = observe(service, validated, ctx, now, &deployment, monitoring).await?;
            Ok(Decision {
                applied: children.workload_summary(&validated.name),
                ..observed
            })
        }
        Outcome::NotOwned(problems) => {
            // Nothing watched reports the other object's removal; look again soon.
            let status = status::not_owned(service, &problems, now);
            Ok(Decision::new(status, Action::requeue(RECHECK)))
        }
        // Only a new spec (or an admin changing a policy) helps: no retry every few seconds.
        Outcome::Refused(refusals) => {
            let status = status::child_refused(service, &refusals, now);
            Ok(Decision::new(status, Action::requeue(RESYNC)))
        }
    }
}

/// The status of a DiceService whose children are all applied, from its Deployment.
async fn observe(
    service: &DiceService,
    validated: &Validated,
    ctx: &Context,
    now: &Time,
    deployment: &Deployment,
    monitoring: Vec<ChildStatus>,
) -> Result<Decision, ReconcileError> {
    let secret_problems = if ctx.check_secrets {
        secrets::problems(
            &ctx.client,
            &ctx.secret_keys,
            &validated.namespace,
            validated,
        )
        .await?
    } else {
        Vec::new()
    };
    // A Secret created later does not trigger a reconcile; look again soon. Neither does the
    // end of the disruption budget's grace.
    let mut after = if secret_problems.is_empty() {
        RESYNC
    } else {
        RECHECK
    };
    if let Relaxation::Pending(left) = Relaxation::of(deployment, now) {
        after = after.min(left);
    }
    let action = Action::requeue(after);
    let outcome = MonitoringOutcome {
        children: monitoring,
        secret_problems,
        secrets_checked: ctx.check_secrets,
    };
    let status = status::observed(service, validated, deployment, &outcome, now);
    Ok(Decision::new(status, action))
}
