//! Case-loop rows as the database holds them, and their conversion to and
//! from the types of [`crate::case`]. Reading never panics: a stored value
//! that no longer parses becomes a `StoreError::Database` naming row and column.

use crate::StoreError;
use crate::case::{
    AttachmentMeta, CaseClock, CaseData, CaseQuery, CaseRecord, DispatchRule, FlowRecord,
    NewFlowRecord, Reporter, Webhook, WebhookDelivery,
};
use crate::sql::{Arg, Filter};
use chengyun_domain::case::CaseNumber;
use chengyun_domain::case::Urgency;
use chengyun_domain::case::calendar::{Clock, HoldPeriod, TimeLimit};
use chengyun_domain::case::evaluation::StageCounters;
use chengyun_domain::case::workflow::{CaseSnapshot, CaseState, Source};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use std::fmt::Display;

fn corrupt(kind: &str, key: impl Display, column: &str, e: impl Display) -> StoreError {
    StoreError::Database(format!(
        "stored {kind} {key} is corrupt: column {column}: {e}"
    ))
}

/// Parses a snake_case enum name through serde (the stored form of states,
/// sources, clocks, stages).
pub(crate) fn parse_name<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|e| e.to_string())
}

// ── cases ────────────────────────────────────────────────────────────────────

pub(crate) const CASE_COLUMNS: &str = "t.id, t.number, t.version, t.created_at, t.updated_at, \
     t.title, t.description, t.matter_code, t.condition, t.source, t.urgency, t.lon, t.lat, \
     t.address, t.grid_code, t.area_code, t.district_code, t.component_id, t.device_id, \
     t.external_id, t.reporter_user, t.snapshot, t.duplicate_of, t.likely_duplicate_of, \
     t.reported_at, t.registered_at, t.dispatched_at, t.disposed_at, t.closed_at, t.deadline_at";

/// The columns every case write sets, in the order of [`case_args`].
pub(crate) const CASE_WRITE_COLUMNS: [&str; 34] = [
    "title",
    "description",
    "matter_code",
    "condition",
    "source",
    "urgency",
    "lon",
    "lat",
    "address",
    "grid_code",
    "area_code",
    "district_code",
    "component_id",
    "device_id",
    "external_id",
    "reporter_user",
    "snapshot",
    "state",
    "holder_department",
    "holder_user",
    "center_department",
    "handling_department",
    "overdue",
    "on_hold",
    "is_open",
    "duplicate_of",
    "likely_duplicate_of",
    "reported_at",
    "registered_at",
    "dispatched_at",
    "disposed_at",
    "closed_at",
    "deadline_at",
    "updated_at",
];

fn finite(field: &str, v: Option<f64>) -> Result<Option<f64>, chengyun_domain::Invalid> {
    match v {
        Some(x) if !x.is_finite() => Err(chengyun_domain::Invalid::new(
            field,
            format!("{x} is not a finite number"),
        )),
        other => Ok(other),
    }
}

/// Arguments for [`CASE_WRITE_COLUMNS`].
pub(crate) fn case_args(
    d: &CaseData,
    now: DateTime<Utc>,
) -> Result<Vec<Arg>, chengyun_domain::Invalid> {
    let s = &d.snapshot;
    let snapshot = serde_json::to_value(s).map_err(|e| {
        chengyun_domain::Invalid::new("snapshot", format!("cannot be written as JSON: {e}"))
    })?;
    let t = crate::sql::stored_time;
    Ok(vec![
        d.title.clone().into(),
        d.description.clone().into(),
        d.matter_code.clone().into(),
        d.condition.clone().into(),
        d.source.as_str().into(),
        d.urgency.as_str().into(),
        finite("lon", d.lon)?.into(),
        finite("lat", d.lat)?.into(),
        d.address.clone().into(),
        d.grid_code.clone().into(),
        d.area_code.clone().into(),
        d.district_code.clone().into(),
        d.component_id.clone().into(),
        d.device_id.clone().into(),
        d.external_id.clone().into(),
        d.reporter_user.into(),
        Arg::Json(Some(snapshot)),
        s.state.as_str().into(),
        s.holder.department.clone().into(),
        s.holder.user.into(),
        s.center_department.clone().into(),
        s.handling_department.clone().into(),
        s.overdue.into(),
        s.on_hold.into(),
        (!s.state.is_final()).into(),
        d.duplicate_of.into(),
        d.likely_duplicate_of.into(),
        t(d.reported_at).into(),
        d.registered_at.map(t).into(),
        d.dispatched_at.map(t).into(),
        d.disposed_at.map(t).into(),
        d.closed_at.map(t).into(),
        d.deadline_at.map(t).into(),
        now.into(),
    ])
}

#[derive(sqlx::FromRow)]
pub(crate) struct CaseRow {
    id: i64,
    number: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    title: String,
    description: String,
    matter_code: Option<String>,
    condition: Option<String>,
    source: String,
    urgency: String,
    lon: Option<f64>,
    lat: Option<f64>,
    address: Option<String>,
    grid_code: Option<String>,
    area_code: Option<String>,
    district_code: Option<String>,
    component_id: Option<String>,
    device_id: Option<String>,
    external_id: Option<String>,
    reporter_user: Option<i64>,
    snapshot: Json<serde_json::Value>,
    duplicate_of: Option<i64>,
    likely_duplicate_of: Option<i64>,
    reported_at: DateTime<Utc>,
    registered_at: Option<DateTime<Utc>>,
    dispatched_at: Option<DateTime<Utc>>,
    disposed_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    deadline_at: Option<DateTime<Utc>>,
}

impl TryFrom<CaseRow> for CaseRecord {
    type Error = StoreError;
    fn try_from(r: CaseRow) -> Result<Self, StoreError> {
        let k = "case";
        let id = r.id;
        let snapshot: CaseSnapshot =
            serde_json::from_value(r.snapshot.0).map_err(|e| corrupt(k, id, "snapshot", e))?;
        Ok(CaseRecord {
            id,
            number: CaseNumber::parse(&r.number).map_err(|e| corrupt(k, id, "number", e))?,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            data: CaseData {
                title: r.title,
                description: r.description,
                matter_code: r.matter_code,
                condition: r.condition,
                source: parse_name::<Source>(&r.source).map_err(|e| corrupt(k, id, "source", e))?,
                urgency: Urgency::parse(&r.urgency).map_err(|e| corrupt(k, id, "urgency", e))?,
                lon: r.lon,
                lat: r.lat,
                address: r.address,
                grid_code: r.grid_code,
                area_code: r.area_code,
                district_code: r.district_code,
                component_id: r.component_id,
                device_id: r.device_id,
                external_id: r.external_id,
                reporter_user: r.reporter_user,
                snapshot,
                duplicate_of: r.duplicate_of,
                likely_duplicate_of: r.likely_duplicate_of,
                reported_at: r.reported_at,
                registered_at: r.registered_at,
                dispatched_at: r.dispatched_at,
                disposed_at: r.disposed_at,
                closed_at: r.closed_at,
                deadline_at: r.deadline_at,
            },
        })
    }
}

/// `LIKE` pattern text with `\`, `%` and `_` escaped.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(crate) fn case_filter(q: &CaseQuery) -> Filter {
    let mut f = Filter::default();
    if !q.states.is_empty() {
        let ps: Vec<String> = q.states.iter().map(|s| f.arg(s.as_str())).collect();
        f.raw(format!("t.state IN ({})", ps.join(", ")));
    }
    if let Some(d) = &q.holder_department {
        f.eq("t.holder_department", d.as_str());
    }
    if let Some(d) = &q.center_department {
        f.eq("t.center_department", d.as_str());
    }
    if let Some(d) = &q.handling_department {
        f.eq("t.handling_department", d.as_str());
    }
    if let Some(w) = &q.within {
        f.prefix("t.area_code", w);
    }
    if let Some(m) = &q.matter {
        let m = m.trim().trim_end_matches('*');
        if m.len() == 5 {
            f.eq("t.matter_code", m);
        } else {
            f.prefix("t.matter_code", m);
        }
    }
    if let Some(s) = q.source {
        f.eq("t.source", s.as_str());
    }
    if let Some(o) = q.overdue {
        f.eq("t.overdue", o);
    }
    if let Some(o) = q.open {
        f.eq("t.is_open", o);
    }
    if let Some(text) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let p = f.arg(format!("%{}%", like_escape(&text.to_lowercase())));
        f.raw(format!(
            "(LOWER(t.number) LIKE {p} ESCAPE '\\' OR LOWER(t.title) LIKE {p} ESCAPE '\\' \
             OR LOWER(t.description) LIKE {p} ESCAPE '\\' OR LOWER(COALESCE(t.address, '')) LIKE {p} ESCAPE '\\')"
        ));
    }
    if let Some(from) = q.reported_from {
        f.cmp("t.reported_at", ">=", crate::sql::stored_time(from));
    }
    if let Some(to) = q.reported_to {
        f.cmp("t.reported_at", "<", crate::sql::stored_time(to));
    }
    if let Some(e) = &q.external_id {
        f.eq("t.external_id", e.as_str());
    }
    f
}

// ── reporters, flow records ──────────────────────────────────────────────────

#[derive(sqlx::FromRow)]
pub(crate) struct ReporterRow {
    name: Option<String>,
    phone: Option<String>,
    user_id: Option<i64>,
    channel: String,
    reported_at: DateTime<Utc>,
}

impl From<ReporterRow> for Reporter {
    fn from(r: ReporterRow) -> Self {
        Reporter {
            name: r.name,
            phone: r.phone,
            user_id: r.user_id,
            channel: r.channel,
            reported_at: r.reported_at,
        }
    }
}

pub(crate) const FLOW_COLUMNS: &str = "t.id, t.case_id, t.action, t.detail, t.from_state, \
     t.to_state, t.actor_user, t.actor_department, t.acted_as, t.at, t.opinion, t.attachments";

#[derive(sqlx::FromRow)]
pub(crate) struct FlowRow {
    id: i64,
    case_id: i64,
    action: String,
    detail: Json<serde_json::Value>,
    from_state: Option<String>,
    to_state: String,
    actor_user: Option<i64>,
    actor_department: Option<String>,
    acted_as: Option<String>,
    at: DateTime<Utc>,
    opinion: Option<String>,
    attachments: Json<Vec<String>>,
}

impl TryFrom<FlowRow> for FlowRecord {
    type Error = StoreError;
    fn try_from(r: FlowRow) -> Result<Self, StoreError> {
        let k = "flow record";
        Ok(FlowRecord {
            id: r.id,
            case_id: r.case_id,
            record: NewFlowRecord {
                action: r.action,
                detail: r.detail.0,
                from_state: r
                    .from_state
                    .as_deref()
                    .map(parse_name::<CaseState>)
                    .transpose()
                    .map_err(|e| corrupt(k, r.id, "from_state", e))?,
                to_state: parse_name::<CaseState>(&r.to_state)
                    .map_err(|e| corrupt(k, r.id, "to_state", e))?,
                actor_user: r.actor_user,
                actor_department: r.actor_department,
                acted_as: r.acted_as,
                at: r.at,
                opinion: r.opinion,
                attachments: r.attachments.0,
            },
        })
    }
}

// ── clocks ───────────────────────────────────────────────────────────────────

pub(crate) const CLOCK_COLUMNS: &str = "t.case_id, t.clock, t.started_at, t.time_limit, \
     t.extensions, t.holds, t.deadline_at, t.warn_at, t.paused_at, t.held_seconds, \
     t.stopped_at, t.warned_at, t.overdue_at";

pub(crate) const CLOCK_UPSERT: crate::sql::Upsert = crate::sql::Upsert {
    table: "case_clocks",
    columns: &[
        "case_id",
        "clock",
        "started_at",
        "time_limit",
        "extensions",
        "holds",
        "deadline_at",
        "warn_at",
        "paused_at",
        "held_seconds",
        "stopped_at",
        "warned_at",
        "overdue_at",
    ],
    key: &["case_id", "clock"],
};

fn json_arg<T: serde::Serialize>(field: &str, v: &T) -> Result<Arg, chengyun_domain::Invalid> {
    serde_json::to_value(v)
        .map(|v| Arg::Json(Some(v)))
        .map_err(|e| {
            chengyun_domain::Invalid::new(field, format!("cannot be written as JSON: {e}"))
        })
}

pub(crate) fn clock_args(
    c: &CaseClock,
    out: &mut Vec<Arg>,
) -> Result<(), chengyun_domain::Invalid> {
    let t = crate::sql::stored_time;
    out.push(c.case_id.into());
    out.push(c.clock.as_str().into());
    out.push(t(c.started_at).into());
    out.push(json_arg("limit", &c.limit)?);
    out.push(json_arg("extensions", &c.extensions)?);
    out.push(json_arg("holds", &c.holds)?);
    out.push(c.deadline_at.map(t).into());
    out.push(c.warn_at.map(t).into());
    out.push(c.paused_at.map(t).into());
    out.push(c.held_seconds.into());
    out.push(c.stopped_at.map(t).into());
    out.push(c.warned_at.map(t).into());
    out.push(c.overdue_at.map(t).into());
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClockRow {
    case_id: i64,
    clock: String,
    started_at: DateTime<Utc>,
    time_limit: Json<TimeLimit>,
    extensions: Json<Vec<TimeLimit>>,
    holds: Json<Vec<HoldPeriod>>,
    deadline_at: Option<DateTime<Utc>>,
    warn_at: Option<DateTime<Utc>>,
    paused_at: Option<DateTime<Utc>>,
    held_seconds: i64,
    stopped_at: Option<DateTime<Utc>>,
    warned_at: Option<DateTime<Utc>>,
    overdue_at: Option<DateTime<Utc>>,
}

impl TryFrom<ClockRow> for CaseClock {
    type Error = StoreError;
    fn try_from(r: ClockRow) -> Result<Self, StoreError> {
        Ok(CaseClock {
            clock: parse_name::<Clock>(&r.clock)
                .map_err(|e| corrupt("clock of case", r.case_id, "clock", e))?,
            case_id: r.case_id,
            started_at: r.started_at,
            limit: r.time_limit.0,
            extensions: r.extensions.0,
            holds: r.holds.0,
            deadline_at: r.deadline_at,
            warn_at: r.warn_at,
            paused_at: r.paused_at,
            held_seconds: r.held_seconds,
            stopped_at: r.stopped_at,
            warned_at: r.warned_at,
            overdue_at: r.overdue_at,
        })
    }
}

// ── statistics ───────────────────────────────────────────────────────────────

/// The counter columns of `stat_rows`, in [`StageCounters`] field order.
pub(crate) const COUNTERS: [&str; 27] = [
    "reported",
    "valid_reported",
    "missed",
    "needs_verify",
    "verified",
    "verified_in_time",
    "verify_dispatched",
    "verify_dispatched_in_time",
    "inspector_registered",
    "registered",
    "registered_in_time",
    "cancelled",
    "needs_dispatch",
    "dispatched",
    "dispatched_in_time",
    "needs_disposal",
    "disposed",
    "disposed_in_time",
    "rework",
    "needs_check",
    "checked",
    "checked_in_time",
    "check_dispatched",
    "check_dispatched_in_time",
    "needs_closing",
    "closed",
    "closed_in_time",
];

pub(crate) fn counter_values(c: &StageCounters) -> [u64; 27] {
    [
        c.reported,
        c.valid_reported,
        c.missed,
        c.needs_verify,
        c.verified,
        c.verified_in_time,
        c.verify_dispatched,
        c.verify_dispatched_in_time,
        c.inspector_registered,
        c.registered,
        c.registered_in_time,
        c.cancelled,
        c.needs_dispatch,
        c.dispatched,
        c.dispatched_in_time,
        c.needs_disposal,
        c.disposed,
        c.disposed_in_time,
        c.rework,
        c.needs_check,
        c.checked,
        c.checked_in_time,
        c.check_dispatched,
        c.check_dispatched_in_time,
        c.needs_closing,
        c.closed,
        c.closed_in_time,
    ]
}

pub(crate) fn counters_from(v: [u64; 27]) -> StageCounters {
    StageCounters {
        reported: v[0],
        valid_reported: v[1],
        missed: v[2],
        needs_verify: v[3],
        verified: v[4],
        verified_in_time: v[5],
        verify_dispatched: v[6],
        verify_dispatched_in_time: v[7],
        inspector_registered: v[8],
        registered: v[9],
        registered_in_time: v[10],
        cancelled: v[11],
        needs_dispatch: v[12],
        dispatched: v[13],
        dispatched_in_time: v[14],
        needs_disposal: v[15],
        disposed: v[16],
        disposed_in_time: v[17],
        rework: v[18],
        needs_check: v[19],
        checked: v[20],
        checked_in_time: v[21],
        check_dispatched: v[22],
        check_dispatched_in_time: v[23],
        needs_closing: v[24],
        closed: v[25],
        closed_in_time: v[26],
    }
}

/// The columns of a `stat_rows` insert, in the order of [`stat_args`].
pub(crate) fn stat_insert_columns() -> Vec<&'static str> {
    let mut cols = vec![
        "case_id",
        "case_number",
        "stage",
        "at",
        "department_code",
        "user_id",
        "area_code",
    ];
    cols.extend(COUNTERS);
    cols
}

pub(crate) fn stat_args(
    case_id: i64,
    case_number: &str,
    r: &crate::case::NewStatRow,
    out: &mut Vec<Arg>,
) -> Result<(), chengyun_domain::Invalid> {
    out.push(case_id.into());
    out.push(case_number.into());
    out.push(r.stage.as_str().into());
    out.push(crate::sql::stored_time(r.at).into());
    out.push(r.department_code.clone().into());
    out.push(r.user_id.into());
    out.push(r.area_code.clone().into());
    for (i, v) in counter_values(&r.counters).into_iter().enumerate() {
        let v = i64::try_from(v).map_err(|_| {
            chengyun_domain::Invalid::new(
                format!("counters.{}", COUNTERS[i]),
                format!("{v} is too large to store"),
            )
        })?;
        out.push(v.into());
    }
    Ok(())
}

/// `INSERT INTO table (cols) VALUES (…), (…)` for `rows` rows, with `$n`
/// placeholders, or anonymous `?` ones when `anonymous` (SQLite: binding
/// `$n` asks SQLite for each parameter's name, a linear search, which makes
/// a 7,000-parameter statement quadratic; `?` binds in order).
pub(crate) fn insert_sql(table: &str, columns: &[&str], rows: usize, anonymous: bool) -> String {
    let n = columns.len();
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    sql.reserve(rows * n * 6);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..n {
            if c > 0 {
                sql.push_str(", ");
            }
            if anonymous {
                sql.push('?');
            } else {
                sql.push('$');
                sql.push_str(&(r * n + c + 1).to_string());
            }
        }
        sql.push(')');
    }
    sql
}

// ── the daily roll-up ───────────────────────────────────────────────────────

/// The key columns of `stat_daily`, before the counters.
pub(crate) const DAILY_KEY: [&str; 5] = ["day", "department_code", "user_id", "area_code", "stage"];

/// Rows per roll-up upsert: 32 columns each, under 8,000 parameters.
pub(crate) const DAILY_ROWS_PER_STATEMENT: usize = 200;

/// The UTC day of an instant, as `stat_daily.day` holds it.
pub(crate) fn day_of(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// One roll-up row: the key (absent attributes as `''` / 0) and the sums.
pub(crate) type DailyRow = ((String, String, i64, String, &'static str), [u64; 27]);

/// Sums statistics rows per roll-up key in memory, so a batch becomes one
/// upsert row per key (PostgreSQL refuses to update a row twice in one
/// statement, and fewer rows are faster on both).
pub(crate) fn daily_rows<'a>(
    rows: impl Iterator<Item = &'a crate::case::NewStatRow>,
) -> Vec<DailyRow> {
    let mut sums: std::collections::BTreeMap<
        (String, String, i64, String, &'static str),
        [u64; 27],
    > = std::collections::BTreeMap::new();
    for r in rows {
        let key = (
            day_of(crate::sql::stored_time(r.at)),
            r.department_code.clone().unwrap_or_default(),
            r.user_id.unwrap_or(0),
            r.area_code.clone().unwrap_or_default(),
            r.stage.as_str(),
        );
        let v = counter_values(&r.counters);
        let acc = sums.entry(key).or_insert([0; 27]);
        for (a, x) in acc.iter_mut().zip(v) {
            *a = a.saturating_add(x);
        }
    }
    sums.into_iter().collect()
}

/// Arguments of one roll-up row, in the order of [`daily_upsert_sql`].
pub(crate) fn daily_args(
    row: &DailyRow,
    out: &mut Vec<Arg>,
) -> Result<(), chengyun_domain::Invalid> {
    let ((day, dept, user, area, stage), v) = row;
    out.push(day.as_str().into());
    out.push(dept.as_str().into());
    out.push((*user).into());
    out.push(area.as_str().into());
    out.push((*stage).into());
    for (i, x) in v.iter().enumerate() {
        let x = i64::try_from(*x).map_err(|_| {
            chengyun_domain::Invalid::new(
                format!("counters.{}", COUNTERS[i]),
                format!("{x} is too large to store"),
            )
        })?;
        out.push(x.into());
    }
    Ok(())
}

/// `INSERT INTO stat_daily … ON CONFLICT (key) DO UPDATE SET c = c + excluded.c`.
pub(crate) fn daily_upsert_sql(rows: usize, anonymous: bool) -> String {
    let mut columns: Vec<&str> = DAILY_KEY.to_vec();
    columns.extend(COUNTERS);
    let mut sql = insert_sql("stat_daily", &columns, rows, anonymous);
    let sets: Vec<String> = COUNTERS
        .iter()
        .map(|c| format!("{c} = stat_daily.{c} + excluded.{c}"))
        .collect();
    sql.push_str(&format!(
        " ON CONFLICT ({}) DO UPDATE SET {}",
        DAILY_KEY.join(", "),
        sets.join(", ")
    ));
    sql
}

/// A period `[from, to)`; an absent bound is open.
pub(crate) type Period = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Which parts of a period the roll-up answers: the whole UTC days inside
/// it (`days`: from-day inclusive, to-day exclusive, `None` bound = open),
/// and the partial days at its ends, summed from the raw rows (`raw`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RollupPlan {
    pub(crate) days: Option<(Option<String>, Option<String>)>,
    pub(crate) raw: Vec<Period>,
}

impl RollupPlan {
    pub(crate) fn new(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Self {
        let from = from.map(crate::sql::stored_time);
        let to = to.map(crate::sql::stored_time);
        let midnight = |d: chrono::NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
        let at_midnight = |t: DateTime<Utc>| midnight(t.date_naive()) == t;
        // the first whole day starts at `from` or the midnight after it
        let start = from.map(|f| {
            if at_midnight(f) {
                f.date_naive()
            } else {
                f.date_naive().succ_opt().unwrap_or(chrono::NaiveDate::MAX)
            }
        });
        // whole days end at the midnight at or before `to`
        let end = to.map(|t| t.date_naive());
        if let (Some(s), Some(e)) = (start, end)
            && s >= e
        {
            return Self {
                days: None,
                raw: vec![(from, to)],
            };
        }
        let fmt = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
        let mut raw = Vec::new();
        if let (Some(f), Some(s)) = (from, start)
            && !at_midnight(f)
        {
            raw.push((Some(f), Some(midnight(s))));
        }
        if let (Some(t), Some(e)) = (to, end)
            && !at_midnight(t)
        {
            raw.push((Some(midnight(e)), Some(t)));
        }
        Self {
            days: Some((start.map(fmt), end.map(fmt))),
            raw,
        }
    }
}

/// Adds up the sums of the parts of a period per group key, sorted by key;
/// a total is always one row (zeros when nothing matched).
pub(crate) fn merge_totals(
    parts: Vec<Vec<crate::case::StatTotal>>,
    group: crate::case::StatGroup,
) -> Vec<crate::case::StatTotal> {
    let mut sums: std::collections::BTreeMap<Option<String>, [u64; 27]> =
        std::collections::BTreeMap::new();
    for t in parts.into_iter().flatten() {
        let acc = sums.entry(t.key).or_insert([0; 27]);
        for (a, x) in acc.iter_mut().zip(counter_values(&t.counters)) {
            *a = a.saturating_add(x);
        }
    }
    if group == crate::case::StatGroup::Total && sums.is_empty() {
        sums.insert(None, [0; 27]);
    }
    sums.into_iter()
        .map(|(key, v)| crate::case::StatTotal {
            key,
            counters: counters_from(v),
        })
        .collect()
}

/// Case data as the store keeps it (instants at microsecond precision), so
/// a record built from a write equals the one read back later.
pub(crate) fn as_stored(d: &CaseData) -> CaseData {
    let t = crate::sql::stored_time;
    let mut d = d.clone();
    d.reported_at = t(d.reported_at);
    d.registered_at = d.registered_at.map(t);
    d.dispatched_at = d.dispatched_at.map(t);
    d.disposed_at = d.disposed_at.map(t);
    d.closed_at = d.closed_at.map(t);
    d.deadline_at = d.deadline_at.map(t);
    d
}

/// The group key of a statistics sum over `stat_rows` (`raw`) or `stat_daily`.
pub(crate) fn stat_group_key(group: crate::case::StatGroup, raw: bool, raw_day: &str) -> String {
    use crate::case::StatGroup;
    match (group, raw) {
        (StatGroup::Total, _) => "CAST(NULL AS TEXT)".into(),
        (StatGroup::Department, true) => "t.department_code".into(),
        (StatGroup::Department, false) => "NULLIF(t.department_code, '')".into(),
        (StatGroup::User, true) => "CAST(t.user_id AS TEXT)".into(),
        (StatGroup::User, false) => "CAST(NULLIF(t.user_id, 0) AS TEXT)".into(),
        (StatGroup::AreaPrefix(n), true) => format!("SUBSTR(t.area_code, 1, {})", n.max(1)),
        (StatGroup::AreaPrefix(n), false) => {
            format!("SUBSTR(NULLIF(t.area_code, ''), 1, {})", n.max(1))
        }
        (StatGroup::Day, true) => raw_day.into(),
        (StatGroup::Day, false) => "t.day".into(),
    }
}

/// `SUM` of every counter as a BIGINT, `0` when no row matches.
pub(crate) fn counter_sums() -> String {
    COUNTERS
        .iter()
        .map(|c| format!("CAST(COALESCE(SUM(t.{c}), 0) AS BIGINT) AS {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ── dispatch rules, attachments, webhooks ────────────────────────────────────

pub(crate) const RULE_COLUMNS: &str = "t.id, t.matter_pattern, t.area_code, t.department_code, \
     t.priority, t.auto_dispatch, t.enabled, t.note";

#[derive(sqlx::FromRow)]
pub(crate) struct RuleRow {
    id: i64,
    matter_pattern: String,
    area_code: String,
    department_code: String,
    priority: i64,
    auto_dispatch: bool,
    enabled: bool,
    note: Option<String>,
}

impl From<RuleRow> for DispatchRule {
    fn from(r: RuleRow) -> Self {
        DispatchRule {
            id: r.id,
            matter_pattern: r.matter_pattern,
            area_code: r.area_code,
            department_code: r.department_code,
            priority: r.priority,
            auto_dispatch: r.auto_dispatch,
            enabled: r.enabled,
            note: r.note,
        }
    }
}

pub(crate) const ATTACHMENT_COLUMNS: &str = "t.id, t.case_id, t.file_name, t.content_type, \
     t.size, t.sha256, t.storage_key, t.uploaded_by, t.created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct AttachmentRow {
    id: String,
    case_id: Option<i64>,
    file_name: String,
    content_type: String,
    size: i64,
    sha256: String,
    storage_key: String,
    uploaded_by: Option<i64>,
    created_at: DateTime<Utc>,
}

impl From<AttachmentRow> for AttachmentMeta {
    fn from(r: AttachmentRow) -> Self {
        AttachmentMeta {
            id: r.id,
            case_id: r.case_id,
            file_name: r.file_name,
            content_type: r.content_type,
            size: r.size,
            sha256: r.sha256,
            storage_key: r.storage_key,
            uploaded_by: r.uploaded_by,
            created_at: r.created_at,
        }
    }
}

pub(crate) const WEBHOOK_COLUMNS: &str =
    "t.id, t.url, t.secret, t.event_filter, t.enabled, t.created_by";

#[derive(sqlx::FromRow)]
pub(crate) struct WebhookRow {
    id: i64,
    url: String,
    secret: String,
    event_filter: String,
    enabled: bool,
    created_by: Option<i64>,
}

impl From<WebhookRow> for Webhook {
    fn from(r: WebhookRow) -> Self {
        Webhook {
            id: r.id,
            url: r.url,
            secret: r.secret,
            event_filter: r.event_filter,
            enabled: r.enabled,
            created_by: r.created_by,
        }
    }
}

pub(crate) const DELIVERY_COLUMNS: &str = "t.id, t.webhook_id, t.event, t.attempts, \
     t.next_attempt_at, t.delivered_at, t.last_error";

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: i64,
    webhook_id: i64,
    event: Json<serde_json::Value>,
    attempts: i64,
    next_attempt_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl From<DeliveryRow> for WebhookDelivery {
    fn from(r: DeliveryRow) -> Self {
        WebhookDelivery {
            id: r.id,
            webhook_id: r.webhook_id,
            event: r.event.0,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            delivered_at: r.delivered_at,
            last_error: r.last_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollup_plans_split_periods_into_whole_days_and_edges() {
        use chrono::TimeZone;
        let at = |d, h| Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap();
        let open = RollupPlan::new(None, None);
        assert_eq!(open.days, Some((None, None)));
        assert!(open.raw.is_empty());
        let aligned = RollupPlan::new(Some(at(1, 0)), Some(at(3, 0)));
        assert_eq!(
            aligned.days,
            Some((Some("2026-03-01".into()), Some("2026-03-03".into())))
        );
        assert!(aligned.raw.is_empty());
        // 16:00 UTC = midnight in Asia/Shanghai: two partial days from the raw rows
        let local = RollupPlan::new(Some(at(1, 16)), Some(at(4, 16)));
        assert_eq!(
            local.days,
            Some((Some("2026-03-02".into()), Some("2026-03-04".into())))
        );
        assert_eq!(
            local.raw,
            vec![
                (Some(at(1, 16)), Some(at(2, 0))),
                (Some(at(4, 0)), Some(at(4, 16)))
            ]
        );
        // within one day: raw rows only, counted once
        let inside = RollupPlan::new(Some(at(1, 3)), Some(at(1, 9)));
        assert_eq!(inside.days, None);
        assert_eq!(inside.raw, vec![(Some(at(1, 3)), Some(at(1, 9)))]);
        let next_midnight = RollupPlan::new(Some(at(1, 3)), Some(at(2, 0)));
        assert_eq!(next_midnight.days, None);
        assert_eq!(next_midnight.raw.len(), 1);
    }

    #[test]
    fn placeholders_are_anonymous_on_request() {
        assert_eq!(
            insert_sql("t", &["a", "b"], 2, false),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            insert_sql("t", &["a", "b"], 2, true),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
    }

    #[test]
    fn counters_round_trip_through_columns() {
        let mut v = [0u64; 27];
        for (i, x) in v.iter_mut().enumerate() {
            *x = i as u64 + 1;
        }
        let c = counters_from(v);
        assert_eq!(counter_values(&c), v);
        assert_eq!(c.closed_in_time, 27);
        assert_eq!(c.reported, 1);
    }

    #[test]
    fn enum_names_round_trip() {
        assert_eq!(
            parse_name::<CaseState>("awaiting_check").unwrap(),
            CaseState::AwaitingCheck
        );
        assert!(parse_name::<Source>("carrier_pigeon").is_err());
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
    }
}
