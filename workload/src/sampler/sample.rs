//! One reading of the machine: what the sampler publishes to the metrics, the JSON API and the
//! live page. Absent readings are absent (`None`, empty lists), never a made-up zero.

use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Milliseconds since the Unix epoch when the reading finished; 0 before the first one.
    pub timestamp_ms: u64,
    pub cpu: Cpu,
    pub memory: Memory,
    pub swap: Swap,
    pub disks: Vec<Disk>,
    pub temperatures: Vec<Temperature>,
    pub load: Option<LoadAverage>,
    pub networks: Vec<Network>,
    /// The cgroup's limits and usage when the process runs in a limited cgroup.
    pub container: Option<Container>,
    pub gpus: Vec<Gpu>,
}

/// Host CPU, averaged over the last sample interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cpu {
    pub usage_percent: f64,
    pub per_core_percent: Vec<f64>,
}

/// Host memory; `used` is total minus available (what the kernel could not hand out at once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Memory {
    pub used_bytes: u64,
    pub available_bytes: u64,
    pub total_bytes: u64,
    pub usage_percent: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Swap {
    pub used_bytes: u64,
    pub total_bytes: u64,
}

/// A mounted filesystem; `free` is what unprivileged users can still write.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Disk {
    pub mountpoint: String,
    pub used_bytes: u64,
    pub free_bytes: u64,
    pub total_bytes: u64,
    pub usage_percent: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Temperature {
    pub sensor: String,
    pub celsius: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LoadAverage {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

/// Bytes through one interface since it came up.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Network {
    pub interface: String,
    pub received_bytes: u64,
    pub transmitted_bytes: u64,
}

/// Usage relative to the cgroup's limits: what decides throttling and OOM kills in a pod,
/// unlike the host numbers above.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Container {
    pub memory_limit_bytes: Option<u64>,
    pub memory_used_bytes: Option<u64>,
    pub memory_percent_of_limit: Option<f64>,
    pub cpu_limit_cores: Option<f64>,
    pub cpu_percent_of_limit: Option<f64>,
}

/// One GPU as NVML reports it; a reading the driver does not support is `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Gpu {
    pub index: u32,
    pub uuid: String,
    pub name: String,
    pub utilization_percent: Option<f64>,
    pub memory_used_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    pub temperature_celsius: Option<f64>,
    pub power_watts: Option<f64>,
}

impl Sample {
    pub fn taken(&self) -> bool {
        self.timestamp_ms > 0
    }

    /// The hottest sensor, for the predecessor's single `temperature` field.
    pub fn max_temperature(&self) -> Option<f64> {
        self.temperatures.iter().map(|t| t.celsius).reduce(f64::max)
    }

    /// Mean utilisation over the GPUs that report it.
    pub fn mean_gpu_utilization(&self) -> Option<f64> {
        let readings: Vec<f64> = self
            .gpus
            .iter()
            .filter_map(|g| g.utilization_percent)
            .collect();
        (!readings.is_empty()).then(|| readings.iter().sum::<f64>() / readings.len() as f64)
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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
    fn summaries_are_absent_without_readings() {
        let mut sample = Sample::default();
        assert_eq!(sample.max_temperature(), None);
        assert_eq!(sample.mean_gpu_utilization(), None);
        sample.temperatures = vec![
            Temperature {
                sensor: "a".into(),
                celsius: 40.0,
            },
            Temperature {
                sensor: "b".into(),
                celsius: 55.5,
            },
        ];
        sample.gpus = vec![
            Gpu {
                utilization_percent: Some(10.0),
                ..Gpu::default()
            },
            Gpu {
                utilization_percent: None,
                ..Gpu::default()
            },
            Gpu {
                utilization_percent: Some(30.0),
                ..Gpu::default()
            },
        ];
        assert_eq!(sample.max_temperature(), Some(55.5));
        assert_eq!(sample.mean_gpu_utilization(), Some(20.0));
    }
}
