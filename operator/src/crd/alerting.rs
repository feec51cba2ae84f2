//! `spec.alerting`: where the DiceService's alerts are routed (an AlertmanagerConfig).
//!
//! Credentials are only ever Secret references: the operator checks that they exist and passes
//! the references on; their values never enter the DiceService, its status or the logs.

use super::PROMETHEUS_DURATION_PATTERN;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.slack) || has(self.pagerDuty)")
    .message("alerting needs a slack or a pagerDuty receiver"))]
pub struct AlertingSpec {
    /// Slack receives every alert (critical and warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackSpec>,
    /// PagerDuty (Events API v2) is paged for critical alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pager_duty: Option<PagerDutySpec>,
    /// How long Alertmanager waits to batch the first alerts of a group (default `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = PROMETHEUS_DURATION_PATTERN), length(min = 1, max = 32))]
    pub group_wait: Option<String>,
    /// How long before notifying about changes to a group, resolutions included (default `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = PROMETHEUS_DURATION_PATTERN), length(min = 1, max = 32))]
    #[x_kube(validation = super::floors::GROUP_INTERVAL.rule())]
    pub group_interval: Option<String>,
    /// How long before repeating a notification that is still firing (default `4h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = PROMETHEUS_DURATION_PATTERN), length(min = 1, max = 32))]
    #[x_kube(validation = super::floors::REPEAT_INTERVAL.rule())]
    pub repeat_interval: Option<String>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SlackSpec {
    /// Channel to post to, e.g. `#dice-alerts`.
    #[schemars(regex(pattern = r"^[#@]?[a-z0-9._-]{1,80}$"), length(max = 81))]
    pub channel: String,
    /// Secret key holding the Slack incoming-webhook URL (in this namespace).
    #[serde(rename = "apiURL")]
    pub api_url: SecretKeyRef,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PagerDutySpec {
    /// Secret key holding the PagerDuty Events API v2 routing (integration) key.
    pub routing_key: SecretKeyRef,
}

/// A key of a Secret in the DiceService's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
        length(max = 253)
    )]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(regex(pattern = r"^[-._a-zA-Z0-9]+$"), length(max = 253))]
    pub key: String,
}
