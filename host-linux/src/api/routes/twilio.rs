//! The Twilio REST subset on the bot's API, so that twilio-python (with
//! `client.api.base_url` pointed here) and agent frameworks' Twilio hang-up work against a
//! SIM card: `Calls.json` (create), `Calls/{CallSid}.json` (fetch; update with
//! `Status=completed|canceled` hangs up), `Messages.json` (create, into the SMS queue) and
//! `Messages/{MessageSid}.json` (fetch), with HTTP Basic auth (`[twilio]` account SID and
//! auth token) and Twilio's JSON and error shapes.

use serde_json::{Value, json};

use super::{ApiContext, ApiRequest, ApiResponse, RequestBody, validate_and_queue};
use crate::agent::rest::{RestCall, TwilioRest, parse_form, rfc2822_now};
use crate::agent::twilio::{call_sid, new_sid};

/// Where the Twilio paths start.
pub const PREFIX: &str = "/2010-04-01/Accounts/";

/// An answer in Twilio's error shape.
fn error(status: u16, code: u32, message: impl Into<String>) -> ApiResponse {
    ApiResponse::json(
        status,
        json!({
            "code": code,
            "message": message.into(),
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

fn not_found(path: &str) -> ApiResponse {
    error(
        404,
        20404,
        format!("The requested resource {path} was not found"),
    )
}

fn form(request: &ApiRequest<'_>) -> Result<Vec<(String, String)>, ApiResponse> {
    match &request.body {
        RequestBody::Read(bytes) => Ok(parse_form(bytes)),
        RequestBody::TooLarge { limit } => Err(error(
            413,
            20001,
            format!("the form is larger than {limit} bytes"),
        )),
        RequestBody::Unreadable(why) => Err(error(400, 20001, why.clone())),
        RequestBody::TimedOut { seconds } => Err(error(
            408,
            20001,
            format!("the form did not arrive within {seconds} s"),
        )),
    }
}

fn field<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A call in Twilio's JSON shape.
fn call_json(rest: &TwilioRest, call: &RestCall) -> Value {
    json!({
        "sid": call.sid,
        "account_sid": rest.account_sid,
        "to": call.to,
        "to_formatted": call.to,
        "from": call.from,
        "from_formatted": call.from,
        "status": call.status,
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "date_created": call.date_created,
        "date_updated": call.date_updated,
        "start_time": Value::Null,
        "end_time": Value::Null,
        "duration": call.duration.map(|d| d.to_string()),
        "parent_call_sid": Value::Null,
        "price": Value::Null,
        "price_unit": "USD",
        "answered_by": Value::Null,
        "caller_name": Value::Null,
        "forwarded_from": Value::Null,
        "group_sid": Value::Null,
        "phone_number_sid": Value::Null,
        "queue_time": "0",
        "trunk_sid": Value::Null,
        "annotation": Value::Null,
        "subresource_uris": {},
        "uri": format!("{PREFIX}{}/Calls/{}.json", rest.account_sid, call.sid),
    })
}

/// Serves one request under [`PREFIX`].
pub(super) fn handle(context: &ApiContext, request: &ApiRequest<'_>, path: &str) -> ApiResponse {
    let Some(rest) = &context.twilio else {
        return not_found(path);
    };
    if !rest.basic_ok(request.authorization) {
        let mut response = error(401, 20003, "Authenticate");
        response.challenge = true;
        return response;
    }
    let Some(tail) = path
        .strip_prefix(PREFIX)
        .and_then(|t| t.strip_prefix(rest.account_sid.as_str()))
    else {
        return not_found(path);
    };
    match (request.method, tail) {
        ("POST", "/Calls.json") => create_call(context, rest, request),
        ("POST", "/Messages.json") => create_message(context, rest, request),
        (method, t) if t.starts_with("/Calls/") && t.ends_with(".json") => {
            let sid = &t["/Calls/".len()..t.len() - ".json".len()];
            let Some((id, call)) = rest.call(sid) else {
                return not_found(path);
            };
            match method {
                "GET" => ApiResponse::json(200, call_json(rest, &call)),
                "POST" => update_call(context, rest, request, id, call),
                _ => error(405, 20004, format!("{method} is not allowed here")),
            }
        }
        ("GET", t) if t.starts_with("/Messages/") && t.ends_with(".json") => {
            let sid = &t["/Messages/".len()..t.len() - ".json".len()];
            fetch_message(context, rest, sid).unwrap_or_else(|| not_found(path))
        }
        _ => not_found(path),
    }
}

fn create_call(context: &ApiContext, rest: &TwilioRest, request: &ApiRequest<'_>) -> ApiResponse {
    let form = match form(request) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let Some(to) = field(&form, "To") else {
        return error(400, 21201, "No 'To' number is specified");
    };
    let from = field(&form, "From").unwrap_or_default().to_owned();
    // What the call does once answered: the TwiML given, or the TwiML the `Url` answers
    // (asked when the far end answers, with the call's fields, as Twilio asks it).
    let plan = match (field(&form, "Twiml"), field(&form, "Url")) {
        (Some(twiml), _) => match crate::calls::twiml::parse(twiml) {
            Ok(verbs) => verbs,
            Err(e) => return error(400, 12100, format!("Twiml: {e}")),
        },
        (None, Some(url)) if url.starts_with("http://") => {
            vec![crate::calls::twiml::Verb::Redirect(url.to_owned())]
        }
        (None, Some(url)) => {
            return error(
                400,
                21205,
                format!("Url {url:?} is not an http:// URL this bot can ask for TwiML"),
            );
        }
        (None, None) => return error(400, 21205, "Url or Twiml is required"),
    };
    let timeout_s = match field(&form, "Timeout") {
        None => 60,
        Some(t) => match t.parse::<u32>() {
            Ok(t) if (1..=600).contains(&t) => t,
            _ => return error(400, 21216, format!("Timeout {t:?} is not 1 to 600 seconds")),
        },
    };
    if let Err(fault) = super::outbound::modem_ready(context) {
        let r = fault.into_response(super::Shape::Native);
        let message = r.body["error"].as_str().unwrap_or("unavailable").to_owned();
        return error(503, 20503, message);
    }
    if context.bot.snapshot().current_call.is_some() {
        return error(409, 20409, "a call is in progress: one call at a time");
    }
    let Some(answer) = context.bot.dial(to, Some(timeout_s)) else {
        return error(503, 20503, "the bot is not running");
    };
    let id = match answer.recv_timeout(super::outbound::DIAL_WAIT) {
        Ok(Ok(id)) => id,
        Ok(Err(crate::bot::DialRefused::BadNumber(n))) => {
            return error(400, 21211, format!("Invalid 'To' Phone Number: {n}"));
        }
        Ok(Err(refused)) => return error(409, 20409, refused.to_string()),
        Err(_) => return error(503, 20503, "the modem is not available"),
    };
    context.bot.set_call_plan(id, plan);
    let events: Vec<String> = match field(&form, "StatusCallbackEvent") {
        None => vec!["completed".to_owned()],
        Some(_) => form
            .iter()
            .filter(|(k, _)| k == "StatusCallbackEvent")
            .flat_map(|(_, v)| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect(),
    };
    let now = rfc2822_now();
    let call = RestCall {
        sid: call_sid(id),
        to: to.to_owned(),
        from,
        status: "queued",
        date_created: now.clone(),
        date_updated: now,
        status_callback: field(&form, "StatusCallback").map(|u| (u.to_owned(), events)),
        duration: None,
    };
    rest.created(id, call.clone());
    ApiResponse::json(201, call_json(rest, &call))
}

fn update_call(
    context: &ApiContext,
    rest: &TwilioRest,
    request: &ApiRequest<'_>,
    id: u64,
    call: RestCall,
) -> ApiResponse {
    let form = match form(request) {
        Ok(f) => f,
        Err(e) => return e,
    };
    match field(&form, "Status") {
        Some("completed" | "canceled") => {
            let current = context.bot.events().current_call_id() == Some(id);
            if current && !context.bot.hang_up() {
                return error(503, 20503, "the bot is not running");
            }
            ApiResponse::json(200, call_json(rest, &call))
        }
        Some(other) => error(
            400,
            21220,
            format!("Status {other:?}: calls here take completed or canceled"),
        ),
        None => ApiResponse::json(200, call_json(rest, &call)),
    }
}

fn create_message(
    context: &ApiContext,
    rest: &TwilioRest,
    request: &ApiRequest<'_>,
) -> ApiResponse {
    let form = match form(request) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let Some(to) = field(&form, "To") else {
        return error(400, 21604, "A 'To' phone number is required.");
    };
    let Some(body) = field(&form, "Body") else {
        return error(400, 21602, "Message body is required.");
    };
    let (id, _) = match validate_and_queue(context, to, body, "Body", false) {
        Ok(q) => q,
        Err(fault) => {
            let r = fault.into_response(super::Shape::Native);
            let message = r.body["error"].as_str().unwrap_or("refused").to_owned();
            return error(r.status, 21211, message);
        }
    };
    let sid = new_sid("SM");
    rest.message_created(sid.clone(), id.as_str().to_owned());
    fetch_message(context, rest, &sid)
        .unwrap_or_else(|| error(500, 20500, "lost the message"))
        .with_status(201)
}

fn fetch_message(context: &ApiContext, rest: &TwilioRest, sid: &str) -> Option<ApiResponse> {
    let queue_id = rest.message(sid)?;
    let id = crate::spool::queue::SmsId::parse(&queue_id).ok()?;
    let record = context.queue.get(&id).ok()??;
    let status = match record.state {
        crate::spool::queue::SmsState::Queued => "queued",
        crate::spool::queue::SmsState::Sending => "sending",
        crate::spool::queue::SmsState::Sent => "sent",
        crate::spool::queue::SmsState::Failed => "failed",
    };
    Some(ApiResponse::json(
        200,
        json!({
            "sid": sid,
            "account_sid": rest.account_sid,
            "to": record.to,
            "from": Value::Null,
            "body": record.text,
            "status": status,
            "direction": "outbound-api",
            "num_segments": record.parts.to_string(),
            "api_version": "2010-04-01",
            "date_created": rfc2822_now(),
            "date_updated": rfc2822_now(),
            "date_sent": Value::Null,
            "error_code": Value::Null,
            "error_message": Value::Null,
            "price": Value::Null,
            "price_unit": "USD",
            "messaging_service_sid": Value::Null,
            "num_media": "0",
            "subresource_uris": {},
            "uri": format!("{PREFIX}{}/Messages/{sid}.json", rest.account_sid),
        }),
    ))
}
