//! A PodDisruptionBudget must never block a node drain for good: two replicas, one of which no
//! node can take (an unsatisfiable spread, say), left `maxUnavailable: 1` with no disruption
//! allowed, ever. Once pods have been missing past the grace the budget stops counting them and
//! the status says so; when they are back, it holds again.

use crate::support::{self, cluster_with_crd, condition, eventually, start_operator};
use dice_operator::children::disruption_budget::DRAIN_GRACE;
use dice_operator::crd::DiceService;
use dice_operator::metrics::OperatorMetrics;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::sync::Arc;

/// The Deployment controller's status: `ready` of 2 pods available, `Available` since `since`.
fn status(ready: i32, since: Timestamp) -> serde_json::Value {
    let available = if ready == 2 { "True" } else { "False" };
    json!({"status": {
        "observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": ready,
        "availableReplicas": ready, "unavailableReplicas": 2 - ready,
        "conditions": [{"type": "Available", "status": available,
            "reason": "MinimumReplicasUnavailable", "lastTransitionTime": since.to_string()}]}})
}

async fn max_unavailable(budgets: &Api<PodDisruptionBudget>) -> Option<IntOrString> {
    budgets.get_opt("dice").await.ok()??.spec?.max_unavailable
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_missing_past_the_grace_relax_the_budget_and_the_status_says_so() {
    let (_server, client) = cluster_with_crd().await;
    let operator = start_operator(&client, Arc::new(OperatorMetrics::default()));
    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");
    support::apply(&services, "dice", json!({"replicas": 2})).await;
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    eventually("a budget of one", || async {
        (max_unavailable(&budgets).await? == IntOrString::Int(1)).then_some(())
    })
    .await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let controller = PatchParams::apply("kube-controller-manager");
    let long_ago = Timestamp::now() - SignedDuration::try_from(DRAIN_GRACE).unwrap() * 2;
    deployments
        .patch_status("dice", &controller, &Patch::Merge(&status(1, long_ago)))
        .await
        .unwrap();
    eventually("the budget not counting the missing pod", || async {
        (max_unavailable(&budgets).await? == IntOrString::Int(2)).then_some(())
    })
    .await;
    let service = services.get("dice").await.unwrap();
    let (ready, message) = condition(&service, "Ready").unwrap();
    assert_eq!(ready, "False");
    assert!(
        message.contains("PodDisruptionBudget allows 2 disruptions")
            && message.contains("drains are not blocked"),
        "{message}"
    );

    // Every pod back: the budget holds one at a time again.
    deployments
        .patch_status(
            "dice",
            &controller,
            &Patch::Merge(&status(2, Timestamp::now())),
        )
        .await
        .unwrap();
    eventually("a budget of one again", || async {
        (max_unavailable(&budgets).await? == IntOrString::Int(1)).then_some(())
    })
    .await;

    // A pod missing for less than the grace (a drain's eviction being placed again) does not
    // relax it.
    deployments
        .patch_status(
            "dice",
            &controller,
            &Patch::Merge(&status(1, Timestamp::now())),
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(max_unavailable(&budgets).await, Some(IntOrString::Int(1)));
    operator.abort();
}
