//! What a traffic run saw: requests, errors by status, connection failures, latency percentiles
//! and the distribution of rolls per die; printed as text or one JSON object.

use crate::dice::Die;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx with the rolled value.
    Rolled(u8),
    /// Any other HTTP status.
    Status(u16),
    /// No HTTP answer (refused, reset, timed out).
    ConnectionFailed,
}

#[derive(Debug, Clone)]
pub struct Tally {
    pub requests: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub connection_failures: u64,
    /// Rolled values per die.
    pub rolls: BTreeMap<&'static str, BTreeMap<u8, u64>>,
    /// `None` only if the histogram could not be created (never, for 3 significant digits).
    latency_micros: Option<Histogram<u64>>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            requests: 0,
            statuses: BTreeMap::new(),
            connection_failures: 0,
            rolls: BTreeMap::new(),
            // Microseconds at 3 significant digits; grows to fit any value.
            latency_micros: Histogram::new(3).ok(),
        }
    }
}

impl Tally {
    pub fn record(&mut self, die: Die, outcome: Outcome, latency: Duration) {
        self.requests += 1;
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        if let Some(histogram) = &mut self.latency_micros {
            let _ = histogram.record(micros);
        }
        match outcome {
            Outcome::Rolled(value) => {
                *self.statuses.entry(200).or_default() += 1;
                *self
                    .rolls
                    .entry(die.as_str())
                    .or_default()
                    .entry(value)
                    .or_default() += 1;
            }
            Outcome::Status(code) => *self.statuses.entry(code).or_default() += 1,
            Outcome::ConnectionFailed => self.connection_failures += 1,
        }
    }

    /// Requests that did not roll: HTTP errors and connection failures.
    pub fn errors(&self) -> u64 {
        let http: u64 = self
            .statuses
            .iter()
            .filter(|(code, _)| !(200..300).contains(*code))
            .map(|(_, n)| n)
            .sum();
        http + self.connection_failures
    }

    /// Latency at `quantile` (0..=1), over requests that got an HTTP answer or failed.
    pub fn latency(&self, quantile: f64) -> Duration {
        let micros = self
            .latency_micros
            .as_ref()
            .map_or(0, |h| h.value_at_quantile(quantile));
        Duration::from_micros(micros)
    }

    pub fn to_json(&self, elapsed: Duration) -> Value {
        let millis = |q: f64| self.latency(q).as_secs_f64() * 1000.0;
        let rate = self.requests as f64 / elapsed.as_secs_f64().max(1e-9);
        json!({
            "requests": self.requests,
            "elapsed_seconds": elapsed.as_secs_f64(),
            "requests_per_second": rate,
            "errors": self.errors(),
            "connection_failures": self.connection_failures,
            "statuses": self.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "latency_ms": {"p50": millis(0.5), "p95": millis(0.95), "p99": millis(0.99)},
            "rolls": self.rolls.iter().map(|(die, faces)| {
                let faces: serde_json::Map<_, _> = faces.iter().map(|(f, n)| (f.to_string(), json!(n))).collect();
                ((*die).to_owned(), Value::Object(faces))
            }).collect::<serde_json::Map<_, _>>(),
        })
    }

    pub fn to_text(&self, elapsed: Duration) -> String {
        let mut text = format!(
            "{} requests in {:.1}s ({:.1}/s), {} errors ({} connection failures)\n",
            self.requests,
            elapsed.as_secs_f64(),
            self.requests as f64 / elapsed.as_secs_f64().max(1e-9),
            self.errors(),
            self.connection_failures
        );
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        text.push_str(&format!("status codes: {}\n", statuses.join(", ")));
        text.push_str(&format!(
            "latency: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms\n",
            self.latency(0.5).as_secs_f64() * 1000.0,
            self.latency(0.95).as_secs_f64() * 1000.0,
            self.latency(0.99).as_secs_f64() * 1000.0
        ));
        for (die, faces) in &self.rolls {
            let total: u64 = faces.values().sum();
            let shares: Vec<String> = faces
                .iter()
                .map(|(face, n)| {
                    format!(
                        "{face}: {n} ({:.0}%)",
                        *n as f64 * 100.0 / total.max(1) as f64
                    )
                })
                .collect();
            text.push_str(&format!("{die} rolls: {}\n", shares.join(", ")));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_counted_where_a_reader_expects_them() {
        let mut tally = Tally::default();
        tally.record(Die::Fair, Outcome::Rolled(3), Duration::from_millis(2));
        tally.record(Die::Risky, Outcome::Status(500), Duration::from_millis(4));
        tally.record(
            Die::Risky,
            Outcome::ConnectionFailed,
            Duration::from_millis(8),
        );
        assert_eq!(tally.requests, 3);
        assert_eq!(tally.errors(), 2);
        let json = tally.to_json(Duration::from_secs(1));
        assert_eq!(json["statuses"]["500"], 1);
        assert_eq!(json["rolls"]["fair"]["3"], 1);
        assert_eq!(json["connection_failures"], 1);
        let p99 = json["latency_ms"]["p99"].as_f64().unwrap();
        assert!((7.9..8.1).contains(&p99), "{p99}");
        assert!(
            tally
                .to_text(Duration::from_secs(1))
                .contains("fair rolls: 3: 1 (100%)")
        );
    }
}
