//! The manifests around `dice-operator render`: the user's DiceService with local overlays
//! (JSON merge patches of the DiceService, so timings change through the spec, never by editing
//! generated files) going in, and the rendered objects coming out.

use crate::{Error, Result};
use dice_operator::prometheus_operator::{Probe, PrometheusRule, ServiceMonitor};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// `manifest` with every overlay merged into each DiceService, followed by the documents of
/// `extra` (e.g. Secrets with local values, which win over earlier ones of the same name).
pub fn compose(manifest: &str, overlays: &[Value], extra: &[String]) -> Result<String> {
    let mut out = String::new();
    let mut services = 0;
    for text in std::iter::once(manifest).chain(extra.iter().map(String::as_str)) {
        for document in serde_yaml::Deserializer::from_str(text) {
            let mut value = Value::deserialize(document)
                .map_err(|e| Error::Manifest(format!("not YAML: {e}")))?;
            if value.is_null() {
                continue;
            }
            if value["kind"] == "DiceService" {
                services += 1;
                for overlay in overlays {
                    json_patch::merge(&mut value, overlay);
                }
            }
            let yaml = dice_operator::yaml::to_string(&value)
                .map_err(|e| Error::Manifest(format!("cannot write YAML: {e}")))?;
            out.push_str("---\n");
            out.push_str(&yaml);
        }
    }
    if services == 0 {
        return Err(Error::Manifest("the manifest holds no DiceService".into()));
    }
    Ok(out)
}

/// Reads an overlay file: a partial DiceService such as `{spec: {monitoring: …}}`.
pub fn read_overlay(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_yaml::from_str(&text)
        .map_err(|e| Error::Manifest(format!("{}: not a YAML overlay: {e}", path.display())))
}

/// The objects `dice-operator render -o DIR` wrote that the local stack turns into processes
/// and configuration.
#[derive(Debug, Default)]
pub struct Rendered {
    pub deployments: Vec<Deployment>,
    pub services: Vec<Service>,
    pub service_monitors: Vec<ServiceMonitor>,
    pub rules: Vec<PrometheusRule>,
    pub probes: Vec<Probe>,
}

impl Rendered {
    /// Every `*.yaml` in `dir` but `alertmanager.yml`, sorted by kind.
    pub fn read(dir: &Path) -> Result<Self> {
        let mut rendered = Rendered::default();
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let mut paths: Vec<_> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            rendered
                .add(&text)
                .map_err(|reason| Error::Manifest(format!("{}: {reason}", path.display())))?;
        }
        Ok(rendered)
    }

    fn add(&mut self, text: &str) -> Result<(), serde_yaml::Error> {
        let value: serde_yaml::Value = serde_yaml::from_str(text)?;
        match value.get("kind").and_then(|k| k.as_str()) {
            Some("Deployment") => self.deployments.push(serde_yaml::from_value(value)?),
            Some("Service") => self.services.push(serde_yaml::from_value(value)?),
            Some("ServiceMonitor") => self.service_monitors.push(serde_yaml::from_value(value)?),
            Some("PrometheusRule") => self.rules.push(serde_yaml::from_value(value)?),
            Some("Probe") => self.probes.push(serde_yaml::from_value(value)?),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SERVICE: &str = "apiVersion: dice.dev/v1alpha1\nkind: DiceService\nmetadata:\n  name: d\n  namespace: n\nspec:\n  dice:\n    maxDelay: 1s\n    riskyErrorRate: 0.1\n";
    const SECRET: &str =
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: n\nstringData:\n  k: v\n";

    #[test]
    fn overlays_merge_into_the_dice_service_and_extra_documents_follow() -> Result<()> {
        let overlay = json!({"spec": {"dice": {"riskyErrorRate": 1}}});
        let composed = compose(SERVICE, &[overlay], &[SECRET.to_owned()])?;
        let documents: Vec<Value> = serde_yaml::Deserializer::from_str(&composed)
            .map(|d| Value::deserialize(d).map_err(|e| Error::Manifest(e.to_string())))
            .collect::<Result<_>>()?;
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[0]["spec"]["dice"]["riskyErrorRate"], json!(1));
        assert_eq!(documents[0]["spec"]["dice"]["maxDelay"], json!("1s"));
        assert_eq!(documents[1]["kind"], json!("Secret"));
        Ok(())
    }

    #[test]
    fn a_manifest_without_a_dice_service_is_refused() {
        let error = compose(SECRET, &[], &[]).err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("the manifest holds no DiceService"));
    }
}
