//! Committed generated files match what the code generates (`make generate` fixes drift).

use dice_operator::crd::DiceService;
use kube::CustomResourceExt;

#[test]
fn committed_crd_matches_the_rust_types() {
    let generated = dice_operator::yaml::to_string(&DiceService::crd()).expect("CRD serializes");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/diceservice.yaml");
    let committed = std::fs::read_to_string(path).expect("crds/diceservice.yaml exists");
    assert!(
        committed == generated,
        "crds/diceservice.yaml is stale: run `make generate` and commit the result"
    );
}

/// Every example manifest's DiceServices validate against the CRD's schema, and name no field
/// the schema lacks (the API server would silently prune it).
#[test]
fn every_example_validates_against_the_crd_schema() {
    use serde::Deserialize;
    let crd = serde_json::to_value(DiceService::crd()).expect("CRD serializes");
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let validator = jsonschema::validator_for(schema).expect("the CRD schema compiles");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../manifests/examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("examples exist") {
        let path = entry.expect("readable").path();
        let text = std::fs::read_to_string(&path).expect("readable example");
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_json::Value::deserialize(document).expect("YAML");
            if value["kind"] != "DiceService" {
                continue;
            }
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            let mut unknown = Vec::new();
            unknown_fields(&value, schema, "", &mut unknown);
            assert!(
                unknown.is_empty(),
                "{}: fields the schema lacks: {unknown:?}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "minimal, full and gpu examples");
}

fn unknown_fields(
    value: &serde_json::Value,
    schema: &serde_json::Value,
    path: &str,
    unknown: &mut Vec<String>,
) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&serde_json::Value::Bool(true)) {
        return;
    }
    match value {
        serde_json::Value::Object(fields) => {
            let properties = schema["properties"].as_object();
            for (name, child) in fields {
                let child_path = format!("{path}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(child_schema) => unknown_fields(child, child_schema, &child_path, unknown),
                    None if schema["additionalProperties"].is_object() => {
                        unknown_fields(child, &schema["additionalProperties"], &child_path, unknown)
                    }
                    // metadata is the API server's: the schema leaves it open.
                    None if path.is_empty()
                        && ["apiVersion", "kind", "metadata"].contains(&name.as_str()) => {}
                    None => unknown.push(child_path),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                unknown_fields(item, &schema["items"], &format!("{path}[{index}]"), unknown);
            }
        }
        _ => {}
    }
}

/// Every string the CRD admits has a length limit (or an enum): 40 DiceServices with a 900 KB
/// image took the operator from 48 to 127 MiB. The exceptions are the embedded Kubernetes types
/// and map values, listed here so that a new unbounded field fails this test.
#[test]
fn every_string_in_the_crd_is_bounded() {
    /// Strings without a length, lists without `maxItems`, maps without `maxProperties` or a
    /// rule on their keys' length.
    fn unbounded(schema: &serde_json::Value, path: &str, found: &mut Vec<String>) {
        match schema["type"].as_str() {
            Some("string") if schema.get("maxLength").is_none() && schema.get("enum").is_none() => {
                found.push(path.to_owned())
            }
            Some("array") => {
                if schema.get("maxItems").is_none() {
                    found.push(format!("{path} (maxItems)"));
                }
                unbounded(&schema["items"], &format!("{path}[]"), found)
            }
            Some("object") => {
                for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                    unbounded(property, &format!("{path}.{name}"), found);
                }
                if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                    let key_rule = schema["x-kubernetes-validations"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|r| r["rule"].as_str().is_some_and(|r| r.contains("size(k)")));
                    if schema.get("maxProperties").is_none() || !key_rule {
                        found.push(format!("{path} (maxProperties, key length)"));
                    }
                    unbounded(values, &format!("{path}{{}}"), found);
                }
            }
            _ => {}
        }
    }
    let crd = serde_json::to_value(DiceService::crd()).expect("CRD serializes");
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let mut found = Vec::new();
    unbounded(spec, ".spec", &mut found);
    assert!(
        found.is_empty(),
        "strings without maxLength: {found:?} (embedded types: see crd/bounds.rs)"
    );
}
