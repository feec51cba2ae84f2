//! API errors, answered as Kubernetes `Status` objects with the matching HTTP code and reason.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("{kind} {name:?} not found")]
    NotFound { kind: String, name: String },
    #[error("{kind} {name:?} already exists")]
    AlreadyExists { kind: String, name: String },
    #[error(
        "Operation cannot be fulfilled on {kind} {name:?}: the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict { kind: String, name: String },
    #[error("{0}")]
    BadRequest(String),
    /// Several causes are bracketed in the message, as Kubernetes' `NewInvalid` writes them.
    #[error("{kind} {name:?} is invalid: {}", match causes.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    })]
    Invalid {
        kind: String,
        name: String,
        causes: Vec<String>,
    },
    #[error("the server could not find the requested resource")]
    UnknownResource,
    #[error("too old resource version: {requested} ({oldest})")]
    Gone { requested: u64, oldest: u64 },
    #[error("{0} is not supported here")]
    MethodNotAllowed(String),
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    /// A server-side apply would change fields other managers own: `(field, "conflict with
    /// \"manager\"")` per field.
    #[error("Apply failed with {} conflict{}: {}", causes.len(), if causes.len() == 1 { "" } else { "s" },
        causes.iter().map(|(field, message)| format!("{message}: {field}")).collect::<Vec<_>>().join("\n"))]
    ApplyConflict { causes: Vec<(String, String)> },
    /// What a real server answers `500` to, e.g. an apply naming a field the schema lacks
    /// (kubernetes/kubernetes#139253).
    #[error("{0}")]
    Internal(String),
    /// RBAC refused the request; the message names who, what and where, as a real server's.
    #[error("{0}")]
    Forbidden(String),
}

impl ApiError {
    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } | ApiError::UnknownResource => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists { .. }
            | ApiError::Conflict { .. }
            | ApiError::ApplyConflict { .. } => StatusCode::CONFLICT,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::UnknownResource => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::Gone { .. } => "Expired",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::Internal(_) => "InternalError",
        }
    }

    /// The `Status` object a real API server sends for this error.
    pub fn status_body(&self) -> serde_json::Value {
        let mut body = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        match self {
            ApiError::NotFound { kind, name }
            | ApiError::AlreadyExists { kind, name }
            | ApiError::Conflict { kind, name } => {
                body["details"] = json!({"name": name, "kind": kind});
            }
            ApiError::Invalid { kind, name, causes } => {
                // One cause per problem, `field: message`, which kubectl lists line by line.
                let causes: Vec<_> = causes
                    .iter()
                    .map(|cause| {
                        let (field, message) = cause.split_once(": ").unwrap_or(("", cause));
                        json!({"reason": cause_reason(message), "field": field, "message": message})
                    })
                    .collect();
                // `ListOptions.meta.k8s.io`: the details name the kind and group apart.
                body["details"] = match kind.split_once('.') {
                    Some((kind, group)) => {
                        json!({"name": name, "group": group, "kind": kind, "causes": causes})
                    }
                    None => json!({"name": name, "kind": kind, "causes": causes}),
                };
            }
            ApiError::ApplyConflict { causes } => {
                let causes: Vec<_> = causes
                    .iter()
                    .map(|(field, message)| {
                        json!({"reason": "FieldManagerConflict", "field": field, "message": message})
                    })
                    .collect();
                body["details"] = json!({"causes": causes});
            }
            _ => {}
        }
        body
    }
}

/// The `StatusCause` reason of a `field.Error`, from the words its message starts with
/// (`Forbidden: …` is `FieldValueForbidden`, as `field.ErrorType` names them).
fn cause_reason(message: &str) -> &'static str {
    const REASONS: [(&str, &str); 7] = [
        ("Forbidden", "FieldValueForbidden"),
        ("Unsupported value", "FieldValueNotSupported"),
        ("Required value", "FieldValueRequired"),
        ("Duplicate value", "FieldValueDuplicate"),
        ("Too long", "FieldValueTooLong"),
        ("Too many", "FieldValueTooMany"),
        ("Not found", "FieldValueNotFound"),
    ];
    REASONS
        .iter()
        .find(|(words, _)| message.starts_with(words))
        .map_or("FieldValueInvalid", |(_, reason)| reason)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.code(), Json(self.status_body())).into_response()
    }
}
