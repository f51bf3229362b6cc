//! JT/T 808 against traccar's unit-test vectors (/work/shared/data/traccar-protocol-vectors).
//!
//! traccar's decoder tests hand frames straight to the protocol decoder, bypassing the frame
//! decoder, so those payloads are *un-escaped* frames (several contain raw 0x7E/0x7D bytes inside)
//! and traccar never checks the check code. Each row is therefore decoded twice:
//! 1. as recorded, through [`Jt808Decoder::decode_frame`] of ONE decoder instance, in order;
//! 2. re-escaped onto the wire and pushed through a second decoder's byte stream, which must give
//!    the same result (framing, escaping and resynchronisation exercised on real frames).

use std::collections::BTreeMap;

use chengyun_ingest::jt808::frame::escape_into;
use chengyun_ingest::jt808::*;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/traccar-protocol-vectors"
);

fn rows(file: &str) -> Vec<csv::StringRecord> {
    let path = format!("{DIR}/{file}");
    let mut rdr = csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    rdr.records().map(|r| r.expect("csv row")).collect()
}

#[test]
fn frame_vectors() {
    let rows = rows("jt808_frame_vectors.csv");
    assert_eq!(rows.len(), 3);
    for row in rows {
        let input = hex::decode(&row[2]).expect("hex");
        let expected = hex::decode(&row[3]).expect("hex");
        let mut dec = chengyun_ingest::StreamDecoder::new(Jt808FrameCodec::default());
        dec.extend(&input);
        let frame = dec
            .next_frame()
            .expect("a frame")
            .expect("no framing error");
        let got = match &frame {
            Jt808Frame::Binary(content) => {
                let mut v = vec![0x7e];
                v.extend_from_slice(content);
                v.push(0x7e);
                v
            }
            Jt808Frame::Text(t) => t.as_bytes().to_vec(),
        };
        assert_eq!(
            hex::encode(&got),
            hex::encode(&expected),
            "line {}",
            &row[1]
        );
        assert_eq!(
            dec.stats().errors,
            0,
            "line {}: the $$ prefix is not garbage",
            &row[1]
        );
        // traccar's frame test uses a synthetic 5-byte frame: its check code is wrong, which the
        // packet layer reports precisely.
        if let Jt808Frame::Binary(content) = frame {
            assert_eq!(
                Packet::decode(&content),
                Err(PacketError::BadChecksum {
                    computed: 0x3b,
                    received: 0x55
                })
            );
        }
    }
}

/// Rows whose recorded frame has a wrong check code (traccar does not verify it): `(line,
/// computed, received)`. They are then decoded with [`Packet::decode_unverified`].
const BAD_CHECKSUM: &[(&str, u8, u8)] = &[
    ("142", 0x86, 0x1b),
    ("232", 0x2f, 0x2e),
    ("328", 0xf0, 0xd0),
    ("409", 0x9a, 0x9b),
    ("415", 0x2d, 0xef),
];

/// Rows that are reported with an error by the standard decoder, and why.
const EXPECTED_ERRORS: &[(&str, &str, &str)] = &[
    (
        "41",
        "message: unknown message id 0x0702",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
    (
        "81",
        "message: unknown message id 0x0701",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
    (
        "89",
        "message: unknown message id 0x0900",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
    (
        "100",
        "message: unknown message id 0x0900",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
    (
        "104",
        "message: unknown message id 0x6006",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
    (
        "138",
        "packet: body length 65 in the header, 64 bytes present",
        "0x5501/0x5502 vendor frames use a 1-byte serial, so the standard header is one byte off",
    ),
    (
        "142",
        "packet: body length 55 in the header, 54 bytes present",
        "0x5501/0x5502 vendor frames use a 1-byte serial, so the standard header is one byte off",
    ),
    (
        "145",
        "packet: body length 55 in the header, 54 bytes present",
        "0x5501/0x5502 vendor frames use a 1-byte serial, so the standard header is one byte off",
    ),
    (
        "163",
        "message: unknown message id 0x0900",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
    (
        "183",
        "packet: body length 59 in the header, 58 bytes present",
        "0x5501/0x5502 vendor frames use a 1-byte serial, so the standard header is one byte off",
    ),
    (
        "187",
        "message: unknown message id 0x0900",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
    (
        "196",
        "message: unknown message id 0x0210",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
    (
        "218",
        "message: unknown message id 0x0900",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
    (
        "232",
        "packet: body length 131 in the header, 132 bytes present",
        "recorded frame carries one byte more than its header declares",
    ),
    (
        "238",
        "message: unknown message id 0x2070",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
    (
        "259",
        "packet: body length 51 in the header, 50 bytes present",
        "0x5501/0x5502 vendor frames use a 1-byte serial, so the standard header is one byte off",
    ),
    (
        "267",
        "message: unknown message id 0x1300",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
    (
        "271",
        "packet: body length 54 in the header, 53 bytes present",
        "0x5501/0x5502 vendor frames use a 1-byte serial, so the standard header is one byte off",
    ),
    (
        "274",
        "packet: body length 40 in the header, 39 bytes present",
        "0x5501/0x5502 vendor frames use a 1-byte serial, so the standard header is one byte off",
    ),
    (
        "328",
        "packet: body length 50 in the header, 40 bytes present",
        "traccar's recorded frame is cut short (50-byte body declared, 40 present)",
    ),
    (
        "368",
        "message: unknown message id 0x0210",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
    (
        "372",
        "message: unknown message id 0x0107",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
    (
        "376",
        "message: unknown message id 0x1007",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
    (
        "425",
        "packet: body length 122 in the header, 107 bytes present",
        "GL100 vendor 0x0200 whose header length does not match the body",
    ),
    (
        "429",
        "message: unknown message id 0x0900",
        "vendor/other message id, not a core JT/T 808 terminal message",
    ),
];

/// verifyAttribute keys that the core standard does not carry, and where traccar gets them.
const VENDOR_KEYS: &[(&str, &str)] = &[
    (
        "power",
        "external voltage: vendor TLVs (0xE1, 0x2B-in-0xEB, 0x61/0x82 inside 0xEB), not JT/T 808 core",
    ),
    (
        "battery",
        "battery voltage: vendor TLVs (0xEB sub-items, 0x69, proprietary 0x2D/0x56…)",
    ),
    (
        "batteryLevel",
        "battery %: vendor TLVs (0xE4/0xEE/0x56/0xFE…) or vendor messages",
    ),
    (
        "motion",
        "traccar derives motion from speed/vendor data, not a standard bit",
    ),
    (
        "timezone",
        "traccar session attribute, not carried by the frame",
    ),
    ("rpm", "OBD extension inside vendor TLV 0xEB"),
    (
        "videoAlarm",
        "JT/T 1078 video alarm TLV 0x14, outside JT/T 808",
    ),
    ("tire1Pressure", "vendor tyre-pressure TLV"),
    (
        "driverUniqueId",
        "vendor driver-card TLV or 0x0900 pass-through",
    ),
    ("temp1", "vendor temperature-sensor TLVs"),
    ("temp3", "vendor temperature-sensor TLVs"),
    (
        "iccid",
        "vendor TLV 0xCC/0xF3 or 0x0107 terminal attributes (not decoded here)",
    ),
    ("lock2Battery", "e-lock vendor TLVs"),
    ("lock1Locked", "e-lock vendor TLVs"),
    ("dtcs", "OBD trouble codes in vendor TLV 0xA0 / 0x0900"),
    ("event", "vendor event TLV"),
    ("driver", "vendor driver TLV"),
    ("charge", "vendor status bit 26 / 0x5501 message"),
    ("fuel1", "vendor fuel-sensor TLV"),
    ("fuel2", "vendor fuel-sensor TLV"),
    ("imei", "vendor IMEI TLV"),
    ("door", "MV710G model override: status bit 16 means door"),
    (
        "alarm=removing",
        "vendor alarm TLV (0xEB sub-item), not an alarm-word bit",
    ),
    (
        "alarm=vibration",
        "traccar maps reserved bit 15 / vendor TLV to vibration",
    ),
    ("alarm=hardAcceleration", "vendor ADAS/DSM TLV"),
    ("alarm=tampering", "reserved bits 16/17 or vendor TLV"),
    ("alarm=door", "MV710G model override"),
    (
        "alarm=sos",
        "JC371 model: SOS in a vendor alarm TLV, the alarm word is 0",
    ),
    ("alarm=movement", "AL300 model override: bit 16"),
    (
        "alarmLabel",
        "JT/T 1078/ADAS attachment label in vendor TLV 0x64-0x67",
    ),
    ("steps", "C5L vendor pedometer TLV"),
    ("tag1Mac", "GL100 BLE tag in 0x0900"),
    ("deviceTemp", "GL100 sensor in 0x0900"),
    ("cardCode", "0x0702 driver identity (not decoded here)"),
    ("fuelUsed", "0x0900 OBD pass-through"),
    ("unlockResult", "0x5501 e-lock vendor message"),
    ("tilt", "0x5501 vendor message"),
    (
        "result",
        "text results of vendor messages 0x0701/0x6006/0x1300",
    ),
];

/// Alarm names as traccar derives them from the *standard* bits (its default branch).
fn traccar_alarm_names(flags: AlarmFlags) -> Vec<&'static str> {
    let mut v = Vec::new();
    let k = |kind| flags.has(kind);
    let b = |bit: u32| flags.0 & (1 << bit) != 0;
    if k(AlarmKind::Sos) {
        v.push("sos")
    }
    if k(AlarmKind::Overspeed) {
        v.push("overspeed")
    }
    if k(AlarmKind::Fatigue) {
        v.push("fatigueDriving")
    }
    if k(AlarmKind::GnssAntennaCut) || k(AlarmKind::GnssAntennaShort) {
        v.push("gpsAntennaCut")
    }
    if k(AlarmKind::GnssFault)
        || k(AlarmKind::DisplayFault)
        || k(AlarmKind::TtsFault)
        || k(AlarmKind::CameraFault)
    {
        v.push("fault")
    }
    if k(AlarmKind::MainPowerLow) || b(18) {
        v.push("lowBattery")
    }
    if k(AlarmKind::MainPowerCut) {
        v.push("powerOff")
    }
    if k(AlarmKind::ParkingTimeout) {
        v.push("parking")
    }
    if k(AlarmKind::AreaInOut) {
        v.push("geofence")
    }
    if k(AlarmKind::Stolen) {
        v.push("general")
    }
    if k(AlarmKind::IllegalDisplacement) {
        v.push("movement")
    }
    if k(AlarmKind::Collision) || k(AlarmKind::Rollover) {
        v.push("accident")
    }
    v
}

fn describe(r: &Result<Decoded, Jt808Error>) -> String {
    match r {
        Ok(Decoded::Message { message, .. }) => format!("message 0x{:04x}", message.msg_id()),
        Ok(other) => format!("{other:?}"),
        Err(e) => e.to_string(),
    }
}

#[derive(Default)]
struct Tally {
    asserted: Vec<String>,
    parsed_only: Vec<String>,
}

#[test]
fn decoder_vectors_in_order() {
    let rows = rows("jt808_decoder_vectors.csv");
    assert_eq!(rows.len(), 113);
    let bad_checksum: BTreeMap<&str, (u8, u8)> =
        BAD_CHECKSUM.iter().map(|&(l, c, r)| (l, (c, r))).collect();
    let expected_errors: BTreeMap<&str, &str> =
        EXPECTED_ERRORS.iter().map(|&(l, e, _)| (l, e)).collect();
    let vendor_keys: BTreeMap<&str, &str> = VENDOR_KEYS.iter().copied().collect();
    let mut dec = Jt808Decoder::default();
    let mut wire = Jt808Decoder::default();
    let mut tally = Tally::default();
    let mut seen_checksum = Vec::new();
    let mut seen_errors = Vec::new();
    let mut unexpected: Vec<String> = Vec::new();
    for row in &rows {
        let (line, model, check, encoding, payload, key, value) = (
            &row[1], &row[2], &row[3], &row[4], &row[5], &row[6], &row[7],
        );
        let id = format!("line {line} {check} {key}");
        let bytes = if encoding == "hex" {
            hex::decode(payload).expect("hex payload")
        } else {
            payload.as_bytes().to_vec()
        };

        // Text sentences go through the byte stream of the main decoder.
        let outcome = if bytes.first() == Some(&b'(') {
            dec.extend(&bytes);
            dec.next_decoded().expect("a complete sentence")
        } else {
            assert!(
                bytes.len() >= 2 && bytes[0] == 0x7e && bytes[bytes.len() - 1] == 0x7e,
                "{id}: delimited frame"
            );
            let inner = bytes[1..bytes.len() - 1].to_vec();
            let mut escaped = Vec::new();
            escape_into(&inner, &mut escaped);
            wire.extend(&escaped);
            let via_wire = wire.next_decoded().expect("the escaped frame is complete");
            let direct = dec.decode_frame(Jt808Frame::Binary(inner.clone()));
            assert_eq!(
                describe(&via_wire),
                describe(&direct),
                "{id}: wire and direct decoding agree"
            );
            match direct {
                Err(Jt808Error::Packet(PacketError::BadChecksum { computed, received })) => {
                    seen_checksum.push(format!("(\"{line}\", 0x{computed:02x}, 0x{received:02x})"));
                    if bad_checksum.get(line) != Some(&(computed, received)) {
                        unexpected.push(format!("{id}: bad checksum"));
                    }
                    let packet = Packet::decode_unverified(&inner);
                    match packet {
                        Ok(p) => dec.decode_packet(p),
                        Err(e) => Err(e.into()),
                    }
                }
                other => {
                    assert!(
                        !bad_checksum.contains_key(line),
                        "{id}: listed as bad checksum but verified"
                    );
                    other
                }
            }
        };
        if let Err(e) = &outcome {
            seen_errors.push(format!("(\"{line}\", \"{e}\")"));
            if expected_errors.get(line).copied() != Some(e.to_string().as_str()) {
                unexpected.push(format!("{id}: {e}"));
            }
            tally.parsed_only.push(format!("{id}: {e}"));
            continue;
        }
        assert!(
            !expected_errors.contains_key(line),
            "{id}: listed as an error but decoded"
        );
        let decoded = outcome.expect("checked above");
        let positions: Vec<&Location> = match &decoded {
            Decoded::Message {
                message: Message::Location(l),
                ..
            } => vec![l],
            Decoded::Message {
                message: Message::BatchLocation(b),
                ..
            } => b.items.iter().collect(),
            _ => Vec::new(),
        };
        for p in &positions {
            assert!(
                p.latitude.abs() <= 90.0 && p.longitude.abs() <= 180.0,
                "{id}: coordinates"
            );
        }
        match check {
            "verifyNull" => {
                match &decoded {
                    Decoded::Text(t) => assert!(t.starts_with('(') && t.ends_with(')'), "{id}"),
                    Decoded::Message { header, message } => {
                        assert!(
                            matches!(
                                message,
                                Message::Register(_)
                                    | Message::Authenticate(_)
                                    | Message::Heartbeat { .. }
                            ),
                            "{id}"
                        );
                        let reply = reply_for(message, header).expect("platform answers");
                        let frame = reply
                            .encode_frame(header.version, &header.phone, 1)
                            .expect("encodes");
                        let (f, _) = parse_frame(&frame).expect("own frame").expect("complete");
                        let Jt808Frame::Binary(content) = f else {
                            panic!("{id}: binary reply")
                        };
                        assert_eq!(
                            Packet::decode(&content).expect("own checksum").header.phone,
                            header.phone
                        );
                    }
                    other => panic!("{id}: {other:?}"),
                }
                tally.asserted.push(id);
            }
            "verifyPosition" | "verifyPositions" => {
                assert!(
                    !positions.is_empty(),
                    "{id}: positions expected, got {decoded:?}"
                );
                for p in &positions {
                    let t = p.time.unwrap_or_else(|| panic!("{id}: time"));
                    assert!(t.timestamp() > 1_262_304_000, "{id}: time after 2010: {t}");
                }
                tally.asserted.push(id);
            }
            "verifyNotNull" | "verifyAttributes" => {
                assert!(matches!(decoded, Decoded::Message { .. }), "{id}");
                tally.asserted.push(id);
            }
            "verifyAttribute" => match key {
                "sat" => {
                    let first = positions
                        .first()
                        .unwrap_or_else(|| panic!("{id}: no position"));
                    assert_eq!(
                        first.extras.satellites.map(|s| s.to_string()).as_deref(),
                        Some(value),
                        "{id}"
                    );
                    tally.asserted.push(id);
                }
                "result" => {
                    let Decoded::Text(t) = &decoded else {
                        panic!("{id}: text expected, got {decoded:?}")
                    };
                    assert_eq!(t, value, "{id}");
                    tally.asserted.push(id);
                }
                "alarm" => {
                    let first = positions
                        .first()
                        .unwrap_or_else(|| panic!("{id}: no position"));
                    let ours = traccar_alarm_names(first.alarm);
                    let expected: Vec<&str> = value.split(',').collect();
                    let standard: Vec<&str> = expected
                        .iter()
                        .copied()
                        .filter(|n| ours.contains(n))
                        .collect();
                    let vendor: Vec<&str> = expected
                        .iter()
                        .copied()
                        .filter(|n| !ours.contains(n))
                        .collect();
                    if vendor.is_empty() && model.is_empty()
                        || vendor.is_empty() && !standard.is_empty()
                    {
                        assert_eq!(ours, expected, "{id}");
                        tally.asserted.push(id);
                    } else {
                        let reason = vendor_keys.get(format!("alarm={}", vendor.join(",")).as_str()).unwrap_or_else(|| {
                            panic!("{id}: alarm {vendor:?} not derivable from standard bits ({ours:?}); list it in VENDOR_KEYS")
                        });
                        if standard.is_empty() {
                            tally.parsed_only.push(format!("{id}: {reason}"));
                        } else {
                            tally
                                .asserted
                                .push(format!("{id} (standard part {standard:?}; {reason})"));
                        }
                    }
                }
                other => {
                    let reason = vendor_keys
                        .get(other)
                        .unwrap_or_else(|| panic!("{id}: key {other} neither asserted nor listed"));
                    assert!(
                        matches!(decoded, Decoded::Message { .. }),
                        "{id}: standard part decodes"
                    );
                    tally.parsed_only.push(format!("{id}: {reason}"));
                }
            },
            other => panic!("{id}: unknown check {other}"),
        }
    }
    println!("bad checksums seen: {}", seen_checksum.join(", "));
    println!("errors seen: {}", seen_errors.join(", "));
    println!(
        "JT/T 808 vectors: {} rows asserted, {} rows only parsed",
        tally.asserted.len(),
        tally.parsed_only.len()
    );
    for p in &tally.parsed_only {
        println!("  only parsed: {p}");
    }
    assert!(
        unexpected.is_empty(),
        "unexpected outcomes:\n{}",
        unexpected.join("\n")
    );
    assert_eq!(tally.asserted.len() + tally.parsed_only.len(), rows.len());
    assert_eq!(
        seen_checksum.len(),
        BAD_CHECKSUM.len(),
        "every listed bad checksum seen"
    );
    assert_eq!(
        seen_errors.len(),
        EXPECTED_ERRORS.len(),
        "every listed error seen"
    );
}
