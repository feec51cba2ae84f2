//! The install path a platform team takes: `kubectl apply --server-side` of
//! manifests/install.yaml and of `helm template` output onto the fake API server, then the
//! operator run as the installed Deployment runs it — its environment, and requests as its
//! ServiceAccount, authorised by exactly the RBAC objects just applied.

use crate::chart::{FULL_VALUES, chart, documents, helm, template};
use crate::scenario::{self, Cluster};
use crate::support::repo;
use fake_apiserver::kubectl::{kubectl_installed, kubectl_with_input};
use fake_apiserver::{FakeApiServer, Served};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

pub(crate) const RELEASE_NAMESPACE: &str = "dice-system";

/// `kubectl apply --server-side -f -` of `yaml` as the admin, each object in its own
/// namespace (as `kubectl apply -f` of an install manifest is run); returns what kubectl said.
pub(crate) async fn apply_all(kubeconfig: &std::path::Path, yaml: String) -> String {
    let output = kubectl_with_input(kubeconfig, &["apply", "--server-side", "-f", "-"], yaml)
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The operator container's environment as the Deployment sets it, with the downward API
/// fields filled in as the kubelet would and the admin port on a free loopback port.
fn operator_environment(deployment: &Value) -> Vec<(String, String)> {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|var| {
            let name = var["name"].as_str().unwrap().to_owned();
            let value = match var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some("metadata.namespace") => RELEASE_NAMESPACE.to_owned(),
                Some("metadata.name") => "dice-operator-0".to_owned(),
                Some(other) => panic!("unexpected fieldRef {other}"),
                None => var["value"].as_str().unwrap().to_owned(),
            };
            (name, value)
        })
        .map(|(name, value)| match name.as_str() {
            "DICE_OPERATOR_ADMIN_LISTEN" => (name, "127.0.0.1:0".to_owned()),
            _ => (name, value),
        })
        .collect()
}

/// Runs the operator as the installed Deployment among `objects` runs it: its environment, and
/// requests as its ServiceAccount. Returns the process, the account's name and the log file.
pub(crate) fn start_installed(
    objects: &[Value],
    served: &Served,
) -> (Running, String, tempfile::NamedTempFile) {
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("the operator's Deployment");
    let account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .unwrap()
        .to_owned();
    let as_operator = served.kubeconfig_for(RELEASE_NAMESPACE, &account).unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let operator = Running(
        Command::new(env!("CARGO_BIN_EXE_dice-operator"))
            .arg("run")
            .envs(operator_environment(deployment))
            .env("KUBECONFIG", &as_operator)
            .stdout(log.reopen().unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
        log.path().to_path_buf(),
    );
    (operator, account, log)
}

/// Every request of the operator's that the fake API server refused (403), as `METHOD uri`.
pub(crate) fn refused(server: &FakeApiServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter(|r| r.remote && r.status == 403)
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect()
}

/// The operator process, killed when dropped (a failed assertion must not leave it running).
pub(crate) struct Running(std::process::Child, std::path::PathBuf);

impl Running {
    pub(crate) fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let logs = std::fs::read_to_string(&self.1).unwrap_or_default();
            eprintln!("--- dice-operator logs ---\n{logs}");
        }
    }
}

/// The admin's view of one namespace of the fake API server.
pub(crate) fn admin(served: &Served, namespace: &str) -> Cluster {
    Cluster {
        kubeconfig: served.kubeconfig.clone(),
        namespace: namespace.into(),
        simulate_kubelet: false,
        patience: Duration::from_secs(30),
        workload_image: "dice-server:e2e".into(),
        writes: None,
    }
}

/// A fake API server with the CRDs installed, and whether the Prometheus Operator's are among
/// them; `None` (and a `SKIP:` line) without kubectl.
pub(crate) async fn fake_api_server_with_crds() -> Option<(FakeApiServer, Served, bool)> {
    if !kubectl_installed() {
        println!("SKIP: kubectl is not installed");
        return None;
    }
    let server = FakeApiServer::new();
    // As on OpenShift and hardened clusters: blockOwnerDeletion needs `update` on the owner's
    // finalizers, so the install's RBAC is checked for it too.
    server.enforce_owner_reference_permissions();
    let served = server.serve_locally().await.unwrap();
    let crds = scenario::crd_files();
    for crd in &crds {
        admin(&served, "default")
            .kubectl(&["apply", "--server-side", "-f", &crd.display().to_string()])
            .await;
    }
    Some((server, served, crds.len() > 1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_install_manifest_applies_and_the_operator_runs_with_exactly_its_rbac() {
    let Some((server, served, monitoring)) = fake_api_server_with_crds().await else {
        return;
    };
    let admin = |namespace: &str| admin(&served, namespace);
    let install = repo("manifests/install.yaml");
    let text = std::fs::read_to_string(&install).unwrap();
    let objects = documents(&text);
    let applied = apply_all(&served.kubeconfig, text.clone()).await;
    assert_eq!(
        applied.matches("serverside-applied").count(),
        objects.len(),
        "every object of the install manifest applies:\n{applied}"
    );

    let (mut operator, account, log) = start_installed(&objects, &served);
    let kubelet = tokio::spawn(fake_apiserver::kubelet::simulate(server.client()));

    let shop = admin("shop");
    shop.create_namespace().await;
    admin("monitoring").create_namespace().await;
    for (secret, literal) in [
        ("shop-slack", "webhook-url=http://127.0.0.1:9/slack"),
        (
            "shop-pagerduty",
            "routing-key=0123456789abcdef0123456789abcdef",
        ),
    ] {
        shop.kubectl(&[
            "create",
            "secret",
            "generic",
            secret,
            &format!("--from-literal={literal}"),
        ])
        .await;
    }
    let spec = "  replicas: 2\n  autoscaling: {minReplicas: 2, maxReplicas: 4}\n  \
         networkPolicy: {enabled: true}\n  monitoring:\n    probe: {enabled: true}\n    \
         dashboard: {namespace: monitoring}\n  alerting:\n    slack:\n      channel: '#shop'\n      \
         apiURL: {name: shop-slack, key: webhook-url}\n    pagerDuty:\n      \
         routingKey: {name: shop-pagerduty, key: routing-key}\n";
    let manifest = |spec: &str| {
        format!(
            "apiVersion: dice.dev/v1alpha1\nkind: DiceService\nmetadata:\n  name: shop\nspec:\n{spec}"
        )
    };
    let (ok, _, stderr) = shop
        .try_kubectl(&["apply", "--server-side", "-f", "-"], Some(manifest(spec)))
        .await;
    assert!(ok, "{stderr}");
    shop.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "dice/shop",
        "--timeout=60s",
    ])
    .await;
    let mut kinds = vec![
        "deployment",
        "service",
        "serviceaccount",
        "hpa",
        "pdb",
        "networkpolicy",
    ];
    if monitoring {
        kinds.extend([
            "servicemonitor",
            "prometheusrule",
            "probe",
            "alertmanagerconfig",
        ]);
    }
    for kind in kinds {
        shop.eventually(&format!("the {kind}"), || shop.get(kind, "shop"))
            .await;
    }
    let dashboards = admin("monitoring");
    dashboards
        .eventually("the dashboard", || {
            dashboards.get("configmap", "shop.shop-dashboard")
        })
        .await;
    let events = shop.kubectl(&["get", "events"]).await;
    assert!(
        events.contains("Created") && events.contains("Ready"),
        "{events}"
    );

    // Switched off, the autoscaler and the policy are deleted — with the delete verb the
    // chart grants.
    let (ok, _, stderr) = shop
        .try_kubectl(
            &["apply", "--server-side", "-f", "-"],
            Some(manifest("  replicas: 2\n")),
        )
        .await;
    assert!(ok, "{stderr}");
    for kind in ["hpa", "networkpolicy"] {
        shop.eventually(&format!("the {kind} to be deleted"), || async {
            shop.get(kind, "shop").await.is_none().then_some(())
        })
        .await;
    }

    let forbidden = refused(&server);
    operator.stop();
    kubelet.abort();
    let logs = std::fs::read_to_string(log.path()).unwrap_or_default();
    assert!(
        forbidden.is_empty(),
        "the operator was refused: {forbidden:?}\n{logs}"
    );
    assert!(!logs.contains("forbidden"), "{logs}");

    // The check is real: what the chart does not grant is refused to the same identity.
    let identity = format!("--as=system:serviceaccount:{RELEASE_NAMESPACE}:{account}");
    let (ok, _, stderr) = shop.try_kubectl(&["get", "secrets", &identity], None).await;
    assert!(!ok, "listing Secrets must be refused");
    assert!(
        stderr.contains("cannot list resource \"secrets\""),
        "{stderr}"
    );
    let (ok, _, stderr) = shop
        .try_kubectl(&["delete", "deployment", "shop", &identity], None)
        .await;
    assert!(!ok && stderr.contains("forbidden"), "{stderr}");
}

/// `helm template` with the full values applies as it is (the chart's own ServiceMonitor and
/// PrometheusRule too, when the Prometheus Operator CRDs are there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_template_output_applies_with_kubectl() {
    let Some(helm) = helm() else { return };
    let Some((_server, served, monitoring)) = fake_api_server_with_crds().await else {
        return;
    };
    let admin = |namespace: &str| admin(&served, namespace);
    for namespace in [RELEASE_NAMESPACE, "dice"] {
        admin(namespace).create_namespace().await;
    }
    let full = chart().join(FULL_VALUES);
    let rendered = template(&helm, &["--include-crds", "-f", full.to_str().unwrap()]).unwrap();
    let objects: Vec<Value> = documents(&rendered)
        .into_iter()
        .filter(|o| {
            monitoring
                || !o["apiVersion"]
                    .as_str()
                    .unwrap()
                    .starts_with("monitoring.coreos.com/")
        })
        .collect();
    let yaml: Vec<String> = objects
        .iter()
        .map(|o| dice_operator::yaml::to_string(o).unwrap())
        .collect();
    let stdout = apply_all(&served.kubeconfig, yaml.join("---\n")).await;
    assert_eq!(
        stdout.matches("serverside-applied").count(),
        objects.len(),
        "{stdout}"
    );
}
