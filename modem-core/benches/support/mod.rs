//! The traffic the benchmarks (and the fuzzers' seed corpora) are made of: one realistic
//! session of a SIM7600's AT port, modem side exact, as a list of exchanges.
//!
//! This module owns the benchmark workload. A session is what a voice-bot day looks like
//! on the wire, compressed: the start-up lines, the detection with echo on, the init
//! sequence, a signal query with a call ringing between the reply and its `OK`, three rings
//! with caller ID (one `\r\r\n`-framed `+CRING`), the answer, DTMF, the call list, the end
//! of the call, a missed call, three SMS read in PDU mode (GSM 7-bit, UCS-2 and one part of
//! a concatenated message, as the simulator's independent codec delivers them), a storage
//! query and an SMS sent through the `> ` prompt. Each exchange says which command the host
//! wrote (so the digester's tracker can be told, as `TrackedWriter` does) and what the
//! modem answered, so the count of replies and URCs a digest must produce is known and the
//! benchmarks check it before they measure.

use modem_core::pdu::{Address, SubmitOptions, SubmitPlan};
use modem_sim::pdu as sim;

/// One step of the dialogue: the command the host wrote (if any), then the modem's bytes.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// What the host wrote, `None` for lines the modem sends on its own.
    pub command: Option<Vec<u8>>,
    /// Every byte the modem sent in this step.
    pub modem: Vec<u8>,
    /// Replies (final codes and prompts) these bytes complete.
    pub replies: usize,
    /// URCs in these bytes.
    pub urcs: usize,
}

fn step(command: Option<&str>, modem: &str, replies: usize, urcs: usize) -> Exchange {
    Exchange {
        command: command.map(|c| c.as_bytes().to_vec()),
        modem: modem.as_bytes().to_vec(),
        replies,
        urcs,
    }
}

/// The PDU-mode reads of the session: `(TPDU length, hex)` for a GSM 7-bit text, a UCS-2
/// text and the first part of a three-part text.
pub fn delivered_pdus() -> Vec<(usize, String)> {
    let time = sim::SmsTime {
        year: 2026,
        month: 4,
        day: 21,
        hour: 14,
        minute: 0,
        second: 0,
    };
    let smsc = "+491710760000";
    let from = "+4915112345678";
    let mut pdus = Vec::new();
    for text in [
        "Running 10 minutes late, start without me.".to_string(),
        "Привет, как дела? Встретимся в 7 у входа.".to_string(),
        three_part_text(),
    ] {
        let parts = sim::encode_deliver(smsc, from, &text, &time, 0x21);
        if let Some(first) = parts.into_iter().next() {
            pdus.push((first.tpdu_len, first.hex));
        }
    }
    pdus
}

/// A GSM 7-bit text that takes exactly three parts (more than 2 x 153 septets).
pub fn three_part_text() -> String {
    let mut text = "The quick brown fox jumps over the lazy dog. ".repeat(10);
    text.truncate(400);
    text
}

/// One session of port traffic (see the module documentation).
pub fn session() -> Vec<Exchange> {
    let mut steps = vec![
        step(
            None,
            "\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n",
            0,
            4,
        ),
        // Detection, echo still on.
        step(Some("AT\r"), "AT\r\r\nOK\r\n", 1, 0),
        step(
            Some("AT+CGMI\r"),
            "AT+CGMI\r\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n",
            1,
            0,
        ),
        step(
            Some("AT+CGMM\r"),
            "AT+CGMM\r\r\nSIMCOM_SIM7600G-H\r\n\r\nOK\r\n",
            1,
            0,
        ),
        // Init, echo off after ATE0.
        step(Some("ATE0\r"), "ATE0\r\r\nOK\r\n", 1, 0),
        step(Some("AT+CMEE=1\r"), "\r\nOK\r\n", 1, 0),
        step(Some("AT+CEXTERNTONE=1\r"), "\r\nERROR\r\n", 1, 0),
        step(Some("AT+CLIP=1\r"), "\r\nOK\r\n", 1, 0),
        step(Some("ATS0=3\r"), "\r\nOK\r\n", 1, 0),
        step(Some("AT+CLVL=5\r"), "\r\nOK\r\n", 1, 0),
        // A call rings between the reply and its OK.
        step(
            Some("AT+CSQ\r"),
            "\r\n+CSQ: 16,99\r\n\r\nRING\r\n\r\n+CLIP: \"+491761234567\",145,,,,0\r\n\r\nOK\r\n",
            1,
            2,
        ),
        step(
            None,
            "\r\nRING\r\n\r\n+CLIP: \"+491761234567\",145,,,,0\r\n",
            0,
            2,
        ),
        step(
            None,
            "\r\r\n+CRING: VOICE\r\r\n\r\n+CLIP: \"+491761234567\",145,,,,0\r\n",
            0,
            2,
        ),
        step(Some("ATA\r"), "\r\nOK\r\n\r\nVOICE CALL: BEGIN\r\n", 1, 1),
        step(None, "\r\r\n+RXDTMF: 5\r\r\n\r\r\n+RXDTMF: #\r\r\n", 0, 2),
        step(None, "\r\n+CLCC: 1,1,0,0,0,\"+491761234567\",145\r\n", 0, 1),
        step(
            Some("AT+CLCC\r"),
            "\r\n+CLCC: 1,1,0,0,0,\"+491761234567\",145\r\n\r\nOK\r\n",
            1,
            0,
        ),
        step(
            Some("AT+CHUP\r"),
            "\r\nVOICE CALL: END: 000042\r\n\r\nOK\r\n\r\nNO CARRIER\r\n",
            1,
            2,
        ),
        step(None, "\r\nMISSED_CALL: 11:01AM 07712345678\r\n", 0, 1),
    ];
    for (index, (tpdu_len, hex)) in delivered_pdus().into_iter().enumerate() {
        steps.push(step(None, &format!("\r\n+CMTI: \"SM\",{index}\r\n"), 0, 1));
        steps.push(step(
            Some(&format!("AT+CMGR={index}\r")),
            &format!("\r\n+CMGR: 0,,{tpdu_len}\r\n{hex}\r\n\r\nOK\r\n"),
            1,
            0,
        ));
        steps.push(step(
            Some(&format!("AT+CMGD={index}\r")),
            "\r\nOK\r\n",
            1,
            0,
        ));
    }
    steps.extend([step(
        Some("AT+CPMS?\r"),
        "\r\n+CPMS: \"SM\",0,50,\"SM\",0,50,\"SM\",0,50\r\n\r\nOK\r\n",
        1,
        0,
    )]);
    let (tpdu_length, body) = outgoing_pdu();
    steps.push(step(
        Some(&format!("AT+CMGS={tpdu_length}\r")),
        "\r\n> ",
        1,
        0,
    ));
    steps.push(step(
        Some(&format!("{body}\x1a")),
        "\r\n+CMGS: 12\r\n\r\nOK\r\n",
        1,
        0,
    ));
    steps
}

/// The SMS the session sends, as modem-core's encoder makes it: (TPDU length, hex).
fn outgoing_pdu() -> (u8, String) {
    let to = Address::parse_number("+491721234567").expect("a valid number");
    let plan = SubmitPlan::new(
        to,
        "See you at 7, table for four.",
        1,
        SubmitOptions::default(),
    )
    .expect("a one-part text");
    let part = plan.encode_part(0).expect("part 0 of a one-part plan");
    (part.tpdu_length, part.hex.as_str().to_string())
}

/// `session()` repeated until it holds at least `min_bytes` of modem output.
pub fn sessions(min_bytes: usize) -> Vec<Exchange> {
    let one = session();
    let per_session: usize = one.iter().map(|e| e.modem.len()).sum();
    let copies = min_bytes.div_ceil(per_session.max(1)).max(1);
    let mut all = Vec::with_capacity(one.len() * copies);
    for _ in 0..copies {
        all.extend(one.iter().cloned());
    }
    all
}

/// Every modem byte of `exchanges`, in order: what a capture of the port holds.
pub fn modem_bytes(exchanges: &[Exchange]) -> Vec<u8> {
    exchanges
        .iter()
        .flat_map(|e| e.modem.iter().copied())
        .collect()
}
