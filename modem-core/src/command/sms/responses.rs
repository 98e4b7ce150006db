//! Replies of the SMS commands.

use heapless::{String, Vec};

use crate::command::{ParseError, number, prefixed, reply_lines};
use crate::params::{Fields, after_prefix};
use crate::urc::{NUMBER_CAPACITY, PhoneNumber, STORAGE_CAPACITY};

use super::types::MessageStatus;

/// Capacity of a message body in either direction, in bytes.
///
/// The longest is a PDU in hex: an SMSC address (at most 12 octets) and an SMS-SUBMIT or
/// SMS-DELIVER TPDU (at most 164 octets) make 176 octets, 352 hex digits. A text-mode body
/// is at most 160 characters (or 280 hex digits in UCS-2).
pub const SMS_BODY_CAPACITY: usize = 352;

/// Capacity of the timestamp in a text-mode `+CMGR` header (`24/05/01,10:00:00+08`).
pub const TIMESTAMP_CAPACITY: usize = 24;

/// `AT+CMGS` body reply: `+CMGS: <mr>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MessageSent {
    /// The message reference the network gave it (0..=255), which status reports name.
    pub reference: u8,
}

impl atat::AtatResp for MessageSent {}

impl MessageSent {
    /// Reads the reply.
    pub fn parse(reply: &[u8]) -> Result<Self, ParseError> {
        let mut fields = Fields::new(prefixed(reply, "+CMGS")?);
        Ok(Self {
            reference: number(&mut fields, "+CMGS", "<mr> is not a number 0..=255")?,
        })
    }
}

/// How full one message storage is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StorageUsage {
    /// The storage (`SM` SIM, `ME` modem, `MT` both).
    pub storage: String<STORAGE_CAPACITY>,
    /// Messages in it.
    pub used: u16,
    /// Its size.
    pub total: u16,
}

/// `AT+CPMS?` reply: `+CPMS: "SM",<used>,<total>,"SM",<used>,<total>,"SM",<used>,<total>`,
/// the storages for reading/deleting, writing/sending and receiving.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PreferredStorage {
    /// Where `AT+CMGR`/`AT+CMGD` look.
    pub read: StorageUsage,
    /// Where `AT+CMGW` writes.
    pub write: StorageUsage,
    /// Where received messages go.
    pub receive: StorageUsage,
}

impl atat::AtatResp for PreferredStorage {}

impl PreferredStorage {
    /// Reads the reply.
    pub fn parse(reply: &[u8]) -> Result<Self, ParseError> {
        let mut fields = Fields::new(prefixed(reply, "+CPMS")?);
        let mut usage = || -> Result<StorageUsage, ParseError> {
            let storage = fields
                .next()
                .and_then(|f| f.non_empty())
                .ok_or(ParseError::new("+CPMS", "a storage name is missing"))?;
            Ok(StorageUsage {
                storage: String::try_from(storage)
                    .map_err(|_| ParseError::new("+CPMS", "storage name too long"))?,
                used: number(&mut fields, "+CPMS", "<used> is not a number 0..=65535")?,
                total: number(&mut fields, "+CPMS", "<total> is not a number 0..=65535")?,
            })
        };
        Ok(Self {
            read: usage()?,
            write: usage()?,
            receive: usage()?,
        })
    }
}

/// `AT+CMGR=<index>` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum StoredMessage {
    /// Just `OK`: nothing is stored at that index.
    Empty,
    /// Text mode: `+CMGR: "REC UNREAD","<oa>","<alpha>","<scts>"`, then the text.
    Text {
        /// Read or unread, received or stored.
        status: MessageStatus,
        /// The sender (or, for a stored message, the recipient).
        address: Option<PhoneNumber>,
        /// The service centre timestamp as printed, `yy/MM/dd,hh:mm:ss+zz`.
        timestamp: Option<String<TIMESTAMP_CAPACITY>>,
        /// The text's bytes in the modem's character set (`AT+CSCS`), lines joined by `\n`.
        text: Vec<u8, SMS_BODY_CAPACITY>,
    },
    /// PDU mode: `+CMGR: <stat>,[<alpha>],<length>`, then the PDU in hex.
    Pdu {
        /// Read or unread, received or stored.
        status: MessageStatus,
        /// The TPDU's length in octets (the SMSC address not counted).
        length: u16,
        /// The PDU (SMSC address and TPDU) in hex digits, for `crate::pdu`.
        pdu: String<SMS_BODY_CAPACITY>,
    },
}

impl atat::AtatResp for StoredMessage {}

impl StoredMessage {
    /// Reads the reply in either mode (told apart by the header: a quoted status word is
    /// text mode, a number PDU mode).
    ///
    /// The line after the header is the message whatever it reads like; further text-mode
    /// lines are joined to it, except lines that are URCs (the digester leaves a URC that
    /// arrived inside the reply in it), so a multi-line text whose later line is exactly a
    /// URC such as `RING` loses that line.
    pub fn parse(reply: &[u8]) -> Result<Self, ParseError> {
        const NAME: &str = "+CMGR";
        let mut lines = reply.split(|&b| b == b'\n').map(<[u8]>::trim_ascii);
        let Some(header) = lines.by_ref().find(|line| line.starts_with(b"+CMGR")) else {
            return if reply_lines(reply).next().is_none() {
                Ok(Self::Empty)
            } else {
                Err(ParseError::new(NAME, "no +CMGR header"))
            };
        };
        let header =
            core::str::from_utf8(header).map_err(|_| ParseError::new(NAME, "header not UTF-8"))?;
        let params =
            after_prefix(header, NAME).ok_or(ParseError::new(NAME, "no colon after +CMGR"))?;
        let mut fields = Fields::new(params);
        let first = fields.next().ok_or(ParseError::new(NAME, "no status"))?;
        let body = lines
            .next()
            .ok_or(ParseError::new(NAME, "no message line after the header"))?;
        if first.quoted {
            let status = MessageStatus::from_text(first.text)
                .ok_or(ParseError::new(NAME, "unknown status word"))?;
            let address = match fields.next().and_then(|f| f.non_empty()) {
                Some(a) if a.len() <= NUMBER_CAPACITY => PhoneNumber::try_from(a).ok(),
                Some(_) => return Err(ParseError::new(NAME, "address too long")),
                None => None,
            };
            let _alpha = fields.next();
            let timestamp = match fields.next().and_then(|f| f.non_empty()) {
                Some(t) => Some(
                    String::try_from(t).map_err(|_| ParseError::new(NAME, "timestamp too long"))?,
                ),
                None => None,
            };
            let mut text: Vec<u8, SMS_BODY_CAPACITY> = Vec::new();
            let too_long = |_| ParseError::new(NAME, "text longer than SMS_BODY_CAPACITY");
            text.extend_from_slice(body).map_err(too_long)?;
            for line in lines.filter(|l| !l.is_empty() && crate::urc::urc_name(l).is_none()) {
                text.push(b'\n')
                    .map_err(|_| ParseError::new(NAME, "text longer than SMS_BODY_CAPACITY"))?;
                text.extend_from_slice(line).map_err(too_long)?;
            }
            Ok(Self::Text {
                status,
                address,
                timestamp,
                text,
            })
        } else {
            let status = first
                .number()
                .and_then(MessageStatus::from_code)
                .ok_or(ParseError::new(NAME, "status is not 0..=3"))?;
            let _alpha = fields.next();
            let length = fields
                .next()
                .and_then(|f| f.number())
                .ok_or(ParseError::new(NAME, "<length> is not a number 0..=65535"))?;
            let pdu =
                core::str::from_utf8(body).map_err(|_| ParseError::new(NAME, "PDU not UTF-8"))?;
            if pdu.is_empty()
                || !pdu.len().is_multiple_of(2)
                || !pdu.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(ParseError::new(
                    NAME,
                    "PDU is not an even number of hex digits",
                ));
            }
            Ok(Self::Pdu {
                status,
                length,
                pdu: String::try_from(pdu)
                    .map_err(|_| ParseError::new(NAME, "PDU longer than SMS_BODY_CAPACITY"))?,
            })
        }
    }
}
