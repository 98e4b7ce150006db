//! Outgoing calls in the call state machine: the SIM7600's progress lines for a dialled
//! call (`+CLCC` with direction 0, `VOICE CALL: BEGIN`, `BUSY`, `NO ANSWER`, `NO CARRIER`;
//! 3GPP TS 27.007 §7.18 for the `+CLCC` fields, ITU-T V.250 for the result codes) and time
//! in, events and actions out.
#![allow(clippy::unwrap_used)]

use modem_core::call::{
    CallAction, CallEvent, CallMachine, CallState, Caller, DIAL_OUTCOME_GRACE_MS, DialFailure,
    EndReason, HANG_UP_CONFIRM_MS, HangUpCause,
};
use modem_core::config::VoiceConfig;
use modem_core::urc::{PhoneNumber, Urc};

const TO: &str = "+491761234567";
const CLCC_DIALING: &str = r#"+CLCC: 1,0,2,0,0,"+491761234567",145"#;
const CLCC_ALERTING: &str = r#"+CLCC: 1,0,3,0,0,"+491761234567",145"#;
const CLCC_ACTIVE: &str = r#"+CLCC: 1,0,0,0,0,"+491761234567",145"#;
const CLCC_GONE: &str = r#"+CLCC: 1,0,6,0,0,"+491761234567",145"#;

struct Line {
    machine: CallMachine,
    events: Vec<CallEvent>,
    actions: Vec<CallAction>,
}

impl Line {
    fn new() -> Self {
        Self {
            machine: CallMachine::new(&VoiceConfig::new(3, 5).unwrap()),
            events: Vec::new(),
            actions: Vec::new(),
        }
    }

    fn says(&mut self, at_ms: u64, line: &str) {
        let urc = Urc::parse(line.as_bytes()).unwrap_or_else(|| panic!("not a URC: {line:?}"));
        self.machine.handle_urc(at_ms, &urc);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(e) = self.machine.poll_event() {
            self.events.push(e);
        }
        while let Some(a) = self.machine.poll_action() {
            self.actions.push(a);
        }
    }

    fn dial(&mut self, at_ms: u64, timeout_ms: Option<u64>) -> bool {
        let ok = self.machine.dial(at_ms, number(), timeout_ms);
        self.drain();
        ok
    }

    fn time(&mut self, at_ms: u64) {
        self.machine.handle_timeout(at_ms);
        self.drain();
    }
}

fn number() -> PhoneNumber {
    PhoneNumber::try_from(TO).unwrap()
}

fn failed(reason: DialFailure) -> CallEvent {
    CallEvent::DialFailed {
        number: number(),
        reason,
    }
}

#[test]
fn a_dial_rings_connects_and_ends_when_the_far_end_hangs_up() {
    let mut line = Line::new();
    assert!(line.dial(0, None));
    assert_eq!(line.actions, vec![CallAction::Dial]);
    assert_eq!(line.machine.dialled_number(), Some(&number()));
    assert_eq!(line.machine.state(), CallState::Dialing { alerting: false });
    line.says(100, CLCC_DIALING);
    line.says(900, CLCC_ALERTING);
    line.says(950, CLCC_ALERTING);
    assert_eq!(line.machine.state(), CallState::Dialing { alerting: true });
    line.says(5_000, "VOICE CALL: BEGIN");
    line.says(5_010, CLCC_ACTIVE);
    assert_eq!(line.machine.state(), CallState::Active { since_ms: 5_000 });
    assert!(line.machine.is_outgoing());
    line.says(65_000, CLCC_GONE);
    line.says(65_010, "VOICE CALL: END: 000100");
    line.says(65_020, "NO CARRIER");
    assert_eq!(
        line.events,
        vec![
            CallEvent::Dialing { number: number() },
            CallEvent::Alerting { number: number() },
            CallEvent::Connected { number: number() },
            CallEvent::Ended {
                caller: Caller::Number(number()),
                duration_s: 60,
                reason: EndReason::CallerHungUp,
            },
        ]
    );
    assert_eq!(line.machine.state(), CallState::Idle);
}

#[test]
fn busy_no_answer_and_no_carrier_name_the_outcome_whatever_the_clcc_order() {
    for (result, reason) in [
        ("BUSY", DialFailure::Busy),
        ("NO ANSWER", DialFailure::NoAnswer),
        ("NO CARRIER", DialFailure::Failed),
    ] {
        for gone_first in [true, false] {
            let mut line = Line::new();
            line.dial(0, None);
            line.says(200, CLCC_ALERTING);
            if gone_first {
                line.says(3_000, CLCC_GONE);
            }
            line.says(3_010, result);
            if !gone_first {
                line.says(3_020, CLCC_GONE);
            }
            line.time(3_010 + DIAL_OUTCOME_GRACE_MS * 3);
            assert_eq!(
                line.events.last(),
                Some(&failed(reason)),
                "{result} gone_first={gone_first}"
            );
            assert_eq!(line.events.len(), 3, "{:?}", line.events);
            assert_eq!(line.machine.state(), CallState::Idle);
        }
    }
}

#[test]
fn a_disconnect_without_a_result_code_fails_after_the_grace() {
    let mut line = Line::new();
    line.dial(0, None);
    line.says(1_000, CLCC_GONE);
    assert_eq!(
        line.machine.poll_timeout(),
        Some(1_000 + DIAL_OUTCOME_GRACE_MS)
    );
    line.time(1_000 + DIAL_OUTCOME_GRACE_MS - 1);
    assert!(matches!(line.machine.state(), CallState::Dialing { .. }));
    line.time(1_000 + DIAL_OUTCOME_GRACE_MS);
    assert_eq!(line.events.last(), Some(&failed(DialFailure::Failed)));
}

#[test]
fn the_answer_timeout_hangs_up_and_reports_no_answer() {
    let mut line = Line::new();
    line.dial(0, Some(30_000));
    line.says(500, CLCC_ALERTING);
    assert_eq!(line.machine.poll_timeout(), Some(30_000));
    line.time(30_000);
    assert_eq!(line.actions, vec![CallAction::Dial, CallAction::HangUp]);
    // AT+CHUP's OK, then the disconnect.
    line.says(30_100, CLCC_GONE);
    line.says(30_110, "NO CARRIER");
    assert_eq!(line.events.last(), Some(&failed(DialFailure::NoAnswer)));
}

#[test]
fn hanging_up_while_dialling_cancels_even_without_end_lines() {
    let mut line = Line::new();
    line.dial(0, None);
    assert!(line.machine.request_hang_up(2_000));
    line.drain();
    assert_eq!(line.actions, vec![CallAction::Dial, CallAction::HangUp]);
    line.time(2_000 + HANG_UP_CONFIRM_MS);
    assert_eq!(line.events.last(), Some(&failed(DialFailure::Cancelled)));
    assert_eq!(line.machine.state(), CallState::Idle);
}

#[test]
fn a_refused_atd_fails_the_dial_and_one_call_at_a_time() {
    let mut line = Line::new();
    assert!(line.dial(0, None));
    assert!(
        !line.machine.dial(10, number(), None),
        "a second dial is refused"
    );
    line.machine.dial_failed(20, DialFailure::Failed);
    line.drain();
    assert_eq!(line.events.last(), Some(&failed(DialFailure::Failed)));
    // An incoming call blocks a dial too.
    line.says(1_000, "RING");
    assert!(!line.machine.dial(1_100, number(), None));
}

#[test]
fn a_ring_while_dialling_is_not_a_call_and_trailing_lines_are_absorbed() {
    let mut line = Line::new();
    line.dial(0, None);
    line.says(300, "RING");
    line.says(320, r#"+CLIP: "+4930123456",145,,,,0"#);
    line.says(340, r#"+CLCC: 2,1,5,0,0,"+4930123456",145"#);
    assert!(matches!(line.machine.state(), CallState::Dialing { .. }));
    line.says(1_000, "BUSY");
    line.says(1_010, CLCC_GONE);
    line.says(1_020, "NO CARRIER");
    line.time(10_000);
    assert_eq!(
        line.events,
        vec![
            CallEvent::Dialing { number: number() },
            failed(DialFailure::Busy)
        ]
    );
}

#[test]
fn we_hang_up_a_connected_outgoing_call() {
    let mut line = Line::new();
    line.dial(0, None);
    line.says(2_000, CLCC_ACTIVE);
    line.says(2_100, "+RXDTMF: 5");
    assert!(line.machine.request_hang_up(4_000));
    line.drain();
    line.says(4_050, CLCC_GONE);
    assert_eq!(
        line.events.last(),
        Some(&CallEvent::Ended {
            caller: Caller::Number(number()),
            duration_s: 2,
            reason: EndReason::WeHungUp(HangUpCause::Requested),
        })
    );
    assert!(line.events.contains(&CallEvent::Dtmf {
        key: modem_core::urc::DtmfKey::from_ascii(b'5').unwrap()
    }));
    // The next incoming call is incoming again.
    line.says(10_000, "RING");
    assert!(!line.machine.is_outgoing());
}

#[test]
fn outgoing_results_outside_a_dial_change_nothing() {
    let mut line = Line::new();
    for l in ["BUSY", "NO ANSWER", CLCC_ALERTING, CLCC_ACTIVE, CLCC_GONE] {
        line.says(100, l);
    }
    assert!(line.events.is_empty());
    assert_eq!(line.machine.state(), CallState::Idle);
}
