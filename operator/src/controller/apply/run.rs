//! One reconcile's applies and deletes, kind by kind in list order: skipped when the watches
//! show the child up to date, counted when sent, reported for the monitoring kinds.

use super::requests::{apply, apply_lean, delete, refused};
use crate::REPLICAS_HANDOVER_MANAGER;
use crate::children::{
    Child, Desired, Lifecycle, REPLICAS_FROM_ANNOTATION, REPLICAS_FROM_AUTOSCALER, VisitPairs,
};
use crate::controller::copies::copies_except;
use crate::controller::observed::{ChildSchemas, Index, Observed, Seen, record, up_to_date};
use crate::crd::{ChildState, ChildStatus};
use crate::object_key::ObjectKey;
use crate::served::{MonitoringKind, ServedKinds};
use crate::validate::Validated;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use std::ops::ControlFlow;
use std::sync::Arc;

pub(super) struct Run<'a> {
    client: &'a Client,
    schemas: &'a ChildSchemas,
    service: &'a Validated,
    served: &'a ServedKinds,
    finished: Finished,
    first_error: Option<kube::Error>,
}

/// What the applies came to, once every kind was visited.
pub(super) struct Finished {
    pub sent: usize,
    /// One entry per monitoring child the spec asks for.
    pub monitoring: Vec<ChildStatus>,
    /// Required children the API server refused, one sentence each.
    pub refused: Vec<String>,
    /// The Deployment as the server holds it; `None` when it was refused.
    pub deployment: Option<Deployment>,
}

/// An apply's result: the server's copy (of a kind watched whole; only the metadata of the
/// others is read back), or the record that showed it was not needed.
enum Sent<K> {
    Applied(Option<K>),
    UpToDate(Arc<Seen>),
}

impl VisitPairs<Desired, Observed> for Run<'_> {
    async fn visit<K: Child>(
        &mut self,
        desired: &Option<K::Object>,
        observed: &Index<K::Object>,
    ) -> ControlFlow<()> {
        let Err(error) = self.child::<K>(desired.as_ref(), observed).await else {
            return ControlFlow::Continue(());
        };
        match &self.first_error {
            None => self.first_error = Some(error),
            Some(_) => tracing::debug!(%error, "another child apply failed"),
        }
        // The kinds after a prerequisite wait for it; the others do not hold each other back,
        // so a retry after a transient error redoes only what failed.
        if K::PREREQUISITE {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

impl<'a> Run<'a> {
    pub(super) fn new(
        client: &'a Client,
        schemas: &'a ChildSchemas,
        service: &'a Validated,
        served: &'a ServedKinds,
        lookups: usize,
    ) -> Self {
        Self {
            client,
            schemas,
            service,
            served,
            finished: Finished {
                sent: lookups,
                monitoring: Vec::new(),
                refused: Vec::new(),
                deployment: None,
            },
            first_error: None,
        }
    }

    /// What every kind came to, or the first error a retry may cure.
    pub(super) fn finish(self) -> Result<Finished, kube::Error> {
        match self.first_error {
            Some(error) => Err(error),
            None => Ok(self.finished),
        }
    }

    /// One kind: skipped while its CRD is not served, stale copies deleted, the desired
    /// object applied unless up to date, and its outcome kept.
    async fn child<K: Child>(
        &mut self,
        desired: Option<&K::Object>,
        observed: &Index<K::Object>,
    ) -> Result<(), kube::Error> {
        if let Some(kind) = K::SERVED_AS.filter(|kind| !self.served.is_served(*kind)) {
            if let Some(desired) = desired.filter(|_| K::REPORTED) {
                self.report_not_served::<K>(kind, desired);
            }
            return Ok(());
        }
        if K::LIFECYCLE == Lifecycle::DeletedWhenSwitchedOff {
            self.delete_copies_not::<K>(observed, desired).await?;
        }
        let Some(desired) = desired else {
            return Ok(());
        };
        if let Some(deployment) = K::workload(desired) {
            self.hand_over_replicas(&observed.untyped(), deployment)
                .await?;
        }
        let sent = self.apply::<K>(observed, desired).await;
        if K::REPORTED {
            let (kind, name) = (K::Object::kind(&()), K::reported_name(desired));
            match refused(sent)? {
                Ok(_) => self.report(&kind, name, ChildState::Applied, None),
                Err(why) => self.report(&kind, name, ChildState::Failed, Some(why)),
            }
            return Ok(());
        }
        let Some(sent) = self.required::<K, _>(desired, sent)? else {
            return Ok(());
        };
        if let Some(deployment) = K::workload(desired) {
            self.finished.deployment = match sent {
                Sent::Applied(copy) => copy.as_ref().and_then(K::workload).cloned(),
                Sent::UpToDate(seen) => {
                    Some(seen.deployment(&self.service.namespace, &deployment.name_any()))
                }
            };
        }
        Ok(())
    }

    /// Applies `desired` unless the watch shows it up to date (loading the kind's schema
    /// first, once, when the watch holds a record of the child).
    async fn apply<K: Child>(
        &mut self,
        observed: &Index<K::Object>,
        desired: &K::Object,
    ) -> Result<Sent<K::Object>, kube::Error> {
        let meta = desired.meta();
        let namespace = meta.namespace.as_deref().unwrap_or_default();
        if observed
            .get(namespace, meta.name.as_deref().unwrap_or_default())
            .is_some()
        {
            self.schemas
                .ensure(self.client, &K::Object::api_version(&()))
                .await;
            if let Some(seen) = up_to_date(observed, self.schemas, desired) {
                return Ok(Sent::UpToDate(seen));
            }
        }
        self.finished.sent += 1;
        // Recorded now, the watch event of this very write changes nothing and starts no
        // reconcile (unless it arrives first).
        let key = ObjectKey::of(desired);
        if !K::WATCHED_IN_FULL {
            let applied = apply_lean(self.client, desired).await?;
            let seen = Seen::from_meta(&applied.metadata);
            observed.insert(key.namespace(), key.name(), seen);
            return Ok(Sent::Applied(None));
        }
        let applied = apply(self.client, desired).await?;
        observed.insert(key.namespace(), key.name(), record::<K>(&applied));
        Ok(Sent::Applied(Some(applied)))
    }

    /// Autoscaling switched on: before the operator's apply leaves `spec.replicas` out, a second
    /// field manager applies the current count, so server-side apply keeps the field (it would
    /// otherwise remove it, and the Deployment would fall to one pod until the autoscaler
    /// acts). The autoscaler's updates then own it. One request, once per switch.
    async fn hand_over_replicas(
        &mut self,
        observed: &Index<()>,
        desired: &Deployment,
    ) -> Result<(), kube::Error> {
        let autoscaled = desired.spec.as_ref().is_some_and(|s| s.replicas.is_none());
        let name = desired.name_any();
        let Some(current) = observed.get(&self.service.namespace, &name) else {
            return Ok(());
        };
        let from = current.annotation(REPLICAS_FROM_ANNOTATION);
        let handed_over = from == Some(REPLICAS_FROM_AUTOSCALER);
        let replicas = current.replicas();
        let (true, false, Some(replicas)) = (autoscaled, handed_over, replicas) else {
            return Ok(());
        };
        self.finished.sent += 1;
        let handover = serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": self.service.namespace},
            "spec": {"replicas": replicas},
        });
        Api::<Deployment>::namespaced(self.client.clone(), &self.service.namespace)
            .patch(
                &name,
                &PatchParams::apply(REPLICAS_HANDOVER_MANAGER).force(),
                &Patch::Apply(&handover),
            )
            .await?;
        Ok(())
    }

    /// Deletes every copy of the kind this DiceService created except `desired`: all of
    /// them when the spec switched the child off, the old one when it moved (a dashboard
    /// to another namespace).
    async fn delete_copies_not<K: Child>(
        &mut self,
        observed: &Index<K::Object>,
        desired: Option<&K::Object>,
    ) -> Result<(), kube::Error> {
        let keep = desired.map(ObjectKey::of);
        for copy in copies_except(observed, self.service, keep.as_ref()) {
            self.finished.sent += 1;
            delete::<K::Object>(self.client, copy.namespace(), copy.name()).await?;
        }
        Ok(())
    }

    /// A required child's outcome: a refusal retrying cannot fix is kept for the status
    /// (`None`) instead of failing the reconcile, so the user learns what to change and the
    /// operator does not retry the same request every few seconds.
    fn required<K: Child, T>(
        &mut self,
        child: &K::Object,
        result: Result<T, kube::Error>,
    ) -> Result<Option<T>, kube::Error> {
        match refused(result)? {
            Ok(value) => Ok(Some(value)),
            Err(why) => {
                self.finished.refused.push(format!(
                    "{} {}: {why}",
                    K::Object::kind(&()),
                    ObjectKey::of(child)
                ));
                Ok(None)
            }
        }
    }

    fn report_not_served<K: Child>(&mut self, kind: MonitoringKind, desired: &K::Object) {
        let message = format!(
            "the {} CRD ({}) is not installed; install the Prometheus Operator CRDs",
            kind.kind(),
            kind.crd_name()
        );
        let name = K::reported_name(desired);
        self.report(kind.kind(), name, ChildState::Skipped, Some(message));
    }

    fn report(&mut self, kind: &str, name: String, state: ChildState, message: Option<String>) {
        self.finished.monitoring.push(ChildStatus {
            kind: kind.to_owned(),
            name,
            state,
            message,
        });
    }
}
