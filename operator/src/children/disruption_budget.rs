//! The PodDisruptionBudget (policy/v1) that lets a drain or node upgrade take one pod at a
//! time, whenever more than one can run. With one replica it would block drains, so there is
//! none.

use super::{object_meta, selector_labels};
use crate::validate::Validated;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub fn build(service: &Validated) -> Option<PodDisruptionBudget> {
    if service.scaling.max_replicas() <= 1 {
        return None;
    }
    Some(PodDisruptionBudget {
        metadata: object_meta(service, &service.name),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(service)),
                ..LabelSelector::default()
            }),
            // A pod that never became ready may be evicted even when the budget is spent:
            // otherwise one crash-looping pod blocks every drain.
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}
