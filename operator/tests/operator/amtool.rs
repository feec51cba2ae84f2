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

#[test]
fn rendered_alertmanager_config_loads_and_routes_by_severity() {
    if Command::new("amtool").arg("--version").output().is_err() {
        println!("SKIP: amtool is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("dice-amtool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let example = format!(
        "{}/../manifests/examples/full.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = crate::support::run_ok(
        Command::new(env!("CARGO_BIN_EXE_dice-operator"))
            .args(["render", "-f", &example, "--alertmanager-config"])
            .args(["--pagerduty-url", "http://127.0.0.1:9/v2/enqueue"]),
    );
    let config = dir.join("alertmanager.yml");
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
    let _ = std::fs::remove_dir_all(&dir);
}
