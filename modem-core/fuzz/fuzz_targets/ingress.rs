//! The digester inside atat's real `Ingress`, with the driver's buffer sizes and the full
//! URC set, fed a session of SIM7600 lines and noise in arbitrary reads (see
//! `modem_core_fuzz::Session`), with and without a command tracker.
//!
//! Beyond "never panics", it checks the promises the driver's host path relies on: the
//! ingress buffer never has to be thrown away (`Feed::Done { discarded: 0 }`: the buffer is
//! sized so the digester always decides before it fills), and once the URC subscriber has
//! read, `resume` always succeeds.
#![no_main]

use arbitrary::Arbitrary;
use atat::{Ingress, ResponseSlot};
use libfuzzer_sys::fuzz_target;
use modem_core::digest::{CommandTracker, Sim7600Digester};
use modem_core::driver::{
    Feed, INGRESS_BUF_LEN, ModemIngress, ModemUrcChannel, ModemUrcSubscription, RESPONSE_LEN, feed,
    resume,
};
use modem_core_fuzz::{Action, Session, reads};

#[derive(Debug, Arbitrary)]
struct Input {
    tracked: bool,
    session: Session,
}

fn drain(urcs: &mut ModemUrcSubscription<'_>) {
    while let Some(urc) = urcs.try_next_message_pure() {
        std::hint::black_box(urc);
    }
}

fn deliver(
    ingress: &mut ModemIngress<'_>,
    urcs: &mut ModemUrcSubscription<'_>,
    slot: &ResponseSlot<RESPONSE_LEN>,
    bytes: &[u8],
) {
    let mut rest = bytes;
    loop {
        match feed(ingress, rest) {
            Feed::Done { discarded } => {
                assert_eq!(
                    discarded, 0,
                    "the ingress buffer filled before the digester decided"
                );
                break;
            }
            Feed::UrcChannelFull { rest: left } => {
                drain(urcs);
                assert!(resume(ingress), "resume failed with an empty URC channel");
                rest = left;
            }
        }
    }
    if let Some(reply) = slot.try_get() {
        std::hint::black_box(&*reply);
        drop(reply);
        slot.reset();
    }
}

fuzz_target!(|input: Input| {
    let tracker = CommandTracker::new();
    let slot = ResponseSlot::<RESPONSE_LEN>::new();
    let channel = ModemUrcChannel::new();
    let Ok(mut urcs) = channel.subscribe() else {
        return;
    };
    let mut buf = [0u8; INGRESS_BUF_LEN];
    let digester = if input.tracked {
        Sim7600Digester::with_tracker(&tracker)
    } else {
        Sim7600Digester::new()
    };
    let mut ingress: ModemIngress<'_> = Ingress::new(digester, &mut buf, &slot, &channel);
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
            Action::Drain => drain(&mut urcs),
        }
    }
});
