use super::*;
use dice_operator::render::render_manifest;
use dice_operator::validate::Defaults;

const FULL_EXAMPLE: &str = include_str!("../../manifests/examples/full.yaml");

fn rendered() -> Result<Rendered> {
    let mut rendered = Rendered::default();
    let services = render_manifest(FULL_EXAMPLE, &Defaults::with_image("dice:test"))
        .map_err(|e| Error::Render(e.to_string()))?;
    for (_, children) in services {
        rendered.deployments.extend(children.deployment);
        rendered.services.extend(children.service);
        rendered.service_monitors.extend(children.service_monitor);
        rendered.rules.extend(children.prometheus_rule);
        rendered.probes.extend(children.probe);
    }
    Ok(rendered)
}

fn targets() -> LocalTargets {
    let address = |port| SocketAddr::from(([127, 0, 0, 1], port));
    LocalTargets {
        services: [(("dice".into(), "dice-full".into()), address(18080))].into(),
        blackbox: address(19115),
        alertmanager: address(19093),
    }
}

fn config() -> Result<Value> {
    let yaml = prometheus_yml(&rendered()?, &targets(), "1s")?;
    serde_yaml::from_str(&yaml).map_err(|e| Error::Manifest(e.to_string()))
}

#[test]
fn the_service_monitor_becomes_a_job_whose_labels_match_the_rules_selectors() -> Result<()> {
    let config = config()?;
    let job = &config["scrape_configs"][0];
    assert_eq!(job["job_name"], "serviceMonitor/dice/dice-full/0");
    assert_eq!(job["scrape_interval"], "15s");
    assert_eq!(job["metrics_path"], "/metrics");
    let group = &job["static_configs"][0];
    assert_eq!(group["targets"], json!(["127.0.0.1:18080"]));
    // The rules select {job="dice-full",namespace="dice"}: the Prometheus Operator's job label
    // is the Service's name.
    assert_eq!(group["labels"]["job"], "dice-full");
    assert_eq!(group["labels"]["namespace"], "dice");
    assert_eq!(group["labels"]["service"], "dice-full");
    Ok(())
}

#[test]
fn the_probe_scrapes_the_local_blackbox_exporter_with_the_local_target() -> Result<()> {
    let config = config()?;
    let job = &config["scrape_configs"][1];
    assert_eq!(job["job_name"], "probe/dice/dice-full");
    assert_eq!(job["metrics_path"], "/probe");
    assert_eq!(job["params"]["module"], json!(["http_2xx"]));
    let group = &job["static_configs"][0];
    assert_eq!(group["targets"], json!(["http://127.0.0.1:18080/health"]));
    assert_eq!(group["labels"]["namespace"], "dice");
    let relabel = &job["relabel_configs"];
    assert_eq!(relabel[2]["replacement"], "127.0.0.1:19115");
    assert_eq!(relabel[3]["target_label"], "job");
    assert_eq!(relabel[3]["replacement"], "dice-full-probe");
    Ok(())
}

#[test]
fn rules_and_the_alertmanager_are_wired_in() -> Result<()> {
    let config = config()?;
    assert_eq!(config["global"]["evaluation_interval"], "1s");
    assert_eq!(config["rule_files"], json!(["rules/*.yaml"]));
    let alertmanagers = &config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"];
    assert_eq!(*alertmanagers, json!(["127.0.0.1:19093"]));
    let rendered = rendered()?;
    let file: Value = serde_yaml::from_str(&rule_file(&rendered.rules[0])?)
        .map_err(|e| Error::Manifest(e.to_string()))?;
    let alerts: Vec<&str> = file["groups"][1]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|rule| rule["alert"].as_str())
        .collect();
    assert!(alerts.contains(&"HighErrorRate"), "{alerts:?}");
    assert!(alerts.contains(&"ServiceDown"), "{alerts:?}");
    Ok(())
}

#[test]
fn a_probe_of_something_outside_the_manifest_is_an_error() -> Result<()> {
    let mut rendered = rendered()?;
    rendered.probes[0].spec.targets.static_config.targets =
        vec!["http://elsewhere.other.svc:80/".into()];
    let error = prometheus_yml(&rendered, &targets(), "1s")
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        error.as_deref(),
        Some("Probe target \"http://elsewhere.other.svc:80/\" is not a Service of the manifest")
    );
    Ok(())
}

#[test]
fn blackbox_modules_are_http_checks_and_other_probers_are_refused() -> Result<()> {
    let mut rendered = rendered()?;
    let yaml = blackbox_yml(&rendered.probes)?;
    let modules: Value = serde_yaml::from_str(&yaml).map_err(|e| Error::Manifest(e.to_string()))?;
    assert_eq!(modules["modules"]["http_2xx"]["prober"], "http");
    rendered.probes[0].spec.module = "icmp".into();
    assert!(blackbox_yml(&rendered.probes).is_err());
    Ok(())
}
