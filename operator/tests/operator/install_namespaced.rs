//! The least-privilege install for a shared cluster: `watchNamespaces` gives the operator a Role
//! in each listed namespace and nothing cluster-wide but reading CRDs. Run against the fake API
//! server, which authorises every request by exactly the RBAC objects applied: DiceServices in
//! the listed namespaces converge (Secrets read through the Roles), one elsewhere is left alone,
//! and the operator is never refused anything.

use crate::chart::{documents, helm, template};
use crate::install_path::{
    RELEASE_NAMESPACE, admin, apply_all, fake_api_server_with_crds, refused, start_installed,
};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_watched_namespaces_the_operator_runs_on_roles_alone() {
    let Some(helm) = helm() else {
        println!("SKIP: helm is not installed");
        return;
    };
    let Some((server, served, _)) = fake_api_server_with_crds().await else {
        return;
    };
    let admin = |namespace: &str| admin(&served, namespace);
    for namespace in [RELEASE_NAMESPACE, "shop", "books", "elsewhere"] {
        admin(namespace).create_namespace().await;
    }
    let rendered = template(
        &helm,
        &[
            "--set",
            "watchNamespaces={shop,books}",
            "--set",
            "dashboardNamespaces=null",
        ],
    )
    .unwrap();
    let objects = documents(&rendered);
    apply_all(&served.kubeconfig, rendered).await;
    let (mut operator, account, log) = start_installed(&objects, &served);
    let kubelet = tokio::spawn(fake_apiserver::kubelet::simulate(server.client()));

    let shop = admin("shop");
    shop.kubectl(&[
        "create",
        "secret",
        "generic",
        "shop-slack",
        "--from-literal=webhook-url=http://127.0.0.1:9/slack",
    ])
    .await;
    let with_slack = "apiVersion: dice.dev/v1alpha1\nkind: DiceService\nmetadata:\n  name: dice\n\
        spec:\n  alerting:\n    slack:\n      channel: '#shop'\n      \
        apiURL: {name: shop-slack, key: webhook-url}\n";
    let plain =
        "apiVersion: dice.dev/v1alpha1\nkind: DiceService\nmetadata:\n  name: dice\nspec: {}\n";
    for (namespace, manifest) in [("shop", with_slack), ("books", plain), ("elsewhere", plain)] {
        let (ok, _, stderr) = admin(namespace)
            .try_kubectl(
                &["apply", "--server-side", "-f", "-"],
                Some(manifest.into()),
            )
            .await;
        assert!(ok, "{stderr}");
    }
    for namespace in ["shop", "books"] {
        admin(namespace)
            .kubectl(&[
                "wait",
                "--for=condition=Ready",
                "dice/dice",
                "--timeout=60s",
            ])
            .await;
    }
    let status = shop
        .kubectl(&[
            "get",
            "dice",
            "dice",
            "-o",
            "jsonpath={.status.conditions[?(@.type=='MonitoringReady')].message}",
        ])
        .await;
    assert!(
        !status.contains("not checked"),
        "the Secret was checked: {status}"
    );

    // Outside the watched namespaces nothing happens: no children, no status.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let elsewhere = admin("elsewhere");
    assert!(elsewhere.get("deployment", "dice").await.is_none());
    let untouched = elsewhere
        .kubectl(&["get", "dice", "dice", "-o", "jsonpath={.status}"])
        .await;
    assert!(untouched.trim().is_empty(), "{untouched}");

    let forbidden = refused(&server);
    operator.stop();
    kubelet.abort();
    let logs = std::fs::read_to_string(log.path()).unwrap_or_default();
    assert!(
        forbidden.is_empty(),
        "the operator was refused: {forbidden:?}\n{logs}"
    );

    // The Roles are the only grants: the same identity may not read Secrets elsewhere.
    let identity = format!("--as=system:serviceaccount:{RELEASE_NAMESPACE}:{account}");
    let (ok, _, stderr) = elsewhere
        .try_kubectl(&["get", "secret", "any", &identity], None)
        .await;
    assert!(!ok && stderr.contains("forbidden"), "{stderr}");
}
