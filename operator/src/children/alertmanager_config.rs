//! The AlertmanagerConfig: critical alerts page PagerDuty and post to Slack, warnings post to
//! Slack, and inhibition rules keep one failure to one notification. The Prometheus Operator
//! scopes it to alerts labelled with its namespace; the `service` matcher narrows it to this
//! DiceService's alerts.

use super::object_meta;
use super::rules::catalog::{GeneratedAlert, Role, covered_by_page};
use super::rules::slo::{SloKind, URGENCY};
use crate::crd::SecretKeyRef;
use crate::prometheus_operator::{
    AlertmanagerConfig, AlertmanagerConfigSpec, InhibitRule, KeyValue, Matcher, PagerDutyConfig,
    Receiver, Route, SecretKeySelector, SlackConfig,
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
            matchers: vec![equal_to("severity", "critical")],
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
                // `namespace` explicitly: the Prometheus Operator adds it only under its default
                // `alertmanagerConfigMatcherStrategy`; with `None`, a `service` matcher alone
                // would route other namespaces' alerts to this tenant's receivers.
                matchers: vec![
                    equal_to("namespace", &service.namespace),
                    equal_to("service", &service.name),
                ],
                routes,
                ..Route::default()
            },
            receivers,
            inhibit_rules: inhibit_rules(&service.name),
        },
    })
}

/// A cause (ServiceDown, ServiceAbsent) silences the symptoms of the same service; an SLO's
/// page silences its ticket, and either of its burn alerts the threshold alert it makes
/// redundant. Never across services:
/// every rule matches this service on both sides and requires equal `namespace` and `service`.
pub fn inhibit_rules(service: &str) -> Vec<InhibitRule> {
    let all = GeneratedAlert::all();
    let with_role = |role: Role| -> Vec<&'static str> {
        all.iter()
            .filter(|a| a.role() == role)
            .map(|a| a.name())
            .collect()
    };
    let equal = vec!["namespace".to_owned(), "service".to_owned()];
    let mut rules = vec![InhibitRule {
        source_match: vec![
            one_of("alertname", &with_role(Role::Cause)),
            equal_to("service", service),
        ],
        target_match: vec![
            one_of("alertname", &with_role(Role::Symptom)),
            equal_to("service", service),
        ],
        equal: equal.clone(),
    }];
    for kind in SloKind::ALL {
        rules.push(InhibitRule {
            source_match: vec![
                equal_to("alertname", kind.alert()),
                equal_to(URGENCY, "page"),
                equal_to("service", service),
            ],
            target_match: vec![
                equal_to("alertname", kind.alert()),
                Matcher {
                    name: URGENCY.into(),
                    value: "page".into(),
                    match_type: "!=".into(),
                },
                equal_to("service", service),
            ],
            equal: equal.clone(),
        });
        // Either burn alert covers the threshold alert of the same errors: the ticket's long
        // windows keep it quiet after the page resolves, while the short-window threshold
        // alert may still be clearing.
        rules.push(InhibitRule {
            source_match: vec![
                equal_to("alertname", kind.alert()),
                equal_to("service", service),
            ],
            target_match: vec![
                equal_to("alertname", covered_by_page(kind).as_str()),
                equal_to("service", service),
            ],
            equal: equal.clone(),
        });
    }
    rules
}

/// Alert names are identifiers: no regex escaping needed.
fn one_of(name: &str, values: &[&str]) -> Matcher {
    Matcher {
        name: name.into(),
        value: values.join("|"),
        match_type: "=~".into(),
    }
}

/// Extra fields of a PagerDuty incident.
pub fn details() -> Vec<KeyValue> {
    [
        ("alertname", "{{ .CommonLabels.alertname }}"),
        ("firing", "{{ .Alerts.Firing | len }}"),
        ("namespace", "{{ .CommonLabels.namespace }}"),
        ("service", "{{ .CommonLabels.service }}"),
        // Every label, `alertLabels` included, for PagerDuty event rules that route by them.
        (
            "labels",
            "{{ range $i, $p := .CommonLabels.SortedPairs }}{{ if $i }} {{ end }}{{ $p.Name }}={{ $p.Value }}{{ end }}",
        ),
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

fn equal_to(name: &str, value: &str) -> Matcher {
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

#[derive(Debug)]
pub struct AlertmanagerConfigChild;

impl super::Child for AlertmanagerConfigChild {
    type Object = AlertmanagerConfig;
    const STEM: &'static str = "alertmanagerconfig";
    const LIFECYCLE: super::Lifecycle = super::Lifecycle::DeletedWhenSwitchedOff;
    const SERVED_AS: Option<crate::served::MonitoringKind> =
        Some(crate::served::MonitoringKind::AlertmanagerConfig);
    const REPORTED: bool = true;

    fn build(inputs: super::Inputs<'_>) -> Option<AlertmanagerConfig> {
        build(inputs.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_matches_its_own_namespace_whatever_the_matcher_strategy() {
        let validated = crate::children::validated_for_test(serde_json::json!({
            "alerting": {"slack": {"channel": "#a", "apiURL": {"name": "s", "key": "k"}}}
        }));
        let config = build(&validated).expect("alerting is on");
        assert!(
            config
                .spec
                .route
                .matchers
                .contains(&equal_to("namespace", "team-a")),
            "{:?}",
            config.spec.route.matchers
        );
    }

    #[test]
    fn every_inhibition_rule_stays_inside_its_service() {
        for rule in inhibit_rules("dice") {
            for side in [&rule.source_match, &rule.target_match] {
                assert!(side.contains(&equal_to("service", "dice")), "{rule:?}");
            }
            assert_eq!(rule.equal, ["namespace", "service"]);
        }
    }

    #[test]
    fn causes_silence_every_symptom_and_nothing_that_stands_alone() {
        let rules = inhibit_rules("dice");
        let cause = &rules[0];
        let names = |matchers: &[Matcher]| -> Vec<String> {
            matchers
                .iter()
                .filter(|m| m.name == "alertname")
                .flat_map(|m| m.value.split('|').map(str::to_owned).collect::<Vec<_>>())
                .collect()
        };
        assert_eq!(names(&cause.source_match), ["ServiceDown", "ServiceAbsent"]);
        let silenced = names(&cause.target_match);
        for symptom in [
            "ProbeFailing",
            "HighErrorRate",
            "SlowResponseTime",
            "AvailabilityErrorBudgetBurn",
            "LatencyErrorBudgetBurn",
        ] {
            assert!(silenced.contains(&symptom.to_owned()), "{silenced:?}");
        }
        for independent in ["HighMemoryUsage", "PodRestarting", "ServiceDown"] {
            assert!(!silenced.contains(&independent.to_owned()), "{silenced:?}");
        }
    }

    #[test]
    fn an_slo_page_silences_its_ticket_and_either_burn_the_threshold_alert() {
        let rules = inhibit_rules("dice");
        let from = |alert: &str| -> Vec<&InhibitRule> {
            rules
                .iter()
                .filter(|r| r.source_match.contains(&equal_to("alertname", alert)))
                .collect()
        };
        let availability = from("AvailabilityErrorBudgetBurn");
        assert_eq!(availability.len(), 2);
        let page = availability[0];
        assert!(page.source_match.contains(&equal_to(URGENCY, "page")));
        assert!(page.target_match.contains(&Matcher {
            name: URGENCY.into(),
            value: "page".into(),
            match_type: "!=".into(),
        }));
        let any_burn = availability[1];
        assert!(!any_burn.source_match.iter().any(|m| m.name == URGENCY));
        assert!(
            any_burn
                .target_match
                .contains(&equal_to("alertname", "HighErrorRate"))
        );
        let latency = from("LatencyErrorBudgetBurn");
        assert!(
            latency[1]
                .target_match
                .contains(&equal_to("alertname", "SlowResponseTime"))
        );
    }
}
