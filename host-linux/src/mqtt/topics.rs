//! The bot's topics and payloads, sans-I/O: where each event goes, what the retained
//! `state` says, and how a command on `sms/send` is read. Every topic of one modem is
//! under `<topic_prefix>/<imei>/`:
//!
//! | topic | retained | what |
//! | --- | --- | --- |
//! | `availability` | yes | `online`, or `offline` (also the broker's last will) |
//! | `state` | yes | JSON: phase, signal, network, current call, last caller, SMS counters |
//! | `events/call` | no | JSON event with `event_type`: ringing, caller_identified, answered, dtmf, ended, missed |
//! | `events/sms` | no | sms_received, sms_sent, sms_failed |
//! | `events/modem` | no | modem_lost, recovery_step, recovery_step_skipped, modem_back, modem_gone |
//! | `sms/send` | command | `{"to", "text", "request_id"?}`: queued as `POST /sms` queues |
//! | `sms/send/reply` | no | `{"request_id", "ok", "id", "state"}` or `{"request_id", "ok": false, "error"}` |
//! | `call/hangup` | command | any payload: hang up (or reject) the current call |
//! | `call/dial` | command | `{"to", "timeout_s"?, "request_id"?}`: dial, as `POST /calls` does |
//! | `call/dial/reply` | no | `{"request_id", "ok": true, "call_id"}` or `{"request_id", "ok": false, "error"}` |

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::bot::BotSnapshot;
use crate::events::{Event, EventKind};

/// The largest command payload read, in bytes.
pub const MAX_COMMAND_PAYLOAD: usize = 16 * 1024;

/// The topics of one modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    base: String,
}

impl Topics {
    /// The topics under `<prefix>/<id>/`.
    pub fn new(prefix: &str, id: &str) -> Self {
        Topics {
            base: format!("{prefix}/{id}"),
        }
    }

    /// `<prefix>/<id>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn at(&self, rest: &str) -> String {
        format!("{}/{rest}", self.base)
    }

    /// `availability`.
    pub fn availability(&self) -> String {
        self.at("availability")
    }
    /// `state`.
    pub fn state(&self) -> String {
        self.at("state")
    }
    /// `events/<group>`.
    pub fn events(&self, group: EventGroup) -> String {
        self.at(&format!("events/{}", group.as_str()))
    }
    /// `sms/send`.
    pub fn sms_send(&self) -> String {
        self.at("sms/send")
    }
    /// `sms/send/reply`.
    pub fn sms_send_reply(&self) -> String {
        self.at("sms/send/reply")
    }
    /// `call/hangup`.
    pub fn call_hangup(&self) -> String {
        self.at("call/hangup")
    }
    /// `call/dial`.
    pub fn call_dial(&self) -> String {
        self.at("call/dial")
    }
    /// `call/dial/reply`.
    pub fn call_dial_reply(&self) -> String {
        self.at("call/dial/reply")
    }
}

/// Which events topic an event goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventGroup {
    /// The calls.
    Call,
    /// The SMS.
    Sms,
    /// The modem's losses and recoveries.
    Modem,
}

impl EventGroup {
    /// As in the topic.
    pub fn as_str(self) -> &'static str {
        match self {
            EventGroup::Call => "call",
            EventGroup::Sms => "sms",
            EventGroup::Modem => "modem",
        }
    }

    /// The group of `kind`.
    pub fn of(kind: &EventKind) -> Self {
        match kind {
            EventKind::Ringing { .. }
            | EventKind::CallerIdentified { .. }
            | EventKind::Answered { .. }
            | EventKind::Dtmf { .. }
            | EventKind::Ended { .. }
            | EventKind::Missed { .. }
            | EventKind::Dialing { .. }
            | EventKind::OutgoingRinging { .. }
            | EventKind::OutgoingAnswered { .. }
            | EventKind::Busy { .. }
            | EventKind::NoAnswer { .. }
            | EventKind::Failed { .. }
            | EventKind::OutgoingEnded { .. } => EventGroup::Call,
            EventKind::SmsReceived { .. }
            | EventKind::SmsSent { .. }
            | EventKind::SmsFailed { .. } => EventGroup::Sms,
            EventKind::ModemLost { .. }
            | EventKind::RecoveryStep { .. }
            | EventKind::RecoveryStepSkipped { .. }
            | EventKind::ModemBack { .. }
            | EventKind::ModemGone { .. } => EventGroup::Modem,
        }
    }

    /// The `event_type`s of the group (Home Assistant's event entity lists them).
    pub fn event_types(self) -> &'static [&'static str] {
        match self {
            EventGroup::Call => &[
                "ringing",
                "caller_identified",
                "answered",
                "dtmf",
                "ended",
                "missed",
                "dialing",
                "busy",
                "no_answer",
                "failed",
            ],
            EventGroup::Sms => &["sms_received", "sms_sent", "sms_failed"],
            EventGroup::Modem => &[
                "modem_lost",
                "recovery_step",
                "recovery_step_skipped",
                "modem_back",
                "modem_gone",
            ],
        }
    }
}

/// An event as published: its JSON with `event_type` (Home Assistant's key) beside
/// `type`.
pub fn event_payload(event: &Event) -> String {
    let mut value = serde_json::to_value(event).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut value {
        map.insert("event_type".into(), Value::from(event.type_name()));
    }
    value.to_string()
}

/// What the `state` topic says, kept from the snapshot and the events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatePayload {
    /// `starting`, `running`, `reconnecting`, `stopping`.
    pub phase: String,
    /// The IMEI.
    pub imei: Option<String>,
    /// The model.
    pub model: Option<String>,
    /// The AT port.
    pub port: String,
    /// Signal in dBm.
    pub signal_dbm: Option<i16>,
    /// RSSI index.
    pub rssi: Option<u8>,
    /// The network registration (`home`, `roaming`, `searching`, ...).
    pub network: Option<String>,
    /// `idle`, `ringing` or `active`.
    pub call: String,
    /// The caller of the call in progress.
    pub caller: Option<String>,
    /// The last caller seen (any call).
    pub last_caller: Option<String>,
    /// SMS received since start.
    pub sms_received: u64,
    /// SMS sent since start.
    pub sms_sent: u64,
    /// SMS failed since start.
    pub sms_failed: u64,
    /// Reconnects since start.
    pub reconnects: u32,
    /// Events dropped because the broker did not keep up.
    pub mqtt_dropped: u64,
}

impl StatePayload {
    /// From the bot's snapshot, `last_caller` and the drop count.
    pub fn from_snapshot(s: &BotSnapshot, last_caller: Option<String>, dropped: u64) -> Self {
        let phase = serde_json::to_value(s.phase)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let (call, caller) = match &s.current_call {
            None => ("idle".to_owned(), None),
            Some(c) => (
                serde_json::to_value(c.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                c.caller.clone(),
            ),
        };
        StatePayload {
            phase,
            imei: s.identity.as_ref().and_then(|i| i.imei.clone()),
            model: s.identity.as_ref().map(|i| i.model.clone()),
            port: s.port.display().to_string(),
            signal_dbm: s.signal.as_ref().and_then(|q| q.dbm),
            rssi: s.signal.as_ref().and_then(|q| q.rssi),
            network: s.network.clone(),
            call,
            caller,
            last_caller,
            sms_received: s.sms_received,
            sms_sent: s.sms_sent,
            sms_failed: s.sms_failed,
            reconnects: s.reconnects,
            mqtt_dropped: dropped,
        }
    }
}

/// The caller an event names, if it is a call event with one.
pub fn caller_of(kind: &EventKind) -> Option<&str> {
    match kind {
        EventKind::Ringing { caller, .. }
        | EventKind::CallerIdentified { caller, .. }
        | EventKind::Answered { caller, .. }
        | EventKind::Ended { caller, .. }
        | EventKind::Missed { caller, .. } => caller.as_deref(),
        _ => None,
    }
}

/// A refused command: its `request_id` (when it could be read) and why.
pub type CommandRefusal = (Option<Value>, String);

/// A command's payload as a JSON object, and its `request_id` (echoed in any reply): a
/// payload over [`MAX_COMMAND_PAYLOAD`], not JSON or not an object is refused.
fn command_object(payload: &[u8]) -> Result<(Map<String, Value>, Option<Value>), CommandRefusal> {
    if payload.len() > MAX_COMMAND_PAYLOAD {
        return Err((
            None,
            format!("the payload is over {MAX_COMMAND_PAYLOAD} bytes"),
        ));
    }
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| (None, format!("the payload is not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err((None, "the payload must be a JSON object".into()));
    };
    let request_id = map.get("request_id").cloned();
    Ok((map, request_id))
}

/// A request read from `sms/send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSendRequest {
    /// The recipient.
    pub to: String,
    /// The text.
    pub text: String,
    /// Echoed in the reply.
    pub request_id: Option<Value>,
}

/// Reads an `sms/send` payload: a JSON object with the strings `to` and `text`, and
/// optionally `request_id` (echoed); other keys are refused, as `POST /sms` refuses them.
pub fn parse_sms_send(payload: &[u8]) -> Result<SmsSendRequest, CommandRefusal> {
    let (map, request_id) = command_object(payload)?;
    let fail = |m: String| (request_id.clone(), m);
    if let Some(extra) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "to" | "text" | "request_id"))
    {
        return Err(fail(format!(
            "unknown field \"{extra}\": the fields are \"to\", \"text\" and \"request_id\""
        )));
    }
    let field = |m: &Map<String, Value>, key: &str| match m.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(fail(format!("\"{key}\" must be a string"))),
        None => Err(fail(format!("\"{key}\" is missing"))),
    };
    Ok(SmsSendRequest {
        to: field(&map, "to")?,
        text: field(&map, "text")?,
        request_id,
    })
}

/// A request read from `call/dial`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialRequest {
    /// The number to dial.
    pub to: String,
    /// Hang up when the far end has not answered after this many seconds.
    pub timeout_s: Option<u32>,
    /// Echoed in the reply.
    pub request_id: Option<Value>,
}

/// Reads a `call/dial` payload: a JSON object with the string `to`, optionally the number
/// `timeout_s` (1..=600) and `request_id` (echoed); other keys are refused.
pub fn parse_dial(payload: &[u8]) -> Result<DialRequest, CommandRefusal> {
    let (map, request_id) = command_object(payload)?;
    let fail = |m: String| (request_id.clone(), m);
    if let Some(extra) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "to" | "timeout_s" | "request_id"))
    {
        return Err(fail(format!(
            "unknown field \"{extra}\": the fields are \"to\", \"timeout_s\" and \"request_id\""
        )));
    }
    let to = match map.get("to") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(fail("\"to\" must be a string".into())),
        None => return Err(fail("\"to\" is missing".into())),
    };
    let timeout_s = match map.get("timeout_s") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n @ 1..=600) => Some(n),
            _ => {
                return Err(fail(
                    "\"timeout_s\" must be a whole number of seconds, 1 to 600".into(),
                ));
            }
        },
    };
    Ok(DialRequest {
        to,
        timeout_s,
        request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dial_command_is_read_and_bad_ones_are_refused_naming_the_field() {
        let ok =
            parse_dial(br#"{"to": "+4917612345678", "timeout_s": 30, "request_id": 7}"#).unwrap();
        assert_eq!(ok.to, "+4917612345678");
        assert_eq!(ok.timeout_s, Some(30));
        assert_eq!(ok.request_id, Some(json!(7)));
        assert_eq!(parse_dial(br#"{"to": "112"}"#).unwrap().timeout_s, None);
        for (payload, says) in [
            (&br#"{"timeout_s": 5}"#[..], "\"to\" is missing"),
            (br#"{"to": 5}"#, "\"to\" must be a string"),
            (br#"{"to": "1", "timeout_s": 0}"#, "\"timeout_s\""),
            (br#"{"to": "1", "timeout_s": "x"}"#, "\"timeout_s\""),
            (br#"{"to": "1", "number": "2"}"#, "unknown field \"number\""),
            (b"[1]", "JSON object"),
            (b"not json", "not JSON"),
        ] {
            let (_, error) = parse_dial(payload).unwrap_err();
            assert!(error.contains(says), "{payload:?}: {error}");
        }
    }

    #[test]
    fn topics_are_under_prefix_and_imei() {
        let t = Topics::new("sim7600", "351602000330570");
        assert_eq!(t.availability(), "sim7600/351602000330570/availability");
        assert_eq!(
            t.events(EventGroup::Sms),
            "sim7600/351602000330570/events/sms"
        );
        assert_eq!(t.sms_send_reply(), "sim7600/351602000330570/sms/send/reply");
    }

    #[test]
    fn every_event_kind_has_a_group_that_lists_its_type() {
        let kinds = [
            EventKind::Dtmf { key: "1".into() },
            EventKind::SmsReceived {
                from: "+49".into(),
                text: "t".into(),
                time: "x".into(),
            },
            EventKind::ModemLost { why: "EIO".into() },
            EventKind::ModemGone { after_ms: 1 },
        ];
        for k in kinds {
            let g = EventGroup::of(&k);
            assert!(g.event_types().contains(&k.type_name()), "{k:?}");
        }
    }

    #[test]
    fn an_event_payload_carries_event_type() {
        let e = Event {
            id: 3,
            at: "2026-01-01T00:00:00.000Z".into(),
            call_id: Some(1),
            kind: EventKind::Dtmf { key: "5".into() },
        };
        let v: Value = serde_json::from_str(&event_payload(&e)).unwrap();
        assert_eq!(v["event_type"], "dtmf");
        assert_eq!(v["type"], "dtmf");
        assert_eq!(v["key"], "5");
        assert_eq!(v["call_id"], "1", "a string, as in webhooks and SSE");
    }

    #[test]
    fn sms_send_payloads_are_read_like_post_sms() {
        let r = parse_sms_send(br#"{"to":"+491761234567","text":"hi","request_id":7}"#).unwrap();
        assert_eq!((r.to.as_str(), r.text.as_str()), ("+491761234567", "hi"));
        assert_eq!(r.request_id, Some(json!(7)));
        let (id, e) =
            parse_sms_send(br#"{"to":"+49","text":"x","cc":"y","request_id":"a"}"#).unwrap_err();
        assert_eq!(id, Some(json!("a")));
        assert!(e.contains("unknown field \"cc\""), "{e}");
        assert!(parse_sms_send(b"nope").unwrap_err().1.contains("not JSON"));
        assert!(
            parse_sms_send(br#"{"to":1,"text":"x"}"#)
                .unwrap_err()
                .1
                .contains("\"to\" must be a string")
        );
        assert!(
            parse_sms_send(br#"{"to":"+49"}"#)
                .unwrap_err()
                .1
                .contains("\"text\" is missing")
        );
    }
}
