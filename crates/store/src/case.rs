//! Storage of the case closed loop: cases, their reporters, flow records,
//! persistent clocks, statistics rows, dispatch rules, settings, idempotency
//! keys, attachments' metadata, case numbers and webhooks.
//!
//! [`CaseStore`] is implemented by [`SqliteStore`](crate::SqliteStore) and
//! [`PgStore`](crate::PgStore) from one SQL body (`case_shared.rs`), like
//! [`Store`](crate::Store). Every write takes the [`AuditEvent`] that describes
//! it and stores it in the same transaction. A case and everything that comes
//! with one step of it (flow records, reporters, clocks, statistics rows,
//! attachment links, the idempotency key) are written in one transaction: a
//! case is never half stored.
//!
//! Cases use optimistic concurrency: [`CaseStore::save_cases`] names the
//! version each case was read at and fails with `Conflict` if another writer
//! saved it since. Timer sweeps rely on this for "exactly once".

use async_trait::async_trait;
use chengyun_domain::audit::AuditEvent;
use chengyun_domain::case::calendar::{Clock, HoldPeriod, TimeLimit};
use chengyun_domain::case::evaluation::StageCounters;
use chengyun_domain::case::workflow::{CaseSnapshot, CaseState, Source, Stage};
use chengyun_domain::case::{CaseNumber, Urgency};
use chengyun_domain::page::{Page, PageRequest};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::Result;

/// Everything stored about a case except its identity and version: what the
/// service writes when it creates or changes a case. The denormalised columns
/// (state, holder, overdue, …) are taken from `snapshot` by the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseData {
    pub title: String,
    pub description: String,
    /// The GB/T 47678.5 matter class (5 digits), when known.
    pub matter_code: Option<String>,
    /// The 立案条件 chosen for the case (selects rows of the limit standard).
    pub condition: Option<String>,
    pub source: Source,
    pub urgency: Urgency,
    /// WGS-84.
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub address: Option<String>,
    pub grid_code: Option<String>,
    /// The finest known area (community, street, district or city code).
    pub area_code: Option<String>,
    pub district_code: Option<String>,
    pub component_id: Option<String>,
    pub device_id: Option<String>,
    /// The id the source system gives the case (unique per source when present).
    pub external_id: Option<String>,
    /// The user who entered the report, if a user did.
    pub reporter_user: Option<i64>,
    /// The workflow's view of the case.
    #[schema(value_type = Object)]
    pub snapshot: CaseSnapshot,
    /// Set when the case was merged into another (closed as erroneous).
    pub duplicate_of: Option<i64>,
    /// Set at intake when an open case of the same matter lies near.
    pub likely_duplicate_of: Option<i64>,
    pub reported_at: DateTime<Utc>,
    pub registered_at: Option<DateTime<Utc>>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub disposed_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The deadline of the clock running now (none when no clock runs or it is paused).
    pub deadline_at: Option<DateTime<Utc>>,
}

/// A stored case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseRecord {
    pub id: i64,
    #[schema(value_type = String)]
    pub number: CaseNumber,
    /// Bumped by every save; pass it back to [`CaseStore::save_cases`].
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(flatten)]
    pub data: CaseData,
}

/// A person (or system) who reported a case. A merged case keeps them all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reporter {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub user_id: Option<i64>,
    /// How the report came in: `app`, `web`, `hotline`, `open311`, `iot` …
    pub channel: String,
    pub reported_at: DateTime<Utc>,
}

/// A flow record (流转记录) to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewFlowRecord {
    /// An action name of the workflow (`dispatch`, `check_fail` …) or a
    /// service step (`report`, `merge`, `merged_into`, `timer_warning`).
    pub action: String,
    /// The action's details and, for dispatches, the rule that decided it.
    pub detail: serde_json::Value,
    pub from_state: Option<CaseState>,
    pub to_state: CaseState,
    pub actor_user: Option<i64>,
    pub actor_department: Option<String>,
    /// The position acted in (`dispatcher` …); `None` for the system.
    pub acted_as: Option<String>,
    pub at: DateTime<Utc>,
    pub opinion: Option<String>,
    /// Attachment ids.
    pub attachments: Vec<String>,
}

/// A stored flow record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FlowRecord {
    pub id: i64,
    pub case_id: i64,
    #[serde(flatten)]
    pub record: NewFlowRecord,
}

/// One persistent timer of a case (one per [`Clock`]): the limit, the holds,
/// the extensions, the deadline and warning instants, and whether the warning
/// and the overdue mark were already given (each exactly once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseClock {
    pub case_id: i64,
    #[schema(value_type = String)]
    pub clock: Clock,
    pub started_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub limit: TimeLimit,
    /// Extra time granted (延期), in order.
    #[schema(value_type = Vec<Object>)]
    pub extensions: Vec<TimeLimit>,
    /// Time on hold (挂账); the last may be open.
    #[schema(value_type = Vec<Object>)]
    pub holds: Vec<HoldPeriod>,
    /// `None` while paused (the deadline is unknown until it resumes).
    pub deadline_at: Option<DateTime<Utc>>,
    /// When 80 % of the limit is used (yellow light).
    pub warn_at: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
    /// Wall-clock seconds spent on hold so far (closed holds).
    pub held_seconds: i64,
    pub stopped_at: Option<DateTime<Utc>>,
    pub warned_at: Option<DateTime<Utc>>,
    pub overdue_at: Option<DateTime<Utc>>,
}

/// A statistics row to store: the counters one case earned in one stage and
/// whom they are credited to. The store adds the case id and number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewStatRow {
    #[schema(value_type = String)]
    pub stage: Stage,
    pub at: DateTime<Utc>,
    pub department_code: Option<String>,
    pub user_id: Option<i64>,
    pub area_code: Option<String>,
    #[schema(value_type = Object)]
    pub counters: StageCounters,
}

/// An open case near a new one (a de-duplication candidate).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NearbyCase {
    pub id: i64,
    pub lon: f64,
    pub lat: f64,
    pub reported_at: DateTime<Utc>,
}

/// A statistics row of a known case, for bulk loads that bypass case writes
/// (migrations from another system, benchmarks). `stat_rows` keeps the case
/// number beside the id so a row explains itself without a join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatRowWrite {
    pub case_id: i64,
    pub case_number: String,
    pub row: NewStatRow,
}

/// A case as [`CaseStore::create_cases`] wrote it: the record (built from
/// what was written, not read back) and the flow records with their ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseWritten {
    pub case: CaseRecord,
    pub flow: Vec<FlowRecord>,
}

/// What comes with one write of a case besides its own columns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseChanges {
    /// Reporters to add.
    pub reporters: Vec<Reporter>,
    pub flow: Vec<NewFlowRecord>,
    /// Clocks to insert or replace (keyed by case and clock).
    pub clocks: Vec<CaseClock>,
    pub stats: Vec<NewStatRow>,
    /// Uploaded attachments (ids) to link to the case; each must exist.
    pub attachments: Vec<String>,
}

/// A new case to create. The store issues its number: `prefix` + the local
/// date + the next daily sequence for that prefix and date.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCaseWrite {
    pub data: CaseData,
    pub number_prefix: String,
    /// The local date in the city's time zone the number carries.
    pub number_date: NaiveDate,
    pub changes: CaseChanges,
    /// Stores `(user id or 0, key, request hash)` with the new case's id, in
    /// the same transaction; a key already stored is a `Conflict`.
    pub idempotency: Option<IdempotencyKey>,
}

/// One case to save over its stored version.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSave {
    pub id: i64,
    /// The version the case was read at; another save since is a `Conflict`.
    pub expected_version: i64,
    pub data: CaseData,
    pub changes: CaseChanges,
}

/// An `Idempotency-Key` and the request it came with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyKey {
    /// 0 for requests without a user (the system).
    pub user_id: i64,
    pub key: String,
    /// A hash of the request body, so a reused key with another body is caught.
    pub request_hash: String,
}

/// A stored idempotency key and the response it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub user_id: i64,
    pub key: String,
    pub request_hash: String,
    pub response: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// Filters of case lists; `None`/empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CaseQuery {
    /// Any of these states.
    #[schema(value_type = Vec<String>)]
    pub states: Vec<CaseState>,
    /// Held by this department now.
    pub holder_department: Option<String>,
    /// Managed by this command center.
    pub center_department: Option<String>,
    /// Dispatched to this department.
    pub handling_department: Option<String>,
    /// Area code prefix: the case lies within this area (the viewer's scope).
    pub within: Option<String>,
    /// Matter code or prefix (`06` for every 06xxx matter).
    pub matter: Option<String>,
    #[schema(value_type = Option<String>)]
    pub source: Option<Source>,
    pub overdue: Option<bool>,
    /// Open (not closed or cancelled) cases only, or final ones only.
    pub open: Option<bool>,
    /// Case-insensitive substring of the number, title, description or address.
    pub text: Option<String>,
    /// Reported at or after (inclusive).
    pub reported_from: Option<DateTime<Utc>>,
    /// Reported before (exclusive).
    pub reported_to: Option<DateTime<Utc>>,
    pub external_id: Option<String>,
}

/// How to group statistics sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "by", content = "len")]
pub enum StatGroup {
    /// One total.
    Total,
    Department,
    User,
    /// The first `n` characters of the area code (6 district, 9 street, 12 community).
    AreaPrefix(u8),
    /// The UTC day of `at`.
    Day,
}

/// A period and scope to sum statistics over.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct StatQuery {
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    /// Area code prefix.
    pub within: Option<String>,
    pub department_code: Option<String>,
    pub user_id: Option<i64>,
}

/// The sum of the counters of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatTotal {
    /// The group's key (department code, user id, area prefix or day);
    /// `None` for the total and for rows without that attribute.
    pub key: Option<String>,
    #[schema(value_type = Object)]
    pub counters: StageCounters,
}

/// A responsibility rule: cases of `matter_pattern` in `area_code` go to
/// `department_code`. The most specific rule wins (longest area prefix, then
/// longest matter pattern), then the higher `priority`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DispatchRule {
    /// 0 for a new rule.
    pub id: i64,
    /// `01001`, `01*` or `*`.
    pub matter_pattern: String,
    /// An area code prefix, or `*` for anywhere.
    pub area_code: String,
    pub department_code: String,
    pub priority: i64,
    /// Cases of automatic sources matching this rule are registered and
    /// dispatched by the system without a clerk.
    pub auto_dispatch: bool,
    pub enabled: bool,
    pub note: Option<String>,
}

/// Metadata of an uploaded attachment; the bytes live in an object store
/// under `storage_key` (content addressed by `sha256`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttachmentMeta {
    /// A UUID.
    pub id: String,
    /// The case it is linked to, once an action or intake names it.
    pub case_id: Option<i64>,
    pub file_name: String,
    /// Sniffed from the bytes, not taken from the client.
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub storage_key: String,
    pub uploaded_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// A webhook subscription of an external system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Webhook {
    /// 0 for a new webhook.
    pub id: i64,
    pub url: String,
    /// The HMAC secret deliveries are signed with.
    pub secret: String,
    /// Event type prefix to deliver (`case.` …), `*` for all.
    pub event_filter: String,
    pub enabled: bool,
    pub created_by: Option<i64>,
}

/// A queued delivery of one event to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookDelivery {
    pub id: i64,
    pub webhook_id: i64,
    pub event: serde_json::Value,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// The storage of the case loop (see the module docs).
#[async_trait]
pub trait CaseStore: Send + Sync + 'static {
    // ── cases ──────────────────────────────────────────────────────────────
    /// Creates a case with its number, reporters, flow records, clocks,
    /// statistics rows, attachment links and idempotency key, in one
    /// transaction. An `external_id` already stored for the source, or an
    /// idempotency key already stored, is a `Conflict`.
    async fn create_case(&self, new: &NewCaseWrite, audit: &AuditEvent) -> Result<CaseRecord>;
    /// Creates cases in one transaction with one savepoint per case (group
    /// commit for bulk intake): each case with its audit event is stored
    /// whole or not at all, and a case that fails (an external id or
    /// idempotency key already stored, a missing attachment) is answered as
    /// its own `Err` without undoing the others. The outer `Err` is a
    /// failure of the transaction itself (nothing stored). Answers in the
    /// order given, without reading the cases back.
    async fn create_cases(
        &self,
        writes: &[(NewCaseWrite, AuditEvent)],
    ) -> Result<Vec<Result<CaseWritten>>>;
    /// Creates many cases in one transaction (historical import): all or
    /// none. Written in multi-row statements per chunk of cases, each case
    /// with its own audit row (`audit` with the case number as target) plus
    /// `audit` itself for the whole import.
    async fn import_cases(
        &self,
        cases: &[NewCaseWrite],
        audit: &AuditEvent,
    ) -> Result<Vec<CaseRecord>>;
    /// Saves changed cases and what comes with the change, in one
    /// transaction. Each case must still be at its `expected_version`
    /// (else `Conflict`, nothing saved); versions go up by one.
    async fn save_cases(&self, saves: &[CaseSave], audit: &AuditEvent) -> Result<Vec<CaseRecord>>;
    async fn case(&self, id: i64) -> Result<Option<CaseRecord>>;
    async fn case_by_number(&self, number: &str) -> Result<Option<CaseRecord>>;
    async fn case_by_external_id(
        &self,
        source: Source,
        external_id: &str,
    ) -> Result<Option<CaseRecord>>;
    /// Which of `external_ids` are already stored for `source` (imports skip
    /// them, so running an import twice stores each case once).
    async fn existing_external_ids(
        &self,
        source: Source,
        external_ids: &[String],
    ) -> Result<Vec<String>>;
    /// Newest first (descending id); the cursor is the last id.
    async fn list_cases(&self, q: &CaseQuery, page: &PageRequest) -> Result<Page<CaseRecord>>;
    async fn count_cases(&self, q: &CaseQuery) -> Result<u64>;
    /// The matter classes (codes, ascending) of the cases reported at or after
    /// `from`: one statement, where asking `count_cases` per class would be
    /// one per class of the catalogue.
    async fn matters_reported_since(&self, from: DateTime<Utc>) -> Result<Vec<String>>;
    /// Open cases of `matter_code` reported at or after `since` whose point
    /// lies in the box `[min_lon, min_lat, max_lon, max_lat]` (dedupe candidates;
    /// the caller measures the exact distance).
    ///
    /// Answers only what the distance test needs (id, point, report time),
    /// read from the `(matter_code, is_open, lon, lat, reported_at)` index
    /// without touching the case rows' JSON.
    async fn open_cases_near(
        &self,
        matter_code: &str,
        bbox: [f64; 4],
        since: DateTime<Utc>,
    ) -> Result<Vec<NearbyCase>>;
    /// In the order reported.
    async fn case_reporters(&self, case_id: i64) -> Result<Vec<Reporter>>;
    /// In the order written.
    async fn flow_records(&self, case_id: i64) -> Result<Vec<FlowRecord>>;
    async fn case_clocks(&self, case_id: i64) -> Result<Vec<CaseClock>>;
    /// The clocks of many cases that are not stopped (a list page's timer
    /// lights), in one query.
    async fn running_clocks(&self, case_ids: &[i64]) -> Result<Vec<CaseClock>>;

    // ── timers ─────────────────────────────────────────────────────────────
    /// Running, unpaused clocks that need a warning (`warn_at <= now`, not yet
    /// warned) or an overdue mark (`deadline_at <= now`, not yet marked),
    /// earliest deadline first, at most `limit`.
    async fn due_clocks(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<CaseClock>>;
    /// Sets `warned_at` if it is still unset; true if this call set it (so of
    /// two concurrent sweeps exactly one warns).
    async fn mark_clock_warned(
        &self,
        case_id: i64,
        clock: Clock,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool>;

    // ── statistics ─────────────────────────────────────────────────────────
    /// Sums of every counter over the rows the query keeps, per group, in SQL.
    /// Whole UTC days inside the period are read from the daily roll-up
    /// (`stat_daily`), the partial days at its ends from the raw rows, so
    /// the answer equals [`CaseStore::stat_totals_raw`] for any period.
    async fn stat_totals(&self, q: &StatQuery, group: StatGroup) -> Result<Vec<StatTotal>>;
    /// The same sums from the raw `stat_rows` alone (slow over millions of
    /// rows; the reference the roll-up is checked against).
    async fn stat_totals_raw(&self, q: &StatQuery, group: StatGroup) -> Result<Vec<StatTotal>>;
    /// Inserts statistics rows not tied to a case write (bulk loads,
    /// benchmarks) with their roll-up, in one transaction: multi-row
    /// inserts, the roll-up summed in memory first. The case ids are not
    /// checked (statistics outlive the cases they count).
    async fn insert_stat_rows(&self, rows: &[StatRowWrite], audit: &AuditEvent) -> Result<u64>;

    // ── dispatch rules ─────────────────────────────────────────────────────
    /// Inserts (id 0) or replaces (id > 0) a rule; the department must exist.
    async fn put_dispatch_rule(
        &self,
        rule: &DispatchRule,
        audit: &AuditEvent,
    ) -> Result<DispatchRule>;
    async fn delete_dispatch_rule(&self, id: i64, audit: &AuditEvent) -> Result<()>;
    /// Every rule, by id.
    async fn dispatch_rules(&self) -> Result<Vec<DispatchRule>>;

    // ── settings ───────────────────────────────────────────────────────────
    async fn setting(&self, key: &str) -> Result<Option<serde_json::Value>>;
    async fn put_setting(
        &self,
        key: &str,
        value: &serde_json::Value,
        audit: &AuditEvent,
    ) -> Result<()>;

    // ── idempotency ────────────────────────────────────────────────────────
    async fn idempotency(&self, user_id: i64, key: &str) -> Result<Option<IdempotencyRecord>>;
    /// Stores a key and its response; a key already stored is a `Conflict`.
    async fn put_idempotency(
        &self,
        key: &IdempotencyKey,
        response: &serde_json::Value,
    ) -> Result<()>;

    // ── attachments ────────────────────────────────────────────────────────
    async fn create_attachment(&self, meta: &AttachmentMeta, audit: &AuditEvent) -> Result<()>;
    async fn attachment(&self, id: &str) -> Result<Option<AttachmentMeta>>;
    async fn case_attachments(&self, case_id: i64) -> Result<Vec<AttachmentMeta>>;

    // ── webhooks ───────────────────────────────────────────────────────────
    async fn put_webhook(&self, hook: &Webhook, audit: &AuditEvent) -> Result<Webhook>;
    async fn delete_webhook(&self, id: i64, audit: &AuditEvent) -> Result<()>;
    async fn webhooks(&self) -> Result<Vec<Webhook>>;
    /// Queues `event` for every enabled webhook whose filter matches `event_type`;
    /// answers how many deliveries were queued.
    async fn enqueue_deliveries(
        &self,
        event_type: &str,
        event: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<u64>;
    /// Undelivered deliveries whose next attempt is due, oldest first.
    async fn due_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<WebhookDelivery>>;
    /// Claims up to `limit` due deliveries for one delivery round, oldest
    /// first: their next attempt moves to `lease_until` in the same statement,
    /// so another server process on the same database does not take them too
    /// (and they come due again if this one dies before recording the
    /// attempt). Answers the claimed rows, by id.
    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>>;
    /// Records an attempt: delivered (`error` None) or failed with the next
    /// attempt time (`None` = give up).
    async fn record_delivery_attempt(
        &self,
        id: i64,
        at: DateTime<Utc>,
        error: Option<&str>,
        next_attempt_at: Option<DateTime<Utc>>,
    ) -> Result<()>;
}
