//! One benchmark run (a fresh fake API server, operator and kubelet), and the Markdown report
//! of several.

use crate::Args;
use crate::cluster;
use crate::process::{Operator, cpu_seconds, memory_mib};
use crate::requests::{breakdown, is_apply, is_write};
use fake_apiserver::{FakeApiServer, RecordedRequest};
use futures_util::StreamExt;
use kube::runtime::watcher::{self, Event};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// After a restart, how long to go on counting once every DiceService was reconciled again.
const SETTLE: Duration = Duration::from_secs(5);

pub struct RunResult {
    monitoring_kinds: usize,
    created_s: f64,
    ready_s: f64,
    operator_cpu_s: f64,
    harness_cpu_s: f64,
    baseline_rss_mib: f64,
    peak_rss_mib: f64,
    requests: usize,
    idle_writes: usize,
    /// Server-side applies while idle, under the simulated controllers' status churn.
    idle_applies: usize,
    idle_requests: usize,
    spec_change: SpecChange,
    restart: Restart,
    by_kind: BTreeMap<(String, &'static str), usize>,
}

/// What changing one input of one child in every DiceService cost.
struct SpecChange {
    /// Until every changed child was applied and nothing more came for [`SETTLE`].
    seconds: f64,
    requests: usize,
    /// Of the children (the DiceServices' status writes are applies too, counted apart).
    applies: usize,
    by_kind: BTreeMap<(String, &'static str), usize>,
}

struct Restart {
    peak_rss_mib: f64,
    cpu_s: f64,
    reconciled_s: f64,
    requests: usize,
    writes: usize,
    applies: usize,
    by_kind: BTreeMap<(String, &'static str), usize>,
}

/// The operator's own requests (over TCP), leaving out leader election's Lease traffic.
fn operator_requests(server: &FakeApiServer) -> Vec<RecordedRequest> {
    only_the_operators(server.requests())
}

fn only_the_operators(requests: Vec<RecordedRequest>) -> Vec<RecordedRequest> {
    requests
        .into_iter()
        .filter(|r| r.remote && !r.uri.contains("/leases"))
        .collect()
}

/// DiceServices as a watch sees them: how many are Ready, and how many the operator has
/// reconciled at least once (a status for their generation: Ready, Degraded or waiting).
#[derive(Default)]
pub struct Seen {
    pub ready: AtomicUsize,
    pub settled: AtomicUsize,
    pub present: AtomicUsize,
}

/// Watches the DiceServices (polling a list of thousands every few hundred milliseconds would
/// cost the harness more than the operator).
pub fn watch(client: &kube::Client) -> (Arc<Seen>, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    let services = cluster::dice_services(client);
    let task = tokio::spawn(async move {
        let (mut ready, mut settled, mut present) =
            (HashSet::new(), HashSet::new(), HashSet::new());
        let mut events = watcher::watcher(services, watcher::Config::default()).boxed();
        while let Some(event) = events.next().await {
            let (object, deleted) = match event {
                Ok(Event::Apply(object) | Event::InitApply(object)) => (object, false),
                Ok(Event::Delete(object)) => (object, true),
                _ => continue,
            };
            let name = object.metadata.name.clone().unwrap_or_default();
            let mark = |set: &mut HashSet<String>, on: bool| {
                if on && !deleted {
                    set.insert(name.clone());
                } else {
                    set.remove(&name);
                }
            };
            mark(&mut present, true);
            mark(
                &mut ready,
                cluster::ready_count(std::slice::from_ref(&object)) == 1,
            );
            let observed = object.data["status"]["observedGeneration"].as_i64();
            mark(
                &mut settled,
                observed.is_some() && observed == object.metadata.generation,
            );
            counts.ready.store(ready.len(), Ordering::Relaxed);
            counts.settled.store(settled.len(), Ordering::Relaxed);
            counts.present.store(present.len(), Ordering::Relaxed);
        }
    });
    (seen, task)
}

pub async fn once(args: &Args) -> Result<RunResult, String> {
    let cluster = cluster::Cluster::start(args).await?;
    let (server, client) = (&cluster.server, &cluster.client);
    // Ended with the run: it would keep this run's API server, and all it holds, alive.
    let (seen, watching) = watch(client);
    let timeout = Duration::from_secs(args.timeout_seconds);
    let harness_cpu_before = cpu_seconds("self");

    let mut operator = Operator::start(&args.operator, &cluster.served.kubeconfig)?;
    operator.wait_until_serving(Duration::from_secs(30)).await?;
    let baseline_rss_mib = memory_mib(&operator.pid(), "VmRSS");
    let started = Instant::now();
    cluster::create(client, &cluster.spec, 0..args.count).await?;
    let created_s = started.elapsed().as_secs_f64();
    while seen.ready.load(Ordering::Relaxed) < args.count {
        if started.elapsed() > timeout {
            operator.stop();
            return Err(format!(
                "only {} of {} Ready after {timeout:?}",
                seen.ready.load(Ordering::Relaxed),
                args.count
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready_s = started.elapsed().as_secs_f64();
    let operator_cpu_s = cpu_seconds(&operator.pid());
    let harness_cpu_s = cpu_seconds("self") - harness_cpu_before;
    let converged = operator_requests(server);
    let peak_rss_mib = memory_mib(&operator.pid(), "VmHWM");

    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let idle = operator_requests(server).split_off(converged.len());
    let spec_change = spec_change(server, client, &cluster.spec, args, timeout).await?;

    let restart = restart(server, operator, &cluster.served.kubeconfig, args, timeout).await;
    watching.abort();
    let restart = restart?;
    Ok(RunResult {
        monitoring_kinds: cluster.monitoring_kinds,
        created_s,
        ready_s,
        operator_cpu_s,
        harness_cpu_s,
        baseline_rss_mib,
        peak_rss_mib,
        requests: converged.len(),
        idle_writes: idle.iter().filter(|r| is_write(r)).count(),
        idle_applies: idle.iter().filter(|r| is_apply(r)).count(),
        idle_requests: idle.len(),
        spec_change,
        restart,
        by_kind: breakdown(converged.iter()),
    })
}

/// Sets a new `maxDelay` in every DiceService, an input of its Deployment alone, and counts
/// what the operator sends: one apply per DiceService is what the change needs.
async fn spec_change(
    server: &FakeApiServer,
    client: &kube::Client,
    spec: &serde_json::Value,
    args: &Args,
    timeout: Duration,
) -> Result<SpecChange, String> {
    let before = server.requests().len();
    let mut changed = spec.clone();
    changed["dice"]["maxDelay"] = "300ms".into();
    let started = Instant::now();
    cluster::create(client, &changed, 0..args.count).await?;
    // The DiceServices' own status is written with apply too; only the children's count here.
    let applies = |sent: &[RecordedRequest]| {
        sent.iter()
            .filter(|r| is_apply(r) && !r.uri.contains("/diceservices/"))
            .count()
    };
    let (mut seen, mut quiet_since) = (0, Instant::now());
    loop {
        let sent = only_the_operators(server.requests_after(before));
        if sent.len() != seen {
            (seen, quiet_since) = (sent.len(), Instant::now());
        }
        if applies(&sent) >= args.count && quiet_since.elapsed() >= SETTLE {
            return Ok(SpecChange {
                seconds: (quiet_since - started).as_secs_f64(),
                requests: sent.len(),
                applies: applies(&sent),
                by_kind: breakdown(sent.iter()),
            });
        }
        if started.elapsed() > timeout {
            return Err(format!(
                "a spec change: {} applies for {} DiceServices within {timeout:?}",
                applies(&sent),
                args.count
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Stops the operator on the converged set and starts another: what it costs to come back.
async fn restart(
    server: &FakeApiServer,
    operator: Operator,
    kubeconfig: &Path,
    args: &Args,
    timeout: Duration,
) -> Result<Restart, String> {
    operator.stop();
    let before = operator_requests(server).len();
    let started = Instant::now();
    let mut operator = Operator::start(&args.operator, kubeconfig)?;
    operator.wait_until_serving(Duration::from_secs(30)).await?;
    while operator.reconciles().await < args.count as f64 {
        if started.elapsed() > timeout {
            let reconciled = operator.reconciles().await;
            operator.stop();
            return Err(format!(
                "after a restart, {reconciled} reconciles of {} DiceServices within {timeout:?}",
                args.count
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reconciled_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let sent = operator_requests(server).split_off(before);
    let pid = operator.pid();
    let (peak_rss_mib, cpu_s) = (memory_mib(&pid, "VmHWM"), cpu_seconds(&pid));
    operator.stop();
    Ok(Restart {
        peak_rss_mib,
        cpu_s,
        reconciled_s,
        requests: sent.len(),
        writes: sent.iter().filter(|r| is_write(r)).count(),
        applies: sent.iter().filter(|r| is_apply(r)).count(),
        by_kind: breakdown(sent.iter()),
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A run that took more than `factor` times the median, when there are three runs or more.
pub fn stall(results: &[RunResult], factor: f64) -> Option<String> {
    if results.len() < 3 {
        return None;
    }
    let median = median(results.iter().map(|r| r.ready_s).collect());
    let slowest = results.iter().map(|r| r.ready_s).fold(0.0, f64::max);
    (slowest > factor * median).then(|| {
        format!("a run took {slowest:.1} s to converge, over {factor}× the median {median:.1} s")
    })
}

pub fn report(args: &Args, results: &[RunResult]) -> String {
    let n = args.count as f64;
    let mut out = String::new();
    let crds = results.first().map_or(0, |r| r.monitoring_kinds);
    let _ = writeln!(
        out,
        "### {} DiceServices ({} spec, {}{})\n",
        args.count,
        if args.example == "none" {
            "`spec: {}`".to_owned()
        } else {
            format!("`{}`", args.example)
        },
        if crds > 0 {
            format!("{crds} Prometheus Operator CRDs registered")
        } else {
            "no Prometheus Operator CRDs: monitoring children skipped".to_owned()
        },
        if args.foreign_per_kind > 0 {
            format!(
                "; {} objects of every child kind created by others",
                args.foreign_per_kind
            )
        } else {
            String::new()
        }
    );
    out.push_str("| run | created in s | all Ready in s | operator CPU ms per DiceService | harness CPU s | operator RSS before MiB | operator peak RSS MiB | KiB per DiceService | requests per DiceService | write requests in idle | apply requests in idle | requests in idle | spec change: child applies per DiceService | spec change: requests per DiceService | spec change: done in s | restart: peak RSS MiB | restart: all reconciled in s | restart: CPU ms per DiceService | restart: requests | restart: write requests | restart: apply requests |\n");
    out.push_str(
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (i, r) in results.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} | {:.2} | {} | {} | {} |",
            i + 1,
            r.created_s,
            r.ready_s,
            r.operator_cpu_s * 1000.0 / n,
            r.harness_cpu_s,
            r.baseline_rss_mib,
            r.peak_rss_mib,
            (r.peak_rss_mib - r.baseline_rss_mib) * 1024.0 / n,
            r.requests as f64 / n,
            r.idle_writes,
            r.idle_applies,
            r.idle_requests,
            r.spec_change.applies as f64 / n,
            r.spec_change.requests as f64 / n,
            r.spec_change.seconds,
            r.restart.peak_rss_mib,
            r.restart.reconciled_s,
            r.restart.cpu_s * 1000.0 / n,
            r.restart.requests,
            r.restart.writes,
            r.restart.applies,
        );
    }
    if results.len() >= 3 {
        let times: Vec<f64> = results.iter().map(|r| r.ready_s).collect();
        let (min, max) = (
            times.iter().copied().fold(f64::INFINITY, f64::min),
            times.iter().copied().fold(0.0, f64::max),
        );
        let _ = writeln!(
            out,
            "\nAll Ready: median {:.1} s, fastest {min:.1} s, slowest {max:.1} s (a run over {}× the median fails the benchmark).",
            median(times.clone()),
            args.stall_factor
        );
    }
    if let Some(first) = results.first() {
        let _ = writeln!(
            out,
            "\nRequests of run 1 by resource and verb (per DiceService, to converge and for the spec change; after the restart, in total):\n"
        );
        out.push_str("| resource | verb | per DiceService to converge | per DiceService for the spec change | after the restart |\n|---|---|---:|---:|---:|\n");
        let keys: std::collections::BTreeSet<_> = first
            .by_kind
            .keys()
            .chain(first.spec_change.by_kind.keys())
            .chain(first.restart.by_kind.keys())
            .collect();
        for key in keys {
            let converge = first.by_kind.get(key).copied().unwrap_or(0) as f64 / n;
            let change = first.spec_change.by_kind.get(key).copied().unwrap_or(0) as f64 / n;
            let restart = first.restart.by_kind.get(key).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "| {} | {} | {converge:.2} | {change:.2} | {restart} |",
                key.0, key.1
            );
        }
    }
    out.push('\n');
    out
}
