//! The one trait every kind of child implements: its Kubernetes type, how it is built, and
//! what the operator does with it when applying, switching off and reporting.

use super::disruption_budget::Relaxation;
use crate::served::MonitoringKind;
use crate::validate::Validated;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Everything a builder reads: the validated spec, and what the cluster showed that the spec
/// alone cannot say.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub service: &'a Validated,
    /// How far the disruption budget must give way to pods that stay unavailable.
    pub relaxation: Relaxation,
}

/// What becomes of a child when the spec stops asking for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Always wanted; it goes with the DiceService (garbage collection).
    WithTheService,
    /// Kept: it holds data the author may still want.
    KeptWhenSwitchedOff,
    /// Deleted by the operator.
    DeletedWhenSwitchedOff,
}

/// One kind of object a DiceService owns. Each implementation lives beside its builder, and
/// one line in `children/kinds.rs` lists it; everything else (the `Children` field, its watch and
/// store, apply order, RBAC verbs, `render` files) follows from this.
pub trait Child: 'static {
    /// The Kubernetes type.
    type Object: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + PartialEq
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static;
    /// The file `dice-operator render --output-dir` writes it to (`<stem>.yaml`).
    const STEM: &'static str;
    const LIFECYCLE: Lifecycle;
    /// The Prometheus Operator kind whose CRD must be served before it is watched, looked up
    /// or applied; `None` for Kubernetes' own kinds.
    const SERVED_AS: Option<MonitoringKind> = None;
    /// Its fate is reported child by child in `status.monitoring`, and an API refusal marks it
    /// failed there; a refusal of any other child blocks the DiceService.
    const REPORTED: bool = false;
    /// Applied, in list order, before the children that are not: the pods need their account,
    /// their claim and their Deployment first, and an error here stops the reconcile.
    const PREREQUISITE: bool = false;
    /// Watched, and read back after an apply, whole instead of metadata-only (the status
    /// reads the Deployment's rollout).
    const WATCHED_IN_FULL: bool = false;

    /// The object the spec asks for, `None` when switched off.
    fn build(inputs: Inputs<'_>) -> Option<Self::Object>;

    /// The Deployment whose rollout the status reports, when this kind is it.
    fn workload(_object: &Self::Object) -> Option<&Deployment> {
        None
    }

    /// How `status.monitoring` names the object.
    fn reported_name(object: &Self::Object) -> String {
        object.name_any()
    }
}
