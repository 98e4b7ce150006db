//! Replies of the call commands.

use heapless::Vec;

use crate::command::{ParseError, single_line};
use crate::params::after_prefix;
use crate::urc::CallStatus;

use super::types::AutoAnswer;

/// How many calls `AT+CLCC` can list: 27.007 allows call ids 1..=7.
pub const MAX_CALLS: usize = 7;

/// `ATS0?` reply: the ring count as three digits, `000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AutoAnswerSetting {
    /// The setting.
    pub auto_answer: AutoAnswer,
}

impl atat::AtatResp for AutoAnswerSetting {}

impl AutoAnswerSetting {
    /// Reads the reply (`000`, `003`; a plain `3` is accepted too).
    pub fn parse(reply: &[u8]) -> Result<Self, ParseError> {
        let line = single_line(reply, "ATS0?")?.trim();
        if line.is_empty() || line.len() > 3 || !line.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::new("ATS0?", "not one to three digits"));
        }
        let rings: u8 = line
            .parse()
            .map_err(|_| ParseError::new("ATS0?", "ring count above 255"))?;
        Ok(Self {
            auto_answer: AutoAnswer::from_rings(rings),
        })
    }
}

/// `AT+CLCC` reply: one `+CLCC:` line per call, none when idle.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CallList {
    /// The calls, in the modem's order.
    pub calls: Vec<CallStatus, MAX_CALLS>,
}

impl atat::AtatResp for CallList {}

impl CallList {
    /// Reads the reply; lines that are not `+CLCC:` are skipped.
    pub fn parse(reply: &[u8]) -> Result<Self, ParseError> {
        let mut list = Self::default();
        // reply_lines skips URC lines, and +CLCC is one: read the raw lines here.
        for line in reply.split(|&b| b == b'\n').map(<[u8]>::trim_ascii) {
            let Some(params) = core::str::from_utf8(line)
                .ok()
                .and_then(|line| after_prefix(line, "+CLCC"))
            else {
                continue;
            };
            let call = CallStatus::from_params(params)
                .map_err(|reason| ParseError::new("+CLCC", reason))?;
            list.calls
                .push(call)
                .map_err(|_| ParseError::new("+CLCC", "more than MAX_CALLS calls"))?;
        }
        Ok(list)
    }
}
