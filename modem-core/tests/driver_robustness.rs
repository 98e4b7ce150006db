//! The driver when the modem misbehaves or talks at the same time: URCs in the middle of
//! replies, error codes in numbers and words, over-long lines, silence. After each of
//! these, the next command must work.
#![allow(clippy::unwrap_used)]

mod support;

use futures::executor::block_on;
use modem_core::driver::{Error, ErrorKind};
use modem_core::urc::{CallerId, CliValidity, NumberType, Urc};
use support::{ScriptedModem, TEST_RESPONSE_TIMEOUT_MS, drain};

fn caller_de() -> Urc {
    Urc::CallerId(CallerId {
        number: Some("+491761234567".try_into().unwrap()),
        number_type: NumberType::International,
        alpha: None,
        validity: CliValidity::Valid,
    })
}

const CSQ_WITH_A_CALL_IN_THE_MIDDLE: &[u8] =
    b"\r\n+CSQ: 16,99\r\n\r\nRING\r\n\r\n+CLIP: \"+491761234567\",145,,,,0\r\n\r\nOK\r\n";

#[test]
fn a_ring_between_a_reply_and_its_ok_leaves_both_intact_in_every_chunking() {
    for chunk in [1, 2, 3, 5, 7, 16, usize::MAX] {
        let mut modem = ScriptedModem::with_chunks(chunk);
        let mut urcs = modem.subscribe();
        modem.expect(b"AT+CSQ\r", CSQ_WITH_A_CALL_IN_THE_MIDDLE);
        let quality =
            block_on(modem.modem.signal_quality()).unwrap_or_else(|e| panic!("chunk {chunk}: {e}"));
        assert_eq!(
            (quality.rssi_dbm(), quality.ber),
            (Some(-81), None),
            "chunk {chunk}"
        );
        assert_eq!(
            drain(&mut urcs),
            vec![Urc::Ring, caller_de()],
            "chunk {chunk}"
        );
    }
}

#[test]
fn a_ring_between_the_command_and_a_bare_reply_does_not_become_the_reply() {
    let mut modem = ScriptedModem::with_chunks(1);
    let mut urcs = modem.subscribe();
    modem
        .expect(b"AT\r", b"\r\nOK\r\n")
        .expect(
            b"AT+CGMI\r",
            b"\r\nRING\r\n\r\nSIMCOM INCORPORATED\r\n\r\n+CLIP: \"+491761234567\",145,,,,0\r\n\r\nOK\r\n",
        )
        .expect(b"AT+CGMM\r", b"\r\nSIMCOM_SIM7600E-H\r\n\r\nOK\r\n");
    let identity = block_on(modem.modem.probe()).unwrap();
    assert_eq!(identity.manufacturer.as_str(), "SIMCOM INCORPORATED");
    assert!(identity.is_sim7600);
    assert_eq!(drain(&mut urcs), vec![Urc::Ring, caller_de()]);
}

#[test]
fn urcs_framed_with_cr_cr_lf_inside_a_reply_are_delivered() {
    let mut modem = ScriptedModem::with_chunks(3);
    let mut urcs = modem.subscribe();
    modem.expect(
        b"AT+CREG?\r",
        b"\r\n+CREG: 0,1\r\n\r\r\n+CRING: VOICE\r\r\n\r\r\n+RXDTMF: 5\r\r\n\r\nOK\r\n",
    );
    block_on(modem.modem.registration()).unwrap();
    let got = drain(&mut urcs);
    assert_eq!(got.len(), 2, "{got:?}");
}

#[test]
fn a_call_rings_while_an_sms_is_being_sent() {
    let mut modem = ScriptedModem::with_chunks(4);
    let mut urcs = modem.subscribe();
    modem
        .expect(b"AT+CMGF=1\r", b"\r\nOK\r\n\r\nRING\r\n")
        .expect(b"AT+CMGS=\"+491721234567\"\r", b"\r\n> ")
        .expect(
            b"Hello\x1a",
            b"\r\n+CLIP: \"+491761234567\",145,,,,0\r\n\r\n+CMGS: 12\r\n\r\nRING\r\n\r\nOK\r\n",
        );
    let reference = block_on(modem.modem.send_sms_text("+491721234567", "Hello")).unwrap();
    assert_eq!(reference, 12);
    assert_eq!(drain(&mut urcs), vec![Urc::Ring, caller_de(), Urc::Ring]);
}

#[test]
fn urcs_between_commands_reach_the_subscriber_and_the_next_command_works() {
    let mut modem = ScriptedModem::new();
    let mut urcs = modem.subscribe();
    modem.modem_sends(b"\r\nRING\r\n\r\n+CLIP: \"+491761234567\",145,,,,0\r\n");
    modem.expect(b"ATA\r", b"\r\nOK\r\n\r\nVOICE CALL: BEGIN\r\n");
    block_on(modem.modem.answer()).unwrap();
    assert_eq!(
        drain(&mut urcs),
        vec![Urc::Ring, caller_de(), Urc::VoiceCallBegin]
    );
}

fn error_of(reply: &[u8]) -> ErrorKind {
    let mut modem = ScriptedModem::with_chunks(2);
    modem
        .expect(b"ATS0=3\r", reply)
        .expect(b"ATS0=3\r", b"\r\nOK\r\n");
    block_on(async {
        let error = modem.modem.set_auto_answer(3).await.unwrap_err();
        assert_eq!(error.command, "ATS0");
        // Whatever the error, the link is fine afterwards.
        modem.modem.set_auto_answer(3).await.unwrap();
        error.kind
    })
}

#[test]
fn cme_error_with_a_number() {
    assert_eq!(error_of(b"\r\n+CME ERROR: 10\r\n"), ErrorKind::Cme(10));
    assert_eq!(error_of(b"\r\n+CME ERROR: 3\r\n"), ErrorKind::Cme(3));
}

#[test]
fn cme_error_in_words_is_mapped_to_its_number() {
    assert_eq!(
        error_of(b"\r\n+CME ERROR: SIM not inserted\r\n"),
        ErrorKind::Cme(10)
    );
    assert_eq!(
        error_of(b"\r\n+CME ERROR: Operation not allowed\r\n"),
        ErrorKind::Cme(3)
    );
    assert_eq!(
        error_of(b"\r\n+CME ERROR: SIM PIN required\r\n"),
        ErrorKind::Cme(11)
    );
}

#[test]
fn cms_error_with_a_number_and_with_the_manuals_full_width_colon() {
    assert_eq!(error_of(b"\r\n+CMS ERROR: 321\r\n"), ErrorKind::Cms(321));
    assert_eq!(
        error_of("\r\n+CMS ERROR ：340\r\n".as_bytes()),
        ErrorKind::Cms(340)
    );
}

#[test]
fn cms_error_in_words() {
    let kind = error_of(b"\r\n+CMS ERROR: invalid memory index\r\n");
    assert!(
        matches!(kind, ErrorKind::Cms(321) | ErrorKind::ErrorText(_)),
        "{kind:?}"
    );
}

#[test]
fn an_error_text_nobody_knows_is_kept_for_the_person_reading_the_log() {
    let kind = error_of(b"\r\n+CME ERROR: modem is on fire\r\n");
    let ErrorKind::ErrorText(text) = &kind else {
        panic!("expected the text, got {kind:?}");
    };
    assert!(text.contains("modem is on fire"), "{text:?}");
    let shown = Error::new("ATS0", kind.clone()).to_string();
    assert!(
        shown.starts_with("ATS0 failed: the modem answered"),
        "{shown}"
    );
}

#[test]
fn plain_error() {
    assert_eq!(error_of(b"\r\nERROR\r\n"), ErrorKind::Error);
}

#[test]
fn an_over_long_line_is_a_capacity_error_and_the_next_command_works() {
    let mut modem = ScriptedModem::with_chunks(64);
    let mut long_reply = b"\r\n+CSQ: ".to_vec();
    long_reply.extend(std::iter::repeat_n(b'9', 700));
    long_reply.extend_from_slice(b"\r\n\r\nOK\r\n");
    modem
        .expect(b"AT+CSQ\r", &long_reply)
        .expect(b"AT+CSQ\r", b"\r\n+CSQ: 16,99\r\n\r\nOK\r\n");
    block_on(async {
        let error = modem.modem.signal_quality().await.unwrap_err();
        assert_eq!(error, Error::new("AT+CSQ", ErrorKind::Capacity));
        assert_eq!(
            error.to_string(),
            "AT+CSQ failed: the reply was longer than the driver's buffer"
        );
        let quality = modem.modem.signal_quality().await.unwrap();
        assert_eq!(quality.rssi_dbm(), Some(-81));
    });
    modem.assert_script_done();
}

#[test]
fn a_reply_of_many_short_lines_longer_than_the_response_buffer_is_a_capacity_error() {
    let mut modem = ScriptedModem::with_chunks(100);
    let mut reply = Vec::new();
    for _ in 0..100 {
        reply.extend_from_slice(b"\r\n+CREG: 2,5,\"9E9A\",\"019624BD\",7\r\n");
    }
    reply.extend_from_slice(b"\r\nOK\r\n");
    modem
        .expect(b"AT+CREG?\r", &reply)
        .expect(b"AT+CREG?\r", b"\r\n+CREG: 0,5\r\n\r\nOK\r\n");
    block_on(async {
        let error = modem.modem.registration().await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::Capacity);
        assert!(modem.modem.registration().await.unwrap().is_registered());
    });
}

#[test]
fn a_modem_that_never_answers_times_out_and_the_next_command_works() {
    let mut modem = ScriptedModem::new();
    modem
        .expect_silence(b"AT+CHUP\r")
        .expect(b"AT+CHUP\r", b"\r\nOK\r\n");
    block_on(async {
        let started = std::time::Instant::now();
        let error = modem.modem.hang_up().await.unwrap_err();
        let waited = started.elapsed();
        assert_eq!(error, Error::new("AT+CHUP", ErrorKind::Timeout));
        assert_eq!(
            error.to_string(),
            "AT+CHUP failed: no reply before the timeout"
        );
        assert!(
            waited.as_millis() >= u128::from(TEST_RESPONSE_TIMEOUT_MS),
            "gave up after {waited:?}"
        );
        modem.modem.hang_up().await.unwrap();
    });
    modem.assert_script_done();
}

#[test]
fn a_late_ok_after_a_timeout_is_not_taken_as_the_next_commands_reply() {
    let mut modem = ScriptedModem::new();
    modem
        .expect_silence(b"AT+CSQ\r")
        .expect(b"AT+CREG?\r", b"\r\n+CREG: 0,1\r\n\r\nOK\r\n");
    block_on(async {
        assert_eq!(
            modem.modem.signal_quality().await.unwrap_err().kind,
            ErrorKind::Timeout
        );
        // The modem wakes up and finally answers the command that timed out.
        modem.modem_sends(b"\r\n+CSQ: 16,99\r\n\r\nOK\r\n");
        assert!(modem.modem.registration().await.unwrap().is_registered());
    });
}

#[test]
fn a_lost_sms_prompt_times_out_cancels_with_esc_and_the_next_command_works() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CMGF=1\r", b"\r\nOK\r\n")
        .expect_silence(b"AT+CMGS=\"+491721234567\"\r")
        .expect(b"\x1b", b"\r\nOK\r\n")
        .expect(b"AT+CSQ\r", b"\r\n+CSQ: 16,99\r\n\r\nOK\r\n");
    block_on(async {
        let error = modem
            .modem
            .send_sms_text("+491721234567", "Hello")
            .await
            .unwrap_err();
        assert_eq!(error, Error::new("AT+CMGS", ErrorKind::Timeout));
        modem.modem.signal_quality().await.unwrap();
    });
    modem.assert_script_done();
}

#[test]
fn an_sms_body_the_network_never_confirms_times_out_and_the_next_command_works() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CMGF=0\r", b"\r\nOK\r\n")
        .expect(b"AT+CMGS=13\r", b"\r\n> ")
        .expect_silence(b"0011000B911326880736F4000000\x1a")
        .expect(b"AT+CMGD=1\r", b"\r\nOK\r\n");
    block_on(async {
        let error = modem
            .modem
            .send_sms_pdu("0011000B911326880736F4000000", 13)
            .await;
        // 14 octets = SMSC length octet (00) + 13 octets of TPDU.
        assert_eq!(
            error.unwrap_err(),
            Error::new("AT+CMGS body", ErrorKind::Timeout)
        );
        modem.modem.delete_sms(1).await.unwrap();
    });
}

#[test]
fn garbage_before_a_reply_does_not_stop_the_reply() {
    let mut modem = ScriptedModem::with_chunks(5);
    modem.expect(
        b"AT+CSQ\r",
        b"\x00\xff\xfe garbage\r\n\r\n+CSQ: 10,99\r\n\r\nOK\r\n",
    );
    let quality = block_on(modem.modem.signal_quality()).unwrap();
    assert_eq!(quality.rssi_dbm(), Some(-93));
}

#[test]
fn a_reply_in_a_form_the_driver_does_not_expect_is_a_parse_error_naming_the_command() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CSQ\r", b"\r\n+CSQ: lots\r\n\r\nOK\r\n")
        .expect(b"AT+CSQ\r", b"\r\n+CSQ: 5,5\r\n\r\nOK\r\n");
    block_on(async {
        assert_eq!(
            modem.modem.signal_quality().await.unwrap_err(),
            Error::new("AT+CSQ", ErrorKind::Parse)
        );
        modem.modem.signal_quality().await.unwrap();
    });
}
