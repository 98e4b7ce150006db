//! The three ways to take smstools off the port and give it back, as named in the
//! config: `systemctl` (the default), smsd's suspend file, and custom commands (SysV
//! `service smstools stop|start|status`, or the rig's scripts). A [`Backend`] answers
//! three questions only: is smstools serving the port, take it off, put it back. The
//! waiting and the bookkeeping are the lease's ([`super::lease`]).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::HandoffError;
use super::run::{run, run_ok, show_argv};
use crate::platform::durable::{self, NewFile};
use crate::platform::holders;

/// The longest systemd unit name (systemd's own limit).
pub const MAX_UNIT_NAME_LEN: usize = 255;
/// The unit the `systemctl` backend manages unless the config names another.
pub const DEFAULT_UNIT: &str = "smstools";
/// The smsd modem name whose port the suspend backend releases unless configured.
pub const DEFAULT_SMSD_DEVICE: &str = "GSM1";

/// A validated systemd unit name: the characters systemd allows (`A-Z a-z 0-9 : - _ . \ @`),
/// not starting with `-` (it would read as an option to systemctl), at most
/// [`MAX_UNIT_NAME_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitName(String);

impl UnitName {
    /// The name as systemctl takes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UnitName {
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        validate_unit_name(&name)?;
        Ok(UnitName(name))
    }
}

impl From<UnitName> for String {
    fn from(u: UnitName) -> String {
        u.0
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a string is no systemd unit name, or `Ok`.
pub fn validate_unit_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a unit name must not be empty".into());
    }
    if name.len() > MAX_UNIT_NAME_LEN {
        return Err(format!(
            "a unit name is at most {MAX_UNIT_NAME_LEN} bytes, this one has {}",
            name.len()
        ));
    }
    if name.starts_with('-') {
        return Err(format!(
            "unit name {name:?} starts with '-', systemctl would take it as an option"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ":-_.\\@".contains(*c)))
    {
        return Err(format!(
            "unit name {name:?} holds {bad:?}, allowed are A-Z a-z 0-9 : - _ . \\ @"
        ));
    }
    Ok(())
}

/// Why a string is no smsd modem name (it becomes the `NAME:` of a suspend line).
pub fn validate_smsd_device(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 32 {
        return Err(format!(
            "smsd device name {name:?} must have 1 to 32 characters"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "smsd device name {name:?} may hold only A-Z a-z 0-9 _ -"
        ));
    }
    if name == "ALL" {
        return Err(
            "smsd device name \"ALL\" would suspend every modem, name the one on the port".into(),
        );
    }
    Ok(())
}

fn default_unit() -> UnitName {
    UnitName(DEFAULT_UNIT.to_owned())
}
fn default_systemctl() -> PathBuf {
    PathBuf::from("systemctl")
}
fn default_device() -> String {
    DEFAULT_SMSD_DEVICE.to_owned()
}

/// Which backend takes smstools off the port, with its settings: the `[handoff]` table of
/// the config, and a copy in every restore marker so that a later process can undo what
/// this one did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "kebab-case", deny_unknown_fields)]
pub enum BackendSpec {
    /// `systemctl is-active|stop|start UNIT`.
    Systemctl {
        /// The smstools unit (default `smstools`).
        #[serde(default = "default_unit")]
        unit: UnitName,
        /// The systemctl program (default `systemctl`, found on PATH).
        #[serde(default = "default_systemctl")]
        systemctl: PathBuf,
    },
    /// smsd keeps running; a `NAME: reason` line in its suspend file makes it close the
    /// port, removing the line makes it reopen: at once (SIGUSR2) when the file then
    /// suspends nothing, else when smsd next looks (SIGCONT; up to its `delaytime`).
    SuspendFile {
        /// smsd's `suspend =` file.
        suspend_file: PathBuf,
        /// smsd's pid file (`-p`, Debian: /var/run/smstools/smsd.pid).
        smsd_pid_file: PathBuf,
        /// The smsd modem on the port (default `GSM1`).
        #[serde(default = "default_device")]
        device: String,
    },
    /// Three programs, each an argument vector run without a shell: `status` exits 0
    /// while smstools runs.
    Commands {
        /// Stops smstools, e.g. `["service", "smstools", "stop"]`.
        stop: Vec<String>,
        /// Starts smstools.
        start: Vec<String>,
        /// Exits 0 while smstools runs, non-zero otherwise.
        status: Vec<String>,
    },
}

impl Default for BackendSpec {
    fn default() -> Self {
        BackendSpec::Systemctl {
            unit: default_unit(),
            systemctl: default_systemctl(),
        }
    }
}

impl BackendSpec {
    /// Checks what serde cannot: non-empty argument vectors, a usable device name.
    /// The error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        match self {
            BackendSpec::Systemctl { systemctl, .. } => {
                if systemctl.as_os_str().is_empty() {
                    return Err(("systemctl".into(), "must name a program".into()));
                }
            }
            BackendSpec::SuspendFile { device, .. } => {
                validate_smsd_device(device).map_err(|e| ("device".to_owned(), e))?;
            }
            BackendSpec::Commands {
                stop,
                start,
                status,
            } => {
                for (key, argv) in [("stop", stop), ("start", start), ("status", status)] {
                    if argv.first().is_none_or(|p| p.is_empty()) {
                        return Err((
                            key.into(),
                            "must be a non-empty argument list whose first item is the program"
                                .into(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// What this backend calls smstools in messages.
    pub fn describe(&self) -> String {
        match self {
            BackendSpec::Systemctl { unit, .. } => format!("unit {unit}"),
            BackendSpec::SuspendFile {
                device,
                suspend_file,
                ..
            } => {
                format!("smsd {device} (suspend file {})", suspend_file.display())
            }
            BackendSpec::Commands { status, .. } => {
                format!("smstools (status: {})", show_argv(status))
            }
        }
    }
}

/// What [`Backend::stop`] did, so that exactly that can be undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stopped {
    /// smstools was stopped by a command: start it again.
    Service,
    /// This line was added to the suspend file: remove it (and only it).
    SuspendLine(String),
}

/// A backend with the bound for each external command.
#[derive(Debug, Clone)]
pub struct Backend {
    spec: BackendSpec,
    command_timeout: Duration,
}

impl Backend {
    /// A backend; every external program it runs is killed after `command_timeout`.
    pub fn new(spec: BackendSpec, command_timeout: Duration) -> Self {
        Backend {
            spec,
            command_timeout,
        }
    }

    /// Its settings.
    pub fn spec(&self) -> &BackendSpec {
        &self.spec
    }

    fn systemctl_argv(systemctl: &Path, verb: &str, unit: &UnitName) -> Vec<String> {
        vec![
            systemctl.to_string_lossy().into_owned(),
            verb.to_owned(),
            // "--" ends option parsing: a unit name can never become an option.
            "--".to_owned(),
            unit.as_str().to_owned(),
        ]
    }

    /// Whether smstools is serving the port now.
    pub fn is_active(&self) -> Result<bool, HandoffError> {
        match &self.spec {
            BackendSpec::Systemctl { unit, systemctl } => {
                let argv = Self::systemctl_argv(systemctl, "is-active", unit);
                let finished = run(&argv, self.command_timeout)?;
                systemctl_is_active(&argv, finished)
            }
            BackendSpec::Commands { status, .. } => {
                Ok(run(status, self.command_timeout)?.status.success())
            }
            BackendSpec::SuspendFile {
                suspend_file,
                smsd_pid_file,
                device,
            } => {
                let Some(pid) = read_pid_file(smsd_pid_file)? else {
                    return Ok(false);
                };
                if !holders::is_alive(pid) {
                    return Ok(false);
                }
                let contents = read_suspend_file(suspend_file)?;
                Ok(!is_suspended(&contents, device))
            }
        }
    }

    /// Takes smstools off the port; `owner_pid` goes into a suspend line so a person can
    /// tell whose it is.
    pub fn stop(&self, owner_pid: u32) -> Result<Stopped, HandoffError> {
        match &self.spec {
            BackendSpec::Systemctl { unit, systemctl } => {
                run_ok(
                    &Self::systemctl_argv(systemctl, "stop", unit),
                    self.command_timeout,
                )?;
                Ok(Stopped::Service)
            }
            BackendSpec::Commands { stop, .. } => {
                run_ok(stop, self.command_timeout)?;
                Ok(Stopped::Service)
            }
            BackendSpec::SuspendFile {
                suspend_file,
                smsd_pid_file,
                device,
            } => {
                let line = suspend_line(device, owner_pid);
                edit_suspend_file(suspend_file, |c| with_line(c, &line))?;
                wake_smsd(smsd_pid_file)?;
                Ok(Stopped::SuspendLine(line))
            }
        }
    }

    /// Puts smstools back on the port, undoing `stopped`.
    pub fn start(&self, stopped: &Stopped) -> Result<(), HandoffError> {
        match (&self.spec, stopped) {
            (BackendSpec::Systemctl { unit, systemctl }, _) => {
                run_ok(
                    &Self::systemctl_argv(systemctl, "start", unit),
                    self.command_timeout,
                )?;
            }
            (BackendSpec::Commands { start, .. }, _) => {
                run_ok(start, self.command_timeout)?;
            }
            (
                BackendSpec::SuspendFile {
                    suspend_file,
                    smsd_pid_file,
                    ..
                },
                Stopped::SuspendLine(line),
            ) => {
                let mut remaining = String::new();
                edit_suspend_file(suspend_file, |c| {
                    remaining = without_line(c, line);
                    remaining.clone()
                })?;
                wake_smsd(smsd_pid_file)?;
                // SIGCONT does not cut smsd's suspend sleep short: alone, smsd reopens the
                // port up to `delaytime` (default 10 s) later. SIGUSR2 breaks the sleep at
                // once, but in every suspended modem process, whatever suspended it; so
                // it is sent only when nothing else in the file wants anything suspended.
                if suspends_nothing(&remaining) {
                    end_suspend(smsd_pid_file)?;
                }
            }
            (BackendSpec::SuspendFile { smsd_pid_file, .. }, Stopped::Service) => {
                // Nothing of ours is in the file; a wake-up lets smsd re-read it anyway.
                wake_smsd(smsd_pid_file)?;
            }
        }
        Ok(())
    }

    /// Names what failed to stop or start, for messages.
    pub fn describe(&self) -> String {
        self.spec.describe()
    }
}

/// What `systemctl is-active` said: exit 0 active, 3 not active (inactive, failed, or a
/// unit systemd does not know); any other status is systemctl failing (no systemd as PID
/// 1, no bus, no permission), an error with its message, never "not active".
pub fn systemctl_is_active(
    argv: &[String],
    finished: super::run::Finished,
) -> Result<bool, HandoffError> {
    match finished.status.code() {
        Some(0) => Ok(true),
        Some(3) => Ok(false),
        _ => Err(HandoffError::CommandFailed {
            argv: show_argv(argv),
            status: finished.status.to_string(),
            output: finished.output,
        }),
    }
}

/// The line this process puts in smsd's suspend file.
pub fn suspend_line(device: &str, owner_pid: u32) -> String {
    format!("{device}: sim7600 (pid {owner_pid}) holds the port")
}

/// Whether a suspend file's contents suspend `device` (its own line or `ALL:`).
pub fn is_suspended(contents: &str, device: &str) -> bool {
    contents.lines().any(|l| {
        let l = l.trim_start();
        l.strip_prefix(device)
            .is_some_and(|rest| rest.starts_with(':'))
            || l.starts_with("ALL:")
    })
}

/// `contents` with `line` added at the end, unless it is already there.
pub fn with_line(contents: &str, line: &str) -> String {
    if contents.lines().any(|l| l == line) {
        return contents.to_owned();
    }
    let mut out = contents.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out.push('\n');
    out
}

/// `contents` without `line` (every exact copy of it); every other line stays, in order.
pub fn without_line(contents: &str, line: &str) -> String {
    let mut out = String::with_capacity(contents.len());
    for l in contents.lines().filter(|l| *l != line) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

fn read_suspend_file(path: &Path) -> Result<String, HandoffError> {
    match fs::read_to_string(path) {
        Ok(c) => Ok(c),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(HandoffError::SuspendFile {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Rewrites the suspend file through `edit`, durably ([`durable::replace_file`]): a
/// temporary file in the same folder, synced, renamed over the old one, so smsd never
/// reads half a file.
fn edit_suspend_file(path: &Path, edit: impl FnOnce(&str) -> String) -> Result<(), HandoffError> {
    let old = read_suspend_file(path)?;
    let new = edit(&old);
    if new == old && path.exists() {
        return Ok(());
    }
    durable::replace_file(path, new.as_bytes(), SUSPEND_FILE)
        .map_err(HandoffError::SuspendFileWrite)
}

/// How the suspend file is written: readable by all (smsd runs as its own user).
const SUSPEND_FILE: NewFile = NewFile::mode(0o644);

/// The pid in a pid file; `None` when the file does not exist (smsd not running).
pub fn read_pid_file(path: &Path) -> Result<Option<i32>, HandoffError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(HandoffError::PidFile {
                path: path.to_path_buf(),
                problem: e.to_string(),
            });
        }
    };
    parse_pid_file(&text)
        .map(Some)
        .map_err(|problem| HandoffError::PidFile {
            path: path.to_path_buf(),
            problem,
        })
}

/// The pid in a pid file's text.
pub fn parse_pid_file(text: &str) -> Result<i32, String> {
    let t = text.trim();
    match t.parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(format!("holds {t:?}, not a process id")),
    }
}

/// SIGCONT to smsd and its children (the modem process holds the port), so that a
/// stopped smsd runs again and reads the suspend file. It does not cut a suspended modem
/// process's sleep short (measured: smsd reopened the port `delaytime` later); that is
/// [`end_suspend`]'s SIGUSR2.
fn wake_smsd(pid_file: &Path) -> Result<(), HandoffError> {
    let Some(pid) = read_pid_file(pid_file)? else {
        // No smsd: it will read the file when it starts.
        return Ok(());
    };
    let mut pids = vec![pid];
    pids.extend(children_of(pid));
    for p in pids {
        // A process that exited meanwhile is fine: there is nobody left to wake.
        let _ = kill(Pid::from_raw(p), Signal::SIGCONT);
    }
    Ok(())
}

/// Whether a suspend file's contents suspend no modem at all (no line but blank ones):
/// only then may SIGUSR2, which breaks the suspend of every modem process, be sent.
pub fn suspends_nothing(contents: &str) -> bool {
    contents.lines().all(|l| l.trim().is_empty())
}

/// SIGUSR2 to smsd's modem processes, which ends their suspend sleep at once (smsd's
/// configure.html: "When a process is suspended, it listens a signal SIGUSR2"); they
/// then read the suspend file, find nothing, and carry on. Only children with smsd's
/// own command name get it (modem processes are forks of smsd): SIGUSR2's default action
/// ends a process, so an eventhandler script that smsd runs must not get it, nor smsd's
/// main process, which the documentation does not say handles it.
fn end_suspend(pid_file: &Path) -> Result<(), HandoffError> {
    let Some(pid) = read_pid_file(pid_file)? else {
        return Ok(());
    };
    let Some(name) = command_name(pid) else {
        // smsd exited meanwhile: it reads the file afresh when it starts.
        return Ok(());
    };
    for child in children_of(pid) {
        if command_name(child).as_deref() == Some(name.as_str()) {
            // A modem process that exited meanwhile has nothing left to resume.
            let _ = kill(Pid::from_raw(child), Signal::SIGUSR2);
        }
    }
    Ok(())
}

/// A process's command name (/proc/PID/comm), `None` once it is gone.
fn command_name(pid: i32) -> Option<String> {
    fs::read_to_string(format!("{}/{pid}/comm", holders::PROC_ROOT))
        .ok()
        .map(|c| c.trim_end().to_owned())
}

/// The pids whose parent is `parent` (field 4 of /proc/PID/stat).
fn children_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir(holders::PROC_ROOT) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            fs::read_to_string(format!("{}/{pid}/stat", holders::PROC_ROOT))
                .ok()
                .and_then(|s| parse_stat_ppid(&s))
                == Some(parent)
        })
        .collect()
}

/// Field 4 (`ppid`) of a /proc/PID/stat line.
pub fn parse_stat_ppid(stat: &str) -> Option<i32> {
    stat.get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_systemd_accepts_pass() {
        for ok in [
            "smstools",
            "smstools.service",
            "sim7600-voice-bot",
            "getty@ttyS0.service",
            "a:b_c",
        ] {
            assert!(validate_unit_name(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn unit_names_that_could_inject_are_refused_with_the_reason() {
        assert!(validate_unit_name("").unwrap_err().contains("empty"));
        assert!(validate_unit_name("--now").unwrap_err().contains("option"));
        assert!(
            validate_unit_name("smstools; reboot")
                .unwrap_err()
                .contains("';'")
        );
        assert!(validate_unit_name("a b").is_err());
        assert!(
            validate_unit_name(&"a".repeat(256))
                .unwrap_err()
                .contains("255")
        );
    }

    #[test]
    fn our_suspend_line_is_added_once_after_the_lines_of_others() {
        let line = suspend_line("GSM1", 42);
        assert_eq!(line, "GSM1: sim7600 (pid 42) holds the port");
        let with = with_line("GSM2: maintenance", &line);
        assert_eq!(
            with,
            "GSM2: maintenance\nGSM1: sim7600 (pid 42) holds the port\n"
        );
        assert_eq!(with_line(&with, &line), with);
        assert_eq!(with_line("", &line), format!("{line}\n"));
    }

    #[test]
    fn removing_our_line_keeps_the_lines_of_others_in_order() {
        let line = suspend_line("GSM1", 42);
        let contents = format!("GSM2: maintenance\n{line}\nGSM1: someone else\n");
        assert_eq!(
            without_line(&contents, &line),
            "GSM2: maintenance\nGSM1: someone else\n"
        );
        assert_eq!(without_line(&format!("{line}\n"), &line), "");
    }

    #[test]
    fn smsd_may_be_woken_for_all_only_when_no_other_line_remains() {
        assert!(suspends_nothing(""));
        assert!(suspends_nothing("\n  \n"));
        // Another modem's maintenance: SIGUSR2 would break its suspend too.
        assert!(!suspends_nothing("GSM2: maintenance\n"));
        assert!(!suspends_nothing("ALL: firmware update\n"));
        // Someone else also wants our device off the port.
        assert!(!suspends_nothing("GSM1: someone else\n"));
    }

    #[test]
    fn a_device_is_suspended_by_its_own_line_or_by_all() {
        assert!(is_suspended("GSM1: x\n", "GSM1"));
        assert!(is_suspended("ALL: x\n", "GSM1"));
        assert!(!is_suspended("GSM10: x\nGSM2: y\n", "GSM1"));
        assert!(!is_suspended("", "GSM1"));
    }

    #[test]
    fn pid_files_hold_one_positive_number() {
        assert_eq!(parse_pid_file("1234\n"), Ok(1234));
        assert!(parse_pid_file("").unwrap_err().contains("not a process id"));
        assert!(parse_pid_file("-3").is_err());
        assert!(parse_pid_file("12 34").is_err());
    }

    #[test]
    fn ppid_is_field_4() {
        assert_eq!(parse_stat_ppid("77 (smsd) S 76 77 77 0"), Some(76));
        assert_eq!(parse_stat_ppid("77 (sm) sd) S 5 77"), Some(5));
        assert_eq!(parse_stat_ppid("77 (smsd)"), None);
    }

    #[test]
    fn a_failing_systemctl_is_an_error_not_an_inactive_smstools() {
        let stand_in = |script: &str| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("systemctl");
            fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            let backend = Backend::new(
                BackendSpec::Systemctl {
                    unit: default_unit(),
                    systemctl: path,
                },
                Duration::from_secs(5),
            );
            (dir, backend.is_active())
        };
        assert!(stand_in("echo active").1.unwrap());
        assert!(!stand_in("echo inactive; exit 3").1.unwrap());
        let (_dir, err) = stand_in(
            "echo 'System has not been booted with systemd as init system (PID 1). Can'\\''t operate.' >&2; exit 1",
        );
        let text = err.unwrap_err().to_string();
        assert!(text.contains("not been booted with systemd"), "{text}");
    }

    #[test]
    fn a_commands_backend_needs_three_programs() {
        let spec = BackendSpec::Commands {
            stop: vec!["service".into(), "smstools".into(), "stop".into()],
            start: vec![],
            status: vec!["true".into()],
        };
        assert_eq!(spec.validate().unwrap_err().0, "start");
    }

    #[test]
    fn the_suspend_backend_refuses_all_as_device() {
        let spec = BackendSpec::SuspendFile {
            suspend_file: "/tmp/s".into(),
            smsd_pid_file: "/tmp/p".into(),
            device: "ALL".into(),
        };
        assert_eq!(spec.validate().unwrap_err().0, "device");
    }

    #[test]
    fn the_suspend_file_is_rewritten_atomically_keeping_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("suspend");
        fs::write(&file, "GSM2: maintenance\n").unwrap();
        let backend = Backend::new(
            BackendSpec::SuspendFile {
                suspend_file: file.clone(),
                smsd_pid_file: dir.path().join("no-smsd.pid"),
                device: "GSM1".into(),
            },
            Duration::from_secs(1),
        );
        let stopped = backend.stop(4242).unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            "GSM2: maintenance\nGSM1: sim7600 (pid 4242) holds the port\n"
        );
        // No smsd pid file: smsd is not running, so it is not active either way.
        assert!(!backend.is_active().unwrap());
        backend.start(&stopped).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "GSM2: maintenance\n");
    }
}
