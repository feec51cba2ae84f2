//! What the owned-kind watches decode of an object: the metadata [`super::Seen`] and the
//! reconcile triggers read, and nothing else. Anyone who may create a ConfigMap can label it as
//! the operator's; decoding such an object whole — twenty thousand keys in other managers'
//! field sets, a 256 KiB annotation, an owner reference with a 50 KB kind — cost the operator
//! hundreds of MiB on a restart's list. Here other managers' field sets, other labels and
//! annotations and non-controller owner references are skipped while parsing, never built.

use super::seen::{KEPT_ANNOTATIONS, KEPT_LABELS};
use crate::FIELD_MANAGER;
use crate::children::APPLIED_HASH_ANNOTATION;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    FieldsV1, ManagedFieldsEntry, ObjectMeta, OwnerReference, Time,
};
use kube::Resource;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// An object of kind `K` as a metadata-only watch sees it, decoded lean.
#[derive(Debug)]
pub struct LeanMeta<K> {
    pub metadata: ObjectMeta,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for LeanMeta<K> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: Resource> Resource for LeanMeta<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    /// Metadata-only requests: the server leaves out `spec`, `data` and the like.
    fn metadata_api() -> bool {
        true
    }

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl<'de, K> Deserialize<'de> for LeanMeta<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Object {
            #[serde(default)]
            metadata: Lean,
        }
        let object = Object::deserialize(deserializer)?;
        Ok(Self {
            metadata: object.metadata.into(),
            kind: PhantomData,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Lean {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    generation: Option<i64>,
    deletion_timestamp: Option<Time>,
    #[serde(default)]
    labels: Option<KeptLabels>,
    #[serde(default)]
    annotations: Option<KeptAnnotations>,
    #[serde(default, deserialize_with = "controller_only")]
    owner_references: Option<Vec<OwnerReference>>,
    #[serde(default, deserialize_with = "own_entry_only")]
    managed_fields: Option<Vec<ManagedFieldsEntry>>,
}

impl From<Lean> for ObjectMeta {
    fn from(lean: Lean) -> Self {
        ObjectMeta {
            name: lean.name,
            namespace: lean.namespace,
            uid: lean.uid,
            resource_version: lean.resource_version,
            generation: lean.generation,
            deletion_timestamp: lean.deletion_timestamp,
            labels: lean.labels.map(|kept| kept.0),
            annotations: lean.annotations.map(|kept| kept.0),
            owner_references: lean.owner_references,
            managed_fields: lean.managed_fields,
            ..ObjectMeta::default()
        }
    }
}

/// The labels [`super::Seen`] reads.
struct KeptLabels(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for KeptLabels {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wanted = |key: &str| KEPT_LABELS.contains(&key);
        deserializer.deserialize_map(KeptEntries(&wanted)).map(Self)
    }
}

/// The annotations [`super::Seen`] and the reconcile triggers read.
struct KeptAnnotations(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for KeptAnnotations {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wanted = |key: &str| key == APPLIED_HASH_ANNOTATION || KEPT_ANNOTATIONS.contains(&key);
        deserializer.deserialize_map(KeptEntries(&wanted)).map(Self)
    }
}

/// A string map of which only the entries whose key `wanted` admits are kept.
struct KeptEntries<'a>(&'a dyn Fn(&str) -> bool);

impl<'de> Visitor<'de> for KeptEntries<'_> {
    type Value = BTreeMap<String, String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kept = BTreeMap::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if (self.0)(&key) {
                kept.insert(key.into_owned(), map.next_value::<String>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(kept)
    }
}

fn controller_only<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<OwnerReference>>, D::Error> {
    let references: Option<Vec<OwnerReference>> = Option::deserialize(deserializer)?;
    Ok(references.map(|all| {
        all.into_iter()
            .filter(|o| o.controller == Some(true))
            .take(1)
            .collect()
    }))
}

/// `managedFields`, keeping the operator's own Apply entry only (the others decode to `None`).
fn own_entry_only<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<ManagedFieldsEntry>>, D::Error> {
    let entries: Option<Vec<Entry>> = Option::deserialize(deserializer)?;
    Ok(entries.map(|all| all.into_iter().filter_map(|entry| entry.0).collect()))
}

/// One entry, kept only when it is the operator's Apply through the main resource. The API
/// server writes `manager` and `operation` before `fieldsV1`, so another manager's field set
/// is skipped unread; in any other key order the field set is held as raw text (one copy, for
/// this entry only) until the entry says whose it is.
struct Entry(Option<ManagedFieldsEntry>);

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a managed fields entry")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let mut entry = ManagedFieldsEntry::default();
        let mut unread: Option<Box<RawValue>> = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "manager" => entry.manager = map.next_value()?,
                "operation" => entry.operation = map.next_value()?,
                "subresource" => entry.subresource = map.next_value()?,
                "apiVersion" => entry.api_version = map.next_value()?,
                "fieldsType" => entry.fields_type = map.next_value()?,
                "fieldsV1" if ours(&entry) => {
                    entry.fields_v1 = Some(FieldsV1(map.next_value()?));
                }
                "fieldsV1" if entry.manager.is_none() || entry.operation.is_none() => {
                    unread = Some(map.next_value()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let kept = ours(&entry) && entry.subresource.as_deref().is_none_or(str::is_empty);
        if kept && let Some(raw) = unread {
            let fields = serde_json::from_str(raw.get()).map_err(de::Error::custom)?;
            entry.fields_v1 = Some(FieldsV1(fields));
        }
        Ok(Entry(kept.then_some(entry)))
    }
}

fn ours(entry: &ManagedFieldsEntry) -> bool {
    entry.manager.as_deref() == Some(FIELD_MANAGER) && entry.operation.as_deref() == Some("Apply")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    #[test]
    fn the_operators_entry_is_found_in_the_api_servers_key_order_too() {
        let text = r#"{"metadata":{"name":"x","managedFields":[
            {"manager":"other","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{}}},
            {"manager":"dice-operator","operation":"Apply","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:b":{}}}}]}}"#;
        let lean: LeanMeta<ConfigMap> = serde_json::from_str(text).expect("decodes");
        let entries = lean.metadata.managed_fields.unwrap_or_default();
        assert_eq!(entries.len(), 1);
        assert!(entries[0].fields_v1.is_some());
    }

    #[test]
    fn only_what_the_operator_reads_is_decoded() {
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "dice-dashboard", "namespace": "team-a", "uid": "u", "resourceVersion": "7",
                "labels": {"app.kubernetes.io/managed-by": "dice-operator", "noise": "x"},
                "annotations": {"dice.dev/owner": "team-a/dice", "huge": "x".repeat(10_000)},
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Other", "name": "o", "uid": "1"},
                    {"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService", "name": "dice",
                        "uid": "2", "controller": true},
                ],
                "managedFields": [
                    {"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}},
                    {"manager": "dice-operator", "operation": "Apply", "apiVersion": "v1",
                        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:b": {}}}},
                    {"manager": "dice-operator", "operation": "Apply", "apiVersion": "v1",
                        "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}},
                        "subresource": "status"},
                ],
            },
            "data": {"a": "1"},
        });
        // Text, as from the API server; a `Value` sorts the keys, `fieldsV1` before `manager`.
        let text = serde_json::to_string(&object).expect("JSON");
        let lean: LeanMeta<ConfigMap> = serde_json::from_str(&text).expect("decodes");
        let meta = &lean.metadata;
        assert_eq!(
            (meta.name.as_deref(), meta.resource_version.as_deref()),
            (Some("dice-dashboard"), Some("7"))
        );
        assert_eq!(meta.labels.as_ref().map(BTreeMap::len), Some(1));
        let annotations = meta.annotations.clone().unwrap_or_default();
        assert_eq!(annotations.keys().collect::<Vec<_>>(), ["dice.dev/owner"]);
        let owners = meta.owner_references.clone().unwrap_or_default();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].kind, "DiceService");
        let entries = meta.managed_fields.clone().unwrap_or_default();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            entries[0].fields_v1.as_ref().map(|f| f.0.clone()),
            Some(json!({"f:data": {"f:b": {}}}))
        );
    }
}
