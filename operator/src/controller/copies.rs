//! Which existing objects of a kind this very DiceService created, wherever they are: the ones
//! the operator may delete when the spec moves or drops a child.

use crate::children::dashboard;
use crate::controller::observed::Index;
use crate::controller::ownership::{self, Claim};
use crate::object_key::ObjectKey;
use crate::validate::Validated;

/// Dashboards the watches show that this very DiceService created, in any namespace: with its
/// controller reference in its own namespace, with its owner and uid annotations elsewhere. A
/// copy without the uid (hand-applied `render` output, another DiceService's) is never deleted.
pub fn dashboards_of<K>(
    observed: &Index<K>,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Vec<ObjectKey> {
    let owner = ObjectKey::new(namespace, name).to_string();
    observed
        .dashboards_owned_by(uid)
        .into_iter()
        .filter(|(_, seen)| {
            let owned = seen
                .controller()
                .is_some_and(|o| o.kind() == "DiceService" && o.uid() == uid);
            let marked = seen.annotation(dashboard::OWNER_ANNOTATION) == Some(owner.as_str())
                && seen.annotation(dashboard::OWNER_UID_ANNOTATION) == Some(uid);
            owned || marked
        })
        .map(|(key, _)| key)
        .collect()
}

/// Every object of kind `K` the watches show that `service` created, but `kept`: the one
/// under its own name in its namespace, and the dashboards it placed anywhere. The own name is
/// judged only when it is not the one kept, which it is on most reconciles.
pub fn copies_except<K>(
    observed: &Index<K>,
    service: &Validated,
    kept: Option<&ObjectKey>,
) -> Vec<ObjectKey> {
    let (namespace, name) = (&service.namespace, &service.name);
    let uid = service.uid.as_deref().unwrap_or_default();
    let mut copies = dashboards_of(observed, namespace, name, uid);
    let own_name = ObjectKey::new(namespace, name);
    let judged = kept != Some(&own_name) && !copies.contains(&own_name);
    let ours = judged
        && observed.get(namespace, name).is_some_and(|seen| {
            ownership::claim(&seen.meta(namespace, name), service) == Claim::Ours
        });
    if ours {
        copies.push(own_name);
    }
    copies.retain(|copy| Some(copy) != kept);
    copies
}
