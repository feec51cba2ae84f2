//! Load shedding: at most `--max-concurrent-requests` requests run at once; the next one is
//! answered 503 at once instead of queueing, so accepted requests keep their latency and memory
//! stays bounded however much traffic arrives.

use crate::error::AppError;
use crate::metrics::http::HttpMetrics;
use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Routes never shed: probes must keep answering under load (a failing liveness probe would
/// restart a pod that is merely busy) and Prometheus must keep seeing the overload.
const NEVER_SHED: [&str; 3] = ["/livez", "/readyz", "/metrics"];

#[derive(Debug, Clone)]
pub struct Admission {
    permits: Arc<Semaphore>,
    limit: usize,
    shed: Counter,
}

/// Held while a request runs; dropping it lets the next request in.
#[derive(Debug)]
pub struct Admitted {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Admission {
    /// Publishes `limit` and counts refusals in `metrics`.
    pub fn new(limit: usize, metrics: &HttpMetrics) -> Self {
        metrics
            .concurrency_limit
            .set(i64::try_from(limit).unwrap_or(i64::MAX));
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            shed: metrics.shed.clone(),
        }
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
            Err(_) => {
                self.shed.inc();
                Err(AppError::Overloaded(self.limit))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    fn admission(limit: usize) -> Admission {
        Admission::new(limit, &HttpMetrics::register(&mut Registry::default(), &[]))
    }

    #[test]
    fn the_request_over_the_limit_is_refused_until_one_finishes() {
        let admission = admission(2);
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
        let admission = admission(1);
        let _busy = admission.admit("/roll");
        for route in NEVER_SHED {
            assert!(admission.admit(route).is_ok(), "{route} was shed");
        }
        assert!(admission.admit("/health").is_err());
    }
}
