//! Arbitrary bytes through the watch stream decoder and content decoder.
#![no_main]

use chengyun_ingest::StreamDecoder;
use chengyun_ingest::watch::{WatchFrameCodec, decode_content};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut dec = StreamDecoder::new(WatchFrameCodec::default());
    dec.extend(data);
    let mut steps = 0usize;
    while let Some(r) = dec.next_frame() {
        steps += 1;
        assert!(steps <= data.len() + 1, "no progress");
        if let Ok(frame) = r {
            let _ = decode_content(&frame);
        }
    }
});
