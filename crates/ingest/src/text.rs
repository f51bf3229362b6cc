//! GBK text helpers shared by the codecs (JT/T 808 strings and GB/T 28181 documents are GBK).

use encoding_rs::GBK;

/// Decode GBK bytes, dropping trailing NUL and space padding of fixed-width fields.
/// Malformed sequences become U+FFFD rather than an error: a garbled plate must not drop a
/// registration, and the raw bytes are kept where they matter.
pub fn decode_gbk_trimmed(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .rposition(|&b| b != 0 && b != b' ')
        .map_or(0, |i| i + 1);
    let start = bytes[..end].iter().position(|&b| b != 0).unwrap_or(end);
    let (text, _, _) = GBK.decode(&bytes[start..end]);
    text.into_owned()
}

/// Encode text as GBK. `None` when the text holds characters GBK cannot represent: the encoder
/// would substitute HTML numeric references, which a device display shows as garbage.
pub fn encode_gbk(text: &str) -> Option<Vec<u8>> {
    let (bytes, _, had_errors) = GBK.encode(text);
    if had_errors {
        None
    } else {
        Some(bytes.into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_round_trip_of_a_plate() {
        let bytes = encode_gbk("赣L12345").expect("GBK can encode a plate");
        assert_eq!(bytes.len(), 8);
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0, 0, b' ']);
        assert_eq!(decode_gbk_trimmed(&padded), "赣L12345");
    }

    #[test]
    fn unencodable_text_is_reported() {
        assert_eq!(encode_gbk("emoji 😀"), None);
    }
}
