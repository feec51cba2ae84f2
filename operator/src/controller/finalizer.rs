//! The one finalizer: a dashboard in another namespace cannot be owned by the DiceService, so
//! deleting the DiceService deletes it explicitly. Only DiceServices that need it carry it.

use crate::controller::apply::delete;
use crate::controller::copies::dashboards_of;
use crate::controller::observed::ObservedChildren;
use crate::crd::DiceService;
use crate::served::ServedKinds;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;

pub const DASHBOARD_FINALIZER: &str = "dice.dev/dashboard-cleanup";

/// Adds or removes the finalizer so it is present exactly when `needed`.
pub async fn ensure(
    client: &Client,
    service: &DiceService,
    needed: bool,
) -> Result<(), kube::Error> {
    let present = service
        .finalizers()
        .iter()
        .any(|f| f == DASHBOARD_FINALIZER);
    if present == needed {
        return Ok(());
    }
    let mut finalizers: Vec<String> = service
        .finalizers()
        .iter()
        .filter(|f| *f != DASHBOARD_FINALIZER)
        .cloned()
        .collect();
    if needed {
        finalizers.push(DASHBOARD_FINALIZER.to_owned());
    }
    // `test` makes a concurrent change of the list a conflict instead of a lost update.
    let patch = json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": service.resource_version()},
        {"op": "add", "path": "/metadata/finalizers", "value": finalizers},
    ]);
    let api: Api<DiceService> =
        Api::namespaced(client.clone(), &service.namespace().unwrap_or_default());
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(kube::Error::SerdeError)?;
    api.patch(
        &service.name_any(),
        &PatchParams::default(),
        &Patch::Json::<()>(patch),
    )
    .await?;
    Ok(())
}

/// A DiceService being deleted: removes the dashboards it created elsewhere (recognised by its
/// uid, so never a same-named copy somebody else made), then the finalizer.
pub async fn finalize(
    client: &Client,
    service: &DiceService,
    observed: &ObservedChildren,
    served: &ServedKinds,
) -> Result<(), kube::Error> {
    let namespace = service.namespace().unwrap_or_default();
    let uid = service.uid().unwrap_or_default();
    observed.wait_for_first_list(served).await;
    let dashboards = dashboards_of(
        &observed.stores.dashboard,
        &namespace,
        &service.name_any(),
        &uid,
    );
    for dashboard in dashboards {
        if dashboard.namespace() != namespace {
            delete::<ConfigMap>(client, dashboard.namespace(), dashboard.name()).await?;
        }
    }
    ensure(client, service, false).await
}
