//! Speech for `POST /phone_call`: texts are synthesized off the API's workers and off the
//! bot's loop, one at a time and in the order they were asked for, on one thread of this
//! module, then played into the call they were asked for.
//!
//! This module owns that thread and its bounded queue ([`Speaker`]). A request is
//! answered as soon as its text is queued (synthesis takes from a few hundred
//! milliseconds to seconds); one thread keeps the order of the texts (two threads could
//! finish in the other order) and bounds what the API can make the machine do at once.
//! A text waits for synthesis holding only a weak reference to its call's audio: a call
//! that ends meanwhile closes at once, and its texts are dropped (logged) when their turn
//! comes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, Weak};

use crate::audio::{CallAudio, TtsCommand, TtsError};

/// Texts that may wait for synthesis; one more is refused (503).
pub const MAX_PENDING: usize = 8;

/// One text to speak into one call.
#[derive(Debug)]
pub struct SpeechJob {
    /// The text.
    pub text: String,
    /// Its language (`None`: the TTS command's default).
    pub language: Option<String>,
    /// Play at once, dropping what plays and waits (`"priority": "high"`).
    pub interrupt: bool,
    /// The call's audio, as long as the call lasts.
    pub audio: Weak<CallAudio>,
    /// The call's id, for the log.
    pub call_id: Option<u64>,
}

/// Why a text was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// The text or the language cannot be spoken (checked before queueing).
    #[error(transparent)]
    Refused(#[from] TtsError),
    /// [`MAX_PENDING`] texts wait already.
    #[error("{0} texts are already waiting for speech synthesis, the most allowed")]
    Busy(usize),
    /// The speech thread could not be started, or has ended.
    #[error("the speech thread is not available: {0}")]
    Unavailable(String),
}

#[derive(Debug)]
struct Inner {
    tts: TtsCommand,
    /// Started at the first text.
    sender: Mutex<Option<SyncSender<SpeechJob>>>,
    /// Texts queued and not yet played (or dropped).
    pending: Arc<AtomicUsize>,
}

/// The speech queue of the API; clones share one thread. The thread starts with the
/// first text and ends when the last clone is dropped (the API stopped).
#[derive(Debug, Clone)]
pub struct Speaker {
    inner: Arc<Inner>,
}

impl Speaker {
    /// A speaker that synthesizes with `tts` (the `[audio] tts` command).
    pub fn new(tts: TtsCommand) -> Speaker {
        Speaker {
            inner: Arc::new(Inner {
                tts,
                sender: Mutex::new(None),
                pending: Arc::new(AtomicUsize::new(0)),
            }),
        }
    }

    /// The TTS command.
    pub fn tts(&self) -> &TtsCommand {
        &self.inner.tts
    }

    /// Texts queued and not yet synthesized and played.
    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::SeqCst)
    }

    /// Checks `job`'s text and language and queues it; never waits for synthesis.
    pub fn speak(&self, job: SpeechJob) -> Result<(), SpeechError> {
        self.inner.tts.check(&job.text, job.language.as_deref())?;
        let mut sender = match self.inner.sender.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if sender.is_none() {
            *sender = Some(self.start()?);
        }
        let Some(tx) = sender.as_ref() else {
            return Err(SpeechError::Unavailable("not started".into()));
        };
        self.inner.pending.fetch_add(1, Ordering::SeqCst);
        match tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.inner.pending.fetch_sub(1, Ordering::SeqCst);
                match e {
                    TrySendError::Full(_) => Err(SpeechError::Busy(MAX_PENDING)),
                    TrySendError::Disconnected(_) => {
                        // The thread died (a panic in synthesis): the next text starts one.
                        *sender = None;
                        Err(SpeechError::Unavailable("it ended".into()))
                    }
                }
            }
        }
    }

    fn start(&self) -> Result<SyncSender<SpeechJob>, SpeechError> {
        let (tx, rx) = sync_channel(MAX_PENDING);
        let tts = self.inner.tts.clone();
        let pending = Arc::clone(&self.inner.pending);
        std::thread::Builder::new()
            .name("api-speech".into())
            .spawn(move || run(&tts, &rx, &pending))
            .map_err(|e| SpeechError::Unavailable(e.to_string()))?;
        Ok(tx)
    }
}

/// The speech thread: each text in turn, until every sender is gone.
fn run(tts: &TtsCommand, jobs: &Receiver<SpeechJob>, pending: &AtomicUsize) {
    for job in jobs {
        speak_one(tts, &job);
        pending.fetch_sub(1, Ordering::SeqCst);
    }
    log::debug!("API speech thread ends");
}

fn speak_one(tts: &TtsCommand, job: &SpeechJob) {
    let call = job
        .call_id
        .map_or_else(|| "the call".to_owned(), |id| format!("call {id}"));
    // The format without holding the audio during synthesis.
    let Some(format) = job.audio.upgrade().map(|a| a.format()) else {
        log::info!("speech for {call} dropped: the call ended before its turn");
        return;
    };
    let started = std::time::Instant::now();
    let clip = match tts.synthesize_in(&job.text, job.language.as_deref(), format) {
        Ok(clip) => clip,
        Err(e) => {
            log::warn!("speech for {call}: {e}");
            return;
        }
    };
    let took = started.elapsed();
    let Some(audio) = job.audio.upgrade() else {
        log::info!("speech for {call} dropped: the call ended during synthesis");
        return;
    };
    let duration = clip.duration();
    let played = if job.interrupt {
        audio.play_interrupt(clip)
    } else {
        audio.play(clip)
    };
    match played {
        Ok(id) => log::info!(
            "speech for {call}: clip {} of {duration:?} (synthesized in {took:?}){}",
            id.0,
            if job.interrupt { ", interrupting" } else { "" }
        ),
        Err(e) => log::warn!("speech for {call}: the call did not take it: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(text: &str, language: Option<&str>) -> SpeechJob {
        SpeechJob {
            text: text.into(),
            language: language.map(Into::into),
            interrupt: false,
            audio: Weak::new(),
            call_id: Some(1),
        }
    }

    #[test]
    fn bad_text_or_language_is_refused_before_it_is_queued() {
        let speaker = Speaker::new(TtsCommand::default());
        for (text, language, words) in [
            ("   ", None, "empty"),
            ("hi", Some("de de"), "language"),
            ("nul\0", None, "NUL"),
        ] {
            let e = speaker.speak(job(text, language)).unwrap_err();
            assert!(matches!(e, SpeechError::Refused(_)), "{e}");
            assert!(e.to_string().contains(words), "{e}");
        }
        assert_eq!(speaker.pending(), 0);
    }

    #[test]
    fn a_text_for_a_call_that_ended_is_dropped_and_no_longer_pending() {
        // `false` would fail synthesis; the job never gets that far: its call is gone.
        let speaker = Speaker::new(TtsCommand {
            command: vec!["false".into()],
            ..TtsCommand::default()
        });
        speaker.speak(job("hello", None)).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while speaker.pending() > 0 {
            assert!(std::time::Instant::now() < deadline, "still pending");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
