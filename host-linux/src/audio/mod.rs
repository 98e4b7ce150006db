//! Call audio: the sound the bot plays into a call and the caller's sound it hears, over
//! the SIM7600's USB audio port (interface 04, usually /dev/ttyUSB4), without Asterisk.
//! It owns the call's PCM format and the conversion of WAV files into it ([`mod@format`]),
//! the paced writer that plays clips into a call ([`player`]), and the reader that
//! records the caller and streams them live ([`listener`]), text to speech through an
//! external program ([`tts`]), and one call's audio as the bot drives it: the `[audio]`
//! settings, when to send AT+CPCMREG=1, the port open for the call ([`session`]), and the
//! state machine the bot's event loop drives for it ([`bot_audio`]).
//! The AT side (AT+CPCMREG, AT+CPCMFRM) is modem-core's; opening the port when a call
//! begins is the bot's. docs/audio.md tells the whole path.

pub mod bot_audio;
pub mod dtmf;
pub mod format;
pub mod listener;
pub mod menu;
pub mod player;
pub mod session;
pub mod tts;

pub use bot_audio::{AudioEnd, BotAudio, PcmCommand};
pub use dtmf::{DtmfMenu, DtmfMenuError, MenuAction};
pub use format::{AudioFormatError, CallFormat, Clip, FRAME_DURATION, decode_wav, load_wav};
pub use listener::{
    CallRecording, CallerAudio, CallerFrame, ListenerError, RecordingFolder, Retention,
};
pub use menu::{CallSpeaker, KeyOutcome, PreparedMenu};
pub use player::{AudioWriter, ClipId, PlayError, TimingReport, WriterError, WriterStatus};
pub use session::{AudioConfig, AudioPlan, CallAudio, CallAudioError, PcmActivation, PcmStep};
pub use tts::{TtsCommand, TtsError};
