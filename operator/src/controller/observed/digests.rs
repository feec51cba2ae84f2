//! Digests of the field sets the operator's Apply entries own, remembered by the JSON they are
//! read from: every watch event of a child repeats its `managedFields`, and the same child of
//! thousands of DiceServices owns the same fields, so parsing each `fieldsV1` into a set again
//! was most of what recording an event cost.

use serde_json::Value;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{LazyLock, Mutex, PoisonError};
use structured_merge::Set;
use structured_merge::apiserver::digest;

/// Distinct field sets remembered; past this the memory starts again (a few kinds of children,
/// a few shapes each, so it is rarely reached).
const REMEMBERED: usize = 1024;

struct Memo {
    /// Random keys: the JSON comes from the API server, where anyone with write access to a
    /// child can shape it, so a fixed-key hash could be made to collide.
    keys: RandomState,
    digests: Mutex<HashMap<u64, Option<u64>>>,
}

static MEMO: LazyLock<Memo> = LazyLock::new(|| Memo {
    keys: RandomState::new(),
    digests: Mutex::new(HashMap::new()),
});

/// The digest of the set `fields_v1` encodes (as [`digest`] computes it); `None` when it is
/// not a field set.
pub fn of_fields_v1(fields_v1: &Value) -> Option<u64> {
    let key = MEMO.keys.hash_one(fields_v1);
    let remembered = |digests: &HashMap<u64, Option<u64>>| digests.get(&key).copied();
    if let Some(found) = remembered(&MEMO.digests.lock().unwrap_or_else(PoisonError::into_inner)) {
        return found;
    }
    let computed = Set::from_fields_v1(fields_v1).ok().map(|set| digest(&set));
    let mut digests = MEMO.digests.lock().unwrap_or_else(PoisonError::into_inner);
    if digests.len() >= REMEMBERED {
        digests.clear();
    }
    digests.insert(key, computed);
    computed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_remembered_digest_is_the_one_the_set_gives() {
        let fields =
            json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}}});
        let expected = digest(&Set::from_fields_v1(&fields).expect("a field set"));
        assert_eq!(of_fields_v1(&fields), Some(expected));
        assert_eq!(
            of_fields_v1(&fields),
            Some(expected),
            "and again, from memory"
        );
        let other = json!({"f:spec": {"f:replicas": {}}});
        assert_ne!(of_fields_v1(&other), Some(expected));
        assert_eq!(of_fields_v1(&json!({"f:spec": 3})), None, "not a field set");
    }
}
