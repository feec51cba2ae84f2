//! The writer: every persist interval the latest sample goes into a bounded buffer, and the
//! buffer is written in one batched transaction; a failed write is retried with backoff while
//! new samples keep arriving (oldest dropped first when the buffer is full). Retention deletes
//! run every tenth of the retention, at most hourly.

use super::{History, HistoryError, Point};
use crate::metrics::HistoryMetrics;
use crate::metrics::history::WriteResult;
use crate::sampler::{Sample, Samples};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Time as the writer sees it; tests inject their own to test retention.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that shows what it is set to: retention and rollups tested without waiting.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn set_ms(&self, now_ms: i64) {
        self.0.store(now_ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The stored metrics of one sample: `cpu` and `ram` (percent), `gpu` (utilisation per GPU),
/// `temperature` (°C per sensor), `disk` (percent used per mountpoint).
pub fn points(sample: &Sample) -> Vec<Point> {
    let at_ms = i64::try_from(sample.timestamp_ms).unwrap_or(i64::MAX);
    let point = |metric, series: String, value| Point {
        metric,
        series,
        at_ms,
        value,
    };
    let mut points = vec![
        point("cpu", String::new(), sample.cpu.usage_percent),
        point("ram", String::new(), sample.memory.usage_percent),
    ];
    for gpu in &sample.gpus {
        if let Some(utilization) = gpu.utilization_percent {
            points.push(point("gpu", format!("gpu{}", gpu.index), utilization));
        }
    }
    for sensor in &sample.temperatures {
        points.push(point("temperature", sensor.sensor.clone(), sensor.celsius));
    }
    for disk in &sample.disks {
        points.push(point("disk", disk.mountpoint.clone(), disk.usage_percent));
    }
    points
}

#[derive(Debug)]
pub struct Writer {
    history: History,
    metrics: HistoryMetrics,
    buffer: VecDeque<Vec<Point>>,
    capacity: usize,
    retention: Duration,
    clock: Arc<dyn Clock>,
    migrated: bool,
    failures: u32,
    last_buffered_ms: u64,
    last_cleanup_ms: Option<i64>,
}

impl Writer {
    pub fn new(
        history: History,
        metrics: HistoryMetrics,
        capacity: usize,
        retention: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            history,
            metrics,
            buffer: VecDeque::new(),
            capacity: capacity.max(1),
            retention,
            clock,
            migrated: false,
            failures: 0,
            last_buffered_ms: 0,
            last_cleanup_ms: None,
        }
    }

    /// Queues a sample taken since the last one; drops the oldest queued one when full.
    pub fn buffer(&mut self, sample: &Sample) {
        if !sample.taken() || sample.timestamp_ms <= self.last_buffered_ms {
            return;
        }
        self.last_buffered_ms = sample.timestamp_ms;
        self.buffer.push_back(points(sample));
        while self.buffer.len() > self.capacity {
            self.buffer.pop_front();
            self.metrics.dropped.inc();
        }
        self.metrics.buffer_depth.set(self.buffer.len() as i64);
    }

    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Writes everything queued in one transaction (migrating first, once).
    pub async fn flush(&mut self) -> Result<(), HistoryError> {
        let started = Instant::now();
        let result = self.try_flush().await;
        match &result {
            Ok(false) => {}
            Ok(true) => {
                self.metrics
                    .writes
                    .get_or_create(&WriteResult { result: "success" })
                    .inc();
                self.metrics
                    .write_duration
                    .observe(started.elapsed().as_secs_f64());
            }
            Err(_) => {
                self.metrics
                    .writes
                    .get_or_create(&WriteResult { result: "failure" })
                    .inc();
            }
        }
        match &result {
            Ok(_) => {
                self.failures = 0;
                self.history.set_problem(None);
            }
            Err(error) => {
                if self.failures == 0 {
                    tracing::warn!(%error, buffered = self.buffer.len(), "history write failed; retrying with backoff");
                }
                self.failures += 1;
                self.history.set_problem(Some(error.to_string()));
            }
        }
        result.map(|_| ())
    }

    /// Whether anything was written.
    async fn try_flush(&mut self) -> Result<bool, HistoryError> {
        if !self.migrated {
            self.history.store.migrate().await?;
            self.migrated = true;
        }
        if self.buffer.is_empty() {
            return Ok(false);
        }
        let points: Vec<Point> = self.buffer.iter().flatten().cloned().collect();
        self.history.store.insert(&points).await?;
        self.buffer.clear();
        self.metrics.buffer_depth.set(0);
        Ok(true)
    }

    /// Deletes what the retention no longer keeps, when a cleanup is due.
    pub async fn cleanup_if_due(&mut self) -> Result<u64, HistoryError> {
        let now = self.clock.now_ms();
        let every = (self.retention / 10).min(Duration::from_secs(3600));
        let due = self
            .last_cleanup_ms
            .is_none_or(|last| now - last >= i64::try_from(every.as_millis()).unwrap_or(i64::MAX));
        if !due || !self.migrated {
            return Ok(0);
        }
        let cutoff = now - i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let deleted = self.history.store.delete_before(cutoff).await?;
        self.last_cleanup_ms = Some(now);
        if deleted > 0 {
            tracing::debug!(deleted, "history retention cleanup");
        }
        Ok(deleted)
    }

    fn backoff(&self) -> Duration {
        let seconds = 1u64 << self.failures.saturating_sub(1).min(5);
        Duration::from_secs(seconds).min(MAX_BACKOFF)
    }

    /// Buffers the latest sample every `interval`, writes, retries failures with backoff. When
    /// `stop` fires, the latest sample is buffered and everything queued gets one last write.
    pub fn spawn(
        mut self,
        samples: Arc<Samples>,
        interval: Duration,
        mut stop: tokio::sync::oneshot::Receiver<()>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut next_persist = tokio::time::Instant::now() + interval;
            // Connect and migrate at once, so /api/v1/history works before the first write.
            let mut retry_at = Some(tokio::time::Instant::now());
            loop {
                let wake = retry_at.map_or(next_persist, |r| r.min(next_persist));
                tokio::select! {
                    () = tokio::time::sleep_until(wake) => {}
                    _ = &mut stop => break,
                }
                if tokio::time::Instant::now() >= next_persist {
                    self.buffer(&samples.latest());
                    next_persist += interval;
                }
                retry_at = match self.flush().await {
                    Ok(()) => None,
                    Err(_) => Some(tokio::time::Instant::now() + self.backoff()),
                };
                if let Err(error) = self.cleanup_if_due().await {
                    tracing::warn!(%error, "history retention cleanup failed");
                }
            }
            self.buffer(&samples.latest());
            let queued = self.buffered();
            match self.flush().await {
                Ok(()) => tracing::info!(samples = queued, "history written before exit"),
                Err(error) => {
                    tracing::warn!(%error, samples = queued, "final history write failed; these samples are lost");
                }
            }
        })
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
