//! Server-side apply, simplified but faithful where controllers notice: each field manager's last
//! applied configuration is kept; a new apply merges into the live object and removes the fields
//! that manager applied before but no longer does (unless another manager still applies them).
//! Maps merge key by key; lists and scalars are replaced whole (atomic), and applies never
//! conflict (as with `force=true`).

use serde_json::{Map, Value};

/// The object after `manager` applies `applied`, given its `previous` applied configuration and
/// the configurations other managers applied.
pub fn apply(
    live: Option<&Value>,
    previous: Option<&Value>,
    applied: &Value,
    others: &[&Value],
) -> Value {
    let mut result = live.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    if let Some(previous) = previous {
        remove_dropped(&mut result, previous, applied, others);
    }
    merge(&mut result, applied);
    result
}

/// Deep-merges `patch` into `target`: objects key by key, anything else replaced.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                match target.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value)
                    }
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

fn remove_dropped(live: &mut Value, previous: &Value, applied: &Value, others: &[&Value]) {
    let (Value::Object(live_map), Value::Object(previous_map)) = (live, previous) else {
        return;
    };
    for (key, previous_value) in previous_map {
        let applied_value = applied.get(key);
        let other_values: Vec<&Value> = others.iter().filter_map(|o| o.get(key)).collect();
        match applied_value {
            None if other_values.is_empty() => {
                live_map.remove(key);
            }
            None => {}
            Some(applied_value) => {
                if let Some(live_value) = live_map.get_mut(key) {
                    remove_dropped(live_value, previous_value, applied_value, &other_values);
                }
            }
        }
    }
}

/// Forgets the fields of a manager's applied configuration that `live` no longer holds with
/// the applied value: a write by another manager (an update, `kubectl scale`, an autoscaler)
/// took them over, so a later apply that leaves them out must not remove them.
pub fn release_changed(applied: &mut Value, live: &Value) {
    let Value::Object(fields) = applied else {
        return;
    };
    fields.retain(|key, value| match live.get(key) {
        None => false,
        Some(current) if value.is_object() && current.is_object() => {
            release_changed(value, current);
            value.as_object().is_some_and(|o| !o.is_empty())
        }
        Some(current) => current == value,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn another_managers_change_releases_the_field() {
        let mut applied = json!({"spec": {"replicas": 3, "template": {"image": "a"}}});
        let live = json!({"spec": {"replicas": 5, "template": {"image": "a"}, "paused": false}});
        release_changed(&mut applied, &live);
        assert_eq!(applied, json!({"spec": {"template": {"image": "a"}}}));
        let next = apply(
            Some(&live),
            Some(&applied),
            &json!({"spec": {"template": {"image": "b"}}}),
            &[],
        );
        assert_eq!(
            next["spec"]["replicas"], 5,
            "an apply without replicas leaves the taken-over count"
        );
    }

    #[test]
    fn first_apply_creates_the_applied_fields() {
        let applied = json!({"spec": {"replicas": 2, "template": {"image": "a"}}});
        assert_eq!(apply(None, None, &applied, &[]), applied);
    }

    #[test]
    fn fields_dropped_from_an_apply_are_removed_but_others_fields_stay() {
        let live = json!({"spec": {"replicas": 2, "paused": true, "minReadySeconds": 5}, "status": {"ready": 1}});
        let previous = json!({"spec": {"replicas": 2, "paused": true}});
        let applied = json!({"spec": {"replicas": 3}});
        let result = apply(Some(&live), Some(&previous), &applied, &[]);
        assert_eq!(
            result,
            json!({"spec": {"replicas": 3, "minReadySeconds": 5}, "status": {"ready": 1}})
        );
    }

    #[test]
    fn a_field_another_manager_applies_survives_the_drop() {
        let live = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let previous = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let other = json!({"metadata": {"labels": {"b": "2"}}});
        let result = apply(
            Some(&live),
            Some(&previous),
            &json!({"metadata": {"labels": {"a": "1"}}}),
            &[&other],
        );
        assert_eq!(
            result,
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}})
        );
    }

    #[test]
    fn lists_are_replaced_whole() {
        let live = json!({"spec": {"ports": [{"port": 80}, {"port": 81}]}});
        let applied = json!({"spec": {"ports": [{"port": 8080}]}});
        assert_eq!(apply(Some(&live), Some(&live), &applied, &[]), applied);
    }

    #[test]
    fn reapplying_the_same_configuration_changes_nothing() {
        let live = json!({"metadata": {"name": "x", "uid": "u"}, "spec": {"replicas": 1}});
        let applied = json!({"metadata": {"name": "x"}, "spec": {"replicas": 1}});
        assert_eq!(apply(Some(&live), Some(&applied), &applied, &[]), live);
    }
}
