//! Which DiceService watch events start a reconcile: a new spec (generation), a new object
//! under the same name (uid), or its deletion starting (the finalizer must run). Status-only
//! changes, our own status writes among them, start none. Unlike kube-runtime's
//! `predicate_filter`, which keeps an entry per object for an hour after it is gone, a
//! DiceService is forgotten when its deletion is seen, so churn leaves nothing behind.

use crate::crd::CachedDiceService;
use crate::object_key::ObjectKey;
use kube::ResourceExt;
use kube::runtime::watcher::Event;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, PoisonError};

/// What was last let through, by DiceService.
type Identities = HashMap<ObjectKey, u64>;

#[derive(Debug, Default)]
pub struct SpecChanges {
    inner: Mutex<Remembered>,
}

#[derive(Debug, Default)]
struct Remembered {
    seen: Identities,
    /// A re-list in progress: what it has shown so far, replacing `seen` when it is done.
    relisting: Option<Identities>,
}

fn identity(service: &CachedDiceService) -> u64 {
    let mut hasher = DefaultHasher::new();
    let deleting = service.metadata.deletion_timestamp.is_some();
    (service.uid(), service.metadata.generation, deleting).hash(&mut hasher);
    hasher.finish()
}

impl SpecChanges {
    /// The DiceService to reconcile for this event, if it changed as a reconcile cares.
    pub fn admit(&self, event: Event<CachedDiceService>) -> Option<CachedDiceService> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Remembered { seen, relisting } = &mut *inner;
        match event {
            Event::Apply(service) => {
                let identity = identity(&service);
                let before = seen.insert(ObjectKey::of(&service), identity);
                (before != Some(identity)).then_some(service)
            }
            Event::InitApply(service) => {
                let key = ObjectKey::of(&service);
                let identity = identity(&service);
                let before = seen.get(&key).copied();
                relisting
                    .get_or_insert_with(Identities::new)
                    .insert(key, identity);
                (before != Some(identity)).then_some(service)
            }
            Event::Delete(service) => {
                seen.remove(&ObjectKey::of(&service));
                if seen.capacity() > 64 && seen.len() * 4 < seen.capacity() {
                    seen.shrink_to_fit();
                }
                None
            }
            Event::Init => {
                *relisting = Some(Identities::new());
                None
            }
            Event::InitDone => {
                // Objects deleted while the watch was down are not in the new list.
                *seen = relisting.take().unwrap_or_default();
                None
            }
        }
    }

    /// How many DiceServices it remembers (`dice_operator_held_entries{map="spec_changes"}`).
    pub fn len(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::DiceService;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    /// A DiceService as the controller's watch delivers it.
    fn service(name: &str, uid: &str, generation: i64) -> CachedDiceService {
        let spec = serde_json::from_value(serde_json::json!({})).expect("an empty spec is valid");
        let mut service = DiceService::new(name, spec);
        service.metadata.namespace = Some("shop".into());
        service.metadata.uid = Some(uid.into());
        service.metadata.generation = Some(generation);
        let text = serde_json::to_string(&service).expect("JSON");
        serde_json::from_str(&text).expect("a DiceService")
    }

    fn admitted(changes: &SpecChanges, event: Event<CachedDiceService>) -> bool {
        changes.admit(event).is_some()
    }

    #[test]
    fn a_status_only_change_starts_no_reconcile_and_a_new_generation_or_uid_does() {
        let changes = SpecChanges::default();
        assert!(admitted(&changes, Event::Apply(service("a", "u1", 1))));
        assert!(!admitted(&changes, Event::Apply(service("a", "u1", 1))));
        assert!(admitted(&changes, Event::Apply(service("a", "u1", 2))));
        assert!(admitted(&changes, Event::Apply(service("a", "u2", 2))));
        let mut deleting = service("a", "u2", 2);
        deleting.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert!(admitted(&changes, Event::Apply(deleting)));
    }

    #[test]
    fn a_deleted_diceservice_is_forgotten_and_a_relist_drops_the_ones_gone_meanwhile() {
        let changes = SpecChanges::default();
        for name in ["a", "b", "c"] {
            changes.admit(Event::Apply(service(name, name, 1)));
        }
        changes.admit(Event::Delete(service("a", "a", 1)));
        assert_eq!(changes.len(), 2);

        changes.admit(Event::Init);
        assert!(
            !admitted(&changes, Event::InitApply(service("b", "b", 1))),
            "unchanged across a re-list"
        );
        changes.admit(Event::InitDone);
        assert_eq!(changes.len(), 1, "c was deleted while the watch was down");
        changes.admit(Event::Delete(service("b", "b", 1)));
        assert!(changes.is_empty());
    }
}
