//! The SIM7600 driver: the AT dialogue the voice bot and an MCU gateway need, over atat's
//! async client.
//!
//! This module owns [`Sim7600`], which turns the domain's requests (probe the modem, set it
//! up for calls, answer, hang up, send, read and delete SMS) into the command sequences of
//! SIM7600-PROTOCOL.md and their replies into typed results. It is written against
//! `atat::asynch::AtatClient` only, so one code path serves an embassy MCU and the Linux
//! host: atat's blocking client busy-spins while it waits for a reply (ATAT-NOTES.md: 100 %
//! of a core for up to the timeout), the async one sleeps on a signal. Errors name the
//! command that failed and how ([`Error`]); nothing the modem sends can make the driver
//! panic, and after a timeout or an over-long reply the next command works. The atat
//! buffers it runs on are bundled in [`Resources`], with documented sizes.

mod commands;
mod error;
mod resources;

pub use commands::{IDENTITY_LEN, MAX_PDU_HEX_LEN};
pub use error::{ConnectionFailure, ERROR_TEXT_LEN, Error, ErrorKind, InvalidArgument};
pub use resources::{
    COMMAND_BUF_LEN, INGRESS_BUF_LEN, ModemClient, ModemDigester, ModemIngress, ModemUrcChannel,
    ModemUrcSubscription, Parts, RESPONSE_LEN, Resources, URC_CAPACITY, URC_SUBSCRIBERS,
};

use core::fmt::Write as _;

use atat::asynch::AtatClient;
use heapless::{String, Vec};

use crate::config::{StepPolicy, VoiceConfig};
use commands::{Ack, BareLine, Cmgr, Command, Creg, Csq, Frame, MessageReference, Reply};

/// Timeout of commands the modem answers at once (`AT`, `ATE0`, `AT+CLVL=5`, ...), in ms.
const QUICK_MS: u32 = 2_000;
/// Timeout of `ATA` and `AT+CHUP`, which wait for the network, in ms.
const CALL_CONTROL_MS: u32 = 20_000;
/// Timeout of `AT+CMGS=...` until the `> ` prompt, in ms.
const PROMPT_MS: u32 = 5_000;
/// Timeout of an SMS body until `+CMGS: <mr>` (the manual's maximum response time), in ms.
const SMS_SEND_MS: u32 = 120_000;
/// Timeout of `AT+CMGR` and `AT+CMGD` (SIM storage access), in ms.
const SMS_STORAGE_MS: u32 = 25_000;

/// Longest text `send_sms_text` sends: one SMS of 160 characters.
pub const MAX_SMS_TEXT_LEN: usize = 160;
/// Longest phone number `send_sms_text` accepts, in digits (3GPP TS 24.008 allows 20).
pub const MAX_NUMBER_DIGITS: usize = 20;
/// Longest TPDU `send_sms_pdu` sends, in octets (an SMS-SUBMIT with a 12-octet address, a
/// 7-octet validity period and 140 octets of user data).
pub const MAX_TPDU_LEN: usize = 164;
/// How many steps `init` runs (the seed's sequence).
pub const INIT_STEPS: usize = 6;
/// Longest command text kept in an [`InitStep`] (`AT+CEXTERNTONE=1` is 16 bytes).
pub const INIT_COMMAND_LEN: usize = 24;

/// Who the modem says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Identity {
    /// `AT+CGMI` (`SIMCOM INCORPORATED`).
    pub manufacturer: String<IDENTITY_LEN>,
    /// `AT+CGMM` (`SIMCOM_SIM7600E-H`).
    pub model: String<IDENTITY_LEN>,
    /// Whether the manufacturer is SIMCom and the model a SIM7600 (any variant).
    pub is_sim7600: bool,
}

impl Identity {
    /// The identity of `manufacturer` / `model`, deciding whether it is a SIM7600.
    pub fn new(manufacturer: String<IDENTITY_LEN>, model: String<IDENTITY_LEN>) -> Self {
        let is_sim7600 = contains_ignoring_case(&manufacturer, "SIMCOM")
            && contains_ignoring_case(&model, "SIM7600");
        Self {
            manufacturer,
            model,
            is_sim7600,
        }
    }
}

fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// How one init step went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StepOutcome {
    /// The modem answered `OK`.
    Done,
    /// An optional step failed; init went on.
    Warning(Error),
}

/// One step of `init`: the command sent and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InitStep {
    /// The command as sent, without `\r` (`ATS0=3`).
    pub command: String<INIT_COMMAND_LEN>,
    /// How it went.
    pub outcome: StepOutcome,
}

/// What `init` did, step by step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InitReport {
    /// Every step, in the order sent.
    pub steps: Vec<InitStep, INIT_STEPS>,
}

impl InitReport {
    /// The steps that failed without failing init.
    pub fn warnings(&self) -> impl Iterator<Item = &InitStep> {
        self.steps
            .iter()
            .filter(|step| matches!(step.outcome, StepOutcome::Warning(_)))
    }
}

/// Signal quality from `AT+CSQ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SignalQuality {
    /// Received signal strength in dBm (-113 means -113 or less, -51 means -51 or more);
    /// `None` when the modem does not know (99) or printed a value outside 0..=31.
    pub rssi_dbm: Option<i16>,
    /// Channel bit error rate as RXQUAL 0..=7; `None` when unknown (99).
    pub ber: Option<u8>,
}

impl SignalQuality {
    fn from_csq(rssi: u8, ber: u8) -> Self {
        Self {
            rssi_dbm: (rssi <= 31).then(|| -113 + 2 * i16::from(rssi)),
            ber: (ber <= 7).then_some(ber),
        }
    }
}

/// Network registration from `AT+CREG?` (3GPP TS 27.007 §7.2 `<stat>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Registration {
    /// 0: not registered, not searching.
    NotSearching,
    /// 1: registered on the home network.
    Home,
    /// 2: not registered, searching.
    Searching,
    /// 3: registration denied.
    Denied,
    /// 4: unknown.
    Unknown,
    /// 5: registered, roaming.
    Roaming,
    /// Any other value.
    Other(u8),
}

impl Registration {
    fn from_code(code: u8) -> Self {
        match code {
            0 => Self::NotSearching,
            1 => Self::Home,
            2 => Self::Searching,
            3 => Self::Denied,
            4 => Self::Unknown,
            5 => Self::Roaming,
            other => Self::Other(other),
        }
    }

    /// Whether calls and SMS can work (home or roaming).
    pub fn is_registered(self) -> bool {
        matches!(self, Self::Home | Self::Roaming)
    }
}

/// The status of a stored SMS (`+CMGR: <stat>` in PDU mode, 3GPP TS 27.005 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SmsStatus {
    /// 0: received, not read before (reading it marks it read).
    ReceivedUnread,
    /// 1: received, read.
    ReceivedRead,
    /// 2: stored, not sent.
    StoredUnsent,
    /// 3: stored, sent.
    StoredSent,
    /// Any other value.
    Other(u8),
}

impl SmsStatus {
    fn from_code(code: u8) -> Self {
        match code {
            0 => Self::ReceivedUnread,
            1 => Self::ReceivedRead,
            2 => Self::StoredUnsent,
            3 => Self::StoredSent,
            other => Self::Other(other),
        }
    }
}

/// An SMS read from storage in PDU mode, for the PDU codec (`crate::pdu`) to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StoredSms {
    /// Its status.
    pub status: SmsStatus,
    /// The TPDU's length in octets, as the modem printed it (the SMSC part not counted).
    pub tpdu_len: u16,
    /// The PDU in hex digits, SMSC address first.
    pub pdu_hex: String<MAX_PDU_HEX_LEN>,
}

/// A SIM7600 behind an atat async client.
#[derive(Debug)]
pub struct Sim7600<C> {
    client: C,
}

impl<C: AtatClient> Sim7600<C> {
    /// The driver over `client` (usually from [`Resources::split`]).
    pub fn new(client: C) -> Self {
        Self { client }
    }

    /// The atat client, for commands this driver does not wrap.
    pub fn client(&mut self) -> &mut C {
        &mut self.client
    }

    /// Asks who the modem is (`AT`, `AT+CGMI`, `AT+CGMM`, the seed's detection) and whether
    /// it is a SIM7600. Works with echo on or off. Another modem is not an error: its
    /// identity says `is_sim7600: false`.
    pub async fn probe(&mut self) -> Result<Identity, Error> {
        self.run::<Ack, QUICK_MS>("AT", b"AT\r").await?;
        let BareLine(manufacturer) = self.run::<_, QUICK_MS>("AT+CGMI", b"AT+CGMI\r").await?;
        let BareLine(model) = self.run::<_, QUICK_MS>("AT+CGMM", b"AT+CGMM\r").await?;
        Ok(Identity::new(manufacturer, model))
    }

    /// Sets the modem up for voice calls, the seed's sequence: `AT`, `ATE0`,
    /// `AT+CEXTERNTONE=1`, `AT+CLIP=1`, `ATS0=<n>` (n = `answer_after_rings` when the modem
    /// answers, 0 when the host does), `AT+CLVL=<volume>`. A failing step stops init with its
    /// error, except `AT+CEXTERNTONE=1` when the config marks it optional (the default: it is
    /// a SIM800-family command the SIM7600 manual does not list), which becomes a warning in
    /// the report.
    pub async fn init(&mut self, config: &VoiceConfig) -> Result<InitReport, Error> {
        let mut report = InitReport::default();
        let steps: [(&'static str, Frame, StepPolicy); INIT_STEPS] = [
            ("AT", frame_of(format_args!("AT\r"))?, StepPolicy::Required),
            (
                "ATE0",
                frame_of(format_args!("ATE0\r"))?,
                StepPolicy::Required,
            ),
            (
                "AT+CEXTERNTONE",
                frame_of(format_args!("AT+CEXTERNTONE=1\r"))?,
                config.external_tone(),
            ),
            (
                "AT+CLIP",
                frame_of(format_args!("AT+CLIP=1\r"))?,
                StepPolicy::Required,
            ),
            (
                "ATS0",
                frame_of(format_args!("ATS0={}\r", config.modem_auto_answer_rings()))?,
                StepPolicy::Required,
            ),
            (
                "AT+CLVL",
                frame_of(format_args!("AT+CLVL={}\r", config.volume()))?,
                StepPolicy::Required,
            ),
        ];
        for (name, frame, policy) in steps {
            let outcome = match (self.run::<Ack, QUICK_MS>(name, &frame).await, policy) {
                (Ok(Ack), _) => StepOutcome::Done,
                (Err(error), StepPolicy::Optional) => StepOutcome::Warning(error),
                (Err(error), StepPolicy::Required) => return Err(error),
            };
            let command = frame
                .strip_suffix(b"\r")
                .and_then(|text| core::str::from_utf8(text).ok())
                .and_then(|text| String::try_from(text).ok())
                .unwrap_or_default();
            // Cannot fail: there are exactly INIT_STEPS steps.
            let _ = report.steps.push(InitStep { command, outcome });
        }
        Ok(report)
    }

    /// Answers the ringing call (`ATA`). With no incoming call the modem answers
    /// `NO CARRIER`: [`ErrorKind::Connection`].
    pub async fn answer(&mut self) -> Result<(), Error> {
        self.run::<Ack, CALL_CONTROL_MS>("ATA", b"ATA\r").await?;
        Ok(())
    }

    /// Hangs up the call, or rejects a ringing one (`AT+CHUP`, which works whatever
    /// `AT+CVHU` says).
    pub async fn hang_up(&mut self) -> Result<(), Error> {
        self.run::<Ack, CALL_CONTROL_MS>("AT+CHUP", b"AT+CHUP\r")
            .await?;
        Ok(())
    }

    /// Makes the modem answer by itself on ring `rings` (`ATS0=<rings>`); 0 turns that off.
    pub async fn set_auto_answer(&mut self, rings: u8) -> Result<(), Error> {
        let frame = frame_of(format_args!("ATS0={rings}\r"))?;
        self.run::<Ack, QUICK_MS>("ATS0", &frame).await?;
        Ok(())
    }

    /// Sends `text` to `number` in text mode (`AT+CMGF=1`, `AT+CMGS="<number>"`, the `> `
    /// prompt, the text and Ctrl-Z) and returns the message reference.
    ///
    /// `number` is up to [`MAX_NUMBER_DIGITS`] digits with an optional leading `+`; `text`
    /// is up to [`MAX_SMS_TEXT_LEN`] printable ASCII characters (and line breaks), because
    /// the modem's text mode reads the IRA character set: anything else, and longer texts,
    /// go through the PDU codec and [`Sim7600::send_sms_pdu`].
    pub async fn send_sms_text(&mut self, number: &str, text: &str) -> Result<u8, Error> {
        check_number(number)?;
        check_text(text)?;
        self.run::<Ack, QUICK_MS>("AT+CMGF", b"AT+CMGF=1\r").await?;
        let prompt = frame_of(format_args!("AT+CMGS=\"{number}\"\r"))?;
        let body = frame_of(format_args!("{text}\u{1a}"))?;
        self.send_with_prompt(&prompt, &body).await
    }

    /// Sends an SMS already encoded as a PDU (`AT+CMGF=0`, `AT+CMGS=<tpdu_len>`, the `> `
    /// prompt, the hex digits and Ctrl-Z) and returns the message reference.
    ///
    /// `pdu_hex` is the SMSC part (at least its length octet, `00` for the SIM's default)
    /// followed by the TPDU, as the PDU codec produces it; `tpdu_len` is the TPDU's length in
    /// octets, at most [`MAX_TPDU_LEN`]. The two must agree with the SMSC length octet, so a
    /// mismatched pair is refused before anything is sent.
    pub async fn send_sms_pdu(&mut self, pdu_hex: &str, tpdu_len: usize) -> Result<u8, Error> {
        check_pdu(pdu_hex, tpdu_len)?;
        self.run::<Ack, QUICK_MS>("AT+CMGF", b"AT+CMGF=0\r").await?;
        let prompt = frame_of(format_args!("AT+CMGS={tpdu_len}\r"))?;
        let body = frame_of(format_args!("{pdu_hex}\u{1a}"))?;
        self.send_with_prompt(&prompt, &body).await
    }

    /// Reads the SMS at `index` in PDU mode (`AT+CMGF=0`, `AT+CMGR=<index>`); `None` when
    /// the slot is empty. Reading a received unread message marks it read.
    pub async fn read_sms(&mut self, index: u16) -> Result<Option<StoredSms>, Error> {
        self.run::<Ack, QUICK_MS>("AT+CMGF", b"AT+CMGF=0\r").await?;
        let frame = frame_of(format_args!("AT+CMGR={index}\r"))?;
        let Cmgr(stored) = self.run::<_, SMS_STORAGE_MS>("AT+CMGR", &frame).await?;
        Ok(stored.map(|(status, tpdu_len, pdu_hex)| StoredSms {
            status: SmsStatus::from_code(status),
            tpdu_len,
            pdu_hex,
        }))
    }

    /// Deletes the SMS at `index` (`AT+CMGD=<index>`). Delete only what was read and
    /// delivered: smstools may not have seen the others.
    pub async fn delete_sms(&mut self, index: u16) -> Result<(), Error> {
        let frame = frame_of(format_args!("AT+CMGD={index}\r"))?;
        self.run::<Ack, SMS_STORAGE_MS>("AT+CMGD", &frame).await?;
        Ok(())
    }

    /// The signal quality (`AT+CSQ`).
    pub async fn signal_quality(&mut self) -> Result<SignalQuality, Error> {
        let Csq { rssi, ber } = self.run::<_, QUICK_MS>("AT+CSQ", b"AT+CSQ\r").await?;
        Ok(SignalQuality::from_csq(rssi, ber))
    }

    /// The network registration (`AT+CREG?`).
    pub async fn registration(&mut self) -> Result<Registration, Error> {
        let Creg { stat } = self.run::<_, QUICK_MS>("AT+CREG", b"AT+CREG?\r").await?;
        Ok(Registration::from_code(stat))
    }

    /// `AT+CMGS=...`, then (after the `> ` prompt) the body ending in Ctrl-Z.
    async fn send_with_prompt(&mut self, prompt: &[u8], body: &[u8]) -> Result<u8, Error> {
        if let Err(error) = self.run::<Ack, PROMPT_MS>("AT+CMGS", prompt).await {
            if error.kind == ErrorKind::Timeout {
                // The prompt may have been lost on the way while the modem waits for a body:
                // ESC takes it out of that mode, so the next command is read as a command.
                // What it answers (OK or nothing) does not matter.
                let _ = self.run::<Ack, QUICK_MS>("AT+CMGS cancel", b"\x1b").await;
            }
            return Err(error);
        }
        let MessageReference(reference) = self.run::<_, SMS_SEND_MS>("AT+CMGS body", body).await?;
        Ok(reference)
    }

    async fn run<R: Reply, const TIMEOUT_MS: u32>(
        &mut self,
        name: &'static str,
        frame: &[u8],
    ) -> Result<R, Error> {
        self.client
            .send(&Command::<R, TIMEOUT_MS>::new(frame))
            .await
            .map_err(|error| Error::from_atat(name, error))
    }
}

/// The bytes of `args`, or a capacity error when they do not fit [`COMMAND_BUF_LEN`] (the
/// argument checks make that impossible for the commands above).
fn frame_of(args: core::fmt::Arguments<'_>) -> Result<Frame, Error> {
    let mut text: String<COMMAND_BUF_LEN> = String::new();
    text.write_fmt(args)
        .map_err(|_| Error::new("command", ErrorKind::Capacity))?;
    Ok(text.into_bytes())
}

fn check_number(number: &str) -> Result<(), Error> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    if digits.is_empty() {
        return Err(Error::invalid("AT+CMGS", "number", "is empty"));
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(
            "AT+CMGS",
            "number",
            "must be digits with an optional leading +",
        ));
    }
    if digits.len() > MAX_NUMBER_DIGITS {
        return Err(Error::invalid(
            "AT+CMGS",
            "number",
            "has more than 20 digits",
        ));
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), Error> {
    if text.len() > MAX_SMS_TEXT_LEN {
        return Err(Error::invalid(
            "AT+CMGS",
            "text",
            "is longer than 160 characters (send it as PDUs)",
        ));
    }
    let allowed = |b: u8| (b' '..=b'~').contains(&b) || b == b'\r' || b == b'\n';
    if !text.bytes().all(allowed) {
        return Err(Error::invalid(
            "AT+CMGS",
            "text",
            "has characters outside printable ASCII (send it as PDUs)",
        ));
    }
    Ok(())
}

fn check_pdu(pdu_hex: &str, tpdu_len: usize) -> Result<(), Error> {
    let invalid = |name, problem| Err(Error::invalid("AT+CMGS", name, problem));
    if pdu_hex.is_empty() || !pdu_hex.len().is_multiple_of(2) {
        return invalid("pdu_hex", "must be a non-empty, even number of hex digits");
    }
    if !pdu_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return invalid("pdu_hex", "has characters that are not hex digits");
    }
    if pdu_hex.len() > MAX_PDU_HEX_LEN {
        return invalid("pdu_hex", "is longer than 352 hex digits");
    }
    if tpdu_len == 0 || tpdu_len > MAX_TPDU_LEN {
        return invalid("tpdu_len", "must be 1..=164 octets");
    }
    let octets = pdu_hex.len() / 2;
    let smsc_len = pdu_hex
        .get(..2)
        .and_then(|h| u8::from_str_radix(h, 16).ok())
        .map(usize::from);
    if smsc_len.map(|len| len + 1 + tpdu_len) != Some(octets) {
        return invalid(
            "tpdu_len",
            "does not match pdu_hex (SMSC length octet + SMSC + TPDU must be the whole PDU)",
        );
    }
    Ok(())
}
