//! The built-in field rules of Kubernetes' own validation (`pkg/apis/core/validation`,
//! `apimachinery/.../validation`) for what the operator can produce: label and annotation
//! syntax on every object, a container's requests within its limits, port names and numbers,
//! a Service's port names, and a Deployment's selector matching its pod template. Each problem
//! is `field: message` with the wording a real server's `422 Invalid` carries.

use crate::resources::ResourceType;
use serde_json::{Map, Value};

mod quantity;

/// The annotations of one object may hold at most this many bytes (keys and values).
const ANNOTATIONS_LIMIT: usize = 256 * 1024;
const NAME_PART: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";

/// Every rule `object` of kind `t` breaks; empty when a real server would store it.
pub fn problems(t: &ResourceType, object: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    metadata(&object["metadata"], "metadata", &mut problems);
    match (t.group.as_str(), t.kind.as_str()) {
        ("", "Pod") => pod_spec(&object["spec"], "spec", &mut problems),
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") => {
            metadata(
                &object["spec"]["template"]["metadata"],
                "spec.template.metadata",
                &mut problems,
            );
            pod_spec(
                &object["spec"]["template"]["spec"],
                "spec.template.spec",
                &mut problems,
            );
            if t.kind == "Deployment" {
                selector_matches_template(&object["spec"], &mut problems);
            }
        }
        ("", "Service") => service_ports(&object["spec"], &mut problems),
        _ => {}
    }
    problems
}

fn metadata(meta: &Value, path: &str, problems: &mut Vec<String>) {
    for (key, value) in entries(&meta["labels"]) {
        if let Some(problem) = qualified_name_problem(key) {
            problems.push(format!("{path}.labels: Invalid value: {key:?}: {problem}"));
        }
        let value = value.as_str().unwrap_or_default();
        if let Some(problem) = label_value_problem(value) {
            problems.push(format!(
                "{path}.labels: Invalid value: {value:?}: {problem}"
            ));
        }
    }
    let mut size = 0;
    for (key, value) in entries(&meta["annotations"]) {
        if let Some(problem) = qualified_name_problem(&key.to_lowercase()) {
            problems.push(format!(
                "{path}.annotations: Invalid value: {key:?}: {problem}"
            ));
        }
        size += key.len() + value.as_str().map_or(0, str::len);
    }
    if size > ANNOTATIONS_LIMIT {
        problems.push(format!(
            "{path}.annotations: Too long: must have at most {ANNOTATIONS_LIMIT} bytes"
        ));
    }
}

fn pod_spec(spec: &Value, path: &str, problems: &mut Vec<String>) {
    for list in ["initContainers", "containers"] {
        for (i, container) in items(&spec[list]).enumerate() {
            let path = format!("{path}.{list}[{i}]");
            resources(
                &container["resources"],
                &format!("{path}.resources"),
                problems,
            );
            for (j, port) in items(&container["ports"]).enumerate() {
                let path = format!("{path}.ports[{j}]");
                if let Some(name) = port["name"].as_str()
                    && let Some(problem) = port_name_problem(name)
                {
                    problems.push(format!("{path}.name: Invalid value: {name:?}: {problem}"));
                }
                port_number(
                    &port["containerPort"],
                    &format!("{path}.containerPort"),
                    problems,
                );
            }
        }
    }
}

/// Each request at most its limit, and every quantity well formed.
fn resources(resources: &Value, path: &str, problems: &mut Vec<String>) {
    let parse = |section: &str, problems: &mut Vec<String>| {
        let mut parsed = Vec::new();
        for (name, value) in entries(&resources[section]) {
            let text = value.as_str().unwrap_or_default();
            match quantity::parse(text) {
                Some(amount) => parsed.push((name.as_str(), text, amount)),
                None => problems.push(format!(
                    "{path}.{section}[{name}]: Invalid value: {text:?}: quantities must match \
                     the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
                )),
            }
        }
        parsed
    };
    let limits = parse("limits", problems);
    for (name, text, amount) in parse("requests", problems) {
        let limit = limits.iter().find(|(limit_name, ..)| *limit_name == name);
        if let Some((_, limit_text, limit)) = limit
            && amount > *limit
        {
            problems.push(format!(
                "{path}.requests[{name}]: Invalid value: {text:?}: must be less than or equal \
                 to {name} limit of {limit_text}"
            ));
        }
    }
}

fn service_ports(spec: &Value, problems: &mut Vec<String>) {
    let ports: Vec<&Value> = items(&spec["ports"]).collect();
    let mut names = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        match port["name"].as_str().filter(|n| !n.is_empty()) {
            None if ports.len() > 1 => problems.push(format!("{path}.name: Required value")),
            None => {}
            Some(name) => {
                // The problem already reads `Invalid value: "<name>": …`.
                if let Some(problem) = crd_admission::names::label_problem(name) {
                    problems.push(format!("{path}.name: {problem}"));
                }
                if names.contains(&name) {
                    problems.push(format!("{path}.name: Duplicate value: {name:?}"));
                }
                names.push(name);
            }
        }
        port_number(&port["port"], &format!("{path}.port"), problems);
        if let Some(target) = port["targetPort"].as_u64() {
            port_number(&target.into(), &format!("{path}.targetPort"), problems);
        }
    }
}

fn selector_matches_template(spec: &Value, problems: &mut Vec<String>) {
    let selector = entries(&spec["selector"]["matchLabels"]);
    let labels = &spec["template"]["metadata"]["labels"];
    let expressions = items(&spec["selector"]["matchExpressions"]).count();
    if selector.len() + expressions == 0 {
        problems.push(
            "spec.selector: Invalid value: {}: empty selector is invalid for deployment".into(),
        );
        return;
    }
    if selector
        .iter()
        .any(|(key, value)| labels.get(key.as_str()) != Some(*value))
    {
        problems.push(format!(
            "spec.template.metadata.labels: Invalid value: {labels}: `selector` does not match \
             template `labels`"
        ));
    }
}

fn port_number(value: &Value, path: &str, problems: &mut Vec<String>) {
    if let Some(number) = value.as_i64()
        && !(1..=65535).contains(&number)
    {
        problems.push(format!(
            "{path}: Invalid value: {number}: must be between 1 and 65535, inclusive"
        ));
    }
}

/// An IANA service name, as container port names must be.
fn port_name_problem(name: &str) -> Option<&'static str> {
    if name.len() > 15 {
        Some("must be no more than 15 characters")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Some("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    } else if name.contains("--") {
        Some("must not contain consecutive hyphens")
    } else if !name.chars().any(|c| c.is_ascii_lowercase()) {
        Some("must contain at least one letter (a-z)")
    } else if name.starts_with('-') || name.ends_with('-') {
        Some("must not begin or end with a hyphen")
    } else {
        None
    }
}

/// A label or annotation key: an optional DNS-subdomain prefix and `/`, then a name part.
fn qualified_name_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && crd_admission::names::subdomain_problem(prefix).is_some()
    {
        return Some(
            "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
             characters, '-' or '.', and must start and end with an alphanumeric character"
                .into(),
        );
    }
    if name.is_empty() {
        return Some("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 characters".into());
    }
    (!name_part_shaped(name)).then(|| {
        format!(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start \
             and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
             '123-abc', regex used for validation is '{NAME_PART}')"
        )
    })
}

fn label_value_problem(value: &str) -> Option<String> {
    if value.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    (!value.is_empty() && !name_part_shaped(value)).then(|| {
        format!(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', \
             '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  \
             or 'my_value',  or '12345', regex used for validation is '({NAME_PART})?')"
        )
    })
}

fn name_part_shaped(text: &str) -> bool {
    let alphanumeric = |c: char| c.is_ascii_alphanumeric();
    text.starts_with(alphanumeric)
        && text.ends_with(alphanumeric)
        && text
            .chars()
            .all(|c| alphanumeric(c) || matches!(c, '-' | '_' | '.'))
}

fn entries(map: &Value) -> Vec<(&String, &Value)> {
    map.as_object()
        .map(Map::iter)
        .into_iter()
        .flatten()
        .collect()
}

fn items(list: &Value) -> impl Iterator<Item = &Value> {
    list.as_array().into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_names_follow_the_iana_service_name_rules() {
        for good in ["http", "metrics", "h2c-1", "a1"] {
            assert_eq!(port_name_problem(good), None, "{good}");
        }
        for bad in [
            "a-very-long-port-name",
            "HTTP",
            "a--b",
            "123",
            "-http",
            "web_ui",
        ] {
            assert!(port_name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn label_keys_and_values_follow_the_qualified_name_rules() {
        for good in ["app", "app.kubernetes.io/name", "dice.dev/owner", "A_b.c"] {
            assert_eq!(qualified_name_problem(good), None, "{good}");
        }
        for bad in ["", "-app", "Example.COM/x", "a/b/c", "x/", &"a".repeat(64)] {
            assert!(qualified_name_problem(bad).is_some(), "{bad:?}");
        }
        assert_eq!(label_value_problem(""), None);
        assert!(label_value_problem("has space").is_some());
        assert!(label_value_problem(&"v".repeat(64)).is_some());
    }
}
