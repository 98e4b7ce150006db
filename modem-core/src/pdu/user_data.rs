//! User data (TP-UDL, TP-UD): the user data header with its concatenation element, and the
//! text or bytes after it (3GPP TS 23.040 §9.2.3.16, §9.2.3.24).
//!
//! This module owns [`Body`] (what a part carries), [`Concatenation`] (which message a
//! part belongs to) and the one reader shared by SMS-DELIVER, SMS-SUBMIT and
//! SMS-STATUS-REPORT, which checks TP-UDL against the octets present, walks the header's
//! information elements within its stated length, and decodes GSM 7-bit after the header's
//! fill bits or UCS-2 as UTF-16.

use super::dcs::{Alphabet, DataCoding};
use super::error::{DecodeError, Field};
use super::gsm7;
use super::octets::Cursor;
use super::{MAX_PART_TEXT_BYTES, MAX_USER_DATA_OCTETS};

/// Information element identifier: concatenation with an 8-bit reference.
pub const IEI_CONCAT_8: u8 = 0x00;
/// Information element identifier: concatenation with a 16-bit reference.
pub const IEI_CONCAT_16: u8 = 0x08;

/// The reference shared by the parts of one concatenated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConcatReference {
    /// From IEI 0x00.
    Eight(u8),
    /// From IEI 0x08.
    Sixteen(u16),
}

/// Where a part sits in a concatenated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Concatenation {
    /// The message's reference, the same in every part.
    pub reference: ConcatReference,
    /// Number of parts, 1..=255.
    pub total: u8,
    /// This part's number, 1..=total.
    pub sequence: u8,
}

/// What one part carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Body {
    /// Text (GSM 7-bit or UCS-2), decoded.
    Text(heapless::String<MAX_PART_TEXT_BYTES>),
    /// 8-bit data, as received (without the header).
    Binary(heapless::Vec<u8, MAX_USER_DATA_OCTETS>),
}

impl Body {
    /// The text, or `None` for 8-bit data.
    pub fn text(&self) -> Option<&str> {
        match self {
            Body::Text(t) => Some(t),
            Body::Binary(_) => None,
        }
    }
}

/// Decoded user data: the concatenation element of the header, if any, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserData {
    pub(crate) concatenation: Option<Concatenation>,
    pub(crate) body: Body,
}

/// Reads TP-UDL and TP-UD.
pub(crate) fn read(
    cursor: &mut Cursor<'_>,
    dcs: DataCoding,
    has_header: bool,
) -> Result<UserData, DecodeError> {
    if dcs.compressed {
        return Err(DecodeError::CompressedText { dcs: dcs.octet });
    }
    let udl = usize::from(cursor.u8(Field::UserDataLength)?);
    let octets = match dcs.alphabet {
        Alphabet::Gsm7 => gsm7::packed_len(udl),
        Alphabet::EightBit | Alphabet::Ucs2 => udl,
    };
    if octets > MAX_USER_DATA_OCTETS {
        return Err(DecodeError::UserDataTooLong {
            octets,
            max: MAX_USER_DATA_OCTETS,
        });
    }
    let ud = cursor.take(octets, Field::UserData)?;

    let (header_octets, concatenation) = if has_header {
        read_header(ud)?
    } else {
        (0, None)
    };

    let body = match dcs.alphabet {
        Alphabet::Gsm7 => {
            // The text starts at the first septet boundary after the header; the bits in
            // between are fill.
            let first = (header_octets * 8).div_ceil(7);
            let count = udl
                .checked_sub(first)
                .ok_or(DecodeError::HeaderExceedsUserData {
                    header_octets,
                    user_data_octets: octets,
                })?;
            let mut text = heapless::String::new();
            let septets = (first..first + count).map(|i| gsm7::get_septet(ud, i).unwrap_or(0));
            // get_septet cannot fail here: ud holds packed_len(udl) octets and every index
            // is below udl.
            gsm7::decode_septets(septets, |c| push_char(&mut text, c))?;
            Body::Text(text)
        }
        Alphabet::Ucs2 => {
            let raw = ud.get(header_octets..).unwrap_or(&[]);
            Body::Text(decode_ucs2(raw)?)
        }
        Alphabet::EightBit => {
            let raw = ud.get(header_octets..).unwrap_or(&[]);
            let mut bytes = heapless::Vec::new();
            bytes
                .extend_from_slice(raw)
                .map_err(|_| DecodeError::UserDataTooLong {
                    octets,
                    max: MAX_USER_DATA_OCTETS,
                })?;
            Body::Binary(bytes)
        }
    };
    Ok(UserData {
        concatenation,
        body,
    })
}

fn push_char(text: &mut heapless::String<MAX_PART_TEXT_BYTES>, c: char) -> Result<(), DecodeError> {
    // MAX_PART_TEXT_BYTES covers 160 septets of two UTF-8 bytes and 70 UCS-2 units of
    // three, so this only fails if that arithmetic is wrong; it is still an error, not a
    // panic.
    text.push(c).map_err(|_| DecodeError::UserDataTooLong {
        octets: MAX_PART_TEXT_BYTES + 1,
        max: MAX_PART_TEXT_BYTES,
    })
}

/// Reads the user data header at the start of `ud`: returns its length including the UDHL
/// octet and the concatenation element, if present. Other elements are skipped.
fn read_header(ud: &[u8]) -> Result<(usize, Option<Concatenation>), DecodeError> {
    let Some((&udhl, rest)) = ud.split_first() else {
        return Err(DecodeError::HeaderExceedsUserData {
            header_octets: 1,
            user_data_octets: 0,
        });
    };
    let header_octets = usize::from(udhl) + 1;
    let Some(mut elements) = rest.get(..usize::from(udhl)) else {
        return Err(DecodeError::HeaderExceedsUserData {
            header_octets,
            user_data_octets: ud.len(),
        });
    };
    let mut concatenation = None;
    while let [iei, length, tail @ ..] = elements {
        let length = usize::from(*length);
        let Some((data, next)) = tail.split_at_checked(length) else {
            return Err(DecodeError::InformationElementOverrun {
                iei: *iei,
                length,
                available: tail.len(),
            });
        };
        let found = match (*iei, data) {
            (IEI_CONCAT_8, &[reference, total, sequence]) => {
                Some((ConcatReference::Eight(reference), total, sequence))
            }
            (IEI_CONCAT_16, &[high, low, total, sequence]) => Some((
                ConcatReference::Sixteen(u16::from_be_bytes([high, low])),
                total,
                sequence,
            )),
            _ => None,
        };
        // TS 23.040 §9.2.3.24.1: an element with total or sequence 0, or sequence beyond
        // total, is ignored, and the message is read as a single one.
        if let Some((reference, total, sequence)) = found {
            if total != 0 && sequence != 0 && sequence <= total {
                concatenation = Some(Concatenation {
                    reference,
                    total,
                    sequence,
                });
            }
        }
        elements = next;
    }
    if let [iei] = elements {
        return Err(DecodeError::InformationElementOverrun {
            iei: *iei,
            length: 1,
            available: 0,
        });
    }
    Ok((header_octets, concatenation))
}

fn decode_ucs2(raw: &[u8]) -> Result<heapless::String<MAX_PART_TEXT_BYTES>, DecodeError> {
    if !raw.len().is_multiple_of(2) {
        return Err(DecodeError::OddUcs2Length { octets: raw.len() });
    }
    let units = raw.chunks_exact(2).map(|p| match p {
        [h, l] => u16::from_be_bytes([*h, *l]),
        _ => 0,
    });
    let mut text = heapless::String::new();
    let mut unit = 0usize;
    for decoded in char::decode_utf16(units) {
        match decoded {
            Ok(c) => {
                push_char(&mut text, c)?;
                unit += c.len_utf16();
            }
            Err(e) => {
                return Err(DecodeError::InvalidUtf16 {
                    unit,
                    value: e.unpaired_surrogate(),
                });
            }
        }
    }
    Ok(text)
}
