//! Arbitrary bytes as a GB/T 28181 alarm Notify document.
#![no_main]

use chengyun_ingest::gb28181::{encode_response, parse_notify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = parse_notify(data) {
        let _ = encode_response(&n, true);
    }
});
