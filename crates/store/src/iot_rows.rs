//! IoT rows as the database holds them and their conversion to domain types.
//! Reading never panics: a stored value that no longer parses becomes a
//! `StoreError::Database` naming the row and the column.

use crate::StoreError;
use crate::iot::{
    CommandRecord, CommandStatus, LatestState, StoredAlarm, StoredGrant, TelemetryBucket,
};
use chengyun_domain::iot::{
    Alarm, Device, EventOccurrence, GeoPoint, Grant, GrantTarget, Telemetry, Value,
};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::types::Json;
use std::collections::BTreeMap;
use std::fmt::Display;

fn corrupt(kind: &str, key: &str, column: &str, e: impl Display) -> StoreError {
    StoreError::Database(format!(
        "stored {kind} {key:?} is corrupt: column {column}: {e}"
    ))
}

pub(crate) fn from_json<T: DeserializeOwned>(
    v: serde_json::Value,
    kind: &str,
    key: &str,
    column: &str,
) -> Result<T, StoreError> {
    serde_json::from_value(v).map_err(|e| corrupt(kind, key, column, e))
}

/// JSON text for a bound parameter (cast to JSONB on PostgreSQL by the SQL).
pub(crate) fn json_text<T: serde::Serialize>(v: &T, field: &str) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| {
        chengyun_domain::Invalid::new(field, format!("cannot be written as JSON: {e}")).into()
    })
}

/// Microseconds since the epoch, as the telemetry, alarm and command tables order by.
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `INSERT INTO table (columns) VALUES (…), (…)` for `rows` rows, with `cast`
/// appended to the placeholders of the columns in `json_columns`.
/// `anonymous` writes `?` placeholders instead of `$n`: sqlx binds SQLite's
/// `$n` by looking each parameter's name up (`sqlite3_bind_parameter_name`,
/// linear in the parameter count), which made a 3,000-parameter insert cost
/// ~38 µs per row in the telemetry benchmark; anonymous ones bind by position.
pub(crate) fn insert_sql(
    table: &str,
    columns: &[&str],
    json_columns: &[&str],
    cast: &str,
    rows: usize,
    anonymous: bool,
) -> String {
    let n = columns.len();
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for (c, name) in columns.iter().enumerate() {
            if c > 0 {
                sql.push_str(", ");
            }
            if anonymous {
                sql.push('?');
            } else {
                sql.push('$');
                sql.push_str(&(r * n + c + 1).to_string());
            }
            if json_columns.contains(name) {
                sql.push_str(cast);
            }
        }
        sql.push(')');
    }
    sql
}

#[derive(sqlx::FromRow)]
pub(crate) struct BodyRow {
    pub(crate) key: String,
    pub(crate) body: Json<serde_json::Value>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct GrantRow {
    id: i64,
    target_kind: String,
    target: String,
    grantee_department: String,
    permissions: Json<serde_json::Value>,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<GrantRow> for StoredGrant {
    type Error = StoreError;
    fn try_from(r: GrantRow) -> Result<Self, StoreError> {
        let key = r.id.to_string();
        let target = match r.target_kind.as_str() {
            "device" => GrantTarget::Device(r.target),
            "product" => GrantTarget::Product(r.target),
            other => return Err(corrupt("grant", &key, "target_kind", other)),
        };
        Ok(StoredGrant {
            id: r.id,
            grant: Grant {
                target,
                grantee_department: r.grantee_department,
                permissions: from_json(r.permissions.0, "grant", &key, "permissions")?,
            },
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LatestRow {
    device_id: String,
    vals: Json<serde_json::Value>,
    lon: Option<f64>,
    lat: Option<f64>,
    last_seen: DateTime<Utc>,
    online: bool,
}

impl TryFrom<LatestRow> for LatestState {
    type Error = StoreError;
    fn try_from(r: LatestRow) -> Result<Self, StoreError> {
        Ok(LatestState {
            values: from_json(r.vals.0, "latest state", &r.device_id, "vals")?,
            location: point(r.lon, r.lat),
            device_id: r.device_id,
            last_seen: r.last_seen,
            online: r.online,
        })
    }
}

fn point(lon: Option<f64>, lat: Option<f64>) -> Option<GeoPoint> {
    match (lon, lat) {
        (Some(lon), Some(lat)) => Some(GeoPoint::new(lon, lat)),
        _ => None,
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TelemetryRow {
    id: i64,
    device_id: String,
    at_us: i64,
    vals: Json<serde_json::Value>,
    events: Option<Json<serde_json::Value>>,
    lon: Option<f64>,
    lat: Option<f64>,
}

impl TryFrom<TelemetryRow> for Telemetry {
    type Error = StoreError;
    fn try_from(r: TelemetryRow) -> Result<Self, StoreError> {
        let key = r.id.to_string();
        let values: BTreeMap<String, Value> = from_json(r.vals.0, "telemetry", &key, "vals")?;
        let events: Vec<EventOccurrence> = match r.events {
            Some(e) => from_json(e.0, "telemetry", &key, "events")?,
            None => Vec::new(),
        };
        Ok(Telemetry {
            device_id: r.device_id,
            at: from_micros(r.at_us),
            values,
            events,
            location: point(r.lon, r.lat),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct BucketRow {
    bucket: i64,
    prop: String,
    n: i64,
    avg: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    last: Option<f64>,
}

impl From<BucketRow> for TelemetryBucket {
    fn from(r: BucketRow) -> Self {
        TelemetryBucket {
            start: from_micros(r.bucket),
            property: r.prop,
            count: r.n,
            avg: r.avg.unwrap_or(f64::NAN),
            min: r.min.unwrap_or(f64::NAN),
            max: r.max.unwrap_or(f64::NAN),
            last: r.last.unwrap_or(f64::NAN),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AlarmRow {
    id: String,
    owner_department: String,
    case_id: Option<i64>,
    body: Json<serde_json::Value>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<AlarmRow> for StoredAlarm {
    type Error = StoreError;
    fn try_from(r: AlarmRow) -> Result<Self, StoreError> {
        let alarm: Alarm = from_json(r.body.0, "alarm", &r.id, "body")?;
        Ok(StoredAlarm {
            alarm,
            owner_department: r.owner_department,
            case_id: r.case_id,
            updated_at: r.updated_at,
        })
    }
}

pub(crate) const ALARM_COLUMNS: &str = "t.id, t.owner_department, t.case_id, t.body, t.updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct CommandRow {
    id: i64,
    device_id: String,
    command: String,
    params: Json<serde_json::Value>,
    actor: String,
    status: String,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    deadline_at: DateTime<Utc>,
    error: Option<String>,
}

pub(crate) const COMMAND_COLUMNS: &str = "t.id, t.device_id, t.command, t.params, t.actor, t.status, \
     t.created_at, t.sent_at, t.finished_at, t.deadline_at, t.error";

impl TryFrom<CommandRow> for CommandRecord {
    type Error = StoreError;
    fn try_from(r: CommandRow) -> Result<Self, StoreError> {
        let key = r.id.to_string();
        let status = CommandStatus::parse(&r.status)
            .ok_or_else(|| corrupt("command", &key, "status", &r.status))?;
        Ok(CommandRecord {
            id: r.id,
            params: from_json(r.params.0, "command", &key, "params")?,
            device_id: r.device_id,
            command: r.command,
            actor: r.actor,
            status,
            created_at: r.created_at,
            sent_at: r.sent_at,
            finished_at: r.finished_at,
            deadline_at: r.deadline_at,
            error: r.error,
        })
    }
}

pub(crate) fn device_from(row: BodyRow) -> Result<Device, StoreError> {
    from_json(row.body.0, "device", &row.key, "body")
}

impl TryFrom<BodyRow> for Device {
    type Error = StoreError;
    fn try_from(row: BodyRow) -> Result<Self, StoreError> {
        device_from(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_statement_casts_json_columns() {
        assert_eq!(
            insert_sql("t", &["a", "j"], &["j"], "::jsonb", 2, false),
            "INSERT INTO t (a, j) VALUES ($1, $2::jsonb), ($3, $4::jsonb)"
        );
        assert_eq!(
            insert_sql("t", &["a"], &[], "", 1, false),
            "INSERT INTO t (a) VALUES ($1)"
        );
        assert_eq!(
            insert_sql("t", &["a", "b"], &[], "", 2, true),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
    }

    #[test]
    fn micros_round_trip() {
        let t = DateTime::from_timestamp_micros(1_772_352_000_123_456).unwrap();
        assert_eq!(from_micros(micros(t)), t);
    }
}
