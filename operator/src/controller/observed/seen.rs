//! What the operator keeps of one observed child: the marks the ownership check reads, the
//! applied-hash annotation, and a digest of the fields the operator's own apply owns in
//! `metadata.managedFields` — a few hundred bytes, whatever the child's size or whoever else
//! writes to it.
//!
//! A child is up to date when (1) its applied-hash annotation is the desired object's and (2)
//! the operator's Apply entry still owns every field an apply of the desired object owns: the
//! server computes that set with structured-merge-diff from the kind's schema, and
//! [`super::ChildSchemas`] computes the same set from the same schema. A field somebody changed
//! (an edit, `kubectl scale`, another controller) moves to them, and a field somebody removed
//! leaves every set: either way the digests differ and the child is applied again. A field
//! another manager added that the operator does not set (an env var, a sidecar, an annotation)
//! changes nothing the operator owns: not drift. Status writes are not edits.

use super::marks::{ControllerRef, Marks, kept, mark, unkept};
use crate::FIELD_MANAGER;
use crate::children::{APPLIED_HASH_ANNOTATION, REPLICAS_FROM_ANNOTATION, dashboard};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};
use serde_json::Value;
use std::sync::OnceLock;

/// Labels the operator reads on a child.
pub(super) const KEPT_LABELS: [&str; 3] = [
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    dashboard::SIDECAR_LABEL,
];
/// Annotations the operator reads on a child (besides the applied hash).
pub(super) const KEPT_ANNOTATIONS: [&str; 3] = [
    dashboard::OWNER_ANNOTATION,
    dashboard::OWNER_UID_ANNOTATION,
    REPLICAS_FROM_ANNOTATION,
];

/// The compact record of one child. Two records are equal when they say the same about the
/// child (the expected-fields digest is a cache, not part of what was seen).
#[derive(Debug, Clone)]
pub struct Seen {
    controller: Option<ControllerRef>,
    labels: Marks,
    annotations: Marks,
    applied_hash: Option<u64>,
    /// The digest of the fields the operator's own Apply entry owns; `None` without one.
    own_fields: Option<u64>,
    /// The digest of the fields an apply of the desired object with this record's applied hash
    /// owns, once computed: the hash fixes the object, so once per record is enough.
    expected_fields: OnceLock<u64>,
    /// Deployments only: what the status and the replicas hand-over read.
    workload: Option<Box<Workload>>,
}

impl PartialEq for Seen {
    fn eq(&self, other: &Self) -> bool {
        self.controller == other.controller
            && self.labels == other.labels
            && self.annotations == other.annotations
            && self.applied_hash == other.applied_hash
            && self.own_fields == other.own_fields
            && self.workload == other.workload
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Workload {
    generation: Option<i64>,
    replicas: Option<i32>,
    status: Option<DeploymentStatus>,
}

/// The 16 hex digits of an applied-hash annotation.
fn applied_hash(meta: &ObjectMeta) -> Option<u64> {
    let value = meta.annotations.as_ref()?.get(APPLIED_HASH_ANNOTATION)?;
    u64::from_str_radix(value, 16).ok()
}

/// The `Available=False` condition alone, reduced to its status and transition time.
fn unavailable_since(status: &DeploymentStatus) -> Option<Vec<DeploymentCondition>> {
    let condition = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Available" && c.status == "False")?;
    Some(vec![DeploymentCondition {
        type_: condition.type_.clone(),
        status: condition.status.clone(),
        last_transition_time: condition.last_transition_time.clone(),
        ..DeploymentCondition::default()
    }])
}

impl Seen {
    /// The record of a child from its metadata (managedFields included).
    pub fn from_meta(meta: &ObjectMeta) -> Self {
        let own_fields = meta
            .managed_fields
            .iter()
            .flatten()
            .filter(|e| e.manager.as_deref() == Some(FIELD_MANAGER))
            .filter(|e| e.operation.as_deref() == Some("Apply") && e.subresource.is_none())
            .filter_map(|e| e.fields_v1.as_ref())
            .find_map(|fields| super::digests::of_fields_v1(&fields.0));
        let controller = meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(ControllerRef::new);
        // A controller reference decides ownership by itself: the marks an object without one
        // is judged by are not kept for it (most children, so most records).
        let controlled = controller.is_some();
        let labels = kept(meta.labels.as_ref(), &KEPT_LABELS, |key| {
            !controlled || key == dashboard::SIDECAR_LABEL
        });
        let annotations = kept(meta.annotations.as_ref(), &KEPT_ANNOTATIONS, |key| {
            !controlled || key == REPLICAS_FROM_ANNOTATION
        });
        Self {
            controller,
            labels,
            annotations,
            applied_hash: applied_hash(meta),
            own_fields,
            expected_fields: OnceLock::new(),
            workload: None,
        }
    }

    /// The record of a Deployment: its metadata plus what the status reads.
    pub fn from_deployment(deployment: &Deployment) -> Self {
        Self {
            workload: Some(Box::new(Workload {
                generation: deployment.metadata.generation,
                replicas: deployment.spec.as_ref().and_then(|s| s.replicas),
                // The status reads the counters and when pods went missing (the disruption
                // budget's grace); the rest of the conditions is most of the size.
                status: deployment.status.as_ref().map(|status| DeploymentStatus {
                    conditions: unavailable_since(status),
                    ..status.clone()
                }),
            })),
            ..Self::from_meta(&deployment.metadata)
        }
    }

    /// The kept metadata, as the ownership check reads it: with an empty Apply entry of the
    /// operator's when it has one (whether the operator applied the object is what counts).
    pub fn meta(&self, namespace: &str, name: &str) -> ObjectMeta {
        let own_entry = self.own_fields.map(|_| {
            vec![ManagedFieldsEntry {
                manager: Some(FIELD_MANAGER.to_owned()),
                operation: Some("Apply".to_owned()),
                ..ManagedFieldsEntry::default()
            }]
        });
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            owner_references: self.controller.as_ref().map(|o| vec![o.owner_reference()]),
            labels: unkept(&self.labels, &KEPT_LABELS),
            annotations: unkept(&self.annotations, &KEPT_ANNOTATIONS),
            managed_fields: own_entry,
            ..ObjectMeta::default()
        }
    }

    /// The Deployment as the status reads it (metadata, replicas, status).
    pub fn deployment(&self, namespace: &str, name: &str) -> Deployment {
        let workload = self.workload.as_deref();
        let mut metadata = self.meta(namespace, name);
        metadata.generation = workload.and_then(|w| w.generation);
        Deployment {
            metadata,
            spec: Some(DeploymentSpec {
                replicas: workload.and_then(|w| w.replicas),
                ..DeploymentSpec::default()
            }),
            status: workload.and_then(|w| w.status.clone()),
        }
    }

    /// A kept annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        mark(&self.annotations, &KEPT_ANNOTATIONS, key)
    }

    /// A kept label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        mark(&self.labels, &KEPT_LABELS, key)
    }

    /// The uid of the DiceService a dashboard belongs to: its controller's in its own namespace,
    /// its owner-uid annotation elsewhere; `None` for anything but a dashboard.
    pub fn dashboard_owner_uid(&self) -> Option<&str> {
        self.label(dashboard::SIDECAR_LABEL)?;
        match self.controller() {
            Some(owner) if owner.kind() == "DiceService" => Some(owner.uid()),
            _ => self.annotation(dashboard::OWNER_UID_ANNOTATION),
        }
    }

    pub fn controller(&self) -> Option<&ControllerRef> {
        self.controller.as_ref()
    }

    pub fn replicas(&self) -> Option<i32> {
        self.workload.as_ref().and_then(|w| w.replicas)
    }

    /// Whether `hash` (an applied-hash annotation's value) is the one this child carries.
    pub fn has_applied_hash(&self, hash: &str) -> bool {
        self.applied_hash.is_some() && self.applied_hash == u64::from_str_radix(hash, 16).ok()
    }

    /// The digest of the fields an apply of the desired child owns, computed by `compute` the
    /// first time (callers check the applied hash first, so the desired object is always the
    /// same one); `None` while `compute` cannot tell.
    pub fn expected_fields(&self, compute: impl FnOnce() -> Option<u64>) -> Option<u64> {
        if let Some(digest) = self.expected_fields.get() {
            return Some(*digest);
        }
        let digest = compute()?;
        Some(*self.expected_fields.get_or_init(|| digest))
    }

    /// Whether applying `desired` (its JSON, applied-hash annotation included) would change
    /// nothing, given the digest of the fields that apply owns (`None`: the kind's schema is
    /// not known yet, and the operator's Apply entry is trusted as it is).
    pub fn is_current(&self, desired: &Value, applied_fields: Option<u64>) -> bool {
        let desired_hash = desired["metadata"]["annotations"][APPLIED_HASH_ANNOTATION]
            .as_str()
            .and_then(|h| u64::from_str_radix(h, 16).ok());
        let fields_owned = match applied_fields {
            Some(expected) => self.own_fields == Some(expected),
            None => self.own_fields.is_some(),
        };
        desired_hash.is_some() && self.applied_hash == desired_hash && fields_owned
    }
}

/// A `managedFields` entry, for the tests of this module and of the index.
#[cfg(test)]
pub(super) fn entry(
    manager: &str,
    operation: &str,
    subresource: Option<&str>,
    fields: Value,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry {
        manager: Some(manager.into()),
        operation: Some(operation.into()),
        subresource: subresource.map(Into::into),
        fields_v1: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1(
            fields,
        )),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
    use serde_json::json;

    fn desired() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "n", "labels": {"app": "dice"},
                "annotations": {APPLIED_HASH_ANNOTATION: "00000000000000ab"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    }

    fn own() -> ManagedFieldsEntry {
        entry(
            FIELD_MANAGER,
            "Apply",
            None,
            json!({
            "f:metadata": {"f:labels": {"f:app": {}}, "f:annotations": {format!("f:{APPLIED_HASH_ANNOTATION}"): {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}}}}}}}),
        )
    }

    fn seen(entries: Vec<ManagedFieldsEntry>, hash: &str) -> Seen {
        Seen::from_meta(&ObjectMeta {
            annotations: Some([(APPLIED_HASH_ANNOTATION.to_owned(), hash.to_owned())].into()),
            managed_fields: Some(entries),
            ..ObjectMeta::default()
        })
    }

    /// The digest of what the server records for the operator's apply of [`desired`].
    fn applied() -> Option<u64> {
        let fields = own().fields_v1.unwrap().0;
        Some(structured_merge::apiserver::digest(
            &structured_merge::Set::from_fields_v1(&fields).unwrap(),
        ))
    }

    #[test]
    fn a_child_only_the_operator_and_others_adding_their_own_fields_touched_is_current() {
        let status = entry(
            "kube-controller-manager",
            "Update",
            Some("status"),
            json!({"f:status": {"f:replicas": {}}}),
        );
        let annotation = entry(
            "kubectl-annotate",
            "Update",
            None,
            json!({"f:metadata": {"f:annotations": {"f:note": {}}}}),
        );
        let env_var = entry(
            "kubectl-set",
            "Update",
            None,
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {"f:env": {".": {}, "k:{\"name\":\"FOO\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}}}}),
        );
        let record = seen(vec![own(), status, annotation, env_var], "00000000000000ab");
        assert!(record.is_current(&desired(), applied()));
        assert!(
            !seen(vec![own()], "00000000000000ac").is_current(&desired(), applied()),
            "another hash"
        );
        assert!(
            !seen(vec![], "00000000000000ab").is_current(&desired(), applied()),
            "not applied by us"
        );
    }

    #[test]
    fn a_field_taken_or_removed_from_the_operators_apply_is_drift() {
        let mut shrunk = own();
        // `kubectl edit` of the image, or a removed label: the field leaves the operator's set.
        shrunk.fields_v1 = Some(FieldsV1(json!({
            "f:metadata": {"f:labels": {"f:app": {}}, "f:annotations": {format!("f:{APPLIED_HASH_ANNOTATION}"): {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}}}}}}})));
        let editor = entry(
            "kubectl-edit",
            "Update",
            None,
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {"f:image": {}}}}}}}),
        );
        let record = seen(vec![shrunk, editor], "00000000000000ab");
        assert!(!record.is_current(&desired(), applied()));
        assert!(
            record.is_current(&desired(), None),
            "without the schema, the Apply entry is trusted"
        );
    }
}
