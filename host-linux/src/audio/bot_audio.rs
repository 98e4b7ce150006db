//! Call audio as the bot's event loop drives it, in one small state machine: the loop
//! tells it that a call was answered and that it ended, asks it for its next deadline,
//! sends the AT commands it hands out (modem-core's [`PcmCommand`], through the driver on
//! the bot's one AT writer) and reports the modem's answers. It owns the call's
//! [`CallAudio`] from the moment AT+CPCMREG=1 succeeded until the call's end, and hands
//! shared references to it (for the HTTP API's play and listen endpoints).
//!
//! It does no AT I/O and never blocks for long: opening the audio port and closing it
//! (at most [`super::player::MAX_FINISH_WAIT`] for the writer) are its only waits.

use std::sync::Arc;
use std::time::Instant;

pub use modem_core::command::audio::PcmCommand;

use super::format::CallFormat;
use super::session::{
    AudioPlan, CallAudio, CallAudioError, CallAudioSummary, PcmActivation, PcmStep,
};

#[derive(Debug)]
enum Stage {
    /// No call, or a call without audio.
    Idle,
    /// Waiting to send, or waiting for the answer to, AT+CPCMFRM/AT+CPCMREG.
    Activating {
        activation: PcmActivation,
        caller: String,
        /// AT+CPCMFRM=1 was accepted (wideband only).
        format_set: bool,
        /// The command the bot was handed and has not answered yet.
        awaiting: Option<Awaiting>,
    },
    /// Audio runs.
    Open(Arc<CallAudio>),
    /// AT+CPCMREG=1 succeeded but the port could not be used: the modem streams to
    /// nobody until the call's end sends AT+CPCMREG=0.
    Registered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    Format,
    Start,
}

/// What the end of a call leaves for the bot to do and to log.
#[derive(Debug)]
pub struct AudioEnd {
    /// Send this (AT+CPCMREG=0) if `Some`.
    pub command: Option<PcmCommand>,
    /// The call's audio summary (recording, timing), if audio ran and closed cleanly;
    /// `None` also when an API request still held the audio (it closes when released).
    pub summary: Option<Result<CallAudioSummary, CallAudioError>>,
}

/// The bot's call audio.
#[derive(Debug)]
pub struct BotAudio {
    plan: AudioPlan,
    stage: Stage,
}

impl BotAudio {
    /// Audio for the calls to come, with settings already checked
    /// ([`super::AudioConfig::prepare`]).
    pub fn new(plan: AudioPlan) -> BotAudio {
        BotAudio {
            plan,
            stage: Stage::Idle,
        }
    }

    /// The call format.
    pub fn format(&self) -> CallFormat {
        self.plan.config.format()
    }

    /// The settings and the loaded greeting.
    pub fn plan(&self) -> &AudioPlan {
        &self.plan
    }

    /// A call was answered at `now` (VOICE CALL: BEGIN); `caller` labels the recording
    /// (the number, or "withheld").
    pub fn call_answered(&mut self, now: Instant, caller: &str) {
        self.stage = Stage::Activating {
            activation: self.plan.config.activation(now),
            caller: caller.to_string(),
            format_set: false,
            awaiting: None,
        };
    }

    /// When the bot's loop must call [`BotAudio::due_command`] next: a fixed instant
    /// (in the past once the command is due), so that a loop comparing it with its own
    /// earlier reading of the clock sees it due.
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.stage {
            Stage::Activating {
                activation,
                awaiting: None,
                ..
            } => activation.due_at(),
            _ => None,
        }
    }

    /// The AT command to send now, if one is due. The bot sends it and reports the
    /// answer with [`BotAudio::command_answered`].
    pub fn due_command(&mut self, now: Instant) -> Option<PcmCommand> {
        let wideband = self.plan.config.wideband;
        let Stage::Activating {
            activation,
            format_set,
            awaiting,
            ..
        } = &mut self.stage
        else {
            return None;
        };
        if awaiting.is_some() || activation.step(now) != PcmStep::Send {
            return None;
        }
        if wideband && !*format_set {
            *awaiting = Some(Awaiting::Format);
            return Some(PcmCommand::WIDEBAND);
        }
        *awaiting = Some(Awaiting::Start);
        Some(PcmCommand::START)
    }

    /// The modem answered the last command (`ok`: OK; else an error or a timeout). When
    /// AT+CPCMREG=1 succeeded the audio port is opened, the recording started and the
    /// greeting queued; an error doing so is returned for the log (the call goes on).
    pub fn command_answered(&mut self, ok: bool, now: Instant) -> Result<(), CallAudioError> {
        let Stage::Activating {
            activation,
            caller,
            format_set,
            awaiting,
        } = &mut self.stage
        else {
            return Ok(());
        };
        match awaiting.take() {
            None => return Ok(()),
            Some(Awaiting::Format) if ok => {
                *format_set = true;
                return Ok(());
            }
            // A refused AT+CPCMFRM counts as a failed attempt: it is tried again.
            Some(Awaiting::Format) | Some(Awaiting::Start) => {}
        }
        match activation.answered(ok, now) {
            PcmStep::Active => {
                let caller = std::mem::take(caller);
                match CallAudio::open(&self.plan, &caller) {
                    Ok(audio) => {
                        self.stage = Stage::Open(Arc::new(audio));
                        Ok(())
                    }
                    Err(e) => {
                        self.stage = Stage::Registered;
                        Err(e)
                    }
                }
            }
            PcmStep::GaveUp { attempts } => {
                log::warn!(
                    "{} refused {attempts} times: this call has no audio",
                    PcmCommand::START
                );
                self.stage = Stage::Idle;
                Ok(())
            }
            PcmStep::WaitUntil(_) | PcmStep::Send => Ok(()),
        }
    }

    /// The call's audio while it runs, for the API (play, stop, subscribe).
    pub fn current(&self) -> Option<Arc<CallAudio>> {
        match &self.stage {
            Stage::Open(a) => Some(Arc::clone(a)),
            _ => None,
        }
    }

    /// The call ended (VOICE CALL: END, NO CARRIER, a lost modem): the audio closes and
    /// the bot is told whether to send AT+CPCMREG=0.
    pub fn call_ended(&mut self) -> AudioEnd {
        let stage = std::mem::replace(&mut self.stage, Stage::Idle);
        let stop = || Some(PcmCommand::STOP);
        match stage {
            Stage::Idle => AudioEnd {
                command: None,
                summary: None,
            },
            // AT+CPCMREG=1 may have reached the modem even if its answer did not.
            Stage::Activating { awaiting, .. } => AudioEnd {
                command: if awaiting == Some(Awaiting::Start) {
                    stop()
                } else {
                    None
                },
                summary: None,
            },
            Stage::Registered => AudioEnd {
                command: stop(),
                summary: None,
            },
            Stage::Open(audio) => {
                let summary = match Arc::try_unwrap(audio) {
                    Ok(audio) => Some(audio.close()),
                    // An API request holds it: silence now; it closes (the recording
                    // completes) when the request lets go of it.
                    Err(shared) => {
                        let _ = shared.stop();
                        None
                    }
                };
                AudioEnd {
                    command: stop(),
                    summary,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::session::AudioConfig;
    use std::io::Read as _;
    use std::path::PathBuf;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A pty standing in for the audio port; a thread drains what the bot plays.
    fn audio_port() -> (PathBuf, std::thread::JoinHandle<usize>) {
        use nix::fcntl::OFlag;
        let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY).unwrap();
        nix::pty::grantpt(&master).unwrap();
        nix::pty::unlockpt(&master).unwrap();
        let path = PathBuf::from(nix::pty::ptsname_r(&master).unwrap());
        let mut file = std::fs::File::from(std::os::fd::OwnedFd::from(master));
        let drain = std::thread::spawn(move || {
            let mut total = 0;
            let mut buf = [0u8; 4096];
            // Ends with EIO once the port is closed by the bot and the test.
            while let Ok(n) = file.read(&mut buf) {
                if n == 0 {
                    break;
                }
                total += n;
            }
            total
        });
        (path, drain)
    }

    fn plan(port: PathBuf, wideband: bool) -> AudioPlan {
        AudioConfig {
            enabled: true,
            port,
            wideband,
            ..AudioConfig::default()
        }
        .prepare()
        .unwrap()
    }

    fn start_of(cmd: Option<PcmCommand>) -> &'static str {
        cmd.map_or("nothing", |c| c.describe())
    }

    #[test]
    fn the_call_audio_can_be_shared_with_the_api_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<CallAudio>();
        shareable::<BotAudio>();
    }

    #[test]
    fn an_answered_call_gets_audio_100_ms_later_and_loses_it_at_its_end() {
        let (path, _drain) = audio_port();
        let mut bot = BotAudio::new(plan(path, false));
        let t0 = Instant::now();
        assert_eq!(bot.next_deadline(), None);
        bot.call_answered(t0, "+491761234567");
        assert!(bot.next_deadline().unwrap() >= t0 + ms(100));
        assert_eq!(start_of(bot.due_command(t0 + ms(50))), "nothing");
        assert_eq!(bot.next_deadline(), Some(t0 + ms(100)), "a fixed instant");
        assert_eq!(start_of(bot.due_command(t0 + ms(100))), "AT+CPCMREG=1");
        assert_eq!(
            start_of(bot.due_command(t0 + ms(101))),
            "nothing",
            "one at a time"
        );
        assert!(bot.current().is_none());
        bot.command_answered(true, t0 + ms(110)).unwrap();
        let audio = bot.current().unwrap();
        assert_eq!(audio.format(), CallFormat::Narrowband);
        drop(audio);
        std::thread::sleep(ms(60));
        let end = bot.call_ended();
        assert_eq!(start_of(end.command), "AT+CPCMREG=0");
        let summary = end.summary.unwrap().unwrap();
        assert!(summary.writer.timing.frames >= 2, "{summary:?}");
        assert!(bot.current().is_none());
    }

    #[test]
    fn a_wideband_call_sets_16_khz_first_and_a_refusal_is_retried() {
        let (path, _drain) = audio_port();
        let mut bot = BotAudio::new(plan(path, true));
        let t0 = Instant::now();
        bot.call_answered(t0, "withheld");
        let t = t0 + ms(100);
        assert_eq!(start_of(bot.due_command(t)), "AT+CPCMFRM=1");
        bot.command_answered(true, t).unwrap();
        assert_eq!(start_of(bot.due_command(t)), "AT+CPCMREG=1");
        // Too early for this modem: refused, tried again 200 ms later.
        bot.command_answered(false, t).unwrap();
        assert_eq!(start_of(bot.due_command(t + ms(100))), "nothing");
        assert_eq!(start_of(bot.due_command(t + ms(200))), "AT+CPCMREG=1");
        bot.command_answered(true, t + ms(210)).unwrap();
        assert_eq!(bot.current().unwrap().format(), CallFormat::Wideband);
        let end = bot.call_ended();
        assert_eq!(start_of(end.command), "AT+CPCMREG=0");
    }

    #[test]
    fn a_modem_that_always_refuses_leaves_the_call_without_audio() {
        let (path, _drain) = audio_port();
        let mut bot = BotAudio::new(plan(path, false));
        let mut now = Instant::now();
        bot.call_answered(now, "+4917");
        let mut sent = 0;
        while let Some(t) = bot.next_deadline() {
            now = now.max(t);
            if bot.due_command(now).is_some() {
                sent += 1;
                bot.command_answered(false, now).unwrap();
            }
        }
        assert_eq!(sent, AudioConfig::default().pcm_attempts);
        assert!(bot.current().is_none());
        let end = bot.call_ended();
        assert!(end.command.is_none() && end.summary.is_none());
    }

    #[test]
    fn a_call_that_ends_while_cpcmreg_is_unanswered_still_stops_audio() {
        let (path, _drain) = audio_port();
        let mut bot = BotAudio::new(plan(path, false));
        let t0 = Instant::now();
        bot.call_answered(t0, "+4917");
        assert!(bot.due_command(t0 + ms(100)).is_some());
        let end = bot.call_ended();
        assert_eq!(start_of(end.command), "AT+CPCMREG=0");
        // A late answer after the end changes nothing.
        bot.command_answered(true, t0 + ms(120)).unwrap();
        assert!(bot.current().is_none());
    }

    #[test]
    fn an_audio_port_that_cannot_be_opened_is_reported_and_stopped_at_the_end() {
        let mut bot = BotAudio::new(plan(PathBuf::from("/nonexistent/ttyUSB4"), false));
        let t0 = Instant::now();
        bot.call_answered(t0, "+4917");
        assert!(bot.due_command(t0 + ms(100)).is_some());
        let err = bot.command_answered(true, t0 + ms(110)).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ttyUSB4"), "{err}");
        assert_eq!(start_of(bot.call_ended().command), "AT+CPCMREG=0");
    }

    #[test]
    fn audio_held_by_an_api_request_at_the_end_is_silenced_and_closes_on_release() {
        let (path, _drain) = audio_port();
        let mut bot = BotAudio::new(plan(path, false));
        let t0 = Instant::now();
        bot.call_answered(t0, "+4917");
        bot.due_command(t0 + ms(100));
        bot.command_answered(true, t0 + ms(100)).unwrap();
        let held = bot.current().unwrap();
        let end = bot.call_ended();
        assert_eq!(start_of(end.command), "AT+CPCMREG=0");
        assert!(end.summary.is_none());
        assert!(held.writer_status().running);
        drop(held);
    }
}
