//! The real kubectl against the fake API server over HTTP: server-side apply of the CRD and the
//! minimal example, schema defaults, printer columns, and explain.

use fake_apiserver::FakeApiServer;
use fake_apiserver::kubectl::{kubectl, kubectl_installed};
use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Runs kubectl expecting success; returns everything it printed.
async fn succeed(config: &Path, args: &[&str]) -> String {
    let output = kubectl(config, args).await.expect("kubectl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "kubectl {args:?} failed:\n{text}");
    text
}

/// Runs kubectl expecting it to fail, and returns what it printed.
async fn run_expecting_failure(config: &Path, args: &[&str]) -> String {
    let output = kubectl(config, args).await.expect("kubectl runs");
    assert!(
        !output.status.success(),
        "kubectl {args:?} unexpectedly succeeded"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fake API server on 127.0.0.1 with its kubeconfig, or `None` (and a SKIP line) without
/// kubectl.
async fn served_for_kubectl() -> Option<fake_apiserver::Served> {
    if !kubectl_installed() {
        println!("SKIP: kubectl is not installed");
        return None;
    }
    Some(FakeApiServer::new().serve_locally().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_gets_and_explains_diceservices() {
    let Some(served) = served_for_kubectl().await else {
        return;
    };
    let config = served.kubeconfig.clone();
    let dir = config.parent().unwrap().to_path_buf();

    let crd = repo("crds/diceservice.yaml").display().to_string();
    let minimal = repo("manifests/examples/minimal.yaml")
        .display()
        .to_string();
    let applied = succeed(&config, &["apply", "--server-side", "-f", &crd]).await;
    assert!(
        applied.contains("diceservices.dice.dev serverside-applied"),
        "{applied}"
    );
    let applied = succeed(&config, &["apply", "--server-side", "-f", &minimal]).await;
    assert!(
        applied.contains("diceservice.dice.dev/dice serverside-applied"),
        "{applied}"
    );

    let table = succeed(&config, &["get", "dice"]).await;
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "READY", "REPLICAS", "URL", "AGE"],
        "{table}"
    );
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|row| row.starts_with("dice ")),
        "{table}"
    );

    let replicas = succeed(
        &config,
        &[
            "get",
            "dice",
            "dice",
            "-o",
            "jsonpath={.spec.replicas} {.spec.dice.maxDelay}",
        ],
    )
    .await;
    assert_eq!(replicas.trim(), "1 1s", "schema defaults are applied");

    let explained = succeed(&config, &["explain", "diceservice.spec.dice"]).await;
    assert!(explained.contains("riskyErrorRate"), "{explained}");
    let invalid = dir.join("invalid.yaml");
    std::fs::write(&invalid, "apiVersion: dice.dev/v1alpha1\nkind: DiceService\nmetadata:\n  name: bad\nspec:\n  dice:\n    maxDelay: 45s\n").unwrap();
    let refused = run_expecting_failure(
        &config,
        &[
            "apply",
            "--server-side",
            "-f",
            &invalid.display().to_string(),
        ],
    )
    .await;
    assert!(refused.contains("maxDelay must be shorter"), "{refused}");
}

/// As a real API server: names must be RFC 1123 (a label for Services), and a Deployment's
/// selector is immutable — which is also what refuses one Deployment being re-pointed at
/// another's pods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_validated_and_deployment_selectors_are_immutable() {
    let Some(served) = served_for_kubectl().await else {
        return;
    };
    let config = served.kubeconfig.clone();
    let dir = config.parent().unwrap().to_path_buf();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let bad_config_map = write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\ndata: {}\n",
    );
    let refused = run_expecting_failure(&config, &["apply", "-f", &bad_config_map]).await;
    assert!(refused.contains("RFC 1123 subdomain"), "{refused}");
    let dotted_service = write(
        "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: a.b\nspec:\n  ports:\n  - port: 80\n",
    );
    let refused = run_expecting_failure(&config, &["apply", "-f", &dotted_service]).await;
    assert!(refused.contains("DNS-1035 label"), "{refused}");

    let deployment = |app: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels:\n      app: {app}\n  template:\n    metadata:\n      labels:\n        app: {app}\n    spec:\n      containers:\n      - name: c\n        image: x\n"
        )
    };
    let first = write("d1.yaml", &deployment("web"));
    succeed(&config, &["apply", "-f", &first]).await;
    let repointed = write("d2.yaml", &deployment("billing"));
    let refused = run_expecting_failure(&config, &["apply", "-f", &repointed]).await;
    assert!(refused.contains("field is immutable"), "{refused}");
}
