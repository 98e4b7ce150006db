//! Orderly shutdown on SIGINT, SIGTERM, SIGHUP and SIGQUIT, and logging of panics.
//!
//! This module owns the process's handling of those four signals. [`install`] blocks them
//! in the calling thread (call it first in `main`, before any thread exists, so every
//! thread inherits the mask) and hands them to one waiter thread through `sigwait`: no
//! async-signal-safety puzzles, no unsafe code. The first signal asks the program to shut
//! down ([`Shutdown`]); later ones are only logged, so a second Ctrl-C while smstools is
//! being given back cannot cut the restore short. Child processes (systemctl, smsd's start
//! script) start with an empty signal mask: std's process spawning resets it.
//!
//! A panic unwinds (the release profile keeps `panic = "unwind"`), so the [`PortLease`]
//! on the stack is dropped and gives smstools back; [`install_panic_hook`] logs the panic
//! first.
//!
//! [`PortLease`]: crate::handoff::PortLease

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};

/// The signals that mean "shut down in order".
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

/// The first shutdown signal, once one came.
#[derive(Debug)]
pub struct Shutdown {
    rx: Receiver<Signal>,
    first: Arc<Mutex<Option<Signal>>>,
}

impl Shutdown {
    /// The signal that asked for shutdown, if one did (does not wait).
    pub fn requested(&self) -> Option<Signal> {
        self.first.lock().ok().and_then(|f| *f)
    }

    /// Waits (asleep) for a shutdown signal.
    pub fn wait(&self) -> Option<Signal> {
        if let Some(s) = self.requested() {
            return Some(s);
        }
        self.rx.recv().ok()
    }

    /// Waits at most `timeout` for a shutdown signal.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Signal> {
        if let Some(s) = self.requested() {
            return Some(s);
        }
        // A timeout and a gone signal thread both mean: no signal came.
        self.rx.recv_timeout(timeout).ok()
    }
}

/// What the waiter does with signal number `n` (0-based count of signals so far).
pub fn on_signal(count: u32, signal: Signal) -> SignalAction {
    if count == 0 {
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
}

/// Blocks the shutdown signals in this thread (and so in every thread started after) and
/// starts the thread that receives them. Call first thing in `main`.
pub fn install() -> Result<Shutdown, SignalError> {
    let mut set = SigSet::empty();
    for s in SHUTDOWN_SIGNALS {
        set.add(s);
    }
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(SignalError::Mask)?;
    let (tx, rx) = mpsc::channel();
    let first = Arc::new(Mutex::new(None));
    let first_w = first.clone();
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut count = 0u32;
            loop {
                let Ok(signal) = set.wait() else {
                    continue;
                };
                match on_signal(count, signal) {
                    SignalAction::BeginShutdown(s) => {
                        log::warn!("{s} received: shutting down, the port goes back to smstools");
                        if let Ok(mut f) = first_w.lock() {
                            *f = Some(s);
                        }
                        let _ = tx.send(s);
                    }
                    SignalAction::AlreadyShuttingDown(s) => {
                        log::warn!("{s} received again: already shutting down, smstools is being restored first");
                    }
                }
                count = count.saturating_add(1);
            }
        })
        .map_err(SignalError::Thread)?;
    Ok(Shutdown { rx, first })
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
            on_signal(0, Signal::SIGTERM),
            SignalAction::BeginShutdown(Signal::SIGTERM)
        );
    }

    #[test]
    fn a_second_sigint_during_shutdown_is_only_noted() {
        assert_eq!(
            on_signal(1, Signal::SIGINT),
            SignalAction::AlreadyShuttingDown(Signal::SIGINT)
        );
        assert_eq!(
            on_signal(7, Signal::SIGQUIT),
            SignalAction::AlreadyShuttingDown(Signal::SIGQUIT)
        );
    }

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(exit_code_for(Signal::SIGINT), 130);
        assert_eq!(exit_code_for(Signal::SIGTERM), 143);
    }
}
