//! Backend-neutral pieces of SQL: bound arguments, `WHERE` builders with
//! numbered placeholders (both SQLite and PostgreSQL accept `$1`), multi-row
//! upsert statements, prefix ranges, and connection-error wording.
//!
//! Only structural text (column and table names from `&'static str`, placeholder
//! numbers) is ever formatted into SQL; every value travels as a bound [`Arg`].

use crate::StoreError;
use chengyun_domain::Invalid;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;
use std::hash::Hash;

/// A value to bind. Options bind as typed NULLs so PostgreSQL can infer types.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(bool),
    Time(Option<DateTime<Utc>>),
    Date(Option<NaiveDate>),
    /// JSON: TEXT on SQLite, JSONB on PostgreSQL.
    Json(Option<serde_json::Value>),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_string()))
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_string))
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<f64> for Arg {
    fn from(v: f64) -> Self {
        Arg::Real(Some(v))
    }
}

impl From<Option<f64>> for Arg {
    fn from(v: Option<f64>) -> Self {
        Arg::Real(v)
    }
}

impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

impl From<DateTime<Utc>> for Arg {
    fn from(v: DateTime<Utc>) -> Self {
        Arg::Time(Some(v))
    }
}

impl From<Option<DateTime<Utc>>> for Arg {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Arg::Time(v)
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl From<NaiveDate> for Arg {
    fn from(v: NaiveDate) -> Self {
        Arg::Date(Some(v))
    }
}

impl From<Option<NaiveDate>> for Arg {
    fn from(v: Option<NaiveDate>) -> Self {
        Arg::Date(v)
    }
}

/// Binds a list of [`Arg`]s to a `query`, `query_as` or `query_scalar`.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                $crate::sql::Arg::Text(v) => q.bind(v),
                $crate::sql::Arg::Int(v) => q.bind(v),
                $crate::sql::Arg::Real(v) => q.bind(v),
                $crate::sql::Arg::Bool(v) => q.bind(v),
                $crate::sql::Arg::Time(v) => q.bind(v),
                $crate::sql::Arg::Date(v) => q.bind(v),
                $crate::sql::Arg::Json(v) => q.bind(v.map(sqlx::types::Json)),
            };
        }
        q
    }};
}
pub(crate) use bind_args;

/// Conditions joined by `AND`, with their arguments numbered `$1…` in order.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    conds: Vec<String>,
    pub(crate) args: Vec<Arg>,
}

impl Filter {
    /// Adds a bound argument and answers its placeholder.
    pub(crate) fn arg(&mut self, value: impl Into<Arg>) -> String {
        self.args.push(value.into());
        format!("${}", self.args.len())
    }

    pub(crate) fn eq(&mut self, column: &'static str, value: impl Into<Arg>) {
        let p = self.arg(value);
        self.conds.push(format!("{column} = {p}"));
    }

    /// A condition built by the caller from placeholders of [`Filter::arg`].
    pub(crate) fn raw(&mut self, condition: String) {
        self.conds.push(condition);
    }

    /// `column op value`, e.g. `id < $3` for a descending cursor.
    pub(crate) fn cmp(&mut self, column: &'static str, op: &'static str, value: impl Into<Arg>) {
        let p = self.arg(value);
        self.conds.push(format!("{column} {op} {p}"));
    }

    /// Rows whose `column` starts with `prefix`, as a range so the b-tree index
    /// on the column answers it on both backends (no LIKE escaping needed).
    pub(crate) fn prefix(&mut self, column: &'static str, prefix: &str) {
        if prefix.is_empty() {
            return;
        }
        let lo = self.arg(prefix);
        match prefix_upper_bound(prefix) {
            Some(hi) => {
                let hi = self.arg(hi);
                self.conds
                    .push(format!("{column} >= {lo} AND {column} < {hi}"));
            }
            None => self.conds.push(format!("{column} >= {lo}")),
        }
    }

    /// ` WHERE a AND b`, or nothing.
    pub(crate) fn where_sql(&self) -> String {
        if self.conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conds.join(" AND "))
        }
    }
}

/// The smallest string greater than every string that starts with `prefix`
/// (byte-wise, which is code-point order in UTF-8); `None` if there is none.
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Most parameters one statement may carry: SQLite allows 32766, PostgreSQL
/// 65535; staying well below keeps statements small enough to prepare quickly.
const MAX_PARAMS_PER_STATEMENT: usize = 8_000;

/// A multi-row `INSERT … ON CONFLICT (key) DO UPDATE` for one table.
pub(crate) struct Upsert {
    pub(crate) table: &'static str,
    pub(crate) columns: &'static [&'static str],
    /// The conflict target, e.g. `code` or `kind, code`.
    pub(crate) key: &'static [&'static str],
}

impl Upsert {
    /// Rows per statement: at most `max_rows` (a per-backend sweet spot) and
    /// never more parameters than [`MAX_PARAMS_PER_STATEMENT`].
    pub(crate) fn rows_per_statement(&self, max_rows: usize) -> usize {
        (MAX_PARAMS_PER_STATEMENT / self.columns.len()).clamp(1, max_rows.max(1))
    }

    /// The statement for `rows` rows. Full chunks share one text, so the
    /// prepared statement is reused from the connection's cache.
    pub(crate) fn sql(&self, rows: usize) -> String {
        let n = self.columns.len();
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            self.table,
            self.columns.join(", ")
        );
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..n {
                if c > 0 {
                    sql.push_str(", ");
                }
                sql.push('$');
                sql.push_str(&(r * n + c + 1).to_string());
            }
            sql.push(')');
        }
        let updates: Vec<String> = self
            .columns
            .iter()
            .filter(|c| !self.key.contains(c))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        sql.push_str(&format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            self.key.join(", "),
            updates.join(", ")
        ));
        sql
    }
}

/// `($1, $2, …, $n)` for an `IN` list.
pub(crate) fn in_list(n: usize) -> String {
    let items: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    format!("({})", items.join(", "))
}

/// Keeps the last occurrence of each key, in input order, with its index in
/// `items`: a batch that names a code twice means the later row, and one
/// statement must not touch the same row twice (PostgreSQL refuses that).
pub(crate) fn last_wins<T, K: Eq + Hash>(items: &[T], key: impl Fn(&T) -> K) -> Vec<(usize, &T)> {
    let mut last: HashMap<K, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        last.insert(key(item), i);
    }
    items
        .iter()
        .enumerate()
        .filter(|(i, item)| last.get(&key(item)) == Some(i))
        .collect()
}

/// Time as stored: microsecond precision, the finest both backends keep, so a
/// value reads back equal to what was written on either.
pub(crate) fn stored_time(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

pub(crate) fn now() -> DateTime<Utc> {
    stored_time(Utc::now())
}

/// A cursor that must be an integer id.
pub(crate) fn id_cursor(after: &str) -> Result<i64, StoreError> {
    after.parse::<i64>().map_err(|_| {
        Invalid::new(
            "after",
            format!("cursor {after:?} is not an id; pass the `next` value of the previous page"),
        )
        .into()
    })
}

/// Maps an error that is not about the data (I/O, pool, TLS) to
/// `Unavailable` naming the database; everything else to `Database`, except
/// constraint violations, which say which rule broke.
pub(crate) fn map_sqlx_error(e: sqlx::Error, target: &str, hint: &str) -> StoreError {
    match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(format!("{target}: {e}; {hint}")),
        sqlx::Error::Database(db) => match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation => StoreError::Conflict(format!(
                "a row with this key already exists ({})",
                db.message()
            )),
            sqlx::error::ErrorKind::ForeignKeyViolation => Invalid::new(
                "",
                format!("a referenced row does not exist ({})", db.message()),
            )
            .into(),
            sqlx::error::ErrorKind::NotNullViolation | sqlx::error::ErrorKind::CheckViolation => {
                Invalid::new(
                    "",
                    format!("a stored value breaks a rule ({})", db.message()),
                )
                .into()
            }
            _ => StoreError::Database(format!("{target}: {}", db.message())),
        },
        _ => StoreError::Database(format!("{target}: {e}")),
    }
}

/// Whether the error is a unique-key violation (to phrase it per call site).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound("3606").as_deref(), Some("3607"));
        assert_eq!(prefix_upper_bound("user.").as_deref(), Some("user/"));
        assert_eq!(prefix_upper_bound("36069").as_deref(), Some("3606:"));
        assert_eq!(prefix_upper_bound(""), None);
        let max = char::MAX.to_string();
        assert_eq!(prefix_upper_bound(&format!("a{max}")).as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound(&max), None);
        // "%" and "_" are plain characters here, not wildcards
        assert_eq!(prefix_upper_bound("36_").as_deref(), Some("36`"));
    }

    #[test]
    fn filter_numbers_placeholders_in_order() {
        let mut f = Filter::default();
        assert_eq!(f.where_sql(), "");
        f.eq("t.level", "street");
        f.prefix("t.code", "360602");
        f.cmp("t.code", ">", "360602001");
        assert_eq!(
            f.where_sql(),
            " WHERE t.level = $1 AND t.code >= $2 AND t.code < $3 AND t.code > $4"
        );
        assert_eq!(f.args.len(), 4);
    }

    #[test]
    fn upsert_statement_shape() {
        let u = Upsert {
            table: "local_classes",
            columns: &["kind", "code", "name"],
            key: &["kind", "code"],
        };
        assert_eq!(
            u.sql(2),
            "INSERT INTO local_classes (kind, code, name) VALUES ($1, $2, $3), ($4, $5, $6) \
             ON CONFLICT (kind, code) DO UPDATE SET name = excluded.name"
        );
        assert_eq!(u.rows_per_statement(100), 100);
        assert!(u.rows_per_statement(100_000) * 3 <= MAX_PARAMS_PER_STATEMENT);
    }

    #[test]
    fn last_occurrence_wins() {
        let rows = [("a", 1), ("b", 2), ("a", 3)];
        let kept = last_wins(&rows, |r| r.0);
        assert_eq!(kept, vec![(1, &("b", 2)), (2, &("a", 3))]);
    }

    #[test]
    fn bad_cursor_names_the_field() {
        match id_cursor("abc") {
            Err(StoreError::Invalid(v)) => assert_eq!(v.problems[0].field, "after"),
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert_eq!(id_cursor("42").ok(), Some(42));
    }
}
