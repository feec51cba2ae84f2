//! The blackbox Probe: the exporter requests the health path through the Service, so
//! `probe_success` says whether users can reach the service at all.

use super::{SERVICE_PORT, monitoring_meta};
use crate::prometheus_operator::{Probe, ProbeSpec, ProbeTargets, Prober, StaticTargets};
use crate::validate::Validated;
use std::collections::BTreeMap;

/// The `job` label of probe series.
pub fn job_name(service: &Validated) -> String {
    format!("{}-probe", service.name)
}

/// The URL the blackbox exporter requests.
pub fn target(service: &Validated, path: &str) -> String {
    format!(
        "http://{}.{}.svc:{SERVICE_PORT}{path}",
        service.name, service.namespace
    )
}

pub fn build(service: &Validated) -> Option<Probe> {
    let probe = service.monitoring.probe.as_ref()?;
    Some(Probe {
        metadata: monitoring_meta(service, &service.name),
        spec: ProbeSpec {
            job_name: job_name(service),
            interval: probe.interval.clone(),
            module: probe.module.clone(),
            prober: Prober {
                url: probe.prober.clone(),
                scheme: "http".into(),
                path: "/probe".into(),
            },
            targets: ProbeTargets {
                static_config: StaticTargets {
                    targets: vec![target(service, &probe.path)],
                    labels: BTreeMap::from([("service".to_owned(), service.name.clone())]),
                },
            },
        },
    })
}

#[derive(Debug)]
pub struct ProbeChild;

impl super::Child for ProbeChild {
    type Object = Probe;
    const STEM: &'static str = "probe";
    const LIFECYCLE: super::Lifecycle = super::Lifecycle::DeletedWhenSwitchedOff;
    const SERVED_AS: Option<crate::served::MonitoringKind> =
        Some(crate::served::MonitoringKind::Probe);
    const REPORTED: bool = true;

    fn build(inputs: super::Inputs<'_>) -> Option<Probe> {
        build(inputs.service)
    }
}
