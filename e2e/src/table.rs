//! Server-side `Table` output, as `kubectl get` asks for it: NAME, the CRD's printer columns
//! (evaluated with the JSONPath subset they use), and AGE for built-in kinds.

use crate::resources::ResourceType;
use serde_json::{Value, json};
use std::time::SystemTime;

pub fn table(t: &ResourceType, items: &[Value], resource_version: &str) -> Value {
    let mut columns = vec![(
        "Name".to_owned(),
        "string".to_owned(),
        ".metadata.name".to_owned(),
    )];
    if t.printer_columns.is_empty() {
        columns.push((
            "Age".into(),
            "date".into(),
            ".metadata.creationTimestamp".into(),
        ));
    } else {
        columns.extend(t.printer_columns.iter().cloned());
    }
    let definitions: Vec<Value> = columns
        .iter()
        .map(|(name, kind, _)| json!({"name": name, "type": kind, "format": if name == "Name" { "name" } else { "" }, "description": "", "priority": 0}))
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let cells: Vec<Value> = columns
                .iter()
                .map(|(_, kind, path)| cell(kind, evaluate(item, path)))
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

fn cell(kind: &str, value: Option<&Value>) -> Value {
    match (kind, value) {
        ("date", Some(Value::String(stamp))) => json!(age(stamp)),
        (_, Some(value)) => value.clone(),
        (_, None) => json!("<none>"),
    }
}

/// `5s`, `3m`, `2h`, `4d`: the apiserver's short age format.
fn age(stamp: &str) -> String {
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
        assert_eq!(age(&stamp), "5m");
    }
}
