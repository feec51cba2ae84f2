//! Server-side apply as the Kubernetes API server computes it, after structured-merge-diff
//! (sigs.k8s.io/structured-merge-diff, the library kube-apiserver uses): field sets in the
//! FieldsV1 form of `metadata.managedFields`, merging an applied configuration, comparing
//! versions, pruning what an applier stopped applying, and the ownership bookkeeping of
//! apply and update with conflicts — all driven by a schema whose lists and maps are atomic,
//! keyed, sets or granular as `x-kubernetes-list-type`, `-list-map-keys` and `-map-type` say.
//!
//! Checked against structured-merge-diff's own test cases (`tests/conformance`).

pub mod apiserver;
mod fieldset;
mod merge;
mod openapi;
pub mod path;
pub mod schema;
pub mod set;
mod shape;
mod updater;

pub use merge::{Comparison, values_equal};
pub use openapi::OBJECT_META;
pub use path::{Path, PathElement};
pub use schema::{Relationship, Schema, TypeRef};
pub use set::Set;
pub use updater::{Conflict, ManagedFields, Updater, VersionedSet};

/// Why a value, schema or field set cannot be used.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    #[error("schema: {0}")]
    Schema(String),
    #[error("{0}")]
    Invalid(String),
    #[error("field set: {0}")]
    FieldsV1(String),
    #[error("conflicts: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Conflicts(Vec<Conflict>),
}

impl Error {
    /// A low-cardinality name for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Schema(_) => "schema",
            Self::Invalid(_) => "invalid",
            Self::FieldsV1(_) => "fields_v1",
            Self::Conflicts(_) => "conflict",
        }
    }
}
