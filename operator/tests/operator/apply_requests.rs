//! Pins the exact requests a reconcile sends: server-side apply, one field manager, forced.

use dice_e2e::FakeApiServer;
use dice_operator::apply::{Applied, apply_children};
use dice_operator::children;
use dice_operator::crd::DiceService;
use dice_operator::observed::{ObservedChildren, Slim};
use dice_operator::served::ServedKinds;
use dice_operator::validate::{Defaults, validate};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use kube::Api;
use kube::runtime::reflector::{Store, store};
use kube::runtime::watcher::Event;

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
    let mut service = DiceService::new("dice", serde_yaml::from_str("{}").unwrap());
    service.metadata.namespace = Some("games".into());
    service.metadata.uid = Some("6b1c2a4e-0000-4000-8000-000000000001".into());
    apply_all(&server.client(), &service, &ObservedChildren::none()).await;

    let requests: Vec<(String, String, Option<String>)> = server
        .requests()
        .into_iter()
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

/// A store holding exactly `object`, as the controller's watch would after seeing it.
fn observed<K>(object: K) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let (reader, mut writer) = store();
    writer.apply_watcher_event(&Event::Apply(object));
    reader
}

#[tokio::test]
async fn children_the_watches_show_up_to_date_are_not_sent_again() {
    let server = FakeApiServer::new();
    let client = server.client();
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
    let on_server = ObservedChildren {
        deployments: observed(deployment.clone()),
        services: observed(kube_service.clone()),
        accounts: observed(account.clone()),
        // As the controller's watch stores it: data digested.
        config_maps: observed(dashboard.slimmed()),
        ..ObservedChildren::none()
    };

    let before = server.requests().len();
    let applied = apply_all(&client, &service(1), &on_server).await;
    assert_eq!(applied.sent, 0);
    assert_eq!(server.requests().len(), before, "nothing sent");
    assert_eq!(
        applied.deployment,
        Some(deployment.clone()),
        "status comes from the watch"
    );

    let mut edited = deployment.clone();
    edited.spec.as_mut().unwrap().replicas = Some(7);
    let hand_edited = ObservedChildren {
        deployments: observed(edited),
        ..on_server.clone()
    };
    let applied = apply_all(&client, &service(1), &hand_edited).await;
    assert_eq!(applied.sent, 1, "a hand edit is repaired");
    assert!(server.requests()[before].uri.contains("/deployments/dice?"));

    let applied = apply_all(&client, &service(2), &on_server).await;
    assert_eq!(
        applied.sent, 3,
        "a spec change reaches the Deployment; two replicas add a disruption budget (looked up, \
         then applied)"
    );
    assert_eq!(applied.deployment.unwrap().spec.unwrap().replicas, Some(2));

    let deployment_gone = ObservedChildren {
        deployments: store().0,
        ..on_server
    };
    let applied = apply_all(&client, &service(1), &deployment_gone).await;
    assert_eq!(
        applied.sent, 2,
        "a child missing from the watch is looked up, then applied"
    );
}
