//! Pins the exact requests a reconcile sends: server-side apply, one field manager, forced.

use crate::support;
use dice_operator::children;
use dice_operator::controller::apply::{Applied, apply_children};
use dice_operator::controller::observed::{Index, ObservedChildren, Seen};
use dice_operator::crd::DiceService;
use dice_operator::served::ServedKinds;
use dice_operator::validate::{Defaults, validate};
use fake_apiserver::FakeApiServer;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};

/// Applies every child of `service` as a reconcile would, with no monitoring CRDs served.
async fn apply_all(
    client: &kube::Client,
    service: &DiceService,
    observed: &ObservedChildren,
) -> Applied {
    let validated = validate(service, &Defaults::with_image("dice-server:test")).unwrap();
    let built = children::build(&validated);
    apply_children(
        client,
        &validated,
        &built,
        observed,
        &ServedKinds::default(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn children_are_applied_with_one_field_manager_and_the_apply_content_type() {
    let server = FakeApiServer::new();
    support::create_namespaces(&server.client(), &["games"]).await;
    let setup = server.requests().len();
    let mut service = DiceService::new("dice", serde_yaml::from_str("{}").unwrap());
    service.metadata.namespace = Some("games".into());
    service.metadata.uid = Some("6b1c2a4e-0000-4000-8000-000000000001".into());
    apply_all(&server.client(), &service, &ObservedChildren::none()).await;

    let requests: Vec<(String, String, Option<String>)> = server
        .requests()
        .into_iter()
        .skip(setup)
        .map(|r| (r.method, r.uri, r.content_type))
        .collect();
    let apply = Some("application/apply-patch+yaml".to_owned());
    assert_eq!(
        requests,
        [
            // Who holds each name, before anything is written: the operator adopts nothing.
            ("GET".into(), "/api/v1/namespaces/games/serviceaccounts/dice".into(), None),
            ("GET".into(), "/apis/apps/v1/namespaces/games/deployments/dice".into(), None),
            ("GET".into(), "/api/v1/namespaces/games/services/dice".into(), None),
            ("GET".into(), "/api/v1/namespaces/games/configmaps/dice-dashboard".into(), None),
            ("PATCH".into(), "/api/v1/namespaces/games/serviceaccounts/dice?&force=true&fieldManager=dice-operator".into(), apply.clone()),
            ("PATCH".into(), "/apis/apps/v1/namespaces/games/deployments/dice?&force=true&fieldManager=dice-operator".into(), apply.clone()),
            ("PATCH".into(), "/api/v1/namespaces/games/services/dice?&force=true&fieldManager=dice-operator".into(), apply.clone()),
            ("PATCH".into(), "/api/v1/namespaces/games/configmaps/dice-dashboard?&force=true&fieldManager=dice-operator".into(), apply),
        ]
    );
}

fn service(replicas: i32) -> DiceService {
    let mut service = DiceService::new(
        "dice",
        serde_yaml::from_str(&format!("{{replicas: {replicas}}}")).unwrap(),
    );
    // No uid, so no owner reference: the fake server would collect children of a missing owner.
    service.metadata.namespace = Some("games".into());
    service
}

/// An index holding exactly `object`'s record, as the controller's watch would after seeing it.
fn observed<K: kube::Resource>(object: &K) -> Index<K> {
    let index = Index::default();
    let meta = object.meta();
    let (namespace, name) = (meta.namespace.clone().unwrap(), meta.name.clone().unwrap());
    index.insert(&namespace, &name, Seen::from_meta(meta));
    index
}

fn observed_deployment(deployment: &Deployment) -> Index<Deployment> {
    let index = Index::default();
    index.insert(
        "games",
        &deployment.name_any(),
        Seen::from_deployment(deployment),
    );
    index
}

#[tokio::test]
async fn children_the_watches_show_up_to_date_are_not_sent_again() {
    let server = FakeApiServer::new();
    let client = server.client();
    support::create_namespaces(&client, &["games"]).await;
    apply_all(&client, &service(1), &ObservedChildren::none()).await;
    let get = |name: &'static str| {
        let client = client.clone();
        async move {
            (
                Api::<Deployment>::namespaced(client.clone(), "games")
                    .get(name)
                    .await
                    .unwrap(),
                Api::<Service>::namespaced(client.clone(), "games")
                    .get(name)
                    .await
                    .unwrap(),
                Api::<ServiceAccount>::namespaced(client.clone(), "games")
                    .get(name)
                    .await
                    .unwrap(),
                Api::<ConfigMap>::namespaced(client, "games")
                    .get(&format!("{name}-dashboard"))
                    .await
                    .unwrap(),
            )
        }
    };
    let (deployment, kube_service, account, dashboard) = get("dice").await;
    let mut on_server = ObservedChildren::none();
    on_server.stores.deployment = observed_deployment(&deployment);
    on_server.stores.service = observed(&kube_service);
    on_server.stores.service_account = observed(&account);
    on_server.stores.dashboard = observed(&dashboard);

    // The first check of a child reads its kind's schema from the server, once.
    let before = server.requests().len();
    let applied = apply_all(&client, &service(1), &on_server).await;
    assert_eq!(applied.sent, 0, "applies sent");
    let schema_reads: Vec<String> = server.requests()[before..]
        .iter()
        .map(|r| r.uri.clone())
        .collect();
    assert!(
        schema_reads
            .iter()
            .all(|path| path.starts_with("/openapi/v3")),
        "only schemas were read: {schema_reads:?}"
    );
    let before = server.requests().len();
    let applied = apply_all(&client, &service(1), &on_server).await;
    assert_eq!(applied.sent, 0);
    assert_eq!(server.requests().len(), before, "nothing sent");
    let from_watch = applied.deployment().unwrap().clone();
    assert_eq!(
        (from_watch.status, from_watch.metadata.generation),
        (deployment.status.clone(), deployment.metadata.generation),
        "status comes from the watch"
    );

    // Hand edits by another field manager: a changed field, then a removed one.
    let deployments = Api::<Deployment>::namespaced(client.clone(), "games");
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    for (patch, what) in [
        (
            serde_json::json!({"spec": {"replicas": 7}}),
            "a changed field",
        ),
        (
            serde_json::json!({"spec": {"strategy": {"rollingUpdate": null}}}),
            "a removed field",
        ),
    ] {
        let edited = deployments
            .patch("dice", &edit, &Patch::Merge(&patch))
            .await
            .unwrap();
        let mut hand_edited = on_server.clone();
        hand_edited.stores.deployment = observed_deployment(&edited);
        let before = server.requests().len();
        let applied = apply_all(&client, &service(1), &hand_edited).await;
        assert_eq!(applied.sent, 1, "{what} is repaired");
        assert!(server.requests()[before].uri.contains("/deployments/dice?"));
        let repaired = deployments.get("dice").await.unwrap();
        assert_eq!(repaired.spec, deployment.spec, "{what}");
        let mut after = on_server.clone();
        after.stores.deployment = observed_deployment(&repaired);
        assert_eq!(
            apply_all(&client, &service(1), &after).await.sent,
            0,
            "then up to date"
        );
    }

    let applied = apply_all(&client, &service(2), &on_server).await;
    assert_eq!(
        applied.sent, 3,
        "a spec change reaches the Deployment; two replicas add a disruption budget (looked up, \
         then applied)"
    );
    assert_eq!(
        applied
            .deployment()
            .unwrap()
            .spec
            .as_ref()
            .unwrap()
            .replicas,
        Some(2)
    );

    let mut deployment_gone = on_server;
    deployment_gone.stores.deployment = Index::default();
    let applied = apply_all(&client, &service(1), &deployment_gone).await;
    assert_eq!(
        applied.sent, 2,
        "a child missing from the watch is looked up, then applied"
    );
}
