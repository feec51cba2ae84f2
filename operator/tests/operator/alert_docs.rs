//! `docs/alerts.md` and `docs/runbooks.md` from the rule builder, the alert catalog and the
//! inhibition rules: which alert answers which failure, who it notifies, what it silences, and
//! how to act. `make generate` rewrites them; otherwise drift fails.

use crate::docs::{cell, check};
use dice_operator::children::alertmanager_config::inhibit_rules;
use dice_operator::children::rules::catalog::GeneratedAlert;
use dice_operator::crd::RulesSpec;
use dice_operator::prometheus_operator::{InhibitRule, Matcher, Rule};
use dice_operator::validate::monitoring::prometheus_seconds;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Every default, plus the probe and both SLOs; the default-spec promtool tests use it too.
const DEFAULT_SPEC: &str = include_str!("../promtool/defaults/diceservice.yaml");
/// Alertmanager's wait before a new group's first notification (`spec.alerting.groupWait`).
const GROUP_WAIT_SECONDS: u64 = 30;

fn alert_rules() -> Vec<Rule> {
    crate::alert_rules::alert_rules_of(DEFAULT_SPEC)
}

/// The labels Alertmanager sees on `rule`'s alerts (the static ones are all inhibition reads).
fn labels(rule: &Rule) -> BTreeMap<String, String> {
    let mut labels = rule.labels.clone();
    labels.insert("alertname".into(), rule.alert.clone().unwrap());
    labels
}

fn matches(matcher: &Matcher, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&matcher.name).map(String::as_str).unwrap_or("");
    match matcher.match_type.as_str() {
        "=" => value == matcher.value,
        "!=" => value != matcher.value,
        // The operator's regex matchers are alternations of names.
        "=~" => matcher.value.split('|').any(|v| v == value),
        other => panic!("unexpected matcher type {other}"),
    }
}

fn all_match(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| matches(m, labels))
}

/// `"AvailabilityErrorBudgetBurn (page)"`, `"ServiceDown"`.
fn display(rule: &Rule) -> String {
    let name = rule.alert.clone().unwrap();
    match rule.labels.get("urgency") {
        Some(urgency) => format!("{name} ({urgency})"),
        None => name,
    }
}

fn minutes(total: u64) -> String {
    match (total / 60, total % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

fn notifies(severity: &str) -> &'static str {
    match severity {
        "critical" => "PagerDuty + Slack",
        "warning" | "info" => "Slack",
        _ => "nobody",
    }
}

/// For each alert (by display name), the alerts it silences while firing.
fn silences(rules: &[Rule], inhibit: &[InhibitRule]) -> BTreeMap<String, BTreeSet<String>> {
    let mut silenced: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in rules {
        for target in rules {
            let (s, t) = (labels(source), labels(target));
            if s != t
                && inhibit
                    .iter()
                    .any(|r| all_match(&r.source_match, &s) && all_match(&r.target_match, &t))
            {
                silenced
                    .entry(display(source))
                    .or_default()
                    .insert(display(target));
            }
        }
    }
    silenced
}

#[test]
fn alerts_reference_matches_the_rule_builder() {
    let rules = alert_rules();
    let inhibit = inhibit_rules("dice");
    let silenced = silences(&rules, &inhibit);
    let mut out = String::new();
    out.push_str(include_str!("alert_docs_intro.md"));
    writeln!(out, "## Which alert answers which failure\n").unwrap();
    out.push_str(
        "Times are the longest from the failure to the first notification with every default\n\
         (30s scrapes, probes and rule evaluations, 5s samples, `groupWait` 30s): detection, then\n\
         `for`, then the group wait.\n\n",
    );
    writeln!(
        out,
        "| failure | alert | severity | notifies | first notification | while firing, silences |"
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|---|").unwrap();
    let mut seen = BTreeSet::new();
    for alert in GeneratedAlert::all() {
        let entry = alert.entry();
        for rule in rules
            .iter()
            .filter(|r| r.alert.as_deref() == Some(alert.name()))
        {
            let shown = display(rule);
            if !seen.insert(shown.clone()) {
                continue; // a second form of the same alert (e.g. memory without a limit)
            }
            let severity = &rule.labels["severity"];
            let for_ = rule.for_.as_deref().unwrap_or("0s");
            let for_seconds = prometheus_seconds(for_).unwrap() as u64;
            let total = entry.detection_seconds + for_seconds + GROUP_WAIT_SECONDS;
            let quiet = silenced
                .get(&shown)
                .map(|s| s.iter().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_else(|| "–".into());
            writeln!(
                out,
                "| {} | [`{shown}`](runbooks.md#{}) | {severity} | {} | ≤ {} ({}, for {for_}) | {quiet} |",
                cell(entry.failure),
                alert.name().to_lowercase(),
                notifies(severity),
                minutes(total),
                cell(entry.detection),
            )
            .unwrap();
        }
    }
    assert_eq!(
        seen.len(),
        GeneratedAlert::all().len() + 2,
        "every alert is generated for the default spec (burn alerts twice: page and ticket)"
    );
    writeln!(out, "\n## Inhibition rules\n").unwrap();
    out.push_str(
        "In the AlertmanagerConfig (`spec.inhibitRules`) and in `render --alertmanager-config`.\n\
         Every rule matches the DiceService's own `service` on both sides and requires equal\n\
         `namespace` and `service`, and the Prometheus Operator adds the AlertmanagerConfig's\n\
         namespace to both: nothing is silenced across services or namespaces.\n\n",
    );
    writeln!(out, "| while this fires | these stay silent | when equal |").unwrap();
    writeln!(out, "|---|---|---|").unwrap();
    let show = |matchers: &[Matcher]| {
        matchers
            .iter()
            .map(|m| cell(&format!("`{}{}\"{}\"`", m.name, m.match_type, m.value)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for rule in &inhibit {
        writeln!(
            out,
            "| {} | {} | {} |",
            show(&rule.source_match),
            show(&rule.target_match),
            rule.equal.join(", ")
        )
        .unwrap();
    }
    writeln!(out, "\n## Rules\n").unwrap();
    writeln!(out, "| alert | severity | for | fires when |").unwrap();
    writeln!(out, "|---|---|---|---|").unwrap();
    for rule in &rules {
        writeln!(
            out,
            "| `{}` | {} | {} | `{}` |",
            display(rule),
            rule.labels["severity"],
            rule.for_.as_deref().unwrap_or("0s"),
            cell(&rule.expr),
        )
        .unwrap();
    }
    check("docs/alerts.md", &out);
}

#[test]
fn runbooks_match_the_alert_catalog() {
    let rules = alert_rules();
    let inhibit = inhibit_rules("dice");
    let silenced = silences(&rules, &inhibit);
    let mut silenced_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (source, targets) in &silenced {
        for target in targets {
            silenced_by
                .entry(target.clone())
                .or_default()
                .insert(source.clone());
        }
    }
    let mut out = String::new();
    out.push_str(include_str!("runbooks_intro.md"));
    for alert in GeneratedAlert::all() {
        let name = alert.name();
        writeln!(out, "\n## {name}\n").unwrap();
        let forms: Vec<&Rule> = rules
            .iter()
            .filter(|r| r.alert.as_deref() == Some(name))
            .collect();
        let mut facts = BTreeSet::new();
        for rule in &forms {
            let shown = display(rule);
            facts.insert(format!(
                "- `{shown}`: {}, `for` {}; silences {}; silenced by {}.",
                rule.labels["severity"],
                rule.for_.as_deref().unwrap_or("0s"),
                list(silenced.get(&shown)),
                list(silenced_by.get(&shown)),
            ));
        }
        writeln!(
            out,
            "*Failure:* {}. With the defaults:\n",
            alert.entry().failure
        )
        .unwrap();
        for fact in facts {
            writeln!(out, "{fact}").unwrap();
        }
        writeln!(out, "\n{}", alert.entry().runbook.trim_end()).unwrap();
    }
    check("docs/runbooks.md", &out);
}

fn list(names: Option<&BTreeSet<String>>) -> String {
    match names {
        Some(names) if !names.is_empty() => names.iter().cloned().collect::<Vec<_>>().join(", "),
        _ => "nothing".into(),
    }
}

/// The alert table in docs/operator.md, between its `<!-- alerts -->` markers.
#[test]
fn the_operator_pages_alert_table_matches_the_defaults() {
    let mut table = String::new();
    writeln!(
        table,
        "| alert (`spec.monitoring.rules.…`) | threshold | default |"
    )
    .unwrap();
    writeln!(table, "|---|---|---|").unwrap();
    for (name, _) in RulesSpec::default().alerts() {
        let defaults = name.defaults();
        let (threshold, for_) = (defaults.threshold, defaults.for_);
        let entry = GeneratedAlert::Rule(name).entry();
        let value = match entry.threshold {
            Some(_) => format!("{threshold} for {for_}"),
            None => format!("for {for_}"),
        };
        writeln!(
            table,
            "| `{}` (`{}`) | {} | {value}, {} |",
            name.as_str(),
            name.field(),
            entry.threshold.unwrap_or("unused"),
            defaults.severity.as_str()
        )
        .unwrap();
    }
    check_section("docs/operator.md", "alerts", &table);
}

/// Replaces what lies between `<!-- name -->` and `<!-- /name -->` in a hand-written page.
fn check_section(relative: &str, name: &str, generated: &str) {
    let path = crate::support::repo(relative);
    let page = std::fs::read_to_string(&path).unwrap();
    let (open, close) = (format!("<!-- {name} -->\n"), format!("<!-- /{name} -->"));
    let start = page.find(&open).expect("the opening marker") + open.len();
    let end = page.find(&close).expect("the closing marker");
    let updated = format!("{}{generated}{}", &page[..start], &page[end..]);
    check(relative, &updated);
}
