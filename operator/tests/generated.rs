//! Committed generated files match what the code generates (`make generate` fixes drift).
#![allow(clippy::expect_used)]

use dice_operator::crd::DiceService;
use kube::CustomResourceExt;

#[test]
fn committed_crd_matches_the_rust_types() {
    let generated = serde_yaml::to_string(&DiceService::crd()).expect("CRD serializes");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/diceservice.yaml");
    let committed = std::fs::read_to_string(path).expect("crds/diceservice.yaml exists");
    assert!(
        committed == generated,
        "crds/diceservice.yaml is stale: run `make generate` and commit the result"
    );
}
