//! Pins the exact requests a reconcile sends: server-side apply, one field manager, forced.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use dice_e2e::FakeApiServer;
use dice_operator::apply::apply_children;
use dice_operator::children;
use dice_operator::crd::DiceService;
use dice_operator::validate::validate;

#[tokio::test]
async fn children_are_applied_with_one_field_manager_and_the_apply_content_type() {
    let server = FakeApiServer::new();
    let mut service = DiceService::new("dice", serde_yaml::from_str("{}").unwrap());
    service.metadata.namespace = Some("games".into());
    service.metadata.uid = Some("6b1c2a4e-0000-4000-8000-000000000001".into());
    let built = children::build(&validate(&service, "dice-server:test").unwrap());
    apply_children(&server.client(), &built).await.unwrap();

    let requests: Vec<(String, String, Option<String>)> = server
        .requests()
        .into_iter()
        .map(|r| (r.method, r.uri, r.content_type))
        .collect();
    let apply = Some("application/apply-patch+yaml".to_owned());
    assert_eq!(
        requests,
        [
            ("PATCH".into(), "/api/v1/namespaces/games/serviceaccounts/dice?&force=true&fieldManager=dice-operator".into(), apply.clone()),
            ("PATCH".into(), "/apis/apps/v1/namespaces/games/deployments/dice?&force=true&fieldManager=dice-operator".into(), apply.clone()),
            ("PATCH".into(), "/api/v1/namespaces/games/services/dice?&force=true&fieldManager=dice-operator".into(), apply),
        ]
    );
}
