//! One Event, two APIs: the operator writes events.k8s.io/v1 Events, while `kubectl describe`
//! and `kubectl get events` read core/v1 ones. A real API server keeps one object served under
//! both; this server keeps a core/v1 copy of each events.k8s.io/v1 Event.

use serde_json::{Value, json};

/// The core/v1 form of an events.k8s.io/v1 Event.
pub fn core_from_events(event: &Value) -> Value {
    let series = &event["series"];
    let event_time = event["eventTime"].clone();
    let first = first_of(&[&event["deprecatedFirstTimestamp"], &event_time]);
    let last = first_of(&[
        &series["lastObservedTime"],
        &event["deprecatedLastTimestamp"],
        &event_time,
    ]);
    let count = series["count"]
        .as_i64()
        .or_else(|| event["deprecatedCount"].as_i64())
        .unwrap_or(1);
    let mut metadata = event["metadata"].clone();
    if let Some(uid) = metadata["uid"].as_str() {
        metadata["uid"] = json!(format!("{uid}-core"));
    }
    let mut core = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": metadata,
        "involvedObject": event["regarding"],
        "reason": event["reason"],
        "message": event["note"],
        "type": event["type"],
        "action": event["action"],
        "count": count,
        "firstTimestamp": first,
        "lastTimestamp": last,
        "eventTime": event_time,
        "source": {"component": event["reportingController"]},
        "reportingComponent": event["reportingController"],
        "reportingInstance": event["reportingInstance"],
    });
    if let Some(map) = core.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    core
}

/// Timestamps are RFC 3339 with seconds in core/v1 (`eventTime` keeps microseconds).
fn first_of(candidates: &[&Value]) -> Value {
    candidates
        .iter()
        .find_map(|v| v.as_str())
        .map(|stamp| match stamp.split_once('.') {
            Some((seconds, _)) => json!(format!("{seconds}Z")),
            None => json!(stamp),
        })
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_view_names_the_object_the_reason_and_the_count() {
        let event = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "dice.1", "namespace": "games", "uid": "u"},
            "regarding": {"kind": "DiceService", "name": "dice", "namespace": "games", "uid": "d"},
            "reason": "Ready", "note": "1/1 replicas ready", "type": "Normal", "action": "Reconcile",
            "eventTime": "2026-12-02T13:00:00.123456Z", "reportingController": "dice-operator",
            "reportingInstance": "pod-1", "series": {"count": 3, "lastObservedTime": "2026-12-02T13:05:00.000001Z"}});
        let core = core_from_events(&event);
        assert_eq!(core["involvedObject"]["kind"], "DiceService");
        assert_eq!(core["message"], "1/1 replicas ready");
        assert_eq!(core["count"], 3);
        assert_eq!(core["firstTimestamp"], "2026-12-02T13:00:00Z");
        assert_eq!(core["lastTimestamp"], "2026-12-02T13:05:00Z");
        assert_eq!(core["source"]["component"], "dice-operator");
        assert_eq!(core["metadata"]["uid"], "u-core");
    }
}
