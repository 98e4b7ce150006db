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

mod error;
mod feed;
mod ingress;
mod init;
mod resources;

pub use error::{
    ConnectionFailure, ERROR_TEXT_LEN, Error, ErrorKind, InvalidArgument, SendFailure,
};
pub use feed::{Feed, feed, resume};
pub use ingress::ModemIngress;
pub use resources::{
    COMMAND_BUF_LEN, INGRESS_BUF_LEN, ModemClient, ModemDigester, ModemUrcChannel,
    ModemUrcSubscription, Parts, RESPONSE_LEN, Resources, URC_CAPACITY, URC_SUBSCRIBERS,
};

use atat::AtatCmd;
use atat::asynch::AtatClient;
use heapless::{String, Vec};

use crate::command::NoResponse;
use crate::command::audio::types::{ExternalTone, SpeakerVolume};
use crate::command::audio::{
    PcmCommand, SetExternalTone, SetPcmFormat, SetPcmRegister, SetSpeakerVolume,
};
use crate::command::call::types::{AutoAnswer, CallListReporting, CallerIdPresentation};
use crate::command::call::{
    Answer, Dial, HangUp, SendDtmf, SetAutoAnswer, SetCallListReporting, SetCallerIdPresentation,
};
use crate::command::general::responses::{Identity as IdentityText, Imei, Imsi, Revision};
use crate::command::general::types::{EchoMode, ErrorReporting};
use crate::command::general::{
    Attention, GetImei, GetImsi, GetManufacturer, GetModel, GetRevision, ResetModem, SetEcho,
    SetErrorReporting,
};
use crate::command::network::responses::SignalQuality;
use crate::command::network::types::RegistrationStatus;
use crate::command::network::{GetRegistration, GetSignalQuality, StartUssd};
use crate::command::sms::responses::{PreferredStorage, SMS_BODY_CAPACITY, StoredMessage};
use crate::command::sms::types::{MessageFormat, MessageStatus};
use crate::command::sms::{
    DeleteMessage, GetPreferredStorage, MessageBody, ReadMessage, SendPduMessage, SendTextMessage,
    SetMessageFormat, SetNewMessageIndication,
};
use crate::config::{SmsIndication, StepPolicy, VoiceConfig};
use crate::pdu::EncodedPart;
use crate::urc::{DtmfKey, PhoneNumber};
use error::{ATTENTION_COMMAND, SMS_BODY_COMMAND};
use init::InitCommand;

/// Longest text `send_sms_text` sends: one SMS of 160 characters.
pub const MAX_SMS_TEXT_LEN: usize = 160;
/// Longest phone number `send_sms_text` accepts, in digits (3GPP TS 24.008 allows 20).
pub const MAX_NUMBER_DIGITS: usize = 20;
/// Longest TPDU `send_sms_pdu` sends, in octets (an SMS-SUBMIT with a 12-octet address, a
/// 7-octet validity period and 140 octets of user data).
pub const MAX_TPDU_LEN: usize = 164;
/// Longest PDU `send_sms_pdu` sends, in hex digits: an SMSC part of up to 12 octets and a
/// TPDU of up to [`MAX_TPDU_LEN`] octets.
pub const MAX_PDU_HEX_LEN: usize = 2 * (12 + MAX_TPDU_LEN);
/// How many steps `init` runs: the seed's six and the three robust operation adds.
pub const INIT_STEPS: usize = 9;
/// Longest command text kept in an [`InitStep`] (`AT+CNMI=2,1,0,1,0` is 17 bytes).
pub const INIT_COMMAND_LEN: usize = 24;

/// Who the modem says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Identity {
    /// `AT+CGMI` (`SIMCOM INCORPORATED`).
    pub manufacturer: IdentityText,
    /// `AT+CGMM` (`SIMCOM_SIM7600E-H`).
    pub model: IdentityText,
    /// Whether the manufacturer is SIMCom and the model a SIM7600 (any variant).
    pub is_sim7600: bool,
}

impl Identity {
    /// The identity of `manufacturer` / `model`, deciding whether it is a SIM7600.
    pub fn new(manufacturer: IdentityText, model: IdentityText) -> Self {
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

/// An SMS read from storage in PDU mode, for the PDU codec (`crate::pdu`) to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StoredSms {
    /// Its status.
    pub status: MessageStatus,
    /// The TPDU's length in octets, as the modem printed it (the SMSC part not counted).
    pub tpdu_len: u16,
    /// The PDU in hex digits, SMSC address first.
    pub pdu_hex: String<SMS_BODY_CAPACITY>,
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

    /// The atat client back out of the driver, for a host that wraps it in another
    /// `AtatClient` (one that paces its commands, say) and builds a driver over that.
    pub fn into_client(self) -> C {
        self.client
    }

    /// Asks who the modem is (`AT`, `AT+CGMI`, `AT+CGMM`, the seed's detection) and whether
    /// it is a SIM7600. Works with echo on or off. Another modem is not an error: its
    /// identity says `is_sim7600: false`.
    pub async fn probe(&mut self) -> Result<Identity, Error> {
        self.attention().await?;
        self.identify().await
    }

    /// `AT`, the first word to a modem this host has not talked to yet. When it gets no
    /// answer, the modem may still be waiting for the body of a message whose sender went
    /// away (a host killed between `AT+CMGS`'s `> ` prompt and the body), taking every
    /// command as message text: ESC ends that wait without sending, and `AT` is asked
    /// once more. [`probe`](Self::probe) and [`init`](Self::init) start with it.
    pub async fn attention(&mut self) -> Result<(), Error> {
        match self.run(ATTENTION_COMMAND, &Attention).await {
            Err(error) if error.kind == ErrorKind::Timeout => {
                // What ESC answers (OK, or nothing when no body was awaited) does not matter.
                let _ = self.run("ESC", &CancelMessage).await;
                self.run(ATTENTION_COMMAND, &Attention).await.map(drop)
            }
            answered => answered.map(drop),
        }
    }

    /// [`probe`](Self::probe) without its `AT`: `AT+CGMI`, `AT+CGMM`, for a modem that has
    /// just answered (after [`init`](Self::init), whose first step is `AT`).
    pub async fn identify(&mut self) -> Result<Identity, Error> {
        let manufacturer = self.run("AT+CGMI", &GetManufacturer).await?;
        let model = self.run("AT+CGMM", &GetModel).await?;
        Ok(Identity::new(manufacturer.name, model.name))
    }

    /// Sets the modem up for voice calls and SMS. First the seed's sequence: `AT`, `ATE0`,
    /// `AT+CEXTERNTONE=1`, `AT+CLIP=1`, `ATS0=<n>` (n = `answer_after_rings` when the modem
    /// answers, 0 when the host does), `AT+CLVL=<volume>`. Then what robust operation adds:
    /// `AT+CMEE=1` (numeric errors: atat reads `+CME ERROR: <n>` only with a number, a
    /// verbose text would be a timeout), `AT+CLCC=1` (a `+CLCC` line on every call state
    /// change, so the call machine learns of a call even when `RING` or `+CLIP` was lost,
    /// and of its end without `VOICE CALL: END`) and `AT+CNMI` as `sms` says (received SMS
    /// stored and announced with `+CMTI`, status reports routed to the host or not).
    ///
    /// A failing step stops init with its error, except `AT+CEXTERNTONE=1` when the config
    /// marks it optional (the default: it is a SIM800-family command the SIM7600 manual does
    /// not list) and the three added steps, which become warnings in the report.
    pub async fn init(
        &mut self,
        config: &VoiceConfig,
        sms: SmsIndication,
    ) -> Result<InitReport, Error> {
        let required = StepPolicy::Required;
        let optional = StepPolicy::Optional;
        let cnmi = match sms {
            SmsIndication::StoreAndNotify => SetNewMessageIndication::store_and_notify(),
            SmsIndication::StoreAndRouteReports => {
                SetNewMessageIndication::store_and_route_reports()
            }
        };
        let steps: [(InitCommand, StepPolicy); INIT_STEPS] = [
            (InitCommand::Attention(Attention), required),
            (
                InitCommand::Echo(SetEcho {
                    mode: EchoMode::Off,
                }),
                required,
            ),
            (
                InitCommand::ExternalTone(SetExternalTone {
                    mode: ExternalTone::On,
                }),
                config.external_tone(),
            ),
            (
                InitCommand::CallerId(SetCallerIdPresentation {
                    mode: CallerIdPresentation::Enabled,
                }),
                required,
            ),
            (
                InitCommand::AutoAnswer(SetAutoAnswer {
                    auto_answer: AutoAnswer::from_rings(config.modem_auto_answer_rings()),
                }),
                required,
            ),
            (
                InitCommand::Volume(SetSpeakerVolume {
                    volume: speaker_volume(config.volume())?,
                }),
                required,
            ),
            (
                InitCommand::ErrorReporting(SetErrorReporting {
                    mode: ErrorReporting::Numeric,
                }),
                optional,
            ),
            (
                InitCommand::CallListReporting(SetCallListReporting {
                    mode: CallListReporting::Enabled,
                }),
                optional,
            ),
            (InitCommand::NewMessageIndication(cnmi), optional),
        ];
        let mut report = InitReport::default();
        for (cmd, policy) in steps {
            self.init_step(&mut report, cmd, policy).await?;
        }
        Ok(report)
    }

    /// The modem's firmware revision (`AT+CGMR`).
    pub async fn revision(&mut self) -> Result<Revision, Error> {
        self.run("AT+CGMR", &GetRevision).await
    }

    /// The modem's IMEI (`AT+CGSN`).
    pub async fn imei(&mut self) -> Result<Imei, Error> {
        self.run("AT+CGSN", &GetImei).await
    }

    /// The SIM's IMSI (`AT+CIMI`); a `+CME ERROR` while the SIM is missing or locked.
    pub async fn imsi(&mut self) -> Result<Imsi, Error> {
        self.run("AT+CIMI", &GetImsi).await
    }

    /// The message storages and how full they are (`AT+CPMS?`): the read storage's
    /// `used` and `total` are what a [`SimSlots`](crate::sim_slots::SimSlots) scan needs.
    pub async fn storage(&mut self) -> Result<PreferredStorage, Error> {
        self.run("AT+CPMS?", &GetPreferredStorage).await
    }

    /// Sets the speaker volume (`AT+CLVL=<volume>`), 0..=5.
    pub async fn set_volume(&mut self, volume: u8) -> Result<(), Error> {
        let volume = speaker_volume(volume)?;
        self.run("AT+CLVL", &SetSpeakerVolume { volume }).await?;
        Ok(())
    }

    /// Sends one command of switching call audio over USB (`AT+CPCMFRM=<format>` or
    /// `AT+CPCMREG=<mode>`).
    pub async fn switch_pcm(&mut self, command: PcmCommand) -> Result<(), Error> {
        match command {
            PcmCommand::Format(format) => {
                self.run("AT+CPCMFRM", &SetPcmFormat { format }).await?;
            }
            PcmCommand::Register(mode) => {
                self.run("AT+CPCMREG", &SetPcmRegister { mode }).await?;
            }
        }
        Ok(())
    }

    /// Restarts the modem (`AT+CFUN=1,1`): it answers `OK` (a hung one may not), then drops
    /// off USB and comes back with `RDY`.
    pub async fn reset(&mut self) -> Result<(), Error> {
        self.run("AT+CFUN", &ResetModem).await?;
        Ok(())
    }

    /// Answers the ringing call (`ATA`). With no incoming call the modem answers
    /// `NO CARRIER`: [`ErrorKind::Connection`].
    pub async fn answer(&mut self) -> Result<(), Error> {
        self.run("ATA", &Answer).await?;
        Ok(())
    }

    /// Hangs up the call, or rejects a ringing one (`AT+CHUP`, which works whatever
    /// `AT+CVHU` says).
    pub async fn hang_up(&mut self) -> Result<(), Error> {
        self.run("AT+CHUP", &HangUp).await?;
        Ok(())
    }

    /// Dials `number` for a voice call (`ATD<number>;`). `number` is up to
    /// [`MAX_NUMBER_DIGITS`] digits with an optional leading `+`. `OK` means the modem
    /// dials: the call's progress comes as URCs (see [`crate::call`]). A `BUSY`,
    /// `NO ANSWER` or `NO CARRIER` before the `OK` is [`ErrorKind::Connection`].
    pub async fn dial(&mut self, number: &str) -> Result<(), Error> {
        let number = check_number("ATD", number)?;
        self.run("ATD", &Dial { number }).await?;
        Ok(())
    }

    /// Sends one DTMF tone into the connected call (`AT+VTS=<key>`).
    pub async fn send_dtmf(&mut self, key: DtmfKey) -> Result<(), Error> {
        self.run("AT+VTS", &SendDtmf { key }).await?;
        Ok(())
    }

    /// Sends the USSD request `code` (`AT+CUSD=1,"<code>",15`). `OK` means the modem sent
    /// it: the network's answer comes as a `+CUSD:` URC. `code` is 1 to
    /// [`USSD_CODE_CAPACITY`](crate::command::network::USSD_CODE_CAPACITY) characters of `0`-`9`, `*`, `#`.
    pub async fn send_ussd(&mut self, code: &str) -> Result<(), Error> {
        let valid = !code.is_empty()
            && code
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
        if !valid {
            return Err(Error::invalid(
                "AT+CUSD",
                "code",
                "must be digits, * and # (a USSD code such as *100#)",
            ));
        }
        let code = String::try_from(code)
            .map_err(|_| Error::invalid("AT+CUSD", "code", "is longer than 32 characters"))?;
        self.run("AT+CUSD", &StartUssd { code }).await?;
        Ok(())
    }

    /// Makes the modem answer by itself on ring `rings` (`ATS0=<rings>`); 0 turns that off.
    pub async fn set_auto_answer(&mut self, rings: u8) -> Result<(), Error> {
        let cmd = SetAutoAnswer {
            auto_answer: AutoAnswer::from_rings(rings),
        };
        self.run("ATS0", &cmd).await?;
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
        let number = check_number("AT+CMGS", number)?;
        check_text(text)?;
        let body = MessageBody::text(text.as_bytes())
            .map_err(|_| Error::invalid("AT+CMGS", "text", "cannot be a message body"))?;
        let format = SetMessageFormat {
            format: MessageFormat::Text,
        };
        self.run("AT+CMGF", &format).await?;
        self.send_with_prompt(&SendTextMessage { number }, &body)
            .await
    }

    /// Sends an SMS already encoded as a PDU (`AT+CMGF=0`, `AT+CMGS=<tpdu_len>`, the `> `
    /// prompt, the hex digits and Ctrl-Z) and returns the message reference.
    ///
    /// `pdu_hex` is the SMSC part (at least its length octet, `00` for the SIM's default)
    /// followed by the TPDU, as the PDU codec produces it; `tpdu_len` is the TPDU's length in
    /// octets, at most [`MAX_TPDU_LEN`]. The two must agree with the SMSC length octet, so a
    /// mismatched pair is refused before anything is sent.
    pub async fn send_sms_pdu(&mut self, pdu_hex: &str, tpdu_len: usize) -> Result<u8, Error> {
        let length = check_pdu(pdu_hex, tpdu_len)?;
        let body = MessageBody::pdu_hex(pdu_hex)
            .map_err(|_| Error::invalid("AT+CMGS", "pdu_hex", "cannot be a message body"))?;
        let format = SetMessageFormat {
            format: MessageFormat::Pdu,
        };
        self.run("AT+CMGF", &format).await?;
        self.send_with_prompt(&SendPduMessage { length }, &body)
            .await
    }

    /// Sends one part as the PDU codec encoded it ([`crate::pdu::SubmitPlan::encode_part`]):
    /// [`Sim7600::send_sms_pdu`] with its hex and TPDU length.
    pub async fn send_sms_part(&mut self, part: &EncodedPart) -> Result<u8, Error> {
        self.send_sms_pdu(&part.hex, usize::from(part.tpdu_length))
            .await
    }

    /// Reads the SMS at `index` in PDU mode (`AT+CMGF=0`, `AT+CMGR=<index>`); `None` when
    /// the slot is empty. Reading a received unread message marks it read.
    pub async fn read_sms(&mut self, index: u16) -> Result<Option<StoredSms>, Error> {
        let format = SetMessageFormat {
            format: MessageFormat::Pdu,
        };
        self.run("AT+CMGF", &format).await?;
        match self.run("AT+CMGR", &ReadMessage { index }).await? {
            StoredMessage::Empty => Ok(None),
            StoredMessage::Pdu {
                status,
                length,
                pdu,
            } => Ok(Some(StoredSms {
                status,
                tpdu_len: length,
                pdu_hex: pdu,
            })),
            // The modem was just put in PDU mode: a text-mode reply means it did not listen.
            StoredMessage::Text { .. } => Err(Error::new("AT+CMGR", ErrorKind::Parse)),
        }
    }

    /// Deletes the SMS at `index` (`AT+CMGD=<index>`). Delete only what was read and
    /// delivered: smstools may not have seen the others.
    pub async fn delete_sms(&mut self, index: u16) -> Result<(), Error> {
        self.run("AT+CMGD", &DeleteMessage { index }).await?;
        Ok(())
    }

    /// The signal quality (`AT+CSQ`).
    pub async fn signal_quality(&mut self) -> Result<SignalQuality, Error> {
        self.run("AT+CSQ", &GetSignalQuality).await
    }

    /// The network registration status (`AT+CREG?`).
    pub async fn registration(&mut self) -> Result<RegistrationStatus, Error> {
        Ok(self.run("AT+CREG", &GetRegistration).await?.status)
    }

    /// One init step: `cmd`, recorded in `report`; a failure is a warning when `policy`
    /// allows it, else init's error.
    async fn init_step(
        &mut self,
        report: &mut InitReport,
        cmd: InitCommand,
        policy: StepPolicy,
    ) -> Result<(), Error> {
        let name = cmd.name();
        let result = match &cmd {
            InitCommand::Attention(_) => self.attention().await,
            // As its own type, for its own 15 s timeout (see driver/init.rs).
            InitCommand::CallerId(clip) => self.run(name, clip).await.map(drop),
            other => self.run(name, other).await.map(drop),
        };
        let outcome = match (result, policy) {
            (Ok(_), _) => StepOutcome::Done,
            (Err(error), StepPolicy::Optional) => StepOutcome::Warning(error),
            (Err(error), StepPolicy::Required) => return Err(error),
        };
        // The init commands are fixed and at most 17 bytes, so this buffer holds each.
        let mut bytes = [0u8; INIT_COMMAND_LEN + 8];
        let len = cmd.write(&mut bytes);
        let command = bytes
            .get(..len)
            .and_then(|b| b.strip_suffix(b"\r"))
            .and_then(|b| core::str::from_utf8(b).ok())
            .and_then(|text| String::try_from(text).ok())
            .unwrap_or_default();
        // Cannot fail: init runs exactly INIT_STEPS steps.
        let _ = report.steps.push(InitStep { command, outcome });
        Ok(())
    }

    /// `AT+CMGS...`, then (after the `> ` prompt) the body ending in Ctrl-Z.
    async fn send_with_prompt<Cmd: AtatCmd>(
        &mut self,
        prompt: &Cmd,
        body: &MessageBody<'_>,
    ) -> Result<u8, Error> {
        if let Err(error) = self.run("AT+CMGS", prompt).await {
            if error.kind == ErrorKind::Timeout {
                // The prompt may have been lost on the way while the modem waits for a body:
                // ESC takes it out of that mode, so the next command is read as a command.
                // What it answers (OK or nothing) does not matter.
                let _ = self.run("AT+CMGS cancel", &CancelMessage).await;
            }
            return Err(error);
        }
        Ok(self.run(SMS_BODY_COMMAND, body).await?.reference)
    }

    async fn run<Cmd: AtatCmd>(
        &mut self,
        name: &'static str,
        cmd: &Cmd,
    ) -> Result<Cmd::Response, Error> {
        self.client
            .send(cmd)
            .await
            .map_err(|error| Error::from_atat(name, error))
    }
}

/// ESC (0x1B) alone: ends the modem's wait for a message body without sending it.
#[derive(Debug, Clone, Copy)]
struct CancelMessage;

impl AtatCmd for CancelMessage {
    type Response = NoResponse;
    const MAX_TIMEOUT_MS: u32 = 2_000;

    fn write(&self, buf: &mut [u8]) -> usize {
        match buf.first_mut() {
            Some(first) => {
                *first = 0x1b;
                1
            }
            None => 0,
        }
    }

    fn parse(
        &self,
        resp: Result<&[u8], atat::InternalError>,
    ) -> Result<Self::Response, atat::Error> {
        resp.map(|_| NoResponse).map_err(atat::Error::from)
    }
}

/// `level` as `AT+CLVL` takes it, or why not.
fn speaker_volume(level: u8) -> Result<SpeakerVolume, Error> {
    SpeakerVolume::new(level).ok_or(Error::invalid("AT+CLVL", "volume", "must be 0..=5"))
}

/// `number` as `AT+CMGS` and `ATD` take it, or why not (`command` names the one refused).
fn check_number(command: &'static str, number: &str) -> Result<PhoneNumber, Error> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    if digits.is_empty() {
        return Err(Error::invalid(command, "number", "is empty"));
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(
            command,
            "number",
            "must be digits with an optional leading +",
        ));
    }
    if digits.len() > MAX_NUMBER_DIGITS {
        return Err(Error::invalid(command, "number", "has more than 20 digits"));
    }
    PhoneNumber::try_from(number)
        .map_err(|_| Error::invalid(command, "number", "has more than 20 digits"))
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

/// The TPDU length as `AT+CMGS` takes it, or why `pdu_hex` and `tpdu_len` cannot be sent.
fn check_pdu(pdu_hex: &str, tpdu_len: usize) -> Result<u8, Error> {
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
    u8::try_from(tpdu_len).or(invalid("tpdu_len", "must be 1..=164 octets"))
}
