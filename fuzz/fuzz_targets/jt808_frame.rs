//! Arbitrary bytes through the JT/T 808 stream decoder: framing, escaping, checksum, header,
//! reassembly and body decoding must never panic and must always make progress.
#![no_main]

use chengyun_ingest::jt808::Jt808Decoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut dec = Jt808Decoder::default();
    // Feed in two chunks so partial frames are exercised.
    let (a, b) = data.split_at(data.len() / 2);
    dec.extend(a);
    let mut steps = 0usize;
    while dec.next_decoded().is_some() {
        steps += 1;
    }
    dec.extend(b);
    while dec.next_decoded().is_some() {
        steps += 1;
        assert!(steps <= data.len() + 2, "no progress");
    }
});
