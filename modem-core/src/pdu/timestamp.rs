//! Time stamps in SMS PDUs (TP-SCTS, TP-DT; 3GPP TS 23.040 §9.2.3.11): seven octets of
//! swapped semi-octets, the last one the time zone in quarter hours with a sign bit.
//!
//! This module owns [`Timestamp`] and its validation: a digit that is not decimal or a
//! field out of range is an error naming the field, never a wrapped or clamped value.

use core::fmt;

use super::error::{DecodeError, Field};
use super::octets::Cursor;

/// A service centre time stamp or discharge time, as the network sent it (local time of
/// the service centre plus its offset from UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timestamp {
    /// Year within the century, 0..=99 (the PDU has two digits; 26 means 2026).
    pub year: u8,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of the month, 1..=31.
    pub day: u8,
    /// Hour, 0..=23.
    pub hour: u8,
    /// Minute, 0..=59.
    pub minute: u8,
    /// Second, 0..=59.
    pub second: u8,
    /// Offset from UTC in quarter hours, -79..=79 (+8 is UTC+2).
    pub utc_offset_quarters: i8,
}

impl Timestamp {
    /// Offset from UTC in minutes.
    pub fn utc_offset_minutes(&self) -> i16 {
        i16::from(self.utc_offset_quarters) * 15
    }

    pub(crate) fn read(cursor: &mut Cursor<'_>, field: Field) -> Result<Self, DecodeError> {
        let raw = cursor.take(7, field)?;
        let [y, mo, d, h, mi, s, tz] =
            <[u8; 7]>::try_from(raw).map_err(|_| DecodeError::Truncated {
                field,
                needed: 7,
                available: raw.len(),
            })?;
        let bcd = |o: u8| -> Result<u8, DecodeError> {
            let (tens, units) = (o & 0x0F, o >> 4);
            for nibble in [tens, units] {
                if nibble > 9 {
                    return Err(DecodeError::InvalidBcdDigit { field, nibble });
                }
            }
            Ok(tens * 10 + units)
        };
        let ts = Self {
            year: bcd(y)?,
            month: bcd(mo)?,
            day: bcd(d)?,
            hour: bcd(h)?,
            minute: bcd(mi)?,
            second: bcd(s)?,
            // Bit 3 (the tens digit's top bit) is the sign; the rest is BCD quarters.
            utc_offset_quarters: {
                let magnitude = bcd(tz & !0x08)?;
                // magnitude <= 79: three bits of tens, one digit of units.
                let magnitude =
                    i8::try_from(magnitude).map_err(|_| DecodeError::InvalidTimestamp { field })?;
                if tz & 0x08 != 0 {
                    -magnitude
                } else {
                    magnitude
                }
            },
        };
        let valid = (1..=12).contains(&ts.month)
            && (1..=31).contains(&ts.day)
            && ts.hour <= 23
            && ts.minute <= 59
            && ts.second <= 59;
        if !valid {
            return Err(DecodeError::InvalidTimestamp { field });
        }
        Ok(ts)
    }
}

impl fmt::Display for Timestamp {
    /// `yy/MM/dd,hh:mm:ss±zz`, the form of `+CMGR` in text mode (zz in quarter hours).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.utc_offset_quarters < 0 {
            '-'
        } else {
            '+'
        };
        write!(
            f,
            "{:02}/{:02}/{:02},{:02}:{:02}:{:02}{}{:02}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            sign,
            self.utc_offset_quarters.unsigned_abs()
        )
    }
}
