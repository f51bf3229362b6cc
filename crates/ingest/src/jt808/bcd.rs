//! Packed BCD (two decimal digits per byte, high nibble first), used for the terminal phone
//! number and the location time.

/// A nibble above 9 where a decimal digit was required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("byte {index} is 0x{byte:02x}, not two BCD digits")]
pub struct BadBcd {
    /// Offset of the offending byte within the BCD field.
    pub index: usize,
    /// The byte.
    pub byte: u8,
}

/// Decode packed BCD into decimal digits.
pub fn decode(bytes: &[u8]) -> Result<String, BadBcd> {
    let mut out = String::with_capacity(bytes.len() * 2);
    for (index, &byte) in bytes.iter().enumerate() {
        let (hi, lo) = (byte >> 4, byte & 0x0f);
        if hi > 9 || lo > 9 {
            return Err(BadBcd { index, byte });
        }
        out.push(char::from(b'0' + hi));
        out.push(char::from(b'0' + lo));
    }
    Ok(out)
}

/// The value of one BCD byte (0–99).
pub fn byte_value(byte: u8, index: usize) -> Result<u8, BadBcd> {
    let (hi, lo) = (byte >> 4, byte & 0x0f);
    if hi > 9 || lo > 9 {
        return Err(BadBcd { index, byte });
    }
    Ok(hi * 10 + lo)
}

/// Encode decimal digits into `len` bytes of packed BCD, left-padded with zeros (a phone number
/// `13800138000` becomes `01 38 00 13 80 00`). `None` if a character is not a digit or the number
/// does not fit.
pub fn encode(digits: &str, len: usize) -> Option<Vec<u8>> {
    if digits.len() > len * 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut padded = vec![b'0'; len * 2 - digits.len()];
    padded.extend_from_slice(digits.as_bytes());
    Some(
        padded
            .chunks(2)
            .map(|p| ((p[0] - b'0') << 4) | (p[1] - b'0'))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes = encode("13800138000", 6).expect("fits");
        assert_eq!(bytes, [0x01, 0x38, 0x00, 0x13, 0x80, 0x00]);
        assert_eq!(decode(&bytes).as_deref(), Ok("013800138000"));
    }

    #[test]
    fn rejects_hex_nibbles_and_overflow() {
        assert_eq!(
            decode(&[0x12, 0x4f]),
            Err(BadBcd {
                index: 1,
                byte: 0x4f
            })
        );
        assert_eq!(
            byte_value(0xa1, 3),
            Err(BadBcd {
                index: 3,
                byte: 0xa1
            })
        );
        assert_eq!(encode("1234567", 3), None);
        assert_eq!(encode("12a4", 3), None);
    }
}
