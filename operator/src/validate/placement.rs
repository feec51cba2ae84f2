//! Scaling, scheduling and network access of the pods: defaults resolved and the labels and
//! annotations the operator relies on kept out of the user's hands.

use crate::crd::{
    AutoscalingSpec, DiceServiceSpec, NetworkPeer, RESERVED_ANNOTATION_PREFIX, RESERVED_POD_LABELS,
};
use crate::{Error, Result};
use k8s_openapi::api::core::v1::{Affinity, LocalObjectReference, TopologySpreadConstraint};
use std::collections::BTreeMap;

/// Who decides the replica count.
#[derive(Debug, Clone, PartialEq)]
pub enum Scaling {
    /// `spec.replicas`, applied to the Deployment.
    Fixed(i32),
    /// A HorizontalPodAutoscaler; the Deployment's replicas are left to it.
    Autoscaled(AutoscalingSpec),
}

impl Scaling {
    /// The most pods that can run at once.
    pub fn max_replicas(&self) -> i32 {
        match self {
            Scaling::Fixed(replicas) => *replicas,
            Scaling::Autoscaled(autoscaling) => autoscaling.max_replicas,
        }
    }

    /// The fewest pods that run (0 only when `replicas: 0` stops them).
    pub fn min_replicas(&self) -> i32 {
        match self {
            Scaling::Fixed(replicas) => *replicas,
            Scaling::Autoscaled(autoscaling) => autoscaling.min_replicas,
        }
    }

    /// The count to apply to the Deployment; `None` leaves it to the autoscaler.
    pub fn applied_replicas(&self) -> Option<i32> {
        match self {
            Scaling::Fixed(replicas) => Some(*replicas),
            Scaling::Autoscaled(_) => None,
        }
    }
}

/// Where the pods run and what they carry besides the operator's own settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Placement {
    /// `None`: the default spreading over hosts and zones; empty: no spreading.
    pub topology_spread: Option<Vec<TopologySpreadConstraint>>,
    pub affinity: Option<Affinity>,
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    pub priority_class_name: Option<String>,
    pub pod_annotations: BTreeMap<String, String>,
    pub pod_labels: BTreeMap<String, String>,
}

/// The NetworkPolicy's admitted peers, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkAccess {
    pub scrapers: NetworkPeer,
    pub probers: NetworkPeer,
}

pub fn scaling(spec: &DiceServiceSpec) -> Result<Scaling> {
    let Some(autoscaling) = &spec.autoscaling else {
        return Ok(Scaling::Fixed(spec.replicas));
    };
    // The schema's CEL rule says the same; this covers `render` and API servers without CEL.
    if autoscaling.min_replicas > autoscaling.max_replicas {
        return Err(Error::InvalidSpec(format!(
            "spec.autoscaling.minReplicas ({}) must not exceed maxReplicas ({})",
            autoscaling.min_replicas, autoscaling.max_replicas
        )));
    }
    Ok(Scaling::Autoscaled(autoscaling.clone()))
}

pub fn placement(spec: &DiceServiceSpec) -> Result<Placement> {
    let pod_labels = spec.pod_labels.clone().unwrap_or_default();
    if let Some(key) = pod_labels
        .keys()
        .find(|k| RESERVED_POD_LABELS.contains(&k.as_str()))
    {
        return Err(Error::InvalidSpec(format!(
            "spec.podLabels may not set {key:?}: the operator sets the labels {} on every pod \
             and selects the pods by them",
            RESERVED_POD_LABELS.join(", ")
        )));
    }
    let pod_annotations = spec.pod_annotations.clone().unwrap_or_default();
    if let Some(key) = pod_annotations
        .keys()
        .find(|k| k.starts_with(RESERVED_ANNOTATION_PREFIX))
    {
        return Err(Error::InvalidSpec(format!(
            "spec.podAnnotations may not set {key:?}: annotations under \
             {RESERVED_ANNOTATION_PREFIX} are the operator's (dice.dev/config-hash rolls the pods)"
        )));
    }
    Ok(Placement {
        topology_spread: spec.topology_spread_constraints.clone(),
        affinity: spec.affinity.clone(),
        image_pull_secrets: spec.image_pull_secrets.clone(),
        priority_class_name: spec.priority_class_name.clone(),
        pod_annotations,
        pod_labels,
    })
}

/// The peers a NetworkPolicy admits; the defaults live in `monitoring_namespace` (`None`:
/// any namespace).
pub fn network_access(
    spec: &DiceServiceSpec,
    monitoring_namespace: Option<&str>,
) -> Option<NetworkAccess> {
    let policy = spec.network_policy.as_ref().filter(|p| p.enabled)?;
    Some(NetworkAccess {
        scrapers: policy
            .scrapers
            .clone()
            .unwrap_or_else(|| NetworkPeer::named("prometheus", monitoring_namespace)),
        probers: policy.probers.clone().unwrap_or_else(|| {
            NetworkPeer::named("prometheus-blackbox-exporter", monitoring_namespace)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> DiceServiceSpec {
        serde_yaml::from_str(yaml).expect("spec parses")
    }

    #[test]
    fn the_operators_labels_and_annotations_cannot_be_overridden_and_the_error_says_why() {
        let error = placement(&spec(
            "podLabels: {app.kubernetes.io/instance: other, team: a}",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("\"app.kubernetes.io/instance\"") && error.contains("selects the pods"),
            "{error}"
        );
        let error = placement(&spec("podAnnotations: {dice.dev/config-hash: x}"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("the operator's"), "{error}");
        let fine = placement(&spec(
            "podLabels: {team: a}\npodAnnotations: {sidecar.istio.io/inject: 'false'}",
        ))
        .unwrap();
        assert_eq!(fine.pod_labels["team"], "a");
    }

    #[test]
    fn autoscaling_bounds_are_checked_and_decide_the_most_pods() {
        let autoscaled = scaling(&spec("autoscaling: {minReplicas: 2, maxReplicas: 5}")).unwrap();
        assert_eq!(autoscaled.max_replicas(), 5);
        let Scaling::Autoscaled(a) = &autoscaled else {
            panic!("{autoscaled:?}")
        };
        assert_eq!(a.target_cpu_utilization_percentage, 80);
        assert_eq!(scaling(&spec("replicas: 3")).unwrap(), Scaling::Fixed(3));
        let error = scaling(&spec("autoscaling: {minReplicas: 6, maxReplicas: 5}"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("must not exceed"), "{error}");
    }

    #[test]
    fn a_network_policy_admits_kube_prometheus_stack_by_default() {
        let monitoring = Some("monitoring");
        assert_eq!(network_access(&spec("{}"), monitoring), None);
        assert_eq!(
            network_access(&spec("networkPolicy: {enabled: false}"), monitoring),
            None
        );
        let access = network_access(&spec("networkPolicy: {enabled: true}"), monitoring).unwrap();
        assert_eq!(
            access.scrapers,
            NetworkPeer::named("prometheus", monitoring)
        );
        assert_eq!(
            access.probers,
            NetworkPeer::named("prometheus-blackbox-exporter", monitoring)
        );
    }

    #[test]
    fn default_peers_are_pinned_to_the_monitoring_namespace_not_only_a_pod_label() {
        let access =
            network_access(&spec("networkPolicy: {enabled: true}"), Some("monitoring")).unwrap();
        let namespaces = access
            .scrapers
            .namespace_selector
            .match_labels
            .unwrap_or_default();
        assert_eq!(
            namespaces
                .get("kubernetes.io/metadata.name")
                .map(String::as_str),
            Some("monitoring"),
            "a pod labelled prometheus in any other namespace must not be admitted"
        );
        let anywhere = network_access(&spec("networkPolicy: {enabled: true}"), None).unwrap();
        assert_eq!(anywhere.scrapers.namespace_selector, Default::default());
    }
}
