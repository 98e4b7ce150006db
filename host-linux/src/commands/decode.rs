//! `sim7600 decode [FILE|-]`: raw bytes captured from a SIM7600 port in, one JSON object
//! per recognized line out, classified by modem-core's [`LineClassifier`] (the same rules
//! as the live digester). For people debugging a capture; it never touches a port.
//!
//! Shapes, one per line:
//! `{"kind":"urc","urc":{...}}`, `{"kind":"final","result":...}`, `{"kind":"prompt"}`,
//! `{"kind":"echo","text":"AT+CSQ"}`, `{"kind":"response","text":"+CSQ: 16,99"}`,
//! `{"kind":"unknown","text":"...","hex":"...","reason":"..."}` (the text with invalid UTF-8
//! replaced, and the exact bytes in hex). The URC and final-result objects are
//! modem-core's types as serde writes them (variant name, then fields).

use std::io::{self, Read, Write};
use std::path::PathBuf;

use modem_core::line::{LineClassifier, LineItem};
use serde_json::{Value, json};

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

/// Decodes everything `input` yields into JSON lines on `out`; returns how many items.
pub fn decode_stream(
    mut input: impl Read,
    name: &str,
    mut out: impl Write,
) -> Result<usize, DecodeError> {
    let mut classifier = LineClassifier::new();
    let mut buf = vec![0u8; DECODE_CHUNK];
    let mut count = 0;
    let mut emit = |item: &LineItem, out: &mut dyn Write| -> Result<(), DecodeError> {
        count += 1;
        writeln!(out, "{}", item_json(item)).map_err(DecodeError::Write)
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
        for item in classifier.feed(buf.get(..n).unwrap_or_default()) {
            emit(&item, &mut out)?;
        }
    }
    if let Some(item) = classifier.finish() {
        emit(&item, &mut out)?;
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

    #[test]
    fn a_missing_capture_file_is_named() {
        let err = run(Some("/no/such/capture.bin".into()), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("/no/such/capture.bin"), "{err}");
    }
}
