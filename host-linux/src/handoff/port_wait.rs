//! A modem that comes late: the voice bot started before the modem's AT port exists (a
//! HAT powered after boot, a USB modem still enumerating) waits for the port to appear
//! instead of failing, and touches nothing meanwhile (smstools least of all).
//!
//! This module owns that wait. It sleeps in poll(2) on an inotify watch of the port's
//! folder (or of its nearest existing ancestor: `/dev/serial/by-id` itself only appears
//! with the first USB serial device) and on the process's stop token, so a port that
//! appears and a shutdown are both seen at once. The sleep is cut into [`LOOK_EVERY`]
//! slices, at each of which the service manager hears that the start goes on; a watch
//! that cannot be set up leaves only those slices to find the port (logged). The wait is
//! bounded by `[bot] wait_for_port_s` (0: no bound).

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::platform::shutdown::{Shutdown, StopWatch, Woken};

/// How often the wait looks at the port without an inotify event (and says the start goes
/// on).
pub const LOOK_EVERY: Duration = Duration::from_millis(250);

/// How a wait for the port ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortWait {
    /// The port was there from the start: no wait.
    Present,
    /// The port appeared after this long.
    Appeared(Duration),
    /// The bound passed without a port.
    TimedOut(Duration),
    /// A shutdown was asked for meanwhile.
    Stopped,
}

/// The folder to watch for `port`: its parent, or the nearest ancestor that exists.
pub fn watched_folder(port: &Path) -> Option<PathBuf> {
    port.ancestors()
        .skip(1)
        .find(|d| d.is_dir())
        .map(Path::to_path_buf)
}

/// The watch on the port's folder, re-armed one level deeper as folders appear.
struct FolderWatch {
    inotify: Inotify,
    watched: PathBuf,
}

impl FolderWatch {
    fn new(port: &Path) -> Option<FolderWatch> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .inspect_err(|e| log::warn!("inotify: {e}: looking for the port every {LOOK_EVERY:?}"))
            .ok()?;
        let mut watch = FolderWatch {
            inotify,
            watched: PathBuf::new(),
        };
        watch.rearm(port);
        Some(watch)
    }

    /// Watches the nearest existing folder of `port` if that is not the one watched.
    fn rearm(&mut self, port: &Path) {
        let Some(folder) = watched_folder(port) else {
            return;
        };
        if folder == self.watched {
            return;
        }
        let flags = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_ONLYDIR;
        match self.inotify.add_watch(&folder, flags) {
            Ok(_) => self.watched = folder,
            Err(e) => log::warn!(
                "inotify on {}: {e}: looking for the port every {LOOK_EVERY:?}",
                folder.display()
            ),
        }
    }

    /// Sleeps until something changes in the watched folder or `stop` stops, at most `d`.
    fn sleep(&mut self, stop: Option<&StopWatch>, d: Duration) {
        let woken = match stop {
            Some(stop) => stop.wait_on(self.inotify.as_fd(), Some(d)),
            None => self.sleep_unstoppable(d),
        };
        if woken == Ok(Woken::Ready) {
            // Drained only: the caller looks at the port itself.
            let _ = self.inotify.read_events();
        }
    }

    /// The sleep without a stop token's watch (none could be made).
    fn sleep_unstoppable(&self, d: Duration) -> Result<Woken, nix::errno::Errno> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let timeout = PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, timeout).map(|n| if n > 0 { Woken::Ready } else { Woken::TimedOut })
    }
}

/// Waits until `port` exists (a symlink counts once its target does), at most `limit`
/// (`None`: no bound), unless `stop` is stopped. `tick` runs at each look, for the
/// service manager's keep-alives.
pub fn wait_for_port(
    port: &Path,
    limit: Option<Duration>,
    stop: &Shutdown,
    tick: &mut dyn FnMut(),
) -> PortWait {
    if port.exists() {
        return PortWait::Present;
    }
    let started = Instant::now();
    let mut watch = FolderWatch::new(port);
    // Without a watch of the token (no pipe to be had), a stop is seen at the next look.
    let stop_watch = stop
        .watch()
        .inspect_err(|e| log::warn!("{e}: a shutdown is seen within {LOOK_EVERY:?}"))
        .ok();
    loop {
        if port.exists() {
            return PortWait::Appeared(started.elapsed());
        }
        if stop.is_stopping() {
            return PortWait::Stopped;
        }
        let waited = started.elapsed();
        let left = match limit {
            Some(l) if waited >= l => return PortWait::TimedOut(waited),
            Some(l) => l - waited,
            None => LOOK_EVERY,
        };
        tick();
        let slice = left.min(LOOK_EVERY);
        match watch.as_mut() {
            Some(w) => {
                w.rearm(port);
                // The folder may have gained the port between the look and the watch.
                if port.exists() {
                    continue;
                }
                w.sleep(stop_watch.as_ref(), slice);
            }
            None => {
                stop.wait_timeout(slice);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_that_is_there_needs_no_wait() {
        let dir = tempfile::tempdir().unwrap();
        let port = dir.path().join("ttyUSB2");
        std::fs::write(&port, "").unwrap();
        assert_eq!(
            wait_for_port(&port, Some(Duration::ZERO), &Shutdown::new(), &mut || {}),
            PortWait::Present
        );
    }

    #[test]
    fn a_port_that_appears_in_a_folder_yet_to_be_made_is_seen_at_once() {
        let dir = tempfile::tempdir().unwrap();
        // As /dev/serial/by-id: the folder itself comes with the device.
        let port = dir.path().join("serial/by-id/usb-SimTech-if02");
        assert_eq!(watched_folder(&port).as_deref(), Some(dir.path()));
        let maker = {
            let port = port.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                std::fs::create_dir_all(port.parent().unwrap()).unwrap();
                std::thread::sleep(Duration::from_millis(300));
                std::os::unix::fs::symlink("/dev/null", &port).unwrap();
                Instant::now()
            })
        };
        let mut ticks = 0;
        let outcome = wait_for_port(
            &port,
            Some(Duration::from_secs(10)),
            &Shutdown::new(),
            &mut || ticks += 1,
        );
        let seen = Instant::now();
        let made = maker.join().unwrap();
        assert!(
            matches!(outcome, PortWait::Appeared(d) if d >= Duration::from_millis(500)),
            "{outcome:?}"
        );
        // inotify, not the shutdown slices, woke the wait.
        assert!(
            seen.duration_since(made) < Duration::from_millis(150),
            "seen {:?} after it appeared",
            seen.duration_since(made)
        );
        assert!(ticks >= 1);
    }

    #[test]
    fn the_bound_ends_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let port = dir.path().join("ttyUSB2");
        let outcome = wait_for_port(
            &port,
            Some(Duration::from_millis(300)),
            &Shutdown::new(),
            &mut || {},
        );
        assert!(
            matches!(outcome, PortWait::TimedOut(d) if d >= Duration::from_millis(300)),
            "{outcome:?}"
        );
    }

    /// A thread that stops `stop` after `d`.
    fn stop_after(stop: &Shutdown, d: Duration) -> std::thread::JoinHandle<()> {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(d);
            stop.stop();
        })
    }

    #[test]
    fn a_shutdown_ends_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let port = dir.path().join("ttyUSB2");
        let stop = Shutdown::new();
        let stopper = stop_after(&stop, Duration::from_millis(200));
        let started = Instant::now();
        assert_eq!(
            wait_for_port(&port, None, &stop, &mut || {}),
            PortWait::Stopped
        );
        stopper.join().unwrap();
        assert!(started.elapsed() < Duration::from_millis(200) + LOOK_EVERY * 2);
    }

    #[test]
    fn a_sleep_on_the_folder_wakes_for_the_stop_not_at_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let port = dir.path().join("ttyUSB2");
        let mut folder = FolderWatch::new(&port).unwrap();
        let stop = Shutdown::new();
        let watch = stop.watch().unwrap();
        let stopper = stop_after(&stop, Duration::from_millis(100));
        let started = Instant::now();
        folder.sleep(Some(&watch), Duration::from_secs(30));
        stopper.join().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "slept {:?}",
            started.elapsed()
        );
    }
}
