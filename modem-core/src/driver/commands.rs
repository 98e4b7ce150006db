//! The command frames the driver sends and the replies it reads, as atat commands.
//!
//! Each frame is the exact bytes of one AT command (or SMS body) with the reply type it
//! expects and its timeout from the SIM7600 manual's "maximum response time". The bytes are
//! built by the driver (checked against [`COMMAND_BUF_LEN`] first, because atat's client
//! copies them into its buffer); the replies are parsed here from the text the digester
//! hands over, without panicking on any input.

use core::marker::PhantomData;

use atat::{AtatCmd, AtatResp, InternalError};
use heapless::{String, Vec};

use super::resources::COMMAND_BUF_LEN;

/// The bytes of one command, built before sending.
pub(crate) type Frame = Vec<u8, COMMAND_BUF_LEN>;

/// A reply type: parsed from the reply text (everything between the command and its final
/// result code, framing included).
pub(crate) trait Reply: Sized + AtatResp {
    /// The reply, or `None` when the text does not have its form.
    fn from_text(text: &[u8]) -> Option<Self>;
}

/// One command: `frame` written as is; the reply read as `R`; `TIMEOUT_MS` to wait for it.
pub(crate) struct Command<'a, R, const TIMEOUT_MS: u32> {
    frame: &'a [u8],
    reply: PhantomData<R>,
}

impl<'a, R, const TIMEOUT_MS: u32> Command<'a, R, TIMEOUT_MS> {
    pub(crate) fn new(frame: &'a [u8]) -> Self {
        Self {
            frame,
            reply: PhantomData,
        }
    }
}

impl<R: Reply, const TIMEOUT_MS: u32> AtatCmd for Command<'_, R, TIMEOUT_MS> {
    type Response = R;
    const MAX_TIMEOUT_MS: u32 = TIMEOUT_MS;

    fn write(&self, buf: &mut [u8]) -> usize {
        // The driver never builds a frame longer than COMMAND_BUF_LEN, the client's buffer;
        // should one ever be longer it is cut (and the modem will say ERROR) rather than
        // panic.
        let len = self.frame.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..len), self.frame.get(..len)) {
            dst.copy_from_slice(src);
        }
        len
    }

    fn parse(&self, resp: Result<&[u8], InternalError>) -> Result<R, atat::Error> {
        let text = resp.map_err(atat::Error::from)?;
        R::from_text(text).ok_or(atat::Error::Parse)
    }
}

/// The lines of a reply without framing; empty lines skipped.
pub(crate) fn lines(text: &[u8]) -> impl Iterator<Item = &str> {
    text.split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty())
        .filter_map(|line| core::str::from_utf8(line).ok())
}

/// The parameters after `prefix:` on the first line that has them.
pub(crate) fn prefixed<'a>(text: &'a [u8], prefix: &str) -> Option<&'a str> {
    lines(text).find_map(|line| {
        line.strip_prefix(prefix)
            .and_then(|rest| rest.trim_start().strip_prefix(':'))
            .map(str::trim)
    })
}

/// A reply whose text does not matter (`OK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ack;

impl AtatResp for Ack {}

impl Reply for Ack {
    fn from_text(_text: &[u8]) -> Option<Self> {
        Some(Self)
    }
}

/// Longest identity line kept (`SIMCOM INCORPORATED`, `SIMCOM_SIM7600G-H`).
pub const IDENTITY_LEN: usize = 64;

/// A bare one-line reply (`AT+CGMI` -> `SIMCOM INCORPORATED`); a `+CGMI:`-style prefix that
/// other modems print is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BareLine(pub(crate) String<IDENTITY_LEN>);

impl AtatResp for BareLine {}

impl Reply for BareLine {
    fn from_text(text: &[u8]) -> Option<Self> {
        let line = lines(text).next()?;
        let value = match line.split_once(':') {
            Some((name, value)) if name.starts_with('+') => value.trim(),
            _ => line,
        };
        String::try_from(value).ok().map(Self)
    }
}

/// `+CMGS: <mr>`: the message reference the network gave a sent SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MessageReference(pub(crate) u8);

impl AtatResp for MessageReference {}

impl Reply for MessageReference {
    fn from_text(text: &[u8]) -> Option<Self> {
        prefixed(text, "+CMGS")?.parse().ok().map(Self)
    }
}

/// `+CSQ: <rssi>,<ber>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Csq {
    pub(crate) rssi: u8,
    pub(crate) ber: u8,
}

impl AtatResp for Csq {}

impl Reply for Csq {
    fn from_text(text: &[u8]) -> Option<Self> {
        let (rssi, ber) = prefixed(text, "+CSQ")?.split_once(',')?;
        Some(Self {
            rssi: rssi.trim().parse().ok()?,
            ber: ber.trim().parse().ok()?,
        })
    }
}

/// `+CREG: <n>,<stat>[,...]`: the registration state (`<n>` is the URC mode, not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Creg {
    pub(crate) stat: u8,
}

impl AtatResp for Creg {}

impl Reply for Creg {
    fn from_text(text: &[u8]) -> Option<Self> {
        let mut fields = prefixed(text, "+CREG")?.split(',');
        let _mode = fields.next()?;
        Some(Self {
            stat: fields.next()?.trim().parse().ok()?,
        })
    }
}

/// Longest PDU kept from `AT+CMGR`, in hex digits: an SMSC address of up to 12 octets and
/// a TPDU of up to 164 octets.
pub const MAX_PDU_HEX_LEN: usize = 2 * (12 + 164);

/// `AT+CMGR=<i>` in PDU mode: `+CMGR: <stat>,[<alpha>],<length>` then the PDU line; an
/// empty reply when the slot is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cmgr(pub(crate) Option<(u8, u16, String<MAX_PDU_HEX_LEN>)>);

impl AtatResp for Cmgr {}

impl Reply for Cmgr {
    fn from_text(text: &[u8]) -> Option<Self> {
        let mut all = lines(text);
        let Some(header) = all.next() else {
            return Some(Self(None));
        };
        let params = header
            .strip_prefix("+CMGR")?
            .trim_start()
            .strip_prefix(':')?
            .trim();
        let mut fields = params.split(',');
        let stat = fields.next()?.trim().parse().ok()?;
        let length = fields.next_back()?.trim().parse().ok()?;
        let pdu = all.next()?;
        if pdu.is_empty() || !pdu.len().is_multiple_of(2) || !pdu.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Self(Some((stat, length, String::try_from(pdu).ok()?))))
    }
}
