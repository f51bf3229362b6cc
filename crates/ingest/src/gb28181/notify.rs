use chrono::NaiveDateTime;
use encoding_rs::{Encoding, GBK, UTF_8};
use quick_xml::Reader;
use quick_xml::events::Event;

/// Largest document accepted (an alarm Notify is a few hundred bytes).
pub const MAX_DOCUMENT_LEN: usize = 64 * 1024;
/// Deepest element nesting accepted.
const MAX_DEPTH: usize = 16;

/// AlarmMethod (GB/T 28181-2016 A.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmMethod {
    /// 1 telephone alarm.
    Phone,
    /// 2 device alarm.
    Device,
    /// 3 SMS alarm.
    Sms,
    /// 4 GPS alarm.
    Gps,
    /// 5 video alarm (analytics).
    Video,
    /// 6 device fault.
    DeviceFault,
    /// 7 other.
    Other,
}

impl AlarmMethod {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => AlarmMethod::Phone,
            2 => AlarmMethod::Device,
            3 => AlarmMethod::Sms,
            4 => AlarmMethod::Gps,
            5 => AlarmMethod::Video,
            6 => AlarmMethod::DeviceFault,
            7 => AlarmMethod::Other,
            _ => return None,
        })
    }
}

/// Info/AlarmType, interpreted by method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoAlarmType {
    /// Method 2, type 1.
    VideoLoss,
    /// Method 2, type 2 (camera covered / moved).
    Tamper,
    /// Method 5, type 2.
    Motion,
    /// Method 5, type 5.
    Tripwire,
    /// Method 5, type 6.
    Intrusion,
    /// Method 5, type 8.
    Loitering,
    /// Any other (method, type) pair, kept as numbers.
    Other {
        /// AlarmMethod code.
        method: u8,
        /// AlarmType code.
        alarm_type: u8,
    },
}

/// Info/AlarmTypeParam/EventType.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// 1 entered the area.
    Enter,
    /// 2 left the area.
    Leave,
}

/// A parsed alarm Notify.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlarmNotify {
    /// Sequence number, echoed in the Response.
    pub sn: u32,
    /// 20-digit device (or channel) id.
    pub device_id: String,
    /// 1 (highest) – 4.
    pub priority: u8,
    /// Method.
    pub method: AlarmMethod,
    /// Device local time as sent (ISO 8601 without zone).
    pub time: NaiveDateTime,
    /// Free text.
    pub description: Option<String>,
    /// Degrees, when present and non-zero.
    pub longitude: Option<f64>,
    /// Degrees, when present and non-zero.
    pub latitude: Option<f64>,
    /// Info/AlarmType.
    pub alarm_type: Option<VideoAlarmType>,
    /// Info/AlarmTypeParam/EventType.
    pub event: Option<EventType>,
}

/// Why a document is not an alarm Notify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Larger than [`MAX_DOCUMENT_LEN`].
    #[error("document of {0} bytes exceeds the maximum of {MAX_DOCUMENT_LEN}")]
    Oversized(usize),
    /// An encoding label encoding_rs does not know.
    #[error("unknown declared encoding {0:?}")]
    UnknownEncoding(String),
    /// Not well-formed XML.
    #[error("malformed XML at byte {position}: {reason}")]
    Malformed {
        /// Byte offset in the UTF-8 text.
        position: u64,
        /// Parser message.
        reason: String,
    },
    /// The root element is not `Notify`.
    #[error("root element is <{0}>, expected <Notify>")]
    WrongRoot(String),
    /// CmdType is not `Alarm`.
    #[error("CmdType is {0:?}, expected \"Alarm\"")]
    WrongCmdType(String),
    /// A required element is absent or empty.
    #[error("missing {0}")]
    Missing(&'static str),
    /// An element whose value breaks its rule.
    #[error("bad {field} {value:?}: {reason}")]
    BadField {
        /// Element path.
        field: &'static str,
        /// Value.
        value: String,
        /// Rule.
        reason: &'static str,
    },
}

/// Decode document bytes to text by their XML declaration (default UTF-8; a UTF-8 BOM wins).
/// GB2312 is decoded as GBK (its superset), as devices labelled GB2312 routinely send GBK-only
/// characters.
pub fn decode_xml_bytes(bytes: &[u8]) -> Result<String, NotifyError> {
    if bytes.len() > MAX_DOCUMENT_LEN {
        return Err(NotifyError::Oversized(bytes.len()));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        return Ok(UTF_8.decode_without_bom_handling(rest).0.into_owned());
    }
    let encoding = declared_encoding(bytes)?;
    let encoding = if encoding == encoding_rs::GB18030 || encoding == GBK {
        GBK
    } else {
        encoding
    };
    Ok(encoding.decode_without_bom_handling(bytes).0.into_owned())
}

fn declared_encoding(bytes: &[u8]) -> Result<&'static Encoding, NotifyError> {
    let head = &bytes[..bytes.len().min(200)];
    let Some(start) = find(head, b"<?xml") else {
        return Ok(UTF_8);
    };
    let Some(end) = find(&head[start..], b"?>") else {
        return Ok(UTF_8);
    };
    let decl = &head[start..start + end];
    let Some(at) = find(decl, b"encoding") else {
        return Ok(UTF_8);
    };
    let rest = &decl[at + 8..];
    let Some(q) = rest.iter().position(|&b| b == b'"' || b == b'\'') else {
        return Ok(UTF_8);
    };
    let quote = rest[q];
    let value = &rest[q + 1..];
    let Some(close) = value.iter().position(|&b| b == quote) else {
        return Ok(UTF_8);
    };
    let label = &value[..close];
    Encoding::for_label(label)
        .ok_or_else(|| NotifyError::UnknownEncoding(String::from_utf8_lossy(label).into_owned()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// Leaf values by element path (`Notify/Info/AlarmType`), first occurrence wins.
fn leaves(text: &str) -> Result<(String, Vec<(String, String)>), NotifyError> {
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut root = None;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut current = String::new();
    let malformed = |reader: &Reader<&[u8]>, reason: String| NotifyError::Malformed {
        position: reader.buffer_position(),
        reason,
    };
    loop {
        match reader.read_event() {
            Err(e) => return Err(malformed(&reader, e.to_string())),
            Ok(Event::Start(e)) => {
                let name = e.local_name().as_ref().to_owned();
                if root.is_none() {
                    root = Some(name.clone());
                } else if path.is_empty() {
                    return Err(malformed(&reader, "more than one root element".into()));
                }
                path.push(name);
                if path.len() > MAX_DEPTH {
                    return Err(malformed(
                        &reader,
                        format!("nesting deeper than {MAX_DEPTH}"),
                    ));
                }
                current.clear();
            }
            Ok(Event::Empty(e)) => {
                let name = e.local_name().as_ref().to_owned();
                if root.is_none() {
                    root = Some(name);
                }
            }
            Ok(Event::Text(t)) => current.push_str(&t.xml10_content()),
            Ok(Event::CData(t)) => current.push_str(&t),
            Ok(Event::GeneralRef(r)) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => {
                            return Err(malformed(&reader, format!("unknown entity &{other};")));
                        }
                    },
                    Err(e) => return Err(malformed(&reader, e.to_string())),
                };
                current.push(resolved);
            }
            Ok(Event::End(_)) => {
                let key = path.join("/");
                let value = current.trim();
                if !value.is_empty() && !out.iter().any(|(k, _)| *k == key) {
                    out.push((key, value.to_owned()));
                }
                current.clear();
                path.pop();
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
        }
    }
    if !path.is_empty() {
        return Err(malformed(&reader, format!("unclosed <{}>", path.join("/"))));
    }
    let root = root.ok_or_else(|| malformed(&reader, "no root element".into()))?;
    Ok((root, out))
}

/// Parse an alarm Notify from raw bytes (any declared encoding).
pub fn parse_notify(bytes: &[u8]) -> Result<AlarmNotify, NotifyError> {
    let text = decode_xml_bytes(bytes)?;
    let (root, leaves) = leaves(&text)?;
    if root != "Notify" {
        return Err(NotifyError::WrongRoot(root));
    }
    let get = |path: &str| {
        leaves
            .iter()
            .find(|(k, _)| k == path)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let cmd = get("Notify/CmdType").ok_or(NotifyError::Missing("CmdType"))?;
    if cmd != "Alarm" {
        return Err(NotifyError::WrongCmdType(cmd.to_owned()));
    }
    let bad = |field: &'static str, value: &str, reason: &'static str| NotifyError::BadField {
        field,
        value: value.chars().take(64).collect(),
        reason,
    };
    let sn_text = get("Notify/SN").ok_or(NotifyError::Missing("SN"))?;
    let sn = sn_text
        .parse()
        .map_err(|_| bad("SN", sn_text, "not an unsigned integer"))?;
    let device_id = get("Notify/DeviceID").ok_or(NotifyError::Missing("DeviceID"))?;
    if device_id.len() != 20 || !device_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("DeviceID", device_id, "not 20 digits"));
    }
    let pr = get("Notify/AlarmPriority").ok_or(NotifyError::Missing("AlarmPriority"))?;
    let priority: u8 = pr
        .parse()
        .ok()
        .filter(|p| (1..=4).contains(p))
        .ok_or_else(|| bad("AlarmPriority", pr, "not 1–4"))?;
    let m = get("Notify/AlarmMethod").ok_or(NotifyError::Missing("AlarmMethod"))?;
    let method_code: u8 = m.parse().map_err(|_| bad("AlarmMethod", m, "not 1–7"))?;
    let method =
        AlarmMethod::from_code(method_code).ok_or_else(|| bad("AlarmMethod", m, "not 1–7"))?;
    let t = get("Notify/AlarmTime").ok_or(NotifyError::Missing("AlarmTime"))?;
    let time = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S"))
        .map_err(|_| bad("AlarmTime", t, "not YYYY-MM-DDThh:mm:ss"))?;
    let coord = |field: &'static str, max: f64| -> Result<Option<f64>, NotifyError> {
        let Some(v) = get(field) else { return Ok(None) };
        let x: f64 = v
            .parse()
            .map_err(|_| bad(field_name(field), v, "not a number"))?;
        if !x.is_finite() || x.abs() > max {
            return Err(bad(
                field_name(field),
                v,
                if max > 90.0 {
                    "outside ±180°"
                } else {
                    "outside ±90°"
                },
            ));
        }
        // 0,0 is what devices without a position send.
        Ok((x != 0.0).then_some(x))
    };
    let longitude = coord("Notify/Longitude", 180.0)?;
    let latitude = coord("Notify/Latitude", 90.0)?;
    let alarm_type = match get("Notify/Info/AlarmType") {
        None => None,
        Some(v) => {
            let code: u8 = v
                .parse()
                .map_err(|_| bad("Info/AlarmType", v, "not an unsigned integer"))?;
            Some(match (method_code, code) {
                (2, 1) => VideoAlarmType::VideoLoss,
                (2, 2) => VideoAlarmType::Tamper,
                (5, 2) => VideoAlarmType::Motion,
                (5, 5) => VideoAlarmType::Tripwire,
                (5, 6) => VideoAlarmType::Intrusion,
                (5, 8) => VideoAlarmType::Loitering,
                (method, alarm_type) => VideoAlarmType::Other { method, alarm_type },
            })
        }
    };
    let event = match get("Notify/Info/AlarmTypeParam/EventType") {
        None => None,
        Some("1") => Some(EventType::Enter),
        Some("2") => Some(EventType::Leave),
        Some(v) => {
            return Err(bad(
                "Info/AlarmTypeParam/EventType",
                v,
                "not 1 (enter) or 2 (leave)",
            ));
        }
    };
    Ok(AlarmNotify {
        sn,
        device_id: device_id.to_owned(),
        priority,
        method,
        time,
        description: get("Notify/AlarmDescription").map(str::to_owned),
        longitude,
        latitude,
        alarm_type,
        event,
    })
}

fn field_name(path: &'static str) -> &'static str {
    path.strip_prefix("Notify/").unwrap_or(path)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Response to an alarm Notify, GB2312-declared and GBK-encoded like the request.
pub fn encode_response(notify: &AlarmNotify, ok: bool) -> Vec<u8> {
    let text = format!(
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Response>\r\n<CmdType>Alarm</CmdType>\r\n<SN>{}</SN>\r\n<DeviceID>{}</DeviceID>\r\n<Result>{}</Result>\r\n</Response>\r\n",
        notify.sn,
        xml_escape(&notify.device_id),
        if ok { "OK" } else { "ERROR" }
    );
    GBK.encode(&text).0.into_owned()
}
