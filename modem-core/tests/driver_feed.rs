//! A host reader feeding the ingress: exact accounting when the URC channel is full.
#![allow(clippy::unwrap_used)]

use atat::AtatIngress;
use modem_core::driver::{
    Feed, ModemIngress, ModemUrcSubscription, Resources, URC_CAPACITY, feed, resume,
};
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

const CLIP: &[u8] = b"+CLIP: \"+491761234567\",145,,,,0";

fn caller() -> Urc {
    use modem_core::urc::{CallerId, CliValidity, NumberType};
    Urc::CallerId(CallerId {
        number: Some(heapless::String::try_from("+491761234567").unwrap()),
        number_type: NumberType::International,
        alpha: None,
        validity: CliValidity::Valid,
    })
}

/// What a host reader does: feed, and whenever the channel is full let the call task read
/// everything (into `received`), resume, and feed the rest.
fn feed_patiently(
    ingress: &mut ModemIngress<'_>,
    calls: &mut ModemUrcSubscription<'_>,
    received: &mut Vec<Urc>,
    mut bytes: &[u8],
) -> usize {
    let mut stalls = 0;
    loop {
        match feed(ingress, bytes) {
            Feed::Done { discarded } => {
                assert_eq!(discarded, 0);
                return stalls;
            }
            Feed::UrcChannelFull { rest } => {
                stalls += 1;
                while let Some(urc) = calls.try_next_message_pure() {
                    received.push(urc);
                }
                assert!(resume(ingress), "the call task made room");
                bytes = rest;
            }
        }
    }
}

#[test]
fn a_call_ringing_inside_a_reply_while_the_channel_is_full_loses_no_urc() {
    // `AT+CSQ` with echo on; the call rings between the reply's text and its OK while the
    // call task has not read the rings before: the channel fills up in the middle of the
    // reply, in every chunking of the bytes.
    let mut reply = b"AT+CSQ\r\r\n+CSQ: 16,99\r\n\r\nRING\r\n\r\n".to_vec();
    reply.extend_from_slice(CLIP);
    reply.extend_from_slice(b"\r\n\r\nRING\r\n\r\nOK\r\n");
    let earlier_rings = URC_CAPACITY - 2;
    for chunk in 1..=reply.len() {
        let resources = Box::leak(Box::new(Resources::new()));
        let parts = resources.split(Unused, atat::Config::new());
        let mut ingress = parts.ingress;
        let mut calls = parts.urcs.subscribe().unwrap();
        let mut received = Vec::new();
        let before = b"\r\nRING\r\n".repeat(earlier_rings);
        assert_eq!(
            feed_patiently(&mut ingress, &mut calls, &mut received, &before),
            0
        );
        let mut stalls = 0;
        for piece in reply.chunks(chunk) {
            stalls += feed_patiently(&mut ingress, &mut calls, &mut received, piece);
        }
        while let Some(urc) = calls.try_next_message_pure() {
            received.push(urc);
        }
        assert!(stalls > 0, "chunks of {chunk}: the channel never filled");
        let mut expected = vec![Urc::Ring; earlier_rings];
        expected.extend([Urc::Ring, caller(), Urc::Ring]);
        assert_eq!(received, expected, "chunks of {chunk}");
    }
}

#[test]
fn after_the_host_clears_a_stuck_ingress_the_digester_starts_afresh() {
    // A reply is half in (its text and a RING inside it) when the host gives up on the
    // buffer and clears it, as it does after a long stall. What arrives next is read from
    // its first byte, not from where the lost reply had got to.
    let resources = Box::leak(Box::new(Resources::new()));
    let parts = resources.split(Unused, atat::Config::new());
    let mut ingress = parts.ingress;
    let mut calls = parts.urcs.subscribe().unwrap();
    let mut received = Vec::new();
    feed_patiently(
        &mut ingress,
        &mut calls,
        &mut received,
        b"AT+CLCC\r\r\n+CLCC: 1,1,4,0,0,\"+491761234567\",145\r\n\r\nRING\r\n",
    );
    ingress.clear();
    let mut after = b"\r\nRING\r\n\r\n".to_vec();
    after.extend_from_slice(CLIP);
    after.extend_from_slice(b"\r\n\r\nVOICE CALL: END: 000012\r\n");
    feed_patiently(&mut ingress, &mut calls, &mut received, &after);
    while let Some(urc) = calls.try_next_message_pure() {
        received.push(urc);
    }
    assert_eq!(
        received,
        vec![
            Urc::Ring,
            Urc::Ring,
            caller(),
            Urc::VoiceCallEnd {
                duration_secs: Some(12)
            }
        ]
    );
}

#[test]
fn an_mcu_reader_waits_for_the_call_task_when_the_channel_is_full_and_loses_nothing() {
    // An MCU feeds through atat's async `advance` (`read_from`), which waits for room in the
    // channel instead of failing: every URC inside the reply is delivered once, in order.
    let mut reply = b"AT+CSQ\r\r\n+CSQ: 16,99\r\n\r\nRING\r\n\r\n".to_vec();
    reply.extend_from_slice(CLIP);
    reply.extend_from_slice(b"\r\n\r\nRING\r\n\r\nOK\r\n");
    let earlier_rings = URC_CAPACITY - 1;
    for chunk in [1, 5, 17, reply.len()] {
        let resources = Box::leak(Box::new(Resources::new()));
        let parts = resources.split(Unused, atat::Config::new());
        let mut ingress = parts.ingress;
        let mut calls = parts.urcs.subscribe().unwrap();
        let before = b"\r\nRING\r\n".repeat(earlier_rings);
        assert_eq!(feed(&mut ingress, &before), Feed::Done { discarded: 0 });
        let total = earlier_rings + 3;
        let received = futures::executor::block_on(async {
            let modem = async {
                for piece in reply.chunks(chunk) {
                    ingress.write(piece).await;
                }
            };
            let call_task = async {
                let mut received = Vec::new();
                while received.len() < total {
                    received.push(calls.next_message_pure().await);
                }
                received
            };
            futures::future::join(modem, call_task).await.1
        });
        let mut expected = vec![Urc::Ring; earlier_rings];
        expected.extend([Urc::Ring, caller(), Urc::Ring]);
        assert_eq!(received, expected, "chunks of {chunk}");
        assert_eq!(calls.try_next_message_pure(), None, "chunks of {chunk}");
    }
}

/// A UART that delivers the given reads in turn (an `Err` stands for a read error, such as
/// a framing error), then says so in `idle` and waits forever.
struct Uart {
    reads: std::collections::VecDeque<Result<Vec<u8>, embedded_io::ErrorKind>>,
    idle: std::rc::Rc<std::cell::Cell<bool>>,
}

impl embedded_io::ErrorType for Uart {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io_async::Read for Uart {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        match self.reads.pop_front() {
            Some(Ok(bytes)) => {
                buf[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            Some(Err(error)) => Err(error),
            None => {
                self.idle.set(true);
                std::future::pending().await
            }
        }
    }
}

/// Lets the other future of a `select` run once.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

#[test]
fn a_uart_read_error_in_the_middle_of_a_reply_makes_the_mcu_reader_start_afresh() {
    // atat's `read_from` clears its buffer on a read error; the bytes around the error are
    // gone, and what comes after is read from its first byte.
    let resources = Box::leak(Box::new(Resources::new()));
    let parts = resources.split(Unused, atat::Config::new());
    let mut ingress = parts.ingress;
    let mut calls = parts.urcs.subscribe().unwrap();
    // One read after the error, longer than what the digester held before it (a shorter one
    // would show the loss by its length alone).
    let mut after = b"\r\nRING\r\n\r\n".to_vec();
    after.extend_from_slice(CLIP);
    after.extend_from_slice(b"\r\n\r\nVOICE CALL: END: 000012\r\n");
    let idle = std::rc::Rc::new(std::cell::Cell::new(false));
    let uart = Uart {
        reads: [
            Ok(b"AT+CLCC\r\r\n+CLCC: 1,1,4,0,0,\"+491761234567\",145\r\n\r\nRING\r\n".to_vec()),
            Err(embedded_io::ErrorKind::InvalidData),
            Ok(after),
        ]
        .into(),
        idle: idle.clone(),
    };
    futures::executor::block_on(async {
        let reader = core::pin::pin!(ingress.read_from(uart));
        let all_read = core::pin::pin!(async {
            while !idle.get() {
                YieldNow(false).await;
            }
        });
        match futures::future::select(reader, all_read).await {
            futures::future::Either::Right(((), _)) => {}
            futures::future::Either::Left((never, _)) => match never {},
        }
    });
    let mut received = Vec::new();
    while let Some(urc) = calls.try_next_message_pure() {
        received.push(urc);
    }
    assert_eq!(
        received,
        vec![
            Urc::Ring,
            Urc::Ring,
            caller(),
            Urc::VoiceCallEnd {
                duration_secs: Some(12)
            }
        ]
    );
}
