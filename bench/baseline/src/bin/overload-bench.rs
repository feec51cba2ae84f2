//! Overload benchmark: open-loop traffic (requests are sent on a fixed schedule whether or not
//! earlier ones were answered, as real users do) at 1× and 10× the capacity of a dice-server
//! with a concurrency limit, and at 10× with the limit lifted for comparison. Capacity is the
//! limit divided by the mean roll time (half of `--max-delay`). Reports, per run, the latency of
//! accepted and of shed requests, the shed share and the server's peak resident memory, as
//! Markdown table rows.
//!
//! `overload-bench <dice-server binary> [seconds per run]`

use dice_bench::Server;
use hdrhistogram::Histogram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LIMIT: u32 = 64;
const MAX_DELAY_MS: u64 = 1000;
/// No limit worth the name: every request runs.
const UNLIMITED: u32 = 1_000_000;

/// Requests per second the limited server can complete: the limit over the mean roll time.
fn capacity() -> f64 {
    f64::from(LIMIT) / (MAX_DELAY_MS as f64 / 2000.0)
}

struct Outcome {
    accepted: Option<Histogram<u64>>,
    shed: Option<Histogram<u64>>,
    failed: u64,
}

fn histogram() -> Result<Histogram<u64>, Box<dyn std::error::Error>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

async fn run(
    binary: &str,
    limit: u32,
    rate: f64,
    seconds: u64,
) -> Result<String, Box<dyn std::error::Error>> {
    let server = Server::start(
        binary,
        &[
            ("DICE_MAX_CONCURRENT_REQUESTS", limit.to_string()),
            ("DICE_MAX_DELAY", format!("{MAX_DELAY_MS}ms")),
        ],
    )?;
    let url = format!("http://{}/roll?die=fair", server.address);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .timeout(Duration::from_secs(30))
        .build()?;
    let outcome = Arc::new(Mutex::new(Outcome {
        accepted: Some(histogram()?),
        shed: Some(histogram()?),
        failed: 0,
    }));
    let started = Instant::now();
    let total = (rate * seconds as f64) as u64;
    let mut peak_rss = server.rss_kib();
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        let due = started + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        if n % 64 == 0 {
            peak_rss = peak_rss.max(server.rss_kib());
        }
        let (client, url, outcome) = (client.clone(), url.clone(), outcome.clone());
        tasks.push(tokio::spawn(async move {
            // Latency from when the request was due: time spent waiting on us counts too.
            let result = client.get(&url).send().await;
            let micros = due.elapsed().as_micros() as u64;
            let mut outcome = outcome.lock().unwrap_or_else(|p| p.into_inner());
            match result.map(|r| r.status().as_u16()) {
                Ok(200) => outcome.accepted.as_mut().map(|h| h.record(micros.max(1))),
                Ok(503) => outcome.shed.as_mut().map(|h| h.record(micros.max(1))),
                _ => {
                    outcome.failed += 1;
                    None
                }
            };
        }));
    }
    for task in tasks {
        let _ = task.await;
        peak_rss = peak_rss.max(server.rss_kib());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let outcome = outcome.lock().unwrap_or_else(|p| p.into_inner());
    let accepted = outcome.accepted.as_ref().ok_or("no histogram")?;
    let shed = outcome.shed.as_ref().ok_or("no histogram")?;
    let ms = |h: &Histogram<u64>, q: f64| {
        if h.is_empty() {
            "–".to_owned()
        } else {
            format!("{:.1}", h.value_at_quantile(q) as f64 / 1000.0)
        }
    };
    let label = if limit == UNLIMITED {
        "no limit".to_owned()
    } else {
        limit.to_string()
    };
    Ok(format!(
        "| {label} | {rate:.0} ({multiple:.0}×) | {accepted_rate:.0} | {shed_share:.1}% | {} / {} / {} | {} | {} | {:.1} |",
        ms(accepted, 0.5),
        ms(accepted, 0.99),
        ms(accepted, 1.0),
        ms(shed, 0.99),
        outcome.failed,
        peak_rss as f64 / 1024.0,
        multiple = rate / capacity(),
        accepted_rate = accepted.len() as f64 / elapsed,
        shed_share = 100.0 * shed.len() as f64 / total.max(1) as f64,
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let binary = args
        .next()
        .ok_or("usage: overload-bench <dice-server> [seconds]")?;
    let seconds: u64 = args.next().map_or(Ok(20), |s| s.parse())?;
    println!(
        "| limit | offered req/s | accepted req/s | shed | accepted p50 / p99 / max ms | shed p99 ms | failed | peak RSS MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (limit, multiple) in [(LIMIT, 1.0), (LIMIT, 10.0), (UNLIMITED, 10.0)] {
        println!(
            "{}",
            run(&binary, limit, capacity() * multiple, seconds).await?
        );
    }
    Ok(())
}
