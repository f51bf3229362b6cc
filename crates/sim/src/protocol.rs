//! The device side of each protocol: what a simulated terminal puts on the wire.
//!
//! The gateways in `chengyun-ingest` only decode terminal messages and encode platform
//! messages; a simulator needs the opposite direction. Everything here is checked in the
//! tests by feeding it back through the ingest decoders, so the simulator speaks exactly
//! what the gateways accept.

use chengyun_ingest::CodecError;
use chengyun_ingest::jt808::{Header, Packet, ProtocolVersion, TerminalPhone};
use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};

/// JT/T 808 message ids a terminal sends.
pub mod msg {
    pub const HEARTBEAT: u16 = 0x0002;
    pub const REGISTER: u16 = 0x0100;
    pub const AUTHENTICATE: u16 = 0x0102;
    pub const LOCATION: u16 = 0x0200;
    /// Platform: general reply.
    pub const PLATFORM_REPLY: u16 = 0x8001;
    /// Platform: registration reply (carries the auth code).
    pub const REGISTER_REPLY: u16 = 0x8100;
}

/// JT/T 808 alarm word bits the e-bike pack's rules watch.
pub mod alarm_bit {
    /// 终端主电源掉电: the battery was cut.
    pub const POWER_CUT: u32 = 8;
    /// 车辆被盗 (via the vehicle anti-theft device).
    pub const STOLEN: u32 = 26;
    /// 车辆非法位移.
    pub const ILLEGAL_DISPLACEMENT: u32 = 28;
}

/// A JT/T 808 terminal (2013 header): its phone and a serial counter.
#[derive(Debug, Clone)]
pub struct Jt808Terminal {
    /// 12 BCD digits.
    pub phone: String,
    serial: u16,
}

/// One position fix of a 0x0200 report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    pub at: DateTime<Utc>,
    pub lon: f64,
    pub lat: f64,
    /// km/h.
    pub speed_kmh: f64,
    /// Degrees clockwise from north.
    pub direction: f64,
    /// Metres.
    pub altitude_m: f64,
    /// Odometer, km.
    pub mileage_km: f64,
    pub alarm: u32,
    /// ACC and the like; bit 1 (positioned) is always set here.
    pub status: u32,
}

/// Why a frame could not be built (a field out of the protocol's range).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {what}: {reason}")]
pub struct EncodeError {
    pub what: &'static str,
    pub reason: String,
}

fn too_long(what: &'static str) -> EncodeError {
    EncodeError {
        what,
        reason: "the body does not fit the 10-bit length or the phone is not 12 digits".into(),
    }
}

impl Jt808Terminal {
    /// A terminal with a 12-digit phone; longer or non-digit phones are refused.
    pub fn new(phone: &str) -> Result<Self, EncodeError> {
        if phone.len() != 12 || !phone.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EncodeError {
                what: "terminal phone",
                reason: format!("{phone:?} is not 12 digits"),
            });
        }
        Ok(Self {
            phone: phone.to_owned(),
            serial: 0,
        })
    }

    fn frame(
        &mut self,
        msg_id: u16,
        body: Vec<u8>,
        what: &'static str,
    ) -> Result<Vec<u8>, EncodeError> {
        self.serial = self.serial.wrapping_add(1);
        let packet = Packet {
            header: Header {
                msg_id,
                body_len: body.len() as u16,
                encryption: 0,
                version: ProtocolVersion::V2013,
                phone: TerminalPhone::Bcd(self.phone.clone()),
                serial: self.serial,
                package: None,
            },
            body,
        };
        packet.encode_frame().ok_or_else(|| too_long(what))
    }

    /// 0x0100 terminal registration (2013 layout): province, city, maker, model, terminal
    /// id, plate colour 0 and the plate (GBK).
    pub fn register(
        &mut self,
        maker: &str,
        model: &str,
        serial: &str,
        plate: &str,
    ) -> Result<Vec<u8>, EncodeError> {
        let mut body = Vec::with_capacity(64);
        body.extend_from_slice(&36u16.to_be_bytes()); // 江西
        body.extend_from_slice(&600u16.to_be_bytes()); // 鹰潭
        body.extend_from_slice(&fixed(maker.as_bytes(), 5));
        body.extend_from_slice(&fixed(model.as_bytes(), 20));
        body.extend_from_slice(&fixed(serial.as_bytes(), 7));
        body.push(0);
        body.extend_from_slice(&encoding_rs::GBK.encode(plate).0);
        self.frame(msg::REGISTER, body, "0x0100 registration")
    }

    /// 0x0102 authentication with the code from 0x8100.
    pub fn authenticate(&mut self, auth_code: &str) -> Result<Vec<u8>, EncodeError> {
        self.frame(
            msg::AUTHENTICATE,
            auth_code.as_bytes().to_vec(),
            "0x0102 authentication",
        )
    }

    /// 0x0002 heartbeat.
    pub fn heartbeat(&mut self) -> Result<Vec<u8>, EncodeError> {
        self.frame(msg::HEARTBEAT, Vec::new(), "0x0002 heartbeat")
    }

    /// 0x0200 location report with mileage (0x01), signal (0x30) and satellites (0x31).
    pub fn location(&mut self, fix: &Fix) -> Result<Vec<u8>, EncodeError> {
        if !(-90.0..=90.0).contains(&fix.lat) || !(-180.0..=180.0).contains(&fix.lon) {
            return Err(EncodeError {
                what: "0x0200 location",
                reason: format!("({}, {}) is not a position", fix.lon, fix.lat),
            });
        }
        let mut status = fix.status | 0b10; // positioned
        if fix.lat < 0.0 {
            status |= 1 << 2;
        }
        if fix.lon < 0.0 {
            status |= 1 << 3;
        }
        let mut body = Vec::with_capacity(40);
        body.extend_from_slice(&fix.alarm.to_be_bytes());
        body.extend_from_slice(&status.to_be_bytes());
        body.extend_from_slice(&((fix.lat.abs() * 1e6).round() as u32).to_be_bytes());
        body.extend_from_slice(&((fix.lon.abs() * 1e6).round() as u32).to_be_bytes());
        body.extend_from_slice(&(fix.altitude_m.clamp(0.0, 65_535.0) as u16).to_be_bytes());
        body.extend_from_slice(&((fix.speed_kmh * 10.0).clamp(0.0, 65_535.0) as u16).to_be_bytes());
        body.extend_from_slice(&(fix.direction.rem_euclid(360.0) as u16).to_be_bytes());
        body.extend_from_slice(&bcd_time(fix.at));
        body.extend_from_slice(&[0x01, 4]);
        body.extend_from_slice(
            &((fix.mileage_km * 10.0).clamp(0.0, u32::MAX as f64) as u32).to_be_bytes(),
        );
        body.extend_from_slice(&[0x30, 1, 24, 0x31, 1, 11]);
        self.frame(msg::LOCATION, body, "0x0200 location")
    }
}

fn fixed(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = bytes.iter().copied().take(len).collect();
    v.resize(len, 0);
    v
}

/// YYMMDDhhmmss in BCD, Beijing time (JT/T 808 times are GMT+8).
fn bcd_time(at: DateTime<Utc>) -> [u8; 6] {
    let cst = FixedOffset::east_opt(8 * 3600).map(|z| at.with_timezone(&z));
    let Some(t) = cst else { return [0; 6] };
    let b = |n: u32| (((n / 10) << 4) | (n % 10)) as u8;
    [
        b(t.year().rem_euclid(100) as u32),
        b(t.month()),
        b(t.day()),
        b(t.hour()),
        b(t.minute()),
        b(t.second()),
    ]
}

/// What the platform answered, as far as a terminal cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformReply {
    /// 0x8100: result 0 carries the auth code.
    Registered { result: u8, auth_code: String },
    /// 0x8001 general reply to `msg_id`.
    Ack { msg_id: u16, result: u8 },
    /// Anything else (a platform command).
    Other { msg_id: u16 },
}

/// Cuts the platform's frames out of `buf`, returning the replies and how many bytes were used.
/// Garbage is skipped, as the gateway itself does.
pub fn read_platform_replies(buf: &[u8]) -> (Vec<PlatformReply>, usize) {
    let mut out = Vec::new();
    let mut used = 0;
    loop {
        match chengyun_ingest::jt808::parse_frame(&buf[used..]) {
            Ok(Some((frame, n))) => {
                used += n;
                if let chengyun_ingest::jt808::Jt808Frame::Binary(bytes) = frame
                    && let Ok(p) = Packet::decode(&bytes)
                {
                    out.push(reply_of(&p));
                }
            }
            Ok(None) => break,
            Err(e) => used += e.discard().max(1),
        }
        if used >= buf.len() {
            break;
        }
    }
    (out, used.min(buf.len()))
}

fn reply_of(p: &Packet) -> PlatformReply {
    let b = &p.body;
    match p.header.msg_id {
        msg::REGISTER_REPLY if b.len() >= 3 => PlatformReply::Registered {
            result: b[2],
            auth_code: String::from_utf8_lossy(&b[3..]).into_owned(),
        },
        msg::PLATFORM_REPLY if b.len() >= 5 => PlatformReply::Ack {
            msg_id: u16::from_be_bytes([b[2], b[3]]),
            result: b[4],
        },
        msg_id => PlatformReply::Other { msg_id },
    }
}

/// The vendor tag of simulated watches.
pub const WATCH_VENDOR: &str = "3G";

/// A watch position report (`UD`, or `AL` when the status word carries an alert).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchReport {
    pub at: DateTime<Utc>,
    pub lon: f64,
    pub lat: f64,
    pub speed_kmh: f64,
    pub battery: u8,
    pub steps: u32,
    /// The status word (see the ingest README: bit 16 SOS, 20 removed, 21 fall …).
    pub status: u32,
}

/// `[3G*ID*LEN*LK,steps,rolls,battery]`.
pub fn watch_heartbeat(id: &str, steps: u32, battery: u8) -> Option<Vec<u8>> {
    chengyun_ingest::watch::frame::encode_frame(
        WATCH_VENDOR,
        id,
        format!("LK,{steps},0,{battery}").as_bytes(),
    )
}

/// `UD` (no alert bits) or `AL` (any of the high 16 status bits set).
pub fn watch_position(id: &str, r: &WatchReport) -> Option<Vec<u8>> {
    let cmd = if r.status >> 16 != 0 { "AL" } else { "UD" };
    let content = format!(
        "{cmd},{},{},A,{:.6},{},{:.6},{},{:.2},0.0,60,9,80,{},{},0,{:08X}",
        r.at.format("%d%m%y"),
        r.at.format("%H%M%S"),
        r.lat.abs(),
        if r.lat < 0.0 { 'S' } else { 'N' },
        r.lon.abs(),
        if r.lon < 0.0 { 'W' } else { 'E' },
        r.speed_kmh.max(0.0),
        r.battery.min(100),
        r.steps,
        r.status
    );
    chengyun_ingest::watch::frame::encode_frame(WATCH_VENDOR, id, content.as_bytes())
}

/// `bphrt,systolic,diastolic,heart_rate`.
pub fn watch_vitals(id: &str, systolic: u16, diastolic: u16, heart_rate: u16) -> Option<Vec<u8>> {
    chengyun_ingest::watch::frame::encode_frame(
        WATCH_VENDOR,
        id,
        format!("bphrt,{systolic},{diastolic},{heart_rate}").as_bytes(),
    )
}

/// A GB/T 28181 alarm `Notify` (UTF-8 XML). `method` 5 = video alarm, `alarm_type` 6 =
/// intrusion (区域入侵), 5 = tripwire; method 2 type 1 = video loss.
#[expect(clippy::too_many_arguments, reason = "one argument per Notify field")]
pub fn gb28181_notify(
    sn: u32,
    device_id: &str,
    method: u8,
    alarm_type: u8,
    at: DateTime<Utc>,
    lon: f64,
    lat: f64,
    description: &str,
) -> String {
    let local = FixedOffset::east_opt(8 * 3600)
        .map(|z| at.with_timezone(&z).format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Notify>\n<CmdType>Alarm</CmdType>\n<SN>{sn}</SN>\n<DeviceID>{device_id}</DeviceID>\n<AlarmPriority>1</AlarmPriority>\n<AlarmMethod>{method}</AlarmMethod>\n<AlarmTime>{local}</AlarmTime>\n<AlarmDescription>{}</AlarmDescription>\n<Longitude>{lon:.6}</Longitude>\n<Latitude>{lat:.6}</Latitude>\n<Info>\n<AlarmType>{alarm_type}</AlarmType>\n<AlarmTypeParam><EventType>1</EventType></AlarmTypeParam>\n</Info>\n</Notify>\n",
        xml_escape(description)
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chengyun_ingest::jt808::{Decoded, Jt808Decoder, Jt808FrameCodec, Reassembler};

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-05-01T06:03:27Z")
            .map(|d| d.with_timezone(&Utc))
            .expect("time")
    }

    fn decode_all(bytes: &[u8]) -> Vec<Decoded> {
        let mut d = Jt808Decoder::new(Jt808FrameCodec::default(), Reassembler::default());
        d.extend(bytes);
        let mut out = Vec::new();
        while let Some(r) = d.next_decoded() {
            out.push(r.expect("the gateway's decoder accepts the simulator's frame"));
        }
        out
    }

    #[test]
    fn jt808_frames_decode_in_the_gateway_decoder() {
        let mut t = Jt808Terminal::new("013912340001").expect("phone");
        let mut bytes = t
            .register("CYSIM", "EB-1", "0000001", "鹰A12345")
            .expect("reg");
        bytes.extend(t.authenticate("secret-1").expect("auth"));
        bytes.extend(t.heartbeat().expect("hb"));
        let fix = Fix {
            at: at(),
            lon: 117.045123,
            lat: 28.245678,
            speed_kmh: 18.4,
            direction: 271.0,
            altitude_m: 40.0,
            mileage_km: 1234.5,
            alarm: 1 << alarm_bit::POWER_CUT,
            status: 1,
        };
        bytes.extend(t.location(&fix).expect("loc"));
        let got = decode_all(&bytes);
        assert_eq!(got.len(), 4, "{got:?}");
        let text = format!("{got:?}");
        assert!(text.contains("secret-1"), "{text}");
        assert!(text.contains("CYSIM"), "{text}");
        assert!(
            text.contains("117.045123") && text.contains("28.245678"),
            "{text}"
        );
        assert!(
            text.contains("2026-05-01T06:03:27") || text.contains("2026-05-01 06:03:27"),
            "{text}"
        );
    }

    #[test]
    fn bad_phones_and_positions_are_refused() {
        assert!(Jt808Terminal::new("12345").is_err());
        assert!(Jt808Terminal::new("01391234000x").is_err());
        let mut t = Jt808Terminal::new("013912340001").expect("phone");
        let fix = Fix {
            at: at(),
            lon: 500.0,
            lat: 0.0,
            speed_kmh: 0.0,
            direction: 0.0,
            altitude_m: 0.0,
            mileage_km: 0.0,
            alarm: 0,
            status: 0,
        };
        assert!(t.location(&fix).is_err());
    }

    #[test]
    fn platform_replies_are_read_back() {
        use chengyun_ingest::jt808::PlatformMessage;
        let phone = TerminalPhone::Bcd("013912340001".into());
        let reg = chengyun_ingest::jt808::command::register_reply(1, "abc");
        let mut bytes = vec![0x00, 0x7e]; // garbage first
        bytes.extend(
            reg.encode_frame(ProtocolVersion::V2013, &phone, 9)
                .expect("enc"),
        );
        let ack = PlatformMessage::GeneralReply {
            reply_serial: 2,
            reply_id: 0x0102,
            result: chengyun_ingest::jt808::command::ReplyResult::Ok,
        };
        bytes.extend(
            ack.encode_frame(ProtocolVersion::V2013, &phone, 10)
                .expect("enc"),
        );
        let (replies, used) = read_platform_replies(&bytes);
        // The closing delimiter of the last frame stays: it may open the next one.
        assert!(
            bytes[used..].iter().all(|b| *b == 0x7e),
            "{used} of {}",
            bytes.len()
        );
        assert_eq!(
            replies,
            vec![
                PlatformReply::Registered {
                    result: 0,
                    auth_code: "abc".into()
                },
                PlatformReply::Ack {
                    msg_id: 0x0102,
                    result: 0
                }
            ]
        );
    }

    #[test]
    fn watch_frames_decode() {
        use chengyun_ingest::watch::message::{WatchMessage, decode_content};
        let r = WatchReport {
            at: at(),
            lon: 117.04,
            lat: 28.24,
            speed_kmh: 3.2,
            battery: 77,
            steps: 1200,
            status: 1 << 16,
        };
        for (frame, want) in [
            (watch_position("8800000001", &r).expect("al"), "AL"),
            (
                watch_position("8800000001", &WatchReport { status: 0, ..r }).expect("ud"),
                "UD",
            ),
            (watch_heartbeat("8800000001", 10, 50).expect("lk"), "LK"),
            (
                watch_vitals("8800000001", 135, 85, 76).expect("bp"),
                "bphrt",
            ),
        ] {
            let (f, n) = chengyun_ingest::watch::frame::parse_frame(&frame)
                .expect("frame")
                .expect("whole");
            assert_eq!(n, frame.len());
            assert!(f.content.starts_with(want.as_bytes()));
            let m = decode_content(&f).expect("decodes");
            if want == "AL" {
                let WatchMessage::Position { report: p, .. } = m else {
                    panic!("{m:?}")
                };
                assert_eq!(p.status, 1 << 16);
                assert!((p.longitude - 117.04).abs() < 1e-6 && p.battery == 77 && p.steps == 1200);
            }
        }
    }

    #[test]
    fn notify_parses() {
        let xml = gb28181_notify(
            7,
            "36990000001320000001",
            5,
            6,
            at(),
            117.03,
            28.23,
            "周界入侵 <K128>",
        );
        let n = chengyun_ingest::gb28181::parse_notify(xml.as_bytes()).expect("parses");
        assert_eq!(n.device_id, "36990000001320000001");
        assert_eq!(n.sn, 7);
        assert_eq!(n.time.to_string(), "2026-05-01 14:03:27");
    }
}
