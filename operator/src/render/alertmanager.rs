//! `render --alertmanager-config`: the AlertmanagerConfigs as one plain `alertmanager.yml`, for
//! Alertmanagers the Prometheus Operator does not run. The translation mirrors the Prometheus
//! Operator's: each object becomes a sub-route matching its namespace, receivers are named
//! `<namespace>/<name>/<receiver>`, and Secret references are resolved to values.

use super::error::{RenderError, Result};
use crate::children::alertmanager_config::GROUP_BY;
use crate::prometheus_operator::{
    AlertmanagerConfig, InhibitRule, Matcher, Route, SecretKeySelector,
};
use kube::ResourceExt;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Where Secret values come from: the command line first, then Secrets in the rendered
/// manifest (keyed by namespace, name and key).
#[derive(Debug, Clone, Default)]
pub struct SecretValues {
    pub slack_api_url: Option<String>,
    pub pagerduty_routing_key: Option<String>,
    /// PagerDuty Events API endpoint; Alertmanager's default when unset.
    pub pagerduty_url: Option<String>,
    pub from_manifest: BTreeMap<(String, String, String), String>,
}

impl SecretValues {
    fn resolve(
        &self,
        namespace: &str,
        selector: &SecretKeySelector,
        flag: Option<&String>,
        flag_name: &str,
    ) -> Result<String> {
        if let Some(value) = flag {
            return Ok(value.clone());
        }
        let key = (
            namespace.to_owned(),
            selector.name.clone(),
            selector.key.clone(),
        );
        self.from_manifest.get(&key).cloned().ok_or_else(|| {
            RenderError::Parse(format!(
                "Secret {namespace}/{} key {:?} is neither in the manifest nor given with \
                 --{flag_name} or --{flag_name}-file",
                selector.name, selector.key
            ))
        })
    }
}

/// The plain Alertmanager configuration for every AlertmanagerConfig given.
pub fn alertmanager_yml(configs: &[AlertmanagerConfig], secrets: &SecretValues) -> Result<String> {
    let mut routes = Vec::new();
    let mut inhibit_rules = Vec::new();
    let mut receivers = vec![json!({"name": "null"})];
    for config in configs {
        let namespace = config.namespace().unwrap_or_default();
        let prefix = format!("{namespace}/{}", config.name_any());
        let mut route = route(&config.spec.route, &prefix);
        // The Prometheus Operator scopes every AlertmanagerConfig to its namespace.
        if let Some(matchers) = route["matchers"].as_array_mut() {
            matchers.insert(0, Value::String(format!("namespace=\"{namespace}\"")));
        }
        routes.push(route);
        inhibit_rules.extend(
            config
                .spec
                .inhibit_rules
                .iter()
                .map(|rule| inhibit_rule(rule, &namespace)),
        );
        for receiver in &config.spec.receivers {
            let mut plain = Map::new();
            plain.insert("name".into(), format!("{prefix}/{}", receiver.name).into());
            let slack: Vec<Value> = receiver
                .slack_configs
                .iter()
                .map(|slack| {
                    let flag = secrets.slack_api_url.as_ref();
                    let url = secrets.resolve(&namespace, &slack.api_url, flag, "slack-api-url")?;
                    // The Prometheus Operator trims URLs read from Secrets (a file written
                    // with `echo` ends in a newline); routing keys it takes as they are.
                    Ok(json!({
                        "api_url": url.trim(),
                        "channel": slack.channel,
                        "send_resolved": slack.send_resolved,
                        "title": slack.title,
                        "text": slack.text,
                    }))
                })
                .collect::<Result<_>>()?;
            let pagerduty: Vec<Value> = receiver
                .pagerduty_configs
                .iter()
                .map(|pd| {
                    let flag = secrets.pagerduty_routing_key.as_ref();
                    let key = secrets.resolve(
                        &namespace,
                        &pd.routing_key,
                        flag,
                        "pagerduty-routing-key",
                    )?;
                    let details: Map<String, Value> = pd
                        .details
                        .iter()
                        .map(|kv| (kv.key.clone(), Value::String(kv.value.clone())))
                        .collect();
                    let mut plain = json!({
                        "routing_key": key,
                        "send_resolved": pd.send_resolved,
                        "severity": pd.severity,
                        "description": pd.description,
                        "details": details,
                    });
                    if let Some(url) = &secrets.pagerduty_url {
                        plain["url"] = Value::String(url.clone());
                    }
                    Ok(plain)
                })
                .collect::<Result<_>>()?;
            if !slack.is_empty() {
                plain.insert("slack_configs".into(), Value::Array(slack));
            }
            if !pagerduty.is_empty() {
                plain.insert("pagerduty_configs".into(), Value::Array(pagerduty));
            }
            receivers.push(Value::Object(plain));
        }
    }
    let mut document = json!({
        "route": {
            "receiver": "null",
            "group_by": GROUP_BY,
            "routes": routes,
        },
        "receivers": receivers,
    });
    if !inhibit_rules.is_empty() {
        document["inhibit_rules"] = Value::Array(inhibit_rules);
    }
    crate::yaml::to_string(&document).map_err(|e| RenderError::Serialize(e.to_string()))
}

fn route(route: &Route, prefix: &str) -> Value {
    let mut plain = Map::new();
    plain.insert(
        "receiver".into(),
        format!("{prefix}/{}", route.receiver).into(),
    );
    plain.insert(
        "matchers".into(),
        Value::Array(route.matchers.iter().map(matcher).collect()),
    );
    if !route.group_by.is_empty() {
        plain.insert("group_by".into(), json!(route.group_by));
    }
    for (key, value) in [
        ("group_wait", &route.group_wait),
        ("group_interval", &route.group_interval),
        ("repeat_interval", &route.repeat_interval),
    ] {
        if let Some(value) = value {
            plain.insert(key.into(), Value::String(value.clone()));
        }
    }
    if route.r#continue {
        plain.insert("continue".into(), Value::Bool(true));
    }
    if !route.routes.is_empty() {
        let children = route
            .routes
            .iter()
            .map(|r| self::route(r, prefix))
            .collect();
        plain.insert("routes".into(), Value::Array(children));
    }
    Value::Object(plain)
}

/// As the Prometheus Operator does, both sides also match the AlertmanagerConfig's namespace, so
/// one namespace's alerts never silence another's.
fn inhibit_rule(rule: &InhibitRule, namespace: &str) -> Value {
    let namespace = Value::String(format!("namespace=\"{namespace}\""));
    let side = |matchers: &[Matcher]| -> Vec<Value> {
        matchers
            .iter()
            .map(matcher)
            .chain(std::iter::once(namespace.clone()))
            .collect()
    };
    json!({
        "source_matchers": side(&rule.source_match),
        "target_matchers": side(&rule.target_match),
        "equal": rule.equal,
    })
}

fn matcher(matcher: &Matcher) -> Value {
    let value = matcher.value.replace('\\', "\\\\").replace('"', "\\\"");
    Value::String(format!("{}{}\"{value}\"", matcher.name, matcher.match_type))
}
