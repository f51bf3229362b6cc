//! Stable stand-in for the cargo-fuzz targets: ~200k deterministic pseudo-random and mutated
//! inputs (mutations of the real traccar frames and of hand-written watch/28181 documents:
//! bit flips, truncations, insertions, duplicated escape and delimiter bytes). Every decoder must
//! return (no panic) within a time bound, and stream decoding must always make progress.

use std::time::{Duration, Instant};

use chengyun_ingest::jt808::{self, Jt808Decoder, Jt808Frame, Packet};
use chengyun_ingest::{StreamDecoder, gb28181, watch};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, seed: &[u8], specials: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.truncate(rng.below(v.len() + 1)),
            2 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.next() as u8);
            }
            3 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, specials[rng.below(specials.len())]);
            }
            4 if !v.is_empty() => {
                let i = rng.below(v.len());
                let b = v[i];
                v.insert(i, b);
            }
            5 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = specials[rng.below(specials.len())];
            }
            _ => {
                let n = rng.below(16);
                v.extend((0..n).map(|_| rng.next() as u8));
            }
        }
    }
    v
}

const BOUND: Duration = Duration::from_millis(250);

fn check_time(start: Instant, what: &str, input: &[u8]) {
    let took = start.elapsed();
    assert!(
        took < BOUND,
        "{what} took {took:?} on {} bytes: {}",
        input.len(),
        hex::encode(&input[..input.len().min(64)])
    );
}

fn jt808_seeds() -> Vec<Vec<u8>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/traccar-protocol-vectors/jt808_decoder_vectors.csv"
    );
    let mut rdr = csv::Reader::from_path(path).expect("shared vectors");
    rdr.records()
        .map(|r| r.expect("row"))
        .map(|r| {
            if &r[4] == "hex" {
                hex::decode(&r[5]).expect("hex")
            } else {
                r[5].as_bytes().to_vec()
            }
        })
        .collect()
}

fn run_jt808(input: &[u8]) {
    // Stream path (framing, checksum, header, reassembly, body).
    let mut dec = Jt808Decoder::default();
    dec.extend(input);
    let mut steps = 0;
    while dec.next_decoded().is_some() {
        steps += 1;
        assert!(steps <= input.len() + 1, "progress");
    }
    // Direct message layer, including unverified packets (maximum reach into body decoders).
    if input.len() >= 2 {
        let inner = &input[1..input.len() - 1];
        if let Ok(p) = Packet::decode_unverified(inner) {
            let _ = jt808::decode_message(&Packet {
                header: jt808::Header {
                    package: None,
                    encryption: 0,
                    ..p.header
                },
                body: p.body,
            });
        }
        let _ = jt808::decode_location_body(inner);
        let mut d = Jt808Decoder::default();
        let _ = d.decode_frame(Jt808Frame::Binary(inner.to_vec()));
    }
}

fn run_watch(input: &[u8]) {
    let mut dec = StreamDecoder::new(watch::WatchFrameCodec::default());
    dec.extend(input);
    let mut steps = 0;
    while let Some(r) = dec.next_frame() {
        steps += 1;
        assert!(steps <= input.len() + 1, "progress");
        if let Ok(f) = r {
            let _ = watch::decode_content(&f);
        }
    }
    let _ = watch::decode_content(&watch::WatchFrame {
        vendor: "3G".into(),
        device_id: "1".into(),
        index: None,
        content: input.to_vec(),
    });
}

#[test]
fn jt808_mutations() {
    let seeds = jt808_seeds();
    let mut rng = Rng(0x808);
    let specials = [0x7e, 0x7d, 0x01, 0x02, b'(', b')', b'$', 0x00, 0xff];
    for i in 0..90_000 {
        let seed = &seeds[i % seeds.len()];
        let input = if i % 10 == 9 {
            (0..rng.below(300)).map(|_| rng.next() as u8).collect()
        } else {
            let mut s = seed.clone();
            if i % 3 == 0 {
                // On the wire: escape the recorded frame first so mutations hit real escapes.
                let mut esc = Vec::new();
                jt808::frame::escape_into(
                    s.get(1..s.len().saturating_sub(1)).unwrap_or_default(),
                    &mut esc,
                );
                s = esc;
            }
            mutate(&mut rng, &s, &specials)
        };
        let start = Instant::now();
        run_jt808(&input);
        check_time(start, "jt808", &input);
    }
}

#[test]
fn watch_mutations() {
    let seeds: Vec<Vec<u8>> = [
        "UD,140422,134652,A,28.260450,N,117.069355,E,1.50,152.6,45.0,9,100,86,1532,3,00110010,4,1,460,0,9529,21809,158",
        "AL,140422,134652,V,28.260450,S,117.069355,W,0,0,0,0,50,5,0,0,00010000",
        "LK,5000,12,88",
        "LK",
        "bphrt,128,84,72",
        "btemp2,1,36.7",
        "UPLOAD,600",
    ]
    .iter()
    .map(|c| watch::encode_frame("3G", "8800000015", c.as_bytes()).expect("short"))
    .collect();
    let mut rng = Rng(0x3a);
    let specials = [b'[', b']', b'*', b',', b'0', b'F', 0x00, 0xff];
    for i in 0..70_000 {
        let input = if i % 10 == 9 {
            (0..rng.below(200)).map(|_| rng.next() as u8).collect()
        } else {
            let mut s = seeds[i % seeds.len()].clone();
            if i % 4 == 0 {
                s.extend_from_slice(&seeds[(i / 4) % seeds.len()]);
            }
            mutate(&mut rng, &s, &specials)
        };
        let start = Instant::now();
        run_watch(&input);
        check_time(start, "watch", &input);
    }
}

#[test]
fn gb28181_mutations() {
    let doc = r#"<?xml version="1.0" encoding="GB2312"?>
<Notify><CmdType>Alarm</CmdType><SN>1</SN><DeviceID>36060000001320000012</DeviceID><AlarmPriority>1</AlarmPriority><AlarmMethod>5</AlarmMethod><AlarmTime>2026-05-01T14:03:27</AlarmTime><AlarmDescription>周界 &amp; 入侵</AlarmDescription><Longitude>117.03</Longitude><Latitude>28.23</Latitude><Info><AlarmType>6</AlarmType><AlarmTypeParam><EventType>1</EventType></AlarmTypeParam></Info></Notify>"#;
    let seed = encoding_rs::GBK.encode(doc).0.into_owned();
    assert!(gb28181::parse_notify(&seed).is_ok(), "seed parses");
    let mut rng = Rng(0x28181);
    let specials = [b'<', b'>', b'/', b'&', b';', b'"', b'=', b'?', 0x00, 0xb0];
    for i in 0..40_000 {
        let input = if i % 10 == 9 {
            (0..rng.below(400)).map(|_| rng.next() as u8).collect()
        } else {
            mutate(&mut rng, &seed, &specials)
        };
        let start = Instant::now();
        if let Ok(n) = gb28181::parse_notify(&input) {
            let _ = gb28181::encode_response(&n, true);
        }
        check_time(start, "gb28181", &input);
    }
}

#[test]
fn pathological_shapes() {
    // Long runs of delimiters and escapes, deep nesting, huge declared lengths.
    for input in [
        vec![0x7e; 100_000],
        vec![0x7d; 100_000],
        [0x7e, 0x7d].repeat(50_000),
        b"$$".repeat(50_000),
    ] {
        let start = Instant::now();
        run_jt808(&input);
        assert!(start.elapsed() < Duration::from_secs(2));
    }
    let start = Instant::now();
    run_watch(&b"[".repeat(100_000));
    run_watch(&b"[3G*".repeat(30_000));
    assert!(start.elapsed() < Duration::from_secs(2));
    let deep = format!("<Notify>{}</Notify>", "<a>".repeat(10_000));
    assert!(matches!(
        gb28181::parse_notify(deep.as_bytes()),
        Err(gb28181::NotifyError::Malformed { .. })
    ));
}
