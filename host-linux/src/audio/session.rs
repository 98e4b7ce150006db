//! One call's audio, as the bot drives it: the `[audio]` settings ([`AudioConfig`]), the
//! timing of AT+CPCMREG=1 after the call connects ([`PcmActivation`]: at least 100 ms
//! after VOICE CALL: BEGIN, retried a bounded number of times because the SIM7600
//! refuses it when sent too early), and [`CallAudio`], which owns the audio port for the
//! length of a call: it opens the port raw, starts the writer and the reader (with the
//! call's recording), plays the greeting, and closes it all on the call's end.
//!
//! The AT commands themselves go through modem-core on the bot's one AT writer; this
//! module only says when.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};

use super::format::{AudioFormatError, CallFormat, Clip, load_wav};
use super::listener::{
    CallerAudio, CallerFrame, ListenerError, ListenerStatus, ListenerSummary, RecordingError,
    RecordingFolder, Retention, SubscribeError,
};
use super::player::{AudioWriter, ClipId, PlayError, WriterError, WriterStatus};
use super::tts::TtsCommand;

/// The audio port's usual name (USB interface 04 of a SIM7600 in 1e0e:9001 mode).
pub const DEFAULT_AUDIO_PORT: &str = "/dev/ttyUSB4";
/// The least time between VOICE CALL: BEGIN and AT+CPCMREG=1 (SIM7600-PROTOCOL.md).
pub const MIN_PCM_DELAY: Duration = Duration::from_millis(100);
/// Default attempts at AT+CPCMREG=1 before the call goes on without audio.
pub const DEFAULT_PCM_ATTEMPTS: u32 = 5;
/// Default pause between two attempts.
pub const DEFAULT_PCM_RETRY: Duration = Duration::from_millis(200);
/// The most attempts a configuration may ask for (each one holds the AT port briefly).
pub const MAX_PCM_ATTEMPTS: u32 = 20;

/// Where call recordings go.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingsConfig {
    /// The folder (created when missing).
    pub folder: PathBuf,
    /// The most recordings kept.
    #[serde(default = "default_max_files")]
    pub max_files: usize,
    /// The most bytes they may take together.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

fn default_max_files() -> usize {
    Retention::default().max_files
}

fn default_max_bytes() -> u64 {
    Retention::default().max_bytes
}

impl RecordingsConfig {
    /// The retention.
    pub fn retention(&self) -> Retention {
        Retention {
            max_files: self.max_files,
            max_bytes: self.max_bytes,
        }
    }
}

/// The `[audio]` settings of the bot's configuration file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioConfig {
    /// Whether the bot handles call audio at all (off: calls are answered silently).
    pub enabled: bool,
    /// The audio port.
    pub port: PathBuf,
    /// 16 kHz (AT+CPCMFRM=1) instead of 8 kHz.
    pub wideband: bool,
    /// Played when a call is answered.
    pub greeting: Option<PathBuf>,
    /// Where each call's audio is recorded; no recording without it.
    pub recordings: Option<RecordingsConfig>,
    /// Text to speech.
    pub tts: TtsCommand,
    /// Milliseconds from VOICE CALL: BEGIN to the first AT+CPCMREG=1 (at least 100).
    pub pcm_delay_ms: u64,
    /// Attempts at AT+CPCMREG=1.
    pub pcm_attempts: u32,
    /// Milliseconds between two attempts.
    pub pcm_retry_ms: u64,
}

impl Default for AudioConfig {
    fn default() -> Self {
        AudioConfig {
            enabled: false,
            port: PathBuf::from(DEFAULT_AUDIO_PORT),
            wideband: false,
            greeting: None,
            recordings: None,
            tts: TtsCommand::default(),
            pcm_delay_ms: MIN_PCM_DELAY.as_millis() as u64,
            pcm_attempts: DEFAULT_PCM_ATTEMPTS,
            pcm_retry_ms: DEFAULT_PCM_RETRY.as_millis() as u64,
        }
    }
}

/// Why the audio settings cannot work.
#[derive(Debug, thiserror::Error)]
pub enum AudioConfigError {
    /// A setting is out of range.
    #[error("audio setting {field}: {problem}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The greeting is not usable audio.
    #[error("audio setting greeting: {0}")]
    Greeting(#[from] AudioFormatError),
    /// The recordings folder cannot be used.
    #[error("audio setting recordings: {0}")]
    Recordings(#[from] RecordingError),
}

/// Settings checked at start, the greeting loaded: what a call needs.
#[derive(Debug, Clone)]
pub struct AudioPlan {
    /// The settings.
    pub config: AudioConfig,
    /// The greeting, converted to the call format.
    pub greeting: Option<Clip>,
    /// The recordings folder.
    pub recordings: Option<RecordingFolder>,
}

impl AudioConfig {
    /// The call format these settings ask for.
    pub fn format(&self) -> CallFormat {
        if self.wideband {
            CallFormat::Wideband
        } else {
            CallFormat::Narrowband
        }
    }

    /// Checks every setting and loads the greeting, so that a bad file is refused when
    /// the bot starts, with the file named, rather than on the first call.
    pub fn prepare(&self) -> Result<AudioPlan, AudioConfigError> {
        let invalid = |field, problem: String| AudioConfigError::Invalid { field, problem };
        if self.pcm_delay_ms < MIN_PCM_DELAY.as_millis() as u64 {
            return Err(invalid(
                "pcm_delay_ms",
                format!(
                    "{} ms is too early: the SIM7600 needs at least {} ms after the call connects",
                    self.pcm_delay_ms,
                    MIN_PCM_DELAY.as_millis()
                ),
            ));
        }
        if !(1..=MAX_PCM_ATTEMPTS).contains(&self.pcm_attempts) {
            return Err(invalid(
                "pcm_attempts",
                format!("{} is outside 1-{MAX_PCM_ATTEMPTS}", self.pcm_attempts),
            ));
        }
        if self.tts.command.first().is_none_or(|p| p.is_empty()) {
            return Err(invalid("tts.command", "names no program".into()));
        }
        let greeting = match &self.greeting {
            Some(path) => Some(load_wav(path, self.format())?),
            None => None,
        };
        let recordings = match &self.recordings {
            Some(r) => Some(RecordingFolder::new(&r.folder, r.retention())?),
            None => None,
        };
        Ok(AudioPlan {
            config: self.clone(),
            greeting,
            recordings,
        })
    }

    /// The AT+CPCMREG=1 schedule for a call that connected at `begin`.
    pub fn activation(&self, begin: Instant) -> PcmActivation {
        PcmActivation::new(
            begin,
            Duration::from_millis(self.pcm_delay_ms).max(MIN_PCM_DELAY),
            self.pcm_attempts.clamp(1, MAX_PCM_ATTEMPTS),
            Duration::from_millis(self.pcm_retry_ms),
        )
    }
}

/// When to send AT+CPCMREG=1 for one call, sans-I/O: the bot asks [`PcmActivation::step`],
/// sends the command when told, and reports the answer.
#[derive(Debug, Clone)]
pub struct PcmActivation {
    next: Instant,
    retry: Duration,
    attempts_left: u32,
    attempts: u32,
    outcome: Option<bool>,
}

/// What the bot does about AT+CPCMREG=1 now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcmStep {
    /// Nothing before this instant.
    WaitUntil(Instant),
    /// Send AT+CPCMREG=1 now.
    Send,
    /// The modem said OK: open the audio port.
    Active,
    /// Every attempt failed: the call goes on without audio.
    GaveUp {
        /// How many were made.
        attempts: u32,
    },
}

impl PcmActivation {
    /// The first attempt `delay` after `begin`, then up to `attempts - 1` more, `retry`
    /// apart.
    pub fn new(begin: Instant, delay: Duration, attempts: u32, retry: Duration) -> PcmActivation {
        PcmActivation {
            next: begin + delay,
            retry,
            attempts_left: attempts,
            attempts: 0,
            outcome: None,
        }
    }

    /// What to do at `now`.
    pub fn step(&self, now: Instant) -> PcmStep {
        match self.outcome {
            Some(true) => PcmStep::Active,
            Some(false) => PcmStep::GaveUp {
                attempts: self.attempts,
            },
            None if now < self.next => PcmStep::WaitUntil(self.next),
            None => PcmStep::Send,
        }
    }

    /// When the next attempt is due (in the past once it is), while the outcome is open.
    pub fn due_at(&self) -> Option<Instant> {
        self.outcome.is_none().then_some(self.next)
    }

    /// The modem answered the attempt sent at `now`: `ok` for OK, else an error.
    pub fn answered(&mut self, ok: bool, now: Instant) -> PcmStep {
        self.attempts += 1;
        self.attempts_left = self.attempts_left.saturating_sub(1);
        if ok {
            self.outcome = Some(true);
        } else if self.attempts_left == 0 {
            self.outcome = Some(false);
        } else {
            self.next = now + self.retry;
        }
        self.step(now)
    }
}

/// Why a call's audio could not start or ended badly.
#[derive(Debug, thiserror::Error)]
pub enum CallAudioError {
    /// The audio port could not be opened or set up.
    #[error("cannot open the audio port {port}: {source}")]
    Open {
        /// The port.
        port: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The recording could not start.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// The reader failed.
    #[error(transparent)]
    Listener(#[from] ListenerError),
    /// The writer failed.
    #[error(transparent)]
    Writer(#[from] WriterError),
}

/// One call's audio: the port, the writer, the reader.
#[derive(Debug)]
pub struct CallAudio {
    writer: AudioWriter,
    reader: CallerAudio,
    format: CallFormat,
    greeting: Option<ClipId>,
}

/// What a call's audio leaves behind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallAudioSummary {
    /// The writer's last status (queue, timing).
    pub writer: WriterStatus,
    /// Why the writer had stopped early or could not be ended, if so.
    pub writer_error: Option<String>,
    /// The reader's summary (frames, recording).
    pub listener: ListenerSummary,
}

/// Opens `path` for reading and writing, raw (no echo, no line discipline: PCM is
/// binary), not as a controlling terminal. Opened non-blocking so that a tty waiting for
/// a carrier cannot hold the bot, then made blocking again (the threads block in poll and
/// write) once CLOCAL says to ignore the carrier.
fn open_raw(path: &Path) -> Result<File, std::io::Error> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    use nix::sys::termios::ControlFlags;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags((OFlag::O_NOCTTY | OFlag::O_NONBLOCK).bits())
        .open(path)?;
    // Not every audio port is a tty (a test may hand a FIFO): raw mode where it is one.
    if let Ok(mut t) = tcgetattr(&file) {
        cfmakeraw(&mut t);
        t.control_flags |= ControlFlags::CLOCAL | ControlFlags::CREAD;
        tcsetattr(&file, SetArg::TCSANOW, &t).map_err(std::io::Error::from)?;
    }
    let flags = fcntl(&file, FcntlArg::F_GETFL).map_err(std::io::Error::from)?;
    let blocking = OFlag::from_bits_truncate(flags) & !OFlag::O_NONBLOCK;
    fcntl(&file, FcntlArg::F_SETFL(blocking)).map_err(std::io::Error::from)?;
    Ok(file)
}

impl CallAudio {
    /// Opens the audio port of `plan` once AT+CPCMREG=1 succeeded, starts recording the
    /// caller (labelled `caller`: their number, or "withheld"), and plays the greeting.
    pub fn open(plan: &AudioPlan, caller: &str) -> Result<CallAudio, CallAudioError> {
        let port = &plan.config.port;
        let format = plan.config.format();
        let open_err = |source| CallAudioError::Open {
            port: port.clone(),
            source,
        };
        let file = open_raw(port).map_err(open_err)?;
        let write_side = file.try_clone().map_err(open_err)?;
        let name = port.display().to_string();
        let recording = match &plan.recordings {
            Some(folder) => Some(folder.start(caller, format)?),
            None => None,
        };
        let reader = CallerAudio::spawn(file, &name, format, recording)?;
        let writer = AudioWriter::spawn(write_side, &name, format).map_err(open_err)?;
        let greeting = match &plan.greeting {
            // A fresh writer has room: only a stopped writer refuses, and then the
            // finish below reports why.
            Some(clip) => writer.play(clip.clone()).ok(),
            None => None,
        };
        Ok(CallAudio {
            writer,
            reader,
            format,
            greeting,
        })
    }

    /// The call's PCM format.
    pub fn format(&self) -> CallFormat {
        self.format
    }

    /// The greeting's clip, if one is playing or played.
    pub fn greeting(&self) -> Option<ClipId> {
        self.greeting
    }

    /// Queues `clip`.
    pub fn play(&self, clip: Clip) -> Result<ClipId, PlayError> {
        self.writer.play(clip)
    }

    /// Plays `clip` at once, dropping what plays and waits.
    pub fn play_interrupt(&self, clip: Clip) -> Result<ClipId, PlayError> {
        self.writer.play_interrupt(clip)
    }

    /// Silence from the next frame on.
    pub fn stop(&self) -> Result<usize, PlayError> {
        self.writer.stop()
    }

    /// A live stream of the caller's audio.
    pub fn subscribe(&self) -> Result<Receiver<CallerFrame>, SubscribeError> {
        self.reader.subscribe()
    }

    /// The writer's status.
    pub fn writer_status(&self) -> WriterStatus {
        self.writer.status()
    }

    /// The reader's status.
    pub fn listener_status(&self) -> ListenerStatus {
        self.reader.status()
    }

    /// The call ended: stops playing, ends the writer and the reader (which completes
    /// the recording and ends the live streams), closes the port.
    ///
    /// Never waits long on the modem: a writer blocked because the modem stopped taking
    /// audio is left behind after [`super::player::MAX_FINISH_WAIT`] (`writer_error`
    /// says so) and ends by itself when its write returns or fails.
    pub fn close(self) -> Result<CallAudioSummary, CallAudioError> {
        let _ = self.writer.stop();
        let (writer, outcome) = self.writer.end();
        let listener = self.reader.finish()?;
        Ok(CallAudioSummary {
            writer,
            writer_error: outcome.err().map(|e| e.to_string()),
            listener,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn cpcmreg_goes_out_100_ms_after_the_call_connects_and_is_retried_until_ok() {
        let begin = Instant::now();
        let mut a = AudioConfig::default().activation(begin);
        assert_eq!(a.step(begin), PcmStep::WaitUntil(begin + ms(100)));
        assert_eq!(a.step(begin + ms(100)), PcmStep::Send);
        assert_eq!(
            a.answered(false, begin + ms(110)),
            PcmStep::WaitUntil(begin + ms(310))
        );
        assert_eq!(a.step(begin + ms(310)), PcmStep::Send);
        assert_eq!(a.answered(true, begin + ms(320)), PcmStep::Active);
        assert_eq!(a.step(begin + ms(5000)), PcmStep::Active);
    }

    #[test]
    fn cpcmreg_gives_up_after_the_configured_attempts() {
        let begin = Instant::now();
        let config = AudioConfig {
            pcm_attempts: 3,
            ..AudioConfig::default()
        };
        let mut a = config.activation(begin);
        let mut now = begin;
        let mut sent = 0;
        loop {
            match a.step(now) {
                PcmStep::WaitUntil(t) => now = t,
                PcmStep::Send => {
                    sent += 1;
                    a.answered(false, now);
                }
                PcmStep::GaveUp { attempts } => {
                    assert_eq!(attempts, 3);
                    break;
                }
                PcmStep::Active => panic!("never OK"),
            }
        }
        assert_eq!(sent, 3);
        assert_eq!(now, begin + ms(100 + 2 * 200));
    }

    #[test]
    fn settings_that_cannot_work_are_refused_naming_the_setting() {
        let too_early = AudioConfig {
            pcm_delay_ms: 50,
            ..AudioConfig::default()
        };
        let err = too_early.prepare().unwrap_err().to_string();
        assert!(
            err.starts_with("audio setting pcm_delay_ms: 50 ms is too early"),
            "{err}"
        );
        let no_attempts = AudioConfig {
            pcm_attempts: 0,
            ..AudioConfig::default()
        };
        assert!(
            no_attempts
                .prepare()
                .unwrap_err()
                .to_string()
                .contains("pcm_attempts")
        );
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("greeting.wav");
        std::fs::write(&text, "hello").unwrap();
        let bad_greeting = AudioConfig {
            greeting: Some(text.clone()),
            ..AudioConfig::default()
        };
        let err = bad_greeting.prepare().unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "audio setting greeting: {} is not a WAV audio file",
                text.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn the_audio_table_reads_from_toml_with_defaults() {
        let c: AudioConfig = toml::from_str(
            r#"
            enabled = true
            wideband = true
            recordings = { folder = "/var/lib/sim7600/calls", max_files = 50 }
            tts = { command = ["piper", "--output_file", "/dev/stdout"], timeout_ms = 30000 }
            "#,
        )
        .unwrap();
        assert!(c.enabled);
        assert_eq!(c.format(), CallFormat::Wideband);
        assert_eq!(c.port, Path::new("/dev/ttyUSB4"));
        let r = c.recordings.unwrap();
        assert_eq!(r.max_files, 50);
        assert_eq!(r.max_bytes, Retention::default().max_bytes);
        assert_eq!(c.tts.timeout_ms, 30000);
        assert_eq!(c.pcm_attempts, DEFAULT_PCM_ATTEMPTS);
        let err = toml::from_str::<AudioConfig>("volume = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `volume`"), "{err}");
    }

    #[test]
    fn a_missing_audio_port_is_named() {
        let plan = AudioConfig {
            port: PathBuf::from("/nonexistent/ttyUSB4"),
            ..AudioConfig::default()
        }
        .prepare()
        .unwrap();
        let err = CallAudio::open(&plan, "+4917").unwrap_err().to_string();
        assert!(
            err.starts_with("cannot open the audio port /nonexistent/ttyUSB4"),
            "{err}"
        );
    }

    #[test]
    fn closing_a_call_whose_modem_stopped_taking_audio_does_not_hang() {
        use nix::fcntl::OFlag;
        use std::io::Write as _;
        use std::os::fd::AsFd as _;
        // A pty whose other end nobody reads: a modem that stopped taking audio.
        let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY).unwrap();
        nix::pty::grantpt(&master).unwrap();
        nix::pty::unlockpt(&master).unwrap();
        let path = PathBuf::from(nix::pty::ptsname_r(&master).unwrap());
        let plan = AudioConfig {
            port: path.clone(),
            ..AudioConfig::default()
        }
        .prepare()
        .unwrap();
        // Fill the port's output until it takes no more.
        let mut filler = OpenOptions::new()
            .write(true)
            .custom_flags((OFlag::O_NOCTTY | OFlag::O_NONBLOCK).bits())
            .open(&path)
            .unwrap();
        let mut t = tcgetattr(filler.as_fd()).unwrap();
        cfmakeraw(&mut t);
        tcsetattr(filler.as_fd(), SetArg::TCSANOW, &t).unwrap();
        // The pty moves data on to the other side's line discipline in the background,
        // so room can reappear after a refusal: fill until it stays full.
        loop {
            while filler.write(&[0u8; 4096]).is_ok() {}
            while filler.write(&[0u8; 1]).is_ok() {}
            std::thread::sleep(ms(30));
            if filler.write(&[0u8; 1]).is_err() {
                break;
            }
        }
        let audio = CallAudio::open(&plan, "+4917").unwrap();
        std::thread::sleep(ms(100));
        let start = Instant::now();
        let summary = audio.close().unwrap();
        assert!(
            start.elapsed() < ms(600),
            "close took {:?}",
            start.elapsed()
        );
        let err = summary.writer_error.unwrap();
        assert!(err.contains("is stuck in a write"), "{err}");
        assert!(summary.writer.timing.frames <= 2, "{:?}", summary.writer);
        // The modem goes away: the left-behind writer's write fails and it ends.
        drop(master);
    }
}
