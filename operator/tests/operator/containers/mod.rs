//! The built images run under the exact restrictions the operator (dice-server's pod) and the
//! chart (the operator's pod) set: user, read-only root without extra tmpfs, capabilities,
//! no privilege escalation, memory limit, env and the /data volume, all read from the rendered
//! objects rather than repeated here. `make test` builds the images first (`make images-local`);
//! without an engine or the images this prints `SKIP:` and returns.

use crate::support::repo;
use dice_operator::crd::DiceService;
use fake_apiserver::FakeApiServer;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn engine() -> Option<&'static str> {
    ["podman", "docker"].into_iter().find(|engine| {
        Command::new(engine)
            .args(["info", "--format", "{{.Host.OS}}"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn image(name: &str) -> String {
    format!("ghcr.io/dice-operator/{name}:{}", env!("CARGO_PKG_VERSION"))
}

/// The engine and both images, or a SKIP line.
fn images_here() -> Option<&'static str> {
    let Some(engine) = engine() else {
        println!("SKIP: no podman or docker; the container images are not run");
        return None;
    };
    for name in ["dice-server", "dice-operator"] {
        let present = run(engine, &["image", "exists", &image(name)])
            .status
            .success();
        if !present {
            println!("SKIP: {} is not built (`make images-local`)", image(name));
            return None;
        }
    }
    Some(engine)
}

fn run(engine: &str, args: &[&str]) -> Output {
    Command::new(engine).args(args).output().unwrap()
}

fn succeed(engine: &str, args: &[&str]) -> String {
    let output = run(engine, args);
    assert!(
        output.status.success(),
        "{engine} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `128Mi` → bytes (the binary suffixes our objects use, and plain numbers).
fn quantity_bytes(quantity: &str) -> u64 {
    let (number, factor) = [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)]
        .into_iter()
        .find_map(|(suffix, factor)| Some((quantity.strip_suffix(suffix)?, factor)))
        .unwrap_or((quantity, 1));
    number.parse::<u64>().unwrap() * factor
}

/// The engine flags that reproduce a pod's restrictions for one of its containers, the
/// container's literal env, and its memory limit in bytes. Downward-API env gets `downward`.
fn restrictions(pod: &Value, container: &Value, downward: &[(&str, &str)]) -> (Vec<String>, u64) {
    let pod_context = &pod["securityContext"];
    let context = &container["securityContext"];
    let either = |field: &str| {
        context
            .get(field)
            .or_else(|| pod_context.get(field))
            .cloned()
    };
    let user = either("runAsUser").expect("runAsUser is set");
    let group = either("runAsGroup").unwrap_or(user.clone());
    let mut flags = vec![format!("--user={user}:{group}")];
    assert_eq!(either("runAsNonRoot"), Some(json!(true)));
    if context["readOnlyRootFilesystem"] == true {
        // Kubernetes adds no writable /tmp to a read-only root; podman would by default.
        flags.extend(["--read-only".into(), "--read-only-tmpfs=false".into()]);
    }
    let dropped = context["capabilities"]["drop"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(dropped.contains(&json!("ALL")), "{context}");
    flags.push("--cap-drop=ALL".into());
    assert_eq!(context["allowPrivilegeEscalation"], false);
    flags.push("--security-opt=no-new-privileges".into());
    assert_eq!(either("seccompProfile").unwrap()["type"], "RuntimeDefault");
    let memory = quantity_bytes(container["resources"]["limits"]["memory"].as_str().unwrap());
    flags.push(format!("--memory={memory}"));
    for env in container["env"].as_array().into_iter().flatten() {
        let name = env["name"].as_str().unwrap();
        let value = match (&env["value"], &env["valueFrom"]["fieldRef"]["fieldPath"]) {
            (Value::String(value), _) => value.clone(),
            (_, Value::String(path)) => downward
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, v)| (*v).to_owned())
                .unwrap_or_else(|| panic!("no downward value for {path}")),
            _ => continue,
        };
        flags.push(format!("--env={name}={value}"));
    }
    (flags, memory)
}

/// dice-server's pod as the operator builds it for the minimal example.
fn workload_pod() -> Value {
    let manifest = std::fs::read_to_string(repo("manifests/examples/minimal.yaml")).unwrap();
    let defaults = dice_operator::validate::Defaults::with_image(&image("dice-server"));
    let rendered = dice_operator::render::render_manifest(&manifest, &defaults).unwrap();
    let deployment = serde_json::to_value(&rendered[0].1.deployment).unwrap();
    deployment["spec"]["template"]["spec"].clone()
}

/// The operator's pod as the chart renders it, or `None` without helm.
fn operator_pod() -> Option<Value> {
    let helm = repo(".tools/bin/helm");
    let output = Command::new(&helm)
        .args([
            "template",
            "dice",
            &repo("charts/dice-operator").display().to_string(),
        ])
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .find(|d: &Value| d["kind"] == "Deployment")
        .map(|d| d["spec"]["template"]["spec"].clone())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits for `url` to answer 200 and returns its body.
async fn wait_ok(url: &str, within: Duration) -> String {
    let started = Instant::now();
    loop {
        if let Ok(response) = reqwest::get(url).await
            && response.status() == 200
        {
            return response.text().await.unwrap();
        }
        assert!(started.elapsed() < within, "{url} never answered 200");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The image's files: no shell, interpreter or package manager; CA bundle and zone data there.
fn assert_minimal_filesystem(engine: &str, image: &str) {
    let container = succeed(engine, &["create", image]).trim().to_owned();
    let listing = Command::new("sh")
        .args(["-c", &format!("{engine} export {container} | tar -t")])
        .output()
        .unwrap();
    succeed(engine, &["rm", &container]);
    let files: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").to_owned())
        .collect();
    for needed in [
        "etc/ssl/certs/ca-certificates.crt",
        "usr/share/zoneinfo/UTC",
        "etc/passwd",
    ] {
        assert!(files.iter().any(|f| f == needed), "{image} lacks {needed}");
    }
    let forbidden = [
        "sh", "bash", "dash", "busybox", "apt", "apt-get", "dpkg", "perl", "python3",
    ];
    for file in &files {
        let name = file.rsplit('/').next().unwrap_or_default();
        let in_path = ["bin/", "sbin/", "usr/bin/", "usr/sbin/", "usr/local/bin/"]
            .iter()
            .any(|dir| file.starts_with(dir));
        assert!(
            !(in_path && forbidden.contains(&name)),
            "{image} contains {file}"
        );
    }
    let shell = run(
        engine,
        &[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/sh",
            image,
            "-c",
            "true",
        ],
    );
    assert!(!shell.status.success(), "{image} runs a shell");
}

/// SIGTERM to PID 1, then its exit code and how long it took.
fn terminate(engine: &str, name: &str) -> (String, Duration) {
    let started = Instant::now();
    succeed(engine, &["kill", "--signal", "TERM", name]);
    let code = succeed(engine, &["wait", name]).trim().to_owned();
    (code, started.elapsed())
}

/// Removes the container when the test ends, whatever happened.
struct Container<'a>(&'a str, String);

impl Drop for Container<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = run(self.0, &["logs", &self.1]);
            eprintln!(
                "--- {} logs ---\n{}",
                self.1,
                String::from_utf8_lossy(&logs.stdout)
            );
        }
        let _ = run(self.0, &["rm", "-f", &self.1]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dice_server_image_runs_under_the_pod_restrictions_the_operator_sets() {
    let Some(engine) = images_here() else { return };
    let image = image("dice-server");
    assert_minimal_filesystem(engine, &image);
    let pod = workload_pod();
    let container = &pod["containers"][0];
    let (mut flags, memory) = restrictions(&pod, container, &[]);
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(data.path(), Some(65532), Some(65532)).unwrap();
    let name = format!("dice-server-test-{}", std::process::id());
    flags.extend([
        format!("--name={name}"),
        "--network=host".into(),
        format!("--volume={}:/data", data.path().display()),
        // The test's own settings: its port on the host network and quicker samples.
        format!("--env=DICE_LISTEN=127.0.0.1:{port}"),
        "--env=DICE_SAMPLE_INTERVAL=200ms".into(),
        "--env=DICE_PERSIST_INTERVAL=500ms".into(),
    ]);
    let mut args: Vec<&str> = vec!["run", "--detach"];
    args.extend(flags.iter().map(String::as_str));
    args.push(&image);
    let started = Instant::now();
    succeed(engine, &args);
    let _guard = Container(engine, name.clone());
    let base = format!("http://127.0.0.1:{port}");
    wait_ok(&format!("{base}/health"), Duration::from_secs(30)).await;
    println!(
        "dice-server: start to /health 200 in {:?}",
        started.elapsed()
    );

    let roll: Value = serde_json::from_str(
        &wait_ok(&format!("{base}/roll?die=fair"), Duration::from_secs(5)).await,
    )
    .unwrap();
    assert!(
        roll["roll"].as_u64().is_some_and(|v| (1..=6).contains(&v)),
        "{roll}"
    );
    let system = wait_ok(&format!("{base}/api/v1/system"), Duration::from_secs(10)).await;
    assert!(system.contains("cpu"), "{system}");
    let scrape = wait_ok(&format!("{base}/metrics"), Duration::from_secs(5)).await;
    let limit = scrape.lines().find_map(|l| {
        l.strip_prefix("system_cgroup_memory_limit_bytes ")?
            .parse::<f64>()
            .ok()
    });
    assert_eq!(
        limit,
        Some(memory as f64),
        "the container's cgroup memory limit is not read"
    );
    promtool_accepts(&scrape);

    // History lands in the /data volume.
    let started_history = Instant::now();
    loop {
        let body = reqwest::get(format!("{base}/api/v1/history?metric=cpu&from=-1h"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let history: Value = serde_json::from_str(&body).unwrap_or_default();
        let points = history["series"][0]["points"]
            .as_array()
            .map_or(0, Vec::len);
        if points > 0 && data.path().join("history.db").is_file() {
            break;
        }
        assert!(
            started_history.elapsed() < Duration::from_secs(15),
            "no history in /data: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // dice-traffic from the same image, under the same restrictions.
    let (traffic_flags, _) = restrictions(&pod, container, &[]);
    let url = format!("--url={base}");
    let mut args: Vec<&str> = vec![
        "run",
        "--rm",
        "--network=host",
        "--entrypoint=/usr/local/bin/dice-traffic",
    ];
    args.extend(traffic_flags.iter().map(String::as_str));
    args.extend([
        image.as_str(),
        &url,
        "--requests=40",
        "--users=2",
        "--output=json",
    ]);
    let summary: Value =
        serde_json::from_str(succeed(engine, &args).lines().last().unwrap()).unwrap();
    assert_eq!(summary["summary"]["requests"], 40, "{summary}");
    assert_eq!(summary["summary"]["connection_failures"], 0, "{summary}");

    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    let (code, took) = terminate(engine, &name);
    println!("dice-server: SIGTERM to exit {code} in {took:?} (grace period {grace} s)");
    assert_eq!(code, "0");
    assert!(took < Duration::from_secs(grace), "{took:?}");
}

fn promtool_accepts(scrape: &str) {
    use std::io::Write;
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        println!("SKIP: promtool is not installed; the image's scrape is not linted");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dice_operator_image_reconciles_under_the_chart_restrictions() {
    let Some(engine) = images_here() else { return };
    let Some(pod) = operator_pod() else {
        println!("SKIP: helm is not in .tools/bin; the chart's restrictions cannot be read");
        return;
    };
    let image = image("dice-operator");
    assert_minimal_filesystem(engine, &image);
    let container = &pod["containers"][0];
    let downward = [
        ("metadata.name", "dice-operator-test"),
        ("metadata.namespace", "default"),
    ];
    let (mut flags, _) = restrictions(&pod, container, &downward);

    let (crd_flags, _) = restrictions(&pod, container, &downward);
    let mut args: Vec<&str> = vec!["run", "--rm"];
    args.extend(crd_flags.iter().map(String::as_str));
    args.extend([image.as_str(), "crd"]);
    assert!(succeed(engine, &args).contains("kind: CustomResourceDefinition"));

    let server = FakeApiServer::new();
    let served = server.serve_locally().await.unwrap();
    let client = server.client();
    Api::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &<DiceService as kube::CustomResourceExt>::crd())
        .await
        .unwrap();
    tokio::spawn(fake_apiserver::kubelet::simulate(client.clone()));
    let name = format!("dice-operator-test-{}", std::process::id());
    let admin = format!("--admin-listen=127.0.0.1:{}", free_port());
    flags.extend([
        format!("--name={name}"),
        "--network=host".into(),
        format!(
            "--volume={}:/etc/dice/kubeconfig:ro",
            served.kubeconfig.display()
        ),
        "--env=KUBECONFIG=/etc/dice/kubeconfig".into(),
    ]);
    let mut args: Vec<&str> = vec!["run", "--detach"];
    args.extend(flags.iter().map(String::as_str));
    args.extend([image.as_str(), "run", admin.as_str()]);
    succeed(engine, &args);
    let _guard = Container(engine, name.clone());

    let services: Api<DiceService> = Api::namespaced(client, "default");
    let spec = json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService",
        "metadata": {"name": "boxed"}, "spec": {"replicas": 1}});
    services
        .patch("boxed", &PatchParams::apply("test"), &Patch::Apply(&spec))
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let service = services.get("boxed").await.unwrap();
        let ready = service.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
        if ready {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never Ready: {:?}",
            service.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "dice-operator (container): DiceService Ready {:?} after apply",
        started.elapsed()
    );
    let (code, took) = terminate(engine, &name);
    println!("dice-operator: SIGTERM to exit {code} in {took:?}");
    assert_eq!(code, "0");
}

#[test]
fn quantities_read_as_bytes() {
    assert_eq!(quantity_bytes("128Mi"), 134_217_728);
    assert_eq!(quantity_bytes("1Gi"), 1 << 30);
    assert_eq!(quantity_bytes("4096"), 4096);
}
