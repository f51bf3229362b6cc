//! End-to-end telemetry in embedded mode: a real JT/T 808 0x0200 frame (the
//! first location frame of the traccar vectors) is decoded, mapped to
//! Telemetry, validated, rate-limited, merged into the latest state,
//! evaluated by the e-bike pack's rules and written to SQLite in a temp dir
//! by the group-commit writer; each measurement ends with `flush()`, so the
//! figure counts durable messages. Prints messages per second.
//!
//! `cargo bench -p chengyun-services --bench telemetry`

use chengyun_bus::InProcessBus;
use chengyun_domain::audit::Actor;
use chengyun_domain::iot::Device;
use chengyun_ingest::jt808::message::Message;
use chengyun_ingest::jt808::{Decoded, Jt808Decoder, Jt808FrameCodec, Reassembler};
use chengyun_ingest::source::ConnectionRegistry;
use chengyun_ingest::source::mapping::jt808_location;
use chengyun_services::iot::{IotConfig, IotService};
use chengyun_store::{DynStore, SqliteStore, Store};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEVICES: usize = 1_000;

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

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let frame = location_frame();
    let iot = rt.block_on(async {
        let store = SqliteStore::open(&dir.path().join("bench.db"))
            .await
            .expect("sqlite");
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
    });
    let ids: Vec<String> = (0..DEVICES).map(|i| format!("eb{i:05}")).collect();
    let mut group = c.benchmark_group("telemetry");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    let rejected = std::sync::atomic::AtomicU64::new(0);
    group.bench_function("jt808_0200_decode_rules_latest_history_sqlite", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut decoder =
                    Jt808Decoder::new(Jt808FrameCodec::default(), Reassembler::default());
                let start = Instant::now();
                for i in 0..iters as usize {
                    decoder.extend(&frame);
                    let Some(Ok(Decoded::Message {
                        message: Message::Location(loc),
                        ..
                    })) = decoder.next_decoded()
                    else {
                        panic!("the frame decodes to a location");
                    };
                    let t = jt808_location(&ids[i % DEVICES], &loc, chrono::Utc::now());
                    if iot.ingest(t).await.is_err() {
                        rejected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                iot.flush().await.expect("flush");
                start.elapsed()
            })
        })
    });
    group.finish();
    println!(
        "rejected messages: {}",
        rejected.load(std::sync::atomic::Ordering::Relaxed)
    );
    rt.block_on(async { iot.shutdown().await.expect("shutdown") });
}

criterion_group!(benches, bench);
criterion_main!(benches);
