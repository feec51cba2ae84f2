//! The controller with and without the Prometheus Operator CRDs, in process against the fake API
//! server: missing kinds are skipped and reported, kinds registered later are applied without a
//! restart, switched-off children are deleted, a missing Secret is named, and a dashboard in
//! another namespace is cleaned up through the finalizer.

use crate::support;

use dice_operator::controller::finalizer::DASHBOARD_FINALIZER;
use dice_operator::crd::{ChildState, DiceService};
use dice_operator::metrics::OperatorMetrics;
use dice_operator::prometheus_operator::{AlertmanagerConfig, PrometheusRule, ServiceMonitor};
use dice_operator::served::MonitoringKind;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::sync::Arc;
use support::{apply, cluster_with_crd, condition, eventually};

/// The Prometheus Operator kinds, as CRDs that accept any spec (the upstream schemas are
/// checked in upstream_schemas.rs).
pub async fn install_prometheus_operator_crds(client: &Client) {
    install_crds_with_schema(
        client,
        |_| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    )
    .await;
}

async fn install_crds_with_schema(client: &Client, schema: impl Fn(MonitoringKind) -> Value) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for kind in MonitoringKind::ALL {
        let plural = format!("{}s", kind.kind().to_lowercase());
        let crd: CustomResourceDefinition = serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": kind.crd_name()},
            "spec": {
                "group": "monitoring.coreos.com",
                "names": {"kind": kind.kind(), "plural": plural, "listKind": format!("{}List", kind.kind()), "singular": kind.kind().to_lowercase()},
                "scope": "Namespaced",
                "versions": [{"name": kind.version(), "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": schema(kind)}}]
            }
        }))
        .unwrap();
        api.create(&PostParams::default(), &crd).await.unwrap();
    }
}

fn start(client: &Client) -> tokio::task::JoinHandle<()> {
    support::start_operator(client, Arc::new(OperatorMetrics::default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_monitoring_kinds_are_reported_then_applied_once_installed() {
    let (_server, client) = cluster_with_crd().await;
    let running = start(&client);
    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");
    apply(&services, "dice", json!({})).await;

    let (status, message) = eventually("MonitoringReady=False", || async {
        let service = services.get("dice").await.unwrap();
        condition(&service, "MonitoringReady").filter(|(s, _)| s == "False")
    })
    .await;
    assert_eq!(status, "False");
    assert!(
        message.contains("ServiceMonitor, PrometheusRule"),
        "{message}"
    );
    let service = services.get("dice").await.unwrap();
    let children = service.status.unwrap().monitoring;
    let state_of = |kind: &str| children.iter().find(|c| c.kind == kind).map(|c| c.state);
    assert_eq!(state_of("ServiceMonitor"), Some(ChildState::Skipped));
    assert_eq!(state_of("PrometheusRule"), Some(ChildState::Skipped));
    assert_eq!(
        state_of("ConfigMap"),
        Some(ChildState::Applied),
        "the dashboard needs no CRD"
    );

    // Installed later: picked up without a restart.
    install_prometheus_operator_crds(&client).await;
    let monitors: Api<ServiceMonitor> = Api::namespaced(client.clone(), "default");
    let rules: Api<PrometheusRule> = Api::namespaced(client.clone(), "default");
    eventually("the ServiceMonitor and PrometheusRule", || async {
        let both = monitors.get_opt("dice").await.unwrap().is_some()
            && rules.get_opt("dice").await.unwrap().is_some();
        both.then_some(())
    })
    .await;
    eventually("MonitoringReady=True", || async {
        let service = services.get("dice").await.unwrap();
        condition(&service, "MonitoringReady").filter(|(s, _)| s == "True")
    })
    .await;

    // Switched off in the spec: deleted.
    apply(
        &services,
        "dice",
        json!({"monitoring": {"serviceMonitor": {"enabled": false}}}),
    )
    .await;
    eventually("the ServiceMonitor to be deleted", || async {
        monitors
            .get_opt("dice")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        rules.get_opt("dice").await.unwrap().is_some(),
        "the rules stay"
    );
    running.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerting_secrets_are_checked_and_a_remote_dashboard_is_cleaned_up() {
    let (_server, client) = cluster_with_crd().await;
    crate::support::create_namespaces(&client, &["monitoring"]).await;
    install_prometheus_operator_crds(&client).await;
    let running = start(&client);
    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");
    let spec = json!({
        "monitoring": {"dashboard": {"namespace": "monitoring", "folder": "Dice"}},
        "alerting": {"slack": {"channel": "#dice", "apiURL": {"name": "slack-webhook", "key": "url"}}}
    });
    apply(&services, "dice", spec).await;

    let (_, message) = eventually("a missing Secret to be reported", || async {
        let service = services.get("dice").await.unwrap();
        condition(&service, "MonitoringReady").filter(|(_, m)| m.contains("Secret"))
    })
    .await;
    assert!(
        message.contains("Secret default/slack-webhook does not exist"),
        "{message}"
    );
    let configs: Api<AlertmanagerConfig> = Api::namespaced(client.clone(), "default");
    assert!(
        configs.get_opt("dice").await.unwrap().is_some(),
        "applied, ready for the Secret"
    );

    let dashboards: Api<ConfigMap> = Api::namespaced(client.clone(), "monitoring");
    let dashboard = eventually("the dashboard in namespace monitoring", || async {
        dashboards.get_opt("default.dice-dashboard").await.unwrap()
    })
    .await;
    assert_eq!(dashboard.labels()["grafana_dashboard"], "1");
    assert_eq!(dashboard.annotations()["grafana_folder"], "Dice");
    assert!(dashboard.data.unwrap().contains_key("default.dice.json"));
    let service = services.get("dice").await.unwrap();
    assert!(
        service
            .finalizers()
            .iter()
            .any(|f| f == DASHBOARD_FINALIZER)
    );

    services
        .delete("dice", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "the remote dashboard and the DiceService to be gone",
        || async {
            let gone = dashboards
                .get_opt("default.dice-dashboard")
                .await
                .unwrap()
                .is_none()
                && services.get_opt("dice").await.unwrap().is_none();
            gone.then_some(())
        },
    )
    .await;
    running.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitoring_object_the_api_refuses_is_reported_not_retried_forever() {
    let (server, client) = cluster_with_crd().await;
    install_crds_with_schema(&client, |kind| match kind {
        // As if a policy required a field the operator does not set on PrometheusRules: a 422.
        MonitoringKind::PrometheusRule => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"spec": {"type": "object", "required": ["tenant"],
                "x-kubernetes-preserve-unknown-fields": true}}}),
        // An older ServiceMonitor CRD without `endpoints`: a real server answers the apply 500.
        MonitoringKind::ServiceMonitor => json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"selector": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}),
        _ => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    })
    .await;
    let running = start(&client);
    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");
    apply(&services, "dice", json!({})).await;
    let (status, message) = eventually("the refusals in MonitoringReady", || async {
        let service = services.get("dice").await.unwrap();
        condition(&service, "MonitoringReady")
            .filter(|(_, m)| m.contains("tenant") && m.contains("lacks a field"))
    })
    .await;
    assert_eq!(status, "False");
    assert!(message.contains("PrometheusRule dice"), "{message}");
    let service = services.get("dice").await.unwrap();
    let (ready, _) = condition(&service, "Degraded").unwrap();
    assert_eq!(ready, "False", "the workload itself is fine");
    let children = service.status.unwrap().monitoring;
    let state = |kind: &str| {
        let child = children.iter().find(|c| c.kind == kind).unwrap();
        (child.state, child.message.clone().unwrap_or_default())
    };
    assert_eq!(state("PrometheusRule").0, ChildState::Failed);
    let (monitor, why) = state("ServiceMonitor");
    assert_eq!(monitor, ChildState::Failed);
    assert!(
        why.contains("upgrade the CRD") && why.contains("field not declared in schema"),
        "{why}"
    );
    // Nothing changes, so nothing is sent again: the refusals wait for a spec or CRD change.
    let monitor_applies = || {
        server
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH" && r.uri.contains("/servicemonitors/"))
            .count()
    };
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let settled = monitor_applies();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(monitor_applies(), settled, "the refused apply was retried");
    running.abort();
}
