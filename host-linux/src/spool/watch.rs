//! Watching smsd's outgoing/ and checked/ folders with inotify, so a dropped file is sent
//! at once and an idle bot sleeps.
//!
//! This module owns the inotify descriptor. A file counts when its writer closed it
//! (`IN_CLOSE_WRITE`) or it was renamed into the folder (`IN_MOVED_TO`, how careful
//! programs hand smsd a file); a `.LOCK` going away (`IN_DELETE`, `IN_MOVED_FROM`) makes
//! its file a candidate again. Hidden files are never candidates. A queue overflow asks
//! for a rescan ([`WatchEvent::Rescan`]), which [`super::Outbox::pending`] bounds. The
//! watcher only reports; claiming (and finding that a file is gone or locked) is the
//! outbox's.
//!
//! For the bot's loop: [`SpoolWatcher::wait`] sleeps in poll(2) until something happens
//! or a timeout; or put [`SpoolWatcher`]'s descriptor (it is `AsFd`) into the loop's own
//! poll set and call [`SpoolWatcher::read`] when it is readable.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use super::SpoolError;
use super::outbox::LOCK_SUFFIX;

/// What happened in a watched folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// This file may be ready to claim.
    Candidate(PathBuf),
    /// Events were lost (the kernel's queue overflowed): scan the folders again.
    Rescan,
}

/// inotify on the spool folders the bot sends from.
#[derive(Debug)]
pub struct SpoolWatcher {
    inotify: Inotify,
    folders: Vec<(WatchDescriptor, PathBuf)>,
}

impl SpoolWatcher {
    /// Watches `folders` (outgoing/ and checked/).
    pub fn new(folders: &[&Path]) -> Result<SpoolWatcher, SpoolError> {
        let first = folders
            .first()
            .map_or_else(PathBuf::new, |p| p.to_path_buf());
        let inotify =
            Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map_err(|source| {
                SpoolError::Watch {
                    path: first,
                    source,
                }
            })?;
        let mut watched = Vec::new();
        for dir in folders {
            let wd = inotify
                .add_watch(
                    *dir,
                    AddWatchFlags::IN_CLOSE_WRITE
                        | AddWatchFlags::IN_MOVED_TO
                        | AddWatchFlags::IN_MOVED_FROM
                        | AddWatchFlags::IN_DELETE
                        | AddWatchFlags::IN_ONLYDIR,
                )
                .map_err(|source| SpoolError::Watch {
                    path: dir.to_path_buf(),
                    source,
                })?;
            watched.push((wd, dir.to_path_buf()));
        }
        Ok(SpoolWatcher {
            inotify,
            folders: watched,
        })
    }

    /// An inotify failure, named by the first watched folder.
    fn watch_error(&self, source: nix::errno::Errno) -> SpoolError {
        SpoolError::Watch {
            path: self
                .folders
                .first()
                .map(|(_, p)| p.clone())
                .unwrap_or_default(),
            source,
        }
    }

    /// The events ready now, without waiting (empty when none).
    pub fn read(&self) -> Result<Vec<WatchEvent>, SpoolError> {
        let events = match self.inotify.read_events() {
            Ok(events) => events,
            Err(nix::errno::Errno::EAGAIN) => return Ok(Vec::new()),
            Err(source) => {
                return Err(self.watch_error(source));
            }
        };
        let mut out: Vec<WatchEvent> = Vec::new();
        for ev in events {
            if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                out.push(WatchEvent::Rescan);
                continue;
            }
            let Some(dir) = self
                .folders
                .iter()
                .find(|(wd, _)| *wd == ev.wd)
                .map(|(_, d)| d)
            else {
                continue;
            };
            let Some(name) = ev.name.as_ref().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let candidate = if let Some(file) = name.strip_suffix(LOCK_SUFFIX) {
                // A lock went away: its file may be free now.
                ev.mask
                    .intersects(AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM)
                    .then(|| dir.join(file))
            } else {
                ev.mask
                    .intersects(AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO)
                    .then(|| dir.join(&name))
            };
            if let Some(path) = candidate {
                let event = WatchEvent::Candidate(path);
                if !out.contains(&event) {
                    out.push(event);
                }
            }
        }
        Ok(out)
    }

    /// Sleeps until an event or `timeout` (`None`: no limit); returns the events (empty
    /// on timeout). Interrupted by a signal: returns empty, so the caller checks its
    /// shutdown flag.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<Vec<WatchEvent>, SpoolError> {
        loop {
            let ready = self.read()?;
            if !ready.is_empty() {
                return Ok(ready);
            }
            let t = match timeout {
                None => PollTimeout::NONE,
                // Longer than poll's i32 milliseconds (24 days): wait the most it can.
                Some(d) => PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX),
            };
            let mut fds = [PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, t) {
                Ok(0) => return Ok(Vec::new()),
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => return Ok(Vec::new()),
                Err(source) => {
                    return Err(self.watch_error(source));
                }
            }
        }
    }
}

impl AsFd for SpoolWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_renamed_into_outgoing_is_reported_once_and_hidden_writes_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let w = SpoolWatcher::new(&[dir.path()]).unwrap();
        assert!(w.wait(Some(Duration::from_millis(10))).unwrap().is_empty());
        std::fs::write(dir.path().join(".tmp"), "To: 49\n\nx").unwrap();
        std::fs::rename(dir.path().join(".tmp"), dir.path().join("msg")).unwrap();
        let events = w.wait(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(events, vec![WatchEvent::Candidate(dir.path().join("msg"))]);
    }

    #[test]
    fn a_file_written_in_place_counts_when_closed() {
        let dir = tempfile::tempdir().unwrap();
        let w = SpoolWatcher::new(&[dir.path()]).unwrap();
        std::fs::write(dir.path().join("msg"), "To: 49\n\nx").unwrap();
        let events = w.wait(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(events, vec![WatchEvent::Candidate(dir.path().join("msg"))]);
    }

    #[test]
    fn a_removed_lock_makes_its_file_a_candidate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("msg.LOCK"), "1 GSM1\n").unwrap();
        let w = SpoolWatcher::new(&[dir.path()]).unwrap();
        std::fs::remove_file(dir.path().join("msg.LOCK")).unwrap();
        let events = w.wait(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(events, vec![WatchEvent::Candidate(dir.path().join("msg"))]);
    }

    #[test]
    fn watching_a_missing_folder_names_it() {
        let e = SpoolWatcher::new(&[Path::new("/nonexistent/outgoing")]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/outgoing"), "{e}");
    }
}
