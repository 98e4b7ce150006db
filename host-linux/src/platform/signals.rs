//! Orderly shutdown on SIGINT, SIGTERM, SIGHUP and SIGQUIT, reload on SIGHUP where asked
//! for, clean children, and logging of panics.
//!
//! This module owns the process's handling of those four signals. [`install`] blocks them
//! in the calling thread (call it first in `main`, before any thread exists, so every
//! thread inherits the mask) and hands them to one waiter thread through `sigwait`: no
//! signal handlers, no async-signal-safety puzzles. The first shutdown signal stops the
//! process's token ([`Signals::shutdown`], made here once and handed down from `main`);
//! later ones are only logged, so a second Ctrl-C while smstools is being given back
//! cannot cut the restore short. A long-running program that can re-read its
//! configuration (the voice bot) calls [`Signals::reload_on_hangup`]: SIGHUP then asks
//! for a reload ([`Signals::next_reload`]) instead of a shutdown.
//!
//! A child inherits the signal mask of the thread that forks it, and exec keeps both the
//! mask and ignored dispositions. A child started with the bot's mask could never be
//! stopped with SIGTERM: an smsd started by a SysV start script the bot runs would ignore
//! every `service smstools stop`. So every process this program starts goes through
//! [`clean_child`], which unblocks all signals and restores their default dispositions in
//! the child between fork and exec. That needs `unsafe` (`CommandExt::pre_exec`), the only
//! unsafe code of this module, justified where it stands.
//!
//! A panic unwinds (the release profile keeps `panic = "unwind"`), so the [`PortLease`]
//! on the stack is dropped and gives smstools back; [`install_panic_hook`] logs the panic
//! first.
//!
//! [`PortLease`]: crate::handoff::PortLease

use std::os::unix::process::CommandExt;
use std::pin::pin;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use futures::future::{Either, select};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};

use crate::platform::shutdown::Shutdown;

/// The signals that mean "shut down in order" (SIGHUP: unless the program reloads on it).
pub const SHUTDOWN_SIGNALS: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// Why the signal handling could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// The signal mask could not be changed.
    #[error("cannot block the shutdown signals: {0}")]
    Mask(nix::Error),
    /// The waiter thread could not be started.
    #[error("cannot start the signal thread: {0}")]
    Thread(std::io::Error),
}

/// The program's signal handling: the process's stop token, stopped by the first shutdown
/// signal, which signal that was, and the reloads asked for.
#[derive(Debug)]
pub struct Signals {
    shutdown: Shutdown,
    first: Arc<Mutex<Option<Signal>>>,
    reload_on_hangup: Arc<AtomicBool>,
    reloads: Mutex<mpsc::UnboundedReceiver<Signal>>,
}

impl Signals {
    /// The process's stop token: stopped by the first shutdown signal. Hand it to whatever
    /// must stop then ([`crate::platform::shutdown`] tells the order).
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The signal that asked for shutdown, if one did (does not wait).
    pub fn requested(&self) -> Option<Signal> {
        self.first.lock().ok().and_then(|f| *f)
    }

    /// From now on SIGHUP asks for a reload ([`Signals::next_reload`]) instead of a
    /// shutdown.
    pub fn reload_on_hangup(&self) {
        self.reload_on_hangup.store(true, Ordering::SeqCst);
    }

    /// Waits (asleep) for a shutdown signal.
    pub fn wait(&self) -> Option<Signal> {
        self.shutdown.wait();
        self.requested()
    }

    /// Waits at most `timeout` for a shutdown signal.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Signal> {
        if self.shutdown.wait_timeout(timeout) {
            self.requested()
        } else {
            None
        }
    }

    /// Waits (asleep) for the next reload; `None` once the process's token or `also` is
    /// stopped (a shutdown asked for earlier comes first).
    pub fn next_reload(&self, also: &Shutdown) -> Option<Signal> {
        let mut reloads = self.reloads.lock().unwrap_or_else(|e| e.into_inner());
        futures::executor::block_on(async {
            let stopped = pin!(select(self.shutdown.stopped(), also.stopped()));
            match select(stopped, reloads.next()).await {
                Either::Left(_) | Either::Right((None, _)) => None,
                Either::Right((Some(signal), _)) => Some(signal),
            }
        })
    }
}

/// What the waiter does with a signal, given how many shutdown signals came before and
/// whether SIGHUP reloads.
pub fn on_signal(shutdowns_before: u32, signal: Signal, hangup_reloads: bool) -> SignalAction {
    if hangup_reloads && signal == Signal::SIGHUP {
        SignalAction::Reload(signal)
    } else if shutdowns_before == 0 {
        SignalAction::BeginShutdown(signal)
    } else {
        SignalAction::AlreadyShuttingDown(signal)
    }
}

/// The decision for one received signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalAction {
    /// The first: shut down in order.
    BeginShutdown(Signal),
    /// A later one: the shutdown (and its restore) goes on; only logged.
    AlreadyShuttingDown(Signal),
    /// SIGHUP to a program that reloads: re-read the configuration.
    Reload(Signal),
}

/// Blocks the shutdown signals in this thread (and so in every thread started after) and
/// starts the thread that receives them. Call first thing in `main`.
pub fn install() -> Result<Signals, SignalError> {
    let mut set = SigSet::empty();
    for s in SHUTDOWN_SIGNALS {
        set.add(s);
    }
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(SignalError::Mask)?;
    let (reload_tx, reloads) = mpsc::unbounded();
    let shutdown = Shutdown::new();
    let first = Arc::new(Mutex::new(None));
    let reload_on_hangup = Arc::new(AtomicBool::new(false));
    let waiter = Waiter {
        shutdown: shutdown.clone(),
        first: first.clone(),
        reloads: reload_on_hangup.clone(),
        reload_tx,
    };
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || waiter.run(set))
        .map_err(SignalError::Thread)?;
    Ok(Signals {
        shutdown,
        first,
        reload_on_hangup,
        reloads: Mutex::new(reloads),
    })
}

/// The signal thread's half.
struct Waiter {
    shutdown: Shutdown,
    first: Arc<Mutex<Option<Signal>>>,
    reloads: Arc<AtomicBool>,
    reload_tx: mpsc::UnboundedSender<Signal>,
}

impl Waiter {
    fn run(self, set: SigSet) {
        let mut count = 0u32;
        loop {
            let Ok(signal) = set.wait() else {
                continue;
            };
            match on_signal(count, signal, self.reloads.load(Ordering::SeqCst)) {
                SignalAction::BeginShutdown(s) => {
                    log::warn!("{s} received: shutting down, the port goes back to smstools");
                    if let Ok(mut f) = self.first.lock() {
                        *f = Some(s);
                    }
                    self.shutdown.stop();
                    count = count.saturating_add(1);
                }
                SignalAction::AlreadyShuttingDown(s) => {
                    log::warn!(
                        "{s} received again: already shutting down, smstools is being restored first"
                    );
                    count = count.saturating_add(1);
                }
                SignalAction::Reload(s) => {
                    log::info!("{s} received: reloading the configuration");
                    let _ = self.reload_tx.unbounded_send(s);
                }
            }
        }
    }
}

/// Makes the process `command` starts begin with no signal blocked and every signal at its
/// default action, whatever this process blocks or ignores (it blocks the shutdown
/// signals; std ignores SIGPIPE). Every spawn of this program goes through here. Returns
/// `command` for chaining.
///
/// The two signals glibc reserves for its threads (32 and 33, below `SIGRTMIN`) are left
/// as they are: glibc refuses to change them, and no program can use them.
pub fn clean_child(command: &mut Command) -> &mut Command {
    // Read here, not in the child: glibc computes SIGRTMAX at run time.
    let last = nix::libc::SIGRTMAX();
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe functions may be called. It calls sigaction (through signal) and
    // pthread_sigmask (sigprocmask), both on POSIX's list of async-signal-safe functions;
    // it allocates nothing, takes no lock and touches no state shared with the parent.
    unsafe { command.pre_exec(move || reset_signals(last)) }
}

/// The child's half of [`clean_child`]: default dispositions first, then the mask
/// emptied (a signal that arrives between the two then gets its default action).
fn reset_signals(last: nix::libc::c_int) -> std::io::Result<()> {
    use nix::libc;
    for signo in 1..=last {
        if signo == libc::SIGKILL || signo == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL installs no handler, so no code runs in signal context. The one
        // possible failure is EINVAL for the signals glibc keeps for itself: they stay.
        unsafe { libc::signal(signo, libc::SIG_DFL) };
    }
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(std::io::Error::from)
}

/// Logs every panic (with its location) before the default hook prints it and the stack
/// unwinds, releasing the lease on the way.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        log::error!("panic: {info}; unwinding: the port goes back to smstools");
        default(info);
    }));
}

/// The conventional exit status of a process ended by `signal` (128 + its number).
pub fn exit_code_for(signal: Signal) -> i32 {
    128 + signal as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_begins_the_shutdown() {
        assert_eq!(
            on_signal(0, Signal::SIGTERM, false),
            SignalAction::BeginShutdown(Signal::SIGTERM)
        );
    }

    #[test]
    fn a_second_sigint_during_shutdown_is_only_noted() {
        assert_eq!(
            on_signal(1, Signal::SIGINT, true),
            SignalAction::AlreadyShuttingDown(Signal::SIGINT)
        );
        assert_eq!(
            on_signal(7, Signal::SIGQUIT, false),
            SignalAction::AlreadyShuttingDown(Signal::SIGQUIT)
        );
    }

    #[test]
    fn sighup_reloads_only_where_asked_for_and_never_counts_as_shutdown() {
        assert_eq!(
            on_signal(0, Signal::SIGHUP, false),
            SignalAction::BeginShutdown(Signal::SIGHUP)
        );
        assert_eq!(
            on_signal(0, Signal::SIGHUP, true),
            SignalAction::Reload(Signal::SIGHUP)
        );
        // A reload during a shutdown is still a reload, not a second shutdown signal.
        assert_eq!(
            on_signal(1, Signal::SIGHUP, true),
            SignalAction::Reload(Signal::SIGHUP)
        );
        assert_eq!(
            on_signal(0, Signal::SIGTERM, true),
            SignalAction::BeginShutdown(Signal::SIGTERM)
        );
    }

    /// Signals 32 and 33, which glibc keeps for its threads and refuses to change (some
    /// launchers leave them ignored; no program can see that).
    const GLIBC_RESERVED: u64 = (1 << 31) | (1 << 32);

    /// The mask and the ignored set of a live process, from /proc/PID/status (hex).
    fn masks_of(pid: u32) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| {
            let line = status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"));
            u64::from_str_radix(line.trim(), 16).unwrap()
        };
        (field("SigBlk:"), field("SigIgn:"))
    }

    /// Spawns `sleep` from a thread that blocks what the program blocks and ignores
    /// SIGPIPE (as std does), the way the bot's threads spawn; returns the child's masks.
    fn masks_of_a_child(clean: bool) -> (u64, u64) {
        std::thread::spawn(move || {
            let mut set = SigSet::empty();
            for s in SHUTDOWN_SIGNALS {
                set.add(s);
            }
            nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).unwrap();
            let mut command = Command::new("sleep");
            command.arg("30");
            if clean {
                clean_child(&mut command);
            }
            let mut child = command.spawn().unwrap();
            // /proc shows the child's masks once it runs sleep (exec done).
            let end = std::time::Instant::now() + Duration::from_secs(5);
            while std::fs::read_to_string(format!("/proc/{}/comm", child.id()))
                .map_or(true, |c| c.trim() != "sleep")
            {
                assert!(std::time::Instant::now() < end, "sleep did not start");
                std::thread::sleep(Duration::from_millis(5));
            }
            let masks = masks_of(child.id());
            child.kill().unwrap();
            child.wait().unwrap();
            masks
        })
        .join()
        .unwrap()
    }

    #[test]
    fn a_child_started_clean_blocks_and_ignores_no_signal() {
        let (_, ignored_here) = masks_of(std::process::id());
        let pipe = 1u64 << (Signal::SIGPIPE as u64 - 1);
        // std ignores SIGPIPE in this process; the child must not inherit that.
        assert_ne!(ignored_here & pipe, 0, "SigIgn here: {ignored_here:016x}");
        let (blocked, ignored) = masks_of_a_child(true);
        assert_eq!(blocked, 0, "SigBlk of the child: {blocked:016x}");
        assert_eq!(
            ignored & !GLIBC_RESERVED,
            0,
            "SigIgn of the child: {ignored:016x}"
        );
    }

    #[test]
    fn without_clean_child_a_child_inherits_the_blocked_shutdown_signals() {
        // What clean_child exists for: std's spawn does not empty the mask.
        let (blocked, _) = masks_of_a_child(false);
        let term = 1u64 << (Signal::SIGTERM as u64 - 1);
        assert_ne!(blocked & term, 0, "SigBlk of the child: {blocked:016x}");
    }

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(exit_code_for(Signal::SIGINT), 130);
        assert_eq!(exit_code_for(Signal::SIGTERM), 143);
    }
}
