//! `POST /calls` (the bot dials) and `POST /ussd` (a USSD code and the network's answer).
//!
//! Both ask the bot's loop, the one writer of the port, and wait on its reply channel:
//! the dial is answered as soon as it started (its progress comes as events), the USSD
//! request when the network answered or [`USSD_WAIT`] passed.

use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{ApiContext, ApiResponse, Fault, RequestBody, json_object, string_field};
use crate::bot::{DialRefused, UssdFailure};

/// How long `POST /calls` waits for the bot to start the dial.
pub const DIAL_WAIT: Duration = Duration::from_secs(10);
/// How long `POST /ussd` waits for the network's answer (the bot's own wait, and a little).
pub const USSD_WAIT: Duration =
    Duration::from_secs(crate::bot::daemon::USSD_ANSWER_TIMEOUT.as_secs() + 2);
/// `timeout_s` when a dial gives none: ring the far end this long (Twilio's default).
pub const DEFAULT_DIAL_TIMEOUT_S: u32 = 60;
/// The longest `timeout_s`.
pub const MAX_DIAL_TIMEOUT_S: u32 = 600;

/// The keys `POST /calls` takes.
const CALL_KEYS: [&str; 6] = ["to", "timeout_s", "stream_url", "twiml", "say", "play_url"];
/// The keys of what to do once the far end answers: at most one.
const ANSWER_KEYS: [&str; 4] = ["stream_url", "twiml", "say", "play_url"];

/// What the call does once answered, from the one of [`ANSWER_KEYS`] given.
fn call_plan(object: &Map<String, Value>) -> Result<Option<crate::bot::state::CallPlan>, Fault> {
    use crate::calls::twiml::Verb;
    let given: Vec<&str> = ANSWER_KEYS
        .iter()
        .copied()
        .filter(|k| object.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    let key = match given.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        [first, second, ..] => {
            return Err(Fault::field(
                400,
                second,
                format!("\"{first}\" and \"{second}\": give one of them"),
            ));
        }
    };
    let value = string_field(object, key)?.to_owned();
    let url_ok = |scheme: &[&str]| {
        scheme.iter().any(|s| value.starts_with(s))
            && value.parse::<tungstenite::http::Uri>().is_ok()
    };
    let plan = match key {
        "stream_url" if url_ok(&["ws://", "wss://"]) => vec![Verb::Stream {
            url: value,
            parameters: Vec::new(),
        }],
        "stream_url" => {
            return Err(Fault::field(
                400,
                key,
                format!("\"stream_url\" {value:?} is not a ws:// or wss:// URL"),
            ));
        }
        "play_url" if url_ok(&["http://"]) => vec![Verb::Play(value)],
        "play_url" => {
            return Err(Fault::field(
                400,
                key,
                format!("\"play_url\" {value:?} is not an http:// URL of a WAV file"),
            ));
        }
        "say" if !value.trim().is_empty() => vec![Verb::Say(value)],
        "say" => return Err(Fault::field(400, key, "\"say\" is empty")),
        _ => {
            let verbs = crate::calls::twiml::parse(&value)
                .map_err(|e| Fault::field(400, "twiml", e.to_string()))?;
            if let Some(Verb::Refused(name)) = verbs.iter().find(|v| matches!(v, Verb::Refused(_)))
            {
                return Err(Fault::field(
                    400,
                    "twiml",
                    format!("the TwiML verb <{name}> is not carried out by this bot"),
                ));
            }
            verbs
        }
    };
    Ok(Some(plan))
}

fn check_keys(object: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), Fault> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) => Err(Fault::field(
            400,
            key,
            format!(
                "unknown field \"{key}\": {path} takes {}",
                allowed
                    .iter()
                    .map(|k| format!("\"{k}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// `POST /calls` `{to, timeout_s?}` → 201 `{"call_id", "to", "status": "dialing"}`; 409
/// while a call is in progress.
pub(super) fn post_calls(context: &ApiContext, body: &RequestBody) -> Result<ApiResponse, Fault> {
    let object = json_object(body)?;
    check_keys(&object, &CALL_KEYS, "POST /calls")?;
    let to = string_field(&object, "to")?;
    let plan = call_plan(&object)?;
    let timeout_s = match object.get("timeout_s") {
        None | Some(Value::Null) => DEFAULT_DIAL_TIMEOUT_S,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=u64::from(MAX_DIAL_TIMEOUT_S)).contains(n))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                Fault::field(
                    400,
                    "timeout_s",
                    format!("\"timeout_s\" must be a whole number of seconds in 1..={MAX_DIAL_TIMEOUT_S}"),
                )
            })?,
    };
    modem_ready(context)?;
    if context.bot.snapshot().current_call.is_some() {
        return Err(Fault::plain(409, DialRefused::CallInProgress.to_string()));
    }
    let Some(answer) = context.bot.dial(to, Some(timeout_s)) else {
        return Err(Fault::plain(503, "the bot is not running"));
    };
    match answer.recv_timeout(DIAL_WAIT) {
        Ok(Ok(id)) => {
            if let Some(plan) = plan {
                context.bot.set_call_plan(id, plan);
            }
            Ok(ApiResponse::json(
                201,
                json!({
                    "call_id": crate::events::model::call_id_text(id),
                    "to": to,
                    "status": "dialing",
                    "timeout_s": timeout_s,
                }),
            ))
        }
        Ok(Err(refused @ DialRefused::CallInProgress)) => {
            Err(Fault::plain(409, refused.to_string()))
        }
        Ok(Err(refused @ DialRefused::BadNumber(_))) => {
            Err(Fault::field(400, "to", refused.to_string()))
        }
        Err(RecvTimeoutError::Timeout) => Err(Fault::plain(
            503,
            format!(
                "the bot did not start the dial within {} s",
                DIAL_WAIT.as_secs()
            ),
        )),
        Err(RecvTimeoutError::Disconnected) => Err(Fault::plain(
            503,
            "the modem is not available (the bot is reconnecting or stopping)",
        )),
    }
}

/// 503 unless the bot serves the modem (it starts, reconnects or stops otherwise).
pub(super) fn modem_ready(context: &ApiContext) -> Result<(), Fault> {
    match context.bot.snapshot().phase {
        crate::bot::BotPhase::Running => Ok(()),
        phase => Err(Fault::plain(
            503,
            format!("the modem is not available (the bot is {phase:?})").to_lowercase(),
        )),
    }
}

/// The text of a `+CUSD` answer: UCS-2 hex decoded when `<dcs>` says UCS-2 (72), else as
/// the modem printed it.
pub fn ussd_text(text: &str, dcs: Option<u8>) -> String {
    let hex = text.len().is_multiple_of(4)
        && !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_hexdigit());
    if dcs != Some(72) || !hex {
        return text.to_owned();
    }
    let units: Vec<u16> = text
        .as_bytes()
        .chunks(4)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .filter_map(|c| u16::from_str_radix(c, 16).ok())
        .collect();
    String::from_utf16_lossy(&units)
}

/// `POST /ussd` `{code}` → 200 `{"code", "text", "status", "dcs"}` with the network's answer.
pub(super) fn post_ussd(context: &ApiContext, body: &RequestBody) -> Result<ApiResponse, Fault> {
    let object = json_object(body)?;
    check_keys(&object, &["code"], "POST /ussd")?;
    let code = string_field(&object, "code")?;
    let valid = !code.is_empty()
        && code.len() <= 32
        && code
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
    if !valid {
        return Err(Fault::field(
            400,
            "code",
            format!("\"code\" {code:?} is not a USSD code (digits, * and #, such as *100#)"),
        ));
    }
    modem_ready(context)?;
    let Some(answer) = context.bot.ussd(code) else {
        return Err(Fault::plain(503, "the bot is not running"));
    };
    let reply = match answer.recv_timeout(USSD_WAIT) {
        Ok(Ok(reply)) => reply,
        Ok(Err(UssdFailure::Busy)) => return Err(Fault::plain(409, UssdFailure::Busy.to_string())),
        Ok(Err(refused @ UssdFailure::Refused(_))) => {
            let during_call = if context.bot.snapshot().current_call.is_some() {
                " (a call holds the line: try again after it)"
            } else {
                ""
            };
            return Err(Fault::plain(409, format!("{refused}{during_call}")));
        }
        Err(RecvTimeoutError::Timeout) => {
            return Err(Fault::plain(
                504,
                format!(
                    "the network did not answer USSD {code} within {} s",
                    crate::bot::daemon::USSD_ANSWER_TIMEOUT.as_secs()
                ),
            ));
        }
        Err(RecvTimeoutError::Disconnected) => {
            return Err(Fault::plain(
                503,
                "the modem is not available (the bot is reconnecting or stopping)",
            ));
        }
    };
    let text = reply.text.as_deref().map(|t| ussd_text(t, reply.dcs));
    match (reply.status, text) {
        (0..=2, Some(text)) => Ok(ApiResponse::json(
            200,
            json!({
                "code": code,
                "text": text,
                "status": reply.status,
                "dcs": reply.dcs,
                "session_open": reply.status == 1,
            }),
        )),
        (4, _) => Err(Fault::plain(
            502,
            format!("the network does not support USSD {code} (+CUSD: 4)"),
        )),
        (5, _) => Err(Fault::plain(
            504,
            format!("the network timed out on USSD {code} (+CUSD: 5)"),
        )),
        (status, _) => Err(Fault::plain(
            502,
            format!("the network answered USSD {code} without a text (+CUSD: {status})"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ucs2_answers_are_decoded_and_plain_ones_kept() {
        assert_eq!(ussd_text("00420061006C", Some(72)), "Bal");
        assert_eq!(ussd_text("0042006100200031", Some(72)), "Ba 1");
        assert_eq!(ussd_text("Balance 5,00", Some(15)), "Balance 5,00");
        assert_eq!(ussd_text("0042", None), "0042");
    }
}
