//! Kubernetes Events about DiceServices (`kubectl describe`, `kubectl events`): a Warning each
//! time the Degraded condition turns true or says something new. Best effort: an Event that
//! cannot be written is logged, never a reason to fail the reconcile.

use crate::crd::conditions::DEGRADED;
use crate::crd::{DiceService, DiceServiceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};

/// `reportingController` of every Event the operator writes.
pub const REPORTING_CONTROLLER: &str = "dice.dev/dice-operator";
/// The Events API limit on a note.
const NOTE_LIMIT: usize = 1024;

#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
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
        Self {
            recorder: Recorder::new(client, reporter),
        }
    }

    /// Publishes a Warning when `desired` is Degraded and `previous` was not, or was for
    /// another reason or with another message.
    pub async fn degraded(
        &self,
        service: &DiceService,
        previous: Option<&DiceServiceStatus>,
        desired: &DiceServiceStatus,
    ) {
        let Some(event) = degraded_event(previous, desired) else {
            return;
        };
        if let Err(error) = self
            .recorder
            .publish(&event, &service.object_ref(&()))
            .await
        {
            tracing::warn!(%error, reason = event.reason, "could not write the Event");
        }
    }
}

/// The Warning to publish for this status change, if any.
pub fn degraded_event(
    previous: Option<&DiceServiceStatus>,
    desired: &DiceServiceStatus,
) -> Option<Event> {
    let degraded = |status: &DiceServiceStatus| -> Option<Condition> {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == DEGRADED && c.status == "True")
            .cloned()
    };
    let now = degraded(desired)?;
    let before = previous.and_then(degraded);
    if before.is_some_and(|b| b.reason == now.reason && b.message == now.message) {
        return None;
    }
    Some(Event {
        type_: EventType::Warning,
        reason: now.reason,
        note: Some(truncate(&now.message, NOTE_LIMIT)),
        action: "Reconcile".to_owned(),
        secondary: None,
    })
}

/// At most `limit` bytes, cut at a character boundary, marked with an ellipsis when cut.
fn truncate(text: &str, limit: usize) -> String {
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
