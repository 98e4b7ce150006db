//! The durable SMS queue: a folder that holds every text the HTTP API accepted until the
//! bot's single port writer has sent it (or given up), and remembers the outcome for
//! `GET /sms/{id}`.
//!
//! This module owns the queue folder and nothing else: the API validates and
//! [`SmsQueue::enqueue`]s (the id is returned only after the record and its folder are
//! fsynced, so a `202` is a promise that survives `kill -9` and power loss); the bot's
//! writer [`SmsQueue::claim_next`]s, reports each part, and marks the message sent or
//! failed. Records are JSON files, one per message, replaced atomically (temporary file,
//! fsync, rename, fsync of the folder: [`crate::platform::durable`]):
//!
//! ```text
//! DIR/active/<id>.json   queued or sending
//! DIR/done/<id>.json     sent or failed (kept for GET /sms/{id}, pruned by age and count)
//! ```
//!
//! # States and crashes
//!
//! ```text
//!            claim_next            begin_part(k)             part_sent(k, ref)
//! queued ───────────────▶ sending ─────────────▶ sending+k ─────────────────▶ sending
//!   ▲                        │  (part k in flight)   │                          │ last part
//!   │ retry_later(error, at) │                       │ retry_later / mark_failed │
//!   └────────────────────────┴───────────────────────┘          mark_sent ◀────┘
//!                                                                   ▼
//!                                                    sent (references) | failed (error)
//! ```
//!
//! `begin_part` is made durable *before* the writer hands part k to the modem, and
//! `part_sent` after the modem's `+CMGS: <ref>`. So after a crash [`SmsQueue::recover`]
//! (run by the writer once, when it owns the port, before its first claim) knows exactly
//! what may have left:
//! - `queued`: untouched, sent later;
//! - `sending` with every part's reference recorded: the crash came just before
//!   `mark_sent`; the message is `sent`;
//! - `sending` with no part in flight: nothing of the unsent parts left the host, so the
//!   message goes back to `queued` and resumes at its first unsent part (parts already
//!   sent keep their references and are never sent again);
//! - `sending` with part k in flight: the modem may or may not have sent part k. Sending
//!   it again could deliver it twice, so the message becomes `failed` with an error that
//!   says so (at most once). This is the only window where a message is not sent: the
//!   milliseconds between the fsync of `begin_part` and that of `part_sent`.
//! - a record in both folders (crash between writing `done/` and removing it from
//!   `active/`): the `done/` one wins.
//! - temporary files: an enqueue that never returned its id, or an update that never
//!   replaced its record: removed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use modem_core::pdu::{
    Address, DEFAULT_MAX_PARTS, EncodeError, EncodedPart, SubmitOptions, SubmitPlan, TextEncoding,
};
use serde::{Deserialize, Serialize};

use crate::platform::durable::{self, Dir, DurableError, NewFile, Step};
use crate::platform::private_files::{
    PRIVATE_FILE_MODE, create_private_dir_all, make_folder_private, make_private,
};

/// Default folder of the queue (configurable).
pub const DEFAULT_QUEUE_DIR: &str = "/var/lib/sim7600/sms-queue";
/// Longest id [`SmsId::parse`] accepts; generated ids are about 30 characters.
pub const MAX_ID_LEN: usize = 64;
/// Longest text, in bytes, a message may carry, checked before the planner walks it. The
/// largest part limit (255 parts of 153 GSM septets) is 39,015 characters, so any text a
/// configuration can accept fits, and a text beyond the limit is refused by its part
/// count, which names the problem, unless it is absurdly large.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Messages waiting (queued or sending) at most; beyond it `enqueue` refuses with
/// [`QueueError::Full`], so a caller looping while the modem is gone cannot fill the disk.
pub const DEFAULT_MAX_ACTIVE: usize = 1000;
/// Finished records kept at most (the oldest beyond this are pruned).
pub const DEFAULT_KEEP_FINISHED: usize = 1000;
/// Finished records older than this are pruned (7 days).
pub const DEFAULT_KEEP_FINISHED_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// Every this many finished messages, the `done/` folder is pruned.
const PRUNE_EVERY: u64 = 64;

const ACTIVE: &str = "active";
const DONE: &str = "done";
const RECORD_SUFFIX: &str = ".json";

/// Why the queue could not do what it was asked. Each message names the file or folder.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A queue folder could not be created or opened.
    #[error("cannot create the SMS queue folder {}: {source}", path.display())]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A queue folder could not be listed (or its entries made private).
    #[error("cannot read the SMS queue folder {}: {source}", path.display())]
    ReadDir {
        /// The folder.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A record could not be serialised, removed or set aside.
    #[error("cannot write the SMS queue record {}: {source}", path.display())]
    Write {
        /// The record (or its temporary file).
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A record could not be stored durably, or a folder not synced.
    #[error("SMS queue: {0}")]
    Durable(#[from] DurableError),
    /// A record could not be read.
    #[error("cannot read the SMS queue record {}: {source}", path.display())]
    Read {
        /// The record.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A record is not the JSON this module writes.
    #[error("the SMS queue record {} is damaged: {source}", path.display())]
    Corrupt {
        /// The record.
        path: PathBuf,
        /// What the parser said.
        source: serde_json::Error,
    },
    /// The queue already holds its limit of waiting messages.
    #[error(
        "the SMS queue already holds {limit} waiting messages, its limit: try again once the bot has sent some"
    )]
    Full {
        /// The limit.
        limit: usize,
    },
    /// The writer reported a part out of order (a bug in the caller).
    #[error("message {id}: part {index} reported, but part {expected} is the next to send")]
    PartOrder {
        /// The message.
        id: SmsId,
        /// The part reported.
        index: u8,
        /// The part expected.
        expected: u8,
    },
    /// `mark_sent` before every part was sent (a bug in the caller).
    #[error("message {id} marked sent after {sent} of its {parts} parts")]
    Incomplete {
        /// The message.
        id: SmsId,
        /// Parts sent.
        sent: usize,
        /// Parts planned.
        parts: u8,
    },
}

/// Why a message was refused before it was queued. `field()` names the request field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsRejection {
    /// The destination is not a phone number.
    #[error("\"to\" is not a phone number: {0}")]
    InvalidNumber(EncodeError),
    /// The text is empty.
    #[error("the text is empty")]
    EmptyText,
    /// The text is larger than [`MAX_TEXT_BYTES`].
    #[error("the text has {bytes} bytes, more than the {max} accepted")]
    TextTooLarge {
        /// Bytes given.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The text needs more parts than the configured limit.
    #[error("the text needs {needed} SMS parts, more than the limit of {limit}")]
    TooManyParts {
        /// Parts needed.
        needed: usize,
        /// The limit.
        limit: u8,
    },
}

impl SmsRejection {
    /// The request field the rejection is about: `"to"` or `"text"`.
    pub fn field(&self) -> &'static str {
        match self {
            SmsRejection::InvalidNumber(_) => "to",
            SmsRejection::EmptyText
            | SmsRejection::TextTooLarge { .. }
            | SmsRejection::TooManyParts { .. } => "text",
        }
    }
}

/// How a text beyond one SMS is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// One concatenated message (parts with a concatenation header), the default.
    #[default]
    Concatenated,
    /// Separate single-part messages, for SIM7600G-H firmware reported to hang on
    /// concatenated UCS-2 messages (config `sms.separate_parts`).
    SeparateMessages,
}

/// What the queue accepts from its callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsPolicy {
    /// Most parts (or separate messages) one text may take.
    pub max_parts: u8,
    /// How long texts are sent.
    pub delivery: Delivery,
}

impl Default for SmsPolicy {
    fn default() -> Self {
        Self {
            max_parts: DEFAULT_MAX_PARTS,
            delivery: Delivery::Concatenated,
        }
    }
}

/// The `[sms]` table of the configuration file: where the queue is and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSettings {
    /// The queue folder.
    pub queue_dir: PathBuf,
    /// Most parts one text may take (1..=255).
    pub max_parts: u8,
    /// Send a long text as separate single-part messages instead of one concatenated
    /// message (some SIM7600G-H firmware hangs on concatenated UCS-2). Off by default.
    pub separate_parts: bool,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            queue_dir: PathBuf::from(DEFAULT_QUEUE_DIR),
            max_parts: DEFAULT_MAX_PARTS,
            separate_parts: false,
        }
    }
}

/// An `[sms]` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[sms] {key}: {problem}")]
pub struct SmsSettingsError {
    /// The key.
    pub key: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl SmsSettings {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), SmsSettingsError> {
        if self.queue_dir.as_os_str().is_empty() {
            return Err(SmsSettingsError {
                key: "queue_dir",
                problem: "must name a folder".into(),
            });
        }
        if self.max_parts == 0 {
            return Err(SmsSettingsError {
                key: "max_parts",
                problem: "0 is out of range: allowed 1..=255".into(),
            });
        }
        Ok(())
    }

    /// What the queue accepts under these settings.
    pub fn policy(&self) -> SmsPolicy {
        SmsPolicy {
            max_parts: self.max_parts,
            delivery: if self.separate_parts {
                Delivery::SeparateMessages
            } else {
                Delivery::Concatenated
            },
        }
    }
}

/// The encoding of a queued text, as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmsEncoding {
    /// GSM 7-bit.
    #[serde(rename = "GSM7")]
    Gsm7,
    /// UCS-2.
    #[serde(rename = "UCS2")]
    Ucs2,
}

impl SmsEncoding {
    /// `"GSM7"` or `"UCS2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SmsEncoding::Gsm7 => "GSM7",
            SmsEncoding::Ucs2 => "UCS2",
        }
    }
}

impl From<TextEncoding> for SmsEncoding {
    fn from(encoding: TextEncoding) -> Self {
        match encoding {
            TextEncoding::Gsm7 => SmsEncoding::Gsm7,
            TextEncoding::Ucs2 => SmsEncoding::Ucs2,
        }
    }
}

/// A message checked against modem-core's planner: it can be encoded, and the numbers the
/// API answers with (encoding, parts) are the ones the writer will send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedSms {
    to: String,
    text: String,
    encoding: SmsEncoding,
    parts: u8,
    delivery: Delivery,
    report: bool,
}

impl ValidatedSms {
    /// Checks `to` (a number: optional `+` then digits, `*`, `#`) and `text` (not empty,
    /// within the part limit) under `policy`.
    pub fn new(to: &str, text: &str, policy: SmsPolicy) -> Result<Self, SmsRejection> {
        let destination = Address::parse_number(to).map_err(SmsRejection::InvalidNumber)?;
        if text.is_empty() {
            return Err(SmsRejection::EmptyText);
        }
        if text.len() > MAX_TEXT_BYTES {
            return Err(SmsRejection::TextTooLarge {
                bytes: text.len(),
                max: MAX_TEXT_BYTES,
            });
        }
        let options = SubmitOptions {
            max_parts: policy.max_parts,
            ..SubmitOptions::default()
        };
        let plan = SubmitPlan::new(destination, text, 0, options).map_err(|e| match e {
            EncodeError::TooManyParts { needed, limit } => {
                SmsRejection::TooManyParts { needed, limit }
            }
            // The destination was parsed above and the limit is a u8 >= 1 only if the
            // config says so; anything else the planner says is about the number.
            other => SmsRejection::InvalidNumber(other),
        })?;
        Ok(Self {
            to: to.to_owned(),
            text: text.to_owned(),
            encoding: plan.encoding().into(),
            parts: plan.parts(),
            delivery: policy.delivery,
            report: false,
        })
    }

    /// The same message with a status report asked for (`report` of `POST /sms`).
    #[must_use]
    pub fn with_report(mut self, report: bool) -> Self {
        self.report = report;
        self
    }

    /// Whether a status report is asked for.
    pub fn report(&self) -> bool {
        self.report
    }

    /// The destination as given.
    pub fn to(&self) -> &str {
        &self.to
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The encoding every part uses.
    pub fn encoding(&self) -> SmsEncoding {
        self.encoding
    }

    /// Parts (or separate messages) the text takes.
    pub fn parts(&self) -> u8 {
        self.parts
    }
}

/// A message's id: generated by [`SmsQueue::enqueue`], safe as a file name and in a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SmsId(String);

/// Why a string is not an [`SmsId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a message id (1 to 64 characters of a-z, A-Z, 0-9, '-')")]
pub struct BadSmsId(String);

impl SmsId {
    /// Checks an id received from outside (a URL).
    pub fn parse(text: &str) -> Result<Self, BadSmsId> {
        let ok = !text.is_empty()
            && text.len() <= MAX_ID_LEN
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(BadSmsId(text.to_owned()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SmsId {
    type Error = BadSmsId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SmsId> for String {
    fn from(id: SmsId) -> Self {
        id.0
    }
}

impl std::fmt::Display for SmsId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsState {
    /// Waiting for the writer (first try or a retry).
    Queued,
    /// The writer has it.
    Sending,
    /// Every part was accepted by the modem (see `message_references`).
    Sent,
    /// Given up (see `error`).
    Failed,
}

impl SmsState {
    /// Whether the message is finished (sent or failed).
    pub fn is_finished(self) -> bool {
        matches!(self, SmsState::Sent | SmsState::Failed)
    }
}

/// One message as the queue stores it and `GET /sms/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsRecord {
    /// The id.
    pub id: SmsId,
    /// The destination as given.
    pub to: String,
    /// The text.
    pub text: String,
    /// The encoding every part uses.
    pub encoding: SmsEncoding,
    /// Parts (or separate messages) to send.
    pub parts: u8,
    /// Concatenated, or separate messages.
    pub delivery: Delivery,
    /// A status report is asked for (TP-SRR in every part); the bot writes it into
    /// smstools' incoming/ when it serves the spool.
    #[serde(default)]
    pub report: bool,
    /// The 8-bit reference in the concatenation header, fixed at enqueue so that parts
    /// sent before and after a restart belong together.
    pub concat_reference: u8,
    /// Where the message is.
    pub state: SmsState,
    /// Send attempts started so far (a retry increments it).
    pub attempts: u32,
    /// Milliseconds since the Unix epoch when the message was queued.
    pub created_ms: u64,
    /// Milliseconds since the Unix epoch of the last change.
    pub updated_ms: u64,
    /// Not before this time (ms since the epoch) is a queued message sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_ms: Option<u64>,
    /// The modem's message reference of each part sent, in part order.
    #[serde(default)]
    pub message_references: Vec<u8>,
    /// The part handed to the modem whose answer has not been recorded. In a failed
    /// record it is the part that may or may not have been sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_part: Option<u8>,
    /// The last error (the modem's, or why the message was given up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SmsRecord {
    /// The next part to send (0-based), or `None` when all were sent.
    pub fn next_part(&self) -> Option<u8> {
        let sent = self.message_references.len();
        u8::try_from(sent).ok().filter(|&next| next < self.parts)
    }

    /// Encodes part `index` (0-based) as the PDU for `AT+CMGS`: a part of the concatenated
    /// message, or a separate single message, as the record's delivery says.
    pub fn encode_part(&self, index: u8) -> Result<EncodedPart, EncodeError> {
        let destination = Address::parse_number(&self.to)?;
        let options = SubmitOptions {
            // The plan must reproduce the parts counted at enqueue: the limit is the
            // count itself (a record is never re-validated against a later config).
            max_parts: self.parts.max(1),
            force_ucs2: self.encoding == SmsEncoding::Ucs2,
            status_report: self.report,
            ..SubmitOptions::default()
        };
        let plan = SubmitPlan::new(
            destination.clone(),
            &self.text,
            self.concat_reference,
            options,
        )?;
        match self.delivery {
            Delivery::Concatenated => plan.encode_part(index),
            Delivery::SeparateMessages => {
                let text = plan.part_text(index)?;
                let single = SubmitOptions {
                    max_parts: 1,
                    ..options
                };
                SubmitPlan::new(destination, text, 0, single)?.encode_part(0)
            }
        }
    }
}

/// What [`SmsQueue::claim_next`] found.
#[derive(Debug)]
pub enum Claim {
    /// A message to send now; it is `sending` on disk.
    Ready(ClaimedSms),
    /// Nothing is due; the earliest retry is due at this time.
    NextAt(SystemTime),
    /// Nothing is queued: wait for [`SmsQueue::set_on_enqueue`]'s notice.
    Empty,
}

/// A message the writer holds. Every report about it goes through the queue, which keeps
/// the file and this copy equal.
#[derive(Debug)]
pub struct ClaimedSms {
    record: SmsRecord,
}

impl ClaimedSms {
    /// The message as stored now.
    pub fn record(&self) -> &SmsRecord {
        &self.record
    }

    /// The next part to send, or `None` when all were sent (then call `mark_sent`).
    pub fn next_part(&self) -> Option<u8> {
        self.record.next_part()
    }

    /// Encodes part `index` (see [`SmsRecord::encode_part`]).
    pub fn encode_part(&self, index: u8) -> Result<EncodedPart, EncodeError> {
        self.record.encode_part(index)
    }
}

/// What [`SmsQueue::recover`] changed after an unclean stop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Messages that were `sending` with no part in flight, queued again.
    pub requeued: Vec<SmsId>,
    /// Messages whose every part was sent before the crash, marked sent.
    pub completed: Vec<SmsId>,
    /// Messages whose part was in flight, failed so as not to send it twice.
    pub failed_in_flight: Vec<SmsId>,
    /// Records found in both folders, removed from `active/`.
    pub duplicates_removed: Vec<SmsId>,
    /// Temporary files removed.
    pub temporaries_removed: usize,
    /// Damaged records set aside (renamed `*.damaged`).
    pub damaged: Vec<PathBuf>,
}

/// What recovery did, in words: each kind with its message ids.
impl std::fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids = |v: &[SmsId]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        for (what, list) in [
            ("queued again", &self.requeued),
            ("found sent", &self.completed),
            (
                "failed with a part in flight (not sent twice)",
                &self.failed_in_flight,
            ),
            ("duplicates removed", &self.duplicates_removed),
        ] {
            if !list.is_empty() {
                parts.push(format!("{what}: {}", ids(list)));
            }
        }
        if self.temporaries_removed > 0 {
            parts.push(format!(
                "{} temporary files removed",
                self.temporaries_removed
            ));
        }
        if !self.damaged.is_empty() {
            let names: Vec<String> = self
                .damaged
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            parts.push(format!("damaged records set aside: {}", names.join(", ")));
        }
        if parts.is_empty() {
            f.write_str("nothing to do")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

/// How much the queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Waiting (queued or sending) messages at most.
    pub max_active: usize,
    /// Finished records kept at most.
    pub keep_finished: usize,
    /// Finished records older than this are pruned.
    pub keep_finished_for: Duration,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            max_active: DEFAULT_MAX_ACTIVE,
            keep_finished: DEFAULT_KEEP_FINISHED,
            keep_finished_for: DEFAULT_KEEP_FINISHED_FOR,
        }
    }
}

type Notify = Arc<dyn Fn() + Send + Sync>;

/// The queue folder. Cheap to clone; clones share the folder and the enqueue notice.
///
/// Any number of threads may [`enqueue`](Self::enqueue) and [`get`](Self::get); only the
/// bot's port writer claims and reports (the single writer the port has anyway).
#[derive(Clone)]
pub struct SmsQueue {
    inner: Arc<Inner>,
}

struct Inner {
    active: PathBuf,
    done: PathBuf,
    sequence: AtomicU64,
    finished: AtomicU64,
    limits: QueueLimits,
    // Serialises the count-then-create of enqueue, so concurrent API workers cannot both
    // pass the limit check with one slot left.
    enqueue_lock: Mutex<()>,
    on_enqueue: Mutex<Option<Notify>>,
}

impl std::fmt::Debug for SmsQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsQueue")
            .field("active", &self.inner.active)
            .field("done", &self.inner.done)
            .finish_non_exhaustive()
    }
}

impl SmsQueue {
    /// Opens (creating if needed) the queue at `dir`. Changes nothing in the records:
    /// crash recovery is [`recover`](Self::recover), the writer's job.
    pub fn open(dir: &Path) -> Result<Self, QueueError> {
        Self::open_with_limits(dir, QueueLimits::default())
    }

    /// As [`open`](Self::open), with other limits.
    pub fn open_with_limits(dir: &Path, limits: QueueLimits) -> Result<Self, QueueError> {
        let active = dir.join(ACTIVE);
        let done = dir.join(DONE);
        // Records hold texts and numbers: the bot's user alone reads them.
        for path in [dir, &active, &done] {
            create_private_dir_all(path).map_err(|source| QueueError::CreateDir {
                path: path.to_owned(),
                source,
            })?;
        }
        let mut fixed = make_private(dir)
            .map(|changed| {
                if changed {
                    vec![dir.to_owned()]
                } else {
                    Vec::new()
                }
            })
            .map_err(|source| QueueError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        for path in [&active, &done] {
            fixed.extend(
                make_folder_private(path).map_err(|source| QueueError::ReadDir {
                    path: path.to_owned(),
                    source,
                })?,
            );
        }
        if !fixed.is_empty() {
            log::warn!(
                "SMS queue {}: {} files and folders other users could read are now readable \
                 by the bot's user only (files 0600, folders 0700): {}",
                dir.display(),
                fixed.len(),
                fixed
                    .iter()
                    .take(5)
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if fixed.len() > 5 { ", ..." } else { "" }
            );
        }
        // The folders themselves must survive a power loss before the first enqueue
        // trusts them.
        sync_dir(dir)?;
        let now = now_ms();
        Ok(Self {
            inner: Arc::new(Inner {
                active,
                done,
                // Seeded by the clock so that concatenation references differ from the
                // last run's even without a stored counter.
                sequence: AtomicU64::new(now),
                finished: AtomicU64::new(0),
                limits,
                enqueue_lock: Mutex::new(()),
                on_enqueue: Mutex::new(None),
            }),
        })
    }

    /// Calls `notify` after every successful enqueue (the writer wakes on it instead of
    /// polling the folder). Replaces an earlier notice.
    pub fn set_on_enqueue(&self, notify: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut slot) = self.inner.on_enqueue.lock() {
            *slot = Some(Arc::new(notify));
        }
    }

    /// Stores `sms` durably and returns its id. When this returns `Ok`, the record and
    /// the folder entry are on disk (fsynced).
    pub fn enqueue(&self, sms: &ValidatedSms) -> Result<SmsId, QueueError> {
        // A poisoned lock guards nothing but the count: carry on.
        let _serial = self
            .inner
            .enqueue_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let waiting = list_records(&self.inner.active)?.len();
        if waiting >= self.inner.limits.max_active {
            return Err(QueueError::Full {
                limit: self.inner.limits.max_active,
            });
        }
        let created_ms = now_ms();
        let sequence = self.inner.sequence.fetch_add(1, Ordering::Relaxed);
        let id = SmsId(format!(
            "{created_ms:013}-{}-{:04x}",
            std::process::id(),
            sequence & 0xFFFF
        ));
        let record = SmsRecord {
            id: id.clone(),
            to: sms.to.clone(),
            text: sms.text.clone(),
            encoding: sms.encoding,
            parts: sms.parts,
            delivery: sms.delivery,
            report: sms.report,
            concat_reference: (sequence & 0xFF) as u8,
            state: SmsState::Queued,
            attempts: 0,
            created_ms,
            updated_ms: created_ms,
            next_attempt_ms: None,
            message_references: Vec::new(),
            in_flight_part: None,
            error: None,
        };
        let path = self.active_path(&id);
        // Put in place only if the name is free, so an id can never overwrite another
        // message (ids include the pid and a counter; this makes it a guarantee).
        match durable::create_file(&path, &to_json(&path, &record)?, RECORD_FILE) {
            Ok(()) => {}
            Err(e) if e.step == Step::SyncFolder => {
                // Not durable, so not accepted: take it back, so that the caller's retry
                // is the only copy.
                if let Err(undo) = fs::remove_file(&path) {
                    log::error!("SMS queue: cannot take back {}: {undo}", path.display());
                }
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
        let notify = self
            .inner
            .on_enqueue
            .lock()
            .ok()
            .and_then(|slot| slot.clone());
        if let Some(notify) = notify {
            notify();
        }
        Ok(id)
    }

    /// The message `id`, wherever it is; `None` when unknown (or pruned).
    pub fn get(&self, id: &SmsId) -> Result<Option<SmsRecord>, QueueError> {
        // done/ first: a message moving from active/ to done/ is briefly in both.
        for path in [self.done_path(id), self.active_path(id)] {
            match read_record(&path) {
                Ok(record) => return Ok(Some(record)),
                Err(QueueError::Read { source, .. })
                    if source.kind() == io::ErrorKind::NotFound => {}
                Err(other) => return Err(other),
            }
        }
        Ok(None)
    }

    /// How many messages are queued or sending: a listing of the folder, no record read
    /// (`GET /metrics` asks on every scrape).
    pub fn depth(&self) -> Result<usize, QueueError> {
        Ok(list_records(&self.inner.active)?.len())
    }

    /// Every queued or sending message, oldest first (damaged records are skipped).
    pub fn active(&self) -> Result<Vec<SmsRecord>, QueueError> {
        let mut records: Vec<SmsRecord> = list_records(&self.inner.active)?
            .into_iter()
            .filter_map(|path| read_record(&path).ok())
            .collect();
        records.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(records)
    }

    /// Repairs what a crash left (see the module documentation). The writer calls this
    /// once, when it owns the port and before its first claim; nobody else may, since a
    /// message in flight looks exactly like one a crash interrupted.
    pub fn recover(&self) -> Result<RecoveryReport, QueueError> {
        let mut report = RecoveryReport::default();
        {
            // An enqueue of the API (which runs while the bot starts) has its temporary
            // file between write and link: hold enqueues off while temporaries go.
            let _serial = self
                .inner
                .enqueue_lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for dir in [&self.inner.active, &self.inner.done] {
                report.temporaries_removed += remove_temporaries(dir)?;
            }
        }
        for path in list_records(&self.inner.active)? {
            let record = match read_record(&path) {
                Ok(record) => record,
                Err(QueueError::Corrupt { .. }) => {
                    set_aside(&path)?;
                    report.damaged.push(path);
                    continue;
                }
                Err(other) => return Err(other),
            };
            if self.done_path(&record.id).exists() {
                remove_record(&path)?;
                report.duplicates_removed.push(record.id);
                continue;
            }
            match (record.state, record.in_flight_part) {
                (SmsState::Queued, _) => {}
                // Every part has its reference: the crash came just before `mark_sent`.
                (SmsState::Sending, None) if record.next_part().is_none() => {
                    let id = record.id.clone();
                    self.finish(record, SmsState::Sent)?;
                    report.completed.push(id);
                }
                (SmsState::Sending, None) => {
                    let mut record = record;
                    record.state = SmsState::Queued;
                    record.updated_ms = now_ms();
                    self.store_active(&record)?;
                    report.requeued.push(record.id);
                }
                (SmsState::Sending, Some(part)) => {
                    let mut record = record;
                    record.error = Some(format!(
                        "the bot stopped while part {} of {} was with the modem; it may have \
                         been sent, so it is not sent again",
                        u16::from(part) + 1,
                        record.parts
                    ));
                    let id = record.id.clone();
                    self.finish(record, SmsState::Failed)?;
                    report.failed_in_flight.push(id);
                }
                // A finished record in active/ means the crash came after writing it but
                // before moving it: move it now.
                (SmsState::Sent | SmsState::Failed, _) => {
                    let state = record.state;
                    let id = record.id.clone();
                    self.finish(record, state)?;
                    report.duplicates_removed.push(id);
                }
            }
        }
        sync_dir(&self.inner.active)?;
        self.prune(SystemTime::now())?;
        Ok(report)
    }

    /// Takes the oldest queued message that is due at `now` and marks it `sending`.
    pub fn claim_next(&self, now: SystemTime) -> Result<Claim, QueueError> {
        let now = to_ms(now);
        let mut due: Option<SmsRecord> = None;
        let mut next_at: Option<u64> = None;
        for path in list_records(&self.inner.active)? {
            let record = match read_record(&path) {
                Ok(record) => record,
                Err(QueueError::Corrupt { source, .. }) => {
                    log::error!(
                        "SMS queue record {} is damaged ({source}); setting it aside",
                        path.display()
                    );
                    set_aside(&path)?;
                    continue;
                }
                // A record that vanished since the listing (moved to done/) is not due.
                Err(QueueError::Read { source, .. })
                    if source.kind() == io::ErrorKind::NotFound =>
                {
                    continue;
                }
                Err(other) => return Err(other),
            };
            if record.state != SmsState::Queued {
                continue;
            }
            match record.next_attempt_ms {
                Some(at) if at > now => {
                    next_at = Some(next_at.map_or(at, |n| n.min(at)));
                }
                _ => {
                    let older = due
                        .as_ref()
                        .is_none_or(|d| (record.created_ms, &record.id) < (d.created_ms, &d.id));
                    if older {
                        due = Some(record);
                    }
                }
            }
        }
        let Some(mut record) = due else {
            return Ok(match next_at {
                Some(at) => Claim::NextAt(UNIX_EPOCH + Duration::from_millis(at)),
                None => Claim::Empty,
            });
        };
        record.state = SmsState::Sending;
        record.attempts = record.attempts.saturating_add(1);
        record.next_attempt_ms = None;
        record.updated_ms = now_ms();
        self.store_active(&record)?;
        Ok(Claim::Ready(ClaimedSms { record }))
    }

    /// Records, durably, that part `index` is about to be handed to the modem. Call it
    /// right before `AT+CMGS`; `index` must be [`ClaimedSms::next_part`].
    pub fn begin_part(&self, claim: &mut ClaimedSms, index: u8) -> Result<(), QueueError> {
        self.check_next(claim, index)?;
        claim.record.in_flight_part = Some(index);
        claim.record.updated_ms = now_ms();
        self.store_active(&claim.record)
    }

    /// Records, durably, the modem's message reference for part `index`.
    pub fn part_sent(
        &self,
        claim: &mut ClaimedSms,
        index: u8,
        reference: u8,
    ) -> Result<(), QueueError> {
        self.check_next(claim, index)?;
        claim.record.message_references.push(reference);
        claim.record.in_flight_part = None;
        claim.record.updated_ms = now_ms();
        self.store_active(&claim.record)
    }

    /// Every part was sent: the message becomes `sent`.
    pub fn mark_sent(&self, claim: ClaimedSms) -> Result<SmsRecord, QueueError> {
        let record = claim.record;
        if record.next_part().is_some() {
            return Err(QueueError::Incomplete {
                sent: record.message_references.len(),
                parts: record.parts,
                id: record.id,
            });
        }
        let mut record = record;
        record.error = None;
        self.finish(record.clone(), SmsState::Sent)?;
        record.state = SmsState::Sent;
        Ok(record)
    }

    /// The modem refused the message (its error, e.g. `+CMS ERROR: 500`), so nothing of
    /// the part in flight was sent: queue it again, due at `at`. Parts already sent stay
    /// sent. Only for definite refusals: an unknown outcome is [`mark_failed`](Self::mark_failed).
    pub fn retry_later(
        &self,
        claim: ClaimedSms,
        error: &str,
        at: SystemTime,
    ) -> Result<(), QueueError> {
        let mut record = claim.record;
        record.state = SmsState::Queued;
        record.in_flight_part = None;
        record.next_attempt_ms = Some(to_ms(at));
        record.error = Some(error.to_owned());
        record.updated_ms = now_ms();
        self.store_active(&record)
    }

    /// Gives the message up with `error` (the modem's last error, or why). A part in
    /// flight stays recorded as the one whose fate is unknown.
    pub fn mark_failed(&self, claim: ClaimedSms, error: &str) -> Result<SmsRecord, QueueError> {
        let mut record = claim.record;
        record.error = Some(error.to_owned());
        self.finish(record.clone(), SmsState::Failed)?;
        record.state = SmsState::Failed;
        Ok(record)
    }

    /// Gives a claimed message back untouched (the writer stops before sending it, e.g.
    /// the port went away): it is `queued` again, due at once, and its attempt is not
    /// counted. Refused while a part is in flight: that outcome is not known.
    pub fn unclaim(&self, claim: ClaimedSms) -> Result<(), QueueError> {
        let mut record = claim.record;
        if record.in_flight_part.is_some() {
            return self
                .mark_failed(
                    ClaimedSms { record },
                    "the writer stopped while a part was with the modem; it may have been sent, \
                 so it is not sent again",
                )
                .map(|_| ());
        }
        record.state = SmsState::Queued;
        record.attempts = record.attempts.saturating_sub(1);
        record.updated_ms = now_ms();
        self.store_active(&record)
    }

    /// Removes finished records beyond the retention (count and age).
    pub fn prune(&self, now: SystemTime) -> Result<usize, QueueError> {
        let mut finished: Vec<(u64, PathBuf)> = Vec::new();
        for path in list_records(&self.inner.done)? {
            match read_record(&path) {
                Ok(record) => finished.push((record.updated_ms, path)),
                // A damaged finished record helps nobody; it goes first.
                Err(QueueError::Corrupt { .. }) => finished.push((0, path)),
                Err(QueueError::Read { source, .. })
                    if source.kind() == io::ErrorKind::NotFound => {}
                Err(other) => return Err(other),
            }
        }
        finished.sort();
        let cutoff = to_ms(now).saturating_sub(
            u64::try_from(self.inner.limits.keep_finished_for.as_millis()).unwrap_or(u64::MAX),
        );
        let excess = finished
            .len()
            .saturating_sub(self.inner.limits.keep_finished);
        let mut removed = 0;
        for (index, (updated, path)) in finished.iter().enumerate() {
            if index < excess || *updated < cutoff {
                remove_record(path)?;
                removed += 1;
            }
        }
        if removed > 0 {
            sync_dir(&self.inner.done)?;
        }
        Ok(removed)
    }

    fn check_next(&self, claim: &ClaimedSms, index: u8) -> Result<(), QueueError> {
        match claim.record.next_part() {
            Some(expected) if expected == index => Ok(()),
            expected => Err(QueueError::PartOrder {
                id: claim.record.id.clone(),
                index,
                expected: expected.unwrap_or(claim.record.parts),
            }),
        }
    }

    /// Writes the finished record to done/ and only then removes it from active/, so a
    /// crash in between leaves it in both (recover keeps done/'s).
    fn finish(&self, mut record: SmsRecord, state: SmsState) -> Result<(), QueueError> {
        record.state = state;
        record.next_attempt_ms = None;
        record.updated_ms = now_ms();
        let done = self.done_path(&record.id);
        replace_record(&done, &record)?;
        let active = self.active_path(&record.id);
        match fs::remove_file(&active) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(QueueError::Write {
                    path: active,
                    source,
                });
            }
        }
        sync_dir(&self.inner.active)?;
        if self.inner.finished.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune(SystemTime::now())?;
        }
        Ok(())
    }

    fn store_active(&self, record: &SmsRecord) -> Result<(), QueueError> {
        replace_record(&self.active_path(&record.id), record)
    }

    fn active_path(&self, id: &SmsId) -> PathBuf {
        self.inner.active.join(format!("{id}{RECORD_SUFFIX}"))
    }

    fn done_path(&self, id: &SmsId) -> PathBuf {
        self.inner.done.join(format!("{id}{RECORD_SUFFIX}"))
    }
}

fn now_ms() -> u64 {
    to_ms(SystemTime::now())
}

fn to_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// How a record file is created: it holds a text and a number, for the bot's user alone.
const RECORD_FILE: NewFile = NewFile::mode(PRIVATE_FILE_MODE);

fn to_json(path: &Path, record: &SmsRecord) -> Result<Vec<u8>, QueueError> {
    serde_json::to_vec_pretty(record).map_err(|e| QueueError::Write {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, e),
    })
}

/// Replaces `path` with `record` durably (temporary file, fsync, rename, fsync of the
/// folder).
fn replace_record(path: &Path, record: &SmsRecord) -> Result<(), QueueError> {
    Ok(durable::replace_file(
        path,
        &to_json(path, record)?,
        RECORD_FILE,
    )?)
}

fn read_record(path: &Path) -> Result<SmsRecord, QueueError> {
    let bytes = fs::read(path).map_err(|source| QueueError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| QueueError::Corrupt {
        path: path.to_owned(),
        source,
    })
}

fn remove_record(path: &Path) -> Result<(), QueueError> {
    fs::remove_file(path).map_err(|source| QueueError::Write {
        path: path.to_owned(),
        source,
    })
}

fn set_aside(path: &Path) -> Result<(), QueueError> {
    let mut damaged = path.as_os_str().to_owned();
    damaged.push(".damaged");
    fs::rename(path, &damaged).map_err(|source| QueueError::Write {
        path: path.to_owned(),
        source,
    })
}

/// The record files of a folder (not temporaries, not set-aside ones).
fn list_records(dir: &Path) -> Result<Vec<PathBuf>, QueueError> {
    let read_error = |source| QueueError::ReadDir {
        path: dir.to_owned(),
        source,
    };
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(RECORD_SUFFIX) {
            continue;
        }
        paths.push(entry.path());
    }
    Ok(paths)
}

/// Removes the temporary files a crash left in `dir` (an enqueue that never returned its
/// id, an update that never replaced its record).
fn remove_temporaries(dir: &Path) -> Result<usize, QueueError> {
    Ok(Dir::open(dir)?
        .remove_leftovers(durable::is_temporary)?
        .len())
}

/// fsyncs a folder, so that a created, renamed or removed entry survives a power loss.
fn sync_dir(dir: &Path) -> Result<(), QueueError> {
    Ok(Dir::open(dir)?.sync()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use modem_core::pdu::{ConcatReference, Submit};
    use std::fs::File;
    use std::io::Write;

    fn queue() -> (tempfile::TempDir, SmsQueue) {
        let dir = tempfile::tempdir().unwrap();
        let queue = SmsQueue::open(dir.path()).unwrap();
        (dir, queue)
    }

    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn records_and_their_folders_are_readable_by_the_bots_user_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("queue");
        let queue = SmsQueue::open(&root).unwrap();
        let id = queue.enqueue(&sms("+491701234567", "private")).unwrap();
        let record = root.join(ACTIVE).join(format!("{id}{RECORD_SUFFIX}"));
        assert_eq!(mode(&record), 0o600);
        for d in [&root, &root.join(ACTIVE), &root.join(DONE)] {
            assert_eq!(mode(d), 0o700, "{}", d.display());
        }
        // What an older version left readable is fixed when the queue opens.
        fs::set_permissions(&record, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(root.join(ACTIVE), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        drop(queue);
        SmsQueue::open(&root).unwrap();
        assert_eq!(
            (mode(&record), mode(&root.join(ACTIVE)), mode(&root)),
            (0o600, 0o700, 0o700)
        );
    }

    /// A 64 KiB tmpfs mounted over a temporary folder, unmounted when dropped.
    struct TinyDisk {
        dir: tempfile::TempDir,
    }

    impl TinyDisk {
        fn mount() -> TinyDisk {
            assert!(
                nix::unistd::geteuid().is_root(),
                "this test mounts a 64 KiB tmpfs to have a full disk: run it as root"
            );
            let dir = tempfile::tempdir().unwrap();
            let out = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
                .arg(dir.path())
                .output()
                .expect("this test needs mount(8) (util-linux)");
            assert!(out.status.success(), "mount: {out:?}");
            TinyDisk { dir }
        }
    }

    impl Drop for TinyDisk {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg(self.dir.path())
                .status();
        }
    }

    #[test]
    fn a_message_refused_on_a_full_disk_leaves_no_temporary_file() {
        let disk = TinyDisk::mount();
        let root = disk.dir.path().join("queue");
        let queue = SmsQueue::open(&root).unwrap();
        // Fill the disk to its last byte.
        let mut filler = File::create(disk.dir.path().join("filler")).unwrap();
        let block = vec![0u8; 4096];
        while filler.write_all(&block).is_ok() {}
        while filler.write_all(&block[..1]).is_ok() {}
        let err = queue
            .enqueue(&sms("+491701234567", &"x".repeat(1000)))
            .unwrap_err();
        assert!(
            matches!(&err, QueueError::Durable(e) if e.raw_os_error() == Some(nix::libc::ENOSPC)),
            "{err}"
        );
        let left: Vec<_> = fs::read_dir(root.join(ACTIVE))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    fn sms(to: &str, text: &str) -> ValidatedSms {
        ValidatedSms::new(to, text, SmsPolicy::default()).unwrap()
    }

    fn ready(claim: Claim) -> ClaimedSms {
        match claim {
            Claim::Ready(claimed) => claimed,
            other => panic!("expected a message to send, got {other:?}"),
        }
    }

    /// Sends every remaining part with references 10, 11, ... and marks it sent.
    fn send_all(queue: &SmsQueue, mut claim: ClaimedSms) -> SmsRecord {
        while let Some(part) = claim.next_part() {
            queue.begin_part(&mut claim, part).unwrap();
            queue.part_sent(&mut claim, part, 10 + part).unwrap();
        }
        queue.mark_sent(claim).unwrap()
    }

    #[test]
    fn an_accepted_message_is_on_disk_as_queued_before_its_id_is_returned() {
        let (dir, queue) = queue();
        let id = queue.enqueue(&sms("+491721234567", "Hello")).unwrap();
        let path = dir.path().join("active").join(format!("{id}.json"));
        let on_disk: SmsRecord = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
        assert_eq!(on_disk.state, SmsState::Queued);
        assert_eq!(on_disk.to, "+491721234567");
        assert_eq!(on_disk.text, "Hello");
        assert_eq!((on_disk.encoding, on_disk.parts), (SmsEncoding::Gsm7, 1));
        assert_eq!(queue.get(&id).unwrap(), Some(on_disk));
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("active"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(durable::TEMP_SUFFIX))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn depth_counts_queued_and_sending_but_not_finished_messages() {
        let (_dir, queue) = queue();
        assert_eq!(queue.depth().unwrap(), 0);
        queue.enqueue(&sms("+491721234567", "one")).unwrap();
        queue.enqueue(&sms("+491721234567", "two")).unwrap();
        assert_eq!(queue.depth().unwrap(), 2);
        let claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        assert_eq!(queue.depth().unwrap(), 2, "sending still counts");
        queue.mark_failed(claim, "test").unwrap();
        assert_eq!(queue.depth().unwrap(), 1);
    }

    #[test]
    fn validation_names_the_field_and_the_problem() {
        let policy = SmsPolicy::default();
        let cases = [
            ("", "hi", "to", "empty"),
            ("+", "hi", "to", "empty"),
            ("+49 172", "hi", "to", "' '"),
            ("abc", "hi", "to", "'a'"),
            ("+123456789012345678901", "hi", "to", "21 digits"),
            ("+491721234567", "", "text", "empty"),
            ("+491721234567", &"x".repeat(1531), "text", "11 SMS parts"),
            ("+491721234567", &"Ж".repeat(671), "text", "11 SMS parts"),
        ];
        for (to, text, field, words) in cases {
            let rejection = ValidatedSms::new(to, text, policy).unwrap_err();
            assert_eq!(rejection.field(), field, "{to:?}");
            assert!(
                rejection.to_string().contains(words),
                "{to:?}: {rejection} should mention {words}"
            );
        }
        let big = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            ValidatedSms::new("+49", &big, policy).unwrap_err(),
            SmsRejection::TextTooLarge {
                bytes: MAX_TEXT_BYTES + 1,
                max: MAX_TEXT_BYTES
            }
        );
    }

    #[test]
    fn the_plan_gives_encoding_and_parts_before_anything_is_sent() {
        let policy = SmsPolicy::default();
        let ascii = ValidatedSms::new("+4917", &"a".repeat(400), policy).unwrap();
        assert_eq!((ascii.encoding(), ascii.parts()), (SmsEncoding::Gsm7, 3));
        let emoji = ValidatedSms::new("+4917", "Party 🎉", policy).unwrap();
        assert_eq!((emoji.encoding(), emoji.parts()), (SmsEncoding::Ucs2, 1));
        let limit_one = SmsPolicy {
            max_parts: 1,
            ..policy
        };
        assert!(ValidatedSms::new("+4917", &"a".repeat(161), limit_one).is_err());
    }

    #[test]
    fn a_three_part_message_is_sent_part_by_part_and_ends_sent_with_its_references() {
        let (_dir, queue) = queue();
        let text = "a".repeat(400);
        let id = queue.enqueue(&sms("+491721234567", &text)).unwrap();
        let claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        assert_eq!(queue.get(&id).unwrap().unwrap().state, SmsState::Sending);
        let mut seen = String::new();
        for part in 0..3 {
            let pdu = claim.encode_part(part).unwrap();
            let submit = Submit::from_cmgs(&pdu.hex, pdu.tpdu_length.into()).unwrap();
            let concat = submit.concatenation.unwrap();
            assert_eq!((concat.total, concat.sequence), (3, part + 1));
            assert_eq!(
                concat.reference,
                ConcatReference::Eight(claim.record().concat_reference)
            );
            seen.push_str(submit.body.text().unwrap());
        }
        assert_eq!(seen, text);
        let sent = send_all(&queue, claim);
        assert_eq!(sent.message_references, vec![10, 11, 12]);
        let stored = queue.get(&id).unwrap().unwrap();
        assert_eq!(stored.state, SmsState::Sent);
        assert_eq!(stored.message_references, vec![10, 11, 12]);
        assert!(queue.active().unwrap().is_empty());
        assert!(matches!(
            queue.claim_next(SystemTime::now()).unwrap(),
            Claim::Empty
        ));
    }

    #[test]
    fn separate_messages_go_without_a_concatenation_header_and_keep_ucs2() {
        let (_dir, queue) = queue();
        let policy = SmsPolicy {
            delivery: Delivery::SeparateMessages,
            ..SmsPolicy::default()
        };
        // 100 Cyrillic letters then ASCII: the second part alone would fit GSM 7-bit, but
        // the message is UCS-2, and each part says so.
        let text = format!("{}{}", "Ж".repeat(100), "b".repeat(30));
        let validated = ValidatedSms::new("+79161234567", &text, policy).unwrap();
        assert_eq!(
            (validated.encoding(), validated.parts()),
            (SmsEncoding::Ucs2, 2)
        );
        queue.enqueue(&validated).unwrap();
        let claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        let mut seen = String::new();
        for part in 0..2 {
            let pdu = claim.encode_part(part).unwrap();
            let submit = Submit::from_cmgs(&pdu.hex, pdu.tpdu_length.into()).unwrap();
            assert_eq!(submit.concatenation, None);
            assert_eq!(submit.data_coding.alphabet, modem_core::pdu::Alphabet::Ucs2);
            seen.push_str(submit.body.text().unwrap());
        }
        assert_eq!(seen, text);
    }

    #[test]
    fn messages_are_claimed_oldest_first() {
        let (_dir, queue) = queue();
        let first = queue.enqueue(&sms("+1", "first")).unwrap();
        let second = queue.enqueue(&sms("+2", "second")).unwrap();
        let claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        assert_eq!(claim.record().id, first);
        send_all(&queue, claim);
        let claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        assert_eq!(claim.record().id, second);
    }

    #[test]
    fn a_refused_message_waits_for_its_retry_time_and_keeps_its_sent_parts() {
        let (_dir, queue) = queue();
        let id = queue
            .enqueue(&sms("+491721234567", &"a".repeat(200)))
            .unwrap();
        let mut claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        queue.begin_part(&mut claim, 0).unwrap();
        queue.part_sent(&mut claim, 0, 41).unwrap();
        queue.begin_part(&mut claim, 1).unwrap();
        let retry_at = SystemTime::now() + Duration::from_secs(30);
        queue
            .retry_later(claim, "+CMS ERROR: 500", retry_at)
            .unwrap();

        let stored = queue.get(&id).unwrap().unwrap();
        assert_eq!(stored.state, SmsState::Queued);
        assert_eq!(stored.error.as_deref(), Some("+CMS ERROR: 500"));
        assert_eq!(stored.in_flight_part, None);
        match queue.claim_next(SystemTime::now()).unwrap() {
            Claim::NextAt(at) => assert_eq!(to_ms(at), to_ms(retry_at)),
            other => panic!("nothing is due yet, got {other:?}"),
        }
        let claim = ready(queue.claim_next(retry_at).unwrap());
        assert_eq!(claim.record().attempts, 2);
        assert_eq!(claim.next_part(), Some(1), "part 0 is not sent again");
        let mut claim = claim;
        queue.begin_part(&mut claim, 1).unwrap();
        queue.part_sent(&mut claim, 1, 42).unwrap();
        let sent = queue.mark_sent(claim).unwrap();
        assert_eq!(sent.message_references, vec![41, 42]);
        assert_eq!(sent.error, None);
    }

    #[test]
    fn a_message_given_up_is_failed_with_the_modems_error() {
        let (_dir, queue) = queue();
        let id = queue.enqueue(&sms("+491721234567", "x")).unwrap();
        let claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        queue.mark_failed(claim, "+CMS ERROR: 38").unwrap();
        let stored = queue.get(&id).unwrap().unwrap();
        assert_eq!(stored.state, SmsState::Failed);
        assert_eq!(stored.error.as_deref(), Some("+CMS ERROR: 38"));
        assert!(matches!(
            queue.claim_next(SystemTime::now()).unwrap(),
            Claim::Empty
        ));
    }

    #[test]
    fn parts_reported_out_of_order_and_early_sent_marks_are_refused() {
        let (_dir, queue) = queue();
        queue
            .enqueue(&sms("+491721234567", &"a".repeat(200)))
            .unwrap();
        let mut claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        assert!(matches!(
            queue.begin_part(&mut claim, 1),
            Err(QueueError::PartOrder {
                index: 1,
                expected: 0,
                ..
            })
        ));
        queue.begin_part(&mut claim, 0).unwrap();
        queue.part_sent(&mut claim, 0, 1).unwrap();
        let error = queue.mark_sent(claim).unwrap_err();
        assert_eq!(
            error.to_string().split(" marked").nth(1),
            Some(" sent after 1 of its 2 parts")
        );
    }

    #[test]
    fn a_crash_between_parts_resumes_at_the_first_unsent_part() {
        let (dir, queue) = queue();
        let id = queue
            .enqueue(&sms("+491721234567", &"a".repeat(400)))
            .unwrap();
        let mut claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        queue.begin_part(&mut claim, 0).unwrap();
        queue.part_sent(&mut claim, 0, 7).unwrap();
        drop((claim, queue)); // kill -9: nothing more is written

        let queue = SmsQueue::open(dir.path()).unwrap();
        let report = queue.recover().unwrap();
        assert_eq!(report.requeued, vec![id.clone()]);
        let claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        assert_eq!(claim.next_part(), Some(1));
        let sent = send_all(&queue, claim);
        assert_eq!(sent.message_references, vec![7, 11, 12]);
    }

    #[test]
    fn a_crash_after_the_last_reference_but_before_mark_sent_ends_the_message_sent() {
        let (dir, queue) = queue();
        let id = queue.enqueue(&sms("+491721234567", "x")).unwrap();
        let mut claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        queue.begin_part(&mut claim, 0).unwrap();
        queue.part_sent(&mut claim, 0, 9).unwrap();
        drop((claim, queue));

        let queue = SmsQueue::open(dir.path()).unwrap();
        assert_eq!(queue.recover().unwrap().completed, vec![id.clone()]);
        let stored = queue.get(&id).unwrap().unwrap();
        assert_eq!(stored.state, SmsState::Sent);
        assert_eq!(stored.message_references, vec![9]);
        assert!(matches!(
            queue.claim_next(SystemTime::now()).unwrap(),
            Claim::Empty
        ));
    }

    #[test]
    fn a_crash_with_a_part_in_flight_fails_the_message_instead_of_sending_it_twice() {
        let (dir, queue) = queue();
        let id = queue.enqueue(&sms("+491721234567", "alarm")).unwrap();
        let mut claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        queue.begin_part(&mut claim, 0).unwrap();
        drop((claim, queue));

        let queue = SmsQueue::open(dir.path()).unwrap();
        let report = queue.recover().unwrap();
        assert_eq!(report.failed_in_flight, vec![id.clone()]);
        let stored = queue.get(&id).unwrap().unwrap();
        assert_eq!(stored.state, SmsState::Failed);
        assert_eq!(stored.in_flight_part, Some(0));
        assert!(
            stored
                .error
                .as_deref()
                .unwrap()
                .contains("may have been sent"),
            "{:?}",
            stored.error
        );
        assert!(matches!(
            queue.claim_next(SystemTime::now()).unwrap(),
            Claim::Empty
        ));
    }

    #[test]
    fn a_queued_message_survives_a_crash_untouched_and_is_sent_once() {
        let (dir, queue) = queue();
        let id = queue.enqueue(&sms("+491721234567", "still here")).unwrap();
        drop(queue);
        let queue = SmsQueue::open(dir.path()).unwrap();
        assert_eq!(queue.recover().unwrap(), RecoveryReport::default());
        let claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        assert_eq!(claim.record().id, id);
        send_all(&queue, claim);
        assert!(matches!(
            queue.claim_next(SystemTime::now()).unwrap(),
            Claim::Empty
        ));
    }

    #[test]
    fn recovery_prefers_the_finished_copy_and_removes_temporaries() {
        let (dir, queue) = queue();
        let id = queue.enqueue(&sms("+491721234567", "x")).unwrap();
        let claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        let active_copy = fs::read(queue.active_path(&id)).unwrap();
        send_all(&queue, claim);
        // The crash came after done/ was written and before active/ was cleaned.
        fs::write(queue.active_path(&id), active_copy).unwrap();
        fs::write(dir.path().join("active/.123-1-0001.json.tmp"), b"{half").unwrap();

        let report = queue.recover().unwrap();
        assert_eq!(report.duplicates_removed, vec![id.clone()]);
        assert_eq!(report.temporaries_removed, 1);
        assert_eq!(queue.get(&id).unwrap().unwrap().state, SmsState::Sent);
        assert!(matches!(
            queue.claim_next(SystemTime::now()).unwrap(),
            Claim::Empty
        ));
    }

    #[test]
    fn a_damaged_record_is_set_aside_and_does_not_block_the_others() {
        let (dir, queue) = queue();
        fs::write(dir.path().join("active/1-1-1.json"), b"not json").unwrap();
        let id = queue.enqueue(&sms("+491721234567", "x")).unwrap();
        let claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        assert_eq!(claim.record().id, id);
        assert!(dir.path().join("active/1-1-1.json.damaged").exists());
    }

    #[test]
    fn an_unclaimed_message_is_queued_again_without_counting_an_attempt() {
        let (_dir, queue) = queue();
        let id = queue.enqueue(&sms("+491721234567", "x")).unwrap();
        let claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        queue.unclaim(claim).unwrap();
        let stored = queue.get(&id).unwrap().unwrap();
        assert_eq!((stored.state, stored.attempts), (SmsState::Queued, 0));
    }

    #[test]
    fn finished_records_beyond_the_retention_are_pruned_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let limits = QueueLimits {
            keep_finished: 2,
            keep_finished_for: Duration::from_secs(3600),
            ..QueueLimits::default()
        };
        let queue = SmsQueue::open_with_limits(dir.path(), limits).unwrap();
        let ids: Vec<SmsId> = (0..3)
            .map(|n| {
                let id = queue.enqueue(&sms("+1", &format!("m{n}"))).unwrap();
                let claim = ready(queue.claim_next(SystemTime::now()).unwrap());
                send_all(&queue, claim);
                std::thread::sleep(Duration::from_millis(2));
                id
            })
            .collect();
        assert_eq!(queue.prune(SystemTime::now()).unwrap(), 1);
        assert_eq!(queue.get(&ids[0]).unwrap(), None);
        assert!(queue.get(&ids[2]).unwrap().is_some());
        let later = SystemTime::now() + Duration::from_secs(7200);
        assert_eq!(queue.prune(later).unwrap(), 2);
    }

    #[test]
    fn a_full_queue_refuses_more_until_the_writer_has_sent_some() {
        let dir = tempfile::tempdir().unwrap();
        let limits = QueueLimits {
            max_active: 2,
            ..QueueLimits::default()
        };
        let queue = SmsQueue::open_with_limits(dir.path(), limits).unwrap();
        queue.enqueue(&sms("+1", "a")).unwrap();
        queue.enqueue(&sms("+1", "b")).unwrap();
        let error = queue.enqueue(&sms("+1", "c")).unwrap_err();
        assert!(matches!(error, QueueError::Full { limit: 2 }), "{error}");
        let claim = ready(queue.claim_next(SystemTime::now()).unwrap());
        send_all(&queue, claim);
        queue.enqueue(&sms("+1", "c")).unwrap();
    }

    #[test]
    fn the_writer_is_told_about_each_enqueue() {
        let (_dir, queue) = queue();
        let (tx, rx) = std::sync::mpsc::channel();
        queue.set_on_enqueue(move || {
            let _ = tx.send(());
        });
        queue.enqueue(&sms("+1", "a")).unwrap();
        queue.enqueue(&sms("+1", "b")).unwrap();
        assert_eq!(rx.try_iter().count(), 2);
    }

    /// A small deterministic generator (xorshift64*), so the scenario below is the same
    /// on every run and a failure names its seed.
    struct Dice(u64);

    impl Dice {
        fn roll(&mut self, sides: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % sides
        }
    }

    /// Where the writer can be killed: between any two of its steps for one part.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Kill {
        AfterClaim,
        AfterBeginPart,
        AfterTheModemSentIt,
        AfterPartSent,
        Never,
    }

    #[test]
    fn kill_9_at_any_step_of_many_messages_never_loses_one_and_never_sends_a_part_twice() {
        for seed in 1..=12u64 {
            let dir = tempfile::tempdir().unwrap();
            let mut dice = Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            // What the network received: (id, part) -> copies.
            let mut network: std::collections::HashMap<(SmsId, u8), u32> = Default::default();
            let mut accepted: Vec<SmsId> = Vec::new();
            let mut queue = SmsQueue::open(dir.path()).unwrap();
            for round in 0..30 {
                if dice.roll(2) == 0 {
                    let len = [5, 200, 400][dice.roll(3) as usize];
                    let id = queue.enqueue(&sms("+4917", &"m".repeat(len))).unwrap();
                    accepted.push(id);
                }
                let kill = [
                    Kill::AfterClaim,
                    Kill::AfterBeginPart,
                    Kill::AfterTheModemSentIt,
                    Kill::AfterPartSent,
                    Kill::Never,
                    Kill::Never,
                ][dice.roll(6) as usize];
                let Claim::Ready(mut claim) = queue.claim_next(SystemTime::now()).unwrap() else {
                    continue;
                };
                let mut killed = kill == Kill::AfterClaim;
                if claim.next_part().is_none() {
                    queue.mark_sent(claim).unwrap();
                    continue;
                }
                while let (false, Some(part)) = (killed, claim.next_part()) {
                    queue.begin_part(&mut claim, part).unwrap();
                    if kill == Kill::AfterBeginPart && dice.roll(2) == 0 {
                        killed = true;
                        break;
                    }
                    // The modem refuses now and then (a definite failure): retry later.
                    if dice.roll(8) == 0 {
                        queue
                            .retry_later(claim, "+CMS ERROR: 500", SystemTime::now())
                            .unwrap();
                        break;
                    }
                    let id = claim.record().id.clone();
                    *network.entry((id, part)).or_default() += 1;
                    if kill == Kill::AfterTheModemSentIt && dice.roll(2) == 0 {
                        killed = true;
                        break;
                    }
                    queue.part_sent(&mut claim, part, part).unwrap();
                    if kill == Kill::AfterPartSent && dice.roll(2) == 0 {
                        killed = true;
                        break;
                    }
                    if claim.next_part().is_none() {
                        queue.mark_sent(claim).unwrap();
                        break;
                    }
                }
                if killed {
                    // kill -9: nothing more is written; the next bot recovers.
                    queue = SmsQueue::open(dir.path()).unwrap();
                    queue.recover().unwrap();
                }
                let _ = round;
            }
            // The last bot drains everything without being killed.
            while let Claim::Ready(mut claim) = queue.claim_next(SystemTime::now()).unwrap() {
                while let Some(part) = claim.next_part() {
                    queue.begin_part(&mut claim, part).unwrap();
                    *network
                        .entry((claim.record().id.clone(), part))
                        .or_default() += 1;
                    queue.part_sent(&mut claim, part, part).unwrap();
                }
                queue.mark_sent(claim).unwrap();
            }
            assert!(
                network.values().all(|&n| n == 1),
                "seed {seed}: a part went twice"
            );
            for id in &accepted {
                let record = queue
                    .get(id)
                    .unwrap()
                    .unwrap_or_else(|| panic!("seed {seed}: accepted message {id} is lost"));
                let delivered =
                    (0..record.parts).filter(|&p| network.contains_key(&(id.clone(), p)));
                match record.state {
                    SmsState::Sent => assert_eq!(
                        delivered.count(),
                        usize::from(record.parts),
                        "seed {seed}: {record:?}"
                    ),
                    // Only a part whose fate was unknown may end a message as failed.
                    SmsState::Failed => assert!(
                        record.in_flight_part.is_some(),
                        "seed {seed}: failed without an uncertain part: {record:?}"
                    ),
                    other => panic!("seed {seed}: {id} still {other:?}"),
                }
            }
        }
    }

    #[test]
    fn ids_from_outside_cannot_name_another_file() {
        for bad in ["", "../etc/passwd", "a/b", "a.json", &"1".repeat(65), "x y"] {
            assert!(SmsId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SmsId::parse("1764000000000-42-00ff").is_ok());
    }

    #[test]
    fn sms_settings_come_from_toml_and_refuse_what_cannot_work() {
        let settings: SmsSettings =
            toml::from_str("queue_dir = \"/tmp/q\"\nseparate_parts = true").unwrap();
        assert_eq!(settings.policy().delivery, Delivery::SeparateMessages);
        assert_eq!(settings.policy().max_parts, DEFAULT_MAX_PARTS);
        assert!(toml::from_str::<SmsSettings>("separate = true").is_err());
        let zero = SmsSettings {
            max_parts: 0,
            ..SmsSettings::default()
        };
        assert_eq!(zero.validate().unwrap_err().key, "max_parts");
        assert_eq!(SmsSettings::default().validate(), Ok(()));
    }

    #[test]
    fn an_unknown_id_is_none() {
        let (_dir, queue) = queue();
        let id = SmsId::parse("1-2-3").unwrap();
        assert_eq!(queue.get(&id).unwrap(), None);
    }
}
