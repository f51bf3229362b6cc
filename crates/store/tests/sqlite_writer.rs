//! SQLite runs one writer at a time. `SqliteStore` gives writes their own
//! connection, so writers waiting for SQLite's lock queue for it and leave the
//! reader connections free: the big screen's reads answer while device
//! telemetry, alarms and case actions wait to write. (Before, each waiting
//! writer held a pool connection in SQLite's busy handler; nine of them
//! starved every reader for up to the 30 s busy timeout.)

use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::page::PageRequest;
use chengyun_store::{AuditQuery, SqliteStore, Store};
use sqlx::Connection;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_writers_leave_the_readers_free_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chengyun.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();

    // Another process holds SQLite's write lock.
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();

    // More writers than the store has reader connections (8).
    let writes: Vec<_> = (0..12)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                let event =
                    AuditEvent::new(&Actor::system("test"), "test.write", "row", i.to_string());
                s.record_audit(&event).await
            })
        })
        .collect();
    // Let every writer reach the queue (or SQLite's busy handler).
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Readers answer while all of them wait. A liveness check, not a timing
    // target: starved readers would wait for the 30 s acquire timeout.
    let reads = async {
        for _ in 0..20 {
            store.count_users().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(10), reads)
        .await
        .expect("reads starved by writers waiting for the write lock");
    assert!(
        writes.iter().all(|w| !w.is_finished()),
        "a write finished while another process held the write lock"
    );

    // The lock is released: every queued write lands.
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    for w in writes {
        w.await.unwrap().unwrap();
    }
    let q = AuditQuery {
        action_prefix: Some("test.write".into()),
        ..AuditQuery::default()
    };
    let page = store
        .list_audit(&q, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 12);
}
