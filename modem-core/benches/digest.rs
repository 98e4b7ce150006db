//! Throughput of cutting the SIM7600's byte stream into replies and URCs.
//!
//! This benchmark owns the digest figures of docs/performance.md. It measures, on the
//! realistic mixed stream of `support::session` (echo, replies, URCs between a reply and
//! its `OK`, `\r\r\n` framing, PDU reads, the `> ` prompt), in MB/s of modem bytes:
//! - `ingress/chunks_64`: the driver's real path, `Sim7600Digester` inside atat's
//!   `Ingress` with the driver's buffer sizes, each URC parsed and published to the URC
//!   channel and drained, each reply taken from the response slot, fed in 64-byte reads
//!   (a USB serial read on the host);
//! - `ingress/chunks_1`: the same fed one byte at a time, the worst case (an MCU UART
//!   interrupt per byte makes the digester look at the held reply again for each byte);
//! - `urc/parse`: `Urc::parse` alone on the session's URC lines;
//! - `line_classifier/capture`: `line::LineClassifier` (the `sim7600 decode` path) over the
//!   same bytes as a capture.
//!
//! Before measuring, each path is run once and its count of replies and URCs checked
//! against what the session holds, so a digester that silently drops everything cannot
//! post a fast figure.
#![allow(clippy::unwrap_used)] // Benchmark set-up, like a test: a failure must stop it loudly.

mod support;

use std::hint::black_box;
use std::time::Duration;

use atat::{AtatIngress, Ingress, ResponseSlot};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use modem_core::digest::{CommandTracker, Sim7600Digester};
use modem_core::driver::{INGRESS_BUF_LEN, ModemUrcChannel, RESPONSE_LEN};
use modem_core::line::{LineClassifier, LineItem};
use modem_core::urc::{Urc, urc_name};
use support::Exchange;

/// Bytes of modem output per measured iteration: large enough that set-up is noise.
const STREAM_BYTES: usize = 64 * 1024;

/// What one pass of the digest produced.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    replies: usize,
    urcs: usize,
}

fn expected(exchanges: &[Exchange]) -> Counts {
    Counts {
        replies: exchanges.iter().map(|e| e.replies).sum(),
        urcs: exchanges.iter().map(|e| e.urcs).sum(),
    }
}

/// Feeds every exchange through a fresh ingress, as the host's reader thread does, and
/// counts what reached the response slot and the URC subscriber.
fn digest_through_ingress(exchanges: &[Exchange], chunk: usize) -> Counts {
    let tracker = CommandTracker::new();
    let slot = ResponseSlot::<RESPONSE_LEN>::new();
    let channel = ModemUrcChannel::new();
    let mut urcs = channel.subscribe().unwrap();
    let mut buf = [0u8; INGRESS_BUF_LEN];
    let mut ingress = Ingress::new(
        Sim7600Digester::with_tracker(&tracker),
        &mut buf,
        &slot,
        &channel,
    );
    let mut counts = Counts::default();
    for exchange in exchanges {
        if let Some(command) = &exchange.command {
            // What atat's client and the TrackedWriter do before the bytes leave.
            slot.reset();
            tracker.command_sent(command);
        }
        for bytes in exchange.modem.chunks(chunk) {
            let written = ingress.try_write(bytes).unwrap();
            assert_eq!(written, bytes.len(), "ingress buffer full");
            if let Some(reply) = slot.try_get() {
                black_box(&*reply);
                drop(reply);
                slot.reset();
                counts.replies += 1;
            }
            while let Some(urc) = urcs.try_next_message_pure() {
                black_box(urc);
                counts.urcs += 1;
            }
        }
    }
    counts
}

/// The trimmed URC lines of the stream.
fn urc_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| urc_name(line).is_some())
        .map(<[u8]>::to_vec)
        .collect()
}

fn classify(bytes: &[u8]) -> Counts {
    let mut classifier = LineClassifier::new();
    let mut counts = Counts::default();
    for item in classifier.feed(bytes) {
        match item {
            LineItem::Final(_) | LineItem::Prompt => counts.replies += 1,
            LineItem::Urc(urc) => {
                black_box(urc);
                counts.urcs += 1;
            }
            other => {
                black_box(other);
            }
        }
    }
    counts
}

fn benches(c: &mut Criterion) {
    let exchanges = support::sessions(STREAM_BYTES);
    let bytes = support::modem_bytes(&exchanges);
    let want = expected(&exchanges);

    let mut group = c.benchmark_group("ingress");
    group.throughput(Throughput::BytesDecimal(bytes.len() as u64));
    for chunk in [64, 1] {
        assert_eq!(
            digest_through_ingress(&exchanges, chunk),
            want,
            "the digester in {chunk}-byte chunks does not produce the session's replies and URCs"
        );
        group.bench_function(format!("chunks_{chunk}"), |b| {
            b.iter(|| digest_through_ingress(black_box(&exchanges), chunk));
        });
    }
    group.finish();

    let lines = urc_lines(&bytes);
    assert!(
        lines.iter().all(|line| Urc::parse(line).is_some()),
        "every URC line of the session parses"
    );
    // `+CLCC` as the reply to AT+CLCC is a URC line to `urc_name` but not a URC of the
    // stream, so the lines number at least the stream's URCs.
    assert!(lines.len() >= want.urcs);
    let line_bytes: usize = lines.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("urc");
    group.throughput(Throughput::BytesDecimal(line_bytes as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            for line in &lines {
                black_box(Urc::parse(black_box(line)));
            }
        });
    });
    group.finish();

    // A capture has no tracker: echo tells the classifier the command, and after ATE0 the
    // `+CLCC` reply reads as a URC. So only the replies are checked exactly.
    let classified = classify(&bytes);
    assert_eq!(classified.replies, want.replies, "line classifier replies");
    assert!(classified.urcs >= want.urcs, "line classifier URCs");
    let mut group = c.benchmark_group("line_classifier");
    group.throughput(Throughput::BytesDecimal(bytes.len() as u64));
    group.bench_function("capture", |b| b.iter(|| classify(black_box(&bytes))));
    group.finish();
}

criterion_group! {
    name = digest;
    // Short runs: tools/bench prints every figure within a couple of minutes.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = benches
}
criterion_main!(digest);
