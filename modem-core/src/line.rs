//! A streaming classifier for bytes captured from the SIM7600's AT port.
//!
//! This module owns [`LineClassifier`], which `sim7600 decode` (and anything else that
//! reads a capture rather than talks to a modem) uses to turn raw port bytes into
//! [`LineItem`]s: URCs, final result codes, the `> ` prompt, command echo, reply lines and
//! the lines it cannot place, each with the reason. It applies the same rules as the
//! digester (`crate::digest`) without atat: the same URC parser, the same final codes, the
//! echo telling which command runs (so that `+CLCC` after `AT+CLCC` is a reply line and
//! `NO CARRIER` after `ATA` a final code), the line after a `+CMGR:`, `+CMGL:` or
//! `+CMGRD:` (SIMCom's read-and-delete) header taken as message data. It is pure and bounded: one line buffer of [`LINE_CAPACITY`] bytes, no
//! panics on any input, and after an over-long or garbled line it starts afresh at the next
//! line end. Item fields are public and plain (strings, numbers, byte vectors) so a host
//! can map them to JSON directly.

use heapless::{String, Vec};

use crate::digest::{MAX_LINE_LEN, PendingCommand, looks_like_echo};
use crate::params::after_prefix;
use crate::urc::{Urc, UrcError, urc_name};

/// The longest line kept, in bytes: the digester's [`MAX_LINE_LEN`]. A longer line is
/// reported as [`UnknownReason::TooLong`] with its first `LINE_CAPACITY` bytes.
pub const LINE_CAPACITY: usize = MAX_LINE_LEN;

/// Capacity of the text of a `+CME ERROR: <text>` / `+CMS ERROR: <text>`; the longest
/// 27.007/27.005 message (`network personalization PUK required`) is under 50 bytes.
pub const ERROR_TEXT_CAPACITY: usize = 64;

/// What a `+CME ERROR` / `+CMS ERROR` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ErrorDetail {
    /// `AT+CMEE=1`: a number.
    Code(u16),
    /// `AT+CMEE=2`: a text.
    Text(String<ERROR_TEXT_CAPACITY>),
}

/// A final result code: the end of a command's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum FinalResult {
    /// `OK`.
    Ok,
    /// `ERROR`.
    Error,
    /// `+CME ERROR: <n|text>` (equipment error).
    CmeError(ErrorDetail),
    /// `+CMS ERROR: <n|text>` (message service error).
    CmsError(ErrorDetail),
    /// `NO CARRIER` answering `ATA`/`ATD` (elsewhere it is [`Urc::NoCarrier`]).
    NoCarrier,
    /// `BUSY` answering `ATD`.
    Busy,
    /// `NO ANSWER` answering `ATD`.
    NoAnswer,
}

impl FinalResult {
    /// Recognises a final result code in a line (framing ignored). `NO CARRIER`, `BUSY`
    /// and `NO ANSWER` are recognised too; whether they end a command or are URCs depends
    /// on the command in flight, which the caller knows.
    pub fn parse(line: &[u8]) -> Option<Self> {
        let line = line.trim_ascii();
        match line {
            b"OK" => return Some(Self::Ok),
            b"ERROR" => return Some(Self::Error),
            b"NO CARRIER" => return Some(Self::NoCarrier),
            b"BUSY" => return Some(Self::Busy),
            b"NO ANSWER" => return Some(Self::NoAnswer),
            _ => {}
        }
        let (cme, detail) = error_line(line)?;
        let detail = match detail.parse::<u16>() {
            Ok(code) => ErrorDetail::Code(code),
            Err(_) => ErrorDetail::Text(String::try_from(detail).ok()?),
        };
        Some(if cme {
            Self::CmeError(detail)
        } else {
            Self::CmsError(detail)
        })
    }

    /// Whether this is one of the call results (`NO CARRIER`, `BUSY`, `NO ANSWER`).
    pub const fn is_call_result(&self) -> bool {
        matches!(self, Self::NoCarrier | Self::Busy | Self::NoAnswer)
    }
}

/// Splits `+CME ERROR: <detail>` / `+CMS ERROR: <detail>` (also with the full-width colon
/// the manual prints once) into (is it CME, the trimmed detail).
pub(crate) fn error_line(line: &[u8]) -> Option<(bool, &str)> {
    if !line.starts_with(b"+CME ERROR") && !line.starts_with(b"+CMS ERROR") {
        return None;
    }
    let text = core::str::from_utf8(line).ok()?;
    match after_prefix(text, "+CME ERROR") {
        Some(detail) => Some((true, detail.trim())),
        None => Some((false, after_prefix(text, "+CMS ERROR")?.trim())),
    }
}

/// Why a line could not be placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum UnknownReason {
    /// The line is not UTF-8 (line noise, a baud-rate mismatch, binary data).
    NotUtf8,
    /// The line is longer than [`LINE_CAPACITY`].
    TooLong {
        /// The line's whole length in bytes, without its line end.
        len: usize,
    },
    /// The line starts like a URC but its parameters are wrong.
    MalformedUrc {
        /// The URC's name.
        urc: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The capture ended inside this line (no line end).
    Incomplete,
}

impl core::fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotUtf8 => f.write_str("not UTF-8"),
            Self::TooLong { len } => {
                write!(f, "line of {len} bytes, longer than {LINE_CAPACITY}")
            }
            Self::MalformedUrc { urc, reason } => write!(f, "malformed {urc}: {reason}"),
            Self::Incomplete => f.write_str("capture ends inside the line"),
        }
    }
}

/// One thing found in the byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum LineItem {
    /// A line the modem sent on its own.
    Urc(Urc),
    /// The end of a command's reply.
    Final(FinalResult),
    /// The `> ` prompt of `AT+CMGS`.
    Prompt,
    /// The modem's echo of a command (or of a message body).
    Echo(String<LINE_CAPACITY>),
    /// A line of a command's reply (`+CSQ: 16,99`, `SIMCOM INCORPORATED`, message data).
    Info(String<LINE_CAPACITY>),
    /// A line that could not be placed.
    Unknown {
        /// The line's bytes (its first [`LINE_CAPACITY`] when too long), framing removed.
        bytes: Vec<u8, LINE_CAPACITY>,
        /// Why.
        reason: UnknownReason,
    },
}

/// Turns captured port bytes into [`LineItem`]s (see the module documentation).
#[derive(Debug, Clone)]
pub struct LineClassifier {
    /// The current line; room for the `\r\r` of its line end besides its text.
    line: Vec<u8, { LINE_CAPACITY + 2 }>,
    /// Bytes of the current line beyond `line`'s capacity, when it overflowed.
    overflow: usize,
    /// How many of the overflowing bytes at the end are `\r` (the line end, not text).
    overflow_crs: usize,
    /// The line after a `+CMGR:`/`+CMGL:`/`+CMGRD:` header is message data.
    expect_body: bool,
    /// The command named by the last echo, until its final code.
    pending: Option<PendingCommand>,
}

impl Default for LineClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl LineClassifier {
    /// A classifier at the start of a capture.
    pub const fn new() -> Self {
        Self {
            line: Vec::new(),
            overflow: 0,
            overflow_crs: 0,
            expect_body: false,
            pending: None,
        }
    }

    /// Takes one byte; returns an item when the byte completes one.
    pub fn push(&mut self, byte: u8) -> Option<LineItem> {
        if byte == b'\n' {
            return self.end_line();
        }
        if self.overflow > 0 || self.line.push(byte).is_err() {
            self.overflow += 1;
            self.overflow_crs = if byte == b'\r' {
                self.overflow_crs + 1
            } else {
                0
            };
            return None;
        }
        let prompt_expected = matches!(self.pending, None | Some(PendingCommand::SendMessage));
        if prompt_expected && !self.expect_body && self.line.trim_ascii_start() == b"> " {
            self.line.clear();
            self.pending = None;
            return Some(LineItem::Prompt);
        }
        None
    }

    /// The items in `bytes`, as an iterator (bytes after the last item stay buffered for
    /// the next call).
    pub fn feed<'c, 'b>(&'c mut self, bytes: &'b [u8]) -> Items<'c, 'b> {
        Items {
            classifier: self,
            bytes: bytes.iter(),
        }
    }

    /// Ends the capture: what is left of an unfinished line (a bare `>` is the prompt).
    pub fn finish(&mut self) -> Option<LineItem> {
        if self.overflow > 0 {
            return self.end_line();
        }
        let rest = self.line.trim_ascii();
        let item = if rest.is_empty() {
            None
        } else if rest == b">" && !self.expect_body {
            Some(LineItem::Prompt)
        } else {
            Some(LineItem::Unknown {
                bytes: rest.iter().take(LINE_CAPACITY).copied().collect(),
                reason: UnknownReason::Incomplete,
            })
        };
        self.line.clear();
        item
    }

    fn end_line(&mut self) -> Option<LineItem> {
        let line = core::mem::take(&mut self.line);
        let overflow = core::mem::take(&mut self.overflow);
        let overflow_crs = core::mem::take(&mut self.overflow_crs);
        let text = line.trim_ascii();
        if overflow > 0 || text.len() > LINE_CAPACITY {
            self.expect_body = false;
            let len = if overflow > 0 {
                line.len() + overflow - overflow_crs
            } else {
                text.len()
            };
            return Some(LineItem::Unknown {
                bytes: text.iter().take(LINE_CAPACITY).copied().collect(),
                reason: UnknownReason::TooLong { len },
            });
        }
        self.classify(text)
    }

    fn classify(&mut self, line: &[u8]) -> Option<LineItem> {
        if self.expect_body {
            self.expect_body = false;
            return Some(text_item(line, LineItem::Info));
        }
        if line.is_empty() {
            return None;
        }
        if looks_like_echo(line) {
            self.pending = Some(PendingCommand::of_command(line));
            return Some(text_item(line, LineItem::Echo));
        }
        if let Some(result) = FinalResult::parse(line) {
            if !result.is_call_result() || self.pending == Some(PendingCommand::CallSetup) {
                self.pending = None;
                return Some(LineItem::Final(result));
            }
        }
        let reply_line = match self.pending {
            Some(PendingCommand::ListCalls) => line.starts_with(b"+CLCC"),
            Some(PendingCommand::SimStatus) => line.starts_with(b"+CPIN"),
            _ => false,
        };
        if !reply_line && urc_name(line).is_some() {
            return Some(match Urc::try_parse(line) {
                Ok(urc) => LineItem::Urc(urc),
                Err(UrcError::Malformed { urc, reason }) => {
                    unknown(line, UnknownReason::MalformedUrc { urc, reason })
                }
                Err(UrcError::NotUrc) => text_item(line, LineItem::Info),
            });
        }
        if line.starts_with(b"+CMGR:")
            || line.starts_with(b"+CMGL:")
            || line.starts_with(b"+CMGRD:")
        {
            self.expect_body = true;
        }
        Some(text_item(line, LineItem::Info))
    }
}

/// The line as text in the item `make` builds, or `Unknown` when it is not UTF-8.
fn text_item(line: &[u8], make: fn(String<LINE_CAPACITY>) -> LineItem) -> LineItem {
    match core::str::from_utf8(line)
        .ok()
        .and_then(|text| String::try_from(text).ok())
    {
        Some(text) => make(text),
        None => unknown(line, UnknownReason::NotUtf8),
    }
}

fn unknown(line: &[u8], reason: UnknownReason) -> LineItem {
    LineItem::Unknown {
        bytes: Vec::from_slice(line).unwrap_or_default(),
        reason,
    }
}

/// The items of one [`LineClassifier::feed`] call.
#[derive(Debug)]
pub struct Items<'c, 'b> {
    classifier: &'c mut LineClassifier,
    bytes: core::slice::Iter<'b, u8>,
}

impl Iterator for Items<'_, '_> {
    type Item = LineItem;

    fn next(&mut self) -> Option<LineItem> {
        for &byte in self.bytes.by_ref() {
            if let Some(item) = self.classifier.push(byte) {
                return Some(item);
            }
        }
        None
    }
}
