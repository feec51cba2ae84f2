//! The history query language of `GET /api/v1/history?metric=cpu|ram|gpu|temperature|disk&from=&to=&step=`
//! and its JSON answer: downsampled series, aggregated in the database. Times are RFC 3339 or
//! relative to now (`-1h`, `now`); `step` is a duration (`30s`, `5m`), raised when the range
//! would give more than 1,000 points. The handler is `routes::history`.

use super::Bucket;
use super::store::ROLLUP_MS;
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};

pub const METRICS: [&str; 5] = ["cpu", "ram", "gpu", "temperature", "disk"];
/// Points per series at most: the step is raised until the range fits.
pub const MAX_POINTS: i64 = 1000;
const DEFAULT_POINTS: i64 = 500;
/// The longest range one query may span (ten years): far beyond any retention, and small
/// enough that no range, step or bucket arithmetic can overflow.
pub const MAX_RANGE_MS: i64 = 10 * 366 * 86_400_000;
/// Rows one query may read (series × points): a sampler has a bounded number of disks,
/// sensors and GPUs, so this is never reached by honest data; past it the answer says
/// `"truncated": true` rather than growing without bound.
pub const ROW_BUDGET: i64 = 32 * MAX_POINTS;

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
        let value = crate::percent_decoding::decode(value, true);
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
    // Both ends are within 1970..=9999 (see `time`), so the difference cannot overflow.
    let range = to_ms - from_ms;
    if range > MAX_RANGE_MS {
        return Err(format!(
            "the range from `from` to `to` may span at most {} days",
            MAX_RANGE_MS / 86_400_000
        ));
    }
    let min_step_ms = i64::try_from(min_step.as_millis()).unwrap_or(1).max(1);
    let asked = match step.as_deref() {
        None => (range / DEFAULT_POINTS).max(min_step_ms),
        Some(text) => millis("step", text)?,
    };
    // A step longer than the range gives one point either way; capping it keeps the rollup
    // arithmetic below within range.
    let step_ms = asked
        .min(range)
        .max((range + MAX_POINTS - 1) / MAX_POINTS)
        .max(1);
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

/// A time in Unix milliseconds between 1970 and the end of year 9999 (RFC 3339's range).
fn time(name: &str, text: &str, now_ms: i64) -> Result<i64, String> {
    const LATEST_MS: i64 = 253_402_300_799_999;
    if text == "now" {
        return Ok(now_ms);
    }
    if let Some(ago) = text.strip_prefix('-') {
        return now_ms
            .checked_sub(millis(name, ago)?)
            .filter(|ms| *ms >= 0)
            .ok_or_else(|| format!("`{name}` {text:?} reaches before 1970"));
    }
    let at = humantime::parse_rfc3339_weak(text).map_err(|_| {
        format!(
            "`{name}` {text:?} is neither RFC 3339 (2026-01-02T03:04:05Z) nor relative (-1h, now)"
        )
    })?;
    at.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .filter(|ms| *ms <= LATEST_MS)
        .ok_or_else(|| format!("`{name}` {text:?} is before 1970 or after 9999"))
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

/// The JSON answer: one series per name, at most [`ROW_BUDGET`] rows, `"truncated"` past it.
pub fn body(range: &Range, buckets: &[Bucket]) -> Value {
    let truncated = buckets.len() as i64 > ROW_BUDGET;
    let buckets = &buckets[..buckets.len().min(ROW_BUDGET as usize)];
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
        "truncated": truncated,
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

    /// The reproduction from the security review: this overflowed the range arithmetic and
    /// returned every stored row.
    #[test]
    fn a_range_beyond_the_arithmetic_is_refused() {
        let query = "metric=cpu&from=-9223372036854775s&to=2100-01-01T00:00:00Z&step=1ms";
        let error = parse(query, NOW, Duration::from_secs(1))
            .err()
            .unwrap_or_default();
        assert!(error.contains("before 1970"), "{error}");
        let query = "metric=cpu&from=1970-01-01T00:00:00Z&to=9999-12-31T23:59:59Z";
        let error = parse(query, NOW, Duration::from_secs(1))
            .err()
            .unwrap_or_default();
        assert!(error.contains("at most 3660 days"), "{error}");
    }

    #[test]
    fn an_answer_past_the_row_budget_is_cut_and_says_so() {
        let range =
            parse("metric=disk", NOW, Duration::from_secs(1)).unwrap_or_else(|e| panic!("{e}"));
        let bucket = |i: i64| Bucket {
            series: format!("/mnt/{}", i / MAX_POINTS),
            start_ms: range.from_ms + (i % MAX_POINTS) * range.step_ms,
            avg: 1.0,
            min: 1.0,
            max: 1.0,
        };
        let within: Vec<Bucket> = (0..ROW_BUDGET).map(bucket).collect();
        assert_eq!(body(&range, &within)["truncated"], false);
        let over: Vec<Bucket> = (0..=ROW_BUDGET).map(bucket).collect();
        let answer = body(&range, &over);
        assert_eq!(answer["truncated"], true);
        let points: usize = answer["series"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s["points"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(points as i64, ROW_BUDGET);
    }

    /// 2,000 cases from a fixed seed (CI runs the same ones); `PROPTEST_RNG_SEED=<u64>` explores.
    fn config() -> proptest::test_runner::Config {
        use proptest::test_runner::{Config, RngSeed};
        let from_env = Config::default();
        let rng_seed = match from_env.rng_seed {
            RngSeed::Random => RngSeed::Fixed(0xD1CE_0023),
            chosen => chosen,
        };
        Config {
            cases: 2000,
            failure_persistence: None,
            rng_seed,
            ..from_env
        }
    }

    proptest::proptest! {
        #![proptest_config(config())]
        /// Extreme `from`/`to`/`step`: never a panic (debug builds check overflow), and what is
        /// accepted stays within the range limit and the point cap.
        #[test]
        fn any_accepted_range_is_bounded(
            from in extreme_time(),
            to in extreme_time(),
            step in extreme_duration(),
        ) {
            let query = format!("metric=cpu&from={from}&to={to}&step={step}");
            if let Ok(range) = parse(&query, NOW, Duration::from_secs(1)) {
                proptest::prop_assert!(0 <= range.from_ms && range.from_ms < range.to_ms);
                proptest::prop_assert!(range.to_ms - range.from_ms <= MAX_RANGE_MS + ROLLUP_MS);
                proptest::prop_assert!(range.step_ms >= 1);
                let points = (range.to_ms - range.from_ms + range.step_ms - 1) / range.step_ms;
                proptest::prop_assert!(points <= MAX_POINTS + 1, "{query}: {points} points");
            }
        }
    }

    fn extreme_duration() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let amount = prop_oneof![
            Just(0u64),
            Just(1),
            Just(u64::MAX),
            Just(i64::MAX as u64),
            Just(9_223_372_036_854_775),
            Just(18_446_744_073_709_551),
            any::<u64>(),
            0u64..100_000,
        ];
        let unit = prop_oneof![
            Just("ms"),
            Just("s"),
            Just("m"),
            Just("h"),
            Just("d"),
            Just("y")
        ];
        (amount, unit).prop_map(|(amount, unit)| format!("{amount}{unit}"))
    }

    fn extreme_time() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just("now".to_owned()),
            extreme_duration().prop_map(|d| format!("-{d}")),
            (0u32..=9999, 1u32..=12, 1u32..=28)
                .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}T00%3A00%3A00Z")),
        ]
    }
}
