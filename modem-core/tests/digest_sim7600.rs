//! The SIM7600 digester inside atat's real `Ingress`, fed the SIM7600's bytes in every
//! chunking: what reaches the waiting command (the response slot) and what reaches the URC
//! subscribers.
#![allow(clippy::unwrap_used)]

use atat::{
    AtatIngress, CmeError, CmsError, ConnectionError, Ingress, Response, ResponseSlot, UrcChannel,
};
use modem_core::digest::{
    CommandTracker, INGRESS_BUF_SIZE, IngressNotices, MAX_LINE_LEN, PendingCommand, Sim7600Digester,
};
use modem_core::urc::{
    CallDirection, CallMode, CallState, CallStatus, CallerId, CliValidity, DtmfKey, NewMessage,
    NumberType, RingType, SimState, Urc,
};
use proptest::prelude::*;

type Reply = Response<INGRESS_BUF_SIZE>;

/// What the modem side of a test does: the host writes a command, or the modem sends bytes
/// (split into the given chunks).
enum Step<'a> {
    Send(&'a [u8]),
    Recv(Vec<&'a [u8]>),
}

#[derive(Debug, Default, PartialEq)]
struct Seen {
    replies: Vec<Reply>,
    urcs: Vec<Urc>,
}

/// Runs the steps through a real `atat::Ingress` with a tracked digester.
fn run(steps: &[Step<'_>]) -> Seen {
    run_with(steps, true)
}

fn run_with(steps: &[Step<'_>], tracked: bool) -> Seen {
    let tracker = CommandTracker::new();
    let slot = ResponseSlot::<INGRESS_BUF_SIZE>::new();
    let channel = UrcChannel::<Urc, 64, 1>::new();
    let mut subscription = channel.subscribe().unwrap();
    let mut buf = [0u8; INGRESS_BUF_SIZE];
    let digester = if tracked {
        Sim7600Digester::with_tracker(&tracker)
    } else {
        Sim7600Digester::new()
    };
    let mut ingress = Ingress::new(digester, &mut buf, &slot, &channel);
    let mut seen = Seen::default();
    for step in steps {
        match step {
            Step::Send(command) => {
                // What atat's client does before writing: forget a stale response.
                slot.reset();
                tracker.command_sent(command);
            }
            Step::Recv(chunks) => {
                for chunk in chunks {
                    let written = ingress.try_write(chunk).unwrap();
                    assert_eq!(written, chunk.len(), "ingress buffer full");
                    if let Some(reply) = slot.try_get() {
                        seen.replies.push(reply.clone());
                        drop(reply);
                        slot.reset();
                    }
                    while let Some(urc) = subscription.try_next_message_pure() {
                        seen.urcs.push(urc);
                    }
                }
            }
        }
    }
    seen
}

/// The command, then the modem's reply in one chunk.
fn exchange(command: &[u8], reply: &[u8]) -> Seen {
    run(&[Step::Send(command), Step::Recv(vec![reply])])
}

/// Checks `expected` for the reply delivered whole, byte by byte, and split in two at every
/// position.
fn in_every_chunking(command: &[u8], reply: &[u8], expected: &Seen) {
    assert_eq!(&exchange(command, reply), expected, "whole");
    let bytes: Vec<&[u8]> = reply.chunks(1).collect();
    assert_eq!(
        &run(&[Step::Send(command), Step::Recv(bytes)]),
        expected,
        "byte by byte"
    );
    for cut in 1..reply.len() {
        let (a, b) = reply.split_at(cut);
        assert_eq!(
            &run(&[Step::Send(command), Step::Recv(vec![a, b])]),
            expected,
            "split at {cut}: {:?} | {:?}",
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b)
        );
    }
}

fn ok(text: &str) -> Reply {
    Response::ok(text.as_bytes())
}

fn s<const N: usize>(text: &str) -> heapless::String<N> {
    heapless::String::try_from(text).unwrap()
}

fn caller() -> Urc {
    Urc::CallerId(CallerId {
        number: Some(s("+491761234567")),
        number_type: NumberType::International,
        alpha: None,
        validity: CliValidity::Valid,
    })
}

const CLIP: &str = "+CLIP: \"+491761234567\",145,,,,0";

#[test]
fn detection_with_echo_still_on() {
    in_every_chunking(
        b"AT\r",
        b"AT\r\r\nOK\r\n",
        &Seen {
            replies: vec![ok("")],
            urcs: vec![],
        },
    );
    in_every_chunking(
        b"AT+CGMI\r",
        b"AT+CGMI\r\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n",
        &Seen {
            replies: vec![ok("SIMCOM INCORPORATED")],
            urcs: vec![],
        },
    );
    in_every_chunking(
        b"AT+CGMM\r",
        b"AT+CGMM\r\r\nSIMCOM_SIM7600E-H\r\n\r\nOK\r\n",
        &Seen {
            replies: vec![ok("SIMCOM_SIM7600E-H")],
            urcs: vec![],
        },
    );
}

#[test]
fn bare_replies_with_echo_off() {
    for (command, reply, text) in [
        (
            &b"AT+CGSN\r"[..],
            &b"\r\n351602000330570\r\n\r\nOK\r\n"[..],
            "351602000330570",
        ),
        (b"ATS0?\r", b"\r\n000\r\n\r\nOK\r\n", "000"),
        (b"AT+CSQ\r", b"\r\n+CSQ: 16,99\r\n\r\nOK\r\n", "+CSQ: 16,99"),
    ] {
        in_every_chunking(
            command,
            reply,
            &Seen {
                replies: vec![ok(text)],
                urcs: vec![],
            },
        );
    }
}

#[test]
fn ring_and_caller_id_between_a_reply_and_its_ok() {
    let reply = format!("\r\n+CSQ: 16,99\r\n\r\nRING\r\n\r\n{CLIP}\r\n\r\nOK\r\n");
    in_every_chunking(
        b"AT+CSQ\r",
        reply.as_bytes(),
        &Seen {
            replies: vec![ok("+CSQ: 16,99")],
            urcs: vec![Urc::Ring, caller()],
        },
    );
}

#[test]
fn ring_and_caller_id_between_an_echoed_bare_reply_and_its_ok() {
    let reply = format!("AT+CGMI\r\r\nSIMCOM INCORPORATED\r\n\r\nRING\r\n\r\n{CLIP}\r\n\r\nOK\r\n");
    in_every_chunking(
        b"AT+CGMI\r",
        reply.as_bytes(),
        &Seen {
            replies: vec![ok("SIMCOM INCORPORATED")],
            urcs: vec![Urc::Ring, caller()],
        },
    );
}

#[test]
fn ring_before_the_reply_and_after_the_ok() {
    let reply = format!("\r\nRING\r\n\r\n+CSQ: 16,99\r\n\r\nOK\r\n\r\n{CLIP}\r\n");
    in_every_chunking(
        b"AT+CSQ\r",
        reply.as_bytes(),
        &Seen {
            replies: vec![ok("+CSQ: 16,99")],
            urcs: vec![Urc::Ring, caller()],
        },
    );
}

#[test]
fn ring_between_the_lines_of_a_multi_line_reply() {
    let reply =
        b"\r\nManufacturer: SIMCOM INCORPORATED\r\nModel: SIMCOM_SIM7600G-H\r\n\r\nRING\r\n\
Revision: SIM7600M22_V2.0\r\nIMEI: 351602000330570\r\n+GCAP: +CGSM\r\n\r\nOK\r\n";
    let seen = exchange(b"ATI\r", reply);
    assert_eq!(seen.urcs, vec![Urc::Ring]);
    let [Response::Ok(text)] = seen.replies.as_slice() else {
        panic!("{seen:?}")
    };
    let text = String::from_utf8_lossy(text);
    assert!(
        text.starts_with("Manufacturer: SIMCOM INCORPORATED\r\n"),
        "{text}"
    );
    assert!(text.ends_with("+GCAP: +CGSM"), "{text}");
}

#[test]
fn incoming_call_answered_on_the_third_ring_caller_hangs_up_after_42_s() {
    let mut bytes = Vec::new();
    for _ in 0..3 {
        bytes.extend_from_slice(format!("\r\nRING\r\n\r\n{CLIP}\r\n").as_bytes());
    }
    bytes.extend_from_slice(
        b"\r\nVOICE CALL: BEGIN\r\n\r\nVOICE CALL: END: 000042\r\n\r\nNO CARRIER\r\n",
    );
    let seen = run(&[Step::Recv(bytes.chunks(1).collect())]);
    assert_eq!(
        seen.urcs,
        vec![
            Urc::Ring,
            caller(),
            Urc::Ring,
            caller(),
            Urc::Ring,
            caller(),
            Urc::VoiceCallBegin,
            Urc::VoiceCallEnd {
                duration_secs: Some(42)
            },
            Urc::NoCarrier,
        ]
    );
    assert_eq!(seen.replies, vec![]);
}

#[test]
fn bare_word_urcs_with_echo_off_are_not_taken_for_echo() {
    // atat #219: RING, SMS DONE, PB DONE, RDY look like an echo to AtDigester.
    let seen = run(&[Step::Recv(vec![
        b"\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n\r\nRING\r\n",
    ])]);
    assert_eq!(
        seen.urcs,
        vec![
            Urc::Ready,
            Urc::SimStatus(SimState::Ready),
            Urc::SmsReady,
            Urc::PhonebookReady,
            Urc::Ring
        ]
    );
}

#[test]
fn urcs_framed_with_cr_cr_lf() {
    let bytes = b"\r\r\n+CRING: VOICE\r\r\n\r\r\n+RXDTMF: 5\r\r\n\r\r\n+RXDTMF: #\r\r\n";
    for chunks in [vec![&bytes[..]], bytes.chunks(1).collect()] {
        let seen = run(&[Step::Recv(chunks)]);
        assert_eq!(
            seen.urcs,
            vec![
                Urc::CellularRing(RingType::Voice),
                Urc::Dtmf(DtmfKey::from_ascii(b'5').unwrap()),
                Urc::Dtmf(DtmfKey::from_ascii(b'#').unwrap()),
            ]
        );
    }
}

#[test]
fn cme_and_cms_errors_numeric_and_text() {
    let cases: [(&[u8], Reply); 6] = [
        (
            b"\r\n+CME ERROR: 10\r\n",
            Response::CmeError(CmeError::SimNotInserted.into()),
        ),
        (
            b"\r\n+CME ERROR: SIM not inserted\r\n",
            Response::CmeError(CmeError::SimNotInserted.into()),
        ),
        (
            b"\r\n+CMS ERROR: 340\r\n",
            Response::CmsError(CmsError::from(340).into()),
        ),
        (
            "\r\n+CMS ERROR \u{ff1a}340\r\n".as_bytes(),
            Response::CmsError(CmsError::from(340).into()),
        ),
        (
            b"\r\n+CMS ERROR: Invalid text mode parameter\r\n",
            Response::CmsError(CmsError::InvalidTextParameter.into()),
        ),
        (
            b"\r\n+CME ERROR: the modem is sulking\r\n",
            Response::CustomError(
                heapless::Vec::from_slice(b"+CME ERROR: the modem is sulking").unwrap(),
            ),
        ),
    ];
    for (bytes, expected) in cases {
        in_every_chunking(
            b"AT+CPIN?\r",
            bytes,
            &Seen {
                replies: vec![expected],
                urcs: vec![],
            },
        );
    }
    in_every_chunking(
        b"AT+CEXTERNTONE=1\r",
        b"\r\nERROR\r\n",
        &Seen {
            replies: vec![Response::OtherError],
            urcs: vec![],
        },
    );
}

#[test]
fn sms_in_text_mode_prompt_then_body() {
    let seen = run(&[
        Step::Send(b"AT+CMGS=\"+491721234567\"\r"),
        Step::Recv(vec![b"\r\n> "]),
        Step::Send(b"Hello\x1a"),
        Step::Recv(vec![b"\r\n+CMGS: 12\r\n\r\nOK\r\n"]),
    ]);
    assert_eq!(seen.replies, vec![Response::Prompt(b'>'), ok("+CMGS: 12")]);
}

#[test]
fn sms_prompt_with_echo_and_a_ring_right_behind_it() {
    // atat #232: the prompt is not the last thing in the buffer.
    let reply = b"AT+CMGS=21\r\r\n> \r\nRING\r\n";
    for chunks in [vec![&reply[..]], reply.chunks(1).collect()] {
        let seen = run(&[Step::Send(b"AT+CMGS=21\r"), Step::Recv(chunks)]);
        assert_eq!(seen.replies, vec![Response::Prompt(b'>')]);
        assert_eq!(seen.urcs, vec![Urc::Ring]);
    }
}

#[test]
fn sms_body_echo_is_skipped() {
    let seen = run(&[
        Step::Send(b"AT+CMGS=21\r"),
        Step::Recv(vec![b"AT+CMGS=21\r\r\n> "]),
        Step::Send(b"0011000B911326880736F40000A90AE8329BFD4697D9EC37\x1a"),
        Step::Recv(vec![
            b"0011000B911326880736F40000A90AE8329BFD4697D9EC37\x1a\r\n+CMGS: 7\r\n\r\nOK\r\n",
        ]),
    ]);
    assert_eq!(seen.replies, vec![Response::Prompt(b'>'), ok("+CMGS: 7")]);
}

#[test]
fn answer_without_an_incoming_call_fails_with_no_carrier() {
    in_every_chunking(
        b"ATA\r",
        b"\r\nNO CARRIER\r\n",
        &Seen {
            replies: vec![Response::ConnectionError(ConnectionError::NoCarrier as u8)],
            urcs: vec![],
        },
    );
}

#[test]
fn answer_then_the_call_ends_with_no_carrier_as_a_urc() {
    let seen = run(&[
        Step::Send(b"ATA\r"),
        Step::Recv(vec![b"\r\nOK\r\n\r\nVOICE CALL: BEGIN\r\n"]),
        Step::Recv(vec![b"\r\nVOICE CALL: END: 000117\r\n\r\nNO CARRIER\r\n"]),
    ]);
    assert_eq!(seen.replies, vec![ok("")]);
    assert_eq!(
        seen.urcs,
        vec![
            Urc::VoiceCallBegin,
            Urc::VoiceCallEnd {
                duration_secs: Some(77)
            },
            Urc::NoCarrier
        ]
    );
}

#[test]
fn hang_up_with_the_end_lines_around_the_ok() {
    let reply = b"\r\nVOICE CALL: END: 000005\r\n\r\nOK\r\n\r\nNO CARRIER\r\n";
    in_every_chunking(
        b"AT+CHUP\r",
        reply,
        &Seen {
            replies: vec![ok("")],
            urcs: vec![
                Urc::VoiceCallEnd {
                    duration_secs: Some(5),
                },
                Urc::NoCarrier,
            ],
        },
    );
}

fn incoming(id: u8, state: CallState) -> CallStatus {
    CallStatus {
        id,
        direction: CallDirection::MobileTerminated,
        state,
        mode: CallMode::Voice,
        multiparty: false,
        number: Some(s("+491761234567")),
        number_type: Some(NumberType::International),
        alpha: None,
        validity: None,
    }
}

#[test]
fn call_list_reply_versus_call_status_urc() {
    let line = "+CLCC: 1,1,4,0,0,\"+491761234567\",145";
    // After AT+CLCC the line is the reply...
    let reply = format!("\r\n{line}\r\n\r\nOK\r\n");
    in_every_chunking(
        b"AT+CLCC\r",
        reply.as_bytes(),
        &Seen {
            replies: vec![ok(line)],
            urcs: vec![],
        },
    );
    // ...with AT+CLCC=1 on and no command in flight it is a URC...
    let seen = run(&[Step::Recv(vec![format!("\r\n{line}\r\n").as_bytes()])]);
    assert_eq!(
        seen.urcs,
        vec![Urc::CallStatus(incoming(1, CallState::Incoming))]
    );
    // ...and while another command runs it is a URC too.
    let reply = format!("\r\n{line}\r\n\r\nOK\r\n");
    in_every_chunking(
        b"AT+CHUP\r",
        reply.as_bytes(),
        &Seen {
            replies: vec![ok("")],
            urcs: vec![Urc::CallStatus(incoming(1, CallState::Incoming))],
        },
    );
}

#[test]
fn sim_status_reply_versus_sim_status_urc() {
    in_every_chunking(
        b"AT+CPIN?\r",
        b"\r\n+CPIN: READY\r\n\r\nOK\r\n",
        &Seen {
            replies: vec![ok("+CPIN: READY")],
            urcs: vec![],
        },
    );
    in_every_chunking(
        b"AT+CSQ\r",
        b"\r\n+CPIN: SIM REMOVED\r\n\r\n+CSQ: 99,99\r\n\r\nOK\r\n",
        &Seen {
            replies: vec![ok("+CSQ: 99,99")],
            urcs: vec![Urc::SimStatus(SimState::Removed)],
        },
    );
}

#[test]
fn new_sms_then_read_in_pdu_mode() {
    let seen = run(&[Step::Recv(vec![b"\r\n+CMTI: \"SM\",0\r\n"])]);
    assert_eq!(seen.urcs.len(), 1);
    let pdu = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07";
    let reply = format!("\r\n+CMGR: 0,,30\r\n{pdu}\r\n\r\nOK\r\n");
    in_every_chunking(
        b"AT+CMGR=0\r",
        reply.as_bytes(),
        &Seen {
            replies: vec![ok(&format!("+CMGR: 0,,30\r\n{pdu}"))],
            urcs: vec![],
        },
    );
}

#[test]
fn text_sms_that_reads_like_modem_lines_stays_text() {
    for body in ["RING", "OK", "NO CARRIER", "AT+CHUP", "> "] {
        let header = "+CMGR: \"REC UNREAD\",\"+491761234567\",\"\",\"24/05/01,10:00:00+08\"";
        let reply = format!("\r\n{header}\r\n{body}\r\n\r\nOK\r\n");
        let seen = exchange(b"AT+CMGR=3\r", reply.as_bytes());
        assert_eq!(
            seen.replies,
            vec![ok(&format!("{header}\r\n{}", body.trim_end()))],
            "{body}"
        );
        assert_eq!(seen.urcs, vec![], "{body}");
    }
}

#[test]
fn over_long_line_fails_the_command_then_the_next_command_works() {
    let long = vec![b'7'; MAX_LINE_LEN + 100];
    let seen = run(&[
        Step::Send(b"AT+CGSN\r"),
        Step::Recv(vec![b"\r\n", &long, b"\r\n\r\nOK\r\n"]),
        Step::Send(b"AT+CSQ\r"),
        Step::Recv(vec![b"\r\n+CSQ: 16,99\r\n\r\nOK\r\n"]),
    ]);
    assert_eq!(seen.replies.first(), Some(&Response::CapacityError));
    assert_eq!(seen.replies.last(), Some(&ok("+CSQ: 16,99")));
}

#[test]
fn over_long_line_byte_by_byte_then_the_next_command_works() {
    let mut bytes = b"\r\n".to_vec();
    bytes.extend(std::iter::repeat_n(b'x', 3 * INGRESS_BUF_SIZE));
    bytes.extend_from_slice(b"\r\n");
    let seen = run(&[
        Step::Send(b"AT+CGMR\r"),
        Step::Recv(bytes.chunks(1).collect()),
        Step::Send(b"AT+CSQ\r"),
        Step::Recv(vec![b"\r\n+CSQ: 16,99\r\n\r\nOK\r\n"]),
    ]);
    assert_eq!(
        seen.replies,
        vec![Response::CapacityError, ok("+CSQ: 16,99")]
    );
}

#[test]
fn garbage_with_nothing_in_flight_is_dropped_and_the_stream_resyncs() {
    let seen = run(&[
        Step::Recv(vec![
            b"\xff\xfe\x00garbage\r\n+CGEV: ME PDN DEACT 1\r\n\r\nRING\r\n",
        ]),
        Step::Send(b"AT+CSQ\r"),
        Step::Recv(vec![b"\r\n+CSQ: 16,99\r\n\r\nOK\r\n"]),
    ]);
    assert_eq!(seen.urcs, vec![Urc::Ring]);
    assert_eq!(seen.replies, vec![ok("+CSQ: 16,99")]);
}

#[test]
fn without_a_tracker_the_echo_tells_the_command() {
    let seen = run_with(
        &[Step::Recv(vec![
            b"AT+CLCC\r\r\n+CLCC: 1,1,0,0,0,\"+491761234567\",145\r\n\r\nOK\r\n",
        ])],
        false,
    );
    assert_eq!(
        seen.replies,
        vec![ok("+CLCC: 1,1,0,0,0,\"+491761234567\",145")]
    );
    assert_eq!(seen.urcs, vec![]);
}

#[test]
fn tracker_classifies_what_the_client_writes() {
    for (bytes, kind) in [
        (&b"AT+CLCC\r"[..], PendingCommand::ListCalls),
        (b"AT+CLCC=1\r", PendingCommand::Other),
        (b"AT+CPIN?\r", PendingCommand::SimStatus),
        (b"ATA\r", PendingCommand::CallSetup),
        (b"ATD+4917612345;\r", PendingCommand::CallSetup),
        (b"AT+CMGR=3\r", PendingCommand::ReadMessage),
        (b"AT+CMGS=21\r", PendingCommand::SendMessage),
        (b"0011000B91\x1a", PendingCommand::MessageBody),
        (b"ATS0=3\r", PendingCommand::Other),
    ] {
        assert_eq!(PendingCommand::of_command(bytes), kind, "{bytes:?}");
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic_the_digester(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..40),
        tracked in any::<bool>(),
    ) {
        let steps: Vec<Step<'_>> = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| if i % 7 == 3 { Step::Send(c) } else { Step::Recv(vec![c]) })
            .collect();
        let _ = run_with(&steps, tracked);
    }

    #[test]
    fn modem_like_lines_in_random_order_never_panic(
        lines in proptest::collection::vec(
            prop::sample::select(vec![
                "\r\n", "\r\r\n", "OK", "ERROR", "RING", "+CLIP: \"1\",129,,,,0", "> ",
                "+CME ERROR: 3", "+CMGR: 0,,30", "NO CARRIER", "AT+CSQ\r", "+CSQ: 1,2",
                "\x1a", "+CLCC: 1,1,4,0,0", "VOICE CALL: END: 000042",
            ]),
            0..60,
        ),
        cut in 1usize..8,
    ) {
        let bytes: Vec<u8> = lines.concat().into_bytes();
        let steps = [Step::Send(b"AT+CLCC\r"), Step::Recv(bytes.chunks(cut).collect())];
        let _ = run(&steps);
    }
}

#[test]
fn ring_between_a_reply_and_its_error() {
    in_every_chunking(
        b"AT+CMGR=9\r",
        b"\r\n+CMGR: 0,,30\r\n0791\r\n\r\nRING\r\n\r\n+CMS ERROR: 321\r\n",
        &Seen {
            replies: vec![Response::CmsError(CmsError::InvalidIndex.into())],
            urcs: vec![Urc::Ring],
        },
    );
}

#[test]
fn reply_longer_than_the_limit_fails_then_the_next_command_works() {
    let line = format!("+CLCC: 1,1,4,0,0,\"{}\",145\r\n", "1".repeat(20));
    let mut reply = b"\r\n".to_vec();
    while reply.len() <= modem_core::digest::MAX_RESPONSE_LEN {
        reply.extend_from_slice(line.as_bytes());
    }
    reply.extend_from_slice(b"\r\nOK\r\n");
    let seen = run(&[
        Step::Send(b"AT+CLCC\r"),
        Step::Recv(reply.chunks(16).collect()),
        Step::Send(b"AT+CSQ\r"),
        Step::Recv(vec![b"\r\n+CSQ: 16,99\r\n\r\nOK\r\n"]),
    ]);
    assert_eq!(seen.replies.first(), Some(&Response::CapacityError));
    assert_eq!(seen.replies.last(), Some(&ok("+CSQ: 16,99")));
}

#[test]
fn more_urcs_inside_one_reply_than_it_can_hold_keep_the_reply_intact() {
    let limit = modem_core::digest::MAX_INTERLEAVED_URCS;
    let mut reply = b"\r\n+CSQ: 16,99\r\n".to_vec();
    for _ in 0..limit + 2 {
        reply.extend_from_slice(b"\r\nRING\r\n");
    }
    reply.extend_from_slice(b"\r\nOK\r\n");
    let seen = exchange(b"AT+CSQ\r", &reply);
    assert_eq!(seen.replies, vec![ok("+CSQ: 16,99")]);
    assert_eq!(seen.urcs, vec![Urc::Ring; limit]);
}

#[test]
fn every_urc_of_the_protocol_notes_in_both_framings_reaches_the_subscriber() {
    let lines = [
        "RDY",
        "+CPIN: READY",
        "+CPIN: SIM REMOVED",
        "+CPIN: NOT READY",
        "SMS DONE",
        "PB DONE",
        "RING",
        "+CRING: VOICE",
        CLIP,
        "+CLIP: \"02152063113\",128,,,\"gongsi\",0",
        "VOICE CALL: BEGIN",
        "VOICE CALL: END: 000042",
        "VOICE CALL:END:000017",
        "MISSED_CALL: 11:01AM 07712345678",
        "NO CARRIER",
        "BUSY",
        "NO ANSWER",
        "+CLCC: 1,1,4,0,0,\"+491761234567\",145",
        "+CMTI: \"SM\",0",
        "+RXDTMF: *",
    ];
    for line in lines {
        let expected = Urc::parse(line.as_bytes()).unwrap();
        for framed in [format!("\r\n{line}\r\n"), format!("\r\r\n{line}\r\r\n")] {
            let bytes = framed.as_bytes();
            for chunks in [vec![bytes], bytes.chunks(1).collect()] {
                let seen = run(&[Step::Recv(chunks)]);
                assert_eq!(seen.urcs, vec![expected.clone()], "{framed:?}");
                assert_eq!(seen.replies, vec![], "{framed:?}");
            }
        }
    }
}

#[test]
fn endless_blank_lines_inside_a_reply_never_fill_the_buffer() {
    let mut bytes = b"\r\n+CSQ: 16,99\r\n".to_vec();
    bytes.extend(b"\r\n".repeat(INGRESS_BUF_SIZE));
    let seen = run(&[
        Step::Send(b"AT+CSQ\r"),
        Step::Recv(bytes.chunks(7).collect()),
        Step::Send(b"AT+CSQ\r"),
        Step::Recv(vec![b"\r\n+CSQ: 16,99\r\n\r\nOK\r\n"]),
    ]);
    assert_eq!(
        seen.replies,
        vec![Response::CapacityError, ok("+CSQ: 16,99")]
    );
}

#[test]
fn endless_carriage_returns_never_fill_the_buffer() {
    let bytes = vec![b'\r'; 2 * INGRESS_BUF_SIZE];
    let seen = run(&[
        Step::Send(b"AT+CSQ\r"),
        Step::Recv(bytes.chunks(1).collect()),
        Step::Recv(vec![b"\n"]),
        Step::Send(b"AT+CSQ\r"),
        Step::Recv(vec![b"\r\n+CSQ: 16,99\r\n\r\nOK\r\n"]),
    ]);
    assert_eq!(
        seen.replies,
        vec![Response::CapacityError, ok("+CSQ: 16,99")]
    );
}

#[test]
fn a_reply_that_outgrows_the_limit_on_its_longest_line_fails_without_filling_the_buffer() {
    // A reply just under the limit, then a line of MAX_LINE_LEN, fed byte by byte: `run`
    // fails if the ingress ever refuses a byte.
    let mut bytes = b"\r\n+CMGR: 0,,30\r\n".to_vec();
    while bytes.len() < modem_core::digest::MAX_RESPONSE_LEN - 40 {
        bytes.extend_from_slice(b"0123456789ABCDEF0123456789ABCDEF\r\n");
    }
    bytes.extend(vec![b'7'; MAX_LINE_LEN]);
    bytes.extend_from_slice(b"\r\r\n\r\nOK\r\n");
    let seen = run(&[
        Step::Send(b"AT+CMGR=0\r"),
        Step::Recv(bytes.chunks(1).collect()),
    ]);
    // The command fails; the OK that ends the failed reply comes after as a reply nobody
    // waits for (atat's client clears the slot before its next command).
    assert_eq!(seen.replies, vec![Response::CapacityError, ok("")]);
}

#[test]
fn a_line_of_exactly_the_limit_is_a_reply_one_byte_more_is_a_capacity_error() {
    for (len, fits) in [(MAX_LINE_LEN, true), (MAX_LINE_LEN + 1, false)] {
        let line = "7".repeat(len);
        let reply = format!("\r\n{line}\r\n\r\nOK\r\n");
        for chunks in [vec![reply.as_bytes()], reply.as_bytes().chunks(1).collect()] {
            let seen = run(&[Step::Send(b"AT+CGSN\r"), Step::Recv(chunks)]);
            let first = seen.replies.first().unwrap();
            if fits {
                assert_eq!(first, &ok(&line), "{len}");
            } else {
                assert_eq!(first, &Response::CapacityError, "{len}");
            }
        }
    }
}

#[test]
fn error_texts_in_any_case_still_map_to_their_codes() {
    // The SIM7600 manual prints 27.007/27.005's texts in lower case ("operation not
    // allowed"); atat's own table knows a few of them, capitalised, and only exactly so.
    let cases: [(&[u8], Reply); 8] = [
        (
            b"\r\n+CME ERROR: operation not allowed\r\n",
            Response::CmeError(CmeError::NotAllowed.into()),
        ),
        (
            b"\r\n+CME ERROR: sim not inserted\r\n",
            Response::CmeError(CmeError::SimNotInserted.into()),
        ),
        (
            b"\r\n+CME ERROR: SIM PIN REQUIRED\r\n",
            Response::CmeError(CmeError::SimPin.into()),
        ),
        (
            b"\r\n+CME ERROR: memory full\r\n",
            Response::CmeError(CmeError::MemoryFull.into()),
        ),
        (
            b"\r\n+CME ERROR: network not allowed - emergency calls only\r\n",
            Response::CmeError(CmeError::NetworkNotAllowed.into()),
        ),
        (
            b"\r\n+CMS ERROR: OPERATION NOT ALLOWED\r\n",
            Response::CmsError(CmsError::NotAllowed.into()),
        ),
        (
            b"\r\n+CMS ERROR: invalid memory index\r\n",
            Response::CmsError(CmsError::InvalidIndex.into()),
        ),
        (
            "\r\n+CMS ERROR\u{ff1a}unknown error\r\n".as_bytes(),
            Response::CmsError(CmsError::Unknown.into()),
        ),
    ];
    for (bytes, expected) in cases {
        in_every_chunking(
            b"AT+CMGR=3\r",
            bytes,
            &Seen {
                replies: vec![expected],
                urcs: vec![],
            },
        );
    }
}

/// Feeds `reply` (after the command) in chunks of `chunk` into an ingress whose URC channel
/// holds one URC, reporting every refusal to the digester as the driver's ingress does, and
/// reading the channel only when it refuses.
fn through_a_one_slot_channel(command: &[u8], reply: &[u8], chunk: usize) -> Seen {
    let tracker = CommandTracker::new();
    let notices = IngressNotices::new();
    let slot = ResponseSlot::<INGRESS_BUF_SIZE>::new();
    let channel = UrcChannel::<Urc, 1, 1>::new();
    let mut subscription = channel.subscribe().unwrap();
    let mut buf = [0u8; INGRESS_BUF_SIZE];
    let digester = Sim7600Digester::with_tracker(&tracker).with_notices(&notices);
    let mut ingress = Ingress::new(digester, &mut buf, &slot, &channel);
    let mut seen = Seen::default();
    tracker.command_sent(command);
    for piece in reply.chunks(chunk) {
        let room = ingress.write_buf();
        room[..piece.len()].copy_from_slice(piece);
        let mut result = ingress.try_advance(piece.len());
        while result.is_err() {
            notices.urc_refused();
            while let Some(urc) = subscription.try_next_message_pure() {
                seen.urcs.push(urc);
            }
            result = ingress.try_advance(0);
        }
        if let Some(reply) = slot.try_get() {
            seen.replies.push(reply.clone());
            drop(reply);
            slot.reset();
        }
    }
    while let Some(urc) = subscription.try_next_message_pure() {
        seen.urcs.push(urc);
    }
    seen
}

#[test]
fn a_reply_and_the_urcs_inside_it_survive_a_channel_with_room_for_one() {
    let mut reply = b"\r\n+CSQ: 16,99\r\n\r\nRING\r\n\r\n".to_vec();
    reply.extend_from_slice(CLIP.as_bytes());
    reply.extend_from_slice(b"\r\n\r\nRING\r\n\r\nOK\r\n\r\n+CMTI: \"SM\",3\r\n");
    let expected = Seen {
        replies: vec![ok("+CSQ: 16,99")],
        urcs: vec![
            Urc::Ring,
            caller(),
            Urc::Ring,
            Urc::NewMessage(NewMessage {
                storage: s("SM"),
                index: 3,
            }),
        ],
    };
    for chunk in 1..=reply.len() {
        assert_eq!(
            through_a_one_slot_channel(b"AT+CSQ\r", &reply, chunk),
            expected,
            "chunks of {chunk}"
        );
    }
}
