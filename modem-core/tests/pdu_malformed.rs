//! Malformed PDUs: each kind of damage is an error that names what is wrong, never a
//! panic and never a plausible-looking message.
#![allow(clippy::unwrap_used)]

use modem_core::pdu::{DecodeError, Field, Incoming, MAX_PDU_OCTETS, Submit};

fn error_of(hex: &str) -> DecodeError {
    Incoming::from_hex(hex).unwrap_err()
}

#[test]
fn odd_hex_and_non_hex_characters_are_refused() {
    assert_eq!(error_of("000"), DecodeError::OddHexLength { digits: 3 });
    assert_eq!(
        error_of("00G4"),
        DecodeError::InvalidHexDigit { position: 2 }
    );
    assert_eq!(
        error_of(""),
        DecodeError::Truncated {
            field: Field::SmscAddress,
            needed: 1,
            available: 0
        }
    );
    assert_eq!(
        error_of("00€4"),
        DecodeError::InvalidHexDigit { position: 2 }
    );
}

#[test]
fn surrounding_whitespace_of_the_modem_line_is_tolerated() {
    let sms = Incoming::from_hex(" 00040491947100006240124100008002C834\r\n").unwrap();
    assert!(matches!(sms, Incoming::Deliver(d) if d.text() == Some("Hi")));
}

#[test]
fn a_pdu_longer_than_any_sms_is_refused_before_decoding() {
    let hex = "00".repeat(MAX_PDU_OCTETS + 1);
    assert_eq!(
        error_of(&hex),
        DecodeError::PduTooLong {
            octets: MAX_PDU_OCTETS + 1,
            max: MAX_PDU_OCTETS
        }
    );
}

#[test]
fn a_pdu_cut_short_names_the_field_it_ends_in() {
    assert_eq!(
        error_of("0004049194"),
        DecodeError::Truncated {
            field: Field::OriginatorAddress,
            needed: 2,
            available: 1
        }
    );
    assert_eq!(
        error_of("00040491947100006240"),
        DecodeError::Truncated {
            field: Field::ServiceCentreTimestamp,
            needed: 7,
            available: 2
        }
    );
}

#[test]
fn user_data_length_that_claims_more_than_is_there() {
    // TP-UDL says 10 septets (9 octets); 2 octets follow.
    assert_eq!(
        error_of("0004049194710000624012410000800AC834"),
        DecodeError::Truncated {
            field: Field::UserData,
            needed: 9,
            available: 2
        }
    );
}

#[test]
fn octets_after_the_user_data_are_refused() {
    assert_eq!(
        error_of("00040491947100006240124100008002C83400"),
        DecodeError::TrailingOctets { extra: 1 }
    );
}

#[test]
fn user_data_beyond_140_octets_is_refused() {
    let ucs2 = format!("000404919471000862401241000080{}{}", "8D", "00".repeat(141));
    assert_eq!(
        error_of(&ucs2),
        DecodeError::UserDataTooLong {
            octets: 141,
            max: 140
        }
    );
    // 161 septets need 141 octets.
    let gsm = format!("000404919471000062401241000080{}{}", "A1", "00".repeat(141));
    assert_eq!(
        error_of(&gsm),
        DecodeError::UserDataTooLong {
            octets: 141,
            max: 140
        }
    );
}

#[test]
fn addresses_longer_than_twenty_digits_are_refused() {
    assert_eq!(
        error_of("000416919471111111111111111111110000624012410000800141"),
        DecodeError::AddressTooLong {
            field: Field::OriginatorAddress,
            octets: 11,
            max: 10
        }
    );
    assert_eq!(
        error_of("0C91111111111111111111111104049194710000624012410000800141"),
        DecodeError::AddressTooLong {
            field: Field::SmscAddress,
            octets: 11,
            max: 10
        }
    );
}

#[test]
fn a_filler_nibble_inside_a_number_is_refused() {
    assert_eq!(
        error_of("000404919F710000624012410000800141"),
        DecodeError::InvalidBcdDigit {
            field: Field::OriginatorAddress,
            nibble: 0x0F
        }
    );
}

#[test]
fn time_stamps_with_bad_digits_or_impossible_dates_are_refused() {
    assert_eq!(
        error_of("00040491947100006A4012410000800141"),
        DecodeError::InvalidBcdDigit {
            field: Field::ServiceCentreTimestamp,
            nibble: 0x0A
        }
    );
    assert_eq!(
        error_of("0004049194710000623112410000800141"),
        DecodeError::InvalidTimestamp {
            field: Field::ServiceCentreTimestamp
        }
    );
}

#[test]
fn a_header_longer_than_the_user_data_is_refused() {
    assert_eq!(
        error_of("004404919471000862401241000080040A000342"),
        DecodeError::HeaderExceedsUserData {
            header_octets: 11,
            user_data_octets: 4
        }
    );
}

#[test]
fn a_header_element_running_past_the_header_is_refused() {
    assert_eq!(
        error_of("004404919471000862401241000080080500054203010000"),
        DecodeError::InformationElementOverrun {
            iei: 0x00,
            length: 5,
            available: 3
        }
    );
}

#[test]
fn a_concatenation_element_numbering_part_zero_is_ignored() {
    // TS 23.040: such an element is ignored and the message read as a single one.
    let Incoming::Deliver(sms) =
        Incoming::from_hex("004404919471000862401241000080080500034203000041").unwrap()
    else {
        panic!("expected a DELIVER");
    };
    assert_eq!(sms.concatenation, None);
    assert_eq!(sms.text(), Some("A"));
}

#[test]
fn bad_text_is_refused() {
    assert_eq!(
        error_of("00040491947100006240124100008002C10D"),
        DecodeError::DanglingEscape
    );
    assert_eq!(
        error_of("00040491947100086240124100008003004100"),
        DecodeError::OddUcs2Length { octets: 3 }
    );
    assert_eq!(
        error_of("00040491947100086240124100008004D83D0041"),
        DecodeError::InvalidUtf16 {
            unit: 0,
            value: 0xD83D
        }
    );
    assert_eq!(
        error_of("0004049194710020624012410000800141"),
        DecodeError::CompressedText { dcs: 0x20 }
    );
}

#[test]
fn a_submit_is_not_an_incoming_message_and_vice_versa() {
    let err = error_of("0001000491947100000141");
    assert_eq!(
        err,
        DecodeError::UnexpectedMessageType {
            mti: 1,
            expected: "SMS-DELIVER or SMS-STATUS-REPORT"
        }
    );
    assert_eq!(
        err.to_string(),
        "the PDU's message type indicator is 0b01, expected SMS-DELIVER or SMS-STATUS-REPORT"
    );
    assert_eq!(
        Submit::from_hex("00040491947100006240124100008002C834").unwrap_err(),
        DecodeError::UnexpectedMessageType {
            mti: 0,
            expected: "SMS-SUBMIT"
        }
    );
}

#[test]
fn a_status_report_may_end_after_its_status_but_not_inside_what_tp_pi_announces() {
    let Incoming::StatusReport(report) =
        Incoming::from_hex("0006070C91947112325476624012410000806240124100008045").unwrap()
    else {
        panic!("expected a status report");
    };
    assert_eq!((report.status.0, report.body), (0x45, None));
    // TP-PI announces a PID that is not there.
    assert_eq!(
        error_of("0006070C9194711232547662401241000080624012410000804501"),
        DecodeError::Truncated {
            field: Field::ProtocolIdentifier,
            needed: 1,
            available: 0
        }
    );
}

#[test]
fn errors_read_as_one_sentence_naming_the_field() {
    let err = error_of("0004049194");
    assert_eq!(
        err.to_string(),
        "the PDU is truncated in the originator address (TP-OA): 2 octets needed, 1 left"
    );
}

#[test]
fn a_pdu_shorter_or_longer_than_the_command_announced_is_refused() {
    let hex = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07";
    // SIM7600-PROTOCOL.md: "+CMGR: 0,,30" for this PDU.
    assert!(Incoming::from_cmgr(hex, 30).is_ok());
    assert_eq!(
        Incoming::from_cmgr(hex, 31).unwrap_err(),
        DecodeError::TpduLengthMismatch {
            declared: 31,
            actual: 30
        }
    );
    let submit = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37";
    assert!(Submit::from_cmgs(submit, 23).is_ok());
    let err = Submit::from_cmgs(submit, 22).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TpduLengthMismatch {
            declared: 22,
            actual: 23
        }
    );
    assert_eq!(
        err.to_string(),
        "the command announced a TPDU of 22 octets but 23 came"
    );
}
