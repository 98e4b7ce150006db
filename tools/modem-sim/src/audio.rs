//! The simulated audio port (USB interface 04), sans-I/O: it owns what the caller "says"
//! ([`CallerSound`]: silence, a tone, or a WAV file), the real-time schedule on which the
//! caller's frames go to the host while audio runs (after AT+CPCMREG=1 during an answered
//! call), and the recording of what the host plays, with the figures `state` reports:
//! duration, frame count, frame spacing and its jitter, and the dominant frequency
//! (Goertzel). The second pty and its link live in [`crate::sim`].
//!
//! The format is the SIM7600's (SIM7600-PROTOCOL.md, "Audio over USB"): signed 16-bit
//! little-endian mono, 8 kHz (16 kHz after AT+CPCMFRM=1), 20 ms frames. The simulator
//! decodes WAV with hound and converts rates by linear interpolation: a test tone needs
//! no better, and this keeps the simulator from sharing the host's resampler (and its
//! mistakes).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One frame of call audio.
pub const FRAME: Duration = Duration::from_millis(20);
/// Bytes per sample.
pub const BYTES_PER_SAMPLE: usize = 2;
/// The host audio kept per session, in seconds (beyond it, only counted): ten minutes.
pub const MAX_RECORDED_SECONDS: usize = 600;
/// How far behind schedule the simulator sends missed frames back-to-back; beyond it
/// they are skipped (as the host's writer does).
pub const MAX_CATCH_UP: Duration = Duration::from_millis(100);
/// The largest WAV file `audio <file>` reads.
pub const MAX_AUDIO_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Peak amplitude of a generated tone (half of full scale).
pub const TONE_AMPLITUDE: f64 = 16384.0;
/// Frame spacing samples kept for the jitter figures.
pub const MAX_SPACING_SAMPLES: usize = 30_000;
/// Samples the dominant-frequency analysis looks at (about 1 s at 8 kHz).
pub const ANALYSIS_SAMPLES: usize = 8192;
/// Frames whose RMS level is below this are silence (for where the analysis starts).
pub const SILENCE_RMS: f64 = 100.0;
/// The most burst onsets `state` keeps per session.
pub const MAX_ONSETS: usize = 4096;

/// What the caller sends while audio runs.
#[derive(Debug, Clone, PartialEq)]
pub enum CallerSound {
    /// Zeros.
    Silence,
    /// A sine at this frequency, without end.
    Tone(u32),
    /// Bursts of a sine: `hz` for `on_ms`, then silence, every `period_ms` from the start
    /// of audio (the round-trip benchmark's caller).
    Bursts {
        /// The tone.
        hz: u32,
        /// How long each burst lasts.
        on_ms: u32,
        /// From one burst's start to the next.
        period_ms: u32,
    },
    /// A WAV file, once from its start, then silence.
    File {
        /// Where it came from.
        path: PathBuf,
        /// Mono samples in [-1, 1] at `rate`.
        samples: Vec<f32>,
        /// Its sample rate.
        rate: u32,
    },
}

impl CallerSound {
    /// Reads a WAV file (any rate, 8/16/24/32-bit integer or 32-bit float, any channel
    /// count, averaged to mono). The error names the file and what is wrong.
    pub fn from_wav(path: &Path) -> Result<CallerSound, String> {
        use std::io::Read as _;
        let name = path.display();
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        let mut bytes = Vec::new();
        file.take(MAX_AUDIO_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read {name}: {e}"))?;
        if bytes.len() as u64 > MAX_AUDIO_FILE_BYTES {
            return Err(format!(
                "{name} is larger than {MAX_AUDIO_FILE_BYTES} bytes"
            ));
        }
        let reader = hound::WavReader::new(bytes.as_slice())
            .map_err(|e| format!("{name} is not a WAV audio file: {e}"))?;
        let spec = reader.spec();
        if spec.channels == 0 || spec.sample_rate == 0 {
            return Err(format!("{name} declares no channels or a 0 Hz rate"));
        }
        let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Float, 32) => reader
                .into_samples::<f32>()
                .map_while(Result::ok)
                .map(|s| if s.is_finite() { s } else { 0.0 })
                .collect(),
            (hound::SampleFormat::Int, bits @ 1..=32) => {
                let scale = 1.0 / (1u64 << (bits - 1)) as f64;
                reader
                    .into_samples::<i32>()
                    .map_while(Result::ok)
                    .map(|s| (f64::from(s) * scale) as f32)
                    .collect()
            }
            (_, bits) => return Err(format!("{name} has {bits}-bit samples we cannot read")),
        };
        let channels = usize::from(spec.channels);
        let samples: Vec<f32> = interleaved
            .chunks_exact(channels)
            .map(|f| f.iter().sum::<f32>() / channels as f32)
            .collect();
        if samples.is_empty() {
            return Err(format!("{name} holds no audio"));
        }
        Ok(CallerSound::File {
            path: path.to_path_buf(),
            samples,
            rate: spec.sample_rate,
        })
    }

    fn describe(&self) -> String {
        match self {
            CallerSound::Silence => "silence".into(),
            CallerSound::Tone(hz) => format!("tone {hz} Hz"),
            CallerSound::Bursts {
                hz,
                on_ms,
                period_ms,
            } => format!("bursts of {hz} Hz, {on_ms} ms every {period_ms} ms"),
            CallerSound::File { path, .. } => format!("file {}", path.display()),
        }
    }

    /// Sample number `n` of this sound at `rate`.
    fn sample(&self, n: u64, rate: u32) -> i16 {
        match self {
            CallerSound::Silence => 0,
            CallerSound::Tone(hz) => {
                // The phase from the sample number (mod one period of whole samples is
                // not needed: f64 holds n exactly for any call length).
                let t = n as f64 / f64::from(rate);
                (TONE_AMPLITUDE * (2.0 * std::f64::consts::PI * f64::from(*hz) * t).sin()) as i16
            }
            CallerSound::Bursts {
                hz,
                on_ms,
                period_ms,
            } => {
                let ms = n * 1000 / u64::from(rate);
                if ms % u64::from((*period_ms).max(1)) < u64::from(*on_ms) {
                    CallerSound::Tone(*hz).sample(n, rate)
                } else {
                    0
                }
            }
            CallerSound::File {
                samples, rate: src, ..
            } => {
                let pos = n as f64 * f64::from(*src) / f64::from(rate);
                let i = pos.floor() as usize;
                let frac = (pos - pos.floor()) as f32;
                let a = samples.get(i).copied().unwrap_or(0.0);
                let b = samples.get(i + 1).copied().unwrap_or(0.0);
                ((a + (b - a) * frac) * 32767.0).clamp(-32768.0, 32767.0) as i16
            }
        }
    }
}

/// The Goertzel power of `samples` at `hz` (sample rate `rate`).
pub fn goertzel(samples: &[i16], rate: u32, hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// The frequency with the most energy in `samples`, to 0.5 Hz: first in 10 Hz steps over
/// 0.1 s blocks (averaged), then in 0.5 Hz steps around the winner over all of them.
/// `None` for silence or too few samples (under 0.1 s).
pub fn dominant_frequency(samples: &[i16], rate: u32) -> Option<f64> {
    let block = (rate / 10) as usize;
    if block == 0 || samples.len() < block || samples.iter().all(|&s| s == 0) {
        return None;
    }
    let nyquist = f64::from(rate) / 2.0;
    let coarse = (2..)
        .map(|k| f64::from(k) * 10.0)
        .take_while(|&f| f < nyquist - 10.0)
        .map(|f| {
            let p: f64 = samples
                .chunks_exact(block)
                .map(|b| goertzel(b, rate, f))
                .sum();
            (f, p)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?
        .0;
    (-20..=20)
        .map(|k| coarse + f64::from(k) * 0.5)
        .map(|f| (f, goertzel(samples, rate, f)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(f, _)| f)
}

/// The frame spacing figures, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Spacing {
    /// Mean time between two frames.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Shortest.
    pub min_ms: f64,
    /// Longest.
    pub max_ms: f64,
    /// Jitter: the standard deviation of the spacing.
    pub jitter_ms: f64,
}

/// What the host played in the last (or current) audio session, as `state` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReceivedAudio {
    /// Whole frames received.
    pub frames: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Their duration at the session's rate, in milliseconds.
    pub duration_ms: u64,
    /// Frames that were not silence.
    pub audible_frames: u64,
    /// Milliseconds from the session's start (AT+CPCMREG=1) to the first audible frame.
    pub first_audible_ms: Option<u64>,
    /// Milliseconds from the session's start to every audible frame that follows a silent
    /// one (at most [`MAX_ONSETS`]): where the host's bursts begin.
    pub onsets_ms: Vec<u64>,
    /// The strongest frequency of the audible part, in Hz (from its start, at most
    /// [`ANALYSIS_SAMPLES`]).
    pub dominant_hz: Option<f64>,
    /// The strongest frequency of the end of the audible part (its last
    /// [`ANALYSIS_SAMPLES`]).
    pub last_dominant_hz: Option<f64>,
    /// Spacing between frame arrivals; `None` below two frames.
    pub spacing: Option<Spacing>,
}

/// The audio port in `state`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AudioState {
    /// The pty the host opens for audio, while plugged.
    pub port: Option<PathBuf>,
    /// The `--audio-link` symlink.
    pub link: Option<PathBuf>,
    /// Audio runs (AT+CPCMREG=1 during an answered call).
    pub active: bool,
    /// The session's sample rate (8000 or 16000), 0 before the first session.
    pub rate: u32,
    /// What the caller sends.
    pub caller_sound: String,
    /// Frames sent to the host in this session.
    pub sent_frames: u64,
    /// Frames skipped because the simulator was held up.
    pub skipped_frames: u64,
    /// What the host played.
    pub received: ReceivedAudio,
}

#[derive(Debug)]
struct Session {
    start: Instant,
    rate: u32,
    next_frame: u64,
    /// Samples of the caller's sound sent so far (the sound's own clock).
    sound_pos: u64,
}

/// The audio port's logic.
#[derive(Debug)]
pub struct AudioPort {
    sound: CallerSound,
    session: Option<Session>,
    rate: u32,
    started: Option<Instant>,
    sent_frames: u64,
    skipped_frames: u64,
    /// Where the caller's sound is between sessions, so that a file given before the
    /// call starts from its beginning when audio begins, and resumes after a pause.
    sound_pos: u64,
    rx_bytes: u64,
    rx_odd: Option<u8>,
    rx_samples: Vec<i16>,
    rx_frame_times: Vec<Instant>,
    rx_audible_frames: u64,
    rx_first_audible: Option<Instant>,
    rx_onsets: Vec<Instant>,
    rx_last_audible: bool,
}

impl Default for AudioPort {
    fn default() -> Self {
        AudioPort::new()
    }
}

impl AudioPort {
    /// Silence, no session.
    pub fn new() -> AudioPort {
        AudioPort {
            sound: CallerSound::Silence,
            session: None,
            rate: 0,
            started: None,
            sent_frames: 0,
            skipped_frames: 0,
            sound_pos: 0,
            rx_bytes: 0,
            rx_odd: None,
            rx_samples: Vec::new(),
            rx_frame_times: Vec::new(),
            rx_audible_frames: 0,
            rx_first_audible: None,
            rx_onsets: Vec::new(),
            rx_last_audible: false,
        }
    }

    /// What the caller sends from now on (a file or tone starts from its beginning).
    pub fn set_sound(&mut self, sound: CallerSound) {
        self.sound = sound;
        self.sound_pos = 0;
        if let Some(s) = &mut self.session {
            s.sound_pos = 0;
        }
    }

    /// Whether audio runs.
    pub fn active(&self) -> bool {
        self.session.is_some()
    }

    /// Audio begins at `now` at `rate` Hz: the caller's first frame is due at once, and
    /// the recording of the host's audio starts afresh.
    pub fn start(&mut self, now: Instant, rate: u32) {
        self.session = Some(Session {
            start: now,
            rate,
            next_frame: 0,
            sound_pos: self.sound_pos,
        });
        self.rate = rate;
        self.started = Some(now);
        self.sent_frames = 0;
        self.skipped_frames = 0;
        self.rx_bytes = 0;
        self.rx_odd = None;
        self.rx_samples.clear();
        self.rx_frame_times.clear();
        self.rx_audible_frames = 0;
        self.rx_first_audible = None;
        self.rx_onsets.clear();
        self.rx_last_audible = false;
    }

    /// Audio ends (AT+CPCMREG=0, the call's end); the recording is kept for `state`.
    pub fn stop(&mut self) {
        if let Some(s) = self.session.take() {
            self.sound_pos = s.sound_pos;
        }
    }

    /// When the next caller frame is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.session
            .as_ref()
            .map(|s| s.start + FRAME * u32::try_from(s.next_frame).unwrap_or(u32::MAX))
    }

    /// The caller's frames due by `now`, appended to `out`.
    pub fn due_frames(&mut self, now: Instant, out: &mut Vec<u8>) {
        let Some(s) = &mut self.session else { return };
        let frame_samples = u64::from(s.rate / 50);
        let due = |n: u64| s.start + FRAME * u32::try_from(n).unwrap_or(u32::MAX);
        if now.saturating_duration_since(due(s.next_frame)) > MAX_CATCH_UP {
            let current = (now.duration_since(s.start).as_micros() / FRAME.as_micros()) as u64;
            let skip = current.saturating_sub(s.next_frame);
            self.skipped_frames += skip;
            s.next_frame += skip;
            s.sound_pos += skip * frame_samples;
        }
        while due(s.next_frame) <= now {
            for _ in 0..frame_samples {
                out.extend_from_slice(&self.sound.sample(s.sound_pos, s.rate).to_le_bytes());
                s.sound_pos += 1;
            }
            s.next_frame += 1;
            self.sent_frames += 1;
        }
    }

    /// Bytes the host wrote to the audio port at `now` (ignored while audio is off, as
    /// the modem does).
    pub fn receive(&mut self, bytes: &[u8], now: Instant) {
        let Some(rate) = self.session.as_ref().map(|s| s.rate) else {
            return;
        };
        let frame_bytes = (rate / 50) as u64 * BYTES_PER_SAMPLE as u64;
        let limit = MAX_RECORDED_SECONDS * rate as usize;
        let before = self.rx_bytes / frame_bytes;
        let mut iter = bytes.iter().copied();
        if let Some(lo) = self.rx_odd.take() {
            match iter.next() {
                Some(hi) => self.push_sample(i16::from_le_bytes([lo, hi]), limit),
                None => self.rx_odd = Some(lo),
            }
        }
        loop {
            match (iter.next(), iter.next()) {
                (Some(lo), Some(hi)) => self.push_sample(i16::from_le_bytes([lo, hi]), limit),
                (Some(lo), None) => {
                    self.rx_odd = Some(lo);
                    break;
                }
                _ => break,
            }
        }
        self.rx_bytes += bytes.len() as u64;
        let after = self.rx_bytes / frame_bytes;
        let frame_samples = (rate / 50) as usize;
        for f in before..after {
            if self.rx_frame_times.len() < MAX_SPACING_SAMPLES {
                self.rx_frame_times.push(now);
            }
            let start = f as usize * frame_samples;
            let Some(frame) = self.rx_samples.get(start..start + frame_samples) else {
                continue;
            };
            let rms = (frame.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>()
                / frame_samples as f64)
                .sqrt();
            let audible = rms >= SILENCE_RMS;
            if audible {
                self.rx_audible_frames += 1;
                self.rx_first_audible.get_or_insert(now);
                if !self.rx_last_audible && self.rx_onsets.len() < MAX_ONSETS {
                    self.rx_onsets.push(now);
                }
            }
            self.rx_last_audible = audible;
        }
    }

    fn push_sample(&mut self, s: i16, limit: usize) {
        if self.rx_samples.len() < limit {
            self.rx_samples.push(s);
        }
    }

    fn spacing(&self) -> Option<Spacing> {
        let mut gaps: Vec<f64> = self
            .rx_frame_times
            .windows(2)
            .filter_map(|w| match w {
                [a, b] => Some(b.saturating_duration_since(*a).as_secs_f64() * 1000.0),
                _ => None,
            })
            .collect();
        if gaps.is_empty() {
            return None;
        }
        let n = gaps.len() as f64;
        let mean = gaps.iter().sum::<f64>() / n;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / n;
        gaps.sort_by(f64::total_cmp);
        let at = |p: usize| gaps.get((gaps.len() - 1) * p / 100).copied().unwrap_or(0.0);
        Some(Spacing {
            mean_ms: mean,
            p50_ms: at(50),
            p99_ms: at(99),
            min_ms: gaps.first().copied().unwrap_or(0.0),
            max_ms: gaps.last().copied().unwrap_or(0.0),
            jitter_ms: var.sqrt(),
        })
    }

    /// Whether a frame is audible.
    fn audible(frame: &[i16]) -> bool {
        !frame.is_empty()
            && (frame.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / frame.len() as f64)
                .sqrt()
                >= SILENCE_RMS
    }

    /// The part of the recording the frequency analysis looks at: from the first audible
    /// frame on, at most [`ANALYSIS_SAMPLES`].
    fn analysis_window(&self) -> &[i16] {
        let frame = (self.rate / 50).max(1) as usize;
        let first = self
            .rx_samples
            .chunks(frame)
            .position(Self::audible)
            .unwrap_or(0)
            * frame;
        let rest = self.rx_samples.get(first..).unwrap_or(&[]);
        rest.get(..ANALYSIS_SAMPLES.min(rest.len())).unwrap_or(&[])
    }

    /// The end of the recording: up to the last audible frame, at most
    /// [`ANALYSIS_SAMPLES`] back (what an interrupting clip, say, sounded like).
    fn last_window(&self) -> &[i16] {
        let frame = (self.rate / 50).max(1) as usize;
        let frames = self.rx_samples.len() / frame;
        let end = (0..frames)
            .rev()
            .find(|&f| {
                self.rx_samples
                    .get(f * frame..(f + 1) * frame)
                    .is_some_and(Self::audible)
            })
            .map_or(0, |f| (f + 1) * frame);
        let start = end.saturating_sub(ANALYSIS_SAMPLES);
        self.rx_samples.get(start..end).unwrap_or(&[])
    }

    /// The received samples of the last session (at most [`MAX_RECORDED_SECONDS`]).
    pub fn received_samples(&self) -> &[i16] {
        &self.rx_samples
    }

    /// The figures for `state`; `port` and `link` are the I/O layer's.
    pub fn state(&self, port: Option<PathBuf>, link: Option<PathBuf>) -> AudioState {
        let frame_bytes = u64::from(self.rate / 50) * BYTES_PER_SAMPLE as u64;
        let frames = self.rx_bytes.checked_div(frame_bytes).unwrap_or(0);
        AudioState {
            port,
            link,
            active: self.active(),
            rate: self.rate,
            caller_sound: self.sound.describe(),
            sent_frames: self.sent_frames,
            skipped_frames: self.skipped_frames,
            received: ReceivedAudio {
                frames,
                bytes: self.rx_bytes,
                duration_ms: frames * FRAME.as_millis() as u64,
                audible_frames: self.rx_audible_frames,
                first_audible_ms: match (self.started, self.rx_first_audible) {
                    (Some(s), Some(f)) => Some(f.saturating_duration_since(s).as_millis() as u64),
                    _ => None,
                },
                onsets_ms: self
                    .rx_onsets
                    .iter()
                    .filter_map(|t| {
                        self.started
                            .map(|s| t.saturating_duration_since(s).as_millis() as u64)
                    })
                    .collect(),
                dominant_hz: dominant_frequency(self.analysis_window(), self.rate.max(1)),
                last_dominant_hz: dominant_frequency(self.last_window(), self.rate.max(1)),
                spacing: self.spacing(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn tone(hz: f64, rate: u32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin())
                    as i16
            })
            .collect()
    }

    fn bytes(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    #[test]
    fn goertzel_finds_440_and_1000_hz_to_half_a_hertz() {
        assert_eq!(
            dominant_frequency(&tone(440.0, 8000, 8000), 8000),
            Some(440.0)
        );
        assert_eq!(
            dominant_frequency(&tone(1000.0, 16000, 16000), 16000),
            Some(1000.0)
        );
        assert_eq!(dominant_frequency(&[0; 8000], 8000), None);
        assert_eq!(dominant_frequency(&tone(440.0, 8000, 100), 8000), None);
    }

    #[test]
    fn caller_tone_goes_out_one_frame_per_20_ms_from_the_start_of_audio() {
        let mut port = AudioPort::new();
        port.set_sound(CallerSound::Tone(1000));
        let t0 = Instant::now();
        let mut out = Vec::new();
        port.due_frames(t0, &mut out);
        assert!(out.is_empty(), "nothing before audio starts");
        port.start(t0, 8000);
        port.due_frames(t0, &mut out);
        assert_eq!(out.len(), 320);
        assert_eq!(port.next_deadline(), Some(t0 + ms(20)));
        port.due_frames(t0 + ms(59), &mut out);
        assert_eq!(out.len(), 3 * 320);
        let samples: Vec<i16> = out
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(
            dominant_frequency(&samples, 8000),
            None,
            "0.06 s is too short to judge"
        );
        for t in (60..200).step_by(20) {
            port.due_frames(t0 + ms(t), &mut out);
        }
        let samples: Vec<i16> = out
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(dominant_frequency(&samples, 8000), Some(1000.0));
        port.stop();
        assert_eq!(port.next_deadline(), None);
    }

    #[test]
    fn host_audio_is_recorded_with_its_frame_spacing_and_frequency() {
        let mut port = AudioPort::new();
        let t0 = Instant::now();
        port.start(t0, 8000);
        let samples = tone(440.0, 8000, 8000);
        // One second of frames, each 20 ms apart, the 10th one 5 ms late and split in two.
        for (i, frame) in samples.chunks(160).enumerate() {
            let at = t0 + ms(20 * i as u64);
            let b = bytes(frame);
            if i == 10 {
                port.receive(&b[..101], at);
                port.receive(&b[101..], at + ms(5));
            } else {
                port.receive(&b, at);
            }
        }
        let s = port.state(None, None);
        assert_eq!(s.received.frames, 50);
        assert_eq!(s.received.duration_ms, 1000);
        assert_eq!(s.received.audible_frames, 50);
        assert_eq!(s.received.first_audible_ms, Some(0));
        assert_eq!(s.received.dominant_hz, Some(440.0));
        assert_eq!(s.received.last_dominant_hz, Some(440.0));
        let sp = s.received.spacing.unwrap();
        assert_eq!(sp.max_ms.round(), 25.0);
        assert_eq!(sp.min_ms.round(), 15.0);
        assert!(sp.jitter_ms > 0.5 && sp.jitter_ms < 1.5, "{sp:?}");
        port.stop();
        port.receive(&bytes(&samples), t0 + ms(2000));
        assert_eq!(
            port.state(None, None).received.frames,
            50,
            "ignored while audio is off"
        );
    }

    #[test]
    fn a_wav_file_at_44k1_plays_at_the_call_rate_then_silence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("caller.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for s in tone(1000.0, 44100, 22050) {
            w.write_sample(s).unwrap();
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        let mut port = AudioPort::new();
        port.set_sound(CallerSound::from_wav(&path).unwrap());
        let t0 = Instant::now();
        port.start(t0, 8000);
        let mut out = Vec::new();
        for t in (0..=980).step_by(20) {
            port.due_frames(t0 + ms(t), &mut out);
        }
        let samples: Vec<i16> = out
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(samples.len(), 8000);
        assert_eq!(dominant_frequency(&samples[..4000], 8000), Some(1000.0));
        assert!(
            samples[4010..].iter().all(|&s| s == 0),
            "silence after the file's 0.5 s"
        );
        assert!(port.state(None, None).caller_sound.ends_with("caller.wav"));
    }

    #[test]
    fn a_text_file_is_refused_as_caller_audio_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "not audio").unwrap();
        let err = CallerSound::from_wav(&path).unwrap_err();
        assert!(err.contains("notes.txt is not a WAV audio file"), "{err}");
    }

    #[test]
    fn the_start_and_the_end_of_what_the_host_played_are_told_apart() {
        let mut port = AudioPort::new();
        let t0 = Instant::now();
        port.start(t0, 8000);
        let mut samples = tone(440.0, 8000, 8000);
        samples.extend(tone(1000.0, 8000, 8000));
        samples.extend(std::iter::repeat_n(0, 1600));
        port.receive(&bytes(&samples), t0);
        let rx = port.state(None, None).received;
        assert_eq!(rx.dominant_hz, Some(440.0));
        assert_eq!(rx.last_dominant_hz, Some(1000.0));
    }

    #[test]
    fn a_simulator_held_up_skips_frames_instead_of_bursting() {
        let mut port = AudioPort::new();
        let t0 = Instant::now();
        port.start(t0, 16000);
        let mut out = Vec::new();
        port.due_frames(t0 + ms(1000), &mut out);
        assert_eq!(out.len(), 640);
        assert_eq!(port.state(None, None).skipped_frames, 50);
        assert_eq!(port.next_deadline(), Some(t0 + ms(1020)));
    }
}
