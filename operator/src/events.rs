//! Kubernetes Events about DiceServices (`kubectl describe`, `kubectl get events`), one per
//! status *transition*: children first created, Ready reached, Degraded, a Secret missing, a
//! child rejected, the Prometheus Operator CRDs missing. They are derived from the previous
//! and the new status, which is written only when it changed, so a converged cluster emits
//! none. Best effort: an Event that cannot be written is logged, never a reason to fail the
//! reconcile.

use crate::crd::conditions::{DEGRADED, MONITORING_READY, READY, Reason};
use crate::crd::{DiceService, DiceServiceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};

/// `reportingController` of every Event the operator writes.
pub const REPORTING_CONTROLLER: &str = "dice-operator";
/// The Events API limit on a note.
const NOTE_LIMIT: usize = 1024;
/// MonitoringReady reasons that deserve a Warning of their own when they appear.
const MONITORING_WARNINGS: [Reason; 3] = [
    Reason::SecretMissing,
    Reason::ChildRejected,
    Reason::PrometheusOperatorCRDsMissing,
];

/// A fresh kube-runtime `Recorder` per reconcile, as its documentation intends: a long-lived
/// one keeps every Event it wrote for six minutes (for series counts we never need, since we
/// write on transitions only) and scans that cache on every publish; with thousands of
/// DiceServices that was megabytes and quadratic CPU, and it outlived deleted DiceServices.
#[derive(Clone)]
pub struct Events {
    client: Client,
    reporter: Reporter,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl Events {
    /// `instance` is this replica's name (the pod name in a cluster).
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: REPORTING_CONTROLLER.to_owned(),
            instance,
        };
        Self { client, reporter }
    }

    /// Publishes the Events for the change from `previous` to `desired`; `children` names what
    /// the reconcile applied (the note of the first "Created" event).
    pub async fn publish(
        &self,
        service: &DiceService,
        previous: Option<&DiceServiceStatus>,
        desired: &DiceServiceStatus,
        children: &str,
    ) {
        let reference = service.object_ref(&());
        let events = transitions(previous, desired, children);
        if events.is_empty() {
            return;
        }
        let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        for event in events {
            if let Err(error) = recorder.publish(&event, &reference).await {
                tracing::warn!(%error, reason = event.reason, "could not write the Event");
            }
        }
    }
}

/// The Events for a status change, in the order they happened.
pub fn transitions(
    previous: Option<&DiceServiceStatus>,
    desired: &DiceServiceStatus,
    children: &str,
) -> Vec<Event> {
    let mut events = Vec::new();
    let first_applied = previous.is_none_or(|p| p.url.is_none()) && desired.url.is_some();
    if first_applied {
        events.push(event(
            EventType::Normal,
            "Created",
            &format!("Created {children}"),
        ));
    }
    events.extend(degraded_event(previous, desired));
    if let Some(now) = condition(desired, MONITORING_READY, "False")
        .filter(|c| MONITORING_WARNINGS.iter().any(|r| c.reason == *r))
    {
        let before = previous.and_then(|p| condition(p, MONITORING_READY, "False"));
        if before.is_none_or(|b| b.reason != now.reason || b.message != now.message) {
            events.push(event(EventType::Warning, &now.reason, &now.message));
        }
    }
    // A fixed note: repeats of an Event are counted on its first copy (`x5 over 10m`), so a
    // replica count in the note would go stale.
    let ready_now = condition(desired, READY, "True").is_some();
    if ready_now && previous.and_then(|p| condition(p, READY, "True")).is_none() {
        events.push(event(
            EventType::Normal,
            "Ready",
            "Every desired replica is ready",
        ));
    }
    events
}

/// The Warning to publish for this status change, if any: when `desired` is Degraded and
/// `previous` was not, or was for another reason or with another message.
pub fn degraded_event(
    previous: Option<&DiceServiceStatus>,
    desired: &DiceServiceStatus,
) -> Option<Event> {
    let now = condition(desired, DEGRADED, "True")?;
    let before = previous.and_then(|p| condition(p, DEGRADED, "True"));
    if before.is_some_and(|b| b.reason == now.reason && b.message == now.message) {
        return None;
    }
    Some(event(EventType::Warning, &now.reason, &now.message))
}

fn condition<'a>(status: &'a DiceServiceStatus, type_: &str, value: &str) -> Option<&'a Condition> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == value)
}

fn event(type_: EventType, reason: &str, note: &str) -> Event {
    Event {
        type_,
        reason: reason.to_owned(),
        note: Some(truncate(note, NOTE_LIMIT)),
        action: "Reconcile".to_owned(),
        secondary: None,
    }
}

/// At most `limit` bytes, cut at a character boundary, marked with an ellipsis when cut.
pub fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn status(degraded: Option<(&str, &str)>) -> DiceServiceStatus {
        let (status, reason, message) = match degraded {
            Some((reason, message)) => ("True", reason, message),
            None => ("False", "AsExpected", "fine"),
        };
        DiceServiceStatus {
            conditions: vec![Condition {
                type_: DEGRADED.into(),
                status: status.into(),
                reason: reason.into(),
                message: message.into(),
                observed_generation: None,
                last_transition_time: Time(Timestamp::UNIX_EPOCH),
            }],
            ..DiceServiceStatus::default()
        }
    }

    #[test]
    fn a_warning_when_degraded_starts_or_says_something_new_and_only_then() {
        let taken = status(Some(("ChildNotOwned", "Service a/dice is controlled by X")));
        let event = degraded_event(Some(&status(None)), &taken).unwrap();
        assert_eq!(
            (event.type_, event.reason.as_str()),
            (EventType::Warning, "ChildNotOwned")
        );
        assert!(degraded_event(None, &taken).is_some());
        assert!(
            degraded_event(Some(&taken), &taken).is_none(),
            "no repeat for the same state"
        );
        let other = status(Some(("ChildNotOwned", "Service a/dice is controlled by Y")));
        assert!(degraded_event(Some(&taken), &other).is_some());
        assert!(degraded_event(Some(&taken), &status(None)).is_none());
    }

    fn with(
        mut status: DiceServiceStatus,
        condition: (&str, &str, &str, &str),
    ) -> DiceServiceStatus {
        let (type_, value, reason, message) = condition;
        status.conditions.retain(|c| c.type_ != type_);
        status.conditions.push(Condition {
            type_: type_.into(),
            status: value.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: None,
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
        });
        status
    }

    fn reasons(events: &[Event]) -> Vec<(EventType, &str)> {
        events
            .iter()
            .map(|e| (e.type_, e.reason.as_str()))
            .collect()
    }

    #[test]
    fn each_transition_has_one_event_and_an_unchanged_status_none() {
        let mut applied = with(status(None), (READY, "False", "ReplicasNotReady", "0/1"));
        applied.url = Some("http://dice.games.svc:80".into());
        let first = transitions(None, &applied, "Deployment games/dice");
        assert_eq!(reasons(&first), [(EventType::Normal, "Created")]);
        assert_eq!(
            first[0].note.as_deref(),
            Some("Created Deployment games/dice")
        );
        assert!(transitions(Some(&applied), &applied, "x").is_empty());

        let ready = with(
            applied.clone(),
            (READY, "True", "AllReplicasReady", "1/1 replicas ready"),
        );
        assert_eq!(
            reasons(&transitions(Some(&applied), &ready, "x")),
            [(EventType::Normal, "Ready")]
        );
        assert!(transitions(Some(&ready), &ready, "x").is_empty());

        let missing = with(
            ready.clone(),
            (
                MONITORING_READY,
                "False",
                "SecretMissing",
                "Secret games/slack not found",
            ),
        );
        assert_eq!(
            reasons(&transitions(Some(&ready), &missing, "x")),
            [(EventType::Warning, "SecretMissing")]
        );
        assert!(transitions(Some(&missing), &missing, "x").is_empty());
        let rejected = with(
            ready.clone(),
            (
                MONITORING_READY,
                "False",
                "ChildRejected",
                "Probe games/dice: denied",
            ),
        );
        let crds = with(
            ready.clone(),
            (
                MONITORING_READY,
                "False",
                "PrometheusOperatorCRDsMissing",
                "install them",
            ),
        );
        assert_eq!(
            reasons(&transitions(Some(&missing), &rejected, "x")),
            [(EventType::Warning, "ChildRejected")]
        );
        assert_eq!(
            reasons(&transitions(Some(&ready), &crds, "x")),
            [(EventType::Warning, "PrometheusOperatorCRDsMissing")]
        );
        let invalid = with(ready.clone(), (DEGRADED, "True", "InvalidSpec", "bad"));
        assert_eq!(
            reasons(&transitions(Some(&ready), &invalid, "x")),
            [(EventType::Warning, "InvalidSpec")]
        );
    }

    #[test]
    fn a_long_note_is_cut_to_the_events_api_limit_at_a_character_boundary() {
        let message = "é".repeat(2000);
        let desired = status(Some(("InvalidSpec", &message)));
        let note = degraded_event(None, &desired).unwrap().note.unwrap();
        assert!(
            note.len() <= NOTE_LIMIT && note.ends_with('…'),
            "{}",
            note.len()
        );
    }
}
