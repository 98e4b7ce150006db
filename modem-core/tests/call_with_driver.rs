//! The call machine and the driver together, as the voice bot runs them: the modem's bytes go
//! through the digester into a URC subscription, the machine decides, the driver acts.
#![allow(clippy::unwrap_used)]

mod support;

use futures::executor::block_on;
use modem_core::call::{CallAction, CallEvent, CallMachine, Caller, EndReason, MissReason};
use modem_core::config::{AnswerMode, VoiceConfig};
use modem_core::urc::PhoneNumber;
use support::{ScriptedModem, drain};

const RING_WITH_CLIP: &[u8] = b"\r\nRING\r\n\r\n+CLIP: \"+491761234567\",145,,,,0\r\n";

fn caller() -> Caller {
    Caller::Number(PhoneNumber::try_from("+491761234567").unwrap())
}

#[test]
fn the_host_answers_on_the_second_ring_and_the_caller_hangs_up() {
    let config = VoiceConfig::new(2, 5)
        .unwrap()
        .with_answer_mode(AnswerMode::Host);
    let mut machine = CallMachine::new(&config);
    let mut modem = ScriptedModem::with_chunks(3);
    let mut urcs = modem.subscribe();
    modem.expect(b"ATA\r", b"\r\nOK\r\n\r\nVOICE CALL: BEGIN\r\n");

    let mut events = Vec::new();
    let mut step = |machine: &mut CallMachine, modem: &mut ScriptedModem, now: u64| {
        for urc in drain(&mut urcs) {
            machine.handle_urc(now, &urc);
        }
        while let Some(action) = machine.poll_action() {
            assert_eq!(action, CallAction::Answer);
            block_on(modem.modem.answer()).unwrap();
            machine.answer_succeeded(now);
        }
        // The URCs that came with ATA's reply.
        for urc in drain(&mut urcs) {
            machine.handle_urc(now, &urc);
        }
        while let Some(event) = machine.poll_event() {
            events.push(event);
        }
    };

    modem.modem_sends(RING_WITH_CLIP);
    step(&mut machine, &mut modem, 0);
    modem.modem_sends(RING_WITH_CLIP);
    step(&mut machine, &mut modem, 3_000);
    modem.modem_sends(b"\r\nVOICE CALL: END: 000012\r\n\r\nNO CARRIER\r\n");
    step(&mut machine, &mut modem, 15_000);

    assert_eq!(
        events,
        vec![
            CallEvent::Ringing {
                ring: 1,
                caller: Caller::Unknown
            },
            CallEvent::CallerIdentified { caller: caller() },
            CallEvent::Ringing {
                ring: 2,
                caller: caller()
            },
            CallEvent::Answered {
                caller: caller(),
                rings: 2
            },
            CallEvent::Ended {
                caller: caller(),
                duration_s: 12,
                reason: EndReason::CallerHungUp
            },
        ]
    );
    modem.assert_script_done();
}

#[test]
fn the_caller_gives_up_before_ata_and_the_modem_says_no_carrier() {
    let config = VoiceConfig::new(1, 5)
        .unwrap()
        .with_answer_mode(AnswerMode::Host);
    let mut machine = CallMachine::new(&config);
    let mut modem = ScriptedModem::new();
    let mut urcs = modem.subscribe();
    // The caller hung up while ATA was on its way: ATA's result is NO CARRIER.
    modem.expect(b"ATA\r", b"\r\nNO CARRIER\r\n");

    modem.modem_sends(RING_WITH_CLIP);
    for urc in drain(&mut urcs) {
        machine.handle_urc(0, &urc);
    }
    assert_eq!(machine.poll_action(), Some(CallAction::Answer));
    let error = block_on(modem.modem.answer()).unwrap_err();
    assert_eq!(error.command, "ATA");
    machine.answer_failed(200);
    modem.modem_sends(b"\r\nMISSED_CALL: 11:01AM +491761234567\r\n");
    for urc in drain(&mut urcs) {
        machine.handle_urc(300, &urc);
    }
    let events: Vec<_> = std::iter::from_fn(|| machine.poll_event()).collect();
    assert_eq!(
        events.last(),
        Some(&CallEvent::Missed {
            caller: caller(),
            rings: 1,
            reason: MissReason::ModemReported
        })
    );
}

#[test]
fn we_hang_up_and_the_end_lines_come_around_the_chup_ok() {
    let mut machine = CallMachine::new(&VoiceConfig::new(1, 5).unwrap());
    let mut modem = ScriptedModem::with_chunks(1);
    let mut urcs = modem.subscribe();
    modem.expect(
        b"AT+CHUP\r",
        b"\r\nVOICE CALL: END: 000030\r\n\r\nOK\r\n\r\nNO CARRIER\r\n",
    );

    modem.modem_sends(b"\r\nRING\r\n\r\nVOICE CALL: BEGIN\r\n");
    for urc in drain(&mut urcs) {
        machine.handle_urc(0, &urc);
    }
    assert!(machine.request_hang_up(30_000));
    assert_eq!(machine.poll_action(), Some(CallAction::HangUp));
    block_on(modem.modem.hang_up()).unwrap();
    for urc in drain(&mut urcs) {
        machine.handle_urc(30_100, &urc);
    }
    let events: Vec<_> = std::iter::from_fn(|| machine.poll_event()).collect();
    assert_eq!(
        events.last(),
        Some(&CallEvent::Ended {
            caller: Caller::Unknown,
            duration_s: 30,
            reason: EndReason::WeHungUp(modem_core::call::HangUpCause::Requested)
        })
    );
}
