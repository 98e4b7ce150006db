//! Incoming calls as the SIM7600 reports them, through a client that speaks only bytes.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::fresh;

const RINGS: Option<Duration> = Some(Duration::from_millis(40));

/// `text` with the six duration digits after `VOICE CALL: END: ` replaced by `HHMMSS`
/// (a loaded machine may take a second between two steps); the digits must be digits.
fn masked_duration(text: &str) -> String {
    let key = "VOICE CALL: END: ";
    let Some(at) = text.find(key).map(|i| i + key.len()) else {
        return text.to_string();
    };
    let digits = &text[at..at + 6];
    assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{text:?}");
    assert!(
        digits.starts_with("0000"),
        "a call of minutes in a test: {text:?}"
    );
    format!("{}HHMMSS{}", &text[..at], &text[at + 6..])
}

#[test]
fn caller_id_follows_every_ring_once_clip_is_on_and_ats0_3_answers_on_the_third() {
    let (sim, mut port) = fresh();
    assert_eq!(port.at("AT+CLIP=1"), "\r\nOK\r\n");
    assert_eq!(port.at("ATS0=3"), "\r\nOK\r\n");
    assert_eq!(port.at("ATS0?"), "\r\n003\r\n\r\nOK\r\n");
    sim.call("+491761234567", false, RINGS).unwrap();
    let ring = "\r\nRING\r\n\r\n+CLIP: \"+491761234567\",145,,,,0\r\n";
    assert_eq!(
        port.expect("VOICE CALL: BEGIN\r\n"),
        format!("{ring}{ring}{ring}\r\nVOICE CALL: BEGIN\r\n")
    );
    // Answered: no more RINGs.
    assert_eq!(port.read_for(Duration::from_millis(150)), "");
    let state = sim.state().unwrap();
    assert_eq!(state.modem.calls.len(), 1);
    assert_eq!(state.modem.calls[0].rings, 3);
}

#[test]
fn without_clip_a_call_is_only_ring_and_it_keeps_ringing_without_ats0() {
    let (sim, mut port) = fresh();
    sim.call("+491761234567", false, RINGS).unwrap();
    let heard = port.read_for(Duration::from_millis(150));
    assert!(heard.matches("\r\nRING\r\n").count() >= 3, "{heard:?}");
    assert!(!heard.contains("CLIP"), "{heard:?}");
    assert!(!heard.contains("VOICE CALL"), "{heard:?}");
}

#[test]
fn ata_answers_with_ok_then_voice_call_begin() {
    let (sim, mut port) = fresh();
    sim.call("02152063113", false, Some(Duration::from_secs(10)))
        .unwrap();
    port.expect("\r\nRING\r\n");
    assert_eq!(port.at("ATA"), "\r\nOK\r\n");
    assert_eq!(
        port.expect("\r\nVOICE CALL: BEGIN\r\n"),
        "\r\nVOICE CALL: BEGIN\r\n"
    );
}

#[test]
fn ata_without_a_call_is_no_carrier() {
    let (_sim, mut port) = fresh();
    assert_eq!(port.at("ATA"), "\r\nNO CARRIER\r\n");
}

#[test]
fn caller_hangs_up_after_the_call_was_answered() {
    let (sim, mut port) = fresh();
    port.at("ATS0=1");
    sim.call("+491761234567", false, RINGS).unwrap();
    port.expect("VOICE CALL: BEGIN\r\n");
    std::thread::sleep(Duration::from_millis(1100));
    sim.hangup().unwrap();
    assert_eq!(
        port.expect("NO CARRIER\r\n"),
        "\r\nVOICE CALL: END: 000001\r\n\r\nNO CARRIER\r\n"
    );
    assert!(sim.state().unwrap().modem.calls.is_empty());
}

#[test]
fn caller_gives_up_before_anyone_answers_and_a_missed_call_is_reported() {
    let (sim, mut port) = fresh();
    port.at("AT+CLIP=1");
    sim.call("07712345678", false, Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        port.expect("0\r\n"),
        "\r\nRING\r\n\r\n+CLIP: \"07712345678\",129,,,,0\r\n"
    );
    sim.hangup().unwrap();
    let line = port.expect(" 07712345678\r\n");
    let time = line
        .strip_prefix("\r\nMISSED_CALL: ")
        .and_then(|l| l.strip_suffix(" 07712345678\r\n"))
        .unwrap_or_else(|| panic!("not a missed-call line: {line:?}"));
    // hh:mmAM or hh:mmPM, as the SIM7600 prints it.
    assert_eq!(time.len(), 7, "{time:?}");
    assert!(time.ends_with("AM") || time.ends_with("PM"), "{time:?}");
    assert_eq!(&time[2..3], ":");
    assert!(port.read_for(Duration::from_millis(100)).is_empty());
}

#[test]
fn the_missed_control_rings_once_and_reports_the_missed_call() {
    let (sim, mut port) = fresh();
    port.at("AT+CLIP=1");
    sim.missed("+4915112345678").unwrap();
    let heard = port.expect(" +4915112345678\r\n");
    assert!(
        heard
            .starts_with("\r\nRING\r\n\r\n+CLIP: \"+4915112345678\",145,,,,0\r\n\r\nMISSED_CALL: "),
        "{heard:?}"
    );
    assert!(sim.state().unwrap().modem.calls.is_empty());
}

#[test]
fn a_withheld_number_shows_as_empty_with_type_128_and_validity_1() {
    let (sim, mut port) = fresh();
    port.at("AT+CLIP=1");
    sim.call("+491761234567", true, Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        port.expect(",1\r\n"),
        "\r\nRING\r\n\r\n+CLIP: \"\",128,,,,1\r\n"
    );
}

#[test]
fn chup_ends_an_answered_call_with_its_duration_and_no_carrier() {
    let (sim, mut port) = fresh();
    sim.call("+491761234567", false, Some(Duration::from_secs(10)))
        .unwrap();
    port.expect("RING\r\n");
    port.at("ATA");
    port.expect("VOICE CALL: BEGIN\r\n");
    assert_eq!(port.at("AT+CHUP"), "\r\nOK\r\n");
    assert_eq!(
        masked_duration(&port.expect("NO CARRIER\r\n")),
        "\r\nVOICE CALL: END: HHMMSS\r\n\r\nNO CARRIER\r\n"
    );
    assert!(sim.state().unwrap().modem.calls.is_empty());
}

#[test]
fn chup_rejects_a_ringing_call_and_the_rings_stop() {
    let (sim, mut port) = fresh();
    sim.call("+491761234567", false, RINGS).unwrap();
    port.expect("RING\r\n");
    port.send("AT+CHUP");
    port.expect("\r\nOK\r\n");
    std::thread::sleep(Duration::from_millis(20));
    let after = port.read_for(Duration::from_millis(150));
    assert!(!after.contains("RING"), "{after:?}");
    assert!(sim.state().unwrap().modem.calls.is_empty());
    assert!(sim.hangup().is_err(), "nobody left to hang up");
}

#[test]
fn ath_hangs_up_only_while_cvhu_is_0() {
    let (sim, mut port) = fresh();
    sim.call("+491761234567", false, Some(Duration::from_secs(10)))
        .unwrap();
    port.expect("RING\r\n");
    port.at("ATA");
    port.expect("VOICE CALL: BEGIN\r\n");
    assert_eq!(port.at("AT+CVHU=1"), "\r\nOK\r\n");
    assert_eq!(port.at("ATH"), "\r\nOK\r\n");
    assert_eq!(port.read_for(Duration::from_millis(100)), "");
    assert_eq!(
        sim.state().unwrap().modem.calls.len(),
        1,
        "ATH ignored with CVHU=1"
    );
    assert_eq!(port.at("AT+CVHU=0"), "\r\nOK\r\n");
    assert_eq!(port.at("ATH"), "\r\nOK\r\n");
    port.expect("VOICE CALL: END: ");
    port.expect("\r\nNO CARRIER\r\n");
    assert!(sim.state().unwrap().modem.calls.is_empty());
}

#[test]
fn clcc_lists_the_call_and_clcc_1_reports_every_change() {
    let (sim, mut port) = fresh();
    assert_eq!(port.at("AT+CLCC"), "\r\nOK\r\n");
    assert_eq!(port.at("AT+CLCC=1"), "\r\nOK\r\n");
    assert_eq!(port.at("AT+CLCC?"), "\r\n+CLCC: 1\r\n\r\nOK\r\n");
    sim.call("+491761234567", false, Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        port.expect("RING\r\n"),
        "\r\n+CLCC: 1,1,4,0,0,\"+491761234567\",145\r\n\r\nRING\r\n"
    );
    assert_eq!(
        port.at("AT+CLCC"),
        "\r\n+CLCC: 1,1,4,0,0,\"+491761234567\",145\r\n\r\nOK\r\n"
    );
    port.at("ATA");
    assert_eq!(
        port.expect("145\r\n"),
        "\r\nVOICE CALL: BEGIN\r\n\r\n+CLCC: 1,1,0,0,0,\"+491761234567\",145\r\n"
    );
    sim.hangup().unwrap();
    assert_eq!(
        masked_duration(&port.expect("NO CARRIER\r\n")),
        "\r\n+CLCC: 1,1,6,0,0,\"+491761234567\",145\r\n\r\nVOICE CALL: END: HHMMSS\r\n\r\nNO CARRIER\r\n"
    );
}

#[test]
fn keys_the_caller_presses_arrive_as_rxdtmf_only_during_a_call() {
    let (sim, mut port) = fresh();
    let refused = sim.dtmf("1").unwrap_err().to_string();
    assert!(refused.contains("dtmf needs an answered call"), "{refused}");
    port.at("ATS0=1");
    sim.call("+491761234567", false, RINGS).unwrap();
    port.expect("VOICE CALL: BEGIN\r\n");
    sim.dtmf("1*#A").unwrap();
    assert_eq!(
        port.expect("+RXDTMF: A\r\n"),
        "\r\n+RXDTMF: 1\r\n\r\n+RXDTMF: *\r\n\r\n+RXDTMF: #\r\n\r\n+RXDTMF: A\r\n"
    );
}

#[test]
fn crc_1_turns_ring_into_cring_voice() {
    let (sim, mut port) = fresh();
    port.at("AT+CRC=1");
    sim.call("+491761234567", false, Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(port.expect("VOICE\r\n"), "\r\n+CRING: VOICE\r\n");
}

#[test]
fn a_second_call_while_one_is_in_progress_is_refused() {
    let (sim, _port) = fresh();
    sim.call("+491761234567", false, None).unwrap();
    let e = sim
        .call("+491761234568", false, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("a call is already in progress"), "{e}");
}
