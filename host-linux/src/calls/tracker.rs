//! From modem-core's call events to what the bot shows and logs.
//!
//! The call state machine ([`modem_core::call::CallMachine`]) decides what a call is doing;
//! this module owns only the bookkeeping around it, sans-I/O: [`CallTracker`] takes each
//! [`CallEvent`] with the wall-clock time (a string chosen by the caller, so tests pin it)
//! and keeps the [`CurrentCall`] the API shows, and hands back a [`CallRecord`] for the
//! call log when a call ends, answered or missed.

use modem_core::call::{CallEvent, Caller, DialFailure, EndReason, HangUpCause, MissReason};

use super::log::{CallEnd, CallRecord, CallerIdKind};
use crate::platform::metrics::CallOutcome;
use serde::Serialize;

/// Whether the current call rings or is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CurrentCallState {
    /// It rings.
    Ringing,
    /// It is connected.
    Active,
    /// A call the bot dialled, not yet ringing at the far end.
    Dialing,
    /// A call the bot dialled rings at the far end.
    Alerting,
}

/// The call in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrentCall {
    /// Ringing or connected.
    pub state: CurrentCallState,
    /// The caller's number when known.
    pub caller: Option<String>,
    /// Whether there is a number, and if not why.
    pub caller_id: CallerIdKind,
    /// Rings so far (or before it was answered).
    pub rings: u16,
    /// When it first rang, RFC 3339 UTC.
    pub since: String,
    /// When it was answered, RFC 3339 UTC.
    pub answered_at: Option<String>,
    /// The number dialled, for a call the bot made; absent for incoming calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// A call first seen at `now`, still ringing, caller not yet known.
fn ringing_since(now: &str) -> CurrentCall {
    CurrentCall {
        to: None,
        state: CurrentCallState::Ringing,
        caller: None,
        caller_id: CallerIdKind::Unknown,
        rings: 0,
        since: now.to_owned(),
        answered_at: None,
    }
}

/// The caller as the log and the API show it: a number or none, and why none.
pub fn caller_fields(caller: &Caller) -> (Option<String>, CallerIdKind) {
    match caller {
        Caller::Number(n) => (Some(n.as_str().to_owned()), CallerIdKind::Number),
        Caller::Withheld => (None, CallerIdKind::Withheld),
        Caller::Unavailable => (None, CallerIdKind::Unavailable),
        Caller::Unknown => (None, CallerIdKind::Unknown),
    }
}

/// The log's word for how an answered call ended.
pub fn end_of(reason: EndReason) -> CallEnd {
    match reason {
        EndReason::CallerHungUp => CallEnd::CallerHungUp,
        EndReason::WeHungUp(HangUpCause::Requested) => CallEnd::WeHungUp,
        EndReason::WeHungUp(HangUpCause::MaxDuration) => CallEnd::MaxCallSeconds,
        EndReason::NoCarrier => CallEnd::NoCarrier,
    }
}

/// The log's word for why a call was missed.
pub fn miss_of(reason: MissReason) -> CallEnd {
    match reason {
        MissReason::ModemReported => CallEnd::MissedModemReported,
        MissReason::CallerGaveUp => CallEnd::MissedCallerGaveUp,
        MissReason::RingingStopped => CallEnd::MissedRingingStopped,
        MissReason::Rejected => CallEnd::MissedRejected,
    }
}

/// The log's word for why a call the bot dialled never connected.
pub fn dial_end_of(reason: DialFailure) -> CallEnd {
    match reason {
        DialFailure::Busy => CallEnd::Busy,
        DialFailure::NoAnswer => CallEnd::NoAnswer,
        DialFailure::Failed => CallEnd::Failed,
        DialFailure::Cancelled => CallEnd::Cancelled,
    }
}

/// How a finished call counts in `GET /metrics`, and its connected milliseconds: a call
/// rejected while ringing (by the bot, the API or a menu) is `rejected`, any other
/// unanswered one `missed`, an answered one `answered` (calls lost with the modem are
/// counted where the loss is handled).
pub fn outcome_of(record: &CallRecord) -> (CallOutcome, u64) {
    match record.end {
        CallEnd::ModemLost => (CallOutcome::Lost, 0),
        CallEnd::MissedRejected => (CallOutcome::Rejected, 0),
        _ if record.answered => (CallOutcome::Answered, u64::from(record.duration_s) * 1000),
        _ if record.to.is_some() => (CallOutcome::NotConnected, 0),
        _ => (CallOutcome::Missed, 0),
    }
}

/// What one event changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracked {
    /// The current call changed (or began): publish it.
    Current(CurrentCall),
    /// The call ended: log this, and there is no current call any more.
    Finished(CallRecord),
    /// Nothing to publish (a DTMF key).
    Nothing,
}

/// The call in progress, as far as the bot's bookkeeping goes. See the module doc.
#[derive(Debug, Default)]
pub struct CallTracker {
    current: Option<CurrentCall>,
}

impl CallTracker {
    /// No call.
    pub fn new() -> Self {
        CallTracker::default()
    }

    /// The call in progress.
    pub fn current(&self) -> Option<&CurrentCall> {
        self.current.as_ref()
    }

    fn current_or_new(&mut self, now: &str) -> &mut CurrentCall {
        self.current.get_or_insert_with(|| ringing_since(now))
    }

    fn set_caller(call: &mut CurrentCall, caller: &Caller) {
        // A later "unknown" never hides a number learnt earlier.
        if *caller != Caller::Unknown || call.caller_id == CallerIdKind::Unknown {
            (call.caller, call.caller_id) = caller_fields(caller);
        }
    }

    /// Takes `event`, which happened at `now` (RFC 3339).
    pub fn handle(&mut self, event: &CallEvent, now: &str) -> Tracked {
        match event {
            CallEvent::Ringing { ring, caller } => {
                let call = self.current_or_new(now);
                call.rings = *ring;
                Self::set_caller(call, caller);
                Tracked::Current(call.clone())
            }
            CallEvent::CallerIdentified { caller } => {
                let call = self.current_or_new(now);
                Self::set_caller(call, caller);
                Tracked::Current(call.clone())
            }
            CallEvent::Answered { caller, rings } => {
                let call = self.current_or_new(now);
                Self::set_caller(call, caller);
                call.rings = call.rings.max(*rings);
                call.state = CurrentCallState::Active;
                call.answered_at = Some(now.to_owned());
                Tracked::Current(call.clone())
            }
            CallEvent::Ended {
                caller,
                duration_s,
                reason,
            } => self.finish(caller, true, 0, *duration_s, end_of(*reason), now),
            CallEvent::Missed {
                caller,
                rings,
                reason,
            } => self.finish(caller, false, *rings, 0, miss_of(*reason), now),
            CallEvent::Dtmf { .. } => Tracked::Nothing,
            CallEvent::Dialing { number } => {
                let mut call = ringing_since(now);
                call.state = CurrentCallState::Dialing;
                call.to = Some(number.as_str().to_owned());
                self.current = Some(call.clone());
                Tracked::Current(call)
            }
            CallEvent::Alerting { .. } => {
                let call = self.current_or_new(now);
                call.state = CurrentCallState::Alerting;
                Tracked::Current(call.clone())
            }
            CallEvent::Connected { number } => {
                let call = self.current_or_new(now);
                call.to = Some(number.as_str().to_owned());
                call.state = CurrentCallState::Active;
                call.answered_at = Some(now.to_owned());
                Tracked::Current(call.clone())
            }
            CallEvent::DialFailed { number, reason } => {
                let mut call = self.current.take().unwrap_or_else(|| ringing_since(now));
                call.to = Some(number.as_str().to_owned());
                self.current = Some(call);
                self.finish(&Caller::Unknown, false, 0, 0, dial_end_of(*reason), now)
            }
        }
    }

    fn finish(
        &mut self,
        caller: &Caller,
        answered: bool,
        rings: u16,
        duration_s: u32,
        end: CallEnd,
        now: &str,
    ) -> Tracked {
        let mut call = self.current.take().unwrap_or_else(|| ringing_since(now));
        if call.to.is_none() {
            Self::set_caller(&mut call, caller);
        }
        Tracked::Finished(CallRecord {
            to: call.to,
            started_at: call.since,
            ended_at: now.to_owned(),
            caller: call.caller,
            caller_id: call.caller_id,
            rings: call.rings.max(rings),
            answered,
            duration_s,
            end,
        })
    }

    /// The modem was lost (unplugged, restarted) with a call in progress: the record of
    /// that call, ended now, for the log. `None` without a call.
    pub fn lost(&mut self, now: &str) -> Option<CallRecord> {
        let call = self.current.take()?;
        let answered = call.state == CurrentCallState::Active;
        let outgoing = call.to.is_some();
        Some(CallRecord {
            to: call.to,
            started_at: call.since,
            ended_at: now.to_owned(),
            caller: call.caller,
            caller_id: call.caller_id,
            rings: call.rings,
            answered,
            duration_s: 0,
            end: match (answered, outgoing) {
                (true, _) => CallEnd::ModemLost,
                (false, true) => CallEnd::Failed,
                (false, false) => CallEnd::MissedRingingStopped,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modem_core::urc::PhoneNumber;

    fn number(n: &str) -> Caller {
        Caller::Number(PhoneNumber::try_from(n).unwrap())
    }

    #[test]
    fn finished_calls_count_by_outcome_with_their_connected_time() {
        let mut t = CallTracker::new();
        let ended = |t: &mut CallTracker, event: CallEvent| match t.handle(&event, "T1") {
            Tracked::Finished(record) => outcome_of(&record),
            other => panic!("{other:?}"),
        };
        let answered = CallEvent::Ended {
            caller: number("+491761234567"),
            duration_s: 42,
            reason: EndReason::CallerHungUp,
        };
        assert_eq!(ended(&mut t, answered), (CallOutcome::Answered, 42_000));
        let rejected = CallEvent::Missed {
            caller: Caller::Withheld,
            rings: 1,
            reason: MissReason::Rejected,
        };
        assert_eq!(ended(&mut t, rejected), (CallOutcome::Rejected, 0));
        let missed = CallEvent::Missed {
            caller: Caller::Unknown,
            rings: 4,
            reason: MissReason::CallerGaveUp,
        };
        assert_eq!(ended(&mut t, missed), (CallOutcome::Missed, 0));
        t.handle(
            &CallEvent::Answered {
                caller: Caller::Unknown,
                rings: 1,
            },
            "T0",
        );
        let lost = t.lost("T2").unwrap();
        assert_eq!(outcome_of(&lost), (CallOutcome::Lost, 0));
    }

    #[test]
    fn a_call_answered_on_the_third_ring_is_logged_with_caller_rings_and_duration() {
        let mut t = CallTracker::new();
        for ring in 1..=3 {
            let caller = if ring == 1 {
                Caller::Unknown
            } else {
                number("+491761234567")
            };
            t.handle(&CallEvent::Ringing { ring, caller }, "T0");
        }
        let Tracked::Current(c) = t.handle(
            &CallEvent::Answered {
                caller: number("+491761234567"),
                rings: 3,
            },
            "T1",
        ) else {
            panic!("answer must publish the call")
        };
        assert_eq!(c.state, CurrentCallState::Active);
        assert_eq!(c.answered_at.as_deref(), Some("T1"));
        let Tracked::Finished(r) = t.handle(
            &CallEvent::Ended {
                caller: number("+491761234567"),
                duration_s: 42,
                reason: EndReason::CallerHungUp,
            },
            "T2",
        ) else {
            panic!("end must give a record")
        };
        assert_eq!(r.caller.as_deref(), Some("+491761234567"));
        assert_eq!((r.rings, r.answered, r.duration_s), (3, true, 42));
        assert_eq!((r.started_at.as_str(), r.ended_at.as_str()), ("T0", "T2"));
        assert_eq!(r.end, CallEnd::CallerHungUp);
        assert!(t.current().is_none());
    }

    #[test]
    fn a_withheld_caller_who_gives_up_is_a_missed_call() {
        let mut t = CallTracker::new();
        t.handle(
            &CallEvent::Ringing {
                ring: 1,
                caller: Caller::Withheld,
            },
            "T0",
        );
        let Tracked::Finished(r) = t.handle(
            &CallEvent::Missed {
                caller: Caller::Unknown,
                rings: 2,
                reason: MissReason::CallerGaveUp,
            },
            "T1",
        ) else {
            panic!()
        };
        assert_eq!(r.caller, None);
        assert_eq!(r.caller_id, CallerIdKind::Withheld);
        assert_eq!((r.rings, r.answered), (2, false));
        assert_eq!(r.end, CallEnd::MissedCallerGaveUp);
    }

    #[test]
    fn the_call_limit_shows_as_max_call_seconds() {
        assert_eq!(
            end_of(EndReason::WeHungUp(HangUpCause::MaxDuration)),
            CallEnd::MaxCallSeconds
        );
    }

    #[test]
    fn a_modem_lost_mid_call_still_logs_the_call() {
        let mut t = CallTracker::new();
        assert!(t.lost("T").is_none());
        t.handle(
            &CallEvent::Answered {
                caller: number("+4930123"),
                rings: 0,
            },
            "T0",
        );
        let r = t.lost("T1").unwrap();
        assert_eq!(r.end, CallEnd::ModemLost);
        assert!(r.answered);
        assert!(t.current().is_none());
    }

    #[test]
    fn dtmf_changes_nothing_shown() {
        let mut t = CallTracker::new();
        let key = modem_core::urc::DtmfKey::from_ascii(b'5').unwrap();
        assert_eq!(t.handle(&CallEvent::Dtmf { key }, "T"), Tracked::Nothing);
    }
}
