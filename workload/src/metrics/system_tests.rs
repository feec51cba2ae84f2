use super::*;
use crate::sampler::sample::{Container, Disk, Gpu, LoadAverage, Network, Temperature};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

fn exposition(sample: Option<Sample>) -> Result<String, Error> {
    let samples = Arc::new(Samples::default());
    if let Some(sample) = sample {
        samples.publish(sample);
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SystemCollector(samples)));
    let mut text = String::new();
    encode(&mut text, &registry)?;
    Ok(text)
}

fn sample_with_gpus() -> Sample {
    Sample {
        timestamp_ms: 1_700_000_000_000,
        disks: vec![Disk {
            mountpoint: "/data".into(),
            used_bytes: 300,
            free_bytes: 700,
            total_bytes: 1000,
            usage_percent: 30.0,
        }],
        temperatures: vec![Temperature {
            sensor: "acpitz".into(),
            celsius: 41.5,
        }],
        load: Some(LoadAverage {
            one: 0.5,
            five: 0.25,
            fifteen: 0.125,
        }),
        networks: vec![Network {
            interface: "eth0".into(),
            received_bytes: 10,
            transmitted_bytes: 20,
        }],
        container: Some(Container {
            memory_limit_bytes: Some(1024),
            memory_used_bytes: Some(512),
            memory_percent_of_limit: Some(50.0),
            cpu_limit_cores: None,
            cpu_percent_of_limit: None,
        }),
        gpus: vec![
            Gpu {
                index: 0,
                uuid: "GPU-0f".into(),
                name: "Tesla T4".into(),
                utilization_percent: Some(87.0),
                memory_used_bytes: Some(2048),
                memory_total_bytes: Some(16384),
                temperature_celsius: Some(66.0),
                power_watts: Some(70.5),
            },
            // A GPU whose driver does not report power or temperature.
            Gpu {
                index: 1,
                uuid: "GPU-1a".into(),
                name: "A100".into(),
                utilization_percent: Some(3.0),
                ..Gpu::default()
            },
        ],
        ..Sample::default()
    }
}

#[test]
fn nothing_is_exposed_before_the_first_sample() -> Result<(), Error> {
    assert_eq!(exposition(None)?, "# EOF\n");
    Ok(())
}

#[test]
fn gpu_readings_map_to_labelled_series() -> Result<(), Error> {
    let text = exposition(Some(sample_with_gpus()))?;
    for line in [
        "gpu_devices 2.0",
        "gpu_utilization_percent{gpu=\"0\",uuid=\"GPU-0f\",name=\"Tesla T4\"} 87.0",
        "gpu_utilization_percent{gpu=\"1\",uuid=\"GPU-1a\",name=\"A100\"} 3.0",
        "gpu_memory_used_bytes{gpu=\"0\",uuid=\"GPU-0f\",name=\"Tesla T4\"} 2048.0",
        "gpu_memory_total_bytes{gpu=\"0\",uuid=\"GPU-0f\",name=\"Tesla T4\"} 16384.0",
        "gpu_temperature_celsius{gpu=\"0\",uuid=\"GPU-0f\",name=\"Tesla T4\"} 66.0",
        "gpu_power_watts{gpu=\"0\",uuid=\"GPU-0f\",name=\"Tesla T4\"} 70.5",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(
        !text.contains("gpu_power_watts{gpu=\"1\""),
        "no made-up power for GPU 1:\n{text}"
    );
    Ok(())
}

#[test]
fn host_and_cgroup_readings_map_to_series_and_absent_ones_stay_absent() -> Result<(), Error> {
    let text = exposition(Some(sample_with_gpus()))?;
    for line in [
        "system_disk_used_bytes{mountpoint=\"/data\"} 300.0",
        "system_disk_free_bytes{mountpoint=\"/data\"} 700.0",
        "system_disk_total_bytes{mountpoint=\"/data\"} 1000.0",
        "system_temperature_celsius{sensor=\"acpitz\"} 41.5",
        "system_load1 0.5",
        "system_network_received_bytes_total{interface=\"eth0\"} 10",
        "system_cgroup_memory_usage_percent 50.0",
        "system_sample_timestamp_seconds 1700000000.0",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(
        !text.contains("system_cgroup_cpu"),
        "no CPU limit, no CPU series:\n{text}"
    );
    let no_sensors = Sample {
        temperatures: Vec::new(),
        gpus: Vec::new(),
        ..sample_with_gpus()
    };
    let text = exposition(Some(no_sensors))?;
    assert!(!text.contains("system_temperature_celsius"), "{text}");
    assert!(text.contains("gpu_devices 0.0"), "{text}");
    assert!(!text.contains("gpu_utilization_percent"), "{text}");
    Ok(())
}

/// Every series the collector can write, GPU and sensors included (these machines have
/// neither), passes `promtool check metrics`.
#[test]
fn promtool_accepts_every_system_and_gpu_series() -> Result<(), Error> {
    use std::io::Write;
    let Some(promtool) = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    }) else {
        println!("SKIP: promtool not installed (make test installs Debian `prometheus` as root)");
        return Ok(());
    };
    let text = crate::metrics::text_format::openmetrics_to_prometheus(&exposition(Some(
        sample_with_gpus(),
    ))?);
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|_| Error)?;
    child
        .stdin
        .take()
        .ok_or(Error)?
        .write_all(text.as_bytes())
        .map_err(|_| Error)?;
    let output = child.wait_with_output().map_err(|_| Error)?;
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && report.trim().is_empty(),
        "promtool: {report}\n---\n{text}"
    );
    Ok(())
}
