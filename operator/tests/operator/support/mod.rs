//! Helpers the tests share: paths in the repository and beside it, a fake cluster with the
//! DiceService CRD, the controller running against it, and polling with a deadline.

use dice_operator::controller::{self, Context};
use dice_operator::crd::DiceService;
use dice_operator::metrics::OperatorMetrics;
use dice_operator::validate::Defaults;
use fake_apiserver::FakeApiServer;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const DEADLINE: Duration = Duration::from_secs(15);

/// Runs `command` to its end and fails the test, with its standard error, unless it succeeded.
pub fn run_ok(command: &mut std::process::Command) -> std::process::Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A path in the repository (`""` for its root).
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A file of `../shared/third_party` (upstream CRDs and schemas, never copied into the
/// repository), when that folder is here.
pub fn third_party(path: &str) -> Option<PathBuf> {
    let path = repo("../shared/third_party").join(path);
    path.exists().then_some(path)
}

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

/// Creates each namespace, as a user must before putting objects in it (a real API server
/// answers 404 otherwise).
pub async fn create_namespaces(client: &kube::Client, names: &[&str]) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    for name in names {
        let namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        api.create(&PostParams::default(), &namespace)
            .await
            .unwrap();
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

/// The operator's applies of Deployments the server has received so far.
pub fn deployment_applies(server: &fake_apiserver::FakeApiServer) -> usize {
    let manager = format!("fieldManager={}", dice_operator::FIELD_MANAGER);
    server
        .requests()
        .iter()
        .filter(|r| {
            r.method == "PATCH" && r.uri.contains("/deployments/") && r.uri.contains(&manager)
        })
        .count()
}
