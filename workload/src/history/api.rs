//! `GET /api/v1/history?metric=cpu|ram|gpu|temperature|disk&from=&to=&step=`: downsampled
//! series, aggregated in the database. Times are RFC 3339 or relative to now (`-1h`, `now`);
//! `step` is a duration (`30s`, `5m`), raised when the range would give more than 1,000 points.

use super::store::ROLLUP_MS;
use super::{Bucket, History, SystemClock, writer::Clock};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};

pub const METRICS: [&str; 5] = ["cpu", "ram", "gpu", "temperature", "disk"];
const MAX_POINTS: i64 = 1000;
const DEFAULT_POINTS: i64 = 500;

/// A validated query: times in Unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub metric: &'static str,
    pub from_ms: i64,
    pub to_ms: i64,
    pub step_ms: i64,
}

pub fn parse(query: &str, now_ms: i64, min_step: Duration) -> Result<Range, String> {
    let mut metric = None;
    let (mut from, mut to, mut step) = (None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = crate::percent::decode(value, true);
        let slot = match key {
            "metric" => &mut metric,
            "from" => &mut from,
            "to" => &mut to,
            "step" => &mut step,
            other => {
                return Err(format!(
                    "unknown parameter {other:?}; use metric, from, to, step"
                ));
            }
        };
        if slot.replace(value).is_some() {
            return Err(format!("parameter {key:?} is given twice"));
        }
    }
    let valid = METRICS.join(", ");
    let metric = match metric.as_deref() {
        None => return Err(format!("parameter `metric` is required; one of {valid}")),
        Some(name) => METRICS
            .into_iter()
            .find(|m| *m == name)
            .ok_or_else(|| format!("unknown metric {name:?}; one of {valid}"))?,
    };
    let to_ms = match to.as_deref() {
        None => now_ms,
        Some(text) => time("to", text, now_ms)?,
    };
    let from_ms = match from.as_deref() {
        None => to_ms - 3_600_000,
        Some(text) => time("from", text, now_ms)?,
    };
    if from_ms >= to_ms {
        return Err("`from` must be before `to`".into());
    }
    let range = to_ms - from_ms;
    let min_step_ms = i64::try_from(min_step.as_millis()).unwrap_or(1).max(1);
    let asked = match step.as_deref() {
        None => (range / DEFAULT_POINTS).max(min_step_ms),
        Some(text) => millis("step", text)?,
    };
    let step_ms = asked.max((range + MAX_POINTS - 1) / MAX_POINTS).max(1);
    if step_ms < ROLLUP_MS {
        return Ok(Range {
            metric,
            from_ms,
            to_ms,
            step_ms,
        });
    }
    // Long steps read the five-minute rollups: whole periods, aligned to them.
    let periods = ((step_ms + ROLLUP_MS / 2) / ROLLUP_MS)
        .max((range + MAX_POINTS * ROLLUP_MS - 1) / (MAX_POINTS * ROLLUP_MS));
    let from_ms = from_ms - from_ms.rem_euclid(ROLLUP_MS);
    Ok(Range {
        metric,
        from_ms,
        to_ms,
        step_ms: periods.max(1) * ROLLUP_MS,
    })
}

fn time(name: &str, text: &str, now_ms: i64) -> Result<i64, String> {
    if text == "now" {
        return Ok(now_ms);
    }
    if let Some(ago) = text.strip_prefix('-') {
        return Ok(now_ms - millis(name, ago)?);
    }
    let at = humantime::parse_rfc3339_weak(text).map_err(|_| {
        format!(
            "`{name}` {text:?} is neither RFC 3339 (2026-01-02T03:04:05Z) nor relative (-1h, now)"
        )
    })?;
    at.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .map_err(|_| format!("`{name}` {text:?} is before 1970"))
}

fn millis(name: &str, text: &str) -> Result<i64, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|_| format!("`{name}` {text:?} is not a duration like 30s, 5m or 1h"))?;
    let ms = i64::try_from(duration.as_millis())
        .map_err(|_| format!("`{name}` {text:?} is too long"))?;
    if ms <= 0 {
        return Err(format!("`{name}` must be positive"));
    }
    Ok(ms)
}

pub async fn history(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    let history: &History = state.history.get().ok_or_else(|| {
        AppError::HistoryUnavailable("history is not enabled on this server".into())
    })?;
    let range = parse(
        query.as_deref().unwrap_or(""),
        SystemClock.now_ms(),
        history.persist_interval,
    )
    .map_err(AppError::BadQuery)?;
    let buckets = history
        .store
        .downsample(range.metric, range.from_ms, range.to_ms, range.step_ms)
        .await
        .map_err(|error| {
            AppError::HistoryUnavailable(history.problem().unwrap_or_else(|| error.to_string()))
        })?;
    Ok(Json(body(&range, &buckets)))
}

fn body(range: &Range, buckets: &[Bucket]) -> Value {
    let stamp = |ms: i64| {
        let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        humantime::format_rfc3339_millis(at).to_string()
    };
    let mut series: Vec<Value> = Vec::new();
    for bucket in buckets {
        let point = json!({"timestamp": stamp(bucket.start_ms), "avg": bucket.avg, "min": bucket.min, "max": bucket.max});
        match series.last_mut() {
            Some(last) if last["name"] == bucket.series.as_str() => {
                if let Some(points) = last["points"].as_array_mut() {
                    points.push(point);
                }
            }
            _ => series.push(json!({"name": bucket.series, "points": [point]})),
        }
    }
    json!({
        "metric": range.metric,
        "from": stamp(range.from_ms),
        "to": stamp(range.to_ms),
        "step_seconds": range.step_ms as f64 / 1000.0,
        "series": series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn defaults_are_the_last_hour_in_about_500_points() {
        let range =
            parse("metric=cpu", NOW, Duration::from_secs(1)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            range,
            Range {
                metric: "cpu",
                from_ms: NOW - 3_600_000,
                to_ms: NOW,
                step_ms: 7_200
            }
        );
    }

    #[test]
    fn relative_and_rfc3339_times_and_steps_parse() {
        let range = parse(
            "metric=disk&from=-7d&to=2023-11-14T22%3A13%3A20Z&step=5m",
            NOW,
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // Steps of five minutes and more read the rollups: aligned to whole five-minute periods.
        assert_eq!(
            range.from_ms,
            NOW - 7 * 86_400_000 - (NOW - 7 * 86_400_000).rem_euclid(300_000)
        );
        assert_eq!(range.to_ms, NOW);
        // 7 days in 5-minute steps would be 2,016 points: raised to 15 minutes (672 points).
        assert_eq!(range.step_ms, 900_000);
    }

    #[test]
    fn bad_parameters_are_explained() {
        let error = |q: &str| {
            parse(q, NOW, Duration::from_secs(1))
                .err()
                .unwrap_or_default()
        };
        assert!(error("").contains("`metric` is required"));
        assert!(
            error("metric=swap")
                .contains("unknown metric \"swap\"; one of cpu, ram, gpu, temperature, disk")
        );
        assert!(error("metric=cpu&from=yesterday").contains("`from` \"yesterday\""));
        assert!(error("metric=cpu&from=-1h&to=-2h").contains("before"));
        assert!(error("metric=cpu&step=0s").contains("positive"));
        assert!(error("metric=cpu&metric=ram").contains("twice"));
        assert!(error("metric=cpu&limit=5").contains("unknown parameter"));
    }
}
