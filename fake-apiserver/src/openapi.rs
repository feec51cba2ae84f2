//! OpenAPI v3 discovery, as far as kubectl needs it: an index of group-versions, and per
//! group-version the PATCH operations (with `fieldValidation`, so kubectl validates server-side
//! instead of downloading OpenAPI v2) and CRD schemas as components for `kubectl explain`.

use crate::field_types;
use crate::resources::Registry;
use serde_json::{Map, Value, json};

fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

pub fn index(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, versions) in registry.groups() {
        for version in versions {
            let path = group_version_path(&group, &version);
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// The document for `path` (`api/v1`, `apis/<group>/<version>`), if such a group-version exists.
pub fn document(registry: &Registry, path: &str) -> Option<Value> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version) = match segments.as_slice() {
        ["api", version] => ("", *version),
        ["apis", group, version] => (*group, *version),
        _ => return None,
    };
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for t in registry
        .all()
        .filter(|t| t.group == group && t.version == version)
    {
        let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
        let prefix = format!("/{}", group_version_path(group, version));
        let object_path = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("{prefix}/{}/{{name}}", t.plural)
        };
        let query = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": true});
        paths.insert(object_path, json!({
            "patch": {
                "operationId": format!("patch{}", t.kind),
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [query("dryRun"), query("fieldManager"), query("fieldValidation"), query("force")],
                "responses": {"200": {"description": "OK"}},
            }
        }));
        if t.schema.is_none()
            && let Some(name) = builtin_definition(t)
        {
            add_definition_closure(&name, &mut schemas);
            continue;
        }
        let schema_name = format!("{}.{}.{}", reverse_domain(&t.group), t.version, t.kind);
        let mut schema = t
            .schema
            .as_deref()
            .map(|schema| schema.json().clone())
            .unwrap_or_else(|| json!({"type": "object"}));
        schema["x-kubernetes-group-version-kind"] = json!([gvk]);
        // As a real server publishes a CRD: `metadata` is the ObjectMeta of every object.
        if field_types::definitions().is_some()
            && let Some(object) = schema.as_object_mut()
            && let Some(properties) = object
                .entry("properties")
                .or_insert_with(|| json!({}))
                .as_object_mut()
        {
            let meta = structured_merge::OBJECT_META;
            properties.insert(
                "metadata".into(),
                json!({"$ref": format!("#/components/schemas/{meta}")}),
            );
            add_definition_closure(meta, &mut schemas);
        }
        schemas.insert(schema_name, schema);
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// The name of a built-in kind's definition in the Kubernetes schemas, when they are loaded.
fn builtin_definition(t: &crate::resources::ResourceType) -> Option<String> {
    let definitions = field_types::definitions()?;
    definitions
        .definition_name(&t.group, &t.version, &t.kind)
        .map(str::to_owned)
}

/// Adds definition `name` and every definition it refers to, in OpenAPI v3 form.
fn add_definition_closure(name: &str, schemas: &mut Map<String, Value>) {
    let Some(definitions) = field_types::definitions() else {
        return;
    };
    let mut pending = vec![name.to_owned()];
    while let Some(name) = pending.pop() {
        if schemas.contains_key(&name) {
            continue;
        }
        let Some(definition) = definitions.raw.get(&name) else {
            continue;
        };
        let converted = to_openapi_v3(definition, &mut pending);
        schemas.insert(name, converted);
    }
}

/// A JSON-schema definition as OpenAPI v3 writes it: references into `components/schemas`,
/// `"type": ["string", "null"]` as `type` plus `nullable`. Referenced names go to `refs`.
fn to_openapi_v3(schema: &Value, refs: &mut Vec<String>) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => {
                        let name = target.rsplit('/').next().unwrap_or_default().to_owned();
                        out.insert(key.clone(), json!(format!("#/components/schemas/{name}")));
                        refs.push(name);
                    }
                    ("type", Value::Array(types)) => {
                        if let Some(first) = types.iter().find(|t| t.as_str() != Some("null")) {
                            out.insert(key.clone(), first.clone());
                        }
                        if types.iter().any(|t| t.as_str() == Some("null")) {
                            out.insert("nullable".into(), json!(true));
                        }
                    }
                    _ => {
                        out.insert(key.clone(), to_openapi_v3(value, refs));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| to_openapi_v3(v, refs)).collect()),
        other => other.clone(),
    }
}

/// `dice.dev` → `dev.dice`, the way Kubernetes names definitions.
fn reverse_domain(group: &str) -> String {
    if group.is_empty() {
        return "io.k8s.api.core".into();
    }
    group.split('.').rev().collect::<Vec<_>>().join(".")
}
