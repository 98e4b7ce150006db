//! `sim7600 decode`: a capture holding every URC kind the SIM7600 sends, command echo,
//! replies, final codes, the SMS prompt and line noise gives the expected JSON lines.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const CAPTURE: &[u8] = b"RDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n\
ATE0\r\r\nOK\r\n\
AT+CSQ\r\r\n+CSQ: 16,99\r\n\r\nOK\r\n\
\r\nRING\r\n\r\n+CLIP: \"+491761234567\",145,,,,0\r\n\r\n+CRING: VOICE\r\n\
\r\nVOICE CALL: BEGIN\r\n\r\n+RXDTMF: 5\r\n\
\r\n+CLCC: 1,1,0,0,0,\"+491761234567\",145\r\n\
\r\nVOICE CALL: END: 000042\r\n\r\nNO CARRIER\r\n\
\r\nMISSED_CALL: 11:01AM 07712345678\r\n\
\r\n+CMTI: \"SM\",3\r\n\
\r\nBUSY\r\n\r\nNO ANSWER\r\n\r\nVOICE CALL: WAITING\r\n\
AT+CGMI\r\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n\
AT+CLCC\r\r\n+CLCC: 1,0,0,0,0,\"+491761234567\",145\r\n\r\nOK\r\n\
AT+CPMS?\r\r\n+CME ERROR: 10\r\n\
\xff\xfe\r\n\
AT+CMGS=23\r\r\n> ";

fn expected() -> Vec<Value> {
    vec![
        json!({"kind": "urc", "urc": "Ready"}),
        json!({"kind": "urc", "urc": {"SimStatus": "Ready"}}),
        json!({"kind": "urc", "urc": "SmsReady"}),
        json!({"kind": "urc", "urc": "PhonebookReady"}),
        json!({"kind": "echo", "text": "ATE0"}),
        json!({"kind": "final", "result": "Ok"}),
        json!({"kind": "echo", "text": "AT+CSQ"}),
        json!({"kind": "response", "text": "+CSQ: 16,99"}),
        json!({"kind": "final", "result": "Ok"}),
        json!({"kind": "urc", "urc": "Ring"}),
        json!({"kind": "urc", "urc": {"CallerId": {"alpha": null, "number": "+491761234567", "number_type": "International", "validity": "Valid"}}}),
        json!({"kind": "urc", "urc": {"CellularRing": "Voice"}}),
        json!({"kind": "urc", "urc": "VoiceCallBegin"}),
        json!({"kind": "urc", "urc": {"Dtmf": "5"}}),
        json!({"kind": "urc", "urc": {"CallStatus": {"alpha": null, "direction": "MobileTerminated", "id": 1, "mode": "Voice", "multiparty": false, "number": "+491761234567", "number_type": "International", "state": "Active", "validity": null}}}),
        json!({"kind": "urc", "urc": {"VoiceCallEnd": {"duration_secs": 42}}}),
        json!({"kind": "urc", "urc": "NoCarrier"}),
        json!({"kind": "urc", "urc": {"MissedCall": {"number": "07712345678", "time": "11:01AM"}}}),
        json!({"kind": "urc", "urc": {"NewMessage": {"index": 3, "storage": "SM"}}}),
        json!({"kind": "urc", "urc": "Busy"}),
        json!({"kind": "urc", "urc": "NoAnswer"}),
        json!({"kind": "urc", "urc": {"VoiceCallOther": {"word": "WAITING"}}}),
        json!({"kind": "echo", "text": "AT+CGMI"}),
        json!({"kind": "response", "text": "SIMCOM INCORPORATED"}),
        json!({"kind": "final", "result": "Ok"}),
        // After AT+CLCC the +CLCC line is the reply, not a URC.
        json!({"kind": "echo", "text": "AT+CLCC"}),
        json!({"kind": "response", "text": "+CLCC: 1,0,0,0,0,\"+491761234567\",145"}),
        json!({"kind": "final", "result": "Ok"}),
        json!({"kind": "echo", "text": "AT+CPMS?"}),
        json!({"kind": "final", "result": {"CmeError": {"Code": 10}}}),
        json!({"kind": "unknown", "text": "\u{fffd}\u{fffd}", "hex": "fffe", "reason": "not UTF-8"}),
        json!({"kind": "echo", "text": "AT+CMGS=23"}),
        json!({"kind": "prompt"}),
    ]
}

fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_capture_file_with_every_urc_echo_and_reply_decodes_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("capture.bin");
    std::fs::write(&file, CAPTURE).unwrap();

    let out = Command::new(hil_tests::sim7600_bin().unwrap())
        .arg("decode")
        .arg(&file)
        .output()
        .unwrap();

    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = lines(&out.stdout);
    let want = expected();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "line {i}");
    }
    assert_eq!(got.len(), want.len());
}

#[test]
fn a_capture_on_stdin_decodes_the_same() {
    let mut child = Command::new(hil_tests::sim7600_bin().unwrap())
        .args(["decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(CAPTURE).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(lines(&out.stdout), expected());
}

#[test]
fn a_missing_capture_exits_1_naming_it() {
    let out = Command::new(hil_tests::sim7600_bin().unwrap())
        .args(["decode", "/no/such/capture.bin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/capture.bin"));
}
