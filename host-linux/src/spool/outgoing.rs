//! smsd's outgoing file format, and the sent/ and failed/ files it makes of one.
//!
//! This module owns the pure side of sending from the spool: [`OutgoingMessage::parse`]
//! reads a file dropped into outgoing/ the way smsd 3.1.21 reads it, and [`render_sent`]
//! and [`render_failed`] produce the bytes smsd writes into sent/ and failed/. No I/O
//! here; the claim protocol is [`super::outbox`].
//!
//! What smsd does, observed with the real smsd on the simulator
//! (hil-tests/tests/scenarios/spool/smsd_formats.rs):
//! - headers `Name: value`, one per line, then a blank line, then the text; headers the
//!   bot does not act on are kept as they are;
//! - `To:` is the number without `+` (a `+` is accepted and dropped), international
//!   unless prefixed `s` (a short number, sent with type unknown); a file without one
//!   fails with `Fail_reason: No destination`;
//! - text: `Alphabet: UCS2` means the bytes are UTF-16 big-endian; otherwise the text is
//!   UTF-8 when it is valid UTF-8 (smsd's `outgoing_utf8 = yes`, its default) and
//!   ISO-8859-15 when not; trailing white space is cut (smsd's `trim_text`);
//! - a sent file is the original headers, then `Modem:`, `Sent:`, `Sending_time:`
//!   (seconds), `Message_id:` (only when a status report was asked for: `Report: yes`;
//!   the last part's reference, smsd's `messageids = 2`), `IMSI:`, `IMEI:`, then the blank
//!   line and the original text bytes;
//! - a failed file is the original headers, then `Fail_reason:` and `Failed:`.
//!   smsd's own checks (no destination) write exactly that; for a failure at the modem
//!   the bot puts `Modem:` before them (not observed: the simulator never refuses).

use std::path::Path;
use std::time::Duration;

use modem_core::pdu::{Address, TypeOfAddress};

use super::SpoolError;
use super::charset::{decode_iso_8859_15, decode_ucs2_be};
use super::incoming::{ModemIdentity, SpoolTime};

/// The largest outgoing file read: smsd's MAXTEXT (39,016 bytes of text) plus headers.
pub const MAX_OUTGOING_BYTES: u64 = 64 * 1024;

/// The charset of an outgoing file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutgoingAlphabet {
    /// No `Alphabet:`, or ISO/Latin/ANSI: UTF-8 if valid (outgoing_utf8), else ISO-8859-15.
    Iso,
    /// `Alphabet: UTF-8`.
    Utf8,
    /// `Alphabet: UCS2` (UCS-2, UCS, Unicode): UTF-16 big-endian bytes.
    Ucs2,
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The digits, without `+` or `s`.
    pub digits: String,
    /// `s` prefix: a short (or national) number, sent with type of number unknown.
    pub short: bool,
}

impl Recipient {
    /// The destination address for the PDU: international unless short.
    pub fn address(&self) -> Result<Address, modem_core::pdu::EncodeError> {
        let toa = if self.short {
            TypeOfAddress::UNKNOWN
        } else {
            TypeOfAddress::INTERNATIONAL
        };
        Address::number(&self.digits, toa)
    }

    /// The number as a person writes it (`+491721234567`, or the short digits).
    pub fn display(&self) -> String {
        if self.short {
            self.digits.clone()
        } else {
            format!("+{}", self.digits)
        }
    }
}

/// A parsed outgoing file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Headers in file order (values decoded as ISO-8859-15, as smsd reads them).
    pub headers: Vec<(String, String)>,
    /// The recipient.
    pub to: Recipient,
    /// The text's charset in the file.
    pub alphabet: OutgoingAlphabet,
    /// `Flash: yes`: class 0.
    pub flash: bool,
    /// `Report: yes/no`; `None` when absent (the modem's `report =` applies).
    pub report: Option<bool>,
    /// The text to send.
    pub text: String,
    /// The file's bytes, kept to write the sent/ or failed/ file.
    raw: Vec<u8>,
}

/// What came of sending a claimed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Every part was accepted by the modem.
    Sent {
        /// The modem's message reference of each part, in order.
        message_refs: Vec<u8>,
        /// When sending finished (local time).
        at: SpoolTime,
        /// How long sending took.
        took: Duration,
    },
    /// The message cannot be sent.
    Failed {
        /// smsd's `Fail_reason:` text.
        reason: String,
        /// When (local time).
        at: SpoolTime,
    },
}

/// The header block (with each line's newline) and the text bytes of a spool file.
pub fn split_file(raw: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut pos = 0;
    while pos < raw.len() {
        let end = raw
            .get(pos..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
            .map_or(raw.len(), |i| pos + i);
        let line = raw.get(pos..end).unwrap_or(&[]);
        if line.is_empty() || line == b"\r" {
            let head = raw.get(..pos).unwrap_or(&[]).to_vec();
            return (head, raw.get(end + 1..).unwrap_or(&[]));
        }
        pos = end + 1;
    }
    // No blank line: all headers, no text.
    let mut head = raw.to_vec();
    if !head.ends_with(b"\n") {
        head.push(b'\n');
    }
    (head, &[])
}

fn yes_no(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "on" | "1" => Some(true),
        "no" | "n" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

impl OutgoingMessage {
    /// Parses the bytes of `file`; `outgoing_utf8` is smsd.conf's setting. A file smsd
    /// would refuse is an error whose reason is what goes into `Fail_reason:`.
    pub fn parse(
        raw: &[u8],
        file: &Path,
        outgoing_utf8: bool,
    ) -> Result<OutgoingMessage, SpoolError> {
        let bad = |reason: String| SpoolError::BadOutgoing {
            file: file.to_path_buf(),
            reason,
        };
        let (head, body) = split_file(raw);
        let mut headers = Vec::new();
        for line in head.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = decode_iso_8859_15(line.strip_suffix(b"\r").unwrap_or(line));
            let Some((name, value)) = line.split_once(':') else {
                return Err(bad(format!("header line {line:?} has no ':'")));
            };
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let header = |name: &str| {
            headers
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let to = match header("To") {
            None | Some("") => return Err(bad("No destination".into())),
            Some(to) => parse_recipient(to).map_err(bad)?,
        };
        let alphabet = match header("Alphabet").map(str::to_ascii_uppercase).as_deref() {
            None | Some("" | "ISO" | "LATIN" | "LATIN1" | "ANSI") => OutgoingAlphabet::Iso,
            Some("UTF-8" | "UTF8") => OutgoingAlphabet::Utf8,
            Some("UCS2" | "UCS-2" | "UCS" | "UNICODE") => OutgoingAlphabet::Ucs2,
            Some(other) => {
                return Err(bad(format!(
                    "Alphabet: {other} is not sent by sim7600 (ISO, UTF-8 and UCS2 are)"
                )));
            }
        };
        let flag = |name: &str| -> Result<Option<bool>, SpoolError> {
            header(name)
                .map(|v| yes_no(v).ok_or_else(|| bad(format!("{name}: {v} is neither yes nor no"))))
                .transpose()
        };
        let flash = flag("Flash")?.unwrap_or(false);
        let report = flag("Report")?;
        let text = match alphabet {
            OutgoingAlphabet::Ucs2 => decode_ucs2_be(body).ok_or_else(|| {
                bad("Alphabet: UCS2 but the text is not UTF-16 big-endian (odd length or a lone surrogate)".into())
            })?,
            OutgoingAlphabet::Utf8 => String::from_utf8(body.to_vec())
                .map_err(|_| bad("Alphabet: UTF-8 but the text is not valid UTF-8".into()))?,
            OutgoingAlphabet::Iso => match std::str::from_utf8(body) {
                Ok(s) if outgoing_utf8 => s.to_string(),
                _ => decode_iso_8859_15(body),
            },
        };
        // smsd's trim_text: trailing white space never leaves.
        let text = match alphabet {
            OutgoingAlphabet::Ucs2 => text,
            _ => text.trim_end().to_string(),
        };
        if text.is_empty() {
            return Err(bad("the text is empty".into()));
        }
        Ok(OutgoingMessage {
            headers,
            to,
            alphabet,
            flash,
            report,
            text,
            raw: raw.to_vec(),
        })
    }

    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The file's bytes as read.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Whether a status report is asked for, given the modem's `report =` default.
    pub fn wants_report(&self, modem_default: bool) -> bool {
        self.report.unwrap_or(modem_default)
    }
}

fn parse_recipient(to: &str) -> Result<Recipient, String> {
    let (short, digits) = match to.strip_prefix(['s', 'S']) {
        Some(rest) => (true, rest),
        None => (false, to.strip_prefix('+').unwrap_or(to)),
    };
    let digits = digits.trim();
    if digits.is_empty() {
        return Err("No destination".into());
    }
    if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
        return Err(format!(
            "To: {to} has the character {c:?}; a number is digits only"
        ));
    }
    if digits.len() > modem_core::pdu::MAX_ADDRESS_DIGITS {
        return Err(format!(
            "To: {to} has {} digits, more than the {} a PDU can carry",
            digits.len(),
            modem_core::pdu::MAX_ADDRESS_DIGITS
        ));
    }
    Ok(Recipient {
        digits: digits.to_string(),
        short,
    })
}

fn with_added_headers(raw: &[u8], added: &[String]) -> Vec<u8> {
    let (mut out, body) = split_file(raw);
    for line in added {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

fn identity_lines(modem: &ModemIdentity) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(imsi) = &modem.imsi {
        v.push(format!("IMSI: {imsi}"));
    }
    if let Some(imei) = &modem.imei {
        v.push(format!("IMEI: {imei}"));
    }
    v
}

/// The sent/ file for `raw` (the outgoing file's bytes), sent by `modem`.
/// `message_id`: the reference to name, `Some` only when a status report was asked for.
pub fn render_sent(
    raw: &[u8],
    modem: &ModemIdentity,
    at: SpoolTime,
    took: Duration,
    message_id: Option<u8>,
) -> Vec<u8> {
    let mut added = vec![
        format!("Modem: {}", modem.name),
        format!("Sent: {at}"),
        format!("Sending_time: {}", took.as_secs()),
    ];
    if let Some(id) = message_id {
        added.push(format!("Message_id: {id}"));
    }
    added.extend(identity_lines(modem));
    with_added_headers(raw, &added)
}

/// The failed/ file for `raw` with `reason`; `modem` when the modem refused it.
pub fn render_failed(
    raw: &[u8],
    reason: &str,
    at: SpoolTime,
    modem: Option<&ModemIdentity>,
) -> Vec<u8> {
    let mut added = Vec::new();
    if let Some(m) = modem {
        added.push(format!("Modem: {}", m.name));
    }
    // One line: a reason with a newline would end the headers early.
    added.push(format!(
        "Fail_reason: {}",
        reason.replace(['\r', '\n'], " ")
    ));
    added.push(format!("Failed: {at}"));
    with_added_headers(raw, &added)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Result<OutgoingMessage, SpoolError> {
        OutgoingMessage::parse(raw, Path::new("/var/spool/sms/outgoing/x"), true)
    }

    fn modem() -> ModemIdentity {
        ModemIdentity {
            name: "GSM1".into(),
            imsi: Some("262011234567890".into()),
            imei: Some("351602000330570".into()),
        }
    }

    fn at() -> SpoolTime {
        SpoolTime {
            year: 26,
            month: 11,
            day: 24,
            hour: 5,
            minute: 17,
            second: 58,
        }
    }

    #[test]
    fn a_plain_file_gives_number_and_trimmed_text() {
        let m = parse(b"To: 491721234567\n\nHello from smsd\n").unwrap();
        assert_eq!(
            m.to,
            Recipient {
                digits: "491721234567".into(),
                short: false
            }
        );
        assert_eq!(m.text, "Hello from smsd");
        assert!(!m.flash);
        assert_eq!(m.report, None);
        assert_eq!(
            m.to.address().unwrap().type_of_address,
            TypeOfAddress::INTERNATIONAL
        );
    }

    #[test]
    fn a_short_number_is_sent_with_type_unknown_and_a_plus_is_dropped() {
        let m = parse(b"To: s1234\n\nx").unwrap();
        assert!(m.to.short);
        assert_eq!(
            m.to.address().unwrap().type_of_address,
            TypeOfAddress::UNKNOWN
        );
        assert_eq!(parse(b"To: +4917\n\nx").unwrap().to.digits, "4917");
    }

    #[test]
    fn utf8_text_is_read_as_utf8_and_other_bytes_as_iso_8859_15() {
        assert_eq!(
            parse("To: 49\n\nGrüße € utf8".as_bytes()).unwrap().text,
            "Grüße € utf8"
        );
        assert_eq!(
            parse(b"To: 49\n\nGr\xfc\xdfe \xa4 iso").unwrap().text,
            "Grüße € iso"
        );
        let iso_only =
            OutgoingMessage::parse("To: 49\n\nü".as_bytes(), Path::new("x"), false).unwrap();
        assert_eq!(
            iso_only.text, "ÃŒ",
            "outgoing_utf8 = no reads bytes as ISO-8859-15 (0xBC is Œ)"
        );
    }

    #[test]
    fn a_ucs2_file_holds_utf16_big_endian() {
        let m = parse(b"To: 49\nAlphabet: UCS2\nFlash: yes\nX-Custom: foo\n\n\x04\x1f\x04\x40")
            .unwrap();
        assert_eq!(m.text, "Пр");
        assert!(m.flash);
        assert_eq!(m.header("x-custom"), Some("foo"));
        let e = parse(b"To: 49\nAlphabet: UCS2\n\n\x04").unwrap_err();
        assert!(e.to_string().contains("UTF-16"), "{e}");
    }

    #[test]
    fn refusals_name_the_file_and_say_what_is_wrong() {
        for (raw, want) in [
            (&b"To: \n\nbad"[..], "No destination"),
            (b"Flash: yes\n\nbad", "No destination"),
            (b"To: abc\n\nbad", "'a'"),
            (b"To: 49\nAlphabet: binary\n\nx", "BINARY"),
            (b"To: 49\nFlash: maybe\n\nx", "Flash: maybe"),
            (b"To: 49\n\n   \n", "empty"),
            (b"To: 49\nno colon here\n\nx", "no ':'"),
            (b"To: 123456789012345678901\n\nx", "21 digits"),
        ] {
            let e = parse(raw).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(want), "{raw:?}: {msg}");
            assert!(msg.contains("outgoing/x"), "{msg}");
        }
    }

    #[test]
    fn crlf_files_parse() {
        let m = parse(b"To: 49\r\nReport: yes\r\n\r\nhi\r\n").unwrap();
        assert_eq!(m.text, "hi");
        assert_eq!(m.report, Some(true));
    }

    #[test]
    fn the_sent_file_is_the_one_smsd_writes() {
        let raw = b"To: 491721234567\n\nHello from smsd\n";
        let got = render_sent(raw, &modem(), at(), Duration::from_millis(1400), None);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "To: 491721234567\nModem: GSM1\nSent: 26-11-24 05:17:58\nSending_time: 1\n\
             IMSI: 262011234567890\nIMEI: 351602000330570\n\nHello from smsd\n"
        );
        let raw = b"To: 491721234567\nReport: yes\n\nwith report";
        let got = render_sent(raw, &modem(), at(), Duration::from_millis(300), Some(6));
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "To: 491721234567\nReport: yes\nModem: GSM1\nSent: 26-11-24 05:17:58\n\
             Sending_time: 0\nMessage_id: 6\nIMSI: 262011234567890\nIMEI: 351602000330570\n\n\
             with report"
        );
    }

    #[test]
    fn the_failed_file_is_the_one_smsd_writes_for_its_own_checks() {
        let got = render_failed(b"To: abc\n\nbad", "No destination", at(), None);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "To: abc\nFail_reason: No destination\nFailed: 26-11-24 05:17:58\n\nbad"
        );
        let got = render_failed(
            b"To: 49\n\nx",
            "modem said\n+CMS ERROR: 500",
            at(),
            Some(&modem()),
        );
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "To: 49\nModem: GSM1\nFail_reason: modem said +CMS ERROR: 500\nFailed: 26-11-24 05:17:58\n\nx"
        );
    }

    #[test]
    fn a_file_without_a_blank_line_keeps_its_headers_and_has_no_text() {
        let (head, body) = split_file(b"To: 49");
        assert_eq!(head, b"To: 49\n");
        assert!(body.is_empty());
        assert!(parse(b"To: 49").unwrap_err().to_string().contains("empty"));
    }
}
