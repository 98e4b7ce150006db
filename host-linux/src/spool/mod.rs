//! The smstools spool, seen from the voice bot: while the bot owns the port, smsd's
//! folders keep working, so no SMS is lost because a voice call was possible.
//!
//! This module owns everything the bot's single port writer needs to stand in for smsd
//! on its folders, as self-contained pieces with no port I/O of their own:
//! - [`bridge`]: all of it as the bot's single port writer uses it ([`SpoolBridge`]);
//! - [`conf`]: smsd.conf read the way smsd reads it (folders, modems), so both agree, and
//!   the table of its keys the bot follows or names in a warning ([`conf::KEYS`]);
//! - [`eventhandler`]: smsd's `eventhandler`, run for every file the bot writes or moves,
//!   off the port loop, bounded, drained when the bot stops;
//! - [`incoming`]: a received SMS written into incoming/ in smsd 3.1.21's exact format,
//!   atomically (temporary name, fsync, rename, fsync of the folder);
//! - [`outgoing`]: smsd's outgoing file format (headers, charsets) and the sent/ and
//!   failed/ files smsd writes, as pure functions;
//! - [`outbox`]: claiming a file from outgoing/ or checked/ under smsd's `.LOCK`
//!   convention and completing it, crash-safe (see its docs for the guarantees);
//! - [`receive`]: which SIM slots a received message came from, so a part is deleted
//!   from the SIM only after its whole message is in incoming/;
//! - [`safe_fs`]: every file access in smsd's folders, opened once without following a
//!   link or blocking, judged by `fstat` on the descriptor, created with `O_EXCL`, so that
//!   whoever may write into the spool cannot steer the bot (which runs as root);
//! - [`report`]: the file smsd writes into incoming/ for a status report;
//! - [`watch`]: inotify on outgoing/ and checked/, no polling;
//! - [`charset`]: ISO-8859-15, smsd's 8-bit charset.
//!
//! docs/spool.md states the delivery guarantees.

pub mod bridge;
pub mod charset;
pub mod conf;
pub mod eventhandler;
pub mod incoming;
pub mod outbox;
pub mod outgoing;
pub mod queue;
pub mod receive;
pub mod report;
pub mod safe_fs;
pub mod sms;
pub mod watch;

use std::path::{Path, PathBuf};

pub use bridge::{DeliveredSms, SpoolBridge, SpoolJob, WatchThread};
pub use conf::{DEFAULT_SMSD_CONF, ModemSection, SmsdConf};
pub use incoming::{
    Delivery, Inbox, IncomingText, ModemIdentity, PartsMeta, ReceivedSms, SpoolTime,
    render_incoming,
};
pub use outbox::{Claim, ClaimStage, Outbox, Recovered};
pub use outgoing::{
    OutgoingAlphabet, OutgoingMessage, Recipient, SendOutcome, render_failed, render_sent,
};
pub use receive::{ReadyMessage, SimReader};
pub use watch::{SpoolWatcher, WatchEvent};

/// Why a spool operation failed. Every message names the file or folder.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot read", "cannot rename into", ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// smsd.conf cannot be used (line 0: the file as a whole).
    #[error("smstools configuration {}{}: {problem}", file.display(), line_suffix(*line))]
    Conf {
        /// The file.
        file: PathBuf,
        /// The line (1-based), 0 when the problem is not on one line.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// An outgoing file cannot be sent as it is (it goes to failed/ with this reason).
    #[error("outgoing file {}: {reason}", file.display())]
    BadOutgoing {
        /// The file.
        file: PathBuf,
        /// smsd's wording where smsd has one ("No destination").
        reason: String,
    },
    /// inotify failed.
    #[error("cannot watch {}: {source}", path.display())]
    Watch {
        /// The folder.
        path: PathBuf,
        /// What the OS said.
        source: nix::Error,
    },
}

impl From<crate::platform::durable::DurableError> for SpoolError {
    fn from(e: crate::platform::durable::DurableError) -> Self {
        SpoolError::Io {
            action: e.step.action(),
            path: e.path,
            source: e.source,
        }
    }
}

fn line_suffix(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(", line {line}")
    }
}

impl SpoolError {
    /// A closure for `map_err` that wraps an io::Error with its action and path.
    pub fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError {
        let path = path.to_path_buf();
        move |source| SpoolError::Io {
            action,
            path,
            source,
        }
    }

    /// The same, for nix errors.
    pub fn nix(action: &'static str, path: &Path) -> impl FnOnce(nix::Error) -> SpoolError {
        let path = path.to_path_buf();
        move |e| SpoolError::Io {
            action,
            path,
            source: std::io::Error::from(e),
        }
    }
}
