//! Playing into a call: the play queue, the pacer and the one writer thread that owns the
//! audio port's writing side. The port wants one 20 ms frame every 20 ms, no more (the
//! modem's buffer is small) and no fewer (a gap is a click), for as long as the call
//! lasts. So the writer keeps an absolute schedule on the monotonic clock: frame `n` is
//! due at `start + n * 20 ms`, the thread sleeps until that deadline (on a channel, so a
//! stop wakes it at once), and lateness never accumulates into drift. When the thread was
//! held up for longer than [`MAX_CATCH_UP`], the frames it missed are skipped rather than
//! sent in a burst. With nothing queued it writes silence.
//!
//! [`Pacer`] and [`PlayQueue`] are sans-I/O (time is an argument) and unit-tested with a
//! fake clock; [`AudioWriter`] is the thin thread around them.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::format::{CallFormat, Clip, FRAME_DURATION};

/// How far behind its schedule the writer may fall and still send the missed frames
/// back-to-back (5 frames: the modem's buffer absorbs that much); beyond it, missed
/// frames are skipped and counted.
pub const MAX_CATCH_UP: Duration = Duration::from_millis(100);
/// How many recent frames the timing figures cover (3000 frames: one minute).
pub const MAX_TIMING_SAMPLES: usize = 3000;
/// The most clips waiting behind the one playing.
pub const MAX_QUEUED_CLIPS: usize = 32;
/// How long [`AudioWriter::finish`] waits for the thread. A thread blocked in a write to
/// a modem that stopped taking audio is left behind (it ends when the write returns or
/// fails) rather than holding up the bot.
pub const MAX_FINISH_WAIT: Duration = Duration::from_millis(250);

/// Identifies a clip handed to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ClipId(pub u64);

/// Why a clip was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlayError {
    /// [`MAX_QUEUED_CLIPS`] are already waiting.
    #[error("the play queue is full ({0} clips waiting)")]
    QueueFull(usize),
    /// The clip was converted for the other call format.
    #[error("the clip is {clip:?} audio but the call is {call:?}")]
    WrongFormat {
        /// The clip's format.
        clip: CallFormat,
        /// The call's.
        call: CallFormat,
    },
    /// The writer has stopped (the call ended or the port failed).
    #[error("the audio writer has stopped")]
    Stopped,
}

/// What the next frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameSource {
    /// Part of this clip.
    Clip(ClipId),
    /// Nothing to play.
    Silence,
}

/// The clips to play, in order, and the position in the one playing.
#[derive(Debug)]
pub struct PlayQueue {
    format: CallFormat,
    current: Option<(ClipId, Clip, usize)>,
    waiting: VecDeque<(ClipId, Clip)>,
    next_id: u64,
    finished: u64,
    dropped: u64,
}

/// The queue at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct QueueStatus {
    /// The clip playing now.
    pub playing: Option<ClipId>,
    /// Clips waiting behind it.
    pub queued: usize,
    /// Clips played to their end.
    pub finished: u64,
    /// Clips cut off or discarded by an interrupt or a stop.
    pub dropped: u64,
}

impl PlayQueue {
    /// An empty queue for a call in `format`.
    pub fn new(format: CallFormat) -> PlayQueue {
        PlayQueue {
            format,
            current: None,
            waiting: VecDeque::new(),
            next_id: 1,
            finished: 0,
            dropped: 0,
        }
    }

    fn admit(&mut self, clip: &Clip) -> Result<ClipId, PlayError> {
        if clip.format() != self.format {
            return Err(PlayError::WrongFormat {
                clip: clip.format(),
                call: self.format,
            });
        }
        let id = ClipId(self.next_id);
        self.next_id += 1;
        Ok(id)
    }

    /// Queues `clip` after everything already queued.
    pub fn play(&mut self, clip: Clip) -> Result<ClipId, PlayError> {
        if self.waiting.len() >= MAX_QUEUED_CLIPS {
            return Err(PlayError::QueueFull(self.waiting.len()));
        }
        let id = self.admit(&clip)?;
        self.waiting.push_back((id, clip));
        Ok(id)
    }

    /// Plays `clip` from the next frame on: what is playing is cut off and what was
    /// waiting is discarded (an urgent answer makes the earlier ones stale).
    pub fn play_interrupt(&mut self, clip: Clip) -> Result<ClipId, PlayError> {
        let id = self.admit(&clip)?;
        self.stop();
        self.current = Some((id, clip, 0));
        Ok(id)
    }

    /// Stops what is playing and discards what waits; silence from the next frame on.
    /// Returns how many clips were dropped.
    pub fn stop(&mut self) -> usize {
        let n = usize::from(self.current.is_some()) + self.waiting.len();
        self.current = None;
        self.waiting.clear();
        self.dropped += n as u64;
        n
    }

    /// The queue at a glance.
    pub fn status(&self) -> QueueStatus {
        QueueStatus {
            playing: self.current.as_ref().map(|(id, _, _)| *id),
            queued: self.waiting.len(),
            finished: self.finished,
            dropped: self.dropped,
        }
    }

    /// Fills `frame` (resized to one frame of the call's format) with the next 20 ms:
    /// the playing clip (its last frame padded with silence), else silence.
    pub fn next_frame(&mut self, frame: &mut Vec<u8>) -> FrameSource {
        let n = self.format.frame_samples();
        frame.clear();
        if self.current.is_none() {
            self.current = self.waiting.pop_front().map(|(id, clip)| (id, clip, 0));
        }
        let source = match &mut self.current {
            Some((id, clip, pos)) => {
                let samples = clip.samples().get(*pos..).unwrap_or(&[]);
                for s in samples.iter().take(n) {
                    frame.extend_from_slice(&s.to_le_bytes());
                }
                *pos += n;
                let id = *id;
                if *pos >= clip.samples().len() {
                    self.current = None;
                    self.finished += 1;
                }
                FrameSource::Clip(id)
            }
            None => FrameSource::Silence,
        };
        frame.resize(self.format.frame_bytes(), 0);
        source
    }
}

/// The writer's schedule: frame `n` is due at `start + n * 20 ms`.
#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    next: u64,
    skipped: u64,
    timing: FrameTiming,
}

/// What the writer does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacerStep {
    /// Sleep until this instant.
    Wait(Instant),
    /// Write frame number `frame` now (it was due at `due`).
    Write {
        /// The frame's number since the start.
        frame: u64,
        /// When it was due.
        due: Instant,
    },
}

impl Pacer {
    /// A schedule whose frame 0 is due at `start`.
    pub fn new(start: Instant) -> Pacer {
        Pacer {
            start,
            next: 0,
            skipped: 0,
            timing: FrameTiming::default(),
        }
    }

    /// When frame `n` is due. Computed from the start every time (not by adding 20 ms
    /// to the previous deadline) so that no rounding ever accumulates.
    pub fn due(&self, n: u64) -> Instant {
        let micros = n.saturating_mul(FRAME_DURATION.as_micros() as u64);
        self.start + Duration::from_micros(micros)
    }

    /// Decides at `now`: wait for the next deadline, or write the next frame. A writer
    /// more than [`MAX_CATCH_UP`] behind skips to the frame due now.
    pub fn step(&mut self, now: Instant) -> PacerStep {
        let due = self.due(self.next);
        if now < due {
            return PacerStep::Wait(due);
        }
        if now.duration_since(due) > MAX_CATCH_UP {
            let elapsed = now.duration_since(self.start).as_micros() as u64;
            let current = elapsed / FRAME_DURATION.as_micros() as u64;
            self.skipped += current.saturating_sub(self.next);
            self.next = current.max(self.next);
        }
        let frame = self.next;
        self.next += 1;
        PacerStep::Write {
            frame,
            due: self.due(frame),
        }
    }

    /// Records that the frame due at `due` was written at `at`.
    pub fn written(&mut self, due: Instant, at: Instant) {
        self.timing.record(at.saturating_duration_since(due), at);
    }

    /// The timing figures so far.
    pub fn report(&self) -> TimingReport {
        self.timing.report(self.skipped)
    }
}

/// Recent write times, for the jitter figures.
#[derive(Debug, Default)]
struct FrameTiming {
    frames: u64,
    /// Frames written more than one frame time ([`FRAME_DURATION`]) after their deadline.
    late: u64,
    last_write: Option<Instant>,
    lateness_us: VecDeque<u32>,
    spacing_us: VecDeque<u32>,
    max_lateness: Duration,
}

fn push_bounded(ring: &mut VecDeque<u32>, v: Duration) {
    if ring.len() >= MAX_TIMING_SAMPLES {
        ring.pop_front();
    }
    ring.push_back(u32::try_from(v.as_micros()).unwrap_or(u32::MAX));
}

fn percentile(ring: &VecDeque<u32>, p: usize) -> Option<Duration> {
    let mut v: Vec<u32> = ring.iter().copied().collect();
    v.sort_unstable();
    let i = (v.len().saturating_sub(1) * p).div_ceil(100);
    v.get(i).map(|&us| Duration::from_micros(u64::from(us)))
}

impl FrameTiming {
    fn record(&mut self, late: Duration, at: Instant) {
        self.frames += 1;
        if late > FRAME_DURATION {
            self.late += 1;
        }
        self.max_lateness = self.max_lateness.max(late);
        push_bounded(&mut self.lateness_us, late);
        if let Some(prev) = self.last_write {
            push_bounded(&mut self.spacing_us, at.saturating_duration_since(prev));
        }
        self.last_write = Some(at);
    }

    fn report(&self, skipped: u64) -> TimingReport {
        TimingReport {
            frames: self.frames,
            late: self.late,
            skipped,
            lateness_p50: percentile(&self.lateness_us, 50),
            lateness_p99: percentile(&self.lateness_us, 99),
            lateness_max: self.max_lateness,
            spacing_p50: percentile(&self.spacing_us, 50),
            spacing_p99: percentile(&self.spacing_us, 99),
            spacing_min: self
                .spacing_us
                .iter()
                .min()
                .map(|&u| Duration::from_micros(u.into())),
            spacing_max: self
                .spacing_us
                .iter()
                .max()
                .map(|&u| Duration::from_micros(u.into())),
        }
    }
}

/// How well the writer kept time. Percentiles cover the last [`MAX_TIMING_SAMPLES`]
/// frames; `None` until there is a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct TimingReport {
    /// Frames written.
    pub frames: u64,
    /// Frames written more than one frame time (20 ms) after their deadline.
    pub late: u64,
    /// Frames skipped after the writer was held up beyond [`MAX_CATCH_UP`].
    pub skipped: u64,
    /// Median delay between a frame's deadline and its write.
    pub lateness_p50: Option<Duration>,
    /// 99th percentile of that delay.
    pub lateness_p99: Option<Duration>,
    /// The largest delay ever.
    pub lateness_max: Duration,
    /// Median time between two writes (20 ms when all is well).
    pub spacing_p50: Option<Duration>,
    /// 99th percentile of the time between two writes.
    pub spacing_p99: Option<Duration>,
    /// Shortest time between two writes.
    pub spacing_min: Option<Duration>,
    /// Longest time between two writes.
    pub spacing_max: Option<Duration>,
}

/// Why the writer stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// Writing a frame to the port failed (the modem went away, the call's audio closed).
    #[error("cannot write call audio to {port}: {source}")]
    Write {
        /// The audio port.
        port: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The writer thread panicked.
    #[error("the audio writer for {0} panicked")]
    Panicked(String),
    /// The thread did not end within [`MAX_FINISH_WAIT`]: it is blocked writing to a port
    /// that takes nothing, and was left to end by itself.
    #[error(
        "the audio writer for {port} is stuck in a write (the modem takes no audio); left behind after {waited:?}"
    )]
    Stuck {
        /// The audio port.
        port: String,
        /// How long finish waited.
        waited: Duration,
    },
}

/// The writer as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct WriterStatus {
    /// The play queue.
    pub queue: QueueStatus,
    /// The timing figures.
    pub timing: TimingReport,
    /// Frames of clip audio written (the rest were silence).
    pub audio_frames: u64,
    /// Whether the writer still runs.
    pub running: bool,
}

#[derive(Debug)]
struct Shared {
    queue: PlayQueue,
    timing: TimingReport,
    audio_frames: u64,
    running: bool,
}

/// The thread that writes the call's audio, one frame every 20 ms, until
/// [`AudioWriter::finish`] (or drop) or a write error.
#[derive(Debug)]
pub struct AudioWriter {
    shared: Arc<Mutex<Shared>>,
    stop: Option<mpsc::Sender<()>>,
    /// Disconnected when the thread ends (its sender is dropped with it). In a mutex so
    /// that the writer can be shared between threads (a receiver is not Sync).
    ended: Mutex<mpsc::Receiver<()>>,
    thread: Option<JoinHandle<Result<(), WriterError>>>,
    port: String,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // The lock only guards plain data that every holder leaves consistent; a panic
    // elsewhere does not make it wrong.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl AudioWriter {
    /// Starts writing to `port` (named `port_name` in errors) in `format`, silence
    /// until something is played. The first frame goes out at once.
    pub fn spawn<W: Write + Send + 'static>(
        mut port: W,
        port_name: &str,
        format: CallFormat,
    ) -> Result<AudioWriter, std::io::Error> {
        let shared = Arc::new(Mutex::new(Shared {
            queue: PlayQueue::new(format),
            timing: TimingReport::default(),
            audio_frames: 0,
            running: true,
        }));
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (ended_tx, ended_rx) = mpsc::channel::<()>();
        let thread_shared = Arc::clone(&shared);
        let name = port_name.to_string();
        let thread = std::thread::Builder::new()
            .name("audio-writer".into())
            .spawn(move || {
                let _ended = ended_tx;
                let r = write_loop(&mut port, &name, &thread_shared, &stop_rx);
                lock(&thread_shared).running = false;
                r
            })?;
        Ok(AudioWriter {
            shared,
            stop: Some(stop_tx),
            ended: Mutex::new(ended_rx),
            thread: Some(thread),
            port: port_name.to_string(),
        })
    }

    fn running(&self) -> Result<MutexGuard<'_, Shared>, PlayError> {
        let g = lock(&self.shared);
        if g.running {
            Ok(g)
        } else {
            Err(PlayError::Stopped)
        }
    }

    /// Queues `clip` after what is queued.
    pub fn play(&self, clip: Clip) -> Result<ClipId, PlayError> {
        self.running()?.queue.play(clip)
    }

    /// Plays `clip` from the next frame on, dropping what plays and waits.
    pub fn play_interrupt(&self, clip: Clip) -> Result<ClipId, PlayError> {
        self.running()?.queue.play_interrupt(clip)
    }

    /// Silence from the next frame on; returns how many clips were dropped.
    pub fn stop(&self) -> Result<usize, PlayError> {
        Ok(self.running()?.queue.stop())
    }

    /// The queue, the timing figures, whether it runs.
    pub fn status(&self) -> WriterStatus {
        let g = lock(&self.shared);
        WriterStatus {
            queue: g.queue.status(),
            timing: g.timing,
            audio_frames: g.audio_frames,
            running: g.running,
        }
    }

    /// Stops the thread (it wakes at once) and returns its final status, or why it had
    /// stopped on its own. Waits at most [`MAX_FINISH_WAIT`].
    pub fn finish(self) -> Result<WriterStatus, WriterError> {
        let (status, outcome) = self.end();
        outcome.map(|()| status)
    }

    /// [`AudioWriter::finish`] that keeps the final status even when the thread had
    /// failed or is stuck.
    pub fn end(mut self) -> (WriterStatus, Result<(), WriterError>) {
        let outcome = self.shutdown();
        (self.status(), outcome)
    }

    fn shutdown(&mut self) -> Result<(), WriterError> {
        // Dropping the sender wakes the thread's wait with Disconnected.
        self.stop.take();
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let ended = self
            .ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .recv_timeout(MAX_FINISH_WAIT);
        match ended {
            Err(RecvTimeoutError::Timeout) => {
                // Dropping the handle detaches the thread; it ends when its write returns.
                drop(thread);
                Err(WriterError::Stuck {
                    port: self.port.clone(),
                    waited: MAX_FINISH_WAIT,
                })
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => match thread.join() {
                Ok(r) => r,
                Err(_) => Err(WriterError::Panicked(self.port.clone())),
            },
        }
    }
}

impl Drop for AudioWriter {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            log::warn!("{e}");
        }
    }
}

fn write_loop<W: Write>(
    port: &mut W,
    name: &str,
    shared: &Mutex<Shared>,
    stop: &mpsc::Receiver<()>,
) -> Result<(), WriterError> {
    let mut pacer = Pacer::new(Instant::now());
    let mut frame = Vec::with_capacity(CallFormat::MAX_FRAME_BYTES);
    loop {
        match pacer.step(Instant::now()) {
            PacerStep::Wait(until) => {
                match stop.recv_timeout(until.saturating_duration_since(Instant::now())) {
                    Err(RecvTimeoutError::Timeout) => {}
                    // A message or a dropped sender both mean stop.
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
            }
            PacerStep::Write { due, .. } => {
                // A stop asked for while this thread was behind schedule wins over the
                // frames still due (finish must not wait for a catch-up).
                match stop.try_recv() {
                    Err(mpsc::TryRecvError::Empty) => {}
                    Ok(()) | Err(mpsc::TryRecvError::Disconnected) => return Ok(()),
                }
                let source = lock(shared).queue.next_frame(&mut frame);
                port.write_all(&frame)
                    .and_then(|()| port.flush())
                    .map_err(|source| WriterError::Write {
                        port: name.to_string(),
                        source,
                    })?;
                pacer.written(due, Instant::now());
                let mut g = lock(shared);
                g.timing = pacer.report();
                if matches!(source, FrameSource::Clip(_)) {
                    g.audio_frames += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn clip(samples: usize, value: i16) -> Clip {
        Clip::from_samples(CallFormat::Narrowband, vec![value; samples])
    }

    fn first_sample(frame: &[u8]) -> i16 {
        i16::from_le_bytes([frame[0], frame[1]])
    }

    #[test]
    fn a_ten_minute_call_with_a_sloppy_sleeper_keeps_the_schedule_without_drift() {
        // Fake clock: every sleep overshoots by 0..4 ms (a loaded machine), every 997th
        // by 35 ms; the write itself takes 0.3 ms.
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        let mut now = start;
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut written = 0u64;
        let ten_minutes = start + Duration::from_secs(600);
        while now < ten_minutes {
            match pacer.step(now) {
                PacerStep::Wait(until) => {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let over = if rng.is_multiple_of(997) {
                        ms(35)
                    } else {
                        Duration::from_micros(rng % 4000)
                    };
                    now = until + over;
                }
                PacerStep::Write { frame, due } => {
                    assert_eq!(due, start + FRAME_DURATION * u32::try_from(frame).unwrap());
                    now += Duration::from_micros(300);
                    pacer.written(due, now);
                    written += 1;
                }
            }
        }
        // 600 s / 20 ms frames, every one of them written: nothing lost to drift.
        assert_eq!(written, 30_000);
        let r = pacer.report();
        assert_eq!(r.skipped, 0);
        assert_eq!(r.frames, 30_000);
        assert!(r.lateness_max < ms(40), "{r:?}");
        assert!(r.spacing_p50.unwrap() <= ms(21), "{r:?}");
    }

    #[test]
    fn a_writer_held_up_for_half_a_second_skips_the_missed_frames_instead_of_a_burst() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        assert!(matches!(
            pacer.step(start),
            PacerStep::Write { frame: 0, .. }
        ));
        assert_eq!(pacer.step(start), PacerStep::Wait(start + ms(20)));
        let late = start + ms(510);
        match pacer.step(late) {
            PacerStep::Write { frame, due } => {
                assert_eq!(frame, 25);
                assert_eq!(due, start + ms(500));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(pacer.report().skipped, 24);
        // Back on the original grid: the next frame is due at 520 ms.
        assert_eq!(pacer.step(late), PacerStep::Wait(start + ms(520)));
    }

    #[test]
    fn a_writer_a_little_late_catches_up_frame_by_frame() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        let now = start + ms(61);
        let frames: Vec<_> = std::iter::from_fn(|| match pacer.step(now) {
            PacerStep::Write { frame, .. } => Some(frame),
            PacerStep::Wait(_) => None,
        })
        .collect();
        assert_eq!(frames, [0, 1, 2, 3]);
        assert_eq!(pacer.report().skipped, 0);
    }

    #[test]
    fn only_frames_later_than_one_frame_time_count_as_late() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        // Frame n is due at n * 20 ms; written 0, 20, 21, 45 and 5 ms after that.
        for (n, lateness) in [(0u32, 0), (1, 20), (2, 21), (3, 45), (4, 5)] {
            let due = start + FRAME_DURATION * n;
            pacer.written(due, due + ms(lateness));
        }
        let r = pacer.report();
        assert_eq!(r.frames, 5);
        assert_eq!(r.late, 2, "{r:?}");
    }

    #[test]
    fn nothing_queued_is_silence_and_a_short_clip_is_padded_with_silence() {
        let mut q = PlayQueue::new(CallFormat::Narrowband);
        let mut f = Vec::new();
        assert_eq!(q.next_frame(&mut f), FrameSource::Silence);
        assert_eq!(f, vec![0u8; 320]);
        let id = q.play(clip(200, 1000)).unwrap();
        assert_eq!(q.next_frame(&mut f), FrameSource::Clip(id));
        assert_eq!(first_sample(&f), 1000);
        assert_eq!(q.next_frame(&mut f), FrameSource::Clip(id));
        assert_eq!(f.len(), 320);
        assert_eq!(first_sample(&f), 1000);
        assert_eq!(
            &f[80..],
            &[0u8; 240][..],
            "40 samples of clip, then silence"
        );
        assert_eq!(q.next_frame(&mut f), FrameSource::Silence);
        assert_eq!(q.status().finished, 1);
    }

    #[test]
    fn clips_play_in_order_and_an_interrupt_replaces_the_playing_one_and_the_waiting_ones() {
        let mut q = PlayQueue::new(CallFormat::Narrowband);
        let mut f = Vec::new();
        let a = q.play(clip(480, 1)).unwrap();
        let b = q.play(clip(160, 2)).unwrap();
        assert_eq!(q.next_frame(&mut f), FrameSource::Clip(a));
        let urgent = q.play_interrupt(clip(160, 3)).unwrap();
        assert_eq!(q.next_frame(&mut f), FrameSource::Clip(urgent));
        assert_eq!(first_sample(&f), 3);
        assert_eq!(q.next_frame(&mut f), FrameSource::Silence);
        let s = q.status();
        assert_eq!(
            (s.finished, s.dropped, s.queued, s.playing),
            (1, 2, 0, None)
        );
        assert!(b > a && urgent > b);
    }

    #[test]
    fn stop_mid_clip_gives_silence_from_the_next_frame() {
        let mut q = PlayQueue::new(CallFormat::Narrowband);
        let mut f = Vec::new();
        q.play(clip(8000, 7)).unwrap();
        q.play(clip(8000, 8)).unwrap();
        q.next_frame(&mut f);
        assert_eq!(q.stop(), 2);
        assert_eq!(q.next_frame(&mut f), FrameSource::Silence);
        assert_eq!(f, vec![0u8; 320]);
    }

    #[test]
    fn a_full_queue_and_a_clip_for_the_other_format_are_refused() {
        let mut q = PlayQueue::new(CallFormat::Narrowband);
        for _ in 0..MAX_QUEUED_CLIPS {
            q.play(clip(1, 1)).unwrap();
        }
        assert_eq!(
            q.play(clip(1, 1)),
            Err(PlayError::QueueFull(MAX_QUEUED_CLIPS))
        );
        let wide = Clip::from_samples(CallFormat::Wideband, vec![0; 10]);
        let err = q.play_interrupt(wide).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the clip is Wideband audio but the call is Narrowband"
        );
    }

    type Writes = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

    /// A port that records every write with its time.
    #[derive(Clone, Default)]
    struct Recorder(Writes);

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push((Instant::now(), buf.to_vec()));
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_writer_thread_plays_a_clip_at_real_time_pace_then_silence() {
        let port = Recorder::default();
        let w = AudioWriter::spawn(port.clone(), "test port", CallFormat::Narrowband).unwrap();
        let id = w.play(clip(1600, 500)).unwrap(); // 200 ms
        std::thread::sleep(ms(400));
        let status = w.finish().unwrap();
        let writes = port.0.lock().unwrap().clone();
        assert!(writes.iter().all(|(_, f)| f.len() == 320));
        let n = writes.len();
        assert!((18..=23).contains(&n), "{n} frames in 400 ms");
        let span = writes.last().unwrap().0 - writes[0].0;
        let expected = FRAME_DURATION * (n as u32 - 1);
        assert!(span.abs_diff(expected) < ms(15), "{span:?} for {n} frames");
        let audio = writes
            .iter()
            .filter(|(_, f)| first_sample(f) == 500)
            .count();
        assert_eq!(audio, 10);
        assert_eq!(status.audio_frames, 10);
        assert_eq!(status.queue.finished, 1);
        assert!(!status.running);
        assert!(status.timing.spacing_p50.is_some());
        assert!(id.0 >= 1);
    }

    #[test]
    fn stopping_mid_playback_stops_cleanly_and_the_writer_refuses_after_finish() {
        let port = Recorder::default();
        let w = AudioWriter::spawn(port.clone(), "test port", CallFormat::Narrowband).unwrap();
        w.play(clip(80_000, 9)).unwrap(); // 10 s
        std::thread::sleep(ms(100));
        assert_eq!(w.stop().unwrap(), 1);
        std::thread::sleep(ms(100));
        let before = Instant::now();
        let status = w.finish().unwrap();
        assert!(before.elapsed() < ms(50), "finish wakes the writer at once");
        assert_eq!(status.queue.dropped, 1);
        let writes = port.0.lock().unwrap().clone();
        let last = &writes.last().unwrap().1;
        assert_eq!(first_sample(last), 0, "silence after stop");
    }

    /// A port whose write blocks until the test lets it go.
    struct Stalled(Arc<(Mutex<bool>, std::sync::Condvar)>);
    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (released, cv) = &*self.0;
            let mut r = released.lock().unwrap();
            while !*r {
                r = cv.wait(r).unwrap();
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_writer_stuck_in_a_write_does_not_hold_up_finish() {
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let w = AudioWriter::spawn(
            Stalled(Arc::clone(&gate)),
            "/dev/ttyUSB4",
            CallFormat::Narrowband,
        )
        .unwrap();
        std::thread::sleep(ms(50));
        let start = Instant::now();
        let err = w.finish().unwrap_err();
        assert!(start.elapsed() < MAX_FINISH_WAIT + ms(100));
        assert!(
            err.to_string()
                .starts_with("the audio writer for /dev/ttyUSB4 is stuck"),
            "{err}"
        );
        // The modem takes audio again: the left-behind thread ends by itself.
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
    }

    struct Unplugged;
    impl Write for Unplugged {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(5))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_port_that_fails_ends_the_writer_with_an_error_naming_the_port() {
        let w = AudioWriter::spawn(Unplugged, "/dev/ttyUSB4", CallFormat::Narrowband).unwrap();
        std::thread::sleep(ms(50));
        assert_eq!(w.play(clip(10, 1)), Err(PlayError::Stopped));
        let err = w.finish().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot write call audio to /dev/ttyUSB4"),
            "{err}"
        );
    }
}
