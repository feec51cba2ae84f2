//! Where the pods run: spreading over hosts and zones by default, and the spec's affinity,
//! priority and pull Secrets.

use super::selector_labels;
use crate::validate::Validated;
use k8s_openapi::api::core::v1::{PodSpec, TopologySpreadConstraint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub const HOSTNAME_TOPOLOGY: &str = "kubernetes.io/hostname";
pub const ZONE_TOPOLOGY: &str = "topology.kubernetes.io/zone";

/// Sets the placement fields of `pod_spec` from the spec.
pub fn place(pod_spec: &mut PodSpec, service: &Validated) {
    let placement = &service.placement;
    let spread = placement
        .topology_spread
        .clone()
        .unwrap_or_else(|| default_spread(service));
    pod_spec.topology_spread_constraints = (!spread.is_empty()).then_some(spread);
    pod_spec.affinity.clone_from(&placement.affinity);
    pod_spec
        .image_pull_secrets
        .clone_from(&placement.image_pull_secrets);
    pod_spec
        .priority_class_name
        .clone_from(&placement.priority_class_name);
}

/// One pod per node and per zone where the scheduler can, anywhere when it cannot: spreading
/// must never leave a pod pending.
fn default_spread(service: &Validated) -> Vec<TopologySpreadConstraint> {
    [HOSTNAME_TOPOLOGY, ZONE_TOPOLOGY]
        .into_iter()
        .map(|topology_key| TopologySpreadConstraint {
            max_skew: 1,
            topology_key: topology_key.to_owned(),
            when_unsatisfiable: "ScheduleAnyway".to_owned(),
            label_selector: Some(LabelSelector {
                match_labels: Some(selector_labels(service)),
                ..LabelSelector::default()
            }),
            ..TopologySpreadConstraint::default()
        })
        .collect()
}
