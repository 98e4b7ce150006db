//! Parameter enums of the SMS commands.

use atat::atat_derive::AtatEnum;

/// `AT+CMGF=<mode>`: how messages are written and read (3GPP TS 27.005 §3.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum MessageFormat {
    /// 0: PDU mode, hex TPDUs (what smsd uses).
    #[at_arg(value = 0)]
    Pdu,
    /// 1: text mode.
    #[at_arg(value = 1)]
    Text,
}

/// `<mode>` of `AT+CNMI`: where indications go while the link is busy (27.005 §3.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum IndicationMode {
    /// 0: buffer them in the modem.
    #[at_arg(value = 0)]
    Buffer,
    /// 1: discard them while the link is reserved (data mode), forward otherwise.
    #[at_arg(value = 1)]
    DiscardWhenReserved,
    /// 2: buffer them while the link is reserved, forward otherwise (the usual choice).
    #[at_arg(value = 2)]
    BufferWhenReserved,
    /// 3: forward them always, in-band in data mode.
    #[at_arg(value = 3)]
    Forward,
}

/// `<mt>` of `AT+CNMI`: what a received SMS-DELIVER causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum DeliverIndication {
    /// 0: nothing.
    #[at_arg(value = 0)]
    None,
    /// 1: store it and send `+CMTI: "<mem>",<index>` (what this project uses).
    #[at_arg(value = 1)]
    StoreAndNotify,
    /// 2: route it to the host as `+CMT` without storing.
    #[at_arg(value = 2)]
    RouteDirect,
    /// 3: class 3 messages as `+CMT`, others as 1.
    #[at_arg(value = 3)]
    Class3Direct,
}

/// `<bm>` of `AT+CNMI`: what a received cell broadcast causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum BroadcastIndication {
    /// 0: nothing.
    #[at_arg(value = 0)]
    None,
    /// 1: store and notify (`+CBMI`).
    #[at_arg(value = 1)]
    StoreAndNotify,
    /// 2: route to the host (`+CBM`).
    #[at_arg(value = 2)]
    RouteDirect,
    /// 3: class 3 as `+CBM`.
    #[at_arg(value = 3)]
    Class3Direct,
}

/// `<ds>` of `AT+CNMI`: what a status report causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum StatusReportIndication {
    /// 0: nothing.
    #[at_arg(value = 0)]
    None,
    /// 1: route to the host (`+CDS`).
    #[at_arg(value = 1)]
    RouteDirect,
    /// 2: store and notify (`+CDSI`).
    #[at_arg(value = 2)]
    StoreAndNotify,
}

/// `<bfr>` of `AT+CNMI`: what happens to buffered indications when `<mode>` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum BufferedIndications {
    /// 0: flush them to the host.
    #[at_arg(value = 0)]
    Flush,
    /// 1: clear them.
    #[at_arg(value = 1)]
    Clear,
}

/// The status of a stored message (27.005 §3.1 `<stat>`): a number in PDU mode, a word in
/// text mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum MessageStatus {
    /// 0, `REC UNREAD`: received, not read yet (reading it with `AT+CMGR` marks it read).
    ReceivedUnread,
    /// 1, `REC READ`: received and read.
    ReceivedRead,
    /// 2, `STO UNSENT`: stored, not sent.
    StoredUnsent,
    /// 3, `STO SENT`: stored and sent.
    StoredSent,
}

impl MessageStatus {
    /// The status for its PDU-mode number.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::ReceivedUnread,
            1 => Self::ReceivedRead,
            2 => Self::StoredUnsent,
            3 => Self::StoredSent,
            _ => return None,
        })
    }

    /// The status for its text-mode word.
    pub fn from_text(text: &str) -> Option<Self> {
        Some(match text {
            "REC UNREAD" => Self::ReceivedUnread,
            "REC READ" => Self::ReceivedRead,
            "STO UNSENT" => Self::StoredUnsent,
            "STO SENT" => Self::StoredSent,
            _ => return None,
        })
    }
}
