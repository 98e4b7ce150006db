//! [`BotState`]: the bot's shared handle, what other threads (the HTTP API, the signal
//! handler, the demo) may know about and ask of the running bot.
//!
//! The bot's event loop is the only writer of the port; nobody else talks to the modem.
//! Instead it publishes what it learns into a [`BotSnapshot`] (who the modem is, the signal,
//! the current call, the phase of the bot), and it takes requests through a channel that
//! wakes its loop at once ([`BotState::sms_queued`], [`BotState::hang_up`]). The stop
//! token it carries ([`BotState::shutdown`], the process's in the daemon) wakes the loop
//! at once too ([`BotState::request_shutdown`] stops it). The call log is read straight from its file
//! ([`BotState::recent_calls`]). While a call has audio, the loop also publishes that
//! call's [`CallAudio`] ([`BotState::call_audio`]) so that the API can play into the call
//! and listen to it. Cloning the handle is cheap; every clone sees the same bot.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use serde::Serialize;

use crate::audio::CallAudio;
use crate::calls::log::{CallLog, CallLogError, CallRecord};
pub use crate::calls::tracker::{CurrentCall, CurrentCallState};
use crate::platform::metrics::Metrics;
use crate::platform::shutdown::Shutdown;

/// Where the bot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BotPhase {
    /// Taking the port from smstools and initialising the modem (also while it is
    /// initialised again after it restarted by itself).
    Starting,
    /// Holding the port; the modem answers.
    Running,
    /// The port vanished or the modem stopped answering: trying to reopen it.
    Reconnecting,
    /// Shutting down: giving the port back.
    Stopping,
}

/// Who the modem says it is (read once after each init).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModemIdentity {
    /// `AT+CGMI`.
    pub manufacturer: String,
    /// `AT+CGMM`.
    pub model: String,
    /// `AT+CGMR`, when the modem answered it.
    pub revision: Option<String>,
    /// `AT+CGSN`, when the modem answered it.
    pub imei: Option<String>,
}

/// The last signal quality read (`AT+CSQ`, at each health check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignalReport {
    /// RSSI index 0..=31; `None` for 99 (not known).
    pub rssi: Option<u8>,
    /// Bit error rate index 0..=7; `None` for 99.
    pub ber: Option<u8>,
    /// The RSSI in dBm.
    pub dbm: Option<i16>,
    /// When it was read, RFC 3339 UTC.
    pub read_at: String,
}

/// Everything the bot publishes, as `GET /status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BotSnapshot {
    /// Where the bot is.
    pub phase: BotPhase,
    /// The AT port it holds.
    pub port: PathBuf,
    /// The bot's pid.
    pub pid: u32,
    /// When the bot started, RFC 3339 UTC.
    pub started_at: String,
    /// The modem, once read.
    pub identity: Option<ModemIdentity>,
    /// The signal, once read.
    pub signal: Option<SignalReport>,
    /// The call in progress.
    pub current_call: Option<CurrentCall>,
    /// Init steps that failed without failing init (`AT+CEXTERNTONE=1` on a SIM7600).
    pub init_warnings: Vec<String>,
    /// When the modem last answered a command, RFC 3339 UTC.
    pub last_modem_answer: Option<String>,
    /// How often the bot got the modem back (port reopened, or a silent modem initialised
    /// again) since start.
    pub reconnects: u32,
    /// How often the modem restarted by itself (`RDY`) since start.
    pub modem_resets: u32,
    /// SMS sent (whole messages) since start.
    pub sms_sent: u64,
    /// SMS given up on since start.
    pub sms_failed: u64,
    /// SMS written into smstools' incoming/ folder since start (whole messages).
    pub sms_received: u64,
    /// The network registration at the last health check (`AT+CREG?`): `home`,
    /// `roaming`, `searching`, `denied`, `not_registered`, `unknown`, `other_<n>`.
    pub network: Option<String>,
}

/// What to do once a dialled call is answered: TwiML's verbs, in order (a stream to an
/// agent, speech, a WAV, a pause, a hang-up).
pub type CallPlan = Vec<crate::calls::twiml::Verb>;

/// A request to the bot's loop.
#[derive(Debug, PartialEq, Eq)]
pub enum BotRequest {
    /// A message was put in the SMS queue: look at the queue now.
    SmsQueued,
    /// Hang up the current call (or reject a ringing one).
    HangUp,
    /// Settings re-read on SIGHUP wait in the state ([`BotState::take_reload`]): apply
    /// them once no call is in progress.
    Reload,
    /// Dial a number.
    Dial {
        /// The number: digits with an optional leading `+`.
        to: String,
        /// Hang up when the far end has not answered after this many seconds.
        timeout_s: Option<u32>,
        /// Told the call's id once the dial started, or why it did not.
        reply: Reply<Result<u64, DialRefused>>,
    },
    /// Send a USSD code and tell the network's answer.
    Ussd {
        /// The code (`*100#`).
        code: String,
        /// Told the network's answer, or why there is none.
        reply: Reply<Result<modem_core::urc::UssdReply, UssdFailure>>,
    },
}

/// The way back to the thread that asked: a one-answer channel. Requests compare by what
/// they ask, never by where the answer goes.
#[derive(Debug)]
pub struct Reply<T>(pub std::sync::mpsc::SyncSender<T>);

impl<T> Reply<T> {
    /// A reply channel and the receiver that waits on it.
    pub fn channel() -> (Self, std::sync::mpsc::Receiver<T>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        (Self(tx), rx)
    }

    /// Answers; an asker that stopped waiting is no error.
    pub fn send(self, value: T) {
        let _ = self.0.try_send(value);
    }
}

impl<T> PartialEq for Reply<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Reply<T> {}

/// Why the bot did not dial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialRefused {
    /// A call rings, is being dialled or is connected: one call at a time.
    #[error("a call is in progress: one call at a time")]
    CallInProgress,
    /// The number cannot be dialled.
    #[error("\"to\" {0:?} is not a phone number (digits with an optional leading +, at most 20)")]
    BadNumber(String),
}

/// Why a USSD request has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UssdFailure {
    /// Another USSD request waits for its answer.
    #[error("another USSD request waits for the network's answer")]
    Busy,
    /// The modem refused `AT+CUSD` (during a call, many do), or the code is not one.
    #[error("the modem refused the USSD request: {0}")]
    Refused(String),
}

/// The receiving end of [`BotRequest`]s, owned by the bot's loop.
pub type BotRequests = mpsc::UnboundedReceiver<BotRequest>;

/// What the bot's loop applies live, from a SIGHUP reload (`sim7600 voice-bot`'s reload
/// planning decides what goes in).
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// The call policy and the modem's init values.
    pub voice: modem_core::config::VoiceConfig,
    /// The `[dtmf]` menu.
    pub dtmf: crate::audio::PreparedMenu,
    /// Call audio for the calls to come.
    pub audio: Option<crate::audio::AudioPlan>,
}

#[derive(Debug)]
struct Shared {
    snapshot: Mutex<BotSnapshot>,
    requests: mpsc::UnboundedSender<BotRequest>,
    call_log: CallLog,
    events: crate::events::EventBus,
    /// The current call's audio, while it runs (set and cleared by the bot's loop only).
    call_audio: Mutex<Option<Arc<CallAudio>>>,
    /// Settings re-read on SIGHUP, until the bot's loop takes them (the latest wins).
    reload: Mutex<Option<Box<LiveSettings>>>,
    /// The agent WebSocket of a dialled call (`POST /calls` `stream_url`), by call id.
    stream_urls: Mutex<std::collections::HashMap<u64, CallPlan>>,
    /// The counters of `GET /metrics`.
    metrics: Arc<Metrics>,
    /// The bot's health check period in milliseconds (0: not running yet, the default).
    health_interval_ms: AtomicU64,
    /// Stopped when the bot is to give the port back and end.
    shutdown: Shutdown,
}

/// The bot's shared handle: see the module documentation.
#[derive(Debug, Clone)]
pub struct BotState {
    shared: Arc<Shared>,
}

/// Now, RFC 3339 UTC with seconds (`2026-11-24T05:00:00Z`).
pub fn now_rfc3339() -> String {
    format!("{:.0}", jiff::Timestamp::now())
}

impl BotState {
    /// A handle for a bot on `port` logging calls to `call_log`, and the receiving end of
    /// its requests (for the bot's loop); it has a stop token of its own.
    pub fn new(port: PathBuf, call_log: CallLog) -> (BotState, BotRequests) {
        BotState::with_shutdown(port, call_log, Shutdown::new())
    }

    /// [`BotState::new`] for a bot that stops with `shutdown` (the process's token).
    pub fn with_shutdown(
        port: PathBuf,
        call_log: CallLog,
        shutdown: Shutdown,
    ) -> (BotState, BotRequests) {
        let (tx, rx) = mpsc::unbounded();
        let snapshot = BotSnapshot {
            phase: BotPhase::Starting,
            port,
            pid: std::process::id(),
            started_at: now_rfc3339(),
            identity: None,
            signal: None,
            current_call: None,
            init_warnings: Vec::new(),
            last_modem_answer: None,
            reconnects: 0,
            modem_resets: 0,
            sms_sent: 0,
            sms_failed: 0,
            sms_received: 0,
            network: None,
        };
        let shared = Shared {
            snapshot: Mutex::new(snapshot),
            requests: tx,
            call_log,
            events: crate::events::EventBus::new(),
            call_audio: Mutex::new(None),
            reload: Mutex::new(None),
            stream_urls: Mutex::new(std::collections::HashMap::new()),
            metrics: Arc::new(Metrics::new()),
            health_interval_ms: AtomicU64::new(0),
            shutdown,
        };
        (
            BotState {
                shared: Arc::new(shared),
            },
            rx,
        )
    }

    /// A copy of what the bot publishes now.
    pub fn snapshot(&self) -> BotSnapshot {
        match self.shared.snapshot.lock() {
            Ok(s) => s.clone(),
            // A panic while updating leaves plain data behind: still worth showing.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Changes the snapshot. Only the bot's loop (and the demo, which plays a bot in tests)
    /// writes it; everybody else reads [`BotState::snapshot`].
    pub fn update(&self, change: impl FnOnce(&mut BotSnapshot)) {
        match self.shared.snapshot.lock() {
            Ok(mut s) => change(&mut s),
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
    }

    /// The last `limit` calls, newest first (`GET /calls?limit=N`).
    pub fn recent_calls(&self, limit: usize) -> Result<Vec<CallRecord>, CallLogError> {
        self.shared.call_log.recent(limit)
    }

    /// The call log.
    pub fn call_log(&self) -> &CallLog {
        &self.shared.call_log
    }

    /// The bot's events (call and SMS), for publishing and for subscribers (webhooks,
    /// `GET /events`): see [`crate::events`].
    pub fn events(&self) -> &crate::events::EventBus {
        &self.shared.events
    }

    /// The current call's audio, while it runs: play into the call, listen to it. Hold it
    /// only as long as a request needs it: the call's end closes its audio (and completes
    /// its recording) only once nobody else holds it.
    pub fn call_audio(&self) -> Option<Arc<CallAudio>> {
        match self.shared.call_audio.lock() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Publishes the call's audio (`Some` once it runs) or takes it back (`None`, before
    /// the call's end closes it). Only the bot's loop (and tests playing a bot) call this.
    pub fn set_call_audio(&self, audio: Option<Arc<CallAudio>>) {
        match self.shared.call_audio.lock() {
            Ok(mut a) => *a = audio,
            Err(poisoned) => *poisoned.into_inner() = audio,
        }
    }

    /// What the call `call_id` does once it is answered (instead of `[agent]`'s default).
    pub fn set_call_plan(&self, call_id: u64, plan: CallPlan) {
        let target = plan;
        match self.shared.stream_urls.lock() {
            Ok(mut m) => m.insert(call_id, target),
            Err(poisoned) => poisoned.into_inner().insert(call_id, target),
        };
    }

    /// The plan the call `call_id` asked for, taken (it is used once).
    pub fn take_call_plan(&self, call_id: u64) -> Option<CallPlan> {
        match self.shared.stream_urls.lock() {
            Ok(mut m) => m.remove(&call_id),
            Err(poisoned) => poisoned.into_inner().remove(&call_id),
        }
    }

    /// The bot's counters (`GET /metrics`): whoever observes a thing counts it here.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// The bot's health check period, as its loop runs it (set when it starts).
    pub fn set_health_interval(&self, interval: Duration) {
        let ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        self.shared.health_interval_ms.store(ms, Ordering::Relaxed);
    }

    /// The bot's health check period: the one its loop runs, or the `[bot]` default
    /// before it started.
    pub fn health_interval(&self) -> Duration {
        match self.shared.health_interval_ms.load(Ordering::Relaxed) {
            0 => crate::bot::settings::BotSettings::default().health_interval(),
            ms => Duration::from_millis(ms),
        }
    }

    fn send(&self, request: BotRequest) -> bool {
        self.shared.requests.unbounded_send(request).is_ok()
    }

    /// Tells the bot a message was queued, so it sends it now rather than at its next look.
    /// Returns `false` when the bot has ended (the message stays queued for the next start).
    pub fn sms_queued(&self) -> bool {
        self.send(BotRequest::SmsQueued)
    }

    /// Asks the bot to hang up the current call. Returns `false` when the bot has ended.
    pub fn hang_up(&self) -> bool {
        self.send(BotRequest::HangUp)
    }

    /// Hands the bot settings re-read on SIGHUP; it applies them once no call is in
    /// progress. Returns `false` when the bot has ended.
    pub fn request_reload(&self, live: LiveSettings) -> bool {
        match self.shared.reload.lock() {
            Ok(mut r) => *r = Some(Box::new(live)),
            Err(poisoned) => *poisoned.into_inner() = Some(Box::new(live)),
        }
        self.send(BotRequest::Reload)
    }

    /// The settings of the latest reload not yet applied (for the bot's loop).
    pub fn take_reload(&self) -> Option<LiveSettings> {
        match self.shared.reload.lock() {
            Ok(mut r) => r.take().map(|b| *b),
            Err(poisoned) => poisoned.into_inner().take().map(|b| *b),
        }
    }

    /// Asks the bot to dial `to`; the receiver gets the call's id, or why not. `None`:
    /// the bot is not running.
    pub fn dial(
        &self,
        to: &str,
        timeout_s: Option<u32>,
    ) -> Option<std::sync::mpsc::Receiver<Result<u64, DialRefused>>> {
        let (reply, rx) = Reply::channel();
        self.send(BotRequest::Dial {
            to: to.to_owned(),
            timeout_s,
            reply,
        })
        .then_some(rx)
    }

    /// Asks the bot to send the USSD `code`; the receiver gets the network's answer, or
    /// why there is none. `None`: the bot is not running.
    pub fn ussd(
        &self,
        code: &str,
    ) -> Option<std::sync::mpsc::Receiver<Result<modem_core::urc::UssdReply, UssdFailure>>> {
        let (reply, rx) = Reply::channel();
        self.send(BotRequest::Ussd {
            code: code.to_owned(),
            reply,
        })
        .then_some(rx)
    }

    /// Asks the bot to give the port back and end (what SIGTERM does): stops its token.
    pub fn request_shutdown(&self) {
        self.shared.shutdown.stop();
    }

    /// The token the bot stops with.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shared.shutdown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::log::{CallLogSettings, CallerIdKind};
    use futures::StreamExt;

    fn state() -> (BotState, BotRequests) {
        BotState::new(
            "/dev/ttyUSB2".into(),
            CallLog::new(CallLogSettings {
                path: "/nonexistent/calls.jsonl".into(),
                max_bytes: 4096,
                keep: 1,
            }),
        )
    }

    #[test]
    fn a_fresh_bot_is_starting_with_nothing_known() {
        let (s, _rx) = state();
        let snap = s.snapshot();
        assert_eq!(snap.phase, BotPhase::Starting);
        assert!(snap.identity.is_none() && snap.current_call.is_none());
        assert_eq!(snap.pid, std::process::id());
        let json = serde_json::to_value(&snap).unwrap();
        assert_eq!(json["phase"], "starting");
        assert_eq!(json["port"], "/dev/ttyUSB2");
    }

    #[test]
    fn updates_are_seen_by_every_clone() {
        let (s, _rx) = state();
        let other = s.clone();
        s.update(|snap| {
            snap.phase = BotPhase::Running;
            snap.current_call = Some(CurrentCall {
                to: None,
                state: CurrentCallState::Ringing,
                caller: Some("+491761234567".into()),
                caller_id: CallerIdKind::Number,
                rings: 2,
                since: now_rfc3339(),
                answered_at: None,
            });
        });
        let snap = other.snapshot();
        assert_eq!(snap.phase, BotPhase::Running);
        assert_eq!(snap.current_call.map(|c| c.rings), Some(2));
    }

    #[test]
    fn requests_reach_the_loop_in_order_and_fail_once_it_is_gone() {
        let (s, mut rx) = state();
        assert!(s.sms_queued());
        assert!(s.hang_up());
        let got: Vec<_> = futures::executor::block_on(async {
            let mut v = Vec::new();
            for _ in 0..2 {
                v.push(rx.next().await);
            }
            v
        });
        assert_eq!(got, [Some(BotRequest::SmsQueued), Some(BotRequest::HangUp)]);
        drop(rx);
        assert!(!s.sms_queued());
    }

    #[test]
    fn a_shutdown_request_stops_the_token_every_clone_sees() {
        let (s, _rx) = state();
        let other = s.clone();
        assert!(!other.shutdown().is_stopping());
        s.request_shutdown();
        assert!(other.shutdown().is_stopping());
        let shared = crate::platform::shutdown::Shutdown::new();
        let (daemon, _rx) = BotState::with_shutdown(
            "/dev/ttyUSB2".into(),
            CallLog::new(CallLogSettings {
                path: "/nonexistent/calls.jsonl".into(),
                max_bytes: 4096,
                keep: 1,
            }),
            shared.clone(),
        );
        shared.stop();
        assert!(
            daemon.shutdown().is_stopping(),
            "the token handed in is the bot's"
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc_to_the_second() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z') && t.len() == 20, "{t}");
    }
}
