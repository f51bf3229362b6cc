//! End-to-end telemetry in embedded mode, each stage timed in isolation, and
//! beside it the rate at which the machine's Mosquitto merely relays the
//! same messages — all in one run.
//!
//! End to end: a real JT/T 808 0x0200 frame (the first location frame of
//! the traccar vectors) is decoded, mapped to Telemetry, validated,
//! rate-limited, merged into the latest state, evaluated by the e-bike
//! pack's rules and written to SQLite in a temp dir by the group-commit
//! writer; the measurement ends with `flush()`, so the figure counts durable
//! messages (history rows committed, latest state of changed devices
//! committed). Two producer tasks feed the service, as two gateway
//! connections would.
//!
//! Stages (each alone, same message): decode, mapping, validation, rules,
//! history serialisation (the `vals` JSON text of a history row), SQLite
//! history write (10,000-row transactions through the store), and the
//! in-memory part of `ingest` (everything but the write).
//!
//! Relay baseline: a rumqttc publisher and a rumqttc subscriber on the
//! machine's Mosquitto (127.0.0.1:1883, loopback, QoS 0), payload = the same
//! 0x0200 frame; the rate is messages received by the subscriber over the
//! time from the first publish to the last receipt. Skipped (and said so)
//! when no broker answers.
//!
//! `cargo bench -p chengyun-services --bench telemetry` (env
//! `TELEMETRY_MESSAGES` overrides the end-to-end message count,
//! `HISTORY_BATCH_ROWS` the rows per transaction of the SQLite stage).

use chengyun_bus::InProcessBus;
use chengyun_domain::audit::Actor;
use chengyun_domain::iot::{Device, DeviceContext, RuleEngine, Telemetry};
use chengyun_ingest::jt808::message::Message;
use chengyun_ingest::jt808::{Decoded, Jt808Decoder, Jt808FrameCodec, Location, Reassembler};
use chengyun_ingest::source::ConnectionRegistry;
use chengyun_ingest::source::mapping::jt808_location;
use chengyun_services::iot::{IotConfig, IotService};
use chengyun_store::{DynStore, IotStore, SqliteStore, Store};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEVICES: usize = 1_000;
const STAGE_N: usize = 200_000;

fn location_frame() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/traccar-protocol-vectors/jt808_decoder_vectors.csv"
    );
    let text = std::fs::read_to_string(path).expect("the traccar vectors");
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    for rec in rdr.records().flatten() {
        let payload = rec.get(5).unwrap_or_default();
        if payload.starts_with("7e0200") {
            return hex::decode(payload).expect("hex payload");
        }
    }
    panic!("no 0x0200 frame in the vectors");
}

fn decode(decoder: &mut Jt808Decoder, frame: &[u8]) -> Location {
    decoder.extend(frame);
    let Some(Ok(Decoded::Message {
        message: Message::Location(loc),
        ..
    })) = decoder.next_decoded()
    else {
        panic!("the frame decodes to a location");
    };
    loc
}

fn report(name: &str, n: usize, took: Duration) {
    let per = took.as_nanos() as f64 / n as f64;
    println!(
        "  {name:<44} {per:>9.0} ns/msg  {:>12.0} msg/s",
        n as f64 / took.as_secs_f64()
    );
}

fn stages(rt: &tokio::runtime::Runtime, frame: &[u8], ids: &[String]) {
    println!("stages (each alone, {STAGE_N} messages):");
    let mut decoder = Jt808Decoder::new(Jt808FrameCodec::default(), Reassembler::default());
    let t = Instant::now();
    for _ in 0..STAGE_N {
        black_box(decode(&mut decoder, frame));
    }
    report("decode 0x0200", STAGE_N, t.elapsed());

    let loc = decode(&mut decoder, frame);
    let now = chrono::Utc::now();
    let t = Instant::now();
    for i in 0..STAGE_N {
        black_box(jt808_location(&ids[i % DEVICES], &loc, now));
    }
    report("mapping to Telemetry", STAGE_N, t.elapsed());

    let msgs: Vec<Telemetry> = (0..DEVICES)
        .map(|i| jt808_location(&ids[i], &loc, now))
        .collect();
    let pack = chengyun_domain::iot::packs::get("ebike_antitheft").expect("e-bike pack");
    let product = pack
        .products
        .iter()
        .find(|p| p.key == "ebike_tracker_jt808")
        .expect("tracker product")
        .clone();
    let t = Instant::now();
    for i in 0..STAGE_N {
        black_box(msgs[i % DEVICES].validate(&product)).expect("valid");
    }
    report("validation against the product", STAGE_N, t.elapsed());

    let mut engine =
        RuleEngine::new(pack.products.clone(), pack.rules.clone()).expect("pack rules");
    let devices: Vec<Device> = ids
        .iter()
        .map(|id| Device::new(id, "ebike_tracker_jt808", "车", "police"))
        .collect();
    for d in &devices {
        engine.register_device(d, now);
    }
    let t = Instant::now();
    for i in 0..STAGE_N {
        let d = &devices[i % DEVICES];
        black_box(engine.evaluate(&msgs[i % DEVICES], &DeviceContext::new(d), now));
    }
    report("rules (e-bike pack)", STAGE_N, t.elapsed());

    let t = Instant::now();
    for i in 0..STAGE_N {
        black_box(serde_json::to_string(&msgs[i % DEVICES].values).expect("json"));
    }
    report(
        "history row serialisation (vals JSON)",
        STAGE_N,
        t.elapsed(),
    );

    let dir = tempfile::tempdir().expect("temp dir");
    rt.block_on(async {
        let store = SqliteStore::open(&dir.path().join("stage.db"))
            .await
            .expect("sqlite");
        store.migrate().await.expect("migrate");
        let rows: usize = std::env::var("HISTORY_BATCH_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        let batch: Vec<Telemetry> = (0..rows).map(|i| msgs[i % DEVICES].clone()).collect();
        let t = Instant::now();
        let mut n = 0;
        while n < STAGE_N {
            store.append_telemetry(&batch).await.expect("append");
            n += batch.len();
        }
        report(
            "SQLite history write (10k-row transactions)",
            n,
            t.elapsed(),
        );
    });
}

async fn service(path: &std::path::Path) -> IotService {
    let store = SqliteStore::open(path).await.expect("sqlite");
    store.migrate().await.expect("migrate");
    let store: DynStore = Arc::new(store);
    let config = IotConfig {
        rate_per_sec: 1e9,
        burst: 1e9,
        ..IotConfig::default()
    };
    let iot = IotService::new(
        store,
        Arc::new(InProcessBus::new()),
        None,
        Arc::new(ConnectionRegistry::new()),
        config,
    )
    .await
    .expect("iot");
    let admin = Actor::system("bench");
    iot.enable_pack("ebike_antitheft", &admin)
        .await
        .expect("pack");
    for i in 0..DEVICES {
        let d = Device::new(&format!("eb{i:05}"), "ebike_tracker_jt808", "车", "police");
        iot.put_device(d, &admin).await.expect("device");
    }
    iot
}

/// Feeds `n` messages from `producers` tasks; answers the time to the last
/// durable message and the rejected count.
async fn drive(
    iot: &IotService,
    frame: &[u8],
    ids: &Arc<Vec<String>>,
    n: usize,
    producers: usize,
) -> (Duration, u64) {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..producers {
        let iot = iot.clone();
        let ids = ids.clone();
        let frame = frame.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut decoder = Jt808Decoder::new(Jt808FrameCodec::default(), Reassembler::default());
            let mut rejected = 0u64;
            let mut i = p;
            while i < n {
                let loc = decode(&mut decoder, &frame);
                let t = jt808_location(&ids[i % DEVICES], &loc, chrono::Utc::now());
                if iot.ingest(t).await.is_err() {
                    rejected += 1;
                }
                i += producers;
            }
            rejected
        }));
    }
    let mut rejected = 0;
    for t in tasks {
        rejected += t.await.expect("producer");
    }
    iot.flush().await.expect("flush");
    (start.elapsed(), rejected)
}

async fn mosquitto_relay(frame: &[u8], n: usize) -> Result<(usize, Duration), String> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let topic = format!("chengyun/bench/{}", std::process::id());
    let mut sub_opts = MqttOptions::new(
        format!("bench-sub-{}", std::process::id()),
        "127.0.0.1",
        1883,
    );
    sub_opts.set_keep_alive(Duration::from_secs(30));
    let (sub, mut sub_loop) = AsyncClient::new(sub_opts, 1024);
    sub.subscribe(&topic, QoS::AtMostOnce)
        .await
        .map_err(|e| e.to_string())?;
    // Wait for the SUBACK (or fail fast when no broker answers).
    tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match sub_loop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
    .map_err(|_| "no SUBACK within 3 s".to_string())??;
    let receiver = tokio::spawn(async move {
        let mut got = 0usize;
        let mut last = Instant::now();
        loop {
            match tokio::time::timeout(Duration::from_secs(2), sub_loop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::Publish(_)))) => {
                    got += 1;
                    last = Instant::now();
                    if got == n {
                        break;
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
        (got, last)
    });
    let mut pub_opts = MqttOptions::new(
        format!("bench-pub-{}", std::process::id()),
        "127.0.0.1",
        1883,
    );
    pub_opts.set_keep_alive(Duration::from_secs(30));
    let (publisher, mut pub_loop) = AsyncClient::new(pub_opts, 1024);
    let pub_driver = tokio::spawn(async move {
        loop {
            if pub_loop.poll().await.is_err() {
                break;
            }
        }
    });
    let payload = frame.to_vec();
    let start = Instant::now();
    for _ in 0..n {
        publisher
            .publish(&topic, QoS::AtMostOnce, false, payload.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    let (got, last) = receiver.await.map_err(|e| e.to_string())?;
    let _ = publisher.disconnect().await;
    pub_driver.abort();
    Ok((got, last.saturating_duration_since(start)))
}

fn main() {
    let n: usize = std::env::var("TELEMETRY_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let frame = location_frame();
    let ids: Arc<Vec<String>> = Arc::new((0..DEVICES).map(|i| format!("eb{i:05}")).collect());
    println!(
        "telemetry benchmark: {} cores, 0x0200 frame of {} bytes, {DEVICES} devices",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        frame.len()
    );
    stages(&rt, &frame, &ids);

    let dir = tempfile::tempdir().expect("temp dir");
    rt.block_on(async {
        let iot = service(&dir.path().join("bench.db")).await;
        // Warm-up: every device seen once.
        let _ = drive(&iot, &frame, &ids, DEVICES * 10, 2).await;
        let (took, rejected) = drive(&iot, &frame, &ids, n, 2).await;
        println!("end to end (decode → mapping → rules → latest → SQLite history, durable):");
        report("2 producers, ends with flush()", n, took);
        println!("  rejected messages: {rejected}");
        iot.shutdown().await.expect("shutdown");

        println!("Mosquitto relay baseline (127.0.0.1:1883, rumqttc pub + sub, QoS 0):");
        let relay_n = n.min(500_000);
        match mosquitto_relay(&frame, relay_n).await {
            Ok((got, took)) => {
                report("relay publisher → broker → subscriber", got, took);
                println!("  received {got} of {relay_n} published");
            }
            Err(e) => println!("  skipped: {e}"),
        }
    });
}
