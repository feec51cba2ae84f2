//! "If my service breaks, does the right person get exactly one page?" — each way a service
//! really breaks, injected for real into its own stack (dice-server, Prometheus, Alertmanager,
//! blackbox exporter, configured from `dice-operator render` of the full example): which
//! receivers got which alerts, once each, what stayed silent, and the resolve after recovery.

use super::live::{Live, MEMORY_AT_REST, MIB, Notice, ROUTING_KEY, page, slack_warning};
use dice_stack::capture::Channel;
use dice_stack::faults::{probe_elsewhere, without_scrape_target};
use dice_stack::{Error, Result, ports};
use std::time::Duration;

/// Runs a row: start its stack, run `steps`, always stop the stack.
macro_rules! row {
    ($name:literal, $overlay:expr, $steps:ident) => {{
        let Some(mut live) = Live::start($name, $overlay).await? else {
            return Ok(());
        };
        let outcome = $steps(&mut live).await;
        live.finish(outcome)
    }};
}

async fn traffic(
    live: &mut Live,
    name: &str,
    args: &[&str],
    timeout: u64,
) -> Result<serde_json::Value> {
    live.stack.start_traffic(name, args)?;
    live.stack
        .traffic_summary(name, Duration::from_secs(timeout))
        .await
}

const NOTHING: &str = "spec: {}\n";

/// A burn's page fired and resolved once; its ticket, silenced while the page fired, may
/// speak once afterwards for the budget already spent (the page's resolve and the ticket's first
/// notice leave in the same group interval).
async fn assert_burn_notified(live: &Live, alert: &'static str, page_resolved: f64) -> Result<()> {
    let ticket = slack_warning(alert);
    let tickets: Vec<f64> = live
        .stack
        .capture()
        .notifications()
        .iter()
        .filter(|n| {
            n.channel == Channel::Slack && n.slack_title().contains(&format!("{alert} (warning)"))
        })
        .map(|n| n.at_seconds)
        .collect();
    if let Some(early) = tickets
        .iter()
        .find(|at| **at + GROUP_INTERVAL < page_resolved)
    {
        return Err(Error::Process(format!(
            "the {alert} ticket notified at +{early:.1}s while the page fired (resolved at +{page_resolved:.1}s)"
        )));
    }
    let mut expected: Vec<(Notice, bool)> = page(alert).iter().map(|n| (*n, true)).collect();
    if !tickets.is_empty() {
        expected.push((ticket, true));
    }
    live.assert_notified(&expected).await?;
    Ok(())
}
/// `alerting.groupInterval` of stack/local/fast.yaml, in seconds.
const GROUP_INTERVAL: f64 = 1.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_burst_pages_once_through_the_availability_slo() -> Result<()> {
    row!(
        "error burst",
        "spec:\n  dice:\n    riskyErrorRate: 1\n",
        error_burst
    )
}

async fn error_burst(live: &mut Live) -> Result<()> {
    // Spread over a few scrapes: a counter's first scraped value is not counted as an increase.
    let failed = live.mark("failure: 10 risky rolls in 2s, all failing");
    let summary = traffic(
        live,
        "risky",
        &[
            "--mix",
            "risky=1",
            "--requests",
            "10",
            "--rate",
            "5",
            "--users",
            "1",
        ],
        30,
    )
    .await?;
    assert_eq!(
        summary["statuses"]["500"], 10,
        "every risky roll fails: {summary}"
    );
    let burn = page("AvailabilityErrorBudgetBurn");
    live.time_to_notify(failed, &burn).await?;

    let incident = live.wait_notice(burn[0], true).await?;
    assert_eq!(incident.body["routing_key"], ROUTING_KEY);
    let labels = incident.pagerduty_detail("labels");
    for label in [
        "team=payments",
        "tier=1",
        "slo=availability",
        "urgency=page",
    ] {
        assert!(
            labels.contains(label),
            "routing labels reach PagerDuty: {labels}"
        );
    }
    assert!(
        incident
            .pagerduty_detail("runbook_url")
            .ends_with("#availabilityerrorbudgetburn")
    );
    let slack = live.wait_notice(burn[1], true).await?;
    assert_eq!(slack.slack_channel(), "#dice-alerts");

    // The same errors raise the threshold alert and the slow-burn ticket: both fire in
    // Prometheus, and the page keeps them from notifying anyone.
    live.wait_firing_in_prometheus("HighErrorRate", "").await?;
    live.wait_firing_in_prometheus("AvailabilityErrorBudgetBurn", ",urgency=\"ticket\"")
        .await?;

    // Recovery: enough good rolls bring every window's error ratio under the ticket's too.
    let recovered = live.mark("recovery: 15,000 fair rolls");
    let summary = traffic(
        live,
        "fair",
        &["--mix", "fair=1", "--requests", "15000", "--users", "16"],
        90,
    )
    .await?;
    assert_eq!(
        summary["statuses"]["200"], 15000,
        "fair rolls succeed: {summary}"
    );
    let resolve = live.wait_notice(burn[0], false).await?;
    assert_eq!(resolve.body["dedup_key"], incident.body["dedup_key"]);
    let page_resolved = live.wait_notice(burn[1], false).await?.at_seconds;
    println!(
        "MEASURED error burst: recovery → page resolved {:.1}s",
        page_resolved - recovered
    );
    live.wait_all_clear(&[]).await?;
    assert_burn_notified(live, "AvailabilityErrorBudgetBurn", page_resolved).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_page_once_through_the_latency_slo() -> Result<()> {
    row!(
        "slow answers",
        "spec:\n  dice:\n    maxDelay: 2s\n",
        slow_answers
    )
}

async fn slow_answers(live: &mut Live) -> Result<()> {
    let failed = live.mark("failure: rolls take up to 2s");
    traffic(
        live,
        "slow",
        &["--mix", "fair=1", "--requests", "48", "--users", "16"],
        60,
    )
    .await?;
    let burn = page("LatencyErrorBudgetBurn");
    live.time_to_notify(failed, &burn).await?;
    live.wait_firing_in_prometheus("SlowResponseTime", "")
        .await?;

    let service = live.service();
    live.stack.kill(&service.process)?;
    live.stack
        .restart_service(0, &[("DICE_MAX_DELAY", "20ms")])
        .await?;
    // At a steady 400/s, as traffic recovers in a service: a flood would push every ratio
    // across its threshold within one rule evaluation, and the order in which the recording
    // groups catch up would decide which alert clears first.
    live.mark("recovery: rolls take up to 20ms again");
    traffic(
        live,
        "fast",
        &[
            "--mix",
            "fair=1",
            "--requests",
            "8000",
            "--rate",
            "400",
            "--users",
            "16",
        ],
        90,
    )
    .await?;
    live.wait_all_clear(&[]).await?;
    let page_resolved = live.wait_notice(burn[1], false).await?.at_seconds;
    assert_burn_notified(live, "LatencyErrorBudgetBurn", page_resolved).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_pages_once_and_its_restart_is_reported() -> Result<()> {
    row!(
        "process killed",
        "spec:\n  monitoring:\n    rules:\n      podRestarting:\n        enabled: true\n",
        process_killed
    )
}

async fn process_killed(live: &mut Live) -> Result<()> {
    let service = live.service();
    let failed = live.mark("failure: dice-server killed");
    live.stack.kill(&service.process)?;
    let down = page("ServiceDown");
    live.time_to_notify(failed, &down).await?;
    // The probe fails too, and ServiceDown keeps it quiet.
    live.wait_firing_in_prometheus("ProbeFailing", "").await?;

    live.stack.restart_service(0, &[]).await?;
    let restarted = live.mark("recovery: dice-server restarted");
    live.wait_notice(down[0], false).await?;
    live.wait_notice(down[1], false).await?;
    let restarts = slack_warning("PodRestarting");
    let reported = live.wait_notice(restarts, true).await?;
    println!(
        "MEASURED process killed: restart → PodRestarting {:.1}s",
        reported.at_seconds - restarted
    );
    // PodRestarting counts restarts over 15 minutes: it resolves 15 minutes after the restart.
    live.wait_all_clear(&["PodRestarting"]).await?;
    let mut expected: Vec<(Notice, bool)> = down.iter().map(|n| (*n, true)).collect();
    expected.push((restarts, false));
    live.assert_notified(&expected).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_targets_at_all_page_once() -> Result<()> {
    row!("no targets", NOTHING, no_targets)
}

async fn no_targets(live: &mut Live) -> Result<()> {
    let service = live.service();
    let nowhere = ports::free(None)?;
    let before = live.stack.prometheus_config()?;
    let mut gone = before.clone();
    without_scrape_target(&mut gone, service.address);
    probe_elsewhere(&mut gone, service.address, nowhere);
    let failed = live.mark("failure: the Service's endpoints are gone");
    live.stack
        .reload_prometheus("no target, the probe reaches nothing", &gone)
        .await?;
    let absent = page("ServiceAbsent");
    live.time_to_notify(failed, &absent).await?;
    live.wait_firing_in_prometheus("ProbeFailing", "").await?;

    live.mark("recovery: endpoints back");
    live.stack
        .reload_prometheus("targets restored", &before)
        .await?;
    live.assert_resolved_once(&absent).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_service_pages_once_through_its_probe() -> Result<()> {
    row!("probe failing", NOTHING, probe_failing)
}

async fn probe_failing(live: &mut Live) -> Result<()> {
    let service = live.service();
    let nowhere = ports::free(None)?;
    let before = live.stack.prometheus_config()?;
    let mut unreachable = before.clone();
    probe_elsewhere(&mut unreachable, service.address, nowhere);
    let failed = live.mark("failure: the Service is unreachable, the pod still scraped");
    live.stack
        .reload_prometheus("the probe reaches nothing", &unreachable)
        .await?;
    let probe = page("ProbeFailing");
    live.time_to_notify(failed, &probe).await?;
    live.wait_query(
        "the pod still answers scrapes",
        "up{job=\"dice-full\",namespace=\"dice\"} == 1",
    )
    .await?;

    live.mark("recovery: the Service reaches the pod again");
    live.stack
        .reload_prometheus("probe restored", &before)
        .await?;
    live.assert_resolved_once(&probe).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_near_the_container_limit_warns_once() -> Result<()> {
    row!(
        "memory near limit",
        "spec:\n  sampleInterval: 1s\n",
        memory_near_limit
    )
}

async fn memory_near_limit(live: &mut Live) -> Result<()> {
    let failed = live.mark("failure: working set at 124 MiB of a 128 MiB limit");
    live.cgroup.set_usage(124 * MIB)?;
    let memory = slack_warning("HighMemoryUsage");
    live.time_to_notify(failed, &[memory]).await?;

    live.mark("recovery: working set back to 24 MiB");
    live.cgroup.set_usage(MEMORY_AT_REST)?;
    live.assert_resolved_once(&[memory]).await
}
