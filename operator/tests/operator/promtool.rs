//! The generated rules with the real Prometheus tools: `promtool check rules` on every example,
//! and `promtool test rules` unit tests that prove when the alerts fire — and when they do not:
//! operator/tests/promtool/*.yaml for the full example, operator/tests/promtool/defaults/ for
//! the default spec, where every generated alert must have both.

use crate::support::repo;
use dice_operator::children::rules::catalog::GeneratedAlert;
use dice_operator::render::render_manifest;
use dice_operator::validate::Defaults;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn promtool_installed() -> bool {
    Command::new("promtool").arg("--version").output().is_ok()
}

/// The rule file (`groups:`) of every DiceService in an example.
fn rule_files(example: &str) -> Vec<String> {
    let manifest =
        std::fs::read_to_string(repo(&format!("manifests/examples/{example}.yaml"))).unwrap();
    render_manifest(&manifest, &Defaults::with_image("dice-server:test"))
        .unwrap()
        .into_iter()
        .filter_map(|(_, children)| children.prometheus_rule)
        .map(|rule| serde_yaml::to_string(&rule.spec).unwrap())
        .collect()
}

fn promtool(args: &[&str], dir: &Path) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn every_example_rule_file_passes_promtool_check_rules() {
    if !promtool_installed() {
        println!("SKIP: promtool is not installed");
        return;
    }
    let dir = tempdir("check");
    let mut checked = 0;
    for example in ["minimal", "full", "gpu"] {
        for (index, rules) in rule_files(example).into_iter().enumerate() {
            let file = format!("{example}-{index}.yaml");
            std::fs::write(dir.join(&file), rules).unwrap();
            let report = promtool(&["check", "rules", &file], &dir);
            println!("{report}");
            assert!(report.contains("SUCCESS"), "{report}");
            checked += 1;
        }
    }
    assert_eq!(checked, 3);
}

/// Each unit-test file reads the full example's rules as `rules.yaml`.
#[test]
fn alerts_fire_when_and_only_when_they_should() {
    if !promtool_installed() {
        println!("SKIP: promtool is not installed");
        return;
    }
    let dir = tempdir("test");
    std::fs::write(dir.join("rules.yaml"), &rule_files("full")[0]).unwrap();
    let tests = repo("operator/tests/promtool");
    let mut files: Vec<String> = std::fs::read_dir(&tests)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "unit tests found: {files:?}");
    for file in &files {
        std::fs::copy(tests.join(file), dir.join(file)).unwrap();
    }
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    let report = promtool(&args, &dir);
    println!("{report}");
    assert_eq!(report.matches("SUCCESS").count(), files.len(), "{report}");
}

/// The default spec's rules, unit-tested: every generated alert has a case where it fires at
/// its default threshold and one where it stays silent, and all of them pass.
#[test]
fn every_alert_fires_at_its_default_threshold_and_stays_silent_below_it() {
    let defaults = repo("operator/tests/promtool/defaults");
    let tests = std::fs::read_to_string(defaults.join("alerts.yaml")).unwrap();
    let parsed: serde_yaml::Value = serde_yaml::from_str(&tests).unwrap();
    let mut fires = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for case in parsed["tests"].as_sequence().unwrap() {
        for check in case["alert_rule_test"].as_sequence().into_iter().flatten() {
            let name = check["alertname"].as_str().unwrap().to_owned();
            let expected = check["exp_alerts"].as_sequence().map_or(0, Vec::len);
            if expected == 0 {
                silent.insert(name);
            } else {
                fires.insert(name);
            }
        }
    }
    for alert in GeneratedAlert::all() {
        let name = alert.name().to_owned();
        assert!(
            fires.contains(&name),
            "no default-spec case where {name} fires"
        );
        assert!(
            silent.contains(&name),
            "no default-spec case where {name} stays silent"
        );
    }
    if !promtool_installed() {
        println!("SKIP: promtool is not installed");
        return;
    }
    let manifest = std::fs::read_to_string(defaults.join("diceservice.yaml")).unwrap();
    let rule = render_manifest(&manifest, &Defaults::with_image("dice-server:test")).unwrap()[0]
        .1
        .prometheus_rule
        .clone()
        .unwrap();
    let dir = tempdir("defaults");
    std::fs::write(
        dir.join("rules.yaml"),
        serde_yaml::to_string(&rule.spec).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("alerts.yaml"), tests).unwrap();
    let report = promtool(&["test", "rules", "alerts.yaml"], &dir);
    println!("{report}");
    assert!(report.contains("SUCCESS"), "{report}");
}

fn tempdir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dice-promtool-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
