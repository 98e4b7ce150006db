//! Reassembly of concatenated messages: parts in any order, duplicates, senders and
//! references kept apart, and what leaves the reassembler when parts never come or room
//! runs out (always the parts that arrived, marked incomplete, never nothing).
#![allow(clippy::unwrap_used)]

use modem_core::pdu::{
    Address, Alphabet, Body, ConcatReference, Concatenation, DEFAULT_EXPIRY_S, DataCoding, Deliver,
    PENDING_MESSAGES, PushOutcome, ReassembledMessage, Reassembler, Submit, SubmitOptions,
    SubmitPlan, Timestamp, TypeOfAddress,
};
use proptest::prelude::*;

fn at_minute(minute: u8) -> Timestamp {
    Timestamp {
        year: 26,
        month: 4,
        day: 21,
        hour: 14,
        minute,
        second: 0,
        utc_offset_quarters: 8,
    }
}

fn part(from: &str, reference: ConcatReference, total: u8, sequence: u8, text: &str) -> Deliver {
    Deliver {
        smsc: None,
        originator: Address::number(from, TypeOfAddress::INTERNATIONAL).unwrap(),
        protocol_identifier: 0,
        data_coding: DataCoding::general(Alphabet::Gsm7, None),
        timestamp: at_minute(sequence),
        more_messages: false,
        status_report_indication: false,
        reply_path: false,
        concatenation: Some(Concatenation {
            reference,
            total,
            sequence,
        }),
        body: Body::Text(heapless::String::try_from(text).unwrap()),
    }
}

fn text_of<const P: usize>(m: &ReassembledMessage<P>) -> String {
    let mut s = String::new();
    m.write_text(&mut s).unwrap();
    s
}

fn complete<const P: usize>(outcome: PushOutcome<P>) -> ReassembledMessage<P> {
    match outcome {
        PushOutcome::Complete(m) => m,
        other => panic!("expected a complete message, got {other:?}"),
    }
}

fn pending_without_eviction<const P: usize>(outcome: PushOutcome<P>) {
    assert_eq!(outcome, PushOutcome::Pending { evicted: None });
}

const R: ConcatReference = ConcatReference::Eight(0x42);

#[test]
fn three_parts_arriving_last_first_come_out_in_order() {
    let mut r: Reassembler = Reassembler::default();
    pending_without_eviction(r.push(part("4917", R, 3, 3, "three"), 0));
    pending_without_eviction(r.push(part("4917", R, 3, 1, "one "), 1));
    assert_eq!(r.pending(), 1);
    let m = complete(r.push(part("4917", R, 3, 2, "two "), 2));
    assert!(m.is_complete());
    assert_eq!(text_of(&m), "one two three");
    assert_eq!(m.missing().count(), 0);
    assert_eq!(m.total(), 3);
    assert_eq!(m.reference(), Some(R));
    assert_eq!(m.originator().to_string(), "+4917");
    assert_eq!(*m.timestamp(), at_minute(1), "the first part's time stamp");
    assert_eq!(m.first_received_s(), 0);
    assert_eq!(m.parts().map(|(n, _)| n).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(r.pending(), 0);
}

#[test]
fn a_part_delivered_twice_is_ignored() {
    let mut r: Reassembler = Reassembler::default();
    pending_without_eviction(r.push(part("4917", R, 2, 1, "a"), 0));
    assert_eq!(
        r.push(part("4917", R, 2, 1, "a"), 1),
        PushOutcome::Duplicate
    );
    assert_eq!(
        text_of(&complete(r.push(part("4917", R, 2, 2, "b"), 2))),
        "ab"
    );
}

#[test]
fn a_single_message_passes_straight_through() {
    let mut r: Reassembler = Reassembler::default();
    let mut sms = part("4917", R, 1, 1, "hello");
    sms.concatenation = None;
    let m = complete(r.push(sms, 5));
    assert_eq!(
        (m.total(), m.reference(), text_of(&m)),
        (1, None, "hello".to_string())
    );
    assert_eq!(r.pending(), 0);
}

#[test]
fn same_reference_from_two_senders_or_with_another_count_stays_apart() {
    let mut r: Reassembler = Reassembler::default();
    pending_without_eviction(r.push(part("4917", R, 2, 1, "A1"), 0));
    pending_without_eviction(r.push(part("4918", R, 2, 1, "B1"), 0));
    pending_without_eviction(r.push(part("4917", R, 3, 1, "C1"), 0));
    pending_without_eviction(r.push(part("4917", ConcatReference::Sixteen(0x42), 2, 1, "D1"), 0));
    assert_eq!(r.pending(), 4);
    assert_eq!(
        text_of(&complete(r.push(part("4918", R, 2, 2, "B2"), 1))),
        "B1B2"
    );
    assert_eq!(
        text_of(&complete(r.push(part("4917", R, 2, 2, "A2"), 1))),
        "A1A2"
    );
    assert_eq!(r.pending(), 2);
}

#[test]
fn a_message_whose_middle_part_never_comes_expires_incomplete() {
    let mut r: Reassembler = Reassembler::new(600);
    assert_eq!(r.next_expiry(), None);
    pending_without_eviction(r.push(part("4917", R, 3, 1, "one "), 1_000));
    pending_without_eviction(r.push(part("4917", R, 3, 3, "three"), 1_100));
    // The clock restarts with every part that arrives.
    assert_eq!(r.next_expiry(), Some(1_700));
    assert_eq!(r.pop_expired(1_699), None);
    let m = r.pop_expired(1_700).unwrap();
    assert!(!m.is_complete());
    assert_eq!(m.missing().collect::<Vec<_>>(), [2]);
    assert_eq!(text_of(&m), "one three");
    assert_eq!(r.pop_expired(1_700), None);
    assert_eq!(r.next_expiry(), None);
}

#[test]
fn when_every_slot_is_taken_the_oldest_message_leaves_incomplete() {
    let mut r: Reassembler = Reassembler::default();
    for (i, from) in ["4911", "4912", "4913", "4914"].into_iter().enumerate() {
        pending_without_eviction(r.push(part(from, R, 2, 1, from), 10 + i as u64));
    }
    assert_eq!(r.pending(), PENDING_MESSAGES);
    let PushOutcome::Pending {
        evicted: Some(oldest),
    } = r.push(part("4915", R, 2, 2, "x"), 20)
    else {
        panic!("expected the oldest message to be evicted");
    };
    assert_eq!(oldest.originator().value.as_str(), "4911");
    assert_eq!(oldest.missing().collect::<Vec<_>>(), [2]);
    assert_eq!(text_of(&oldest), "4911");
    assert_eq!(r.pending(), PENDING_MESSAGES);
}

#[test]
fn a_message_with_more_parts_than_a_slot_holds_goes_out_in_slot_sized_pieces() {
    let mut r: Reassembler<2, 2> = Reassembler::new(DEFAULT_EXPIRY_S);
    pending_without_eviction(r.push(part("4917", R, 3, 1, "a"), 0));
    pending_without_eviction(r.push(part("4917", R, 3, 2, "b"), 1));
    let PushOutcome::Pending {
        evicted: Some(first),
    } = r.push(part("4917", R, 3, 3, "c"), 2)
    else {
        panic!("expected the full slot to be flushed");
    };
    assert_eq!(
        (text_of(&first), first.missing().collect::<Vec<_>>()),
        ("ab".to_string(), vec![3])
    );
    let rest = r.pop_oldest().unwrap();
    assert_eq!(
        (text_of(&rest), rest.missing().collect::<Vec<_>>()),
        ("c".to_string(), vec![1, 2])
    );
    assert_eq!(r.pop_oldest(), None);
}

#[test]
fn shutdown_flushes_every_pending_message() {
    let mut r: Reassembler = Reassembler::default();
    pending_without_eviction(r.push(part("4911", R, 2, 1, "x"), 5));
    pending_without_eviction(r.push(part("4912", R, 2, 2, "y"), 3));
    let flushed: Vec<String> = std::iter::from_fn(|| r.pop_oldest())
        .map(|m| m.originator().value.to_string())
        .collect();
    assert_eq!(flushed, ["4912", "4911"]);
}

#[test]
fn binary_parts_are_kept_and_left_out_of_the_text() {
    let mut r: Reassembler = Reassembler::default();
    let mut data = part("4917", R, 2, 1, "");
    data.body = Body::Binary(heapless::Vec::from_slice(&[1, 2, 3]).unwrap());
    pending_without_eviction(r.push(data, 0));
    let m = complete(r.push(part("4917", R, 2, 2, "text"), 0));
    assert_eq!(text_of(&m), "text");
    assert!(matches!(m.parts().next(), Some((1, Body::Binary(b))) if b.as_slice() == [1, 2, 3]));
}

#[test]
fn a_copy_arriving_after_completion_starts_over_and_leaves_as_incomplete() {
    // The reassembler keeps no memory of finished messages: a sender reusing a reference
    // must not have its next message swallowed. A late copy is therefore held like a new
    // message and handed over, marked incomplete, when it expires.
    let mut r: Reassembler = Reassembler::new(60);
    pending_without_eviction(r.push(part("4917", R, 2, 1, "a"), 0));
    complete(r.push(part("4917", R, 2, 2, "b"), 1));
    pending_without_eviction(r.push(part("4917", R, 2, 2, "b"), 2));
    let late = r.pop_expired(62).unwrap();
    assert_eq!(
        (text_of(&late), late.missing().collect::<Vec<_>>()),
        ("b".to_string(), vec![1])
    );
}

/// The parts of `text` as a DELIVER from +4917 would carry them, via the real encoder.
fn delivered_parts(text: &str, reference: u8) -> Vec<Deliver> {
    let to = Address::parse_number("+4917").unwrap();
    let plan = SubmitPlan::new(to, text, reference, SubmitOptions::default()).unwrap();
    plan.encoded_parts()
        .map(|p| {
            let s = Submit::from_hex(&p.unwrap().hex).unwrap();
            Deliver {
                smsc: None,
                originator: s.destination,
                protocol_identifier: s.protocol_identifier,
                data_coding: s.data_coding,
                timestamp: at_minute(0),
                more_messages: false,
                status_report_indication: false,
                reply_path: false,
                concatenation: s.concatenation,
                body: s.body,
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn parts_in_any_order_with_repeats_give_the_text_once(
        text in "[a-zA-Z0-9 €ж😀]{161,300}",
        order in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        reference in any::<u8>(),
    ) {
        let parts = delivered_parts(&text, reference);
        prop_assume!(parts.len() > 1);
        // Each part once in a shuffled order; before the last one, random repeats of
        // parts already delivered (a repeat after completion would be a new message).
        let n = parts.len();
        let mut shuffled: Vec<usize> = (0..n).collect();
        for (i, idx) in order.iter().enumerate() {
            shuffled.swap(i % n, idx.index(n));
        }
        let mut sequence = Vec::new();
        for (k, &p) in shuffled.iter().enumerate() {
            sequence.push(p);
            if k + 1 < n {
                if let Some(idx) = order.get(k) {
                    sequence.push(shuffled[idx.index(k + 1)]);
                }
            }
        }

        let mut r: Reassembler = Reassembler::default();
        let mut completed = Vec::new();
        for (t, &i) in sequence.iter().enumerate() {
            match r.push(parts[i].clone(), t as u64) {
                PushOutcome::Complete(m) => completed.push(m),
                PushOutcome::Pending { evicted } => prop_assert!(evicted.is_none()),
                PushOutcome::Duplicate => {}
            }
        }
        prop_assert_eq!(completed.len(), 1);
        prop_assert_eq!(text_of(&completed[0]), text);
        prop_assert_eq!(r.pending(), 0);
    }
}
