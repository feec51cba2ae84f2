//! The Kubernetes-citizen scenario, through the real kubectl only: what a platform engineer
//! types — create namespace and secret, wait, rollout status, describe, events, scale — against
//! the operator's Events, scale subresource, autoscaler, disruption budget and network policy.

use super::{Cluster, Operator, condition, repo};
use serde_json::Value;
use std::time::Duration;

const NAME: &str = "citizen";

fn manifest(extra: &str) -> String {
    format!(
        "apiVersion: dice.dev/v1alpha1\nkind: DiceService\nmetadata:\n  name: {NAME}\nspec:\n  \
         monitoring:\n    serviceMonitor: {{enabled: false}}\n    rules: {{enabled: false}}\n    \
         dashboard: {{enabled: false}}\n  networkPolicy: {{enabled: true}}\n{extra}"
    )
}

/// The first line of a `kubectl get` table, split into column names.
fn header(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Cluster {
    async fn apply_manifest(&self, manifest: String) {
        let (ok, _, stderr) = self
            .try_kubectl(&["apply", "--server-side", "-f", "-"], Some(manifest))
            .await;
        assert!(ok, "{stderr}");
    }

    async fn deployment_replicas(&self) -> Option<i64> {
        self.get("deployment", NAME).await?["spec"]["replicas"].as_i64()
    }

    /// The reasons of the Events about the DiceService, as `kubectl get events` lists them.
    async fn event_reasons(&self) -> Vec<String> {
        let selector = format!("involvedObject.name={NAME},involvedObject.kind=DiceService");
        let out = self
            .kubectl(&["get", "events", "--field-selector", &selector, "-o", "json"])
            .await;
        let list: Value = serde_json::from_str(&out).expect("kubectl prints JSON");
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["reason"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// Every step of issue 17's "what users type", in order. `missing_secret` runs the
/// missing-Secret step (it needs pods that do not reach a database: the fake API server).
pub async fn run(cluster: &Cluster, missing_secret: bool) {
    let crd = repo("crds/diceservice.yaml").display().to_string();
    cluster
        .kubectl(&["apply", "--server-side", "-f", &crd])
        .await;
    let established = "--for=condition=Established";
    cluster
        .kubectl(&[
            "wait",
            established,
            "crd/diceservices.dice.dev",
            "--timeout=60s",
        ])
        .await;
    let operator = Operator::start(cluster);

    // A Secret the spec names is missing: a Warning says so; `kubectl create secret` fixes it.
    let history = "  history:\n    postgres:\n      secretRef: {name: citizen-db, key: url}\n";
    let first = if missing_secret { history } else { "" };
    cluster.apply_manifest(manifest(first)).await;
    let wait_ready = format!("--timeout={}s", cluster.patience.as_secs());
    cluster
        .kubectl(&[
            "wait",
            "--for=condition=Ready",
            &format!("dice/{NAME}"),
            &wait_ready,
        ])
        .await;
    let rollout = cluster
        .kubectl(&["rollout", "status", &format!("deploy/{NAME}"), &wait_ready])
        .await;
    assert!(rollout.contains("successfully rolled out"), "{rollout}");
    let reasons = cluster
        .eventually("the Created and Ready Events", || async {
            let reasons = cluster.event_reasons().await;
            let all = ["Created", "Ready"]
                .iter()
                .all(|r| reasons.iter().any(|seen| seen == r));
            all.then_some(reasons)
        })
        .await;
    if missing_secret {
        assert!(reasons.iter().any(|r| r == "SecretMissing"), "{reasons:?}");
        cluster
            .kubectl(&[
                "create",
                "secret",
                "generic",
                "citizen-db",
                "--from-literal=url=postgres://dice@db.invalid:5432/dice",
            ])
            .await;
    }
    let described = cluster.kubectl(&["describe", "dice", NAME]).await;
    let events = described.split("Events:").nth(1).unwrap_or_default();
    for expected in ["Normal", "Created", "Ready", "dice-operator"] {
        assert!(
            events.contains(expected),
            "describe lacks {expected}:\n{described}"
        );
    }
    let table = cluster.kubectl(&["get", "events"]).await;
    assert_eq!(
        header(&table),
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{table}"
    );
    assert!(table.contains(&format!("diceservice/{NAME}")), "{table}");

    // `kubectl scale` through the scale subresource; more than one pod brings a budget.
    cluster
        .kubectl(&["scale", "dice", NAME, "--replicas=3"])
        .await;
    cluster
        .eventually("3 replicas on the Deployment", || async {
            (cluster.deployment_replicas().await == Some(3)).then_some(())
        })
        .await;
    let budget = cluster
        .eventually("the PodDisruptionBudget", || cluster.get("pdb", NAME))
        .await;
    assert_eq!(budget["spec"]["maxUnavailable"], 1);
    let selector = cluster
        .kubectl(&["get", "dice", NAME, "-o", "jsonpath={.status.selector}"])
        .await;
    assert_eq!(
        selector,
        format!("app.kubernetes.io/instance={NAME},app.kubernetes.io/name=dice-server")
    );
    let deployments = cluster
        .eventually("3/3 in `kubectl get deploy`", || async {
            let table = cluster.kubectl(&["get", "deploy", NAME]).await;
            table.contains("3/3").then_some(table)
        })
        .await;
    assert_eq!(
        header(&deployments),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{deployments}"
    );
    let policy = cluster
        .get("networkpolicy", NAME)
        .await
        .expect("NetworkPolicy");
    assert_eq!(policy["spec"]["policyTypes"][0], "Ingress");

    // Without autoscaling the DiceService's count is the truth: another manager's is reverted.
    cluster
        .kubectl(&["scale", "deploy", NAME, "--replicas=5"])
        .await;
    cluster
        .eventually("the operator to restore 3 replicas", || async {
            (cluster.deployment_replicas().await == Some(3)).then_some(())
        })
        .await;

    // With autoscaling the count is the autoscaler's: a change by another manager (as the
    // HorizontalPodAutoscaler makes) stays.
    cluster
        .apply_manifest(manifest(
            "  replicas: 3\n  autoscaling: {minReplicas: 2, maxReplicas: 6}\n",
        ))
        .await;
    let autoscaler = cluster
        .eventually("the HorizontalPodAutoscaler", || cluster.get("hpa", NAME))
        .await;
    assert_eq!(autoscaler["spec"]["maxReplicas"], 6);
    // Handing the count over keeps it: the Deployment does not fall to one pod meanwhile.
    let handed_over = cluster
        .eventually("the Deployment applied without replicas", || async {
            let deployment = cluster.get("deployment", NAME).await?;
            let from = &deployment["metadata"]["annotations"]["dice.dev/replicas-from"];
            (from == "autoscaler").then_some(deployment)
        })
        .await;
    assert_eq!(
        handed_over["spec"]["replicas"], 3,
        "the count survives the handover"
    );
    let hpa_table = cluster.kubectl(&["get", "hpa", NAME]).await;
    assert_eq!(
        header(&hpa_table),
        [
            "NAME",
            "REFERENCE",
            "TARGETS",
            "MINPODS",
            "MAXPODS",
            "REPLICAS",
            "AGE"
        ],
        "{hpa_table}"
    );
    cluster
        .kubectl(&["scale", "deploy", NAME, "--replicas=5"])
        .await;
    cluster
        .eventually("the DiceService to report 5 desired replicas", || async {
            let dice = cluster.get("dice", NAME).await?;
            (dice["status"]["replicaSummary"].as_str()?.ends_with("/5")).then_some(())
        })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        cluster.deployment_replicas().await,
        Some(5),
        "the operator reverted the autoscaler's count"
    );

    // Autoscaling off: the autoscaler goes and `replicas` is applied again.
    cluster.apply_manifest(manifest("  replicas: 3\n")).await;
    cluster
        .eventually("the autoscaler to be deleted", || async {
            cluster.get("hpa", NAME).await.is_none().then_some(())
        })
        .await;
    cluster
        .eventually("replicas back to the DiceService's 3", || async {
            (cluster.deployment_replicas().await == Some(3)).then_some(())
        })
        .await;
    if missing_secret {
        let (ready, message) = cluster
            .eventually("MonitoringReady once the Secret exists", || async {
                let found = condition(&cluster.get("dice", NAME).await?, "MonitoringReady")?;
                (found.0 == "True").then_some(found)
            })
            .await;
        assert_eq!(ready, "True", "{message}");
    }

    // The last rollout ends (its status writes take readiness down and up again) and the
    // DiceService is Ready.
    cluster
        .eventually("the rollout to finish", || async {
            let deployment = cluster.get("deployment", NAME).await?;
            let status = &deployment["status"];
            let rolled = status["observedGeneration"] == deployment["metadata"]["generation"]
                && status["updatedReplicas"] == 3
                && status["readyReplicas"] == 3;
            rolled.then_some(())
        })
        .await;
    cluster
        .eventually("Ready after the rollout", || async {
            let found = condition(&cluster.get("dice", NAME).await?, "Ready")?;
            (found.0 == "True").then_some(())
        })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Converged: no writes at all for a while, Events included.
    let events_before = cluster.event_reasons().await.len();
    let writes_before = cluster.writes.as_ref().map(|w| w());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(cluster.event_reasons().await.len(), events_before);
    assert_eq!(
        cluster.writes.as_ref().map(|w| w()),
        writes_before,
        "idle writes"
    );

    cluster.kubectl(&["delete", "dice", NAME]).await;
    for kind in ["deployment", "pdb", "networkpolicy"] {
        cluster
            .eventually(&format!("the {kind} to go"), || async {
                cluster.get(kind, NAME).await.is_none().then_some(())
            })
            .await;
    }
    let status = operator.terminate().await;
    assert!(status.success(), "{status:?}");
}
