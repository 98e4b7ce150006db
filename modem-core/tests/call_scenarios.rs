//! Scenarios for the call state machine: real SIM7600 lines (parsed by `Urc::parse`) and
//! time in, call events and actions out.
#![allow(clippy::unwrap_used)]

use modem_core::call::{
    CallAction, CallEvent, CallMachine, CallState, Caller, EndReason, HANG_UP_CONFIRM_MS,
    HangUpCause, MissReason,
};
use modem_core::config::{AnswerMode, DEFAULT_RING_SILENCE_MS, VoiceConfig};
use modem_core::urc::{DtmfKey, PhoneNumber, Urc};

const CLIP_DE: &str = r#"+CLIP: "+491761234567",145,,,,0"#;
const RING_PERIOD_MS: u64 = 3_000;

/// A phone line under test: the machine, and the host's view of what came out.
struct Line {
    machine: CallMachine,
    events: Vec<CallEvent>,
    actions: Vec<CallAction>,
}

impl Line {
    fn new(config: VoiceConfig) -> Self {
        Self {
            machine: CallMachine::new(&config),
            events: Vec::new(),
            actions: Vec::new(),
        }
    }

    fn modem_answers_after(rings: i64) -> Self {
        Self::new(VoiceConfig::new(rings, 5).unwrap())
    }

    fn host_answers_after(rings: i64) -> Self {
        Self::new(
            VoiceConfig::new(rings, 5)
                .unwrap()
                .with_answer_mode(AnswerMode::Host),
        )
    }

    /// The modem prints `line` at `at_ms`.
    fn modem_says(&mut self, at_ms: u64, line: &str) {
        let urc = Urc::parse(line.as_bytes())
            .unwrap_or_else(|| panic!("test line is not a URC: {line:?}"));
        self.machine.handle_urc(at_ms, &urc);
        self.drain();
    }

    /// `n` rings with caller ID, 3 s apart, the first at `start_ms`; returns the last ring's time.
    fn rings_with_clip(&mut self, start_ms: u64, n: u64, clip: &str) -> u64 {
        let mut at = start_ms;
        for i in 0..n {
            at = start_ms + i * RING_PERIOD_MS;
            self.modem_says(at, "RING");
            self.modem_says(at + 50, clip);
        }
        at
    }

    fn time_passes_to(&mut self, at_ms: u64) {
        self.machine.handle_timeout(at_ms);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(event) = self.machine.poll_event() {
            self.events.push(event);
        }
        while let Some(action) = self.machine.poll_action() {
            self.actions.push(action);
        }
    }

    fn take_events(&mut self) -> Vec<CallEvent> {
        std::mem::take(&mut self.events)
    }

    fn take_actions(&mut self) -> Vec<CallAction> {
        std::mem::take(&mut self.actions)
    }
}

fn number(text: &str) -> Caller {
    Caller::Number(PhoneNumber::try_from(text).unwrap())
}

fn de() -> Caller {
    number("+491761234567")
}

#[test]
fn modem_answers_on_the_third_ring_and_the_caller_hangs_up_after_42_s() {
    let mut line = Line::modem_answers_after(3);
    let last_ring = line.rings_with_clip(0, 3, CLIP_DE);
    line.modem_says(last_ring + 500, "VOICE CALL: BEGIN");
    assert_eq!(
        line.machine.state(),
        CallState::Active {
            since_ms: last_ring + 500
        }
    );
    line.modem_says(last_ring + 42_600, "VOICE CALL: END: 000042");
    line.modem_says(last_ring + 42_650, "NO CARRIER");

    assert_eq!(
        line.take_events(),
        vec![
            CallEvent::Ringing {
                ring: 1,
                caller: Caller::Unknown
            },
            CallEvent::CallerIdentified { caller: de() },
            CallEvent::Ringing {
                ring: 2,
                caller: de()
            },
            CallEvent::Ringing {
                ring: 3,
                caller: de()
            },
            CallEvent::Answered {
                caller: de(),
                rings: 3
            },
            CallEvent::Ended {
                caller: de(),
                duration_s: 42,
                reason: EndReason::CallerHungUp
            },
        ]
    );
    assert!(
        line.take_actions().is_empty(),
        "the modem answers by itself"
    );
    assert_eq!(line.machine.state(), CallState::Idle);
}

#[test]
fn in_host_mode_the_machine_asks_to_answer_on_the_second_ring_only() {
    let mut line = Line::host_answers_after(2);
    line.modem_says(0, "RING");
    assert!(line.take_actions().is_empty());
    line.modem_says(RING_PERIOD_MS, "RING");
    assert_eq!(line.take_actions(), vec![CallAction::Answer]);
    // ATA is still running when the next ring comes: no second ATA.
    line.modem_says(2 * RING_PERIOD_MS, "RING");
    assert!(line.take_actions().is_empty());

    line.machine.answer_succeeded(2 * RING_PERIOD_MS + 100);
    line.drain();
    // The modem's own BEGIN after ATA's OK is the same answer, not a second one.
    line.modem_says(2 * RING_PERIOD_MS + 150, "VOICE CALL: BEGIN");
    let answered: Vec<_> = line
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, CallEvent::Answered { .. }))
        .collect();
    assert_eq!(
        answered,
        vec![CallEvent::Answered {
            caller: Caller::Unknown,
            rings: 3
        }]
    );
}

#[test]
fn when_ata_fails_the_next_ring_asks_again() {
    let mut line = Line::host_answers_after(1);
    line.modem_says(0, "RING");
    assert_eq!(line.take_actions(), vec![CallAction::Answer]);
    line.machine.answer_failed(200);
    line.drain();
    assert!(line.take_actions().is_empty());
    line.modem_says(RING_PERIOD_MS, "RING");
    assert_eq!(line.take_actions(), vec![CallAction::Answer]);
}

#[test]
fn host_mode_with_zero_rings_never_answers_and_the_call_is_missed() {
    let mut line = Line::host_answers_after(0);
    let last = line.rings_with_clip(0, 5, CLIP_DE);
    assert!(line.take_actions().is_empty());
    line.modem_says(last + 1_000, "NO CARRIER");
    assert_eq!(
        line.take_events().last(),
        Some(&CallEvent::Missed {
            caller: de(),
            rings: 5,
            reason: MissReason::CallerGaveUp
        })
    );
}

#[test]
fn modem_mode_never_asks_the_host_to_answer() {
    let mut line = Line::modem_answers_after(1);
    line.rings_with_clip(0, 4, CLIP_DE);
    assert!(line.take_actions().is_empty());
}

#[test]
fn a_withheld_number_is_reported_as_withheld() {
    let mut line = Line::modem_answers_after(3);
    line.rings_with_clip(0, 1, r#"+CLIP: "",128,,,,1"#);
    assert_eq!(
        line.take_events(),
        vec![
            CallEvent::Ringing {
                ring: 1,
                caller: Caller::Unknown
            },
            CallEvent::CallerIdentified {
                caller: Caller::Withheld
            },
        ]
    );
    assert_eq!(line.machine.caller(), &Caller::Withheld);
}

#[test]
fn a_number_the_network_cannot_deliver_is_unavailable() {
    let mut line = Line::modem_answers_after(3);
    line.rings_with_clip(0, 1, r#"+CLIP: "",128,,,,2"#);
    assert_eq!(line.machine.caller(), &Caller::Unavailable);
}

#[test]
fn a_caller_with_a_phonebook_name_is_identified_by_number() {
    let mut line = Line::modem_answers_after(3);
    line.rings_with_clip(0, 1, r#"+CLIP: "02152063113",128,,,"gongsi",0"#);
    assert_eq!(line.machine.caller(), &number("02152063113"));
}

#[test]
fn the_same_caller_id_after_every_ring_is_announced_once() {
    let mut line = Line::modem_answers_after(0);
    line.rings_with_clip(0, 4, CLIP_DE);
    let identified = line
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, CallEvent::CallerIdentified { .. }))
        .count();
    assert_eq!(identified, 1);
}

#[test]
fn missed_call_while_ringing_ends_the_ringing() {
    let mut line = Line::modem_answers_after(0);
    let last = line.rings_with_clip(0, 2, CLIP_DE);
    line.modem_says(last + 2_000, "MISSED_CALL: 11:01AM +491761234567");
    assert_eq!(
        line.take_events().last(),
        Some(&CallEvent::Missed {
            caller: de(),
            rings: 2,
            reason: MissReason::ModemReported
        })
    );
    assert_eq!(line.machine.state(), CallState::Idle);
}

#[test]
fn missed_call_gives_the_number_when_caller_id_is_off() {
    let mut line = Line::modem_answers_after(0);
    line.modem_says(0, "RING");
    line.modem_says(1_000, "MISSED_CALL: 11:01AM 07712345678");
    assert_eq!(
        line.take_events().last(),
        Some(&CallEvent::Missed {
            caller: number("07712345678"),
            rings: 1,
            reason: MissReason::ModemReported
        })
    );
}

#[test]
fn a_missed_call_we_never_heard_ring_is_still_reported() {
    let mut line = Line::modem_answers_after(3);
    line.modem_says(10_000, "MISSED_CALL: 11:01AM 07712345678");
    assert_eq!(
        line.take_events(),
        vec![CallEvent::Missed {
            caller: number("07712345678"),
            rings: 0,
            reason: MissReason::ModemReported
        }]
    );
}

#[test]
fn ringing_that_falls_silent_is_a_missed_call_after_the_ring_silence() {
    let mut line = Line::modem_answers_after(5);
    let last = line.rings_with_clip(0, 2, CLIP_DE);
    let deadline = last + u64::from(DEFAULT_RING_SILENCE_MS);
    assert_eq!(line.machine.poll_timeout(), Some(deadline));

    line.time_passes_to(deadline - 1);
    assert_eq!(line.machine.state(), CallState::Ringing { rings: 2 });
    line.time_passes_to(deadline);
    assert_eq!(
        line.take_events().last(),
        Some(&CallEvent::Missed {
            caller: de(),
            rings: 2,
            reason: MissReason::RingingStopped
        })
    );
    assert_eq!(line.machine.poll_timeout(), None);

    // The modem's own MISSED_CALL for the same call comes late: one call, one event.
    line.modem_says(deadline + 1_000, "MISSED_CALL: 11:01AM +491761234567");
    assert!(line.take_events().is_empty());
}

#[test]
fn the_caller_gives_up_while_it_rings_and_the_trailing_missed_call_is_absorbed() {
    let mut line = Line::modem_answers_after(4);
    let last = line.rings_with_clip(0, 2, CLIP_DE);
    line.modem_says(last + 1_000, "NO CARRIER");
    line.modem_says(last + 1_100, "MISSED_CALL: 11:01AM +491761234567");
    let events = line.take_events();
    assert_eq!(
        events.last(),
        Some(&CallEvent::Missed {
            caller: de(),
            rings: 2,
            reason: MissReason::CallerGaveUp
        })
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, CallEvent::Missed { .. }))
            .count(),
        1
    );
}

#[test]
fn we_hang_up_a_call_and_the_end_says_so() {
    let mut line = Line::modem_answers_after(1);
    line.rings_with_clip(0, 1, CLIP_DE);
    line.modem_says(500, "VOICE CALL: BEGIN");
    line.take_events();
    assert!(line.machine.request_hang_up(10_500));
    line.drain();
    assert_eq!(line.take_actions(), vec![CallAction::HangUp]);
    line.modem_says(10_600, "VOICE CALL: END: 000010");
    line.modem_says(10_650, "NO CARRIER");
    assert_eq!(
        line.take_events(),
        vec![CallEvent::Ended {
            caller: de(),
            duration_s: 10,
            reason: EndReason::WeHungUp(HangUpCause::Requested)
        }]
    );
}

#[test]
fn a_call_at_its_maximum_duration_is_hung_up() {
    let config = VoiceConfig::new(1, 5)
        .unwrap()
        .with_max_call_duration_s(Some(60))
        .unwrap();
    let mut line = Line::new(config);
    line.modem_says(0, "RING");
    line.modem_says(1_000, "VOICE CALL: BEGIN");
    assert_eq!(line.machine.poll_timeout(), Some(61_000));
    line.time_passes_to(60_999);
    assert!(line.take_actions().is_empty());
    line.time_passes_to(61_000);
    assert_eq!(line.take_actions(), vec![CallAction::HangUp]);
    // Asked once, not again on every later timeout.
    line.time_passes_to(61_500);
    assert!(line.take_actions().is_empty());
    line.modem_says(61_200, "VOICE CALL:END:000100");
    assert_eq!(
        line.take_events().last(),
        Some(&CallEvent::Ended {
            caller: Caller::Unknown,
            duration_s: 60,
            reason: EndReason::WeHungUp(HangUpCause::MaxDuration)
        })
    );
}

#[test]
fn a_hang_up_the_modem_never_confirms_ends_the_call_anyway() {
    let mut line = Line::modem_answers_after(1);
    line.modem_says(0, "RING");
    line.modem_says(1_000, "VOICE CALL: BEGIN");
    line.take_events();
    assert!(line.machine.request_hang_up(31_000));
    line.drain();
    assert_eq!(
        line.machine.poll_timeout(),
        Some(31_000 + HANG_UP_CONFIRM_MS)
    );
    line.time_passes_to(31_000 + HANG_UP_CONFIRM_MS);
    assert_eq!(
        line.take_events(),
        vec![CallEvent::Ended {
            caller: Caller::Unknown,
            duration_s: 35,
            reason: EndReason::WeHungUp(HangUpCause::Requested)
        }]
    );
    assert_eq!(line.machine.state(), CallState::Idle);
}

#[test]
fn no_carrier_without_voice_call_end_is_a_dropped_line_with_measured_duration() {
    let mut line = Line::modem_answers_after(1);
    line.modem_says(0, "RING");
    line.modem_says(2_000, "VOICE CALL: BEGIN");
    line.modem_says(19_900, "NO CARRIER");
    assert_eq!(
        line.take_events().last(),
        Some(&CallEvent::Ended {
            caller: Caller::Unknown,
            duration_s: 17,
            reason: EndReason::NoCarrier
        })
    );
    // The END that trails it belongs to the same call.
    line.modem_says(19_950, "VOICE CALL: END: 000017");
    assert!(line.take_events().is_empty());
}

#[test]
fn voice_call_end_without_a_duration_uses_the_measured_one() {
    let mut line = Line::modem_answers_after(1);
    line.modem_says(0, "RING");
    line.modem_says(1_000, "VOICE CALL: BEGIN");
    line.modem_says(9_000, "VOICE CALL: END");
    assert_eq!(
        line.take_events().last(),
        Some(&CallEvent::Ended {
            caller: Caller::Unknown,
            duration_s: 8,
            reason: EndReason::CallerHungUp
        })
    );
}

#[test]
fn we_reject_a_ringing_call() {
    let mut line = Line::modem_answers_after(0);
    line.rings_with_clip(0, 1, CLIP_DE);
    assert!(line.machine.request_hang_up(1_000));
    line.drain();
    assert_eq!(line.take_actions(), vec![CallAction::HangUp]);
    // A ring already on its way does not make us answer or ring again forever.
    line.modem_says(1_100, "NO CARRIER");
    assert_eq!(
        line.take_events().last(),
        Some(&CallEvent::Missed {
            caller: de(),
            rings: 1,
            reason: MissReason::Rejected
        })
    );
}

#[test]
fn a_rejected_call_that_rings_on_is_not_answered_in_host_mode() {
    let mut line = Line::host_answers_after(2);
    line.modem_says(0, "RING");
    assert!(line.machine.request_hang_up(500));
    line.drain();
    line.modem_says(RING_PERIOD_MS, "RING");
    assert_eq!(line.take_actions(), vec![CallAction::HangUp]);
    // Neither END nor NO CARRIER comes: the rejection is final after the confirm time.
    line.time_passes_to(500 + HANG_UP_CONFIRM_MS);
    assert_eq!(
        line.take_events().last(),
        Some(&CallEvent::Missed {
            caller: Caller::Unknown,
            rings: 2,
            reason: MissReason::Rejected
        })
    );
}

#[test]
fn hanging_up_with_no_call_does_nothing() {
    let mut line = Line::modem_answers_after(3);
    assert!(!line.machine.request_hang_up(0));
    line.drain();
    assert!(line.take_actions().is_empty());
    assert!(line.take_events().is_empty());
}

#[test]
fn the_caller_presses_keys_during_the_call() {
    let mut line = Line::modem_answers_after(1);
    line.modem_says(0, "RING");
    line.modem_says(100, "+RXDTMF: 1");
    line.modem_says(500, "VOICE CALL: BEGIN");
    line.take_events();
    line.modem_says(2_000, "+RXDTMF: #");
    line.modem_says(2_500, "+RXDTMF: A");
    assert_eq!(
        line.take_events(),
        vec![
            CallEvent::Dtmf {
                key: DtmfKey::from_ascii(b'#').unwrap()
            },
            CallEvent::Dtmf {
                key: DtmfKey::from_ascii(b'A').unwrap()
            },
        ]
    );
}

#[test]
fn crring_voice_counts_as_a_ring() {
    let mut line = Line::host_answers_after(2);
    line.modem_says(0, "+CRING: VOICE");
    line.modem_says(RING_PERIOD_MS, "+CRING: VOICE");
    assert_eq!(line.machine.state(), CallState::Ringing { rings: 2 });
    assert_eq!(line.take_actions(), vec![CallAction::Answer]);
}

#[test]
fn a_data_call_ring_is_not_a_voice_call() {
    let mut line = Line::modem_answers_after(1);
    line.modem_says(0, "+CRING: REL ASYNC");
    assert_eq!(line.machine.state(), CallState::Idle);
    assert!(line.take_events().is_empty());
}

#[test]
fn a_ring_during_a_call_is_ignored() {
    let mut line = Line::modem_answers_after(1);
    line.modem_says(0, "RING");
    line.modem_says(500, "VOICE CALL: BEGIN");
    line.take_events();
    line.modem_says(5_000, "RING");
    line.modem_says(5_050, r#"+CLIP: "+4930123456",145,,,,0"#);
    assert_eq!(line.machine.state(), CallState::Active { since_ms: 500 });
    assert!(line.take_events().is_empty());
}

#[test]
fn a_call_already_connected_when_we_start_is_still_tracked() {
    let mut line = Line::modem_answers_after(3);
    line.modem_says(0, "VOICE CALL: BEGIN");
    line.modem_says(4_000, "VOICE CALL: END: 000004");
    assert_eq!(
        line.take_events(),
        vec![
            CallEvent::Answered {
                caller: Caller::Unknown,
                rings: 0
            },
            CallEvent::Ended {
                caller: Caller::Unknown,
                duration_s: 4,
                reason: EndReason::CallerHungUp
            },
        ]
    );
}

#[test]
fn clcc_reports_drive_the_call_when_enabled() {
    let mut line = Line::modem_answers_after(1);
    line.modem_says(0, r#"+CLCC: 1,1,4,0,0,"+491761234567",145"#);
    line.modem_says(10, "RING");
    line.modem_says(600, r#"+CLCC: 1,1,0,0,0,"+491761234567",145"#);
    line.modem_says(5_600, r#"+CLCC: 1,1,6,0,0,"+491761234567",145"#);
    assert_eq!(
        line.take_events(),
        vec![
            CallEvent::Ringing {
                ring: 1,
                caller: de()
            },
            CallEvent::Answered {
                caller: de(),
                rings: 1
            },
            CallEvent::Ended {
                caller: de(),
                duration_s: 5,
                reason: EndReason::CallerHungUp
            },
        ]
    );
}

#[test]
fn clcc_reports_of_an_outgoing_call_are_ignored() {
    let mut line = Line::modem_answers_after(1);
    line.modem_says(0, r#"+CLCC: 1,0,2,0,0,"+491761234567",145"#);
    line.modem_says(10, r#"+CLCC: 1,0,0,0,0,"+491761234567",145"#);
    assert_eq!(line.machine.state(), CallState::Idle);
    assert!(line.take_events().is_empty());
}

#[test]
fn the_next_call_after_a_missed_one_starts_from_ring_one_with_no_caller() {
    let mut line = Line::modem_answers_after(0);
    let last = line.rings_with_clip(0, 3, CLIP_DE);
    line.modem_says(last + 1_000, "NO CARRIER");
    line.take_events();
    line.modem_says(60_000, "RING");
    assert_eq!(
        line.take_events(),
        vec![CallEvent::Ringing {
            ring: 1,
            caller: Caller::Unknown
        }]
    );
}

#[test]
fn a_ring_long_after_silence_is_a_new_call_even_if_the_host_slept_through_the_timeout() {
    let mut line = Line::modem_answers_after(0);
    line.rings_with_clip(0, 2, CLIP_DE);
    line.take_events();
    line.modem_says(100_000, "RING");
    assert_eq!(
        line.take_events(),
        vec![
            CallEvent::Missed {
                caller: de(),
                rings: 2,
                reason: MissReason::RingingStopped
            },
            CallEvent::Ringing {
                ring: 1,
                caller: Caller::Unknown
            },
        ]
    );
}

#[test]
fn a_host_that_never_polls_loses_the_oldest_events_and_is_told() {
    let mut machine = CallMachine::new(&VoiceConfig::new(0, 5).unwrap());
    let ring = Urc::parse(b"RING").unwrap();
    for i in 0..10 {
        machine.handle_urc(i * RING_PERIOD_MS, &ring);
    }
    assert_eq!(machine.dropped_events(), 2);
    assert_eq!(
        machine.poll_event(),
        Some(CallEvent::Ringing {
            ring: 3,
            caller: Caller::Unknown
        })
    );
}

#[test]
fn start_up_and_sms_lines_do_not_touch_the_call() {
    let mut line = Line::modem_answers_after(1);
    for text in [
        "RDY",
        "+CPIN: READY",
        "SMS DONE",
        "PB DONE",
        r#"+CMTI: "SM",0"#,
        "BUSY",
        "NO ANSWER",
        "NO CARRIER",
        "VOICE CALL: END: 000003",
        "+RXDTMF: 5",
    ] {
        line.modem_says(0, text);
    }
    assert_eq!(line.machine.state(), CallState::Idle);
    assert!(line.take_events().is_empty());
    assert!(line.take_actions().is_empty());
}

#[test]
fn reset_forgets_a_call_whose_end_will_never_come() {
    let mut line = Line::modem_answers_after(1);
    line.modem_says(0, "RING");
    line.modem_says(500, "VOICE CALL: BEGIN");
    line.machine.reset();
    assert_eq!(line.machine.state(), CallState::Idle);
    assert_eq!(line.machine.poll_timeout(), None);
    line.modem_says(30_000, "RING");
    assert_eq!(line.machine.state(), CallState::Ringing { rings: 1 });
}
