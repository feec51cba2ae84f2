//! The real dice-operator binary, driven with kubectl: against the fake API server over HTTP in
//! `make test`, and against the cluster in KUBECONFIG with `make e2e-cluster`.

use crate::scenario;
use crate::takeover;

use fake_apiserver::FakeApiServer;
use fake_apiserver::kubectl::{kubectl, kubectl_installed, kubectl_with_input};
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
        simulate_kubelet: true,
        writes: Some(Box::new(move || writes.writes_except_leases())),
        ..fake_cluster(&served.kubeconfig, "games")
    };
    cluster.create_namespace().await;
    scenario::run(&cluster).await;
}

/// Events, `kubectl scale`, autoscaling, the disruption budget and network policy, through
/// the real kubectl, with the fake kubelet marking pods ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_kubernetes_citizen_against_the_fake_api_server() {
    if !kubectl_installed() {
        println!("SKIP: kubectl is not installed");
        return;
    }
    let server = FakeApiServer::new();
    let served = server.serve_locally().await.unwrap();
    let kubelet = tokio::spawn(fake_apiserver::kubelet::simulate(server.client()));
    let writes = server.clone();
    let cluster = Cluster {
        writes: Some(Box::new(move || writes.writes_except_leases())),
        ..fake_cluster(&served.kubeconfig, "citizens")
    };
    cluster.create_namespace().await;
    scenario::citizen::run(&cluster, true).await;
    kubelet.abort();
}

/// The fake API server seen from one namespace, with nothing simulated.
fn fake_cluster(kubeconfig: &std::path::Path, namespace: &str) -> Cluster {
    Cluster {
        kubeconfig: kubeconfig.to_path_buf(),
        namespace: namespace.into(),
        simulate_kubelet: false,
        patience: Duration::from_secs(20),
        workload_image: "dice-server:e2e".into(),
        writes: None,
    }
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
/// of dice-server its nodes can pull: `make e2e-cluster DICE_E2E_IMAGE=…` (see docs/operator.md, End-to-end tests).
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
    scenario::citizen::run(&cluster.0, false).await;
}

/// `dice-operator render -f EXAMPLE | kubectl apply -f -` for every example — kubectl reads the
/// output with YAML 1.1 rules and asks for strict field validation, the fake API server decodes
/// built-in kinds into their types as a real one does — then the operator, started afterwards,
/// takes over the same objects without a conflict: each gets its controller reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_examples_apply_with_kubectl_and_the_operator_takes_them_over() {
    if !kubectl_installed() {
        println!("SKIP: kubectl is not installed");
        return;
    }
    let server = FakeApiServer::new();
    let served = server.serve_locally().await.unwrap();
    let cluster_in = |namespace: &str| fake_cluster(&served.kubeconfig, namespace);
    let default = cluster_in("default");
    let crds = scenario::crd_files();
    for crd in &crds {
        default
            .kubectl(&["apply", "--server-side", "-f", &crd.display().to_string()])
            .await;
    }
    for namespace in ["dice", "monitoring"] {
        cluster_in(namespace).create_namespace().await;
    }

    let mut rendered_objects = Vec::new();
    for example in ["minimal", "gpu", "full"] {
        let path = scenario::repo(&format!("manifests/examples/{example}.yaml"));
        let output = crate::support::run_ok(
            std::process::Command::new(env!("CARGO_BIN_EXE_dice-operator")).args([
                "render",
                "-f",
                &path.display().to_string(),
            ]),
        );
        let mut documents = String::new();
        for document in String::from_utf8(output.stdout).unwrap().split("---\n") {
            let object = match serde_yaml::from_str::<serde_json::Value>(document) {
                Ok(object) if !object.is_null() => object,
                _ => continue,
            };
            let monitoring = object["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("monitoring.coreos.com"));
            if monitoring && crds.len() == 1 {
                continue;
            }
            rendered_objects.push(object);
            documents.push_str("---\n");
            documents.push_str(document);
        }
        // Client-side apply, kubectl's default: YAML read by Go, fieldValidation=Strict.
        // Objects name their own namespaces, so no --namespace here.
        let output = kubectl_with_input(&served.kubeconfig, &["apply", "-f", "-"], documents)
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "kubectl apply of `render {example}` failed:\n{stderr}"
        );
        assert!(stdout.contains("deployment.apps/"), "{stdout}");
        let example = path.display().to_string();
        let output = kubectl(
            &served.kubeconfig,
            &["apply", "--server-side", "-f", &example],
        )
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "kubectl apply of {example}: {stderr}"
        );
    }

    let operator = scenario::Operator::start_watching(&default, None);
    for object in &rendered_objects {
        let metadata = &object["metadata"];
        let namespace = metadata["namespace"].as_str().unwrap_or("default");
        let cluster = cluster_in(namespace);
        let kind = object["kind"].as_str().unwrap().to_ascii_lowercase();
        let name = metadata["name"].as_str().unwrap();
        let instance = metadata["labels"]["app.kubernetes.io/instance"]
            .as_str()
            .unwrap_or(name)
            .to_owned();
        let owner_namespace = if kind == "configmap" && namespace == "monitoring" {
            "dice"
        } else {
            namespace
        };
        let owner = cluster_in(owner_namespace)
            .get("diceservice", &instance)
            .await
            .unwrap_or_else(|| panic!("DiceService {owner_namespace}/{instance}"));
        let uid = owner["metadata"]["uid"].as_str().unwrap().to_owned();
        cluster
            .eventually(&format!("{kind} {namespace}/{name} taken over"), || async {
                let live = cluster.get(&kind, name).await?;
                let controlled = live["metadata"]["ownerReferences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|o| o["uid"] == uid.as_str() && o["controller"] == true);
                let annotated = live["metadata"]["annotations"]["dice.dev/owner"].is_string();
                (controlled || annotated).then_some(())
            })
            .await;
    }
    for (namespace, name) in [
        ("default", "dice"),
        ("default", "dice-gpu"),
        ("dice", "dice-full"),
    ] {
        let service = cluster_in(namespace)
            .get("diceservice", name)
            .await
            .unwrap();
        let conditions = service["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            !conditions
                .iter()
                .any(|c| c["type"] == "Degraded" && c["status"] == "True"),
            "{namespace}/{name} is Degraded after the takeover: {conditions:?}"
        );
    }
    println!(
        "{} rendered objects applied with kubectl and taken over",
        rendered_objects.len()
    );
    drop(operator);
}

/// Objects other people created are never adopted, changed or deleted, in the author's
/// namespace or another, and tenants sharing a dashboards namespace cannot collide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diceservice_author_cannot_take_over_or_delete_what_others_created() {
    if !kubectl_installed() {
        println!("SKIP: kubectl is not installed");
        return;
    }
    let server = FakeApiServer::new();
    let served = server.serve_locally().await.unwrap();
    takeover::run(|namespace| fake_cluster(&served.kubeconfig, namespace)).await;
}

/// The reproduction: a Deployment whose env value YAML 1.1 reads as a boolean is refused by
/// the API server (here, the fake one, decoding strictly like a real one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unquoted_off_env_value_is_refused_as_a_real_api_server_refuses_it() {
    if !kubectl_installed() {
        println!("SKIP: kubectl is not installed");
        return;
    }
    let server = FakeApiServer::new();
    let served = server.serve_locally().await.unwrap();
    let default = fake_cluster(&served.kubeconfig, "default");
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  selector:\n    matchLabels:\n      a: b\n  template:\n    metadata:\n      labels:\n        a: b\n    spec:\n      containers:\n      - name: c\n        image: x\n        env:\n        - name: DICE_GPU\n          value: off\n";
    let (ok, _, stderr) = default
        .try_kubectl(&["apply", "-f", "-"], Some(deployment.into()))
        .await;
    assert!(!ok, "an env value of false was accepted");
    assert!(
        stderr.contains("spec.template.spec.containers[0].env[0].value"),
        "{stderr}"
    );
    let unknown = deployment
        .replace("spec:\n  selector", "spec:\n  replicaz: 3\n  selector")
        .replace("value: off", "value: \"off\"");
    let (ok, _, stderr) = default
        .try_kubectl(&["apply", "-f", "-"], Some(unknown))
        .await;
    assert!(!ok, "an unknown field was accepted");
    assert!(
        stderr.contains("unknown field \"spec.replicaz\""),
        "{stderr}"
    );
}
