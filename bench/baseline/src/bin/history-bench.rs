//! History store benchmark: 7 days of 30-second samples for every stored metric (cpu, ram,
//! one GPU, two temperature sensors, two disks) inserted through the writer's batched path,
//! then a 7-day query downsampled to about 500 points (20-minute steps), repeated. Prints one Markdown table row.
//! `history-bench <database url> <label>`; bench/history_bench.sh runs it for SQLite and
//! PostgreSQL.

use dice_workload::history::{Point, Store, points};
use dice_workload::sampler::Sample;
use dice_workload::sampler::sample::{Cpu, Disk, Gpu, Memory, Temperature};
use std::time::{Duration, Instant};

const WEEK_MS: i64 = 7 * 86_400_000;
const EVERY_MS: i64 = 30_000;
const BATCH_SAMPLES: usize = 120; // one hour of samples per write, like a writer catching up
const QUERIES: usize = 50;

fn sample(at_ms: i64, n: i64) -> Sample {
    let wave = |offset: i64| ((n + offset) % 100) as f64;
    Sample {
        timestamp_ms: at_ms as u64,
        cpu: Cpu {
            usage_percent: wave(0),
            per_core_percent: vec![],
        },
        memory: Memory {
            usage_percent: wave(10),
            ..Memory::default()
        },
        gpus: vec![Gpu {
            index: 0,
            utilization_percent: Some(wave(20)),
            ..Gpu::default()
        }],
        temperatures: ["cpu", "board"]
            .iter()
            .map(|s| Temperature {
                sensor: (*s).into(),
                celsius: 40.0 + wave(30) / 10.0,
            })
            .collect(),
        disks: ["/", "/data"]
            .iter()
            .map(|m| Disk {
                mountpoint: (*m).into(),
                usage_percent: wave(40),
                ..Disk::default()
            })
            .collect(),
        ..Sample::default()
    }
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: history-bench <database url> <label>")?;
    let label = args.next().unwrap_or_else(|| url.clone());
    let store = Store::lazy(&url)?;
    store.migrate().await?;
    let start = 1_700_000_100_000_i64; // a whole number of five-minute periods
    let samples: Vec<Sample> = (0..WEEK_MS / EVERY_MS)
        .map(|n| sample(start + n * EVERY_MS, n))
        .collect();
    let rows: usize = samples.iter().map(|s| points(s).len()).sum();
    let inserting = Instant::now();
    for batch in samples.chunks(BATCH_SAMPLES) {
        let batch: Vec<Point> = batch.iter().flat_map(points).collect();
        store.insert(&batch).await?;
    }
    let insert_seconds = inserting.elapsed().as_secs_f64();
    // About 500 points: 20-minute steps (504), whole rollup periods as the API picks them.
    let step = 1_200_000;
    let mut latencies = Vec::with_capacity(QUERIES);
    for round in 0..QUERIES {
        let metric = ["cpu", "temperature", "disk", "ram", "gpu"][round % 5];
        let began = Instant::now();
        let buckets = store
            .downsample(metric, (start, start + WEEK_MS), step, 32_000)
            .await?;
        latencies.push(began.elapsed());
        if buckets.len() < 504 {
            return Err(format!("{metric}: only {} buckets", buckets.len()).into());
        }
    }
    latencies.sort();
    println!(
        "| {label} | {} samples, {rows} rows | {:.0} rows/s ({:.1} s) | {:.1} | {:.1} |",
        samples.len(),
        rows as f64 / insert_seconds,
        insert_seconds,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    );
    Ok(())
}
