//! A converged cluster with every child kind served (the upstream Prometheus Operator CRDs when
//! ../shared/third_party is here, permissive ones otherwise) and the full example's spec: the
//! operator writes nothing while idle, and an operator started again on it writes nothing
//! either (the issue-19 idle and restart checks, at a small scale). The benchmark measures the
//! same at thousands (`convergence-bench`).

use crate::monitoring::install_prometheus_operator_crds;
use crate::scenario::crd_files;
use crate::support::{self, eventually, repo};
use dice_operator::crd::DiceService;
use dice_operator::metrics::OperatorMetrics;
use fake_apiserver::FakeApiServer;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

const SERVICES: usize = 8;

/// The full example's DiceService spec, after creating its Secrets in `default`.
async fn full_example(client: &kube::Client) -> Value {
    let text = std::fs::read_to_string(repo("manifests/examples/full.yaml")).unwrap();
    let mut spec = None;
    for document in serde_yaml::Deserializer::from_str(&text) {
        let document = Value::deserialize(document).unwrap();
        match document["kind"].as_str() {
            Some("Secret") => {
                let mut secret: Secret = serde_json::from_value(document).unwrap();
                secret.metadata.namespace = Some("default".into());
                Api::<Secret>::namespaced(client.clone(), "default")
                    .create(&PostParams::default(), &secret)
                    .await
                    .unwrap();
            }
            Some("DiceService") => spec = Some(document["spec"].clone()),
            _ => {}
        }
    }
    spec.unwrap()
}

/// Every CRD the scenario installs, or the permissive monitoring ones without the upstream.
async fn install_crds(server: &FakeApiServer) -> kube::Client {
    let client = server.client();
    let crds = crd_files();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for path in &crds {
        let crd: CustomResourceDefinition =
            serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        api.create(&PostParams::default(), &crd).await.unwrap();
    }
    if crds.len() == 1 {
        install_prometheus_operator_crds(&client).await;
    }
    client
}

/// A fake API server with every CRD, the full example's Secrets and a simulated kubelet; the
/// example's DiceService spec.
pub(crate) async fn cluster_for_full_example()
-> (FakeApiServer, kube::Client, Value, JoinHandle<()>) {
    let server = FakeApiServer::new();
    let client = install_crds(&server).await;
    support::create_namespaces(&client, &["monitoring"]).await;
    let spec = full_example(&client).await;
    let kubelet = tokio::spawn(fake_apiserver::kubelet::simulate(client.clone()));
    (server, client, spec, kubelet)
}

/// Writes (not reads) in the request log from index `from` on, but the simulated kubelet's and
/// controllers' status churn.
fn writes_since(server: &FakeApiServer, from: usize) -> Vec<String> {
    let simulated = format!("fieldManager={}", fake_apiserver::kubelet::MANAGER);
    server
        .requests()
        .into_iter()
        .skip(from)
        .filter(|r| r.method != "GET" && !r.uri.contains(&simulated))
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect()
}

/// Applies `count` DiceServices `dice-<n>` with `spec` in `default` and waits until each is
/// Ready.
pub(crate) async fn converge(client: &kube::Client, spec: &Value, count: usize) {
    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");
    for n in 0..count {
        support::apply(&services, &format!("dice-{n}"), spec.clone()).await;
    }
    eventually("every DiceService Ready", || async {
        let listed = services.list(&Default::default()).await.unwrap();
        let ready = listed
            .iter()
            .filter(|s| support::condition(s, "Ready").is_some_and(|(status, _)| status == "True"));
        (ready.count() == count).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converged_cluster_gets_no_writes_idle_or_after_a_restart() {
    let (server, client, spec, kubelet) = cluster_for_full_example().await;
    let metrics = Arc::new(OperatorMetrics::default());
    let first = support::start_operator(&client, metrics.clone());
    converge(&client, &spec, SERVICES).await;
    let converged = server.requests().len();
    // Every request the operator counts as sent for children is an apply or a delete: none
    // looked a child up (the simulated controllers' own reads are not counted).
    let writes = server.requests()[..converged]
        .iter()
        .filter(|r| {
            let child = !r.uri.contains("/diceservices/");
            let by_operator = r.method == "DELETE" || r.uri.contains("fieldManager=dice-operator");
            child && by_operator && (r.method == "PATCH" || r.method == "DELETE")
        })
        .count() as u64;
    assert_eq!(
        metrics.child_applies.get(),
        writes,
        "absent children are known absent from the watches: no lookups"
    );
    let kinds = server
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.uri.contains("/monitoring.coreos.com/"))
        .count();
    assert!(
        kinds >= 4 * SERVICES,
        "every monitoring kind applied ({kinds} applies)"
    );

    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        writes_since(&server, converged),
        Vec::<String>::new(),
        "idle"
    );

    first.abort();
    let _ = first.await;
    let restarted = server.requests().len();
    let metrics = Arc::new(OperatorMetrics::default());
    let second = support::start_operator(&client, metrics.clone());
    eventually("every DiceService reconciled again", || async {
        let reconciled: u64 = ["success", "degraded", "error"]
            .into_iter()
            .map(|result| {
                let labels = dice_operator::metrics::ResultLabels { result };
                metrics.reconciliations.get_or_create(&labels).get()
            })
            .sum();
        (reconciled >= SERVICES as u64).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        writes_since(&server, restarted),
        Vec::<String>::new(),
        "after the restart"
    );
    second.abort();
    kubelet.abort();
}

/// Every in-memory map and its size, as `dice_operator_held_entries` publishes them (the
/// operator's own list of maps, read from its registry).
fn held(metrics: &OperatorMetrics) -> Vec<(String, i64)> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics.registry).unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("dice_operator_held_entries{map=\""))
        .filter_map(|line| {
            let (map, size) = line.split_once("\"} ")?;
            Some((map.to_owned(), size.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_map_is_empty_once_everything_is_deleted() {
    let (_server, client, spec, kubelet) = cluster_for_full_example().await;
    let metrics = Arc::new(OperatorMetrics::default());
    let operator = support::start_operator(&client, metrics.clone());
    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");
    // Converging, invalid (Degraded, never retried) and naming Secrets that do not exist
    // (rechecked every 30 s): each leaves its own kind of entry behind if one leaks.
    let mut missing_secrets = spec.clone();
    missing_secrets["alerting"]["slack"]["apiURL"]["name"] = "nowhere".into();
    missing_secrets["history"]["postgres"]["secretRef"]["name"] = "nowhere".into();
    for n in 0..3 {
        support::apply(&services, &format!("full-{n}"), spec.clone()).await;
        support::apply(&services, &format!("secrets-{n}"), missing_secrets.clone()).await;
        // The schema admits the name; a Service cannot carry it (over 63 characters).
        let invalid = format!("invalid-{n}-{}", "x".repeat(60));
        support::apply(&services, &invalid, spec.clone()).await;
    }
    eventually("every map to hold entries", || async {
        let held = held(&metrics);
        // All but `failures`, which holds only DiceServices in backoff, `status_writes`, which
        // holds only writes the watch has not shown yet, and the claims store (the example
        // keeps its history in PostgreSQL).
        // `foreign_names` counts other objects (default ServiceAccounts, CA ConfigMaps), not
        // DiceServices' state, so it is left out here and below.
        let unfilled: Vec<&str> = held
            .iter()
            .filter(|(_, size)| *size == 0)
            .map(|(map, _)| map.as_str())
            .collect();
        (!held.is_empty()
            && unfilled.iter().all(|m| {
                [
                    "failures",
                    "status_writes",
                    "persistentvolumeclaims",
                    "foreign_names",
                ]
                .contains(m)
            }))
        .then_some(())
    })
    .await;

    for service in services.list(&Default::default()).await.unwrap() {
        let name = kube::ResourceExt::name_any(&service);
        services.delete(&name, &Default::default()).await.unwrap();
    }
    let started = std::time::Instant::now();
    loop {
        let held: Vec<_> = held(&metrics)
            .into_iter()
            .filter(|(map, _)| map != "foreign_names")
            .collect();
        if held.iter().all(|(_, size)| *size == 0) {
            break;
        }
        // Cached Secret key names expire after 10 s; the gauges are published every 2 s.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "maps still hold entries after every DiceService was deleted: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    operator.abort();
    kubelet.abort();
}
