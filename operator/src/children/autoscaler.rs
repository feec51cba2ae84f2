//! The HorizontalPodAutoscaler (autoscaling/v2) `spec.autoscaling` asks for: CPU utilisation of
//! the Deployment's pods between the spec's bounds.

use super::object_meta;
use crate::validate::{Scaling, Validated};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};

pub fn build(service: &Validated) -> Option<HorizontalPodAutoscaler> {
    let Scaling::Autoscaled(autoscaling) = &service.scaling else {
        return None;
    };
    Some(HorizontalPodAutoscaler {
        metadata: object_meta(service, &service.name),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: service.name.clone(),
            },
            min_replicas: Some(autoscaling.min_replicas),
            max_replicas: autoscaling.max_replicas,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(autoscaling.target_cpu_utilization_percentage),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            ..HorizontalPodAutoscalerSpec::default()
        }),
        ..HorizontalPodAutoscaler::default()
    })
}

#[derive(Debug)]
pub struct AutoscalerChild;

impl super::Child for AutoscalerChild {
    type Object = HorizontalPodAutoscaler;
    const STEM: &'static str = "horizontalpodautoscaler";
    const LIFECYCLE: super::Lifecycle = super::Lifecycle::DeletedWhenSwitchedOff;

    fn build(inputs: super::Inputs<'_>) -> Option<HorizontalPodAutoscaler> {
        build(inputs.service)
    }
}
