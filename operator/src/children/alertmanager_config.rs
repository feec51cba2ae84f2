//! The AlertmanagerConfig: critical alerts page PagerDuty and post to Slack, warnings post to
//! Slack. The Prometheus Operator scopes it to alerts labelled with its namespace; the `service`
//! matcher narrows it to this DiceService's alerts.

use super::object_meta;
use crate::crd::SecretKeyRef;
use crate::prometheus_operator::{
    AlertmanagerConfig, AlertmanagerConfigSpec, KeyValue, Matcher, PagerDutyConfig, Receiver,
    Route, SecretKeySelector, SlackConfig,
};
use crate::validate::Validated;

pub const SLACK: &str = "slack";
pub const PAGERDUTY: &str = "pagerduty";
/// Receives what no other route takes when Slack is not configured.
pub const NOBODY: &str = "null";
/// Severity too: an SLO's page and ticket share an alert name but not an urgency, and a
/// notification whose alerts differ in severity could not say which it is.
pub const GROUP_BY: [&str; 4] = ["alertname", "namespace", "service", "severity"];

/// Slack message title and text, shared with the plain alertmanager.yml.
pub const SLACK_TITLE: &str = "[{{ .Status | toUpper }}{{ if eq .Status \"firing\" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }}) {{ .CommonLabels.namespace }}/{{ .CommonLabels.service }}";
pub const SLACK_TEXT: &str = "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n*Runbook:* {{ .Annotations.runbook_url }}\n{{ end }}";
/// PagerDuty severities are critical, error, warning or info; ours map one to one.
pub const PAGERDUTY_SEVERITY: &str =
    "{{ if .CommonLabels.severity }}{{ .CommonLabels.severity }}{{ else }}critical{{ end }}";
pub const PAGERDUTY_DESCRIPTION: &str = "{{ .CommonAnnotations.summary }}";

pub fn build(service: &Validated) -> Option<AlertmanagerConfig> {
    let alerting = service.monitoring.alerting.as_ref()?;
    let mut receivers = Vec::new();
    let mut routes = Vec::new();
    if let Some(routing_key) = &alerting.pager_duty {
        receivers.push(Receiver {
            name: PAGERDUTY.into(),
            pagerduty_configs: vec![PagerDutyConfig {
                routing_key: selector(routing_key),
                send_resolved: true,
                severity: PAGERDUTY_SEVERITY.into(),
                description: PAGERDUTY_DESCRIPTION.into(),
                details: details(),
            }],
            ..Receiver::default()
        });
        routes.push(Route {
            receiver: PAGERDUTY.into(),
            matchers: vec![equal("severity", "critical")],
            r#continue: true,
            ..Route::default()
        });
    }
    let default_receiver = match &alerting.slack {
        Some((channel, api_url)) => {
            receivers.push(Receiver {
                name: SLACK.into(),
                slack_configs: vec![SlackConfig {
                    api_url: selector(api_url),
                    channel: channel.clone(),
                    send_resolved: true,
                    title: SLACK_TITLE.into(),
                    text: SLACK_TEXT.into(),
                }],
                ..Receiver::default()
            });
            // After PagerDuty's `continue`, so critical alerts reach both; an alert matched by
            // a child route never falls back to the parent's receiver.
            routes.push(Route {
                receiver: SLACK.into(),
                ..Route::default()
            });
            SLACK
        }
        None => {
            receivers.push(Receiver {
                name: NOBODY.into(),
                ..Receiver::default()
            });
            NOBODY
        }
    };
    Some(AlertmanagerConfig {
        metadata: object_meta(service, &service.name),
        spec: AlertmanagerConfigSpec {
            route: Route {
                receiver: default_receiver.into(),
                group_by: GROUP_BY.iter().map(|l| (*l).to_owned()).collect(),
                group_wait: Some(alerting.group_wait.clone()),
                group_interval: Some(alerting.group_interval.clone()),
                repeat_interval: Some(alerting.repeat_interval.clone()),
                matchers: vec![equal("service", &service.name)],
                routes,
                ..Route::default()
            },
            receivers,
        },
    })
}

/// Extra fields of a PagerDuty incident.
pub fn details() -> Vec<KeyValue> {
    [
        ("alertname", "{{ .CommonLabels.alertname }}"),
        ("firing", "{{ .Alerts.Firing | len }}"),
        ("namespace", "{{ .CommonLabels.namespace }}"),
        ("service", "{{ .CommonLabels.service }}"),
        ("description", "{{ .CommonAnnotations.description }}"),
        ("runbook_url", "{{ .CommonAnnotations.runbook_url }}"),
    ]
    .into_iter()
    .map(|(key, value)| KeyValue {
        key: key.into(),
        value: value.into(),
    })
    .collect()
}

fn equal(name: &str, value: &str) -> Matcher {
    Matcher {
        name: name.into(),
        value: value.into(),
        match_type: "=".into(),
    }
}

fn selector(reference: &SecretKeyRef) -> SecretKeySelector {
    SecretKeySelector {
        name: reference.name.clone(),
        key: reference.key.clone(),
    }
}
