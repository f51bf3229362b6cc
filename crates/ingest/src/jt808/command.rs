//! Platform → terminal messages, encoded into escaped, checksummed frames.

use super::header::{Header, Packet, ProtocolVersion, TerminalPhone};
use super::message::Message;
use crate::text::encode_gbk;

/// 0x8001 platform general reply.
pub const MSG_PLATFORM_REPLY: u16 = 0x8001;
/// 0x8100 registration reply.
pub const MSG_REGISTER_REPLY: u16 = 0x8100;
/// 0x8103 set terminal parameters.
pub const MSG_SET_PARAMETERS: u16 = 0x8103;
/// 0x8105 terminal control.
pub const MSG_TERMINAL_CONTROL: u16 = 0x8105;
/// 0x8201 query location.
pub const MSG_QUERY_LOCATION: u16 = 0x8201;
/// 0x8300 text message.
pub const MSG_TEXT: u16 = 0x8300;
/// 0x8500 vehicle control.
pub const MSG_VEHICLE_CONTROL: u16 = 0x8500;
/// 0x8600 set circular area.
pub const MSG_SET_CIRCLE_AREA: u16 = 0x8600;

/// Result code of 0x8001.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ReplyResult {
    /// 0.
    Ok = 0,
    /// 1.
    Fail = 1,
    /// 2.
    BadMessage = 2,
    /// 3.
    Unsupported = 3,
    /// 4 alarm handling confirmed.
    AlarmAck = 4,
}

/// Result code of 0x8100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum RegisterResult {
    /// 0, an auth code follows.
    Ok = 0,
    /// 1 vehicle already registered.
    VehicleRegistered = 1,
    /// 2 no such vehicle.
    NoSuchVehicle = 2,
    /// 3 terminal already registered.
    TerminalRegistered = 3,
    /// 4 no such terminal.
    NoSuchTerminal = 4,
}

/// A terminal parameter value of 0x8103 (the id decides the type; the standard lists them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum ParamValue {
    /// BYTE.
    U8(u8),
    /// WORD.
    U16(u16),
    /// DWORD.
    U32(u32),
    /// STRING (GBK).
    Text(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

/// One 0x8103 item, e.g. `0x0029` default report interval (s), `0x0055` max speed (km/h).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Parameter {
    /// Parameter id.
    pub id: u32,
    /// Value.
    pub value: ParamValue,
}

/// One circle of 0x8600.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CircleArea {
    /// Area id.
    pub id: u32,
    /// Area properties (bit 0 by time, 1 speed limit, 2 alarm to driver on entry, 3 alarm to
    /// platform on entry, 4/5 same on exit…). Bits 0 and 1 decide which optional fields follow.
    pub props: u16,
    /// Centre latitude, degrees (negative = south is not encodable: JT/T 808 areas are unsigned).
    pub latitude: f64,
    /// Centre longitude, degrees.
    pub longitude: f64,
    /// Radius in metres.
    pub radius_m: u32,
    /// BCD[6] start and end times (YYMMDDhhmmss, local), required when props bit 0 is set.
    pub time_range: Option<(String, String)>,
    /// Max speed km/h and duration s, required when props bit 1 is set.
    pub speed_limit: Option<(u16, u8)>,
}

/// A platform message.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum PlatformMessage {
    /// 0x8001.
    GeneralReply {
        /// Serial of the terminal message answered.
        reply_serial: u16,
        /// Its id.
        reply_id: u16,
        /// Result.
        result: ReplyResult,
    },
    /// 0x8100.
    RegisterReply {
        /// Serial of the 0x0100.
        reply_serial: u16,
        /// Result.
        result: RegisterResult,
        /// Auth code (sent only with `Ok`).
        auth_code: String,
    },
    /// 0x8103.
    SetParameters(Vec<Parameter>),
    /// 0x8105 (command word 1 upgrade … 4 power off, 5 reset, 6 factory reset…; `params` is the
    /// `;`-separated argument string of commands 1 and 2).
    TerminalControl {
        /// Command word.
        command: u8,
        /// Arguments (GBK).
        params: String,
    },
    /// 0x8201 (empty body).
    QueryLocation,
    /// 0x8300.
    Text {
        /// Flags (bit 0 emergency, 2 display, 3 TTS, 5 CAN/navigation info…).
        flags: u8,
        /// Text (GBK).
        text: String,
    },
    /// 0x8500. The 2013 standard defines only control-flag bit 0 (door lock); trackers for
    /// e-bikes and fleets interpret the same bit as "cut oil/power" (the convention traccar's
    /// encoder uses for engine stop/resume). With a 2019 header it is sent as one control item
    /// id 0x0001 with the same flag as parameter.
    VehicleControl {
        /// `true` cut oil/power (lock), `false` restore (unlock).
        cut_oil_power: bool,
    },
    /// 0x8600.
    SetCircleArea {
        /// 0 update (replace all), 1 append, 2 modify.
        action: u8,
        /// Areas.
        areas: Vec<CircleArea>,
    },
}

/// Why a platform message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Text with characters GBK cannot represent.
    #[error("{field}: text not representable in GBK")]
    NotGbk {
        /// Field.
        field: &'static str,
    },
    /// A value that does not fit its field.
    #[error("{field}: {reason}")]
    OutOfRange {
        /// Field.
        field: &'static str,
        /// The rule broken.
        reason: String,
    },
}

impl PlatformMessage {
    /// The message id.
    pub fn msg_id(&self) -> u16 {
        match self {
            PlatformMessage::GeneralReply { .. } => MSG_PLATFORM_REPLY,
            PlatformMessage::RegisterReply { .. } => MSG_REGISTER_REPLY,
            PlatformMessage::SetParameters(_) => MSG_SET_PARAMETERS,
            PlatformMessage::TerminalControl { .. } => MSG_TERMINAL_CONTROL,
            PlatformMessage::QueryLocation => MSG_QUERY_LOCATION,
            PlatformMessage::Text { .. } => MSG_TEXT,
            PlatformMessage::VehicleControl { .. } => MSG_VEHICLE_CONTROL,
            PlatformMessage::SetCircleArea { .. } => MSG_SET_CIRCLE_AREA,
        }
    }

    /// The body bytes for a header of `version`.
    pub fn encode_body(&self, version: ProtocolVersion) -> Result<Vec<u8>, EncodeError> {
        let mut b = Vec::new();
        match self {
            PlatformMessage::GeneralReply {
                reply_serial,
                reply_id,
                result,
            } => {
                b.extend_from_slice(&reply_serial.to_be_bytes());
                b.extend_from_slice(&reply_id.to_be_bytes());
                b.push(*result as u8);
            }
            PlatformMessage::RegisterReply {
                reply_serial,
                result,
                auth_code,
            } => {
                b.extend_from_slice(&reply_serial.to_be_bytes());
                b.push(*result as u8);
                if *result == RegisterResult::Ok {
                    b.extend_from_slice(
                        &encode_gbk(auth_code).ok_or(EncodeError::NotGbk { field: "auth code" })?,
                    );
                }
            }
            PlatformMessage::SetParameters(params) => {
                let count = u8::try_from(params.len()).map_err(|_| EncodeError::OutOfRange {
                    field: "parameters",
                    reason: format!("{} parameters, at most 255 per message", params.len()),
                })?;
                b.push(count);
                for p in params {
                    let value = match &p.value {
                        ParamValue::U8(v) => vec![*v],
                        ParamValue::U16(v) => v.to_be_bytes().to_vec(),
                        ParamValue::U32(v) => v.to_be_bytes().to_vec(),
                        ParamValue::Text(t) => encode_gbk(t).ok_or(EncodeError::NotGbk {
                            field: "parameter text",
                        })?,
                        ParamValue::Bytes(v) => v.clone(),
                    };
                    let len = u8::try_from(value.len()).map_err(|_| EncodeError::OutOfRange {
                        field: "parameter value",
                        reason: format!(
                            "parameter 0x{:04x} is {} bytes, at most 255",
                            p.id,
                            value.len()
                        ),
                    })?;
                    b.extend_from_slice(&p.id.to_be_bytes());
                    b.push(len);
                    b.extend_from_slice(&value);
                }
            }
            PlatformMessage::TerminalControl { command, params } => {
                b.push(*command);
                b.extend_from_slice(&encode_gbk(params).ok_or(EncodeError::NotGbk {
                    field: "control params",
                })?);
            }
            PlatformMessage::QueryLocation => {}
            PlatformMessage::Text { flags, text } => {
                b.push(*flags);
                if matches!(version, ProtocolVersion::V2019 { .. }) {
                    b.push(1); // 2019: text type 1 = notice
                }
                b.extend_from_slice(
                    &encode_gbk(text).ok_or(EncodeError::NotGbk { field: "text" })?,
                );
            }
            PlatformMessage::VehicleControl { cut_oil_power } => {
                let flag = u8::from(*cut_oil_power);
                match version {
                    ProtocolVersion::V2013 => b.push(flag),
                    ProtocolVersion::V2019 { .. } => {
                        b.extend_from_slice(&1u16.to_be_bytes());
                        b.extend_from_slice(&1u16.to_be_bytes());
                        b.push(flag);
                    }
                }
            }
            PlatformMessage::SetCircleArea { action, areas } => {
                let count = u8::try_from(areas.len()).map_err(|_| EncodeError::OutOfRange {
                    field: "areas",
                    reason: format!("{} areas, at most 255 per message", areas.len()),
                })?;
                b.push(*action);
                b.push(count);
                for a in areas {
                    encode_circle(a, &mut b)?;
                }
            }
        }
        if b.len() > usize::from(super::header::PROPS_LEN_MASK) {
            return Err(EncodeError::OutOfRange {
                field: "body",
                reason: format!("{} bytes, a single package holds at most 1023", b.len()),
            });
        }
        Ok(b)
    }

    /// The complete frame (delimited, escaped, checksummed) for a terminal.
    pub fn encode_frame(
        &self,
        version: ProtocolVersion,
        phone: &TerminalPhone,
        serial: u16,
    ) -> Result<Vec<u8>, EncodeError> {
        let body = self.encode_body(version)?;
        let packet = Packet {
            header: Header {
                msg_id: self.msg_id(),
                body_len: body.len() as u16,
                encryption: 0,
                version,
                phone: phone.clone(),
                serial,
                package: None,
            },
            body,
        };
        packet
            .encode_frame()
            .ok_or_else(|| EncodeError::OutOfRange {
                field: "terminal phone",
                reason: format!(
                    "{} does not fit {} BCD bytes",
                    phone.as_str(),
                    version.phone_len()
                ),
            })
    }
}

fn coord(value: f64, max: f64, field: &'static str) -> Result<u32, EncodeError> {
    if !(0.0..=max).contains(&value) {
        return Err(EncodeError::OutOfRange {
            field,
            reason: format!("{value} is outside 0..={max}"),
        });
    }
    Ok((value * 1e6).round() as u32)
}

fn encode_circle(a: &CircleArea, b: &mut Vec<u8>) -> Result<(), EncodeError> {
    b.extend_from_slice(&a.id.to_be_bytes());
    b.extend_from_slice(&a.props.to_be_bytes());
    b.extend_from_slice(&coord(a.latitude, 90.0, "circle latitude")?.to_be_bytes());
    b.extend_from_slice(&coord(a.longitude, 180.0, "circle longitude")?.to_be_bytes());
    b.extend_from_slice(&a.radius_m.to_be_bytes());
    if a.props & 1 != 0 {
        let (start, end) = a.time_range.as_ref().ok_or(EncodeError::OutOfRange {
            field: "circle time range",
            reason: "props bit 0 set but no time range".into(),
        })?;
        for t in [start, end] {
            let bytes = super::bcd::encode(t, 6)
                .filter(|_| t.len() == 12)
                .ok_or_else(|| EncodeError::OutOfRange {
                    field: "circle time range",
                    reason: format!("{t:?} is not 12 digits YYMMDDhhmmss"),
                })?;
            b.extend_from_slice(&bytes);
        }
    }
    if a.props & 2 != 0 {
        let (speed, secs) = a.speed_limit.ok_or(EncodeError::OutOfRange {
            field: "circle speed limit",
            reason: "props bit 1 set but no speed limit".into(),
        })?;
        b.extend_from_slice(&speed.to_be_bytes());
        b.push(secs);
    }
    Ok(())
}

/// What the platform answers to a terminal message: 0x8001 (ok) for heartbeat, location,
/// authentication and batch upload; 0x8100 for registration, carrying the terminal phone as
/// auth code (what traccar does; a platform that issues secret codes builds the reply with
/// [`register_reply`] instead). Terminal replies get no answer. The header supplies the serial
/// being answered.
pub fn reply_for(message: &Message, header: &Header) -> Option<PlatformMessage> {
    match message {
        Message::TerminalReply(_) => None,
        Message::Register(_) => Some(register_reply(header.serial, header.phone.as_str())),
        Message::Heartbeat { .. }
        | Message::Authenticate(_)
        | Message::Location(_)
        | Message::BatchLocation(_) => Some(PlatformMessage::GeneralReply {
            reply_serial: header.serial,
            reply_id: message.msg_id(),
            result: ReplyResult::Ok,
        }),
    }
}

/// A successful 0x8100 carrying `auth_code`.
pub fn register_reply(reply_serial: u16, auth_code: &str) -> PlatformMessage {
    PlatformMessage::RegisterReply {
        reply_serial,
        result: RegisterResult::Ok,
        auth_code: auth_code.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jt808::frame::Jt808Frame;
    use crate::jt808::frame::parse_frame;

    fn round_trip(msg: &PlatformMessage, version: ProtocolVersion, phone: &str) -> Packet {
        let frame = msg
            .encode_frame(version, &TerminalPhone::Bcd(phone.into()), 0x7e)
            .expect("encodes");
        assert!(!frame[1..frame.len() - 1].contains(&0x7e), "escaped");
        let (f, n) = parse_frame(&frame).expect("frame").expect("complete");
        assert_eq!(n, frame.len() - 1);
        let Jt808Frame::Binary(content) = f else {
            panic!("binary")
        };
        let packet = Packet::decode(&content).expect("checksum and header");
        assert_eq!(packet.header.msg_id, msg.msg_id());
        assert_eq!(packet.header.serial, 0x7e);
        packet
    }

    #[test]
    fn general_reply_exact_bytes_2013() {
        let msg = PlatformMessage::GeneralReply {
            reply_serial: 0x0007,
            reply_id: 0x0200,
            result: ReplyResult::Ok,
        };
        let frame = msg
            .encode_frame(
                ProtocolVersion::V2013,
                &TerminalPhone::Bcd("013511221122".into()),
                1,
            )
            .expect("encodes");
        // 8001 | props 0005 | phone | serial 0001 | body 0007 0200 00 | xor | delimiters
        let content = hex_bytes("8001000501351122112200010007020000");
        let x = content.iter().fold(0u8, |a, b| a ^ b);
        let mut want = vec![0x7e];
        want.extend_from_slice(&content);
        want.push(x);
        want.push(0x7e);
        assert_eq!(frame, want);
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect()
    }

    #[test]
    fn every_command_round_trips_with_both_headers() {
        let msgs = [
            register_reply(9, "AUTH123"),
            PlatformMessage::SetParameters(vec![
                Parameter {
                    id: 0x0029,
                    value: ParamValue::U32(30),
                },
                Parameter {
                    id: 0x0083,
                    value: ParamValue::Text("赣L12345".into()),
                },
            ]),
            PlatformMessage::TerminalControl {
                command: 4,
                params: String::new(),
            },
            PlatformMessage::QueryLocation,
            PlatformMessage::Text {
                flags: 0x08,
                text: "请立即停车".into(),
            },
            PlatformMessage::VehicleControl {
                cut_oil_power: true,
            },
            PlatformMessage::SetCircleArea {
                action: 1,
                areas: vec![CircleArea {
                    id: 7,
                    props: 0b11,
                    latitude: 28.238116,
                    longitude: 117.033841,
                    radius_m: 500,
                    time_range: Some(("260501000000".into(), "260531235959".into())),
                    speed_limit: Some((25, 10)),
                }],
            },
        ];
        for msg in &msgs {
            round_trip(msg, ProtocolVersion::V2013, "13800138000");
            let p = round_trip(msg, ProtocolVersion::V2019 { version: 1 }, "13800138000");
            assert_eq!(
                p.header.phone,
                TerminalPhone::Bcd("00000000013800138000".into())
            );
        }
        let area = round_trip(&msgs[6], ProtocolVersion::V2013, "1");
        // action, count, id, props, lat, lon, radius, 2×BCD[6], speed, duration
        assert_eq!(area.body.len(), 2 + 4 + 2 + 4 + 4 + 4 + 12 + 3);
        assert_eq!(&area.body[8..12], &28_238_116u32.to_be_bytes());
        let vc = round_trip(&msgs[5], ProtocolVersion::V2019 { version: 1 }, "1");
        assert_eq!(vc.body, [0, 1, 0, 1, 1]);
    }

    #[test]
    fn encode_errors() {
        let bad_area = PlatformMessage::SetCircleArea {
            action: 0,
            areas: vec![CircleArea {
                id: 1,
                props: 1,
                latitude: 95.0,
                longitude: 0.0,
                radius_m: 1,
                time_range: None,
                speed_limit: None,
            }],
        };
        assert!(matches!(
            bad_area.encode_body(ProtocolVersion::V2013),
            Err(EncodeError::OutOfRange {
                field: "circle latitude",
                ..
            })
        ));
        let emoji = PlatformMessage::Text {
            flags: 0,
            text: "😀".into(),
        };
        assert_eq!(
            emoji.encode_body(ProtocolVersion::V2013),
            Err(EncodeError::NotGbk { field: "text" })
        );
        let long = PlatformMessage::Text {
            flags: 0,
            text: "a".repeat(2000),
        };
        assert!(matches!(
            long.encode_body(ProtocolVersion::V2013),
            Err(EncodeError::OutOfRange { field: "body", .. })
        ));
        let phone = PlatformMessage::QueryLocation.encode_frame(
            ProtocolVersion::V2013,
            &TerminalPhone::Bcd("1".repeat(13)),
            0,
        );
        assert!(matches!(
            phone,
            Err(EncodeError::OutOfRange {
                field: "terminal phone",
                ..
            })
        ));
    }
}
