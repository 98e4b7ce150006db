//! The voice bot's HTTP API request validation (`host_linux::api::routes::handle`, the
//! sans-I/O router behind 127.0.0.1:8088) on arbitrary requests: any method, the known
//! paths with arbitrary ids and queries or arbitrary paths, any authorization, content
//! type, origin and host header, and bodies that are arbitrary bytes or JSON objects with
//! the API's field names and values of any JSON type (numbers and texts of any alphabet
//! and length), duplicate keys included.
//!
//! Checks beyond "never panics": every answer is a JSON object with a status of a known
//! family; an error names itself in the shape of its path (`{"error", "field"?}` natively,
//! `{"success": false, "error"}` on the unified API's drop-in paths); 405 carries `Allow`
//! and only 401 the Bearer challenge; a queued SMS (202 / `success: true`) can be read back
//! by its id. The call paths (`/phone_call`, `/calls/current/...`) meet no call here: their
//! input is checked and they answer 409 (no call), never anything unexpected.
#![no_main]

use std::sync::Arc;

use arbitrary::Arbitrary;
use host_linux::api::routes::{
    ApiContext, ApiRequest, HostPolicy, PHONE_CALL_PATHS, RequestBody, UNIFIED_SEND_PATHS, handle,
};
use host_linux::api::speech::Speaker;
use host_linux::audio::TtsCommand;
use host_linux::bot::{BotRequests, BotState};
use host_linux::calls::{CallLog, CallLogSettings};
use host_linux::spool::queue::{SmsPolicy, SmsQueue};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

const TOKEN: &str = "fuzz-token-0123456789";
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "HEAD"];
const PATHS: [&str; 14] = [
    "/phone_call",
    "/phone_call/status",
    "/calls/current/play",
    "/calls/current/hangup",
    "/calls/current/audio",
    "/sms",
    "/sms/",
    "/status",
    "/calls",
    "/send",
    "/send_sms",
    "/pi_send_message",
    "/",
    "/sms/1764000000000-1-0001",
];
const CONTENT_TYPES: [&str; 5] = [
    "application/json",
    "application/json; charset=utf-8",
    "audio/wav",
    "text/plain",
    "application/x-www-form-urlencoded",
];
const HOSTS: [&str; 4] = ["127.0.0.1:8088", "localhost", "[::1]:8088", "evil.example"];
const KEYS: [&str; 10] = [
    "to",
    "text",
    "message",
    "number",
    "id",
    "callId",
    "action",
    "priority",
    "language",
    "interrupt",
];

#[derive(Debug, Arbitrary)]
enum JsonValue {
    Text(String),
    Number(i64),
    Float(f64),
    Bool(bool),
    Null,
    Array(Vec<String>),
    Phone(u64, bool),
}

#[derive(Debug, Arbitrary)]
enum Body {
    Raw(Vec<u8>),
    Object(Vec<(u8, JsonValue)>),
    OtherKey(String, JsonValue),
    Twice(u8, JsonValue, JsonValue),
    TooLarge(u16),
    Unreadable(String),
    TimedOut(u8),
}

#[derive(Debug, Arbitrary)]
struct Input {
    method: u8,
    raw_method: Option<String>,
    path: u8,
    suffix: String,
    token_required: bool,
    authorization: Option<String>,
    right_token: bool,
    content_type: Option<u8>,
    raw_content_type: Option<String>,
    origin: Option<String>,
    host: Option<u8>,
    raw_host: Option<String>,
    body: Body,
}

struct Fixture {
    _dir: tempfile::TempDir,
    open: ApiContext,
    guarded: ApiContext,
    _requests: BotRequests,
}

thread_local! {
    static FIXTURE: Fixture = fixture();
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary folder for the fuzzed queue");
    let queue = SmsQueue::open(&dir.path().join("queue")).expect("an empty queue opens");
    let log = CallLog::new(CallLogSettings {
        path: dir.path().join("calls.jsonl"),
        max_bytes: 1 << 20,
        keep: 1,
    });
    let (bot, requests) = BotState::new("/dev/ttyUSB2".into(), log);
    let open = ApiContext {
        twilio: None,
        queue,
        policy: SmsPolicy::default(),
        bot,
        system_status: Arc::new(|| json!({ "smstools_active": false })),
        token: None,
        // No call runs, so nothing is ever synthesized; the requests are still checked.
        speech: Some(Speaker::new(TtsCommand::default())),
        hosts: HostPolicy::default(),
    };
    let guarded = ApiContext {
        token: Some(TOKEN.to_owned()),
        ..open.clone()
    };
    Fixture {
        _dir: dir,
        open,
        guarded,
        _requests: requests,
    }
}

fn value(v: &JsonValue) -> Value {
    match v {
        JsonValue::Text(t) => json!(t),
        JsonValue::Number(n) => json!(n),
        JsonValue::Float(f) => json!(f),
        JsonValue::Bool(b) => json!(b),
        JsonValue::Null => Value::Null,
        JsonValue::Array(a) => json!(a),
        JsonValue::Phone(digits, plus) => {
            json!(format!("{}{digits}", if *plus { "+" } else { "" }))
        }
    }
}

fn body(b: &Body) -> RequestBody {
    match b {
        Body::Raw(bytes) => RequestBody::Read(bytes.clone()),
        Body::Object(fields) => {
            let mut map = Map::new();
            for (key, v) in fields {
                let key = KEYS[usize::from(*key) % KEYS.len()];
                map.insert(key.to_owned(), value(v));
            }
            RequestBody::Read(Value::Object(map).to_string().into_bytes())
        }
        Body::OtherKey(key, v) => {
            let mut map = Map::new();
            map.insert(key.clone(), value(v));
            RequestBody::Read(Value::Object(map).to_string().into_bytes())
        }
        Body::Twice(key, a, b) => {
            let key = KEYS[usize::from(*key) % KEYS.len()];
            let text = format!(
                "{{{}: {}, {}: {}}}",
                Value::from(key),
                value(a),
                Value::from(key),
                value(b)
            );
            RequestBody::Read(text.into_bytes())
        }
        Body::TooLarge(limit) => RequestBody::TooLarge {
            limit: usize::from(*limit),
        },
        Body::Unreadable(why) => RequestBody::Unreadable(why.clone()),
        Body::TimedOut(seconds) => RequestBody::TimedOut {
            seconds: u64::from(*seconds),
        },
    }
}

fuzz_target!(|input: Input| {
    FIXTURE.with(|fixture| {
        let context = if input.token_required {
            &fixture.guarded
        } else {
            &fixture.open
        };
        let method = match &input.raw_method {
            Some(m) => m.as_str(),
            None => METHODS[usize::from(input.method) % METHODS.len()],
        };
        let url = format!(
            "{}{}",
            PATHS[usize::from(input.path) % PATHS.len()],
            input.suffix
        );
        let authorization = if input.right_token {
            Some(format!("Bearer {TOKEN}"))
        } else {
            input.authorization.clone()
        };
        let content_type = match (&input.raw_content_type, input.content_type) {
            (Some(raw), _) => Some(raw.as_str()),
            (None, Some(n)) => Some(CONTENT_TYPES[usize::from(n) % CONTENT_TYPES.len()]),
            (None, None) => None,
        };
        let host = match (&input.raw_host, input.host) {
            (Some(raw), _) => Some(raw.as_str()),
            (None, Some(n)) => Some(HOSTS[usize::from(n) % HOSTS.len()]),
            (None, None) => None,
        };
        let response = handle(
            context,
            ApiRequest {
                method,
                url: &url,
                authorization: authorization.as_deref(),
                content_type,
                origin: input.origin.as_deref(),
                host,
                body: body(&input.body),
            },
        );

        let status = response.status;
        assert!(
            matches!(
                status,
                200 | 202
                    | 400
                    | 401
                    | 403
                    | 404
                    | 405
                    | 408
                    | 409
                    | 413
                    | 415
                    | 421
                    | 500
                    | 503
                    | 507
            ),
            "unexpected status {status}: {}",
            response.body
        );
        let object = response
            .body
            .as_object()
            .expect("every answer is a JSON object");
        let path = url.split_once('?').map_or(url.as_str(), |(p, _)| p);
        let unified = UNIFIED_SEND_PATHS.contains(&path);
        assert_eq!(
            response.allow.is_some(),
            status == 405,
            "Allow exactly on 405"
        );
        assert_eq!(
            response.challenge,
            status == 401,
            "the Bearer challenge exactly on 401"
        );
        if status >= 400 {
            assert!(
                object.get("error").is_some_and(Value::is_string),
                "{}",
                response.body
            );
            if unified || PHONE_CALL_PATHS.contains(&path) {
                assert_eq!(object.get("success"), Some(&Value::Bool(false)));
            }
        }
        let queued_id = match status {
            202 => object.get("id").and_then(Value::as_str),
            200 if unified => object.get("message_id").and_then(Value::as_str),
            _ => None,
        };
        if status == 202 || (status == 200 && unified) {
            assert!(
                content_type.is_some_and(|c| c.split(';').next().is_some_and(|essence| essence
                    .trim()
                    .eq_ignore_ascii_case("application/json"))),
                "a queued SMS came with the JSON type, not {content_type:?}"
            );
            assert!(
                host.is_none_or(|h| h != "evil.example"),
                "a foreign Host never queues"
            );
            let id = queued_id.expect("a queued SMS is answered with its id");
            let read = handle(
                context,
                ApiRequest {
                    authorization: Some(&format!("Bearer {TOKEN}")),
                    ..ApiRequest::new("GET", &format!("/sms/{id}"), RequestBody::Read(Vec::new()))
                },
            );
            assert_eq!(
                read.status, 200,
                "queued SMS {id} cannot be read back: {}",
                read.body
            );
        }
    });
});
