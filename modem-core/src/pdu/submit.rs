//! SMS-SUBMIT (3GPP TS 23.040 §9.2.2.2): planning and encoding a text for `AT+CMGS` in PDU
//! mode, and decoding a SUBMIT back (what the simulator receives from the driver or smsd).
//!
//! This module owns [`SubmitPlan`], the encoder. Planning is separate from encoding so a
//! caller (the HTTP API) can answer "how many parts, which encoding" before anything is
//! sent, and a text beyond the part limit is refused before the first part goes out. The
//! plan keeps only the borrowed text: each part is cut out again when it is encoded, so
//! planning needs no buffer per part. Parts of a split text carry an 8-bit-reference
//! concatenation header; a part never ends between an escape and its extension character,
//! nor between the two halves of a UTF-16 surrogate pair.

use super::address::{Address, NumberType};
use super::dcs::{Alphabet, DataCoding, MessageClass};
use super::error::{DecodeError, EncodeError, Field};
use super::gsm7::{self, Septets};
use super::octets::{Cursor, TpduWriter, check_tpdu_length, decode_hex, push_hex};
use super::timestamp::Timestamp;
use super::user_data::{self, Body, Concatenation, IEI_CONCAT_8};
use super::{DEFAULT_MAX_PARTS, MAX_PDU_HEX_CHARS, MAX_PDU_OCTETS, MAX_USER_DATA_OCTETS};

/// GSM 7-bit septets in a single, unsplit message.
pub const GSM7_SINGLE_SEPTETS: usize = 160;
/// GSM 7-bit septets per part of a split message (the 6-octet header takes 7 septets).
pub const GSM7_PART_SEPTETS: usize = 153;
/// UCS-2 units in a single, unsplit message.
pub const UCS2_SINGLE_UNITS: usize = 70;
/// UCS-2 units per part of a split message (the 6-octet header takes 3 units).
pub const UCS2_PART_UNITS: usize = 67;

/// How the text goes on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TextEncoding {
    /// GSM 7-bit default alphabet with its extension table.
    Gsm7,
    /// UCS-2 (UTF-16, surrogate pairs for characters beyond the BMP).
    Ucs2,
}

impl TextEncoding {
    /// `"GSM7"` or `"UCS2"`, the names the HTTP API and smsd's `Alphabet:` use.
    pub fn as_str(self) -> &'static str {
        match self {
            TextEncoding::Gsm7 => "GSM7",
            TextEncoding::Ucs2 => "UCS2",
        }
    }

    fn alphabet(self) -> Alphabet {
        match self {
            TextEncoding::Gsm7 => Alphabet::Gsm7,
            TextEncoding::Ucs2 => Alphabet::Ucs2,
        }
    }

    /// Units (septets or UTF-16 units) `c` takes in this encoding.
    fn units(self, c: char) -> usize {
        match self {
            TextEncoding::Gsm7 => gsm7::septets_for(c).unwrap_or(1),
            TextEncoding::Ucs2 => c.len_utf16(),
        }
    }

    fn capacity(self, split: bool) -> usize {
        match (self, split) {
            (TextEncoding::Gsm7, false) => GSM7_SINGLE_SEPTETS,
            (TextEncoding::Gsm7, true) => GSM7_PART_SEPTETS,
            (TextEncoding::Ucs2, false) => UCS2_SINGLE_UNITS,
            (TextEncoding::Ucs2, true) => UCS2_PART_UNITS,
        }
    }
}

/// A relative validity period (TP-VP, TS 23.040 §9.2.3.12.1): how long the service centre
/// keeps trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ValidityPeriod(pub u8);

impl ValidityPeriod {
    /// The longest period, 63 weeks (0xFF).
    pub const MAX: Self = Self(0xFF);

    /// The shortest period at least `minutes` long (5 minutes to 63 weeks; longer is 63
    /// weeks).
    pub fn at_least_minutes(minutes: u32) -> Self {
        const DAY: u32 = 24 * 60;
        let octet = if minutes <= 12 * 60 {
            // 0..=143: (VP + 1) × 5 minutes.
            minutes.div_ceil(5).saturating_sub(1)
        } else if minutes <= DAY {
            // 144..=167: 12 hours + (VP − 143) × 30 minutes.
            143 + (minutes - 12 * 60).div_ceil(30)
        } else if minutes <= 30 * DAY {
            // 168..=196: (VP − 166) days.
            166 + minutes.div_ceil(DAY)
        } else {
            // 197..=255: (VP − 192) weeks.
            192 + minutes.div_ceil(7 * DAY)
        };
        Self(u8::try_from(octet).unwrap_or(u8::MAX))
    }

    /// The period in minutes.
    pub fn minutes(self) -> u32 {
        let vp = u32::from(self.0);
        match vp {
            0..=143 => (vp + 1) * 5,
            144..=167 => 12 * 60 + (vp - 143) * 30,
            168..=196 => (vp - 166) * 24 * 60,
            _ => (vp - 192) * 7 * 24 * 60,
        }
    }
}

/// The validity period as a received SUBMIT gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Validity {
    /// TP-VPF 10: relative.
    Relative(ValidityPeriod),
    /// TP-VPF 11: an absolute time.
    Absolute(Timestamp),
    /// TP-VPF 01: the enhanced format, seven octets kept as received.
    Enhanced([u8; 7]),
}

/// What the caller chooses for every part of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SubmitOptions {
    /// Relative validity period; `None` leaves it to the service centre (TP-VPF 00).
    pub validity: Option<ValidityPeriod>,
    /// Ask for a status report (TP-SRR).
    pub status_report: bool,
    /// Send as class 0 ("flash": shown at once, not stored).
    pub flash: bool,
    /// Send as UCS-2 even when GSM 7-bit would do (smsd's `Alphabet: UCS2`).
    pub force_ucs2: bool,
    /// Most parts a text may take, 1..=255; more is refused with
    /// [`EncodeError::TooManyParts`].
    pub max_parts: u8,
}

impl Default for SubmitOptions {
    fn default() -> Self {
        Self {
            validity: None,
            status_report: false,
            flash: false,
            force_ucs2: false,
            max_parts: DEFAULT_MAX_PARTS,
        }
    }
}

/// One encoded part, ready for `AT+CMGS=<tpdu_length>` then the hex and Ctrl-Z.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EncodedPart {
    /// The PDU as upper-case hex, starting with `00` (no SMSC: the modem's default).
    pub hex: heapless::String<MAX_PDU_HEX_CHARS>,
    /// The TPDU length in octets (the hex minus the SMSC octet), for `AT+CMGS=<len>`.
    pub tpdu_length: u8,
}

/// A text planned for sending: its destination, encoding and number of parts.
#[derive(Debug, Clone)]
pub struct SubmitPlan<'a> {
    destination: Address,
    text: &'a str,
    encoding: TextEncoding,
    parts: u8,
    reference: u8,
    options: SubmitOptions,
}

impl<'a> SubmitPlan<'a> {
    /// Plans `text` for `destination` (a number: see [`Address::parse_number`]).
    /// `reference` goes into the concatenation header of a
    /// split text; the caller picks it (a counter), so parts of different texts to the same
    /// number are never mixed up. Fails when the text needs more than
    /// `options.max_parts` parts.
    pub fn new(
        destination: Address,
        text: &'a str,
        reference: u8,
        options: SubmitOptions,
    ) -> Result<Self, EncodeError> {
        // The fields of an Address are public, so one built by hand is checked here as
        // parse_number would have: only dialling digits can be written as semi-octets.
        if destination.type_of_address.number_type == NumberType::Alphanumeric {
            return Err(EncodeError::AlphanumericDestination);
        }
        Address::number(&destination.value, destination.type_of_address)?;
        if options.max_parts == 0 {
            return Err(EncodeError::InvalidPartLimit {
                limit: options.max_parts,
            });
        }
        let encoding = if !options.force_ucs2 && gsm7::is_gsm7(text) {
            TextEncoding::Gsm7
        } else {
            TextEncoding::Ucs2
        };
        let needed = Splitter::new(text, encoding).count();
        let parts = u8::try_from(needed)
            .ok()
            .filter(|&n| n <= options.max_parts)
            .ok_or(EncodeError::TooManyParts {
                needed,
                limit: options.max_parts,
            })?;
        Ok(Self {
            destination,
            text,
            encoding,
            parts,
            reference,
            options,
        })
    }

    /// The encoding every part uses.
    pub fn encoding(&self) -> TextEncoding {
        self.encoding
    }

    /// Number of parts (at least 1: an empty text is one empty message).
    pub fn parts(&self) -> u8 {
        self.parts
    }

    /// The destination.
    pub fn destination(&self) -> &Address {
        &self.destination
    }

    /// The text of part `index` (0-based), as it will be sent.
    pub fn part_text(&self, index: u8) -> Result<&'a str, EncodeError> {
        Splitter::new(self.text, self.encoding)
            .nth(usize::from(index))
            .ok_or(EncodeError::PartOutOfRange {
                index,
                parts: self.parts,
            })
    }

    /// Encodes part `index` (0-based).
    pub fn encode_part(&self, index: u8) -> Result<EncodedPart, EncodeError> {
        let text = self.part_text(index)?;
        let split = self.parts > 1;
        let overflow = EncodeError::PduOverflow;

        let mut first_octet = 0x01; // TP-MTI: SMS-SUBMIT
        if self.options.validity.is_some() {
            first_octet |= 0x10; // TP-VPF: relative
        }
        if self.options.status_report {
            first_octet |= 0x20; // TP-SRR
        }
        if split {
            first_octet |= 0x40; // TP-UDHI
        }
        let class = self.options.flash.then_some(MessageClass::Class0);
        let dcs = DataCoding::general(self.encoding.alphabet(), class);

        let mut tpdu = TpduWriter::default();
        tpdu.push(first_octet).ok_or(overflow)?;
        tpdu.push(0x00).ok_or(overflow)?; // TP-MR: the modem assigns it
        self.destination.write_tp(&mut tpdu).ok_or(overflow)?;
        tpdu.push(0x00).ok_or(overflow)?; // TP-PID: plain SMS
        tpdu.push(dcs.octet).ok_or(overflow)?;
        if let Some(vp) = self.options.validity {
            tpdu.push(vp.0).ok_or(overflow)?;
        }

        let mut ud = [0u8; MAX_USER_DATA_OCTETS];
        // The concatenation header: UDHL, IEI 0x00, length 3, reference, total, sequence.
        let header: &[u8] = if split {
            // index < parts <= 255, so index + 1 fits.
            &[
                5,
                IEI_CONCAT_8,
                3,
                self.reference,
                self.parts,
                index.saturating_add(1),
            ]
        } else {
            &[]
        };
        ud.get_mut(..header.len())
            .ok_or(overflow)?
            .copy_from_slice(header);
        let (udl, ud_octets) = match self.encoding {
            TextEncoding::Gsm7 => {
                let first = (header.len() * 8).div_ceil(7);
                let mut at = first;
                for c in text.chars() {
                    let septets = gsm7::encode_char(c).ok_or(overflow)?;
                    let (a, b) = match septets {
                        Septets::One(s) => (s, None),
                        Septets::Escaped(s) => (gsm7::ESCAPE, Some(s)),
                    };
                    for s in core::iter::once(a).chain(b) {
                        if !gsm7::put_septet(&mut ud, at, s) {
                            return Err(overflow);
                        }
                        at += 1;
                    }
                }
                (at, gsm7::packed_len(at))
            }
            TextEncoding::Ucs2 => {
                let mut at = header.len();
                let mut units = [0u16; 2];
                for c in text.chars() {
                    for unit in c.encode_utf16(&mut units).iter() {
                        let slot = ud.get_mut(at..at + 2).ok_or(overflow)?;
                        slot.copy_from_slice(&unit.to_be_bytes());
                        at += 2;
                    }
                }
                (at, at)
            }
        };
        tpdu.push(u8::try_from(udl).map_err(|_| overflow)?)
            .ok_or(overflow)?;
        tpdu.extend(ud.get(..ud_octets).ok_or(overflow)?)
            .ok_or(overflow)?;

        let tpdu = tpdu.as_slice();
        let mut hex = heapless::String::new();
        push_hex(&mut hex, &[0x00]).map_err(|_| overflow)?;
        push_hex(&mut hex, tpdu).map_err(|_| overflow)?;
        let tpdu_length = u8::try_from(tpdu.len()).map_err(|_| overflow)?;
        Ok(EncodedPart { hex, tpdu_length })
    }

    /// Every part, in order.
    pub fn encoded_parts(&self) -> impl Iterator<Item = Result<EncodedPart, EncodeError>> + '_ {
        (0..self.parts).map(move |i| self.encode_part(i))
    }
}

/// Cuts a text into the slices that become parts: the whole text when it fits one
/// message, otherwise greedy slices of at most the per-part capacity, each ending on a
/// character boundary (so escapes and surrogate pairs stay whole).
#[derive(Debug, Clone)]
struct Splitter<'a> {
    rest: &'a str,
    encoding: TextEncoding,
    capacity: usize,
    /// An empty text still makes one (empty) part.
    yielded_any: bool,
}

impl<'a> Splitter<'a> {
    fn new(text: &'a str, encoding: TextEncoding) -> Self {
        let units: usize = text.chars().map(|c| encoding.units(c)).sum();
        let split = units > encoding.capacity(false);
        Self {
            rest: text,
            encoding,
            capacity: encoding.capacity(split),
            yielded_any: false,
        }
    }
}

impl<'a> Iterator for Splitter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() && self.yielded_any {
            return None;
        }
        self.yielded_any = true;
        let mut units = 0;
        let mut end = self.rest.len();
        for (i, c) in self.rest.char_indices() {
            let u = self.encoding.units(c);
            if units + u > self.capacity {
                end = i;
                break;
            }
            units += u;
        }
        let (part, rest) = self.rest.split_at_checked(end).unwrap_or((self.rest, ""));
        self.rest = rest;
        Some(part)
    }
}

/// A decoded SMS-SUBMIT, as the modem receives it after `AT+CMGS` (SMSC prefix included).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Submit {
    /// The SMSC address before the TPDU, `None` for `00` (the modem's default).
    pub smsc: Option<Address>,
    /// TP-MR.
    pub message_reference: u8,
    /// TP-DA.
    pub destination: Address,
    /// TP-PID.
    pub protocol_identifier: u8,
    /// TP-DCS.
    pub data_coding: DataCoding,
    /// TP-VP, when TP-VPF says one is present.
    pub validity: Option<Validity>,
    /// TP-SRR: a status report was requested.
    pub status_report_requested: bool,
    /// TP-RD: the service centre should reject a duplicate.
    pub reject_duplicates: bool,
    /// The concatenation element of the user data header, if any.
    pub concatenation: Option<Concatenation>,
    /// The text or data.
    pub body: Body,
    /// Octets of the TPDU (what `AT+CMGS=<len>` must have said).
    pub tpdu_length: usize,
}

impl Submit {
    /// Decodes an SMS-SUBMIT from hex with the SMSC prefix.
    pub fn from_hex(hex: &str) -> Result<Self, DecodeError> {
        let mut octets = [0u8; MAX_PDU_OCTETS];
        let len = decode_hex(hex, &mut octets)?;
        Self::from_octets(octets.get(..len).unwrap_or(&[]))
    }

    /// Decodes the hex a host sent after `AT+CMGS=<length>` and checks it is `<length>`
    /// octets long after the SMSC part (what a modem, or the simulator, must check).
    pub fn from_cmgs(hex: &str, tpdu_length: usize) -> Result<Self, DecodeError> {
        let mut octets = [0u8; MAX_PDU_OCTETS];
        let len = decode_hex(hex, &mut octets)?;
        let octets = octets.get(..len).unwrap_or(&[]);
        let submit = Self::from_octets(octets)?;
        check_tpdu_length(octets, tpdu_length)?;
        Ok(submit)
    }

    /// Decodes an SMS-SUBMIT from octets with the SMSC prefix.
    pub fn from_octets(octets: &[u8]) -> Result<Self, DecodeError> {
        let mut cursor = Cursor::new(octets);
        let smsc = Address::read_smsc(&mut cursor)?;
        let tpdu_length = cursor.remaining();
        let first = cursor.u8(Field::FirstOctet)?;
        let mti = first & 0x03;
        if mti != 0x01 {
            return Err(DecodeError::UnexpectedMessageType {
                mti,
                expected: "SMS-SUBMIT",
            });
        }
        let message_reference = cursor.u8(Field::MessageReference)?;
        let destination = Address::read_tp(&mut cursor, Field::DestinationAddress)?;
        let protocol_identifier = cursor.u8(Field::ProtocolIdentifier)?;
        let data_coding = DataCoding::from_octet(cursor.u8(Field::DataCodingScheme)?);
        let validity = match (first >> 3) & 0x03 {
            0b00 => None,
            0b10 => Some(Validity::Relative(ValidityPeriod(
                cursor.u8(Field::ValidityPeriod)?,
            ))),
            0b11 => Some(Validity::Absolute(Timestamp::read(
                &mut cursor,
                Field::ValidityPeriod,
            )?)),
            _ => {
                let raw = cursor.take(7, Field::ValidityPeriod)?;
                let raw = <[u8; 7]>::try_from(raw).map_err(|_| DecodeError::Truncated {
                    field: Field::ValidityPeriod,
                    needed: 7,
                    available: raw.len(),
                })?;
                Some(Validity::Enhanced(raw))
            }
        };
        let ud = user_data::read(&mut cursor, data_coding, first & 0x40 != 0)?;
        cursor.finish()?;
        Ok(Self {
            smsc,
            message_reference,
            destination,
            protocol_identifier,
            data_coding,
            validity,
            status_report_requested: first & 0x20 != 0,
            reject_duplicates: first & 0x04 != 0,
            concatenation: ud.concatenation,
            body: ud.body,
            tpdu_length,
        })
    }
}
