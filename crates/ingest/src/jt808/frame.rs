//! JT/T 808 framing: `7E <escaped header+body+checksum> 7E`.
//!
//! Inside a frame 0x7E is sent as `7D 02` and 0x7D as `7D 01`. The frame layer only delimits and
//! un-escapes; the checksum is checked one level up ([`super::Packet::decode`]) so the raw
//! un-escaped bytes of a frame with a bad checksum can still be logged.
//!
//! Two quirks seen in the field (and in traccar's frame decoder tests) are accepted:
//! a `$$` (`24 24`) prefix right before the opening 0x7E is dropped silently, and an ASCII
//! `( … )` sentence, which some e-lock firmwares interleave with binary frames, is passed through
//! as [`Jt808Frame::Text`].
//!
//! Delimiter handling: a frame is consumed up to, but not including, its closing 0x7E. That byte
//! is then either the opening delimiter of the next frame (devices that share delimiters) or is
//! followed by another 0x7E, in which case the lone delimiter is dropped without an error. The
//! same rule after a bad frame makes resynchronisation automatic.

use crate::stream::{CodecError, FrameCodec};

/// The frame delimiter.
pub const DELIMITER: u8 = 0x7e;
/// The escape byte.
pub const ESCAPE: u8 = 0x7d;

/// Largest escaped frame accepted by default: a 2019 header (21 bytes incl. sub-package fields),
/// the largest body the 10-bit length allows (1023), a checksum, every byte escaped (×2), plus
/// both delimiters.
pub const DEFAULT_MAX_FRAME_LEN: usize = 2 * (21 + 1023 + 1) + 2;

/// Longest ASCII `( … )` sentence accepted.
pub const MAX_TEXT_FRAME_LEN: usize = 512;

/// One delimited frame.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Jt808Frame {
    /// Un-escaped bytes between the delimiters: header, body and the trailing checksum byte.
    Binary(Vec<u8>),
    /// An ASCII `( … )` sentence, parentheses included.
    Text(String),
}

/// Why bytes at the front of the buffer are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Bytes before the next start marker (0x7E or `(`).
    #[error("skipped {skipped} bytes of garbage before the next start marker")]
    Garbage {
        /// Bytes skipped.
        skipped: usize,
    },
    /// The frame exceeds the maximum length.
    #[error("frame of at least {len} bytes exceeds the maximum of {max}")]
    Oversized {
        /// Bytes seen so far (or the whole frame).
        len: usize,
        /// The limit.
        max: usize,
        /// Bytes to drop.
        discard: usize,
    },
    /// `7D` followed by something other than `01`/`02`, or as the last byte of a frame.
    #[error("bad escape: 0x7d followed by {follower} at offset {offset}")]
    BadEscape {
        /// Offset of the 0x7D within the escaped frame (0 = opening delimiter).
        offset: usize,
        /// The following byte, as hex, or "end of frame".
        follower: String,
        /// Bytes to drop.
        discard: usize,
    },
    /// A text sentence holding non-printable bytes.
    #[error("text frame holds a non-printable byte 0x{byte:02x} at offset {offset}")]
    BadText {
        /// Offset within the sentence.
        offset: usize,
        /// The byte.
        byte: u8,
        /// Bytes to drop.
        discard: usize,
    },
}

impl FrameError {
    /// The same error seen from `n` bytes earlier in the buffer.
    fn shifted(mut self, n: usize) -> Self {
        match &mut self {
            FrameError::Garbage { skipped } => *skipped += n,
            FrameError::Oversized { discard, .. }
            | FrameError::BadEscape { discard, .. }
            | FrameError::BadText { discard, .. } => *discard += n,
        }
        self
    }
}

impl CodecError for FrameError {
    fn discard(&self) -> usize {
        match self {
            FrameError::Garbage { skipped } => (*skipped).max(1),
            FrameError::Oversized { discard, .. }
            | FrameError::BadEscape { discard, .. }
            | FrameError::BadText { discard, .. } => (*discard).max(1),
        }
    }
}

/// The JT/T 808 frame codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jt808FrameCodec {
    /// Largest escaped frame, delimiters included.
    pub max_frame_len: usize,
}

impl Default for Jt808FrameCodec {
    fn default() -> Self {
        Self {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
        }
    }
}

impl FrameCodec for Jt808FrameCodec {
    type Frame = Jt808Frame;
    type Error = FrameError;

    fn parse_frame(&self, buf: &[u8]) -> Result<Option<(Jt808Frame, usize)>, FrameError> {
        parse_frame_with(buf, self.max_frame_len)
    }
}

/// [`FrameCodec::parse_frame`] with the default maximum length.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Jt808Frame, usize)>, FrameError> {
    parse_frame_with(buf, DEFAULT_MAX_FRAME_LEN)
}

fn parse_frame_with(buf: &[u8], max: usize) -> Result<Option<(Jt808Frame, usize)>, FrameError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    // Known `$$` prefix directly before a binary frame.
    if buf.starts_with(b"$$") {
        return match buf.get(2) {
            None => Ok(None),
            Some(&DELIMITER) => Ok(parse_binary(&buf[2..], max)
                .map_err(|e| e.shifted(2))?
                .map(|(f, n)| (f, n + 2))),
            Some(_) => Err(FrameError::Garbage { skipped: 2 }),
        };
    }
    match first {
        // A spent closing delimiter followed by a text sentence.
        DELIMITER if buf.get(1) == Some(&b'(') => parse_text(&buf[1..])
            .map(|o| o.map(|(f, n)| (f, n + 1)))
            .map_err(|e| e.shifted(1)),
        DELIMITER => parse_binary(buf, max),
        b'(' => parse_text(buf),
        _ => {
            let skipped = buf
                .iter()
                .position(|&b| b == DELIMITER || b == b'(' || b == b'$')
                .unwrap_or(buf.len());
            // A lone `$` at the start that is not `$$` is garbage too.
            Err(FrameError::Garbage {
                skipped: skipped.max(1),
            })
        }
    }
}

fn parse_binary(buf: &[u8], max: usize) -> Result<Option<(Jt808Frame, usize)>, FrameError> {
    // A run of delimiters (`7E 7E`: the closing one of the previous frame and the opening one
    // of this frame) is not an error: only the last delimiter of the run opens the frame.
    let open = buf
        .iter()
        .position(|&b| b != DELIMITER)
        .map_or(buf.len().saturating_sub(1), |p| p.saturating_sub(1));
    match parse_opened(buf.get(open..).unwrap_or_default(), max).map_err(|e| e.shifted(open))? {
        Some((frame, n)) => Ok(Some((frame, n + open))),
        None if buf.len() > max => Err(FrameError::Oversized {
            len: buf.len(),
            max,
            discard: buf.len(),
        }),
        None => Ok(None),
    }
}

/// `buf[0]` is the opening delimiter and `buf[1]` is not a delimiter.
fn parse_opened(buf: &[u8], max: usize) -> Result<Option<(Jt808Frame, usize)>, FrameError> {
    let Some(end) = buf
        .iter()
        .skip(1)
        .position(|&b| b == DELIMITER)
        .map(|p| p + 1)
    else {
        return Ok(None);
    };
    if end + 1 > max {
        return Err(FrameError::Oversized {
            len: end + 1,
            max,
            discard: end,
        });
    }
    let escaped = &buf[1..end];
    let mut out = Vec::with_capacity(escaped.len());
    let mut i = 0;
    while let Some(&b) = escaped.get(i) {
        if b == ESCAPE {
            match escaped.get(i + 1) {
                Some(0x01) => out.push(ESCAPE),
                Some(0x02) => out.push(DELIMITER),
                other => {
                    return Err(FrameError::BadEscape {
                        offset: i + 1,
                        follower: other
                            .map_or_else(|| "end of frame".to_owned(), |f| format!("0x{f:02x}")),
                        discard: end,
                    });
                }
            }
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(Some((Jt808Frame::Binary(out), end)))
}

fn parse_text(buf: &[u8]) -> Result<Option<(Jt808Frame, usize)>, FrameError> {
    let limit = buf.len().min(MAX_TEXT_FRAME_LEN);
    for (offset, &byte) in buf.iter().enumerate().take(limit).skip(1) {
        if byte == b')' {
            let text = String::from_utf8_lossy(&buf[..=offset]).into_owned();
            return Ok(Some((Jt808Frame::Text(text), offset + 1)));
        }
        if !(0x20..0x7f).contains(&byte) {
            // A binary frame may start right here: resync on it.
            return Err(FrameError::BadText {
                offset,
                byte,
                discard: offset,
            });
        }
    }
    if buf.len() >= MAX_TEXT_FRAME_LEN {
        return Err(FrameError::Oversized {
            len: buf.len(),
            max: MAX_TEXT_FRAME_LEN,
            discard: MAX_TEXT_FRAME_LEN,
        });
    }
    Ok(None)
}

/// Escape header+body+checksum and wrap in delimiters.
pub fn escape_into(content: &[u8], out: &mut Vec<u8>) {
    out.reserve(content.len() + 4);
    out.push(DELIMITER);
    for &b in content {
        match b {
            DELIMITER => out.extend_from_slice(&[ESCAPE, 0x02]),
            ESCAPE => out.extend_from_slice(&[ESCAPE, 0x01]),
            _ => out.push(b),
        }
    }
    out.push(DELIMITER);
}

/// XOR of all bytes: the JT/T 808 check code.
pub fn xor_checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_and_leaves_the_closing_delimiter() {
        let buf = [0x7e, 0x30, 0x7d, 0x02, 0x08, 0x7d, 0x01, 0x55, 0x7e];
        let (frame, n) = parse_frame(&buf).expect("valid").expect("complete");
        assert_eq!(
            frame,
            Jt808Frame::Binary(vec![0x30, 0x7e, 0x08, 0x7d, 0x55])
        );
        assert_eq!(n, 8);
    }

    #[test]
    fn incomplete_then_oversized() {
        assert_eq!(parse_frame(&[0x7e, 1, 2, 3]), Ok(None));
        let codec = Jt808FrameCodec { max_frame_len: 8 };
        let err = codec
            .parse_frame(&[0x7e, 0, 0, 0, 0, 0, 0, 0, 0, 0])
            .expect_err("too long");
        assert!(matches!(
            err,
            FrameError::Oversized {
                len: 10,
                max: 8,
                discard: 10
            }
        ));
    }

    #[test]
    fn bad_escape_names_the_follower() {
        let err = parse_frame(&[0x7e, 0x01, 0x7d, 0x03, 0x7e]).expect_err("bad escape");
        assert_eq!(
            err,
            FrameError::BadEscape {
                offset: 2,
                follower: "0x03".into(),
                discard: 4
            }
        );
        let err = parse_frame(&[0x7e, 0x01, 0x7d, 0x7e]).expect_err("escape at end");
        assert!(
            matches!(err, FrameError::BadEscape { follower, .. } if follower == "end of frame")
        );
    }

    #[test]
    fn garbage_is_counted_and_double_delimiters_are_silent() {
        assert_eq!(
            parse_frame(b"xyz\x7e\x01\x01\x7e"),
            Err(FrameError::Garbage { skipped: 3 })
        );
        let (frame, n) = parse_frame(&[0x7e, 0x7e, 0x01, 0x01, 0x7e])
            .expect("ok")
            .expect("frame");
        assert_eq!(frame, Jt808Frame::Binary(vec![1, 1]));
        assert_eq!(n, 4);
    }

    #[test]
    fn escape_round_trip() {
        let content = [0x7e, 0x7d, 0x00, 0x7e];
        let mut out = Vec::new();
        escape_into(&content, &mut out);
        assert_eq!(out, [0x7e, 0x7d, 0x02, 0x7d, 0x01, 0x00, 0x7d, 0x02, 0x7e]);
        let (frame, _) = parse_frame(&out).expect("ok").expect("frame");
        assert_eq!(frame, Jt808Frame::Binary(content.to_vec()));
    }
}
