//! The Grafana dashboard ConfigMap: `dashboards/dice-service.json`, embedded in the binary, with
//! a uid, title and variables of its own, labelled for the Grafana sidecar.

use super::{labels, object_meta};
use crate::object_key::ObjectKey;
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

/// A DiceService's own values in its dashboard.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Uid,
    Title,
    Namespace,
    Job,
}

impl Slot {
    const ALL: [Slot; 4] = [Slot::Uid, Slot::Title, Slot::Namespace, Slot::Job];

    /// What stands in the template where the slot's value goes (not in the dashboard JSON).
    fn marker(self) -> &'static str {
        match self {
            Slot::Uid => "@@dice:uid@@",
            Slot::Title => "@@dice:title@@",
            Slot::Namespace => "@@dice:namespace@@",
            Slot::Job => "@@dice:job@@",
        }
    }

    fn value(self, service: &Validated) -> String {
        match self {
            Slot::Uid => uid(service),
            Slot::Title => format!("Dice / {} / {}", service.namespace, service.name),
            Slot::Namespace => service.namespace.clone(),
            Slot::Job => service.name.clone(),
        }
    }
}

/// The template with its slots filled by `value`.
fn filled(value: impl Fn(Slot) -> Value) -> Value {
    let mut dashboard: Value = serde_json::from_str(TEMPLATE).unwrap_or(Value::Null);
    dashboard["uid"] = value(Slot::Uid);
    dashboard["title"] = value(Slot::Title);
    if let Some(variables) = dashboard["templating"]["list"].as_array_mut() {
        for variable in variables {
            let value = match variable["name"].as_str() {
                Some("namespace") => value(Slot::Namespace),
                Some("job") => value(Slot::Job),
                _ => continue,
            };
            variable["query"] = value.clone();
            variable["current"] = serde_json::json!({"text": value, "value": value});
        }
    }
    dashboard
}

/// The pretty-printed template cut at its slots, made once: a dashboard is then one string
/// joined from these pieces, where cloning and printing the parsed template took thousands of
/// allocations for every reconcile.
fn pieces() -> &'static [(String, Option<Slot>)] {
    static PIECES: OnceLock<Vec<(String, Option<Slot>)>> = OnceLock::new();
    PIECES.get_or_init(|| {
        let marked = filled(|slot| Value::String(slot.marker().to_owned()));
        let mut rest = serde_json::to_string_pretty(&marked).unwrap_or_default();
        let mut pieces = Vec::new();
        loop {
            let next = Slot::ALL
                .into_iter()
                .filter_map(|slot| Some((rest.find(&format!("\"{}\"", slot.marker()))?, slot)))
                .min_by_key(|(at, _)| *at);
            let Some((at, slot)) = next else {
                pieces.push((rest, None));
                return pieces;
            };
            let after = rest.split_off(at).split_off(slot.marker().len() + 2);
            pieces.push((std::mem::replace(&mut rest, after), Some(slot)));
        }
    })
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

/// Data key, unique cluster-wide because the sidecar puts every dashboard in one directory:
/// neither a namespace nor a DiceService name (a DNS-1035 label, see `validate`) has a dot,
/// so `team.b-api` and `team-b.api` differ where `team-b-api` would not.
pub fn file_name(service: &Validated) -> String {
    format!("{}.{}.json", service.namespace, service.name)
}

/// Stable across reconciles and unique per DiceService: Grafana keys dashboards by uid.
pub fn uid(service: &Validated) -> String {
    let digest = Sha256::digest(format!("{}/{}", service.namespace, service.name));
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("dice-{hex}")
}

/// The dashboard JSON for `service`, pretty-printed.
pub fn dashboard(service: &Validated) -> String {
    let pieces = pieces();
    let mut json = String::with_capacity(pieces.iter().map(|(text, _)| text.len() + 64).sum());
    for (text, slot) in pieces {
        json.push_str(text);
        if let Some(slot) = slot {
            json.push_str(&Value::String(slot.value(service)).to_string());
        }
    }
    json
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
            ObjectKey::new(&service.namespace, &service.name).to_string(),
        );
        if let Some(uid) = &service.uid {
            annotations.insert(OWNER_UID_ANNOTATION.to_owned(), uid.clone());
        }
    }
    if !annotations.is_empty() {
        metadata.annotations = Some(annotations);
    }
    let json = dashboard(service);
    Some(ConfigMap {
        metadata,
        data: Some(BTreeMap::from([(file_name(service), json)])),
        ..ConfigMap::default()
    })
}

#[derive(Debug)]
pub struct DashboardChild;

impl super::Child for DashboardChild {
    type Object = ConfigMap;
    const STEM: &'static str = "dashboard";
    const LIFECYCLE: super::Lifecycle = super::Lifecycle::DeletedWhenSwitchedOff;
    const REPORTED: bool = true;

    fn build(inputs: super::Inputs<'_>) -> Option<ConfigMap> {
        build(inputs.service)
    }

    /// `namespace/name`: a dashboard may live in another namespace.
    fn reported_name(object: &ConfigMap) -> String {
        use kube::ResourceExt;
        format!(
            "{}/{}",
            object.namespace().unwrap_or_default(),
            object.name_any()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{Defaults, validate};

    #[test]
    fn the_dashboard_is_the_parsed_template_with_the_diceservices_values() {
        let mut service = crate::crd::DiceService::new(
            "dice",
            serde_json::from_value(serde_json::json!({})).expect("an empty spec is valid"),
        );
        service.metadata.namespace = Some("shop".into());
        let service = validate(&service, &Defaults::with_image("img")).expect("valid");
        let parsed = filled(|slot| Value::String(slot.value(&service)));
        let expected = serde_json::to_string_pretty(&parsed).expect("JSON");
        let dashboard = dashboard(&service);
        assert_eq!(dashboard, expected);
        assert!(!dashboard.contains("@@dice:"), "every slot filled");
        let json: Value = serde_json::from_str(&dashboard).expect("JSON");
        assert_eq!(json["title"], "Dice / shop / dice");
        assert_eq!(json["templating"]["list"][3]["current"]["value"], "shop");
    }

    #[test]
    fn data_keys_of_different_tenants_never_collide() {
        let key = |namespace: &str, name: &str| {
            let mut service = crate::crd::DiceService::new(
                name,
                serde_json::from_value(serde_json::json!({})).expect("an empty spec is valid"),
            );
            service.metadata.namespace = Some(namespace.into());
            file_name(&validate(&service, &Defaults::with_image("img")).expect("valid"))
        };
        // `<namespace>-<name>` made both `team-b-api.json`.
        assert_ne!(key("team", "b-api"), key("team-b", "api"));
        assert_eq!(key("team-b", "api"), "team-b.api.json");
    }
}
