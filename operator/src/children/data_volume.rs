//! What history needs in the pod: the data volume (an emptyDir, or the claim `<name>-data`
//! built here), its mount and the environment; PostgreSQL's URL only by Secret reference.

use super::object_meta;
use crate::validate::{HistoryStore, Validated};
use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, EnvVar, EnvVarSource, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, SecretKeySelector, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

pub const MOUNT_PATH: &str = "/data";
const VOLUME: &str = "data";

pub fn claim_name(service: &Validated) -> String {
    format!("{}-data", service.name)
}

/// The PersistentVolumeClaim, when history keeps SQLite on one.
pub fn build(service: &Validated) -> Option<PersistentVolumeClaim> {
    let HistoryStore::Claim {
        size,
        storage_class_name,
    } = &service.history.as_ref()?.store
    else {
        return None;
    };
    Some(PersistentVolumeClaim {
        metadata: object_meta(service, &claim_name(service)),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(size.clone()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    })
}

/// The pod's data volume and the container's mount of it (always: dice-server reports its
/// filesystem, and SQLite history lives there).
pub fn volume(service: &Validated) -> (Volume, VolumeMount) {
    let claim = matches!(
        service.history.as_ref().map(|h| &h.store),
        Some(HistoryStore::Claim { .. })
    );
    let volume = Volume {
        name: VOLUME.into(),
        empty_dir: (!claim).then(EmptyDirVolumeSource::default),
        persistent_volume_claim: claim.then(|| PersistentVolumeClaimVolumeSource {
            claim_name: claim_name(service),
            read_only: None,
        }),
        ..Volume::default()
    };
    let mount = VolumeMount {
        name: VOLUME.into(),
        mount_path: MOUNT_PATH.into(),
        ..VolumeMount::default()
    };
    (volume, mount)
}

pub fn env(service: &Validated) -> Vec<EnvVar> {
    let value = super::env_var;
    let mut env = vec![value("DICE_DATA_DIR", MOUNT_PATH)];
    let Some(history) = &service.history else {
        env.push(value("DICE_HISTORY_DB", "none"));
        return env;
    };
    env.push(value("DICE_PERSIST_INTERVAL", &history.persist_interval));
    env.push(value("DICE_RETENTION", &history.retention));
    if let HistoryStore::Postgres(secret) = &history.store {
        env.push(EnvVar {
            name: "DICE_HISTORY_DB".into(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: secret.name.clone(),
                    key: secret.key.clone(),
                    optional: Some(false),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        });
    }
    env
}

#[derive(Debug)]
pub struct DataVolumeChild;

impl super::Child for DataVolumeChild {
    type Object = k8s_openapi::api::core::v1::PersistentVolumeClaim;
    const STEM: &'static str = "persistentvolumeclaim";
    const LIFECYCLE: super::Lifecycle = super::Lifecycle::KeptWhenSwitchedOff;
    const PREREQUISITE: bool = true;

    fn build(
        inputs: super::Inputs<'_>,
    ) -> Option<k8s_openapi::api::core::v1::PersistentVolumeClaim> {
        build(inputs.service)
    }
}
