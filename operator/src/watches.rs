//! The controller's watch streams: owned kinds feeding the reflector stores, Prometheus Operator
//! kinds that start once they are served, and the discovery loop that notices those kinds.

use crate::children::dashboard::OWNER_ANNOTATION;
use crate::crd::DiceService;
use crate::observed::Slim;
use crate::served::{MonitoringKind, ServedKinds, discover};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::Duration;

/// Rediscover the monitoring kinds this often even without CRD events (e.g. when the operator
/// may not watch CRDs).
const DISCOVERY_INTERVAL: Duration = Duration::from_secs(300);

type Events<K> = std::pin::Pin<Box<dyn Stream<Item = Result<K, watcher::Error>> + Send>>;

/// A watch of one owned kind feeding a reflector store (without managedFields, which the
/// up-to-date check never reads, and [`Slim`]med) and yielding every touched object as a reconcile trigger.
pub fn owned<K>(api: Api<K>, config: watcher::Config) -> (reflector::Store<K>, Events<K>)
where
    K: Resource<DynamicType = ()> + Slim + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let events = watcher::watcher(api, config)
        .default_backoff()
        .modify(|object| {
            object.managed_fields_mut().clear();
            object.slim();
        })
        .reflect(writer)
        .touched_objects()
        .boxed();
    (reader, events)
}

/// Like [`owned`], but the watch starts only once `kind` is served: watching a kind the API
/// server does not know would fail and retry forever.
pub fn when_served<K>(
    api: Api<K>,
    config: watcher::Config,
    served: &ServedKinds,
    kind: MonitoringKind,
) -> (reflector::Store<K>, Events<K>)
where
    K: Resource<DynamicType = ()> + Slim + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let served = served.clone();
    let (reader, writer) = reflector::store();
    let events = futures::stream::once(async move {
        served.wait_for(kind).await;
        tracing::info!(kind = kind.kind(), "watching newly served monitoring kind");
        watcher::watcher(api, config)
            .default_backoff()
            .modify(|object| {
                object.managed_fields_mut().clear();
                object.slim();
            })
            .reflect(writer)
            .touched_objects()
    })
    .flatten()
    .boxed();
    (reader, events)
}

/// The DiceService a dashboard ConfigMap belongs to: its owner reference in the same namespace,
/// the owner annotation in another (owner references cannot cross namespaces).
pub fn dashboard_owner(config_map: ConfigMap) -> Option<ObjectRef<DiceService>> {
    if let Some(owner) = config_map.annotations().get(OWNER_ANNOTATION) {
        let (namespace, name) = owner.split_once('/')?;
        return Some(ObjectRef::new(name).within(namespace));
    }
    let namespace = config_map.namespace()?;
    config_map
        .owner_references()
        .iter()
        .find(|o| o.kind == "DiceService" && o.controller == Some(true))
        .map(|o| ObjectRef::new(&o.name).within(&namespace))
}

/// Keeps `served` current: discovers at start, whenever a monitoring CRD changes, and every
/// [`DISCOVERY_INTERVAL`]. Runs until dropped.
pub async fn discovery_loop(client: Client, served: ServedKinds) {
    let names: Vec<String> = MonitoringKind::ALL.iter().map(|k| k.crd_name()).collect();
    let crd_changes = watcher::watcher(
        Api::<PartialObjectMeta<CustomResourceDefinition>>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .touched_objects()
    .filter_map(move |event| {
        let relevant = match event {
            Ok(crd) => names.contains(&crd.name_any()),
            Err(error) => {
                tracing::debug!(%error, "cannot watch CRDs; relying on periodic discovery");
                false
            }
        };
        futures::future::ready(relevant.then_some(()))
    });
    let ticks = futures::stream::unfold((), |()| async {
        tokio::time::sleep(DISCOVERY_INTERVAL).await;
        Some(((), ()))
    });
    let mut triggers = futures::stream::select(crd_changes.boxed(), ticks.boxed());
    loop {
        match discover(&client).await {
            Ok(kinds) => {
                let names: Vec<&str> = kinds.iter().map(|k| k.kind()).collect();
                if served.set(kinds.clone()) {
                    tracing::info!(served = ?names, "Prometheus Operator kinds discovered");
                }
            }
            Err(error) => tracing::warn!(%error, "monitoring kind discovery failed"),
        }
        if triggers.next().await.is_none() {
            return;
        }
    }
}

/// One item each time the served kinds change: every DiceService is reconciled then, so kinds
/// that appear later are applied without a restart.
pub fn served_changes(served: &ServedKinds) -> impl Stream<Item = ()> + Send + 'static {
    futures::stream::unfold(served.subscribe(), |mut receiver| async move {
        receiver.changed().await.ok()?;
        Some(((), receiver))
    })
}
