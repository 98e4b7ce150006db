//! Every driver command: the exact bytes it writes and how it reads the modem's reply.
#![allow(clippy::unwrap_used)]

mod support;

use futures::executor::block_on;
use modem_core::command::network::types::RegistrationStatus;
use modem_core::command::sms::types::MessageStatus;
use modem_core::driver::{ConnectionFailure, Error, ErrorKind, InvalidArgument, SendFailure};
use support::ScriptedModem;

const PDU_HEX: &str =
    "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07";
/// [`PDU_HEX`] as the body of `AT+CMGS=30`: the hex digits and Ctrl-Z.
const PDU_BODY: &[u8] =
    b"07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07\x1a";

#[test]
fn answer_sends_ata() {
    let mut modem = ScriptedModem::new();
    modem.expect(b"ATA\r", b"\r\nOK\r\n\r\nVOICE CALL: BEGIN\r\n");
    block_on(modem.modem.answer()).unwrap();
    modem.assert_script_done();
}

#[test]
fn answer_with_no_incoming_call_is_no_carrier() {
    let mut modem = ScriptedModem::new();
    modem.expect(b"ATA\r", b"\r\nNO CARRIER\r\n");
    let error = block_on(modem.modem.answer()).unwrap_err();
    assert_eq!(
        error,
        Error::new("ATA", ErrorKind::Connection(ConnectionFailure::NoCarrier))
    );
    assert_eq!(
        error.to_string(),
        "ATA failed: the modem answered NO CARRIER"
    );
}

#[test]
fn hang_up_sends_chup() {
    let mut modem = ScriptedModem::new();
    modem.expect(
        b"AT+CHUP\r",
        b"\r\nVOICE CALL: END: 000042\r\n\r\nNO CARRIER\r\n\r\nOK\r\n",
    );
    block_on(modem.modem.hang_up()).unwrap();
    modem.assert_script_done();
}

#[test]
fn hang_up_when_the_ok_comes_before_the_end_lines() {
    let mut modem = ScriptedModem::new();
    let mut urcs = modem.subscribe();
    modem.expect(b"AT+CHUP\r", b"\r\nOK\r\n");
    block_on(modem.modem.hang_up()).unwrap();
    modem.modem_sends(b"\r\nVOICE CALL: END: 000007\r\n\r\nNO CARRIER\r\n");
    assert_eq!(support::drain(&mut urcs).len(), 2);
}

#[test]
fn set_auto_answer_sends_ats0() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"ATS0=3\r", b"\r\nOK\r\n")
        .expect(b"ATS0=0\r", b"\r\nOK\r\n");
    block_on(async {
        modem.modem.set_auto_answer(3).await.unwrap();
        modem.modem.set_auto_answer(0).await.unwrap();
    });
    modem.assert_script_done();
}

#[test]
fn send_sms_text_writes_the_prompt_command_then_the_body_with_ctrl_z() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CMGF=1\r", b"\r\nOK\r\n")
        .expect(b"AT+CMGS=\"+491721234567\"\r", b"\r\n> ")
        .expect(b"Hello\x1a", b"\r\n+CMGS: 12\r\n\r\nOK\r\n");
    let reference = block_on(modem.modem.send_sms_text("+491721234567", "Hello")).unwrap();
    assert_eq!(reference, 12);
    modem.assert_script_done();
}

#[test]
fn send_sms_text_with_a_body_the_modem_echoes() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CMGF=1\r", b"\r\nOK\r\n")
        .expect(b"AT+CMGS=\"0171234567\"\r", b"\r\n> ")
        .expect(
            b"Two\nlines\x1a",
            b"Two\r\nlines\x1a\r\n+CMGS: 255\r\n\r\nOK\r\n",
        );
    let reference = block_on(modem.modem.send_sms_text("0171234567", "Two\nlines")).unwrap();
    assert_eq!(reference, 255);
}

#[test]
fn send_sms_text_refused_at_the_prompt_does_not_send_the_body() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CMGF=1\r", b"\r\nOK\r\n")
        .expect(b"AT+CMGS=\"+491721234567\"\r", b"\r\n+CMS ERROR: 330\r\n");
    let error = block_on(modem.modem.send_sms_text("+491721234567", "Hi")).unwrap_err();
    assert_eq!(error, Error::new("AT+CMGS", ErrorKind::Cms(330)));
    assert_eq!(modem.commands().len(), 2);
}

#[test]
fn send_sms_text_failing_in_the_network_names_the_body_step() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CMGF=1\r", b"\r\nOK\r\n")
        .expect(b"AT+CMGS=\"+491721234567\"\r", b"\r\n> ")
        .expect(b"Hi\x1a", b"\r\n+CMS ERROR: 500\r\n");
    let error = block_on(modem.modem.send_sms_text("+491721234567", "Hi")).unwrap_err();
    assert_eq!(error, Error::new("AT+CMGS body", ErrorKind::Cms(500)));
    assert!(
        error
            .to_string()
            .starts_with("AT+CMGS body failed: the modem answered +CMS ERROR: 500")
    );
}

#[test]
fn a_failed_send_says_whether_the_message_may_have_left() {
    let mut modem = ScriptedModem::new();
    modem
        // Refused at the prompt: nothing left, it may be sent again.
        .expect(b"AT+CMGF=0\r", b"\r\nOK\r\n")
        .expect(b"AT+CMGS=30\r", b"\r\n+CMS ERROR: 330\r\n")
        // The network refused the body: nothing left either.
        .expect(b"AT+CMGF=0\r", b"\r\nOK\r\n")
        .expect(b"AT+CMGS=30\r", b"\r\n> ")
        .expect(PDU_BODY, b"\r\n+CMS ERROR: 500\r\n")
        // No answer after the body: it may have gone.
        .expect(b"AT+CMGF=0\r", b"\r\nOK\r\n")
        .expect(b"AT+CMGS=30\r", b"\r\n> ")
        .expect_silence(PDU_BODY)
        // A garbled answer after the body: it may have gone too.
        .expect(b"AT+CMGF=0\r", b"\r\nOK\r\n")
        .expect(b"AT+CMGS=30\r", b"\r\n> ")
        .expect(PDU_BODY, b"\r\n+CMGS: x\r\n\r\nOK\r\n");
    block_on(async {
        let mut send = async || modem.modem.send_sms_pdu(PDU_HEX, 30).await.unwrap_err();
        assert_eq!(send().await.send_failure(), SendFailure::Definite);
        assert_eq!(send().await.send_failure(), SendFailure::Definite);
        assert_eq!(send().await.send_failure(), SendFailure::Unknown);
        assert_eq!(send().await.send_failure(), SendFailure::Unknown);
    });
    // A PDU the driver refuses never reaches the modem and can never be sent.
    let refused = block_on(modem.modem.send_sms_pdu("0011", 24)).unwrap_err();
    assert_eq!(refused.send_failure(), SendFailure::Permanent);
    modem.assert_script_done();
}

#[test]
fn send_sms_pdu_writes_the_tpdu_length_then_the_hex() {
    let mut modem = ScriptedModem::new();
    let pdu = "0011000B911326880736F40000A70AE8329BFD4697D9EC37";
    modem
        .expect(b"AT+CMGF=0\r", b"\r\nOK\r\n")
        .expect(b"AT+CMGS=23\r", b"\r\n> ")
        .expect(
            format!("{pdu}\x1a").as_bytes(),
            b"\r\n+CMGS: 7\r\n\r\nOK\r\n",
        );
    let reference = block_on(modem.modem.send_sms_pdu(pdu, 23)).unwrap();
    assert_eq!(reference, 7);
    modem.assert_script_done();
}

#[test]
fn read_sms_in_pdu_mode_returns_the_pdu_for_the_codec() {
    let mut modem = ScriptedModem::new();
    modem.expect(b"AT+CMGF=0\r", b"\r\nOK\r\n").expect(
        b"AT+CMGR=0\r",
        format!("\r\n+CMGR: 0,,30\r\n{PDU_HEX}\r\n\r\nOK\r\n").as_bytes(),
    );
    let sms = block_on(modem.modem.read_sms(0)).unwrap().unwrap();
    assert_eq!(sms.status, MessageStatus::ReceivedUnread);
    assert_eq!(sms.tpdu_len, 30);
    assert_eq!(sms.pdu_hex.as_str(), PDU_HEX);
    modem.assert_script_done();
}

#[test]
fn read_sms_of_an_empty_slot_is_none() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CMGF=0\r", b"\r\nOK\r\n")
        .expect(b"AT+CMGR=5\r", b"\r\nOK\r\n");
    assert_eq!(block_on(modem.modem.read_sms(5)).unwrap(), None);
}

#[test]
fn read_sms_of_an_invalid_index_is_the_cms_error() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CMGF=0\r", b"\r\nOK\r\n")
        .expect(b"AT+CMGR=999\r", b"\r\n+CMS ERROR: 321\r\n");
    assert_eq!(
        block_on(modem.modem.read_sms(999)).unwrap_err(),
        Error::new("AT+CMGR", ErrorKind::Cms(321))
    );
}

#[test]
fn read_sms_whose_text_reads_like_a_final_code_stays_a_message() {
    // A text-mode body of "OK" is data, not the final code; in PDU mode the line is hex,
    // but a read message with status 1 (read) and a short PDU must parse the same way.
    let mut modem = ScriptedModem::new();
    modem.expect(b"AT+CMGF=0\r", b"\r\nOK\r\n").expect(
        b"AT+CMGR=3\r",
        b"\r\n+CMGR: 1,\"\",12\r\n0011000B911326880736F4000000\r\n\r\nOK\r\n",
    );
    let sms = block_on(modem.modem.read_sms(3)).unwrap().unwrap();
    assert_eq!(sms.status, MessageStatus::ReceivedRead);
    assert_eq!(sms.tpdu_len, 12);
}

#[test]
fn delete_sms_sends_cmgd() {
    let mut modem = ScriptedModem::new();
    modem.expect(b"AT+CMGD=4\r", b"\r\nOK\r\n");
    block_on(modem.modem.delete_sms(4)).unwrap();
    modem.assert_script_done();
}

#[test]
fn signal_quality_reads_csq() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CSQ\r", b"\r\n+CSQ: 16,99\r\n\r\nOK\r\n")
        .expect(b"AT+CSQ\r", b"\r\n+CSQ: 99,99\r\n\r\nOK\r\n")
        .expect(b"AT+CSQ\r", b"\r\n+CSQ: 31,0\r\n\r\nOK\r\n");
    block_on(async {
        let quality = modem.modem.signal_quality().await.unwrap();
        assert_eq!((quality.rssi_dbm(), quality.ber), (Some(-81), None));
        let unknown = modem.modem.signal_quality().await.unwrap();
        assert_eq!((unknown.rssi_dbm(), unknown.ber), (None, None));
        let best = modem.modem.signal_quality().await.unwrap();
        assert_eq!((best.rssi_dbm(), best.ber), (Some(-51), Some(0)));
    });
}

#[test]
fn registration_reads_creg() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CREG?\r", b"\r\n+CREG: 0,1\r\n\r\nOK\r\n")
        .expect(
            b"AT+CREG?\r",
            b"\r\n+CREG: 2,5,\"9E9A\",\"019624BD\",7\r\n\r\nOK\r\n",
        )
        .expect(b"AT+CREG?\r", b"\r\n+CREG: 0,3\r\n\r\nOK\r\n");
    block_on(async {
        assert_eq!(
            modem.modem.registration().await.unwrap(),
            RegistrationStatus::Home
        );
        let roaming = modem.modem.registration().await.unwrap();
        assert_eq!(roaming, RegistrationStatus::Roaming);
        assert!(roaming.is_registered());
        let denied = modem.modem.registration().await.unwrap();
        assert_eq!(denied, RegistrationStatus::Denied);
        assert!(!denied.is_registered());
    });
}

fn refused(name: &'static str, problem: &'static str) -> ErrorKind {
    ErrorKind::InvalidArgument(InvalidArgument { name, problem })
}

#[test]
fn bad_sms_arguments_are_refused_before_anything_is_sent() {
    let mut modem = ScriptedModem::new();
    block_on(async {
        let cases: Vec<(&str, String, ErrorKind)> = vec![
            ("", "x".into(), refused("number", "is empty")),
            ("+", "x".into(), refused("number", "is empty")),
            (
                "+49 172",
                "x".into(),
                refused("number", "must be digits with an optional leading +"),
            ),
            (
                "\"+49\"",
                "x".into(),
                refused("number", "must be digits with an optional leading +"),
            ),
            (
                "123456789012345678901",
                "x".into(),
                refused("number", "has more than 20 digits"),
            ),
            (
                "+491721234567",
                "a".repeat(161),
                refused("text", "is longer than 160 characters (send it as PDUs)"),
            ),
            (
                "+491721234567",
                "Grüße".into(),
                refused(
                    "text",
                    "has characters outside printable ASCII (send it as PDUs)",
                ),
            ),
            (
                "+491721234567",
                "stop\x1anow".into(),
                refused(
                    "text",
                    "has characters outside printable ASCII (send it as PDUs)",
                ),
            ),
        ];
        for (number, text, kind) in cases {
            let error = modem.modem.send_sms_text(number, &text).await.unwrap_err();
            assert_eq!(error, Error::new("AT+CMGS", kind), "{number:?} {text:?}");
        }
    });
    assert!(modem.commands().is_empty());
}

#[test]
fn a_160_character_text_is_accepted() {
    let mut modem = ScriptedModem::new();
    let text = "x".repeat(160);
    modem
        .expect(b"AT+CMGF=1\r", b"\r\nOK\r\n")
        .expect(b"AT+CMGS=\"123\"\r", b"\r\n> ")
        .expect(
            format!("{text}\x1a").as_bytes(),
            b"\r\n+CMGS: 1\r\n\r\nOK\r\n",
        );
    assert_eq!(
        block_on(modem.modem.send_sms_text("123", &text)).unwrap(),
        1
    );
}

#[test]
fn bad_pdus_are_refused_before_anything_is_sent() {
    let mut modem = ScriptedModem::new();
    let pdu = "0011000B911326880736F40000A70AE8329BFD4697D9EC37";
    block_on(async {
        let cases: Vec<(String, usize, ErrorKind)> = vec![
            (
                String::new(),
                1,
                refused("pdu_hex", "must be a non-empty, even number of hex digits"),
            ),
            (
                "001".into(),
                1,
                refused("pdu_hex", "must be a non-empty, even number of hex digits"),
            ),
            (
                "00GG".into(),
                1,
                refused("pdu_hex", "has characters that are not hex digits"),
            ),
            (
                "00".repeat(177),
                176,
                refused("pdu_hex", "is longer than 352 hex digits"),
            ),
            (pdu.into(), 0, refused("tpdu_len", "must be 1..=164 octets")),
            (
                pdu.into(),
                22,
                refused(
                    "tpdu_len",
                    "does not match pdu_hex (SMSC length octet + SMSC + TPDU must be the whole PDU)",
                ),
            ),
        ];
        for (hex, len, kind) in cases {
            let error = modem.modem.send_sms_pdu(&hex, len).await.unwrap_err();
            assert_eq!(error, Error::new("AT+CMGS", kind), "{hex:?} {len}");
        }
    });
    assert!(modem.commands().is_empty());
}

#[test]
fn a_long_text_encoded_by_the_pdu_codec_goes_out_part_by_part() {
    use modem_core::pdu::{Address, SubmitOptions, SubmitPlan};

    // Cyrillic is outside GSM 7-bit: UCS-2, 70 characters a part, so 76 take two.
    let text = "Привет из подвала! ".repeat(4);
    let destination = Address::parse_number("+491721234567").unwrap();
    let plan = SubmitPlan::new(destination, &text, 42, SubmitOptions::default()).unwrap();
    assert_eq!(plan.parts(), 2);
    let parts: Vec<_> = plan.encoded_parts().map(Result::unwrap).collect();

    let mut modem = ScriptedModem::new();
    for (i, part) in parts.iter().enumerate() {
        modem
            .expect(b"AT+CMGF=0\r", b"\r\nOK\r\n")
            .expect(
                format!("AT+CMGS={}\r", part.tpdu_length).as_bytes(),
                b"\r\n> ",
            )
            .expect(
                format!("{}\x1a", part.hex).as_bytes(),
                format!("\r\n+CMGS: {}\r\n\r\nOK\r\n", 100 + i).as_bytes(),
            );
    }
    let references: Vec<u8> = block_on(async {
        let mut references = Vec::new();
        for part in &parts {
            references.push(modem.modem.send_sms_part(part).await.unwrap());
        }
        references
    });
    assert_eq!(references, [100, 101]);
    modem.assert_script_done();
}

#[test]
fn dial_sends_atd_with_the_voice_semicolon_and_progress_comes_as_urcs() {
    let mut modem = ScriptedModem::new();
    let mut urcs = modem.subscribe();
    modem.expect(b"ATD+491761234567;\r", b"\r\nOK\r\n");
    block_on(modem.modem.dial("+491761234567")).unwrap();
    modem.modem_sends(b"\r\n+CLCC: 1,0,3,0,0,\"+491761234567\",145\r\n\r\nBUSY\r\n");
    assert_eq!(support::drain(&mut urcs).len(), 2);
    modem.assert_script_done();
}

#[test]
fn dial_refuses_what_is_not_a_number_before_sending() {
    let mut modem = ScriptedModem::new();
    for bad in ["", "+", "12a4", "*100#", "123456789012345678901"] {
        let error = block_on(modem.modem.dial(bad)).unwrap_err();
        assert!(
            matches!(
                error.kind,
                ErrorKind::InvalidArgument(InvalidArgument { name: "number", .. })
            ),
            "{bad:?}: {error}"
        );
    }
    modem.assert_script_done();
}

#[test]
fn busy_before_the_dials_ok_is_the_dials_error() {
    let mut modem = ScriptedModem::new();
    modem.expect(b"ATD5551234;\r", b"\r\nBUSY\r\n");
    let error = block_on(modem.modem.dial("5551234")).unwrap_err();
    assert_eq!(
        error,
        Error::new("ATD", ErrorKind::Connection(ConnectionFailure::Busy))
    );
}

#[test]
fn send_dtmf_sends_vts_with_the_bare_key() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+VTS=5\r", b"\r\nOK\r\n")
        .expect(b"AT+VTS=#\r", b"\r\nOK\r\n");
    block_on(async {
        let key = |b| modem_core::urc::DtmfKey::from_ascii(b).unwrap();
        modem.modem.send_dtmf(key(b'5')).await.unwrap();
        modem.modem.send_dtmf(key(b'#')).await.unwrap();
    });
    modem.assert_script_done();
}

#[test]
fn send_ussd_sends_cusd_and_the_answer_is_a_urc() {
    let mut modem = ScriptedModem::new();
    let mut urcs = modem.subscribe();
    modem.expect(b"AT+CUSD=1,\"*100#\",15\r", b"\r\nOK\r\n");
    block_on(modem.modem.send_ussd("*100#")).unwrap();
    modem.modem_sends(b"\r\n+CUSD: 0,\"Balance 5.00\",15\r\n");
    let got = support::drain(&mut urcs);
    assert!(
        matches!(got.as_slice(), [modem_core::urc::Urc::Ussd(r)] if r.text.as_deref() == Some("Balance 5.00")),
        "{got:?}"
    );
    // Refused during a call: the modem's error names AT+CUSD.
    modem.expect(b"AT+CUSD=1,\"*101#\",15\r", b"\r\n+CME ERROR: 3\r\n");
    let error = block_on(modem.modem.send_ussd("*101#")).unwrap_err();
    assert_eq!(error.command, "AT+CUSD");
    for bad in ["", "*100#;ATD1", "#1 2#"] {
        assert!(block_on(modem.modem.send_ussd(bad)).is_err(), "{bad:?}");
    }
    modem.assert_script_done();
}
