//! The "3G" watch text protocol (elderly wristbands, community-corrections bracelets).
//!
//! [`frame`] delimits `[VENDOR*ID*LEN*CONTENT]`, [`message`] types the CONTENT, [`command`]
//! builds platform commands. The status-word bit map is [`STATUS_BITS`].

pub mod command;
pub mod frame;
pub mod message;

pub use command::{WatchCommand, WatchCommandError, reply_for};
pub use frame::{WatchFrame, WatchFrameCodec, WatchFrameError, encode_frame, parse_frame};
pub use message::{
    PositionKind, STATUS_BITS, WatchError, WatchMessage, WatchPosition, WatchStatus, decode_content,
};
