//! The DTMF menu carried out: its `play` files loaded for the call's format when the bot
//! starts, and each key turned into what the bot does.
//!
//! This module owns [`PreparedMenu`] (the `[dtmf]` table with its sound loaded, so a bad
//! file is refused at start naming the key and the file) and [`PreparedMenu::on_key`],
//! which decides and starts the sound: a `play` clip goes to the call's audio at once
//! (interrupting what plays); a `speak` text is synthesized on a thread of its own (the
//! TTS program may take seconds, and the bot's loop must not wait) and then played. A
//! `hangup` is returned to the bot, whose call machine owns hanging up. The call's audio
//! is reached through [`CallSpeaker`], so the decisions are tested without a port.

use std::sync::Arc;

use modem_core::urc::DtmfKey;

use super::dtmf::{DtmfMenu, DtmfMenuError, MenuAction};
use crate::audio::{CallAudio, CallFormat, Clip, ClipId, PlayError, TtsCommand, load_wav};

/// Where the menu's sound goes: the call's audio ([`CallAudio`]).
pub trait CallSpeaker: Send + Sync {
    /// The call's format.
    fn format(&self) -> CallFormat;
    /// Plays `clip` at once, dropping what plays and waits.
    fn play_interrupt(&self, clip: Clip) -> Result<ClipId, PlayError>;
}

impl CallSpeaker for CallAudio {
    fn format(&self) -> CallFormat {
        CallAudio::format(self)
    }
    fn play_interrupt(&self, clip: Clip) -> Result<ClipId, PlayError> {
        CallAudio::play_interrupt(self, clip)
    }
}

/// What a key came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOutcome {
    /// No entry for the key: nothing (its event was published all the same).
    Nothing,
    /// The bot must hang up.
    HangUp,
    /// The clip was queued.
    Played(ClipId),
    /// The text is being synthesized; it plays when ready.
    Speaking,
    /// The key wants sound but the call has none (audio off, or not started yet).
    NoAudio,
    /// The call's audio refused the clip (it ended, its queue is full).
    Refused(PlayError),
}

/// The `[dtmf]` menu ready for calls. See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct PreparedMenu {
    menu: DtmfMenu,
    /// The `play` entries' sound, by key.
    clips: Vec<(DtmfKey, Clip)>,
    tts: Option<TtsCommand>,
}

impl PreparedMenu {
    /// The menu for calls in `format`, speaking with `tts` (`None`: no TTS configured,
    /// `speak` entries are refused). Loads every `play` file.
    pub fn prepare(
        menu: &DtmfMenu,
        format: CallFormat,
        tts: Option<&TtsCommand>,
    ) -> Result<PreparedMenu, DtmfMenuError> {
        menu.validate()?;
        let mut clips = Vec::new();
        for (key_text, action) in menu.entries() {
            let invalid = |problem: String| DtmfMenuError {
                key: key_text.to_owned(),
                problem,
            };
            let Some(key) = key_text.bytes().next().and_then(DtmfKey::from_ascii) else {
                return Err(invalid("is not a DTMF key".into()));
            };
            match action {
                MenuAction::Play { file } => {
                    let clip = load_wav(file, format).map_err(|e| invalid(e.to_string()))?;
                    clips.push((key, clip));
                }
                MenuAction::Speak { .. } if tts.is_none() => {
                    return Err(invalid(
                        "`speak` needs call audio with a TTS command ([audio])".into(),
                    ));
                }
                MenuAction::Speak { .. } | MenuAction::Hangup {} => {}
            }
        }
        Ok(PreparedMenu {
            menu: menu.clone(),
            clips,
            tts: tts.cloned(),
        })
    }

    /// A menu with only its decisions (no sound loaded): `play` and `speak` keys come to
    /// [`KeyOutcome::NoAudio`]. For a bot without call audio.
    pub fn without_audio(menu: &DtmfMenu) -> PreparedMenu {
        PreparedMenu {
            menu: menu.clone(),
            clips: Vec::new(),
            tts: None,
        }
    }

    /// The menu's entries.
    pub fn menu(&self) -> &DtmfMenu {
        &self.menu
    }

    /// Carries out `key`, pressed during a call whose audio is `audio` (if any).
    pub fn on_key<S: CallSpeaker + 'static>(
        &self,
        key: DtmfKey,
        audio: Option<Arc<S>>,
    ) -> KeyOutcome {
        let Some(action) = self.menu.action(key) else {
            return KeyOutcome::Nothing;
        };
        match action {
            MenuAction::Hangup {} => KeyOutcome::HangUp,
            MenuAction::Play { .. } => {
                let clip = self.clips.iter().find(|(k, _)| *k == key).map(|(_, c)| c);
                match (clip, audio) {
                    (Some(clip), Some(audio)) => match audio.play_interrupt(clip.clone()) {
                        Ok(id) => KeyOutcome::Played(id),
                        Err(e) => KeyOutcome::Refused(e),
                    },
                    _ => KeyOutcome::NoAudio,
                }
            }
            MenuAction::Speak { text } => match (&self.tts, audio) {
                (Some(tts), Some(audio)) => {
                    let (tts, text) = (tts.clone(), text.clone());
                    let spawned = std::thread::Builder::new()
                        .name("dtmf-speak".into())
                        .spawn(move || speak(&tts, &text, key, audio.as_ref()));
                    match spawned {
                        Ok(_) => KeyOutcome::Speaking,
                        Err(e) => {
                            log::error!("DTMF {}: cannot start speaking: {e}", key.as_char());
                            KeyOutcome::NoAudio
                        }
                    }
                }
                _ => KeyOutcome::NoAudio,
            },
        }
    }
}

/// Synthesizes `text` and plays it into the call (on the speaking thread).
fn speak(tts: &TtsCommand, text: &str, key: DtmfKey, audio: &dyn CallSpeaker) {
    match tts.synthesize(text, audio.format()) {
        Ok(clip) => match audio.play_interrupt(clip) {
            Ok(id) => log::info!("DTMF {}: speaking (clip {})", key.as_char(), id.0),
            Err(e) => log::warn!(
                "DTMF {}: the call did not take the speech: {e}",
                key.as_char()
            ),
        },
        Err(e) => log::warn!("DTMF {}: speaking failed: {e}", key.as_char()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// A call's audio that records what it was asked to play.
    #[derive(Default)]
    struct Recorder {
        played: Mutex<Vec<Clip>>,
        ended: bool,
    }

    impl CallSpeaker for Recorder {
        fn format(&self) -> CallFormat {
            CallFormat::Narrowband
        }
        fn play_interrupt(&self, clip: Clip) -> Result<ClipId, PlayError> {
            if self.ended {
                return Err(PlayError::Stopped);
            }
            let mut played = self.played.lock().unwrap();
            played.push(clip);
            Ok(ClipId(played.len() as u64))
        }
    }

    fn key(c: u8) -> DtmfKey {
        DtmfKey::from_ascii(c).unwrap()
    }

    /// A one-second 8 kHz mono WAV of a 440 Hz tone.
    fn wav(path: &std::path::Path) {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for n in 0..8000 {
            let t = n as f32 / 8000.0;
            w.write_sample((8000.0 * (t * 440.0 * std::f32::consts::TAU).sin()) as i16)
                .unwrap();
        }
        w.finalize().unwrap();
    }

    fn menu(entries: Vec<(&str, MenuAction)>) -> DtmfMenu {
        DtmfMenu::from_entries(entries)
    }

    #[test]
    fn key_1_plays_its_file_and_hash_hangs_up() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hours.wav");
        wav(&file);
        let m = menu(vec![
            ("1", MenuAction::Play { file: file.clone() }),
            ("#", MenuAction::Hangup {}),
        ]);
        let prepared = PreparedMenu::prepare(&m, CallFormat::Narrowband, None).unwrap();
        let call = Arc::new(Recorder::default());
        assert_eq!(
            prepared.on_key(key(b'1'), Some(Arc::clone(&call))),
            KeyOutcome::Played(ClipId(1))
        );
        let played = call.played.lock().unwrap();
        assert_eq!(played[0].duration(), Duration::from_secs(1));
        drop(played);
        assert_eq!(
            prepared.on_key(key(b'#'), Some(Arc::clone(&call))),
            KeyOutcome::HangUp
        );
        assert_eq!(prepared.on_key(key(b'9'), Some(call)), KeyOutcome::Nothing);
    }

    #[test]
    fn hang_up_needs_no_audio_but_a_sound_key_without_audio_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hours.wav");
        wav(&file);
        let m = menu(vec![
            ("1", MenuAction::Play { file }),
            ("#", MenuAction::Hangup {}),
        ]);
        let prepared = PreparedMenu::prepare(&m, CallFormat::Narrowband, None).unwrap();
        assert_eq!(
            prepared.on_key::<Recorder>(key(b'#'), None),
            KeyOutcome::HangUp
        );
        assert_eq!(
            prepared.on_key::<Recorder>(key(b'1'), None),
            KeyOutcome::NoAudio
        );
        let bare = PreparedMenu::without_audio(&m);
        let call = Arc::new(Recorder::default());
        assert_eq!(bare.on_key(key(b'1'), Some(call)), KeyOutcome::NoAudio);
    }

    #[test]
    fn a_call_that_ended_refuses_the_clip_without_harm() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hours.wav");
        wav(&file);
        let m = menu(vec![("1", MenuAction::Play { file })]);
        let prepared = PreparedMenu::prepare(&m, CallFormat::Narrowband, None).unwrap();
        let ended = Arc::new(Recorder {
            ended: true,
            ..Recorder::default()
        });
        assert_eq!(
            prepared.on_key(key(b'1'), Some(ended)),
            KeyOutcome::Refused(PlayError::Stopped)
        );
    }

    #[test]
    fn a_play_file_that_is_not_audio_is_refused_at_start_naming_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notes.txt");
        std::fs::write(&file, "not a wav").unwrap();
        let m = menu(vec![("3", MenuAction::Play { file })]);
        let e = PreparedMenu::prepare(&m, CallFormat::Narrowband, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("[dtmf] \"3\"") && e.contains("notes.txt") && e.contains("not a WAV"),
            "{e}"
        );
        let missing = menu(vec![(
            "4",
            MenuAction::Play {
                file: dir.path().join("absent.wav"),
            },
        )]);
        let e = PreparedMenu::prepare(&missing, CallFormat::Narrowband, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent.wav"), "{e}");
    }

    #[test]
    fn speak_without_a_tts_command_is_refused_at_start() {
        let m = menu(vec![(
            "2",
            MenuAction::Speak {
                text: "We are open.".into(),
            },
        )]);
        let e = PreparedMenu::prepare(&m, CallFormat::Narrowband, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("TTS"), "{e}");
    }

    #[test]
    fn speak_synthesizes_off_the_callers_thread_and_plays_the_speech() {
        // espeak-ng, the default TTS command (Debian's espeak-ng, installed in CI).
        let m = menu(vec![(
            "2",
            MenuAction::Speak {
                text: "We are open from nine to five.".into(),
            },
        )]);
        let tts = TtsCommand::default();
        let prepared = PreparedMenu::prepare(&m, CallFormat::Narrowband, Some(&tts)).unwrap();
        let call = Arc::new(Recorder::default());
        let asked = Instant::now();
        assert_eq!(
            prepared.on_key(key(b'2'), Some(Arc::clone(&call))),
            KeyOutcome::Speaking
        );
        assert!(
            asked.elapsed() < Duration::from_millis(100),
            "returned at once"
        );
        let end = Instant::now() + Duration::from_secs(20);
        while call.played.lock().unwrap().is_empty() {
            assert!(Instant::now() < end, "no speech within 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        let speech = call.played.lock().unwrap()[0].clone();
        assert!(speech.duration() > Duration::from_millis(500), "{speech:?}");
        assert_eq!(speech.format(), CallFormat::Narrowband);
    }
}
