//! `metadata.managedFields` as kube-apiserver keeps them, computed by structured-merge from the
//! kind's schema: one entry per (manager, operation, subresource); an update takes the fields it
//! changed from everyone else; an apply owns exactly its configuration's fields, prunes what
//! it stopped applying, and conflicts with other owners of fields it changes unless forced;
//! fields the server sets (name, uid, resourceVersion, …) belong to nobody.

use crate::field_types::FieldType;
use crate::status::ApiError;
use serde_json::{Map, Value, json};
use structured_merge::apiserver::server_owned_fields;
use structured_merge::{Error, ManagedFields, Set, Updater, VersionedSet};

/// Who is writing: the field manager, its applied configuration when the write is an apply,
/// and the subresource written through.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub manager: &'a str,
    /// The applied configuration for a server-side apply; `None` for a create, update or patch.
    pub applied: Option<&'a Value>,
    /// `status` or `scale` for a write through that subresource.
    pub subresource: Option<&'static str>,
    /// An apply that takes fields other managers own instead of failing with a conflict.
    pub force: bool,
}

impl<'a> Writer<'a> {
    /// An update, patch or create by `manager` (empty: the API server's default name).
    pub fn update(manager: &'a str) -> Self {
        Self {
            manager,
            applied: None,
            subresource: None,
            force: false,
        }
    }

    fn operation(&self) -> &'static str {
        if self.applied.is_some() {
            "Apply"
        } else {
            "Update"
        }
    }

    fn key(&self) -> String {
        let manager = if self.manager.is_empty() {
            "unknown"
        } else {
            self.manager
        };
        entry_key(
            manager,
            self.operation(),
            self.subresource.unwrap_or_default(),
        )
    }
}

/// How structured-merge names a manager here: what kube-apiserver keys entries by.
fn entry_key(manager: &str, operation: &str, subresource: &str) -> String {
    format!("{manager}\u{1f}{operation}\u{1f}{subresource}")
}

/// The object as fields are computed on: without what the server keeps for itself.
fn comparable(object: Option<&Value>) -> Value {
    let Some(object) = object else {
        return Value::Null;
    };
    let mut object = object.clone();
    if let Some(meta) = object["metadata"].as_object_mut() {
        for field in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
        ] {
            meta.remove(field);
        }
    }
    object
}

/// One stored entry's identity and time, by its key.
struct Entry {
    key: String,
    value: Value,
}

fn decode(object: Option<&Value>) -> Result<(ManagedFields, Vec<Entry>), ApiError> {
    decode_entries(object.map_or(&Value::Null, |o| &o["metadata"]["managedFields"]))
}

/// The managers an update starts from, as kube-apiserver's `decodeLiveOrNew` picks them: the
/// managedFields the request carries when they decode and are not empty (a client may set
/// them), else the live object's — so a client unaware of the field cannot wipe it, and a
/// subresource write never sets it.
fn decode_live_or_new(
    live: Option<&Value>,
    provided: Option<&Value>,
) -> Result<(ManagedFields, Vec<Entry>), ApiError> {
    match provided.map(decode_entries) {
        Some(Ok((managers, entries))) if !managers.is_empty() => Ok((managers, entries)),
        _ => decode(live),
    }
}

fn decode_entries(stored: &Value) -> Result<(ManagedFields, Vec<Entry>), ApiError> {
    let mut managers = ManagedFields::new();
    let mut entries = Vec::new();
    for entry in stored.as_array().into_iter().flatten() {
        let text = |field: &str| entry[field].as_str().unwrap_or_default();
        if !matches!(text("operation"), "Apply" | "Update") {
            return Err(ApiError::BadRequest(
                "metadata.managedFields: operation must be `Apply` or `Update`".into(),
            ));
        }
        let key = entry_key(text("manager"), text("operation"), text("subresource"));
        let set = Set::from_fields_v1(&entry["fieldsV1"])
            .map_err(|e| ApiError::BadRequest(format!("metadata.managedFields: {e}")))?;
        managers.insert(
            key.clone(),
            VersionedSet {
                set,
                api_version: text("apiVersion").to_owned(),
                applied: text("operation") == "Apply",
            },
        );
        entries.push(Entry {
            key,
            value: entry.clone(),
        });
    }
    Ok((managers, entries))
}

/// Writes `managers` into `result`: entries in their stored order, the writer's with a new
/// time, entries whose fields are all gone dropped.
fn encode(
    result: &mut Value,
    managers: &ManagedFields,
    entries: Vec<Entry>,
    writer: &Writer<'_>,
    time: &str,
) {
    let stripped = server_owned_fields();
    let mut out = Vec::new();
    let writer_key = writer.key();
    let mut written = false;
    let mut emit = |key: &str, base: Option<Value>| {
        let Some(owned) = managers.get(key) else {
            return;
        };
        let set = owned.set.difference(&stripped);
        if set.is_empty() {
            return;
        }
        let mut entry = base.unwrap_or_else(|| {
            let mut entry = json!({"manager": if writer.manager.is_empty() { "unknown" } else { writer.manager },
                "operation": writer.operation(), "fieldsType": "FieldsV1"});
            if let Some(sub) = writer.subresource {
                entry["subresource"] = json!(sub);
            }
            entry
        });
        let fields = set.to_fields_v1();
        if key == writer_key && (entry["fieldsV1"] != fields || entry.get("time").is_none()) {
            entry["time"] = json!(time);
        }
        entry["apiVersion"] = json!(owned.api_version);
        // Re-encoded from what was decoded, as the server does: a client-set entry without
        // its `fieldsType` comes back with it.
        entry["fieldsType"] = json!("FieldsV1");
        entry["fieldsV1"] = fields;
        out.push(entry);
    };
    for entry in entries {
        written |= entry.key == writer_key;
        emit(&entry.key, Some(entry.value));
    }
    if !written {
        emit(&writer_key, None);
    }
    if let Some(meta) = result["metadata"].as_object_mut() {
        meta.insert("managedFields".into(), Value::Array(out));
    }
}

fn invalid(error: Error) -> ApiError {
    ApiError::BadRequest(error.to_string())
}

/// Stamps `result.metadata.managedFields` after a create, update or patch by `writer` turned
/// `before` (`None`: a create) into `result`; `provided` is the managedFields the request
/// carried (`None` for a subresource write, which cannot set them).
pub fn stamp(
    t: &FieldType,
    api_version: &str,
    (before, provided): (Option<&Value>, Option<&Value>),
    result: &mut Value,
    writer: &Writer<'_>,
    time: &str,
) -> Result<(), ApiError> {
    let (managers, entries) = decode_live_or_new(before, provided)?;
    let updater = Updater {
        schema: &t.schema,
        root: &t.root,
    };
    let managers = updater
        .update(
            &comparable(before),
            &comparable(Some(result)),
            api_version,
            &managers,
            &writer.key(),
        )
        .map_err(invalid)?;
    encode(result, &managers, entries, writer, time);
    Ok(())
}

/// A server-side apply: the object after merging `config` into `live` (`None`: a create)
/// with its managedFields, or the conflicts.
pub fn apply(
    t: &FieldType,
    api_version: &str,
    live: Option<&Value>,
    config: &Value,
    writer: &Writer<'_>,
    time: &str,
) -> Result<Value, ApiError> {
    let (managers, entries) = decode(live)?;
    let updater = Updater {
        schema: &t.schema,
        root: &t.root,
    };
    let base = comparable(live);
    let (merged, managers) = updater
        .apply(
            &base,
            &comparable(Some(config)),
            api_version,
            &managers,
            &writer.key(),
            writer.force,
        )
        .map_err(|e| match e {
            Error::Conflicts(conflicts) => conflict(conflicts),
            // The live object was typed when stored: a typing error is the configuration's, a
            // field its schema lacks, which real servers answer 500 (kubernetes/kubernetes#139253).
            other => {
                let name = config["metadata"]["name"].as_str().unwrap_or_default();
                let namespace = config["metadata"]["namespace"].as_str().unwrap_or_default();
                let kind = config["kind"].as_str().unwrap_or_default();
                ApiError::Internal(format!(
                    "failed to create typed patch object ({namespace}/{name}; {api_version}, Kind={kind}): {other}"
                ))
            }
        })?;
    let mut object = merged.unwrap_or(base);
    if let (Some(live), Some(meta)) = (live, object["metadata"].as_object_mut()) {
        for field in ["resourceVersion", "uid", "creationTimestamp", "generation"] {
            if let Some(value) = live["metadata"].get(field) {
                meta.insert(field.to_owned(), value.clone());
            }
        }
    }
    if !object["metadata"].is_object() {
        object["metadata"] = Value::Object(Map::new());
    }
    encode(&mut object, &managers, entries, writer, time);
    Ok(object)
}

fn conflict(conflicts: Vec<structured_merge::Conflict>) -> ApiError {
    let causes = conflicts
        .iter()
        .map(|c| {
            let manager = c.manager.split('\u{1f}').next().unwrap_or_default();
            (
                structured_merge::path::display(&c.path),
                format!("conflict with \"{manager}\""),
            )
        })
        .collect();
    ApiError::ApplyConflict { causes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field_types;

    fn applier<'a>(manager: &'a str, config: &'a Value, force: bool) -> Writer<'a> {
        Writer {
            applied: Some(config),
            force,
            ..Writer::update(manager)
        }
    }

    fn entries(object: &Value) -> Vec<(String, String, Value)> {
        object["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap().to_owned();
                (text("manager"), text("operation"), e["fieldsV1"].clone())
            })
            .collect()
    }

    fn config(replicas: i64) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "n", "labels": {"app": "dice"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "dice"}}}})
    }

    #[test]
    fn an_update_takes_only_what_it_changes_and_server_fields_belong_to_nobody() {
        let t = field_types::builtin("apps", "v1", "Deployment");
        let applied = config(2);
        let mut live = apply(
            &t,
            "apps/v1",
            None,
            &applied,
            &applier("op", &applied, false),
            "t0",
        )
        .unwrap();
        live["metadata"]["uid"] = json!("u");
        let mut edited = live.clone();
        edited["spec"]["replicas"] = json!(5);
        edited["metadata"]["annotations"] = json!({"note": "x"});
        stamp(
            &t,
            "apps/v1",
            (Some(&live), None),
            &mut edited,
            &Writer::update("kubectl-edit"),
            "t1",
        )
        .unwrap();
        let found = entries(&edited);
        assert_eq!(found[0].0, "op");
        assert_eq!(found[0].1, "Apply");
        assert!(
            found[0].2["f:spec"].get("f:replicas").is_none(),
            "replicas moved to the editor"
        );
        assert!(
            found[0].2["f:metadata"].get("f:name").is_none(),
            "identity is nobody's"
        );
        assert_eq!(
            found[1],
            (
                "kubectl-edit".to_owned(),
                "Update".to_owned(),
                json!({"f:metadata": {"f:annotations": {".": {}, "f:note": {}}}, "f:spec": {"f:replicas": {}}})
            )
        );
    }

    #[test]
    fn an_apply_conflicts_with_another_owner_unless_forced_and_equal_values_are_shared() {
        let t = field_types::builtin("apps", "v1", "Deployment");
        let first = config(2);
        let live = apply(
            &t,
            "apps/v1",
            None,
            &first,
            &applier("a", &first, false),
            "t0",
        )
        .unwrap();
        let same = config(2);
        let shared = apply(
            &t,
            "apps/v1",
            Some(&live),
            &same,
            &applier("b", &same, false),
            "t1",
        )
        .unwrap();
        let found = entries(&shared);
        assert_eq!(found.len(), 2, "both appliers own the equal values");
        assert_eq!(found[0].2, found[1].2);
        let other = config(3);
        let err = apply(
            &t,
            "apps/v1",
            Some(&shared),
            &other,
            &applier("c", &other, false),
            "t2",
        )
        .unwrap_err();
        let ApiError::ApplyConflict { causes } = err else {
            panic!("not a conflict: {err:?}")
        };
        assert_eq!(
            causes,
            [
                (
                    ".spec.replicas".to_owned(),
                    "conflict with \"a\"".to_owned()
                ),
                (
                    ".spec.replicas".to_owned(),
                    "conflict with \"b\"".to_owned()
                ),
            ]
        );
        let forced = apply(
            &t,
            "apps/v1",
            Some(&shared),
            &other,
            &applier("c", &other, true),
            "t3",
        )
        .unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        let replicas_owners: Vec<String> = entries(&forced)
            .into_iter()
            .filter(|(_, _, fields)| fields["f:spec"].get("f:replicas").is_some())
            .map(|(manager, _, _)| manager)
            .collect();
        assert_eq!(replicas_owners, ["c"]);
    }
}
