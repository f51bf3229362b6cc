//! The telemetry pipeline's state and its group-commit writer.
//!
//! Latest state lives in [`Shards`]: 16 `std::sync::Mutex<HashMap>` shards
//! keyed by a hash of the device id. A lock is held only for the few
//! microseconds of merging one message (never across an `.await`), and two
//! devices contend only when they hash to the same shard, so the gateways'
//! connection tasks do not serialise on one lock. No DashMap: the std types
//! are enough here and keep the dependency list short.
//!
//! History and latest state reach the store through the [`Writer`], one task
//! fed by a bounded channel: rows are gathered and written as one transaction
//! (multi-row inserts) every `flush_interval` or every `flush_rows` rows,
//! whichever comes first. When the channel is full, `ingest` waits: that is
//! the back-pressure the gateways pass on to the devices.
//!
//! Durability guarantee: an `ingest` that returned `Ok` is in the writer's
//! queue; it is durable once the next flush commits, at most `flush_interval`
//! later (plus the write time), or at once after [`Writer::flush`] returns
//! `Ok`. On shutdown ([`Writer::close`]) everything queued is written. A
//! failed write keeps its rows and retries on the next flush; the flush
//! reports the error. A process crash loses at most the unflushed window.

use chengyun_domain::iot::Telemetry;
use chengyun_store::{DynStore, LatestState};
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Number of latest-state shards (a power of two).
const SHARDS: usize = 16;

/// A token bucket per device: `rate` tokens a second, at most `burst`.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn full(burst: f64) -> Self {
        Self {
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub(crate) fn take(&mut self, rate: f64, burst: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the pipeline keeps per device in memory.
#[derive(Debug, Clone)]
pub(crate) struct DeviceRuntime {
    pub(crate) latest: Option<LatestState>,
    pub(crate) bucket: TokenBucket,
}

/// Latest state and rate limiters, sharded by device id.
pub(crate) struct Shards {
    shards: Vec<Mutex<HashMap<String, DeviceRuntime>>>,
}

impl Shards {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, device_id: &str) -> &Mutex<HashMap<String, DeviceRuntime>> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        device_id.hash(&mut h);
        &self.shards[(h.finish() as usize) & (SHARDS - 1)]
    }

    /// Runs `f` on the device's entry under its shard lock.
    pub(crate) fn with<R>(
        &self,
        device_id: &str,
        burst: f64,
        f: impl FnOnce(&mut DeviceRuntime) -> R,
    ) -> R {
        let mut shard = match self.shard(device_id).lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(rt) = shard.get_mut(device_id) {
            return f(rt);
        }
        let rt = shard
            .entry(device_id.to_string())
            .or_insert_with(|| DeviceRuntime {
                latest: None,
                bucket: TokenBucket::full(burst),
            });
        f(rt)
    }

    pub(crate) fn latest(&self, device_id: &str) -> Option<LatestState> {
        let shard = match self.shard(device_id).lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        shard.get(device_id).and_then(|rt| rt.latest.clone())
    }

    /// Every device's latest state (for sweeps).
    pub(crate) fn all_latest(&self) -> Vec<LatestState> {
        let mut out = Vec::new();
        for s in &self.shards {
            let shard = match s.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            out.extend(shard.values().filter_map(|rt| rt.latest.clone()));
        }
        out
    }
}

pub(crate) enum WriterMsg {
    Row(Telemetry),
    /// Persist the latest state of this device (heartbeat, offline sweep).
    Touch(String),
    Flush(oneshot::Sender<Result<(), String>>),
}

/// Settings of the group-commit writer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriterConfig {
    pub(crate) flush_interval: Duration,
    pub(crate) flush_rows: usize,
    pub(crate) queue: usize,
}

/// The handle of the writer task.
pub(crate) struct Writer {
    tx: mpsc::Sender<WriterMsg>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Writer {
    pub(crate) fn spawn(store: DynStore, shards: Arc<Shards>, cfg: WriterConfig) -> Self {
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let task = tokio::spawn(run(store, shards, cfg, rx));
        Self {
            tx,
            task: Mutex::new(Some(task)),
        }
    }

    /// Queues a message; waits while the queue is full (back-pressure).
    pub(crate) async fn send(&self, msg: WriterMsg) -> Result<(), String> {
        self.tx
            .send(msg)
            .await
            .map_err(|_| "the telemetry writer has stopped".to_string())
    }

    /// Writes everything queued before this call; answers the write's outcome.
    pub(crate) async fn flush(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.send(WriterMsg::Flush(tx)).await?;
        rx.await
            .map_err(|_| "the telemetry writer stopped during a flush".to_string())?
    }

    /// Flushes and stops the task (the service's shutdown).
    pub(crate) async fn close(&self) -> Result<(), String> {
        let result = self.flush().await;
        let task = match self.task.lock() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        result
    }
}

struct Batch {
    rows: Vec<Telemetry>,
    dirty: HashSet<String>,
}

async fn run(
    store: DynStore,
    shards: Arc<Shards>,
    cfg: WriterConfig,
    mut rx: mpsc::Receiver<WriterMsg>,
) {
    let mut batch = Batch {
        rows: Vec::with_capacity(cfg.flush_rows),
        dirty: HashSet::new(),
    };
    loop {
        // Wait for the first message of a batch.
        let Some(first) = rx.recv().await else {
            let _ = write(&store, &shards, &mut batch).await;
            return;
        };
        let deadline = tokio::time::Instant::now() + cfg.flush_interval;
        let mut waiters = Vec::new();
        let mut msg = Some(first);
        loop {
            match msg.take() {
                Some(WriterMsg::Row(t)) => {
                    batch.dirty.insert(t.device_id.clone());
                    batch.rows.push(t);
                }
                Some(WriterMsg::Touch(id)) => {
                    batch.dirty.insert(id);
                }
                Some(WriterMsg::Flush(w)) => {
                    waiters.push(w);
                    break;
                }
                None => {}
            }
            if batch.rows.len() >= cfg.flush_rows {
                break;
            }
            // Drain what is already queued without waiting, then wait for the deadline.
            match rx.try_recv() {
                Ok(m) => msg = Some(m),
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(m)) => msg = Some(m),
                        Ok(None) | Err(_) => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        }
        let result = write(&store, &shards, &mut batch).await;
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }
}

/// Rows kept for a retry after a failed write, at most (the oldest are
/// dropped beyond this, with an error log naming how many).
const MAX_RETAINED_ROWS: usize = 200_000;

async fn write(store: &DynStore, shards: &Shards, batch: &mut Batch) -> Result<(), String> {
    if batch.rows.is_empty() && batch.dirty.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let states: Vec<LatestState> = batch
        .dirty
        .iter()
        .filter_map(|id| shards.latest(id))
        .collect();
    let rows = batch.rows.len();
    let outcome = async {
        store
            .append_telemetry(&batch.rows)
            .await
            .map_err(|e| e.to_string())?;
        store
            .upsert_latest(&states)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<(), String>(())
    }
    .await;
    match &outcome {
        Ok(()) => {
            batch.rows.clear();
            batch.dirty.clear();
            metrics::counter!("chengyun_iot_telemetry_rows_written_total").increment(rows as u64);
            metrics::histogram!("chengyun_iot_flush_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        Err(e) => {
            metrics::counter!("chengyun_iot_flush_failures_total").increment(1);
            tracing::error!(rows, error = %e, "telemetry flush failed; the rows are kept for the next flush");
            if batch.rows.len() > MAX_RETAINED_ROWS {
                let drop = batch.rows.len() - MAX_RETAINED_ROWS;
                batch.rows.drain(..drop);
                tracing::error!(
                    dropped = drop,
                    "telemetry retry buffer full; oldest rows dropped"
                );
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket {
            tokens: 2.0,
            last: t0,
        };
        assert!(b.take(1.0, 2.0, t0));
        assert!(b.take(1.0, 2.0, t0));
        assert!(!b.take(1.0, 2.0, t0));
        assert!(b.take(1.0, 2.0, t0 + Duration::from_millis(1_100)));
        assert!(!b.take(1.0, 2.0, t0 + Duration::from_millis(1_200)));
        // Never more than the burst.
        assert!(b.take(1.0, 2.0, t0 + Duration::from_secs(100)));
        assert!(b.take(1.0, 2.0, t0 + Duration::from_secs(100)));
        assert!(!b.take(1.0, 2.0, t0 + Duration::from_secs(100)));
    }

    #[test]
    fn shards_keep_each_device() {
        let s = Shards::new();
        for i in 0..100 {
            s.with(&format!("d{i}"), 10.0, |rt| {
                rt.latest = Some(LatestState {
                    device_id: format!("d{i}"),
                    values: Default::default(),
                    location: None,
                    last_seen: chrono::Utc::now(),
                    online: true,
                })
            });
        }
        assert_eq!(s.all_latest().len(), 100);
        assert_eq!(s.latest("d42").map(|l| l.device_id).as_deref(), Some("d42"));
    }
}
