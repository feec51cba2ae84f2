//! The schemas of the child kinds, as the API server publishes them at `/openapi/v3`: what a
//! server records in `managedFields` for an apply depends on them (an atomic selector is one
//! field, containers are keyed by name), so the operator computes the fields its apply of a
//! desired child owns with the server's own schema, whatever the Kubernetes version.
//!
//! One group-version is loaded the first time a child of it is checked (a few requests per
//! operator start, none per DiceService) and only the types its kinds reach are kept. A failed
//! load is retried after [`RETRY_AFTER`]; until then a child is judged by its applied hash and
//! the operator's Apply entry alone. Reconciles that start together wait for the one load.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};
use structured_merge::apiserver::{digest, server_owned_fields};
use structured_merge::{Schema, TypeRef};

/// How long a failed schema load is not retried.
pub const RETRY_AFTER: Duration = Duration::from_secs(60);

/// One group-version's kinds and the types they reach.
#[derive(Debug)]
struct GroupVersion {
    schema: Schema,
    roots: HashMap<String, TypeRef>,
}

#[derive(Debug)]
enum Entry {
    Loaded(GroupVersion),
    Failed(Instant),
}

/// The child kinds' schemas, by `apiVersion`.
#[derive(Debug, Default)]
pub struct ChildSchemas {
    entries: RwLock<HashMap<String, Entry>>,
    /// One load at a time: reconciles that start together wait for it instead of each loading.
    loading: tokio::sync::Mutex<()>,
}

/// `v1` → `api/v1`, `apps/v1` → `apis/apps/v1`: the key of `/openapi/v3`'s index.
fn index_key(api_version: &str) -> String {
    if api_version.contains('/') {
        format!("apis/{api_version}")
    } else {
        format!("api/{api_version}")
    }
}

/// The kinds of `api_version` a group-version document defines, and their types.
fn group_version(document: &Value, api_version: &str) -> Option<GroupVersion> {
    let definitions = document["components"]["schemas"].as_object()?;
    let mut schema = Schema::new();
    schema.add_openapi_definitions(definitions).ok()?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let mut roots = HashMap::new();
    for (name, definition) in definitions {
        for gvk in definition["x-kubernetes-group-version-kind"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if gvk["group"] == group && gvk["version"] == version {
                let kind = gvk["kind"].as_str().unwrap_or_default().to_owned();
                roots.insert(kind, TypeRef::named(name));
            }
        }
    }
    let reachable: Vec<TypeRef> = roots.values().cloned().collect();
    schema.retain_reachable(&reachable);
    Some(GroupVersion { schema, roots })
}

async fn fetch(client: &kube::Client, path: &str) -> Option<Value> {
    let request = http::Request::get(path).body(Vec::new()).ok()?;
    match client.request::<Value>(request).await {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(%error, path, "cannot read the server's OpenAPI schema");
            None
        }
    }
}

impl ChildSchemas {
    /// Loads `api_version`'s schema unless it is loaded or failed recently.
    pub async fn ensure(&self, client: &kube::Client, api_version: &str) {
        let wanted = || match self.read().get(api_version) {
            Some(Entry::Loaded(_)) => false,
            Some(Entry::Failed(at)) => at.elapsed() >= RETRY_AFTER,
            None => true,
        };
        if !wanted() {
            return;
        }
        let _loading = self.loading.lock().await;
        if !wanted() {
            return;
        }
        let loaded = async {
            let index = fetch(client, "/openapi/v3").await?;
            let url = index["paths"][index_key(api_version)]["serverRelativeURL"].as_str()?;
            let document = fetch(client, url).await?;
            group_version(&document, api_version)
        }
        .await;
        let entry = match loaded {
            Some(loaded) => Entry::Loaded(loaded),
            None => {
                tracing::warn!(
                    api_version,
                    "no schema for the child kinds of this group-version; drift is checked once it loads"
                );
                Entry::Failed(Instant::now())
            }
        };
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(api_version.to_owned(), entry);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The digest of the fields a server records for the operator's apply of `desired` (its
    /// JSON), or `None` while its kind's schema is not loaded.
    pub fn applied_fields_digest(&self, desired: &Value) -> Option<u64> {
        let api_version = desired["apiVersion"].as_str()?;
        let kind = desired["kind"].as_str()?;
        let entries = self.read();
        let Some(Entry::Loaded(loaded)) = entries.get(api_version) else {
            return None;
        };
        let root = loaded.roots.get(kind)?;
        let fields = loaded.schema.to_field_set(desired, root).ok()?;
        Some(digest(&fields.difference(&server_owned_fields())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use structured_merge::Set;

    fn document() -> Value {
        json!({"components": {"schemas": {
            "io.k8s.api.core.v1.Service": {
                "type": "object",
                "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Service"}],
                "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "metadata": {"$ref": "#/components/schemas/meta"},
                    "spec": {"type": "object", "properties": {
                        "selector": {"type": "object", "additionalProperties": {"type": "string"}, "x-kubernetes-map-type": "atomic"}}}}},
            "meta": {"type": "object", "properties": {
                "name": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
            "io.k8s.api.core.v1.Unrelated": {"type": "object"}
        }}})
    }

    #[test]
    fn the_digest_is_that_of_the_fields_the_server_records() {
        let schemas = ChildSchemas::default();
        let loaded = group_version(&document(), "v1").expect("a group-version");
        assert!(loaded.roots.contains_key("Service"));
        schemas
            .entries
            .write()
            .unwrap()
            .insert("v1".into(), Entry::Loaded(loaded));
        let desired = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "dice", "labels": {"app": "dice"}},
            "spec": {"selector": {"app": "dice"}}});
        let recorded = Set::from_fields_v1(
            &json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:selector": {}}}),
        )
        .unwrap();
        assert_eq!(
            schemas.applied_fields_digest(&desired),
            Some(digest(&recorded))
        );
        let other = json!({"apiVersion": "apps/v1", "kind": "Deployment"});
        assert_eq!(schemas.applied_fields_digest(&other), None, "not loaded");
    }
    /// A schema whose reference type is atomic (as `ObjectReference` was in Kubernetes
    /// 1.22–1.24) or granular (before and after).
    fn reference_document(atomic: bool) -> Value {
        let mut reference = json!({"type": "object", "properties": {
            "kind": {"type": "string"}, "name": {"type": "string"}}});
        if atomic {
            reference["x-kubernetes-map-type"] = json!("atomic");
        }
        json!({"components": {"schemas": {
            "Holder": {"type": "object",
                "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Holder"}],
                "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "spec": {"type": "object", "properties": {"ref": {"$ref": "#/components/schemas/Ref"}}}}},
            "Ref": reference}}})
    }

    #[test]
    fn atomicity_follows_the_schema_the_server_publishes() {
        let desired = json!({"apiVersion": "v1", "kind": "Holder",
            "spec": {"ref": {"kind": "Deployment", "name": "dice"}}});
        let recorded = |fields: Value| Some(digest(&Set::from_fields_v1(&fields).unwrap()));
        for (atomic, server_records) in [
            (true, json!({"f:spec": {"f:ref": {}}})),
            (
                false,
                json!({"f:spec": {"f:ref": {"f:kind": {}, "f:name": {}}}}),
            ),
        ] {
            let schemas = ChildSchemas::default();
            let loaded = group_version(&reference_document(atomic), "v1").unwrap();
            schemas
                .entries
                .write()
                .unwrap()
                .insert("v1".into(), Entry::Loaded(loaded));
            assert_eq!(
                schemas.applied_fields_digest(&desired),
                recorded(server_records),
                "atomic: {atomic}"
            );
        }
    }
}
