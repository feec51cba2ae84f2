//! The ServiceAccount dice-server runs as: no API token, since it never calls the API.

use super::object_meta;
use crate::validate::Validated;
use k8s_openapi::api::core::v1::ServiceAccount;

pub fn build(service: &Validated) -> ServiceAccount {
    ServiceAccount {
        metadata: object_meta(service, &service.name),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

#[derive(Debug)]
pub struct ServiceAccountChild;

impl super::Child for ServiceAccountChild {
    type Object = k8s_openapi::api::core::v1::ServiceAccount;
    const STEM: &'static str = "serviceaccount";
    const LIFECYCLE: super::Lifecycle = super::Lifecycle::WithTheService;
    const PREREQUISITE: bool = true;

    fn build(inputs: super::Inputs<'_>) -> Option<k8s_openapi::api::core::v1::ServiceAccount> {
        Some(build(inputs.service))
    }
}
