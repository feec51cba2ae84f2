//! Structural-schema defaulting, as the API server does for custom resources on every write:
//! a missing property whose schema has a `default` gets it, recursively.

use serde_json::Value;

pub fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(object) => {
            let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
                return;
            };
            for (name, property) in properties {
                match object.get_mut(name) {
                    Some(child) => apply_defaults(property, child),
                    None => {
                        if let Some(default) = property.get("default") {
                            let mut filled = default.clone();
                            apply_defaults(property, &mut filled);
                            object.insert(name.clone(), filled);
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                items
                    .iter_mut()
                    .for_each(|item| apply_defaults(item_schema, item));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_properties_get_nested_defaults_and_present_ones_stay() {
        let schema = json!({"properties": {"spec": {"properties": {
            "replicas": {"type": "integer", "default": 1},
            "dice": {"type": "object", "default": {}, "properties": {"maxDelay": {"default": "1s"}}},
            "image": {"type": "string"}
        }}}});
        let mut object = json!({"spec": {"replicas": 3}});
        apply_defaults(&schema, &mut object);
        assert_eq!(
            object,
            json!({"spec": {"replicas": 3, "dice": {"maxDelay": "1s"}}})
        );
    }
}
