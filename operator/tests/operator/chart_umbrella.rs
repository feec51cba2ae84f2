//! The chart as others consume it: a dependency of an umbrella chart (how Argo CD and Flux
//! users install operators), and its own alerts' runbook links.

use crate::chart::{FULL_VALUES, chart, documents, helm, operator_env, template};
use crate::support::repo;
use std::process::Command;

/// A parent chart that depends on this one by path, with `global` values set, renders; a typo
/// under the subchart's key is still refused, so the schema stays strict below `global`.
#[test]
fn the_chart_renders_as_a_subchart_with_globals_and_its_schema_stays_strict_there() {
    let Some(helm) = helm() else { return };
    let parent = tempfile::tempdir().unwrap();
    let charts = parent.path().join("charts");
    std::fs::create_dir(&charts).unwrap();
    // A copy rather than a `file://` dependency: `helm dependency build` would write into ours.
    let copied = Command::new("cp")
        .arg("-r")
        .arg(chart())
        .arg(charts.join("dice-operator"))
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::write(
        parent.path().join("Chart.yaml"),
        "apiVersion: v2\nname: platform\nversion: 1.0.0\ndependencies:\n  - name: dice-operator\n    version: \">=0.0.0-0\"\n",
    )
    .unwrap();
    let render = |values: &str| {
        let file = parent.path().join("values.yaml");
        std::fs::write(&file, values).unwrap();
        let output = Command::new(&helm)
            .args(["template", "platform"])
            .arg(parent.path())
            .args(["--namespace", "platform", "-f"])
            .arg(&file)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = render(
        "global:\n  imageRegistry: registry.example\n  storageClass: fast\ndice-operator:\n  concurrency: 8\n",
    );
    assert!(ok, "{stderr}");
    let objects = documents(&stdout);
    assert_eq!(
        operator_env(&objects, "DICE_OPERATOR_CONCURRENCY"),
        Some("8".into()),
        "the subchart's own values reach it"
    );
    let (ok, _, stderr) = render("dice-operator:\n  concurrencyy: 8\n");
    assert!(!ok, "a typo below the subchart key must be refused");
    assert!(stderr.contains("concurrencyy"), "{stderr}");
}

/// Every alert of the chart links to a runbook section that exists.
#[test]
fn the_charts_own_alerts_link_to_runbooks_that_exist() {
    let Some(helm) = helm() else { return };
    let full = chart().join(FULL_VALUES);
    let objects = documents(&template(&helm, &["-f", full.to_str().unwrap()]).unwrap());
    let rule = objects
        .iter()
        .find(|o| o["kind"] == "PrometheusRule")
        .expect("the full values render the operator's PrometheusRule");
    let runbooks = std::fs::read_to_string(repo("docs/operator-runbooks.md")).unwrap();
    let anchors: Vec<String> = runbooks
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(str::to_lowercase)
        .collect();
    let mut alerts = 0;
    for rule in rule["spec"]["groups"][0]["rules"].as_array().unwrap() {
        let alert = rule["alert"].as_str().unwrap();
        let url = rule["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_else(|| panic!("{alert} has no runbook_url"));
        let (page, anchor) = url.split_once('#').unwrap();
        assert!(page.ends_with("docs/operator-runbooks.md"), "{url}");
        assert_eq!(anchor, alert.to_lowercase());
        assert!(anchors.iter().any(|a| a == anchor), "no section {anchor}");
        alerts += 1;
    }
    assert_eq!(alerts, 2);
    let moved = template(
        &helm,
        &[
            "-f",
            full.to_str().unwrap(),
            "--set",
            "prometheusRule.runbookBaseUrl=https://wiki.example/ops",
        ],
    )
    .unwrap();
    assert!(moved.contains("https://wiki.example/ops#diceoperatordown"));
}
