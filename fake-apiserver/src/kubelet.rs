//! A stand-in for the kubelet and the controllers that write the status of what an operator
//! creates (the fake API server runs no pods), churning status the way a real cluster does:
//! every new Deployment generation is rolled out in several status writes (with the
//! `deployment.kubernetes.io/revision` annotation the Deployment controller sets), the
//! autoscaler controller writes each HorizontalPodAutoscaler's status every 15 s, and the
//! disruption controller writes a PodDisruptionBudget's status when readiness changes.
//! Every write is made as `kube-controller-manager`.

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The field manager of every simulated write.
pub const MANAGER: &str = "kube-controller-manager";
/// How often the autoscaler controller syncs (its `--horizontal-pod-autoscaler-sync-period`).
pub const AUTOSCALER_SYNC: Duration = Duration::from_secs(15);
/// Between the status writes of one rollout.
const ROLLOUT_STEP: Duration = Duration::from_millis(100);
const REVISION: &str = "deployment.kubernetes.io/revision";

/// Runs the simulated controllers until the task is dropped.
pub async fn simulate(client: kube::Client) {
    tokio::join!(deployments(client.clone()), autoscalers(client));
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        ..PatchParams::default()
    }
}

/// Rolls out each Deployment generation not yet rolled out.
async fn deployments(client: kube::Client) {
    let deployments: Api<Deployment> = Api::all(client.clone());
    let rolling: Arc<Mutex<HashSet<(String, String, i64)>>> = Arc::default();
    // A watch error (a `410 Gone` when this consumer fell behind) is retried after a backoff
    // and the re-list rolls out what was missed; ending here would leave Deployments unready.
    let mut events = watcher::watcher(deployments, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let Ok(Event::Apply(deployment) | Event::InitApply(deployment)) = event else {
            continue;
        };
        let want = deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        let status = deployment.status.clone().unwrap_or_default();
        let generation = deployment.metadata.generation.unwrap_or(1);
        let done = status.observed_generation == Some(generation)
            && status.ready_replicas == Some(want)
            && status.updated_replicas == Some(want);
        let (Some(namespace), Some(name)) = (
            deployment.metadata.namespace.clone(),
            deployment.metadata.name.clone(),
        ) else {
            continue;
        };
        let key = (namespace.clone(), name.clone(), generation);
        if done
            || !rolling
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.clone())
        {
            continue;
        }
        let client = client.clone();
        let rolling = rolling.clone();
        tokio::spawn(async move {
            roll_out(&client, &deployment, want).await;
            rolling
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
        });
    }
}

/// One rollout: the revision annotation, then new pods updated, then ready, then available.
async fn roll_out(client: &kube::Client, deployment: &Deployment, want: i32) {
    let (Some(namespace), Some(name)) = (
        deployment.metadata.namespace.as_deref(),
        deployment.metadata.name.as_deref(),
    ) else {
        return;
    };
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let generation = deployment.metadata.generation.unwrap_or(1);
    let revision = deployment
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse::<u64>().ok())
        .unwrap_or(0);
    let annotate = json!({"metadata": {"annotations": {REVISION: (revision + 1).to_string()}}});
    let _ = api.patch(name, &params(), &Patch::Merge(&annotate)).await;
    let before = deployment.status.clone().unwrap_or_default();
    let ready_before = before.ready_replicas.unwrap_or(0).min(want);
    let steps = [
        (0, ready_before, "ReplicaSetUpdated", false),
        (want, (want - 1).max(0), "ReplicaSetUpdated", false),
        (want, want, "NewReplicaSetAvailable", true),
    ];
    for (updated, ready, progress, available) in steps {
        let status = json!({"status": {
            "observedGeneration": generation, "replicas": want, "updatedReplicas": updated,
            "readyReplicas": ready, "availableReplicas": ready, "unavailableReplicas": want - ready,
            "conditions": [
                {"type": "Available", "status": if available { "True" } else { "False" },
                 "reason": if available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }},
                {"type": "Progressing", "status": "True", "reason": progress}]}});
        let _ = api
            .patch_status(name, &params(), &Patch::Merge(&status))
            .await;
        disruption_budget(client, namespace, name, want, ready).await;
        tokio::time::sleep(ROLLOUT_STEP).await;
    }
}

/// The disruption controller: a budget's status follows the pods' readiness (the operator names
/// the budget after its Deployment).
async fn disruption_budget(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    pods: i32,
    ready: i32,
) {
    let api: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), namespace);
    let Ok(Some(budget)) = api.get_opt(name).await else {
        return;
    };
    let desired = (pods - 1).max(0);
    let status = json!({"status": {
        "observedGeneration": budget.metadata.generation, "expectedPods": pods,
        "currentHealthy": ready, "desiredHealthy": desired,
        "disruptionsAllowed": (ready - desired).max(0),
        "conditions": [{"type": "DisruptionAllowed", "status": if ready > desired { "True" } else { "False" },
            "reason": if ready > desired { "SufficientPods" } else { "InsufficientPods" },
            "lastTransitionTime": "2026-01-01T00:00:00Z", "message": ""}]}});
    let _ = api
        .patch_status(name, &params(), &Patch::Merge(&status))
        .await;
}

/// The autoscaler controller's sync: every autoscaler's status, with a CPU reading that moves.
async fn autoscalers(client: kube::Client) {
    let api: Api<HorizontalPodAutoscaler> = Api::all(client.clone());
    let mut tick = tokio::time::interval(AUTOSCALER_SYNC);
    let mut round: u64 = 0;
    loop {
        tick.tick().await;
        round += 1;
        let Ok(listed) = api.list(&ListParams::default()).await else {
            continue;
        };
        for autoscaler in listed {
            let (Some(namespace), Some(name)) = (
                autoscaler.metadata.namespace.as_deref(),
                autoscaler.metadata.name.as_deref(),
            ) else {
                continue;
            };
            let replicas = autoscaler
                .spec
                .as_ref()
                .and_then(|s| s.min_replicas)
                .unwrap_or(1);
            let utilization = 40 + (round % 7) as i64;
            let status: Value = json!({"status": {
                "observedGeneration": autoscaler.metadata.generation,
                "currentReplicas": replicas, "desiredReplicas": replicas,
                "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "current": {"averageUtilization": utilization, "averageValue": format!("{utilization}m")}}}],
                "conditions": [
                    {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
                    {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"}]}});
            let namespaced: Api<HorizontalPodAutoscaler> =
                Api::namespaced(client.clone(), namespace);
            let _ = namespaced
                .patch_status(name, &params(), &Patch::Merge(&status))
                .await;
        }
    }
}
