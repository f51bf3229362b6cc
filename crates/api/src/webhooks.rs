//! Outgoing webhooks: every live-feed event is queued, persistently, for each
//! enabled webhook whose filter matches its subject (`case.changed.dispatch`
//! …; `*` matches all, `case.` every case event), then POSTed as the JSON
//! [`Envelope`] `{type, id, at, data}` with
//!
//! - `X-Chengyun-Signature: sha256=<hex HMAC-SHA256 of the exact body with the webhook's secret>`
//! - `X-Chengyun-Event: <type>` (`case.changed` …)
//! - `X-Chengyun-Delivery: <delivery id>` (the same on every retry: receivers de-duplicate by it)
//!
//! A 2xx answer delivers it; anything else (or no answer within the
//! timeout) is retried with exponential back-off and ±20 % jitter
//! (`base_delay · 2^(attempt-1)`, capped at `max_delay`) until
//! `max_attempts`, then given up with the last error kept. The queue is the
//! store's `webhook_deliveries` table, so a restart loses no queued or
//! retrying delivery; events published while the server is down do not
//! exist and are not invented.
//!
//! Outbound HTTP uses reqwest without a TLS backend (the workspace keeps C
//! and TLS stacks out): only `http://` URLs are accepted. HTTPS webhooks
//! need reqwest's `rustls-tls` feature enabled later.
//!
//! Several server processes on one database (nodes sharing a NATS bus) may
//! all run the worker: an event is queued only by the node that published it
//! (every node's feed sees every node's events, [`FeedItem::local`] tells
//! them apart), and each delivery round *claims* its due rows in one
//! statement ([`chengyun_store::Store::claim_due_deliveries`]: their next
//! attempt moves to a lease of `timeout × batch + 30 s`), so no two nodes
//! POST the same delivery; a node that dies mid-round leaves its rows due
//! again when the lease ends.
//!
//! [`FeedItem::local`]: crate::routes::stream::FeedItem::local
//!
//! [`Envelope`]: crate::routes::stream::Envelope

use crate::routes::stream::Feed;
use chengyun_store::{DynStore, Webhook, WebhookDelivery};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Timing of the delivery worker.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// How often due deliveries are looked for.
    pub poll_interval: Duration,
    /// The wait after the first failure; doubled after each further one.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Attempts before a delivery is given up.
    pub max_attempts: i64,
    /// How long one POST may take.
    pub timeout: Duration,
    /// Deliveries handled per poll.
    pub batch: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(2),
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(3600),
            max_attempts: 12,
            timeout: Duration::from_secs(10),
            batch: 100,
        }
    }
}

/// `sha256=<hex>`: the HMAC-SHA256 of `body` with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `signature` (`sha256=<hex>`) is the signature of `body` with
/// `secret`, compared in constant time (for receivers written in Rust and tests).
pub fn verify(secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex_part) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_part) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The wait before attempt `attempt + 1`, after `attempt` failures (≥ 1), with jitter.
pub fn backoff(config: &WebhookConfig, attempt: i64) -> Duration {
    let exp = u32::try_from(attempt.clamp(1, 30) - 1).unwrap_or(0);
    let base = config
        .base_delay
        .checked_mul(2u32.saturating_pow(exp))
        .unwrap_or(config.max_delay)
        .min(config.max_delay);
    let jitter: f64 = rand::Rng::gen_range(&mut rand::thread_rng(), 0.8..1.2);
    base.mul_f64(jitter)
}

/// Starts the worker: queues feed events for matching webhooks and delivers
/// due ones until `shutdown` turns true.
pub fn spawn_worker(
    store: DynStore,
    feed: Arc<Feed>,
    config: WebhookConfig,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut events = feed.subscribe();
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("chengyun-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the webhook HTTP client; webhooks are off");
                return;
            }
        };
        let mut tick = tokio::time::interval(config.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                got = events.recv() => match got {
                    Ok(item) => {
                        // Another node's event is queued by that node.
                        if item.envelope.kind == "resync" || !item.local {
                            continue;
                        }
                        let body = serde_json::to_value(&item.envelope).unwrap_or_default();
                        if let Err(e) = store.enqueue_deliveries(&item.subject, &body, Utc::now()).await {
                            tracing::warn!(error = %e, event = item.envelope.id, "cannot queue webhook deliveries");
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "the webhook worker fell behind the feed; those events are not delivered");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tick.tick() => {
                    if let Err(e) = deliver_due(&store, &client, &config, Utc::now()).await {
                        tracing::warn!(error = %e, "webhook delivery round failed");
                    }
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
    })
}

/// How long a delivery round holds the rows it claimed: every POST of the
/// batch timing out, plus a margin.
pub fn lease(config: &WebhookConfig) -> Duration {
    config.timeout.saturating_mul(config.batch.max(1)) + Duration::from_secs(30)
}

/// Claims the due deliveries (up to `batch`) and attempts each once;
/// answers how many were delivered.
pub async fn deliver_due(
    store: &DynStore,
    client: &reqwest::Client,
    config: &WebhookConfig,
    now: DateTime<Utc>,
) -> Result<usize, chengyun_store::StoreError> {
    let until =
        now + chrono::Duration::from_std(lease(config)).unwrap_or(chrono::Duration::hours(1));
    let due = store.claim_due_deliveries(now, until, config.batch).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let hooks: HashMap<i64, Webhook> = store
        .webhooks()
        .await?
        .into_iter()
        .map(|h| (h.id, h))
        .collect();
    let mut delivered = 0;
    for d in due {
        let outcome = match hooks.get(&d.webhook_id).filter(|h| h.enabled) {
            None => Err(("the webhook was deleted or disabled".to_string(), true)),
            Some(hook) => attempt(client, hook, &d).await.map_err(|e| (e, false)),
        };
        let at = Utc::now();
        match outcome {
            Ok(()) => {
                store.record_delivery_attempt(d.id, at, None, None).await?;
                delivered += 1;
            }
            Err((error, give_up)) => {
                let attempts = d.attempts + 1;
                let next = if give_up || attempts >= config.max_attempts {
                    tracing::warn!(delivery = d.id, webhook = d.webhook_id, attempts, %error, "webhook delivery given up");
                    None
                } else {
                    let wait = backoff(config, attempts);
                    Some(
                        at + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1)),
                    )
                };
                store
                    .record_delivery_attempt(d.id, at, Some(&error), next)
                    .await?;
            }
        }
    }
    Ok(delivered)
}

async fn attempt(
    client: &reqwest::Client,
    hook: &Webhook,
    d: &WebhookDelivery,
) -> Result<(), String> {
    let body = serde_json::to_vec(&d.event).map_err(|e| format!("cannot encode the event: {e}"))?;
    let kind = d
        .event
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("event")
        .to_string();
    let res = client
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("x-chengyun-signature", sign(&hook.secret, &body))
        .header("x-chengyun-event", kind)
        .header("x-chengyun-delivery", d.id.to_string())
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST {} failed: {e}", hook.url))?;
    let status = res.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("POST {} answered {status}", hook.url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify(
            "Jefe",
            b"what do ya want for nothing?",
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        ));
        assert!(!verify(
            "Jefe",
            b"what do ya want for nothing!",
            &sign("Jefe", b"what do ya want for nothing?")
        ));
        assert!(!verify("Jefe", b"x", "md5=00"));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let c = WebhookConfig {
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(60),
            ..Default::default()
        };
        for _ in 0..50 {
            let b1 = backoff(&c, 1).as_secs_f64();
            assert!((8.0..=12.0).contains(&b1), "{b1}");
            let b3 = backoff(&c, 3).as_secs_f64();
            assert!((32.0..=48.0).contains(&b3), "{b3}");
            let b9 = backoff(&c, 9).as_secs_f64();
            assert!((48.0..=72.0).contains(&b9), "{b9}");
        }
    }
}
