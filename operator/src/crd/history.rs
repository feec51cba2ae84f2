//! `spec.history`: the metrics history dice-server keeps — where (embedded SQLite on the pod's
//! data volume, or PostgreSQL), how often and how long.

use super::SecretKeyRef;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Metrics history: CPU, memory, GPU, temperature and disk stored every persist interval and
/// served by `/api/v1/history`. On by default, in an embedded SQLite file on an emptyDir.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!(has(self.postgres) && has(self.storage))")
    .message("history.storage holds the embedded SQLite file; with history.postgres it would be unused"))]
pub struct HistorySpec {
    /// Keep history (default true). Off: no database, `/api/v1/history` answers 503.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// How long history is kept, e.g. `7d` (default) or `12h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(s|m|h|d|w))+$"), length(max = 32))]
    pub retention: Option<String>,
    /// How often the latest sample is stored (default `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h))+$"), length(max = 32))]
    pub persist_interval: Option<String>,
    /// Store history in PostgreSQL instead: the connection URL comes from a Secret and never
    /// appears in the Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PostgresHistory>,
    /// Keep the SQLite file on a PersistentVolumeClaim (`<name>-data`) so it survives pod
    /// restarts; without it the file lives on an emptyDir. Needs `replicas: 1`. Removing this
    /// later keeps the claim (and its data); delete it by hand when no longer needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<HistoryStorage>,
}

fn enabled() -> bool {
    true
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PostgresHistory {
    /// Secret key holding a `postgres://USER:PASSWORD@HOST:PORT/DATABASE` URL.
    pub secret_ref: SecretKeyRef,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HistoryStorage {
    /// Size of the claim, e.g. `1Gi` (7 days of 30-second samples take a few MiB).
    #[schemars(
        regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$"),
        length(max = 32)
    )]
    pub size: String,
    /// StorageClass of the claim; the cluster's default class when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub storage_class_name: Option<String>,
}
