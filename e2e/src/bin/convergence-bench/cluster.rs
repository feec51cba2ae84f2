//! What the benchmark installs: the DiceService CRD, the Prometheus Operator CRDs (so every
//! child kind is served), and DiceServices with an example's spec and the Secrets it names.

use crate::Args;
use fake_apiserver::{FakeApiServer, Served};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::Path;

pub const NAMESPACE: &str = "default";

fn documents(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document).map_err(|e| format!("{}: {e}", path.display()))
        })
        .filter(|document| !matches!(document, Ok(Value::Null)))
        .collect()
}

pub async fn install_crd(client: &kube::Client, path: &Path) -> Result<(), String> {
    for document in documents(path)? {
        let crd: CustomResourceDefinition =
            serde_json::from_value(document).map_err(|e| format!("{}: {e}", path.display()))?;
        Api::<CustomResourceDefinition>::all(client.clone())
            .create(&PostParams::default(), &crd)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Registers every `*.yaml` CRD in `directory`; says how many, or why none.
pub async fn install_monitoring_crds(
    client: &kube::Client,
    directory: &Path,
) -> Result<usize, String> {
    let mut paths: Vec<_> = std::fs::read_dir(directory)
        .map_err(|e| format!("{}: {e}", directory.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    for path in &paths {
        install_crd(client, path).await?;
    }
    Ok(paths.len())
}

/// The example's DiceService spec, after creating the Secrets the example defines (in
/// [`NAMESPACE`]). `None` for `spec: {}`.
pub async fn example_spec(client: &kube::Client, example: Option<&Path>) -> Result<Value, String> {
    let Some(example) = example else {
        return Ok(json!({}));
    };
    let mut spec = None;
    for document in documents(example)? {
        match document["kind"].as_str() {
            Some("Secret") => {
                let mut secret: Secret =
                    serde_json::from_value(document).map_err(|e| e.to_string())?;
                secret.metadata.namespace = Some(NAMESPACE.into());
                Api::<Secret>::namespaced(client.clone(), NAMESPACE)
                    .create(&PostParams::default(), &secret)
                    .await
                    .map_err(|e| format!("Secret: {e}"))?;
            }
            Some("DiceService") => spec = Some(document["spec"].clone()),
            _ => {}
        }
    }
    let spec = spec.ok_or_else(|| format!("{}: no DiceService", example.display()))?;
    // The dashboard's namespace is a prerequisite of the example, as for a user.
    if let Some(namespace) = spec["monitoring"]["dashboard"]["namespace"].as_str() {
        let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace}}))
            .map_err(|e| e.to_string())?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .map_err(|e| format!("Namespace: {e}"))?;
    }
    Ok(spec)
}

pub fn dice_services(client: &kube::Client) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("dice.dev", "v1alpha1", "DiceService"),
        "diceservices",
    );
    Api::namespaced_with(client.clone(), NAMESPACE, &resource)
}

/// Creates `dice-{n:05}` for every `n` in `names`, each with `spec`.
pub async fn create(
    client: &kube::Client,
    spec: &Value,
    names: std::ops::Range<usize>,
) -> Result<(), String> {
    let members = names
        .map(|n| (format!("dice-{n:05}"), spec.clone()))
        .collect();
    create_each(client, members).await
}

/// Creates each (name, spec) with server-side apply, 32 at a time.
pub async fn create_each(
    client: &kube::Client,
    members: Vec<(String, Value)>,
) -> Result<(), String> {
    let services = dice_services(client);
    thirty_two_at_a_time(members, |(name, spec)| {
        let services = services.clone();
        async move {
            let body = json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService",
                "metadata": {"name": name}, "spec": spec});
            services
                .patch(&name, &PatchParams::apply("bench"), &Patch::Apply(&body))
                .await
                .map(|_| ())
        }
    })
    .await
}

/// Deletes every DiceService, 32 at a time.
pub async fn delete_all(client: &kube::Client) -> Result<(), String> {
    let services = dice_services(client);
    let names: Vec<String> = services
        .list(&Default::default())
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    thirty_two_at_a_time(names, |name| {
        let services = services.clone();
        async move {
            services
                .delete(&name, &DeleteParams::default())
                .await
                .map(|_| ())
        }
    })
    .await
}

pub async fn thirty_two_at_a_time<T, F, Fut>(items: Vec<T>, request: F) -> Result<(), String>
where
    F: FnMut(T) -> Fut,
    Fut: std::future::Future<Output = Result<(), kube::Error>>,
{
    futures_util::stream::iter(items)
        .map(request)
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A fresh fake API server on 127.0.0.1 with the CRDs, the example's Secrets and a simulated
/// kubelet: where each run (or soak) starts.
pub struct Cluster {
    pub server: FakeApiServer,
    pub served: Served,
    pub client: kube::Client,
    /// Prometheus Operator CRDs registered (0: the monitoring children are skipped).
    pub monitoring_kinds: usize,
    pub spec: Value,
    kubelet: tokio::task::JoinHandle<()>,
}

impl Cluster {
    pub async fn start(args: &Args) -> Result<Self, String> {
        let server = FakeApiServer::new();
        let served = server.serve_locally().await.map_err(|e| e.to_string())?;
        let client = server.client();
        install_crd(&client, &args.crd).await?;
        let monitoring_kinds = if args.monitoring_crds.is_dir() {
            install_monitoring_crds(&client, &args.monitoring_crds).await?
        } else {
            0
        };
        let example = (args.example != "none").then(|| Path::new(&args.example));
        let spec = example_spec(&client, example).await?;
        crate::foreign::create(&client, args.foreign_per_kind, monitoring_kinds > 0).await?;
        let kubelet = tokio::spawn(fake_apiserver::kubelet::simulate(client.clone()));
        Ok(Self {
            server,
            served,
            client,
            monitoring_kinds,
            spec,
            kubelet,
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kubelet.abort();
    }
}

pub fn ready_count(list: &[DynamicObject]) -> usize {
    list.iter()
        .filter(|o| {
            o.data["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .count()
}
