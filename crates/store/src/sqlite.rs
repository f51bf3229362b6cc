//! The SQLite store: one file in the data dir, WAL journal, foreign keys on.
//! The embedded default; needs no server.

use crate::shared::impl_store;
use crate::sql::map_sqlx_error;
use crate::{Backend, Result, StoreError};
use chengyun_domain::Invalid;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a writer waits for another writer's transaction before giving up.
/// Imports of a whole city's grids hold the write lock for seconds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A store on an SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers (WAL: they never wait for the writer).
    pool: SqlitePool,
    /// The one write connection. SQLite runs one writer at a time; a writer
    /// waiting for it here holds no connection, so readers (the big screen,
    /// the workbench) keep all of `pool` while device telemetry, alarms and
    /// case actions queue for the write lock. An in-memory database has one
    /// connection, shared by both.
    writer: SqlitePool,
    /// What to name in errors, e.g. `SQLite database /var/lib/chengyun/chengyun.db`.
    target: String,
}

impl SqliteStore {
    /// Rows per multi-row upsert. Measured on 100k grids: 100 rows per
    /// statement ≈ 55k rows/s, 1,000 rows ≈ 12k rows/s (binding by parameter
    /// name gets slow in very wide statements), 1 row ≈ 23k rows/s.
    const UPSERT_ROWS: usize = 100;

    /// Opens (creating it and its parent directories if needed) the database
    /// file at `path`. Call [`Store::migrate`](crate::Store::migrate) next.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot create the directory {} for the SQLite database: {e}; check that the data directory is writable",
                    parent.display()
                ))
            })?;
        }
        let options = SqliteConnectOptions::new().filename(path);
        Self::with_options(
            options,
            format!("SQLite database {}", path.display()),
            false,
        )
        .await
    }

    /// Opens a database from an `sqlite:` URL, e.g. `sqlite:///var/lib/chengyun/db.sqlite`
    /// or `sqlite::memory:`.
    pub async fn open_url(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url).map_err(|e| {
            Invalid::new(
                "database_url",
                format!("{url:?} is not a valid SQLite URL ({e}); use sqlite:///path/to/file.db"),
            )
        })?;
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        if !memory
            && let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot create the directory {} for the SQLite database: {e}; check that it is writable",
                    parent.display()
                ))
            })?;
        }
        let target = format!("SQLite database {}", options.get_filename().display());
        Self::with_options(options, target, memory).await
    }

    /// A private in-memory database, for quick tests. It lives as long as the
    /// store (one connection that never expires).
    pub async fn memory() -> Result<Self> {
        let options = SqliteConnectOptions::new().in_memory(true);
        Self::with_options(options, "in-memory SQLite database".into(), true).await
    }

    async fn with_options(
        options: SqliteConnectOptions,
        target: String,
        memory: bool,
    ) -> Result<Self> {
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal)
            // 16 MB of page cache per connection (SQLite's default is 2 MB): the
            // telemetry writer's index pages stay in memory; with the pool's 8
            // connections the caches are bounded at 128 MB.
            .pragma("cache_size", "-16384");
        let options = if memory {
            options
        } else {
            options.journal_mode(SqliteJournalMode::Wal)
        };
        // WAL lets readers run beside the one writer; an in-memory database
        // exists per connection, so it gets exactly one that is never recycled.
        let pool = if memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(8)
        };
        let unavailable = |e: sqlx::Error| {
            StoreError::Unavailable(format!(
                "cannot open the {target}: {e}; check that the path exists, is writable and is an SQLite file"
            ))
        };
        let pool = pool
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        let writer = if memory {
            pool.clone()
        } else {
            // Writers queue for this one connection (in order, up to
            // BUSY_TIMEOUT) instead of each holding a pool connection while
            // SQLite's busy handler retries the lock.
            SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(BUSY_TIMEOUT)
                .connect_with(options)
                .await
                .map_err(unavailable)?
        };
        Ok(Self {
            pool,
            writer,
            target,
        })
    }

    /// The connection pool, for callers that need a query the trait lacks.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Writers take the lock up front (`BEGIN IMMEDIATE`), so a writer that
    /// finds another one waits `busy_timeout` instead of failing on upgrade.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.db_err(e))
    }

    /// Where a single-statement write runs (outside `begin_write`).
    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn db_err(&self, e: sqlx::Error) -> StoreError {
        map_sqlx_error(
            e,
            &self.target,
            "check that the file exists, is writable and that the disk is not full",
        )
    }
}

impl_store!(SqliteStore, sqlx::Sqlite, Backend::Sqlite, MIGRATOR);
crate::case_shared::impl_case_store!(SqliteStore, sqlx::Sqlite, "SUBSTR(t.at, 1, 10)");
crate::iot_shared::impl_iot_store!(
    SqliteStore,
    sqlx::Sqlite,
    "",
    crate::iot_shared::SQLITE_DOWNSAMPLE,
    crate::iot_shared::SQLITE_TELEMETRY_ROWS
);
