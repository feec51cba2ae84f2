//! Golden snapshots of every child of every example in manifests/examples/.
//! A snapshot diff is how a change in what the operator creates gets reviewed.

use dice_operator::children::{self, Child, ChildKind, Desired, Visit};
use dice_operator::crd::DiceService;
use dice_operator::render::render_manifest;
use dice_operator::validate::Defaults;
use dice_operator::validate::validate;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

const IMAGE: &str = "ghcr.io/dice-operator/dice-server:test";

fn example(name: &str) -> String {
    let path = format!(
        "{}/../manifests/examples/{name}.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// As the API server would hand it to the reconciler: with a uid, so owner references appear.
fn from_cluster(service: &DiceService) -> DiceService {
    let mut service = service.clone();
    service.metadata = ObjectMeta {
        uid: Some("6b1c2a4e-0000-4000-8000-000000000001".into()),
        generation: Some(1),
        ..service.metadata
    };
    service
}

fn snapshot_example(name: &str) {
    let rendered =
        render_manifest(&example(name), &Defaults::with_image(IMAGE)).expect("example renders");
    for (service, _) in rendered {
        let validated = validate(&from_cluster(&service), &Defaults::with_image(IMAGE))
            .expect("example is valid");
        children::build(&validated).visit(&mut Snapshots { example: name });
    }
}

/// One snapshot per kind, named after its `Children` field (`full-networkpolicy`).
struct Snapshots<'a> {
    example: &'a str,
}

impl Visit<Desired> for Snapshots<'_> {
    fn visit<K: Child>(&mut self, object: &Option<K::Object>) {
        let kind = ChildKind::of::<K>().expect("a listed kind");
        let name = format!("{}-{}", self.example, kind.field().replace('_', ""));
        if kind != ChildKind::Dashboard {
            insta::assert_yaml_snapshot!(name, object);
            return;
        }
        // The dashboard JSON itself is checked against Grafana's schema elsewhere; here, the
        // ConfigMap around it.
        let dashboard = object.as_ref().map(|object| {
            let mut config_map: ConfigMap =
                serde_json::from_value(serde_json::to_value(object).unwrap()).unwrap();
            for json in config_map.data.iter_mut().flat_map(|d| d.values_mut()) {
                *json = format!("<dashboard JSON, {} bytes>", json.len());
            }
            config_map
        });
        insta::assert_yaml_snapshot!(name, dashboard);
    }
}

#[test]
fn minimal_example() {
    snapshot_example("minimal");
}

#[test]
fn full_example() {
    snapshot_example("full");
}

#[test]
fn gpu_example() {
    snapshot_example("gpu");
}
