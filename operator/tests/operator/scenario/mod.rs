//! The operator's end-to-end scenario, driven only with kubectl so it runs unchanged against the
//! fake API server (`make test`) and a real cluster (`make e2e-cluster`).

pub mod citizen;

pub use crate::support::repo;
use fake_apiserver::kubectl::{kubectl, kubectl_with_input};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The DiceService CRD, and the Prometheus Operator's from ../shared/third_party when that
/// folder exists (a `SKIP:` line says so when it does not: monitoring children are then
/// skipped, not applied).
pub fn crd_files() -> Vec<PathBuf> {
    let mut crds = vec![repo("crds/diceservice.yaml")];
    let upstream = repo("../shared/third_party/prometheus-operator-crds");
    match std::fs::read_dir(&upstream) {
        Ok(files) => crds.extend(
            files
                .flatten()
                .map(|f| f.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml")),
        ),
        Err(_) => {
            println!("SKIP: ../shared/third_party is absent; monitoring children are not applied")
        }
    }
    crds
}

/// Where the scenario runs and how that place differs from the others.
pub struct Cluster {
    pub kubeconfig: PathBuf,
    /// Every namespaced object of the scenario lives here; the operator watches only it.
    pub namespace: String,
    /// The fake API server has no kubelet: the scenario marks the Deployment ready itself.
    pub simulate_kubelet: bool,
    /// Deadline for each step (pods pulling images in a real cluster take longer).
    pub patience: Duration,
    pub workload_image: String,
    /// Writes the API server accepted (fake server only), for the strictest idle check.
    pub writes: Option<Box<dyn Fn() -> u64 + Send + Sync>>,
}

impl Cluster {
    pub async fn try_kubectl(
        &self,
        args: &[&str],
        input: Option<String>,
    ) -> (bool, String, String) {
        let mut full = vec!["--namespace", &self.namespace];
        full.extend_from_slice(args);
        let output = match input {
            Some(input) => kubectl_with_input(&self.kubeconfig, &full, input).await,
            None => kubectl(&self.kubeconfig, &full).await,
        }
        .expect("kubectl runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs kubectl in the scenario's namespace expecting success; returns standard output.
    pub async fn kubectl(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.try_kubectl(args, None).await;
        assert!(ok, "kubectl {args:?}: {stderr}");
        stdout
    }

    /// Creates the scenario's namespace as users do (kubectl sends it as protobuf).
    pub async fn create_namespace(&self) {
        let (ok, _, stderr) = self
            .try_kubectl(&["create", "namespace", &self.namespace], None)
            .await;
        assert!(ok, "cannot create namespace {}: {stderr}", self.namespace);
    }

    /// `kubectl apply --server-side -f -` of a DiceService manifest placed in our namespace.
    async fn apply(&self, manifest: &str) -> (bool, String) {
        let manifest = manifest.replace(
            "namespace: default",
            &format!("namespace: {}", self.namespace),
        );
        let (ok, _, stderr) = self
            .try_kubectl(&["apply", "--server-side", "-f", "-"], Some(manifest))
            .await;
        (ok, stderr)
    }

    /// The object as JSON, or `None` when it does not exist.
    pub async fn get(&self, kind: &str, name: &str) -> Option<Value> {
        let out = self
            .kubectl(&["get", kind, name, "--ignore-not-found", "-o", "json"])
            .await;
        (!out.trim().is_empty()).then(|| serde_json::from_str(&out).expect("kubectl prints JSON"))
    }

    /// Polls `check` until it returns `Some`, or fails after `patience`.
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let started = Instant::now();
        loop {
            if let Some(value) = check().await {
                return value;
            }
            assert!(
                started.elapsed() < self.patience,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// What a write by anyone to the DiceService or its children would change.
    async fn fingerprint(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for kind in ["diceservice", "deployment", "service", "serviceaccount"] {
            let object = self.get(kind, "dice").await.unwrap_or_default();
            // The Deployment's status belongs to Kubernetes' own controllers; watch its spec.
            let version = if kind == "deployment" {
                &object["metadata"]["generation"]
            } else {
                &object["metadata"]["resourceVersion"]
            };
            seen.push(format!("{kind}: {version}"));
        }
        seen
    }
}

/// The operator binary, stopped when dropped; its logs are printed if the scenario failed.
pub struct Operator {
    child: Child,
    log: PathBuf,
}

impl Operator {
    pub fn start(cluster: &Cluster) -> Self {
        Self::start_watching(cluster, Some(&cluster.namespace))
    }

    /// The operator watching one namespace, or every namespace with `None`.
    pub fn start_watching(cluster: &Cluster, namespace: Option<&str>) -> Self {
        let log =
            std::env::temp_dir().join(format!("dice-operator-e2e-{}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_dice-operator"))
            .args([
                "run",
                "--admin-listen",
                "127.0.0.1:0",
                "--workload-image",
                &cluster.workload_image,
            ])
            .args(namespace.map(|n| ["--namespace", n]).into_iter().flatten())
            .env("KUBECONFIG", &cluster.kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(file)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("operator starts");
        Self { child, log }
    }

    /// Its resident memory now (`VmRSS`) and at its peak so far (`VmHWM`), in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the operator runs");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .expect("a memory figure")
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGTERM, then the exit status (within 10 s).
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill runs")
                .success()
        );
        let stopping = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                stopping.elapsed() < Duration::from_secs(10),
                "the operator ignored SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let logs = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- dice-operator logs ---\n{logs}");
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

fn condition(object: &Value, type_: &str) -> Option<(String, String)> {
    let found = object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?;
    Some((
        found["status"].as_str()?.to_owned(),
        found["message"].as_str()?.to_owned(),
    ))
}

/// Everything issue 3 promises, in order; each step waits at most `cluster.patience`.
pub async fn run(cluster: &Cluster) {
    let crd = repo("crds/diceservice.yaml");
    cluster
        .kubectl(&["apply", "--server-side", "-f", &crd.display().to_string()])
        .await;
    cluster
        .kubectl(&[
            "wait",
            "--for=condition=Established",
            "crd/diceservices.dice.dev",
            "--timeout=60s",
        ])
        .await;
    let operator = Operator::start(cluster);
    let minimal =
        std::fs::read_to_string(repo("manifests/examples/minimal.yaml")).expect("example");
    let (applied, stderr) = cluster.apply(&minimal).await;
    assert!(applied, "{stderr}");

    // Every child appears, controlled by the DiceService.
    let owner = cluster
        .get("diceservice", "dice")
        .await
        .expect("DiceService exists");
    for kind in ["serviceaccount", "deployment", "service"] {
        let child = cluster
            .eventually(&format!("the {kind}"), || cluster.get(kind, "dice"))
            .await;
        let owners = &child["metadata"]["ownerReferences"];
        assert_eq!(owners[0]["uid"], owner["metadata"]["uid"], "{kind} owner");
        assert_eq!(owners[0]["controller"], true, "{kind} controller reference");
    }
    let deployment = cluster.get("deployment", "dice").await.expect("Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        cluster.workload_image.as_str()
    );

    if cluster.simulate_kubelet {
        let (ready, message) = cluster
            .eventually("a first status", || async {
                condition(&cluster.get("diceservice", "dice").await?, "Ready")
            })
            .await;
        assert_eq!(
            (ready.as_str(), message.as_str()),
            ("False", "0/1 replicas ready")
        );
        let kubelet = serde_json::json!({"status": {"replicas": 1, "readyReplicas": 1, "updatedReplicas": 1,
            "availableReplicas": 1, "observedGeneration": deployment["metadata"]["generation"]}});
        cluster
            .kubectl(&[
                "patch",
                "deployment",
                "dice",
                "--subresource=status",
                "--type=merge",
                "-p",
                &kubelet.to_string(),
            ])
            .await;
    }
    // `kubectl get dice` shows the printer columns once the pod is ready.
    let row = cluster
        .eventually("Ready in `kubectl get dice`", || async {
            let row = cluster
                .kubectl(&["get", "dice", "dice", "--no-headers"])
                .await;
            (row.split_whitespace().nth(1) == Some("True")).then_some(row)
        })
        .await;
    let ready = cluster
        .get("diceservice", "dice")
        .await
        .expect("DiceService");
    assert_eq!(
        ready["status"]["observedGeneration"],
        ready["metadata"]["generation"]
    );
    let url = format!("http://dice.{}.svc", cluster.namespace);
    assert_eq!(
        row.split_whitespace().take(4).collect::<Vec<_>>(),
        ["dice", "True", "1/1", url.as_str()],
        "{row}"
    );

    // Idle for 10 s: nothing is written.
    let before = (
        cluster.fingerprint().await,
        cluster.writes.as_ref().map(|w| w()),
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = (
        cluster.fingerprint().await,
        cluster.writes.as_ref().map(|w| w()),
    );
    assert_eq!(before, after, "the operator wrote while idle");

    // A spec change reaches the Deployment.
    let (applied, stderr) = cluster
        .apply(&minimal.replace("spec: {}", "spec: {dice: {maxDelay: 2s}}"))
        .await;
    assert!(applied, "{stderr}");
    cluster
        .eventually("DICE_MAX_DELAY=2s on the Deployment", || async {
            let deployment = cluster.get("deployment", "dice").await?;
            let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array()?
                .clone();
            env.iter()
                .any(|e| e["name"] == "DICE_MAX_DELAY" && e["value"] == "2s")
                .then_some(())
        })
        .await;

    // A child deleted by hand comes back.
    let old_uid = cluster.get("service", "dice").await.expect("Service")["metadata"]["uid"].clone();
    cluster
        .kubectl(&["delete", "service", "dice", "--wait=false"])
        .await;
    cluster
        .eventually("the Service to be recreated", || async {
            let service = cluster.get("service", "dice").await?;
            (service["metadata"]["uid"] != old_uid).then_some(())
        })
        .await;

    // The schema's CEL rule rejects a bad spec with its message.
    let (applied, stderr) = cluster
        .apply(&minimal.replace("spec: {}", "spec: {dice: {maxDelay: 45s}}"))
        .await;
    assert!(!applied, "a 45s maxDelay was accepted");
    assert!(
        stderr.contains("maxDelay must be shorter than dice-server's 30s request timeout"),
        "{stderr}"
    );

    // A spec the schema accepts but the operator cannot build ends Degraded, saying what to fix.
    let long_name = "d".repeat(70);
    let (applied, stderr) = cluster
        .apply(&minimal.replace("name: dice", &format!("name: {long_name}")))
        .await;
    assert!(applied, "{stderr}");
    let (degraded, message) = cluster
        .eventually("Degraded on the long-named DiceService", || async {
            condition(&cluster.get("diceservice", &long_name).await?, "Degraded")
        })
        .await;
    assert_eq!(degraded, "True");
    assert!(
        message.contains("63"),
        "the message names the limit: {message}"
    );
    cluster
        .kubectl(&["delete", "diceservice", &long_name])
        .await;

    // Deleting the DiceService garbage-collects every child.
    cluster.kubectl(&["delete", "diceservice", "dice"]).await;
    for kind in ["deployment", "service", "serviceaccount"] {
        cluster
            .eventually(&format!("the {kind} to be garbage-collected"), || async {
                cluster.get(kind, "dice").await.is_none().then_some(())
            })
            .await;
    }

    let status = operator.terminate().await;
    assert!(
        status.success(),
        "the operator exited with {status:?} on SIGTERM"
    );
}
