//! `GET /events` over a real socket: the API's server streams the bot's events as
//! server-sent events, a client that leaves frees its place, too many clients get 503, the
//! token is required, and a stream ends when the bot stops.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use host_linux::api::sse::MAX_CLIENTS;
use host_linux::api::{ApiContext, ApiServer, ApiSettings};
use host_linux::bot::{BotRequests, BotState};
use host_linux::calls::{CallLog, CallLogSettings};
use host_linux::spool::queue::{SmsPolicy, SmsQueue};
use modem_core::call::{CallEvent, Caller, EndReason};
use modem_core::urc::{DtmfKey, PhoneNumber};

const TOKEN: &str = "a-token-of-twenty-six-chars";

struct Api {
    server: ApiServer,
    bot: BotState,
    _requests: BotRequests,
    _dir: tempfile::TempDir,
}

fn api(token: Option<&str>) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let (bot, requests) = BotState::new(
        "/dev/ttyUSB2".into(),
        CallLog::new(CallLogSettings {
            path: dir.path().join("calls.jsonl"),
            max_bytes: 1 << 20,
            keep: 1,
        }),
    );
    let context = ApiContext {
        twilio: None,
        queue: SmsQueue::open(&dir.path().join("queue")).unwrap(),
        policy: SmsPolicy::default(),
        bot: bot.clone(),
        system_status: Arc::new(|| serde_json::json!({})),
        token: None,
        speech: None,
        hosts: host_linux::api::HostPolicy::default(),
    };
    let settings = ApiSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        token: token.map(str::to_owned),
        ..ApiSettings::default()
    };
    Api {
        server: ApiServer::start(&settings, context).unwrap(),
        bot,
        _requests: requests,
        _dir: dir,
    }
}

/// Opens `GET /events`; returns the reader positioned after the head, and the head.
fn subscribe(addr: SocketAddr, auth: Option<&str>) -> (BufReader<TcpStream>, String) {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = auth
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    (&stream)
        .write_all(
            format!("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nConnection: close\r\n{auth}\r\n")
                .as_bytes(),
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    (reader, head)
}

/// The next event's (id, JSON), skipping comments.
fn next_event(reader: &mut BufReader<TcpStream>) -> Option<(u64, serde_json::Value)> {
    let mut id = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches('\n');
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("data: ") {
            return Some((id?, serde_json::from_str(v).unwrap()));
        }
    }
}

fn number(n: &str) -> Caller {
    Caller::Number(PhoneNumber::try_from(n).unwrap())
}

fn wait_for_subscribers(bot: &BotState, n: usize) {
    let end = Instant::now() + Duration::from_secs(10);
    while bot.events().subscriber_count() != n {
        assert!(Instant::now() < end, "{n} subscribers not within 10 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_client_sees_a_calls_events_in_order_as_they_happen() {
    let api = api(None);
    let (mut reader, head) = subscribe(api.server.local_addr(), None);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Content-Type: text/event-stream"), "{head}");
    wait_for_subscribers(&api.bot, 1);
    let events = api.bot.events();
    let caller = number("+491761234567");
    events.call_event(&CallEvent::Ringing {
        ring: 1,
        caller: caller.clone(),
    });
    // Each event arrives on its own, not held back behind a buffer.
    let (id, first) = next_event(&mut reader).unwrap();
    assert_eq!((id, first["type"].as_str()), (1, Some("ringing")));
    assert_eq!(first["caller"], "+491761234567");
    events.call_event(&CallEvent::Answered {
        caller: caller.clone(),
        rings: 1,
    });
    events.call_event(&CallEvent::Dtmf {
        key: DtmfKey::from_ascii(b'#').unwrap(),
    });
    events.call_event(&CallEvent::Ended {
        caller,
        duration_s: 3,
        reason: EndReason::WeHungUp(modem_core::call::HangUpCause::Requested),
    });
    let rest: Vec<(u64, String)> = (0..3)
        .map(|_| {
            let (id, e) = next_event(&mut reader).unwrap();
            (id, e["type"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        rest,
        [
            (2, "answered".to_owned()),
            (3, "dtmf".to_owned()),
            (4, "ended".to_owned())
        ]
    );
    // The bot stops: the stream ends.
    events.close();
    assert!(next_event(&mut reader).is_none());
}

#[test]
fn the_stream_needs_the_token_when_one_is_configured() {
    let api = api(Some(TOKEN));
    let (_, head) = subscribe(api.server.local_addr(), None);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let (_, head) = subscribe(api.server.local_addr(), Some(TOKEN));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[test]
fn streams_do_not_take_the_apis_workers_and_one_too_many_gets_503() {
    let api = api(None);
    let addr = api.server.local_addr();
    let clients: Vec<_> = (0..MAX_CLIENTS).map(|_| subscribe(addr, None)).collect();
    wait_for_subscribers(&api.bot, MAX_CLIENTS);
    let (mut extra, head) = subscribe(addr, None);
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    let mut body = String::new();
    let _ = extra.read_to_string(&mut body);
    assert!(body.contains("most allowed"), "{body}");
    // Other routes still answer while every stream is open.
    let mut status = TcpStream::connect(addr).unwrap();
    status
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    status
        .write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = status.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A client that leaves frees its place (noticed at the next write).
    drop(clients);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        api.bot
            .events()
            .sms_received("+4930123", "ping", "2026-11-24T06:00:00Z");
        if api.bot.events().subscriber_count() == 0 {
            break;
        }
        assert!(Instant::now() < end, "gone clients still subscribed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, head) = subscribe(addr, None);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[test]
fn post_to_the_stream_is_405() {
    let api = api(None);
    let mut s = TcpStream::connect(api.server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(answer.contains("Allow: GET"), "{answer}");
}

#[test]
fn a_client_that_never_reads_is_dropped_and_publishing_never_waits_for_it() {
    let api = api(None);
    // Connects, asks for the stream, and then reads nothing at all.
    let (_stuck, head) = subscribe(api.server.local_addr(), None);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    wait_for_subscribers(&api.bot, 1);
    // 4 MB of events: far beyond the socket's buffers and the client's queue.
    let text = "x".repeat(2000);
    let started = Instant::now();
    for _ in 0..2000 {
        api.bot
            .events()
            .sms_received("+491761234567", &text, "2026-11-24T06:00:00Z");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "publishing took {took:?}");
    assert_eq!(
        api.bot.events().subscriber_count(),
        0,
        "the client that fell behind is off the bus"
    );
    // The API still serves others.
    let (_, head) = subscribe(api.server.local_addr(), None);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}
