//! One reconcile's applies and deletes, child by child: skipped when the watches show the
//! child up to date, counted when sent, reported for the optional kinds.

use super::{apply, dashboards_of, delete, refused};
use crate::REPLICAS_HANDOVER_MANAGER;
use crate::children::{REPLICAS_FROM_ANNOTATION, REPLICAS_FROM_AUTOSCALER};
use crate::controller::observed::{ChildSchemas, Index, up_to_date};
use crate::controller::ownership::{self, Claim};
use crate::crd::{ChildState, ChildStatus};
use crate::served::{MonitoringKind, ServedKinds};
use crate::validate::Validated;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

pub(super) struct Run<'a> {
    pub client: &'a Client,
    pub schemas: &'a ChildSchemas,
    pub service: &'a Validated,
    pub served: &'a ServedKinds,
    pub sent: usize,
    pub monitoring: Vec<ChildStatus>,
    /// Required children the API server refused, one sentence each.
    pub refused: Vec<String>,
}

pub(super) trait Child:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + 'static
{
}

impl<K> Child for K where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
        + 'static
{
}

impl Run<'_> {
    /// The record of `desired`'s child when applying it would change nothing; loads the
    /// kind's schema first (once) when the watch holds a record of the child.
    async fn up_to_date<K: Child>(
        &self,
        observed: &Index<K>,
        desired: &K,
    ) -> Option<std::sync::Arc<crate::controller::observed::Seen>> {
        let meta = desired.meta();
        let namespace = meta.namespace.as_deref().unwrap_or_default();
        observed.get(namespace, meta.name.as_deref().unwrap_or_default())?;
        self.schemas.ensure(self.client, &K::api_version(&())).await;
        up_to_date(observed, self.schemas, desired)
    }

    /// Applies `desired` unless the watch shows it up to date; returns the server's copy when
    /// it was sent.
    pub(super) async fn apply<K: Child>(
        &mut self,
        observed: &Index<K>,
        desired: &K,
    ) -> Result<Option<K>, kube::Error> {
        if self.up_to_date(observed, desired).await.is_some() {
            return Ok(None);
        }
        self.sent += 1;
        apply(self.client, desired).await.map(Some)
    }

    /// The Deployment, applied unless up to date, as the status reads it.
    pub(super) async fn deployment(
        &mut self,
        observed: &Index<Deployment>,
        desired: &Deployment,
    ) -> Result<Deployment, kube::Error> {
        if let Some(seen) = self.up_to_date(observed, desired).await {
            return Ok(seen.deployment(&self.service.namespace, &desired.name_any()));
        }
        self.sent += 1;
        apply(self.client, desired).await
    }

    /// Autoscaling switched on: before the operator's apply leaves `spec.replicas` out, a second
    /// field manager applies the current count, so server-side apply keeps the field (it would
    /// otherwise remove it, and the Deployment would fall to one pod until the autoscaler
    /// acts). The autoscaler's updates then own it. One request, once per switch.
    pub(super) async fn hand_over_replicas(
        &mut self,
        observed: &Index<Deployment>,
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
        self.sent += 1;
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

    /// A child the spec may switch off (autoscaler, disruption budget, network policy):
    /// applied when desired, deleted when not and ours.
    pub(super) async fn switchable<K: Child>(
        &mut self,
        observed: &Index<K>,
        desired: Option<&K>,
    ) -> Result<(), kube::Error> {
        if let Some(desired) = desired {
            self.apply(observed, desired).await?;
        } else {
            self.delete_if_ours(observed).await?;
        }
        Ok(())
    }

    /// Deletes the object of kind `K` under the DiceService's name if the watch shows it is
    /// this DiceService's.
    async fn delete_if_ours<K: Child>(&mut self, observed: &Index<K>) -> Result<(), kube::Error> {
        let (namespace, name) = (&self.service.namespace, &self.service.name);
        let ours = observed.get(namespace, name).is_some_and(|seen| {
            ownership::claim(&seen.meta(namespace, name), self.service) == Claim::Ours
        });
        if ours {
            self.sent += 1;
            delete::<K>(self.client, &self.service.namespace, name).await?;
        }
        Ok(())
    }

    /// A Prometheus Operator child: applied when served, skipped and reported when not, and
    /// deleted when the spec switched it off. A refusal by the API (an admission webhook, a
    /// schema) is reported rather than retried: only a spec change can fix it.
    pub(super) async fn optional<K: Child>(
        &mut self,
        kind: MonitoringKind,
        observed: &Index<K>,
        desired: Option<&K>,
    ) -> Result<(), kube::Error> {
        let name = self.service.name.clone();
        let served = self.served.is_served(kind);
        let Some(desired) = desired else {
            if served {
                self.delete_if_ours(observed).await?;
            }
            return Ok(());
        };
        if !served {
            let message = format!(
                "the {} CRD ({}) is not installed; install the Prometheus Operator CRDs",
                kind.kind(),
                kind.crd_name()
            );
            self.report(kind.kind(), name, ChildState::Skipped, Some(message));
            return Ok(());
        }
        match refused(self.apply(observed, desired).await)? {
            Ok(_) => self.report(kind.kind(), name, ChildState::Applied, None),
            Err(why) => self.report(kind.kind(), name, ChildState::Failed, Some(why)),
        }
        Ok(())
    }

    /// The dashboard, in whichever namespace the spec names; copies left in another namespace
    /// (the spec moved or removed it) are deleted.
    pub(super) async fn dashboard(
        &mut self,
        observed: &Index<ConfigMap>,
        desired: Option<&ConfigMap>,
    ) -> Result<(), kube::Error> {
        let service = self.service;
        let uid = service.uid.as_deref().unwrap_or_default();
        for (namespace, name) in dashboards_of(observed, &service.namespace, &service.name, uid) {
            let keep = desired.is_some_and(|d| {
                d.namespace().as_deref() == Some(namespace.as_str()) && d.name_any() == name
            });
            if !keep {
                self.sent += 1;
                delete::<ConfigMap>(self.client, &namespace, &name).await?;
            }
        }
        let Some(desired) = desired else {
            return Ok(());
        };
        let name = format!(
            "{}/{}",
            desired.namespace().unwrap_or_default(),
            desired.name_any()
        );
        match refused(self.apply(observed, desired).await)? {
            Ok(_) => self.report("ConfigMap", name, ChildState::Applied, None),
            Err(why) => self.report("ConfigMap", name, ChildState::Failed, Some(why)),
        }
        Ok(())
    }

    /// A required child's outcome: a refusal retrying cannot fix is kept for the status
    /// (`None`) instead of failing the reconcile, so the user learns what to change and the
    /// operator does not retry the same request every few seconds.
    pub(super) fn required<K: Child, T>(
        &mut self,
        child: &K,
        result: Result<T, kube::Error>,
    ) -> Result<Option<T>, kube::Error> {
        match refused(result)? {
            Ok(value) => Ok(Some(value)),
            Err(why) => {
                let meta = child.meta();
                self.refused.push(format!(
                    "{} {}/{}: {why}",
                    K::kind(&()),
                    meta.namespace.as_deref().unwrap_or_default(),
                    meta.name.as_deref().unwrap_or_default(),
                ));
                Ok(None)
            }
        }
    }

    /// [`Self::required`] for a child the spec may switch off; deleting one is not refused.
    pub(super) fn required_if<K: Child>(
        &mut self,
        desired: Option<&K>,
        result: Result<(), kube::Error>,
    ) -> Result<(), kube::Error> {
        match desired {
            Some(child) => self.required(child, result).map(drop),
            None => result,
        }
    }

    fn report(&mut self, kind: &str, name: String, state: ChildState, message: Option<String>) {
        self.monitoring.push(ChildStatus {
            kind: kind.to_owned(),
            name,
            state,
            message,
        });
    }
}
