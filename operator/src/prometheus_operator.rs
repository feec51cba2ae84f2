//! Minimal serde types for the Prometheus Operator kinds the operator emits: only the fields we
//! set. The upstream CRDs are never copied or generated from; tests validate what we emit
//! against them when they are available.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const GROUP: &str = "monitoring.coreos.com";

/// Tells Prometheus which Services to scrape, and how.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "monitoring.coreos.com",
    version = "v1",
    kind = "ServiceMonitor",
    namespaced,
    schema = "disabled",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    pub selector: LabelSelector,
    pub namespace_selector: NamespaceSelector,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    pub match_names: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub port: String,
    pub path: String,
    pub scheme: String,
    pub interval: String,
    pub scrape_timeout: String,
}

/// Recording and alerting rules Prometheus loads.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "monitoring.coreos.com",
    version = "v1",
    kind = "PrometheusRule",
    namespaced,
    schema = "disabled",
    derive = "PartialEq"
)]
pub struct PrometheusRuleSpec {
    pub groups: Vec<RuleGroup>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct RuleGroup {
    pub name: String,
    /// How often Prometheus evaluates the group; its global interval when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    pub rules: Vec<Rule>,
}

/// A recording rule (`record`) or an alert (`alert`), as Prometheus' rule files spell them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    pub expr: String,
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    /// How long the alert keeps firing after its condition cleared (Prometheus ≥ 2.42).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A blackbox-exporter probe of static targets.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "monitoring.coreos.com",
    version = "v1",
    kind = "Probe",
    namespaced,
    schema = "disabled",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSpec {
    pub job_name: String,
    pub interval: String,
    pub module: String,
    pub prober: Prober,
    pub targets: ProbeTargets,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Prober {
    /// `host:port` of the blackbox exporter.
    pub url: String,
    pub scheme: String,
    pub path: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProbeTargets {
    pub static_config: StaticTargets,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct StaticTargets {
    #[serde(rename = "static")]
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// An Alertmanager route and its receivers, scoped by the Prometheus Operator to alerts whose
/// `namespace` label is this object's namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "monitoring.coreos.com",
    version = "v1alpha1",
    kind = "AlertmanagerConfig",
    namespaced,
    schema = "disabled",
    derive = "PartialEq"
)]
pub struct AlertmanagerConfigSpec {
    pub route: Route,
    pub receivers: Vec<Receiver>,
    #[serde(
        rename = "inhibitRules",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub inhibit_rules: Vec<InhibitRule>,
}

/// Mutes the alerts matching `targetMatch` while an alert matching `sourceMatch` fires with the
/// same values of the `equal` labels. The Prometheus Operator adds a `namespace` matcher to
/// both sides.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct InhibitRule {
    pub source_match: Vec<Matcher>,
    pub target_match: Vec<Matcher>,
    pub equal: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub receiver: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_wait: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<Matcher>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub r#continue: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    pub match_type: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Receiver {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slack_configs: Vec<SlackConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pagerduty_configs: Vec<PagerDutyConfig>,
}

/// A key of a Secret in the AlertmanagerConfig's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct SecretKeySelector {
    pub name: String,
    pub key: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SlackConfig {
    #[serde(rename = "apiURL")]
    pub api_url: SecretKeySelector,
    pub channel: String,
    pub send_resolved: bool,
    pub title: String,
    pub text: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PagerDutyConfig {
    pub routing_key: SecretKeySelector,
    pub send_resolved: bool,
    pub severity: String,
    pub description: String,
    pub details: Vec<KeyValue>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}
