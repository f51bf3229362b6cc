//! What can go wrong in the case loop, in terms the API maps to a status code.

use chengyun_domain::case::workflow::Refusal;
use chengyun_domain::{Invalid, ValidationError};
use chengyun_store::StoreError;

/// Errors of [`super::CaseService`].
///
/// | variant | HTTP |
/// |---|---|
/// | `Invalid` | 400/422 — bad input, each problem names the field and the rule |
/// | `NotFound` | 404 |
/// | `Refused` | 409 — the workflow refused the action; carries the state and allowed actions |
/// | `Conflict` | 409 — concurrent change, reused idempotency key, duplicate external id |
/// | `TooLarge` | 413 — an attachment over the size limit |
/// | `Store` | 500/503 — the database failed |
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Refused(Box<Refusal>),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<Invalid> for CaseError {
    fn from(value: Invalid) -> Self {
        CaseError::Invalid(value.into())
    }
}

impl From<Refusal> for CaseError {
    fn from(value: Refusal) -> Self {
        CaseError::Refused(Box::new(value))
    }
}

impl From<StoreError> for CaseError {
    /// Store errors that are about the request keep their meaning.
    fn from(value: StoreError) -> Self {
        match value {
            StoreError::NotFound(what) => CaseError::NotFound(what),
            StoreError::Conflict(m) => CaseError::Conflict(m),
            StoreError::Invalid(v) => CaseError::Invalid(v),
            other => CaseError::Store(other),
        }
    }
}

impl CaseError {
    /// An `Invalid` naming one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid::new(field, message).into()
    }
}
