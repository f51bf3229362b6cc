//! The incremental framing contract shared by the stream protocols, and a small buffered driver.

/// An error from a framing step that tells the caller how to resynchronise.
pub trait CodecError: std::error::Error {
    /// Number of bytes at the front of the buffer that must be dropped before parsing again.
    /// Always at least 1, so a loop over `parse_frame` always makes progress.
    fn discard(&self) -> usize;
}

/// Incremental framing over a byte buffer (mini-redis style).
pub trait FrameCodec {
    /// A complete frame, owned.
    type Frame;
    /// Why the bytes at the front of the buffer are not a frame.
    type Error: CodecError;

    /// Try to take one frame from the front of `buf`.
    ///
    /// * `Ok(Some((frame, consumed)))`: a frame; drop `consumed` bytes (always ≥ 1).
    /// * `Ok(None)`: the buffer holds the beginning of a frame; read more bytes.
    /// * `Err(e)`: drop `e.discard()` bytes and call again.
    fn parse_frame(&self, buf: &[u8]) -> Result<Option<(Self::Frame, usize)>, Self::Error>;
}

/// Counters a gateway exports as metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StreamStats {
    /// Frames returned.
    pub frames: u64,
    /// Framing errors returned.
    pub errors: u64,
    /// Bytes dropped by errors (garbage, bad frames, oversized frames).
    pub discarded_bytes: u64,
}

/// A codec plus its receive buffer: push bytes with [`StreamDecoder::extend`], pull results with
/// [`StreamDecoder::next_frame`] until it returns `None`.
#[derive(Debug, Clone)]
pub struct StreamDecoder<C> {
    codec: C,
    buf: Vec<u8>,
    stats: StreamStats,
}

impl<C: FrameCodec> StreamDecoder<C> {
    /// A decoder with an empty buffer.
    pub fn new(codec: C) -> Self {
        Self {
            codec,
            buf: Vec::new(),
            stats: StreamStats::default(),
        }
    }

    /// Append received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next frame or framing error, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<C::Frame, C::Error>> {
        match self.codec.parse_frame(&self.buf) {
            Ok(Some((frame, consumed))) => {
                self.drain(consumed);
                self.stats.frames += 1;
                Some(Ok(frame))
            }
            Ok(None) => None,
            Err(e) => {
                let n = e.discard().max(1);
                self.drain(n);
                self.stats.errors += 1;
                self.stats.discarded_bytes += n.min(u64::MAX as usize) as u64;
                Some(Err(e))
            }
        }
    }

    /// Bytes buffered and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Counters since creation.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// The codec (for its configuration).
    pub fn codec(&self) -> &C {
        &self.codec
    }

    fn drain(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
    }
}
