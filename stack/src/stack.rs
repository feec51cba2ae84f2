//! Starting the stack: overlays → `dice-operator render` → Prometheus, Alertmanager and blackbox
//! configuration → programs, each checked ready before `start` returns.

use crate::capture::{self, Capture, CaptureServer};
use crate::manifest::{self, Rendered};
use crate::processes::Processes;
use crate::prometheus::{PrometheusApi, answers_ok};
use crate::timeline::Timeline;
use crate::tools::{OwnBinaries, Tools};
use crate::translate::{self, LocalTargets};
use crate::{Error, Result, ports};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long one program may take to answer its readiness check.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Ports to use when free (the demo's familiar ones); `None` picks any free port.
#[derive(Debug, Clone, Copy, Default)]
pub struct PreferredPorts {
    pub dice_server: Option<u16>,
    pub prometheus: Option<u16>,
    pub alertmanager: Option<u16>,
    pub blackbox: Option<u16>,
    pub capture: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The manifest with the DiceService(s), e.g. `manifests/examples/full.yaml`.
    pub manifest: PathBuf,
    /// Partial DiceServices merged into every DiceService (JSON merge patch), in order.
    pub overlays: Vec<PathBuf>,
    /// Manifests appended to it, e.g. Secrets with local values.
    pub extra_manifests: Vec<PathBuf>,
    /// Configuration, data and logs go here.
    pub work_dir: PathBuf,
    pub binaries: OwnBinaries,
    pub tools: Tools,
    /// Prometheus' rule evaluation interval (a cluster's is typically 30s).
    pub evaluation_interval: String,
    pub ports: PreferredPorts,
    /// Print timeline events as they happen.
    pub echo: bool,
    /// Extra environment for every dice-server, e.g. `DICE_CGROUP_ROOT` of a fake cgroup.
    pub service_env: Vec<(String, String)>,
}

/// A dice-server standing in for one DiceService's pods.
#[derive(Debug, Clone)]
pub struct LocalService {
    pub namespace: String,
    pub name: String,
    pub address: SocketAddr,
    /// Its name in [`Processes`].
    pub process: String,
    /// Its environment: the Deployment's `DICE_*` settings and the stack's.
    pub env: Vec<(String, String)>,
}

/// Everything running; dropping it stops every program it started.
#[derive(Debug)]
pub struct Stack {
    pub timeline: Timeline,
    pub prometheus: PrometheusApi,
    pub prometheus_url: String,
    pub alertmanager_url: String,
    pub blackbox_url: String,
    pub services: Vec<LocalService>,
    pub work_dir: PathBuf,
    binaries: OwnBinaries,
    processes: Processes,
    capture: CaptureServer,
}

/// How often the stack is started over when a port picked for one of its programs was taken by
/// another process between the pick and the program's bind (parallel tests on a busy machine).
const START_ATTEMPTS: u32 = 3;

impl Stack {
    pub async fn start(options: StackOptions) -> Result<Self> {
        let mut attempt = 1;
        loop {
            match Self::start_once(options.clone()).await {
                Err(error) if attempt < START_ATTEMPTS && error.is_port_taken() => {
                    eprintln!(
                        "a port was taken before its program bound it; starting again: {error}"
                    );
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn start_once(options: StackOptions) -> Result<Self> {
        let timeline = Timeline::new(options.echo);
        let work = &options.work_dir;
        for dir in [
            "rendered",
            "rules",
            "prometheus-data",
            "alertmanager-data",
            "logs",
        ] {
            let path = work.join(dir);
            std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        }
        let manifest_path = compose_manifest(&options)?;
        let capture_listener = ports::listener(options.ports.capture)?;
        let capture = capture::start(
            capture_listener,
            work.join("notifications.jsonl"),
            timeline.clone(),
        )?;
        render(&options.binaries, &manifest_path, work, capture.address)?;
        let rendered = Rendered::read(&work.join("rendered"))?;

        let mut processes = Processes::new(&work.join("logs"));
        let services = local_services(&rendered, &options)?;
        for service in &services {
            processes.spawn(
                &service.process,
                service_command(&options.binaries, service),
            )?;
        }
        let targets = LocalTargets {
            services: services
                .iter()
                .map(|s| ((s.namespace.clone(), s.name.clone()), s.address))
                .collect(),
            blackbox: ports::free(options.ports.blackbox)?,
            alertmanager: ports::free(options.ports.alertmanager)?,
        };
        let prometheus_address = ports::free(options.ports.prometheus)?;
        write_configs(&rendered, &targets, work, &options.evaluation_interval)?;
        start_prometheus_stack(
            &options.tools,
            work,
            &targets,
            prometheus_address,
            &mut processes,
        )?;

        let prometheus_url = format!("http://{prometheus_address}");
        let alertmanager_url = format!("http://{}", targets.alertmanager);
        let blackbox_url = format!("http://{}", targets.blackbox);
        let mut checks: Vec<(String, String)> = services
            .iter()
            .map(|s| (s.process.clone(), format!("http://{}/health", s.address)))
            .collect();
        checks.push(("alertmanager".into(), format!("{alertmanager_url}/-/ready")));
        checks.push((
            "blackbox-exporter".into(),
            format!("{blackbox_url}/-/healthy"),
        ));
        checks.push(("prometheus".into(), format!("{prometheus_url}/-/ready")));
        for (program, url) in checks {
            wait_ready(&mut processes, &program, &url).await?;
        }
        timeline.mark("stack ready: dice-server, Prometheus, Alertmanager, blackbox exporter");
        Ok(Self {
            timeline,
            prometheus: PrometheusApi::new(&prometheus_url),
            prometheus_url,
            alertmanager_url,
            blackbox_url,
            services,
            work_dir: work.clone(),
            binaries: options.binaries,
            processes,
            capture,
        })
    }

    pub fn capture(&self) -> &Capture {
        &self.capture.capture
    }

    /// Starts dice-traffic against the first dice-server with `args` (besides `--url`).
    pub fn start_traffic(&mut self, name: &str, args: &[&str]) -> Result<()> {
        let service = self
            .services
            .first()
            .ok_or_else(|| Error::Process("no dice-server runs".into()))?;
        let mut command = Command::new(&self.binaries.dice_traffic);
        command
            .arg("--url")
            .arg(format!("http://{}", service.address))
            .args(args);
        self.processes.spawn(name, command)?;
        self.timeline
            .mark(format!("{name}: dice-traffic {}", args.join(" ")));
        Ok(())
    }

    /// Waits for a dice-traffic run to end and returns its JSON summary.
    pub async fn traffic_summary(&mut self, name: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        while self.processes.exit_status(name).is_none() {
            if Instant::now() >= deadline {
                return Err(Error::Process(format!(
                    "{name} still runs after {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let path = self.processes.stdout_path(name);
        let output = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let summary = output
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find_map(|line| line.get("summary").cloned())
            .ok_or_else(|| {
                Error::Process(format!(
                    "{name} printed no summary:\n{}",
                    self.log_tail(name)
                ))
            })?;
        self.timeline.mark(format!("{name}: {summary}"));
        Ok(summary)
    }

    /// Sends SIGINT to a dice-traffic run (it then prints its partial summary).
    pub fn interrupt(&self, name: &str) -> Result<()> {
        self.signal(name, nix::sys::signal::Signal::SIGINT)
    }

    /// SIGKILL to one program, the way a crashing pod disappears.
    pub fn kill(&mut self, process: &str) -> Result<()> {
        self.processes.kill(process)?;
        self.timeline.mark(format!("{process} killed"));
        Ok(())
    }

    pub fn log_tail(&self, process: &str) -> String {
        self.processes.log_tail(process, 20)
    }

    /// Starts a dice-server (again) with its recorded environment, ready when it returns.
    pub(crate) async fn start_service(&mut self, service: &LocalService) -> Result<()> {
        self.processes
            .spawn(&service.process, service_command(&self.binaries, service))?;
        let health = format!("http://{}/health", service.address);
        wait_ready(&mut self.processes, &service.process, &health).await
    }

    pub(crate) fn signal(&self, process: &str, signal: nix::sys::signal::Signal) -> Result<()> {
        self.processes.signal(process, signal)
    }

    /// Stops every program and returns their process groups, all gone by now.
    pub fn stop(mut self) -> Vec<u32> {
        self.processes.stop_all();
        self.timeline.mark("stack stopped");
        self.processes.groups()
    }
}

/// Checks `check` every 250 ms until it yields a value or `deadline` passes.
pub async fn poll_until<T, F, Fut>(what: &str, deadline: Instant, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(Error::Process(format!("timed out waiting for {what}")));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn compose_manifest(options: &StackOptions) -> Result<PathBuf> {
    let read = |path: &Path| std::fs::read_to_string(path).map_err(|e| Error::io(path, e));
    let manifest = read(&options.manifest)?;
    let overlays = options
        .overlays
        .iter()
        .map(|path| manifest::read_overlay(path))
        .collect::<Result<Vec<_>>>()?;
    let extra = options
        .extra_manifests
        .iter()
        .map(|path| read(path))
        .collect::<Result<Vec<_>>>()?;
    let composed = manifest::compose(&manifest, &overlays, &extra)?;
    let path = options.work_dir.join("manifest.yaml");
    std::fs::write(&path, composed).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// `dice-operator render`, with the receivers' secret URLs pointing at the capture receiver.
fn render(binaries: &OwnBinaries, manifest: &Path, work: &Path, capture: SocketAddr) -> Result<()> {
    let output = Command::new(&binaries.dice_operator)
        .arg("render")
        .arg("-f")
        .arg(manifest)
        .arg("-o")
        .arg(work.join("rendered"))
        // One machine, one tenant: seconds-long intervals are the point of the stack.
        .arg("--enforce-interval-floors=false")
        .arg("--alertmanager-config")
        .arg("--slack-api-url")
        .arg(format!("http://{capture}/slack"))
        .arg("--pagerduty-url")
        .arg(format!("http://{capture}/pagerduty"))
        .output()
        .map_err(|e| Error::Render(format!("cannot run dice-operator: {e}")))?;
    if !output.status.success() {
        return Err(Error::Render(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    Ok(())
}

/// One dice-server per rendered Deployment, each on its own port.
fn local_services(rendered: &Rendered, options: &StackOptions) -> Result<Vec<LocalService>> {
    let mut services = Vec::new();
    for (index, deployment) in rendered.deployments.iter().enumerate() {
        let namespace = deployment.metadata.namespace.clone().unwrap_or_default();
        let name = deployment.metadata.name.clone().unwrap_or_default();
        let preferred = options.ports.dice_server.map(|port| port + index as u16);
        let address = ports::free(preferred)?;
        let mut env = workload_env(deployment);
        env.extend(options.service_env.iter().cloned());
        env.push(("DICE_LISTEN".into(), address.to_string()));
        env.push(("DICE_LOG_FORMAT".into(), "json".into()));
        services.push(LocalService {
            process: format!("dice-server-{namespace}-{name}"),
            namespace,
            name,
            address,
            env,
        });
    }
    Ok(services)
}

fn service_command(binaries: &OwnBinaries, service: &LocalService) -> Command {
    let mut command = Command::new(&binaries.dice_server);
    command.envs(service.env.iter().map(|(k, v)| (k, v)));
    command
}

/// The Deployment's `DICE_*` settings (die behaviour, sampling, history timing). The listen
/// address, log format, shutdown delay and data directory (a pod path) are the stack's; OTLP
/// settings and Secret references name in-cluster things, so they stay out.
fn workload_env(deployment: &k8s_openapi::api::apps::v1::Deployment) -> Vec<(String, String)> {
    let local = [
        "DICE_LISTEN",
        "DICE_LOG_FORMAT",
        "DICE_SHUTDOWN_DELAY",
        "DICE_DATA_DIR",
    ];
    deployment
        .spec
        .iter()
        .flat_map(|spec| spec.template.spec.iter())
        .flat_map(|pod| pod.containers.iter())
        .flat_map(|container| container.env.iter().flatten())
        .filter(|env| env.name.starts_with("DICE_") && !local.contains(&env.name.as_str()))
        .filter_map(|env| Some((env.name.clone(), env.value.clone()?)))
        .collect()
}

fn write_configs(
    rendered: &Rendered,
    targets: &LocalTargets,
    work: &Path,
    evaluation_interval: &str,
) -> Result<()> {
    let write =
        |path: PathBuf, text: String| std::fs::write(&path, text).map_err(|e| Error::io(&path, e));
    write(
        work.join("prometheus.yml"),
        translate::prometheus_yml(rendered, targets, evaluation_interval)?,
    )?;
    for rule in &rendered.rules {
        let namespace = rule.metadata.namespace.clone().unwrap_or_default();
        let name = rule.metadata.name.clone().unwrap_or_default();
        write(
            work.join("rules").join(format!("{namespace}-{name}.yaml")),
            translate::rule_file(rule)?,
        )?;
    }
    write(
        work.join("blackbox.yml"),
        translate::blackbox_yml(&rendered.probes)?,
    )
}

fn start_prometheus_stack(
    tools: &Tools,
    work: &Path,
    targets: &LocalTargets,
    prometheus: SocketAddr,
    processes: &mut Processes,
) -> Result<()> {
    let path = |name: &str| work.join(name).display().to_string();
    let mut alertmanager = Command::new(&tools.alertmanager);
    alertmanager.args([
        format!("--config.file={}", path("rendered/alertmanager.yml")),
        format!("--storage.path={}", path("alertmanager-data")),
        format!("--web.listen-address={}", targets.alertmanager),
        format!("--web.external-url=http://{}", targets.alertmanager),
        // A single Alertmanager: no gossip port to collide with anything.
        "--cluster.listen-address=".into(),
    ]);
    processes.spawn("alertmanager", alertmanager)?;
    let mut blackbox = Command::new(&tools.blackbox_exporter);
    blackbox.args([
        format!("--config.file={}", path("blackbox.yml")),
        format!("--web.listen-address={}", targets.blackbox),
    ]);
    processes.spawn("blackbox-exporter", blackbox)?;
    let mut prometheus_command = Command::new(&tools.prometheus);
    prometheus_command.current_dir(work).args([
        format!("--config.file={}", path("prometheus.yml")),
        format!("--storage.tsdb.path={}", path("prometheus-data")),
        format!("--web.listen-address={prometheus}"),
        format!("--web.external-url=http://{prometheus}"),
        // Firing alerts are re-sent this often and stay valid in Alertmanager for four times
        // as long: 12s outlasts the seconds a configuration reload leaves Prometheus without
        // its Alertmanager (rediscovered after up to 5s), so no alert expires and re-fires.
        "--rules.alert.resend-delay=3s".into(),
    ]);
    processes.spawn("prometheus", prometheus_command)?;
    Ok(())
}

async fn wait_ready(processes: &mut Processes, program: &str, url: &str) -> Result<()> {
    let started = Instant::now();
    loop {
        let exited = processes.exit_status(program).is_some();
        // An answer while our program has exited is a stranger's, on the port it could not bind.
        if !exited && answers_ok(url).await && processes.exit_status(program).is_none() {
            return Ok(());
        }
        if exited || started.elapsed() > READY_TIMEOUT {
            return Err(Error::NotReady {
                program: program.to_owned(),
                url: url.to_owned(),
                seconds: started.elapsed().as_secs(),
                log: processes.log_tail(program, 20),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
