//! `/roll` and the legacy `/rolldice`: validate, wait the random delay, roll, record.

use crate::dice::{self, Die, RollOutcome, UnknownDie};
use crate::error::AppError;
use crate::state::AppState;
use crate::telemetry::RequestSpan;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::{Extension, Json};
use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Deserialize)]
pub struct RollQuery {
    die: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RollResponse {
    roll: u8,
    die: &'static str,
}

#[derive(Debug, Serialize)]
pub struct LegacyRollResponse {
    roll: u8,
}

pub async fn roll(
    State(state): State<AppState>,
    span: Option<Extension<RequestSpan>>,
    uri: Uri,
) -> Result<Json<RollResponse>, AppError> {
    let die = requested_die(&uri)?;
    let roll = perform_roll(&state, span.map(|Extension(s)| s), die).await?;
    Ok(Json(RollResponse {
        roll,
        die: die.as_str(),
    }))
}

/// The die in `?die=`. The two exact queries every client sends skip the query deserializer
/// (a third of a roll's own cost); anything else goes through it, errors and all.
fn requested_die(uri: &Uri) -> Result<Die, AppError> {
    match uri.query() {
        Some("die=fair") => return Ok(Die::Fair),
        Some("die=risky") => return Ok(Die::Risky),
        _ => {}
    }
    let Query(query): Query<RollQuery> = Query::try_from_uri(uri)
        .map_err(|rejection: QueryRejection| AppError::BadQuery(rejection.body_text()))?;
    query
        .die
        .ok_or(AppError::MissingDie)?
        .parse()
        .map_err(|UnknownDie(name)| AppError::UnknownDie(name))
}

pub async fn roll_legacy(
    State(state): State<AppState>,
    span: Option<Extension<RequestSpan>>,
) -> Result<Json<LegacyRollResponse>, AppError> {
    let roll = perform_roll(&state, span.map(|Extension(s)| s), Die::Fair).await?;
    Ok(Json(LegacyRollResponse { roll }))
}

async fn perform_roll(
    state: &AppState,
    span: Option<RequestSpan>,
    die: Die,
) -> Result<u8, AppError> {
    let settings = &state.settings;
    let started = std::time::Instant::now();
    // The thread-local RNG is not Send, so draw everything before the first await.
    let (delay, outcome) = {
        let mut rng = rand::rng();
        let delay = if settings.max_delay.is_zero() {
            Duration::ZERO
        } else {
            rng.random_range(Duration::ZERO..=settings.max_delay)
        };
        (delay, dice::roll(die, settings.risky_error_rate, &mut rng))
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(RequestSpan(cx)) = span {
        let system = state.samples.latest();
        let value = match outcome {
            RollOutcome::Rolled(v) => i64::from(v),
            RollOutcome::Failed => 0,
        };
        cx.span().set_attributes([
            KeyValue::new("die.type", die.as_str()),
            KeyValue::new("die.result", value),
            KeyValue::new("die.error", outcome == RollOutcome::Failed),
            KeyValue::new("system.cpu.usage_percent", system.cpu.usage_percent),
            KeyValue::new("system.memory.usage_percent", system.memory.usage_percent),
        ]);
    }
    state
        .metrics
        .dice
        .record_duration(die, started.elapsed().as_secs_f64());
    match outcome {
        RollOutcome::Rolled(value) => {
            state.metrics.dice.record_success(die, value);
            tracing::info!(
                die_type = die.as_str(),
                roll_value = u64::from(value),
                "rolled dice"
            );
            Ok(value)
        }
        RollOutcome::Failed => {
            state.metrics.dice.record_failure(die);
            tracing::warn!(die_type = die.as_str(), "dice roll failed");
            Err(AppError::RollFailed(die))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn die(uri: &str) -> Result<Die, String> {
        let uri: Uri = uri.parse().map_err(|e| format!("{e}"))?;
        requested_die(&uri).map_err(|e| e.to_string())
    }

    #[test]
    fn the_exact_queries_and_the_deserialized_ones_agree() {
        assert_eq!(die("/roll?die=fair"), Ok(Die::Fair));
        assert_eq!(die("/roll?die=risky"), Ok(Die::Risky));
        assert_eq!(die("/roll?die=%66air"), Ok(Die::Fair));
        assert_eq!(die("/roll?x=1&die=risky"), Ok(Die::Risky));
        assert!(die("/roll").is_err_and(|e| e.contains("die")));
        assert!(die("/roll?die=loaded").is_err_and(|e| e.contains("loaded")));
        assert!(die("/roll?die=fair&die=risky").is_err_and(|e| e.contains("duplicate")));
    }
}
