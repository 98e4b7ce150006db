//! The Twilio REST subset's state (sans-HTTP): the account (`[twilio]`), the SIDs of the
//! calls and messages it created, the calls' Twilio statuses as the events tell them, and
//! the status callbacks, signed the way Twilio signs them (`X-Twilio-Signature`: base64 of
//! HMAC-SHA1 over the URL and the sorted form parameters, each key then its value; what
//! twilio-python's `RequestValidator` checks). The HTTP side is `api::routes::twilio`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};

use crate::bot::BotState;
use crate::events::{Overflow, Recv};

/// How long one status callback may take.
pub const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);

/// `[twilio]`: the account the Twilio-shaped paths answer for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioSettings {
    /// `AC` and 32 hex digits: the account in the paths and HTTP Basic's user.
    pub account_sid: Option<String>,
    /// HTTP Basic's password, and the key that signs status callbacks.
    pub auth_token: Option<String>,
}

/// A `[twilio]` value that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum TwilioSettingsError {
    /// One of the two is missing.
    #[error("[twilio] needs both account_sid and auth_token")]
    Incomplete,
    /// The account SID is not one.
    #[error("[twilio] account_sid {0:?} is not AC followed by 32 hex digits")]
    AccountSid(String),
}

impl TwilioSettings {
    /// The account and token when both are set; `None` when neither is.
    pub fn account(&self) -> Result<Option<(String, String)>, TwilioSettingsError> {
        match (&self.account_sid, &self.auth_token) {
            (None, None) => Ok(None),
            (Some(sid), Some(token)) => {
                let ok = sid.len() == 34
                    && sid.starts_with("AC")
                    && sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
                if !ok {
                    return Err(TwilioSettingsError::AccountSid(sid.clone()));
                }
                Ok(Some((sid.clone(), token.clone())))
            }
            _ => Err(TwilioSettingsError::Incomplete),
        }
    }
}

/// `X-Twilio-Signature` for a POST of `params` to `url`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A call created through `Calls.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestCall {
    /// `CA…`.
    pub sid: String,
    /// The number dialled.
    pub to: String,
    /// `From` as given.
    pub from: String,
    /// Twilio's word: queued, ringing, in-progress, completed, busy, no-answer, failed,
    /// canceled.
    pub status: &'static str,
    /// When it was created, RFC 2822 as Twilio writes it.
    pub date_created: String,
    /// When the status last changed.
    pub date_updated: String,
    /// Where status callbacks go, and for which events (`initiated`, `ringing`,
    /// `answered`, `completed`).
    pub status_callback: Option<(String, Vec<String>)>,
    /// Seconds from the answer to the end.
    pub duration: Option<u32>,
}

/// The Twilio-shaped API's memory, shared by the routes and the event follower.
#[derive(Debug, Clone)]
pub struct TwilioRest {
    /// `AC…`.
    pub account_sid: String,
    auth_token: String,
    calls: Arc<Mutex<Calls>>,
    messages: Arc<Mutex<HashMap<String, String>>>,
    /// Status callbacks to send, in the order their events happened (the sending thread's).
    callbacks: std::sync::mpsc::Sender<Callback>,
}

/// How many events of calls not (yet) created through `Calls.json` are kept: a dialled
/// call's first events (dialling, ringing) can come before `Calls.json` has its id, and are
/// played when it does. Events of other calls age out.
pub const EARLY_EVENTS: usize = 64;

/// The calls created through `Calls.json`, and the latest events of calls not known (yet).
#[derive(Debug, Default)]
struct Calls {
    known: HashMap<u64, RestCall>,
    early: std::collections::VecDeque<(u64, String, serde_json::Value)>,
}

/// A status callback to send: where, and the call as it was when its event happened.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Callback {
    url: String,
    event: &'static str,
    call: RestCall,
}

impl Calls {
    /// Follows a call's event: updates a known call (and returns the status callback it
    /// asks for), or keeps the event of an unknown one for [`Calls::created`].
    fn follow(&mut self, id: u64, event: &str, json: &serde_json::Value) -> Option<Callback> {
        let Some(call) = self.known.get_mut(&id) else {
            if self.early.len() == EARLY_EVENTS {
                self.early.pop_front();
            }
            self.early.push_back((id, event.to_owned(), json.clone()));
            return None;
        };
        let (status, callback_event) = match event {
            "ringing" => ("ringing", "ringing"),
            "answered" => ("in-progress", "answered"),
            "busy" => ("busy", "completed"),
            "no_answer" => ("no-answer", "completed"),
            "failed" if json["reason"] == "cancelled" => ("canceled", "completed"),
            "failed" => ("failed", "completed"),
            "ended" => ("completed", "completed"),
            _ => return None,
        };
        call.status = status;
        call.date_updated = rfc2822_now();
        if let Some(d) = json["duration_s"].as_u64() {
            call.duration = u32::try_from(d).ok();
        }
        let (url, events) = call.status_callback.as_ref()?;
        events
            .iter()
            .any(|e| e == callback_event)
            .then(|| Callback {
                url: url.clone(),
                event: callback_event,
                call: call.clone(),
            })
    }

    /// Remembers a created call and plays the events it had before (in order): the status
    /// callbacks they ask for.
    fn created(&mut self, id: u64, call: RestCall) -> Vec<Callback> {
        self.known.insert(id, call);
        let (mine, others) = std::mem::take(&mut self.early)
            .into_iter()
            .partition::<Vec<_>, _>(|(event_id, _, _)| *event_id == id);
        self.early = others.into();
        mine.into_iter()
            .filter_map(|(_, event, json)| self.follow(id, &event, &json))
            .collect()
    }
}

/// Twilio's date format (`Mon, 07 Dec 2026 14:30:00 +0000`).
pub fn rfc2822_now() -> String {
    jiff::Timestamp::now()
        .strftime("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

impl TwilioRest {
    /// The state for `account_sid`/`auth_token`, following the bot's events from now on.
    pub fn start(
        state: &BotState,
        account_sid: String,
        auth_token: String,
    ) -> std::io::Result<Self> {
        let (callbacks, to_send) = std::sync::mpsc::channel::<Callback>();
        let rest = Self {
            account_sid,
            auth_token,
            calls: Arc::new(Mutex::new(Calls::default())),
            messages: Arc::new(Mutex::new(HashMap::new())),
            callbacks,
        };
        let subscription = state
            .events()
            .subscribe("twilio", 256, Overflow::DropOldest);
        let follower = rest.clone();
        std::thread::Builder::new()
            .name("twilio-events".into())
            .spawn(move || {
                loop {
                    match subscription.recv_timeout(Duration::from_secs(1)) {
                        Recv::Event(e) => {
                            if let Some(id) = e.call_id {
                                let json: serde_json::Value =
                                    serde_json::from_str(&e.to_json()).unwrap_or_default();
                                follower.follow(id, e.type_name(), &json);
                            }
                        }
                        Recv::Timeout => {}
                        Recv::Closed => return,
                    }
                }
            })?;
        let sender = rest.clone();
        std::thread::Builder::new()
            .name("twilio-status".into())
            .spawn(move || {
                // Ends when every handle (and so every sender) is gone.
                for callback in to_send {
                    sender.send(&callback);
                }
            })?;
        Ok(rest)
    }

    /// Whether an `Authorization` header carries this account's HTTP Basic credentials.
    pub fn basic_ok(&self, header: Option<&str>) -> bool {
        let Some((scheme, encoded)) = header.and_then(|h| h.trim().split_once(' ')) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let expected = format!("{}:{}", self.account_sid, self.auth_token);
        decoded.len() == expected.len()
            && decoded
                .iter()
                .zip(expected.as_bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Calls> {
        match self.calls.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Remembers a call created through `Calls.json`.
    pub fn created(&self, call_id: u64, call: RestCall) {
        let mut calls = self.lock();
        for callback in calls.created(call_id, call) {
            // Under the lock, so that the callbacks go out in the order of their events.
            let _ = self.callbacks.send(callback);
        }
    }

    /// A call by its SID: its id and what is known.
    pub fn call(&self, sid: &str) -> Option<(u64, RestCall)> {
        self.lock()
            .known
            .iter()
            .find(|(_, c)| c.sid == sid)
            .map(|(id, c)| (*id, c.clone()))
    }

    /// Remembers a message created through `Messages.json` (its queue id).
    pub fn message_created(&self, sid: String, queue_id: String) {
        match self.messages.lock() {
            Ok(mut m) => m.insert(sid, queue_id),
            Err(p) => p.into_inner().insert(sid, queue_id),
        };
    }

    /// The queue id of a message SID.
    pub fn message(&self, sid: &str) -> Option<String> {
        match self.messages.lock() {
            Ok(m) => m.get(sid).cloned(),
            Err(p) => p.into_inner().get(sid).cloned(),
        }
    }

    /// An event of the call `id`: its new status, and the status callback it asks for.
    fn follow(&self, id: u64, event: &str, json: &serde_json::Value) {
        let mut calls = self.lock();
        if let Some(callback) = calls.follow(id, event, json) {
            // Under the lock: see `created`.
            let _ = self.callbacks.send(callback);
        }
    }

    /// Sends one status callback, signed (on the `twilio-status` thread).
    fn send(&self, callback: &Callback) {
        let Callback { url, event, call } = callback;
        let params = self.callback_params(call);
        let signed = signature(&self.auth_token, url, &params);
        let body: String = params
            .iter()
            .map(|(k, v)| format!("{}={}", form_escape(k), form_escape(v)))
            .collect::<Vec<_>>()
            .join("&");
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(CALLBACK_TIMEOUT))
                .http_status_as_error(false)
                .build(),
        );
        let sent = agent
            .post(url.as_str())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", &signed)
            .send(body.as_bytes());
        match sent {
            Ok(r) if r.status().is_success() => {
                log::info!("status callback {event} for {} to {url}", call.sid)
            }
            Ok(r) => log::warn!("status callback to {url}: HTTP {}", r.status()),
            Err(e) => log::warn!("status callback to {url}: {e}"),
        }
    }

    /// The form fields of a status callback, as Twilio sends them.
    pub fn callback_params(&self, call: &RestCall) -> Vec<(String, String)> {
        let mut params = vec![
            ("AccountSid".to_owned(), self.account_sid.clone()),
            ("ApiVersion".to_owned(), "2010-04-01".to_owned()),
            ("CallSid".to_owned(), call.sid.clone()),
            ("CallStatus".to_owned(), call.status.to_owned()),
            ("Direction".to_owned(), "outbound-api".to_owned()),
            ("From".to_owned(), call.from.clone()),
            ("To".to_owned(), call.to.clone()),
            ("Timestamp".to_owned(), call.date_updated.clone()),
        ];
        if let Some(d) = call.duration {
            params.push(("CallDuration".to_owned(), d.to_string()));
        }
        params
    }
}

/// `application/x-www-form-urlencoded` escaping of one key or value.
pub fn form_escape(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Reads an `application/x-www-form-urlencoded` body into its pairs, in order.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &[u8]| {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while let Some(&b) = s.get(i) {
            match b {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = s
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match hex {
                        Some(v) => {
                            out.push(v);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                other => out.push(other),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    body.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |&b| b == b'=');
            let k = decode(it.next().unwrap_or_default());
            let v = decode(it.next().unwrap_or_default());
            (k, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_twilios_hmac_sha1_over_the_url_and_the_sorted_params() {
        // Twilio's own example (its security docs), also computed with Python's hmac:
        // base64(hmac.new(b"12345", url + "".join(k + v for k, v in sorted(params)),
        // sha1).digest()).
        let params = vec![
            ("To".to_owned(), "+18005551212".to_owned()),
            ("CallSid".to_owned(), "CA1234567890ABCDE".to_owned()),
            ("Caller".to_owned(), "+12349013030".to_owned()),
            ("Digits".to_owned(), "1234".to_owned()),
            ("From".to_owned(), "+12349013030".to_owned()),
        ];
        let s = signature(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &params,
        );
        assert_eq!(s, PYTHON_SIGNATURE);
    }

    const PYTHON_SIGNATURE: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    fn dialled(events: &[&str]) -> RestCall {
        RestCall {
            sid: super::super::twilio::call_sid(7),
            to: "+491761234567".into(),
            from: "+4930123".into(),
            status: "queued",
            date_created: String::new(),
            date_updated: String::new(),
            status_callback: Some((
                "http://127.0.0.1:9/status".into(),
                events.iter().map(|e| (*e).to_owned()).collect(),
            )),
            duration: None,
        }
    }

    #[test]
    fn events_before_the_call_is_created_are_played_when_it_is_in_order() {
        let mut calls = Calls::default();
        let none = serde_json::Value::Null;
        // The bot rings the far end before Calls.json has the call's id.
        assert_eq!(calls.follow(7, "dialing", &none), None);
        assert_eq!(calls.follow(8, "ringing", &none), None);
        assert_eq!(calls.follow(7, "ringing", &none), None);
        let played = calls.created(7, dialled(&["ringing", "answered", "completed"]));
        assert_eq!(played.len(), 1, "{played:?}");
        assert_eq!(
            (played[0].event, played[0].call.status),
            ("ringing", "ringing")
        );
        // Call 8's event is still kept; call 7's are not played twice.
        assert_eq!(calls.early.len(), 1);
        let later = calls.follow(7, "answered", &none).expect("asked for");
        assert_eq!(
            (later.event, later.call.status),
            ("answered", "in-progress")
        );
        let ended = serde_json::json!({"duration_s": 12});
        let last = calls.follow(7, "ended", &ended).expect("asked for");
        assert_eq!(
            (last.call.status, last.call.duration),
            ("completed", Some(12))
        );
    }

    #[test]
    fn a_callback_is_sent_only_for_the_events_asked_for_and_unknown_calls_age_out() {
        let mut calls = Calls::default();
        let none = serde_json::Value::Null;
        assert!(calls.created(7, dialled(&["completed"])).is_empty());
        assert_eq!(calls.follow(7, "ringing", &none), None);
        assert_eq!(calls.known[&7].status, "ringing");
        for n in 0..(EARLY_EVENTS as u64 + 10) {
            calls.follow(100 + n, "ringing", &none);
        }
        assert_eq!(calls.early.len(), EARLY_EVENTS);
        assert_eq!(calls.early.front().map(|e| e.0), Some(110));
    }

    #[test]
    fn forms_round_trip() {
        let body = b"To=%2B491761234567&Twiml=%3CResponse%3E+hi%3C%2FResponse%3E&Empty=";
        assert_eq!(
            parse_form(body),
            vec![
                ("To".into(), "+491761234567".into()),
                ("Twiml".into(), "<Response> hi</Response>".into()),
                ("Empty".into(), String::new()),
            ]
        );
        assert_eq!(form_escape("+49 1/2"), "%2B49+1%2F2");
    }
}
