//! Helpers the in-process controller tests share: a fake cluster with the DiceService CRD, the
//! controller running against it, and polling with a deadline.
#![allow(dead_code)] // each test binary uses its own subset of these helpers

use dice_e2e::FakeApiServer;
use dice_operator::controller::{self, Context};
use dice_operator::crd::DiceService;
use dice_operator::metrics::OperatorMetrics;
use dice_operator::validate::Defaults;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const DEADLINE: Duration = Duration::from_secs(15);

/// The controller with default settings, recording into `metrics`, until the task is aborted.
pub fn start_operator(
    client: &kube::Client,
    metrics: Arc<OperatorMetrics>,
) -> tokio::task::JoinHandle<()> {
    let ctx = Context::new(
        client.clone(),
        Defaults::with_image("dice-server:test"),
        metrics,
        None,
    );
    tokio::spawn(async move {
        controller::run(
            ctx,
            &controller::Settings::default(),
            std::future::pending(),
        )
        .await;
    })
}

/// Polls `check` until it yields a value or the deadline passes.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fake API server with the DiceService CRD installed, and a client for it.
pub async fn cluster_with_crd() -> (FakeApiServer, kube::Client) {
    let server = FakeApiServer::new();
    let client = server.client();
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &DiceService::crd())
        .await
        .unwrap();
    (server, client)
}

pub fn condition(service: &DiceService, type_: &str) -> Option<(String, String)> {
    let status = service.status.as_ref()?;
    let condition = status.conditions.iter().find(|c| c.type_ == type_)?;
    Some((condition.status.clone(), condition.message.clone()))
}

/// `kubectl apply` of a DiceService named `name` with `spec`.
pub async fn apply(services: &Api<DiceService>, name: &str, spec: Value) {
    let manifest = json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService", "metadata": {"name": name}, "spec": spec});
    services
        .patch(
            name,
            &PatchParams::apply("kubectl"),
            &Patch::Apply(&manifest),
        )
        .await
        .unwrap();
}
