//! Every built-in object the operator creates for the examples (Deployment, Service,
//! ServiceAccount, autoscaler, disruption budget, network policy, claim, dashboard ConfigMap)
//! passes `kubernetes-validate --strict` for Kubernetes 1.30 and the newest it bundles. The
//! Prometheus Operator kinds are checked against their CRDs in upstream_schemas.rs.

use crate::chart::{tool, validate_strictly};
use crate::support::repo;
use dice_operator::render::{objects, render_manifest};
use dice_operator::validate::Defaults;
use serde_json::Value;
use std::collections::BTreeSet;

#[test]
fn every_child_of_every_example_validates_for_kubernetes_1_30_and_the_newest() {
    let Some(validate) = tool("venv/bin/kubernetes-validate") else {
        return;
    };
    let mut documents: Vec<Value> = Vec::new();
    for example in ["minimal", "full", "gpu"] {
        let text =
            std::fs::read_to_string(repo(&format!("manifests/examples/{example}.yaml"))).unwrap();
        for (_, children) in render_manifest(&text, &Defaults::with_image("dice-server:1")).unwrap()
        {
            documents.extend(objects(&children).unwrap().into_iter().map(|(_, o)| o));
        }
    }
    documents.retain(|d| {
        !d["apiVersion"]
            .as_str()
            .unwrap()
            .starts_with("monitoring.coreos.com/")
    });
    let kinds: BTreeSet<&str> = documents
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Deployment",
    ] {
        assert!(
            kinds.contains(kind),
            "the examples render a {kind}: {kinds:?}"
        );
    }
    validate_strictly(&validate, &documents, "children of the examples");
}
