//! The driver's errors: which command failed and how.
//!
//! Every failure of a [`Sim7600`](super::Sim7600) method is an [`Error`] that names the AT
//! command (`AT+CMGS`, `ATA`, ...) and says what went wrong in the modem's terms: no reply in
//! time, `ERROR`, `+CME ERROR: <n>`, `+CMS ERROR: <n>`, a reply that did not parse, a reply
//! longer than the driver's buffers, or an argument the driver refused before sending
//! anything. atat's own error type is mapped here once, so hosts never match on atat.

use core::fmt;

use atat::{CmeError, CmsError, ConnectionError};
use heapless::String;

/// Longest error text kept from a `+CME ERROR: <text>` / `+CMS ERROR: <text>` line that atat
/// does not know by name (atat keeps at most 64 bytes of it).
pub const ERROR_TEXT_LEN: usize = 64;

/// How a command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ErrorKind {
    /// No final result arrived within the command's timeout.
    Timeout,
    /// The modem answered `ERROR`.
    Error,
    /// The modem answered `+CME ERROR: <code>` (mobile equipment error, 3GPP TS 27.007 §9.2).
    Cme(u16),
    /// The modem answered `+CMS ERROR: <code>` (message service error, 3GPP TS 27.005 §3.2.5).
    Cms(u16),
    /// The modem answered an error line in words that atat does not know (a `+CME ERROR:` or
    /// `+CMS ERROR:` text outside 3GPP's list): the line as printed, cut to
    /// [`ERROR_TEXT_LEN`] bytes.
    ErrorText(String<ERROR_TEXT_LEN>),
    /// The modem answered `NO CARRIER`, `BUSY`, `NO ANSWER` or `NO DIALTONE` as the final
    /// result (for example `ATA` with no incoming call).
    Connection(ConnectionFailure),
    /// The reply arrived but did not have the expected form.
    Parse,
    /// The reply was longer than [`RESPONSE_LEN`](super::RESPONSE_LEN) or a line longer than
    /// the ingress buffer.
    Capacity,
    /// Writing to the port failed or did not finish in time.
    Write,
    /// Reading from the port failed.
    Read,
    /// The modem answered something the client did not expect (a stray prompt, an aborted
    /// command).
    Unexpected,
    /// The driver refused an argument before sending anything.
    InvalidArgument(InvalidArgument),
}

/// The final result codes that end a call attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConnectionFailure {
    /// `NO CARRIER`.
    NoCarrier,
    /// `BUSY`.
    Busy,
    /// `NO ANSWER`.
    NoAnswer,
    /// `NO DIALTONE`.
    NoDialtone,
    /// Another connection failure.
    Other,
}

/// An argument the driver will not send, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InvalidArgument {
    /// The argument's name (`number`, `text`, `pdu_hex`, `tpdu_len`).
    pub name: &'static str,
    /// What is wrong with it, in words.
    pub problem: &'static str,
}

/// A command that failed, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Error {
    /// The command as the modem knows it (`AT+CMGS`, `AT+CMGS body`, `ATA`).
    pub command: &'static str,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl Error {
    /// An error of `kind` for `command`.
    pub const fn new(command: &'static str, kind: ErrorKind) -> Self {
        Self { command, kind }
    }

    /// An argument refused before `command` was sent.
    pub const fn invalid(command: &'static str, name: &'static str, problem: &'static str) -> Self {
        Self::new(
            command,
            ErrorKind::InvalidArgument(InvalidArgument { name, problem }),
        )
    }

    /// Maps atat's error for `command`.
    pub fn from_atat(command: &'static str, error: atat::Error) -> Self {
        let kind = match error {
            atat::Error::Timeout => ErrorKind::Timeout,
            atat::Error::Error => ErrorKind::Error,
            atat::Error::CmeError(code) => ErrorKind::Cme(code.into()),
            atat::Error::CmsError(code) => ErrorKind::Cms(code.into()),
            atat::Error::ConnectionError(failure) => ErrorKind::Connection(match failure {
                ConnectionError::NoCarrier => ConnectionFailure::NoCarrier,
                ConnectionError::Busy => ConnectionFailure::Busy,
                ConnectionError::NoAnswer => ConnectionFailure::NoAnswer,
                ConnectionError::NoDialtone => ConnectionFailure::NoDialtone,
                ConnectionError::Unknown => ConnectionFailure::Other,
            }),
            atat::Error::Parse => ErrorKind::Parse,
            atat::Error::Capacity => ErrorKind::Capacity,
            atat::Error::Write => ErrorKind::Write,
            atat::Error::Read => ErrorKind::Read,
            atat::Error::CustomMessage(text) => ErrorKind::ErrorText(printable(&text)),
            atat::Error::InvalidResponse | atat::Error::Aborted | atat::Error::Custom => {
                ErrorKind::Unexpected
            }
        };
        Self::new(command, kind)
    }
}

/// The name errors give the body write of `AT+CMGS` (after the `> ` prompt), the one step
/// after which a message may have left.
pub(crate) const SMS_BODY_COMMAND: &str = "AT+CMGS body";
/// The name errors give `AT`, the first command of a probe and of init.
pub(crate) const ATTENTION_COMMAND: &str = "AT";

/// What a failed SMS send ([`Sim7600::send_sms_text`](super::Sim7600::send_sms_text),
/// [`send_sms_pdu`](super::Sim7600::send_sms_pdu),
/// [`send_sms_part`](super::Sim7600::send_sms_part)) means for the message
/// ([`Error::send_failure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SendFailure {
    /// Nothing of the message was sent: it may be sent again. A failure before the body
    /// left the host (`AT+CMGF`, the `AT+CMGS` prompt), or the modem's own refusal of the
    /// body (`ERROR`, `+CME ERROR`, `+CMS ERROR`, an error text).
    Definite,
    /// The message may have been sent, and sending it again could deliver it twice: a
    /// timeout or a broken port after the body was written.
    Unknown,
    /// The message can never be sent: the driver refused an argument.
    Permanent,
}

impl Error {
    /// What this error of an SMS send means for the message (see [`SendFailure`]).
    pub fn send_failure(&self) -> SendFailure {
        if matches!(self.kind, ErrorKind::InvalidArgument(_)) {
            return SendFailure::Permanent;
        }
        if self.command != SMS_BODY_COMMAND {
            // AT+CMGF or the AT+CMGS prompt: the body never left the host.
            return SendFailure::Definite;
        }
        if self.is_refusal() {
            SendFailure::Definite
        } else {
            SendFailure::Unknown
        }
    }

    /// Whether this error of a [`probe`](super::Sim7600::probe) says a modem answered `AT`
    /// but refused to name itself (`ERROR`, `+CME ERROR`, an error text for `AT+CGMI` or
    /// `AT+CGMM`): a modem, just not one that speaks like a SIM7600.
    pub fn is_identity_refusal(&self) -> bool {
        self.command != ATTENTION_COMMAND
            && matches!(
                self.kind,
                ErrorKind::Error | ErrorKind::Cme(_) | ErrorKind::ErrorText(_)
            )
    }

    /// Whether the modem answered with an error result (`ERROR`, `+CME ERROR`,
    /// `+CMS ERROR`, an error text) rather than not at all or garbled.
    fn is_refusal(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Error | ErrorKind::Cme(_) | ErrorKind::Cms(_) | ErrorKind::ErrorText(_)
        )
    }
}

/// The printable ASCII of `bytes` (others as `?`), so an error text is always showable.
fn printable(bytes: &[u8]) -> String<ERROR_TEXT_LEN> {
    let mut text = String::new();
    for &byte in bytes.iter().take(ERROR_TEXT_LEN) {
        let c = if byte.is_ascii_graphic() || byte == b' ' {
            char::from(byte)
        } else {
            '?'
        };
        // Cannot fail: at most ERROR_TEXT_LEN one-byte characters are pushed.
        let _ = text.push(c);
    }
    text
}

impl fmt::Display for ConnectionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoCarrier => "NO CARRIER",
            Self::Busy => "BUSY",
            Self::NoAnswer => "NO ANSWER",
            Self::NoDialtone => "NO DIALTONE",
            Self::Other => "a connection failure",
        })
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("no reply before the timeout"),
            Self::Error => f.write_str("the modem answered ERROR"),
            Self::Cme(code) => write!(
                f,
                "the modem answered +CME ERROR: {code} ({})",
                CmeError::from(*code)
            ),
            Self::Cms(code) => write!(
                f,
                "the modem answered +CMS ERROR: {code} ({})",
                CmsError::from(*code)
            ),
            Self::ErrorText(text) => write!(f, "the modem answered \"{text}\""),
            Self::Connection(failure) => write!(f, "the modem answered {failure}"),
            Self::Parse => f.write_str("the reply did not have the expected form"),
            Self::Capacity => f.write_str("the reply was longer than the driver's buffer"),
            Self::Write => f.write_str("writing to the port failed"),
            Self::Read => f.write_str("reading from the port failed"),
            Self::Unexpected => f.write_str("the modem answered something unexpected"),
            Self::InvalidArgument(InvalidArgument { name, problem }) => {
                write!(f, "refused before sending: {name} {problem}")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.command, self.kind)
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(command: &'static str, kind: ErrorKind) -> Error {
        Error::new(command, kind)
    }

    #[test]
    fn a_refusal_of_the_body_is_definite_and_may_be_retried() {
        for kind in [
            ErrorKind::Cms(500),
            ErrorKind::Error,
            ErrorKind::Cme(4),
            ErrorKind::ErrorText(String::try_from("SMS FAILED").unwrap()),
        ] {
            assert_eq!(
                err(SMS_BODY_COMMAND, kind).send_failure(),
                SendFailure::Definite
            );
        }
    }

    #[test]
    fn a_timeout_before_the_prompt_is_definite() {
        assert_eq!(
            err("AT+CMGS", ErrorKind::Timeout).send_failure(),
            SendFailure::Definite
        );
        assert_eq!(
            err("AT+CMGF", ErrorKind::Write).send_failure(),
            SendFailure::Definite
        );
    }

    #[test]
    fn a_timeout_or_a_broken_port_after_the_body_is_unknown() {
        for kind in [
            ErrorKind::Timeout,
            ErrorKind::Write,
            ErrorKind::Read,
            ErrorKind::Parse,
            ErrorKind::Capacity,
            ErrorKind::Unexpected,
        ] {
            assert_eq!(
                err(SMS_BODY_COMMAND, kind).send_failure(),
                SendFailure::Unknown
            );
        }
    }

    #[test]
    fn a_refused_argument_is_permanent() {
        let e = Error::invalid("AT+CMGS", "pdu_hex", "is longer than 352 hex digits");
        assert_eq!(e.send_failure(), SendFailure::Permanent);
    }

    #[test]
    fn an_identity_refusal_is_an_error_answer_to_anything_but_at() {
        assert!(err("AT+CGMI", ErrorKind::Error).is_identity_refusal());
        assert!(err("AT+CGMM", ErrorKind::Cme(100)).is_identity_refusal());
        assert!(
            err(
                "AT+CGMI",
                ErrorKind::ErrorText(String::try_from("unknown").unwrap())
            )
            .is_identity_refusal()
        );
        assert!(!err(ATTENTION_COMMAND, ErrorKind::Error).is_identity_refusal());
        assert!(!err("AT+CGMM", ErrorKind::Timeout).is_identity_refusal());
        assert!(!err("AT+CGMI", ErrorKind::Parse).is_identity_refusal());
    }
}
