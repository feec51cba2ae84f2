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
