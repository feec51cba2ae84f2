//! Background system sampler: reads CPU and memory every interval, off the request path.

use crate::metrics::SystemGauges;
use crate::state::AppState;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

/// The latest reading; `taken_at` is `None` until the first sample completes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SystemSnapshot {
    pub cpu_usage_percent: f64,
    pub memory_usage_percent: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub taken_at: Option<SystemTime>,
}

#[derive(Debug, Default)]
pub struct SystemSnapshotCell(RwLock<SystemSnapshot>);

impl SystemSnapshotCell {
    pub fn latest(&self) -> SystemSnapshot {
        self.0
            .read()
            .map(|s| *s)
            .unwrap_or_else(|poisoned| *poisoned.into_inner())
    }

    fn store(&self, snapshot: SystemSnapshot) {
        match self.0.write() {
            Ok(mut slot) => *slot = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
    }
}

/// Samples immediately (CPU needs two readings a moment apart), then every `interval`.
pub fn spawn(state: AppState, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let refresh = RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_usage())
            .with_memory(MemoryRefreshKind::nothing().with_ram());
        let mut system = match System::new_with_specifics(refresh) {
            Ok(system) => system,
            Err(error) => {
                tracing::error!(%error, "system sampler unavailable; system_* metrics stay at 0");
                return;
            }
        };
        tokio::time::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL).await;
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            let sampled = tokio::task::spawn_blocking(move || {
                system.refresh_specifics(refresh);
                let snapshot = read(&system);
                (system, snapshot)
            })
            .await;
            match sampled {
                Ok((returned, snapshot)) => {
                    system = returned;
                    publish(&state.metrics.system, &state.system, snapshot);
                }
                Err(error) => {
                    tracing::error!(%error, "system sampler stopped");
                    return;
                }
            }
        }
    })
}

fn read(system: &System) -> SystemSnapshot {
    let total = system.total_memory();
    let used = system.used_memory();
    SystemSnapshot {
        cpu_usage_percent: f64::from(system.global_cpu_usage()),
        memory_usage_percent: percent(used, total),
        memory_used_bytes: used,
        memory_total_bytes: total,
        taken_at: Some(SystemTime::now()),
    }
}

fn publish(gauges: &SystemGauges, cell: &SystemSnapshotCell, snapshot: SystemSnapshot) {
    gauges.cpu_usage_percent.set(snapshot.cpu_usage_percent);
    gauges
        .memory_usage_percent
        .set(snapshot.memory_usage_percent);
    gauges
        .memory_usage_bytes
        .set(i64::try_from(snapshot.memory_used_bytes).unwrap_or(i64::MAX));
    cell.store(snapshot);
}

pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_handles_zero_totals() {
        assert_eq!(percent(1, 0), 0.0);
        assert!((percent(1, 4) - 25.0).abs() < 1e-9);
    }

    #[test]
    fn publishing_updates_gauges_and_snapshot() {
        let gauges = SystemGauges::default();
        let cell = SystemSnapshotCell::default();
        let snapshot = SystemSnapshot {
            cpu_usage_percent: 12.5,
            memory_usage_percent: 50.0,
            memory_used_bytes: 1024,
            memory_total_bytes: 2048,
            taken_at: Some(SystemTime::now()),
        };
        publish(&gauges, &cell, snapshot);
        assert_eq!(cell.latest(), snapshot);
        assert_eq!(gauges.cpu_usage_percent.get(), 12.5);
        assert_eq!(gauges.memory_usage_bytes.get(), 1024);
    }

    #[test]
    fn reads_real_memory_of_this_machine() {
        let refresh = RefreshKind::nothing().with_memory(MemoryRefreshKind::nothing().with_ram());
        let system = System::new_with_specifics(refresh);
        let snapshot = read(&system.unwrap_or_else(|e| panic!("sysinfo: {e}")));
        assert!(snapshot.memory_total_bytes > 0);
        assert!((0.0..=100.0).contains(&snapshot.memory_usage_percent));
    }
}
