use chengyun_domain::{Invalid, ValidationError};

/// What can go wrong in storage, in terms the api can map to a status code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row to change does not exist (e.g. `user 42`).
    #[error("{0} not found")]
    NotFound(String),
    /// A unique key is taken (e.g. `username "admin" is taken`).
    #[error("{0}")]
    Conflict(String),
    /// The data breaks a rule that needs the database to check (a parent that
    /// does not exist, a reference to an unknown department).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The database cannot be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the database said.
    #[error("database error: {0}")]
    Database(String),
}

impl From<Invalid> for StoreError {
    fn from(value: Invalid) -> Self {
        StoreError::Invalid(value.into())
    }
}
