//! Received SMS into smstools' incoming folder, in smsd 3.1.21's exact file format, once.
//!
//! This module owns the incoming side of the spool: [`ReceivedSms`] (what a message file
//! says, built from modem-core's decoded [`Deliver`] or [`ReassembledMessage`]),
//! [`render_incoming`] (the file's bytes, pure), and [`Inbox`], which writes a file
//! atomically and remembers what it delivered so that a message read again after a crash
//! (it was written, but not yet deleted from the SIM) is not delivered twice.
//!
//! The format, compared byte for byte with files the real smsd wrote for the same PDUs
//! (hil-tests/tests/scenarios/spool/smsd_formats.rs):
//!
//! ```text
//! From: 31641600986                        digits, no '+'
//! From_TOA: 91 international, ISDN/telephone
//! From_SMSC: 31624000000
//! Sent: 26-11-24 05:17:55                  the service centre's time stamp, as sent
//! Received: 26-11-24 05:17:57              local time
//! Subject: GSM1
//! Modem: GSM1
//! IMSI: 262011234567890                    when known
//! IMEI: 351602000330570                    when known
//! Report: no
//! Alphabet: ISO                            ISO (text in ISO-8859-15) or UCS2 (UTF-16BE)
//! Length: 12                               bytes for ISO, UTF-16 units for UCS2
//!
//! How are you?                             no newline after the text
//! ```
//!
//! The file is named `<modem>.XXXXXX` (six random letters and digits, as smsd's mkstemp).
//!
//! A concatenated message is one file with the whole text. One whose parts stop coming is
//! written as smsd writes it when its `ic_purge` time is up (observed): each part that
//! came is a file of its own, its own text and time stamp, with `Incomplete: yes` after
//! `Report:` and, after `Alphabet:`, the part's header as `UDH-DATA: 05 00 03 01 03 03 `
//! (hex octets, each followed by a space) and `UDH-Type: Length=6, [00]Concatenated short
//! messages, 8-bit reference number` (the 16-bit form, not observed, follows smsd's
//! wording for it: `[08]Concatenated short message, 16-bit reference number`).
//!
//! Choices where smsd could not be observed: a GSM text with a character ISO-8859-15
//! lacks (Greek capitals of the GSM alphabet) is written as UCS2, which loses nothing;
//! 8-bit data is written as `Alphabet: binary` with the raw bytes.
//!
//! # Exactly once
//! [`Inbox::deliver`] writes the file under a hidden temporary name and fsyncs it, then
//! appends the message's fingerprint and final name to the modem's ledger
//! (`.sim7600-delivered.<modem>` in the incoming folder: one per modem, so that bots of
//! several modems serving one folder never rewrite each other's) and fsyncs that, then renames the file into place and fsyncs the
//! folder. The caller deletes the message from the SIM only after `deliver` returned.
//! After a crash at any point, [`Inbox::open`] finishes a delivery the ledger promised
//! (renames the temporary file into place) and removes temporary files it did not
//! promise (those messages are still on the SIM). A message read again whose fingerprint
//! is in the ledger is reported [`Delivery::AlreadyDelivered`], and the caller deletes it
//! from the SIM without a second file. The fingerprint covers everything in the file but
//! `Received:`; two messages from the same sender with the same text and the same
//! service centre second count as one.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use modem_core::pdu::{
    Address, Alphabet, Body, ConcatReference, Concatenation, Deliver, ReassembledMessage, Timestamp,
};

use super::SpoolError;
use super::charset::{encode_iso_8859_15, encode_ucs2_be};
use super::safe_fs::{Opened, SpoolDir, Whose};

/// The ledger of delivered messages, a hidden file in the incoming folder:
/// [`ledger_file`] names a modem's. A ledger of this very name is one written before
/// ledgers were per modem; the first bot to open the folder takes it over as its own.
pub const LEDGER_FILE: &str = ".sim7600-delivered";

/// The ledger of the modem smsd calls `modem` (`GSM1`): `.sim7600-delivered.GSM1`.
pub fn ledger_file(modem: &str) -> String {
    format!("{LEDGER_FILE}.{modem}")
}
/// Fingerprints the ledger keeps (the newest); a message stays on the SIM for seconds
/// after its delivery, so a few thousand is far more than a crash can need.
pub const LEDGER_KEEP: usize = 2000;
/// The ledger is compacted to [`LEDGER_KEEP`] lines when it grows beyond this.
pub const LEDGER_COMPACT_AT: usize = 2 * LEDGER_KEEP;
/// The largest ledger read: [`LEDGER_COMPACT_AT`] lines of a message of 255 parts each
/// (about 4.4 KB a line) fit.
pub const MAX_LEDGER_BYTES: u64 = 32 * 1024 * 1024;
/// Suffix of the hidden temporary name of a file being written.
pub const TEMP_SUFFIX: &str = ".sim7600-tmp";
/// Attempts at a fresh random name before giving up (a clash is one in 56 billion).
pub const NAME_ATTEMPTS: usize = 16;

/// A time as smsd writes it (`%y-%m-%d %H:%M:%S`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolTime {
    /// Year within the century.
    pub year: u8,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59.
    pub second: u8,
}

impl SpoolTime {
    /// A PDU time stamp as smsd writes it: the service centre's local time, without its
    /// zone (smsd prints the digits as they are in the PDU).
    pub fn from_pdu(t: &Timestamp) -> SpoolTime {
        SpoolTime {
            year: t.year,
            month: t.month,
            day: t.day,
            hour: t.hour,
            minute: t.minute,
            second: t.second,
        }
    }

    /// The local time now (smsd writes `Received:`, `Sent:` and `Failed:` in local time).
    pub fn now_local() -> SpoolTime {
        let now = jiff::Zoned::now();
        SpoolTime::from_civil(now.datetime())
    }

    /// A civil date and time.
    pub fn from_civil(dt: jiff::civil::DateTime) -> SpoolTime {
        // Every field is in range by jiff's own invariants; rem_euclid keeps the year
        // within the century as smsd's %y does.
        let small = |v: i8| u8::try_from(v).unwrap_or(0);
        SpoolTime {
            year: u8::try_from(dt.year().rem_euclid(100)).unwrap_or(0),
            month: small(dt.month()),
            day: small(dt.day()),
            hour: small(dt.hour()),
            minute: small(dt.minute()),
            second: small(dt.second()),
        }
    }
}

impl std::fmt::Display for SpoolTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// The modem a message came in on, as smsd names it in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModemIdentity {
    /// smsd's name for the modem (`GSM1`): the file name prefix, `Subject:` and `Modem:`.
    pub name: String,
    /// AT+CIMI, when known.
    pub imsi: Option<String>,
    /// AT+CGSN, when known.
    pub imei: Option<String>,
}

/// A message's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncomingText {
    /// Text; `ucs2` when the network sent it as UCS-2 (smsd keeps that alphabet).
    Text {
        /// The text.
        text: String,
        /// Sent as UCS-2.
        ucs2: bool,
    },
    /// 8-bit data.
    Binary(Vec<u8>),
}

/// A received message, whole or given up incomplete, as the incoming file tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSms {
    /// The sender.
    pub from: Address,
    /// The service centre, when the PDU named one.
    pub smsc: Option<Address>,
    /// The service centre time stamp (of the first part).
    pub sent: Timestamp,
    /// The content.
    pub text: IncomingText,
    /// Whether the sender asked for a status report (TP-SRI).
    pub report: bool,
    /// `Some` for one part of a concatenated message whose other parts never came in
    /// time: smsd then writes each part that came as a file of its own, marked
    /// `Incomplete: yes` with the part's user data header.
    pub incomplete: Option<Concatenation>,
    /// [`part_key`]s of the PDUs this message was made of, recorded in the ledger so that
    /// a part read again after a crash (its message delivered, the part not yet deleted
    /// from the SIM) is recognised and never delivered a second time.
    pub part_keys: Vec<u64>,
}

/// What identifies one received PDU: sender, service centre time stamp, concatenation
/// reference, count and number, and its body. Stable across runs (FNV-1a).
pub fn part_key(part: &Deliver) -> u64 {
    let mut key = Vec::with_capacity(64);
    key.extend_from_slice(part.originator.value.as_bytes());
    key.push(part.originator.type_of_address.to_octet());
    let t = &part.timestamp;
    key.extend_from_slice(&[t.year, t.month, t.day, t.hour, t.minute, t.second]);
    key.extend_from_slice(&t.utc_offset_quarters.to_be_bytes());
    if let Some(c) = part.concatenation {
        match c.reference {
            ConcatReference::Eight(r) => key.push(r),
            ConcatReference::Sixteen(r) => key.extend_from_slice(&r.to_be_bytes()),
        }
        key.extend_from_slice(&[c.total, c.sequence]);
    }
    match &part.body {
        Body::Text(t) => key.extend_from_slice(t.as_bytes()),
        Body::Binary(b) => key.extend_from_slice(b),
    }
    fnv1a64(&key)
}

/// What the first part of a concatenated message said beyond what the reassembler keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartsMeta {
    /// The service centre.
    pub smsc: Option<Address>,
    /// The alphabet of the parts.
    pub alphabet: Alphabet,
    /// TP-SRI.
    pub report: bool,
}

impl PartsMeta {
    /// What a part says.
    pub fn of(part: &Deliver) -> PartsMeta {
        PartsMeta {
            smsc: part.smsc.clone(),
            alphabet: part.data_coding.alphabet,
            report: part.status_report_indication,
        }
    }
}

impl ReceivedSms {
    /// A single (not concatenated) message.
    pub fn from_deliver(sms: &Deliver) -> ReceivedSms {
        ReceivedSms {
            from: sms.originator.clone(),
            smsc: sms.smsc.clone(),
            sent: sms.timestamp,
            text: match &sms.body {
                Body::Text(t) => IncomingText::Text {
                    text: t.as_str().to_string(),
                    ucs2: sms.data_coding.alphabet == Alphabet::Ucs2,
                },
                Body::Binary(b) => IncomingText::Binary(b.to_vec()),
            },
            report: sms.status_report_indication,
            incomplete: None,
            part_keys: vec![part_key(sms)],
        }
    }

    /// One part of a concatenated message given up incomplete, as smsd writes it: a file
    /// of its own with the part's text, time stamp and user data header.
    pub fn incomplete_part(part: &Deliver) -> ReceivedSms {
        ReceivedSms {
            incomplete: part.concatenation,
            ..ReceivedSms::from_deliver(part)
        }
    }

    /// A complete message out of the reassembler, its parts joined; `part_keys`: the
    /// [`part_key`]s of the PDUs it was made of (empty when not tracked). For a message
    /// given up incomplete, write each part with [`Self::incomplete_part`] instead, as
    /// smsd does.
    pub fn from_reassembled<const P: usize>(
        msg: &ReassembledMessage<P>,
        meta: &PartsMeta,
        part_keys: Vec<u64>,
    ) -> ReceivedSms {
        let text = if meta.alphabet == Alphabet::EightBit {
            IncomingText::Binary(
                msg.parts()
                    .filter_map(|(_, b)| match b {
                        Body::Binary(bytes) => Some(bytes.to_vec()),
                        Body::Text(_) => None,
                    })
                    .flatten()
                    .collect(),
            )
        } else {
            let mut text = String::new();
            // write_text into a String cannot fail.
            let _ = msg.write_text(&mut text);
            IncomingText::Text {
                text,
                ucs2: meta.alphabet == Alphabet::Ucs2,
            }
        };
        ReceivedSms {
            from: msg.originator().clone(),
            smsc: meta.smsc.clone(),
            sent: *msg.timestamp(),
            text,
            report: meta.report,
            incomplete: None,
            part_keys,
        }
    }
}

/// smsd's `UDH-DATA:` and `UDH-Type:` values for a part's concatenation header.
fn udh_lines(c: &Concatenation) -> (String, String) {
    let (octets, kind): (Vec<u8>, &str) = match c.reference {
        ConcatReference::Eight(r) => (
            vec![0x05, 0x00, 0x03, r, c.total, c.sequence],
            "[00]Concatenated short messages, 8-bit reference number",
        ),
        ConcatReference::Sixteen(r) => {
            let [hi, lo] = r.to_be_bytes();
            (
                vec![0x06, 0x08, 0x04, hi, lo, c.total, c.sequence],
                "[08]Concatenated short message, 16-bit reference number",
            )
        }
    };
    let data: String = octets.iter().map(|o| format!("{o:02X} ")).collect();
    (data, format!("Length={}, {kind}", octets.len()))
}

/// smsd's explain_toa(): `"91 international, ISDN/telephone"`. Its quirks are kept: the
/// misspelt "subsciber", and for a numbering plan it has no word for, the type's word
/// said twice.
pub fn explain_toa(octet: u8) -> String {
    let kind = match (octet & 0x70) >> 4 {
        0 => "unknown",
        1 => "international",
        2 => "national",
        3 => "network specific",
        4 => "subsciber",
        5 => "alphanumeric",
        6 => "abbreviated",
        _ => "reserved",
    };
    let plan = match octet & 0x0F {
        0 => "unknown",
        1 => "ISDN/telephone",
        3 => "data",
        4 => "telex",
        8 => "national",
        9 => "private",
        10 => "ERMES",
        _ => kind,
    };
    format!("{octet:02X} {kind}, {plan}")
}

/// The headers smsd writes first in every file of incoming/ (a message or a status
/// report), in its order, from `From:` to `IMEI:`; and the index of the `Received:` line.
pub(crate) fn header_lines(
    from: &Address,
    smsc: Option<&Address>,
    sent: &Timestamp,
    received: SpoolTime,
    modem: &ModemIdentity,
) -> (Vec<String>, usize) {
    let mut lines: Vec<String> = Vec::with_capacity(13);
    lines.push(format!("From: {}", from.value));
    lines.push(format!("From_TOA: {}", explain_toa(toa_octet(from))));
    if let Some(smsc) = smsc {
        lines.push(format!("From_SMSC: {}", smsc.value));
    }
    lines.push(format!("Sent: {}", SpoolTime::from_pdu(sent)));
    let received_index = lines.len();
    lines.push(format!("Received: {received}"));
    lines.push(format!("Subject: {}", modem.name));
    lines.push(format!("Modem: {}", modem.name));
    if let Some(imsi) = &modem.imsi {
        lines.push(format!("IMSI: {imsi}"));
    }
    if let Some(imei) = &modem.imei {
        lines.push(format!("IMEI: {imei}"));
    }
    (lines, received_index)
}

pub(crate) fn toa_octet(a: &Address) -> u8 {
    a.type_of_address.to_octet()
}

/// The bytes of the file and its fingerprint body: everything but the `Received:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedIncoming {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// A stable fingerprint of the message (not of when it was received).
    pub fingerprint: u64,
}

/// The incoming file for `sms` received on `modem` at `received`.
pub fn render_incoming(
    sms: &ReceivedSms,
    modem: &ModemIdentity,
    received: SpoolTime,
) -> RenderedIncoming {
    let (alphabet, body, length) = match &sms.text {
        IncomingText::Text { text, ucs2: false } => match encode_iso_8859_15(text) {
            Some(bytes) => ("ISO", bytes.clone(), bytes.len()),
            None => {
                let bytes = encode_ucs2_be(text);
                let len = bytes.len() / 2;
                ("UCS2", bytes, len)
            }
        },
        IncomingText::Text { text, ucs2: true } => {
            let bytes = encode_ucs2_be(text);
            let len = bytes.len() / 2;
            ("UCS2", bytes, len)
        }
        IncomingText::Binary(b) => ("binary", b.clone(), b.len()),
    };
    let (mut lines, received_index) =
        header_lines(&sms.from, sms.smsc.as_ref(), &sms.sent, received, modem);
    lines.push(format!("Report: {}", if sms.report { "yes" } else { "no" }));
    if sms.incomplete.is_some() {
        lines.push("Incomplete: yes".to_string());
    }
    lines.push(format!("Alphabet: {alphabet}"));
    if let Some(c) = &sms.incomplete {
        let (data, kind) = udh_lines(c);
        lines.push(format!("UDH-DATA: {data}"));
        lines.push(format!("UDH-Type: {kind}"));
    }
    lines.push(format!("Length: {length}"));
    let join = |skip: Option<usize>| -> Vec<u8> {
        let mut out: Vec<u8> = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if Some(i) != skip {
                out.extend_from_slice(l.as_bytes());
                out.push(b'\n');
            }
        }
        out.push(b'\n');
        out.extend_from_slice(&body);
        out
    };
    RenderedIncoming {
        fingerprint: fnv1a64(&join(Some(received_index))),
        bytes: join(None),
    }
}

/// FNV-1a, 64 bits: stable across Rust versions and machines, unlike std's hasher, so a
/// ledger written by one build is read right by the next.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What [`Inbox::deliver`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The message is now in this file.
    Written(PathBuf),
    /// The ledger says it was delivered before (as this file name): not written again.
    AlreadyDelivered(String),
}

/// smsd's incoming folder as the bot writes it.
#[derive(Debug)]
pub struct Inbox {
    dir: SpoolDir,
    modem: ModemIdentity,
    /// What was delivered, oldest first.
    ledger: Vec<LedgerEntry>,
    /// The ledger file, opened once (created at the first delivery).
    ledger_file: Option<File>,
    /// Its name in the folder ([`ledger_file`]).
    ledger_name: String,
}

/// One delivered message in the ledger: `<fingerprint> <file name> [<part key>...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LedgerEntry {
    fingerprint: u64,
    name: String,
    parts: Vec<u64>,
}

impl LedgerEntry {
    fn line(&self) -> String {
        let mut l = format!("{:016x} {}", self.fingerprint, self.name);
        for p in &self.parts {
            l.push_str(&format!(" {p:016x}"));
        }
        l.push('\n');
        l
    }
}

/// Six characters from smsd's mkstemp alphabet, fresh each call.
fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // RandomState is seeded from the OS's random source per process and varies per
    // instance; hashing a clock reading adds more.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut v = h.finish();
    (0..6)
        .map(|_| {
            let i = usize::try_from(v % 62).unwrap_or(0);
            v /= 62;
            char::from(CHARS.get(i).copied().unwrap_or(b'X'))
        })
        .collect()
}

/// A ledger from before ledgers were per modem ([`LEDGER_FILE`] itself) becomes `name`,
/// unless `name` exists already (then the old one stays for the modem that has none yet).
/// What it is, is judged when `name` is opened, as for any ledger.
fn adopt_shared_ledger(dir: &SpoolDir, name: &str) -> Result<(), SpoolError> {
    if dir.stat(name)?.is_some() || dir.stat(LEDGER_FILE)?.is_none() {
        return Ok(());
    }
    match dir.rename_no_replace(LEDGER_FILE, dir, name) {
        Ok(true) => {
            dir.sync()?;
            log::info!(
                "spool: {} is now {}: one delivery ledger per modem",
                dir.join(LEDGER_FILE).display(),
                dir.join(name).display()
            );
            Ok(())
        }
        // Another bot took it (or made its own) since this one looked.
        Ok(false) => Ok(()),
        Err(SpoolError::Io { ref source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// smsd's name for a modem, as the name of a file: not empty, no `/`, no NUL, not `.`
/// or `..` (smsd makes it the prefix of every incoming file's name too).
fn check_modem_name(dir: &SpoolDir, name: &str) -> Result<(), SpoolError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(SpoolError::Io {
            action: "will not keep a delivery ledger in",
            path: dir.path().to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the modem's name {name:?} cannot be part of a file name"),
            ),
        });
    }
    Ok(())
}

/// Opens the ledger once, for reading and appending, never through a link; what is not
/// a regular file of one link under its name was planted (the bot only ever writes a
/// regular file there) and is removed, unread, with a warning.
fn open_ledger(dir: &SpoolDir, name: &str) -> Result<(Option<File>, Vec<LedgerEntry>), SpoolError> {
    let path = dir.join(name);
    match dir.open_regular_append(name, MAX_LEDGER_BYTES, Whose::Bots)? {
        Opened::Gone => Ok((None, Vec::new())),
        Opened::Refused(why) => {
            log::warn!(
                "spool: {} is not the delivery ledger the bot writes ({why}); removed unread",
                path.display()
            );
            dir.remove(name)?;
            dir.sync()?;
            Ok((None, Vec::new()))
        }
        Opened::File(mut file) => {
            let bytes = match file
                .read_all()
                .map_err(SpoolError::io("cannot read", &path))?
            {
                Ok(bytes) => bytes,
                Err(why) => {
                    return Err(SpoolError::Io {
                        action: "will not read",
                        path,
                        source: std::io::Error::other(why.to_string()),
                    });
                }
            };
            Ok((Some(file.into_file()), read_ledger(&bytes)))
        }
    }
}

impl Inbox {
    /// The inbox of `dir` (smsd's incoming folder) for `modem`; reads the ledger and
    /// finishes or removes what a crash left half-written.
    pub fn open(dir: &Path, modem: ModemIdentity) -> Result<Inbox, SpoolError> {
        let dir = SpoolDir::open(dir)?;
        check_modem_name(&dir, &modem.name)?;
        let ledger_name = ledger_file(&modem.name);
        adopt_shared_ledger(&dir, &ledger_name)?;
        let (ledger_file, ledger) = open_ledger(&dir, &ledger_name)?;
        let mut inbox = Inbox {
            dir,
            modem,
            ledger,
            ledger_file,
            ledger_name,
        };
        inbox.recover()?;
        Ok(inbox)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The modem the files name.
    pub fn modem(&self) -> &ModemIdentity {
        &self.modem
    }

    /// Sets what the files say about the modem (IMSI/IMEI learnt after opening).
    pub fn set_modem(&mut self, modem: ModemIdentity) {
        self.modem = modem;
    }

    fn recover(&mut self) -> Result<(), SpoolError> {
        for name in self.dir.names(usize::MAX)? {
            let Some(final_name) = name
                .strip_prefix('.')
                .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
            else {
                continue;
            };
            if self.ledger.iter().any(|e| e.name == final_name) {
                // Promised in the ledger: finish the delivery.
                if !self.dir.rename_no_replace(&name, &self.dir, final_name)? {
                    // The file is in place already (a rename that did happen): the
                    // temporary copy is a leftover.
                    self.dir.remove(&name)?;
                }
                log::info!(
                    "spool: finished the delivery of {} after a crash",
                    self.dir.join(final_name).display()
                );
            } else {
                // Never promised: the message is still on the SIM and will be read again.
                self.dir.remove(&name)?;
                log::info!(
                    "spool: removed half-written {}",
                    self.dir.join(&name).display()
                );
            }
        }
        self.dir.sync()
    }

    /// Writes `sms` into the folder, exactly once (see the module docs). Delete the
    /// message from the SIM only after this returned `Ok`.
    pub fn deliver(
        &mut self,
        sms: &ReceivedSms,
        received: SpoolTime,
    ) -> Result<Delivery, SpoolError> {
        let rendered = render_incoming(sms, &self.modem, received);
        self.deliver_rendered(&rendered, sms.part_keys.clone())
    }

    /// Writes a file already rendered (a message, or a status report from
    /// `super::report`), exactly once as [`Self::deliver`] does; `parts` are the keys
    /// of the SIM slots it came from, for [`Self::delivered_part`].
    pub fn deliver_rendered(
        &mut self,
        rendered: &RenderedIncoming,
        parts: Vec<u64>,
    ) -> Result<Delivery, SpoolError> {
        if let Some(e) = self
            .ledger
            .iter()
            .rev()
            .find(|e| e.fingerprint == rendered.fingerprint)
        {
            return Ok(Delivery::AlreadyDelivered(e.name.clone()));
        }
        for _ in 0..NAME_ATTEMPTS {
            let name = format!("{}.{}", self.modem.name, random_suffix());
            if self.dir.stat(&name)?.is_some() {
                continue;
            }
            let temp = format!(".{name}{TEMP_SUFFIX}");
            self.dir.create_new(&temp, &rendered.bytes)?;
            self.append_ledger(LedgerEntry {
                fingerprint: rendered.fingerprint,
                name: name.clone(),
                parts: parts.clone(),
            })?;
            if self.dir.rename_no_replace(&temp, &self.dir, &name)? {
                self.dir.sync()?;
                self.compact_ledger_if_needed()?;
                return Ok(Delivery::Written(self.dir.join(&name)));
            }
            // Someone took the name between the check and the rename: try another; the
            // ledger line for this name is harmless (no temporary file will match it).
            self.dir.remove(&temp)?;
        }
        Err(SpoolError::Io {
            action: "cannot find a free file name in",
            path: self.dir.path().to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        })
    }

    /// The file a PDU with this [`part_key`] was delivered in, if it was: such a part
    /// read from the SIM again is deleted, not delivered again.
    pub fn delivered_part(&self, key: u64) -> Option<&str> {
        self.ledger
            .iter()
            .rev()
            .find(|e| e.parts.contains(&key))
            .map(|e| e.name.as_str())
    }

    fn append_ledger(&mut self, entry: LedgerEntry) -> Result<(), SpoolError> {
        let path = self.dir.join(&self.ledger_name);
        let file = match &mut self.ledger_file {
            Some(f) => f,
            slot @ None => {
                let file = match self.dir.create(&self.ledger_name) {
                    Ok(created) => {
                        self.dir.sync()?;
                        created
                    }
                    // Created since this one looked (a second bot for the same modem,
                    // which its port lease should prevent): append to that one.
                    Err(SpoolError::Io { ref source, .. })
                        if source.raw_os_error() == Some(nix::libc::EEXIST) =>
                    {
                        match self.dir.open_regular_append(
                            &self.ledger_name,
                            MAX_LEDGER_BYTES,
                            Whose::Bots,
                        )? {
                            Opened::File(f) => f.into_file(),
                            Opened::Gone | Opened::Refused(_) => {
                                return Err(SpoolError::Io {
                                    action: "cannot open the delivery ledger",
                                    path,
                                    source: std::io::Error::other(
                                        "it changed under the bot while it was created",
                                    ),
                                });
                            }
                        }
                    }
                    Err(e) => return Err(e),
                };
                slot.insert(file)
            }
        };
        file.write_all(entry.line().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(SpoolError::io("cannot append to", &path))?;
        self.ledger.push(entry);
        Ok(())
    }

    fn compact_ledger_if_needed(&mut self) -> Result<(), SpoolError> {
        if self.ledger.len() <= LEDGER_COMPACT_AT {
            return Ok(());
        }
        let drop = self.ledger.len() - LEDGER_KEEP;
        self.ledger.drain(..drop);
        let text: String = self.ledger.iter().map(LedgerEntry::line).collect();
        let temp = format!("{}.new", self.ledger_name);
        self.dir.remove(&temp)?;
        let file = self
            .dir
            .write_file_via(&temp, &self.ledger_name, text.as_bytes())?;
        self.ledger_file = Some(file);
        Ok(())
    }
}

fn read_ledger(bytes: &[u8]) -> Vec<LedgerEntry> {
    let mut out = Vec::new();
    for line in String::from_utf8_lossy(bytes).lines() {
        // A torn last line (crash during the append) lacks its newline and may be cut
        // anywhere: its temporary file is then removed by recovery and the message read
        // again. A cut inside the part keys only forgets those keys.
        let mut words = line.split(' ');
        let (Some(hash), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(fingerprint) = u64::from_str_radix(hash, 16) else {
            continue;
        };
        if hash.len() != 16 || name.is_empty() {
            continue;
        }
        let parts = words
            .filter(|w| w.len() == 16)
            .filter_map(|w| u64::from_str_radix(w, 16).ok())
            .collect();
        out.push(LedgerEntry {
            fingerprint,
            name: name.to_string(),
            parts,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modem() -> ModemIdentity {
        ModemIdentity {
            name: "GSM1".into(),
            imsi: Some("262011234567890".into()),
            imei: Some("351602000330570".into()),
        }
    }

    fn received() -> SpoolTime {
        SpoolTime {
            year: 26,
            month: 11,
            day: 24,
            hour: 5,
            minute: 17,
            second: 56,
        }
    }

    // PDUs the simulator stored and smsd turned into files (captured with the real smsd).
    const HOW_ARE_YOU: &str =
        "07911326040000F0040B911346610089F60000621142507155000CC8F71D14969741F977FD07";
    const CYRILLIC_EMOJI: &str = "07911326040000F0040B911346610089F60008621142507155001A041F044004380432043504420020043C043804400020D83DDE00";

    #[test]
    fn a_plain_text_message_matches_the_file_smsd_wrote() {
        let sms = ReceivedSms::from_deliver(&Deliver::from_hex(HOW_ARE_YOU).unwrap());
        let got = render_incoming(&sms, &modem(), received());
        let want = "From: 31641600986\nFrom_TOA: 91 international, ISDN/telephone\n\
                    From_SMSC: 31624000000\nSent: 26-11-24 05:17:55\nReceived: 26-11-24 05:17:56\n\
                    Subject: GSM1\nModem: GSM1\nIMSI: 262011234567890\nIMEI: 351602000330570\n\
                    Report: no\nAlphabet: ISO\nLength: 12\n\nHow are you?";
        assert_eq!(String::from_utf8(got.bytes).unwrap(), want);
    }

    #[test]
    fn a_ucs2_message_is_utf16_big_endian_and_counts_utf16_units() {
        let sms = ReceivedSms::from_deliver(&Deliver::from_hex(CYRILLIC_EMOJI).unwrap());
        let got = render_incoming(&sms, &modem(), received()).bytes;
        let text = String::from_utf8_lossy(&got);
        assert!(text.contains("\nAlphabet: UCS2\nLength: 13\n\n"), "{text}");
        assert!(got.ends_with(&[0x00, 0x20, 0xD8, 0x3D, 0xDE, 0x00]));
    }

    #[test]
    fn a_gsm_text_beyond_iso_8859_15_is_written_as_ucs2() {
        let mut sms = ReceivedSms::from_deliver(&Deliver::from_hex(HOW_ARE_YOU).unwrap());
        sms.text = IncomingText::Text {
            text: "ΔΣ ok".into(),
            ucs2: false,
        };
        let got = String::from_utf8_lossy(&render_incoming(&sms, &modem(), received()).bytes)
            .into_owned();
        assert!(got.contains("Alphabet: UCS2\nLength: 5\n"), "{got}");
    }

    // Part 1 of 3 (8-bit reference 1) and the file smsd wrote for it when parts 2 never
    // came (ic_purge), captured with the real smsd.
    const PART1_OF_3: &str = "07911326040000F0440B911346610089F6000062114250239500A0050003010301A061391D442FE3E9A0F3BB3C07A1CBF2B20B040DCBE9207A194F079DDFE539085D96975D2068584E07D1CB783AE8FC2ECF41E8B2BCEC0241C3723A885EC6D341E777790E4297E56517081A96D341F4329E0E3ABFCB7310BA2C2FBB40D0B09C0EA297F174D0F95D9E83D06579D9058286E57410BD8CA783CEEFF21C842ECBCB2E10342CA783E8";

    #[test]
    fn a_part_of_a_message_given_up_incomplete_is_marked_as_smsd_marks_it() {
        let sms = ReceivedSms::incomplete_part(&Deliver::from_hex(PART1_OF_3).unwrap());
        let got = String::from_utf8(render_incoming(&sms, &modem(), received()).bytes).unwrap();
        let want = "From: 31641600986\nFrom_TOA: 91 international, ISDN/telephone\n\
                    From_SMSC: 31624000000\nSent: 26-11-24 05:32:59\nReceived: 26-11-24 05:17:56\n\
                    Subject: GSM1\nModem: GSM1\nIMSI: 262011234567890\nIMEI: 351602000330570\n\
                    Report: no\nIncomplete: yes\nAlphabet: ISO\nUDH-DATA: 05 00 03 01 03 01 \n\
                    UDH-Type: Length=6, [00]Concatenated short messages, 8-bit reference number\n\
                    Length: 153\n\n";
        assert!(got.starts_with(want), "{got}");
        assert!(got.ends_with("Part t"), "{got}");
    }

    #[test]
    fn unknown_imsi_and_imei_are_left_out() {
        let sms = ReceivedSms::from_deliver(&Deliver::from_hex(HOW_ARE_YOU).unwrap());
        let m = ModemIdentity {
            name: "GSM2".into(),
            imsi: None,
            imei: None,
        };
        let got = String::from_utf8(render_incoming(&sms, &m, received()).bytes).unwrap();
        assert!(!got.contains("IMSI") && !got.contains("IMEI"), "{got}");
        assert!(
            got.contains("Subject: GSM2\nModem: GSM2\nReport: no\n"),
            "{got}"
        );
    }

    #[test]
    fn the_fingerprint_ignores_the_receive_time_only() {
        let sms = ReceivedSms::from_deliver(&Deliver::from_hex(HOW_ARE_YOU).unwrap());
        let a = render_incoming(&sms, &modem(), received());
        let later = SpoolTime {
            second: 59,
            ..received()
        };
        let b = render_incoming(&sms, &modem(), later);
        assert_ne!(a.bytes, b.bytes);
        assert_eq!(a.fingerprint, b.fingerprint);
        let mut other = sms.clone();
        other.text = IncomingText::Text {
            text: "How are you!".into(),
            ucs2: false,
        };
        assert_ne!(
            render_incoming(&other, &modem(), received()).fingerprint,
            a.fingerprint
        );
    }

    #[test]
    fn toa_words_follow_smsd_including_its_quirks() {
        assert_eq!(explain_toa(0x91), "91 international, ISDN/telephone");
        assert_eq!(explain_toa(0x81), "81 unknown, ISDN/telephone");
        assert_eq!(explain_toa(0xA1), "A1 national, ISDN/telephone");
        assert_eq!(explain_toa(0xD0), "D0 alphanumeric, unknown");
        assert_eq!(explain_toa(0xC1), "C1 subsciber, ISDN/telephone");
        assert_eq!(explain_toa(0x92), "92 international, international");
    }

    #[test]
    fn spool_time_is_two_digit_fields() {
        let dt = jiff::civil::date(2026, 1, 2).at(3, 4, 5, 0);
        assert_eq!(SpoolTime::from_civil(dt).to_string(), "26-01-02 03:04:05");
    }

    #[test]
    fn delivering_twice_writes_one_file_and_a_crash_leftover_is_finished_or_removed() {
        let dir = tempfile::tempdir().unwrap();
        let sms = ReceivedSms::from_deliver(&Deliver::from_hex(HOW_ARE_YOU).unwrap());
        let mut inbox = Inbox::open(dir.path(), modem()).unwrap();
        let Delivery::Written(path) = inbox.deliver(&sms, received()).unwrap() else {
            panic!("not written");
        };
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("GSM1.") && name.len() == 11, "{name}");
        assert_eq!(
            inbox.deliver(&sms, SpoolTime::now_local()).unwrap(),
            Delivery::AlreadyDelivered(name.clone())
        );
        // A new process sees the same ledger.
        let mut again = Inbox::open(dir.path(), modem()).unwrap();
        assert_eq!(
            again.deliver(&sms, received()).unwrap(),
            Delivery::AlreadyDelivered(name)
        );

        // A crash after the ledger line but before the rename: the next open finishes it.
        std::fs::write(dir.path().join(".GSM1.Promis.sim7600-tmp"), b"promised").unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(ledger_file("GSM1")))
            .unwrap()
            .write_all(b"0000000000000001 GSM1.Promis\n")
            .unwrap();
        // A crash before the ledger line: the message is still on the SIM; removed.
        std::fs::write(dir.path().join(".GSM1.Unprom.sim7600-tmp"), b"not promised").unwrap();
        Inbox::open(dir.path(), modem()).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("GSM1.Promis")).unwrap(),
            b"promised"
        );
        assert!(!dir.path().join(".GSM1.Unprom.sim7600-tmp").exists());
        assert!(!dir.path().join("GSM1.Unprom").exists());
    }

    #[test]
    fn a_file_written_as_root_belongs_to_its_folders_owner() {
        use std::os::unix::fs::MetadataExt;
        if !nix::unistd::geteuid().is_root() {
            // Not root: the file is the writer's, like any file it creates; checked too.
            let dir = tempfile::tempdir().unwrap();
            SpoolDir::open(dir.path())
                .unwrap()
                .create_new("f", b"x")
                .unwrap();
            let meta = std::fs::metadata(dir.path().join("f")).unwrap();
            assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw());
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(4242), Some(4343)).unwrap();
        SpoolDir::open(dir.path())
            .unwrap()
            .create_new("f", b"x")
            .unwrap();
        let meta = std::fs::metadata(dir.path().join("f")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (4242, 4343));
        // smsd's mode, whatever the bot's umask.
        assert_eq!(meta.mode() & 0o7777, 0o644);
    }

    #[test]
    fn a_link_planted_as_the_ledger_is_never_written_or_read_through() {
        let dir = tempfile::tempdir().unwrap();
        let incoming = dir.path().join("incoming");
        std::fs::create_dir(&incoming).unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "0000000000000001 GSM1.forged\n").unwrap();
        std::os::unix::fs::symlink(&outside, incoming.join(ledger_file("GSM1"))).unwrap();
        let mut inbox = Inbox::open(&incoming, modem()).unwrap();
        assert!(inbox.ledger.is_empty(), "nothing read through the link");
        let sms = ReceivedSms::from_deliver(&Deliver::from_hex(HOW_ARE_YOU).unwrap());
        assert!(matches!(
            inbox.deliver(&sms, received()).unwrap(),
            Delivery::Written(_)
        ));
        assert_eq!(
            std::fs::read_to_string(&outside).unwrap(),
            "0000000000000001 GSM1.forged\n",
            "nothing appended outside the spool"
        );
        let ledger = std::fs::symlink_metadata(incoming.join(ledger_file("GSM1"))).unwrap();
        assert!(ledger.file_type().is_file(), "a ledger of the bot's own");
    }

    #[test]
    fn a_fifo_planted_as_the_ledger_does_not_block_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        nix::unistd::mkfifo(
            &path.join(ledger_file("GSM1")),
            nix::sys::stat::Mode::from_bits_truncate(0o666),
        )
        .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(Inbox::open(&path, modem()).map(|i| i.ledger.len()));
        });
        let opened = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("opening the inbox blocked on a FIFO for 5 s");
        assert_eq!(opened.unwrap(), 0);
    }

    #[test]
    fn a_torn_ledger_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(ledger_file("GSM1")),
            "00000000000000ab GSM1.aaaaaa\n0000",
        )
        .unwrap();
        let inbox = Inbox::open(dir.path(), modem()).unwrap();
        assert_eq!(
            inbox.ledger,
            vec![LedgerEntry {
                fingerprint: 0xab,
                name: "GSM1.aaaaaa".to_string(),
                parts: vec![]
            }]
        );
    }

    #[test]
    fn the_ledger_is_compacted_to_its_newest_lines() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..LEDGER_COMPACT_AT as u64)
            .map(|i| format!("{i:016x} GSM1.{i}\n"))
            .collect();
        std::fs::write(dir.path().join(ledger_file("GSM1")), text).unwrap();
        let mut inbox = Inbox::open(dir.path(), modem()).unwrap();
        let sms = ReceivedSms::from_deliver(&Deliver::from_hex(HOW_ARE_YOU).unwrap());
        inbox.deliver(&sms, received()).unwrap();
        let lines = std::fs::read_to_string(dir.path().join(ledger_file("GSM1"))).unwrap();
        assert_eq!(lines.lines().count(), LEDGER_KEEP);
        assert!(lines.lines().last().unwrap().contains("GSM1."));
        assert!(!lines.contains(&format!("{:016x} ", 0)));
    }

    #[test]
    fn a_part_of_a_delivered_message_read_again_is_recognised_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let part = Deliver::from_hex(HOW_ARE_YOU).unwrap();
        let sms = ReceivedSms::from_deliver(&part);
        let mut inbox = Inbox::open(dir.path(), modem()).unwrap();
        assert_eq!(inbox.delivered_part(part_key(&part)), None);
        let Delivery::Written(path) = inbox.deliver(&sms, received()).unwrap() else {
            panic!("not written");
        };
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let again = Inbox::open(dir.path(), modem()).unwrap();
        assert_eq!(again.delivered_part(part_key(&part)), Some(name.as_str()));
        let other = Deliver::from_hex(CYRILLIC_EMOJI).unwrap();
        assert_eq!(again.delivered_part(part_key(&other)), None);
    }

    fn gsm(name: &str) -> ModemIdentity {
        ModemIdentity {
            name: name.into(),
            ..modem()
        }
    }

    #[test]
    fn two_modems_serving_one_folder_keep_a_ledger_each_and_compaction_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let sms = ReceivedSms::from_deliver(&Deliver::from_hex(HOW_ARE_YOU).unwrap());
        let full: String = (0..LEDGER_COMPACT_AT as u64)
            .map(|i| format!("{i:016x} GSM1.{i}\n"))
            .collect();
        std::fs::write(dir.path().join(ledger_file("GSM1")), full).unwrap();
        let mut first = Inbox::open(dir.path(), gsm("GSM1")).unwrap();
        let mut second = Inbox::open(dir.path(), gsm("GSM2")).unwrap();
        let Delivery::Written(path) = second.deliver(&sms, received()).unwrap() else {
            panic!("not written");
        };
        // GSM1's delivery compacts GSM1's ledger, and only that one.
        first.deliver(&sms, received()).unwrap();
        let lines = std::fs::read_to_string(dir.path().join(ledger_file("GSM1"))).unwrap();
        assert_eq!(lines.lines().count(), LEDGER_KEEP);
        // GSM2's line still counts after a restart (what `sim7600 restore` reads).
        drop(second);
        let mut second = Inbox::open(dir.path(), gsm("GSM2")).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            second.deliver(&sms, received()).unwrap(),
            Delivery::AlreadyDelivered(name)
        );
    }

    #[test]
    fn a_shared_ledger_from_before_is_taken_over_by_the_first_modem_that_opens_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let sms = ReceivedSms::from_deliver(&Deliver::from_hex(HOW_ARE_YOU).unwrap());
        let mut inbox = Inbox::open(dir.path(), modem()).unwrap();
        let Delivery::Written(path) = inbox.deliver(&sms, received()).unwrap() else {
            panic!("not written");
        };
        drop(inbox);
        std::fs::rename(
            dir.path().join(ledger_file("GSM1")),
            dir.path().join(LEDGER_FILE),
        )
        .unwrap();
        let mut inbox = Inbox::open(dir.path(), modem()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            inbox.deliver(&sms, received()).unwrap(),
            Delivery::AlreadyDelivered(name)
        );
        assert!(!dir.path().join(LEDGER_FILE).exists());
        assert!(dir.path().join(ledger_file("GSM1")).exists());
        // A second modem finds no shared ledger left and starts its own at its first
        // delivery.
        Inbox::open(dir.path(), gsm("GSM2")).unwrap();
        assert!(!dir.path().join(ledger_file("GSM2")).exists());
    }

    #[test]
    fn a_modem_name_that_cannot_be_a_file_name_is_refused_with_the_name() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "..", "GSM/1"] {
            let e = Inbox::open(dir.path(), gsm(bad)).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
