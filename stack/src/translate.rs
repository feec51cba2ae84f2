//! What the Prometheus Operator would generate from our ServiceMonitor, PrometheusRule and Probe,
//! written as plain `prometheus.yml`, rule files and `blackbox.yml` for programs on 127.0.0.1.
//! The job names, target labels and probe relabelling follow the Prometheus Operator's, so the
//! rules' `{job, namespace}` selectors find the same series they find in a cluster.

use crate::manifest::Rendered;
use crate::{Error, Result};
use dice_operator::prometheus_operator::{Probe, PrometheusRule, ServiceMonitor};
use k8s_openapi::api::core::v1::Service;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Where the in-cluster things of the rendered objects live locally.
#[derive(Debug, Clone)]
pub struct LocalTargets {
    /// The dice-server standing in for each Service's pods, by `(namespace, name)`.
    pub services: BTreeMap<(String, String), SocketAddr>,
    pub blackbox: SocketAddr,
    pub alertmanager: SocketAddr,
}

/// `prometheus.yml`: one scrape job per ServiceMonitor endpoint and per Probe, the rule files
/// in `rules/`, and the local Alertmanager.
pub fn prometheus_yml(
    rendered: &Rendered,
    targets: &LocalTargets,
    evaluation_interval: &str,
) -> Result<String> {
    let mut jobs = Vec::new();
    for monitor in &rendered.service_monitors {
        jobs.extend(service_monitor_jobs(monitor, &rendered.services, targets)?);
    }
    for probe in &rendered.probes {
        jobs.push(probe_job(probe, &rendered.services, targets)?);
    }
    let config = json!({
        "global": {"evaluation_interval": evaluation_interval},
        "rule_files": ["rules/*.yaml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [targets.alertmanager.to_string()]}]}]},
        "scrape_configs": jobs,
    });
    to_yaml(&config)
}

/// A Prometheus rule file with the PrometheusRule's groups, as the Prometheus Operator mounts it.
pub fn rule_file(rule: &PrometheusRule) -> Result<String> {
    to_yaml(&json!({"groups": rule.spec.groups}))
}

/// `blackbox.yml` with every module the Probes name, each an HTTP 2xx check over IPv4.
pub fn blackbox_yml(probes: &[Probe]) -> Result<String> {
    let mut modules = serde_json::Map::new();
    for probe in probes {
        let module = &probe.spec.module;
        if !module.starts_with("http") {
            return Err(Error::Manifest(format!(
                "Probe module {module:?}: the local blackbox exporter only knows HTTP modules"
            )));
        }
        modules.insert(
            module.clone(),
            json!({"prober": "http", "timeout": "2s", "http": {"preferred_ip_protocol": "ip4"}}),
        );
    }
    to_yaml(&json!({ "modules": modules }))
}

fn service_monitor_jobs(
    monitor: &ServiceMonitor,
    services: &[Service],
    targets: &LocalTargets,
) -> Result<Vec<Value>> {
    let namespace = monitor.metadata.namespace.clone().unwrap_or_default();
    let name = monitor.metadata.name.clone().unwrap_or_default();
    let namespaces = match &monitor.spec.namespace_selector.match_names {
        names if names.is_empty() => vec![namespace.clone()],
        names => names.clone(),
    };
    let wanted = monitor
        .spec
        .selector
        .match_labels
        .clone()
        .unwrap_or_default();
    let selected: Vec<&Service> = services
        .iter()
        .filter(|s| namespaces.contains(&s.metadata.namespace.clone().unwrap_or_default()))
        .filter(|s| {
            let labels = s.metadata.labels.clone().unwrap_or_default();
            wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .collect();
    if selected.is_empty() {
        return Err(Error::Manifest(format!(
            "ServiceMonitor {namespace}/{name} selects no Service of the manifest"
        )));
    }
    let mut jobs = Vec::new();
    for (index, endpoint) in monitor.spec.endpoints.iter().enumerate() {
        let mut static_configs = Vec::new();
        for service in &selected {
            let (service_namespace, service_name) = identity(service);
            let has_port = ports(service).any(|(port_name, _)| port_name == endpoint.port);
            if !has_port {
                return Err(Error::Manifest(format!(
                    "ServiceMonitor {namespace}/{name}: Service {service_name} has no port named {:?}",
                    endpoint.port
                )));
            }
            let address = local_address(targets, &service_namespace, &service_name)?;
            static_configs.push(json!({
                "targets": [address.to_string()],
                "labels": {
                    "job": service_name,
                    "namespace": service_namespace,
                    "service": service_name,
                    "endpoint": endpoint.port,
                    "pod": format!("{service_name}-local"),
                    "container": "dice-server",
                },
            }));
        }
        jobs.push(json!({
            "job_name": format!("serviceMonitor/{namespace}/{name}/{index}"),
            "scrape_interval": endpoint.interval,
            "scrape_timeout": endpoint.scrape_timeout,
            "metrics_path": endpoint.path,
            "scheme": endpoint.scheme,
            "static_configs": static_configs,
        }));
    }
    Ok(jobs)
}

fn probe_job(probe: &Probe, services: &[Service], targets: &LocalTargets) -> Result<Value> {
    let namespace = probe.metadata.namespace.clone().unwrap_or_default();
    let name = probe.metadata.name.clone().unwrap_or_default();
    let spec = &probe.spec;
    let local_targets = spec
        .targets
        .static_config
        .targets
        .iter()
        .map(|target| local_url(target, &namespace, services, targets))
        .collect::<Result<Vec<_>>>()?;
    let mut labels = spec.targets.static_config.labels.clone();
    labels.insert("namespace".into(), namespace.clone());
    Ok(json!({
        "job_name": format!("probe/{namespace}/{name}"),
        "scrape_interval": spec.interval,
        "metrics_path": spec.prober.path,
        "scheme": spec.prober.scheme,
        "params": {"module": [spec.module]},
        "static_configs": [{"targets": local_targets, "labels": labels}],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": targets.blackbox.to_string()},
            {"target_label": "job", "replacement": spec.job_name},
        ],
    }))
}

/// `http://svc.ns.svc:80/health` with the host and port of the local stand-in.
fn local_url(
    target: &str,
    probe_namespace: &str,
    services: &[Service],
    targets: &LocalTargets,
) -> Result<String> {
    let unknown = || {
        Error::Manifest(format!(
            "Probe target {target:?} is not a Service of the manifest"
        ))
    };
    let (scheme, rest) = target.split_once("://").unwrap_or(("http", target));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "80"));
    let mut labels = host.split('.');
    let service_name = labels.next().ok_or_else(unknown)?;
    let service_namespace = labels.next().unwrap_or(probe_namespace);
    let service = services
        .iter()
        .find(|s| identity(s) == (service_namespace.to_owned(), service_name.to_owned()))
        .ok_or_else(unknown)?;
    if !ports(service).any(|(_, number)| number.to_string() == port) {
        return Err(unknown());
    }
    let address = local_address(targets, service_namespace, service_name)?;
    Ok(format!("{scheme}://{address}{path}"))
}

fn identity(service: &Service) -> (String, String) {
    (
        service.metadata.namespace.clone().unwrap_or_default(),
        service.metadata.name.clone().unwrap_or_default(),
    )
}

fn ports(service: &Service) -> impl Iterator<Item = (String, i32)> + '_ {
    service
        .spec
        .iter()
        .flat_map(|spec| spec.ports.iter().flatten())
        .map(|port| (port.name.clone().unwrap_or_default(), port.port))
}

fn local_address(targets: &LocalTargets, namespace: &str, name: &str) -> Result<SocketAddr> {
    targets
        .services
        .get(&(namespace.to_owned(), name.to_owned()))
        .copied()
        .ok_or_else(|| Error::Manifest(format!("no local dice-server for {namespace}/{name}")))
}

fn to_yaml(value: &Value) -> Result<String> {
    dice_operator::yaml::to_string(value)
        .map_err(|e| Error::Manifest(format!("cannot write YAML: {e}")))
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
