//! SMS commands: format, new-message indication, storage, send, read, delete
//! (SIM7500/SIM7600 AT Command Manual V1.12, the SMS chapter, and 3GPP TS 27.005;
//! "Manual:" names the heading of each command).
//!
//! Sending is two commands, because the modem answers the first with a `> ` prompt and the
//! message's bytes go out only then: [`SendTextMessage`] or [`SendPduMessage`] (the reply
//! is the prompt), then [`MessageBody`] (the body and 0x1A; the reply is `+CMGS: <mr>`).

pub mod responses;
pub mod types;

use atat::atat_derive::AtatCmd;
use heapless::String;

use crate::command::NoResponse;
use crate::urc::NUMBER_CAPACITY;
pub use responses::SMS_BODY_CAPACITY;
use responses::{MessageSent, PreferredStorage, StoredMessage};
use types::{
    BroadcastIndication, BufferedIndications, DeliverIndication, IndicationMode, MessageFormat,
    StatusReportIndication,
};

/// `AT+CMGF=<mode>`: PDU or text mode. Manual: "AT+CMGF Select SMS message format"
/// (27.005 §3.2.3).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CMGF", NoResponse, parse = NoResponse::parse)]
pub struct SetMessageFormat {
    /// PDU or text.
    #[at_arg(position = 0)]
    pub format: MessageFormat,
}

/// `AT+CNMI=<mode>,<mt>,<bm>,<ds>,<bfr>`: how new messages are announced. Manual: "AT+CNMI
/// New message indications" (27.005 §3.4.1).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CNMI", NoResponse, parse = NoResponse::parse)]
pub struct SetNewMessageIndication {
    /// Buffering while the link is busy.
    #[at_arg(position = 0)]
    pub mode: IndicationMode,
    /// SMS-DELIVER.
    #[at_arg(position = 1)]
    pub deliver: DeliverIndication,
    /// Cell broadcast.
    #[at_arg(position = 2)]
    pub broadcast: BroadcastIndication,
    /// Status reports.
    #[at_arg(position = 3)]
    pub status_report: StatusReportIndication,
    /// Buffered indications.
    #[at_arg(position = 4)]
    pub buffered: BufferedIndications,
}

impl SetNewMessageIndication {
    /// `AT+CNMI=2,1,0,0,0`: store each message and announce it with `+CMTI`, which is what
    /// the protocol notes and smstools expect.
    pub const fn store_and_notify() -> Self {
        Self {
            mode: IndicationMode::BufferWhenReserved,
            deliver: DeliverIndication::StoreAndNotify,
            broadcast: BroadcastIndication::None,
            status_report: StatusReportIndication::None,
            buffered: BufferedIndications::Flush,
        }
    }

    /// `AT+CNMI=2,1,0,1,0`: the same, and each status report routed to the host as
    /// `+CDS: <length>` and its PDU (`crate::urc::Urc::StatusReport`), for a host that
    /// writes them where they belong (the bot, standing in for smsd's `report = yes`).
    pub const fn store_and_route_reports() -> Self {
        let mut cnmi = Self::store_and_notify();
        cnmi.status_report = StatusReportIndication::RouteDirect;
        cnmi
    }
}

/// `AT+CPMS?`: the message storages and how full they are. Manual: "AT+CPMS Preferred
/// message storage" (27.005 §3.2.2).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CPMS?", PreferredStorage, parse = PreferredStorage::parse, timeout_ms = 5000)]
pub struct GetPreferredStorage;

/// `AT+CMGS="<number>"` (text mode): asks to send a message to `number`; the reply is the
/// `> ` prompt, after which [`MessageBody`] goes out. Manual: "AT+CMGS Send message"
/// (27.005 §3.5.1).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CMGS", NoResponse, parse = NoResponse::parse, timeout_ms = 5000)]
pub struct SendTextMessage {
    /// The recipient, `+491721234567` (quoted on the wire).
    #[at_arg(position = 0)]
    pub number: String<NUMBER_CAPACITY>,
}

/// `AT+CMGS=<length>` (PDU mode): asks to send a TPDU of `length` octets (the SMSC address
/// not counted); the reply is the `> ` prompt, after which [`MessageBody`] goes out with the
/// hex PDU. Manual: "AT+CMGS Send message" (27.005 §3.5.1).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CMGS", NoResponse, parse = NoResponse::parse, timeout_ms = 5000)]
pub struct SendPduMessage {
    /// The TPDU's length in octets.
    #[at_arg(position = 0)]
    pub length: u8,
}

/// `AT+CMGR=<index>`: reads one stored message (and marks it read). Manual: "AT+CMGR Read
/// message" (27.005 §3.4.3). Indexes start at 0.
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CMGR", StoredMessage, parse = StoredMessage::parse, timeout_ms = 5000)]
pub struct ReadMessage {
    /// The index in the read storage (`AT+CPMS`).
    #[at_arg(position = 0)]
    pub index: u16,
}

/// `AT+CMGD=<index>`: deletes one stored message. Manual: "AT+CMGD Delete message"
/// (27.005 §3.5.4). Never delete what has not been read and handed on: smstools may not
/// have seen it yet.
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CMGD", NoResponse, parse = NoResponse::parse, timeout_ms = 5000)]
pub struct DeleteMessage {
    /// The index in the read storage.
    #[at_arg(position = 0)]
    pub index: u16,
}

/// Why bytes cannot be a message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageBodyError {
    /// Longer than [`SMS_BODY_CAPACITY`].
    TooLong {
        /// The body's length.
        len: usize,
    },
    /// The body contains 0x1A (which would end it early) or 0x1B (which would cancel it).
    ControlByte {
        /// Where.
        position: usize,
    },
    /// A PDU body is not an even number of hex digits.
    NotHex,
}

impl core::fmt::Display for MessageBodyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooLong { len } => write!(
                f,
                "message body is {len} bytes, at most {SMS_BODY_CAPACITY} are allowed"
            ),
            Self::ControlByte { position } => write!(
                f,
                "message body has a Ctrl-Z or ESC byte at {position}, which would end it early"
            ),
            Self::NotHex => f.write_str("PDU body is not an even number of hex digits"),
        }
    }
}

/// The second step of `AT+CMGS`: the body and 0x1A, written after the `> ` prompt; the
/// reply is `+CMGS: <mr>` once the network took the message. Manual: "AT+CMGS Send message"
/// (27.005 §3.5.1); up to 120 s on a slow network.
///
/// A raw write (no `AT`, no `\r`), implemented by hand: the derive would quote the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageBody<'a> {
    bytes: &'a [u8],
}

impl<'a> MessageBody<'a> {
    /// A text-mode body in the modem's character set.
    pub fn text(text: &'a [u8]) -> Result<Self, MessageBodyError> {
        if text.len() > SMS_BODY_CAPACITY {
            return Err(MessageBodyError::TooLong { len: text.len() });
        }
        if let Some(position) = text.iter().position(|&b| b == 0x1a || b == 0x1b) {
            return Err(MessageBodyError::ControlByte { position });
        }
        Ok(Self { bytes: text })
    }

    /// A PDU-mode body: the SMSC address and TPDU in hex digits.
    pub fn pdu_hex(hex: &'a str) -> Result<Self, MessageBodyError> {
        if hex.len() > SMS_BODY_CAPACITY {
            return Err(MessageBodyError::TooLong { len: hex.len() });
        }
        if hex.is_empty()
            || !hex.len().is_multiple_of(2)
            || !hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(MessageBodyError::NotHex);
        }
        Ok(Self {
            bytes: hex.as_bytes(),
        })
    }

    /// The body's bytes (without the 0x1A).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl atat::AtatCmd for MessageBody<'_> {
    type Response = MessageSent;

    const MAX_TIMEOUT_MS: u32 = 120_000;

    fn write(&self, buf: &mut [u8]) -> usize {
        let len = self.bytes.len();
        match buf.get_mut(..=len) {
            Some(out) => {
                let (body, end) = out.split_at_mut(len);
                body.copy_from_slice(self.bytes);
                end.fill(0x1a);
                len + 1
            }
            // The client's buffer is smaller than MAX_COMMAND_LEN: rather than send half a
            // message, cancel it (ESC), and the command fails when its reply is parsed.
            None => match buf.first_mut() {
                Some(first) => {
                    *first = 0x1b;
                    1
                }
                None => 0,
            },
        }
    }

    fn parse(
        &self,
        resp: Result<&[u8], atat::InternalError<'_>>,
    ) -> Result<Self::Response, atat::Error> {
        MessageSent::parse(resp?).map_err(|_| atat::Error::Parse)
    }
}
