//! Measuring primitives of `chengyun bench`: JT/T 808 floods and connection farms against
//! a gateway, the Mosquitto relay baseline, the plain SQLite insert baseline, latency
//! percentiles and the process's resident memory.

use crate::city::CitySpec;
use crate::devices::{FleetSpec, Scene, SimDevice, fleet};
use crate::protocol::Fix;
use crate::runner::{ConnectError, jt808_handshake};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// p50, p95, p99 and max of `samples` (sorted in place); zeros when empty.
pub fn percentiles(samples: &mut [Duration]) -> [Duration; 4] {
    if samples.is_empty() {
        return [Duration::ZERO; 4];
    }
    samples.sort_unstable();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    [at(0.50), at(0.95), at(0.99), samples[samples.len() - 1]]
}

/// Resident memory of this process (KiB) from `/proc/self/status` (Linux only).
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `n` e-bike trackers (the only JT/T 808 product), deterministic for `seed`.
pub fn ebikes(seed: u64, n: usize) -> Vec<SimDevice> {
    let spec = FleetSpec {
        per_scene: vec![(Scene::Ebike, n)],
        episode_per_report: 0.0,
        ..FleetSpec::demo(seed)
    };
    fleet(&spec, &CitySpec::default())
}

/// `count` 0x0200 frames of one device, with no alarm bits (pure telemetry load).
pub fn location_frames(device: &mut SimDevice, count: usize) -> Vec<Vec<u8>> {
    let (lon, lat) = device.position();
    let now = chrono::Utc::now();
    let Some(t) = device.terminal.as_mut() else {
        return Vec::new();
    };
    (0..count)
        .filter_map(|i| {
            t.location(&Fix {
                at: now,
                lon: lon + i as f64 * 1e-5,
                lat,
                speed_kmh: 12.0,
                direction: 90.0,
                altitude_m: 40.0,
                mileage_km: 1000.0 + i as f64 * 0.01,
                alarm: 0,
                status: 1,
            })
            .ok()
        })
        .collect()
}

/// Authenticated JT/T 808 connections, opened `parallel` at a time. Failures are counted.
pub async fn open_connections(
    addr: SocketAddr,
    devices: Vec<SimDevice>,
    parallel: usize,
) -> (Vec<(SimDevice, TcpStream)>, Vec<ConnectError>) {
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut tasks = Vec::with_capacity(devices.len());
    for (i, mut d) in devices.into_iter().enumerate() {
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await;
            let mut rng = StdRng::seed_from_u64(i as u64);
            jt808_handshake(addr, &mut d, &mut rng)
                .await
                .map(|s| (d, s))
        }));
    }
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for t in tasks {
        match t.await {
            Ok(Ok(c)) => ok.push(c),
            Ok(Err(e)) => failed.push(e),
            Err(e) => failed.push(ConnectError::Io(std::io::Error::other(e.to_string()))),
        }
    }
    (ok, failed)
}

/// Connections after a flood: still open (the replies are still drained) until dropped.
pub struct Flooded {
    writers: Vec<tokio::net::tcp::OwnedWriteHalf>,
    drains: Vec<tokio::task::JoinHandle<()>>,
}

impl Flooded {
    /// Connections still open.
    pub fn open(&self) -> usize {
        self.writers.len()
    }
}

impl Drop for Flooded {
    fn drop(&mut self) {
        for d in &self.drains {
            d.abort();
        }
    }
}

/// Writes every connection's frames as fast as the socket takes them (replies are read
/// and dropped concurrently so the gateway never blocks on a full socket). Returns when
/// everything is written, with the connections still open.
pub async fn flood(conns: Vec<(SimDevice, TcpStream)>, frames_per_conn: usize) -> Flooded {
    let mut tasks = Vec::with_capacity(conns.len());
    let mut drains = Vec::with_capacity(conns.len());
    for (mut d, s) in conns {
        let frames = location_frames(&mut d, frames_per_conn);
        let (mut r, mut w) = s.into_split();
        drains.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
        }));
        tasks.push(tokio::spawn(async move {
            // Batches of frames per write, as a busy terminal's TCP stack would coalesce them.
            for chunk in frames.chunks(16) {
                if w.write_all(&chunk.concat()).await.is_err() {
                    break;
                }
            }
            let _ = w.flush().await;
            w
        }));
    }
    let mut writers = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(w) = t.await {
            writers.push(w);
        }
    }
    Flooded { writers, drains }
}

/// What the Mosquitto baseline measured.
#[derive(Debug, Clone, Copy)]
pub struct RelayResult {
    pub published: u64,
    pub received: u64,
    pub elapsed: Duration,
}

/// Relays `payloads` through the MQTT broker at `addr` (QoS 1 both ways) from `publishers`
/// clients to one subscriber, and times until the subscriber has them all (or `timeout`).
pub async fn mqtt_relay(
    addr: &str,
    payloads: &[Vec<u8>],
    publishers: usize,
    timeout: Duration,
) -> Result<RelayResult, String> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("{addr}: expected host:port"))?;
    let port: u16 = port.parse().map_err(|_| format!("{addr}: bad port"))?;
    let topic = format!("chengyun-bench/{}", std::process::id());
    let mut opts = MqttOptions::new(format!("cy-bench-sub-{}", std::process::id()), host, port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_inflight(1000);
    let (sub, mut sub_loop) = AsyncClient::new(opts, 1000);
    sub.subscribe(format!("{topic}/#"), QoS::AtLeastOnce)
        .await
        .map_err(|e| e.to_string())?;
    let total = payloads.len() as u64;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let progress = Arc::new(std::sync::Mutex::new((0u64, Instant::now())));
    let seen = progress.clone();
    let sub_task = tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        loop {
            match sub_loop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(_))) => {
                    let mut p = seen.lock().unwrap_or_else(|e| e.into_inner());
                    *p = (p.0 + 1, Instant::now());
                }
                Ok(_) => {}
                Err(e) => {
                    if ready.is_some() {
                        return Err::<(), String>(e.to_string());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    match tokio::time::timeout(Duration::from_secs(5), ready_rx).await {
        Ok(Ok(())) => {}
        _ => {
            sub_task.abort();
            return Err(format!("no MQTT broker answered at {addr}"));
        }
    }
    let started = Instant::now();
    // Flow control: Mosquitto queues at most 1000 messages per subscriber and drops the rest,
    // so publishers keep at most `WINDOW` messages ahead of the subscriber.
    const WINDOW: u64 = 300;
    let published = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let per = payloads.len().div_ceil(publishers.max(1));
    let mut pubs = Vec::new();
    for (k, chunk) in payloads.chunks(per.max(1)).enumerate() {
        let chunk: Vec<Vec<u8>> = chunk.to_vec();
        let mut o = MqttOptions::new(
            format!("cy-bench-pub-{}-{k}", std::process::id()),
            host,
            port,
        );
        o.set_keep_alive(Duration::from_secs(30));
        o.set_inflight(1000);
        let (c, mut l) = AsyncClient::new(o, 1000);
        let topic = format!("{topic}/{k}");
        let poller = tokio::spawn(async move { while l.poll().await.is_ok() {} });
        let (published, progress) = (published.clone(), progress.clone());
        pubs.push(tokio::spawn(async move {
            for p in chunk {
                let mut waited = 0;
                while published.load(std::sync::atomic::Ordering::Relaxed)
                    > progress.lock().unwrap_or_else(|e| e.into_inner()).0 + WINDOW
                    && waited < 20_000
                {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                    waited += 1;
                }
                published.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if c.publish(&topic, QoS::AtLeastOnce, false, p).await.is_err() {
                    break;
                }
            }
            (c, poller)
        }));
    }
    let mut keep = Vec::new();
    for p in pubs {
        if let Ok(x) = p.await {
            keep.push(x);
        }
    }
    // Done when everything arrived, or nothing new came for 3 s (the broker dropped the
    // rest: Mosquitto queues at most `max_queued_messages` per subscriber), or `timeout`.
    let deadline = Instant::now() + timeout;
    let (received, end) = loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (n, at) = *progress.lock().unwrap_or_else(|e| e.into_inner());
        if n >= total || at.elapsed() > Duration::from_secs(3) || Instant::now() > deadline {
            break (n, at);
        }
    };
    for (c, poller) in keep {
        let _ = c.disconnect().await;
        poller.abort();
    }
    sub_task.abort();
    Ok(RelayResult {
        published: total,
        received,
        elapsed: end.duration_since(started),
    })
}

/// The plain baseline of case intake: the same rows inserted one by one (autocommit, WAL)
/// into a one-table SQLite database. Returns per-insert latencies.
pub async fn sqlite_insert_loop(
    path: &std::path::Path,
    rows: &[serde_json::Value],
) -> Result<Vec<Duration>, String> {
    use sqlx::ConnectOptions;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS cases (id INTEGER PRIMARY KEY, title TEXT NOT NULL, description TEXT NOT NULL, matter_code TEXT, source TEXT, lon REAL, lat REAL, body TEXT NOT NULL, reported_at TEXT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    let mut lat = Vec::with_capacity(rows.len());
    for r in rows {
        let t = Instant::now();
        sqlx::query("INSERT INTO cases (title, description, matter_code, source, lon, lat, body, reported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(r.get("title").and_then(|v| v.as_str()).unwrap_or_default())
            .bind(r.get("description").and_then(|v| v.as_str()).unwrap_or_default())
            .bind(r.get("matter_code").and_then(|v| v.as_str()))
            .bind(r.get("source").and_then(|v| v.as_str()))
            .bind(r.get("lon").and_then(|v| v.as_f64()))
            .bind(r.get("lat").and_then(|v| v.as_f64()))
            .bind(r.to_string())
            .bind(chrono::Utc::now().to_rfc3339())
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        lat.push(t.elapsed());
    }
    Ok(lat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_samples() {
        let mut v: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(
            percentiles(&mut v),
            [
                Duration::from_millis(50),
                Duration::from_millis(95),
                Duration::from_millis(99),
                Duration::from_millis(100)
            ]
        );
        assert_eq!(percentiles(&mut []), [Duration::ZERO; 4]);
    }

    #[test]
    fn rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(rss_kib().is_some_and(|k| k > 100));
        }
    }

    #[test]
    fn location_frames_are_distinct_frames() {
        let mut d = ebikes(1, 1).remove(0);
        let f = location_frames(&mut d, 5);
        assert_eq!(f.len(), 5);
        assert!(
            f.iter()
                .all(|x| x.first() == Some(&0x7e) && x.last() == Some(&0x7e))
        );
        assert_ne!(f[0], f[1]);
    }
}
