//! Failures injected into a running stack the way they happen in a cluster: a container killed
//! and restarted by the kubelet, its endpoints gone from Prometheus' targets, the Service
//! unreachable for the blackbox probe, and memory growing towards the container's limit.

use crate::stack::Stack;
use crate::{Error, Result};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long Prometheus gets to apply a changed configuration.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);

/// A cgroup v2 directory for dice-server's sampler (`DICE_CGROUP_ROOT`): a memory limit and a
/// usage the test sets, read as the kernel reports them inside a container.
#[derive(Debug)]
pub struct FakeCgroup {
    dir: PathBuf,
}

impl FakeCgroup {
    pub fn create(dir: &Path, limit_bytes: u64, usage_bytes: u64) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let cgroup = Self {
            dir: dir.to_path_buf(),
        };
        cgroup.write("cgroup.controllers", "cpu memory\n")?;
        cgroup.write("memory.max", &format!("{limit_bytes}\n"))?;
        cgroup.write("memory.stat", "inactive_file 0\n")?;
        cgroup.write("cpu.max", "max 100000\n")?;
        cgroup.write("cpu.stat", "usage_usec 0\n")?;
        cgroup.set_usage(usage_bytes)?;
        Ok(cgroup)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The container's memory usage from now on (`memory.current`).
    pub fn set_usage(&self, bytes: u64) -> Result<()> {
        self.write("memory.current", &format!("{bytes}\n"))
    }

    /// Written whole and renamed into place, so the sampler never reads half a number.
    fn write(&self, file: &str, text: &str) -> Result<()> {
        let path = self.dir.join(file);
        let partial = self.dir.join(format!(".{file}.partial"));
        std::fs::write(&partial, text).map_err(|e| Error::io(&partial, e))?;
        std::fs::rename(&partial, &path).map_err(|e| Error::io(&path, e))
    }
}

impl Stack {
    /// Starts the `index`th dice-server again after it was killed, as the kubelet restarts a
    /// container: same address and settings, `overrides` replacing some of its environment.
    pub async fn restart_service(
        &mut self,
        index: usize,
        overrides: &[(&str, &str)],
    ) -> Result<()> {
        let service = self
            .services
            .get_mut(index)
            .ok_or_else(|| Error::Process(format!("no dice-server number {index}")))?;
        for (name, value) in overrides {
            service.env.retain(|(existing, _)| existing != name);
            service.env.push(((*name).to_owned(), (*value).to_owned()));
        }
        let service = service.clone();
        self.start_service(&service).await?;
        let changed: Vec<String> = overrides.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.timeline.mark(format!(
            "{} restarted {}",
            service.process,
            changed.join(" ")
        ));
        Ok(())
    }

    /// Prometheus' configuration as the stack wrote it.
    pub fn prometheus_config(&self) -> Result<Value> {
        let path = self.work_dir.join("prometheus.yml");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_yaml::from_str(&text).map_err(|e| Error::Manifest(format!("{}: {e}", path.display())))
    }

    /// Writes `config` and reloads Prometheus with SIGHUP, as the Prometheus Operator's config
    /// reloader does when Endpoints change; returns once the reload succeeded.
    pub async fn reload_prometheus(&mut self, what: &str, config: &Value) -> Result<()> {
        let path = self.work_dir.join("prometheus.yml");
        let text = dice_operator::yaml::to_string(config)
            .map_err(|e| Error::Manifest(format!("cannot write prometheus.yml: {e}")))?;
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        let metrics = format!("{}/metrics", self.prometheus_url);
        let before = reload_state(&metrics).await?.0;
        self.signal("prometheus", nix::sys::signal::Signal::SIGHUP)?;
        let deadline = Instant::now() + RELOAD_TIMEOUT;
        loop {
            let (at, successful) = reload_state(&metrics).await?;
            if at > before {
                if !successful {
                    return Err(Error::Process(format!(
                        "Prometheus refused the new configuration:\n{}",
                        self.log_tail("prometheus")
                    )));
                }
                break;
            }
            if Instant::now() >= deadline {
                return Err(Error::Process("Prometheus did not reload".into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.timeline.mark(format!("Prometheus reloaded: {what}"));
        Ok(())
    }
}

/// Removes `address` from every ServiceMonitor job: the pods' Endpoints are gone.
pub fn without_scrape_target(config: &mut Value, address: SocketAddr) {
    for job in jobs(config).filter(|job| job_name(job).starts_with("serviceMonitor/")) {
        if let Some(groups) = job["static_configs"].as_array_mut() {
            for group in groups.iter_mut() {
                if let Some(targets) = group["targets"].as_array_mut() {
                    targets.retain(|t| t.as_str() != Some(address.to_string().as_str()));
                }
            }
            groups.retain(|group| group["targets"].as_array().is_some_and(|t| !t.is_empty()));
        }
    }
}

/// Points every probe of `address` at `elsewhere` instead (a port nothing listens on): the
/// Service no longer reaches the pods, which still answer Prometheus.
pub fn probe_elsewhere(config: &mut Value, address: SocketAddr, elsewhere: SocketAddr) {
    let (from, to) = (address.to_string(), elsewhere.to_string());
    for job in jobs(config).filter(|job| job_name(job).starts_with("probe/")) {
        for group in job["static_configs"].as_array_mut().into_iter().flatten() {
            for target in group["targets"].as_array_mut().into_iter().flatten() {
                if let Some(url) = target.as_str() {
                    *target = Value::String(url.replace(&from, &to));
                }
            }
        }
    }
}

fn jobs(config: &mut Value) -> impl Iterator<Item = &mut Value> {
    config["scrape_configs"]
        .as_array_mut()
        .into_iter()
        .flatten()
}

fn job_name(job: &Value) -> &str {
    job["job_name"].as_str().unwrap_or_default()
}

/// `(last successful reload time, whether the last reload succeeded)` from Prometheus' own
/// metrics.
async fn reload_state(metrics_url: &str) -> Result<(f64, bool)> {
    let failed = |reason: String| Error::Http {
        url: metrics_url.to_owned(),
        reason,
    };
    let text = reqwest::get(metrics_url)
        .await
        .map_err(|e| failed(e.to_string()))?
        .text()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let value = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
            .ok_or_else(|| failed(format!("no {name}")))
    };
    Ok((
        value("prometheus_config_last_reload_success_timestamp_seconds")?,
        value("prometheus_config_last_reload_successful")? == 1.0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> Value {
        json!({"scrape_configs": [
            {"job_name": "serviceMonitor/dice/a/0", "static_configs": [
                {"targets": ["127.0.0.1:1"], "labels": {"job": "a"}},
                {"targets": ["127.0.0.1:2"], "labels": {"job": "b"}},
            ]},
            {"job_name": "probe/dice/a-probe", "static_configs": [
                {"targets": ["http://127.0.0.1:1/health"]},
            ]},
        ]})
    }

    #[test]
    fn a_vanished_target_leaves_the_other_services_and_the_probe_alone() {
        let mut config = config();
        without_scrape_target(&mut config, "127.0.0.1:1".parse().unwrap());
        let groups = &config["scrape_configs"][0]["static_configs"];
        assert_eq!(
            groups,
            &json!([{"targets": ["127.0.0.1:2"], "labels": {"job": "b"}}])
        );
        assert_eq!(
            config["scrape_configs"][1]["static_configs"][0]["targets"][0],
            "http://127.0.0.1:1/health"
        );
    }

    #[test]
    fn a_redirected_probe_leaves_the_scrape_targets_alone() {
        let mut config = config();
        probe_elsewhere(
            &mut config,
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:9".parse().unwrap(),
        );
        assert_eq!(
            config["scrape_configs"][1]["static_configs"][0]["targets"][0],
            "http://127.0.0.1:9/health"
        );
        assert_eq!(
            config["scrape_configs"][0]["static_configs"][0]["targets"][0],
            "127.0.0.1:1"
        );
    }

    #[test]
    fn the_fake_cgroup_reads_like_a_v2_container() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let cgroup = FakeCgroup::create(&dir.path().join("cg"), 128 << 20, 10 << 20)?;
        cgroup.set_usage(120 << 20)?;
        let read = |file: &str| std::fs::read_to_string(cgroup.dir().join(file)).unwrap();
        assert_eq!(read("memory.max"), format!("{}\n", 128u64 << 20));
        assert_eq!(read("memory.current"), format!("{}\n", 120u64 << 20));
        assert!(cgroup.dir().join("cgroup.controllers").exists());
        Ok(())
    }
}
