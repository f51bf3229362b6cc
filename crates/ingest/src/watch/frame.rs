//! Framing of the "3G" watch protocol: `[VENDOR*DEVICEID*LEN*CONTENT]`.
//!
//! LEN is exactly four hex digits giving the byte length of CONTENT. CONTENT may be binary
//! (voice and image uploads), so the frame end is found by LEN, not by searching for `]`; the
//! byte after CONTENT must be `]`. Some firmwares insert a 4-hex-digit sequence number before LEN
//! (`[SG*id*0001*0002*LK]`); that variant is recognised when the field after the id is followed by
//! another 4-hex-digit field and `*`.

use crate::stream::{CodecError, FrameCodec};

/// Largest CONTENT accepted by default. LEN can express 65535, but text messages are short; a
/// gateway that accepts voice uploads raises it.
pub const DEFAULT_MAX_CONTENT_LEN: usize = 8 * 1024;
/// Longest vendor or device id accepted.
pub const MAX_ID_LEN: usize = 32;

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WatchFrame {
    /// Vendor tag (`3G`, `SG`, `CS`…).
    pub vendor: String,
    /// Device id (usually the IMEI or its last 10 digits).
    pub device_id: String,
    /// Optional sequence field of the indexed variant.
    pub index: Option<String>,
    /// CONTENT bytes.
    pub content: Vec<u8>,
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchFrameError {
    /// Bytes before the next `[`.
    #[error("skipped {skipped} bytes of garbage before the next '['")]
    Garbage {
        /// Bytes skipped.
        skipped: usize,
    },
    /// A header field (vendor, id, LEN) that breaks its rule.
    #[error("bad {field}: {reason}")]
    BadHeader {
        /// Field.
        field: &'static str,
        /// Rule broken.
        reason: String,
        /// Bytes to drop.
        discard: usize,
    },
    /// LEN above the maximum.
    #[error("content length {len} exceeds the maximum of {max}")]
    Oversized {
        /// Declared length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The byte after CONTENT is not `]` (LEN does not match the content).
    #[error("length mismatch: expected ']' after {len} content bytes, found 0x{found:02x}")]
    LengthMismatch {
        /// Declared length.
        len: usize,
        /// The byte found.
        found: u8,
    },
}

impl CodecError for WatchFrameError {
    fn discard(&self) -> usize {
        match self {
            WatchFrameError::Garbage { skipped } => (*skipped).max(1),
            WatchFrameError::BadHeader { discard, .. } => (*discard).max(1),
            // Drop the `[` only: the next frame may start inside what looked like content.
            WatchFrameError::Oversized { .. } | WatchFrameError::LengthMismatch { .. } => 1,
        }
    }
}

/// The watch frame codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchFrameCodec {
    /// Largest CONTENT.
    pub max_content_len: usize,
}

impl Default for WatchFrameCodec {
    fn default() -> Self {
        Self {
            max_content_len: DEFAULT_MAX_CONTENT_LEN,
        }
    }
}

impl FrameCodec for WatchFrameCodec {
    type Frame = WatchFrame;
    type Error = WatchFrameError;

    fn parse_frame(&self, buf: &[u8]) -> Result<Option<(WatchFrame, usize)>, WatchFrameError> {
        parse_frame_with(buf, self.max_content_len)
    }
}

/// [`FrameCodec::parse_frame`] with the default maximum.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(WatchFrame, usize)>, WatchFrameError> {
    parse_frame_with(buf, DEFAULT_MAX_CONTENT_LEN)
}

/// Read a `*`-terminated header field starting at `start`; `Ok(None)` if the buffer ends first.
fn field(
    buf: &[u8],
    start: usize,
    name: &'static str,
    max: usize,
) -> Result<Option<(String, usize)>, WatchFrameError> {
    for (i, &b) in buf.iter().enumerate().skip(start) {
        if b == b'*' {
            if i == start {
                return Err(WatchFrameError::BadHeader {
                    field: name,
                    reason: "empty".into(),
                    discard: 1,
                });
            }
            let text = String::from_utf8_lossy(&buf[start..i]).into_owned();
            return Ok(Some((text, i + 1)));
        }
        if b == b'[' {
            return Err(WatchFrameError::BadHeader {
                field: name,
                reason: "'[' inside the header".into(),
                discard: i,
            });
        }
        if !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(WatchFrameError::BadHeader {
                field: name,
                reason: format!("byte 0x{b:02x} is not alphanumeric"),
                discard: 1,
            });
        }
        if i - start >= max {
            return Err(WatchFrameError::BadHeader {
                field: name,
                reason: format!("longer than {max} bytes"),
                discard: 1,
            });
        }
    }
    Ok(None)
}

fn hex4(bytes: &[u8]) -> Option<usize> {
    if bytes.len() != 4 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| usize::from_str_radix(s, 16).ok())
}

fn parse_frame_with(
    buf: &[u8],
    max: usize,
) -> Result<Option<(WatchFrame, usize)>, WatchFrameError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != b'[' {
        let skipped = buf.iter().position(|&b| b == b'[').unwrap_or(buf.len());
        return Err(WatchFrameError::Garbage { skipped });
    }
    let Some((vendor, pos)) = field(buf, 1, "vendor", MAX_ID_LEN)? else {
        return Ok(None);
    };
    let Some((device_id, pos)) = field(buf, pos, "device id", MAX_ID_LEN)? else {
        return Ok(None);
    };
    // LEN, or index then LEN.
    let Some(len_field) = buf.get(pos..pos + 5) else {
        return incomplete_header(buf, pos);
    };
    let (index, len_at) = match (hex4(&len_field[..4]), len_field[4]) {
        (Some(_), b'*') => match buf.get(pos + 5..pos + 10) {
            Some(next) if hex4(&next[..4]).is_some() && next[4] == b'*' => (
                Some(String::from_utf8_lossy(&len_field[..4]).into_owned()),
                pos + 5,
            ),
            None if buf.len() < pos + 10
                && looks_like_len_prefix(buf.get(pos + 5..).unwrap_or_default()) =>
            {
                return Ok(None);
            }
            _ => (None, pos),
        },
        _ => {
            return Err(WatchFrameError::BadHeader {
                field: "LEN",
                reason: format!(
                    "{:?} is not 4 hex digits followed by '*'",
                    String::from_utf8_lossy(len_field)
                ),
                discard: 1,
            });
        }
    };
    let len =
        buf.get(len_at..len_at + 4)
            .and_then(hex4)
            .ok_or_else(|| WatchFrameError::BadHeader {
                field: "LEN",
                reason: "not 4 hex digits".into(),
                discard: 1,
            })?;
    if len > max {
        return Err(WatchFrameError::Oversized { len, max });
    }
    let start = len_at + 5;
    let Some(content) = buf.get(start..start + len) else {
        return Ok(None);
    };
    let Some(&close) = buf.get(start + len) else {
        return Ok(None);
    };
    if close != b']' {
        return Err(WatchFrameError::LengthMismatch { len, found: close });
    }
    Ok(Some((
        WatchFrame {
            vendor,
            device_id,
            index,
            content: content.to_vec(),
        },
        start + len + 1,
    )))
}

/// Whether `tail` could still become `HHHH*` (the LEN after an index).
fn looks_like_len_prefix(tail: &[u8]) -> bool {
    tail.iter().enumerate().all(|(i, b)| {
        if i < 4 {
            b.is_ascii_hexdigit()
        } else {
            *b == b'*'
        }
    })
}

fn incomplete_header(
    buf: &[u8],
    pos: usize,
) -> Result<Option<(WatchFrame, usize)>, WatchFrameError> {
    // Fewer than 5 bytes after the id: fail early if they already cannot be LEN.
    let tail = buf.get(pos..).unwrap_or_default();
    if looks_like_len_prefix(tail) {
        Ok(None)
    } else {
        Err(WatchFrameError::BadHeader {
            field: "LEN",
            reason: format!(
                "{:?} is not 4 hex digits followed by '*'",
                String::from_utf8_lossy(tail)
            ),
            discard: 1,
        })
    }
}

/// Build a frame: `[vendor*device_id*LEN*content]`.
pub fn encode_frame(vendor: &str, device_id: &str, content: &[u8]) -> Option<Vec<u8>> {
    if content.len() > 0xffff {
        return None;
    }
    let mut out = format!("[{vendor}*{device_id}*{:04X}*", content.len()).into_bytes();
    out.extend_from_slice(content);
    out.push(b']');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_by_len_even_with_brackets_in_content() {
        let buf = b"[3G*1234567890*0005*a]b[c][SG";
        let (f, n) = parse_frame(buf).expect("ok").expect("frame");
        assert_eq!(f.content, b"a]b[c");
        assert_eq!(n, 26);
        assert_eq!(parse_frame(&buf[n..]), Ok(None));
    }

    #[test]
    fn indexed_variant() {
        let (f, _) = parse_frame(b"[SG*8800000015*0001*0002*LK]")
            .expect("ok")
            .expect("frame");
        assert_eq!(f.index.as_deref(), Some("0001"));
        assert_eq!(f.content, b"LK");
    }
}
