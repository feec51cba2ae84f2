//! The Helm chart and the install manifest: `helm lint --strict`, `helm template` with default
//! and full values through `kubernetes-validate --strict` (Kubernetes 1.30 and the newest it
//! bundles), least-privilege RBAC, the restricted Pod Security Standard, the values schema,
//! and drift of the chart's CRD copy and `manifests/install.yaml`. helm and kubernetes-validate
//! come from `.tools/` (`make test` installs them); without them those checks print `SKIP:`.

use crate::support::repo;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn chart() -> PathBuf {
    repo("").join("charts/dice-operator")
}

pub fn tool(relative: &str) -> Option<PathBuf> {
    let path = repo("").join(".tools").join(relative);
    if path.is_file() {
        Some(path)
    } else {
        println!(
            "SKIP: {} missing (make test installs it with scripts/install-chart-tools.sh)",
            path.display()
        );
        None
    }
}

pub fn helm() -> Option<PathBuf> {
    tool("bin/helm")
}

/// `helm template` of the chart; `Err` carries helm's stderr.
pub fn template(helm: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new(helm)
        .args(["template", "dice-operator"])
        .arg(chart())
        .args(["--namespace", "dice-system"])
        .args(args)
        .output()
        .expect("helm runs");
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

pub const FULL_VALUES: &str = "ci/full-values.yaml";

fn renderings(helm: &Path) -> Vec<(&'static str, Vec<Value>)> {
    let full = chart().join(FULL_VALUES);
    vec![
        ("default values", documents(&template(helm, &[]).unwrap())),
        (
            "full values",
            documents(&template(helm, &["-f", full.to_str().unwrap()]).unwrap()),
        ),
    ]
}

#[test]
fn helm_lint_strict_passes_with_default_and_full_values() {
    let Some(helm) = helm() else { return };
    for extra in [vec![], vec!["-f", FULL_VALUES]] {
        let output = Command::new(&helm)
            .arg("lint")
            .arg("--strict")
            .arg(chart())
            .args(extra.iter().map(|a| {
                if *a == FULL_VALUES {
                    chart().join(a)
                } else {
                    PathBuf::from(a)
                }
            }))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "helm lint {extra:?}:\n{text}");
        assert!(text.contains("0 chart(s) failed"), "{text}");
    }
}

#[test]
fn rendered_objects_validate_for_kubernetes_1_30_and_the_newest() {
    let (Some(helm), Some(validate)) = (helm(), tool("venv/bin/kubernetes-validate")) else {
        return;
    };
    let full = chart().join(FULL_VALUES);
    for args in [
        vec!["--include-crds"],
        vec!["--include-crds", "-f", full.to_str().unwrap()],
    ] {
        // Prometheus Operator kinds are custom resources: upstream_schemas.rs checks those.
        let core: Vec<Value> = documents(&template(&helm, &args).unwrap())
            .into_iter()
            .filter(|d| {
                !d["apiVersion"]
                    .as_str()
                    .unwrap()
                    .starts_with("monitoring.coreos.com/")
            })
            .collect();
        assert!(core.iter().any(|d| d["kind"] == "CustomResourceDefinition"));
        validate_strictly(&validate, &core, &format!("{args:?}"));
    }
}

/// `kubernetes-validate --strict` of `documents` for Kubernetes 1.30 and the newest version it
/// bundles; every document must pass. Written with the operator's YAML writer, which quotes
/// what YAML 1.1 (the validator's PyYAML) would misread.
pub fn validate_strictly(validate: &Path, documents: &[Value], what: &str) {
    let file = tempfile::NamedTempFile::new().unwrap();
    let yaml: Vec<String> = documents
        .iter()
        .map(|d| dice_operator::yaml::to_string(d).unwrap())
        .collect();
    std::fs::write(file.path(), yaml.join("---\n")).unwrap();
    for version in [Some("1.30.0"), None] {
        let mut command = Command::new(validate);
        command.arg("--strict");
        if let Some(version) = version {
            command.args(["-k", version]);
        }
        let output = command.arg(file.path()).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success(),
            "kubernetes-validate {version:?} {what}:\n{text}"
        );
        assert_eq!(
            text.matches("passed for resource").count(),
            documents.len(),
            "{text}"
        );
    }
}

#[test]
fn rbac_names_exact_verbs_and_resources_never_wildcards() {
    let Some(helm) = helm() else { return };
    for (name, objects) in renderings(&helm) {
        let roles: Vec<&Value> = objects
            .iter()
            .filter(|o| o["kind"] == "Role" || o["kind"] == "ClusterRole")
            .collect();
        assert!(roles.len() >= 2, "{name}: {roles:?}");
        for role in roles {
            for rule in role["rules"].as_array().unwrap() {
                for field in ["apiGroups", "resources", "verbs"] {
                    let values = rule[field].as_array().unwrap();
                    assert!(!values.is_empty(), "{name}: {rule}");
                    assert!(
                        values.iter().all(|v| v != "*"),
                        "{name}: wildcard in {rule}"
                    );
                }
                if rule["resources"]
                    .as_array()
                    .unwrap()
                    .contains(&"secrets".into())
                {
                    assert_eq!(
                        rule["verbs"],
                        serde_json::json!(["get"]),
                        "{name}: Secrets are only read"
                    );
                }
            }
        }
    }
}

#[test]
fn one_watched_namespace_gets_a_role_there_and_only_crd_reads_cluster_wide() {
    let Some(helm) = helm() else { return };
    let objects = documents(&template(&helm, &["--set", "watchNamespace=dice"]).unwrap());
    let kinds = |kind: &str| {
        objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .collect::<Vec<_>>()
    };
    // The watched namespace's Role, and the leader election Role in the release namespace.
    let in_namespace = |kind: &str, namespace: &str| {
        kinds(kind)
            .into_iter()
            .filter(|o| o["metadata"]["namespace"] == namespace)
            .count()
    };
    assert_eq!(kinds("Role").len(), 2);
    assert_eq!(in_namespace("Role", "dice"), 1);
    assert_eq!(in_namespace("RoleBinding", "dice"), 1);
    let cluster_roles = kinds("ClusterRole");
    assert_eq!(cluster_roles.len(), 1);
    assert_eq!(
        cluster_roles[0]["rules"],
        serde_json::json!([{"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["list", "watch"]}])
    );
    let deployment = &kinds("Deployment")[0];
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(
        env.as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "DICE_OPERATOR_NAMESPACE" && e["value"] == "dice")
    );
}

/// The least-privilege install docs/security.md describes: one namespace, no Secret access,
/// dashboards only beside their DiceService.
#[test]
fn check_secrets_false_grants_nothing_on_secrets_and_the_flags_follow_the_values() {
    let Some(helm) = helm() else { return };
    let rendered = template(
        &helm,
        &[
            "--set",
            "watchNamespace=dice",
            "--set",
            "checkSecrets=false",
            "--set",
            "dashboardNamespaces=null",
        ],
    )
    .unwrap();
    let objects = documents(&rendered);
    for role in objects
        .iter()
        .filter(|o| o["kind"] == "Role" || o["kind"] == "ClusterRole")
    {
        let rules = role["rules"].as_array().unwrap();
        assert!(
            rules.iter().all(|r| !r["resources"]
                .as_array()
                .unwrap()
                .contains(&"secrets".into())),
            "{role}"
        );
    }
    let var = |name: &str| operator_env(&objects, name);
    assert_eq!(var("DICE_CHECK_SECRETS"), Some("false".into()));
    assert_eq!(var("DICE_DASHBOARD_NAMESPACES"), Some("".into()));
    let defaults = documents(&template(&helm, &[]).unwrap());
    let var = |name: &str| operator_env(&defaults, name);
    assert_eq!(var("DICE_CHECK_SECRETS"), Some("true".into()));
    assert_eq!(var("DICE_DASHBOARD_NAMESPACES"), Some("monitoring".into()));
}

/// The literal value of the operator container's env var `name`.
pub fn operator_env(objects: &[Value], name: &str) -> Option<Value> {
    let deployment = objects.iter().find(|o| o["kind"] == "Deployment")?;
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e["value"].clone())
}

#[test]
fn two_replicas_elect_a_leader_through_a_lease_they_may_only_get_create_and_update() {
    let Some(helm) = helm() else { return };
    let objects =
        documents(&template(&helm, &["--namespace", "ops", "--set", "replicaCount=2"]).unwrap());
    let deployment = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(deployment["spec"]["replicas"], 2);
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    let var = |name: &str| env.iter().find(|e| e["name"] == name).cloned();
    assert_eq!(var("DICE_LEADER_ELECTION").unwrap()["value"], "true");
    assert_eq!(
        var("DICE_LEADER_ELECTION_IDENTITY").unwrap()["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert_eq!(
        var("DICE_LEADER_ELECTION_NAMESPACE").unwrap()["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    let lease_role = objects
        .iter()
        .find(|o| {
            o["kind"] == "Role"
                && o["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .ends_with("-leader-election")
        })
        .expect("leader election Role");
    assert_eq!(lease_role["metadata"]["namespace"], "ops");
    assert_eq!(
        lease_role["rules"],
        serde_json::json!([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}])
    );
    let binding = objects
        .iter()
        .find(|o| {
            o["kind"] == "RoleBinding" && o["roleRef"]["name"] == lease_role["metadata"]["name"]
        })
        .expect("leader election RoleBinding");
    assert_eq!(binding["metadata"]["namespace"], "ops");

    let single = documents(&template(&helm, &["--set", "leaderElection.enabled=false"]).unwrap());
    assert!(!single.iter().any(|o| {
        o["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.ends_with("-leader-election"))
    }));
}

/// The restricted profile of the Pod Security Standards, for one pod spec.
pub fn restricted_violations(pod: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        if pod[field] == true {
            problems.push(format!("{field} is true"));
        }
    }
    if pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|v| v.get("hostPath").is_some())
    {
        problems.push("a hostPath volume".into());
    }
    let pod_security = &pod["securityContext"];
    for container in pod["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(pod["initContainers"].as_array().into_iter().flatten())
    {
        let name = container["name"].as_str().unwrap_or("?");
        let security = &container["securityContext"];
        let either = |field: &str| {
            if security[field].is_null() {
                &pod_security[field]
            } else {
                &security[field]
            }
        };
        if either("runAsNonRoot") != true {
            problems.push(format!("{name}: runAsNonRoot is not true"));
        }
        if either("runAsUser") == 0 {
            problems.push(format!("{name}: runs as UID 0"));
        }
        if security["allowPrivilegeEscalation"] != false {
            problems.push(format!("{name}: allowPrivilegeEscalation is not false"));
        }
        if security["privileged"] == true {
            problems.push(format!("{name}: privileged"));
        }
        if security["capabilities"]["drop"] != serde_json::json!(["ALL"]) {
            problems.push(format!("{name}: capabilities are not dropped (ALL)"));
        }
        let added = security["capabilities"]["add"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if added.iter().any(|c| c != "NET_BIND_SERVICE") {
            problems.push(format!("{name}: adds capabilities {added:?}"));
        }
        let seccomp = &either("seccompProfile")["type"];
        if seccomp != "RuntimeDefault" && seccomp != "Localhost" {
            problems.push(format!("{name}: seccompProfile is {seccomp}"));
        }
        if container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p.get("hostPort").is_some())
        {
            problems.push(format!("{name}: a hostPort"));
        }
    }
    problems
}

#[test]
fn every_container_meets_the_restricted_pod_security_standard() {
    let Some(helm) = helm() else { return };
    for (name, objects) in renderings(&helm) {
        let pods: Vec<&Value> = objects
            .iter()
            .filter(|o| o["kind"] == "Deployment")
            .map(|d| &d["spec"]["template"]["spec"])
            .collect();
        assert!(!pods.is_empty());
        for pod in pods {
            assert_eq!(restricted_violations(pod), Vec::<String>::new(), "{name}");
            assert_eq!(
                pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
                true
            );
        }
    }
}

#[test]
fn the_values_schema_rejects_wrong_types_and_unknown_keys() {
    let Some(helm) = helm() else { return };
    for (args, expected) in [
        (vec!["--set", "replicaCount=two"], "replicaCount"),
        (vec!["--set", "replicaCount=3"], "replicaCount"),
        (
            vec![
                "--set",
                "replicaCount=2",
                "--set",
                "leaderElection.enabled=false",
            ],
            "enabled",
        ),
        (
            vec!["--set", "leaderElection.leaseDuration=soon"],
            "leaseDuration",
        ),
        (vec!["--set-string", "concurrency=16"], "concurrency"),
        (vec!["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
        (vec!["--set", "serviceMonitor.enabeld=true"], "enabeld"),
        (vec!["--set", "unknownTopLevel=1"], "unknownTopLevel"),
        (
            vec!["--set", "watchNamespace=Not_A_Namespace"],
            "watchNamespace",
        ),
    ] {
        let error = template(&helm, &args).expect_err(&format!("{args:?} must be refused"));
        assert!(error.contains(expected), "{args:?}: {error}");
    }
}

#[test]
fn the_charts_crd_is_the_generated_one_and_app_version_is_the_crate_version() {
    let generated = std::fs::read_to_string(repo("").join("crds/diceservice.yaml")).unwrap();
    let copy = std::fs::read_to_string(chart().join("crds/diceservice.yaml")).unwrap();
    assert!(
        generated == copy,
        "charts/dice-operator/crds/ is stale: run `make generate`"
    );
    let chart_yaml: Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart().join("Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(chart_yaml["appVersion"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn the_install_manifest_is_the_rendered_chart() {
    if helm().is_none() {
        return;
    }
    let output = crate::support::run_ok(&mut Command::new(
        repo("").join("scripts/render-install-manifest.sh"),
    ));
    let committed = std::fs::read_to_string(repo("").join("manifests/install.yaml")).unwrap();
    assert!(
        output.stdout == committed.as_bytes(),
        "manifests/install.yaml is stale: run `make generate`"
    );
    let objects = documents(&committed);
    assert_eq!(objects[0]["kind"], "Namespace");
    assert!(
        objects
            .iter()
            .any(|o| o["kind"] == "CustomResourceDefinition")
    );
}

#[test]
fn the_operators_own_alerts_pass_promtool() {
    let Some(helm) = helm() else { return };
    let Ok(promtool) = which("promtool") else {
        println!("SKIP: promtool not installed (make test installs it as root)");
        return;
    };
    let full = chart().join(FULL_VALUES);
    let objects = documents(&template(&helm, &["-f", full.to_str().unwrap()]).unwrap());
    let rule = objects
        .iter()
        .find(|o| o["kind"] == "PrometheusRule")
        .expect("prometheusRule.enabled renders one");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        serde_yaml::to_string(&serde_json::json!({"groups": rule["spec"]["groups"]})).unwrap(),
    )
    .unwrap();
    let output = Command::new(promtool)
        .args(["check", "rules"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("SUCCESS: 2 rules found"));
}

fn which(program: &str) -> Result<PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}

/// The Deployments the operator builds for DiceServices meet the same standard.
#[test]
fn workload_pods_meet_the_restricted_pod_security_standard() {
    let dir = repo("").join("manifests/examples");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let manifest = std::fs::read_to_string(&path).unwrap();
        let defaults = dice_operator::validate::Defaults::with_image("dice:test");
        for (_, children) in dice_operator::render::render_manifest(&manifest, &defaults).unwrap() {
            let deployment = serde_json::to_value(&children.deployment).unwrap();
            let pod = &deployment["spec"]["template"]["spec"];
            assert_eq!(
                restricted_violations(pod),
                Vec::<String>::new(),
                "{}",
                path.display()
            );
        }
    }
}
