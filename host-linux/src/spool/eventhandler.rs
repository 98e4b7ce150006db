//! smsd's `eventhandler`, run by the bot for the files it writes or moves in the spool, so
//! a program that hears of every SMS through smsd hears of those too.
//!
//! This module owns [`EventRunner`]: one worker thread with a queue, so the port loop only
//! queues a call and is never delayed by a slow handler. Calls run one at a time in the
//! order they were queued (so in order per file), each with a bounded run time: a handler
//! still running after it is killed with its process group, and logged. A handler that
//! fails (exit status, signal, cannot start) is logged with its exit status and the start
//! of its stderr; none is dropped silently. When the runner is closed (the bot gives the
//! port back and stops), the calls still queued are run before it returns, within a bound;
//! those the bound leaves are logged one by one.
//!
//! How a call looks, as smsd 3.1.21 makes it (`run_eventhandler` and `my_system` in
//! smsd.c, extras.c): smsd builds the line `<eventhandler> <EVENT> <file> [<ids>]` and runs
//! it with `sh -c`. So `eventhandler = /usr/local/bin/forward --verbose` works. The bot
//! does the same, with the event, the file and the ids passed to the shell as positional
//! parameters (`sh -c '<eventhandler> "$@"' sh EVENT FILE ID...`), so a file name with
//! blanks or shell characters reaches the handler as one argument and is never run as
//! shell code. The events:
//! - `RECEIVED <incoming file>` and `REPORT <incoming file>`: no third argument;
//! - `SENT <sent file> <message id>`: the `+CMGS` reference of the last part (smsd's
//!   default `messageids = 2`; `1` passes the first part's, `3` all of them and a `.`);
//! - `FAILED <failed file> [<message ids>]`: the ids of parts sent before the failure,
//!   if any; a file smsd's main process would refuse (no `To:`, ...) gets no ids and only
//!   the global `eventhandler`, as in smsd.
//!
//! The child starts with an empty signal mask and default signal dispositions
//! ([`crate::platform::signals::clean_child`]): the bot blocks its shutdown signals in every thread,
//! and a process started from std's `Command` inherits that mask.
//!
//! It runs as the user smsd runs it as ([`RunAs::for_smsd`]): smsd drops root at start to
//! smsd.conf's `user`/`group`, or to the `-u`/`-g` of its start script (Debian's init
//! script, which runs smsd with /etc/smsd.conf, takes them from /etc/default/smstools:
//! `USER="smsd"`, `GROUP="dialout"`), and its eventhandler inherits that. A handler written for smsd's user therefore never runs as root because the bot,
//! which runs as root, served the file.

use std::collections::VecDeque;
use std::io::{Read, Seek};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt as _;

/// How long one handler may run before it is killed (smsd waits without a bound; a hung
/// forwarding script must not hold back every later call forever).
pub const HANDLER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long closing the runner waits for the calls still queued.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The most bytes of a failed handler's stderr that are logged.
pub const MAX_STDERR_LOGGED: usize = 2048;
/// The most calls waiting at once; further ones are logged as not run (a handler that
/// takes its full timeout for each of 1,000 files is broken, not busy).
pub const MAX_QUEUED: usize = 1000;
/// smsd's `shell` default.
pub const DEFAULT_SHELL: &str = "/bin/sh";
/// Where Debian's smstools package says which user and group its start script gives smsd.
pub const SMSTOOLS_DEFAULTS: &str = "/etc/default/smstools";

/// The user a handler runs as, with its groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// The user's name, for the log.
    pub user: String,
    /// Its uid.
    pub uid: nix::unistd::Uid,
    /// The gid smsd takes (`group`, or the user's own).
    pub gid: nix::unistd::Gid,
    /// Its supplementary groups (smsd calls `initgroups`).
    pub groups: Vec<nix::unistd::Gid>,
}

/// Why the user smsd runs as cannot be used for its eventhandler.
#[derive(Debug, thiserror::Error)]
#[error("{source_of_name}: {what} `{name}` {problem}")]
pub struct RunAsError {
    /// Where the name was read (smsd.conf, or the smstools defaults file).
    pub source_of_name: String,
    /// `user` or `group`.
    pub what: &'static str,
    /// The name.
    pub name: String,
    /// What is wrong.
    pub problem: String,
}

impl RunAs {
    /// The user and group smsd runs as: smsd.conf's global `user`/`group`, else
    /// `defaults_text` (the text of [`SMSTOOLS_DEFAULTS`], `USER=`/`GROUP=`), else `None`:
    /// smsd keeps the user that started it, which is the bot's too. A name that does not
    /// resolve is an error, as smsd itself would not start with it.
    pub fn for_smsd(
        conf_user: Option<&str>,
        conf_group: Option<&str>,
        conf_path: &Path,
        defaults_text: Option<&str>,
    ) -> Result<Option<RunAs>, RunAsError> {
        let from_defaults = |key: &str| defaults_text.and_then(|text| shell_assignment(text, key));
        let conf_name = conf_path.display().to_string();
        let (user, user_source) = match (conf_user, from_defaults("USER")) {
            (Some(u), _) => (u.to_string(), conf_name.clone()),
            (None, Some(u)) => (u, SMSTOOLS_DEFAULTS.to_string()),
            (None, None) => return Ok(None),
        };
        // The group comes from where the user came from (smsd's -u/-g, or its conf).
        let (group, group_source) = match conf_user {
            Some(_) => (conf_group.map(str::to_string), conf_name),
            None => (from_defaults("GROUP"), SMSTOOLS_DEFAULTS.to_string()),
        };
        let fail = |source_of_name: &str, what, name: &str, problem: String| RunAsError {
            source_of_name: source_of_name.to_string(),
            what,
            name: name.to_string(),
            problem,
        };
        let found = nix::unistd::User::from_name(&user)
            .map_err(|e| {
                fail(
                    &user_source,
                    "user",
                    &user,
                    format!("cannot be looked up: {e}"),
                )
            })?
            .ok_or_else(|| fail(&user_source, "user", &user, "does not exist".into()))?;
        let gid = match &group {
            None => found.gid,
            Some(g) => {
                nix::unistd::Group::from_name(g)
                    .map_err(|e| {
                        fail(
                            &group_source,
                            "group",
                            g,
                            format!("cannot be looked up: {e}"),
                        )
                    })?
                    .ok_or_else(|| fail(&group_source, "group", g, "does not exist".into()))?
                    .gid
            }
        };
        let c_user = std::ffi::CString::new(user.clone())
            .map_err(|_| fail(&user_source, "user", &user, "contains a NUL byte".into()))?;
        let groups = nix::unistd::getgrouplist(&c_user, gid).map_err(|e| {
            fail(
                &user_source,
                "user",
                &user,
                format!("has no readable group list: {e}"),
            )
        })?;
        Ok(Some(RunAs {
            user,
            uid: found.uid,
            gid,
            groups,
        }))
    }
}

/// The value of `KEY=value` (quotes removed) in a shell defaults file, the last one set.
fn shell_assignment(text: &str, key: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let line = line.trim();
        let rest = line.strip_prefix(key)?.strip_prefix('=')?;
        let value = rest.trim().trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// What happened to a file (smsd's event names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpoolEvent {
    /// An SMS written into incoming/.
    Received,
    /// A status report written into incoming/.
    Report,
    /// A file sent (moved to sent/).
    Sent,
    /// A file that could not be sent (moved to failed/).
    Failed,
}

impl SpoolEvent {
    /// The word smsd passes as the first argument.
    pub fn word(self) -> &'static str {
        match self {
            SpoolEvent::Received => "RECEIVED",
            SpoolEvent::Report => "REPORT",
            SpoolEvent::Sent => "SENT",
            SpoolEvent::Failed => "FAILED",
        }
    }
}

/// One run of the eventhandler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerCall {
    /// The `eventhandler =` line as written (a program, possibly with arguments).
    pub handler: String,
    /// The event.
    pub event: SpoolEvent,
    /// The file, as smsd would name it.
    pub file: PathBuf,
    /// Further arguments (message ids), one each.
    pub extra: Vec<String>,
    /// A file to delete once the handler has run (a sent or failed file smsd would have
    /// deleted after its handler, smsd.conf having no folder for it).
    pub delete_after: Option<PathBuf>,
}

impl HandlerCall {
    /// The arguments after the handler, as the handler sees them (`$1`, `$2`, ...).
    pub fn arguments(&self) -> Vec<String> {
        let mut args = vec![
            self.event.word().to_string(),
            self.file.display().to_string(),
        ];
        args.extend(self.extra.iter().cloned());
        args
    }
}

/// How one call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerOutcome {
    /// Exit status 0.
    Done,
    /// A non-zero exit status or a signal, with the start of its stderr.
    Failed {
        /// The exit status as the OS describes it.
        status: String,
        /// The start of what it wrote to stderr.
        stderr: String,
    },
    /// It ran longer than its timeout and was killed.
    TimedOut,
    /// It could not be started.
    NotStarted(String),
}

/// The shared queue between the bot and the worker.
#[derive(Debug, Default)]
struct Queue {
    calls: VecDeque<HandlerCall>,
    closing: bool,
    running: bool,
}

/// Runs eventhandler calls off the port loop; see the module docs.
#[derive(Debug)]
pub struct EventRunner {
    shared: Arc<(Mutex<Queue>, Condvar)>,
    worker: Option<JoinHandle<()>>,
    done: Option<mpsc::Receiver<()>>,
    drain_timeout: Duration,
}

impl EventRunner {
    /// Starts the worker: each call may run `timeout`, [`Self::close`] waits
    /// `drain_timeout` for the queue; `shell` runs the line (smsd.conf's `shell`).
    pub fn spawn(
        shell: PathBuf,
        run_as: Option<RunAs>,
        timeout: Duration,
        drain_timeout: Duration,
    ) -> std::io::Result<EventRunner> {
        let shared: Arc<(Mutex<Queue>, Condvar)> = Arc::default();
        let theirs = Arc::clone(&shared);
        let (done_tx, done_rx) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("eventhandler".into())
            .spawn(move || {
                let (lock, ready) = &*theirs;
                loop {
                    let call = {
                        let Ok(mut q) = lock.lock() else { break };
                        loop {
                            if let Some(call) = q.calls.pop_front() {
                                q.running = true;
                                break Some(call);
                            }
                            if q.closing {
                                break None;
                            }
                            q = match ready.wait(q) {
                                Ok(q) => q,
                                Err(_) => return,
                            };
                        }
                    };
                    let Some(call) = call else { break };
                    let outcome = run_call(&shell, run_as.as_ref(), &call, timeout);
                    log_outcome(&call, &outcome);
                    if let Some(path) = &call.delete_after {
                        if let Err(e) = std::fs::remove_file(path) {
                            if e.kind() != std::io::ErrorKind::NotFound {
                                log::error!("eventhandler: cannot delete {}: {e}", path.display());
                            }
                        }
                    }
                    if let Ok(mut q) = lock.lock() {
                        q.running = false;
                    }
                    ready.notify_all();
                }
                let _ = done_tx.send(());
            })?;
        Ok(EventRunner {
            shared,
            worker: Some(worker),
            done: Some(done_rx),
            drain_timeout,
        })
    }

    /// Queues a call; it runs after every call queued before it.
    pub fn submit(&self, call: HandlerCall) {
        let (lock, ready) = &*self.shared;
        let Ok(mut q) = lock.lock() else {
            log::error!(
                "eventhandler: {} {} not run: the runner stopped",
                call.handler,
                call.arguments().join(" ")
            );
            return;
        };
        if q.calls.len() >= MAX_QUEUED {
            log::error!(
                "eventhandler: {} {} not run: {MAX_QUEUED} calls are already waiting",
                call.handler,
                call.arguments().join(" ")
            );
            return;
        }
        q.calls.push_back(call);
        ready.notify_all();
    }

    /// How many calls wait or run.
    pub fn pending(&self) -> usize {
        let (lock, _) = &*self.shared;
        lock.lock()
            .map(|q| q.calls.len() + usize::from(q.running))
            .unwrap_or(0)
    }

    /// Waits until every call queued so far has run, at most `within`; `true` when they did.
    pub fn wait_idle(&self, within: Duration) -> bool {
        let (lock, ready) = &*self.shared;
        let deadline = Instant::now() + within;
        let Ok(mut q) = lock.lock() else { return false };
        while !q.calls.is_empty() || q.running {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            q = match ready.wait_timeout(q, left) {
                Ok((q, _)) => q,
                Err(_) => return false,
            };
        }
        true
    }

    /// Runs what is still queued (at most the drain timeout), then stops the worker. Calls
    /// the bound leaves are logged, each by name.
    pub fn close(&mut self) {
        let Some(done) = self.done.take() else {
            return;
        };
        {
            let (lock, ready) = &*self.shared;
            if let Ok(mut q) = lock.lock() {
                q.closing = true;
                if !q.calls.is_empty() {
                    log::info!(
                        "eventhandler: running the {} call(s) still queued",
                        q.calls.len()
                    );
                }
            }
            ready.notify_all();
        }
        match done.recv_timeout(self.drain_timeout) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Some(w) = self.worker.take() {
                    let _ = w.join();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let (lock, _) = &*self.shared;
                if let Ok(mut q) = lock.lock() {
                    for call in q.calls.drain(..) {
                        log::error!(
                            "eventhandler: {} {} not run: the bot stopped and {} s were over",
                            call.handler,
                            call.arguments().join(" "),
                            self.drain_timeout.as_secs()
                        );
                    }
                }
                // The call in progress has its own timeout; the thread is left to it.
            }
        }
    }
}

impl Drop for EventRunner {
    fn drop(&mut self) {
        self.close();
    }
}

/// Runs one call: `shell -c '<handler> "$@"' sh ARGS...`, in its own process group, with
/// an empty signal mask, as `run_as` when given, stdout discarded and stderr kept for the
/// log.
pub fn run_call(
    shell: &Path,
    run_as: Option<&RunAs>,
    call: &HandlerCall,
    timeout: Duration,
) -> HandlerOutcome {
    let stderr = match tempfile::tempfile() {
        Ok(f) => f,
        Err(e) => return HandlerOutcome::NotStarted(format!("no file for its stderr: {e}")),
    };
    let Ok(stderr_for_child) = stderr.try_clone() else {
        return HandlerOutcome::NotStarted("cannot share its stderr file".into());
    };
    let mut command = Command::new(shell);
    command
        .arg("-c")
        .arg(format!("{} \"$@\"", call.handler))
        .arg("sh")
        .args(call.arguments())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_for_child)
        .process_group(0);
    crate::platform::signals::clean_child(&mut command);
    if let Some(who) = run_as {
        drop_to(&mut command, who);
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => return HandlerOutcome::NotStarted(format!("{}: {e}", shell.display())),
    };
    let status = match child.wait_timeout(timeout) {
        Ok(Some(status)) => status,
        Ok(None) | Err(_) => {
            // The whole group: sh and whatever the handler started.
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.kill();
            let _ = child.wait();
            return HandlerOutcome::TimedOut;
        }
    };
    if status.success() {
        return HandlerOutcome::Done;
    }
    HandlerOutcome::Failed {
        status: describe(status),
        stderr: read_start(stderr),
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => status.to_string(),
    }
}

fn read_start(mut file: std::fs::File) -> String {
    let mut buf = Vec::new();
    if file.rewind().is_err() {
        return String::new();
    }
    let _ = (&mut file)
        .take(MAX_STDERR_LOGGED as u64)
        .read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).trim_end().to_string()
}

fn log_outcome(call: &HandlerCall, outcome: &HandlerOutcome) {
    let line = format!("{} {}", call.handler, call.arguments().join(" "));
    match outcome {
        HandlerOutcome::Done => log::info!("eventhandler: {line}: done"),
        HandlerOutcome::Failed { status, stderr } if stderr.is_empty() => {
            log::error!("eventhandler: {line}: {status}")
        }
        HandlerOutcome::Failed { status, stderr } => {
            log::error!("eventhandler: {line}: {status}; stderr: {stderr}")
        }
        HandlerOutcome::TimedOut => log::error!(
            "eventhandler: {line}: still running after its time limit; killed with its children"
        ),
        HandlerOutcome::NotStarted(why) => log::error!("eventhandler: {line}: not started: {why}"),
    }
}

/// Makes the child `who` before it runs the handler: supplementary groups, group, then
/// user, as smsd does when it drops root (`initgroups`, `setgid`, `setuid`). The group list
/// was read in the parent ([`RunAs::for_smsd`]): reading /etc/group is not safe between
/// fork and exec.
fn drop_to(command: &mut Command, who: &RunAs) {
    let RunAs {
        uid, gid, groups, ..
    } = who.clone();
    // SAFETY: the closure runs in the child between fork and exec, where the child has one
    // thread. setgroups, setgid and setuid are system calls on POSIX's list of
    // async-signal-safe functions (glibc's per-thread broadcast of set*id has no other
    // thread to reach); nothing is allocated (the group list was built in the parent).
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setgroups(&groups).map_err(std::io::Error::from)?;
            nix::unistd::setgid(gid).map_err(std::io::Error::from)?;
            nix::unistd::setuid(uid).map_err(std::io::Error::from)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder(dir: &Path, body: &str) -> String {
        let script = dir.join("handler");
        std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script.display().to_string()
    }

    fn call(handler: &str, event: SpoolEvent, file: &str, extra: &[&str]) -> HandlerCall {
        HandlerCall {
            handler: handler.to_string(),
            event,
            file: PathBuf::from(file),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            delete_after: None,
        }
    }

    fn runner(timeout: Duration) -> EventRunner {
        EventRunner::spawn(
            PathBuf::from(DEFAULT_SHELL),
            None,
            timeout,
            Duration::from_secs(10),
        )
        .unwrap()
    }

    #[test]
    fn calls_run_in_the_order_queued_with_smsd_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let h = recorder(
            dir.path(),
            &format!("sleep 0.05; echo \"$#|$*\" >> '{}'", log.display()),
        );
        let r = runner(Duration::from_secs(10));
        r.submit(call(&h, SpoolEvent::Received, "/in/GSM1.a b;$(x)", &[]));
        r.submit(call(&h, SpoolEvent::Sent, "/sent/f", &["42"]));
        r.submit(call(&h, SpoolEvent::Report, "/in/GSM1.c", &[]));
        assert!(r.wait_idle(Duration::from_secs(10)));
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "2|RECEIVED /in/GSM1.a b;$(x)\n3|SENT /sent/f 42\n2|REPORT /in/GSM1.c\n"
        );
    }

    #[test]
    fn a_handler_line_with_arguments_runs_through_the_shell_like_smsd() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let h = recorder(dir.path(), &format!("echo \"$*\" >> '{}'", log.display()));
        let outcome = run_call(
            Path::new(DEFAULT_SHELL),
            None,
            &call(&format!("{h} --tag x"), SpoolEvent::Failed, "/f/n", &[]),
            Duration::from_secs(10),
        );
        assert_eq!(outcome, HandlerOutcome::Done);
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "--tag x FAILED /f/n\n"
        );
    }

    #[test]
    fn a_slow_handler_does_not_delay_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let h = recorder(dir.path(), "sleep 1");
        let r = runner(Duration::from_secs(10));
        let t = Instant::now();
        r.submit(call(&h, SpoolEvent::Received, "/x", &[]));
        r.submit(call(&h, SpoolEvent::Received, "/y", &[]));
        assert!(
            t.elapsed() < Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );
        assert!(r.pending() >= 1);
    }

    #[test]
    fn a_queue_of_max_queued_calls_refuses_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let h = recorder(dir.path(), "sleep 5");
        let mut r = EventRunner::spawn(
            PathBuf::from(DEFAULT_SHELL),
            None,
            Duration::from_millis(100),
            Duration::from_millis(100),
        )
        .unwrap();
        r.submit(call(&h, SpoolEvent::Received, "/first", &[]));
        let deadline = Instant::now() + Duration::from_secs(5);
        while r.shared.0.lock().is_ok_and(|q| !q.running) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        for i in 0..=MAX_QUEUED {
            r.submit(call(&h, SpoolEvent::Received, &format!("/{i}"), &[]));
        }
        assert_eq!(
            r.pending(),
            MAX_QUEUED + 1,
            "one running, MAX_QUEUED waiting"
        );
        // Not drained: each would take its 100 ms limit; closing gives up after 100 ms.
        r.close();
    }

    #[test]
    fn a_hung_handler_and_its_children_are_killed_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child");
        let h = recorder(
            dir.path(),
            &format!("sleep 30 & echo $! > '{}'; wait", pid_file.display()),
        );
        let t = Instant::now();
        let outcome = run_call(
            Path::new(DEFAULT_SHELL),
            None,
            &call(&h, SpoolEvent::Sent, "/s", &["1"]),
            Duration::from_millis(300),
        );
        assert_eq!(outcome, HandlerOutcome::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed (a zombie until init reaps it, or gone).
        let gone = |pid: i32| match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the command name in parentheses: Z is a zombie.
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z')),
            Err(_) => true,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !gone(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone(pid), "the handler's child {pid} still runs");
    }

    #[test]
    fn a_failure_keeps_its_exit_status_and_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let h = recorder(dir.path(), "echo 'server unreachable' >&2; exit 3");
        let outcome = run_call(
            Path::new(DEFAULT_SHELL),
            None,
            &call(&h, SpoolEvent::Received, "/x", &[]),
            Duration::from_secs(10),
        );
        assert_eq!(
            outcome,
            HandlerOutcome::Failed {
                status: "exit status 3".into(),
                stderr: "server unreachable".into()
            }
        );
        let missing = run_call(
            Path::new("/nonexistent/shell"),
            None,
            &call(&h, SpoolEvent::Received, "/x", &[]),
            Duration::from_secs(10),
        );
        assert!(
            matches!(missing, HandlerOutcome::NotStarted(_)),
            "{missing:?}"
        );
    }

    #[test]
    fn the_handler_starts_with_no_signal_blocked() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mask");
        // The mask of the program the line runs, exec'd by the shell (no fork: dash gives
        // the children it forks an empty mask of its own accord, bash does not). It also
        // reads the handler's arguments as files and fails on them: only the mask counts.
        let h = format!("exec cat /proc/self/status > '{}'", out.display());
        // Block what the bot blocks, in this thread, as the bot's threads have it.
        let mut set = nix::sys::signal::SigSet::empty();
        set.add(nix::sys::signal::Signal::SIGTERM);
        set.add(nix::sys::signal::Signal::SIGHUP);
        let outcome = std::thread::spawn(move || {
            nix::sys::signal::pthread_sigmask(
                nix::sys::signal::SigmaskHow::SIG_BLOCK,
                Some(&set),
                None,
            )
            .unwrap();
            run_call(
                Path::new(DEFAULT_SHELL),
                None,
                &call(&h, SpoolEvent::Received, "/x", &[]),
                Duration::from_secs(10),
            )
        })
        .join()
        .unwrap();
        assert!(
            matches!(outcome, HandlerOutcome::Failed { .. }),
            "{outcome:?}"
        );
        let status = std::fs::read_to_string(&out).unwrap();
        let mask = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
        assert_eq!(mask, "SigBlk:\t0000000000000000", "{status}");
    }

    #[test]
    fn closing_runs_what_is_still_queued_and_deletes_after_the_handler() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let kept = dir.path().join(".f.sim7600-sent");
        std::fs::write(&kept, "To: 1\n\nx").unwrap();
        let h = recorder(
            dir.path(),
            &format!(
                "sleep 0.2; cat \"$2\" >> '{}' 2>/dev/null; echo \" $1\" >> '{}'",
                log.display(),
                log.display()
            ),
        );
        let mut r = runner(Duration::from_secs(10));
        for _ in 0..3 {
            r.submit(call(&h, SpoolEvent::Received, "/x", &[]));
        }
        let mut last = call(&h, SpoolEvent::Sent, &kept.display().to_string(), &["7"]);
        last.delete_after = Some(kept.clone());
        r.submit(last);
        r.close();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            " RECEIVED\n RECEIVED\n RECEIVED\nTo: 1\n\nx SENT\n"
        );
        assert!(!kept.exists(), "deleted once its handler ran");
    }

    #[test]
    fn closing_gives_up_after_its_bound_and_names_what_was_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let h = recorder(dir.path(), "sleep 2");
        let mut r = EventRunner::spawn(
            PathBuf::from(DEFAULT_SHELL),
            None,
            Duration::from_secs(10),
            Duration::from_millis(300),
        )
        .unwrap();
        r.submit(call(&h, SpoolEvent::Received, "/a", &[]));
        r.submit(call(&h, SpoolEvent::Received, "/b", &[]));
        let t = Instant::now();
        r.close();
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(
            r.pending(),
            1,
            "only the call in progress is left to its own timeout"
        );
    }

    #[test]
    fn smsd_s_user_comes_from_smsd_conf_then_from_the_start_script_defaults() {
        let conf = Path::new("/etc/smsd.conf");
        let debian = "# Debian\nUSER=\"nobody\"\nGROUP=\"nogroup\"\nPIDFILE=\"/run/x\"\n";
        let who = RunAs::for_smsd(None, None, conf, Some(debian))
            .unwrap()
            .expect("Debian's defaults name a user");
        assert_eq!(who.user, "nobody");
        assert_eq!(who.uid.as_raw(), 65534);
        assert_eq!(who.gid.as_raw(), 65534);
        let who = RunAs::for_smsd(Some("root"), None, conf, Some(debian))
            .unwrap()
            .expect("smsd.conf names a user");
        assert_eq!(
            (who.user.as_str(), who.uid.as_raw(), who.gid.as_raw()),
            ("root", 0, 0)
        );
        assert_eq!(
            RunAs::for_smsd(None, None, conf, None).unwrap(),
            None,
            "smsd stays the bot's user"
        );
        let err = RunAs::for_smsd(Some("no-such-user-here"), None, conf, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/smsd.conf: user `no-such-user-here` does not exist"
        );
        let err = RunAs::for_smsd(
            None,
            None,
            conf,
            Some("USER=nobody\nGROUP='no-such-group'\n"),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/etc/default/smstools: group `no-such-group`"),
            "{err}"
        );
    }

    #[test]
    fn a_handler_runs_as_smsd_s_user_not_as_the_bot() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test drops from root to nobody: run the tests as root"
        );
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let out = dir.path().join("ids");
        let h = recorder(
            dir.path(),
            &format!("id -u > {0}; id -g >> {0}", out.display()),
        );
        let nobody = RunAs::for_smsd(Some("nobody"), Some("nogroup"), Path::new("c"), None)
            .unwrap()
            .expect("nobody exists");
        let outcome = run_call(
            Path::new(DEFAULT_SHELL),
            Some(&nobody),
            &call(&h, SpoolEvent::Received, "/x", &[]),
            Duration::from_secs(10),
        );
        assert_eq!(outcome, HandlerOutcome::Done);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "65534\n65534\n");
    }
}
