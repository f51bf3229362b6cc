//! Platform → device commands of the watch protocol, framed like device messages.

use super::frame::encode_frame;
use super::message::{PositionKind, WatchMessage};

/// A platform command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum WatchCommand {
    /// `LK`: heartbeat acknowledgement.
    HeartbeatReply,
    /// `AL`: alarm acknowledgement (stops the device re-sending).
    AlarmReply,
    /// `CR`: locate now.
    LocateNow,
    /// `UPLOAD,seconds`: report interval.
    UploadInterval {
        /// Seconds.
        seconds: u32,
    },
    /// `SOS,n1,n2,n3`: SOS numbers (at most three; empty slots clear a number).
    SosNumbers {
        /// Phone numbers.
        numbers: Vec<String>,
    },
    /// `POWEROFF`.
    PowerOff,
    /// `FIND`: make the watch ring.
    Find,
    /// Any other CONTENT, sent as is.
    Raw {
        /// CONTENT.
        content: String,
    },
}

/// Why a command cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchCommandError {
    /// More than three SOS numbers.
    #[error("{0} SOS numbers, at most 3")]
    TooManySosNumbers(usize),
    /// A character that would break the framing or the field list.
    #[error(
        "{field}: {value:?} contains a character not allowed in a command ('[', ']', '*', ',' or non-ASCII)"
    )]
    BadCharacter {
        /// Field.
        field: &'static str,
        /// Value.
        value: String,
    },
    /// Content longer than LEN can say.
    #[error("content of {0} bytes is longer than 65535")]
    TooLong(usize),
}

fn clean(field: &'static str, value: &str, allow_comma: bool) -> Result<(), WatchCommandError> {
    if value.chars().any(|c| {
        !c.is_ascii() || c.is_ascii_control() || "[]*".contains(c) || (!allow_comma && c == ',')
    }) {
        return Err(WatchCommandError::BadCharacter {
            field,
            value: value.to_owned(),
        });
    }
    Ok(())
}

impl WatchCommand {
    /// CONTENT text.
    pub fn content(&self) -> Result<String, WatchCommandError> {
        Ok(match self {
            WatchCommand::HeartbeatReply => "LK".into(),
            WatchCommand::AlarmReply => "AL".into(),
            WatchCommand::LocateNow => "CR".into(),
            WatchCommand::UploadInterval { seconds } => format!("UPLOAD,{seconds}"),
            WatchCommand::SosNumbers { numbers } => {
                if numbers.len() > 3 {
                    return Err(WatchCommandError::TooManySosNumbers(numbers.len()));
                }
                for n in numbers {
                    clean("SOS number", n, false)?;
                }
                let mut all = numbers.clone();
                all.resize(3, String::new());
                format!("SOS,{}", all.join(","))
            }
            WatchCommand::PowerOff => "POWEROFF".into(),
            WatchCommand::Find => "FIND".into(),
            WatchCommand::Raw { content } => {
                clean("raw content", content, true)?;
                content.clone()
            }
        })
    }

    /// The framed command for a device.
    pub fn encode(&self, vendor: &str, device_id: &str) -> Result<Vec<u8>, WatchCommandError> {
        clean("vendor", vendor, false)?;
        clean("device id", device_id, false)?;
        let content = self.content()?;
        encode_frame(vendor, device_id, content.as_bytes())
            .ok_or(WatchCommandError::TooLong(content.len()))
    }
}

/// What the platform answers: `LK` to a heartbeat, `AL` to an alarm position; nothing otherwise.
pub fn reply_for(message: &WatchMessage) -> Option<WatchCommand> {
    match message {
        WatchMessage::Heartbeat { .. } => Some(WatchCommand::HeartbeatReply),
        WatchMessage::Position {
            kind: PositionKind::Alarm,
            ..
        } => Some(WatchCommand::AlarmReply),
        _ => None,
    }
}
