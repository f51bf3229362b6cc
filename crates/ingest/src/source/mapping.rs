//! Decoded protocol messages → the domain's [`Telemetry`] and [`EventReport`], named after the
//! scenario packs' thing models (`crates/domain/data/packs/*.json`):
//!
//! * JT/T 808 0x0200 → product `ebike_tracker_jt808`: `alarm`, `status` (raw words, so the rule
//!   engine's `alarm_bit` conditions see every bit), `speed` (km/h), `altitude` (m),
//!   `direction` (°), `mileage` (km), `signal`, `satellites`, and the WGS-84 fix.
//! * watch UD/UD2/AL/LK/bphrt/btemp2 → products `elderly_watch` and `corrections_bracelet`:
//!   `battery`, `steps`, `status` (raw word), `speed`, `heart_rate`, `systolic`, `diastolic`,
//!   `body_temp`; events `sos` (status bit 16), `fall` (bits 21/22), `power_off` (bit 14, or a
//!   `POWEROFF` message).
//! * GB/T 28181 Notify → an event named after the alarm (`intrusion`, `tripwire`, …).
//!
//! A product only declares some of these; [`ProductFilter`] drops readings and events the
//! device's product does not declare (for products shipped in the packs), so that a bracelet
//! is not refused for reporting `steps`. Products unknown to the packs get everything and the
//! sink validates.

use std::collections::{BTreeMap, HashMap, HashSet};

use chengyun_domain::iot::{EventOccurrence, GeoPoint, Telemetry, Value};
use chrono::{DateTime, TimeZone, Utc};

use super::contract::EventReport;
use crate::gb28181::{AlarmMethod, AlarmNotify, VideoAlarmType};
use crate::jt808::Location;
use crate::watch::{WatchMessage, WatchPosition, WatchStatus};

/// The declared property and event ids of the packs' products.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    products: HashMap<String, (HashSet<String>, HashSet<String>)>,
}

impl ProductFilter {
    /// From every shipped scenario pack.
    pub fn from_packs() -> Self {
        let mut products = HashMap::new();
        for pack in chengyun_domain::iot::packs::all() {
            for p in pack.products {
                let props = p.properties.iter().map(|d| d.id.clone()).collect();
                let events = p.events.iter().map(|d| d.id.clone()).collect();
                products.insert(p.key.clone(), (props, events));
            }
        }
        Self { products }
    }

    /// Keep only what `product_key` declares (everything when the product is not known here).
    /// Returns how many readings and events were dropped.
    pub fn apply(&self, product_key: &str, telemetry: &mut Telemetry) -> usize {
        let Some((props, events)) = self.products.get(product_key) else {
            return 0;
        };
        let before = telemetry.values.len() + telemetry.events.len();
        telemetry.values.retain(|k, _| props.contains(k));
        telemetry.events.retain(|e| events.contains(&e.id));
        before - telemetry.values.len() - telemetry.events.len()
    }

    /// Whether `product_key` declares event `event` (true for products not known here).
    pub fn has_event(&self, product_key: &str, event: &str) -> bool {
        self.products
            .get(product_key)
            .is_none_or(|(_, events)| events.contains(event))
    }
}

fn point(lon: f64, lat: f64) -> Option<GeoPoint> {
    let p = GeoPoint::new(lon, lat);
    // (0, 0) is what trackers send without a fix.
    (p.validate().is_ok() && !(lon == 0.0 && lat == 0.0)).then_some(p)
}

/// A JT/T 808 location report as telemetry. `received` is used when the device time is
/// missing or invalid.
pub fn jt808_location(device_id: &str, loc: &Location, received: DateTime<Utc>) -> Telemetry {
    let mut t = Telemetry::new(device_id, loc.time.unwrap_or(received));
    let v = &mut t.values;
    v.insert("alarm".into(), Value::Int(i64::from(loc.alarm.0)));
    v.insert("status".into(), Value::Int(i64::from(loc.status.0)));
    v.insert("speed".into(), Value::Float(loc.speed_kmh));
    v.insert("altitude".into(), Value::Int(i64::from(loc.altitude_m)));
    v.insert("direction".into(), Value::Int(i64::from(loc.direction)));
    if let Some(m) = loc.extras.mileage_km {
        v.insert("mileage".into(), Value::Float(m));
    }
    if let Some(s) = loc.extras.signal {
        v.insert("signal".into(), Value::Int(i64::from(s)));
    }
    if let Some(s) = loc.extras.satellites {
        v.insert("satellites".into(), Value::Int(i64::from(s)));
    }
    // Only a positioned fix is a location; status bit 1 says so.
    if loc.status.positioned() {
        t.location = point(loc.longitude, loc.latitude);
    }
    t
}

fn event(id: &str) -> EventOccurrence {
    EventOccurrence {
        id: id.to_owned(),
        params: BTreeMap::new(),
    }
}

fn watch_events(status: u32, t: &mut Telemetry) {
    let flags: Vec<WatchStatus> = crate::watch::STATUS_BITS
        .iter()
        .filter(|(bit, _)| status & (1 << bit) != 0)
        .map(|&(_, s)| s)
        .collect();
    if flags.contains(&WatchStatus::Sos) {
        t.events.push(event("sos"));
    }
    if flags.contains(&WatchStatus::Fall) || flags.contains(&WatchStatus::Fall2) {
        t.events.push(event("fall"));
    }
    if flags.contains(&WatchStatus::PowerCut) {
        t.events.push(event("power_off"));
    }
}

fn watch_position(device_id: &str, p: &WatchPosition) -> Telemetry {
    let mut t = Telemetry::new(device_id, p.time);
    let v = &mut t.values;
    v.insert("battery".into(), Value::Int(i64::from(p.battery)));
    v.insert("steps".into(), Value::Int(i64::from(p.steps)));
    v.insert("status".into(), Value::Int(i64::from(p.status)));
    v.insert("speed".into(), Value::Float(p.speed_kmh));
    if p.valid {
        t.location = point(p.longitude, p.latitude);
    }
    watch_events(p.status, &mut t);
    t
}

/// A watch message as telemetry; `None` for messages that carry no readings (an `LK` without
/// fields, unknown commands other than `POWEROFF`).
pub fn watch_message(
    device_id: &str,
    message: &WatchMessage,
    received: DateTime<Utc>,
) -> Option<Telemetry> {
    match message {
        WatchMessage::Heartbeat {
            steps,
            rolls: _,
            battery,
        } => {
            if steps.is_none() && battery.is_none() {
                return None;
            }
            let mut t = Telemetry::new(device_id, received);
            if let Some(s) = steps {
                t.values.insert("steps".into(), Value::Int(i64::from(*s)));
            }
            if let Some(b) = battery {
                t.values.insert("battery".into(), Value::Int(i64::from(*b)));
            }
            Some(t)
        }
        WatchMessage::Position { report, .. } => Some(watch_position(device_id, report)),
        WatchMessage::BloodPressure {
            high,
            low,
            heart_rate,
        } => Some(
            Telemetry::new(device_id, received)
                .with("systolic", Value::Int(i64::from(*high)))
                .with("diastolic", Value::Int(i64::from(*low)))
                .with("heart_rate", Value::Int(i64::from(*heart_rate))),
        ),
        WatchMessage::BodyTemperature { celsius } => {
            celsius.map(|c| Telemetry::new(device_id, received).with("body_temp", Value::Float(c)))
        }
        WatchMessage::Other { command, .. } if command.eq_ignore_ascii_case("POWEROFF") => {
            Some(Telemetry::new(device_id, received).with_event("power_off"))
        }
        WatchMessage::Other { .. } => None,
    }
}

/// The event id of a GB/T 28181 alarm (the railway perimeter pack's names).
pub fn gb28181_event_id(n: &AlarmNotify) -> &'static str {
    match (n.method, n.alarm_type) {
        (_, Some(VideoAlarmType::Intrusion)) => "intrusion",
        (_, Some(VideoAlarmType::Tripwire)) => "tripwire",
        (_, Some(VideoAlarmType::Loitering)) => "loitering",
        (_, Some(VideoAlarmType::Motion)) => "motion",
        (_, Some(VideoAlarmType::VideoLoss)) => "video_loss",
        (_, Some(VideoAlarmType::Tamper)) => "tamper",
        (AlarmMethod::DeviceFault, _) => "device_fault",
        _ => "alarm",
    }
}

/// A GB/T 28181 alarm Notify as an event carrying its `priority` (1 highest – 4). AlarmTime
/// is device local time without a zone; China Standard Time (UTC+8) is assumed, as the
/// standard's deployments use it. The description and area event go to the log, not the
/// event (the packs' events declare only `priority`).
pub fn gb28181_event(n: &AlarmNotify, received: DateTime<Utc>) -> EventReport {
    let cst = chrono::FixedOffset::east_opt(8 * 3600);
    let at = cst
        .and_then(|tz| tz.from_local_datetime(&n.time).single())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(received);
    let mut params = BTreeMap::new();
    params.insert("priority".into(), Value::Int(i64::from(n.priority)));
    let location = match (n.longitude, n.latitude) {
        (Some(lon), Some(lat)) => point(lon, lat),
        _ => None,
    };
    EventReport {
        at,
        event: EventOccurrence {
            id: gb28181_event_id(n).to_owned(),
            params,
        },
        location,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jt808::{AlarmFlags, LocationExtras, StatusFlags};

    fn location(status: u32) -> Location {
        Location {
            alarm: AlarmFlags(1 << 26),
            status: StatusFlags(status),
            latitude: 28.24,
            longitude: 117.03,
            altitude_m: 40,
            speed_kmh: 12.5,
            direction: 270,
            time: None,
            extras: LocationExtras {
                mileage_km: Some(1.5),
                fuel_l: Some(3.0),
                ..LocationExtras::default()
            },
        }
    }

    #[test]
    fn jt808_location_uses_the_ebike_names_and_only_positioned_fixes() {
        let now = Utc::now();
        let t = jt808_location("d", &location(0b10), now);
        assert_eq!(t.at, now, "no device time → time of receipt");
        assert_eq!(t.values.get("alarm"), Some(&Value::Int(1 << 26)));
        assert_eq!(t.values.get("mileage"), Some(&Value::Float(1.5)));
        assert!(t.location.is_some());
        let unpositioned = jt808_location("d", &location(0), now);
        assert!(
            unpositioned.location.is_none(),
            "status bit 1 clear: no fix"
        );
        // The pack's e-bike product declares no fuel: the filter drops it, keeps the rest.
        let mut t = t.with("fuel", Value::Float(3.0));
        let filter = ProductFilter::from_packs();
        assert_eq!(filter.apply("ebike_tracker_jt808", &mut t), 1);
        assert!(!t.values.contains_key("fuel") && t.values.contains_key("speed"));
        // Unknown products are passed through for the sink to validate.
        let mut u = Telemetry::new("d", now).with("anything", Value::Int(1));
        assert_eq!(filter.apply("custom_product", &mut u), 0);
    }

    #[test]
    fn watch_status_bits_become_pack_events() {
        let now = Utc::now();
        let mut t = Telemetry::new("d", now);
        watch_events((1 << 16) | (1 << 21) | (1 << 14), &mut t);
        let ids: Vec<&str> = t.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["sos", "fall", "power_off"]);
        let off = watch_message(
            "d",
            &WatchMessage::Other {
                command: "POWEROFF".into(),
                args: vec![],
            },
            now,
        );
        assert!(off.is_some_and(|t| t.events[0].id == "power_off"));
        let empty = WatchMessage::Heartbeat {
            steps: None,
            rolls: None,
            battery: None,
        };
        assert!(watch_message("d", &empty, now).is_none());
    }
}
