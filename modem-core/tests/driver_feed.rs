//! A host reader feeding the ingress: exact accounting when the URC channel is full.
#![allow(clippy::unwrap_used)]

use modem_core::driver::{Feed, Resources, URC_CAPACITY, feed, resume};
use modem_core::urc::Urc;

/// A writer the tests never write through (they only feed).
struct Unused;

impl embedded_io::ErrorType for Unused {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io_async::Write for Unused {
    async fn write(&mut self, _buf: &[u8]) -> Result<usize, Self::Error> {
        unreachable!("these tests send no command")
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        unreachable!("these tests send no command")
    }
}

#[test]
fn a_burst_of_urcs_no_one_reads_stalls_the_feed_and_resumes_without_losing_one() {
    let resources = Box::leak(Box::new(Resources::new()));
    let parts = resources.split(Unused, atat::Config::new());
    let mut ingress = parts.ingress;
    let mut calls = parts.urcs.subscribe().unwrap();

    let rings = URC_CAPACITY + 4;
    let burst: Vec<u8> = b"\r\nRING\r\n".repeat(rings);
    let Feed::UrcChannelFull { rest } = feed(&mut ingress, &burst) else {
        panic!("{rings} URCs fit a channel of {URC_CAPACITY}");
    };
    let mut received = Vec::new();
    while let Some(urc) = calls.try_next_message_pure() {
        received.push(urc);
    }
    assert_eq!(received.len(), URC_CAPACITY);

    assert!(resume(&mut ingress), "the subscriber made room");
    assert_eq!(feed(&mut ingress, rest), Feed::Done { discarded: 0 });
    while let Some(urc) = calls.try_next_message_pure() {
        received.push(urc);
    }
    assert_eq!(received, vec![Urc::Ring; rings]);
}

#[test]
fn resume_says_so_while_the_channel_is_still_full() {
    let resources = Box::leak(Box::new(Resources::new()));
    let parts = resources.split(Unused, atat::Config::new());
    let mut ingress = parts.ingress;
    let _calls = parts.urcs.subscribe().unwrap();
    let burst: Vec<u8> = b"\r\nRING\r\n".repeat(URC_CAPACITY + 1);
    assert!(matches!(
        feed(&mut ingress, &burst),
        Feed::UrcChannelFull { .. }
    ));
    assert!(!resume(&mut ingress), "nobody read: still full");
}

#[test]
fn ordinary_reads_are_taken_whole() {
    let resources = Box::leak(Box::new(Resources::new()));
    let parts = resources.split(Unused, atat::Config::new());
    let mut ingress = parts.ingress;
    let mut calls = parts.urcs.subscribe().unwrap();
    let bytes = b"\r\nRING\r\n\r\n+CLIP: \"+491761234567\",145,,,,0\r\n\r\nNO CARRIER\r\n";
    for piece in bytes.chunks(7) {
        assert_eq!(feed(&mut ingress, piece), Feed::Done { discarded: 0 });
    }
    let mut received = Vec::new();
    while let Some(urc) = calls.try_next_message_pure() {
        received.push(urc);
    }
    assert_eq!(received.len(), 3);
}

#[test]
fn a_flood_without_line_ends_never_blocks_the_reader() {
    let resources = Box::leak(Box::new(Resources::new()));
    let parts = resources.split(Unused, atat::Config::new());
    let mut ingress = parts.ingress;
    let mut calls = parts.urcs.subscribe().unwrap();
    let flood = vec![b'x'; 10_000];
    assert!(matches!(feed(&mut ingress, &flood), Feed::Done { .. }));
    assert!(matches!(
        feed(&mut ingress, b"\r\n\r\nRING\r\n"),
        Feed::Done { .. }
    ));
    assert_eq!(calls.try_next_message_pure(), Some(Urc::Ring));
}
