//! `GET /api/v1/history`: parses the query ([`crate::history::query`]) and answers from the
//! store; a database that does not answer is a 503 whose body never carries its own words.

use crate::error::AppError;
use crate::history::query::{ROW_BUDGET, body, parse};
use crate::history::{Clock, History, SystemClock};
use crate::state::AppState;
use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::Value;

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
        .downsample(
            range.metric,
            (range.from_ms, range.to_ms),
            range.step_ms,
            ROW_BUDGET + 1,
        )
        .await
        .map_err(|error| {
            // The database's own words stay in the log: they can carry parts of its URL.
            tracing::warn!(%error, writer = history.problem().as_deref(), "history query failed");
            AppError::HistoryUnavailable(
                "the history database did not answer; the server log says why".into(),
            )
        })?;
    Ok(Json(body(&range, &buckets)))
}
