//! Which Prometheus Operator kinds the cluster serves. They are optional: a missing kind is
//! skipped and reported, and one that appears later is picked up without a restart.

use crate::prometheus_operator::GROUP;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MonitoringKind {
    ServiceMonitor,
    PrometheusRule,
    Probe,
    AlertmanagerConfig,
}

impl MonitoringKind {
    pub const ALL: [MonitoringKind; 4] = [
        MonitoringKind::ServiceMonitor,
        MonitoringKind::PrometheusRule,
        MonitoringKind::Probe,
        MonitoringKind::AlertmanagerConfig,
    ];

    pub fn kind(self) -> &'static str {
        match self {
            MonitoringKind::ServiceMonitor => "ServiceMonitor",
            MonitoringKind::PrometheusRule => "PrometheusRule",
            MonitoringKind::Probe => "Probe",
            MonitoringKind::AlertmanagerConfig => "AlertmanagerConfig",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            MonitoringKind::AlertmanagerConfig => "v1alpha1",
            _ => "v1",
        }
    }

    /// The CRD's name, e.g. `servicemonitors.monitoring.coreos.com`.
    pub fn crd_name(self) -> String {
        format!("{}s.{GROUP}", self.kind().to_lowercase())
    }
}

/// The served kinds, shared between the discovery task and every reconcile.
#[derive(Debug, Clone)]
pub struct ServedKinds {
    sender: Arc<watch::Sender<BTreeSet<MonitoringKind>>>,
}

impl Default for ServedKinds {
    fn default() -> Self {
        Self::new(BTreeSet::new())
    }
}

impl ServedKinds {
    pub fn new(initial: BTreeSet<MonitoringKind>) -> Self {
        Self {
            sender: Arc::new(watch::channel(initial).0),
        }
    }

    pub fn is_served(&self, kind: MonitoringKind) -> bool {
        self.sender.borrow().contains(&kind)
    }

    /// Records a discovery result; true when it differs from the last one.
    pub fn set(&self, kinds: BTreeSet<MonitoringKind>) -> bool {
        self.sender.send_if_modified(|current| {
            let changed = *current != kinds;
            *current = kinds;
            changed
        })
    }

    /// Resolves once `kind` is served (at once when it already is).
    pub async fn wait_for(&self, kind: MonitoringKind) {
        let mut receiver = self.sender.subscribe();
        let _ = receiver.wait_for(|kinds| kinds.contains(&kind)).await;
    }

    pub fn subscribe(&self) -> watch::Receiver<BTreeSet<MonitoringKind>> {
        self.sender.subscribe()
    }
}

/// Asks the API server which monitoring kinds it serves (group-version discovery).
pub async fn discover(client: &kube::Client) -> Result<BTreeSet<MonitoringKind>, kube::Error> {
    let mut served = BTreeSet::new();
    for version in ["v1", "v1alpha1"] {
        let resources = match client
            .list_api_group_resources(&format!("{GROUP}/{version}"))
            .await
        {
            Ok(list) => list.resources,
            Err(kube::Error::Api(status)) if status.code == 404 => continue,
            Err(error) => return Err(error),
        };
        for kind in MonitoringKind::ALL {
            if kind.version() == version && resources.iter().any(|r| r.kind == kind.kind()) {
                served.insert(kind);
            }
        }
    }
    Ok(served)
}
