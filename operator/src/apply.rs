//! Server-side apply of every child with the one field manager, skipping children the watches
//! already show up to date; returns what the server holds.

use crate::FIELD_MANAGER;
use crate::children::Children;
use crate::observed::{ObservedChildren, up_to_date};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::hash::Hash;

/// The children as the API server holds them after the reconcile.
#[derive(Debug, Clone)]
pub struct Applied {
    pub deployment: Deployment,
    /// Children sent to the server (the rest were already up to date).
    pub sent: usize,
}

/// Applies each child that differs from what is observed. Destructured without `..`: a new
/// child kind must be applied here.
pub async fn apply_children(
    client: &Client,
    children: &Children,
    observed: &ObservedChildren,
) -> Result<Applied, kube::Error> {
    let Children {
        service_account,
        deployment,
        service,
    } = children;
    let mut sent = 0;
    apply_if_changed(client, &observed.accounts, service_account, &mut sent).await?;
    let deployment = apply_if_changed(client, &observed.deployments, deployment, &mut sent).await?;
    apply_if_changed(client, &observed.services, service, &mut sent).await?;
    Ok(Applied { deployment, sent })
}

async fn apply_if_changed<K>(
    client: &Client,
    observed: &Store<K>,
    desired: &K,
    sent: &mut usize,
) -> Result<K, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned,
    K: 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    if let Some(current) = up_to_date(observed, desired) {
        return Ok((*current).clone());
    }
    *sent += 1;
    apply(client, desired).await
}

/// `force`: the operator owns these objects; a hand edit of an owned field is reverted.
pub async fn apply<K>(client: &Client, object: &K) -> Result<K, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned,
    K::DynamicType: Default,
{
    let meta = object.meta();
    let namespace = meta.namespace.as_deref().unwrap_or("default");
    let name = meta.name.as_deref().unwrap_or_default();
    Api::<K>::namespaced(client.clone(), namespace)
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(object),
        )
        .await
}
