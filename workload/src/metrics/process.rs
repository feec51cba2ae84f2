//! Standard `process_*` metrics, read from /proc at scrape time (Linux; absent elsewhere).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::time::{SystemTime, UNIX_EPOCH};

/// Kernel clock ticks per second as exposed to user space (`USER_HZ`); fixed at 100 on Linux.
const USER_HZ: f64 = 100.0;

pub fn register(registry: &mut Registry) {
    registry.register_collector(Box::new(ProcessCollector {
        start_time_seconds: start_time_seconds(),
    }));
}

#[derive(Debug)]
struct ProcessCollector {
    start_time_seconds: Option<f64>,
}

/// One reading of the process's own counters.
#[derive(Debug, Default, PartialEq)]
pub struct ProcessReading {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub threads: u64,
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(reading) = read_process() {
            let counter = ConstCounter::new(reading.cpu_seconds);
            let help = "Total user and system CPU time spent in seconds.";
            counter.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                help,
                None,
                counter.metric_type(),
            )?)?;
            gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                reading.resident_bytes as f64,
            )?;
            gauge(
                &mut encoder,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                reading.virtual_bytes as f64,
            )?;
            gauge(
                &mut encoder,
                "process_threads",
                "Number of OS threads in the process.",
                reading.threads as f64,
            )?;
        }
        if let Some(open) = count_open_fds() {
            gauge(
                &mut encoder,
                "process_open_fds",
                "Number of open file descriptors.",
                open as f64,
            )?;
        }
        if let Some(max) = max_fds() {
            gauge(
                &mut encoder,
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max as f64,
            )?;
        }
        if let Some(start) = self.start_time_seconds {
            gauge(
                &mut encoder,
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                start,
            )?;
        }
        Ok(())
    }
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> std::fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn read_process() -> Option<ProcessReading> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_process(&stat, &status)
}

/// Parses `/proc/self/stat` (CPU ticks) and `/proc/self/status` (memory in kB, threads).
pub fn parse_process(stat: &str, status: &str) -> Option<ProcessReading> {
    // The command name may contain spaces and parentheses; fields start after the last ')'.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .collect();
    // Field 14 (utime) and 15 (stime) of proc(5) are at 11 and 12 counting from field 3 (state).
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..].split_whitespace().next()?.parse().ok()
    };
    Some(ProcessReading {
        cpu_seconds: ticks as f64 / USER_HZ,
        resident_bytes: kib("VmRSS:")? * 1024,
        virtual_bytes: kib("VmSize:")? * 1024,
        threads: kib("Threads:")?,
    })
}

fn count_open_fds() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

fn max_fds() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_max_open_files(&limits)
}

/// The soft limit from the `Max open files` row of `/proc/self/limits`.
pub fn parse_max_open_files(limits: &str) -> Option<u64> {
    let row = limits.lines().find(|l| l.starts_with("Max open files"))?;
    row["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Process start from boot time (`/proc/stat` btime) plus the start tick in `/proc/self/stat`.
fn start_time_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .collect();
    let start_ticks: f64 = fields.get(19)?.parse().ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let btime: f64 = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let start = btime + start_ticks / USER_HZ;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    (start <= now + 1.0).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (dice (server)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 7 0 123456 987654321 2048 18446744073709551615";
    const STATUS: &str =
        "Name:\tdice-server\nVmSize:\t  964504 kB\nVmRSS:\t    8192 kB\nThreads:\t7\n";

    #[test]
    fn parses_cpu_memory_and_threads_even_with_odd_command_names() {
        let reading = parse_process(STAT, STATUS);
        assert_eq!(
            reading,
            Some(ProcessReading {
                cpu_seconds: 3.0,
                resident_bytes: 8192 * 1024,
                virtual_bytes: 964_504 * 1024,
                threads: 7,
            })
        );
    }

    #[test]
    fn truncated_proc_files_give_no_reading() {
        assert_eq!(parse_process("4242 (dice", STATUS), None);
        assert_eq!(parse_process(STAT, "Name:\tx\n"), None);
    }

    #[test]
    fn reads_the_soft_open_files_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(parse_max_open_files(limits), Some(1024));
        assert_eq!(parse_max_open_files("nothing here"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_test_process() {
        let reading = read_process();
        assert!(
            reading
                .as_ref()
                .is_some_and(|r| r.resident_bytes > 0 && r.threads >= 1),
            "{reading:?}"
        );
        assert!(count_open_fds().is_some_and(|n| n >= 3));
        assert!(start_time_seconds().is_some_and(|s| s > 1.6e9));
    }
}
