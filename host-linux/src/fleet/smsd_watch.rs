//! smsd on a port that vanished: after a re-enumeration the kernel removes the old tty,
//! and smsd, which opened it before, keeps writing into the deleted node for ever (it
//! never reopens by itself). Its descriptor then reads `/dev/ttyUSB2 (deleted)` in
//! `/proc/PID/fd`. This module finds such smsd processes; `sim7600 watch-smstools` has
//! smstools restarted through the handoff backend when it finds one.

use std::fs;
use std::path::{Path, PathBuf};

/// A process holding device nodes that no longer exist.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StaleHolder {
    /// Its pid.
    pub pid: i32,
    /// Its command name.
    pub command: String,
    /// The vanished nodes it holds.
    pub vanished: Vec<PathBuf>,
}

/// The vanished tty a descriptor link names (`/dev/ttyUSB2 (deleted)`), if it does.
pub fn vanished_tty(link: &Path) -> Option<PathBuf> {
    let text = link.to_str()?;
    let node = text.strip_suffix(" (deleted)")?;
    let name = node.strip_prefix("/dev/")?;
    (name.starts_with("tty") || name.starts_with("pts/") || name.starts_with("sim7600"))
        .then(|| PathBuf::from(node))
}

/// smsd's configuration when its command line names none.
pub const SMSD_DEFAULT_CONF: &str = "/etc/smsd.conf";

/// The configuration an smsd command line (`/proc/PID/cmdline`, NUL-separated) names:
/// `-c FILE` or `-cFILE`, else smsd's default.
pub fn conf_of_cmdline(cmdline: &[u8]) -> PathBuf {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    for (i, arg) in args.iter().enumerate() {
        if *arg == b"-c" {
            if let Some(next) = args.get(i + 1) {
                return PathBuf::from(String::from_utf8_lossy(next).into_owned());
            }
        } else if let Some(rest) = arg.strip_prefix(b"-c")
            && !rest.is_empty()
        {
            return PathBuf::from(String::from_utf8_lossy(rest).into_owned());
        }
    }
    PathBuf::from(SMSD_DEFAULT_CONF)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The processes called `command` under `proc_root`, running with the configuration
/// `conf`, that hold vanished ttys (another smsd on the host, with its own configuration,
/// is not this watcher's).
pub fn stale_holders(proc_root: &Path, command: &str, conf: &Path) -> Vec<StaleHolder> {
    let Ok(entries) = fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let comm = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let comm = comm.trim_end();
        if comm != command {
            continue;
        }
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if !same_file(&conf_of_cmdline(&cmdline), conf) {
            continue;
        }
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let mut vanished: Vec<PathBuf> = fds
            .flatten()
            .filter_map(|fd| fs::read_link(fd.path()).ok())
            .filter_map(|l| vanished_tty(&l))
            .collect();
        vanished.sort();
        vanished.dedup();
        if !vanished.is_empty() {
            out.push(StaleHolder {
                pid,
                command: comm.to_owned(),
                vanished,
            });
        }
    }
    out.sort_by_key(|h| h.pid);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn the_configuration_is_read_from_the_command_line() {
        assert_eq!(
            conf_of_cmdline(b"/usr/sbin/smsd\0-c\0/srv/a.conf\0-p\0/run/x\0"),
            PathBuf::from("/srv/a.conf")
        );
        assert_eq!(
            conf_of_cmdline(b"smsd\0-c/srv/b.conf\0"),
            PathBuf::from("/srv/b.conf")
        );
        assert_eq!(
            conf_of_cmdline(b"/usr/sbin/smsd\0-n\0MAINPROCESS\0"),
            PathBuf::from(SMSD_DEFAULT_CONF)
        );
    }

    #[test]
    fn deleted_ttys_are_told_from_live_ones_and_other_files() {
        assert_eq!(
            vanished_tty(Path::new("/dev/ttyUSB2 (deleted)")),
            Some(PathBuf::from("/dev/ttyUSB2"))
        );
        assert_eq!(
            vanished_tty(Path::new("/dev/pts/7 (deleted)")),
            Some(PathBuf::from("/dev/pts/7"))
        );
        assert_eq!(vanished_tty(Path::new("/dev/ttyUSB2")), None);
        assert_eq!(vanished_tty(Path::new("/var/log/smsd.log (deleted)")), None);
    }

    #[test]
    fn only_smsd_with_a_vanished_port_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let proc_root = dir.path();
        let mk = |pid: &str, comm: &str, links: &[&str]| {
            let p = proc_root.join(pid);
            fs::create_dir_all(p.join("fd")).unwrap();
            fs::write(p.join("comm"), format!("{comm}\n")).unwrap();
            let cmdline = if pid == "103" {
                "/usr/sbin/smsd\0-c\0/srv/other-smsd.conf\0".to_owned()
            } else {
                "/usr/sbin/smsd\0-p/run/smsd.pid\0".to_owned()
            };
            fs::write(p.join("cmdline"), cmdline).unwrap();
            for (i, l) in links.iter().enumerate() {
                symlink(l, p.join("fd").join(i.to_string())).unwrap();
            }
        };
        mk(
            "100",
            "smsd",
            &["/dev/ttyUSB2 (deleted)", "/var/log/smsd.log"],
        );
        mk("101", "smsd", &["/dev/ttyUSB7"]);
        mk("102", "minicom", &["/dev/ttyUSB3 (deleted)"]);
        // Another smsd, with its own configuration: not ours.
        mk("103", "smsd", &["/dev/ttyUSB9 (deleted)"]);
        let found = stale_holders(proc_root, "smsd", Path::new(SMSD_DEFAULT_CONF));
        assert_eq!(
            found,
            [StaleHolder {
                pid: 100,
                command: "smsd".into(),
                vanished: vec!["/dev/ttyUSB2".into()],
            }]
        );
    }
}
