//! JT/T 808 gateway flows not covered by the compliance body: registration (0x0100 →
//! 0x8100) then authentication with the issued code, refusal of unknown terminals at
//! registration, and a location split into sub-packages.

mod common;

use chengyun_ingest::jt808::{Header, PackageInfo, Packet, ProtocolVersion, TerminalPhone};
use chengyun_ingest::source::{Inbound, Jt808Config, TcpSettings};
use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn config() -> Jt808Config {
    Jt808Config {
        tcp: TcpSettings {
            listen: any_port(),
            drain_timeout_ms: 1000,
            ..TcpSettings::default()
        },
        ..Jt808Config::default()
    }
}

fn register_body() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&36u16.to_be_bytes()); // province (Jiangxi)
    b.extend_from_slice(&600u16.to_be_bytes()); // city
    b.extend_from_slice(b"MAKER");
    b.extend_from_slice(&[b'M'; 20]); // model
    b.extend_from_slice(b"T000001"); // terminal id
    b.push(0); // no plate colour
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_then_authenticate_with_the_issued_code() {
    let r = start(&config(), directory(), true).await;
    let addr = r.addr.expect("port");
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut buf = Vec::new();
    s.write_all(&jt808_frame(0x0100, "013912345678", 1, register_body()))
        .await
        .expect("write");
    let (id, body) = read_jt808(&mut s, &mut buf).await.expect("0x8100");
    assert_eq!(id, 0x8100);
    assert_eq!(&body[..3], &[0, 1, 0], "reply serial 1, result 0");
    let code = String::from_utf8(body[3..].to_vec()).expect("ascii code");
    assert_eq!(code, "code-1", "the directory's code");
    s.write_all(&jt808_auth("013912345678", 2, &code))
        .await
        .expect("write");
    let (_, body) = read_jt808(&mut s, &mut buf).await.expect("0x8001");
    assert_eq!(general_reply(&body), (2, 0x0102, 0));

    // An unknown terminal gets 0x8100 result 4 and stays unauthenticated.
    let mut u = TcpStream::connect(addr).await.expect("connect");
    let mut ubuf = Vec::new();
    u.write_all(&jt808_frame(0x0100, "013900000001", 9, register_body()))
        .await
        .expect("write");
    let (id, body) = read_jt808(&mut u, &mut ubuf).await.expect("0x8100");
    assert_eq!((id, &body[..3]), (0x8100, &[0u8, 9, 4][..]));
    u.write_all(&jt808_frame(0x0002, "013900000001", 10, vec![]))
        .await
        .expect("write");
    let (_, body) = read_jt808(&mut u, &mut ubuf).await.expect("0x8001");
    assert_eq!(
        general_reply(&body),
        (10, 0x0002, 1),
        "heartbeat before auth fails"
    );
    let c = r.counters.snapshot();
    assert_eq!((c.refused, c.unauthenticated), (1, 1), "{c:?}");
    r.trigger.trigger();
    let _ = tokio::time::timeout(WAIT, r.handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_packaged_location_is_reassembled() {
    let r = start(&config(), directory(), true).await;
    let (mut s, mut buf) = jt808_login(r.addr.expect("port"), "013912345679", "code-2").await;
    // Take the body of a normal location frame and send it in two packages.
    let whole = jt808_location("013912345679", 0, 28.5, 117.5, 0);
    let content = {
        use chengyun_ingest::FrameCodec;
        use chengyun_ingest::jt808::{Jt808Frame, Jt808FrameCodec};
        match Jt808FrameCodec::default().parse_frame(&whole) {
            Ok(Some((Jt808Frame::Binary(b), _))) => Packet::decode(&b).expect("packet").body,
            other => panic!("{other:?}"),
        }
    };
    let (first, second) = content.split_at(10);
    for (i, part) in [first, second].into_iter().enumerate() {
        let index = i as u16 + 1;
        let frame = Packet {
            header: Header {
                msg_id: 0x0200,
                body_len: part.len() as u16,
                encryption: 0,
                version: ProtocolVersion::V2013,
                phone: TerminalPhone::Bcd("013912345679".into()),
                serial: 10 + i as u16,
                package: Some(PackageInfo { total: 2, index }),
            },
            body: part.to_vec(),
        }
        .encode_frame()
        .expect("frame");
        s.write_all(&frame).await.expect("write");
        let (_, body) = read_jt808(&mut s, &mut buf).await.expect("reply");
        assert_eq!(
            general_reply(&body),
            (10 + i as u16, 0x0200, 0),
            "package {index} acknowledged"
        );
    }
    assert!(
        r.sink
            .wait_for(WAIT, |recs| {
                recs.iter().any(|(_, m)| {
                    matches!(m,
                Inbound::Telemetry(t) if t.location.is_some_and(|p| (p.lat - 28.5).abs() < 1e-6))
                })
            })
            .await,
        "the reassembled location reaches the sink"
    );
    r.trigger.trigger();
    let _ = tokio::time::timeout(WAIT, r.handle).await;
}
