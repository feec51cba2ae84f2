//! Watch streams: initial ADDED events (or a replay from a resourceVersion), the bookmark that
//! ends a streaming list's initial events, live events, periodic bookmarks, `410 Gone` as an ERROR event when the version is too old, and a timeout.

use crate::SharedStore;
use crate::partial::metadata_view;
use crate::resources::ResourceType;
use crate::selectors::Selector;
use crate::store::StoredEvent;
use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// About once a minute, as kube-apiserver's watch cache sends them.
pub const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct WatchRequest {
    pub resource: ResourceType,
    pub namespace: Option<String>,
    pub selector: Selector,
    /// `None` or `0`: start with the current objects as ADDED events.
    pub since: Option<u64>,
    pub bookmarks: bool,
    /// A streaming list (`sendInitialEvents=true`): after the current objects, a bookmark
    /// annotated `k8s.io/initial-events-end` at their resourceVersion.
    pub initial_events_end: bool,
    pub timeout: Duration,
    /// `as=PartialObjectMetadata`: each object's metadata only.
    pub metadata_only: bool,
}

pub fn respond(store: SharedStore, request: WatchRequest) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    tokio::spawn(stream_events(store, request, tx));
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    Response::builder()
        .header("content-type", "application/json")
        .body(body)
        .unwrap_or_default()
}

fn line(kind: &str, object: &Value, metadata_only: bool) -> Result<Bytes, Infallible> {
    let encoded = if metadata_only && kind != "ERROR" && kind != "BOOKMARK" {
        metadata_view(object).to_string()
    } else {
        object.to_string()
    };
    encoded_line(kind, &encoded)
}

fn encoded_line(kind: &str, object: &str) -> Result<Bytes, Infallible> {
    // `type` first, as kube-apiserver writes it (a `json!` map would sort `object` first):
    // clients then decode the object in place instead of buffering it until the tag arrives.
    Ok(Bytes::from(format!(
        "{{\"type\":\"{kind}\",\"object\":{object}}}\n"
    )))
}

/// What one watch sends of a stored event.
enum Seen {
    /// The object as stored, under this event type.
    Stored(&'static str),
    /// The object as it was before its labels changed: it left the selector.
    LeftSelector(Value),
}

async fn stream_events(
    store: SharedStore,
    request: WatchRequest,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
) {
    // What this watch sees of an event, as kube-apiserver's watch cache decides it: an object
    // that starts matching the selector is ADDED, one that stops matching DELETED (with the
    // labels it matched by), one that matches before and after MODIFIED.
    let seen_as = |event: &StoredEvent| -> Option<Seen> {
        let ours = event.group == request.resource.group
            && event.plural == request.resource.plural
            && request
                .namespace
                .as_deref()
                .is_none_or(|ns| event.object["metadata"]["namespace"].as_str() == Some(ns));
        if !ours {
            return None;
        }
        let now = request.selector.matches(&event.object);
        let Some(labels) = &event.previous_labels else {
            return now.then(|| Seen::Stored(event.kind.as_str()));
        };
        let mut before = Value::clone(&event.object);
        before["metadata"]["labels"] = labels.clone();
        match (request.selector.matches(&before), now) {
            (false, true) => Some(Seen::Stored("ADDED")),
            (true, true) => Some(Seen::Stored("MODIFIED")),
            (true, false) => Some(Seen::LeftSelector(before)),
            (false, false) => None,
        }
    };
    let send = |event: &StoredEvent, seen: Seen| match seen {
        Seen::Stored(kind) => encoded_line(kind, event.encoded(request.metadata_only)),
        Seen::LeftSelector(before) => line("DELETED", &before, request.metadata_only),
    };
    let opened = {
        let store = crate::lock(&store);
        let initial = match request.since {
            None | Some(0) => store.list(
                &request.resource,
                request.namespace.as_deref(),
                &request.selector,
            ),
            Some(_) => Vec::new(),
        };
        let since = request
            .since
            .filter(|v| *v > 0)
            .unwrap_or(store.resource_version());
        store
            .subscribe(since)
            .map(|subscription| (initial, subscription.backlog, subscription.receiver, since))
    };
    let (initial, backlog, mut rx, mut last_seen) = match opened {
        Ok(opened) => opened,
        Err(gone) => {
            let _ = tx.send(line("ERROR", &gone.status_body(), false)).await;
            return;
        }
    };
    for object in &initial {
        if tx
            .send(line("ADDED", object, request.metadata_only))
            .await
            .is_err()
        {
            return;
        }
    }
    if request.initial_events_end {
        let end = json!({
            "kind": request.resource.kind,
            "apiVersion": request.resource.api_version(),
            "metadata": {
                "resourceVersion": last_seen.to_string(),
                "annotations": {"k8s.io/initial-events-end": "true"},
            },
        });
        if tx.send(line("BOOKMARK", &end, false)).await.is_err() {
            return;
        }
    }
    for event in backlog {
        let Some(seen) = seen_as(&event) else {
            continue;
        };
        last_seen = event.resource_version;
        if tx.send(send(&event, seen)).await.is_err() {
            return;
        }
    }
    let deadline = tokio::time::sleep(request.timeout);
    tokio::pin!(deadline);
    let mut bookmarks = tokio::time::interval(BOOKMARK_INTERVAL);
    bookmarks.tick().await;
    loop {
        let outgoing = tokio::select! {
            () = &mut deadline => return,
            received = rx.recv() => match received {
                Ok(event) if event.resource_version <= last_seen => continue,
                Ok(event) => {
                    last_seen = event.resource_version;
                    let Some(seen) = seen_as(&event) else { continue; };
                    send(&event, seen)
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let gone = crate::status::ApiError::Gone { requested: last_seen, oldest: last_seen + 1 };
                    let _ = tx.send(line("ERROR", &gone.status_body(), false)).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = bookmarks.tick(), if request.bookmarks => line("BOOKMARK", &json!({
                "kind": request.resource.kind,
                "apiVersion": request.resource.api_version(),
                "metadata": {"resourceVersion": last_seen.to_string()},
            }), false),
        };
        if tx.send(outgoing).await.is_err() {
            return;
        }
    }
}
