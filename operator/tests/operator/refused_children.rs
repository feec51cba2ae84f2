//! A child the API server refuses for good (`422 Invalid`): the DiceService says which and
//! why, an Event says it once, and the operator waits for a new spec instead of retrying.

use crate::support::{
    self, cluster_with_crd, condition, deployment_applies, eventually, start_operator,
};
use dice_operator::crd::DiceService;
use dice_operator::metrics::OperatorMetrics;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn resources(request: &str, limit: &str) -> serde_json::Value {
    json!({"resources": {"requests": {"cpu": request}, "limits": {"cpu": limit}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_deployment_is_reported_once_and_not_retried_hot() {
    let (server, client) = cluster_with_crd().await;
    let operator = start_operator(&client, Arc::new(OperatorMetrics::default()));
    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");
    support::apply(&services, "dice", resources("2", "1")).await;

    let message = eventually("the refusal in the status", || async {
        let service = services.get("dice").await.unwrap();
        condition(&service, "Degraded").filter(|(status, _)| status == "True")
    })
    .await
    .1;
    assert!(
        message.starts_with("Deployment default/dice: refused by the API server:")
            && message.contains(
                "spec.template.spec.containers[0].resources.requests[cpu]: Invalid value: \
                 \"2\": must be less than or equal to cpu limit of 1"
            ),
        "{message}"
    );
    let service = services.get("dice").await.unwrap();
    assert_eq!(
        condition(&service, "Ready").map(|(status, _)| status),
        Some("False".to_owned())
    );
    let events: Api<Event> = Api::all(client.clone());
    let warnings = eventually("the Warning Event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        let warnings: Vec<Event> = list
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("ChildRejected"))
            .collect();
        (!warnings.is_empty()).then_some(warnings)
    })
    .await;
    assert_eq!(warnings[0].type_.as_deref(), Some("Warning"));

    // A failed reconcile would be retried after 1, 2 and 4 s; a refusal waits for a new spec.
    // (The other children's first watch events may still start one reconcile: let it pass.)
    tokio::time::sleep(Duration::from_secs(1)).await;
    let applies = deployment_applies(&server);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(deployment_applies(&server), applies, "re-applied in a loop");

    support::apply(&services, "dice", resources("1", "1")).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    eventually("the Deployment once the spec is fixed", || async {
        deployments.get_opt("dice").await.unwrap()
    })
    .await;
    eventually("Degraded cleared", || async {
        let service = services.get("dice").await.unwrap();
        condition(&service, "Degraded").filter(|(status, _)| status == "False")
    })
    .await;
    operator.abort();
}
