//! What kube-apiserver adds around structured-merge-diff: the fields it keeps out of every
//! manager's set (identity and what the server itself sets), and a digest of a field set.

use crate::path::{Path, PathElement};
use crate::set::Set;
use std::hash::{Hash, Hasher};

/// Fields no manager owns (kube-apiserver's "strip meta" step): `apiVersion`, `kind`, the
/// `metadata` member itself, and the metadata the server sets or that names the object.
pub fn server_owned_fields() -> Set {
    let field = |names: &[&str]| -> Path { names.iter().map(|n| PathElement::field(n)).collect() };
    let mut set = Set::of([
        field(&["apiVersion"]),
        field(&["kind"]),
        field(&["metadata"]),
    ]);
    for name in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    ] {
        set.insert(&field(&["metadata", name]));
    }
    set
}

/// A digest of a field set, the same for equal sets within one process.
pub fn digest(set: &Set) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    set.to_fields_v1().to_string().hash(&mut hasher);
    hasher.finish()
}
