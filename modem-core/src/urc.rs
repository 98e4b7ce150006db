//! Every line the SIM7600 sends on its own, and the one parser for them.
//!
//! This module owns the unsolicited result codes (URCs) listed in SIM7600-PROTOCOL.md:
//! start-up lines (`RDY`, `+CPIN: ...`, `SMS DONE`, `PB DONE`), call lines (`RING`,
//! `+CRING`, `+CLIP`, `VOICE CALL: ...`, `MISSED_CALL`, `NO CARRIER`, `BUSY`, `NO ANSWER`,
//! `+CLCC`, `+RXDTMF`), the SMS notice `+CMTI`, and the two URCs whose PDU follows on a
//! line of its own: `+CDS` (a status report) and `+CMT` (a message routed to the host
//! without being stored); the digester hands such a URC out as its two lines together.
//! [`Urc::parse`] is pure and shared by the
//! digester (`crate::digest`) and the capture classifier (`crate::line`); it never panics,
//! whatever bytes it is given. Text fields live in fixed-capacity [`heapless::String`]s
//! whose capacities are the `pub const`s below; a field longer than its capacity makes the
//! line malformed rather than silently truncated.

use heapless::String;

use crate::params::{Fields, after_prefix};
use crate::pdu::{DecodeError, Incoming, MAX_PDU_OCTETS};

/// Capacity of a phone number (`+CLIP`, `+CLCC`, `MISSED_CALL`).
///
/// E.164 allows 15 digits and 3GPP TS 24.008 at most 20 BCD digits plus `+`; 32 leaves room
/// for the dial strings some networks put there (`*31#...`).
pub const NUMBER_CAPACITY: usize = 32;

/// Capacity of the caller's name in `+CLIP` (`"gongsi"`).
///
/// A SIM phonebook name is at most 14-20 characters; in UCS-2 hex (`AT+CSCS="UCS2"`) each
/// character takes 4, so 80 holds a 20-character name in either form.
pub const ALPHA_CAPACITY: usize = 80;

/// Capacity of the time in `MISSED_CALL: 11:01AM 07712345678` (`11:01AM` is 7 bytes).
pub const MISSED_CALL_TIME_CAPACITY: usize = 16;

/// Capacity of an SMS storage name in `+CMTI` (`"SM"`, `"ME"`, `"MT"`, `"SR"`).
pub const STORAGE_CAPACITY: usize = 8;

/// Capacity of a `+CPIN:` state the parser does not know by name (`PH-NET PIN` is 10 bytes).
pub const SIM_STATE_CAPACITY: usize = 24;

/// Capacity of a `+CRING:` type other than `VOICE` (`REL ASYNC`, `GPRS "IP",...`).
pub const RING_TYPE_CAPACITY: usize = 32;

/// Capacity of a `VOICE CALL:` word other than `BEGIN`/`END`.
pub const VOICE_CALL_WORD_CAPACITY: usize = 16;

/// A phone number as the modem printed it (`+491761234567`, `07712345678`).
pub type PhoneNumber = String<NUMBER_CAPACITY>;

/// An unsolicited line from the SIM7600.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Urc {
    /// `RDY`: the module has (re)started and accepts AT commands.
    Ready,
    /// `+CPIN: <state>`: the SIM's state changed (start-up, SIM pulled).
    SimStatus(SimState),
    /// `SMS DONE`: SMS storage is initialised (after start-up).
    SmsReady,
    /// `PB DONE`: the phonebook is initialised (after start-up).
    PhonebookReady,
    /// `RING`: an incoming call rings (once per ring, about every 3 s).
    Ring,
    /// `+CRING: <type>`: an incoming call rings, printed instead of `RING` after `AT+CRC=1`.
    CellularRing(RingType),
    /// `+CLIP: ...`: the caller of the ringing call (after `AT+CLIP=1`, after each ring).
    CallerId(CallerId),
    /// `VOICE CALL: BEGIN`: a voice call is connected.
    VoiceCallBegin,
    /// `VOICE CALL: END: <HHMMSS>`: a voice call ended.
    VoiceCallEnd {
        /// The call's duration in seconds; `None` when the modem printed none or an
        /// unreadable one.
        duration_secs: Option<u32>,
    },
    /// `VOICE CALL: <word>` with a word other than `BEGIN` or `END`.
    VoiceCallOther {
        /// The word as printed.
        word: String<VOICE_CALL_WORD_CAPACITY>,
    },
    /// `MISSED_CALL: <time> <number>`: a call rang out unanswered.
    MissedCall(MissedCall),
    /// `NO CARRIER`: the call ended (or could not be set up).
    NoCarrier,
    /// `BUSY`: the far end is busy.
    Busy,
    /// `NO ANSWER`: the far end did not answer.
    NoAnswer,
    /// `+CLCC: ...`: a call changed state (after `AT+CLCC=1`).
    CallStatus(CallStatus),
    /// `+CMTI: "<storage>",<index>`: a new SMS was stored (after `AT+CNMI=2,1`).
    NewMessage(NewMessage),
    /// `+CMTI: ,-1` (an empty storage or an index of -1, printed by SIMCom modems): a new
    /// SMS was stored, but the modem did not say where; the storage has to be scanned.
    NewMessageUnlocated {
        /// The storage, when the modem named one.
        storage: Option<String<STORAGE_CAPACITY>>,
    },
    /// `+RXDTMF: <key>`: the caller pressed a key.
    Dtmf(DtmfKey),
    /// `+CDS: <length>` and the PDU line after it: a status report routed to the host
    /// (after `AT+CNMI=...,1` as `<ds>`), not stored anywhere.
    StatusReport(RoutedPdu),
    /// `+CMT: [<alpha>],<length>` and the PDU line after it: an SMS routed to the host
    /// (after `AT+CNMI=...,2` as `<mt>`), not stored anywhere.
    RoutedMessage(RoutedPdu),
    /// `+CUSD: <m>[,"<str>",<dcs>]`: the network's answer to a USSD request
    /// (`AT+CUSD=1,...`), or a USSD message it started.
    Ussd(UssdReply),
}

/// The PDU of a `+CDS` or `+CMT` URC, as the modem printed it (SMSC part included).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RoutedPdu {
    /// `<length>`: the TPDU's octets (without the SMSC part).
    pub tpdu_length: u16,
    /// The PDU's octets, from the hex line.
    pub octets: heapless::Vec<u8, MAX_PDU_OCTETS>,
}

impl RoutedPdu {
    /// Decodes the PDU, checking it against `<length>`.
    pub fn decode(&self) -> Result<Incoming, DecodeError> {
        Incoming::from_routed(&self.octets, usize::from(self.tpdu_length))
    }
}

/// Longest USSD text kept from a `+CUSD` line: 182 characters, the most a USSD string
/// holds in the GSM alphabet (3GPP TS 23.038 §6.1.2.3), printed as text in the modem's
/// default character set. A longer `<str>` (a UCS-2 reply printed as hex beyond 45
/// characters) makes the line malformed. The bound keeps a [`Urc`] small: the URC channel
/// holds [`URC_CAPACITY`](crate::driver::URC_CAPACITY) of them.
pub const USSD_TEXT_CAPACITY: usize = 182;

/// What a `+CUSD` line says (3GPP TS 27.007 §7.15).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct UssdReply {
    /// `<m>`: 0 no further action, 1 the network waits for an answer, 2 the network ended
    /// the session, 3 another client answered, 4 not supported, 5 the network timed out.
    pub status: u8,
    /// `<str>` as printed (text, or hex when the character set or `<dcs>` asks for it).
    pub text: Option<String<USSD_TEXT_CAPACITY>>,
    /// `<dcs>`: the data coding scheme (15 the GSM default alphabet, 72 UCS-2).
    pub dcs: Option<u8>,
}

impl UssdReply {
    /// Whether the network gave an answer rather than a refusal (`<m>` 0, 1 or 2 with a
    /// text).
    pub fn is_answer(&self) -> bool {
        self.status <= 2 && self.text.is_some()
    }
}

/// The SIM's state from `+CPIN:` (3GPP TS 27.007 §8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum SimState {
    /// `READY`: no PIN is needed.
    Ready,
    /// `SIM REMOVED`: there is no SIM.
    Removed,
    /// `NOT READY`: the SIM is not ready (yet).
    NotReady,
    /// `SIM PIN`: the SIM waits for its PIN.
    PinRequired,
    /// `SIM PUK`: the SIM waits for its PUK.
    PukRequired,
    /// `SIM PIN2`: PIN2 is needed.
    Pin2Required,
    /// `SIM PUK2`: PUK2 is needed.
    Puk2Required,
    /// `PH-SIM PIN`: the phone-to-SIM password is needed.
    PhoneSimPinRequired,
    /// Any other state, as printed.
    Other(String<SIM_STATE_CAPACITY>),
}

impl SimState {
    /// Reads the text after `+CPIN: `; `None` when it is empty or too long to keep.
    pub fn from_text(text: &str) -> Option<Self> {
        let text = text.trim();
        Some(match text {
            "" => return None,
            "READY" => Self::Ready,
            "SIM REMOVED" => Self::Removed,
            "NOT READY" => Self::NotReady,
            "SIM PIN" => Self::PinRequired,
            "SIM PUK" => Self::PukRequired,
            "SIM PIN2" => Self::Pin2Required,
            "SIM PUK2" => Self::Puk2Required,
            "PH-SIM PIN" => Self::PhoneSimPinRequired,
            other => Self::Other(String::try_from(other).ok()?),
        })
    }
}

/// The call type in `+CRING: <type>` (3GPP TS 27.007 §6.11).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum RingType {
    /// `VOICE`: a voice call.
    Voice,
    /// Any other type (`REL ASYNC`, `FAX`, `GPRS ...`), as printed.
    Other(String<RING_TYPE_CAPACITY>),
}

/// Type of number, the octet after the number in `+CLIP`/`+CLCC` (3GPP TS 24.008 §10.5.4.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum NumberType {
    /// 129: unknown type of number, ISDN numbering plan (national style, `0771...`).
    Unknown,
    /// 145: international number (`+49...`).
    International,
    /// 161: national number.
    National,
    /// 128: unknown type of number, unknown numbering plan. Real modems print it beside
    /// numbers they show (`+CLCC: 4,1,4,0,0,"08020866256",128`) as well as beside the empty
    /// number of a withheld call: it never says by itself that a caller is withheld (the
    /// CLI validity and an empty number do).
    UnknownPlan,
    /// Any other value.
    Other(u8),
}

impl NumberType {
    /// The type for its numeric code.
    pub const fn from_code(code: u8) -> Self {
        match code {
            129 => Self::Unknown,
            145 => Self::International,
            161 => Self::National,
            128 => Self::UnknownPlan,
            other => Self::Other(other),
        }
    }

    /// The numeric code the modem prints.
    pub const fn code(self) -> u8 {
        match self {
            Self::Unknown => 129,
            Self::International => 145,
            Self::National => 161,
            Self::UnknownPlan => 128,
            Self::Other(code) => code,
        }
    }
}

/// CLI validity, the last field of `+CLIP` (3GPP TS 27.007 §7.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum CliValidity {
    /// 0: the number is valid.
    Valid,
    /// 1: the caller withheld the number.
    Withheld,
    /// 2: the network could not deliver the number.
    Unavailable,
    /// Any other value (27.007 adds 3 payphone, 4 other).
    Other(u8),
}

impl CliValidity {
    /// The validity for its numeric code.
    pub const fn from_code(code: u8) -> Self {
        match code {
            0 => Self::Valid,
            1 => Self::Withheld,
            2 => Self::Unavailable,
            other => Self::Other(other),
        }
    }
}

/// The caller of a ringing call, from `+CLIP: "<number>",<type>,,,[<alpha>],<validity>`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CallerId {
    /// The number; `None` when it is empty or the validity says withheld/unavailable.
    pub number: Option<PhoneNumber>,
    /// The type of the number.
    pub number_type: NumberType,
    /// The phonebook name, when the SIM knows the caller.
    pub alpha: Option<String<ALPHA_CAPACITY>>,
    /// Whether the number is valid, withheld or unavailable; `Valid` when the modem omits
    /// the field (a number was printed, so it was presented).
    pub validity: CliValidity,
}

/// `MISSED_CALL: 11:01AM 07712345678`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MissedCall {
    /// The modem's local time of the call as printed (`11:01AM`).
    pub time: String<MISSED_CALL_TIME_CAPACITY>,
    /// The caller's number; `None` when the modem printed none.
    pub number: Option<PhoneNumber>,
}

/// Direction of a call in `+CLCC` (3GPP TS 27.007 §7.18 `<dir>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum CallDirection {
    /// 0: we called.
    MobileOriginated,
    /// 1: we are called.
    MobileTerminated,
}

/// State of a call in `+CLCC` (3GPP TS 27.007 §7.18 `<stat>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum CallState {
    /// 0: connected.
    Active,
    /// 1: on hold.
    Held,
    /// 2: we are dialling (outgoing).
    Dialing,
    /// 3: the far end is ringing (outgoing).
    Alerting,
    /// 4: incoming, ringing.
    Incoming,
    /// 5: incoming while another call is up.
    Waiting,
    /// 6: the call has ended (SIM7600 reports this before dropping it from the list).
    Disconnected,
}

impl CallState {
    /// The state for its code, `None` outside 0..=6.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Active,
            1 => Self::Held,
            2 => Self::Dialing,
            3 => Self::Alerting,
            4 => Self::Incoming,
            5 => Self::Waiting,
            6 => Self::Disconnected,
            _ => return None,
        })
    }
}

/// Bearer of a call in `+CLCC` (3GPP TS 27.007 §7.18 `<mode>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum CallMode {
    /// 0: voice.
    Voice,
    /// 1: data.
    Data,
    /// 2: fax.
    Fax,
    /// Any other value (27.007 lists alternating modes 3..=9).
    Other(u8),
}

impl CallMode {
    /// The mode for its numeric code.
    pub const fn from_code(code: u8) -> Self {
        match code {
            0 => Self::Voice,
            1 => Self::Data,
            2 => Self::Fax,
            other => Self::Other(other),
        }
    }
}

/// One call from `+CLCC: <id>,<dir>,<stat>,<mode>,<mpty>[,"<number>",<type>[,"<alpha>"]]`,
/// the URC after `AT+CLCC=1` and each line of the `AT+CLCC` list alike.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CallStatus {
    /// The call's index (1..=7), the one `AT+CHLD=1<id>` names.
    pub id: u8,
    /// Who called whom.
    pub direction: CallDirection,
    /// The call's state.
    pub state: CallState,
    /// Voice, data or fax.
    pub mode: CallMode,
    /// Whether the call is part of a conference.
    pub multiparty: bool,
    /// The far end's number, when known.
    pub number: Option<PhoneNumber>,
    /// The number's type, when a number was printed.
    pub number_type: Option<NumberType>,
    /// The phonebook name (the 8th field), when the SIM knows the far end.
    pub alpha: Option<String<ALPHA_CAPACITY>>,
    /// The CLI validity (the 10th field), when the modem printed it.
    pub validity: Option<CliValidity>,
}

impl CallStatus {
    /// Parses the parameters of a `+CLCC:` line (the text after the colon).
    pub fn from_params(params: &str) -> Result<Self, &'static str> {
        let mut fields = Fields::new(params);
        let id = fields
            .next()
            .and_then(|f| f.number())
            .ok_or("call id is not a number 0..=255")?;
        let direction = match fields.next().and_then(|f| f.number::<u8>()) {
            Some(0) => CallDirection::MobileOriginated,
            Some(1) => CallDirection::MobileTerminated,
            _ => return Err("direction is not 0 or 1"),
        };
        let state = fields
            .next()
            .and_then(|f| f.number())
            .and_then(CallState::from_code)
            .ok_or("state is not 0..=6")?;
        let mode = fields
            .next()
            .and_then(|f| f.number())
            .map(CallMode::from_code)
            .ok_or("mode is not a number 0..=255")?;
        let multiparty = match fields.next().and_then(|f| f.number::<u8>()) {
            Some(0) => false,
            Some(1) => true,
            _ => return Err("mpty is not 0 or 1"),
        };
        let number = match fields.next().and_then(|f| f.non_empty()) {
            Some(text) => Some(PhoneNumber::try_from(text).map_err(|_| "number too long")?),
            None => None,
        };
        let number_type = match fields.next() {
            Some(f) if !f.text.is_empty() => Some(NumberType::from_code(
                f.number().ok_or("number type is not a number 0..=255")?,
            )),
            _ => None,
        };
        let alpha = match fields.next().and_then(|f| f.non_empty()) {
            Some(text) => Some(String::try_from(text).map_err(|_| "name too long")?),
            None => None,
        };
        let _priority = fields.next();
        let validity = match fields.next() {
            Some(f) if !f.text.is_empty() => Some(CliValidity::from_code(
                f.number().ok_or("CLI validity is not a number 0..=255")?,
            )),
            _ => None,
        };
        Ok(Self {
            id,
            direction,
            state,
            mode,
            multiparty,
            number,
            number_type,
            alpha,
            validity,
        })
    }
}

/// `+CMTI: "<storage>",<index>`: where a new SMS was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NewMessage {
    /// The storage (`SM` for the SIM).
    pub storage: String<STORAGE_CAPACITY>,
    /// The message's index in that storage (starts at 0), for `AT+CMGR`.
    pub index: u16,
}

/// A DTMF key: one of `0`-`9`, `A`-`D`, `*`, `#`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DtmfKey(u8);

impl DtmfKey {
    /// The key for an ASCII byte; lower-case `a`-`d` are accepted as `A`-`D`.
    pub const fn from_ascii(byte: u8) -> Option<Self> {
        match byte {
            b'0'..=b'9' | b'A'..=b'D' | b'*' | b'#' => Some(Self(byte)),
            b'a'..=b'd' => Some(Self(byte.to_ascii_uppercase())),
            _ => None,
        }
    }

    /// The key as a character (`'0'`..`'9'`, `'A'`..`'D'`, `'*'`, `'#'`).
    pub const fn as_char(self) -> char {
        self.0 as char
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for DtmfKey {
    /// As the one-character string a person reads (`"5"`, `"#"`).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_char(self.as_char())
    }
}

/// Why a line is not a [`Urc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum UrcError {
    /// The line is not one the SIM7600 sends on its own.
    NotUrc,
    /// The line starts like a URC but its parameters are wrong.
    Malformed {
        /// The URC's name (`"+CLIP"`).
        urc: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl core::fmt::Display for UrcError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotUrc => f.write_str("not an unsolicited line"),
            Self::Malformed { urc, reason } => write!(f, "malformed {urc}: {reason}"),
        }
    }
}

/// The name of the URC a line starts like, whether or not its parameters are valid.
///
/// The digester uses this to take a malformed URC out of a response rather than let it
/// corrupt the reply (atat issue #183).
pub fn urc_name(line: &[u8]) -> Option<&'static str> {
    let line = trim_line(line);
    const EXACT: [&str; 8] = [
        "RDY",
        "SMS DONE",
        "PB DONE",
        "RING",
        "NO CARRIER",
        "BUSY",
        "NO ANSWER",
        "VOICE CALL",
    ];
    const PREFIXED: [&str; 10] = [
        "+CPIN",
        "+CRING",
        "+CLIP",
        "+CLCC",
        "+CMTI",
        "+RXDTMF",
        "MISSED_CALL",
        "+CDS",
        "+CMT",
        "+CUSD",
    ];
    if let Some(word) = EXACT.iter().find(|w| line == w.as_bytes()) {
        return Some(word);
    }
    if line.starts_with(b"VOICE CALL:") {
        return Some("VOICE CALL");
    }
    PREFIXED.iter().copied().find(|name| {
        line.strip_prefix(name.as_bytes())
            .is_some_and(|rest| rest.trim_ascii_start().starts_with(b":"))
    })
}

/// Whether the URC `name` (from [`urc_name`]) is followed by a PDU on the next line, which
/// belongs to it: `+CDS` and `+CMT`.
pub fn urc_has_pdu_line(name: &str) -> bool {
    matches!(name, "+CDS" | "+CMT")
}

/// Strips the framing (`\r`, `\n`, spaces) around a line.
fn trim_line(line: &[u8]) -> &[u8] {
    line.trim_ascii()
}

impl Urc {
    /// Parses one line (framing `\r`/`\n` around it is ignored); `None` when it is not a
    /// SIM7600 URC or is malformed. Never panics.
    pub fn parse(line: &[u8]) -> Option<Self> {
        Self::try_parse(line).ok()
    }

    /// Like [`Urc::parse`], saying why a line is not a URC.
    pub fn try_parse(line: &[u8]) -> Result<Self, UrcError> {
        let name = urc_name(line).ok_or(UrcError::NotUrc)?;
        let malformed = |reason| UrcError::Malformed { urc: name, reason };
        let text = core::str::from_utf8(trim_line(line)).map_err(|_| malformed("not UTF-8"))?;
        match name {
            "RDY" => Ok(Self::Ready),
            "SMS DONE" => Ok(Self::SmsReady),
            "PB DONE" => Ok(Self::PhonebookReady),
            "RING" => Ok(Self::Ring),
            "NO CARRIER" => Ok(Self::NoCarrier),
            "BUSY" => Ok(Self::Busy),
            "NO ANSWER" => Ok(Self::NoAnswer),
            "VOICE CALL" => parse_voice_call(text).map_err(malformed),
            "MISSED_CALL" => parse_missed_call(params(text, name)).map_err(malformed),
            "+CPIN" => SimState::from_text(params(text, name))
                .map(Self::SimStatus)
                .ok_or_else(|| malformed("state is empty or too long")),
            "+CRING" => {
                let kind = params(text, name).trim();
                if kind == "VOICE" {
                    Ok(Self::CellularRing(RingType::Voice))
                } else if kind.is_empty() {
                    Err(malformed("type is empty"))
                } else {
                    String::try_from(kind)
                        .map(|t| Self::CellularRing(RingType::Other(t)))
                        .map_err(|_| malformed("type too long"))
                }
            }
            "+CLIP" => parse_clip(params(text, name)).map_err(malformed),
            "+CLCC" => CallStatus::from_params(params(text, name))
                .map(Self::CallStatus)
                .map_err(malformed),
            "+CMTI" => parse_cmti(params(text, name)).map_err(malformed),
            "+CDS" => parse_routed(text, name, false)
                .map(Self::StatusReport)
                .map_err(malformed),
            "+CMT" => parse_routed(text, name, true)
                .map(Self::RoutedMessage)
                .map_err(malformed),
            "+CUSD" => parse_cusd(params(text, name)).map_err(malformed),
            "+RXDTMF" => {
                let key = params(text, name).trim().trim_matches('"');
                match key.as_bytes() {
                    [byte] => DtmfKey::from_ascii(*byte)
                        .map(Self::Dtmf)
                        .ok_or(malformed("key is not 0-9, A-D, * or #")),
                    _ => Err(malformed("key is not one character")),
                }
            }
            _ => Err(UrcError::NotUrc),
        }
    }
}

/// The text after `NAME:`; `urc_name` has checked that the colon is there.
fn params<'a>(text: &'a str, name: &str) -> &'a str {
    after_prefix(text, name).unwrap_or("")
}

/// `<m>[,"<str>"[,<dcs>]]`: the text is everything between the first and the last quote,
/// so a reply that itself contains a comma or a quote is kept whole.
fn parse_cusd(params: &str) -> Result<Urc, &'static str> {
    let params = params.trim();
    let (status, rest) = match params.split_once(',') {
        Some((status, rest)) => (status.trim(), Some(rest.trim())),
        None => (params, None),
    };
    let status: u8 = status.parse().map_err(|_| "<m> is not a number")?;
    if status > 5 {
        return Err("<m> is not 0-5");
    }
    let (text, dcs) = match rest {
        None => (None, None),
        Some(rest) => {
            let open = rest.find('"').ok_or("<str> is not quoted")?;
            let close = rest
                .rfind('"')
                .filter(|&c| c > open)
                .ok_or("<str> has no closing quote")?;
            let text = rest.get(open + 1..close).ok_or("<str> is not quoted")?;
            let tail = rest.get(close + 1..).unwrap_or("").trim();
            let dcs = match tail.strip_prefix(',').map(str::trim) {
                None | Some("") => None,
                Some(d) => Some(d.parse::<u8>().map_err(|_| "<dcs> is not a number")?),
            };
            let text = String::try_from(text).map_err(|_| "<str> too long")?;
            (Some(text), dcs)
        }
    };
    Ok(Urc::Ussd(UssdReply { status, text, dcs }))
}

/// `VOICE CALL:\s*([A-Z]+)(?::\s*(\d+))?`, ModemManager's pattern.
fn parse_voice_call(text: &str) -> Result<Urc, &'static str> {
    let rest = text
        .strip_prefix("VOICE CALL")
        .and_then(|r| r.strip_prefix(':'))
        .ok_or("no colon after VOICE CALL")?
        .trim_start();
    let word_len = rest.bytes().take_while(|b| b.is_ascii_uppercase()).count();
    let (word, after) = rest.split_at_checked(word_len).ok_or("no word")?;
    if word.is_empty() {
        return Err("no upper-case word after VOICE CALL:");
    }
    let duration_secs = after
        .trim_start()
        .strip_prefix(':')
        .and_then(|d| duration_from_hhmmss(d.trim()));
    Ok(match word {
        "BEGIN" => Urc::VoiceCallBegin,
        "END" => Urc::VoiceCallEnd { duration_secs },
        other => Urc::VoiceCallOther {
            word: String::try_from(other).map_err(|_| "word too long")?,
        },
    })
}

/// `000042` -> 42, `000117` -> 77, `010000` -> 3600. Shorter strings are read as the
/// right-hand end of HHMMSS (ModemManager reads the digits as they come); minutes or
/// seconds of 60 or more, or more than 9 digits, give `None`.
pub fn duration_from_hhmmss(digits: &str) -> Option<u32> {
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u32 = digits.parse().ok()?;
    let (hours, minutes, seconds) = (value / 10_000, (value / 100) % 100, value % 100);
    if minutes >= 60 || seconds >= 60 {
        return None;
    }
    Some(hours * 3600 + minutes * 60 + seconds)
}

fn parse_missed_call(params: &str) -> Result<Urc, &'static str> {
    let mut words = params.split_ascii_whitespace();
    let time = words.next().ok_or("no time")?;
    let number = match words.next() {
        Some(n) => Some(PhoneNumber::try_from(n.trim_matches('"')).map_err(|_| "number too long")?),
        None => None,
    };
    Ok(Urc::MissedCall(MissedCall {
        time: String::try_from(time).map_err(|_| "time too long")?,
        number,
    }))
}

fn parse_clip(params: &str) -> Result<Urc, &'static str> {
    let mut fields = Fields::new(params);
    let number = fields.next().ok_or("no number field")?;
    if !number.quoted && !number.text.is_empty() {
        return Err("number is not quoted");
    }
    let number_type = fields
        .next()
        .and_then(|f| f.number())
        .map(NumberType::from_code)
        .ok_or("type is not a number 0..=255")?;
    let _subaddress = fields.next();
    let _subaddress_type = fields.next();
    let alpha = match fields.next().and_then(|f| f.non_empty()) {
        Some(text) => Some(String::try_from(text).map_err(|_| "name too long")?),
        None => None,
    };
    let validity = match fields.next() {
        Some(f) if !f.text.is_empty() => {
            CliValidity::from_code(f.number().ok_or("validity is not a number 0..=255")?)
        }
        _ => CliValidity::Valid,
    };
    let number = match (number.non_empty(), validity) {
        (Some(text), CliValidity::Valid | CliValidity::Other(_)) => {
            Some(PhoneNumber::try_from(text).map_err(|_| "number too long")?)
        }
        _ => None,
    };
    Ok(Urc::CallerId(CallerId {
        number,
        number_type,
        alpha,
        validity,
    }))
}

/// `+CMTI: "<storage>",<index>`; an empty storage or an index of -1 (`+CMTI: ,-1`) is a
/// message whose place the modem did not say.
fn parse_cmti(params: &str) -> Result<Urc, &'static str> {
    let mut fields = Fields::new(params);
    let storage = match fields.next().ok_or("no storage")?.non_empty() {
        Some(text) => Some(String::try_from(text).map_err(|_| "storage name too long")?),
        None => None,
    };
    let index = fields.next().ok_or("no index")?;
    let unlocated = index.text.trim() == "-1";
    let index = if unlocated {
        None
    } else {
        Some(
            index
                .number::<u16>()
                .ok_or("index is not a number 0..=65535 or -1")?,
        )
    };
    Ok(match (storage, index) {
        (Some(storage), Some(index)) => Urc::NewMessage(NewMessage { storage, index }),
        (storage, _) => Urc::NewMessageUnlocated { storage },
    })
}

/// `+CDS: <length>` or `+CMT: [<alpha>],<length>`, a line end, and the PDU's hex line.
fn parse_routed(text: &str, name: &str, has_alpha: bool) -> Result<RoutedPdu, &'static str> {
    let (header, pdu) = text
        .split_once('\n')
        .ok_or("no PDU line after the header")?;
    let header = params(header.trim_end(), name);
    let length_field = if has_alpha {
        // The alpha may itself be quoted text with a comma; the length is the last field.
        header.rsplit(',').next().ok_or("no length")?
    } else {
        header
    };
    let tpdu_length = length_field
        .trim()
        .parse::<u16>()
        .map_err(|_| "length is not a number 0..=65535")?;
    let hex = pdu.trim().as_bytes();
    if hex.is_empty() {
        return Err("the PDU line is empty");
    }
    if hex.len() % 2 != 0 {
        return Err("the PDU line has an odd number of hex digits");
    }
    let mut octets = heapless::Vec::new();
    for pair in hex.chunks_exact(2) {
        let octet = match (hex_digit(pair[0]), hex_digit(pair[1])) {
            (Some(high), Some(low)) => high << 4 | low,
            _ => return Err("the PDU line is not hex"),
        };
        octets
            .push(octet)
            .map_err(|_| "the PDU is longer than MAX_PDU_OCTETS")?;
    }
    Ok(RoutedPdu {
        tpdu_length,
        octets,
    })
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl atat::AtatUrc for Urc {
    fn parse(resp: &[u8]) -> Option<Self> {
        Urc::parse(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hhmmss_durations() {
        assert_eq!(duration_from_hhmmss("000042"), Some(42));
        assert_eq!(duration_from_hhmmss("000117"), Some(77));
        assert_eq!(duration_from_hhmmss("010203"), Some(3723));
        assert_eq!(duration_from_hhmmss("42"), Some(42));
        assert_eq!(duration_from_hhmmss("000075"), None);
        assert_eq!(duration_from_hhmmss(""), None);
        assert_eq!(duration_from_hhmmss("9999999999"), None);
    }

    #[test]
    fn withheld_caller_has_no_number() {
        let urc = Urc::parse(br#"+CLIP: "",128,,,,1"#);
        let Some(Urc::CallerId(id)) = urc else {
            panic!("not a caller id: {urc:?}")
        };
        assert_eq!(id.number, None);
        assert_eq!(id.number_type, NumberType::UnknownPlan);
        assert_eq!(id.validity, CliValidity::Withheld);
    }
}
