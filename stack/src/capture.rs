//! The capture receiver: stands in for a Slack incoming webhook (`POST /slack`) and PagerDuty's
//! Events API v2 (`POST /pagerduty`) on 127.0.0.1, answers like them, and records every
//! notification in memory and as one JSON line in a file.

use crate::timeline::Timeline;
use crate::{Error, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::{Value, json};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Slack,
    PagerDuty,
}

/// One request Alertmanager sent, as received.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// Seconds since the stack started.
    pub at_seconds: f64,
    pub channel: Channel,
    pub body: Value,
}

impl Notification {
    /// Slack: the first attachment's field (`title`, `text`); PagerDuty: a `payload` field.
    fn field(&self, name: &str) -> &str {
        let value = match self.channel {
            Channel::Slack => &self.body["attachments"][0][name],
            Channel::PagerDuty => &self.body["payload"][name],
        };
        value.as_str().unwrap_or_default()
    }

    pub fn slack_title(&self) -> &str {
        self.field("title")
    }

    pub fn slack_text(&self) -> &str {
        self.field("text")
    }

    pub fn slack_channel(&self) -> &str {
        self.body["channel"].as_str().unwrap_or_default()
    }

    /// `trigger` or `resolve`.
    pub fn pagerduty_action(&self) -> &str {
        self.body["event_action"].as_str().unwrap_or_default()
    }

    pub fn pagerduty_detail(&self, key: &str) -> &str {
        self.body["payload"]["custom_details"][key]
            .as_str()
            .unwrap_or_default()
    }

    /// One line for people: where it went and what it says.
    pub fn describe(&self) -> String {
        match self.channel {
            Channel::Slack => format!("Slack {}: {}", self.slack_channel(), self.slack_title()),
            Channel::PagerDuty => format!(
                "PagerDuty {} ({}): {}",
                self.pagerduty_action(),
                self.field("severity"),
                self.field("summary")
            ),
        }
    }
}

/// The notifications received so far, shared with the HTTP handlers.
#[derive(Debug, Clone)]
pub struct Capture {
    received: Arc<Mutex<Vec<Notification>>>,
    file: PathBuf,
    timeline: Timeline,
}

impl Capture {
    pub fn notifications(&self) -> Vec<Notification> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The JSON-lines file every notification is appended to.
    pub fn file(&self) -> &Path {
        &self.file
    }

    fn record(&self, channel: Channel, body: &Bytes) -> Result<Notification, Refusal> {
        let body: Value = serde_json::from_slice(body).map_err(|e| Refusal {
            status: StatusCode::BAD_REQUEST,
            message: format!("the body is not JSON: {e}"),
        })?;
        let notification = Notification {
            at_seconds: self.timeline.elapsed().as_secs_f64(),
            channel,
            body,
        };
        self.timeline.mark(notification.describe());
        let line = serde_json::to_string(&notification).unwrap_or_default();
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            .and_then(|mut file| writeln!(file, "{line}"));
        if let Err(error) = appended {
            return Err(Refusal {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: format!("cannot record the notification: {error}"),
            });
        }
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(notification.clone());
        Ok(notification)
    }
}

/// Why a notification was not recorded; answered as a JSON error body.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"error": self.message}))).into_response()
    }
}

/// The running receiver; dropping it stops it.
#[derive(Debug)]
pub struct CaptureServer {
    pub address: SocketAddr,
    pub capture: Capture,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CaptureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the receiver on `listener`, appending notifications to `file`.
pub fn start(
    listener: std::net::TcpListener,
    file: PathBuf,
    timeline: Timeline,
) -> Result<CaptureServer> {
    let address = listener
        .local_addr()
        .map_err(|e| Error::io("capture listener", e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("capture listener", e))?;
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|e| Error::io("capture listener", e))?;
    let capture = Capture {
        received: Arc::default(),
        file,
        timeline,
    };
    let app = Router::new()
        .route("/slack", post(slack))
        .route("/pagerduty", post(pagerduty))
        .with_state(capture.clone());
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            eprintln!("capture receiver stopped: {error}");
        }
    });
    Ok(CaptureServer {
        address,
        capture,
        task,
    })
}

async fn slack(State(capture): State<Capture>, body: Bytes) -> Response {
    match capture.record(Channel::Slack, &body) {
        Ok(_) => "ok".into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// Answers like the Events API v2: 202 with the event's deduplication key.
async fn pagerduty(State(capture): State<Capture>, body: Bytes) -> Response {
    match capture.record(Channel::PagerDuty, &body) {
        Ok(notification) => {
            let reply = json!({
                "status": "success",
                "message": "Event processed",
                "dedup_key": notification.body["dedup_key"],
            });
            (StatusCode::ACCEPTED, axum::Json(reply)).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notifications_are_answered_recorded_and_appended_to_the_file() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let file = dir.path().join("notifications.jsonl");
        let listener = crate::ports::listener(None)?;
        let server = start(listener, file.clone(), Timeline::new(false))?;
        let client = reqwest::Client::new();
        let post = |path: &str, body: Value| {
            client
                .post(format!("http://{}{path}", server.address))
                .json(&body)
                .send()
        };
        let http = |e: reqwest::Error| Error::Http {
            url: "capture".into(),
            reason: e.to_string(),
        };
        let slack = json!({"channel": "#c", "attachments": [{"title": "[FIRING:1] A"}]});
        assert_eq!(post("/slack", slack).await.map_err(http)?.status(), 200);
        let event = json!({"event_action": "trigger", "dedup_key": "k", "payload": {"severity": "critical", "summary": "s"}});
        let reply = post("/pagerduty", event).await.map_err(http)?;
        assert_eq!(reply.status(), 202);
        let reply: Value = reply.json().await.map_err(http)?;
        assert_eq!(reply["dedup_key"], "k");
        let bad = client
            .post(format!("http://{}/slack", server.address))
            .body("not json")
            .send()
            .await
            .map_err(http)?;
        assert_eq!(bad.status(), 400);

        let received = server.capture.notifications();
        assert_eq!(received.len(), 2);
        assert_eq!(received[0].describe(), "Slack #c: [FIRING:1] A");
        assert_eq!(received[1].describe(), "PagerDuty trigger (critical): s");
        let lines = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
        assert_eq!(lines.lines().count(), 2);
        Ok(())
    }
}
