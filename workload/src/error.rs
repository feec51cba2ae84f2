//! Every HTTP error the server returns, as one JSON shape: `{"error": message, "code": category}`.

use crate::dice::Die;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("query parameter `die` is required; valid values: fair, risky")]
    MissingDie,
    #[error("unknown die {0:?}; valid values: fair, risky")]
    UnknownDie(String),
    #[error("invalid query string: {0}")]
    BadQuery(String),
    #[error("the {0} die failed to roll")]
    RollFailed(Die),
    #[error("no route for {0}")]
    NotFound(String),
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    #[error("request body of {0} bytes exceeds the limit of {1} bytes")]
    PayloadTooLarge(u64, u64),
    #[error("request URI of {0} bytes exceeds the limit of {1} bytes")]
    UriTooLong(usize, usize),
    #[error("request headers of {0} bytes exceed the limit of {1} bytes")]
    HeadersTooLarge(usize, usize),
    #[error("request did not complete within {0:?}")]
    Timeout(std::time::Duration),
    #[error("overloaded: {0} requests are already running; retry shortly")]
    Overloaded(usize),
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("no system sample yet; the first one is taken about 200 ms after start")]
    NoSampleYet,
    #[error("history unavailable: {0}")]
    HistoryUnavailable(String),
    #[error("{0}: /ws is a WebSocket; connect with a WebSocket client (the live page at /ui does)")]
    NotAWebSocket(String),
    #[error("{0} live-page WebSockets are already open; retry later")]
    TooManyWebSockets(usize),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// Low-cardinality name of the error kind: the `code` field of the body.
    pub fn category(&self) -> &'static str {
        match self {
            AppError::MissingDie | AppError::UnknownDie(_) => "invalid_die",
            AppError::BadQuery(_) => "bad_request",
            AppError::RollFailed(_) => "roll_failed",
            AppError::NotFound(_) => "not_found",
            AppError::MethodNotAllowed(_) => "method_not_allowed",
            AppError::PayloadTooLarge(..) => "payload_too_large",
            AppError::UriTooLong(..) => "uri_too_long",
            AppError::HeadersTooLarge(..) => "headers_too_large",
            AppError::Timeout(_) => "timeout",
            AppError::Overloaded(_) => "overloaded",
            AppError::ShuttingDown => "shutting_down",
            AppError::NoSampleYet => "no_sample_yet",
            AppError::HistoryUnavailable(_) => "history_unavailable",
            AppError::NotAWebSocket(_) => "websocket_required",
            AppError::TooManyWebSockets(_) => "too_many_websockets",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::MissingDie
            | AppError::UnknownDie(_)
            | AppError::BadQuery(_)
            | AppError::NotAWebSocket(_) => StatusCode::BAD_REQUEST,
            AppError::RollFailed(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::PayloadTooLarge(..) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UriTooLong(..) => StatusCode::URI_TOO_LONG,
            AppError::HeadersTooLarge(..) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            AppError::Timeout(_)
            | AppError::Overloaded(_)
            | AppError::ShuttingDown
            | AppError::NoSampleYet
            | AppError::TooManyWebSockets(_)
            | AppError::HistoryUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_values: Option<[&'static str; 2]>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let valid_values = matches!(self, AppError::MissingDie | AppError::UnknownDie(_))
            .then_some(Die::VALID_NAMES);
        let body = ErrorBody {
            error: self.to_string(),
            code: self.category(),
            valid_values,
        };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, AppError::Overloaded(_)) {
            // Well-behaved clients back off instead of retrying at once.
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}
