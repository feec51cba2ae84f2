//! Size limits for the embedded Kubernetes types and free-form maps in the CRD, which carry
//! none of their own: without them one DiceService could make every operator replica hold
//! megabytes (40 DiceServices with 880 annotations of 1,000 characters: 19 → 77 MiB). Strings
//! get the API server's own length limits; every list and map at most [`MAX_ENTRIES`]
//! entries, and every map key at most [`QUALIFIED_NAME`] characters (a CEL rule: OpenAPI has no
//! key length).

use schemars::Schema;
use serde_json::Value;

/// A label value (and the longest a `resources.claims` name or request may be).
const LABEL_VALUE: u64 = 63;
/// A qualified name with a DNS subdomain prefix, as a taint or label key: 253 + `/` + 63.
const QUALIFIED_NAME: u64 = 317;
/// Entries of any list or map below a bounded field: far more than a pod spec needs (the
/// Kubernetes defaults of kube-prometheus-stack carry fewer than 20 labels or tolerations).
pub const MAX_ENTRIES: u64 = 64;

/// Label maps (`nodeSelector`, `monitoring.labels`): values ≤ 63 characters.
pub fn label_map(schema: &mut Schema) {
    bound_all(schema, &|_| LABEL_VALUE);
}

/// `resources`: claim names and requests are DNS labels.
pub fn resources(schema: &mut Schema) {
    bound_all(schema, &|_| LABEL_VALUE);
}

/// `tolerations`: a key is a qualified name; value, operator and effect are short.
pub fn tolerations(schema: &mut Schema) {
    keys_qualified_values_short(schema);
}

/// Annotation maps: values may be long (the API server bounds all annotations together at
/// 256 KiB); each is held to 4 KiB here.
pub fn annotation_map(schema: &mut Schema) {
    bound_all(schema, &|_| 4096);
}

/// Label selectors (NetworkPolicy peers): a requirement's `key` is a qualified name; values,
/// operators and `matchLabels` values are label values.
pub fn selector(schema: &mut Schema) {
    keys_qualified_values_short(schema);
}

/// `key` properties are qualified names; every other string is at most a label value.
fn keys_qualified_values_short(schema: &mut Schema) {
    bound_all(schema, &|name| match name {
        Some("key") => QUALIFIED_NAME,
        _ => LABEL_VALUE,
    });
}

/// `topologySpreadConstraints`: topology keys and selector keys are qualified names.
pub fn topology_spread(schema: &mut Schema) {
    bound_all(schema, &|_| QUALIFIED_NAME);
}

/// `affinity`: topology keys, label keys and namespaces; none is longer than a qualified name.
pub fn affinity(schema: &mut Schema) {
    bound_all(schema, &|_| QUALIFIED_NAME);
}

/// `imagePullSecrets`: Secret names are DNS subdomains.
pub fn object_references(schema: &mut Schema) {
    bound_all(schema, &|_| 253);
}

/// Gives every string below `schema` without a `maxLength` (or an `enum`) the limit `limit`
/// picks from the string's property name (`None` for map values and array items), and every
/// list and map [`MAX_ENTRIES`] and every map's keys [`QUALIFIED_NAME`] characters.
fn bound_all(schema: &mut Schema, limit: &dyn Fn(Option<&str>) -> u64) {
    // The empty JSON pointer is the whole schema.
    if let Some(root) = schema.pointer_mut("") {
        bound_named(root, None, limit);
    }
}

fn bound_named(schema: &mut Value, name: Option<&str>, limit: &dyn Fn(Option<&str>) -> u64) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    // schemars writes an optional field's type as `["array", "null"]`.
    let has_type = |object: &serde_json::Map<String, Value>, wanted: &str| match object.get("type")
    {
        Some(Value::String(type_)) => type_ == wanted,
        Some(Value::Array(types)) => types.iter().any(|t| t == wanted),
        _ => false,
    };
    let is_string = has_type(object, "string");
    let bounded = object.contains_key("maxLength") || object.contains_key("enum");
    if is_string && !bounded {
        object.insert("maxLength".into(), Value::from(limit(name)));
    }
    let is_list = has_type(object, "array");
    if is_list && !object.contains_key("maxItems") {
        object.insert("maxItems".into(), Value::from(MAX_ENTRIES));
    }
    let is_map = object
        .get("additionalProperties")
        .is_some_and(Value::is_object);
    if is_map && !object.contains_key("maxProperties") {
        object.insert("maxProperties".into(), Value::from(MAX_ENTRIES));
        let rule = serde_json::json!({
            "rule": format!("self.all(k, size(k) <= {QUALIFIED_NAME})"),
            "message": format!("keys must be at most {QUALIFIED_NAME} characters"),
        });
        match object
            .entry("x-kubernetes-validations")
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(rules) => rules.push(rule),
            other => *other = Value::Array(vec![rule]),
        }
    }
    if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
        for (property, sub) in properties.iter_mut() {
            bound_named(sub, Some(property), limit);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = object.get_mut(key) {
            bound_named(sub, None, limit);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = object.get_mut(key).and_then(Value::as_array_mut) {
            for sub in list {
                bound_named(sub, name, limit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_unbounded_string_gets_the_limit_for_its_name_and_bounded_ones_keep_theirs() {
        let mut schema = Schema::try_from(json!({
            "type": "array",
            "items": {"type": "object", "properties": {
                "key": {"type": "string"},
                "value": {"type": "string"},
                "effect": {"type": "string", "enum": ["NoSchedule"]},
                "operator": {"type": "string", "maxLength": 8},
            }},
        }))
        .unwrap();
        tolerations(&mut schema);
        assert_eq!(schema.as_value()["maxItems"], MAX_ENTRIES);
        let properties = &schema.as_value()["items"]["properties"];
        assert_eq!(properties["key"]["maxLength"], 317);
        assert_eq!(properties["value"]["maxLength"], 63);
        assert!(properties["effect"].get("maxLength").is_none());
        assert_eq!(properties["operator"]["maxLength"], 8);
    }
}
