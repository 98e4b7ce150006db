//! SMS in text and PDU mode, through a client that speaks only bytes. PDUs here are
//! written out by hand or taken from SIM7600-PROTOCOL.md, never made by the simulator's
//! own codec, so a codec mistake cannot hide itself.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{fresh, started};
use modem_sim::SimConfig;

/// "hellohello" to +491721234567, GSM 7-bit, relative validity: 23 TPDU octets.
const HELLO_PDU: &str = "0011000C919471123254760000AA0AE8329BFD4697D9EC37";

#[test]
fn text_mode_send_prompts_takes_the_body_until_ctrl_z_and_reports_the_reference() {
    let (sim, mut port) = fresh();
    assert_eq!(port.at("AT+CMGF=1"), "\r\nOK\r\n");
    assert_eq!(port.at("AT+CMGS=\"+491721234567\""), "\r\n> ");
    port.send_bytes(b"Hello from the bot\x1A");
    assert_eq!(port.expect("OK\r\n"), "\r\n+CMGS: 1\r\n\r\nOK\r\n");
    let state = sim.state().unwrap();
    assert_eq!(state.modem.sent.len(), 1);
    assert_eq!(state.modem.sent[0].number, "+491721234567");
    assert_eq!(state.modem.sent[0].text, "Hello from the bot");
}

#[test]
fn text_mode_body_lines_get_a_new_prompt_and_echo_follows_ate() {
    let (sim, mut port) = fresh();
    port.at("ATE1");
    port.at("AT+CMGF=1");
    assert_eq!(port.at("AT+CMGS=\"123\""), "AT+CMGS=\"123\"\r\r\n> ");
    port.send_bytes(b"one\rtwo\x1A");
    assert_eq!(
        port.expect("OK\r\n"),
        "one\r\r\n> two\r\n+CMGS: 1\r\n\r\nOK\r\n"
    );
    assert_eq!(sim.state().unwrap().modem.sent[0].text, "one\ntwo");
}

#[test]
fn escape_cancels_a_message_and_nothing_is_sent() {
    let (sim, mut port) = fresh();
    port.at("AT+CMGF=1");
    port.at("AT+CMGS=\"+491721234567\"");
    port.send_bytes(b"never mind\x1B");
    assert_eq!(port.expect("OK\r\n"), "\r\nOK\r\n");
    assert!(sim.state().unwrap().modem.sent.is_empty());
    assert_eq!(port.at("AT"), "\r\nOK\r\n", "back in command mode");
}

#[test]
fn pdu_mode_send_is_decoded_to_number_and_text() {
    let (sim, mut port) = fresh();
    assert_eq!(port.at("AT+CMGF=0"), "\r\nOK\r\n");
    assert_eq!(port.at("AT+CMGS=23"), "\r\n> ");
    port.send_bytes(format!("{HELLO_PDU}\x1A").as_bytes());
    assert_eq!(port.expect("OK\r\n"), "\r\n+CMGS: 1\r\n\r\nOK\r\n");
    let state = sim.state().unwrap();
    assert_eq!(state.modem.sent[0].number, "+491721234567");
    assert_eq!(state.modem.sent[0].text, "hellohello");
    assert_eq!(state.modem.sent_parts[0].pdu.as_deref(), Some(HELLO_PDU));
}

#[test]
fn a_pdu_whose_length_does_not_match_cmgs_is_refused() {
    let (sim, mut port) = fresh();
    port.at("AT+CMEE=1");
    port.at("AT+CMGS=22");
    port.send_bytes(format!("{HELLO_PDU}\x1A").as_bytes());
    assert_eq!(port.expect("304\r\n"), "\r\n+CMS ERROR: 304\r\n");
    port.at("AT+CMGS=5");
    port.send_bytes(b"00GG\x1A");
    assert_eq!(port.expect("304\r\n"), "\r\n+CMS ERROR: 304\r\n");
    assert_eq!(port.at("AT+CMGS=0"), "\r\n+CMS ERROR: 304\r\n");
    assert!(sim.state().unwrap().modem.sent.is_empty());
}

#[test]
fn a_concatenated_ucs2_message_in_two_cmgs_is_joined_in_state() {
    let (sim, mut port) = fresh();
    let part1 = "0041000C919471123254760008120500032A020100480061006C006C006F0020";
    let part2 = "0041010C9194711232547600080E0500032A020200570065006C0074";
    port.at("AT+CMGS=31");
    port.send_bytes(format!("{part1}\x1A").as_bytes());
    port.expect("OK\r\n");
    assert!(
        sim.state().unwrap().modem.sent.is_empty(),
        "half a message is not a message"
    );
    port.at("AT+CMGS=27");
    port.send_bytes(format!("{part2}\x1A").as_bytes());
    assert_eq!(port.expect("OK\r\n"), "\r\n+CMGS: 2\r\n\r\nOK\r\n");
    let state = sim.state().unwrap();
    assert_eq!(state.modem.sent.len(), 1);
    assert_eq!(state.modem.sent[0].text, "Hallo Welt");
    assert_eq!(state.modem.sent[0].parts, 2);
}

#[test]
fn a_delivered_sms_is_announced_at_index_0_and_reads_as_the_protocol_notes_pdu() {
    let (sim, mut port) = fresh();
    sim.sms("+31641600986", "How are you?").unwrap();
    assert_eq!(
        port.expect("\r\n+CMTI: \"SM\",0\r\n"),
        "\r\n+CMTI: \"SM\",0\r\n"
    );
    let reply = port.at("AT+CMGR=0");
    let body = reply
        .strip_prefix("\r\n+CMGR: 0,,30\r\n")
        .and_then(|r| r.strip_suffix("\r\n\r\nOK\r\n"))
        .unwrap_or_else(|| panic!("{reply:?}"));
    // Same PDU as the notes' capture except the time stamp (7 octets).
    assert!(
        body.starts_with("07911326040000F0040B911346610089F60000"),
        "{body}"
    );
    assert!(body.ends_with("0CC8F71D14969741F977FD07"), "{body}");
    assert_eq!(body.len(), 2 * (8 + 30));
    // Read once: the status turns to REC READ (1).
    assert!(port.at("AT+CMGR=0").starts_with("\r\n+CMGR: 1,,30\r\n"));
}

#[test]
fn text_mode_read_shows_status_sender_and_time_then_the_text() {
    let (sim, mut port) = fresh();
    port.at("AT+CMGF=1");
    sim.sms("+31641600986", "How are you?").unwrap();
    port.expect("+CMTI: \"SM\",0\r\n");
    let reply = port.at("AT+CMGR=0");
    assert!(
        reply.starts_with("\r\n+CMGR: \"REC UNREAD\",\"+31641600986\",\"\",\""),
        "{reply:?}"
    );
    assert!(
        reply.ends_with("+00\"\r\nHow are you?\r\n\r\nOK\r\n"),
        "{reply:?}"
    );
    assert!(port.at("AT+CMGR=0").starts_with("\r\n+CMGR: \"REC READ\""));
}

#[test]
fn storage_counts_slots_from_0_and_cmgd_frees_them() {
    let config = SimConfig {
        sim_capacity: 3,
        ..SimConfig::default()
    };
    let (sim, mut port) = started(config);
    port.at("AT+CMEE=1");
    assert_eq!(
        port.at("AT+CPMS?"),
        "\r\n+CPMS: \"SM\",0,3,\"SM\",0,3,\"SM\",0,3\r\n\r\nOK\r\n"
    );
    sim.sms("111", "first").unwrap();
    sim.sms("222", "second").unwrap();
    port.expect("+CMTI: \"SM\",1\r\n");
    assert_eq!(
        port.at("AT+CPMS=\"SM\",\"SM\",\"SM\""),
        "\r\n+CPMS: 2,3,2,3,2,3\r\n\r\nOK\r\n"
    );
    assert_eq!(port.at("AT+CPMS=\"ME\""), "\r\n+CMS ERROR: 303\r\n");
    assert_eq!(port.at("AT+CMGD=0"), "\r\nOK\r\n");
    // An empty slot inside the storage reads as a bare OK; one past it is an error.
    assert_eq!(port.at("AT+CMGR=0"), "\r\nOK\r\n");
    assert_eq!(port.at("AT+CMGR=3"), "\r\n+CMS ERROR: 321\r\n");
    assert_eq!(port.at("AT+CMGD=3"), "\r\n+CMS ERROR: 321\r\n");
    assert_eq!(port.at("AT+CMGR=x"), "\r\n+CMS ERROR: 321\r\n");
    // The freed slot 0 is used again.
    sim.sms("333", "third").unwrap();
    assert_eq!(
        port.expect("+CMTI: \"SM\",0\r\n"),
        "\r\n+CMTI: \"SM\",0\r\n"
    );
    sim.sms("444", "fourth").unwrap();
    port.expect("+CMTI: \"SM\",2\r\n");
    let full = sim.sms("555", "fifth").unwrap_err().to_string();
    assert!(
        full.contains("SIM storage full: 3 of 3 slots used"),
        "{full}"
    );
    assert_eq!(port.at("AT+CMGD=0,4"), "\r\nOK\r\n");
    assert_eq!(sim.state().unwrap().modem.sim.used, 0);
}

#[test]
fn cmgl_lists_unread_by_default_and_all_on_request() {
    let (sim, mut port) = fresh();
    sim.sms("111", "first").unwrap();
    sim.sms("222", "second").unwrap();
    port.expect("+CMTI: \"SM\",1\r\n");
    port.at("AT+CMGR=0");
    let unread = port.at("AT+CMGL");
    assert!(unread.starts_with("\r\n+CMGL: 1,0,,"), "{unread:?}");
    assert!(!unread.contains("+CMGL: 0,"), "{unread:?}");
    let all = port.at("AT+CMGL=4");
    assert!(
        all.contains("+CMGL: 0,1,,") && all.contains("+CMGL: 1,1,,"),
        "{all:?}"
    );
    port.at("AT+CMGF=1");
    let all = port.at("AT+CMGL=\"ALL\"");
    assert!(
        all.starts_with("\r\n+CMGL: 0,\"REC READ\",\"111\",\"\",\""),
        "{all:?}"
    );
    assert!(
        all.contains("\r\nfirst\r\n+CMGL: 1,\"REC READ\",\"222\""),
        "{all:?}"
    );
    assert_eq!(port.at("AT+CMGL=\"BOGUS\""), "\r\nERROR\r\n");
}

#[test]
fn cnmi_decides_whether_a_new_sms_is_announced() {
    let (sim, mut port) = fresh();
    assert_eq!(port.at("AT+CNMI?"), "\r\n+CNMI: 2,1,0,0,0\r\n\r\nOK\r\n");
    assert_eq!(port.at("AT+CNMI=2,0,0,0,0"), "\r\nOK\r\n");
    sim.sms("111", "quiet").unwrap();
    assert_eq!(port.read_for(Duration::from_millis(100)), "");
    assert_eq!(sim.state().unwrap().modem.sim.used, 1, "stored even so");
    assert_eq!(port.at("AT+CNMI=2,1"), "\r\nOK\r\n");
    sim.sms("111", "loud").unwrap();
    port.expect("+CMTI: \"SM\",1\r\n");
    port.at("AT+CMEE=1");
    assert_eq!(port.at("AT+CNMI=9,1"), "\r\n+CMS ERROR: 303\r\n");
}

#[test]
fn a_long_message_is_stored_as_concatenated_parts_each_announced() {
    let (sim, mut port) = fresh();
    let text = "x".repeat(200);
    sim.sms("+4915112345678", &text).unwrap();
    port.expect("+CMTI: \"SM\",0\r\n");
    port.expect("+CMTI: \"SM\",1\r\n");
    let reply = port.at("AT+CMGR=0");
    // First octet 0x44: SMS-DELIVER with a user data header; the header 050003 rr 02 01.
    let pdu = reply.lines().nth(2).unwrap();
    assert_eq!(&pdu[16..18], "44", "{pdu}");
    let header_at = pdu.find("050003").unwrap();
    assert_eq!(&pdu[header_at + 8..header_at + 12], "0201", "{pdu}");
    let state = sim.state().unwrap();
    assert_eq!(state.modem.delivered[0].indexes, vec![0, 1]);
    let joined: String = state
        .modem
        .sim
        .messages
        .iter()
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(joined, text);
}

#[test]
fn a_delivered_text_outside_gsm_is_stored_as_ucs2() {
    let (sim, mut port) = fresh();
    sim.sms("+4915112345678", "Grüße 你好").unwrap();
    port.expect("+CMTI: \"SM\",0\r\n");
    let reply = port.at("AT+CMGR=0");
    let pdu = reply.lines().nth(2).unwrap();
    // Data coding scheme 08 right after PID 00, and "你" (4F60) in the user data.
    assert!(pdu.contains("0008"), "{pdu}");
    assert!(pdu.contains("4F60597D"), "{pdu}");
}
