//! ISO-8859-15, smsd's 8-bit charset for texts (`Alphabet: ISO`), and UCS-2 big-endian,
//! its 16-bit one (`Alphabet: UCS2`).
//!
//! This module owns the byte-level conversions between those and Rust strings. ISO-8859-15
//! differs from Latin-1 in eight places (the euro sign among them), which is why the
//! standard library's Latin-1 shortcut (`char::from(u8)`) is not enough.

/// The eight code points where ISO-8859-15 differs from Latin-1.
const DIFFERENCES: [(u8, char); 8] = [
    (0xA4, '€'),
    (0xA6, 'Š'),
    (0xA8, 'š'),
    (0xB4, 'Ž'),
    (0xB8, 'ž'),
    (0xBC, 'Œ'),
    (0xBD, 'œ'),
    (0xBE, 'Ÿ'),
];

/// The character of an ISO-8859-15 byte (every byte has one).
pub fn iso_8859_15_char(b: u8) -> char {
    DIFFERENCES
        .iter()
        .find(|(byte, _)| *byte == b)
        .map_or(char::from(b), |(_, c)| *c)
}

/// The ISO-8859-15 byte of `c`, if it has one.
pub fn iso_8859_15_byte(c: char) -> Option<u8> {
    if let Some((b, _)) = DIFFERENCES.iter().find(|(_, ch)| *ch == c) {
        return Some(*b);
    }
    let b = u8::try_from(u32::from(c)).ok()?;
    // The Latin-1 characters ISO-8859-15 replaced have no byte of their own any more.
    (!DIFFERENCES.iter().any(|(byte, _)| *byte == b)).then_some(b)
}

/// Decodes ISO-8859-15 bytes.
pub fn decode_iso_8859_15(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| iso_8859_15_char(b)).collect()
}

/// Encodes `text` as ISO-8859-15, or `None` if a character has no byte there.
pub fn encode_iso_8859_15(text: &str) -> Option<Vec<u8>> {
    text.chars().map(iso_8859_15_byte).collect()
}

/// Encodes `text` as UTF-16 big-endian (what smsd's UCS2 files hold; characters beyond
/// the BMP become surrogate pairs, as the network sent them).
pub fn encode_ucs2_be(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Decodes UTF-16 big-endian bytes; `None` for an odd length or an unpaired surrogate.
pub fn decode_ucs2_be(bytes: &[u8]) -> Option<String> {
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|p| {
            u16::from_be_bytes([
                p.first().copied().unwrap_or(0),
                p.get(1).copied().unwrap_or(0),
            ])
        })
        .collect();
    String::from_utf16(&units).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_euro_sign_is_a4_and_the_latin1_currency_sign_has_no_byte() {
        assert_eq!(iso_8859_15_byte('€'), Some(0xA4));
        assert_eq!(iso_8859_15_byte('¤'), None);
        assert_eq!(iso_8859_15_char(0xA4), '€');
    }

    #[test]
    fn german_text_round_trips() {
        let bytes = encode_iso_8859_15("Grüße aus Köln € ok").unwrap();
        assert_eq!(bytes.len(), 19);
        assert_eq!(decode_iso_8859_15(&bytes), "Grüße aus Köln € ok");
    }

    #[test]
    fn cyrillic_has_no_iso_byte() {
        assert_eq!(encode_iso_8859_15("Привет"), None);
    }

    #[test]
    fn an_emoji_is_a_surrogate_pair_in_ucs2() {
        let bytes = encode_ucs2_be("😀");
        assert_eq!(bytes, [0xD8, 0x3D, 0xDE, 0x00]);
        assert_eq!(decode_ucs2_be(&bytes).as_deref(), Some("😀"));
    }

    #[test]
    fn odd_ucs2_bytes_and_lone_surrogates_do_not_decode() {
        assert_eq!(decode_ucs2_be(&[0x04]), None);
        assert_eq!(decode_ucs2_be(&[0xD8, 0x3D]), None);
    }
}
