//! Twilio Media Streams, the messages (sans-I/O): what the bot, in Twilio's place, sends to
//! the agent (`connected`, `start`, `media`, `dtmf`, `mark`, `stop`) and reads from it
//! (`media`, `mark`, `clear`), exactly as Twilio documents them
//! (twilio.com/docs/voice/media-streams/websocket-messages): every number a string
//! (`sequenceNumber`, `chunk`, `timestamp`), SIDs of two letters and 32 lowercase hex digits.

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// Bytes of µ-law in one `media` message: 20 ms at 8 kHz.
pub const MEDIA_BYTES: usize = 160;

/// A SID: `prefix` and 32 lowercase hex digits from the system's random source.
pub fn new_sid(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if random.is_err() {
        // No /dev/urandom: the clock and the process still make it unique on this host.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = (nanos ^ (u128::from(std::process::id()) << 64)).to_be_bytes();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

/// The `CallSid` of the bot's call `call_id`: `CA`, 16 hex digits drawn once per run of
/// the bot, and the call id in 16 hex digits; the stream's `start` and the REST paths use
/// the same, so an agent can hang up the call it streams by its SID.
pub fn call_sid(call_id: u64) -> String {
    static SALT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let salt = SALT.get_or_init(|| new_sid("").chars().take(16).collect());
    format!("CA{salt}{call_id:016x}")
}

/// Who the call is with, as `customParameters` and the voice webhook tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallParties {
    /// `From`: the caller (incoming) or this line's number, when known (outgoing).
    pub from: String,
    /// `To`: the number dialled (outgoing) or this line, when known (incoming).
    pub to: String,
    /// `inbound` or `outbound-api`, Twilio's words.
    pub direction: &'static str,
}

/// One stream's numbering: the sequence of every message, the chunks and the time stamps
/// of the media sent.
#[derive(Debug)]
pub struct StreamWriter {
    /// `MZ…`.
    pub stream_sid: String,
    /// `CA…`.
    pub call_sid: String,
    /// `AC…`.
    pub account_sid: String,
    sequence: u64,
    chunk: u64,
}

impl StreamWriter {
    /// A new stream of the call `call_sid` for the account `account_sid`.
    pub fn new(call_sid: String, account_sid: String) -> Self {
        Self {
            stream_sid: new_sid("MZ"),
            call_sid,
            account_sid,
            sequence: 0,
            chunk: 0,
        }
    }

    fn next_sequence(&mut self) -> String {
        self.sequence += 1;
        self.sequence.to_string()
    }

    /// `{"event":"connected","protocol":"Call","version":"1.0.0"}`.
    pub fn connected(&self) -> String {
        json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string()
    }

    /// `start`: the stream's and the call's SIDs, the track, the parameters, the format.
    pub fn start(&mut self, parties: &CallParties, extra: &[(String, String)]) -> String {
        let mut params = Map::new();
        params.insert("From".into(), parties.from.clone().into());
        params.insert("To".into(), parties.to.clone().into());
        params.insert("CallSid".into(), self.call_sid.clone().into());
        params.insert("Direction".into(), parties.direction.into());
        for (k, v) in extra {
            params.insert(k.clone(), v.clone().into());
        }
        json!({
            "event": "start",
            "sequenceNumber": self.next_sequence(),
            "start": {
                "accountSid": self.account_sid,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "customParameters": Value::Object(params),
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
            "streamSid": self.stream_sid,
        })
        .to_string()
    }

    /// `media`: 20 ms of the caller, `timestamp` ms after the stream started.
    pub fn media(&mut self, mulaw: &[u8], timestamp_ms: u64) -> String {
        self.chunk += 1;
        json!({
            "event": "media",
            "sequenceNumber": self.next_sequence(),
            "media": {
                "track": "inbound",
                "chunk": self.chunk.to_string(),
                "timestamp": timestamp_ms.to_string(),
                "payload": base64::engine::general_purpose::STANDARD.encode(mulaw),
            },
            "streamSid": self.stream_sid,
        })
        .to_string()
    }

    /// `dtmf`: the caller pressed `digit`.
    pub fn dtmf(&mut self, digit: &str) -> String {
        json!({
            "event": "dtmf",
            "streamSid": self.stream_sid,
            "sequenceNumber": self.next_sequence(),
            "dtmf": {"track": "inbound_track", "digit": digit},
        })
        .to_string()
    }

    /// `mark`: the agent's mark `name`, played (or cleared).
    pub fn mark(&mut self, name: &str) -> String {
        json!({
            "event": "mark",
            "sequenceNumber": self.next_sequence(),
            "streamSid": self.stream_sid,
            "mark": {"name": name},
        })
        .to_string()
    }

    /// `stop`: the call ended.
    pub fn stop(&mut self) -> String {
        json!({
            "event": "stop",
            "sequenceNumber": self.next_sequence(),
            "streamSid": self.stream_sid,
            "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
        })
        .to_string()
    }
}

/// A message from the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentMessage {
    /// µ-law audio to play into the call.
    Media(Vec<u8>),
    /// Echo `name` once what came before it has been played.
    Mark(String),
    /// Drop what is queued.
    Clear,
}

/// Why an agent's message was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Not JSON, or not an object with an `event`.
    #[error("not a Media Streams message: {0}")]
    Shape(String),
    /// An event this side does not take (Twilio's own, or unknown).
    #[error("event {0:?} is not one an agent sends (media, mark, clear)")]
    Event(String),
    /// A `media` payload that is not base64.
    #[error("media payload is not base64: {0}")]
    Payload(String),
}

/// Reads one text message of the agent.
pub fn parse_agent_message(text: &str) -> Result<AgentMessage, MessageError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| MessageError::Shape(e.to_string()))?;
    let event = value
        .get("event")
        .and_then(Value::as_str)
        .ok_or_else(|| MessageError::Shape("no \"event\"".into()))?;
    match event {
        "media" => {
            let payload = value
                .pointer("/media/payload")
                .and_then(Value::as_str)
                .ok_or_else(|| MessageError::Shape("media without media.payload".into()))?;
            base64::engine::general_purpose::STANDARD
                .decode(payload)
                .map(AgentMessage::Media)
                .map_err(|e| MessageError::Payload(e.to_string()))
        }
        "mark" => value
            .pointer("/mark/name")
            .and_then(Value::as_str)
            .map(|n| AgentMessage::Mark(n.to_owned()))
            .ok_or_else(|| MessageError::Shape("mark without mark.name".into())),
        "clear" => Ok(AgentMessage::Clear),
        other => Err(MessageError::Event(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_sid(s: &str, prefix: &str) -> bool {
        s.len() == 34
            && s.starts_with(prefix)
            && s[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    #[test]
    fn call_sids_are_stable_per_call_and_twilio_shaped() {
        assert_eq!(call_sid(7), call_sid(7));
        assert_ne!(call_sid(7), call_sid(8));
        assert!(is_sid(&call_sid(7), "CA"), "{}", call_sid(7));
        assert!(call_sid(7).ends_with("0000000000000007"));
    }

    #[test]
    fn the_messages_have_twilios_shape() {
        let mut w = StreamWriter::new(new_sid("CA"), new_sid("AC"));
        assert!(is_sid(&w.stream_sid, "MZ") && is_sid(&w.call_sid, "CA"));
        let c: Value = serde_json::from_str(&w.connected()).unwrap();
        assert_eq!(
            c,
            json!({"event":"connected","protocol":"Call","version":"1.0.0"})
        );
        let parties = CallParties {
            from: "+491761234567".into(),
            to: "+4930123".into(),
            direction: "inbound",
        };
        let s: Value =
            serde_json::from_str(&w.start(&parties, &[("k".into(), "v".into())])).unwrap();
        assert_eq!(s["sequenceNumber"], "1");
        assert_eq!(s["streamSid"], s["start"]["streamSid"]);
        assert_eq!(s["start"]["tracks"], json!(["inbound"]));
        assert_eq!(
            s["start"]["mediaFormat"],
            json!({"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1})
        );
        let p = &s["start"]["customParameters"];
        assert_eq!(
            (
                p["From"].as_str(),
                p["To"].as_str(),
                p["Direction"].as_str(),
                p["k"].as_str()
            ),
            (
                Some("+491761234567"),
                Some("+4930123"),
                Some("inbound"),
                Some("v")
            )
        );
        assert_eq!(p["CallSid"], s["start"]["callSid"]);
        let m: Value = serde_json::from_str(&w.media(&[0xFF; MEDIA_BYTES], 20)).unwrap();
        assert_eq!(m["sequenceNumber"], "2");
        assert_eq!(m["media"]["chunk"], "1");
        assert_eq!(m["media"]["timestamp"], "20");
        assert_eq!(m["media"]["track"], "inbound");
        let payload = base64::engine::general_purpose::STANDARD
            .decode(m["media"]["payload"].as_str().unwrap())
            .unwrap();
        assert_eq!(payload.len(), 160);
        let d: Value = serde_json::from_str(&w.dtmf("5")).unwrap();
        assert_eq!(d["dtmf"], json!({"track":"inbound_track","digit":"5"}));
        let k: Value = serde_json::from_str(&w.mark("m1")).unwrap();
        assert_eq!(k["mark"]["name"], "m1");
        let e: Value = serde_json::from_str(&w.stop()).unwrap();
        assert_eq!(e["stop"]["callSid"], w.call_sid.as_str());
        assert_eq!(e["sequenceNumber"], "5");
    }

    #[test]
    fn agent_messages_are_read_and_bad_ones_named() {
        let media = r#"{"event":"media","streamSid":"MZ1","media":{"payload":"/38="}}"#;
        assert_eq!(
            parse_agent_message(media),
            Ok(AgentMessage::Media(vec![0xFF, 0x7F]))
        );
        assert_eq!(
            parse_agent_message(r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"a"}}"#),
            Ok(AgentMessage::Mark("a".into()))
        );
        assert_eq!(
            parse_agent_message(r#"{"event":"clear","streamSid":"MZ1"}"#),
            Ok(AgentMessage::Clear)
        );
        assert!(matches!(
            parse_agent_message("nope"),
            Err(MessageError::Shape(_))
        ));
        assert!(matches!(
            parse_agent_message(r#"{"event":"start"}"#),
            Err(MessageError::Event(_))
        ));
        assert!(matches!(
            parse_agent_message(r#"{"event":"media","media":{"payload":"***"}}"#),
            Err(MessageError::Payload(_))
        ));
    }
}
