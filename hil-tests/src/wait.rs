//! Bounded waits for the things a scenario waits on: a process holding or releasing the
//! port, a process exiting, a file appearing in a spool folder. Each wait re-checks at a
//! short fixed interval and gives up at its timeout with an error naming what it awaited;
//! the thread sleeps between checks (no busy-waiting).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::RigError;

/// How often a wait re-checks its condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Waits until `check` returns `Some`, at most `timeout`; `what` names it in the error.
pub fn wait_for<T>(
    what: impl Into<String>,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, RigError> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if Instant::now() >= end {
            return Err(RigError::Timeout {
                what: what.into(),
                waited: timeout,
            });
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Whether process `pid` exists and is not a zombie (a zombie has exited: it only waits
/// for its parent to collect the status).
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits until process `pid` has exited.
pub fn wait_until_exited(pid: i32, timeout: Duration) -> Result<(), RigError> {
    wait_for(format!("process {pid} to exit"), timeout, || {
        (!process_alive(pid)).then_some(())
    })
}

/// The processes that have `port` open (what `lsof PORT` tells), found in /proc/*/fd.
/// `port` may be a symlink; what counts is the device it resolves to.
pub fn holders_of(port: &Path) -> Vec<i32> {
    let Ok(device) = std::fs::canonicalize(port) else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == device))
        {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids
}

/// Waits until some process other than this one holds `port`; returns the holders.
pub fn wait_until_port_held(port: &Path, timeout: Duration) -> Result<Vec<i32>, RigError> {
    let me = std::process::id() as i32;
    wait_for(
        format!("a process to open {}", port.display()),
        timeout,
        || {
            let others: Vec<i32> = holders_of(port).into_iter().filter(|p| *p != me).collect();
            (!others.is_empty()).then_some(others)
        },
    )
}

/// Waits until no process other than this one holds `port`.
pub fn wait_until_port_free(port: &Path, timeout: Duration) -> Result<(), RigError> {
    let me = std::process::id() as i32;
    wait_for(
        format!("every process to close {}", port.display()),
        timeout,
        || holders_of(port).iter().all(|p| *p == me).then_some(()),
    )
}

/// Waits until a file (not a hidden one, nor an smsd `*.LOCK`) appears in `dir` and is
/// complete; returns its path. Complete means not empty and the same size at two checks in a row: smsd writes
/// incoming files in place, so a file can be seen half-written.
pub fn wait_for_file_in(dir: &Path, timeout: Duration) -> Result<PathBuf, RigError> {
    wait_for_file_named(dir, timeout, |_| true)
}

/// [`wait_for_file_in`] for files whose name `accept` takes.
pub fn wait_for_file_named(
    dir: &Path,
    timeout: Duration,
    accept: impl Fn(&str) -> bool,
) -> Result<PathBuf, RigError> {
    let mut last: Option<(PathBuf, u64)> = None;
    wait_for(format!("a file in {}", dir.display()), timeout, || {
        let mut files: Vec<(PathBuf, u64)> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                !name.starts_with('.') && !name.ends_with(".LOCK") && accept(&name)
            })
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                m.is_file().then(|| (e.path(), m.len()))
            })
            .collect();
        files.sort();
        let first = files.into_iter().next()?;
        let stable = first.1 > 0 && last.as_ref() == Some(&first);
        last = Some(first.clone());
        stable.then_some(first.0)
    })
}

/// Waits until `path` exists.
pub fn wait_for_path(path: &Path, timeout: Duration) -> Result<(), RigError> {
    wait_for(format!("{} to appear", path.display()), timeout, || {
        path.exists().then_some(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_process_is_alive_and_a_reaped_one_is_not() {
        assert!(process_alive(std::process::id() as i32));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert!(!process_alive(pid));
        wait_until_exited(pid, Duration::from_millis(100)).unwrap();
    }

    #[test]
    fn an_exited_but_unreaped_child_counts_as_exited() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        wait_until_exited(pid, Duration::from_secs(5)).unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_wait_that_runs_out_names_what_it_waited_for() {
        let e = wait_for("the moon", Duration::from_millis(30), || None::<()>).unwrap_err();
        assert_eq!(e.to_string(), "waited 30ms for the moon");
    }

    #[test]
    fn a_file_dropped_into_a_folder_is_found_and_hidden_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".partial"), "x").unwrap();
        assert!(wait_for_file_in(dir.path(), Duration::from_millis(50)).is_err());
        std::fs::write(dir.path().join("GSM1.x"), "x").unwrap();
        assert_eq!(
            wait_for_file_in(dir.path(), Duration::from_millis(50)).unwrap(),
            dir.path().join("GSM1.x")
        );
    }
}
