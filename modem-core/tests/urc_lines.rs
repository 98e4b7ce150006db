//! Every unsolicited line of SIM7600-PROTOCOL.md, as the SIM7600 prints it, through
//! `Urc::parse`, in every framing the protocol notes list (`\r\n`, `\r\r\n`, bare).
#![allow(clippy::unwrap_used)]

use modem_core::urc::{
    CallDirection, CallMode, CallState, CallStatus, CallerId, CliValidity, DtmfKey, MissedCall,
    NewMessage, NumberType, RingType, SimState, Urc, UrcError, urc_name,
};

fn s<const N: usize>(text: &str) -> heapless::String<N> {
    heapless::String::try_from(text).unwrap()
}

/// The line in each framing the modem uses; all must parse alike.
fn framings(line: &str) -> [Vec<u8>; 4] {
    [
        line.as_bytes().to_vec(),
        format!("\r\n{line}\r\n").into_bytes(),
        format!("\r\r\n{line}\r\r\n").into_bytes(),
        format!("{line}\r").into_bytes(),
    ]
}

fn parses_as(line: &str, expected: Urc) {
    for bytes in framings(line) {
        assert_eq!(Urc::parse(&bytes), Some(expected.clone()), "{bytes:?}");
    }
}

#[test]
fn start_up_lines_after_power_on() {
    parses_as("RDY", Urc::Ready);
    parses_as("+CPIN: READY", Urc::SimStatus(SimState::Ready));
    parses_as("SMS DONE", Urc::SmsReady);
    parses_as("PB DONE", Urc::PhonebookReady);
}

#[test]
fn start_up_without_a_sim() {
    parses_as("+CPIN: SIM REMOVED", Urc::SimStatus(SimState::Removed));
    parses_as("+CPIN: NOT READY", Urc::SimStatus(SimState::NotReady));
    parses_as("+CPIN: SIM PIN", Urc::SimStatus(SimState::PinRequired));
    parses_as(
        "+CPIN: PH-NET PIN",
        Urc::SimStatus(SimState::Other(s("PH-NET PIN"))),
    );
}

#[test]
fn ring_and_cellular_ring() {
    parses_as("RING", Urc::Ring);
    parses_as("+CRING: VOICE", Urc::CellularRing(RingType::Voice));
    parses_as(
        "+CRING: REL ASYNC",
        Urc::CellularRing(RingType::Other(s("REL ASYNC"))),
    );
}

#[test]
fn caller_with_international_number() {
    parses_as(
        r#"+CLIP: "+491761234567",145,,,,0"#,
        Urc::CallerId(CallerId {
            number: Some(s("+491761234567")),
            number_type: NumberType::International,
            alpha: None,
            validity: CliValidity::Valid,
        }),
    );
}

#[test]
fn caller_known_to_the_phonebook() {
    parses_as(
        r#"+CLIP: "02152063113",128,,,"gongsi",0"#,
        Urc::CallerId(CallerId {
            number: Some(s("02152063113")),
            number_type: NumberType::UnknownPlan,
            alpha: Some(s("gongsi")),
            validity: CliValidity::Valid,
        }),
    );
}

#[test]
fn caller_withheld_or_unavailable_has_no_number() {
    for (line, validity) in [
        (r#"+CLIP: "",128,,,,1"#, CliValidity::Withheld),
        (r#"+CLIP: "",128,,,,2"#, CliValidity::Unavailable),
    ] {
        parses_as(
            line,
            Urc::CallerId(CallerId {
                number: None,
                number_type: NumberType::UnknownPlan,
                alpha: None,
                validity,
            }),
        );
    }
}

#[test]
fn caller_id_without_the_optional_tail() {
    parses_as(
        r#"+CLIP: "07712345678",129"#,
        Urc::CallerId(CallerId {
            number: Some(s("07712345678")),
            number_type: NumberType::Unknown,
            alpha: None,
            validity: CliValidity::Valid,
        }),
    );
}

#[test]
fn voice_call_begin_and_end_with_and_without_spaces() {
    parses_as("VOICE CALL: BEGIN", Urc::VoiceCallBegin);
    parses_as("VOICE CALL:BEGIN", Urc::VoiceCallBegin);
    parses_as(
        "VOICE CALL: END: 000042",
        Urc::VoiceCallEnd {
            duration_secs: Some(42),
        },
    );
    parses_as(
        "VOICE CALL:END:000017",
        Urc::VoiceCallEnd {
            duration_secs: Some(17),
        },
    );
    parses_as(
        "VOICE CALL: END: 010203",
        Urc::VoiceCallEnd {
            duration_secs: Some(3723),
        },
    );
    parses_as(
        "VOICE CALL: END",
        Urc::VoiceCallEnd {
            duration_secs: None,
        },
    );
    parses_as(
        "VOICE CALL: ALERTING",
        Urc::VoiceCallOther {
            word: s("ALERTING"),
        },
    );
}

#[test]
fn missed_call_with_time_and_number() {
    parses_as(
        "MISSED_CALL: 11:01AM 07712345678",
        Urc::MissedCall(MissedCall {
            time: s("11:01AM"),
            number: Some(s("07712345678")),
        }),
    );
}

#[test]
fn call_results() {
    parses_as("NO CARRIER", Urc::NoCarrier);
    parses_as("BUSY", Urc::Busy);
    parses_as("NO ANSWER", Urc::NoAnswer);
}

#[test]
fn call_list_change_for_an_incoming_call() {
    parses_as(
        r#"+CLCC: 1,1,4,0,0,"+491761234567",145"#,
        Urc::CallStatus(CallStatus {
            id: 1,
            direction: CallDirection::MobileTerminated,
            state: CallState::Incoming,
            mode: CallMode::Voice,
            multiparty: false,
            number: Some(s("+491761234567")),
            number_type: Some(NumberType::International),
            alpha: None,
            validity: None,
        }),
    );
    parses_as(
        "+CLCC: 1,1,6,0,0",
        Urc::CallStatus(CallStatus {
            id: 1,
            direction: CallDirection::MobileTerminated,
            state: CallState::Disconnected,
            mode: CallMode::Voice,
            multiparty: false,
            number: None,
            number_type: None,
            alpha: None,
            validity: None,
        }),
    );
}

#[test]
fn new_sms_notice() {
    parses_as(
        r#"+CMTI: "SM",0"#,
        Urc::NewMessage(NewMessage {
            storage: s("SM"),
            index: 0,
        }),
    );
    parses_as(
        r#"+CMTI: "ME",17"#,
        Urc::NewMessage(NewMessage {
            storage: s("ME"),
            index: 17,
        }),
    );
}

#[test]
fn every_dtmf_key_and_no_other() {
    for key in "0123456789ABCD*#".chars() {
        let line = format!("+RXDTMF: {key}");
        let expected = DtmfKey::from_ascii(key as u8).unwrap();
        assert_eq!(expected.as_char(), key);
        parses_as(&line, Urc::Dtmf(expected));
    }
    for (bad, reason) in [
        ("+RXDTMF: E", "key is not 0-9, A-D, * or #"),
        ("+RXDTMF: x", "key is not 0-9, A-D, * or #"),
        ("+RXDTMF: 12", "key is not one character"),
        ("+RXDTMF: ", "key is not one character"),
    ] {
        assert_eq!(
            Urc::try_parse(bad.as_bytes()),
            Err(UrcError::Malformed {
                urc: "+RXDTMF",
                reason
            }),
            "{bad}"
        );
    }
}

#[test]
fn replies_and_final_codes_are_not_urcs() {
    for line in [
        "OK",
        "ERROR",
        "+CME ERROR: 10",
        "+CSQ: 16,99",
        "SIMCOM INCORPORATED",
        "RINGING",
        "+CLIPX: 1",
        "AT+CLIP=1",
        "",
    ] {
        assert_eq!(
            Urc::try_parse(line.as_bytes()),
            Err(UrcError::NotUrc),
            "{line}"
        );
        assert_eq!(urc_name(line.as_bytes()), None, "{line}");
    }
}

#[test]
fn malformed_urcs_say_what_is_wrong() {
    assert_eq!(
        Urc::try_parse(b"+CLIP: +4917,145"),
        Err(UrcError::Malformed {
            urc: "+CLIP",
            reason: "number is not quoted"
        })
    );
    assert_eq!(
        Urc::try_parse(b"+CLCC: 1,1,9,0,0"),
        Err(UrcError::Malformed {
            urc: "+CLCC",
            reason: "state is not 0..=6"
        })
    );
    assert_eq!(
        Urc::try_parse(b"+CMTI: \"SM\",x"),
        Err(UrcError::Malformed {
            urc: "+CMTI",
            reason: "index is not a number 0..=65535 or -1"
        })
    );
    let long = format!("+CLIP: \"{}\",145,,,,0", "1".repeat(40));
    assert_eq!(
        Urc::try_parse(long.as_bytes()),
        Err(UrcError::Malformed {
            urc: "+CLIP",
            reason: "number too long"
        })
    );
    assert_eq!(urc_name(b"+CLIP: garbage"), Some("+CLIP"));
    assert_eq!(
        Urc::try_parse(b"RING\xff"),
        Err(UrcError::NotUrc),
        "a word with trailing garbage is not RING"
    );
}

#[test]
fn cusd_replies_parse_with_their_text_and_coding() {
    use modem_core::urc::UssdReply;
    let reply = |line: &str| match Urc::parse(line.as_bytes()) {
        Some(Urc::Ussd(r)) => r,
        other => panic!("{line:?} gave {other:?}"),
    };
    // The shape 3GPP TS 27.007 §7.15 gives and TinyGSM reads.
    let r = reply(r#"+CUSD: 0,"Your balance is 12,34 EUR. Valid until 31.12.",15"#);
    assert_eq!(
        r,
        UssdReply {
            status: 0,
            text: Some(
                "Your balance is 12,34 EUR. Valid until 31.12."
                    .try_into()
                    .unwrap()
            ),
            dcs: Some(15),
        }
    );
    assert!(r.is_answer());
    let r = reply("+CUSD: 4");
    assert_eq!((r.status, r.text, r.dcs), (4, None, None));
    let r = reply(r#"+CUSD: 1,"Menu: 1 \"balance\"",72"#);
    assert_eq!(r.text.as_deref(), Some(r#"Menu: 1 \"balance\""#));
    assert!(Urc::parse(b"+CUSD: 9").is_none());
    assert!(Urc::parse(b"+CUSD: 0,\"open").is_none());
    assert!(Urc::parse(b"+CUSD: x").is_none());
}
