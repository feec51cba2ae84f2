//! Streaming lists (KEP-3157, `sendInitialEvents`): kube-runtime's `StreamingList` watcher
//! reads the current objects and the bookmark that ends them from one request, and a server
//! with the WatchList feature gate off refuses it as Kubernetes 1.33 does.

use fake_apiserver::FakeApiServer;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;
use std::time::Duration;

async fn with_config_maps(server: &FakeApiServer, count: usize) -> Api<ConfigMap> {
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    for i in 0..count {
        let map = serde_json::from_value(json!({"metadata": {"name": format!("m{i}")}})).unwrap();
        maps.create(&PostParams::default(), &map).await.unwrap();
    }
    maps
}

#[tokio::test]
async fn a_streaming_list_is_one_request_ending_in_the_initial_events_bookmark() {
    let server = FakeApiServer::new();
    let maps = with_config_maps(&server, 3).await;
    let before = server.requests().len();
    let mut events =
        watcher::watcher(maps.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut initial = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("the initial events end")
            .expect("a stream")
            .expect("no error");
        match event {
            Event::Init => {}
            Event::InitApply(map) => initial.push(map.metadata.name.unwrap()),
            Event::InitDone => break,
            other => panic!("before the end of the initial events: {other:?}"),
        }
    }
    assert_eq!(initial, ["m0", "m1", "m2"]);
    let requests: Vec<_> = server.requests()[before..].to_vec();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        requests[0].uri.contains("sendInitialEvents=true")
            && requests[0].uri.contains("watch=true"),
        "{requests:?}"
    );

    // Then it goes on as a watch from the bookmark's version.
    let created = serde_json::from_value(json!({"metadata": {"name": "later"}})).unwrap();
    maps.create(&PostParams::default(), &created).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(next, Event::Apply(map) if map.metadata.name.as_deref() == Some("later")));
}

#[tokio::test]
async fn with_the_watch_list_gate_off_a_streaming_list_is_invalid() {
    let server = FakeApiServer::new();
    server.disable_watch_list();
    let maps = with_config_maps(&server, 1).await;
    let refused = maps
        .watch(&kube::api::WatchParams::streaming_lists(), "0")
        .await
        .map(|_| ())
        .unwrap_err();
    let kube::Error::Api(status) = refused else {
        panic!("not an API error: {refused}");
    };
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: \
         sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"
    );
    // A plain list and watch still work.
    let mut listed = watcher::watcher(maps, watcher::Config::default())
        .filter_map(|event| async move {
            match event {
                Ok(Event::InitDone) => Some(()),
                _ => None,
            }
        })
        .boxed();
    tokio::time::timeout(Duration::from_secs(5), listed.next())
        .await
        .expect("paged lists work");
}
