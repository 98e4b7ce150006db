//! [`PortLease`]: the port, taken from smstools, held exclusively, and given back on
//! every way out.
//!
//! Acquiring restores stale markers first, records whether smstools was serving the port,
//! writes the restore marker, stops (or suspends) smstools, waits until no other process
//! holds the port (woken by inotify whenever a descriptor of the port is closed, then
//! /proc is looked at again; /proc itself has no change notification, so a bounded
//! backoff stays as the backstop), and opens the port exclusively. Any failure on the way gives smstools
//! back as it was before the error is returned. Releasing (explicit, or on drop, which an
//! unwinding panic runs too) closes the port, starts or resumes smstools, waits until it
//! is active, and then removes the marker; it happens once however often it is asked for.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use serde::Serialize;
use serialport::TTYPort;

use super::HandoffError;
use super::backend::{Backend, BackendSpec, Stopped, suspend_line};
use super::marker::{self, Marker, OwnerVerdict, marker_path, markers_in, remove_marker};
use crate::platform::holders::{self, Holder};
use crate::platform::link;

/// The shortest pause between two looks at a condition being waited for.
pub const FIRST_POLL_DELAY: Duration = Duration::from_millis(2);
/// The longest pause between two looks: bounds the lag after the condition came true.
pub const MAX_POLL_DELAY: Duration = Duration::from_millis(50);

/// The bounds of a handoff's waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HandoffTimeouts {
    /// Each external program (systemctl, service, scripts) is killed after this.
    pub command: Duration,
    /// After a stop, smstools must be inactive within this.
    pub stop: Duration,
    /// After a start, smstools must be active within this.
    pub start: Duration,
    /// After smstools stopped, the port must be free within this.
    pub port_release: Duration,
}

impl Default for HandoffTimeouts {
    fn default() -> Self {
        HandoffTimeouts {
            command: Duration::from_secs(30),
            stop: Duration::from_secs(10),
            start: Duration::from_secs(10),
            port_release: Duration::from_secs(5),
        }
    }
}

/// Everything a lease needs to know.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// The AT port.
    pub port: PathBuf,
    /// How smstools is taken off the port and given back.
    pub backend: BackendSpec,
    /// Where restore markers live.
    pub marker_dir: PathBuf,
    /// The bounds of the waits.
    pub timeouts: HandoffTimeouts,
}

/// What a release did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// Whether smstools was started (resumed) again; `false` when it was not serving the
    /// port before the lease.
    pub smstools_restarted: bool,
    /// From smstools confirmed stopped to smstools confirmed active again.
    pub pause: Option<Duration>,
}

/// The pause before look number `attempt` (0-based) at a condition: doubling from
/// [`FIRST_POLL_DELAY`] up to [`MAX_POLL_DELAY`].
pub fn poll_delay(attempt: u32) -> Duration {
    FIRST_POLL_DELAY
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(MAX_POLL_DELAY)
}

/// The holders that are not this process.
pub fn foreign_holders(holders: Vec<Holder>, own_pid: i32) -> Vec<Holder> {
    holders.into_iter().filter(|h| h.pid != own_pid).collect()
}

/// After a stop failed: whether smstools must be started again to leave it as it was.
/// Only when it was active before and is not now (or its state cannot be told, in which
/// case a start is the safe side: SMS must not stay down).
pub fn start_again_after_failed_stop(was_active: bool, active_now: Option<bool>) -> bool {
    was_active && active_now != Some(true)
}

/// What a restore must undo for a marker, or `None` when smstools was not active.
pub fn undo_for(marker: &Marker) -> Option<Stopped> {
    if !marker.smstools_was_active {
        return None;
    }
    Some(
        marker
            .stopped
            .clone()
            .unwrap_or_else(|| planned_stop(&marker.backend, marker.owner_pid)),
    )
}

/// What stopping smstools with this backend will have done, known before doing it (so
/// the marker can say it before the stop happens).
pub fn planned_stop(spec: &BackendSpec, owner_pid: u32) -> Stopped {
    match spec {
        BackendSpec::SuspendFile { device, .. } => {
            Stopped::SuspendLine(suspend_line(device, owner_pid))
        }
        _ => Stopped::Service,
    }
}

/// Polls `look` with [`poll_delay`] pauses until it gives `Some`, or `timeout` passed
/// (then `Ok(None)`). Sleeping between looks: no busy wait.
pub fn wait_for<T>(
    timeout: Duration,
    mut look: impl FnMut() -> Result<Option<T>, HandoffError>,
) -> Result<Option<T>, HandoffError> {
    let deadline = Instant::now() + timeout;
    let mut attempt = 0;
    loop {
        if let Some(v) = look()? {
            return Ok(Some(v));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(poll_delay(attempt).min(deadline - now));
        attempt = attempt.saturating_add(1);
    }
}

/// inotify on the port for closes: the kernel reports every close of a descriptor of
/// the device (`IN_CLOSE_WRITE`, `IN_CLOSE_NOWRITE`), a process's exit included, which is
/// the moment a holder may have let go.
#[derive(Debug)]
struct CloseWatch {
    inotify: Inotify,
}

impl CloseWatch {
    /// A watch on `port`'s device, or `None` where inotify cannot watch it (no inotify
    /// instances left, say): the wait then polls alone.
    fn new(port: &Path) -> Option<CloseWatch> {
        let device = std::fs::canonicalize(port).ok()?;
        let watch = || -> nix::Result<CloseWatch> {
            let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
            inotify.add_watch(
                &device,
                AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_CLOSE_NOWRITE,
            )?;
            Ok(CloseWatch { inotify })
        };
        match watch() {
            Ok(w) => Some(w),
            Err(e) => {
                log::debug!(
                    "cannot watch {} for closes ({e}): polling for its release",
                    device.display()
                );
                None
            }
        }
    }

    /// Sleeps until a descriptor of the port is closed or `timeout` passed, then takes
    /// the events (only their coming matters).
    fn wait(&self, timeout: Duration) {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        // Whole milliseconds, rounded up: a wait of 0 would turn the loop into a spin.
        let ms = timeout
            .as_micros()
            .div_ceil(1000)
            .clamp(1, u128::from(u16::MAX));
        let timeout = PollTimeout::from(u16::try_from(ms).unwrap_or(u16::MAX));
        let mut fds = [PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
        // EINTR or an error of poll: the caller looks at the port again either way.
        if poll(&mut fds, timeout).is_ok_and(|n| n > 0) {
            let _ = self.inotify.read_events();
        }
    }
}

/// Waits until no process but this one (`own_pid`) holds `port`, at most `timeout`;
/// `Err` with the last holders seen when it stays held. Woken by each close of the port
/// (an inotify watch on the port), it looks at /proc again at once; `backstop` (the pause before
/// look number n) bounds each sleep in case a release came without an event, and is the
/// whole wait where inotify cannot watch the port.
pub fn wait_for_release(
    port: &Path,
    own_pid: i32,
    timeout: Duration,
    backstop: impl Fn(u32) -> Duration,
) -> Result<Result<(), Vec<Holder>>, HandoffError> {
    // The watch is set before the first look, so a close between a look and the sleep
    // after it still wakes that sleep.
    let watch = CloseWatch::new(port);
    let deadline = Instant::now() + timeout;
    let mut attempt = 0;
    loop {
        let holders = foreign_holders(holders::holders_of(port)?, own_pid);
        if holders.is_empty() {
            return Ok(Ok(()));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(Err(holders));
        }
        let pause = backstop(attempt).min(deadline - now);
        match &watch {
            Some(w) => w.wait(pause),
            None => std::thread::sleep(pause),
        }
        attempt = attempt.saturating_add(1);
    }
}

/// Puts smstools back as `undo` says and waits until it is active; returns when it was
/// confirmed. Starting is skipped when smstools is already active (a restart would only
/// lengthen the pause, and some start scripts would start a second smsd).
fn give_back(
    backend: &Backend,
    undo: &Stopped,
    timeouts: &HandoffTimeouts,
) -> Result<Instant, HandoffError> {
    let already = matches!(undo, Stopped::Service) && backend.is_active()?;
    if !already {
        backend.start(undo)?;
    }
    let confirmed = wait_for(timeouts.start, || {
        Ok(backend.is_active()?.then(Instant::now))
    })?;
    confirmed.ok_or_else(|| HandoffError::NotStarted {
        what: backend.describe(),
        waited: timeouts.start,
    })
}

/// What a look at the markers found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MarkerOutcome {
    /// The owner was gone: smstools was given back (if it had been active) and the marker
    /// removed.
    Restored {
        /// The marker.
        path: PathBuf,
        /// Its port.
        port: PathBuf,
        /// The dead owner.
        owner_pid: u32,
        /// Whether smstools had to be given back.
        smstools_restored: bool,
    },
    /// The owner lives: the marker was left alone.
    OwnerAlive {
        /// The marker.
        path: PathBuf,
        /// Its port.
        port: PathBuf,
        /// The owner.
        owner_pid: u32,
    },
}

/// Restores every marker in `dir` whose owner is gone; leaves the others alone. A marker
/// whose restore failed stays, for the next try, and its error is returned (after the
/// other markers were handled).
pub fn restore_stale_markers(
    dir: &Path,
    timeouts: &HandoffTimeouts,
) -> Result<Vec<MarkerOutcome>, HandoffError> {
    restore_stale_markers_with(dir, timeouts, &mut |_| {})
}

/// [`restore_stale_markers`], calling `before_give_back` with the port of each marker
/// whose owner is gone before smstools gets that port back (`sim7600 restore` puts back
/// the spool files the dead bot had claimed, so that smsd finds them).
pub fn restore_stale_markers_with(
    dir: &Path,
    timeouts: &HandoffTimeouts,
    before_give_back: &mut dyn FnMut(&Path),
) -> Result<Vec<MarkerOutcome>, HandoffError> {
    let mut outcomes = Vec::new();
    let mut first_error = None;
    for path in markers_in(dir)? {
        match restore_one(&path, timeouts, before_give_back) {
            Ok(Some(o)) => outcomes.push(o),
            Ok(None) => {}
            Err(e) => {
                log::error!("{e}");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(outcomes),
    }
}

fn restore_one(
    path: &Path,
    timeouts: &HandoffTimeouts,
    before_give_back: &mut dyn FnMut(&Path),
) -> Result<Option<MarkerOutcome>, HandoffError> {
    let Some(m) = Marker::read(path)? else {
        return Ok(None);
    };
    if m.owner_now() == OwnerVerdict::Alive {
        log::info!(
            "restore marker {} belongs to pid {} ({}), which lives: left alone",
            path.display(),
            m.owner_pid,
            m.owner_command
        );
        return Ok(Some(MarkerOutcome::OwnerAlive {
            path: path.to_path_buf(),
            port: m.port,
            owner_pid: m.owner_pid,
        }));
    }
    before_give_back(&m.port);
    let undo = undo_for(&m);
    if let Some(undo) = &undo {
        log::warn!(
            "pid {} ({}) died holding {}: giving smstools back ({})",
            m.owner_pid,
            m.owner_command,
            m.port.display(),
            m.backend.describe()
        );
        let backend = Backend::new(m.backend.clone(), timeouts.command);
        give_back(&backend, undo, timeouts)?;
    }
    remove_marker(path)?;
    Ok(Some(MarkerOutcome::Restored {
        path: path.to_path_buf(),
        port: m.port,
        owner_pid: m.owner_pid,
        smstools_restored: undo.is_some(),
    }))
}

/// A marker that could not be created because another process created it first (two
/// `sim7600` commands starting at once) names that process; any other error stays as it is.
fn lost_race(e: HandoffError, port: &Path, marker_file: &Path) -> HandoffError {
    let exists = matches!(&e, HandoffError::MarkerWrite(e) if e.is_already_exists());
    if !exists {
        return e;
    }
    match Marker::read(marker_file) {
        Ok(Some(m)) => HandoffError::LeasedByOther {
            port: port.to_path_buf(),
            owner_pid: m.owner_pid,
            owner_command: m.owner_command,
            marker: marker_file.to_path_buf(),
        },
        _ => e,
    }
}

/// The port, taken from smstools and open exclusively; smstools comes back when it ends.
#[derive(Debug)]
pub struct PortLease {
    settings: LeaseSettings,
    backend: Backend,
    port: Option<TTYPort>,
    /// What was done to smstools (None: it was not active, nothing to undo).
    undo: Option<Stopped>,
    /// When the stop of smstools was asked for: SMS are down from here.
    stop_begun: Option<Instant>,
    stopped_at: Option<Instant>,
    marker: PathBuf,
    released: Option<Released>,
}

impl PortLease {
    /// Takes the port: see the module doc. On error smstools is as it was before.
    pub fn acquire(settings: LeaseSettings) -> Result<PortLease, HandoffError> {
        let timeouts = settings.timeouts;
        if let Err(e) = restore_stale_markers(&settings.marker_dir, &timeouts) {
            log::error!("restoring a stale marker failed (going on): {e}");
        }
        let marker_file = marker_path(&settings.marker_dir, &settings.port);
        if let Some(m) = Marker::read(&marker_file)? {
            // restore_stale_markers removed it if its owner was gone, unless that failed.
            if m.owner_now() == OwnerVerdict::Alive {
                return Err(HandoffError::LeasedByOther {
                    port: settings.port.clone(),
                    owner_pid: m.owner_pid,
                    owner_command: m.owner_command,
                    marker: marker_file,
                });
            }
        }
        let backend = Backend::new(settings.backend.clone(), timeouts.command);
        let own_pid = std::process::id();
        let was_active = backend.is_active()?;
        let undo = was_active.then(|| planned_stop(&settings.backend, own_pid));
        let marker = Marker {
            version: marker::MARKER_VERSION,
            port: settings.port.clone(),
            owner_pid: own_pid,
            owner_start_time: i32::try_from(own_pid)
                .ok()
                .and_then(holders::start_time)
                .unwrap_or(0),
            owner_command: i32::try_from(own_pid)
                .ok()
                .and_then(holders::command_name)
                .unwrap_or_else(|| "sim7600".into()),
            smstools_was_active: was_active,
            stopped: undo.clone(),
            backend: settings.backend.clone(),
        };
        // The marker goes first: a kill between the stop and the marker would otherwise
        // leave smstools down with nothing to tell.
        if let Err(e) = marker.create(&marker_file) {
            return Err(lost_race(e, &settings.port, &marker_file));
        }
        let mut lease = PortLease {
            settings,
            backend,
            port: None,
            undo,
            stop_begun: None,
            stopped_at: None,
            marker: marker_file,
            released: None,
        };
        match lease.take_port() {
            Ok(()) => Ok(lease),
            Err(cause) => Err(lease.back_out(cause)),
        }
    }

    fn take_port(&mut self) -> Result<(), HandoffError> {
        let t = self.settings.timeouts;
        if self.undo.is_some() {
            log::info!("stopping {}", self.backend.describe());
            self.stop_begun = Some(Instant::now());
            self.backend.stop(std::process::id())?;
            let stopped = wait_for(t.stop, || {
                Ok((!self.backend.is_active()?).then(Instant::now))
            })?;
            match stopped {
                Some(at) => self.stopped_at = Some(at),
                None => {
                    return Err(HandoffError::NotStopped {
                        what: self.backend.describe(),
                        waited: t.stop,
                    });
                }
            }
        }
        let own = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        let port = self.settings.port.clone();
        if let Err(holders) = wait_for_release(&port, own, t.port_release, poll_delay)? {
            return Err(HandoffError::PortHeld {
                port,
                holders,
                waited: t.port_release,
            });
        }
        self.port = Some(link::open_exclusive(&port)?);
        log::info!("port {} is ours", port.display());
        Ok(())
    }

    /// After a failed acquire: smstools back as it was, the marker gone; the error to
    /// return.
    fn back_out(mut self, cause: HandoffError) -> HandoffError {
        self.port = None;
        // The lease never existed: nothing to release on drop.
        self.released = Some(Released {
            smstools_restarted: false,
            pause: None,
        });
        let Some(undo) = self.undo.clone() else {
            return match remove_marker(&self.marker) {
                Ok(()) => cause,
                Err(e) => HandoffError::RestoreFailed {
                    cause: Box::new(cause),
                    restore: Box::new(e),
                },
            };
        };
        let active_now = self.backend.is_active().ok();
        let result = if matches!(undo, Stopped::SuspendLine(_))
            || start_again_after_failed_stop(true, active_now)
        {
            give_back(&self.backend, &undo, &self.settings.timeouts).map(|_| ())
        } else {
            // The stop never took: smstools runs as before, nothing to undo.
            Ok(())
        };
        match result.and_then(|()| remove_marker(&self.marker)) {
            Ok(()) => cause,
            Err(restore) => HandoffError::RestoreFailed {
                cause: Box::new(cause),
                restore: Box::new(restore),
            },
        }
    }

    /// The port, open exclusively (`None` after release).
    pub fn port(&self) -> Option<&TTYPort> {
        self.port.as_ref()
    }

    /// The port's path.
    pub fn port_path(&self) -> &Path {
        &self.settings.port
    }

    /// When this lease asked smstools to stop (`None`: smstools was not serving the port,
    /// no SMS service was interrupted).
    pub fn stopping_since(&self) -> Option<Instant> {
        self.stop_begun
    }

    /// Whether smstools was serving the port before the lease.
    pub fn smstools_was_active(&self) -> bool {
        self.undo.is_some()
    }

    /// The restore marker of this lease.
    pub fn marker_path(&self) -> &Path {
        &self.marker
    }

    /// Closes the port and gives smstools back, confirmed active, then removes the
    /// marker. Runs once: later calls return the first outcome. When giving back fails,
    /// the marker stays so `sim7600 restore` can try again.
    pub fn release(&mut self) -> Result<Released, HandoffError> {
        if let Some(r) = self.released {
            return Ok(r);
        }
        self.port = None;
        // Whatever happens below, this lease does not try again (a drop after a failed
        // explicit release would only repeat the failure); the marker keeps the duty.
        self.released = Some(Released {
            smstools_restarted: false,
            pause: None,
        });
        let released = match &self.undo {
            None => Released {
                smstools_restarted: false,
                pause: None,
            },
            Some(undo) => {
                log::info!("giving the port back to {}", self.backend.describe());
                let started = give_back(&self.backend, undo, &self.settings.timeouts)?;
                Released {
                    smstools_restarted: true,
                    pause: self
                        .stopped_at
                        .map(|s| started.saturating_duration_since(s)),
                }
            }
        };
        remove_marker(&self.marker)?;
        self.released = Some(released);
        Ok(released)
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        if self.released.is_none() {
            if let Err(e) = self.release() {
                log::error!("releasing {} failed: {e}", self.settings.port.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polling_starts_fast_and_backs_off_to_a_ceiling() {
        assert_eq!(poll_delay(0), Duration::from_millis(2));
        assert_eq!(poll_delay(1), Duration::from_millis(4));
        assert_eq!(poll_delay(4), Duration::from_millis(32));
        assert_eq!(poll_delay(5), MAX_POLL_DELAY);
        assert_eq!(poll_delay(u32::MAX), MAX_POLL_DELAY);
    }

    #[test]
    fn this_process_is_no_foreign_holder() {
        let hs = vec![
            Holder {
                pid: 10,
                command: "sim7600".into(),
            },
            Holder {
                pid: 11,
                command: "minicom".into(),
            },
        ];
        assert_eq!(
            foreign_holders(hs, 10),
            vec![Holder {
                pid: 11,
                command: "minicom".into()
            }]
        );
    }

    #[test]
    fn a_smstools_that_would_not_stop_is_left_running() {
        assert!(!start_again_after_failed_stop(true, Some(true)));
    }

    #[test]
    fn a_smstools_half_stopped_by_a_failed_stop_is_started_again() {
        assert!(start_again_after_failed_stop(true, Some(false)));
        assert!(start_again_after_failed_stop(true, None));
    }

    #[test]
    fn a_smstools_that_was_not_running_is_not_started() {
        assert!(!start_again_after_failed_stop(false, Some(false)));
        assert!(!start_again_after_failed_stop(false, None));
    }

    fn marker(active: bool, backend: BackendSpec, stopped: Option<Stopped>) -> Marker {
        Marker {
            version: marker::MARKER_VERSION,
            port: "/dev/ttyUSB2".into(),
            owner_pid: 31,
            owner_start_time: 5,
            owner_command: "sim7600".into(),
            smstools_was_active: active,
            stopped,
            backend,
        }
    }

    #[test]
    fn a_marker_of_an_inactive_smstools_undoes_nothing() {
        assert_eq!(undo_for(&marker(false, BackendSpec::default(), None)), None);
    }

    #[test]
    fn a_marker_written_before_the_suspend_still_names_the_line_to_remove() {
        let spec = BackendSpec::SuspendFile {
            suspend_file: "/s".into(),
            smsd_pid_file: "/p".into(),
            device: "GSM1".into(),
        };
        assert_eq!(
            undo_for(&marker(true, spec, None)),
            Some(Stopped::SuspendLine(
                "GSM1: sim7600 (pid 31) holds the port".into()
            ))
        );
        assert_eq!(
            undo_for(&marker(true, BackendSpec::default(), None)),
            Some(Stopped::Service)
        );
    }

    #[test]
    fn losing_the_race_for_the_marker_names_the_winner() {
        let dir = tempfile::tempdir().unwrap();
        let path = marker::marker_path(dir.path(), Path::new("/dev/ttyUSB2"));
        let winner = marker(true, BackendSpec::default(), None);
        winner.create(&path).unwrap();
        let err = winner.create(&path).unwrap_err();
        let named = lost_race(err, Path::new("/dev/ttyUSB2"), &path).to_string();
        assert!(named.contains("leased by pid 31 (sim7600)"), "{named}");
    }

    /// A pty whose slave is the "port", opened nowhere yet; close-on-exec, so that the
    /// children other tests spawn meanwhile do not inherit it and hold it.
    fn pty_port() -> (nix::pty::PtyMaster, PathBuf) {
        use nix::fcntl::OFlag;
        let master =
            nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).unwrap();
        nix::pty::grantpt(&master).unwrap();
        nix::pty::unlockpt(&master).unwrap();
        let port = PathBuf::from(nix::pty::ptsname_r(&master).unwrap());
        (master, port)
    }

    /// A child process that holds `port` open for `hold` (a shell and its `sleep`, both
    /// with the descriptor), once /proc shows it.
    fn holder_of(port: &Path, hold: &str) -> std::process::Child {
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 3<>\"$1\"; sleep \"$2\"")
            .arg("sh")
            .arg(port)
            .arg(hold)
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let r = wait_for(Duration::from_secs(10), || {
            Ok(holders::holders_of(port)?
                .iter()
                .any(|h| h.pid == pid)
                .then_some(()))
        })
        .unwrap();
        assert_eq!(r, Some(()), "the child never held {}", port.display());
        child
    }

    #[test]
    fn the_wait_for_the_ports_release_is_woken_by_the_holders_close() {
        let (_master, port) = pty_port();
        let mut child = holder_of(&port, "0.3");
        let own = i32::try_from(std::process::id()).unwrap();
        let started = Instant::now();
        // A backstop of 20 s between looks: only the close's event can end the wait
        // sooner (the holder lets go after 0.3 s).
        let r = wait_for_release(&port, own, Duration::from_secs(60), |_| {
            Duration::from_secs(20)
        })
        .unwrap();
        let took = started.elapsed();
        assert_eq!(r, Ok(()));
        assert!(took < Duration::from_secs(15), "{took:?}");
        child.wait().unwrap();
    }

    #[test]
    fn a_port_held_past_the_bound_names_its_holder() {
        let (_master, port) = pty_port();
        let mut child = holder_of(&port, "30");
        let own = i32::try_from(std::process::id()).unwrap();
        let r = wait_for_release(&port, own, Duration::from_millis(200), poll_delay).unwrap();
        let holders = r.unwrap_err();
        let pid = i32::try_from(child.id()).unwrap();
        assert!(holders.iter().any(|h| h.pid == pid), "{holders:?}");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_port_held_by_this_process_alone_is_free() {
        let (_master, port) = pty_port();
        // std opens with O_CLOEXEC: no child of another test inherits this one.
        let _ours = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&port)
            .unwrap();
        let own = i32::try_from(std::process::id()).unwrap();
        let r = wait_for_release(&port, own, Duration::from_secs(5), poll_delay).unwrap();
        assert_eq!(r, Ok(()));
    }

    #[test]
    fn waiting_gives_up_at_the_bound() {
        let started = Instant::now();
        let r: Option<()> = wait_for(Duration::from_millis(100), || Ok(None)).unwrap();
        assert_eq!(r, None);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }

    #[test]
    fn waiting_returns_as_soon_as_the_condition_holds() {
        let mut n = 0;
        let r = wait_for(Duration::from_secs(5), || {
            n += 1;
            Ok((n == 3).then_some(n))
        })
        .unwrap();
        assert_eq!(r, Some(3));
    }
}
