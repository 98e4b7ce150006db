//! Call commands: answer, hang up, auto-answer, caller ID, call list (SIM7500/SIM7600 AT
//! Command Manual V1.12, the call control chapter; "Manual:" names the heading of each
//! command).

pub mod responses;
pub mod types;

use atat::atat_derive::AtatCmd;

use crate::command::NoResponse;
use responses::{AutoAnswerSetting, CallList};
use types::{
    AutoAnswer, CallListReporting, CallerIdPresentation, CellularResultCodes, VoiceHangupControl,
};

/// `ATA`: answers the ringing call; `OK`, then `VOICE CALL: BEGIN`. Without a ringing call
/// the modem answers `NO CARRIER`, which ends this command with
/// `atat::Error::ConnectionError(NoCarrier)` (see `crate::digest`). Manual: "ATA Call answer".
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("A", NoResponse, parse = NoResponse::parse, timeout_ms = 20000)]
pub struct Answer;

/// `AT+CHUP`: hangs up every call; works whatever `AT+CVHU` says, unlike `ATH`.
/// `VOICE CALL: END` and `NO CARRIER` may come before or after its `OK`.
/// Manual: "AT+CHUP Hang up call" (3GPP TS 27.007 §6.5).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CHUP", NoResponse, parse = NoResponse::parse, timeout_ms = 20000)]
pub struct HangUp;

/// `ATS0=<n>`: answer by itself on the n-th ring, 0 never; not kept across power-off.
/// Written without `+` (`ATS0=3`). Manual: "ATS0 Automatic answer incoming call".
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("S0", NoResponse, parse = NoResponse::parse)]
pub struct SetAutoAnswer {
    /// When to answer.
    #[at_arg(position = 0)]
    pub auto_answer: AutoAnswer,
}

/// `ATS0?`: the auto-answer ring count, `000`.
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("S0?", AutoAnswerSetting, parse = AutoAnswerSetting::parse)]
pub struct GetAutoAnswer;

/// `AT+CLIP=<n>`: caller ID after each ring. Manual: "AT+CLIP Calling line identification
/// presentation" (3GPP TS 27.007 §7.6).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CLIP", NoResponse, parse = NoResponse::parse, timeout_ms = 15000)]
pub struct SetCallerIdPresentation {
    /// On or off.
    #[at_arg(position = 0)]
    pub mode: CallerIdPresentation,
}

/// `AT+CLCC=<n>`: a `+CLCC` URC on every call state change. Manual: "AT+CLCC List current
/// calls".
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CLCC", NoResponse, parse = NoResponse::parse)]
pub struct SetCallListReporting {
    /// On or off.
    #[at_arg(position = 0)]
    pub mode: CallListReporting,
}

/// `AT+CLCC`: the current calls, one `+CLCC:` line each. Manual: "AT+CLCC List current
/// calls" (3GPP TS 27.007 §7.18). The digester keeps these lines for this command rather
/// than taking them as URCs because it knows `AT+CLCC` is in flight.
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CLCC", CallList, parse = CallList::parse)]
pub struct ListCalls;

/// `AT+CRC=<n>`: `+CRING: VOICE` instead of `RING`. Manual: "AT+CRC Cellular result codes"
/// (3GPP TS 27.007 §6.11).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CRC", NoResponse, parse = NoResponse::parse)]
pub struct SetCellularResultCodes {
    /// `RING` or `+CRING`.
    #[at_arg(position = 0)]
    pub mode: CellularResultCodes,
}

/// `AT+CVHU=<n>`: whether `ATH` hangs up voice calls. Manual: "AT+CVHU Voice hang up
/// control" (3GPP TS 27.007 §6.20).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CVHU", NoResponse, parse = NoResponse::parse)]
pub struct SetVoiceHangupControl {
    /// What `ATH` does.
    #[at_arg(position = 0)]
    pub mode: VoiceHangupControl,
}

/// Writes `parts` and `\r` into `buf`; the length written, 0 when `buf` is too small (the
/// client's buffer is [`crate::command::MAX_COMMAND_LEN`], far above these commands).
fn write_line(buf: &mut [u8], parts: &[&[u8]]) -> usize {
    let len = parts.iter().map(|p| p.len()).sum::<usize>() + 1;
    let Some(out) = buf.get_mut(..len) else {
        return 0;
    };
    let mut at = 0;
    for part in parts.iter().chain(core::iter::once(&&b"\r"[..])) {
        if let Some(dst) = out.get_mut(at..at + part.len()) {
            dst.copy_from_slice(part);
        }
        at += part.len();
    }
    len
}

/// `ATD<number>;`: dials a voice call (the `;` makes it voice). The SIM7600 answers `OK` at
/// once and reports the call's progress as `+CLCC` lines, then `VOICE CALL: BEGIN`, or
/// `BUSY` / `NO ANSWER` / `NO CARRIER`; those three end this command
/// (`ConnectionError`) only when they come before its `OK`. atat's derive cannot write a
/// dial string (no `=`, a trailing `;`), hence the hand-written command. Manual: "ATD Mobile
/// originated call to dial a number" (ITU-T V.250 §6.3.1).
#[derive(Debug, Clone)]
pub struct Dial {
    /// The number: digits with an optional leading `+` (checked by the driver).
    pub number: crate::urc::PhoneNumber,
}

impl atat::AtatCmd for Dial {
    type Response = NoResponse;
    const MAX_TIMEOUT_MS: u32 = 20_000;

    fn write(&self, buf: &mut [u8]) -> usize {
        write_line(buf, &[b"ATD", self.number.as_bytes(), b";"])
    }

    fn parse(
        &self,
        resp: Result<&[u8], atat::InternalError>,
    ) -> Result<Self::Response, atat::Error> {
        resp.map(|_| NoResponse).map_err(atat::Error::from)
    }
}

/// `AT+VTS=<key>`: sends one DTMF tone into the connected call, written bare (`AT+VTS=5`)
/// as SIMCom's examples write it. Manual: "AT+VTS DTMF and tone generation" (3GPP TS 27.007
/// §C.2.11).
#[derive(Debug, Clone, Copy)]
pub struct SendDtmf {
    /// The key.
    pub key: crate::urc::DtmfKey,
}

impl atat::AtatCmd for SendDtmf {
    type Response = NoResponse;
    const MAX_TIMEOUT_MS: u32 = 5_000;

    fn write(&self, buf: &mut [u8]) -> usize {
        let mut key = [0u8; 4];
        let key = self.key.as_char().encode_utf8(&mut key);
        write_line(buf, &[b"AT+VTS=", key.as_bytes()])
    }

    fn parse(
        &self,
        resp: Result<&[u8], atat::InternalError>,
    ) -> Result<Self::Response, atat::Error> {
        resp.map(|_| NoResponse).map_err(atat::Error::from)
    }
}
