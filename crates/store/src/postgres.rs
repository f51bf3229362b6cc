//! The PostgreSQL store: a city's server, several chengyun nodes may share it.

use crate::shared::impl_store;
use crate::sql::map_sqlx_error;
use crate::{Backend, Result, StoreError};
use chengyun_domain::Invalid;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long to wait for a connection before saying the database is unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A store on a PostgreSQL database (optionally inside one schema).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// What to name in errors, e.g. `PostgreSQL at 127.0.0.1:5432/chengyun`.
    target: String,
    schema: Option<String>,
}

impl PgStore {
    /// Rows per multi-row upsert: wide statements save round trips
    /// (100k grids ≈ 2 s at 1,000 rows per statement).
    const UPSERT_ROWS: usize = 1_000;

    /// Connects to `url` (`postgres://user:password@host:port/database`).
    /// Call [`Store::migrate`](crate::Store::migrate) next.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = parse_url(url)?;
        Self::with_options(options, None).await
    }

    /// Connects with every pooled connection's `search_path` set to `schema`,
    /// creating the schema if it is missing: tables (and the migrations table)
    /// then live in that schema alone. Tests use this for isolation.
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<Self> {
        let ok = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !schema.as_bytes()[0].is_ascii_digit();
        if !ok {
            return Err(Invalid::new(
                "schema",
                format!(
                    "schema name {schema:?} must be 1-63 characters of a-z, 0-9 and '_', not starting with a digit"
                ),
            )
            .into());
        }
        let options = parse_url(url)?;
        let target = describe(&options);
        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(|e| unavailable(&target, e))?;
        // The name was checked above to be a plain identifier.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
        )))
        .execute(&mut conn)
        .await
        .map_err(|e| map_sqlx_error(e, &target, HINT))?;
        conn.close().await.ok();
        let options = options.options([("search_path", schema)]);
        Self::with_options(options, Some(schema.to_string())).await
    }

    async fn with_options(options: PgConnectOptions, schema: Option<String>) -> Result<Self> {
        let target = match &schema {
            Some(s) => format!("{} (schema {s})", describe(&options)),
            None => describe(&options),
        };
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| unavailable(&target, e))?;
        Ok(Self {
            pool,
            target,
            schema,
        })
    }

    /// The connection pool, for callers that need a query the trait lacks.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema this store was opened in by [`PgStore::connect_in_schema`].
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Drops the schema this store was opened in, with everything in it, and
    /// closes the pool. For tests; refuses a store opened without a schema.
    pub async fn drop_schema(self) -> Result<()> {
        let Some(schema) = self.schema.clone() else {
            return Err(Invalid::new(
                "schema",
                "this store was not opened with connect_in_schema; refusing to drop anything",
            )
            .into());
        };
        // The name was checked in connect_in_schema to be a plain identifier.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        )))
        .execute(&self.pool)
        .await
        .map_err(|e| self.db_err(e))?;
        self.pool.close().await;
        Ok(())
    }

    /// Where a single-statement write runs (outside `begin_write`): the one
    /// pool (PostgreSQL runs writers side by side).
    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.pool.begin().await.map_err(|e| self.db_err(e))
    }

    fn db_err(&self, e: sqlx::Error) -> StoreError {
        map_sqlx_error(e, &self.target, HINT)
    }
}

const HINT: &str = "check that PostgreSQL is running and reachable there, and that the URL's user, password and database are right";

fn parse_url(url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url).map_err(|e| {
        Invalid::new(
            "database_url",
            format!(
                "not a valid PostgreSQL URL ({e}); use postgres://user:password@host:5432/database"
            ),
        )
        .into()
    })
}

fn describe(options: &PgConnectOptions) -> String {
    format!(
        "PostgreSQL at {}:{}/{} as user {}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("(default database)"),
        options.get_username()
    )
}

/// Any failure while connecting means the database is not usable from here.
fn unavailable(target: &str, e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot connect to {target}: {e}; {HINT}"))
}

impl_store!(PgStore, sqlx::Postgres, Backend::Postgres, MIGRATOR);
crate::case_shared::impl_case_store!(
    PgStore,
    sqlx::Postgres,
    "to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
);
crate::iot_shared::impl_iot_store!(
    PgStore,
    sqlx::Postgres,
    "::jsonb",
    crate::iot_shared::POSTGRES_DOWNSAMPLE,
    crate::iot_shared::POSTGRES_TELEMETRY_ROWS
);
