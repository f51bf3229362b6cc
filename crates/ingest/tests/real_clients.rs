//! Real clients against running sources: a TCP client replaying traccar's recorded JT/T 808
//! location frames, a watch-protocol client, platform commands round-tripping through the
//! gateways, and `mosquitto_pub`/`mosquitto_sub` against the embedded broker and the
//! machine's Mosquitto (127.0.0.1:1883).

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use chengyun_domain::iot::{Protocol, Value};
use chengyun_ingest::jt808::{Jt808Frame, Jt808FrameCodec, Packet, PlatformMessage};
use chengyun_ingest::source::memory::MemoryDirectory;
use chengyun_ingest::source::{
    CommandRef, Inbound, Jt808Config, MqttConfig, MqttMode, OutboundFrame, OutboundPayload,
    TcpSettings, WatchConfig,
};
use chengyun_ingest::watch::WatchCommand;
use chengyun_ingest::{CodecError, FrameCodec};
use common::*;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn tcp_any() -> TcpSettings {
    TcpSettings {
        listen: any_port(),
        drain_timeout_ms: 2000,
        ..TcpSettings::default()
    }
}

/// Every 0x0200 row of traccar's decoder vectors, in order: (source line, frame as a device
/// sends it). traccar feeds these to its protocol decoder directly, so they are recorded
/// un-escaped (some hold raw 0x7E/0x7D inside): the content is re-escaped for the wire.
fn location_vectors() -> Vec<(String, Vec<u8>)> {
    let path = format!(
        "{}/../../../shared/data/traccar-protocol-vectors/jt808_decoder_vectors.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut rdr = csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    rdr.records()
        .map(|r| r.expect("csv row"))
        .filter(|r| r.get(4) == Some("hex") && r.get(5).is_some_and(|p| p.starts_with("7e0200")))
        .map(|r| {
            let line = r.get(1).unwrap_or_default().to_owned();
            let raw = hex::decode(r.get(5).unwrap_or_default()).expect("hex payload");
            let inner = &raw[1..raw.len() - 1];
            let mut wire = vec![0x7e];
            chengyun_ingest::jt808::frame::escape_into(inner, &mut wire);
            wire.push(0x7e);
            (line, wire)
        })
        .collect()
}

/// Header of the first frame in `bytes`, read without checking the checksum.
fn header_of(bytes: &[u8]) -> Option<chengyun_ingest::jt808::Header> {
    match Jt808FrameCodec::default().parse_frame(bytes) {
        Ok(Some((Jt808Frame::Binary(b), _))) => {
            Packet::decode_unverified(&b).ok().map(|p| p.header)
        }
        Ok(_) => None,
        Err(e) => {
            let n = e.discard();
            header_of(bytes.get(n..)?)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_traccar_jt808_location_frames_in_order() {
    let vectors = location_vectors();
    assert!(
        vectors.len() >= 40,
        "found {} 0x0200 vectors",
        vectors.len()
    );
    let directory = MemoryDirectory::new();
    let mut phones = BTreeSet::new();
    for (_, bytes) in &vectors {
        let h = header_of(bytes).expect("vector header");
        if phones.insert(h.phone.as_str().to_owned()) {
            let p = h.phone.as_str();
            directory.add(
                &format!("dev-{p}"),
                "ebike_tracker_jt808",
                Protocol::Jt808,
                p,
                Some("code"),
            );
        }
    }
    let r = start(
        &Jt808Config {
            tcp: tcp_any(),
            ..Jt808Config::default()
        },
        Arc::new(directory),
        true,
    )
    .await;
    let addr = r.addr.expect("port");

    let (mut ok, mut bad) = (0usize, 0usize);
    for (line, bytes) in &vectors {
        let h = header_of(bytes).expect("header");
        // Authenticate with the vector's own header version and phone.
        let auth = Packet {
            header: chengyun_ingest::jt808::Header {
                msg_id: 0x0102,
                body_len: 4,
                encryption: 0,
                version: h.version,
                phone: h.phone.clone(),
                serial: 0,
                package: None,
            },
            body: b"code".to_vec(),
        }
        .encode_frame()
        .expect("auth frame");
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&auth).await.expect("write");
        let mut buf = Vec::new();
        let (_, body) = read_jt808(&mut s, &mut buf).await.expect("auth reply");
        assert_eq!(
            general_reply(&body),
            (0, 0x0102, 0),
            "line {line}: authenticated"
        );
        s.write_all(bytes).await.expect("write");
        let (id, body) = read_jt808(&mut s, &mut buf)
            .await
            .unwrap_or_else(|| panic!("line {line}: no reply"));
        assert_eq!(id, 0x8001, "line {line}");
        let (serial, reply_id, result) = general_reply(&body);
        assert_eq!((serial, reply_id), (h.serial, 0x0200), "line {line}");
        // The platform's verdict must agree with the codec's.
        let codec_ok = match Jt808FrameCodec::default().parse_frame(bytes) {
            Ok(Some((Jt808Frame::Binary(b), _))) => Packet::decode(&b)
                .ok()
                .and_then(|p| chengyun_ingest::jt808::decode_message(&p).ok())
                .is_some(),
            _ => false,
        };
        assert_eq!(result == 0, codec_ok, "line {line}: result {result}");
        if result == 0 {
            ok += 1;
        } else {
            assert_eq!(result, 2, "line {line}: bad message");
            bad += 1;
        }
    }
    let delivered = r
        .sink
        .wait_for(WAIT, |recs| {
            recs.iter()
                .filter(|(_, m)| matches!(m, Inbound::Telemetry(_)))
                .count()
                >= ok
        })
        .await;
    assert!(delivered);
    let telemetry: Vec<_> = r
        .sink
        .records()
        .into_iter()
        .filter_map(|(s, m)| match m {
            Inbound::Telemetry(t) => Some((s, t)),
            _ => None,
        })
        .collect();
    assert_eq!(telemetry.len(), ok);
    for (s, t) in &telemetry {
        assert_eq!(s.device_id, t.device_id);
        assert!(t.values.contains_key("alarm") && t.values.contains_key("status"));
        // Only declared properties of the e-bike tracker survive.
        for k in t.values.keys() {
            assert!(
                [
                    "alarm",
                    "status",
                    "speed",
                    "altitude",
                    "direction",
                    "mileage",
                    "signal",
                    "satellites"
                ]
                .contains(&k.as_str()),
                "{k}"
            );
        }
    }
    println!(
        "replayed {} location vectors: {ok} accepted (0x8001 result 0), {bad} answered result 2",
        vectors.len()
    );
    r.trigger.trigger();
    let _ = tokio::time::timeout(WAIT, r.handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jt808_platform_command_round_trip() {
    let r = start(
        &Jt808Config {
            tcp: tcp_any(),
            ..Jt808Config::default()
        },
        directory(),
        true,
    )
    .await;
    let (mut s, mut buf) = jt808_login(r.addr.expect("port"), "013912345678", "code-1").await;
    // The telemetry maps alarm bits and the fix.
    s.write_all(&jt808_location("013912345678", 2, 28.24, 117.03, 1 << 28))
        .await
        .expect("write");
    let (_, body) = read_jt808(&mut s, &mut buf).await.expect("reply");
    assert_eq!(general_reply(&body), (2, 0x0200, 0));
    assert!(
        r.sink
            .wait_for(WAIT, |recs| recs
                .iter()
                .any(|(_, m)| matches!(m, Inbound::Telemetry(_))))
            .await
    );
    let t = r
        .sink
        .records()
        .into_iter()
        .find_map(|(_, m)| match m {
            Inbound::Telemetry(t) => Some(t),
            _ => None,
        })
        .expect("telemetry");
    assert_eq!(t.values.get("alarm"), Some(&Value::Int(1 << 28)));
    assert_eq!(t.values.get("speed"), Some(&Value::Float(25.5)));
    let loc = t.location.expect("fix");
    assert!((loc.lat - 28.24).abs() < 1e-6 && (loc.lon - 117.03).abs() < 1e-6);
    assert_eq!(
        t.at.to_rfc3339(),
        "2026-11-27T10:30:00+00:00",
        "device time UTC+8 → UTC"
    );

    // Platform → device: 0x8500 cut power, tracked by command id.
    r.registry
        .send(
            "ebike-1",
            OutboundFrame::command(
                "cmd-1",
                OutboundPayload::Jt808(PlatformMessage::VehicleControl {
                    cut_oil_power: true,
                }),
            ),
        )
        .expect("connected");
    let (id, _) = read_jt808(&mut s, &mut buf).await.expect("command");
    assert_eq!(id, 0x8500);
    // Which serial did the platform use? The CommandSent says.
    assert!(
        r.sink
            .wait_for(WAIT, |recs| recs
                .iter()
                .any(|(_, m)| matches!(m, Inbound::CommandSent { .. })))
            .await
    );
    let serial = r
        .sink
        .records()
        .into_iter()
        .find_map(|(_, m)| match m {
            Inbound::CommandSent {
                command_id, serial, ..
            } if command_id == "cmd-1" => serial,
            _ => None,
        })
        .expect("serial") as u16;
    let mut reply = serial.to_be_bytes().to_vec();
    reply.extend_from_slice(&0x8500u16.to_be_bytes());
    reply.push(0);
    s.write_all(&jt808_frame(0x0001, "013912345678", 3, reply))
        .await
        .expect("write");
    assert!(
        r.sink
            .wait_for(WAIT, |recs| {
                recs.iter().any(|(_, m)| {
                    matches!(m,
        Inbound::CommandReply(c) if c.command == CommandRef::Command("cmd-1".into()) && c.ok)
                })
            })
            .await
    );
    // Unknown device: NotConnected.
    assert!(
        r.registry
            .send(
                "ebike-9",
                OutboundFrame::untracked(OutboundPayload::Jt808(PlatformMessage::QueryLocation))
            )
            .is_err()
    );
    // Shutdown: the connected terminal sees its connection closed and a Disconnected is recorded.
    r.trigger.trigger();
    assert!(closed(&mut s).await);
    assert!(matches!(
        tokio::time::timeout(WAIT, r.handle).await,
        Ok(Ok(Ok(())))
    ));
    assert!(
        r.sink.records().iter().any(
            |(_, m)| matches!(m, Inbound::Disconnected { reason, .. } if reason == "shutdown")
        )
    );
    assert!(!r.registry.is_connected("ebike-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_client_session() {
    let r = start(
        &WatchConfig {
            tcp: tcp_any(),
            ..WatchConfig::default()
        },
        directory(),
        true,
    )
    .await;
    let addr = r.addr.expect("port");
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut buf = Vec::new();
    let id = "8800000001";
    s.write_all(&watch_frame(id, "LK,5000,3,76"))
        .await
        .expect("write");
    assert_eq!(read_watch(&mut s, &mut buf).await.as_deref(), Some("LK"));
    s.write_all(&watch_frame(id, WATCH_AL_SOS))
        .await
        .expect("write");
    assert_eq!(read_watch(&mut s, &mut buf).await.as_deref(), Some("AL"));
    s.write_all(&watch_frame(id, "bphrt,128,84,72,,,,"))
        .await
        .expect("write");
    s.write_all(&watch_frame(id, "btemp2,1,36.7"))
        .await
        .expect("write");
    assert!(
        r.sink
            .wait_for(WAIT, |recs| recs
                .iter()
                .filter(|(_, m)| matches!(m, Inbound::Telemetry(_)))
                .count()
                >= 4)
            .await
    );
    let ts: Vec<_> = r
        .sink
        .records()
        .into_iter()
        .filter_map(|(_, m)| match m {
            Inbound::Telemetry(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(ts[0].values.get("battery"), Some(&Value::Int(76)));
    assert!(
        ts[1].events.iter().any(|e| e.id == "sos"),
        "AL with SOS bit → sos event"
    );
    assert!(ts[1].location.is_some());
    assert_eq!(ts[2].values.get("heart_rate"), Some(&Value::Int(72)));
    assert_eq!(ts[3].values.get("body_temp"), Some(&Value::Float(36.7)));
    assert!(
        r.sink
            .records()
            .iter()
            .any(|(_, m)| matches!(m, Inbound::Heartbeat { .. }))
    );

    // Command: CR (locate now), echoed by the watch.
    r.registry
        .send(
            "watch-1",
            OutboundFrame::command("cmd-w", OutboundPayload::Watch(WatchCommand::LocateNow)),
        )
        .expect("connected");
    assert_eq!(read_watch(&mut s, &mut buf).await.as_deref(), Some("CR"));
    s.write_all(&watch_frame(id, "CR")).await.expect("write");
    assert!(
        r.sink
            .wait_for(WAIT, |recs| {
                recs.iter().any(|(_, m)| {
                    matches!(m,
        Inbound::CommandReply(c) if c.command == CommandRef::Command("cmd-w".into()))
                })
            })
            .await
    );

    // A corrections bracelet's UD keeps only what its product declares (no steps/speed).
    let mut b = TcpStream::connect(addr).await.expect("connect");
    b.write_all(&watch_frame("8800000003", WATCH_UD))
        .await
        .expect("write");
    assert!(
        r.sink
            .wait_for(WAIT, |recs| recs.iter().any(|(s, m)| s.device_id
                == "bracelet-1"
                && matches!(m, Inbound::Telemetry(_))))
            .await
    );
    let t = r
        .sink
        .records()
        .into_iter()
        .find_map(|(s, m)| match m {
            Inbound::Telemetry(t) if s.device_id == "bracelet-1" => Some(t),
            _ => None,
        })
        .expect("t");
    assert!(t.values.contains_key("battery") && !t.values.contains_key("steps"));

    r.trigger.trigger();
    assert!(matches!(
        tokio::time::timeout(WAIT, r.handle).await,
        Ok(Ok(Ok(())))
    ));
}

async fn mosquitto_round_trip(embedded: bool) {
    let prefix = format!(
        "cymq{}{}",
        if embedded { "e" } else { "x" },
        std::process::id()
    );
    let port = if embedded { free_port() } else { 1883 };
    let broker = if embedded {
        MqttMode::Embedded {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    } else {
        MqttMode::External {
            host: "127.0.0.1".into(),
            port,
            username: None,
            password: None,
        }
    };
    let config = MqttConfig {
        broker,
        topic_prefix: prefix.clone(),
        client_id: format!("{prefix}-ingest"),
        ..MqttConfig::default()
    };
    let r = start(&config, directory(), embedded).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // subscriptions in place
    let port_s = port.to_string();
    let auth: Vec<&str> = if embedded {
        vec!["-u", "bin-1", "-P", "secret-bin-1"]
    } else {
        vec![]
    };

    let status = tokio::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port_s,
            "-q",
            "1",
            "-i",
            &format!("{prefix}-pub"),
        ])
        .args(&auth)
        .args([
            "-t",
            &format!("{prefix}/bin_fill_sensor/bin-1/telemetry"),
            "-m",
            r#"{"values":{"fill_pct":93},"location":{"lon":117.03,"lat":28.24}}"#,
        ])
        .status()
        .await
        .expect("mosquitto_pub runs");
    assert!(status.success());
    assert!(r.sink.wait_for(WAIT, |recs| recs.iter().any(|(s, m)| s.device_id == "bin-1" && matches!(m, Inbound::Telemetry(t) if t.values.get("fill_pct") == Some(&Value::Int(93))))).await);

    // Platform → device: a subscriber waiting on the command topic receives the command.
    let sub = tokio::process::Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port_s,
            "-q",
            "1",
            "-C",
            "1",
            "-W",
            "10",
            "-i",
            &format!("{prefix}-sub"),
        ])
        .args(&auth)
        .args(["-t", &format!("{prefix}/bin_fill_sensor/bin-1/command")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_sub runs");
    tokio::time::sleep(Duration::from_millis(700)).await;
    r.registry
        .send(
            "bin-1",
            OutboundFrame::command(
                "cmd-m",
                OutboundPayload::Json(
                    serde_json::json!({"command_id":"cmd-m","command":"reset","params":{}}),
                ),
            ),
        )
        .expect("bin-1 routable");
    let out = sub.wait_with_output().await.expect("mosquitto_sub output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"command\":\"reset\""),
        "mosquitto_sub got {text:?}"
    );

    // Unknown device refused.
    let ghost_auth: Vec<&str> = if embedded {
        vec!["-u", "ghost", "-P", "x"]
    } else {
        vec![]
    };
    let _ = tokio::process::Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port_s, "-q", "1"])
        .args(&ghost_auth)
        .args([
            "-t",
            &format!("{prefix}/bin_fill_sensor/ghost/telemetry"),
            "-m",
            "{}",
        ])
        .status()
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while r.counters.snapshot().refused == 0 {
        assert!(tokio::time::Instant::now() < deadline, "ghost not refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    r.trigger.trigger();
    assert!(matches!(
        tokio::time::timeout(WAIT, r.handle).await,
        Ok(Ok(Ok(())))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_against_the_embedded_broker() {
    mosquitto_round_trip(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_against_the_machine_mosquitto() {
    mosquitto_round_trip(false).await;
}
