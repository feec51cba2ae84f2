//! The traffic generator behind `dice-traffic`: simulated users rolling dice against a
//! dice-server until a duration or request budget is spent or the run is stopped. Failures of
//! any kind are counted, never fatal.

pub mod plan;
pub mod report;

use crate::dice::Die;
use plan::{Limits, Mix};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use report::{Outcome, Tally};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct Traffic {
    /// Base URL of dice-server, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub users: u32,
    pub limits: Limits,
    /// Requests per second over all users; unlimited when `None`.
    pub rate: Option<f64>,
    pub mix: Mix,
    pub request_timeout: Duration,
}

/// The shared, growing result of a run.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<Mutex<Tally>>);

impl Progress {
    pub fn snapshot(&self) -> Tally {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, die: Die, outcome: Outcome, latency: Duration) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(die, outcome, latency);
    }
}

/// Runs until the limits are reached or `stop` resolves (e.g. Ctrl-C); returns what was seen
/// and how long it took. `progress` is readable while it runs.
pub async fn run(
    traffic: &Traffic,
    progress: &Progress,
    stop: impl Future<Output = ()>,
) -> Result<(Tally, Duration), reqwest::Error> {
    let client = reqwest::Client::builder()
        .timeout(traffic.request_timeout)
        .pool_max_idle_per_host(traffic.users as usize)
        .build()?;
    let started = Instant::now();
    let deadline = traffic.limits.duration.map(|d| started + d);
    let issued = Arc::new(AtomicU64::new(0));
    let (stopping, stopped) = watch::channel(false);
    let interval = plan::per_user_interval(traffic.rate, traffic.users);
    let mut users = tokio::task::JoinSet::new();
    for user in 0..traffic.users.max(1) {
        let user_loop = User {
            id: user,
            client: client.clone(),
            traffic: traffic.clone(),
            progress: progress.clone(),
            issued: issued.clone(),
            deadline,
            interval,
            stopped: stopped.clone(),
        };
        users.spawn(user_loop.run());
    }
    let all_done = async { while users.join_next().await.is_some() {} };
    tokio::select! {
        () = all_done => {}
        () = stop => {
            let _ = stopping.send(true);
            // Users finish the request in flight (bounded by the request timeout).
            while users.join_next().await.is_some() {}
        }
    }
    Ok((progress.snapshot(), started.elapsed()))
}

struct User {
    id: u32,
    client: reqwest::Client,
    traffic: Traffic,
    progress: Progress,
    issued: Arc<AtomicU64>,
    deadline: Option<Instant>,
    interval: Option<Duration>,
    stopped: watch::Receiver<bool>,
}

impl User {
    async fn run(mut self) {
        let mut rng = SmallRng::seed_from_u64(u64::from(self.id) ^ 0x5eed);
        let mut next = Instant::now();
        loop {
            if *self.stopped.borrow() || self.deadline.is_some_and(|d| Instant::now() >= d) {
                return;
            }
            let number = self.issued.fetch_add(1, Ordering::Relaxed);
            if self
                .traffic
                .limits
                .requests
                .is_some_and(|limit| number >= limit)
            {
                return;
            }
            let die = self.traffic.mix.pick(&mut rng);
            let sent = Instant::now();
            let outcome = self.roll(die).await;
            self.progress.record(die, outcome, sent.elapsed());
            match outcome {
                Outcome::Rolled(value) => {
                    tracing::debug!("user {} rolled {value} ({die})", self.id)
                }
                Outcome::Status(code) => {
                    tracing::debug!("user {} got HTTP {code} ({die})", self.id)
                }
                Outcome::ConnectionFailed => tracing::debug!("user {} could not connect", self.id),
            }
            if let Some(interval) = self.interval {
                next += interval;
                tokio::select! {
                    () = tokio::time::sleep_until(next.into()) => {}
                    _ = self.stopped.changed() => return,
                }
            }
        }
    }

    async fn roll(&self, die: Die) -> Outcome {
        let url = format!("{}/roll?die={die}", self.traffic.url.trim_end_matches('/'));
        let response = match self.client.get(url).send().await {
            Ok(response) => response,
            Err(_) => return Outcome::ConnectionFailed,
        };
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Outcome::Status(status);
        }
        match response.json::<serde_json::Value>().await {
            Ok(body) => body["roll"]
                .as_u64()
                .and_then(|v| u8::try_from(v).ok())
                .map_or(Outcome::Status(status), Outcome::Rolled),
            Err(_) => Outcome::ConnectionFailed,
        }
    }
}
