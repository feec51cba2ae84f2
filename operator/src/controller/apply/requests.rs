//! The requests an apply sends, and how their refusals are told from errors a retry may cure.

use crate::FIELD_MANAGER;
use crate::controller::observed::LeanMeta;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Splits off a refusal retrying cannot fix (`Ok(Err(why))`, for the status) from the errors a
/// retry may cure (`Err`).
pub fn refused<T>(result: Result<T, kube::Error>) -> Result<Result<T, String>, kube::Error> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(kube::Error::Api(status)) => match refusal(&status) {
            Some(why) => Ok(Err(why)),
            None => Err(kube::Error::Api(status)),
        },
        Err(error) => Err(error),
    }
}

/// Why the API server refused an apply that retrying cannot fix: 4xx answers other than
/// conflicts and throttling, and the 500 a server answers when the object names a field its
/// schema lacks (an older CRD: kubernetes/kubernetes#139253). `None`: retry.
fn refusal(status: &kube::core::Status) -> Option<String> {
    // The server's message lists every cause; a status condition need not hold hundreds.
    const MESSAGE_LIMIT: usize = 1024;
    let message = crate::events::truncate(&status.message, MESSAGE_LIMIT);
    let permanent_client_error =
        (400..500).contains(&status.code) && status.code != 409 && status.code != 429;
    let unknown_field = status.code == 500
        && status
            .message
            .contains("failed to create typed patch object")
        && status.message.contains("field not declared in schema");
    if unknown_field {
        return Some(format!(
            "refused by the API server: the installed CRD lacks a field the operator sets \
             (upgrade the CRD): {message}"
        ));
    }
    permanent_client_error.then(|| format!("refused by the API server: {message}"))
}

/// `force`: the operator owns these objects; a hand edit of an owned field is reverted.
pub async fn apply<K>(client: &Client, object: &K) -> Result<K, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned,
    K::DynamicType: Default,
{
    apply_answered_as::<K, K>(client, object).await
}

/// [`apply`], answered with the object's metadata alone (`as=PartialObjectMetadata`), decoded
/// lean: all the operator keeps of a child it does not watch whole, without decoding a
/// dashboard's JSON or a rule group's PromQL back.
pub async fn apply_lean<K>(client: &Client, object: &K) -> Result<LeanMeta<K>, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned,
    K::DynamicType: Default,
{
    apply_answered_as::<K, LeanMeta<K>>(client, object).await
}

/// The apply of `object`, its answer decoded as `A` (the kind itself, or a view of it).
async fn apply_answered_as<K, A>(client: &Client, object: &K) -> Result<A, kube::Error>
where
    K: Resource + Serialize + Debug,
    A: Resource<Scope = NamespaceResourceScope> + Clone + Debug + DeserializeOwned,
    A::DynamicType: Default,
{
    let meta = object.meta();
    let namespace = meta.namespace.as_deref().unwrap_or("default");
    let name = meta.name.as_deref().unwrap_or_default();
    Api::<A>::namespaced(client.clone(), namespace)
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(object),
        )
        .await
}

/// Deletes, treating "already gone" as done.
pub async fn delete<K>(client: &Client, namespace: &str, name: &str) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + DeserializeOwned,
    K::DynamicType: Default,
{
    match Api::<K>::namespaced(client.clone(), namespace)
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}
