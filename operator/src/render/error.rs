//! What `render` can fail with: the input cannot be read or parsed, the API server would refuse
//! it, the spec is invalid for the operator, or the output cannot be written.

/// A `render` failure; each names what the user must fix.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Valid for the schema, not for the operator (the status would say `Degraded`).
    #[error(transparent)]
    Invalid(#[from] crate::Error),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("not a DiceService manifest: {0}")]
    Parse(String),
    /// The API server would refuse this DiceService (schema, CEL rules or name).
    #[error("{object} would be refused by the API server:\n  {}", problems.join("\n  "))]
    Refused {
        object: String,
        problems: Vec<String>,
    },
    #[error("cannot serialize {0}")]
    Serialize(String),
}

impl RenderError {
    /// Low-cardinality name of the error kind, for log fields.
    pub fn category(&self) -> &'static str {
        match self {
            RenderError::Invalid(error) => error.category(),
            RenderError::Read { .. } => "read",
            RenderError::Write { .. } => "write",
            RenderError::Parse(_) => "parse",
            RenderError::Refused { .. } => "refused",
            RenderError::Serialize(_) => "serialize",
        }
    }
}

pub type Result<T, E = RenderError> = std::result::Result<T, E>;
