//! `sim7600 decode [FILE|-]`: raw bytes captured from a SIM7600 port in, one JSON object
//! per recognized line out, classified by modem-core's [`LineClassifier`] (the same rules
//! as the live digester). For people debugging a capture; it never touches a port.
//!
//! Shapes, one per line:
//! `{"kind":"urc","urc":{...}}`, `{"kind":"final","result":...}`, `{"kind":"prompt"}`,
//! `{"kind":"echo","text":<the command echoed, such as AT+CSQ>}`,
//! `{"kind":"response","text":"+CSQ: 16,99"}`,
//! `{"kind":"unknown","text":"...","hex":"...","reason":"..."}` (the text with invalid UTF-8
//! replaced, and the exact bytes in hex). The URC and final-result objects are
//! modem-core's types as serde writes them (variant name, then fields).
//!
//! SMS in PDU mode: the line after a `+CMGR:`, `+CMGL:`, `+CMGRD:` (SIMCom's read-and-delete),
//! `+CMT:` or `+CDS:` header whose last field is a length, when it is hex, is decoded with
//! modem-core's PDU codec and its object gains an `"sms"` member: `"type"` (`deliver`,
//! `status_report` or `submit`), the sender (`from`) or recipient (`to`), the service
//! centre (`smsc`) and its time (`time`, `yy/MM/dd,hh:mm:ss±zz` with the zone in quarter
//! hours), `text` (or `data_hex` for 8-bit data), `encoding`, `class`, `concatenation`
//! (`reference`, `part`, `total`), and for a status report `reference` (the sent message's),
//! `discharge_time`, `status` and `outcome`. A PDU that does not decode gives
//! `"sms": {"error": "<why>", "hex": "<the line>"}`. The pairing reads the raw lines itself,
//! so it holds whatever kind the header line is classified as.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use modem_core::line::{LineClassifier, LineItem};
use modem_core::pdu::{
    Alphabet, Body, ConcatReference, Concatenation, DataCoding, Incoming, MessageClass,
    StatusOutcome, Submit,
};
use serde_json::{Map, Value, json};

/// Bytes read from the capture per step.
pub const DECODE_CHUNK: usize = 4096;

/// Why a capture could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The capture could not be read.
    #[error("cannot read capture {name}: {source}")]
    Read {
        /// The file (or `-` for stdin).
        name: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The JSON could not be written.
    #[error("cannot write the decoded lines: {0}")]
    Write(io::Error),
}

/// One item as the JSON object `decode` prints.
pub fn item_json(item: &LineItem) -> Value {
    match item {
        LineItem::Urc(urc) => {
            json!({ "kind": "urc", "urc": serde_json::to_value(urc).unwrap_or(Value::Null) })
        }
        LineItem::Final(result) => {
            json!({ "kind": "final", "result": serde_json::to_value(result).unwrap_or(Value::Null) })
        }
        LineItem::Prompt => json!({ "kind": "prompt" }),
        LineItem::Echo(text) => json!({ "kind": "echo", "text": text.as_str() }),
        LineItem::Info(text) => json!({ "kind": "response", "text": text.as_str() }),
        LineItem::Unknown { bytes, reason } => json!({
            "kind": "unknown",
            "text": String::from_utf8_lossy(bytes),
            "hex": bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "reason": reason.to_string(),
        }),
    }
}

/// The headers whose next line is a message in PDU mode, with their last field the length.
const SMS_HEADERS: [&str; 5] = ["+CMGR:", "+CMGL:", "+CMGRD:", "+CMT:", "+CDS:"];

/// The raw lines of the capture, kept in step with the classifier: the line just ended and
/// the non-empty line before it (the header of a message line).
#[derive(Debug, Default)]
struct RawLines {
    current: Vec<u8>,
    last: String,
    before_last: String,
}

impl RawLines {
    fn push(&mut self, byte: u8) {
        if byte != b'\n' {
            // A line longer than the classifier keeps is never a PDU worth pairing.
            if self.current.len() <= modem_core::line::LINE_CAPACITY {
                self.current.push(byte);
            }
            return;
        }
        let line = String::from_utf8_lossy(self.current.trim_ascii()).into_owned();
        self.current.clear();
        if !line.is_empty() {
            self.before_last = std::mem::replace(&mut self.last, line);
        }
    }

    /// The TPDU length when the line before the one just ended is an SMS header in PDU
    /// mode (its last field a number; in text mode it is a quoted time or address).
    fn pdu_length(&self) -> Option<usize> {
        let header = &self.before_last;
        let prefix = SMS_HEADERS.iter().find(|p| {
            header
                .get(..p.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(p))
        })?;
        header
            .get(prefix.len()..)?
            .rsplit(',')
            .next()?
            .trim()
            .parse()
            .ok()
    }
}

/// The `"sms"` member for `hex`, the line after a PDU-mode header that gave `length`.
pub fn sms_json(hex: &str, length: usize) -> Value {
    let fail = |reason: String| json!({ "error": reason, "hex": hex });
    match Incoming::from_cmgr(hex, length) {
        Ok(Incoming::Deliver(d)) => {
            let mut m = Map::new();
            m.insert("type".into(), json!("deliver"));
            m.insert("from".into(), json!(d.originator.to_string()));
            m.insert(
                "smsc".into(),
                json!(d.smsc.as_ref().map(ToString::to_string)),
            );
            m.insert("time".into(), json!(d.timestamp.to_string()));
            body_members(&mut m, &d.body, d.data_coding, d.concatenation);
            Value::Object(m)
        }
        Ok(Incoming::StatusReport(r)) => {
            let mut m = Map::new();
            m.insert("type".into(), json!("status_report"));
            m.insert("to".into(), json!(r.recipient.to_string()));
            m.insert(
                "smsc".into(),
                json!(r.smsc.as_ref().map(ToString::to_string)),
            );
            m.insert("reference".into(), json!(r.message_reference));
            m.insert("time".into(), json!(r.timestamp.to_string()));
            m.insert("discharge_time".into(), json!(r.discharge_time.to_string()));
            m.insert("status".into(), json!(r.status.0));
            m.insert("outcome".into(), json!(outcome_name(r.status.outcome())));
            if let (Some(body), Some(dcs)) = (&r.body, r.data_coding) {
                body_members(&mut m, body, dcs, r.concatenation);
            }
            Value::Object(m)
        }
        // A stored outgoing message (`+CMGR: 2,...` / `+CMGL: ...,3,...`) is a SUBMIT.
        Err(incoming) => match Submit::from_cmgs(hex, length) {
            Ok(s) => {
                let mut m = Map::new();
                m.insert("type".into(), json!("submit"));
                m.insert("to".into(), json!(s.destination.to_string()));
                m.insert("reference".into(), json!(s.message_reference));
                m.insert(
                    "status_report_requested".into(),
                    json!(s.status_report_requested),
                );
                body_members(&mut m, &s.body, s.data_coding, s.concatenation);
                Value::Object(m)
            }
            Err(_) => fail(incoming.to_string()),
        },
    }
}

fn body_members(
    m: &mut Map<String, Value>,
    body: &Body,
    dcs: DataCoding,
    concatenation: Option<Concatenation>,
) {
    match body {
        Body::Text(text) => m.insert("text".into(), json!(text.as_str())),
        Body::Binary(data) => m.insert(
            "data_hex".into(),
            json!(data.iter().map(|b| format!("{b:02X}")).collect::<String>()),
        ),
    };
    let encoding = match dcs.alphabet {
        Alphabet::Gsm7 => "gsm7",
        Alphabet::EightBit => "8bit",
        Alphabet::Ucs2 => "ucs2",
    };
    m.insert("encoding".into(), json!(encoding));
    let class = dcs.class.map(|c| match c {
        MessageClass::Class0 => 0,
        MessageClass::Class1 => 1,
        MessageClass::Class2 => 2,
        MessageClass::Class3 => 3,
    });
    m.insert("class".into(), json!(class));
    let concat = concatenation.map(|c| {
        let reference = match c.reference {
            ConcatReference::Eight(r) => u16::from(r),
            ConcatReference::Sixteen(r) => r,
        };
        json!({ "reference": reference, "part": c.sequence, "total": c.total })
    });
    m.insert("concatenation".into(), json!(concat));
}

fn outcome_name(outcome: StatusOutcome) -> &'static str {
    match outcome {
        StatusOutcome::Delivered => "delivered",
        StatusOutcome::StillTrying => "still_trying",
        StatusOutcome::Failed => "failed",
        StatusOutcome::GaveUp => "gave_up",
        StatusOutcome::Reserved => "reserved",
    }
}

/// The line of a response or unknown item, when it could be a PDU (hex digits only).
fn hex_line(item: &LineItem) -> Option<&str> {
    let text = match item {
        LineItem::Info(text) => text.as_str(),
        _ => return None,
    };
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit())).then_some(text)
}

/// Decodes everything `input` yields into JSON lines on `out`; returns how many items.
pub fn decode_stream(
    mut input: impl Read,
    name: &str,
    mut out: impl Write,
) -> Result<usize, DecodeError> {
    let mut classifier = LineClassifier::new();
    let mut raw = RawLines::default();
    let mut buf = vec![0u8; DECODE_CHUNK];
    let mut count = 0;
    let mut emit = |item: &LineItem, sms: Option<Value>, out: &mut dyn Write| {
        count += 1;
        let mut value = item_json(item);
        if let (Some(sms), Value::Object(object)) = (sms, &mut value) {
            object.insert("sms".into(), sms);
        }
        writeln!(out, "{value}").map_err(DecodeError::Write)
    };
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(DecodeError::Read {
                    name: name.to_owned(),
                    source,
                });
            }
        };
        for &byte in buf.get(..n).unwrap_or_default() {
            raw.push(byte);
            if let Some(item) = classifier.push(byte) {
                let sms = match (hex_line(&item), raw.pdu_length()) {
                    (Some(hex), Some(length)) if byte == b'\n' => Some(sms_json(hex, length)),
                    _ => None,
                };
                emit(&item, sms, &mut out)?;
            }
        }
    }
    if let Some(item) = classifier.finish() {
        emit(&item, None, &mut out)?;
    }
    out.flush().map_err(DecodeError::Write)?;
    Ok(count)
}

/// `sim7600 decode`: `None` or `-` reads stdin.
pub fn run(input: Option<PathBuf>, out: impl Write) -> Result<usize, DecodeError> {
    match input {
        Some(path) if path.as_os_str() != "-" => {
            let name = path.display().to_string();
            let file = std::fs::File::open(&path).map_err(|source| DecodeError::Read {
                name: name.clone(),
                source,
            })?;
            decode_stream(file, &name, out)
        }
        _ => decode_stream(io::stdin().lock(), "-", out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Vec<Value> {
        let mut out = Vec::new();
        decode_stream(bytes, "test", &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn a_command_its_echo_reply_and_ok_become_three_lines() {
        let v = decode(b"AT+CSQ\r\r\n+CSQ: 16,99\r\n\r\nOK\r\n");
        assert_eq!(v[0], json!({"kind": "echo", "text": "AT+CSQ"}));
        assert_eq!(v[1], json!({"kind": "response", "text": "+CSQ: 16,99"}));
        assert_eq!(v[2]["kind"], "final");
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn a_ring_is_a_urc() {
        let v = decode(b"\r\nRING\r\n");
        assert_eq!(v, vec![json!({"kind": "urc", "urc": "Ring"})]);
    }

    #[test]
    fn garbage_is_unknown_with_its_reason() {
        let v = decode(b"\xff\xfe\r\n");
        assert_eq!(v[0]["kind"], "unknown");
        assert_eq!(v[0]["reason"], "not UTF-8");
        assert_eq!(v[0]["hex"], "fffe");
    }

    #[test]
    fn a_capture_cut_inside_a_line_says_so() {
        let v = decode(b"\r\nOK\r\n+CMT");
        assert_eq!(v[1]["kind"], "unknown");
        assert_eq!(v[1]["reason"], "capture ends inside the line");
    }

    /// A capture of the corpus of real traffic in modem-core's tests, escapes undone.
    fn corpus(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../modem-core/tests/corpus")
            .join(name)
            .join("capture.txt");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut bytes = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut rest = line;
            while let Some(i) = rest.find('\\') {
                bytes.extend_from_slice(&rest.as_bytes()[..i]);
                let esc = &rest[i + 1..];
                let (byte, used) = match esc.as_bytes()[0] {
                    b'r' => (b'\r', 1),
                    b'n' => (b'\n', 1),
                    b'\\' => (b'\\', 1),
                    b'x' => (u8::from_str_radix(&esc[1..3], 16).unwrap(), 3),
                    other => panic!("escape {other} in {path:?}"),
                };
                bytes.push(byte);
                rest = &esc[used..];
            }
            bytes.extend_from_slice(rest.as_bytes());
        }
        bytes
    }

    fn sms_lines(v: &[Value]) -> Vec<&Value> {
        v.iter().filter_map(|item| item.get("sms")).collect()
    }

    #[test]
    fn message_lines_after_cmgr_cmgl_cmt_and_cds_are_decoded() {
        let v = decode(&corpus("python-gsmmodem-pdu"));
        let sms = sms_lines(&v);
        assert_eq!(sms.len(), 7, "{v:#?}");
        assert_eq!(
            sms[0],
            &json!({
                "type": "deliver", "from": "+27821234567", "smsc": "+2782913593",
                "time": "13/03/08,15:02:16+08", "text": "Test2", "encoding": "gsm7",
                "class": null, "concatenation": null
            })
        );
        assert_eq!(
            sms[1]["text"],
            "It is easy to read text messages via AT commands."
        );
        assert_eq!(sms[2]["from"], "2781188");
        assert_eq!(
            sms[2]["concatenation"],
            json!({"reference": 0xC3, "part": 1, "total": 1})
        );
        assert_eq!(sms[3]["type"], "submit");
        assert_eq!(sms[3]["to"], "+31628870634");
        assert_eq!(sms[3]["text"], "www.diafaan.com");
        // +CMT: delivered directly, the same message as the first.
        assert_eq!(sms[4], sms[0]);
        assert_eq!(sms[5]["type"], "status_report");
        assert_eq!(sms[5]["to"], "+31628870634");
        assert_eq!(sms[5]["reference"], 214);
        assert_eq!(sms[5]["outcome"], "delivered");
        assert_eq!(sms[6]["reference"], 28);
        assert_eq!(sms[6]["discharge_time"], "13/07/26,14:29:31+08");
        // The PDU line is still a response line, with its text.
        let line = v.iter().find(|item| item.get("sms").is_some()).unwrap();
        assert_eq!(line["kind"], "response");
    }

    #[test]
    fn simcom_read_and_delete_and_class_0_are_decoded() {
        // +CMGRD (A76xx reads and deletes in one command), with the corpus's first PDU whose
        // data coding is set to 0x10: GSM 7-bit, class 0 ("flash").
        let pdu = "06917228195339040B917228214365F700103130805120618005D4F29C2E03";
        let capture = format!("AT+CMGRD=1\r\r\n+CMGRD: 0,,24\r\n{pdu}\r\n\r\nOK\r\n");
        let v = decode(capture.as_bytes());
        let sms = sms_lines(&v);
        assert_eq!(sms.len(), 1, "{v:#?}");
        assert_eq!(sms[0]["from"], "+27821234567");
        assert_eq!(sms[0]["text"], "Test2");
        assert_eq!(sms[0]["class"], 0);
    }

    #[test]
    fn a_pdu_that_does_not_decode_is_shown_as_hex_with_the_reason() {
        // The first PDU of the corpus cut short by four octets: the header still says 24.
        let cut = "06917228195339040B917228214365F700003130805120618005D4F2";
        let v = decode(format!("\r\n+CMT: ,24\r\n{cut}\r\n").as_bytes());
        let sms = sms_lines(&v);
        assert_eq!(sms.len(), 1, "{v:#?}");
        assert_eq!(sms[0]["hex"], cut);
        let reason = sms[0]["error"].as_str().unwrap();
        assert!(!reason.is_empty(), "{reason}");
    }

    #[test]
    fn text_mode_lines_and_lines_after_other_replies_are_not_taken_for_pdus() {
        let v = decode(
            b"AT+CMGR=1\r\r\n+CMGR: \"REC READ\",\"+491761234567\",,\"24/01/02,10:00:00+04\"\r\nCAFE\r\n\r\nOK\r\n\
              AT+CGSN\r\r\n351602000330570\r\n\r\nOK\r\n",
        );
        assert!(sms_lines(&v).is_empty(), "{v:#?}");
    }

    #[test]
    fn every_capture_of_the_real_corpus_decodes_without_unknown_lines() {
        for name in [
            "esp-protocols-789",
            "lilygo-t-sim7600x-65",
            "modemmanager-simtech",
            "phonefront-simcom",
            "python-gsmmodem-pdu",
        ] {
            let v = decode(&corpus(name));
            assert!(!v.is_empty(), "{name}");
            let unknown: Vec<_> = v.iter().filter(|i| i["kind"] == "unknown").collect();
            assert!(unknown.is_empty(), "{name}: {unknown:?}");
        }
        let v = decode(&corpus("phonefront-simcom"));
        assert!(v.contains(&json!({"kind": "urc", "urc": {"CallStatus": {
            "id": 4, "direction": "MobileTerminated", "state": "Incoming", "mode": "Voice",
            "multiparty": false, "number": "08020866256", "number_type": "UnknownPlan",
            "alpha": null, "validity": null
        }}})));
        assert!(v.contains(&json!({"kind": "urc", "urc": {"VoiceCallEnd": {"duration_secs": 8}}})));
    }

    #[test]
    fn a_missing_capture_file_is_named() {
        let err = run(Some("/no/such/capture.bin".into()), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("/no/such/capture.bin"), "{err}");
    }
}
