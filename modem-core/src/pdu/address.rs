//! Addresses in SMS PDUs (3GPP TS 23.040 §9.1.2.5): phone numbers as swapped semi-octets,
//! alphanumeric senders as packed GSM 7-bit, and the type-of-address octet.
//!
//! This module owns [`Address`] and [`TypeOfAddress`]: parsing a destination the caller
//! typed (`+491721234567`, `01721234567`, `1234`), writing it into a SUBMIT, and reading
//! originator, recipient and SMSC addresses out of received PDUs with every length checked
//! against [`MAX_ADDRESS_OCTETS`].

use core::fmt;

use super::error::{DecodeError, EncodeError, Field};
use super::gsm7;
use super::octets::{Cursor, TpduWriter};
use super::{MAX_ADDRESS_BYTES, MAX_ADDRESS_DIGITS, MAX_ADDRESS_OCTETS};

/// Type of number, bits 6..4 of the type-of-address octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NumberType {
    /// 0: unknown; the network applies the national dialling rules (`0172...`).
    Unknown,
    /// 1: international, the country code first (written `+491721234567`).
    International,
    /// 2: national, without the national prefix.
    National,
    /// 3: network-specific (short codes, operator services).
    NetworkSpecific,
    /// 4: subscriber number.
    Subscriber,
    /// 5: alphanumeric, the value packed in GSM 7-bit (senders like `"MyBank"`).
    Alphanumeric,
    /// 6: abbreviated number.
    Abbreviated,
    /// 7: reserved for extension.
    Reserved,
}

/// Numbering plan, bits 3..0 of the type-of-address octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NumberingPlan {
    /// 0: unknown.
    Unknown,
    /// 1: ISDN/telephone (E.164), the usual plan.
    Isdn,
    /// 3: data (X.121).
    Data,
    /// 4: telex.
    Telex,
    /// 8: national.
    National,
    /// 9: private.
    Private,
    /// 10: ERMES.
    Ermes,
    /// Any other value (reserved by TS 23.040); the four bits are kept.
    Reserved(u8),
}

/// The type-of-address octet: type of number and numbering plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TypeOfAddress {
    /// Type of number.
    pub number_type: NumberType,
    /// Numbering plan.
    pub numbering_plan: NumberingPlan,
}

impl TypeOfAddress {
    /// 0x91: international number, ISDN plan (`+` numbers).
    pub const INTERNATIONAL: Self = Self {
        number_type: NumberType::International,
        numbering_plan: NumberingPlan::Isdn,
    };
    /// 0x81: unknown type, ISDN plan (national numbers and short codes as dialled).
    pub const UNKNOWN: Self = Self {
        number_type: NumberType::Unknown,
        numbering_plan: NumberingPlan::Isdn,
    };
    /// 0xA1: national number, ISDN plan.
    pub const NATIONAL: Self = Self {
        number_type: NumberType::National,
        numbering_plan: NumberingPlan::Isdn,
    };
    /// 0xD0: alphanumeric sender.
    pub const ALPHANUMERIC: Self = Self {
        number_type: NumberType::Alphanumeric,
        numbering_plan: NumberingPlan::Unknown,
    };

    /// Reads the octet (bit 7, always 1 on the air, is ignored).
    pub fn from_octet(octet: u8) -> Self {
        let number_type = match (octet >> 4) & 0x07 {
            0 => NumberType::Unknown,
            1 => NumberType::International,
            2 => NumberType::National,
            3 => NumberType::NetworkSpecific,
            4 => NumberType::Subscriber,
            5 => NumberType::Alphanumeric,
            6 => NumberType::Abbreviated,
            _ => NumberType::Reserved,
        };
        let numbering_plan = match octet & 0x0F {
            0 => NumberingPlan::Unknown,
            1 => NumberingPlan::Isdn,
            3 => NumberingPlan::Data,
            4 => NumberingPlan::Telex,
            8 => NumberingPlan::National,
            9 => NumberingPlan::Private,
            10 => NumberingPlan::Ermes,
            other => NumberingPlan::Reserved(other),
        };
        Self {
            number_type,
            numbering_plan,
        }
    }

    /// The octet as it goes into a PDU (bit 7 set).
    pub fn to_octet(self) -> u8 {
        let ton = match self.number_type {
            NumberType::Unknown => 0,
            NumberType::International => 1,
            NumberType::National => 2,
            NumberType::NetworkSpecific => 3,
            NumberType::Subscriber => 4,
            NumberType::Alphanumeric => 5,
            NumberType::Abbreviated => 6,
            NumberType::Reserved => 7,
        };
        let npi = match self.numbering_plan {
            NumberingPlan::Unknown => 0,
            NumberingPlan::Isdn => 1,
            NumberingPlan::Data => 3,
            NumberingPlan::Telex => 4,
            NumberingPlan::National => 8,
            NumberingPlan::Private => 9,
            NumberingPlan::Ermes => 10,
            NumberingPlan::Reserved(v) => v & 0x0F,
        };
        0x80 | (ton << 4) | npi
    }
}

/// An address: a number's digits (`0-9 * # a b c`, no `+`: the type says international)
/// or an alphanumeric sender's text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Address {
    /// Type of number and numbering plan.
    pub type_of_address: TypeOfAddress,
    /// The digits, or the text of an alphanumeric address. An international number is
    /// kept without `+`, as smsd writes it (`From: 31641600986`); [`fmt::Display`] adds it.
    pub value: heapless::String<MAX_ADDRESS_BYTES>,
}

impl Address {
    /// Parses a number as a person writes it: a leading `+` makes it international (TOA
    /// 0x91), anything else is sent as dialled with type unknown (0x81), which is how
    /// national numbers and short codes reach the network. Spaces, `-`, `(`, `)` and `.`
    /// are not accepted: the caller normalises, so a typo is never silently "fixed".
    pub fn parse_number(text: &str) -> Result<Self, EncodeError> {
        match text.strip_prefix('+') {
            Some(rest) => {
                Self::number(rest, TypeOfAddress::INTERNATIONAL).map_err(|e| shift_position(e, 1))
            }
            None => Self::number(text, TypeOfAddress::UNKNOWN),
        }
    }

    /// A number of the given type from its digits (`0-9`, `*`, `#`; no `+`).
    pub fn number(digits: &str, type_of_address: TypeOfAddress) -> Result<Self, EncodeError> {
        if digits.is_empty() {
            return Err(EncodeError::EmptyDestination);
        }
        for (position, character) in digits.chars().enumerate() {
            if !matches!(character, '0'..='9' | '*' | '#') {
                return Err(EncodeError::InvalidDestinationCharacter {
                    position,
                    character,
                });
            }
        }
        // Every character is ASCII now, so bytes count digits.
        let too_long = EncodeError::DestinationTooLong {
            digits: digits.len(),
            max: MAX_ADDRESS_DIGITS,
        };
        if digits.len() > MAX_ADDRESS_DIGITS {
            return Err(too_long);
        }
        let value = heapless::String::try_from(digits).map_err(|_| too_long)?;
        Ok(Self {
            type_of_address,
            value,
        })
    }

    /// Whether the address is international (shown with a leading `+`).
    pub fn is_international(&self) -> bool {
        self.type_of_address.number_type == NumberType::International
    }

    /// Writes the address as TP-DA: length in digits, type-of-address, swapped semi-octets.
    /// Only numbers are written (a SUBMIT never goes to an alphanumeric address).
    pub(crate) fn write_tp(&self, out: &mut TpduWriter) -> Option<()> {
        // The value was checked to hold at most MAX_ADDRESS_DIGITS (20) digits.
        out.push(u8::try_from(self.value.len()).ok()?)?;
        out.push(self.type_of_address.to_octet())?;
        let mut nibbles = self.value.chars().map(digit_nibble);
        while let Some(first) = nibbles.next() {
            // An odd digit count ends with the filler 0xF.
            let second = nibbles.next().unwrap_or(Some(0x0F));
            out.push(first? | (second? << 4))?;
        }
        Some(())
    }

    /// Reads a TP address (TP-OA, TP-DA, TP-RA): the length counts useful semi-octets.
    pub(crate) fn read_tp(cursor: &mut Cursor<'_>, field: Field) -> Result<Self, DecodeError> {
        let semi_octets = usize::from(cursor.u8(field)?);
        let octets = semi_octets.div_ceil(2);
        if octets > MAX_ADDRESS_OCTETS {
            return Err(DecodeError::AddressTooLong {
                field,
                octets,
                max: MAX_ADDRESS_OCTETS,
            });
        }
        let toa = TypeOfAddress::from_octet(cursor.u8(field)?);
        let raw = cursor.take(octets, field)?;
        if toa.number_type == NumberType::Alphanumeric {
            // The length counts the semi-octets the packed septets occupy.
            let septets = semi_octets * 4 / 7;
            return Self::read_alphanumeric(raw, septets, toa, field);
        }
        Self::read_digits(raw, semi_octets, toa, field)
    }

    /// Reads the SMSC address the modem puts before the TPDU: the length counts octets
    /// (type-of-address included), zero meaning "no SMSC given".
    pub(crate) fn read_smsc(cursor: &mut Cursor<'_>) -> Result<Option<Self>, DecodeError> {
        let field = Field::SmscAddress;
        let length = usize::from(cursor.u8(field)?);
        if length == 0 {
            return Ok(None);
        }
        let octets = length - 1;
        if octets > MAX_ADDRESS_OCTETS {
            return Err(DecodeError::AddressTooLong {
                field,
                octets,
                max: MAX_ADDRESS_OCTETS,
            });
        }
        let toa = TypeOfAddress::from_octet(cursor.u8(field)?);
        let raw = cursor.take(octets, field)?;
        if toa.number_type == NumberType::Alphanumeric {
            return Self::read_alphanumeric(raw, octets * 8 / 7, toa, field).map(Some);
        }
        // A trailing 0xF nibble is the filler of an odd digit count.
        let mut digits = octets * 2;
        if raw.last().is_some_and(|&o| o >> 4 == 0x0F) {
            digits -= 1;
        }
        Self::read_digits(raw, digits, toa, field).map(Some)
    }

    fn read_digits(
        raw: &[u8],
        digits: usize,
        type_of_address: TypeOfAddress,
        field: Field,
    ) -> Result<Self, DecodeError> {
        let mut value = heapless::String::new();
        let nibbles = raw.iter().flat_map(|&o| [o & 0x0F, o >> 4]).take(digits);
        for nibble in nibbles {
            let c = nibble_digit(nibble).ok_or(DecodeError::InvalidBcdDigit { field, nibble })?;
            value.push(c).map_err(|_| DecodeError::AddressTooLong {
                field,
                octets: raw.len(),
                max: MAX_ADDRESS_OCTETS,
            })?;
        }
        Ok(Self {
            type_of_address,
            value,
        })
    }

    fn read_alphanumeric(
        raw: &[u8],
        septets: usize,
        type_of_address: TypeOfAddress,
        field: Field,
    ) -> Result<Self, DecodeError> {
        let mut value = heapless::String::new();
        let truncated = DecodeError::Truncated {
            field,
            needed: gsm7::packed_len(septets),
            available: raw.len(),
        };
        let mut codes = [0u8; MAX_ADDRESS_OCTETS * 8 / 7];
        let codes = codes.get_mut(..septets).ok_or(truncated)?;
        gsm7::unpack(raw, 0, septets, codes).ok_or(truncated)?;
        gsm7::decode_septets(codes.iter().copied(), |c| {
            value.push(c).map_err(|_| DecodeError::AddressTooLong {
                field,
                octets: raw.len(),
                max: MAX_ADDRESS_OCTETS,
            })
        })?;
        Ok(Self {
            type_of_address,
            value,
        })
    }
}

/// Moves the position of an invalid-character error past a stripped prefix.
fn shift_position(e: EncodeError, by: usize) -> EncodeError {
    match e {
        EncodeError::InvalidDestinationCharacter {
            position,
            character,
        } => EncodeError::InvalidDestinationCharacter {
            position: position + by,
            character,
        },
        other => other,
    }
}

/// The semi-octet of a dialling character (TS 23.040 §9.1.2.3).
fn digit_nibble(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(0x0A),
        '#' => Some(0x0B),
        _ => None,
    }
}

/// The character of a received semi-octet; 0xC..=0xE are the "a", "b", "c" of TS 23.040.
fn nibble_digit(n: u8) -> Option<char> {
    match n {
        0..=9 => Some(char::from(b'0' + n)),
        0x0A => Some('*'),
        0x0B => Some('#'),
        0x0C => Some('a'),
        0x0D => Some('b'),
        0x0E => Some('c'),
        _ => None,
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_international() {
            f.write_str("+")?;
        }
        f.write_str(&self.value)
    }
}
