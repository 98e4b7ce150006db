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

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::SpoolError;
use super::conf::SmsdConf;
use super::incoming::ModemIdentity;
use super::outgoing::{
    MAX_OUTGOING_BYTES, OutgoingMessage, SendOutcome, render_failed, render_sent,
};
use super::safe_fs::{Opened, Refusal, SpoolDir, SpoolFile, Whose};

/// The most files one scan of outgoing/ and checked/ looks at: a bounded rescan; files
/// beyond are seen by the next scan, after these are done.
pub const MAX_SCAN: usize = 10_000;
/// What the bot writes into a `.LOCK` after its pid (smsd writes its modem's name there).
pub const LOCK_OWNER: &str = "sim7600";
/// The suffix of smsd's lock files.
pub const LOCK_SUFFIX: &str = ".LOCK";
/// The largest `.LOCK` file read when looking for the bot's own dead locks (a pid and a
/// word).
pub const MAX_LOCK_BYTES: u64 = 64;
/// The largest sent/ or failed/ file the bot copies between file systems: an outgoing
/// file with smsd's added headers (a few hundred bytes, a reason of the modem's).
pub const MAX_DECIDED_BYTES: u64 = 2 * MAX_OUTGOING_BYTES;

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
    dir: SpoolDir,
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
        self.dir.path()
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

    /// The file's bytes, as read from the descriptor the claim opened.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    fn current_name(&self) -> String {
        hidden(
            &self.name,
            match self.stage {
                ClaimStage::Claimed => CLAIMED,
                ClaimStage::Sending => SENDING,
            },
        )
    }

    /// Call right before the first part goes to the modem: from now on a crash means the
    /// file is sent again (the at-least-once window). Durable when it returns.
    pub fn begin_sending(&mut self) -> Result<(), SpoolError> {
        if self.stage == ClaimStage::Sending {
            return Ok(());
        }
        let to = hidden(&self.name, SENDING);
        self.dir
            .rename(&hidden(&self.name, CLAIMED), &self.dir, &to)?;
        self.dir.sync()?;
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
    /// A temporary file, a dead process's `.LOCK`, or something under the bot's hidden
    /// names that the bot never writes (a link, a FIFO: planted) was removed.
    Removed {
        /// The file removed.
        path: PathBuf,
    },
}

/// What recovery did with one file, in words.
impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recovered::Finished { name, to: Some(to) } => {
                write!(f, "{name}: its outcome filed as {}", to.display())
            }
            Recovered::Finished { name, to: None } => {
                write!(
                    f,
                    "{name}: its outcome decided, the file deleted (no folder for it)"
                )
            }
            Recovered::ReturnedUnsent { path } => {
                write!(f, "{}: put back, never sent", path.display())
            }
            Recovered::ReturnedMaybeSent { path } => write!(
                f,
                "{}: put back after parts may have left; it is sent again",
                path.display()
            ),
            Recovered::Removed { path } => write!(f, "{}: removed", path.display()),
        }
    }
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
    /// Files left alone already reported (device, inode, size): each is logged once.
    left_alone: Arc<Mutex<HashSet<(u64, u64, u64)>>>,
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
            left_alone: Arc::default(),
            keep_unfiled: false,
        }
    }

    fn folders(&self) -> [&Path; 2] {
        // checked/ first: smsd had already accepted those files.
        [&self.checked, &self.outgoing]
    }

    /// Logs, once per file, that `path` is left alone and why.
    fn leave_alone(&self, path: &Path, key: (u64, u64, u64), why: &Refusal) {
        let mut seen = self
            .left_alone
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= MAX_SCAN {
            seen.clear();
        }
        if seen.insert(key) {
            log::warn!(
                "spool: {} is left alone, unread: {why}; smsd takes it when it has the modem \
                 again",
                path.display()
            );
        }
    }

    /// Files waiting to be sent, oldest first (smsd's order), at most [`MAX_SCAN`]:
    /// visible regular files without a `.LOCK`, in checked/ and outgoing/. What the bot
    /// does not read (links, FIFOs, hard links, files larger than an SMS file can be) is
    /// skipped, logged once, and left for smsd.
    pub fn pending(&self) -> Result<Vec<PathBuf>, SpoolError> {
        let mut found: Vec<(SystemTime, PathBuf)> = Vec::new();
        for path in self.folders() {
            let dir = SpoolDir::open(path)?;
            for name in dir.names(MAX_SCAN)? {
                if !is_candidate_name(&name) || dir.stat(&format!("{name}{LOCK_SUFFIX}"))?.is_some()
                {
                    continue;
                }
                let Some(stat) = dir.stat(&name)? else {
                    continue;
                };
                if let Some(why) = dir.judge(&stat, MAX_OUTGOING_BYTES, Whose::Dropped) {
                    self.leave_alone(&dir.join(&name), stat_key(&stat), &why);
                    continue;
                }
                let modified = SystemTime::UNIX_EPOCH
                    + std::time::Duration::from_secs(u64::try_from(stat.st_mtime).unwrap_or(0))
                    + std::time::Duration::from_nanos(
                        u64::try_from(stat.st_mtime_nsec).unwrap_or(0),
                    );
                found.push((modified, dir.join(&name)));
            }
        }
        found.sort();
        found.truncate(MAX_SCAN);
        Ok(found.into_iter().map(|(_, p)| p).collect())
    }

    /// Claims `path` (a file in outgoing/ or checked/). `Ok(None)` when it is gone,
    /// locked by someone else (smsd), or not a file the bot reads (left alone, logged):
    /// nothing to do with it now.
    ///
    /// The file is opened once, under smsd's `.LOCK`, without following a link or
    /// blocking, and judged by `fstat` on that descriptor; its bytes come from that
    /// descriptor. It is then renamed to its hidden claimed name, and kept only if that
    /// name now holds the very file that was read: a file swapped in between is put back
    /// under its name, unread.
    pub fn claim(&self, path: &Path) -> Result<Option<Claim>, SpoolError> {
        let (Some(dir_path), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(None);
        };
        let name = name.to_string_lossy().into_owned();
        if !is_candidate_name(&name) {
            return Ok(None);
        }
        let dir = SpoolDir::open(dir_path)?;
        let lock = format!("{name}{LOCK_SUFFIX}");
        // smsd's lockfile(): O_EXCL, "<pid> <owner>\n", fsync.
        let content = format!("{} {LOCK_OWNER}\n", std::process::id());
        match dir.create_new(&lock, content.as_bytes()) {
            Ok(()) => {}
            Err(SpoolError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        let taken = self.take_locked(&dir, &name, path);
        dir.remove(&lock)?;
        let Some(raw) = taken? else {
            return Ok(None);
        };
        let message = OutgoingMessage::parse(&raw, path, self.outgoing_utf8);
        Ok(Some(Claim {
            dir,
            name,
            stage: ClaimStage::Claimed,
            raw,
            message,
            claimed_at: std::time::Instant::now(),
        }))
    }

    /// Under the lock: reads `name` from one descriptor and renames it to its claimed
    /// name; the bytes, or `None` when there is nothing to send.
    fn take_locked(
        &self,
        dir: &SpoolDir,
        name: &str,
        path: &Path,
    ) -> Result<Option<Vec<u8>>, SpoolError> {
        let Some((file, raw)) = self.read_once(dir, name, path)? else {
            return Ok(None);
        };
        Ok(self.hide_if_same(dir, name, &file, path)?.then_some(raw))
    }

    /// Opens `name` once and reads it from that descriptor, if it is a file the bot reads
    /// (otherwise it is left alone and logged once).
    fn read_once(
        &self,
        dir: &SpoolDir,
        name: &str,
        path: &Path,
    ) -> Result<Option<(SpoolFile, Vec<u8>)>, SpoolError> {
        let mut file = match dir.open_regular(name, MAX_OUTGOING_BYTES, Whose::Dropped)? {
            Opened::File(f) => f,
            Opened::Gone => return Ok(None),
            Opened::Refused(why) => {
                // Keyed as the scan keys it (lstat), so that it is logged once.
                if let Some(stat) = dir.stat(name)? {
                    self.leave_alone(path, stat_key(&stat), &why);
                }
                return Ok(None);
            }
        };
        let (dev, ino) = file.identity();
        match file
            .read_all()
            .map_err(SpoolError::io("cannot read", path))?
        {
            Ok(raw) => Ok(Some((file, raw))),
            Err(why) => {
                // It grew past the limit while it was read: the scan keys it by its new
                // size, so this is logged once too.
                let size = match &why {
                    Refusal::TooLarge { size, .. } => *size,
                    _ => file.size(),
                };
                self.leave_alone(path, (dev, ino, size), &why);
                Ok(None)
            }
        }
    }

    /// Renames `name` to its claimed name, and keeps it there only if it is the very file
    /// `file` was read from (the descriptor, still open, keeps its inode number from being
    /// reused); a file swapped in since is put back under its name. Whether it was claimed.
    fn hide_if_same(
        &self,
        dir: &SpoolDir,
        name: &str,
        file: &SpoolFile,
        path: &Path,
    ) -> Result<bool, SpoolError> {
        let claimed = hidden(name, CLAIMED);
        match dir.rename_no_replace(name, dir, &claimed) {
            Ok(true) => {}
            Ok(false) => {
                return Err(SpoolError::Io {
                    action: "an earlier claim is still unresolved at",
                    path: dir.join(&claimed),
                    source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
                });
            }
            Err(SpoolError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        if !dir.holds(&claimed, file)? {
            let back = return_to_folder(dir, &claimed, name)?;
            log::warn!(
                "spool: {} was replaced while the bot took it; put back unread as {}",
                path.display(),
                back.display()
            );
            dir.sync()?;
            return Ok(false);
        }
        dir.sync()?;
        Ok(true)
    }

    /// Puts a claimed file back where it was, unsent (the bot stops before sending it).
    /// A file whose sending began goes back too, and will be sent again.
    pub fn release(&self, claim: Claim) -> Result<PathBuf, SpoolError> {
        let path = return_to_folder(&claim.dir, &claim.current_name(), &claim.name)?;
        claim.dir.sync()?;
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
        let dir = &claim.dir;
        let decided = hidden(&claim.name, stage);
        let temp = hidden(&claim.name, &format!("{stage}{TMP}"));
        dir.remove(&temp)?;
        dir.write_file_via(&temp, &decided, &bytes)?;
        // The outcome is decided and durable: the claimed copy goes.
        dir.remove(&claim.current_name())?;
        dir.sync()?;
        self.finish(dir, &claim.name, stage, self.keep_unfiled)
    }

    /// Moves a decided `-sent`/`-failed` file into its folder. `Ok(None)`: deleted (no
    /// such folder configured, or it was not a file the bot wrote). With `keep_unfiled`, a
    /// file without a folder stays under its hidden name, which is returned.
    fn finish(
        &self,
        dir: &SpoolDir,
        name: &str,
        stage: &str,
        keep_unfiled: bool,
    ) -> Result<Option<PathBuf>, SpoolError> {
        let decided = hidden(name, stage);
        // The bot writes a decided file as a regular file of one link; anything else
        // under that name was planted, and is neither moved nor read.
        if let Some(stat) = dir.stat(&decided)?
            && let Some(why) = dir.judge(&stat, MAX_DECIDED_BYTES, Whose::Bots)
        {
            log::warn!(
                "spool: {} is not a file the bot wrote ({why}); removed",
                dir.join(&decided).display()
            );
            dir.remove(&decided)?;
            dir.sync()?;
            return Ok(None);
        }
        let target_dir = if stage == SENT {
            &self.sent
        } else {
            &self.failed
        };
        let Some(target_path) = target_dir else {
            if keep_unfiled {
                return Ok(Some(dir.join(&decided)));
            }
            // smsd deletes sent and failed files when it has no folder for them.
            dir.remove(&decided)?;
            dir.sync()?;
            return Ok(None);
        };
        let target_dir = SpoolDir::open(target_path)?;
        match dir.rename(&decided, &target_dir, name) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {
                // Another file system: copy durably under a hidden name, then rename;
                // read from one descriptor that was judged, never through a link.
                let mut file = match dir.open_regular(&decided, MAX_DECIDED_BYTES, Whose::Bots)? {
                    Opened::File(f) => f,
                    Opened::Gone => return Ok(None),
                    Opened::Refused(why) => {
                        log::warn!(
                            "spool: {} is not a file the bot wrote ({why}); removed",
                            dir.join(&decided).display()
                        );
                        dir.remove(&decided)?;
                        dir.sync()?;
                        return Ok(None);
                    }
                };
                let bytes = match file
                    .read_all()
                    .map_err(SpoolError::io("cannot read", &dir.join(&decided)))?
                {
                    Ok(b) => b,
                    Err(why) => {
                        return Err(SpoolError::Io {
                            action: "will not copy",
                            path: dir.join(&decided),
                            source: std::io::Error::other(why.to_string()),
                        });
                    }
                };
                let temp = format!(".{name}.sim7600{TMP}");
                target_dir.remove(&temp)?;
                target_dir.write_file_via(&temp, name, &bytes)?;
                dir.remove(&decided)?;
            }
            Err(e) => return Err(e.into()),
        }
        target_dir.sync()?;
        dir.sync()?;
        Ok(Some(target_dir.join(name)))
    }

    /// Resolves everything a crash left in outgoing/ and checked/ (see the module docs).
    pub fn recover(&self) -> Result<Vec<Recovered>, SpoolError> {
        let mut done = Vec::new();
        for path in self.folders() {
            let dir = SpoolDir::open(path)?;
            let mut names = dir.names(usize::MAX)?;
            names.sort();
            // Decided outcomes first: they make the other names of the same file moot.
            for stage in [SENT, FAILED] {
                for file in &names {
                    if let Some((name, s)) = parse_hidden(file)
                        && s == stage
                    {
                        for other in [CLAIMED, SENDING] {
                            dir.remove(&hidden(name, other))?;
                        }
                        let to = self.finish(&dir, name, stage, false)?;
                        done.push(Recovered::Finished {
                            name: name.to_string(),
                            to,
                        });
                    }
                }
            }
            for file in &names {
                if dir.stat(file)?.is_none() {
                    continue;
                }
                if let Some((name, stage)) = parse_hidden(file) {
                    match stage {
                        CLAIMED => {
                            let path = return_to_folder(&dir, file, name)?;
                            done.push(Recovered::ReturnedUnsent { path });
                        }
                        SENDING => {
                            let path = return_to_folder(&dir, file, name)?;
                            log::warn!(
                                "spool: {} was being sent when the bot stopped; it will be sent \
                                 again (parts may arrive twice)",
                                path.display()
                            );
                            done.push(Recovered::ReturnedMaybeSent { path });
                        }
                        s if s.ends_with(TMP) => {
                            dir.remove(file)?;
                            done.push(Recovered::Removed {
                                path: dir.join(file),
                            });
                        }
                        _ => {}
                    }
                } else if file.ends_with(LOCK_SUFFIX) && is_dead_bot_lock(&dir, file)? {
                    dir.remove(file)?;
                    done.push(Recovered::Removed {
                        path: dir.join(file),
                    });
                }
            }
            dir.sync()?;
        }
        Ok(done)
    }
}

/// What identifies a file left alone in the log-once set: device, inode, size.
fn stat_key(stat: &nix::sys::stat::FileStat) -> (u64, u64, u64) {
    #[allow(clippy::useless_conversion)] // dev_t and ino_t are u64 on some targets only
    (
        u64::from(stat.st_dev),
        u64::from(stat.st_ino),
        u64::try_from(stat.st_size).unwrap_or(0),
    )
}

/// A name smsd would send: visible, not a lock file.
fn is_candidate_name(name: &str) -> bool {
    !name.starts_with('.') && !name.ends_with(LOCK_SUFFIX)
}

/// A `.LOCK` this program wrote whose process no longer runs. Read from one descriptor,
/// never blocking: a FIFO or a link under a `.LOCK` name is not the bot's.
fn is_dead_bot_lock(dir: &SpoolDir, name: &str) -> Result<bool, SpoolError> {
    let Opened::File(mut file) = dir.open_regular(name, MAX_LOCK_BYTES, Whose::Bots)? else {
        return Ok(false);
    };
    let Ok(Ok(bytes)) = file.read_all() else {
        return Ok(false);
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut words = text.split_whitespace();
    Ok(
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
        },
    )
}

/// Renames `from` back to `name`; if a new file of that name arrived meanwhile, to
/// `name.N` (never replacing a file). Returns the path it has now.
fn return_to_folder(dir: &SpoolDir, from: &str, name: &str) -> Result<PathBuf, SpoolError> {
    let mut target = name.to_string();
    for n in 1..=1000 {
        if dir.rename_no_replace(from, dir, &target)? {
            return Ok(dir.join(&target));
        }
        target = format!("{name}.{n}");
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
    use std::fs::File;
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
            left_alone: Arc::default(),
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
                std::fs::write(claim.dir.join(&hidden(&claim.name, SENT)), bytes).unwrap();
            }
            if stop_after >= 4 {
                std::fs::remove_file(claim.dir.join(&claim.current_name())).unwrap();
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
        std::fs::write(claim.dir.join(&hidden(&claim.name, "sent-tmp")), "half").unwrap();
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

    /// Runs `f` on a thread and fails (instead of hanging the suite) when it has not
    /// returned within a few seconds: a FIFO opened for reading blocks until a writer
    /// comes.
    fn within_seconds<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("{what} blocked for 5 s"))
    }

    fn root_only_secret(s: &Spool) -> PathBuf {
        let secret = s._dir.path().join("secret");
        std::fs::write(&secret, "To: 4915199999999\n\nroot:$6$hash:19000::::::\n").unwrap();
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        secret
    }

    #[test]
    fn a_file_swapped_for_a_link_after_the_scan_is_never_read_through_it() {
        let s = spool(true);
        let secret = root_only_secret(&s);
        let file = s.outbox.outgoing.join("m");
        std::fs::write(&file, "To: 491721234567\n\nharmless").unwrap();
        assert_eq!(s.outbox.pending().unwrap(), vec![file.clone()]);
        // The writer swaps the file for a link between the scan and the claim.
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(&secret, &file).unwrap();
        assert!(s.outbox.claim(&file).unwrap().is_none());
        assert!(
            std::fs::symlink_metadata(&file)
                .unwrap()
                .file_type()
                .is_symlink(),
            "left where it was"
        );
        assert_eq!(names(&s.outbox.outgoing), ["m"]);
        assert!(s.outbox.pending().unwrap().is_empty(), "never a candidate");
    }

    #[test]
    fn a_file_swapped_for_a_fifo_after_the_scan_does_not_block_the_claim() {
        let s = spool(true);
        let file = s.outbox.outgoing.join("m");
        std::fs::write(&file, "To: 491721234567\n\nharmless").unwrap();
        assert_eq!(s.outbox.pending().unwrap(), vec![file.clone()]);
        std::fs::remove_file(&file).unwrap();
        nix::unistd::mkfifo(&file, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
        let outbox = s.outbox.clone();
        let claimed = within_seconds("claiming a FIFO", move || {
            outbox.claim(&file).unwrap().is_none()
        });
        assert!(claimed, "a FIFO is not claimed");
        assert_eq!(names(&s.outbox.outgoing), ["m"]);
    }

    #[test]
    fn a_fifo_named_like_a_lock_does_not_block_recovery() {
        let s = spool(true);
        let lock = s.outbox.outgoing.join("m.LOCK");
        nix::unistd::mkfifo(&lock, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
        let outbox = s.outbox.clone();
        let recovered = within_seconds("recovering past a FIFO .LOCK", move || {
            outbox.recover().unwrap()
        });
        assert!(recovered.is_empty(), "{recovered:?}");
        assert!(lock.exists(), "not the bot's lock: left alone");
    }

    #[test]
    fn a_planted_decided_link_never_copies_its_target_into_sent() {
        let s = spool(true);
        let secret = root_only_secret(&s);
        std::os::unix::fs::symlink(&secret, s.outbox.outgoing.join(".x.sim7600-sent")).unwrap();
        let rec = s.outbox.recover().unwrap();
        assert_eq!(
            rec,
            [Recovered::Finished {
                name: "x".into(),
                to: None
            }]
        );
        assert!(names(s.outbox.sent.as_ref().unwrap()).is_empty());
        assert!(names(&s.outbox.outgoing).is_empty(), "the link is removed");
        assert!(secret.exists(), "its target untouched");
    }

    #[test]
    fn a_planted_decided_link_with_sent_on_another_file_system_is_not_copied() {
        let s = spool(true);
        let secret = root_only_secret(&s);
        // /dev/shm is a tmpfs: another file system than the temporary folder's.
        let other = tempfile::tempdir_in("/dev/shm")
            .expect("this test needs /dev/shm (a tmpfs) for a sent/ on another file system");
        let mut outbox = s.outbox.clone();
        outbox.sent = Some(other.path().to_path_buf());
        let dev = |p: &Path| std::os::unix::fs::MetadataExt::dev(&std::fs::metadata(p).unwrap());
        assert_ne!(
            dev(&outbox.outgoing),
            dev(other.path()),
            "/dev/shm and {} are one file system: this test needs two",
            outbox.outgoing.display()
        );
        std::os::unix::fs::symlink(&secret, outbox.outgoing.join(".x.sim7600-sent")).unwrap();
        outbox.recover().unwrap();
        assert!(names(other.path()).is_empty(), "nothing copied into sent/");
        // A decided file the bot wrote is copied across as before.
        let file = outbox.outgoing.join("ok");
        std::fs::write(&file, "To: 49\n\nx").unwrap();
        let claim = outbox.claim(&file).unwrap().unwrap();
        let to = outbox.complete(claim, &sent()).unwrap().unwrap();
        assert_eq!(to, other.path().join("ok"));
        assert!(std::fs::read_to_string(&to).unwrap().ends_with("\n\nx"));
    }

    #[test]
    fn a_file_larger_than_an_sms_file_can_be_is_left_alone_unread() {
        let s = spool(true);
        let file = s.outbox.outgoing.join("big");
        let mut bytes = b"To: 491721234567\n\n".to_vec();
        let limit = crate::spool::outgoing::MAX_OUTGOING_BYTES;
        bytes.resize(usize::try_from(limit).unwrap() + 1, b'x');
        std::fs::write(&file, &bytes).unwrap();
        assert!(s.outbox.pending().unwrap().is_empty());
        assert!(s.outbox.claim(&file).unwrap().is_none());
        assert_eq!(names(&s.outbox.outgoing), ["big"]);
        assert!(names(s.outbox.failed.as_ref().unwrap()).is_empty());
        assert_eq!(std::fs::read(&file).unwrap(), bytes, "untouched");
    }

    #[test]
    fn a_hard_link_to_another_file_is_left_alone_unread() {
        let s = spool(true);
        let secret = root_only_secret(&s);
        let file = s.outbox.outgoing.join("m");
        std::fs::hard_link(&secret, &file).unwrap();
        assert!(s.outbox.pending().unwrap().is_empty());
        assert!(s.outbox.claim(&file).unwrap().is_none());
        assert_eq!(names(&s.outbox.outgoing), ["m"]);
    }

    #[test]
    fn a_file_swapped_between_its_read_and_its_claim_is_put_back_unread() {
        let s = spool(true);
        let path = s.outbox.outgoing.join("m");
        std::fs::write(&path, "To: 491721234567\n\nread").unwrap();
        let dir = SpoolDir::open(&s.outbox.outgoing).unwrap();
        let (file, raw) = s.outbox.read_once(&dir, "m", &path).unwrap().unwrap();
        assert_eq!(raw, b"To: 491721234567\n\nread");
        // Swapped for another file after the read, before the rename.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "To: 4915199999999\n\nswapped in").unwrap();
        assert!(!s.outbox.hide_if_same(&dir, "m", &file, &path).unwrap());
        assert_eq!(names(&s.outbox.outgoing), ["m"]);
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .ends_with("swapped in"),
            "put back as it was"
        );
        // Not swapped: claimed.
        let (file, _) = s.outbox.read_once(&dir, "m", &path).unwrap().unwrap();
        assert!(s.outbox.hide_if_same(&dir, "m", &file, &path).unwrap());
        assert_eq!(names(&s.outbox.outgoing), [".m.sim7600-claimed"]);
    }

    #[test]
    fn hidden_names_split_into_name_and_stage() {
        assert_eq!(parse_hidden(".a.b.sim7600-sent"), Some(("a.b", "sent")));
        assert_eq!(parse_hidden(".x.sim7600-sent-tmp"), Some(("x", "sent-tmp")));
        assert_eq!(parse_hidden(".plain"), None);
        assert_eq!(parse_hidden("visible.sim7600-sent"), None);
    }
}
