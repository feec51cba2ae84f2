//! The real dice-operator binary, driven with kubectl: against the fake API server over HTTP in
//! `make test`, and against the cluster in KUBECONFIG with `make e2e-cluster`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod scenario;

use dice_e2e::FakeApiServer;
use dice_e2e::kubectl::kubectl_installed;
use scenario::Cluster;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_binary_against_the_fake_api_server() {
    if !kubectl_installed() {
        println!("SKIP: kubectl is not installed");
        return;
    }
    let server = FakeApiServer::new();
    let served = server.serve_locally().await.unwrap();
    let writes = server.clone();
    let cluster = Cluster {
        kubeconfig: served.kubeconfig.clone(),
        namespace: "games".into(),
        simulate_kubelet: true,
        patience: Duration::from_secs(20),
        workload_image: "dice-server:e2e".into(),
        writes: Some(Box::new(move || writes.writes_except_leases())),
    };
    scenario::run(&cluster).await;
}

/// Deletes the scenario's namespace, whatever the outcome.
struct Namespace(Cluster);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.0.kubeconfig)
            .args(["delete", "namespace", &self.0.namespace, "--wait=false"])
            .status();
    }
}

/// Needs a cluster you may create a namespace and install a CRD in (kind, k3d, …) and an image
/// of dice-server its nodes can pull: `make e2e-cluster DICE_E2E_IMAGE=…` (see README).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real cluster: run `make e2e-cluster` with KUBECONFIG set"]
async fn operator_binary_against_the_cluster_in_kubeconfig() {
    let kubeconfig = std::env::var_os("KUBECONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".kube/config"))
        })
        .expect("KUBECONFIG or ~/.kube/config");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cluster = Namespace(Cluster {
        kubeconfig,
        namespace: format!("dice-e2e-{stamp}"),
        simulate_kubelet: false,
        patience: Duration::from_secs(180),
        workload_image: std::env::var("DICE_E2E_IMAGE")
            .unwrap_or_else(|_| dice_operator::DEFAULT_WORKLOAD_IMAGE.to_owned()),
        writes: None,
    });
    cluster.0.create_namespace().await;
    scenario::run(&cluster.0).await;
}
