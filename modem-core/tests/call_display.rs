//! Call events as a person reads them in a log: words, never Rust's debug dump.

use modem_core::call::{CallEvent, Caller, EndReason, HangUpCause, MissReason};
use modem_core::urc::PhoneNumber;

fn number(n: &str) -> Caller {
    Caller::Number(PhoneNumber::try_from(n).expect("a short number"))
}

#[test]
fn call_events_read_as_sentences() {
    let cases = [
        (
            CallEvent::Ringing {
                ring: 1,
                caller: number("+491761234567"),
            },
            "ringing (ring 1) from +491761234567",
        ),
        (
            CallEvent::Ended {
                caller: Caller::Withheld,
                duration_s: 42,
                reason: EndReason::WeHungUp(HangUpCause::MaxDuration),
            },
            "ended after 42 s, hung up at the call time limit: a withheld number",
        ),
        (
            CallEvent::Missed {
                caller: Caller::Unknown,
                rings: 0,
                reason: MissReason::ModemReported,
            },
            "missed after 0 rings, the modem reported it missed: an unknown caller",
        ),
    ];
    for (event, text) in cases {
        let shown = event.to_string();
        assert_eq!(shown, text);
        assert!(
            !shown.contains('{') && !shown.contains("Number("),
            "{shown}"
        );
    }
}
