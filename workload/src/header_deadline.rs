//! The header read deadline with one timer per connection: a connection that neither starts a
//! request, nor has one running, nor writes anything for a whole period is closed.
//!
//! hyper's own `header_read_timeout` arms a timer for every request (a boxed sleep, a clock
//! read, a timer-wheel insert and removal: about 1% of a roll's CPU under load). Here a request
//! costs two atomic increments; the connection's single timer fires once per period and is
//! re-armed only then. The price is precision: a silent or slow ("slowloris") connection is
//! closed between one and two periods after its last activity, not after exactly one.

use hyper::service::Service;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What one connection has done; shared by its service, its stream and its deadline.
#[derive(Debug, Default)]
pub struct Activity {
    requests: AtomicU64,
    finished: AtomicU64,
    writes: AtomicU64,
}

/// A reading of [`Activity`] at one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    requests: u64,
    finished: u64,
    writes: u64,
}

impl Activity {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            requests: self.requests.load(Ordering::Relaxed),
            finished: self.finished.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }

    /// Whether no request is running: the connection is idle or still reading headers.
    pub fn between_requests(&self) -> bool {
        let now = self.snapshot();
        now.requests == now.finished
    }

    /// Whether a request was ever started on the connection.
    pub fn served_any(&self) -> bool {
        self.requests.load(Ordering::Relaxed) > 0
    }

    /// Resolves once a whole `period` passed with no request started, none running and nothing
    /// written: the client has been silent, or sending headers too slowly, for that long.
    pub async fn idle_for(&self, period: Duration) {
        let mut last = self.snapshot();
        loop {
            tokio::time::sleep(period).await;
            let now = self.snapshot();
            if stalled(last, now) {
                return;
            }
            last = now;
        }
    }
}

fn stalled(last: Snapshot, now: Snapshot) -> bool {
    let running = now.requests != now.finished;
    !running && now == last
}

/// The connection's service: counts requests in and out.
#[derive(Debug, Clone)]
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S, R> Service<R> for Watched<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Running<S::Future>;

    fn call(&self, request: R) -> Self::Future {
        self.activity.requests.fetch_add(1, Ordering::Relaxed);
        Running {
            inner: self.inner.call(request),
            finished: Finished(self.activity.clone()),
        }
    }
}

/// Counts the request as finished when dropped, answered or not.
#[derive(Debug)]
struct Finished(Arc<Activity>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// A request's future while it runs.
    pub struct Running<F> {
        #[pin]
        inner: F,
        finished: Finished,
    }
}

impl<F: Future> Future for Running<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

/// The connection's stream: counts writes, so a long response to a slow reader is activity.
#[derive(Debug)]
pub struct WatchedStream<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> WatchedStream<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }

    fn wrote(&self, result: &Poll<std::io::Result<usize>>) {
        if matches!(result, Poll::Ready(Ok(n)) if *n > 0) {
            self.activity.writes.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedStream<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedStream<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(&result);
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Snapshot = Snapshot {
        requests: 3,
        finished: 3,
        writes: 9,
    };

    #[test]
    fn only_a_whole_quiet_period_without_a_running_request_is_a_stall() {
        assert!(stalled(QUIET, QUIET));
        let started = Snapshot {
            requests: 4,
            ..QUIET
        };
        assert!(!stalled(QUIET, started), "a request started in the period");
        assert!(!stalled(started, started), "a request is still running");
        let written = Snapshot {
            writes: 10,
            ..QUIET
        };
        assert!(
            !stalled(QUIET, written),
            "a response was still being written"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_idle_after_one_to_two_periods() {
        let activity = Activity::default();
        let began = tokio::time::Instant::now();
        activity.idle_for(Duration::from_secs(10)).await;
        let waited = began.elapsed();
        assert!(waited >= Duration::from_secs(10) && waited <= Duration::from_secs(20));
    }

    /// A service whose answer is ready at once.
    struct Answer;

    impl Service<()> for Answer {
        type Response = ();
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<(), Self::Error>>;

        fn call(&self, (): ()) -> Self::Future {
            std::future::ready(Ok(()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_running_request_keeps_the_connection() {
        let activity = Arc::new(Activity::default());
        let service = Watched::new(Answer, activity.clone());
        let running = service.call(());
        let idle = activity.idle_for(Duration::from_secs(1));
        tokio::pin!(idle);
        let within = tokio::time::timeout(Duration::from_secs(30), &mut idle).await;
        assert!(within.is_err(), "closed while a request was running");
        drop(running);
        let after = tokio::time::timeout(Duration::from_secs(3), idle).await;
        assert!(after.is_ok(), "not closed once the request finished");
    }
}
