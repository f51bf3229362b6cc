//! Shared helpers of the source tests: start a source on free ports with an in-memory
//! directory and a recording sink, JT/T 808 and watch client frames.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chengyun_domain::iot::Protocol;
use chengyun_ingest::jt808::{Header, Packet, ProtocolVersion, TerminalPhone};
use chengyun_ingest::source::memory::{MemoryDirectory, RecordingSink};
use chengyun_ingest::source::{
    ConnectionRegistry, Resource, ShutdownTrigger, SourceConfig, SourceContext, SourceCounters,
    SourceError, shutdown_channel,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Running {
    pub sink: Arc<RecordingSink>,
    pub directory: Arc<MemoryDirectory>,
    pub registry: ConnectionRegistry,
    pub counters: Arc<SourceCounters>,
    pub trigger: ShutdownTrigger,
    pub handle: JoinHandle<Result<(), SourceError>>,
    /// The first TCP port the source announced.
    pub addr: Option<SocketAddr>,
}

/// Build and run `config` with `directory`; wait for its first bound TCP port (if any).
pub async fn start(
    config: &dyn SourceConfig,
    directory: Arc<MemoryDirectory>,
    expect_port: bool,
) -> Running {
    let sink = Arc::new(RecordingSink::new());
    let registry = ConnectionRegistry::new();
    let (trigger, shutdown) = shutdown_channel();
    let (bound_tx, mut bound_rx) = mpsc::unbounded_channel();
    let mut ctx = SourceContext::new(sink.clone(), directory.clone(), registry.clone(), shutdown);
    ctx.bound = Some(bound_tx);
    let counters = ctx.counters.clone();
    let source = config.build().expect("config builds");
    let handle = tokio::spawn(source.run(ctx));
    let mut addr = None;
    if expect_port {
        match tokio::time::timeout(WAIT, bound_rx.recv()).await {
            Ok(Some((_, Resource::TcpPort(a)))) => {
                addr = Some(if a.ip().is_unspecified() {
                    SocketAddr::from(([127, 0, 0, 1], a.port()))
                } else {
                    a
                })
            }
            other => panic!("source did not announce a port: {other:?}"),
        }
    }
    Running {
        sink,
        directory,
        registry,
        counters,
        trigger,
        handle,
        addr,
    }
}

/// A loopback address with port 0 (the source picks a free port and announces it).
pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A free port now (for rumqttd, which cannot announce a port 0 binding).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn directory() -> Arc<MemoryDirectory> {
    let d = MemoryDirectory::new();
    d.add(
        "ebike-1",
        "ebike_tracker_jt808",
        Protocol::Jt808,
        "013912345678",
        Some("code-1"),
    );
    d.add(
        "ebike-2",
        "ebike_tracker_jt808",
        Protocol::Jt808,
        "013912345679",
        Some("code-2"),
    );
    d.add(
        "watch-1",
        "elderly_watch",
        Protocol::Watch,
        "8800000001",
        None,
    );
    d.add(
        "watch-2",
        "elderly_watch",
        Protocol::Watch,
        "8800000002",
        None,
    );
    d.add(
        "bracelet-1",
        "corrections_bracelet",
        Protocol::Watch,
        "8800000003",
        None,
    );
    d.add(
        "cam-1",
        "perimeter_camera",
        Protocol::Gb28181,
        "34020000001340000001",
        None,
    );
    d.add(
        "cam-2",
        "perimeter_camera",
        Protocol::Gb28181,
        "34020000001340000002",
        None,
    );
    d.add(
        "wim-1",
        "wim_station",
        Protocol::Http,
        "wim-1",
        Some("token-wim-1"),
    );
    d.add(
        "wim-2",
        "wim_station",
        Protocol::Http,
        "wim-2",
        Some("token-wim-2"),
    );
    d.add(
        "bin-1",
        "bin_fill_sensor",
        Protocol::Mqtt,
        "bin-1",
        Some("secret-bin-1"),
    );
    d.add(
        "bin-2",
        "bin_fill_sensor",
        Protocol::Mqtt,
        "bin-2",
        Some("secret-bin-2"),
    );
    Arc::new(d)
}

// ----- JT/T 808 client frames -----

pub fn jt808_frame(msg_id: u16, phone: &str, serial: u16, body: Vec<u8>) -> Vec<u8> {
    Packet {
        header: Header {
            msg_id,
            body_len: body.len() as u16,
            encryption: 0,
            version: ProtocolVersion::V2013,
            phone: TerminalPhone::Bcd(phone.to_owned()),
            serial,
            package: None,
        },
        body,
    }
    .encode_frame()
    .expect("phone fits")
}

pub fn jt808_auth(phone: &str, serial: u16, code: &str) -> Vec<u8> {
    jt808_frame(0x0102, phone, serial, code.as_bytes().to_vec())
}

/// A 0x0200 body: positioned fix at (lat, lon), speed in 0.1 km/h, alarm word.
pub fn jt808_location(phone: &str, serial: u16, lat: f64, lon: f64, alarm: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&alarm.to_be_bytes());
    b.extend_from_slice(&0b11u32.to_be_bytes()); // ACC on, positioned
    b.extend_from_slice(&((lat * 1e6) as u32).to_be_bytes());
    b.extend_from_slice(&((lon * 1e6) as u32).to_be_bytes());
    b.extend_from_slice(&42u16.to_be_bytes()); // altitude
    b.extend_from_slice(&255u16.to_be_bytes()); // 25.5 km/h
    b.extend_from_slice(&90u16.to_be_bytes()); // direction
    b.extend_from_slice(&[0x26, 0x11, 0x27, 0x18, 0x30, 0x00]); // 2026-11-27 18:30:00 +08
    jt808_frame(0x0200, phone, serial, b)
}

/// One platform reply read from a JT/T 808 stream: (msg id, body).
pub async fn read_jt808(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(u16, Vec<u8>)> {
    use chengyun_ingest::FrameCodec;
    use chengyun_ingest::jt808::{Jt808Frame, Jt808FrameCodec};
    let codec = Jt808FrameCodec::default();
    loop {
        match codec.parse_frame(buf) {
            Ok(Some((Jt808Frame::Binary(bytes), n))) => {
                buf.drain(..n);
                let p = Packet::decode(&bytes).ok()?;
                return Some((p.header.msg_id, p.body));
            }
            Ok(Some((_, n))) => {
                buf.drain(..n);
            }
            Ok(None) => {
                let mut chunk = [0u8; 1024];
                let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
                    .await
                    .ok()?
                    .ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) => {
                use chengyun_ingest::CodecError;
                let n = e.discard().min(buf.len());
                buf.drain(..n);
            }
        }
    }
}

/// The (reply serial, reply id, result) of a 0x8001 body.
pub fn general_reply(body: &[u8]) -> (u16, u16, u8) {
    assert!(body.len() >= 5, "0x8001 body too short: {body:?}");
    (
        u16::from_be_bytes([body[0], body[1]]),
        u16::from_be_bytes([body[2], body[3]]),
        body[4],
    )
}

/// Connect and authenticate a JT/T 808 terminal; returns the stream and its buffer.
pub async fn jt808_login(addr: SocketAddr, phone: &str, code: &str) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&jt808_auth(phone, 1, code))
        .await
        .expect("write");
    let mut buf = Vec::new();
    let (id, body) = read_jt808(&mut s, &mut buf).await.expect("auth reply");
    assert_eq!(id, 0x8001);
    assert_eq!(
        general_reply(&body),
        (1, 0x0102, 0),
        "authentication accepted"
    );
    (s, buf)
}

// ----- watch client -----

pub fn watch_frame(id: &str, content: &str) -> Vec<u8> {
    chengyun_ingest::watch::encode_frame("3G", id, content.as_bytes()).expect("frame")
}

pub const WATCH_UD: &str = "UD,271126,103000,A,28.260450,N,117.069355,E,1.50,152.6,45.0,9,100,86,1532,3,00000000,4,1,460,0,9529,21809,158";
pub const WATCH_AL_SOS: &str = "AL,271126,103000,A,28.260450,N,117.069355,E,1.50,152.6,45.0,9,100,86,1532,3,00010000,4,1,460,0,9529,21809,158";

/// Read one watch frame's CONTENT.
pub async fn read_watch(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        match chengyun_ingest::watch::parse_frame(buf) {
            Ok(Some((f, n))) => {
                buf.drain(..n);
                return Some(String::from_utf8_lossy(&f.content).into_owned());
            }
            Ok(None) => {
                let mut chunk = [0u8; 1024];
                let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
                    .await
                    .ok()?
                    .ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(_) => return None,
        }
    }
}

/// Whether the peer closed the connection within the wait.
pub async fn closed(stream: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 256];
    loop {
        match tokio::time::timeout(WAIT, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}
