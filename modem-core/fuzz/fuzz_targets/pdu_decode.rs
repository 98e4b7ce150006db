//! The SMS PDU decoders on arbitrary input: `Incoming::from_hex` / `from_cmgr` /
//! `from_octets` (what `AT+CMGR` returns, what smsd's spool may hold) and
//! `Submit::from_hex` / `from_cmgs` / `from_octets` (what the simulator receives), then the
//! `Reassembler` over every message decoded.
//!
//! Checks beyond "never panics": decoding octets and decoding their hex agree, and every
//! error can be printed as the sentence the host shows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modem_core::pdu::{Incoming, MAX_PDU_OCTETS, PushOutcome, Reassembler, Submit};

fn hex(octets: &[u8]) -> String {
    octets.iter().map(|b| format!("{b:02X}")).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&declared, rest)) = data.split_first() else {
        return;
    };
    let mut reassembler: Reassembler = Reassembler::default();
    let mut now = 0;

    // The input as octets, and the same octets as the hex line a modem would print.
    let incoming = Incoming::from_octets(rest);
    let submit = Submit::from_octets(rest);
    if rest.len() <= MAX_PDU_OCTETS {
        let line = hex(rest);
        assert_eq!(
            Incoming::from_hex(&line),
            incoming,
            "octets and hex disagree"
        );
        assert_eq!(Submit::from_hex(&line), submit, "octets and hex disagree");
    }
    match &incoming {
        Ok(Incoming::Deliver(sms)) => {
            now += 1;
            if let PushOutcome::Complete(message) = reassembler.push(sms.clone(), now) {
                let mut text = String::new();
                let _ = message.write_text(&mut text);
            }
        }
        Ok(Incoming::StatusReport(report)) => {
            std::hint::black_box(report);
        }
        Err(error) => {
            std::hint::black_box(error.to_string());
        }
    }
    if let Err(error) = &submit {
        std::hint::black_box(error.to_string());
    }

    // The input as the text of a hex line, with the length `+CMGR:`/`AT+CMGS=` declared.
    if let Ok(text) = std::str::from_utf8(rest) {
        let declared = usize::from(declared);
        if let Ok(Incoming::Deliver(sms)) = Incoming::from_hex(text) {
            now += 1;
            let _ = reassembler.push(sms, now);
        }
        let _ = Incoming::from_cmgr(text, declared).map_err(|e| e.to_string());
        let _ = Submit::from_hex(text).map_err(|e| e.to_string());
        let _ = Submit::from_cmgs(text, declared).map_err(|e| e.to_string());
    }
    while let Some(message) = reassembler.pop_expired(u64::MAX) {
        let mut text = String::new();
        let _ = message.write_text(&mut text);
        std::hint::black_box(message.missing().count());
    }
});
