//! The watch text protocol TCP gateway (elderly wristbands, community-corrections bracelets).
//!
//! Frames `[VENDOR*ID*LEN*CONTENT]` are cut out of the read buffer with [`WatchFrameCodec`]
//! (resync on the next `[`). The device id of the first frame identifies the connection:
//! [`DeviceDirectory::authenticate`](super::DeviceDirectory::authenticate) with
//! [`Credential::None`] (the protocol has no credential; the directory decides whether the
//! product allows that) — refused devices are counted, logged and disconnected. Frames from
//! another id on the same connection are counted (`unauthenticated`) and dropped.
//!
//! `LK` → [`Inbound::Heartbeat`] (+ battery/steps telemetry) and an `LK` reply; `UD`/`UD2` →
//! telemetry; `AL` → telemetry with events and an `AL` reply; `bphrt`/`btemp2` → telemetry
//! (see [`super::mapping`]). A device echoing a command keyword (`CR`, `UPLOAD`, `FIND`, …)
//! answers the oldest pending command with that keyword ([`CommandRef::Command`]).

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use chengyun_domain::iot::Protocol;
use chrono::Utc;

use super::contract::{
    AuthRequest, CommandRef, CommandReply, Credential, Inbound, OutboundFrame, OutboundPayload,
    Resource, Source, SourceConfig, SourceContext, SourceError,
};
use super::mapping::{ProductFilter, watch_message};
use super::tcp::{Conn, ConnectionProtocol, Counter, Flow, TcpSettings, serve};
use crate::stream::{CodecError, FrameCodec};
use crate::watch::{
    WatchCommand, WatchFrame, WatchFrameCodec, WatchMessage, decode_content, reply_for,
};

/// Source name (logs, metric label).
pub const NAME: &str = "watch";

/// Configuration of the watch gateway.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchConfig {
    /// Listener and connection limits.
    pub tcp: TcpSettings,
    /// Close a connection after this many frames from ids other than the authenticated one.
    pub max_unauthenticated: u32,
    /// Commands remembered per connection for reply correlation.
    pub max_pending_commands: usize,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            tcp: TcpSettings {
                listen: std::net::SocketAddr::from(([0, 0, 0, 0], 7612)),
                ..TcpSettings::default()
            },
            max_unauthenticated: 16,
            max_pending_commands: 64,
        }
    }
}

impl SourceConfig for WatchConfig {
    fn build(&self) -> Result<Box<dyn Source>, SourceError> {
        self.tcp.validate(NAME)?;
        Ok(Box::new(WatchSource {
            config: self.clone(),
            filter: Arc::new(ProductFilter::from_packs()),
        }))
    }
}

/// The running gateway.
#[derive(Debug)]
pub struct WatchSource {
    config: WatchConfig,
    filter: Arc<ProductFilter>,
}

#[async_trait]
impl Source for WatchSource {
    fn name(&self) -> &str {
        NAME
    }

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::TcpPort(self.config.tcp.listen)]
    }

    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError> {
        let config = self.config.clone();
        let filter = self.filter.clone();
        serve(NAME, config.tcp, ctx, move || WatchConnection {
            codec: WatchFrameCodec::default(),
            filter: filter.clone(),
            wire: None,
            pending: VecDeque::new(),
            unauthenticated: 0,
            config: config.clone(),
        })
        .await
    }
}

struct WatchConnection {
    codec: WatchFrameCodec,
    filter: Arc<ProductFilter>,
    /// (vendor, device id) the connection authenticated as.
    wire: Option<(String, String)>,
    /// (command keyword, command id), oldest first.
    pending: VecDeque<(String, String)>,
    unauthenticated: u32,
    config: WatchConfig,
}

fn keyword(content: &str) -> String {
    content
        .split(',')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

impl WatchConnection {
    async fn handle_frame(&mut self, frame: WatchFrame, conn: &mut Conn) -> io::Result<Flow> {
        match &self.wire {
            None => {
                let request = AuthRequest {
                    protocol: Protocol::Watch,
                    terminal_id: frame.device_id.clone(),
                    credential: Credential::None,
                    peer: Some(conn.peer),
                };
                match conn.ctx.directory.authenticate(request).await {
                    Ok(session) => {
                        tracing::info!(source = NAME, peer = %conn.peer, terminal = %frame.device_id, device = %session.device_id, "identified");
                        self.wire = Some((frame.vendor.clone(), frame.device_id.clone()));
                        conn.authenticated(session).await;
                    }
                    Err(refusal) => {
                        conn.count(Counter::Refused, 1);
                        tracing::warn!(source = NAME, peer = %conn.peer, terminal = %frame.device_id, reason = %refusal.reason, "device refused");
                        return Ok(Flow::Close("device refused"));
                    }
                }
            }
            Some((_, id)) if *id != frame.device_id => {
                conn.count(Counter::Unauthenticated, 1);
                self.unauthenticated += 1;
                tracing::warn!(source = NAME, peer = %conn.peer, terminal = %frame.device_id, connection_device = %id, "frame for another device id dropped");
                if self.unauthenticated >= self.config.max_unauthenticated {
                    return Ok(Flow::Close("too many frames for other devices"));
                }
                return Ok(Flow::Continue);
            }
            Some(_) => {}
        }
        let message = match decode_content(&frame) {
            Ok(m) => m,
            Err(e) => {
                conn.count(Counter::BadInput, 1);
                tracing::warn!(source = NAME, peer = %conn.peer, terminal = %frame.device_id, error = %e, "bad content");
                return Ok(Flow::Continue);
            }
        };
        conn.count(Counter::Messages, 1);
        let now = Utc::now();
        if let WatchMessage::Heartbeat { .. } = message {
            conn.deliver(Inbound::Heartbeat { at: now }).await;
        }
        if let WatchMessage::Other { command, args } = &message {
            let kw = command.to_ascii_uppercase();
            if let Some(i) = self.pending.iter().position(|(k, _)| *k == kw)
                && let Some((_, id)) = self.pending.remove(i)
            {
                conn.deliver(Inbound::CommandReply(CommandReply {
                    command: CommandRef::Command(id),
                    ok: true,
                    detail: (!args.is_empty()).then(|| args.join(",")),
                    at: now,
                }))
                .await;
            }
        }
        if let Some(session) = conn.session.clone()
            && let Some(mut t) = watch_message(&session.device_id, &message, now)
        {
            self.filter.apply(&session.product_key, &mut t);
            if !t.values.is_empty() || !t.events.is_empty() || t.location.is_some() {
                conn.deliver(Inbound::Telemetry(t)).await;
            }
        }
        if let Some(reply) = reply_for(&message) {
            match reply.encode(&frame.vendor, &frame.device_id) {
                Ok(bytes) => {
                    conn.write(&bytes).await?;
                    conn.count(Counter::Replies, 1);
                }
                Err(e) => {
                    tracing::warn!(source = NAME, peer = %conn.peer, terminal = %frame.device_id, error = %e, "cannot encode reply")
                }
            }
        }
        Ok(Flow::Continue)
    }
}

#[async_trait]
impl ConnectionProtocol for WatchConnection {
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
        let outcome: Result<Option<String>, String> = match (&frame.payload, &self.wire) {
            (OutboundPayload::Raw(bytes), _) => {
                conn.write(bytes).await?;
                Ok(None)
            }
            (OutboundPayload::Watch(cmd), Some((vendor, device))) => {
                match (cmd.encode(vendor, device), cmd.content()) {
                    (Ok(bytes), Ok(content)) => {
                        conn.write(&bytes).await?;
                        Ok(Some(keyword(&content)))
                    }
                    (Err(e), _) | (_, Err(e)) => Err(format!("cannot encode: {e}")),
                }
            }
            (OutboundPayload::Watch(_), None) => {
                Err("device not identified on this connection".into())
            }
            _ => Err("payload is not a watch command".into()),
        };
        match outcome {
            Ok(kw) => {
                conn.count(Counter::CommandsSent, 1);
                if let Some(id) = id {
                    if let Some(kw) = kw {
                        if self.pending.len() >= self.config.max_pending_commands {
                            self.pending.pop_front();
                        }
                        self.pending.push_back((kw, id.clone()));
                    }
                    conn.deliver(Inbound::CommandSent {
                        command_id: id,
                        serial: None,
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

/// The command keyword a device echoes for `command` (`CR`, `UPLOAD`, …).
pub fn command_keyword(command: &WatchCommand) -> Option<String> {
    command.content().ok().map(|c| keyword(&c))
}
