use super::*;
use crate::history::store::Store;
use crate::metrics::Metrics;
use crate::sampler::sample::{Cpu, Disk, Memory};

fn sample(at_ms: u64, cpu: f64) -> Sample {
    Sample {
        timestamp_ms: at_ms,
        cpu: Cpu {
            usage_percent: cpu,
            per_core_percent: vec![],
        },
        memory: Memory {
            usage_percent: 50.0,
            ..Memory::default()
        },
        disks: vec![Disk {
            mountpoint: "/".into(),
            usage_percent: 10.0,
            ..Disk::default()
        }],
        ..Sample::default()
    }
}

fn writer(
    capacity: usize,
    retention: Duration,
    clock: Arc<ManualClock>,
) -> Result<(Writer, Store, HistoryMetrics), HistoryError> {
    let store = Store::lazy("sqlite::memory:")?;
    let metrics = Metrics::new(Arc::new(Samples::default())).history;
    let history = History::new(store.clone(), Duration::from_secs(30));
    Ok((
        Writer::new(history, metrics.clone(), capacity, retention, clock),
        store,
        metrics,
    ))
}

#[tokio::test]
async fn samples_are_stored_once_each_as_points_per_metric() -> Result<(), HistoryError> {
    let (mut writer, store, metrics) = writer(10, Duration::from_secs(3600), Arc::default())?;
    writer.buffer(&sample(1_000, 10.0));
    writer.buffer(&sample(1_000, 10.0)); // the same sample again: not stored twice
    writer.buffer(&sample(31_000, 20.0));
    writer.flush().await?;
    assert_eq!(store.count("cpu").await?, 2);
    assert_eq!(store.count("ram").await?, 2);
    assert_eq!(store.count("disk").await?, 2);
    assert_eq!(store.count("gpu").await?, 0, "no GPU, no points");
    assert_eq!(writer.buffered(), 0);
    assert_eq!(
        metrics
            .writes
            .get_or_create(&WriteResult { result: "success" })
            .get(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn a_full_buffer_drops_the_oldest_and_counts_it() -> Result<(), HistoryError> {
    let (mut writer, _store, metrics) = writer(3, Duration::from_secs(3600), Arc::default())?;
    for n in 1..=5 {
        writer.buffer(&sample(n * 1000, 1.0));
    }
    assert_eq!(writer.buffered(), 3);
    assert_eq!(metrics.dropped.get(), 2);
    assert_eq!(metrics.buffer_depth.get(), 3);
    Ok(())
}

#[tokio::test]
async fn retention_deletes_what_is_older_with_an_injected_clock() -> Result<(), HistoryError> {
    let clock = Arc::new(ManualClock::default());
    let day = 86_400_000;
    let (mut writer, store, _) = writer(100, Duration::from_millis(7 * day as u64), clock.clone())?;
    for days_ago in [9, 8, 6, 1] {
        writer.buffer(&sample((10 - days_ago) * day as u64, 1.0));
    }
    writer.flush().await?;
    clock.set_ms(10 * day);
    let deleted = writer.cleanup_if_due().await?;
    assert_eq!(
        deleted,
        2 * 3,
        "two samples of cpu, ram and disk older than 7 days"
    );
    assert_eq!(store.count("cpu").await?, 2);
    // Not due again until a tenth of the retention (capped at an hour) has passed.
    assert_eq!(writer.cleanup_if_due().await?, 0);
    Ok(())
}

#[tokio::test]
async fn downsampling_averages_per_bucket_in_the_database() -> Result<(), HistoryError> {
    let (mut writer, store, _) = writer(100, Duration::from_secs(86_400), Arc::default())?;
    // Two buckets of 60 s: 10, 20, 30 then 40, 50.
    for (at, cpu) in [
        (0, 10.0),
        (20_000, 20.0),
        (40_000, 30.0),
        (60_000, 40.0),
        (80_000, 50.0),
    ] {
        writer.buffer(&sample(1_000_000 + at, cpu));
    }
    writer.flush().await?;
    let buckets = store
        .downsample("cpu", (1_000_000, 1_120_000), 60_000, 1000)
        .await?;
    let summary: Vec<(i64, f64, f64, f64)> = buckets
        .iter()
        .map(|b| (b.start_ms, b.avg, b.min, b.max))
        .collect();
    assert_eq!(
        summary,
        vec![(1_000_000, 20.0, 10.0, 30.0), (1_060_000, 45.0, 40.0, 50.0)]
    );
    Ok(())
}

#[tokio::test]
async fn rollups_answer_long_steps_exactly_and_count_duplicates_once() -> Result<(), HistoryError> {
    let store = Store::lazy("sqlite::memory:")?;
    store.migrate().await?;
    let start = 1_700_000_100_000; // a multiple of five minutes
    let points: Vec<Point> = (0..120)
        .map(|i| Point {
            metric: "cpu",
            series: String::new(),
            at_ms: start + i * 30_000,
            value: i as f64,
        })
        .collect();
    store.insert(&points).await?;
    store.insert(&points[..50]).await?; // a retried batch: already stored
    let buckets = store
        .downsample("cpu", (start, start + 3_600_000), 900_000, 1000)
        .await?;
    let expected: Vec<(i64, f64, f64, f64)> = (0..4)
        .map(|b| {
            let values: Vec<f64> = (b * 30..(b + 1) * 30).map(|i| i as f64).collect();
            let avg = values.iter().sum::<f64>() / 30.0;
            (start + b * 900_000, avg, values[0], values[29])
        })
        .collect();
    let got: Vec<(i64, f64, f64, f64)> = buckets
        .iter()
        .map(|b| (b.start_ms, b.avg, b.min, b.max))
        .collect();
    assert_eq!(got, expected);
    Ok(())
}

#[tokio::test]
async fn a_query_reads_at_most_its_row_budget() -> Result<(), HistoryError> {
    let store = Store::lazy("sqlite::memory:")?;
    store.migrate().await?;
    // 40 series × 100 samples: 4,000 rows, asked for in buckets of one sample each.
    let points: Vec<Point> = (0..40)
        .flat_map(|series| {
            (0..100).map(move |i| Point {
                metric: "disk",
                series: format!("/mnt/{series}"),
                at_ms: 1_000_000 + i * 1_000,
                value: 1.0,
            })
        })
        .collect();
    store.insert(&points).await?;
    let buckets = store
        .downsample("disk", (1_000_000, 1_100_000), 1_000, 2_500)
        .await?;
    assert_eq!(buckets.len(), 2_500);
    Ok(())
}
