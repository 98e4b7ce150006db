//! Known PDUs: the DELIVER of SIM7600-PROTOCOL.md, the SUBMIT example every PDU tutorial
//! quotes (TS 23.038's "hellohello" packing), and hand-built PDUs for the alphabets,
//! addresses, headers and status reports the decoder must read.
#![allow(clippy::unwrap_used)]

use modem_core::pdu::{
    Address, Alphabet, Body, ConcatReference, Concatenation, Deliver, Incoming, MessageClass,
    NumberType, StatusOutcome, Submit, SubmitOptions, SubmitPlan, TextEncoding, Timestamp,
    TypeOfAddress, Validity, ValidityPeriod,
};

fn deliver(hex: &str) -> Deliver {
    match Incoming::from_hex(hex).unwrap() {
        Incoming::Deliver(d) => d,
        other => panic!("expected a DELIVER, got {other:?}"),
    }
}

#[test]
fn protocol_notes_deliver_reads_how_are_you_from_plus_31641600986() {
    let sms =
        deliver("07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07");
    assert_eq!(sms.originator.to_string(), "+31641600986");
    assert_eq!(sms.originator.value.as_str(), "31641600986");
    assert_eq!(sms.originator.type_of_address, TypeOfAddress::INTERNATIONAL);
    let smsc = sms.smsc.as_ref().unwrap();
    assert_eq!(smsc.to_string(), "+31624000000");
    assert_eq!(sms.text(), Some("How are you?"));
    assert_eq!(sms.data_coding.alphabet, Alphabet::Gsm7);
    assert_eq!(sms.data_coding.class, None);
    assert_eq!(sms.concatenation, None);
    // 02-08-26 19:37:41 as smsd's "Sent:" header shows it; the zone octet 0x08 is the
    // sign bit with zero quarter hours.
    assert_eq!(
        sms.timestamp,
        Timestamp {
            year: 2,
            month: 8,
            day: 26,
            hour: 19,
            minute: 37,
            second: 41,
            utc_offset_quarters: 0
        }
    );
    assert!(!sms.more_messages);
}

#[test]
fn hellohello_submit_matches_the_textbook_pdu() {
    let to = Address::parse_number("+46708251358").unwrap();
    let options = SubmitOptions {
        validity: Some(ValidityPeriod(0xAA)),
        ..SubmitOptions::default()
    };
    let plan = SubmitPlan::new(to, "hellohello", 0, options).unwrap();
    assert_eq!(plan.parts(), 1);
    assert_eq!(plan.encoding(), TextEncoding::Gsm7);
    let part = plan.encode_part(0).unwrap();
    assert_eq!(
        part.hex.as_str(),
        "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
    );
    assert_eq!(part.tpdu_length, 23);

    let back = Submit::from_hex(&part.hex).unwrap();
    assert_eq!(back.destination.to_string(), "+46708251358");
    assert_eq!(back.body.text(), Some("hellohello"));
    assert_eq!(
        back.validity,
        Some(Validity::Relative(ValidityPeriod(0xAA)))
    );
    assert_eq!(back.tpdu_length, 23);
    assert_eq!(ValidityPeriod(0xAA).minutes(), 4 * 24 * 60);
}

#[test]
fn national_number_and_short_code_go_as_type_unknown() {
    let national = Address::parse_number("01721234567").unwrap();
    assert_eq!(national.type_of_address.to_octet(), 0x81);
    let plan = SubmitPlan::new(national, "x", 0, SubmitOptions::default()).unwrap();
    // 0B digits, TOA 81, 10 27 31 24 65 F7.
    assert!(
        plan.encode_part(0)
            .unwrap()
            .hex
            .starts_with("0001000B811027214365F7")
    );

    let short = Address::parse_number("22222").unwrap();
    let plan = SubmitPlan::new(short, "x", 0, SubmitOptions::default()).unwrap();
    assert!(
        plan.encode_part(0)
            .unwrap()
            .hex
            .starts_with("00010005812222F2")
    );
}

#[test]
fn bad_destinations_are_refused_with_the_reason() {
    use modem_core::pdu::EncodeError;
    assert_eq!(
        Address::parse_number(""),
        Err(EncodeError::EmptyDestination)
    );
    assert_eq!(
        Address::parse_number("+"),
        Err(EncodeError::EmptyDestination)
    );
    assert_eq!(
        Address::parse_number("+49 172"),
        Err(EncodeError::InvalidDestinationCharacter {
            position: 3,
            character: ' '
        })
    );
    assert_eq!(
        Address::parse_number("123456789012345678901"),
        Err(EncodeError::DestinationTooLong {
            digits: 21,
            max: 20
        })
    );
    let message = Address::parse_number("12a").unwrap_err().to_string();
    assert!(
        message.contains("'a'") && message.contains("position 2"),
        "{message}"
    );
}

#[test]
fn alphanumeric_sender_is_unpacked_from_7_bit() {
    // Sender "MyBank" (TOA D0): 6 septets = 42 bits = 11 semi-octets, packed CDBC30EC5E03.
    let sms = deliver("00040BD0CDBC30EC5E03000062401241000000014C");
    assert_eq!(
        sms.originator.type_of_address.number_type,
        NumberType::Alphanumeric
    );
    assert_eq!(sms.originator.value.as_str(), "MyBank");
    assert_eq!(sms.originator.to_string(), "MyBank");
    assert_eq!(sms.text(), Some("L"));
}

/// 26-04-21 14:00:00 at UTC+2 (+8 quarter hours), the time stamp of the hand-built PDUs.
const APRIL_21: Timestamp = Timestamp {
    year: 26,
    month: 4,
    day: 21,
    hour: 14,
    minute: 0,
    second: 0,
    utc_offset_quarters: 8,
};

#[test]
fn cyrillic_and_emoji_arrive_as_ucs2_with_a_surrogate_pair() {
    let sms = deliver(
        "07919761989901F0040B919761214365F700086240124100008012041F044004380432043504420020D83DDE00",
    );
    assert_eq!(sms.text(), Some("Привет 😀"));
    assert_eq!(sms.data_coding.alphabet, Alphabet::Ucs2);
    assert_eq!(sms.originator.to_string(), "+79161234567");
    assert_eq!(sms.smsc.unwrap().value.as_str(), "79168999100");
    assert_eq!(sms.timestamp, APRIL_21);
    assert_eq!(sms.timestamp.utc_offset_minutes(), 120);
    assert_eq!(sms.timestamp.to_string(), "26/04/21,14:00:00+08");
}

#[test]
fn second_of_three_parts_with_an_8_bit_reference_skips_the_fill_bit() {
    let sms = deliver("00440C919471123254760000624012410000800F050003420302E061391D44BFBF01");
    assert_eq!(
        sms.concatenation,
        Some(Concatenation {
            reference: ConcatReference::Eight(0x42),
            total: 3,
            sequence: 2
        })
    );
    assert_eq!(sms.text(), Some("part two"));
}

#[test]
fn first_of_two_ucs2_parts_with_a_16_bit_reference() {
    let sms = deliver("00440C91947112325476000862401241000080110608041234020103A9006D006500670061");
    assert_eq!(
        sms.concatenation,
        Some(Concatenation {
            reference: ConcatReference::Sixteen(0x1234),
            total: 2,
            sequence: 1
        })
    );
    assert_eq!(sms.text(), Some("Ωmega"));
}

#[test]
fn status_report_says_the_message_was_delivered() {
    let Incoming::StatusReport(report) =
        Incoming::from_hex("0791947101670000062A0C91947112325476624012410000806240124130008000")
            .unwrap()
    else {
        panic!("expected a status report");
    };
    assert_eq!(report.message_reference, 0x2A);
    assert_eq!(report.recipient.to_string(), "+491721234567");
    assert_eq!(report.timestamp, APRIL_21);
    assert_eq!(
        report.discharge_time,
        Timestamp {
            minute: 3,
            ..APRIL_21
        }
    );
    assert_eq!(report.status.outcome(), StatusOutcome::Delivered);
    assert_eq!(report.body, None);
    assert!(!report.about_command);
}

#[test]
fn status_report_with_parameter_indicator_carries_pid_dcs_and_text() {
    let Incoming::StatusReport(report) =
        Incoming::from_hex("0006070C9194711232547662401241000080624012410000804507000002EF35")
            .unwrap()
    else {
        panic!("expected a status report");
    };
    assert_eq!(report.status.0, 0x45);
    assert_eq!(report.status.outcome(), StatusOutcome::Failed);
    assert_eq!(report.protocol_identifier, Some(0));
    assert_eq!(report.data_coding.map(|d| d.alphabet), Some(Alphabet::Gsm7));
    assert_eq!(report.body.as_ref().and_then(Body::text), Some("ok"));
}

#[test]
fn flash_message_in_the_f0_group_is_class_0() {
    let sms = deliver("00040491947100F06240124100008002C834");
    assert_eq!(sms.data_coding.class, Some(MessageClass::Class0));
    assert_eq!(sms.text(), Some("Hi"));
    assert_eq!(sms.originator.value.as_str(), "4917");
}

#[test]
fn eight_bit_data_is_kept_as_bytes_after_an_unknown_header_element() {
    let sms = deliver("00440491947100F5624012410000800B0605040B8423F0DEADBEEF");
    assert_eq!(sms.data_coding.alphabet, Alphabet::EightBit);
    assert_eq!(sms.data_coding.class, Some(MessageClass::Class1));
    assert_eq!(sms.concatenation, None);
    assert_eq!(
        sms.body,
        Body::Binary(heapless::Vec::from_slice(&[0xDE, 0xAD, 0xBE, 0xEF]).unwrap())
    );
    assert_eq!(sms.text(), None);
}

#[test]
fn extension_characters_decode_from_escape_pairs() {
    let sms = deliver("000404919471000062401241000080061BD4A6BC4901");
    assert_eq!(sms.text(), Some("{€}"));
}

#[test]
fn time_zone_west_of_utc_has_the_sign_bit() {
    let sms = deliver("00040491947100006240124100000A0141");
    assert_eq!(sms.timestamp.utc_offset_quarters, -20);
    assert_eq!(sms.timestamp.utc_offset_minutes(), -300);
    assert_eq!(sms.text(), Some("A"));
}

#[test]
fn a_status_report_is_not_a_deliver() {
    let err =
        Deliver::from_hex("0791947101670000062A0C91947112325476624012410000806240124130008000")
            .unwrap_err();
    assert!(err.to_string().contains("SMS-DELIVER"), "{err}");
}

#[test]
fn flash_with_status_report_and_validity_sets_the_flags() {
    let to = Address::parse_number("+4917").unwrap();
    let options = SubmitOptions {
        flash: true,
        status_report: true,
        validity: Some(ValidityPeriod::at_least_minutes(24 * 60)),
        ..SubmitOptions::default()
    };
    let part = SubmitPlan::new(to, "Hi", 0, options)
        .unwrap()
        .encode_part(0)
        .unwrap();
    let back = Submit::from_hex(&part.hex).unwrap();
    assert!(back.status_report_requested);
    assert_eq!(back.data_coding.class, Some(MessageClass::Class0));
    assert_eq!(back.validity, Some(Validity::Relative(ValidityPeriod(167))));
    assert_eq!(back.body.text(), Some("Hi"));
    // 0x31: SUBMIT, relative validity, status report requested.
    assert!(part.hex.starts_with("0031"), "{}", part.hex);
}
