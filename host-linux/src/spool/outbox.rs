//! Sending from smsd's outgoing folder without ever having a file both unsent and sent:
//! claiming a file, completing it into sent/ or failed/, and recovering after a crash.
//!
//! This module owns the files the bot has claimed. smsd takes a file from outgoing/,
//! moves it to checked/ (its main process), and its modem process sends from checked/,
//! each step under a `<name>.LOCK` file made with `O_EXCL`. When smsd is stopped a file
//! can wait in either folder, so the bot takes from both. smsd ignores hidden files in
//! those folders and removes every `.LOCK` file when it starts (both observed with the
//! real smsd), so a `.LOCK` alone cannot survive a handoff: the bot's claim is a rename
//! to a hidden name, made under smsd's `.LOCK` so that a running smsd main process (the
//! suspend-file handoff keeps it running) never moves the file at the same moment.
//!
//! A claimed file `NAME` in folder `D` (outgoing/ or checked/) goes through hidden names
//! in `D`, each step a rename or a new file, each followed by an fsync of `D`:
//!
//! ```text
//! D/NAME ──claim──▶ D/.NAME.sim7600-claimed ──begin_sending──▶ D/.NAME.sim7600-sending
//!    ▲                    │ release                                     │
//!    └────────────────────┘                          complete(outcome)  │
//!                      D/.NAME.sim7600-sent    (the sent/ file's bytes) ◀┤
//!                      D/.NAME.sim7600-failed  (the failed/ file's bytes) ◀┘
//!                                 │ rename (the commit point of the move)
//!                                 ▼
//!                      sent/NAME or failed/NAME (deleted when smsd.conf has no such folder)
//! ```
//!
//! [`Outbox::recover`] (run when the bot opens the spool, and by `sim7600 restore` before
//! smsd starts again) resolves every hidden name a crash left:
//! - `-sent` / `-failed`: the outcome was decided; the move is finished, other names of
//!   the same file are removed. Never sent again.
//! - `-claimed`: nothing was handed to the modem; the file goes back to `D/NAME` unsent.
//! - `-sending`: parts may have left. The file goes back to `D/NAME` and is sent again:
//!   **at least once**. The duplicate window is from the moment the first part is handed
//!   to the modem to the fsync of the `-sent` file after the last part's `+CMGS`; its
//!   bound is one message (the writer sends one file at a time), that is at most the
//!   parts of that one file, once per crash.
//! - a temporary file (`-tmp`) of an outcome that was never committed: removed.
//! - a `.LOCK` the bot made whose process is gone: removed.
//!
//! So after a crash at any point, and the recovery, a file is either back in outgoing/
//! (or checked/) unsent, or in sent/ (or failed/), never both.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::SpoolError;
use super::conf::SmsdConf;
use super::incoming::{ModemIdentity, rename_no_replace, write_new_file};
use super::outgoing::{OutgoingMessage, SendOutcome, render_failed, render_sent};

/// The most files one scan of outgoing/ and checked/ looks at: a bounded rescan; files
/// beyond are seen by the next scan, after these are done.
pub const MAX_SCAN: usize = 10_000;
/// What the bot writes into a `.LOCK` after its pid (smsd writes its modem's name there).
pub const LOCK_OWNER: &str = "sim7600";
/// The suffix of smsd's lock files.
pub const LOCK_SUFFIX: &str = ".LOCK";

const CLAIMED: &str = "claimed";
const SENDING: &str = "sending";
const SENT: &str = "sent";
const FAILED: &str = "failed";
const TMP: &str = "-tmp";

fn hidden(name: &str, stage: &str) -> String {
    format!(".{name}.sim7600-{stage}")
}

/// Splits a hidden claim name into the file's name and its stage.
fn parse_hidden(file_name: &str) -> Option<(&str, &str)> {
    let rest = file_name.strip_prefix('.')?;
    let at = rest.rfind(".sim7600-")?;
    let name = rest.get(..at)?;
    let stage = rest.get(at + ".sim7600-".len()..)?;
    (!name.is_empty()).then_some((name, stage))
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(SpoolError::io("cannot fsync the folder", dir))
}

fn remove_if_present(path: &Path) -> Result<(), SpoolError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SpoolError::io("cannot remove", path)(e)),
    }
}

/// Where a claimed file is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimStage {
    /// Taken from the folder; nothing handed to the modem yet.
    Claimed,
    /// Parts may have been handed to the modem.
    Sending,
}

/// A file the bot has taken from outgoing/ or checked/. Dropping a claim leaves it
/// claimed (a crash does the same); [`Outbox::recover`] resolves it.
#[derive(Debug)]
pub struct Claim {
    dir: PathBuf,
    name: String,
    stage: ClaimStage,
    raw: Vec<u8>,
    message: Result<OutgoingMessage, SpoolError>,
    claimed_at: std::time::Instant,
}

impl Claim {
    /// The file's name (as it was in its folder).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The folder it came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where it is in its life.
    pub fn stage(&self) -> ClaimStage {
        self.stage
    }

    /// The parsed message, or why smsd would refuse the file (then [`Outbox::complete`]
    /// it with a [`SendOutcome::Failed`] carrying that reason).
    pub fn message(&self) -> Result<&OutgoingMessage, &SpoolError> {
        self.message.as_ref()
    }

    /// The file's bytes.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    fn path(&self, stage: &str) -> PathBuf {
        self.dir.join(hidden(&self.name, stage))
    }

    fn current_path(&self) -> PathBuf {
        self.path(match self.stage {
            ClaimStage::Claimed => CLAIMED,
            ClaimStage::Sending => SENDING,
        })
    }

    /// Call right before the first part goes to the modem: from now on a crash means the
    /// file is sent again (the at-least-once window). Durable when it returns.
    pub fn begin_sending(&mut self) -> Result<(), SpoolError> {
        if self.stage == ClaimStage::Sending {
            return Ok(());
        }
        let from = self.path(CLAIMED);
        let to = self.path(SENDING);
        std::fs::rename(&from, &to).map_err(SpoolError::io("cannot rename into", &to))?;
        sync_dir(&self.dir)?;
        self.stage = ClaimStage::Sending;
        Ok(())
    }

    /// How long ago the file was claimed (smsd's `Sending_time:` counts from there).
    pub fn age(&self) -> std::time::Duration {
        self.claimed_at.elapsed()
    }
}

/// What [`Outbox::recover`] did with one leftover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// The decided outcome was moved into sent/ (or failed/), or deleted when that folder
    /// is not configured.
    Finished {
        /// The file's name.
        name: String,
        /// Where it went (`None`: deleted).
        to: Option<PathBuf>,
    },
    /// Back in its folder, never handed to the modem.
    ReturnedUnsent {
        /// Where it is now.
        path: PathBuf,
    },
    /// Back in its folder after parts may have left: it will be sent again (the
    /// at-least-once case).
    ReturnedMaybeSent {
        /// Where it is now.
        path: PathBuf,
    },
    /// A temporary file or a dead process's `.LOCK` was removed.
    Removed {
        /// The file removed.
        path: PathBuf,
    },
}

/// The outgoing side of smsd's spool, as the bot works it.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// smsd's outgoing/.
    pub outgoing: PathBuf,
    /// smsd's checked/.
    pub checked: PathBuf,
    /// smsd's sent/, if configured.
    pub sent: Option<PathBuf>,
    /// smsd's failed/, if configured.
    pub failed: Option<PathBuf>,
    /// smsd.conf's `outgoing_utf8`.
    pub outgoing_utf8: bool,
    /// The modem the bot stands in for.
    pub modem: ModemIdentity,
    /// The modem's `report =`.
    pub report_default: bool,
    /// A sent or failed file smsd.conf has no folder for stays under its hidden decided
    /// name (returned by [`Self::complete`]) instead of being deleted, so the eventhandler
    /// can read it first, as smsd runs it before it deletes the file; the caller deletes it.
    pub keep_unfiled: bool,
}

impl Outbox {
    /// The outbox smsd.conf describes, for its modem `modem`.
    pub fn from_conf(conf: &SmsdConf, modem: ModemIdentity) -> Outbox {
        let report_default = conf.modem(&modem.name).is_some_and(|m| m.report);
        Outbox {
            outgoing: conf.outgoing.clone(),
            checked: conf.checked.clone(),
            sent: conf.sent.clone(),
            failed: conf.failed.clone(),
            outgoing_utf8: conf.outgoing_utf8,
            modem,
            report_default,
            keep_unfiled: false,
        }
    }

    fn folders(&self) -> [&Path; 2] {
        // checked/ first: smsd had already accepted those files.
        [&self.checked, &self.outgoing]
    }

    /// Files waiting to be sent, oldest first (smsd's order), at most [`MAX_SCAN`]:
    /// visible regular files without a `.LOCK`, in checked/ and outgoing/.
    pub fn pending(&self) -> Result<Vec<PathBuf>, SpoolError> {
        let mut found: Vec<(SystemTime, PathBuf)> = Vec::new();
        for dir in self.folders() {
            let entries = std::fs::read_dir(dir).map_err(SpoolError::io("cannot list", dir))?;
            for entry in entries.take(MAX_SCAN) {
                let entry = entry.map_err(SpoolError::io("cannot list", dir))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !is_candidate_name(&name) || dir.join(format!("{name}{LOCK_SUFFIX}")).exists() {
                    continue;
                }
                let Ok(meta) = entry.metadata() else { continue };
                if !meta.is_file() {
                    continue;
                }
                found.push((
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    entry.path(),
                ));
            }
        }
        found.sort();
        found.truncate(MAX_SCAN);
        Ok(found.into_iter().map(|(_, p)| p).collect())
    }

    /// Claims `path` (a file in outgoing/ or checked/). `Ok(None)` when it is gone or
    /// locked by someone else (smsd): nothing to do with it now.
    pub fn claim(&self, path: &Path) -> Result<Option<Claim>, SpoolError> {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(None);
        };
        let name = name.to_string_lossy().into_owned();
        if !is_candidate_name(&name) {
            return Ok(None);
        }
        let lock = dir.join(format!("{name}{LOCK_SUFFIX}"));
        // smsd's lockfile(): O_EXCL, "<pid> <owner>\n", fsync.
        let content = format!("{} {LOCK_OWNER}\n", std::process::id());
        match write_new_file(&lock, content.as_bytes()) {
            Ok(()) => {}
            Err(SpoolError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        let claimed = dir.join(hidden(&name, CLAIMED));
        let moved = match rename_no_replace(path, &claimed) {
            Ok(true) => sync_dir(dir).map(|()| true),
            Ok(false) => Err(SpoolError::Io {
                action: "an earlier claim is still unresolved at",
                path: claimed.clone(),
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            }),
            Err(SpoolError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(false)
            }
            Err(e) => Err(e),
        };
        remove_if_present(&lock)?;
        if !moved? {
            return Ok(None);
        }
        let raw = std::fs::read(&claimed).map_err(SpoolError::io("cannot read", &claimed))?;
        let message = OutgoingMessage::parse(&raw, path, self.outgoing_utf8);
        Ok(Some(Claim {
            dir: dir.to_path_buf(),
            name,
            stage: ClaimStage::Claimed,
            raw,
            message,
            claimed_at: std::time::Instant::now(),
        }))
    }

    /// Puts a claimed file back where it was, unsent (the bot stops before sending it).
    /// A file whose sending began goes back too, and will be sent again.
    pub fn release(&self, claim: Claim) -> Result<PathBuf, SpoolError> {
        let from = claim.current_path();
        let path = return_to_folder(&from, &claim.dir, &claim.name)?;
        sync_dir(&claim.dir)?;
        Ok(path)
    }

    /// Writes the outcome into sent/ or failed/ and forgets the claim. Returns where the
    /// file went (`None` when smsd.conf has no such folder and the file was deleted).
    pub fn complete(
        &self,
        claim: Claim,
        outcome: &SendOutcome,
    ) -> Result<Option<PathBuf>, SpoolError> {
        let (bytes, stage) = match outcome {
            SendOutcome::Sent {
                message_refs,
                at,
                took,
            } => {
                let wants_report = claim
                    .message()
                    .is_ok_and(|m| m.wants_report(self.report_default));
                // smsd's messageids = 2: the last part's reference.
                let id = wants_report.then(|| message_refs.last().copied()).flatten();
                (render_sent(&claim.raw, &self.modem, *at, *took, id), SENT)
            }
            SendOutcome::Failed { reason, at } => {
                // smsd's own checks (a file it refuses) name no modem; the modem's
                // refusals do.
                let modem = (claim.stage == ClaimStage::Sending).then_some(&self.modem);
                (render_failed(&claim.raw, reason, *at, modem), FAILED)
            }
        };
        let decided = claim.path(stage);
        let temp = claim.path(&format!("{stage}{TMP}"));
        remove_if_present(&temp)?;
        write_new_file(&temp, &bytes)?;
        std::fs::rename(&temp, &decided).map_err(SpoolError::io("cannot rename into", &decided))?;
        sync_dir(&claim.dir)?;
        // The outcome is decided and durable: the claimed copy goes.
        remove_if_present(&claim.current_path())?;
        sync_dir(&claim.dir)?;
        self.finish(&claim.dir, &claim.name, stage, self.keep_unfiled)
    }

    /// Moves a decided `-sent`/`-failed` file into its folder.
    fn finish(
        &self,
        dir: &Path,
        name: &str,
        stage: &str,
        keep_unfiled: bool,
    ) -> Result<Option<PathBuf>, SpoolError> {
        let decided = dir.join(hidden(name, stage));
        let target_dir = if stage == SENT {
            &self.sent
        } else {
            &self.failed
        };
        let Some(target_dir) = target_dir else {
            if keep_unfiled {
                return Ok(Some(decided));
            }
            // smsd deletes sent and failed files when it has no folder for them.
            remove_if_present(&decided)?;
            sync_dir(dir)?;
            return Ok(None);
        };
        let target = target_dir.join(name);
        match std::fs::rename(&decided, &target) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {
                // Another file system: copy durably under a hidden name, then rename.
                let bytes =
                    std::fs::read(&decided).map_err(SpoolError::io("cannot read", &decided))?;
                let temp = target_dir.join(format!(".{name}.sim7600{TMP}"));
                remove_if_present(&temp)?;
                write_new_file(&temp, &bytes)?;
                std::fs::rename(&temp, &target)
                    .map_err(SpoolError::io("cannot rename into", &target))?;
                sync_dir(target_dir)?;
                remove_if_present(&decided)?;
            }
            Err(e) => return Err(SpoolError::io("cannot rename into", &target)(e)),
        }
        sync_dir(target_dir)?;
        sync_dir(dir)?;
        Ok(Some(target))
    }

    /// Resolves everything a crash left in outgoing/ and checked/ (see the module docs).
    pub fn recover(&self) -> Result<Vec<Recovered>, SpoolError> {
        let mut done = Vec::new();
        for dir in self.folders() {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .map_err(SpoolError::io("cannot list", dir))?
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect();
            names.sort();
            // Decided outcomes first: they make the other names of the same file moot.
            for stage in [SENT, FAILED] {
                for file in &names {
                    if let Some((name, s)) = parse_hidden(file)
                        && s == stage
                    {
                        for other in [CLAIMED, SENDING] {
                            remove_if_present(&dir.join(hidden(name, other)))?;
                        }
                        let to = self.finish(dir, name, stage, false)?;
                        done.push(Recovered::Finished {
                            name: name.to_string(),
                            to,
                        });
                    }
                }
            }
            for file in &names {
                let path = dir.join(file);
                if !path.exists() {
                    continue;
                }
                if let Some((name, stage)) = parse_hidden(file) {
                    match stage {
                        CLAIMED => {
                            let path = return_to_folder(&path, dir, name)?;
                            done.push(Recovered::ReturnedUnsent { path });
                        }
                        SENDING => {
                            let path = return_to_folder(&path, dir, name)?;
                            log::warn!(
                                "spool: {} was being sent when the bot stopped; it will be sent \
                                 again (parts may arrive twice)",
                                path.display()
                            );
                            done.push(Recovered::ReturnedMaybeSent { path });
                        }
                        s if s.ends_with(TMP) => {
                            remove_if_present(&path)?;
                            done.push(Recovered::Removed { path });
                        }
                        _ => {}
                    }
                } else if file.ends_with(LOCK_SUFFIX) && is_dead_bot_lock(&path) {
                    remove_if_present(&path)?;
                    done.push(Recovered::Removed { path });
                }
            }
            sync_dir(dir)?;
        }
        Ok(done)
    }
}

/// A name smsd would send: visible, not a lock file.
fn is_candidate_name(name: &str) -> bool {
    !name.starts_with('.') && !name.ends_with(LOCK_SUFFIX)
}

/// A `.LOCK` this program wrote whose process no longer runs.
fn is_dead_bot_lock(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let mut words = text.split_whitespace();
    match (
        words.next().and_then(|p| p.parse::<i32>().ok()),
        words.next(),
    ) {
        (Some(pid), Some(LOCK_OWNER)) => {
            // Signal 0 checks existence; ESRCH: gone.
            matches!(
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                Err(nix::errno::Errno::ESRCH)
            )
        }
        _ => false,
    }
}

/// Renames `from` back to `dir/name`; if a new file of that name arrived meanwhile,
/// to `dir/name.N` (never replacing a file).
fn return_to_folder(from: &Path, dir: &Path, name: &str) -> Result<PathBuf, SpoolError> {
    let mut target = dir.join(name);
    for n in 1..=1000 {
        if rename_no_replace(from, &target)? {
            return Ok(target);
        }
        target = dir.join(format!("{name}.{n}"));
    }
    Err(SpoolError::Io {
        action: "cannot find a free name to put back",
        path: dir.join(name),
        source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::incoming::SpoolTime;
    use std::time::Duration;

    struct Spool {
        _dir: tempfile::TempDir,
        outbox: Outbox,
    }

    fn spool(with_sent: bool) -> Spool {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["outgoing", "checked", "sent", "failed"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let outbox = Outbox {
            outgoing: dir.path().join("outgoing"),
            checked: dir.path().join("checked"),
            sent: with_sent.then(|| dir.path().join("sent")),
            failed: Some(dir.path().join("failed")),
            outgoing_utf8: true,
            modem: ModemIdentity {
                name: "GSM1".into(),
                imsi: Some("262011234567890".into()),
                imei: Some("351602000330570".into()),
            },
            report_default: false,
            keep_unfiled: false,
        };
        Spool { _dir: dir, outbox }
    }

    fn at() -> SpoolTime {
        SpoolTime {
            year: 26,
            month: 11,
            day: 24,
            hour: 6,
            minute: 0,
            second: 0,
        }
    }

    fn sent() -> SendOutcome {
        SendOutcome::Sent {
            message_refs: vec![7, 8],
            at: at(),
            took: Duration::from_secs(2),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_dropped_file_is_claimed_sent_and_moved_to_sent_with_smsd_headers() {
        let s = spool(true);
        let file = s.outbox.outgoing.join("hello");
        std::fs::write(&file, "To: 491721234567\nReport: yes\n\nHello\n").unwrap();
        assert_eq!(s.outbox.pending().unwrap(), vec![file.clone()]);
        let mut claim = s.outbox.claim(&file).unwrap().unwrap();
        assert_eq!(names(&s.outbox.outgoing), [".hello.sim7600-claimed"]);
        assert_eq!(claim.message().unwrap().text, "Hello");
        claim.begin_sending().unwrap();
        assert_eq!(names(&s.outbox.outgoing), [".hello.sim7600-sending"]);
        let to = s.outbox.complete(claim, &sent()).unwrap().unwrap();
        assert_eq!(to, s.outbox.sent.as_ref().unwrap().join("hello"));
        assert!(names(&s.outbox.outgoing).is_empty());
        assert_eq!(
            std::fs::read_to_string(&to).unwrap(),
            "To: 491721234567\nReport: yes\nModem: GSM1\nSent: 26-11-24 06:00:00\nSending_time: 2\n\
             Message_id: 8\nIMSI: 262011234567890\nIMEI: 351602000330570\n\nHello\n"
        );
    }

    #[test]
    fn a_file_locked_by_smsd_is_left_alone() {
        let s = spool(true);
        let file = s.outbox.outgoing.join("busy");
        std::fs::write(&file, "To: 49\n\nx").unwrap();
        std::fs::write(s.outbox.outgoing.join("busy.LOCK"), "4242 MAINPROCESS\n").unwrap();
        assert!(s.outbox.pending().unwrap().is_empty());
        assert!(s.outbox.claim(&file).unwrap().is_none());
        assert!(file.exists(), "not touched");
        assert!(
            s.outbox.outgoing.join("busy.LOCK").exists(),
            "smsd's lock is not ours to remove"
        );
    }

    #[test]
    fn files_in_checked_come_first_and_hidden_files_are_ignored() {
        let s = spool(true);
        std::fs::write(s.outbox.outgoing.join(".partial"), "To: 49\n\nx").unwrap();
        std::fs::write(s.outbox.outgoing.join("new"), "To: 49\n\nx").unwrap();
        std::fs::write(s.outbox.checked.join("old"), "To: 49\n\nx").unwrap();
        let old = s.outbox.checked.join("old");
        let f = File::options().write(true).open(&old).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1))
            .unwrap();
        let pending = s.outbox.pending().unwrap();
        assert_eq!(pending, vec![old, s.outbox.outgoing.join("new")]);
    }

    #[test]
    fn a_file_smsd_would_refuse_goes_to_failed_with_its_reason() {
        let s = spool(true);
        let file = s.outbox.outgoing.join("bad");
        std::fs::write(&file, "To: abc\n\nbad").unwrap();
        let claim = s.outbox.claim(&file).unwrap().unwrap();
        let reason = match claim.message() {
            Err(crate::spool::SpoolError::BadOutgoing { reason, .. }) => reason.clone(),
            other => panic!("{other:?}"),
        };
        let to = s
            .outbox
            .complete(claim, &SendOutcome::Failed { reason, at: at() })
            .unwrap()
            .unwrap();
        let text = std::fs::read_to_string(to).unwrap();
        assert!(
            text.starts_with("To: abc\nFail_reason: To: abc has the character 'a'"),
            "{text}"
        );
        assert!(
            text.ends_with("\nFailed: 26-11-24 06:00:00\n\nbad"),
            "{text}"
        );
    }

    #[test]
    fn without_a_sent_folder_a_sent_file_is_deleted_like_smsd_does() {
        let s = spool(false);
        let file = s.outbox.outgoing.join("gone");
        std::fs::write(&file, "To: 49\n\nx").unwrap();
        let claim = s.outbox.claim(&file).unwrap().unwrap();
        assert_eq!(s.outbox.complete(claim, &sent()).unwrap(), None);
        assert!(names(&s.outbox.outgoing).is_empty());
    }

    #[test]
    fn a_released_file_is_back_unsent() {
        let s = spool(true);
        let file = s.outbox.checked.join("later");
        std::fs::write(&file, "To: 49\n\nx").unwrap();
        let claim = s.outbox.claim(&file).unwrap().unwrap();
        assert_eq!(s.outbox.release(claim).unwrap(), file);
        assert_eq!(names(&s.outbox.checked), ["later"]);
    }

    /// Drives one file to `stop_after` steps, then "crashes" (drops everything) and
    /// recovers, returning the files in outgoing/ and sent/.
    fn crash_after(stop_after: usize) -> (Vec<String>, Vec<String>, Vec<Recovered>) {
        let s = spool(true);
        let file = s.outbox.outgoing.join("m");
        std::fs::write(&file, "To: 49\n\nx").unwrap();
        if stop_after >= 1 {
            let mut claim = s.outbox.claim(&file).unwrap().unwrap();
            if stop_after >= 2 {
                claim.begin_sending().unwrap();
            }
            if stop_after >= 3 {
                // The outcome decided, the claimed copy not yet removed.
                let bytes = render_sent(claim.raw(), &s.outbox.modem, at(), Duration::ZERO, None);
                std::fs::write(claim.path(SENT), bytes).unwrap();
            }
            if stop_after >= 4 {
                std::fs::remove_file(claim.current_path()).unwrap();
            }
            if stop_after >= 5 {
                s.outbox.complete(claim, &sent()).unwrap();
            }
        }
        let rec = s.outbox.recover().unwrap();
        (
            names(&s.outbox.outgoing),
            names(s.outbox.sent.as_ref().unwrap()),
            rec,
        )
    }

    #[test]
    fn after_a_crash_at_any_step_a_file_is_unsent_in_outgoing_or_in_sent_never_both() {
        let untouched = crash_after(0);
        assert_eq!((untouched.0, untouched.1), (vec!["m".to_string()], vec![]));
        let claimed = crash_after(1);
        assert_eq!((claimed.0, claimed.1), (vec!["m".to_string()], vec![]));
        assert!(matches!(
            claimed.2.as_slice(),
            [Recovered::ReturnedUnsent { .. }]
        ));
        let sending = crash_after(2);
        assert_eq!((sending.0, sending.1), (vec!["m".to_string()], vec![]));
        assert!(matches!(
            sending.2.as_slice(),
            [Recovered::ReturnedMaybeSent { .. }]
        ));
        for step in [3, 4, 5] {
            let (outgoing, sent, _) = crash_after(step);
            assert_eq!(
                (outgoing, sent),
                (vec![], vec!["m".to_string()]),
                "crash after step {step}"
            );
        }
    }

    #[test]
    fn an_uncommitted_outcome_is_discarded_and_the_file_returns() {
        let s = spool(true);
        let file = s.outbox.outgoing.join("m");
        std::fs::write(&file, "To: 49\n\nx").unwrap();
        let mut claim = s.outbox.claim(&file).unwrap().unwrap();
        claim.begin_sending().unwrap();
        std::fs::write(claim.path("sent-tmp"), "half").unwrap();
        drop(claim);
        s.outbox.recover().unwrap();
        assert_eq!(names(&s.outbox.outgoing), ["m"]);
    }

    #[test]
    fn a_dead_bots_lock_is_removed_and_smsds_are_kept() {
        let s = spool(true);
        // pid 0x7FFFFFF0 does not exist.
        std::fs::write(
            s.outbox.outgoing.join("a.LOCK"),
            format!("2147483632 {LOCK_OWNER}\n"),
        )
        .unwrap();
        std::fs::write(s.outbox.outgoing.join("b.LOCK"), "2147483632 GSM1\n").unwrap();
        std::fs::write(
            s.outbox.outgoing.join("c.LOCK"),
            format!("{} {LOCK_OWNER}\n", std::process::id()),
        )
        .unwrap();
        s.outbox.recover().unwrap();
        assert_eq!(names(&s.outbox.outgoing), ["b.LOCK", "c.LOCK"]);
    }

    #[test]
    fn a_returned_file_never_replaces_a_new_one_of_the_same_name() {
        let s = spool(true);
        let file = s.outbox.outgoing.join("m");
        std::fs::write(&file, "To: 49\n\nold").unwrap();
        let claim = s.outbox.claim(&file).unwrap().unwrap();
        std::fs::write(&file, "To: 49\n\nnew").unwrap();
        drop(claim);
        s.outbox.recover().unwrap();
        assert_eq!(names(&s.outbox.outgoing), ["m", "m.1"]);
        assert!(
            std::fs::read_to_string(s.outbox.outgoing.join("m.1"))
                .unwrap()
                .ends_with("old")
        );
    }

    #[test]
    fn hidden_names_split_into_name_and_stage() {
        assert_eq!(parse_hidden(".a.b.sim7600-sent"), Some(("a.b", "sent")));
        assert_eq!(parse_hidden(".x.sim7600-sent-tmp"), Some(("x", "sent-tmp")));
        assert_eq!(parse_hidden(".plain"), None);
        assert_eq!(parse_hidden("visible.sim7600-sent"), None);
    }
}
