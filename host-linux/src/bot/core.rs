//! The voice bot's decisions, sans-I/O: what the bot does next and when it must wake.
//!
//! This module owns the bot's schedule: the turn order of its loop, the health checks and
//! how many may fail, the SMS work's timing (when the queue and the spool are looked at,
//! which of them goes first, how long the spool rests after a failure, a SIM scan owed),
//! the reload that waits for the call to end, and the way back from a lost modem
//! (judged, paused, reopened, initialised again). It also owns modem-core's
//! [`CallMachine`], whose deadlines are part of that schedule. It does no I/O and reads no
//! clock: [`BotCore`] is fed what happened (`handle_*`: URCs, requests, a stop, the
//! results of the work it asked for, the time `now`) and answers what to do next
//! ([`BotCore::poll_link`] between sessions, [`BotCore::poll_next`] in a session) and
//! when to wake if nothing is to be done ([`BotCore::poll_timeout`]). The daemon
//! ([`super::daemon`]) is the shell that runs each step on the port and feeds the
//! results back; the unit tests drive the core with a made-up clock.
//!
//! One turn of a session does one thing, in this order: end a session that is over (the
//! port failed, the modem went silent, a shutdown was finished); apply a reload once no
//! call is in progress; handle the URC or request that came (a RING must not wait behind
//! a SIM scan or the parts of a long SMS); finish for a shutdown; the call machine's due
//! deadline; a due call-audio command; a due health check; then one step of SMS work (a
//! SIM slot to read, unfinished long messages to give up, a part to send), which waits
//! while a call rings or its audio is being switched on.

use std::time::{Duration, Instant};

use modem_core::call::{CallMachine, CallState};
use modem_core::urc::Urc;

use super::state::BotRequest;

/// How often the loop looks at the reader thread's health while nothing else happens: a
/// vanished port is noticed within this.
pub const LINK_WATCH: Duration = Duration::from_secs(1);
/// Pause between two tries to reopen a vanished port (or to re-initialise a silent one).
pub const REOPEN_RETRY: Duration = Duration::from_millis(250);

/// The periods and limits the core keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The health check period.
    pub health_interval: Duration,
    /// Health checks that fail in a row before the modem counts as silent.
    pub health_failures: u32,
    /// How often the spool's folders and the API's queue are looked at without a wake-up.
    pub queue_scan: Duration,
}

/// Something that came from outside the loop.
#[derive(Debug)]
pub enum Input {
    /// A URC from the modem (boxed: a `+CDS` carries its PDU).
    Urc(Box<Urc>),
    /// A request from another thread.
    Request(BotRequest),
    /// The bot is to stop: its token was stopped, or nobody can send requests any more.
    Stop,
}

/// What the shell observed of the parts the core does not own, before each turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// When the call's audio needs its next AT command (`AT+CPCMREG=1` after the answer).
    pub audio_due: Option<Instant>,
    /// A SIM slot waits to be read for the spool.
    pub slot_pending: bool,
    /// When unfinished long messages are next given up.
    pub parts_expiry: Option<Instant>,
}

/// What to do between two sessions on the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStep {
    /// Open a session on the port (the descriptor held, or the one reopened) and run
    /// [`BotCore::poll_next`] in it; `again_after`: the loss this is a new try after.
    Connect {
        /// The loss (its first reason) when this is a try to get the modem back.
        again_after: Option<String>,
    },
    /// The session ended with the modem lost: its bookkeeping (the call is lost, the
    /// phase says so). `fresh`: the escalation starts anew (the modem had served since
    /// the last loss, or this is the first): the supervisor starts over, the loss is
    /// published.
    Lost {
        /// Why this session ended.
        why: String,
        /// Whether the escalation starts anew.
        fresh: bool,
    },
    /// Let the supervisor judge a failed try and carry out what it decides, then report
    /// [`BotCore::handle_judged`]. `descriptor`: the silent modem's descriptor is still
    /// open (a reset command can go there).
    Judge {
        /// Whether the port's descriptor is still open.
        descriptor: bool,
        /// The first reason of this escalation.
        why: String,
        /// When the escalation began.
        since: Instant,
    },
    /// Try to open the port anew, then report [`BotCore::handle_reopened`].
    Reopen,
    /// The run is over: shutdown was asked for.
    Stop,
    /// The very first init failed: give up.
    InitFailed(String),
}

/// What to do in a session.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Initialise the modem, then report [`BotCore::handle_init_ok`] or
    /// [`BotCore::handle_init_failed`].
    Init,
    /// The modem restarted by itself (`RDY`): the call and its audio are gone. An
    /// [`Step::Init`] follows.
    Restarted,
    /// Read the SIM's identity and scan its storage for the spool.
    SpoolStart,
    /// The session serves from now on: measure the handoff, handle the URCs that came
    /// during the init (but `RDY`).
    Serve,
    /// Apply the settings of a reload (no call is in progress).
    ApplyReload,
    /// Handle a URC (the call machine, the spool).
    Urc(Box<Urc>),
    /// Carry out a request (dial, USSD, hang up).
    Request(BotRequest),
    /// The call machine's deadline passed (it has been told): carry out its actions.
    CallTimeout,
    /// Send the call-audio commands that are due.
    Audio,
    /// Check the modem's health, then report [`BotCore::handle_health`] and, once the
    /// check's work is over, [`BotCore::health_checked`].
    HealthCheck,
    /// Read the next SIM slot for the spool.
    ReadSlot,
    /// Give up unfinished long messages that expired.
    ExpireParts,
    /// Send the next part (of the message in flight, or of the next message), then report
    /// [`BotCore::handle_sms_look`].
    SendSms,
    /// Shutdown: finish the message in flight, delete delivered messages still on the SIM.
    Finish,
    /// The session is over: close the link and go back to [`BotCore::poll_link`].
    Leave,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// Shutdown was asked for (and the SMS work finished).
    Shutdown,
    /// The port failed (EIO, EOF): reopen it.
    PortLost(String),
    /// The modem stopped answering, or refused init after a reconnect: try again on the
    /// same descriptor.
    Silent(String),
    /// The very first init failed: give up at once.
    InitFailed(String),
}

/// What a successful init means beyond the modem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Initialised {
    /// The first init of the run: tell the service manager the bot is ready.
    pub first: bool,
    /// The modem was lost before: count a reconnect.
    pub reconnected: bool,
}

/// What a health check's result means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The modem answered; `rescan`: a SIM scan cut short is owed (scan again now).
    Alive {
        /// Whether the SIM is to be scanned again.
        rescan: bool,
    },
    /// The check failed, `failures` in a row of `limit` (at the limit the session ends).
    Failed {
        /// Failures in a row.
        failures: u32,
        /// How many end the session.
        limit: u32,
    },
}

/// Where the next SMS to send is looked for first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// smstools' outgoing/ (and checked/) folder.
    Spool,
    /// The API's queue.
    Queue,
}

/// Whether the spool may be looked at now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpoolGate {
    /// It rests after a failure until then.
    Resting(Instant),
    /// It may be looked at; `rescan`: list its folders even without a watcher's event.
    Open {
        /// Whether the folders are due to be listed again.
        rescan: bool,
    },
}

/// Where the run is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// A session is to be opened (after the loss named, if any).
    Connect(Option<String>),
    /// In a session.
    Session(Session),
    /// A session ended; what follows is decided at the next [`BotCore::poll_link`].
    Ended(SessionEnd),
    /// The supervisor is to judge the loss.
    Judge { descriptor: bool },
    /// [`LinkStep::Judge`] was handed out; waiting for [`BotCore::handle_judged`].
    Judging,
    /// The pause before the next try, until then.
    Pause(Instant),
    /// [`LinkStep::Reopen`] was handed out; waiting for [`BotCore::handle_reopened`].
    Reopening,
    /// The run is over.
    Stopped,
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Session {
    /// The modem is to be initialised (`restart`: after it restarted by itself).
    Init { restart: bool },
    /// [`Step::Init`] was handed out.
    Initialising { restart: bool },
    /// The spool's start is due.
    SpoolStart { restart: bool },
    /// [`Step::Serve`] is due.
    Serve,
    /// The session's schedule starts at the next turn.
    Start,
    /// The health checks start over at the next turn (after a restart's init).
    Resume,
    /// The loop serves.
    Serving,
}

/// The escalation since the modem was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Loss {
    since: Instant,
    why: String,
    /// The port must be opened anew (it failed, or its USB device was reset).
    reopen: bool,
}

/// The SMS work's timing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SmsSchedule {
    /// When the queue and the spool are looked at next (`None`: not in a session).
    next_look: Option<Instant>,
    /// After a spool file failed for a reason that may pass, no spool file is tried
    /// before this.
    spool_resume_at: Option<Instant>,
    /// When outgoing/ and checked/ are listed again even without an inotify event.
    spool_rescan_at: Option<Instant>,
    /// Whose turn it is when both the spool and the API's queue have a message waiting.
    spool_turn: bool,
    /// A SIM scan was cut short by a silent modem: scan again after the next health
    /// check the modem answers.
    sim_rescan_owed: bool,
}

/// The bot's schedule; see the module documentation.
#[derive(Debug)]
pub struct BotCore {
    schedule: Schedule,
    /// The origin of the call machine's millisecond clock.
    epoch: Instant,
    /// The `now` of the last poll.
    now: Instant,
    machine: CallMachine,
    phase: Phase,
    facts: Facts,
    /// The URC or request the next turn handles.
    inbox: Option<Input>,
    stopping: bool,
    /// A reload (SIGHUP) waits to be applied once no call is in progress.
    reload_due: bool,
    next_health: Instant,
    health_failures: u32,
    sms: SmsSchedule,
    loss: Option<Loss>,
    ready_sent: bool,
    ever_running: bool,
    /// The modem served in the session that ended last.
    reached_running: bool,
    /// The modem was lost; the next successful init counts as a reconnect.
    reconnecting: bool,
}

impl BotCore {
    /// A core that starts with a session on the port, its call machine `machine`, its
    /// clock starting at `now`.
    pub fn new(schedule: Schedule, machine: CallMachine, now: Instant) -> BotCore {
        BotCore {
            schedule,
            epoch: now,
            now,
            machine,
            phase: Phase::Connect(None),
            facts: Facts::default(),
            inbox: None,
            stopping: false,
            reload_due: false,
            next_health: now,
            health_failures: 0,
            sms: SmsSchedule {
                next_look: None,
                spool_resume_at: None,
                spool_rescan_at: None,
                spool_turn: false,
                sim_rescan_owed: false,
            },
            loss: None,
            ready_sent: false,
            ever_running: false,
            reached_running: false,
            reconnecting: false,
        }
    }

    /// The periods in force.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// The call machine.
    pub fn call(&self) -> &CallMachine {
        &self.machine
    }

    /// The call machine, to feed it URCs and requests and take its actions and events.
    pub fn call_mut(&mut self) -> &mut CallMachine {
        &mut self.machine
    }

    /// A reload's call machine (its policy), in place of the one in force.
    pub fn set_call_machine(&mut self, machine: CallMachine) {
        self.machine = machine;
    }

    /// `now` on the call machine's millisecond clock.
    pub fn ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a stop was asked for.
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Whether the shell is to take the next URC or request that waits for the loop: only
    /// while the session serves, one at a time, and not once a stop was asked for.
    pub fn wants_input(&self) -> bool {
        self.serving() && self.inbox.is_none() && !self.stopping
    }

    /// Whether the session serves (or does from the next turn on).
    fn serving(&self) -> bool {
        matches!(
            self.phase,
            Phase::Session(Session::Serving | Session::Start | Session::Resume)
        )
    }

    /// What the shell saw of the call's audio, the SIM slots, the spool and the message in
    /// flight (before each turn).
    pub fn observe(&mut self, facts: Facts) {
        self.facts = facts;
    }

    /// A URC, a request or a stop came at `now`. A reload and a stop are remembered in any
    /// phase; a URC or another request is taken only while the session serves (between
    /// sessions there is no modem to act on it: it is dropped, and SMS stay queued).
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Stop => self.stopping = true,
            Input::Request(BotRequest::Reload) => self.reload_due = true,
            Input::Request(BotRequest::SmsQueued) => {
                if self.serving() {
                    self.sms.next_look = Some(now);
                }
            }
            other => {
                if self.serving() && self.inbox.is_none() {
                    self.inbox = Some(other);
                }
            }
        }
    }

    /// The port failed (its reader saw EIO or EOF): the session ends.
    pub fn handle_port_failed(&mut self, why: String) {
        if matches!(self.phase, Phase::Session(_)) {
            self.phase = Phase::Ended(SessionEnd::PortLost(why));
        }
    }

    /// The session could not even listen to the modem: it ends as a failed init.
    pub fn handle_session_failed(&mut self, problem: String) {
        if matches!(self.phase, Phase::Session(_)) {
            self.phase = Phase::Ended(SessionEnd::InitFailed(problem));
        }
    }

    /// The next step between sessions, at `now`; `None`: wait until
    /// [`BotCore::poll_timeout`] (or a stop) or for the result of the step handed out.
    pub fn poll_link(&mut self, now: Instant) -> Option<LinkStep> {
        self.now = now;
        match std::mem::replace(&mut self.phase, Phase::Stopped) {
            Phase::Connect(again_after) => {
                self.phase = Phase::Session(Session::Init { restart: false });
                self.inbox = None;
                Some(LinkStep::Connect { again_after })
            }
            Phase::Ended(end) => Some(self.after_session(now, end)),
            Phase::Judge { descriptor } => {
                self.phase = Phase::Judging;
                let loss = self.loss.clone().unwrap_or(Loss {
                    since: now,
                    why: String::new(),
                    reopen: !descriptor,
                });
                Some(LinkStep::Judge {
                    descriptor,
                    why: loss.why,
                    since: loss.since,
                })
            }
            Phase::Pause(at) => self.after_pause(now, at),
            Phase::Stopped => Some(LinkStep::Stop),
            waiting @ (Phase::Judging | Phase::Reopening | Phase::Session(_)) => {
                self.phase = waiting;
                None
            }
        }
    }

    /// What a session's end leads to.
    fn after_session(&mut self, now: Instant, end: SessionEnd) -> LinkStep {
        let (reopen, why) = match end {
            SessionEnd::Shutdown => return LinkStep::Stop,
            SessionEnd::InitFailed(problem) => return LinkStep::InitFailed(problem),
            SessionEnd::PortLost(why) => (true, why),
            SessionEnd::Silent(why) => (false, why),
        };
        // The escalation starts at the first loss after the modem last served.
        let fresh = std::mem::take(&mut self.reached_running) || self.loss.is_none();
        match self.loss.as_mut() {
            Some(loss) if !fresh => loss.reopen = reopen,
            _ => {
                self.loss = Some(Loss {
                    since: now,
                    why: why.clone(),
                    reopen,
                })
            }
        }
        self.reconnecting = true;
        self.phase = Phase::Judge {
            descriptor: !reopen,
        };
        LinkStep::Lost { why, fresh }
    }

    /// The pause before a try is over at `at`: a stop ends the run, else the try.
    fn after_pause(&mut self, now: Instant, at: Instant) -> Option<LinkStep> {
        if self.stopping {
            return Some(LinkStep::Stop);
        }
        if now < at {
            self.phase = Phase::Pause(at);
            return None;
        }
        let Some(loss) = self.loss.as_ref() else {
            self.phase = Phase::Connect(None);
            return self.poll_link(now);
        };
        if loss.reopen {
            self.phase = Phase::Reopening;
            return Some(LinkStep::Reopen);
        }
        self.phase = Phase::Connect(Some(loss.why.clone()));
        self.poll_link(now)
    }

    /// The supervisor judged at `now`; `reset_usb`: it reset the modem's USB device (the
    /// port must be looked for anew). Returns whether the port is to be opened anew (the
    /// descriptor held is then dropped). A pause of [`REOPEN_RETRY`] follows.
    pub fn handle_judged(&mut self, now: Instant, reset_usb: bool) -> bool {
        let reopen = match self.loss.as_mut() {
            Some(loss) => {
                loss.reopen |= reset_usb;
                loss.reopen
            }
            None => reset_usb,
        };
        if self.phase == Phase::Judging {
            self.phase = Phase::Pause(now + REOPEN_RETRY);
        }
        reopen
    }

    /// A try to open the port anew: `opened` (a session follows) or not (judged again).
    pub fn handle_reopened(&mut self, opened: bool) {
        if self.phase != Phase::Reopening {
            return;
        }
        self.phase = match (opened, self.loss.as_ref()) {
            (true, loss) => Phase::Connect(loss.map(|l| l.why.clone())),
            (false, _) => Phase::Judge { descriptor: false },
        };
    }

    /// When the shell must wake if nothing is to be done now: the earliest deadline of the
    /// session (the next health check, the next SMS work, the call's and its audio's
    /// deadlines, and at the latest [`LINK_WATCH`] after the last poll), or the end of the
    /// pause between two tries. `None`: no deadline (a result is awaited).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Session(Session::Serving) => {
                let mut deadline = self.next_health.min(self.now + LINK_WATCH);
                if self.sms_allowed() {
                    for t in [self.sms.next_look, self.facts.parts_expiry]
                        .into_iter()
                        .flatten()
                    {
                        deadline = deadline.min(t);
                    }
                }
                for t in [self.call_due(), self.facts.audio_due]
                    .into_iter()
                    .flatten()
                {
                    deadline = deadline.min(t);
                }
                Some(deadline)
            }
            Phase::Pause(at) => Some(at),
            _ => None,
        }
    }

    /// The next step in the session, at `now`; `None`: wait until
    /// [`BotCore::poll_timeout`] or for an input. [`Step::Leave`] once the session is over.
    pub fn poll_next(&mut self, now: Instant) -> Option<Step> {
        self.now = now;
        let Phase::Session(session) = self.phase else {
            return Some(Step::Leave);
        };
        let (next, step) = match session {
            Session::Init { restart } => (Session::Initialising { restart }, Step::Init),
            Session::Initialising { .. } => return None,
            Session::SpoolStart { restart: true } => (Session::Resume, Step::SpoolStart),
            Session::SpoolStart { restart: false } => (Session::Serve, Step::SpoolStart),
            Session::Serve => (Session::Start, Step::Serve),
            Session::Start => {
                self.next_health = now + self.schedule.health_interval;
                self.health_failures = 0;
                self.sms.next_look = Some(now);
                self.phase = Phase::Session(Session::Serving);
                return self.poll_serving(now);
            }
            Session::Resume => {
                self.next_health = now + self.schedule.health_interval;
                self.phase = Phase::Session(Session::Serving);
                return self.poll_serving(now);
            }
            Session::Serving => return self.poll_serving(now),
        };
        self.phase = Phase::Session(next);
        Some(step)
    }

    /// A turn of the serving loop (see the module documentation for the order).
    fn poll_serving(&mut self, now: Instant) -> Option<Step> {
        if self.reload_due && self.machine.state() == CallState::Idle {
            self.reload_due = false;
            return Some(Step::ApplyReload);
        }
        match self.inbox.take() {
            Some(Input::Urc(urc)) if *urc == Urc::Ready => {
                self.phase = Phase::Session(Session::Init { restart: true });
                return Some(Step::Restarted);
            }
            Some(Input::Urc(urc)) => return Some(Step::Urc(urc)),
            Some(Input::Request(request)) => return Some(Step::Request(request)),
            Some(Input::Stop) | None => {}
        }
        if self.stopping {
            self.phase = Phase::Ended(SessionEnd::Shutdown);
            return Some(Step::Finish);
        }
        if self.call_due().is_some_and(|t| t <= now) {
            let ms = self.ms(now);
            self.machine.handle_timeout(ms);
            return Some(Step::CallTimeout);
        }
        if self.facts.audio_due.is_some_and(|t| t <= now) {
            return Some(Step::Audio);
        }
        if now >= self.next_health {
            return Some(Step::HealthCheck);
        }
        self.sms_step(now)
    }

    /// One step of SMS work, if one is due and allowed.
    fn sms_step(&self, now: Instant) -> Option<Step> {
        if !self.sms_allowed() {
            return None;
        }
        if self.facts.slot_pending {
            Some(Step::ReadSlot)
        } else if self.facts.parts_expiry.is_some_and(|t| t <= now) {
            Some(Step::ExpireParts)
        } else if self.sms.next_look.is_some_and(|t| t <= now) {
            Some(Step::SendSms)
        } else {
            None
        }
    }

    /// When the call machine's deadline is, on the `Instant` clock.
    fn call_due(&self) -> Option<Instant> {
        self.machine
            .poll_timeout()
            .map(|at_ms| self.epoch + Duration::from_millis(at_ms))
    }

    /// SMS work waits while a call rings (the answer must not queue behind an `AT+CMGS`)
    /// and while its audio is being switched on (`AT+CPCMREG=1` is due).
    fn sms_allowed(&self) -> bool {
        !matches!(self.machine.state(), CallState::Ringing { .. }) && self.facts.audio_due.is_none()
    }

    /// The init handed out succeeded.
    pub fn handle_init_ok(&mut self) -> Initialised {
        if let Phase::Session(Session::Initialising { restart }) = self.phase {
            self.phase = Phase::Session(Session::SpoolStart { restart });
        }
        let first = !std::mem::replace(&mut self.ready_sent, true);
        self.ever_running = true;
        self.reached_running = true;
        Initialised {
            first,
            reconnected: std::mem::take(&mut self.reconnecting),
        }
    }

    /// The init handed out failed with `problem`; `port_failure`: the port failed
    /// meanwhile. The session ends: as a lost port, as a silent modem (a re-init, or an
    /// init after the modem once served), or as the first init's failure.
    pub fn handle_init_failed(&mut self, problem: String, port_failure: Option<String>) {
        let Phase::Session(Session::Initialising { restart }) = self.phase else {
            return;
        };
        let end = if restart {
            SessionEnd::Silent(format!("re-init after a modem restart failed: {problem}"))
        } else if let Some(failure) = port_failure {
            SessionEnd::PortLost(failure)
        } else if self.ever_running {
            SessionEnd::Silent(problem)
        } else {
            SessionEnd::InitFailed(problem)
        };
        self.phase = Phase::Ended(end);
    }

    /// A health check's answer: `Ok`, or the modem's error. The limit of failures in a
    /// row ends the session (the modem is silent).
    pub fn handle_health(&mut self, result: Result<(), String>) -> Health {
        match result {
            Ok(()) => {
                self.health_failures = 0;
                Health::Alive {
                    rescan: self.sms.sim_rescan_owed,
                }
            }
            Err(e) => {
                self.health_failures += 1;
                let failures = self.health_failures;
                let limit = self.schedule.health_failures;
                if failures >= limit {
                    self.phase = Phase::Ended(SessionEnd::Silent(format!(
                        "{failures} health checks failed, the last: {e}"
                    )));
                }
                Health::Failed { failures, limit }
            }
        }
    }

    /// The health check's work (what an answer leads to) ended at `now`: the next check is
    /// due one period later.
    pub fn health_checked(&mut self, now: Instant) {
        self.next_health = now + self.schedule.health_interval;
    }

    /// The order in which the spool and the API's queue are looked at for a new message:
    /// they take turns (the first look is the spool's).
    pub fn sms_sources(&mut self) -> [Source; 2] {
        self.sms.spool_turn = !self.sms.spool_turn;
        if self.sms.spool_turn {
            [Source::Spool, Source::Queue]
        } else {
            [Source::Queue, Source::Spool]
        }
    }

    /// Whether the spool may be looked at, at `now`: not while it rests; its folders are
    /// listed anew once per queue scan (a safety net for a lost inotify event).
    pub fn spool_gate(&mut self, now: Instant) -> SpoolGate {
        if let Some(t) = self.sms.spool_resume_at {
            if t > now {
                return SpoolGate::Resting(t);
            }
            self.sms.spool_resume_at = None;
        }
        let rescan = self.sms.spool_rescan_at.is_none_or(|t| now >= t);
        if rescan {
            self.sms.spool_rescan_at = Some(now + self.schedule.queue_scan);
        }
        SpoolGate::Open { rescan }
    }

    /// A spool file failed for a reason that may pass: no spool file before `until`.
    pub fn rest_spool(&mut self, until: Instant) {
        self.sms.spool_resume_at = Some(until);
    }

    /// A look for SMS to send (or a part sent) is done: the next look is due at `next`.
    pub fn handle_sms_look(&mut self, next: Instant) {
        self.sms.next_look = Some(next);
    }

    /// A SIM scan was cut short (the modem went silent): it is owed after the next health
    /// check the modem answers.
    pub fn owe_sim_rescan(&mut self) {
        self.sms.sim_rescan_owed = true;
    }

    /// A SIM scan starts: nothing is owed any more.
    pub fn sim_scan_started(&mut self) {
        self.sms.sim_rescan_owed = false;
    }
}

#[cfg(test)]
mod tests;
