//! Other writers of the operator's children, on server-side apply as a real API server does it:
//! what another manager adds stays theirs, without the operator re-applying or undoing it.

use crate::support::{self, cluster_with_crd, deployment_applies, eventually, start_operator};
use dice_operator::crd::DiceService;
use dice_operator::metrics::OperatorMetrics;
use fake_apiserver::kubectl::{kubectl, kubectl_installed};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Container;
use kube::api::Api;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn container(deployment: &Deployment) -> Container {
    deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .clone()
}

fn env(container: &Container) -> Vec<(String, Option<String>)> {
    container
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_set_env_is_kept_and_not_reapplied() {
    if !kubectl_installed() {
        println!("SKIP: kubectl is not installed");
        return;
    }
    let (server, client) = cluster_with_crd().await;
    let served = server.serve_locally().await.unwrap();
    let operator = start_operator(&client, Arc::new(OperatorMetrics::default()));
    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    support::apply(&services, "dice", json!({})).await;
    let before = eventually("the Deployment", || async {
        deployments.get_opt("dice").await.unwrap()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let output = kubectl(
        &served.kubeconfig,
        &["-n", "default", "set", "env", "deploy/dice", "FOO=1"],
    )
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let applies = deployment_applies(&server);
    // The Deployment's watch event reaches the operator, which finds nothing of its own changed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        deployment_applies(&server),
        applies,
        "the operator re-applied the Deployment"
    );
    let after = container(&deployments.get("dice").await.unwrap());
    let original = container(&before);
    assert!(
        env(&after).contains(&("FOO".into(), Some("1".into()))),
        "{:?}",
        env(&after)
    );
    assert_eq!(after.image, original.image, "image kept");
    assert_eq!(after.ports, original.ports, "ports kept");

    // A spec change makes the operator apply the Deployment again; FOO is still kubectl's.
    support::apply(&services, "dice", json!({"replicas": 2})).await;
    let scaled = eventually("replicas: 2", || async {
        let deployment = deployments.get("dice").await.unwrap();
        (deployment.spec.as_ref()?.replicas == Some(2)).then_some(deployment)
    })
    .await;
    assert!(deployment_applies(&server) > applies);
    assert!(env(&container(&scaled)).contains(&("FOO".into(), Some("1".into()))));
    operator.abort();
}
