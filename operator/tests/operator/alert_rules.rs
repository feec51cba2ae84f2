//! What a DiceService author controls on the generated alerts: routing labels on every alert,
//! the SLO alerts' severities, and which alerts exist for their spec — and what they may not
//! set, refused with a message naming it.

use dice_operator::prometheus_operator::Rule;
use dice_operator::render::render_manifest;
use dice_operator::validate::Defaults;

fn manifest(spec: &str) -> String {
    format!(
        "apiVersion: dice.dev/v1alpha1\nkind: DiceService\nmetadata:\n  name: dice\n  namespace: team-a\nspec:\n{spec}"
    )
}

fn alerts(spec: &str) -> Vec<Rule> {
    alert_rules_of(&manifest(spec))
}

/// The alerting rules `render` makes of the first DiceService in `manifest`.
pub fn alert_rules_of(manifest: &str) -> Vec<Rule> {
    let rendered = render_manifest(manifest, &Defaults::with_image("dice:test")).unwrap();
    let rule = rendered[0].1.prometheus_rule.clone().unwrap();
    rule.spec
        .groups
        .into_iter()
        .flat_map(|g| g.rules)
        .filter(|r| r.alert.is_some())
        .collect()
}

fn refusal(spec: &str) -> String {
    match render_manifest(&manifest(spec), &Defaults::with_image("dice:test")) {
        Ok(_) => panic!("the spec is admitted: {spec}"),
        Err(error) => error.to_string(),
    }
}

const ROUTED: &str = "  monitoring:\n    alertLabels:\n      team: payments\n      tier: \"1\"\n    probe:\n      enabled: true\n    slo:\n      availability:\n        objective: 99.9\n        pageSeverity: warning\n        ticketSeverity: info\n      latency:\n        objective: 99\n        threshold: 500ms\n";

#[test]
fn routing_labels_reach_every_alert() {
    let alerts = alerts(ROUTED);
    assert!(alerts.len() >= 11, "{}", alerts.len());
    for alert in &alerts {
        assert_eq!(alert.labels["team"], "payments", "{:?}", alert.alert);
        assert_eq!(alert.labels["tier"], "1", "{:?}", alert.alert);
        assert_eq!(alert.labels["service"], "dice");
        assert_eq!(alert.labels["namespace"], "team-a");
    }
}

#[test]
fn slo_severities_follow_the_spec_and_urgency_tells_page_from_ticket() {
    let alerts = alerts(ROUTED);
    let burn = |name: &str, urgency: &str| -> String {
        alerts
            .iter()
            .find(|a| {
                a.alert.as_deref() == Some(name)
                    && a.labels.get("urgency").map(String::as_str) == Some(urgency)
            })
            .map(|a| a.labels["severity"].clone())
            .unwrap_or_default()
    };
    assert_eq!(burn("AvailabilityErrorBudgetBurn", "page"), "warning");
    assert_eq!(burn("AvailabilityErrorBudgetBurn", "ticket"), "info");
    assert_eq!(burn("LatencyErrorBudgetBurn", "page"), "critical");
    assert_eq!(burn("LatencyErrorBudgetBurn", "ticket"), "warning");
}

#[test]
fn alerts_exist_only_where_they_can_mean_something() {
    let names =
        |spec: &str| -> Vec<String> { alerts(spec).into_iter().filter_map(|a| a.alert).collect() };
    let defaults = names("  replicas: 2\n");
    assert!(defaults.contains(&"ServiceAbsent".to_owned()));
    assert!(
        !defaults.contains(&"ProbeFailing".to_owned()),
        "no probe, no probe alert"
    );
    assert!(names(ROUTED).contains(&"ProbeFailing".to_owned()));
    let scaled_to_zero = names("  replicas: 0\n");
    assert!(
        !scaled_to_zero.contains(&"ServiceAbsent".to_owned()),
        "0 replicas asked for: no target is expected"
    );
}

#[test]
fn only_causes_keep_firing_after_recovery() {
    for alert in alerts(ROUTED) {
        let name = alert.alert.clone().unwrap();
        match name.as_str() {
            // The defaults: 30s scrapes and probes.
            "ServiceDown" | "ServiceAbsent" => {
                assert_eq!(alert.keep_firing_for.as_deref(), Some("90s"), "{name}")
            }
            _ => assert_eq!(alert.keep_firing_for, None, "{name}"),
        }
    }
}

#[test]
fn labels_the_alerts_carry_and_template_braces_are_refused_with_a_message() {
    let reserved = refusal("  monitoring:\n    alertLabels:\n      severity: low\n");
    assert!(
        reserved.contains("alertLabels may not set alertname, severity"),
        "{reserved}"
    );
    let braces = refusal("  monitoring:\n    alertLabels:\n      team: \"{{ $labels.job }}\"\n");
    assert!(braces.contains("may not contain {{ or }}"), "{braces}");
    let syntax = refusal("  monitoring:\n    alertLabels:\n      team-name: payments\n");
    assert!(syntax.contains("not a Prometheus label name"), "{syntax}");
    let memory =
        refusal("  monitoring:\n    rules:\n      highMemoryUsage:\n        threshold: 200\n");
    assert!(memory.contains("thresholdWithoutLimitMiB"), "{memory}");
}
