//! The GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1) with its extension table, and
//! the packing of septets into octets.
//!
//! This module owns the character tables and the bit arithmetic: which characters a GSM
//! 7-bit text may hold and how many septets each takes ([`septets_for`]), the septets of
//! one character ([`encode_char`]), the reverse ([`decode_septets`]), and septet packing at
//! any septet offset ([`pack`], [`unpack`], [`put_septet`], [`get_septet`]): after a user
//! data header the text starts at the next septet boundary, so the fill bits fall out of
//! the offset arithmetic instead of being a special case.

use super::error::DecodeError;

/// The escape septet: the next septet is read from the extension table.
pub const ESCAPE: u8 = 0x1B;

/// The default alphabet, indexed by septet. Index 0x1B is the escape to the extension
/// table; it never decodes through this table (see [`decode_septets`]) and is skipped when
/// encoding, so the placeholder there is never produced or matched.
const DEFAULT: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: (septet after the escape, character). Form feed is the "page
/// break" of TS 23.038.
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// The septets of one character: one for the default alphabet, two (escape + code) for the
/// extension table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Septets {
    /// A character of the default alphabet.
    One(u8),
    /// A character of the extension table: [`ESCAPE`] then this code.
    Escaped(u8),
}

impl Septets {
    /// How many septets the character takes.
    pub fn count(self) -> usize {
        match self {
            Septets::One(_) => 1,
            Septets::Escaped(_) => 2,
        }
    }
}

/// The septets for `c`, or `None` when `c` is not in the GSM 7-bit alphabet (the text then
/// goes as UCS-2).
pub fn encode_char(c: char) -> Option<Septets> {
    if c != '\u{1B}' {
        if let Some(code) = DEFAULT.iter().position(|&d| d == c) {
            // position < 128, so the cast keeps every bit.
            return Some(Septets::One(code as u8));
        }
    }
    EXTENSION
        .iter()
        .find(|&&(_, e)| e == c)
        .map(|&(code, _)| Septets::Escaped(code))
}

/// Septets `c` takes in GSM 7-bit, `None` when it is not in the alphabet.
pub fn septets_for(c: char) -> Option<usize> {
    encode_char(c).map(Septets::count)
}

/// Whether the whole of `text` can be sent in the GSM 7-bit alphabet.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| encode_char(c).is_some())
}

/// The character of a default-alphabet septet (its low seven bits).
fn default_char(septet: u8) -> char {
    DEFAULT
        .get(usize::from(septet & 0x7F))
        .copied()
        .unwrap_or(' ')
}

/// The character of an extension septet. TS 23.038 §6.2.1.1: a code missing from the
/// extension table shows as the default-alphabet character of the same code; a second
/// escape (reserved for a further table) shows as a space.
fn extension_char(code: u8) -> char {
    if code == ESCAPE {
        return ' ';
    }
    EXTENSION
        .iter()
        .find(|&&(c, _)| c == code)
        .map(|&(_, e)| e)
        .unwrap_or_else(|| default_char(code))
}

/// Decodes septets (one per octet, values 0..=127) into characters, calling `out` for each.
/// Fails on an escape septet at the very end.
pub fn decode_septets(
    septets: impl IntoIterator<Item = u8>,
    mut out: impl FnMut(char) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut escaped = false;
    for s in septets {
        let s = s & 0x7F;
        if escaped {
            out(extension_char(s))?;
            escaped = false;
        } else if s == ESCAPE {
            escaped = true;
        } else {
            out(default_char(s))?;
        }
    }
    if escaped {
        return Err(DecodeError::DanglingEscape);
    }
    Ok(())
}

/// Octets that `septets` septets take when packed (`ceil(7 × septets / 8)`, saturating
/// for absurd counts so that it never overflows).
pub const fn packed_len(septets: usize) -> usize {
    septets.saturating_mul(7).div_ceil(8)
}

/// ORs septet `value` (low seven bits) into `packed` at septet position `index`, counted
/// from the first bit of `packed`. `packed` must start zeroed where septets go. Returns
/// `false` (writing nothing) when the septet would not fit.
pub fn put_septet(packed: &mut [u8], index: usize, value: u8) -> bool {
    let Some(bit) = index.checked_mul(7) else {
        return false;
    };
    let byte = bit / 8;
    let shift = bit % 8;
    let value = u16::from(value & 0x7F) << shift;
    let [low, high] = value.to_le_bytes();
    // The septet spills into a second octet only when it starts past bit 1.
    let needs_second = shift > 1;
    if byte >= packed.len() || (needs_second && byte >= packed.len() - 1) {
        return false;
    }
    if let Some(o) = packed.get_mut(byte) {
        *o |= low;
    }
    if needs_second {
        if let Some(o) = packed.get_mut(byte + 1) {
            *o |= high;
        }
    }
    true
}

/// Reads the septet at position `index`, counted from the first bit of `packed`, or `None`
/// when `packed` is too short to hold it.
pub fn get_septet(packed: &[u8], index: usize) -> Option<u8> {
    let bit = index.checked_mul(7)?;
    let byte = bit / 8;
    let shift = bit % 8;
    let low = u16::from(*packed.get(byte)?);
    let high = if shift > 1 {
        u16::from(*packed.get(byte + 1)?)
    } else {
        0
    };
    let word = low | (high << 8);
    Some(((word >> shift) & 0x7F) as u8)
}

/// Packs `septets` into `out` starting at septet position `first` (septets before it are
/// left as they are: a header or fill bits). Returns the octets used from the start of
/// `out`, or `None` when `out` is too short.
pub fn pack(septets: &[u8], first: usize, out: &mut [u8]) -> Option<usize> {
    let total = first.checked_add(septets.len())?;
    let used = packed_len(total);
    if used > out.len() {
        return None;
    }
    for (index, &s) in (first..total).zip(septets) {
        if !put_septet(out, index, s) {
            return None;
        }
    }
    Some(used)
}

/// Unpacks `count` septets starting at septet position `first` of `packed` into `out`.
/// Returns `None` when `packed` is too short or `out` smaller than `count`.
pub fn unpack(packed: &[u8], first: usize, count: usize, out: &mut [u8]) -> Option<()> {
    let slots = out.get_mut(..count)?;
    for (index, slot) in (first..first.checked_add(count)?).zip(slots) {
        *slot = get_septet(packed, index)?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_septet_but_escape_round_trips_through_its_character() {
        for code in 0u8..128 {
            if code == ESCAPE {
                continue;
            }
            let c = default_char(code);
            assert_eq!(
                encode_char(c),
                Some(Septets::One(code)),
                "septet {code:#04x}"
            );
        }
    }

    #[test]
    fn extension_characters_take_two_septets() {
        for c in ['€', '[', ']', '{', '}', '\\', '~', '^', '|', '\u{0C}'] {
            assert_eq!(septets_for(c), Some(2), "{c:?}");
        }
        assert_eq!(encode_char('€'), Some(Septets::Escaped(0x65)));
    }

    #[test]
    fn characters_outside_the_alphabet_are_refused() {
        for c in ['ç', 'Ж', '😀', '\u{1B}', '`'] {
            assert_eq!(encode_char(c), None, "{c:?}");
        }
    }

    #[test]
    fn unknown_extension_code_shows_the_default_character() {
        let mut s = heapless::String::<8>::new();
        decode_septets([ESCAPE, 0x41, ESCAPE, ESCAPE], |c| {
            s.push(c).map_err(|_| DecodeError::DanglingEscape)
        })
        .unwrap();
        assert_eq!(s.as_str(), "A ");
    }

    #[test]
    fn escape_at_the_end_is_an_error() {
        assert_eq!(
            decode_septets([0x41, ESCAPE], |_| Ok(())),
            Err(DecodeError::DanglingEscape)
        );
    }

    #[test]
    fn hello_packs_like_the_ts_23_038_example() {
        // "hellohello" → E8329BFD4697D9EC37 (the classic packing example).
        let septets: heapless::Vec<u8, 10> = "hellohello"
            .chars()
            .filter_map(encode_char)
            .map(|s| match s {
                Septets::One(c) | Septets::Escaped(c) => c,
            })
            .collect();
        let mut out = [0u8; 9];
        assert_eq!(pack(&septets, 0, &mut out), Some(9));
        assert_eq!(out, [0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]);
    }

    #[test]
    fn packing_refuses_a_buffer_too_small() {
        let mut out = [0u8; 1];
        assert_eq!(pack(&[1, 2], 0, &mut out), None);
        assert!(!put_septet(&mut [], 0, 1));
        assert_eq!(get_septet(&[0xFF], 1), None);
    }

    #[test]
    fn absurd_positions_are_refused_not_overflowed() {
        assert!(!put_septet(&mut [0u8; 4], usize::MAX, 1));
        assert_eq!(get_septet(&[0u8; 4], usize::MAX), None);
        assert_eq!(pack(&[1], usize::MAX, &mut [0u8; 4]), None);
        assert_eq!(unpack(&[0u8; 4], usize::MAX, 1, &mut [0u8; 1]), None);
        assert_eq!(packed_len(usize::MAX), usize::MAX / 8 + 1);
    }
}
