//! One child kind's observed records, filled by its watch: keyed by namespace and name, replaced
//! whole on a re-list, with the first-list readiness a reconcile waits for.

use super::foreign::ForeignNames;
use super::seen::Seen;
use crate::object_key::ObjectKey;
use kube::Resource;
use kube::runtime::watcher::Event;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

type Records = HashMap<ObjectKey, Arc<Seen>>;
/// Keys of the dashboards each DiceService uid owns, so a reconcile finds its dashboards
/// without scanning every ConfigMap.
type Owners = HashMap<Box<str>, Vec<ObjectKey>>;

/// The records of kind `K` (the type only keeps kinds apart).
pub struct Index<K> {
    inner: Arc<Inner>,
    kind: PhantomData<fn() -> K>,
}

struct Inner {
    records: RwLock<Records>,
    owners: RwLock<Owners>,
    /// Records of a re-list in progress; they replace `records` when it completes.
    relisting: Mutex<Option<Records>>,
    ready: tokio::sync::watch::Sender<bool>,
    /// The names the kind's objects without the operator's label hold.
    foreign: ForeignNames,
}

impl<K> std::fmt::Debug for Index<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").field("len", &self.len()).finish()
    }
}

impl<K> Clone for Index<K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> Default for Index<K> {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                records: RwLock::default(),
                owners: RwLock::default(),
                relisting: Mutex::default(),
                ready: tokio::sync::watch::Sender::new(false),
                foreign: ForeignNames::default(),
            }),
            kind: PhantomData,
        }
    }
}

impl<K> Index<K> {
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Seen>> {
        self.read().get(&ObjectKey::new(namespace, name)).cloned()
    }

    /// The same records, without the kind (for lists of every kind's store).
    pub fn untyped(&self) -> Index<()> {
        Index {
            inner: self.inner.clone(),
            kind: PhantomData,
        }
    }

    /// The names objects of this kind without the operator's label hold.
    pub fn foreign(&self) -> &ForeignNames {
        &self.inner.foreign
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dashboards whose owner is the DiceService `uid`, with their records.
    pub fn dashboards_owned_by(&self, uid: &str) -> Vec<(ObjectKey, Arc<Seen>)> {
        let owners = self
            .inner
            .owners
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let records = self.read();
        owners
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|key| Some((key.clone(), records.get(key)?.clone())))
            .collect()
    }

    /// Records `seen` as the state of `namespace/name` (what a watch event does).
    pub fn insert(&self, namespace: &str, name: &str, seen: Seen) {
        self.put(ObjectKey::new(namespace, name), Arc::new(seen));
    }

    /// Stores `seen`; whether it differs from the record it replaces.
    fn put(&self, key: ObjectKey, seen: Arc<Seen>) -> bool {
        let mut owners = self.owners();
        let before = self.write().insert(key.clone(), seen.clone());
        if let Some(before) = &before {
            unlink(&mut owners, &key, before);
        }
        if let Some(uid) = seen.dashboard_owner_uid() {
            owners.entry(uid.into()).or_default().push(key);
        }
        before.is_none_or(|before| *before != *seen)
    }

    /// Resolves once the first list has completed.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.inner.ready.subscribe();
        let _ = ready.wait_for(|ready| *ready).await;
    }

    /// Applies one watch event, recording each object as `record` makes it; whether anything
    /// the operator keeps of a child changed (a status write by someone else changes nothing).
    pub fn apply<T: Resource>(&self, event: &Event<T>, record: impl Fn(&T) -> Seen) -> bool {
        let mut relisting = self
            .inner
            .relisting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::Apply(object) => self.put(ObjectKey::of(object), Arc::new(record(object))),
            Event::Delete(object) => {
                let mut owners = self.owners();
                let mut records = self.write();
                let key = ObjectKey::of(object);
                if let Some(before) = records.remove(&key) {
                    unlink(&mut owners, &key, &before);
                }
                // After a mass deletion the table returns to its size (a leak check reads it).
                if records.capacity() > 64 && records.len() * 4 < records.capacity() {
                    records.shrink_to_fit();
                }
                true
            }
            Event::Init => {
                *relisting = Some(Records::new());
                false
            }
            Event::InitApply(object) => {
                let seen = Arc::new(record(object));
                let key = ObjectKey::of(object);
                // A re-list (after `410 Gone`) repeats what is known: only news is news.
                let changed = self.read().get(&key).is_none_or(|before| **before != *seen);
                relisting.get_or_insert_with(Records::new).insert(key, seen);
                changed
            }
            Event::InitDone => {
                let mut listed = relisting.take().unwrap_or_default();
                listed.shrink_to_fit();
                let mut owners = Owners::new();
                for (key, seen) in &listed {
                    if let Some(uid) = seen.dashboard_owner_uid() {
                        owners.entry(uid.into()).or_default().push(key.clone());
                    }
                }
                *self.owners() = owners;
                *self.write() = listed;
                self.inner.ready.send_replace(true);
                false
            }
        }
    }

    fn owners(&self) -> std::sync::RwLockWriteGuard<'_, Owners> {
        self.inner
            .owners
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Records> {
        self.inner
            .records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Records> {
        self.inner
            .records
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Drops `key` from the owner list its old record was in.
fn unlink(owners: &mut Owners, key: &ObjectKey, before: &Seen) {
    let Some(uid) = before.dashboard_owner_uid() else {
        return;
    };
    if let Some(keys) = owners.get_mut(uid) {
        keys.retain(|k| k != key);
        if keys.is_empty() {
            owners.remove(uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::dashboard::{OWNER_UID_ANNOTATION, SIDECAR_LABEL};
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn dashboard(owner_uid: &str) -> Seen {
        Seen::from_meta(&ObjectMeta {
            labels: Some([(SIDECAR_LABEL.to_owned(), "1".to_owned())].into()),
            annotations: Some([(OWNER_UID_ANNOTATION.to_owned(), owner_uid.to_owned())].into()),
            ..ObjectMeta::default()
        })
    }

    fn owned(index: &Index<ConfigMap>, uid: &str) -> Vec<String> {
        let mut keys: Vec<String> = index
            .dashboards_owned_by(uid)
            .into_iter()
            .map(|(key, _)| key.to_string())
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn dashboards_are_found_by_owner_through_moves_and_deletes() {
        let index = Index::<ConfigMap>::default();
        index.insert("monitoring", "a", dashboard("u1"));
        index.insert("grafana", "a", dashboard("u1"));
        index.insert("monitoring", "b", dashboard("u2"));
        index.insert(
            "monitoring",
            "plain",
            Seen::from_meta(&ObjectMeta::default()),
        );
        assert_eq!(owned(&index, "u1"), ["grafana/a", "monitoring/a"]);
        index.insert("grafana", "a", dashboard("u2"));
        assert_eq!(owned(&index, "u1"), ["monitoring/a"]);
        assert_eq!(owned(&index, "u2"), ["grafana/a", "monitoring/b"]);
        let gone = ConfigMap {
            metadata: ObjectMeta {
                namespace: Some("monitoring".into()),
                name: Some("a".into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        };
        index.apply(&Event::Delete(gone), |_| dashboard("u1"));
        assert!(owned(&index, "u1").is_empty());
        assert!(index.inner.owners.read().unwrap().get("u1").is_none());
    }

    #[test]
    fn only_a_change_of_what_is_kept_triggers_a_reconcile() {
        use super::super::seen::entry;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
        let index = Index::<ConfigMap>::default();
        let object = |resource_version: &str, entries: Vec<ManagedFieldsEntry>| ConfigMap {
            metadata: ObjectMeta {
                namespace: Some("n".into()),
                name: Some("c".into()),
                resource_version: Some(resource_version.into()),
                managed_fields: Some(entries),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        };
        let ours = entry(
            crate::FIELD_MANAGER,
            "Apply",
            None,
            serde_json::json!({"f:data": {"f:a": {}, "f:b": {}}}),
        );
        let status = |time: &str| {
            let mut status = entry(
                "kube-controller-manager",
                "Update",
                Some("status"),
                serde_json::json!({"f:status": {"f:x": {}}}),
            );
            status.time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                time.parse().unwrap(),
            ));
            status
        };
        let record = |o: &ConfigMap| Seen::from_meta(&o.metadata);
        let first = object("1", vec![ours.clone(), status("2026-01-01T00:00:00Z")]);
        assert!(index.apply(&Event::Apply(first), record), "a new child");
        let status_write = object("2", vec![ours.clone(), status("2026-01-01T00:00:15Z")]);
        assert!(
            !index.apply(&Event::Apply(status_write), record),
            "someone else's status write changes nothing the operator keeps"
        );
        let mut shrunk = ours;
        shrunk.fields_v1 = Some(FieldsV1(serde_json::json!({"f:data": {"f:a": {}}})));
        let drift = object("3", vec![shrunk, status("2026-01-01T00:00:15Z")]);
        assert!(
            index.apply(&Event::Apply(drift), record),
            "drift reconciles"
        );
    }
}
