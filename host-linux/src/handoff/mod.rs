//! The one place that takes the port from smstools and gives it back.
//!
//! [`backend`] knows the three ways to stop and start smstools (systemctl, smsd's
//! suspend file, custom commands); [`marker`] keeps the on-disk memory that lets a later
//! process undo what a killed one did; [`lease`] puts them together as [`PortLease`], the
//! guard whose every exit path (explicit release, drop, unwinding panic, signal) gives
//! smstools back; [`run`] runs the backends' programs with a bounded wait. The decisions
//! (is a marker stale, what to undo, how long to wait next) are pure functions with unit
//! tests; the I/O around them is thin.

pub mod backend;
pub mod lease;
pub mod marker;
pub mod port_wait;
pub mod restore;
pub mod run;

use std::path::PathBuf;
use std::time::Duration;

pub use backend::{Backend, BackendSpec, Stopped, UnitName};
pub use lease::{
    HandoffTimeouts, LeaseSettings, PortLease, Released, restore_stale_markers,
    restore_stale_markers_with,
};
pub use marker::{DEFAULT_MARKER_DIR, Marker, OwnerVerdict};

use crate::platform::durable::DurableError;
use crate::platform::holders::{Holder, HoldersError};
use crate::platform::link::LinkError;

/// Why the port could not be taken or smstools could not be given back. Each message
/// names the port, the holder, the command or the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// A backend command was configured empty.
    #[error("a handoff command is empty")]
    EmptyCommand,
    /// A backend program could not be started.
    #[error("cannot run `{argv}`: {source}")]
    Spawn {
        /// The command line.
        argv: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A backend program exited with a failure.
    #[error("`{argv}` failed ({status}){}", quote_output(output))]
    CommandFailed {
        /// The command line.
        argv: String,
        /// How it ended.
        status: String,
        /// The tail of what it printed.
        output: String,
    },
    /// A backend program did not end in time and was killed.
    #[error("`{argv}` did not finish within {} ms and was killed", after.as_millis())]
    CommandTimeout {
        /// The command line.
        argv: String,
        /// The bound.
        after: Duration,
    },
    /// smstools still serves the port after the stop command succeeded.
    #[error("{what} is still active {} ms after it was stopped", waited.as_millis())]
    NotStopped {
        /// The backend's name for smstools.
        what: String,
        /// How long it was given.
        waited: Duration,
    },
    /// smstools is not active after the start command succeeded.
    #[error("{what} is not active {} ms after it was started", waited.as_millis())]
    NotStarted {
        /// The backend's name for smstools.
        what: String,
        /// How long it was given.
        waited: Duration,
    },
    /// Another process still has the port open.
    #[error("port {} is held by {} (still after {} ms)", port.display(), list_holders(holders), waited.as_millis())]
    PortHeld {
        /// The port.
        port: PathBuf,
        /// Who holds it.
        holders: Vec<Holder>,
        /// How long it was given.
        waited: Duration,
    },
    /// A live `sim7600` process holds a lease on the port.
    #[error("port {} is leased by pid {owner_pid} ({owner_command}), marker {}", port.display(), marker.display())]
    LeasedByOther {
        /// The port.
        port: PathBuf,
        /// The owner's pid.
        owner_pid: u32,
        /// The owner's command name.
        owner_command: String,
        /// Its marker.
        marker: PathBuf,
    },
    /// The holders of the port could not be listed.
    #[error(transparent)]
    Holders(#[from] HoldersError),
    /// The port could not be opened exclusively.
    #[error(transparent)]
    Open(#[from] LinkError),
    /// A restore marker (or its folder) could not be read, created or removed.
    #[error("restore marker {}: {source}", path.display())]
    Marker {
        /// The marker (or its folder).
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A restore marker could not be written (durably, or at all: a marker of that name
    /// exists, [`DurableError::is_already_exists`]).
    #[error("restore marker: {0}")]
    MarkerWrite(DurableError),
    /// A restore marker holds something this build cannot read.
    #[error("restore marker {} is unreadable: {problem}", path.display())]
    MarkerCorrupt {
        /// The marker.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// smsd's suspend file could not be read.
    #[error("smsd suspend file {}: {source}", path.display())]
    SuspendFile {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// smsd's suspend file could not be written durably.
    #[error("smsd suspend file: {0}")]
    SuspendFileWrite(DurableError),
    /// smsd's pid file is unreadable or holds no pid.
    #[error("smsd pid file {}: {problem}", path.display())]
    PidFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Taking the port failed, and giving smstools back failed as well.
    #[error("{cause}; and restoring smstools failed too: {restore}")]
    RestoreFailed {
        /// Why taking the port failed.
        cause: Box<HandoffError>,
        /// Why the restore failed.
        restore: Box<HandoffError>,
    },
}

fn quote_output(output: &str) -> String {
    if output.is_empty() {
        String::new()
    } else {
        format!(": {output}")
    }
}

fn list_holders(holders: &[Holder]) -> String {
    holders
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
