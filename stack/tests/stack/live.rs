//! One stack per failure: the full example DiceService with the fast timings and the row's own
//! overlay, a fake cgroup for dice-server's memory readings, and what every row checks — which
//! receivers got which alerts, once each, and nothing else.

use dice_stack::capture::{Channel, Notification};
use dice_stack::faults::FakeCgroup;
use dice_stack::processes::group_alive;
use dice_stack::stack::{PreferredPorts, poll_until};
use dice_stack::tools::{OwnBinaries, Tools};
use dice_stack::{Error, Result, Stack, StackOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A row, every step included, stays within this.
const BUDGET: Duration = Duration::from_secs(150);
/// After the last expected notification, how long to keep listening for one that should not
/// come: several group intervals (1s) and rule evaluations (1s).
const SETTLE: Duration = Duration::from_secs(4);
/// The routing key of `fixtures/secrets.yaml`.
pub const ROUTING_KEY: &str = "e2e-routing-key-4f1c9a";
pub const MIB: u64 = 1024 * 1024;
/// The fake container's memory limit, and its usage when nothing is wrong.
pub const MEMORY_LIMIT: u64 = 128 * MIB;
pub const MEMORY_AT_REST: u64 = 24 * MIB;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One notification kind: an alert of a severity on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub alert: &'static str,
    pub severity: &'static str,
    pub channel: Channel,
}

impl Notice {
    /// `Some(true)` for its firing notification, `Some(false)` for its resolved one.
    fn firing(&self, notification: &Notification) -> Option<bool> {
        (identify(notification)? == (self.alert, self.severity, self.channel))
            .then(|| status_firing(notification))
    }
}

/// A critical alert: PagerDuty and Slack.
pub fn page(alert: &'static str) -> [Notice; 2] {
    [Channel::PagerDuty, Channel::Slack].map(|channel| Notice {
        alert,
        severity: "critical",
        channel,
    })
}

/// A warning: Slack only.
pub fn slack_warning(alert: &'static str) -> Notice {
    Notice {
        alert,
        severity: "warning",
        channel: Channel::Slack,
    }
}

/// `(alertname, severity, channel)` of a notification; `None` when it names neither.
fn identify(n: &Notification) -> Option<(&str, &str, Channel)> {
    match n.channel {
        Channel::PagerDuty => Some((
            n.pagerduty_detail("alertname"),
            n.body["payload"]["severity"].as_str()?,
            Channel::PagerDuty,
        )),
        // `[FIRING:1] Name (severity) namespace/service`
        Channel::Slack => {
            let (_, rest) = n.slack_title().split_once("] ")?;
            let (alert, rest) = rest.split_once(" (")?;
            let (severity, _) = rest.split_once(')')?;
            Some((alert, severity, Channel::Slack))
        }
    }
}

fn status_firing(n: &Notification) -> bool {
    match n.channel {
        Channel::PagerDuty => n.pagerduty_action() == "trigger",
        Channel::Slack => n.slack_title().starts_with("[FIRING"),
    }
}

/// A started stack for one row; [`Live::finish`] stops it and keeps its files if the row failed.
#[derive(Debug)]
pub struct Live {
    pub stack: Stack,
    pub cgroup: FakeCgroup,
    work: tempfile::TempDir,
    deadline: Instant,
    row: &'static str,
}

impl Live {
    /// `None` (after a `SKIP:` line) when Prometheus, Alertmanager or the blackbox exporter
    /// is not installed.
    pub async fn start(row: &'static str, overlay: &str) -> Result<Option<Live>> {
        let tools = match Tools::find() {
            Ok(tools) => tools,
            Err(missing) => {
                println!(
                    "SKIP: {} not installed (make test installs them as root)",
                    missing.join(", ")
                );
                return Ok(None);
            }
        };
        let work = tempfile::tempdir().map_err(|e| Error::Process(e.to_string()))?;
        let row_overlay = work.path().join("row.yaml");
        std::fs::write(&row_overlay, overlay)
            .map_err(|e| Error::Process(format!("cannot write the row overlay: {e}")))?;
        let cgroup = FakeCgroup::create(&work.path().join("cgroup"), MEMORY_LIMIT, MEMORY_AT_REST)?;
        let stack_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let options = StackOptions {
            manifest: repo().join("manifests/examples/full.yaml"),
            overlays: vec![stack_dir.join("local/fast.yaml"), row_overlay],
            extra_manifests: vec![stack_dir.join("tests/fixtures/secrets.yaml")],
            work_dir: work.path().join("stack"),
            binaries: OwnBinaries::in_dir(&OwnBinaries::build_dir()?)?,
            tools,
            evaluation_interval: "1s".into(),
            ports: PreferredPorts::default(),
            echo: false,
            service_env: vec![(
                "DICE_CGROUP_ROOT".into(),
                cgroup.dir().display().to_string(),
            )],
        };
        let stack = Stack::start(options).await?;
        let live = Live {
            stack,
            cgroup,
            work,
            deadline: Instant::now() + BUDGET,
            row,
        };
        // Scraped and probed before anything breaks.
        live.wait_query("the first probe", &live.probe_success(1.0))
            .await?;
        live.wait_query(
            "the first scrape",
            "up{job=\"dice-full\",namespace=\"dice\"} == 1",
        )
        .await?;
        Ok(Some(live))
    }

    /// Prints the timeline, stops every program (none may survive) and keeps the files when
    /// `outcome` is an error.
    pub fn finish(self, outcome: Result<()>) -> Result<()> {
        println!("{} timeline:\n{}", self.row, self.stack.timeline.render());
        let survivors: Vec<u32> = self
            .stack
            .stop()
            .into_iter()
            .filter(|g| group_alive(*g))
            .collect();
        if let Err(error) = &outcome {
            let kept = self.work.keep();
            println!(
                "FAILED: {error}\nconfiguration and logs kept in {}",
                kept.display()
            );
        }
        assert!(
            survivors.is_empty(),
            "process groups left running: {survivors:?}"
        );
        outcome
    }

    pub fn service(&self) -> dice_stack::stack::LocalService {
        self.stack.services[0].clone()
    }

    /// Marks the moment a failure starts or ends, for the times reported.
    pub fn mark(&self, event: &str) -> f64 {
        self.stack.timeline.mark(event);
        self.stack.timeline.elapsed().as_secs_f64()
    }

    /// `probe_success == value` for the example's probe.
    pub fn probe_success(&self, value: f64) -> String {
        format!("probe_success{{job=\"dice-full-probe\",namespace=\"dice\"}} == {value}")
    }

    /// Waits until `promql` returns at least one sample.
    pub async fn wait_query(&self, what: &str, promql: &str) -> Result<()> {
        poll_until(what, self.deadline, || async {
            let samples = self.stack.prometheus.query(promql).await.ok()?;
            (!samples.is_empty()).then_some(())
        })
        .await?;
        self.stack.timeline.mark(what);
        Ok(())
    }

    /// Waits until Prometheus holds `alert` firing for this service (with `extra` matchers).
    pub async fn wait_firing_in_prometheus(&self, alert: &str, extra: &str) -> Result<()> {
        let promql = format!(
            "ALERTS{{alertname=\"{alert}\",alertstate=\"firing\",service=\"dice-full\"{extra}}}"
        );
        self.wait_query(&format!("Prometheus: {alert}{{{extra}}} firing"), &promql)
            .await
    }

    /// Waits until no alert of this service fires in Prometheus except `still`.
    pub async fn wait_all_clear(&self, still: &[&str]) -> Result<()> {
        let promql = format!(
            "count(ALERTS{{alertstate=\"firing\",service=\"dice-full\",alertname!~\"{}\"}}) or vector(0)",
            if still.is_empty() {
                "^$".to_owned()
            } else {
                still.join("|")
            }
        );
        poll_until(
            "every alert resolved in Prometheus",
            self.deadline,
            || async {
                let samples = self.stack.prometheus.query(&promql).await.ok()?;
                samples.iter().all(|s| s.value == 0.0).then_some(())
            },
        )
        .await?;
        self.stack.timeline.mark("Prometheus: nothing firing");
        Ok(())
    }

    /// The first notification of `notice` with the given status.
    pub async fn wait_notice(&self, notice: Notice, firing: bool) -> Result<Notification> {
        let what = format!(
            "{:?} {} ({}) {}",
            notice.channel,
            notice.alert,
            notice.severity,
            if firing { "firing" } else { "resolved" }
        );
        poll_until(&what, self.deadline, || async {
            self.stack
                .capture()
                .notifications()
                .into_iter()
                .find(|n| notice.firing(n) == Some(firing))
        })
        .await
    }

    /// Waits for the firing notification of every `notices`, then prints and returns the
    /// time from `failed_at` to the first of them.
    pub async fn time_to_notify(&self, failed_at: f64, notices: &[Notice]) -> Result<f64> {
        let mut first = f64::MAX;
        for notice in notices {
            let sent = self.wait_notice(*notice, true).await?;
            first = first.min(sent.at_seconds);
        }
        let took = first - failed_at;
        self.stack.timeline.mark(format!(
            "{}: failure → first notification {took:.1}s",
            self.row
        ));
        println!(
            "MEASURED {}: failure → first notification {took:.1}s",
            self.row
        );
        Ok(took)
    }

    /// Waits for every one of `notices` to resolve and for nothing to fire, then checks that
    /// they are all that was sent, each fired once and resolved once.
    pub async fn assert_resolved_once(&self, notices: &[Notice]) -> Result<()> {
        for notice in notices {
            self.wait_notice(*notice, false).await?;
        }
        self.wait_all_clear(&[]).await?;
        let expected: Vec<(Notice, bool)> = notices.iter().map(|n| (*n, true)).collect();
        self.assert_notified(&expected).await?;
        Ok(())
    }

    /// Listens a little longer, then checks every notification sent: each is one of
    /// `expected`, each expected one fired exactly once, and resolved exactly once where
    /// `resolved` says so. Returns them.
    pub async fn assert_notified(&self, expected: &[(Notice, bool)]) -> Result<Vec<Notification>> {
        tokio::time::sleep(SETTLE).await;
        let sent = self.stack.capture().notifications();
        let describe = || {
            sent.iter()
                .map(|n| format!("  +{:.1}s {}", n.at_seconds, n.describe()))
                .collect::<Vec<_>>()
                .join("\n")
        };
        // Errors rather than panics: the row's timeline is printed and its files kept.
        for notification in &sent {
            if !expected
                .iter()
                .any(|(notice, _)| notice.firing(notification).is_some())
            {
                return Err(Error::Process(format!(
                    "{}: nobody should have been notified of {}; all sent:\n{}",
                    self.row,
                    notification.describe(),
                    describe()
                )));
            }
        }
        for (notice, resolves) in expected {
            let count = |firing: bool| {
                sent.iter()
                    .filter(|n| notice.firing(n) == Some(firing))
                    .count()
            };
            let counted = (count(true), count(false));
            if counted != (1, usize::from(*resolves)) {
                return Err(Error::Process(format!(
                    "{}: {notice:?} should fire once{}, sent (firing, resolved) {counted:?}; all \
                     sent:\n{}",
                    self.row,
                    if *resolves { " and resolve once" } else { "" },
                    describe()
                )));
            }
        }
        Ok(sent)
    }
}
