//! `chengyun serve`: the platform's HTTP server on the configured database.

use super::open_store;
use crate::config::Config;
use anyhow::Context;
use chengyun_api::{ApiConfig, AppState};
use std::time::Duration;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let admin_password = std::env::var("CHENGYUN_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    if let Some(generated) = chengyun_services::auth::ensure_admin(store.as_ref(), admin_password)
        .await
        .context("cannot create the first admin account")?
    {
        println!("created user admin with password: {generated}");
        println!("(shown once; change it with `chengyun user passwd admin`)");
    }
    serve_store(&config, store).await
}

/// Serves the API and the web on an opened, migrated store until Ctrl-C.
pub async fn serve_store(config: &Config, store: chengyun_store::DynStore) -> anyhow::Result<()> {
    chengyun_api::install_metrics();
    let api = ApiConfig {
        cookie_secure: config.http.cookie_secure,
        session_ttl: Duration::from_secs(config.http.session_ttl_hours * 3600),
        max_body_bytes: config.http.max_body_bytes,
        max_import_bytes: config.http.max_import_bytes,
        trust_forwarded_for: config.http.trust_forwarded_for,
        data_dir: config.data_dir.clone(),
        ..ApiConfig::default()
    };
    let state = AppState::new(store.clone(), api)
        .await
        .context("cannot load the city model")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another server running there? pass --listen)",
                config.listen
            )
        })?;
    let addr = listener.local_addr()?;
    println!(
        "chengyun listening on http://{addr} (database: {}, {})",
        config
            .database_url
            .as_deref()
            .map(|_| "PostgreSQL")
            .unwrap_or("embedded SQLite"),
        store.backend().as_str()
    );
    tracing::info!(%addr, backend = store.backend().as_str(), "chengyun serving");
    // Background workers: the case timer sweep (warnings, overdue
    // supervision) and webhook deliveries; both stop on the same signal.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let timers = state
        .cases()
        .spawn_worker(Duration::from_secs(30), stop_rx.clone());
    let hooks = chengyun_api::webhooks::spawn_worker(
        store.clone(),
        state.feed().clone(),
        chengyun_api::webhooks::WebhookConfig::default(),
        stop_rx,
    );
    let result = chengyun_api::serve(listener, state, shutdown_signal()).await;
    let _ = stop_tx.send(true);
    let _ = timers.await;
    let _ = hooks.await;
    result.context("server failed")?;
    tracing::info!("chengyun stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, so in-flight requests finish before exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
