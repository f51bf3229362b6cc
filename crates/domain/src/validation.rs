//! One validation error type for every rule in the domain.

use serde::Serialize;

/// A rule that input broke: which field (or line, or feature) and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// Dotted path of the offending field, e.g. `features[3].properties.adcode`.
    pub field: String,
    /// What is wrong and how to fix it, in one sentence.
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error, with `prefix` put in front of the field path.
    pub fn at(mut self, prefix: impl AsRef<str>) -> Self {
        let prefix = prefix.as_ref();
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else if self.field.starts_with('[') {
            format!("{prefix}{}", self.field)
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

/// Several broken rules at once, so a user can fix a whole file in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{} problem(s), first: {}", .problems.len(), .problems.first().map(|p| p.to_string()).unwrap_or_default())]
pub struct ValidationError {
    pub problems: Vec<Invalid>,
}

impl From<Invalid> for ValidationError {
    fn from(value: Invalid) -> Self {
        Self {
            problems: vec![value],
        }
    }
}

impl ValidationError {
    /// At most this many problems are collected before validation stops.
    pub const LIMIT: usize = 100;

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn push(&mut self, problem: Invalid) {
        if self.problems.len() < Self::LIMIT {
            self.problems.push(problem);
        }
    }

    /// `Ok(())` when nothing was collected.
    pub fn into_result(self) -> Result<(), ValidationError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_field_paths() {
        let e = Invalid::new("adcode", "must be 6 digits").at("features[2].properties");
        assert_eq!(e.field, "features[2].properties.adcode");
        let e = Invalid::new("[2]", "bad").at("features");
        assert_eq!(e.field, "features[2]");
    }
}
