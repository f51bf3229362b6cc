//! The JT/T 808 TCP gateway (vehicle and e-bike trackers).
//!
//! Per connection: frames are cut out of the read buffer with [`Jt808FrameCodec`] (resync on
//! garbage), checked ([`Packet::decode`]), sub-packages reassembled and bodies decoded by a
//! [`Jt808Decoder`]; then:
//!
//! | terminal sends | gateway does | platform answers |
//! |---|---|---|
//! | 0x0100 register | [`DeviceDirectory::register`] | 0x8100 with the auth code, or results 1–4 |
//! | 0x0102 authenticate | [`DeviceDirectory::authenticate`] ([`Credential::AuthCode`]) | 0x8001 ok; refused: 0x8001 fail, then close |
//! | 0x0002 heartbeat | [`Inbound::Heartbeat`] | 0x8001 ok |
//! | 0x0200 location, 0x0704 batch | [`Inbound::Telemetry`] per fix ([`super::mapping`]) | 0x8001 ok |
//! | 0x0001 terminal reply | [`Inbound::CommandReply`] (correlated by serial) | — |
//! | a sub-package | stored until complete | 0x8001 ok per package |
//! | anything before authentication, or for another phone | counted (`unauthenticated`) | 0x8001 result 1 fail |
//! | a frame whose header reads but body/checksum does not | counted (`bad_input`) | 0x8001 result 2 bad message |
//! | garbage, oversize frames, bad escapes | counted, skipped to the next 0x7E | — |
//!
//! A connection belongs to the terminal phone it authenticated with. Outbound
//! [`OutboundPayload::Jt808`] messages are framed with that phone, the connection's protocol
//! version and the gateway's serial counter; the serial is remembered so the terminal's 0x0001
//! answer is reported as [`CommandRef::Command`].

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use chengyun_domain::iot::Protocol;
use chrono::Utc;

use super::contract::{
    AuthRequest, CommandRef, CommandReply, Credential, Inbound, OutboundFrame, OutboundPayload,
    RegisterRefusalKind, Registration, Resource, Source, SourceConfig, SourceContext, SourceError,
};
use super::mapping::{ProductFilter, jt808_location};
use super::tcp::{Conn, ConnectionProtocol, Counter, Flow, TcpSettings, serve};
use crate::jt808::{
    Decoded, Header, Jt808Decoder, Jt808Error, Jt808Frame, Jt808FrameCodec, Message, Packet,
    PlatformMessage, ProtocolVersion, RegisterResult, ReplyResult, TerminalPhone,
};
use crate::stream::{CodecError, FrameCodec};

/// Source name (logs, metric label).
pub const NAME: &str = "jt808";

/// Configuration of the JT/T 808 gateway.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Jt808Config {
    /// Listener and connection limits.
    pub tcp: TcpSettings,
    /// Close a connection after this many messages sent before authenticating.
    pub max_unauthenticated: u32,
    /// Commands remembered per connection for reply correlation (oldest dropped first).
    pub max_pending_commands: usize,
}

impl Default for Jt808Config {
    fn default() -> Self {
        Self {
            tcp: TcpSettings {
                listen: std::net::SocketAddr::from(([0, 0, 0, 0], 7611)),
                ..TcpSettings::default()
            },
            max_unauthenticated: 16,
            max_pending_commands: 64,
        }
    }
}

impl SourceConfig for Jt808Config {
    fn build(&self) -> Result<Box<dyn Source>, SourceError> {
        self.tcp.validate(NAME)?;
        Ok(Box::new(Jt808Source {
            config: self.clone(),
            filter: Arc::new(ProductFilter::from_packs()),
        }))
    }
}

/// The running gateway.
#[derive(Debug)]
pub struct Jt808Source {
    config: Jt808Config,
    filter: Arc<ProductFilter>,
}

#[async_trait]
impl Source for Jt808Source {
    fn name(&self) -> &str {
        NAME
    }

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::TcpPort(self.config.tcp.listen)]
    }

    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError> {
        let config = self.config.clone();
        let filter = self.filter.clone();
        serve(NAME, config.tcp, ctx, move || Jt808Connection {
            codec: Jt808FrameCodec::default(),
            decoder: Jt808Decoder::default(),
            filter: filter.clone(),
            wire: None,
            serial: 0,
            pending: VecDeque::new(),
            unauthenticated: 0,
            config: config.clone(),
        })
        .await
    }
}

struct Jt808Connection {
    codec: Jt808FrameCodec,
    decoder: Jt808Decoder,
    filter: Arc<ProductFilter>,
    /// Version and phone of the authenticated terminal (for outbound framing).
    wire: Option<(ProtocolVersion, TerminalPhone)>,
    serial: u16,
    /// (serial, command id) of commands sent, oldest first.
    pending: VecDeque<(u16, String)>,
    unauthenticated: u32,
    config: Jt808Config,
}

impl Jt808Connection {
    fn next_serial(&mut self) -> u16 {
        let s = self.serial;
        self.serial = self.serial.wrapping_add(1);
        s
    }

    async fn send(
        &mut self,
        conn: &mut Conn,
        message: &PlatformMessage,
        version: ProtocolVersion,
        phone: &TerminalPhone,
    ) -> io::Result<Option<u16>> {
        let serial = self.next_serial();
        match message.encode_frame(version, phone, serial) {
            Ok(bytes) => {
                conn.write(&bytes).await?;
                Ok(Some(serial))
            }
            Err(e) => {
                tracing::warn!(source = NAME, peer = %conn.peer, error = %e, "cannot encode platform message");
                Ok(None)
            }
        }
    }

    async fn reply(
        &mut self,
        conn: &mut Conn,
        header: &Header,
        result: ReplyResult,
    ) -> io::Result<()> {
        let msg = PlatformMessage::GeneralReply {
            reply_serial: header.serial,
            reply_id: header.msg_id,
            result,
        };
        if self
            .send(conn, &msg, header.version, &header.phone)
            .await?
            .is_some()
        {
            conn.count(Counter::Replies, 1);
        }
        Ok(())
    }

    fn authenticated_as(&self, conn: &Conn, phone: &TerminalPhone) -> bool {
        conn.session
            .as_ref()
            .is_some_and(|s| s.terminal_id == phone.as_str())
    }

    async fn handle_frame(&mut self, frame: Jt808Frame, conn: &mut Conn) -> io::Result<Flow> {
        let bytes = match frame {
            Jt808Frame::Text(text) => {
                conn.count(Counter::Messages, 1);
                tracing::debug!(source = NAME, peer = %conn.peer, %text, "text sentence ignored");
                return Ok(Flow::Continue);
            }
            Jt808Frame::Binary(bytes) => bytes,
        };
        let packet = match Packet::decode(&bytes) {
            Ok(p) => p,
            Err(e) => {
                conn.count(Counter::BadInput, 1);
                // Where the header still reads (bad checksum), answer "bad message".
                match Packet::decode_unverified(&bytes) {
                    Ok(p) => {
                        tracing::warn!(source = NAME, peer = %conn.peer, terminal = p.header.phone.as_str(), msg_id = p.header.msg_id, error = %e, "bad packet");
                        self.reply(conn, &p.header, ReplyResult::BadMessage).await?;
                    }
                    Err(_) => {
                        tracing::warn!(source = NAME, peer = %conn.peer, error = %e, "unreadable packet")
                    }
                }
                return Ok(Flow::Continue);
            }
        };
        // Sub-packages of unauthenticated terminals are not stored.
        if packet.header.package.is_some() && !self.authenticated_as(conn, &packet.header.phone) {
            return self.unauthenticated(conn, &packet.header).await;
        }
        match self.decoder.decode_packet(packet) {
            Ok(Decoded::Message { header, message }) => {
                conn.count(Counter::Messages, 1);
                self.handle_message(header, message, conn).await
            }
            Ok(Decoded::PackageStored { header }) => {
                self.reply(conn, &header, ReplyResult::Ok).await?;
                Ok(Flow::Continue)
            }
            Ok(Decoded::Text(_)) => Ok(Flow::Continue),
            Err(Jt808Error::Message { header, error }) => {
                conn.count(Counter::BadInput, 1);
                tracing::warn!(source = NAME, peer = %conn.peer, terminal = header.phone.as_str(), msg_id = header.msg_id, %error, "bad message body");
                let result = if matches!(
                    error,
                    crate::jt808::MessageError::UnknownMessageId(_)
                        | crate::jt808::MessageError::Encrypted { .. }
                ) {
                    ReplyResult::Unsupported
                } else {
                    ReplyResult::BadMessage
                };
                self.reply(conn, &header, result).await?;
                Ok(Flow::Continue)
            }
            Err(e) => {
                conn.count(Counter::BadInput, 1);
                tracing::warn!(source = NAME, peer = %conn.peer, error = %e, "bad frame");
                Ok(Flow::Continue)
            }
        }
    }

    async fn unauthenticated(&mut self, conn: &mut Conn, header: &Header) -> io::Result<Flow> {
        conn.count(Counter::Unauthenticated, 1);
        self.unauthenticated += 1;
        tracing::warn!(source = NAME, peer = %conn.peer, terminal = header.phone.as_str(), msg_id = header.msg_id, "message before authentication");
        self.reply(conn, header, ReplyResult::Fail).await?;
        if self.unauthenticated >= self.config.max_unauthenticated {
            return Ok(Flow::Close("too many unauthenticated messages"));
        }
        Ok(Flow::Continue)
    }

    async fn handle_message(
        &mut self,
        header: Header,
        message: Message,
        conn: &mut Conn,
    ) -> io::Result<Flow> {
        let phone = header.phone.as_str().to_owned();
        match message {
            Message::Register(r) => {
                let request = Registration {
                    protocol: Protocol::Jt808,
                    terminal_id: phone.clone(),
                    province: r.province,
                    city: r.city,
                    maker: r.maker,
                    model: r.model,
                    device_serial: r.terminal_id,
                    plate_color: r.plate_color,
                    plate: r.plate,
                    peer: Some(conn.peer),
                };
                let reply = match conn.ctx.directory.register(request).await {
                    Ok(reg) => {
                        tracing::info!(source = NAME, peer = %conn.peer, terminal = %phone, device = %reg.device_id, "registered");
                        crate::jt808::register_reply(header.serial, &reg.auth_code)
                    }
                    Err(refusal) => {
                        conn.count(Counter::Refused, 1);
                        tracing::warn!(source = NAME, peer = %conn.peer, terminal = %phone, reason = %refusal.reason, "registration refused");
                        PlatformMessage::RegisterReply {
                            reply_serial: header.serial,
                            result: match refusal.kind {
                                RegisterRefusalKind::VehicleRegistered => {
                                    RegisterResult::VehicleRegistered
                                }
                                RegisterRefusalKind::NoSuchVehicle => RegisterResult::NoSuchVehicle,
                                RegisterRefusalKind::TerminalRegistered => {
                                    RegisterResult::TerminalRegistered
                                }
                                RegisterRefusalKind::NoSuchTerminal => {
                                    RegisterResult::NoSuchTerminal
                                }
                            },
                            auth_code: String::new(),
                        }
                    }
                };
                if self
                    .send(conn, &reply, header.version, &header.phone)
                    .await?
                    .is_some()
                {
                    conn.count(Counter::Replies, 1);
                }
                Ok(Flow::Continue)
            }
            Message::Authenticate(a) => {
                let request = AuthRequest {
                    protocol: Protocol::Jt808,
                    terminal_id: phone.clone(),
                    credential: Credential::AuthCode(a.code),
                    peer: Some(conn.peer),
                };
                match conn.ctx.directory.authenticate(request).await {
                    Ok(session) => {
                        tracing::info!(source = NAME, peer = %conn.peer, terminal = %phone, device = %session.device_id, "authenticated");
                        self.wire = Some((header.version, header.phone.clone()));
                        conn.authenticated(session).await;
                        self.reply(conn, &header, ReplyResult::Ok).await?;
                        Ok(Flow::Continue)
                    }
                    Err(refusal) => {
                        conn.count(Counter::Refused, 1);
                        tracing::warn!(source = NAME, peer = %conn.peer, terminal = %phone, reason = %refusal.reason, temporary = refusal.temporary, "authentication refused");
                        self.reply(conn, &header, ReplyResult::Fail).await?;
                        Ok(Flow::Close("authentication refused"))
                    }
                }
            }
            _ if !self.authenticated_as(conn, &header.phone) => {
                self.unauthenticated(conn, &header).await
            }
            Message::Heartbeat { .. } => {
                conn.deliver(Inbound::Heartbeat { at: Utc::now() }).await;
                self.reply(conn, &header, ReplyResult::Ok).await?;
                Ok(Flow::Continue)
            }
            Message::Location(loc) => {
                self.deliver_location(conn, &loc).await;
                self.reply(conn, &header, ReplyResult::Ok).await?;
                Ok(Flow::Continue)
            }
            Message::BatchLocation(batch) => {
                for loc in &batch.items {
                    self.deliver_location(conn, loc).await;
                }
                self.reply(conn, &header, ReplyResult::Ok).await?;
                Ok(Flow::Continue)
            }
            Message::TerminalReply(r) => {
                let command = match self.pending.iter().position(|(s, _)| *s == r.reply_serial) {
                    Some(i) => match self.pending.remove(i) {
                        Some((_, id)) => CommandRef::Command(id),
                        None => CommandRef::Serial {
                            serial: u32::from(r.reply_serial),
                            msg_id: Some(u32::from(r.reply_id)),
                        },
                    },
                    None => CommandRef::Serial {
                        serial: u32::from(r.reply_serial),
                        msg_id: Some(u32::from(r.reply_id)),
                    },
                };
                let detail = match r.result {
                    0 => "result 0 ok",
                    1 => "result 1 fail",
                    2 => "result 2 bad message",
                    3 => "result 3 unsupported",
                    _ => "result unknown",
                };
                conn.deliver(Inbound::CommandReply(CommandReply {
                    command,
                    ok: r.result == 0,
                    detail: Some(format!("{detail} (0x{:04x})", r.reply_id)),
                    at: Utc::now(),
                }))
                .await;
                Ok(Flow::Continue)
            }
        }
    }

    async fn deliver_location(&self, conn: &Conn, loc: &crate::jt808::Location) {
        let Some(session) = &conn.session else { return };
        let mut t = jt808_location(&session.device_id, loc, Utc::now());
        self.filter.apply(&session.product_key, &mut t);
        conn.deliver(Inbound::Telemetry(t)).await;
    }
}

#[async_trait]
impl ConnectionProtocol for Jt808Connection {
    async fn on_bytes(&mut self, buf: &mut BytesMut, conn: &mut Conn) -> io::Result<Flow> {
        loop {
            match self.codec.parse_frame(buf) {
                Ok(None) => return Ok(Flow::Continue),
                Ok(Some((frame, consumed))) => {
                    buf.advance(consumed.min(buf.len()));
                    if let Flow::Close(why) = self.handle_frame(frame, conn).await? {
                        return Ok(Flow::Close(why));
                    }
                }
                Err(e) => {
                    let n = e.discard().max(1).min(buf.len());
                    buf.advance(n);
                    conn.count(Counter::BadInput, 1);
                    conn.count(Counter::DiscardedBytes, n as u64);
                    tracing::warn!(source = NAME, peer = %conn.peer, device = ?conn.session.as_ref().map(|s| &s.device_id), error = %e, "framing error; resynchronising");
                }
            }
        }
    }

    async fn on_outbound(&mut self, frame: OutboundFrame, conn: &mut Conn) -> io::Result<Flow> {
        let id = frame.command_id.clone();
        let outcome: Result<Option<u16>, String> = match frame.payload {
            OutboundPayload::Raw(bytes) => {
                conn.write(&bytes).await?;
                Ok(None)
            }
            OutboundPayload::Jt808(message) => match self.wire.clone() {
                None => Err("terminal has not authenticated on this connection".into()),
                Some((version, phone)) => {
                    let serial = self.next_serial();
                    match message.encode_frame(version, &phone, serial) {
                        Ok(bytes) => {
                            conn.write(&bytes).await?;
                            Ok(Some(serial))
                        }
                        Err(e) => Err(format!("cannot encode: {e}")),
                    }
                }
            },
            _ => Err("payload is not a JT/T 808 message".into()),
        };
        match outcome {
            Ok(serial) => {
                conn.count(Counter::CommandsSent, 1);
                if let Some(id) = id {
                    if let Some(serial) = serial {
                        if self.pending.len() >= self.config.max_pending_commands {
                            self.pending.pop_front();
                        }
                        self.pending.push_back((serial, id.clone()));
                    }
                    conn.deliver(Inbound::CommandSent {
                        command_id: id,
                        serial: serial.map(u32::from),
                        at: Utc::now(),
                    })
                    .await;
                }
            }
            Err(reason) => {
                tracing::warn!(source = NAME, peer = %conn.peer, command = ?id, %reason, "command not sent");
                if let Some(id) = id {
                    conn.deliver(Inbound::CommandFailed {
                        command_id: id,
                        reason,
                        at: Utc::now(),
                    })
                    .await;
                }
            }
        }
        Ok(Flow::Continue)
    }
}
