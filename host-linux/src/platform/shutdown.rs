//! One way to stop: [`Shutdown`], a token that every part of the program holds and any of
//! them can wait on, however it sleeps.
//!
//! This module owns the stop mechanism. A [`Shutdown`] is cheap to clone; every clone is
//! the same token. [`Shutdown::stop`] (once, any thread) wakes at once whoever waits:
//!
//! - a thread blocked in [`Shutdown::wait`] or [`Shutdown::wait_timeout`] (a condition
//!   variable);
//! - a task awaiting [`Shutdown::stopped`] (the voice bot's loop selects on it beside the
//!   modem's URCs, the requests and its next deadline);
//! - a thread asleep in poll(2) on a descriptor and a [`StopWatch`]
//!   ([`StopWatch::wait_on`]): the watch is the read end of a pipe whose write end
//!   [`Shutdown::stop`] closes, which makes it readable (EOF) for good. The wait for a
//!   modem that comes late sleeps this way on the process's token; the modem's reader
//!   thread, the spool's inotify thread and the call audio's reader each on a token of
//!   their own that their owner stops when it closes them.
//!
//! The pipes are close-on-exec: a program the bot starts (smsd, when the port goes back)
//! never holds a write end open.
//!
//! # The stop order of `sim7600 voice-bot`
//!
//! `main` makes the process's token in the signal handling ([`crate::platform::signals::install`])
//! and hands it down; the first SIGTERM, SIGINT or SIGQUIT stops it (SIGHUP reloads the
//! bot instead). The bot's shared state ([`crate::bot::BotState`]) carries the token, so
//! whatever holds the state can see the stop ([`crate::bot::BotState::shutdown`]) or ask
//! for it ([`crate::bot::BotState::request_shutdown`], as the demo does). What stops, in
//! this order, and why (docs/operations.md, "Stopping the voice bot", says the same for
//! operators):
//!
//! 1. **The bot's loop** wakes at once (it awaits [`Shutdown::stopped`]), finishes the AT
//!    command under way and takes no new work. **A call** in progress is left to the
//!    modem (closing the port does not end it; a warning says so, the call log does not
//!    get it). **SMS work**: the message whose parts are being sent gets its last parts
//!    (none is left half sent), and delivered messages still on the SIM are deleted (smsd
//!    would deliver them again). Then the port's link closes (its reader thread stops).
//! 2. **The port goes back**: a message still in flight (the port failed) is put back in
//!    its folder or queue, the spool lets go of the port, the API's hold on **the call's
//!    audio** is dropped, `STOPPING=1` goes to systemd, and the lease gives the port to
//!    smstools and starts it again. This comes as early as it can: SMS are down from the
//!    signal until smsd runs. The call's audio closes when the loop's state is dropped,
//!    right after.
//! 3. **The webhooks**: the event bus closes (`GET /events` streams end) and each webhook
//!    gets a grace to deliver its last events (a call that ended as the bot stopped).
//! 4. **MQTT** publishes `offline` and disconnects; **the agent streams** end with the bus.
//! 5. **The HTTP API** stops last: until then `GET /status` answers (phase `stopping`),
//!    and its event streams have already ended with the bus, so it stops without waiting
//!    for them.

use std::io::{self, PipeReader, PipeWriter};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// The stop token; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    stopping: AtomicBool,
    waiters: Mutex<Waiters>,
    condvar: Condvar,
}

/// Who waits, besides the threads on the condition variable.
#[derive(Debug, Default)]
struct Waiters {
    /// Tasks awaiting [`Shutdown::stopped`], by the id of their future.
    tasks: Vec<(u64, Waker)>,
    next_id: u64,
    /// The write ends of the [`StopWatch`]es' pipes, closed by [`Shutdown::stop`].
    pipes: Vec<PipeWriter>,
}

impl Shutdown {
    /// A token nobody has stopped yet.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Stops: every waiter wakes, now and later. Stopping again does nothing.
    pub fn stop(&self) {
        let mut waiters = self.lock();
        if self.inner.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        let tasks = std::mem::take(&mut waiters.tasks);
        // Closing the write ends makes every watch readable (EOF).
        waiters.pipes.clear();
        drop(waiters);
        self.inner.condvar.notify_all();
        for (_, waker) in tasks {
            waker.wake();
        }
    }

    /// Whether [`Shutdown::stop`] was called.
    pub fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::SeqCst)
    }

    /// Blocks until stopped.
    pub fn wait(&self) {
        let mut waiters = self.lock();
        while !self.is_stopping() {
            waiters = match self.inner.condvar.wait(waiters) {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
    }

    /// Blocks until stopped, at most `timeout`; whether it stopped.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        let mut waiters = self.lock();
        loop {
            if self.is_stopping() {
                return true;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            waiters = match self.inner.condvar.wait_timeout(waiters, left) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// A future that completes once stopped.
    pub fn stopped(&self) -> Stopped<'_> {
        Stopped {
            token: self,
            id: None,
        }
    }

    /// A descriptor that becomes readable (for good) once stopped, for a thread that
    /// sleeps in poll(2): see [`StopWatch::wait_on`].
    pub fn watch(&self) -> io::Result<StopWatch> {
        let (reader, writer) = io::pipe()?;
        let mut waiters = self.lock();
        if !self.is_stopping() {
            waiters.pipes.push(writer);
        }
        // Stopped already: the write end is dropped here, the watch reads EOF at once.
        Ok(StopWatch { reader })
    }

    /// A guard that stops this token when it is dropped: on every way out of a scope, a
    /// panic's unwinding included.
    pub fn stop_on_drop(&self) -> StopOnDrop<'_> {
        StopOnDrop(self)
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        // Plain lists, consistent at every unlock: a panic elsewhere leaves them usable.
        self.inner.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The guard of [`Shutdown::stop_on_drop`].
#[derive(Debug)]
pub struct StopOnDrop<'a>(&'a Shutdown);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The future of [`Shutdown::stopped`].
#[derive(Debug)]
pub struct Stopped<'a> {
    token: &'a Shutdown,
    id: Option<u64>,
}

impl std::future::Future for Stopped<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.token.is_stopping() {
            return Poll::Ready(());
        }
        let token = self.token;
        let mut waiters = token.lock();
        // Checked again under the lock: `stop` sets the flag under it before waking.
        if token.is_stopping() {
            return Poll::Ready(());
        }
        let waiters = &mut *waiters;
        match self.id {
            Some(id) => {
                if let Some((_, waker)) = waiters.tasks.iter_mut().find(|(i, _)| *i == id) {
                    waker.clone_from(cx.waker());
                }
            }
            None => {
                let id = waiters.next_id;
                waiters.next_id = waiters.next_id.wrapping_add(1);
                waiters.tasks.push((id, cx.waker().clone()));
                self.id = Some(id);
            }
        }
        Poll::Pending
    }
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.token.lock().tasks.retain(|(i, _)| *i != id);
        }
    }
}

/// What ended a [`StopWatch::wait_on`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The token was stopped (this wins when the descriptor is ready too).
    Stopping,
    /// The descriptor has something: data, a hang-up or an error (a read tells which).
    Ready,
    /// The timeout passed.
    TimedOut,
}

/// The read end of a pipe that [`Shutdown::stop`] makes readable; see
/// [`Shutdown::watch`].
#[derive(Debug)]
pub struct StopWatch {
    reader: PipeReader,
}

impl StopWatch {
    /// Sleeps in poll(2) until `fd` has an event (any: readable, hung up, in error), the
    /// token is stopped, or `timeout` passes (`None`: no bound). Interruptions by a signal
    /// are slept through.
    pub fn wait_on(&self, fd: BorrowedFd<'_>, timeout: Option<Duration>) -> Result<Woken, Errno> {
        let end = timeout.map(|t| Instant::now() + t);
        loop {
            let limit = match end {
                Some(end) => {
                    let left = end.saturating_duration_since(Instant::now());
                    PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
                }
                None => PollTimeout::NONE,
            };
            let mut fds = [
                PollFd::new(self.reader.as_fd(), PollFlags::POLLIN),
                PollFd::new(fd, PollFlags::POLLIN),
            ];
            match poll(&mut fds, limit) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
            }
            // An event the poll flags do not name still is one: a read tells what it was.
            let [stop, other] = &fds;
            if stop.any().unwrap_or(true) {
                return Ok(Woken::Stopping);
            }
            if other.any().unwrap_or(true) {
                return Ok(Woken::Ready);
            }
            if end.is_some_and(|end| Instant::now() >= end) {
                return Ok(Woken::TimedOut);
            }
        }
    }
}

impl AsFd for StopWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_new_token_is_not_stopping_and_every_clone_sees_the_stop() {
        let token = Shutdown::new();
        let clone = token.clone();
        assert!(!clone.is_stopping());
        token.stop();
        token.stop();
        assert!(clone.is_stopping());
        assert!(clone.wait_timeout(Duration::ZERO));
    }

    #[test]
    fn a_guard_stops_the_token_when_a_panic_unwinds_through_it() {
        let token = Shutdown::new();
        let guarded = token.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = guarded.stop_on_drop();
            panic!("unwinding");
        })
        .join();
        assert!(panicked.is_err());
        assert!(token.is_stopping());
    }

    #[test]
    fn a_waiting_thread_wakes_when_another_stops() {
        let token = Shutdown::new();
        let waiter = {
            let token = token.clone();
            std::thread::spawn(move || {
                token.wait();
                Instant::now()
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        let stopped_at = Instant::now();
        token.stop();
        let woke_at = waiter.join().unwrap();
        assert!(woke_at >= stopped_at);
    }

    #[test]
    fn wait_timeout_says_no_when_nobody_stopped() {
        let token = Shutdown::new();
        let started = Instant::now();
        assert!(!token.wait_timeout(Duration::from_millis(30)));
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn the_future_completes_on_stop_and_a_dropped_one_leaves_no_waker() {
        let token = Shutdown::new();
        {
            let mut pending = Box::pin(token.stopped());
            let waker = futures::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            assert!(pending.as_mut().poll(&mut cx).is_pending());
            assert!(pending.as_mut().poll(&mut cx).is_pending());
            assert_eq!(token.lock().tasks.len(), 1, "polled twice, registered once");
        }
        assert!(token.lock().tasks.is_empty());
        let stopper = {
            let token = token.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                token.stop();
            })
        };
        futures::executor::block_on(token.stopped());
        stopper.join().unwrap();
        assert!(token.is_stopping());
    }

    #[test]
    fn a_watch_reports_the_descriptor_the_stop_and_the_timeout() {
        let token = Shutdown::new();
        let watch = token.watch().unwrap();
        let (reader, mut writer) = io::pipe().unwrap();
        assert_eq!(
            watch
                .wait_on(reader.as_fd(), Some(Duration::from_millis(20)))
                .unwrap(),
            Woken::TimedOut
        );
        writer.write_all(b"x").unwrap();
        assert_eq!(watch.wait_on(reader.as_fd(), None).unwrap(), Woken::Ready);
        token.stop();
        // The stop wins over a descriptor that is ready too.
        assert_eq!(
            watch.wait_on(reader.as_fd(), None).unwrap(),
            Woken::Stopping
        );
        // A watch taken after the stop is readable at once.
        let late = token.watch().unwrap();
        assert_eq!(late.wait_on(reader.as_fd(), None).unwrap(), Woken::Stopping);
    }

    #[test]
    fn a_thread_asleep_on_a_watch_wakes_when_another_stops() {
        let token = Shutdown::new();
        let watch = token.watch().unwrap();
        let (reader, _writer) = io::pipe().unwrap();
        let sleeper = std::thread::spawn(move || watch.wait_on(reader.as_fd(), None));
        std::thread::sleep(Duration::from_millis(30));
        token.stop();
        assert_eq!(sleeper.join().unwrap().unwrap(), Woken::Stopping);
    }
}
