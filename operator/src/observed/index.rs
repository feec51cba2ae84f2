//! One child kind's observed records, filled by its watch: keyed by namespace and name, replaced
//! whole on a re-list, with the first-list readiness a reconcile waits for.

use super::seen::Seen;
use kube::Resource;
use kube::runtime::watcher::Event;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

type Records = HashMap<Box<str>, Arc<Seen>>;

/// The records of kind `K` (the type only keeps kinds apart).
pub struct Index<K> {
    inner: Arc<Inner>,
    kind: PhantomData<fn() -> K>,
}

struct Inner {
    records: RwLock<Records>,
    /// Records of a re-list in progress; they replace `records` when it completes.
    relisting: Mutex<Option<Records>>,
    ready: tokio::sync::watch::Sender<bool>,
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
                relisting: Mutex::default(),
                ready: tokio::sync::watch::Sender::new(false),
            }),
            kind: PhantomData,
        }
    }
}

fn key(namespace: &str, name: &str) -> Box<str> {
    format!("{namespace}/{name}").into_boxed_str()
}

impl<K> Index<K> {
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Seen>> {
        self.read().get(&*key(namespace, name)).cloned()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record for which `wanted` holds, with its namespace and name.
    pub fn matching(&self, wanted: impl Fn(&Seen) -> bool) -> Vec<(String, String, Arc<Seen>)> {
        self.read()
            .iter()
            .filter(|(_, seen)| wanted(seen))
            .map(|(key, seen)| {
                let (namespace, name) = key.split_once('/').unwrap_or(("", key));
                (namespace.to_owned(), name.to_owned(), seen.clone())
            })
            .collect()
    }

    /// Records `seen` as the state of `namespace/name` (what a watch event does).
    pub fn insert(&self, namespace: &str, name: &str, seen: Seen) {
        let mut records = self
            .inner
            .records
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        records.insert(key(namespace, name), Arc::new(seen));
    }

    /// Resolves once the first list has completed.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.inner.ready.subscribe();
        let _ = ready.wait_for(|ready| *ready).await;
    }

    /// Applies one watch event, recording each object as `record` makes it.
    pub fn apply<T: Resource>(&self, event: &Event<T>, record: impl Fn(&T) -> Seen) {
        let object_key = |object: &T| {
            let meta = object.meta();
            key(
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default(),
            )
        };
        let mut relisting = self
            .inner
            .relisting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::Apply(object) => {
                let seen = Arc::new(record(object));
                self.write().insert(object_key(object), seen);
            }
            Event::Delete(object) => {
                let mut records = self.write();
                records.remove(&object_key(object));
                // After a mass deletion the table returns to its size (a leak check reads it).
                if records.capacity() > 64 && records.len() * 4 < records.capacity() {
                    records.shrink_to_fit();
                }
            }
            Event::Init => *relisting = Some(Records::new()),
            Event::InitApply(object) => {
                let seen = Arc::new(record(object));
                relisting
                    .get_or_insert_with(Records::new)
                    .insert(object_key(object), seen);
            }
            Event::InitDone => {
                let mut listed = relisting.take().unwrap_or_default();
                listed.shrink_to_fit();
                *self.write() = listed;
                self.inner.ready.send_replace(true);
            }
        }
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
