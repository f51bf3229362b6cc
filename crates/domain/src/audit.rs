//! The audit log: every write, who did it, when, from where.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who did a write and from where; filled by the api or the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// `None` for the system itself (first start, CLI run as the operator).
    pub user_id: Option<i64>,
    /// Username, or `system` / `cli:<os user>`.
    pub name: String,
    /// Client address, or `cli`.
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn system(name: impl Into<String>) -> Self {
        Self {
            user_id: None,
            name: name.into(),
            ip: None,
            request_id: None,
        }
    }
}

/// One write, to be recorded in the same transaction as the write itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub actor: Actor,
    /// Verb in dotted form, e.g. `area.import`, `user.create`, `token.revoke`.
    pub action: String,
    /// Kind of thing written, e.g. `area`, `user`.
    pub target_kind: String,
    /// Its id or code, or a summary for bulk writes.
    pub target: String,
    /// Extra facts (counts, changed fields); never secrets.
    pub details: serde_json::Value,
}

impl AuditEvent {
    pub fn new(actor: &Actor, action: &str, target_kind: &str, target: impl Into<String>) -> Self {
        Self {
            actor: actor.clone(),
            action: action.to_string(),
            target_kind: target_kind.to_string(),
            target: target.into(),
            details: serde_json::Value::Null,
        }
    }

    pub fn with(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub user_id: Option<i64>,
    pub actor: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub action: String,
    pub target_kind: String,
    pub target: String,
    pub details: serde_json::Value,
}
