//! The simulated SIM7600 itself, sans-I/O: bytes from the host, control commands and the
//! passing of time go in; bytes for the host come out of [`Modem::take_output`]. It owns
//! the modem's whole state (settings, the call, the SIM storage, what the host sent) and
//! follows SIM7600-PROTOCOL.md. The pty, sockets and clocks live in [`crate::sim`].

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use crate::config::{Behaviour, ExterntoneReply, Identity, SimConfig, StatusReports};
use crate::control::{ControlCommand, ControlError};
use crate::pdu::{self, Alphabet, Concat, SmsTime};

/// The longest AT command line the modem reads; longer lines are answered with ERROR.
pub const MAX_COMMAND_LINE: usize = 1024;
/// The longest SMS body (text or hex PDU) accepted after the `> ` prompt.
pub const MAX_SMS_BODY: usize = 4096;
/// How many received AT command lines `state` keeps (the oldest are dropped).
pub const COMMAND_HISTORY: usize = 1000;

const START_UP_LINES: [&str; 4] = ["RDY", "+CPIN: READY", "SMS DONE", "PB DONE"];

/// Settings that a power cycle returns to their defaults.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Settings {
    /// Echo (ATE).
    pub echo: bool,
    /// AT+CMEE: 0 plain ERROR, 1 numeric, 2 text.
    pub cmee: u8,
    /// AT+CREG report mode.
    pub creg: u8,
    /// AT+CLIP.
    pub clip: bool,
    /// AT+CLCC=1: report call state changes.
    pub clcc: bool,
    /// AT+CRC: `+CRING: VOICE` instead of RING.
    pub crc: bool,
    /// ATS0: answer on this RING, 0 = never.
    pub auto_answer_rings: u8,
    /// AT+CMGF=1.
    pub sms_text_mode: bool,
    /// AT+CNMI `<mode>`.
    pub cnmi_mode: u8,
    /// AT+CNMI `<mt>`: 1 announces stored SMS with +CMTI.
    pub cnmi_mt: u8,
    /// AT+CNMI `<ds>`: 1 routes status reports as +CDS, 2 stores them (+CDSI).
    pub cnmi_ds: u8,
    /// AT+CVHU.
    pub cvhu: u8,
    /// AT+CPCMREG: USB audio on.
    pub pcm_audio: bool,
    /// AT+CPCMFRM=1: USB audio at 16 kHz instead of 8 kHz.
    pub pcm_16khz: bool,
    /// The last AT+CEXTERNTONE value the host set, if any.
    pub externtone: Option<String>,
}

impl Settings {
    fn power_up(cvhu: u8) -> Settings {
        Settings {
            echo: true,
            cmee: 0,
            creg: 0,
            clip: false,
            clcc: false,
            crc: false,
            auto_answer_rings: 0,
            sms_text_mode: false,
            cnmi_mode: 2,
            cnmi_mt: 1,
            cnmi_ds: 0,
            cvhu,
            pcm_audio: false,
            pcm_16khz: false,
            externtone: None,
        }
    }
}

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    /// Ringing, not answered.
    Incoming,
    /// Answered.
    Active,
}

impl CallStatus {
    fn clcc(self) -> u8 {
        match self {
            CallStatus::Incoming => 4,
            CallStatus::Active => 0,
        }
    }
}

#[derive(Debug, Clone)]
struct Call {
    number: String,
    withheld: bool,
    status: CallStatus,
    rings: u32,
    ring_interval: Duration,
    next_ring: Option<Instant>,
    answered_at: Option<Instant>,
}

impl Call {
    fn number_type(&self, behaviour: &Behaviour) -> u8 {
        if self.withheld || behaviour.shown_number_type_128 {
            128
        } else if self.number.starts_with('+') {
            145
        } else {
            129
        }
    }
}

/// SIM storage status of a message, as `+CMGR`/`+CMGL` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SmsStatus {
    Unread = 0,
    Read = 1,
}

impl SmsStatus {
    fn text(self) -> &'static str {
        match self {
            SmsStatus::Unread => "REC UNREAD",
            SmsStatus::Read => "REC READ",
        }
    }
}

#[derive(Debug, Clone)]
struct Stored {
    status: SmsStatus,
    originator: String,
    time: SmsTime,
    part: pdu::EncodedDeliver,
}

/// One SMS (or part) the host sent with AT+CMGS, decoded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SentPart {
    /// The recipient.
    pub number: String,
    /// The text of this part.
    pub text: String,
    /// `"text"` or `"pdu"`: the mode it was sent in.
    pub mode: &'static str,
    /// The alphabet of a PDU-mode part.
    pub alphabet: Option<Alphabet>,
    /// The concatenation header, if any.
    pub concat: Option<Concat>,
    /// The hex PDU as sent, in PDU mode.
    pub pdu: Option<String>,
    /// The message reference the modem answered (`+CMGS: <mr>`).
    pub mr: u8,
}

/// A whole message the host sent (the parts of a concatenated one joined).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SentSms {
    /// The recipient.
    pub number: String,
    /// The whole text.
    pub text: String,
    /// How many AT+CMGS it took.
    pub parts: usize,
}

/// An SMS delivered to the modem with the `sms` control command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeliveredSms {
    /// The sender.
    pub number: String,
    /// The whole text.
    pub text: String,
    /// The SIM indexes its parts were stored at.
    pub indexes: Vec<usize>,
}

/// One call in `state`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallState {
    /// The `+CLCC` id.
    pub id: u8,
    /// Always `incoming`: the simulator does not dial out.
    pub direction: &'static str,
    /// Ringing or answered.
    pub status: CallStatus,
    /// The caller.
    pub number: String,
    /// The caller withheld the number.
    pub withheld: bool,
    /// RINGs so far.
    pub rings: u32,
}

/// One occupied SIM slot in `state`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredState {
    /// The SIM index (from 0).
    pub index: usize,
    /// `REC UNREAD` or `REC READ`.
    pub status: &'static str,
    /// The sender.
    pub number: String,
    /// The text of this part.
    pub text: String,
    /// The concatenation header, if any.
    pub concat: Option<Concat>,
    /// The SMS-DELIVER PDU as `+CMGR` shows it.
    pub pdu: String,
}

/// The SIM storage in `state`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SimStorageState {
    /// Slots in total.
    pub capacity: usize,
    /// Slots in use.
    pub used: usize,
    /// The messages, by index.
    pub messages: Vec<StoredState>,
}

/// Everything the modem knows, for the `state` control command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModemState {
    /// What the modem says about itself.
    pub identity: Identity,
    /// How it answers AT+CEXTERNTONE.
    pub externtone_reply: ExterntoneReply,
    /// Volatile settings.
    pub settings: Settings,
    /// AT+CLVL (kept across power cycles).
    pub clvl: u8,
    /// The call, if any.
    pub calls: Vec<CallState>,
    /// SIM storage.
    pub sim: SimStorageState,
    /// Messages the host sent, whole.
    pub sent: Vec<SentSms>,
    /// Every AT+CMGS the host completed.
    pub sent_parts: Vec<SentPart>,
    /// Messages delivered with `sms`.
    pub delivered: Vec<DeliveredSms>,
    /// The modem is stalled (answers nothing).
    pub stalled: bool,
    /// The AT command lines received, oldest first (at most [`COMMAND_HISTORY`]).
    pub commands: Vec<String>,
    /// How it words and orders what it says.
    pub behaviour: Behaviour,
}

#[derive(Debug, Clone)]
enum Input {
    Command,
    Body { target: BodyTarget, body: Vec<u8> },
}

#[derive(Debug, Clone)]
enum BodyTarget {
    Text(String),
    Pdu(usize),
}

/// A final result other than OK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AtError {
    /// Plain ERROR whatever AT+CMEE says (syntax, unknown command).
    Plain,
    /// `+CME ERROR`.
    Cme(u16),
    /// `+CMS ERROR`.
    Cms(u16),
}

const CME_NOT_ALLOWED: u16 = 3;
const CME_INVALID_INDEX: u16 = 21;
const CME_BAD_PARAMS: u16 = 50;
const CMS_NOT_ALLOWED: u16 = 302;
const CMS_NOT_SUPPORTED: u16 = 303;
const CMS_BAD_PDU: u16 = 304;
const CMS_BAD_TEXT: u16 = 305;
const CMS_BAD_INDEX: u16 = 321;
const CMS_MEMORY_FULL: u16 = 322;

fn error_text(e: AtError) -> &'static str {
    match e {
        AtError::Plain => "ERROR",
        AtError::Cme(CME_NOT_ALLOWED) => "operation not allowed",
        AtError::Cme(CME_INVALID_INDEX) => "invalid index",
        AtError::Cme(CME_BAD_PARAMS) => "Incorrect parameters",
        AtError::Cms(CMS_NOT_ALLOWED) => "operation not allowed",
        AtError::Cms(CMS_NOT_SUPPORTED) => "operation not supported",
        AtError::Cms(CMS_BAD_PDU) => "invalid PDU mode parameter",
        AtError::Cms(CMS_BAD_TEXT) => "invalid text mode parameter",
        AtError::Cms(CMS_BAD_INDEX) => "invalid memory index",
        AtError::Cms(CMS_MEMORY_FULL) => "memory full",
        AtError::Cme(_) | AtError::Cms(_) => "unknown error",
    }
}

/// What a command asks of the chain it is in.
enum Flow {
    /// Go on; OK at the end.
    Continue,
    /// The modem waits for more input (the SMS prompt): no final result now.
    Suspend,
    /// End the chain with this final result instead of OK (ATA without a call).
    Final(&'static str),
}

/// One command of an AT command line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cmd {
    Basic(char, Option<u32>),
    Ampersand(char, Option<u32>),
    SReg(u32, Option<u32>),
    Ext(String, Kind),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Exec,
    Read,
    Test,
    Set(String),
}

fn digits(chars: &[char], i: &mut usize) -> Option<u32> {
    let start = *i;
    while chars.get(*i).is_some_and(char::is_ascii_digit) {
        *i += 1;
    }
    chars
        .get(start..*i)
        .and_then(|d| d.iter().collect::<String>().parse().ok())
}

/// Splits what follows `AT` into commands; `None` is a syntax error.
fn split_chain(rest: &str) -> Option<Vec<Cmd>> {
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while let Some(&c) = chars.get(i) {
        match c.to_ascii_uppercase() {
            ';' | ' ' => i += 1,
            '+' | '^' | '$' => {
                let start = i;
                i += 1;
                while chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
                    i += 1;
                }
                let name: String = chars
                    .get(start..i)?
                    .iter()
                    .collect::<String>()
                    .to_ascii_uppercase();
                if name.len() < 2 {
                    return None;
                }
                let kind = match chars.get(i) {
                    Some('?') => {
                        i += 1;
                        Kind::Read
                    }
                    Some('=') if chars.get(i + 1) == Some(&'?') => {
                        i += 2;
                        Kind::Test
                    }
                    Some('=') => {
                        i += 1;
                        let start = i;
                        let mut quoted = false;
                        while let Some(&c) = chars.get(i) {
                            if c == '"' {
                                quoted = !quoted;
                            } else if c == ';' && !quoted {
                                break;
                            }
                            i += 1;
                        }
                        Kind::Set(chars.get(start..i)?.iter().collect())
                    }
                    _ => Kind::Exec,
                };
                out.push(Cmd::Ext(name, kind));
            }
            'S' => {
                i += 1;
                let reg = digits(&chars, &mut i)?;
                match chars.get(i) {
                    Some('?') => {
                        i += 1;
                        out.push(Cmd::SReg(reg, None));
                    }
                    Some('=') => {
                        i += 1;
                        let v = digits(&chars, &mut i)?;
                        out.push(Cmd::SReg(reg, Some(v)));
                    }
                    _ => return None,
                }
            }
            '&' => {
                let letter = chars.get(i + 1)?.to_ascii_uppercase();
                i += 2;
                out.push(Cmd::Ampersand(letter, digits(&chars, &mut i)));
            }
            l if l.is_ascii_alphabetic() => {
                i += 1;
                out.push(Cmd::Basic(l, digits(&chars, &mut i)));
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Splits a parameter list at commas outside quotes; quotes are removed.
fn params(args: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in args.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            _ => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out.into_iter().map(|p| p.trim().to_string()).collect()
}

fn one_number(
    args: &str,
    range: std::ops::RangeInclusive<u32>,
    err: AtError,
) -> Result<u32, AtError> {
    let p = params(args);
    match p.as_slice() {
        [one] => one.parse().ok().filter(|v| range.contains(v)).ok_or(err),
        _ => Err(err),
    }
}

fn hhmmss(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}{:02}{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// The simulated modem.
#[derive(Debug)]
pub struct Modem {
    identity: Identity,
    externtone: ExterntoneReply,
    smsc: String,
    default_ring_interval: Duration,
    cvhu_default: u8,
    pcm_ready_after: Duration,
    behaviour: Behaviour,
    settings: Settings,
    clvl: u8,
    input: Input,
    line: Vec<u8>,
    line_overflow: bool,
    call: Option<Call>,
    sim: Vec<Option<Stored>>,
    sent_parts: Vec<SentPart>,
    delivered: Vec<DeliveredSms>,
    history: VecDeque<String>,
    out: Vec<u8>,
    after_final: Vec<String>,
    stall_until: Option<Instant>,
    /// `hang`: nothing is answered until AT+CFUN=1,1 (unless ignored) or a restart.
    hung: bool,
    /// `cfun ignore`: AT+CFUN=1,1 is answered OK and does nothing.
    cfun_ignored: bool,
    /// What a hung modem has been sent of the current line.
    hung_line: Vec<u8>,
    /// `stallon`: a command line's start, the stall it triggers, and how many matching
    /// lines run before it does.
    stall_on: Option<(String, Duration, u32)>,
    message_reference: u8,
    concat_reference: u8,
    rng: u64,
    status_reports: StatusReports,
    status_report_delay: Duration,
    /// Status reports not yet due: when, and the report.
    pending_reports: Vec<(Instant, pdu::EncodedDeliver, String)>,
}

impl Modem {
    /// A modem just powered on: the start-up lines are already waiting in the output.
    pub fn new(config: &SimConfig) -> Modem {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        let mut m = Modem {
            identity: config.identity.clone(),
            externtone: config.externtone,
            smsc: config.smsc.clone(),
            default_ring_interval: config.ring_interval,
            cvhu_default: config.cvhu_default,
            pcm_ready_after: config.pcm_ready_after,
            behaviour: config.behaviour.clone(),
            settings: Settings::power_up(config.cvhu_default),
            clvl: 4,
            input: Input::Command,
            line: Vec::new(),
            line_overflow: false,
            call: None,
            sim: vec![None; config.sim_capacity],
            sent_parts: Vec::new(),
            delivered: Vec::new(),
            history: VecDeque::new(),
            out: Vec::new(),
            after_final: Vec::new(),
            stall_until: None,
            hung: false,
            cfun_ignored: false,
            hung_line: Vec::new(),
            stall_on: None,
            message_reference: 0,
            concat_reference: 0,
            rng: seed | 1,
            status_reports: config.status_reports,
            status_report_delay: config.status_report_delay,
            pending_reports: Vec::new(),
        };
        m.power_on();
        m
    }

    /// A power cycle: volatile settings back to power-up values, the call dropped, any
    /// half-typed input forgotten, then the start-up lines. The SIM and AT+CLVL survive.
    pub fn power_on(&mut self) {
        self.settings = Settings::power_up(self.cvhu_default);
        self.input = Input::Command;
        self.line.clear();
        self.line_overflow = false;
        self.call = None;
        self.after_final.clear();
        self.stall_until = None;
        self.hung = false;
        self.hung_line.clear();
        for l in START_UP_LINES {
            self.urc(l);
        }
    }

    /// The audio port's sample rate while audio runs: AT+CPCMREG=1 during an answered
    /// call (8000 Hz, or 16000 after AT+CPCMFRM=1); `None` otherwise.
    pub fn audio_rate(&self) -> Option<u32> {
        let answered = self
            .call
            .as_ref()
            .is_some_and(|c| c.status == CallStatus::Active);
        match (answered && self.settings.pcm_audio, self.settings.pcm_16khz) {
            (false, _) => None,
            (true, false) => Some(8000),
            (true, true) => Some(16000),
        }
    }

    /// Bytes the modem has for the host since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// When [`Modem::tick`] must next run (a RING due, a stall ending).
    pub fn next_deadline(&self) -> Option<Instant> {
        let ring = self.call.as_ref().and_then(|c| c.next_ring);
        let report = self.pending_reports.iter().map(|(t, _, _)| *t).min();
        [ring, self.stall_until, report].into_iter().flatten().min()
    }

    /// Lets time pass: RINGs that are due, the end of a stall.
    pub fn tick(&mut self, now: Instant) {
        if self.stall_until.is_some_and(|t| t <= now) {
            self.stall_until = None;
        }
        // A report due while the host is typing a message body waits for it to end.
        if matches!(self.input, Input::Command) {
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_reports)
                .into_iter()
                .partition(|(t, _, _)| *t <= now);
            self.pending_reports = later;
            for (_, report, recipient) in due {
                self.status_report(report, &recipient);
            }
        }
        while let Some(due) = self.call.as_ref().and_then(|c| c.next_ring) {
            if due > now {
                break;
            }
            if let Some(c) = self.call.as_mut() {
                c.next_ring = Some(due + c.ring_interval);
            }
            self.ring(now, true);
        }
    }

    /// Bytes from the host.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) {
        self.tick(now);
        if self.stall_until.is_some() {
            return;
        }
        if self.hung {
            self.feed_hung(bytes);
            return;
        }
        for &b in bytes {
            self.feed_byte(b, now);
        }
    }

    /// A hung modem reads lines only to see AT+CFUN=1,1: it restarts on it (unless
    /// `cfun ignore`); every other line is lost.
    fn feed_hung(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b != b'\r' {
                if self.hung_line.len() < MAX_COMMAND_LINE {
                    self.hung_line.push(b);
                }
                continue;
            }
            let line = std::mem::take(&mut self.hung_line);
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.eq_ignore_ascii_case("AT+CFUN=1,1") {
                self.remember(text);
                if !self.cfun_ignored {
                    self.hung = false;
                    self.raw_final("OK");
                    self.power_on();
                    return;
                }
            }
        }
    }

    fn feed_byte(&mut self, b: u8, now: Instant) {
        match &mut self.input {
            Input::Command => {
                if self.settings.echo {
                    self.out.push(b);
                }
                match b {
                    b'\r' => {
                        let line = std::mem::take(&mut self.line);
                        let overflow = std::mem::replace(&mut self.line_overflow, false);
                        if overflow {
                            self.final_error(AtError::Plain);
                        } else {
                            self.run_line(&String::from_utf8_lossy(&line), now);
                        }
                    }
                    b'\n' if self.line.is_empty() => {}
                    0x08 | 0x7F => {
                        self.line.pop();
                    }
                    _ if self.line.len() >= MAX_COMMAND_LINE => self.line_overflow = true,
                    _ => self.line.push(b),
                }
            }
            Input::Body { target, body } => match b {
                0x1A => {
                    let target = target.clone();
                    let body = std::mem::take(body);
                    self.input = Input::Command;
                    self.finish_sms(target, &body, now);
                }
                0x1B => {
                    // ESC: the message is dropped, nothing is sent.
                    self.input = Input::Command;
                    self.raw_final("OK");
                }
                _ => {
                    if self.settings.echo {
                        self.out.push(b);
                    }
                    let text_mode = matches!(target, BodyTarget::Text(_));
                    if b == b'\r' && text_mode {
                        body.push(b'\n');
                        self.out.extend_from_slice(b"\r\n> ");
                    } else if b != b'\r' && b != b'\n' && body.len() <= MAX_SMS_BODY {
                        // Line ends inside a PDU are layout, not data; LF after CR in
                        // text mode is the second half of a line end.
                        body.push(b);
                    }
                }
            },
        }
    }

    fn remember(&mut self, line: &str) {
        if self.history.len() >= COMMAND_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(line.to_string());
    }

    fn run_line(&mut self, line: &str, now: Instant) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        self.remember(trimmed);
        if let Some((prefix, d, skip)) = self.stall_on.as_mut() {
            let matches = trimmed
                .get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix));
            if matches && *skip > 0 {
                *skip -= 1;
            } else if matches {
                // The line is lost, as everything else until the stall ends.
                self.stall_until = Some(now + *d);
                self.stall_on = None;
                return;
            }
        }
        let Some(rest) = trimmed
            .get(..2)
            .filter(|p| p.eq_ignore_ascii_case("AT"))
            .and_then(|_| trimmed.get(2..))
        else {
            // Not a command line: a real modem ignores it.
            return;
        };
        let Some(chain) = split_chain(rest) else {
            self.final_error(AtError::Plain);
            return;
        };
        for cmd in chain {
            match self.exec(cmd, now) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Suspend) => return,
                Ok(Flow::Final(code)) => {
                    self.raw_final(code);
                    self.flush_after_final();
                    return;
                }
                Err(e) => {
                    self.after_final.clear();
                    self.final_error(e);
                    return;
                }
            }
        }
        self.raw_final("OK");
        self.flush_after_final();
    }

    fn flush_after_final(&mut self) {
        for l in std::mem::take(&mut self.after_final) {
            self.urc(&l);
        }
    }

    /// An information block: `\r\n` + lines joined by `\r\n` + `\r\n`.
    fn block(&mut self, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(lines.join("\r\n").as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn info(&mut self, line: String) {
        self.block(&[line]);
    }

    fn urc(&mut self, line: &str) {
        let framing: &[u8] = if self
            .behaviour
            .cr_cr_lf_urcs
            .iter()
            .any(|start| line.starts_with(start.as_str()))
        {
            b"\r\r\n"
        } else {
            b"\r\n"
        };
        self.out.extend_from_slice(framing);
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(framing);
    }

    fn raw_final(&mut self, code: &str) {
        self.urc(code);
    }

    fn final_error(&mut self, e: AtError) {
        let line = match (e, self.settings.cmee) {
            (AtError::Plain, _) | (_, 0) => "ERROR".to_string(),
            (AtError::Cme(n), 1) => format!("+CME ERROR: {n}"),
            (AtError::Cms(n), 1) => format!("+CMS ERROR: {n}"),
            (AtError::Cme(_), _) => format!("+CME ERROR: {}", error_text(e)),
            (AtError::Cms(_), _) => format!("+CMS ERROR: {}", error_text(e)),
        };
        self.raw_final(&line);
    }

    fn exec(&mut self, cmd: Cmd, now: Instant) -> Result<Flow, AtError> {
        match cmd {
            Cmd::Basic('E', n) => match n.unwrap_or(0) {
                0 => self.settings.echo = false,
                1 => self.settings.echo = true,
                _ => return Err(AtError::Plain),
            },
            Cmd::Basic('I', _) => {
                let id = &self.identity;
                let lines = vec![
                    format!("Manufacturer: {}", id.manufacturer),
                    format!("Model: {}", id.model),
                    format!("Revision: {}", id.revision),
                    format!("IMEI: {}", id.imei),
                    "+GCAP: +CGSM".to_string(),
                ];
                self.block(&lines);
            }
            Cmd::Basic('Z', _) | Cmd::Ampersand('F', _) => {
                self.settings = Settings::power_up(self.cvhu_default);
            }
            Cmd::Basic('V', n) if n.unwrap_or(0) == 1 => {}
            Cmd::Basic('Q', n) if n.unwrap_or(0) == 0 => {}
            Cmd::Basic('A', None) => return Ok(self.answer(now)),
            Cmd::Basic('H', n) if n.unwrap_or(0) == 0 => {
                if self.settings.cvhu == 0 {
                    self.hang_up_locally(now);
                }
            }
            Cmd::SReg(0, Some(v)) => {
                self.settings.auto_answer_rings = u8::try_from(v).map_err(|_| AtError::Plain)?;
            }
            Cmd::SReg(0, None) => self.info(format!("{:03}", self.settings.auto_answer_rings)),
            Cmd::Ext(name, kind) => return self.exec_ext(&name, kind, now),
            _ => return Err(AtError::Plain),
        }
        Ok(Flow::Continue)
    }

    fn exec_ext(&mut self, name: &str, kind: Kind, now: Instant) -> Result<Flow, AtError> {
        use Kind::*;
        match (name, kind) {
            ("+CGMI" | "+GMI", Exec) => self.info(self.identity.manufacturer.clone()),
            ("+CGMM" | "+GMM", Exec) => self.info(self.identity.model.clone()),
            ("+CGMR" | "+GMR", Exec) => self.info(format!("+CGMR: {}", self.identity.revision)),
            ("+CGSN" | "+GSN", Exec) => self.info(self.identity.imei.clone()),
            ("+CIMI", Exec) => self.info(self.identity.imsi.clone()),
            ("+CGMI" | "+CGMM" | "+CGMR" | "+CGSN" | "+CIMI", Test) => {}
            ("+CPIN", Read) => self.info("+CPIN: READY".into()),
            ("+CSQ", Exec) => self.info("+CSQ: 16,99".into()),
            ("+CSQ", Test) => self.info("+CSQ: (0-31,99),(0-7,99)".into()),
            ("+CFUN", Read) => self.info("+CFUN: 1".into()),
            // 1,1: reset, then full functionality. Ignored (`cfun ignore`): OK and nothing.
            ("+CFUN", Set(a)) if a.trim() == "1,1" => {
                self.raw_final("OK");
                if !self.cfun_ignored {
                    self.power_on();
                }
                return Ok(Flow::Suspend);
            }
            ("+CFUN", Set(a)) if a.trim() == "1" => {}
            ("+CRESET", Exec) => {
                self.raw_final("OK");
                self.power_on();
                return Ok(Flow::Suspend);
            }
            ("+CREG", Read) => {
                let line = if self.settings.creg == 2 {
                    format!("+CREG: {},1,\"1A2B\",\"01C3D4E5\"", self.settings.creg)
                } else {
                    format!("+CREG: {},1", self.settings.creg)
                };
                self.info(line);
            }
            ("+CREG", Set(a)) => {
                self.settings.creg = one_number(&a, 0..=2, AtError::Cme(CME_BAD_PARAMS))? as u8
            }
            ("+CREG", Test) => self.info("+CREG: (0-2)".into()),
            ("+CMEE", Set(a)) => {
                self.settings.cmee = one_number(&a, 0..=2, AtError::Cme(CME_BAD_PARAMS))? as u8
            }
            ("+CMEE", Read) => self.info(format!("+CMEE: {}", self.settings.cmee)),
            ("+CMEE", Test) => self.info("+CMEE: (0-2)".into()),
            ("+CLIP", Set(a)) => {
                self.settings.clip = one_number(&a, 0..=1, AtError::Cme(CME_BAD_PARAMS))? == 1
            }
            ("+CLIP", Read) => self.info(format!("+CLIP: {},1", u8::from(self.settings.clip))),
            ("+CLIP", Test) => self.info("+CLIP: (0-1)".into()),
            ("+CRC", Set(a)) => {
                self.settings.crc = one_number(&a, 0..=1, AtError::Cme(CME_BAD_PARAMS))? == 1
            }
            ("+CRC", Read) => self.info(format!("+CRC: {}", u8::from(self.settings.crc))),
            ("+CLCC", Set(a)) => {
                self.settings.clcc = one_number(&a, 0..=1, AtError::Cme(CME_BAD_PARAMS))? == 1
            }
            ("+CLCC", Read) => self.info(format!("+CLCC: {}", u8::from(self.settings.clcc))),
            ("+CLCC", Test) => self.info("+CLCC: (0-1)".into()),
            ("+CLCC", Exec) => {
                if let Some(line) = self.clcc_line() {
                    self.info(line);
                }
            }
            ("+CLVL", Set(a)) => {
                self.clvl = one_number(&a, 0..=5, AtError::Cme(CME_BAD_PARAMS))? as u8
            }
            ("+CLVL", Read) => self.info(format!("+CLVL: {}", self.clvl)),
            ("+CLVL", Test) => self.info("+CLVL: (0-5)".into()),
            ("+CEXTERNTONE", Set(a)) => match self.externtone {
                ExterntoneReply::Ok => self.settings.externtone = Some(a),
                ExterntoneReply::Error => return Err(AtError::Plain),
            },
            ("+CEXTERNTONE", Read) => match self.externtone {
                ExterntoneReply::Ok => {
                    let v = self
                        .settings
                        .externtone
                        .clone()
                        .unwrap_or_else(|| "0".into());
                    self.info(format!("+CEXTERNTONE: {v}"));
                }
                ExterntoneReply::Error => return Err(AtError::Plain),
            },
            ("+CPCMREG", Set(a)) => {
                let on = one_number(&a, 0..=1, AtError::Cme(CME_BAD_PARAMS))? == 1;
                // A SIM7600 refuses USB audio right after a call connects (the protocol
                // notes: wait at least 100 ms); the simulator does the same so that the
                // host's retry is exercised.
                let answered_at = self.call.as_ref().and_then(|c| c.answered_at);
                if on
                    && answered_at
                        .is_some_and(|t| now.saturating_duration_since(t) < self.pcm_ready_after)
                {
                    return Err(AtError::Cme(CME_NOT_ALLOWED));
                }
                self.settings.pcm_audio = on;
            }
            ("+CPCMREG", Read) => {
                self.info(format!("+CPCMREG: {}", u8::from(self.settings.pcm_audio)))
            }
            ("+CPCMFRM", Set(a)) => {
                self.settings.pcm_16khz = one_number(&a, 0..=1, AtError::Cme(CME_BAD_PARAMS))? == 1;
            }
            ("+CPCMFRM", Read) => {
                self.info(format!("+CPCMFRM: {}", u8::from(self.settings.pcm_16khz)))
            }
            ("+CVHU", Set(a)) => {
                self.settings.cvhu = one_number(&a, 0..=1, AtError::Cme(CME_BAD_PARAMS))? as u8
            }
            ("+CVHU", Read) => self.info(format!("+CVHU: {}", self.settings.cvhu)),
            ("+CHUP", Exec) => self.hang_up_locally(now),
            ("+CHUP", Test) => {}
            ("+CMGF", Set(a)) => {
                self.settings.sms_text_mode =
                    one_number(&a, 0..=1, AtError::Cms(CMS_NOT_SUPPORTED))? == 1
            }
            ("+CMGF", Read) => {
                self.info(format!("+CMGF: {}", u8::from(self.settings.sms_text_mode)))
            }
            ("+CMGF", Test) => self.info("+CMGF: (0-1)".into()),
            ("+CNMI", Set(a)) => {
                let p = params(&a);
                let num = |i: usize, max: u8| -> Result<Option<u8>, AtError> {
                    match p.get(i).map(String::as_str) {
                        None | Some("") => Ok(None),
                        Some(v) => v
                            .parse::<u8>()
                            .ok()
                            .filter(|v| *v <= max)
                            .map(Some)
                            .ok_or(AtError::Cms(CMS_NOT_SUPPORTED)),
                    }
                };
                let mode = num(0, 3)?;
                let mt = num(1, 3)?;
                let ds = num(3, 2)?;
                for i in 2..p.len() {
                    num(i, 3)?;
                }
                if p.len() > 5 {
                    return Err(AtError::Cms(CMS_NOT_SUPPORTED));
                }
                self.settings.cnmi_mode = mode.unwrap_or(self.settings.cnmi_mode);
                self.settings.cnmi_mt = mt.unwrap_or(self.settings.cnmi_mt);
                self.settings.cnmi_ds = ds.unwrap_or(self.settings.cnmi_ds);
            }
            ("+CNMI", Read) => self.info(format!(
                "+CNMI: {},{},0,{},0",
                self.settings.cnmi_mode, self.settings.cnmi_mt, self.settings.cnmi_ds
            )),
            ("+CNMI", Test) => self.info("+CNMI: (0-3),(0-3),(0-3),(0-2),(0-1)".into()),
            ("+CPMS", Read) => {
                let (u, t, m) = (self.used(), self.sim.len(), self.behaviour.storage.name());
                self.info(format!(
                    "+CPMS: \"{m}\",{u},{t},\"{m}\",{u},{t},\"{m}\",{u},{t}"
                ));
            }
            ("+CPMS", Set(a)) => {
                let p = params(&a);
                let m = self.behaviour.storage.name();
                if p.is_empty() || p.len() > 3 || p.iter().any(|s| !s.eq_ignore_ascii_case(m)) {
                    return Err(AtError::Cms(CMS_NOT_SUPPORTED));
                }
                let (u, t) = (self.used(), self.sim.len());
                self.info(format!("+CPMS: {u},{t},{u},{t},{u},{t}"));
            }
            ("+CPMS", Test) => {
                let m = self.behaviour.storage.name();
                self.info(format!("+CPMS: (\"{m}\"),(\"{m}\"),(\"{m}\")"));
            }
            ("+CSCA", Read) => {
                let toa = if self.smsc.starts_with('+') { 145 } else { 129 };
                self.info(format!("+CSCA: \"{}\",{toa}", self.smsc));
            }
            ("+CMGS", Set(a)) => return self.start_sms(&a),
            ("+CMGR", Set(a)) => self.read_sms(&a)?,
            ("+CMGD", Set(a)) => self.delete_sms(&a)?,
            ("+CMGD", Test) => self.info(format!(
                "+CMGD: (0-{}),(0-4)",
                self.sim.len().saturating_sub(1)
            )),
            ("+CMGL", Set(a)) => self.list_sms(Some(&a))?,
            ("+CMGL", Exec) => self.list_sms(None)?,
            _ => return Err(AtError::Plain),
        }
        Ok(Flow::Continue)
    }

    fn clcc_line(&self) -> Option<String> {
        let c = self.call.as_ref()?;
        Some(self.clcc_for(c, c.status.clcc()))
    }

    fn clcc_for(&self, c: &Call, stat: u8) -> String {
        let number = if c.withheld { "" } else { c.number.as_str() };
        format!(
            "+CLCC: {},1,{stat},0,0,\"{number}\",{}",
            self.behaviour.call_id,
            c.number_type(&self.behaviour)
        )
    }

    fn report_clcc(&mut self, stat: u8, after_final: bool) {
        if !self.settings.clcc {
            return;
        }
        let Some(c) = self.call.as_ref() else { return };
        let line = self.clcc_for(c, stat);
        if after_final {
            self.after_final.push(line);
        } else {
            self.urc(&line);
        }
    }

    fn answer(&mut self, now: Instant) -> Flow {
        match self.call.as_mut() {
            Some(c) if c.status == CallStatus::Incoming => {
                c.status = CallStatus::Active;
                c.next_ring = None;
                c.answered_at = Some(now);
                if self.behaviour.begin_before_ok {
                    self.urc("VOICE CALL: BEGIN");
                } else {
                    self.after_final.push("VOICE CALL: BEGIN".into());
                }
                self.report_clcc(0, true);
                Flow::Continue
            }
            _ => Flow::Final("NO CARRIER"),
        }
    }

    /// AT+CHUP, or ATH with AT+CVHU=0: the modem ends the call; the end lines follow OK.
    fn hang_up_locally(&mut self, now: Instant) {
        let Some(answered_at) = self.call.as_ref().map(|c| c.answered_at) else {
            return;
        };
        let before_ok = self.behaviour.end_before_ok;
        self.report_clcc(6, !before_ok);
        if let Some(at) = answered_at {
            let end = format!(
                "VOICE CALL: END: {}",
                hhmmss(now.saturating_duration_since(at))
            );
            if before_ok {
                self.urc(&end);
            } else {
                self.after_final.push(end);
                self.after_final.push("NO CARRIER".into());
            }
        }
        self.call = None;
        self.settings.pcm_audio = false;
    }

    fn ring(&mut self, now: Instant, may_answer: bool) {
        let Some(c) = self.call.as_mut() else { return };
        c.rings += 1;
        let rings = c.rings;
        let clip = format!(
            "+CLIP: \"{}\",{},,,,{}",
            if c.withheld { "" } else { c.number.as_str() },
            c.number_type(&self.behaviour),
            u8::from(c.withheld)
        );
        let ring = if self.settings.crc {
            "+CRING: VOICE"
        } else {
            "RING"
        };
        self.urc(ring);
        if self.settings.clip {
            self.urc(&clip);
        }
        let n = u32::from(self.settings.auto_answer_rings);
        if may_answer && n > 0 && rings >= n {
            if let Some(c) = self.call.as_mut() {
                c.status = CallStatus::Active;
                c.next_ring = None;
                c.answered_at = Some(now);
            }
            self.urc("VOICE CALL: BEGIN");
            self.report_clcc(0, false);
        }
    }

    fn missed_call_line(number: &str) -> String {
        let t = SmsTime::now();
        let (h12, half) = match t.hour {
            0 => (12, "AM"),
            1..=11 => (t.hour, "AM"),
            12 => (12, "PM"),
            h => (h - 12, "PM"),
        };
        format!("MISSED_CALL: {h12:02}:{:02}{half} {number}", t.minute)
    }

    fn used(&self) -> usize {
        self.sim.iter().filter(|s| s.is_some()).count()
    }

    fn start_sms(&mut self, args: &str) -> Result<Flow, AtError> {
        let target = if self.settings.sms_text_mode {
            let p = params(args);
            let number = p
                .first()
                .filter(|n| !n.is_empty())
                .ok_or(AtError::Cms(CMS_BAD_TEXT))?;
            let digits = number.strip_prefix('+').unwrap_or(number);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AtError::Cms(CMS_BAD_TEXT));
            }
            BodyTarget::Text(number.clone())
        } else {
            let len = one_number(
                args,
                1..=pdu::MAX_TPDU_OCTETS as u32,
                AtError::Cms(CMS_BAD_PDU),
            )?;
            BodyTarget::Pdu(len as usize)
        };
        self.input = Input::Body {
            target,
            body: Vec::new(),
        };
        self.out.extend_from_slice(b"\r\n> ");
        Ok(Flow::Suspend)
    }

    fn finish_sms(&mut self, target: BodyTarget, body: &[u8], now: Instant) {
        if body.len() > MAX_SMS_BODY {
            let e = match target {
                BodyTarget::Text(_) => CMS_BAD_TEXT,
                BodyTarget::Pdu(_) => CMS_BAD_PDU,
            };
            self.final_error(AtError::Cms(e));
            return;
        }
        let mut wants_report = false;
        let part = match target {
            BodyTarget::Text(number) => SentPart {
                number,
                text: String::from_utf8_lossy(body).into_owned(),
                mode: "text",
                alphabet: None,
                concat: None,
                pdu: None,
                mr: 0,
            },
            BodyTarget::Pdu(len) => {
                let hex = String::from_utf8_lossy(body).trim().to_string();
                match pdu::decode_submit(&hex, len) {
                    Ok(s) => {
                        wants_report = s.status_report_requested;
                        SentPart {
                            number: s.number,
                            text: s.text,
                            mode: "pdu",
                            alphabet: Some(s.alphabet),
                            concat: s.concat,
                            pdu: Some(hex),
                            mr: 0,
                        }
                    }
                    Err(_) => {
                        self.final_error(AtError::Cms(CMS_BAD_PDU));
                        return;
                    }
                }
            }
        };
        self.message_reference = self.message_reference.wrapping_add(1);
        let mr = self.message_reference;
        if wants_report && self.status_reports != StatusReports::Off {
            let sent = SmsTime::now();
            let report = pdu::encode_status_report(&self.smsc, mr, &part.number, &sent, &sent, 0);
            self.pending_reports.push((
                now + self.status_report_delay,
                report,
                part.number.clone(),
            ));
        }
        self.sent_parts.push(SentPart { mr, ..part });
        self.info(format!("+CMGS: {mr}"));
        self.raw_final("OK");
    }

    /// A status report arrives: routed, stored or dropped (see [`StatusReports`]).
    fn status_report(&mut self, report: pdu::EncodedDeliver, recipient: &str) {
        let store = match (self.status_reports, self.settings.cnmi_ds) {
            (StatusReports::Off, _) | (StatusReports::Routed, 0) => return,
            (StatusReports::Routed, 1) => {
                self.urc(&format!("+CDS: {}\r\n{}", report.tpdu_len, report.hex));
                return;
            }
            (StatusReports::Routed, _) => true,
            (StatusReports::Stored, _) => false,
        };
        let Some(i) = self.sim.iter().position(Option::is_none) else {
            return;
        };
        if let Some(slot) = self.sim.get_mut(i) {
            *slot = Some(Stored {
                status: SmsStatus::Unread,
                originator: recipient.to_string(),
                time: SmsTime::now(),
                part: report,
            });
        }
        if store {
            self.urc(&format!("+CDSI: \"SM\",{i}"));
        }
    }

    fn index(&self, p: Option<&String>) -> Result<usize, AtError> {
        p.and_then(|v| v.parse::<usize>().ok())
            .filter(|i| *i < self.sim.len())
            .ok_or(AtError::Cms(CMS_BAD_INDEX))
    }

    fn stored_lines(&self, index: usize, s: &Stored, list: bool) -> [String; 2] {
        let head = if self.settings.sms_text_mode {
            let cmd = if list {
                format!("+CMGL: {index},")
            } else {
                "+CMGR: ".to_string()
            };
            format!(
                "{cmd}\"{}\",\"{}\",\"\",\"{}\"",
                s.status.text(),
                s.originator,
                s.time.text_mode()
            )
        } else if list {
            format!("+CMGL: {index},{},,{}", s.status as u8, s.part.tpdu_len)
        } else {
            format!("+CMGR: {},,{}", s.status as u8, s.part.tpdu_len)
        };
        let body = if self.settings.sms_text_mode {
            s.part.text.clone()
        } else {
            s.part.hex.clone()
        };
        [head, body]
    }

    fn read_sms(&mut self, args: &str) -> Result<(), AtError> {
        let p = params(args);
        if p.len() > 2 {
            return Err(AtError::Cms(CMS_BAD_INDEX));
        }
        let index = self.index(p.first())?;
        // An empty slot inside the storage answers a bare OK, as SIMCom modems do.
        let Some(Some(stored)) = self.sim.get(index) else {
            return Ok(());
        };
        let lines = self.stored_lines(index, stored, false);
        self.block(&lines);
        if let Some(Some(s)) = self.sim.get_mut(index) {
            s.status = SmsStatus::Read;
        }
        Ok(())
    }

    fn delete_sms(&mut self, args: &str) -> Result<(), AtError> {
        let p = params(args);
        let index = self.index(p.first())?;
        let flag = match p.get(1).map(String::as_str) {
            None | Some("") => 0,
            Some(f) => f
                .parse::<u8>()
                .ok()
                .filter(|f| *f <= 4)
                .ok_or(AtError::Cms(CMS_NOT_SUPPORTED))?,
        };
        for (i, slot) in self.sim.iter_mut().enumerate() {
            let doomed = match (flag, slot.as_ref()) {
                (0, _) => i == index,
                (_, None) => false,
                (1, Some(s)) => s.status == SmsStatus::Read,
                // 2 and 3 also take sent/unsent stored messages; the simulator stores none.
                (2 | 3, Some(s)) => s.status == SmsStatus::Read,
                _ => true,
            };
            if doomed {
                *slot = None;
            }
        }
        Ok(())
    }

    fn list_sms(&mut self, args: Option<&str>) -> Result<(), AtError> {
        let arg = args.map(|a| params(a).into_iter().next().unwrap_or_default());
        let want: Option<SmsStatus> = if self.settings.sms_text_mode {
            match arg.as_deref().map(str::to_ascii_uppercase).as_deref() {
                None | Some("REC UNREAD") => Some(SmsStatus::Unread),
                Some("REC READ") => Some(SmsStatus::Read),
                Some("ALL") => None,
                Some("STO UNSENT" | "STO SENT") => return Ok(()),
                Some(_) => return Err(AtError::Cms(CMS_BAD_TEXT)),
            }
        } else {
            match arg.as_deref() {
                None | Some("0") => Some(SmsStatus::Unread),
                Some("1") => Some(SmsStatus::Read),
                Some("4") => None,
                Some("2" | "3") => return Ok(()),
                Some(_) => return Err(AtError::Cms(CMS_BAD_PDU)),
            }
        };
        let mut lines = Vec::new();
        let mut shown = Vec::new();
        for (i, slot) in self.sim.iter().enumerate() {
            if let Some(s) = slot {
                if want.is_none_or(|w| w == s.status) {
                    lines.extend(self.stored_lines(i, s, true));
                    shown.push(i);
                }
            }
        }
        self.block(&lines);
        for i in shown {
            if let Some(Some(s)) = self.sim.get_mut(i) {
                s.status = SmsStatus::Read;
            }
        }
        Ok(())
    }

    /// A control command. `Unplug`, `Plug` and `State` need the I/O layer and are refused
    /// here; [`crate::sim`] handles them and calls [`Modem::power_on`] / [`Modem::state`].
    pub fn control(&mut self, cmd: &ControlCommand, now: Instant) -> Result<(), ControlError> {
        self.tick(now);
        match cmd {
            ControlCommand::Call {
                number,
                withheld,
                ring_interval,
            } => {
                if self.call.is_some() {
                    return Err(ControlError::Refused(
                        "a call is already in progress".into(),
                    ));
                }
                // A zero interval would make every tick ring forever.
                let interval = ring_interval
                    .unwrap_or(self.default_ring_interval)
                    .max(Duration::from_millis(1));
                self.call = Some(Call {
                    number: number.clone(),
                    withheld: *withheld,
                    status: CallStatus::Incoming,
                    rings: 0,
                    ring_interval: interval,
                    next_ring: Some(now + interval),
                    answered_at: None,
                });
                self.report_clcc(4, false);
                self.ring(now, true);
            }
            ControlCommand::Hangup => {
                let Some(c) = self.call.take() else {
                    return Err(ControlError::Refused("no call to hang up".into()));
                };
                self.call = Some(c.clone());
                self.report_clcc(6, false);
                self.call = None;
                self.settings.pcm_audio = false;
                match c.answered_at {
                    Some(at) => {
                        self.urc(&format!(
                            "VOICE CALL: END: {}",
                            hhmmss(now.saturating_duration_since(at))
                        ));
                        self.urc("NO CARRIER");
                    }
                    None => {
                        let number = if c.withheld { String::new() } else { c.number };
                        self.urc(&Self::missed_call_line(&number));
                    }
                }
            }
            ControlCommand::Dtmf(keys) => {
                if !self
                    .call
                    .as_ref()
                    .is_some_and(|c| c.status == CallStatus::Active)
                {
                    return Err(ControlError::Refused("dtmf needs an answered call".into()));
                }
                for k in keys.chars() {
                    self.urc(&format!("+RXDTMF: {k}"));
                }
            }
            ControlCommand::Missed(number) => {
                if self.call.is_some() {
                    return Err(ControlError::Refused(
                        "a call is already in progress".into(),
                    ));
                }
                self.call = Some(Call {
                    number: number.clone(),
                    withheld: false,
                    status: CallStatus::Incoming,
                    rings: 0,
                    ring_interval: self.default_ring_interval,
                    next_ring: None,
                    answered_at: None,
                });
                self.report_clcc(4, false);
                self.ring(now, false);
                self.report_clcc(6, false);
                self.call = None;
                self.urc(&Self::missed_call_line(number));
            }
            ControlCommand::Sms { number, text } => self.deliver_sms(number, text, None)?,
            ControlCommand::SmsParts {
                number,
                order,
                text,
            } => self.deliver_sms(number, text, Some(order))?,
            ControlCommand::Reset => self.power_on(),
            ControlCommand::Stall(d) => self.stall_until = Some(now + *d),
            ControlCommand::Hang => {
                self.hung = true;
                self.hung_line.clear();
            }
            ControlCommand::CfunIgnored(ignored) => self.cfun_ignored = *ignored,
            ControlCommand::StallOn {
                prefix,
                duration,
                skip,
            } => {
                self.stall_on = Some((prefix.clone(), *duration, *skip));
            }
            ControlCommand::Reports { mode, delay } => {
                self.status_reports = *mode;
                if let Some(d) = delay {
                    self.status_report_delay = *d;
                }
            }
            ControlCommand::Garbage(n) => {
                for _ in 0..*n {
                    // xorshift64: plenty for noise on a serial line.
                    self.rng ^= self.rng << 13;
                    self.rng ^= self.rng >> 7;
                    self.rng ^= self.rng << 17;
                    self.out.push((self.rng >> 24) as u8);
                }
            }
            ControlCommand::Unplug
            | ControlCommand::Plug
            | ControlCommand::Reenumerate
            | ControlCommand::State
            | ControlCommand::Audio(_)
            | ControlCommand::Tone(_)
            | ControlCommand::Silence => {
                return Err(ControlError::Refused(format!(
                    "{cmd} is handled by the port layer"
                )));
            }
        }
        Ok(())
    }

    /// Stores an SMS from `number` (`order`: only these parts, 1-based, in this order).
    fn deliver_sms(
        &mut self,
        number: &str,
        text: &str,
        order: Option<&[u8]>,
    ) -> Result<(), ControlError> {
        self.concat_reference = self.concat_reference.wrapping_add(1);
        let time = SmsTime::now();
        let mut parts = pdu::encode_deliver(&self.smsc, number, text, &time, self.concat_reference);
        if let Some(order) = order {
            let count = parts.len();
            let mut chosen = Vec::with_capacity(order.len());
            for &n in order {
                let part = parts
                    .get(usize::from(n).wrapping_sub(1))
                    .cloned()
                    .ok_or_else(|| {
                        ControlError::Refused(format!(
                            "smsparts: the text makes {count} part(s), there is no part {n}"
                        ))
                    })?;
                chosen.push(part);
            }
            parts = chosen;
        }
        let free: Vec<usize> = self
            .sim
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_none())
            .map(|(i, _)| i)
            .take(parts.len())
            .collect();
        if free.len() < parts.len() {
            return Err(ControlError::Refused(format!(
                "SIM storage full: {} of {} slots used, the message needs {}",
                self.used(),
                self.sim.len(),
                parts.len()
            )));
        }
        for (&i, part) in free.iter().zip(parts) {
            if let Some(slot) = self.sim.get_mut(i) {
                *slot = Some(Stored {
                    status: SmsStatus::Unread,
                    originator: number.to_string(),
                    time,
                    part,
                });
            }
            if self.settings.cnmi_mt == 1 && self.settings.cnmi_mode != 0 {
                let notice = if self.behaviour.unlocated_cmti {
                    "+CMTI: ,-1".to_string()
                } else {
                    format!("+CMTI: \"{}\",{i}", self.behaviour.storage.name())
                };
                self.urc(&notice);
            }
        }
        self.delivered.push(DeliveredSms {
            number: number.to_string(),
            text: text.to_string(),
            indexes: free,
        });
        Ok(())
    }

    /// Everything the modem knows, for `state`.
    pub fn state(&self) -> ModemState {
        let mut sent = Vec::new();
        let mut groups: Vec<(String, Concat, Vec<&SentPart>)> = Vec::new();
        for p in &self.sent_parts {
            match p.concat {
                None => sent.push(SentSms {
                    number: p.number.clone(),
                    text: p.text.clone(),
                    parts: 1,
                }),
                Some(c) => {
                    match groups.iter_mut().find(|(n, g, _)| {
                        *n == p.number && g.reference == c.reference && g.total == c.total
                    }) {
                        Some((_, _, parts)) => parts.push(p),
                        None => groups.push((p.number.clone(), c, vec![p])),
                    }
                }
            }
        }
        for (number, c, mut parts) in groups {
            parts.sort_by_key(|p| p.concat.map(|c| c.sequence));
            parts.dedup_by_key(|p| p.concat.map(|c| c.sequence));
            if parts.len() == usize::from(c.total) {
                sent.push(SentSms {
                    number,
                    text: parts.iter().map(|p| p.text.as_str()).collect(),
                    parts: parts.len(),
                });
            }
        }
        ModemState {
            identity: self.identity.clone(),
            externtone_reply: self.externtone,
            settings: self.settings.clone(),
            clvl: self.clvl,
            calls: self
                .call
                .iter()
                .map(|c| CallState {
                    id: self.behaviour.call_id,
                    direction: "incoming",
                    status: c.status,
                    number: c.number.clone(),
                    withheld: c.withheld,
                    rings: c.rings,
                })
                .collect(),
            sim: SimStorageState {
                capacity: self.sim.len(),
                used: self.used(),
                messages: self
                    .sim
                    .iter()
                    .enumerate()
                    .filter_map(|(index, s)| {
                        s.as_ref().map(|s| StoredState {
                            index,
                            status: s.status.text(),
                            number: s.originator.clone(),
                            text: s.part.text.clone(),
                            concat: s.part.concat,
                            pdu: s.part.hex.clone(),
                        })
                    })
                    .collect(),
            },
            sent,
            sent_parts: self.sent_parts.clone(),
            delivered: self.delivered.clone(),
            stalled: self.stall_until.is_some() || self.hung,
            commands: self.history.iter().cloned().collect(),
            behaviour: self.behaviour.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modem() -> (Modem, Instant) {
        let mut m = Modem::new(&SimConfig::default());
        m.take_output();
        (m, Instant::now())
    }

    fn say(m: &mut Modem, now: Instant, line: &str) -> String {
        m.feed(format!("{line}\r").as_bytes(), now);
        String::from_utf8_lossy(&m.take_output()).into_owned()
    }

    fn real_modem() -> (Modem, Instant) {
        let config = SimConfig {
            behaviour: Behaviour::real_modem(),
            ..SimConfig::default()
        };
        let mut m = Modem::new(&config);
        m.take_output();
        (m, Instant::now())
    }

    fn ring_in(m: &mut Modem, now: Instant, number: &str) -> String {
        let call = ControlCommand::Call {
            number: number.into(),
            withheld: false,
            ring_interval: None,
        };
        m.control(&call, now).unwrap();
        String::from_utf8_lossy(&m.take_output()).into_owned()
    }

    #[test]
    fn the_real_modem_profile_answers_hangs_up_and_reports_calls_as_the_captures_show() {
        let (mut m, now) = real_modem();
        say(&mut m, now, "ATE0;+CLCC=1;+CLIP=1");
        let ringing = ring_in(&mut m, now, "+491761234567");
        assert_eq!(
            ringing,
            "\r\n+CLCC: 4,1,4,0,0,\"+491761234567\",128\r\n\r\nRING\r\n\
             \r\n+CLIP: \"+491761234567\",128,,,,0\r\n"
        );
        assert_eq!(
            say(&mut m, now, "ATA"),
            "\r\nVOICE CALL: BEGIN\r\n\r\nOK\r\n\r\n+CLCC: 4,1,0,0,0,\"+491761234567\",128\r\n"
        );
        m.control(&ControlCommand::Dtmf("5#".into()), now).unwrap();
        assert_eq!(
            m.take_output(),
            b"\r\r\n+RXDTMF: 5\r\r\n\r\r\n+RXDTMF: #\r\r\n"
        );
        let later = now + Duration::from_secs(8);
        assert_eq!(
            say(&mut m, later, "AT+CHUP"),
            "\r\n+CLCC: 4,1,6,0,0,\"+491761234567\",128\r\n\r\nVOICE CALL: END: 000008\r\n\r\nOK\r\n"
        );
    }

    #[test]
    fn the_simulators_own_way_keeps_begin_and_end_after_the_ok() {
        let (mut m, now) = modem();
        say(&mut m, now, "ATE0;+CLCC=1");
        ring_in(&mut m, now, "+491761234567");
        assert_eq!(
            say(&mut m, now, "ATA"),
            "\r\nOK\r\n\r\nVOICE CALL: BEGIN\r\n\r\n+CLCC: 1,1,0,0,0,\"+491761234567\",145\r\n"
        );
        assert_eq!(
            say(&mut m, now + Duration::from_secs(8), "AT+CHUP"),
            "\r\nOK\r\n\r\n+CLCC: 1,1,6,0,0,\"+491761234567\",145\r\n\
             \r\nVOICE CALL: END: 000008\r\n\r\nNO CARRIER\r\n"
        );
    }

    #[test]
    fn the_real_modem_profile_stores_in_me_and_says_so() {
        let (mut m, now) = real_modem();
        say(&mut m, now, "ATE0;+CNMI=2,1");
        m.control(
            &ControlCommand::Sms {
                number: "+4917".into(),
                text: "hi".into(),
            },
            now,
        )
        .unwrap();
        assert_eq!(m.take_output(), b"\r\n+CMTI: \"ME\",0\r\n");
        assert_eq!(
            say(&mut m, now, "AT+CPMS?"),
            "\r\n+CPMS: \"ME\",1,30,\"ME\",1,30,\"ME\",1,30\r\n\r\nOK\r\n"
        );
        assert_eq!(
            say(&mut m, now, "AT+CPMS=\"ME\""),
            "\r\n+CPMS: 1,30,1,30,1,30\r\n\r\nOK\r\n"
        );
        assert_eq!(say(&mut m, now, "AT+CPMS=\"SM\""), "\r\nERROR\r\n");
    }

    /// "Hello" to +491721234567 with TP-SRR set (first octet 0x31), 23 TPDU octets.
    const HELLO_WITH_REPORT: &str = "0031000C919471123254760000AA0AE8329BFD4697D9EC37";

    fn send_with_report(m: &mut Modem, now: Instant) -> String {
        say(m, now, "ATE0");
        say(m, now, "AT+CMGS=23");
        m.feed(format!("{HELLO_WITH_REPORT}\x1A").as_bytes(), now);
        String::from_utf8_lossy(&m.take_output()).into_owned()
    }

    #[test]
    fn a_report_asked_for_comes_as_cds_after_the_delay_when_cnmi_routes_reports() {
        let (mut m, now) = modem();
        say(&mut m, now, "AT+CNMI=2,1,0,1,0");
        assert!(send_with_report(&mut m, now).contains("+CMGS: 1"));
        let due = m.next_deadline().expect("a report is due");
        assert_eq!(due, now + crate::config::DEFAULT_STATUS_REPORT_DELAY);
        m.tick(due - Duration::from_millis(1));
        assert!(m.take_output().is_empty(), "not before its delay");
        m.tick(due);
        let out = String::from_utf8_lossy(&m.take_output()).into_owned();
        let (head, pdu) = out
            .trim()
            .split_once("\r\n")
            .unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(head, "+CDS: 25");
        // SMSC, SMS-STATUS-REPORT, reference 1, the recipient, two time stamps, status 0.
        assert!(pdu.starts_with("07911326040000F00601"), "{pdu}");
        assert!(pdu.contains("0C91947112325476"), "{pdu}");
        assert!(pdu.ends_with("00"), "{pdu}");
        assert_eq!(m.used(), 0, "routed reports are not stored");
        assert_eq!(
            say(&mut m, now, "AT+CNMI?"),
            "\r\n+CNMI: 2,1,0,1,0\r\n\r\nOK\r\n"
        );
    }

    #[test]
    fn without_report_routing_a_report_is_dropped_or_stored_as_configured() {
        let (mut m, now) = modem();
        send_with_report(&mut m, now);
        m.tick(now + Duration::from_secs(5));
        assert!(m.take_output().is_empty(), "<ds> 0: dropped");
        assert_eq!(m.used(), 0);

        m.control(
            &ControlCommand::Reports {
                mode: StatusReports::Stored,
                delay: Some(Duration::from_millis(10)),
            },
            now,
        )
        .unwrap();
        send_with_report(&mut m, now);
        m.tick(now + Duration::from_millis(10));
        assert!(m.take_output().is_empty(), "stored unannounced");
        let read = say(&mut m, now, "AT+CMGR=0");
        assert!(
            read.starts_with("\r\n+CMGR: 0,,25\r\n07911326040000F00602"),
            "{read}"
        );

        say(&mut m, now, "AT+CNMI=2,1,0,2,0");
        m.control(
            &ControlCommand::Reports {
                mode: StatusReports::Routed,
                delay: None,
            },
            now,
        )
        .unwrap();
        send_with_report(&mut m, now);
        m.tick(now + Duration::from_millis(10));
        assert_eq!(
            String::from_utf8_lossy(&m.take_output()),
            "\r\n+CDSI: \"SM\",1\r\n"
        );
        m.control(
            &ControlCommand::Reports {
                mode: StatusReports::Off,
                delay: None,
            },
            now,
        )
        .unwrap();
        send_with_report(&mut m, now);
        m.tick(now + Duration::from_secs(1));
        assert!(m.take_output().is_empty(), "off");
        assert_eq!(
            ControlCommand::parse("reports stored 250")
                .unwrap()
                .to_string(),
            "reports stored 250"
        );
        assert!(ControlCommand::parse("reports sometimes").is_err());
    }

    #[test]
    fn chains_split_into_basic_s_register_and_extended_commands() {
        assert_eq!(
            split_chain("E0S0=3;+CMEE=1;+CREG=2;+CLVL?;+CMGS=\"a;b\""),
            Some(vec![
                Cmd::Basic('E', Some(0)),
                Cmd::SReg(0, Some(3)),
                Cmd::Ext("+CMEE".into(), Kind::Set("1".into())),
                Cmd::Ext("+CREG".into(), Kind::Set("2".into())),
                Cmd::Ext("+CLVL".into(), Kind::Read),
                Cmd::Ext("+CMGS".into(), Kind::Set("\"a;b\"".into())),
            ])
        );
        assert_eq!(split_chain("S0"), None);
        assert_eq!(split_chain("#"), None);
    }

    #[test]
    fn a_failing_command_in_a_chain_stops_it_with_one_error_and_no_ok() {
        let (mut m, now) = modem();
        let out = say(&mut m, now, "ATE0;+CLVL=9;+CLIP=1");
        assert_eq!(out, "ATE0;+CLVL=9;+CLIP=1\r\r\nERROR\r\n");
        assert!(!m.state().settings.clip);
        assert!(!m.state().settings.echo);
    }

    #[test]
    fn a_hung_modem_answers_nothing_until_cfun_restarts_it() {
        let (mut m, now) = modem();
        say(&mut m, now, "ATE0");
        m.control(&ControlCommand::Hang, now).unwrap();
        assert_eq!(say(&mut m, now, "AT"), "", "hung");
        assert!(m.state().stalled);
        let out = say(&mut m, now, "AT+CFUN=1,1");
        assert!(
            out.starts_with("\r\nOK\r\n") && out.contains("RDY"),
            "{out:?}"
        );
        // Restarted: echo is back on (power-up settings) and the modem answers.
        assert_eq!(say(&mut m, now, "AT"), "AT\r\r\nOK\r\n");
    }

    #[test]
    fn an_ignored_cfun_leaves_a_hung_modem_hung_and_a_working_one_as_it_was() {
        let (mut m, now) = modem();
        say(&mut m, now, "ATE0");
        m.control(&ControlCommand::CfunIgnored(true), now).unwrap();
        assert_eq!(say(&mut m, now, "AT+CFUN=1,1"), "\r\nOK\r\n");
        assert_eq!(
            say(&mut m, now, "AT"),
            "\r\nOK\r\n",
            "no restart: echo still off"
        );
        m.control(&ControlCommand::Hang, now).unwrap();
        assert_eq!(say(&mut m, now, "AT+CFUN=1,1"), "");
        assert_eq!(say(&mut m, now, "AT"), "");
        m.control(&ControlCommand::Reset, now).unwrap();
        assert!(m.take_output().windows(3).any(|w| w == b"RDY"));
        assert!(!m.state().stalled, "a restart ends the hang");
    }

    #[test]
    fn stallon_loses_the_matching_line_and_stalls_then_the_modem_works_again() {
        let (mut m, now) = modem();
        say(&mut m, now, "ATE0");
        m.control(
            &ControlCommand::Sms {
                number: "+4917".into(),
                text: "hi".into(),
            },
            now,
        )
        .unwrap();
        m.take_output();
        let stall = ControlCommand::StallOn {
            prefix: "at+cmgd".into(),
            duration: Duration::from_millis(500),
            skip: 1,
        };
        m.control(&stall, now).unwrap();
        assert_eq!(say(&mut m, now, "AT"), "\r\nOK\r\n", "other lines run");
        assert_eq!(
            say(&mut m, now, "AT+CMGD=5"),
            "\r\nOK\r\n",
            "the skipped one runs"
        );
        assert_eq!(say(&mut m, now, "AT+CMGD=0"), "", "the line is lost");
        assert!(m.state().stalled);
        assert_eq!(m.state().sim.used, 1, "nothing deleted");
        assert_eq!(say(&mut m, now + Duration::from_millis(100), "AT"), "");
        let later = now + Duration::from_millis(600);
        assert_eq!(say(&mut m, later, "AT+CMGD=0"), "\r\nOK\r\n", "once only");
        assert_eq!(m.state().sim.used, 0);
    }

    #[test]
    fn the_ring_timer_is_the_next_deadline_and_fires_on_tick() {
        let (mut m, now) = modem();
        say(&mut m, now, "ATE0");
        let cmd = ControlCommand::Call {
            number: "+491761234567".into(),
            withheld: false,
            ring_interval: Some(Duration::from_millis(100)),
        };
        m.control(&cmd, now).unwrap();
        assert_eq!(m.take_output(), b"\r\nRING\r\n");
        assert_eq!(m.next_deadline(), Some(now + Duration::from_millis(100)));
        m.tick(now + Duration::from_millis(250));
        assert_eq!(m.take_output(), b"\r\nRING\r\n\r\nRING\r\n");
        assert_eq!(m.state().calls[0].rings, 3);
    }

    #[test]
    fn random_bytes_from_the_host_never_panic_the_modem() {
        let (mut m, now) = modem();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let fragments: [&[u8]; 6] = [
            b"AT+CMGS=20\r",
            b"AT+CMGF=1;+CMGS=\"1\"\r",
            b"AT+CMGR=0;+CMGL=4;+CPMS=\"SM\"\r",
            b"\x1A",
            b"ATS0=999;+CLCC;+CNMI=,,,,,,\r",
            b"AT+CREG=\"\r",
        ];
        m.control(
            &ControlCommand::Sms {
                number: "1".into(),
                text: "x".into(),
            },
            now,
        )
        .unwrap();
        for round in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if round % 7 == 0 {
                m.feed(fragments[(x % 6) as usize], now);
            } else {
                m.feed(&[(x >> 32) as u8], now);
            }
        }
        m.take_output();
    }

    #[test]
    fn call_duration_is_reported_as_hhmmss() {
        assert_eq!(hhmmss(Duration::from_secs(42)), "000042");
        assert_eq!(hhmmss(Duration::from_secs(3725)), "010205");
    }
}
