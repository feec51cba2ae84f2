//! What the operator emits validates against the real schemas: the Prometheus Operator v0.93
//! CRDs (served by the fake API server, which enforces their OpenAPI schema and rejects unknown
//! fields) and Grafana's dashboard JSON schema. Both live outside the repository, in
//! ../shared/third_party; without them these tests print `SKIP:` and pass.

use crate::support::third_party;
use dice_operator::children::{self, Children, dashboard};
use dice_operator::render::render_manifest;
use dice_operator::validate::{Defaults, validate};
use fake_apiserver::FakeApiServer;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::Value;

fn examples() -> Vec<Children> {
    ["minimal", "full", "gpu"]
        .into_iter()
        .flat_map(|name| {
            let path = format!(
                "{}/../manifests/examples/{name}.yaml",
                env!("CARGO_MANIFEST_DIR")
            );
            let defaults = Defaults::with_image("dice-server:test");
            let manifest = std::fs::read_to_string(path).unwrap();
            render_manifest(&manifest, &defaults)
                .unwrap()
                .into_iter()
                .map(move |(service, _)| {
                    let mut service = service;
                    service.metadata.uid = Some("6b1c2a4e-0000-4000-8000-000000000001".into());
                    children::build(&validate(&service, &Defaults::with_image("x")).unwrap())
                })
        })
        .collect()
}

async fn apply(client: &kube::Client, object: Value) -> Result<(), kube::Error> {
    let gvk = GroupVersionKind::try_from(&kube::core::TypeMeta {
        api_version: object["apiVersion"].as_str().unwrap().to_owned(),
        kind: object["kind"].as_str().unwrap().to_owned(),
    })
    .unwrap();
    let plural = format!("{}s", gvk.kind.to_lowercase());
    let resource = ApiResource::from_gvk_with_plural(&gvk, &plural);
    let namespace = object["metadata"]["namespace"].as_str().unwrap().to_owned();
    let name = object["metadata"]["name"].as_str().unwrap().to_owned();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource);
    // Owner references point at a DiceService this server does not hold; drop them so garbage
    // collection does not interfere with the check.
    let mut object = object;
    object["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("ownerReferences");
    api.patch(
        &name,
        &PatchParams::apply("schema-test"),
        &Patch::Apply(&object),
    )
    .await
    .map(|_| ())
}

#[tokio::test]
async fn monitoring_objects_validate_against_the_prometheus_operator_crds() {
    let Some(crds) = third_party("prometheus-operator-crds") else {
        println!("SKIP: ../shared/third_party/prometheus-operator-crds is absent");
        return;
    };
    let server = FakeApiServer::new();
    let client = server.client();
    crate::support::create_namespaces(&client, &["dice", "monitoring"]).await;
    let crd_api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for file in [
        "servicemonitors",
        "prometheusrules",
        "probes",
        "alertmanagerconfigs",
    ] {
        let text = std::fs::read_to_string(crds.join(format!("monitoring.coreos.com_{file}.yaml")))
            .unwrap();
        let crd: CustomResourceDefinition = serde_yaml::from_str(&text).unwrap();
        crd_api.create(&PostParams::default(), &crd).await.unwrap();
    }
    let mut checked = 0;
    for children in examples() {
        let objects = [
            children
                .service_monitor
                .map(|o| serde_json::to_value(o).unwrap()),
            children
                .prometheus_rule
                .map(|o| serde_json::to_value(o).unwrap()),
            children.probe.map(|o| serde_json::to_value(o).unwrap()),
            children
                .alertmanager_config
                .map(|o| serde_json::to_value(o).unwrap()),
        ];
        for object in objects.into_iter().flatten() {
            let kind = object["kind"].clone();
            if let Err(error) = apply(&client, object).await {
                panic!("{kind} rejected by the upstream schema: {error}");
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 8,
        "every kind of the full example was checked ({checked})"
    );

    // The check has teeth: a field the schema does not know is refused.
    let mut bogus = serde_json::to_value(examples()[0].service_monitor.clone().unwrap()).unwrap();
    bogus["spec"]["endpoints"][0]["scrapeEvery"] = Value::from("30s");
    let error = apply(&client, bogus)
        .await
        .expect_err("unknown field refused");
    assert!(error.to_string().contains("scrapeEvery"), "{error}");
}

#[test]
fn every_dashboard_validates_against_grafanas_schema() {
    let Some(schema_path) = third_party("grafana-dashboard-schema/dashboard.jsonschema.json")
    else {
        println!("SKIP: ../shared/third_party/grafana-dashboard-schema is absent");
        return;
    };
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let template: Value = serde_json::from_str(dashboard::TEMPLATE).unwrap();
    let mut dashboards = vec![template];
    for children in examples() {
        let config_map = children.dashboard.expect("dashboards are on by default");
        let json = config_map.data.unwrap().into_values().next().unwrap();
        dashboards.push(serde_json::from_str(&json).unwrap());
    }
    for dashboard in &dashboards {
        let errors: Vec<String> = validator
            .iter_errors(dashboard)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", dashboard["title"]);
        assert!(
            dashboard["id"].is_null(),
            "id must be null for provisioning"
        );
        assert!(
            dashboard.get("__inputs").is_none(),
            "no __inputs: the sidecar cannot fill them"
        );
    }
    let mut shared_for_export = dashboards[0].clone();
    shared_for_export["__inputs"] = Value::Array(Vec::new());
    assert!(
        !validator.is_valid(&shared_for_export),
        "the schema refuses unknown keys"
    );
    let uids: std::collections::BTreeSet<&str> = dashboards[1..]
        .iter()
        .map(|d| d["uid"].as_str().unwrap())
        .collect();
    assert_eq!(
        uids.len(),
        dashboards.len() - 1,
        "every DiceService gets its own uid"
    );
}
