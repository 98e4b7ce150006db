//! The API's routes, sans-I/O: a request (method, URL, authorization, body already read
//! or found too large) goes in, a status and a JSON body come out.
//!
//! This module owns what each path means and every rule about bad input, so the whole
//! table of errors is unit-tested without a socket:
//! - where the request comes from, first: a `Host` that is not a name of this API (DNS
//!   rebinding: a web page whose name resolves to 127.0.0.1) is 421, an `Origin` of
//!   another site (a web page in a browser on the host) is 403 ([`HostPolicy`]);
//! - authorization next (a configured token is required on every request, even for an
//!   unknown path, so an unauthenticated caller learns nothing about the routes): 401;
//! - unknown path: 404; known path, wrong method: 405 with `Allow`;
//! - a body of the wrong type: 415 naming `content-type` (JSON paths want
//!   `application/json`, the WAV path `audio/wav`);
//! - body beyond the limit: 413; not sent in time: 408; not JSON, not an object: 400
//!   naming `body`; a key twice: 400 naming the key; a missing, extra or mistyped field:
//!   400 naming it; a bad number or text: 400 naming `to` or `text` (`message` on the
//!   drop-in paths) with the planner's reason.
//!
//! Native paths answer errors as `{"error": "...", "field": "..."}`; the drop-in paths of
//! the unified API (`/send`, `/send_sms`, `/pi_send_message`) answer in their own shape,
//! `{"success": false, "error": "..."}`, with the same status codes; its call paths
//! (`/phone_call`, `/phone_call/status`) answer `{"success", "message", "call_id",
//! "queue_size"}`, errors with `"error"` and `"field"` besides.
//!
//! The call's audio (docs/audio.md): `POST /calls/current/play` (a WAV body, queued or
//! with `?interrupt=true` played at once), `POST /calls/current/hangup`, `GET
//! /calls/current/audio` (accepted here, streamed by [`super::audio_stream`]), and the
//! unified API's `POST /phone_call` (speech through [`super::speech`]) and `GET
//! /phone_call/status`. Without a connected call with audio they answer 409.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};

mod outbound;
mod twilio;

use super::audio_stream;
use super::speech::{Speaker, SpeechError, SpeechJob};
use crate::audio::{CallAudio, PlayError, TtsError, decode_wav};
use crate::bot::BotState;
use crate::spool::queue::{QueueError, SmsId, SmsPolicy, SmsQueue, SmsRecord, ValidatedSms};

/// Calls `GET /calls` returns when no `limit` is given.
pub const DEFAULT_CALLS_LIMIT: usize = 50;
/// Largest `limit` `GET /calls` accepts.
pub const MAX_CALLS_LIMIT: usize = 1000;
/// The drop-in paths of the unified API.
pub const UNIFIED_SEND_PATHS: [&str; 3] = ["/send", "/send_sms", "/pi_send_message"];
/// The unified API's call paths.
pub const PHONE_CALL_PATHS: [&str; 2] = ["/phone_call", "/phone_call/status"];
/// Plays a WAV body into the call.
pub const PLAY_PATH: &str = "/calls/current/play";
/// Hangs up the call.
pub const HANGUP_PATH: &str = "/calls/current/hangup";

/// The `sim7600 status` view (smstools, the port's holders, the markers, the seed's state)
/// for `GET /status` (the bot's is kept by [`super::system_view`]).
pub type SystemStatus = Arc<dyn Fn() -> Value + Send + Sync>;

/// What the routes need: the queue, what it accepts, the bot, the token.
#[derive(Clone)]
pub struct ApiContext {
    /// The durable SMS queue.
    pub queue: SmsQueue,
    /// What a text must satisfy (part limit, separate messages).
    pub policy: SmsPolicy,
    /// The running bot: its snapshot, its call log, and the wake-up for the queue.
    pub bot: BotState,
    /// The `sim7600 status` view.
    pub system_status: SystemStatus,
    /// The bearer token every request must carry, if configured.
    pub token: Option<String>,
    /// Speech for `POST /phone_call` (the `[audio]` TTS command); `None` when call audio
    /// is off.
    pub speech: Option<Speaker>,
    /// The names a request's `Host` and `Origin` may carry (the server sets it from the
    /// `[api]` settings, as it does the token).
    pub hosts: HostPolicy,
    /// The Twilio-shaped REST paths' account and the calls they know (`[twilio]`);
    /// `None`: those paths are not served.
    pub twilio: Option<crate::agent::rest::TwilioRest>,
}

/// Which `Host` and `Origin` a request may carry: see [`HostPolicy::allows_host`] and
/// [`HostPolicy::allows_origin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPolicy {
    /// The address the API listens on.
    pub listen: SocketAddr,
    /// Further host names (`[api] allowed_hosts`), lower case, without a trailing dot.
    pub names: Vec<String>,
}

impl Default for HostPolicy {
    fn default() -> Self {
        Self::new(super::settings::DEFAULT_LISTEN, &[])
    }
}

impl HostPolicy {
    /// The policy of an API listening on `listen` and also reached as `names`.
    pub fn new(listen: SocketAddr, names: &[String]) -> Self {
        Self {
            listen,
            names: names
                .iter()
                .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether `authority` (a `Host` header: a name or IP literal, an optional port) names
    /// this API: an IP literal of the listen address (any, when it listens on every
    /// address; any loopback one, when it listens on loopback), `localhost` and
    /// `*.localhost` (which browsers never send to the network), or a configured name.
    /// Any other name is what a DNS-rebinding page sends.
    pub fn allows_host(&self, authority: &str) -> bool {
        let Some(name) = host_of(authority) else {
            return false;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            return false;
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            let listen = self.listen.ip();
            return ip == listen
                || listen.is_unspecified()
                || (ip.is_loopback() && listen.is_loopback());
        }
        name == "localhost" || name.ends_with(".localhost") || self.names.contains(&name)
    }

    /// Whether a request from a browser page of `origin` may be served: only the API's own
    /// origin (`http(s)://` and the very `Host` the request names) or a configured name.
    /// `null` (a sandboxed or local-file page), another scheme, another port of the same
    /// machine, or any other site is refused.
    pub fn allows_origin(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim();
        let Some(authority) = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        else {
            return false;
        };
        if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
            return false;
        }
        let same = host.is_some_and(|h| h.trim().eq_ignore_ascii_case(authority))
            && self.allows_host(authority);
        let listed = host_of(authority).is_some_and(|name| {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            self.names.contains(&name)
        });
        same || listed
    }
}

/// The host part of `host[:port]` or `[v6]:port`; `None` when it is malformed.
fn host_of(authority: &str) -> Option<&str> {
    let authority = authority.trim();
    let digits = |port: &str| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = authority.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            None if after.is_empty() => Some(ip),
            Some(port) if digits(port) => Some(ip),
            _ => None,
        };
    }
    match authority.split_once(':') {
        None => Some(authority),
        Some((host, port)) if digits(port) => Some(host),
        Some(_) => None,
    }
}

impl std::fmt::Debug for ApiContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiContext")
            .field("queue", &self.queue)
            .field("policy", &self.policy)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

/// A request body as the server read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// The whole body (within the limit).
    Read(Vec<u8>),
    /// The body is larger than the limit (by its `Content-Length`, or by what was read).
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body could not be read (the client went away mid-body).
    Unreadable(String),
    /// The body did not arrive within `[api] body_timeout_s`.
    TimedOut {
        /// The timeout, in seconds.
        seconds: u64,
    },
}

/// A request, as far as the routes care.
#[derive(Debug, Clone)]
pub struct ApiRequest<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// Path and query (`/calls?limit=5`).
    pub url: &'a str,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The `Origin` header, if any (browsers send it with every cross-site request).
    pub origin: Option<&'a str>,
    /// The `Host` header (or the authority of an absolute request URI), if any.
    pub host: Option<&'a str>,
    /// The body.
    pub body: RequestBody,
}

impl<'a> ApiRequest<'a> {
    /// A request with no headers but `Authorization`: what a program on the host (curl)
    /// sends to a path without a body.
    pub fn new(method: &'a str, url: &'a str, body: RequestBody) -> Self {
        Self {
            method,
            url,
            authorization: None,
            content_type: None,
            origin: None,
            host: None,
            body,
        }
    }
}

/// A response: status, JSON body (or a text one), and the headers that depend on the
/// route.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON body (`null` when `text` is the body).
    pub body: Value,
    /// A body in the Prometheus text format instead of JSON (`GET /metrics`).
    pub text: Option<String>,
    /// `Allow` for a 405.
    pub allow: Option<&'static str>,
    /// Whether to send `WWW-Authenticate: Bearer` (a 401).
    pub challenge: bool,
}

impl ApiResponse {
    fn with_status(mut self, status: u16) -> Self {
        if self.status == 200 {
            self.status = status;
        }
        self
    }

    pub(super) fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            text: None,
            allow: None,
            challenge: false,
        }
    }

    /// A body in the Prometheus text format.
    pub(super) fn text(status: u16, text: String) -> Self {
        Self {
            text: Some(text),
            ..Self::json(status, Value::Null)
        }
    }
}

/// Which family a path belongs to: it decides the error shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Native,
    Unified,
    PhoneCall,
}

/// A refusal: status, sentence, and the field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fault {
    status: u16,
    message: String,
    field: Option<String>,
}

impl Fault {
    fn field(status: u16, field: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    fn plain(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
        }
    }

    fn into_response(self, shape: Shape) -> ApiResponse {
        let body = match shape {
            Shape::Native => match &self.field {
                Some(field) => json!({ "error": self.message, "field": field }),
                None => json!({ "error": self.message }),
            },
            Shape::Unified => json!({ "success": false, "error": self.message }),
            Shape::PhoneCall => {
                let mut body = json!({
                    "success": false,
                    "message": self.message,
                    "error": self.message,
                });
                if let (Some(field), Some(map)) = (&self.field, body.as_object_mut()) {
                    map.insert("field".into(), field.clone().into());
                }
                body
            }
        };
        ApiResponse::json(self.status, body)
    }
}

fn shape_of(path: &str) -> Shape {
    if UNIFIED_SEND_PATHS.contains(&path) {
        Shape::Unified
    } else if PHONE_CALL_PATHS.contains(&path) {
        Shape::PhoneCall
    } else {
        Shape::Native
    }
}

/// Answers one request.
pub fn handle(context: &ApiContext, request: ApiRequest<'_>) -> ApiResponse {
    let (path, query) = request.url.split_once('?').unwrap_or((request.url, ""));
    let shape = shape_of(path);
    let mut response = route(context, &request, path, query, shape);
    if shape == Shape::PhoneCall {
        // Every answer of the unified call paths names the call, success or not.
        if let Some(map) = response.body.as_object_mut() {
            map.entry("call_id")
                .or_insert_with(|| current_call_id(context));
        }
    }
    response
}

/// A refusal the server makes before the routes see the request (too many connections:
/// 503), in the error shape of the path of `url`.
pub fn refusal(url: &str, status: u16, message: &str) -> ApiResponse {
    let path = url.split_once('?').map_or(url, |(p, _)| p);
    let shape = shape_of(path);
    let mut response = Fault::plain(status, message).into_response(shape);
    if shape == Shape::PhoneCall {
        if let Some(map) = response.body.as_object_mut() {
            map.insert("call_id".into(), Value::Null);
        }
    }
    response
}

/// The current call's id as the API and the events show it (a string), or `null`.
fn current_call_id(context: &ApiContext) -> Value {
    context
        .bot
        .events()
        .current_call_id()
        .map_or(Value::Null, |id| {
            crate::events::model::call_id_text(id).into()
        })
}

fn route(
    context: &ApiContext,
    request: &ApiRequest<'_>,
    path: &str,
    query: &str,
    shape: Shape,
) -> ApiResponse {
    if let Some(host) = request.host {
        if !context.hosts.allows_host(host) {
            return Fault::field(
                421,
                "host",
                format!(
                    "Host {host:?} is not a name of this API: use its address or localhost, \
                     or list the name in [api] allowed_hosts"
                ),
            )
            .into_response(shape);
        }
    }
    if let Some(origin) = request.origin {
        if !context.hosts.allows_origin(origin, request.host) {
            return Fault::field(
                403,
                "origin",
                format!(
                    "requests from web pages of {origin:?} are refused: this API serves \
                     programs on the host, not other sites"
                ),
            )
            .into_response(shape);
        }
    }
    if path.starts_with(twilio::PREFIX) {
        return twilio::handle(context, request, path);
    }
    if !may_enter(context, request.authorization) {
        let mut response = Fault::field(
            401,
            "authorization",
            "this API needs `Authorization: Bearer <token>` with the configured token",
        )
        .into_response(shape);
        response.challenge = true;
        return response;
    }
    let allow = match path {
        // GET lists the calls, POST dials.
        "/calls" if request.method == "POST" => "POST",
        "/calls" if request.method != "GET" => {
            let mut response = Fault::plain(
                405,
                format!("/calls takes GET or POST, not {}", request.method),
            )
            .into_response(shape);
            response.allow = Some("GET, POST");
            return response;
        }
        "/ussd" => "POST",
        "/sms" => "POST",
        "/status" | "/calls" | crate::api::sse::PATH => "GET",
        "/metrics" | "/healthz" => "GET",
        PLAY_PATH | HANGUP_PATH | "/phone_call" => "POST",
        audio_stream::PATH | "/phone_call/status" => "GET",
        p if p.strip_prefix("/sms/").is_some_and(|id| !id.is_empty()) => "GET",
        p if UNIFIED_SEND_PATHS.contains(&p) => "POST",
        _ => {
            return Fault::plain(404, format!("no such path: {path}")).into_response(shape);
        }
    };
    if request.method != allow {
        let mut response =
            Fault::plain(405, format!("{path} takes {allow}, not {}", request.method))
                .into_response(shape);
        response.allow = Some(allow);
        return response;
    }
    let wanted = match path {
        "/sms" | "/phone_call" | "/ussd" => Some(Media::Json),
        "/calls" if request.method == "POST" => Some(Media::Json),
        PLAY_PATH => Some(Media::Wav),
        p if UNIFIED_SEND_PATHS.contains(&p) => Some(Media::Json),
        _ => None,
    };
    if let Some(wanted) = wanted {
        if let Err(fault) = wanted.check(request.content_type) {
            return fault.into_response(shape);
        }
    }
    let result = match path {
        "/sms" => post_sms(context, &request.body),
        "/status" => Ok(status(context)),
        "/metrics" => Ok(super::monitoring::metrics(context)),
        "/healthz" => Ok(super::monitoring::healthz(context)),
        // Accepted here (token, method); the server streams it (`crate::api::sse`).
        crate::api::sse::PATH => Ok(ApiResponse::json(
            200,
            json!({ "stream": "text/event-stream" }),
        )),
        "/calls" if request.method == "POST" => outbound::post_calls(context, &request.body),
        "/ussd" => outbound::post_ussd(context, &request.body),
        "/calls" => calls(context, query),
        PLAY_PATH => play(context, query, &request.body),
        HANGUP_PATH => hang_up_current(context),
        // Accepted here (token, method, a call with audio); the server streams it.
        audio_stream::PATH => listen(context, query),
        "/phone_call" => Ok(phone_call(context, &request.body)),
        "/phone_call/status" => Ok(phone_call_status(context)),
        p if UNIFIED_SEND_PATHS.contains(&p) => unified_send(context, &request.body),
        p => get_sms(context, p.strip_prefix("/sms/").unwrap_or_default()),
    };
    result.unwrap_or_else(|fault| fault.into_response(shape))
}

/// Whether a request with this `Authorization` header gets past the token check (always,
/// when no token is configured). The server asks before it reads a large body.
pub fn may_enter(context: &ApiContext, authorization: Option<&str>) -> bool {
    let twilio = context
        .twilio
        .as_ref()
        .is_some_and(|t| t.basic_ok(authorization));
    twilio
        || context
            .token
            .as_deref()
            .is_none_or(|token| authorized(authorization, token))
}

/// Constant-time comparison of the presented token with the configured one: the time a
/// wrong guess takes must not tell how much of it was right.
fn authorized(header: Option<&str>, token: &str) -> bool {
    let Some(header) = header else {
        return false;
    };
    let Some((scheme, presented)) = header.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let presented = presented.trim().as_bytes();
    let expected = token.as_bytes();
    if presented.len() != expected.len() {
        return false;
    }
    presented
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// What a path's body must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    /// `application/json` (any parameters, such as `charset=utf-8`).
    Json,
    /// A WAV file: `audio/wav` or its aliases, or `application/octet-stream`.
    Wav,
}

impl Media {
    /// 415 naming `content-type` unless `content_type` is this. A type a browser page may
    /// send without asking first (form or plain text) never passes.
    fn check(self, content_type: Option<&str>) -> Result<(), Fault> {
        let essence = content_type.map(|c| {
            c.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        let ok = matches!(
            (self, essence.as_deref()),
            (Media::Json, Some("application/json"))
                | (
                    Media::Wav,
                    Some(
                        "audio/wav"
                            | "audio/x-wav"
                            | "audio/wave"
                            | "audio/vnd.wave"
                            | "application/octet-stream",
                    ),
                )
        );
        if ok {
            return Ok(());
        }
        let given = content_type.map_or_else(|| "none".to_owned(), |c| format!("{c:?}"));
        let wanted = match self {
            Media::Json => "`Content-Type: application/json`",
            Media::Wav => "`Content-Type: audio/wav`",
        };
        Err(Fault::field(
            415,
            "content-type",
            format!("this path takes a body sent with {wanted}; the request's type is {given}"),
        ))
    }
}

/// The body as a JSON object, or the fault naming `body`.
fn json_object(body: &RequestBody) -> Result<Map<String, Value>, Fault> {
    let bytes = match body {
        RequestBody::Read(bytes) => bytes,
        RequestBody::TooLarge { limit } => {
            return Err(Fault::field(
                413,
                "body",
                format!("the request body is larger than the limit of {limit} bytes"),
            ));
        }
        RequestBody::Unreadable(why) => {
            return Err(Fault::field(
                400,
                "body",
                format!("the request body could not be read: {why}"),
            ));
        }
        RequestBody::TimedOut { seconds } => return Err(timed_out(*seconds)),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Fault::field(
            400,
            "body",
            "the request body is empty: a JSON object was expected",
        ));
    }
    let value = parse_unique(bytes).map_err(|e| match e {
        JsonFault::Duplicate(key) => Fault::field(
            400,
            &key,
            format!("the request body names \"{key}\" twice: each key may appear once"),
        ),
        JsonFault::Syntax(e) => Fault::field(
            400,
            "body",
            format!("the request body is not valid JSON: {e}"),
        ),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Fault::field(
            400,
            "body",
            format!(
                "the request body is JSON {}, not an object",
                json_kind(&other)
            ),
        )),
    }
}

fn timed_out(seconds: u64) -> Fault {
    Fault::field(
        408,
        "body",
        format!("the request body did not arrive within {seconds} s ([api] body_timeout_s)"),
    )
}

/// Why a body is not one JSON value.
#[derive(Debug)]
enum JsonFault {
    /// An object names this key twice (serde_json would keep the last silently).
    Duplicate(String),
    /// Not JSON.
    Syntax(serde_json::Error),
}

/// Parses `bytes` as one JSON value, refusing an object that names a key twice (at any
/// depth): `{"to": "+49...", "to": "+1..."}` must not send to whichever came last.
fn parse_unique(bytes: &[u8]) -> Result<Value, JsonFault> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = UniqueKeys {
        duplicate: &duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match (parsed, duplicate.into_inner()) {
        (_, Some(key)) => Err(JsonFault::Duplicate(key)),
        (Ok(value), None) => Ok(value),
        (Err(e), None) => Err(JsonFault::Syntax(e)),
    }
}

/// A JSON value whose objects may not repeat a key; the first repeated key is left in
/// `duplicate`.
struct UniqueKeys<'a> {
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity, so every parsed float is a number.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(UniqueKeys {
            duplicate: self.duplicate,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let error = A::Error::custom(format!("duplicate key {key:?}"));
                *self.duplicate.borrow_mut() = Some(key);
                return Err(error);
            }
            let value = map.next_value_seed(UniqueKeys {
                duplicate: self.duplicate,
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The string field `key`, or the fault naming it.
fn string_field<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a str, Fault> {
    match object.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(Fault::field(
            400,
            key,
            format!("\"{key}\" must be a string, not {}", json_kind(other)),
        )),
        None => Err(Fault::field(400, key, format!("\"{key}\" is missing"))),
    }
}

/// Checks `to` and the text (named `text_key` in the request) and queues the message.
fn validate_and_queue(
    context: &ApiContext,
    to: &str,
    text: &str,
    text_key: &str,
    report: bool,
) -> Result<(SmsId, ValidatedSms), Fault> {
    let sms = ValidatedSms::new(to, text, context.policy)
        .map_err(|rejection| {
            let field = match rejection.field() {
                "text" => text_key,
                other => other,
            };
            Fault::field(400, field, rejection.to_string())
        })?
        .with_report(report);
    let id = context.queue.enqueue(&sms).map_err(|e| match e {
        QueueError::Full { .. } => {
            log::warn!("SMS to {to} refused: {e}");
            Fault::plain(503, e.to_string())
        }
        other => {
            log::error!("SMS to {to} not queued: {other}");
            Fault::plain(500, format!("the message could not be queued: {other}"))
        }
    })?;
    // The bot sends it now rather than at its next look at the queue; a bot that has
    // ended finds it there at its next start.
    if !context.bot.sms_queued() {
        log::warn!("SMS {id} queued while the bot is not running: it is sent at the next start");
    }
    Ok((id, sms))
}

/// `POST /sms {"to", "text", "report"?}` → 202 `{"id", "state", "encoding", "parts"}`.
fn post_sms(context: &ApiContext, body: &RequestBody) -> Result<ApiResponse, Fault> {
    let object = json_object(body)?;
    if let Some(extra) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "to" | "text" | "report"))
    {
        return Err(Fault::field(
            400,
            extra,
            format!("unknown field \"{extra}\": the fields are \"to\", \"text\" and \"report\""),
        ));
    }
    let to = string_field(&object, "to")?;
    let text = string_field(&object, "text")?;
    let report = match object.get("report") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(Fault::field(
                400,
                "report",
                format!("\"report\" must be true or false, not {}", json_kind(other)),
            ));
        }
    };
    let (id, sms) = validate_and_queue(context, to, text, "text", report)?;
    Ok(ApiResponse::json(
        202,
        json!({
            "id": id.as_str(),
            "state": "queued",
            "encoding": sms.encoding().as_str(),
            "parts": sms.parts(),
        }),
    ))
}

/// `POST /send` (and its aliases) `{"to", "message"}` → 200 `{"success": true,
/// "message_id", "encoding", "parts", "queued": true}`. Other fields are ignored: the
/// unified API's callers may send more (this is a drop-in, not a new contract).
fn unified_send(context: &ApiContext, body: &RequestBody) -> Result<ApiResponse, Fault> {
    let object = json_object(body)?;
    let to = string_field(&object, "to")?;
    let message = string_field(&object, "message")?;
    let (id, sms) = validate_and_queue(context, to, message, "message", false)?;
    Ok(ApiResponse::json(
        200,
        json!({
            "success": true,
            "message_id": id.as_str(),
            "encoding": sms.encoding().as_str(),
            "parts": sms.parts(),
            "queued": true,
        }),
    ))
}

/// `GET /sms/{id}` → 200 with the message's state, or 404.
fn get_sms(context: &ApiContext, id: &str) -> Result<ApiResponse, Fault> {
    let id = SmsId::parse(id).map_err(|e| Fault::field(400, "id", e.to_string()))?;
    match context.queue.get(&id) {
        Ok(Some(record)) => Ok(ApiResponse::json(200, record_view(&record))),
        Ok(None) => Err(Fault::field(
            404,
            "id",
            format!("no message with id {id} (unknown, or finished long enough ago to be pruned)"),
        )),
        Err(e) => Err(Fault::plain(500, e.to_string())),
    }
}

/// A record as `GET /sms/{id}` shows it: times as RFC 3339.
pub fn record_view(record: &SmsRecord) -> Value {
    let mut view = json!({
        "id": record.id.as_str(),
        "to": record.to,
        "text": record.text,
        "state": record.state,
        "encoding": record.encoding.as_str(),
        "parts": record.parts,
        "delivery": record.delivery,
        "attempts": record.attempts,
        "created_at": rfc3339_ms(record.created_ms),
        "updated_at": rfc3339_ms(record.updated_ms),
        "message_references": record.message_references,
    });
    if let Some(map) = view.as_object_mut() {
        if let Some(at) = record.next_attempt_ms {
            map.insert("next_attempt_at".into(), rfc3339_ms(at).into());
        }
        if let Some(part) = record.in_flight_part {
            map.insert("uncertain_part".into(), (u16::from(part) + 1).into());
        }
        if let Some(error) = &record.error {
            map.insert("error".into(), error.clone().into());
        }
    }
    view
}

fn rfc3339_ms(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| ms.to_string(), |t| format!("{t:.3}"))
}

/// `GET /status`: the `sim7600 status` view, the modem, the signal, the current call,
/// the bot and the queue.
fn status(context: &ApiContext) -> ApiResponse {
    let bot = context.bot.snapshot();
    let (queued, sending) = match context.queue.active() {
        Ok(records) => {
            let sending = records
                .iter()
                .filter(|r| r.state == crate::spool::queue::SmsState::Sending)
                .count();
            (Value::from(records.len() - sending), Value::from(sending))
        }
        Err(e) => {
            log::warn!("{e}");
            (Value::Null, Value::Null)
        }
    };
    ApiResponse::json(
        200,
        json!({
            "system": (context.system_status)(),
            "modem": bot.identity,
            "signal": bot.signal,
            "registration": bot.network,
            "current_call": bot.current_call,
            "bot": bot,
            "sms_queue": { "queued": queued, "sending": sending },
        }),
    )
}

/// `GET /calls?limit=N` → `{"calls": [...]}`, newest first.
fn calls(context: &ApiContext, query: &str) -> Result<ApiResponse, Fault> {
    let mut limit = DEFAULT_CALLS_LIMIT;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "limit" {
            return Err(Fault::field(
                400,
                key,
                format!("unknown query parameter \"{key}\": /calls takes \"limit\""),
            ));
        }
        limit = value
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_CALLS_LIMIT).contains(n))
            .ok_or_else(|| {
                Fault::field(
                    400,
                    "limit",
                    format!("limit {value:?} is not a whole number in 1..={MAX_CALLS_LIMIT}"),
                )
            })?;
    }
    let calls = context
        .bot
        .recent_calls(limit)
        .map_err(|e| Fault::plain(500, e.to_string()))?;
    Ok(ApiResponse::json(200, json!({ "calls": calls })))
}

/// The query of a path that takes none.
fn no_query(path: &str, query: &str) -> Result<(), Fault> {
    match query.split('&').find(|p| !p.is_empty()) {
        None => Ok(()),
        Some(pair) => {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            Err(Fault::field(
                400,
                key,
                format!("unknown query parameter \"{key}\": {path} takes none"),
            ))
        }
    }
}

/// The running call's audio, or 409.
fn current_audio(context: &ApiContext) -> Result<Arc<CallAudio>, Fault> {
    context.bot.call_audio().ok_or_else(|| {
        Fault::plain(
            409,
            "there is no connected call with audio (no call, not answered yet, audio not \
             started yet, or [audio] off)",
        )
    })
}

fn play_refused(e: &PlayError) -> Fault {
    match e {
        PlayError::QueueFull(_) => Fault::plain(503, e.to_string()),
        PlayError::Stopped => Fault::plain(409, format!("the call's audio has ended: {e}")),
        PlayError::WrongFormat { .. } => Fault::plain(500, e.to_string()),
    }
}

/// `POST /calls/current/play[?interrupt=true]` with a WAV body (any rate, channels,
/// PCM or float) → 202 `{"clip", "duration_ms", "interrupt", "queued", "playing"}`.
fn play(context: &ApiContext, query: &str, body: &RequestBody) -> Result<ApiResponse, Fault> {
    let mut interrupt = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "interrupt" {
            return Err(Fault::field(
                400,
                key,
                format!("unknown query parameter \"{key}\": {PLAY_PATH} takes \"interrupt\""),
            ));
        }
        interrupt = match value {
            "true" => true,
            "false" => false,
            other => {
                return Err(Fault::field(
                    400,
                    "interrupt",
                    format!("interrupt {other:?} is neither \"true\" nor \"false\""),
                ));
            }
        };
    }
    let bytes = match body {
        RequestBody::Read(bytes) if bytes.is_empty() => {
            return Err(Fault::field(
                400,
                "body",
                "the request body is empty: a WAV file was expected",
            ));
        }
        RequestBody::Read(bytes) => bytes,
        RequestBody::TooLarge { limit } => {
            return Err(Fault::field(
                413,
                "body",
                format!(
                    "the WAV body is larger than the limit of {limit} bytes ([api] max_audio_body_bytes)"
                ),
            ));
        }
        RequestBody::Unreadable(why) => {
            return Err(Fault::field(
                400,
                "body",
                format!("the request body could not be read: {why}"),
            ));
        }
        RequestBody::TimedOut { seconds } => return Err(timed_out(*seconds)),
    };
    // The body is checked before the call, so that bad audio is a 400 whether or not a
    // call runs; without a call it is decoded for the default (narrowband) format. The
    // call's audio is not held while the body is decoded: a call that ends meanwhile
    // closes at once (its recording completed by the bot), and the play is a 409.
    let format = context
        .bot
        .call_audio()
        .map_or(crate::audio::CallFormat::Narrowband, |a| a.format());
    let clip = decode_wav(bytes, "request body", format)
        .map_err(|e| Fault::field(400, "body", e.to_string()))?;
    let audio = current_audio(context)?;
    if audio.format() != format {
        // A call of another format started during the decode.
        return Err(Fault::plain(
            409,
            "the call changed while the body was decoded; send it again",
        ));
    }
    let duration_ms = u64::try_from(clip.duration().as_millis()).unwrap_or(u64::MAX);
    let played = if interrupt {
        audio.play_interrupt(clip)
    } else {
        audio.play(clip)
    };
    let id = played.map_err(|e| play_refused(&e))?;
    let queue = audio.writer_status().queue;
    Ok(ApiResponse::json(
        202,
        json!({
            "clip": id.0,
            "duration_ms": duration_ms,
            "interrupt": interrupt,
            "queued": queue.queued,
            "playing": queue.playing.map(|c| c.0),
        }),
    ))
}

/// `POST /calls/current/hangup` → 202 `{"hang_up": "requested", "call_id"}`; 409 without
/// a call (a ringing call is rejected).
fn hang_up_current(context: &ApiContext) -> Result<ApiResponse, Fault> {
    request_hang_up(context)?;
    Ok(ApiResponse::json(
        202,
        json!({
            "hang_up": "requested",
            "call_id": current_call_id(context),
        }),
    ))
}

fn request_hang_up(context: &ApiContext) -> Result<(), Fault> {
    if context.bot.snapshot().current_call.is_none() {
        return Err(Fault::plain(409, "there is no call to hang up"));
    }
    if !context.bot.hang_up() {
        return Err(Fault::plain(503, "the bot is not running"));
    }
    Ok(())
}

/// `GET /calls/current/audio`: checked here (no query, a call with audio), streamed by
/// [`audio_stream::serve`].
fn listen(context: &ApiContext, query: &str) -> Result<ApiResponse, Fault> {
    no_query(audio_stream::PATH, query)?;
    let audio = current_audio(context)?;
    Ok(ApiResponse::json(
        200,
        json!({ "stream": audio_stream::content_type(audio.format()) }),
    ))
}

/// An optional string field (`null` counts as absent).
fn optional_string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, Fault> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => string_field(object, key).map(Some),
    }
}

/// `callId`: whatever string or number the client uses for the call (its own, such as
/// `"call_1761507557"`, or the `call_id` of the events), echoed back as given; `null` or
/// absent: none. Anything else is 400.
fn call_id_field(object: &Map<String, Value>) -> Result<Option<Value>, Fault> {
    match object.get("callId") {
        None | Some(Value::Null) => Ok(None),
        Some(id @ (Value::String(_) | Value::Number(_))) => Ok(Some(id.clone())),
        Some(other) => Err(Fault::field(
            400,
            "callId",
            format!(
                "\"callId\" must be a string or a number (the call's id as the client knows \
                 it), not {}",
                json_kind(other)
            ),
        )),
    }
}

/// What `/phone_call` was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PhoneAction {
    Speak,
    HangUp,
}

/// `POST /phone_call {"callId", "action": "speak"|"hangup", "text", "priority":
/// "normal"|"high", "language"}` → 200 `{"success": true, "message", "call_id",
/// "queue_size"}`. A speak request is answered once its text is checked and queued for
/// synthesis ([`super::speech`]); other fields are ignored, as on `/send`. It acts on the
/// current call whatever `callId` says (a client's own id for the call is common; a
/// mismatch is logged); every answer's `call_id` is the `callId` as given, or the current
/// call's id without one.
fn phone_call(context: &ApiContext, body: &RequestBody) -> ApiResponse {
    let mut echo = None;
    let result = phone_call_action(context, body, &mut echo);
    let mut response = result.unwrap_or_else(|fault| fault.into_response(Shape::PhoneCall));
    if let (Some(id), Some(map)) = (echo, response.body.as_object_mut()) {
        map.insert("call_id".into(), id);
    }
    response
}

fn phone_call_action(
    context: &ApiContext,
    body: &RequestBody,
    echo: &mut Option<Value>,
) -> Result<ApiResponse, Fault> {
    let object = json_object(body)?;
    // Read first, so that every answer, an error too, echoes it.
    *echo = call_id_field(&object)?;
    let action = match string_field(&object, "action")? {
        "speak" => PhoneAction::Speak,
        "hangup" => PhoneAction::HangUp,
        other => {
            return Err(Fault::field(
                400,
                "action",
                format!("\"action\" must be \"speak\" or \"hangup\", not {other:?}"),
            ));
        }
    };
    let interrupt = match optional_string(&object, "priority")? {
        None | Some("normal") => false,
        Some("high") => true,
        Some(other) => {
            return Err(Fault::field(
                400,
                "priority",
                format!("\"priority\" must be \"normal\" or \"high\", not {other:?}"),
            ));
        }
    };
    let language = optional_string(&object, "language")?;
    let text = match action {
        PhoneAction::Speak => {
            let text = string_field(&object, "text")?;
            if text.trim().is_empty() {
                return Err(Fault::field(
                    400,
                    "text",
                    "\"text\" is empty: nothing to speak",
                ));
            }
            if let Some(speech) = &context.speech {
                speech.tts().check(text, language).map_err(tts_fault)?;
            }
            Some(text)
        }
        PhoneAction::HangUp => None,
    };
    let current = context.bot.events().current_call_id();
    if let Some(asked) = echo.as_ref() {
        let asked_text = match asked {
            Value::String(s) => s.trim().to_owned(),
            other => other.to_string(),
        };
        let current_text = current.map(crate::events::model::call_id_text);
        if current_text.as_deref() != Some(asked_text.as_str()) {
            log::info!(
                "POST /phone_call: callId {asked} is not the bot's id of the current call ({}); \
                 acting on the current call",
                current_text.as_deref().unwrap_or("there is no call")
            );
        }
    }
    let Some(text) = text else {
        request_hang_up(context)?;
        let queue_size = context
            .bot
            .call_audio()
            .map_or(0, |a| a.writer_status().queue.queued);
        return Ok(ApiResponse::json(
            200,
            json!({
                "success": true,
                "message": "hanging up",
                "call_id": current_call_id(context),
                "queue_size": queue_size,
            }),
        ));
    };
    let audio = current_audio(context)?;
    let Some(speech) = &context.speech else {
        return Err(Fault::plain(
            409,
            "speech needs call audio, and [audio] is off",
        ));
    };
    speech
        .speak(SpeechJob {
            text: text.to_owned(),
            language: language.map(str::to_owned),
            interrupt,
            audio: Arc::downgrade(&audio),
            call_id: current,
        })
        .map_err(|e| match e {
            SpeechError::Refused(e) => tts_fault(e),
            other @ (SpeechError::Busy(_) | SpeechError::Unavailable(_)) => {
                Fault::plain(503, other.to_string())
            }
        })?;
    Ok(ApiResponse::json(
        200,
        json!({
            "success": true,
            "message": if interrupt {
                "queued for speech; it interrupts what plays"
            } else {
                "queued for speech"
            },
            "call_id": current_call_id(context),
            "queue_size": audio.writer_status().queue.queued,
            "pending_speech": speech.pending(),
        }),
    ))
}

fn tts_fault(e: TtsError) -> Fault {
    match e {
        TtsError::BadText(_) => Fault::field(400, "text", e.to_string()),
        TtsError::BadLanguage { .. } => Fault::field(400, "language", e.to_string()),
        other => Fault::plain(500, other.to_string()),
    }
}

/// `GET /phone_call/status` → 200 `{"success": true, "message", "call_id",
/// "queue_size", "state", "audio", "playing", "pending_speech", "call"}`.
fn phone_call_status(context: &ApiContext) -> ApiResponse {
    let call = context.bot.snapshot().current_call;
    let audio = context.bot.call_audio();
    let writer = audio.as_ref().map(|a| a.writer_status());
    let state = match (&call, &audio) {
        (None, _) => "idle",
        (Some(c), _) if c.state == crate::bot::CurrentCallState::Ringing => "ringing",
        (Some(_), Some(_)) => "connected",
        (Some(_), None) => "connected_without_audio",
    };
    let message = match state {
        "idle" => "no call",
        "ringing" => "a call rings",
        "connected" => "a call is connected with audio",
        _ => "a call is connected; its audio is not running",
    };
    ApiResponse::json(
        200,
        json!({
            "success": true,
            "message": message,
            "call_id": current_call_id(context),
            "queue_size": writer.as_ref().map_or(0, |w| w.queue.queued),
            "state": state,
            "audio": audio.is_some(),
            "playing": writer.as_ref().is_some_and(|w| w.queue.playing.is_some()),
            "pending_speech": context.speech.as_ref().map_or(0, Speaker::pending),
            "call": call,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{CallEnd, CallLog, CallLogSettings, CallRecord, CallerIdKind};
    use crate::spool::queue::{Claim, SmsState};
    use std::time::SystemTime;

    const TOKEN: &str = "0123456789abcdef-token";

    struct Rig {
        _dir: tempfile::TempDir,
        context: ApiContext,
        _requests: crate::bot::BotRequests,
    }

    fn rig() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let queue = SmsQueue::open(&dir.path().join("queue")).unwrap();
        let log = CallLog::new(CallLogSettings {
            path: dir.path().join("calls.jsonl"),
            max_bytes: 1 << 20,
            keep: 1,
        });
        let (bot, requests) = BotState::new("/dev/ttyUSB2".into(), log);
        let context = ApiContext {
            twilio: None,
            queue,
            policy: SmsPolicy::default(),
            bot,
            system_status: Arc::new(|| json!({ "smstools_active": false })),
            token: None,
            speech: Some(Speaker::new(crate::audio::TtsCommand::default())),
            hosts: HostPolicy::default(),
        };
        Rig {
            _dir: dir,
            context,
            _requests: requests,
        }
    }

    /// The type a well-behaved client sends to `url`.
    fn type_for(url: &str) -> &'static str {
        if url.starts_with(PLAY_PATH) {
            "audio/wav"
        } else {
            "application/json"
        }
    }

    fn call(context: &ApiContext, method: &str, url: &str, body: &str) -> ApiResponse {
        handle(
            context,
            ApiRequest {
                method,
                url,
                authorization: None,
                content_type: Some(type_for(url)),
                origin: None,
                host: Some("127.0.0.1:8088"),
                body: RequestBody::Read(body.as_bytes().to_vec()),
            },
        )
    }

    #[test]
    fn a_valid_sms_is_queued_and_answered_202_with_its_id() {
        let rig = rig();
        let response = call(
            &rig.context,
            "POST",
            "/sms",
            r#"{"to": "+491721234567", "text": "Grüße aus Köln"}"#,
        );
        assert_eq!(response.status, 202, "{}", response.body);
        assert_eq!(response.body["state"], "queued");
        assert_eq!(response.body["encoding"], "GSM7");
        assert_eq!(response.body["parts"], 1);
        let id = SmsId::parse(response.body["id"].as_str().unwrap()).unwrap();
        let stored = rig.context.queue.get(&id).unwrap().unwrap();
        assert_eq!(stored.text, "Grüße aus Köln");

        let url = format!("/sms/{id}");
        let status = call(&rig.context, "GET", &url, "");
        assert_eq!(status.status, 200);
        assert_eq!(status.body["state"], "queued");
        assert_eq!(status.body["to"], "+491721234567");
    }

    #[test]
    fn an_sms_may_ask_for_a_status_report_and_the_part_then_sets_srr() {
        let rig = rig();
        let post = |body: &str| call(&rig.context, "POST", "/sms", body);
        let with = post(r#"{"to": "+491721234567", "text": "hi", "report": true}"#);
        assert_eq!(with.status, 202, "{}", with.body);
        let id = SmsId::parse(with.body["id"].as_str().unwrap()).unwrap();
        let record = rig.context.queue.get(&id).unwrap().unwrap();
        assert!(record.report);
        let first_octet = |hex: &str| u8::from_str_radix(&hex[2..4], 16).unwrap();
        let part = record.encode_part(0).unwrap();
        assert_eq!(first_octet(&part.hex) & 0x20, 0x20, "TP-SRR: {}", part.hex);
        let without = post(r#"{"to": "+491721234567", "text": "hi"}"#);
        let id = SmsId::parse(without.body["id"].as_str().unwrap()).unwrap();
        let record = rig.context.queue.get(&id).unwrap().unwrap();
        assert!(!record.report);
        assert_eq!(first_octet(&record.encode_part(0).unwrap().hex) & 0x20, 0);
        let bad = post(r#"{"to": "+491721234567", "text": "hi", "report": "yes"}"#);
        assert_eq!(bad.status, 400);
        assert!(bad.body.to_string().contains("report"), "{}", bad.body);
    }

    #[test]
    fn the_bad_input_table() {
        let rig = rig();
        let c = &rig.context;
        let long_text = "x".repeat(1531);
        let long_body = format!(r#"{{"to": "+4917", "text": "{long_text}"}}"#);
        // (method, url, body, status, field)
        let cases: Vec<(&str, &str, &str, u16, Option<&str>)> = vec![
            (
                "POST",
                "/sms",
                "{\"to\": \"+4917\", \"text\": ",
                400,
                Some("body"),
            ),
            ("POST", "/sms", "", 400, Some("body")),
            ("POST", "/sms", "[\"+4917\", \"hi\"]", 400, Some("body")),
            ("POST", "/sms", "\"hello\"", 400, Some("body")),
            ("POST", "/sms", r#"{"text": "hi"}"#, 400, Some("to")),
            ("POST", "/sms", r#"{"to": "+4917"}"#, 400, Some("text")),
            (
                "POST",
                "/sms",
                r#"{"to": "+4917", "text": "hi", "from": "me"}"#,
                400,
                Some("from"),
            ),
            (
                "POST",
                "/sms",
                r#"{"to": 4917, "text": "hi"}"#,
                400,
                Some("to"),
            ),
            (
                "POST",
                "/sms",
                r#"{"to": "+4917", "text": ["hi"]}"#,
                400,
                Some("text"),
            ),
            (
                "POST",
                "/sms",
                r#"{"to": "+4917", "text": ""}"#,
                400,
                Some("text"),
            ),
            ("POST", "/sms", &long_body, 400, Some("text")),
            (
                "POST",
                "/sms",
                r#"{"to": "call me", "text": "hi"}"#,
                400,
                Some("to"),
            ),
            (
                "POST",
                "/sms",
                r#"{"to": "+49 172 1234567", "text": "hi"}"#,
                400,
                Some("to"),
            ),
            (
                "POST",
                "/sms",
                r#"{"to": "", "text": "hi"}"#,
                400,
                Some("to"),
            ),
            (
                "POST",
                "/sms",
                r#"{"to": "+123456789012345678901", "text": "hi"}"#,
                400,
                Some("to"),
            ),
            ("GET", "/sms", "", 405, None),
            ("DELETE", "/sms/1-2-3", "", 405, None),
            ("GET", "/sms/../../etc/passwd", "", 400, Some("id")),
            ("GET", "/sms/1764000000000-1-0001", "", 404, Some("id")),
            ("GET", "/nowhere", "", 404, None),
            ("POST", "/status", "", 405, None),
            ("GET", "/calls?limit=0", "", 400, Some("limit")),
            ("GET", "/calls?limit=many", "", 400, Some("limit")),
            ("GET", "/calls?since=yesterday", "", 400, Some("since")),
            // The call's audio, without a call.
            (
                "POST",
                "/calls/current/play?interrupt=yes",
                "",
                400,
                Some("interrupt"),
            ),
            ("POST", "/calls/current/play?loud=1", "", 400, Some("loud")),
            ("POST", "/calls/current/play", "", 400, Some("body")),
            (
                "POST",
                "/calls/current/play",
                "this is not audio",
                400,
                Some("body"),
            ),
            ("GET", "/calls/current/play", "", 405, None),
            ("POST", "/calls/current/hangup", "", 409, None),
            ("GET", "/calls/current/hangup", "", 405, None),
            ("GET", "/calls/current/audio", "", 409, None),
            (
                "GET",
                "/calls/current/audio?rate=16000",
                "",
                400,
                Some("rate"),
            ),
            ("POST", "/calls/current/audio", "", 405, None),
            ("GET", "/calls/current", "", 404, None),
            // The unified API's /phone_call.
            ("POST", "/phone_call", "", 400, Some("body")),
            ("POST", "/phone_call", "[1]", 400, Some("body")),
            (
                "POST",
                "/phone_call",
                r#"{"text": "hi"}"#,
                400,
                Some("action"),
            ),
            (
                "POST",
                "/phone_call",
                r#"{"action": "dance"}"#,
                400,
                Some("action"),
            ),
            (
                "POST",
                "/phone_call",
                r#"{"action": 1}"#,
                400,
                Some("action"),
            ),
            (
                "POST",
                "/phone_call",
                r#"{"action": "speak"}"#,
                400,
                Some("text"),
            ),
            (
                "POST",
                "/phone_call",
                r#"{"action": "speak", "text": "  "}"#,
                400,
                Some("text"),
            ),
            (
                "POST",
                "/phone_call",
                r#"{"action": "speak", "text": 5}"#,
                400,
                Some("text"),
            ),
            (
                "POST",
                "/phone_call",
                r#"{"action": "speak", "text": "a\u0000b"}"#,
                400,
                Some("text"),
            ),
            (
                "POST",
                "/phone_call",
                r#"{"action": "speak", "text": "hi", "priority": "urgent"}"#,
                400,
                Some("priority"),
            ),
            (
                "POST",
                "/phone_call",
                r#"{"action": "speak", "text": "hi", "priority": 1}"#,
                400,
                Some("priority"),
            ),
            (
                "POST",
                "/phone_call",
                r#"{"action": "speak", "text": "hi", "language": "de de"}"#,
                400,
                Some("language"),
            ),
            (
                "POST",
                "/phone_call",
                r#"{"action": "speak", "text": "hi", "language": 7}"#,
                400,
                Some("language"),
            ),
            // Any string or number is a call id (acted on the current call: none here).
            (
                "POST",
                "/phone_call",
                r#"{"action": "speak", "text": "hi", "callId": "abc"}"#,
                409,
                None,
            ),
            (
                "POST",
                "/phone_call",
                r#"{"action": "hangup", "callId": -1}"#,
                409,
                None,
            ),
            (
                "POST",
                "/phone_call",
                r#"{"action": "hangup", "callId": [1]}"#,
                400,
                Some("callId"),
            ),
            (
                "POST",
                "/phone_call",
                r#"{"action": "speak", "text": "hi"}"#,
                409,
                None,
            ),
            ("POST", "/phone_call", r#"{"action": "hangup"}"#, 409, None),
            (
                "POST",
                "/phone_call",
                r#"{"action": "hangup", "callId": true}"#,
                400,
                Some("callId"),
            ),
            // A key twice is refused naming it, before anything else is looked at.
            (
                "POST",
                "/sms",
                r#"{"to": "+4917", "text": "hi", "to": "+1900"}"#,
                400,
                Some("to"),
            ),
            (
                "POST",
                "/send",
                r#"{"to": "+4917", "message": "a", "message": "b"}"#,
                400,
                None,
            ),
            (
                "POST",
                "/phone_call",
                r#"{"action": "speak", "action": "hangup"}"#,
                400,
                Some("action"),
            ),
            ("GET", "/phone_call", "", 405, None),
            ("POST", "/phone_call/status", "", 405, None),
        ];
        assert!(cases.len() >= 15);
        for (method, url, body, status, field) in cases {
            let response = call(c, method, url, body);
            assert_eq!(
                response.status, status,
                "{method} {url} {body}: {}",
                response.body
            );
            assert_eq!(
                response.body["field"].as_str(),
                field,
                "{method} {url} {body}: {}",
                response.body
            );
            let error = response.body["error"].as_str().unwrap_or_default();
            assert!(
                error.len() > 10,
                "{method} {url}: error {error:?} says too little"
            );
        }
        let too_large = handle(
            c,
            ApiRequest {
                method: "POST",
                url: "/sms",
                authorization: None,
                content_type: Some("application/json"),
                origin: None,
                host: None,
                body: RequestBody::TooLarge { limit: 16384 },
            },
        );
        assert_eq!(too_large.status, 413);
        assert_eq!(too_large.body["field"], "body");
        assert!(
            c.queue.active().unwrap().is_empty(),
            "nothing bad was queued"
        );
    }

    #[test]
    fn errors_say_what_is_wrong_in_words() {
        let rig = rig();
        let c = &rig.context;
        let r = call(c, "POST", "/sms", r#"{"to": "+49172x", "text": "hi"}"#);
        assert!(
            r.body["error"]
                .as_str()
                .unwrap()
                .contains("'x' at position 6"),
            "{}",
            r.body
        );
        let r = call(
            c,
            "POST",
            "/sms",
            &format!(r#"{{"to": "+49", "text": "{}"}}"#, "Ж".repeat(700)),
        );
        assert!(
            r.body["error"].as_str().unwrap().contains("11 SMS parts"),
            "{}",
            r.body
        );
        let r = call(c, "POST", "/sms", r#"{"to": 1}"#);
        assert_eq!(r.body["error"], "\"to\" must be a string, not a number");
        let r = call(c, "GET", "/sms", "");
        assert_eq!(r.allow, Some("POST"));
        assert_eq!(r.body["error"], "/sms takes POST, not GET");
    }

    #[test]
    fn the_unified_api_answers_in_its_own_shape() {
        let rig = rig();
        for path in UNIFIED_SEND_PATHS {
            let r = call(
                &rig.context,
                "POST",
                path,
                r#"{"to": "+79161234567", "message": "Привет", "priority": "high"}"#,
            );
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            assert_eq!(r.body["success"], true);
            assert_eq!(r.body["queued"], true);
            assert_eq!(r.body["encoding"], "UCS2");
            assert_eq!(r.body["parts"], 1);
            let id = SmsId::parse(r.body["message_id"].as_str().unwrap()).unwrap();
            assert!(rig.context.queue.get(&id).unwrap().is_some());
        }
        let r = call(
            &rig.context,
            "POST",
            "/send",
            r#"{"to": "+7916", "text": "hi"}"#,
        );
        assert_eq!(r.status, 400);
        assert_eq!(
            r.body,
            json!({"success": false, "error": "\"message\" is missing"})
        );
        let r = call(
            &rig.context,
            "POST",
            "/send",
            r#"{"to": "+7916", "message": ""}"#,
        );
        assert_eq!(r.body["success"], false);
        assert_eq!(r.body["error"], "the text is empty");
        let r = call(&rig.context, "GET", "/send_sms", "");
        assert_eq!((r.status, r.allow), (405, Some("POST")));
        assert_eq!(r.body["success"], false);
    }

    #[test]
    fn the_phone_call_paths_answer_in_the_unified_shape() {
        let rig = rig();
        let r = call(&rig.context, "GET", "/phone_call/status", "");
        assert_eq!(r.status, 200);
        assert_eq!(r.body["success"], true);
        assert_eq!(r.body["state"], "idle");
        assert_eq!(r.body["queue_size"], 0);
        assert_eq!(r.body["call_id"], Value::Null);
        let r = call(
            &rig.context,
            "POST",
            "/phone_call",
            r#"{"action": "speak", "priority": "high"}"#,
        );
        assert_eq!(r.status, 400);
        assert_eq!(r.body["success"], false);
        assert_eq!(r.body["field"], "text");
        assert_eq!(r.body["message"], "\"text\" is missing");
        assert_eq!(r.body["call_id"], Value::Null);
        let r = call(&rig.context, "GET", "/phone_call", "");
        assert_eq!((r.status, r.allow), (405, Some("POST")));
        assert_eq!(r.body["success"], false);
    }

    /// A pty standing in for the audio port, drained by a thread; the call's audio on it.
    fn live_call(rig: &Rig) -> Arc<CallAudio> {
        use nix::fcntl::OFlag;
        use std::io::Read as _;
        let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY).unwrap();
        nix::pty::grantpt(&master).unwrap();
        nix::pty::unlockpt(&master).unwrap();
        let port = std::path::PathBuf::from(nix::pty::ptsname_r(&master).unwrap());
        let mut file = std::fs::File::from(std::os::fd::OwnedFd::from(master));
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while matches!(file.read(&mut buf), Ok(n) if n > 0) {}
        });
        let plan = crate::audio::AudioConfig {
            enabled: true,
            port,
            ..crate::audio::AudioConfig::default()
        }
        .prepare()
        .unwrap();
        let audio = Arc::new(CallAudio::open(&plan, "+4917").unwrap());
        rig.context.bot.set_call_audio(Some(Arc::clone(&audio)));
        rig.context.bot.update(|s| {
            s.current_call = Some(crate::bot::CurrentCall {
                to: None,
                state: crate::bot::CurrentCallState::Active,
                caller: Some("+4917".into()),
                caller_id: CallerIdKind::Number,
                rings: 1,
                since: crate::bot::state::now_rfc3339(),
                answered_at: Some(crate::bot::state::now_rfc3339()),
            });
        });
        audio
    }

    /// A WAV of `seconds` of 440 Hz at 22.05 kHz stereo.
    fn wav_440(seconds: f64) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 22050,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for i in 0..(22050.0 * seconds) as u32 {
            let v = (f64::from(i) * 440.0 * std::f64::consts::TAU / 22050.0).sin() * 8000.0;
            w.write_sample(v as i16).unwrap();
            w.write_sample(v as i16).unwrap();
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    fn post_bytes(context: &ApiContext, url: &str, body: Vec<u8>) -> ApiResponse {
        handle(
            context,
            ApiRequest {
                method: "POST",
                url,
                authorization: None,
                content_type: Some(type_for(url)),
                origin: None,
                host: None,
                body: RequestBody::Read(body),
            },
        )
    }

    #[test]
    fn during_a_call_a_wav_plays_bad_audio_is_400_and_the_call_goes_on() {
        let mut rig = rig();
        let audio = live_call(&rig);
        let r = post_bytes(&rig.context, PLAY_PATH, wav_440(2.0));
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(r.body["interrupt"], false);
        assert!((1990..=2010).contains(&r.body["duration_ms"].as_u64().unwrap()));
        let r = post_bytes(&rig.context, PLAY_PATH, wav_440(1.0));
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(r.body["queued"], 1, "behind the first: {}", r.body);

        let r = post_bytes(&rig.context, PLAY_PATH, b"RIFF\x10\0\0\0WAVEjunk".to_vec());
        assert_eq!((r.status, &r.body["field"]), (400, &json!("body")));
        let error = r.body["error"].as_str().unwrap();
        assert!(error.starts_with("request body is not a WAV"), "{error}");
        assert!(audio.writer_status().running, "the call's audio goes on");

        let r = post_bytes(
            &rig.context,
            &format!("{PLAY_PATH}?interrupt=true"),
            wav_440(0.5),
        );
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(
            r.body["queued"], 0,
            "an interrupt drops what waits: {}",
            r.body
        );
        let too_large = handle(
            &rig.context,
            ApiRequest {
                method: "POST",
                url: PLAY_PATH,
                authorization: None,
                content_type: Some("audio/wav"),
                origin: None,
                host: None,
                body: RequestBody::TooLarge { limit: 65536 },
            },
        );
        assert_eq!(too_large.status, 413);
        assert!(
            too_large.body["error"]
                .as_str()
                .unwrap()
                .contains("max_audio_body_bytes")
        );

        let status = call(&rig.context, "GET", "/phone_call/status", "");
        assert_eq!(status.body["state"], "connected");
        assert_eq!(status.body["audio"], true);
        assert_eq!(status.body["playing"], true);
        assert_eq!(
            call(&rig.context, "GET", "/calls/current/audio", "").status,
            200
        );

        // No TTS configured (audio without speech cannot happen in the bot, but the
        // route must not pretend).
        rig.context.speech = None;
        let r = call(
            &rig.context,
            "POST",
            "/phone_call",
            r#"{"action": "speak", "text": "hello"}"#,
        );
        assert_eq!(r.status, 409, "{}", r.body);
        rig.context.bot.set_call_audio(None);
        drop(audio);
    }

    #[test]
    fn during_a_call_speak_is_queued_and_hangup_asks_the_bot() {
        let mut rig = rig();
        let audio = live_call(&rig);
        let r = call(
            &rig.context,
            "POST",
            "/phone_call",
            r#"{"action": "speak", "text": "hello", "priority": "high", "language": "en"}"#,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["success"], true);
        assert!(r.body["queue_size"].is_u64(), "{}", r.body);
        let r = call(
            &rig.context,
            "POST",
            "/phone_call",
            r#"{"action": "hangup", "text": "ignored"}"#,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["message"], "hanging up");
        let r = call(&rig.context, "POST", HANGUP_PATH, "");
        assert_eq!(r.status, 202, "{}", r.body);
        let asked: Vec<_> = futures::executor::block_on(async {
            use futures::StreamExt;
            let mut v = Vec::new();
            for _ in 0..2 {
                v.push(rig._requests.next().await);
            }
            v
        });
        assert_eq!(
            asked,
            [
                Some(crate::bot::BotRequest::HangUp),
                Some(crate::bot::BotRequest::HangUp)
            ]
        );
        rig.context.bot.set_call_audio(None);
        drop(audio);
    }

    #[test]
    fn a_long_text_reports_its_parts_and_separate_delivery_when_configured() {
        let mut rig = rig();
        let body = format!(r#"{{"to": "+4917", "message": "{}"}}"#, "a".repeat(400));
        let r = call(&rig.context, "POST", "/send", &body);
        assert_eq!(
            (r.body["encoding"].as_str(), r.body["parts"].as_u64()),
            (Some("GSM7"), Some(3))
        );
        rig.context.policy.delivery = crate::spool::queue::Delivery::SeparateMessages;
        let r = call(
            &rig.context,
            "POST",
            "/sms",
            &body.replace("message", "text"),
        );
        let id = SmsId::parse(r.body["id"].as_str().unwrap()).unwrap();
        let view = call(&rig.context, "GET", &format!("/sms/{id}"), "");
        assert_eq!(view.body["delivery"], "separate_messages");
        assert_eq!(view.body["parts"], 3);
    }

    #[test]
    fn a_configured_token_is_required_on_every_path() {
        let mut rig = rig();
        rig.context.token = Some(TOKEN.into());
        let ask = |authorization: Option<&str>, url: &str| {
            handle(
                &rig.context,
                ApiRequest {
                    method: "GET",
                    url,
                    authorization,
                    content_type: Some("application/json"),
                    origin: None,
                    host: None,
                    body: RequestBody::Read(Vec::new()),
                },
            )
        };
        for (header, url) in [
            (None, "/status"),
            (None, "/nowhere"),
            (Some("Bearer wrong-token-of-any-length"), "/status"),
            (Some("Basic MDEyMzQ1Njc4OWFiY2RlZi10b2tlbg=="), "/status"),
            (Some("Bearer 0123456789abcdef-tokeN"), "/status"),
        ] {
            let r = ask(header, url);
            assert_eq!(r.status, 401, "{header:?} {url}");
            assert!(r.challenge);
            assert_eq!(r.body["field"], "authorization");
        }
        let bearer = format!("Bearer {TOKEN}");
        assert_eq!(ask(Some(&bearer), "/status").status, 200);
        assert_eq!(
            ask(Some(&format!("bearer  {TOKEN} ")), "/status").status,
            200
        );
        let r = handle(
            &rig.context,
            ApiRequest {
                method: "POST",
                url: "/send",
                authorization: None,
                content_type: Some("application/json"),
                origin: None,
                host: None,
                body: RequestBody::Read(Vec::new()),
            },
        );
        assert_eq!(r.status, 401);
        assert_eq!(r.body["success"], false);
    }

    #[test]
    fn a_full_queue_is_503_and_says_so() {
        let mut rig = rig();
        let dir = tempfile::tempdir().unwrap();
        let limits = crate::spool::queue::QueueLimits {
            max_active: 1,
            ..Default::default()
        };
        rig.context.queue = SmsQueue::open_with_limits(dir.path(), limits).unwrap();
        let body = r#"{"to": "+4917", "text": "a"}"#;
        assert_eq!(call(&rig.context, "POST", "/sms", body).status, 202);
        let r = call(&rig.context, "POST", "/sms", body);
        assert_eq!(r.status, 503);
        assert!(
            r.body["error"].as_str().unwrap().contains("its limit"),
            "{}",
            r.body
        );
        let r = call(
            &rig.context,
            "POST",
            "/send",
            r#"{"to": "+4917", "message": "a"}"#,
        );
        assert_eq!((r.status, &r.body["success"]), (503, &Value::Bool(false)));
    }

    #[test]
    fn status_shows_the_system_the_modem_the_call_and_the_queue() {
        let rig = rig();
        rig.context.bot.update(|s| {
            s.identity = Some(crate::bot::ModemIdentity {
                manufacturer: "SIMCOM INCORPORATED".into(),
                model: "SIMCOM_SIM7600G-H".into(),
                revision: None,
                imei: None,
            });
        });
        call(
            &rig.context,
            "POST",
            "/sms",
            r#"{"to": "+4917", "text": "a"}"#,
        );
        call(
            &rig.context,
            "POST",
            "/sms",
            r#"{"to": "+4917", "text": "b"}"#,
        );
        let Claim::Ready(_claim) = rig.context.queue.claim_next(SystemTime::now()).unwrap() else {
            panic!("a message is due")
        };
        let r = call(&rig.context, "GET", "/status", "");
        assert_eq!(r.status, 200);
        assert_eq!(r.body["system"]["smstools_active"], false);
        assert_eq!(r.body["modem"]["model"], "SIMCOM_SIM7600G-H");
        assert_eq!(r.body["current_call"], Value::Null);
        assert_eq!(r.body["bot"]["phase"], "starting");
        assert_eq!(r.body["sms_queue"], json!({"queued": 1, "sending": 1}));
    }

    #[test]
    fn calls_come_newest_first_up_to_the_limit() {
        let rig = rig();
        for n in 1..=3u16 {
            rig.context
                .bot
                .call_log()
                .append(&CallRecord {
                    to: None,
                    started_at: format!("2026-11-24T05:0{n}:00Z"),
                    ended_at: format!("2026-11-24T05:0{n}:30Z"),
                    caller: Some(format!("+4917{n}")),
                    caller_id: CallerIdKind::Number,
                    rings: n,
                    answered: true,
                    duration_s: 20,
                    end: CallEnd::CallerHungUp,
                })
                .unwrap();
        }
        let r = call(&rig.context, "GET", "/calls?limit=2", "");
        assert_eq!(r.status, 200);
        let callers: Vec<_> = r.body["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["caller"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(callers, ["+49173", "+49172"]);
        let all = call(&rig.context, "GET", "/calls", "");
        assert_eq!(all.body["calls"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn a_sent_message_shows_its_references_and_a_failed_one_its_error() {
        let rig = rig();
        let q = &rig.context.queue;
        let r = call(
            &rig.context,
            "POST",
            "/sms",
            r#"{"to": "+4917", "text": "ok"}"#,
        );
        let sent_id = r.body["id"].as_str().unwrap().to_owned();
        let r = call(
            &rig.context,
            "POST",
            "/sms",
            r#"{"to": "+4917", "text": "no"}"#,
        );
        let failed_id = r.body["id"].as_str().unwrap().to_owned();
        let Claim::Ready(mut claim) = q.claim_next(SystemTime::now()).unwrap() else {
            panic!("due")
        };
        q.begin_part(&mut claim, 0).unwrap();
        q.part_sent(&mut claim, 0, 77).unwrap();
        q.mark_sent(claim).unwrap();
        let Claim::Ready(claim) = q.claim_next(SystemTime::now()).unwrap() else {
            panic!("due")
        };
        q.mark_failed(claim, "+CMS ERROR: 38").unwrap();

        let sent = call(&rig.context, "GET", &format!("/sms/{sent_id}"), "");
        assert_eq!(sent.body["state"], "sent");
        assert_eq!(sent.body["message_references"], json!([77]));
        let failed = call(&rig.context, "GET", &format!("/sms/{failed_id}"), "");
        assert_eq!(failed.body["state"], "failed");
        assert_eq!(failed.body["error"], "+CMS ERROR: 38");
        assert_eq!(
            q.get(&SmsId::parse(&failed_id).unwrap())
                .unwrap()
                .unwrap()
                .state,
            SmsState::Failed
        );
    }

    fn request<'a>(
        method: &'a str,
        url: &'a str,
        content_type: Option<&'a str>,
        origin: Option<&'a str>,
        host: Option<&'a str>,
        body: &str,
    ) -> ApiRequest<'a> {
        ApiRequest {
            method,
            url,
            authorization: None,
            content_type,
            origin,
            host,
            body: RequestBody::Read(body.as_bytes().to_vec()),
        }
    }

    #[test]
    fn a_body_of_the_wrong_type_is_415_naming_the_content_type() {
        let rig = rig();
        let c = &rig.context;
        let sms = r#"{"to": "+4917", "text": "hi"}"#;
        for (url, content_type, status) in [
            ("/sms", None, 415),
            ("/sms", Some("text/plain"), 415),
            ("/sms", Some("application/x-www-form-urlencoded"), 415),
            ("/sms", Some("multipart/form-data; boundary=x"), 415),
            ("/sms", Some("application/json"), 202),
            ("/sms", Some("Application/JSON; charset=utf-8"), 202),
            ("/send", Some("text/plain;charset=UTF-8"), 415),
            ("/phone_call", None, 415),
            (PLAY_PATH, Some("application/json"), 415),
            (PLAY_PATH, Some("text/plain"), 415),
            (PLAY_PATH, None, 415),
        ] {
            let r = handle(c, request("POST", url, content_type, None, None, sms));
            assert_eq!(r.status, status, "{url} {content_type:?}: {}", r.body);
            if status == 415 {
                let field = if url == "/send" {
                    Value::Null
                } else {
                    json!("content-type")
                };
                assert_eq!(r.body["field"], field, "{}", r.body);
                assert!(r.body["error"].as_str().unwrap().contains("Content-Type"));
            }
        }
        // A WAV type passes to the body's own check (not a WAV: 400).
        for wav in [
            "audio/wav",
            "audio/x-wav",
            "audio/wave",
            "application/octet-stream",
        ] {
            let r = handle(c, request("POST", PLAY_PATH, Some(wav), None, None, "x"));
            assert_eq!((r.status, &r.body["field"]), (400, &json!("body")), "{wav}");
        }
        // Paths without a body do not care.
        let r = handle(c, request("GET", "/status", None, None, None, ""));
        assert_eq!(r.status, 200);
        assert_eq!(
            c.queue.active().unwrap().len(),
            2,
            "only the JSON ones queued"
        );
    }

    #[test]
    fn a_foreign_host_is_421_and_a_foreign_origin_403_before_the_token() {
        let mut rig = rig();
        rig.context.token = Some(TOKEN.into());
        let c = &rig.context;
        let json = Some("application/json");
        for host in [
            "evil.example",
            "evil.example:8088",
            "127.0.0.1.nip.io:8088",
            "192.168.1.20:8088",
            "[::1",
            "localhost:80:80",
            "",
        ] {
            let r = handle(c, request("GET", "/status", None, None, Some(host), ""));
            assert_eq!(r.status, 421, "Host {host:?}: {}", r.body);
            assert_eq!(r.body["field"], "host");
        }
        for origin in [
            "https://evil.example",
            "null",
            "http://localhost:3000",
            "http://127.0.0.1:8089",
            "file://",
            "chrome-extension://abc",
            "http://127.0.0.1:8088/path",
        ] {
            let r = handle(
                c,
                request(
                    "POST",
                    "/sms",
                    json,
                    Some(origin),
                    Some("127.0.0.1:8088"),
                    "{}",
                ),
            );
            assert_eq!(r.status, 403, "Origin {origin:?}: {}", r.body);
            assert_eq!(r.body["field"], "origin");
        }
        let r = handle(
            c,
            request(
                "POST",
                "/send",
                json,
                Some("https://evil.example"),
                None,
                "{}",
            ),
        );
        assert_eq!(r.status, 403);
        assert_eq!(r.body["success"], false, "the drop-in shape");
        // Names of this API get as far as the token check.
        for (host, origin) in [
            ("127.0.0.1:8088", None),
            ("127.0.0.1", None),
            ("localhost:8088", None),
            ("LOCALHOST.", None),
            ("bot.localhost:8088", None),
            ("[::1]:8088", None),
            ("127.0.0.1:8088", Some("http://127.0.0.1:8088")),
            ("localhost:8088", Some("http://localhost:8088")),
        ] {
            let r = handle(c, request("GET", "/status", None, origin, Some(host), ""));
            assert_eq!(r.status, 401, "{host} {origin:?}: {}", r.body);
        }
        // No Host at all (HTTP/1.0, a program): allowed.
        let r = handle(c, request("GET", "/status", None, None, None, ""));
        assert_eq!(r.status, 401);
    }

    #[test]
    fn listening_on_every_address_allows_ip_literals_and_the_configured_names() {
        let policy = HostPolicy::new(
            "0.0.0.0:8088".parse().unwrap(),
            &["Bot.Example.".to_owned()],
        );
        assert!(policy.allows_host("192.168.1.20:8088"));
        assert!(policy.allows_host("[fe80::1]:8088"));
        assert!(policy.allows_host("bot.example"));
        assert!(policy.allows_host("BOT.example:443"));
        assert!(!policy.allows_host("evil.example"));
        assert!(!policy.allows_host("bot.example.evil.example"));
        assert!(policy.allows_origin("https://bot.example", Some("127.0.0.1:8088")));
        assert!(policy.allows_origin("http://192.168.1.20:8088", Some("192.168.1.20:8088")));
        assert!(!policy.allows_origin("http://192.168.1.20:8080", Some("192.168.1.20:8088")));
        let loopback = HostPolicy::new("127.0.0.1:8088".parse().unwrap(), &[]);
        assert!(!loopback.allows_host("192.168.1.20:8088"));
        assert!(loopback.allows_host("127.0.0.2:8088"));
        assert!(!loopback.allows_host("bot.example"));
    }

    #[test]
    fn a_key_named_twice_at_any_depth_is_refused_naming_it() {
        let rig = rig();
        let r = call(
            &rig.context,
            "POST",
            "/sms",
            r#"{"to": "+491721234567", "text": "hi", "to": "+19005550100"}"#,
        );
        assert_eq!(r.status, 400);
        assert_eq!(r.body["field"], "to");
        assert_eq!(
            r.body["error"],
            "the request body names \"to\" twice: each key may appear once"
        );
        assert!(rig.context.queue.active().unwrap().is_empty());
        assert!(matches!(
            parse_unique(br#"{"a": [{"b": 1, "b": 2}]}"#),
            Err(JsonFault::Duplicate(k)) if k == "b"
        ));
        assert_eq!(
            parse_unique(br#"{"a": [1, 2.5, "x", null, true, {"b": {}}], "c": -3}"#).unwrap(),
            json!({"a": [1, 2.5, "x", null, true, {"b": {}}], "c": -3})
        );
        assert!(matches!(parse_unique(b"{} x"), Err(JsonFault::Syntax(_))));
        assert!(matches!(
            parse_unique(b"{\"a\": "),
            Err(JsonFault::Syntax(_))
        ));
    }

    #[test]
    fn the_clients_own_call_id_is_accepted_echoed_and_acted_on_the_current_call() {
        let rig = rig();
        let audio = live_call(&rig);
        let bus = rig.context.bot.events();
        bus.call_event(&modem_core::call::CallEvent::Answered {
            caller: modem_core::call::Caller::Unknown,
            rings: 1,
        });
        let current = crate::events::model::call_id_text(bus.current_call_id().unwrap());
        for (body, echoed) in [
            (
                r#"{"callId": "call_1761507557", "action": "speak", "text": "hello"}"#,
                json!("call_1761507557"),
            ),
            (
                r#"{"callId": 1761507557, "action": "speak", "text": "hello"}"#,
                json!(1761507557),
            ),
            (
                r#"{"action": "speak", "text": "hello"}"#,
                json!(current.clone()),
            ),
        ] {
            let r = call(&rig.context, "POST", "/phone_call", body);
            assert_eq!(r.status, 200, "{body}: {}", r.body);
            assert_eq!(r.body["call_id"], echoed, "{}", r.body);
        }
        let r = call(
            &rig.context,
            "POST",
            "/phone_call",
            r#"{"callId": "call_1761507557", "action": "hangup"}"#,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["call_id"], "call_1761507557");
        assert_eq!(r.body["message"], "hanging up");
        // The bot's own id, as the events carry it, is a string too.
        let status = call(&rig.context, "GET", "/phone_call/status", "");
        assert_eq!(status.body["call_id"], json!(current));
        // An error echoes it as well.
        let r = call(
            &rig.context,
            "POST",
            "/phone_call",
            r#"{"callId": "call_1761507557", "action": "dance"}"#,
        );
        assert_eq!(
            (r.status, &r.body["call_id"]),
            (400, &json!("call_1761507557"))
        );
        rig.context.bot.set_call_audio(None);
        drop(audio);
    }

    #[test]
    fn metrics_and_healthz_answer_get_only_and_follow_the_token() {
        let mut rig = rig();
        rig.context.token = Some(TOKEN.into());
        let bearer = format!("Bearer {TOKEN}");
        let ask = |method: &str, url: &str, authorization: Option<&str>| {
            handle(
                &rig.context,
                ApiRequest {
                    method,
                    url,
                    authorization,
                    content_type: None,
                    origin: None,
                    host: Some("127.0.0.1:8088"),
                    body: RequestBody::Read(Vec::new()),
                },
            )
        };
        // (method, url, authorization, status, Allow)
        type Row<'a> = (&'a str, &'a str, Option<&'a str>, u16, Option<&'a str>);
        let rows: [Row<'_>; 8] = [
            ("GET", "/metrics", Some(&bearer), 200, None),
            ("GET", "/healthz", Some(&bearer), 503, None),
            ("POST", "/metrics", Some(&bearer), 405, Some("GET")),
            ("DELETE", "/healthz", Some(&bearer), 405, Some("GET")),
            ("GET", "/metrics", None, 401, None),
            ("GET", "/healthz", None, 401, None),
            ("GET", "/metrics", Some("Bearer wrong"), 401, None),
            ("GET", "/healthz?verbose=1", Some(&bearer), 503, None),
        ];
        for (method, url, authorization, status, allow) in rows {
            let r = ask(method, url, authorization);
            assert_eq!(
                r.status, status,
                "{method} {url} {authorization:?}: {}",
                r.body
            );
            assert_eq!(r.allow, allow, "{method} {url}");
            assert_eq!(r.challenge, status == 401, "{method} {url}");
            assert_eq!(r.text.is_some(), status == 200, "{method} {url}");
        }
        let metrics = ask("GET", "/metrics", Some(&bearer));
        assert!(
            metrics
                .text
                .as_deref()
                .is_some_and(|t| t.starts_with("# HELP sim7600_up ")),
            "{metrics:?}"
        );
        assert_eq!(metrics.body, Value::Null);
    }

    #[test]
    fn healthz_is_503_with_a_reason_until_the_modem_answers_then_200() {
        let rig = rig();
        let get = || call(&rig.context, "GET", "/healthz", "");
        let starting = get();
        assert_eq!(starting.status, 503);
        assert_eq!(starting.body["status"], "unhealthy");
        assert_eq!(starting.body["reason"], "starting");
        rig.context
            .bot
            .update(|s| s.phase = crate::bot::BotPhase::Reconnecting);
        assert_eq!(get().body["reason"], "reconnecting");
        rig.context.bot.update(|s| {
            s.phase = crate::bot::BotPhase::Running;
            s.last_modem_answer = Some("2026-01-01T00:00:00Z".into());
        });
        let silent = get();
        assert_eq!(silent.status, 503);
        assert_eq!(
            silent.body["reason"],
            "modem not answering since 2026-01-01T00:00:00Z"
        );
        rig.context
            .bot
            .set_health_interval(std::time::Duration::from_secs(5));
        rig.context
            .bot
            .update(|s| s.last_modem_answer = Some(crate::bot::state::now_rfc3339()));
        let ok = get();
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(ok.body["status"], "ok");
        assert_eq!(ok.body["phase"], "running");
        assert_eq!(ok.body["health_interval_s"], 5.0);
    }

    #[test]
    fn metrics_show_the_counters_and_the_gauges_of_now() {
        let rig = rig();
        let value = |text: &str, series: &str| -> Option<f64> {
            text.lines()
                .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        };
        let scrape = || {
            call(&rig.context, "GET", "/metrics", "")
                .text
                .unwrap_or_default()
        };
        let before = scrape();
        assert_eq!(value(&before, "sim7600_up"), Some(0.0));
        assert_eq!(value(&before, "sim7600_sms_queue_depth"), Some(0.0));
        assert!(!before.contains("sim7600_network_registered"), "{before}");

        let posted = call(
            &rig.context,
            "POST",
            "/sms",
            r#"{"to": "+491721234567", "text": "hi"}"#,
        );
        assert_eq!(posted.status, 202);
        rig.context.bot.metrics().sms(
            crate::platform::metrics::SmsResult::Sent,
            crate::platform::metrics::SmsPath::Api,
        );
        rig.context
            .bot
            .metrics()
            .call_ended(crate::platform::metrics::CallOutcome::Answered, 7000);
        rig.context.bot.update(|s| {
            s.phase = crate::bot::BotPhase::Running;
            s.last_modem_answer = Some(crate::bot::state::now_rfc3339());
            s.signal = Some(crate::bot::SignalReport {
                rssi: Some(20),
                ber: None,
                dbm: Some(-73),
                read_at: crate::bot::state::now_rfc3339(),
            });
            s.network = Some("roaming".into());
            s.reconnects = 2;
        });
        let after = scrape();
        assert_eq!(value(&after, "sim7600_up"), Some(1.0));
        assert_eq!(value(&after, "sim7600_sms_queue_depth"), Some(1.0));
        assert_eq!(
            value(&after, "sim7600_sms_total{result=\"sent\",path=\"api\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&after, "sim7600_calls_total{outcome=\"answered\"}"),
            Some(1.0)
        );
        assert_eq!(value(&after, "sim7600_call_seconds_total"), Some(7.0));
        assert_eq!(value(&after, "sim7600_signal_dbm"), Some(-73.0));
        assert_eq!(value(&after, "sim7600_signal_rssi"), Some(20.0));
        assert_eq!(value(&after, "sim7600_network_registered"), Some(1.0));
        assert_eq!(value(&after, "sim7600_modem_reconnects_total"), Some(2.0));
        let status = call(&rig.context, "GET", "/status", "");
        assert_eq!(status.body["registration"], "roaming");
        assert_eq!(status.body["bot"]["network"], "roaming");
    }
}
