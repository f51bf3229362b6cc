//! A database outage, for real: the API runs on PostgreSQL reached through a
//! TCP proxy that the test cuts and restores. `/readyz` must say 503
//! `database_unavailable` while the database is unreachable, requests that
//! need the database must fail with the error shape (not hang, not panic),
//! and everything must work again once the database is back.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chengyun_api::{ApiConfig, AppState};
use chengyun_store::{DynStore, PgStore, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt;

fn pg_url() -> String {
    std::env::var("CHENGYUN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Forwards connections to `target` while `up`; when cut, drops every live
/// connection and refuses new ones.
struct ChaosProxy {
    addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    cut: Arc<Notify>,
}

impl ChaosProxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(Notify::new());
        let (u, c) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !u.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let c = c.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = c.notified() => {}
                    }
                });
            }
        });
        ChaosProxy { addr, up, cut }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn status(app: &axum::Router, path: &str) -> (StatusCode, serde_json::Value) {
    let resp = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_database_through_an_outage() {
    let url = pg_url();
    let rest = url.split("://").nth(1).expect("a postgres:// URL");
    let after_at = rest.rsplit('@').next().unwrap();
    let host_port = after_at.split('/').next().unwrap().to_string();
    let proxy = ChaosProxy::start(host_port.clone()).await;
    let proxied = url.replacen(&host_port, &proxy.addr.to_string(), 1);
    let schema = format!("cy_outage_{}", std::process::id());
    let pg = PgStore::connect_in_schema(&proxied, &schema).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {url} is needed for this test (start it, or set CHENGYUN_TEST_DATABASE_URL): {e}")
    });
    pg.migrate().await.unwrap();
    let store: DynStore = Arc::new(pg);
    let state = AppState::new(store.clone(), ApiConfig::default())
        .await
        .unwrap();
    let app = chengyun_api::router(state);

    assert_eq!(status(&app, "/readyz").await.0, StatusCode::OK);

    proxy.cut();
    let (s, body) = tokio::time::timeout(Duration::from_secs(40), status(&app, "/readyz"))
        .await
        .expect("/readyz must answer during an outage, not hang");
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "database_unavailable", "{body}");
    // The process itself is fine.
    assert_eq!(status(&app, "/healthz").await.0, StatusCode::OK);

    proxy.restore();
    let mut ok = false;
    for _ in 0..50 {
        if status(&app, "/readyz").await.0 == StatusCode::OK {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ok, "/readyz must recover once the database is back");

    // Clean up the schema directly (not through the proxy).
    let direct = PgStore::connect_in_schema(&url, &schema).await.unwrap();
    direct.drop_schema().await.unwrap();
}
