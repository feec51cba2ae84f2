//! Strategic merge patch (`application/strategic-merge-patch+json`, what `kubectl set`,
//! `kubectl edit` and `kubectl patch` send for built-in kinds), following the patch strategy
//! and merge key each list declares in the Kubernetes schemas: list-maps merge element by
//! element, merge lists of scalars take the union, other lists are replaced; `null` deletes;
//! the `$patch`, `$setElementOrder/`, `$deleteFromPrimitiveList/` and `$retainKeys` directives.
//! Custom resources do not support it (415), as on a real server.

use serde_json::{Map, Value};

/// The definitions `$ref`s point into.
type Definitions = Map<String, Value>;

fn resolve<'a>(definitions: &'a Definitions, schema: &'a Value) -> &'a Value {
    let mut schema = schema;
    for _ in 0..8 {
        let reference = schema.get("$ref").and_then(Value::as_str).or_else(|| {
            schema
                .get("allOf")?
                .as_array()?
                .first()?
                .get("$ref")?
                .as_str()
        });
        match reference.and_then(|r| definitions.get(r.rsplit('/').next().unwrap_or(r))) {
            Some(target) => schema = target,
            None => break,
        }
    }
    schema
}

/// The schema of `key` inside an object schema.
fn field<'a>(
    definitions: &'a Definitions,
    schema: Option<&'a Value>,
    key: &str,
) -> Option<&'a Value> {
    let schema = resolve(definitions, schema?);
    schema
        .get("properties")
        .and_then(|p| p.get(key))
        .or_else(|| schema.get("additionalProperties").filter(|v| v.is_object()))
}

/// `original` with `patch` applied; `schema` is the definition of the object's type.
pub fn apply(
    definitions: &Definitions,
    schema: Option<&Value>,
    original: &Value,
    patch: &Value,
) -> Value {
    match (original, patch) {
        (Value::Object(original), Value::Object(patch)) => {
            merge_map(definitions, schema, original.clone(), patch)
                .map_or(Value::Null, Value::Object)
        }
        (_, patch) => strip(patch),
    }
}

/// A patch value with its directives removed, for where nothing is merged into.
fn strip(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|item| item.get("$patch").and_then(Value::as_str) != Some("delete"))
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `None`: the map is deleted (`$patch: delete`).
fn merge_map(
    definitions: &Definitions,
    schema: Option<&Value>,
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
) -> Option<Map<String, Value>> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("delete") => return None,
        Some("replace") => return strip(&Value::Object(patch.clone())).as_object().cloned(),
        _ => {}
    }
    if let Some(Value::Array(retained)) = patch.get("$retainKeys") {
        original.retain(|key, _| retained.iter().any(|r| r.as_str() == Some(key)));
    }
    for (key, value) in patch {
        if let Some(list) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Value::Array(gone)) = (original.get_mut(list), value)
            {
                items.retain(|item| !gone.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        let field_schema = field(definitions, schema, key);
        match (original.remove(key), value) {
            (_, Value::Null) => {}
            (Some(Value::Object(inner)), Value::Object(patch_inner)) => {
                if let Some(merged) = merge_map(definitions, field_schema, inner, patch_inner) {
                    original.insert(key.clone(), Value::Object(merged));
                }
            }
            (Some(Value::Array(items)), Value::Array(patch_items)) => {
                let merged = merge_list(definitions, field_schema, items, patch_items);
                original.insert(key.clone(), Value::Array(merged));
            }
            (_, value) => {
                original.insert(key.clone(), strip(value));
            }
        }
    }
    for (key, order) in patch {
        if let (Some(list), Value::Array(order)) = (key.strip_prefix("$setElementOrder/"), order)
            && let Some(Value::Array(items)) = original.get_mut(list)
        {
            let merge_key = field(definitions, schema, list)
                .and_then(|s| s.get("x-kubernetes-patch-merge-key"))
                .and_then(Value::as_str);
            reorder(items, order, merge_key);
        }
    }
    Some(original)
}

fn merge_list(
    definitions: &Definitions,
    schema: Option<&Value>,
    mut items: Vec<Value>,
    patch: &[Value],
) -> Vec<Value> {
    let strategy = schema
        .and_then(|s| s.get("x-kubernetes-patch-strategy"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !strategy.split(',').any(|s| s == "merge") {
        return patch.iter().map(strip).collect();
    }
    let merge_key = schema
        .and_then(|s| s.get("x-kubernetes-patch-merge-key"))
        .and_then(Value::as_str);
    let element_schema = schema.and_then(|s| s.get("items"));
    let Some(merge_key) = merge_key else {
        for item in patch {
            if !items.contains(item) {
                items.push(strip(item));
            }
        }
        return items;
    };
    for element in patch {
        let Some(patch_element) = element.as_object() else {
            continue;
        };
        let key = patch_element.get(merge_key);
        let position = items.iter().position(|item| item.get(merge_key) == key);
        match (
            position,
            patch_element.get("$patch").and_then(Value::as_str),
        ) {
            (Some(at), Some("delete")) => {
                items.remove(at);
            }
            (None, Some("delete")) => {}
            (Some(at), _) => {
                let original = items[at].as_object().cloned().unwrap_or_default();
                match merge_map(definitions, element_schema, original, patch_element) {
                    Some(merged) => items[at] = Value::Object(merged),
                    None => {
                        items.remove(at);
                    }
                }
            }
            (None, _) => items.push(strip(element)),
        }
    }
    items
}

/// Puts the elements `order` names first, in its order; the others keep theirs, after them.
fn reorder(items: &mut Vec<Value>, order: &[Value], merge_key: Option<&str>) {
    let identity = |item: &Value| match merge_key {
        Some(key) => item.get(key).cloned(),
        None => Some(item.clone()),
    };
    let wanted: Vec<Option<Value>> = order.iter().map(identity).collect();
    let (mut listed, rest): (Vec<Value>, Vec<Value>) = items
        .drain(..)
        .partition(|item| wanted.contains(&identity(item)));
    listed.sort_by_key(|item| wanted.iter().position(|w| *w == identity(item)));
    items.extend(listed);
    items.extend(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definitions() -> Definitions {
        json!({
            "Pod": {"properties": {"containers": {"items": {"$ref": "#/$defs/Container"},
                "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"}}},
            "Container": {"properties": {
                "env": {"items": {"$ref": "#/$defs/Env"}, "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"},
                "args": {"items": {"type": "string"}}}},
            "Env": {"properties": {"name": {"type": "string"}, "value": {"type": "string"}}}
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    #[test]
    fn kubectl_set_env_merges_into_the_named_container() {
        let definitions = definitions();
        let schema = json!({"$ref": "#/$defs/Pod"});
        let original = json!({"containers": [
            {"name": "c", "image": "img:1", "args": ["a"], "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "s:1"}]});
        let patch = json!({"$setElementOrder/containers": [{"name": "c"}, {"name": "sidecar"}],
            "containers": [{"name": "c", "env": [{"name": "FOO", "value": "1"}], "args": ["b"]},
                {"name": "sidecar", "$patch": "delete"}]});
        let patched = apply(&definitions, Some(&schema), &original, &patch);
        assert_eq!(
            patched,
            json!({"containers": [{"name": "c", "image": "img:1", "args": ["b"],
                "env": [{"name": "A", "value": "1"}, {"name": "FOO", "value": "1"}]}]})
        );
    }
}
