//! The call state machine: the one place that decides what state a voice call is in.
//!
//! It is sans-I/O in the way quinn-proto is: the host feeds it the URCs the modem sent
//! ([`CallMachine::handle_urc`]), the outcome of commands it ran
//! ([`CallMachine::answer_succeeded`], [`CallMachine::answer_failed`]), requests
//! ([`CallMachine::request_hang_up`]) and the passing of time
//! ([`CallMachine::handle_timeout`], with the deadline from [`CallMachine::poll_timeout`]).
//! It answers with [`CallEvent`]s (ringing, caller identified, answered, ended, missed, DTMF)
//! and [`CallAction`]s (answer now, hang up now) that the host drains with
//! [`CallMachine::poll_event`] and [`CallMachine::poll_action`] and carries out through the
//! driver. Time is a monotonic millisecond count chosen by the host (for example
//! `embassy_time::Instant::now().as_millis()`); the machine never reads a clock.
//!
//! Why the rules are what they are (SIM7600-PROTOCOL.md):
//! - The modem repeats `RING` (or `+CRING`) about every 3 s, each followed by `+CLIP` once
//!   caller ID is on. Ringing that falls silent for [`VoiceConfig::ring_silence_ms`] means
//!   the caller gave up, even when the modem prints no `MISSED_CALL`.
//! - A call ends with `VOICE CALL: END: <HHMMSS>` then `NO CARRIER`; the modem's duration is
//!   preferred. `NO CARRIER` alone ends the call with the locally measured duration, and the
//!   lines that trail an end (a late `NO CARRIER`, `VOICE CALL: END`, `MISSED_CALL`) are
//!   absorbed so one call gives one end event.
//! - `AT+CHUP` always hangs up, but the end URCs may be lost with the link: after
//!   [`HANG_UP_CONFIRM_MS`] without them the call is ended anyway, so the machine never stays
//!   in a call that is gone.
//! - `BUSY` and `NO ANSWER` are results of outgoing calls, which this machine does not make:
//!   they are ignored, and so is a `RING` during an active call (no call waiting).

use heapless::Deque;

use crate::config::{AnswerMode, VoiceConfig};
use crate::urc::{
    CallDirection, CallMode, CallState as ListedState, CallStatus, CallerId, CliValidity, DtmfKey,
    PhoneNumber, RingType, Urc,
};

/// How many events the machine holds until the host polls them. One input produces at most
/// two events, so a host that drains after every input never loses one; when the queue is
/// full the oldest event is dropped and counted in [`CallMachine::dropped_events`].
pub const EVENT_QUEUE_LEN: usize = 8;
/// How many actions the machine holds until the host polls them (one input produces at most
/// one action; the oldest is dropped when full).
pub const ACTION_QUEUE_LEN: usize = 4;
/// How long after asking to hang up the machine waits for the modem's end URCs before it
/// ends the call by itself, in ms.
pub const HANG_UP_CONFIRM_MS: u64 = 5_000;

/// Who is calling, as far as the modem has said.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Caller {
    /// No caller ID yet (before the first `+CLIP`, or caller ID is off).
    #[default]
    Unknown,
    /// The caller's number.
    Number(PhoneNumber),
    /// The caller withheld the number (`+CLIP` validity 1).
    Withheld,
    /// The network could not deliver the number (`+CLIP` validity 2).
    Unavailable,
}

/// Why a call that was answered ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EndReason {
    /// The caller hung up (`VOICE CALL: END` without a hang-up request from us).
    CallerHungUp,
    /// We hung up, for the given cause.
    WeHungUp(HangUpCause),
    /// The connection dropped (`NO CARRIER` without `VOICE CALL: END`).
    NoCarrier,
}

/// Why we hung up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HangUpCause {
    /// The host asked ([`CallMachine::request_hang_up`]).
    Requested,
    /// The call reached [`VoiceConfig::max_call_duration_s`].
    MaxDuration,
}

/// Why an incoming call was never answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MissReason {
    /// The modem printed `MISSED_CALL`.
    ModemReported,
    /// The caller hung up while it rang (`NO CARRIER` or `VOICE CALL: END` while ringing).
    CallerGaveUp,
    /// No `RING` for [`VoiceConfig::ring_silence_ms`].
    RingingStopped,
    /// We rejected it ([`CallMachine::request_hang_up`] while ringing).
    Rejected,
}

/// What happened to the call, for the host to act on or log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CallEvent {
    /// The phone rings: the `ring`-th ring of this call (1 for the first).
    Ringing {
        /// Ring count, from 1.
        ring: u16,
        /// The caller as known so far.
        caller: Caller,
    },
    /// Caller ID arrived or changed during ringing.
    CallerIdentified {
        /// The caller.
        caller: Caller,
    },
    /// The call was answered (by the modem's auto-answer or by our `ATA`).
    Answered {
        /// The caller.
        caller: Caller,
        /// How many rings it took.
        rings: u16,
    },
    /// An answered call ended.
    Ended {
        /// The caller.
        caller: Caller,
        /// Duration in seconds: the modem's when it printed one, else measured here.
        duration_s: u32,
        /// Why it ended.
        reason: EndReason,
    },
    /// An incoming call ended without being answered.
    Missed {
        /// The caller.
        caller: Caller,
        /// How many rings were seen (0 when only `MISSED_CALL` told of it).
        rings: u16,
        /// Why it counts as missed.
        reason: MissReason,
    },
    /// The caller pressed a key during the call (`+RXDTMF`).
    Dtmf {
        /// The key: `0`-`9`, `A`-`D`, `*` or `#`.
        key: DtmfKey,
    },
}

/// What the host must do now, through the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CallAction {
    /// Answer the ringing call (`ATA`), then report with
    /// [`CallMachine::answer_succeeded`] or [`CallMachine::answer_failed`].
    Answer,
    /// Hang up (`AT+CHUP`).
    HangUp,
}

/// The state of the one voice call the modem can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CallState {
    /// No call.
    Idle,
    /// An incoming call rings.
    Ringing {
        /// Rings seen so far.
        rings: u16,
    },
    /// A call is connected.
    Active {
        /// When it was answered (host milliseconds).
        since_ms: u64,
    },
}

/// The call-relevant meaning of a URC; everything else is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Signal {
    Ring,
    CallerId(Caller),
    Begin,
    End { duration_s: Option<u32> },
    NoCarrier,
    Missed(Caller),
    ListedActive(Caller),
    ListedRinging(Caller),
    ListedGone,
    Dtmf(DtmfKey),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Ringing {
        rings: u16,
        last_ring_ms: u64,
        answer_pending: bool,
        rejecting: bool,
    },
    Active {
        since_ms: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HangUpRequest {
    cause: HangUpCause,
    at_ms: u64,
}

/// What a URC means for the call, `None` for URCs that say nothing about it.
fn signal_of(urc: &Urc) -> Option<Signal> {
    Some(match urc {
        Urc::Ring | Urc::CellularRing(RingType::Voice) => Signal::Ring,
        Urc::CallerId(id) => Signal::CallerId(caller_of_clip(id)),
        Urc::VoiceCallBegin => Signal::Begin,
        Urc::VoiceCallEnd { duration_secs } => Signal::End {
            duration_s: *duration_secs,
        },
        Urc::NoCarrier => Signal::NoCarrier,
        Urc::MissedCall(missed) => Signal::Missed(caller_of_number(missed.number.as_ref())),
        Urc::CallStatus(status) => return listed_signal(status),
        Urc::Dtmf(key) => Signal::Dtmf(*key),
        // Data-call rings, outgoing-call results and start-up/SMS lines are not about an
        // incoming voice call.
        Urc::CellularRing(RingType::Other(_))
        | Urc::Busy
        | Urc::NoAnswer
        | Urc::VoiceCallOther { .. }
        | Urc::Ready
        | Urc::SimStatus(_)
        | Urc::SmsReady
        | Urc::PhonebookReady
        | Urc::NewMessage(_)
        | Urc::NewMessageUnlocated { .. }
        | Urc::StatusReport(_)
        | Urc::RoutedMessage(_) => return None,
    })
}

fn caller_of_number(number: Option<&PhoneNumber>) -> Caller {
    match number {
        Some(number) if !number.is_empty() => Caller::Number(number.clone()),
        _ => Caller::Unknown,
    }
}

fn caller_of_clip(id: &CallerId) -> Caller {
    match (id.validity, &id.number) {
        (CliValidity::Withheld, _) => Caller::Withheld,
        (CliValidity::Unavailable, _) => Caller::Unavailable,
        (_, number) => caller_of_number(number.as_ref()),
    }
}

/// A `+CLCC` line about an incoming voice call; outgoing, data and waiting calls are not
/// this machine's business.
fn listed_signal(status: &CallStatus) -> Option<Signal> {
    if status.direction != CallDirection::MobileTerminated || status.mode != CallMode::Voice {
        return None;
    }
    let caller = match (status.validity, &status.number) {
        (Some(CliValidity::Withheld), None) => Caller::Withheld,
        (Some(CliValidity::Unavailable), None) => Caller::Unavailable,
        (_, number) => caller_of_number(number.as_ref()),
    };
    match status.state {
        ListedState::Incoming => Some(Signal::ListedRinging(caller)),
        ListedState::Active => Some(Signal::ListedActive(caller)),
        ListedState::Disconnected => Some(Signal::ListedGone),
        ListedState::Held | ListedState::Dialing | ListedState::Alerting | ListedState::Waiting => {
            None
        }
    }
}

/// The call state machine. See the module documentation.
#[derive(Debug)]
pub struct CallMachine {
    answer_mode: AnswerMode,
    answer_after_rings: u8,
    max_call_duration_ms: Option<u64>,
    ring_silence_ms: u64,
    phase: Phase,
    caller: Caller,
    hang_up: Option<HangUpRequest>,
    /// When the last call that ended unanswered finished: trailing end lines and a late
    /// `MISSED_CALL` inside the ring-silence window belong to it.
    last_miss_ms: Option<u64>,
    events: Deque<CallEvent, EVENT_QUEUE_LEN>,
    actions: Deque<CallAction, ACTION_QUEUE_LEN>,
    dropped_events: u32,
}

impl CallMachine {
    /// A machine in [`CallState::Idle`] following `config`'s answer policy.
    pub fn new(config: &VoiceConfig) -> Self {
        Self {
            answer_mode: config.answer_mode(),
            answer_after_rings: config.answer_after_rings(),
            max_call_duration_ms: config.max_call_duration_s().map(|s| u64::from(s) * 1000),
            ring_silence_ms: u64::from(config.ring_silence_ms()),
            phase: Phase::Idle,
            caller: Caller::Unknown,
            hang_up: None,
            last_miss_ms: None,
            events: Deque::new(),
            actions: Deque::new(),
            dropped_events: 0,
        }
    }

    /// The current state.
    pub fn state(&self) -> CallState {
        match self.phase {
            Phase::Idle => CallState::Idle,
            Phase::Ringing { rings, .. } => CallState::Ringing { rings },
            Phase::Active { since_ms } => CallState::Active { since_ms },
        }
    }

    /// The caller of the current (or last) call, as far as known.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    /// The next action to carry out, oldest first.
    pub fn poll_action(&mut self) -> Option<CallAction> {
        self.actions.pop_front()
    }

    /// How many events were dropped because the host did not poll them in time.
    pub fn dropped_events(&self) -> u32 {
        self.dropped_events
    }

    /// The next moment (host ms) at which [`CallMachine::handle_timeout`] has work, if any.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.phase {
            Phase::Idle => None,
            Phase::Ringing {
                last_ring_ms,
                rejecting,
                ..
            } => {
                let silence = last_ring_ms.saturating_add(self.ring_silence_ms);
                if rejecting {
                    let confirm = self.hang_up_deadline().unwrap_or(silence);
                    Some(silence.min(confirm))
                } else {
                    Some(silence)
                }
            }
            Phase::Active { since_ms } => {
                if let Some(deadline) = self.hang_up_deadline() {
                    Some(deadline)
                } else {
                    self.max_call_duration_ms
                        .map(|max| since_ms.saturating_add(max))
                }
            }
        }
    }

    /// Lets time pass up to `now_ms`: ringing that fell silent becomes a missed call, a call
    /// at its maximum duration is hung up, an unconfirmed hang-up ends the call.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        match self.phase {
            Phase::Idle => {}
            Phase::Ringing {
                rings,
                last_ring_ms,
                rejecting,
                ..
            } => {
                let confirm_due = rejecting
                    && self
                        .hang_up_deadline()
                        .is_some_and(|deadline| now_ms >= deadline);
                if confirm_due {
                    self.finish_missed(now_ms, rings, MissReason::Rejected);
                } else if now_ms >= last_ring_ms.saturating_add(self.ring_silence_ms) {
                    let reason = if rejecting {
                        MissReason::Rejected
                    } else {
                        MissReason::RingingStopped
                    };
                    self.finish_missed(now_ms, rings, reason);
                }
            }
            Phase::Active { since_ms } => match self.hang_up {
                Some(request) => {
                    if now_ms >= request.at_ms.saturating_add(HANG_UP_CONFIRM_MS) {
                        self.finish_ended(now_ms, None, EndReason::WeHungUp(request.cause));
                    }
                }
                None => {
                    let over = self
                        .max_call_duration_ms
                        .is_some_and(|max| now_ms >= since_ms.saturating_add(max));
                    if over {
                        self.hang_up = Some(HangUpRequest {
                            cause: HangUpCause::MaxDuration,
                            at_ms: now_ms,
                        });
                        self.push_action(CallAction::HangUp);
                    }
                }
            },
        }
    }

    /// Feeds one URC the modem sent at `now_ms`. URCs that say nothing about calls are
    /// ignored.
    pub fn handle_urc(&mut self, now_ms: u64, urc: &Urc) {
        if let Some(signal) = signal_of(urc) {
            self.handle_signal(now_ms, signal);
        }
    }

    /// Reports that `ATA` answered with `OK`: the call is connected (the modem's
    /// `VOICE CALL: BEGIN` that follows is then absorbed).
    pub fn answer_succeeded(&mut self, now_ms: u64) {
        self.handle_timeout(now_ms);
        if let Phase::Ringing { rings, .. } = self.phase {
            self.start_call(now_ms, rings);
        }
    }

    /// Reports that `ATA` failed: if the call still rings, the next ring asks again.
    pub fn answer_failed(&mut self, now_ms: u64) {
        self.handle_timeout(now_ms);
        if let Phase::Ringing {
            ref mut answer_pending,
            ..
        } = self.phase
        {
            *answer_pending = false;
        }
    }

    /// Asks to hang up (or reject a ringing call). Returns whether there was a call; if so a
    /// [`CallAction::HangUp`] is queued and the call's end will say that we hung up.
    pub fn request_hang_up(&mut self, now_ms: u64) -> bool {
        self.handle_timeout(now_ms);
        match self.phase {
            Phase::Idle => false,
            Phase::Ringing {
                ref mut rejecting, ..
            } => {
                *rejecting = true;
                self.hang_up = Some(HangUpRequest {
                    cause: HangUpCause::Requested,
                    at_ms: now_ms,
                });
                self.push_action(CallAction::HangUp);
                true
            }
            Phase::Active { .. } => {
                self.hang_up = Some(HangUpRequest {
                    cause: HangUpCause::Requested,
                    at_ms: now_ms,
                });
                self.push_action(CallAction::HangUp);
                true
            }
        }
    }

    /// Forgets any call (after a modem reset or a reconnect, when no end URC will come).
    /// Queued events and actions are kept.
    pub fn reset(&mut self) {
        self.phase = Phase::Idle;
        self.caller = Caller::Unknown;
        self.hang_up = None;
        self.last_miss_ms = None;
    }

    fn hang_up_deadline(&self) -> Option<u64> {
        self.hang_up
            .map(|request| request.at_ms.saturating_add(HANG_UP_CONFIRM_MS))
    }

    fn within_trail(&self, since: Option<u64>, now_ms: u64) -> bool {
        since.is_some_and(|t| now_ms.saturating_sub(t) < self.ring_silence_ms)
    }

    fn handle_signal(&mut self, now_ms: u64, signal: Signal) {
        self.handle_timeout(now_ms);
        match (self.phase, signal) {
            (Phase::Idle, Signal::Ring) => {
                self.begin_ringing(now_ms);
                self.ring(now_ms);
            }
            (Phase::Ringing { .. }, Signal::Ring) => self.ring(now_ms),
            (Phase::Idle, Signal::ListedRinging(caller)) => {
                // +CLCC announced an incoming call before its first RING: the call exists
                // (ringing, 0 rings so far) and its caller is known when the RING comes.
                self.begin_ringing(now_ms);
                self.caller = caller;
            }
            (
                Phase::Ringing { rings, .. },
                Signal::CallerId(caller) | Signal::ListedRinging(caller),
            ) => {
                // Before the first RING (a +CLCC announced the call) the caller is told with
                // that RING's event rather than ahead of it.
                self.learn_caller(caller, rings > 0);
            }
            (Phase::Active { .. }, Signal::CallerId(caller)) => self.learn_caller(caller, false),
            (Phase::Idle, Signal::Begin) => {
                // Connected without a RING we saw (we started late): still one call.
                self.caller = Caller::Unknown;
                self.hang_up = None;
                self.start_call(now_ms, 0);
            }
            (Phase::Idle, Signal::ListedActive(caller)) => {
                self.caller = caller;
                self.hang_up = None;
                self.start_call(now_ms, 0);
            }
            (Phase::Ringing { rings, .. }, Signal::Begin) => self.start_call(now_ms, rings),
            (Phase::Ringing { rings, .. }, Signal::ListedActive(caller)) => {
                self.learn_caller(caller, false);
                self.start_call(now_ms, rings);
            }
            (
                Phase::Ringing {
                    rings, rejecting, ..
                },
                Signal::End { .. } | Signal::NoCarrier | Signal::ListedGone,
            ) => {
                let reason = if rejecting {
                    MissReason::Rejected
                } else {
                    MissReason::CallerGaveUp
                };
                self.finish_missed(now_ms, rings, reason);
            }
            (
                Phase::Ringing {
                    rings, rejecting, ..
                },
                Signal::Missed(caller),
            ) => {
                self.learn_caller(caller, false);
                let reason = if rejecting {
                    MissReason::Rejected
                } else {
                    MissReason::ModemReported
                };
                self.finish_missed(now_ms, rings, reason);
            }
            (Phase::Idle, Signal::Missed(caller))
                if !self.within_trail(self.last_miss_ms, now_ms) =>
            {
                self.caller = caller;
                self.finish_missed(now_ms, 0, MissReason::ModemReported);
            }
            (Phase::Active { .. }, Signal::End { duration_s }) => {
                let reason = match self.hang_up {
                    Some(request) => EndReason::WeHungUp(request.cause),
                    None => EndReason::CallerHungUp,
                };
                self.finish_ended(now_ms, duration_s, reason);
            }
            (Phase::Active { .. }, Signal::NoCarrier) => {
                let reason = match self.hang_up {
                    Some(request) => EndReason::WeHungUp(request.cause),
                    None => EndReason::NoCarrier,
                };
                self.finish_ended(now_ms, None, reason);
            }
            (Phase::Active { .. }, Signal::ListedGone) => {
                let reason = match self.hang_up {
                    Some(request) => EndReason::WeHungUp(request.cause),
                    None => EndReason::CallerHungUp,
                };
                self.finish_ended(now_ms, None, reason);
            }
            (Phase::Active { .. }, Signal::Dtmf(key)) => self.push_event(CallEvent::Dtmf { key }),
            // Trailing lines of a finished call, a RING during a call (no call waiting), a
            // repeated BEGIN after our ATA's OK, DTMF outside a call: nothing to decide.
            _ => {}
        }
    }

    fn begin_ringing(&mut self, now_ms: u64) {
        self.caller = Caller::Unknown;
        self.hang_up = None;
        self.last_miss_ms = None;
        self.phase = Phase::Ringing {
            rings: 0,
            last_ring_ms: now_ms,
            answer_pending: false,
            rejecting: false,
        };
    }

    fn ring(&mut self, now_ms: u64) {
        let Phase::Ringing {
            rings,
            last_ring_ms,
            answer_pending,
            rejecting,
        } = &mut self.phase
        else {
            return;
        };
        *rings = rings.saturating_add(1);
        *last_ring_ms = now_ms;
        let ring = *rings;
        let answer_now = self.answer_mode == AnswerMode::Host
            && self.answer_after_rings != 0
            && ring >= u16::from(self.answer_after_rings)
            && !*answer_pending
            && !*rejecting;
        if answer_now {
            *answer_pending = true;
        }
        self.push_event(CallEvent::Ringing {
            ring,
            caller: self.caller.clone(),
        });
        if answer_now {
            self.push_action(CallAction::Answer);
        }
    }

    /// Takes `caller` as the current caller unless it says less than what is known; emits
    /// [`CallEvent::CallerIdentified`] when `announce` and the caller changed.
    fn learn_caller(&mut self, caller: Caller, announce: bool) {
        if caller == Caller::Unknown || caller == self.caller {
            return;
        }
        self.caller = caller;
        if announce {
            self.push_event(CallEvent::CallerIdentified {
                caller: self.caller.clone(),
            });
        }
    }

    fn start_call(&mut self, now_ms: u64, rings: u16) {
        let rejecting = matches!(
            self.phase,
            Phase::Ringing {
                rejecting: true,
                ..
            }
        );
        if !rejecting {
            self.hang_up = None;
        }
        self.phase = Phase::Active { since_ms: now_ms };
        self.push_event(CallEvent::Answered {
            caller: self.caller.clone(),
            rings,
        });
    }

    fn finish_missed(&mut self, now_ms: u64, rings: u16, reason: MissReason) {
        self.phase = Phase::Idle;
        self.hang_up = None;
        self.last_miss_ms = Some(now_ms);
        self.push_event(CallEvent::Missed {
            caller: self.caller.clone(),
            rings,
            reason,
        });
    }

    fn finish_ended(&mut self, now_ms: u64, modem_duration_s: Option<u32>, reason: EndReason) {
        let since_ms = match self.phase {
            Phase::Active { since_ms } => since_ms,
            _ => now_ms,
        };
        let measured_s = u32::try_from(now_ms.saturating_sub(since_ms) / 1000).unwrap_or(u32::MAX);
        self.phase = Phase::Idle;
        self.hang_up = None;
        self.push_event(CallEvent::Ended {
            caller: self.caller.clone(),
            duration_s: modem_duration_s.unwrap_or(measured_s),
            reason,
        });
    }

    fn push_event(&mut self, event: CallEvent) {
        if self.events.is_full() {
            self.events.pop_front();
            self.dropped_events = self.dropped_events.saturating_add(1);
        }
        // Cannot fail: a slot was freed above when the queue was full.
        let _ = self.events.push_back(event);
    }

    fn push_action(&mut self, action: CallAction) {
        if self.actions.is_full() {
            self.actions.pop_front();
        }
        // Cannot fail: a slot was freed above when the queue was full.
        let _ = self.actions.push_back(action);
    }
}

/// A caller as a person reads it in a log: the number, or why there is none.
impl core::fmt::Display for Caller {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Caller::Unknown => f.write_str("an unknown caller"),
            Caller::Number(n) => f.write_str(n),
            Caller::Withheld => f.write_str("a withheld number"),
            Caller::Unavailable => f.write_str("a number the network did not give"),
        }
    }
}

/// What happened, in words (`ringing (ring 1) from +4917...`), for logs.
impl core::fmt::Display for CallEvent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CallEvent::Ringing { ring, caller } => write!(f, "ringing (ring {ring}) from {caller}"),
            CallEvent::CallerIdentified { caller } => write!(f, "the caller is {caller}"),
            CallEvent::Answered { caller, rings } => {
                write!(f, "answered after {rings} rings: {caller}")
            }
            CallEvent::Ended {
                caller,
                duration_s,
                reason,
            } => {
                let why = match reason {
                    EndReason::CallerHungUp => "the caller hung up",
                    EndReason::WeHungUp(HangUpCause::Requested) => "hung up on request",
                    EndReason::WeHungUp(HangUpCause::MaxDuration) => {
                        "hung up at the call time limit"
                    }
                    EndReason::NoCarrier => "the connection dropped",
                };
                write!(f, "ended after {duration_s} s, {why}: {caller}")
            }
            CallEvent::Missed {
                caller,
                rings,
                reason,
            } => {
                let why = match reason {
                    MissReason::ModemReported => "the modem reported it missed",
                    MissReason::CallerGaveUp => "the caller gave up",
                    MissReason::RingingStopped => "the ringing stopped",
                    MissReason::Rejected => "rejected",
                };
                write!(f, "missed after {rings} rings, {why}: {caller}")
            }
            CallEvent::Dtmf { key } => write!(f, "key {} pressed", key.as_char()),
        }
    }
}
