//! One storage interface for chengyun, with two implementations: SQLite (the
//! embedded default, one file in the data dir, WAL) and PostgreSQL (a city's
//! server). Both run the same conformance suite (`tests/conformance.rs`).
//!
//! Every write method takes the [`AuditEvent`] that describes it and stores it in
//! the same transaction: a write and its audit record land together or not at all.
//! Batch writes (imports) are one transaction each: a bad row rolls back the batch.

use async_trait::async_trait;
use chengyun_domain::audit::{AuditEvent, AuditRecord};
use chengyun_domain::auth::{ApiToken, NewUser, User};
use chengyun_domain::city::{
    Area, Department, DepartmentKind, ResponsibilityGrid, Staff, Tier, UnitGrid,
};
use chengyun_domain::codes::{AreaLevel, DivisionCode, GridCode};
use chengyun_domain::component::{Component, ComponentId, ComponentStatus};
use chengyun_domain::page::{Page, PageRequest};
use chengyun_domain::standard::StandardClass;
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub mod case;
mod case_rows;
mod case_shared;
mod error;
pub mod iot;
mod iot_rows;
mod iot_shared;
mod postgres;
mod rows;
mod shared;
mod sql;
mod sqlite;
pub use case::{
    AttachmentMeta, CaseChanges, CaseClock, CaseData, CaseQuery, CaseRecord, CaseSave, CaseStore,
    DispatchRule, FlowRecord, IdempotencyKey, IdempotencyRecord, NewCaseWrite, NewFlowRecord,
    NewStatRow, Reporter, StatGroup, StatQuery, StatTotal, Webhook, WebhookDelivery,
};
pub use error::StoreError;
pub use iot::{
    AlarmQuery, CommandRecord, CommandStatus, DeviceQuery, IotStore, LatestState, NewCommand,
    StoredAlarm, StoredGrant, StoredRuleSet, TelemetryBucket,
};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Filter for area lists.
#[derive(Debug, Clone, Default)]
pub struct AreaQuery {
    /// Only the children of this area.
    pub parent: Option<DivisionCode>,
    pub level: Option<AreaLevel>,
    /// Only areas whose code starts with this prefix (the caller's scope).
    pub within: Option<String>,
}

/// Filter for unit grid lists.
#[derive(Debug, Clone, Default)]
pub struct GridQuery {
    /// Only grids whose area code starts with this prefix.
    pub within: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DepartmentQuery {
    /// Only departments whose area code starts with this prefix.
    pub within: Option<String>,
    pub tier: Option<Tier>,
    pub kind: Option<DepartmentKind>,
    pub parent_code: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct StaffQuery {
    pub department_code: Option<String>,
    /// Only staff of departments whose area code starts with this prefix.
    pub within: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ComponentQuery {
    pub class_code: Option<String>,
    pub status: Option<ComponentStatus>,
    pub grid_code: Option<String>,
    /// Only components whose id starts with this division prefix.
    pub within: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub user_id: Option<i64>,
    /// Only actions that start with this text, e.g. `user.`.
    pub action_prefix: Option<String>,
    pub target_kind: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// A new API token, before it is stored. The secret itself is never stored.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub user_id: i64,
    pub name: String,
    /// First characters of the secret, shown in lists.
    pub prefix: String,
    /// SHA-256 of the secret, hex.
    pub hash: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The storage interface. Lists are cursor-paginated by a stable key: codes for
/// the city model, ids for users, descending ids for the audit log.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Applies pending migrations; safe to call on every start.
    async fn migrate(&self) -> Result<()>;
    /// Answers when the database answers a trivial query.
    async fn ping(&self) -> Result<()>;

    // ── areas ──────────────────────────────────────────────────────────────
    /// Inserts or replaces areas by code. A parent code must name an area in
    /// the batch or already stored, else the whole batch fails.
    async fn upsert_areas(&self, areas: &[Area], audit: &AuditEvent) -> Result<u64>;
    async fn area(&self, code: &DivisionCode) -> Result<Option<Area>>;
    async fn list_areas(&self, q: &AreaQuery, page: &PageRequest) -> Result<Page<Area>>;
    /// Every area with its boundary, for building the spatial index.
    async fn all_areas(&self) -> Result<Vec<Area>>;

    // ── unit and responsibility grids ──────────────────────────────────────
    /// Inserts or replaces grids by code. Each grid's area must be stored.
    async fn upsert_grids(&self, grids: &[UnitGrid], audit: &AuditEvent) -> Result<u64>;
    /// Deletes every grid whose area lies within `area`, then inserts `grids`,
    /// in one transaction (what `grid generate` does on a re-run).
    async fn replace_grids(
        &self,
        area: &DivisionCode,
        grids: &[UnitGrid],
        audit: &AuditEvent,
    ) -> Result<u64>;
    async fn grid(&self, code: &GridCode) -> Result<Option<UnitGrid>>;
    async fn list_grids(&self, q: &GridQuery, page: &PageRequest) -> Result<Page<UnitGrid>>;
    async fn all_grids(&self) -> Result<Vec<UnitGrid>>;
    async fn upsert_responsibility_grids(
        &self,
        grids: &[ResponsibilityGrid],
        audit: &AuditEvent,
    ) -> Result<u64>;
    async fn list_responsibility_grids(
        &self,
        page: &PageRequest,
    ) -> Result<Page<ResponsibilityGrid>>;

    // ── departments and staff ──────────────────────────────────────────────
    /// Inserts or replaces departments by code. Area and parent must exist (in
    /// the batch or stored).
    async fn upsert_departments(
        &self,
        departments: &[Department],
        audit: &AuditEvent,
    ) -> Result<u64>;
    async fn department(&self, code: &str) -> Result<Option<Department>>;
    async fn list_departments(
        &self,
        q: &DepartmentQuery,
        page: &PageRequest,
    ) -> Result<Page<Department>>;
    /// Inserts or replaces staff by code. The department must exist.
    async fn upsert_staff(&self, staff: &[Staff], audit: &AuditEvent) -> Result<u64>;
    async fn staff(&self, code: &str) -> Result<Option<Staff>>;
    async fn list_staff(&self, q: &StaffQuery, page: &PageRequest) -> Result<Page<Staff>>;

    // ── components and local classes ───────────────────────────────────────
    /// Inserts or replaces components by id.
    async fn upsert_components(&self, components: &[Component], audit: &AuditEvent) -> Result<u64>;
    async fn component(&self, id: &ComponentId) -> Result<Option<Component>>;
    async fn list_components(
        &self,
        q: &ComponentQuery,
        page: &PageRequest,
    ) -> Result<Page<Component>>;
    async fn count_components(&self, q: &ComponentQuery) -> Result<u64>;
    async fn upsert_local_class(&self, class: &StandardClass, audit: &AuditEvent) -> Result<()>;
    async fn local_classes(&self) -> Result<Vec<StandardClass>>;

    // ── users, sessions, tokens ────────────────────────────────────────────
    /// Creates a user; a taken username is a `Conflict`.
    async fn create_user(
        &self,
        user: &NewUser,
        password_hash: &str,
        audit: &AuditEvent,
    ) -> Result<User>;
    async fn update_user(&self, id: i64, user: &NewUser, audit: &AuditEvent) -> Result<User>;
    /// Replaces the password hash and ends the user's sessions.
    async fn set_password(&self, id: i64, password_hash: &str, audit: &AuditEvent) -> Result<()>;
    /// Disabling also ends the user's sessions; tokens stop working while disabled.
    async fn set_user_disabled(&self, id: i64, disabled: bool, audit: &AuditEvent) -> Result<()>;
    async fn user(&self, id: i64) -> Result<Option<User>>;
    /// The user and their password hash, for login.
    async fn user_by_name(&self, username: &str) -> Result<Option<(User, String)>>;
    async fn list_users(&self, page: &PageRequest) -> Result<Page<User>>;
    async fn count_users(&self) -> Result<u64>;

    /// Stores a session by the hash of its cookie secret.
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        expires_at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<()>;
    /// The enabled user of an unexpired session.
    async fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<User>>;
    async fn delete_session(&self, token_hash: &str, audit: &AuditEvent) -> Result<()>;

    async fn create_token(&self, token: &NewToken, audit: &AuditEvent) -> Result<ApiToken>;
    /// The token and its enabled user, if the token is unrevoked and unexpired;
    /// records the time of use.
    async fn token_user(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(ApiToken, User)>>;
    /// Tokens of one user, or of everyone.
    async fn list_tokens(&self, user_id: Option<i64>) -> Result<Vec<ApiToken>>;
    async fn token(&self, id: i64) -> Result<Option<ApiToken>>;
    async fn revoke_token(&self, id: i64, audit: &AuditEvent) -> Result<()>;

    // ── audit ──────────────────────────────────────────────────────────────
    /// Records an event that is not tied to a stored write (e.g. a failed login).
    async fn record_audit(&self, audit: &AuditEvent) -> Result<()>;
    /// Newest first.
    async fn list_audit(&self, q: &AuditQuery, page: &PageRequest) -> Result<Page<AuditRecord>>;
}

/// Every storage interface: the city model and accounts ([`Store`]), the
/// case loop ([`CaseStore`]) and the IoT brain ([`IotStore`]). Every backend
/// implements all of them; `&dyn Database` coerces to `&dyn Store`,
/// `&dyn CaseStore` or `&dyn IotStore` where one of them is expected.
pub trait Database: Store + CaseStore + IotStore {}

impl<T: Store + CaseStore + IotStore> Database for T {}

/// A shared handle to whichever store the server runs on.
pub type DynStore = Arc<dyn Database>;

/// Opens the store named by `database`: a `postgres://` or `postgresql://` URL
/// selects PostgreSQL, an `sqlite:` URL or a plain file path selects SQLite.
/// Migrations are not applied here; call [`Store::migrate`] next.
pub async fn open(database: &str) -> Result<DynStore> {
    let database = database.trim();
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(database).await?))
    } else if database.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open_url(database).await?))
    } else if database.is_empty() || database.contains("://") {
        Err(chengyun_domain::Invalid::new(
            "database_url",
            format!(
                "{database:?} names no known database; use postgres://user@host/db, sqlite:///path/to/file.db or a file path"
            ),
        )
        .into())
    } else {
        Ok(Arc::new(
            SqliteStore::open(std::path::Path::new(database)).await?,
        ))
    }
}
