//! Fault injection, for testing clients against an unreliable API server: random 500s, 429s
//! (with `Retry-After`), 409 conflicts on writes, writes committed whose answer is lost (a 500
//! after the change was made), slow answers, and watches cut off mid-stream. Draws come from one
//! seeded generator, so a test names its seed and gets the same mix of faults every run.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often each fault happens (probabilities per request) and how long delays last.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub seed: u64,
    /// A request is refused with 500 or 429 before it reaches the store.
    pub error_rate: f64,
    /// A write is refused with 409 Conflict before it reaches the store.
    pub conflict_rate: f64,
    /// A write is committed, then answered 500 as if the connection had dropped.
    pub lost_response_rate: f64,
    /// A request is held for up to `slow_max` first.
    pub slow_rate: f64,
    pub slow_max: Duration,
    /// A watch is cut after up to `watch_cut_max`.
    pub watch_cut_rate: f64,
    pub watch_cut_max: Duration,
}

impl FaultPlan {
    /// Every fault at `rate` (conflicts and lost answers at half of it), watches cut half the
    /// time within 10 s: what `fake-apiserver --fault-rate` uses.
    pub fn uniform(seed: u64, rate: f64) -> Self {
        Self {
            seed,
            error_rate: rate,
            conflict_rate: rate / 2.0,
            lost_response_rate: rate / 2.0,
            slow_rate: rate,
            slow_max: Duration::from_millis(500),
            watch_cut_rate: 0.5,
            watch_cut_max: Duration::from_secs(10),
        }
    }
}

/// What was injected so far.
#[derive(Debug, Default)]
pub struct FaultCounts {
    /// Every request this client sent, faulted or not.
    pub requests: AtomicU64,
    pub internal_errors: AtomicU64,
    pub too_many_requests: AtomicU64,
    pub conflicts: AtomicU64,
    pub lost_responses: AtomicU64,
    pub slowed: AtomicU64,
    pub watches_cut: AtomicU64,
}

#[derive(Debug)]
pub struct Faults {
    plan: FaultPlan,
    rng: Mutex<SmallRng>,
    enabled: AtomicBool,
    /// Refusals and lost answers; slow answers and cut watches go on while this is off.
    errors_enabled: AtomicBool,
    pub counts: FaultCounts,
}

/// What to do with one request, drawn up front.
#[derive(Debug, Default)]
struct Draw {
    delay: Option<Duration>,
    refuse: Option<StatusCode>,
    lose_response: bool,
    cut_watch_after: Option<Duration>,
}

impl Faults {
    pub fn new(plan: FaultPlan) -> Arc<Self> {
        Arc::new(Self {
            rng: Mutex::new(SmallRng::seed_from_u64(plan.seed)),
            plan,
            enabled: AtomicBool::new(true),
            errors_enabled: AtomicBool::new(true),
            counts: FaultCounts::default(),
        })
    }

    /// Turns injection on or off (a test's "the outage is over").
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Release);
    }

    /// Turns refusals and lost answers on or off, leaving slow answers and cut watches as they
    /// are (a test's "the API server answers again, the network is still flaky").
    pub fn set_errors_enabled(&self, enabled: bool) {
        self.errors_enabled.store(enabled, Ordering::Release);
    }

    pub fn injected(&self) -> u64 {
        let c = &self.counts;
        [
            &c.internal_errors,
            &c.too_many_requests,
            &c.conflicts,
            &c.lost_responses,
            &c.slowed,
            &c.watches_cut,
        ]
        .iter()
        .map(|n| n.load(Ordering::Relaxed))
        .sum()
    }

    fn draw(&self, write: bool, watch: bool) -> Draw {
        if !self.enabled.load(Ordering::Acquire) {
            return Draw::default();
        }
        let plan = &self.plan;
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut draw = Draw::default();
        if rng.random_bool(plan.slow_rate) {
            draw.delay = Some(plan.slow_max.mul_f64(rng.random::<f64>()));
        }
        if self.errors_enabled.load(Ordering::Acquire) {
            if rng.random_bool(plan.error_rate) {
                draw.refuse = Some(if rng.random_bool(0.5) {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::TOO_MANY_REQUESTS
                });
            } else if write && rng.random_bool(plan.conflict_rate) {
                draw.refuse = Some(StatusCode::CONFLICT);
            } else if write && rng.random_bool(plan.lost_response_rate) {
                draw.lose_response = true;
            }
        }
        if watch && rng.random_bool(plan.watch_cut_rate) {
            draw.cut_watch_after = Some(plan.watch_cut_max.mul_f64(rng.random::<f64>()));
        }
        draw
    }

    /// The middleware: applies one draw to each request.
    pub async fn inject(self: Arc<Self>, request: Request, next: Next) -> Response {
        let write = !matches!(*request.method(), Method::GET | Method::HEAD);
        let watch = request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
        self.counts.requests.fetch_add(1, Ordering::Relaxed);
        let draw = self.draw(write, watch);
        if let Some(delay) = draw.delay {
            self.counts.slowed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
        }
        if let Some(status) = draw.refuse {
            let counter = match status {
                StatusCode::CONFLICT => &self.counts.conflicts,
                StatusCode::TOO_MANY_REQUESTS => &self.counts.too_many_requests,
                _ => &self.counts.internal_errors,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            return refusal(status);
        }
        let response = next.run(request).await;
        if draw.lose_response && response.status().is_success() {
            self.counts.lost_responses.fetch_add(1, Ordering::Relaxed);
            return refusal(StatusCode::INTERNAL_SERVER_ERROR);
        }
        match draw.cut_watch_after {
            Some(after) if response.status().is_success() => {
                self.counts.watches_cut.fetch_add(1, Ordering::Relaxed);
                cut_after(response, after)
            }
            _ => response,
        }
    }
}

fn refusal(status: StatusCode) -> Response {
    let (reason, message) = match status {
        StatusCode::CONFLICT => (
            "Conflict",
            "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected)",
        ),
        StatusCode::TOO_MANY_REQUESTS => ("TooManyRequests", "too many requests (injected)"),
        _ => (
            "InternalError",
            "an error on the server has prevented the request from succeeding (injected)",
        ),
    };
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": status.as_u16()});
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert("retry-after", http::HeaderValue::from_static("1"));
    }
    response
}

/// The same response, whose body ends after `after` as if the connection had dropped.
fn cut_after(response: Response, after: Duration) -> Response {
    let (parts, body) = response.into_parts();
    let deadline = tokio::time::sleep(after);
    let stream = body.into_data_stream().take_until(deadline);
    Response::from_parts(parts, Body::from_stream(stream))
}
