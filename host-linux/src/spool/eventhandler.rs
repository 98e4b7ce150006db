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
//! The child starts with an empty signal mask: the bot blocks its shutdown signals in every
//! thread, and a process started from std's `Command` inherits that mask.

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
                    let outcome = run_call(&shell, &call, timeout);
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
/// an empty signal mask, stdout discarded and stderr kept for the log.
pub fn run_call(shell: &Path, call: &HandlerCall, timeout: Duration) -> HandlerOutcome {
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
    unblock_signals_in_child(&mut command);
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

/// Gives the child an empty signal mask.
///
/// The bot blocks SIGINT/SIGTERM/SIGHUP/SIGQUIT in every thread (they are taken by its
/// signal thread), a child started with std's `Command` inherits the blocked mask, and a
/// handler with those signals blocked could not be stopped. The place for one rule for
/// every program the bot starts is `crate::signals`; this is the same call, kept here
/// until that shared helper exists.
fn unblock_signals_in_child(command: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec and only calls
    // pthread_sigmask (sigprocmask), which is async-signal-safe; it allocates nothing.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(|| {
            nix::sys::signal::pthread_sigmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&nix::sys::signal::SigSet::empty()),
                None,
            )
            .map_err(std::io::Error::from)
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
}
