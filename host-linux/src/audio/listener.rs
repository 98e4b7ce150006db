//! Hearing the caller: the one reader of the audio port's reading side. It cuts the
//! caller's PCM into 20 ms frames ([`FrameAssembler`]), writes each call to its own WAV
//! file in the recordings folder ([`RecordingFolder`], oldest files deleted first to stay
//! within a number of files and of bytes), and hands every frame to live subscribers
//! (speech-to-text, the HTTP stream) through bounded channels ([`Subscribers`]). A
//! subscriber that falls a second behind is dropped: the call never waits for a reader.
//!
//! The pieces are sans-I/O and unit-tested; [`CallerAudio`] is the thread around them,
//! asleep in poll(2) on the port and its stop token's watch
//! ([`crate::platform::shutdown`]).

use std::fs::File;
use std::io::{BufWriter, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crate::platform::shutdown::{Shutdown, StopWatch, Woken};

use super::format::{BYTES_PER_SAMPLE, CallFormat, FRAME_DURATION};

/// Frames a live subscriber may have unread before it is dropped (50: one second).
pub const SUBSCRIBER_QUEUE_FRAMES: usize = 50;
/// The most live subscribers at once (a further one is refused).
pub const MAX_SUBSCRIBERS: usize = 8;
/// Bytes read from the port at once.
pub const READ_CHUNK: usize = 4096;
/// How often (in frames) the WAV header is brought up to date, so that a crash leaves a
/// playable file: every second.
pub const WAV_FLUSH_FRAMES: u64 = 50;
/// Default for [`Retention::max_files`].
pub const DEFAULT_MAX_RECORDINGS: usize = 200;
/// Default for [`Retention::max_bytes`] (512 MiB: about 9 hours of 8 kHz calls).
pub const DEFAULT_MAX_RECORDING_BYTES: u64 = 512 * 1024 * 1024;
/// Size of a WAV header as hound writes it for 16-bit PCM.
pub const WAV_HEADER_BYTES: u64 = 44;
/// Recording files are named `call-<UTC time>-<label>.wav`; only such files are ever
/// deleted by retention.
pub const RECORDING_PREFIX: &str = "call-";

/// One frame of the caller's audio: signed 16-bit little-endian mono PCM.
pub type CallerFrame = Arc<[u8]>;

/// Cuts a byte stream into whole frames.
#[derive(Debug)]
pub struct FrameAssembler {
    frame_bytes: usize,
    partial: Vec<u8>,
}

impl FrameAssembler {
    /// For frames of `format`.
    pub fn new(format: CallFormat) -> FrameAssembler {
        FrameAssembler {
            frame_bytes: format.frame_bytes(),
            partial: Vec::with_capacity(format.frame_bytes()),
        }
    }

    /// Takes `bytes` and calls `each` with every frame they complete.
    pub fn push(&mut self, mut bytes: &[u8], mut each: impl FnMut(&[u8])) {
        while !bytes.is_empty() {
            let want = self.frame_bytes - self.partial.len();
            let (take, rest) = bytes.split_at(want.min(bytes.len()));
            self.partial.extend_from_slice(take);
            bytes = rest;
            if self.partial.len() == self.frame_bytes {
                each(&self.partial);
                self.partial.clear();
            }
        }
    }
}

/// The live listeners.
#[derive(Debug, Default)]
pub struct Subscribers {
    senders: Vec<SyncSender<CallerFrame>>,
    dropped_slow: u64,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// [`MAX_SUBSCRIBERS`] are already listening.
    #[error("{0} live listeners already (the most there may be)")]
    TooMany(usize),
    /// The call's audio has ended.
    #[error("the call's audio has ended")]
    Ended,
}

impl Subscribers {
    /// A new listener: frames from now on, until the call ends or it falls behind.
    pub fn subscribe(&mut self) -> Result<Receiver<CallerFrame>, SubscribeError> {
        if self.senders.len() >= MAX_SUBSCRIBERS {
            return Err(SubscribeError::TooMany(self.senders.len()));
        }
        let (tx, rx) = mpsc::sync_channel(SUBSCRIBER_QUEUE_FRAMES);
        self.senders.push(tx);
        Ok(rx)
    }

    /// Gives `frame` to every listener; one whose queue is full is dropped (its
    /// receiver sees the end), one that went away is forgotten.
    pub fn publish(&mut self, frame: &CallerFrame) {
        let mut slow = 0;
        self.senders
            .retain(|s| match s.try_send(Arc::clone(frame)) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    slow += 1;
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            });
        self.dropped_slow += slow;
    }

    /// Listeners now.
    pub fn count(&self) -> usize {
        self.senders.len()
    }

    /// Listeners dropped for falling behind.
    pub fn dropped_slow(&self) -> u64 {
        self.dropped_slow
    }

    /// Ends every stream.
    pub fn close(&mut self) {
        self.senders.clear();
    }
}

/// How much the recordings folder may hold; the oldest recordings go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// The most recording files kept.
    #[serde(default = "default_max_files")]
    pub max_files: usize,
    /// The most bytes all recordings together may take (one recording is cut off there).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

fn default_max_files() -> usize {
    DEFAULT_MAX_RECORDINGS
}

fn default_max_bytes() -> u64 {
    DEFAULT_MAX_RECORDING_BYTES
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_files: DEFAULT_MAX_RECORDINGS,
            max_bytes: DEFAULT_MAX_RECORDING_BYTES,
        }
    }
}

/// What went wrong with the recordings folder or a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The folder could not be created or listed.
    #[error("cannot use the recordings folder {path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be created, written or deleted.
    #[error("cannot write the call recording {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The retention allows nothing.
    #[error("the recording retention allows no file ({max_files} files, {max_bytes} bytes)")]
    NoRoom {
        /// Configured files.
        max_files: usize,
        /// Configured bytes.
        max_bytes: u64,
    },
}

fn hound_io(e: hound::Error) -> std::io::Error {
    match e {
        hound::Error::IoError(io) => io,
        other => std::io::Error::other(other.to_string()),
    }
}

/// The folder where call recordings go, and its retention.
#[derive(Debug, Clone)]
pub struct RecordingFolder {
    dir: PathBuf,
    retention: Retention,
}

impl RecordingFolder {
    /// Recordings in `dir` (created when missing) within `retention`.
    pub fn new(dir: &Path, retention: Retention) -> Result<RecordingFolder, RecordingError> {
        if retention.max_files == 0 || retention.max_bytes <= WAV_HEADER_BYTES {
            return Err(RecordingError::NoRoom {
                max_files: retention.max_files,
                max_bytes: retention.max_bytes,
            });
        }
        std::fs::create_dir_all(dir).map_err(|source| RecordingError::Folder {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(RecordingFolder {
            dir: dir.to_path_buf(),
            retention,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The recordings, oldest first, with their sizes.
    pub fn recordings(&self) -> Result<Vec<(PathBuf, u64)>, RecordingError> {
        let folder_err = |source| RecordingError::Folder {
            path: self.dir.clone(),
            source,
        };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(folder_err)? {
            let entry = entry.map_err(folder_err)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with(RECORDING_PREFIX) && name.ends_with(".wav")) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            found.push((modified, entry.path(), meta.len()));
        }
        // Names carry the start time, so they break ties between equal mtimes.
        found.sort();
        Ok(found.into_iter().map(|(_, p, len)| (p, len)).collect())
    }

    /// Deletes the oldest recordings until at most `max_files` files and `max_bytes`
    /// bytes remain, counting `reserve_files` and `reserve_bytes` as already taken.
    /// Returns what was deleted.
    fn make_room(
        &self,
        reserve_files: usize,
        reserve_bytes: u64,
    ) -> Result<Vec<PathBuf>, RecordingError> {
        let all = self.recordings()?;
        let mut files = all.len() + reserve_files;
        let mut bytes = all.iter().map(|(_, l)| l).sum::<u64>() + reserve_bytes;
        let mut deleted = Vec::new();
        for (path, len) in all {
            if files <= self.retention.max_files && bytes <= self.retention.max_bytes {
                break;
            }
            std::fs::remove_file(&path).map_err(|source| RecordingError::File {
                path: path.clone(),
                source,
            })?;
            files -= 1;
            bytes = bytes.saturating_sub(len);
            deleted.push(path);
        }
        Ok(deleted)
    }

    /// Starts the recording of a call in `format`, named by the time and `label` (the
    /// caller's number, say; anything but letters, digits and `+` becomes `_`). Older
    /// recordings are deleted first to make room for one more file.
    pub fn start(&self, label: &str, format: CallFormat) -> Result<CallRecording, RecordingError> {
        self.make_room(1, WAV_HEADER_BYTES)?;
        let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.3fZ");
        let label: String = label
            .chars()
            .take(32)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '+' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let label = if label.is_empty() {
            "unknown".into()
        } else {
            label
        };
        let path = self
            .dir
            .join(format!("{RECORDING_PREFIX}{stamp}-{label}.wav"));
        let file_err = |source| RecordingError::File {
            path: path.clone(),
            source,
        };
        let file = File::create_new(&path).map_err(file_err)?;
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: format.sample_rate(),
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer =
            hound::WavWriter::new(BufWriter::new(file), spec).map_err(|e| file_err(hound_io(e)))?;
        Ok(CallRecording {
            path,
            writer: Some(writer),
            format,
            frames: 0,
            max_frames: (self.retention.max_bytes - WAV_HEADER_BYTES) / format.frame_bytes() as u64,
            cut_off: false,
            folder: self.clone(),
        })
    }
}

/// One call's recording, being written.
pub struct CallRecording {
    path: PathBuf,
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    format: CallFormat,
    frames: u64,
    max_frames: u64,
    cut_off: bool,
    folder: RecordingFolder,
}

impl std::fmt::Debug for CallRecording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRecording")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("frames", &self.frames)
            .field("max_frames", &self.max_frames)
            .field("cut_off", &self.cut_off)
            .finish_non_exhaustive()
    }
}

/// A finished recording.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordingSummary {
    /// The WAV file.
    pub path: PathBuf,
    /// Frames in it.
    pub frames: u64,
    /// Its duration.
    pub duration: Duration,
    /// Whether it was cut off at the folder's byte limit.
    pub cut_off: bool,
}

impl CallRecording {
    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one frame (beyond the folder's byte limit, frames are only counted as
    /// cut off).
    pub fn write_frame(&mut self, frame: &[u8]) -> Result<(), RecordingError> {
        if self.frames >= self.max_frames {
            self.cut_off = true;
            return Ok(());
        }
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        let err = |e| RecordingError::File {
            path: self.path.clone(),
            source: hound_io(e),
        };
        for s in frame.chunks_exact(BYTES_PER_SAMPLE) {
            if let [lo, hi] = s {
                w.write_sample(i16::from_le_bytes([*lo, *hi]))
                    .map_err(err)?;
            }
        }
        self.frames += 1;
        if self.frames.is_multiple_of(WAV_FLUSH_FRAMES) {
            w.flush().map_err(err)?;
        }
        Ok(())
    }

    /// Completes the file (its header) and applies the retention again.
    pub fn finish(mut self) -> Result<RecordingSummary, RecordingError> {
        if let Some(w) = self.writer.take() {
            w.finalize().map_err(|e| RecordingError::File {
                path: self.path.clone(),
                source: hound_io(e),
            })?;
        }
        self.folder.make_room(0, 0)?;
        Ok(RecordingSummary {
            path: self.path.clone(),
            frames: self.frames,
            duration: FRAME_DURATION * u32::try_from(self.frames).unwrap_or(u32::MAX),
            cut_off: self.cut_off,
        })
    }

    /// The call's format.
    pub fn format(&self) -> CallFormat {
        self.format
    }
}

/// Why the caller's audio stopped being read.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// Reading the port failed.
    #[error("cannot read call audio from {port}: {source}")]
    Read {
        /// The audio port.
        port: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The recording failed (the live stream went on without it).
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// The stop pipe could not be made or the thread started.
    #[error("cannot start the call audio reader: {0}")]
    Start(#[source] std::io::Error),
    /// The reader thread panicked.
    #[error("the call audio reader for {0} panicked")]
    Panicked(String),
}

/// The reader at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ListenerStatus {
    /// Frames of the caller's audio so far.
    pub frames: u64,
    /// Live listeners now.
    pub subscribers: usize,
    /// Listeners dropped for falling behind.
    pub dropped_slow: u64,
    /// The recording file, if any.
    pub recording: Option<PathBuf>,
    /// Whether the reader still runs.
    pub running: bool,
    /// Why the recording stopped early, if it did.
    pub recording_error: Option<String>,
}

/// What a finished reader leaves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListenerSummary {
    /// Frames read.
    pub frames: u64,
    /// The recording, if there was one and it completed.
    pub recording: Option<RecordingSummary>,
    /// Listeners dropped for falling behind.
    pub dropped_slow: u64,
}

#[derive(Debug)]
struct Shared {
    subscribers: Subscribers,
    frames: u64,
    running: bool,
    recording_error: Option<String>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // Plain counters and senders, consistent at every unlock: a panic elsewhere does not
    // make them wrong.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The thread that reads the caller's audio for the length of a call.
#[derive(Debug)]
pub struct CallerAudio {
    shared: Arc<Mutex<Shared>>,
    stop: Shutdown,
    thread: Option<JoinHandle<Result<ListenerSummary, ListenerError>>>,
    format: CallFormat,
    recording: Option<PathBuf>,
    port: String,
}

impl CallerAudio {
    /// Starts reading `port` (named `port_name` in errors), frames of `format`, into
    /// `recording` if given. Runs until [`CallerAudio::finish`] or the port's end.
    pub fn spawn<R: Read + AsFd + Send + 'static>(
        port: R,
        port_name: &str,
        format: CallFormat,
        recording: Option<CallRecording>,
    ) -> Result<CallerAudio, ListenerError> {
        let stop = Shutdown::new();
        let watch = stop.watch().map_err(ListenerError::Start)?;
        let shared = Arc::new(Mutex::new(Shared {
            subscribers: Subscribers::default(),
            frames: 0,
            running: true,
            recording_error: None,
        }));
        let path = recording.as_ref().map(|r| r.path().to_path_buf());
        let thread_shared = Arc::clone(&shared);
        let name = port_name.to_string();
        let thread = std::thread::Builder::new()
            .name("audio-reader".into())
            .spawn(move || {
                let r = read_loop(port, &name, format, recording, &thread_shared, &watch);
                let mut g = lock(&thread_shared);
                g.running = false;
                g.subscribers.close();
                r
            })
            .map_err(ListenerError::Start)?;
        Ok(CallerAudio {
            shared,
            stop,
            thread: Some(thread),
            format,
            recording: path,
            port: port_name.to_string(),
        })
    }

    /// The PCM format of the frames.
    pub fn format(&self) -> CallFormat {
        self.format
    }

    /// A live stream of the caller's frames from now on; it ends with the call, or
    /// early when the receiver falls [`SUBSCRIBER_QUEUE_FRAMES`] behind.
    pub fn subscribe(&self) -> Result<Receiver<CallerFrame>, SubscribeError> {
        let mut g = lock(&self.shared);
        if !g.running {
            return Err(SubscribeError::Ended);
        }
        g.subscribers.subscribe()
    }

    /// The reader at a glance.
    pub fn status(&self) -> ListenerStatus {
        let g = lock(&self.shared);
        ListenerStatus {
            frames: g.frames,
            subscribers: g.subscribers.count(),
            dropped_slow: g.subscribers.dropped_slow(),
            recording: self.recording.clone(),
            running: g.running,
            recording_error: g.recording_error.clone(),
        }
    }

    /// Stops reading (at once), completes the recording, ends the live streams.
    pub fn finish(mut self) -> Result<ListenerSummary, ListenerError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<ListenerSummary, ListenerError> {
        // The thread's watch becomes readable: its poll wakes.
        self.stop.stop();
        match self.thread.take().map(JoinHandle::join) {
            None => Err(ListenerError::Panicked(self.port.clone())),
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(ListenerError::Panicked(self.port.clone())),
        }
    }
}

impl Drop for CallerAudio {
    fn drop(&mut self) {
        if self.thread.is_some() {
            if let Err(e) = self.shutdown() {
                log::warn!("{e}");
            }
        }
    }
}

fn read_loop<R: Read + AsFd>(
    mut port: R,
    name: &str,
    format: CallFormat,
    mut recording: Option<CallRecording>,
    shared: &Mutex<Shared>,
    stop: &StopWatch,
) -> Result<ListenerSummary, ListenerError> {
    let mut assembler = FrameAssembler::new(format);
    let mut buf = [0u8; READ_CHUNK];
    let mut frames = 0u64;
    let outcome = loop {
        match stop.wait_on(port.as_fd(), None) {
            Ok(Woken::Stopping) => break Ok(()),
            Ok(Woken::Ready | Woken::TimedOut) => {}
            Err(e) => {
                break Err(ListenerError::Read {
                    port: name.into(),
                    source: e.into(),
                });
            }
        }
        match port.read(&mut buf) {
            // The port's end (the modem gone, the call's audio closed): the call is over.
            Ok(0) => break Ok(()),
            Ok(n) => {
                let mut complete: Vec<CallerFrame> = Vec::new();
                assembler.push(buf.get(..n).unwrap_or(&[]), |f| complete.push(Arc::from(f)));
                frames += complete.len() as u64;
                // The file is written outside the lock: a slow disk must not hold up a
                // subscribe() or status() from the bot.
                let mut failed = None;
                if let Some(r) = recording.as_mut() {
                    for frame in &complete {
                        if let Err(e) = r.write_frame(frame) {
                            failed = Some(e.to_string());
                            break;
                        }
                    }
                }
                if failed.is_some() {
                    // The live stream goes on without the file.
                    recording = None;
                }
                let mut g = lock(shared);
                g.frames += complete.len() as u64;
                for frame in &complete {
                    g.subscribers.publish(frame);
                }
                if failed.is_some() {
                    g.recording_error = failed;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // EIO is how a tty reports that the device went away: also the call's end.
            Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => break Ok(()),
            Err(e) => {
                break Err(ListenerError::Read {
                    port: name.into(),
                    source: e,
                });
            }
        }
    };
    let summary = match recording {
        Some(r) => Some(r.finish()?),
        None => None,
    };
    outcome?;
    Ok(ListenerSummary {
        frames,
        recording: summary,
        dropped_slow: lock(shared).subscribers.dropped_slow(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tone_frame(value: i16, format: CallFormat) -> Vec<u8> {
        std::iter::repeat_n(value.to_le_bytes(), format.frame_samples())
            .flatten()
            .collect()
    }

    #[test]
    fn bytes_in_odd_pieces_come_out_as_whole_frames() {
        let mut a = FrameAssembler::new(CallFormat::Narrowband);
        let mut frames = Vec::new();
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        for piece in data.chunks(77) {
            a.push(piece, |f| frames.push(f.to_vec()));
        }
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().all(|f| f.len() == 320));
        assert_eq!(frames.concat(), data[..960]);
    }

    #[test]
    fn a_slow_subscriber_is_dropped_and_a_fast_one_keeps_every_frame() {
        let mut subs = Subscribers::default();
        let slow = subs.subscribe().unwrap();
        let fast = subs.subscribe().unwrap();
        let mut got = 0;
        for i in 0..(SUBSCRIBER_QUEUE_FRAMES + 5) {
            subs.publish(&Arc::from(vec![i as u8; 4]));
            while fast.try_recv().is_ok() {
                got += 1;
            }
        }
        assert_eq!(got, SUBSCRIBER_QUEUE_FRAMES + 5);
        assert_eq!(subs.count(), 1);
        assert_eq!(subs.dropped_slow(), 1);
        // The slow one gets what was queued, then the end.
        assert_eq!(slow.iter().count(), SUBSCRIBER_QUEUE_FRAMES);
    }

    #[test]
    fn subscribers_are_bounded() {
        let mut subs = Subscribers::default();
        let keep: Vec<_> = (0..MAX_SUBSCRIBERS)
            .map(|_| subs.subscribe().unwrap())
            .collect();
        assert_eq!(
            subs.subscribe().unwrap_err(),
            SubscribeError::TooMany(MAX_SUBSCRIBERS)
        );
        drop(keep);
    }

    #[test]
    fn the_oldest_recordings_are_deleted_to_stay_within_three_files() {
        let dir = tempfile::tempdir().unwrap();
        let folder = RecordingFolder::new(
            dir.path(),
            Retention {
                max_files: 3,
                max_bytes: 1_000_000,
            },
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a recording").unwrap();
        let mut paths = Vec::new();
        for i in 0..5 {
            let mut r = folder
                .start(&format!("+4917{i}"), CallFormat::Narrowband)
                .unwrap();
            r.write_frame(&tone_frame(100, CallFormat::Narrowband))
                .unwrap();
            paths.push(r.finish().unwrap().path);
            std::thread::sleep(Duration::from_millis(5));
        }
        let left: Vec<_> = folder
            .recordings()
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(left, paths[2..]);
        assert!(
            dir.path().join("notes.txt").exists(),
            "other files are never touched"
        );
    }

    #[test]
    fn a_recording_is_cut_off_at_the_byte_limit_and_older_ones_make_room() {
        let dir = tempfile::tempdir().unwrap();
        let f = CallFormat::Narrowband;
        // Room for 10 frames (3200 bytes) and a header.
        let folder = RecordingFolder::new(
            dir.path(),
            Retention {
                max_files: 10,
                max_bytes: 3200 + WAV_HEADER_BYTES,
            },
        )
        .unwrap();
        let mut first = folder.start("first", f).unwrap();
        for _ in 0..25 {
            first.write_frame(&tone_frame(1, f)).unwrap();
        }
        let first = first.finish().unwrap();
        assert_eq!(first.frames, 10);
        assert!(first.cut_off);
        assert_eq!(
            std::fs::metadata(&first.path).unwrap().len(),
            3200 + WAV_HEADER_BYTES
        );
        let second = folder.start("second", f).unwrap().finish().unwrap();
        assert!(!first.path.exists(), "the older recording made room");
        assert!(second.path.exists());
    }

    #[test]
    fn an_unusable_retention_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = RecordingFolder::new(
            dir.path(),
            Retention {
                max_files: 0,
                max_bytes: 1000,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("allows no file"), "{err}");
    }

    #[test]
    fn the_caller_reaches_the_wav_file_and_a_live_listener_until_the_port_closes() {
        let dir = tempfile::tempdir().unwrap();
        let folder = RecordingFolder::new(dir.path(), Retention::default()).unwrap();
        let f = CallFormat::Narrowband;
        let (rx, mut tx) = std::io::pipe().unwrap();
        let rec = folder.start("+491761234567", f).unwrap();
        let reader = CallerAudio::spawn(rx, "test pipe", f, Some(rec)).unwrap();
        let live = reader.subscribe().unwrap();
        for i in 0..10 {
            tx.write_all(&tone_frame(i * 100, f)).unwrap();
        }
        let first = live.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(first.len(), 320);
        drop(tx);
        let heard: Vec<_> = live.iter().collect();
        assert_eq!(heard.len(), 9, "the live stream ends with the port");
        let summary = reader.finish().unwrap();
        assert_eq!(summary.frames, 10);
        let rec = summary.recording.unwrap();
        let wav = hound::WavReader::open(&rec.path).unwrap();
        assert_eq!(wav.spec().sample_rate, 8000);
        assert_eq!(wav.len(), 1600);
        assert!(rec.path.to_string_lossy().ends_with("-+491761234567.wav"));
    }

    #[test]
    fn finish_stops_a_reader_whose_port_stays_silent() {
        let (rx, _tx) = std::io::pipe().unwrap();
        let reader = CallerAudio::spawn(rx, "quiet", CallFormat::Wideband, None).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let t = std::time::Instant::now();
        let summary = reader.finish().unwrap();
        assert!(t.elapsed() < Duration::from_millis(100));
        assert_eq!(summary.frames, 0);
        assert!(summary.recording.is_none());
    }
}
