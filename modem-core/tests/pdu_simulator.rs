//! The codec against the simulator's own, independently written PDU codec
//! (tools/modem-sim/src/pdu.rs): what our encoder sends, the simulator reads as the same
//! text with the same concatenation header; what the simulator delivers, we read back.
//! Texts: ASCII, accented Latin, Cyrillic, emoji and a 400-character text (the issue's
//! list), plus extension characters.
#![allow(clippy::unwrap_used)]

use modem_core::pdu::{
    Address, ConcatReference, Incoming, PushOutcome, Reassembler, SubmitOptions, SubmitPlan,
};
use modem_sim::pdu as sim;

const TEXTS: [&str; 6] = [
    "Hello, how are you?",
    "Grüße aus Köln, ça va? Ñandú, Ærøskøbing",
    "Привет, как дела? Съешь же ещё этих мягких французских булок.",
    "Party 🎉 tonight 😀 👍🏽",
    "€ [x] {y} ~z^ |w| \\v and a form feed \u{0C}.",
    "",
];

fn long_text() -> String {
    "The quick brown fox jumps over the lazy dog. ".repeat(9)[..400].to_string()
}

#[test]
fn the_simulator_reads_every_part_we_send_as_the_same_text() {
    let long = long_text();
    for text in TEXTS.iter().copied().chain([long.as_str()]) {
        let to = Address::parse_number("+491721234567").unwrap();
        let plan = SubmitPlan::new(to, text, 0x5A, SubmitOptions::default()).unwrap();
        let mut received = String::new();
        for (i, part) in plan.encoded_parts().enumerate() {
            let part = part.unwrap();
            let submit = sim::decode_submit(&part.hex, usize::from(part.tpdu_length))
                .unwrap_or_else(|e| panic!("simulator refused part {i} of {text:?}: {e}"));
            assert_eq!(submit.number, "+491721234567");
            match submit.concat {
                None => assert_eq!(plan.parts(), 1),
                Some(c) => {
                    assert_eq!((c.reference, c.total), (0x5A, plan.parts()));
                    assert_eq!(usize::from(c.sequence), i + 1);
                }
            }
            received.push_str(&submit.text);
        }
        assert_eq!(received, text);
    }
}

#[test]
fn we_read_every_part_the_simulator_delivers_and_join_them() {
    let time = sim::SmsTime {
        year: 2026,
        month: 4,
        day: 21,
        hour: 14,
        minute: 0,
        second: 0,
    };
    let long = long_text();
    for text in TEXTS.iter().copied().chain([long.as_str()]) {
        let parts = sim::encode_deliver("+491710760000", "+4915112345678", text, &time, 0x21);
        let mut reassembler: Reassembler = Reassembler::default();
        let mut whole = None;
        // Last part first, to make the reassembler sort them.
        for part in parts.iter().rev() {
            let Incoming::Deliver(sms) = Incoming::from_hex(&part.hex).unwrap() else {
                panic!("expected a DELIVER");
            };
            assert_eq!(sms.originator.to_string(), "+4915112345678");
            assert_eq!(sms.text(), Some(part.text.as_str()));
            if parts.len() > 1 {
                assert_eq!(
                    sms.concatenation.map(|c| c.reference),
                    Some(ConcatReference::Eight(0x21))
                );
            }
            match reassembler.push(sms, 0) {
                PushOutcome::Complete(m) => whole = Some(m),
                PushOutcome::Pending { evicted } => assert!(evicted.is_none()),
                PushOutcome::Duplicate => panic!("no part is sent twice"),
            }
        }
        let whole = whole.unwrap();
        let mut joined = String::new();
        whole.write_text(&mut joined).unwrap();
        assert_eq!(joined, text);
    }
}
