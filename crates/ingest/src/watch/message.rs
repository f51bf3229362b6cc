//! Typed CONTENT of watch frames, and the status-word bit map.

use chrono::{DateTime, NaiveDate, Utc};

use super::frame::WatchFrame;

/// A device message.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum WatchMessage {
    /// `LK[,steps,rolls,battery]` heartbeat.
    Heartbeat {
        /// Pedometer steps today.
        steps: Option<u32>,
        /// Roll-over count (sleep quality).
        rolls: Option<u32>,
        /// Battery %.
        battery: Option<u8>,
    },
    /// `UD` (real-time), `UD2` (blind-area re-upload), `AL` (alarm) position.
    Position {
        /// Which command.
        kind: PositionKind,
        /// The report.
        report: WatchPosition,
    },
    /// `bphrt,high,low,heart_rate[,…]`.
    BloodPressure {
        /// Systolic mmHg.
        high: u16,
        /// Diastolic mmHg.
        low: u16,
        /// Beats per minute.
        heart_rate: u16,
    },
    /// `btemp2,valid,temperature`.
    BodyTemperature {
        /// Degrees Celsius; `None` when the first field says the measurement failed (0).
        celsius: Option<f64>,
    },
    /// Any other command, kept for the gateway to log or acknowledge.
    Other {
        /// Command word.
        command: String,
        /// Arguments (split at `,`), lossy UTF-8.
        args: Vec<String>,
    },
}

/// The command a position came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PositionKind {
    /// `UD`.
    Realtime,
    /// `UD2`.
    Blind,
    /// `AL` (the platform answers `AL`).
    Alarm,
}

/// A status-word bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchStatus {
    /// bit 0 state: battery low.
    LowBatteryState,
    /// bit 1 state: outside the fence.
    OutOfFenceState,
    /// bit 2 state: inside the fence.
    InFenceState,
    /// bit 3 state: watch not worn (taken off).
    RemovedState,
    /// bit 4 state: moving (not static).
    Moving,
    /// bit 14 alert: external power cut (bracelets with a charger clip).
    PowerCut,
    /// bit 16 alert: SOS.
    Sos,
    /// bit 17 alert: low battery.
    LowBattery,
    /// bit 18 alert: left the fence.
    OutOfFence,
    /// bit 19 alert: entered the fence.
    IntoFence,
    /// bit 20 alert: watch removed (taken off the wrist / strap cut).
    Removed,
    /// bit 21 alert: fall detected.
    Fall,
    /// bit 22 alert: fall detected (second fall sensor bit used by some firmwares).
    Fall2,
}

/// The status word layout of the common "3G" watch protocol (as also decoded by traccar's
/// `WatchProtocolDecoder`): 8 hex digits = 32 bits; the low 16 bits are states, the high 16 bits
/// are alerts raised since the last report. Unlisted bits are kept in [`WatchPosition::status`].
pub const STATUS_BITS: &[(u8, WatchStatus)] = &[
    (0, WatchStatus::LowBatteryState),
    (1, WatchStatus::OutOfFenceState),
    (2, WatchStatus::InFenceState),
    (3, WatchStatus::RemovedState),
    (4, WatchStatus::Moving),
    (14, WatchStatus::PowerCut),
    (16, WatchStatus::Sos),
    (17, WatchStatus::LowBattery),
    (18, WatchStatus::OutOfFence),
    (19, WatchStatus::IntoFence),
    (20, WatchStatus::Removed),
    (21, WatchStatus::Fall),
    (22, WatchStatus::Fall2),
];

/// A UD/UD2/AL report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WatchPosition {
    /// Device time. The protocol does not carry a zone; devices send UTC (they are set by the
    /// platform's time sync), so it is taken as UTC.
    pub time: DateTime<Utc>,
    /// `A` valid fix, `V` not valid (last known / LBS).
    pub valid: bool,
    /// Degrees, negative south.
    pub latitude: f64,
    /// Degrees, negative west.
    pub longitude: f64,
    /// km/h.
    pub speed_kmh: f64,
    /// Degrees.
    pub course: f64,
    /// Metres.
    pub altitude_m: f64,
    /// Satellites used.
    pub satellites: u16,
    /// GSM signal (0–100).
    pub signal: u16,
    /// Battery %.
    pub battery: u8,
    /// Steps today.
    pub steps: u32,
    /// Roll-overs.
    pub rolls: u32,
    /// Raw status word.
    pub status: u32,
    /// Fields after the status word (base stations, Wi-Fi), raw.
    pub extra: Vec<String>,
}

impl WatchPosition {
    /// Named status bits that are set, in bit order.
    pub fn flags(&self) -> Vec<WatchStatus> {
        STATUS_BITS
            .iter()
            .filter(|(bit, _)| self.status & (1 << bit) != 0)
            .map(|&(_, s)| s)
            .collect()
    }
}

/// Why CONTENT is not the message its command says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// CONTENT is empty or not text.
    #[error("content is not ASCII text (byte 0x{byte:02x} at {offset})")]
    NotText {
        /// Offset.
        offset: usize,
        /// Byte.
        byte: u8,
    },
    /// Fewer fields than the command needs.
    #[error("{command}: {found} fields, at least {needed} needed")]
    MissingFields {
        /// Command.
        command: &'static str,
        /// Needed.
        needed: usize,
        /// Found.
        found: usize,
    },
    /// A field that breaks its rule.
    #[error("{command}: bad {field} {value:?}: {reason}")]
    BadField {
        /// Command.
        command: &'static str,
        /// Field.
        field: &'static str,
        /// The value.
        value: String,
        /// The rule.
        reason: &'static str,
    },
}

fn bad(
    command: &'static str,
    field: &'static str,
    value: &str,
    reason: &'static str,
) -> WatchError {
    WatchError::BadField {
        command,
        field,
        value: value.chars().take(32).collect(),
        reason,
    }
}

fn num<T: std::str::FromStr>(
    command: &'static str,
    field: &'static str,
    value: &str,
) -> Result<T, WatchError> {
    value
        .trim()
        .parse()
        .map_err(|_| bad(command, field, value, "not a number"))
}

fn float(command: &'static str, field: &'static str, value: &str) -> Result<f64, WatchError> {
    let v: f64 = num(command, field, value)?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(bad(command, field, value, "not finite"))
    }
}

/// Decode the CONTENT of a frame.
pub fn decode_content(frame: &WatchFrame) -> Result<WatchMessage, WatchError> {
    // Binary content (voice `TK`, image `img`) is only valid for those commands; they are
    // passed through as `Other` with the command word and no arguments.
    let cmd_end = frame
        .content
        .iter()
        .position(|&b| b == b',')
        .unwrap_or(frame.content.len());
    let command = String::from_utf8_lossy(&frame.content[..cmd_end]).into_owned();
    if matches!(command.as_str(), "TK" | "img" | "JXTK") {
        return Ok(WatchMessage::Other {
            command,
            args: Vec::new(),
        });
    }
    if let Some((offset, &byte)) = frame
        .content
        .iter()
        .enumerate()
        .find(|(_, b)| !(0x20..0x7f).contains(*b))
    {
        return Err(WatchError::NotText { offset, byte });
    }
    let text = String::from_utf8_lossy(&frame.content);
    let mut parts = text.split(',');
    let cmd = parts.next().unwrap_or_default();
    let args: Vec<&str> = parts.collect();
    match cmd {
        "LK" => decode_lk(&args),
        "UD" => decode_position(PositionKind::Realtime, "UD", &args),
        "UD2" => decode_position(PositionKind::Blind, "UD2", &args),
        "AL" => decode_position(PositionKind::Alarm, "AL", &args),
        "bphrt" => {
            need("bphrt", &args, 3)?;
            Ok(WatchMessage::BloodPressure {
                high: num("bphrt", "high", args[0])?,
                low: num("bphrt", "low", args[1])?,
                heart_rate: num("bphrt", "heart rate", args[2])?,
            })
        }
        "btemp2" => {
            need("btemp2", &args, 2)?;
            let ok: u8 = num("btemp2", "valid flag", args[0])?;
            let t = float("btemp2", "temperature", args[1])?;
            if ok > 0 && !(25.0..=45.0).contains(&t) {
                return Err(bad("btemp2", "temperature", args[1], "outside 25–45 °C"));
            }
            Ok(WatchMessage::BodyTemperature {
                celsius: (ok > 0).then_some(t),
            })
        }
        _ => Ok(WatchMessage::Other {
            command: cmd.to_owned(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
        }),
    }
}

fn need(command: &'static str, args: &[&str], needed: usize) -> Result<(), WatchError> {
    if args.len() < needed {
        Err(WatchError::MissingFields {
            command,
            needed,
            found: args.len(),
        })
    } else {
        Ok(())
    }
}

fn decode_lk(args: &[&str]) -> Result<WatchMessage, WatchError> {
    if args.is_empty() {
        return Ok(WatchMessage::Heartbeat {
            steps: None,
            rolls: None,
            battery: None,
        });
    }
    need("LK", args, 3)?;
    let battery: u8 = num("LK", "battery", args[2])?;
    if battery > 100 {
        return Err(bad("LK", "battery", args[2], "above 100 %"));
    }
    Ok(WatchMessage::Heartbeat {
        steps: Some(num("LK", "steps", args[0])?),
        rolls: Some(num("LK", "rolls", args[1])?),
        battery: Some(battery),
    })
}

fn decode_position(
    kind: PositionKind,
    c: &'static str,
    a: &[&str],
) -> Result<WatchMessage, WatchError> {
    need(c, a, 16)?;
    let date = a[0];
    let time = a[1];
    let digits = |s: &str| s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(date) {
        return Err(bad(c, "date", date, "not DDMMYY"));
    }
    if !digits(time) {
        return Err(bad(c, "time", time, "not hhmmss"));
    }
    let p = |s: &str, i: usize| {
        s.get(i..i + 2)
            .and_then(|d| d.parse::<u32>().ok())
            .unwrap_or(99)
    };
    let when = NaiveDate::from_ymd_opt(2000 + p(date, 4) as i32, p(date, 2), p(date, 0))
        .ok_or_else(|| bad(c, "date", date, "no such date"))?
        .and_hms_opt(p(time, 0), p(time, 2), p(time, 4))
        .ok_or_else(|| bad(c, "time", time, "no such time"))?
        .and_utc();
    let valid = match a[2] {
        "A" => true,
        "V" => false,
        other => return Err(bad(c, "validity", other, "not A or V")),
    };
    let lat = float(c, "latitude", a[3])?;
    if !(0.0..=90.0).contains(&lat) {
        return Err(bad(c, "latitude", a[3], "outside 0–90"));
    }
    let lat = match a[4] {
        "N" => lat,
        "S" => -lat,
        other => return Err(bad(c, "latitude hemisphere", other, "not N or S")),
    };
    let lon = float(c, "longitude", a[5])?;
    if !(0.0..=180.0).contains(&lon) {
        return Err(bad(c, "longitude", a[5], "outside 0–180"));
    }
    let lon = match a[6] {
        "E" => lon,
        "W" => -lon,
        other => return Err(bad(c, "longitude hemisphere", other, "not E or W")),
    };
    let battery: u8 = num(c, "battery", a[12])?;
    if battery > 100 {
        return Err(bad(c, "battery", a[12], "above 100 %"));
    }
    let status_hex = a[15];
    if status_hex.len() != 8 || !status_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(c, "status", status_hex, "not 8 hex digits"));
    }
    let status = u32::from_str_radix(status_hex, 16)
        .map_err(|_| bad(c, "status", status_hex, "not 8 hex digits"))?;
    let report = WatchPosition {
        time: when,
        valid,
        latitude: lat,
        longitude: lon,
        speed_kmh: float(c, "speed", a[7])?,
        course: float(c, "course", a[8])?,
        altitude_m: float(c, "altitude", a[9])?,
        satellites: num(c, "satellites", a[10])?,
        signal: num(c, "signal", a[11])?,
        battery,
        steps: num(c, "steps", a[13])?,
        rolls: num(c, "rolls", a[14])?,
        status,
        extra: a[16..].iter().map(|s| (*s).to_owned()).collect(),
    };
    Ok(WatchMessage::Position { kind, report })
}
