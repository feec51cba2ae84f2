//! The controller against the fake API server, in process: the whole lifecycle of a DiceService.

use dice_operator::controller::{self, Context};
use dice_operator::crd::DiceService;
use dice_operator::metrics::OperatorMetrics;
use dice_operator::validate::Defaults;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{DEADLINE, apply, cluster_with_crd, condition, eventually};

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diceservice_goes_from_apply_to_ready_and_back_to_nothing() {
    let (server, client) = cluster_with_crd().await;
    let ctx = Context::new(
        client.clone(),
        Defaults::with_image("dice-server:test"),
        Arc::new(OperatorMetrics::default()),
        None,
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        let settings = controller::Settings {
            namespace: Some("default".into()),
            ..controller::Settings::default()
        };
        controller::run(ctx, &settings, async move {
            let _ = stopped.await;
        })
        .await;
    });

    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let kube_services: Api<Service> = Api::namespaced(client.clone(), "default");
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let manifest = json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService", "metadata": {"name": "dice"}, "spec": {}});
    let created = services
        .patch(
            "dice",
            &PatchParams::apply("kubectl"),
            &Patch::Apply(&manifest),
        )
        .await
        .unwrap();
    let owner_uid = created.uid().unwrap();

    // Children appear (applied one after another), owned by the DiceService.
    let deployment = eventually("the Deployment", || async {
        deployments.get_opt("dice").await.unwrap()
    })
    .await;
    let service = eventually("the Service", || async {
        kube_services.get_opt("dice").await.unwrap()
    })
    .await;
    let account = eventually("the ServiceAccount", || async {
        accounts.get_opt("dice").await.unwrap()
    })
    .await;
    for owners in [
        deployment.owner_references(),
        service.owner_references(),
        account.owner_references(),
    ] {
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].uid, owner_uid);
        assert_eq!(owners[0].controller, Some(true));
    }
    let not_ready = eventually("a first status", || async {
        let service = services.get("dice").await.unwrap();
        condition(&service, "Ready")
    })
    .await;
    assert_eq!(not_ready.0, "False");

    // Play kubelet: the Deployment's pod becomes ready.
    let kubelet = json!({"status": {"replicas": 1, "readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1,
        "observedGeneration": deployment.metadata.generation}});
    deployments
        .patch_status("dice", &PatchParams::default(), &Patch::Merge(&kubelet))
        .await
        .unwrap();
    let ready = eventually("Ready=True", || async {
        let service = services.get("dice").await.unwrap();
        (condition(&service, "Ready")?.0 == "True").then_some(service)
    })
    .await;
    let status = ready.status.unwrap();
    assert_eq!(status.replica_summary.as_deref(), Some("1/1"));
    assert_eq!(status.url.as_deref(), Some("http://dice.default.svc"));
    assert_eq!(status.observed_generation, ready.metadata.generation);

    // Idle: the operator writes nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writes = server.writes();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(server.writes(), writes, "an idle operator made writes");

    // A spec change reaches the Deployment.
    apply(&services, "dice", json!({"replicas": 2})).await;
    eventually("replicas: 2 on the Deployment", || async {
        let deployment = deployments.get("dice").await.unwrap();
        (deployment.spec?.replicas == Some(2)).then_some(())
    })
    .await;

    // A child deleted by hand comes back.
    kube_services
        .delete("dice", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the Service to be recreated", || async {
        kube_services.get_opt("dice").await.unwrap()
    })
    .await;

    // Deleting the DiceService garbage-collects every child.
    services
        .delete("dice", &DeleteParams::default())
        .await
        .unwrap();
    // Garbage collection is asynchronous in a real cluster, so wait for it.
    eventually("every child to be garbage-collected", || async {
        let gone = deployments.get_opt("dice").await.unwrap().is_none()
            && kube_services.get_opt("dice").await.unwrap().is_none()
            && accounts.get_opt("dice").await.unwrap().is_none();
        gone.then_some(())
    })
    .await;

    let _ = stop.send(());
    tokio::time::timeout(DEADLINE, running)
        .await
        .expect("controller stops")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_the_operator_cannot_build_ends_degraded_with_a_readable_message() {
    let (_server, client) = cluster_with_crd().await;
    let metrics = Arc::new(OperatorMetrics::default());
    let running = support::start_operator(&client, metrics.clone());
    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");
    let long_name = "d".repeat(70);
    apply(&services, &long_name, json!({})).await;
    let (status, message) = eventually("Degraded", || async {
        let service = services.get(&long_name).await.unwrap();
        condition(&service, "Degraded")
    })
    .await;
    assert_eq!(status, "True");
    assert!(message.contains("at most 63"), "{message}");
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    assert!(
        deployments
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "nothing was built"
    );
    running.abort();
}

/// Every reconcile is measured, whatever its exit: a failing one counts as `error` (with its
/// category) and a deleting one as `deleted`, each with a duration; and the failure count of a
/// DiceService is forgotten once it is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_deleting_reconciles_are_measured() {
    let (_server, client) = cluster_with_crd().await;
    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");
    let manifest = json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService",
        "metadata": {"name": "dice", "finalizers": [dice_operator::controller::finalizer::DASHBOARD_FINALIZER]},
        "spec": {}});
    services
        .patch(
            "dice",
            &PatchParams::apply("kubectl"),
            &Patch::Apply(&manifest),
        )
        .await
        .unwrap();
    services
        .delete("dice", &DeleteParams::default())
        .await
        .unwrap();
    let deleting = Arc::new(services.get("dice").await.unwrap());
    assert!(deleting.metadata.deletion_timestamp.is_some());

    let metrics = Arc::new(OperatorMetrics::default());
    let context = |client: kube::Client| {
        Arc::new(Context::new(
            client,
            Defaults::with_image("dice-server:test"),
            metrics.clone(),
            None,
        ))
    };
    let nowhere = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let failing = context(kube::Client::try_from(nowhere).unwrap());
    let error = controller::reconcile(deleting.clone(), failing.clone())
        .await
        .expect_err("no API server answers");
    controller::error_policy(deleting.clone(), &error, failing);
    controller::reconcile(deleting, context(client.clone()))
        .await
        .unwrap();
    assert!(
        services.get_opt("dice").await.unwrap().is_none(),
        "finalized"
    );

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics.registry).unwrap();
    for line in [
        "dice_operator_reconciliations_total{result=\"error\"} 1",
        "dice_operator_reconciliations_total{result=\"deleted\"} 1",
        "dice_operator_reconcile_errors_total{category=\"transport\"} 1",
        "dice_operator_reconcile_duration_seconds_count 2",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
}

/// A reconcile that starts before the DiceService watch shows the previous reconcile's status
/// write (a child's event came first) reads the same old copy: it must neither write the status
/// again nor announce "Created" a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_from_a_copy_older_than_its_own_status_write_repeats_nothing() {
    let (_server, client) = cluster_with_crd().await;
    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");
    apply(&services, "dice", json!({})).await;
    let stale = Arc::new(services.get("dice").await.unwrap());
    let ctx = Arc::new(Context::new(
        client.clone(),
        Defaults::with_image("dice-server:test"),
        Arc::new(OperatorMetrics::default()),
        None,
    ));
    controller::reconcile(stale.clone(), ctx.clone())
        .await
        .unwrap();
    let written = services.get("dice").await.unwrap();
    assert!(
        written.status.is_some(),
        "the first reconcile wrote a status"
    );
    controller::reconcile(stale, ctx).await.unwrap();
    let after = services.get("dice").await.unwrap();
    assert_eq!(
        after.resource_version(),
        written.resource_version(),
        "the second reconcile changed the status it had written"
    );
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, "default");
    let reasons: Vec<String> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|event| event.reason)
        .collect();
    assert_eq!(
        reasons,
        ["Created", "PrometheusOperatorCRDsMissing"],
        "one Event per transition"
    );
}
