//! `/roll` and the legacy `/rolldice`: validate, wait the random delay, roll, record.

use crate::dice::{self, Die, RollOutcome, UnknownDie};
use crate::error::AppError;
use crate::state::AppState;
use crate::telemetry::RequestSpan;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
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
    query: Result<Query<RollQuery>, QueryRejection>,
) -> Result<Json<RollResponse>, AppError> {
    let Query(query) = query.map_err(|rejection| AppError::BadQuery(rejection.body_text()))?;
    let die: Die = query
        .die
        .ok_or(AppError::MissingDie)?
        .parse()
        .map_err(|UnknownDie(name)| AppError::UnknownDie(name))?;
    let roll = perform_roll(&state, span.map(|Extension(s)| s), die).await?;
    Ok(Json(RollResponse {
        roll,
        die: die.as_str(),
    }))
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
