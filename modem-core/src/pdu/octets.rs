//! Hex text to octets and back, and the bounds-checked cursor every decoder reads through.
//!
//! This module owns the only places where the codec touches raw octets: [`decode_hex`]
//! turns the modem's hex line into a fixed buffer, [`Cursor`] hands out fields one at a
//! time and reports a [`DecodeError::Truncated`] naming the field instead of ever indexing
//! past the end, and [`push_hex`] writes octets as upper-case hex the way smsd and
//! `AT+CMGS` expect.

use super::MAX_PDU_OCTETS;
use super::error::{DecodeError, Field};

/// Decodes hex text (either case, surrounding ASCII whitespace ignored) into `out`,
/// returning the number of octets.
pub(crate) fn decode_hex(hex: &str, out: &mut [u8; MAX_PDU_OCTETS]) -> Result<usize, DecodeError> {
    let hex = hex.trim_ascii();
    let digits = hex.len();
    if !digits.is_multiple_of(2) {
        return Err(DecodeError::OddHexLength { digits });
    }
    let octets = digits / 2;
    if octets > MAX_PDU_OCTETS {
        return Err(DecodeError::PduTooLong {
            octets,
            max: MAX_PDU_OCTETS,
        });
    }
    for (i, (pair, slot)) in hex
        .as_bytes()
        .chunks_exact(2)
        .zip(out.iter_mut())
        .enumerate()
    {
        let (hi, lo) = match pair {
            [hi, lo] => (*hi, *lo),
            // chunks_exact(2) only yields pairs.
            _ => return Err(DecodeError::OddHexLength { digits }),
        };
        let hi = nibble(hi).ok_or(DecodeError::InvalidHexDigit { position: 2 * i })?;
        let lo = nibble(lo).ok_or(DecodeError::InvalidHexDigit {
            position: 2 * i + 1,
        })?;
        *slot = (hi << 4) | lo;
    }
    Ok(octets)
}

/// Checks that the TPDU after the SMSC part of `octets` is `declared` octets long, the
/// length `+CMGR` and `AT+CMGS` state.
pub(crate) fn check_tpdu_length(octets: &[u8], declared: usize) -> Result<(), DecodeError> {
    let smsc = octets.first().map_or(0, |&l| usize::from(l) + 1);
    let actual = octets.len().saturating_sub(smsc);
    if actual == declared {
        Ok(())
    } else {
        Err(DecodeError::TpduLengthMismatch { declared, actual })
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Appends `octets` as upper-case hex; `Err(())` when `out` is full.
pub(crate) fn push_hex<const N: usize>(
    out: &mut heapless::String<N>,
    octets: &[u8],
) -> Result<(), heapless::CapacityError> {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for &o in octets {
        for n in [o >> 4, o & 0x0F] {
            let c = DIGITS.get(usize::from(n)).copied().unwrap_or(b'0');
            out.push(char::from(c))?;
        }
    }
    Ok(())
}

/// A read position in a decoded PDU. Every read names the field it is for, so running out
/// of octets becomes an error saying where.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(octets: &'a [u8]) -> Self {
        Self { rest: octets }
    }

    /// Octets not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn u8(&mut self, field: Field) -> Result<u8, DecodeError> {
        match self.rest.split_first() {
            Some((&first, rest)) => {
                self.rest = rest;
                Ok(first)
            }
            None => Err(DecodeError::Truncated {
                field,
                needed: 1,
                available: 0,
            }),
        }
    }

    pub(crate) fn take(&mut self, n: usize, field: Field) -> Result<&'a [u8], DecodeError> {
        match self.rest.split_at_checked(n) {
            Some((head, rest)) => {
                self.rest = rest;
                Ok(head)
            }
            None => Err(DecodeError::Truncated {
                field,
                needed: n,
                available: self.rest.len(),
            }),
        }
    }

    /// Fails unless every octet has been read.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingOctets {
                extra: self.rest.len(),
            })
        }
    }
}

/// The TPDU being built by the encoder, bounded by [`super::MAX_TPDU_OCTETS`].
#[derive(Debug, Default)]
pub(crate) struct TpduWriter {
    octets: heapless::Vec<u8, { super::MAX_TPDU_OCTETS }>,
}

impl TpduWriter {
    /// Appends one octet; `None` when the TPDU would exceed its capacity.
    pub(crate) fn push(&mut self, octet: u8) -> Option<()> {
        self.octets.push(octet).ok()
    }

    /// Appends octets; `None` when the TPDU would exceed its capacity.
    pub(crate) fn extend(&mut self, octets: &[u8]) -> Option<()> {
        self.octets.extend_from_slice(octets).ok()
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.octets
    }
}
