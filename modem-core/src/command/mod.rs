//! Every AT command this project sends to the SIM7600, as typed atat commands.
//!
//! This module owns the commands and their typed responses, grouped like the SIM7500/SIM7600
//! AT Command Manual V1.12 (after FactbirdHQ/ublox-cellular-rs): [`general`] (V.25ter and
//! identity), [`network`], [`call`], [`audio`], [`sms`]. Each group has `mod.rs` (the
//! command structs), `responses.rs` (what they answer) and `types.rs` (the enums of their
//! numeric parameters).
//!
//! Commands are serialized by atat's derive. Responses are parsed by hand-written functions
//! (`parse = ...` in `#[at_cmd]`) rather than serde_at, for three reasons: the SIM7600's bare
//! replies (`SIMCOM INCORPORATED`, `000`) and multi-line replies (`ATI`, `AT+CMGR`) do not
//! fit serde_at; a reply may carry a URC line between two of its lines (see
//! `crate::digest`), which the parsers skip; and an unknown value maps to an enum's
//! fallback instead of failing the command. The parsers are public (`Xxx::parse`) so that a
//! host can decode captured replies with the same code.

use crate::params::{Fields, after_prefix};
use crate::urc::urc_name;

pub mod audio;
pub mod call;
pub mod general;
pub mod network;
pub mod sms;

/// The command buffer atat's client needs (`Client::new(.., buf, ..)`): the longest
/// command is an SMS body ([`sms::SMS_BODY_CAPACITY`] bytes and 0x1A); every other command
/// is under 64 bytes. A smaller buffer makes atat's derived `write` panic.
pub const MAX_COMMAND_LEN: usize = sms::SMS_BODY_CAPACITY + 1;

/// Why a reply could not be read into its typed response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ParseError {
    /// The reply that was expected (`"+CSQ"`).
    pub reply: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "cannot read the {} reply: {}", self.reply, self.reason)
    }
}

impl ParseError {
    pub(crate) const fn new(reply: &'static str, reason: &'static str) -> Self {
        Self { reply, reason }
    }
}

/// The reply of a command that answers only `OK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NoResponse;

impl atat::AtatResp for NoResponse {}

impl NoResponse {
    /// Accepts any reply text: a command that answers `OK` succeeded, and stray lines
    /// (a URC the digester let through) must not fail it.
    pub fn parse(_reply: &[u8]) -> Result<Self, ParseError> {
        Ok(Self)
    }
}

/// The text lines of a reply: framing removed, empty lines and URC lines skipped.
pub(crate) fn reply_lines(reply: &[u8]) -> impl Iterator<Item = &[u8]> {
    reply
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty() && urc_name(line).is_none())
}

/// The one text line of a reply, as UTF-8.
pub(crate) fn single_line<'a>(reply: &'a [u8], name: &'static str) -> Result<&'a str, ParseError> {
    let line = reply_lines(reply)
        .next()
        .ok_or(ParseError::new(name, "the reply is empty"))?;
    core::str::from_utf8(line).map_err(|_| ParseError::new(name, "not UTF-8"))
}

/// The parameters of the first line that starts with `prefix` (`"+CSQ"`); the line may
/// share its prefix with a URC (`+CPIN`), so URC lines are not skipped here.
pub(crate) fn prefixed<'a>(reply: &'a [u8], prefix: &'static str) -> Result<&'a str, ParseError> {
    reply
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter_map(|line| core::str::from_utf8(line).ok())
        .find_map(|line| after_prefix(line, prefix))
        .ok_or(ParseError::new(prefix, "no line starts with the prefix"))
}

/// A numeric field, or `reason` as the error.
pub(crate) fn number<T: core::str::FromStr>(
    fields: &mut Fields<'_>,
    name: &'static str,
    reason: &'static str,
) -> Result<T, ParseError> {
    fields
        .next()
        .and_then(|f| f.number())
        .ok_or(ParseError::new(name, reason))
}

/// Serializes a value as the bare number atat writes for an enum parameter.
macro_rules! serialize_as_u8 {
    ($ty:ty, $to_u8:expr) => {
        impl atat::serde_at::serde::Serialize for $ty {
            fn serialize<S>(&self, serializer: S) -> Result<S::Ok, S::Error>
            where
                S: atat::serde_at::serde::Serializer,
            {
                let to_u8: fn(&$ty) -> u8 = $to_u8;
                serializer.serialize_u8(to_u8(self))
            }
        }
    };
}
pub(crate) use serialize_as_u8;
