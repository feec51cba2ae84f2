//! System and GPU series, written at scrape time from the sampler's latest [`Sample`] — a scrape
//! never reads the system. A reading the sample lacks (no sensor, no GPU, no cgroup limit, no
//! sample yet) has no series rather than a zero.

use crate::sampler::sample::{Disk, Network};
use crate::sampler::{Sample, Samples};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::fmt::Error;
use std::sync::Arc;

type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
pub struct SystemCollector(pub Arc<Samples>);

impl Collector for SystemCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        let sample = self.0.latest();
        if !sample.taken() {
            return Ok(());
        }
        host(&mut encoder, &sample)?;
        cgroup(&mut encoder, &sample)?;
        gpus(&mut encoder, &sample)
    }
}

/// A metric family read from one part of a sample: name, help, reading.
type Family<T, V> = (&'static str, &'static str, fn(&T) -> V);

/// Host gauges with one value each (`None`: no series).
const HOST_GAUGES: [Family<Sample, Option<f64>>; 11] = [
    (
        "system_sample_timestamp_seconds",
        "When the system sample these series come from was taken (Unix time)",
        |s| Some(s.timestamp_ms as f64 / 1000.0),
    ),
    (
        "system_cpu_usage_percent",
        "Host CPU utilisation in percent, averaged over the last sample interval",
        |s| Some(s.cpu.usage_percent),
    ),
    (
        "system_memory_usage_percent",
        "Host memory in use, in percent of total",
        |s| Some(s.memory.usage_percent),
    ),
    (
        "system_memory_usage_bytes",
        "Host memory in use (total minus available), in bytes",
        |s| Some(s.memory.used_bytes as f64),
    ),
    (
        "system_memory_available_bytes",
        "Host memory available for new allocations without swapping, in bytes",
        |s| Some(s.memory.available_bytes as f64),
    ),
    (
        "system_memory_total_bytes",
        "Host memory in total, in bytes",
        |s| Some(s.memory.total_bytes as f64),
    ),
    ("system_swap_used_bytes", "Swap in use, in bytes", |s| {
        Some(s.swap.used_bytes as f64)
    }),
    ("system_swap_total_bytes", "Swap in total, in bytes", |s| {
        Some(s.swap.total_bytes as f64)
    }),
    ("system_load1", "Load average over 1 minute", |s| {
        s.load.map(|l| l.one)
    }),
    ("system_load5", "Load average over 5 minutes", |s| {
        s.load.map(|l| l.five)
    }),
    ("system_load15", "Load average over 15 minutes", |s| {
        s.load.map(|l| l.fifteen)
    }),
];

/// One series per filesystem, labelled by `mountpoint`.
const DISK_GAUGES: [Family<Disk, f64>; 4] = [
    (
        "system_disk_used_bytes",
        "Bytes in use on the filesystem holding mountpoint",
        |d| d.used_bytes as f64,
    ),
    (
        "system_disk_free_bytes",
        "Bytes unprivileged users can still write on the filesystem holding mountpoint",
        |d| d.free_bytes as f64,
    ),
    (
        "system_disk_total_bytes",
        "Size of the filesystem holding mountpoint, in bytes",
        |d| d.total_bytes as f64,
    ),
    (
        "system_disk_usage_percent",
        "Used share of the filesystem holding mountpoint, in percent (as df computes it)",
        |d| d.usage_percent,
    ),
];

/// One counter per network interface, labelled by `interface`.
const NETWORK_COUNTERS: [Family<Network, u64>; 2] = [
    (
        "system_network_received_bytes",
        "Bytes received on the interface since it came up",
        |n| n.received_bytes,
    ),
    (
        "system_network_transmitted_bytes",
        "Bytes sent on the interface since it came up",
        |n| n.transmitted_bytes,
    ),
];

fn host(e: &mut DescriptorEncoder, s: &Sample) -> Result<(), Error> {
    for (name, help, reading) in HOST_GAUGES {
        one(e, name, help, reading(s))?;
    }
    let cores = s
        .cpu
        .per_core_percent
        .iter()
        .enumerate()
        .map(|(i, v)| (vec![("core", i.to_string())], *v));
    many(
        e,
        "system_cpu_core_usage_percent",
        "Utilisation of one CPU core in percent, averaged over the last sample interval",
        cores,
    )?;
    for (name, help, reading) in DISK_GAUGES {
        let series = s
            .disks
            .iter()
            .map(|d| (vec![("mountpoint", d.mountpoint.clone())], reading(d)));
        many(e, name, help, series)?;
    }
    let sensors = s
        .temperatures
        .iter()
        .map(|t| (vec![("sensor", t.sensor.clone())], t.celsius));
    many(
        e,
        "system_temperature_celsius",
        "Temperature of one hardware sensor, in degrees Celsius",
        sensors,
    )?;
    for (name, help, reading) in NETWORK_COUNTERS {
        let series = s
            .networks
            .iter()
            .map(|n| (vec![("interface", n.interface.clone())], reading(n)));
        counters(e, name, help, series)?;
    }
    Ok(())
}

fn cgroup(e: &mut DescriptorEncoder, s: &Sample) -> Result<(), Error> {
    let Some(c) = s.container else {
        return Ok(());
    };
    one(
        e,
        "system_cgroup_memory_limit_bytes",
        "Memory limit of the container's cgroup, in bytes",
        c.memory_limit_bytes.map(|v| v as f64),
    )?;
    one(
        e,
        "system_cgroup_memory_working_set_bytes",
        "Container memory in use minus inactive file cache (what the kubelet compares with the limit), in bytes",
        c.memory_used_bytes.map(|v| v as f64),
    )?;
    one(
        e,
        "system_cgroup_memory_usage_percent",
        "Container working set in percent of its memory limit",
        c.memory_percent_of_limit,
    )?;
    one(
        e,
        "system_cgroup_cpu_limit_cores",
        "CPU limit of the container's cgroup, in cores",
        c.cpu_limit_cores,
    )?;
    one(
        e,
        "system_cgroup_cpu_usage_percent",
        "Container CPU use in percent of its CPU limit, over the last sample interval",
        c.cpu_percent_of_limit,
    )
}

fn gpus(e: &mut DescriptorEncoder, s: &Sample) -> Result<(), Error> {
    one(
        e,
        "gpu_devices",
        "GPUs the NVML collector sees (0 without a driver or GPU)",
        Some(s.gpus.len() as f64),
    )?;
    let labels = |g: &crate::sampler::sample::Gpu| -> Labels {
        vec![
            ("gpu", g.index.to_string()),
            ("uuid", g.uuid.clone()),
            ("name", g.name.clone()),
        ]
    };
    let per_gpu = |value: fn(&crate::sampler::sample::Gpu) -> Option<f64>| {
        s.gpus
            .iter()
            .filter_map(move |g| value(g).map(|v| (labels(g), v)))
    };
    many(
        e,
        "gpu_utilization_percent",
        "Share of the last sample period the GPU was busy, in percent",
        per_gpu(|g| g.utilization_percent),
    )?;
    many(
        e,
        "gpu_memory_used_bytes",
        "GPU memory in use, in bytes",
        per_gpu(|g| g.memory_used_bytes.map(|v| v as f64)),
    )?;
    many(
        e,
        "gpu_memory_total_bytes",
        "GPU memory in total, in bytes",
        per_gpu(|g| g.memory_total_bytes.map(|v| v as f64)),
    )?;
    many(
        e,
        "gpu_temperature_celsius",
        "GPU core temperature, in degrees Celsius",
        per_gpu(|g| g.temperature_celsius),
    )?;
    many(
        e,
        "gpu_power_watts",
        "GPU power draw, in watts",
        per_gpu(|g| g.power_watts),
    )
}

/// One unlabelled gauge, absent when `value` is.
fn one(e: &mut DescriptorEncoder, name: &str, help: &str, value: Option<f64>) -> Result<(), Error> {
    let Some(value) = value else {
        return Ok(());
    };
    let metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

/// A labelled gauge family, absent when it has no series.
fn many(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (Labels, f64)>,
) -> Result<(), Error> {
    family(
        e,
        name,
        help,
        MetricType::Gauge,
        series.map(|(l, v)| (l, ConstGauge::new(v))),
    )
}

/// A labelled counter family (`_total` is appended), absent when it has no series.
fn counters(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (Labels, u64)>,
) -> Result<(), Error> {
    family(
        e,
        name,
        help,
        MetricType::Counter,
        series.map(|(l, v)| (l, ConstCounter::new(v))),
    )
}

fn family<M: EncodeMetric>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric_type: MetricType,
    series: impl Iterator<Item = (Labels, M)>,
) -> Result<(), Error> {
    let series: Vec<_> = series.collect();
    if series.is_empty() {
        return Ok(());
    }
    let mut metric = e.encode_descriptor(name, help, None, metric_type)?;
    for (labels, value) in &series {
        value.encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "system_tests.rs"]
mod tests;
