//! The capture classifier on SIM7600 port captures: what `sim7600 decode` shows for each
//! line, in every chunking, and that nothing it is fed can make it panic.
#![allow(clippy::unwrap_used)]

use modem_core::line::{
    ErrorDetail, FinalResult, LINE_CAPACITY, LineClassifier, LineItem, UnknownReason,
};
use modem_core::urc::{CallerId, CliValidity, NumberType, SimState, Urc};
use proptest::prelude::*;

/// Every item of a capture fed in one piece, including what `finish` flushes.
fn classify(bytes: &[u8]) -> Vec<LineItem> {
    let mut classifier = LineClassifier::new();
    let mut items: Vec<LineItem> = classifier.feed(bytes).collect();
    items.extend(classifier.finish());
    items
}

/// The same, fed in pieces of `size` bytes.
fn classify_in_pieces(bytes: &[u8], size: usize) -> Vec<LineItem> {
    let mut classifier = LineClassifier::new();
    let mut items = Vec::new();
    for piece in bytes.chunks(size) {
        items.extend(classifier.feed(piece));
    }
    items.extend(classifier.finish());
    items
}

fn assert_in_every_chunking(bytes: &[u8], expected: &[LineItem]) {
    assert_eq!(classify(bytes), expected);
    for size in 1..8 {
        assert_eq!(
            classify_in_pieces(bytes, size),
            expected,
            "pieces of {size}"
        );
    }
}

fn info(text: &str) -> LineItem {
    LineItem::Info(heapless::String::try_from(text).unwrap())
}

fn echo(text: &str) -> LineItem {
    LineItem::Echo(heapless::String::try_from(text).unwrap())
}

#[test]
fn detection_with_echo_on() {
    assert_in_every_chunking(
        b"AT\r\r\nOK\r\nAT+CGMI\r\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n",
        &[
            echo("AT"),
            LineItem::Final(FinalResult::Ok),
            echo("AT+CGMI"),
            info("SIMCOM INCORPORATED"),
            LineItem::Final(FinalResult::Ok),
        ],
    );
}

#[test]
fn incoming_call_with_caller_id_then_end() {
    let capture = b"\r\nRING\r\n\r\n+CLIP: \"+491761234567\",145,,,,0\r\n\r\nVOICE CALL: BEGIN\r\n\
\r\nVOICE CALL: END: 000042\r\n\r\nNO CARRIER\r\n";
    assert_in_every_chunking(
        capture,
        &[
            LineItem::Urc(Urc::Ring),
            LineItem::Urc(Urc::CallerId(CallerId {
                number: Some(heapless::String::try_from("+491761234567").unwrap()),
                number_type: NumberType::International,
                alpha: None,
                validity: CliValidity::Valid,
            })),
            LineItem::Urc(Urc::VoiceCallBegin),
            LineItem::Urc(Urc::VoiceCallEnd {
                duration_secs: Some(42),
            }),
            LineItem::Urc(Urc::NoCarrier),
        ],
    );
}

#[test]
fn ring_between_a_reply_and_its_ok() {
    assert_in_every_chunking(
        b"\r\n+CSQ: 16,99\r\n\r\nRING\r\n\r\nOK\r\n",
        &[
            info("+CSQ: 16,99"),
            LineItem::Urc(Urc::Ring),
            LineItem::Final(FinalResult::Ok),
        ],
    );
}

#[test]
fn cr_cr_lf_framing() {
    assert_in_every_chunking(
        b"\r\r\n+CRING: VOICE\r\r\n",
        &[LineItem::Urc(Urc::CellularRing(
            modem_core::urc::RingType::Voice,
        ))],
    );
}

#[test]
fn errors_numeric_text_and_full_width_colon() {
    assert_in_every_chunking(
        "\r\n+CME ERROR: 10\r\n\r\n+CME ERROR: SIM not inserted\r\n\r\n+CMS ERROR \u{ff1a}340\r\n\r\nERROR\r\n"
            .as_bytes(),
        &[
            LineItem::Final(FinalResult::CmeError(ErrorDetail::Code(10))),
            LineItem::Final(FinalResult::CmeError(ErrorDetail::Text(
                heapless::String::try_from("SIM not inserted").unwrap(),
            ))),
            LineItem::Final(FinalResult::CmsError(ErrorDetail::Code(340))),
            LineItem::Final(FinalResult::Error),
        ],
    );
}

#[test]
fn sms_prompt_body_echo_and_reference() {
    assert_in_every_chunking(
        b"AT+CMGS=\"+491721234567\"\r\r\n> Hello\x1a\r\n+CMGS: 12\r\n\r\nOK\r\n",
        &[
            echo("AT+CMGS=\"+491721234567\""),
            LineItem::Prompt,
            echo("Hello\u{1a}"),
            info("+CMGS: 12"),
            LineItem::Final(FinalResult::Ok),
        ],
    );
}

#[test]
fn a_capture_that_ends_on_the_prompt() {
    assert_eq!(classify(b"\r\n>"), [LineItem::Prompt]);
    assert_eq!(classify(b"\r\n> "), [LineItem::Prompt]);
}

#[test]
fn no_carrier_after_ata_is_the_answer_elsewhere_a_urc() {
    assert_in_every_chunking(
        b"ATA\r\r\nNO CARRIER\r\n\r\nNO CARRIER\r\n",
        &[
            echo("ATA"),
            LineItem::Final(FinalResult::NoCarrier),
            LineItem::Urc(Urc::NoCarrier),
        ],
    );
}

#[test]
fn call_list_and_sim_state_replies_after_their_echo() {
    assert_in_every_chunking(
        b"AT+CPIN?\r\r\n+CPIN: READY\r\n\r\nOK\r\n\r\n+CPIN: NOT READY\r\n",
        &[
            echo("AT+CPIN?"),
            info("+CPIN: READY"),
            LineItem::Final(FinalResult::Ok),
            LineItem::Urc(Urc::SimStatus(SimState::NotReady)),
        ],
    );
    assert_in_every_chunking(
        b"AT+CLCC\r\r\n+CLCC: 1,1,4,0,0,\"+491761234567\",145\r\n\r\nOK\r\n",
        &[
            echo("AT+CLCC"),
            info("+CLCC: 1,1,4,0,0,\"+491761234567\",145"),
            LineItem::Final(FinalResult::Ok),
        ],
    );
}

#[test]
fn message_data_that_reads_like_a_urc_stays_data() {
    assert_in_every_chunking(
        b"\r\n+CMGR: \"REC READ\",\"+491761234567\",\"\",\"24/05/01,10:00:00+08\"\r\nRING\r\n\r\nOK\r\n",
        &[
            info("+CMGR: \"REC READ\",\"+491761234567\",\"\",\"24/05/01,10:00:00+08\""),
            info("RING"),
            LineItem::Final(FinalResult::Ok),
        ],
    );
}

#[test]
fn garbage_then_resync() {
    assert_in_every_chunking(
        b"\xff\xfe\x80\r\n+CLIP: nonsense\r\nRING\r\n",
        &[
            LineItem::Unknown {
                bytes: heapless::Vec::from_slice(b"\xff\xfe\x80").unwrap(),
                reason: UnknownReason::NotUtf8,
            },
            LineItem::Unknown {
                bytes: heapless::Vec::from_slice(b"+CLIP: nonsense").unwrap(),
                reason: UnknownReason::MalformedUrc {
                    urc: "+CLIP",
                    reason: "number is not quoted",
                },
            },
            LineItem::Urc(Urc::Ring),
        ],
    );
}

#[test]
fn over_long_line_is_reported_with_its_length_then_the_next_line_reads() {
    let mut capture = vec![b'x'; LINE_CAPACITY + 300];
    capture.extend_from_slice(b"\r\nOK\r\n");
    let items = classify(&capture);
    assert_eq!(items.len(), 2);
    let LineItem::Unknown { bytes, reason } = &items[0] else {
        panic!("{:?}", items[0])
    };
    assert_eq!(bytes.len(), LINE_CAPACITY);
    assert_eq!(
        *reason,
        UnknownReason::TooLong {
            len: LINE_CAPACITY + 300
        }
    );
    assert_eq!(
        reason.to_string(),
        format!(
            "line of {} bytes, longer than {LINE_CAPACITY}",
            LINE_CAPACITY + 300
        )
    );
    assert_eq!(items[1], LineItem::Final(FinalResult::Ok));
}

#[test]
fn a_capture_cut_inside_a_line() {
    assert_eq!(
        classify(b"\r\n+CSQ: 1"),
        [LineItem::Unknown {
            bytes: heapless::Vec::from_slice(b"+CSQ: 1").unwrap(),
            reason: UnknownReason::Incomplete,
        }]
    );
}

proptest! {
    #[test]
    fn random_bytes_never_panic_the_classifier(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        size in 1usize..64,
    ) {
        let whole = classify(&bytes);
        let pieces = classify_in_pieces(&bytes, size);
        // Chunking never changes what a capture means.
        prop_assert_eq!(whole, pieces);
    }

    #[test]
    fn random_lines_never_panic_the_urc_parser(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Urc::try_parse(&bytes);
        let _ = FinalResult::parse(&bytes);
    }

    #[test]
    fn urc_like_lines_never_panic_the_urc_parser(
        name in prop::sample::select(vec![
            "+CLIP: ", "+CLCC: ", "+CMTI: ", "+RXDTMF: ", "+CPIN: ", "+CRING: ",
            "VOICE CALL:", "MISSED_CALL: ",
        ]),
        rest in "[ -~]{0,80}",
    ) {
        let line = format!("{name}{rest}");
        let _ = Urc::try_parse(line.as_bytes());
    }
}

#[test]
fn a_line_of_exactly_the_capacity_reads_one_byte_more_is_too_long() {
    let fits = "7".repeat(LINE_CAPACITY);
    assert_eq!(
        classify(format!("\r\n{fits}\r\r\n").as_bytes()),
        [info(&fits)]
    );
    let long = "7".repeat(LINE_CAPACITY + 1);
    assert_eq!(
        classify(format!("\r\n{long}\r\n").as_bytes()),
        [LineItem::Unknown {
            bytes: heapless::Vec::from_slice(&long.as_bytes()[..LINE_CAPACITY]).unwrap(),
            reason: UnknownReason::TooLong {
                len: LINE_CAPACITY + 1
            },
        }]
    );
}
