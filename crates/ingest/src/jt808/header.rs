//! The JT/T 808 message header (2013 and 2019 layouts) and the checked packet around a body.

use super::bcd;
use super::frame::xor_checksum;

/// Body properties bit 13: the message is one package of a split body.
pub const PROPS_SUBPACKAGE: u16 = 1 << 13;
/// Body properties bit 14: 2019 header (protocol version byte, 10-byte phone).
pub const PROPS_VERSION_2019: u16 = 1 << 14;
/// Body properties bits 0–9: body length.
pub const PROPS_LEN_MASK: u16 = 0x03ff;

/// Which header layout a frame used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ProtocolVersion {
    /// JT/T 808-2013 (and 2011): 6-byte BCD phone.
    V2013,
    /// JT/T 808-2019: version byte then a 10-byte BCD phone.
    V2019 {
        /// The protocol version byte (1 for the first 2019 edition).
        version: u8,
    },
}

impl ProtocolVersion {
    /// Bytes of the BCD phone field.
    pub fn phone_len(self) -> usize {
        match self {
            ProtocolVersion::V2013 => 6,
            ProtocolVersion::V2019 { .. } => 10,
        }
    }
}

/// The terminal phone number (the device's identity in JT/T 808).
///
/// The standard says BCD, but a number of trackers put a binary IMEI fragment there (traccar's
/// vectors include `4f07788ef676`), so non-BCD ids are kept as hex rather than rejected: the
/// identity is still stable and unique per device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub enum TerminalPhone {
    /// Decimal digits, as sent (leading zeros kept).
    Bcd(String),
    /// Lower-case hex of the raw bytes, when a nibble is not a decimal digit.
    Raw(String),
}

impl TerminalPhone {
    /// Decode the raw phone bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match bcd::decode(bytes) {
            Ok(digits) => TerminalPhone::Bcd(digits),
            Err(_) => TerminalPhone::Raw(bytes.iter().map(|b| format!("{b:02x}")).collect()),
        }
    }

    /// The id as text (digits or hex).
    pub fn as_str(&self) -> &str {
        match self {
            TerminalPhone::Bcd(s) | TerminalPhone::Raw(s) => s,
        }
    }

    /// Encode into `len` bytes for an outgoing header.
    pub fn to_bytes(&self, len: usize) -> Option<Vec<u8>> {
        match self {
            TerminalPhone::Bcd(digits) => bcd::encode(digits, len),
            TerminalPhone::Raw(hex) => {
                if hex.len() != len * 2 {
                    return None;
                }
                (0..len)
                    .map(|i| {
                        hex.get(2 * i..2 * i + 2)
                            .and_then(|h| u8::from_str_radix(h, 16).ok())
                    })
                    .collect()
            }
        }
    }
}

/// Sub-package fields, present when body properties bit 13 is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PackageInfo {
    /// Number of packages of the whole message.
    pub total: u16,
    /// 1-based index of this package.
    pub index: u16,
}

/// A decoded header.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Header {
    /// Message id.
    pub msg_id: u16,
    /// Body length from the properties (bits 0–9).
    pub body_len: u16,
    /// Encryption method bits 10–12 (0 = none, 1 = RSA).
    pub encryption: u8,
    /// Header layout.
    pub version: ProtocolVersion,
    /// Terminal phone.
    pub phone: TerminalPhone,
    /// Message serial number.
    pub serial: u16,
    /// Sub-package fields.
    pub package: Option<PackageInfo>,
}

impl Header {
    /// Header length in bytes for this layout.
    pub fn encoded_len(&self) -> usize {
        4 + usize::from(matches!(self.version, ProtocolVersion::V2019 { .. }))
            + self.version.phone_len()
            + 2
            + if self.package.is_some() { 4 } else { 0 }
    }
}

/// Why an un-escaped frame is not a well-formed packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Fewer bytes than the header needs.
    #[error("truncated: {field} needs {needed} bytes, {available} available")]
    Truncated {
        /// What was being read.
        field: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// The XOR check code does not match.
    #[error("bad checksum: computed 0x{computed:02x}, frame says 0x{received:02x}")]
    BadChecksum {
        /// XOR of header and body.
        computed: u8,
        /// Last byte of the frame.
        received: u8,
    },
    /// The body length in the properties does not match the bytes present.
    #[error("body length {declared} in the header, {actual} bytes present")]
    BodyLength {
        /// From the header.
        declared: u16,
        /// Present.
        actual: usize,
    },
    /// A sub-package with index 0, or an index above the total.
    #[error("bad package fields: index {index} of {total}")]
    BadPackage {
        /// Total.
        total: u16,
        /// Index.
        index: u16,
    },
}

/// A frame with a verified checksum, split into header and body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Packet {
    /// The header.
    pub header: Header,
    /// The body (or this package's part of it).
    pub body: Vec<u8>,
}

/// A cursor over a byte slice whose reads fail with [`PacketError::Truncated`]-style context
/// instead of panicking.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    pub(crate) fn bytes(
        &mut self,
        n: usize,
        field: &'static str,
    ) -> Result<&'a [u8], (&'static str, usize, usize)> {
        let available = self.remaining();
        let out = self
            .buf
            .get(self.pos..self.pos.saturating_add(n))
            .ok_or((field, n, available))?;
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, (&'static str, usize, usize)> {
        Ok(self.bytes(1, field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, (&'static str, usize, usize)> {
        let b = self.bytes(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, (&'static str, usize, usize)> {
        let b = self.bytes(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn truncated((field, needed, available): (&'static str, usize, usize)) -> PacketError {
    PacketError::Truncated {
        field,
        needed,
        available,
    }
}

impl Packet {
    /// Verify the checksum of an un-escaped binary frame and split it.
    pub fn decode(frame: &[u8]) -> Result<Packet, PacketError> {
        let Some((&received, content)) = frame.split_last() else {
            return Err(PacketError::Truncated {
                field: "checksum",
                needed: 1,
                available: 0,
            });
        };
        let computed = xor_checksum(content);
        if computed != received {
            return Err(PacketError::BadChecksum { computed, received });
        }
        Self::decode_content(content)
    }

    /// Like [`Packet::decode`] but without checking the check code (the last byte is dropped).
    /// For diagnostics and for test vectors recorded with wrong check codes; a gateway must use
    /// [`Packet::decode`].
    pub fn decode_unverified(frame: &[u8]) -> Result<Packet, PacketError> {
        let Some((_, content)) = frame.split_last() else {
            return Err(PacketError::Truncated {
                field: "checksum",
                needed: 1,
                available: 0,
            });
        };
        Self::decode_content(content)
    }

    fn decode_content(content: &[u8]) -> Result<Packet, PacketError> {
        let mut r = Reader::new(content);
        let msg_id = r.u16("message id").map_err(truncated)?;
        let props = r.u16("body properties").map_err(truncated)?;
        let version = if props & PROPS_VERSION_2019 != 0 {
            ProtocolVersion::V2019 {
                version: r.u8("protocol version").map_err(truncated)?,
            }
        } else {
            ProtocolVersion::V2013
        };
        let phone = TerminalPhone::from_bytes(
            r.bytes(version.phone_len(), "terminal phone")
                .map_err(truncated)?,
        );
        let serial = r.u16("serial").map_err(truncated)?;
        let package = if props & PROPS_SUBPACKAGE != 0 {
            let total = r.u16("package total").map_err(truncated)?;
            let index = r.u16("package index").map_err(truncated)?;
            if index == 0 || index > total {
                return Err(PacketError::BadPackage { total, index });
            }
            Some(PackageInfo { total, index })
        } else {
            None
        };
        let body_len = props & PROPS_LEN_MASK;
        let body = r.rest();
        if body.len() != usize::from(body_len) {
            return Err(PacketError::BodyLength {
                declared: body_len,
                actual: body.len(),
            });
        }
        let header = Header {
            msg_id,
            body_len,
            encryption: ((props >> 10) & 0x07) as u8,
            version,
            phone,
            serial,
            package,
        };
        Ok(Packet {
            header,
            body: body.to_vec(),
        })
    }

    /// Header bytes, body and checksum, un-escaped (what goes between the delimiters).
    /// `None` if the body is longer than the 10-bit length field or the phone does not fit.
    pub fn encode_content(&self) -> Option<Vec<u8>> {
        let h = &self.header;
        if self.body.len() > usize::from(PROPS_LEN_MASK) {
            return None;
        }
        let mut props = self.body.len() as u16 | (u16::from(h.encryption & 0x07) << 10);
        if h.package.is_some() {
            props |= PROPS_SUBPACKAGE;
        }
        let mut out = Vec::with_capacity(h.encoded_len() + self.body.len() + 1);
        out.extend_from_slice(&h.msg_id.to_be_bytes());
        if let ProtocolVersion::V2019 { version } = h.version {
            props |= PROPS_VERSION_2019;
            out.extend_from_slice(&props.to_be_bytes());
            out.push(version);
        } else {
            out.extend_from_slice(&props.to_be_bytes());
        }
        out.extend_from_slice(&h.phone.to_bytes(h.version.phone_len())?);
        out.extend_from_slice(&h.serial.to_be_bytes());
        if let Some(p) = h.package {
            out.extend_from_slice(&p.total.to_be_bytes());
            out.extend_from_slice(&p.index.to_be_bytes());
        }
        out.extend_from_slice(&self.body);
        out.push(xor_checksum(&out));
        Some(out)
    }

    /// The complete escaped frame with delimiters.
    pub fn encode_frame(&self) -> Option<Vec<u8>> {
        let content = self.encode_content()?;
        let mut out = Vec::with_capacity(content.len() + 8);
        super::frame::escape_into(&content, &mut out);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: ProtocolVersion, package: Option<PackageInfo>) -> Header {
        Header {
            msg_id: 0x0200,
            body_len: 3,
            encryption: 0,
            version,
            phone: TerminalPhone::Bcd(if version == ProtocolVersion::V2013 {
                "013800138000".into()
            } else {
                "00000000013800138000".into()
            }),
            serial: 0x7e7d,
            package,
        }
    }

    #[test]
    fn round_trip_2013_and_2019_with_packages() {
        for version in [
            ProtocolVersion::V2013,
            ProtocolVersion::V2019 { version: 1 },
        ] {
            for package in [None, Some(PackageInfo { total: 3, index: 2 })] {
                let packet = Packet {
                    header: header(version, package),
                    body: vec![0x7e, 1, 2],
                };
                let content = packet.encode_content().expect("encodes");
                assert_eq!(Packet::decode(&content), Ok(packet.clone()));
                assert_eq!(content.len(), packet.header.encoded_len() + 3 + 1);
            }
        }
    }

    #[test]
    fn errors_name_the_field() {
        let packet = Packet {
            header: header(ProtocolVersion::V2013, None),
            body: vec![1, 2, 3],
        };
        let mut content = packet.encode_content().expect("encodes");
        let last = content.len() - 1;
        content[last] ^= 0xff;
        assert!(matches!(
            Packet::decode(&content),
            Err(PacketError::BadChecksum { .. })
        ));
        // Header cut after the phone: XOR of the remaining bytes appended as checksum.
        let mut short = content[..8].to_vec();
        short.push(xor_checksum(&short));
        assert_eq!(
            Packet::decode(&short),
            Err(PacketError::Truncated {
                field: "terminal phone",
                needed: 6,
                available: 4
            })
        );
        assert_eq!(
            Packet::decode(&[]),
            Err(PacketError::Truncated {
                field: "checksum",
                needed: 1,
                available: 0
            })
        );
    }

    #[test]
    fn non_bcd_phone_is_kept_as_hex() {
        let phone = TerminalPhone::from_bytes(&[0x4f, 0x07, 0x78, 0x8e, 0xf6, 0x76]);
        assert_eq!(phone, TerminalPhone::Raw("4f07788ef676".into()));
        assert_eq!(
            phone.to_bytes(6),
            Some(vec![0x4f, 0x07, 0x78, 0x8e, 0xf6, 0x76])
        );
    }
}
