//! `metadata.managedFields`, as a controller reads them: which field manager last set which
//! fields (FieldsV1), per operation and subresource. Simplified where controllers do not look:
//! lists are atomic (owned whole), and an apply takes every field it names (as with `force`).

use serde_json::{Map, Value, json};

/// Who is writing: the field manager, and its applied configuration when the write is an apply.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub manager: &'a str,
    /// The applied configuration for a server-side apply; `None` for a create, update or patch.
    pub applied: Option<&'a Value>,
    /// `status` or `scale` for a write through that subresource.
    pub subresource: Option<&'static str>,
}

impl<'a> Writer<'a> {
    /// An update, patch or create by `manager` (empty: the API server's default name).
    pub fn update(manager: &'a str) -> Self {
        Self {
            manager,
            applied: None,
            subresource: None,
        }
    }
}

/// Maps key by key; anything else (scalars, lists) is one owned leaf.
fn leaf_set(value: &Value) -> Value {
    match value {
        Value::Object(map) if !map.is_empty() => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (format!("f:{k}"), leaf_set(v)))
                .collect(),
        ),
        _ => json!({}),
    }
}

/// The fields of `after` that are new or hold another value than in `before`.
fn changed(before: &Value, after: &Value) -> Value {
    match (before, after) {
        (Value::Object(before), Value::Object(after)) if !after.is_empty() => {
            let mut fields = Map::new();
            for (key, value) in after {
                let set = match before.get(key) {
                    Some(old) if old == value => continue,
                    Some(old @ Value::Object(_))
                        if value.as_object().is_some_and(|v| !v.is_empty()) =>
                    {
                        // Only removals inside: nothing newly set.
                        match changed(old, value) {
                            Value::Object(inner) if inner.is_empty() => continue,
                            inner => inner,
                        }
                    }
                    _ => leaf_set(value),
                };
                fields.insert(format!("f:{key}"), set);
            }
            Value::Object(fields)
        }
        (_, after) => leaf_set(after),
    }
}

/// Removes from `owned` every field `taken` names (a leaf takes the whole subtree).
fn release(owned: &mut Value, taken: &Value) {
    let (Value::Object(owned_map), Value::Object(taken_map)) = (owned, taken) else {
        return;
    };
    for (key, taken_child) in taken_map {
        let whole = taken_child.as_object().is_some_and(Map::is_empty);
        if whole {
            owned_map.remove(key);
        } else if let Some(owned_child) = owned_map.get_mut(key) {
            let was_leaf = owned_child.as_object().is_some_and(Map::is_empty);
            release(owned_child, taken_child);
            if !was_leaf && owned_child.as_object().is_some_and(Map::is_empty) {
                owned_map.remove(key);
            }
        }
    }
}

/// Keeps only the fields `object` still holds.
fn retain_existing(owned: &mut Value, object: &Value) {
    let Value::Object(owned_map) = owned else {
        return;
    };
    owned_map.retain(|key, child| {
        let Some(field) = key.strip_prefix("f:").and_then(|k| object.get(k)) else {
            return false;
        };
        if child.as_object().is_some_and(Map::is_empty) {
            return true;
        }
        retain_existing(child, field);
        child.as_object().is_some_and(|c| !c.is_empty())
    });
}

/// Deep-merges field set `extra` into `fields`.
fn union(fields: &mut Value, extra: &Value) {
    let (Value::Object(fields), Value::Object(extra)) = (fields, extra) else {
        return;
    };
    for (key, child) in extra {
        match fields.get_mut(key) {
            Some(existing) if !existing.as_object().is_some_and(Map::is_empty) => {
                union(existing, child)
            }
            Some(_) => {}
            None => {
                fields.insert(key.clone(), child.clone());
            }
        }
    }
}

/// Stamps `result.metadata.managedFields` after `writer` turned `before` (`None`: a create)
/// into `result`: the writer owns what it applied or changed, everybody else loses those
/// fields, and fields the object no longer has belong to nobody.
pub fn stamp(before: Option<&Value>, result: &mut Value, writer: &Writer<'_>, time: &str) {
    let taken = match (writer.applied, before) {
        (Some(applied), _) => settable(&leaf_set(applied), writer.subresource),
        (None, None) => settable(&leaf_set(result), writer.subresource),
        (None, Some(before)) => settable(&changed(before, result), writer.subresource),
    };
    let operation = if writer.applied.is_some() {
        "Apply"
    } else {
        "Update"
    };
    let manager = if writer.manager.is_empty() {
        "unknown"
    } else {
        writer.manager
    };
    let mut entries: Vec<Value> = before
        .and_then(|b| b["metadata"]["managedFields"].as_array().cloned())
        .unwrap_or_default();
    let is_writer = |entry: &Value| {
        entry["manager"] == manager
            && entry["operation"] == operation
            && entry["subresource"].as_str() == writer.subresource
    };
    for entry in entries.iter_mut().filter(|e| !is_writer(e)) {
        release(&mut entry["fieldsV1"], &taken);
    }
    let mut own = match entries.iter().position(is_writer) {
        Some(index) => entries.remove(index)["fieldsV1"].take(),
        None => json!({}),
    };
    if writer.applied.is_some() {
        own = taken;
    } else {
        union(&mut own, &taken);
    }
    let mut entry = json!({"manager": manager, "operation": operation, "apiVersion": result["apiVersion"].clone(),
        "time": time, "fieldsType": "FieldsV1", "fieldsV1": own});
    if let Some(subresource) = writer.subresource {
        entry["subresource"] = json!(subresource);
    }
    entries.push(entry);
    for entry in &mut entries {
        retain_existing(&mut entry["fieldsV1"], result);
    }
    entries.retain(|e| e["fieldsV1"].as_object().is_some_and(|f| !f.is_empty()));
    result["metadata"]["managedFields"] = Value::Array(entries);
}

/// The part of field set `changes` a write through `subresource` can set: status through
/// `status`, everything but status and server-owned metadata otherwise.
fn settable(changes: &Value, subresource: Option<&str>) -> Value {
    let Value::Object(map) = changes else {
        return json!({});
    };
    let mut fields = Map::new();
    for (key, value) in map {
        let wanted = match (subresource, key.as_str()) {
            (Some("status"), key) => key == "f:status",
            (_, "f:apiVersion" | "f:kind" | "f:status") => false,
            (_, "f:metadata") => {
                let meta: Map<String, Value> = value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| {
                        [
                            "f:labels",
                            "f:annotations",
                            "f:ownerReferences",
                            "f:finalizers",
                        ]
                        .contains(&k.as_str())
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !meta.is_empty() {
                    fields.insert(key.clone(), Value::Object(meta));
                }
                false
            }
            _ => true,
        };
        if wanted {
            fields.insert(key.clone(), value.clone());
        }
    }
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn managers(object: &Value) -> Vec<(String, Value)> {
        object["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["manager"].as_str().unwrap().to_owned(),
                    e["fieldsV1"].clone(),
                )
            })
            .collect()
    }

    #[test]
    fn an_apply_owns_what_it_names_and_an_update_takes_what_it_changes() {
        let applied = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"a": "1"}}, "spec": {"replicas": 2, "paused": false}});
        let mut created = applied.clone();
        let apply = Writer {
            manager: "op",
            applied: Some(&applied),
            subresource: None,
        };
        stamp(None, &mut created, &apply, "t0");
        assert_eq!(
            managers(&created),
            [(
                "op".to_owned(),
                json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:replicas": {}, "f:paused": {}}})
            )]
        );
        let mut edited = created.clone();
        edited["spec"]["replicas"] = json!(5);
        edited["metadata"]["annotations"] = json!({"note": "x"});
        stamp(
            Some(&created),
            &mut edited,
            &Writer::update("kubectl-edit"),
            "t1",
        );
        assert_eq!(
            managers(&edited),
            [
                (
                    "op".to_owned(),
                    json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:paused": {}}})
                ),
                (
                    "kubectl-edit".to_owned(),
                    json!({"f:metadata": {"f:annotations": {"f:note": {}}}, "f:spec": {"f:replicas": {}}})
                ),
            ]
        );
        let mut reverted = edited.clone();
        reverted["spec"]["replicas"] = json!(2);
        stamp(Some(&edited), &mut reverted, &apply, "t2");
        assert_eq!(
            managers(&reverted)[0],
            (
                "kubectl-edit".to_owned(),
                json!({"f:metadata": {"f:annotations": {"f:note": {}}}})
            ),
            "the apply took replicas back; the annotation stays the editor's"
        );
    }

    #[test]
    fn a_status_write_owns_only_status_and_removed_fields_belong_to_nobody() {
        let mut object = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "spec": {"a": 1, "b": 2}});
        stamp(None, &mut object, &Writer::update("creator"), "t0");
        let mut status = object.clone();
        status["status"] = json!({"ready": true});
        let kubelet = Writer {
            subresource: Some("status"),
            ..Writer::update("kubelet")
        };
        stamp(Some(&object), &mut status, &kubelet, "t1");
        let mut trimmed = status.clone();
        trimmed["spec"].as_object_mut().unwrap().remove("b");
        stamp(Some(&status), &mut trimmed, &Writer::update("editor"), "t2");
        let entries = trimmed["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries[0]["fieldsV1"], json!({"f:spec": {"f:a": {}}}));
        assert_eq!(entries[1]["subresource"], "status");
        assert_eq!(entries[1]["fieldsV1"], json!({"f:status": {"f:ready": {}}}));
        assert_eq!(entries.len(), 2, "removing a field gives nobody an entry");
    }
}
