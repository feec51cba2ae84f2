//! A stand-in for the kubelet and the Deployment controller: the fake API server runs no pods,
//! so this marks every Deployment's replicas ready as soon as its spec is seen.

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::json;

/// Marks every Deployment's pods ready, as a kubelet and the Deployment controller would.
pub async fn simulate(client: kube::Client) {
    let deployments: Api<Deployment> = Api::all(client);
    // A watch error (a `410 Gone` when this consumer fell behind) is retried after a backoff
    // and the re-list marks what was missed; ending here would leave later Deployments unready.
    let mut events = watcher::watcher(deployments.clone(), watcher::Config::default())
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
        let current = status.observed_generation == deployment.metadata.generation
            && status.ready_replicas == Some(want);
        if current {
            continue;
        }
        let (Some(namespace), Some(name)) = (
            deployment.metadata.namespace.clone(),
            deployment.metadata.name.clone(),
        ) else {
            continue;
        };
        let patch = json!({"status": {"replicas": want, "readyReplicas": want, "updatedReplicas": want,
            "availableReplicas": want, "observedGeneration": deployment.metadata.generation}});
        let api: Api<Deployment> = Api::namespaced(deployments.clone().into_client(), &namespace);
        let _ = api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await;
    }
}
