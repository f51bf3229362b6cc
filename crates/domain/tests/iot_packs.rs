//! Each scenario pack loads and fires its main alarm from a crafted telemetry
//! sequence, and the alarm maps to a matter of the (extended) catalogue.

use chengyun_domain::case::Urgency;
use chengyun_domain::component::ComponentId;
use chengyun_domain::iot::alarm_mapping::{AlarmCaseDraft, DispatchPolicy, LinkageAction};
use chengyun_domain::iot::model::{Device, GeoPoint, Telemetry, Value};
use chengyun_domain::iot::packs::{self, Pack};
use chengyun_domain::iot::rules::{AlarmChange, AlarmChangeKind, DeviceContext, RuleEngine};
use chengyun_domain::standard::Catalogue;
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::BTreeMap;

fn secs(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap() + Duration::seconds(s)
}

struct Scene {
    pack: Pack,
    engine: RuleEngine,
    catalogue: Catalogue,
    raised: Vec<AlarmChange>,
}

impl Scene {
    fn new(key: &str) -> Scene {
        let pack = packs::get(key).unwrap_or_else(|| panic!("pack {key}"));
        pack.validate().unwrap();
        let engine = RuleEngine::new(pack.products.clone(), pack.rules.clone()).unwrap();
        let mut catalogue = Catalogue::national();
        pack.extend_catalogue(&mut catalogue).unwrap();
        Scene {
            pack,
            engine,
            catalogue,
            raised: Vec::new(),
        }
    }

    fn send(&mut self, d: &Device, t: Telemetry) {
        let product = self
            .pack
            .products
            .iter()
            .find(|p| p.key == d.product_key)
            .unwrap();
        t.validate(product).unwrap_or_else(|e| panic!("{e:?}"));
        let now = t.at;
        let changes = self.engine.evaluate(&t, &DeviceContext::new(d), now);
        self.keep(changes);
    }

    fn tick(&mut self, s: i64) {
        let changes = self.engine.tick(secs(s));
        self.keep(changes);
    }

    fn keep(&mut self, changes: Vec<AlarmChange>) {
        self.raised.extend(
            changes
                .into_iter()
                .filter(|c| c.kind == AlarmChangeKind::Raised),
        );
    }

    fn types(&self) -> Vec<&str> {
        self.raised
            .iter()
            .map(|c| c.alarm.alarm_type.as_str())
            .collect()
    }

    /// The case draft of the first raised alarm of `alarm_type`.
    fn draft(&self, alarm_type: &str, d: &Device) -> AlarmCaseDraft {
        let change = self
            .raised
            .iter()
            .find(|c| c.alarm.alarm_type == alarm_type)
            .unwrap_or_else(|| panic!("{alarm_type} not raised; got {:?}", self.types()));
        self.pack
            .mapping_table()
            .for_alarm(alarm_type)
            .unwrap()
            .case_draft(&change.alarm, d, &self.catalogue)
            .unwrap()
    }
}

fn at(s: i64, d: &Device) -> Telemetry {
    Telemetry::new(&d.id, secs(s))
}

#[test]
fn ebike_stolen_bit_and_movement_while_armed() {
    let mut s = Scene::new("ebike_antitheft");
    let mut bike = Device::new("bike1", "ebike_tracker_jt808", "赣L·E0001", "owner");
    bike.terminal_id = Some("013912345678".into());
    bike.armed = true;
    s.send(
        &bike,
        at(0, &bike)
            .at_position(117.03, 28.24)
            .with("alarm", Value::Int(0))
            .with("speed", Value::Float(0.0)),
    );
    s.send(
        &bike,
        at(30, &bike)
            .at_position(117.0302, 28.24)
            .with("speed", Value::Float(0.0)),
    );
    assert!(
        s.raised.is_empty(),
        "parked with GPS jitter: {:?}",
        s.types()
    );
    s.send(
        &bike,
        at(60, &bike)
            .at_position(117.033, 28.241)
            .with("speed", Value::Float(12.0)),
    );
    s.send(
        &bike,
        at(90, &bike)
            .at_position(117.036, 28.242)
            .with("alarm", Value::Int(1 << 26)),
    );
    assert_eq!(s.types(), vec!["ebike.moved_while_armed", "ebike.stolen"]);
    let draft = s.draft("ebike.stolen", &bike);
    assert_eq!(draft.matter_code.as_str(), "10901");
    assert_eq!(draft.urgency, Urgency::Urgent);
    assert_eq!(draft.dispatch, DispatchPolicy::Auto);
    assert_eq!(draft.department_hint.as_deref(), Some("police"));
    assert_eq!(draft.location, Some(GeoPoint::new(117.036, 28.242)));
}

#[test]
fn elderly_sos_calls_the_family() {
    let mut s = Scene::new("elderly_wristband");
    let mut watch = Device::new("w1", "elderly_watch", "张奶奶", "community-01");
    watch.location = Some(GeoPoint::new(117.05, 28.23));
    s.send(
        &watch,
        at(0, &watch)
            .at_position(117.05, 28.23)
            .with("status", Value::Int(0))
            .with("heart_rate", Value::Int(72)),
    );
    s.send(
        &watch,
        at(60, &watch)
            .with("status", Value::Int(1 << 16))
            .with("battery", Value::Int(60)),
    );
    assert_eq!(s.types(), vec!["elder.sos"]);
    assert_eq!(
        s.raised[0].linkage,
        vec![LinkageAction::NotifyContacts {
            relation: "family".into()
        }]
    );
    assert_eq!(s.draft("elder.sos", &watch).matter_code.as_str(), "10902");
    // Heart rate above the band for 10 minutes, then leaving the safe zone.
    for m in 0..=10 {
        s.send(
            &watch,
            at(120 + m * 60, &watch).with("heart_rate", Value::Int(135)),
        );
    }
    assert!(s.types().contains(&"elder.heart_rate"), "{:?}", s.types());
    s.send(&watch, at(900, &watch).at_position(117.08, 28.23));
    s.tick(1200);
    assert!(
        s.types().contains(&"elder.left_safe_zone"),
        "{:?}",
        s.types()
    );
    assert_eq!(
        s.draft("elder.left_safe_zone", &watch).matter_code.as_str(),
        "10903"
    );
}

#[test]
fn corrections_bracelet_and_phone_apart() {
    let mut s = Scene::new("community_corrections");
    let mut bracelet = Device::new(
        "b1",
        "corrections_bracelet",
        "矫正对象 A 手环",
        "judicial-01",
    );
    bracelet.paired_device_id = Some("p1".into());
    bracelet.location = Some(GeoPoint::new(117.05, 28.23));
    let mut phone = Device::new("p1", "corrections_phone", "矫正对象 A 手机", "judicial-01");
    phone.paired_device_id = Some("b1".into());
    for m in 0..=12 {
        let t = m * 60;
        s.send(&phone, at(t, &phone).at_position(117.05, 28.23));
        s.send(&bracelet, at(t, &bracelet).at_position(117.056, 28.23));
    }
    assert_eq!(s.types(), vec!["corrections.separated"]);
    let draft = s.draft("corrections.separated", &bracelet);
    assert_eq!(draft.matter_code.as_str(), "10905");
    assert_eq!(draft.department_hint.as_deref(), Some("judicial_office"));
    s.send(
        &bracelet,
        at(800, &bracelet).with("status", Value::Int(1 << 20)),
    );
    assert!(s.types().contains(&"corrections.tamper"));
    s.tick(800 + 1800);
    assert!(
        s.types().contains(&"corrections.offline"),
        "{:?}",
        s.types()
    );
}

#[test]
fn railway_cattle_in_buffer_plans_broadcast_and_preset() {
    let mut s = Scene::new("railway_perimeter");
    let cow = Device::new("cow1", "cattle_tracker", "耳标 1", "village-01");
    s.send(&cow, at(0, &cow).at_position(117.04, 28.25));
    assert!(s.raised.is_empty(), "1.5 km from the line");
    s.send(&cow, at(60, &cow).at_position(117.0401, 28.2362));
    assert_eq!(s.types(), vec!["railway.cattle_in_buffer"]);
    let mut speaker = Device::new("spk1", "loudspeaker", "广播 1", "rail");
    speaker.location = Some(GeoPoint::new(117.042, 28.2365));
    let mut far_speaker = Device::new("spk2", "loudspeaker", "广播 2", "rail");
    far_speaker.location = Some(GeoPoint::new(117.09, 28.25));
    let mut ptz = Device::new("ptz1", "ptz_camera", "云台 1", "rail");
    ptz.location = Some(GeoPoint::new(117.039, 28.236));
    let fleet = [speaker, far_speaker, ptz];
    let alarm = &s.raised[0];
    let planned: Vec<_> = alarm
        .linkage
        .iter()
        .filter_map(|a| a.plan(alarm.alarm.location.unwrap(), fleet.iter()))
        .collect();
    assert_eq!(planned.len(), 2);
    assert_eq!(planned[0].device_id, "spk1");
    assert_eq!(planned[0].command, "broadcast");
    assert_eq!(planned[1].device_id, "ptz1");
    assert_eq!(planned[1].params["preset"], Value::Int(1));

    let cam = Device::new("cam1", "perimeter_camera", "周界 1", "rail");
    let mut t = at(120, &cam);
    let mut params = BTreeMap::new();
    params.insert("priority".to_string(), Value::Int(1));
    t.events.push(chengyun_domain::iot::model::EventOccurrence {
        id: "intrusion".into(),
        params,
    });
    s.send(&cam, t);
    assert!(s.types().contains(&"railway.intrusion"));
    let draft = s.draft("railway.intrusion", &cam);
    assert_eq!(draft.matter_code.as_str(), "10906");
    assert_eq!(draft.dispatch, DispatchPolicy::Clerk);
}

#[test]
fn weigh_in_motion_overload_per_plate() {
    let mut s = Scene::new("weigh_in_motion");
    let station = Device::new("wim1", "wim_station", "G206 鹰潭站", "traffic");
    let record = |t: i64, plate: &str, axles: i64, gross: f64| {
        at(t, &station)
            .with("plate", Value::Text(plate.into()))
            .with("axles", Value::Int(axles))
            .with("gross_mass_t", Value::Float(gross))
            .with("configuration", Value::Text("truck".into()))
    };
    s.send(&station, record(0, "赣L12345", 3, 24.0));
    s.send(&station, record(10, "赣L23456", 3, 31.2));
    s.send(&station, record(20, "赣L34567", 6, 48.0));
    s.send(&station, record(30, "赣L23456", 3, 31.0));
    assert_eq!(s.types(), vec!["wim.overload"]);
    assert_eq!(s.raised[0].alarm.key.subject.as_deref(), Some("赣L23456"));
    assert!(
        s.raised[0].alarm.message.contains("gross_mass 31.2 > 25"),
        "{}",
        s.raised[0].alarm.message
    );
    assert_eq!(
        s.draft("wim.overload", &station).matter_code.as_str(),
        "10907"
    );
    // Over-limit rate for the station that day.
    let kpi = s
        .pack
        .kpis
        .iter()
        .find(|k| k.id == "over_limit_rate")
        .unwrap();
    let counters: BTreeMap<String, f64> = [
        ("vehicles_weighed".to_string(), 3.0),
        ("vehicles_over_limit".to_string(), 1.0),
    ]
    .into();
    let rate = kpi.evaluate(&counters).unwrap().unwrap();
    assert!((rate - 100.0 / 3.0).abs() < 1e-9);
}

#[test]
fn bright_kitchen_cold_store_and_rodent() {
    let mut s = Scene::new("bright_kitchen");
    let sensor = Device::new("cs1", "cold_store_sensor", "某餐馆冷库", "market");
    for m in 0..=31 {
        s.send(
            &sensor,
            at(m * 60, &sensor).with("temperature", Value::Float(9.5)),
        );
    }
    assert_eq!(s.types(), vec!["kitchen.cold_store_warm"]);
    assert_eq!(s.raised[0].alarm.first_at, secs(1800));
    assert_eq!(
        s.draft("kitchen.cold_store_warm", &sensor)
            .matter_code
            .as_str(),
        "10909"
    );
    let cam = Device::new("k1", "kitchen_ai_camera", "后厨 1", "market");
    s.send(&cam, at(2000, &cam).with_event("rodent"));
    assert_eq!(
        s.draft("kitchen.rodent", &cam).matter_code.as_str(),
        "10908"
    );
}

#[test]
fn smart_fire_smoke_and_hydrant() {
    let mut s = Scene::new("smart_fire");
    let smoke = Device::new("sd1", "smoke_detector", "某小区 3 栋", "fire");
    s.send(&smoke, at(0, &smoke).with_event("smoke"));
    let draft = s.draft("fire.smoke", &smoke);
    assert_eq!(draft.matter_code.as_str(), "10910");
    assert_eq!(draft.dispatch, DispatchPolicy::Auto);
    let hydrant = Device::new("h1", "hydrant_sensor", "消火栓 1", "fire");
    s.send(
        &hydrant,
        at(0, &hydrant).with("pressure_mpa", Value::Float(0.1)),
    );
    s.tick(599);
    assert!(!s.types().contains(&"fire.hydrant_low_pressure"));
    s.tick(600);
    // The hydrant is a national component: 01013 消防设施异常.
    assert_eq!(
        s.draft("fire.hydrant_low_pressure", &hydrant)
            .matter_code
            .as_str(),
        "01013"
    );
}

#[test]
fn city_components_map_to_national_matters() {
    let mut s = Scene::new("city_components");
    let cat = Catalogue::national();
    let mut cover = Device::new("mh1", "manhole_tilt_sensor", "雨水井盖 1", "water");
    cover.component_id = Some(ComponentId::parse("36060201003000001", &cat).unwrap());
    s.send(&cover, at(0, &cover).with("tilt_deg", Value::Float(2.0)));
    s.send(&cover, at(10, &cover).with("tilt_deg", Value::Float(35.0)));
    assert_eq!(s.types(), vec!["component.manhole_tilt"]);
    assert_eq!(
        s.draft("component.manhole_tilt", &cover)
            .matter_code
            .as_str(),
        "01003"
    );
    let unknown = Device::new("mh2", "manhole_tilt_sensor", "井盖 2", "water");
    s.send(
        &unknown,
        at(20, &unknown).with("tilt_deg", Value::Float(40.0)),
    );
    let last = s.raised.last().unwrap().alarm.clone();
    let m = s
        .pack
        .mapping_table()
        .for_alarm("component.manhole_tilt")
        .unwrap()
        .clone();
    assert_eq!(
        m.case_draft(&last, &unknown, &s.catalogue)
            .unwrap()
            .matter_code
            .as_str(),
        "01023"
    );

    let bin = Device::new("bin1", "bin_fill_sensor", "垃圾箱 1", "sanitation");
    s.send(&bin, at(0, &bin).with("fill_pct", Value::Int(95)));
    s.tick(600);
    assert_eq!(
        s.draft("component.bin_full", &bin).matter_code.as_str(),
        "06042"
    );
    let lamp = Device::new("sl1", "street_light_controller", "路灯 1", "lighting");
    s.send(&lamp, at(700, &lamp).with("fault_word", Value::Int(1)));
    assert_eq!(
        s.draft("component.street_light_out", &lamp)
            .matter_code
            .as_str(),
        "01037"
    );
}

#[test]
fn every_pack_maps_only_to_catalogue_codes() {
    for pack in packs::all() {
        let mut cat = Catalogue::national();
        pack.extend_catalogue(&mut cat).unwrap();
        for m in &pack.alarm_mappings {
            m.validate(&cat)
                .unwrap_or_else(|e| panic!("{}: {e}", pack.key));
        }
        for local in &pack.local_matters {
            assert!(
                local.code.starts_with("109"),
                "{}: local codes use 10 9xx",
                pack.key
            );
        }
    }
    assert_eq!(packs::keys().len(), 8);
}
