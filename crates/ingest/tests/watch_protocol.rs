//! The watch text protocol with hand-written frames built from the documented layout.

use chengyun_ingest::StreamDecoder;
use chengyun_ingest::watch::*;

fn frame(content: &str) -> Vec<u8> {
    encode_frame("3G", "8800000015", content.as_bytes()).expect("short")
}

fn decode_all(bytes: &[u8]) -> Vec<Result<WatchFrame, WatchFrameError>> {
    let mut d = StreamDecoder::new(WatchFrameCodec::default());
    d.extend(bytes);
    std::iter::from_fn(|| d.next_frame()).collect()
}

const UD: &str = "UD,140422,134652,A,28.260450,N,117.069355,E,1.50,152.6,45.0,9,100,86,1532,3,00110010,4,1,460,0,9529,21809,158";

#[test]
fn ud_position_with_status_bits() {
    let (f, n) = parse_frame(&frame(UD)).expect("ok").expect("frame");
    assert_eq!(n, frame(UD).len());
    assert_eq!(
        (f.vendor.as_str(), f.device_id.as_str()),
        ("3G", "8800000015")
    );
    let WatchMessage::Position { kind, report } = decode_content(&f).expect("decodes") else {
        panic!("position")
    };
    assert_eq!(kind, PositionKind::Realtime);
    assert_eq!(report.time.to_rfc3339(), "2022-04-14T13:46:52+00:00");
    assert!(report.valid);
    assert!(
        (report.latitude - 28.26045).abs() < 1e-9 && (report.longitude - 117.069355).abs() < 1e-9
    );
    assert_eq!(
        (
            report.satellites,
            report.signal,
            report.battery,
            report.steps,
            report.rolls
        ),
        (9, 100, 86, 1532, 3)
    );
    assert_eq!(
        report.flags(),
        vec![WatchStatus::Moving, WatchStatus::Sos, WatchStatus::Removed]
    );
    assert_eq!(report.extra.first().map(String::as_str), Some("4"));
    assert_eq!(reply_for(&WatchMessage::Position { kind, report }), None);
}

#[test]
fn al_south_west_gets_an_al_reply_and_lk_variants() {
    let al = UD
        .replacen("UD", "AL", 1)
        .replace(",N,", ",S,")
        .replace(",E,", ",W,");
    let (f, _) = parse_frame(&frame(&al)).expect("ok").expect("frame");
    let msg = decode_content(&f).expect("decodes");
    let WatchMessage::Position { report, .. } = &msg else {
        panic!()
    };
    assert!(report.latitude < 0.0 && report.longitude < 0.0);
    let reply = reply_for(&msg).expect("AL is acknowledged");
    assert_eq!(
        reply.encode("3G", "8800000015").expect("encodes"),
        b"[3G*8800000015*0002*AL]"
    );

    let (f, _) = parse_frame(b"[3G*8800000015*0002*LK]")
        .expect("ok")
        .expect("frame");
    assert_eq!(
        decode_content(&f),
        Ok(WatchMessage::Heartbeat {
            steps: None,
            rolls: None,
            battery: None
        })
    );
    let (f, _) = parse_frame(&frame("LK,5000,12,88"))
        .expect("ok")
        .expect("frame");
    assert_eq!(
        decode_content(&f),
        Ok(WatchMessage::Heartbeat {
            steps: Some(5000),
            rolls: Some(12),
            battery: Some(88)
        })
    );
    assert_eq!(
        reply_for(&decode_content(&f).expect("ok")),
        Some(WatchCommand::HeartbeatReply)
    );
}

#[test]
fn health_messages() {
    let (f, _) = parse_frame(&frame("bphrt,128,84,72,,,,"))
        .expect("ok")
        .expect("frame");
    assert_eq!(
        decode_content(&f),
        Ok(WatchMessage::BloodPressure {
            high: 128,
            low: 84,
            heart_rate: 72
        })
    );
    let (f, _) = parse_frame(&frame("btemp2,1,36.7"))
        .expect("ok")
        .expect("frame");
    assert_eq!(
        decode_content(&f),
        Ok(WatchMessage::BodyTemperature {
            celsius: Some(36.7)
        })
    );
    let (f, _) = parse_frame(&frame("btemp2,0,0"))
        .expect("ok")
        .expect("frame");
    assert_eq!(
        decode_content(&f),
        Ok(WatchMessage::BodyTemperature { celsius: None })
    );
    let (f, _) = parse_frame(&frame("btemp2,1,99.0"))
        .expect("ok")
        .expect("frame");
    assert!(matches!(
        decode_content(&f),
        Err(WatchError::BadField {
            field: "temperature",
            ..
        })
    ));
}

#[test]
fn bad_fields_are_named() {
    for (content, field) in [
        (UD.replace("140422", "320422"), "date"),
        (UD.replace(",A,", ",X,"), "validity"),
        (UD.replace("28.260450", "98.1"), "latitude"),
        (UD.replace(",N,", ",Q,"), "latitude hemisphere"),
        (UD.replace("00110010", "0011001G"), "status"),
        (UD.replace(",86,", ",186,"), "battery"),
    ] {
        let (f, _) = parse_frame(&frame(&content)).expect("ok").expect("frame");
        match decode_content(&f) {
            Err(WatchError::BadField { field: got, .. }) => assert_eq!(got, field, "{content}"),
            other => panic!("{content}: {other:?}"),
        }
    }
    let (f, _) = parse_frame(&frame("UD,220414"))
        .expect("ok")
        .expect("frame");
    assert_eq!(
        decode_content(&f),
        Err(WatchError::MissingFields {
            command: "UD",
            needed: 16,
            found: 1
        })
    );
}

#[test]
fn framing_edge_cases_resynchronise() {
    // LEN says 3 but content is "LK": mismatch, then the next good frame is still found.
    let mut bytes = b"[3G*8800000015*0003*LK]".to_vec();
    bytes.extend_from_slice(&frame("LK"));
    let out = decode_all(&bytes);
    assert!(
        matches!(
            out[0],
            Err(WatchFrameError::LengthMismatch {
                len: 3,
                found: b'['
            })
        ),
        "{out:?}"
    );
    assert!(
        out.iter().any(|r| matches!(r, Ok(f) if f.content == b"LK")),
        "{out:?}"
    );

    // Non-hex LEN.
    assert!(matches!(
        parse_frame(b"[3G*8800000015*00ZZ*LK]"),
        Err(WatchFrameError::BadHeader { field: "LEN", .. })
    ));
    // Missing `]`: incomplete until the byte arrives, then a mismatch.
    assert_eq!(parse_frame(b"[3G*8800000015*0002*LK"), Ok(None));
    assert!(matches!(
        parse_frame(b"[3G*8800000015*0002*LKX"),
        Err(WatchFrameError::LengthMismatch { .. })
    ));
    // Binary garbage before a frame is counted.
    let mut bytes = vec![0x00, 0xff, 0x7e, 0x13];
    bytes.extend_from_slice(&frame("LK"));
    let out = decode_all(&bytes);
    assert_eq!(out[0], Err(WatchFrameError::Garbage { skipped: 4 }));
    assert!(matches!(&out[1], Ok(f) if f.content == b"LK"));
    // Nested `[` in the header: resync on the inner frame.
    let mut bytes = b"[3G*88[".to_vec();
    bytes.extend_from_slice(&frame("LK")[1..]);
    let out = decode_all(&bytes);
    assert!(
        matches!(
            out[0],
            Err(WatchFrameError::BadHeader {
                field: "device id",
                ..
            })
        ),
        "{out:?}"
    );
    assert!(
        out.iter().any(|r| matches!(r, Ok(f) if f.content == b"LK")),
        "{out:?}"
    );
    // Oversized LEN.
    assert!(matches!(
        parse_frame(b"[3G*1*FFFF*UD,1"),
        Err(WatchFrameError::Oversized { len: 65535, .. })
    ));
}

#[test]
fn commands() {
    let enc = |c: WatchCommand| {
        String::from_utf8(c.encode("3G", "8800000015").expect("encodes")).expect("ascii")
    };
    assert_eq!(enc(WatchCommand::LocateNow), "[3G*8800000015*0002*CR]");
    assert_eq!(
        enc(WatchCommand::UploadInterval { seconds: 600 }),
        "[3G*8800000015*000A*UPLOAD,600]"
    );
    assert_eq!(
        enc(WatchCommand::SosNumbers {
            numbers: vec!["13800138000".into(), "13900139000".into()]
        }),
        "[3G*8800000015*001C*SOS,13800138000,13900139000,]"
    );
    assert_eq!(enc(WatchCommand::PowerOff), "[3G*8800000015*0008*POWEROFF]");
    assert_eq!(enc(WatchCommand::Find), "[3G*8800000015*0004*FIND]");
    assert_eq!(
        enc(WatchCommand::Raw {
            content: "FACTORY".into()
        }),
        "[3G*8800000015*0007*FACTORY]"
    );
    assert!(
        WatchCommand::Raw {
            content: "X]".into()
        }
        .encode("3G", "1")
        .is_err()
    );
    assert_eq!(
        WatchCommand::SosNumbers {
            numbers: vec![String::new(); 4]
        }
        .content(),
        Err(WatchCommandError::TooManySosNumbers(4))
    );
    // Every command parses back as a frame.
    let bytes = WatchCommand::UploadInterval { seconds: 60 }
        .encode("SG", "1234567890")
        .expect("encodes");
    let (f, n) = parse_frame(&bytes).expect("ok").expect("frame");
    assert_eq!((f.content.as_slice(), n), (&b"UPLOAD,60"[..], bytes.len()));
}
