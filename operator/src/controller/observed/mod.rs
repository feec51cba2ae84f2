//! What the owned-kind watches last saw of each child, and whether applying a child would change
//! anything. Skipping no-op applies is what keeps a DiceService at one apply per child: the
//! reconciles triggered by our own children's watch events find them up to date and send nothing.
//!
//! Only a compact record of each child is kept ([`Seen`]): the owned kinds are watched
//! metadata-only (the Deployment in full, for its status), and the up-to-date decision reads the
//! applied-hash annotation and `managedFields` instead of comparing contents. Anything the
//! record cannot vouch for means "apply", so a wrong guess costs one request, never a missed
//! repair.

mod digests;
mod foreign;
mod index;
mod lean;
mod marks;
mod schemas;
mod seen;

pub use index::Index;
pub use lean::LeanMeta;
pub use schemas::ChildSchemas;
pub use seen::Seen;

use crate::children::{APPLIED_HASH_ANNOTATION, Child, Family, Make, PerKind, Visit};
use crate::served::{MonitoringKind, ServedKinds};
use kube::Resource;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// How long a reconcile waits for the first list of the owned kinds before applying blind. At
/// 10,000 DiceServices on a busy API server one kind's list took longer than 10 s and the first
/// reconciles re-applied that kind blind; waiting costs less than sending every child again.
const FIRST_LIST_WAIT: Duration = Duration::from_secs(60);

/// Each kind's store of what its watch shows.
#[derive(Debug)]
pub enum Observed {}

impl Family for Observed {
    type Of<K: Child> = Index<K::Object>;
}

/// The reflector stores of every owned kind (filled by the controller's watches).
#[derive(Clone)]
pub struct ObservedChildren {
    /// One per kind; a Prometheus Operator kind's stays empty (so its child is always applied)
    /// until the kind is served.
    pub stores: PerKind<Observed>,
    /// False outside the controller: nothing fills the stores, so nothing is waited for.
    pub watched: bool,
    /// The child kinds' schemas, to know which fields an apply owns.
    pub schemas: Arc<ChildSchemas>,
}

/// One kind's store without its type, for what goes over every kind.
struct Store {
    /// The kind's resource (plural), which `dice_operator_held_entries{map}` names it by.
    resource: &'static str,
    served_as: Option<MonitoringKind>,
    index: Index<()>,
}

impl ObservedChildren {
    /// Stores nothing ever fills: every child is applied (a reconcile run outside the controller).
    pub fn none() -> Self {
        struct Empty;
        impl Make<Observed> for Empty {
            fn make<K: Child>(&mut self) -> Index<K::Object> {
                Index::default()
            }
        }
        Self {
            stores: PerKind::from_fn(&mut Empty),
            watched: false,
            schemas: Arc::default(),
        }
    }

    fn untyped(&self) -> Vec<Store> {
        struct Collect(Vec<Store>);
        impl Visit<Observed> for Collect {
            fn visit<K: Child>(&mut self, index: &Index<K::Object>) {
                // k8s-openapi's and kube-derive's types name their plural statically.
                let resource = match K::Object::plural(&()) {
                    std::borrow::Cow::Borrowed(plural) => plural,
                    std::borrow::Cow::Owned(_) => K::STEM,
                };
                self.0.push(Store {
                    resource,
                    served_as: K::SERVED_AS,
                    index: index.untyped(),
                });
            }
        }
        let mut stores = Collect(Vec::new());
        self.stores.visit(&mut stores);
        stores.0
    }

    /// Waits (bounded) until every watched store holds its first list, so an operator
    /// restart does not re-apply every child of every DiceService.
    pub async fn wait_for_first_list(&self, served: &ServedKinds) {
        if !self.watched {
            return;
        }
        // A monitoring kind's store is waited for only while the kind is served: its watch
        // starts then, and a cluster without the Prometheus Operator must not stall.
        let stores = self.untyped();
        let all = async {
            for store in &stores {
                if store.served_as.is_none_or(|kind| served.is_served(kind)) {
                    store.index.wait_until_ready().await;
                    store.index.foreign().wait_until_listed().await;
                }
            }
        };
        if tokio::time::timeout(FIRST_LIST_WAIT, all).await.is_err() {
            tracing::warn!("owned-kind watches have not listed yet; applying every child");
        }
    }

    /// Each store's size, named after its kind's resource (`dice_operator_held_entries{map}`),
    /// and the names unlabelled objects hold, over every kind (`foreign_names`).
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        let stores = self.untyped();
        let foreign = stores.iter().map(|store| store.index.foreign().len()).sum();
        stores
            .into_iter()
            .map(|store| (store.resource, store.index.len()))
            .chain([("foreign_names", foreign)])
            .collect()
    }
}

impl std::fmt::Debug for ObservedChildren {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedChildren")
            .field("sizes", &self.sizes())
            .finish()
    }
}

/// The record the operator keeps of a child of kind `K` (a Deployment's with what the status
/// reads), from the object a watch or an apply answer shows.
pub fn record<K: Child>(object: &K::Object) -> Seen {
    match K::workload(object) {
        Some(deployment) => Seen::from_deployment(deployment),
        None => Seen::from_meta(object.meta()),
    }
}

/// The record of `desired`'s child when applying `desired` would change nothing.
pub fn up_to_date<K>(observed: &Index<K>, schemas: &ChildSchemas, desired: &K) -> Option<Arc<Seen>>
where
    K: Resource + Serialize,
{
    let meta = desired.meta();
    let seen = observed.get(
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )?;
    // Most changed children differ in their hash: no need to serialize them to know.
    let hash = meta.annotations.as_ref()?.get(APPLIED_HASH_ANNOTATION)?;
    if !seen.has_applied_hash(hash) {
        return None;
    }
    let desired = serde_json::to_value(desired).ok()?;
    let applied_fields = seen.expected_fields(|| schemas.applied_fields_digest(&desired));
    seen.is_current(&desired, applied_fields).then_some(seen)
}
