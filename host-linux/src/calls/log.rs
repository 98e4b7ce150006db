//! The call log: one JSON object per line, one line per call, in a file of bounded size.
//!
//! This module owns the log file and its rotated generations. The bot appends a
//! [`CallRecord`] when a call ends (answered or missed); when the file has grown past
//! [`CallLogSettings::max_bytes`] it becomes `<file>.1` (the older generations shift up to
//! [`CallLogSettings::keep`], the oldest is deleted) before the next line is written, so
//! the disk used is bounded by about `(keep + 1) * max_bytes`. The HTTP API reads the log
//! newest first with [`CallLog::recent`]; a line that does not parse (a torn write after a
//! power cut, an edit by hand) is skipped with a warning rather than hiding every call.
//!
//! The writer is the bot's single thread; readers (the API's threads) may read while it
//! writes, so a reader sees whole lines only: a line is written with one `write` call of
//! the whole line and its newline, and a trailing line without a newline is ignored.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::platform::private_files::{PRIVATE_FILE_MODE, create_private_dir_all, make_private};

/// Default size at which the log file is rotated, in bytes (1 MiB: about 5000 calls).
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024;
/// Default number of rotated generations kept beside the current file.
pub const DEFAULT_KEEP: u32 = 3;
/// Most generations that may be kept (`calls.jsonl.1` .. `calls.jsonl.9`).
pub const MAX_KEEP: u32 = 9;
/// Smallest rotation size accepted: below that a single long record could rotate every time.
pub const MIN_MAX_BYTES: u64 = 4096;

/// How the caller presented (or not) their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallerIdKind {
    /// The number is in `caller`.
    Number,
    /// The caller withheld the number (`+CLIP` validity 1).
    Withheld,
    /// The network could not deliver it (`+CLIP` validity 2).
    Unavailable,
    /// The modem never said (no `+CLIP` before the call ended).
    Unknown,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallEnd {
    /// Answered; the caller hung up.
    CallerHungUp,
    /// Answered; the bot hung up because it was asked to.
    WeHungUp,
    /// Answered; the bot hung up at `max_call_seconds`.
    MaxCallSeconds,
    /// Answered; the connection dropped (`NO CARRIER` alone).
    NoCarrier,
    /// Answered; the bot lost the modem (unplugged, reset) during the call.
    ModemLost,
    /// Missed: the modem reported `MISSED_CALL`.
    MissedModemReported,
    /// Missed: the caller hung up while it rang.
    MissedCallerGaveUp,
    /// Missed: the ringing stopped without any end line.
    MissedRingingStopped,
    /// Missed: the bot rejected it.
    MissedRejected,
    /// A call the bot dialled: the far end was busy.
    Busy,
    /// A call the bot dialled: the far end did not answer (or not within `timeout_s`).
    NoAnswer,
    /// A call the bot dialled could not be set up, or the far end rejected it.
    Failed,
    /// A call the bot dialled was hung up before the far end answered.
    Cancelled,
}

/// One call, as logged and as `GET /calls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRecord {
    /// When the call was first seen (its first ring), RFC 3339 UTC.
    pub started_at: String,
    /// When it ended, RFC 3339 UTC.
    pub ended_at: String,
    /// The caller's number when known.
    pub caller: Option<String>,
    /// Whether there is a number, and if not why.
    pub caller_id: CallerIdKind,
    /// Rings seen before it was answered or given up.
    pub rings: u16,
    /// Whether it was answered.
    pub answered: bool,
    /// Talk time in seconds (0 for a missed call): the modem's figure when it gave one.
    pub duration_s: u32,
    /// How it ended.
    pub end: CallEnd,
    /// The number dialled, for a call the bot made (`POST /calls`); absent for incoming
    /// calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// Where the log lives and how big it may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLogSettings {
    /// The current file (`/var/lib/sim7600/calls.jsonl`).
    pub path: PathBuf,
    /// Rotate once the file is at least this big.
    pub max_bytes: u64,
    /// Rotated generations kept (`<path>.1` is the newest).
    pub keep: u32,
}

/// Why the call log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CallLogError {
    /// A file or folder operation failed.
    #[error("call log {}: {what} failed: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// What the OS said.
        source: io::Error,
    },
    /// A record could not be turned into JSON (cannot happen for these types; kept so
    /// that serde's error is not unwrapped).
    #[error("call log {}: cannot encode a record: {source}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// What serde said.
        source: serde_json::Error,
    },
}

/// The call log: appends, rotation, reading newest first. Cheap to clone (a path and two
/// numbers); every operation opens the file anew, so readers and the writer share nothing.
#[derive(Debug, Clone)]
pub struct CallLog {
    settings: CallLogSettings,
}

/// The name of generation `n` of `path` (0 is the file itself).
pub fn generation_path(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Whether a file of `current_len` bytes must be rotated before a line is appended.
pub fn needs_rotation(current_len: u64, max_bytes: u64) -> bool {
    current_len > 0 && current_len >= max_bytes
}

/// The records in `text` (one JSON object per line), newest (last) first, at most
/// `limit`; unreadable lines and a torn last line are skipped.
pub fn parse_newest_first(text: &str, limit: usize, source: &Path) -> Vec<CallRecord> {
    // Only lines that end in a newline are whole: the writer may be in the middle of one.
    let whole = match text.rfind('\n') {
        Some(end) => text.get(..end).unwrap_or_default(),
        None => "",
    };
    let mut out = Vec::new();
    for line in whole.lines().rev() {
        if out.len() >= limit {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<CallRecord>(line) {
            Ok(r) => out.push(r),
            Err(e) => log::warn!(
                "call log {}: skipping an unreadable line ({e})",
                source.display()
            ),
        }
    }
    out
}

impl CallLog {
    /// The log described by `settings` (nothing is touched until the first write).
    pub fn new(settings: CallLogSettings) -> Self {
        CallLog { settings }
    }

    /// Its settings.
    pub fn settings(&self) -> &CallLogSettings {
        &self.settings
    }

    fn io(&self, path: &Path, what: &'static str) -> impl FnOnce(io::Error) -> CallLogError {
        let path = path.to_path_buf();
        move |source| CallLogError::Io { path, what, source }
    }

    /// Creates the log's folder if needed and checks that the file can be opened for
    /// appending: run at start so a bad path is refused before the port is taken.
    /// Files of the log that other users could read (an older version made them 0644)
    /// are made readable by the bot's user only, and logged.
    pub fn check_writable(&self) -> Result<(), CallLogError> {
        let path = &self.settings.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir_all(dir).map_err(self.io(dir, "creating the folder"))?;
        }
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(PRIVATE_FILE_MODE)
            .open(path)
            .map_err(self.io(path, "opening for appending"))?;
        for n in 0..=self.settings.keep {
            let file = generation_path(path, n);
            if make_private(&file).map_err(self.io(&file, "making private"))? {
                log::warn!(
                    "call log {}: other users could read it; now only the bot's user can \
                     (0600)",
                    file.display()
                );
            }
        }
        Ok(())
    }

    /// Appends `record`, rotating first when the file is full.
    pub fn append(&self, record: &CallRecord) -> Result<(), CallLogError> {
        let path = &self.settings.path;
        let mut line = serde_json::to_vec(record).map_err(|source| CallLogError::Encode {
            path: path.clone(),
            source,
        })?;
        line.push(b'\n');
        let len = match fs::metadata(path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(self.io(path, "reading the size")(e)),
        };
        if needs_rotation(len, self.settings.max_bytes) {
            self.rotate()?;
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir_all(dir).map_err(self.io(dir, "creating the folder"))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(PRIVATE_FILE_MODE)
            .open(path)
            .map_err(self.io(path, "opening for appending"))?;
        // One write of the whole line: O_APPEND puts it at the end in one piece, so a
        // reader never sees half a record followed by another.
        file.write_all(&line)
            .map_err(self.io(path, "appending a record"))?;
        Ok(())
    }

    /// Shifts the generations up by one: `<path>.{keep-1}` -> `.{keep}` ... `<path>` -> `.1`.
    fn rotate(&self) -> Result<(), CallLogError> {
        let path = &self.settings.path;
        let keep = self.settings.keep;
        if keep == 0 {
            return fs::remove_file(path).map_err(self.io(path, "removing the full file"));
        }
        for n in (1..=keep).rev() {
            let from = generation_path(path, n - 1);
            let to = generation_path(path, n);
            match fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io(&from, "rotating")(e)),
            }
        }
        log::info!("call log {} rotated", path.display());
        Ok(())
    }

    /// The last `limit` calls, newest first, across the current file and its generations.
    pub fn recent(&self, limit: usize) -> Result<Vec<CallRecord>, CallLogError> {
        let mut out = Vec::new();
        for n in 0..=self.settings.keep {
            if out.len() >= limit {
                break;
            }
            let path = generation_path(&self.settings.path, n);
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io(&path, "opening for reading")(e)),
            };
            let mut text = String::new();
            let mut reader = BufReader::new(file);
            loop {
                let mut line = String::new();
                let n = reader
                    .read_line(&mut line)
                    .map_err(self.io(&path, "reading"))?;
                if n == 0 {
                    break;
                }
                text.push_str(&line);
            }
            let wanted = limit - out.len();
            out.extend(parse_newest_first(&text, wanted, &path));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(caller: &str, rings: u16) -> CallRecord {
        CallRecord {
            to: None,
            started_at: "2026-11-24T05:00:00Z".into(),
            ended_at: "2026-11-24T05:00:42Z".into(),
            caller: Some(caller.into()),
            caller_id: CallerIdKind::Number,
            rings,
            answered: true,
            duration_s: 42,
            end: CallEnd::CallerHungUp,
        }
    }

    fn log_in(dir: &Path, max_bytes: u64, keep: u32) -> CallLog {
        CallLog::new(CallLogSettings {
            path: dir.join("sub/calls.jsonl"),
            max_bytes,
            keep,
        })
    }

    #[test]
    fn the_log_and_its_generations_are_readable_by_the_bots_user_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let log = log_in(dir.path(), DEFAULT_MAX_BYTES, DEFAULT_KEEP);
        log.append(&record("+491760001", 3)).unwrap();
        let path = dir.path().join("sub/calls.jsonl");
        assert_eq!(mode(&path), 0o600);
        // Files an older version left readable by everyone are fixed at start.
        let old = generation_path(&path, 1);
        fs::write(&old, "").unwrap();
        for p in [&path, &old] {
            fs::set_permissions(p, fs::Permissions::from_mode(0o644)).unwrap();
        }
        log.check_writable().unwrap();
        assert_eq!((mode(&path), mode(&old)), (0o600, 0o600));
    }

    #[test]
    fn calls_come_back_newest_first_with_a_limit() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_in(dir.path(), DEFAULT_MAX_BYTES, DEFAULT_KEEP);
        for i in 1..=5 {
            log.append(&record(&format!("+4917600{i}"), 3)).unwrap();
        }
        let got = log.recent(3).unwrap();
        let callers: Vec<_> = got.iter().filter_map(|r| r.caller.clone()).collect();
        assert_eq!(callers, ["+49176005", "+49176004", "+49176003"]);
        assert_eq!(log.recent(100).unwrap().len(), 5);
    }

    #[test]
    fn a_full_file_rotates_and_the_oldest_generation_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let line_len = serde_json::to_vec(&record("+491760000", 3)).unwrap().len() as u64 + 1;
        // Two records per file, one rotated generation kept.
        let log = log_in(dir.path(), 2 * line_len, 1);
        for i in 0..7 {
            log.append(&record(&format!("+49176000{i}"), 3)).unwrap();
        }
        let path = dir.path().join("sub/calls.jsonl");
        assert!(generation_path(&path, 1).exists());
        assert!(!generation_path(&path, 2).exists());
        let size = fs::metadata(&path).unwrap().len();
        assert!(size <= 2 * line_len, "{size}");
        // 7 written; a file is rotated once it holds 2, so the current file holds the
        // 7th alone and `.1` the 5th and 6th: the newest three survive, newest first.
        let callers: Vec<_> = log
            .recent(10)
            .unwrap()
            .into_iter()
            .filter_map(|r| r.caller)
            .collect();
        assert_eq!(callers, ["+491760006", "+491760005", "+491760004"]);
    }

    #[test]
    fn a_torn_last_line_and_a_garbled_line_are_skipped() {
        let good = serde_json::to_string(&record("+4917611", 2)).unwrap();
        let text = format!("{good}\nnot json\n{good}\n{{\"started_at\": \"2026");
        let got = parse_newest_first(&text, 10, Path::new("x"));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn an_absent_log_reads_as_no_calls() {
        let dir = tempfile::tempdir().unwrap();
        assert!(log_in(dir.path(), 4096, 2).recent(10).unwrap().is_empty());
    }

    #[test]
    fn an_unwritable_log_path_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, "x").unwrap();
        let log = CallLog::new(CallLogSettings {
            path: blocker.join("calls.jsonl"),
            max_bytes: 4096,
            keep: 1,
        });
        let err = log.check_writable().unwrap_err().to_string();
        assert!(err.contains(&*blocker.to_string_lossy()), "{err}");
    }

    #[test]
    fn a_withheld_missed_call_is_a_line_of_json_with_snake_case_words() {
        let r = CallRecord {
            to: None,
            caller: None,
            caller_id: CallerIdKind::Withheld,
            answered: false,
            duration_s: 0,
            end: CallEnd::MissedCallerGaveUp,
            ..record("", 2)
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""caller":null"#), "{json}");
        assert!(json.contains(r#""caller_id":"withheld""#), "{json}");
        assert!(json.contains(r#""end":"missed_caller_gave_up""#), "{json}");
    }
}
