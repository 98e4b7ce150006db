//! The driver's host path against the plain one: the same session, in the same reads,
//! through `driver::ModemIngress` with the driver's small URC channel
//! (`driver::URC_CAPACITY`) and `driver::feed` / `driver::resume` (the reader thread's way:
//! when the channel is full, let the subscriber read, resume, feed the rest), and through
//! atat's `Ingress` with a channel too large to ever fill.
//!
//! Checks: the driver's path hands out exactly the URCs of the plain path, in the same
//! order (none lost or doubled by a full channel or a stall); the ingress buffer is never
//! thrown away; `resume` succeeds once the subscriber has read.
#![no_main]

use arbitrary::Arbitrary;
use atat::{AtatIngress, Ingress, ResponseSlot, UrcChannel};
use libfuzzer_sys::fuzz_target;
use modem_core::digest::{CommandTracker, IngressNotices, Sim7600Digester};
use modem_core::driver::{
    Feed, INGRESS_BUF_LEN, ModemIngress, ModemUrcChannel, ModemUrcSubscription, RESPONSE_LEN, feed,
    resume,
};
use modem_core::urc::Urc;
use modem_core_fuzz::{Action, MAX_READ, Session, reads};

/// More URCs than one read can hold, so the plain path never stalls.
const WIDE: usize = MAX_READ / 4 + 1;

#[derive(Debug, Arbitrary)]
struct Input {
    tracked: bool,
    session: Session,
}

fn digester(tracked: bool, tracker: &CommandTracker) -> Sim7600Digester<'_> {
    if tracked {
        Sim7600Digester::with_tracker(tracker)
    } else {
        Sim7600Digester::new()
    }
}

/// The URCs of the session through atat's `Ingress` with a channel that never fills.
fn plain(input: &Input) -> Vec<Urc> {
    let tracker = CommandTracker::new();
    let slot = ResponseSlot::<RESPONSE_LEN>::new();
    let channel = UrcChannel::<Urc, WIDE, 1>::new();
    let Ok(mut sub) = channel.subscribe() else {
        return Vec::new();
    };
    let mut buf = [0u8; INGRESS_BUF_LEN];
    let mut ingress: Ingress<'_, _, Urc, RESPONSE_LEN, WIDE, 1> =
        Ingress::new(digester(input.tracked, &tracker), &mut buf, &slot, &channel);
    let mut urcs = Vec::new();
    let mut next = 0;
    for step in &input.session.steps {
        match step.action() {
            Action::Write(command) => {
                slot.reset();
                tracker.command_sent(&command);
            }
            Action::Receive(bytes) => {
                for read in reads(&bytes, &input.session.chunks, &mut next) {
                    let written = ingress.try_write(read);
                    assert_eq!(written.ok(), Some(read.len()), "plain path");
                    if slot.try_get().is_some() {
                        slot.reset();
                    }
                    while let Some(urc) = sub.try_next_message_pure() {
                        urcs.push(urc);
                    }
                }
            }
        }
    }
    urcs
}

fn drain(sub: &mut ModemUrcSubscription<'_>, urcs: &mut Vec<Urc>) {
    while let Some(urc) = sub.try_next_message_pure() {
        urcs.push(urc);
    }
}

/// The URCs of the session through the driver's ingress, channel and feed/resume; the
/// subscriber reads only when the channel is full and at the end.
fn driver(input: &Input) -> Vec<Urc> {
    let tracker = CommandTracker::new();
    let notices = IngressNotices::new();
    let slot = ResponseSlot::<RESPONSE_LEN>::new();
    let channel = ModemUrcChannel::new();
    let Ok(mut sub) = channel.subscribe() else {
        return Vec::new();
    };
    let mut buf = [0u8; INGRESS_BUF_LEN];
    let mut ingress = ModemIngress::new(
        digester(input.tracked, &tracker),
        &notices,
        &mut buf,
        &slot,
        &channel,
    );
    let mut urcs = Vec::new();
    let mut next = 0;
    for step in &input.session.steps {
        match step.action() {
            Action::Write(command) => {
                slot.reset();
                tracker.command_sent(&command);
            }
            Action::Receive(bytes) => {
                for read in reads(&bytes, &input.session.chunks, &mut next) {
                    let mut rest = read;
                    loop {
                        match feed(&mut ingress, rest) {
                            Feed::Done { discarded } => {
                                assert_eq!(discarded, 0, "the driver's ingress buffer filled");
                                break;
                            }
                            Feed::UrcChannelFull { rest: left } => {
                                drain(&mut sub, &mut urcs);
                                assert!(resume(&mut ingress), "resume failed after a drain");
                                rest = left;
                            }
                        }
                    }
                    if slot.try_get().is_some() {
                        slot.reset();
                    }
                }
            }
        }
    }
    drain(&mut sub, &mut urcs);
    urcs
}

fuzz_target!(|input: Input| {
    let expected = plain(&input);
    let got = driver(&input);
    assert_eq!(
        got, expected,
        "the driver's path lost, doubled or reordered URCs"
    );
});
