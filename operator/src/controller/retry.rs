//! Per-DiceService retry backoff after failed reconciles: 1 s, 2 s, 4 s … up to 5 minutes.
//!
//! The delay grows only when a retry the backoff itself scheduled fails again. A burst of
//! child watch events right after creation triggers several reconciles within milliseconds;
//! had each failure among them doubled the delay, one unlucky second of API errors would park
//! a DiceService for minutes although it had been retried only once.

use crate::object_key::ObjectKey;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const BACKOFF_START: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy)]
struct Failing {
    /// How many times the delay has doubled, plus one.
    level: u32,
    /// When the retry last scheduled is due.
    retry_at: Instant,
}

/// Failing DiceServices and when each is retried.
#[derive(Debug, Default)]
pub struct Backoffs {
    failing: Mutex<HashMap<ObjectKey, Failing>>,
}

impl Backoffs {
    fn failing(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, Failing>> {
        self.failing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a failed reconcile of `key` at `now`; returns how long to wait before retrying.
    pub fn failed(&self, key: &ObjectKey, now: Instant) -> Duration {
        let mut failing = self.failing();
        let level = match failing.get(key) {
            // Failed again before its retry was due: a watch event got there first.
            Some(previous) if now < previous.retry_at => previous.level,
            Some(previous) => previous.level.saturating_add(1),
            None => 1,
        };
        let delay = delay_at(level);
        failing.insert(
            key.clone(),
            Failing {
                level,
                retry_at: now + delay,
            },
        );
        delay
    }

    /// A reconcile of `key` succeeded, or the DiceService is gone: start again from 1 s.
    pub fn forget(&self, key: &ObjectKey) {
        self.failing().remove(key);
    }

    /// Keeps only the keys `keep` accepts (a DiceService deleted while failing never succeeds).
    pub fn retain(&self, keep: impl Fn(&ObjectKey) -> bool) {
        self.failing().retain(|key, _| keep(key));
    }

    pub fn len(&self) -> usize {
        self.failing().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn delay_at(level: u32) -> Duration {
    BACKOFF_START
        .saturating_mul(2u32.saturating_pow(level.saturating_sub(1).min(16)))
        .min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failed_retry_doubles_the_delay_up_to_the_cap() {
        let backoffs = Backoffs::default();
        let mut now = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..11 {
            let delay = backoffs.failed(&ObjectKey::new("ns", "a"), now);
            delays.push(delay.as_secs());
            now += delay;
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    }

    #[test]
    fn failures_before_the_retry_is_due_do_not_raise_the_delay() {
        let backoffs = Backoffs::default();
        let start = Instant::now();
        assert_eq!(
            backoffs.failed(&ObjectKey::new("ns", "a"), start),
            BACKOFF_START
        );
        for ms in [5, 20, 400] {
            let delay = backoffs.failed(
                &ObjectKey::new("ns", "a"),
                start + Duration::from_millis(ms),
            );
            assert_eq!(delay, BACKOFF_START, "a failure {ms} ms later");
        }
        // The retry itself (due 1 s after the last failure, at 1.4 s) fails: now 2 s.
        let delay = backoffs.failed(
            &ObjectKey::new("ns", "a"),
            start + Duration::from_millis(1400),
        );
        assert_eq!(delay, Duration::from_secs(2));
    }

    #[test]
    fn success_and_pruning_forget() {
        let backoffs = Backoffs::default();
        let now = Instant::now();
        backoffs.failed(&ObjectKey::new("ns", "a"), now);
        backoffs.failed(&ObjectKey::new("ns", "a"), now + Duration::from_secs(1));
        backoffs.failed(&ObjectKey::new("ns", "b"), now);
        backoffs.forget(&ObjectKey::new("ns", "a"));
        assert_eq!(
            backoffs.failed(&ObjectKey::new("ns", "a"), now + Duration::from_secs(9)),
            BACKOFF_START
        );
        backoffs.retain(|key| key != &ObjectKey::new("ns", "b"));
        assert_eq!(backoffs.len(), 1);
        backoffs.forget(&ObjectKey::new("ns", "a"));
        assert!(backoffs.is_empty());
    }
}
