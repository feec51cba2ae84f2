//! Background sampler: reads the host, the container's cgroup and the GPUs every interval, off
//! the request path, and publishes each [`Sample`] to the metrics collector, the JSON API and the
//! live page. Scrapes and API calls read the latest sample; they never read the system.

pub mod cgroup;
pub mod gpu;
pub mod host;
pub mod sample;

pub use sample::Sample;

use gpu::{GpuMode, GpuSource};
use host::{HostReader, LoggedOnce};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::broadcast;

/// Samples a live-page client may fall behind by before it is dropped.
const UPDATES_BUFFER: usize = 16;

#[derive(Debug, Clone)]
pub struct SamplerConfig {
    pub interval: Duration,
    /// Filesystems to report, by a path on each (e.g. `/` and the data directory).
    pub disk_paths: Vec<PathBuf>,
    pub gpu: GpuMode,
    pub cgroup_root: PathBuf,
}

/// The latest sample, and every new one as it is taken.
#[derive(Debug)]
pub struct Samples {
    latest: RwLock<Arc<Sample>>,
    updates: broadcast::Sender<Arc<Sample>>,
}

impl Default for Samples {
    fn default() -> Self {
        Self {
            latest: RwLock::default(),
            updates: broadcast::channel(UPDATES_BUFFER).0,
        }
    }
}

impl Samples {
    /// The newest sample; an empty one (`timestamp_ms == 0`) before the first reading.
    pub fn latest(&self) -> Arc<Sample> {
        self.latest
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every sample published from now on. A receiver that falls [`UPDATES_BUFFER`] behind
    /// gets `Lagged` instead of growing a queue.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Sample>> {
        self.updates.subscribe()
    }

    pub fn publish(&self, sample: Sample) {
        let sample = Arc::new(sample);
        *self.latest.write().unwrap_or_else(PoisonError::into_inner) = sample.clone();
        // No subscriber is fine: nobody has the page open.
        let _ = self.updates.send(sample);
    }
}

/// Everything one reading needs; moved into a blocking thread and back each time.
#[derive(Debug)]
struct Readers {
    host: HostReader,
    cgroup: cgroup::CgroupReader,
    gpu: Option<Box<dyn GpuSource>>,
    logged: LoggedOnce,
}

impl Readers {
    fn read(&mut self) -> Sample {
        let mut sample = Sample::default();
        self.host.read(&mut sample);
        sample.container = self.cgroup.read();
        if let Some(gpu) = self.gpu.as_mut() {
            match gpu.read() {
                Ok(gpus) => sample.gpus = gpus,
                Err(error) => self.logged.warn("gpu", &error),
            }
        }
        sample.timestamp_ms = sample::now_ms();
        sample
    }
}

/// Takes the first sample once CPU usage has a baseline, then one every interval.
pub fn spawn(samples: Arc<Samples>, config: SamplerConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let opened = tokio::task::spawn_blocking(move || {
            let host = HostReader::new(config.disk_paths)?;
            Ok::<_, sysinfo::Error>(Readers {
                host,
                cgroup: cgroup::CgroupReader::new(config.cgroup_root),
                gpu: gpu::open(config.gpu),
                logged: LoggedOnce::default(),
            })
        })
        .await;
        let mut readers = match opened {
            Ok(Ok(readers)) => readers,
            Ok(Err(error)) => {
                tracing::error!(%error, "system sampler unavailable; system_* metrics are absent");
                return;
            }
            Err(error) => {
                tracing::error!(%error, "system sampler did not start");
                return;
            }
        };
        tokio::time::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL).await;
        let mut ticker = tokio::time::interval(config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let sampled = tokio::task::spawn_blocking(move || {
                let sample = readers.read();
                (readers, sample)
            })
            .await;
            match sampled {
                Ok((returned, sample)) => {
                    readers = returned;
                    samples.publish(sample);
                }
                Err(error) => {
                    tracing::error!(%error, "system sampler stopped");
                    return;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishing_replaces_the_latest_and_reaches_subscribers() {
        let samples = Samples::default();
        assert!(!samples.latest().taken());
        let mut updates = samples.subscribe();
        let sample = Sample {
            timestamp_ms: 42,
            ..Sample::default()
        };
        samples.publish(sample.clone());
        assert_eq!(*samples.latest(), sample);
        assert_eq!(updates.try_recv().map(|s| s.timestamp_ms), Ok(42));
    }

    #[test]
    fn a_subscriber_that_falls_behind_is_told_so_instead_of_queueing() {
        let samples = Samples::default();
        let mut slow = samples.subscribe();
        for n in 0..(UPDATES_BUFFER as u64 + 5) {
            samples.publish(Sample {
                timestamp_ms: n + 1,
                ..Sample::default()
            });
        }
        assert!(matches!(
            slow.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(5))
        ));
    }
}
