//! The managedFields snapshots of Kubernetes' own server-side apply integration tests
//! (kubernetes/kubernetes `test/integration/apiserver/apply/apply_test.go`), replayed on the
//! fake: each test names the upstream test it follows, makes the same requests and expects the
//! same entries (times aside, which upstream wipes too). TestDuplicatesInAssociativeLists is
//! not replayed: it needs duplicated list-map keys and built-in defaulting, which the fake does
//! not do (docs/operator.md, "What still differs from a real API server").

use fake_apiserver::FakeApiServer;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::time::Duration;

/// The entries of `object` as upstream compares them: without their times.
fn entries_without_time(object: &impl serde::Serialize) -> Vec<Value> {
    let object = serde_json::to_value(object).unwrap();
    let mut entries = object["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for entry in &mut entries {
        entry.as_object_mut().unwrap().remove("time");
    }
    entries
}

fn entry(manager: &str, operation: &str, api_version: &str, fields: Value) -> Value {
    json!({"manager": manager, "operation": operation, "apiVersion": api_version,
        "fieldsType": "FieldsV1", "fieldsV1": fields})
}

fn as_manager(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.to_owned()),
        ..PatchParams::default()
    }
}

/// TestApplyManagedFields: an update takes the field it changed from the applier, and two
/// updates by one manager make one entry with the later time.
#[tokio::test]
async fn apply_managed_fields() {
    let server = FakeApiServer::new();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "test-cm", "namespace": "default", "labels": {"test-label": "test"}},
        "data": {"key": "value"}});
    maps.patch(
        "test-cm",
        &PatchParams::apply("apply_test"),
        &Patch::Apply(&applied),
    )
    .await
    .unwrap();
    let new_key = json!({"data": {"new-key": "value"}});
    maps.patch("test-cm", &as_manager("updater"), &Patch::Merge(&new_key))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let new_value = json!({"data": {"key": "new value"}});
    maps.patch("test-cm", &as_manager("updater"), &Patch::Merge(&new_value))
        .await
        .unwrap();

    let object = maps.get("test-cm").await.unwrap();
    assert_eq!(
        entries_without_time(&object),
        [
            entry(
                "apply_test",
                "Apply",
                "v1",
                json!({"f:metadata": {"f:labels": {"f:test-label": {}}}})
            ),
            entry(
                "updater",
                "Update",
                "v1",
                json!({"f:data": {"f:key": {}, "f:new-key": {}}})
            ),
        ]
    );
    let data = object.data.unwrap();
    assert_eq!(
        (data["key"].as_str(), data["new-key"].as_str()),
        ("new value", "value")
    );
    let times: Vec<_> = object
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|e| e.time)
        .collect();
    assert_ne!(times[0], times[1], "the later update's time is recorded");
}

/// TestApplyConvertsManagedFieldsVersion: managedFields a create carries are kept, and the
/// manager's next apply records its own API version and fields.
#[tokio::test]
async fn apply_converts_managed_fields_version() {
    let server = FakeApiServer::new();
    let deployments: Api<Deployment> = Api::namespaced(server.client(), "default");
    let created = serde_json::from_value(json!({
        "metadata": {"name": "deployment", "labels": {"app": "nginx"}, "managedFields": [{
            "manager": "sidecar_controller", "operation": "Apply",
            "apiVersion": "extensions/v1beta1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:sidecar_version": {}}},
                "f:spec": {"f:template": {"f: spec": {"f:containers": {
                    "k:{\"name\":\"sidecar\"}": {".": {}, "f:image": {}}}}}}},
        }]},
        "spec": {"selector": {"matchLabels": {"app": "nginx"}}, "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]}}},
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &created)
        .await
        .unwrap();
    let sidecar = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "deployment", "labels": {"sidecar_version": "release"}},
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "sidecar:latest"}]}}}});
    let object = deployments
        .patch(
            "deployment",
            &PatchParams::apply("sidecar_controller"),
            &Patch::Apply(&sidecar),
        )
        .await
        .unwrap();

    let entries = entries_without_time(&object);
    assert_eq!(entries.len(), 2, "{entries:#?}");
    let converted = entries
        .iter()
        .find(|e| e["manager"] == "sidecar_controller" && e["apiVersion"] == "apps/v1");
    assert_eq!(
        converted,
        Some(&entry(
            "sidecar_controller",
            "Apply",
            "apps/v1",
            json!({
                "f:metadata": {"f:labels": {"f:sidecar_version": {}}},
                "f:spec": {"f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"sidecar\"}": {".": {}, "f:image": {}, "f:name": {}}}}}},
            })
        ))
    );
}

/// TestSubresourceField: an update through `/scale` is its own entry, with `subresource`.
#[tokio::test]
async fn subresource_field() {
    let server = FakeApiServer::new();
    let deployments: Api<Deployment> = Api::namespaced(server.client(), "default");
    let applied = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "deployment", "labels": {"app": "nginx"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}}, "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]}}}});
    deployments
        .patch(
            "deployment",
            &PatchParams::apply("manager"),
            &Patch::Apply(&applied),
        )
        .await
        .unwrap();
    let scale = json!({"spec": {"replicas": 32}});
    deployments
        .patch_scale("deployment", &as_manager("manager"), &Patch::Merge(&scale))
        .await
        .unwrap();

    let entries = entries_without_time(&deployments.get("deployment").await.unwrap());
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert_eq!(
        (
            &entries[0]["manager"],
            &entries[0]["operation"],
            entries[0].get("subresource")
        ),
        (&json!("manager"), &json!("Apply"), None)
    );
    let mut scaled = entry(
        "manager",
        "Update",
        "apps/v1",
        json!({"f:spec": {"f:replicas": {}}}),
    );
    scaled["subresource"] = json!("scale");
    assert_eq!(entries[1], scaled);
}

/// TestApplyFormerlyAtomicFields: a claimRef a controller owned whole while ObjectReference
/// was atomic (Kubernetes 1.22–1.24) is applied field by field now, and its uid stays.
#[tokio::test]
async fn apply_formerly_atomic_fields() {
    let server = FakeApiServer::new();
    let volumes: Api<PersistentVolume> = Api::all(server.client());
    let created = serde_json::from_value(json!({
        "metadata": {"name": "pv-storage", "labels": {"type": "local"},
            "finalizers": ["kubernetes.io/pv-protection"]},
        "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "16Mi"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": "pvc-storage",
                "namespace": "default", "resourceVersion": "15499",
                "uid": "2018e302-7b12-406c-9fa2-e52535d29e48"},
            "hostPath": {"path": "/tmp/mydata", "type": ""},
            "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"},
    }))
    .unwrap();
    let params = PostParams {
        field_manager: Some("apply_test".into()),
        ..PostParams::default()
    };
    let original = volumes.create(&params, &created).await.unwrap();
    let mut status_entry = entry(
        "kube-controller-manager",
        "Update",
        "v1",
        json!({"f:status": {"f:phase": {}}}),
    );
    status_entry["subresource"] = json!("status");
    let claim_ref_entry = entry(
        "kube-controller-manager",
        "Update",
        "v1",
        json!({"f:spec": {"f:claimRef": {}}}),
    );
    let mut applier_entry = entry(
        "apply_test",
        "Apply",
        "v1",
        json!({
        "f:metadata": {"f:labels": {"f:type": {}}},
        "f:spec": {"f:accessModes": {}, "f:capacity": {"f:storage": {}},
            "f:hostPath": {"f:path": {}}, "f:storageClassName": {}}}),
    );
    let mut entries = vec![
        applier_entry.clone(),
        status_entry.clone(),
        claim_ref_entry.clone(),
    ];
    for (entry, time) in entries.iter_mut().zip([
        "2022-06-08T23:46:32Z",
        "2022-06-08T23:46:32Z",
        "2022-06-08T23:46:37Z",
    ]) {
        entry["time"] = json!(time);
    }
    let set_fields = json!({"metadata": {"managedFields": entries}});
    volumes
        .patch(
            "pv-storage",
            &as_manager("apply_test"),
            &Patch::Strategic(&set_fields),
        )
        .await
        .unwrap();

    let reapplied = json!({"apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": "pv-storage", "labels": {"type": "local"}},
        "spec": {"storageClassName": "", "capacity": {"storage": "16Mi"},
            "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/mydata"},
            "claimRef": {"name": "pvc-storage", "namespace": "default"}}});
    let object = volumes
        .patch(
            "pv-storage",
            &PatchParams::apply("apply_test"),
            &Patch::Apply(&reapplied),
        )
        .await
        .unwrap();

    let claim_ref = |pv: &PersistentVolume| pv.spec.as_ref().unwrap().claim_ref.clone();
    assert_eq!(
        claim_ref(&object),
        claim_ref(&original),
        "claimRef unchanged"
    );
    applier_entry["fieldsV1"]["f:spec"]["f:claimRef"] = json!({"f:name": {}, "f:namespace": {}});
    assert_eq!(
        entries_without_time(&object),
        [applier_entry, status_entry, claim_ref_entry]
    );
}
