//! Arbitrary un-escaped frame content into the packet and message layers, with and without
//! checksum verification (so the fuzzer reaches the body decoders without forging checksums).
#![no_main]

use chengyun_ingest::jt808::{Packet, decode_location_body, decode_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::decode(data) {
        let _ = decode_message(&p);
    }
    if let Ok(p) = Packet::decode_unverified(data) {
        let _ = decode_message(&p);
        let _ = p.encode_frame();
    }
    let _ = decode_location_body(data);
});
