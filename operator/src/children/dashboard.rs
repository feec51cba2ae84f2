//! The Grafana dashboard ConfigMap: `dashboards/dice-service.json`, embedded in the binary, with
//! a uid, title and variables of its own, labelled for the Grafana sidecar.

use super::{labels, object_meta};
use crate::validate::Validated;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The dashboard every DiceService gets (validated by tests against Grafana's schema).
pub const TEMPLATE: &str = include_str!("../../../dashboards/dice-service.json");
/// The Grafana sidecar loads ConfigMaps with this label.
pub const SIDECAR_LABEL: &str = "grafana_dashboard";
/// The sidecar's folder annotation.
pub const FOLDER_ANNOTATION: &str = "grafana_folder";
/// On a dashboard outside the DiceService's namespace (no owner reference possible): which
/// DiceService it belongs to, as `namespace/name`.
pub const OWNER_ANNOTATION: &str = "dice.dev/owner";
/// With [`OWNER_ANNOTATION`], the owner's uid: what lets the finalizer delete only the copy this
/// very DiceService created (absent from `render` output, which has no uid).
pub const OWNER_UID_ANNOTATION: &str = "dice.dev/owner-uid";

fn template() -> &'static Value {
    static PARSED: OnceLock<Value> = OnceLock::new();
    PARSED.get_or_init(|| serde_json::from_str(TEMPLATE).unwrap_or(Value::Null))
}

/// `<name>-dashboard` beside the DiceService; in a shared dashboards namespace the source
/// namespace comes first, `<namespace>.<name>-dashboard`, so tenants cannot collide (a namespace
/// name has no dot, so the split is unambiguous).
pub fn name(service: &Validated, target_namespace: &str) -> String {
    if target_namespace == service.namespace {
        format!("{}-dashboard", service.name)
    } else {
        format!("{}.{}-dashboard", service.namespace, service.name)
    }
}

/// Data key, unique cluster-wide because the sidecar puts every dashboard in one directory.
pub fn file_name(service: &Validated) -> String {
    format!("{}-{}.json", service.namespace, service.name)
}

/// Stable across reconciles and unique per DiceService: Grafana keys dashboards by uid.
pub fn uid(service: &Validated) -> String {
    let digest = Sha256::digest(format!("{}/{}", service.namespace, service.name));
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("dice-{hex}")
}

/// The dashboard JSON for `service`.
pub fn dashboard(service: &Validated) -> Value {
    let mut dashboard = template().clone();
    dashboard["uid"] = Value::String(uid(service));
    dashboard["title"] = Value::String(format!("Dice / {} / {}", service.namespace, service.name));
    if let Some(variables) = dashboard["templating"]["list"].as_array_mut() {
        for variable in variables {
            let value = match variable["name"].as_str() {
                Some("namespace") => service.namespace.clone(),
                Some("job") => service.name.clone(),
                _ => continue,
            };
            variable["query"] = Value::String(value.clone());
            variable["current"] = serde_json::json!({"text": value, "value": value});
        }
    }
    dashboard
}

pub fn build(service: &Validated) -> Option<ConfigMap> {
    let target = service.monitoring.dashboard.as_ref()?;
    let same_namespace = target.namespace == service.namespace;
    let mut metadata = object_meta(service, &name(service, &target.namespace));
    metadata.namespace = Some(target.namespace.clone());
    let mut all_labels = labels(service);
    all_labels.insert(SIDECAR_LABEL.into(), "1".into());
    metadata.labels = Some(all_labels);
    let mut annotations = BTreeMap::new();
    if let Some(folder) = &target.folder {
        annotations.insert(FOLDER_ANNOTATION.to_owned(), folder.clone());
    }
    if !same_namespace {
        metadata.owner_references = None;
        annotations.insert(
            OWNER_ANNOTATION.to_owned(),
            format!("{}/{}", service.namespace, service.name),
        );
        if let Some(uid) = &service.uid {
            annotations.insert(OWNER_UID_ANNOTATION.to_owned(), uid.clone());
        }
    }
    if !annotations.is_empty() {
        metadata.annotations = Some(annotations);
    }
    let json = serde_json::to_string_pretty(&dashboard(service)).unwrap_or_default();
    Some(ConfigMap {
        metadata,
        data: Some(BTreeMap::from([(file_name(service), json)])),
        ..ConfigMap::default()
    })
}
