//! The harness every store suite shares: each case is written once against
//! `&dyn Database` (or `&dyn Store`) and `conformance!` runs it on a fresh
//! SQLite file and on a fresh PostgreSQL schema `cy_t_<random>`, dropped
//! afterwards even when the case panics.
//!
//! PostgreSQL: `CHENGYUN_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`. An unreachable server fails
//! the tests (with instructions); they never skip silently.

use chengyun_store::{Database, PgStore, SqliteStore, Store};

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub enum Harness {
    Sqlite(SqliteStore, tempfile::TempDir),
    Postgres(PgStore),
}

impl Harness {
    pub async fn sqlite() -> Harness {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = SqliteStore::open(&dir.path().join("data/chengyun.db"))
            .await
            .expect("open SQLite");
        store.migrate().await.expect("migrate SQLite");
        Harness::Sqlite(store, dir)
    }

    pub async fn postgres() -> Harness {
        let url =
            std::env::var("CHENGYUN_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into());
        let schema = format!("cy_t_{}", uuid::Uuid::new_v4().simple());
        let store = match PgStore::connect_in_schema(&url, &schema).await {
            Ok(s) => s,
            Err(e) => panic!(
                "the PostgreSQL conformance tests need a server at {url}: {e}\n\
                 Start one (e.g. `pg_ctlcluster 15 main start`, or \
                 `docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15`) \
                 or set CHENGYUN_TEST_DATABASE_URL to a server where the user may create schemas."
            ),
        };
        store.migrate().await.expect("migrate PostgreSQL");
        Harness::Postgres(store)
    }

    pub fn store(&self) -> &dyn Database {
        match self {
            Harness::Sqlite(s, _) => s,
            Harness::Postgres(s) => s,
        }
    }

    pub async fn finish(self) {
        match self {
            Harness::Sqlite(store, dir) => {
                store.pool().close().await;
                drop(dir);
            }
            Harness::Postgres(store) => store.drop_schema().await.expect("drop the test schema"),
        }
    }
}

/// Runs a case on a fresh store and cleans up even when the case panics,
/// then re-raises the panic.
#[macro_export]
macro_rules! run_case {
    ($harness:expr, $case:path) => {{
        let harness = $harness;
        let outcome =
            futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe($case(harness.store())))
                .await;
        harness.finish().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }};
}

/// One test per case and backend: `mod sqlite { fn case() }`, `mod postgres { … }`.
#[macro_export]
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::run_case!($crate::support::Harness::sqlite().await, super::$case);
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::run_case!($crate::support::Harness::postgres().await, super::$case);
                }
            )*
        }
    };
}
