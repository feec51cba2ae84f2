//! The real dice-operator binary against the fake API server over HTTP, driven with kubectl.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use dice_e2e::FakeApiServer;
use dice_e2e::kubectl::{kubectl, kubectl_installed};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .display()
        .to_string()
}

/// Runs kubectl expecting success; returns its standard output.
async fn succeed(config: &Path, args: &[&str]) -> String {
    let output = kubectl(config, args).await.expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

struct Operator(std::process::Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_binary_reconciles_what_kubectl_applies() {
    if !kubectl_installed() {
        println!("SKIP: kubectl is not installed");
        return;
    }
    let server = FakeApiServer::new();
    let served = server.serve_locally().await.unwrap();
    let config = served.kubeconfig.clone();

    succeed(
        &config,
        &[
            "apply",
            "--server-side",
            "-f",
            &repo("crds/diceservice.yaml"),
        ],
    )
    .await;
    let mut operator = Operator(
        Command::new(env!("CARGO_BIN_EXE_dice-operator"))
            .args([
                "run",
                "--admin-listen",
                "127.0.0.1:0",
                "--workload-image",
                "dice-server:e2e",
            ])
            .env("KUBECONFIG", &config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("operator starts"),
    );
    succeed(
        &config,
        &[
            "apply",
            "--server-side",
            "-f",
            &repo("manifests/examples/minimal.yaml"),
        ],
    )
    .await;

    let deployments: Api<Deployment> = Api::namespaced(server.client(), "default");
    let started = Instant::now();
    let deployment = loop {
        if let Some(deployment) = deployments.get_opt("dice").await.unwrap() {
            break deployment;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the operator never created the Deployment"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        deployment.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .as_deref(),
        Some("dice-server:e2e")
    );
    let kubelet = serde_json::json!({"status": {"replicas": 1, "readyReplicas": 1, "updatedReplicas": 1,
        "observedGeneration": deployment.metadata.generation}});
    deployments
        .patch_status("dice", &PatchParams::default(), &Patch::Merge(&kubelet))
        .await
        .unwrap();

    let row = loop {
        let table = succeed(&config, &["get", "dice", "dice", "--no-headers"]).await;
        if table.split_whitespace().nth(1) == Some("True") {
            break table;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never Ready: {table}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..4],
        ["dice", "True", "1/1", "http://dice.default.svc"],
        "{row}"
    );

    let writes = server.writes();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        server.writes(),
        writes,
        "the operator wrote while idle for 10 s"
    );

    let pid = operator.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = operator.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "the operator ignored SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}
