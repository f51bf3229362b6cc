//! Rule engine behaviour over time: one table-driven test per rule kind, the
//! alarm lifecycle, validation errors, and real GPS tracks.

use chengyun_domain::iot::model::{Device, GeoPoint, Product, Telemetry, Value};
use chengyun_domain::iot::rules::{
    AlarmChange, AlarmChangeKind, AlarmKey, AlarmState, ClearReason, DeviceContext, Rule,
    RuleEngine, RuleSet,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use std::path::PathBuf;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
}

fn secs(s: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(s)
}

fn product() -> Product {
    serde_json::from_value(json!({
        "key": "sensor",
        "name": "测试传感器",
        "protocol": "mqtt",
        "properties": [
            {"id": "temp", "name": "温度", "data_type": "float", "unit": "°C"},
            {"id": "hr", "name": "心率", "data_type": "int"},
            {"id": "alarm", "name": "报警字", "data_type": "int"},
            {"id": "speed", "name": "速度", "data_type": "float"},
            {"id": "plate", "name": "车牌", "data_type": "string"},
            {"id": "axles", "name": "轴数", "data_type": "int"},
            {"id": "gross", "name": "总质量", "data_type": "float", "unit": "t"},
            {"id": "config", "name": "车型", "data_type": "enum", "enum_values": ["truck", "combination"]},
            {"id": "single_drive", "name": "单驱动轴", "data_type": "bool"},
            {"id": "height", "name": "高", "data_type": "float"}
        ],
        "events": [
            {"id": "sos", "name": "求救", "level": "critical"},
            {"id": "motion", "name": "移动侦测", "params": [{"id": "zone", "name": "区域", "data_type": "int"}]}
        ],
        "commands": []
    }))
    .unwrap()
}

fn rule(id: &str, condition: serde_json::Value) -> Rule {
    rule_with(id, condition, json!({"kind": "auto"}))
}

fn rule_with(id: &str, condition: serde_json::Value, clear: serde_json::Value) -> Rule {
    serde_json::from_value(json!({
        "id": id,
        "version": 1,
        "name": id,
        "applies_to": {"product": "sensor"},
        "condition": condition,
        "raise": {"type": format!("test.{id}"), "level": "major", "message": "{device_name}: {detail} ({value})"},
        "clear": clear
    }))
    .unwrap()
}

fn engine(rules: Vec<Rule>) -> RuleEngine {
    RuleEngine::new(vec![product()], rules).unwrap()
}

fn device() -> Device {
    Device::new("d1", "sensor", "一号", "dept")
}

fn kinds(changes: &[AlarmChange]) -> Vec<AlarmChangeKind> {
    changes.iter().map(|c| c.kind).collect()
}

/// Feeds `(second, property, value)` samples; returns the changes per sample.
fn feed(e: &mut RuleEngine, d: &Device, samples: &[(i64, &str, f64)]) -> Vec<Vec<AlarmChangeKind>> {
    samples
        .iter()
        .map(|(s, p, v)| {
            let t = Telemetry::new(&d.id, secs(*s)).with(p, Value::Float(*v));
            kinds(&e.evaluate(&t, &DeviceContext::new(d), secs(*s)))
        })
        .collect()
}

use AlarmChangeKind::{Acknowledged, Cleared, Raised, Updated};

#[test]
fn threshold_hysteresis_does_not_flap() {
    let mut e = engine(vec![rule(
        "hot",
        json!({"kind": "threshold", "property": "temp", "op": "gt", "value": 8.0, "clear_at": 6.0}),
    )]);
    let d = device();
    let got = feed(
        &mut e,
        &d,
        &[
            (0, "temp", 5.0),
            (10, "temp", 8.5),
            (20, "temp", 7.9),
            (30, "temp", 8.1),
            (40, "temp", 6.5),
            (50, "temp", 9.0),
            (60, "temp", 5.9),
            (70, "temp", 7.5),
            (80, "temp", 8.2),
        ],
    );
    let want: Vec<Vec<AlarmChangeKind>> = vec![
        vec![],
        vec![Raised],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![Cleared],
        vec![],
        vec![Raised],
    ];
    assert_eq!(got, want);
}

#[test]
fn threshold_minimum_duration_is_respected() {
    let mut e = engine(vec![rule(
        "hot5",
        json!({"kind": "threshold", "property": "temp", "op": "ge", "value": 8.0, "for_secs": 300}),
    )]);
    let d = device();
    // Holds for 240 s, dips, then holds again: raised 300 s after the second start.
    let got = feed(
        &mut e,
        &d,
        &[
            (0, "temp", 9.0),
            (120, "temp", 9.0),
            (240, "temp", 9.0),
            (250, "temp", 7.0),
            (300, "temp", 9.0),
            (420, "temp", 9.0),
            (540, "temp", 9.0),
        ],
    );
    assert!(got.iter().all(|k| k.is_empty()), "{got:?}");
    // No sample at 600 s: the tick raises it, once.
    assert!(e.tick(secs(599)).is_empty());
    assert_eq!(kinds(&e.tick(secs(600))), vec![Raised]);
    assert!(e.tick(secs(700)).is_empty());
    let got = feed(&mut e, &d, &[(710, "temp", 7.0)]);
    assert_eq!(got, vec![vec![Cleared]]);
}

#[test]
fn band_fires_outside_and_clears_inside_with_hysteresis() {
    let mut e = engine(vec![rule(
        "hr",
        json!({"kind": "band", "property": "hr", "low": 50, "high": 120, "hysteresis": 5, "for_secs": 120}),
    )]);
    let d = device();
    let got = feed(
        &mut e,
        &d,
        &[
            (0, "hr", 80.0),
            (60, "hr", 130.0),
            (120, "hr", 125.0),
            (180, "hr", 118.0), // inside the band but within hysteresis: still holds
            (240, "hr", 110.0),
            (300, "hr", 45.0),
            (360, "hr", 46.0),
            (420, "hr", 47.0),
        ],
    );
    assert_eq!(
        got,
        vec![
            vec![],
            vec![],
            vec![],
            vec![Raised],
            vec![Cleared],
            vec![],
            vec![],
            vec![Raised]
        ]
    );
}

#[test]
fn offline_fires_once_and_clears_on_telemetry() {
    let mut e = engine(vec![rule(
        "off",
        json!({"kind": "offline", "after_secs": 600}),
    )]);
    let d = device();
    e.register_device(&d, secs(0));
    assert!(e.tick(secs(599)).is_empty());
    let raised = e.tick(secs(600));
    assert_eq!(kinds(&raised), vec![Raised]);
    assert!(e.tick(secs(1200)).is_empty(), "offline fires once");
    assert!(e.tick(secs(5000)).is_empty());
    let got = feed(&mut e, &d, &[(5001, "temp", 20.0)]);
    assert_eq!(got, vec![vec![Cleared]]);
    assert!(e.tick(secs(5600)).is_empty());
    let again = e.tick(secs(5601));
    assert_eq!(kinds(&again), vec![Raised]);
    assert_ne!(
        again[0].alarm.id, raised[0].alarm.id,
        "a new lifecycle has a new id"
    );
}

fn square(lon: f64, lat: f64, half: f64) -> serde_json::Value {
    json!({"type": "Polygon", "coordinates": [[
        [lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
        [lon - half, lat + half], [lon - half, lat - half]
    ]]})
}

fn walk(e: &mut RuleEngine, d: &Device, fixes: &[(i64, f64, f64)]) -> Vec<Vec<AlarmChangeKind>> {
    fixes
        .iter()
        .map(|(s, lon, lat)| {
            let t = Telemetry::new(&d.id, secs(*s)).at_position(*lon, *lat);
            kinds(&e.evaluate(&t, &DeviceContext::new(d), secs(*s)))
        })
        .collect()
}

#[test]
fn geofence_enter_exit_dwell() {
    let area = json!({"shape": "polygon", "geometry": square(117.0, 28.2, 0.01)});
    let circle =
        json!({"shape": "circle", "center": {"lon": 117.0, "lat": 28.2}, "radius_m": 1000.0});
    let mut e = engine(vec![
        rule(
            "enter",
            json!({"kind": "geofence", "area": area, "trigger": "enter"}),
        ),
        rule(
            "exit",
            json!({"kind": "geofence", "area": circle, "trigger": "exit"}),
        ),
        rule(
            "dwell",
            json!({"kind": "geofence", "area": area, "trigger": "dwell", "for_secs": 600}),
        ),
    ]);
    e.set_update_interval(Duration::hours(1));
    let d = device();
    let out = |e: &mut RuleEngine, s: i64, lon: f64, lat: f64| {
        let t = Telemetry::new(&d.id, secs(s)).at_position(lon, lat);
        e.evaluate(&t, &DeviceContext::new(&d), secs(s))
            .into_iter()
            .map(|c| (c.alarm.key.rule_id, c.kind))
            .collect::<Vec<_>>()
    };
    // Outside both (the circle is ~1 km, the square ~2 km wide).
    assert_eq!(
        out(&mut e, 0, 117.05, 28.2),
        vec![("exit".to_string(), Raised)]
    );
    assert_eq!(
        out(&mut e, 60, 117.0, 28.2),
        vec![("enter".to_string(), Raised), ("exit".to_string(), Cleared)]
    );
    assert!(out(&mut e, 300, 117.001, 28.2).is_empty());
    let ticked: Vec<_> = e
        .tick(secs(660))
        .into_iter()
        .map(|c| (c.alarm.key.rule_id, c.kind))
        .collect();
    assert_eq!(ticked, vec![("dwell".to_string(), Raised)]);
    assert_eq!(
        out(&mut e, 700, 117.2, 28.2),
        vec![
            ("enter".to_string(), Cleared),
            ("exit".to_string(), Raised),
            ("dwell".to_string(), Cleared)
        ]
    );
}

#[test]
fn geofence_around_device_location() {
    let mut e = engine(vec![rule(
        "home",
        json!({"kind": "geofence", "area": {"shape": "around_device_location", "radius_m": 500.0}, "trigger": "exit"}),
    )]);
    let mut d = device();
    // No registered home: nothing to compare with.
    assert_eq!(walk(&mut e, &d, &[(0, 117.0, 28.2)]), vec![vec![]]);
    d.location = Some(GeoPoint::new(117.0, 28.2));
    assert_eq!(
        walk(
            &mut e,
            &d,
            &[(10, 117.001, 28.2), (20, 117.01, 28.2), (30, 117.002, 28.2)]
        ),
        vec![vec![], vec![Raised], vec![Cleared]]
    );
}

#[test]
fn alarm_bit_and_event_mapping() {
    let mut e = engine(vec![
        rule_with(
            "stolen",
            json!({"kind": "alarm_bit", "property": "alarm", "bit": 26}),
            json!({"kind": "manual"}),
        ),
        rule(
            "power",
            json!({"kind": "alarm_bit", "property": "alarm", "bit": 8}),
        ),
        rule("sos", json!({"kind": "event", "event": "sos"})),
        rule(
            "zone2",
            json!({"kind": "event", "event": "motion", "params": {"zone": 2}}),
        ),
    ]);
    let d = device();
    let send = |e: &mut RuleEngine, s: i64, word: i64| {
        let t = Telemetry::new(&d.id, secs(s)).with("alarm", Value::Int(word));
        e.evaluate(&t, &DeviceContext::new(&d), secs(s))
            .into_iter()
            .map(|c| (c.alarm.key.rule_id, c.kind))
            .collect::<Vec<_>>()
    };
    assert_eq!(send(&mut e, 0, 1 << 26), vec![("stolen".into(), Raised)]);
    assert_eq!(
        send(&mut e, 10, (1 << 26) | (1 << 8)),
        vec![("power".into(), Raised)]
    );
    // Stolen is manual: the bit dropping does not clear it; power cut clears.
    assert_eq!(send(&mut e, 20, 0), vec![("power".into(), Cleared)]);
    let key = AlarmKey {
        device_id: "d1".into(),
        rule_id: "stolen".into(),
        subject: None,
    };
    assert_eq!(e.alarm(&key).unwrap().count, 2);

    let mut motion = Telemetry::new(&d.id, secs(30));
    motion
        .events
        .push(serde_json::from_value(json!({"id": "motion", "params": {"zone": 1}})).unwrap());
    assert!(
        e.evaluate(&motion, &DeviceContext::new(&d), secs(30))
            .is_empty()
    );
    motion.events[0].params.insert("zone".into(), Value::Int(2));
    let c = e.evaluate(&motion, &DeviceContext::new(&d), secs(31));
    assert_eq!(kinds(&c), vec![Raised]);
    let sos = Telemetry::new(&d.id, secs(40)).with_event("sos");
    assert_eq!(
        kinds(&e.evaluate(&sos, &DeviceContext::new(&d), secs(40))),
        vec![Raised]
    );
    // A repeated SOS within the update interval only counts.
    assert!(
        e.evaluate(&sos.clone(), &DeviceContext::new(&d), secs(40))
            .is_empty()
    );
    let sos2 = Telemetry::new(&d.id, secs(41)).with_event("sos");
    assert!(
        e.evaluate(&sos2, &DeviceContext::new(&d), secs(41))
            .is_empty()
    );
}

#[test]
fn lifecycle_never_duplicates() {
    let mut e = engine(vec![rule(
        "hot",
        json!({"kind": "threshold", "property": "temp", "op": "gt", "value": 8.0}),
    )]);
    let d = device();
    let mut all = Vec::new();
    for s in 0..600 {
        let t = Telemetry::new(&d.id, secs(s)).with("temp", Value::Float(9.0 + (s % 3) as f64));
        all.extend(e.evaluate(&t, &DeviceContext::new(&d), secs(s)));
    }
    let k = kinds(&all);
    assert_eq!(k.iter().filter(|k| **k == Raised).count(), 1);
    // One update per 60 s interval, not one per second.
    assert_eq!(k.iter().filter(|k| **k == Updated).count(), 9, "{k:?}");
    let key = all[0].alarm.key.clone();
    let alarm = e.alarm(&key).unwrap();
    assert_eq!(alarm.count, 600);
    assert_eq!(alarm.first_at, secs(0));
    assert_eq!(alarm.last_at, secs(599));
    assert!(all.iter().all(|c| c.alarm.id == all[0].alarm.id));

    let ack = e.acknowledge(&key, "alice", secs(600)).unwrap();
    assert_eq!(ack.kind, Acknowledged);
    assert_eq!(ack.alarm.state, AlarmState::Acknowledged);
    assert!(
        e.acknowledge(&key, "alice", secs(600)).is_none(),
        "acknowledged once"
    );

    // The case closes while it is still hot: latched, no new alarm.
    let cleared = e
        .clear(
            &key,
            ClearReason::CaseClosed {
                case_id: "C1".into(),
            },
            secs(601),
        )
        .unwrap();
    assert_eq!(cleared.alarm.state, AlarmState::Cleared);
    assert!(e.alarm(&key).is_none());
    let got = feed(
        &mut e,
        &d,
        &[(602, "temp", 12.0), (603, "temp", 7.0), (604, "temp", 9.0)],
    );
    assert_eq!(got, vec![vec![], vec![], vec![Raised]]);
    assert!(
        e.clear(&key, ClearReason::Person { user: "bob".into() }, secs(605))
            .is_some()
    );
    assert!(
        e.clear(&key, ClearReason::Person { user: "bob".into() }, secs(605))
            .is_none()
    );
}

#[test]
fn event_count_sliding_window() {
    let mut e = engine(vec![rule(
        "storm",
        json!({"kind": "event_count", "event": "sos", "count": 3, "within_secs": 60}),
    )]);
    let d = device();
    let hit = |e: &mut RuleEngine, s: i64| {
        let t = Telemetry::new(&d.id, secs(s)).with_event("sos");
        kinds(&e.evaluate(&t, &DeviceContext::new(&d), secs(s)))
    };
    // 0, 30, 70, 95: never 3 within 60 s.
    assert!(hit(&mut e, 0).is_empty());
    assert!(hit(&mut e, 30).is_empty());
    assert!(hit(&mut e, 70).is_empty());
    assert!(hit(&mut e, 95).is_empty());
    // 70, 95, 100 are 3 within 60 s.
    assert_eq!(hit(&mut e, 100), vec![Raised]);
    assert!(hit(&mut e, 101).is_empty());
    // The window drains: at 155 the hit of 95 leaves it → 2 left → cleared by tick.
    assert!(e.tick(secs(154)).is_empty());
    assert_eq!(kinds(&e.tick(secs(155))), vec![Cleared]);
}

#[test]
fn movement_while_armed() {
    let mut e = engine(vec![rule(
        "moved",
        json!({"kind": "movement_while_armed", "max_displacement_m": 50.0, "max_speed_kmh": 15.0, "speed_property": "speed"}),
    )]);
    let mut d = device();
    // Disarmed: riding is fine.
    assert_eq!(
        walk(&mut e, &d, &[(0, 117.0, 28.2), (10, 117.01, 28.2)]),
        vec![vec![], vec![]]
    );
    d.armed = true;
    // The first fix after arming is the origin; jitter of ~10 m is fine.
    assert_eq!(
        walk(
            &mut e,
            &d,
            &[
                (100, 117.0, 28.2),
                (110, 117.0001, 28.2),
                (200, 117.001, 28.2)
            ]
        ),
        vec![vec![], vec![], vec![Raised]]
    );
    d.armed = false;
    assert_eq!(
        walk(&mut e, &d, &[(210, 117.002, 28.2)]),
        vec![vec![Cleared]]
    );
    // Armed at a known position; speed alone also fires.
    d.armed = true;
    d.armed_position = Some(GeoPoint::new(117.002, 28.2));
    let t = Telemetry::new(&d.id, secs(300))
        .at_position(117.002, 28.2)
        .with("speed", Value::Float(20.0));
    assert_eq!(
        kinds(&e.evaluate(&t, &DeviceContext::new(&d), secs(300))),
        vec![Raised]
    );
}

#[test]
fn overload_per_axle_count_one_alarm_per_plate() {
    let mut r = rule_with(
        "overload",
        json!({"kind": "overload", "axles": "axles", "gross_mass_t": "gross", "configuration": "config",
               "single_drive_axle": "single_drive", "height_m": "height"}),
        json!({"kind": "quiet", "secs": 3600}),
    );
    r.subject_property = Some("plate".into());
    let mut e = engine(vec![r]);
    let d = device();
    // (plate, axles, gross t, configuration, single drive axle, height m, over the limit)
    type Case<'a> = (&'a str, i64, f64, Option<&'a str>, Option<bool>, f64, bool);
    let cases: [Case; 12] = [
        ("赣L00001", 2, 18.0, None, None, 3.5, false),
        ("赣L00002", 2, 18.5, None, None, 3.5, true),
        ("赣L00003", 3, 26.0, Some("truck"), None, 3.5, true),
        ("赣L00004", 3, 26.0, Some("combination"), None, 3.5, false),
        ("赣L00005", 4, 33.0, Some("truck"), None, 3.5, true),
        ("赣L00006", 4, 35.9, Some("combination"), None, 3.5, false),
        ("赣L00007", 5, 43.1, None, None, 3.5, true),
        ("赣L00008", 6, 48.0, None, None, 3.5, false),
        ("赣L00009", 6, 47.0, None, Some(true), 3.5, true),
        ("赣L00010", 7, 49.5, None, Some(false), 3.5, true),
        ("赣L00011", 2, 10.0, None, None, 4.1, true),
        ("赣L00012", 6, 46.0, None, Some(true), 4.0, false),
    ];
    for (i, (plate, axles, gross, config, single, height, over)) in cases.iter().enumerate() {
        let mut t = Telemetry::new(&d.id, secs(i as i64))
            .with("plate", Value::Text(plate.to_string()))
            .with("axles", Value::Int(*axles))
            .with("gross", Value::Float(*gross))
            .with("height", Value::Float(*height));
        if let Some(c) = config {
            t = t.with("config", Value::Text(c.to_string()));
        }
        if let Some(s) = single {
            t = t.with("single_drive", Value::Bool(*s));
        }
        let c = e.evaluate(&t, &DeviceContext::new(&d), secs(i as i64));
        assert_eq!(c.len(), usize::from(*over), "{plate}: {c:?}");
        if *over {
            assert_eq!(c[0].alarm.key.subject.as_deref(), Some(*plate));
        }
    }
    assert_eq!(e.active_alarms().count(), 7);
    // The same plate again within the hour only counts.
    let again = Telemetry::new(&d.id, secs(100))
        .with("plate", Value::Text("赣L00002".into()))
        .with("axles", Value::Int(2))
        .with("gross", Value::Float(19.0));
    let c = e.evaluate(&again, &DeviceContext::new(&d), secs(100));
    assert_eq!(kinds(&c), vec![Updated]);
    assert_eq!(c[0].alarm.count, 2);
    // Quiet for an hour: all cleared.
    let cleared = e.tick(secs(3700));
    assert_eq!(cleared.len(), 7);
    assert!(cleared.iter().all(|c| c.kind == Cleared));
}

#[test]
fn paired_distance_with_caller_context() {
    let mut r = rule(
        "apart",
        json!({"kind": "paired_distance", "max_m": 200.0, "for_secs": 300}),
    );
    r.applies_to.tag = Some("bracelet".into());
    let mut e = engine(vec![r]);
    let mut d = device();
    d.tags.insert("bracelet".into());
    d.paired_device_id = Some("phone".into());
    let phone = GeoPoint::new(117.0, 28.2);
    let mut kinds_at = Vec::new();
    for (s, lon) in [
        (0, 117.0),
        (60, 117.003),
        (120, 117.003),
        (400, 117.003),
        (460, 117.0),
    ] {
        let t = Telemetry::new(&d.id, secs(s)).at_position(lon, 28.2);
        let ctx = DeviceContext {
            device: &d,
            paired_position: Some((phone, secs(s))),
        };
        kinds_at.push(kinds(&e.evaluate(&t, &ctx, secs(s))));
    }
    assert_eq!(
        kinds_at,
        vec![vec![], vec![], vec![], vec![Raised], vec![Cleared]]
    );
    // A stale phone fix is not evidence of separation.
    let t = Telemetry::new(&d.id, secs(1000)).at_position(117.01, 28.2);
    let ctx = DeviceContext {
        device: &d,
        paired_position: Some((phone, secs(0))),
    };
    assert!(e.evaluate(&t, &ctx, secs(1000)).is_empty());
    assert!(e.tick(secs(2000)).is_empty());
}

#[test]
fn clear_when_and_quiet_policies() {
    let mut e = engine(vec![rule_with(
        "hot",
        json!({"kind": "threshold", "property": "temp", "op": "gt", "value": 8.0}),
        json!({"kind": "when", "condition": {"kind": "threshold", "property": "temp", "op": "lt", "value": 4.0}}),
    )]);
    let d = device();
    let got = feed(
        &mut e,
        &d,
        &[(0, "temp", 9.0), (10, "temp", 6.0), (20, "temp", 3.0)],
    );
    assert_eq!(got, vec![vec![Raised], vec![], vec![Cleared]]);
}

#[test]
fn validation_names_the_problem() {
    let products = vec![product()];
    let cases: Vec<(serde_json::Value, &str, &str)> = vec![
        (
            json!({"kind": "threshold", "property": "tmp", "op": "gt", "value": 1}),
            "condition.property",
            "no property \"tmp\"",
        ),
        (
            json!({"kind": "threshold", "property": "plate", "op": "gt", "value": 1}),
            "condition.property",
            "is string",
        ),
        (
            json!({"kind": "threshold", "property": "temp", "op": "gt", "value": 8, "clear_at": 9}),
            "condition.clear_at",
            "safe side",
        ),
        (
            json!({"kind": "threshold", "property": "temp", "op": "gt", "value": 8, "for_secs": -5}),
            "condition.for_secs",
            "negative",
        ),
        (
            json!({"kind": "offline", "after_secs": -1}),
            "condition.after_secs",
            "negative",
        ),
        (
            json!({"kind": "geofence", "trigger": "enter", "area": {"shape": "polygon", "geometry": {"type": "Polygon", "coordinates": [[[117, 28], [118, 28], [117, 28]]]}}}),
            "condition.area.geometry.polygons[0].rings[0]",
            "at least 4",
        ),
        (
            json!({"kind": "geofence", "trigger": "enter", "area": {"shape": "polygon", "geometry": {"type": "Polygon", "coordinates": [[[3900000, 500000], [3900100, 500000], [3900100, 500100], [3900000, 500000]]]}}}),
            "condition.area.geometry.polygons[0].rings[0]",
            "WGS-84",
        ),
        (
            json!({"kind": "geofence", "trigger": "enter", "area": {"shape": "polygon", "geometry": {"type": "LineString", "coordinates": [[117, 28], [118, 28]]}}}),
            "condition.area.geometry",
            "LineString",
        ),
        (
            json!({"kind": "geofence", "trigger": "dwell", "area": {"shape": "circle", "center": {"lon": 117, "lat": 28}, "radius_m": 10}}),
            "condition.for_secs",
            "dwell",
        ),
        (
            json!({"kind": "geofence", "trigger": "enter", "area": {"shape": "circle", "center": {"lon": 117, "lat": 28}, "radius_m": -10}}),
            "condition.area.radius_m",
            "positive",
        ),
        (
            json!({"kind": "alarm_bit", "property": "temp", "bit": 3}),
            "condition.property",
            "needs int",
        ),
        (
            json!({"kind": "event", "event": "fire"}),
            "condition.event",
            "no event",
        ),
        (
            json!({"kind": "event_count", "event": "sos", "count": 0, "within_secs": 60}),
            "condition.count",
            "at least 1",
        ),
        (
            json!({"kind": "band", "property": "hr", "low": 100, "high": 50}),
            "condition.high",
            "low < high",
        ),
    ];
    for (cond, field, needle) in cases {
        let r = rule("r", cond.clone());
        let e = r.validate(&products).unwrap_err();
        let hit = e.problems.iter().find(|p| p.field == field);
        assert!(
            hit.is_some_and(|p| p.message.contains(needle)),
            "{cond}: wanted {field} ~ {needle}, got {:?}",
            e.problems
        );
    }
    let mut r = rule("r", json!({"kind": "offline", "after_secs": 60}));
    r.raise.message = "{devcie} offline".into();
    let e = r.validate(&products).unwrap_err();
    assert_eq!(e.problems[0].field, "raise.message");
    r.raise.message = "ok".into();
    r.applies_to.product = "nope".into();
    assert_eq!(
        r.validate(&products).unwrap_err().problems[0].field,
        "applies_to.product"
    );
}

#[test]
fn versions_and_export_import() {
    let r = rule(
        "hot",
        json!({"kind": "threshold", "property": "temp", "op": "gt", "value": 8.0}),
    );
    let mut e = engine(vec![r.clone()]);
    let d = device();
    assert_eq!(feed(&mut e, &d, &[(0, "temp", 9.0)]), vec![vec![Raised]]);
    // Same version refused; a newer version keeps the open alarm.
    assert!(e.upsert_rule(r.clone(), secs(1)).is_err());
    let mut v2 = r.clone();
    v2.version = 2;
    if let chengyun_domain::iot::rules::Condition::Threshold { value, .. } = &mut v2.condition {
        *value = 10.0;
    }
    assert!(e.upsert_rule(v2.clone(), secs(1)).unwrap().is_empty());
    assert_eq!(e.active_alarms().count(), 1);
    assert_eq!(feed(&mut e, &d, &[(2, "temp", 9.0)]), vec![vec![Cleared]]);

    let exported = e.export().to_json();
    assert!(exported.contains("\"format_version\": 1"));
    let back = RuleSet::from_json(&exported, &[product()]).unwrap();
    assert_eq!(back.rules, vec![v2]);
    let e2 = RuleSet::from_json(
        &exported.replace("\"format_version\": 1", "\"format_version\": 9"),
        &[product()],
    );
    assert_eq!(e2.unwrap_err().problems[0].field, "format_version");
    let e3 = RuleSet::from_json("{\"format_version\": 1, \"rules\": [", &[product()]).unwrap_err();
    assert!(e3.problems[0].message.contains("line 1"), "{e3}");

    // Disabling clears; removing clears.
    feed(&mut e, &d, &[(3, "temp", 11.0)]);
    let mut v3 = back.rules[0].clone();
    v3.version = 3;
    v3.enabled = false;
    assert_eq!(kinds(&e.upsert_rule(v3, secs(4)).unwrap()), vec![Cleared]);
    assert!(e.remove_rule("hot", secs(5)).is_empty());
    assert_eq!(e.rules().count(), 0);
}

// ---------------------------------------------------------------------------
// Real tracks

fn shared(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/gps-trajectories")
        .join(path)
}

/// `(time, lon, lat)` of the bus journey in Limerick (GPX 1.1, ~2 s sampling).
fn bus_track() -> Vec<(DateTime<Utc>, f64, f64)> {
    let text = std::fs::read_to_string(shared("bus304_limerick_2019-02-18.gpx")).expect("bus GPX");
    let mut out = Vec::new();
    for chunk in text.split("<trkpt ").skip(1) {
        let attr = |name: &str| -> f64 {
            let start = chunk.find(&format!("{name}=\"")).expect("attribute") + name.len() + 2;
            let end = start + chunk[start..].find('"').expect("closing quote");
            chunk[start..end].parse().expect("number")
        };
        let ts = chunk.find("<time>").expect("time") + 6;
        let te = ts + chunk[ts..].find("</time>").expect("end of time");
        let at = DateTime::parse_from_rfc3339(&chunk[ts..te])
            .expect("rfc3339")
            .with_timezone(&Utc);
        out.push((at, attr("lon"), attr("lat")));
    }
    out
}

/// GeoLife trajectories prepared by MovingPandas: `(trajectory, time, lon, lat)`.
fn geolife() -> Vec<(u32, DateTime<Utc>, f64, f64)> {
    let text =
        std::fs::read_to_string(shared("movingpandas_demodata_geolife.csv")).expect("geolife csv");
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(';').collect();
            let at = chrono::NaiveDateTime::parse_from_str(
                f[7].trim_end_matches("+00"),
                "%Y-%m-%d %H:%M:%S",
            )
            .expect("time")
            .and_utc();
            (
                f[5].parse().expect("trajectory"),
                at,
                f[0].parse().expect("lon"),
                f[1].parse().expect("lat"),
            )
        })
        .collect()
}

fn speed_alarms(limit: f64) -> usize {
    let mut e = engine(vec![rule(
        "fast",
        json!({"kind": "speed", "limit_kmh": limit, "for_secs": 10}),
    )]);
    let d = device();
    let mut raised = 0;
    for (at, lon, lat) in bus_track() {
        let t = Telemetry {
            location: Some(GeoPoint::new(lon, lat)),
            ..Telemetry::new("d1", at)
        };
        raised += e
            .evaluate(&t, &DeviceContext::new(&d), at)
            .iter()
            .filter(|c| c.kind == Raised)
            .count();
    }
    raised
}

#[test]
fn speed_rule_over_a_real_bus_journey() {
    let track = bus_track();
    assert_eq!(track.len(), 2144);
    // An urban bus: never above 70 km/h, a couple of stretches above 40, many above 30.
    assert_eq!(speed_alarms(70.0), 0);
    let over40 = speed_alarms(40.0);
    assert!((1..=4).contains(&over40), "{over40}");
    let over30 = speed_alarms(30.0);
    assert!(over30 > over40 && over30 < 30, "{over30}");
}

#[test]
fn geofence_and_paired_distance_over_geolife_tracks() {
    let points = geolife();
    let traj: Vec<_> = points.iter().filter(|p| p.0 == 3).collect();
    assert!(traj.len() > 1000);
    let (_, _, lon0, lat0) = *traj[0];
    let area = json!({"shape": "circle", "center": {"lon": lon0, "lat": lat0}, "radius_m": 300.0});
    let mut r = rule(
        "apart",
        json!({"kind": "paired_distance", "max_m": 200.0, "for_secs": 300}),
    );
    r.applies_to.devices = vec!["d1".into()];
    let mut e = engine(vec![
        rule(
            "left",
            json!({"kind": "geofence", "area": area, "trigger": "exit"}),
        ),
        r,
    ]);
    let mut d = device();
    d.paired_device_id = Some("phone".into());
    let mut phone = Device::new("phone", "sensor", "手机", "dept");
    phone.paired_device_id = Some("d1".into());
    let half = traj.len() / 2;
    let mut raised: Vec<String> = Vec::new();
    let mut cleared: Vec<String> = Vec::new();
    for (i, (_, at, lon, lat)) in traj.iter().enumerate() {
        // The phone travels with the wearer for the first half, then is left behind.
        let (plon, plat) = if i < half {
            (*lon, *lat)
        } else {
            (traj[half].2, traj[half].3)
        };
        let p = Telemetry::new("phone", *at).at_position(plon, plat);
        e.evaluate(&p, &DeviceContext::new(&phone), *at);
        let t = Telemetry::new("d1", *at).at_position(*lon, *lat);
        for c in e.evaluate(&t, &DeviceContext::new(&d), *at) {
            match c.kind {
                Raised => raised.push(c.alarm.key.rule_id),
                Cleared => cleared.push(c.alarm.key.rule_id),
                _ => {}
            }
        }
    }
    let n = |v: &[String], id: &str| v.iter().filter(|r| *r == id).count();
    // The wearer leaves the start area (a real trip); a GPS track may cross back a few times.
    assert!((1..=5).contains(&n(&raised, "left")), "{raised:?}");
    // Separation only happens after the phone is left behind, and is raised once.
    assert_eq!(n(&raised, "apart"), 1, "{raised:?}");
    let first_apart = e
        .active_alarms()
        .find(|a| a.key.rule_id == "apart")
        .map(|a| a.first_at);
    if let Some(first) = first_apart {
        assert!(first > traj[half].1 + Duration::seconds(299));
    }
    assert!(n(&cleared, "apart") <= 1);
}
