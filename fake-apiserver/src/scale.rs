//! The `/scale` subresource (autoscaling/v1 `Scale`) of Deployments and of custom resources
//! whose CRD declares one: what `kubectl scale` and a HorizontalPodAutoscaler read and write.

use crate::managed_fields::Writer;
use crate::resources::{ResourceType, ScalePaths};
use crate::status::ApiError;
use crate::store::{PatchKind, Subresource};
use crate::typed::FieldValidation;
use crate::{SharedStore, lock};
use axum::Json;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// What a PUT or PATCH of `/scale` sends.
pub struct Write<'a> {
    pub patch: Option<PatchKind>,
    pub body: Value,
    pub manager: &'a str,
}

/// GET, PUT or PATCH of an object's `/scale`.
pub fn request(
    store: &SharedStore,
    method: &Method,
    t: &ResourceType,
    (namespace, name): (&str, &str),
    write: Write<'_>,
) -> Result<Response, ApiError> {
    let Write {
        patch,
        body,
        manager,
    } = write;
    let mut store = lock(store);
    let current = store.get(t, namespace, name)?;
    let wanted = match method.as_str() {
        "GET" => return Ok(Json(view(t, &current)?).into_response()),
        "PUT" => body,
        "PATCH" => {
            let mut view = view(t, &current)?;
            match patch.unwrap_or(PatchKind::Merge) {
                // A Scale has no lists: a strategic merge patch of it is a merge patch.
                PatchKind::Merge | PatchKind::Strategic => json_patch::merge(&mut view, &body),
                PatchKind::Json => {
                    let operations: json_patch::Patch = serde_json::from_value(body)
                        .map_err(|e| ApiError::BadRequest(format!("invalid JSON patch: {e}")))?;
                    json_patch::patch(&mut view, &operations)
                        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                }
                PatchKind::Apply => {
                    return Err(ApiError::UnsupportedMediaType(
                        "apply patches to /scale are not supported here".into(),
                    ));
                }
            }
            view
        }
        verb => return Err(ApiError::MethodNotAllowed(verb.to_owned())),
    };
    let object = scaled(t, &current, &wanted)?;
    let updated = store.update(
        t,
        (namespace, name),
        object,
        Subresource::Main,
        FieldValidation::Ignore,
        &Writer {
            subresource: Some("scale"),
            ..Writer::update(manager)
        },
    )?;
    Ok(Json(view(t, &updated)?).into_response())
}

/// The Scale view of `object`.
pub fn view(t: &ResourceType, object: &Value) -> Result<Value, ApiError> {
    let paths = paths(t)?;
    let meta = &object["metadata"];
    let selector = paths
        .label_selector
        .as_deref()
        .and_then(|path| at(object, path))
        .map(|found| {
            if paths.structured_selector {
                selector_string(found)
            } else {
                found.as_str().unwrap_or_default().to_owned()
            }
        })
        .unwrap_or_default();
    Ok(json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": at(object, &paths.spec_replicas).cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": at(object, &paths.status_replicas).cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    }))
}

/// `object` with the replicas a written Scale asks for.
pub fn scaled(t: &ResourceType, object: &Value, scale: &Value) -> Result<Value, ApiError> {
    let paths = paths(t)?;
    let replicas = scale["spec"]["replicas"]
        .as_i64()
        .filter(|r| *r >= 0)
        .ok_or_else(|| ApiError::BadRequest("Scale spec.replicas must be a count".into()))?;
    let expected = scale["metadata"]["resourceVersion"]
        .as_str()
        .filter(|v| !v.is_empty());
    let mut object = object.clone();
    match expected {
        // The Scale's resourceVersion is the object's: a stale one conflicts.
        Some(version) => object["metadata"]["resourceVersion"] = json!(version),
        // Without one the write is unconditional.
        None => {
            if let Some(meta) = object["metadata"].as_object_mut() {
                meta.remove("resourceVersion");
            }
        }
    }
    let mut target = &mut object;
    for key in paths.spec_replicas.trim_start_matches('.').split('.') {
        target = &mut target[key];
    }
    *target = json!(replicas);
    Ok(object)
}

fn paths(t: &ResourceType) -> Result<&ScalePaths, ApiError> {
    t.scale.as_ref().ok_or(ApiError::UnknownResource)
}

fn at<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.trim_start_matches('.')
        .split('.')
        .try_fold(object, |value, key| value.get(key))
}

/// `matchLabels` as `key=value,...` (what a Deployment's Scale reports).
fn selector_string(selector: &Value) -> String {
    selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn a_deployment_scale_reads_and_writes_spec_replicas() {
        let registry = Registry::default();
        let t = registry.get("apps", "v1", "deployments").unwrap();
        let deployment = json!({"metadata": {"name": "d", "namespace": "n", "resourceVersion": "7"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "1", "b": "2"}}},
            "status": {"replicas": 2}});
        let scale = view(t, &deployment).unwrap();
        assert_eq!(scale["spec"]["replicas"], 2);
        assert_eq!(scale["status"]["selector"], "a=1,b=2");
        let wanted = json!({"spec": {"replicas": 5}});
        let written = scaled(t, &deployment, &wanted).unwrap();
        assert_eq!(written["spec"]["replicas"], 5);
        assert!(written["metadata"].get("resourceVersion").is_none());
        assert!(scaled(t, &deployment, &json!({"spec": {"replicas": -1}})).is_err());
    }
}
