//! The kinds of object a DiceService owns and what the operator does with each: the one list
//! the chart's RBAC is checked against.

use super::Children;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChildKind {
    ServiceAccount,
    Deployment,
    Service,
    ServiceMonitor,
    PrometheusRule,
    Probe,
    AlertmanagerConfig,
    Dashboard,
    DataVolume,
    Autoscaler,
    DisruptionBudget,
    NetworkPolicy,
}

impl ChildKind {
    /// API group and resource (plural), as RBAC names them.
    pub fn resource(self) -> (&'static str, &'static str) {
        match self {
            ChildKind::ServiceAccount => ("", "serviceaccounts"),
            ChildKind::Deployment => ("apps", "deployments"),
            ChildKind::Service => ("", "services"),
            ChildKind::ServiceMonitor => ("monitoring.coreos.com", "servicemonitors"),
            ChildKind::PrometheusRule => ("monitoring.coreos.com", "prometheusrules"),
            ChildKind::Probe => ("monitoring.coreos.com", "probes"),
            ChildKind::AlertmanagerConfig => ("monitoring.coreos.com", "alertmanagerconfigs"),
            ChildKind::Dashboard => ("", "configmaps"),
            ChildKind::DataVolume => ("", "persistentvolumeclaims"),
            ChildKind::Autoscaler => ("autoscaling", "horizontalpodautoscalers"),
            ChildKind::DisruptionBudget => ("policy", "poddisruptionbudgets"),
            ChildKind::NetworkPolicy => ("networking.k8s.io", "networkpolicies"),
        }
    }

    /// The kind's name, as `kubectl` shows it.
    pub fn kind(self) -> &'static str {
        match self {
            ChildKind::ServiceAccount => "ServiceAccount",
            ChildKind::Deployment => "Deployment",
            ChildKind::Service => "Service",
            ChildKind::ServiceMonitor => "ServiceMonitor",
            ChildKind::PrometheusRule => "PrometheusRule",
            ChildKind::Probe => "Probe",
            ChildKind::AlertmanagerConfig => "AlertmanagerConfig",
            ChildKind::Dashboard => "ConfigMap",
            ChildKind::DataVolume => "PersistentVolumeClaim",
            ChildKind::Autoscaler => "HorizontalPodAutoscaler",
            ChildKind::DisruptionBudget => "PodDisruptionBudget",
            ChildKind::NetworkPolicy => "NetworkPolicy",
        }
    }

    /// The Prometheus Operator kinds and the dashboard, whose fate `status.monitoring` reports.
    pub fn is_monitoring(self) -> bool {
        matches!(
            self,
            ChildKind::ServiceMonitor
                | ChildKind::PrometheusRule
                | ChildKind::Probe
                | ChildKind::AlertmanagerConfig
                | ChildKind::Dashboard
        )
    }

    /// Whether the operator deletes the object when the spec stops asking for it. The
    /// workload's core objects go only with the DiceService (garbage collection), and a
    /// history claim is kept because it holds data.
    pub fn deleted_when_switched_off(self) -> bool {
        !matches!(
            self,
            ChildKind::ServiceAccount
                | ChildKind::Deployment
                | ChildKind::Service
                | ChildKind::DataVolume
        )
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
        let kinds: Vec<&str> = self
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

    /// Each child with its kind, present or not. Destructured without `..`: a new child does not
    /// compile until it has a kind, and so a line in the RBAC test's expectations.
    pub fn kinds(&self) -> [(ChildKind, bool); 12] {
        let Children {
            service_account: _,
            deployment: _,
            service: _,
            service_monitor,
            prometheus_rule,
            probe,
            alertmanager_config,
            dashboard,
            data_volume,
            autoscaler,
            disruption_budget,
            network_policy,
        } = self;
        [
            (ChildKind::ServiceAccount, true),
            (ChildKind::Deployment, true),
            (ChildKind::Service, true),
            (ChildKind::ServiceMonitor, service_monitor.is_some()),
            (ChildKind::PrometheusRule, prometheus_rule.is_some()),
            (ChildKind::Probe, probe.is_some()),
            (ChildKind::AlertmanagerConfig, alertmanager_config.is_some()),
            (ChildKind::Dashboard, dashboard.is_some()),
            (ChildKind::DataVolume, data_volume.is_some()),
            (ChildKind::Autoscaler, autoscaler.is_some()),
            (ChildKind::DisruptionBudget, disruption_budget.is_some()),
            (ChildKind::NetworkPolicy, network_policy.is_some()),
        ]
    }
}
