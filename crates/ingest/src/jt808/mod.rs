//! JT/T 808 (2013 and 2019 headers): vehicle and e-bike trackers over TCP.
//!
//! Layers, each usable alone: [`frame`] (delimit, un-escape) → [`header`] ([`Packet::decode`]:
//! checksum, header, body length) → [`message`] ([`decode_message`]: typed bodies), with
//! [`reassembly`] for split bodies and [`command`] for platform messages. [`Jt808Decoder`] chains
//! them for a connection.

pub mod bcd;
pub mod command;
pub mod frame;
pub mod header;
pub mod message;
pub mod reassembly;

pub use command::{
    CircleArea, EncodeError, ParamValue, Parameter, PlatformMessage, RegisterResult, ReplyResult,
    register_reply, reply_for,
};
pub use frame::{FrameError, Jt808Frame, Jt808FrameCodec, parse_frame};
pub use header::{Header, PackageInfo, Packet, PacketError, ProtocolVersion, TerminalPhone};
pub use message::{
    ALARM_BITS, AlarmFlags, AlarmKind, Authenticate, BatchLocation, Location, LocationExtras,
    Message, MessageError, RawTlv, Register, StatusFlags, TerminalReply, decode_body,
    decode_location_body, decode_message,
};
pub use reassembly::{Reassembled, Reassembler, ReassemblyError};

use crate::stream::StreamDecoder;

/// Any error a connection can see, by layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Jt808Error {
    /// Framing (bytes dropped).
    #[error("frame: {0}")]
    Frame(#[from] FrameError),
    /// Checksum or header.
    #[error("packet: {0}")]
    Packet(#[from] PacketError),
    /// Body (the header is known, so the platform can answer 0x8001 with a failure code).
    #[error("message: {error}")]
    Message {
        /// Header of the packet.
        header: Box<Header>,
        /// What was wrong.
        error: MessageError,
    },
    /// Sub-package handling.
    #[error("reassembly: {0}")]
    Reassembly(#[from] ReassemblyError),
}

/// One result of feeding bytes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Decoded {
    /// A message and the header it came with (for the sub-package case, the header of the
    /// last package).
    Message {
        /// Header.
        header: Header,
        /// Message.
        message: Message,
    },
    /// A package of a split message was stored; nothing to hand on yet (the platform still
    /// acknowledges each package with 0x8001).
    PackageStored {
        /// Header of the package.
        header: Header,
    },
    /// An ASCII `( … )` sentence (e-lock command results), passed through.
    Text(String),
}

/// Bytes in, decoded messages out, for one connection: framing, checksum, header, reassembly
/// and body decoding.
#[derive(Debug, Clone, Default)]
pub struct Jt808Decoder {
    stream: StreamDecoder<Jt808FrameCodec>,
    reassembler: Reassembler,
}

impl Default for StreamDecoder<Jt808FrameCodec> {
    fn default() -> Self {
        StreamDecoder::new(Jt808FrameCodec::default())
    }
}

impl Jt808Decoder {
    /// A decoder with the given limits.
    pub fn new(codec: Jt808FrameCodec, reassembler: Reassembler) -> Self {
        Self {
            stream: StreamDecoder::new(codec),
            reassembler,
        }
    }

    /// Append received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.stream.extend(bytes);
    }

    /// The next result, or `None` when more bytes are needed.
    pub fn next_decoded(&mut self) -> Option<Result<Decoded, Jt808Error>> {
        let frame = match self.stream.next_frame()? {
            Ok(frame) => frame,
            Err(e) => return Some(Err(e.into())),
        };
        Some(self.decode_frame(frame))
    }

    /// Framing counters.
    pub fn stats(&self) -> crate::stream::StreamStats {
        self.stream.stats()
    }

    /// Decode one already-delimited frame (what [`Jt808Decoder::next_decoded`] does after framing).
    /// Public so that frames recorded without escaping (traccar's decoder test vectors feed
    /// the protocol decoder directly) can be decoded by the same instance.
    pub fn decode_frame(&mut self, frame: Jt808Frame) -> Result<Decoded, Jt808Error> {
        let bytes = match frame {
            Jt808Frame::Text(text) => return Ok(Decoded::Text(text)),
            Jt808Frame::Binary(bytes) => bytes,
        };
        self.decode_packet(Packet::decode(&bytes)?)
    }

    /// Decode a checked packet: reassemble if it is a package, then decode the body.
    pub fn decode_packet(&mut self, packet: Packet) -> Result<Decoded, Jt808Error> {
        if packet.header.package.is_some() {
            let Some(whole) = self.reassembler.push(&packet)? else {
                return Ok(Decoded::PackageStored {
                    header: packet.header,
                });
            };
            return match decode_body(whole.msg_id, whole.version, &whole.body) {
                Ok(message) => Ok(Decoded::Message {
                    header: packet.header,
                    message,
                }),
                Err(error) => Err(Jt808Error::Message {
                    header: Box::new(packet.header),
                    error,
                }),
            };
        }
        match decode_message(&packet) {
            Ok(message) => Ok(Decoded::Message {
                header: packet.header,
                message,
            }),
            Err(error) => Err(Jt808Error::Message {
                header: Box::new(packet.header),
                error,
            }),
        }
    }
}
