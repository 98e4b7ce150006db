//! The restore marker: a small JSON file (default under /run/sim7600/) written when a
//! lease is acquired and removed once smstools is back, naming the port, the owner
//! (pid + start time, so a reused pid is not mistaken for the owner), the backend and
//! exactly what was done to smstools. It is the memory for the exits no destructor
//! survives (SIGKILL, OOM, power loss of the process): `sim7600 restore` (systemd's
//! ExecStopPost) and every `sim7600` command that touches the port read it, and undo
//! what a dead owner did. A marker whose owner lives is left alone.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::HandoffError;
use super::backend::{BackendSpec, Stopped};
use crate::platform::durable::{self, NewFile};
use crate::platform::holders;

/// The marker folder unless the config names another.
pub const DEFAULT_MARKER_DIR: &str = "/run/sim7600";
/// The version of the marker format this build writes and reads.
pub const MARKER_VERSION: u32 = 1;
/// Every marker's name ends so.
pub const MARKER_SUFFIX: &str = ".lease.json";
/// How a marker file is created: for root (or the bot's user) only.
const MARKER_FILE: NewFile = NewFile::mode(0o600);

/// What a lease owner did to smstools, on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marker {
    /// Format version ([`MARKER_VERSION`]).
    pub version: u32,
    /// The port as the owner named it.
    pub port: PathBuf,
    /// The owner's pid.
    pub owner_pid: u32,
    /// The owner's start time (field 22 of /proc/PID/stat).
    pub owner_start_time: u64,
    /// The owner's command name, for people.
    pub owner_command: String,
    /// Whether smstools was serving the port before; if not, there is nothing to restore.
    pub smstools_was_active: bool,
    /// What the owner does (or did) to take smstools off: what a restore must undo.
    pub stopped: Option<Stopped>,
    /// The backend that did it.
    pub backend: BackendSpec,
}

/// What the owner of a marker is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerVerdict {
    /// The owner still runs: leave its marker alone.
    Alive,
    /// The owner is gone (no such pid, or the pid now names another process): restore.
    Gone,
}

/// Decides whether a marker's owner lives, given the start time of the process that now
/// has its pid (`None`: no such process).
pub fn owner_verdict(marker: &Marker, start_time_of_pid_now: Option<u64>) -> OwnerVerdict {
    match start_time_of_pid_now {
        Some(t) if t == marker.owner_start_time => OwnerVerdict::Alive,
        _ => OwnerVerdict::Gone,
    }
}

/// The marker file for a port in `dir`: the port path with every character outside
/// `A-Z a-z 0-9 . _ -` made `_`.
pub fn marker_path(dir: &Path, port: &Path) -> PathBuf {
    let name: String = port
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{}{MARKER_SUFFIX}", name.trim_start_matches('_')))
}

impl Marker {
    /// Whether its owner lives, looked up in /proc now.
    pub fn owner_now(&self) -> OwnerVerdict {
        let now = i32::try_from(self.owner_pid)
            .ok()
            .and_then(holders::start_time);
        owner_verdict(self, now)
    }

    /// Reads a marker; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<Marker>, HandoffError> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(HandoffError::Marker {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let marker: Marker =
            serde_json::from_str(&text).map_err(|e| HandoffError::MarkerCorrupt {
                path: path.to_path_buf(),
                problem: e.to_string(),
            })?;
        if marker.version != MARKER_VERSION {
            return Err(HandoffError::MarkerCorrupt {
                path: path.to_path_buf(),
                problem: format!(
                    "version {} (this sim7600 reads {MARKER_VERSION})",
                    marker.version
                ),
            });
        }
        Ok(Some(marker))
    }

    /// Writes a new marker durably and exclusively ([`durable::create_file`]): a complete
    /// temporary file is put in place only if no marker has that name; a reader never
    /// sees half a marker and two owners never both believe they wrote it.
    pub fn create(&self, path: &Path) -> Result<(), HandoffError> {
        let err = |source| HandoffError::Marker {
            path: path.to_path_buf(),
            source,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(err)?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| err(io::Error::other(e)))?;
        durable::create_file(path, &json, MARKER_FILE).map_err(HandoffError::MarkerWrite)
    }
}

/// Removes a marker; one already gone is fine.
pub fn remove_marker(path: &Path) -> Result<(), HandoffError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(HandoffError::Marker {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Every marker file in `dir` (none when the folder does not exist).
pub fn markers_in(dir: &Path) -> Result<Vec<PathBuf>, HandoffError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(HandoffError::Marker {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(MARKER_SUFFIX))
        .collect();
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(pid: u32, start: u64) -> Marker {
        Marker {
            version: MARKER_VERSION,
            port: "/dev/ttyUSB2".into(),
            owner_pid: pid,
            owner_start_time: start,
            owner_command: "sim7600".into(),
            smstools_was_active: true,
            stopped: Some(Stopped::Service),
            backend: BackendSpec::default(),
        }
    }

    #[test]
    fn an_owner_with_the_same_pid_and_start_time_lives() {
        assert_eq!(
            owner_verdict(&marker(10, 500), Some(500)),
            OwnerVerdict::Alive
        );
    }

    #[test]
    fn an_owner_whose_pid_is_gone_is_gone() {
        assert_eq!(owner_verdict(&marker(10, 500), None), OwnerVerdict::Gone);
    }

    #[test]
    fn a_reused_pid_is_not_the_owner() {
        assert_eq!(
            owner_verdict(&marker(10, 500), Some(9_000)),
            OwnerVerdict::Gone
        );
    }

    #[test]
    fn this_process_as_owner_is_alive_in_proc() {
        let me = std::process::id();
        let start = holders::start_time(me as i32).unwrap();
        assert_eq!(marker(me, start).owner_now(), OwnerVerdict::Alive);
        assert_eq!(marker(me, start + 1).owner_now(), OwnerVerdict::Gone);
    }

    #[test]
    fn marker_names_are_safe_file_names_per_port() {
        let d = Path::new("/run/sim7600");
        assert_eq!(
            marker_path(d, Path::new("/dev/ttyUSB2")),
            d.join("dev_ttyUSB2.lease.json")
        );
        assert_eq!(
            marker_path(d, Path::new("/dev/serial/by-id/usb-SimTech..x")),
            d.join("dev_serial_by-id_usb-SimTech..x.lease.json")
        );
    }

    #[test]
    fn a_marker_round_trips_and_a_second_create_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = marker_path(dir.path(), Path::new("/dev/ttyUSB2"));
        let m = marker(77, 1234);
        m.create(&path).unwrap();
        assert_eq!(Marker::read(&path).unwrap(), Some(m.clone()));
        assert!(m.create(&path).is_err());
        assert_eq!(markers_in(dir.path()).unwrap(), vec![path.clone()]);
        remove_marker(&path).unwrap();
        remove_marker(&path).unwrap();
        assert_eq!(Marker::read(&path).unwrap(), None);
    }

    #[test]
    fn a_corrupt_marker_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lease.json");
        fs::write(&path, "{not json").unwrap();
        let err = Marker::read(&path).unwrap_err().to_string();
        assert!(err.contains("x.lease.json"), "{err}");
    }

    #[test]
    fn a_missing_marker_folder_holds_no_markers() {
        assert!(markers_in(Path::new("/no/such/dir")).unwrap().is_empty());
    }
}
