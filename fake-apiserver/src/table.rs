//! Server-side `Table` output, as `kubectl get` asks for it: NAME, then the CRD's printer
//! columns (evaluated with the JSONPath subset they use), the real server's columns for the
//! built-in kinds a DiceService owns (Deployments, autoscalers, budgets, policies, Events), or
//! AGE.

use crate::resources::ResourceType;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::SystemTime;

/// How one column's cell is computed.
enum Cell {
    /// A printer column's JSONPath.
    Path(String),
    /// A built-in kind's column, computed as the real API server's printers do.
    Computed(fn(&Value) -> Value),
}

struct Column {
    name: String,
    type_: String,
    cell: Cell,
}

fn column(name: &str, type_: &str, cell: Cell) -> Column {
    Column {
        name: name.to_owned(),
        type_: type_.to_owned(),
        cell,
    }
}

pub fn table(t: &ResourceType, items: &[Arc<Value>], resource_version: &str) -> Value {
    // As the real printer: Events are listed without their (generated) names.
    let named = !(t.group.is_empty() && t.kind == "Event");
    let mut columns = Vec::new();
    if named {
        columns.push(column(
            "Name",
            "string",
            Cell::Path(".metadata.name".into()),
        ));
    }
    if let Some(builtin) = builtin_columns(t) {
        columns.extend(builtin);
    } else if t.printer_columns.is_empty() {
        columns.push(age());
    } else {
        columns.extend(
            t.printer_columns
                .iter()
                .map(|(name, type_, path)| column(name, type_, Cell::Path(path.clone()))),
        );
    }
    let definitions: Vec<Value> = columns
        .iter()
        .map(|c| json!({"name": c.name, "type": c.type_, "format": if c.name == "Name" { "name" } else { "" }, "description": "", "priority": 0}))
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let cells: Vec<Value> = columns
                .iter()
                .map(|c| match &c.cell {
                    Cell::Path(path) => cell(&c.type_, evaluate(item, path)),
                    Cell::Computed(compute) => compute(item),
                })
                .collect();
            json!({
                "cells": cells,
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": item["metadata"]},
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

fn age() -> Column {
    column(
        "Age",
        "date",
        Cell::Computed(|o| cell("date", evaluate(o, ".metadata.creationTimestamp"))),
    )
}

fn count(object: &Value, path: &str) -> i64 {
    evaluate(object, path).and_then(Value::as_i64).unwrap_or(0)
}

/// The columns `kubectl get` shows for the built-in kinds a DiceService owns.
fn builtin_columns(t: &ResourceType) -> Option<Vec<Column>> {
    let computed =
        |name: &str, type_: &str, f: fn(&Value) -> Value| column(name, type_, Cell::Computed(f));
    Some(match (t.group.as_str(), t.kind.as_str()) {
        ("apps", "Deployment") => vec![
            computed("Ready", "string", |o| {
                json!(format!(
                    "{}/{}",
                    count(o, ".status.readyReplicas"),
                    count(o, ".spec.replicas")
                ))
            }),
            computed("Up-to-date", "integer", |o| {
                json!(count(o, ".status.updatedReplicas"))
            }),
            computed("Available", "integer", |o| {
                json!(count(o, ".status.availableReplicas"))
            }),
            age(),
        ],
        ("autoscaling", "HorizontalPodAutoscaler") => vec![
            computed("Reference", "string", |o| {
                let target = &o["spec"]["scaleTargetRef"];
                json!(format!(
                    "{}/{}",
                    target["kind"].as_str().unwrap_or_default(),
                    target["name"].as_str().unwrap_or_default()
                ))
            }),
            computed("Targets", "string", |o| {
                let metrics = o["spec"]["metrics"].as_array().cloned().unwrap_or_default();
                let targets: Vec<String> = metrics
                    .iter()
                    .filter_map(|m| {
                        let resource = m.get("resource")?;
                        let goal = resource["target"]["averageUtilization"].as_i64()?;
                        Some(format!("{}: <unknown>/{goal}%", resource["name"].as_str()?))
                    })
                    .collect();
                json!(if targets.is_empty() {
                    "<none>".to_owned()
                } else {
                    targets.join(", ")
                })
            }),
            computed("MinPods", "integer", |o| {
                json!(
                    evaluate(o, ".spec.minReplicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                )
            }),
            computed("MaxPods", "integer", |o| {
                json!(count(o, ".spec.maxReplicas"))
            }),
            computed("Replicas", "integer", |o| {
                json!(count(o, ".status.currentReplicas"))
            }),
            age(),
        ],
        ("policy", "PodDisruptionBudget") => vec![
            computed("Min Available", "string", |o| {
                json!(text_or_na(o, ".spec.minAvailable"))
            }),
            computed("Max Unavailable", "string", |o| {
                json!(text_or_na(o, ".spec.maxUnavailable"))
            }),
            computed("Allowed Disruptions", "integer", |o| {
                json!(count(o, ".status.disruptionsAllowed"))
            }),
            age(),
        ],
        ("networking.k8s.io", "NetworkPolicy") => vec![
            computed("Pod-Selector", "string", |o| {
                let labels = o["spec"]["podSelector"]["matchLabels"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let text: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect();
                json!(if text.is_empty() {
                    "<none>".to_owned()
                } else {
                    text.join(",")
                })
            }),
            age(),
        ],
        ("", "Event") => vec![
            computed("Last Seen", "string", |o| {
                let seen = ["lastTimestamp", "eventTime"]
                    .iter()
                    .find_map(|k| o[*k].as_str());
                json!(seen.map_or_else(|| "<unknown>".to_owned(), age_of))
            }),
            computed("Type", "string", |o| o["type"].clone()),
            computed("Reason", "string", |o| o["reason"].clone()),
            computed("Object", "string", |o| {
                let involved = &o["involvedObject"];
                json!(format!(
                    "{}/{}",
                    involved["kind"].as_str().unwrap_or_default().to_lowercase(),
                    involved["name"].as_str().unwrap_or_default()
                ))
            }),
            computed("Message", "string", |o| o["message"].clone()),
        ],
        _ => return None,
    })
}

fn text_or_na(object: &Value, path: &str) -> String {
    match evaluate(object, path) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "N/A".to_owned(),
    }
}

fn cell(kind: &str, value: Option<&Value>) -> Value {
    match (kind, value) {
        ("date", Some(Value::String(stamp))) => json!(age_of(stamp)),
        (_, Some(value)) => value.clone(),
        (_, None) => json!("<none>"),
    }
}

/// `5s`, `3m`, `2h`, `4d`: the apiserver's short age format.
fn age_of(stamp: &str) -> String {
    let seconds = humantime::parse_rfc3339(stamp)
        .ok()
        .and_then(|then| SystemTime::now().duration_since(then).ok())
        .map_or(0, |d| d.as_secs());
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Evaluates `.a.b`, `.list[0]` and `.list[?(@.key=="value")]` paths.
pub fn evaluate<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = object;
    let mut rest = path.trim().trim_start_matches('{').trim_end_matches('}');
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            current = current.get(&after[..end])?;
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let index = &after[..end];
            current = match index.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                Some(filter) => {
                    let (field, wanted) = filter.split_once("==")?;
                    let wanted = wanted.trim().trim_matches(|c| c == '"' || c == '\'');
                    current
                        .as_array()?
                        .iter()
                        .find(|item| item[field.trim()].as_str() == Some(wanted))?
                }
                None => current.get(index.parse::<usize>().ok()?)?,
            };
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_column_paths_evaluate() {
        let object = json!({"status": {"url": "http://x", "conditions": [
            {"type": "Progressing", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(evaluate(&object, ".status.url"), Some(&json!("http://x")));
        assert_eq!(
            evaluate(&object, r#".status.conditions[?(@.type=="Ready")].status"#),
            Some(&json!("True"))
        );
        assert_eq!(
            evaluate(&object, ".status.conditions[0].type"),
            Some(&json!("Progressing"))
        );
        assert_eq!(evaluate(&object, ".status.missing"), None);
    }

    #[test]
    fn ages_use_the_short_format() {
        let stamp = humantime::format_rfc3339_seconds(
            SystemTime::now() - std::time::Duration::from_secs(300),
        )
        .to_string();
        assert_eq!(age_of(&stamp), "5m");
    }
}
