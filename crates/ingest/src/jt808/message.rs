//! Terminal → platform messages: typed bodies decoded from a [`Packet`].

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::bcd;
use super::header::{Packet, ProtocolVersion, Reader};
use crate::text::decode_gbk_trimmed;

/// 0x0001 terminal general reply.
pub const MSG_TERMINAL_REPLY: u16 = 0x0001;
/// 0x0002 heartbeat.
pub const MSG_HEARTBEAT: u16 = 0x0002;
/// 0x0100 terminal registration.
pub const MSG_REGISTER: u16 = 0x0100;
/// 0x0102 terminal authentication.
pub const MSG_AUTHENTICATE: u16 = 0x0102;
/// 0x0200 location report.
pub const MSG_LOCATION: u16 = 0x0200;
/// 0x0704 batch location upload.
pub const MSG_BATCH_LOCATION: u16 = 0x0704;

/// Why a packet body is not the message its id says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Not one of the messages this codec understands. The gateway answers 0x8001 with result 3
    /// (unsupported).
    #[error("unknown message id 0x{0:04x}")]
    UnknownMessageId(u16),
    /// The body ends inside a field.
    #[error(
        "message 0x{msg_id:04x}: truncated at {field} (needs {needed} bytes, {available} left)"
    )]
    Truncated {
        /// Message id.
        msg_id: u16,
        /// Field being read.
        field: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A BCD field with a nibble above 9.
    #[error("message 0x{msg_id:04x}: bad BCD in {field}: byte 0x{byte:02x}")]
    BadBcd {
        /// Message id.
        msg_id: u16,
        /// Field.
        field: &'static str,
        /// The byte.
        byte: u8,
    },
    /// A field with an impossible value.
    #[error("message 0x{msg_id:04x}: bad {field}: {reason}")]
    BadField {
        /// Message id.
        msg_id: u16,
        /// Field.
        field: &'static str,
        /// The rule broken.
        reason: String,
    },
    /// A body that is one package of a split message; reassemble first.
    #[error("message 0x{msg_id:04x} is package {index} of {total}; reassemble before decoding")]
    Fragment {
        /// Message id.
        msg_id: u16,
        /// Index.
        index: u16,
        /// Total.
        total: u16,
    },
    /// The body is encrypted (properties bits 10–12); no keys are configured.
    #[error("message 0x{msg_id:04x} is encrypted (method {method}); not supported")]
    Encrypted {
        /// Message id.
        msg_id: u16,
        /// Method bits.
        method: u8,
    },
}

/// A terminal message.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Message {
    /// 0x0001.
    TerminalReply(TerminalReply),
    /// 0x0002 (any body bytes kept: some firmwares append battery/signal).
    Heartbeat {
        /// Bytes after the (empty) standard body.
        extra: Vec<u8>,
    },
    /// 0x0100.
    Register(Register),
    /// 0x0102.
    Authenticate(Authenticate),
    /// 0x0200.
    Location(Location),
    /// 0x0704.
    BatchLocation(BatchLocation),
}

impl Message {
    /// The message id this variant is carried under.
    pub fn msg_id(&self) -> u16 {
        match self {
            Message::TerminalReply(_) => MSG_TERMINAL_REPLY,
            Message::Heartbeat { .. } => MSG_HEARTBEAT,
            Message::Register(_) => MSG_REGISTER,
            Message::Authenticate(_) => MSG_AUTHENTICATE,
            Message::Location(_) => MSG_LOCATION,
            Message::BatchLocation(_) => MSG_BATCH_LOCATION,
        }
    }
}

/// 0x0001 terminal general reply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TerminalReply {
    /// Serial of the platform message answered.
    pub reply_serial: u16,
    /// Id of the platform message answered.
    pub reply_id: u16,
    /// 0 ok, 1 fail, 2 bad message, 3 unsupported.
    pub result: u8,
}

/// 0x0100 registration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Register {
    /// Province code (GB/T 2260 first two digits).
    pub province: u16,
    /// City/county code.
    pub city: u16,
    /// Maker id.
    pub maker: String,
    /// Terminal model.
    pub model: String,
    /// Terminal id.
    pub terminal_id: String,
    /// Plate colour (JT/T 415: 1 blue, 2 yellow, 3 black, 4 white, 9 other; 0 = no plate, the
    /// last field is then a VIN).
    pub plate_color: u8,
    /// Plate (GBK) or VIN.
    pub plate: String,
}

/// 0x0102 authentication.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Authenticate {
    /// The code issued in 0x8100.
    pub code: String,
    /// 2019 only.
    pub imei: Option<String>,
    /// 2019 only.
    pub software_version: Option<String>,
}

/// One named alarm bit of a 0x0200 report (JT/T 808-2013 table 24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// bit 0 emergency (SOS).
    Sos,
    /// bit 1.
    Overspeed,
    /// bit 2.
    Fatigue,
    /// bit 3.
    DangerWarning,
    /// bit 4.
    GnssFault,
    /// bit 5.
    GnssAntennaCut,
    /// bit 6.
    GnssAntennaShort,
    /// bit 7.
    MainPowerLow,
    /// bit 8.
    MainPowerCut,
    /// bit 9.
    DisplayFault,
    /// bit 10.
    TtsFault,
    /// bit 11.
    CameraFault,
    /// bit 12.
    IcCardFault,
    /// bit 13.
    OverspeedWarning,
    /// bit 14.
    FatigueWarning,
    /// bit 18.
    DrivingTimeout,
    /// bit 19.
    ParkingTimeout,
    /// bit 20 entered or left an area.
    AreaInOut,
    /// bit 21.
    RouteInOut,
    /// bit 22.
    RouteTime,
    /// bit 23.
    RouteDeviation,
    /// bit 24.
    VssFault,
    /// bit 25.
    FuelAbnormal,
    /// bit 26 vehicle stolen.
    Stolen,
    /// bit 27.
    IllegalIgnition,
    /// bit 28 illegal displacement (moved while parked).
    IllegalDisplacement,
    /// bit 29.
    Collision,
    /// bit 30.
    Rollover,
    /// bit 31.
    IllegalDoorOpen,
}

/// Alarm bit → kind. Bits 15–17 are reserved in 2013 and left unnamed (vendors reuse them).
pub const ALARM_BITS: &[(u8, AlarmKind)] = &[
    (0, AlarmKind::Sos),
    (1, AlarmKind::Overspeed),
    (2, AlarmKind::Fatigue),
    (3, AlarmKind::DangerWarning),
    (4, AlarmKind::GnssFault),
    (5, AlarmKind::GnssAntennaCut),
    (6, AlarmKind::GnssAntennaShort),
    (7, AlarmKind::MainPowerLow),
    (8, AlarmKind::MainPowerCut),
    (9, AlarmKind::DisplayFault),
    (10, AlarmKind::TtsFault),
    (11, AlarmKind::CameraFault),
    (12, AlarmKind::IcCardFault),
    (13, AlarmKind::OverspeedWarning),
    (14, AlarmKind::FatigueWarning),
    (18, AlarmKind::DrivingTimeout),
    (19, AlarmKind::ParkingTimeout),
    (20, AlarmKind::AreaInOut),
    (21, AlarmKind::RouteInOut),
    (22, AlarmKind::RouteTime),
    (23, AlarmKind::RouteDeviation),
    (24, AlarmKind::VssFault),
    (25, AlarmKind::FuelAbnormal),
    (26, AlarmKind::Stolen),
    (27, AlarmKind::IllegalIgnition),
    (28, AlarmKind::IllegalDisplacement),
    (29, AlarmKind::Collision),
    (30, AlarmKind::Rollover),
    (31, AlarmKind::IllegalDoorOpen),
];

/// The alarm word of a 0x0200 report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AlarmFlags(pub u32);

impl AlarmFlags {
    /// Named alarms that are set, in bit order.
    pub fn kinds(self) -> Vec<AlarmKind> {
        ALARM_BITS
            .iter()
            .filter(|(bit, _)| self.0 & (1 << bit) != 0)
            .map(|&(_, k)| k)
            .collect()
    }

    /// Whether `kind` is set.
    pub fn has(self, kind: AlarmKind) -> bool {
        ALARM_BITS
            .iter()
            .any(|&(bit, k)| k == kind && self.0 & (1 << bit) != 0)
    }
}

/// The status word of a 0x0200 report (JT/T 808-2013 table 25; named bits only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StatusFlags(pub u32);

impl StatusFlags {
    /// bit 0 ignition on.
    pub fn acc(self) -> bool {
        self.0 & 1 != 0
    }
    /// bit 1 the fix is valid.
    pub fn positioned(self) -> bool {
        self.0 & (1 << 1) != 0
    }
    /// bit 2 southern latitude.
    pub fn south(self) -> bool {
        self.0 & (1 << 2) != 0
    }
    /// bit 3 western longitude.
    pub fn west(self) -> bool {
        self.0 & (1 << 3) != 0
    }
    /// bit 10 oil circuit cut.
    pub fn oil_cut(self) -> bool {
        self.0 & (1 << 10) != 0
    }
    /// bit 11 electric circuit cut.
    pub fn power_cut(self) -> bool {
        self.0 & (1 << 11) != 0
    }
}

/// An additional-information item kept raw (vendor ids, or standard ids not decoded here).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RawTlv {
    /// Item id.
    pub id: u8,
    /// Value bytes.
    pub value: Vec<u8>,
}

/// Decoded additional information (TLV extras) of a 0x0200 report.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct LocationExtras {
    /// 0x01 odometer, km (DWORD, 0.1 km).
    pub mileage_km: Option<f64>,
    /// 0x02 fuel, litres (WORD, 0.1 L).
    pub fuel_l: Option<f64>,
    /// 0x30 wireless signal strength.
    pub signal: Option<u8>,
    /// 0x31 GNSS satellites in use.
    pub satellites: Option<u8>,
    /// Every other item, raw, in order.
    pub unknown: Vec<RawTlv>,
    /// Bytes after the last well-formed item when an item's length runs past the body (some
    /// firmwares append non-TLV data); kept, not an error.
    pub trailing: Vec<u8>,
}

/// A 0x0200 body.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Location {
    /// Alarm word.
    pub alarm: AlarmFlags,
    /// Status word.
    pub status: StatusFlags,
    /// WGS-84 degrees, negative in the south (status bit 2).
    pub latitude: f64,
    /// WGS-84 degrees, negative in the west (status bit 3).
    pub longitude: f64,
    /// Metres.
    pub altitude_m: u16,
    /// km/h.
    pub speed_kmh: f64,
    /// Degrees from north, 0–359.
    pub direction: u16,
    /// The device time converted from UTC+8; `None` when the device sent all zeros (no clock yet).
    pub time: Option<DateTime<Utc>>,
    /// TLV extras.
    pub extras: LocationExtras,
}

/// A 0x0704 body.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BatchLocation {
    /// 0 normal batch, 1 blind-area (stored while offline).
    pub kind: u8,
    /// The reports, in order.
    pub items: Vec<Location>,
}

type Raw = (&'static str, usize, usize);

struct Ctx {
    msg_id: u16,
}

impl Ctx {
    fn t(&self, (field, needed, available): Raw) -> MessageError {
        MessageError::Truncated {
            msg_id: self.msg_id,
            field,
            needed,
            available,
        }
    }
    fn bad(&self, field: &'static str, reason: impl Into<String>) -> MessageError {
        MessageError::BadField {
            msg_id: self.msg_id,
            field,
            reason: reason.into(),
        }
    }
}

/// Decode the body of a complete (not fragmented, not encrypted) packet.
pub fn decode_message(packet: &Packet) -> Result<Message, MessageError> {
    let h = &packet.header;
    if let Some(p) = h.package {
        return Err(MessageError::Fragment {
            msg_id: h.msg_id,
            index: p.index,
            total: p.total,
        });
    }
    if h.encryption != 0 {
        return Err(MessageError::Encrypted {
            msg_id: h.msg_id,
            method: h.encryption,
        });
    }
    decode_body(h.msg_id, h.version, &packet.body)
}

/// Decode a body by message id (also used after sub-package reassembly).
pub fn decode_body(
    msg_id: u16,
    version: ProtocolVersion,
    body: &[u8],
) -> Result<Message, MessageError> {
    let cx = Ctx { msg_id };
    let mut r = Reader::new(body);
    match msg_id {
        MSG_TERMINAL_REPLY => Ok(Message::TerminalReply(TerminalReply {
            reply_serial: r.u16("reply serial").map_err(|e| cx.t(e))?,
            reply_id: r.u16("reply id").map_err(|e| cx.t(e))?,
            result: r.u8("result").map_err(|e| cx.t(e))?,
        })),
        MSG_HEARTBEAT => Ok(Message::Heartbeat {
            extra: body.to_vec(),
        }),
        MSG_REGISTER => decode_register(&cx, version, &mut r).map(Message::Register),
        MSG_AUTHENTICATE => decode_auth(&cx, version, &mut r).map(Message::Authenticate),
        MSG_LOCATION => decode_location(&cx, body).map(Message::Location),
        MSG_BATCH_LOCATION => decode_batch(&cx, &mut r).map(Message::BatchLocation),
        other => Err(MessageError::UnknownMessageId(other)),
    }
}

fn decode_register(
    cx: &Ctx,
    version: ProtocolVersion,
    r: &mut Reader<'_>,
) -> Result<Register, MessageError> {
    // Field widths: 2019 (maker 11, model 30, id 30); 2013 (5, 20, 7); 2011 (5, 8, 7). A 2013
    // header cannot tell 2013 from 2011, so the body length decides: the 2013 layout needs 37
    // bytes before the plate.
    let (maker, model, id) = match version {
        ProtocolVersion::V2019 { .. } => (11, 30, 30),
        ProtocolVersion::V2013 if r.remaining() >= 37 => (5, 20, 7),
        ProtocolVersion::V2013 => (5, 8, 7),
    };
    let province = r.u16("province").map_err(|e| cx.t(e))?;
    let city = r.u16("city").map_err(|e| cx.t(e))?;
    let maker = decode_gbk_trimmed(r.bytes(maker, "maker id").map_err(|e| cx.t(e))?);
    let model = decode_gbk_trimmed(r.bytes(model, "terminal model").map_err(|e| cx.t(e))?);
    let terminal_id = decode_gbk_trimmed(r.bytes(id, "terminal id").map_err(|e| cx.t(e))?);
    let plate_color = r.u8("plate colour").map_err(|e| cx.t(e))?;
    let plate = decode_gbk_trimmed(r.rest());
    Ok(Register {
        province,
        city,
        maker,
        model,
        terminal_id,
        plate_color,
        plate,
    })
}

fn decode_auth(
    cx: &Ctx,
    version: ProtocolVersion,
    r: &mut Reader<'_>,
) -> Result<Authenticate, MessageError> {
    match version {
        ProtocolVersion::V2013 => Ok(Authenticate {
            code: decode_gbk_trimmed(r.rest()),
            imei: None,
            software_version: None,
        }),
        ProtocolVersion::V2019 { .. } => {
            let len = r.u8("auth code length").map_err(|e| cx.t(e))?;
            let code = decode_gbk_trimmed(
                r.bytes(usize::from(len), "auth code")
                    .map_err(|e| cx.t(e))?,
            );
            let imei = decode_gbk_trimmed(r.bytes(15, "IMEI").map_err(|e| cx.t(e))?);
            let sw = decode_gbk_trimmed(r.bytes(20, "software version").map_err(|e| cx.t(e))?);
            Ok(Authenticate {
                code,
                imei: Some(imei),
                software_version: Some(sw),
            })
        }
    }
}

/// BCD[6] YYMMDDhhmmss in UTC+8 → UTC. All zeros → `None`.
pub(crate) fn decode_time(
    cx_msg_id: u16,
    bytes: &[u8],
) -> Result<Option<DateTime<Utc>>, MessageError> {
    if bytes.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let mut v = [0u8; 6];
    for (i, slot) in v.iter_mut().enumerate() {
        let byte = bytes.get(i).copied().unwrap_or(0);
        *slot = bcd::byte_value(byte, i).map_err(|e| MessageError::BadBcd {
            msg_id: cx_msg_id,
            field: "time",
            byte: e.byte,
        })?;
    }
    let bad = |reason: String| MessageError::BadField {
        msg_id: cx_msg_id,
        field: "time",
        reason,
    };
    let date = NaiveDate::from_ymd_opt(2000 + i32::from(v[0]), u32::from(v[1]), u32::from(v[2]))
        .ok_or_else(|| {
            bad(format!(
                "no such date 20{:02}-{:02}-{:02}",
                v[0], v[1], v[2]
            ))
        })?;
    let local = date
        .and_hms_opt(u32::from(v[3]), u32::from(v[4]), u32::from(v[5]))
        .ok_or_else(|| bad(format!("no such time {:02}:{:02}:{:02}", v[3], v[4], v[5])))?;
    // UTC+8 has no daylight saving, so the conversion is a fixed shift.
    let utc = local
        .checked_sub_signed(TimeDelta::hours(8))
        .ok_or_else(|| bad("out of range".to_owned()))?;
    Ok(Some(utc.and_utc()))
}

/// Decode a 0x0200 body (also the items of 0x0704 and the tail of 0x0201).
pub fn decode_location_body(body: &[u8]) -> Result<Location, MessageError> {
    decode_location(
        &Ctx {
            msg_id: MSG_LOCATION,
        },
        body,
    )
}

fn decode_location(cx: &Ctx, body: &[u8]) -> Result<Location, MessageError> {
    let mut r = Reader::new(body);
    let alarm = AlarmFlags(r.u32("alarm").map_err(|e| cx.t(e))?);
    let status = StatusFlags(r.u32("status").map_err(|e| cx.t(e))?);
    let lat = r.u32("latitude").map_err(|e| cx.t(e))?;
    let lon = r.u32("longitude").map_err(|e| cx.t(e))?;
    if lat > 90_000_000 {
        return Err(cx.bad("latitude", format!("{lat} × 1e-6° is above 90°")));
    }
    if lon > 180_000_000 {
        return Err(cx.bad("longitude", format!("{lon} × 1e-6° is above 180°")));
    }
    let altitude_m = r.u16("altitude").map_err(|e| cx.t(e))?;
    let speed = r.u16("speed").map_err(|e| cx.t(e))?;
    let direction = r.u16("direction").map_err(|e| cx.t(e))?;
    let time = decode_time(cx.msg_id, r.bytes(6, "time").map_err(|e| cx.t(e))?)?;
    let extras = decode_extras(cx, r.rest())?;
    let sign = |neg: bool| if neg { -1.0 } else { 1.0 };
    Ok(Location {
        alarm,
        status,
        latitude: sign(status.south()) * f64::from(lat) / 1e6,
        longitude: sign(status.west()) * f64::from(lon) / 1e6,
        altitude_m,
        speed_kmh: f64::from(speed) / 10.0,
        direction,
        time,
        extras,
    })
}

fn decode_extras(cx: &Ctx, mut rest: &[u8]) -> Result<LocationExtras, MessageError> {
    let mut x = LocationExtras::default();
    while !rest.is_empty() {
        let (Some(&id), Some(&len)) = (rest.first(), rest.get(1)) else {
            x.trailing = rest.to_vec();
            break;
        };
        let Some(value) = rest.get(2..2 + usize::from(len)) else {
            x.trailing = rest.to_vec();
            break;
        };
        let want = |n: usize, field: &'static str| {
            if value.len() == n {
                Ok(())
            } else {
                Err(cx.bad(field, format!("item length {}, expected {n}", value.len())))
            }
        };
        match id {
            0x01 => {
                want(4, "extra 0x01 mileage")?;
                x.mileage_km = Some(
                    f64::from(u32::from_be_bytes([value[0], value[1], value[2], value[3]])) / 10.0,
                );
            }
            0x02 => {
                want(2, "extra 0x02 fuel")?;
                x.fuel_l = Some(f64::from(u16::from_be_bytes([value[0], value[1]])) / 10.0);
            }
            0x30 => {
                want(1, "extra 0x30 signal")?;
                x.signal = Some(value[0]);
            }
            0x31 => {
                want(1, "extra 0x31 satellites")?;
                x.satellites = Some(value[0]);
            }
            _ => x.unknown.push(RawTlv {
                id,
                value: value.to_vec(),
            }),
        }
        rest = rest.get(2 + value.len()..).unwrap_or_default();
    }
    Ok(x)
}

fn decode_batch(cx: &Ctx, r: &mut Reader<'_>) -> Result<BatchLocation, MessageError> {
    let count = r.u16("item count").map_err(|e| cx.t(e))?;
    let kind = r.u8("batch type").map_err(|e| cx.t(e))?;
    let mut items = Vec::with_capacity(usize::from(count).min(64));
    for _ in 0..count {
        let len = r.u16("item length").map_err(|e| cx.t(e))?;
        let body = r
            .bytes(usize::from(len), "item body")
            .map_err(|e| cx.t(e))?;
        items.push(decode_location(cx, body)?);
    }
    if r.remaining() != 0 {
        return Err(cx.bad(
            "batch",
            format!("{} bytes after {count} items", r.remaining()),
        ));
    }
    Ok(BatchLocation { kind, items })
}
