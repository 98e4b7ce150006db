//! The bot's life: the lease, the sessions on the port, the event loop, the way out.
//!
//! This module owns the port for the whole run and is its only writer. [`run`] takes the
//! [`PortLease`] (smstools stopped, port exclusive), then runs *sessions*: a session is one
//! [`link::with_link`] on the port (reader thread, atat client) in which the modem is
//! initialised and then served by one loop that sleeps until something happens: a URC, a
//! request from another thread ([`BotState`]), or the next deadline (health check, the call
//! machine's timeout, an SMS retry, the queue scan, a look at the reader's health). Nothing
//! polls faster than once a second while idle.
//!
//! A session ends when shutdown is asked for, or when the modem is lost: the reader saw
//! EIO/EOF (unplugged, USB re-enumeration), or health checks failed in a row. A lost port
//! is reopened (the path may point to a new device); a silent one is re-initialised on the
//! same descriptor. The bot keeps trying for `reopen_timeout_s`, then exits non-zero. A
//! modem that restarts by itself (`RDY`) is re-initialised within the session. Every way
//! out releases the lease, which starts smstools again.

use std::pin::pin;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::{Either, select};
use modem_core::call::{CallAction, CallMachine, CallState, DialFailure};
use modem_core::command::call::SetCallListReporting;
use modem_core::command::call::types::CallListReporting;
use modem_core::command::general::types::ErrorReporting;
use modem_core::command::general::{GetImei, GetRevision, SetErrorReporting};
use modem_core::command::sms::SetNewMessageIndication;
use modem_core::config::VoiceConfig;
use modem_core::driver::{ModemUrcSubscription, StepOutcome};
use modem_core::urc::Urc;
use serialport::TTYPort;

use super::notify::{self, Notifier};
use super::settings::BotSettings;
use crate::bot::state::{
    BotPhase, BotRequest, BotRequests, BotState, ModemIdentity, SignalReport, now_rfc3339,
};
use crate::calls::log::CallRecord;
use crate::calls::tracker::{CallTracker, Tracked};
use crate::events::EventKind;
use crate::handoff::{HandoffError, LeaseSettings, PortLease, Released};
use crate::platform::link::{self, Link, LinkError};
use crate::spool::queue::SmsQueue;
use crate::spool::sim_slots::SimSlots;
use crate::spool::{SmsdConf, SpoolBridge, SpoolError};

mod messages;
use messages::InFlight;

/// How often the loop looks at the reader thread's health while nothing else happens: a
/// vanished port is noticed within this.
pub const LINK_WATCH: Duration = Duration::from_secs(1);
/// Pause between two tries to reopen a vanished port (or to re-initialise a silent one).
pub const REOPEN_RETRY: Duration = Duration::from_millis(250);
/// How long a USSD request waits for the network's `+CUSD` answer before another may go
/// out (the asker gives up after the same time).
pub const USSD_ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the bot could not run, each with its exit code ([`BotError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// The port could not be taken from smstools.
    #[error("cannot take the port: {0}")]
    Handoff(#[from] HandoffError),
    /// The modem did not accept the init sequence when the bot started.
    #[error("the modem on {port} refused the init sequence: {problem}")]
    Init {
        /// The port.
        port: String,
        /// The step and the modem's answer.
        problem: String,
    },
    /// The modem vanished or went silent and did not come back in time.
    #[error("the modem on {port} was lost ({why}) and did not come back within {} s", waited.as_secs())]
    ModemLost {
        /// The port.
        port: String,
        /// What happened.
        why: String,
        /// How long the bot tried.
        waited: Duration,
    },
    /// The port's reader thread could not be started.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The SMS queue could not be repaired at start.
    #[error("SMS queue: {0}")]
    Queue(#[from] crate::spool::queue::QueueError),
    /// smstools' spool (its configuration, its folders) cannot be served; smstools was
    /// not touched.
    #[error(
        "smstools spool ({}): {source} (or set [bot] spool = false: SMS then wait for smsd)",
        conf.display()
    )]
    Spool {
        /// smstools' configuration file.
        conf: std::path::PathBuf,
        /// What is wrong.
        source: SpoolError,
    },
}

/// Exit codes of `sim7600 voice-bot` (documented in docs/operations.md).
pub mod exit_code {
    /// Stopped on request (SIGTERM, SIGINT, ...): the port is back with smstools.
    pub const STOPPED: i32 = 0;
    /// Any other failure (an I/O error of the bot itself).
    pub const FAILURE: i32 = 1;
    /// The configuration is unusable (a file, a key, a flag): sysexits' EX_CONFIG, as
    /// every `sim7600` command uses it (the unit does not restart on it).
    pub const CONFIG: i32 = 78;
    /// The port could not be taken from smstools (smstools is as it was).
    pub const HANDOFF: i32 = 3;
    /// The modem refused the init sequence at start.
    pub const INIT: i32 = 4;
    /// The modem vanished or went silent and did not come back within `reopen_timeout_s`.
    pub const MODEM_LOST: i32 = 5;
    /// The port did not appear within `wait_for_port_s` (no modem): smstools untouched.
    /// The unit counts it as a clean end (`SuccessExitStatus=6`): the udev rule starts the
    /// bot again when the modem appears.
    pub const NO_PORT: i32 = 6;
}

impl BotError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            BotError::Handoff(_) => exit_code::HANDOFF,
            BotError::Init { .. } => exit_code::INIT,
            BotError::ModemLost { .. } => exit_code::MODEM_LOST,
            BotError::Spool { .. } => exit_code::CONFIG,
            BotError::Link(_) | BotError::Queue(_) => exit_code::FAILURE,
        }
    }
}

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub struct BotOptions {
    /// The port and how to take it from smstools.
    pub lease: LeaseSettings,
    /// The modem's init values and the call policy.
    pub voice: VoiceConfig,
    /// The `[bot]` table.
    pub settings: BotSettings,
    /// smstools' configuration, whose spool the bot serves while it holds the port
    /// (`None`: `[bot] spool = false`).
    pub smstools_conf: Option<std::path::PathBuf>,
    /// The `[dtmf]` menu, its files loaded: what a key pressed during a call does.
    pub dtmf: crate::audio::PreparedMenu,
    /// Call audio (`[audio]`), settings checked and greeting loaded; `None`: calls are
    /// answered without audio.
    pub audio: Option<crate::audio::AudioPlan>,
    /// How the modem is named and found again after a re-enumeration (`[fleet]`).
    pub modem: crate::fleet::ModemPlan,
}

/// How a run ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// What giving the port back did (smstools restarted, the pause).
    pub released: Option<Released>,
}

/// How a session ended.
#[derive(Debug)]
enum SessionEnd {
    /// Shutdown was asked for.
    Shutdown,
    /// The port failed (EIO, EOF): reopen it.
    PortLost(String),
    /// The modem stopped answering, or refused init after a reconnect: try again on the
    /// same descriptor.
    Silent(String),
    /// The very first init failed: give up at once.
    InitFailed(String),
}

/// How the wait for a lost modem ended.
enum Comeback {
    /// The port was opened anew (its path may name a new device).
    Reopened(TTYPort),
    /// Try again on the descriptor already open (the modem went silent).
    SameDescriptor,
    /// Shutdown was asked for meanwhile.
    ShutdownAsked,
}

/// What one wait of the loop produced.
enum Wake {
    /// Boxed: a `+CDS` carries its PDU, which makes a `Urc` a few hundred bytes.
    Urc(Box<Urc>),
    Request(Option<BotRequest>),
    Deadline,
}

/// The run's state that outlives sessions.
struct Bot<'a> {
    options: &'a BotOptions,
    state: &'a BotState,
    requests: &'a mut BotRequests,
    queue: Option<&'a SmsQueue>,
    notifier: &'a dyn Notifier,
    health_interval: Duration,
    machine: CallMachine,
    tracker: CallTracker,
    epoch: Instant,
    ready_sent: bool,
    ever_running: bool,
    reached_running: bool,
    /// The modem was lost; the next successful init counts as a reconnect.
    reconnecting: bool,
    /// Call audio: AT+CPCMREG after the answer, the audio port during the call.
    audio: Option<crate::audio::BotAudio>,
    /// smstools' spool, served while the bot holds the port.
    spool: Option<SpoolBridge>,
    /// SIM slots to read for the spool.
    slots: SimSlots,
    /// After a spool file failed for a reason that may pass, no spool file is tried before
    /// this.
    spool_resume_at: Option<Instant>,
    /// When outgoing/ and checked/ are listed again even without an inotify event.
    spool_rescan_at: Instant,
    /// Whose turn it is when both the spool and the API's queue have a message waiting.
    spool_turn: bool,
    /// A SIM scan was cut short by a silent modem: scan again after the next health check
    /// the modem answers.
    sim_rescan_owed: bool,
    /// SIM slots of delivered messages whose `AT+CMGD` failed: deleted later, at the
    /// latest before the port goes back.
    undeleted: Vec<u16>,
    /// The message whose parts are being sent, between two turns of the loop.
    in_flight: Option<InFlight>,
    /// The call policy and init values in force (the start's, or a reload's).
    voice: VoiceConfig,
    /// The `[dtmf]` menu in force.
    dtmf: crate::audio::PreparedMenu,
    /// A reload (SIGHUP) waits to be applied once no call is in progress.
    reload_due: bool,
    /// When the lease began to stop smstools, until the bot first serves SMS: that
    /// interval is the handoff's SMS downtime (`GET /metrics`).
    handoff_from: Option<Instant>,
    /// The escalation since the modem was lost (`None` while it serves).
    supervisor: Option<crate::fleet::supervisor::Supervisor>,
    /// Who asked for the dial in progress: told the call's id when it is published.
    dial_reply: Option<crate::bot::Reply<Result<u64, crate::bot::DialRefused>>>,
    /// The USSD request waiting for the network's answer, and until when.
    ussd: Option<(UssdReply, Instant)>,
}

type UssdReply = crate::bot::Reply<Result<modem_core::urc::UssdReply, crate::bot::UssdFailure>>;

/// Runs the bot until shutdown is asked for through `state` (or its `requests`), or the
/// modem is lost for good. The lease is always released before this returns, error or not.
pub fn run(
    options: &BotOptions,
    state: &BotState,
    requests: &mut BotRequests,
    queue: Option<&SmsQueue>,
    notifier: &dyn Notifier,
) -> Result<Stopped, BotError> {
    state.update(|s| s.phase = BotPhase::Starting);
    notifier.status(&format!(
        "taking {} from smstools",
        options.lease.port.display()
    ));
    if let Err(e) = state.call_log().check_writable() {
        log::warn!("{e}: calls will not be logged until this is fixed");
    }
    match &options.audio {
        Some(plan) => log::info!(
            "call audio on {} ({:?}, greeting {}, recordings {})",
            plan.config.port.display(),
            plan.config.format(),
            plan.greeting
                .as_ref()
                .map_or("none".into(), |g| format!("{:?}", g.duration())),
            plan.recordings
                .as_ref()
                .map_or("off".into(), |r| r.dir().display().to_string()),
        ),
        None => log::info!("call audio off ([audio] enabled = false)"),
    }
    // smsd.conf is read before smstools is touched: a spool that cannot be served stops
    // the start with smstools as it was. The spool itself is opened (which recovers what
    // a crash left claimed) only once the port is ours: a second bot started by mistake
    // must not touch the files of the one that runs.
    let spool_conf = spool_conf(options)?;
    // A predecessor that died without a `sim7600 restore` after it: its spool is put in
    // order before the lease gives smstools that port back for a moment.
    if let Err(e) = crate::handoff::restore::restore_markers(
        &options.lease.marker_dir,
        &options.lease.timeouts,
        options.smstools_conf.as_deref(),
    ) {
        log::error!("restoring a stale marker failed (going on): {e}");
    }
    let mut lease = PortLease::acquire(options.lease.clone())?;
    let spool = match open_spool(options, spool_conf) {
        Ok(spool) => spool,
        Err(e) => {
            state.update(|s| s.phase = BotPhase::Stopping);
            notifier.stopping();
            if let Err(release) = lease.release() {
                log::error!("giving the port back failed: {release}; `sim7600 restore` will retry");
            }
            return Err(e);
        }
    };
    // The watcher wakes the loop when a file lands in outgoing/ or checked/; without it
    // (inotify refused) the loop still lists them every queue scan.
    let _watcher = spool.as_ref().and_then(|bridge| {
        let wake = state.clone();
        bridge
            .spawn_watcher(move || {
                wake.sms_queued();
            })
            .inspect_err(|e| {
                log::warn!(
                    "{e}: outgoing/ is looked at every {} s instead",
                    options.settings.queue_scan_s
                )
            })
            .ok()
    });
    let mut bot = Bot {
        options,
        state,
        requests,
        queue,
        notifier,
        health_interval: notify::health_interval(
            options.settings.health_interval(),
            notify::watchdog_timeout(),
        ),
        machine: CallMachine::new(&options.voice),
        tracker: CallTracker::new(),
        epoch: Instant::now(),
        ready_sent: false,
        ever_running: false,
        reached_running: false,
        reconnecting: false,
        audio: options.audio.clone().map(crate::audio::BotAudio::new),
        spool,
        slots: SimSlots::new(),
        spool_resume_at: None,
        spool_rescan_at: Instant::now(),
        spool_turn: false,
        sim_rescan_owed: false,
        undeleted: Vec::new(),
        in_flight: None,
        voice: options.voice,
        dtmf: options.dtmf.clone(),
        reload_due: false,
        handoff_from: lease.stopping_since(),
        supervisor: None,
        dial_reply: None,
        ussd: None,
    };
    state.set_health_interval(bot.health_interval);
    let outcome = bot.serve(&lease);
    bot.put_back_in_flight();
    // Parts of unfinished messages stay on the SIM: smsd joins them.
    if let Some(bridge) = bot.spool.as_mut() {
        bridge.release_port();
    }
    // A shutdown during a call: the API lets go of its audio, which closes with the bot.
    state.set_call_audio(None);
    state.update(|s| {
        s.phase = BotPhase::Stopping;
        s.current_call = None;
    });
    notifier.stopping();
    let released = match lease.release() {
        Ok(r) => Some(r),
        Err(e) => {
            log::error!(
                "giving {} back failed: {e}; `sim7600 restore` will retry",
                options.lease.port.display()
            );
            None
        }
    };
    outcome.map(|()| Stopped { released })
}

/// The smsd.conf whose spool the bot serves, read and checked (a modem for the port);
/// `None`: not served (`[bot] spool = false`, or no such file: smstools is not installed).
fn spool_conf(options: &BotOptions) -> Result<Option<SmsdConf>, BotError> {
    let Some(conf) = &options.smstools_conf else {
        log::info!("smstools spool not served ([bot] spool = false)");
        return Ok(None);
    };
    if !conf.exists() {
        log::info!(
            "spool: {} does not exist: no smstools spool to serve",
            conf.display()
        );
        return Ok(None);
    }
    let spool_error = |source| BotError::Spool {
        conf: conf.clone(),
        source,
    };
    let smsd_conf = SmsdConf::load(conf).map_err(spool_error)?;
    let modem = smsd_conf
        .modem_for_bot(&options.lease.port)
        .map_err(spool_error)?;
    // What smsd would do on the port or in the spool that the bot does not: one line each.
    for line in smsd_conf.unused_settings(modem) {
        log::warn!("{line}");
    }
    Ok(Some(smsd_conf))
}

/// Opens the spool of `conf` for the port the bot now holds.
fn open_spool(
    options: &BotOptions,
    conf: Option<SmsdConf>,
) -> Result<Option<SpoolBridge>, BotError> {
    let Some(conf) = conf else {
        return Ok(None);
    };
    let path = conf.path.clone();
    let bridge = SpoolBridge::with_conf(
        conf,
        &options.lease.port,
        Some(options.settings.sms_parts_expiry()),
    )
    .map_err(|source| BotError::Spool { conf: path, source })?;
    log::info!(
        "serving smstools' spool as {} ({}): incoming {}, outgoing {}, checked {}",
        bridge.modem_name(),
        bridge.conf().path.display(),
        bridge.conf().incoming.display(),
        bridge.conf().outgoing.display(),
        bridge.conf().checked.display()
    );
    Ok(Some(bridge))
}

impl Bot<'_> {
    fn port_name(&self) -> String {
        self.options.lease.port.display().to_string()
    }

    /// Sessions until shutdown or a loss that lasts.
    fn serve(&mut self, lease: &PortLease) -> Result<(), BotError> {
        if let Some(queue) = self.queue {
            let report = queue.recover()?;
            if report != Default::default() {
                log::warn!("SMS queue after an unclean stop: {report}");
            }
        }
        let path = self.options.lease.port.clone();
        let mut reopened: Option<TTYPort> = None;
        let mut lost_since: Option<(Instant, String)> = None;
        loop {
            let tty = match reopened.as_ref().or(lease.port()) {
                Some(t) => t,
                None => {
                    return Err(BotError::ModemLost {
                        port: self.port_name(),
                        why: "the lease holds no port".into(),
                        waited: Duration::ZERO,
                    });
                }
            };
            let end = link::with_link(tty, &path, |link| {
                futures::executor::block_on(self.session(link))
            })?;
            let reached_running = std::mem::take(&mut self.reached_running);
            let (reopen, why) = match end {
                SessionEnd::Shutdown => return Ok(()),
                SessionEnd::InitFailed(problem) => {
                    return Err(BotError::Init {
                        port: self.port_name(),
                        problem,
                    });
                }
                SessionEnd::PortLost(why) => (true, why),
                SessionEnd::Silent(why) => (false, why),
            };
            log::warn!("modem lost: {why}");
            // The escalation starts at the first loss after the modem last served.
            if reached_running || lost_since.is_none() {
                lost_since = Some((Instant::now(), why.clone()));
                self.supervisor = None;
                self.state
                    .events()
                    .publish(None, EventKind::ModemLost { why: why.clone() });
            }
            self.lost();
            let (since, why) = lost_since
                .clone()
                .unwrap_or_else(|| (Instant::now(), String::new()));
            // A silent modem still has its descriptor: the reset command can go there.
            let open = if reopen { None } else { Some(tty) };
            let mut reopen = reopen;
            if self.supervise(open, &path, &why, since)? {
                reopen = true;
            }
            if reopen {
                reopened = None;
            }
            match self.await_modem(&path, since, reopen, &why)? {
                Comeback::Reopened(tty) => reopened = Some(tty),
                Comeback::SameDescriptor => {}
                Comeback::ShutdownAsked => return Ok(()),
            }
            log::info!("trying {} again after: {why}", path.display());
        }
    }

    /// What a modem that is gone or restarted takes with it: the call in progress (logged
    /// and published as lost), its audio (no AT+CPCMREG=0 to send), and the call machine's
    /// state.
    fn forget_call(&mut self) {
        self.close_audio();
        let now = now_rfc3339();
        if let Some(record) = self.tracker.lost(&now) {
            self.state.events().call_lost(&record);
            self.log_call(&record);
            self.state
                .metrics()
                .call_ended(crate::platform::metrics::CallOutcome::Lost, 0);
        }
        self.machine.reset();
        self.state.update(|s| s.current_call = None);
    }

    /// The bookkeeping of a lost modem: the call in progress is logged as lost, the machine
    /// forgets it, the phase says so.
    fn lost(&mut self) {
        self.forget_call();
        // What was being read (or not yet deleted) is read again from the SIM after the
        // reconnect's scan, and the ledger has the delivered ones deleted.
        self.slots.clear();
        self.undeleted.clear();
        if let Some(bridge) = self.spool.as_mut() {
            bridge.release_port();
        }
        self.state.update(|s| s.phase = BotPhase::Reconnecting);
        self.reconnecting = true;
        self.notifier.status("modem lost: reconnecting");
    }

    /// Waits for the modem to be usable again (`reopen`: the port must be opened anew),
    /// at most until `since` + the reopen window; after that the loss (`why`) is the
    /// bot's error.
    fn await_modem(
        &mut self,
        path: &std::path::Path,
        since: Instant,
        reopen: bool,
        why: &str,
    ) -> Result<Comeback, BotError> {
        let mut first = true;
        loop {
            // Every failed reopen is the supervisor's to judge (the first was judged by
            // the caller): it may reset the modem's USB device, or give up.
            if !std::mem::take(&mut first) && reopen {
                self.supervise(None, path, why, since)?;
            }
            if futures::executor::block_on(self.wait_request(REOPEN_RETRY)) {
                return Ok(Comeback::ShutdownAsked);
            }
            if !reopen {
                return Ok(Comeback::SameDescriptor);
            }
            // Named by IMEI or USB path, the modem may come back on a new node.
            let path = self.options.modem.port_now(path);
            match link::open_exclusive(&path) {
                Ok(tty) => {
                    log::info!("{} is back", path.display());
                    return Ok(Comeback::Reopened(tty));
                }
                Err(e) => log::debug!("reopen: {e}"),
            }
        }
    }

    /// The supervisor's plan for this bot.
    fn supervisor_plan(&self) -> crate::fleet::supervisor::Plan {
        let fleet = &self.options.modem.settings;
        crate::fleet::supervisor::Plan {
            reopen_for: self.options.settings.reopen_timeout(),
            modem_reset: fleet.modem_reset == crate::fleet::settings::ModemReset::Cfun,
            usb_reset: fleet.usb_reset && self.options.modem.usb_path.is_some(),
            reenumerate_for: fleet.reenumerate_timeout(),
        }
    }

    /// A try to bring the modem back failed: the supervisor decides the next step and this
    /// carries it out. `open`: the descriptor still open (a silent modem). `Ok(true)`: the
    /// USB device was reset, the port must be looked for anew (a modem reset keeps the
    /// descriptor: a modem that drops off USB ends the next session); `Err`: every step
    /// is spent.
    fn supervise(
        &mut self,
        open: Option<&TTYPort>,
        path: &std::path::Path,
        why: &str,
        since: Instant,
    ) -> Result<bool, BotError> {
        use crate::fleet::supervisor::{Action, Supervisor};
        let now = self.now_ms();
        let plan = self.supervisor_plan();
        let lost_ms = now.saturating_sub(u64::try_from(since.elapsed().as_millis()).unwrap_or(0));
        let mut supervisor = self
            .supervisor
            .take()
            .unwrap_or_else(|| Supervisor::new(plan, lost_ms));
        let mut action = supervisor.after_failed_try(now, open.is_some());
        let outcome = loop {
            match action {
                Action::TryAgain => break Ok(false),
                // A modem that restarts on the same descriptor is initialised there; one
                // that drops off USB ends the next session as a lost port.
                Action::ResetModem => match open.map(|tty| send_modem_reset(tty, path)) {
                    Some(Ok(())) => break Ok(false),
                    Some(Err(e)) => {
                        log::warn!("modem reset on {}: {e}", path.display());
                        action = supervisor.action_failed(self.now_ms());
                    }
                    None => action = supervisor.action_failed(self.now_ms()),
                },
                Action::ResetUsb => {
                    let roots = self.options.modem.settings.roots();
                    let done = self
                        .options
                        .modem
                        .usb_path
                        .as_deref()
                        .map(|usb| crate::fleet::usb::reset(&roots, usb));
                    match done {
                        Some(Ok(())) => break Ok(true),
                        Some(Err(e)) => {
                            log::error!("{e}");
                            action = supervisor.action_failed(self.now_ms());
                        }
                        None => action = supervisor.action_failed(self.now_ms()),
                    }
                }
                Action::GiveUp => {
                    break Err(BotError::ModemLost {
                        port: self.port_name(),
                        why: why.to_owned(),
                        waited: since.elapsed(),
                    });
                }
            }
        };
        self.publish_supervisor(supervisor.take_events());
        self.supervisor = Some(supervisor);
        outcome
    }

    /// Logs the supervisor's events and publishes them on the bus.
    fn publish_supervisor(&self, events: Vec<crate::fleet::supervisor::SupervisorEvent>) {
        use crate::fleet::supervisor::SupervisorEvent as S;
        for e in events {
            let kind = match e {
                S::StepStarted { step, bound_s } => {
                    log::warn!("bringing the modem back: {step} (at most {bound_s} s)");
                    EventKind::RecoveryStep { step, bound_s }
                }
                S::StepSkipped { step, why } => {
                    log::info!("bringing the modem back: {step} skipped: {why}");
                    EventKind::RecoveryStepSkipped {
                        step,
                        why: why.to_owned(),
                    }
                }
                S::Recovered { step, after_ms } => {
                    log::info!("the modem is back after {after_ms} ms ({step})");
                    EventKind::ModemBack { step, after_ms }
                }
                S::GaveUp { after_ms } => {
                    log::error!("the modem did not come back in {after_ms} ms: giving up");
                    EventKind::ModemGone { after_ms }
                }
            };
            self.state.events().publish(None, kind);
        }
    }

    /// Sleeps `d`, or less when a request comes; `true` when it asked for shutdown.
    /// Other requests are dropped: there is no modem to act on them (SMS stay queued).
    async fn wait_request(&mut self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let timer = pin!(sleep(left));
            let next = pin!(self.requests.next());
            match select(next, timer).await {
                Either::Left((Some(BotRequest::Shutdown) | None, _)) => return true,
                // Applied once the modem serves again.
                Either::Left((Some(BotRequest::Reload), _)) => self.reload_due = true,
                Either::Left((Some(_), _)) => {}
                Either::Right(_) => return false,
            }
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn log_call(&self, record: &CallRecord) {
        log::info!(
            "call {}: caller {}, {} rings, {}, {} s",
            if record.answered { "ended" } else { "missed" },
            record.caller.as_deref().unwrap_or("(none)"),
            record.rings,
            serde_json::to_string(&record.end).unwrap_or_default(),
            record.duration_s
        );
        if let Err(e) = self.state.call_log().append(record) {
            log::error!("{e}");
        }
    }

    /// One session on an open port: init, then the loop.
    async fn session(&mut self, link: &mut Link<'_>) -> SessionEnd {
        let mut urcs = match link.urcs.subscribe() {
            Ok(s) => s,
            Err(e) => return SessionEnd::InitFailed(format!("cannot subscribe to URCs: {e:?}")),
        };
        if let Err(problem) = self.init(link).await {
            if let Some(failure) = link.failure() {
                return SessionEnd::PortLost(failure.to_string());
            }
            if self.ever_running {
                return SessionEnd::Silent(problem);
            }
            return SessionEnd::InitFailed(problem);
        }
        self.spool_start(link).await;
        if let Some(from) = self.handoff_from.take() {
            // SMS flow again: the modem is initialised and the spool (or, without one, the
            // API's queue) is served from this turn of the loop on.
            let down = from.elapsed();
            log::info!("handoff: SMS were down for {} ms", down.as_millis());
            self.state.metrics().handoff(down.as_secs_f64());
        }
        // Start-up lines (RDY after a power cycle or a plug) that came before or during
        // init are answered by this init already; the rest is handled as usual.
        while let Some(urc) = urcs.try_next_message_pure() {
            if urc != Urc::Ready {
                self.on_urc(link, &urc).await;
            }
        }
        self.running(link, &mut urcs).await
    }

    /// The seed's init sequence, the additions robust operation needs, and the identity.
    async fn init(&mut self, link: &mut Link<'_>) -> Result<(), String> {
        link.set_cmd_cooldown(link::INIT_CMD_COOLDOWN);
        let started = Instant::now();
        let report = link
            .modem
            .init(&self.voice)
            .await
            .map_err(|e| e.to_string())?;
        let mut warnings: Vec<String> = report
            .warnings()
            .map(|step| match &step.outcome {
                StepOutcome::Warning(e) => format!("{}: {e}", step.command),
                StepOutcome::Done => step.command.to_string(),
            })
            .collect();
        let client = link.modem.client();
        // Numeric errors: atat only recognises `+CME ERROR: <n>` with a number it knows
        // how to read; verbose texts would be timeouts (ATAT-NOTES.md).
        let cmee = SetErrorReporting {
            mode: ErrorReporting::Numeric,
        };
        if let Err(e) = atat::asynch::AtatClient::send(client, &cmee).await {
            warnings.push(format!("AT+CMEE=1: {e:?}"));
        }
        // +CLCC on every call state change: the call machine then learns of a call even
        // when RING or +CLIP was lost, and of its end without VOICE CALL: END.
        let clcc = SetCallListReporting {
            mode: CallListReporting::Enabled,
        };
        if let Err(e) = atat::asynch::AtatClient::send(client, &clcc).await {
            warnings.push(format!("AT+CLCC=1: {e:?}"));
        }
        // Incoming SMS stored on the SIM and announced with +CMTI, as smsd expects them
        // after the handoff; while the bot serves the spool it reads them and deletes each
        // once it is in smstools' incoming/ folder. Serving the spool, it also has status
        // reports routed to it (+CDS), and writes each into incoming/ as smsd does.
        let (cnmi, cnmi_text) = if self.spool.is_some() {
            (
                SetNewMessageIndication::store_and_route_reports(),
                "AT+CNMI=2,1,0,1,0",
            )
        } else {
            (
                SetNewMessageIndication::store_and_notify(),
                "AT+CNMI=2,1,0,0,0",
            )
        };
        if let Err(e) = atat::asynch::AtatClient::send(client, &cnmi).await {
            warnings.push(format!("{cnmi_text}: {e:?}"));
        }
        for w in &warnings {
            log::warn!("init: {w}");
        }
        let identity = link.modem.identify().await.map_err(|e| e.to_string())?;
        if !identity.is_sim7600 {
            log::warn!(
                "the modem says it is {} {}, not a SIM7600: going on",
                identity.manufacturer,
                identity.model
            );
        }
        let client = link.modem.client();
        let revision = atat::asynch::AtatClient::send(client, &GetRevision)
            .await
            .ok()
            .map(|r| r.revision.to_string());
        let imei = atat::asynch::AtatClient::send(client, &GetImei)
            .await
            .ok()
            .map(|r| r.digits.to_string());
        if let Some(problem) =
            crate::fleet::identity::imei_mismatch(&self.options.modem.selector, imei.as_deref())
        {
            return Err(problem);
        }
        if let Some(imei) = &imei {
            self.options
                .modem
                .record(imei, &self.options.lease.port, now_rfc3339());
        }
        let signal = link.modem.signal_quality().await.ok();
        let network = link.modem.registration().await.ok().map(network_word);
        link.set_cmd_cooldown(link::LINK_CMD_COOLDOWN);
        let identity = ModemIdentity {
            manufacturer: identity.manufacturer.to_string(),
            model: identity.model.to_string(),
            revision,
            imei,
        };
        log::info!(
            "modem {} {} ({}) initialised in {} ms",
            identity.manufacturer,
            identity.model,
            identity.imei.as_deref().unwrap_or("IMEI unknown"),
            started.elapsed().as_millis()
        );
        if let Some(mut supervisor) = self.supervisor.take() {
            supervisor.recovered(self.now_ms());
            self.publish_supervisor(supervisor.take_events());
        }
        let now = now_rfc3339();
        let reconnected = std::mem::take(&mut self.reconnecting);
        self.state.update(|s| {
            s.identity = Some(identity);
            if let Some(q) = signal {
                s.signal = Some(SignalReport {
                    rssi: q.rssi,
                    ber: q.ber,
                    dbm: q.rssi_dbm(),
                    read_at: now.clone(),
                });
            }
            s.init_warnings = warnings;
            s.network = network;
            s.last_modem_answer = Some(now);
            s.phase = BotPhase::Running;
            if reconnected {
                s.reconnects = s.reconnects.saturating_add(1);
            }
        });
        let status = format!(
            "holding {}; answering on ring {} ({:?})",
            self.port_name(),
            self.voice.answer_after_rings(),
            self.voice.answer_mode()
        );
        if self.ready_sent {
            self.notifier.status(&status);
        } else {
            self.notifier.ready(&status);
            self.ready_sent = true;
        }
        self.notifier.alive();
        self.ever_running = true;
        self.reached_running = true;
        Ok(())
    }

    /// The event loop of a session. Each turn does one thing, in this order: a URC or a
    /// request that is waiting, a due deadline of the call machine or of the call's audio,
    /// a due health check, one step of SMS work (not while a call rings or its audio is
    /// being switched on), or else it sleeps until one of those comes.
    async fn running(
        &mut self,
        link: &mut Link<'_>,
        urcs: &mut ModemUrcSubscription<'_>,
    ) -> SessionEnd {
        let scan = Duration::from_secs(self.options.settings.queue_scan_s);
        let mut next_health = Instant::now() + self.health_interval;
        let mut next_queue_look = Some(Instant::now());
        let mut health_failures = 0u32;
        loop {
            if let Some(failure) = link.failure() {
                return SessionEnd::PortLost(failure.to_string());
            }
            if self.reload_due {
                self.apply_reload(link).await;
            }
            let wake = match self.waiting(urcs) {
                Some(wake) => wake,
                None => {
                    let now = Instant::now();
                    let call_due = self.machine.poll_timeout().map(|at_ms| {
                        now + Duration::from_millis(at_ms.saturating_sub(self.now_ms()))
                    });
                    let audio_due = self
                        .audio
                        .as_ref()
                        .and_then(crate::audio::BotAudio::next_deadline);
                    if call_due.is_some_and(|t| t <= now) {
                        Wake::Deadline
                    } else if audio_due.is_some_and(|t| t <= now) {
                        self.drive_audio(link).await;
                        continue;
                    } else if now >= next_health {
                        if let Err(end) = self.health_check(link, &mut health_failures).await {
                            return end;
                        }
                        next_health = Instant::now() + self.health_interval;
                        continue;
                    } else if let Some(next) =
                        self.sms_step(link, next_queue_look, scan, audio_due).await
                    {
                        next_queue_look = next;
                        continue;
                    } else {
                        let mut deadline = next_health.min(now + LINK_WATCH);
                        let sms = [next_queue_look, self.parts_expiry()];
                        for t in sms
                            .into_iter()
                            .flatten()
                            .filter(|_| self.sms_allowed(audio_due))
                        {
                            deadline = deadline.min(t);
                        }
                        for t in [call_due, audio_due].into_iter().flatten() {
                            deadline = deadline.min(t);
                        }
                        let urc = pin!(urcs.next_message_pure());
                        let request = pin!(self.requests.next());
                        let timer = pin!(sleep(deadline.saturating_duration_since(now)));
                        match select(select(urc, request), timer).await {
                            Either::Left((Either::Left((u, _)), _)) => Wake::Urc(Box::new(u)),
                            Either::Left((Either::Right((r, _)), _)) => Wake::Request(r),
                            Either::Right(_) => Wake::Deadline,
                        }
                    }
                }
            };
            match wake {
                Wake::Urc(urc) if *urc == Urc::Ready => {
                    log::warn!("the modem restarted (RDY): initialising it again");
                    // A restarted modem has dropped the call and its audio.
                    self.forget_call();
                    self.state.update(|s| {
                        s.modem_resets = s.modem_resets.saturating_add(1);
                        s.phase = BotPhase::Starting;
                    });
                    if let Err(problem) = self.init(link).await {
                        return SessionEnd::Silent(format!(
                            "re-init after a modem restart failed: {problem}"
                        ));
                    }
                    self.spool_start(link).await;
                    next_health = Instant::now() + self.health_interval;
                }
                Wake::Urc(urc) => self.on_urc(link, &urc).await,
                Wake::Request(None | Some(BotRequest::Shutdown)) => {
                    if let Some(call) = self.tracker.current() {
                        // Closing the port does not end a call: the modem keeps it, and no
                        // end will be seen to log.
                        log::warn!(
                            "shutting down during a {} call from {}: the modem keeps it; \
                             it is not in the call log",
                            match call.state {
                                crate::bot::CurrentCallState::Ringing => "ringing",
                                crate::bot::CurrentCallState::Active => "connected",
                                crate::bot::CurrentCallState::Dialing => "dialled",
                                crate::bot::CurrentCallState::Alerting => "dialled, ringing",
                            },
                            call.caller.as_deref().unwrap_or("(unknown)")
                        );
                    }
                    // Nothing half done for smsd: the message in flight gets its last
                    // parts, delivered SMS still on the SIM are deleted.
                    self.finish_in_flight(link).await;
                    self.retry_undeleted(link).await;
                    return SessionEnd::Shutdown;
                }
                Wake::Request(Some(BotRequest::Reload)) => {
                    self.reload_due = true;
                    self.apply_reload(link).await;
                }
                Wake::Request(Some(BotRequest::SmsQueued)) => {
                    next_queue_look = Some(Instant::now());
                }
                Wake::Request(Some(BotRequest::Dial {
                    to,
                    timeout_s,
                    reply,
                })) => self.dial(link, &to, timeout_s, reply).await,
                Wake::Request(Some(BotRequest::Ussd { code, reply })) => {
                    self.send_ussd(link, &code, reply).await
                }
                Wake::Request(Some(BotRequest::HangUp)) => {
                    let now = self.now_ms();
                    if self.machine.request_hang_up(now) {
                        self.act(link).await;
                    }
                }
                Wake::Deadline => {
                    let now = self.now_ms();
                    self.machine.handle_timeout(now);
                    self.act(link).await;
                }
            }
        }
    }

    /// Applies the settings of a reload (SIGHUP) once no call is in progress: the call
    /// machine follows the new policy, the modem gets the new `ATS0` and `AT+CLVL`
    /// through the driver, the menu and the call audio are the new ones.
    async fn apply_reload(&mut self, link: &mut Link<'_>) {
        if !matches!(self.machine.state(), CallState::Idle) {
            // Applied on the first turn of the loop after the call.
            return;
        }
        self.reload_due = false;
        let Some(live) = self.state.take_reload() else {
            return;
        };
        let rings = live.voice.modem_auto_answer_rings();
        if rings != self.voice.modem_auto_answer_rings() {
            match link.modem.set_auto_answer(rings).await {
                Ok(()) => log::info!("reload: the modem answers on ring {rings} now (0: never)"),
                Err(e) => log::warn!("reload: ATS0={rings} failed: {e}; the next init sends it"),
            }
        }
        if live.voice.volume() != self.voice.volume() {
            match modem_core::command::audio::types::SpeakerVolume::new(live.voice.volume()) {
                Some(volume) => {
                    let cmd = modem_core::command::audio::SetSpeakerVolume { volume };
                    match atat::asynch::AtatClient::send(link.modem.client(), &cmd).await {
                        Ok(_) => log::info!("reload: speaker volume {}", live.voice.volume()),
                        Err(e) => log::warn!("reload: AT+CLVL failed: {e:?}"),
                    }
                }
                None => log::warn!("reload: volume {} out of range", live.voice.volume()),
            }
        }
        self.machine = CallMachine::new(&live.voice);
        self.voice = live.voice;
        self.dtmf = live.dtmf;
        self.audio = live.audio.map(crate::audio::BotAudio::new);
        let status = format!(
            "holding {}; answering on ring {} ({:?})",
            self.port_name(),
            self.voice.answer_after_rings(),
            self.voice.answer_mode()
        );
        log::info!("reload applied: {status}");
        self.notifier.status(&status);
    }

    /// A URC or a request that is already waiting: they go before any other work (a RING
    /// must not wait behind a SIM scan or the parts of a long SMS, SIGTERM not behind a
    /// backlog of messages).
    fn waiting(&mut self, urcs: &mut ModemUrcSubscription<'_>) -> Option<Wake> {
        if let Some(urc) = urcs.try_next_message_pure() {
            return Some(Wake::Urc(Box::new(urc)));
        }
        match self.requests.try_recv() {
            Ok(request) => Some(Wake::Request(Some(request))),
            // Every sender is gone: nobody can ask for shutdown any more, so it is one.
            Err(futures::channel::mpsc::TryRecvError::Closed) => Some(Wake::Request(None)),
            Err(futures::channel::mpsc::TryRecvError::Empty) => None,
        }
    }

    /// SMS work waits while a call rings (the answer must not queue behind an `AT+CMGS`)
    /// and while its audio is being switched on (`audio_due`: `AT+CPCMREG=1` is due).
    fn sms_allowed(&self, audio_due: Option<Instant>) -> bool {
        !matches!(self.machine.state(), CallState::Ringing { .. }) && audio_due.is_none()
    }

    /// `AT+CSQ`: the signal for `/status`, the watchdog's proof of life, and what a scan
    /// cut short or an undeleted slot waited for. `Err`: the session ends (the modem went
    /// silent).
    async fn health_check(
        &mut self,
        link: &mut Link<'_>,
        failures: &mut u32,
    ) -> Result<(), SessionEnd> {
        let limit = self.options.settings.health_failures;
        match link.modem.signal_quality().await {
            Ok(q) => {
                *failures = 0;
                let at = now_rfc3339();
                self.state.update(|s| {
                    s.signal = Some(SignalReport {
                        rssi: q.rssi,
                        ber: q.ber,
                        dbm: q.rssi_dbm(),
                        read_at: at.clone(),
                    });
                    s.last_modem_answer = Some(at);
                });
                self.notifier.alive();
                // The registration is reported, never a health failure of its own.
                if let Ok(status) = link.modem.registration().await {
                    let word = network_word(status);
                    self.state.update(|s| s.network = Some(word));
                }
                if self.sim_rescan_owed {
                    self.spool_start(link).await;
                }
                self.retry_undeleted(link).await;
                Ok(())
            }
            Err(e) => {
                *failures += 1;
                log::warn!("health check {failures}/{limit}: {e}");
                if *failures >= limit {
                    return Err(SessionEnd::Silent(format!(
                        "{failures} health checks failed, the last: {e}"
                    )));
                }
                Ok(())
            }
        }
    }

    /// `POST /calls`: the machine dials (one call at a time), the caller is told the call's
    /// id when its `dialing` event is published.
    async fn dial(
        &mut self,
        link: &mut Link<'_>,
        to: &str,
        timeout_s: Option<u32>,
        reply: crate::bot::Reply<Result<u64, crate::bot::DialRefused>>,
    ) {
        let number = to
            .strip_prefix('+')
            .filter(|d| !d.is_empty())
            .or(Some(to).filter(|d| !d.is_empty()))
            .filter(|d| d.len() <= 20 && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|_| modem_core::urc::PhoneNumber::try_from(to).ok());
        let Some(number) = number else {
            reply.send(Err(crate::bot::DialRefused::BadNumber(to.to_owned())));
            return;
        };
        let now = self.now_ms();
        let timeout_ms = timeout_s.map(|s| u64::from(s) * 1000);
        if !self.machine.dial(now, number, timeout_ms) {
            reply.send(Err(crate::bot::DialRefused::CallInProgress));
            return;
        }
        log::info!("dialling {to}");
        self.dial_reply = Some(reply);
        self.act(link).await;
    }

    /// `POST /ussd`: `AT+CUSD`; the answer comes later as a `+CUSD` URC.
    async fn send_ussd(&mut self, link: &mut Link<'_>, code: &str, reply: UssdReply) {
        if self
            .ussd
            .as_ref()
            .is_some_and(|(_, until)| Instant::now() < *until)
        {
            reply.send(Err(crate::bot::UssdFailure::Busy));
            return;
        }
        match link.modem.send_ussd(code).await {
            Ok(()) => {
                log::info!("USSD {code} sent");
                self.ussd = Some((reply, Instant::now() + USSD_ANSWER_TIMEOUT));
            }
            Err(e) => {
                log::warn!("USSD {code}: {e}");
                reply.send(Err(crate::bot::UssdFailure::Refused(e.to_string())));
            }
        }
    }

    /// A URC into the call machine, then whatever it asks for.
    async fn on_urc(&mut self, link: &mut Link<'_>, urc: &Urc) {
        match urc {
            Urc::Ussd(answer) => match self.ussd.take() {
                Some((reply, _)) => reply.send(Ok(answer.clone())),
                None => log::info!("USSD from the network: {answer:?}"),
            },
            Urc::NewMessage(m) => {
                if self.spool.is_none() {
                    // Left on the SIM for smsd, which reads it after the handoff.
                    log::info!("SMS stored at {} {}: left for smstools", m.storage, m.index);
                } else if self.slots.announced(m.storage.as_str(), m.index) {
                    log::info!("SMS stored at {} {}: reading it", m.storage, m.index);
                } else {
                    log::warn!(
                        "SMS stored at {} {}, a storage AT+CMGR does not read: left for \
                         smstools",
                        m.storage,
                        m.index
                    );
                }
            }
            Urc::NewMessageUnlocated { storage } => {
                let place = storage.as_deref().unwrap_or("an unnamed storage");
                if self.spool.is_none() {
                    log::info!("SMS stored in {place}, place not given: left for smstools");
                } else {
                    // The modem said a message arrived but not where: the storage scan
                    // (AT+CPMS?, then every slot up to the count) finds it.
                    log::info!("SMS stored in {place}, place not given: scanning the storage");
                    self.spool_start(link).await;
                }
            }
            Urc::StatusReport(pdu) => match self.spool.as_mut() {
                Some(bridge) => {
                    bridge.routed_report(pdu);
                }
                None => {
                    log::info!("status report (+CDS) received: no smstools spool to write it to")
                }
            },
            Urc::RoutedMessage(pdu) => {
                log::warn!(
                    "an SMS was routed to the host (+CMT) instead of stored: the modem's \
                     AT+CNMI was changed behind the bot's back"
                );
                match self.spool.as_mut() {
                    Some(bridge) => {
                        bridge.routed_message(pdu);
                        self.publish_delivered();
                    }
                    None => log::error!(
                        "an SMS routed as +CMT is lost: no smstools spool to write it to"
                    ),
                }
            }
            other => log::debug!("URC {other:?}"),
        }
        let now = self.now_ms();
        self.machine.handle_urc(now, urc);
        self.act(link).await;
    }

    /// The `[dtmf]` menu's action for `key`, pressed during the call. A hang-up goes
    /// through the machine (its action is carried out by [`Bot::act`]'s loop).
    fn on_key(&mut self, key: modem_core::urc::DtmfKey) {
        use crate::audio::KeyOutcome;
        // Sound keys come to NoAudio while the call has no audio (off, or not yet on).
        let audio = self
            .audio
            .as_ref()
            .and_then(crate::audio::BotAudio::current);
        match self.dtmf.on_key(key, audio) {
            KeyOutcome::HangUp => {
                log::info!("DTMF {}: hanging up (the [dtmf] menu)", key.as_char());
                let now = self.now_ms();
                self.machine.request_hang_up(now);
            }
            KeyOutcome::NoAudio => log::warn!(
                "DTMF {}: the [dtmf] menu wants sound, but the call has no audio",
                key.as_char()
            ),
            KeyOutcome::Refused(e) => log::warn!("DTMF {}: {e}", key.as_char()),
            KeyOutcome::Played(_) | KeyOutcome::Speaking | KeyOutcome::Nothing => {}
        }
    }

    /// Sends the call-audio AT commands that are due (AT+CPCMFRM, AT+CPCMREG=1 after the
    /// answer, retried) and reports the modem's answers.
    async fn drive_audio(&mut self, link: &mut Link<'_>) {
        loop {
            let Some(cmd) = self
                .audio
                .as_mut()
                .and_then(|a| a.due_command(Instant::now()))
            else {
                return;
            };
            log::debug!("call audio: {}", cmd.describe());
            let ok = send_pcm(link, &cmd).await;
            if let Some(audio) = self.audio.as_mut() {
                if let Err(e) = audio.command_answered(ok, Instant::now()) {
                    log::warn!("call audio: {e}; the call goes on without audio");
                }
                self.state.set_call_audio(audio.current());
            }
        }
    }

    /// The call ended: its audio closes (recording completed) and AT+CPCMREG=0 goes out.
    async fn end_audio(&mut self, link: &mut Link<'_>) {
        let Some(audio) = self.audio.as_mut() else {
            return;
        };
        // Taken back from the API first, so that the audio closes here and now.
        self.state.set_call_audio(None);
        let end = audio.call_ended();
        log_audio_end(end.summary, self.state.metrics());
        if let Some(cmd) = end.command {
            send_pcm(link, &cmd).await;
        }
    }

    /// The modem is gone or restarted: the call's audio closes without AT commands.
    fn close_audio(&mut self) {
        if let Some(audio) = self.audio.as_mut() {
            self.state.set_call_audio(None);
            log_audio_end(audio.call_ended().summary, self.state.metrics());
        }
    }

    /// Carries out the machine's actions and publishes its events until both are drained.
    async fn act(&mut self, link: &mut Link<'_>) {
        loop {
            while let Some(event) = self.machine.poll_event() {
                let now = now_rfc3339();
                log::info!("call: {event}");
                let published = self.state.events().call_event(&event);
                if let modem_core::call::CallEvent::Dialing { .. } = event {
                    if let (Some(reply), Some(id)) = (self.dial_reply.take(), published.call_id) {
                        reply.send(Ok(id));
                    }
                }
                if let modem_core::call::CallEvent::Dtmf { key } = event {
                    self.on_key(key);
                }
                match &event {
                    modem_core::call::CallEvent::Connected { number } => {
                        if let Some(audio) = self.audio.as_mut() {
                            audio.call_answered(Instant::now(), number.as_str());
                        }
                    }
                    modem_core::call::CallEvent::Answered { caller, .. } => {
                        if let Some(audio) = self.audio.as_mut() {
                            audio.call_answered(Instant::now(), &audio_label(caller));
                            log::debug!(
                                "call audio: AT+CPCMREG=1 due in {:?}",
                                audio
                                    .next_deadline()
                                    .map(|t| t.saturating_duration_since(Instant::now()))
                            );
                        }
                    }
                    modem_core::call::CallEvent::Ended { .. } => self.end_audio(link).await,
                    _ => {}
                }
                match self.tracker.handle(&event, &now) {
                    Tracked::Current(call) => self.state.update(|s| s.current_call = Some(call)),
                    Tracked::Finished(record) => {
                        self.state.update(|s| s.current_call = None);
                        self.log_call(&record);
                        let (outcome, connected_ms) = crate::calls::tracker::outcome_of(&record);
                        self.state.metrics().call_ended(outcome, connected_ms);
                    }
                    Tracked::Nothing => {}
                }
            }
            let Some(action) = self.machine.poll_action() else {
                return;
            };
            match action {
                CallAction::Answer => match link.modem.answer().await {
                    Ok(()) => {
                        let now = self.now_ms();
                        self.machine.answer_succeeded(now);
                    }
                    Err(e) => {
                        log::warn!("answering failed: {e}");
                        let now = self.now_ms();
                        self.machine.answer_failed(now);
                    }
                },
                CallAction::HangUp => {
                    if let Err(e) = link.modem.hang_up().await {
                        // The machine ends the call by itself if no end line comes.
                        log::warn!("hanging up failed: {e}");
                    }
                }
                CallAction::Dial => {
                    let Some(number) = self.machine.dialled_number().cloned() else {
                        continue;
                    };
                    if let Err(e) = link.modem.dial(&number).await {
                        use modem_core::driver::{ConnectionFailure, ErrorKind};
                        log::warn!("dialling {number} failed: {e}");
                        let reason = match e.kind {
                            ErrorKind::Connection(ConnectionFailure::Busy) => DialFailure::Busy,
                            ErrorKind::Connection(ConnectionFailure::NoAnswer) => {
                                DialFailure::NoAnswer
                            }
                            _ => DialFailure::Failed,
                        };
                        let now = self.now_ms();
                        self.machine.dial_failed(now, reason);
                    }
                }
            }
        }
    }
}

/// Sleeps `d` on embassy-time's std timer queue (no thread is blocked, nothing spins).
/// The label of a call's recording: the caller's number, or why there is none.
fn audio_label(caller: &modem_core::call::Caller) -> String {
    match caller {
        modem_core::call::Caller::Number(n) => n.as_str().to_string(),
        modem_core::call::Caller::Withheld => "withheld".into(),
        modem_core::call::Caller::Unavailable => "unavailable".into(),
        modem_core::call::Caller::Unknown => "unknown".into(),
    }
}

/// Sends one call-audio command on the one AT writer; whether the modem said OK.
async fn send_pcm(link: &mut Link<'_>, cmd: &crate::audio::PcmCommand) -> bool {
    let client = link.modem.client();
    let result = match cmd {
        crate::audio::PcmCommand::Format(c) => {
            atat::asynch::AtatClient::send(client, c).await.map(|_| ())
        }
        crate::audio::PcmCommand::Register(c) => {
            atat::asynch::AtatClient::send(client, c).await.map(|_| ())
        }
    };
    match result {
        Ok(()) => true,
        Err(e) => {
            log::warn!("{}: {e:?}", cmd.describe());
            false
        }
    }
}

/// Logs how a call's audio ended.
fn log_audio_end(
    summary: Option<Result<crate::audio::session::CallAudioSummary, crate::audio::CallAudioError>>,
    metrics: &crate::platform::metrics::Metrics,
) {
    match summary {
        Some(Ok(s)) => {
            let t = &s.writer.timing;
            metrics.audio_frames_late(t.late);
            log::info!(
                "call audio: {} frames played ({} of audio, {} skipped, spacing p50 {:?} p99 {:?}), \
                 {} frames heard{}",
                t.frames,
                s.writer.audio_frames,
                t.skipped,
                t.spacing_p50,
                t.spacing_p99,
                s.listener.frames,
                s.listener
                    .recording
                    .as_ref()
                    .map(|r| format!(", recorded to {}", r.path.display()))
                    .unwrap_or_default()
            );
            if let Some(e) = s.writer_error {
                log::warn!("call audio: {e}");
            }
        }
        Some(Err(e)) => log::warn!("call audio: {e}"),
        None => {}
    }
}

/// The registration as the state and the MQTT `network` sensor say it.
fn network_word(status: modem_core::command::network::types::RegistrationStatus) -> String {
    use modem_core::command::network::types::RegistrationStatus as R;
    match status {
        R::NotRegistered => "not_registered".into(),
        R::Home => "home".into(),
        R::Searching => "searching".into(),
        R::Denied => "denied".into(),
        R::Unknown => "unknown".into(),
        R::Roaming => "roaming".into(),
        R::Other(n) => format!("other_{n}"),
    }
}

/// Sends the reset command (modem-core's `ResetModem`) on the descriptor of a silent
/// modem; its answer does not matter (a hung modem may not give one).
fn send_modem_reset(tty: &TTYPort, path: &std::path::Path) -> Result<(), LinkError> {
    link::with_link(tty, path, |link| {
        let client = link.modem.client();
        let answer = futures::executor::block_on(atat::asynch::AtatClient::send(
            client,
            &modem_core::command::general::ResetModem,
        ));
        log::warn!("modem reset sent on {}: {answer:?}", path.display());
    })
}

async fn sleep(d: Duration) {
    let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    embassy_time::Timer::after(embassy_time::Duration::from_micros(micros)).await;
}
