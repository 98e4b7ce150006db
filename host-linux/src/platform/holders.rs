//! Who holds a tty: the processes with an open descriptor on it, found by scanning
//! `/proc/*/fd` (what `lsof /dev/ttyUSB2` tells, without lsof), and the little facts about
//! a process the handoff needs from `/proc` (command name, start time, liveness).
//!
//! The port is named by any path (a udev symlink such as `/dev/serial/by-id/...` or the
//! simulator's link to `/dev/pts/N`); it is resolved before the comparison, because the
//! kernel shows the real node in `/proc/PID/fd`. Processes that vanish during the scan are
//! skipped: the scan is a snapshot, not a lock. Processes whose descriptors this user may
//! not read (another user's, without root) are counted ([`HolderScan::hidden`]): a scan
//! with hidden processes cannot say that nobody else holds the port.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Where the kernel shows the processes.
pub const PROC_ROOT: &str = "/proc";

/// A process that has the port open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// Its process id.
    pub pid: i32,
    /// Its command name (`/proc/PID/comm`), or `?` when it could not be read.
    pub command: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} ({})", self.pid, self.command)
    }
}

/// Why the holders of a port could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum HoldersError {
    /// The port's path does not resolve (no such device, or a dangling symlink).
    #[error("cannot resolve port {port}: {source}")]
    Resolve {
        /// The path asked about.
        port: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// `/proc` itself could not be read.
    #[error("cannot list {root}: {source}")]
    Proc {
        /// The proc root that failed.
        root: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
}

/// What a scan of `/proc` found for one port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HolderScan {
    /// The processes seen holding the port, sorted by pid.
    pub holders: Vec<Holder>,
    /// How many processes' descriptors could not be read (permission denied): any of
    /// them may hold the port too.
    pub hidden: u32,
}

/// The processes that hold `port` open, sorted by pid (those this user may see; see
/// [`scan`] for how many it may not).
pub fn holders_of(port: &Path) -> Result<Vec<Holder>, HoldersError> {
    scan(port).map(|s| s.holders)
}

/// The processes that hold `port` open, and how many processes could not be looked at.
pub fn scan(port: &Path) -> Result<HolderScan, HoldersError> {
    let target = fs::canonicalize(port).map_err(|source| HoldersError::Resolve {
        port: port.to_path_buf(),
        source,
    })?;
    scan_in(Path::new(PROC_ROOT), &target)
}

/// The processes under `proc_root` with a descriptor whose link reads `target` (an
/// already resolved path), sorted by pid.
pub fn holders_in(proc_root: &Path, target: &Path) -> Result<Vec<Holder>, HoldersError> {
    scan_in(proc_root, target).map(|s| s.holders)
}

/// [`scan`] under `proc_root`, for an already resolved `target`.
pub fn scan_in(proc_root: &Path, target: &Path) -> Result<HolderScan, HoldersError> {
    let entries = fs::read_dir(proc_root).map_err(|source| HoldersError::Proc {
        root: proc_root.to_path_buf(),
        source,
    })?;
    let mut holders = Vec::new();
    let mut hidden = 0u32;
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(parse_pid) else {
            continue;
        };
        let fds = match fs::read_dir(entry.path().join("fd")) {
            Ok(fds) => fds,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                hidden = hidden.saturating_add(1);
                continue;
            }
            // Gone since the listing: a snapshot skips it.
            Err(_) => continue,
        };
        let holds = fds
            .flatten()
            .filter_map(|fd| fs::read_link(fd.path()).ok())
            .any(|link| fd_link_is(&link, target));
        if holds {
            holders.push(Holder {
                pid,
                command: command_name_in(proc_root, pid).unwrap_or_else(|| "?".to_owned()),
            });
        }
    }
    holders.sort_by_key(|h| h.pid);
    Ok(HolderScan { holders, hidden })
}

/// A `/proc` directory name that is a process id.
fn parse_pid(name: &str) -> Option<i32> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok().filter(|pid| *pid > 0)
}

/// Whether a descriptor's link names `target`. The kernel appends ` (deleted)` to a node
/// removed while open (a pty whose simulator went away); it still names the same device
/// for the holder's purposes.
pub fn fd_link_is(link: &Path, target: &Path) -> bool {
    if link == target {
        return true;
    }
    match (link.to_str(), target.to_str()) {
        (Some(l), Some(t)) => l.strip_suffix(" (deleted)") == Some(t),
        _ => false,
    }
}

/// The command name of a live process, `None` when it is gone.
pub fn command_name(pid: i32) -> Option<String> {
    command_name_in(Path::new(PROC_ROOT), pid)
}

fn command_name_in(proc_root: &Path, pid: i32) -> Option<String> {
    let comm = fs::read_to_string(proc_root.join(pid.to_string()).join("comm")).ok()?;
    Some(comm.trim_end_matches('\n').to_owned())
}

/// The start time of a live process (clock ticks since boot, field 22 of
/// `/proc/PID/stat`), `None` when it is gone. With the pid it names one process even
/// across pid reuse.
pub fn start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = fs::read_to_string(Path::new(PROC_ROOT).join(pid.to_string()).join("stat")).ok()?;
    parse_stat_start_time(&stat)
}

/// Field 22 (`starttime`) of a `/proc/PID/stat` line. The command name (field 2) is in
/// parentheses and may itself hold spaces and parentheses, so the count starts after the
/// last `)`.
pub fn parse_stat_start_time(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the comm come field 3 (state) .. ; starttime is field 22, the 20th of these.
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// Whether a process with this pid exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match fs::read_to_string(Path::new(PROC_ROOT).join(pid.to_string()).join("stat")) {
        Ok(stat) => parse_stat_state(&stat).is_some_and(|s| s != 'Z' && s != 'X'),
        Err(_) => false,
    }
}

/// Field 3 (`state`) of a `/proc/PID/stat` line.
pub fn parse_stat_state(stat: &str) -> Option<char> {
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    const STAT: &str = "4242 (smsd) S 1 4242 4242 0 -1 4194624 250 0 0 0 1 2 0 0 20 0 1 0 987654 11111 222 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn start_time_is_field_22_of_stat() {
        assert_eq!(parse_stat_start_time(STAT), Some(987_654));
        assert_eq!(parse_stat_state(STAT), Some('S'));
    }

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let stat = STAT.replace("(smsd)", "(my (odd) cmd)");
        assert_eq!(parse_stat_start_time(&stat), Some(987_654));
    }

    #[test]
    fn a_truncated_stat_line_gives_no_start_time() {
        assert_eq!(parse_stat_start_time("4242 (smsd) S 1 4242"), None);
        assert_eq!(parse_stat_start_time("garbage"), None);
    }

    #[test]
    fn only_numeric_proc_entries_are_processes() {
        assert_eq!(parse_pid("1234"), Some(1234));
        assert_eq!(parse_pid("self"), None);
        assert_eq!(parse_pid(""), None);
        assert_eq!(parse_pid("0"), None);
        assert_eq!(parse_pid("12a"), None);
    }

    #[test]
    fn a_deleted_node_still_names_the_device() {
        let t = Path::new("/dev/pts/7");
        assert!(fd_link_is(Path::new("/dev/pts/7"), t));
        assert!(fd_link_is(Path::new("/dev/pts/7 (deleted)"), t));
        assert!(!fd_link_is(Path::new("/dev/pts/70"), t));
    }

    #[test]
    fn this_process_is_alive_and_has_a_start_time() {
        let me = std::process::id() as i32;
        assert!(is_alive(me));
        assert!(start_time(me).is_some());
        assert!(!is_alive(-1));
    }

    #[test]
    fn a_child_that_opens_a_pty_through_a_symlink_is_named_as_its_holder() {
        let pty = nix::pty::openpty(None, None).unwrap();
        let slave = nix::unistd::ttyname(&pty.slave).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("ttyUSB2");
        std::os::unix::fs::symlink(&slave, &link).unwrap();
        // Nothing else has this fresh pty open but this test itself.
        let before = holders_of(&link).unwrap();
        let me = std::process::id() as i32;
        assert!(before.iter().all(|h| h.pid == me), "{before:?}");

        let mut child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::from(fs::File::open(&link).unwrap()))
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let found = holders_of(&link).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let holder = found.iter().find(|h| h.pid == pid);
        assert_eq!(
            holder.map(|h| h.command.as_str()),
            Some("sleep"),
            "{found:?}"
        );
        let after = holders_of(&link).unwrap();
        assert!(after.iter().all(|h| h.pid != pid), "{after:?}");
    }

    #[test]
    fn a_process_whose_descriptors_cannot_be_read_is_counted_as_hidden() {
        // A fake /proc: pid 10 holds the port, pid 11's fd folder has mode 0 (refused,
        // except to root, who passes any mode), pid 12 vanished (no fd folder: not
        // counted). The rig's status scenario runs as `nobody` against the real /proc.
        use std::os::unix::fs::PermissionsExt;
        let proc_root = tempfile::tempdir().unwrap();
        let target = Path::new("/dev/pts/77");
        let fd10 = proc_root.path().join("10/fd");
        fs::create_dir_all(&fd10).unwrap();
        std::os::unix::fs::symlink(target, fd10.join("3")).unwrap();
        fs::write(proc_root.path().join("10/comm"), "smsd\n").unwrap();
        let fd11 = proc_root.path().join("11/fd");
        fs::create_dir_all(&fd11).unwrap();
        fs::set_permissions(&fd11, fs::Permissions::from_mode(0o000)).unwrap();
        fs::create_dir_all(proc_root.path().join("12")).unwrap();
        let scan = scan_in(proc_root.path(), target).unwrap();
        fs::set_permissions(&fd11, fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            scan.holders,
            vec![Holder {
                pid: 10,
                command: "smsd".into()
            }]
        );
        let root = nix::unistd::geteuid().is_root();
        assert_eq!(scan.hidden, if root { 0 } else { 1 }, "{scan:?}");
    }

    #[test]
    fn a_missing_port_is_an_error_naming_it() {
        let err = holders_of(Path::new("/dev/no-such-tty-here")).unwrap_err();
        assert!(err.to_string().contains("/dev/no-such-tty-here"), "{err}");
    }
}
