//! Host readings: CPU (total and per core) and memory through sysinfo, disks by `statvfs` on
//! the configured paths, temperatures, load average and network counters. A reading that fails
//! is logged once and left out of the sample; the others still arrive.

use super::sample::{Cpu, Disk, LoadAverage, Memory, Network, Sample, Swap, Temperature, percent};
use std::collections::BTreeSet;
use std::path::PathBuf;
use sysinfo::{Components, CpuRefreshKind, MemoryRefreshKind, Networks, RefreshKind, System};

/// Interfaces beyond this many (sorted by name) are left out: node-level network namespaces can
/// hold hundreds of veth pairs, and each would be a series.
const MAX_INTERFACES: usize = 16;

/// Reading kinds that already logged a failure, so a broken sensor logs once, not every 5 s.
#[derive(Debug, Default)]
pub struct LoggedOnce(BTreeSet<&'static str>);

impl LoggedOnce {
    pub fn warn(&mut self, reading: &'static str, error: &dyn std::fmt::Display) {
        if self.0.insert(reading) {
            tracing::warn!(reading, %error, "system reading unavailable; its series are left out");
        }
    }
}

#[derive(Debug)]
pub struct HostReader {
    system: System,
    components: Option<Components>,
    networks: Option<Networks>,
    disk_paths: Vec<PathBuf>,
    logged: LoggedOnce,
}

impl HostReader {
    /// Fails only when CPU and memory cannot be read at all.
    pub fn new(disk_paths: Vec<PathBuf>) -> Result<Self, sysinfo::Error> {
        let mut system = System::new_with_specifics(refresh_kind())?;
        system.refresh_specifics(refresh_kind());
        let mut logged = LoggedOnce::default();
        let components = Components::new_with_refreshed_list()
            .map_err(|e| logged.warn("temperature", &e))
            .ok();
        let networks = Networks::new_with_refreshed_list()
            .map_err(|e| logged.warn("network", &e))
            .ok();
        Ok(Self {
            system,
            components,
            networks,
            disk_paths,
            logged,
        })
    }

    /// Fills the host part of `sample`. CPU usage is the average since the previous call.
    pub fn read(&mut self, sample: &mut Sample) {
        self.system.refresh_specifics(refresh_kind());
        sample.cpu = Cpu {
            usage_percent: f64::from(self.system.global_cpu_usage()),
            per_core_percent: self
                .system
                .cpus()
                .iter()
                .map(|cpu| f64::from(cpu.usage()))
                .collect(),
        };
        let total = self.system.total_memory();
        let available = self.system.available_memory();
        let used = total.saturating_sub(available);
        sample.memory = Memory {
            used_bytes: used,
            available_bytes: available,
            total_bytes: total,
            usage_percent: percent(used, total),
        };
        sample.swap = Swap {
            used_bytes: self.system.used_swap(),
            total_bytes: self.system.total_swap(),
        };
        sample.disks = self.disks();
        sample.temperatures = self.temperatures();
        sample.load = match System::load_average() {
            Ok(load) => Some(LoadAverage {
                one: load.one,
                five: load.five,
                fifteen: load.fifteen,
            }),
            Err(error) => {
                self.logged.warn("load_average", &error);
                None
            }
        };
        sample.networks = self.networks();
    }

    fn disks(&mut self) -> Vec<Disk> {
        let mut disks = Vec::new();
        for path in &self.disk_paths {
            match nix::sys::statvfs::statvfs(path) {
                Ok(stats) => disks.push(disk(path.display().to_string(), &stats)),
                Err(error) => {
                    let reading = if disks.is_empty() {
                        "disk"
                    } else {
                        "disk_extra"
                    };
                    self.logged
                        .warn(reading, &format!("{}: {error}", path.display()));
                }
            }
        }
        disks
    }

    fn temperatures(&mut self) -> Vec<Temperature> {
        let Some(components) = self.components.as_mut() else {
            return Vec::new();
        };
        components.refresh(false);
        let mut readings: Vec<Temperature> = (&*components)
            .into_iter()
            .filter_map(|c| {
                let celsius = f64::from(c.temperature()?);
                celsius.is_finite().then(|| Temperature {
                    sensor: c.label().to_owned(),
                    celsius,
                })
            })
            .collect();
        readings.sort_by(|a, b| a.sensor.cmp(&b.sensor));
        readings.dedup_by(|a, b| a.sensor == b.sensor);
        readings
    }

    fn networks(&mut self) -> Vec<Network> {
        let Some(networks) = self.networks.as_mut() else {
            return Vec::new();
        };
        networks.refresh(true);
        let mut interfaces: Vec<Network> = (&*networks)
            .into_iter()
            .filter(|(name, _)| name.as_os_str() != "lo")
            .map(|(name, data)| Network {
                interface: name.to_string_lossy().into_owned(),
                received_bytes: data.total_received(),
                transmitted_bytes: data.total_transmitted(),
            })
            .collect();
        interfaces.sort_by(|a, b| a.interface.cmp(&b.interface));
        interfaces.truncate(MAX_INTERFACES);
        interfaces
    }
}

fn refresh_kind() -> RefreshKind {
    RefreshKind::nothing()
        .with_cpu(CpuRefreshKind::nothing().with_usage())
        .with_memory(MemoryRefreshKind::everything())
}

/// `used` counts blocks in use (as `df` does); `free` is what unprivileged writers still have.
fn disk(mountpoint: String, stats: &nix::sys::statvfs::Statvfs) -> Disk {
    let block = stats.fragment_size();
    let total = stats.blocks().saturating_mul(block);
    let used = stats
        .blocks()
        .saturating_sub(stats.blocks_free())
        .saturating_mul(block);
    let free = stats.blocks_available().saturating_mul(block);
    Disk {
        mountpoint,
        used_bytes: used,
        free_bytes: free,
        total_bytes: total,
        // Like `df`: of the space users can have (used + available), not of the raw total.
        usage_percent: percent(used, used.saturating_add(free)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine() -> Result<(), sysinfo::Error> {
        let mut reader = HostReader::new(vec!["/".into(), "/does/not/exist".into()])?;
        let mut sample = Sample::default();
        reader.read(&mut sample);
        assert!(sample.memory.total_bytes > 0);
        assert!((0.0..=100.0).contains(&sample.memory.usage_percent));
        assert!(!sample.cpu.per_core_percent.is_empty());
        // The missing path is left out, the root filesystem is there.
        assert_eq!(sample.disks.len(), 1);
        let root = &sample.disks[0];
        assert_eq!(root.mountpoint, "/");
        assert!(root.total_bytes > 0 && root.used_bytes + root.free_bytes <= root.total_bytes);
        assert!(sample.load.is_some());
        Ok(())
    }

    #[test]
    fn a_failing_reading_logs_once() {
        let mut logged = LoggedOnce::default();
        logged.warn("disk", &"gone");
        logged.warn("disk", &"gone");
        assert_eq!(logged.0.len(), 1);
    }
}
