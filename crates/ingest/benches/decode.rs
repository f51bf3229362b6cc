//! Decode throughput of a real JT/T 808 0x0200 frame and a watch UD frame.

use std::hint::black_box;

use chengyun_ingest::jt808::{Jt808Frame, Packet, decode_message, parse_frame};
use chengyun_ingest::watch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The shared traccar vectors (read at run time; nothing from /work/shared/data is copied in).
const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/traccar-protocol-vectors/jt808_decoder_vectors.csv"
);

/// traccar Jt808ProtocolDecoderTest line 337: a plain 2013 0x0200 report (SOS bit set) with one
/// TLV, correctly check-coded.
fn jt808_location_frame() -> Vec<u8> {
    let mut rdr = csv::Reader::from_path(VECTORS).expect("shared vectors present");
    for row in rdr.records() {
        let row = row.expect("csv row");
        if row.get(1) == Some("337") {
            return hex::decode(row.get(5).expect("payload column")).expect("hex payload");
        }
    }
    panic!("row 337 not found in {VECTORS}");
}

/// A UD report as a wristband sends it (Yingtan coordinates, worn, moving).
fn watch_ud_frame() -> Vec<u8> {
    let content = "UD,220414,134652,A,28.260450,N,117.069355,E,0.00,152.6,0.0,9,100,86,1532,3,00000010,4,1,460,0,9529,21809,158,9529,63555,133,9529,63554,129,9529,21405,127";
    watch::encode_frame("3G", "8800000015", content.as_bytes()).expect("short content")
}

fn bench(c: &mut Criterion) {
    let frame = jt808_location_frame();
    let ud = watch_ud_frame();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("jt808_0200_bytes", |b| {
        b.iter(|| {
            let (f, _) = parse_frame(black_box(&frame))
                .ok()
                .flatten()
                .expect("frame");
            let Jt808Frame::Binary(bytes) = f else {
                panic!("binary frame expected")
            };
            let packet = Packet::decode(&bytes).expect("packet");
            black_box(decode_message(&packet).expect("message"))
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("jt808_0200_frames", |b| {
        b.iter(|| {
            let (f, _) = parse_frame(black_box(&frame))
                .ok()
                .flatten()
                .expect("frame");
            let Jt808Frame::Binary(bytes) = f else {
                panic!("binary frame expected")
            };
            black_box(decode_message(&Packet::decode(&bytes).expect("packet")).expect("message"))
        })
    });
    g.throughput(Throughput::Bytes(ud.len() as u64));
    g.bench_function("watch_ud_bytes", |b| {
        b.iter(|| {
            let (f, _) = watch::parse_frame(black_box(&ud))
                .ok()
                .flatten()
                .expect("frame");
            black_box(watch::decode_content(&f).expect("message"))
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("watch_ud_frames", |b| {
        b.iter(|| {
            let (f, _) = watch::parse_frame(black_box(&ud))
                .ok()
                .flatten()
                .expect("frame");
            black_box(watch::decode_content(&f).expect("message"))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
