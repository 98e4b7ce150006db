//! The bot's life: the lease, the sessions on the port, the event loop, the way out.
//!
//! This module is the shell around the bot's sans-I/O core ([`super::core::BotCore`]): it
//! owns the port for the whole run and is its only writer, and it carries out on the port
//! what the core decides. [`run`] takes the [`PortLease`] (smstools stopped, port
//! exclusive), then runs *sessions*: a session is one [`link::with_link`] on the port
//! (reader thread, atat client) in which the modem is initialised and then served by one
//! loop that sleeps until something happens: a URC, a request from another thread
//! ([`BotState`]), the stop token, or the core's next deadline (health check, the call
//! machine's timeout, an SMS retry, the queue scan, a look at the reader's health).
//! Nothing polls faster than once a second while idle; a stop wakes the loop at once.
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
use modem_core::call::CallMachine;
use modem_core::config::{SmsIndication, VoiceConfig};
use modem_core::driver::{ModemUrcSubscription, StepOutcome};
use modem_core::sim_slots::SimSlots;
use modem_core::urc::Urc;
use serialport::TTYPort;

use super::core::{BotCore, Facts, Health, Input, LINK_WATCH, LinkStep, Schedule, Step};
use super::notify::{self, Notifier};
use super::settings::BotSettings;
use crate::bot::state::{
    BotPhase, BotRequests, BotState, ModemIdentity, SignalReport, now_rfc3339,
};
use crate::calls::tracker::CallTracker;
use crate::events::EventKind;
use crate::handoff::{HandoffError, LeaseSettings, PortLease, Released};
use crate::platform::link::{self, Link, LinkError};
use crate::spool::queue::SmsQueue;
use crate::spool::{SmsdConf, SpoolBridge, SpoolError};

mod calls;
mod messages;
use messages::InFlight;

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

/// The run's state that outlives sessions: what the core does not decide (the call's
/// bookkeeping and audio, the spool, the message in flight, the settings in force).
struct Bot<'a> {
    options: &'a BotOptions,
    state: &'a BotState,
    requests: &'a mut BotRequests,
    queue: Option<&'a SmsQueue>,
    notifier: &'a dyn Notifier,
    /// What to do next and when (the call machine, the health checks, the SMS schedule,
    /// the way back from a lost modem).
    core: BotCore,
    tracker: CallTracker,
    /// Call audio: AT+CPCMREG after the answer, the audio port during the call.
    audio: Option<crate::audio::BotAudio>,
    /// smstools' spool, served while the bot holds the port.
    spool: Option<SpoolBridge>,
    /// SIM slots to read for the spool.
    slots: SimSlots,
    /// SIM slots of delivered messages whose `AT+CMGD` failed: deleted later, at the
    /// latest before the port goes back.
    undeleted: Vec<u16>,
    /// The message whose parts are being sent, between two turns of the loop.
    in_flight: Option<InFlight>,
    /// The call policy and init values in force (the start's, or a reload's).
    voice: VoiceConfig,
    /// The `[dtmf]` menu in force.
    dtmf: crate::audio::PreparedMenu,
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

/// Runs the bot until shutdown is asked for through `state` (its stop token,
/// [`BotState::request_shutdown`]), or the modem is lost for good. The lease is always
/// released before this returns, error or not.
pub fn run(
    options: &BotOptions,
    state: &BotState,
    requests: &mut BotRequests,
    queue: Option<&SmsQueue>,
    notifier: &dyn Notifier,
) -> Result<Stopped, BotError> {
    announce(options, state, notifier);
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
    let _watcher = watch_spool(options, state, spool.as_ref());
    let mut bot = Bot::new(options, state, requests, queue, notifier, spool);
    bot.handoff_from = lease.stopping_since();
    state.set_health_interval(bot.core.schedule().health_interval);
    let outcome = bot.serve(&lease);
    let released = bot.give_back(&mut lease);
    outcome.map(|()| Stopped { released })
}

/// The start: the phase, the service manager's status line, what will not work.
fn announce(options: &BotOptions, state: &BotState, notifier: &dyn Notifier) {
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
}

/// The watcher that wakes the loop when a file lands in outgoing/ or checked/; without it
/// (inotify refused) the loop still lists them every queue scan.
fn watch_spool(
    options: &BotOptions,
    state: &BotState,
    spool: Option<&SpoolBridge>,
) -> Option<crate::spool::WatchThread> {
    spool.and_then(|bridge| {
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
    })
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

impl<'a> Bot<'a> {
    fn new(
        options: &'a BotOptions,
        state: &'a BotState,
        requests: &'a mut BotRequests,
        queue: Option<&'a SmsQueue>,
        notifier: &'a dyn Notifier,
        spool: Option<SpoolBridge>,
    ) -> Bot<'a> {
        let schedule = Schedule {
            health_interval: notify::health_interval(
                options.settings.health_interval(),
                notify::watchdog_timeout(),
            ),
            health_failures: options.settings.health_failures,
            queue_scan: Duration::from_secs(options.settings.queue_scan_s),
        };
        Bot {
            options,
            state,
            requests,
            queue,
            notifier,
            core: BotCore::new(schedule, CallMachine::new(&options.voice), Instant::now()),
            tracker: CallTracker::new(),
            audio: options.audio.clone().map(crate::audio::BotAudio::new),
            spool,
            slots: SimSlots::new(),
            undeleted: Vec::new(),
            in_flight: None,
            voice: options.voice,
            dtmf: options.dtmf.clone(),
            handoff_from: None,
            supervisor: None,
            dial_reply: None,
            ussd: None,
        }
    }

    /// The way out, after the last session: nothing half done is left, and the port goes
    /// back to smstools (`None`: it could not be given back).
    fn give_back(&mut self, lease: &mut PortLease) -> Option<Released> {
        self.put_back_in_flight();
        // Parts of unfinished messages stay on the SIM: smsd joins them.
        if let Some(bridge) = self.spool.as_mut() {
            bridge.release_port();
        }
        // A shutdown during a call: the API lets go of its audio, which closes with the bot.
        self.state.set_call_audio(None);
        self.state.update(|s| {
            s.phase = BotPhase::Stopping;
            s.current_call = None;
        });
        self.notifier.stopping();
        match lease.release() {
            Ok(r) => Some(r),
            Err(e) => {
                log::error!(
                    "giving {} back failed: {e}; `sim7600 restore` will retry",
                    self.options.lease.port.display()
                );
                None
            }
        }
    }

    fn port_name(&self) -> String {
        self.options.lease.port.display().to_string()
    }

    /// Sessions until shutdown or a loss that lasts: the core's steps between sessions.
    fn serve(&mut self, lease: &PortLease) -> Result<(), BotError> {
        if let Some(queue) = self.queue {
            let report = queue.recover()?;
            if report != Default::default() {
                log::warn!("SMS queue after an unclean stop: {report}");
            }
        }
        let path = self.options.lease.port.clone();
        let mut reopened: Option<TTYPort> = None;
        loop {
            let Some(step) = self.core.poll_link(Instant::now()) else {
                futures::executor::block_on(self.pause());
                continue;
            };
            match step {
                LinkStep::Connect { again_after } => {
                    if let Some(why) = again_after {
                        log::info!("trying {} again after: {why}", path.display());
                    }
                    let Some(tty) = reopened.as_ref().or(lease.port()) else {
                        return Err(BotError::ModemLost {
                            port: self.port_name(),
                            why: "the lease holds no port".into(),
                            waited: Duration::ZERO,
                        });
                    };
                    link::with_link(tty, &path, |link| {
                        futures::executor::block_on(self.session(link))
                    })?;
                }
                LinkStep::Lost { why, fresh } => self.lost(&why, fresh),
                LinkStep::Judge {
                    descriptor,
                    why,
                    since,
                } => {
                    // A silent modem still has its descriptor: the reset command can go there.
                    let open = reopened.as_ref().or(lease.port()).filter(|_| descriptor);
                    let reset_usb = self.supervise(open, &path, &why, since)?;
                    if self.core.handle_judged(Instant::now(), reset_usb) {
                        reopened = None;
                    }
                }
                LinkStep::Reopen => {
                    let tty = self.reopen(&path);
                    self.core.handle_reopened(tty.is_some());
                    if tty.is_some() {
                        reopened = tty;
                    }
                }
                LinkStep::Stop => return Ok(()),
                LinkStep::InitFailed(problem) => {
                    return Err(BotError::Init {
                        port: self.port_name(),
                        problem,
                    });
                }
            }
        }
    }

    /// A try to open the port anew. Named by IMEI or USB path, the modem may come back on
    /// a new node.
    fn reopen(&self, path: &std::path::Path) -> Option<TTYPort> {
        let path = self.options.modem.port_now(path);
        match link::open_exclusive(&path) {
            Ok(tty) => {
                log::info!("{} is back", path.display());
                Some(tty)
            }
            Err(e) => {
                log::debug!("reopen: {e}");
                None
            }
        }
    }

    /// The bookkeeping of a lost modem (`why`): the call in progress is logged as lost,
    /// the machine forgets it, the phase says so; a `fresh` loss is published and starts
    /// the supervisor over.
    fn lost(&mut self, why: &str, fresh: bool) {
        log::warn!("modem lost: {why}");
        if fresh {
            self.supervisor = None;
            self.state.events().publish(
                None,
                EventKind::ModemLost {
                    why: why.to_owned(),
                },
            );
        }
        self.forget_call();
        // What was being read (or not yet deleted) is read again from the SIM after the
        // reconnect's scan, and the ledger has the delivered ones deleted.
        self.slots.clear();
        self.undeleted.clear();
        if let Some(bridge) = self.spool.as_mut() {
            bridge.release_port();
        }
        self.state.update(|s| s.phase = BotPhase::Reconnecting);
        self.notifier.status("modem lost: reconnecting");
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

    /// The pause between two tries, until the core's deadline or a stop. A reload is
    /// remembered; other requests are dropped: there is no modem to act on them (SMS stay
    /// queued).
    async fn pause(&mut self) {
        let Some(deadline) = self.core.poll_timeout() else {
            return;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let shutdown = self.state.shutdown();
        let stop = pin!(shutdown.stopped());
        let next = pin!(self.requests.next());
        let timer = pin!(sleep(left));
        let input = match select(select(stop, next), timer).await {
            Either::Left((Either::Left(_) | Either::Right((None, _)), _)) => Input::Stop,
            Either::Left((Either::Right((Some(request), _)), _)) => Input::Request(request),
            Either::Right(_) => return,
        };
        self.core.handle_input(Instant::now(), input);
    }

    fn now_ms(&self) -> u64 {
        self.core.ms(Instant::now())
    }

    /// One session on an open port: the core's steps until it leaves.
    async fn session(&mut self, link: &mut Link<'_>) {
        let mut urcs = match link.urcs.subscribe() {
            Ok(s) => s,
            Err(e) => {
                self.core
                    .handle_session_failed(format!("cannot subscribe to URCs: {e:?}"));
                return;
            }
        };
        loop {
            if let Some(failure) = link.failure() {
                self.core.handle_port_failed(failure.to_string());
            }
            self.core.observe(self.facts());
            if self.core.wants_input() {
                if let Some(input) = self.waiting(&mut urcs) {
                    self.core.handle_input(Instant::now(), input);
                }
            }
            match self.core.poll_next(Instant::now()) {
                Some(Step::Leave) => return,
                Some(step) => self.run_step(link, &mut urcs, step).await,
                None => {
                    if let Some(input) = self.sleep(&mut urcs).await {
                        self.core.handle_input(Instant::now(), input);
                    }
                }
            }
        }
    }

    /// What the core does not own but schedules by: the call audio's next command, the
    /// SIM slots to read, the spool's unfinished messages.
    fn facts(&self) -> Facts {
        Facts {
            audio_due: self
                .audio
                .as_ref()
                .and_then(crate::audio::BotAudio::next_deadline),
            slot_pending: self.slots.pending(),
            parts_expiry: self.parts_expiry(),
        }
    }

    /// Carries out one step of the session on the port.
    async fn run_step(
        &mut self,
        link: &mut Link<'_>,
        urcs: &mut ModemUrcSubscription<'_>,
        step: Step,
    ) {
        match step {
            Step::Init => {
                if let Err(problem) = self.init(link).await {
                    let failure = link.failure().map(|f| f.to_string());
                    self.core.handle_init_failed(problem, failure);
                }
            }
            Step::Restarted => self.restarted(),
            Step::SpoolStart => self.spool_start(link).await,
            Step::Serve => self.begin_serving(link, urcs).await,
            Step::ApplyReload => self.apply_reload(link).await,
            Step::Urc(urc) => self.on_urc(link, &urc).await,
            Step::Request(request) => self.on_request(link, request).await,
            Step::CallTimeout => self.act(link).await,
            Step::Audio => self.drive_audio(link).await,
            Step::HealthCheck => self.health_check(link).await,
            Step::ReadSlot => self.read_next_slot(link).await,
            Step::ExpireParts => self.expire_parts(link).await,
            Step::SendSms => {
                let next = self.send_next_sms(link).await;
                self.core.handle_sms_look(next);
            }
            Step::Finish => self.finish(link).await,
            Step::Leave => {}
        }
    }

    /// The session serves from now on: the handoff's SMS downtime ends, and the start-up
    /// lines (RDY after a power cycle or a plug) that came before or during init are
    /// answered by this init already; the rest is handled as usual.
    async fn begin_serving(&mut self, link: &mut Link<'_>, urcs: &mut ModemUrcSubscription<'_>) {
        if let Some(from) = self.handoff_from.take() {
            // SMS flow again: the modem is initialised and the spool (or, without one, the
            // API's queue) is served from this turn of the loop on.
            let down = from.elapsed();
            log::info!("handoff: SMS were down for {} ms", down.as_millis());
            self.state.metrics().handoff(down.as_secs_f64());
        }
        while let Some(urc) = urcs.try_next_message_pure() {
            if urc != Urc::Ready {
                self.on_urc(link, &urc).await;
            }
        }
    }

    /// The modem restarted by itself (`RDY`): it has dropped the call and its audio; the
    /// core has it initialised again.
    fn restarted(&mut self) {
        log::warn!("the modem restarted (RDY): initialising it again");
        self.forget_call();
        self.state.update(|s| {
            s.modem_resets = s.modem_resets.saturating_add(1);
            s.phase = BotPhase::Starting;
        });
    }

    /// The seed's init sequence, the additions robust operation needs, and the identity.
    async fn init(&mut self, link: &mut Link<'_>) -> Result<(), String> {
        link.set_cmd_cooldown(link::INIT_CMD_COOLDOWN);
        let started = Instant::now();
        // Incoming SMS stored on the SIM and announced with +CMTI, as smsd expects them
        // after the handoff; while the bot serves the spool it reads them and deletes each
        // once it is in smstools' incoming/ folder. Serving the spool, it also has status
        // reports routed to it (+CDS), and writes each into incoming/ as smsd does.
        let sms_indication = if self.spool.is_some() {
            SmsIndication::StoreAndRouteReports
        } else {
            SmsIndication::StoreAndNotify
        };
        let report = link
            .modem
            .init(&self.voice, sms_indication)
            .await
            .map_err(|e| e.to_string())?;
        let warnings: Vec<String> = report
            .warnings()
            .map(|step| match &step.outcome {
                StepOutcome::Warning(e) => format!("{}: {e}", step.command),
                StepOutcome::Done => step.command.to_string(),
            })
            .collect();
        for w in &warnings {
            log::warn!("init: {w}");
        }
        let read = self.identify(link).await?;
        link.set_cmd_cooldown(link::LINK_CMD_COOLDOWN);
        log::info!(
            "modem {} {} ({}) initialised in {} ms",
            read.identity.manufacturer,
            read.identity.model,
            read.identity.imei.as_deref().unwrap_or("IMEI unknown"),
            started.elapsed().as_millis()
        );
        self.initialised(read, warnings);
        Ok(())
    }

    /// Who the modem is (refused when it is not the one configured), its signal and its
    /// registration.
    async fn identify(&mut self, link: &mut Link<'_>) -> Result<InitRead, String> {
        let identity = link.modem.identify().await.map_err(|e| e.to_string())?;
        if !identity.is_sim7600 {
            log::warn!(
                "the modem says it is {} {}, not a SIM7600: going on",
                identity.manufacturer,
                identity.model
            );
        }
        let revision = link
            .modem
            .revision()
            .await
            .ok()
            .map(|r| r.revision.to_string());
        let imei = link.modem.imei().await.ok().map(|r| r.digits.to_string());
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
        let identity = ModemIdentity {
            manufacturer: identity.manufacturer.to_string(),
            model: identity.model.to_string(),
            revision,
            imei,
        };
        Ok(InitRead {
            identity,
            signal,
            network,
        })
    }

    /// The init succeeded: the supervisor's escalation ends, the state and the service
    /// manager hear it (ready the first time).
    fn initialised(&mut self, read: InitRead, warnings: Vec<String>) {
        if let Some(mut supervisor) = self.supervisor.take() {
            supervisor.recovered(self.now_ms());
            self.publish_supervisor(supervisor.take_events());
        }
        let done = self.core.handle_init_ok();
        let now = now_rfc3339();
        self.state.update(|s| {
            s.identity = Some(read.identity);
            if let Some(q) = read.signal {
                s.signal = Some(SignalReport {
                    rssi: q.rssi,
                    ber: q.ber,
                    dbm: q.rssi_dbm(),
                    read_at: now.clone(),
                });
            }
            s.init_warnings = warnings;
            s.network = read.network;
            s.last_modem_answer = Some(now);
            s.phase = BotPhase::Running;
            if done.reconnected {
                s.reconnects = s.reconnects.saturating_add(1);
            }
        });
        let status = self.serving_status();
        if done.first {
            self.notifier.ready(&status);
        } else {
            self.notifier.status(&status);
        }
        self.notifier.alive();
    }

    /// The status line of a bot that serves.
    fn serving_status(&self) -> String {
        format!(
            "holding {}; answering on ring {} ({:?})",
            self.port_name(),
            self.voice.answer_after_rings(),
            self.voice.answer_mode()
        )
    }

    /// A URC, a stop or a request that is already waiting: they go before any other work
    /// (a RING must not wait behind a SIM scan or the parts of a long SMS, SIGTERM not
    /// behind a backlog of messages).
    fn waiting(&mut self, urcs: &mut ModemUrcSubscription<'_>) -> Option<Input> {
        if let Some(urc) = urcs.try_next_message_pure() {
            return Some(Input::Urc(Box::new(urc)));
        }
        if self.state.shutdown().is_stopping() {
            return Some(Input::Stop);
        }
        match self.requests.try_recv() {
            Ok(request) => Some(Input::Request(request)),
            // Every sender is gone: nobody can ask for anything any more, so it is a stop.
            Err(futures::channel::mpsc::TryRecvError::Closed) => Some(Input::Stop),
            Err(futures::channel::mpsc::TryRecvError::Empty) => None,
        }
    }

    /// Sleeps until a URC, a request or a stop comes (`Some`), or until the core's next
    /// deadline (`None`).
    async fn sleep(&mut self, urcs: &mut ModemUrcSubscription<'_>) -> Option<Input> {
        let now = Instant::now();
        let deadline = self.core.poll_timeout().unwrap_or(now + LINK_WATCH);
        let shutdown = self.state.shutdown();
        let urc = pin!(urcs.next_message_pure());
        let request = pin!(self.requests.next());
        let stop = pin!(shutdown.stopped());
        let timer = pin!(sleep(deadline.saturating_duration_since(now)));
        match select(select(urc, select(stop, request)), timer).await {
            Either::Left((Either::Left((u, _)), _)) => Some(Input::Urc(Box::new(u))),
            Either::Left((Either::Right((Either::Left(_), _)), _)) => Some(Input::Stop),
            Either::Left((Either::Right((Either::Right((r, _)), _)), _)) => {
                Some(r.map_or(Input::Stop, Input::Request))
            }
            Either::Right(_) => None,
        }
    }

    /// Applies the settings of a reload (SIGHUP), no call being in progress: the call
    /// machine follows the new policy, the modem gets the new `ATS0` and `AT+CLVL`
    /// through the driver, the menu and the call audio are the new ones.
    async fn apply_reload(&mut self, link: &mut Link<'_>) {
        let Some(live) = self.state.take_reload() else {
            return;
        };
        let rings = live.voice.modem_auto_answer_rings();
        if rings != self.voice.modem_auto_answer_rings() {
            match link.modem.set_auto_answer(rings).await {
                Ok(()) => log::info!("reload: the modem answers on ring {rings} now (0: never)"),
                Err(e) => {
                    log::warn!("reload: answering on ring {rings}: {e}; the next init sends it")
                }
            }
        }
        if live.voice.volume() != self.voice.volume() {
            match link.modem.set_volume(live.voice.volume()).await {
                Ok(()) => log::info!("reload: speaker volume {}", live.voice.volume()),
                Err(e) => log::warn!("reload: {e}"),
            }
        }
        self.core.set_call_machine(CallMachine::new(&live.voice));
        self.voice = live.voice;
        self.dtmf = live.dtmf;
        self.audio = live.audio.map(crate::audio::BotAudio::new);
        let status = self.serving_status();
        log::info!("reload applied: {status}");
        self.notifier.status(&status);
    }

    /// `AT+CSQ`: the signal for `/status`, the watchdog's proof of life, and what a scan
    /// cut short or an undeleted slot waited for. The core counts failures in a row (at
    /// its limit the session ends: the modem went silent).
    async fn health_check(&mut self, link: &mut Link<'_>) {
        match link.modem.signal_quality().await {
            Ok(q) => {
                let health = self.core.handle_health(Ok(()));
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
                if health == (Health::Alive { rescan: true }) {
                    self.spool_start(link).await;
                }
                self.retry_undeleted(link).await;
            }
            Err(e) => {
                if let Health::Failed { failures, limit } =
                    self.core.handle_health(Err(e.to_string()))
                {
                    log::warn!("health check {failures}/{limit}: {e}");
                }
            }
        }
        self.core.health_checked(Instant::now());
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
}

/// What the init read of the modem besides the init sequence.
struct InitRead {
    identity: ModemIdentity,
    signal: Option<modem_core::command::network::responses::SignalQuality>,
    network: Option<String>,
}

/// Sends one call-audio command on the one AT writer; whether the modem said OK.
async fn send_pcm(link: &mut Link<'_>, cmd: &crate::audio::PcmCommand) -> bool {
    match link.modem.switch_pcm(*cmd).await {
        Ok(()) => true,
        Err(e) => {
            log::warn!("{}: {e}", cmd.describe());
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
        let answer = futures::executor::block_on(link.modem.reset());
        log::warn!("modem reset sent on {}: {answer:?}", path.display());
    })
}

/// Sleeps `d` on embassy-time's std timer queue (no thread is blocked, nothing spins).
async fn sleep(d: Duration) {
    let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    embassy_time::Timer::after(embassy_time::Duration::from_micros(micros)).await;
}
