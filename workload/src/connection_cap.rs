//! The open connections: a cap on their number and the signal that closes them. At the cap, the
//! oldest connection with no request running (one still sending its first headers, or idle
//! between requests) is closed to make room; only when every connection is running a request is
//! the newcomer refused. At shutdown every connection is told to close after its current
//! response, and the drain waits until all have.
//!
//! Refusing newcomers alone let 1,024 connections that never finished a header keep every
//! well-behaved client out until the header deadline (10–20 s); closing an idle keep-alive
//! connection costs its client nothing but a reconnect.

use crate::header_deadline::Activity;
use crate::metrics::ConnectionMetrics;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How long a newcomer waits for an evicted connection to give its place up.
const EVICTION_WAIT: Duration = Duration::from_millis(100);
/// A connection this young is never evicted: its client may not have sent its request yet (a
/// burst of clients would otherwise reset each other's fresh connections).
const EVICTION_MIN_AGE: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct ConnectionCap {
    places: Arc<Semaphore>,
    /// Every open connection, oldest first (entries of closed ones are dropped lazily).
    open: Mutex<VecDeque<Weak<Tenure>>>,
    limit: usize,
    metrics: ConnectionMetrics,
    draining: tokio::sync::watch::Sender<bool>,
}

/// What the cap knows of one open connection.
#[derive(Debug)]
struct Tenure {
    activity: Arc<Activity>,
    evicted: Notify,
    opened: tokio::time::Instant,
}

/// One connection's place under the cap, held until it closes.
#[derive(Debug)]
pub struct Place {
    tenure: Arc<Tenure>,
    metrics: ConnectionMetrics,
    draining: tokio::sync::watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
}

impl Place {
    /// What the connection's service and stream report into.
    pub fn activity(&self) -> Arc<Activity> {
        self.tenure.activity.clone()
    }

    /// Resolves when the cap closes this connection to make room for a newer one.
    pub async fn evicted(&self) {
        self.tenure.evicted.notified().await;
    }

    /// Resolves when the connection should close: evicted, or the server is draining.
    pub async fn closing(&mut self) {
        tokio::select! {
            () = self.tenure.evicted.notified() => {}
            _ = self.draining.wait_for(|draining| *draining) => {}
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.metrics.open.dec();
    }
}

impl ConnectionCap {
    pub fn new(limit: usize, metrics: ConnectionMetrics) -> Self {
        metrics.limit.set(i64::try_from(limit).unwrap_or(i64::MAX));
        Self {
            places: Arc::new(Semaphore::new(limit)),
            open: Mutex::new(VecDeque::with_capacity(limit)),
            limit,
            metrics,
            draining: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Tells every connection to close after its current response, and waits until all have.
    pub async fn drain(&self) {
        self.draining.send_replace(true);
        let all = u32::try_from(self.limit).unwrap_or(u32::MAX);
        let _ = self.places.acquire_many(all).await;
    }

    /// A place for a new connection, making room if needed; `None`: refuse it.
    pub async fn admit(&self) -> Option<Place> {
        let permit = match self.places.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if !self.evict_one() {
                    self.metrics.refused.inc();
                    return None;
                }
                self.metrics.evicted.inc();
                let freed = self.places.clone().acquire_owned();
                match tokio::time::timeout(EVICTION_WAIT, freed).await {
                    Ok(Ok(permit)) => permit,
                    _ => {
                        self.metrics.refused.inc();
                        return None;
                    }
                }
            }
        };
        let tenure = Arc::new(Tenure {
            activity: Arc::new(Activity::default()),
            evicted: Notify::new(),
            opened: tokio::time::Instant::now(),
        });
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        // Closed connections leave entries behind; sweep when they outnumber the open ones.
        if open.len() >= 2 * self.limit.max(1) {
            open.retain(|entry| entry.strong_count() > 0);
        }
        open.push_back(Arc::downgrade(&tenure));
        drop(open);
        self.metrics.open.inc();
        Some(Place {
            tenure,
            metrics: self.metrics.clone(),
            draining: self.draining.subscribe(),
            _permit: permit,
        })
    }

    /// Tells the oldest open connection with no request running, and at least
    /// [`EVICTION_MIN_AGE`] old, to close; whether there was one.
    fn evict_one(&self) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mut busy = Vec::new();
        let mut evicted = false;
        while let Some(entry) = open.pop_front() {
            let Some(tenure) = entry.upgrade() else {
                continue;
            };
            // Oldest first: every later one is younger still.
            if tenure.opened.elapsed() < EVICTION_MIN_AGE {
                busy.push(entry);
                break;
            }
            if tenure.activity.between_requests() {
                tenure.evicted.notify_one();
                evicted = true;
                break;
            }
            busy.push(entry);
        }
        // Busy connections keep their seniority.
        for entry in busy.into_iter().rev() {
            open.push_front(entry);
        }
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    fn cap(limit: usize) -> ConnectionCap {
        ConnectionCap::new(limit, ConnectionMetrics::register(&mut Registry::default()))
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_oldest_idle_connection_makes_room_once_past_its_first_second() {
        let cap = cap(2);
        let oldest = cap.admit().await.expect("room");
        let newer = cap.admit().await.expect("room");
        assert!(
            cap.admit().await.is_none(),
            "a fresh connection was evicted"
        );
        tokio::time::advance(EVICTION_MIN_AGE).await;
        let evictions = tokio::spawn(async move {
            tokio::select! {
                () = oldest.evicted() => "oldest",
                () = newer.evicted() => "newer",
            }
        });
        tokio::task::yield_now().await;
        let admitted = cap.admit().await;
        assert!(admitted.is_some(), "no room made");
        assert_eq!(evictions.await.expect("task"), "oldest");
        assert_eq!(cap.metrics.evicted.get(), 1);
        assert_eq!(cap.metrics.refused.get(), 1);
        assert_eq!(cap.metrics.open.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn when_every_connection_runs_a_request_the_newcomer_is_refused() {
        let cap = cap(1);
        let busy = cap.admit().await.expect("room");
        tokio::time::advance(EVICTION_MIN_AGE).await;
        let service = crate::header_deadline::Watched::new(Immediate, busy.activity());
        let running = hyper::service::Service::call(&service, ());
        assert!(cap.admit().await.is_none());
        assert_eq!(cap.metrics.refused.get(), 1);
        drop(running);
        // Idle now: it gives its place up.
        let waiting = tokio::spawn(async move { busy.evicted().await });
        tokio::task::yield_now().await;
        let admitted = cap.admit().await;
        assert!(admitted.is_some());
        waiting.await.expect("evicted");
    }

    struct Immediate;

    impl hyper::service::Service<()> for Immediate {
        type Response = ();
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<(), Self::Error>>;

        fn call(&self, (): ()) -> Self::Future {
            std::future::ready(Ok(()))
        }
    }
}
