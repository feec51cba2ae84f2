//! Server-side apply of every child with the one field manager; returns what the server holds.

use crate::FIELD_MANAGER;
use crate::children::Children;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// The children as the API server returned them after the apply.
#[derive(Debug, Clone)]
pub struct Applied {
    pub deployment: Deployment,
}

/// Applies each child. Destructured without `..`: a new child kind must be applied here.
pub async fn apply_children(client: &Client, children: &Children) -> Result<Applied, kube::Error> {
    let Children {
        service_account,
        deployment,
        service,
    } = children;
    apply(client, service_account).await?;
    let deployment = apply(client, deployment).await?;
    apply(client, service).await?;
    Ok(Applied { deployment })
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
