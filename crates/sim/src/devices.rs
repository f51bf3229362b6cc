//! Simulated device fleets, one per scenario pack, with realistic movement and episodes.
//!
//! Every device is a small state machine: [`SimDevice::step`] advances it by one report and
//! returns what it puts on the wire ([`Wire`]). Movement and episodes are drawn from the
//! caller's `StdRng`, so a seed reproduces a run message for message. Rates are the runner's
//! business; a device only knows how likely an episode is per report
//! ([`FleetSpec::episode_per_report`]).
//!
//! | scene | product | protocol | episodes |
//! |---|---|---|---|
//! | e-bikes | `ebike_tracker_jt808` | JT/T 808 TCP | theft: fast movement with power-cut, stolen or illegal-displacement alarm bits |
//! | elderly | `elderly_watch` | watch TCP | SOS, fall (status bits 16, 21), high heart rate |
//! | corrections | `corrections_bracelet` (+ `corrections_phone`) | watch TCP (+ HTTP) | separation: the bracelet walks away from its phone; strap cut (bit 20) |
//! | railway | `perimeter_camera` | GB/T 28181 Notify | intrusion, tripwire, video loss |
//! | weigh | `wim_station` | HTTP batches | ~2–6 % of vehicles over the limit |
//! | kitchen | `kitchen_ai_camera` | MQTT | no hat, no mask, rodent, smoking |
//! | fire | `smoke_detector` | MQTT | smoke |
//! | components | `manhole_tilt_sensor`, `bin_fill_sensor`, `street_light_controller` | MQTT | tilt/open, full bin, lamp fault |
//!
//! HTTP and MQTT devices produce [`Wire::Http`] items (`{at, values, location, events}`): the
//! runner posts them in batches to the HTTP telemetry endpoint, or publishes each on the
//! device's MQTT telemetry topic.

use crate::city::{CENTRE, CitySpec};
use crate::protocol::{self, Fix, Jt808Terminal, WatchReport, alarm_bit};
use chengyun_domain::iot::Protocol;
use chrono::{DateTime, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::json;
use std::f64::consts::PI;

/// The scenario a device belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scene {
    Ebike,
    Elderly,
    Corrections,
    Railway,
    Weigh,
    Kitchen,
    Fire,
    Components,
}

impl Scene {
    pub const ALL: [Scene; 8] = [
        Scene::Ebike,
        Scene::Elderly,
        Scene::Corrections,
        Scene::Railway,
        Scene::Weigh,
        Scene::Kitchen,
        Scene::Fire,
        Scene::Components,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scene::Ebike => "ebike",
            Scene::Elderly => "elderly",
            Scene::Corrections => "corrections",
            Scene::Railway => "railway",
            Scene::Weigh => "weigh",
            Scene::Kitchen => "kitchen",
            Scene::Fire => "fire",
            Scene::Components => "components",
        }
    }

    /// Parses a scene name as printed by [`Scene::as_str`].
    pub fn parse(s: &str) -> Option<Scene> {
        Scene::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }

    /// Reports per second a device of this scene makes at rate 1 (relative weights: trackers
    /// report often, detectors seldom).
    pub fn weight(self) -> f64 {
        match self {
            Scene::Ebike => 1.0,
            Scene::Elderly | Scene::Corrections => 0.5,
            Scene::Weigh => 0.5,
            Scene::Components | Scene::Fire | Scene::Kitchen => 0.1,
            Scene::Railway => 0.02,
        }
    }
}

/// How many devices per scene, and how eventful they are.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    pub seed: u64,
    /// Devices per scene (a scene left out has none).
    pub per_scene: Vec<(Scene, usize)>,
    /// Probability that a report starts an episode (theft, SOS, intrusion, overload …).
    pub episode_per_report: f64,
    /// Share of weigh-station vehicles over the limit (the spec asks for 2–6 %).
    pub overload_share: f64,
}

impl FleetSpec {
    /// The demo's fleet: a few hundred devices, eventful enough to raise an alarm every few
    /// seconds at the demo's message rate.
    pub fn demo(seed: u64) -> Self {
        Self {
            seed,
            per_scene: vec![
                (Scene::Ebike, 200),
                (Scene::Elderly, 100),
                (Scene::Corrections, 40),
                (Scene::Railway, 20),
                (Scene::Weigh, 6),
                (Scene::Kitchen, 30),
                (Scene::Fire, 60),
                (Scene::Components, 120),
            ],
            episode_per_report: 0.002,
            overload_share: 0.04,
        }
    }

    /// Every scene with `n` devices.
    pub fn uniform(seed: u64, n: usize) -> Self {
        Self {
            per_scene: Scene::ALL.iter().map(|s| (*s, n)).collect(),
            ..Self::demo(seed)
        }
    }

    pub fn total(&self) -> usize {
        self.per_scene.iter().map(|(_, n)| n).sum()
    }
}

/// A device account: what the registry must know so the gateways accept the device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceAccount {
    /// Registry id (`SIM-<scene>-<n>`).
    pub device_id: String,
    pub product_key: &'static str,
    pub protocol: Protocol,
    /// The wire identifier (JT/T 808 phone, watch id, 28181 DeviceID; the token for HTTP).
    pub terminal_id: String,
    /// JT/T 808 auth code, HTTP bearer token; `None` for protocols without credentials.
    pub secret: Option<String>,
    pub scene: Scene,
    /// Display name (Chinese), e.g. `电动车 0012`.
    pub name: String,
    /// Where it lives (lon, lat).
    pub home: (f64, f64),
}

/// What a device puts on the wire for one report.
#[derive(Debug, Clone, PartialEq)]
pub enum Wire {
    /// A complete JT/T 808 frame.
    Jt808(Vec<u8>),
    /// A complete watch frame.
    Watch(Vec<u8>),
    /// A GB/T 28181 Notify document.
    Notify(String),
    /// One item of an HTTP telemetry batch.
    Http(serde_json::Value),
}

/// An ongoing episode; `left` counts the reports until it ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Episode {
    /// Being ridden away fast with an alarm bit set.
    Theft { bit: u32, left: u32 },
    /// SOS (16), fall (21) or strap cut (20) for a few reports.
    WatchAlert { bit: u32, left: u32 },
    /// Heart rate out of band.
    Tachycardia { left: u32 },
    /// The bracelet walks away from its phone.
    Separation { left: u32 },
    /// Manhole tilted or opened / bin full / lamp out.
    ComponentFault { left: u32 },
}

/// One simulated device.
#[derive(Debug, Clone)]
pub struct SimDevice {
    pub account: DeviceAccount,
    pos: (f64, f64),
    heading: f64,
    speed_kmh: f64,
    mileage_km: f64,
    battery: f64,
    steps: u32,
    sn: u32,
    fill_pct: f64,
    episode: Option<Episode>,
    /// The JT/T 808 terminal state (serials); `None` for other protocols.
    pub terminal: Option<Jt808Terminal>,
    /// Episodes started so far (alarms the device tried to raise).
    pub episodes: u64,
    /// Overloaded vehicles reported (weigh stations).
    pub overloads: u64,
}

/// Metres per degree (lon, lat) at the demo city's latitude.
fn metres_per_degree() -> (f64, f64) {
    (111_320.0 * CENTRE.1.to_radians().cos(), 110_540.0)
}

/// A random point within `r_frac` of the city radius.
fn random_point(rng: &mut StdRng, radius_m: f64, r_frac: f64) -> (f64, f64) {
    let (mx, my) = metres_per_degree();
    let r = radius_m * r_frac * rng.r#gen::<f64>().sqrt();
    let t = rng.gen_range(0.0..2.0 * PI);
    (CENTRE.0 + r * t.cos() / mx, CENTRE.1 + r * t.sin() / my)
}

fn product_of(scene: Scene, i: usize) -> (&'static str, Protocol) {
    match scene {
        Scene::Ebike => ("ebike_tracker_jt808", Protocol::Jt808),
        Scene::Elderly => ("elderly_watch", Protocol::Watch),
        Scene::Corrections => ("corrections_bracelet", Protocol::Watch),
        Scene::Railway => ("perimeter_camera", Protocol::Gb28181),
        Scene::Weigh => ("wim_station", Protocol::Http),
        Scene::Kitchen => ("kitchen_ai_camera", Protocol::Mqtt),
        Scene::Fire => ("smoke_detector", Protocol::Mqtt),
        Scene::Components => match i % 3 {
            0 => ("manhole_tilt_sensor", Protocol::Mqtt),
            1 => ("bin_fill_sensor", Protocol::Mqtt),
            _ => ("street_light_controller", Protocol::Mqtt),
        },
    }
}

/// The fleet for `spec`, deterministic for its seed. Wire ids are unique per protocol.
pub fn fleet(spec: &FleetSpec, city: &CitySpec) -> Vec<SimDevice> {
    let mut rng = <StdRng as rand::SeedableRng>::seed_from_u64(spec.seed ^ 0xde71ce);
    let mut out = Vec::with_capacity(spec.total());
    for (scene, n) in &spec.per_scene {
        let s = *scene as usize;
        for i in 0..*n {
            let (product_key, protocol) = product_of(*scene, i);
            let device_id = format!("SIM-{}-{:05}", scene.as_str(), i + 1);
            let terminal_id = match protocol {
                Protocol::Jt808 => format!("0139{:08}", i + 1),
                Protocol::Watch => format!("88{:02}{:06}", s, i + 1),
                // 20-digit GB/T 28181 ids: city 369900, industry 00, type 132 (camera).
                Protocol::Gb28181 => format!("36990000001320{:06}", i + 1),
                // The MQTT identity (username, topic segment): the device id's letters
                // and digits (terminal ids allow nothing else).
                Protocol::Mqtt => device_id
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect(),
                _ => String::new(),
            };
            let secret = match protocol {
                Protocol::Jt808 | Protocol::Http => Some(format!(
                    "sim-{}-{:016x}",
                    scene.as_str(),
                    rng.r#gen::<u64>()
                )),
                _ => None,
            };
            let terminal_id = if protocol == Protocol::Http {
                secret.clone().unwrap_or_default()
            } else {
                terminal_id
            };
            let label = match scene {
                Scene::Ebike => "电动车",
                Scene::Elderly => "老人手环",
                Scene::Corrections => "矫正手环",
                Scene::Railway => "铁路护网摄像机",
                Scene::Weigh => "治超检测站",
                Scene::Kitchen => "明厨亮灶摄像机",
                Scene::Fire => "烟感",
                Scene::Components => "部件传感器",
            };
            let frac = if *scene == Scene::Railway { 0.95 } else { 0.85 };
            let home = random_point(&mut rng, city.radius_m, frac);
            let terminal = (protocol == Protocol::Jt808)
                .then(|| Jt808Terminal::new(&terminal_id))
                .and_then(Result::ok);
            out.push(SimDevice {
                account: DeviceAccount {
                    device_id,
                    product_key,
                    protocol,
                    terminal_id,
                    secret,
                    scene: *scene,
                    name: format!("{label} {:04}", i + 1),
                    home,
                },
                pos: home,
                heading: rng.gen_range(0.0..360.0),
                speed_kmh: 0.0,
                mileage_km: rng.gen_range(100.0..5_000.0),
                battery: rng.gen_range(40.0..100.0),
                steps: 0,
                sn: 0,
                fill_pct: rng.gen_range(0.0..60.0),
                episode: None,
                terminal,
                episodes: 0,
                overloads: 0,
            });
        }
    }
    out
}

/// A plate from the 鹰潭 prefix 赣L.
fn plate(rng: &mut StdRng) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    let l = LETTERS[rng.gen_range(0..LETTERS.len())] as char;
    format!("赣L{l}{:04}", rng.gen_range(0..10_000))
}

impl SimDevice {
    /// Where the device is now (lon, lat).
    pub fn position(&self) -> (f64, f64) {
        self.pos
    }

    /// Moves by `dt_s` seconds at the current speed and heading, turning on a street grid
    /// (right angles) now and then, and back towards home when it strays too far.
    fn walk(&mut self, rng: &mut StdRng, dt_s: f64, max_kmh: f64, radius_m: f64) {
        let (mx, my) = metres_per_degree();
        if rng.gen_bool(0.08) {
            self.heading =
                (self.heading + [90.0, -90.0, 180.0][rng.gen_range(0..3)]).rem_euclid(360.0);
        }
        let target = if max_kmh > 0.0 {
            rng.gen_range(0.0..max_kmh)
        } else {
            0.0
        };
        self.speed_kmh = (0.7 * self.speed_kmh + 0.3 * target).clamp(0.0, max_kmh);
        let d = self.speed_kmh / 3.6 * dt_s;
        let h = self.heading.to_radians();
        let (dx, dy) = (d * h.sin(), d * h.cos());
        self.pos = (self.pos.0 + dx / mx, self.pos.1 + dy / my);
        self.mileage_km += d / 1000.0;
        let from_centre = (((self.pos.0 - CENTRE.0) * mx).powi(2)
            + ((self.pos.1 - CENTRE.1) * my).powi(2))
        .sqrt();
        if from_centre > radius_m * 0.9 {
            // Head back to the centre along the nearer axis.
            let back = ((CENTRE.0 - self.pos.0) * mx)
                .atan2((CENTRE.1 - self.pos.1) * my)
                .to_degrees();
            self.heading = ((back / 90.0).round() * 90.0).rem_euclid(360.0);
        }
    }

    /// The next report. `dt_s` is the time since the device's previous report.
    pub fn step(
        &mut self,
        rng: &mut StdRng,
        spec: &FleetSpec,
        city: &CitySpec,
        now: DateTime<Utc>,
        dt_s: f64,
    ) -> Vec<Wire> {
        let start = self.episode.is_none() && rng.gen_bool(spec.episode_per_report.clamp(0.0, 1.0));
        self.battery = (self.battery - 0.002 * dt_s).max(5.0);
        match self.account.scene {
            Scene::Ebike => self.ebike(rng, city, now, dt_s, start),
            Scene::Elderly | Scene::Corrections => self.watch(rng, city, now, dt_s, start),
            Scene::Railway => self.camera(rng, now, start),
            Scene::Weigh => self.weigh(rng, spec, now),
            Scene::Kitchen => self.kitchen(rng, now, start),
            Scene::Fire => self.smoke(rng, now, start),
            Scene::Components => self.component(rng, now, start),
        }
    }

    fn tick_episode(&mut self) {
        self.episode = match self.episode {
            Some(Episode::Theft { bit, left }) if left > 1 => Some(Episode::Theft {
                bit,
                left: left - 1,
            }),
            Some(Episode::WatchAlert { bit, left }) if left > 1 => Some(Episode::WatchAlert {
                bit,
                left: left - 1,
            }),
            Some(Episode::Tachycardia { left }) if left > 1 => {
                Some(Episode::Tachycardia { left: left - 1 })
            }
            Some(Episode::Separation { left }) if left > 1 => {
                Some(Episode::Separation { left: left - 1 })
            }
            Some(Episode::ComponentFault { left }) if left > 1 => {
                Some(Episode::ComponentFault { left: left - 1 })
            }
            _ => None,
        };
    }

    fn ebike(
        &mut self,
        rng: &mut StdRng,
        city: &CitySpec,
        now: DateTime<Utc>,
        dt_s: f64,
        start: bool,
    ) -> Vec<Wire> {
        if start {
            let bit = [
                alarm_bit::POWER_CUT,
                alarm_bit::STOLEN,
                alarm_bit::ILLEGAL_DISPLACEMENT,
            ][rng.gen_range(0..3)];
            self.episode = Some(Episode::Theft {
                bit,
                left: rng.gen_range(5..20),
            });
            self.episodes += 1;
        }
        let (alarm, max_kmh) = match self.episode {
            Some(Episode::Theft { bit, .. }) => (1u32 << bit, 40.0),
            // Parked most of the time, ridden at up to 25 km/h (the e-bike standard's limit).
            _ if rng.gen_bool(0.4) => (0, 0.0),
            _ => (0, 25.0),
        };
        self.walk(rng, dt_s.min(60.0), max_kmh, city.radius_m);
        self.tick_episode();
        let fix = Fix {
            at: now,
            lon: self.pos.0,
            lat: self.pos.1,
            speed_kmh: self.speed_kmh,
            direction: self.heading,
            altitude_m: 40.0 + rng.gen_range(0.0..5.0),
            mileage_km: self.mileage_km,
            alarm,
            status: u32::from(self.speed_kmh > 0.5),
        };
        let Some(t) = self.terminal.as_mut() else {
            return Vec::new();
        };
        t.location(&fix)
            .map(|f| vec![Wire::Jt808(f)])
            .unwrap_or_default()
    }

    fn watch(
        &mut self,
        rng: &mut StdRng,
        city: &CitySpec,
        now: DateTime<Utc>,
        dt_s: f64,
        start: bool,
    ) -> Vec<Wire> {
        let corrections = self.account.scene == Scene::Corrections;
        if start {
            self.episode = Some(if corrections {
                if rng.gen_bool(0.7) {
                    Episode::Separation {
                        left: rng.gen_range(10..30),
                    }
                } else {
                    Episode::WatchAlert { bit: 20, left: 3 }
                }
            } else {
                match rng.gen_range(0..3) {
                    0 => Episode::WatchAlert { bit: 16, left: 3 },
                    1 => Episode::WatchAlert { bit: 21, left: 2 },
                    _ => Episode::Tachycardia {
                        left: rng.gen_range(5..15),
                    },
                }
            });
            self.episodes += 1;
        }
        let max_kmh = if matches!(self.episode, Some(Episode::Separation { .. })) {
            15.0
        } else {
            4.5
        };
        self.walk(rng, dt_s.min(60.0), max_kmh, city.radius_m);
        self.steps += (self.speed_kmh / 3.6 * dt_s.min(60.0) / 0.7) as u32;
        let id = self.account.terminal_id.clone();
        let status = match self.episode {
            Some(Episode::WatchAlert { bit, .. }) => 1u32 << bit,
            _ => u32::from(self.speed_kmh > 1.0) << 4,
        };
        let tachy = matches!(self.episode, Some(Episode::Tachycardia { .. }));
        self.tick_episode();
        let battery = self.battery.round() as u8;
        let frame = match rng.gen_range(0..10) {
            0 => protocol::watch_heartbeat(&id, self.steps, battery),
            1 | 2 if status >> 16 == 0 => {
                let hr = if tachy {
                    rng.gen_range(125..150)
                } else {
                    rng.gen_range(60..95)
                };
                protocol::watch_vitals(&id, rng.gen_range(110..150), rng.gen_range(65..95), hr)
            }
            _ => protocol::watch_position(
                &id,
                &WatchReport {
                    at: now,
                    lon: self.pos.0,
                    lat: self.pos.1,
                    speed_kmh: self.speed_kmh,
                    battery,
                    steps: self.steps,
                    status,
                },
            ),
        };
        frame.map(|f| vec![Wire::Watch(f)]).unwrap_or_default()
    }

    fn camera(&mut self, rng: &mut StdRng, now: DateTime<Utc>, start: bool) -> Vec<Wire> {
        // Cameras speak only when something happens; a quiet report is a heartbeat-free no-op.
        if !start {
            return Vec::new();
        }
        self.episodes += 1;
        self.sn += 1;
        let (method, kind, what) = match rng.gen_range(0..10) {
            0..=5 => (5, 6, "周界入侵"),
            6..=8 => (5, 5, "越界"),
            _ => (2, 1, "视频丢失"),
        };
        let km = 100 + (self.sn * 7) % 60;
        vec![Wire::Notify(protocol::gb28181_notify(
            self.sn,
            &self.account.terminal_id,
            method,
            kind,
            now,
            self.pos.0,
            self.pos.1,
            &format!("铁路护网 K{km}+{:03} {what}", rng.gen_range(0..1000)),
        ))]
    }

    fn weigh(&mut self, rng: &mut StdRng, spec: &FleetSpec, now: DateTime<Utc>) -> Vec<Wire> {
        // Axle counts of the trucks that pass, with the GB 1589 limits (t) for each.
        const AXLES: [(u32, f64, u32); 5] = [
            (2, 18.0, 30),
            (3, 25.0, 20),
            (4, 31.0, 15),
            (5, 43.0, 10),
            (6, 49.0, 25),
        ];
        let total: u32 = AXLES.iter().map(|a| a.2).sum();
        let mut pick = rng.gen_range(0..total);
        let (axles, limit, _) = *AXLES
            .iter()
            .find(|a| {
                if pick < a.2 {
                    true
                } else {
                    pick -= a.2;
                    false
                }
            })
            .unwrap_or(&AXLES[0]);
        let over = rng.gen_bool(spec.overload_share.clamp(0.0, 1.0));
        let gross = if over {
            self.overloads += 1;
            limit * rng.gen_range(1.06..1.6)
        } else {
            limit * rng.gen_range(0.35..0.98)
        };
        vec![Wire::Http(json!({
            "at": now.to_rfc3339(),
            "values": {
                "plate": plate(rng),
                "axles": axles,
                "gross_mass_t": (gross * 100.0).round() / 100.0,
                "speed": (rng.gen_range(30.0..80.0_f64) * 10.0).round() / 10.0,
                "lane": rng.gen_range(1..=4),
            },
            "location": { "lon": self.pos.0, "lat": self.pos.1 },
        }))]
    }

    fn kitchen(&mut self, rng: &mut StdRng, now: DateTime<Utc>, start: bool) -> Vec<Wire> {
        let mut item = json!({ "at": now.to_rfc3339(), "values": {}, "location": { "lon": self.pos.0, "lat": self.pos.1 } });
        if start {
            self.episodes += 1;
            let e = ["no_hat", "no_mask", "rodent", "smoking"][rng.gen_range(0..4)];
            item["events"] = json!([{ "id": e }]);
        }
        vec![Wire::Http(item)]
    }

    fn smoke(&mut self, rng: &mut StdRng, now: DateTime<Utc>, start: bool) -> Vec<Wire> {
        // The product declares 0–10 (obscuration, %/m); a fire reads well above the
        // detector's alarm point of about 2.
        let density = if start {
            rng.gen_range(3.0..10.0)
        } else {
            rng.gen_range(0.0..0.5)
        };
        let mut item = json!({
            "at": now.to_rfc3339(),
            "values": { "battery": self.battery.round() as i64, "smoke_density": (density * 100.0_f64).round() / 100.0 },
            "location": { "lon": self.pos.0, "lat": self.pos.1 },
        });
        if start {
            self.episodes += 1;
            item["events"] = json!([{ "id": "smoke" }]);
        }
        vec![Wire::Http(item)]
    }

    fn component(&mut self, rng: &mut StdRng, now: DateTime<Utc>, start: bool) -> Vec<Wire> {
        if start {
            self.episodes += 1;
            self.episode = Some(Episode::ComponentFault {
                left: rng.gen_range(3..10),
            });
        }
        let fault = matches!(self.episode, Some(Episode::ComponentFault { .. }));
        self.tick_episode();
        let values = match self.account.product_key {
            "manhole_tilt_sensor" => json!({
                "tilt_deg": if fault { rng.gen_range(20.0..80.0) } else { rng.gen_range(0.0..2.0_f64) },
                "water_level_cm": rng.gen_range(0.0..30.0_f64).round(),
                "battery": self.battery.round() as i64,
            }),
            "bin_fill_sensor" => {
                self.fill_pct = if fault {
                    95.0
                } else {
                    (self.fill_pct + rng.gen_range(0.0..2.0)) % 85.0
                };
                json!({ "fill_pct": self.fill_pct.round() as i64, "battery": self.battery.round() as i64 })
            }
            _ => json!({
                "fault_word": u32::from(fault),
                "power_w": if fault { 0.0 } else { rng.gen_range(80.0..150.0_f64).round() },
                "dimming_pct": 100,
            }),
        };
        vec![Wire::Http(
            json!({ "at": now.to_rfc3339(), "values": values, "location": { "lon": self.pos.0, "lat": self.pos.1 } }),
        )]
    }

    /// The JT/T 808 handshake frames (register, then authenticate is sent after the reply).
    pub fn jt808_register(&mut self, rng: &mut StdRng) -> Option<Vec<u8>> {
        let serial = format!(
            "{:07}",
            self.account.device_id.len() * 1000 + rng.gen_range(0..1000)
        );
        let p = plate(rng);
        self.terminal
            .as_mut()?
            .register("CYSIM", "EB-TRACKER", &serial, &p)
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn run(spec: &FleetSpec, reports: usize) -> (Vec<SimDevice>, Vec<Wire>) {
        let city = CitySpec::default();
        let mut devices = fleet(spec, &city);
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let now = DateTime::parse_from_rfc3339("2026-05-01T08:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .expect("t");
        let mut out = Vec::new();
        for r in 0..reports {
            for d in devices.iter_mut() {
                out.extend(d.step(
                    &mut rng,
                    spec,
                    &city,
                    now + chrono::Duration::seconds(r as i64 * 5),
                    5.0,
                ));
            }
        }
        (devices, out)
    }

    /// What an HTTP or MQTT device sends is valid for its product as the packs declare it
    /// (ints as JSON integers, declared properties and events only), so the server's
    /// validation takes every simulated reading.
    #[test]
    fn http_and_mqtt_items_validate_against_their_products() {
        use chengyun_domain::iot::{EventOccurrence, Telemetry, Value};
        let products: std::collections::HashMap<String, chengyun_domain::iot::Product> =
            chengyun_domain::iot::packs::all()
                .into_iter()
                .flat_map(|p| p.products)
                .map(|p| (p.key.clone(), p))
                .collect();
        let spec = FleetSpec {
            episode_per_report: 0.2,
            ..FleetSpec::uniform(5, 6)
        };
        let city = CitySpec::default();
        let mut rng = StdRng::seed_from_u64(5);
        let now = Utc::now();
        let mut checked = 0;
        for mut d in fleet(&spec, &city) {
            let product = &products[d.account.product_key];
            for _ in 0..40 {
                for w in d.step(&mut rng, &spec, &city, now, 5.0) {
                    let Wire::Http(item) = w else { continue };
                    let mut t = Telemetry::new(&d.account.device_id, now);
                    for (k, v) in item["values"].as_object().into_iter().flatten() {
                        let v = match v {
                            serde_json::Value::Bool(b) => Value::Bool(*b),
                            serde_json::Value::String(s) => Value::Text(s.clone()),
                            n => match n.as_i64() {
                                Some(i) => Value::Int(i),
                                None => Value::Float(n.as_f64().expect("a number")),
                            },
                        };
                        t = t.with(k, v);
                    }
                    for e in item["events"].as_array().into_iter().flatten() {
                        t.events.push(EventOccurrence {
                            id: e["id"].as_str().expect("event id").to_owned(),
                            params: Default::default(),
                        });
                    }
                    if let Err(e) = t.validate(product) {
                        panic!("{} sent {item}: {e}", d.account.device_id);
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "{checked}");
    }

    #[test]
    fn same_seed_same_messages() {
        let spec = FleetSpec::uniform(7, 3);
        assert_eq!(run(&spec, 20).1, run(&spec, 20).1);
        let other = FleetSpec::uniform(8, 3);
        assert_ne!(run(&spec, 20).1, run(&other, 20).1);
    }

    #[test]
    fn ids_are_unique_and_devices_stay_in_the_city() {
        let spec = FleetSpec::uniform(1, 40);
        let (devices, _) = run(&spec, 200);
        let mut ids: Vec<_> = devices
            .iter()
            .map(|d| (d.account.protocol, d.account.terminal_id.clone()))
            .collect();
        ids.sort_by(|a, b| a.1.cmp(&b.1));
        ids.dedup();
        assert_eq!(ids.len(), devices.len());
        let (mx, my) = metres_per_degree();
        for d in &devices {
            let (x, y) = d.position();
            let r = (((x - CENTRE.0) * mx).powi(2) + ((y - CENTRE.1) * my).powi(2)).sqrt();
            assert!(
                r < CitySpec::default().radius_m * 1.1,
                "{} at {r} m",
                d.account.device_id
            );
        }
    }

    #[test]
    fn overloads_are_a_few_percent() {
        let spec = FleetSpec {
            per_scene: vec![(Scene::Weigh, 10)],
            ..FleetSpec::demo(3)
        };
        let (devices, wires) = run(&spec, 1000);
        let over: u64 = devices.iter().map(|d| d.overloads).sum();
        let share = over as f64 / wires.len() as f64;
        assert!((0.02..=0.06).contains(&share), "{share}");
    }

    #[test]
    fn episodes_happen_and_show_on_the_wire() {
        let spec = FleetSpec {
            episode_per_report: 0.05,
            ..FleetSpec::uniform(5, 10)
        };
        let (devices, wires) = run(&spec, 100);
        for scene in Scene::ALL {
            let n: u64 = devices
                .iter()
                .filter(|d| d.account.scene == scene)
                .map(|d| d.episodes)
                .sum();
            assert!(scene == Scene::Weigh || n > 0, "{scene:?} had no episode");
        }
        assert!(wires.iter().any(|w| matches!(w, Wire::Notify(_))));
        assert!(
            wires
                .iter()
                .any(|w| matches!(w, Wire::Watch(f) if f.windows(3).any(|x| x == b"AL,")))
        );
        assert!(
            wires
                .iter()
                .any(|w| matches!(w, Wire::Http(v) if v.get("events").is_some()))
        );
    }
}
