//! Generated reference docs match the code: `docs/crd-reference.md` from the CRD schema,
//! `docs/metrics.md` from the dice-server and operator registries (the alert pages are
//! `alert_docs.rs`). `make generate` rewrites them (`DICE_UPDATE_DOCS=1`); otherwise drift fails.

use axum::body::Body;
use axum::http::Request;
use dice_operator::children::{ChildKind, Lifecycle};
use dice_operator::crd::DiceService;
use dice_operator::metrics::OperatorMetrics;
use dice_workload::app;
use dice_workload::metrics::families::model::{MetricFamily, MetricType};
use dice_workload::sampler::sample::{Container, Gpu, LoadAverage, Network, Sample, Temperature};
use dice_workload::state::{AppState, Settings};
use kube::CustomResourceExt;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;
use tower::ServiceExt;

pub fn check(relative: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    if std::env::var_os("DICE_UPDATE_DOCS").is_some() {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{relative} is stale: run `make generate`"
    );
}

/// Like [`check`], for the part of a hand-written page between `<!-- begin NAME -->` and
/// `<!-- end NAME -->`.
pub fn check_section(relative: &str, name: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    let page = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = (
        format!("<!-- begin {name} -->\n"),
        format!("<!-- end {name} -->"),
    );
    let start = page.find(&begin).expect("begin marker") + begin.len();
    let stop = page.find(&end).expect("end marker");
    let updated = format!("{}{generated}{}", &page[..start], &page[stop..]);
    check(relative, &updated);
}

pub fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[test]
fn crd_reference_matches_the_schema() {
    let crd = serde_json::to_value(DiceService::crd()).unwrap();
    let version = &crd["spec"]["versions"][0];
    let mut out = String::new();
    writeln!(out, "# DiceService reference\n").unwrap();
    writeln!(out, "Generated from the CRD schema by `make generate`; `kubectl explain diceservice.spec` shows the").unwrap();
    writeln!(
        out,
        "same descriptions. `apiVersion: {}/{}`, `kind: DiceService`, short name `dice`,",
        crd["spec"]["group"].as_str().unwrap(),
        version["name"].as_str().unwrap()
    )
    .unwrap();
    writeln!(out, "namespaced.\n").unwrap();
    let schema = &version["schema"]["openAPIV3Schema"]["properties"];
    for root in ["spec", "status"] {
        writeln!(out, "## `{root}`\n").unwrap();
        let node = &schema[root];
        if let Some(description) = node["description"].as_str() {
            writeln!(out, "{description}\n").unwrap();
        }
        writeln!(out, "| field | type | default | validation | description |").unwrap();
        writeln!(out, "|---|---|---|---|---|").unwrap();
        fields(&mut out, root, node);
        writeln!(out).unwrap();
    }
    check("docs/crd-reference.md", &out);
}

#[test]
fn the_child_kind_table_matches_the_list() {
    let mut out = String::new();
    writeln!(out, "| kind | `Children` field | API group / resource | `render` file | switched off | needs | status | RBAC verbs |").unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|---|").unwrap();
    for kind in ChildKind::ALL {
        let (group, resource) = kind.resource();
        let group = if group.is_empty() {
            "core".into()
        } else {
            group
        };
        let switched_off = match kind.lifecycle() {
            Lifecycle::WithTheService => "always there",
            Lifecycle::KeptWhenSwitchedOff => "kept",
            Lifecycle::DeletedWhenSwitchedOff => "deleted",
        };
        let needs = kind
            .served_as()
            .map_or("—".to_owned(), |crd| format!("{} CRD", crd.kind()));
        let status = if kind.is_monitoring() {
            "`status.monitoring`"
        } else {
            "blocks `Ready`"
        };
        writeln!(
            out,
            "| {} | `{}` | `{group}/{resource}` | `<name>-{}.yaml` | {switched_off} | {needs} | {status} | {} |",
            kind.kind(),
            kind.field(),
            kind.stem(),
            kind.verbs().join(", "),
        )
        .unwrap();
    }
    check_section("docs/architecture.md", "child-kinds", &out);
}

fn fields(out: &mut String, path: &str, node: &Value) {
    let required: BTreeSet<&str> = node["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let Some(properties) = node["properties"].as_object() else {
        return;
    };
    for (name, child) in properties {
        let child_path = format!("{path}.{name}");
        let items = &child["items"];
        let ty = match child["type"].as_str() {
            Some("array") => format!("[]{}", items["type"].as_str().unwrap_or("object")),
            Some(ty) => ty.to_owned(),
            None if child.get("x-kubernetes-int-or-string").is_some() => "int or string".into(),
            None => "any".into(),
        };
        let mut validation = Vec::new();
        if required.contains(name.as_str()) {
            validation.push("required".to_owned());
        }
        for (key, label) in [
            ("minimum", "≥"),
            ("maximum", "≤"),
            ("minLength", "min length"),
            ("maxLength", "max length"),
            ("minItems", "min items"),
            ("maxItems", "max items"),
        ] {
            if let Some(v) = child.get(key) {
                validation.push(format!("{label} {v}"));
            }
        }
        if let Some(pattern) = child["pattern"].as_str() {
            validation.push(format!("pattern `{pattern}`"));
        }
        if let Some(values) = child["enum"].as_array() {
            let values: Vec<String> = values
                .iter()
                .map(|v| format!("`{}`", v.as_str().map_or(v.to_string(), str::to_owned)))
                .collect();
            validation.push(format!("one of {}", values.join(", ")));
        }
        for rule in child["x-kubernetes-validations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            validation.push(format!(
                "rule: {}",
                rule["message"]
                    .as_str()
                    .unwrap_or_else(|| rule["rule"].as_str().unwrap_or(""))
            ));
        }
        let default = child
            .get("default")
            .map(|d| format!("`{d}`"))
            .unwrap_or_default();
        let description = child["description"].as_str().unwrap_or("");
        writeln!(
            out,
            "| `{child_path}` | {ty} | {} | {} | {} |",
            cell(&default),
            cell(&validation.join("; ")),
            cell(description)
        )
        .unwrap();
        fields(out, &child_path, child);
        if items["properties"].is_object() {
            fields(out, &format!("{child_path}[]"), items);
        }
    }
}

/// A sample with every reading dice-server can report, so every series exists.
fn full_sample() -> Sample {
    Sample {
        timestamp_ms: 1,
        disks: vec![Default::default()],
        temperatures: vec![Temperature {
            sensor: "s".into(),
            celsius: 1.0,
        }],
        load: Some(LoadAverage::default()),
        networks: vec![Network {
            interface: "eth0".into(),
            ..Default::default()
        }],
        container: Some(Container {
            memory_limit_bytes: Some(1),
            memory_used_bytes: Some(1),
            memory_percent_of_limit: Some(1.0),
            cpu_limit_cores: Some(1.0),
            cpu_percent_of_limit: Some(1.0),
        }),
        gpus: vec![Gpu {
            utilization_percent: Some(1.0),
            memory_used_bytes: Some(1),
            memory_total_bytes: Some(1),
            temperature_celsius: Some(1.0),
            power_watts: Some(1.0),
            ..Default::default()
        }],
        ..Sample::default()
    }
}

fn metric_table(out: &mut String, families: &[MetricFamily]) {
    writeln!(out, "| metric | type | labels | description |").unwrap();
    writeln!(out, "|---|---|---|---|").unwrap();
    let mut sorted: Vec<&MetricFamily> = families.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for family in sorted {
        let ty = match MetricType::try_from(family.r#type) {
            Ok(MetricType::Counter) => "counter",
            Ok(MetricType::Gauge) => "gauge",
            Ok(MetricType::Histogram) => "histogram",
            _ => "other",
        };
        let labels: BTreeSet<&str> = family
            .metric
            .iter()
            .flat_map(|m| &m.label)
            .map(|l| l.name.as_str())
            .collect();
        let labels: Vec<String> = labels.iter().map(|l| format!("`{l}`")).collect();
        writeln!(
            out,
            "| `{}` | {ty} | {} | {} |",
            family.name,
            labels.join(", "),
            cell(&family.help)
        )
        .unwrap();
    }
}

#[tokio::test]
async fn metrics_reference_matches_the_registries() {
    let settings = Settings {
        max_delay: Duration::ZERO,
        risky_error_rate: 0.0,
        request_timeout: Duration::from_secs(5),
        max_body_bytes: 1024,
        max_header_bytes: 4096,
        max_concurrent_requests: 512,
        max_websockets: 64,
        websocket_ping_interval: Duration::from_secs(30),
    };
    let state = AppState::new(settings, None);
    state.samples.publish(full_sample());
    // One request and one roll, so the per-request families have series to show labels.
    let request = Request::get("/roll?die=fair").body(Body::empty()).unwrap();
    app(state.clone()).oneshot(request).await.unwrap();
    let server = &state.metrics;
    let operator = OperatorMetrics::default();
    // One series per labelled family, so the reference shows them with their labels.
    use dice_operator::metrics::{ErrorLabels, MapLabels, ResultLabels};
    operator
        .reconciliations
        .get_or_create(&ResultLabels { result: "success" })
        .inc();
    operator
        .errors
        .get_or_create(&ErrorLabels { category: "server" })
        .inc();
    operator
        .held
        .get_or_create(&MapLabels { map: "failures" })
        .set(0);
    let mut out = String::new();
    writeln!(out, "# Metrics reference\n").unwrap();
    writeln!(
        out,
        "Generated from the registries by `make generate`: every series name, type and label"
    )
    .unwrap();
    writeln!(out, "name, as `/metrics` exposes them (histograms also expose `_bucket`, `_sum` and `_count`).\n").unwrap();
    writeln!(out, "## dice-server (`/metrics`, and pushed over OTLP)\n").unwrap();
    writeln!(
        out,
        "System and GPU series exist only once the sampler has the reading (see [dice-server.md](dice-server.md)).\n"
    )
    .unwrap();
    metric_table(&mut out, &server.families().unwrap());
    writeln!(out, "\n## dice-operator (admin port `/metrics`)\n").unwrap();
    let families =
        prometheus_client::encoding::prometheus_protobuf::encode(&operator.registry).unwrap();
    metric_table(&mut out, &families);
    check("docs/metrics.md", &out);
}
