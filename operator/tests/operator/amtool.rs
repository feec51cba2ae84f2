//! The plain alertmanager.yml `render --alertmanager-config` writes, checked by the real
//! Alertmanager tool: it loads, and critical alerts route to PagerDuty and Slack, warnings to
//! Slack only, other services' alerts nowhere.

use std::process::Command;

fn amtool(args: &[&str]) -> String {
    let output = Command::new("amtool")
        .args(args)
        .output()
        .expect("amtool runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "amtool {args:?} failed:\n{stdout}{stderr}"
    );
    stdout.trim().to_owned()
}

fn amtool_installed() -> bool {
    let installed = Command::new("amtool").arg("--version").output().is_ok();
    if !installed {
        println!("SKIP: amtool is not installed");
    }
    installed
}

#[test]
fn rendered_alertmanager_config_loads_and_routes_by_severity() {
    if !amtool_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let example = crate::support::repo("manifests/examples/full.yaml");
    let output = crate::support::run_ok(
        Command::new(env!("CARGO_BIN_EXE_dice-operator"))
            .args(["render", "-f"])
            .arg(&example)
            .arg("--alertmanager-config")
            .args(["--pagerduty-url", "http://127.0.0.1:9/v2/enqueue"]),
    );
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(&config, &output.stdout).unwrap();
    let config = config.display().to_string();

    let check = amtool(&["check-config", &config]);
    println!("{check}");
    assert!(check.contains("SUCCESS"), "{check}");

    let route = |labels: &[&str]| {
        let mut args = vec!["config", "routes", "test", "--config.file", config.as_str()];
        args.extend_from_slice(labels);
        amtool(&args)
    };
    let ours = [
        "namespace=dice",
        "service=dice-full",
        "alertname=HighErrorRate",
    ];
    let critical = route(&[&ours[..], &["severity=critical"]].concat());
    assert_eq!(critical, "dice/dice-full/pagerduty,dice/dice-full/slack");
    let warning = route(&[&ours[..], &["severity=warning"]].concat());
    assert_eq!(warning, "dice/dice-full/slack");
    let elsewhere = route(&["namespace=other", "service=dice-full", "severity=critical"]);
    assert_eq!(
        elsewhere, "null",
        "the route is scoped to the DiceService's namespace"
    );
}

/// A Slack URL Secret written with `echo` ends in a newline; the Prometheus Operator trims it,
/// and so does `render`. The inhibition rules carry the namespace matcher on both sides.
#[test]
fn a_secret_url_with_a_trailing_newline_loads_and_inhibition_stays_in_the_namespace() {
    if !amtool_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let full =
        std::fs::read_to_string(crate::support::repo("manifests/examples/full.yaml")).unwrap();
    let url = "https://hooks.slack.com/services/REPLACE/ME/PLEASE";
    let with_newline = full.replace(
        &format!("webhook-url: {url}"),
        &format!("webhook-url: \"{url}\\n\""),
    );
    assert_ne!(
        with_newline, full,
        "the example's Slack Secret changed shape"
    );
    let manifest = dir.path().join("full.yaml");
    std::fs::write(&manifest, with_newline).unwrap();
    let output = crate::support::run_ok(
        Command::new(env!("CARGO_BIN_EXE_dice-operator"))
            .args(["render", "--alertmanager-config", "-f"])
            .arg(&manifest),
    );
    let rendered: serde_yaml::Value = serde_yaml::from_slice(&output.stdout).unwrap();
    let slack = &rendered["receivers"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "dice/dice-full/slack")
        .unwrap()["slack_configs"][0];
    assert_eq!(slack["api_url"].as_str(), Some(url));
    let inhibit = rendered["inhibit_rules"].as_sequence().unwrap();
    assert_eq!(
        inhibit.len(),
        5,
        "causes, then per SLO its page and either burn"
    );
    for rule in inhibit {
        for side in ["source_matchers", "target_matchers"] {
            let matchers: Vec<&str> = rule[side]
                .as_sequence()
                .unwrap()
                .iter()
                .filter_map(|m| m.as_str())
                .collect();
            assert!(
                matchers.contains(&"namespace=\"dice\""),
                "{side}: {matchers:?}"
            );
            assert!(
                matchers.contains(&"service=\"dice-full\""),
                "{side}: {matchers:?}"
            );
        }
    }
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(&config, &output.stdout).unwrap();
    let check = amtool(&["check-config", &config.display().to_string()]);
    assert!(check.contains("SUCCESS"), "{check}");
}
