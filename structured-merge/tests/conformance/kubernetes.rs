//! Field sets and applies on the Kubernetes schemas themselves: the built-in definitions that
//! kubernetes-validate ships (installed by `make test` into `.tools/venv`) and the Prometheus
//! Operator's ServiceMonitor CRD from ../shared/third_party. These are the shapes a real API
//! server records in `managedFields` for the objects dice-operator applies.

use serde_json::{Value, json};
use std::path::PathBuf;
use structured_merge::{Schema, Set, TypeRef, Updater};

const KUBERNETES_MINOR: &str = "v1.32.0-local";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The built-in definitions of one Kubernetes minor, if kubernetes-validate is installed.
fn kubernetes_schema() -> Option<Schema> {
    let lib = repo().join(".tools/venv/lib");
    let python = std::fs::read_dir(&lib)
        .ok()?
        .filter_map(Result::ok)
        .next()?
        .path();
    let file = python
        .join("site-packages/kubernetes_validate/kubernetes-json-schema")
        .join(KUBERNETES_MINOR)
        .join("_definitions.json");
    let Ok(text) = std::fs::read_to_string(&file) else {
        println!(
            "SKIP: {} is absent (make test installs kubernetes-validate)",
            file.display()
        );
        return None;
    };
    let document: Value = serde_json::from_str(&text).expect("definitions JSON");
    let mut schema = Schema::new();
    schema
        .add_openapi_definitions(document["$defs"].as_object().expect("$defs"))
        .expect("definitions convert");
    Some(schema)
}

fn fields(schema: &Schema, root: &str, object: &Value) -> Value {
    schema
        .to_field_set(object, &TypeRef::named(root))
        .expect("typed")
        .to_fields_v1()
}

fn deployment(env: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "dice", "labels": {"app": "dice"}},
        "spec": {"replicas": 1,
            "selector": {"matchLabels": {"app": "dice"}},
            "template": {"metadata": {"labels": {"app": "dice"}},
                "spec": {"nodeSelector": {"disk": "ssd"},
                    "containers": [{"name": "dice-server", "image": "dice:1", "env": env,
                        "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}]}]}}}})
}

const DEPLOYMENT: &str = "io.k8s.api.apps.v1.Deployment";

#[test]
fn atomic_selectors_and_list_maps_are_recorded_as_kubernetes_does() {
    let Some(schema) = kubernetes_schema() else {
        return;
    };
    let set = fields(
        &schema,
        DEPLOYMENT,
        &deployment(json!([{"name": "A", "value": "1"}])),
    );
    let spec = &set["f:spec"];
    assert_eq!(
        spec["f:selector"],
        json!({}),
        "LabelSelector is atomic: {set}"
    );
    let pod = &spec["f:template"]["f:spec"];
    assert_eq!(pod["f:nodeSelector"], json!({}), "nodeSelector is atomic");
    let container = &pod["f:containers"]["k:{\"name\":\"dice-server\"}"];
    assert_eq!(container["."], json!({}), "a list-map element is a member");
    assert_eq!(
        container["f:ports"]["k:{\"containerPort\":8080,\"protocol\":\"TCP\"}"],
        json!({".": {}, "f:containerPort": {}, "f:protocol": {}, "f:name": {}})
    );
    assert_eq!(
        container["f:env"]["k:{\"name\":\"A\"}"],
        json!({".": {}, "f:name": {}, "f:value": {}})
    );
    assert_eq!(
        set["f:metadata"]["f:labels"],
        json!({"f:app": {}}),
        "no '.' on a struct field"
    );
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dice"},
        "spec": {"selector": {"app": "dice"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": "http"}]}});
    let set = fields(&schema, "io.k8s.api.core.v1.Service", &service);
    assert_eq!(
        set["f:spec"]["f:selector"],
        json!({}),
        "Service selector is atomic"
    );
    assert!(set["f:spec"]["f:ports"]["k:{\"port\":80,\"protocol\":\"TCP\"}"].is_object());
}

#[test]
fn an_env_var_set_by_another_manager_survives_reapplying_and_is_not_a_change() {
    let Some(schema) = kubernetes_schema() else {
        return;
    };
    let root = TypeRef::named(DEPLOYMENT);
    let updater = Updater {
        schema: &schema,
        root: &root,
    };
    let applied = deployment(json!(null));
    let mut applied = applied;
    applied["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .expect("container")
        .remove("env");
    let (live, managers) = updater
        .apply(
            &Value::Null,
            &applied,
            "apps/v1",
            &Default::default(),
            "dice-operator",
            false,
        )
        .expect("first apply");
    let live = live.expect("created");
    // `kubectl set env deploy/dice FOO=1`: an update that adds one env var.
    let mut edited = live.clone();
    edited["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "FOO", "value": "1"}]);
    let managers = updater
        .update(&live, &edited, "apps/v1", &managers, "kubectl-set")
        .expect("update");
    let kubectl = managers["kubectl-set"].set.to_fields_v1();
    assert_eq!(
        kubectl["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"dice-server\"}"],
        json!({"f:env": {".": {}, "k:{\"name\":\"FOO\"}": {".": {}, "f:name": {}, "f:value": {}}}}),
        "kubectl owns only what it added"
    );
    let ours = &managers["dice-operator"].set;
    assert_eq!(
        ours,
        &schema.to_field_set(&applied, &root).expect("typed"),
        "the operator still owns all it applied"
    );
    let (changed, after) = updater
        .apply(
            &edited,
            &applied,
            "apps/v1",
            &managers,
            "dice-operator",
            false,
        )
        .expect("reapply without conflict");
    assert_eq!(
        changed, None,
        "re-applying the same configuration changes nothing"
    );
    assert_eq!(after, managers);
    let container = &edited["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "dice:1", "image kept");
    assert_eq!(container["ports"][0]["containerPort"], 8080, "ports kept");
}

#[test]
fn the_service_monitor_selector_is_atomic_in_the_prometheus_operator_crd() {
    let crd_file = repo().join(
        "../shared/third_party/prometheus-operator-crds/monitoring.coreos.com_servicemonitors.yaml",
    );
    let Ok(text) = std::fs::read_to_string(&crd_file) else {
        println!("SKIP: {} is absent", crd_file.display());
        return;
    };
    let crd: Value = serde_yaml::from_str(&text).expect("CRD YAML");
    let version = &crd["spec"]["versions"][0];
    let mut schema = Schema::new();
    schema
        .add_crd_version("ServiceMonitor", &version["schema"]["openAPIV3Schema"])
        .expect("CRD schema converts");
    let monitor = json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": "dice"},
        "spec": {"selector": {"matchLabels": {"app": "dice"}},
            "endpoints": [{"port": "http", "interval": "30s"}]}});
    let set: Set = schema
        .to_field_set(&monitor, &TypeRef::named("ServiceMonitor"))
        .expect("typed");
    let fields = set.to_fields_v1();
    assert_eq!(fields["f:spec"]["f:selector"], json!({}), "{fields}");
    assert_eq!(
        fields["f:spec"]["f:endpoints"],
        json!({}),
        "a CRD list without a list type is atomic"
    );
}
