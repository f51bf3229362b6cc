//! JT/T 808 gateway under many concurrent loopback connections: each terminal connects,
//! authenticates, then sends location reports in pipelined batches and reads the 0x8001
//! replies. Reports connections set up, messages/s delivered to a counting sink, and
//! resident memory per connection (VmRSS from /proc/self/status before and after the
//! connections are established, the gateway's and the clients' halves together — both run in
//! this process, so the figure is an upper bound for the gateway alone).
//!
//! `cargo bench -p chengyun-ingest --bench gateway` (env `GATEWAY_CONNECTIONS`, default 2000;
//! `GATEWAY_MESSAGES` per connection, default 100). Loopback only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chengyun_domain::iot::Protocol;
use chengyun_ingest::jt808::{
    Header, Jt808Frame, Jt808FrameCodec, Packet, ProtocolVersion, TerminalPhone,
};
use chengyun_ingest::source::memory::{MemoryDirectory, RecordingSink};
use chengyun_ingest::source::{
    ConnectionRegistry, Jt808Config, Resource, SourceConfig, SourceContext, TcpSettings,
    shutdown_channel,
};
use chengyun_ingest::{CodecError, FrameCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

fn frame(msg_id: u16, phone: &str, serial: u16, body: Vec<u8>) -> Vec<u8> {
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
    .unwrap_or_default()
}

fn location(phone: &str, serial: u16, i: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(28);
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&0b11u32.to_be_bytes());
    b.extend_from_slice(&(28_240_000 + i % 1000).to_be_bytes());
    b.extend_from_slice(&(117_030_000 + i % 1000).to_be_bytes());
    b.extend_from_slice(&40u16.to_be_bytes());
    b.extend_from_slice(&((i % 300) as u16).to_be_bytes());
    b.extend_from_slice(&90u16.to_be_bytes());
    b.extend_from_slice(&[0x26, 0x11, 0x27, 0x18, 0x30, 0x00]);
    frame(0x0200, phone, serial, b)
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Read until `n` reply frames have arrived.
async fn read_replies(s: &mut TcpStream, buf: &mut Vec<u8>, n: usize) -> Option<()> {
    let codec = Jt808FrameCodec::default();
    let mut got = 0;
    let mut chunk = [0u8; 4096];
    while got < n {
        match codec.parse_frame(buf) {
            Ok(Some((Jt808Frame::Binary(_), used))) | Ok(Some((Jt808Frame::Text(_), used))) => {
                buf.drain(..used);
                got += 1;
            }
            Ok(None) => {
                let r = tokio::time::timeout(Duration::from_secs(30), s.read(&mut chunk)).await;
                match r {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                    Ok(Ok(k)) => buf.extend_from_slice(&chunk[..k]),
                }
            }
            Err(e) => {
                let d = e.discard().min(buf.len());
                buf.drain(..d);
            }
        }
    }
    Some(())
}

fn main() {
    let connections: usize = std::env::var("GATEWAY_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let messages: usize = std::env::var("GATEWAY_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let batch = 20usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let directory = MemoryDirectory::new();
        let phones: Vec<String> = (0..connections).map(|i| format!("0139{i:08}")).collect();
        for (i, p) in phones.iter().enumerate() {
            directory.add(&format!("dev-{i}"), "ebike_tracker_jt808", Protocol::Jt808, p, Some("code"));
        }
        let sink = Arc::new(RecordingSink::counting());
        let (trigger, shutdown) = shutdown_channel();
        let (bound_tx, mut bound_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut ctx = SourceContext::new(sink.clone(), Arc::new(directory), ConnectionRegistry::new(), shutdown);
        ctx.bound = Some(bound_tx);
        let counters = ctx.counters.clone();
        let config = Jt808Config {
            tcp: TcpSettings {
                listen: "127.0.0.1:0".parse().expect("addr"),
                max_connections: connections + 10,
                ..TcpSettings::default()
            },
            ..Jt808Config::default()
        };
        let source = config.build().expect("config");
        let server = tokio::spawn(source.run(ctx));
        let addr = match bound_rx.recv().await {
            Some((_, Resource::TcpPort(a))) => a,
            other => panic!("no port: {other:?}"),
        };

        let rss_before = vm_rss_kib();
        let connected = Arc::new(Barrier::new(connections + 1));
        let go = Arc::new(Barrier::new(connections + 1));
        let setup_start = Instant::now();
        let mut clients = Vec::with_capacity(connections);
        for phone in phones {
            let connected = connected.clone();
            let go = go.clone();
            clients.push(tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.ok();
                let mut buf = Vec::new();
                if let Some(st) = s.as_mut()
                    && (st.write_all(&frame(0x0102, &phone, 0, b"code".to_vec())).await.is_err()
                        || read_replies(st, &mut buf, 1).await.is_none())
                {
                    s = None;
                }
                connected.wait().await;
                go.wait().await;
                let mut st = s?;
                let mut serial = 1u16;
                let mut sent = 0usize;
                while sent < messages {
                    let n = batch.min(messages - sent);
                    let mut out = Vec::with_capacity(n * 40);
                    for k in 0..n {
                        out.extend_from_slice(&location(&phone, serial, (sent + k) as u32));
                        serial = serial.wrapping_add(1);
                    }
                    st.write_all(&out).await.ok()?;
                    read_replies(&mut st, &mut buf, n).await?;
                    sent += n;
                }
                Some(sent)
            }));
        }
        connected.wait().await;
        let setup = setup_start.elapsed();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let rss_connected = vm_rss_kib();
        let open = counters.snapshot().open_connections;
        let delivered_before = sink.count();
        let start = Instant::now();
        go.wait().await;
        let mut sent = 0usize;
        let mut failed = 0usize;
        for c in clients {
            match c.await.ok().flatten() {
                Some(n) => sent += n,
                None => failed += 1,
            }
        }
        let elapsed = start.elapsed();
        let delivered = sink.count() - delivered_before;
        let rss_after = vm_rss_kib();
        println!("JT/T 808 gateway, loopback, {connections} terminals × {messages} locations (batches of {batch}), 2-core machine, clients in-process");
        println!("  connections open: {open} (client failures {failed}), set-up {:.2} s", setup.as_secs_f64());
        println!("  locations acknowledged: {sent} in {:.2} s = {:.0} msg/s; delivered to sink (incl. Connected/Disconnected): {delivered}", elapsed.as_secs_f64(), sent as f64 / elapsed.as_secs_f64());
        println!(
            "  VmRSS: {} KiB before, {} KiB with all connected (+{:.1} KiB per connection, gateway + client sides), {} KiB after the run",
            rss_before,
            rss_connected,
            (rss_connected.saturating_sub(rss_before)) as f64 / connections.max(1) as f64,
            rss_after
        );
        println!("  counters: {:?}", counters.snapshot());
        trigger.trigger();
        let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    });
}
