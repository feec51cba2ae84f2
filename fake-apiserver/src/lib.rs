//! A fake Kubernetes API server, faithful enough for kube-rs and the real `kubectl`: the
//! instrument the operator's tests and benchmarks measure with, since no real kube-apiserver
//! runs on the project's machines. It runs in process (a `tower` service behind
//! `kube::Client`) or over HTTP on 127.0.0.1 with a kubeconfig (the `fake-apiserver` binary).
//! Its behaviour comes from Kubernetes, never from what the operator expects; where the two
//! disagreed, the operator changed.
//!
//! # What it emulates
//!
//! - Discovery (`/api`, `/apis`, resource lists) and `/openapi/v3` with Kubernetes 1.32's
//!   schemas and their `x-kubernetes-*` extensions, so `kubectl apply` validates server-side and
//!   `kubectl explain` works.
//! - Create, get, list (paged, every page at the first page's resourceVersion), replace,
//!   delete; merge, JSON and strategic merge patches; status and `/scale` subresources;
//!   `metadata.generation`; 409 on stale resourceVersions; `Status` error bodies.
//! - Server-side apply and `managedFields` by structured-merge-diff's rules, from each kind's
//!   schema (the `structured-merge` crate): ownership, pruning, `409` per conflicting field.
//! - Watches with replay from a resourceVersion, bookmarks, `410 Gone`; streaming lists
//!   (`sendInitialEvents`, the WatchList feature: on as in Kubernetes 1.32 and 1.34+, or off as
//!   in 1.33, refused with its `422`); list options validated as apimachinery does; label and
//!   field selectors (the fields each kind indexes).
//! - Finalizers, `deletionTimestamp`, background garbage collection by owner references,
//!   OwnerReferencesPermissionEnforcement when asked; namespaces that must exist.
//! - CRDs registered at run time: defaulting, schema and CEL validation (`crd-admission`, the
//!   code `dice-operator render` admits with; rules compiled once per served version, as
//!   kube-apiserver does), printer columns as server-side `Table`s.
//! - Stored objects are shared, never copied, by lists and watch events; each event is encoded
//!   once per format for all the watches that send it, as the watch cache does.
//! - Built-in kinds decoded strictly into their k8s-openapi types, plus the part of
//!   Kubernetes' field validation the operator's children can meet ([`validation`]).
//! - RBAC for ServiceAccount callers and `--as` impersonation, from stored Roles and bindings.
//! - The status writers a cluster has ([`kubelet`]: rollouts, autoscaler and budget status)
//!   and seeded fault injection per client ([`faults`]).
//!
//! # What it does not
//!
//! | area | here | a real API server |
//! |---|---|---|
//! | schema defaults | Kubernetes' definitions without `default` values | list-map keys take their defaults (`protocol: TCP`) |
//! | structured-merge-diff | 122 of 163 upstream cases; no version conversion, no schema-change reconciliation, no duplicated list elements | all |
//! | managedFields entries | one per manager, operation and subresource | also per API version; `ancient-changes` after 10 updates |
//! | built-in validation | typed decoding, labels and annotations, requests ≤ limits, ports, selector vs template | all of `pkg/apis/*/validation` |
//! | controllers | simulated status only; no ReplicaSets or Pods; the autoscaler never scales | the real controllers |
//! | admission | CRD schemas and CEL; OwnerReferencesPermissionEnforcement when asked | every plugin, webhooks, Pod Security, quota |
//! | watch cache | one history for all kinds, 75 s | a cache per resource |
//! | authentication | ServiceAccount tokens and impersonation; everyone else is admin | authenticators, aggregated ClusterRoles |
//! | protobuf | request bodies of Namespace, Secret, ConfigMap, ServiceAccount | every built-in kind |
//!
//! docs/operator.md ("What still differs from a real API server") says what each difference
//! means for the results measured here.
//!
//! # Where its conformance cases come from
//!
//! - structured-merge-diff's own test cases, read from `../shared/third_party` by
//!   `cargo test -p structured-merge` (each case not reproduced is listed with its reason);
//! - four of Kubernetes' apply integration tests (`apply_test.go`), transcribed with their
//!   exact managedFields (`tests/fake_apiserver/apply_snapshots.rs`);
//! - the schemas the kubernetes-validate package ships (`.tools/venv`, or the file
//!   `DICE_KUBERNETES_SCHEMAS` names);
//! - the real `kubectl` as a client (`tests/fake_apiserver/kubectl.rs`); the operator's tests
//!   also register the Prometheus Operator CRDs from `../shared/third_party`.

mod api;
mod discovery;
mod event_views;
pub mod faults;
pub mod field_types;
pub mod kubectl;
pub mod kubelet;
pub mod list_options;
pub mod managed_fields;
mod openapi;
mod partial;
mod protobuf;
pub mod rbac;
pub mod resources;
mod scale;
pub mod selectors;
pub mod status;
pub mod store;
mod strategic;
mod table;
pub mod typed;
pub mod validation;
mod watch;

use axum::Router;
use kube::client::retry::RetryPolicy;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use store::Store;

pub type SharedStore = Arc<Mutex<Store>>;

/// A poisoned lock means a handler panicked mid-write; the store itself is still consistent
/// enough for a test to report what it saw.
pub fn lock(store: &SharedStore) -> MutexGuard<'_, Store> {
    store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, e.g. `/api/v1/namespaces/ns/services/x?fieldManager=m`.
    pub uri: String,
    pub content_type: Option<String>,
    /// Arrived over TCP (e.g. from the operator binary), not from the in-process client.
    pub remote: bool,
    /// The answer's HTTP status code (a watch's once its stream starts).
    pub status: u16,
}

/// Marks requests that arrived over the network listener.
#[derive(Debug, Clone, Copy)]
struct Remote;

#[derive(Debug, Clone, Default)]
pub struct FakeApiServer {
    pub store: SharedStore,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl FakeApiServer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns on the OwnerReferencesPermissionEnforcement admission plugin, as OpenShift and
    /// hardened clusters run it.
    pub fn enforce_owner_reference_permissions(&self) {
        lock(&self.store).owner_references_enforced = true;
    }

    /// Turns the WatchList feature gate off, as Kubernetes 1.33 ships it: streaming lists
    /// (`sendInitialEvents`) are then refused with `422 Invalid`.
    pub fn disable_watch_list(&self) {
        lock(&self.store).watch_list_enabled = false;
    }

    pub fn router(&self) -> Router {
        let requests = self.requests.clone();
        Router::new()
            .fallback(api::handle)
            .with_state(self.store.clone())
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    let mut recorded = RecordedRequest {
                        method: request.method().to_string(),
                        uri: request
                            .uri()
                            .path_and_query()
                            .map_or_else(String::new, |p| p.as_str().to_owned()),
                        content_type: request
                            .headers()
                            .get(http::header::CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned),
                        remote: request.extensions().get::<Remote>().is_some(),
                        status: 0,
                    };
                    let requests = requests.clone();
                    async move {
                        let response = next.run(request).await;
                        recorded.status = response.status().as_u16();
                        requests
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(recorded);
                        response
                    }
                },
            ))
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The requests received after the first `count`, in order: copies only those, so polling
    /// for news holds the lock every request takes for as long as the news needs.
    pub fn requests_after(&self, count: usize) -> Vec<RecordedRequest> {
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        requests.get(count..).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// A kube client talking to this server in process, with no sockets.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.router(), "default")
    }

    /// A kube client whose requests (only this client's) meet `faults`. It retries as the
    /// client the operator builds from a kubeconfig or service account does (kube's
    /// `Config::default_retry`: 429, 503 and 504, honouring `Retry-After`), so a fault test
    /// meets the operator's real client stack, not a harsher one.
    pub fn client_with_faults(&self, faults: Arc<faults::Faults>) -> kube::Client {
        let service = tower::ServiceBuilder::new()
            .layer(tower::retry::RetryLayer::new(RetryPolicy::server_retry()))
            .map_err(tower::BoxError::from)
            .service(with_faults(self.router(), faults));
        kube::Client::new(service, "default")
    }

    /// Like [`FakeApiServer::spawn`], with every request over the network meeting `faults`.
    pub fn spawn_with_faults(
        &self,
        listener: tokio::net::TcpListener,
        faults: Arc<faults::Faults>,
    ) -> tokio::task::JoinHandle<std::io::Result<()>> {
        let router = with_faults(self.router(), faults).layer(axum::Extension(Remote));
        tokio::spawn(async move { axum::serve(listener, router).await })
    }

    /// Serves on `listener` until the returned task is dropped or aborted.
    pub fn spawn(
        &self,
        listener: tokio::net::TcpListener,
    ) -> tokio::task::JoinHandle<std::io::Result<()>> {
        // Outermost, so the request log sees the mark.
        let router = self.router().layer(axum::Extension(Remote));
        tokio::spawn(async move { axum::serve(listener, router).await })
    }

    /// Writes operations committed so far (a no-op write is not counted).
    pub fn writes(&self) -> u64 {
        lock(&self.store).writes
    }

    /// Committed writes other than Lease renewals (leader election renews every few seconds).
    pub fn writes_except_leases(&self) -> u64 {
        let store = lock(&self.store);
        store.writes - store.lease_writes
    }
}

fn with_faults(router: Router, faults: Arc<faults::Faults>) -> Router {
    router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            faults.clone().inject(request, next)
        },
    ))
}

/// The server listening on 127.0.0.1 with a kubeconfig file for it; stops and removes the file
/// when dropped.
#[derive(Debug)]
pub struct Served {
    pub address: SocketAddr,
    pub kubeconfig: std::path::PathBuf,
    directory: std::path::PathBuf,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl FakeApiServer {
    /// Serves on a free port of 127.0.0.1 and writes a kubeconfig for kubectl and kube-rs.
    pub async fn serve_locally(&self) -> std::io::Result<Served> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let directory = std::env::temp_dir().join(format!(
            "fake-apiserver-{}-{}",
            std::process::id(),
            address.port()
        ));
        std::fs::create_dir_all(&directory)?;
        let path = directory.join("kubeconfig");
        std::fs::write(&path, kubeconfig(address))?;
        Ok(Served {
            address,
            kubeconfig: path,
            directory,
            task: self.spawn(listener),
        })
    }
}

impl Served {
    /// A kubeconfig file whose requests are the ServiceAccount `namespace/name`'s, authorised by
    /// the RBAC objects in the store.
    pub fn kubeconfig_for(
        &self,
        namespace: &str,
        name: &str,
    ) -> std::io::Result<std::path::PathBuf> {
        let path = self
            .directory
            .join(format!("kubeconfig-{namespace}-{name}"));
        let token = format!("{}{namespace}:{name}", rbac::TOKEN_PREFIX);
        std::fs::write(&path, kubeconfig_as(self.address, Some(&token)))?;
        Ok(path)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// A kubeconfig pointing at `address` (plain HTTP, no credentials), for kubectl and kube-rs.
pub fn kubeconfig(address: SocketAddr) -> String {
    kubeconfig_as(address, None)
}

/// A kubeconfig for `address` whose requests carry `token` (see [`rbac`]: a
/// `serviceaccount:<ns>:<name>` token makes RBAC apply to them).
pub fn kubeconfig_as(address: SocketAddr, token: Option<&str>) -> String {
    let user = token.map_or_else(|| "{}".to_owned(), |t| format!("{{token: \"{t}\"}}"));
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{address}\n\
         contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
         current-context: fake\nusers:\n- name: fake\n  user: {user}\n"
    )
}
