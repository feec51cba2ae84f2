//! The controller's watch streams: owned kinds feeding the reflector stores, Prometheus Operator
//! kinds that start once they are served, and the discovery loop that notices those kinds.

use crate::children::dashboard::OWNER_ANNOTATION;
use crate::controller::observed::{Index, LeanMeta, Seen};
use crate::crd::CachedDiceService;
use crate::object_key::ObjectKey;
use crate::served::{MonitoringKind, ServedKinds, discover};
use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::Duration;

/// Rediscover the monitoring kinds this often even without CRD events (e.g. when the operator
/// may not watch CRDs).
const DISCOVERY_INTERVAL: Duration = Duration::from_secs(300);

type Events<K> = std::pin::Pin<Box<dyn Stream<Item = Result<K, watcher::Error>> + Send>>;

/// A metadata-only watch of one owned kind, decoded lean ([`LeanMeta`]), keeping `index` current, yielding each object whose
/// record changed as a reconcile trigger.
pub fn owned<K>(api: Api<LeanMeta<K>>, config: watcher::Config) -> (Index<K>, Events<LeanMeta<K>>)
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let index = Index::default();
    let events = indexed(watcher::watcher(api, config), index.clone(), |object| {
        Seen::from_meta(&object.metadata)
    });
    (index, events)
}

/// The Deployments, watched in full: the status reads their rollout progress.
pub fn deployments(
    api: Api<Deployment>,
    config: watcher::Config,
) -> (Index<Deployment>, Events<Deployment>) {
    let index = Index::default();
    let events = indexed(
        watcher::watcher(api, config),
        index.clone(),
        Seen::from_deployment,
    );
    (index, events)
}

/// Like [`owned`], but the watch starts only once `kind` is served: watching a kind the API
/// server does not know would fail and retry forever.
pub fn when_served<K>(
    api: Api<LeanMeta<K>>,
    config: watcher::Config,
    served: &ServedKinds,
    kind: MonitoringKind,
) -> (Index<K>, Events<LeanMeta<K>>)
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let served = served.clone();
    let index = Index::default();
    let filled = index.clone();
    let events = futures::stream::once(async move {
        served.wait_for(kind).await;
        tracing::info!(kind = kind.kind(), "watching newly served monitoring kind");
        indexed(
            watcher::watcher(api, config),
            filled,
            |object: &LeanMeta<K>| Seen::from_meta(&object.metadata),
        )
    })
    .flatten()
    .boxed();
    (index, events)
}

/// Feeds `index` from a watch and yields the objects whose record changed: a child's status
/// written by its controller (an autoscaler's every 15 s, a budget's) changes nothing the
/// operator keeps and starts no reconcile; drift, deletion and a Deployment's progress do.
fn indexed<K, T>(
    events: impl Stream<Item = Result<watcher::Event<T>, watcher::Error>> + Send + 'static,
    index: Index<K>,
    record: impl Fn(&T) -> Seen + Send + 'static,
) -> Events<T>
where
    K: 'static,
    T: Resource + Send + 'static,
{
    events
        .default_backoff()
        .try_filter_map(move |event| {
            let changed = index.apply(&event, &record);
            futures::future::ready(Ok(changed.then_some(event)))
        })
        .touched_objects()
        .boxed()
}

/// The DiceService a dashboard ConfigMap belongs to: its owner reference in the same namespace,
/// the owner annotation in another (owner references cannot cross namespaces).
pub fn dashboard_owner(config_map: LeanMeta<ConfigMap>) -> Option<ObjectRef<CachedDiceService>> {
    if let Some(owner) = config_map.annotations().get(OWNER_ANNOTATION) {
        let owner = ObjectKey::parse(owner)?;
        return Some(ObjectRef::new(owner.name()).within(owner.namespace()));
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
