//! The names that objects of one kind without the operator's label hold, from a second,
//! metadata-only watch: an absent name needs no lookup before a child is created under it, and
//! a taken one is looked up to say whose it is. Only a hash of each name is kept (8 bytes), so
//! thousands of other teams' objects cost little; a collision only costs one lookup.

use kube::Resource;
use kube::runtime::watcher::Event;
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};

#[derive(Debug)]
pub struct ForeignNames {
    inner: Mutex<Names>,
    hasher: RandomState,
    listed: tokio::sync::watch::Sender<bool>,
}

impl Default for ForeignNames {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            hasher: RandomState::new(),
            listed: tokio::sync::watch::Sender::new(false),
        }
    }
}

#[derive(Debug, Default)]
struct Names {
    held: HashSet<u64>,
    /// Names of a (re-)list in progress; they replace `held` when it completes.
    relisting: Option<HashSet<u64>>,
    listed: bool,
}

impl ForeignNames {
    /// Whether an object without the operator's label holds `namespace/name`; `None` until
    /// the first list completed (then only a lookup can tell).
    pub fn holds(&self, namespace: &str, name: &str) -> Option<bool> {
        let names = self.lock();
        names
            .listed
            .then(|| names.held.contains(&self.hash(namespace, name)))
    }

    /// Applies one event of the watch of unlabelled objects.
    pub fn apply<T: Resource>(&self, event: &Event<T>) {
        let key = |object: &T| {
            let meta = object.meta();
            self.hash(
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default(),
            )
        };
        let mut names = self.lock();
        match event {
            Event::Apply(object) => {
                names.held.insert(key(object));
            }
            Event::Delete(object) => {
                names.held.remove(&key(object));
            }
            Event::Init => names.relisting = Some(HashSet::new()),
            Event::InitApply(object) => {
                let hash = key(object);
                names
                    .relisting
                    .get_or_insert_with(HashSet::new)
                    .insert(hash);
            }
            Event::InitDone => {
                let mut listed = names.relisting.take().unwrap_or_default();
                listed.shrink_to_fit();
                names.held = listed;
                names.listed = true;
                self.listed.send_replace(true);
            }
        }
    }

    /// Resolves once the first list has completed.
    pub async fn wait_until_listed(&self) {
        let mut listed = self.listed.subscribe();
        let _ = listed.wait_for(|listed| *listed).await;
    }

    pub fn len(&self) -> usize {
        self.lock().held.len()
    }

    fn hash(&self, namespace: &str, name: &str) -> u64 {
        self.hasher.hash_one((namespace, name))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Names> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn service(name: &str) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("team-a".into()),
                ..ObjectMeta::default()
            },
            ..Service::default()
        }
    }

    #[test]
    fn names_are_unknown_until_listed_then_follow_the_watch() {
        let names = ForeignNames::default();
        assert_eq!(names.holds("team-a", "billing"), None);
        names.apply(&Event::<Service>::Init);
        names.apply(&Event::InitApply(service("billing")));
        assert_eq!(names.holds("team-a", "billing"), None, "still listing");
        names.apply(&Event::<Service>::InitDone);
        assert_eq!(names.holds("team-a", "billing"), Some(true));
        assert_eq!(names.holds("team-b", "billing"), Some(false));
        names.apply(&Event::Apply(service("web")));
        names.apply(&Event::Delete(service("billing")));
        assert_eq!(names.holds("team-a", "web"), Some(true));
        assert_eq!(names.holds("team-a", "billing"), Some(false));
        // A re-list replaces what was held.
        names.apply(&Event::<Service>::Init);
        names.apply(&Event::InitApply(service("api")));
        names.apply(&Event::<Service>::InitDone);
        assert_eq!(names.holds("team-a", "web"), Some(false));
        assert_eq!((names.holds("team-a", "api"), names.len()), (Some(true), 1));
    }
}
