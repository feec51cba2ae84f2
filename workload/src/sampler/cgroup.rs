//! Usage relative to the container's cgroup limits, which decide CPU throttling and OOM kills in
//! a pod — unlike the host numbers. cgroup v2 (`/sys/fs/cgroup/{memory.max,cpu.max,…}`) and v1
//! (`/sys/fs/cgroup/{memory,cpu,cpuacct}/…`) at the mount root, which inside a container (its
//! own cgroup namespace) is the container's cgroup.
//!
//! Memory "used" is the working set — usage minus inactive file cache — the number the kubelet
//! and `kubectl top` use; CPU is the cgroup's CPU time over the interval divided by the quota.

use super::sample::Container;
use std::path::PathBuf;
use std::time::Instant;

/// v1 reports "no limit" as a page-rounded `i64::MAX`; anything this large is unlimited.
const UNLIMITED_V1: u64 = 1 << 60;

#[derive(Debug)]
pub struct CgroupReader {
    root: PathBuf,
    /// CPU time (µs) at the previous reading.
    previous_cpu: Option<(Instant, u64)>,
}

impl CgroupReader {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            previous_cpu: None,
        }
    }

    /// `None` when neither memory nor CPU is limited (no container, or no limits set).
    pub fn read(&mut self) -> Option<Container> {
        let v2 = self.root.join("cgroup.controllers").exists();
        let (memory_limit, memory_usage, inactive_file) = if v2 {
            (
                limit(self.file("memory.max")),
                number(self.file("memory.current")),
                stat(self.file("memory.stat"), "inactive_file"),
            )
        } else {
            (
                number(self.file("memory/memory.limit_in_bytes")).filter(|l| *l < UNLIMITED_V1),
                number(self.file("memory/memory.usage_in_bytes")),
                stat(self.file("memory/memory.stat"), "total_inactive_file"),
            )
        };
        let (cpu_limit, cpu_micros) = if v2 {
            (
                cpu_max(self.file("cpu.max")),
                stat(self.file("cpu.stat"), "usage_usec"),
            )
        } else {
            (
                cpu_quota_v1(
                    number_signed(self.file("cpu/cpu.cfs_quota_us")),
                    number(self.file("cpu/cpu.cfs_period_us")),
                ),
                number(self.file("cpuacct/cpuacct.usage")).map(|ns| ns / 1000),
            )
        };
        if memory_limit.is_none() && cpu_limit.is_none() {
            return None;
        }
        let working_set = memory_usage.map(|u| u.saturating_sub(inactive_file.unwrap_or(0)));
        let now = Instant::now();
        let cpu_percent = match (cpu_limit, cpu_micros, self.previous_cpu) {
            (Some(cores), Some(micros), Some((then, before))) => {
                let wall = now.duration_since(then).as_secs_f64() * 1e6;
                (wall > 0.0).then(|| micros.saturating_sub(before) as f64 / (wall * cores) * 100.0)
            }
            _ => None,
        };
        self.previous_cpu = cpu_micros.map(|micros| (now, micros));
        Some(Container {
            memory_limit_bytes: memory_limit,
            memory_used_bytes: memory_limit.and(working_set),
            memory_percent_of_limit: match (memory_limit, working_set) {
                (Some(limit), Some(used)) if limit > 0 => Some(used as f64 * 100.0 / limit as f64),
                _ => None,
            },
            cpu_limit_cores: cpu_limit,
            cpu_percent_of_limit: cpu_percent,
        })
    }

    fn file(&self, relative: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(relative)).ok()
    }
}

fn number(text: Option<String>) -> Option<u64> {
    text?.trim().parse().ok()
}

fn number_signed(text: Option<String>) -> Option<i64> {
    text?.trim().parse().ok()
}

/// `memory.max`: bytes, or `max` for none.
fn limit(text: Option<String>) -> Option<u64> {
    text?.trim().parse().ok()
}

/// `key value` lines (`memory.stat`, `cpu.stat`).
fn stat(text: Option<String>, key: &str) -> Option<u64> {
    text?.lines().find_map(|line| {
        line.strip_prefix(key)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// `cpu.max`: `<quota> <period>` in µs, or `max <period>` for none; the limit in cores.
fn cpu_max(text: Option<String>) -> Option<f64> {
    let text = text?;
    let mut fields = text.split_whitespace();
    let quota: f64 = fields.next()?.parse().ok()?;
    let period: f64 = fields.next()?.parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

fn cpu_quota_v1(quota: Option<i64>, period: Option<u64>) -> Option<f64> {
    match (quota, period) {
        (Some(quota), Some(period)) if quota > 0 && period > 0 => {
            Some(quota as f64 / period as f64)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cgroup(files: &[(&str, &str)]) -> Result<tempfile::TempDir, std::io::Error> {
        let dir = tempfile::tempdir()?;
        for (path, content) in files {
            let path = dir.path().join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, content)?;
        }
        Ok(dir)
    }

    #[test]
    fn v2_limits_give_working_set_and_cpu_share_of_the_quota() -> Result<(), std::io::Error> {
        let dir = cgroup(&[
            ("cgroup.controllers", "cpu memory"),
            ("memory.max", "268435456\n"),
            ("memory.current", "134217728\n"),
            (
                "memory.stat",
                "anon 1\ninactive_file 33554432\nactive_file 2\n",
            ),
            ("cpu.max", "50000 100000\n"),
            ("cpu.stat", "usage_usec 1000000\nuser_usec 1\n"),
        ])?;
        let mut reader = CgroupReader::new(dir.path());
        let first = reader.read().ok_or(std::io::Error::other("no reading"))?;
        assert_eq!(first.memory_limit_bytes, Some(268_435_456));
        assert_eq!(
            first.memory_used_bytes,
            Some(100_663_296),
            "usage minus inactive file"
        );
        assert_eq!(first.memory_percent_of_limit, Some(37.5));
        assert_eq!(first.cpu_limit_cores, Some(0.5));
        assert_eq!(first.cpu_percent_of_limit, None, "needs two readings");
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::fs::write(dir.path().join("cpu.stat"), "usage_usec 1025000\n")?;
        let second = reader.read().ok_or(std::io::Error::other("no reading"))?;
        // 25 ms of CPU in about 100 ms against half a core: about 50%.
        let share = second.cpu_percent_of_limit.unwrap_or(0.0);
        assert!((20.0..=55.0).contains(&share), "{share}");
        Ok(())
    }

    #[test]
    fn no_limits_means_no_container_reading() -> Result<(), std::io::Error> {
        let v2 = cgroup(&[
            ("cgroup.controllers", "cpu memory"),
            ("memory.max", "max\n"),
            ("memory.current", "1000\n"),
            ("cpu.max", "max 100000\n"),
        ])?;
        assert_eq!(CgroupReader::new(v2.path()).read(), None);
        let v1 = cgroup(&[
            ("memory/memory.limit_in_bytes", "9223372036854771712\n"),
            ("cpu/cpu.cfs_quota_us", "-1\n"),
            ("cpu/cpu.cfs_period_us", "100000\n"),
        ])?;
        assert_eq!(CgroupReader::new(v1.path()).read(), None);
        Ok(())
    }

    #[test]
    fn v1_limits_are_read_from_the_controller_directories() -> Result<(), std::io::Error> {
        let dir = cgroup(&[
            ("memory/memory.limit_in_bytes", "1073741824\n"),
            ("memory/memory.usage_in_bytes", "536870912\n"),
            ("memory/memory.stat", "total_inactive_file 0\n"),
            ("cpu/cpu.cfs_quota_us", "200000\n"),
            ("cpu/cpu.cfs_period_us", "100000\n"),
            ("cpuacct/cpuacct.usage", "5000000000\n"),
        ])?;
        let reading = CgroupReader::new(dir.path())
            .read()
            .ok_or(std::io::Error::other("no reading"))?;
        assert_eq!(reading.memory_percent_of_limit, Some(50.0));
        assert_eq!(reading.cpu_limit_cores, Some(2.0));
        Ok(())
    }
}
