//! SMS PDU codec (3GPP TS 23.040 / 23.038): SMS-SUBMIT encoding, SMS-DELIVER and
//! SMS-STATUS-REPORT decoding, reassembly of concatenated messages.
//!
//! This module owns everything between a text and the hex that `AT+CMGS` takes or
//! `AT+CMGR` returns in PDU mode, the mode smsd speaks: [`SubmitPlan`] says how many parts
//! and which encoding a text needs (GSM 7-bit with the extension table, or UCS-2 with
//! surrogate pairs) and encodes each part; [`Incoming`] decodes what the network delivered;
//! [`Submit`] decodes a SUBMIT again (the simulator's side); [`Reassembler`] joins the
//! parts of a concatenated message with fixed capacity and an expiry driven by the
//! caller's clock. It is sans-I/O, `no_std` and allocation-free: every buffer is a
//! fixed-capacity `heapless` type sized by the `pub const`s below, and every read of modem
//! input goes through a bounds-checked cursor, so malformed input is a [`DecodeError`]
//! naming the field, never a panic.
//!
//! ```
//! use modem_core::pdu::{Address, Incoming, SubmitOptions, SubmitPlan, TextEncoding};
//!
//! let to = Address::parse_number("+491721234567")?;
//! let plan = SubmitPlan::new(to, "Grüße, €5", 1, SubmitOptions::default())?;
//! assert_eq!((plan.parts(), plan.encoding()), (1, TextEncoding::Gsm7));
//! let part = plan.encode_part(0)?;
//! assert!(part.hex.starts_with("00"));
//! assert_eq!(usize::from(part.tpdu_length) * 2 + 2, part.hex.len());
//!
//! let pdu = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07";
//! let Incoming::Deliver(sms) = Incoming::from_hex(pdu)? else { unreachable!() };
//! assert_eq!(sms.originator.to_string(), "+31641600986");
//! assert_eq!(sms.text(), Some("How are you?"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod address;
mod dcs;
mod deliver;
mod error;
pub mod gsm7;
mod octets;
mod reassembly;
mod submit;
mod timestamp;
mod user_data;

pub use address::{Address, NumberType, NumberingPlan, TypeOfAddress};
pub use dcs::{Alphabet, DataCoding, MessageClass};
pub use deliver::{Deliver, Incoming, Status, StatusOutcome, StatusReport};
pub use error::{DecodeError, EncodeError, Field};
pub use reassembly::{
    DEFAULT_EXPIRY_S, MAX_PARTS_PER_MESSAGE, MessageKey, PENDING_MESSAGES, PushOutcome,
    ReassembledMessage, Reassembler,
};
pub use submit::{
    EncodedPart, GSM7_PART_SEPTETS, GSM7_SINGLE_SEPTETS, Submit, SubmitOptions, SubmitPlan,
    TextEncoding, UCS2_PART_UNITS, UCS2_SINGLE_UNITS, Validity, ValidityPeriod,
};
pub use timestamp::Timestamp;
pub use user_data::{Body, ConcatReference, Concatenation, IEI_CONCAT_8, IEI_CONCAT_16};

/// Octets of user data (TP-UD, header included) one SMS carries.
pub const MAX_USER_DATA_OCTETS: usize = 140;
/// Octets of an address value (TP-OA/DA/RA, SMSC): 20 semi-octets.
pub const MAX_ADDRESS_OCTETS: usize = 10;
/// Digits of a phone number (two per value octet).
pub const MAX_ADDRESS_DIGITS: usize = 2 * MAX_ADDRESS_OCTETS;
/// UTF-8 bytes of an [`Address::value`]: 20 digits, or an alphanumeric sender of 11
/// septets whose characters take at most two UTF-8 bytes each.
pub const MAX_ADDRESS_BYTES: usize = 22;
/// Octets of the SMSC part before the TPDU: length, type of address, value.
pub const MAX_SMSC_OCTETS: usize = 2 + MAX_ADDRESS_OCTETS;
/// Octets of a TPDU. The largest the standard allows is 164 (a SUBMIT with a 20-digit
/// destination, a seven-octet validity period and 140 octets of user data); the margin
/// costs a few bytes and keeps an overlong PDU a clean error rather than a near miss.
pub const MAX_TPDU_OCTETS: usize = 176;
/// Octets of a whole PDU as `AT+CMGR` gives it or `AT+CMGS` takes it (SMSC part + TPDU).
pub const MAX_PDU_OCTETS: usize = MAX_SMSC_OCTETS + MAX_TPDU_OCTETS;
/// Hex characters of a whole PDU.
pub const MAX_PDU_HEX_CHARS: usize = 2 * MAX_PDU_OCTETS;
/// UTF-8 bytes of one part's decoded text: 160 GSM 7-bit septets of at most two bytes
/// each (the euro sign takes two septets for its three bytes), which also covers 70 UCS-2
/// units of at most three bytes each.
pub const MAX_PART_TEXT_BYTES: usize = 2 * GSM7_SINGLE_SEPTETS;
/// Default limit on the parts of one outgoing text ([`SubmitOptions::max_parts`]).
pub const DEFAULT_MAX_PARTS: u8 = 10;
