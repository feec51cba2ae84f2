//! "If my service breaks, does someone get paged?" — the full example DiceService rendered by
//! `dice-operator render`, run by real Prometheus, Alertmanager and blackbox exporter on
//! 127.0.0.1, broken by traffic, healed, then killed; Slack and PagerDuty are a capture receiver.

use dice_stack::capture::{Channel, Notification};
use dice_stack::processes::group_alive;
use dice_stack::stack::{PreferredPorts, poll_until};
use dice_stack::tools::{OwnBinaries, Tools};
use dice_stack::{Error, Result, Stack, StackOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The whole scenario, every step included, stays within this.
const BUDGET: Duration = Duration::from_secs(120);
/// The routing key of `fixtures/secrets.yaml`.
const ROUTING_KEY: &str = "e2e-routing-key-4f1c9a";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn options(tools: Tools, work_dir: &Path) -> Result<StackOptions> {
    let stack = Path::new(env!("CARGO_MANIFEST_DIR"));
    Ok(StackOptions {
        manifest: repo().join("manifests/examples/full.yaml"),
        overlays: vec![
            stack.join("local/fast.yaml"),
            stack.join("tests/fixtures/failing-risky.yaml"),
        ],
        extra_manifests: vec![stack.join("tests/fixtures/secrets.yaml")],
        work_dir: work_dir.to_path_buf(),
        binaries: OwnBinaries::in_dir(&OwnBinaries::build_dir()?)?,
        tools,
        evaluation_interval: "1s".into(),
        ports: PreferredPorts::default(),
        echo: false,
    })
}

fn slack(alert: &str, status: &str) -> impl Fn(&Notification) -> bool {
    let prefix = format!("[{}", status.to_uppercase());
    let alert = format!("] {alert} (");
    move |n| {
        n.channel == Channel::Slack
            && n.slack_title().starts_with(&prefix)
            && n.slack_title().contains(&alert)
    }
}

fn pagerduty(alert: &str, action: &str) -> impl Fn(&Notification) -> bool {
    move |n| {
        n.channel == Channel::PagerDuty
            && n.pagerduty_action() == action
            && n.pagerduty_detail("alertname") == alert
    }
}

async fn notification(
    stack: &Stack,
    deadline: Instant,
    what: &str,
    matches: impl Fn(&Notification) -> bool,
) -> Result<Notification> {
    poll_until(what, deadline, || async {
        stack
            .capture()
            .notifications()
            .into_iter()
            .find(|n| matches(n))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_dice_service_pages_someone_and_the_page_resolves() -> Result<()> {
    let tools = match Tools::find() {
        Ok(tools) => tools,
        Err(missing) => {
            println!(
                "SKIP: {} not installed (make test installs them as root)",
                missing.join(", ")
            );
            return Ok(());
        }
    };
    let work = tempfile::tempdir().map_err(|e| Error::Process(e.to_string()))?;
    let stack = Stack::start(options(tools, work.path())?).await?;
    let deadline = Instant::now() + BUDGET;
    let result = scenario(stack, deadline).await;
    if let Err(error) = &result {
        // Keep what a person needs to see why.
        let kept = work.keep();
        println!(
            "FAILED: {error}\nconfiguration and logs kept in {}",
            kept.display()
        );
    }
    result
}

async fn scenario(mut stack: Stack, deadline: Instant) -> Result<()> {
    let outcome = steps(&mut stack, deadline).await;
    println!("timeline:\n{}", stack.timeline.render());
    let groups = stack.stop();
    let survivors: Vec<u32> = groups.into_iter().filter(|g| group_alive(*g)).collect();
    assert!(
        survivors.is_empty(),
        "process groups left running: {survivors:?}"
    );
    outcome
}

async fn steps(stack: &mut Stack, deadline: Instant) -> Result<()> {
    let service = stack.services[0].clone();
    assert_eq!(
        (service.namespace.as_str(), service.name.as_str()),
        ("dice", "dice-full")
    );

    // The blackbox exporter reaches /health through the rendered Probe.
    let probe = "probe_success{job=\"dice-full-probe\",namespace=\"dice\"}";
    poll_until("probe_success == 1", deadline, || async {
        let samples = stack.prometheus.query(probe).await.ok()?;
        samples.iter().any(|s| s.value == 1.0).then_some(())
    })
    .await?;
    stack.timeline.mark("probe_success == 1 for /health");

    // An outage: every risky roll fails.
    stack.start_traffic(
        "risky",
        &[
            "--mix",
            "risky=1",
            "--requests",
            "150",
            "--rate",
            "25",
            "--users",
            "4",
        ],
    )?;
    let summary = stack
        .traffic_summary("risky", Duration::from_secs(30))
        .await?;
    assert_eq!(summary["requests"], 150);
    assert_eq!(
        summary["statuses"]["500"], 150,
        "every risky roll fails: {summary}"
    );

    let slack_firing = notification(
        stack,
        deadline,
        "Slack HighErrorRate firing",
        slack("HighErrorRate", "firing"),
    )
    .await?;
    assert_eq!(slack_firing.slack_channel(), "#dice-alerts");
    assert!(
        slack_firing
            .slack_title()
            .ends_with("(critical) dice/dice-full"),
        "{}",
        slack_firing.slack_title()
    );
    assert!(
        slack_firing
            .slack_text()
            .contains("*dice/dice-full: 100% of dice requests fail*"),
        "the summary annotation: {}",
        slack_firing.slack_text()
    );
    let page = notification(
        stack,
        deadline,
        "PagerDuty HighErrorRate trigger",
        pagerduty("HighErrorRate", "trigger"),
    )
    .await?;
    assert_eq!(page.body["routing_key"], ROUTING_KEY);
    assert_eq!(page.body["payload"]["severity"], "critical");
    assert_eq!(page.pagerduty_detail("namespace"), "dice");
    assert_eq!(page.pagerduty_detail("service"), "dice-full");
    assert!(
        page.pagerduty_detail("runbook_url")
            .ends_with("#higherrorrate")
    );

    // The errors stop: healthy traffic brings the 5-minute error ratio under 5% (150 errors
    // need about 3,000 good rolls).
    stack.start_traffic(
        "fair",
        &["--mix", "fair=1", "--requests", "6000", "--users", "8"],
    )?;
    let summary = stack
        .traffic_summary("fair", Duration::from_secs(60))
        .await?;
    assert_eq!(
        summary["statuses"]["200"], 6000,
        "fair rolls succeed: {summary}"
    );
    let resolved = notification(
        stack,
        deadline,
        "Slack HighErrorRate resolved",
        slack("HighErrorRate", "resolved"),
    )
    .await?;
    assert_eq!(resolved.slack_channel(), "#dice-alerts");
    let resolve = notification(
        stack,
        deadline,
        "PagerDuty HighErrorRate resolve",
        pagerduty("HighErrorRate", "resolve"),
    )
    .await?;
    assert_eq!(
        resolve.body["dedup_key"], page.body["dedup_key"],
        "the resolve closes the same incident"
    );

    // The service dies: ServiceDown pages.
    stack.kill(&service.process)?;
    let down = notification(
        stack,
        deadline,
        "PagerDuty ServiceDown trigger",
        pagerduty("ServiceDown", "trigger"),
    )
    .await?;
    assert_eq!(down.body["routing_key"], ROUTING_KEY);
    assert_eq!(down.body["payload"]["severity"], "critical");
    notification(
        stack,
        deadline,
        "Slack ServiceDown firing",
        slack("ServiceDown", "firing"),
    )
    .await?;
    let probe_down = stack.prometheus.query(probe).await?;
    assert!(
        probe_down.iter().all(|s| s.value == 0.0),
        "the probe sees the outage: {probe_down:?}"
    );
    Ok(())
}
