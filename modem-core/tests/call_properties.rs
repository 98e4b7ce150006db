//! Properties of the call state machine under any sequence of call lines, host requests and
//! time: it never panics, never loses an event for a host that drains, and tells a
//! consistent story (each call is answered at most once and ends exactly once).
#![allow(clippy::unwrap_used)]

use modem_core::call::{CallAction, CallEvent, CallMachine, CallState};
use modem_core::config::{AnswerMode, VoiceConfig};
use modem_core::urc::Urc;
use proptest::prelude::*;

const LINES: &[&str] = &[
    "RING",
    "+CRING: VOICE",
    r#"+CLIP: "+491761234567",145,,,,0"#,
    r#"+CLIP: "",128,,,,1"#,
    "VOICE CALL: BEGIN",
    "VOICE CALL: END: 000042",
    "VOICE CALL:END",
    "NO CARRIER",
    "MISSED_CALL: 11:01AM 07712345678",
    r#"+CLCC: 1,1,4,0,0,"+491761234567",145"#,
    r#"+CLCC: 1,1,0,0,0,"+491761234567",145"#,
    r#"+CLCC: 1,1,6,0,0,"+491761234567",145"#,
    "+RXDTMF: 7",
    "BUSY",
    "RDY",
];

#[derive(Debug, Clone)]
enum Input {
    Line(usize),
    HangUp,
    AnswerOk,
    AnswerFailed,
    Tick,
}

fn input() -> impl Strategy<Value = (Input, u64)> {
    let kind = prop_oneof![
        8 => (0..LINES.len()).prop_map(Input::Line),
        1 => Just(Input::HangUp),
        1 => Just(Input::AnswerOk),
        1 => Just(Input::AnswerFailed),
        2 => Just(Input::Tick),
    ];
    (kind, 0u64..12_000)
}

fn config() -> impl Strategy<Value = VoiceConfig> {
    (0i64..5, any::<bool>(), prop::option::of(1i64..120)).prop_map(|(rings, host, max)| {
        let mode = if host {
            AnswerMode::Host
        } else {
            AnswerMode::Modem
        };
        VoiceConfig::new(rings, 5)
            .unwrap()
            .with_answer_mode(mode)
            .with_max_call_duration_s(max)
            .unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_sequence_tells_a_consistent_story(
        config in config(),
        inputs in prop::collection::vec(input(), 0..80),
    ) {
        let mut machine = CallMachine::new(&config);
        let urcs: Vec<Urc> = LINES.iter().map(|l| Urc::parse(l.as_bytes()).unwrap()).collect();
        let mut now = 0u64;
        let mut in_call = false; // answered and not yet ended
        let mut ringing = false;
        let mut last_ring = 0u16;
        for (input, gap) in inputs {
            now += gap;
            match input {
                Input::Line(i) => machine.handle_urc(now, &urcs[i]),
                Input::HangUp => {
                    let had_call = machine.request_hang_up(now);
                    prop_assert_eq!(had_call, machine.state() != CallState::Idle);
                }
                Input::AnswerOk => machine.answer_succeeded(now),
                Input::AnswerFailed => machine.answer_failed(now),
                Input::Tick => machine.handle_timeout(now),
            }
            while let Some(action) = machine.poll_action() {
                if action == CallAction::Answer {
                    prop_assert_eq!(config.answer_mode(), AnswerMode::Host);
                    prop_assert!(config.answer_after_rings() > 0);
                }
            }
            while let Some(event) = machine.poll_event() {
                match event {
                    CallEvent::Ringing { ring, .. } => {
                        prop_assert!(!in_call, "a ring during a call is ignored");
                        if ringing {
                            prop_assert_eq!(ring, last_ring + 1);
                        } else {
                            prop_assert!(ring <= 1, "a new call starts at ring 1, got {}", ring);
                        }
                        ringing = true;
                        last_ring = ring;
                    }
                    CallEvent::CallerIdentified { .. } => prop_assert!(ringing),
                    CallEvent::Answered { .. } => {
                        prop_assert!(!in_call, "answered twice");
                        in_call = true;
                        ringing = false;
                    }
                    CallEvent::Ended { .. } => {
                        prop_assert!(in_call, "ended without being answered");
                        in_call = false;
                    }
                    CallEvent::Missed { .. } => {
                        prop_assert!(!in_call, "an answered call cannot be missed");
                        ringing = false;
                        last_ring = 0;
                    }
                    CallEvent::Dtmf { .. } => prop_assert!(in_call),
                    CallEvent::Dialing { .. }
                    | CallEvent::Alerting { .. }
                    | CallEvent::Connected { .. }
                    | CallEvent::DialFailed { .. } => {
                        prop_assert!(false, "the machine dialled without being asked")
                    }
                }
            }
            prop_assert_eq!(machine.dropped_events(), 0);
            match machine.state() {
                CallState::Idle => {
                    prop_assert!(!in_call);
                    prop_assert_eq!(machine.poll_timeout(), None);
                }
                CallState::Ringing { .. } => {
                    prop_assert!(!in_call);
                    prop_assert!(machine.poll_timeout().is_some(), "ringing always ends");
                }
                CallState::Active { .. } => prop_assert!(in_call),
                CallState::Dialing { .. } => prop_assert!(false, "dialling without being asked"),
            }
        }
    }
}
