//! Churn soak: waves of DiceServices created and deleted (some invalid, some naming Secrets
//! that do not exist), showing the operator's RSS and every in-memory map it publishes
//! (`dice_operator_held_entries`) return to their baseline after each wave's deletes.

use crate::Args;
use crate::cluster;
use crate::process::{Operator, memory_mib};
use crate::run::watch;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The spec each DiceService of a wave gets, by its number: one in ten has a name no Service
/// can carry (Degraded, never retried), one in ten names Secrets that do not exist.
fn member(n: usize, spec: &Value) -> (String, Value) {
    match n % 10 {
        3 => (format!("invalid-{n:05}-{}", "x".repeat(60)), spec.clone()),
        7 => {
            let mut missing = spec.clone();
            for path in [
                "/alerting/slack/apiURL/name",
                "/history/postgres/secretRef/name",
            ] {
                if let Some(name) = missing.pointer_mut(path) {
                    *name = "nowhere".into();
                }
            }
            (format!("dice-{n:05}"), missing)
        }
        _ => (format!("dice-{n:05}"), spec.clone()),
    }
}

async fn wait_for(
    what: &str,
    timeout: Duration,
    mut done: impl AsyncFnMut() -> bool,
) -> Result<f64, String> {
    let started = Instant::now();
    while !done().await {
        if started.elapsed() > timeout {
            return Err(format!("{what} not within {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(started.elapsed().as_secs_f64())
}

fn nonzero(held: &BTreeMap<String, f64>) -> String {
    let held: Vec<String> = held
        .iter()
        .filter(|(_, n)| **n > 0.0)
        .map(|(m, n)| format!("{m} {n}"))
        .collect();
    if held.is_empty() {
        "none".to_owned()
    } else {
        held.join(", ")
    }
}

/// The operator's resident memory, in MiB: all of it, and its anonymous (heap, stacks) and
/// file-backed (the binary's code and libraries) parts.
struct Rss {
    total: f64,
    anonymous: f64,
    file: f64,
}

impl Rss {
    fn of(operator: &Operator) -> Self {
        let pid = operator.pid();
        Self {
            total: memory_mib(&pid, "VmRSS"),
            anonymous: memory_mib(&pid, "RssAnon"),
            file: memory_mib(&pid, "RssFile"),
        }
    }
}

/// Prints a part of the report at once, so a long soak shows each wave as it ends.
fn emit(text: &str) {
    print!("{text}");
    let _ = std::io::Write::flush(&mut std::io::stdout());
}

/// Runs the soak, printing its report as it goes.
pub async fn soak(args: &Args) -> Result<(), String> {
    let cluster = cluster::Cluster::start(args).await?;
    let (client, spec) = (&cluster.client, &cluster.spec);
    let (seen, watching) = watch(client);
    let timeout = Duration::from_secs(args.timeout_seconds);
    let mut operator = Operator::start(&args.operator, &cluster.served.kubeconfig)?;
    operator.wait_until_serving(Duration::from_secs(30)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let baseline_rss = Rss::of(&operator);
    let baseline = operator.held().await;

    emit(&format!(
        "### Churn soak: {} waves of {} DiceServices created, then deleted\n\nOne in ten has a name no Service can carry (Degraded), one in ten names Secrets that do not exist. Before the first wave the operator's RSS is {:.1} MiB ({:.1} MiB anonymous: heap and stacks; {:.1} MiB file-backed: its code, paged in as paths first run) and its maps hold: {}.\n\n",
        args.soak_waves,
        args.count,
        baseline_rss.total,
        baseline_rss.anonymous,
        baseline_rss.file,
        nonzero(&baseline)
    ));
    emit(
        "| wave | all reconciled in s | RSS after reconciling MiB | deleted; maps back to baseline in s | RSS after the deletes MiB | of it anonymous MiB | of it file-backed MiB | maps not at baseline |\n|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let mut after_deletes = Vec::new();
    for wave in 0..args.soak_waves {
        let first = wave * args.count;
        let members: Vec<_> = (first..first + args.count)
            .map(|n| member(n, spec))
            .collect();
        cluster::create_each(client, members).await?;
        let settled = &seen.settled;
        let reconciled_s = wait_for("every DiceService reconciled", timeout, async || {
            settled.load(Ordering::Relaxed) >= args.count
        })
        .await?;
        let loaded_rss = memory_mib(&operator.pid(), "VmRSS");
        cluster::delete_all(client).await?;
        let present = &seen.present;
        let operator_ref = &operator;
        let baseline_ref = &baseline;
        let drained_s = wait_for("the maps back to their baseline", timeout, async || {
            present.load(Ordering::Relaxed) == 0 && operator_ref.held().await == *baseline_ref
        })
        .await;
        let held = operator.held().await;
        let rss = Rss::of(&operator);
        let row = format!(
            "| {} | {reconciled_s:.1} | {loaded_rss:.1} | {} | {:.1} | {:.1} | {:.1} | {} |",
            wave + 1,
            drained_s
                .as_ref()
                .map_or_else(|e| e.clone(), |s| format!("{s:.1}")),
            rss.total,
            rss.anonymous,
            rss.file,
            nonzero(&held)
        );
        after_deletes.push(rss);
        emit(&format!("{row}\n"));
        if let Err(error) = drained_s {
            operator.stop();
            return Err(error);
        }
    }
    let peak = memory_mib(&operator.pid(), "VmHWM");
    emit(&format!("\nPeak RSS over the soak: {peak:.1} MiB."));
    if let (Some(first), Some(last)) = (after_deletes.first(), after_deletes.last()) {
        emit(&format!(
            " After the last wave's deletes against after the first's: RSS {:+.1} MiB, anonymous {:+.1} MiB (growth from wave to wave would be a leak).",
            last.total - first.total,
            last.anonymous - first.anonymous
        ));
    }
    emit("\n\n");
    operator.stop();
    watching.abort();
    Ok(())
}
