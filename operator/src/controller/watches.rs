//! The controller's watch streams: one per child kind feeding its store (a Prometheus Operator
//! kind's starting once it is served), the DiceServices' owner lookups that turn child events
//! into reconciles, and the discovery loop that notices the monitoring kinds.

use crate::children::dashboard::OWNER_ANNOTATION;
use crate::children::{Child, Make, PerKind};
use crate::controller::lists::Lists;
use crate::controller::observed::{Index, LeanMeta, Observed, Seen, record};
use crate::crd::CachedDiceService;
use crate::object_key::ObjectKey;
use crate::served::{MonitoringKind, ServedKinds, discover};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use std::time::Duration;

/// Rediscover the monitoring kinds this often even without CRD events (e.g. when the operator
/// may not watch CRDs).
const DISCOVERY_INTERVAL: Duration = Duration::from_secs(300);
/// Children carry this label; the owned-kind watches select on it.
const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=dice-operator";
/// Every other object of a kind (`!=` also matches objects without the label).
const FOREIGN_SELECTOR: &str = "app.kubernetes.io/managed-by!=dice-operator";

/// The DiceServices whose children changed, as reconcile triggers.
pub type Triggers = BoxStream<'static, ObjectRef<CachedDiceService>>;

/// All namespaces, or the one a controller is limited to.
#[derive(Clone)]
pub enum ApiScope {
    All(Client),
    Namespace(Client, String),
}

impl std::fmt::Debug for ApiScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiScope::All(_) => f.write_str("all namespaces"),
            ApiScope::Namespace(_, namespace) => write!(f, "namespace {namespace}"),
        }
    }
}

impl ApiScope {
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        match self {
            ApiScope::All(client) => Api::all(client.clone()),
            ApiScope::Namespace(client, namespace) => Api::namespaced(client.clone(), namespace),
        }
    }
}

/// Every child kind's store, each filled by its own watch of the objects carrying the
/// operator's label, and the reconciles their changes trigger.
pub fn children(
    scope: &ApiScope,
    served: &ServedKinds,
    lists: Lists,
) -> (PerKind<Observed>, Triggers) {
    let mut watches = ChildWatches {
        scope: scope.clone(),
        served: served.clone(),
        lists,
        triggers: Vec::new(),
    };
    let stores = PerKind::from_fn(&mut watches);
    (
        stores,
        futures::stream::select_all(watches.triggers).boxed(),
    )
}

struct ChildWatches {
    scope: ApiScope,
    served: ServedKinds,
    lists: Lists,
    triggers: Vec<Triggers>,
}

impl Make<Observed> for ChildWatches {
    fn make<K: Child>(&mut self) -> Index<K::Object> {
        let index = Index::default();
        let (api, filled) = (self.scope.clone(), index.clone());
        let config = self.lists.config().labels(MANAGED_SELECTOR);
        // Metadata-only, decoded lean ([`LeanMeta`]), unless the status reads the object.
        let watch = move || {
            if K::WATCHED_IN_FULL {
                let events = watcher::watcher(api.api::<K::Object>(), config);
                owners(indexed(events, filled, record::<K>))
            } else {
                let record = |object: &LeanMeta<K::Object>| Seen::from_meta(&object.metadata);
                let events = watcher::watcher(api.api::<LeanMeta<K::Object>>(), config);
                owners(indexed(events, filled, record))
            }
        };
        // The names other objects of the kind hold, so creating a child needs no lookup.
        let (api, foreign) = (self.scope.clone(), index.clone());
        let config = self.lists.config().labels(FOREIGN_SELECTOR);
        let watch_foreign = move || {
            watcher::watcher(api.api::<LeanMeta<K::Object>>(), config)
                .default_backoff()
                .filter_map(move |event| {
                    match event {
                        Ok(event) => foreign.foreign().apply(&event),
                        Err(error) => tracing::debug!(%error, "unlabelled-object watch"),
                    }
                    futures::future::ready(None)
                })
                .boxed()
        };
        let watch = move || futures::stream::select(watch(), watch_foreign()).boxed();
        let triggers = match K::SERVED_AS {
            None => watch(),
            // Watching a kind the API server does not know would fail and retry forever.
            Some(kind) => {
                let served = self.served.clone();
                futures::stream::once(async move {
                    served.wait_for(kind).await;
                    tracing::info!(kind = kind.kind(), "watching newly served monitoring kind");
                    watch()
                })
                .flatten()
                .boxed()
            }
        };
        self.triggers.push(triggers);
        index
    }
}

/// The DiceService each changed child belongs to.
fn owners<T>(events: impl Stream<Item = Result<T, watcher::Error>> + Send + 'static) -> Triggers
where
    T: Resource + Send + 'static,
{
    events
        .filter_map(|event| {
            let owner = match event {
                Ok(object) => owner_of(object.meta()),
                Err(error) => {
                    tracing::debug!(%error, "owned-kind watch");
                    None
                }
            };
            futures::future::ready(owner)
        })
        .boxed()
}

/// Feeds `index` from a watch and yields the objects whose record changed: a child's status
/// written by its controller (an autoscaler's every 15 s, a budget's) changes nothing the
/// operator keeps and starts no reconcile; drift, deletion and a Deployment's progress do.
fn indexed<K, T>(
    events: impl Stream<Item = Result<watcher::Event<T>, watcher::Error>> + Send + 'static,
    index: Index<K>,
    record: impl Fn(&T) -> Seen + Send + 'static,
) -> impl Stream<Item = Result<T, watcher::Error>> + Send + 'static
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
}

/// The DiceService a child belongs to: its controller reference in the same namespace, the
/// owner annotation elsewhere (a dashboard: owner references cannot cross namespaces).
pub fn owner_of(meta: &ObjectMeta) -> Option<ObjectRef<CachedDiceService>> {
    let annotations = meta.annotations.as_ref();
    if let Some(owner) = annotations.and_then(|a| a.get(OWNER_ANNOTATION)) {
        let owner = ObjectKey::parse(owner)?;
        return Some(ObjectRef::new(owner.name()).within(owner.namespace()));
    }
    let namespace = meta.namespace.as_deref()?;
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "DiceService" && o.controller == Some(true))
        .map(|o| ObjectRef::new(&o.name).within(namespace))
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
