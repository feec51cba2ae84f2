//! What the operator keeps of one observed child: the marks the ownership check reads, the
//! applied-hash annotation, and what `metadata.managedFields` says about who set which fields —
//! a few hundred bytes, whatever the child's size.
//!
//! A child is up to date when (1) its applied-hash annotation is the desired object's, (2) no
//! other field manager owns a field the desired object sets (an edit, `kubectl scale`, another
//! controller: server-side apply moves a changed field to whoever changed it), and (3) the
//! operator's own apply still owns as many fields as the desired object sets (a field somebody
//! removed leaves every manager's set). Status writes are not edits.

use super::marks::{ControllerRef, Marks, kept, mark, unkept};
use crate::children::{APPLIED_HASH_ANNOTATION, REPLICAS_FROM_ANNOTATION, dashboard};
use crate::{FIELD_MANAGER, REPLICAS_HANDOVER_MANAGER};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value};

/// Labels the operator reads on a child.
const KEPT_LABELS: [&str; 3] = [
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    dashboard::SIDECAR_LABEL,
];
/// Annotations the operator reads on a child (besides the applied hash).
const KEPT_ANNOTATIONS: [&str; 3] = [
    dashboard::OWNER_ANNOTATION,
    dashboard::OWNER_UID_ANNOTATION,
    REPLICAS_FROM_ANNOTATION,
];

/// The compact record of one child.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    controller: Option<ControllerRef>,
    labels: Marks,
    annotations: Marks,
    applied_hash: Option<u64>,
    /// How many fields the operator's own apply owns (see [`field_count`]).
    own_fields: u32,
    /// The fields other managers set (status writes aside), merged; `None` when nobody did.
    foreign: Option<Box<Value>>,
    /// Deployments only: what the status and the replicas hand-over read.
    workload: Option<Box<Workload>>,
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
            .map(|fields| field_count(&fields.0))
            .sum();
        let foreign = foreign_fields(meta);
        let foreign = foreign
            .as_object()
            .is_some_and(|f| !f.is_empty())
            .then(|| Box::new(foreign));
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
            foreign,
            workload: None,
        }
    }

    /// The record of a Deployment: its metadata plus what the status reads.
    pub fn from_deployment(deployment: &Deployment) -> Self {
        Self {
            workload: Some(Box::new(Workload {
                generation: deployment.metadata.generation,
                replicas: deployment.spec.as_ref().and_then(|s| s.replicas),
                // The status reads the counters; conditions are most of the size.
                status: deployment.status.as_ref().map(|status| DeploymentStatus {
                    conditions: None,
                    ..status.clone()
                }),
            })),
            ..Self::from_meta(&deployment.metadata)
        }
    }

    /// The kept metadata, as the ownership check reads it.
    pub fn meta(&self, namespace: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            owner_references: self.controller.as_ref().map(|o| vec![o.owner_reference()]),
            labels: unkept(&self.labels, &KEPT_LABELS),
            annotations: unkept(&self.annotations, &KEPT_ANNOTATIONS),
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

    /// Whether applying `desired` (its JSON, applied-hash annotation included) would change
    /// nothing.
    pub fn is_current(&self, desired: &Value) -> bool {
        let desired_hash = desired["metadata"]["annotations"][APPLIED_HASH_ANNOTATION]
            .as_str()
            .and_then(|h| u64::from_str_radix(h, 16).ok());
        desired_hash.is_some()
            && self.applied_hash == desired_hash
            && self.own_fields >= desired_field_count(desired)
            && !self
                .foreign
                .as_deref()
                .is_some_and(|fields| intersects(fields, desired))
    }
}

/// Merges the field sets of the managers that are neither the operator nor status writers.
fn foreign_fields(meta: &ObjectMeta) -> Value {
    let mut merged = Value::Object(Map::new());
    for entry in meta.managed_fields.iter().flatten() {
        let manager = entry.manager.as_deref().unwrap_or_default();
        let ours = manager == FIELD_MANAGER || manager == REPLICAS_HANDOVER_MANAGER;
        if ours || entry.subresource.as_deref() == Some("status") {
            continue;
        }
        if let Some(fields) = &entry.fields_v1 {
            union(&mut merged, &fields.0);
        }
    }
    merged
}

fn union(into: &mut Value, fields: &Value) {
    let (Value::Object(into), Value::Object(fields)) = (into, fields) else {
        return;
    };
    for (key, child) in fields {
        match into.get_mut(key) {
            Some(existing) => union(existing, child),
            None => {
                into.insert(key.clone(), child.clone());
            }
        }
    }
}

/// The `f:` fields of a FieldsV1 set, not counting inside list elements (`k:`, `v:`, `i:`),
/// whose encoding depends on the schema.
pub fn field_count(fields: &Value) -> u32 {
    fields.as_object().map_or(0, |map| {
        map.iter()
            .filter(|(key, _)| key.starts_with("f:"))
            .map(|(_, child)| 1 + field_count(child))
            .sum()
    })
}

/// The same count for the object an apply sends: map keys, not inside lists; of metadata only
/// what an apply owns.
fn desired_field_count(desired: &Value) -> u32 {
    fn count(value: &Value) -> u32 {
        value.as_object().map_or(0, |map| {
            map.values()
                .filter(|v| !v.is_null())
                .map(|v| 1 + count(v))
                .sum()
        })
    }
    let Some(map) = desired.as_object() else {
        return 0;
    };
    let mut total = 0;
    for (key, value) in map {
        match key.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                let owned: u32 = ["labels", "annotations", "ownerReferences", "finalizers"]
                    .iter()
                    .filter_map(|k| value.get(*k).filter(|v| !v.is_null()))
                    .map(|v| 1 + count(v))
                    .sum();
                total += u32::from(owned > 0) + owned;
            }
            _ if value.is_null() => {}
            _ => total += 1 + count(value),
        }
    }
    total
}

/// Whether field set `fields` names a field `desired` sets. Inside a list the desired object
/// sets, any owned element counts (without the schema, list keys cannot be matched).
fn intersects(fields: &Value, desired: &Value) -> bool {
    let Some(fields) = fields.as_object() else {
        return false;
    };
    fields.iter().any(|(key, child)| {
        let Some(name) = key.strip_prefix("f:") else {
            return true;
        };
        match desired.get(name) {
            None | Some(Value::Null) => false,
            Some(Value::Array(_)) => true,
            Some(value) => child.as_object().is_none_or(Map::is_empty) || intersects(child, value),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
    use serde_json::json;

    fn entry(
        manager: &str,
        operation: &str,
        subresource: Option<&str>,
        fields: Value,
    ) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some(operation.into()),
            subresource: subresource.map(Into::into),
            fields_v1: Some(FieldsV1(fields)),
            ..ManagedFieldsEntry::default()
        }
    }

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

    #[test]
    fn a_child_only_the_operator_and_status_writers_touched_is_current() {
        let status = entry(
            "kube-controller-manager",
            "Update",
            Some("status"),
            json!({"f:status": {"f:replicas": {}}}),
        );
        let unrelated = entry(
            "kubectl-annotate",
            "Update",
            None,
            json!({"f:metadata": {"f:annotations": {"f:note": {}}}}),
        );
        assert!(seen(vec![own(), status, unrelated], "00000000000000ab").is_current(&desired()));
        assert!(
            !seen(vec![own()], "00000000000000ac").is_current(&desired()),
            "another hash"
        );
        assert!(
            !seen(vec![], "00000000000000ab").is_current(&desired()),
            "not applied by us"
        );
    }

    #[test]
    fn another_managers_field_or_a_removed_field_is_drift() {
        for edit in [
            json!({"f:spec": {"f:replicas": {}}}),
            json!({"f:metadata": {"f:labels": {"f:app": {}}}}),
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {"f:image": {}}}}}}}),
        ] {
            let record = seen(
                vec![own(), entry("kubectl-edit", "Update", None, edit.clone())],
                "00000000000000ab",
            );
            assert!(!record.is_current(&desired()), "{edit}");
        }
        let mut shrunk = own();
        shrunk.fields_v1 = Some(FieldsV1(
            json!({"f:metadata": {"f:annotations": {format!("f:{APPLIED_HASH_ANNOTATION}"): {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {}}}}}),
        ));
        assert!(
            !seen(vec![shrunk], "00000000000000ab").is_current(&desired()),
            "a label was removed"
        );
    }
}
