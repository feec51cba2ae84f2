//! Load shedding: at most `--max-concurrent-requests` requests run at once; the next one is
//! answered 503 at once instead of queueing, so accepted requests keep their latency and memory
//! stays bounded however much traffic arrives.

use crate::error::AppError;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Routes never shed: probes must keep answering under load (a failing liveness probe would
/// restart a pod that is merely busy) and Prometheus must keep seeing the overload.
const NEVER_SHED: [&str; 3] = ["/livez", "/readyz", "/metrics"];

#[derive(Debug, Clone)]
pub struct Admission {
    permits: Arc<Semaphore>,
    limit: usize,
}

/// Held while a request runs; dropping it lets the next request in.
#[derive(Debug)]
pub struct Admitted {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Admission {
    pub fn new(limit: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Admits a request for `route` (a route template), or refuses it with `Overloaded`.
    pub fn admit(&self, route: &str) -> Result<Admitted, AppError> {
        if NEVER_SHED.contains(&route) {
            return Ok(Admitted { _permit: None });
        }
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Ok(Admitted {
                _permit: Some(permit),
            }),
            Err(_) => Err(AppError::Overloaded(self.limit)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_over_the_limit_is_refused_until_one_finishes() {
        let admission = Admission::new(2);
        let first = admission.admit("/roll");
        let second = admission.admit("/roll");
        assert!(first.is_ok() && second.is_ok());
        let third = admission.admit("/roll");
        assert!(matches!(third, Err(AppError::Overloaded(2))), "{third:?}");
        drop(first);
        assert!(admission.admit("/roll").is_ok());
    }

    #[test]
    fn probes_and_metrics_are_admitted_when_full() {
        let admission = Admission::new(1);
        let _busy = admission.admit("/roll");
        for route in NEVER_SHED {
            assert!(admission.admit(route).is_ok(), "{route} was shed");
        }
        assert!(admission.admit("/health").is_err());
    }
}
