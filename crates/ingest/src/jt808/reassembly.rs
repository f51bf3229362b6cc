//! Sub-package reassembly (body properties bit 13).
//!
//! A long body (a batch upload, a photo) is split into `total` packages with consecutive serials
//! and 1-based indexes. Packages are collected per terminal and per message, keyed by
//! `(phone, msg_id, first serial, total)` where the first serial is `serial - (index - 1)`, so
//! two split messages in flight never mix. Pending bytes are bounded: a package that would push
//! the total above the bound evicts the oldest incomplete message first.

use std::collections::{BTreeMap, HashMap};

use super::header::{Packet, ProtocolVersion, TerminalPhone};

/// Default bound on bytes held in incomplete messages per reassembler (one connection).
pub const DEFAULT_MAX_PENDING_BYTES: usize = 256 * 1024;

/// A reassembled message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reassembled {
    /// Message id.
    pub msg_id: u16,
    /// Header layout of the packages.
    pub version: ProtocolVersion,
    /// Terminal.
    pub phone: TerminalPhone,
    /// Serial of package 1.
    pub first_serial: u16,
    /// The whole body.
    pub body: Vec<u8>,
}

/// Why a package was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    /// The packet has no sub-package fields.
    #[error("not a sub-package")]
    NotFragment,
    /// The same index twice with different content.
    #[error("package {index} of {total} received twice with different bodies")]
    Conflict {
        /// Index.
        index: u16,
        /// Total.
        total: u16,
    },
    /// One package larger than the whole bound.
    #[error("package of {len} bytes exceeds the pending bound of {max}")]
    TooLarge {
        /// Body length.
        len: usize,
        /// Bound.
        max: usize,
    },
}

type Key = (TerminalPhone, u16, u16, u16);

#[derive(Debug, Clone)]
struct Pending {
    version: ProtocolVersion,
    parts: BTreeMap<u16, Vec<u8>>,
    bytes: usize,
    age: u64,
}

/// Collects packages until a message is complete.
#[derive(Debug, Clone)]
pub struct Reassembler {
    max_pending_bytes: usize,
    pending: HashMap<Key, Pending>,
    pending_bytes: usize,
    clock: u64,
    evicted: u64,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PENDING_BYTES)
    }
}

impl Reassembler {
    /// A reassembler holding at most `max_pending_bytes` of incomplete bodies.
    pub fn new(max_pending_bytes: usize) -> Self {
        Self {
            max_pending_bytes,
            pending: HashMap::new(),
            pending_bytes: 0,
            clock: 0,
            evicted: 0,
        }
    }

    /// Bytes held in incomplete messages.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Incomplete messages dropped to respect the bound.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Add one package; the whole body once every index has arrived.
    pub fn push(&mut self, packet: &Packet) -> Result<Option<Reassembled>, ReassemblyError> {
        let h = &packet.header;
        let Some(info) = h.package else {
            return Err(ReassemblyError::NotFragment);
        };
        let len = packet.body.len();
        if len > self.max_pending_bytes {
            return Err(ReassemblyError::TooLarge {
                len,
                max: self.max_pending_bytes,
            });
        }
        let first_serial = h.serial.wrapping_sub(info.index.wrapping_sub(1));
        let key: Key = (h.phone.clone(), h.msg_id, first_serial, info.total);
        if let Some(existing) = self
            .pending
            .get(&key)
            .and_then(|p| p.parts.get(&info.index))
        {
            if *existing == packet.body {
                return Ok(None); // retransmission
            }
            return Err(ReassemblyError::Conflict {
                index: info.index,
                total: info.total,
            });
        }
        while self.pending_bytes + len > self.max_pending_bytes {
            let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.age)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(p) = self.pending.remove(&oldest) {
                self.pending_bytes -= p.bytes;
                self.evicted += 1;
            }
        }
        self.clock += 1;
        let clock = self.clock;
        let entry = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            version: h.version,
            parts: BTreeMap::new(),
            bytes: 0,
            age: clock,
        });
        entry.parts.insert(info.index, packet.body.clone());
        entry.bytes += len;
        self.pending_bytes += len;
        if entry.parts.len() < usize::from(info.total) {
            return Ok(None);
        }
        let Some(done) = self.pending.remove(&key) else {
            return Ok(None);
        };
        self.pending_bytes -= done.bytes;
        let body = done.parts.into_values().flatten().collect();
        Ok(Some(Reassembled {
            msg_id: h.msg_id,
            version: done.version,
            phone: key.0,
            first_serial,
            body,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jt808::header::{Header, PackageInfo};

    fn part(serial: u16, index: u16, total: u16, body: &[u8]) -> Packet {
        Packet {
            header: Header {
                msg_id: 0x0704,
                body_len: body.len() as u16,
                encryption: 0,
                version: ProtocolVersion::V2013,
                phone: TerminalPhone::Bcd("013800138000".into()),
                serial,
                package: Some(PackageInfo { total, index }),
            },
            body: body.to_vec(),
        }
    }

    #[test]
    fn out_of_order_packages_reassemble() {
        let mut r = Reassembler::default();
        assert_eq!(r.push(&part(12, 3, 3, b"ef")), Ok(None));
        assert_eq!(r.push(&part(10, 1, 3, b"ab")), Ok(None));
        assert_eq!(
            r.push(&part(10, 1, 3, b"ab")),
            Ok(None),
            "retransmission is ignored"
        );
        let done = r
            .push(&part(11, 2, 3, b"cd"))
            .expect("accepted")
            .expect("complete");
        assert_eq!(done.body, b"abcdef");
        assert_eq!(done.first_serial, 10);
        assert_eq!(r.pending_bytes(), 0);
    }

    #[test]
    fn bound_evicts_oldest_and_conflicts_are_errors() {
        let mut r = Reassembler::new(4);
        assert_eq!(r.push(&part(1, 1, 2, b"abc")), Ok(None));
        assert_eq!(
            r.push(&part(1, 1, 2, b"xyz")),
            Err(ReassemblyError::Conflict { index: 1, total: 2 })
        );
        assert_eq!(r.push(&part(20, 1, 2, b"de")), Ok(None));
        assert_eq!(r.evicted(), 1);
        assert_eq!(r.pending_bytes(), 2);
        assert_eq!(
            r.push(&part(30, 1, 2, b"too long")),
            Err(ReassemblyError::TooLarge { len: 8, max: 4 })
        );
    }
}
