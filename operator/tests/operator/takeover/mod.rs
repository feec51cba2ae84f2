//! A shared cluster, reproduced with the real binary and kubectl: a DiceService author tries to
//! take over, and then delete through the DiceService, objects other people created — in their
//! own namespace and in others — and a second tenant puts a same-named dashboard in the shared
//! dashboards namespace.

use crate::scenario::{self, Cluster};
use fake_apiserver::kubectl::kubectl_with_input;
use serde_json::Value;

const VICTIMS: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: shop, namespace: team-a}
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: team-a, labels: {team: shop}}
spec:
  selector: {app: shop}
  ports: [{port: 8080}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: shop-data, namespace: team-a}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 50Gi}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: billing-dashboard, namespace: team-b}
data: {billing.json: "{}"}
"#;

const DICE_SERVICES: &str = r#"
apiVersion: dice.dev/v1alpha1
kind: DiceService
metadata: {name: shop, namespace: team-a}
spec:
  history: {storage: {size: 1Gi}}
---
apiVersion: dice.dev/v1alpha1
kind: DiceService
metadata: {name: billing, namespace: team-a}
spec:
  monitoring: {dashboard: {namespace: team-b}}
---
apiVersion: dice.dev/v1alpha1
kind: DiceService
metadata: {name: shared, namespace: team-a}
spec:
  monitoring: {dashboard: {namespace: monitoring}}
---
apiVersion: dice.dev/v1alpha1
kind: DiceService
metadata: {name: shared, namespace: team-b}
spec:
  monitoring: {dashboard: {namespace: monitoring}}
"#;

/// Namespace, kind and name of each object somebody else created, as kubectl shows it before
/// the operator runs; it must look the same afterwards.
const VICTIM_OBJECTS: [(&str, &str, &str); 4] = [
    ("team-a", "serviceaccount", "shop"),
    ("team-a", "service", "shop"),
    ("team-a", "persistentvolumeclaim", "shop-data"),
    ("team-b", "configmap", "billing-dashboard"),
];

/// kubectl with objects that name their own namespaces (so no `--namespace`).
async fn apply(cluster: &Cluster, args: &[&str], manifest: &str) {
    let output = kubectl_with_input(&cluster.kubeconfig, args, manifest.to_owned())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "kubectl {args:?}: {stderr}");
}

fn degraded(service: &Value) -> Option<(String, String)> {
    service["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Degraded" && c["status"] == "True")
        .map(|c| {
            let text = |key: &str| c[key].as_str().unwrap_or_default().to_owned();
            (text("reason"), text("message"))
        })
}

/// What a takeover would change: owner references, labels, annotations, spec and data.
fn fingerprint(object: &Value) -> Value {
    let meta = &object["metadata"];
    serde_json::json!({
        "uid": meta["uid"], "ownerReferences": meta["ownerReferences"], "labels": meta["labels"],
        "annotations": meta["annotations"], "spec": object["spec"], "data": object["data"],
    })
}

pub async fn run(cluster_in: impl Fn(&str) -> Cluster) {
    let default = cluster_in("default");
    default
        .kubectl(&[
            "apply",
            "--server-side",
            "-f",
            &scenario::repo("crds/diceservice.yaml")
                .display()
                .to_string(),
        ])
        .await;
    for namespace in ["team-a", "team-b", "monitoring"] {
        cluster_in(namespace).create_namespace().await;
    }
    apply(&default, &["apply", "-f", "-"], VICTIMS).await;
    let mut before = Vec::new();
    for (namespace, kind, name) in VICTIM_OBJECTS {
        let object = cluster_in(namespace).get(kind, name).await.unwrap();
        before.push(fingerprint(&object));
    }

    let operator = scenario::Operator::start_watching(&default, None);
    apply(
        &default,
        &["apply", "--server-side", "-f", "-"],
        DICE_SERVICES,
    )
    .await;
    let team_a = cluster_in("team-a");
    let (reason, message) = team_a
        .eventually("team-a/shop Degraded", || async {
            degraded(&team_a.get("diceservice", "shop").await?)
        })
        .await;
    assert_eq!(reason, "ChildNotOwned", "{message}");
    for named in [
        "ServiceAccount team-a/shop",
        "Service team-a/shop",
        "PersistentVolumeClaim team-a/shop-data",
    ] {
        assert!(message.contains(named), "{named} missing from: {message}");
    }
    assert!(
        team_a.get("deployment", "shop").await.is_none(),
        "nothing applied, not even the Deployment"
    );
    let (reason, message) = team_a
        .eventually("team-a/billing Degraded", || async {
            degraded(&team_a.get("diceservice", "billing").await?)
        })
        .await;
    assert_eq!(reason, "InvalidSpec");
    assert!(
        message.contains("\"team-b\" is not a namespace"),
        "{message}"
    );

    let events = team_a
        .eventually("a Warning Event about team-a/shop", || async {
            let list = team_a
                .kubectl(&["get", "events.v1.events.k8s.io", "-o", "json"])
                .await;
            let list: Value = serde_json::from_str(&list).ok()?;
            let events = list["items"].as_array()?.clone();
            events
                .iter()
                .any(|e| e["regarding"]["name"] == "shop" && e["reason"] == "ChildNotOwned")
                .then_some(events)
        })
        .await;
    let warning = events
        .iter()
        .find(|e| e["reason"] == "ChildNotOwned")
        .unwrap();
    assert_eq!(warning["type"], "Warning");
    assert_eq!(warning["regarding"]["kind"], "DiceService");
    assert!(
        warning["note"]
            .as_str()
            .unwrap()
            .contains("Service team-a/shop")
    );

    // Two tenants, one DiceService name, one dashboards namespace: two dashboards, each its own.
    let monitoring = cluster_in("monitoring");
    for tenant in ["team-a", "team-b"] {
        let name = format!("{tenant}.shared-dashboard");
        let dashboard = monitoring
            .eventually(&format!("monitoring/{name}"), || {
                monitoring.get("configmap", &name)
            })
            .await;
        assert_eq!(
            dashboard["metadata"]["annotations"]["dice.dev/owner"],
            format!("{tenant}/shared")
        );
    }

    for (namespace, name) in [
        ("team-a", "shop"),
        ("team-a", "billing"),
        ("team-a", "shared"),
    ] {
        cluster_in(namespace)
            .kubectl(&["delete", "diceservice", name, "--wait=true"])
            .await;
    }
    monitoring
        .eventually(
            "team-a's dashboard deleted with its DiceService",
            || async {
                monitoring
                    .get("configmap", "team-a.shared-dashboard")
                    .await
                    .is_none()
                    .then_some(())
            },
        )
        .await;
    assert!(
        monitoring
            .get("configmap", "team-b.shared-dashboard")
            .await
            .is_some(),
        "team-b's dashboard stays"
    );
    for ((namespace, kind, name), before) in VICTIM_OBJECTS.into_iter().zip(before) {
        let after = cluster_in(namespace).get(kind, name).await;
        let after = after.unwrap_or_else(|| panic!("{namespace}/{kind} {name} was deleted"));
        assert_eq!(
            fingerprint(&after),
            before,
            "{namespace}/{kind} {name} was changed"
        );
    }
    drop(operator);
}
