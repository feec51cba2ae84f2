//! Length limits for the strings of embedded Kubernetes types and free-form maps in the CRD,
//! which carry none of their own: without them one DiceService could make every operator
//! replica hold megabytes. The limits are the API server's own for these fields.

use schemars::Schema;
use serde_json::Value;

/// A label value (and the longest a `resources.claims` name or request may be).
const LABEL_VALUE: u64 = 63;
/// A qualified name with a DNS subdomain prefix, as a taint or label key: 253 + `/` + 63.
const QUALIFIED_NAME: u64 = 317;

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
/// picks from the string's property name (`None` for map values and array items).
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
    let is_string = object.get("type").and_then(Value::as_str) == Some("string");
    let bounded = object.contains_key("maxLength") || object.contains_key("enum");
    if is_string && !bounded {
        object.insert("maxLength".into(), Value::from(limit(name)));
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
        let properties = &schema.as_value()["items"]["properties"];
        assert_eq!(properties["key"]["maxLength"], 317);
        assert_eq!(properties["value"]["maxLength"], 63);
        assert!(properties["effect"].get("maxLength").is_none());
        assert_eq!(properties["operator"]["maxLength"], 8);
    }
}
