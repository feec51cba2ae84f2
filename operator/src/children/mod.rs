//! Pure builders of every object a DiceService owns, and the metadata they share.

#[macro_use]
mod table;
pub mod alertmanager_config;
mod autoscaler;
mod child;
pub mod dashboard;
pub mod data_volume;
mod deployment;
pub mod disruption_budget;
mod kinds;
mod network_policy;
pub mod probe;
pub mod rules;
pub mod scheduling;
mod service;
mod service_account;
mod service_monitor;

use crate::validate::Validated;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub use child::{Child, Inputs, Lifecycle};
pub use deployment::{
    CONFIG_HASH_ANNOTATION, HTTP_PORT, REPLICAS_FROM_ANNOTATION, REPLICAS_FROM_AUTOSCALER,
};
pub use disruption_budget::Relaxation;
pub use kinds::{ChildKind, Children, Desired, Family, Make, PerKind, Visit, VisitPairs};
pub use service::{SERVICE_PORT, url};

/// Hash of everything the operator applies to a child; lets a reconcile skip an apply that
/// would change nothing, including when a field was dropped from the desired object.
pub const APPLIED_HASH_ANNOTATION: &str = "dice.dev/applied-hash";

/// Every child of `service`, as `render` writes them: nothing observed in a cluster.
pub fn build(service: &Validated) -> Children {
    build_observed(service, Relaxation::None)
}

/// Every child of `service`, the disruption budget relaxed as its Deployment requires.
pub fn build_observed(service: &Validated, relaxation: Relaxation) -> Children {
    struct Build<'a>(Inputs<'a>);
    impl Make<Desired> for Build<'_> {
        fn make<K: Child>(&mut self) -> Option<K::Object> {
            K::build(self.0).map(with_applied_hash)
        }
    }
    PerKind::from_fn(&mut Build(Inputs {
        service,
        relaxation,
    }))
}

fn with_applied_hash<K: Resource + Serialize>(mut object: K) -> K {
    let hash = content_hash(&object);
    object
        .meta_mut()
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(APPLIED_HASH_ANNOTATION.to_owned(), hash);
    object
}

/// A literal environment variable. Kubernetes expands `$(NAME)` in env values with earlier
/// variables — the PostgreSQL URL from a Secret among them — so every `$` is doubled (`$$` is
/// Kubernetes' escape for one `$`): what the author wrote is what the process sees.
pub fn env_var(name: &str, value: &str) -> k8s_openapi::api::core::v1::EnvVar {
    k8s_openapi::api::core::v1::EnvVar {
        name: name.into(),
        value: Some(value.replace('$', "$$")),
        ..Default::default()
    }
}

/// First 16 hex digits of the SHA-256 of `value`'s JSON (field order is fixed by the types).
pub fn content_hash(value: &impl Serialize) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    Sha256::digest(&json)
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Labels that identify a DiceService's pods; never change them, selectors are immutable.
pub fn selector_labels(service: &Validated) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            "dice-server".to_owned(),
        ),
        (
            "app.kubernetes.io/instance".to_owned(),
            service.name.clone(),
        ),
    ])
}

/// The recommended `app.kubernetes.io/*` labels, on every child.
pub fn labels(service: &Validated) -> BTreeMap<String, String> {
    let mut labels = selector_labels(service);
    labels.insert("app.kubernetes.io/component".into(), "workload".into());
    labels.insert("app.kubernetes.io/part-of".into(), "dice-operator".into());
    labels.insert(
        "app.kubernetes.io/managed-by".into(),
        crate::FIELD_MANAGER.into(),
    );
    if let Some(version) = image_tag(&service.image) {
        labels.insert("app.kubernetes.io/version".into(), version.to_owned());
    }
    labels
}

/// The tag of `image` when it is a valid label value (digests and odd tags are skipped).
fn image_tag(image: &str) -> Option<&str> {
    let last = image.rsplit('/').next()?;
    let (_, tag) = last.split_once(':')?;
    let valid = tag.len() <= 63
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric());
    (valid && !image.contains('@')).then_some(tag)
}

/// Name, namespace, labels and (when the owner has a uid) the controller owner reference.
pub fn object_meta(service: &Validated, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(service.namespace.clone()),
        labels: Some(labels(service)),
        owner_references: owner_reference(service).map(|owner| vec![owner]),
        ..ObjectMeta::default()
    }
}

/// [`object_meta`] plus the monitoring labels Prometheus selects ServiceMonitors, rules and
/// probes by (e.g. kube-prometheus-stack's `release`). The operator's own labels win: the
/// watches find children by them, so an object relabelled away would never be deleted.
pub fn monitoring_meta(service: &Validated, name: &str) -> ObjectMeta {
    let mut meta = object_meta(service, name);
    let own = labels(service);
    meta.labels.get_or_insert_with(BTreeMap::new).extend(
        service
            .monitoring
            .labels
            .iter()
            .filter(|(key, _)| !own.contains_key(*key))
            .map(|(key, value)| (key.clone(), value.clone())),
    );
    meta
}

/// Absent offline (`render` has no uid): the objects are then shown without an owner.
pub fn owner_reference(service: &Validated) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: "dice.dev/v1alpha1".into(),
        kind: "DiceService".into(),
        name: service.name.clone(),
        uid: service.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// A DiceService in `team-a` with `spec`, validated with the default settings.
#[cfg(test)]
pub(crate) fn validated_for_test(spec: serde_json::Value) -> Validated {
    let spec: crate::crd::DiceServiceSpec = serde_json::from_value(spec).expect("spec");
    let mut dice = crate::crd::DiceService::new("dice", spec);
    dice.metadata.namespace = Some("team-a".into());
    crate::validate::validate(&dice, &crate::validate::Defaults::with_image("img")).expect("valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitoring_labels_cannot_override_the_operators_own() {
        let validated = validated_for_test(serde_json::json!({
            "monitoring": {"labels": {"app.kubernetes.io/managed-by": "someone-else",
                "app.kubernetes.io/instance": "other", "release": "kps"}}
        }));
        let labels = monitoring_meta(&validated, "dice")
            .labels
            .unwrap_or_default();
        assert_eq!(
            labels
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str),
            Some("dice-operator")
        );
        assert_eq!(
            labels.get("app.kubernetes.io/instance").map(String::as_str),
            Some("dice")
        );
        assert_eq!(labels.get("release").map(String::as_str), Some("kps"));
    }

    #[test]
    fn version_label_comes_only_from_plain_tags() {
        assert_eq!(image_tag("ghcr.io/x/dice-server:0.1.0"), Some("0.1.0"));
        assert_eq!(
            image_tag("localhost:5000/dice-server"),
            None,
            "a registry port is no tag"
        );
        assert_eq!(image_tag("dice-server@sha256:abc"), None);
        assert_eq!(image_tag("dice-server"), None);
    }
}
