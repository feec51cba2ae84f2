//! Two dice-operator processes against the fake API server over HTTP: one leads and reconciles,
//! the other waits; SIGTERM to the leader releases the lease and the standby takes over within
//! one retry period and reconciles what comes next.

use dice_operator::crd::DiceService;
use fake_apiserver::FakeApiServer;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::apply;

use crate::support;

const RETRY_PERIOD: Duration = Duration::from_millis(500);

struct Replica {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Replica {
    fn start(name: &'static str, kubeconfig: &std::path::Path) -> Self {
        let log =
            std::env::temp_dir().join(format!("dice-leader-{}-{name}.log", std::process::id()));
        let child = Command::new(env!("CARGO_BIN_EXE_dice-operator"))
            .args([
                "run",
                "--admin-listen",
                "127.0.0.1:0",
                "--namespace",
                "default",
            ])
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .env("DICE_LEADER_ELECTION_IDENTITY", name)
            .env("DICE_LEASE_DURATION", "4s")
            .env("DICE_RENEW_DEADLINE", "3s")
            .env(
                "DICE_RETRY_PERIOD",
                format!("{}ms", RETRY_PERIOD.as_millis()),
            )
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Self { name, child, log }
    }

    fn logs(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn logged(&self, message: &str) -> bool {
        self.logs()
            .iter()
            .any(|l| l["fields"]["message"] == message)
    }

    async fn wait_for_log(&self, message: &str, within: Duration) -> Duration {
        let started = Instant::now();
        while !self.logged(message) {
            assert!(
                started.elapsed() < within,
                "{} never logged {message:?}: {:#?}",
                self.name,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        started.elapsed()
    }

    async fn metric(&self, name: &str) -> f64 {
        let started = self
            .logs()
            .into_iter()
            .find(|l| l["fields"]["message"] == "dice-operator started")
            .expect("started line");
        let admin = started["fields"]["admin"].as_str().unwrap().to_owned();
        let text = reqwest::get(format!("http://{admin}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .map_or(0.0, |v| v.parse().unwrap())
    }

    fn terminate(&self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    async fn exit_status(&mut self) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{} ignored SIGTERM",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

async fn wait_ready(services: &Api<DiceService>, name: &str) {
    support::eventually(&format!("{name} Ready"), || async {
        let service = services.get(name).await.unwrap();
        support::condition(&service, "Ready")
            .filter(|(status, _)| status == "True")
            .map(|_| ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_leader_and_a_hand_over_on_sigterm() {
    let server = FakeApiServer::new();
    let served = server.serve_locally().await.unwrap();
    let client = server.client();
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &DiceService::crd())
        .await
        .unwrap();
    let kubelet = tokio::spawn(fake_apiserver::kubelet::simulate(client.clone()));
    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");

    let mut first = Replica::start("first", &served.kubeconfig);
    first
        .wait_for_log("became leader", Duration::from_secs(10))
        .await;
    let second = Replica::start("second", &served.kubeconfig);
    second
        .wait_for_log("waiting for leadership", Duration::from_secs(10))
        .await;

    apply(&services, "before", json!({})).await;
    wait_ready(&services, "before").await;
    // Several retry periods pass: the standby stays a standby and reconciles nothing.
    tokio::time::sleep(RETRY_PERIOD * 4).await;
    assert!(!second.logged("became leader"));
    assert_eq!(first.metric("dice_operator_leader").await, 1.0);
    assert_eq!(second.metric("dice_operator_leader").await, 0.0);
    assert!(first.metric("dice_operator_child_applies_total").await > 0.0);
    assert_eq!(
        second.metric("dice_operator_child_applies_total").await,
        0.0
    );

    first.terminate();
    let handed_over = second
        .wait_for_log("became leader", Duration::from_secs(10))
        .await;
    assert!(first.exit_status().await.success());
    assert!(first.logged("released leadership"));
    println!(
        "hand-over on SIGTERM took {handed_over:?} (retry period {RETRY_PERIOD:?}, lease 4 s)"
    );
    // Released, not expired: the standby needs at most about one retry period, not the lease.
    assert!(
        handed_over < Duration::from_secs(3),
        "hand-over took {handed_over:?}: the lease was not released"
    );

    apply(&services, "after", json!({})).await;
    wait_ready(&services, "after").await;
    assert_eq!(second.metric("dice_operator_leader").await, 1.0);
    assert!(second.metric("dice_operator_child_applies_total").await > 0.0);
    kubelet.abort();
}
