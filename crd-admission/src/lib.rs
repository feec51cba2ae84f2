//! Validation of custom resources against their CRD schema, as the API server does on every
//! write: OpenAPI constraints (types, ranges, enums, patterns, lengths, unknown fields) and the
//! CEL `x-kubernetes-validations` rules, evaluated by kube's own CEL implementation.
//! Unknown fields are always rejected, as with `fieldValidation=Strict` (kubectl's default).
//! One implementation serves `dice-operator render` (so GitOps checks refuse what a cluster
//! would) and the fake API server's admission.

mod defaults;
pub mod names;

pub use defaults::apply_defaults;

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

/// Every problem found, as `field: message` strings; empty when the object is valid. Compiles
/// the schema's CEL rules on each call; a caller validating many objects keeps a [`Schema`].
pub fn validate(schema: &Value, object: &Value, old: Option<&Value>) -> Vec<String> {
    Schema::compile(schema.clone()).validate(object, old)
}

/// A CRD version's schema with its CEL rules compiled once, as kube-apiserver compiles them when
/// it starts serving the version rather than on every write.
pub struct Schema {
    json: Value,
    rules: kube::core::cel::CompiledSchema,
}

impl Schema {
    pub fn compile(json: Value) -> Self {
        let rules = kube::core::cel::compile_schema(&json);
        Self { json, rules }
    }

    /// The `openAPIV3Schema` itself.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// Every problem found, as `field: message` strings; empty when the object is valid.
    pub fn validate(&self, object: &Value, old: Option<&Value>) -> Vec<String> {
        thread_local! {
            // Registering the CEL function library allocates; once per thread is enough.
            static VALIDATOR: kube::core::cel::Validator = kube::core::cel::Validator::new();
        }
        let mut problems = Vec::new();
        let Some(properties) = self.json.get("properties").and_then(Value::as_object) else {
            return problems;
        };
        for (name, value) in object.as_object().into_iter().flatten() {
            match properties.get(name) {
                Some(property) => check(property, value, name, &mut problems),
                None if matches!(name.as_str(), "apiVersion" | "kind" | "metadata") => {}
                None => problems.push(format!("{name}: unknown field")),
            }
        }
        if problems.is_empty()
            && let Err(errors) =
                VALIDATOR.with(|validator| validator.validate_compiled(&self.rules, object, old))
        {
            problems.extend(errors.into_vec().into_iter().map(|e| e.to_string()));
        }
        problems
    }
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("json", &self.json)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

fn check(schema: &Value, value: &Value, path: &str, problems: &mut Vec<String>) {
    if value.is_null() && schema["nullable"].as_bool() == Some(true) {
        return;
    }
    let int_or_string = schema["x-kubernetes-int-or-string"].as_bool() == Some(true);
    let type_ok = match (schema["type"].as_str(), value) {
        _ if int_or_string => value.is_i64() || value.is_u64() || value.is_string(),
        (None, _) => true,
        (Some("object"), Value::Object(_))
        | (Some("array"), Value::Array(_))
        | (Some("string"), Value::String(_))
        | (Some("boolean"), Value::Bool(_))
        | (Some("number"), Value::Number(_)) => true,
        (Some("integer"), Value::Number(n)) => n.is_i64() || n.is_u64(),
        _ => false,
    };
    if !type_ok {
        let wanted = schema["type"].as_str().unwrap_or("int-or-string");
        problems.push(format!(
            "{path}: Invalid value: {value}: must be of type {wanted}"
        ));
        return;
    }
    if let Some(number) = value.as_f64() {
        if schema["minimum"].as_f64().is_some_and(|min| number < min) {
            problems.push(format!(
                "{path}: Invalid value: {number}: should be greater than or equal to {}",
                schema["minimum"]
            ));
        }
        if schema["maximum"].as_f64().is_some_and(|max| number > max) {
            problems.push(format!(
                "{path}: Invalid value: {number}: should be less than or equal to {}",
                schema["maximum"]
            ));
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        problems.push(format!(
            "{path}: Unsupported value: {value}: supported values: {}",
            Value::Array(allowed.clone())
        ));
    }
    if let Value::String(text) = value {
        check_string(schema, text, path, problems);
    }
    let entries = match value {
        Value::Object(map) => Some((map.len(), "maxProperties", "minProperties", "properties")),
        Value::Array(items) => Some((items.len(), "maxItems", "minItems", "items")),
        _ => None,
    };
    if let Some((count, max_key, min_key, noun)) = entries {
        let count = count as u64;
        // Kubernetes reports too many entries of either kind as `field.TooMany`.
        if schema[max_key].as_u64().is_some_and(|max| count > max) {
            problems.push(format!(
                "{path}: Too many: {count}: must have at most {} items",
                schema[max_key]
            ));
        }
        if schema[min_key].as_u64().is_some_and(|min| count < min) {
            problems.push(format!(
                "{path}: Invalid value: {count}: should have at least {} {noun}",
                schema[min_key]
            ));
        }
    }
    match value {
        Value::Object(map) => check_object(schema, map, path, problems),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}[{index}]"), problems);
                }
            }
        }
        _ => {}
    }
}

fn check_string(schema: &Value, text: &str, path: &str, problems: &mut Vec<String>) {
    let length = text.chars().count() as u64;
    if schema["minLength"].as_u64().is_some_and(|min| length < min) {
        problems.push(format!(
            "{path}: Invalid value: {text:?}: should be at least {} chars long",
            schema["minLength"]
        ));
    }
    if schema["maxLength"].as_u64().is_some_and(|max| length > max) {
        problems.push(format!(
            "{path}: Too long: may not be longer than {}",
            schema["maxLength"]
        ));
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        let matches = compiled(pattern).is_none_or(|re| re.is_match(text));
        if !matches {
            problems.push(format!(
                "{path}: Invalid value: {text:?}: should match '{pattern}'"
            ));
        }
    }
}

/// A schema's pattern, compiled once per process: compiling dominated every write before.
/// Patterns come from CRDs (a bounded set); one Rust cannot compile admits everything, as
/// before.
fn compiled(pattern: &str) -> Option<Arc<regex::Regex>> {
    static PATTERNS: LazyLock<RwLock<HashMap<String, Option<Arc<regex::Regex>>>>> =
        LazyLock::new(Default::default);
    if let Some(known) = PATTERNS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(pattern)
    {
        return known.clone();
    }
    let regex = regex::Regex::new(pattern).ok().map(Arc::new);
    PATTERNS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(pattern.to_owned(), regex.clone());
    regex
}

fn check_object(
    schema: &Value,
    map: &serde_json::Map<String, Value>,
    path: &str,
    problems: &mut Vec<String>,
) {
    for required in schema["required"].as_array().into_iter().flatten() {
        if let Some(name) = required.as_str()
            && !map.contains_key(name)
        {
            problems.push(format!("{path}.{name}: Required value"));
        }
    }
    // Known fields are still checked where unknown ones are preserved.
    let preserve = schema["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true);
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for (name, child) in map {
        let child_path = format!("{path}.{name}");
        match (properties.and_then(|p| p.get(name)), additional) {
            (Some(property), _) => check(property, child, &child_path, problems),
            (None, Some(values)) => check(values, child, &child_path, problems),
            (None, None) if properties.is_some() && !preserve => {
                problems.push(format!("{child_path}: unknown field"))
            }
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "replicas": {"type": "integer", "minimum": 0},
            "rate": {"type": "number", "maximum": 1.0},
            "delay": {"type": "string", "pattern": "^[0-9]+s$"},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "x-kubernetes-validations": [{"rule": "self.replicas <= 10", "message": "at most 10 replicas"}]}}})
    }

    #[test]
    fn lists_and_maps_are_held_to_their_sizes() {
        let schema = json!({"type": "object", "properties": {
            "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
            "labels": {"type": "object", "maxProperties": 1, "minProperties": 1,
                "additionalProperties": {"type": "string"}},
        }});
        let object = json!({"tags": ["a", "b", "c"], "labels": {"a": "1", "b": "2"}});
        assert_eq!(
            validate(&schema, &object, None),
            [
                "labels: Too many: 2: must have at most 1 items",
                "tags: Too many: 3: must have at most 2 items",
            ]
        );
        let empty = json!({"labels": {}});
        assert_eq!(
            validate(&schema, &empty, None),
            ["labels: Invalid value: 0: should have at least 1 properties"]
        );
    }

    #[test]
    fn a_valid_object_passes() {
        let object = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "x"},
            "spec": {"replicas": 2, "rate": 0.5, "delay": "3s", "mode": "a", "labels": {"k": "v"}}});
        assert_eq!(validate(&schema(), &object, None), Vec::<String>::new());
    }

    #[test]
    fn constraint_violations_are_each_reported_with_their_field() {
        let object = json!({"spec": {"replicas": -1, "rate": 1.5, "delay": "soon", "mode": "c", "extra": 1, "labels": {"k": 1}}});
        let problems = validate(&schema(), &object, None).join("\n");
        for expected in [
            "spec.replicas",
            "spec.rate",
            "spec.delay",
            "spec.mode",
            "spec.extra: unknown field",
            "spec.labels.k",
        ] {
            assert!(
                problems.contains(expected),
                "{expected} missing from:\n{problems}"
            );
        }
    }

    #[test]
    fn cel_rules_report_their_message() {
        let problems = validate(&schema(), &json!({"spec": {"replicas": 11}}), None);
        assert!(
            problems.iter().any(|p| p.contains("at most 10 replicas")),
            "{problems:?}"
        );
    }

    #[test]
    fn required_fields_are_enforced_even_where_unknown_fields_are_preserved() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
            "x-kubernetes-preserve-unknown-fields": true, "required": ["tenant"],
            "properties": {"tenant": {"type": "string"}, "size": {"type": "integer", "maximum": 3}}}}});
        let problems = validate(&schema, &json!({"spec": {"size": 5, "other": 1}}), None);
        assert_eq!(
            problems,
            [
                "spec.tenant: Required value",
                "spec.size: Invalid value: 5: should be less than or equal to 3"
            ]
        );
        let fine = json!({"spec": {"tenant": "a", "other": 1}});
        assert_eq!(validate(&schema, &fine, None), Vec::<String>::new());
    }
}
