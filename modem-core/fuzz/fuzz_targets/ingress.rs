//! The digester inside atat's real `Ingress`, with the driver's buffer sizes and the full
//! URC set, fed a session of SIM7600 lines and noise in arbitrary reads (see
//! `modem_core_fuzz::Session`), with and without a command tracker.
//!
//! Beyond "never panics", it checks the promise the driver's buffer sizes make: the ingress
//! buffer never fills before the digester has decided (a full buffer makes atat drop bytes
//! or clear the buffer). The URC channel here is large enough for every URC one read can
//! hold and is read after every read, so `UrcChannelFull` cannot happen and any error from
//! the ingress is a failure. It drives atat's `Ingress` directly rather than the driver's
//! wrapper, so that it fuzzes exactly the digester and atat.
#![no_main]

use arbitrary::Arbitrary;
use atat::{AtatIngress, Ingress, ResponseSlot, UrcChannel, UrcSubscription};
use libfuzzer_sys::fuzz_target;
use modem_core::digest::{CommandTracker, Sim7600Digester};
use modem_core::driver::{INGRESS_BUF_LEN, RESPONSE_LEN};
use modem_core::urc::Urc;
use modem_core_fuzz::{Action, MAX_READ, Session, reads};

/// More URCs than one read of [`MAX_READ`] bytes can hold (the shortest URC line, `RDY\n`,
/// takes 4 bytes).
const URC_CAPACITY: usize = MAX_READ / 4 + 1;

type Channel = UrcChannel<Urc, URC_CAPACITY, 1>;
type Subscription<'a> = UrcSubscription<'a, Urc, URC_CAPACITY, 1>;
type FuzzIngress<'a> = Ingress<'a, Sim7600Digester<'a>, Urc, RESPONSE_LEN, URC_CAPACITY, 1>;

#[derive(Debug, Arbitrary)]
struct Input {
    tracked: bool,
    session: Session,
}

fn deliver(
    ingress: &mut FuzzIngress<'_>,
    urcs: &mut Subscription<'_>,
    slot: &ResponseSlot<RESPONSE_LEN>,
    bytes: &[u8],
) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let free = ingress.write_buf();
        assert!(
            !free.is_empty(),
            "the ingress buffer filled before the digester decided"
        );
        let n = free.len().min(rest.len());
        let (now, later) = rest.split_at(n);
        free[..n].copy_from_slice(now);
        rest = later;
        if let Err(error) = ingress.try_advance(n) {
            panic!("the ingress failed with the URC channel read after every read: {error:?}");
        }
    }
    if let Some(reply) = slot.try_get() {
        std::hint::black_box(&*reply);
        drop(reply);
        slot.reset();
    }
    while let Some(urc) = urcs.try_next_message_pure() {
        std::hint::black_box(urc);
    }
}

fuzz_target!(|input: Input| {
    let tracker = CommandTracker::new();
    let slot = ResponseSlot::<RESPONSE_LEN>::new();
    let channel = Channel::new();
    let Ok(mut urcs) = channel.subscribe() else {
        return;
    };
    let mut buf = [0u8; INGRESS_BUF_LEN];
    let digester = if input.tracked {
        Sim7600Digester::with_tracker(&tracker)
    } else {
        Sim7600Digester::new()
    };
    let mut ingress: FuzzIngress<'_> = Ingress::new(digester, &mut buf, &slot, &channel);
    let mut next_chunk = 0;
    for step in &input.session.steps {
        match step.action() {
            Action::Write(command) => {
                slot.reset();
                tracker.command_sent(&command);
            }
            Action::Receive(bytes) => {
                for read in reads(&bytes, &input.session.chunks, &mut next_chunk) {
                    deliver(&mut ingress, &mut urcs, &slot, read);
                }
            }
        }
    }
});
