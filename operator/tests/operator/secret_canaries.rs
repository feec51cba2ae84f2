//! Secret values never leave their Secrets: with canary values in the Slack, PagerDuty and
//! PostgreSQL Secrets, nothing the operator writes (children, status, events), logs or renders
//! contains them.

use crate::support;

use dice_operator::crd::DiceService;
use dice_operator::metrics::OperatorMetrics;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret, Service, ServiceAccount};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use support::{cluster_with_crd, condition, eventually};

const CANARIES: [&str; 3] = [
    "CANARY-SLACK-5c0d9e",
    "CANARY-ROUTING-2b7f41",
    "CANARY-PASSWORD-9a3e77",
];

/// Every log line of this test process (one process per test under nextest).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn secret(name: &str, key: &str, value: &str) -> Secret {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "stringData": {key: value}
    }))
    .unwrap()
}

fn spec() -> serde_json::Value {
    json!({
        "alerting": {
            "slack": {"channel": "#dice", "apiURL": {"name": "slack", "key": "url"}},
            "pagerDuty": {"routingKey": {"name": "pagerduty", "key": "key"}}
        },
        "history": {"postgres": {"secretRef": {"name": "history", "key": "url"}}}
    })
}

fn assert_clean(what: &str, text: &str) {
    for canary in CANARIES {
        assert!(
            !text.contains(canary),
            "{what} contains the secret value {canary}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_appear_in_no_object_status_event_or_log() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .init();
    let (_server, client) = cluster_with_crd().await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    for (name, key, value) in [
        (
            "slack",
            "url",
            format!("https://hooks.slack.com/services/{}", CANARIES[0]),
        ),
        ("pagerduty", "key", CANARIES[1].to_owned()),
        (
            "history",
            "url",
            format!("postgres://dice:{}@db:5432/dice", CANARIES[2]),
        ),
    ] {
        secrets
            .create(&PostParams::default(), &secret(name, key, &value))
            .await
            .unwrap();
    }
    let operator = support::start_operator(&client, Arc::new(OperatorMetrics::default()));
    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");
    support::apply(&services, "canary", spec()).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let deployment = eventually("the Deployment", || async {
        deployments.get_opt("canary").await.ok().flatten()
    })
    .await;
    // The Secrets exist, so the monitoring condition is about the missing Prometheus Operator
    // CRDs, not about Secrets: the check read them.
    let (status, message) = eventually("MonitoringReady", || async {
        let service = services.get("canary").await.ok()?;
        condition(&service, "MonitoringReady")
    })
    .await;
    assert_eq!(status, "False");
    assert!(
        message.starts_with("Prometheus Operator CRDs missing"),
        "{message}"
    );

    // The Deployment takes the URL by reference only.
    let text = serde_json::to_string(&deployment).unwrap();
    assert_clean("the Deployment", &text);
    assert!(
        text.contains("\"secretKeyRef\":{\"key\":\"url\",\"name\":\"history\""),
        "{text}"
    );

    let all = ListParams::default();
    let mut written = Vec::new();
    written.push(serde_json::to_string(&services.list(&all).await.unwrap().items).unwrap());
    written.push(serde_json::to_string(&deployments.list(&all).await.unwrap().items).unwrap());
    let services_api: Api<Service> = Api::namespaced(client.clone(), "default");
    written.push(serde_json::to_string(&services_api.list(&all).await.unwrap().items).unwrap());
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    written.push(serde_json::to_string(&accounts.list(&all).await.unwrap().items).unwrap());
    let config_maps: Api<ConfigMap> = Api::all(client.clone());
    written.push(serde_json::to_string(&config_maps.list(&all).await.unwrap().items).unwrap());
    let events: Api<Event> = Api::all(client.clone());
    if let Ok(list) = events.list(&all).await {
        written.push(serde_json::to_string(&list.items).unwrap());
    }
    assert_clean("objects, status and events", &written.join("\n"));
    operator.abort();
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logged.contains("canary"),
        "the reconcile was logged at debug level"
    );
    assert_clean("the operator's logs", &logged);
}

#[test]
fn render_without_alertmanager_config_prints_no_secret_value() {
    let manifest = [
        serde_yaml::to_string(&secret("slack", "url", CANARIES[0])).unwrap(),
        serde_yaml::to_string(&secret("pagerduty", "key", CANARIES[1])).unwrap(),
        serde_yaml::to_string(&secret("history", "url", CANARIES[2])).unwrap(),
        serde_yaml::to_string(&json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService", "metadata": {"name": "canary", "namespace": "default"}, "spec": spec()})).unwrap(),
    ]
    .join("---\n");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), manifest).unwrap();
    let output = crate::support::run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_dice-operator"))
            .args(["render", "-f"])
            .arg(file.path()),
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("kind: Deployment"));
    assert_clean("render's output", &printed);
    assert_clean("render's errors", &String::from_utf8_lossy(&output.stderr));
}
