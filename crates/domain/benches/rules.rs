//! Rule engine throughput on a realistic mix: all eight scenario packs loaded
//! into one engine, 10,000 devices across their products, and a batch of
//! messages shaped like what the ingest sources produce (trackers and
//! wristbands with positions, sensors with readings, weigh records, camera
//! events). Criterion reports elements per second = evaluations per second.
//!
//! Run: `cargo bench -p chengyun-domain --bench rules`.

use chengyun_domain::iot::model::{Device, GeoPoint, Telemetry, Value};
use chengyun_domain::iot::packs;
use chengyun_domain::iot::rules::{DeviceContext, RuleEngine};
use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const DEVICES: usize = 10_000;

/// A small deterministic generator, so every run measures the same work.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Products by share of the fleet: trackers and wristbands dominate.
const MIX: [(&str, u32); 12] = [
    ("ebike_tracker_jt808", 30),
    ("elderly_watch", 20),
    ("corrections_bracelet", 5),
    ("corrections_phone", 5),
    ("cattle_tracker", 5),
    ("perimeter_camera", 3),
    ("wim_station", 2),
    ("cold_store_sensor", 5),
    ("kitchen_ai_camera", 5),
    ("hydrant_sensor", 5),
    ("manhole_tilt_sensor", 10),
    ("bin_fill_sensor", 5),
];

fn fleet(rng: &mut Lcg) -> Vec<Device> {
    let total: u32 = MIX.iter().map(|(_, w)| w).sum();
    (0..DEVICES)
        .map(|i| {
            let mut pick = (rng.next() % u64::from(total)) as u32;
            let product = MIX
                .iter()
                .find(|(_, w)| {
                    if pick < *w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
                .map_or("ebike_tracker_jt808", |(p, _)| p);
            let mut d = Device::new(&format!("dev{i}"), product, &format!("设备 {i}"), "dept");
            d.location = Some(GeoPoint::new(
                116.95 + rng.unit() * 0.2,
                28.15 + rng.unit() * 0.15,
            ));
            d.armed = product == "ebike_tracker_jt808" && i % 4 == 0;
            if product == "corrections_bracelet" {
                d.paired_device_id = Some(format!("dev{}", i + 1));
            }
            d
        })
        .collect()
}

fn message(d: &Device, rng: &mut Lcg, at: DateTime<Utc>) -> Telemetry {
    let home = d.location.unwrap_or(GeoPoint::new(117.0, 28.2));
    let jitter = |rng: &mut Lcg| (rng.unit() - 0.5) * 0.002;
    let t = Telemetry::new(&d.id, at);
    match d.product_key.as_str() {
        "ebike_tracker_jt808" => {
            let alarm = if rng.next().is_multiple_of(500) {
                1 << 8
            } else {
                0
            };
            t.at_position(home.lon + jitter(rng), home.lat + jitter(rng))
                .with("alarm", Value::Int(alarm))
                .with("status", Value::Int(3))
                .with("speed", Value::Float(rng.unit() * 25.0))
        }
        "elderly_watch" | "corrections_bracelet" => t
            .at_position(home.lon + jitter(rng), home.lat + jitter(rng))
            .with("battery", Value::Int(20 + (rng.next() % 80) as i64))
            .with("status", Value::Int(0))
            .with("heart_rate", Value::Int(55 + (rng.next() % 80) as i64)),
        "corrections_phone" | "cattle_tracker" => t
            .at_position(home.lon + jitter(rng), home.lat + jitter(rng))
            .with("battery", Value::Int(50)),
        "perimeter_camera" => {
            if rng.next().is_multiple_of(20) {
                t.with_event("intrusion")
            } else {
                t.with_event("loitering")
            }
        }
        "wim_station" => t
            .with(
                "plate",
                Value::Text(format!("赣L{:05}", rng.next() % 100_000)),
            )
            .with("axles", Value::Int(2 + (rng.next() % 5) as i64))
            .with("gross_mass_t", Value::Float(10.0 + rng.unit() * 40.0))
            .with("configuration", Value::Text("truck".into())),
        "cold_store_sensor" => t.with("temperature", Value::Float(2.0 + rng.unit() * 7.0)),
        "kitchen_ai_camera" => {
            if rng.next().is_multiple_of(10) {
                t.with_event("no_mask")
            } else {
                t
            }
        }
        "hydrant_sensor" => t.with("pressure_mpa", Value::Float(0.12 + rng.unit() * 0.3)),
        "manhole_tilt_sensor" => t.with("tilt_deg", Value::Float(rng.unit() * 18.0)),
        _ => t.with("fill_pct", Value::Int((rng.next() % 100) as i64)),
    }
}

fn engine() -> RuleEngine {
    let all = packs::all();
    let products = all.iter().flat_map(|p| p.products.clone()).collect();
    let rules = all.iter().flat_map(|p| p.rules.clone()).collect();
    match RuleEngine::new(products, rules) {
        Ok(e) => e,
        Err(e) => panic!("packs do not load: {e}"),
    }
}

fn bench(c: &mut Criterion) {
    let mut rng = Lcg(42);
    let devices = fleet(&mut rng);
    let batch: Vec<(usize, Telemetry)> = (0..DEVICES)
        .map(|_| {
            let d = (rng.next() as usize) % devices.len();
            (d, message(&devices[d], &mut rng, base()))
        })
        .collect();

    let mut group = c.benchmark_group("rule_engine");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.sample_size(20);

    let mut e = engine();
    let mut batch_mixed = batch.clone();
    let mut round = 0i64;
    group.bench_function("evaluate_mixed_10k", |b| {
        b.iter(|| {
            round += 1;
            let mut changes = 0usize;
            for (i, (d, t)) in batch_mixed.iter_mut().enumerate() {
                // Time moves forward: a minute per round, a millisecond per message.
                t.at = base() + Duration::seconds(round * 60) + Duration::milliseconds(i as i64);
                let device = &devices[*d];
                changes += e.evaluate(t, &DeviceContext::new(device), t.at).len();
            }
            black_box(changes)
        })
    });

    let mut ticked = engine();
    for (d, t) in &batch {
        ticked.evaluate(t, &DeviceContext::new(&devices[*d]), t.at);
    }
    let mut minute = 0i64;
    group.throughput(Throughput::Elements(DEVICES as u64));
    group.bench_function("tick_10k_devices", |b| {
        b.iter(|| {
            minute += 1;
            black_box(ticked.tick(base() + Duration::seconds(minute)).len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
