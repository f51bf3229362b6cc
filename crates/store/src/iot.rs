//! Storage of the IoT brain (物联大脑): products (thing models), devices and
//! their hashed credentials, sharing grants, the latest state per device,
//! telemetry history (batched appends, range reads, downsampled reads in SQL,
//! bounded retention), alarms and their lifecycle, commands and their
//! tracking, versioned rule sets and the enabled scenario packs.
//!
//! [`IotStore`] is implemented by [`SqliteStore`](crate::SqliteStore) and
//! [`PgStore`](crate::PgStore) from one SQL body (`iot_shared.rs`), like
//! [`CaseStore`](crate::CaseStore).
//!
//! Audit: writes a person makes (products, devices, grants, commands, rule
//! sets, packs) take the [`AuditEvent`] and store it in the same transaction.
//! Machine writes at telemetry rates (latest state, history, alarm updates,
//! command status) carry none: the audit log records decisions, not readings,
//! and the alarms and commands tables are themselves the record.
//!
//! Telemetry times are stored as integer microseconds since the epoch, so
//! both backends bucket them with the same integer arithmetic.

use async_trait::async_trait;
use chengyun_domain::audit::AuditEvent;
use chengyun_domain::iot::{
    Alarm, AlarmKey, Device, Grant, Pack, Product, RuleSet, Telemetry, Value,
};
use chengyun_domain::iot::{GeoPoint, Protocol};
use chengyun_domain::page::{Page, PageRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::Result;

/// Filter for device lists. Pages are ordered by device id.
#[derive(Debug, Clone, Default)]
pub struct DeviceQuery {
    pub product_key: Option<String>,
    pub owner_department: Option<String>,
    /// Only devices whose latest state says online (`true`) or not (`false`;
    /// a device that never reported counts as offline).
    pub online: Option<bool>,
    /// `[min_lon, min_lat, max_lon, max_lat]` (WGS-84) around the device's
    /// installation point, or its latest fix when it has no fixed point.
    pub within: Option<[f64; 4]>,
}

/// A stored sharing grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredGrant {
    pub id: i64,
    pub grant: Grant,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The latest known state of a device: every property's last value, the last
/// fix, when it was last heard and whether it counts as online.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LatestState {
    pub device_id: String,
    #[schema(value_type = Object)]
    pub values: BTreeMap<String, Value>,
    pub location: Option<GeoPoint>,
    pub last_seen: DateTime<Utc>,
    pub online: bool,
}

/// One bucket of one numeric property in a downsampled read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TelemetryBucket {
    /// Start of the bucket (aligned to the bucket width since the epoch).
    pub start: DateTime<Utc>,
    pub property: String,
    pub count: i64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    /// The value of the latest sample in the bucket.
    pub last: f64,
}

/// A stored alarm: the domain alarm plus what the store adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAlarm {
    pub alarm: Alarm,
    /// The device's owner at the time of the alarm (for scope filters).
    pub owner_department: String,
    /// The case opened from this alarm, once there is one.
    pub case_id: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// Filter for alarm lists. Pages are newest `last_at` first (cursor = alarm id
/// order within; see [`IotStore::list_alarms`]).
#[derive(Debug, Clone, Default)]
pub struct AlarmQuery {
    pub device_id: Option<String>,
    pub alarm_type: Option<String>,
    /// `active`, `acknowledged` or `cleared`.
    pub state: Option<chengyun_domain::iot::AlarmState>,
    /// Only open (active or acknowledged) alarms.
    pub open_only: bool,
    /// Only alarms of devices owned by one of these departments (the viewer's
    /// scope); `None` means every department.
    pub owners: Option<Vec<String>>,
    pub since: Option<DateTime<Utc>>,
}

/// Where a command is in its tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    /// Accepted and stored; not yet written to the device's connection.
    Queued,
    /// Written to the connection (or published); waiting for the device.
    Sent,
    Acknowledged,
    Failed,
    /// No acknowledgement before the deadline.
    TimedOut,
}

impl CommandStatus {
    pub const ALL: [CommandStatus; 5] = [
        CommandStatus::Queued,
        CommandStatus::Sent,
        CommandStatus::Acknowledged,
        CommandStatus::Failed,
        CommandStatus::TimedOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Queued => "queued",
            CommandStatus::Sent => "sent",
            CommandStatus::Acknowledged => "acknowledged",
            CommandStatus::Failed => "failed",
            CommandStatus::TimedOut => "timed_out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Queued and sent commands may still change; the rest are final.
    pub fn is_open(self) -> bool {
        matches!(self, CommandStatus::Queued | CommandStatus::Sent)
    }
}

/// A command before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCommand {
    pub device_id: String,
    pub command: String,
    pub params: BTreeMap<String, Value>,
    /// Who sent it: a user name, `rule:<id>` for linkage, `system`.
    pub actor: String,
    /// When it times out if the device has not acknowledged it.
    pub deadline_at: DateTime<Utc>,
}

/// A stored command and its tracking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommandRecord {
    pub id: i64,
    pub device_id: String,
    pub command: String,
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, Value>,
    pub actor: String,
    pub status: CommandStatus,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub deadline_at: DateTime<Utc>,
    pub error: Option<String>,
}

/// One stored version of the city's rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRuleSet {
    pub version: i64,
    pub rules: RuleSet,
    pub note: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// The storage interface of the IoT brain (see the module docs).
#[async_trait]
pub trait IotStore: Send + Sync + 'static {
    // ── products ───────────────────────────────────────────────────────────
    /// Inserts or replaces a product by key (validated first).
    async fn upsert_product(&self, product: &Product, audit: &AuditEvent) -> Result<()>;
    async fn product(&self, key: &str) -> Result<Option<Product>>;
    /// Every product, by key.
    async fn products(&self) -> Result<Vec<Product>>;

    // ── devices ────────────────────────────────────────────────────────────
    /// Inserts or replaces a device by id. Its product must be stored (the
    /// device is validated against it); `(protocol, terminal_id)` is unique.
    /// `credential_hash` must be a PHC hash: the store never sees a secret.
    async fn upsert_device(&self, device: &Device, audit: &AuditEvent) -> Result<()>;
    /// [`IotStore::upsert_device`] for many devices in one transaction: all
    /// or nothing, one audit row for the batch; an invalid device's fields are
    /// reported under `devices[i]`.
    async fn upsert_devices(&self, devices: &[Device], audit: &AuditEvent) -> Result<()>;
    async fn device(&self, id: &str) -> Result<Option<Device>>;
    async fn device_by_terminal(
        &self,
        protocol: Protocol,
        terminal_id: &str,
    ) -> Result<Option<Device>>;
    async fn list_devices(&self, q: &DeviceQuery, page: &PageRequest) -> Result<Page<Device>>;
    /// Every device (the service's registry cache loads this at start).
    async fn all_devices(&self) -> Result<Vec<Device>>;

    // ── grants ─────────────────────────────────────────────────────────────
    async fn create_grant(&self, grant: &Grant, audit: &AuditEvent) -> Result<StoredGrant>;
    /// Unrevoked grants; with `department`, only that grantee's.
    async fn grants(&self, department: Option<&str>) -> Result<Vec<StoredGrant>>;
    /// Revokes a grant; a missing or already revoked grant is `NotFound`.
    async fn revoke_grant(&self, id: i64, audit: &AuditEvent) -> Result<()>;

    // ── latest state and history ───────────────────────────────────────────
    /// Inserts or replaces the latest state of many devices in one transaction.
    async fn upsert_latest(&self, states: &[LatestState]) -> Result<u64>;
    async fn latest(&self, device_id: &str) -> Result<Option<LatestState>>;
    /// Every device's latest state (for warming the in-memory cache).
    async fn all_latest(&self) -> Result<Vec<LatestState>>;
    /// Marks devices offline in one statement; answers how many changed.
    async fn set_offline(&self, device_ids: &[String]) -> Result<u64>;
    /// Appends telemetry in one transaction with multi-row inserts.
    async fn append_telemetry(&self, rows: &[Telemetry]) -> Result<u64>;
    /// A device's telemetry with `from <= at < to`, oldest first, at most `limit`.
    async fn telemetry(
        &self,
        device_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Telemetry>>;
    /// Numeric properties of a device bucketed by `bucket_secs` with count,
    /// avg, min, max and last, computed in SQL; ordered by bucket, property.
    async fn telemetry_downsampled(
        &self,
        device_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_secs: u32,
    ) -> Result<Vec<TelemetryBucket>>;
    /// Deletes at most `max_rows` telemetry rows older than `before` (one
    /// bounded transaction; call again while it answers `max_rows`).
    async fn delete_telemetry_before(&self, before: DateTime<Utc>, max_rows: u32) -> Result<u64>;

    // ── alarms ─────────────────────────────────────────────────────────────
    /// Inserts or updates alarms by alarm id (one id per lifecycle of an
    /// [`AlarmKey`]): state, count, last time, value, location, message. The
    /// linked case is kept unless `case_id` is given.
    async fn upsert_alarms(&self, alarms: &[(Alarm, String)]) -> Result<u64>;
    async fn alarm(&self, id: &str) -> Result<Option<StoredAlarm>>;
    /// The open (active or acknowledged) alarm of a key, if any.
    async fn open_alarm(&self, key: &AlarmKey) -> Result<Option<StoredAlarm>>;
    async fn set_alarm_case(&self, alarm_id: &str, case_id: i64) -> Result<()>;
    async fn alarms_of_case(&self, case_id: i64) -> Result<Vec<StoredAlarm>>;
    /// Newest first by `last_at`, then id; the cursor is the last item's
    /// `last_at` in microseconds and its id, as `<micros>/<id>`.
    async fn list_alarms(&self, q: &AlarmQuery, page: &PageRequest) -> Result<Page<StoredAlarm>>;

    // ── commands ───────────────────────────────────────────────────────────
    /// Stores a command as queued.
    async fn create_command(&self, cmd: &NewCommand, audit: &AuditEvent) -> Result<CommandRecord>;
    async fn command(&self, id: i64) -> Result<Option<CommandRecord>>;
    /// Moves an open command to `status` at `at` (sent sets `sent_at`; final
    /// states set `finished_at`), with the error for failures. A command that
    /// is already final is a `Conflict` naming its status.
    async fn update_command(
        &self,
        id: i64,
        status: CommandStatus,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<CommandRecord>;
    /// A device's commands, newest first.
    async fn list_commands(
        &self,
        device_id: &str,
        page: &PageRequest,
    ) -> Result<Page<CommandRecord>>;
    /// Open commands whose deadline passed before `now`, oldest first.
    async fn overdue_commands(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<CommandRecord>>;

    // ── rule sets and packs ────────────────────────────────────────────────
    /// Stores the rule set as the next version; answers the version.
    async fn save_rule_set(
        &self,
        rules: &RuleSet,
        note: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<i64>;
    /// The given version, or the latest with `None`.
    async fn rule_set(&self, version: Option<i64>) -> Result<Option<StoredRuleSet>>;
    /// Every version, newest first.
    async fn rule_sets(&self) -> Result<Vec<StoredRuleSet>>;
    /// Records a pack as enabled (replacing an earlier copy of it).
    async fn enable_pack(&self, pack: &Pack, audit: &AuditEvent) -> Result<()>;
    async fn disable_pack(&self, key: &str, audit: &AuditEvent) -> Result<()>;
    /// Enabled packs, by key.
    async fn enabled_packs(&self) -> Result<Vec<Pack>>;
}
