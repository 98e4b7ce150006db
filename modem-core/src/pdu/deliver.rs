//! Received PDUs (3GPP TS 23.040 §9.2.2.1 and §9.2.2.3): SMS-DELIVER and
//! SMS-STATUS-REPORT as `AT+CMGR` returns them in PDU mode, SMSC prefix included.
//!
//! This module owns [`Incoming`], [`Deliver`], [`StatusReport`] and [`Status`]. Decoding is
//! one pass through a bounds-checked cursor: every length the PDU states is checked against
//! the octets present and against the limits of the standard, and octets left over after
//! the last field are an error too, so a PDU that lies about a length never decodes to
//! something plausible. (A stored SMS-SUBMIT, `+CMGR` status 2 or 3, is read with
//! [`super::Submit::from_hex`].)

use super::MAX_PDU_OCTETS;
use super::address::Address;
use super::dcs::DataCoding;
use super::error::{DecodeError, Field};
use super::octets::{Cursor, check_tpdu_length, decode_hex};
use super::timestamp::Timestamp;
use super::user_data::{self, Body, Concatenation};

/// A received SMS-DELIVER: one message, or one part of a concatenated one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Deliver {
    /// The SMSC that delivered it, `None` when the modem gave `00`.
    pub smsc: Option<Address>,
    /// TP-OA, the sender.
    pub originator: Address,
    /// TP-PID.
    pub protocol_identifier: u8,
    /// TP-DCS: alphabet and message class.
    pub data_coding: DataCoding,
    /// TP-SCTS, when the service centre received it.
    pub timestamp: Timestamp,
    /// TP-MMS inverted: the service centre has more messages waiting.
    pub more_messages: bool,
    /// TP-SRI: the sender asked for a status report.
    pub status_report_indication: bool,
    /// TP-RP: a reply path is set.
    pub reply_path: bool,
    /// The concatenation element of the user data header, if any.
    pub concatenation: Option<Concatenation>,
    /// The text or data of this part.
    pub body: Body,
}

/// What a status report says about a sent message (TP-ST, TS 23.040 §9.2.3.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Status(pub u8);

/// The outcome a [`Status`] value falls into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StatusOutcome {
    /// 0x00..=0x1F: delivered (received, forwarded unconfirmed, or replaced).
    Delivered,
    /// 0x20..=0x3F: temporary error, the service centre is still trying.
    StillTrying,
    /// 0x40..=0x5F: permanent error, not delivered.
    Failed,
    /// 0x60..=0x7F: temporary error, the service centre stopped trying: not delivered.
    GaveUp,
    /// 0x80..=0xFF: reserved values.
    Reserved,
}

impl Status {
    /// The outcome this value belongs to.
    pub fn outcome(self) -> StatusOutcome {
        match self.0 {
            0x00..=0x1F => StatusOutcome::Delivered,
            0x20..=0x3F => StatusOutcome::StillTrying,
            0x40..=0x5F => StatusOutcome::Failed,
            0x60..=0x7F => StatusOutcome::GaveUp,
            _ => StatusOutcome::Reserved,
        }
    }
}

/// A received SMS-STATUS-REPORT: the fate of a message sent with a report requested.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StatusReport {
    /// The SMSC, `None` when the modem gave `00`.
    pub smsc: Option<Address>,
    /// TP-MR of the message this report is about (the `+CMGS: <mr>` it was sent with).
    pub message_reference: u8,
    /// TP-RA, the recipient of that message.
    pub recipient: Address,
    /// TP-SCTS, when the service centre received that message.
    pub timestamp: Timestamp,
    /// TP-DT, when the status below was reached.
    pub discharge_time: Timestamp,
    /// TP-ST.
    pub status: Status,
    /// TP-MMS inverted: the service centre has more messages waiting.
    pub more_messages: bool,
    /// TP-SRQ: the report is about an SMS-COMMAND rather than an SMS-SUBMIT.
    pub about_command: bool,
    /// TP-PID, when TP-PI says it is present.
    pub protocol_identifier: Option<u8>,
    /// TP-DCS, when TP-PI says it is present.
    pub data_coding: Option<DataCoding>,
    /// The concatenation element of the report's own user data, if any.
    pub concatenation: Option<Concatenation>,
    /// The report's user data, when TP-PI says it is present.
    pub body: Option<Body>,
}

/// A PDU the network delivered to the modem.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Incoming {
    /// A message (TP-MTI 00).
    Deliver(Deliver),
    /// A status report (TP-MTI 10).
    StatusReport(StatusReport),
}

impl Incoming {
    /// Decodes the hex line of `+CMGR` in PDU mode (SMSC prefix included).
    pub fn from_hex(hex: &str) -> Result<Self, DecodeError> {
        let mut octets = [0u8; MAX_PDU_OCTETS];
        let len = decode_hex(hex, &mut octets)?;
        Self::from_octets(octets.get(..len).unwrap_or(&[]))
    }

    /// Decodes the hex line of `+CMGR: <stat>,,<length>` and checks it is `<length>`
    /// octets long after the SMSC part, so a line cut short or run together with the next
    /// is caught even where the PDU's own lengths would not show it.
    pub fn from_cmgr(hex: &str, tpdu_length: usize) -> Result<Self, DecodeError> {
        let mut octets = [0u8; MAX_PDU_OCTETS];
        let len = decode_hex(hex, &mut octets)?;
        let octets = octets.get(..len).unwrap_or(&[]);
        let incoming = Self::from_octets(octets)?;
        check_tpdu_length(octets, tpdu_length)?;
        Ok(incoming)
    }

    /// Decodes the octets of a PDU the modem routed to the host (`+CDS: <length>` or
    /// `+CMT: [<alpha>],<length>` and the PDU line after it, see [`crate::urc::RoutedPdu`])
    /// and checks they are `<length>` octets after the SMSC part, as [`Self::from_cmgr`].
    pub fn from_routed(octets: &[u8], tpdu_length: usize) -> Result<Self, DecodeError> {
        let incoming = Self::from_octets(octets)?;
        check_tpdu_length(octets, tpdu_length)?;
        Ok(incoming)
    }

    /// Decodes a received PDU from octets (SMSC prefix included).
    pub fn from_octets(octets: &[u8]) -> Result<Self, DecodeError> {
        let mut cursor = Cursor::new(octets);
        let smsc = Address::read_smsc(&mut cursor)?;
        let first = cursor.u8(Field::FirstOctet)?;
        let incoming = match first & 0x03 {
            0b00 => Incoming::Deliver(read_deliver(&mut cursor, smsc, first)?),
            0b10 => Incoming::StatusReport(read_status_report(&mut cursor, smsc, first)?),
            mti => {
                return Err(DecodeError::UnexpectedMessageType {
                    mti,
                    expected: "SMS-DELIVER or SMS-STATUS-REPORT",
                });
            }
        };
        cursor.finish()?;
        Ok(incoming)
    }
}

impl Deliver {
    /// Decodes an SMS-DELIVER from hex (SMSC prefix included); a status report or any
    /// other type is an error.
    pub fn from_hex(hex: &str) -> Result<Self, DecodeError> {
        match Incoming::from_hex(hex)? {
            Incoming::Deliver(d) => Ok(d),
            Incoming::StatusReport(_) => Err(DecodeError::UnexpectedMessageType {
                mti: 0b10,
                expected: "SMS-DELIVER",
            }),
        }
    }

    /// The text, or `None` for 8-bit data.
    pub fn text(&self) -> Option<&str> {
        self.body.text()
    }
}

fn read_deliver(
    cursor: &mut Cursor<'_>,
    smsc: Option<Address>,
    first: u8,
) -> Result<Deliver, DecodeError> {
    let originator = Address::read_tp(cursor, Field::OriginatorAddress)?;
    let protocol_identifier = cursor.u8(Field::ProtocolIdentifier)?;
    let data_coding = DataCoding::from_octet(cursor.u8(Field::DataCodingScheme)?);
    let timestamp = Timestamp::read(cursor, Field::ServiceCentreTimestamp)?;
    let ud = user_data::read(cursor, data_coding, first & 0x40 != 0)?;
    Ok(Deliver {
        smsc,
        originator,
        protocol_identifier,
        data_coding,
        timestamp,
        more_messages: first & 0x04 == 0,
        status_report_indication: first & 0x20 != 0,
        reply_path: first & 0x80 != 0,
        concatenation: ud.concatenation,
        body: ud.body,
    })
}

fn read_status_report(
    cursor: &mut Cursor<'_>,
    smsc: Option<Address>,
    first: u8,
) -> Result<StatusReport, DecodeError> {
    let message_reference = cursor.u8(Field::MessageReference)?;
    let recipient = Address::read_tp(cursor, Field::RecipientAddress)?;
    let timestamp = Timestamp::read(cursor, Field::ServiceCentreTimestamp)?;
    let discharge_time = Timestamp::read(cursor, Field::DischargeTime)?;
    let status = Status(cursor.u8(Field::Status)?);
    let mut report = StatusReport {
        smsc,
        message_reference,
        recipient,
        timestamp,
        discharge_time,
        status,
        more_messages: first & 0x04 == 0,
        about_command: first & 0x20 != 0,
        protocol_identifier: None,
        data_coding: None,
        concatenation: None,
        body: None,
    };
    // TP-PI and what it announces are optional: present only if octets remain.
    if cursor.remaining() == 0 {
        return Ok(report);
    }
    let mut indicator = cursor.u8(Field::ParameterIndicator)?;
    let announced = indicator;
    // Bit 7 extends TP-PI by another octet; those octets carry nothing this decoder reads.
    while indicator & 0x80 != 0 {
        indicator = cursor.u8(Field::ParameterIndicator)?;
    }
    if announced & 0x01 != 0 {
        report.protocol_identifier = Some(cursor.u8(Field::ProtocolIdentifier)?);
    }
    if announced & 0x02 != 0 {
        report.data_coding = Some(DataCoding::from_octet(cursor.u8(Field::DataCodingScheme)?));
    }
    if announced & 0x04 != 0 {
        // Without TP-DCS the user data is GSM 7-bit (TS 23.040 §9.2.3.27).
        let dcs = report.data_coding.unwrap_or(DataCoding::from_octet(0x00));
        let ud = user_data::read(cursor, dcs, first & 0x40 != 0)?;
        report.concatenation = ud.concatenation;
        report.body = Some(ud.body);
    }
    Ok(report)
}
