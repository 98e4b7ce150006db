//! Time per message of the SMS PDU codec.
//!
//! This benchmark owns the PDU figures of docs/performance.md: for a one-part GSM 7-bit
//! text, a one-part UCS-2 text and a three-part GSM 7-bit text,
//! - `encode/*`: planning and encoding every part (`SubmitPlan::new` + `encode_part`), what
//!   the bot does for each `POST /sms`;
//! - `decode/*`: decoding what the network delivers (`Incoming::from_hex` on PDUs made by
//!   the simulator's independent codec) and, for the three parts, joining them with the
//!   `Reassembler` into the whole text;
//! - `decode_submit/*`: `Submit::from_hex` on our own encoded parts (the simulator's side).
//!
//! Each case is checked once before it is measured (the decoded text is the text sent).
#![allow(clippy::unwrap_used)] // Benchmark set-up, like a test: a failure must stop it loudly.

// Shared with the digest benchmark, which uses the rest of it.
#[allow(dead_code)]
mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use modem_core::pdu::{
    Address, EncodedPart, Incoming, PushOutcome, Reassembler, Submit, SubmitOptions, SubmitPlan,
};
use modem_sim::pdu as sim;

struct Case {
    name: &'static str,
    text: String,
    parts: u8,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "gsm7_1_part",
            text: "Running 10 minutes late, start without me. Order the soup for me, please!"
                .to_string(),
            parts: 1,
        },
        Case {
            name: "ucs2_1_part",
            text: "Привет! Встретимся в 7 у входа, я принесу билеты 🎟".to_string(),
            parts: 1,
        },
        Case {
            name: "gsm7_3_parts",
            text: support::three_part_text(),
            parts: 3,
        },
    ]
}

fn encode(text: &str) -> Vec<EncodedPart> {
    let to = Address::parse_number("+491721234567").unwrap();
    let plan = SubmitPlan::new(to, text, 0x5A, SubmitOptions::default()).unwrap();
    plan.encoded_parts().map(Result::unwrap).collect()
}

/// Decodes every delivered part and joins them: the text as the bot would store it.
fn decode(pdus: &[String]) -> String {
    let mut reassembler: Reassembler = Reassembler::default();
    let mut text = String::new();
    for hex in pdus {
        let Incoming::Deliver(sms) = Incoming::from_hex(hex).unwrap() else {
            panic!("the simulator delivers SMS-DELIVER PDUs");
        };
        if sms.concatenation.is_none() {
            text.push_str(sms.text().unwrap());
            continue;
        }
        if let PushOutcome::Complete(message) = reassembler.push(sms, 0) {
            message.write_text(&mut text).unwrap();
        }
    }
    text
}

fn decode_submits(parts: &[EncodedPart]) -> usize {
    parts
        .iter()
        .map(|part| {
            let submit = Submit::from_hex(&part.hex).unwrap();
            black_box(&submit);
            1
        })
        .sum()
}

fn benches(c: &mut Criterion) {
    let time = sim::SmsTime {
        year: 2026,
        month: 4,
        day: 21,
        hour: 14,
        minute: 0,
        second: 0,
    };
    let cases = cases();

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    for case in &cases {
        assert_eq!(
            encode(&case.text).len(),
            usize::from(case.parts),
            "{}",
            case.name
        );
        group.bench_function(case.name, |b| b.iter(|| encode(black_box(&case.text))));
    }
    group.finish();

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    for case in &cases {
        let pdus: Vec<String> =
            sim::encode_deliver("+491710760000", "+4915112345678", &case.text, &time, 0x21)
                .into_iter()
                .map(|part| part.hex)
                .collect();
        assert_eq!(pdus.len(), usize::from(case.parts), "{}", case.name);
        assert_eq!(decode(&pdus), case.text, "{}", case.name);
        group.bench_function(case.name, |b| b.iter(|| decode(black_box(&pdus))));
    }
    group.finish();

    let mut group = c.benchmark_group("decode_submit");
    group.throughput(Throughput::Elements(1));
    for case in &cases {
        let parts = encode(&case.text);
        assert_eq!(decode_submits(&parts), usize::from(case.parts));
        group.bench_function(case.name, |b| b.iter(|| decode_submits(black_box(&parts))));
    }
    group.finish();
}

criterion_group! {
    name = pdu;
    // Short runs: tools/bench prints every figure within a couple of minutes.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = benches
}
criterion_main!(pdu);
