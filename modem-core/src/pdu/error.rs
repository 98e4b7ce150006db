//! The codec's errors: what went wrong, and in which field of the PDU.
//!
//! This module owns [`DecodeError`] (a PDU from the modem or from smsd that cannot be read),
//! [`EncodeError`] (a text or destination that cannot be sent) and [`Field`], the name of
//! the PDU field an error is about, so every message reads as one sentence a person can act
//! on ("the PDU is truncated in the originator address: 6 octets needed, 2 left").

use core::fmt;

/// A field of an SMS PDU, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Field {
    /// The SMSC address the modem puts in front of the TPDU.
    SmscAddress,
    /// The TPDU's first octet (message type and flags).
    FirstOctet,
    /// TP-MR, the message reference.
    MessageReference,
    /// TP-OA, the originator address of an SMS-DELIVER.
    OriginatorAddress,
    /// TP-DA, the destination address of an SMS-SUBMIT.
    DestinationAddress,
    /// TP-RA, the recipient address of an SMS-STATUS-REPORT.
    RecipientAddress,
    /// TP-PID, the protocol identifier.
    ProtocolIdentifier,
    /// TP-DCS, the data coding scheme.
    DataCodingScheme,
    /// TP-SCTS, the service centre time stamp.
    ServiceCentreTimestamp,
    /// TP-DT, the discharge time of a status report.
    DischargeTime,
    /// TP-ST, the status of a status report.
    Status,
    /// TP-PI, the parameter indicator of a status report.
    ParameterIndicator,
    /// TP-VP, the validity period of an SMS-SUBMIT.
    ValidityPeriod,
    /// TP-UDL, the user data length.
    UserDataLength,
    /// The user data header (TP-UDH).
    UserDataHeader,
    /// TP-UD, the user data (the text).
    UserData,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::SmscAddress => "SMSC address",
            Field::FirstOctet => "first octet",
            Field::MessageReference => "message reference (TP-MR)",
            Field::OriginatorAddress => "originator address (TP-OA)",
            Field::DestinationAddress => "destination address (TP-DA)",
            Field::RecipientAddress => "recipient address (TP-RA)",
            Field::ProtocolIdentifier => "protocol identifier (TP-PID)",
            Field::DataCodingScheme => "data coding scheme (TP-DCS)",
            Field::ServiceCentreTimestamp => "service centre time stamp (TP-SCTS)",
            Field::DischargeTime => "discharge time (TP-DT)",
            Field::Status => "status (TP-ST)",
            Field::ParameterIndicator => "parameter indicator (TP-PI)",
            Field::ValidityPeriod => "validity period (TP-VP)",
            Field::UserDataLength => "user data length (TP-UDL)",
            Field::UserDataHeader => "user data header",
            Field::UserData => "user data",
        })
    }
}

/// Why a PDU could not be decoded. Every variant names what is wrong; none is ever
/// produced by a panic path, because the decoder reads through bounds-checked cursors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// The hex text has an odd number of digits.
    OddHexLength {
        /// Number of hex digits received.
        digits: usize,
    },
    /// A character of the hex text is not a hex digit.
    InvalidHexDigit {
        /// Zero-based byte offset of the character in the hex text.
        position: usize,
    },
    /// The PDU is longer than any SMS PDU can be.
    PduTooLong {
        /// Octets received.
        octets: usize,
        /// Largest accepted number of octets ([`crate::pdu::MAX_PDU_OCTETS`]).
        max: usize,
    },
    /// The PDU ends inside a field.
    Truncated {
        /// The field being read.
        field: Field,
        /// Octets the field needs.
        needed: usize,
        /// Octets left in the PDU.
        available: usize,
    },
    /// Octets follow the end of the user data that no field accounts for.
    TrailingOctets {
        /// How many octets are left over.
        extra: usize,
    },
    /// The TPDU is not as long as the AT command said (`+CMGR: <stat>,,<length>` or
    /// `AT+CMGS=<length>`).
    TpduLengthMismatch {
        /// The length the command gave.
        declared: usize,
        /// The length of the TPDU received.
        actual: usize,
    },
    /// The TPDU is not of the message type this decoder reads.
    UnexpectedMessageType {
        /// The two TP-MTI bits found.
        mti: u8,
        /// What the decoder expected, e.g. "SMS-DELIVER or SMS-STATUS-REPORT".
        expected: &'static str,
    },
    /// An address length octet claims more digits than an address may have.
    AddressTooLong {
        /// The address field.
        field: Field,
        /// Octets the length octet claims for the address value.
        octets: usize,
        /// Largest accepted value octets.
        max: usize,
    },
    /// A semi-octet that must be a decimal digit is not (time stamps).
    InvalidBcdDigit {
        /// The field holding the digit.
        field: Field,
        /// The nibble's value (10..=15).
        nibble: u8,
    },
    /// A time stamp field is out of range (month 13, hour 25, time zone beyond ±79
    /// quarter hours, ...).
    InvalidTimestamp {
        /// The time stamp field.
        field: Field,
    },
    /// TP-UDL claims more user data than an SMS carries.
    UserDataTooLong {
        /// Octets the user data would take.
        octets: usize,
        /// Largest accepted user data ([`crate::pdu::MAX_USER_DATA_OCTETS`]).
        max: usize,
    },
    /// The user data header is longer than the user data that holds it.
    HeaderExceedsUserData {
        /// Octets the header claims (UDHL + 1).
        header_octets: usize,
        /// Octets of user data.
        user_data_octets: usize,
    },
    /// An information element of the user data header runs past the header's end.
    InformationElementOverrun {
        /// The element's identifier (IEI).
        iei: u8,
        /// Octets the element claims.
        length: usize,
        /// Octets left in the header.
        available: usize,
    },
    /// GSM 7-bit text ends with an escape septet that has nothing to escape.
    DanglingEscape,
    /// UCS-2 user data has an odd number of octets.
    OddUcs2Length {
        /// Octets of UCS-2 text.
        octets: usize,
    },
    /// UCS-2 text holds an unpaired UTF-16 surrogate.
    InvalidUtf16 {
        /// Index of the offending 16-bit unit in the part's text.
        unit: usize,
        /// The unit's value.
        value: u16,
    },
    /// The data coding scheme says the text is compressed (TS 23.042), which is not
    /// supported.
    CompressedText {
        /// The TP-DCS octet.
        dcs: u8,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::OddHexLength { digits } => write!(
                f,
                "the PDU hex text has an odd number of digits ({digits}): it must be whole octets"
            ),
            DecodeError::InvalidHexDigit { position } => {
                write!(
                    f,
                    "the PDU hex text has a non-hex character at position {position}"
                )
            }
            DecodeError::PduTooLong { octets, max } => {
                write!(
                    f,
                    "the PDU is {octets} octets long, more than the {max} an SMS PDU can be"
                )
            }
            DecodeError::Truncated {
                field,
                needed,
                available,
            } => write!(
                f,
                "the PDU is truncated in the {field}: {needed} octets needed, {available} left"
            ),
            DecodeError::TrailingOctets { extra } => write!(
                f,
                "the PDU has {extra} octets after the end of the user data"
            ),
            DecodeError::TpduLengthMismatch { declared, actual } => write!(
                f,
                "the command announced a TPDU of {declared} octets but {actual} came"
            ),
            DecodeError::UnexpectedMessageType { mti, expected } => write!(
                f,
                "the PDU's message type indicator is {mti:#04b}, expected {expected}"
            ),
            DecodeError::AddressTooLong { field, octets, max } => write!(
                f,
                "the {field} claims {octets} octets, more than the {max} an address may have"
            ),
            DecodeError::InvalidBcdDigit { field, nibble } => write!(
                f,
                "the {field} has a semi-octet {nibble:#x} where a decimal digit must be"
            ),
            DecodeError::InvalidTimestamp { field } => {
                write!(
                    f,
                    "the {field} holds a date, time or time zone out of range"
                )
            }
            DecodeError::UserDataTooLong { octets, max } => write!(
                f,
                "the user data length claims {octets} octets, more than the {max} an SMS carries"
            ),
            DecodeError::HeaderExceedsUserData {
                header_octets,
                user_data_octets,
            } => write!(
                f,
                "the user data header claims {header_octets} octets but the user data has only {user_data_octets}"
            ),
            DecodeError::InformationElementOverrun {
                iei,
                length,
                available,
            } => write!(
                f,
                "the user data header element {iei:#04x} claims {length} octets but only {available} are left in the header"
            ),
            DecodeError::DanglingEscape => {
                f.write_str("the GSM 7-bit text ends with an escape septet that escapes nothing")
            }
            DecodeError::OddUcs2Length { octets } => {
                write!(f, "the UCS-2 text has an odd number of octets ({octets})")
            }
            DecodeError::InvalidUtf16 { unit, value } => write!(
                f,
                "the UCS-2 text has an unpaired surrogate {value:#06x} at unit {unit}"
            ),
            DecodeError::CompressedText { dcs } => write!(
                f,
                "the data coding scheme {dcs:#04x} marks the text compressed, which is not supported"
            ),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why a text could not be planned or encoded as SMS-SUBMIT PDUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// The destination number is empty (or only a `+`).
    EmptyDestination,
    /// The destination number holds a character that is not a dialling digit.
    InvalidDestinationCharacter {
        /// Zero-based character position in the number as given.
        position: usize,
        /// The offending character.
        character: char,
    },
    /// The destination is an alphanumeric address, which a phone cannot send to.
    AlphanumericDestination,
    /// The destination number has more digits than an address may hold.
    DestinationTooLong {
        /// Digits given.
        digits: usize,
        /// Largest accepted number of digits ([`crate::pdu::MAX_ADDRESS_DIGITS`]).
        max: usize,
    },
    /// The text needs more parts than the configured limit allows.
    TooManyParts {
        /// Parts the text needs.
        needed: usize,
        /// The configured limit.
        limit: u8,
    },
    /// The part limit is outside 1..=255 (the concatenation header counts parts in one
    /// octet).
    InvalidPartLimit {
        /// The limit given.
        limit: u8,
    },
    /// The encoded TPDU outgrew [`crate::pdu::MAX_TPDU_OCTETS`]. The planner's per-part
    /// capacities make this impossible; it exists so that a mistake there is an error, not
    /// a panic.
    PduOverflow,
    /// A part index at or beyond the planned number of parts was asked for.
    PartOutOfRange {
        /// The index asked for.
        index: u8,
        /// Parts planned.
        parts: u8,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::EmptyDestination => f.write_str("the destination number is empty"),
            EncodeError::InvalidDestinationCharacter {
                position,
                character,
            } => write!(
                f,
                "the destination number has {character:?} at position {position}: only digits, '*' and '#' may follow an optional leading '+'"
            ),
            EncodeError::AlphanumericDestination => f.write_str(
                "the destination is an alphanumeric address: an SMS can only be sent to a number",
            ),
            EncodeError::DestinationTooLong { digits, max } => write!(
                f,
                "the destination number has {digits} digits, more than the {max} an address may hold"
            ),
            EncodeError::TooManyParts { needed, limit } => write!(
                f,
                "the text needs {needed} SMS parts, more than the limit of {limit}"
            ),
            EncodeError::InvalidPartLimit { limit } => {
                write!(f, "the part limit {limit} is outside 1..=255")
            }
            EncodeError::PduOverflow => {
                f.write_str("the encoded PDU outgrew its buffer (a bug in the part planner)")
            }
            EncodeError::PartOutOfRange { index, parts } => write!(
                f,
                "part {index} was asked for but the text has only {parts} parts (indexes from 0)"
            ),
        }
    }
}

impl core::error::Error for EncodeError {}
