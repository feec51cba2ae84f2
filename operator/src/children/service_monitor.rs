//! The ServiceMonitor: Prometheus scrapes `/metrics` on the Service's `http` port. Its job label
//! is the Service's name, which is the DiceService's — the rules select on that.

use super::{monitoring_meta, selector_labels};
use crate::prometheus_operator::{Endpoint, NamespaceSelector, ServiceMonitor, ServiceMonitorSpec};
use crate::validate::Validated;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub fn build(service: &Validated) -> Option<ServiceMonitor> {
    let scrape = service.monitoring.service_monitor.as_ref()?;
    Some(ServiceMonitor {
        metadata: monitoring_meta(service, &service.name),
        spec: ServiceMonitorSpec {
            selector: LabelSelector {
                match_labels: Some(selector_labels(service)),
                ..LabelSelector::default()
            },
            namespace_selector: NamespaceSelector {
                match_names: vec![service.namespace.clone()],
            },
            endpoints: vec![Endpoint {
                port: "http".into(),
                path: "/metrics".into(),
                scheme: "http".into(),
                interval: scrape.interval.clone(),
                scrape_timeout: scrape.timeout.clone(),
            }],
        },
    })
}

#[derive(Debug)]
pub struct ServiceMonitorChild;

impl super::Child for ServiceMonitorChild {
    type Object = ServiceMonitor;
    const STEM: &'static str = "servicemonitor";
    const LIFECYCLE: super::Lifecycle = super::Lifecycle::DeletedWhenSwitchedOff;
    const SERVED_AS: Option<crate::served::MonitoringKind> =
        Some(crate::served::MonitoringKind::ServiceMonitor);
    const REPORTED: bool = true;

    fn build(inputs: super::Inputs<'_>) -> Option<ServiceMonitor> {
        build(inputs.service)
    }
}
