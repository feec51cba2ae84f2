//! The ClusterIP Service in front of the pods; its port is named `http` for ServiceMonitors.

use super::{object_meta, selector_labels};
use crate::validate::Validated;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub const SERVICE_PORT: i32 = 80;

pub fn build(service: &Validated) -> Service {
    Service {
        metadata: object_meta(service, &service.name),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector_labels(service)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: SERVICE_PORT,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                app_protocol: Some("http".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The in-cluster URL reported in status (`http://<name>.<namespace>.svc`; port 80 is implied).
pub fn url(service: &Validated) -> String {
    format!("http://{}.{}.svc", service.name, service.namespace)
}

#[derive(Debug)]
pub struct ServiceChild;

impl super::Child for ServiceChild {
    type Object = k8s_openapi::api::core::v1::Service;
    const STEM: &'static str = "service";
    const LIFECYCLE: super::Lifecycle = super::Lifecycle::WithTheService;

    fn build(inputs: super::Inputs<'_>) -> Option<k8s_openapi::api::core::v1::Service> {
        Some(build(inputs.service))
    }
}
