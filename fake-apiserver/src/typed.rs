//! Built-in kinds decoded strictly into their k8s-openapi types, as a real API server decodes
//! every write into its Go struct: a wrong type is a 400, an unknown field is a 400 under
//! `fieldValidation=Strict` and dropped under `Warn`/`Ignore`. Without the parameter this
//! server is strict (a real one warns): a test that writes a field nobody reads should fail.

use crate::resources::ResourceType;
use crate::status::ApiError;
use k8s_openapi::api::{apps, autoscaling, coordination, core, events, networking, policy, rbac};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    #[default]
    Strict,
    Warn,
    Ignore,
}

impl FieldValidation {
    pub fn from_param(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("Strict") => Ok(Self::Strict),
            Some("Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some(other) => Err(ApiError::BadRequest(format!(
                "fieldValidation: unsupported value {other:?}: supported values: \"Ignore\", \"Warn\", \"Strict\""
            ))),
        }
    }
}

/// Checks `object` against its kind's type. Unknown fields are refused or removed in place.
/// Kinds without a typed form here (custom resources) pass untouched: their schema admits them.
pub fn decode(
    t: &ResourceType,
    object: &mut Value,
    validation: FieldValidation,
) -> Result<(), ApiError> {
    let Some(known) = typed_form(t, object) else {
        return Ok(());
    };
    let known = known.map_err(|error| {
        ApiError::BadRequest(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {error}",
            kind = t.kind,
            version = t.version
        ))
    })?;
    let mut unknown = Vec::new();
    unknown_fields(object, &known, "", &mut unknown);
    if unknown.is_empty() {
        return Ok(());
    }
    if validation == FieldValidation::Strict {
        let fields: Vec<String> = unknown
            .iter()
            .map(|(path, _)| format!("unknown field \"{path}\""))
            .collect();
        return Err(ApiError::BadRequest(format!(
            "strict decoding error: {}",
            fields.join(", ")
        )));
    }
    for (_, pointer) in unknown.iter().rev() {
        remove(object, pointer);
    }
    Ok(())
}

/// The object as its k8s-openapi type reads and writes it back: what the type knows of it.
fn typed_form(t: &ResourceType, object: &Value) -> Option<Result<Value, String>> {
    Some(match (t.group.as_str(), t.kind.as_str()) {
        ("", "Namespace") => through::<core::v1::Namespace>(object),
        ("", "PersistentVolumeClaim") => through::<core::v1::PersistentVolumeClaim>(object),
        ("", "PersistentVolume") => through::<core::v1::PersistentVolume>(object),
        ("", "ServiceAccount") => through::<core::v1::ServiceAccount>(object),
        ("", "Service") => through::<core::v1::Service>(object),
        ("", "ConfigMap") => through::<core::v1::ConfigMap>(object),
        ("", "Secret") => through::<core::v1::Secret>(object),
        ("", "Event") => through::<core::v1::Event>(object),
        ("", "Pod") => through::<core::v1::Pod>(object),
        ("apps", "Deployment") => through::<apps::v1::Deployment>(object),
        ("coordination.k8s.io", "Lease") => through::<coordination::v1::Lease>(object),
        ("autoscaling", "HorizontalPodAutoscaler") => {
            through::<autoscaling::v2::HorizontalPodAutoscaler>(object)
        }
        ("policy", "PodDisruptionBudget") => through::<policy::v1::PodDisruptionBudget>(object),
        ("networking.k8s.io", "NetworkPolicy") => through::<networking::v1::NetworkPolicy>(object),
        ("rbac.authorization.k8s.io", "ClusterRole") => through::<rbac::v1::ClusterRole>(object),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            through::<rbac::v1::ClusterRoleBinding>(object)
        }
        ("rbac.authorization.k8s.io", "Role") => through::<rbac::v1::Role>(object),
        ("rbac.authorization.k8s.io", "RoleBinding") => through::<rbac::v1::RoleBinding>(object),
        ("events.k8s.io", "Event") => through::<events::v1::Event>(object),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            through::<CustomResourceDefinition>(object)
        }
        _ => return None,
    })
}

fn through<T: DeserializeOwned + Serialize>(object: &Value) -> Result<Value, String> {
    let typed: T = serde_path_to_error::deserialize(object).map_err(|error| {
        let path = error.path().to_string();
        format!("{path}: {}", error.into_inner())
    })?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// Paths (`spec.replicaz`, with a JSON pointer to remove them) present in `given` but not in
/// `known`. A null is no field: the API server treats it as absent.
fn unknown_fields(given: &Value, known: &Value, path: &str, found: &mut Vec<(String, String)>) {
    match (given, known) {
        (Value::Object(given), Value::Object(known)) => {
            for (name, value) in given {
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                match known.get(name) {
                    Some(inner) => unknown_fields(value, inner, &child, found),
                    None if value.is_null() => {}
                    None => {
                        let pointer = pointer_of(&child);
                        found.push((child, pointer));
                    }
                }
            }
        }
        (Value::Array(given), Value::Array(known)) => {
            for (index, (value, inner)) in given.iter().zip(known).enumerate() {
                unknown_fields(value, inner, &format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

/// `a.b[2].c` → `/a/b/2/c` (field names here come from JSON keys of k8s objects: no `.` or `[`
/// in the names this server has to drop, and `~`/`/` are escaped).
fn pointer_of(path: &str) -> String {
    path.split('.')
        .flat_map(|segment| segment.split('['))
        .map(|part| {
            let part = part.trim_end_matches(']');
            format!("/{}", part.replace('~', "~0").replace('/', "~1"))
        })
        .collect()
}

fn remove(object: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let name = last.replace("~1", "/").replace("~0", "~");
    if let Some(Value::Object(map)) = object.pointer_mut(parent) {
        map.remove(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use serde_json::json;

    fn deployments() -> ResourceType {
        Registry::default()
            .get("apps", "v1", "deployments")
            .cloned()
            .unwrap_or_else(|| panic!("deployments are served"))
    }

    fn deployment(env_value: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "env": [{"name": "DICE_GPU", "value": env_value}]}]}}}})
    }

    #[test]
    fn a_boolean_where_a_string_belongs_is_refused_with_its_path() {
        let error = decode(
            &deployments(),
            &mut deployment(json!(false)),
            FieldValidation::Ignore,
        )
        .expect_err("a bool env value is refused");
        let text = error.to_string();
        assert!(
            text.contains("spec.template.spec.containers[0].env[0].value"),
            "{text}"
        );
        assert!(
            decode(
                &deployments(),
                &mut deployment(json!("off")),
                FieldValidation::Strict
            )
            .is_ok()
        );
    }

    #[test]
    fn unknown_fields_are_refused_when_strict_and_dropped_otherwise() {
        let mut object = deployment(json!("off"));
        object["spec"]["replicaz"] = json!(3);
        object["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = json!("x");
        let error = decode(&deployments(), &mut object.clone(), FieldValidation::Strict)
            .expect_err("unknown fields are refused");
        assert!(error.to_string().contains(
            "unknown field \"spec.replicaz\", unknown field \"spec.template.spec.containers[0].imagePolicy\""
        ), "{error}");
        decode(&deployments(), &mut object, FieldValidation::Warn).expect("dropped");
        assert_eq!(object, deployment(json!("off")));
    }

    #[test]
    fn nulls_are_no_fields() {
        let mut object = deployment(json!("off"));
        object["spec"]["replicas"] = Value::Null;
        assert!(decode(&deployments(), &mut object, FieldValidation::Strict).is_ok());
    }
}
