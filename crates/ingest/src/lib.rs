//! Device protocol codecs for chengyun's IoT brain (物联大脑).
//!
//! This crate is the pure, synchronous layer of ingest: bytes in, typed messages out, and typed
//! platform commands back to bytes. It owns no sockets, so the same code runs in the TCP
//! gateways, in tests, in benchmarks and under the fuzzers.
//!
//! Every stream protocol exposes the same incremental framing contract, shaped after
//! mini-redis' `Connection::parse_frame`:
//!
//! * [`FrameCodec::parse_frame`] looks at the bytes buffered so far and answers
//!   `Ok(Some((frame, consumed)))`, `Ok(None)` ("need more bytes"), or `Err(e)` where
//!   [`CodecError::discard`] says how many bytes to drop to resynchronise on the next start marker.
//! * frames have a hard maximum size, so a peer can never make a gateway buffer without bound;
//! * one bad frame never poisons the connection: after any error the next call starts at the next
//!   start marker.
//!
//! [`StreamDecoder`] wraps a codec and its buffer for callers that just push bytes and pull frames.
//!
//! Modules: [`jt808`] (JT/T 808-2013/2019 vehicle and e-bike trackers), [`watch`] (the "3G" text
//! protocol of wristbands and corrections bracelets), [`gb28181`] (GB/T 28181 alarm `Notify`).

pub mod gb28181;
pub mod jt808;
#[cfg(feature = "runtime")]
pub mod source;
pub mod stream;
pub mod text;
pub mod watch;

pub use stream::{CodecError, FrameCodec, StreamDecoder, StreamStats};
