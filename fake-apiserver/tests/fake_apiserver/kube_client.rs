//! kube-rs against the fake API server, in process: the behaviours the operator relies on.

use dice_operator::crd::DiceService;
use fake_apiserver::FakeApiServer;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::{CustomResourceExt, ResourceExt};
use serde_json::json;
use std::time::Duration;

async fn install_dice_crd(server: &FakeApiServer) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: Api<CustomResourceDefinition> = Api::all(server.client());
    crds.create(&PostParams::default(), &DiceService::crd())
        .await
        .unwrap();
}

fn config_map(name: &str, data: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"app": "dice"}}, "data": data}),
    )
    .unwrap()
}

#[tokio::test]
async fn create_get_list_and_conflicting_replace() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let created = api
        .create(&PostParams::default(), &config_map("a", json!({"k": "v"})))
        .await
        .unwrap();
    assert!(created.uid().is_some());
    assert!(created.creation_timestamp().is_some());
    api.create(&PostParams::default(), &config_map("b", json!({})))
        .await
        .unwrap();
    let err = api
        .create(&PostParams::default(), &config_map("a", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err}"
    );

    let fetched = api.get("a").await.unwrap();
    assert_eq!(fetched.data.unwrap()["k"], "v");
    let listed = api
        .list(&ListParams::default().labels("app=dice"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 2);
    assert!(
        api.list(&ListParams::default().labels("app!=dice"))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let mut stale = created.clone();
    api.replace(
        "a",
        &PostParams::default(),
        &config_map("a", json!({"k": "v2"})).tap_rv(&created),
    )
    .await
    .unwrap();
    stale.data = Some([("k".to_string(), "v3".to_string())].into());
    let err = api
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err}"
    );
    let missing = api.get("nope").await.unwrap_err();
    assert!(matches!(missing, kube::Error::Api(ref s) if s.code == 404 && s.reason == "NotFound"));
}

trait TapResourceVersion {
    fn tap_rv(self, from: &ConfigMap) -> Self;
}

impl TapResourceVersion for ConfigMap {
    fn tap_rv(mut self, from: &ConfigMap) -> Self {
        self.metadata.resource_version = from.resource_version();
        self
    }
}

#[tokio::test]
async fn server_side_apply_creates_removes_dropped_fields_and_noops_without_writes() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let params = PatchParams::apply("dice-operator");
    let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
    let created = api
        .patch("c", &params, &Patch::Apply(&first))
        .await
        .unwrap();
    assert_eq!(created.data.as_ref().unwrap().len(), 2);

    let second = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    let updated = api
        .patch("c", &params, &Patch::Apply(&second))
        .await
        .unwrap();
    assert_eq!(
        updated.data.unwrap().keys().collect::<Vec<_>>(),
        ["a"],
        "dropped field removed"
    );

    let writes = server.writes();
    let again = api
        .patch("c", &params, &Patch::Apply(&second))
        .await
        .unwrap();
    assert_eq!(
        again.resource_version(),
        updated.metadata.resource_version,
        "no-op apply"
    );
    assert_eq!(server.writes(), writes, "a no-op apply writes nothing");
}

#[tokio::test]
async fn custom_resources_get_status_isolation_and_generation() {
    let server = FakeApiServer::new();
    install_dice_crd(&server).await;
    let api: Api<DiceService> = Api::namespaced(server.client(), "default");
    let dice = json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService", "metadata": {"name": "d"}, "spec": {"replicas": 1}});
    let created = api
        .patch("d", &PatchParams::apply("kubectl"), &Patch::Apply(&dice))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));

    let status = json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService", "status": {"readyReplicas": 1, "replicas": 1}});
    let with_status = api
        .patch_status(
            "d",
            &PatchParams::apply("dice-operator"),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(with_status.status.as_ref().unwrap().ready_replicas, 1);
    assert_eq!(
        with_status.metadata.generation,
        Some(1),
        "status writes keep the generation"
    );

    let spec_change = json!({"spec": {"replicas": 3}, "status": {"readyReplicas": 99}});
    let changed = api
        .patch("d", &PatchParams::default(), &Patch::Merge(&spec_change))
        .await
        .unwrap();
    assert_eq!(changed.spec.replicas, 3);
    assert_eq!(
        changed.metadata.generation,
        Some(2),
        "spec change bumps the generation"
    );
    assert_eq!(
        changed.status.unwrap().ready_replicas,
        1,
        "the main resource ignores status"
    );
}

#[tokio::test]
async fn deleting_an_owner_collects_its_dependents_and_finalizers_hold_deletion() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let owner = api
        .create(&PostParams::default(), &config_map("owner", json!({})))
        .await
        .unwrap();
    let mut child = config_map("child", json!({}));
    child.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "owner".into(),
            uid: owner.uid().unwrap(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        },
    ]);
    api.create(&PostParams::default(), &child).await.unwrap();
    // Owned once, then released: the collector follows the owner references as they are now.
    let mut released = child.clone();
    released.metadata.name = Some("released".into());
    api.create(&PostParams::default(), &released).await.unwrap();
    api.patch(
        "released",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"ownerReferences": null}})),
    )
    .await
    .unwrap();
    let mut held = config_map("held", json!({}));
    held.metadata.finalizers = Some(vec!["dice.dev/cleanup".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();

    api.delete("owner", &DeleteParams::default()).await.unwrap();
    assert!(
        api.get_opt("child").await.unwrap().is_none(),
        "dependent garbage-collected"
    );
    assert!(
        api.get_opt("released").await.unwrap().is_some(),
        "an object whose owner reference was removed is not collected"
    );

    api.delete("held", &DeleteParams::default()).await.unwrap();
    let pending = api.get("held").await.unwrap();
    assert!(
        pending.metadata.deletion_timestamp.is_some(),
        "finalizer holds the object"
    );
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(
        api.get_opt("held").await.unwrap().is_none(),
        "gone once finalizers are removed"
    );
}

#[tokio::test]
async fn kube_runtime_watcher_sees_every_change() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    api.create(&PostParams::default(), &config_map("before", json!({})))
        .await
        .unwrap();
    let mut events =
        watcher::watcher(api.clone(), watcher::Config::default().labels("app=dice")).boxed();
    let mut seen = Vec::new();
    let writer = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        api.create(&PostParams::default(), &config_map("after", json!({})))
            .await
            .unwrap();
        api.patch(
            "after",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"x": "y"}})),
        )
        .await
        .unwrap();
        api.delete("before", &DeleteParams::default())
            .await
            .unwrap();
    };
    let reader = async {
        while let Some(event) = events.next().await {
            match event.unwrap() {
                Event::InitApply(cm) => seen.push(format!("init {}", cm.name_any())),
                Event::Apply(cm) => seen.push(format!(
                    "apply {} {:?}",
                    cm.name_any(),
                    cm.data.map(|d| d.len())
                )),
                Event::Delete(cm) => seen.push(format!("delete {}", cm.name_any())),
                Event::Init | Event::InitDone => {}
            }
            if seen.iter().any(|s| s.starts_with("delete")) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(writer, reader)
    })
    .await
    .expect("watch ends");
    assert_eq!(
        seen,
        [
            "init before",
            "apply after Some(0)",
            "apply after Some(1)",
            "delete before"
        ]
    );
}

#[tokio::test]
async fn invalid_diceservices_are_refused_with_the_reason() {
    let server = FakeApiServer::new();
    install_dice_crd(&server).await;
    let api: Api<DiceService> = Api::namespaced(server.client(), "default");
    let cases = [
        (
            json!({"dice": {"riskyErrorRate": 1.5}}),
            "spec.dice.riskyErrorRate",
        ),
        (
            json!({"dice": {"maxDelay": "45s"}}),
            "maxDelay must be shorter than dice-server's 30s request timeout",
        ),
        (
            json!({"sampleInterval": "10ms"}),
            "sampleInterval must be at least 100ms",
        ),
        (json!({"sampleInterval": "soon"}), "spec.sampleInterval"),
        (json!({"replicas": -1}), "spec.replicas"),
        (
            json!({"telemetry": {"tracesSampleRatio": 0.5}}),
            "tracesSampleRatio needs an otlpEndpoint",
        ),
        (
            json!({"imagePullPolicy": "Sometimes"}),
            "spec.imagePullPolicy",
        ),
    ];
    for (spec, expected) in cases {
        let body = json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService", "metadata": {"name": "bad"}, "spec": spec});
        let err = api
            .patch("bad", &PatchParams::apply("test"), &Patch::Apply(&body))
            .await
            .unwrap_err();
        let kube::Error::Api(status) = err else {
            panic!("{spec}: not an API error")
        };
        assert_eq!(
            (status.code, status.reason.as_str()),
            (422, "Invalid"),
            "{spec}"
        );
        assert!(
            status.message.contains(expected),
            "{spec}: {:?} lacks {expected:?}",
            status.message
        );
    }
    // An apply naming a field the schema lacks fails where a real server's does: typing the
    // configuration, before validation, as a 500 (kubernetes/kubernetes#139253).
    let body = json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService", "metadata": {"name": "bad"}, "spec": {"replica": 2}});
    let Err(kube::Error::Api(status)) = api
        .patch("bad", &PatchParams::apply("test"), &Patch::Apply(&body))
        .await
    else {
        panic!("an unknown field was applied")
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (500, "InternalError")
    );
    assert!(
        status
            .message
            .contains(".spec.replica: field not declared in schema"),
        "{}",
        status.message
    );
    assert!(
        api.get_opt("bad").await.unwrap().is_none(),
        "nothing invalid was stored"
    );
}

#[tokio::test]
async fn a_dependent_created_after_its_owner_is_gone_is_collected() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let mut late = config_map("late", json!({}));
    late.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "gone".into(),
            uid: "00000000-0000-4000-8000-000000000000".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        },
    ]);
    api.create(&PostParams::default(), &late).await.unwrap();
    assert!(
        api.get_opt("late").await.unwrap().is_none(),
        "orphan collected"
    );
}

/// Lists come in pages like a real server's (`limit`, `continue`): every page carries the first
/// page's resourceVersion, nothing is skipped when objects are created between pages, and a
/// watch from that version replays what changed meanwhile. A fake that answered one page of
/// everything made a restarted operator hold whole kinds at once.
#[tokio::test]
async fn lists_are_paginated_and_a_watch_from_the_first_page_misses_nothing() {
    let server = FakeApiServer::new();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    for n in [1, 3, 5, 7, 9] {
        maps.create(
            &PostParams::default(),
            &config_map(&format!("cm-{n}"), json!({})),
        )
        .await
        .unwrap();
    }
    let first = maps.list(&ListParams::default().limit(2)).await.unwrap();
    let snapshot = first.metadata.resource_version.clone().unwrap();
    let names = |list: &kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        list.items.iter().map(|m| m.name_any()).collect()
    };
    assert_eq!(names(&first), ["cm-1", "cm-3"]);
    // Created between pages: one before the cursor, one after it.
    for n in [2, 8] {
        maps.create(
            &PostParams::default(),
            &config_map(&format!("cm-{n}"), json!({})),
        )
        .await
        .unwrap();
    }
    let mut seen = names(&first);
    let mut token = first.metadata.continue_.clone();
    while let Some(next) = token.filter(|t| !t.is_empty()) {
        let page = maps
            .list(&ListParams::default().limit(2).continue_token(&next))
            .await
            .unwrap();
        assert_eq!(
            page.metadata.resource_version.as_deref(),
            Some(snapshot.as_str())
        );
        seen.extend(names(&page));
        token = page.metadata.continue_.clone();
    }
    assert_eq!(seen, ["cm-1", "cm-3", "cm-5", "cm-7", "cm-8", "cm-9"]);
    // The one created behind the cursor arrives through the watch from the snapshot.
    let params = kube::api::WatchParams::default().timeout(1);
    let mut events = maps.watch(&params, &snapshot).await.unwrap().boxed();
    let mut added = Vec::new();
    while let Some(Ok(kube::api::WatchEvent::Added(map))) = events.next().await {
        added.push(map.name_any());
    }
    assert_eq!(added, ["cm-2", "cm-8"]);
}

#[tokio::test]
async fn metadata_only_reads_carry_managed_fields_that_name_who_changed_what() {
    use kube::core::PartialObjectMeta;
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "m", "labels": {"app": "dice"}}, "data": {"k": "v", "j": "w"}});
    api.patch("m", &PatchParams::apply("owner"), &Patch::Apply(&applied))
        .await
        .unwrap();
    let edit = PatchParams {
        field_manager: Some("editor".into()),
        ..PatchParams::default()
    };
    api.patch("m", &edit, &Patch::Merge(json!({"data": {"k": "changed"}})))
        .await
        .unwrap();

    let listed = api.list_metadata(&ListParams::default()).await.unwrap();
    let meta: &PartialObjectMeta<ConfigMap> = &listed.items[0];
    assert_eq!(
        meta.types.as_ref().map(|t| t.kind.as_str()),
        Some("PartialObjectMetadata")
    );
    let owners: Vec<(String, serde_json::Value)> = meta
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|e| {
            let fields = e
                .fields_v1
                .as_ref()
                .map(|f| f.0.clone())
                .unwrap_or_default();
            (e.manager.clone().unwrap_or_default(), fields)
        })
        .collect();
    assert_eq!(
        owners,
        [
            (
                "owner".to_owned(),
                json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:data": {"f:j": {}}})
            ),
            ("editor".to_owned(), json!({"f:data": {"f:k": {}}})),
        ]
    );
    let fetched = api.get_metadata("m").await.unwrap();
    assert_eq!(
        fetched.metadata.managed_fields,
        meta.metadata.managed_fields
    );

    let metadata: Api<PartialObjectMeta<ConfigMap>> = Api::namespaced(server.client(), "default");
    let mut watch = watcher::watcher(metadata, watcher::Config::default()).boxed();
    let mut names = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap()
    {
        match event.unwrap() {
            Event::InitApply(object) => names.push(object.name_any()),
            Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(names, ["m"]);
}
