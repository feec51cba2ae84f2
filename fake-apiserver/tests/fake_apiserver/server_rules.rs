//! What a real API server refuses, holds back or reports, as the fake must: objects in
//! namespaces that do not exist or are terminating, `dryRun`, field selectors on fields a kind
//! does not index, and label-selector watches seeing objects leave and arrive.

use fake_apiserver::FakeApiServer;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn config_map(name: &str, finalizers: &[&str]) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "finalizers": finalizers}})).unwrap()
}

fn api_error(error: kube::Error) -> (u16, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.message),
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test]
async fn a_namespace_must_exist_and_a_terminating_one_takes_nothing_new() {
    let server = FakeApiServer::new();
    let client = server.client();
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    let missing = maps
        .create(&PostParams::default(), &config_map("a", &[]))
        .await
        .unwrap_err();
    assert_eq!(
        api_error(missing),
        (404, "namespaces \"team\" not found".into())
    );
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    maps.create(
        &PostParams::default(),
        &config_map("held", &["example.com/hold"]),
    )
    .await
    .unwrap();
    maps.create(&PostParams::default(), &config_map("plain", &[]))
        .await
        .unwrap();

    namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = namespaces.get("team").await.unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    assert!(
        maps.get_opt("plain").await.unwrap().is_none(),
        "contents deleted"
    );
    let refused = maps
        .create(&PostParams::default(), &config_map("b", &[]))
        .await
        .unwrap_err();
    let (code, message) = api_error(refused);
    assert_eq!(code, 403);
    assert!(
        message.contains("because it is being terminated"),
        "{message}"
    );

    // The last finalizer goes: the object, then the namespace.
    let release = json!({"metadata": {"finalizers": null}});
    maps.patch("held", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .unwrap();
    assert!(maps.get_opt("held").await.unwrap().is_none());
    assert!(
        namespaces.get_opt("team").await.unwrap().is_none(),
        "namespace removed"
    );
}

#[tokio::test]
async fn a_dry_run_answers_as_the_write_would_and_stores_nothing() {
    let server = FakeApiServer::new();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let answered = maps.create(&dry, &config_map("a", &[])).await.unwrap();
    assert_eq!(answered.metadata.name.as_deref(), Some("a"));
    assert!(maps.get_opt("a").await.unwrap().is_none(), "nothing stored");
    let writes = server.writes();
    let applied = maps
        .patch(
            "b",
            &PatchParams::apply("test").dry_run(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}})),
        )
        .await
        .unwrap();
    assert_eq!(applied.data.unwrap()["k"], "v");
    assert!(maps.get_opt("b").await.unwrap().is_none());
    assert_eq!(server.writes(), writes, "a dry run is no write");
}

#[tokio::test]
async fn a_field_selector_on_a_field_the_kind_does_not_index_is_a_bad_request() {
    let server = FakeApiServer::new();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    maps.list(&ListParams::default().fields("metadata.name=a"))
        .await
        .unwrap();
    let refused = maps
        .list(&ListParams::default().fields("data.k=v"))
        .await
        .unwrap_err();
    assert_eq!(
        api_error(refused),
        (400, "field label not supported: data.k".into())
    );
}

/// The next event that is not part of the initial list's framing.
async fn next_change<S>(events: &mut S) -> kube::runtime::watcher::Event<ConfigMap>
where
    S: futures_util::Stream<
            Item = Result<kube::runtime::watcher::Event<ConfigMap>, kube::runtime::watcher::Error>,
        > + Unpin,
{
    use futures_util::StreamExt;
    use kube::runtime::watcher::Event;
    loop {
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), events.next())
            .await
            .expect("an event in time")
            .expect("the watch goes on")
            .expect("no watch error");
        if !matches!(event, Event::Init | Event::InitDone) {
            return event;
        }
    }
}

#[tokio::test]
async fn a_label_selector_watch_sees_objects_leave_and_arrive_by_their_labels() {
    use futures_util::StreamExt;
    use kube::runtime::watcher::{self, Event};
    let server = FakeApiServer::new();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let label = "app.kubernetes.io/managed-by";
    let labelled: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "m", "labels": {label: "dice-operator"}}}),
    )
    .unwrap();
    maps.create(&PostParams::default(), &labelled)
        .await
        .unwrap();
    let config = watcher::Config::default().labels(&format!("{label}=dice-operator"));
    let mut events = watcher::watcher(maps.clone(), config).boxed();
    assert!(matches!(
        next_change(&mut events).await,
        Event::InitApply(_)
    ));
    // Someone takes the label off: the object leaves this watch.
    let relabel = |value: &str| json!({"metadata": {"labels": {label: value}}});
    maps.patch(
        "m",
        &PatchParams::default(),
        &Patch::Merge(&relabel("someone")),
    )
    .await
    .unwrap();
    let Event::Delete(gone) = next_change(&mut events).await else {
        panic!("no DELETED when the object stopped matching")
    };
    assert_eq!(
        gone.metadata.labels.unwrap()[label],
        "dice-operator",
        "the object as it matched"
    );
    // And back: ADDED.
    maps.patch(
        "m",
        &PatchParams::default(),
        &Patch::Merge(&relabel("dice-operator")),
    )
    .await
    .unwrap();
    assert!(matches!(next_change(&mut events).await, Event::Apply(_)));
}

/// The 422 causes of creating `object` as a Deployment, `(field, message)` each.
async fn deployment_refusal(
    client: &kube::Client,
    object: serde_json::Value,
) -> Vec<(String, String)> {
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), "default");
    let deployment = serde_json::from_value(object).unwrap();
    match deployments
        .create(&PostParams::default(), &deployment)
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
            status
                .details
                .unwrap()
                .causes
                .into_iter()
                .map(|c| (c.field, c.message))
                .collect()
        }
        other => panic!("not refused: {other:?}"),
    }
}

fn deployment(labels: serde_json::Value, container: serde_json::Value) -> serde_json::Value {
    json!({
        "metadata": {"name": "web", "labels": labels},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [container]},
            },
        },
    })
}

#[tokio::test]
async fn built_in_fields_are_validated_as_kubernetes_validates_them() {
    let server = FakeApiServer::new();
    let client = server.client();
    let valid = json!({
        "name": "web", "image": "img:1",
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "0.125Gi"}},
    });
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), "default");
    let created = serde_json::from_value(deployment(json!({"app": "web"}), valid.clone())).unwrap();
    deployments
        .create(&PostParams::default(), &created)
        .await
        .unwrap();
    deployments
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();

    let mut over = valid.clone();
    over["resources"]["requests"]["cpu"] = json!("2");
    let causes = deployment_refusal(&client, deployment(json!({}), over)).await;
    assert_eq!(
        causes,
        [(
            "spec.template.spec.containers[0].resources.requests[cpu]".to_owned(),
            "Invalid value: \"2\": must be less than or equal to cpu limit of 1".to_owned()
        )]
    );

    let mut port = valid.clone();
    port["ports"][0]["name"] = json!("a-very-long-port-name");
    let causes = deployment_refusal(&client, deployment(json!({}), port)).await;
    assert_eq!(
        causes[0].0,
        "spec.template.spec.containers[0].ports[0].name"
    );
    assert!(
        causes[0].1.contains("must be no more than 15 characters"),
        "{causes:?}"
    );

    let causes =
        deployment_refusal(&client, deployment(json!({"team": "a b"}), valid.clone())).await;
    assert_eq!(causes[0].0, "metadata.labels");
    assert!(
        causes[0]
            .1
            .starts_with("Invalid value: \"a b\": a valid label must be"),
        "{causes:?}"
    );

    let mut mismatch = deployment(json!({}), valid);
    mismatch["spec"]["selector"]["matchLabels"]["app"] = json!("other");
    let causes = deployment_refusal(&client, mismatch).await;
    assert_eq!(causes[0].0, "spec.template.metadata.labels");

    let services: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client, "default");
    let two_unnamed = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"ports": [{"port": 80}, {"port": 8080}]},
    }))
    .unwrap();
    let refused = services
        .create(&PostParams::default(), &two_unnamed)
        .await
        .unwrap_err();
    assert_eq!(
        api_error(refused),
        (422, "Service \"web\" is invalid: [spec.ports[0].name: Required value, spec.ports[1].name: Required value]".into())
    );
}
