//! The ValidatingAdmissionPolicy docs/security.md offers, evaluated: each validation admits a
//! DiceService that sets nothing and refuses the field it is written against. A CEL rule is a
//! CEL rule: the expressions run in kube's CEL interpreter with `object` bound as `self`.

use crate::support::repo;
use dice_operator::crd::DiceService;
use kube::CustomResourceExt;
use serde_json::{Value, json};

/// One object per validation message, which that validation (and only it) must refuse.
fn hostile(message: &str) -> Option<Value> {
    let spec = match message {
        m if m.starts_with("spec.image ") => json!({"image": "evil.example.org/miner:1"}),
        m if m.starts_with("spec.imagePullPolicy") => json!({"imagePullPolicy": "Always"}),
        m if m.starts_with("spec.nodeSelector") => {
            json!({"nodeSelector": {"node-role.kubernetes.io/control-plane": ""}})
        }
        m if m.starts_with("spec.tolerations") => json!({"tolerations": [{"operator": "Exists"}]}),
        m if m.starts_with("spec.affinity") => json!({"affinity": {"nodeAffinity": {}}}),
        m if m.starts_with("spec.topologySpreadConstraints") => {
            json!({"topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"}]})
        }
        m if m.starts_with("spec.imagePullSecrets") => {
            json!({"imagePullSecrets": [{"name": "team-b-registry"}]})
        }
        m if m.starts_with("spec.podLabels") => {
            json!({"podLabels": {"sidecar.istio.io/inject": "false"}})
        }
        m if m.starts_with("spec.gpu") => json!({"gpu": {"enabled": true}}),
        m if m.starts_with("at most 10 replicas") => {
            json!({"autoscaling": {"minReplicas": 1, "maxReplicas": 50}})
        }
        m if m.starts_with("spec.history.storage") => {
            json!({"history": {"enabled": true, "storage": {"size": "1Gi", "storageClassName": "premium"}}})
        }
        _ => return None,
    };
    Some(dice(spec))
}

fn dice(spec: Value) -> Value {
    json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService",
        "metadata": {"name": "dice", "namespace": "team-a"}, "spec": spec})
}

/// (expression, message) of every validation of every policy in the document's YAML blocks.
fn validations(markdown: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for block in markdown.split("```yaml").skip(1) {
        let yaml = block.split("```").next().unwrap_or_default();
        for document in serde_yaml::Deserializer::from_str(yaml) {
            let policy: Value = serde::Deserialize::deserialize(document).expect("YAML parses");
            if policy["kind"] != "ValidatingAdmissionPolicy" {
                continue;
            }
            for rule in policy["spec"]["validations"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let expression = rule["expression"].as_str().expect("an expression");
                let message = rule["message"].as_str().expect("a message");
                found.push((expression.to_owned(), message.to_owned()));
            }
        }
    }
    found
}

/// Whether the validation admits `object`. Rules are evaluated against the DiceService's own
/// schema, as the API server types `object` for a custom resource (map keys stay keys).
fn admits(expression: &str, object: &Value) -> bool {
    const REFUSED: &str = "refused by the documented policy";
    let crd = serde_json::to_value(DiceService::crd()).unwrap();
    let mut schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    schema["x-kubernetes-validations"] =
        json!([{"rule": expression.replace("object.", "self."), "message": REFUSED}]);
    match kube::core::cel::Validator::new().validate(&schema, object, None) {
        Ok(()) => true,
        Err(errors) => !errors
            .into_vec()
            .iter()
            .any(|e| e.to_string().contains(REFUSED)),
    }
}

#[test]
fn every_documented_validation_admits_an_empty_spec_and_refuses_its_own_field() {
    let markdown = std::fs::read_to_string(repo("docs/security.md")).unwrap();
    let validations = validations(&markdown);
    assert!(validations.len() >= 10, "{validations:?}");
    let empty = dice(json!({}));
    for (expression, message) in &validations {
        assert!(
            admits(expression, &empty),
            "{message}: refuses an empty spec"
        );
        let object = hostile(message)
            .unwrap_or_else(|| panic!("no object to refuse for {message:?}: add one above"));
        assert!(!admits(expression, &object), "{message}: admits {object}");
        let refused_by: Vec<&str> = validations
            .iter()
            .filter(|(other, _)| !admits(other, &object))
            .map(|(_, m)| m.as_str())
            .collect();
        assert_eq!(refused_by, [message.as_str()], "{object}");
    }
}
