//! The one list of child kinds. Each line names a kind's `Children` field, its [`ChildKind`]
//! and the [`Child`] implementation beside its builder; the list order is the apply order
//! and the order `render` writes. Everything that goes over all kinds — building, the
//! controller's stores and watches, applying, RBAC, `render` — walks this list through
//! [`PerKind`], so adding a kind is one module and one line here.

use super::child::{Child, Lifecycle};
use crate::served::MonitoringKind;
use std::borrow::Cow;
use std::future::Future;
use std::ops::ControlFlow;

child_kinds! {
    service_account: ServiceAccount => super::service_account::ServiceAccountChild,
    /// The claim holding the SQLite history, when `spec.history.storage` asks for one; before
    /// the Deployment whose pods mount it.
    data_volume: DataVolume => super::data_volume::DataVolumeChild,
    deployment: Deployment => super::deployment::DeploymentChild,
    service: Service => super::service::ServiceChild,
    /// With `spec.autoscaling`.
    autoscaler: Autoscaler => super::autoscaler::AutoscalerChild,
    /// Whenever more than one pod can run.
    disruption_budget: DisruptionBudget => super::disruption_budget::DisruptionBudgetChild,
    /// With `spec.networkPolicy.enabled`.
    network_policy: NetworkPolicy => super::network_policy::NetworkPolicyChild,
    service_monitor: ServiceMonitor => super::service_monitor::ServiceMonitorChild,
    prometheus_rule: PrometheusRule => super::rules::PrometheusRuleChild,
    probe: Probe => super::probe::ProbeChild,
    alertmanager_config: AlertmanagerConfig => super::alertmanager_config::AlertmanagerConfigChild,
    /// In whichever namespace `spec.monitoring.dashboard` names.
    dashboard: Dashboard => super::dashboard::DashboardChild,
}

/// What a [`PerKind`] holds for each kind: `Of<K>` for the kind `K`.
pub trait Family {
    type Of<K: Child>;
}

/// The objects a spec asks for: each kind's object, `None` when switched off.
#[derive(Debug)]
pub enum Desired {}

impl Family for Desired {
    type Of<K: Child> = Option<K::Object>;
}

/// Every child of one DiceService.
pub type Children = PerKind<Desired>;

/// Makes each kind's value of a [`PerKind`] ([`PerKind::from_fn`]).
pub trait Make<F: Family> {
    fn make<K: Child>(&mut self) -> F::Of<K>;
}

/// Reads each kind's value of a [`PerKind`], in list order ([`PerKind::visit`]).
pub trait Visit<F: Family> {
    fn visit<K: Child>(&mut self, value: &F::Of<K>);
}

/// Reads the values of two [`PerKind`]s kind by kind, awaiting each, until one says to stop
/// ([`PerKind::visit_pairs`]).
pub trait VisitPairs<F: Family, G: Family> {
    fn visit<K: Child>(
        &mut self,
        left: &F::Of<K>,
        right: &G::Of<K>,
    ) -> impl Future<Output = ControlFlow<()>> + Send;
}

/// One kind's facts, read from its [`Child`] implementation.
#[derive(Debug, Clone)]
struct Facts {
    kind: Cow<'static, str>,
    group: Cow<'static, str>,
    plural: Cow<'static, str>,
    field: &'static str,
    stem: &'static str,
    lifecycle: Lifecycle,
    served_as: Option<MonitoringKind>,
    reported: bool,
}

impl Facts {
    fn of<K: Child>(field: &'static str) -> Self {
        use kube::Resource;
        Self {
            kind: K::Object::kind(&()),
            group: K::Object::group(&()),
            plural: K::Object::plural(&()),
            field,
            stem: K::STEM,
            lifecycle: K::LIFECYCLE,
            served_as: K::SERVED_AS,
            reported: K::REPORTED,
        }
    }
}

impl ChildKind {
    /// API group and resource (plural), as RBAC names them.
    pub fn resource(self) -> (Cow<'static, str>, Cow<'static, str>) {
        let facts = self.facts();
        (facts.group, facts.plural)
    }

    /// The kind's name, as `kubectl` shows it.
    pub fn kind(self) -> Cow<'static, str> {
        self.facts().kind
    }

    /// Its field in [`Children`] (`service_account`).
    pub fn field(self) -> &'static str {
        self.facts().field
    }

    /// The file `render --output-dir` writes it to (`<name>-<stem>.yaml`).
    pub fn stem(self) -> &'static str {
        self.facts().stem
    }

    /// What becomes of it when the spec stops asking for it.
    pub fn lifecycle(self) -> Lifecycle {
        self.facts().lifecycle
    }

    /// The Prometheus Operator kinds and the dashboard, whose fate `status.monitoring` reports.
    pub fn is_monitoring(self) -> bool {
        self.facts().reported
    }

    /// The Prometheus Operator kind that must be served before this one is used.
    pub fn served_as(self) -> Option<MonitoringKind> {
        self.facts().served_as
    }

    /// Whether the operator deletes the object when the spec stops asking for it.
    pub fn deleted_when_switched_off(self) -> bool {
        self.facts().lifecycle == Lifecycle::DeletedWhenSwitchedOff
    }

    /// The verbs the operator uses on the kind: watched (list, watch), looked up by name when
    /// the watch has not seen it (get, to refuse adopting somebody else's), applied (create,
    /// patch) and, where it is deleted when switched off, delete.
    pub fn verbs(self) -> Vec<&'static str> {
        let mut verbs = vec!["get", "list", "watch", "create", "patch"];
        if self.deleted_when_switched_off() {
            verbs.push("delete");
        }
        verbs
    }
}

impl Children {
    /// "ServiceAccount, Deployment and Service dice": the workload objects present (the
    /// monitoring ones are reported in `status.monitoring`).
    pub fn workload_summary(&self, name: &str) -> String {
        let kinds: Vec<Cow<'static, str>> = self
            .kinds()
            .into_iter()
            .filter(|(kind, present)| *present && !kind.is_monitoring())
            .map(|(kind, _)| kind.kind())
            .collect();
        match kinds.split_last() {
            Some((last, [])) => format!("{last} {name}"),
            Some((last, rest)) => format!("{} and {last} {name}", rest.join(", ")),
            None => name.to_owned(),
        }
    }
}
