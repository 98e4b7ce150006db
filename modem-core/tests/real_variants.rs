//! Lines real SIMCom modems sent that our simulator did not: each test is built from a
//! line quoted from a public capture, fixture or manual, named above the test, and checks
//! what the URC parser, the digester (inside atat's real `Ingress`), the capture
//! classifier and the call machine make of it.
#![allow(clippy::unwrap_used)]

use atat::{AtatIngress, ConnectionError, Ingress, Response, ResponseSlot, UrcChannel};
use modem_core::call::{CallEvent, CallMachine, Caller, EndReason, HangUpCause};
use modem_core::config::{AnswerMode, VoiceConfig};
use modem_core::digest::{CommandTracker, INGRESS_BUF_SIZE, Sim7600Digester};
use modem_core::line::{FinalResult, LineClassifier, LineItem};
use modem_core::urc::{CallDirection, CallState, CliValidity, DtmfKey, NumberType, RingType, Urc};

type Reply = Response<INGRESS_BUF_SIZE>;

/// What the digester handed out for `bytes`, with `command` (if any) in flight.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    replies: Vec<Reply>,
    urcs: Vec<Urc>,
}

/// Feeds `bytes` through a tracked digester inside atat's `Ingress`, whole and byte by byte
/// (both must agree), after `command` was written.
fn digest(command: Option<&[u8]>, bytes: &[u8]) -> Seen {
    let whole = digest_in(command, &[bytes]);
    let pieces: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(digest_in(command, &pieces), whole, "byte by byte");
    whole
}

fn digest_in(command: Option<&[u8]>, chunks: &[&[u8]]) -> Seen {
    let tracker = CommandTracker::new();
    let slot = ResponseSlot::<INGRESS_BUF_SIZE>::new();
    let channel = UrcChannel::<Urc, 64, 1>::new();
    let mut subscription = channel.subscribe().unwrap();
    let mut buf = [0u8; INGRESS_BUF_SIZE];
    let mut ingress = Ingress::new(
        Sim7600Digester::with_tracker(&tracker),
        &mut buf,
        &slot,
        &channel,
    );
    if let Some(command) = command {
        tracker.command_sent(command);
    }
    let mut seen = Seen::default();
    for chunk in chunks {
        assert_eq!(ingress.try_write(chunk).unwrap(), chunk.len());
        if let Some(reply) = slot.try_get() {
            seen.replies.push(reply.clone());
            drop(reply);
            slot.reset();
        }
        while let Some(urc) = subscription.try_next_message_pure() {
            seen.urcs.push(urc);
        }
    }
    seen
}

fn classify(bytes: &[u8]) -> Vec<LineItem> {
    let mut classifier = LineClassifier::new();
    let mut items: Vec<LineItem> = classifier.feed(bytes).collect();
    items.extend(classifier.finish());
    items
}

fn s<const N: usize>(text: &str) -> heapless::String<N> {
    heapless::String::try_from(text).unwrap()
}

fn parse(line: &str) -> Urc {
    Urc::try_parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// Source: kurofand/PhoneFront, SerialPort/Phone.cpp (a phone front-end on a SIMCom modem), comment
/// "Incoming and missed call": `+CLCC: 4,1,4,0,0,"08020866256",128`. A shown number with
/// type 128 is a number of unknown type, and the caller is that number, not "withheld".
#[test]
fn clcc_with_type_128_and_a_number_is_a_shown_number_of_unknown_plan() {
    let Urc::CallStatus(status) = parse(r#"+CLCC: 4,1,4,0,0,"08020866256",128"#) else {
        panic!("not +CLCC")
    };
    assert_eq!(status.id, 4);
    assert_eq!(status.direction, CallDirection::MobileTerminated);
    assert_eq!(status.state, CallState::Incoming);
    assert_eq!(status.number.as_deref(), Some("08020866256"));
    assert_eq!(status.number_type, Some(NumberType::UnknownPlan));
    assert_eq!(status.validity, None);

    let mut machine = CallMachine::new(&VoiceConfig::default());
    machine.handle_urc(0, &Urc::CallStatus(status));
    machine.handle_urc(10, &Urc::Ring);
    assert_eq!(
        machine.poll_event(),
        Some(CallEvent::Ringing {
            ring: 1,
            caller: Caller::Number(s("08020866256"))
        })
    );
}

/// Source: SIMCom's AT command manual example for `AT+CLIP` (SIM7500/SIM7600 series):
/// `+CLIP: "02152063113",128,,,"gongsi",0`; the same number with type 128 is quoted in
/// Adafruit FONA sketches' comments as a real caller ID, `+CLIP: "02152063113",128,,,,0`. Type 128 with a number and validity 0 is a
/// shown caller with a phonebook name; only validity 1 with an empty number is withheld.
#[test]
fn clip_with_type_128_and_a_number_is_shown_and_withheld_needs_the_validity() {
    let Urc::CallerId(id) = parse(r#"+CLIP: "02152063113",128,,,"gongsi",0"#) else {
        panic!("not +CLIP")
    };
    assert_eq!(id.number.as_deref(), Some("02152063113"));
    assert_eq!(id.number_type, NumberType::UnknownPlan);
    assert_eq!(id.alpha.as_deref(), Some("gongsi"));
    assert_eq!(id.validity, CliValidity::Valid);

    let Urc::CallerId(withheld) = parse(r#"+CLIP: "",128,,,,1"#) else {
        panic!("not +CLIP")
    };
    assert_eq!(
        (withheld.number, withheld.validity),
        (None, CliValidity::Withheld)
    );
}

/// Source: linux-mobile-broadband/ModemManager,
/// src/plugins/simtech/tests/test-modem-helpers-simtech.c, `test_clcc_urc_multiple`:
/// `+CLCC: 3,1,0,0,0,"987654321",161,"Alice"`. The 8th field, the phonebook name, is kept.
#[test]
fn clcc_keeps_the_phonebook_name() {
    let Urc::CallStatus(status) = parse(r#"+CLCC: 3,1,0,0,0,"987654321",161,"Alice""#) else {
        panic!("not +CLCC")
    };
    assert_eq!(status.id, 3);
    assert_eq!(status.state, CallState::Active);
    assert_eq!(status.number.as_deref(), Some("987654321"));
    assert_eq!(status.number_type, Some(NumberType::National));
    assert_eq!(status.alpha.as_deref(), Some("Alice"));
}

/// No public capture of it was found; the line is the one reported from a SIMCom modem of
/// the same family: `+CMTI: ,-1`. A message arrived, the modem does not say where: a
/// notice that asks for a storage scan, never a malformed line. Also through the digester.
#[test]
fn cmti_without_storage_and_index_minus_one_is_a_message_somewhere() {
    assert_eq!(
        parse("+CMTI: ,-1"),
        Urc::NewMessageUnlocated { storage: None }
    );
    assert_eq!(
        parse(r#"+CMTI: "SM",-1"#),
        Urc::NewMessageUnlocated {
            storage: Some(s("SM"))
        }
    );
    let seen = digest(None, b"\r\n+CMTI: ,-1\r\n");
    assert_eq!(seen.urcs, vec![Urc::NewMessageUnlocated { storage: None }]);
    assert_eq!(
        classify(b"\r\n+CMTI: ,-1\r\n"),
        vec![LineItem::Urc(Urc::NewMessageUnlocated { storage: None })]
    );
}

/// Source: a person typing at the modem's port writes commands in lower or mixed case
/// (c65gs.blogspot.com/2026/01, "MEGAphone: Cellular Modem Voice Circuit Control":
/// `at+qmbncfg="AutoSel",0`, `at+CFUN=1,1`), and the modem echoes what it was sent. The
/// echo `at+simcomati` and `ata` must be recognised as echo and name the command in flight:
/// after `ata`, `NO CARRIER` ends the command.
#[test]
fn echo_in_lower_or_mixed_case_is_echo_and_names_the_command() {
    let items = classify(
        b"at+simcomati\r\r\nManufacturer: SIMCOM INCORPORATED\r\n\r\nOK\r\n\
          ata\r\r\nNO CARRIER\r\n\
          At+Csq\r\r\n+CSQ: 16,99\r\n\r\nOK\r\n",
    );
    assert_eq!(
        items,
        vec![
            LineItem::Echo(s("at+simcomati")),
            LineItem::Info(s("Manufacturer: SIMCOM INCORPORATED")),
            LineItem::Final(FinalResult::Ok),
            LineItem::Echo(s("ata")),
            LineItem::Final(FinalResult::NoCarrier),
            LineItem::Echo(s("At+Csq")),
            LineItem::Info(s("+CSQ: 16,99")),
            LineItem::Final(FinalResult::Ok),
        ]
    );
    // Through the digester: the lower-case echo is dropped and names ATA, so NO CARRIER
    // ends it (an error reply) instead of being a call-end URC.
    let seen = digest(None, b"ata\r\r\nNO CARRIER\r\n");
    assert!(seen.urcs.is_empty(), "{:?}", seen.urcs);
    assert_eq!(
        seen.replies,
        vec![Response::ConnectionError(ConnectionError::NoCarrier as u8)]
    );
    // Text that merely starts with "at" is not echo.
    assert_eq!(
        classify(b"\r\nattention\r\n"),
        vec![LineItem::Info(s("attention"))]
    );
}

/// Source: linux-mobile-broadband/ModemManager,
/// src/plugins/simtech/tests/test-modem-helpers-simtech.c, `test_rxdtmf_urc_two_crs` and
/// `test_cring_urc_two_crs`: `\r\r\n+RXDTMF: 8\r\r\n`, `\r\r\n+CRING: VOICE\r\r\n`.
#[test]
fn cr_cr_lf_framing_around_rxdtmf_and_cring_parses_as_cr_lf() {
    let bytes: &[u8] = b"\r\r\n+CRING: VOICE\r\r\n\r\r\n+RXDTMF: 8\r\r\n\r\r\n+RXDTMF: *\r\r\n\
        \r\r\n+RXDTMF: #\r\r\n\r\r\n+RXDTMF: A\r\r\n";
    let keys: Vec<Urc> = b"8*#A"
        .iter()
        .map(|&k| Urc::Dtmf(DtmfKey::from_ascii(k).unwrap()))
        .collect();
    let mut expected = vec![Urc::CellularRing(RingType::Voice)];
    expected.extend(keys);
    assert_eq!(digest(None, bytes).urcs, expected);
    let classified: Vec<Urc> = classify(bytes)
        .into_iter()
        .map(|item| match item {
            LineItem::Urc(urc) => urc,
            other => panic!("not a URC: {other:?}"),
        })
        .collect();
    assert_eq!(classified, expected);
}

/// Source: linux-mobile-broadband/ModemManager,
/// src/plugins/simtech/tests/test-modem-helpers-simtech.c, `test_voice_call_end_urc`:
/// `\r\nVOICE CALL: END\r\n` (no duration). The call ends with the locally measured one.
#[test]
fn voice_call_end_without_a_duration_ends_the_call_with_the_measured_one() {
    let seen = digest(None, b"\r\nVOICE CALL: END\r\n");
    assert_eq!(
        seen.urcs,
        vec![Urc::VoiceCallEnd {
            duration_secs: None
        }]
    );
    let mut machine = CallMachine::new(&VoiceConfig::default());
    machine.handle_urc(0, &Urc::VoiceCallBegin);
    machine.handle_urc(12_400, &seen.urcs[0]);
    let events: Vec<CallEvent> = std::iter::from_fn(|| machine.poll_event()).collect();
    assert_eq!(
        events.last(),
        Some(&CallEvent::Ended {
            caller: Caller::Unknown,
            duration_s: 12,
            reason: EndReason::CallerHungUp
        })
    );
}

/// Source: Xinyuan-LilyGO/T-SIM7600X issue 65 (https://github.com/Xinyuan-LilyGO/T-SIM7600X/issues/65),
/// a T-SIM7600G hanging up: `ATH` / `VOICE CALL: END: 000017` / `OK`; and kurofand/PhoneFront,
/// SerialPort/Phone.cpp, "minicom incoming call" ending `VOICE CALL: END: 000008`. The end
/// arrives inside the hang-up's reply, before its OK: the command gets its OK, the URC goes
/// to the call machine, and the call ends once, as our hang-up, with the modem's duration.
#[test]
fn voice_call_end_inside_the_hang_up_reply_before_ok() {
    let seen = digest(
        Some(b"AT+CHUP\r"),
        b"\r\nVOICE CALL: END: 000008\r\n\r\nOK\r\n",
    );
    assert_eq!(seen.replies, vec![Response::ok(b"")]);
    assert_eq!(
        seen.urcs,
        vec![Urc::VoiceCallEnd {
            duration_secs: Some(8)
        }]
    );
    // The same with echo on, as the LilyGO capture shows it (ATH with AT+CVHU=0).
    let echoed = digest(None, b"ATH\r\r\nVOICE CALL: END: 000017\r\n\r\nOK\r\n");
    assert_eq!(echoed.replies, vec![Response::ok(b"")]);
    assert_eq!(
        echoed.urcs,
        vec![Urc::VoiceCallEnd {
            duration_secs: Some(17)
        }]
    );

    let config = VoiceConfig::default().with_answer_mode(AnswerMode::Host);
    let mut machine = CallMachine::new(&config);
    machine.handle_urc(0, &Urc::VoiceCallBegin);
    assert!(machine.request_hang_up(7_000));
    machine.handle_urc(7_100, &seen.urcs[0]);
    machine.handle_urc(7_200, &Urc::NoCarrier);
    let ended: Vec<CallEvent> = std::iter::from_fn(|| machine.poll_event())
        .filter(|e| matches!(e, CallEvent::Ended { .. }))
        .collect();
    assert_eq!(
        ended,
        vec![CallEvent::Ended {
            caller: Caller::Unknown,
            duration_s: 8,
            reason: EndReason::WeHungUp(HangUpCause::Requested)
        }]
    );
}

/// Source: kurofand/PhoneFront, SerialPort/Phone.cpp, "minicom incoming call": after `ATA`
/// the modem printed `VOICE CALL: BEGIN`, then `OK`, then `+CLCC: 4,1,0,0,0,...,128`. The
/// BEGIN before the OK is a URC, the OK answers ATA, the +CLCC after it is a URC.
#[test]
fn voice_call_begin_before_the_ok_of_ata_and_clcc_after_it() {
    let bytes: &[u8] =
        b"\r\nVOICE CALL: BEGIN\r\n\r\nOK\r\n\r\n+CLCC: 4,1,0,0,0,\"08020866256\",128\r\n";
    let seen = digest(Some(b"ATA\r"), bytes);
    assert_eq!(seen.replies, vec![Response::ok(b"")]);
    assert_eq!(seen.urcs.len(), 2, "{:?}", seen.urcs);
    assert_eq!(seen.urcs[0], Urc::VoiceCallBegin);
    let Urc::CallStatus(status) = &seen.urcs[1] else {
        panic!("not +CLCC: {:?}", seen.urcs[1])
    };
    assert_eq!((status.id, status.state), (4, CallState::Active));
}
